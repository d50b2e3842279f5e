//! A reader for the common JSON row: one flat object whose values are plain strings, numbers,
//! booleans and nulls. It writes the tape simd-json would write for the row, so the validator
//! cannot tell them apart, and answers `false` for anything else (an escape, a nested value,
//! an exponent, a long number, any syntax error): the caller then parses the row with
//! simd-json, which also words the error of a row that is not JSON.
//!
//! Why: simd-json builds its tape in two passes (a structural index, then the tape), which is
//! about half of a whole NDJSON validation; rows of a schema's flat fields need neither pass,
//! and a single forward scan reads them in a fraction of the time.
//!
//! Agreement with simd-json is exact where this reader answers `true`: the same nodes, numbers
//! typed the same way (a non-negative integer is `U64`, a negative one `I64`, a decimal `F64`
//! computed with the same exact fast path), keys and strings borrowed from the row. A
//! differential test holds the two together on random rows.

use simd_json::{Node, StaticNode};

use super::simd;
use crate::schema::values;

/// Reads `line` as a flat JSON object into `tape` (cleared first). False when the row needs
/// simd-json; `tape` then holds nothing useful.
pub(crate) fn object<'a>(line: &'a str, tape: &mut Vec<Node<'a>>) -> bool {
    tape.clear();
    read(line, tape).is_some()
}

fn read<'a>(line: &'a str, tape: &mut Vec<Node<'a>>) -> Option<()> {
    let b = line.as_bytes();
    let mut i = skip_ws(b, 0);
    if *b.get(i)? != b'{' {
        return None;
    }
    tape.push(Node::Object { len: 0, count: 0 });
    i = skip_ws(b, i + 1);
    let mut len = 0usize;
    if *b.get(i)? == b'}' {
        i += 1;
    } else {
        loop {
            // The key.
            if *b.get(i)? != b'"' {
                return None;
            }
            let end = string_end(b, i + 1)?;
            tape.push(Node::String(line.get(i + 1..end)?));
            i = skip_ws(b, end + 1);
            if *b.get(i)? != b':' {
                return None;
            }
            i = skip_ws(b, i + 1);
            // The value.
            // Each kind pushes its own node: a node returned beside the position went through
            // memory and stalled the load after the call.
            let next = match *b.get(i)? {
                b'"' => {
                    let end = string_end(b, i + 1)?;
                    tape.push(Node::String(line.get(i + 1..end)?));
                    end + 1
                }
                b'-' | b'0'..=b'9' => number(b, i, tape)?,
                b't' => literal(b, i, b"true", StaticNode::Bool(true), tape)?,
                b'f' => literal(b, i, b"false", StaticNode::Bool(false), tape)?,
                b'n' => literal(b, i, b"null", StaticNode::Null, tape)?,
                _ => return None,
            };
            len += 1;
            // What follows a value: a comma and the next key, or the end of the object. This
            // also rejects anything glued to a number or literal ("01", "1.5.3", "truex").
            i = skip_ws(b, next);
            match *b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return None;
    }
    let count = tape.len() - 1;
    *tape.first_mut()? = Node::Object { len, count };
    Some(())
}

/// The first position at or after `i` that is not JSON whitespace.
#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The closing quote of a string whose text starts at `i`; `None` when the string has an
/// escape or a control character (simd-json unescapes or rejects those) or does not end.
#[inline]
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(w) = b.get(i..i + 16).and_then(|w| <&[u8; 16]>::try_from(w).ok()) {
        let m = simd::string_stops16(w);
        if m != 0 {
            let j = i + m.trailing_zeros() as usize;
            return (*b.get(j)? == b'"').then_some(j);
        }
        i += 16;
    }
    while let Some(w) = b.get(i..i + 8) {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let m = simd::string_stops8(w);
        if m != 0 {
            let j = i + (m.trailing_zeros() / 8) as usize;
            return (*b.get(j)? == b'"').then_some(j);
        }
        i += 8;
    }
    loop {
        match *b.get(i)? {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// A literal (`true`, `false`, `null`) at `i`, pushed to `tape`; the position after it.
#[inline]
fn literal(
    b: &[u8],
    i: usize,
    word: &[u8],
    node: StaticNode,
    tape: &mut Vec<Node<'_>>,
) -> Option<usize> {
    let end = i + word.len();
    if b.get(i..end)? != word {
        return None;
    }
    tape.push(Node::Static(node));
    Some(end)
}

/// Powers of ten a decimal's digits are divided by, as in simd-json's exact fast path.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A number at `i`, pushed to `tape`, and the position after it, when simd-json would read it on its short paths:
/// at most 17 digits, no exponent, and for a decimal at most 2^53 - 1 as its digits.
#[inline]
fn number(b: &[u8], mut i: usize, tape: &mut Vec<Node<'_>>) -> Option<usize> {
    let negative = b.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let start = i;
    let mut num: u64 = 0;
    match *b.get(i)? {
        // A leading zero stands alone (what follows is checked by the caller).
        b'0' => i += 1,
        b'1'..=b'9' => i = values::push_digit_words(b, i, &mut num),
        _ => return None,
    }
    let mut frac = 0usize;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = i;
        i = values::push_digit_words(b, i, &mut num);
        frac = i - digits;
        if frac == 0 {
            return None;
        }
    }
    if let Some(b'e' | b'E') = b.get(i) {
        return None;
    }
    // Digits, without the point: simd-json reads 18 or more on a slower path.
    let digits = i - start - usize::from(frac > 0);
    if digits >= 18 {
        return None;
    }
    let node = if frac > 0 {
        if num > 9_007_199_254_740_991 || frac > 22 {
            return None;
        }
        let f = num as f64 / *POW10.get(frac)?;
        StaticNode::F64(if negative { -f } else { f })
    } else if negative {
        StaticNode::I64((num as i64).wrapping_neg())
    } else {
        StaticNode::U64(num)
    };
    tape.push(Node::Static(node));
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::object;
    use crate::test_rng::Rng;
    use simd_json::Node;

    /// simd-json's tape of `row`, or `None` when it rejects the row. Nodes are compared through
    /// their debug text, which tells `-0.0` from `0.0` and `U64(1)` from `I64(1)`.
    fn simd(row: &str) -> Option<Vec<String>> {
        let mut bytes = row.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).ok()?;
        Some(tape.0.iter().map(|n| format!("{n:?}")).collect())
    }

    fn flat(row: &str) -> Option<Vec<String>> {
        let mut tape = Vec::new();
        object(row, &mut tape).then(|| tape.iter().map(|n: &Node<'_>| format!("{n:?}")).collect())
    }

    fn token(rng: &mut Rng) -> String {
        const STRINGS: &[&str] = &[
            "",
            "a",
            "eventId",
            "c15c0289-ec2d-4a91-a7ec-8e65a18debbe",
            "2025-01-22T10:27:47Z",
            "x\\\"y",
            "tab\there",
            "nl\\n",
            "\\u00e9",
            "é ünï 中文 😀",
            "a\\\\",
            "\u{7f}",
            "0123456789abcdef0123",
        ];
        const NUMBERS: &[&str] = &[
            "0",
            "-0",
            "1",
            "-1",
            "42",
            "007",
            "-",
            "1.",
            ".5",
            "0.5",
            "-0.0",
            "1.25",
            "3.14159",
            "-67.840401",
            "1e5",
            "1E-3",
            "2.5e+3",
            "12345678901234567",
            "123456789012345678",
            "-12345678901234567",
            "9007199254740991.5",
            "9007199254740.993",
            "0.1234567890123456",
            "1.00000000000000000001",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5.3",
            "--1",
            "+1",
            "0x10",
            "1_000",
            "00.5",
            "1.e3",
            "123456789012345678901",
            "-99999999999999999999",
            "0.000000000000000000000001",
            "12345678",
            "-87654321",
            "123456789",
            "1234567.8",
            "0.12345678",
            "9999999999999999",
            "99999999.99999999",
            "10000000.000000001",
            "-0.00000001",
        ];
        const OTHER: &[&str] = &[
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "truex",
            "True",
            "NaN",
            "[]",
            "[1,2]",
            "{}",
            "{\"a\":1}",
            "'single'",
        ];
        match rng.below(20) {
            0..=8 => format!("\"{}\"", rng.pick(STRINGS)),
            9..=15 => rng.pick(NUMBERS).to_owned(),
            16..=18 => rng.pick(OTHER).to_owned(),
            // A random ASCII or multi-byte run, without the quotes a string would need.
            _ => (0..rng.below(4))
                .map(|_| rng.pick(&['x', '"', '\\', ',', ':', '}', '{', '1', '\u{1}', 'é']))
                .collect(),
        }
    }

    fn ws(rng: &mut Rng) -> &'static str {
        if rng.below(4) == 0 {
            // Now and then a space JSON does not allow.
            rng.pick(&[
                " ", "\t", "\r", "\n", "  \t", " ", "\t", "\u{a0}", " ", "\u{b}",
            ])
        } else {
            ""
        }
    }

    /// A row that is mostly a flat object, broken or odd in one or two places now and then.
    fn row(rng: &mut Rng) -> String {
        let mut s = String::new();
        s.push_str(ws(rng));
        s.push_str(rng.pick(&["{", "{", "{", "{", "{", "[", "\"{\"", ""]));
        let n = rng.below(6);
        for k in 0..n {
            s.push_str(ws(rng));
            if k > 0 {
                s.push_str(rng.pick(&[",", ",", ",", ",", ",", ",", ",", ";", ",,", ""]));
                s.push_str(ws(rng));
            }
            match rng.below(12) {
                0 => s.push_str(&token(rng)),
                _ => s.push_str(&format!(
                    "\"{}\"",
                    rng.pick(&["a", "b", "eventId", "k é", "a"])
                )),
            }
            s.push_str(ws(rng));
            s.push_str(rng.pick(&[":", ":", ":", ":", ":", ":", ":", "=", "::", ""]));
            s.push_str(ws(rng));
            s.push_str(&token(rng));
        }
        s.push_str(ws(rng));
        s.push_str(rng.pick(&["}", "}", "}", "}", "}", "}", "", "}}", "},", "} x", "]"]));
        s.push_str(ws(rng));
        s
    }

    #[test]
    fn agrees_with_simd_json_wherever_it_reads_a_row() {
        let mut rng = Rng(0x5eed_f1a7);
        let (mut read, mut both_reject, mut simd_reads) = (0, 0, 0);
        for _ in 0..200_000 {
            let r = row(&mut rng);
            simd_reads += usize::from(simd(&r).is_some());
            match flat(&r) {
                Some(tape) => {
                    read += 1;
                    assert_eq!(Some(tape), simd(&r), "row {r:?}");
                }
                None => both_reject += usize::from(simd(&r).is_none()),
            }
        }
        // Both kinds of rows were made in numbers: plain ones the reader took, and broken ones.
        assert!(read > 10_000, "read {read} of {simd_reads}");
        assert!(both_reject > 20_000, "rejected {both_reject}");
    }

    #[test]
    fn reads_the_common_row_and_leaves_the_rest_to_simd_json() {
        let row = r#"{"eventId":"c15c0289-ec2d-4a91-a7ec-8e65a18debbe","durationMs":82123,"lat":-67.840401,"n":-3,"ok":true,"x":null,"e":""}"#;
        assert_eq!(flat(row), simd(row));
        assert!(flat(row).is_some());
        assert_eq!(flat(" { } "), simd(" { } "));
        for other in [
            r#"{"a":"x\"y"}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":1e3}"#,
            r#"{"a":123456789012345678}"#,
            "{\"a\":\"tab\there\"}",
            r#"[{"a":1}]"#,
            r#"{"a":1}{"#,
            r#"{"a":01}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "{\"a\":1",
            "",
        ] {
            assert_eq!(flat(other), None, "{other:?}");
        }
    }
}
