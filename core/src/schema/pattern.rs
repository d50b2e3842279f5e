//! Matching of `pattern` checks: a byte template for simple anchored patterns, else the regex.
//!
//! Most schema patterns are anchored templates such as `^SCR-[0-9]{6}$` or `^[a-z0-9_-]{3,32}$`.
//! For those, [`Matcher::new`] derives from the pattern's parsed HIR (regex-syntax, the parser
//! the `regex` crate itself uses) a sequence of items, each an ASCII byte set with a count range,
//! and matches it with one greedy pass over the bytes (a 256-entry table gives each byte's sets in
//! one load): no automaton, no allocation. A pattern takes that path only when the pass provably
//! gives the regex's answer:
//!
//! - it begins with `^`/`\A` ([`Look::Start`]) and ends with `$`/`\z` ([`Look::End`]; without
//!   multi-line mode `$` means the end of the text, with no allowance for a trailing newline),
//!   and has no other look-around;
//! - it is a concatenation (capture groups are transparent) of literals, classes and repetitions
//!   of a single class or single-byte literal; no alternation;
//! - every class range and literal byte is ASCII, so `.`, negated classes and Unicode classes
//!   (`\d`, `\w` are Unicode by default) and case folds reaching non-ASCII letters (`(?i)k`
//!   matches the Kelvin sign) all keep the regex;
//! - an item with a variable count consumes greedily only when no shorter count can lead to a
//!   match: its set is disjoint from the set of every following item up to and including the
//!   first one that must consume at least one byte (or up to the end);
//! - it has at most 64 distinct sets (the width of the table's entries).
//!
//! Everything else keeps the compiled [`Regex`].

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A compiled `pattern`: the fast template when it is exact, else the regex.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// An anchored byte template, matched in one greedy pass.
    Template(Template),
    /// Any pattern the template cannot express exactly.
    Regex(Regex),
}

impl Matcher {
    /// Compiles `text` exactly as the regex crate does (same errors); keeps the template when
    /// one is exact for it.
    pub(crate) fn new(text: &str) -> Result<Matcher, regex::Error> {
        let regex = Regex::new(text)?;
        // The same parser and default settings as `Regex::new`; should it ever refuse what the
        // regex accepted, the regex is kept.
        let template = regex_syntax::parse(text)
            .ok()
            .and_then(|hir| Template::from_hir(&hir));
        Ok(match template {
            Some(t) => Matcher::Template(t),
            None => Matcher::Regex(regex),
        })
    }

    /// Whether `s` matches, exactly as `Regex::is_match` would answer.
    #[inline]
    pub(crate) fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::Template(t) => t.is_match(s.as_bytes()),
            Matcher::Regex(r) => regex_match(r, s),
        }
    }

    #[cfg(test)]
    fn is_template(&self) -> bool {
        matches!(self, Matcher::Template(_))
    }
}

/// Out of line: the regex search needs a stack frame the template's pass does not.
#[inline(never)]
fn regex_match(r: &Regex, s: &str) -> bool {
    r.is_match(s)
}

/// A pattern anchored at both ends: steps matched one after the other over the whole text.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// Per byte, bit `k` set when the byte is in the template's `k`-th distinct set (at most 64
    /// of them); non-ASCII bytes are in none. One load then tells a byte's membership of any set.
    classes: Box<[u64; 256]>,
    /// The leading fixed-count items, one set mask per byte (`^SCR-[0-9]{6}$` is all head).
    head: Box<[u64]>,
    /// How the head is checked: byte by byte through `classes`, or, when each of its sets is
    /// one range of ASCII bytes (a literal byte, `[0-9]`, `[A-Z]`), eight bytes at a time.
    head_check: HeadCheck,
    /// The items after the head.
    steps: Box<[Step]>,
    /// Fewest and most bytes a match can have (a quick length test).
    min_len: usize,
    max_len: usize,
}

/// Eight bytes of a template's head from `offset` on, each byte checked against its own range
/// `lo..=hi` of ASCII bytes without a carry between bytes: with `y` the byte's low seven bits,
/// `y + (0x80 - lo)` has its high bit set exactly when `y >= lo`, `y + (0x7f - hi)` exactly when
/// `y > hi`; a byte with its high bit set is not ASCII. Bytes outside `care` (past the end of
/// a head shorter than eight bytes) are not looked at.
#[derive(Debug, Clone, Copy)]
struct HeadWord {
    offset: usize,
    add_lo: u64,
    add_hi: u64,
    care: u64,
}

const HIGH: u64 = 0x8080_8080_8080_8080;

/// See [`Template::head_check`].
#[derive(Debug, Clone)]
enum HeadCheck {
    /// One `classes` lookup per byte.
    Table,
    /// A head of 1..=7 bytes: one word.
    Short(HeadWord),
    /// A head of eight bytes or more: its first and last eight bytes (overlapping when the
    /// length is not a multiple of eight), and the whole words between.
    Words {
        first: HeadWord,
        last: HeadWord,
        middle: Box<[HeadWord]>,
    },
}

impl HeadWord {
    /// The word for head bytes `offset..offset + 8` (fewer at the end of a short head) of the
    /// ranges `ranges`.
    fn new(ranges: &[(u8, u8)], offset: usize) -> HeadWord {
        let (mut add_lo, mut add_hi, mut care) = (0, 0, 0);
        for (i, &(lo, hi)) in ranges.iter().skip(offset).take(8).enumerate() {
            add_lo |= u64::from(0x80 - lo) << (8 * i);
            add_hi |= u64::from(0x7f - hi) << (8 * i);
            care |= 0x80 << (8 * i);
        }
        HeadWord {
            offset,
            add_lo,
            add_hi,
            care,
        }
    }

    /// The high bit of each byte of `x` (the text's bytes from `offset` on) outside its range.
    #[inline(always)]
    fn misses(&self, x: u64) -> u64 {
        let y = x & !HIGH;
        (!y.wrapping_add(self.add_lo) | y.wrapping_add(self.add_hi) | x) & self.care
    }

    /// [`HeadWord::misses`] for the eight bytes of `s` from `offset` on (all bits when `s` is
    /// shorter).
    #[inline(always)]
    fn misses_in(&self, s: &[u8]) -> u64 {
        match s.get(self.offset..).and_then(<[u8]>::first_chunk::<8>) {
            Some(w) => self.misses(u64::from_le_bytes(*w)),
            None => HIGH,
        }
    }
}

/// One item of a compiled template: bytes of the sets in `mask`, `min..=max` times.
#[derive(Debug, Clone, Copy)]
struct Step {
    mask: u64,
    min: usize,
    max: usize,
}

/// One item of a template being derived: a set of ASCII bytes repeated `min..=max` times.
#[derive(Debug, Clone, Copy)]
struct Item {
    /// Bit `b` is set when byte `b` is in the set. Only ASCII bytes can be, so 128 bits do.
    set: u128,
    min: usize,
    /// `usize::MAX`: unbounded.
    max: usize,
}

/// Most bytes of fixed-count items expanded into per-byte masks at the start of a template.
const MAX_HEAD: usize = 64;

/// A flattened piece of the HIR.
enum Part {
    Start,
    End,
    Item(Item),
}

impl Template {
    /// The template for `hir`, when matching it greedily is exact; `None` otherwise.
    fn from_hir(hir: &Hir) -> Option<Template> {
        let mut parts = Vec::new();
        flatten(hir, &mut parts)?;
        let starts = parts
            .iter()
            .take_while(|p| matches!(p, Part::Start))
            .count();
        let ends = parts
            .iter()
            .rev()
            .take_while(|p| matches!(p, Part::End))
            .count();
        if starts == 0 || ends == 0 {
            return None;
        }
        let items = parts[starts..parts.len() - ends]
            .iter()
            .map(|p| match p {
                Part::Item(it) => Some(*it),
                // An anchor between items: leave such patterns to the regex.
                Part::Start | Part::End => None,
            })
            .collect::<Option<Vec<Item>>>()?;
        for (i, it) in items.iter().enumerate() {
            if it.min == it.max {
                continue;
            }
            // Greedy is exact if a byte this item could have left for later can never be
            // taken by the items that may come next.
            for next in &items[i + 1..] {
                if next.set & it.set != 0 {
                    return None;
                }
                if next.min >= 1 {
                    break;
                }
            }
        }
        // Number the distinct sets and record each byte's memberships.
        let mut distinct: Vec<u128> = Vec::new();
        let mut steps = Vec::with_capacity(items.len());
        for it in &items {
            let k = match distinct.iter().position(|&d| d == it.set) {
                Some(k) => k,
                None => {
                    distinct.push(it.set);
                    distinct.len() - 1
                }
            };
            if k >= 64 {
                return None;
            }
            steps.push(Step {
                mask: 1 << k,
                min: it.min,
                max: it.max,
            });
        }
        let mut classes = Box::new([0u64; 256]);
        for (k, set) in distinct.iter().enumerate() {
            for b in 0..0x80 {
                if set & (1u128 << b) != 0 {
                    classes[b] |= 1 << k;
                }
            }
        }
        let min_len = steps.iter().fold(0usize, |n, st| n.saturating_add(st.min));
        let max_len = steps.iter().fold(0usize, |n, st| n.saturating_add(st.max));
        let mut head = Vec::new();
        let mut fixed = 0;
        for st in &steps {
            if st.min != st.max || head.len() + st.min > MAX_HEAD {
                break;
            }
            head.extend(std::iter::repeat_n(st.mask, st.min));
            fixed += 1;
        }
        // Each head byte's set as one range, when every one is.
        let ranges: Option<Vec<(u8, u8)>> = items[..fixed]
            .iter()
            .flat_map(|it| std::iter::repeat_n(it.set, it.min))
            .map(|set| {
                let lo = set.trailing_zeros();
                let hi = 127 - set.leading_zeros();
                // Contiguous: the bits lo..=hi and nothing else (an empty set keeps the table).
                (set != 0 && set >> lo == u128::MAX >> (127 - (hi - lo)))
                    .then_some((lo as u8, hi as u8))
            })
            .collect();
        let head_check = match ranges {
            Some(r) if r.len() >= 8 => {
                let h = r.len();
                HeadCheck::Words {
                    first: HeadWord::new(&r, 0),
                    last: HeadWord::new(&r, h - 8),
                    middle: (1..(h - 1) / 8).map(|w| HeadWord::new(&r, 8 * w)).collect(),
                }
            }
            Some(r) if !r.is_empty() => HeadCheck::Short(HeadWord::new(&r, 0)),
            _ => HeadCheck::Table,
        };
        Some(Template {
            classes,
            head: head.into_boxed_slice(),
            head_check,
            steps: steps[fixed..].into(),
            min_len,
            max_len,
        })
    }

    #[inline]
    fn is_match(&self, s: &[u8]) -> bool {
        if s.len() < self.min_len || s.len() > self.max_len {
            return false;
        }
        // `min_len` counts the head, so `s` is at least as long.
        let (start, rest) = s.split_at(self.head.len());
        let head_ok = match &self.head_check {
            HeadCheck::Words {
                first,
                last,
                middle,
            } if middle.is_empty() => match (start.first_chunk::<8>(), start.last_chunk::<8>()) {
                (Some(a), Some(z)) => {
                    first.misses(u64::from_le_bytes(*a)) | last.misses(u64::from_le_bytes(*z)) == 0
                }
                _ => false,
            },
            HeadCheck::Short(w) => w.misses(crate::schema::values::load8(start)) == 0,
            // Out of line (and a tail call), so that the common heads need no stack frame.
            _ => return self.long_or_table_head_matches(start, rest),
        };
        head_ok && self.rest_matches(rest)
    }

    /// [`Template::is_match`] for a head longer than sixteen bytes checked a word at a time,
    /// or any head byte by byte: `start` the text's head, `rest` what follows.
    #[inline(never)]
    fn long_or_table_head_matches(&self, start: &[u8], rest: &[u8]) -> bool {
        let head_ok = match &self.head_check {
            HeadCheck::Words {
                first,
                last,
                middle,
            } => {
                first.misses_in(start)
                    | last.misses_in(start)
                    | middle.iter().fold(0, |m, w| m | w.misses_in(start))
                    == 0
            }
            HeadCheck::Short(w) => w.misses(crate::schema::values::load8(start)) == 0,
            HeadCheck::Table => start
                .iter()
                .zip(self.head.iter())
                .all(|(&b, &mask)| self.classes[usize::from(b)] & mask != 0),
        };
        head_ok && self.rest_matches(rest)
    }

    /// Whether the steps match `rest` (the text after the head); no steps: the length test
    /// already made `rest` empty.
    #[inline(always)]
    fn rest_matches(&self, rest: &[u8]) -> bool {
        self.steps.is_empty() || self.steps_match(rest)
    }

    /// The items after the head over `rest`, greedily.
    #[inline(never)]
    fn steps_match(&self, mut rest: &[u8]) -> bool {
        let classes = &*self.classes;
        for st in self.steps.iter() {
            let limit = st.max.min(rest.len());
            let n = rest[..limit]
                .iter()
                .position(|&b| classes[usize::from(b)] & st.mask == 0)
                .unwrap_or(limit);
            if n < st.min {
                return false;
            }
            rest = &rest[n..];
        }
        rest.is_empty()
    }
}

/// Appends the pieces of `hir` in order; `None` when something is outside the template's reach.
fn flatten(hir: &Hir, out: &mut Vec<Part>) -> Option<()> {
    match hir.kind() {
        HirKind::Empty => {}
        HirKind::Literal(lit) => {
            for &b in lit.0.iter() {
                out.push(Part::Item(Item {
                    set: byte_set(b)?,
                    min: 1,
                    max: 1,
                }));
            }
        }
        HirKind::Class(class) => out.push(Part::Item(Item {
            set: class_set(class)?,
            min: 1,
            max: 1,
        })),
        HirKind::Look(Look::Start) => out.push(Part::Start),
        HirKind::Look(Look::End) => out.push(Part::End),
        HirKind::Look(_) => return None,
        HirKind::Repetition(rep) => out.push(Part::Item(Item {
            set: single_set(&rep.sub)?,
            min: usize::try_from(rep.min).ok()?,
            max: match rep.max {
                Some(m) => usize::try_from(m).ok()?,
                None => usize::MAX,
            },
        })),
        HirKind::Capture(cap) => flatten(&cap.sub, out)?,
        HirKind::Concat(subs) => {
            for sub in subs {
                flatten(sub, out)?;
            }
        }
        HirKind::Alternation(_) => return None,
    }
    Some(())
}

/// The set of a one-byte expression (a class or a one-byte literal).
fn single_set(hir: &Hir) -> Option<u128> {
    match hir.kind() {
        HirKind::Literal(lit) => match *lit.0 {
            [b] => byte_set(b),
            _ => None,
        },
        HirKind::Class(class) => class_set(class),
        HirKind::Capture(cap) => single_set(&cap.sub),
        _ => None,
    }
}

fn byte_set(b: u8) -> Option<u128> {
    (b < 0x80).then(|| 1u128 << b)
}

/// The set of a class whose every range is ASCII.
fn class_set(class: &Class) -> Option<u128> {
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
    };
    let mut set = 0u128;
    for (lo, hi) in ranges {
        if hi >= 0x80 {
            return None;
        }
        for b in lo..=hi {
            set |= 1u128 << b;
        }
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Patterns the template must take, as written in a schema (`^(?:…)$` is how a Table Schema
    /// pattern is compiled).
    const FAST: &[&str] = &[
        "^SCR-[0-9]{6}$",
        "^[A-Z]{2}$",
        "^[a-z0-9_-]{3,32}$",
        "^[A-Za-z0-9_.-]+$",
        r"\A[a-z]+\z",
        "^$",
        "^[A-Z][a-z]*[0-9]+$",
        "^a*b?c$",
        "^[0-9]{5}-?[0-9]{4}$",
        "^[a-z]+?$",
        "^(ab)c(?:d)$",
        "^[[:alpha:]]{2}[[:digit:]]{0,3}$",
        r"^(?-u:\d){5}$",
        r"^\x41{2,}$",
        "^(?i)[a-j]{2}x$",
        "^(?:[A-Z]{3})$",
        "^(?:^[A-Z]{3}$)$",
        "^(?:ab*)$",
        "^[a-c]{0,2}[d-f]{0,2}[g-i]{0,2}$",
        "^[a-c]{0,2}[d-f]{0,2}[g-i]$",
        "^[a-z]+ +[a-z]+$",
        "^x{0}y$",
        // Heads checked a word at a time: eight bytes, sixteen, more (with words between the
        // first and the last), with steps after them, and one with a set that is not a range.
        "^[0-9]{8}$",
        "^[a-c]{16}[0-9]*$",
        "^[A-F]{3}-[0-9]{10}-[a-z]{6}$",
        "^[ -~]{3}[0-9]{20}x+$",
        "^SCR-[0-9]{6}[a-cx-z]$",
    ];

    /// Patterns that must keep the regex.
    const SLOW: &[&str] = &[
        "SCR-[0-9]{6}",
        "^SCR",
        "[0-9]$",
        r"^\d{5}(-\d{4})?$",
        r"^[0-9]{5}(-[0-9]{4})?$",
        r"^\d{5}$",
        r"^\w+$",
        "^.{3}$",
        "^[^a]{3}$",
        "^é$",
        "^(?i)k$",
        "^(?i)s$",
        "^[a-z]*[a-z0-9]$",
        "^[a-z]+-?[a-z]+$",
        "^[a-c]{0,2}[d-f]{0,2}[b-c]$",
        "^[a-c]{0,2}[d-f]{0,2}[a-c]$",
        "^a|b$",
        "^(?:ab)+$",
        "(?m)^a$",
        r"^\bfoo$",
        "^a$b",
        "^a*^b$",
        "^https?://.+",
    ];

    fn compile(p: &str) -> (Matcher, Regex) {
        (
            Matcher::new(p).unwrap_or_else(|e| panic!("{p}: {e}")),
            Regex::new(p).expect("regex"),
        )
    }

    #[test]
    fn the_expected_patterns_take_the_template() {
        for p in FAST {
            assert!(compile(p).0.is_template(), "{p} should take the template");
        }
        for p in SLOW {
            assert!(!compile(p).0.is_template(), "{p} should keep the regex");
        }
    }

    #[test]
    fn a_template_has_at_most_64_distinct_sets() {
        let literal = |n: u8| -> String {
            let text: String = (0..n).map(|i| char::from(b'0' + i)).collect();
            format!("^{}$", regex::escape(&text))
        };
        let (m, regex) = compile(&literal(64));
        assert!(m.is_template());
        let all: String = (0..64u8).map(|i| char::from(b'0' + i)).collect();
        assert!(m.is_match(&all) && regex.is_match(&all));
        assert!(!m.is_match(&all[1..]));
        let (m, _) = compile(&literal(65));
        assert!(!m.is_template());
    }

    #[test]
    fn invalid_patterns_are_the_regex_errors() {
        for p in ["[a-", "a{2,1}", r"\p{Nope}"] {
            let ours = Matcher::new(p).expect_err(p).to_string();
            assert_eq!(ours, Regex::new(p).expect_err(p).to_string());
        }
    }

    #[test]
    fn known_answers() {
        let (m, _) = compile("^SCR-[0-9]{6}$");
        assert!(m.is_match("SCR-000123"));
        for s in [
            "",
            "SCR-00012",
            "SCR-0001234",
            "SCR-000123\n",
            "scr-000123",
            "SCR-00012٣",
            " SCR-000123",
        ] {
            assert!(!m.is_match(s), "{s:?}");
        }
        let (m, _) = compile("^[a-z0-9_-]{3,32}$");
        assert!(m.is_match("abc") && m.is_match(&"a".repeat(32)));
        assert!(!m.is_match("ab") && !m.is_match(&"a".repeat(33)) && !m.is_match("abé"));
        let (m, _) = compile("^[A-Z][a-z]*[0-9]+$");
        assert!(m.is_match("A1") && m.is_match("Abc123"));
        assert!(!m.is_match("A") && !m.is_match("Abc") && !m.is_match("A1b"));
    }

    use crate::test_rng::Rng;

    /// Characters random strings are made of: the pattern's own, plus ASCII and non-ASCII
    /// letters and digits, whitespace and the characters case folding reaches.
    fn alphabet(pattern: &str) -> Vec<char> {
        let mut chars: Vec<char> = pattern.chars().collect();
        chars.extend("aAzZkKsS09-_. \n\t/:xé߀٣\u{212A}\u{17F}".chars());
        chars.extend(('!'..='~').step_by(7));
        chars
    }

    /// A string the template would accept (when there is one), so that random strings near it
    /// test both answers.
    fn sample(t: &Template, rng: &mut Rng) -> String {
        let members = |mask: u64| -> Vec<u8> {
            (0u8..=255)
                .filter(|&b| t.classes[usize::from(b)] & mask != 0)
                .collect()
        };
        let head = t.head.iter().map(|&mask| (mask, 1, 1));
        let steps = t.steps.iter().map(|st| (st.mask, st.min, st.max));
        let mut s = String::new();
        for (mask, min, max) in head.chain(steps) {
            let members = members(mask);
            if members.is_empty() {
                continue;
            }
            let extra = max.saturating_sub(min).min(4);
            for _ in 0..min + rng.index(extra + 1) {
                s.push(char::from(rng.pick(&members)));
            }
        }
        s
    }

    fn mutate(s: &str, chars: &[char], rng: &mut Rng) -> String {
        let mut v: Vec<char> = s.chars().collect();
        for _ in 0..rng.index(3) + 1 {
            let at = rng.index(v.len() + 1);
            match rng.index(3) {
                0 => v.insert(at, rng.pick(chars)),
                1 if at < v.len() => {
                    v.remove(at);
                }
                _ if at < v.len() => v[at] = rng.pick(chars),
                _ => v.push(rng.pick(chars)),
            }
        }
        v.into_iter().collect()
    }

    #[test]
    fn agrees_with_the_regex_on_random_strings() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for p in FAST.iter().chain(SLOW) {
            let (m, regex) = compile(p);
            let chars = alphabet(p);
            let (mut yes, mut no) = (0, 0);
            for i in 0..3000 {
                let s: String = match (&m, i % 3) {
                    (Matcher::Template(t), 0) => sample(t, &mut rng),
                    (Matcher::Template(t), 1) => mutate(&sample(t, &mut rng), &chars, &mut rng),
                    _ => (0..rng.index(12))
                        .map(|_| rng.pick(&chars))
                        .collect::<String>(),
                };
                let expected = regex.is_match(&s);
                assert_eq!(m.is_match(&s), expected, "pattern {p} on {s:?}");
                if expected {
                    yes += 1;
                } else {
                    no += 1;
                }
            }
            if m.is_template() {
                // Both answers must have been exercised for the comparison to mean something.
                assert!(
                    yes > 100 && no > 100,
                    "{p}: {yes} matches, {no} non-matches"
                );
            }
        }
    }
}
