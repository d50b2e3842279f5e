//! Compiling JSON Schema (subset) and Table Schema documents into a [`Plan`].
//!
//! Errors are plain messages; the caller wraps them in `Error::InvalidSchema`.

use serde_json::Number;

use super::doc::Doc;
use super::pattern::Matcher;
use super::values;
use super::{
    Allowed, Bound, CellOp, Checks, EnumValue, Field, FieldType, Pattern, Plan, Quick,
    SchemaDialect, StrFormat,
};

type Res<T> = std::result::Result<T, String>;

/// JSON Schema annotations, accepted and ignored everywhere.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "readOnly",
    "writeOnly",
    "deprecated",
];

const JSON_TOP: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "x-primaryKey",
    "x-maxRows",
];

const JSON_PROPERTY: &[&str] = &[
    "type",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "format",
    "x-unique",
];

const TABLE_TOP: &[&str] = &[
    "fields",
    "primaryKey",
    "missingValues",
    "x-maxRows",
    "$schema",
    "name",
    "title",
    "description",
];
const TABLE_FIELD: &[&str] = &[
    "name",
    "type",
    "format",
    "title",
    "description",
    "example",
    "constraints",
];
const TABLE_CONSTRAINTS: &[&str] = &[
    "required",
    "unique",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
    "enum",
];

fn entries<'d>(doc: &'d Doc, what: &str) -> Res<&'d [(String, Doc)]> {
    match doc {
        Doc::Obj(e) => Ok(e),
        other => Err(format!("{what} must be an object, got {}", other.kind())),
    }
}

fn unsupported(path: &str, key: &str) -> String {
    format!("{path}: keyword '{key}' is not supported")
}

fn as_bool(path: &str, key: &str, v: &Doc) -> Res<bool> {
    match v {
        Doc::Bool(b) => Ok(*b),
        other => Err(format!(
            "{path}: '{key}' must be a boolean, got {}",
            other.kind()
        )),
    }
}

fn as_str<'d>(path: &str, key: &str, v: &'d Doc) -> Res<&'d str> {
    match v {
        Doc::Str(s) => Ok(s),
        other => Err(format!(
            "{path}: '{key}' must be a string, got {}",
            other.kind()
        )),
    }
}

fn as_count(path: &str, key: &str, v: &Doc) -> Res<u64> {
    let n = match v {
        Doc::Num(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .and_then(values::f64_as_i64)
                .and_then(|i| u64::try_from(i).ok())
        }),
        _ => None,
    };
    n.ok_or_else(|| format!("{path}: '{key}' must be a non-negative integer, got {v}"))
}

fn number_bound(n: &Number) -> Bound {
    let int = n
        .as_i64()
        .or_else(|| n.as_f64().and_then(values::f64_as_i64));
    Bound {
        value: n.as_f64().unwrap_or(0.0),
        int,
        text: n.to_string(),
    }
}

fn as_bound(path: &str, key: &str, v: &Doc) -> Res<Bound> {
    match v {
        Doc::Num(n) => Ok(number_bound(n)),
        other => Err(format!(
            "{path}: '{key}' must be a number, got {}",
            other.kind()
        )),
    }
}

fn compile_pattern(path: &str, source: &str, anchored: bool) -> Res<Pattern> {
    let text = if anchored {
        format!("^(?:{source})$")
    } else {
        source.to_owned()
    };
    let matcher = Matcher::new(&text).map_err(|e| {
        format!("{path}: pattern '{source}' is not a valid regular expression: {e}")
    })?;
    Ok(Pattern {
        matcher,
        source: source.to_owned(),
    })
}

fn x_max_rows(v: &Doc) -> Res<u64> {
    match v {
        Doc::Num(n) => n.as_u64().filter(|n| *n >= 1),
        _ => None,
    }
    .ok_or_else(|| format!("'x-maxRows' must be a positive integer, got {v}"))
}

/// Field names of a primary key (a name or a non-empty array of names), resolved to slots.
fn primary_key(key: &str, v: &Doc, fields: &[Field]) -> Res<Vec<usize>> {
    let names: Vec<&str> = match v {
        Doc::Str(s) => vec![s.as_str()],
        Doc::Arr(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Doc::Str(s) => Ok(s.as_str()),
                other => Err(format!(
                    "'{key}' must list field names, got {}",
                    other.kind()
                )),
            })
            .collect::<Res<_>>()?,
        other => {
            return Err(format!(
                "'{key}' must be a field name or a non-empty array of field names, got {other}"
            ))
        }
    };
    let mut slots = Vec::with_capacity(names.len());
    for name in names {
        let slot = fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| format!("'{key}' names '{name}', which is not a field of the schema"))?;
        if slots.contains(&slot) {
            return Err(format!("'{key}' names '{name}' twice"));
        }
        slots.push(slot);
    }
    Ok(slots)
}

/// Applies the primary key and collects the unique slots.
fn finish(
    dialect: SchemaDialect,
    mut fields: Vec<Field>,
    mut checks: Vec<Checks>,
    pk: Option<Vec<usize>>,
    additional: bool,
    max_rows: Option<u64>,
    missing_values: Option<Vec<String>>,
) -> Plan {
    for (c, f) in checks.iter_mut().zip(&fields) {
        c.quick = Quick::of(c);
        c.op = CellOp::of(f.ty, c.quick);
    }
    let declared_unique: Vec<usize> = (0..fields.len())
        .filter(|&i| fields.get(i).is_some_and(|f| f.unique))
        .collect();
    if let Some(pk) = &pk {
        for &slot in pk {
            if let Some(f) = fields.get_mut(slot) {
                f.required = true;
                f.nullable = false;
                f.unique = true;
            }
        }
    }
    let single_pk = match pk.as_deref() {
        Some([only]) => Some(*only),
        _ => None,
    };
    let unique_slots = declared_unique
        .into_iter()
        .filter(|s| Some(*s) != single_pk)
        .collect();
    let mut required = vec![0u64; fields.len().div_ceil(64)];
    for (slot, f) in fields.iter().enumerate() {
        if f.required {
            if let Some(w) = required.get_mut(slot / 64) {
                *w |= 1 << (slot % 64);
            }
        }
    }
    let name_heads = fields
        .iter()
        .map(|f| (values::load8(f.name.as_bytes()), f.name.len()))
        .collect();
    Plan {
        dialect,
        source: String::new(),
        name_heads,
        required,
        fields,
        checks,
        primary_key: pk,
        unique_slots,
        additional,
        max_rows,
        missing_values,
    }
}

// ------------------------------------------------------------------------------------------------
// JSON Schema

/// Compiles the JSON Schema subset.
pub(crate) fn json_schema(doc: &Doc) -> Res<Plan> {
    let top = entries(doc, "a JSON Schema")?;
    let path = "top level";
    for (k, _) in top {
        if !ANNOTATIONS.contains(&k.as_str()) && !JSON_TOP.contains(&k.as_str()) {
            return Err(unsupported(path, k));
        }
    }
    if let Some(t) = doc.get("type") {
        if *t != Doc::Str("object".into()) {
            return Err(format!("{path}: 'type' must be \"object\", got {t}"));
        }
    }
    let props = match doc.get("properties") {
        Some(Doc::Obj(p)) if !p.is_empty() => p,
        Some(Doc::Obj(_)) | None => return Err("the schema defines no properties".into()),
        Some(other) => {
            return Err(format!(
                "{path}: 'properties' must be an object, got {}",
                other.kind()
            ))
        }
    };
    let mut required: Vec<&str> = Vec::new();
    if let Some(r) = doc.get("required") {
        let Doc::Arr(items) = r else {
            return Err(format!(
                "{path}: 'required' must be an array of property names, got {}",
                r.kind()
            ));
        };
        for item in items {
            let Doc::Str(name) = item else {
                return Err(format!(
                    "{path}: 'required' must list property names, got {item}"
                ));
            };
            if !props.iter().any(|(k, _)| k == name) {
                return Err(format!(
                    "{path}: 'required' names '{name}', which is not in 'properties'"
                ));
            }
            if required.contains(&name.as_str()) {
                return Err(format!("{path}: 'required' names '{name}' twice"));
            }
            required.push(name);
        }
    }
    let additional = match doc.get("additionalProperties") {
        None => true,
        Some(Doc::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "{path}: 'additionalProperties' must be a boolean (schemas for additional properties are not supported), got {}",
                other.kind()
            ))
        }
    };
    let mut fields = Vec::with_capacity(props.len());
    let mut checks = Vec::with_capacity(props.len());
    for (name, def) in props {
        let (field, check) = json_property(name, def, required.contains(&name.as_str()))?;
        fields.push(field);
        checks.push(check);
    }
    let pk = doc
        .get("x-primaryKey")
        .map(|v| primary_key("x-primaryKey", v, &fields))
        .transpose()?;
    let max_rows = doc.get("x-maxRows").map(x_max_rows).transpose()?;
    Ok(finish(
        SchemaDialect::JsonSchema,
        fields,
        checks,
        pk,
        additional,
        max_rows,
        None,
    ))
}

/// `type`: one of the scalar types, optionally with "null".
fn json_type(path: &str, t: &Doc) -> Res<(FieldType, bool)> {
    fn one(path: &str, name: &str) -> Res<FieldType> {
        match name {
            "string" => Ok(FieldType::String),
            "integer" => Ok(FieldType::Integer),
            "number" => Ok(FieldType::Number),
            "boolean" => Ok(FieldType::Boolean),
            other => Err(format!(
                "{path}: type '{other}' is not supported (supported: string, integer, number, boolean, optionally with \"null\")"
            )),
        }
    }
    match t {
        Doc::Str(s) => Ok((one(path, s)?, false)),
        Doc::Arr(items) => {
            let mut ty = None;
            let mut nullable = false;
            for item in items {
                match item {
                    Doc::Str(s) if s == "null" && !nullable => nullable = true,
                    Doc::Str(s) if s != "null" && ty.is_none() => ty = Some(one(path, s)?),
                    _ => {
                        return Err(format!(
                            "{path}: 'type' {t} is not supported (one type, optionally with \"null\", e.g. [\"string\", \"null\"])"
                        ))
                    }
                }
            }
            ty.map(|ty| (ty, nullable))
                .ok_or_else(|| format!("{path}: 'type' {t} names no type besides \"null\""))
        }
        other => Err(format!(
            "{path}: 'type' must be a string or an array, got {}",
            other.kind()
        )),
    }
}

/// Types whose values are kept as text.
pub(crate) fn is_stringish(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::String
            | FieldType::Date
            | FieldType::DateTime
            | FieldType::Time
            | FieldType::Any
    )
}

fn is_numeric(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Integer | FieldType::Number | FieldType::Year | FieldType::Any
    )
}

/// A JSON value from `enum`/`const` as an allowed value, checked against the field's type.
fn json_enum_value(
    path: &str,
    key: &str,
    v: &Doc,
    ty: FieldType,
    nullable: bool,
) -> Res<EnumValue> {
    let wrong = || {
        format!(
            "{path}: '{key}' value {v} is not of the property's type {}",
            ty.as_str()
        )
    };
    Ok(match v {
        Doc::Null if nullable => EnumValue::Null,
        Doc::Bool(b) if matches!(ty, FieldType::Boolean | FieldType::Any) => EnumValue::Bool(*b),
        Doc::Str(s) if is_stringish(ty) => EnumValue::Str(s.clone()),
        Doc::Num(n) if matches!(ty, FieldType::Number | FieldType::Any) => match n.as_i64() {
            Some(i) => EnumValue::Int(i),
            None => EnumValue::Num(n.as_f64().unwrap_or(0.0)),
        },
        Doc::Num(n) if ty == FieldType::Integer => {
            match n
                .as_i64()
                .or_else(|| n.as_f64().and_then(values::f64_as_i64))
            {
                Some(i) => EnumValue::Int(i),
                None => return Err(wrong()),
            }
        }
        Doc::Arr(_) | Doc::Obj(_) => {
            return Err(format!("{path}: '{key}' values must be scalars, got {v}"))
        }
        _ => return Err(wrong()),
    })
}

fn enum_text(values: &[EnumValue]) -> String {
    values
        .iter()
        .map(|v| match v {
            EnumValue::Null => "null".to_owned(),
            EnumValue::Bool(b) => b.to_string(),
            EnumValue::Int(i) => i.to_string(),
            EnumValue::Num(f) => f.to_string(),
            EnumValue::Str(s) => s.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_property(name: &str, def: &Doc, required: bool) -> Res<(Field, Checks)> {
    let path = format!("properties.{name}");
    let path = path.as_str();
    let Doc::Obj(keys) = def else {
        return Err(format!(
            "{path}: a property must be a schema object, got {}",
            def.kind()
        ));
    };
    for (k, _) in keys {
        if !ANNOTATIONS.contains(&k.as_str()) && !JSON_PROPERTY.contains(&k.as_str()) {
            return Err(unsupported(path, k));
        }
    }
    let (mut ty, nullable) = match def.get("type") {
        Some(t) => json_type(path, t)?,
        None => (FieldType::Any, true),
    };
    let mut checks = Checks::default();
    let need_string = |key: &str, ty: FieldType| -> Res<()> {
        if is_stringish(ty) {
            Ok(())
        } else {
            Err(format!(
                "{path}: '{key}' applies to strings, but the type is {}",
                ty.as_str()
            ))
        }
    };
    if let Some(f) = def.get("format") {
        let f = as_str(path, "format", f)?;
        need_string("format", ty)?;
        let (format, as_type) = match f {
            "date-time" => (StrFormat::DateTime, FieldType::DateTime),
            "date" => (StrFormat::Date, FieldType::Date),
            "time" => (StrFormat::Time, FieldType::Time),
            "uuid" => (StrFormat::Uuid, FieldType::String),
            "email" => (StrFormat::Email, FieldType::String),
            "uri" => (StrFormat::Uri, FieldType::String),
            other => {
                return Err(format!(
                    "{path}: format '{other}' is not supported (supported: date-time, date, time, uuid, email, uri)"
                ))
            }
        };
        checks.format = Some(format);
        if ty == FieldType::String {
            ty = as_type;
        }
    }
    if let Some(p) = def.get("pattern") {
        need_string("pattern", ty)?;
        checks.pattern = Some(compile_pattern(path, as_str(path, "pattern", p)?, false)?);
    }
    if let Some(v) = def.get("minLength") {
        need_string("minLength", ty)?;
        checks.min_length = Some(as_count(path, "minLength", v)?);
    }
    if let Some(v) = def.get("maxLength") {
        need_string("maxLength", ty)?;
        checks.max_length = Some(as_count(path, "maxLength", v)?);
    }
    if let (Some(min), Some(max)) = (checks.min_length, checks.max_length) {
        if min > max {
            return Err(format!(
                "{path}: minLength {min} is greater than maxLength {max}"
            ));
        }
    }
    for (key, slot) in [
        ("minimum", &mut checks.minimum),
        ("exclusiveMinimum", &mut checks.exclusive_minimum),
        ("maximum", &mut checks.maximum),
        ("exclusiveMaximum", &mut checks.exclusive_maximum),
    ] {
        if let Some(v) = def.get(key) {
            if !is_numeric(ty) {
                return Err(format!(
                    "{path}: '{key}' applies to numbers, but the type is {}",
                    ty.as_str()
                ));
            }
            *slot = Some(as_bound(path, key, v)?);
        }
    }
    check_bounds_order(path, &checks)?;
    let check_ty = if matches!(ty, FieldType::Date | FieldType::DateTime | FieldType::Time) {
        FieldType::String
    } else {
        ty
    };
    match (def.get("enum"), def.get("const")) {
        (Some(_), Some(_)) => {
            return Err(format!("{path}: give either 'enum' or 'const', not both"))
        }
        (Some(Doc::Arr(items)), None) if !items.is_empty() => {
            let values = items
                .iter()
                .map(|v| json_enum_value(path, "enum", v, check_ty, nullable))
                .collect::<Res<Vec<_>>>()?;
            let text = enum_text(&values);
            checks.allowed = Some(Allowed::new(values, text, false));
        }
        (Some(other), None) => {
            return Err(format!(
                "{path}: 'enum' must be a non-empty array, got {other}"
            ))
        }
        (None, Some(c)) => {
            let value = json_enum_value(path, "const", c, check_ty, nullable)?;
            let text = match c {
                Doc::Str(s) => quote_plain(s),
                other => other.to_string(),
            };
            checks.allowed = Some(Allowed::new(vec![value], text, true));
        }
        (None, None) => {}
    }
    let unique = match def.get("x-unique") {
        Some(v) => as_bool(path, "x-unique", v)?,
        None => false,
    };
    Ok((
        Field {
            name: name.to_owned(),
            ty,
            required,
            nullable,
            unique,
        },
        checks,
    ))
}

fn quote_plain(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn check_bounds_order(path: &str, c: &Checks) -> Res<()> {
    let lows = [c.minimum.as_ref(), c.exclusive_minimum.as_ref()];
    let highs = [c.maximum.as_ref(), c.exclusive_maximum.as_ref()];
    for lo in lows.into_iter().flatten() {
        for hi in highs.into_iter().flatten() {
            if lo.value > hi.value {
                return Err(format!(
                    "{path}: the lower bound {} is greater than the upper bound {}",
                    lo.text, hi.text
                ));
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Table Schema

/// Compiles the Table Schema subset.
pub(crate) fn table_schema(doc: &Doc) -> Res<Plan> {
    let top = entries(doc, "a Table Schema")?;
    for (k, _) in top {
        if !TABLE_TOP.contains(&k.as_str()) {
            return Err(unsupported("top level", k));
        }
    }
    let defs = match doc.get("fields") {
        Some(Doc::Arr(items)) if !items.is_empty() => items,
        Some(Doc::Arr(_)) | None => return Err("the schema defines no fields".into()),
        Some(other) => {
            return Err(format!(
                "top level: 'fields' must be an array, got {}",
                other.kind()
            ))
        }
    };
    let mut fields: Vec<Field> = Vec::with_capacity(defs.len());
    let mut checks = Vec::with_capacity(defs.len());
    for (i, def) in defs.iter().enumerate() {
        let (field, check) = table_field(i, def)?;
        if fields.iter().any(|f| f.name == field.name) {
            return Err(format!(
                "fields[{i}]: the name '{}' is used by another field",
                field.name
            ));
        }
        fields.push(field);
        checks.push(check);
    }
    let pk = doc
        .get("primaryKey")
        .map(|v| primary_key("primaryKey", v, &fields))
        .transpose()?;
    let max_rows = doc.get("x-maxRows").map(x_max_rows).transpose()?;
    let missing_values = match doc.get("missingValues") {
        None => None,
        Some(Doc::Arr(items)) => Some(
            items
                .iter()
                .map(|v| match v {
                    Doc::Str(s) => Ok(s.clone()),
                    other => Err(format!(
                        "top level: 'missingValues' must list strings, got {other}"
                    )),
                })
                .collect::<Res<Vec<_>>>()?,
        ),
        Some(other) => {
            return Err(format!(
                "top level: 'missingValues' must be an array of strings, got {}",
                other.kind()
            ))
        }
    };
    Ok(finish(
        SchemaDialect::TableSchema,
        fields,
        checks,
        pk,
        false,
        max_rows,
        missing_values,
    ))
}

/// A Table Schema constraint value for a numeric field: a number, or its CSV text.
fn table_number(path: &str, key: &str, v: &Doc, ty: FieldType) -> Res<EnumValue> {
    let bad = || {
        format!(
            "{path}: '{key}' value {v} is not of the field's type {}",
            ty.as_str()
        )
    };
    let value = match (v, ty) {
        (Doc::Num(n), FieldType::Number) => match n.as_i64() {
            Some(i) => EnumValue::Int(i),
            None => EnumValue::Num(n.as_f64().unwrap_or(0.0)),
        },
        (Doc::Num(n), _) => EnumValue::Int(
            n.as_i64()
                .or_else(|| n.as_f64().and_then(values::f64_as_i64))
                .ok_or_else(bad)?,
        ),
        (Doc::Str(s), FieldType::Number) => {
            EnumValue::Num(values::parse_csv_number(s).ok_or_else(bad)?)
        }
        (Doc::Str(s), FieldType::Year) => {
            EnumValue::Int(values::parse_csv_year(s).ok_or_else(bad)?)
        }
        (Doc::Str(s), _) => match values::parse_csv_int(s) {
            Some(values::CsvInt::Int(i)) => EnumValue::Int(i),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    Ok(value)
}

fn table_field(i: usize, def: &Doc) -> Res<(Field, Checks)> {
    let Doc::Obj(keys) = def else {
        return Err(format!(
            "fields[{i}]: a field must be an object, got {}",
            def.kind()
        ));
    };
    let name = match def.get("name") {
        Some(Doc::Str(s)) if !s.is_empty() => s.clone(),
        _ => return Err(format!("fields[{i}]: 'name' must be a non-empty string")),
    };
    let path = format!("fields.{name}");
    let path = path.as_str();
    for (k, _) in keys {
        if !TABLE_FIELD.contains(&k.as_str()) {
            return Err(unsupported(path, k));
        }
    }
    let ty = match def.get("type") {
        None => FieldType::String,
        Some(t) => match as_str(path, "type", t)? {
            "string" => FieldType::String,
            "integer" => FieldType::Integer,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "time" => FieldType::Time,
            "year" => FieldType::Year,
            "any" => FieldType::Any,
            other => {
                return Err(format!(
                    "{path}: type '{other}' is not supported (supported: string, integer, number, boolean, date, datetime, time, year, any)"
                ))
            }
        },
    };
    let mut checks = Checks {
        format: match ty {
            FieldType::Date => Some(StrFormat::Date),
            FieldType::DateTime => Some(StrFormat::DateTime),
            FieldType::Time => Some(StrFormat::Time),
            _ => None,
        },
        ..Checks::default()
    };
    if let Some(f) = def.get("format") {
        let f = as_str(path, "format", f)?;
        match (ty, f) {
            (_, "default") => {}
            (FieldType::String, "email") => checks.format = Some(StrFormat::Email),
            (FieldType::String, "uri") => checks.format = Some(StrFormat::Uri),
            (FieldType::String, "uuid") => checks.format = Some(StrFormat::Uuid),
            (t, "any") if t != FieldType::String => {}
            (FieldType::String, other) => {
                return Err(format!("{path}: format '{other}' is not supported for strings (supported: default, email, uri, uuid)"))
            }
            (t, other) => {
                return Err(format!("{path}: format '{other}' is not supported for type {} (only \"default\")", t.as_str()))
            }
        }
    }
    let mut required = false;
    let mut unique = false;
    if let Some(c) = def.get("constraints") {
        let cpath = format!("{path}.constraints");
        let cpath = cpath.as_str();
        for (k, _) in entries(c, cpath)? {
            if !TABLE_CONSTRAINTS.contains(&k.as_str()) {
                return Err(unsupported(cpath, k));
            }
        }
        if let Some(v) = c.get("required") {
            required = as_bool(cpath, "required", v)?;
        }
        if let Some(v) = c.get("unique") {
            unique = as_bool(cpath, "unique", v)?;
        }
        for (key, slot) in [
            ("minLength", &mut checks.min_length),
            ("maxLength", &mut checks.max_length),
        ] {
            if let Some(v) = c.get(key) {
                if ty != FieldType::String {
                    return Err(format!(
                        "{cpath}: '{key}' applies to string fields, but the type is {}",
                        ty.as_str()
                    ));
                }
                *slot = Some(as_count(cpath, key, v)?);
            }
        }
        if let (Some(min), Some(max)) = (checks.min_length, checks.max_length) {
            if min > max {
                return Err(format!(
                    "{cpath}: minLength {min} is greater than maxLength {max}"
                ));
            }
        }
        for (key, slot) in [
            ("minimum", &mut checks.minimum),
            ("maximum", &mut checks.maximum),
        ] {
            if let Some(v) = c.get(key) {
                if !matches!(ty, FieldType::Integer | FieldType::Number | FieldType::Year) {
                    return Err(format!(
                        "{cpath}: '{key}' is supported for integer, number and year fields, but the type is {}",
                        ty.as_str()
                    ));
                }
                let bound = match table_number(cpath, key, v, ty)? {
                    EnumValue::Int(i) => Bound {
                        value: i as f64,
                        int: Some(i),
                        text: i.to_string(),
                    },
                    EnumValue::Num(f) => Bound {
                        value: f,
                        int: values::f64_as_i64(f),
                        text: f.to_string(),
                    },
                    _ => return Err(format!("{cpath}: '{key}' must be a number")),
                };
                *slot = Some(bound);
            }
        }
        check_bounds_order(cpath, &checks)?;
        if let Some(p) = c.get("pattern") {
            if !matches!(
                ty,
                FieldType::String | FieldType::Date | FieldType::DateTime | FieldType::Time
            ) {
                return Err(format!(
                    "{cpath}: 'pattern' is supported for string, date, datetime and time fields, but the type is {}",
                    ty.as_str()
                ));
            }
            checks.pattern = Some(compile_pattern(cpath, as_str(cpath, "pattern", p)?, true)?);
        }
        if let Some(e) = c.get("enum") {
            let Doc::Arr(items) = e else {
                return Err(format!(
                    "{cpath}: 'enum' must be a non-empty array, got {e}"
                ));
            };
            if items.is_empty() {
                return Err(format!("{cpath}: 'enum' must be a non-empty array"));
            }
            let values = items
                .iter()
                .map(|v| match (ty, v) {
                    (FieldType::Integer | FieldType::Number | FieldType::Year, _) => {
                        table_number(cpath, "enum", v, ty)
                    }
                    (FieldType::Boolean, Doc::Bool(b)) => Ok(EnumValue::Bool(*b)),
                    (FieldType::Boolean, Doc::Str(s)) => values::parse_csv_bool(s)
                        .map(EnumValue::Bool)
                        .ok_or_else(|| format!("{cpath}: 'enum' value {v} is not a boolean")),
                    (FieldType::Any, Doc::Bool(b)) => Ok(EnumValue::Bool(*b)),
                    (FieldType::Any, Doc::Num(n)) => Ok(match n.as_i64() {
                        Some(i) => EnumValue::Int(i),
                        None => EnumValue::Num(n.as_f64().unwrap_or(0.0)),
                    }),
                    (_, Doc::Str(s)) => Ok(EnumValue::Str(s.clone())),
                    _ => Err(format!(
                        "{cpath}: 'enum' value {v} is not of the field's type {}",
                        ty.as_str()
                    )),
                })
                .collect::<Res<Vec<_>>>()?;
            let text = enum_text(&values);
            checks.allowed = Some(Allowed::new(values, text, false));
        }
    }
    Ok((
        Field {
            name,
            ty,
            required,
            nullable: !required,
            unique,
        },
        checks,
    ))
}
