//! The official OpenAI Python SDK on the routes beyond chat: `responses.create` (plain, streamed
//! with a function tool, the stream helper, tool outputs, structured output, the stateless
//! refusal) and `embeddings.create` (a list input with `dimensions`, base64, Cohere).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use crate::python_clients::run_client_with;

#[tokio::test(flavor = "multi_thread")]
async fn official_openai_sdk_responses() {
    let api = start().await;
    let base = api.serve().await;
    let out = run_client_with("openai_responses.py", &[&format!("{base}/v1")]).await;
    for step in [
        "responses ok",
        "stream tools ok",
        "stream helper ok",
        "tool output ok",
        "json schema ok",
        "stateless ok",
    ] {
        assert!(out.contains(step), "{step} missing: {out}");
    }
    assert!(api.sim.calls(HAIKU) >= 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn official_openai_sdk_embeddings() {
    use gateway::config::TITAN_EMBED;
    let api = start().await;
    let base = api.serve().await;
    let out = run_client_with("openai_embeddings.py", &[&format!("{base}/v1")]).await;
    for step in ["embeddings ok", "float ok", "cohere ok", "refusal ok"] {
        assert!(out.contains(step), "{step} missing: {out}");
    }
    // The SDK decoded the model's own vector.
    let first: Vec<f32> = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let expected = bedrock_sim::embeddings::vector(TITAN_EMBED, "hello world", 256, true);
    assert_eq!(first, expected[..4]);
    assert_eq!(api.sim.calls(TITAN_EMBED), 3);
}
