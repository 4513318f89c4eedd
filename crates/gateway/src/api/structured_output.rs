//! Structured output (a JSON schema the answer must satisfy) on Converse: the schema becomes a
//! tool the model is made to call, and that call's input is the answer. Converse has no field
//! for a response schema that every Bedrock model honours, while tool use with a forced choice
//! is supported by the models that call tools; the tool's input is already parsed JSON.

use super::converse::{
    ConverseRequest, SpecificTool, Tool, ToolChoice, ToolConfig, ToolInputSchema, ToolSpec,
};
use crate::error::GatewayError;
use serde_json::Value;

/// The longest tool name Bedrock accepts.
const MAX_NAME: usize = 64;

/// Offers `schema` as the tool `name` (the field `field` named it). Forced when the request has
/// no other tools; with function tools the model may call one of them or answer in the schema.
pub fn add_schema_tool(
    request: &mut ConverseRequest,
    field: &str,
    name: &str,
    description: Option<String>,
    schema: Value,
) -> Result<(), GatewayError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(GatewayError::invalid(
            field,
            format!("must be 1 to {MAX_NAME} letters, digits, '_' or '-'"),
        ));
    }
    if !schema.is_object() {
        return Err(GatewayError::invalid(
            field.replace(".name", ".schema"),
            "must be a JSON schema object",
        ));
    }
    let spec = Tool::ToolSpec(ToolSpec {
        name: name.to_owned(),
        description: Some(description.unwrap_or_else(|| "Answer with this structure.".to_owned())),
        input_schema: ToolInputSchema::Json(schema),
    });
    match &mut request.tool_config {
        Some(config) => {
            let clash = config
                .tools
                .iter()
                .any(|t| matches!(t, Tool::ToolSpec(s) if s.name == name));
            if clash {
                return Err(GatewayError::invalid(
                    field,
                    format!("'{name}' is also the name of a function tool"),
                ));
            }
            config.tools.push(spec);
        }
        None => {
            request.tool_config = Some(ToolConfig {
                tools: vec![spec],
                tool_choice: Some(ToolChoice::Tool(SpecificTool {
                    name: name.to_owned(),
                })),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forced_alone_offered_beside_functions_and_checked() {
        let mut request = ConverseRequest::default();
        add_schema_tool(
            &mut request,
            "text.format.name",
            "answer",
            None,
            json!({"type": "object"}),
        )
        .unwrap();
        let config = request.tool_config.clone().unwrap();
        assert_eq!(
            config.tool_choice,
            Some(ToolChoice::Tool(SpecificTool {
                name: "answer".into()
            }))
        );
        let err = add_schema_tool(&mut request, "text.format.name", "answer", None, json!({}))
            .unwrap_err();
        assert_eq!(err.field(), Some("text.format.name"));
        let err =
            add_schema_tool(&mut request, "text.format.name", "a b", None, json!({})).unwrap_err();
        assert_eq!(err.field(), Some("text.format.name"));
        let err =
            add_schema_tool(&mut request, "text.format.name", "ok", None, json!([1])).unwrap_err();
        assert_eq!(err.field(), Some("text.format.schema"));
    }
}
