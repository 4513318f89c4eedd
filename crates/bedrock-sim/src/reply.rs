//! The deterministic "model": a reply is a pure function of the request.
//!
//! * Text: [`expected_reply`] of the last user message's text (a hash-seeded sentence), or exactly
//!   `<text>` when that message contains the directive `reply with: <text>`.
//! * Tokens: input = ceil(chars / 4) over system prompts and all message content (at least 1);
//!   output = whitespace-separated words of the text, or ceil(json chars / 4) for a tool call.
//! * Limits: stop sequences cut the text before the earliest match (`stop_sequence`), then
//!   `max_tokens` keeps the first N words (`max_tokens`).
//! * Tools: a tool call is returned when tools are offered, the last user message carries no tool
//!   result, and the tool choice is `any`/`tool` or the message mentions a tool's name. Tool
//!   definitions themselves count no input tokens.
//! * Thinking: with a thinking budget, [`thinking_text`] (at most `budget` words) precedes the
//!   answer; its words count as output and come out of `max_tokens`.
//! * Cache: the server moves prompt-cache reads and writes out of `input_tokens`
//!   ([`Reply::apply_cache`]); the three always add up to the uncached count.

use serde_json::{Map, Value};

use crate::prompt_cache::{CacheUsage, Checkpoint};

/// Why generation stopped (wire names shared by Converse and the Anthropic API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ToolUse => "tool_use",
        }
    }
}

/// How the request lets the model pick tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    #[default]
    Auto,
    Any,
    Tool(String),
    None,
}

/// A tool offered to the model: its name and JSON schema for the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub schema: Value,
}

/// Everything generation depends on, extracted from any of the request formats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenRequest {
    /// Text of the last user message (text blocks and tool-result text, joined by `\n`).
    pub prompt: String,
    /// Whether that message carries a tool result (then the model answers in text).
    pub has_tool_result: bool,
    /// Characters of all input content, for the input token count.
    pub input_chars: usize,
    pub max_tokens: Option<u32>,
    pub stop_sequences: Vec<String>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: ToolChoice,
    /// Ends of cacheable prefixes (cache points), in prompt order.
    pub cache_checkpoints: Vec<Checkpoint>,
    /// Extended thinking's `budget_tokens`, when thinking is enabled (Anthropic bodies).
    pub thinking_budget: Option<u32>,
}

/// The generated content.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text {
        text: String,
        /// The stop sequence that ended the text, if any.
        stop_sequence: Option<String>,
    },
    ToolUse {
        /// Suffix for the tool-use id (`tooluse_<id>` in Converse, `toolu_bdrk_<id>` in Anthropic).
        id: String,
        name: String,
        input: Value,
        /// `input` serialised, as streamed in deltas.
        input_json: String,
    },
}

/// A generated reply with its usage.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: Content,
    pub stop_reason: StopReason,
    /// Input tokens not read from or written to the prompt cache.
    pub input_tokens: u32,
    /// Output tokens, thinking included (the service bills thinking as output).
    pub output_tokens: u32,
    /// The reasoning shown before the answer when extended thinking is enabled.
    pub thinking: Option<String>,
    /// Prompt-cache reads and writes (see [`crate::prompt_cache`]).
    pub cache: CacheUsage,
}

impl Reply {
    /// Input, output and cache tokens, as Converse's `totalTokens` counts them.
    pub fn total_tokens(&self) -> u32 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache.read)
            .saturating_add(self.cache.write())
    }

    /// Moves cached tokens out of `input_tokens`, which then counts only the uncached rest.
    pub fn apply_cache(&mut self, cache: CacheUsage) {
        self.input_tokens = self
            .input_tokens
            .saturating_sub(cache.read.saturating_add(cache.write()));
        self.cache = cache;
    }

    /// The signature Anthropic attaches to a thinking block (opaque to clients).
    pub fn thinking_signature(&self) -> Option<String> {
        self.thinking
            .as_deref()
            .map(|t| format!("EqoB{}{}", id_suffix(t), id_suffix(&format!("sig{t}"))))
    }
}

const DIRECTIVE: &str = "reply with:";

const VOCABULARY: [&str; 64] = [
    "the",
    "gateway",
    "model",
    "answer",
    "quickly",
    "routes",
    "every",
    "request",
    "through",
    "bedrock",
    "with",
    "care",
    "and",
    "returns",
    "a",
    "simulated",
    "reply",
    "that",
    "tests",
    "can",
    "predict",
    "exactly",
    "because",
    "it",
    "depends",
    "only",
    "on",
    "prompt",
    "text",
    "tokens",
    "stream",
    "in",
    "small",
    "chunks",
    "while",
    "latency",
    "stays",
    "low",
    "for",
    "each",
    "call",
    "region",
    "profile",
    "cache",
    "budget",
    "limit",
    "retry",
    "fallback",
    "circuit",
    "breaker",
    "opens",
    "after",
    "errors",
    "recovers",
    "later",
    "cost",
    "per",
    "thousand",
    "is",
    "measured",
    "logged",
    "safely",
    "without",
    "secrets",
];

/// The full (untruncated) reply text for a last user message `prompt`.
///
/// `reply with: <text>` anywhere in the prompt (case-insensitive) yields `<text>` (trimmed);
/// otherwise 12–35 words chosen by a hash of the prompt, capitalised, ending with a full stop.
pub fn expected_reply(prompt: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so the index is valid in `prompt`.
    if let Some(idx) = prompt.to_ascii_lowercase().find(DIRECTIVE) {
        return prompt[idx + DIRECTIVE.len()..].trim().to_string();
    }
    let mut state = fnv1a(prompt.as_bytes()) | 1;
    let words = 12 + (state % 24) as usize;
    let mut text = String::with_capacity(words * 8);
    for i in 0..words {
        state = xorshift(state);
        let word = VOCABULARY[(state >> 58) as usize];
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push(' ');
            text.push_str(word);
        }
    }
    text.push('.');
    text
}

/// Input tokens for `chars` characters of input content: ceil(chars / 4), at least 1.
pub fn count_input_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX).max(1)
}

/// Output tokens of a text reply: its whitespace-separated words.
pub fn count_output_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Generates the reply to a request.
pub fn generate(req: &GenRequest) -> Reply {
    let input_tokens = count_input_tokens(req.input_chars);
    let thinking = req
        .thinking_budget
        .map(|budget| thinking_text(&req.prompt, budget));
    let thinking_tokens = thinking.as_deref().map_or(0, count_output_tokens);
    if let Some(tool) = pick_tool(req) {
        let input = example_value(&tool.schema, 0);
        let input_json = serde_json::to_string(&input).unwrap_or_else(|_| "{}".to_string());
        let output_tokens =
            count_input_tokens(input_json.chars().count()).saturating_add(thinking_tokens);
        let id = id_suffix(&format!("{}\u{0}{}", tool.name, req.prompt));
        return Reply {
            content: Content::ToolUse {
                id,
                name: tool.name.clone(),
                input,
                input_json,
            },
            stop_reason: StopReason::ToolUse,
            input_tokens,
            output_tokens,
            thinking,
            cache: CacheUsage::default(),
        };
    }

    let mut text = expected_reply(&req.prompt);
    let mut stop_reason = StopReason::EndTurn;
    let mut stop_sequence = None;
    let earliest = req
        .stop_sequences
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|pos| (pos, s)))
        .min_by_key(|(pos, _)| *pos);
    if let Some((pos, seq)) = earliest {
        text.truncate(pos);
        stop_reason = StopReason::StopSequence;
        stop_sequence = Some(seq.clone());
    }
    // Thinking spends part of max_tokens (the service requires budget_tokens < max_tokens).
    if let Some(max) = req.max_tokens.map(|m| m.saturating_sub(thinking_tokens))
        && count_output_tokens(&text) > max
    {
        let keep = prefix_words(&text, max as usize).len();
        text.truncate(keep);
        stop_reason = StopReason::MaxTokens;
        stop_sequence = None;
    }
    let output_tokens = count_output_tokens(&text).saturating_add(thinking_tokens);
    Reply {
        content: Content::Text {
            text,
            stop_sequence,
        },
        stop_reason,
        input_tokens,
        output_tokens,
        thinking,
        cache: CacheUsage::default(),
    }
}

/// The deterministic reasoning for `prompt`: a fixed lead-in and a hash-seeded sentence, cut to
/// `budget` words.
pub fn thinking_text(prompt: &str, budget: u32) -> String {
    let full = format!(
        "Let me think about this request. {}",
        expected_reply(&format!("thinking\u{0}{prompt}"))
    );
    prefix_words(&full, budget as usize).to_string()
}

/// Splits `text` into stream deltas of `words_per_chunk` words (a word's trailing whitespace
/// stays with it; very long words are split every 48 bytes). The pieces concatenate to `text`.
pub fn split_chunks(text: &str, words_per_chunk: usize) -> Vec<&str> {
    const MAX_CHUNK_BYTES: usize = 48;
    let words_per_chunk = words_per_chunk.max(1);
    let mut chunks = Vec::with_capacity(text.len() / 16 + 1);
    let (mut start, mut words, mut in_word) = (0usize, 0usize, false);
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                in_word = false;
                words += 1;
            }
            continue;
        }
        if !in_word {
            if words >= words_per_chunk {
                chunks.push(&text[start..i]);
                start = i;
                words = 0;
            }
            in_word = true;
        }
        if i - start >= MAX_CHUNK_BYTES {
            chunks.push(&text[start..i]);
            start = i;
            words = 0;
        }
    }
    if start < text.len() {
        chunks.push(&text[start..]);
    }
    chunks
}

/// The prefix of `text` ending with its `n`-th word.
fn prefix_words(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let (mut words, mut in_word) = (0usize, false);
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                in_word = false;
                words += 1;
                if words == n {
                    return &text[..i];
                }
            }
        } else {
            in_word = true;
        }
    }
    text
}

fn pick_tool(req: &GenRequest) -> Option<&ToolDef> {
    if req.tools.is_empty() || req.has_tool_result {
        return None;
    }
    let mentioned = || {
        req.tools
            .iter()
            .find(|t| !t.name.is_empty() && req.prompt.contains(t.name.as_str()))
    };
    match &req.tool_choice {
        ToolChoice::None => None,
        ToolChoice::Tool(name) => req.tools.iter().find(|t| &t.name == name),
        ToolChoice::Any => mentioned().or_else(|| req.tools.first()),
        ToolChoice::Auto => mentioned(),
    }
}

/// A value satisfying `schema`: `const`, else first `enum` value, else `default`, else by type
/// (string "example", integer/number `minimum` or 1, boolean true, array of one item, object
/// with its `required` properties).
pub fn example_value(schema: &Value, depth: usize) -> Value {
    if depth > 16 {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        return Value::String("example".to_string());
    };
    if let Some(v) = obj.get("const") {
        return v.clone();
    }
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return first.clone();
    }
    if let Some(v) = obj.get("default") {
        return v.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = obj
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return example_value(first, depth + 1);
        }
    }
    let ty = match obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if obj.contains_key("properties") => "object",
        _ if obj.contains_key("items") => "array",
        _ => "string",
    };
    match ty {
        "integer" => {
            let min = obj.get("minimum").and_then(Value::as_i64).unwrap_or(1);
            Value::from(min)
        }
        "number" => match obj.get("minimum").and_then(Value::as_f64) {
            Some(min) => Value::from(min),
            None => Value::from(1),
        },
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        "array" => {
            let item = obj
                .get("items")
                .map(|items| example_value(items, depth + 1))
                .unwrap_or_else(|| Value::String("example".to_string()));
            Value::Array(vec![item])
        }
        "object" => {
            let properties = obj.get("properties").and_then(Value::as_object);
            let mut out = Map::new();
            for name in obj
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let value = properties
                    .and_then(|p| p.get(name))
                    .map(|s| example_value(s, depth + 1))
                    .unwrap_or_else(|| Value::String("example".to_string()));
                out.insert(name.to_string(), value);
            }
            Value::Object(out)
        }
        _ => Value::String("example".to_string()),
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub(crate) fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A 24-character alphanumeric id derived from `seed` (for tool-use and message ids).
pub(crate) fn id_suffix(seed: &str) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = fnv1a(seed.as_bytes()) | 1;
    (0..24)
        .map(|_| {
            state = xorshift(state);
            char::from(ALPHABET[(state % 62) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(prompt: &str) -> GenRequest {
        GenRequest {
            prompt: prompt.to_string(),
            input_chars: prompt.chars().count(),
            ..GenRequest::default()
        }
    }

    #[test]
    fn reply_is_deterministic_and_varies_with_the_prompt() {
        let a = expected_reply("hello");
        assert_eq!(a, expected_reply("hello"));
        assert_ne!(a, expected_reply("hello!"));
        let words = count_output_tokens(&a);
        assert!((12..36).contains(&words), "{a}");
        assert!(a.ends_with('.'));
        assert!(a.starts_with(|c: char| c.is_uppercase()));
    }

    #[test]
    fn directive_returns_the_text_verbatim() {
        assert_eq!(
            expected_reply("Please Reply With:  {\"ok\": true} "),
            "{\"ok\": true}"
        );
        assert_eq!(expected_reply("ÄÖÜ reply with: é"), "é");
        assert_eq!(expected_reply("reply with:"), "");
    }

    #[test]
    fn max_tokens_and_stop_sequences() {
        let full = expected_reply("limits");
        let mut r = req("limits");
        r.max_tokens = Some(5);
        let reply = generate(&r);
        assert_eq!(reply.stop_reason, StopReason::MaxTokens);
        assert_eq!(reply.output_tokens, 5);
        let Content::Text { text, .. } = &reply.content else {
            panic!()
        };
        assert!(full.starts_with(text.as_str()));
        assert_eq!(text.split(' ').count(), 5);

        let mut r = req("reply with: alpha beta STOP gamma");
        r.stop_sequences = vec!["STOP".into(), "gamma".into()];
        let reply = generate(&r);
        assert_eq!(reply.stop_reason, StopReason::StopSequence);
        assert_eq!(
            reply.content,
            Content::Text {
                text: "alpha beta ".into(),
                stop_sequence: Some("STOP".into())
            }
        );
        assert_eq!(reply.output_tokens, 2);

        // max_tokens wins when it cuts earlier than the stop sequence.
        r.max_tokens = Some(1);
        let reply = generate(&r);
        assert_eq!(reply.stop_reason, StopReason::MaxTokens);
        assert_eq!(
            reply.content,
            Content::Text {
                text: "alpha".into(),
                stop_sequence: None
            }
        );
    }

    #[test]
    fn token_counts() {
        assert_eq!(count_input_tokens(0), 1);
        assert_eq!(count_input_tokens(4), 1);
        assert_eq!(count_input_tokens(5), 2);
        let reply = generate(&req("abcdefghi"));
        assert_eq!(reply.input_tokens, 3);
        assert_eq!(reply.total_tokens(), 3 + reply.output_tokens);
    }

    #[test]
    fn chunks_concatenate_to_the_text() {
        for text in [
            expected_reply("x"),
            "  lead and trail  ".to_string(),
            "{\"a\":\"ééééééééééééééééééééééééééééééééééééééééééééééééééé\"}".to_string(),
            String::new(),
        ] {
            let chunks = split_chunks(&text, 3);
            assert_eq!(chunks.concat(), text);
            assert!(chunks.iter().all(|c| !c.is_empty()));
        }
        assert_eq!(split_chunks("a b c d e", 2), vec!["a b ", "c d ", "e"]);
    }

    #[test]
    fn tool_use_fills_required_fields() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 3},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "detailed": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "number"}},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
                "optional": {"type": "string"}
            },
            "required": ["city", "days", "unit", "detailed", "tags", "where"]
        });
        let mut r = req("What is the weather? use get_weather");
        r.tools = vec![
            ToolDef {
                name: "other".into(),
                schema: json!({}),
            },
            ToolDef {
                name: "get_weather".into(),
                schema,
            },
        ];
        let reply = generate(&r);
        assert_eq!(reply.stop_reason, StopReason::ToolUse);
        let Content::ToolUse {
            name,
            input,
            input_json,
            ..
        } = &reply.content
        else {
            panic!("{reply:?}")
        };
        assert_eq!(name, "get_weather");
        assert_eq!(
            input,
            &json!({"city": "example", "days": 3, "unit": "celsius", "detailed": true,
                    "tags": [1], "where": {"lat": 1}})
        );
        assert_eq!(&serde_json::to_string(input).unwrap(), input_json);

        // No mention and auto choice: text. Forced choice: the first tool.
        let mut r2 = req("hello");
        r2.tools = r.tools.clone();
        assert_eq!(generate(&r2).stop_reason, StopReason::EndTurn);
        r2.tool_choice = ToolChoice::Any;
        assert!(
            matches!(generate(&r2).content, Content::ToolUse { ref name, .. } if name == "other")
        );
        r2.tool_choice = ToolChoice::Tool("get_weather".into());
        assert!(
            matches!(generate(&r2).content, Content::ToolUse { ref name, .. } if name == "get_weather")
        );
        r2.has_tool_result = true;
        assert_eq!(generate(&r2).stop_reason, StopReason::EndTurn);
    }
}
