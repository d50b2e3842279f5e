//! The row validators: a JSON row on a simd-json tape, a CSV record on csv-core's buffer.
//!
//! The valid path does not allocate: values are borrowed from the input, the set of seen fields
//! is a bitmask on the stack (a heap bitmask only for schemas of more than 256 fields), and
//! messages are only built for errors.

use simd_json::{Node, StaticNode};

use super::values::{self, CsvInt};
use super::{CellOp, Checks, EnumValue, Field, FieldType, Plan, Quick, Schema, StrFormat};
use crate::error::{Error, Result};
use crate::types::{Cell, RowError, RowErrorCode};

/// How many characters of a value (or key) a message quotes.
const QUOTE_CHARS: usize = 80;

/// The first `QUOTE_CHARS` characters of `s`, with `…` when cut.
fn truncated(s: &str) -> (&str, bool) {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => (s.get(..i).unwrap_or(s), true),
        None => (s, false),
    }
}

/// `s` as a quoted, escaped string, truncated for messages.
fn quote(s: &str) -> String {
    use std::fmt::Write;
    let (head, cut) = truncated(s);
    // Sized up front: `format!` would grow the string a few times (a realloc each).
    let mut q = String::with_capacity(head.len() + 8);
    let _ = write!(q, "{head:?}");
    if cut {
        q.insert(q.len().saturating_sub(1), '…');
    }
    q
}

/// A key from the input as a field name in messages.
fn key_name(s: &str) -> String {
    let (head, cut) = truncated(s);
    if cut {
        format!("{head}…")
    } else {
        head.to_owned()
    }
}

fn show_cell(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => "null".to_owned(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Num(f) => f.to_string(),
        Cell::Str(s) => quote(s),
    }
}

fn describe_node(node: &Node<'_>) -> String {
    match node {
        Node::String(s) => format!("the string {}", quote(s)),
        Node::Object { .. } => "an object".to_owned(),
        Node::Array { .. } => "an array".to_owned(),
        Node::Static(StaticNode::Null) => "null".to_owned(),
        Node::Static(StaticNode::Bool(b)) => b.to_string(),
        Node::Static(StaticNode::I64(i)) => format!("the number {i}"),
        Node::Static(StaticNode::U64(u)) => format!("the number {u}"),
        Node::Static(StaticNode::F64(f)) => format!("the number {f}"),
        #[allow(unreachable_patterns)]
        Node::Static(_) => "a number".to_owned(),
    }
}

fn expected(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::Date | FieldType::DateTime | FieldType::Time => "a string",
        FieldType::Integer => "an integer",
        FieldType::Number => "a number",
        FieldType::Boolean => "a boolean",
        FieldType::Year => "a year (an integer)",
        FieldType::Any => "a scalar (string, number, boolean or null)",
    }
}

fn format_hint(f: StrFormat) -> &'static str {
    match f {
        StrFormat::DateTime => {
            "is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss with a zone, e.g. 2025-01-27T10:00:00Z)"
        }
        StrFormat::Date => "is not a date (YYYY-MM-DD, e.g. 2025-01-27)",
        StrFormat::Time => "is not a time (hh:mm:ss with an optional zone, e.g. 10:00:00)",
        StrFormat::Uuid => "is not a UUID (8-4-4-4-12 hex digits, e.g. 123e4567-e89b-12d3-a456-426614174000)",
        StrFormat::Email => "is not an email address (name@domain)",
        StrFormat::Uri => "is not an absolute URI (scheme:rest, e.g. https://example.com/a)",
    }
}

fn format_ok(f: StrFormat, s: &str) -> bool {
    match f {
        StrFormat::DateTime => values::is_date_time(s),
        StrFormat::Date => values::is_date(s),
        StrFormat::Time => values::is_time(s),
        StrFormat::Uuid => values::is_uuid(s),
        StrFormat::Email => values::is_email(s),
        StrFormat::Uri => values::is_uri(s),
    }
}

/// Where a row's errors go, with the row's position.
struct Sink<'e> {
    row: u64,
    line: Option<u64>,
    errors: &'e mut Vec<RowError>,
    failed: bool,
}

impl Sink<'_> {
    fn push(&mut self, field: Option<&str>, code: RowErrorCode, message: String) {
        self.failed = true;
        self.errors.push(RowError {
            row: self.row,
            line: self.line,
            field: field.map(str::to_owned),
            code,
            message,
        });
    }

    fn field(&mut self, field: &Field, code: RowErrorCode, what: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        // Sized for the usual message: `format!` would grow it a few times (a realloc each,
        // most of the cost of an invalid row's error).
        let mut message = String::with_capacity(field.name.len() + 120);
        let _ = write!(message, "{}: {what}", field.name);
        self.push(Some(&field.name), code, message);
    }
}

/// Fields seen in a JSON row.
enum Seen {
    Small([u64; 4]),
    Large(Vec<u64>),
}

impl Seen {
    fn new(fields: usize) -> Seen {
        if fields <= 256 {
            Seen::Small([0; 4])
        } else {
            Seen::Large(vec![0; fields.div_ceil(64)])
        }
    }

    fn words(&mut self) -> &mut [u64] {
        match self {
            Seen::Small(w) => w,
            Seen::Large(w) => w,
        }
    }

    /// Marks `slot`; false when it was marked already.
    fn insert(&mut self, slot: usize) -> bool {
        match self.words().get_mut(slot / 64) {
            Some(w) => {
                let bit = 1u64 << (slot % 64);
                let new = *w & bit == 0;
                *w |= bit;
                new
            }
            None => false,
        }
    }

    fn contains(&mut self, slot: usize) -> bool {
        self.words()
            .get(slot / 64)
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }
}

/// Value checks shared by both formats, on a typed, non-missing cell. The common case, a cell
/// that passes, is a short inlined test; only a failing cell goes to [`report_cell`], which
/// runs the checks again to say what failed (a call per cell with the message-building body
/// cost ~4% of a validation in function entry and exit alone).
#[inline(always)]
fn check_cell(field: &Field, checks: &Checks, cell: &Cell<'_>, sink: &mut Sink<'_>) {
    if !cell_passes(checks, cell) {
        report_cell(field, checks, cell, sink);
    }
}

/// Whether `cell` passes every check: exactly when [`report_cell`] would report nothing. The
/// slot's [`Quick`] case decides the common shapes in one test.
#[inline(always)]
fn cell_passes(checks: &Checks, cell: &Cell<'_>) -> bool {
    match (&checks.quick, cell) {
        (Quick::Nothing, _) => true,
        (Quick::Format(f), Cell::Str(s)) => format_ok(*f, s),
        (Quick::Range { lo, hi, .. }, Cell::Num(f)) => !(f < lo || f > hi),
        (
            Quick::Range {
                ilo,
                ihi,
                ints: true,
                ..
            },
            Cell::Int(i),
        ) => ilo <= i && i <= ihi,
        (Quick::Enum, Cell::Str(s)) => enum_passes(checks, s),
        (Quick::Length { min, max }, Cell::Str(s)) => {
            bytes_within(s, *min, *max) || length_passes(checks, s)
        }
        (Quick::Pattern, Cell::Str(s)) => pattern_passes(checks, s),
        _ => all_checks_pass(checks, cell),
    }
}

/// Types and checks the common JSON values in one test, by the slot's [`CellOp`], writing
/// the cell. False when it did not decide (another type, null, a failing value): then
/// [`Plan::json_value`] types and checks the value in full, and says why.
#[inline(always)]
fn json_quick<'a>(checks: &Checks, node: &Node<'a>, out: &mut Cell<'a>) -> bool {
    match (&checks.op, node) {
        (CellOp::Text, Node::String(s)) => {
            *out = Cell::Str(s);
            true
        }
        (CellOp::Uuid, Node::String(s)) => {
            *out = Cell::Str(s);
            values::is_uuid(s)
        }
        (CellOp::DateTime, Node::String(s)) => {
            *out = Cell::Str(s);
            values::is_date_time(s)
        }
        (CellOp::Format(f), Node::String(s)) => {
            *out = Cell::Str(s);
            format_ok(*f, s)
        }
        (CellOp::Length { min, max }, Node::String(s)) => {
            *out = Cell::Str(s);
            bytes_within(s, *min, *max)
        }
        (CellOp::Pattern, Node::String(s)) => {
            *out = Cell::Str(s);
            pattern_passes(checks, s)
        }
        (CellOp::Enum, Node::String(s)) => {
            *out = Cell::Str(s);
            enum_passes(checks, s)
        }
        (CellOp::Integer { lo, hi }, Node::Static(StaticNode::I64(i))) if lo <= i && i <= hi => {
            *out = Cell::Int(*i);
            true
        }
        // simd-json reads a non-negative integer as `U64`.
        (CellOp::Integer { lo, hi }, Node::Static(StaticNode::U64(u)))
            if i64::try_from(*u).is_ok_and(|i| *lo <= i && i <= *hi) =>
        {
            *out = Cell::Int(*u as i64);
            true
        }
        (CellOp::Number { lo, hi }, Node::Static(n)) => {
            let f = match *n {
                StaticNode::F64(f) => f,
                StaticNode::I64(i) => i as f64,
                StaticNode::U64(u) => u as f64,
                _ => return false,
            };
            *out = Cell::Num(f);
            !(f < *lo || f > *hi)
        }
        _ => false,
    }
}

/// The pattern of `checks` (when it has one) matches `s`.
#[inline(always)]
fn pattern_passes(checks: &Checks, s: &str) -> bool {
    checks
        .pattern
        .as_ref()
        .is_none_or(|p| p.matcher.is_match(s))
}

/// `s` is one of the allowed values of `checks` (when it has them).
#[inline(always)]
fn enum_passes(checks: &Checks, s: &str) -> bool {
    checks.allowed.as_ref().is_none_or(|a| a.has_str(s))
}

/// Every check in turn, whatever the slot's [`Quick`] case.
#[inline]
fn all_checks_pass(checks: &Checks, cell: &Cell<'_>) -> bool {
    let typed = match *cell {
        Cell::Str(s) => {
            checks.format.is_none_or(|f| format_ok(f, s))
                && checks
                    .pattern
                    .as_ref()
                    .is_none_or(|p| p.matcher.is_match(s))
                && length_passes(checks, s)
        }
        Cell::Int(_) | Cell::Num(_) => bounds_pass(checks, cell),
        Cell::Null | Cell::Bool(_) => true,
    };
    typed
        && checks.allowed.as_ref().is_none_or(|a| match *cell {
            Cell::Str(s) => a.has_str(s),
            _ => a.values.iter().any(|v| enum_eq(v, cell)),
        })
}

/// Whether `s` is within `min..=max` characters by its length in bytes alone: a character
/// takes 1 to 4 bytes, so within the limits in bytes, a non-empty text of ASCII (or any
/// non-empty text when the minimum is at most one) is within them in characters. False
/// says nothing: count the characters.
#[inline(always)]
fn bytes_within(s: &str, min: u64, max: u64) -> bool {
    let bytes = s.len() as u64;
    bytes >= min && bytes <= max && (min <= 1 || s.is_ascii())
}

/// [`check_length`] finds nothing.
#[inline]
fn length_passes(checks: &Checks, s: &str) -> bool {
    let bytes = s.len() as u64;
    let min_ok = checks
        .min_length
        .is_none_or(|min| !(bytes < min || (bytes / 4 < min && (s.chars().count() as u64) < min)));
    let max_ok = checks
        .max_length
        .is_none_or(|max| bytes <= max || (s.chars().count() as u64) <= max);
    min_ok && max_ok
}

/// [`check_bounds`] finds nothing.
#[inline]
fn bounds_pass(checks: &Checks, cell: &Cell<'_>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    checks
        .minimum
        .as_ref()
        .is_none_or(|b| cmp_bound(cell, b) != Some(Less))
        && checks
            .exclusive_minimum
            .as_ref()
            .is_none_or(|b| !matches!(cmp_bound(cell, b), Some(Less | Equal)))
        && checks
            .maximum
            .as_ref()
            .is_none_or(|b| cmp_bound(cell, b) != Some(Greater))
        && checks
            .exclusive_maximum
            .as_ref()
            .is_none_or(|b| !matches!(cmp_bound(cell, b), Some(Greater | Equal)))
}

/// Reports every check `cell` fails.
#[cold]
#[inline(never)]
fn report_cell(field: &Field, checks: &Checks, cell: &Cell<'_>, sink: &mut Sink<'_>) {
    match *cell {
        Cell::Str(s) => {
            if let Some(f) = checks.format {
                if !format_ok(f, s) {
                    sink.field(
                        field,
                        RowErrorCode::Format,
                        format_args!("{} {}", quote(s), format_hint(f)),
                    );
                }
            }
            if let Some(p) = &checks.pattern {
                if !p.matcher.is_match(s) {
                    sink.field(
                        field,
                        RowErrorCode::Pattern,
                        format_args!("{} does not match the pattern {}", quote(s), p.source),
                    );
                }
            }
            if checks.min_length.is_some() || checks.max_length.is_some() {
                check_length(field, checks, s, sink);
            }
        }
        Cell::Int(_) | Cell::Num(_) => check_bounds(field, checks, cell, sink),
        Cell::Null | Cell::Bool(_) => {}
    }
    if let Some(allowed) = &checks.allowed {
        if !allowed.values.iter().any(|v| enum_eq(v, cell)) {
            if allowed.is_const {
                sink.field(
                    field,
                    RowErrorCode::Enum,
                    format_args!(
                        "{} is not the only allowed value {}",
                        show_cell(cell),
                        allowed.text
                    ),
                );
            } else {
                sink.field(
                    field,
                    RowErrorCode::Enum,
                    format_args!("{} is not one of {}", show_cell(cell), allowed.text),
                );
            }
        }
    }
}

fn check_length(field: &Field, checks: &Checks, s: &str, sink: &mut Sink<'_>) {
    // A character takes 1 to 4 bytes, so the byte length bounds the character count from both
    // sides: count characters only when those bounds do not decide.
    let bytes = s.len() as u64;
    if let Some(min) = checks.min_length {
        if bytes < min || (bytes / 4 < min && (s.chars().count() as u64) < min) {
            let n = s.chars().count();
            sink.field(
                field,
                RowErrorCode::MinLength,
                format_args!(
                    "{} is {n} {} long; the minimum length is {min}",
                    quote(s),
                    chars_word(n as u64)
                ),
            );
        }
    }
    if let Some(max) = checks.max_length {
        if bytes > max {
            let n = s.chars().count() as u64;
            if n > max {
                sink.field(
                    field,
                    RowErrorCode::MaxLength,
                    format_args!(
                        "{} is {n} {} long; the maximum length is {max}",
                        quote(s),
                        chars_word(n)
                    ),
                );
            }
        }
    }
}

fn chars_word(n: u64) -> &'static str {
    if n == 1 {
        "character"
    } else {
        "characters"
    }
}

/// `v` compared with a bound: Less, Equal or Greater.
#[inline]
fn cmp_bound(cell: &Cell<'_>, b: &super::Bound) -> Option<std::cmp::Ordering> {
    match *cell {
        Cell::Int(i) => match b.int {
            Some(bi) => Some(i.cmp(&bi)),
            None => (i as f64).partial_cmp(&b.value),
        },
        Cell::Num(f) => f.partial_cmp(&b.value),
        _ => None,
    }
}

fn check_bounds(field: &Field, checks: &Checks, cell: &Cell<'_>, sink: &mut Sink<'_>) {
    use std::cmp::Ordering::{Equal, Greater, Less};
    if let Some(b) = &checks.minimum {
        if cmp_bound(cell, b) == Some(Less) {
            sink.field(
                field,
                RowErrorCode::Minimum,
                format_args!("{} is less than the minimum {}", show_cell(cell), b.text),
            );
        }
    }
    if let Some(b) = &checks.exclusive_minimum {
        if matches!(cmp_bound(cell, b), Some(Less | Equal)) {
            sink.field(
                field,
                RowErrorCode::Minimum,
                format_args!(
                    "{} is not greater than the exclusive minimum {}",
                    show_cell(cell),
                    b.text
                ),
            );
        }
    }
    if let Some(b) = &checks.maximum {
        if cmp_bound(cell, b) == Some(Greater) {
            sink.field(
                field,
                RowErrorCode::Maximum,
                format_args!("{} is greater than the maximum {}", show_cell(cell), b.text),
            );
        }
    }
    if let Some(b) = &checks.exclusive_maximum {
        if matches!(cmp_bound(cell, b), Some(Greater | Equal)) {
            sink.field(
                field,
                RowErrorCode::Maximum,
                format_args!(
                    "{} is not less than the exclusive maximum {}",
                    show_cell(cell),
                    b.text
                ),
            );
        }
    }
}

#[inline]
fn enum_eq(v: &EnumValue, cell: &Cell<'_>) -> bool {
    match (v, cell) {
        (EnumValue::Null, Cell::Null) => true,
        (EnumValue::Bool(a), Cell::Bool(b)) => a == b,
        (EnumValue::Str(a), Cell::Str(b)) => short_eq(a, b),
        (EnumValue::Int(a), Cell::Int(b)) => a == b,
        (EnumValue::Num(a), Cell::Num(b)) => a == b,
        (EnumValue::Int(a), Cell::Num(b)) | (EnumValue::Num(b), Cell::Int(a)) => {
            (*a as f64) == *b && b.fract() == 0.0
        }
        _ => false,
    }
}

/// [`short_eq`] of two byte strings, both absent counting as equal.
#[inline]
fn short_eq_bytes(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => short_eq_raw(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// String equality for the short strings of field names and enum values: inline, eight bytes
/// at a time, where `==` calls `memcmp` (a few percent of validation in profiles).
#[inline]
fn short_eq(a: &str, b: &str) -> bool {
    short_eq_raw(a.as_bytes(), b.as_bytes())
}

#[inline]
fn short_eq_raw(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        if x != y {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// An integer from a JSON number: `Int` when it fits, `Num` for a whole number beyond `i64`.
fn json_integer(s: &StaticNode) -> Option<Cell<'static>> {
    match *s {
        StaticNode::I64(i) => Some(Cell::Int(i)),
        StaticNode::U64(u) => Some(i64::try_from(u).map_or(Cell::Num(u as f64), Cell::Int)),
        StaticNode::F64(f) if f.is_finite() && f.fract() == 0.0 => {
            Some(values::f64_as_i64(f).map_or(Cell::Num(f), Cell::Int))
        }
        _ => None,
    }
}

fn json_number(s: &StaticNode) -> Option<f64> {
    match *s {
        StaticNode::I64(i) => Some(i as f64),
        StaticNode::U64(u) => Some(u as f64),
        StaticNode::F64(f) => Some(f),
        _ => None,
    }
}

impl Plan {
    /// The slot of a key, trying `hint` (the key's position in the row) first: rows usually list
    /// their keys in schema order.
    #[inline]
    fn lookup(&self, key: &str, hint: usize) -> Option<usize> {
        let (head, len) = (values::load8(key.as_bytes()), key.len());
        // The name's first eight bytes and length decide most comparisons; a longer name's
        // rest is compared only when they agree.
        let is = |slot: usize| {
            self.name_heads.get(slot).is_some_and(|&(h, n)| {
                h == head
                    && n == len
                    && (n <= 8
                        || self.fields.get(slot).is_some_and(|f| {
                            short_eq_bytes(f.name.as_bytes().get(8..), key.as_bytes().get(8..))
                        }))
            })
        };
        if is(hint) {
            return Some(hint);
        }
        // A field left out of a row makes the next key the one after the hint.
        if is(hint + 1) {
            return Some(hint + 1);
        }
        (0..self.name_heads.len()).find(|&slot| is(slot))
    }

    fn is_missing(&self, s: &str) -> bool {
        match &self.missing_values {
            None => s.is_empty(),
            Some(list) => list.iter().any(|m| m == s),
        }
    }

    /// Types and checks one JSON value, writing its cell when it has the field's type. The
    /// common pairs of type and value are typed here, inlined into the row's loop; every other
    /// (null, wide integers, wrong types) goes to [`Plan::json_value_any`], which types them all.
    #[inline(always)]
    fn json_value<'a>(
        &self,
        field: &Field,
        checks: &Checks,
        node: &Node<'a>,
        sink: &mut Sink<'_>,
        out: &mut Cell<'a>,
    ) {
        *out = match (field.ty, node) {
            (
                FieldType::String
                | FieldType::Date
                | FieldType::DateTime
                | FieldType::Time
                | FieldType::Any,
                Node::String(s),
            ) => Cell::Str(s),
            (FieldType::Integer | FieldType::Year, Node::Static(StaticNode::I64(i))) => {
                Cell::Int(*i)
            }
            // simd-json reads a non-negative integer as `U64`.
            (FieldType::Integer | FieldType::Year, Node::Static(StaticNode::U64(u)))
                if *u <= i64::MAX as u64 =>
            {
                Cell::Int(*u as i64)
            }
            (FieldType::Number, Node::Static(StaticNode::F64(f))) => Cell::Num(*f),
            (FieldType::Number, Node::Static(StaticNode::I64(i))) => Cell::Num(*i as f64),
            (FieldType::Number, Node::Static(StaticNode::U64(u))) => Cell::Num(*u as f64),
            _ => return self.json_value_any(field, checks, node, sink, out),
        };
        check_cell(field, checks, out, sink);
    }

    /// [`Plan::json_value`] for any pair of type and value.
    #[inline(never)]
    fn json_value_any<'a>(
        &self,
        field: &Field,
        checks: &Checks,
        node: &Node<'a>,
        sink: &mut Sink<'_>,
        out: &mut Cell<'a>,
    ) {
        let cell = match (field.ty, node) {
            (_, Node::Static(StaticNode::Null)) => {
                if !field.nullable {
                    if field.required {
                        sink.field(
                            field,
                            RowErrorCode::Required,
                            format_args!("required field is null"),
                        );
                    } else {
                        sink.field(
                            field,
                            RowErrorCode::Required,
                            format_args!(
                                "null is not allowed; leave the field out or give {}",
                                expected(field.ty)
                            ),
                        );
                    }
                    return;
                }
                Cell::Null
            }
            (
                FieldType::String
                | FieldType::Date
                | FieldType::DateTime
                | FieldType::Time
                | FieldType::Any,
                Node::String(s),
            ) => Cell::Str(s),
            (FieldType::Boolean | FieldType::Any, Node::Static(StaticNode::Bool(b))) => {
                Cell::Bool(*b)
            }
            (FieldType::Integer | FieldType::Year, Node::Static(s))
                if json_integer(s).is_some() =>
            {
                match json_integer(s) {
                    Some(c) => c,
                    None => return,
                }
            }
            (FieldType::Number, Node::Static(s)) if json_number(s).is_some() => {
                match json_number(s) {
                    Some(f) => Cell::Num(f),
                    None => return,
                }
            }
            (FieldType::Any, Node::Static(s @ (StaticNode::I64(_) | StaticNode::U64(_)))) => {
                match json_integer(s) {
                    Some(c) => c,
                    None => return,
                }
            }
            (FieldType::Any, Node::Static(StaticNode::F64(f))) => Cell::Num(*f),
            _ => {
                sink.field(
                    field,
                    RowErrorCode::Type,
                    format_args!(
                        "expected {}, got {}",
                        expected(field.ty),
                        describe_node(node)
                    ),
                );
                return;
            }
        };
        // Written in place, not returned: an `Option<Cell>` copied out cost a store-forwarding
        // stall per value.
        *out = cell;
        check_cell(field, checks, out, sink);
    }

    /// Types and checks the cell of `slot` in every case: a missing one (required or not),
    /// any type, any check.
    #[inline(never)]
    fn csv_cell<'a>(&self, slot: usize, text: &'a str, sink: &mut Sink<'_>, out: &mut Cell<'a>) {
        let (Some(field), Some(checks)) = (self.fields.get(slot), self.checks.get(slot)) else {
            return;
        };
        *out = Cell::Null;
        if self.is_missing(text) {
            if field.required {
                sink.field(
                    field,
                    RowErrorCode::Required,
                    format_args!("required field is missing (empty cell)"),
                );
            }
            return;
        }
        self.csv_value(field, checks, text, sink, out);
    }

    /// Coerces and checks one non-missing CSV cell.
    fn csv_value<'a>(
        &self,
        field: &Field,
        checks: &Checks,
        s: &'a str,
        sink: &mut Sink<'_>,
        out: &mut Cell<'a>,
    ) {
        // Each arm writes the cell in place: building an `Option<Cell>` and copying it out
        // cost a store-forwarding stall per cell.
        match field.ty {
            FieldType::String
            | FieldType::Date
            | FieldType::DateTime
            | FieldType::Time
            | FieldType::Any => *out = Cell::Str(s),
            FieldType::Integer => match values::parse_csv_int(s) {
                Some(CsvInt::Int(i)) => *out = Cell::Int(i),
                Some(CsvInt::Big(f)) => *out = Cell::Num(f),
                None => {
                    sink.field(
                        field,
                        RowErrorCode::Type,
                        format_args!(
                            "{} is not an integer (an optional sign and decimal digits only)",
                            quote(s)
                        ),
                    );
                    return;
                }
            },
            FieldType::Number => match values::parse_csv_number(s) {
                Some(f) => *out = Cell::Num(f),
                None => {
                    sink.field(
                        field,
                        RowErrorCode::Type,
                        format_args!("{} is not a number (a decimal such as 12, -0.5 or 1e3, without spaces)", quote(s)),
                    );
                    return;
                }
            },
            FieldType::Boolean => match values::parse_csv_bool(s) {
                Some(b) => *out = Cell::Bool(b),
                None => {
                    sink.field(
                        field,
                        RowErrorCode::Type,
                        format_args!("{} is not a boolean (true, false, 1 or 0)", quote(s)),
                    );
                    return;
                }
            },
            FieldType::Year => match values::parse_csv_year(s) {
                Some(y) => *out = Cell::Int(y),
                None => {
                    sink.field(
                        field,
                        RowErrorCode::Type,
                        format_args!("{} is not a year (4 digits, e.g. 2025)", quote(s)),
                    );
                    return;
                }
            },
        }
        check_cell(field, checks, out, sink);
    }
}

/// The mapping of a CSV header's columns to slots, built once per file by
/// [`Schema::csv_columns`].
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq)]
pub struct CsvColumns {
    slots: Vec<Option<usize>>,
    /// What each column's cells take, decided once per file.
    cols: Vec<CsvCol>,
}

/// One CSV column: the slot of its field (`usize::MAX` for none) and how its cells are
/// typed and checked.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CsvCol {
    slot: usize,
    op: CellOp,
}

impl CsvCol {
    fn of(plan: &Plan, slot: Option<usize>) -> CsvCol {
        let skip = CsvCol {
            slot: usize::MAX,
            op: CellOp::Full,
        };
        let Some(slot) = slot else { return skip };
        let Some(checks) = plan.checks.get(slot) else {
            return skip;
        };
        let op = if plan.missing_values.is_some() {
            // A missing value other than the empty cell needs the list's test.
            CellOp::Full
        } else {
            checks.op
        };
        CsvCol { slot, op }
    }
}

#[allow(dead_code)]
impl CsvColumns {
    /// The number of columns of the header.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the header has no columns.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot of column `column`, `None` for a column that is not a field (or out of range).
    pub fn slot(&self, column: usize) -> Option<usize> {
        self.slots.get(column).copied().flatten()
    }
}

fn display_name(name: &str) -> String {
    if name.is_empty() {
        "(empty name)".to_owned()
    } else {
        key_name(name)
    }
}

#[allow(dead_code)]
impl Schema {
    /// Maps a CSV header to slots. Missing required columns, unknown columns (when additional
    /// fields are not allowed) and a column named twice are `INVALID_FILE_TEMPLATE`.
    pub fn csv_columns(&self, header: &[&str]) -> Result<CsvColumns> {
        let plan = &self.0;
        // Tolerate a UTF-8 byte order mark left on the first column name.
        let names: Vec<&str> = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                if i == 0 {
                    h.strip_prefix('\u{feff}').unwrap_or(h)
                } else {
                    h
                }
            })
            .collect();
        let mut slots = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if names.get(..i).is_some_and(|before| before.contains(name)) {
                return Err(Error::InvalidFileTemplate(format!(
                    "CSV header names column '{}' more than once",
                    display_name(name)
                )));
            }
            let slot = plan.fields.iter().position(|f| f.name == *name);
            if slot.is_none() && !plan.additional {
                unknown.push(display_name(name));
            }
            slots.push(slot);
        }
        let missing: Vec<&str> = plan
            .fields
            .iter()
            .filter(|f| f.required && !names.contains(&f.name.as_str()))
            .map(|f| f.name.as_str())
            .collect();
        let cols = slots.iter().map(|&slot| CsvCol::of(plan, slot)).collect();
        let message = match (missing.is_empty(), unknown.is_empty()) {
            (true, true) => return Ok(CsvColumns { slots, cols }),
            (false, true) => format!(
                "CSV header is missing required columns: {}",
                missing.join(", ")
            ),
            (true, false) => format!("CSV header has unknown columns: {}", unknown.join(", ")),
            (false, false) => format!(
                "CSV header is missing required columns: {}; unknown columns: {}",
                missing.join(", "),
                unknown.join(", ")
            ),
        };
        Err(Error::InvalidFileTemplate(message))
    }

    /// Validates one JSON row given as its simd-json tape. Fills `cells` (one per field, `Null`
    /// when absent), appends the row's errors to `errors`, and returns whether the row is valid.
    pub fn validate_json<'a>(
        &self,
        tape: &[Node<'a>],
        row: u64,
        line: Option<u64>,
        cells: &mut Vec<Cell<'a>>,
        errors: &mut Vec<RowError>,
    ) -> bool {
        let plan = &*self.0;
        cells.clear();
        cells.resize(plan.fields.len(), Cell::Null);
        let mut sink = Sink {
            row,
            line,
            errors,
            failed: false,
        };
        let Some(&Node::Object { len, count }) = tape.first() else {
            sink.push(
                None,
                RowErrorCode::MalformedRow,
                "row is not a JSON object".to_owned(),
            );
            return false;
        };
        // The object's own nodes (a well-formed tape has exactly these).
        let body = tape
            .get(..count.saturating_add(1).min(tape.len()))
            .unwrap_or_default();
        let mut seen = Seen::new(plan.fields.len());
        let mut p = 1usize;
        // Rows mostly list fields in schema order, some left out: expect the slot after the
        // last one found.
        let mut next = 0usize;
        for _ in 0..len {
            let (Some(Node::String(key)), Some(value)) =
                (body.get(p), p.checked_add(1).and_then(|q| body.get(q)))
            else {
                sink.push(
                    None,
                    RowErrorCode::MalformedRow,
                    "row is not a well-formed JSON object".to_owned(),
                );
                return false;
            };
            let width = match value {
                Node::Object { count, .. } | Node::Array { count, .. } => count.saturating_add(1),
                _ => 1,
            };
            match plan.lookup(key, next) {
                Some(slot) => {
                    next = slot + 1;
                    if let (Some(field), Some(checks)) =
                        (plan.fields.get(slot), plan.checks.get(slot))
                    {
                        if !seen.insert(slot) {
                            sink.push(
                                Some(&field.name),
                                RowErrorCode::MalformedRow,
                                format!(
                                    "{}: the key appears more than once in the row",
                                    field.name
                                ),
                            );
                        } else if let Some(c) = cells.get_mut(slot) {
                            if !json_quick(checks, value, c) {
                                plan.json_value(field, checks, value, &mut sink, c);
                            }
                        }
                    }
                }
                None if !plan.additional => {
                    let name = key_name(key);
                    let message =
                        format!("{name}: unknown field (the schema allows no other fields)");
                    sink.push(Some(&name), RowErrorCode::UnknownField, message);
                }
                None => {}
            }
            p = p.saturating_add(1).saturating_add(width);
        }
        // Every required field seen (the common case) is one test per 64 fields.
        let all_there = plan
            .required
            .iter()
            .enumerate()
            .all(|(i, &r)| seen.words().get(i).is_some_and(|&w| w & r == r));
        if all_there {
            return !sink.failed;
        }
        for (slot, field) in plan.fields.iter().enumerate() {
            if field.required && !seen.contains(slot) {
                sink.field(
                    field,
                    RowErrorCode::Required,
                    format_args!("required field is missing"),
                );
            }
        }
        !sink.failed
    }

    /// Validates one CSV record: `ends` holds the end offset of each field in `record`, and each
    /// field after the first starts `sep` bytes after the end of the one before it (0 for
    /// csv-core's output, 1 for a record's own unquoted text with its commas). Fills `cells`, appends the row's errors to `errors`, and
    /// returns whether the row is valid.
    #[allow(clippy::too_many_arguments)]
    pub fn validate_csv<'a>(
        &self,
        cols: &CsvColumns,
        record: &'a str,
        ends: &[usize],
        sep: usize,
        row: u64,
        line: Option<u64>,
        cells: &mut Vec<Cell<'a>>,
        errors: &mut Vec<RowError>,
    ) -> bool {
        let plan = &*self.0;
        cells.clear();
        cells.resize(plan.fields.len(), Cell::Null);
        let mut sink = Sink {
            row,
            line,
            errors,
            failed: false,
        };
        if ends.len() != cols.cols.len() {
            let (n, h) = (ends.len(), cols.cols.len());
            let cells_word = if n == 1 { "cell" } else { "cells" };
            let cols_word = if h == 1 { "column" } else { "columns" };
            sink.push(
                None,
                RowErrorCode::MalformedRow,
                format!("row has {n} {cells_word}; the header has {h} {cols_word}"),
            );
            return false;
        }
        let mut start = 0usize;
        for (&end, col) in ends.iter().zip(&cols.cols) {
            let Some(text) = record.get(start..end) else {
                sink.push(
                    None,
                    RowErrorCode::MalformedRow,
                    "row is malformed (a cell lies outside the record)".to_owned(),
                );
                return false;
            };
            start = end + sep;
            let Some(out) = cells.get_mut(col.slot) else {
                continue;
            };
            // The common cells are typed and checked here, in one test each; an empty cell,
            // a cell that fails, and the other kinds go through `csv_cell`, which says why.
            let done = !text.is_empty()
                && match &col.op {
                    CellOp::Text => {
                        *out = Cell::Str(text);
                        true
                    }
                    CellOp::Uuid => {
                        *out = Cell::Str(text);
                        values::is_uuid(text)
                    }
                    CellOp::DateTime => {
                        *out = Cell::Str(text);
                        values::is_date_time(text)
                    }
                    CellOp::Format(f) => {
                        *out = Cell::Str(text);
                        format_ok(*f, text)
                    }
                    CellOp::Length { min, max } => {
                        // Anything the bytes do not decide counts characters in `csv_cell`.
                        *out = Cell::Str(text);
                        bytes_within(text, *min, *max)
                    }
                    CellOp::Pattern => {
                        *out = Cell::Str(text);
                        plan.checks
                            .get(col.slot)
                            .is_some_and(|c| pattern_passes(c, text))
                    }
                    CellOp::Enum => {
                        *out = Cell::Str(text);
                        plan.checks
                            .get(col.slot)
                            .is_some_and(|c| enum_passes(c, text))
                    }
                    CellOp::Integer { lo, hi } => match values::parse_csv_int(text) {
                        Some(CsvInt::Int(i)) if *lo <= i && i <= *hi => {
                            *out = Cell::Int(i);
                            true
                        }
                        _ => false,
                    },
                    CellOp::Number { lo, hi } => match values::parse_csv_number(text) {
                        Some(f) if !(f < *lo || f > *hi) => {
                            *out = Cell::Num(f);
                            true
                        }
                        _ => false,
                    },
                    CellOp::Full => false,
                };
            if !done {
                plan.csv_cell(col.slot, text, &mut sink, out);
            }
        }
        !sink.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick test must pass a cell exactly when the reporting path finds nothing, or an
    /// invalid value would slip through.
    #[test]
    fn the_quick_check_agrees_with_the_report() {
        let schema = Schema::compile(
            r#"{"type":"object","properties":{
                "s":{"type":"string","minLength":3,"maxLength":5,"pattern":"^[a-zé]+$"},
                "u":{"type":"string","format":"uuid"},
                "t":{"type":"string","format":"date-time","enum":["2025-01-01T00:00:00Z","x"]},
                "i":{"type":"integer","minimum":-3,"exclusiveMaximum":7},
                "n":{"type":"number","exclusiveMinimum":-1.5,"maximum":2.25},
                "e":{"enum":[1,"a",null,true,2.5,"abcdefghij"]},
                "c":{"const":3},
                "plain":{"type":"string"},
                "len":{"type":"string","minLength":2,"maxLength":3},
                "pat":{"type":"string","pattern":"^a"},
                "frac":{"type":"integer","minimum":-2.5,"exclusiveMaximum":3.5},
                "edges":{"type":"integer","exclusiveMinimum":-9223372036854775808,
                    "exclusiveMaximum":9223372036854775807},
                "open":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},
                "any":{"minimum":-1,"maximum":1}}}"#,
        )
        .unwrap();
        let plan = &*schema.0;
        // Every shape of checks is here at least once.
        let quicks: Vec<&str> = plan
            .checks
            .iter()
            .map(|c| match c.quick {
                Quick::Nothing => "nothing",
                Quick::Format(_) => "format",
                Quick::Pattern => "pattern",
                Quick::Length { .. } => "length",
                Quick::Enum => "enum",
                Quick::Range { ints: true, .. } => "ints",
                Quick::Range { ints: false, .. } => "floats",
                Quick::Mixed => "mixed",
            })
            .collect();
        for q in [
            "nothing", "format", "pattern", "length", "enum", "ints", "floats", "mixed",
        ] {
            assert!(quicks.contains(&q), "no {q} in {quicks:?}");
        }
        let strs = [
            "",
            "a",
            "a\0",
            "1",
            "abcdefgh",
            "abcdefghij",
            "abcdefghiX",
            "ab",
            "abc",
            "abcde",
            "abcdef",
            "ééé",
            "éé",
            "éééééé",
            "ééééé",
            "abC",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f",
            "3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9",
            "2025-01-01T00:00:00Z",
            "x",
            "2025-02-30T00:00:00Z",
        ];
        let mut cells: Vec<Cell<'_>> = strs.iter().map(|s| Cell::Str(s)).collect();
        for i in -5..10 {
            cells.push(Cell::Int(i));
            cells.push(Cell::Num(i as f64 / 2.0));
        }
        cells.extend([
            Cell::Null,
            Cell::Bool(true),
            Cell::Bool(false),
            Cell::Num(f64::NAN),
            Cell::Num(-1.5),
            Cell::Num(2.25),
            Cell::Num(2.5),
            Cell::Int(i64::MIN),
            Cell::Int(i64::MAX),
            Cell::Int(i64::MIN + 1),
            Cell::Int(i64::MAX - 1),
            Cell::Num(0.0),
            Cell::Num(-0.0),
            Cell::Num(f64::from_bits(1)),
            Cell::Num(1.0),
            Cell::Num(1.0f64.next_down()),
            Cell::Num(3.5),
            Cell::Num(-2.5),
            Cell::Num(f64::INFINITY),
            Cell::Num(f64::NEG_INFINITY),
            Cell::Num(f64::MAX),
            Cell::Num(i64::MAX as f64),
        ]);
        let mut errors = Vec::new();
        let mut checked = 0;
        for (field, checks) in plan.fields.iter().zip(&plan.checks) {
            for cell in &cells {
                errors.clear();
                let mut sink = Sink {
                    row: 1,
                    line: None,
                    errors: &mut errors,
                    failed: false,
                };
                report_cell(field, checks, cell, &mut sink);
                assert_eq!(
                    cell_passes(checks, cell),
                    errors.is_empty(),
                    "{} {cell:?}: {errors:?}",
                    field.name
                );
                checked += usize::from(!errors.is_empty());
            }
        }
        assert!(checked > 50, "only {checked} failing cells");
    }

    /// An enum's string test compares words, not text, up to 16 bytes: strings alike in all
    /// but one byte, anywhere, must still be told apart.
    #[test]
    fn enum_strings_differing_in_any_one_byte_are_told_apart() {
        let mut rng = crate::test_rng::Rng(0x0e_5eed);
        for len in 0..=24usize {
            let base: String = (0..len)
                .map(|_| (b'a' + rng.below(3) as u8) as char)
                .collect();
            let values = vec![EnumValue::Str(base.clone()), EnumValue::Int(1)];
            let allowed = super::super::Allowed::new(values, String::new(), false);
            assert!(allowed.has_str(&base), "{base:?}");
            for p in 0..len {
                let mut other = base.clone().into_bytes();
                other[p] = b'x';
                let other = String::from_utf8(other).unwrap();
                assert!(!allowed.has_str(&other), "{base:?} took {other:?}");
            }
            assert!(!allowed.has_str(&format!("{base}a")));
            assert!(len == 0 || !allowed.has_str(&base[1..]));
        }
    }

    /// The JSON row loop types and checks the common values by the slot's op first: with the
    /// full path behind it, it must give exactly the cells and errors of the full path alone.
    #[test]
    fn json_values_typed_by_the_op_match_the_full_path() {
        let schema = Schema::compile(
            r#"{"type":"object","properties":{
                "u":{"type":"string","format":"uuid"},
                "plain":{"type":"string"},
                "any":{},
                "len":{"type":"string","minLength":2,"maxLength":3},
                "pat":{"type":"string","pattern":"^a"},
                "en":{"type":"string","enum":["a","ab","éé"]},
                "i":{"type":"integer","minimum":-3,"exclusiveMaximum":7},
                "ibig":{"type":"integer","maximum":9223372036854775807},
                "ifrac":{"type":"integer","minimum":-2.5},
                "n":{"type":"number","exclusiveMinimum":-1.5,"maximum":2.25},
                "nany":{"type":["number","null"]},
                "d":{"type":"string","format":"date"},
                "dt":{"type":"string","format":"date-time"},
                "mixed":{"type":"number","minimum":0,"enum":[1,2.5]}}}"#,
        )
        .unwrap();
        let plan = &*schema.0;
        let ops: Vec<CellOp> = plan.checks.iter().map(|c| c.op).collect();
        for op in [
            "Text", "Uuid", "DateTime", "Format", "Length", "Pattern", "Enum", "Integer", "Number",
            "Full",
        ] {
            assert!(
                ops.iter().any(|o| format!("{o:?}").starts_with(op)),
                "no {op} in {ops:?}"
            );
        }
        let strs = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "éé",
            "ééé",
            "b",
            "2025-01-02",
            "2025-02-30",
            "2025-01-02T10:00:00Z",
            "2025-02-30T10:00:00Z",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9g",
        ];
        let mut nodes: Vec<Node<'_>> = strs.iter().map(|s| Node::String(s)).collect();
        for i in [i64::MIN, -4, -3, -2, -1, 0, 1, 2, 6, 7, i64::MAX] {
            nodes.push(Node::Static(StaticNode::I64(i)));
        }
        for u in [0, 2, 6, 7, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            nodes.push(Node::Static(StaticNode::U64(u)));
        }
        for f in [-1.5, -1.49, 0.0, -0.0, 1.0, 2.25, 2.5, 3.0, 1e300, f64::NAN] {
            nodes.push(Node::Static(StaticNode::F64(f)));
        }
        nodes.push(Node::Static(StaticNode::Null));
        nodes.push(Node::Static(StaticNode::Bool(true)));
        let mut checked = 0;
        for (field, checks) in plan.fields.iter().zip(&plan.checks) {
            for node in &nodes {
                let (mut fast_errors, mut full_errors) = (Vec::new(), Vec::new());
                let (mut fast_cell, mut full_cell) = (Cell::Null, Cell::Null);
                let mut sink = Sink {
                    row: 1,
                    line: None,
                    errors: &mut fast_errors,
                    failed: false,
                };
                let quick = json_quick(checks, node, &mut fast_cell);
                if !quick {
                    plan.json_value(field, checks, node, &mut sink, &mut fast_cell);
                }
                let mut sink = Sink {
                    row: 1,
                    line: None,
                    errors: &mut full_errors,
                    failed: false,
                };
                plan.json_value(field, checks, node, &mut sink, &mut full_cell);
                checked += usize::from(quick);
                assert_eq!(fast_errors, full_errors, "{} {node:?}", field.name);
                if full_errors.is_empty() {
                    assert_eq!(
                        format!("{fast_cell:?}"),
                        format!("{full_cell:?}"),
                        "{} {node:?}",
                        field.name
                    );
                }
            }
        }
        assert!(checked > 40, "only {checked} values decided by the op");
    }

    /// The CSV row loop types and checks the common cells itself: it must give exactly the
    /// cells and errors of [`Plan::csv_cell`], which handles every cell the slow way.
    #[test]
    fn csv_cells_typed_in_the_row_loop_match_the_full_path() {
        let schemas = [
            r#"{"type":"object","properties":{
                "u":{"type":"string","format":"uuid"},
                "plain":{"type":"string"},
                "len":{"type":"string","minLength":2,"maxLength":3},
                "pat":{"type":"string","pattern":"^a"},
                "en":{"type":"string","enum":["a","ab","éé"]},
                "i":{"type":"integer","minimum":-3,"exclusiveMaximum":7},
                "ifrac":{"type":"integer","minimum":-2.5},
                "iany":{"type":"integer"},
                "n":{"type":"number","exclusiveMinimum":-1.5,"maximum":2.25},
                "nany":{"type":"number"},
                "b":{"type":"boolean"},
                "dt":{"type":"string","format":"date-time"},
                "mixed":{"type":"number","minimum":0,"enum":[1,2.5]}},
                "required":["u","i","n"]}"#,
            r#"{"fields":[
                {"name":"u","type":"string","format":"uuid","constraints":{"required":true}},
                {"name":"i","type":"integer","constraints":{"minimum":1}},
                {"name":"n","type":"number","constraints":{"maximum":2}},
                {"name":"y","type":"year"},
                {"name":"d","type":"date"},
                {"name":"s","type":"string"}],
                "missingValues":["","NA"]}"#,
        ];
        let pool = [
            "",
            "NA",
            "a",
            "ab",
            "abc",
            "abcd",
            "éé",
            "b",
            "0",
            "-3",
            "-4",
            "6",
            "7",
            "+1",
            "-0",
            "1.5",
            "2.25",
            "2.2500001",
            "-1.5",
            "-1.49",
            "1e1",
            "99999999999999999999",
            "x1",
            " 1",
            "true",
            "0",
            "2025",
            "2025-01-02",
            "2025-01-02T10:00:00Z",
            "2025-01-02T10:00:00.5+01:00",
            "2025-02-30T10:00:00Z",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9g",
        ];
        let mut rng = crate::test_rng::Rng(0x5eed_c5f0);
        for doc in schemas {
            let schema = Schema::compile(doc).unwrap();
            let plan = &*schema.0;
            let names: Vec<&str> = plan.fields.iter().map(|f| f.name.as_str()).collect();
            // The header in reverse with an unknown column, when the schema allows it.
            let mut header: Vec<&str> = names.iter().rev().copied().collect();
            if plan.additional {
                header.insert(1, "other");
            }
            let cols = schema.csv_columns(&header).unwrap();
            let mut errors = Vec::new();
            for row in 0..3000u64 {
                let mut cells = Vec::new();
                let texts: Vec<&str> = header.iter().map(|_| rng.pick(&pool)).collect();
                let record = texts.join(",");
                let mut ends = Vec::new();
                let mut at = 0;
                for t in &texts {
                    at += t.len();
                    ends.push(at);
                    at += 1;
                }
                errors.clear();
                let ok = schema.validate_csv(
                    &cols,
                    &record,
                    &ends,
                    1,
                    row,
                    None,
                    &mut cells,
                    &mut errors,
                );
                // The same row, every cell the slow way.
                let mut want_cells = vec![Cell::Null; plan.fields.len()];
                let mut want_errors = Vec::new();
                let mut sink = Sink {
                    row,
                    line: None,
                    errors: &mut want_errors,
                    failed: false,
                };
                for (c, t) in texts.iter().enumerate() {
                    if let Some(slot) = cols.slot(c) {
                        plan.csv_cell(slot, t, &mut sink, &mut want_cells[slot]);
                    }
                }
                let want_ok = !sink.failed;
                assert_eq!(
                    (ok, &cells, &errors),
                    (want_ok, &want_cells, &want_errors),
                    "{record}"
                );
            }
        }
    }
}
