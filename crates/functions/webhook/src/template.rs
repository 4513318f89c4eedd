//! A prompt template over a webhook payload: text with `{{/json/pointer}}` fields (RFC 6901).
//!
//! `{{/ticket/title}}` is required (a payload without it is refused with the pointer named),
//! `{{/ticket/body?}}` is optional (renders empty when absent), `{{}}` is the whole payload.
//! Strings render as their text, anything else as compact JSON. Parsed once at cold start,
//! so a broken template fails the init, not a request.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field { pointer: String, optional: bool },
}

/// A required field the payload does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the payload has no value at `{0}`")]
pub struct MissingField(pub String);

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| {
                format!(
                    "unclosed `{{{{` at byte {}",
                    text.len() - rest.len() + start
                )
            })?;
            let field = after[..end].trim();
            let (pointer, optional) = match field.strip_suffix('?') {
                Some(pointer) => (pointer.trim_end(), true),
                None => (field, false),
            };
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(format!(
                    "`{{{{{field}}}}}` is not a JSON pointer (it must start with `/`)"
                ));
            }
            parts.push(Part::Field {
                pointer: pointer.to_owned(),
                optional,
            });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    pub fn render(&self, payload: &Value) -> Result<String, MissingField> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field { pointer, optional } => match payload.pointer(pointer) {
                    Some(value) => out.push_str(&text_of(value)),
                    None if *optional => {}
                    None => return Err(MissingField(pointer.clone())),
                },
            }
        }
        Ok(out)
    }
}

/// A value as prompt text: strings verbatim, `null` as nothing, the rest as JSON.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_render_from_pointers() {
        let template =
            Template::parse("Ticket {{/id}}: {{ /ticket/title }}\n{{/ticket/tags}}{{/missing?}}!")
                .unwrap();
        let payload =
            json!({"id": 42, "ticket": {"title": "Printer on fire", "tags": ["hw", "urgent"]}});
        assert_eq!(
            template.render(&payload).unwrap(),
            "Ticket 42: Printer on fire\n[\"hw\",\"urgent\"]!"
        );
        let pointers: Vec<&str> = template
            .parts
            .iter()
            .filter_map(|part| match part {
                Part::Field { pointer, .. } => Some(pointer.as_str()),
                Part::Text(_) => None,
            })
            .collect();
        assert_eq!(
            pointers,
            ["/id", "/ticket/title", "/ticket/tags", "/missing"]
        );
    }

    #[test]
    fn the_empty_pointer_is_the_whole_payload_and_escapes_follow_rfc_6901() {
        let template = Template::parse("Event: {{}} / {{/a~1b}} / {{/m~0n}}").unwrap();
        let payload = json!({"a/b": "slash", "m~n": "tilde"});
        assert_eq!(
            template.render(&payload).unwrap(),
            r#"Event: {"a/b":"slash","m~n":"tilde"} / slash / tilde"#
        );
    }

    #[test]
    fn required_fields_must_be_there() {
        let template = Template::parse("{{/ticket/title}}").unwrap();
        assert_eq!(
            template.render(&json!({})).unwrap_err(),
            MissingField("/ticket/title".into())
        );
    }

    #[test]
    fn broken_templates_fail_at_parse_time() {
        assert!(
            Template::parse("Hello {{/name")
                .unwrap_err()
                .starts_with("unclosed")
        );
        assert!(
            Template::parse("Hello {{name}}")
                .unwrap_err()
                .contains("not a JSON pointer")
        );
        assert_eq!(
            Template::parse("no fields }} here")
                .unwrap()
                .render(&json!(null))
                .unwrap(),
            "no fields }} here"
        );
    }
}
