//! InvokeModel with a Titan-style text body (`{"inputText": ..., "textGenerationConfig": {...}}`),
//! accepted for every non-Anthropic model.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{malformed, parse_json};
use crate::catalog::ResolvedModel;
use crate::converse::{StreamShape, millis};
use crate::error::ApiError;
use crate::reply::{Content, GenRequest, Reply, StopReason, split_chunks};
use crate::stream::Segments;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest {
    input_text: Option<String>,
    text_generation_config: Option<GenerationConfig>,
    #[serde(rename = "anthropic_version")]
    anthropic_version: Option<Value>,
    messages: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    max_token_count: Option<i64>,
    #[serde(default)]
    stop_sequences: Vec<String>,
}

/// Parses a body sent to a non-Anthropic model.
pub fn parse(model: &ResolvedModel, body: &[u8]) -> Result<GenRequest, ApiError> {
    // Not `schema_error`: extra keys are allowed here, so every failure names its path.
    let req: TitanRequest = parse_json(body, |path, inner| {
        malformed(format!("#/{}: {inner}", path.replace('.', "/")))
    })?;
    let Some(input_text) = req.input_text else {
        let hint = if req.anthropic_version.is_some() {
            format!(
                "the Anthropic Messages body is only accepted by anthropic.* models, not {}",
                model.base
            )
        } else if req.messages.is_some() {
            format!(
                "the simulator does not implement the native messages body of {}; use Converse or a Titan-style body",
                model.base
            )
        } else {
            "#: required key [inputText] not found".to_string()
        };
        return Err(malformed(hint));
    };
    let mut gen_req = GenRequest {
        input_chars: input_text.chars().count(),
        prompt: input_text,
        ..GenRequest::default()
    };
    if let Some(config) = req.text_generation_config {
        if let Some(max) = config.max_token_count {
            if max < 1 {
                return Err(malformed(format!(
                    "#/textGenerationConfig/maxTokenCount: {max} is not greater or equal to 1"
                )));
            }
            gen_req.max_tokens = Some(u32::try_from(max).unwrap_or(u32::MAX));
        }
        gen_req.stop_sequences = config.stop_sequences;
    }
    Ok(gen_req)
}

fn completion_reason(reply: &Reply) -> &'static str {
    match reply.stop_reason {
        StopReason::MaxTokens => "LENGTH",
        StopReason::StopSequence => "STOP_CRITERIA_MET",
        StopReason::EndTurn | StopReason::ToolUse => "FINISH",
    }
}

fn text(reply: &Reply) -> &str {
    match &reply.content {
        Content::Text { text, .. } => text,
        Content::ToolUse { input_json, .. } => input_json,
    }
}

pub fn response_body(reply: &Reply) -> Vec<u8> {
    let body = json!({
        "inputTextTokenCount": reply.input_tokens,
        "results": [{
            "tokenCount": reply.output_tokens,
            "outputText": text(reply),
            "completionReason": completion_reason(reply),
        }]
    });
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
}

pub fn stream_segments(
    reply: &Reply,
    shape: StreamShape,
    first_byte: std::time::Duration,
) -> Segments {
    let mut seg = Segments::new();
    let mut scratch = Vec::with_capacity(256);
    let chunks = split_chunks(text(reply), shape.words_per_chunk);
    let last = chunks.len().saturating_sub(1);
    if chunks.is_empty() {
        crate::anthropic::write_chunk(
            &mut seg,
            &mut scratch,
            &json!({"outputText": "", "index": 0, "inputTextTokenCount": reply.input_tokens,
                    "totalOutputTextTokenCount": reply.output_tokens,
                    "completionReason": completion_reason(reply)}),
        );
        return seg;
    }
    shape.write_deltas(&mut seg, &chunks, |seg, i, chunk| {
        let mut event = json!({"outputText": chunk, "index": 0});
        if i == 0 {
            event["inputTextTokenCount"] = json!(reply.input_tokens);
        }
        if i == last && shape.failure.is_none() {
            event["totalOutputTextTokenCount"] = json!(reply.output_tokens);
            event["completionReason"] = json!(completion_reason(reply));
            event["amazon-bedrock-invocationMetrics"] = json!({
                "inputTokenCount": reply.input_tokens,
                "outputTokenCount": reply.output_tokens,
                "invocationLatency": millis(shape.latency),
                "firstByteLatency": millis(first_byte),
            });
        }
        crate::anthropic::write_chunk(seg, &mut scratch, &event);
    });
    seg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ResolvedModel {
        ResolvedModel {
            id: "amazon.titan-text-express-v1".into(),
            base: "amazon.titan-text-express-v1".into(),
        }
    }

    #[test]
    fn parses_titan_and_rejects_others() {
        let req = parse(
            &model(),
            br#"{"inputText":"hello","textGenerationConfig":{"maxTokenCount":3,"stopSequences":["|"]}}"#,
        )
        .unwrap();
        assert_eq!(req.prompt, "hello");
        assert_eq!(req.max_tokens, Some(3));
        let err = parse(&model(), br#"{"anthropic_version":"bedrock-2023-05-31"}"#).unwrap_err();
        assert!(err.message.contains("anthropic.* models"), "{err}");
        let err = parse(&model(), br#"{}"#).unwrap_err();
        assert!(err.message.contains("inputText"), "{err}");
        let reply = crate::reply::generate(&req);
        let body: Value = serde_json::from_slice(&response_body(&reply)).unwrap();
        assert_eq!(body["results"][0]["completionReason"], "LENGTH");
    }
}
