//! `POST /v1/embeddings` against the simulator's Titan v2 and Cohere v3 (deterministic vectors):
//! shapes, dimensions, base64, one Titan call per input and one Cohere call per batch, exact
//! cost and ledger-visible usage, the Bedrock-wire InvokeModel for the same models through the
//! AWS SDK, and the attacks (a key without the model, a spent budget, too many or too large
//! inputs, a chat model named).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use aws_sdk_bedrockruntime::primitives::Blob;
use base64::Engine;
use bedrock_sim::count_input_tokens;
use bedrock_sim::embeddings::vector;
use gateway::config::{COHERE_EMBED, TITAN_EMBED};
use gateway::controls::keys::Budget;
use serde_json::{Value, json};

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test]
async fn titan_list_input_with_dimensions() {
    let api = start().await;
    let texts = ["hello world", "goodbye"];
    let reply = api
        .post_json(
            "/v1/embeddings",
            &json!({"model": "titan-embed", "input": texts, "dimensions": 256}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], TITAN_EMBED);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(data[i]["object"], "embedding");
        assert_eq!(data[i]["index"], i);
        assert_eq!(
            floats(&data[i]["embedding"]),
            vector(TITAN_EMBED, text, 256, true),
            "the model's own vector for input {i}"
        );
    }
    let tokens: u32 = texts.iter().map(|t| count_input_tokens(t.len())).sum();
    assert_eq!(body["usage"]["prompt_tokens"], tokens);
    assert_eq!(body["usage"]["total_tokens"], tokens);
    assert_eq!(api.sim.calls(TITAN_EMBED), 2, "one Titan call per input");

    let reply = api
        .post_json(
            "/v1/embeddings",
            &json!({"model": TITAN_EMBED, "input": "hello world", "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let encoded = reply.json()["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, vector(TITAN_EMBED, "hello world", 1024, true));
}

#[tokio::test]
async fn cohere_batch_is_one_call() {
    let api = start().await;
    let texts = ["alpha", "beta", "gamma"];
    let reply = api
        .post_json(
            "/v1/embeddings",
            &json!({"model": "cohere-embed", "input": texts, "input_type": "search_query"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["model"], COHERE_EMBED);
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            floats(&body["data"][i]["embedding"]),
            vector(COHERE_EMBED, text, 1024, true)
        );
    }
    assert_eq!(api.sim.calls(COHERE_EMBED), 1);
}

#[tokio::test]
async fn refusals_name_the_field_and_call_nothing() {
    let api = start().await;
    let cases = [
        (json!({"model": "haiku", "input": "x"}), "model"),
        (
            json!({"model": "titan-embed", "input": vec!["x"; 33]}),
            "input",
        ),
        (
            json!({"model": "cohere-embed", "input": vec!["x"; 97]}),
            "input",
        ),
        (
            json!({"model": "titan-embed", "input": ["ok", "x".repeat(50_001)]}),
            "input[1]",
        ),
        (
            json!({"model": "titan-embed", "input": "x", "dimensions": 100}),
            "dimensions",
        ),
        (
            json!({"model": "titan-embed", "input": "x", "encoding_format": "int8"}),
            "encoding_format",
        ),
        (
            json!({"model": "titan-embed", "input": [[1, 2, 3]]}),
            "input[0]",
        ),
        (json!({"model": "titan-embed", "input": {"a": 1}}), "input"),
        (json!({"model": "titan-embed"}), "input"),
    ];
    for (body, field) in cases {
        let reply = api.post_json("/v1/embeddings", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["param"], field, "{}", reply.text());
    }
    let reply = api
        .post_json(
            "/v1/embeddings",
            &json!({"model": "text-embedding-9", "input": "x"}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("titan-embed"), "{}", reply.text());
    assert_eq!(api.sim.calls(TITAN_EMBED) + api.sim.calls(COHERE_EMBED), 0);
}

/// Prices for the embedding models (USD per 1k input tokens), as a deployment would set them.
fn priced() -> Value {
    json!({"prices": [
        {"model": TITAN_EMBED, "input_per_1k": 0.00002, "output_per_1k": 0},
        {"model": COHERE_EMBED, "input_per_1k": 0.0001, "output_per_1k": 0}
    ]})
}

#[tokio::test]
async fn governed_allow_list_budget_cost_and_ledger() {
    use crate::controls_support::{self as controls, nanos};
    let stack = controls::start(priced()).await;
    let body = json!({"model": "titan-embed", "input": ["hello world", "goodbye"]});

    let chat_only = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let reply = stack
        .post("/v1/embeddings", &chat_only.api_key, &body)
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.json()["error"]["type"], "permission_error");

    let no_route = stack
        .key("acme", |k| {
            k.allowed_routes = vec![gateway::controls::RouteClass::Chat]
        })
        .await;
    let reply = stack.post("/v1/embeddings", &no_route.api_key, &body).await;
    assert_eq!(reply.status, 403, "{}", reply.text());

    let broke = stack
        .key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(0.000_000_001),
                ..Budget::default()
            }
        })
        .await;
    let reply = stack.post("/v1/embeddings", &broke.api_key, &body).await;
    assert_eq!(reply.status, 402, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "budget_exceeded");
    assert_eq!(
        stack.sim.calls(TITAN_EMBED),
        0,
        "no refused call reached the model"
    );

    let ok = stack.key("embedder", |_| {}).await;
    let reply = stack.post("/v1/embeddings", &ok.api_key, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // 3 + 2 tokens at $0.00002 per 1k = 20 nano-dollars a token.
    assert_eq!(reply.json()["usage"]["prompt_tokens"], 5);
    assert_eq!(nanos(reply.header("x-gateway-cost").unwrap()), 100);
    // A key allowed one request in flight: the request's own calls never refuse each other.
    let one_at_a_time = stack
        .key("acme", |k| k.limits.default.concurrency = Some(1))
        .await;
    let three = json!({"model": "titan-embed", "input": ["a", "b", "c"]});
    let reply = stack
        .post("/v1/embeddings", &one_at_a_time.api_key, &three)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let usage = stack.get("/v1/usage", &ok.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text());
    let text = usage.text();
    assert!(text.contains(TITAN_EMBED), "{text}");
    let totals = &usage.json()["totals"];
    assert_eq!(totals["input_tokens"], 5, "{text}");
    assert_eq!(totals["requests"], 2, "{text}");
}

/// The Bedrock wire: InvokeModel for the embedding models through the AWS SDK, bodies passed
/// through unchanged (no output limit written into them).
#[tokio::test]
async fn sdk_invoke_model_for_embedding_models() {
    let api = start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    let output = client
        .invoke_model()
        .model_id(TITAN_EMBED)
        .content_type("application/json")
        .body(Blob::new(
            json!({"inputText": "hello world", "dimensions": 512}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(output.body().as_ref()).unwrap();
    assert_eq!(
        floats(&reply["embedding"]),
        vector(TITAN_EMBED, "hello world", 512, true)
    );
    assert_eq!(reply["inputTextTokenCount"], 3);
    let output = client
        .invoke_model()
        .model_id(COHERE_EMBED)
        .content_type("application/json")
        .body(Blob::new(
            json!({"texts": ["a", "b"], "input_type": "search_document"}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(output.body().as_ref()).unwrap();
    assert_eq!(reply["embeddings"].as_array().unwrap().len(), 2);
}

/// Red team (red2): a Titan request is one call per input, collected with `buffered(1)`,
/// which runs every remaining call after one has failed. The model refuses input 2; the
/// caller gets an error and no vectors, yet inputs 3 to 8 are still sent to Bedrock and
/// charged. Expected: the first failure stops the fan-out (two calls, not eight).
#[tokio::test]
async fn attack_a_failed_input_stops_the_titan_fan_out() {
    use crate::controls_support as controls;
    use bedrock_sim::{Behavior, ErrorKind, Outcome};
    let stack = controls::start(priced()).await;
    stack.sim.set_behavior(
        TITAN_EMBED,
        Behavior::script([Outcome::Ok, Outcome::Error(ErrorKind::ValidationException)]),
    );
    let key = stack.key("acme", |_| {}).await;
    let inputs: Vec<String> = (0..8).map(|i| format!("input {i}")).collect();
    let reply = stack
        .post(
            "/v1/embeddings",
            &key.api_key,
            &json!({"model": "titan-embed", "input": inputs}),
        )
        .await;
    assert!(reply.status.as_u16() >= 400, "{}", reply.text());
    assert_eq!(
        stack.sim.calls(TITAN_EMBED),
        2,
        "calls made (and billed) after the request had already failed"
    );
}
