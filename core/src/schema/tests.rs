//! Tests of schema compilation and row validation.

use super::*;

#[test]
fn compiles_a_minimal_json_schema() {
    let s = Schema::compile(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#).unwrap();
    assert_eq!(s.dialect(), SchemaDialect::JsonSchema);
    assert_eq!(s.fields().len(), 1);
}
