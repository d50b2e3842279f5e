//! Schemas: compile JSON Schema (subset) or Table Schema into one row validator.
//!
//! A schema document compiles once ([`Schema::compile`]) into a plan: field name → slot, and per
//! slot a short list of checks. Rows are then checked on the parser's own borrowed output (a
//! simd-json tape for NDJSON/JSON rows, csv-core's record buffer for CSV rows) with no heap
//! allocation on the valid path; only error messages allocate.
//!
//! # Dialects
//!
//! [`Schema::compile`] detects the dialect: an object with a `"fields"` array is a Frictionless
//! Table Schema, anything else is read as JSON Schema. [`Schema::compile_as`] forces one. Any
//! keyword outside the subsets below is an [`Error::InvalidSchema`] naming the keyword and where
//! it is (`properties.eventId: keyword 'oneOf' is not supported`); nothing is silently ignored.
//!
//! ## JSON Schema subset
//!
//! | where | keyword | accepted values / meaning |
//! |---|---|---|
//! | top level | `type` | `"object"` only (optional) |
//! | top level | `properties` | object of property schemas (at least one); their order is the slot order |
//! | top level | `required` | array of distinct property names |
//! | top level | `additionalProperties` | boolean only (default `true`); `false` makes other keys `UNKNOWN_FIELD` |
//! | top level | `x-primaryKey` | a property name or a non-empty array of them; those fields become required, non-null and unique |
//! | top level | `x-maxRows` | positive integer: the most data rows a file may have |
//! | property | `type` | `string`, `integer`, `number`, `boolean`, or `[one of those, "null"]`; absent = any scalar |
//! | property | `enum` | non-empty array of scalars of the property's type (`ENUM`) |
//! | property | `const` | one scalar of the property's type (`ENUM`) |
//! | property | `pattern` | a `regex`-crate pattern, matched anywhere unless anchored (`PATTERN`) |
//! | property | `minLength`, `maxLength` | non-negative integers, in Unicode scalar values (`MIN_LENGTH`, `MAX_LENGTH`) |
//! | property | `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` | numbers (`MINIMUM`, `MAXIMUM`) |
//! | property | `format` | `date-time`, `date`, `time`, `uuid`, `email`, `uri` (`FORMAT`) |
//! | property | `x-unique` | boolean: values must be unique in the dataset (decided by the caller) |
//! | anywhere | `$schema`, `$id`, `$comment`, `title`, `description`, `examples`, `default`, `readOnly`, `writeOnly`, `deprecated` | annotations, ignored |
//!
//! String keywords (`pattern`, `minLength`, `maxLength`, `format`) need a string (or untyped)
//! property, numeric bounds an integer, number (or untyped) one; anything else is rejected as a
//! mistake rather than silently never applying. As in JSON Schema, `null` on a nullable property
//! must itself be listed when the property has an `enum` or `const`. A `format` of `date-time`, `date` or `time` on a
//! string property makes the field's [`FieldType`] `DateTime`, `Date` or `Time`.
//!
//! ## Table Schema subset
//!
//! | where | key | accepted values / meaning |
//! |---|---|---|
//! | top level | `fields` | non-empty array of field descriptors; their order is the slot order |
//! | top level | `primaryKey` | a field name or a non-empty array of them; those fields become required and unique |
//! | top level | `missingValues` | array of strings (default `[""]`): CSV cells that mean "missing" |
//! | top level | `x-maxRows` | positive integer |
//! | top level | `$schema`, `name`, `title`, `description` | annotations, ignored |
//! | field | `name` | non-empty, distinct |
//! | field | `type` | `string` (default), `integer`, `number`, `boolean`, `date`, `datetime`, `time`, `year`, `any` |
//! | field | `format` | `string`: `default`, `email`, `uri`, `uuid`; other types: `default` or `any` |
//! | field | `title`, `description`, `example` | annotations, ignored |
//! | field | `constraints` | `required`, `unique` (booleans); `minLength`, `maxLength` (string fields); `minimum`, `maximum` (integer, number, year fields); `pattern` (string, date, datetime, time fields; implicitly anchored: it must match the whole value); `enum` (values of the field's type, numbers may be given as their CSV text) |
//!
//! A Table Schema allows no other fields (`additional_allowed()` is false). A field that is not
//! required accepts a missing value and, in JSON rows, `null`.
//!
//! # Value rules
//!
//! As DESIGN.md "Value rules" says. date-time: RFC 3339, `T`/`t`, zone `Z`/`z`/`±hh:mm`
//! required, any number of fractional digits, calendar checked, second 60 accepted. date:
//! `YYYY-MM-DD`, calendar checked. time: `hh:mm:ss[.frac]` with an optional zone (the same rule
//! for JSON Schema `format: time`). uuid: 8-4-4-4-12 hex digits, either case. email: exactly one
//! `@`, a non-empty local part, a domain of non-empty dot-separated labels, no whitespace or
//! control characters (deliberately simple). uri: a scheme (`[A-Za-z][A-Za-z0-9+.-]*`), `:`, then
//! at least one character, no whitespace or control characters. Integers in JSON: any number
//! without a fractional part (`1e3`, `1000.0`); in CSV an optional sign and decimal digits only.
//! Numbers in CSV: a decimal literal (`12`, `-0.5`, `.5`, `1e3`), no spaces, no NaN/Infinity.
//! Booleans in CSV: `true`/`false`/`True`/`False`/`TRUE`/`FALSE`/`1`/`0`. year: four digits in
//! CSV, an integer in JSON. JSON rows are checked as they are: the string `"5"` is not an integer.
//!
//! # Row errors
//!
//! `REQUIRED` (a missing field, an empty/missing CSV cell of a required field, or JSON `null` on a
//! field that does not accept null), `TYPE`, `PATTERN`, `ENUM` (also `const`), `MIN_LENGTH`,
//! `MAX_LENGTH`, `MINIMUM`, `MAXIMUM` (also the exclusive bounds), `FORMAT`, `UNKNOWN_FIELD` (a
//! JSON key that is not a property when additional properties are not allowed) and
//! `MALFORMED_ROW` (not a JSON object, a key given twice in one row, a CSV row whose cell count
//! differs from the header's). Errors come in row order: for JSON the keys as they appear in the
//! row (each field's errors in the order TYPE, FORMAT, PATTERN, MIN_LENGTH, MAX_LENGTH, MINIMUM,
//! MAXIMUM, ENUM), then missing required fields in schema order; for CSV the columns in order.
//! `UNIQUE` is decided by the caller, which sees every row.

mod compile;
mod doc;
mod pattern;
mod validate;
pub(crate) mod values;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

use pattern::Matcher;

#[allow(unused_imports)]
pub use validate::CsvColumns;

/// The language a schema document is written in.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaDialect {
    /// The JSON Schema subset documented in this module.
    JsonSchema,
    /// Frictionless Table Schema (the subset documented in this module).
    TableSchema,
}

#[allow(dead_code)]
impl SchemaDialect {
    /// `"jsonschema"` or `"tableschema"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaDialect::JsonSchema => "jsonschema",
            SchemaDialect::TableSchema => "tableschema",
        }
    }
}

impl fmt::Display for SchemaDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaDialect {
    type Err = Error;
    /// Accepts `jsonschema` / `json-schema` / `json_schema` and `tableschema` / `table-schema` /
    /// `table_schema`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "jsonschema" => Ok(SchemaDialect::JsonSchema),
            "tableschema" => Ok(SchemaDialect::TableSchema),
            _ => Err(Error::invalid(format!(
                "schema dialect: '{s}' is not supported; must be one of: jsonschema, tableschema"
            ))),
        }
    }
}

/// The logical type of a field, which decides the [`Cell`](crate::types::Cell) variant it gets and
/// the sink's column type.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD`, kept as text.
    Date,
    /// RFC 3339 date-time, kept as text.
    DateTime,
    /// `hh:mm:ss[.frac][zone]`, kept as text.
    Time,
    /// A year, as an integer.
    Year,
    /// Any scalar (a JSON Schema property without `type`, or Table Schema `any`).
    Any,
}

#[allow(dead_code)]
impl FieldType {
    /// `"string"`, `"integer"`, `"number"`, `"boolean"`, `"date"`, `"datetime"`, `"time"`,
    /// `"year"` or `"any"` (the Table Schema names).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Time => "time",
            FieldType::Year => "year",
            FieldType::Any => "any",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of a schema; `Schema::fields()[slot]`.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    /// The field must be present (and, in CSV, non-empty).
    pub required: bool,
    /// JSON `null` is accepted (as `Cell::Null`).
    pub nullable: bool,
    /// Part of the primary key, or declared unique.
    pub unique: bool,
}

/// A hand-checked string format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFormat {
    DateTime,
    Date,
    Time,
    Uuid,
    Email,
    Uri,
}

/// One numeric bound, kept as `f64` and, when it is a whole number, as `i64` for exact integer
/// comparisons.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub(crate) value: f64,
    pub(crate) int: Option<i64>,
    /// As written in the schema, for messages.
    pub(crate) text: String,
}

/// One allowed value of an `enum` / `const`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EnumValue {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
}

/// The allowed values of a field.
#[derive(Debug, Clone)]
pub(crate) struct Allowed {
    pub(crate) values: Vec<EnumValue>,
    /// `transit, retail, outdoor` (for messages).
    pub(crate) text: String,
    /// Came from `const`.
    pub(crate) is_const: bool,
    /// The string values as (their first eight bytes, zero-padded, as a number; their length;
    /// their last eight bytes ([`tail_word`]); their position in `values`): most are told
    /// apart by the first two alone, and up to 16 bytes the three decide.
    strs: Vec<(u64, usize, u64, usize)>,
}

impl Allowed {
    pub(crate) fn new(values: Vec<EnumValue>, text: String, is_const: bool) -> Self {
        let strs = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                EnumValue::Str(s) => Some((head_word(s), s.len(), tail_word(s), i)),
                _ => None,
            })
            .collect();
        Allowed {
            values,
            text,
            is_const,
            strs,
        }
    }

    /// Whether the string `s` is one of the values.
    #[inline]
    pub(crate) fn has_str(&self, s: &str) -> bool {
        let (w, t) = (head_word(s), tail_word(s));
        self.strs.iter().any(|&(hw, len, tw, i)| {
            hw == w
                && len == s.len()
                && (len <= 8
                    || (tw == t
                        && (len <= 16
                            || matches!(self.values.get(i), Some(EnumValue::Str(v)) if v == s))))
        })
    }
}

/// The first eight bytes of `s` (fewer zero-padded) as a little-endian number.
#[inline]
fn head_word(s: &str) -> u64 {
    values::load8(s.as_bytes())
}

/// The last eight bytes of `s` as a little-endian number (0 when `s` is shorter): with the
/// first eight and the length, they cover every byte of a string of up to 16 bytes.
#[inline]
fn tail_word(s: &str) -> u64 {
    s.as_bytes()
        .last_chunk::<8>()
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// A compiled pattern and its source.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) matcher: Matcher,
    pub(crate) source: String,
}

/// The checks of one slot beyond its type.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checks {
    pub(crate) format: Option<StrFormat>,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) min_length: Option<u64>,
    pub(crate) max_length: Option<u64>,
    pub(crate) minimum: Option<Bound>,
    pub(crate) exclusive_minimum: Option<Bound>,
    pub(crate) maximum: Option<Bound>,
    pub(crate) exclusive_maximum: Option<Bound>,
    pub(crate) allowed: Option<Allowed>,
    /// The checks above as one small case for the common shapes ([`Quick::of`]); set when the
    /// plan is finished.
    pub(crate) quick: Quick,
    /// How the slot's common values are typed and checked in one step ([`CellOp::of`]); set
    /// with `quick`.
    pub(crate) op: CellOp,
}

/// How a slot's common values are typed and checked in one step, from its type and its
/// [`Quick`] case: the row loops jump once on it per value, and leave every value it does not
/// decide (another type, an empty CSV cell, a failing value) to the full path.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum CellOp {
    /// Text (string, date, date-time, time, any) without checks.
    Text,
    /// Text with only the `uuid` format.
    Uuid,
    /// Text with only the `date-time` format (or of type `datetime`).
    DateTime,
    /// Text with only another format (a date type's own, or `format`).
    Format(StrFormat),
    /// Text with only length limits, in characters.
    Length { min: u64, max: u64 },
    /// Text with only a pattern.
    Pattern,
    /// Text with only an enum.
    Enum,
    /// An integer within `lo..=hi` (the whole range when unbounded).
    Integer { lo: i64, hi: i64 },
    /// A number neither below `lo` nor above `hi`.
    Number { lo: f64, hi: f64 },
    /// Anything else (boolean, year, mixed checks): the full path for every value.
    #[default]
    Full,
}

impl CellOp {
    pub(crate) fn of(ty: FieldType, quick: Quick) -> CellOp {
        let text = compile::is_stringish(ty);
        match (ty, quick) {
            (_, Quick::Nothing) if text => CellOp::Text,
            (_, Quick::Format(StrFormat::Uuid)) if text => CellOp::Uuid,
            (_, Quick::Format(StrFormat::DateTime)) if text => CellOp::DateTime,
            (_, Quick::Format(f)) if text => CellOp::Format(f),
            (_, Quick::Length { min, max }) if text => CellOp::Length { min, max },
            (_, Quick::Pattern) if text => CellOp::Pattern,
            (_, Quick::Enum) if text => CellOp::Enum,
            (FieldType::Integer, Quick::Nothing) => CellOp::Integer {
                lo: i64::MIN,
                hi: i64::MAX,
            },
            (
                FieldType::Integer,
                Quick::Range {
                    ilo,
                    ihi,
                    ints: true,
                    ..
                },
            ) => CellOp::Integer { lo: ilo, hi: ihi },
            (FieldType::Number, Quick::Nothing) => CellOp::Number {
                lo: f64::NEG_INFINITY,
                hi: f64::INFINITY,
            },
            (FieldType::Number, Quick::Range { lo, hi, .. }) => CellOp::Number { lo, hi },
            _ => CellOp::Full,
        }
    }
}

/// A slot's checks when they are of one common shape, so that a value is checked by one test
/// instead of a walk over every optional check. A case only ever lets through a value that every
/// check passes; a value it does not decide (another cell kind, or `Mixed`) goes through all the
/// checks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum Quick {
    /// No check beyond the type.
    Nothing,
    /// Only a format.
    Format(StrFormat),
    /// Only a pattern.
    Pattern,
    /// Only `minLength` / `maxLength` (0 and `u64::MAX` when absent), in characters.
    Length { min: u64, max: u64 },
    /// Only `enum` / `const`.
    Enum,
    /// Only bounds. A number passes when it is neither below `lo` nor above `hi` (so NaN
    /// passes, as with the checks themselves): each bound's `f64`, an exclusive one moved to the
    /// next float inside (for a float `f`, `f > b` is `f >= b.next_up()`), the absent ones
    /// infinite. An integer passes when `ilo <= i <= ihi`, when every bound is a whole number
    /// (`ints`); otherwise it goes through the checks.
    Range {
        lo: f64,
        hi: f64,
        ilo: i64,
        ihi: i64,
        ints: bool,
    },
    /// Several kinds of checks, or bounds a float cannot hold: every check in turn.
    #[default]
    Mixed,
}

impl Quick {
    /// The case of `c`'s checks (ignoring `c.quick`).
    pub(crate) fn of(c: &Checks) -> Quick {
        let string_kinds = [
            c.format.is_some(),
            c.pattern.is_some(),
            c.min_length.is_some() || c.max_length.is_some(),
        ];
        let bounds = [
            &c.minimum,
            &c.exclusive_minimum,
            &c.maximum,
            &c.exclusive_maximum,
        ];
        let has_bounds = bounds.iter().any(|b| b.is_some());
        let kinds = string_kinds.iter().filter(|&&k| k).count()
            + usize::from(has_bounds)
            + usize::from(c.allowed.is_some());
        match kinds {
            0 => return Quick::Nothing,
            1 => {}
            _ => return Quick::Mixed,
        }
        if let Some(f) = c.format {
            return Quick::Format(f);
        }
        if c.pattern.is_some() {
            return Quick::Pattern;
        }
        if c.min_length.is_some() || c.max_length.is_some() {
            return Quick::Length {
                min: c.min_length.unwrap_or(0),
                max: c.max_length.unwrap_or(u64::MAX),
            };
        }
        if c.allowed.is_some() {
            return Quick::Enum;
        }
        // Bounds alone.
        if bounds
            .iter()
            .any(|b| b.as_ref().is_some_and(|b| !b.value.is_finite()))
        {
            return Quick::Mixed;
        }
        // Each bound as an inclusive one: its float (an exclusive one moved to the next float
        // inside) and, when whole, its integer (moved by one).
        let inclusive = |b: &Option<Bound>, step: i64| {
            b.as_ref().map(|b| {
                let value = match step {
                    1 => b.value.next_up(),
                    -1 => b.value.next_down(),
                    _ => b.value,
                };
                (value, b.int.and_then(|i| i.checked_add(step)))
            })
        };
        let lower = [inclusive(&c.minimum, 0), inclusive(&c.exclusive_minimum, 1)];
        let upper = [
            inclusive(&c.maximum, 0),
            inclusive(&c.exclusive_maximum, -1),
        ];
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        let (mut ilo, mut ihi, mut ints) = (i64::MIN, i64::MAX, true);
        for (value, int) in lower.into_iter().flatten() {
            lo = lo.max(value);
            ilo = ilo.max(int.unwrap_or(i64::MIN));
            ints &= int.is_some();
        }
        for (value, int) in upper.into_iter().flatten() {
            hi = hi.min(value);
            ihi = ihi.min(int.unwrap_or(i64::MAX));
            ints &= int.is_some();
        }
        Quick::Range {
            lo,
            hi,
            ilo,
            ihi,
            ints,
        }
    }
}

/// Everything a compiled schema knows.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) dialect: SchemaDialect,
    pub(crate) source: String,
    pub(crate) fields: Vec<Field>,
    /// Each field's name as (its first eight bytes as a number, zero-padded; its length), to
    /// match a JSON key against a field without reaching for the name's text.
    pub(crate) name_heads: Vec<(u64, usize)>,
    /// The required fields' slots as a bitmask (bit `s % 64` of word `s / 64`).
    pub(crate) required: Vec<u64>,
    pub(crate) checks: Vec<Checks>,
    pub(crate) primary_key: Option<Vec<usize>>,
    pub(crate) unique_slots: Vec<usize>,
    pub(crate) additional: bool,
    pub(crate) max_rows: Option<u64>,
    /// CSV cells that mean "missing"; `None` is the default `[""]`.
    pub(crate) missing_values: Option<Vec<String>>,
}

/// A compiled schema: cheap to clone, `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Schema(Arc<Plan>);

#[allow(dead_code)]
impl Schema {
    /// Compiles a schema document, detecting its dialect: an object with a `"fields"` array is a
    /// Table Schema, anything else JSON Schema.
    pub fn compile(doc: &str) -> Result<Schema> {
        let parsed = doc::Doc::parse(doc).map_err(Error::InvalidSchema)?;
        let dialect = match parsed.get("fields") {
            Some(doc::Doc::Arr(_)) => SchemaDialect::TableSchema,
            _ => SchemaDialect::JsonSchema,
        };
        Self::build(doc, &parsed, dialect)
    }

    /// Compiles a schema document written in `dialect`.
    pub fn compile_as(doc: &str, dialect: SchemaDialect) -> Result<Schema> {
        let parsed = doc::Doc::parse(doc).map_err(Error::InvalidSchema)?;
        Self::build(doc, &parsed, dialect)
    }

    fn build(source: &str, parsed: &doc::Doc, dialect: SchemaDialect) -> Result<Schema> {
        let plan = match dialect {
            SchemaDialect::JsonSchema => compile::json_schema(parsed),
            SchemaDialect::TableSchema => compile::table_schema(parsed),
        }
        .map_err(Error::InvalidSchema)?;
        Ok(Schema(Arc::new(Plan {
            dialect,
            source: source.to_owned(),
            ..plan
        })))
    }

    /// The dialect the document was compiled as.
    pub fn dialect(&self) -> SchemaDialect {
        self.0.dialect
    }

    /// The document as given.
    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// The fields; slot `i` is `fields()[i]`.
    pub fn fields(&self) -> &[Field] {
        &self.0.fields
    }

    /// The slot of a field.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.0.fields.iter().position(|f| f.name == name)
    }

    /// The slots of the primary key, in key order.
    pub fn primary_key(&self) -> Option<&[usize]> {
        self.0.primary_key.as_deref()
    }

    /// Whether every value a valid row can hold in `slot` as text is a UUID (the field has
    /// `format: uuid`), upper- or lower-case.
    pub(crate) fn is_uuid_field(&self, slot: usize) -> bool {
        self.0
            .checks
            .get(slot)
            .is_some_and(|c| c.format == Some(StrFormat::Uuid))
    }

    /// Slots with a single-field unique constraint, other than a one-field primary key.
    pub fn unique_slots(&self) -> &[usize] {
        &self.0.unique_slots
    }

    /// Whether keys / columns that are not fields are allowed (JSON Schema
    /// `additionalProperties`, default true; always false for Table Schema).
    pub fn additional_allowed(&self) -> bool {
        self.0.additional
    }

    /// The `x-maxRows` extension: the most data rows a file may have.
    pub fn max_rows(&self) -> Option<u64> {
        self.0.max_rows
    }
}
