//! Anthropic's streaming events from InvokeModelWithResponseStream chunks. Bedrock's chunks
//! are Anthropic's own events (`message_start`, `content_block_start|delta|stop`,
//! `message_delta`, `message_stop`) as JSON; each becomes one server-sent event named by its
//! `type`, without Bedrock's `amazon-bedrock-invocationMetrics`. A `ping` follows
//! `message_start`, as Anthropic's API sends one.

use crate::error::GatewayError;
use serde_json::{Value, json};

/// One server-sent event: `event: <name>\ndata: <json>\n\n`.
pub fn sse(name: &str, data: &Value) -> Vec<u8> {
    format!("event: {name}\ndata: {data}\n\n").into_bytes()
}

/// The events one Bedrock chunk becomes (none for a chunk that is not an Anthropic event).
pub fn events(chunk: &[u8]) -> Vec<Vec<u8>> {
    let Ok(mut event) = serde_json::from_slice::<Value>(chunk) else {
        return Vec::new();
    };
    let Some(map) = event.as_object_mut() else {
        return Vec::new();
    };
    map.remove("amazon-bedrock-invocationMetrics");
    let Some(name) = map.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return Vec::new();
    };
    let mut out = vec![sse(&name, &event)];
    if name == "message_start" {
        out.push(sse("ping", &json!({"type": "ping"})));
    }
    out
}

/// Anthropic's error `type` for a gateway error.
pub fn error_type(error: &GatewayError) -> &'static str {
    match error.status_code() {
        400 | 409 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// Anthropic's error body: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
pub fn error_body(error: &GatewayError, request_id: &str) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_type(error), "message": error.public_message()},
        "request_id": request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_named_events() {
        let start =
            br#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3}}}"#;
        let out = events(start);
        assert_eq!(out.len(), 2);
        let first = String::from_utf8(out[0].clone()).unwrap();
        assert!(
            first.starts_with("event: message_start\ndata: {"),
            "{first}"
        );
        assert!(first.ends_with("\n\n"));
        assert_eq!(
            out[1],
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n".to_vec()
        );
        let stop =
            br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3}}"#;
        let out = events(stop);
        assert_eq!(
            String::from_utf8(out[0].clone()).unwrap(),
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        assert!(events(b"garbage").is_empty());
        assert!(events(br#"{"no":"type"}"#).is_empty());
    }

    #[test]
    fn errors_have_anthropics_shape() {
        let error = GatewayError::invalid("max_tokens", "max_tokens: too big");
        let body = error_body(&error, "req-1");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["message"], "max_tokens: too big");
        assert_eq!(
            error_type(&GatewayError::Forbidden("no".into())),
            "permission_error"
        );
        assert_eq!(
            error_type(&GatewayError::Unauthenticated),
            "authentication_error"
        );
        assert_eq!(
            error_type(&GatewayError::RateLimited {
                retry_after: std::time::Duration::from_secs(1),
                message: String::new(),
            }),
            "rate_limit_error"
        );
    }
}
