//! SDK output back into the gateway's types: the Converse response, its content blocks, and the
//! ConverseStream events. Content the gateway has no type for (audio, video, search results, ...)
//! is dropped with a debug log rather than failing a reply the caller paid for.

use super::document::to_value;
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput as SdkConverseOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as sdk;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use gateway::api::converse::{
    BytesSource, CachePoint, ContentBlock, ConverseOutput, ConverseResponse, DocumentBlock,
    GuardContent, GuardText, ImageBlock, Message, Metrics, PerformanceConfig, ReasoningBlock,
    ReasoningText, Role, ServiceTier, ToolResultBlock, ToolResultContent, ToolResultStatus,
    ToolUseBlock, Usage,
};
use gateway::api::stream::{
    BlockDelta, BlockStart, ContentBlockDelta, ContentBlockStart, ContentBlockStop, MessageStart,
    MessageStop, ReasoningDelta, StreamEvent, StreamMetadata, ToolUseDelta, ToolUseStart,
};
use gateway::{GatewayError, UpstreamKind};

pub(crate) fn converse_response(
    output: SdkConverseOutput,
) -> Result<ConverseResponse, GatewayError> {
    let message = match output.output {
        Some(sdk::ConverseOutput::Message(message)) => convert_message(message),
        _ => {
            return Err(GatewayError::Upstream {
                kind: UpstreamKind::InternalServer,
                message: "Bedrock returned a response without a message".to_owned(),
                retry_after: None,
            });
        }
    };
    Ok(ConverseResponse {
        output: ConverseOutput::Message(message),
        stop_reason: output.stop_reason.as_str().to_owned(),
        usage: output.usage.as_ref().map(convert_usage).unwrap_or_default(),
        metrics: Metrics {
            latency_ms: output.metrics.map_or(0, |m| non_negative(m.latency_ms)),
        },
        additional_model_response_fields: output
            .additional_model_response_fields
            .as_ref()
            .map(to_value),
        performance_config: output.performance_config.map(|config| PerformanceConfig {
            latency: config.latency.as_str().to_owned(),
        }),
        service_tier: output.service_tier.map(|tier| ServiceTier {
            kind: tier.r#type.as_str().to_owned(),
        }),
    })
}

fn convert_message(message: sdk::Message) -> Message {
    Message {
        role: convert_role(&message.role),
        content: message
            .content
            .into_iter()
            .filter_map(convert_block)
            .collect(),
    }
}

fn convert_role(role: &sdk::ConversationRole) -> Role {
    match role {
        sdk::ConversationRole::User => Role::User,
        _ => Role::Assistant,
    }
}

fn convert_block(block: sdk::ContentBlock) -> Option<ContentBlock> {
    Some(match block {
        sdk::ContentBlock::Text(text) => ContentBlock::Text(text),
        sdk::ContentBlock::Image(image) => ContentBlock::Image(convert_image(image)?),
        sdk::ContentBlock::Document(document) => {
            ContentBlock::Document(convert_document(document)?)
        }
        sdk::ContentBlock::ToolUse(tool_use) => ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: tool_use.tool_use_id,
            name: tool_use.name,
            input: to_value(&tool_use.input),
        }),
        sdk::ContentBlock::ToolResult(result) => ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id: result.tool_use_id,
            content: result
                .content
                .into_iter()
                .filter_map(convert_tool_result_content)
                .collect(),
            status: result.status.and_then(|status| match status {
                sdk::ToolResultStatus::Success => Some(ToolResultStatus::Success),
                sdk::ToolResultStatus::Error => Some(ToolResultStatus::Error),
                _ => None,
            }),
        }),
        sdk::ContentBlock::ReasoningContent(reasoning) => {
            ContentBlock::ReasoningContent(convert_reasoning(reasoning)?)
        }
        sdk::ContentBlock::GuardContent(sdk::GuardrailConverseContentBlock::Text(text)) => {
            ContentBlock::GuardContent(GuardContent::Text(GuardText { text: text.text }))
        }
        sdk::ContentBlock::CachePoint(cache_point) => ContentBlock::CachePoint(CachePoint {
            kind: cache_point.r#type.as_str().to_owned(),
            ttl: cache_point.ttl.map(|ttl| ttl.as_str().to_owned()),
        }),
        // Cited text is still the model's answer: keep the words, drop the citations.
        sdk::ContentBlock::CitationsContent(citations) => ContentBlock::Text(
            citations
                .content
                .unwrap_or_default()
                .into_iter()
                .filter_map(|part| match part {
                    sdk::CitationGeneratedContent::Text(text) => Some(text),
                    _ => None,
                })
                .collect(),
        ),
        other => {
            tracing::debug!(
                block = dropped_kind(&other),
                "dropping a content block the gateway has no type for"
            );
            return None;
        }
    })
}

/// Names a dropped block for the log without logging its content.
fn dropped_kind(block: &sdk::ContentBlock) -> &'static str {
    match block {
        sdk::ContentBlock::Audio(_) => "audio",
        sdk::ContentBlock::Video(_) => "video",
        sdk::ContentBlock::SearchResult(_) => "searchResult",
        sdk::ContentBlock::GuardContent(_) => "guardContent.image",
        sdk::ContentBlock::ToolAddition(_) => "toolAddition",
        sdk::ContentBlock::ToolRemoval(_) => "toolRemoval",
        _ => "unknown",
    }
}

fn encode(blob: &Blob) -> String {
    BASE64.encode(blob.as_ref())
}

fn convert_image(image: sdk::ImageBlock) -> Option<ImageBlock> {
    match image.source {
        Some(sdk::ImageSource::Bytes(bytes)) => Some(ImageBlock {
            format: image.format.as_str().to_owned(),
            source: BytesSource {
                bytes: encode(&bytes),
            },
        }),
        _ => None,
    }
}

fn convert_document(document: sdk::DocumentBlock) -> Option<DocumentBlock> {
    match document.source {
        Some(sdk::DocumentSource::Bytes(bytes)) => Some(DocumentBlock {
            format: document.format.as_str().to_owned(),
            name: document.name,
            source: BytesSource {
                bytes: encode(&bytes),
            },
        }),
        _ => None,
    }
}

fn convert_tool_result_content(content: sdk::ToolResultContentBlock) -> Option<ToolResultContent> {
    Some(match content {
        sdk::ToolResultContentBlock::Text(text) => ToolResultContent::Text(text),
        sdk::ToolResultContentBlock::Json(json) => ToolResultContent::Json(to_value(&json)),
        sdk::ToolResultContentBlock::Image(image) => {
            ToolResultContent::Image(convert_image(image)?)
        }
        sdk::ToolResultContentBlock::Document(document) => {
            ToolResultContent::Document(convert_document(document)?)
        }
        _ => return None,
    })
}

fn convert_reasoning(reasoning: sdk::ReasoningContentBlock) -> Option<ReasoningBlock> {
    match reasoning {
        sdk::ReasoningContentBlock::ReasoningText(text) => {
            Some(ReasoningBlock::ReasoningText(ReasoningText {
                text: text.text,
                signature: text.signature,
            }))
        }
        sdk::ReasoningContentBlock::RedactedContent(bytes) => {
            Some(ReasoningBlock::RedactedContent(encode(&bytes)))
        }
        _ => None,
    }
}

/// Token counts are never negative; a negative count from the wire is treated as absent.
fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn convert_usage(usage: &sdk::TokenUsage) -> Usage {
    Usage {
        input_tokens: count(usage.input_tokens),
        output_tokens: count(usage.output_tokens),
        total_tokens: count(usage.total_tokens),
        cache_read_input_tokens: usage.cache_read_input_tokens.map(count),
        cache_write_input_tokens: usage.cache_write_input_tokens.map(count),
        cache_write_1h_input_tokens: usage.cache_details.as_ref().map(|details| {
            details
                .iter()
                .filter(|d| d.ttl == sdk::CacheTtl::OneHour)
                .map(|d| count(d.input_tokens))
                .fold(0u32, u32::saturating_add)
        }),
    }
}

/// One ConverseStream event in the gateway's shape; `None` for events the gateway does not model
/// (new event kinds, image or tool-result blocks), which are skipped.
pub(crate) fn stream_event(event: sdk::ConverseStreamOutput) -> Option<StreamEvent> {
    Some(match event {
        sdk::ConverseStreamOutput::MessageStart(start) => StreamEvent::MessageStart(MessageStart {
            role: convert_role(&start.role),
        }),
        sdk::ConverseStreamOutput::ContentBlockStart(start) => match start.start {
            Some(sdk::ContentBlockStart::ToolUse(tool_use)) => {
                StreamEvent::ContentBlockStart(ContentBlockStart {
                    content_block_index: count(start.content_block_index),
                    start: BlockStart::ToolUse(ToolUseStart {
                        tool_use_id: tool_use.tool_use_id,
                        name: tool_use.name,
                    }),
                })
            }
            _ => return None,
        },
        sdk::ConverseStreamOutput::ContentBlockDelta(delta) => {
            let converted = match delta.delta? {
                sdk::ContentBlockDelta::Text(text) => BlockDelta::Text(text),
                sdk::ContentBlockDelta::ToolUse(tool_use) => BlockDelta::ToolUse(ToolUseDelta {
                    input: tool_use.input,
                }),
                sdk::ContentBlockDelta::ReasoningContent(reasoning) => {
                    BlockDelta::ReasoningContent(match reasoning {
                        sdk::ReasoningContentBlockDelta::Text(text) => ReasoningDelta::Text(text),
                        sdk::ReasoningContentBlockDelta::Signature(signature) => {
                            ReasoningDelta::Signature(signature)
                        }
                        sdk::ReasoningContentBlockDelta::RedactedContent(bytes) => {
                            ReasoningDelta::RedactedContent(encode(&bytes))
                        }
                        _ => return None,
                    })
                }
                _ => return None,
            };
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: count(delta.content_block_index),
                delta: converted,
            })
        }
        sdk::ConverseStreamOutput::ContentBlockStop(stop) => {
            StreamEvent::ContentBlockStop(ContentBlockStop {
                content_block_index: count(stop.content_block_index),
            })
        }
        sdk::ConverseStreamOutput::MessageStop(stop) => StreamEvent::MessageStop(MessageStop {
            stop_reason: stop.stop_reason.as_str().to_owned(),
            additional_model_response_fields: stop
                .additional_model_response_fields
                .as_ref()
                .map(to_value),
        }),
        sdk::ConverseStreamOutput::Metadata(metadata) => StreamEvent::Metadata(StreamMetadata {
            usage: metadata
                .usage
                .as_ref()
                .map(convert_usage)
                .unwrap_or_default(),
            metrics: Metrics {
                latency_ms: metadata.metrics.map_or(0, |m| non_negative(m.latency_ms)),
            },
        }),
        _ => return None,
    })
}
