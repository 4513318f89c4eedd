//! `POST /v1/responses` in process against the simulator: plain, streamed with a function tool,
//! function outputs, structured output, stateless refusals, and the controls' attacks (a key
//! without the model, a spent budget, oversized input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::expected_reply;
use gateway::controls::keys::Budget;
use serde_json::{Value, json};

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather by city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}])
}

#[tokio::test]
async fn plain_response_has_openais_shape() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/responses",
            &json!({"model": "haiku", "input": "What is Rust?", "instructions": "Be brief",
                    "max_output_tokens": 200, "store": true, "user": "u1"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["object"], "response");
    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], HAIKU);
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        expected_reply("What is Rust?")
    );
    let usage = &body["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
    assert_eq!(body["store"], false, "nothing is stored");
}

#[tokio::test]
async fn streamed_function_call_then_its_output() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/responses",
            &json!({"model": "haiku", "stream": true, "tools": weather_tool(),
                    "tool_choice": "required", "input": "Weather in Oslo?"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = reply.sse();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "response.created");
    assert_eq!(names[1], "response.in_progress");
    assert_eq!(*names.last().unwrap(), "response.completed");
    for name in [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    let call = done["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string());
    assert!(done["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // The function's output goes back as an input item; the model answers in text.
    let reply = api
        .post_json(
            "/v1/responses",
            &json!({"model": "haiku", "tools": weather_tool(), "input": [
                {"role": "user", "content": "Weather in Oslo?"},
                call,
                {"type": "function_call_output", "call_id": call["call_id"], "output": "12C, rain"}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["output"][0]["type"], "message", "{body}");
    assert_eq!(body["status"], "completed");
}

#[tokio::test]
async fn json_schema_format_answers_json_text() {
    let api = start().await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"},
                        "population": {"type": "integer"}}, "required": ["city", "population"]});
    let reply = api
        .post_json(
            "/v1/responses",
            &json!({"model": "haiku", "input": "The largest city of Norway",
                    "text": {"format": {"type": "json_schema", "name": "city", "schema": schema,
                                        "strict": true}}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let text = body["output"][0]["content"][0]["text"].as_str().unwrap();
    let answer: Value = serde_json::from_str(text).unwrap();
    assert!(
        answer["city"].is_string() && answer["population"].is_i64(),
        "{answer}"
    );
}

#[tokio::test]
async fn stateless_and_bad_input_are_refused_naming_the_field() {
    let api = start().await;
    let cases = [
        (
            json!({"model": "haiku", "input": "x", "previous_response_id": "resp_123"}),
            "previous_response_id",
        ),
        (json!({"model": "haiku"}), "input"),
        (
            json!({"model": "haiku", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "haiku", "input": "x", "max_output_tokens": 4_000_000_000u64}),
            "max_output_tokens",
        ),
        (json!({"model": "haiku", "input": 17}), "input"),
        (
            json!({"model": "haiku", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
        ),
    ];
    for (body, field) in cases {
        let reply = api.post_json("/v1/responses", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{}", reply.text());
        assert_eq!(error["param"], field, "{body}: {}", reply.text());
    }
    let reply = api
        .post_json("/v1/responses", &json!({"model": "gpt-17", "input": "x"}))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "unknown_model");
    assert_eq!(api.sim.calls(HAIKU), 0, "nothing reached the model");
}

#[tokio::test]
async fn governed_like_chat_model_allow_list_budget_and_size() {
    use crate::controls_support as controls;
    let stack = controls::start(json!({})).await;
    let sonnet_only = stack
        .key("acme", |k| k.allowed_models = vec!["sonnet".into()])
        .await;
    let body = json!({"model": "haiku", "input": "hi"});
    let reply = stack
        .post("/v1/responses", &sonnet_only.api_key, &body)
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.json()["error"]["type"], "permission_error");
    let streamed = json!({"model": "haiku", "input": "hi", "stream": true});
    let reply = stack
        .post("/v1/responses", &sonnet_only.api_key, &streamed)
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());

    let broke = stack
        .key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(0.000_000_001),
                ..Budget::default()
            }
        })
        .await;
    let reply = stack.post("/v1/responses", &broke.api_key, &body).await;
    assert_eq!(reply.status, 402, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "budget_exceeded");

    let ok = stack.key("acme", |_| {}).await;
    let huge = json!({"model": "haiku", "input": "x".repeat(2 * 1024 * 1024)});
    let reply = stack.post("/v1/responses", &ok.api_key, &huge).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(
        stack.sim.calls(HAIKU),
        0,
        "no refused call reached the model"
    );

    let reply = stack.post("/v1/responses", &ok.api_key, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.header("x-gateway-cost").is_some());
}
