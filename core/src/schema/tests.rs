//! Tests of schema compilation and row validation (value rules are tested in `values.rs`).

use super::*;
use crate::types::{Cell, RowError, RowErrorCode};

// ------------------------------------------------------------------------------------------------
// helpers

fn tape_of(bytes: &mut [u8]) -> simd_json::Tape<'_> {
    let mut buffers = simd_json::Buffers::default();
    let mut tape = simd_json::Tape(Vec::new());
    simd_json::fill_tape(bytes, &mut buffers, &mut tape).expect("test row parses");
    tape
}

/// Validates a JSON row; returns (valid, errors, cells as Debug strings).
fn json(schema: &Schema, row: &str) -> (bool, Vec<RowError>, Vec<String>) {
    let mut bytes = row.as_bytes().to_vec();
    let tape = tape_of(&mut bytes);
    let mut cells = vec![Cell::Bool(true); 3];
    let mut errors = vec![];
    let ok = schema.validate_json(&tape.0, 7, Some(9), &mut cells, &mut errors);
    assert_eq!(cells.len(), schema.fields().len());
    assert!(errors.iter().all(|e| e.row == 7 && e.line == Some(9)));
    assert_eq!(ok, errors.is_empty(), "{errors:?}");
    (ok, errors, cells.iter().map(|c| format!("{c:?}")).collect())
}

/// Validates one CSV record given as its cells.
fn csv_row(
    schema: &Schema,
    cols: &CsvColumns,
    cells_in: &[&str],
) -> (bool, Vec<RowError>, Vec<String>) {
    let record: String = cells_in.concat();
    let mut ends = vec![];
    let mut end = 0;
    for c in cells_in {
        end += c.len();
        ends.push(end);
    }
    let mut cells = vec![];
    let mut errors = vec![];
    let ok = schema.validate_csv(cols, &record, &ends, 0, 3, Some(4), &mut cells, &mut errors);
    assert_eq!(cells.len(), schema.fields().len());
    assert!(errors.iter().all(|e| e.row == 3 && e.line == Some(4)));
    assert_eq!(ok, errors.is_empty(), "{errors:?}");
    (ok, errors, cells.iter().map(|c| format!("{c:?}")).collect())
}

fn codes(errors: &[RowError]) -> Vec<&'static str> {
    errors.iter().map(|e| e.code.as_str()).collect()
}

fn messages(errors: &[RowError]) -> Vec<&str> {
    errors.iter().map(|e| e.message.as_str()).collect()
}

fn schema_err(doc: &str) -> String {
    match Schema::compile(doc) {
        Err(Error::InvalidSchema(m)) => m,
        other => panic!("expected InvalidSchema for {doc}, got {other:?}"),
    }
}

/// A one-property JSON Schema.
fn prop(def: &str) -> Schema {
    Schema::compile(&format!(
        r#"{{"type":"object","properties":{{"v":{def}}},"required":["v"]}}"#
    ))
    .unwrap_or_else(|e| panic!("{def}: {e}"))
}

fn prop_optional(def: &str) -> Schema {
    Schema::compile(&format!(
        r#"{{"type":"object","properties":{{"v":{def}}}}}"#
    ))
    .unwrap_or_else(|e| panic!("{def}: {e}"))
}

/// The codes of validating `{"v": value}`.
fn v_codes(schema: &Schema, value: &str) -> Vec<&'static str> {
    codes(&json(schema, &format!(r#"{{"v":{value}}}"#)).1)
}

fn v_cell(schema: &Schema, value: &str) -> String {
    let (ok, errors, cells) = json(schema, &format!(r#"{{"v":{value}}}"#));
    assert!(ok, "{value}: {errors:?}");
    cells[0].clone()
}

/// A one-field Table Schema.
fn table(field: &str) -> Schema {
    Schema::compile(&format!(r#"{{"fields":[{field}]}}"#))
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

fn t_csv(schema: &Schema, value: &str) -> (bool, Vec<RowError>, Vec<String>) {
    let name = schema.fields()[0].name.clone();
    let cols = schema.csv_columns(&[name.as_str()]).unwrap();
    csv_row(schema, &cols, &[value])
}

fn t_codes(schema: &Schema, value: &str) -> Vec<&'static str> {
    codes(&t_csv(schema, value).1)
}

const POP: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "pop 1.0",
  "description": "Proof-of-play event from a digital screen.",
  "type": "object",
  "properties": {
    "eventId": { "type": "string", "format": "uuid" },
    "screenId": { "type": "string", "pattern": "^SCR-[0-9]{6}$" },
    "creativeId": { "type": "string", "minLength": 1, "maxLength": 64 },
    "campaignId": { "type": "string", "minLength": 1, "maxLength": 64 },
    "playedAt": { "type": "string", "format": "date-time" },
    "durationMs": { "type": "integer", "minimum": 1, "maximum": 3600000 },
    "impressions": { "type": "number", "minimum": 0 },
    "venueType": { "type": "string", "enum": ["transit", "retail", "outdoor", "airport", "gym", "office"] },
    "latitude": { "type": "number", "minimum": -90, "maximum": 90 },
    "longitude": { "type": "number", "minimum": -180, "maximum": 180 },
    "playStatus": { "type": "string", "enum": ["completed", "interrupted", "skipped"] }
  },
  "required": ["eventId", "screenId", "creativeId", "campaignId", "playedAt", "durationMs", "venueType", "playStatus"],
  "additionalProperties": false,
  "x-primaryKey": "eventId"
}"#;

const POP_ROW: &str = r#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","screenId":"SCR-000123","creativeId":"cr-1","campaignId":"ca-1","playedAt":"2025-01-27T10:00:00Z","durationMs":15000,"impressions":3.5,"venueType":"retail","latitude":48.85,"longitude":2.35,"playStatus":"completed"}"#;

const POP_HEADER: [&str; 11] = [
    "eventId",
    "screenId",
    "creativeId",
    "campaignId",
    "playedAt",
    "durationMs",
    "impressions",
    "venueType",
    "latitude",
    "longitude",
    "playStatus",
];

const POP_CSV: [&str; 11] = [
    "123e4567-e89b-12d3-a456-426614174000",
    "SCR-000123",
    "cr-1",
    "ca-1",
    "2025-01-27T10:00:00Z",
    "15000",
    "3.5",
    "retail",
    "48.85",
    "2.35",
    "completed",
];

const CONTENT: &str = r#"{
  "$schema": "https://specs.frictionlessdata.io/schemas/table-schema.json",
  "title": "content 1.0",
  "description": "Bulk content upload template.",
  "fields": [
    { "name": "name", "type": "string", "constraints": { "required": true, "minLength": 1, "maxLength": 256 } },
    { "name": "code", "type": "string", "constraints": { "required": true, "pattern": "^[A-Za-z0-9_.-]+$", "unique": true } },
    { "name": "mimeType", "type": "string", "constraints": { "required": true, "enum": [
      "application/pdf", "video/mp4", "video/webm", "video/x-youtube", "application/epub",
      "application/vnd.ekstep.ecml-archive", "application/vnd.ekstep.html-archive",
      "application/vnd.ekstep.h5p-archive", "text/x-url" ] } },
    { "name": "contentType", "type": "string", "constraints": { "required": true, "enum": [
      "Resource", "eTextBook", "TeachingMethod", "PracticeQuestionSet", "ExplanationResource",
      "ExperientialResource", "ConceptMap", "SelfAssess" ] } },
    { "name": "board", "type": "string", "constraints": { "required": true, "minLength": 1, "maxLength": 256 } },
    { "name": "medium", "type": "string", "constraints": { "required": true, "minLength": 1, "maxLength": 256 } },
    { "name": "gradeLevel", "type": "string", "constraints": { "required": true, "minLength": 1, "maxLength": 256 } },
    { "name": "subject", "type": "string", "constraints": { "required": true, "minLength": 1, "maxLength": 256 } },
    { "name": "fileUrl", "type": "string", "format": "uri", "constraints": { "required": true, "pattern": "^https?://.+" } },
    { "name": "description", "type": "string", "constraints": { "maxLength": 2000 } },
    { "name": "appIcon", "type": "string", "format": "uri", "constraints": { "pattern": "^https?://.+" } },
    { "name": "keywords", "type": "string" },
    { "name": "audience", "type": "string", "constraints": { "enum": ["Student", "Teacher", "Administrator", "Parent", "Other"] } }
  ],
  "x-maxRows": 3000
}"#;

const CONTENT_HEADER: [&str; 13] = [
    "name",
    "code",
    "mimeType",
    "contentType",
    "board",
    "medium",
    "gradeLevel",
    "subject",
    "fileUrl",
    "description",
    "appIcon",
    "keywords",
    "audience",
];

const CONTENT_ROW: [&str; 13] = [
    "Fractions 101",
    "MATH_fr-101.v2",
    "video/mp4",
    "Resource",
    "CBSE",
    "English",
    "Class 5, Class 6",
    "Mathematics",
    "https://cdn.example.com/f.mp4",
    "",
    "",
    "fractions,math",
    "Student",
];

// ------------------------------------------------------------------------------------------------
// the example datasets

#[test]
fn pop_schema_compiles_to_the_expected_plan() {
    let s = Schema::compile(POP).unwrap();
    assert_eq!(s.dialect(), SchemaDialect::JsonSchema);
    assert_eq!(s.source(), POP);
    let names: Vec<&str> = s.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, POP_HEADER);
    assert_eq!(s.slot("playedAt"), Some(4));
    assert_eq!(s.slot("nope"), None);
    assert_eq!(s.primary_key(), Some(&[0usize][..]));
    assert!(s.unique_slots().is_empty());
    assert!(!s.additional_allowed());
    assert_eq!(s.max_rows(), None);
    let f = |n: &str| s.fields()[s.slot(n).unwrap()].clone();
    assert_eq!(
        f("eventId"),
        Field {
            name: "eventId".into(),
            ty: FieldType::String,
            required: true,
            nullable: false,
            unique: true
        }
    );
    assert_eq!(f("playedAt").ty, FieldType::DateTime);
    assert_eq!(f("durationMs").ty, FieldType::Integer);
    assert_eq!(f("impressions").ty, FieldType::Number);
    assert!(!f("impressions").required);
    assert!(!f("impressions").nullable);
    let clone = s.clone();
    assert!(std::ptr::eq(clone.fields(), s.fields()));
}

#[test]
fn pop_valid_json_row_fills_typed_cells() {
    let s = Schema::compile(POP).unwrap();
    let (ok, _, cells) = json(&s, POP_ROW);
    assert!(ok);
    assert_eq!(
        cells,
        [
            r#"Str("123e4567-e89b-12d3-a456-426614174000")"#,
            r#"Str("SCR-000123")"#,
            r#"Str("cr-1")"#,
            r#"Str("ca-1")"#,
            r#"Str("2025-01-27T10:00:00Z")"#,
            "Int(15000)",
            "Num(3.5)",
            r#"Str("retail")"#,
            "Num(48.85)",
            "Num(2.35)",
            r#"Str("completed")"#,
        ]
    );
    // Keys in another order, optional fields left out.
    let (ok, _, cells) = json(
        &s,
        r#"{"playStatus":"skipped","durationMs":1,"eventId":"123E4567-E89B-12D3-A456-426614174000","screenId":"SCR-999999","creativeId":"c","campaignId":"d","playedAt":"2024-02-29T23:59:60.123+05:30","venueType":"gym"}"#,
    );
    assert!(ok);
    assert_eq!(cells[6], "Null");
    assert_eq!(cells[5], "Int(1)");
}

#[test]
fn pop_invalid_json_rows_give_actionable_messages() {
    let s = Schema::compile(POP).unwrap();
    let row = r#"{"screenId":"SCR-12","creativeId":"c","campaignId":"d","playedAt":"2025-01-27 10:00:00Z","durationMs":0,"venueType":"mall","colour":"red","playStatus":"completed"}"#;
    let (ok, errors, _) = json(&s, row);
    assert!(!ok);
    assert_eq!(
        codes(&errors),
        [
            "PATTERN",
            "FORMAT",
            "MINIMUM",
            "ENUM",
            "UNKNOWN_FIELD",
            "REQUIRED"
        ]
    );
    assert_eq!(
        messages(&errors),
        [
            r#"screenId: "SCR-12" does not match the pattern ^SCR-[0-9]{6}$"#,
            r#"playedAt: "2025-01-27 10:00:00Z" is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss with a zone, e.g. 2025-01-27T10:00:00Z)"#,
            "durationMs: 0 is less than the minimum 1",
            "venueType: \"mall\" is not one of transit, retail, outdoor, airport, gym, office",
            "colour: unknown field (the schema allows no other fields)",
            "eventId: required field is missing",
        ]
    );
    let fields: Vec<Option<&str>> = errors.iter().map(|e| e.field.as_deref()).collect();
    assert_eq!(
        fields,
        [
            Some("screenId"),
            Some("playedAt"),
            Some("durationMs"),
            Some("venueType"),
            Some("colour"),
            Some("eventId")
        ]
    );
    // Every other rule of the dataset.
    let bad = |key: &str, value: &str| {
        let row = POP_ROW.replacen(
            &format!("\"{key}\":"),
            &format!("\"{key}\":{value},\"_{key}\":"),
            1,
        );
        let (_, errors, _) = json(&s, &row);
        // the renamed original key is unknown
        errors
            .into_iter()
            .filter(|e| e.code != RowErrorCode::UnknownField)
            .collect::<Vec<_>>()
    };
    assert_eq!(codes(&bad("eventId", r#""not-a-uuid""#)), ["FORMAT"]);
    assert_eq!(codes(&bad("creativeId", r#""""#)), ["MIN_LENGTH"]);
    assert_eq!(
        codes(&bad("campaignId", &format!("\"{}\"", "x".repeat(65)))),
        ["MAX_LENGTH"]
    );
    assert_eq!(codes(&bad("durationMs", "3600001")), ["MAXIMUM"]);
    assert_eq!(codes(&bad("durationMs", "15.5")), ["TYPE"]);
    assert_eq!(codes(&bad("durationMs", r#""1500""#)), ["TYPE"]);
    assert_eq!(codes(&bad("impressions", "-0.1")), ["MINIMUM"]);
    assert_eq!(codes(&bad("latitude", "90.5")), ["MAXIMUM"]);
    assert_eq!(codes(&bad("longitude", "-180.01")), ["MINIMUM"]);
    assert_eq!(codes(&bad("playStatus", r#""done""#)), ["ENUM"]);
    assert_eq!(codes(&bad("latitude", "null")), ["REQUIRED"]);
    assert_eq!(codes(&bad("eventId", "null")), ["REQUIRED"]);
    assert_eq!(
        messages(&bad("eventId", "null")),
        ["eventId: required field is null"]
    );
    assert_eq!(
        messages(&bad("latitude", "null")),
        ["latitude: null is not allowed; leave the field out or give a number"]
    );
    assert_eq!(
        messages(&bad("durationMs", "true")),
        ["durationMs: expected an integer, got true"]
    );
}

#[test]
fn pop_csv_rows_are_coerced() {
    let s = Schema::compile(POP).unwrap();
    let cols = s.csv_columns(&POP_HEADER).unwrap();
    assert_eq!(cols.len(), 11);
    assert!(!cols.is_empty());
    assert_eq!(cols.slot(4), Some(4));
    assert_eq!(cols.slot(99), None);
    let (ok, _, cells) = csv_row(&s, &cols, &POP_CSV);
    assert!(ok);
    assert_eq!(cells[5], "Int(15000)");
    assert_eq!(cells[6], "Num(3.5)");
    assert_eq!(cells[0], r#"Str("123e4567-e89b-12d3-a456-426614174000")"#);
    let with = |i: usize, v: &str| {
        let mut row = POP_CSV;
        row[i] = v;
        csv_row(&s, &cols, &row)
    };
    assert_eq!(with(6, "").2[6], "Null");
    assert!(with(6, "").0);
    assert_eq!(with(6, "7").2[6], "Num(7.0)");
    for bad in [" 1500", "1500 ", "1e3", "0x10", "15.0", "abc", "+"] {
        let (_, errors, _) = with(5, bad);
        assert_eq!(codes(&errors), ["TYPE"], "{bad}");
    }
    assert_eq!(
        messages(&with(5, " 1500").1),
        [r#"durationMs: " 1500" is not an integer (an optional sign and decimal digits only)"#]
    );
    for bad in ["NaN", "Infinity", "-inf", " 1", "1,5", "--1"] {
        assert_eq!(codes(&with(8, bad).1), ["TYPE"], "{bad}");
    }
    assert_eq!(with(5, "+20").2[5], "Int(20)");
    assert_eq!(codes(&with(5, "0").1), ["MINIMUM"]);
    assert_eq!(codes(&with(0, "").1), ["REQUIRED"]);
    assert_eq!(
        messages(&with(0, "").1),
        ["eventId: required field is missing (empty cell)"]
    );
    assert_eq!(codes(&with(4, "2025-02-30T10:00:00Z").1), ["FORMAT"]);
    assert_eq!(codes(&with(7, "mall").1), ["ENUM"]);
    // Column order of the header does not matter.
    let mut header = POP_HEADER;
    header.swap(0, 10);
    let cols2 = s.csv_columns(&header).unwrap();
    let mut row = POP_CSV;
    row.swap(0, 10);
    assert!(csv_row(&s, &cols2, &row).0);
    // Optional columns may be absent.
    let short: Vec<&str> = POP_HEADER
        .iter()
        .copied()
        .filter(|h| *h != "latitude")
        .collect();
    assert!(s.csv_columns(&short).is_ok());
}

#[test]
fn csv_cell_count_mismatch_is_one_malformed_row() {
    let s = Schema::compile(POP).unwrap();
    let cols = s.csv_columns(&POP_HEADER).unwrap();
    let (ok, errors, cells) = csv_row(&s, &cols, &POP_CSV[..5]);
    assert!(!ok);
    assert_eq!(codes(&errors), ["MALFORMED_ROW"]);
    assert_eq!(
        messages(&errors),
        ["row has 5 cells; the header has 11 columns"]
    );
    assert_eq!(errors[0].field, None);
    assert!(cells.iter().all(|c| c == "Null"));
    let mut long = POP_CSV.to_vec();
    long.push("x");
    assert_eq!(
        messages(&csv_row(&s, &cols, &long).1),
        ["row has 12 cells; the header has 11 columns"]
    );
}

#[test]
fn content_table_schema_compiles_and_validates_csv() {
    let s = Schema::compile(CONTENT).unwrap();
    assert_eq!(s.dialect(), SchemaDialect::TableSchema);
    assert_eq!(s.fields().len(), 13);
    assert_eq!(s.primary_key(), None);
    assert_eq!(s.unique_slots(), &[1]);
    assert!(!s.additional_allowed());
    assert_eq!(s.max_rows(), Some(3000));
    assert!(s.fields()[1].unique && s.fields()[1].required && !s.fields()[1].nullable);
    assert!(!s.fields()[9].required && s.fields()[9].nullable);
    let cols = s.csv_columns(&CONTENT_HEADER).unwrap();
    let (ok, errors, cells) = csv_row(&s, &cols, &CONTENT_ROW);
    assert!(ok, "{errors:?}");
    assert_eq!(cells[6], r#"Str("Class 5, Class 6")"#);
    assert_eq!(cells[9], "Null");
    let with = |i: usize, v: &str| {
        let mut row = CONTENT_ROW;
        row[i] = v;
        csv_row(&s, &cols, &row).1
    };
    assert_eq!(codes(&with(0, "")), ["REQUIRED"]);
    assert_eq!(codes(&with(0, &"n".repeat(257))), ["MAX_LENGTH"]);
    assert_eq!(codes(&with(1, "bad code!")), ["PATTERN"]);
    assert_eq!(
        messages(&with(1, "bad code!")),
        [r#"code: "bad code!" does not match the pattern ^[A-Za-z0-9_.-]+$"#]
    );
    assert_eq!(codes(&with(2, "image/png")), ["ENUM"]);
    assert_eq!(codes(&with(3, "resource")), ["ENUM"]);
    assert_eq!(codes(&with(8, "ftp://x.example/f")), ["PATTERN"]);
    assert_eq!(codes(&with(8, "https://exa mple.com")), ["FORMAT"]);
    assert_eq!(codes(&with(9, &"d".repeat(2001))), ["MAX_LENGTH"]);
    assert_eq!(codes(&with(12, "Robot")), ["ENUM"]);
    assert_eq!(
        messages(&with(12, "Robot")),
        [r#"audience: "Robot" is not one of Student, Teacher, Administrator, Parent, Other"#]
    );
}

#[test]
fn content_csv_header_errors_are_file_template_errors() {
    let s = Schema::compile(CONTENT).unwrap();
    let header: Vec<&str> = CONTENT_HEADER
        .iter()
        .copied()
        .filter(|h| *h != "name" && *h != "code")
        .chain(["colour"])
        .collect();
    let e = s.csv_columns(&header).unwrap_err();
    assert_eq!(
        e,
        Error::InvalidFileTemplate(
            "CSV header is missing required columns: name, code; unknown columns: colour".into()
        )
    );
    assert_eq!(e.code(), "INVALID_FILE_TEMPLATE");
    let header: Vec<&str> = CONTENT_HEADER
        .iter()
        .copied()
        .filter(|h| *h != "subject")
        .collect();
    assert_eq!(
        s.csv_columns(&header).unwrap_err(),
        Error::InvalidFileTemplate("CSV header is missing required columns: subject".into())
    );
    let header: Vec<&str> = CONTENT_HEADER
        .iter()
        .copied()
        .chain(["colour", ""])
        .collect();
    assert_eq!(
        s.csv_columns(&header).unwrap_err(),
        Error::InvalidFileTemplate("CSV header has unknown columns: colour, (empty name)".into())
    );
    let header: Vec<&str> = CONTENT_HEADER.iter().copied().chain(["code"]).collect();
    assert_eq!(
        s.csv_columns(&header).unwrap_err(),
        Error::InvalidFileTemplate("CSV header names column 'code' more than once".into())
    );
    // A byte order mark on the first name is tolerated.
    let mut header = CONTENT_HEADER;
    header[0] = "\u{feff}name";
    assert_eq!(s.csv_columns(&header).unwrap().slot(0), Some(0));
    // Optional columns may be left out.
    let header: Vec<&str> = CONTENT_HEADER
        .iter()
        .copied()
        .filter(|h| *h != "audience")
        .collect();
    assert_eq!(s.csv_columns(&header).unwrap().len(), 12);
}

#[test]
fn additional_columns_and_keys_are_ignored_when_allowed() {
    let s = Schema::compile(
        r#"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]}"#,
    )
    .unwrap();
    assert!(s.additional_allowed());
    let cols = s.csv_columns(&["x", "a", "y"]).unwrap();
    assert_eq!(
        (cols.slot(0), cols.slot(1), cols.slot(2)),
        (None, Some(0), None)
    );
    let (ok, _, cells) = csv_row(&s, &cols, &["junk", "5", "more junk"]);
    assert!(ok);
    assert_eq!(cells, ["Int(5)", "Null"]);
    // Unknown keys with nested values are skipped whole: later keys are still found.
    let (ok, errors, cells) = json(
        &s,
        r#"{"x":{"a":[1,{"b":2}],"c":{}},"y":[[],[{"a":"no"}]],"b":"text","z":null,"a":3}"#,
    );
    assert!(ok, "{errors:?}");
    assert_eq!(cells, ["Int(3)", r#"Str("text")"#]);
    // Same with additionalProperties false: the nested keys are not reported, only the top ones.
    let s = Schema::compile(
        r#"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}"#,
    )
    .unwrap();
    let (_, errors, cells) = json(&s, r#"{"x":{"a":[1,{"b":2}]},"y":[{"b":1}],"a":3}"#);
    assert_eq!(codes(&errors), ["UNKNOWN_FIELD", "UNKNOWN_FIELD"]);
    assert_eq!(errors[1].field.as_deref(), Some("y"));
    assert_eq!(cells[0], "Int(3)");
}

// ------------------------------------------------------------------------------------------------
// row-level rules

#[test]
fn a_row_that_is_not_an_object_is_malformed() {
    let s = Schema::compile(POP).unwrap();
    for row in ["[1,2]", "5", r#""x""#, "null", "true", "[]"] {
        let (ok, errors, cells) = json(&s, row);
        assert!(!ok);
        assert_eq!(codes(&errors), ["MALFORMED_ROW"], "{row}");
        assert_eq!(messages(&errors), ["row is not a JSON object"]);
        assert_eq!(errors[0].field, None);
        assert!(cells.iter().all(|c| c == "Null"));
    }
    let mut cells = vec![];
    let mut errors = vec![];
    assert!(!s.validate_json(&[], 1, None, &mut cells, &mut errors));
    assert_eq!(codes(&errors), ["MALFORMED_ROW"]);
    assert_eq!(errors[0].line, None);
}

#[test]
fn errors_are_appended_not_cleared() {
    let s = prop(r#"{"type":"integer"}"#);
    let mut bytes = br#"{"v":"x"}"#.to_vec();
    let tape = tape_of(&mut bytes);
    let mut cells = vec![];
    let mut errors = vec![];
    s.validate_json(&tape.0, 1, None, &mut cells, &mut errors);
    s.validate_json(&tape.0, 2, None, &mut cells, &mut errors);
    assert_eq!(errors.iter().map(|e| e.row).collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn a_key_twice_in_a_row_is_malformed() {
    let s = prop(r#"{"type":"integer"}"#);
    let (ok, errors, cells) = json(&s, r#"{"v":1,"v":2}"#);
    assert!(!ok);
    assert_eq!(codes(&errors), ["MALFORMED_ROW"]);
    assert_eq!(
        messages(&errors),
        ["v: the key appears more than once in the row"]
    );
    assert_eq!(errors[0].field.as_deref(), Some("v"));
    assert_eq!(cells, ["Int(1)"]);
}

#[test]
fn empty_object_reports_every_required_field_in_schema_order() {
    let s = Schema::compile(POP).unwrap();
    let (_, errors, _) = json(&s, "{}");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_deref().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "eventId",
            "screenId",
            "creativeId",
            "campaignId",
            "playedAt",
            "durationMs",
            "venueType",
            "playStatus"
        ]
    );
    assert!(errors.iter().all(|e| e.code == RowErrorCode::Required));
}

#[test]
fn long_values_are_truncated_and_escaped_in_messages() {
    let s = prop(r#"{"type":"string","maxLength":3}"#);
    let long = "é".repeat(200);
    let (_, errors, _) = json(&s, &format!(r#"{{"v":"{long}"}}"#));
    let m = &errors[0].message;
    assert!(
        m.starts_with(&format!(
            "v: \"{}…\" is 200 characters long",
            "é".repeat(80)
        )),
        "{m}"
    );
    let s = prop(r#"{"type":"string","pattern":"^a$"}"#);
    let (_, errors, _) = json(&s, r#"{"v":"b\n\"c"}"#);
    assert_eq!(
        messages(&errors),
        [r#"v: "b\n\"c" does not match the pattern ^a$"#]
    );
    // Unknown keys are truncated too.
    let s = Schema::compile(r#"{"properties":{"a":{}},"additionalProperties":false}"#).unwrap();
    let key = "k".repeat(100);
    let (_, errors, _) = json(&s, &format!(r#"{{"{key}":1}}"#));
    assert_eq!(
        errors[0].field.as_deref(),
        Some(format!("{}…", "k".repeat(80)).as_str())
    );
}

#[test]
fn many_fields_use_the_large_seen_set() {
    let props: Vec<String> = (0..300)
        .map(|i| format!(r#""f{i}":{{"type":"integer"}}"#))
        .collect();
    let required: Vec<String> = (0..300).map(|i| format!(r#""f{i}""#)).collect();
    let doc = format!(
        r#"{{"properties":{{{}}},"required":[{}]}}"#,
        props.join(","),
        required.join(",")
    );
    let s = Schema::compile(&doc).unwrap();
    let row: Vec<String> = (0..300).rev().map(|i| format!(r#""f{i}":{i}"#)).collect();
    let (ok, _, cells) = json(&s, &format!("{{{}}}", row.join(",")));
    assert!(ok);
    assert_eq!(cells[299], "Int(299)");
    let (_, errors, _) = json(&s, r#"{"f299":1,"f299":2}"#);
    assert_eq!(errors.len(), 1 + 299);
    assert_eq!(errors[0].code, RowErrorCode::MalformedRow);
    assert_eq!(errors[299].field.as_deref(), Some("f298"));
}

// ------------------------------------------------------------------------------------------------
// JSON Schema keywords and JSON value rules

#[test]
fn json_types_and_integers() {
    let int = prop(r#"{"type":"integer"}"#);
    assert_eq!(v_cell(&int, "1000"), "Int(1000)");
    assert_eq!(v_cell(&int, "1000.0"), "Int(1000)");
    assert_eq!(v_cell(&int, "1e3"), "Int(1000)");
    assert_eq!(v_cell(&int, "-5"), "Int(-5)");
    assert_eq!(
        v_cell(&int, "18446744073709551615"),
        "Num(1.8446744073709552e19)"
    );
    assert_eq!(
        v_cell(&int, "9223372036854775807"),
        "Int(9223372036854775807)"
    );
    assert_eq!(v_cell(&int, "1e300"), "Num(1e300)");
    for bad in ["1.5", r#""5""#, "true", "{}", "[]", r#""0x10""#] {
        assert_eq!(v_codes(&int, bad), ["TYPE"], "{bad}");
    }
    assert_eq!(
        messages(&json(&int, r#"{"v":"5"}"#).1),
        [r#"v: expected an integer, got the string "5""#]
    );
    assert_eq!(
        messages(&json(&int, r#"{"v":1.5}"#).1),
        ["v: expected an integer, got the number 1.5"]
    );
    assert_eq!(
        messages(&json(&int, r#"{"v":{"a":1}}"#).1),
        ["v: expected an integer, got an object"]
    );
    let num = prop(r#"{"type":"number"}"#);
    assert_eq!(v_cell(&num, "5"), "Num(5.0)");
    assert_eq!(v_cell(&num, "-0.25"), "Num(-0.25)");
    assert_eq!(v_codes(&num, r#""NaN""#), ["TYPE"]);
    assert_eq!(v_codes(&num, "false"), ["TYPE"]);
    let string = prop(r#"{"type":"string"}"#);
    assert_eq!(v_cell(&string, r#""a\"b""#), r#"Str("a\"b")"#);
    assert_eq!(v_codes(&string, "5"), ["TYPE"]);
    assert_eq!(v_codes(&string, "[\"a\"]"), ["TYPE"]);
    let boolean = prop(r#"{"type":"boolean"}"#);
    assert_eq!(v_cell(&boolean, "true"), "Bool(true)");
    assert_eq!(v_codes(&boolean, r#""true""#), ["TYPE"]);
    assert_eq!(v_codes(&boolean, "1"), ["TYPE"]);
    assert_eq!(
        messages(&json(&boolean, r#"{"v":null}"#).1),
        ["v: required field is null"]
    );
}

#[test]
fn nullable_types_and_untyped_properties() {
    let s = prop(r#"{"type":["string","null"]}"#);
    assert!(s.fields()[0].nullable);
    assert_eq!(v_cell(&s, "null"), "Null");
    assert_eq!(v_cell(&s, r#""x""#), r#"Str("x")"#);
    assert_eq!(v_codes(&s, "1"), ["TYPE"]);
    let s = prop(r#"{"type":["null","integer"]}"#);
    assert_eq!(s.fields()[0].ty, FieldType::Integer);
    assert_eq!(v_cell(&s, "null"), "Null");
    let any = prop("{}");
    assert_eq!(any.fields()[0].ty, FieldType::Any);
    assert!(any.fields()[0].nullable);
    assert_eq!(v_cell(&any, "null"), "Null");
    assert_eq!(v_cell(&any, "true"), "Bool(true)");
    assert_eq!(v_cell(&any, "3"), "Int(3)");
    assert_eq!(v_cell(&any, "3.5"), "Num(3.5)");
    assert_eq!(v_cell(&any, r#""s""#), r#"Str("s")"#);
    assert_eq!(v_codes(&any, "{}"), ["TYPE"]);
    assert_eq!(v_codes(&any, "[1]"), ["TYPE"]);
    assert_eq!(codes(&json(&any, "{}").1), ["REQUIRED"]);
    // Untyped with string and number keywords applies each to its kind of value.
    let mixed = prop(r#"{"maxLength":2,"maximum":5}"#);
    assert_eq!(v_codes(&mixed, r#""abc""#), ["MAX_LENGTH"]);
    assert_eq!(v_codes(&mixed, "6"), ["MAXIMUM"]);
    assert_eq!(v_codes(&mixed, "true"), Vec::<&str>::new());
    // Optional non-nullable: absent is fine, null is REQUIRED.
    let opt = prop_optional(r#"{"type":"number"}"#);
    assert_eq!(codes(&json(&opt, "{}").1), Vec::<&str>::new());
    assert_eq!(v_codes(&opt, "null"), ["REQUIRED"]);
}

#[test]
fn string_keywords() {
    let s = prop(r#"{"type":"string","minLength":2,"maxLength":3}"#);
    assert_eq!(v_codes(&s, r#""ab""#), Vec::<&str>::new());
    assert_eq!(v_codes(&s, r#""héé""#), Vec::<&str>::new());
    assert_eq!(v_codes(&s, r#""😀😀😀""#), Vec::<&str>::new());
    assert_eq!(v_codes(&s, r#""é""#), ["MIN_LENGTH"]);
    assert_eq!(v_codes(&s, r#""a""#), ["MIN_LENGTH"]);
    assert_eq!(v_codes(&s, r#""hééé""#), ["MAX_LENGTH"]);
    assert_eq!(
        messages(&json(&s, r#"{"v":"a"}"#).1),
        [r#"v: "a" is 1 character long; the minimum length is 2"#]
    );
    assert_eq!(
        messages(&json(&s, r#"{"v":"abcd"}"#).1),
        [r#"v: "abcd" is 4 characters long; the maximum length is 3"#]
    );
    let min8 = prop(r#"{"type":"string","minLength":3}"#);
    assert_eq!(v_codes(&min8, r#""ééé""#), Vec::<&str>::new());
    assert_eq!(v_codes(&min8, r#""😀😀""#), ["MIN_LENGTH"]);
    // Pattern: a match anywhere unless anchored; `$` only at the very end.
    let p = prop(r#"{"type":"string","pattern":"b"}"#);
    assert_eq!(v_codes(&p, r#""abc""#), Vec::<&str>::new());
    assert_eq!(v_codes(&p, r#""xyz""#), ["PATTERN"]);
    let anchored = prop(r#"{"type":"string","pattern":"^SCR-[0-9]{6}$"}"#);
    assert_eq!(v_codes(&anchored, r#""SCR-123456""#), Vec::<&str>::new());
    assert_eq!(v_codes(&anchored, r#""SCR-123456\n""#), ["PATTERN"]);
    assert_eq!(v_codes(&anchored, r#""xSCR-123456""#), ["PATTERN"]);
    // All failing string keywords are reported, in a fixed order.
    let all =
        prop(r#"{"type":"string","format":"uuid","pattern":"^a","maxLength":1,"enum":["a"]}"#);
    assert_eq!(
        v_codes(&all, r#""bc""#),
        ["FORMAT", "PATTERN", "MAX_LENGTH", "ENUM"]
    );
}

#[test]
fn numeric_keywords() {
    let s = prop(r#"{"type":"number","minimum":1.5,"maximum":10}"#);
    assert_eq!(v_codes(&s, "1.5"), Vec::<&str>::new());
    assert_eq!(v_codes(&s, "10"), Vec::<&str>::new());
    assert_eq!(v_codes(&s, "1.4"), ["MINIMUM"]);
    assert_eq!(v_codes(&s, "10.01"), ["MAXIMUM"]);
    assert_eq!(
        messages(&json(&s, r#"{"v":11}"#).1),
        ["v: 11 is greater than the maximum 10"]
    );
    let x = prop(r#"{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10}"#);
    assert_eq!(v_codes(&x, "1"), Vec::<&str>::new());
    assert_eq!(v_codes(&x, "9"), Vec::<&str>::new());
    assert_eq!(v_codes(&x, "0"), ["MINIMUM"]);
    assert_eq!(v_codes(&x, "10"), ["MAXIMUM"]);
    assert_eq!(
        messages(&json(&x, r#"{"v":0}"#).1),
        ["v: 0 is not greater than the exclusive minimum 0"]
    );
    assert_eq!(
        messages(&json(&x, r#"{"v":10}"#).1),
        ["v: 10 is not less than the exclusive maximum 10"]
    );
    // Exact integer comparisons near the i64 limits.
    let big = prop(r#"{"type":"integer","maximum":9007199254740993}"#);
    assert_eq!(v_codes(&big, "9007199254740993"), Vec::<&str>::new());
    assert_eq!(v_codes(&big, "9007199254740994"), ["MAXIMUM"]);
    let frac = prop(r#"{"type":"integer","minimum":0.5}"#);
    assert_eq!(v_codes(&frac, "0"), ["MINIMUM"]);
    assert_eq!(v_codes(&frac, "1"), Vec::<&str>::new());
}

#[test]
fn enum_and_const() {
    let e = prop(r#"{"type":"integer","enum":[1,2,3]}"#);
    assert_eq!(v_codes(&e, "2"), Vec::<&str>::new());
    assert_eq!(v_codes(&e, "2.0"), Vec::<&str>::new());
    assert_eq!(v_codes(&e, "4"), ["ENUM"]);
    assert_eq!(
        messages(&json(&e, r#"{"v":4}"#).1),
        ["v: 4 is not one of 1, 2, 3"]
    );
    let n = prop(r#"{"type":["string","null"],"enum":["a",null]}"#);
    assert_eq!(v_codes(&n, "null"), Vec::<&str>::new());
    assert_eq!(v_codes(&n, r#""a""#), Vec::<&str>::new());
    assert_eq!(v_codes(&n, r#""b""#), ["ENUM"]);
    let strict = prop(r#"{"type":["string","null"],"enum":["a"]}"#);
    assert_eq!(v_codes(&strict, "null"), ["ENUM"]);
    let num = prop(r#"{"type":"number","enum":[1.5,2]}"#);
    assert_eq!(v_codes(&num, "2"), Vec::<&str>::new());
    assert_eq!(v_codes(&num, "1.5"), Vec::<&str>::new());
    assert_eq!(v_codes(&num, "1"), ["ENUM"]);
    let c = prop(r#"{"type":"string","const":"on"}"#);
    assert_eq!(v_codes(&c, r#""on""#), Vec::<&str>::new());
    assert_eq!(v_codes(&c, r#""off""#), ["ENUM"]);
    assert_eq!(
        messages(&json(&c, r#"{"v":"off"}"#).1),
        [r#"v: "off" is not the only allowed value "on""#]
    );
    let b = prop(r#"{"const":true}"#);
    assert_eq!(v_codes(&b, "true"), Vec::<&str>::new());
    assert_eq!(v_codes(&b, "false"), ["ENUM"]);
    assert_eq!(v_codes(&b, "1"), ["ENUM"]);
}

#[test]
fn formats() {
    let dt = prop(r#"{"type":"string","format":"date-time"}"#);
    assert_eq!(dt.fields()[0].ty, FieldType::DateTime);
    assert_eq!(
        v_cell(&dt, r#""2025-01-27T10:00:00Z""#),
        r#"Str("2025-01-27T10:00:00Z")"#
    );
    assert_eq!(
        v_codes(&dt, r#""2016-12-31T23:59:60Z""#),
        Vec::<&str>::new()
    );
    assert_eq!(
        v_codes(&dt, r#""2024-02-29T10:00:00z""#),
        Vec::<&str>::new()
    );
    assert_eq!(v_codes(&dt, r#""2023-02-29T10:00:00Z""#), ["FORMAT"]);
    assert_eq!(v_codes(&dt, r#""2025-02-30T10:00:00Z""#), ["FORMAT"]);
    assert_eq!(v_codes(&dt, r#""2025-01-27T10:00:00""#), ["FORMAT"]);
    assert_eq!(v_codes(&dt, r#""2025-01-27 10:00:00Z""#), ["FORMAT"]);
    assert_eq!(v_codes(&dt, "1737972000"), ["TYPE"]);
    let d = prop(r#"{"type":"string","format":"date"}"#);
    assert_eq!(d.fields()[0].ty, FieldType::Date);
    assert_eq!(v_codes(&d, r#""2024-02-29""#), Vec::<&str>::new());
    assert_eq!(v_codes(&d, r#""2023-02-29""#), ["FORMAT"]);
    assert_eq!(
        messages(&json(&d, r#"{"v":"2025-02-30"}"#).1),
        [r#"v: "2025-02-30" is not a date (YYYY-MM-DD, e.g. 2025-01-27)"#]
    );
    let t = prop(r#"{"type":"string","format":"time"}"#);
    assert_eq!(t.fields()[0].ty, FieldType::Time);
    assert_eq!(v_codes(&t, r#""10:00:00""#), Vec::<&str>::new());
    assert_eq!(v_codes(&t, r#""10:00:00+02:00""#), Vec::<&str>::new());
    assert_eq!(v_codes(&t, r#""10:00""#), ["FORMAT"]);
    let u = prop(r#"{"type":"string","format":"uuid"}"#);
    assert_eq!(u.fields()[0].ty, FieldType::String);
    assert_eq!(
        v_codes(&u, r#""123E4567-e89b-12d3-a456-426614174000""#),
        Vec::<&str>::new()
    );
    assert_eq!(
        v_codes(&u, r#""123e4567-e89b-12d3-a456-42661417400""#),
        ["FORMAT"]
    );
    let m = prop(r#"{"type":"string","format":"email"}"#);
    assert_eq!(v_codes(&m, r#""a.b@example.com""#), Vec::<&str>::new());
    assert_eq!(v_codes(&m, r#""a.b@""#), ["FORMAT"]);
    assert_eq!(v_codes(&m, r#""a b@example.com""#), ["FORMAT"]);
    let uri = prop(r#"{"type":"string","format":"uri"}"#);
    assert_eq!(
        v_codes(&uri, r#""https://example.com""#),
        Vec::<&str>::new()
    );
    assert_eq!(v_codes(&uri, r#""example.com""#), ["FORMAT"]);
    // format without a type checks strings and accepts other scalars.
    let untyped = prop(r#"{"format":"date"}"#);
    assert_eq!(untyped.fields()[0].ty, FieldType::Any);
    assert_eq!(v_codes(&untyped, r#""2025-13-01""#), ["FORMAT"]);
    assert_eq!(v_codes(&untyped, "5"), Vec::<&str>::new());
}

#[test]
fn extensions_and_annotations() {
    let s = Schema::compile(
        r#"{"$schema":"x","$id":"y","$comment":"c","title":"t","description":"d","examples":[{}],"default":{},
            "readOnly":false,"writeOnly":false,"deprecated":false,
            "type":"object",
            "properties":{
              "a":{"type":"string","x-unique":true,"title":"A","description":"d","$comment":"c","examples":["x"],"default":"x","readOnly":true,"writeOnly":false,"deprecated":true,"$id":"i","$schema":"s"},
              "b":{"type":"integer","x-unique":false},
              "c":{"type":"integer","x-unique":true},
              "d":{"type":["string","null"]}
            },
            "x-primaryKey":["b","d"],
            "x-maxRows":10}"#,
    )
    .unwrap();
    assert_eq!(s.primary_key(), Some(&[1usize, 3][..]));
    assert_eq!(s.unique_slots(), &[0, 2]);
    assert_eq!(s.max_rows(), Some(10));
    let d = &s.fields()[3];
    assert!(d.required && !d.nullable && d.unique);
    assert!(!s.fields()[2].required);
    let (_, errors, _) = json(&s, r#"{"b":1,"d":null}"#);
    assert_eq!(messages(&errors), ["d: required field is null"]);
    // A single-field primary key that is also x-unique is not repeated in unique_slots.
    let s = Schema::compile(
        r#"{"properties":{"a":{"x-unique":true},"b":{"x-unique":true}},"x-primaryKey":"a"}"#,
    )
    .unwrap();
    assert_eq!(s.primary_key(), Some(&[0usize][..]));
    assert_eq!(s.unique_slots(), &[1]);
}

#[test]
fn unsupported_json_schema_keywords_are_named() {
    let cases: &[(&str, &str)] = &[
        (r#"{"properties":{"eventId":{"oneOf":[]}}}"#, "properties.eventId: keyword 'oneOf' is not supported"),
        (r#"{"properties":{"a":{"type":"string"}},"oneOf":[]}"#, "top level: keyword 'oneOf' is not supported"),
        (r#"{"properties":{"a":{"items":{}}}}"#, "properties.a: keyword 'items' is not supported"),
        (r##"{"properties":{"a":{"$ref":"#/x"}}}"##, "properties.a: keyword '$ref' is not supported"),
        (r#"{"properties":{"a":{"minItems":1}}}"#, "properties.a: keyword 'minItems' is not supported"),
        (r#"{"properties":{"a":{"properties":{}}}}"#, "properties.a: keyword 'properties' is not supported"),
        (r#"{"properties":{"a":{"nullable":true}}}"#, "properties.a: keyword 'nullable' is not supported"),
        (r#"{"properties":{"a":{"multipleOf":2}}}"#, "properties.a: keyword 'multipleOf' is not supported"),
        (r#"{"properties":{"a":{}},"$defs":{}}"#, "top level: keyword '$defs' is not supported"),
        (r#"{"properties":{"a":{}},"patternProperties":{}}"#, "top level: keyword 'patternProperties' is not supported"),
        (
            r#"{"properties":{"a":{"type":"string","format":"ipv4"}}}"#,
            "properties.a: format 'ipv4' is not supported (supported: date-time, date, time, uuid, email, uri)",
        ),
        (
            r#"{"properties":{"a":{"type":"object"}}}"#,
            "properties.a: type 'object' is not supported (supported: string, integer, number, boolean, optionally with \"null\")",
        ),
        (
            r#"{"properties":{"a":{"type":"array"}}}"#,
            "properties.a: type 'array' is not supported (supported: string, integer, number, boolean, optionally with \"null\")",
        ),
    ];
    for (doc, message) in cases {
        assert_eq!(schema_err(doc), *message, "{doc}");
    }
}

#[test]
fn invalid_json_schemas_are_rejected() {
    let cases: &[(&str, &str)] = &[
        ("not json", "not valid JSON"),
        ("[1]", "a JSON Schema must be an object, got an array"),
        (
            r#"{"type":"array","properties":{"a":{}}}"#,
            "top level: 'type' must be \"object\"",
        ),
        (r#"{"type":"object"}"#, "defines no properties"),
        (r#"{"properties":{}}"#, "defines no properties"),
        (r#"{"properties":[]}"#, "'properties' must be an object"),
        (
            r#"{"properties":{"a":true}}"#,
            "properties.a: a property must be a schema object, got a boolean",
        ),
        (
            r#"{"properties":{"a":{}},"required":["b"]}"#,
            "'required' names 'b', which is not in 'properties'",
        ),
        (
            r#"{"properties":{"a":{}},"required":["a","a"]}"#,
            "'required' names 'a' twice",
        ),
        (
            r#"{"properties":{"a":{}},"required":"a"}"#,
            "'required' must be an array",
        ),
        (
            r#"{"properties":{"a":{}},"additionalProperties":{}}"#,
            "'additionalProperties' must be a boolean",
        ),
        (
            r#"{"properties":{"a":{"type":"null"}}}"#,
            "type 'null' is not supported",
        ),
        (
            r#"{"properties":{"a":{"type":["string","integer"]}}}"#,
            "is not supported (one type, optionally with \"null\"",
        ),
        (
            r#"{"properties":{"a":{"type":["null"]}}}"#,
            "names no type besides \"null\"",
        ),
        (
            r#"{"properties":{"a":{"type":["string","null","null"]}}}"#,
            "is not supported (one type",
        ),
        (
            r#"{"properties":{"a":{"type":5}}}"#,
            "'type' must be a string or an array",
        ),
        (
            r#"{"properties":{"a":{"type":"string","pattern":"("}}}"#,
            "properties.a: pattern '(' is not a valid regular expression",
        ),
        (
            r#"{"properties":{"a":{"type":"string","pattern":5}}}"#,
            "'pattern' must be a string",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","minimum":5,"maximum":4}}}"#,
            "the lower bound 5 is greater than the upper bound 4",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","exclusiveMinimum":5,"maximum":4}}}"#,
            "lower bound 5",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","minimum":"1"}}}"#,
            "'minimum' must be a number, got a string",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","exclusiveMinimum":true}}}"#,
            "'exclusiveMinimum' must be a number",
        ),
        (
            r#"{"properties":{"a":{"type":"string","minLength":3,"maxLength":2}}}"#,
            "minLength 3 is greater than maxLength 2",
        ),
        (
            r#"{"properties":{"a":{"type":"string","minLength":-1}}}"#,
            "'minLength' must be a non-negative integer",
        ),
        (
            r#"{"properties":{"a":{"type":"string","maxLength":1.5}}}"#,
            "'maxLength' must be a non-negative integer",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","pattern":"x"}}}"#,
            "'pattern' applies to strings, but the type is integer",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","format":"date"}}}"#,
            "'format' applies to strings",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","maxLength":2}}}"#,
            "'maxLength' applies to strings",
        ),
        (
            r#"{"properties":{"a":{"type":"string","minimum":1}}}"#,
            "'minimum' applies to numbers, but the type is string",
        ),
        (
            r#"{"properties":{"a":{"type":"string","format":5}}}"#,
            "'format' must be a string",
        ),
        (
            r#"{"properties":{"a":{"type":"string","enum":[]}}}"#,
            "'enum' must be a non-empty array",
        ),
        (
            r#"{"properties":{"a":{"type":"string","enum":"x"}}}"#,
            "'enum' must be a non-empty array",
        ),
        (
            r#"{"properties":{"a":{"type":"string","enum":[1]}}}"#,
            "'enum' value 1 is not of the property's type string",
        ),
        (
            r#"{"properties":{"a":{"type":"integer","enum":[1.5]}}}"#,
            "'enum' value 1.5 is not of the property's type integer",
        ),
        (
            r#"{"properties":{"a":{"type":"string","enum":[null]}}}"#,
            "'enum' value null is not of the property's type",
        ),
        (
            r#"{"properties":{"a":{"enum":[{"a":1}]}}}"#,
            "'enum' values must be scalars",
        ),
        (
            r#"{"properties":{"a":{"const":[1]}}}"#,
            "'const' values must be scalars",
        ),
        (
            r#"{"properties":{"a":{"const":1,"enum":[1]}}}"#,
            "give either 'enum' or 'const'",
        ),
        (
            r#"{"properties":{"a":{"x-unique":"yes"}}}"#,
            "'x-unique' must be a boolean",
        ),
        (
            r#"{"properties":{"a":{}},"x-primaryKey":"b"}"#,
            "'x-primaryKey' names 'b', which is not a field",
        ),
        (
            r#"{"properties":{"a":{}},"x-primaryKey":[]}"#,
            "'x-primaryKey' must be a field name or a non-empty array",
        ),
        (
            r#"{"properties":{"a":{}},"x-primaryKey":["a","a"]}"#,
            "'x-primaryKey' names 'a' twice",
        ),
        (
            r#"{"properties":{"a":{}},"x-primaryKey":[1]}"#,
            "'x-primaryKey' must list field names",
        ),
        (
            r#"{"properties":{"a":{}},"x-maxRows":0}"#,
            "'x-maxRows' must be a positive integer, got 0",
        ),
        (
            r#"{"properties":{"a":{}},"x-maxRows":-1}"#,
            "'x-maxRows' must be a positive integer",
        ),
        (
            r#"{"properties":{"a":{}},"x-maxRows":"3"}"#,
            "'x-maxRows' must be a positive integer",
        ),
        (
            r#"{"properties":{"a":{}},"x-maxRows":1.5}"#,
            "'x-maxRows' must be a positive integer",
        ),
        (
            r#"{"properties":{"a":{"type":"string","type":"integer"}}}"#,
            "appears twice",
        ),
    ];
    for (doc, part) in cases {
        let m = schema_err(doc);
        assert!(m.contains(part), "{doc}: {m}");
    }
    assert_eq!(Schema::compile("{").unwrap_err().code(), "INVALID_SCHEMA");
}

// ------------------------------------------------------------------------------------------------
// Table Schema

#[test]
fn table_schema_types_in_csv() {
    let int = table(r#"{"name":"n","type":"integer"}"#);
    assert_eq!(t_csv(&int, "-42").2, ["Int(-42)"]);
    assert_eq!(t_csv(&int, "99999999999999999999").2, ["Num(1e20)"]);
    assert_eq!(t_codes(&int, " 1500"), ["TYPE"]);
    assert_eq!(t_codes(&int, "1e3"), ["TYPE"]);
    assert_eq!(t_codes(&int, "0x10"), ["TYPE"]);
    assert_eq!(t_csv(&int, "").2, ["Null"]);
    let num = table(r#"{"name":"n","type":"number"}"#);
    assert_eq!(t_csv(&num, "1e3").2, ["Num(1000.0)"]);
    assert_eq!(t_codes(&num, "NaN"), ["TYPE"]);
    assert_eq!(t_codes(&num, "Infinity"), ["TYPE"]);
    assert_eq!(
        messages(&t_csv(&num, "x").1),
        [r#"n: "x" is not a number (a decimal such as 12, -0.5 or 1e3, without spaces)"#]
    );
    let b = table(r#"{"name":"n","type":"boolean"}"#);
    for (text, cell) in [
        ("true", "Bool(true)"),
        ("FALSE", "Bool(false)"),
        ("1", "Bool(true)"),
        ("0", "Bool(false)"),
    ] {
        assert_eq!(t_csv(&b, text).2, [cell]);
    }
    assert_eq!(t_codes(&b, "yes"), ["TYPE"]);
    let d = table(r#"{"name":"n","type":"date"}"#);
    assert_eq!(t_csv(&d, "2024-02-29").2, [r#"Str("2024-02-29")"#]);
    assert_eq!(t_codes(&d, "2023-02-29"), ["FORMAT"]);
    assert_eq!(t_codes(&d, "29/02/2024"), ["FORMAT"]);
    let dt = table(r#"{"name":"n","type":"datetime"}"#);
    assert_eq!(
        t_codes(&dt, "2025-01-27T10:00:00+01:00"),
        Vec::<&str>::new()
    );
    assert_eq!(t_codes(&dt, "2025-01-27T10:00:00"), ["FORMAT"]);
    let t = table(r#"{"name":"n","type":"time","format":"default"}"#);
    assert_eq!(t_codes(&t, "23:59:60"), Vec::<&str>::new());
    assert_eq!(t_codes(&t, "10:00:00.5Z"), Vec::<&str>::new());
    assert_eq!(t_codes(&t, "25:00:00"), ["FORMAT"]);
    let y = table(r#"{"name":"n","type":"year"}"#);
    assert_eq!(t_csv(&y, "2025").2, ["Int(2025)"]);
    assert_eq!(t_codes(&y, "25"), ["TYPE"]);
    assert_eq!(t_codes(&y, "20255"), ["TYPE"]);
    let any = table(r#"{"name":"n","type":"any"}"#);
    assert_eq!(t_csv(&any, "5").2, [r#"Str("5")"#]);
    let s = table(r#"{"name":"n"}"#);
    assert_eq!(s.fields()[0].ty, FieldType::String);
    assert_eq!(t_csv(&s, "x").2, [r#"Str("x")"#]);
}

#[test]
fn table_schema_constraints() {
    let req = table(r#"{"name":"n","constraints":{"required":true}}"#);
    assert_eq!(t_codes(&req, ""), ["REQUIRED"]);
    let len = table(r#"{"name":"n","constraints":{"minLength":2,"maxLength":3}}"#);
    assert_eq!(t_codes(&len, "a"), ["MIN_LENGTH"]);
    assert_eq!(t_codes(&len, "abcd"), ["MAX_LENGTH"]);
    assert_eq!(t_codes(&len, "abc"), Vec::<&str>::new());
    let range =
        table(r#"{"name":"n","type":"integer","constraints":{"minimum":1,"maximum":"10"}}"#);
    assert_eq!(t_codes(&range, "0"), ["MINIMUM"]);
    assert_eq!(t_codes(&range, "11"), ["MAXIMUM"]);
    assert_eq!(t_codes(&range, "10"), Vec::<&str>::new());
    let year = table(r#"{"name":"n","type":"year","constraints":{"minimum":2000}}"#);
    assert_eq!(t_codes(&year, "1999"), ["MINIMUM"]);
    let num = table(r#"{"name":"n","type":"number","constraints":{"maximum":"2.5"}}"#);
    assert_eq!(t_codes(&num, "2.6"), ["MAXIMUM"]);
    // Table Schema patterns match the whole value.
    let p = table(r#"{"name":"n","constraints":{"pattern":"b"}}"#);
    assert_eq!(t_codes(&p, "b"), Vec::<&str>::new());
    assert_eq!(t_codes(&p, "abc"), ["PATTERN"]);
    assert_eq!(
        messages(&t_csv(&p, "abc").1),
        [r#"n: "abc" does not match the pattern b"#]
    );
    let alt = table(r#"{"name":"n","constraints":{"pattern":"a|b"}}"#);
    assert_eq!(t_codes(&alt, "ab"), ["PATTERN"]);
    assert_eq!(t_codes(&alt, "a"), Vec::<&str>::new());
    let nl = table(r#"{"name":"n","constraints":{"pattern":"[0-9]+"}}"#);
    assert_eq!(t_codes(&nl, "12\n"), ["PATTERN"]);
    let dp = table(r#"{"name":"n","type":"date","constraints":{"pattern":"2025-.*"}}"#);
    assert_eq!(t_codes(&dp, "2024-01-01"), ["PATTERN"]);
    let e = table(r#"{"name":"n","type":"integer","constraints":{"enum":[1,"2"]}}"#);
    assert_eq!(t_codes(&e, "2"), Vec::<&str>::new());
    assert_eq!(t_codes(&e, "1"), Vec::<&str>::new());
    assert_eq!(t_codes(&e, "3"), ["ENUM"]);
    let eb = table(r#"{"name":"n","type":"boolean","constraints":{"enum":[true,"TRUE"]}}"#);
    assert_eq!(t_codes(&eb, "1"), Vec::<&str>::new());
    assert_eq!(t_codes(&eb, "0"), ["ENUM"]);
    let en = table(r#"{"name":"n","type":"number","constraints":{"enum":[1.5,"2"]}}"#);
    assert_eq!(t_codes(&en, "2.0"), Vec::<&str>::new());
    assert_eq!(t_codes(&en, "1.5"), Vec::<&str>::new());
    assert_eq!(t_codes(&en, "1"), ["ENUM"]);
    for (format, good, bad) in [
        ("email", "a@b.c", "a@"),
        ("uri", "https://x.y", "x.y"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
    ] {
        let s = table(&format!(r#"{{"name":"n","format":"{format}"}}"#));
        assert_eq!(t_codes(&s, good), Vec::<&str>::new(), "{format}");
        assert_eq!(t_codes(&s, bad), ["FORMAT"], "{format}");
    }
    let any_format = table(r#"{"name":"n","type":"date","format":"any"}"#);
    assert_eq!(t_codes(&any_format, "2025-01-01"), Vec::<&str>::new());
}

#[test]
fn table_schema_keys_missing_values_and_primary_key() {
    let s = Schema::compile(
        r#"{"$schema":"x","name":"n","title":"t","description":"d",
            "fields":[
              {"name":"id","type":"integer","title":"Id","description":"d","example":"1"},
              {"name":"sub","type":"string","constraints":{"unique":false}},
              {"name":"code","constraints":{"unique":true}},
              {"name":"qty","type":"number"}
            ],
            "primaryKey":["id","sub"],
            "missingValues":["","NA","-"],
            "x-maxRows":5}"#,
    )
    .unwrap();
    assert_eq!(s.primary_key(), Some(&[0usize, 1][..]));
    assert_eq!(s.unique_slots(), &[2]);
    assert_eq!(s.max_rows(), Some(5));
    assert!(s.fields()[0].required && s.fields()[0].unique && !s.fields()[0].nullable);
    assert!(s.fields()[1].required);
    assert!(!s.fields()[3].required);
    let cols = s.csv_columns(&["id", "sub", "code", "qty"]).unwrap();
    let (ok, _, cells) = csv_row(&s, &cols, &["1", "a", "NA", "-"]);
    assert!(ok);
    assert_eq!(cells, ["Int(1)", r#"Str("a")"#, "Null", "Null"]);
    assert_eq!(
        codes(&csv_row(&s, &cols, &["NA", "a", "", ""]).1),
        ["REQUIRED"]
    );
    assert_eq!(
        codes(&csv_row(&s, &cols, &["1", "a", "x", "n/a"]).1),
        ["TYPE"]
    );
    let s = Schema::compile(r#"{"fields":[{"name":"a"}],"primaryKey":"a","missingValues":[]}"#)
        .unwrap();
    assert_eq!(s.primary_key(), Some(&[0usize][..]));
    assert!(s.unique_slots().is_empty());
    // With no missing values an empty cell is an empty string.
    assert_eq!(t_csv(&s, "").2, [r#"Str("")"#]);
}

#[test]
fn table_schema_json_rows_are_checked_as_they_are() {
    let s = Schema::compile(
        r#"{"fields":[
            {"name":"id","type":"integer","constraints":{"required":true}},
            {"name":"day","type":"date"},
            {"name":"ok","type":"boolean"},
            {"name":"y","type":"year"},
            {"name":"note"}
        ]}"#,
    )
    .unwrap();
    let (ok, _, cells) = json(
        &s,
        r#"{"id":5,"day":"2024-02-29","ok":true,"y":2025,"note":null}"#,
    );
    assert!(ok);
    assert_eq!(
        cells,
        [
            "Int(5)",
            r#"Str("2024-02-29")"#,
            "Bool(true)",
            "Int(2025)",
            "Null"
        ]
    );
    let (_, errors, _) = json(
        &s,
        r#"{"id":"5","day":"2023-02-29","ok":"true","y":"2025","extra":1}"#,
    );
    assert_eq!(
        codes(&errors),
        ["TYPE", "FORMAT", "TYPE", "TYPE", "UNKNOWN_FIELD"]
    );
    assert_eq!(codes(&json(&s, r#"{"id":null}"#).1), ["REQUIRED"]);
    assert_eq!(codes(&json(&s, r#"{"day":"2024-01-01"}"#).1), ["REQUIRED"]);
}

#[test]
fn invalid_table_schemas_are_rejected() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"fields":[{"name":"a"}],"foreignKeys":[]}"#,
            "top level: keyword 'foreignKeys' is not supported",
        ),
        (
            r#"{"fields":[{"name":"a","rdfType":"x"}]}"#,
            "fields.a: keyword 'rdfType' is not supported",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"exclusiveMinimum":1}}]}"#,
            "fields.a.constraints: keyword 'exclusiveMinimum' is not supported",
        ),
        (
            r#"{"fields":[{"name":"a","type":"geopoint"}]}"#,
            "fields.a: type 'geopoint' is not supported",
        ),
        (
            r#"{"fields":[{"name":"a","type":"date","format":"%d/%m/%Y"}]}"#,
            "fields.a: format '%d/%m/%Y' is not supported for type date",
        ),
        (
            r#"{"fields":[{"name":"a","format":"binary"}]}"#,
            "fields.a: format 'binary' is not supported for strings",
        ),
        (
            r#"{"fields":[{"name":"a","format":"any"}]}"#,
            "format 'any' is not supported for strings",
        ),
        (
            r#"{"fields":[{"name":"a","type":"integer","constraints":{"minLength":1}}]}"#,
            "'minLength' applies to string fields",
        ),
        (
            r#"{"fields":[{"name":"a","type":"integer","constraints":{"pattern":"1"}}]}"#,
            "'pattern' is supported for string, date",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"minimum":1}}]}"#,
            "'minimum' is supported for integer, number and year fields",
        ),
        (
            r#"{"fields":[{"name":"a","type":"integer","constraints":{"minimum":"x"}}]}"#,
            "'minimum' value \"x\" is not of the field's type integer",
        ),
        (
            r#"{"fields":[{"name":"a","type":"integer","constraints":{"minimum":3,"maximum":2}}]}"#,
            "lower bound 3 is greater than the upper bound 2",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"minLength":3,"maxLength":2}}]}"#,
            "minLength 3 is greater than maxLength 2",
        ),
        (
            r#"{"fields":[{"name":"a","type":"integer","constraints":{"enum":[1.5]}}]}"#,
            "'enum' value 1.5 is not of the field's type integer",
        ),
        (
            r#"{"fields":[{"name":"a","type":"boolean","constraints":{"enum":["yes"]}}]}"#,
            "'enum' value \"yes\" is not a boolean",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"enum":[1]}}]}"#,
            "'enum' value 1 is not of the field's type string",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"enum":[]}}]}"#,
            "'enum' must be a non-empty array",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"pattern":"("}}]}"#,
            "is not a valid regular expression",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":{"required":"yes"}}]}"#,
            "'required' must be a boolean",
        ),
        (
            r#"{"fields":[{"name":"a","constraints":[]}]}"#,
            "fields.a.constraints must be an object",
        ),
        (
            r#"{"fields":[{"name":"a"},{"name":"a"}]}"#,
            "fields[1]: the name 'a' is used by another field",
        ),
        (
            r#"{"fields":[{"name":""}]}"#,
            "fields[0]: 'name' must be a non-empty string",
        ),
        (
            r#"{"fields":[{"type":"string"}]}"#,
            "fields[0]: 'name' must be a non-empty string",
        ),
        (r#"{"fields":[5]}"#, "fields[0]: a field must be an object"),
        (
            r#"{"fields":[{"name":"a"}],"primaryKey":"b"}"#,
            "'primaryKey' names 'b', which is not a field",
        ),
        (
            r#"{"fields":[{"name":"a"}],"missingValues":[1]}"#,
            "'missingValues' must list strings",
        ),
        (
            r#"{"fields":[{"name":"a"}],"missingValues":""}"#,
            "'missingValues' must be an array of strings",
        ),
        (
            r#"{"fields":[{"name":"a"}],"x-maxRows":0}"#,
            "'x-maxRows' must be a positive integer",
        ),
        (
            r#"{"fields":[{"name":"a","type":5}]}"#,
            "'type' must be a string",
        ),
    ];
    for (doc, part) in cases {
        let m = schema_err(doc);
        assert!(m.contains(part), "{doc}: {m}");
    }
    // An empty fields array is still detected as Table Schema.
    assert_eq!(
        schema_err(r#"{"fields":[]}"#),
        "the schema defines no fields"
    );
    let forced = Schema::compile_as(r#"{"fields":[]}"#, SchemaDialect::TableSchema).unwrap_err();
    assert_eq!(
        forced,
        Error::InvalidSchema("the schema defines no fields".into())
    );
}

#[test]
fn dialects_can_be_forced_and_named() {
    let s = Schema::compile_as(
        r#"{"properties":{"fields":{"type":"string"}}}"#,
        SchemaDialect::JsonSchema,
    )
    .unwrap();
    assert_eq!(s.dialect(), SchemaDialect::JsonSchema);
    // A JSON Schema with a "fields" array property is still detected as Table Schema; force it.
    let m =
        Schema::compile_as(r#"{"fields":[{"name":"a"}]}"#, SchemaDialect::JsonSchema).unwrap_err();
    assert_eq!(
        m,
        Error::InvalidSchema("top level: keyword 'fields' is not supported".into())
    );
    for d in [SchemaDialect::JsonSchema, SchemaDialect::TableSchema] {
        assert_eq!(d.as_str().parse::<SchemaDialect>().unwrap(), d);
        assert_eq!(d.to_string(), d.as_str());
    }
    assert_eq!(
        "Table-Schema".parse::<SchemaDialect>().unwrap(),
        SchemaDialect::TableSchema
    );
    assert_eq!(
        "json_schema".parse::<SchemaDialect>().unwrap(),
        SchemaDialect::JsonSchema
    );
    assert_eq!(
        "xsd".parse::<SchemaDialect>().unwrap_err().code(),
        "INVALID_REQUEST"
    );
    let names: Vec<&str> = [
        FieldType::String,
        FieldType::Integer,
        FieldType::Number,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::DateTime,
        FieldType::Time,
        FieldType::Year,
        FieldType::Any,
    ]
    .iter()
    .map(|t| t.as_str())
    .collect();
    assert_eq!(
        names,
        ["string", "integer", "number", "boolean", "date", "datetime", "time", "year", "any"]
    );
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Schema>();
    send_sync::<CsvColumns>();
}

// ------------------------------------------------------------------------------------------------
// robustness

use crate::test_rng::Rng;

#[test]
fn garbage_tapes_and_ends_never_panic() {
    use simd_json::{Node, StaticNode};
    let schemas = [
        Schema::compile(POP).unwrap(),
        Schema::compile(CONTENT).unwrap(),
        Schema::compile(r#"{"properties":{"a":{},"b":{"type":"integer"}}}"#).unwrap(),
    ];
    let strings = [
        "eventId",
        "durationMs",
        "name",
        "a",
        "b",
        "",
        "é",
        "SCR-000123",
        "2025-01-27T10:00:00Z",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cells = Vec::new();
    let mut errors = Vec::new();
    for round in 0..20_000 {
        let n = rng.below(12) as usize;
        let tape: Vec<Node<'_>> = (0..n)
            .map(|_| match rng.below(9) {
                0 | 1 => Node::String(strings[rng.below(strings.len() as u64) as usize]),
                2 => {
                    let len = if rng.below(4) == 0 {
                        usize::MAX - rng.below(3) as usize
                    } else {
                        rng.below(6) as usize
                    };
                    let count = if rng.below(4) == 0 {
                        usize::MAX - rng.below(3) as usize
                    } else {
                        rng.below(12) as usize
                    };
                    Node::Object { len, count }
                }
                3 => Node::Array {
                    len: rng.below(4) as usize,
                    count: rng.below(8) as usize,
                },
                4 => Node::Static(StaticNode::I64(rng.next() as i64)),
                5 => Node::Static(StaticNode::U64(rng.next())),
                6 => Node::Static(StaticNode::F64(f64::from_bits(rng.next()))),
                7 => Node::Static(StaticNode::Bool(rng.below(2) == 0)),
                _ => Node::Static(StaticNode::Null),
            })
            .collect();
        let schema = &schemas[round % schemas.len()];
        errors.clear();
        let ok = schema.validate_json(&tape, 1, None, &mut cells, &mut errors);
        assert_eq!(ok, errors.is_empty());
        assert_eq!(cells.len(), schema.fields().len());
    }
    let record = "aé,2025-01-27T10:00:00Z15000xyz";
    for header in [&POP_HEADER[..], &CONTENT_HEADER[..]] {
        let schema = if header.len() == 11 {
            &schemas[0]
        } else {
            &schemas[1]
        };
        let cols = schema.csv_columns(header).unwrap();
        for _ in 0..20_000 {
            let n = if rng.below(3) == 0 {
                header.len()
            } else {
                rng.below(16) as usize
            };
            let ends: Vec<usize> = (0..n)
                .map(|_| {
                    if rng.below(10) == 0 {
                        usize::MAX
                    } else {
                        rng.below(record.len() as u64 + 3) as usize
                    }
                })
                .collect();
            errors.clear();
            let ok = schema.validate_csv(&cols, record, &ends, 0, 1, None, &mut cells, &mut errors);
            assert_eq!(ok, errors.is_empty());
        }
    }
    // A CsvColumns from another schema does not panic either.
    let wide = Schema::compile(CONTENT)
        .unwrap()
        .csv_columns(&CONTENT_HEADER)
        .unwrap();
    let narrow = &schemas[2];
    let ends: Vec<usize> = (1..=13).collect();
    narrow.validate_csv(
        &wide,
        "abcdefghijklm",
        &ends,
        0,
        1,
        None,
        &mut cells,
        &mut errors,
    );
}

#[test]
fn keys_sharing_their_first_eight_bytes_find_their_own_fields() {
    // Keys are matched by their first eight bytes and length first: names alike there must
    // still land in their own slots, in any order, and a near miss is an unknown field.
    let schema = Schema::compile(
        r#"{"type":"object","additionalProperties":false,"properties":{
            "campaignIdA":{"type":"integer"},"campaignIdB":{"type":"string"},
            "campaign":{"type":"integer"},"c":{"type":"boolean"},"é":{"type":"integer"}}}"#,
    )
    .unwrap();
    let (ok, errors, cells) = json(
        &schema,
        r#"{"campaignIdB":"x","c":true,"é":4,"campaign":2,"campaignIdA":1}"#,
    );
    assert!(ok, "{errors:?}");
    assert_eq!(
        cells,
        ["Int(1)", "Str(\"x\")", "Int(2)", "Bool(true)", "Int(4)"]
    );
    let (ok, errors, _) = json(&schema, r#"{"campaignIdC":1,"campaig":2}"#);
    assert!(!ok);
    assert_eq!(codes(&errors), ["UNKNOWN_FIELD", "UNKNOWN_FIELD"]);
}
