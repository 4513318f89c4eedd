//! The JSON Schema subset `extract` tasks may use, and a validator for it.
//!
//! Keywords: `type` (`object`, `string`, `number`, `integer`, `boolean`, `array`, `null`, or a
//! list of them), `required`, `properties`, `enum`, `items`. Other keywords (`description`,
//! `title`, formats…) are accepted and ignored: they help the model, they are not checked.

use serde_json::{Map, Value};

const TYPES: [&str; 7] = [
    "object", "string", "number", "integer", "boolean", "array", "null",
];

/// Deepest nesting a schema may have (a bound, so a hostile schema cannot exhaust the stack).
const MAX_DEPTH: usize = 32;

/// Checks that `schema` uses the subset correctly and describes an object at its root.
pub fn check_extract_schema(schema: &Value) -> Result<(), String> {
    let root = schema.as_object().ok_or("must be a JSON object")?;
    match root.get("type") {
        Some(Value::String(t)) if t == "object" => {}
        None if root.contains_key("properties") => {}
        _ => return Err("the root must be `\"type\": \"object\"`".to_owned()),
    }
    check(schema, "$", 0)
}

fn check(schema: &Value, path: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested deeper than {MAX_DEPTH} levels"));
    }
    let object = schema
        .as_object()
        .ok_or_else(|| format!("{path}: a schema must be an object"))?;
    if let Some(types) = object.get("type") {
        let names: Vec<&Value> = match types {
            Value::Array(list) if !list.is_empty() => list.iter().collect(),
            single => vec![single],
        };
        for name in names {
            if !name.as_str().is_some_and(|n| TYPES.contains(&n)) {
                return Err(format!(
                    "{path}.type: {name} is not one of {}",
                    TYPES.join(", ")
                ));
            }
        }
    }
    if let Some(required) = object.get("required")
        && !required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
    {
        return Err(format!("{path}.required: must be a list of property names"));
    }
    if let Some(values) = object.get("enum")
        && values.as_array().is_none_or(Vec::is_empty)
    {
        return Err(format!("{path}.enum: must be a non-empty list"));
    }
    if let Some(properties) = object.get("properties") {
        let properties = properties
            .as_object()
            .ok_or_else(|| format!("{path}.properties: must be an object"))?;
        for (name, property) in properties {
            check(property, &format!("{path}.{name}"), depth + 1)?;
        }
    }
    if let Some(items) = object.get("items") {
        check(items, &format!("{path}[]"), depth + 1)?;
    }
    Ok(())
}

/// Every way `value` breaks `schema`, each with its JSON path; empty when it conforms.
/// `schema` is assumed checked by [`check_extract_schema`]; anything unexpected is ignored.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate_at(schema, value, "$", 0, &mut errors);
    errors
}

fn validate_at(schema: &Value, value: &Value, path: &str, depth: usize, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        errors.push(format!("{path}: nested deeper than {MAX_DEPTH} levels"));
        return;
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| has_type(value, t)) {
            errors.push(format!(
                "{path}: expected {}, got {}",
                allowed.join(" or "),
                type_name(value)
            ));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.iter().any(|o| same_value(o, value))
    {
        errors.push(format!(
            "{path}: {value} is not one of {}",
            Value::Array(options.clone())
        ));
    }
    if let Value::Object(fields) = value {
        validate_object(schema, fields, path, depth, errors);
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate_at(
                item_schema,
                item,
                &format!("{path}[{i}]"),
                depth + 1,
                errors,
            );
        }
    }
}

fn validate_object(
    schema: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
    depth: usize,
    errors: &mut Vec<String>,
) {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                errors.push(format!("{path}: missing required property '{name}'"));
            }
        }
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            if let Some(field) = fields.get(name) {
                validate_at(
                    property,
                    field,
                    &format!("{path}.{name}"),
                    depth + 1,
                    errors,
                );
            }
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_number().is_some_and(|n| {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality, with `1` and `1.0` equal as JSON Schema requires.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invoice() -> Value {
        json!({
            "type": "object",
            "required": ["vendor", "total", "lines"],
            "properties": {
                "vendor": {"type": "string", "description": "who billed"},
                "total": {"type": "number"},
                "count": {"type": "integer"},
                "paid": {"type": "boolean"},
                "currency": {"type": "string", "enum": ["EUR", "USD"]},
                "note": {"type": ["string", "null"]},
                "lines": {"type": "array", "items": {"type": "object", "required": ["sku"],
                          "properties": {"sku": {"type": "string"}}}}
            }
        })
    }

    #[test]
    fn a_conforming_value_has_no_errors() {
        let value = json!({"vendor": "ACME", "total": 12.5, "count": 3.0, "paid": false, "currency": "EUR",
                           "note": null, "lines": [{"sku": "A-1"}], "extra": "ignored"});
        assert_eq!(validate(&invoice(), &value), Vec::<String>::new());
    }

    #[test]
    fn each_violation_is_named_with_its_path() {
        let value = json!({"vendor": 7, "count": 1.5, "paid": "yes", "currency": "GBP", "note": 1,
                           "lines": [{"sku": "A"}, {}]});
        let errors = validate(&invoice(), &value);
        for expected in [
            "$: missing required property 'total'",
            "$.vendor: expected string, got number",
            "$.count: expected integer, got number",
            "$.paid: expected boolean, got string",
            "$.currency: \"GBP\" is not one of [\"EUR\",\"USD\"]",
            "$.note: expected string or null, got number",
            "$.lines[1]: missing required property 'sku'",
        ] {
            assert!(
                errors.iter().any(|e| e == expected),
                "missing `{expected}` in {errors:?}"
            );
        }
        assert_eq!(errors.len(), 7, "{errors:?}");
        assert_eq!(
            validate(&invoice(), &json!([1])),
            vec!["$: expected object, got array"]
        );
    }

    #[test]
    fn schemas_outside_the_subset_are_refused() {
        assert!(check_extract_schema(&invoice()).is_ok());
        assert!(check_extract_schema(&json!({"properties": {}})).is_ok());
        for (schema, needle) in [
            (json!([]), "JSON object"),
            (json!({"type": "array"}), "root"),
            (
                json!({"type": "object", "properties": {"a": {"type": "date"}}}),
                "$.a.type",
            ),
            (json!({"type": "object", "required": "a"}), "$.required"),
            (
                json!({"type": "object", "properties": {"a": {"enum": []}}}),
                "$.a.enum",
            ),
            (
                json!({"type": "object", "properties": {"a": {"items": 3}}}),
                "$.a[]",
            ),
        ] {
            let err = check_extract_schema(&schema).unwrap_err();
            assert!(err.contains(needle), "{schema}: {err}");
        }
    }
}
