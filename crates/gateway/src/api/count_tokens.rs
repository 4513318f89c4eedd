//! CountTokens: the input tokens a Converse or InvokeModel request would use, without running
//! it. Bedrock's body: `{"input": {"converse": {messages, system, toolConfig, …}}}` or
//! `{"input": {"invokeModel": {"body": "<base64 of the InvokeModel body>"}}}`; its answer
//! `{"inputTokens": n}`. Free on Bedrock, so it is never charged to a budget.

use crate::api::converse::ConverseRequest;
use crate::error::GatewayError;
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub enum CountTokensInput {
    Converse(Box<ConverseRequest>),
    /// The InvokeModel body, decoded.
    InvokeModel(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    pub input_tokens: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    input: WireInput,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum WireInput {
    Converse(Box<ConverseRequest>),
    InvokeModel(WireInvoke),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireInvoke {
    body: String,
}

impl CountTokensInput {
    /// Parses Bedrock's CountTokens body; a refusal names the field, as Bedrock's 400 does.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, GatewayError> {
        let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
        let wire: Wire = serde_path_to_error::deserialize(deserializer)
            .map_err(|e| GatewayError::invalid("input", format!("{}: {}", e.path(), e.inner())))?;
        Ok(match wire.input {
            WireInput::Converse(request) => {
                if request.model_id.is_some() {
                    return Err(GatewayError::invalid(
                        "modelId",
                        "the model id belongs in the path on this route",
                    ));
                }
                Self::Converse(request)
            }
            WireInput::InvokeModel(invoke) => Self::InvokeModel(
                base64::engine::general_purpose::STANDARD
                    .decode(invoke.body.as_bytes())
                    .map_err(|_| {
                        GatewayError::invalid("input.invokeModel.body", "must be base64")
                    })?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_input_kinds_parse_and_mistakes_are_named() {
        let converse =
            br#"{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}}"#;
        let CountTokensInput::Converse(request) = CountTokensInput::from_wire(converse).unwrap()
        else {
            panic!("expected converse");
        };
        assert_eq!(request.messages.len(), 1);
        let invoke = br#"{"input":{"invokeModel":{"body":"e30="}}}"#;
        assert_eq!(
            CountTokensInput::from_wire(invoke).unwrap(),
            CountTokensInput::InvokeModel(b"{}".to_vec())
        );
        let bad = CountTokensInput::from_wire(br#"{"input":{"invokeModel":{"body":"%%"}}}"#);
        assert_eq!(bad.unwrap_err().field(), Some("input.invokeModel.body"));
        assert!(CountTokensInput::from_wire(br#"{"input":{"other":{}}}"#).is_err());
    }
}
