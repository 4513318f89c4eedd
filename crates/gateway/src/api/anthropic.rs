//! Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`) as Bedrock
//! InvokeModel bodies. Why InvokeModel and not Converse: its body *is* Anthropic's, so
//! `cache_control` (5-minute and 1-hour), thinking blocks and their signatures, tools and
//! `tool_choice` reach the model exactly as the client wrote them, and the usage that comes back
//! splits cache writes by TTL. Only Claude models are served here (others: a 400 naming
//! `model`).
//!
//! What changes on the way (docs/CLIENTS.md lists it for users):
//! * `model` and `stream` leave the body (Bedrock takes them from the path and operation);
//!   `anthropic_version` becomes `bedrock-2023-05-31`;
//! * the `anthropic-beta` header and an `anthropic_beta` field become the body's
//!   `anthropic_beta`, keeping only the betas Bedrock knows ([`BEDROCK_BETAS`]);
//! * `system`-role messages (sent mid-conversation by newer clients) become user text in
//!   `<system>` tags, merged with neighbouring user turns: Bedrock knows two roles;
//! * a top-level `cache_control` (automatic caching) marks the last block of the last message;
//! * `metadata` is checked and dropped, as are `context_management`, `output_config` and
//!   `service_tier`, which Bedrock's Anthropic body does not take;
//! * server-side features (`mcp_servers`, `container`) are refused: Bedrock cannot run them.

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::model_id::split_model_id;
use serde_json::{Map, Value, json};

/// The Messages API version Bedrock's Anthropic body takes.
pub const BEDROCK_VERSION: &str = "bedrock-2023-05-31";

/// Beta flags Bedrock's Anthropic body accepts; Claude Code and the SDKs send others (OAuth,
/// prompt-caching scopes, …) that Bedrock would refuse, which are dropped.
pub const BEDROCK_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "context-1m-2025-08-07",
];

/// Top-level fields passed to Bedrock unchanged (after their checks).
const PASSED: &[&str] = &[
    "max_tokens",
    "system",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
];

/// Top-level fields accepted and not forwarded: Bedrock's Anthropic body has no such field.
const DROPPED: &[&str] = &[
    "metadata",
    "context_management",
    "output_config",
    "service_tier",
];

/// Features that run on Anthropic's servers, which Bedrock does not offer.
const REFUSED: &[&str] = &["mcp_servers", "container"];

/// Largest output limit accepted (the controls' own cap on any output limit).
const MAX_OUTPUT_TOKENS: u64 = 1_000_000;
/// Longest model name accepted.
const MAX_MODEL_CHARS: usize = 256;
/// Most stop sequences (Bedrock's own limit).
const MAX_STOP_SEQUENCES: usize = 8191;
/// Longest `metadata.user_id` (Anthropic's limit).
const MAX_USER_ID_CHARS: usize = 256;

/// A Messages request ready for InvokeModel.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    /// The name the client asked for (`claude-sonnet-4-5-20250929`, an alias, a Bedrock id).
    pub model: String,
    pub stream: bool,
    /// The InvokeModel body (Anthropic's, Bedrock's version).
    pub body: Vec<u8>,
    /// Top-level fields accepted but not forwarded, for the log.
    pub dropped: Vec<String>,
}

/// Which endpoint a body came to: `count_tokens` needs no `max_tokens` and takes no `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Create,
    CountTokens,
}

fn invalid(field: &str, message: impl std::fmt::Display) -> GatewayError {
    GatewayError::invalid(field, format!("{field}: {message}"))
}

/// Parses a Messages API body (and the `anthropic-beta` header's flags) into an InvokeModel body.
pub fn parse(
    bytes: &[u8],
    header_betas: &[&str],
    endpoint: Endpoint,
) -> Result<MessagesRequest, GatewayError> {
    // The parser's own words say what is wrong (cut short, nested too deep, a number out of
    // range) and where; they never quote the body.
    let mut input = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(input)) => input,
        Ok(_) => {
            return Err(GatewayError::InvalidRequest {
                field: None,
                message: "request body must be a JSON object".into(),
            });
        }
        Err(error) => {
            return Err(GatewayError::InvalidRequest {
                field: None,
                message: format!("malformed JSON: {error}"),
            });
        }
    };
    let model = match input.remove("model") {
        Some(Value::String(m)) if !m.trim().is_empty() && m.chars().count() <= MAX_MODEL_CHARS => m,
        Some(Value::String(_)) => {
            return Err(invalid(
                "model",
                format!("must be 1 to {MAX_MODEL_CHARS} characters"),
            ));
        }
        Some(_) => return Err(invalid("model", "must be a string")),
        None => return Err(invalid("model", "is required")),
    };
    let stream = match input.remove("stream") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if endpoint == Endpoint::Create => true,
        Some(Value::Bool(true)) => return Err(invalid("stream", "is not allowed here")),
        Some(_) => return Err(invalid("stream", "must be a boolean")),
    };
    // The client's version is Anthropic's (`2023-06-01`, sent as a header); Bedrock's differs.
    input.remove("anthropic_version");
    let mut betas: Vec<String> = header_betas
        .iter()
        .flat_map(|h| h.split(','))
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    match input.remove("anthropic_beta") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, beta) in list.into_iter().enumerate() {
                let Value::String(beta) = beta else {
                    return Err(invalid(&format!("anthropic_beta.{i}"), "must be a string"));
                };
                betas.push(beta);
            }
        }
        Some(_) => return Err(invalid("anthropic_beta", "must be an array of strings")),
    }
    if let Some(field) = REFUSED.iter().find(|f| input.contains_key(**f)) {
        return Err(invalid(
            field,
            "is an Anthropic-hosted feature that Bedrock does not offer",
        ));
    }
    let auto_cache = input.remove("cache_control");
    if let Some(cache) = &auto_cache {
        check_cache_control("cache_control", cache)?;
    }
    check_metadata(input.get("metadata"))?;
    let mut dropped = Vec::new();
    for field in DROPPED {
        if input.remove(*field).is_some() {
            dropped.push((*field).to_owned());
        }
    }
    let messages = input
        .remove("messages")
        .ok_or_else(|| invalid("messages", "is required"))?;
    let mut messages = normalize_messages(messages)?;
    if let Some(cache) = auto_cache {
        mark_last_block(&mut messages, cache);
    }
    if let Some(unknown) = input.keys().find(|k| !PASSED.contains(&k.as_str())) {
        return Err(invalid(unknown, "is not a Messages API field"));
    }
    check_numbers(&input, endpoint)?;

    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!(BEDROCK_VERSION));
    body.extend(input);
    if endpoint == Endpoint::CountTokens {
        // Bedrock counts a complete InvokeModel body, which has an output limit.
        body.entry("max_tokens").or_insert(json!(1));
    }
    body.insert("messages".into(), Value::Array(messages));
    betas.retain(|b| BEDROCK_BETAS.contains(&b.as_str()));
    betas.dedup();
    if !betas.is_empty() {
        body.insert("anthropic_beta".into(), json!(betas));
    }
    let body = serde_json::to_vec(&Value::Object(body))
        .map_err(|e| GatewayError::Internal(format!("serialising a Messages body: {e}")))?;
    Ok(MessagesRequest {
        model,
        stream,
        body,
        dropped,
    })
}

fn check_cache_control(field: &str, value: &Value) -> Result<(), GatewayError> {
    let kind = value.get("type").and_then(Value::as_str);
    if kind != Some("ephemeral") {
        return Err(invalid(&format!("{field}.type"), "must be \"ephemeral\""));
    }
    match value.get("ttl") {
        None => Ok(()),
        Some(Value::String(ttl)) if ttl == "5m" || ttl == "1h" => Ok(()),
        Some(_) => Err(invalid(&format!("{field}.ttl"), "must be \"5m\" or \"1h\"")),
    }
}

fn check_metadata(metadata: Option<&Value>) -> Result<(), GatewayError> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    let Value::Object(map) = metadata else {
        return Err(invalid("metadata", "must be an object"));
    };
    if let Some(key) = map.keys().find(|k| k.as_str() != "user_id") {
        return Err(invalid(
            &format!("metadata.{key}"),
            "is not a metadata field",
        ));
    }
    match map.get("user_id") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(id)) if id.chars().count() <= MAX_USER_ID_CHARS => Ok(()),
        Some(_) => Err(invalid(
            "metadata.user_id",
            format!("must be a string of at most {MAX_USER_ID_CHARS} characters"),
        )),
    }
}

fn check_numbers(input: &Map<String, Value>, endpoint: Endpoint) -> Result<(), GatewayError> {
    match input.get("max_tokens") {
        Some(v)
            if v.as_u64()
                .is_some_and(|n| (1..=MAX_OUTPUT_TOKENS).contains(&n)) => {}
        Some(_) => {
            return Err(invalid(
                "max_tokens",
                format!("must be an integer from 1 to {MAX_OUTPUT_TOKENS}"),
            ));
        }
        None if endpoint == Endpoint::Create => return Err(invalid("max_tokens", "is required")),
        None => {}
    }
    for (field, max) in [("temperature", 1.0), ("top_p", 1.0)] {
        if let Some(v) = input.get(field)
            && !v.as_f64().is_some_and(|x| (0.0..=max).contains(&x))
        {
            return Err(invalid(field, format!("must be a number from 0 to {max}")));
        }
    }
    if let Some(v) = input.get("top_k")
        && v.as_u64().is_none_or(|k| k > MAX_OUTPUT_TOKENS)
    {
        return Err(invalid("top_k", "must be a non-negative integer"));
    }
    if let Some(v) = input.get("stop_sequences") {
        let ok = v.as_array().is_some_and(|list| {
            list.len() <= MAX_STOP_SEQUENCES && list.iter().all(Value::is_string)
        });
        if !ok {
            return Err(invalid(
                "stop_sequences",
                format!("must be at most {MAX_STOP_SEQUENCES} strings"),
            ));
        }
    }
    if let Some(v) = input.get("tools")
        && !v.is_array()
    {
        return Err(invalid("tools", "must be an array"));
    }
    if let Some(budget) = input.get("thinking").and_then(|t| t.get("budget_tokens"))
        && budget.as_u64().is_none_or(|b| b > MAX_OUTPUT_TOKENS)
    {
        return Err(invalid(
            "thinking.budget_tokens",
            format!("must be an integer up to {MAX_OUTPUT_TOKENS}"),
        ));
    }
    Ok(())
}

/// Checks roles and content shapes, turns `system`-role messages into user text and merges
/// consecutive turns of one role (the Messages API allows them; Bedrock's body may not).
fn normalize_messages(messages: Value) -> Result<Vec<Value>, GatewayError> {
    let Value::Array(messages) = messages else {
        return Err(invalid("messages", "must be an array"));
    };
    if messages.is_empty() {
        return Err(invalid("messages", "must not be empty"));
    }
    let mut out: Vec<(String, Vec<Value>)> = Vec::with_capacity(messages.len());
    for (i, message) in messages.into_iter().enumerate() {
        let Value::Object(mut message) = message else {
            return Err(invalid(&format!("messages.{i}"), "must be an object"));
        };
        let Some(Value::String(role)) = message.remove("role") else {
            return Err(invalid(&format!("messages.{i}.role"), "is required"));
        };
        if let Some(key) = message.keys().find(|k| k.as_str() != "content") {
            return Err(invalid(
                &format!("messages.{i}.{key}"),
                "is not a message field",
            ));
        }
        let blocks = match message.remove("content") {
            Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
            Some(Value::Array(blocks)) => {
                for (j, block) in blocks.iter().enumerate() {
                    if !block.get("type").is_some_and(Value::is_string) {
                        return Err(invalid(
                            &format!("messages.{i}.content.{j}.type"),
                            "is required",
                        ));
                    }
                    if let Some(cache) = block.get("cache_control") {
                        check_cache_control(
                            &format!("messages.{i}.content.{j}.cache_control"),
                            cache,
                        )?;
                    }
                }
                blocks
            }
            _ => {
                return Err(invalid(
                    &format!("messages.{i}.content"),
                    "must be a string or an array of content blocks",
                ));
            }
        };
        let (role, blocks) = match role.as_str() {
            "user" | "assistant" => (role, blocks),
            "system" => ("user".to_owned(), system_as_user(blocks)),
            _ => {
                return Err(invalid(
                    &format!("messages.{i}.role"),
                    "must be \"user\" or \"assistant\"",
                ));
            }
        };
        match out.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect())
}

/// A `system`-role message's text as user text the model can tell apart.
fn system_as_user(blocks: Vec<Value>) -> Vec<Value> {
    blocks
        .into_iter()
        .map(|mut block| {
            if let Some(Value::String(text)) = block.get_mut("text") {
                *text = format!("<system>\n{text}\n</system>");
            }
            block
        })
        .collect()
}

/// Automatic caching: the breakpoint on the last block of the last message, unless marked.
fn mark_last_block(messages: &mut [Value], cache: Value) {
    if let Some(block) = messages
        .last_mut()
        .and_then(|m| m.get_mut("content"))
        .and_then(Value::as_array_mut)
        .and_then(|blocks| blocks.last_mut())
        .and_then(Value::as_object_mut)
    {
        block.entry("cache_control").or_insert(cache);
    }
}

/// The configured model a Messages `model` names: a configured id, alias or profile id, or an
/// Anthropic API name (`claude-haiku-4-5-20251001`, `claude-haiku-4-5`) matching a configured
/// Claude model's Bedrock id. Anything that is not a Claude model is refused here.
pub fn route_name(config: &GatewayConfig, model: &str) -> Result<String, GatewayError> {
    let is_claude = |id: &str| split_model_id(id).1.starts_with("anthropic.");
    if let Some(configured) = config.model(model) {
        if is_claude(&configured.id) {
            return Ok(model.to_owned());
        }
        return Err(not_claude(model));
    }
    if model.starts_with("claude-") {
        let prefix = format!("anthropic.{model}");
        // Anthropic's dated name (`claude-haiku-4-5-20251001`) or its alias without the date
        // (`claude-haiku-4-5`) — exactly, never a shorter prefix: a client that asks for a
        // model must not be answered by another one.
        if let Some(configured) = config.models.iter().find(|m| {
            let base = split_model_id(&m.id).1;
            let dated = base.rsplit_once("-v").map_or(base, |(name, _)| name);
            let alias = dated
                .rsplit_once('-')
                .filter(|(_, date)| date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
                .map_or(dated, |(name, _)| name);
            prefix == dated || prefix == alias
        }) {
            return Ok(configured.id.clone());
        }
    }
    if config.routing.groups.iter().any(|g| g.name == model) {
        return Err(not_claude(model));
    }
    Err(GatewayError::UnknownModel {
        model: model.to_owned(),
        allowed: config.allowed_names(),
    })
}

fn not_claude(model: &str) -> GatewayError {
    invalid(
        "model",
        format!(
            "{model} is not an Anthropic Claude model; /v1/messages serves Claude models \
             (use /v1/converse or /v1/chat/completions for others)"
        ),
    )
}

/// The Messages response from Bedrock's InvokeModel body: the same object, without Bedrock's
/// own additions.
pub fn response_body(bedrock: &[u8]) -> Result<Vec<u8>, GatewayError> {
    let mut value: Value = serde_json::from_slice(bedrock)
        .map_err(|e| GatewayError::Internal(format!("Bedrock's Anthropic body: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        map.remove("amazon-bedrock-invocationMetrics");
    }
    serde_json::to_vec(&value)
        .map_err(|e| GatewayError::Internal(format!("serialising a Messages response: {e}")))
}

/// `{"input_tokens": n}`: count_tokens' answer.
pub fn count_tokens_body(input_tokens: u32) -> Value {
    json!({ "input_tokens": input_tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(body: Value) -> (MessagesRequest, Value) {
        let request = parse(
            body.to_string().as_bytes(),
            &["oauth-2025-04-20,interleaved-thinking-2025-05-14"],
            Endpoint::Create,
        )
        .unwrap();
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        (request, sent)
    }

    fn refused(body: Value, endpoint: Endpoint) -> String {
        let err = parse(body.to_string().as_bytes(), &[], endpoint).unwrap_err();
        assert_eq!(err.status_code(), 400, "{err}");
        err.field().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_full_request_becomes_a_bedrock_body() {
        let (request, sent) = parse_ok(json!({
            "model": "claude-haiku-4-5",
            "stream": true,
            "max_tokens": 64,
            "system": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}
            ],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
            "context_management": {"edits": []},
            "anthropic_beta": ["context-1m-2025-08-07"],
        }));
        assert_eq!(request.model, "claude-haiku-4-5");
        assert!(request.stream);
        assert_eq!(request.dropped, vec!["metadata", "context_management"]);
        assert_eq!(sent["anthropic_version"], BEDROCK_VERSION);
        assert!(sent.get("model").is_none() && sent.get("stream").is_none());
        assert!(sent.get("metadata").is_none());
        assert_eq!(sent["system"][0]["cache_control"]["ttl"], "1h");
        assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");
        assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(sent["tool_choice"]["type"], "auto");
        assert_eq!(sent["thinking"]["budget_tokens"], 1024);
        // Known betas from the header and the body; OAuth's dropped.
        assert_eq!(
            sent["anthropic_beta"],
            json!(["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"])
        );
    }

    #[test]
    fn system_messages_and_automatic_caching_are_translated() {
        let (_, sent) = parse_ok(json!({
            "model": "m", "max_tokens": 5,
            "cache_control": {"type": "ephemeral"},
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "b"}
            ]
        }));
        let messages = sent["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "one user turn: {sent}");
        let blocks = messages[0]["content"].as_array().unwrap();
        assert_eq!(blocks[1]["text"], "<system>\nbe brief\n</system>");
        assert_eq!(blocks[2]["cache_control"]["type"], "ephemeral");
        assert!(blocks[0].get("cache_control").is_none());
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        let base = || json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
        let with = |key: &str, value: Value| {
            let mut body = base();
            body[key] = value;
            body
        };
        assert_eq!(
            refused(json!({"max_tokens": 5, "messages": []}), Endpoint::Create),
            "model"
        );
        assert_eq!(
            refused(with("model", json!("x".repeat(300))), Endpoint::Create),
            "model"
        );
        assert_eq!(
            refused(with("max_tokens", json!(0)), Endpoint::Create),
            "max_tokens"
        );
        assert_eq!(
            refused(with("max_tokens", json!(1e12)), Endpoint::Create),
            "max_tokens"
        );
        assert_eq!(
            refused(with("messages", json!([])), Endpoint::Create),
            "messages"
        );
        assert_eq!(
            refused(
                with("messages", json!([{"role": "tool", "content": "x"}])),
                Endpoint::Create
            ),
            "messages.0.role"
        );
        assert_eq!(
            refused(
                with("messages", json!([{"role": "user", "content": 5}])),
                Endpoint::Create
            ),
            "messages.0.content"
        );
        assert_eq!(
            refused(
                with(
                    "messages",
                    json!([{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1d"}}]}])
                ),
                Endpoint::Create
            ),
            "messages.0.content.0.cache_control.ttl"
        );
        assert_eq!(
            refused(with("temperature", json!(7)), Endpoint::Create),
            "temperature"
        );
        assert_eq!(
            refused(with("mcp_servers", json!([])), Endpoint::Create),
            "mcp_servers"
        );
        assert_eq!(
            refused(with("frobnicate", json!(1)), Endpoint::Create),
            "frobnicate"
        );
        assert_eq!(
            refused(
                with("metadata", json!({"user_id": "u".repeat(300)})),
                Endpoint::Create
            ),
            "metadata.user_id"
        );
        assert_eq!(
            refused(with("stream", json!(true)), Endpoint::CountTokens),
            "stream"
        );
        let missing = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        assert_eq!(refused(missing.clone(), Endpoint::Create), "max_tokens");
        // count_tokens needs no output limit; Bedrock's body gets one.
        let counted = parse(missing.to_string().as_bytes(), &[], Endpoint::CountTokens).unwrap();
        let sent: Value = serde_json::from_slice(&counted.body).unwrap();
        assert_eq!(sent["max_tokens"], 1);
        assert!(parse(b"[1]", &[], Endpoint::Create).is_err());
        assert!(parse(b"not json", &[], Endpoint::Create).is_err());
    }

    #[test]
    fn names_resolve_to_configured_claude_models_only() {
        let mut config = GatewayConfig::default();
        config.models.push(crate::config::ModelConfig {
            id: "us.anthropic.claude-opus-4-5-20251101-v1:0".into(),
            aliases: vec!["opus45".into()],
            ..Default::default()
        });
        assert_eq!(route_name(&config, "opus45").unwrap(), "opus45");
        assert_eq!(
            route_name(&config, "claude-opus-4-5-20251101").unwrap(),
            "us.anthropic.claude-opus-4-5-20251101-v1:0"
        );
        assert_eq!(
            route_name(&config, "claude-opus-4-5").unwrap(),
            "us.anthropic.claude-opus-4-5-20251101-v1:0"
        );
        let haiku = crate::config::HAIKU;
        let anthropic_name = haiku
            .trim_start_matches("anthropic.")
            .rsplit_once("-v")
            .unwrap()
            .0;
        assert_eq!(route_name(&config, anthropic_name).unwrap(), haiku);
        let nova = route_name(&config, crate::config::NOVA_LITE).unwrap_err();
        assert_eq!(nova.field(), Some("model"));
        assert_eq!(
            route_name(&config, "claude-nonexistent-9")
                .unwrap_err()
                .code(),
            "unknown_model"
        );
    }

    #[test]
    fn responses_lose_bedrocks_additions() {
        let body = br#"{"id":"msg_1","type":"message","amazon-bedrock-invocationMetrics":{"inputTokenCount":1}}"#;
        let out: Value = serde_json::from_slice(&response_body(body).unwrap()).unwrap();
        assert_eq!(out, json!({"id": "msg_1", "type": "message"}));
        assert!(response_body(b"nope").is_err());
    }
}
