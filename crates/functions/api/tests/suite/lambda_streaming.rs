//! The deployed streaming path: the real `api` binary with `API_RESPONSE_MODE=streaming` (what
//! the Function URL in `RESPONSE_STREAM` mode runs), polling `testkit`'s Lambda Runtime API,
//! which speaks the response-streaming protocol, against the in-process Bedrock simulator.
//! Ordering, not timing: the simulator holds each stream's last delta until the test releases
//! it, so a chunk seen before the release proves the answer is streamed, not buffered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use bedrock_sim::{Behavior, SimHandle};
use bytes::Bytes;
use serde_json::json;
use std::process::{Child, Stdio};
use std::time::Duration;
use testkit::lambda_runtime::{
    Answer, RuntimeApi, StreamEnd, StreamItem, StreamedResponse, function_url_event, lambda_command,
};

/// A guard on failure (a buffering or hung function), never a timing being judged.
const PATIENCE: Duration = Duration::from_secs(60);
const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

/// The api binary as a Function URL's function: killed when dropped.
struct Function {
    child: Child,
    log: std::path::PathBuf,
}

impl Function {
    fn start(runtime: &RuntimeApi, sim: &SimHandle) -> Function {
        let log = std::env::temp_dir().join(format!("{}.log", testkit::unique_name("api-stream")));
        let mut command = lambda_command(
            std::path::Path::new(env!("CARGO_BIN_EXE_api")),
            runtime.addr,
            "gateway-api",
            [
                ("API_RESPONSE_MODE", "streaming".to_owned()),
                ("AUTH_MODE", "none".to_owned()),
                ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.endpoint_url()),
                ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ],
        );
        command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Function {
            child: command.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

async fn invoke(
    runtime: &RuntimeApi,
    function: &Function,
    path: &str,
    body: &str,
) -> StreamedResponse {
    let event = function_url_event("POST", path, Some(body)).to_string();
    let answer = tokio::time::timeout(PATIENCE, runtime.invoke_answer(event))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer; function log:\n{}", function.log()))
        .unwrap_or_else(|e| panic!("{path}: {e:#}; function log:\n{}", function.log()));
    match answer {
        Answer::Streamed(s) => s,
        Answer::Buffered(b) => panic!(
            "{path}: answered buffered ({}), not with the streaming protocol",
            String::from_utf8_lossy(&b)
        ),
    }
}

async fn next(stream: &mut StreamedResponse, what: &str) -> StreamItem {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing arrived"))
        .unwrap_or_else(|| panic!("{what}: the stream vanished"))
}

/// Streams one request with the simulator holding its last delta: the body that reached the
/// client before the release, then all of it, and how it ended.
async fn stream_held(
    runtime: &RuntimeApi,
    function: &Function,
    sim: &SimHandle,
    path: &str,
    body: &str,
) -> (Bytes, Bytes, StreamEnd) {
    sim.hold_stream_ends();
    let mut stream = invoke(runtime, function, path, body).await;
    assert_eq!(stream.status(), Some(200), "{path}: {}", stream.prelude);
    let early = match next(&mut stream, path).await {
        StreamItem::Chunk(bytes, _) => bytes,
        StreamItem::End(end, _) => panic!(
            "{path}: the stream ended ({end:?}) while the simulator still held its last delta"
        ),
    };
    sim.release_stream_ends();
    let (rest, end) = tokio::time::timeout(PATIENCE, stream.collect())
        .await
        .unwrap_or_else(|_| panic!("{path}: the stream did not end after the release"));
    let mut all = early.to_vec();
    all.extend_from_slice(&rest);
    (early, all.into(), end)
}

#[tokio::test]
async fn streamed_answers_reach_a_function_url_client_chunk_by_chunk() {
    let sim = testkit::bedrock_sim().await;
    let runtime = RuntimeApi::start("gateway-api").await.unwrap();
    let function = Function::start(&runtime, &sim);

    // converse-stream: the first delta is out before the model's last one exists.
    let converse = json!({"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "Tell me about Paris in a few words."}]}]}).to_string();
    let (early, all, end) =
        stream_held(&runtime, &function, &sim, "/v1/converse-stream", &converse).await;
    let early = String::from_utf8_lossy(&early);
    assert!(early.contains("event: messageStart"), "{early}");
    assert!(!early.contains("event: messageStop"), "{early}");
    let all = String::from_utf8_lossy(&all);
    assert!(all.contains("event: contentBlockDelta"), "{all}");
    assert!(all.contains("event: metadata"), "{all}");
    assert_eq!(end, StreamEnd::Complete);

    // chat completions with stream: true.
    let chat = json!({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "Tell me about Paris in a few words."}]}).to_string();
    let (early, all, end) =
        stream_held(&runtime, &function, &sim, "/v1/chat/completions", &chat).await;
    let early = String::from_utf8_lossy(&early);
    assert!(early.starts_with("data: {"), "{early}");
    assert!(!early.contains("[DONE]"), "{early}");
    assert!(String::from_utf8_lossy(&all).ends_with("data: [DONE]\n\n"));
    assert_eq!(end, StreamEnd::Complete);

    // invoke-with-response-stream: Bedrock's event stream, re-framed by the gateway.
    let invoke_body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "Tell me about Paris in a few words."}]}).to_string();
    let path = format!(
        "/model/{}/invoke-with-response-stream",
        HAIKU.replace(':', "%3A")
    );
    let (early, all, end) = stream_held(&runtime, &function, &sim, &path, &invoke_body).await;
    assert!(!early.is_empty());
    assert!(all.len() > early.len(), "nothing came after the release");
    assert_eq!(end, StreamEnd::Complete);

    assert!(runtime.problem().is_none(), "{:?}", runtime.problem());
}

#[tokio::test]
async fn a_mid_stream_failure_ends_as_a_function_url_client_sees_it() {
    let sim = testkit::bedrock_sim().await;
    let runtime = RuntimeApi::start("gateway-api").await.unwrap();
    let function = Function::start(&runtime, &sim);
    // The model breaks after its first delta, once the 200 and the first bytes are out.
    let fail_once = |sim: &SimHandle| {
        sim.set_default_behavior(
            Behavior::from_json(br#"{"script":["stream:ModelStreamErrorException:1"]}"#).unwrap(),
        );
    };

    fail_once(&sim);
    let converse = json!({"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "Tell me about Paris in a few words."}]}]}).to_string();
    let stream = invoke(&runtime, &function, "/v1/converse-stream", &converse).await;
    assert_eq!(stream.status(), Some(200), "{}", stream.prelude);
    let (body, end) = stream.collect().await;
    let body = String::from_utf8_lossy(&body);
    // The client gets the delta, then the error as the stream's last event, then a clean end:
    // the status is long gone, so the failure is said in the stream, never as a cut-off
    // response or a Lambda error trailer the client cannot read.
    let delta = body.find("event: contentBlockDelta").expect(&body);
    let error = body.find("event: error").expect(&body);
    assert!(delta < error, "{body}");
    assert!(body.trim_end().ends_with('}'), "{body}");
    assert!(
        !body[error..].contains("event: contentBlockDelta"),
        "{body}"
    );
    assert!(!body.contains("Lambda-Runtime-Function-Error"), "{body}");
    assert_eq!(end, StreamEnd::Complete);

    // The OpenAI dialect: an `error` chunk, and no [DONE] after it.
    fail_once(&sim);
    let chat = json!({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "Tell me about Paris in a few words."}]}).to_string();
    let stream = invoke(&runtime, &function, "/v1/chat/completions", &chat).await;
    assert_eq!(stream.status(), Some(200), "{}", stream.prelude);
    let (body, end) = stream.collect().await;
    let body = String::from_utf8_lossy(&body);
    let last = body.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(last.starts_with("data: {\"error\""), "{body}");
    assert!(!body.contains("[DONE]"), "{body}");
    assert_eq!(end, StreamEnd::Complete);

    // The function lives on: the next request streams normally.
    let stream = invoke(&runtime, &function, "/v1/converse-stream", &converse).await;
    let (body, end) = stream.collect().await;
    assert!(String::from_utf8_lossy(&body).contains("event: messageStop"));
    assert_eq!(end, StreamEnd::Complete);
    assert!(runtime.problem().is_none(), "{:?}", runtime.problem());
}
