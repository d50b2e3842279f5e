//! Bitmasks of bytes found by SIMD compares: for the CSV record cutter, where the commas of a
//! 64-byte block are and where a byte is that stops a plain record (a quote, CR or LF); for the
//! flat JSON reader, where a plain string stops (a quote, a backslash or a control character).
//!
//! On x86_64 (where SSE2 is part of the baseline) sixteen bytes are compared at a time and each
//! comparison is squeezed into one bit a byte (`pcmpeqb` + `pmovmskb`); elsewhere the same masks
//! come from eight-byte words (SWAR). Both are held to a byte-by-byte reference by the tests.
//!
//! The SSE2 functions are safe `#[target_feature]` functions: their bodies touch no pointer.
//! Only calling them is `unsafe`, which this module does in two places, each compiled only when
//! SSE2 is enabled for the whole build.

/// Bit `i` of `comma` is set when byte `i` of the block is `,`; bit `i` of `stop` when it is
/// `"`, `\r` or `\n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct BlockMasks {
    pub comma: u64,
    pub stop: u64,
}

/// The masks of one block.
#[inline]
pub(super) fn block_masks(block: &[u8; 64]) -> BlockMasks {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: `sse2::block_masks` only needs the CPU to have SSE2 (it touches no pointer:
        // its loads are safe reads of `block`). This call is compiled only when SSE2 is enabled
        // for the whole build (`target_feature = "sse2"`, part of every x86_64 target's
        // baseline), so the CPU running it has SSE2, as the rest of the build assumes.
        #[allow(unsafe_code)]
        unsafe {
            sse2::block_masks(block)
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        swar_block_masks(block)
    }
}

/// Bit `n` set when byte `n` of `w` ends or interrupts a plain JSON string: a quote, a
/// backslash or a byte below 0x20.
#[inline]
pub(super) fn string_stops16(w: &[u8; 16]) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: as in `block_masks`: `sse2::string_stops16` needs SSE2 and nothing else, and
        // this is compiled only when the whole build has SSE2 enabled.
        #[allow(unsafe_code)]
        unsafe {
            sse2::string_stops16(w)
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        swar_string_stops16(w)
    }
}

/// The high bit of each byte of the eight-byte word `w` that ends or interrupts a plain JSON
/// string (see [`string_stops16`]), and no other bit.
#[inline]
pub(super) fn string_stops8(w: u64) -> u64 {
    // A byte below 0x20 has its top three bits clear.
    eq_mask(w, b'"') | eq_mask(w, b'\\') | eq_mask(w & 0xe0e0_e0e0_e0e0_e0e0, 0)
}

/// [`string_stops16`] from eight-byte words, for targets without SSE2 (and tested on all).
pub(super) fn swar_string_stops16(w: &[u8; 16]) -> u32 {
    let mut m = 0u32;
    for k in 0..2 {
        let x = u64::from_le_bytes(w[8 * k..8 * k + 8].try_into().unwrap_or_default());
        m |= (compress(string_stops8(x)) as u32) << (8 * k);
    }
    m
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };

    use super::{part, BlockMasks};

    /// [`super::block_masks`] sixteen bytes at a time: four compares, one `pmovmskb` for the
    /// commas and one for the stops, per sixteen bytes.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn block_masks(block: &[u8; 64]) -> BlockMasks {
        let comma = _mm_set1_epi8(b',' as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        let cr = _mm_set1_epi8(b'\r' as i8);
        let lf = _mm_set1_epi8(b'\n' as i8);
        let mut m = BlockMasks::default();
        for k in 0..4 {
            // Two little-endian halves of a `u128`: this compiles to one unaligned load.
            let x = u128::from_le_bytes(part(block, 16 * k));
            let v = _mm_set_epi64x((x >> 64) as i64, x as i64);
            let c = _mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u16;
            let s = _mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(v, quote),
                _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
            )) as u16;
            m.comma |= u64::from(c) << (16 * k);
            m.stop |= u64::from(s) << (16 * k);
        }
        m
    }

    /// [`super::string_stops16`]: three compares and one `pmovmskb`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn string_stops16(w: &[u8; 16]) -> u32 {
        let v = _mm_set_epi64x(
            i64::from_le_bytes(half(w, 8)),
            i64::from_le_bytes(half(w, 0)),
        );
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Below 0x20: unchanged by an unsigned min with 0x1f.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }

    /// `w[at..at + 8]` (in bounds at every call: the compiler drops the zero fallback).
    #[inline]
    fn half(w: &[u8; 16], at: usize) -> [u8; 8] {
        w.get(at..)
            .and_then(<[u8]>::first_chunk::<8>)
            .copied()
            .unwrap_or([0; 8])
    }
}

/// `block[at..at + N]` (in bounds at every call: the compiler drops the zero fallback).
#[inline]
fn part<const N: usize>(block: &[u8; 64], at: usize) -> [u8; N] {
    block
        .get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .unwrap_or([0; N])
}

/// The high bit of every byte of `w` that equals `c`, and no other bit: the exact zero-byte
/// test on `w ^ cccccccc`, free of the carries of the quick version.
#[inline]
pub(super) fn eq_mask(w: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (u64::from(c) * 0x0101_0101_0101_0101);
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// The high bits of the eight bytes of `m` (only high bits set) as eight bits: bit `8i + 7`
/// moves to bit `56 + i` of the product, each at a different place, so nothing carries.
#[inline]
fn compress(m: u64) -> u64 {
    m.wrapping_mul(0x0002_0408_1020_4081) >> 56
}

/// [`block_masks`] from eight-byte words, for targets without SSE2 (and tested on all).
pub(super) fn swar_block_masks(block: &[u8; 64]) -> BlockMasks {
    let mut m = BlockMasks::default();
    for k in 0..8 {
        let w = u64::from_le_bytes(part(block, 8 * k));
        let stop = eq_mask(w, b'"') | eq_mask(w, b'\r') | eq_mask(w, b'\n');
        m.comma |= compress(eq_mask(w, b',')) << (8 * k);
        m.stop |= compress(stop) << (8 * k);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn reference(block: &[u8; 64]) -> BlockMasks {
        let mut m = BlockMasks::default();
        for (i, &b) in block.iter().enumerate() {
            m.comma |= u64::from(b == b',') << i;
            m.stop |= u64::from(matches!(b, b'"' | b'\r' | b'\n')) << i;
        }
        m
    }

    #[test]
    fn eq_mask_marks_exactly_the_bytes_equal_to_c() {
        for c in [b',', b'"', b'\r', b'\n', 0, 0x80, 0xff] {
            for b in 0..=255u8 {
                for pos in 0..8 {
                    for fill in [0u8, b'a', c, c ^ 0x80, c.wrapping_add(1), 0x80, 0xff] {
                        let mut bytes = [fill; 8];
                        bytes[pos] = b;
                        let want: u64 = bytes
                            .iter()
                            .enumerate()
                            .filter(|(_, &x)| x == c)
                            .map(|(i, _)| 0x80u64 << (8 * i))
                            .sum();
                        assert_eq!(eq_mask(u64::from_le_bytes(bytes), c), want);
                    }
                }
            }
        }
    }

    #[test]
    fn compress_takes_each_bytes_high_bit() {
        for bits in 0..=255u64 {
            let m: u64 = (0..8)
                .filter(|i| bits >> i & 1 == 1)
                .map(|i| 0x80u64 << (8 * i))
                .sum();
            assert_eq!(compress(m), bits);
        }
    }

    #[test]
    fn both_string_masks_mark_exactly_quotes_backslashes_and_control_bytes() {
        let reference = |w: &[u8; 16]| {
            (0..16).fold(0u32, |m, i| {
                m | (u32::from(matches!(w[i], b'"' | b'\\' | 0..=0x1f)) << i)
            })
        };
        // Every byte value at every position, in a block of plain bytes and in a block of
        // stops.
        for fill in [b'a', b'"'] {
            for pos in 0..16 {
                for v in 0..=255u8 {
                    let mut w = [fill; 16];
                    w[pos] = v;
                    assert_eq!(string_stops16(&w), reference(&w), "{w:?}");
                    assert_eq!(swar_string_stops16(&w), reference(&w), "{w:?}");
                }
            }
        }
        let mut rng = crate::test_rng::Rng(0x5713_9d2e);
        for _ in 0..20_000 {
            let mut w = [0u8; 16];
            for b in &mut w {
                *b = rng.pick(&[b'"', b'\\', 0x1f, 0x20, 0x00, 0x7f, 0x80, 0xe0, 0xff, b'a']);
            }
            assert_eq!(string_stops16(&w), reference(&w), "{w:?}");
            assert_eq!(swar_string_stops16(&w), reference(&w), "{w:?}");
        }
    }

    #[test]
    fn both_block_masks_agree_with_a_byte_by_byte_reference() {
        // Every byte value at every place, then random blocks heavy in the structural bytes.
        for b in 0..=255u8 {
            for fill in [b'a', b',', b'"', b'\r', b'\n', 0x80, 0xff] {
                for pos in 0..64 {
                    let mut block = [fill; 64];
                    block[pos] = b;
                    let want = reference(&block);
                    assert_eq!(block_masks(&block), want);
                    assert_eq!(swar_block_masks(&block), want);
                }
            }
        }
        let alphabet = [
            b',',
            b'"',
            b'\r',
            b'\n',
            b'a',
            b' ',
            0xc3,
            0xa9,
            0x0b,
            0x2d,
            0xac,
            0x22 ^ 0x80,
        ];
        let mut rng = Rng(0x5eed_b10c);
        for _ in 0..20_000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                *b = if rng.below(4) == 0 {
                    rng.next() as u8
                } else {
                    rng.pick(&alphabet)
                };
            }
            let want = reference(&block);
            assert_eq!(block_masks(&block), want, "{block:?}");
            assert_eq!(swar_block_masks(&block), want, "{block:?}");
        }
    }
}
