//! CountTokens (`POST /model/{modelId}/count-tokens`): the input tokens a Converse or
//! InvokeModel request would use, without running it.
//!
//! Body, as the SDKs send it: `{"input": {"converse": {messages, system, toolConfig, ...}}}` or
//! `{"input": {"invokeModel": {"body": "<base64 of the InvokeModel body>"}}}`; answer
//! `{"inputTokens": n}`. The count is the one the same request would report as input on a cold
//! cache (cached or not, the prompt has the same size), validated by the same parsers, so a body
//! the model would refuse is refused here too. The real service counts only for Claude models;
//! the simulator counts for every model it knows. CountTokens is not subject to behaviours and
//! not counted in the call counters, so it cannot disturb a test's scripted outcomes.

use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{parse_json, rest_json_error};
use crate::catalog::ResolvedModel;
use crate::error::ApiError;
use crate::reply::count_input_tokens;
use crate::{anthropic, converse, embeddings, request_id, titan};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountTokensRequest {
    input: Input,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    converse: Option<Value>,
    invoke_model: Option<InvokeModel>,
}

#[derive(Deserialize)]
struct InvokeModel {
    body: String,
}

/// Answers one CountTokens call for `model`.
pub fn handle(model: &ResolvedModel, body: &[u8]) -> Response {
    match count(model, body) {
        Ok(tokens) => {
            let mut response = axum::Json(json!({ "inputTokens": tokens })).into_response();
            response
                .headers_mut()
                .insert("x-amzn-requestid", request_id::next_header_value());
            response
        }
        Err(err) => err.into_response(),
    }
}

/// The input tokens of the request inside a CountTokens body.
pub fn count(model: &ResolvedModel, body: &[u8]) -> Result<u32, ApiError> {
    let req: CountTokensRequest = parse_json(body, rest_json_error)?;
    match (req.input.converse, req.input.invoke_model) {
        (Some(request), None) => {
            let bytes = serde_json::to_vec(&request).unwrap_or_default();
            Ok(count_input_tokens(converse::parse(&bytes)?.input_chars))
        }
        (None, Some(invoke)) => {
            // The SDKs send the blob base64-encoded; accept a plain JSON string as well.
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(invoke.body.as_bytes())
                .unwrap_or_else(|_| invoke.body.into_bytes());
            if model.is_embedding() {
                return Ok(embeddings::embed(model, &bytes)?.input_tokens);
            }
            let request = if model.is_anthropic() {
                anthropic::parse(&bytes)?
            } else {
                titan::parse(model, &bytes)?
            };
            Ok(count_input_tokens(request.input_chars))
        }
        _ => Err(ApiError::validation(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have exactly one of [converse, invokeModel] set",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(base: &str) -> ResolvedModel {
        ResolvedModel {
            id: base.into(),
            base: base.into(),
        }
    }

    #[test]
    fn converse_and_invoke_count_alike() {
        let m = model("anthropic.claude-3-5-haiku-20241022-v1:0");
        let converse = br#"{"input":{"converse":{"system":[{"text":"12345678"}],
            "messages":[{"role":"user","content":[{"text":"abcd"}]}]}}}"#;
        assert_eq!(count(&m, converse).unwrap(), 3);
        let inner =
            br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"system":"12345678",
            "messages":[{"role":"user","content":"abcd"}]}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
        let invoke = json!({"input": {"invokeModel": {"body": encoded}}});
        assert_eq!(count(&m, &serde_json::to_vec(&invoke).unwrap()).unwrap(), 3);
        let err = count(&m, br#"{"input":{}}"#).unwrap_err();
        assert!(err.message.contains("exactly one"), "{err}");
        let err = count(&m, br#"{"input":{"converse":{"messages":[]}}}"#).unwrap_err();
        assert!(err.message.contains("user message"), "{err}");
    }
}
