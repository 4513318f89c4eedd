//! `BedrockModelClient` over the real SDK and the real wire protocol, against `bedrock-sim`
//! started in-process on a loopback port.

// Helpers outside `#[test]` functions fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The adapter's own tests call the model client directly: that is what they test.
#![allow(clippy::disallowed_methods)]

use aws_sdk_bedrockruntime::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
};
use bedrock_sim::{Behavior, ErrorKind, Outcome, SimConfig, SimHandle, Simulator, StreamErrorKind};
use futures_util::StreamExt;
use gateway::api::converse::{ContentBlock, ConverseRequest, Message, Role, ToolUseBlock};
use gateway::api::invoke::InvokeRequest;
use gateway::api::stream::{BlockDelta, BlockStart, StreamEvent};
use gateway::ports::{ModelClient, Target};
use gateway::{GatewayError, UpstreamKind};
use gateway_aws::bedrock::BedrockModelClient;
use serde_json::{Value, json};
use std::collections::HashMap;

const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";

async fn start_sim() -> SimHandle {
    Simulator::start(SimConfig::default())
        .await
        .expect("bedrock-sim failed to start on 127.0.0.1 (see crates/bedrock-sim)")
}

/// The production construction path (`from_sdk_config`) with the endpoint pointed at the sim.
fn client_for(sim: &SimHandle) -> BedrockModelClient {
    let config = aws_config::SdkConfig::builder()
        .endpoint_url(sim.endpoint_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .build();
    BedrockModelClient::from_sdk_config(&config, &[])
}

fn sdk_client(sim: &SimHandle, region: &str) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .behavior_version(BehaviorVersion::latest())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

fn ask(text: &str) -> ConverseRequest {
    ConverseRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.into())],
        }],
        ..ConverseRequest::default()
    }
}

fn with_weather_tool(mut request: ConverseRequest, choice: Value) -> ConverseRequest {
    request.tool_config = Some(
        serde_json::from_value(json!({
            "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather for a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}},
                                         "required": ["city"]}}}}],
            "toolChoice": choice,
        }))
        .unwrap(),
    );
    request
}

#[tokio::test]
async fn converse_returns_the_models_text_and_usage() {
    let sim = start_sim().await;
    let client = client_for(&sim);

    let response = client
        .converse(
            &Target::new(NOVA),
            &ask("Please reply with: hello from the simulator"),
        )
        .await
        .unwrap();

    assert_eq!(response.text(), "hello from the simulator");
    assert_eq!(response.stop_reason, "end_turn");
    assert_eq!(response.message().role, Role::Assistant);
    assert_eq!(response.usage.output_tokens, 4);
    assert!(response.usage.input_tokens > 0);
    assert_eq!(
        response.usage.total_tokens,
        response.usage.input_tokens + response.usage.output_tokens
    );
    assert_eq!(sim.calls(NOVA), 1);
}

#[tokio::test]
async fn tool_use_round_trip() {
    let sim = start_sim().await;
    let client = client_for(&sim);
    let target = Target::new(CLAUDE);

    let first_request = with_weather_tool(ask("What is the weather in Oslo?"), json!({"any": {}}));
    let first = client.converse(&target, &first_request).await.unwrap();
    assert_eq!(first.stop_reason, "tool_use");
    let Some(ContentBlock::ToolUse(ToolUseBlock {
        tool_use_id,
        name,
        input,
    })) = first
        .message()
        .content
        .iter()
        .find(|b| matches!(b, ContentBlock::ToolUse(_)))
        .cloned()
    else {
        panic!("no toolUse block in {:?}", first.message());
    };
    assert_eq!(name, "get_weather");
    assert!(tool_use_id.starts_with("tooluse_"), "{tool_use_id}");
    assert!(input.is_object(), "{input}");

    // Send the assistant turn back as-is, then the tool's result.
    let mut second_request = first_request.clone();
    second_request.messages.push(first.message().clone());
    second_request.messages.push(
        serde_json::from_value(json!({"role": "user", "content": [{"toolResult": {
            "toolUseId": tool_use_id, "status": "success",
            "content": [{"json": {"temperature_c": -3, "sky": "snow"}}, {"text": "reply with: It is snowing."}]
        }}]}))
        .unwrap(),
    );
    let second = client.converse(&target, &second_request).await.unwrap();
    assert_eq!(second.stop_reason, "end_turn");
    assert_eq!(second.text(), "It is snowing.");
    assert_eq!(sim.calls(CLAUDE), 2);
}

#[tokio::test]
async fn converse_stream_events_arrive_in_order_with_usage_last() {
    let sim = start_sim().await;
    let client = client_for(&sim);

    let stream = client
        .converse_stream(
            &Target::new(NOVA),
            &ask("reply with: one two three four five six seven"),
        )
        .await
        .unwrap();
    let events: Vec<StreamEvent> = stream.map(|item| item.unwrap()).collect().await;

    let names: Vec<&str> = events.iter().map(StreamEvent::name).collect();
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(
        &names[names.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    assert!(
        names[1..names.len() - 3]
            .iter()
            .all(|n| *n == "contentBlockDelta"),
        "{names:?}"
    );
    assert!(
        names.len() - 4 >= 2,
        "the text should come in several deltas: {names:?}"
    );

    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentBlockDelta(d) => match &d.delta {
                BlockDelta::Text(t) => Some(t.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>().join(" "),
        "one two three four five six seven"
    );
    let StreamEvent::MessageStop(stop) = &events[events.len() - 2] else {
        panic!()
    };
    assert_eq!(stop.stop_reason, "end_turn");
    let StreamEvent::Metadata(metadata) = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(metadata.usage.output_tokens, 7);
    assert!(metadata.usage.input_tokens > 0);
}

#[tokio::test]
async fn converse_stream_tool_use_starts_a_block_and_streams_its_input() {
    let sim = start_sim().await;
    let client = client_for(&sim);
    let request = with_weather_tool(
        ask("Weather in Oslo?"),
        json!({"tool": {"name": "get_weather"}}),
    );

    let events: Vec<StreamEvent> = client
        .converse_stream(&Target::new(CLAUDE), &request)
        .await
        .unwrap()
        .map(|item| item.unwrap())
        .collect()
        .await;

    let start = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::ContentBlockStart(s) => Some(s),
            _ => None,
        })
        .expect("a contentBlockStart for the tool call");
    let BlockStart::ToolUse(tool) = &start.start;
    assert_eq!(tool.name, "get_weather");
    let input: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentBlockDelta(d) => match &d.delta {
                BlockDelta::ToolUse(t) => Some(t.input.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(
        serde_json::from_str::<Value>(&input).unwrap().is_object(),
        "{input}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::MessageStop(s) if s.stop_reason == "tool_use"))
    );
}

fn anthropic_body(text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }))
    .unwrap()
}

fn invoke_request(text: &str) -> InvokeRequest {
    InvokeRequest {
        model_id: CLAUDE.into(),
        body: anthropic_body(text),
        content_type: Some("application/json".into()),
        accept: Some("application/json".into()),
    }
}

#[tokio::test]
async fn invoke_passes_an_anthropic_body_through() {
    let sim = start_sim().await;
    let client = client_for(&sim);

    let response = client
        .invoke(
            &Target::new(CLAUDE),
            &invoke_request("reply with: native hello"),
        )
        .await
        .unwrap();

    assert!(
        response.content_type.starts_with("application/json"),
        "{}",
        response.content_type
    );
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "native hello");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn invoke_stream_yields_each_anthropic_event_as_a_chunk() {
    let sim = start_sim().await;
    let client = client_for(&sim);

    let chunks: Vec<Value> = client
        .invoke_stream(
            &Target::new(CLAUDE),
            &invoke_request("reply with: a b c d e f g"),
        )
        .await
        .unwrap()
        .map(|chunk| serde_json::from_slice(&chunk.unwrap().bytes).unwrap())
        .collect()
        .await;

    let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"message_start"));
    assert_eq!(types.last(), Some(&"message_stop"));
    assert!(types.contains(&"content_block_delta"), "{types:?}");
    let text: String = chunks
        .iter()
        .filter(|c| c["type"] == "content_block_delta")
        .map(|c| c["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>().join(" "),
        "a b c d e f g"
    );
}

#[tokio::test]
async fn throttling_is_returned_after_exactly_one_call() {
    let sim = start_sim().await;
    sim.set_behavior(NOVA, Behavior::always(ErrorKind::ThrottlingException));
    let client = client_for(&sim);

    let err = client
        .converse(&Target::new(NOVA), &ask("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            message: "Too many requests, please wait before trying again.".into(),
            retry_after: None,
        }
    );
    assert_eq!(sim.calls(NOVA), 1, "the SDK must not retry on its own");

    // The stream call fails before its first event: a plain error, still one call.
    let stream_err = client
        .converse_stream(&Target::new(NOVA), &ask("hi"))
        .await
        .err()
        .unwrap();
    assert!(matches!(
        stream_err,
        GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            ..
        }
    ));
    assert_eq!(sim.calls(NOVA), 2);
}

#[tokio::test]
async fn every_http_exception_maps_to_its_kind() {
    let sim = start_sim().await;
    let client = client_for(&sim);
    let cases = [
        (ErrorKind::ValidationException, UpstreamKind::Validation),
        (ErrorKind::AccessDeniedException, UpstreamKind::AccessDenied),
        (
            ErrorKind::ResourceNotFoundException,
            UpstreamKind::ResourceNotFound,
        ),
        (ErrorKind::ModelTimeoutException, UpstreamKind::ModelTimeout),
        (ErrorKind::ModelErrorException, UpstreamKind::ModelError),
        (ErrorKind::ThrottlingException, UpstreamKind::Throttled),
        (
            ErrorKind::ModelNotReadyException,
            UpstreamKind::ModelNotReady,
        ),
        (
            ErrorKind::InternalServerException,
            UpstreamKind::InternalServer,
        ),
        (
            ErrorKind::ServiceUnavailableException,
            UpstreamKind::ServiceUnavailable,
        ),
    ];
    for (injected, expected) in cases {
        sim.set_behavior(NOVA, Behavior::script([Outcome::Error(injected)]));
        let err = client
            .converse(&Target::new(NOVA), &ask("hi"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, GatewayError::Upstream { kind, .. } if *kind == expected),
            "{injected:?} became {err:?}"
        );
        if expected == UpstreamKind::Validation {
            assert_eq!(
                err.to_string(),
                "The request failed validation (simulated)."
            );
        }
    }
    assert_eq!(sim.calls(NOVA), cases.len() as u64);
}

#[tokio::test]
async fn an_in_stream_exception_ends_the_stream_with_an_error_item() {
    let sim = start_sim().await;
    sim.set_behavior(
        NOVA,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ModelStreamErrorException,
            after_chunks: Some(2),
        }]),
    );
    let client = client_for(&sim);

    let items: Vec<_> = client
        .converse_stream(
            &Target::new(NOVA),
            &ask("reply with: one two three four five six seven eight nine ten"),
        )
        .await
        .unwrap()
        .collect()
        .await;

    let (last, before) = items.split_last().unwrap();
    assert!(
        matches!(
            last,
            Err(GatewayError::Upstream {
                kind: UpstreamKind::StreamError,
                ..
            })
        ),
        "{last:?}"
    );
    assert!(
        before.iter().all(Result::is_ok),
        "only the last item is an error: {items:?}"
    );
    assert!(matches!(
        before.first(),
        Some(Ok(StreamEvent::MessageStart(_)))
    ));
    let deltas = before
        .iter()
        .filter(|i| matches!(i, Ok(StreamEvent::ContentBlockDelta(_))))
        .count();
    assert_eq!(deltas, 2);
}

#[tokio::test]
async fn in_stream_throttling_and_invoke_stream_errors_map_too() {
    let sim = start_sim().await;
    let client = client_for(&sim);

    sim.set_behavior(
        NOVA,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ThrottlingException,
            after_chunks: Some(1),
        }]),
    );
    let items: Vec<_> = client
        .converse_stream(&Target::new(NOVA), &ask("hi there"))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(matches!(
        items.last(),
        Some(Err(GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            ..
        }))
    ));

    // ModelTimeoutException is not modelled for ConverseStream: the exception header still names it.
    sim.set_behavior(
        NOVA,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ModelTimeoutException,
            after_chunks: Some(1),
        }]),
    );
    let items: Vec<_> = client
        .converse_stream(&Target::new(NOVA), &ask("hi there"))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        matches!(
            items.last(),
            Some(Err(GatewayError::Upstream {
                kind: UpstreamKind::ModelTimeout,
                ..
            }))
        ),
        "{:?}",
        items.last()
    );

    sim.set_behavior(
        CLAUDE,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ServiceUnavailableException,
            after_chunks: Some(1),
        }]),
    );
    let chunks: Vec<_> = client
        .invoke_stream(
            &Target::new(CLAUDE),
            &invoke_request("reply with: a b c d e f"),
        )
        .await
        .unwrap()
        .collect()
        .await;
    let (last, before) = chunks.split_last().unwrap();
    assert!(
        matches!(
            last,
            Err(GatewayError::Upstream {
                kind: UpstreamKind::ServiceUnavailable,
                ..
            })
        ),
        "{last:?}"
    );
    assert!(!before.is_empty() && before.iter().all(Result::is_ok));
}

#[tokio::test]
async fn a_target_region_selects_that_regions_client() {
    let home_sim = start_sim().await;
    let west_sim = start_sim().await;
    let client = BedrockModelClient::new(
        sdk_client(&home_sim, "us-east-1"),
        HashMap::from([("us-west-2".to_owned(), sdk_client(&west_sim, "us-west-2"))]),
    );

    client
        .converse(&Target::in_region(NOVA, "us-west-2"), &ask("hi"))
        .await
        .unwrap();
    client
        .converse(&Target::new(NOVA), &ask("hi"))
        .await
        .unwrap();
    client
        .converse(&Target::new(NOVA), &ask("hi"))
        .await
        .unwrap();

    assert_eq!(west_sim.calls(NOVA), 1);
    assert_eq!(home_sim.calls(NOVA), 2);
    let err = client
        .converse(&Target::in_region(NOVA, "eu-west-1"), &ask("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Internal(_)));
}

#[tokio::test]
async fn count_tokens_counts_both_input_forms_as_bedrock_does() {
    use aws_sdk_bedrockruntime::primitives::Blob;
    use aws_sdk_bedrockruntime::types::{
        ContentBlock as SdkBlock, ConversationRole, ConverseTokensRequest, CountTokensInput as Sdk,
        InvokeModelTokensRequest, Message as SdkMessage,
    };
    use gateway::api::count_tokens::CountTokensInput;

    let sim = start_sim().await;
    let client = client_for(&sim);
    let direct = sdk_client(&sim, "us-east-1");
    let text = "count these words, please";

    let counted = client
        .count_tokens(
            &Target::new(CLAUDE),
            &CountTokensInput::Converse(Box::new(ask(text))),
        )
        .await
        .unwrap();
    let message = SdkMessage::builder()
        .role(ConversationRole::User)
        .content(SdkBlock::Text(text.into()))
        .build()
        .unwrap();
    let expected = direct
        .count_tokens()
        .model_id(CLAUDE)
        .input(Sdk::Converse(
            ConverseTokensRequest::builder().messages(message).build(),
        ))
        .send()
        .await
        .unwrap();
    assert!(counted.input_tokens > 0);
    assert_eq!(
        i64::from(counted.input_tokens),
        i64::from(expected.input_tokens())
    );

    let body = anthropic_body(text);
    let counted = client
        .count_tokens(
            &Target::new(CLAUDE),
            &CountTokensInput::InvokeModel(body.clone()),
        )
        .await
        .unwrap();
    let expected = direct
        .count_tokens()
        .model_id(CLAUDE)
        .input(Sdk::InvokeModel(
            InvokeModelTokensRequest::builder()
                .body(Blob::new(body))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        i64::from(counted.input_tokens),
        i64::from(expected.input_tokens())
    );
    assert_eq!(sim.calls(CLAUDE), 0, "counting is not a model call");

    // A body the model would refuse is Bedrock's validation error, mapped as for any call.
    let err = client
        .count_tokens(
            &Target::new(CLAUDE),
            &CountTokensInput::InvokeModel(b"{\"nope\": 1}".to_vec()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Upstream {
                kind: UpstreamKind::Validation,
                ..
            }
        ),
        "{err:?}"
    );
}
