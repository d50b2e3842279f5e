//! An order-preserving JSON value for schema documents.
//!
//! `serde_json::Value` sorts object keys unless the `preserve_order` feature is on, and the order
//! of properties / fields is the slot order of a schema, so schema documents are read into this
//! small tree instead. Duplicate keys are rejected (a schema that says a keyword twice is
//! ambiguous).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A JSON value whose objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Arr(Vec<Doc>),
    Obj(Vec<(String, Doc)>),
}

impl Doc {
    /// Parses a schema document.
    pub(crate) fn parse(text: &str) -> Result<Doc, String> {
        serde_json::from_str(text).map_err(|e| format!("the schema is not valid JSON: {e}"))
    }

    /// The name of this value's JSON type, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Doc::Null => "null",
            Doc::Bool(_) => "a boolean",
            Doc::Num(_) => "a number",
            Doc::Str(_) => "a string",
            Doc::Arr(_) => "an array",
            Doc::Obj(_) => "an object",
        }
    }

    /// The value of `key` when this is an object that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Doc {
    /// Compact JSON text (used to quote enum values and constants in messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Doc::Null => f.write_str("null"),
            Doc::Bool(b) => write!(f, "{b}"),
            Doc::Num(n) => write!(f, "{n}"),
            Doc::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Doc::Arr(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Doc::Obj(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{v}", serde_json::Value::String(k.clone()))?;
                }
                f.write_str("}")
            }
        }
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Doc, E> {
        Ok(Doc::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Doc, E> {
        Ok(Doc::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Doc, E> {
        Ok(Doc::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Doc, E> {
        Number::from_f64(v)
            .map(Doc::Num)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Doc, E> {
        Ok(Doc::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Doc, E> {
        Ok(Doc::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Doc::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut entries: Vec<(String, Doc)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "key '{key}' appears twice in one object"
                )));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Doc::Obj(entries))
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_rejects_duplicates() {
        let d = Doc::parse(r#"{"b":1,"a":[true,null,"x",1.5]}"#).unwrap();
        match &d {
            Doc::Obj(e) => assert_eq!(
                e.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                ["b", "a"]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.to_string(), r#"{"b":1,"a":[true,null,"x",1.5]}"#);
        assert_eq!(d.get("b"), Some(&Doc::Num(1.into())));
        let e = Doc::parse(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        assert!(Doc::parse("{").is_err());
    }
}
