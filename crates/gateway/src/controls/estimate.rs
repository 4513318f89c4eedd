//! Tokens a request may use, known before the call: what the tokens-per-minute limit and the
//! budget reserve, settled to the actual usage afterwards. Input is estimated from the bytes
//! of everything the model reads (see [`EstimateConfig`] for why the default over-estimates);
//! output is the request's own `maxTokens` (Bedrock never returns more), else the configured
//! default, which the call path then writes into the request ([`super::output_cap`]): the
//! reservation covers exactly the output the model may produce. A limit above
//! [`super::output_cap::MAX_OUTPUT_TOKENS`] is refused, so no sum here can overflow.

use super::config::EstimateConfig;
use super::output_cap;
use crate::api::converse::{
    ContentBlock, ConverseRequest, GuardContent, ReasoningBlock, SystemBlock, ToolResultContent,
};
use crate::error::GatewayError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    pub input_tokens: u64,
    pub max_output_tokens: u64,
    /// The request marks prompt-cache points: its input may be billed at the cache-write
    /// rate, which can be above the input rate.
    pub writes_prompt_cache: bool,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.max_output_tokens)
    }
}

fn tokens(bytes: usize, config: &EstimateConfig) -> u64 {
    // bytes_per_token is validated to 0.5..=16; the result is far below u64::MAX.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let tokens = (bytes as f64 / config.bytes_per_token).ceil() as u64;
    tokens.saturating_add(config.overhead_tokens)
}

/// A Converse request (any of the routes that speak it). An absurd `maxTokens` is a 400.
pub fn converse(
    request: &ConverseRequest,
    config: &EstimateConfig,
) -> Result<Estimate, GatewayError> {
    let max_output_tokens =
        output_cap::converse_limit(request)?.unwrap_or(config.default_max_output_tokens);
    let mut bytes = 0usize;
    for block in &request.system {
        bytes += match block {
            SystemBlock::Text(text) => text.len(),
            SystemBlock::GuardContent(GuardContent::Text(text)) => text.text.len(),
            SystemBlock::CachePoint(_) => 0,
        };
    }
    for message in &request.messages {
        for block in &message.content {
            bytes += block_bytes(block);
        }
    }
    if let Some(tools) = &request.tool_config {
        bytes += serde_json::to_vec(tools).map_or(0, |v| v.len());
    }
    let writes_prompt_cache = request
        .system
        .iter()
        .any(|b| matches!(b, SystemBlock::CachePoint(_)))
        || request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .any(|b| matches!(b, ContentBlock::CachePoint(_)))
        || request.tool_config.as_ref().is_some_and(|t| {
            t.tools
                .iter()
                .any(|tool| matches!(tool, crate::api::converse::Tool::CachePoint(_)))
        });
    Ok(Estimate {
        writes_prompt_cache,
        input_tokens: tokens(bytes, config),
        max_output_tokens,
    })
}

fn block_bytes(block: &ContentBlock) -> usize {
    match block {
        ContentBlock::Text(text) => text.len(),
        // Image and document tokens depend on content the gateway does not decode; their
        // base64 size is far above any model's count for them.
        ContentBlock::Image(image) => image.source.bytes.len(),
        ContentBlock::Document(doc) => doc.source.bytes.len() + doc.name.len(),
        ContentBlock::ToolUse(tool) => tool.name.len() + tool.input.to_string().len(),
        ContentBlock::ToolResult(result) => result
            .content
            .iter()
            .map(|part| match part {
                ToolResultContent::Text(text) => text.len(),
                ToolResultContent::Json(json) => json.to_string().len(),
                ToolResultContent::Image(image) => image.source.bytes.len(),
                ToolResultContent::Document(doc) => doc.source.bytes.len(),
            })
            .sum(),
        ContentBlock::ReasoningContent(ReasoningBlock::ReasoningText(r)) => r.text.len(),
        ContentBlock::ReasoningContent(ReasoningBlock::RedactedContent(r)) => r.len(),
        ContentBlock::GuardContent(GuardContent::Text(text)) => text.text.len(),
        ContentBlock::CachePoint(_) => 0,
    }
}

/// A native InvokeModel body for `model_id` (the configured id): the whole body counts as
/// input; the output limit is read from the model's provider's field for it (`max_tokens`, `max_new_tokens`, `maxTokenCount`,
/// `max_gen_len`, Nova's `inferenceConfig.max_new_tokens`; see [`output_cap`]). An absurd or
/// malformed limit is a 400 naming the field.
pub fn invoke(
    dialect: output_cap::BodyDialect<'_>,
    body: &[u8],
    config: &EstimateConfig,
) -> Result<Estimate, GatewayError> {
    Ok(Estimate {
        // Anthropic's native prompt caching marks blocks with `cache_control`.
        writes_prompt_cache: body.windows(13).any(|w| w == b"cache_control"),
        input_tokens: tokens(body.len(), config),
        max_output_tokens: output_cap::invoke_limit(dialect, body)?
            .unwrap_or(config.default_max_output_tokens),
    })
}

/// Input tokens of `bytes` of text read by a model (a knowledge-base query, retrieved chunks).
pub fn text_tokens(bytes: usize, config: &EstimateConfig) -> u64 {
    tokens(bytes, config)
}

/// Output tokens a stream that broke midway may have produced, from its text so far.
pub fn output_from_chars(chars: usize, config: &EstimateConfig) -> u64 {
    tokens(chars, config).saturating_sub(config.overhead_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::converse::{InferenceConfig, Message, Role};

    fn config(bytes_per_token: f64, overhead_tokens: u64) -> EstimateConfig {
        EstimateConfig {
            bytes_per_token,
            overhead_tokens,
            default_max_output_tokens: 1_000,
        }
    }

    #[test]
    fn converse_counts_system_messages_and_tools() {
        let request = ConverseRequest {
            system: vec![SystemBlock::Text("abcd".into())],
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text("12345678".into())],
            }],
            inference_config: Some(InferenceConfig {
                max_tokens: Some(50),
                ..InferenceConfig::default()
            }),
            ..ConverseRequest::default()
        };
        let e = converse(&request, &config(4.0, 0)).unwrap();
        assert_eq!(
            e,
            Estimate {
                input_tokens: 3,
                max_output_tokens: 50,
                writes_prompt_cache: false
            }
        );
        let strict = converse(&request, &EstimateConfig::default()).unwrap();
        assert_eq!(
            strict.input_tokens,
            12 + 16,
            "a byte per token plus overhead"
        );
        let bare = ConverseRequest::default();
        assert_eq!(
            converse(&bare, &config(4.0, 2)).unwrap().max_output_tokens,
            1_000
        );
    }

    #[test]
    fn invoke_reads_each_providers_output_limit() {
        let c = config(1.0, 0);
        assert_eq!(
            invoke(
                output_cap::BodyDialect::Bedrock("anthropic.claude"),
                br#"{"max_tokens":77}"#,
                &c
            )
            .unwrap()
            .max_output_tokens,
            77
        );
        assert_eq!(
            invoke(
                output_cap::BodyDialect::Bedrock("amazon.titan-text-express-v1"),
                br#"{"textGenerationConfig":{"maxTokenCount":12}}"#,
                &c
            )
            .unwrap()
            .max_output_tokens,
            12
        );
        assert_eq!(
            invoke(
                output_cap::BodyDialect::Bedrock("amazon.nova-lite-v1:0"),
                br#"{"inferenceConfig":{"max_new_tokens":9}}"#,
                &c
            )
            .unwrap()
            .max_output_tokens,
            9
        );
        // No output limit in the body: the default is reserved (and written into it).
        let unknown = invoke(
            output_cap::BodyDialect::Bedrock("anthropic.claude"),
            b"{}",
            &c,
        )
        .unwrap();
        assert_eq!(unknown.max_output_tokens, 1_000);
        assert!(!unknown.writes_prompt_cache);
        // Not one JSON object: refused, naming the body.
        let error = invoke(
            output_cap::BodyDialect::Bedrock("anthropic.claude"),
            b"not json",
            &c,
        )
        .unwrap_err();
        assert!(error.to_string().contains("JSON object"), "{error}");
        assert!(
            invoke(
                output_cap::BodyDialect::Bedrock("anthropic.claude"),
                br#"{"system":[{"cache_control":{}}]}"#,
                &c
            )
            .unwrap()
            .writes_prompt_cache
        );
    }
}
