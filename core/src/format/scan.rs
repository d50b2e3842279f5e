//! Incremental boundary scanners shared by the framer (which cuts chunks) and the row iterators
//! (which split a chunk into rows). Both sides use the very same state machines, so a chunk cut
//! is always a row boundary for the iterator that later reads the chunk.

use memchr::{memchr, memchr2, memchr3};

/// Number of `'\n'` bytes in `bytes` (vectorised by memchr).
#[inline]
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// JSON insignificant whitespace (also what counts as blank on an NDJSON line).
#[inline]
pub(crate) fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Index of the first byte of `bytes` that is not JSON whitespace.
#[inline]
pub(crate) fn first_non_ws(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| !is_json_ws(b))
}

/// `bytes` without leading and trailing JSON whitespace.
#[inline]
pub(crate) fn trim_json_ws(bytes: &[u8]) -> &[u8] {
    let Some(start) = first_non_ws(bytes) else {
        return &[];
    };
    let end = bytes
        .iter()
        .rposition(|&b| !is_json_ws(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// Finds CSV record ends with exactly csv-core's quoting rules (RFC 4180, `""` escapes, a quote
/// opens a quoted field only at the start of a field, CR, LF or CRLF terminators). Boundaries
/// are after a `'\n'` (LF or CRLF) or after a lone `'\r'` (old Mac line ends, which csv-core also
/// takes as a record end).
///
/// Position 0 of the buffer given to [`CsvScan::next_boundary`] must be the start of a record.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CsvScan {
    in_quotes: bool,
    /// A `'"'` inside a quoted field was the last byte seen: the next byte decides whether it
    /// closes the field or is the first half of a `""` escape.
    quote_pending: bool,
    /// Where the quoted field that is open began.
    open_at: usize,
    /// A `'\r'` outside quotes was the last byte seen: a boundary follows it unless a `'\n'` does.
    cr_pending: bool,
}

impl CsvScan {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Scans from `*pos`; returns the position just after the next record-ending `'\n'`, or
    /// `None` once the buffer is exhausted (`*pos == buf.len()`, state kept for more data).
    pub(crate) fn next_boundary(&mut self, buf: &[u8], pos: &mut usize) -> Option<usize> {
        loop {
            if *pos >= buf.len() {
                *pos = buf.len();
                return None;
            }
            if self.in_quotes {
                self.step_in_quotes(buf, pos, buf.len());
                continue;
            }
            if self.cr_pending {
                self.cr_pending = false;
                if buf[*pos] != b'\n' {
                    return Some(*pos);
                }
            }
            match memchr3(b'"', b'\n', b'\r', &buf[*pos..]) {
                None => *pos = buf.len(),
                Some(i) => {
                    let p = *pos + i;
                    *pos = p + 1;
                    match buf[p] {
                        b'\n' => return Some(p + 1),
                        b'\r' => {
                            self.cr_pending = true;
                            continue;
                        }
                        _ => {}
                    }
                    if p == 0 || matches!(buf[p - 1], b',' | b'\n' | b'\r') {
                        self.in_quotes = true;
                        self.open_at = p;
                    }
                }
            }
        }
    }

    /// Scans `buf[*pos..upto]` with the state carried over, leaving `*pos == upto`, and returns
    /// the last boundary [`CsvScan::next_boundary`] would have returned on the way (at or
    /// before `upto`). Where the chunk cutter only needs the last record end before its limit,
    /// this skips from quote to quote (a long `memchr`) and finds that one record end from the
    /// back, instead of stopping at every record.
    pub(crate) fn advance_to(&mut self, buf: &[u8], pos: &mut usize, upto: usize) -> Option<usize> {
        let upto = upto.min(buf.len());
        let mut last = None;
        while *pos < upto {
            if self.in_quotes {
                self.step_in_quotes(buf, pos, upto);
                continue;
            }
            if self.cr_pending {
                self.cr_pending = false;
                if buf[*pos] != b'\n' {
                    last = Some(*pos);
                }
            }
            // A stretch without quotes: its record ends are its `'\n'`s and lone `'\r'`s.
            let q = memchr(b'"', &buf[*pos..upto]).map_or(upto, |i| *pos + i);
            if let Some(n) = memchr::memrchr2(b'\n', b'\r', &buf[*pos..q]).map(|i| *pos + i) {
                if buf[n] == b'\n' || n + 1 < q {
                    // After a '\n', or after a '\r' followed by something else.
                    last = Some(n + 1);
                } else if q < upto {
                    // A '\r' just before the quote.
                    last = Some(q);
                } else {
                    // A '\r' at the very end: the next byte decides; the record end before it
                    // is the last one here.
                    self.cr_pending = true;
                    if let Some(m) = memchr::memrchr2(b'\n', b'\r', &buf[*pos..n]) {
                        last = Some(*pos + m + 1);
                    }
                }
            }
            *pos = q;
            if q < upto {
                *pos = q + 1;
                if q == 0 || matches!(buf[q - 1], b',' | b'\n' | b'\r') {
                    self.in_quotes = true;
                    self.open_at = q;
                }
            }
        }
        last
    }

    /// One step inside a quoted field, within `buf[*pos..end]` (`*pos < end`): after a quote,
    /// whether it closes the field or starts a `""` escape; else on to the next quote.
    #[inline]
    fn step_in_quotes(&mut self, buf: &[u8], pos: &mut usize, end: usize) {
        if self.quote_pending {
            self.quote_pending = false;
            if buf[*pos] == b'"' {
                // `""`: an escaped quote, still inside the field.
                *pos += 1;
            } else {
                self.in_quotes = false;
            }
            return;
        }
        match memchr(b'"', &buf[*pos..end]) {
            Some(i) => {
                *pos += i + 1;
                self.quote_pending = true;
            }
            None => *pos = end,
        }
    }

    /// At the end of input: a quoted field is still open (its opening quote's position).
    pub(crate) fn unterminated(&self) -> Option<usize> {
        (self.in_quotes && !self.quote_pending).then_some(self.open_at)
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` equal to `b` (exact for the lowest match).
#[inline(always)]
fn bytes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

/// First `'"'` or `'\\'` in `hay`. JSON strings are mostly short, where a word-at-a-time loop
/// beats the setup of a SIMD search; long strings go to memchr.
#[inline]
fn find_quote_or_backslash(hay: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(word) = hay.get(i..i + 8) {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let w = u64::from_le_bytes(le);
        let m = bytes_equal(w, b'"') | bytes_equal(w, b'\\');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
        if i >= 64 {
            return memchr2(b'"', b'\\', &hay[i..]).map(|j| i + j);
        }
    }
    hay[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|j| i + j)
}

/// A top-level event of a JSON array body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonEvent {
    /// A `','` separating elements, at `at`; `empty` if no element came before it.
    Comma { at: usize, empty: bool },
    /// The `']'` closing the array, at `at`; `trailing_comma` if a `','` came right before it.
    Close { at: usize, trailing_comma: bool },
}

/// Tracks strings (with backslash escapes) and `{}[]` nesting inside a JSON array body so that
/// top-level commas and the closing bracket can be found without parsing values. Garbage inside
/// elements is tolerated (it becomes a malformed row later): a stray closer at depth 0 other than
/// `']'` is just element content.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JsonScan {
    in_string: bool,
    escape: bool,
    depth: u32,
    /// Non-whitespace seen since the last separator.
    elem: bool,
    /// The last separator was a comma (not the opening `'['`).
    after_comma: bool,
}

impl JsonScan {
    /// State just after the opening `'['` (or at a resume point).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// State just after a top-level comma (where the framer cuts chunks).
    pub(crate) fn after_comma() -> Self {
        JsonScan {
            after_comma: true,
            ..Self::default()
        }
    }

    pub(crate) fn in_string(&self) -> bool {
        self.in_string
    }

    pub(crate) fn depth(&self) -> u32 {
        self.depth
    }

    /// Scans from `*pos` to the next top-level event (`*pos` is left just after it), or returns
    /// `None` once the buffer is exhausted (state kept for more data).
    pub(crate) fn next_event(&mut self, buf: &[u8], pos: &mut usize) -> Option<JsonEvent> {
        loop {
            if self.in_string {
                if self.escape {
                    if *pos >= buf.len() {
                        return None;
                    }
                    self.escape = false;
                    *pos += 1;
                }
                match find_quote_or_backslash(buf.get(*pos..).unwrap_or(&[])) {
                    None => {
                        *pos = buf.len();
                        return None;
                    }
                    Some(i) => {
                        let p = *pos + i;
                        *pos = p + 1;
                        if buf[p] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escape = true;
                        }
                    }
                }
                continue;
            }
            let &b = buf.get(*pos)?;
            *pos += 1;
            match b {
                b'"' => {
                    self.in_string = true;
                    self.elem = true;
                }
                b'{' | b'[' => {
                    self.depth = self.depth.saturating_add(1);
                    self.elem = true;
                }
                b'}' | b']' if self.depth > 0 => self.depth -= 1,
                b']' => {
                    return Some(JsonEvent::Close {
                        at: *pos - 1,
                        trailing_comma: !self.elem && self.after_comma,
                    });
                }
                b',' if self.depth == 0 => {
                    let empty = !self.elem;
                    self.elem = false;
                    self.after_comma = true;
                    return Some(JsonEvent::Comma {
                        at: *pos - 1,
                        empty,
                    });
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => self.elem = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `advance_to` must give: `next_boundary` until it passes `upto`, keeping the last
    /// boundary at or before it, the scanner left at `upto`.
    fn advance_slowly(s: &mut CsvScan, buf: &[u8], pos: &mut usize, upto: usize) -> Option<usize> {
        let mut last = None;
        let head = &buf[..upto];
        while let Some(b) = s.next_boundary(head, pos) {
            last = Some(b);
        }
        last
    }

    #[test]
    fn advancing_to_a_limit_agrees_with_stepping_through_every_record() {
        let mut rng = crate::test_rng::Rng(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next();
        let alphabet = b"ab,,\"\"\r\n\n";
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            // Scan in two or three steps, as the framer does when data arrives in parts.
            let mut cuts: Vec<usize> = (0..2)
                .map(|_| (next() % (len as u64 + 1)) as usize)
                .collect();
            cuts.push(len);
            cuts.sort_unstable();
            let (mut fast, mut slow) = (CsvScan::new(), CsvScan::new());
            let (mut pf, mut ps) = (0, 0);
            for &upto in &cuts {
                if pf >= upto {
                    continue;
                }
                let a = fast.advance_to(&buf, &mut pf, upto);
                let b = advance_slowly(&mut slow, &buf, &mut ps, upto);
                let text = String::from_utf8_lossy(&buf);
                assert_eq!(a, b, "{text:?} up to {upto}");
                assert_eq!(pf, upto, "{text:?}");
                assert_eq!(ps, upto, "{text:?}");
                assert_eq!(
                    (fast.in_quotes, fast.quote_pending, fast.cr_pending),
                    (slow.in_quotes, slow.quote_pending, slow.cr_pending),
                    "{text:?} up to {upto}"
                );
                assert_eq!(fast.unterminated(), slow.unterminated(), "{text:?}");
            }
        }
    }

    #[test]
    fn word_search_finds_the_first_quote_or_backslash() {
        for len in 0..150 {
            for at in 0..=len {
                for needle in [b'"', b'\\'] {
                    let mut hay: Vec<u8> = (0..len)
                        .map(|i| b"a\"\\x\xff"[i % 5] & 0x7e | 0x40)
                        .collect();
                    hay.iter_mut().for_each(|b| {
                        if *b == b'"' || *b == b'\\' {
                            *b = b'z';
                        }
                    });
                    if at < len {
                        hay[at] = needle;
                        if at + 1 < len {
                            hay[at + 1] = b'"';
                        }
                    }
                    let want = hay.iter().position(|&b| b == b'"' || b == b'\\');
                    assert_eq!(find_quote_or_backslash(&hay), want, "len {len} at {at}");
                }
            }
        }
    }
}
