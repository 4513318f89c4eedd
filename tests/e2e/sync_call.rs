//! The api function: a synchronous Converse call, answered by Bedrock (the simulator).

use crate::common::{http, json, stack};

#[tokio::test]
async fn a_sync_converse_call_goes_through_the_api_function_to_bedrock() {
    let stack = stack().require(&["ApiFunction"]);
    let response = http()
        .post(format!("{}/v1/converse", stack.api_url))
        .json(&serde_json::json!({
            "modelId": "haiku",
            "messages": [{"role": "user", "content": [{"text": "Hello from the end-to-end test"}]}]
        }))
        .send()
        .await
        .expect("POST /v1/converse");
    let model = response
        .headers()
        .get("x-gateway-model")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        model.as_deref(),
        Some(gateway_haiku()),
        "the alias resolves to the model that answered"
    );
    let text = body["output"]["message"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(!text.is_empty(), "a model answer: {body}");
    assert!(
        body["usage"]["inputTokens"].as_u64().unwrap_or(0) > 0,
        "usage is reported: {body}"
    );
}

fn gateway_haiku() -> &'static str {
    "anthropic.claude-haiku-4-5-20251001-v1:0"
}
