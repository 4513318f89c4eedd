//! The Anthropic body read in prompt order (tools → system → messages) for the input count
//! and the `cache_control` checkpoints.

use serde_json::Value;

use crate::body::malformed;
use crate::converse::json_chars;
use crate::error::ApiError;
use crate::prompt_cache::{CacheTtl, PrefixWalk};

/// Input characters of one content block: its text, tool-use input, and tool-result content.
fn block_chars(block: &Value) -> usize {
    let mut chars = block
        .get("text")
        .and_then(Value::as_str)
        .map_or(0, |t| t.chars().count());
    if let Some(input) = block.get("input") {
        chars += json_chars(input);
    }
    if block.get("type").and_then(Value::as_str) == Some("tool_result") {
        chars += match block.get("content") {
            Some(Value::String(text)) => text.chars().count(),
            Some(Value::Array(inner)) => inner.iter().map(block_chars).sum(),
            _ => 0,
        };
    }
    chars
}

/// A block's `cache_control`, if any: `type` must be `ephemeral`; `ttl` is `5m` (default) or `1h`.
fn cache_control(element: &Value, at: &str) -> Result<Option<CacheTtl>, ApiError> {
    let Some(control) = element.get("cache_control") else {
        return Ok(None);
    };
    let kind = control
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("null");
    if kind != "ephemeral" {
        return Err(malformed(format!(
            "#/{at}/cache_control/type: {kind} is not a valid enum value"
        )));
    }
    match control.get("ttl").and_then(Value::as_str) {
        None => Ok(Some(CacheTtl::FiveMinutes)),
        Some(ttl) => CacheTtl::parse(ttl).map(Some).ok_or_else(|| {
            malformed(format!(
                "#/{at}/cache_control/ttl: {ttl} is not a valid enum value"
            ))
        }),
    }
}

/// Feeds one element and, when it carries `cache_control`, ends a cacheable prefix after it.
fn feed(
    walk: &mut PrefixWalk,
    section: &str,
    element: &Value,
    chars: usize,
    at: &str,
) -> Result<(), ApiError> {
    walk.feed(section, element, chars);
    if let Some(ttl) = cache_control(element, at)? {
        walk.checkpoint(ttl)?;
    }
    Ok(())
}

/// Walks tools → system → messages (the cache order) for the input count and cache points.
/// Tool definitions count 0 input characters in the simulator but key the prefixes after them.
pub(crate) fn walk_prompt(raw: &Value) -> Result<PrefixWalk, ApiError> {
    let mut walk = PrefixWalk::default();
    let list = |v: &Value, key: &str| v.get(key).and_then(Value::as_array).cloned();
    for (i, tool) in list(raw, "tools").iter().flatten().enumerate() {
        feed(&mut walk, "tool", tool, 0, &format!("tools/{i}"))?;
    }
    text_or_blocks(&mut walk, "system", raw.get("system"), "system")?;
    for (m, message) in list(raw, "messages").iter().flatten().enumerate() {
        walk.feed("role", message.get("role").unwrap_or(&Value::Null), 0);
        let at = format!("messages/{m}/content");
        text_or_blocks(&mut walk, "content", message.get("content"), &at)?;
    }
    Ok(walk)
}

/// `system` or a message's `content`: a string, or blocks (each may end a cacheable prefix).
fn text_or_blocks(
    walk: &mut PrefixWalk,
    section: &str,
    value: Option<&Value>,
    at: &str,
) -> Result<(), ApiError> {
    match value {
        Some(Value::String(text)) => {
            walk.feed(section, &Value::String(text.clone()), text.chars().count())
        }
        Some(Value::Array(blocks)) => {
            for (i, block) in blocks.iter().enumerate() {
                feed(
                    walk,
                    section,
                    block,
                    block_chars(block),
                    &format!("{at}/{i}"),
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}
