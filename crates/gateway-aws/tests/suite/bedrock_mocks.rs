//! `BedrockModelClient` against `aws-smithy-mocks`: what the SDK is asked to send, how its outputs
//! come back, and how each failure is classified. No network except the loopback transport tests.

// Helpers outside `#[test]` functions fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The adapter's own tests call the model client directly: that is what they test.
#![allow(clippy::disallowed_methods)]

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseInput, ConverseOutput};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamInput;
use aws_sdk_bedrockruntime::operation::invoke_model::{InvokeModelError, InvokeModelOutput};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{self as sdk, error as sdk_error};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::{Document, Number};
use futures_util::StreamExt;
use gateway::api::converse::{
    ContentBlock, ConverseRequest, ReasoningBlock, Role, ToolResultContent,
};
use gateway::api::invoke::InvokeRequest;
use gateway::ports::{ModelClient, Target};
use gateway::{GatewayError, UpstreamKind};
use gateway_aws::bedrock::BedrockModelClient;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// A gateway client over mocked SDK responses. SDK retries are off, as in production, so
/// `num_calls` shows what the adapter itself does.
fn mocked(rules: &[&Rule]) -> BedrockModelClient {
    let client = mock_client!(
        aws_sdk_bedrockruntime,
        RuleMode::Sequential,
        rules,
        |config| { config.retry_config(RetryConfig::disabled()) }
    );
    BedrockModelClient::new(client, HashMap::new())
}

/// One request using every block kind and every top-level field the gateway type has.
fn rich_request() -> ConverseRequest {
    serde_json::from_value(json!({
        "messages": [
            {"role": "user", "content": [
                {"text": "Describe these."},
                {"image": {"format": "png", "source": {"bytes": "aGVsbG8="}}},
                {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERi0="}}},
                {"cachePoint": {"type": "default"}},
                {"guardContent": {"text": {"text": "check me"}}}
            ]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "thinking", "signature": "sig"}}},
                {"reasoningContent": {"redactedContent": "c2VjcmV0"}},
                {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo", "days": 3, "delta": -2, "ratio": 0.5}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "status": "error", "content": [
                    {"text": "partly"},
                    {"json": {"temp": -4}},
                    {"image": {"format": "jpeg", "source": {"bytes": "aGVsbG8="}}},
                    {"document": {"format": "txt", "name": "raw", "source": {"bytes": "aGVsbG8="}}}
                ]}}
            ]}
        ],
        "system": [
            {"text": "Be brief."},
            {"guardContent": {"text": {"text": "system guard"}}},
            {"cachePoint": {"type": "default"}}
        ],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "weather", "description": "Forecast", "inputSchema": {"json": {
                    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
                }}}},
                {"cachePoint": {"type": "default"}}
            ],
            "toolChoice": {"tool": {"name": "weather"}}
        },
        "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "2", "trace": "enabled"},
        "additionalModelRequestFields": {"top_k": 40},
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
        "requestMetadata": {"tenant": "acme"},
        "performanceConfig": {"latency": "optimized"},
        "serviceTier": {"type": "flex"}
    }))
    .unwrap()
}

fn assert_rich_messages(messages: &[sdk::Message]) {
    assert_eq!(messages.len(), 3);
    let user = &messages[0];
    assert_eq!(user.role, sdk::ConversationRole::User);
    assert_eq!(
        user.content[0],
        sdk::ContentBlock::Text("Describe these.".into())
    );
    let sdk::ContentBlock::Image(image) = &user.content[1] else {
        panic!("{:?}", user.content[1])
    };
    assert_eq!(image.format, sdk::ImageFormat::Png);
    assert_eq!(
        image.source,
        Some(sdk::ImageSource::Bytes(Blob::new(b"hello".to_vec())))
    );
    let sdk::ContentBlock::Document(document) = &user.content[2] else {
        panic!()
    };
    assert_eq!(document.format, sdk::DocumentFormat::Pdf);
    assert_eq!(document.name, "report");
    assert_eq!(
        document.source,
        Some(sdk::DocumentSource::Bytes(Blob::new(b"%PDF-".to_vec())))
    );
    let sdk::ContentBlock::CachePoint(cache_point) = &user.content[3] else {
        panic!()
    };
    assert_eq!(cache_point.r#type, sdk::CachePointType::Default);
    let sdk::ContentBlock::GuardContent(sdk::GuardrailConverseContentBlock::Text(guard)) =
        &user.content[4]
    else {
        panic!()
    };
    assert_eq!(guard.text, "check me");

    let assistant = &messages[1];
    assert_eq!(assistant.role, sdk::ConversationRole::Assistant);
    let sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::ReasoningText(reasoning)) =
        &assistant.content[0]
    else {
        panic!()
    };
    assert_eq!(
        (reasoning.text.as_str(), reasoning.signature.as_deref()),
        ("thinking", Some("sig"))
    );
    assert_eq!(
        assistant.content[1],
        sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(
            Blob::new(b"secret".to_vec())
        ))
    );
    let sdk::ContentBlock::ToolUse(tool_use) = &assistant.content[2] else {
        panic!()
    };
    assert_eq!(
        (tool_use.tool_use_id.as_str(), tool_use.name.as_str()),
        ("t1", "weather")
    );
    let input = tool_use.input.as_object().unwrap();
    assert_eq!(input["city"], Document::String("Oslo".into()));
    assert_eq!(input["days"], Document::Number(Number::PosInt(3)));
    assert_eq!(input["delta"], Document::Number(Number::NegInt(-2)));
    assert_eq!(input["ratio"], Document::Number(Number::Float(0.5)));

    let sdk::ContentBlock::ToolResult(result) = &messages[2].content[0] else {
        panic!()
    };
    assert_eq!(result.tool_use_id, "t1");
    assert_eq!(result.status, Some(sdk::ToolResultStatus::Error));
    assert_eq!(
        result.content[0],
        sdk::ToolResultContentBlock::Text("partly".into())
    );
    let sdk::ToolResultContentBlock::Json(json) = &result.content[1] else {
        panic!()
    };
    assert_eq!(
        json.as_object().unwrap()["temp"],
        Document::Number(Number::NegInt(-4))
    );
    assert!(
        matches!(&result.content[2], sdk::ToolResultContentBlock::Image(i) if i.format == sdk::ImageFormat::Jpeg)
    );
    assert!(
        matches!(&result.content[3], sdk::ToolResultContentBlock::Document(d) if d.name == "raw")
    );
}

fn assert_rich_system(system: &[sdk::SystemContentBlock]) {
    assert_eq!(system[0], sdk::SystemContentBlock::Text("Be brief.".into()));
    assert!(matches!(
        &system[1],
        sdk::SystemContentBlock::GuardContent(sdk::GuardrailConverseContentBlock::Text(t)) if t.text == "system guard"
    ));
    assert!(matches!(&system[2], sdk::SystemContentBlock::CachePoint(_)));
}

fn assert_rich_tools(tools: Option<&sdk::ToolConfiguration>) {
    let tools = tools.unwrap();
    let sdk::Tool::ToolSpec(spec) = &tools.tools[0] else {
        panic!()
    };
    assert_eq!(
        (spec.name.as_str(), spec.description.as_deref()),
        ("weather", Some("Forecast"))
    );
    let Some(sdk::ToolInputSchema::Json(schema)) = &spec.input_schema else {
        panic!()
    };
    assert_eq!(
        schema.as_object().unwrap()["type"],
        Document::String("object".into())
    );
    assert!(matches!(&tools.tools[1], sdk::Tool::CachePoint(_)));
    assert!(matches!(&tools.tool_choice, Some(sdk::ToolChoice::Tool(t)) if t.name == "weather"));
}

fn assert_rich_inference(config: Option<&sdk::InferenceConfiguration>) {
    let config = config.unwrap();
    assert_eq!(config.max_tokens, Some(512));
    assert_eq!(config.temperature, Some(0.5));
    assert_eq!(config.top_p, Some(0.9));
    assert_eq!(config.stop_sequences(), ["END".to_owned()]);
}

fn rich_output() -> ConverseOutput {
    let message = sdk::Message::builder()
        .role(sdk::ConversationRole::Assistant)
        .content(sdk::ContentBlock::ReasoningContent(
            sdk::ReasoningContentBlock::ReasoningText(
                sdk::ReasoningTextBlock::builder()
                    .text("hmm")
                    .signature("s1")
                    .build()
                    .unwrap(),
            ),
        ))
        .content(sdk::ContentBlock::ReasoningContent(
            sdk::ReasoningContentBlock::RedactedContent(Blob::new(b"secret".to_vec())),
        ))
        .content(sdk::ContentBlock::Text("Here.".into()))
        .content(sdk::ContentBlock::Image(
            sdk::ImageBlock::builder()
                .format(sdk::ImageFormat::Png)
                .source(sdk::ImageSource::Bytes(Blob::new(b"hello".to_vec())))
                .build()
                .unwrap(),
        ))
        .content(sdk::ContentBlock::Document(
            sdk::DocumentBlock::builder()
                .format(sdk::DocumentFormat::Csv)
                .name("table")
                .source(sdk::DocumentSource::Bytes(Blob::new(b"a,b".to_vec())))
                .build()
                .unwrap(),
        ))
        .content(sdk::ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id("t9")
                .name("weather")
                .input(Document::Object(HashMap::from([(
                    "city".to_owned(),
                    Document::String("Oslo".into()),
                )])))
                .build()
                .unwrap(),
        ))
        .content(sdk::ContentBlock::ToolResult(
            sdk::ToolResultBlock::builder()
                .tool_use_id("t9")
                .content(sdk::ToolResultContentBlock::Json(Document::Number(
                    Number::Float(1.5),
                )))
                .status(sdk::ToolResultStatus::Success)
                .build()
                .unwrap(),
        ))
        .content(sdk::ContentBlock::GuardContent(
            sdk::GuardrailConverseContentBlock::Text(
                sdk::GuardrailConverseTextBlock::builder()
                    .text("guarded")
                    .build()
                    .unwrap(),
            ),
        ))
        .content(sdk::ContentBlock::CachePoint(
            sdk::CachePointBlock::builder()
                .r#type(sdk::CachePointType::Default)
                .build()
                .unwrap(),
        ))
        .content(sdk::ContentBlock::Video(
            sdk::VideoBlock::builder()
                .format(sdk::VideoFormat::Mp4)
                .source(sdk::VideoSource::Bytes(Blob::new(b"v".to_vec())))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    ConverseOutput::builder()
        .output(sdk::ConverseOutput::Message(message))
        .stop_reason(sdk::StopReason::ToolUse)
        .usage(
            sdk::TokenUsage::builder()
                .input_tokens(11)
                .output_tokens(7)
                .total_tokens(18)
                .cache_read_input_tokens(5)
                .cache_write_input_tokens(2)
                .build()
                .unwrap(),
        )
        .metrics(
            sdk::ConverseMetrics::builder()
                .latency_ms(123)
                .build()
                .unwrap(),
        )
        .additional_model_response_fields(Document::Object(HashMap::from([(
            "stop_sequence".to_owned(),
            Document::Null,
        )])))
        .performance_config(
            sdk::PerformanceConfiguration::builder()
                .latency(sdk::PerformanceConfigLatency::Optimized)
                .build(),
        )
        .service_tier(
            sdk::ServiceTier::builder()
                .r#type(sdk::ServiceTierType::Flex)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn converse_sends_every_field_and_reads_every_block_back() {
    let captured: Arc<Mutex<Option<ConverseInput>>> = Arc::default();
    let sink = captured.clone();
    let rule = mock!(Client::converse)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        .then_output(rich_output);
    let gateway = mocked(&[&rule]);

    let response = gateway
        .converse(&Target::new(MODEL), &rich_request())
        .await
        .unwrap();

    let input = captured.lock().unwrap().take().unwrap();
    assert_eq!(input.model_id(), Some(MODEL));
    assert_rich_messages(input.messages());
    assert_rich_system(input.system());
    assert_rich_inference(input.inference_config());
    assert_rich_tools(input.tool_config());
    let guardrail = input.guardrail_config().unwrap();
    assert_eq!(
        (
            guardrail.guardrail_identifier.as_str(),
            guardrail.guardrail_version.as_str()
        ),
        ("gr-1", "2")
    );
    assert_eq!(guardrail.trace, sdk::GuardrailTrace::Enabled);
    assert_eq!(
        input.additional_model_request_fields(),
        Some(&Document::Object(HashMap::from([(
            "top_k".to_owned(),
            Document::Number(Number::PosInt(40))
        )])))
    );
    assert_eq!(
        input.additional_model_response_field_paths(),
        ["/stop_sequence".to_owned()]
    );
    assert_eq!(input.request_metadata().unwrap()["tenant"], "acme");
    assert_eq!(
        input.performance_config().unwrap().latency,
        sdk::PerformanceConfigLatency::Optimized
    );
    assert_eq!(
        input.service_tier().unwrap().r#type,
        sdk::ServiceTierType::Flex
    );

    assert_eq!(response.stop_reason, "tool_use");
    assert_eq!(response.usage.input_tokens, 11);
    assert_eq!(response.usage.output_tokens, 7);
    assert_eq!(response.usage.total_tokens, 18);
    assert_eq!(response.usage.cache_read_input_tokens, Some(5));
    assert_eq!(response.usage.cache_write_input_tokens, Some(2));
    assert_eq!(response.metrics.latency_ms, 123);
    assert_eq!(
        response.additional_model_response_fields,
        Some(json!({"stop_sequence": null}))
    );
    assert_eq!(
        response.performance_config.as_ref().unwrap().latency,
        "optimized"
    );
    assert_eq!(response.service_tier.as_ref().unwrap().kind, "flex");
    // The whole message, as the caller sees it on the wire (the video block has no gateway type).
    assert_eq!(
        serde_json::to_value(response.message()).unwrap(),
        json!({"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s1"}}},
            {"reasoningContent": {"redactedContent": "c2VjcmV0"}},
            {"text": "Here."},
            {"image": {"format": "png", "source": {"bytes": "aGVsbG8="}}},
            {"document": {"format": "csv", "name": "table", "source": {"bytes": "YSxi"}}},
            {"toolUse": {"toolUseId": "t9", "name": "weather", "input": {"city": "Oslo"}}},
            {"toolResult": {"toolUseId": "t9", "content": [{"json": 1.5}], "status": "success"}},
            {"guardContent": {"text": {"text": "guarded"}}},
            {"cachePoint": {"type": "default"}}
        ]})
    );
    assert_eq!(response.message().role, Role::Assistant);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn converse_stream_sends_the_same_fields_with_the_stream_guardrail() {
    let captured: Arc<Mutex<Option<ConverseStreamInput>>> = Arc::default();
    let sink = captured.clone();
    let rule = mock!(Client::converse_stream)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        // An empty but valid event stream: the call succeeds and the stream simply ends.
        .then_http_response(|| {
            let mut response = HttpResponse::new(200.try_into().unwrap(), SdkBody::empty());
            response
                .headers_mut()
                .insert("content-type", "application/vnd.amazon.eventstream");
            response
        });
    let gateway = mocked(&[&rule]);

    let stream = gateway
        .converse_stream(&Target::new(MODEL), &rich_request())
        .await
        .unwrap();
    let events: Vec<_> = stream.collect().await;
    assert!(events.is_empty(), "{events:?}");

    let input = captured.lock().unwrap().take().unwrap();
    assert_eq!(input.model_id(), Some(MODEL));
    assert_rich_messages(input.messages());
    assert_rich_system(input.system());
    assert_rich_inference(input.inference_config());
    assert_rich_tools(input.tool_config());
    let guardrail = input.guardrail_config().unwrap();
    assert_eq!(guardrail.guardrail_identifier, "gr-1");
    assert_eq!(guardrail.trace, sdk::GuardrailTrace::Enabled);
    assert_eq!(input.request_metadata().unwrap()["tenant"], "acme");
    assert_eq!(
        input.service_tier().unwrap().r#type,
        sdk::ServiceTierType::Flex
    );
}

#[tokio::test]
async fn invalid_base64_is_refused_before_any_call() {
    let rule = mock!(Client::converse).then_output(rich_output);
    let gateway = mocked(&[&rule]);
    let mut request = rich_request();
    request.messages[2].content[0] = serde_json::from_value(json!({"toolResult": {
        "toolUseId": "t1", "content": [{"text": "ok"}, {"image": {"format": "png", "source": {"bytes": "%%%"}}}]
    }}))
    .unwrap();

    let err = gateway
        .converse(&Target::new(MODEL), &request)
        .await
        .unwrap_err();
    assert_eq!(
        err.field(),
        Some("messages[2].content[0].toolResult.content[1].image.source.bytes")
    );
    assert_eq!(err.status_code(), 400);
    assert_eq!(rule.num_calls(), 0);
}

fn converse_exceptions() -> Vec<(ConverseError, UpstreamKind)> {
    vec![
        (
            ConverseError::ThrottlingException(
                sdk_error::ThrottlingException::builder()
                    .message("slow")
                    .build(),
            ),
            UpstreamKind::Throttled,
        ),
        (
            ConverseError::ModelNotReadyException(
                sdk_error::ModelNotReadyException::builder().build(),
            ),
            UpstreamKind::ModelNotReady,
        ),
        (
            ConverseError::ModelTimeoutException(
                sdk_error::ModelTimeoutException::builder().build(),
            ),
            UpstreamKind::ModelTimeout,
        ),
        (
            ConverseError::ModelErrorException(sdk_error::ModelErrorException::builder().build()),
            UpstreamKind::ModelError,
        ),
        (
            ConverseError::ServiceUnavailableException(
                sdk_error::ServiceUnavailableException::builder().build(),
            ),
            UpstreamKind::ServiceUnavailable,
        ),
        (
            ConverseError::InternalServerException(
                sdk_error::InternalServerException::builder().build(),
            ),
            UpstreamKind::InternalServer,
        ),
        (
            ConverseError::AccessDeniedException(
                sdk_error::AccessDeniedException::builder()
                    .message("arn:aws:iam::1:role/x denied")
                    .build(),
            ),
            UpstreamKind::AccessDenied,
        ),
        (
            ConverseError::ResourceNotFoundException(
                sdk_error::ResourceNotFoundException::builder().build(),
            ),
            UpstreamKind::ResourceNotFound,
        ),
        (
            ConverseError::ValidationException(
                sdk_error::ValidationException::builder()
                    .message("messages: must not be empty")
                    .build(),
            ),
            UpstreamKind::Validation,
        ),
    ]
}

#[tokio::test]
async fn every_converse_exception_maps_to_its_kind() {
    for (index, expected) in converse_exceptions()
        .into_iter()
        .map(|(_, kind)| kind)
        .enumerate()
    {
        let rule =
            mock!(Client::converse).then_error(move || converse_exceptions().remove(index).0);
        let gateway = mocked(&[&rule]);
        let err = gateway
            .converse(&Target::new(MODEL), &rich_request())
            .await
            .unwrap_err();
        let GatewayError::Upstream { kind, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*kind, expected, "{message}");
        match kind {
            UpstreamKind::AccessDenied => assert!(!message.contains("arn:aws"), "{message}"),
            UpstreamKind::Validation => assert_eq!(message, "messages: must not be empty"),
            UpstreamKind::Throttled => assert_eq!(message, "slow"),
            _ => assert!(!message.is_empty()),
        }
        assert_eq!(rule.num_calls(), 1);
    }
}

#[tokio::test]
async fn invoke_exceptions_map_too() {
    let cases: Vec<(fn() -> InvokeModelError, UpstreamKind)> = vec![
        (
            || {
                InvokeModelError::ServiceQuotaExceededException(
                    sdk_error::ServiceQuotaExceededException::builder().build(),
                )
            },
            UpstreamKind::Throttled,
        ),
        (
            || {
                InvokeModelError::ModelErrorException(
                    sdk_error::ModelErrorException::builder().build(),
                )
            },
            UpstreamKind::ModelError,
        ),
        (
            || {
                InvokeModelError::ValidationException(
                    sdk_error::ValidationException::builder().build(),
                )
            },
            UpstreamKind::Validation,
        ),
    ];
    for (error, expected) in cases {
        let rule = mock!(Client::invoke_model).then_error(error);
        let gateway = mocked(&[&rule]);
        let err = gateway
            .invoke(&Target::new(MODEL), &invoke_request())
            .await
            .unwrap_err();
        assert!(
            matches!(err, GatewayError::Upstream { kind, .. } if kind == expected),
            "{err:?}"
        );
    }
}

fn invoke_request() -> InvokeRequest {
    InvokeRequest {
        model_id: MODEL.into(),
        body: br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[]}"#
            .to_vec(),
        content_type: Some("application/json".into()),
        accept: Some("application/json".into()),
    }
}

#[tokio::test]
async fn invoke_passes_body_and_content_types_through() {
    let rule = mock!(Client::invoke_model)
        .match_requests(|input| {
            input.model_id() == Some(MODEL)
                && input.content_type() == Some("application/json")
                && input.accept() == Some("application/json")
                && input
                    .body()
                    .map(|b| b.as_ref().starts_with(b"{\"anthropic_version\""))
                    == Some(true)
        })
        .then_output(|| {
            InvokeModelOutput::builder()
                .body(Blob::new(br#"{"content":[]}"#.to_vec()))
                .content_type("application/json")
                .build()
                .unwrap()
        });
    let gateway = mocked(&[&rule]);
    let response = gateway
        .invoke(&Target::new(MODEL), &invoke_request())
        .await
        .unwrap();
    assert_eq!(response.body, br#"{"content":[]}"#);
    assert_eq!(response.content_type, "application/json");
}

#[tokio::test]
async fn a_wire_throttling_error_keeps_bedrocks_message_and_retry_after() {
    let rule = mock!(Client::converse).then_http_response(|| {
        let mut response = HttpResponse::new(
            429.try_into().unwrap(),
            SdkBody::from(r#"{"message":"Too many requests, please wait before trying again."}"#),
        );
        let headers = response.headers_mut();
        headers.insert("content-type", "application/json");
        headers.insert(
            "x-amzn-errortype",
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        );
        headers.insert("retry-after", "3");
        response
    });
    let gateway = mocked(&[&rule]);
    let err = gateway
        .converse(&Target::new(MODEL), &rich_request())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            message: "Too many requests, please wait before trying again.".into(),
            retry_after: Some(Duration::from_secs(3)),
        }
    );
}

#[tokio::test]
async fn an_unknown_error_code_falls_back_to_the_http_status() {
    let rule = mock!(Client::converse).then_http_response(|| {
        let mut response = HttpResponse::new(
            503.try_into().unwrap(),
            SdkBody::from(r#"{"message":"busy"}"#),
        );
        response
            .headers_mut()
            .insert("x-amzn-errortype", "BrandNewException");
        response
    });
    let gateway = mocked(&[&rule]);
    let err = gateway
        .converse(&Target::new(MODEL), &rich_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Upstream {
                kind: UpstreamKind::ServiceUnavailable,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_garbled_success_body_is_an_upstream_server_error() {
    let rule = mock!(Client::converse)
        .then_http_response(|| HttpResponse::new(200.try_into().unwrap(), SdkBody::from("<html>")));
    let gateway = mocked(&[&rule]);
    let err = gateway
        .converse(&Target::new(MODEL), &rich_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Upstream {
                kind: UpstreamKind::InternalServer,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A client built the production way (`from_sdk_config`) pointed at a loopback endpoint.
fn production_client(endpoint: &str) -> BedrockModelClient {
    let config = aws_config::SdkConfig::builder()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .build();
    BedrockModelClient::from_sdk_config(&config, &[])
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    // Bind, note the port, close it: nothing listens there any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let err = production_client(&endpoint)
        .converse(&Target::new(MODEL), &rich_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Upstream {
                kind: UpstreamKind::Network,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.status_code(), 502);
}

/// Answers every request with a retryable 503 and counts the requests.
async fn always_unavailable() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buffer).await;
            let body = r#"{"message":"try later"}"#;
            let response = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                 x-amzn-errortype: ServiceUnavailableException\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (endpoint, calls)
}

#[tokio::test]
async fn production_clients_make_exactly_one_attempt() {
    let (endpoint, calls) = always_unavailable().await;
    let err = production_client(&endpoint)
        .converse(&Target::new(MODEL), &rich_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Upstream {
                kind: UpstreamKind::ServiceUnavailable,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the SDK must not retry on its own"
    );
}

#[tokio::test]
async fn the_rich_request_round_trips_through_serde() {
    // Guards the fixture itself: the gateway type accepts it and keeps every block.
    let request = rich_request();
    assert!(matches!(
        &request.messages[1].content[1],
        ContentBlock::ReasoningContent(ReasoningBlock::RedactedContent(_))
    ));
    assert!(
        matches!(&request.messages[2].content[0], ContentBlock::ToolResult(r) if matches!(r.content[1], ToolResultContent::Json(_)))
    );
}
