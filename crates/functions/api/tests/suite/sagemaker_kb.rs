//! SageMaker endpoints as models and Knowledge Bases, through the router, against the
//! simulator's SageMaker Runtime and Bedrock Agent Runtime over the real SDKs: chat served by an
//! endpoint (sync and stream, Converse and OpenAI routes, both payload dialects), its fallback
//! to a Bedrock model, SageMaker's own wire route, and RAG answers with citations.

use crate::common::*;
use bedrock_sim::{Behavior, ErrorKind, Outcome, StreamErrorKind};
use gateway::config::GatewayConfig;
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::knowledge_base::BedrockKnowledgeBases;
use gateway_aws::models::GatewayModelClient;
use gateway_aws::sagemaker::SageMakerModelClient;
use serde_json::{Value, json};

pub const CHAT_ENDPOINT: &str = "ft-llama-ep";
pub const PROMPT_ENDPOINT: &str = "tgi-ep";
pub const KB: &str = "KB12345678";

/// A fine-tuned chat endpoint falling back to Haiku, a plain-prompt endpoint, Haiku, and a
/// knowledge base answered by Haiku.
pub fn sagemaker_config() -> GatewayConfig {
    config(&format!(
        r#"{{"models": [
            {{"id": "ft-llama", "fallbacks": ["haiku"],
              "sagemaker": {{"endpoint": "{CHAT_ENDPOINT}", "dialect": "chat",
                             "price_per_hour": 7.2, "tokens_per_hour": 3600000}}}},
            {{"id": "tgi-plain", "sagemaker": {{"endpoint": "{PROMPT_ENDPOINT}", "dialect": "prompt"}}}},
            {{"id": "{{HAIKU}}", "aliases": ["haiku"]}}
          ],
          "routes": {{}},
          "knowledge_bases": [{{"id": "{KB}", "model": "haiku", "number_of_results": 3}}]}}"#
    ))
}

/// The router with Bedrock, SageMaker and Knowledge Bases all on one simulator.
pub async fn start_sagemaker() -> TestApi {
    let config = sagemaker_config();
    let sim = testkit::bedrock_sim().await;
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let models = GatewayModelClient::new(
        BedrockModelClient::from_sdk_config(&sdk, &[]),
        SageMakerModelClient::from_sdk_config(&sdk, &config),
    );
    let state = api::AppState::new(config, models);
    assert!(
        state
            .knowledge_bases
            .set(BedrockKnowledgeBases::from_sdk_config(&sdk))
            .is_ok()
    );
    TestApi {
        sim,
        router: api::router(state),
    }
}

fn chat_key() -> String {
    format!("sagemaker:{CHAT_ENDPOINT}")
}

fn deltas(reply: &Reply) -> String {
    reply
        .sse()
        .iter()
        .filter(|(event, _)| event == "contentBlockDelta")
        .map(|(_, data)| {
            let data: Value = serde_json::from_str(data).unwrap();
            data["delta"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn converse_sync_and_stream_are_served_by_the_endpoint() {
    let api = start_sagemaker().await;
    let reply = api
        .post_json(
            "/v1/converse",
            &ask("ft-llama", "reply with: hello from sagemaker"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        "hello from sagemaker"
    );
    assert_eq!(body["usage"]["outputTokens"], 3);
    assert_eq!(reply.header("x-gateway-model"), Some("ft-llama"));

    let stream = api
        .post_json(
            "/v1/converse-stream",
            &ask("ft-llama", "reply with: streamed by an endpoint"),
        )
        .await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    assert_eq!(deltas(&stream), "streamed by an endpoint");
    let events: Vec<String> = stream.sse().into_iter().map(|(e, _)| e).collect();
    assert_eq!(events.first().map(String::as_str), Some("messageStart"));
    assert!(events.iter().any(|e| e == "messageStop"), "{events:?}");
    assert!(events.iter().any(|e| e == "metadata"), "{events:?}");
    assert_eq!(api.sim.calls(&chat_key()), 2);
    assert_eq!(api.sim.calls(HAIKU), 0);
}

#[tokio::test]
async fn openai_chat_sync_and_stream_are_served_by_the_endpoint() {
    let api = start_sagemaker().await;
    let chat = |stream: bool| {
        json!({"model": "ft-llama", "stream": stream,
               "messages": [{"role": "system", "content": "be brief"},
                            {"role": "user", "content": "reply with: open weights"}]})
    };
    let reply = api.post_json("/v1/chat/completions", &chat(false)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "open weights"
    );
    let stream = api.post_json("/v1/chat/completions", &chat(true)).await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    let text: String = stream
        .sse()
        .iter()
        .filter(|(_, data)| data.starts_with('{'))
        .filter_map(|(_, data)| {
            let chunk: Value = serde_json::from_str(data).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "open weights");
    assert!(stream.text().contains("[DONE]"));
    assert_eq!(api.sim.calls(&chat_key()), 2);
}

#[tokio::test]
async fn the_plain_prompt_dialect_serves_converse_too() {
    let api = start_sagemaker().await;
    let reply = api
        .post_json(
            "/v1/converse",
            &ask("tgi-plain", "reply with: plain prompt answer"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["output"]["message"]["content"][0]["text"],
        "plain prompt answer"
    );
    let stream = api
        .post_json(
            "/v1/converse-stream",
            &ask("tgi-plain", "reply with: tgi tokens"),
        )
        .await;
    assert_eq!(deltas(&stream), "tgi tokens");
    assert_eq!(api.sim.calls(&format!("sagemaker:{PROMPT_ENDPOINT}")), 2);
}

#[tokio::test]
async fn a_failing_endpoint_falls_back_to_bedrock() {
    let api = start_sagemaker().await;
    api.sim.set_behavior(
        &chat_key(),
        Behavior::always(ErrorKind::ServiceUnavailableException),
    );
    let reply = api
        .post_json(
            "/v1/converse",
            &ask("ft-llama", "reply with: from the fallback"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    assert_eq!(reply.header("x-gateway-fallback"), Some("true"));
    assert_eq!(
        reply.json()["output"]["message"]["content"][0]["text"],
        "from the fallback"
    );
    let calls_before_stream = api.sim.calls(&chat_key());
    assert!(calls_before_stream >= 1);

    // A stream falls over before its first event, through the OpenAI route.
    let stream = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "ft-llama", "stream": true,
                    "messages": [{"role": "user", "content": "reply with: streamed fallback"}]}),
        )
        .await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    assert_eq!(stream.header("x-gateway-model"), Some(HAIKU));
    assert!(api.sim.calls(&chat_key()) > calls_before_stream);
    assert_eq!(api.sim.calls(HAIKU), 2);
}

#[tokio::test]
async fn a_stream_that_breaks_midway_ends_with_an_error_event() {
    let api = start_sagemaker().await;
    api.sim.set_behavior(
        &chat_key(),
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ModelStreamErrorException,
            after_chunks: Some(2),
        }]),
    );
    let full = "one two three four five six seven eight nine ten eleven twelve";
    let stream = api
        .post_json(
            "/v1/converse-stream",
            &ask("ft-llama", &format!("reply with: {full}")),
        )
        .await;
    assert_eq!(stream.status, 200);
    let text = deltas(&stream);
    assert!(
        !text.is_empty() && text.len() < full.len() && full.starts_with(&text),
        "{}",
        stream.text()
    );
    let last = stream.sse().pop().unwrap();
    assert_eq!(last.0, "error", "{}", stream.text());
    assert!(last.1.contains("stream_error"), "{}", stream.text());
    assert_eq!(api.sim.calls(HAIKU), 0, "no fallback after the first event");
}

#[tokio::test]
async fn images_are_refused_naming_the_field_before_any_call() {
    let api = start_sagemaker().await;
    let reply = api
        .post_json(
            "/v1/converse",
            &json!({"modelId": "ft-llama", "messages": [{"role": "user", "content": [
                {"text": "what is this"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
            ]}]}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["field"], "messages[0].content[1]");
    assert_eq!(api.sim.calls(&chat_key()), 0);
}

#[tokio::test]
async fn sagemakers_wire_route_invokes_the_configured_endpoint() {
    let api = start_sagemaker().await;
    let body = json!({"messages": [{"role": "user", "content": "reply with: raw body"}], "max_tokens": 20});
    let reply = api
        .post_json(&format!("/endpoints/{CHAT_ENDPOINT}/invocations"), &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["choices"][0]["message"]["content"], "raw body");
    assert_eq!(reply.header("x-gateway-model"), Some("ft-llama"));

    let unknown = api
        .post_json("/endpoints/not-configured/invocations", &body)
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert!(unknown.header("x-amzn-errortype").is_some());
    assert_eq!(api.sim.calls("sagemaker:not-configured"), 0);
}

#[tokio::test]
async fn a_rag_query_answers_with_citations() {
    let api = start_sagemaker().await;
    let reply = api
        .post_json(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &json!({"query": "how many vacation days do I get"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(!body["answer"].as_str().unwrap().is_empty());
    let sources = body["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3, "the knowledge base's number_of_results");
    assert!(
        sources[0]["uri"]
            .as_str()
            .unwrap()
            .starts_with("s3://kb-kb12345678/")
    );
    assert_eq!(sources[0]["score"], 0.95);
    let citations = body["citations"].as_array().unwrap();
    assert!(!citations.is_empty());
    assert!(!citations[0]["sources"].as_array().unwrap().is_empty());
    assert_eq!(body["model"], HAIKU);
    assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    assert_eq!(api.sim.calls(&format!("kb:{KB}")), 1);
    assert_eq!(api.sim.calls(HAIKU), 1);

    // The answering model may be named, and is routed like any call (here: the endpoint).
    let named = api
        .post_json(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &json!({"query": "vacation", "model": "ft-llama", "number_of_results": 2}),
        )
        .await;
    assert_eq!(named.status, 200, "{}", named.text());
    assert_eq!(named.json()["sources"].as_array().unwrap().len(), 2);
    assert_eq!(api.sim.calls(&chat_key()), 1);
}

#[tokio::test]
async fn bad_rag_input_is_refused_naming_the_field() {
    let api = start_sagemaker().await;
    let path = format!("/v1/knowledge-bases/{KB}/query");
    for (body, field) in [
        (json!({"query": ""}), "query"),
        (json!({"query": "x".repeat(1001)}), "query"),
        (
            json!({"query": "x", "number_of_results": 101}),
            "number_of_results",
        ),
        (json!({"query": "x", "filter": {}}), "filter"),
    ] {
        let reply = api.post_json(&path, &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(field),
            "{body}: {}",
            reply.text()
        );
    }
    let unknown = api
        .post_json("/v1/knowledge-bases/NOPE1/query", &json!({"query": "x"}))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(api.sim.call_counts().total, 0, "nothing was called");
}

#[tokio::test]
async fn retrieve_and_generate_wire_operations_answer_in_bedrocks_shapes() {
    let api = start_sagemaker().await;
    let retrieved = api
        .post_json(
            &format!("/knowledgebases/{KB}/retrieve"),
            &json!({"retrievalQuery": {"text": "vacation"},
                    "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 4}}}),
        )
        .await;
    assert_eq!(retrieved.status, 200, "{}", retrieved.text());
    let results = retrieved.json()["retrievalResults"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["location"]["type"], "S3");
    assert_eq!(api.sim.calls(HAIKU), 0, "Retrieve calls no model");

    let rag = api
        .post_json(
            "/retrieveAndGenerate",
            &json!({"input": {"text": "vacation days"},
                    "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE",
                        "knowledgeBaseConfiguration": {"knowledgeBaseId": KB, "modelArn": HAIKU}}}),
        )
        .await;
    assert_eq!(rag.status, 200, "{}", rag.text());
    let body = rag.json();
    assert!(!body["output"]["text"].as_str().unwrap().is_empty());
    assert!(!body["sessionId"].as_str().unwrap().is_empty());
    let refs = body["citations"][0]["retrievedReferences"]
        .as_array()
        .unwrap();
    assert!(!refs.is_empty());
    assert_eq!(api.sim.calls(HAIKU), 1);

    let not_served = api
        .post_json(
            "/retrieveAndGenerate",
            &json!({"input": {"text": "x"},
                    "retrieveAndGenerateConfiguration": {"type": "EXTERNAL_SOURCES"}}),
        )
        .await;
    assert_eq!(not_served.status, 400, "{}", not_served.text());
}
