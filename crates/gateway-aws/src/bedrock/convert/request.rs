//! The gateway's `ConverseRequest` into the SDK's Converse / ConverseStream input. The conversion
//! runs once into `ConverseParts`, which then fills either fluent builder, so both operations send
//! exactly the same fields (only the guardrail type differs between them).

use super::document::to_document;
use crate::bedrock::error::invalid_input;
use aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder;
use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as sdk;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use gateway::GatewayError;
use gateway::api::converse::{
    BytesSource, CachePoint, ContentBlock, ConverseRequest, DocumentBlock, GuardContent,
    GuardrailConfig, ImageBlock, InferenceConfig, Message, ReasoningBlock, Role, SystemBlock, Tool,
    ToolChoice, ToolConfig, ToolResultBlock, ToolResultContent, ToolResultStatus, ToolUseBlock,
};
use std::collections::HashMap;

/// Standard alphabet; padding optional, since clients differ on it and the bytes are the same.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Every field of a Converse call except the model id, already in SDK types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConverseParts {
    pub messages: Vec<sdk::Message>,
    pub system: Vec<sdk::SystemContentBlock>,
    pub inference_config: Option<sdk::InferenceConfiguration>,
    pub tool_config: Option<sdk::ToolConfiguration>,
    pub guardrail: Option<GuardrailConfig>,
    pub additional_model_request_fields: Option<aws_smithy_types::Document>,
    pub additional_model_response_field_paths: Vec<String>,
    pub request_metadata: HashMap<String, String>,
    pub performance_config: Option<sdk::PerformanceConfiguration>,
    pub service_tier: Option<sdk::ServiceTier>,
}

/// The SDK's Converse and ConverseStream builders have the same setters but share no trait:
/// one body fills either, with its guardrail type.
macro_rules! fill_converse_input {
    ($parts:expr, $builder:expr, $guardrail:ty) => {{
        let parts = $parts;
        let guardrail = parts.guardrail.as_ref().map(|g| {
            <$guardrail>::builder()
                .guardrail_identifier(&g.guardrail_identifier)
                .guardrail_version(&g.guardrail_version)
                .set_trace(g.trace.as_deref().map(sdk::GuardrailTrace::from))
                .build()
        });
        $builder
            .set_messages(Some(parts.messages))
            .set_system(non_empty(parts.system))
            .set_inference_config(parts.inference_config)
            .set_tool_config(parts.tool_config)
            .set_guardrail_config(guardrail)
            .set_additional_model_request_fields(parts.additional_model_request_fields)
            .set_additional_model_response_field_paths(non_empty(
                parts.additional_model_response_field_paths,
            ))
            .set_request_metadata(non_empty_map(parts.request_metadata))
            .set_performance_config(parts.performance_config)
            .set_service_tier(parts.service_tier)
    }};
}

impl ConverseParts {
    pub(crate) fn from_request(request: &ConverseRequest) -> Result<Self, GatewayError> {
        let messages = request
            .messages
            .iter()
            .enumerate()
            .map(|(i, message)| convert_message(message, &format!("messages[{i}]")))
            .collect::<Result<_, _>>()?;
        let system = request
            .system
            .iter()
            .enumerate()
            .map(|(i, block)| convert_system(block, &format!("system[{i}]")))
            .collect::<Result<_, _>>()?;
        let inference_config = request
            .inference_config
            .as_ref()
            .map(convert_inference)
            .transpose()?;
        let tool_config = request
            .tool_config
            .as_ref()
            .map(convert_tool_config)
            .transpose()?;
        let performance_config = request.performance_config.as_ref().map(|config| {
            sdk::PerformanceConfiguration::builder()
                .latency(sdk::PerformanceConfigLatency::from(config.latency.as_str()))
                .build()
        });
        let service_tier = request
            .service_tier
            .as_ref()
            .map(|tier| {
                sdk::ServiceTier::builder()
                    .r#type(sdk::ServiceTierType::from(tier.kind.as_str()))
                    .build()
                    .map_err(|err| invalid_input("serviceTier", &err))
            })
            .transpose()?;
        Ok(Self {
            messages,
            system,
            inference_config,
            tool_config,
            guardrail: request.guardrail_config.clone(),
            additional_model_request_fields: request
                .additional_model_request_fields
                .as_ref()
                .map(to_document),
            additional_model_response_field_paths: request
                .additional_model_response_field_paths
                .clone(),
            request_metadata: request
                .request_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            performance_config,
            service_tier,
        })
    }

    pub(crate) fn fill_converse(self, builder: ConverseFluentBuilder) -> ConverseFluentBuilder {
        fill_converse_input!(self, builder, sdk::GuardrailConfiguration)
    }

    /// ConverseStream takes its own guardrail type; the processing mode stays Bedrock's default.
    pub(crate) fn fill_converse_stream(
        self,
        builder: ConverseStreamFluentBuilder,
    ) -> ConverseStreamFluentBuilder {
        fill_converse_input!(self, builder, sdk::GuardrailStreamConfiguration)
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn non_empty_map(map: HashMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then_some(map)
}

fn convert_message(message: &Message, path: &str) -> Result<sdk::Message, GatewayError> {
    let content = message
        .content
        .iter()
        .enumerate()
        .map(|(i, block)| convert_block(block, &format!("{path}.content[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let role = match message.role {
        Role::User => sdk::ConversationRole::User,
        Role::Assistant => sdk::ConversationRole::Assistant,
    };
    sdk::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(|err| invalid_input(path, &err))
}

fn convert_block(block: &ContentBlock, path: &str) -> Result<sdk::ContentBlock, GatewayError> {
    Ok(match block {
        ContentBlock::Text(text) => sdk::ContentBlock::Text(text.clone()),
        ContentBlock::Image(image) => {
            sdk::ContentBlock::Image(convert_image(image, &format!("{path}.image"))?)
        }
        ContentBlock::Document(document) => {
            sdk::ContentBlock::Document(convert_document(document, &format!("{path}.document"))?)
        }
        ContentBlock::ToolUse(tool_use) => {
            sdk::ContentBlock::ToolUse(convert_tool_use(tool_use, &format!("{path}.toolUse"))?)
        }
        ContentBlock::ToolResult(result) => sdk::ContentBlock::ToolResult(convert_tool_result(
            result,
            &format!("{path}.toolResult"),
        )?),
        ContentBlock::ReasoningContent(reasoning) => sdk::ContentBlock::ReasoningContent(
            convert_reasoning(reasoning, &format!("{path}.reasoningContent"))?,
        ),
        ContentBlock::GuardContent(guard) => {
            sdk::ContentBlock::GuardContent(convert_guard(guard, &format!("{path}.guardContent"))?)
        }
        ContentBlock::CachePoint(cache_point) => sdk::ContentBlock::CachePoint(
            convert_cache_point(cache_point, &format!("{path}.cachePoint"))?,
        ),
    })
}

fn convert_system(
    block: &SystemBlock,
    path: &str,
) -> Result<sdk::SystemContentBlock, GatewayError> {
    Ok(match block {
        SystemBlock::Text(text) => sdk::SystemContentBlock::Text(text.clone()),
        SystemBlock::GuardContent(guard) => sdk::SystemContentBlock::GuardContent(convert_guard(
            guard,
            &format!("{path}.guardContent"),
        )?),
        SystemBlock::CachePoint(cache_point) => sdk::SystemContentBlock::CachePoint(
            convert_cache_point(cache_point, &format!("{path}.cachePoint"))?,
        ),
    })
}

fn decode_bytes(source: &BytesSource, path: &str) -> Result<Blob, GatewayError> {
    let path = format!("{path}.source.bytes");
    BASE64
        .decode(source.bytes.as_bytes())
        .map(Blob::new)
        .map_err(|err| GatewayError::invalid(&path, format!("{path} is not valid base64: {err}")))
}

fn convert_image(image: &ImageBlock, path: &str) -> Result<sdk::ImageBlock, GatewayError> {
    sdk::ImageBlock::builder()
        .format(sdk::ImageFormat::from(image.format.as_str()))
        .source(sdk::ImageSource::Bytes(decode_bytes(&image.source, path)?))
        .build()
        .map_err(|err| invalid_input(path, &err))
}

fn convert_document(
    document: &DocumentBlock,
    path: &str,
) -> Result<sdk::DocumentBlock, GatewayError> {
    sdk::DocumentBlock::builder()
        .format(sdk::DocumentFormat::from(document.format.as_str()))
        .name(&document.name)
        .source(sdk::DocumentSource::Bytes(decode_bytes(
            &document.source,
            path,
        )?))
        .build()
        .map_err(|err| invalid_input(path, &err))
}

fn convert_tool_use(
    tool_use: &ToolUseBlock,
    path: &str,
) -> Result<sdk::ToolUseBlock, GatewayError> {
    sdk::ToolUseBlock::builder()
        .tool_use_id(&tool_use.tool_use_id)
        .name(&tool_use.name)
        .input(to_document(&tool_use.input))
        .build()
        .map_err(|err| invalid_input(path, &err))
}

fn convert_tool_result(
    result: &ToolResultBlock,
    path: &str,
) -> Result<sdk::ToolResultBlock, GatewayError> {
    let content = result
        .content
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("{path}.content[{i}]");
            Ok(match item {
                ToolResultContent::Text(text) => sdk::ToolResultContentBlock::Text(text.clone()),
                ToolResultContent::Json(value) => {
                    sdk::ToolResultContentBlock::Json(to_document(value))
                }
                ToolResultContent::Image(image) => sdk::ToolResultContentBlock::Image(
                    convert_image(image, &format!("{path}.image"))?,
                ),
                ToolResultContent::Document(document) => sdk::ToolResultContentBlock::Document(
                    convert_document(document, &format!("{path}.document"))?,
                ),
            })
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let status = result.status.map(|status| match status {
        ToolResultStatus::Success => sdk::ToolResultStatus::Success,
        ToolResultStatus::Error => sdk::ToolResultStatus::Error,
    });
    sdk::ToolResultBlock::builder()
        .tool_use_id(&result.tool_use_id)
        .set_content(Some(content))
        .set_status(status)
        .build()
        .map_err(|err| invalid_input(path, &err))
}

fn convert_reasoning(
    reasoning: &ReasoningBlock,
    path: &str,
) -> Result<sdk::ReasoningContentBlock, GatewayError> {
    Ok(match reasoning {
        ReasoningBlock::ReasoningText(text) => sdk::ReasoningContentBlock::ReasoningText(
            sdk::ReasoningTextBlock::builder()
                .text(&text.text)
                .set_signature(text.signature.clone())
                .build()
                .map_err(|err| invalid_input(&format!("{path}.reasoningText"), &err))?,
        ),
        ReasoningBlock::RedactedContent(encoded) => {
            let path = format!("{path}.redactedContent");
            let bytes = BASE64.decode(encoded.as_bytes()).map_err(|err| {
                GatewayError::invalid(&path, format!("{path} is not valid base64: {err}"))
            })?;
            sdk::ReasoningContentBlock::RedactedContent(Blob::new(bytes))
        }
    })
}

fn convert_guard(
    guard: &GuardContent,
    path: &str,
) -> Result<sdk::GuardrailConverseContentBlock, GatewayError> {
    let GuardContent::Text(text) = guard;
    sdk::GuardrailConverseTextBlock::builder()
        .text(&text.text)
        .build()
        .map(sdk::GuardrailConverseContentBlock::Text)
        .map_err(|err| invalid_input(&format!("{path}.text"), &err))
}

fn convert_cache_point(
    cache_point: &CachePoint,
    path: &str,
) -> Result<sdk::CachePointBlock, GatewayError> {
    sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::from(cache_point.kind.as_str()))
        .set_ttl(cache_point.ttl.as_deref().map(sdk::CacheTtl::from))
        .build()
        .map_err(|err| invalid_input(path, &err))
}

fn convert_inference(
    config: &InferenceConfig,
) -> Result<sdk::InferenceConfiguration, GatewayError> {
    let max_tokens = config
        .max_tokens
        .map(i32::try_from)
        .transpose()
        .map_err(|_| {
            GatewayError::invalid(
                "inferenceConfig.maxTokens",
                "inferenceConfig.maxTokens is larger than Bedrock accepts",
            )
        })?;
    Ok(sdk::InferenceConfiguration::builder()
        .set_max_tokens(max_tokens)
        .set_temperature(config.temperature)
        .set_top_p(config.top_p)
        .set_stop_sequences(non_empty(config.stop_sequences.clone()))
        .build())
}

fn convert_tool_config(config: &ToolConfig) -> Result<sdk::ToolConfiguration, GatewayError> {
    let tools = config
        .tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let path = format!("toolConfig.tools[{i}]");
            Ok(match tool {
                Tool::ToolSpec(spec) => {
                    let gateway::api::converse::ToolInputSchema::Json(schema) = &spec.input_schema;
                    sdk::Tool::ToolSpec(
                        sdk::ToolSpecification::builder()
                            .name(&spec.name)
                            .set_description(spec.description.clone())
                            .input_schema(sdk::ToolInputSchema::Json(to_document(schema)))
                            .build()
                            .map_err(|err| invalid_input(&format!("{path}.toolSpec"), &err))?,
                    )
                }
                Tool::CachePoint(cache_point) => sdk::Tool::CachePoint(convert_cache_point(
                    cache_point,
                    &format!("{path}.cachePoint"),
                )?),
            })
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let tool_choice = match &config.tool_choice {
        None => None,
        Some(ToolChoice::Auto(_)) => Some(sdk::ToolChoice::Auto(
            sdk::AutoToolChoice::builder().build(),
        )),
        Some(ToolChoice::Any(_)) => {
            Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()))
        }
        Some(ToolChoice::Tool(tool)) => Some(sdk::ToolChoice::Tool(
            sdk::SpecificToolChoice::builder()
                .name(&tool.name)
                .build()
                .map_err(|err| invalid_input("toolConfig.toolChoice.tool", &err))?,
        )),
    };
    sdk::ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(tool_choice)
        .build()
        .map_err(|err| invalid_input("toolConfig", &err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::api::converse::{BytesSource, ImageBlock};

    fn image_request(bytes: &str) -> ConverseRequest {
        ConverseRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![
                    ContentBlock::Text("what is this?".into()),
                    ContentBlock::Image(ImageBlock {
                        format: "png".into(),
                        source: BytesSource {
                            bytes: bytes.into(),
                        },
                    }),
                ],
            }],
            ..ConverseRequest::default()
        }
    }

    #[test]
    fn bad_base64_names_the_field_path() {
        let err = ConverseParts::from_request(&image_request("not base64!!")).unwrap_err();
        assert_eq!(
            err.field(),
            Some("messages[0].content[1].image.source.bytes")
        );
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn base64_with_or_without_padding_decodes() {
        for encoded in ["aGk=", "aGk"] {
            let parts = ConverseParts::from_request(&image_request(encoded)).unwrap();
            let sdk::ContentBlock::Image(image) = &parts.messages[0].content()[1] else {
                panic!("expected an image block");
            };
            assert_eq!(
                image.source(),
                Some(&sdk::ImageSource::Bytes(Blob::new(b"hi".to_vec())))
            );
        }
    }

    #[test]
    fn max_tokens_beyond_i32_is_refused() {
        let request = ConverseRequest {
            inference_config: Some(InferenceConfig {
                max_tokens: Some(u32::MAX),
                ..InferenceConfig::default()
            }),
            ..ConverseRequest::default()
        };
        let err = ConverseParts::from_request(&request).unwrap_err();
        assert_eq!(err.field(), Some("inferenceConfig.maxTokens"));
    }

    #[test]
    fn empty_optional_lists_are_not_sent() {
        let parts = ConverseParts::from_request(&image_request("aGk=")).unwrap();
        assert!(parts.system.is_empty());
        assert!(parts.request_metadata.is_empty());
        assert_eq!(non_empty(parts.system), None);
    }
}
