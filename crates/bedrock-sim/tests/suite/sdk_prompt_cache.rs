//! Prompt caching through the real SDK: Converse `cachePoint` blocks and Anthropic
//! `cache_control` report a write on first use and reads on repeats, split by TTL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use crate::common::*;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl, ContentBlock, ConversationRole,
    ConverseStreamOutput, Message, ResponseStream, SystemContentBlock,
};
use bedrock_sim::{PromptCacheConfig, SimConfig, Simulator, count_input_tokens, expected_reply};
use serde_json::{Value, json};

/// A long system prompt (4,000 characters: 1,000 simulator tokens).
fn long_system() -> String {
    "You are the platform's careful assistant. ".repeat(100)[..4000].to_string()
}

fn cache_point(ttl: Option<CacheTtl>) -> CachePointBlock {
    let mut b = CachePointBlock::builder().r#type(CachePointType::Default);
    if let Some(ttl) = ttl {
        b = b.ttl(ttl);
    }
    b.build().unwrap()
}

fn turn(role: ConversationRole, text: &str) -> Message {
    Message::builder()
        .role(role)
        .content(ContentBlock::Text(text.to_string()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn three_turns_with_a_cached_system_prompt_write_then_read() {
    let sim = sim().await;
    let client = client(&sim).await;
    let system = long_system();
    let mut history: Vec<Message> = Vec::new();
    let mut seen = Vec::new();
    for (i, question) in ["first question", "second one", "and a third"]
        .into_iter()
        .enumerate()
    {
        history.push(turn(ConversationRole::User, question));
        let out = client
            .converse()
            .model_id(SONNET_PROFILE)
            .system(SystemContentBlock::Text(system.clone()))
            .system(SystemContentBlock::CachePoint(cache_point(None)))
            .set_messages(Some(history.clone()))
            .send()
            .await
            .unwrap();
        let usage = out.usage().unwrap().clone();
        let history_chars: usize = history
            .iter()
            .flat_map(|m| m.content())
            .map(|b| b.as_text().unwrap().chars().count())
            .sum();
        let total = count_input_tokens(system.len() + history_chars) as i32;
        let read = usage.cache_read_input_tokens().unwrap();
        let write = usage.cache_write_input_tokens().unwrap();
        assert_eq!(read + write + usage.input_tokens(), total, "turn {i}");
        assert_eq!(
            usage.total_tokens(),
            total + usage.output_tokens(),
            "totalTokens counts cache tokens"
        );
        seen.push((read, write, usage.cache_details().len()));
        let answer = expected_reply(question);
        assert_eq!(
            out.output().unwrap().as_message().unwrap().content()[0]
                .as_text()
                .unwrap(),
            &answer
        );
        history.push(turn(ConversationRole::Assistant, &answer));
    }
    assert_eq!(seen, [(0, 1000, 1), (1000, 0, 0), (1000, 0, 0)]);

    // A reset empties the cache: the next use writes again.
    sim.reset();
    let out = client
        .converse()
        .model_id(SONNET_PROFILE)
        .system(SystemContentBlock::Text(system.clone()))
        .system(SystemContentBlock::CachePoint(cache_point(None)))
        .messages(user("after reset"))
        .send()
        .await
        .unwrap();
    let usage = out.usage().unwrap();
    assert_eq!(usage.cache_write_input_tokens(), Some(1000));
    let detail = &usage.cache_details()[0];
    assert_eq!(detail.ttl(), &CacheTtl::FiveMinutes);
    assert_eq!(detail.input_tokens(), 1000);
}

#[tokio::test]
async fn converse_stream_metadata_reports_cache_tokens_and_ttls() {
    let sim = sim().await;
    let client = client(&sim).await;
    let system = long_system();
    let mut results = Vec::new();
    for _ in 0..2 {
        let mut out = client
            .converse_stream()
            .model_id(HAIKU)
            .system(SystemContentBlock::Text(system[..2000].to_string()))
            .system(SystemContentBlock::CachePoint(cache_point(Some(
                CacheTtl::OneHour,
            ))))
            .system(SystemContentBlock::Text(system[2000..].to_string()))
            .system(SystemContentBlock::CachePoint(cache_point(Some(
                CacheTtl::FiveMinutes,
            ))))
            .messages(user("stream it"))
            .send()
            .await
            .unwrap();
        let mut usage = None;
        while let Some(event) = out.stream.recv().await.unwrap() {
            if let ConverseStreamOutput::Metadata(m) = event {
                usage = m.usage().cloned();
            }
        }
        results.push(usage.unwrap());
    }
    let first = &results[0];
    assert_eq!(first.cache_read_input_tokens(), Some(0));
    assert_eq!(first.cache_write_input_tokens(), Some(1000));
    let details: Vec<(CacheTtl, i32)> = first
        .cache_details()
        .iter()
        .map(|d| (d.ttl().clone(), d.input_tokens()))
        .collect();
    assert_eq!(
        details,
        [(CacheTtl::OneHour, 500), (CacheTtl::FiveMinutes, 500)]
    );
    assert_eq!(first.input_tokens(), 3); // "stream it": 9 chars
    let second = &results[1];
    assert_eq!(second.cache_read_input_tokens(), Some(1000));
    assert_eq!(second.cache_write_input_tokens(), Some(0));
    assert!(second.cache_details().is_empty());
}

#[tokio::test]
async fn an_expired_entry_is_written_again() {
    let config = SimConfig {
        prompt_cache: PromptCacheConfig {
            five_minute_ttl_ms: 50,
            ..PromptCacheConfig::default()
        },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(&sim).await;
    let call = || {
        client
            .converse()
            .model_id(NOVA)
            .system(SystemContentBlock::Text(long_system()))
            .system(SystemContentBlock::CachePoint(cache_point(None)))
            .messages(user("hi"))
            .send()
    };
    let usage = |out: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput| {
        let u = out.usage().unwrap();
        (
            u.cache_read_input_tokens().unwrap(),
            u.cache_write_input_tokens().unwrap(),
        )
    };
    assert_eq!(usage(&call().await.unwrap()), (0, 1000));
    assert_eq!(usage(&call().await.unwrap()), (1000, 0));
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(usage(&call().await.unwrap()), (0, 1000));
    sim.clear_prompt_cache();
    assert_eq!(usage(&call().await.unwrap()), (0, 1000));
}

#[tokio::test]
async fn requests_without_cache_points_report_no_cache_fields() {
    let sim = sim().await;
    let client = client(&sim).await;
    let out = client
        .converse()
        .model_id(HAIKU)
        .system(SystemContentBlock::Text(long_system()))
        .messages(user("plain"))
        .send()
        .await
        .unwrap();
    let usage = out.usage().unwrap();
    assert_eq!(usage.cache_read_input_tokens(), None);
    assert_eq!(usage.cache_write_input_tokens(), None);
    assert_eq!(usage.input_tokens() as u32, count_input_tokens(4000 + 5));
}

fn anthropic_cached_body(prompt: &str) -> Vec<u8> {
    let system = long_system();
    serde_json::to_vec(&json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 200,
        "system": [
            {"type": "text", "text": &system[..2400], "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": &system[2400..], "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    }))
    .unwrap()
}

#[tokio::test]
async fn anthropic_body_reports_the_5m_and_1h_split() {
    let sim = sim().await;
    let client = client(&sim).await;
    let invoke = |prompt: &'static str| {
        client
            .invoke_model()
            .model_id(SONNET_PROFILE)
            .body(Blob::new(anthropic_cached_body(prompt)))
            .send()
    };
    let out = invoke("question one").await.unwrap();
    let body: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    let usage = &body["usage"];
    assert_eq!(usage["cache_creation_input_tokens"], 1000);
    assert_eq!(usage["cache_read_input_tokens"], 0);
    assert_eq!(usage["cache_creation"]["ephemeral_1h_input_tokens"], 600);
    assert_eq!(usage["cache_creation"]["ephemeral_5m_input_tokens"], 400);
    assert_eq!(usage["input_tokens"], 3); // "question one": 12 chars

    let out = invoke("question two").await.unwrap();
    let body: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    let usage = &body["usage"];
    assert_eq!(usage["cache_creation_input_tokens"], 0);
    assert_eq!(usage["cache_read_input_tokens"], 1000);
    assert_eq!(usage["cache_creation"]["ephemeral_1h_input_tokens"], 0);
    assert_eq!(usage["cache_creation"]["ephemeral_5m_input_tokens"], 0);
    assert_eq!(usage["input_tokens"], 3);
}

#[tokio::test]
async fn anthropic_stream_reports_cache_usage_in_message_start_and_metrics() {
    let sim = sim().await;
    let client = client(&sim).await;
    for expected_read in [0, 1000] {
        let mut out = client
            .invoke_model_with_response_stream()
            .model_id(HAIKU)
            .body(Blob::new(anthropic_cached_body("stream please")))
            .send()
            .await
            .unwrap();
        let mut start_usage = None;
        let mut metrics = None;
        while let Some(event) = out.body.recv().await.unwrap() {
            let ResponseStream::Chunk(part) = event else {
                panic!("{event:?}")
            };
            let v: Value = serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap();
            match v["type"].as_str().unwrap() {
                "message_start" => start_usage = Some(v["message"]["usage"].clone()),
                "message_stop" => metrics = Some(v["amazon-bedrock-invocationMetrics"].clone()),
                _ => {}
            }
        }
        let start = start_usage.unwrap();
        let metrics = metrics.unwrap();
        assert_eq!(start["cache_read_input_tokens"], expected_read);
        assert_eq!(start["cache_creation_input_tokens"], 1000 - expected_read);
        assert_eq!(metrics["cacheReadInputTokenCount"], expected_read);
        assert_eq!(metrics["cacheWriteInputTokenCount"], 1000 - expected_read);
        assert_eq!(metrics["inputTokenCount"], start["input_tokens"]);
    }
}

#[tokio::test]
async fn bad_cache_markers_are_refused() {
    let sim = sim().await;
    let client = client(&sim).await;
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}],
        "messages": [{"role": "user", "content": "hi"}]
    });
    let err = client
        .invoke_model()
        .model_id(HAIKU)
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(format!("{err:?}").contains("cache_control/type"), "{err:?}");

    let mut request = client.converse().model_id(HAIKU).messages(user("hi"));
    for _ in 0..5 {
        request = request.system(SystemContentBlock::CachePoint(cache_point(None)));
    }
    let err = request.send().await.unwrap_err().into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}

#[tokio::test]
async fn admin_routes_empty_the_cache() {
    let sim = sim().await;
    let client = client(&sim).await;
    let http = reqwest::Client::new();
    let base = sim.endpoint_url();
    let write = || async {
        client
            .converse()
            .model_id(HAIKU)
            .system(SystemContentBlock::Text(long_system()))
            .system(SystemContentBlock::CachePoint(cache_point(None)))
            .messages(user("admin"))
            .send()
            .await
            .unwrap()
            .usage()
            .unwrap()
            .cache_write_input_tokens()
            .unwrap()
    };
    assert_eq!(write().await, 1000);
    assert_eq!(write().await, 0);
    let status = http
        .delete(format!("{base}/_sim/prompt-cache"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert_eq!(write().await, 1000);
    let status = http
        .post(format!("{base}/_sim/reset"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert_eq!(write().await, 1000);
}

#[tokio::test]
async fn one_hour_after_five_minutes_is_refused() {
    let sim = sim().await;
    let client = client(&sim).await;
    let err = client
        .converse()
        .model_id(HAIKU)
        .system(SystemContentBlock::Text("a".into()))
        .system(SystemContentBlock::CachePoint(cache_point(None)))
        .system(SystemContentBlock::Text("b".into()))
        .system(SystemContentBlock::CachePoint(cache_point(Some(
            CacheTtl::OneHour,
        ))))
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}
