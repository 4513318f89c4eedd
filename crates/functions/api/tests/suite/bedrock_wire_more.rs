//! The rest of Bedrock's wire through the gateway: CountTokens, the control-plane reads
//! clients send to the same base URL, inference-profile ids of configured models, Bedrock's
//! own error for unknown operations, and usage and cost on every call with keys off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common;
use crate::controls_support;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseTokensRequest, CountTokensInput,
    InvokeModelTokensRequest, Message, ResponseStream,
};
use bedrock_sim::expected_reply;
use gateway::config::{GatewayConfig, HAIKU, NOVA_LITE, SONNET};
use gateway::controls::pricing::Pricing;
use gateway::controls::usage::TokenUsage;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

fn converse_input(text: &str) -> CountTokensInput {
    CountTokensInput::Converse(
        ConverseTokensRequest::builder()
            .messages(user(text))
            .build(),
    )
}

fn anthropic_body(text: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn sdk_count_tokens_through_the_gateway_matches_bedrock() {
    let api = common::start().await;
    let gateway = testkit::bedrock_client(&api.serve().await);
    let direct = testkit::bedrock_client(&api.sim.endpoint_url());
    let text = "How many tokens is this prompt, counted by the model itself?";

    let counted = gateway
        .count_tokens()
        .model_id(HAIKU)
        .input(converse_input(text))
        .send()
        .await
        .unwrap();
    let expected = direct
        .count_tokens()
        .model_id(HAIKU)
        .input(converse_input(text))
        .send()
        .await
        .unwrap();
    assert!(counted.input_tokens() > 0);
    assert_eq!(counted.input_tokens(), expected.input_tokens());

    // The InvokeModel form, and through an inference profile of the configured model.
    let invoke = || {
        CountTokensInput::InvokeModel(
            InvokeModelTokensRequest::builder()
                .body(Blob::new(anthropic_body(text).to_string()))
                .build()
                .unwrap(),
        )
    };
    let by_profile = gateway
        .count_tokens()
        .model_id(format!("us.{HAIKU}"))
        .input(invoke())
        .send()
        .await
        .unwrap();
    let expected = direct
        .count_tokens()
        .model_id(HAIKU)
        .input(invoke())
        .send()
        .await
        .unwrap();
    assert_eq!(by_profile.input_tokens(), expected.input_tokens());

    // A model the gateway does not offer is Bedrock's validation error, as for any call.
    let err = gateway
        .count_tokens()
        .model_id("anthropic.not-configured-v1:0")
        .input(converse_input(text))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
}

#[tokio::test]
async fn count_tokens_is_refused_403_outside_the_allow_list_and_is_audited_free() {
    let stack = controls_support::start(json!({})).await;
    let nova_only = stack
        .key("acme", |k| k.allowed_models = vec!["nova-lite".into()])
        .await;
    let haiku = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let body = json!({"input": {"converse": {"messages": [
        {"role": "user", "content": [{"text": "count me"}]}]}}});
    let path = format!("/model/{HAIKU}/count-tokens");

    let refused = stack.post(&path, &nova_only.api_key, &body).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(
        refused.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    assert!(refused.json()["message"].as_str().is_some());

    let ok = stack.post(&path, &haiku.api_key, &body).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.json()["inputTokens"].as_u64().unwrap() > 0);
    assert_eq!(stack.sim.calls(HAIKU), 0, "counting is not a model call");

    // The same through the Rust SDK, signing with the key as AWS credentials.
    let base = stack.serve().await;
    let signed = |key: &gateway::controls::keys::IssuedKey| {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .endpoint_url(&base)
            .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
                &key.key_id,
                &key.secret,
                None,
                None,
                "gateway-key",
            ))
            .build();
        aws_sdk_bedrockruntime::Client::from_conf(config)
    };
    let err = signed(&nova_only)
        .count_tokens()
        .model_id(HAIKU)
        .input(converse_input("count me"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    let counted = signed(&haiku)
        .count_tokens()
        .model_id(HAIKU)
        .input(converse_input("count me"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        u64::try_from(counted.input_tokens()).unwrap(),
        ok.json()["inputTokens"].as_u64().unwrap()
    );

    let lines = stack.metric_lines();
    let counted = lines.last().unwrap();
    assert_eq!(counted["Model"], HAIKU);
    assert_eq!(counted["Status"], 200);
    assert_eq!(counted["CostUSD"], 0.0, "CountTokens is free");
}

fn profile_ids(reply: &Value) -> Vec<String> {
    reply["inferenceProfileSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["inferenceProfileId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn control_plane_reads_show_only_what_the_key_may_use() {
    let stack = controls_support::start(json!({})).await;
    let haiku = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let key = &haiku.api_key;

    // What Claude Code asks on every run.
    let listed = stack
        .get("/inference-profiles?type=SYSTEM_DEFINED", key)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let ids = profile_ids(&listed.json());
    assert!(ids.contains(&format!("us.{HAIKU}")), "{ids:?}");
    assert!(ids.contains(&format!("global.{HAIKU}")), "{ids:?}");
    assert!(ids.iter().all(|id| id.ends_with(HAIKU)), "{ids:?}");
    let first = &listed.json()["inferenceProfileSummaries"][0];
    assert_eq!(first["type"], "SYSTEM_DEFINED");
    assert_eq!(first["status"], "ACTIVE");
    assert!(
        first["inferenceProfileArn"]
            .as_str()
            .unwrap()
            .contains(":inference-profile/")
    );
    assert!(
        first["models"][0]["modelArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("foundation-model/{HAIKU}"))
    );

    // Pages of one, followed by their tokens, give the same list.
    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(token) => format!("/inference-profiles?maxResults=1&nextToken={token}"),
            None => "/inference-profiles?maxResults=1".to_owned(),
        };
        let page = stack.get(&path, key).await.json();
        paged.extend(profile_ids(&page));
        match page["nextToken"].as_str() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, ids);
    let application = stack.get("/inference-profiles?type=APPLICATION", key).await;
    assert!(profile_ids(&application.json()).is_empty());
    let bad = stack.get("/inference-profiles?maxResults=0", key).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("x-amzn-errortype"), Some("ValidationException"));

    let one = stack
        .get(&format!("/inference-profiles/us.{HAIKU}"), key)
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["inferenceProfileId"], format!("us.{HAIKU}"));
    let other = stack
        .get(&format!("/inference-profiles/us.{SONNET}"), key)
        .await;
    assert_eq!(other.status, 403, "{}", other.text());
    assert_eq!(
        other.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    let missing = stack
        .get("/inference-profiles/us.anthropic.none-v1:0", key)
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );

    let models = stack.get("/foundation-models", key).await;
    assert_eq!(models.status, 200, "{}", models.text());
    let summaries = models.json()["modelSummaries"].as_array().unwrap().clone();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(summaries[0]["modelId"], HAIKU);
    assert_eq!(summaries[0]["providerName"], "Anthropic");

    // Without a key: refused as Bedrock refuses unsigned calls (403 AccessDeniedException).
    let anonymous = controls_support::send(
        &stack.router,
        http::Request::get("/inference-profiles")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, 403);
    assert_eq!(
        anonymous.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );

    // A key without an allow-list sees every configured model.
    let open = stack.key("acme", |_| {}).await;
    let all = stack.get("/foundation-models", &open.api_key).await.json();
    // The three chat models and the two embedding models.
    assert_eq!(all["modelSummaries"].as_array().unwrap().len(), 5);
    let all = profile_ids(&stack.get("/inference-profiles", &open.api_key).await.json());
    assert!(all.contains(&format!("apac.{NOVA_LITE}")), "{all:?}");
}

#[tokio::test]
async fn inference_profile_ids_of_configured_models_are_routed_to_the_profile() {
    let api = common::start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    let profile = format!("us.{HAIKU}");
    let arn = format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.{HAIKU}");
    for (id, called_as) in [
        (profile.clone(), profile.clone()),
        (arn.clone(), format!("global.{HAIKU}")),
    ] {
        let output = client
            .converse()
            .model_id(&id)
            .messages(user("through a profile"))
            .send()
            .await
            .unwrap();
        let text = output.output().unwrap().as_message().unwrap().content()[0]
            .as_text()
            .unwrap()
            .clone();
        assert_eq!(text, expected_reply("through a profile"));
        assert_eq!(api.sim.calls(&called_as), 1, "{id}");
    }
    let output = client
        .invoke_model()
        .model_id(format!("eu.{HAIKU}"))
        .body(Blob::new(anthropic_body("native").to_string()))
        .send()
        .await
        .unwrap();
    assert!(!output.body().as_ref().is_empty());
    assert_eq!(api.sim.calls(&format!("eu.{HAIKU}")), 1);
    assert_eq!(api.sim.calls(HAIKU), 0, "the base id was never called");
    let headers = api
        .post_json(
            &format!("/model/{profile}/converse"),
            &json!({"messages": [common::user_message("hi")]}),
        )
        .await;
    assert_eq!(headers.status, 200);
    assert_eq!(headers.header("x-gateway-model"), Some(profile.as_str()));
}

#[tokio::test]
async fn a_models_profiles_limit_the_geographies_and_the_allow_list_still_applies() {
    let mut config = GatewayConfig::default();
    config.models[0].profiles = vec!["us".into()];
    let api = common::start_with(config).await;
    let refused = api
        .post_json(
            &format!("/model/eu.{HAIKU}/converse"),
            &json!({"messages": [common::user_message("hi")]}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(
        refused.header("x-amzn-errortype"),
        Some("ValidationException")
    );

    let stack = controls_support::start(json!({})).await;
    let nova_only = stack
        .key("acme", |k| k.allowed_models = vec!["nova-lite".into()])
        .await;
    let haiku = stack
        .key("acme", |k| k.allowed_models = vec![HAIKU.into()])
        .await;
    let body = json!({"messages": [common::user_message("hi")]});
    let path = format!("/model/us.{HAIKU}/converse");
    let denied = stack.post(&path, &nova_only.api_key, &body).await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    let allowed = stack.post(&path, &haiku.api_key, &body).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(stack.sim.calls(&format!("us.{HAIKU}")), 1);
    let line = stack.metric_lines().last().unwrap().clone();
    assert_eq!(line["Model"], format!("us.{HAIKU}"));
    assert!(line["CostUSD"].as_f64().unwrap() > 0.0, "{line}");
}

/// Log lines written on this thread while the guard lives (the test runtime is single-threaded).
fn capture_thread_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(Arc::clone(&buffer));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn unknown_operations_get_bedrocks_own_error() {
    let api = common::start().await;
    let (logs, _guard) = capture_thread_logs();
    for (method, path) in [
        (http::Method::POST, "/model/x/frobnicate".to_owned()),
        (http::Method::POST, format!("/model/{HAIKU}/invoke/extra")),
        (http::Method::GET, format!("/model/{HAIKU}/converse")),
    ] {
        let reply = api
            .send(
                http::Request::builder()
                    .method(method.clone())
                    .uri(&path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("UnknownOperationException"),
            "{method} {path}"
        );
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&path), "{message}");
        assert!(reply.header("x-amzn-requestid").is_some());
        // The log names what was refused, without the body.
        let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(
            logged
                .lines()
                .any(|l| l.contains(method.as_str()) && l.contains(&path)),
            "{logged}"
        );
    }
    // Elsewhere the gateway's own 404 stays.
    let other = api.get("/v2/nothing").await;
    assert_eq!(other.json()["error"]["code"], "not_found");
}

/// A keys-off gateway whose EMF lines are kept in memory.
async fn keys_off() -> (
    bedrock_sim::SimHandle,
    axum::Router,
    Arc<Mutex<Vec<String>>>,
) {
    let sim = testkit::bedrock_sim().await;
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let models = gateway_aws::bedrock::BedrockModelClient::from_sdk_config(&sdk, &[]);
    let config = GatewayConfig::default();
    let parts = gateway_aws::resilience_store::local_parts(&config)
        .with_home_region(Some("us-east-1".to_owned()));
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let router = api::router(api::AppState::with_controls(
        config,
        models,
        parts,
        None,
        api::MetricsSink::Memory(Arc::clone(&metrics)),
        None,
    ));
    (sim, router, metrics)
}

async fn wait_for_lines(metrics: &Mutex<Vec<String>>, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let lines = metrics.lock().unwrap().clone();
        if lines.len() >= n {
            return lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "expected {n} metric lines, got {:?}",
        metrics.lock().unwrap()
    );
}

fn cost_of(usage: &TokenUsage) -> f64 {
    let pricing = Pricing::new(&GatewayConfig::default(), Some("us-east-1".to_owned())).unwrap();
    #[allow(clippy::cast_precision_loss)]
    let nanos = pricing.cost(HAIKU, None, usage).unwrap().0 as f64;
    nanos / 1e9
}

#[tokio::test]
async fn with_keys_off_every_call_records_usage_and_cost() {
    let (_sim, router, metrics) = keys_off().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = testkit::bedrock_client(&format!("http://{addr}"));
    let body = anthropic_body("count what I stream").to_string();

    // Streamed InvokeModel: usage from Bedrock's invocation metrics on the last chunk.
    let mut stream = client
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .body(Blob::new(body.clone()))
        .send()
        .await
        .unwrap();
    let mut metrics_seen = Value::Null;
    while let Some(event) = stream.body.recv().await.unwrap() {
        if let ResponseStream::Chunk(chunk) = event {
            let event: Value = serde_json::from_slice(chunk.bytes().unwrap().as_ref()).unwrap();
            if !event["amazon-bedrock-invocationMetrics"].is_null() {
                metrics_seen = event["amazon-bedrock-invocationMetrics"].clone();
            }
        }
    }
    let input = metrics_seen["inputTokenCount"].as_u64().unwrap();
    let output = metrics_seen["outputTokenCount"].as_u64().unwrap();
    let line = wait_for_lines(&metrics, 1).await.remove(0);
    assert_eq!(line["InputTokens"], input);
    assert_eq!(line["OutputTokens"], output);
    let expected = cost_of(&TokenUsage {
        input,
        output,
        ..TokenUsage::default()
    });
    assert!(expected > 0.0);
    let recorded = line["CostUSD"].as_f64().unwrap();
    assert!(
        (recorded - expected).abs() < 1e-9,
        "{recorded} vs {expected}"
    );

    // Converse, buffered and streamed, and buffered InvokeModel: priced too.
    client
        .converse()
        .model_id(HAIKU)
        .messages(user("priced"))
        .send()
        .await
        .unwrap();
    let mut events = client
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("priced stream"))
        .send()
        .await
        .unwrap();
    while events.stream.recv().await.unwrap().is_some() {}
    client
        .invoke_model()
        .model_id(HAIKU)
        .body(Blob::new(body))
        .send()
        .await
        .unwrap();
    let lines = wait_for_lines(&metrics, 4).await;
    for line in &lines[1..] {
        assert!(line["InputTokens"].as_u64().unwrap() > 0, "{line}");
        assert!(line["CostUSD"].as_f64().unwrap() > 0.0, "{line}");
    }
}
