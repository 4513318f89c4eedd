//! The Responses translation: requests to Converse, answers and streams back.

use super::*;
use crate::api::converse::{
    ContentBlock, ConverseOutput, ConverseResponse, Message, Metrics, Role, Tool, ToolChoice,
    ToolResultContent, ToolUseBlock, Usage,
};
use crate::api::responses_output::{ResponseIds, ResponseObject};
use crate::api::responses_stream::ResponsesStreamMapper;
use crate::controls::cache::replay_events;
use serde_json::json;

fn parse(body: Value) -> ResponsesRequest {
    serde_json::from_value(body).unwrap()
}

fn answer(blocks: Vec<ContentBlock>, stop: &str) -> ConverseResponse {
    ConverseResponse {
        output: ConverseOutput::Message(Message {
            role: Role::Assistant,
            content: blocks,
        }),
        stop_reason: stop.into(),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 15,
            cache_read_input_tokens: Some(3),
            cache_write_input_tokens: None,
            cache_write_1h_input_tokens: None,
        },
        metrics: Metrics { latency_ms: 1 },
        additional_model_response_fields: None,
        performance_config: None,
        service_tier: None,
    }
}

#[test]
fn string_input_and_instructions() {
    let request = parse(
        json!({"model": "haiku", "input": "Hi", "instructions": "Be brief",
                               "max_output_tokens": 20, "temperature": 0.2, "store": true}),
    );
    let converse = request.to_converse().unwrap();
    assert_eq!(converse.model_id, None);
    assert_eq!(converse.system, vec![SystemBlock::Text("Be brief".into())]);
    assert_eq!(converse.messages.len(), 1);
    assert_eq!(
        converse.inference_config.unwrap().max_tokens,
        Some(20),
        "max_output_tokens is Converse's maxTokens"
    );
}

#[test]
fn items_with_function_calls_and_outputs() {
    let request = parse(json!({"model": "haiku", "input": [
        {"role": "developer", "content": "Use tools"},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}", "id": "fc_1", "status": "completed"},
        {"type": "function_call_output", "call_id": "call_1", "output": "12C"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is 12C."}]},
        {"role": "user", "content": "Thanks"}
    ], "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
       "tool_choice": {"type": "function", "name": "get_weather"}}));
    let converse = request.to_converse().unwrap();
    assert_eq!(converse.system.len(), 1);
    let roles: Vec<Role> = converse.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    assert!(matches!(&converse.messages[1].content[0],
        ContentBlock::ToolUse(t) if t.tool_use_id == "call_1" && t.input == json!({"city": "Oslo"})));
    assert!(matches!(&converse.messages[2].content[0],
        ContentBlock::ToolResult(r) if r.tool_use_id == "call_1"
            && r.content == vec![ToolResultContent::Text("12C".into())]));
    let tools = converse.tool_config.unwrap();
    assert_eq!(tools.tools.len(), 1);
    assert!(matches!(tools.tool_choice, Some(ToolChoice::Tool(ref t)) if t.name == "get_weather"));
}

#[test]
fn stateful_and_unsupported_fields_are_refused_by_name() {
    let refuse = |body: Value| parse(body).to_converse().unwrap_err();
    let err = refuse(json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}));
    assert_eq!(err.field(), Some("previous_response_id"));
    assert_eq!(err.status_code(), 400);
    assert_eq!(
        refuse(json!({"model": "m", "input": "x", "conversation": "c"})).field(),
        Some("conversation")
    );
    assert_eq!(
        refuse(json!({"model": "m", "input": "x", "background": true})).field(),
        Some("background")
    );
    assert_eq!(refuse(json!({"model": "m"})).field(), Some("input"));
    assert_eq!(
        refuse(json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]})).field(),
        Some("tools[0].type")
    );
    assert_eq!(
        refuse(json!({"model": "m", "input": "x", "tools": [{"type": "function"}]})).field(),
        Some("tools[0].name")
    );
    // Errors found by the chat translation name the input item, not a chat message.
    let err = refuse(json!({"model": "m", "input": [
        {"type": "reasoning"},
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "not json"}]}));
    assert_eq!(
        err.field(),
        Some("input[2].tool_calls[0].function.arguments")
    );
    let err = refuse(json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]}));
    assert_eq!(err.field(), Some("input[0].content[0].image_url.url"));
    let err =
        refuse(json!({"model": "m", "input": [{"role": "system", "content": "only system"}]}));
    assert_eq!(err.field(), Some("input"));
}

#[test]
fn json_schema_format_is_a_forced_tool_and_comes_back_as_text() {
    let request = parse(json!({"model": "m", "input": "Give me a city",
        "text": {"format": {"type": "json_schema", "name": "city", "strict": true,
                            "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}));
    let converse = request.to_converse().unwrap();
    let tools = converse.tool_config.unwrap();
    assert!(matches!(&tools.tools[0], Tool::ToolSpec(s) if s.name == "city"));
    assert!(matches!(tools.tool_choice, Some(ToolChoice::Tool(ref t)) if t.name == "city"));
    let ids = ResponseIds::new("req-1");
    let reply = answer(
        vec![ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: "t1".into(),
            name: "city".into(),
            input: json!({"name": "Oslo"}),
        })],
        "tool_use",
    );
    let response = ResponseObject::from_converse(&request, &ids, 7, "model".into(), &reply);
    let body = serde_json::to_value(&response).unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"].as_array().unwrap().len(), 1);
    assert_eq!(body["output"][0]["type"], "message");
    let text = body["output"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"name": "Oslo"})
    );
    assert_eq!(body["text"]["format"]["type"], "json_schema");
    // A schema name that clashes with a function tool is refused.
    let err = parse(json!({"model": "m", "input": "x",
        "tools": [{"type": "function", "name": "city"}],
        "text": {"format": {"type": "json_schema", "name": "city", "schema": {"type": "object"}}}}))
    .to_converse()
    .unwrap_err();
    assert_eq!(err.field(), Some("text.format.name"));
}

#[test]
fn answer_with_text_and_call_and_usage() {
    let request = parse(json!({"model": "m", "input": "x", "metadata": {"k": "v"}}));
    let reply = answer(
        vec![
            ContentBlock::Text("Let me check.".into()),
            ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "tooluse_1".into(),
                name: "get_weather".into(),
                input: json!({"city": "Oslo"}),
            }),
        ],
        "tool_use",
    );
    let response =
        ResponseObject::from_converse(&request, &ResponseIds::new("ab-12"), 7, "m".into(), &reply);
    let body = serde_json::to_value(&response).unwrap();
    assert_eq!(body["id"], "resp_ab12");
    assert_eq!(body["object"], "response");
    assert_eq!(body["output"][0]["content"][0]["text"], "Let me check.");
    assert_eq!(body["output"][1]["type"], "function_call");
    assert_eq!(body["output"][1]["call_id"], "tooluse_1");
    assert_eq!(body["output"][1]["arguments"], "{\"city\":\"Oslo\"}");
    assert_eq!(body["usage"]["input_tokens"], 13);
    assert_eq!(body["usage"]["input_tokens_details"]["cached_tokens"], 3);
    assert_eq!(body["usage"]["total_tokens"], 18);
    assert_eq!(body["metadata"], json!({"k": "v"}));
    let cut = answer(vec![ContentBlock::Text("Once".into())], "max_tokens");
    let body = serde_json::to_value(ResponseObject::from_converse(
        &request,
        &ResponseIds::new("x"),
        7,
        "m".into(),
        &cut,
    ))
    .unwrap();
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
}

/// The stream's events, in order, and its final response equal to the unstreamed one.
#[test]
fn stream_events_follow_openai_sequence_and_end_with_the_same_response() {
    let request = parse(json!({"model": "m", "input": "x",
        "tools": [{"type": "function", "name": "get_weather"}]}));
    let reply = answer(
        vec![
            ContentBlock::Text("Let me check the weather.".into()),
            ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "tooluse_1".into(),
                name: "get_weather".into(),
                input: json!({"city": "Oslo"}),
            }),
        ],
        "tool_use",
    );
    let ids = ResponseIds::new("r1");
    let mut mapper = ResponsesStreamMapper::new(&request, ids.clone(), 7, "m".into());
    let mut events = Vec::new();
    for event in replay_events(&reply, 5) {
        events.extend(mapper.map(&event));
    }
    events.extend(mapper.finish());
    let names: Vec<&str> = events.iter().map(|e| e.name).collect();
    let mut dedup = names.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.data["sequence_number"], i as u64);
        assert_eq!(event.data["type"], event.name);
    }
    let text: String = events
        .iter()
        .filter(|e| e.name == "response.output_text.delta")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Let me check the weather.");
    let last = events.last().unwrap();
    let expected = ResponseObject::from_converse(&request, &ids, 7, "m".into(), &reply);
    let mut expected = serde_json::to_value(&expected).unwrap();
    // The stream's message id is numbered by output position like the unstreamed one.
    expected["output"][0]["id"] = last.data["response"]["output"][0]["id"].clone();
    assert_eq!(last.data["response"], expected);
    // Nothing after the end.
    assert!(mapper.finish().is_empty());
}

#[test]
fn streamed_json_schema_answer_is_output_text() {
    let request = parse(json!({"model": "m", "input": "x",
        "text": {"format": {"type": "json_schema", "name": "city", "schema": {"type": "object"}}}}));
    let reply = answer(
        vec![ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: "t".into(),
            name: "city".into(),
            input: json!({"name": "Oslo"}),
        })],
        "tool_use",
    );
    let mut mapper = ResponsesStreamMapper::new(&request, ResponseIds::new("r"), 7, "m".into());
    let events: Vec<_> = replay_events(&reply, 5)
        .iter()
        .flat_map(|e| mapper.map(e))
        .collect();
    assert!(events.iter().all(|e| !e.name.contains("function_call")));
    let done = events
        .iter()
        .find(|e| e.name == "response.output_text.done")
        .unwrap();
    assert_eq!(done.data["text"], "{\"name\":\"Oslo\"}");
    let error = mapper.error("upstream_error", "boom", None);
    assert_eq!(error.data["type"], "error");
    assert!(error.data["sequence_number"].as_u64().unwrap() > 0);
}
