//! JSON (`serde_json::Value`, what the gateway speaks) to and from Smithy `Document` (what the SDK
//! puts on the wire for free-form fields: tool input, JSON schemas, model-specific fields).

use aws_smithy_types::{Document, Number};
use serde_json::Value;

pub(crate) fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(to_number(n)),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

fn to_number(n: &serde_json::Number) -> Number {
    if let Some(u) = n.as_u64() {
        Number::PosInt(u)
    } else if let Some(i) = n.as_i64() {
        // `as_u64` failed, so this is negative: exactly what `NegInt` holds.
        Number::NegInt(i)
    } else {
        // Without serde_json's `arbitrary_precision` every other number is an f64.
        Number::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

pub(crate) fn to_value(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(n) => number_to_value(*n),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Document::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

fn number_to_value(n: Number) -> Value {
    match n {
        Number::PosInt(u) => Value::from(u),
        Number::NegInt(i) => Value::from(i),
        // JSON has no NaN or infinity; `Value::from(f64)` turns them into `null`.
        Number::Float(f) => Value::from(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(to_document(&json!(7)), Document::Number(Number::PosInt(7)));
        assert_eq!(
            to_document(&json!(-7)),
            Document::Number(Number::NegInt(-7))
        );
        assert_eq!(
            to_document(&json!(0.5)),
            Document::Number(Number::Float(0.5))
        );
        assert_eq!(
            to_document(&json!(u64::MAX)),
            Document::Number(Number::PosInt(u64::MAX))
        );
    }

    #[test]
    fn nested_json_round_trips() {
        let value = json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": -1}},
            "required": ["city"],
            "flags": [true, false, null, 1.25, -3, 18446744073709551615u64],
        });
        assert_eq!(to_value(&to_document(&value)), value);
    }

    #[test]
    fn non_finite_floats_become_null() {
        assert_eq!(
            to_value(&Document::Number(Number::Float(f64::NAN))),
            Value::Null
        );
        assert_eq!(
            to_value(&Document::Number(Number::Float(f64::INFINITY))),
            Value::Null
        );
    }
}
