//! Hand-written value rules (DESIGN.md "Value rules"): date-time, date, time, uuid, email, uri,
//! and the CSV spellings of integers, numbers, booleans and years.
//!
//! Every function works on borrowed bytes, never allocates and never panics.

/// Two ASCII digits at `b[i..i + 2]` as a number.
fn two_digits(b: &[u8], i: usize) -> Option<u32> {
    match (b.get(i), b.get(i + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
            Some(u32::from(x - b'0') * 10 + u32::from(y - b'0'))
        }
        _ => None,
    }
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// `YYYY-MM-DD` at the start of `b`, calendar checked. Returns the bytes consumed (10).
fn parse_date(b: &[u8]) -> Option<usize> {
    let year = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = two_digits(b, 5)?;
    let day = two_digits(b, 8)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(10)
}

/// `hh:mm:ss[.frac]` at the start of `b` (second 60 accepted). Returns the bytes consumed.
fn parse_partial_time(b: &[u8]) -> Option<usize> {
    let hour = two_digits(b, 0)?;
    let minute = two_digits(b, 3)?;
    let second = two_digits(b, 6)?;
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    let mut i = 8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    Some(i)
}

/// `Z`, `z` or `±hh:mm`, exactly the whole of `b`.
fn is_zone(b: &[u8]) -> bool {
    match b {
        [b'Z'] | [b'z'] => true,
        [b'+' | b'-', ..] if b.len() == 6 => {
            matches!((two_digits(b, 1), b.get(3), two_digits(b, 4)), (Some(h), Some(b':'), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

/// RFC 3339 `date-time`: `YYYY-MM-DD` `T`/`t` `hh:mm:ss[.frac]` and a zone (`Z`/`z`/`±hh:mm`).
pub(crate) fn is_date_time(s: &str) -> bool {
    // The fixed `YYYY-MM-DDThh:mm:ss` head is checked with three eight-byte words: each is
    // XORed with a template so that a digit becomes its value (0..=9) and a separator 0, then
    // one add per word flags any byte above its limit (9 for a digit, 0 for a separator).
    const fn word(t: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*t)
    }
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes 0..8 `YYYY-MM-`, 8..16 `DDThh:mm` (`T` folded to `t`), 12..20 `h:mm:ss` and one
    // byte not looked at here.
    const T0: u64 = word(b"0000-00-");
    const T1: u64 = word(b"00t00:00");
    const T2: u64 = word(b"0:00:00\0");
    const A0: u64 = word(&[0x76, 0x76, 0x76, 0x76, 0x7f, 0x76, 0x76, 0x7f]);
    const A1: u64 = word(&[0x76, 0x76, 0x7f, 0x76, 0x76, 0x7f, 0x76, 0x76]);
    const A2: u64 = word(&[0x76, 0x7f, 0x76, 0x76, 0x7f, 0x76, 0x76, 0x7f]);
    let b = s.as_bytes();
    let (Some(h0), Some(h1), Some(h2)) = (b.get(..8), b.get(8..16), b.get(12..20)) else {
        return false;
    };
    let v0 = u64::from_le_bytes(h0.try_into().unwrap_or_default()) ^ T0;
    let v1 = (u64::from_le_bytes(h1.try_into().unwrap_or_default()) | 0x20 << 16) ^ T1;
    let v2 = (u64::from_le_bytes(h2.try_into().unwrap_or_default()) ^ T2) & (u64::MAX >> 8);
    if ((v0 | v0.wrapping_add(A0)) | (v1 | v1.wrapping_add(A1)) | (v2 | v2.wrapping_add(A2))) & HIGH
        != 0
    {
        return false;
    }
    // Every byte is now at most 9: byte k of `10 * v + (v >> 8)` is the two-digit number at k.
    let p0 = v0.wrapping_mul(10) + (v0 >> 8);
    let p1 = v1.wrapping_mul(10) + (v1 >> 8);
    let p2 = v2.wrapping_mul(10) + (v2 >> 8);
    let year = (p0 & 0xff) as u32 * 100 + (p0 >> 16 & 0xff) as u32;
    let month = (p0 >> 40 & 0xff) as u32;
    let day = (p1 & 0xff) as u32;
    // Hour (byte 3 of `p1`), minute (byte 6 of `p1`) and second (byte 5 of `p2`), each at most
    // 99: one add sets a byte's high bit exactly when it is above its limit (23, 59, 60), with no
    // carry (99 + 0x7f - 23 < 0x100).
    const HOUR_MINUTE: u64 = 0xff << 24 | 0xff << 48;
    const HOUR_MINUTE_ADD: u64 = (0x7f - 23) << 24 | (0x7f - 59) << 48;
    const SECOND: u64 = 0xff << 40;
    const SECOND_ADD: u64 = (0x7f - 60) << 40;
    let time_bad = ((p1 & HOUR_MINUTE) + HOUR_MINUTE_ADD) | ((p2 & SECOND) + SECOND_ADD);
    // Day 1..=length of the month, in one unsigned compare: day 0 wraps, and a month outside
    // 1..=12 has length 0.
    if time_bad & HIGH != 0
        || (day.wrapping_sub(1) >= MONTH_DAYS[month as usize & 127]
            && !(month == 2 && day == 29 && is_leap(year)))
    {
        return false;
    }
    // The zone is the last byte (`Z`/`z`) or the last six (`±hh:mm`, ending in a digit), so
    // whatever lies between byte 19 and the zone must be nothing or `.` and digits. The `Z`
    // form stays in this frame; the offset form is out of line (its zone check needs one).
    let n = b.len();
    if matches!(b[n - 1], b'Z' | b'z') {
        fraction_ok(b, n - 1)
    } else {
        offset_zone_ok(b)
    }
}

/// [`is_date_time`] past the fixed head when the text does not end in `Z`/`z`: a `±hh:mm`
/// zone at the end, the fraction before it.
#[inline(never)]
fn offset_zone_ok(b: &[u8]) -> bool {
    let n = b.len();
    n >= 25 && is_zone(&b[n - 6..]) && fraction_ok(b, n - 6)
}

/// Whether bytes `19..end` of a date-time (`end` >= 19) are nothing, or `.` and at least one
/// digit. Up to eight digits are checked in the word that ends at `end`, without a loop whose
/// exit would depend on how many there are.
#[inline(always)]
fn fraction_ok(b: &[u8], end: usize) -> bool {
    if end <= 20 {
        // Nothing, or a `.` with no digit.
        return end == 19;
    }
    let dot = b.get(19) == Some(&b'.');
    let digits = end - 20;
    match b.get(end - 8..end).and_then(<[u8]>::first_chunk::<8>) {
        Some(w) if digits <= 8 => {
            let top = TOP_BYTES[digits];
            let v = u64::from_le_bytes(*w).wrapping_sub(ZEROS & top) & top;
            dot & (non_digit_values(v) == 0)
        }
        _ => {
            dot && b
                .get(20..end)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        }
    }
}

/// Days in each month of a common year, by any two-digit month number (0 for no month).
static MONTH_DAYS: [u32; 128] = {
    let mut t = [0u32; 128];
    let mut m = 1;
    while m <= 12 {
        t[m] = DAYS_IN_MONTH[m];
        m += 1;
    }
    t
};

/// Days in each month of a common year, by month number (index 0 unused).
static DAYS_IN_MONTH: [u32; 13] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Full-date `YYYY-MM-DD`, calendar checked.
pub(crate) fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_date(s.as_bytes()).is_some()
}

/// `hh:mm:ss[.frac]` with an optional zone (Table Schema `time`; also JSON Schema `format: time`).
pub(crate) fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    match parse_partial_time(b) {
        Some(t) if t == b.len() => true,
        Some(t) => is_zone(b.get(t..).unwrap_or_default()),
        None => false,
    }
}

/// 8-4-4-4-12 hexadecimal digits, either case.
pub(crate) fn is_uuid(s: &str) -> bool {
    // Branch-free over the digits (this runs on every key of a UUID column): five eight-byte
    // words cover the 36 bytes, the dashes are compared in place.
    let Ok(b) = <&[u8; 36]>::try_from(s.as_bytes()) else {
        return false;
    };
    let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
    // Dashes at 8 and 13 (bytes 0 and 5 of the word at 8), 18 and 23 (bytes 2 and 7 of the
    // word at 16).
    const S1: u64 = 0xff | 0xff << 40;
    const S2: u64 = 0xff << 16 | 0xff << 56;
    const DASHES: u64 = 0x2d2d_2d2d_2d2d_2d2d;
    let (w1, w2) = (w(8), w(16));
    let bad = not_hex8(w(0))
        | (not_hex8(w1) & !S1)
        | (not_hex8(w2) & !S2)
        | not_hex8(w(24))
        | not_hex8(w(28))
        | ((w1 ^ DASHES) & S1)
        | ((w2 ^ DASHES) & S2);
    bad == 0
}

// The dash masks above assume the digit layout the uniqueness keys decode.
const _: () = {
    let mut i = 0;
    while i < 32 {
        assert!(!matches!(crate::unique::UUID_DIGITS[i], 8 | 13 | 18 | 23));
        i += 1;
    }
};

/// The high bit of each byte of `x` that is not an ASCII hex digit of either case; any
/// non-ASCII byte makes the result non-zero (what it does to the other bytes then is moot).
#[inline]
fn not_hex8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // For ASCII bytes, adding 0x80 - lo sets a byte's high bit exactly when the byte is >= lo,
    // and never carries into the next byte.
    let ge = |x: u64, lo: u8| x.wrapping_add(ONES * u64::from(0x80 - lo)) & HIGH;
    let digit = ge(x, b'0') & !ge(x, b'9' + 1);
    // `| 0x20` folds 'A'..='F' onto 'a'..='f' (the digits are checked on `x` itself, as the fold
    // also maps some control bytes onto digits).
    let l = x | (ONES * 0x20);
    let letter = ge(l, b'a') & !ge(l, b'f' + 1);
    (x & HIGH) | (!(digit | letter) & HIGH)
}

/// A deliberately simple email check: exactly one `@`, a non-empty local part, a domain of one or
/// more non-empty dot-separated labels, and no whitespace or control characters anywhere.
pub(crate) fn is_email(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty() && !domain.is_empty() && domain.split('.').all(|l| !l.is_empty())
        }
        _ => false,
    }
}

/// An absolute URI: a scheme (a letter, then letters, digits, `+`, `-`, `.`), `:`, then at least
/// one character, with no whitespace or control characters.
pub(crate) fn is_uri(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let (scheme, rest) = s.split_at(colon);
    let mut sc = scheme.bytes();
    let scheme_ok = matches!(sc.next(), Some(c) if c.is_ascii_alphabetic())
        && sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    scheme_ok && rest.len() > 1 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// What a CSV integer cell turned into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CsvInt {
    Int(i64),
    /// All digits, but outside `i64`.
    Big(f64),
}

/// The first eight bytes of `b` as a little-endian `u64`; when `b` is shorter, its bytes and
/// zeros past its end. A few overlapping loads, no loop and no copy.
#[inline]
pub(crate) fn load8(b: &[u8]) -> u64 {
    let n = b.len();
    if let Some(w) = b.first_chunk::<8>() {
        u64::from_le_bytes(*w)
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().unwrap_or_default());
        let hi = u32::from_le_bytes(b[n - 4..].try_into().unwrap_or_default());
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else if n > 0 {
        // n = 1, 2, 3: the first, middle and last bytes cover every byte.
        u64::from(b[0])
            | u64::from(b[n / 2]) << (8 * (n / 2))
            | u64::from(b[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The eight digit values (0..=9) in the bytes of `v`, the first byte most significant.
#[inline]
fn parse8(v: u64) -> u64 {
    // Pairs: byte 2k holds 10 * d[2k] + d[2k + 1] (at most 99, no carry between bytes).
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const M: u64 = 0x0000_00ff_0000_00ff;
    let a = (v & M).wrapping_mul(100 + (1_000_000 << 32));
    let b = ((v >> 16) & M).wrapping_mul(1 + (10_000 << 32));
    a.wrapping_add(b) >> 32
}

/// The top `t` bytes of a word set, for `t` in 0..=8 (the entries past 8 are never used for a
/// value that is kept).
static TOP_BYTES: [u64; 16] = {
    let mut t = [0u64; 16];
    let mut i = 1;
    while i <= 8 {
        t[i] = u64::MAX << (64 - 8 * i);
        i += 1;
    }
    t
};

const ZEROS: u64 = ONES * 0x30;
const HIGH: u64 = ONES * 0x80;

/// The high bit of each byte of `v` (a word of bytes minus `'0'` each) that was not an ASCII
/// digit: its value is above 9, or it borrowed (a byte below `'0'` wraps to 0xd0 and up). A
/// borrow or a carry can only disturb the bytes above a byte that is flagged itself, so the
/// result is zero exactly when every byte was a digit, and its lowest set bit is in the first
/// byte that was not.
#[inline(always)]
fn non_digit_values(v: u64) -> u64 {
    (v | v.wrapping_add(ONES * 0x76)) & HIGH
}

/// `b` when it is 1..=16 bytes: at most 8 digits, or at most 7 digits, a `.` and at most 8
/// digits, with at least one digit in all: the digits as an integer and how many follow the
/// `.`. `None` for everything else (which may still be a number).
///
/// Two shapes, each straight-line but for its early exits: up to seven bytes fit in one word,
/// where the dot (if any) is taken out with two masks and one parse reads every digit; eight
/// bytes and more are read as their first and last eight, the dot is the first non-digit of
/// the first word, the integer digits before it and the fraction (the top bytes of the last
/// word) are read eight digits at a time each.
#[inline(always)]
fn short_decimal(b: &[u8]) -> Option<(u64, usize)> {
    let n = b.len();
    if let (Some(h), Some(l)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        if n > 16 {
            return None;
        }
        let (head, tail) = (u64::from_le_bytes(*h), u64::from_le_bytes(*l));
        let hv = head.wrapping_sub(ZEROS);
        let k = (non_digit_values(hv).trailing_zeros() / 8) as usize;
        if k >= 8 {
            // Eight digits and nothing else, or more than eight before any dot.
            return (n == 8).then(|| (parse8(hv), 0));
        }
        // The dot at `k`, then `t` fraction digits: the top `t` bytes of `tail`.
        let t = n - k - 1;
        if (head >> (8 * k)) as u8 != b'.' || t > 8 {
            return None;
        }
        let top = TOP_BYTES[t];
        let fv = tail.wrapping_sub(ZEROS & top) & top;
        if non_digit_values(fv) != 0 {
            return None;
        }
        // The integer digits' values in the top `k` bytes (none for `k` = 0); the borrows of
        // `hv` only run upwards from the dot, and drop out.
        let iv = (hv << 8) << (8 * (7 - k));
        return Some((parse8(iv) * POW10_INT[t] + parse8(fv), t));
    }
    // 0..=7 bytes: all in one word, zeros past the end (which are non-digits).
    if n == 0 {
        return None;
    }
    let x = load8(b);
    let xv = x.wrapping_sub(ZEROS);
    let shift = 8 * (8 - n);
    // All digits: their values moved to the top (what lies past the end, and the borrows out
    // of it, shifted out) have no flagged byte.
    let v = xv << shift;
    if non_digit_values(v) == 0 {
        return Some((parse8(v), 0));
    }
    // Else the first non-digit must be a dot, at `k`: the fraction moves down one byte over
    // it, so that the first `n - 1` bytes are the digits, then top-aligned; the fraction's
    // bytes are checked there.
    let k = (non_digit_values(xv).trailing_zeros() / 8) as usize;
    if (x >> (8 * (k & 7))) as u8 != b'.' || n == 1 {
        return None;
    }
    let below = (1u64 << (8 * (k & 7))) - 1;
    let d = ((x & below) | ((x >> 8) & !below)) << (shift + 8);
    let top = TOP_BYTES[n - 1];
    let dv = d.wrapping_sub(ZEROS & top) & top;
    if non_digit_values(dv) != 0 {
        return None;
    }
    Some((parse8(dv), n - k - 1))
}

/// 10^0 ..= 10^8 (and zeros up to 16 entries, for indexing by a masked count).
static POW10_INT: [u64; 16] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
];

/// CSV integer: an optional sign and decimal digits only.
#[inline]
pub(crate) fn parse_csv_int(s: &str) -> Option<CsvInt> {
    let (neg, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        b => (false, b),
    };
    let n = digits.len();
    if n.wrapping_sub(1) < 8 {
        // The digit values moved to the top `n` bytes: what lies past the end (and the borrows
        // out of it, which only run upwards) is shifted out.
        let v = load8(digits).wrapping_sub(ZEROS) << (8 * (8 - n));
        if non_digit_values(v) != 0 {
            return None;
        }
        // Negated without a branch: (v ^ -1) + 1 == -v.
        let neg = -i64::from(neg);
        return Some(CsvInt::Int((parse8(v) as i64 ^ neg) - neg));
    }
    parse_csv_int_long(s)
}

/// [`parse_csv_int`] for no digits or more than 8 of them. Out of line: the short path needs
/// no stack frame.
#[cold]
#[inline(never)]
fn parse_csv_int_long(s: &str) -> Option<CsvInt> {
    let b = s.as_bytes();
    let digits = match b.first() {
        Some(b'+' | b'-') => b.get(1..).unwrap_or_default(),
        _ => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match s.parse::<i64>() {
        Ok(i) => Some(CsvInt::Int(i)),
        Err(_) => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(CsvInt::Big),
    }
}

/// CSV number: `[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?`, finite.
#[inline]
pub(crate) fn parse_csv_number(s: &str) -> Option<f64> {
    let (neg, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        b => (false, b),
    };
    if let Some((m, frac)) = short_decimal(digits) {
        // Exact fast path (Clinger): the digits (at most 15) are an integer below 2^53 and the
        // power of ten is exact, so one correctly rounded division gives what `str::parse`
        // gives. (`m` < 2^53 converts exactly through i64, one instruction.) `v` is +0 or
        // above, so setting the sign bit negates it, without a branch on a sign that is as
        // often `-` as not in coordinates.
        let v = (m as i64) as f64 / POW10[frac & 15];
        return Some(f64::from_bits(v.to_bits() | u64::from(neg) << 63));
    }
    parse_csv_number_general(s)
}

/// [`parse_csv_number`] for every spelling the short fast path does not take (exponents,
/// more digits, and everything invalid). Out of line: the fast path needs no stack frame.
#[cold]
#[inline(never)]
fn parse_csv_number_general(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let neg = b.first() == Some(&b'-');
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_start = i;
    // The digits as an integer (wrapping; only used when there are at most 15 of them).
    let mut m = 0u64;
    i = push_digits(b, i, &mut m);
    let mut mantissa_digits = i - int_start;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        i = push_digits(b, i, &mut m);
        frac_digits = i - frac_start;
        mantissa_digits += frac_digits;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i == b.len() && mantissa_digits <= 15 {
        // Exact fast path (Clinger): the digits are an integer below 2^53 and the power of ten
        // is exact, so one correctly rounded division gives what `str::parse` gives.
        let v = m as f64 / POW10[frac_digits];
        return Some(if neg { -v } else { v });
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Appends the ASCII digits of `b` from `i` on to `m` (wrapping: callers use `m` only for a
/// bounded number of digits) and returns the position after them.
#[inline]
pub(crate) fn push_digits(b: &[u8], mut i: usize, m: &mut u64) -> usize {
    while let Some(&d @ b'0'..=b'9') = b.get(i) {
        *m = m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    i
}

/// [`push_digits`] eight digits at a time: no branch per digit, and one loop exit a run of up
/// to eight digits (a per-digit loop mispredicts its exit on every number of varying length).
#[inline]
pub(crate) fn push_digit_words(b: &[u8], mut i: usize, m: &mut u64) -> usize {
    loop {
        // The digit values made once: the first non-digit is the first flagged byte, and the
        // run's values, moved to the top of the word (past it and every borrow out of it
        // shifted out), are what is read.
        let xv = load8(b.get(i..).unwrap_or_default()).wrapping_sub(ZEROS);
        let n = (non_digit_values(xv).trailing_zeros() / 8) as usize;
        if n == 0 {
            return i;
        }
        *m = m
            .wrapping_mul(POW10_INT[n & 15])
            .wrapping_add(parse8(xv << (64 - 8 * n)));
        i += n;
        if n < 8 {
            return i;
        }
    }
}

/// 10^0 ..= 10^15, all exact in an f64.
static POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// CSV boolean: `true`/`false`/`True`/`False`/`TRUE`/`FALSE`/`1`/`0`.
pub(crate) fn parse_csv_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "1" => Some(true),
        "false" | "False" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

/// CSV year (Table Schema): exactly four digits.
pub(crate) fn parse_csv_year(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 4 && b.iter().all(u8::is_ascii_digit) {
        s.parse().ok()
    } else {
        None
    }
}

/// An `f64` that is a whole number and fits `i64` exactly.
pub(crate) fn f64_as_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every integral f64 in [-2^63, 2^63) converts exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_numbers_match_str_parse_bit_for_bit() {
        let mut rng = crate::test_rng::Rng(0x2545_f491_4f6c_dd1d);
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "+0",
            "0.0",
            "-0.0",
            ".5",
            "5.",
            "-.5",
            "0.1",
            "0.3",
            "123.456",
            "999999999999999",
            "9999999999999999",
            "0.000000000000001",
            "1.5e3",
            "007",
            "-123456789.012345",
            "+42",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let x = rng.next();
            let digits = (x % 17) as usize;
            let frac = (x >> 8) as usize % (digits + 1);
            let n = (x >> 16) % 10u64.pow(digits.min(18) as u32).max(1);
            let mut t = format!("{n:0digits$}");
            t.insert(t.len() - frac, '.');
            if x & 1 == 1 {
                t.insert(0, '-');
            }
            cases.push(t);
        }
        for c in &cases {
            let want = c.parse::<f64>().ok().filter(|f| f.is_finite());
            let got = parse_csv_number(c);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{c}");
        }
    }

    #[test]
    fn date_times() {
        for ok in [
            "2025-01-27T10:00:00Z",
            "2025-01-27t10:00:00z",
            "2025-01-27T10:00:00.1Z",
            "2025-01-27T10:00:00.123456789012+05:30",
            "2025-01-27T10:00:00-00:00",
            "2024-02-29T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2000-02-29T23:59:59+23:59",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2025-01-27 10:00:00Z",
            "2025-01-27T10:00:00",
            "2025-02-30T10:00:00Z",
            "2023-02-29T10:00:00Z",
            "1900-02-29T10:00:00Z",
            "2025-13-01T10:00:00Z",
            "2025-00-01T10:00:00Z",
            "2025-01-00T10:00:00Z",
            "2025-04-31T10:00:00Z",
            "2025-01-27T24:00:00Z",
            "2025-01-27T10:60:00Z",
            "2025-01-27T10:00:61Z",
            "2025-01-27T10:00:00.Z",
            "2025-01-27T10:00:00+0530",
            "2025-01-27T10:00:00+24:00",
            "2025-01-27T10:00Z",
            "2025-1-27T10:00:00Z",
            "2025-01-27T10:00:00Zx",
            "2025-01-27T10:00:00Z ",
            "",
            "T",
            "2025-01-27",
            "２０２５-01-27T10:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn dates_and_times() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2025-02-30"));
        assert!(is_date("2000-02-29"));
        assert!(!is_date("2025-01-27T"));
        assert!(!is_date("25-01-27"));
        assert!(is_time("10:00:00"));
        assert!(is_time("23:59:60"));
        assert!(is_time("10:00:00.5"));
        assert!(is_time("10:00:00Z"));
        assert!(is_time("10:00:00.25+01:00"));
        assert!(!is_time("10:00"));
        assert!(!is_time("24:00:00"));
        assert!(!is_time("10:00:00 "));
        assert!(!is_time("10:00:00+1"));
    }

    #[test]
    fn uuids_emails_uris() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
        assert!(!is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
        assert!(!is_uuid("{123e4567-e89b-12d3-a456-426614174000}"));
        assert!(is_email("a@b"));
        assert!(is_email("first.last+tag@example.co.uk"));
        assert!(!is_email("a@@b"));
        assert!(!is_email("a@b@c"));
        assert!(!is_email("@b.com"));
        assert!(!is_email("a@"));
        assert!(!is_email("a@b..com"));
        assert!(!is_email("a@.com"));
        assert!(!is_email("a b@c.com"));
        assert!(is_uri("https://example.com/a?b=c"));
        assert!(is_uri("urn:isbn:0451450523"));
        assert!(is_uri("mailto:a@b.c"));
        assert!(!is_uri("example.com/a"));
        assert!(!is_uri("https:"));
        assert!(!is_uri("1http://x"));
        assert!(!is_uri("://x"));
        assert!(!is_uri("https://exa mple.com"));
    }

    #[test]
    fn csv_scalars() {
        assert_eq!(parse_csv_int("1500"), Some(CsvInt::Int(1500)));
        assert_eq!(parse_csv_int("-7"), Some(CsvInt::Int(-7)));
        assert_eq!(parse_csv_int("+7"), Some(CsvInt::Int(7)));
        assert_eq!(
            parse_csv_int("99999999999999999999"),
            Some(CsvInt::Big(1e20))
        );
        for bad in [" 1500", "1500 ", "1e3", "0x10", "1.0", "", "-", "+", "١٢"] {
            assert_eq!(parse_csv_int(bad), None, "{bad}");
        }
        assert_eq!(parse_csv_number("1.5"), Some(1.5));
        assert_eq!(parse_csv_number("-.5"), Some(-0.5));
        assert_eq!(parse_csv_number("1."), Some(1.0));
        assert_eq!(parse_csv_number("1e3"), Some(1000.0));
        assert_eq!(parse_csv_number("+2E-2"), Some(0.02));
        for bad in [
            "NaN", "nan", "Infinity", "inf", "-inf", " 1", "1 ", ".", "1e", "1e+", "e3", "1e400",
            "0x10", "1,5", "",
        ] {
            assert_eq!(parse_csv_number(bad), None, "{bad}");
        }
        for (s, b) in [("true", true), ("True", true), ("TRUE", true), ("1", true)] {
            assert_eq!(parse_csv_bool(s), Some(b));
        }
        for (s, b) in [
            ("false", false),
            ("False", false),
            ("FALSE", false),
            ("0", false),
        ] {
            assert_eq!(parse_csv_bool(s), Some(b));
        }
        assert_eq!(parse_csv_bool("yes"), None);
        assert_eq!(parse_csv_bool("tRue"), None);
        assert_eq!(parse_csv_year("2025"), Some(2025));
        assert_eq!(parse_csv_year("225"), None);
        assert_eq!(parse_csv_year("+225"), None);
        assert_eq!(f64_as_i64(1000.0), Some(1000));
        assert_eq!(f64_as_i64(1.5), None);
        assert_eq!(f64_as_i64(1e19), None);
        assert_eq!(f64_as_i64(f64::NAN), None);
    }

    // ---- Differential tests: the fast paths against the straightforward implementations they
    // replaced (kept here as references where the module no longer has them).

    /// `is_date_time` as it was: the scalar date, time and zone readers that `is_date` and
    /// `is_time` still use, one after the other (the fast path checks the fixed head with
    /// words instead).
    fn is_date_time_reference(s: &str) -> bool {
        let b = s.as_bytes();
        let Some(d) = parse_date(b) else {
            return false;
        };
        if !matches!(b.get(d), Some(b'T' | b't')) {
            return false;
        }
        let rest = b.get(d + 1..).unwrap_or_default();
        match parse_partial_time(rest) {
            Some(t) => is_zone(rest.get(t..).unwrap_or_default()),
            None => false,
        }
    }

    static NOT_HEX_REFERENCE: [u8; 256] = {
        let mut t = [1u8; 256];
        let mut i = 0;
        while i < 256 {
            if (i as u8).is_ascii_hexdigit() {
                t[i] = 0;
            }
            i += 1;
        }
        t
    };

    fn is_uuid_reference(s: &str) -> bool {
        let Ok(b) = <&[u8; 36]>::try_from(s.as_bytes()) else {
            return false;
        };
        if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return false;
        }
        let mut bad = 0u8;
        for p in crate::unique::UUID_DIGITS {
            bad |= NOT_HEX_REFERENCE[b[p] as usize];
        }
        bad == 0
    }

    use crate::test_rng::Rng;

    /// `n` random decimal digits.
    fn digits(r: &mut Rng, n: u64, out: &mut String) {
        for _ in 0..n {
            out.push(char::from(b'0' + r.below(10) as u8));
        }
    }

    /// Characters standing in for the bytes >= 0x80 (a `&str` holds only whole characters):
    /// two-, three- and four-byte UTF-8 with high and low continuation bytes.
    const WIDE: [char; 7] = [
        'é',
        'ÿ',
        '\u{7ff}',
        '\u{fff}',
        '\u{ffff}',
        '٣',
        '\u{10ffff}',
    ];

    /// Calls `f` on every one-byte variation of `sample`: each byte replaced by every byte value
    /// (bytes >= 0x80 by a wide character), removed, and each byte value inserted before it;
    /// and on every prefix.
    fn variations(sample: &str, mut f: impl FnMut(&str)) {
        let b = sample.as_bytes();
        for p in 0..=b.len() {
            f(&sample[..p]);
            for v in 0..=255u8 {
                let mut t: Vec<u8> = Vec::with_capacity(b.len() + 4);
                let with = |t: &mut Vec<u8>| {
                    if v < 0x80 {
                        t.push(v);
                    } else {
                        let c = WIDE[usize::from(v) % WIDE.len()];
                        t.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                };
                // Replace byte p.
                if p < b.len() {
                    t.extend_from_slice(&b[..p]);
                    with(&mut t);
                    t.extend_from_slice(&b[p + 1..]);
                    if let Ok(s) = std::str::from_utf8(&t) {
                        f(s);
                    }
                    t.clear();
                }
                // Insert before byte p (after the end for p == len).
                if v % 4 == 0 || v < 0x80 {
                    t.extend_from_slice(&b[..p]);
                    with(&mut t);
                    t.extend_from_slice(&b[p..]);
                    if let Ok(s) = std::str::from_utf8(&t) {
                        f(s);
                    }
                }
            }
            if p < b.len() {
                let mut t = b.to_vec();
                t.remove(p);
                if let Ok(s) = std::str::from_utf8(&t) {
                    f(s);
                }
            }
        }
    }

    /// The short fast paths against the general parsers, which read every spelling on their
    /// own (they were the whole parsers before the fast paths).
    fn same_number(s: &str) {
        assert_eq!(
            parse_csv_number(s).map(f64::to_bits),
            parse_csv_number_general(s).map(f64::to_bits),
            "{s:?}"
        );
    }

    fn same_int(s: &str) {
        let bits = |v: Option<CsvInt>| match v {
            Some(CsvInt::Int(i)) => Some((0, i as u64)),
            Some(CsvInt::Big(f)) => Some((1, f.to_bits())),
            None => None,
        };
        assert_eq!(bits(parse_csv_int(s)), bits(parse_csv_int_long(s)), "{s:?}");
    }

    /// A number spelling from parts that are mostly valid: sign, integer digits (leading
    /// zeros now and then), dot, fraction digits, exponent.
    fn number_like(r: &mut Rng, t: &mut String) {
        t.clear();
        t.push_str(r.pick(&["", "", "-", "+", "--", "+-"]));
        let lens = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 20];
        let int = lens[r.below(lens.len() as u64) as usize];
        if r.below(4) == 0 {
            t.push_str(r.pick(&["0", "00", "0000000000"]));
        }
        digits(r, int, t);
        if r.below(3) != 0 {
            t.push('.');
            let frac = lens[r.below(lens.len() as u64) as usize];
            digits(r, frac, t);
        }
        if r.below(5) == 0 {
            t.push_str(r.pick(&["e", "E", "e+", "e-", "E-"]));
            let exp = r.below(5);
            if r.below(8) == 0 {
                t.push_str(r.pick(&["308", "309", "400", "324", "-330", "99999999999"]));
            } else {
                digits(r, exp, t);
            }
        }
        if r.below(16) == 0 {
            t.push_str(r.pick(&[" ", ".", "x", "e", "\u{0}", "é"]));
        }
    }

    #[test]
    fn csv_number_fast_path_matches_reference() {
        let samples = [
            "-12.345678",
            "123.456789",
            "1234",
            "12.50",
            "0",
            "-0",
            "+0",
            "-0.0",
            ".5",
            "5.",
            "-.5",
            "+.5",
            "1e5",
            "1.5E-3",
            "1e308",
            "1e309",
            "999999999999999",
            "9999999999999999",
            "12345678901234567",
            "99999999999999999999",
            "9007199254740993",
            "0.000000000000001",
            "123456789012345.6",
            "1234567.123456789",
            // 16 digits above 2^53: converting and dividing rounds twice and misses.
            "98174126173.98395",
            "94146564264271.75",
            "94310916.54482977",
        ];
        for s in samples {
            variations(s, same_number);
        }
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut t = String::new();
        for _ in 0..200_000 {
            number_like(&mut r, &mut t);
            same_number(&t);
        }
        // 14..=17 significant digits with the dot anywhere: both sides of the exact path's
        // 15-digit limit, where a second rounding would show.
        for _ in 0..100_000 {
            t.clear();
            let n = 14 + r.below(4) as usize;
            digits(&mut r, n as u64, &mut t);
            t.insert(r.below(n as u64 + 1) as usize, '.');
            same_number(&t);
        }
        // Short strings over a small alphabet: every odd corner of the grammar.
        let alphabet = b"0123456789.+-eE x";
        for _ in 0..200_000 {
            t.clear();
            for _ in 0..r.below(19) {
                t.push(char::from(
                    alphabet[r.below(alphabet.len() as u64) as usize],
                ));
            }
            same_number(&t);
        }
    }

    /// Every string of up to six characters over digits, signs, dots, exponents and a few
    /// bytes around them; then every dot position in numbers of 8..=17 bytes, signed or not,
    /// with the digits around the fast path's limits (seven before the dot, eight after).
    #[test]
    fn csv_number_fast_path_matches_reference_exhaustively_on_short_spellings() {
        let alphabet = ["0", "1", "9", ".", "-", "+", "e", "/", ":", "é"];
        let mut t = String::new();
        let mut idx = [0usize; 6];
        for len in 0..=6 {
            let count = alphabet.len().pow(len as u32);
            for mut c in 0..count {
                t.clear();
                for slot in idx.iter_mut().take(len) {
                    *slot = c % alphabet.len();
                    c /= alphabet.len();
                    t.push_str(alphabet[*slot]);
                }
                same_number(&t);
            }
        }
        let mut r = Rng(0x1234_5678_9abc_def1);
        for _ in 0..100_000 {
            t.clear();
            t.push_str(r.pick(&["", "-", "+"]));
            let n = 7 + r.below(10) as usize;
            let start = t.len();
            if r.below(4) == 0 {
                t.push('0');
            }
            while t.len() - start < n {
                digits(&mut r, 1, &mut t);
            }
            t.insert(start + r.below(n as u64 + 1) as usize, '.');
            same_number(&t);
            if r.below(8) == 0 {
                // One byte swapped for a non-digit anywhere.
                let at = start + r.below(n as u64) as usize;
                t.replace_range(at..at + 1, r.pick(&["x", "/", ":", " ", "-"]));
                same_number(&t);
            }
        }
    }

    /// The word-at-a-time digit reader against the byte-at-a-time one: runs of 0..=30 digits
    /// at every offset, followed by the bytes around the digits, a dot, non-ASCII, or the end.
    #[test]
    fn push_digit_words_matches_push_digits() {
        let mut r = Rng(0x0bad_5eed_1234_5678);
        let mut t = String::new();
        for _ in 0..200_000 {
            t.clear();
            for _ in 0..r.below(4) {
                t.push(char::from(b"ab.-"[r.below(4) as usize]));
            }
            let start = t.len();
            let n = r.below(31);
            digits(&mut r, n, &mut t);
            if r.below(4) != 0 {
                t.push_str(r.pick(&["/", ":", ".", "e", "\u{0}", "é", "0", "9", " "]));
            }
            let b = t.as_bytes();
            let m0 = r.next() % 1000;
            let (mut a, mut w) = (m0, m0);
            let (ia, iw) = (
                push_digits(b, start, &mut a),
                push_digit_words(b, start, &mut w),
            );
            assert_eq!((ia, a), (iw, w), "{t:?} from {start}");
        }
    }

    #[test]
    fn csv_int_fast_path_matches_reference() {
        let samples = [
            "1",
            "3600000",
            "-7",
            "+7",
            "-0",
            "0000000000000000",
            "1234567890123456",
            "9999999999999999",
            "12345678901234567",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "99999999999999999999",
        ];
        for s in samples {
            variations(s, same_int);
        }
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        let mut t = String::new();
        for _ in 0..300_000 {
            number_like(&mut r, &mut t);
            same_int(&t);
            t.clear();
            t.push_str(r.pick(&["", "", "-", "+", "-+"]));
            let n = r.below(22);
            digits(&mut r, n, &mut t);
            same_int(&t);
        }
    }

    /// A date-time with every field drawn around (and past) its limits.
    fn date_time_like(r: &mut Rng, t: &mut String) {
        use std::fmt::Write;
        t.clear();
        let year = r.pick(&[
            "2024", "2025", "1900", "2000", "0000", "9999", "2023", "1600",
        ]);
        let _ = write!(
            t,
            "{year}-{:02}-{:02}{}{:02}:{:02}:{:02}",
            r.below(14),
            r.below(33),
            r.pick(&["T", "t", "T", " ", "_"]),
            r.below(26),
            r.below(62),
            r.below(62)
        );
        match r.below(4) {
            0 => {}
            1 => t.push('.'),
            _ => {
                t.push('.');
                let n = r.below(12);
                digits(r, n, t);
            }
        }
        match r.below(6) {
            0 => t.push('Z'),
            1 => t.push('z'),
            2 => {}
            3 => t.push_str(r.pick(&["ZZ", "Z ", "+0530", "+05:3", "X", "+05:30:00"])),
            _ => {
                let _ = write!(
                    t,
                    "{}{:02}:{:02}",
                    r.pick(&["+", "-", "*"]),
                    r.below(26),
                    r.below(62)
                );
            }
        }
    }

    #[test]
    fn date_time_fast_path_matches_reference() {
        let same = |s: &str| assert_eq!(is_date_time(s), is_date_time_reference(s), "{s:?}");
        for s in [
            "2025-03-14T10:15:30.123Z",
            "2025-03-14T10:15:30Z",
            "2025-03-14t10:15:30.123456z",
            "2024-02-29T23:59:60+05:30",
            "2000-02-29T00:00:00-23:59",
            "1900-02-28T00:00:00.5Z",
            "2025-12-31T23:59:59.123456789012-00:00",
        ] {
            assert!(is_date_time_reference(s), "{s}");
            variations(s, same);
        }
        let mut r = Rng(0x853c_49e6_748f_ea9b);
        let mut t = String::new();
        for _ in 0..300_000 {
            date_time_like(&mut r, &mut t);
            same(&t);
        }
    }

    #[test]
    fn uuid_fast_path_matches_reference() {
        let same = |s: &str| assert_eq!(is_uuid(s), is_uuid_reference(s), "{s:?}");
        for s in [
            "123e4567-e89b-12d3-a456-426614174000",
            "ABCDEF01-2345-6789-ABCD-EF0123456789",
            "abcdef01-2345-6789-abcd-ef0123456789",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-FFFF-ffff-FFFF-ffffffffffff",
        ] {
            assert!(is_uuid_reference(s), "{s}");
            variations(s, same);
        }
        // Random 36-byte strings of hex digits of either case, dashes and their neighbours
        // ('/', ':', '@', 'G', '`', 'g' and the control bytes `| 0x20` folds onto digits).
        let alphabet = b"0123456789abcdefABCDEF-/:@G`g\x10\x19\x7f,.";
        let mut r = Rng(0xdead_beef_cafe_f00d);
        let mut t = String::new();
        for _ in 0..200_000 {
            t.clear();
            for p in 0..36 {
                let c = if matches!(p, 8 | 13 | 18 | 23) && r.below(8) != 0 {
                    b'-'
                } else if r.below(64) == 0 {
                    alphabet[r.below(alphabet.len() as u64) as usize]
                } else {
                    alphabet[r.below(22) as usize]
                };
                t.push(char::from(c));
            }
            same(&t);
        }
    }
}
