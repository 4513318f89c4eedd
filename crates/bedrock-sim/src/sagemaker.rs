//! SageMaker Runtime: `InvokeEndpoint` (`POST /endpoints/{name}/invocations`) and
//! `InvokeEndpointWithResponseStream` (`…/invocations-response-stream`), for two payload
//! dialects model containers serve:
//!
//! - **chat** (OpenAI messages, as the TGI / LMI / vLLM containers' `/v1/chat/completions`):
//!   `{"messages": [...], "max_tokens"?, "stop"?}` → a `chat.completion` body; streamed as SSE
//!   lines of `chat.completion.chunk`s ending in `data: [DONE]`.
//! - **prompt** (TGI's plain prompt): `{"inputs": "...", "parameters"?: {"max_new_tokens",
//!   "stop"}}` → `[{"generated_text": "..."}]`; streamed as TGI's `data: {"token": ...}` lines.
//!
//! Any endpoint name is served (the real service answers 400 for unknown ones; tests name the
//! endpoints they configure). Behaviours apply under the key `sagemaker:<endpoint>` (the
//! admin API's `/_sim/models/{key}/behavior`), and calls are counted under that key. The
//! stream's events are `PayloadPart` messages whose payload is the raw bytes; an in-stream
//! failure is a `ModelStreamError` exception.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::ResolvedModel;
use crate::control::PlannedOutcome;
use crate::error::ErrorKind;
use crate::paths::{decode_segment, unknown_operation};
use crate::reply::{Content, GenRequest, Reply, StopReason, split_chunks};
use crate::state::SimState;
use crate::stream::{Segments, sleep_unless_shutdown};
use crate::{eventstream, request_id};

const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The behaviour and call-counter key of an endpoint.
pub fn behavior_key(endpoint: &str) -> String {
    format!("sagemaker:{endpoint}")
}

/// A SageMaker Runtime error: status, `x-amzn-errortype`, `{"message": ...}`.
#[derive(Debug)]
struct SageMakerError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl SageMakerError {
    fn validation(message: impl Into<String>) -> Self {
        SageMakerError {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message: message.into(),
        }
    }

    /// An injected Bedrock-style fault, in SageMaker's names.
    fn injected(kind: ErrorKind) -> Self {
        let (status, code) = match kind {
            ErrorKind::ValidationException => (StatusCode::BAD_REQUEST, "ValidationError"),
            ErrorKind::ThrottlingException => {
                (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException")
            }
            ErrorKind::ModelNotReadyException => {
                (StatusCode::TOO_MANY_REQUESTS, "ModelNotReadyException")
            }
            ErrorKind::ServiceUnavailableException => {
                (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
            }
            ErrorKind::InternalServerException => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure")
            }
            // The container itself failed (or timed out): SageMaker's ModelError.
            _ => (StatusCode::FAILED_DEPENDENCY, "ModelError"),
        };
        SageMakerError {
            status,
            code,
            message: kind.default_message().to_string(),
        }
    }
}

impl IntoResponse for SageMakerError {
    fn into_response(self) -> Response {
        // SageMaker spells its error members with a capital (`Message`, `OriginalStatusCode`).
        let mut body = json!({ "Message": self.message });
        if self.code == "ModelError" {
            body["OriginalStatusCode"] = json!(500);
            body["OriginalMessage"] = json!("simulated container failure");
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        headers.insert("x-amzn-requestid", request_id::next_header_value());
        response
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Chat,
    Prompt,
}

#[derive(Deserialize)]
struct ChatBody {
    messages: Vec<ChatMessage>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    stop: Option<Value>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct PromptBody {
    inputs: String,
    #[serde(default)]
    parameters: PromptParameters,
}

#[derive(Deserialize, Default)]
struct PromptParameters {
    #[serde(default)]
    max_new_tokens: Option<u32>,
    #[serde(default)]
    stop: Vec<String>,
}

/// Text of an OpenAI message's content: a string, or the `text` of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn parse(body: &[u8]) -> Result<(Dialect, GenRequest), SageMakerError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        SageMakerError::validation(format!("Received client error (400): invalid JSON: {e}"))
    })?;
    if value.get("messages").is_some() {
        let chat: ChatBody = serde_json::from_value(value)
            .map_err(|e| SageMakerError::validation(format!("Received client error (400): {e}")))?;
        let prompt = chat
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| content_text(&m.content))
            .ok_or_else(|| {
                SageMakerError::validation("Received client error (400): no user message")
            })?;
        let input_chars = chat
            .messages
            .iter()
            .map(|m| content_text(&m.content).chars().count())
            .sum();
        let stop_sequences = match chat.stop {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        return Ok((
            Dialect::Chat,
            GenRequest {
                prompt,
                input_chars,
                max_tokens: chat.max_tokens,
                stop_sequences,
                ..GenRequest::default()
            },
        ));
    }
    if value.get("inputs").is_some() {
        let plain: PromptBody = serde_json::from_value(value)
            .map_err(|e| SageMakerError::validation(format!("Received client error (400): {e}")))?;
        // A trailing `Assistant:` cue is the turn the model is asked to write, not prompt text.
        let prompt = plain.inputs.trim_end();
        let prompt = prompt
            .strip_suffix("Assistant:")
            .unwrap_or(prompt)
            .trim_end();
        return Ok((
            Dialect::Prompt,
            GenRequest {
                input_chars: plain.inputs.chars().count(),
                prompt: prompt.to_string(),
                max_tokens: plain.parameters.max_new_tokens,
                stop_sequences: plain.parameters.stop,
                ..GenRequest::default()
            },
        ));
    }
    Err(SageMakerError::validation(
        "Received client error (400): the body needs `messages` (chat) or `inputs` (prompt)",
    ))
}

fn reply_text(reply: &Reply) -> &str {
    match &reply.content {
        Content::Text { text, .. } => text,
        Content::ToolUse { input_json, .. } => input_json,
    }
}

fn finish_reason(reply: &Reply) -> &'static str {
    match reply.stop_reason {
        StopReason::MaxTokens => "length",
        _ => "stop",
    }
}

fn chat_body(endpoint: &str, reply: &Reply) -> Value {
    json!({
        "id": format!("chatcmpl-{}", crate::reply::id_suffix(reply_text(reply))),
        "object": "chat.completion",
        "created": 0,
        "model": endpoint,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply_text(reply)},
            "finish_reason": finish_reason(reply),
        }],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens.saturating_add(reply.output_tokens),
        },
    })
}

fn sse_line(value: &Value) -> Vec<u8> {
    format!("data: {value}\n\n").into_bytes()
}

/// The stream's payload lines, one per chunk of words (each becomes one `PayloadPart`).
fn stream_lines(dialect: Dialect, endpoint: &str, reply: &Reply, words: usize) -> Vec<Vec<u8>> {
    let chunks = split_chunks(reply_text(reply), words);
    let last = chunks.len().saturating_sub(1);
    let mut lines = Vec::with_capacity(chunks.len() + 2);
    match dialect {
        Dialect::Chat => {
            for (i, chunk) in chunks.iter().enumerate() {
                let mut event = json!({
                    "id": "chatcmpl-sim", "object": "chat.completion.chunk", "model": endpoint,
                    "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": null}],
                });
                if i == 0 {
                    event["choices"][0]["delta"]["role"] = json!("assistant");
                }
                lines.push(sse_line(&event));
            }
            lines.push(sse_line(&json!({
                "id": "chatcmpl-sim", "object": "chat.completion.chunk", "model": endpoint,
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason(reply)}],
                "usage": {
                    "prompt_tokens": reply.input_tokens,
                    "completion_tokens": reply.output_tokens,
                    "total_tokens": reply.input_tokens.saturating_add(reply.output_tokens),
                },
            })));
            lines.push(b"data: [DONE]\n\n".to_vec());
        }
        Dialect::Prompt => {
            for (i, chunk) in chunks.iter().enumerate() {
                let mut event = json!({"token": {"id": i, "text": chunk, "special": false},
                                       "generated_text": null, "details": null});
                if i == last {
                    event["generated_text"] = json!(reply_text(reply));
                    event["details"] = json!({
                        "finish_reason": if reply.stop_reason == StopReason::MaxTokens {
                            "length"
                        } else {
                            "eos_token"
                        },
                        "generated_tokens": reply.output_tokens,
                        "input_tokens": reply.input_tokens,
                    });
                }
                lines.push(sse_line(&event));
            }
        }
    }
    lines
}

/// `POST /endpoints/{name}/invocations[-response-stream]`.
pub(crate) async fn route(
    State(state): State<Arc<SimState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((raw_name, op)) = uri
        .path()
        .strip_prefix("/endpoints/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return unknown_operation(uri).await;
    };
    let streaming = match op {
        "invocations" => false,
        "invocations-response-stream" => true,
        _ => return unknown_operation(uri).await,
    };
    let Some(endpoint) = decode_segment(raw_name).filter(|n| !n.is_empty() && n.len() <= 63) else {
        return SageMakerError::validation("1 validation error detected: EndpointName")
            .into_response();
    };
    let key = behavior_key(&endpoint);
    let (dialect, request) = match parse(&body) {
        Ok(parsed) => parsed,
        Err(err) => {
            state.control.count_rejected(&key);
            return err.into_response();
        }
    };
    let model = ResolvedModel {
        id: key.clone(),
        base: key,
    };
    let plan = state.control.begin_call(&model);
    let mut shutdown = state.shutdown_signal();
    let failure = match plan.outcome {
        PlannedOutcome::Ok => plan.stream_failure.map(|(_, after)| after),
        PlannedOutcome::Error(kind) => return SageMakerError::injected(kind).into_response(),
        PlannedOutcome::Hang => {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return SageMakerError::injected(ErrorKind::ServiceUnavailableException)
                .into_response();
        }
        PlannedOutcome::StreamError { kind, after_chunks } => {
            if !streaming {
                return SageMakerError::injected(kind.http_equivalent()).into_response();
            }
            Some(after_chunks)
        }
    };
    let reply = crate::reply::generate(&request);
    if !sleep_unless_shutdown(plan.first_token, &mut shutdown).await {
        return SageMakerError::injected(ErrorKind::ServiceUnavailableException).into_response();
    }
    let content_type = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && *v != "*/*")
        .unwrap_or("application/json")
        .to_string();
    if !streaming {
        let body = match dialect {
            Dialect::Chat => chat_body(&endpoint, &reply),
            Dialect::Prompt => json!([{ "generated_text": reply_text(&reply) }]),
        };
        return invoked(Body::from(body.to_string()), &content_type, false);
    }
    let mut segments = Segments::new();
    for (i, line) in stream_lines(dialect, &endpoint, &reply, plan.words_per_chunk)
        .iter()
        .enumerate()
    {
        if failure.is_some_and(|after| i as u64 >= u64::from(after)) {
            let payload = json!({"Message": "simulated model stream failure", "ErrorCode": "ModelStreamError"});
            eventstream::write_exception(
                segments.buf(),
                "ModelStreamError",
                payload.to_string().as_bytes(),
            );
            break;
        }
        if i > 0 {
            segments.pause(plan.chunk_delay);
        }
        eventstream::write_message(
            segments.buf(),
            &[
                (":event-type", "PayloadPart"),
                (":content-type", "application/octet-stream"),
                (":message-type", "event"),
            ],
            line,
        );
    }
    invoked(
        segments.into_body(&state.shutdown_signal(), &state.hold_signal()),
        &content_type,
        true,
    )
}

fn invoked(body: Body, content_type: &str, streaming: bool) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let value = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
    if streaming {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
        headers.insert("x-amzn-sagemaker-content-type", value);
    } else {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        "x-amzn-invoked-production-variant",
        HeaderValue::from_static("AllTraffic"),
    );
    headers.insert("x-amzn-requestid", request_id::next_header_value());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_are_told_apart_and_bad_bodies_refused() {
        let (d, r) = parse(br#"{"messages":[{"role":"user","content":"hi there"}]}"#).unwrap();
        assert_eq!((d, r.prompt.as_str()), (Dialect::Chat, "hi there"));
        let (d, r) = parse(br#"{"inputs":"plain","parameters":{"max_new_tokens":3}}"#).unwrap();
        assert_eq!((d, r.max_tokens), (Dialect::Prompt, Some(3)));
        assert_eq!(parse(b"{}").unwrap_err().code, "ValidationError");
        assert_eq!(parse(b"nope").unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn chat_stream_ends_with_done_and_carries_the_reply() {
        let (_, r) =
            parse(br#"{"messages":[{"role":"user","content":"reply with: a b c"}]}"#).unwrap();
        let reply = crate::reply::generate(&r);
        let lines = stream_lines(Dialect::Chat, "ep", &reply, 1);
        assert_eq!(lines.last().unwrap(), b"data: [DONE]\n\n");
        assert_eq!(lines.len(), 5);
    }
}
