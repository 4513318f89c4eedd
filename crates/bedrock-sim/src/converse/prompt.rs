//! The Converse body read in prompt order (tools → system → messages) for the input count
//! and the `cachePoint` checkpoints.

use serde_json::Value;

use super::json_chars;
use crate::error::ApiError;
use crate::prompt_cache::{CacheTtl, PrefixWalk};

/// Walks tools → system → messages (the service's cache order): every element is hashed, text
/// and tool payloads are counted, and `cachePoint` blocks end cacheable prefixes. Tool
/// definitions count 0 input characters in the simulator, but still key the prefixes after them.
pub(crate) fn walk_prompt(raw: &Value) -> Result<PrefixWalk, ApiError> {
    let mut walk = PrefixWalk::default();
    let list = |v: &Value, key: &str| v.get(key).and_then(Value::as_array).cloned();
    let tools = raw.get("toolConfig").and_then(|c| list(c, "tools"));
    for (i, tool) in tools.iter().flatten().enumerate() {
        match tool.get("cachePoint") {
            Some(point) => {
                walk.checkpoint(cache_point_ttl(point, &format!("toolConfig.tools.{i}"))?)?
            }
            None => walk.feed("tool", tool, 0),
        }
    }
    for (i, block) in list(raw, "system").iter().flatten().enumerate() {
        match block.get("cachePoint") {
            Some(point) => walk.checkpoint(cache_point_ttl(point, &format!("system.{i}"))?)?,
            None => walk.feed("system", block, text_chars(block)),
        }
    }
    for (m, message) in list(raw, "messages").iter().flatten().enumerate() {
        let role = message.get("role").cloned().unwrap_or(Value::Null);
        walk.feed("role", &role, 0);
        for (i, block) in list(message, "content").iter().flatten().enumerate() {
            match block.get("cachePoint") {
                Some(point) => walk.checkpoint(cache_point_ttl(
                    point,
                    &format!("messages.{m}.content.{i}"),
                )?)?,
                None => walk.feed("content", block, block_chars(block)),
            }
        }
    }
    Ok(walk)
}

/// A `cachePoint` block's TTL: `type` must be `default`; `ttl` is `5m` (the default) or `1h`.
fn cache_point_ttl(point: &Value, at: &str) -> Result<CacheTtl, ApiError> {
    let kind = point.get("type").and_then(Value::as_str);
    if kind != Some("default") {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{}' at '{at}.cachePoint.type' failed to satisfy constraint: Member must satisfy enum value set: [default]",
            kind.unwrap_or("null")
        )));
    }
    match point.get("ttl").and_then(Value::as_str) {
        None => Ok(CacheTtl::FiveMinutes),
        Some(ttl) => CacheTtl::parse(ttl).ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{ttl}' at '{at}.cachePoint.ttl' failed to satisfy constraint: Member must satisfy enum value set: [5m, 1h]"
            ))
        }),
    }
}

fn text_chars(block: &Value) -> usize {
    block
        .get("text")
        .and_then(Value::as_str)
        .map_or(0, |t| t.chars().count())
}

/// Input characters of one content block: its text, tool-result text and JSON, tool-use input.
fn block_chars(block: &Value) -> usize {
    let mut chars = text_chars(block);
    if let Some(parts) = block
        .get("toolResult")
        .and_then(|r| r.get("content"))
        .and_then(Value::as_array)
    {
        for part in parts {
            chars += text_chars(part);
            if let Some(json) = part.get("json") {
                chars += json_chars(json);
            }
        }
    }
    if let Some(input) = block.get("toolUse").and_then(|t| t.get("input")) {
        chars += json_chars(input);
    }
    chars
}
