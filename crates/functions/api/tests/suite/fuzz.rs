//! Property-based fuzzing of every route the API router registers, in process (`oneshot`),
//! against moto (jobs table and queue, the controls' state table) and the Bedrock simulator.
//!
//! Each case is one request: a route (every registered one, plus unknown paths and wrong
//! methods), a body (arbitrary bytes, arbitrary JSON, or the route's valid body mutated: wrong
//! types, extreme numbers, deep nesting, long and unicode strings, removed fields) and headers
//! (garbage credentials, content types, idempotency keys). What must hold for every case:
//! the router answers (no panic), never with a 5xx (the simulator is not faulted here, so
//! nothing a caller sends may become a server error), every 4xx is JSON naming the problem
//! (`error.message` or Bedrock's `message`), and an untouched valid request succeeds.
//!
//! Run with controls off (auth `none`) and on (`api_keys`, a real key in a state table).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::HAIKU;
use crate::controls_support;
use axum::Router;
use axum::body::Body;
use futures_util::FutureExt;
use gateway::config::GatewayConfig;
use gateway::jobs::submit::JobSettings;
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::control_store::TieredLastGood;
use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tower::ServiceExt;

/// Generated requests per run, over all routes, with controls off. Bounds CI time: most cases
/// are refused before any emulator call (well under a millisecond each in a debug build); the
/// valid share reaches the simulator and, for jobs, moto.
const CASES: u32 = 10_000;
/// The same with controls on (every request authenticated against the state table).
const CASES_WITH_CONTROLS: u32 = 10_000;
/// Bodies above this are refused with a 413 (kept small so the fuzzer reaches it).
const BODY_LIMIT: usize = 16 * 1024;
/// Stands in, inside a generated `Value`, for a JSON number no `f64`/`u64` can hold; swapped
/// for the raw literal after serialisation.
const RAW_MARK: &str = "\u{1}raw:";

// ---------------------------------------------------------------------------------------------
// Inputs

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    /// The route family, for the statistics and failure messages.
    route: &'static str,
    method: Method,
    path: String,
    body: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    /// An untouched valid request with proper credentials: must succeed.
    valid: bool,
}

/// How a case authenticates (meaningful with controls on; ignored with controls off).
#[derive(Debug, Clone)]
enum Credentials {
    None,
    ValidBearer,
    ValidApiKeyHeader,
    /// The valid key with a tail appended (right id, wrong secret).
    TamperedKey(String),
    Garbage {
        header: &'static str,
        value: Vec<u8>,
    },
    /// A SigV4-shaped header with random fields.
    SigV4(String, String),
}

/// A route with its valid body (if it takes one).
#[derive(Debug, Clone)]
struct Target {
    route: &'static str,
    method: Method,
    path: String,
    template: Option<Value>,
    /// The untouched request must succeed (2xx): false for e.g. a missing job.
    succeeds: bool,
}

fn user_message() -> Value {
    json!({"role": "user", "content": [{"text": "Say hi"}]})
}

fn converse_body() -> Value {
    json!({"modelId": "haiku", "messages": [user_message()],
           "inferenceConfig": {"maxTokens": 16, "temperature": 0.5, "topP": 0.9}})
}

fn wire_converse_body() -> Value {
    json!({"messages": [user_message()], "inferenceConfig": {"maxTokens": 16, "temperature": 0.5}})
}

fn count_tokens_body() -> Value {
    json!({"input": {"converse": {"messages": [user_message()]}}})
}

fn invoke_body() -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "temperature": 0.5,
           "messages": [{"role": "user", "content": "Say hi"}]})
}

fn chat_body() -> Value {
    json!({"model": "haiku", "messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Say hi"}],
           "max_tokens": 16, "temperature": 0.5, "n": 1, "stream": false})
}

fn responses_body() -> Value {
    json!({"model": "haiku", "instructions": "Be brief.", "max_output_tokens": 16,
           "input": [{"role": "user", "content": "Say hi"}],
           "tools": [{"type": "function", "name": "get_weather",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
           "temperature": 0.5, "stream": false})
}

fn embeddings_body() -> Value {
    json!({"model": "titan-embed", "input": ["Say hi", "Say bye"], "dimensions": 256,
           "encoding_format": "float"})
}

fn job_body() -> Value {
    json!({"converse": converse_body(), "metadata": {"ticket": "T-1"}})
}

/// A path segment: plausible ids, traversal, broken and valid percent-encodings, unicode.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(HAIKU.to_owned()),
        Just("haiku".to_owned()),
        Just("..".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%2F..%2F..%2Fetc%2Fpasswd".to_owned()),
        Just("%ZZ".to_owned()),
        Just("%".to_owned()),
        Just("%00".to_owned()),
        Just("%FF%FE".to_owned()),
        Just(format!("{HAIKU}%3Aextra")),
        Just("a".repeat(3000)),
        "[a-zA-Z0-9._:~-]{1,80}",
        any::<String>()
            .prop_map(|s| percent_encode(&s))
            .prop_filter("a segment", |s| !s.is_empty()),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(|b| percent_encode_bytes(&b)),
    ]
}

/// Every byte outside the unreserved set as `%XX`: always a valid URI path segment.
fn percent_encode_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (*b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_encode(s: &str) -> String {
    percent_encode_bytes(s.as_bytes())
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2026-12-01".to_owned()),
        Just("1970-01-01".to_owned()),
        Just("9999-12-31".to_owned()),
        Just("0000-00-00".to_owned()),
        Just("2026-02-30".to_owned()),
        Just("-1".to_owned()),
        "[0-9-]{0,12}",
        (any::<i64>(), 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        any::<String>().prop_map(|s| percent_encode(&s)),
    ]
}

/// Every route the router registers, with its valid body; plus unknown paths.
fn target() -> impl Strategy<Value = Target> {
    let post = |route: &'static str, path: String, body: Value| Target {
        route,
        method: Method::POST,
        path,
        template: Some(body),
        succeeds: true,
    };
    let get = |route: &'static str, path: String, succeeds: bool| Target {
        route,
        method: Method::GET,
        path,
        template: None,
        succeeds,
    };
    prop_oneof![
        8 => Just(post("/v1/converse", "/v1/converse".into(), converse_body())),
        5 => Just(post("/v1/converse-stream", "/v1/converse-stream".into(), converse_body())),
        8 => Just(post("/v1/chat/completions", "/v1/chat/completions".into(), chat_body())),
        6 => Just(post("/v1/responses", "/v1/responses".into(), responses_body())),
        4 => Just(post("/v1/embeddings", "/v1/embeddings".into(), embeddings_body())),
        5 => Just(post("/v1/messages", "/v1/messages".into(), json!({"model": HAIKU, "max_tokens": 16,
            "system": "be brief", "messages": [{"role": "user", "content": "Hello"}]}))),
        2 => Just(post("/v1/messages/count_tokens", "/v1/messages/count_tokens".into(),
            json!({"model": HAIKU, "messages": [{"role": "user", "content": "Hello"}]}))),
        // No SageMaker model or knowledge base in this stack's config: refused, never a 5xx.
        2 => segment().prop_map(move |name| Target {
            succeeds: false,
            ..post("/endpoints/{name}/*", format!("/endpoints/{name}/invocations"),
                   json!({"inputs": "Hello", "parameters": {"max_new_tokens": 8}}))
        }),
        2 => segment().prop_map(move |id| Target {
            succeeds: false,
            ..post("/v1/knowledge-bases/{id}/query", format!("/v1/knowledge-bases/{id}/query"),
                   json!({"query": "What is the refund policy?"}))
        }),
        1 => segment().prop_map(move |id| Target {
            succeeds: false,
            ..post("/knowledgebases/{id}/retrieve", format!("/knowledgebases/{id}/retrieve"),
                   json!({"retrievalQuery": {"text": "refunds"}}))
        }),
        1 => Just(Target { succeeds: false, ..post("/retrieveAndGenerate", "/retrieveAndGenerate".into(),
            json!({"input": {"text": "refunds?"}, "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE",
                "knowledgeBaseConfiguration": {"knowledgeBaseId": "KB00000001", "modelArn": HAIKU}}})) }),
        3 => Just(post("/api/{task}", "/api/classify".into(),
                       json!({"text": "I love it", "labels": ["positive", "negative"]}))),
        3 => Just(post("/api/{task}", "/api/generate".into(), json!({"prompt": "Write a haiku", "max_tokens": 16}))),
        3 => Just(post("/api/{task}", "/api/analyze".into(), json!({"text": "Revenue fell 3%."}))),
        2 => segment().prop_map(move |task| Target {
            succeeds: false,
            ..post("/api/{task}", format!("/api/{task}"), json!({"text": "x"}))
        }),
        4 => Just(post("/v1/jobs", "/v1/jobs".into(), job_body())),
        2 => segment().prop_map(move |id| get("/v1/jobs/{id}", format!("/v1/jobs/{id}"), false)),
        2 => (query_value(), query_value(), any::<bool>()).prop_map(move |(from, to, tenant)| {
            let tenant = if tenant { "&tenant=other" } else { "" };
            // With controls off, usage is not recorded: a 404 that says so.
            get("/v1/usage", format!("/v1/usage?from={from}&to={to}{tenant}"), false)
        }),
        1 => Just(get("/v1/usage", "/v1/usage".into(), true)),
        1 => Just(get("/v1/models", "/v1/models".into(), true)),
        1 => Just(get("/health", "/health".into(), true)),
        1 => Just(get("/openapi.json", "/openapi.json".into(), true)),
        5 => Just(post("/model/{id}/converse", format!("/model/{HAIKU}/converse"), wire_converse_body())),
        4 => Just(post("/model/{id}/converse-stream", format!("/model/{HAIKU}/converse-stream"), wire_converse_body())),
        5 => Just(post("/model/{id}/invoke", format!("/model/{HAIKU}/invoke"), invoke_body())),
        4 => Just(post("/model/{id}/invoke-with-response-stream",
                       format!("/model/{HAIKU}/invoke-with-response-stream"), invoke_body())),
        4 => (segment(), prop::sample::select(vec!["converse", "converse-stream", "invoke", "invoke-with-response-stream"]))
            .prop_map(move |(id, op)| {
                let body = if op.starts_with("invoke") { invoke_body() } else { wire_converse_body() };
                let valid_id = id == HAIKU || id == "haiku";
                Target { succeeds: valid_id, ..post("/model/{id}/*", format!("/model/{id}/{op}"), body) }
            }),
        3 => Just(post("/model/{id}/count-tokens", format!("/model/{HAIKU}/count-tokens"), count_tokens_body())),
        1 => Just(get("/inference-profiles", "/inference-profiles?type=SYSTEM_DEFINED".into(), true)),
        1 => (query_value(), query_value()).prop_map(move |(max, next)| {
            get("/inference-profiles", format!("/inference-profiles?maxResults={max}&nextToken={next}"), false)
        }),
        1 => segment().prop_map(move |id| get("/inference-profiles/{id}", format!("/inference-profiles/{id}"), false)),
        1 => Just(get("/foundation-models", "/foundation-models".into(), true)),
        3 => prop::collection::vec(segment(), 0..5).prop_map(move |segments| {
            get("unknown", format!("/{}", segments.join("/")), false)
        }),
        // A registered path with a method it does not take.
        2 => (prop::sample::select(vec!["/v1/converse", "/v1/jobs", "/health", "/v1/models", "/v1/usage",
                                        "/v1/chat/completions", "/api/generate", "/v1/responses",
                                        "/v1/embeddings"]),
              prop::sample::select(vec![Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS, Method::GET, Method::POST]))
            .prop_map(|(path, method)| {
                let allowed = matches!((path, &method),
                    ("/health" | "/v1/models" | "/v1/usage", &Method::GET) | ("/v1/converse" | "/v1/jobs" | "/v1/chat/completions" | "/api/generate"
                     | "/v1/responses" | "/v1/embeddings", &Method::POST));
                Target { route: "wrong method", method, path: path.into(), template: None,
                         succeeds: allowed && matches!(path, "/health" | "/v1/models") }
            }),
    ]
}

/// An arbitrary JSON value: objects, arrays, strings (unicode), numbers of every size.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        any::<String>().prop_map(Value::String),
        "[a-z]{0,12}".prop_map(Value::String),
        extreme_number(),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names: the real ones (so wrong types land where they matter) and arbitrary strings.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "modelId",
            "model",
            "messages",
            "role",
            "content",
            "text",
            "inferenceConfig",
            "maxTokens",
            "max_tokens",
            "temperature",
            "topP",
            "top_p",
            "n",
            "stream",
            "system",
            "labels",
            "prompt",
            "converse",
            "chat",
            "metadata",
            "callback",
            "anthropic_version",
            "stopSequences",
            "toolConfig",
            "image",
            "type",
            "priority",
            "additionalModelRequestFields",
            "input",
            "instructions",
            "tools",
            "max_output_tokens",
            "previous_response_id",
            "dimensions",
            "encoding_format",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// Numbers at and past the edges of every numeric type the handlers parse into.
fn extreme_number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(u64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!(0),
        json!(u32::MAX),
        json!(u64::from(u32::MAX) + 1),
        json!(9_007_199_254_740_993_u64),
        json!(1e308),
        json!(-1e308),
        json!(f64::MAX),
        json!(f64::MIN_POSITIVE),
        json!(-0.0),
        json!(0.5),
        json!(2.5),
        // Literals no f64 or u64 holds: swapped in raw after serialisation.
        Value::String(format!("{RAW_MARK}1e400")),
        Value::String(format!("{RAW_MARK}-1e400")),
        Value::String(format!("{RAW_MARK}18446744073709551616")),
        Value::String(format!("{RAW_MARK}-9223372036854775809")),
        Value::String(format!("{RAW_MARK}1.0000000000000000000000000001")),
    ])
}

/// One edit of a valid body at one of its JSON paths.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    Extreme(Value),
    /// Wraps the value in this many arrays (past serde_json's recursion limit too).
    Nest(usize),
    LongString(usize),
    Unicode(String),
    EmptyObject,
    /// Adds an unknown field to the object at the path (or its parent).
    AddField(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => json_value().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        4 => extreme_number().prop_map(Mutation::Extreme),
        1 => (1usize..300).prop_map(Mutation::Nest),
        1 => prop_oneof![0usize..64, 1000usize..20_000].prop_map(Mutation::LongString),
        2 => any::<String>().prop_map(Mutation::Unicode),
        1 => Just(Mutation::EmptyObject),
        1 => (field_name(), json_value()).prop_map(|(k, v)| Mutation::AddField(k, v)),
    ]
}

/// Every path (object keys and array indices) in `value`, the root first.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(PathStep::Key(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'v>(value: &'v mut Value, path: &[PathStep]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        PathStep::Key(k) => v.get_mut(k.as_str()),
        PathStep::Index(i) => v.get_mut(*i),
    })
}

fn apply(value: &mut Value, index: prop::sample::Index, mutation: &Mutation) {
    let mut all = Vec::new();
    paths(value, &mut Vec::new(), &mut all);
    let path = index.get(&all).clone();
    if let Mutation::Remove = mutation {
        let Some((last, parent)) = path.split_last() else {
            *value = Value::Null;
            return;
        };
        match (at(value, parent), last) {
            (Some(Value::Object(map)), PathStep::Key(k)) => {
                map.remove(k);
            }
            (Some(Value::Array(items)), PathStep::Index(i)) if *i < items.len() => {
                items.remove(*i);
            }
            _ => {}
        }
        return;
    }
    let Some(slot) = at(value, &path) else { return };
    match mutation {
        Mutation::Replace(v) | Mutation::Extreme(v) => *slot = v.clone(),
        Mutation::Remove => {}
        Mutation::Nest(depth) => {
            for _ in 0..*depth {
                *slot = Value::Array(vec![slot.take()]);
            }
        }
        Mutation::LongString(len) => *slot = Value::String("x".repeat(*len)),
        Mutation::Unicode(s) => *slot = Value::String(s.clone()),
        Mutation::EmptyObject => *slot = Value::Object(Map::new()),
        Mutation::AddField(k, v) => {
            if let Value::Object(map) = slot {
                map.insert(k.clone(), v.clone());
            } else {
                *slot = json!({k.clone(): v.clone()});
            }
        }
    }
}

/// Serialises with the raw number literals swapped in.
fn render(value: &Value) -> Vec<u8> {
    let text = value.to_string();
    let marker = serde_json::to_string(RAW_MARK).unwrap();
    let marker = &marker[..marker.len() - 1]; // `"\u0001raw:` without the closing quote
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(marker) {
        out.push_str(&rest[..start]);
        let after = &rest[start + marker.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out.into_bytes()
}

/// What a case's body is made of.
#[derive(Debug, Clone)]
enum BodyKind {
    Valid,
    Mutated(Vec<(prop::sample::Index, Mutation)>),
    Json(Value),
    Bytes(Vec<u8>),
    /// Past the body limit (413).
    Oversize(usize),
}

fn body_kind() -> impl Strategy<Value = BodyKind> {
    prop_oneof![
        3 => Just(BodyKind::Valid),
        8 => prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..4).prop_map(BodyKind::Mutated),
        3 => json_value().prop_map(BodyKind::Json),
        3 => prop::collection::vec(any::<u8>(), 0..512).prop_map(BodyKind::Bytes),
        1 => (BODY_LIMIT + 1..BODY_LIMIT * 3).prop_map(BodyKind::Oversize),
    ]
}

/// Bytes a header value can carry (any but controls other than tab): an HTTP stack delivers
/// nothing else, so every generated case is a request the router really receives.
fn header_safe(bytes: Vec<u8>) -> Vec<u8> {
    bytes
        .into_iter()
        .map(|b| {
            if (b < 0x20 && b != b'\t') || b == 0x7f {
                b'?'
            } else {
                b
            }
        })
        .collect()
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,64}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(header_safe),
        Just(b"Bearer".to_vec()),
        Just(b"Bearer ".to_vec()),
        Just(b"Bearer gwk_".to_vec()),
        Just(b"Bearer gwk__".to_vec()),
        Just(b"Bearer gwk_\xff\xfe_x".to_vec()),
        "Bearer gwk_[a-z0-9]{0,40}_[A-Za-z0-9]{0,60}".prop_map(String::into_bytes),
        Just("a".repeat(9000).into_bytes()),
    ]
}

fn credentials() -> impl Strategy<Value = Credentials> {
    prop_oneof![
        2 => Just(Credentials::None),
        6 => Just(Credentials::ValidBearer),
        2 => Just(Credentials::ValidApiKeyHeader),
        1 => "[ -~]{0,16}".prop_map(Credentials::TamperedKey),
        3 => (prop::sample::select(vec!["authorization", "x-api-key"]), header_bytes())
            .prop_map(|(header, value)| Credentials::Garbage { header, value }),
        1 => ("[ -~]{0,80}", "[ -~]{0,80}").prop_map(|(a, b)| Credentials::SigV4(a, b)),
    ]
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        6 => Just(Some(b"application/json".to_vec())),
        1 => Just(None),
        1 => Just(Some(b"text/plain".to_vec())),
        1 => Just(Some(b"application/json; charset=utf-8".to_vec())),
        1 => header_bytes().prop_map(Some),
    ]
}

/// Other headers: idempotency keys, timeouts, random names and values.
fn extra_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let one = prop_oneof![
        header_bytes().prop_map(|v| ("idempotency-key".to_owned(), v)),
        header_bytes().prop_map(|v| ("x-gateway-timeout-ms".to_owned(), v)),
        header_bytes().prop_map(|v| ("x-gateway-cache".to_owned(), v)),
        header_bytes().prop_map(|v| ("x-amz-date".to_owned(), v)),
        header_bytes().prop_map(|v| ("x-amzn-bedrock-accept".to_owned(), v)),
        ("[a-z][a-z0-9-]{0,20}", header_bytes()),
    ];
    prop_oneof![
        4 => Just(Vec::new()),
        1 => prop::collection::vec(one, 1..4),
    ]
}

fn case(api_key: Option<String>) -> impl Strategy<Value = Case> {
    (
        target(),
        body_kind(),
        credentials(),
        content_type(),
        extra_headers(),
    )
        .prop_map(move |(target, body_kind, creds, content_type, extra)| {
            let body = match (&target.template, &body_kind) {
                (None, BodyKind::Valid | BodyKind::Mutated(_)) => Vec::new(),
                (Some(t), BodyKind::Valid) => render(t),
                (Some(t), BodyKind::Mutated(edits)) => {
                    let mut v = t.clone();
                    for (index, m) in edits {
                        apply(&mut v, *index, m);
                    }
                    render(&v)
                }
                (_, BodyKind::Json(v)) => render(v),
                (_, BodyKind::Bytes(b)) => b.clone(),
                (_, BodyKind::Oversize(n)) => {
                    let mut v = target.template.clone().unwrap_or_else(|| json!({}));
                    v["pad"] = Value::String("p".repeat(*n));
                    render(&v)
                }
            };
            let mut headers = Vec::new();
            let mut good_auth = api_key.is_none();
            if let Some(ct) = &content_type {
                headers.push(("content-type".to_owned(), ct.clone()));
            }
            match (&creds, &api_key) {
                (Credentials::None, _) => {}
                (Credentials::ValidBearer, Some(key)) => {
                    headers.push(("authorization".into(), format!("Bearer {key}").into_bytes()));
                    good_auth = true;
                }
                (Credentials::ValidApiKeyHeader, Some(key)) => {
                    headers.push(("x-api-key".into(), key.clone().into_bytes()));
                    good_auth = true;
                }
                (Credentials::ValidBearer | Credentials::ValidApiKeyHeader, None) => {}
                (Credentials::TamperedKey(tail), key) => {
                    let key = key.clone().unwrap_or_else(|| "gwk_0000_x".into());
                    headers.push(("authorization".into(), format!("Bearer {key}{tail}").into_bytes()));
                    good_auth &= tail.is_empty();
                }
                (Credentials::Garbage { header, value }, _) => {
                    headers.push(((*header).to_owned(), value.clone()));
                    good_auth = false;
                }
                (Credentials::SigV4(credential, signature), _) => {
                    let value = format!(
                        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature={signature}"
                    );
                    headers.push(("authorization".into(), value.into_bytes()));
                    headers.push(("x-amz-date".into(), b"20261206T000000Z".to_vec()));
                    good_auth = false;
                }
            }
            let plain = content_type.as_deref() == Some(b"application/json".as_slice());
            headers.extend(extra.iter().cloned());
            // Usage is recorded (and reported) only with controls on.
            let succeeds = target.succeeds && (target.route != "/v1/usage" || api_key.is_some());
            let valid = succeeds
                && good_auth
                && extra.is_empty()
                && (target.template.is_none() || (matches!(body_kind, BodyKind::Valid) && plain));
            Case {
                route: target.route,
                method: target.method,
                path: target.path,
                body,
                headers,
                valid,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// The routers under test

/// The gateway's default models, a small body limit, and no retries against the simulator.
fn gateway_config() -> GatewayConfig {
    let mut config = GatewayConfig::default();
    config.limits.max_body_bytes = BODY_LIMIT;
    config
}

async fn jobs_backend() -> api::JobsBackend {
    let moto = testkit::moto();
    let table = testkit::unique_name("fuzz-jobs");
    testkit::resources::create_table(&moto.dynamodb(), &table, false, false).await;
    let queue =
        testkit::resources::create_queue(&moto.sqs(), &testkit::unique_name("fuzz-q"), None, 30)
            .await;
    api::JobsBackend {
        store: DynamoJobStore::new(moto.dynamodb(), &table),
        queue: SqsJobQueue::new(moto.sqs(), &queue.url),
        settings: JobSettings::default(),
        callback_policy: gateway::webhook::CallbackPolicy::default(),
    }
}

/// Controls off: auth `none`, jobs on moto, Bedrock the simulator.
async fn router_without_controls() -> (bedrock_sim::SimHandle, Router) {
    let sim = testkit::bedrock_sim().await;
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let models = BedrockModelClient::from_sdk_config(&sdk, &[]);
    let config = gateway_config();
    let parts = gateway_aws::resilience_store::local_parts(&config);
    let router = api::router(api::AppState::with_controls(
        config,
        models,
        parts,
        None,
        Default::default(),
        Some(jobs_backend().await),
    ));
    (sim, router)
}

/// Controls on (`api_keys`, limits off so the valid share is never throttled), a real key in
/// the stack's state table, and jobs on moto.
async fn router_with_controls() -> (controls_support::Stack, Router, String) {
    let stack = controls_support::start(json!({})).await;
    let key = stack.key("fuzz-tenant", |_| {}).await;
    let mut config = stack.config.clone();
    config.limits.max_body_bytes = BODY_LIMIT;
    let sdk = testkit::local_sdk_config(&stack.sim.endpoint_url());
    let models = BedrockModelClient::from_sdk_config(&sdk, &[]);
    let parts = gateway_aws::resilience_store::local_parts(&config)
        .with_home_region(Some("us-east-1".to_owned()))
        .with_last_good(Arc::new(TieredLastGood::new(100, stack.store.clone())));
    let controller = gateway::controls::Controller::new(
        &config,
        stack.store.clone(),
        controls_support::SEAL.as_bytes().to_vec(),
        Some("us-east-1".to_owned()),
    )
    .unwrap();
    let router = api::router(api::AppState::with_controls(
        config,
        models,
        parts,
        Some(controller),
        api::MetricsSink::Off,
        Some(jobs_backend().await),
    ));
    (stack, router, key.api_key)
}

// ---------------------------------------------------------------------------------------------
// The property

#[derive(Default)]
struct Tally {
    cases: u64,
    panics: u64,
    valid: u64,
    statuses: BTreeMap<u16, u64>,
    routes: BTreeMap<&'static str, u64>,
}

/// The 4xx body names the problem: `error.message` (gateway, OpenAI) or `message` (Bedrock).
fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/error/message")
        .or_else(|| value.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(str::to_owned)
}

/// The headers as text, for failure messages.
fn shown_headers(case: &Case) -> Vec<(String, String)> {
    case.headers
        .iter()
        .map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into_owned()))
        .collect()
}

fn build_request(case: &Case) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .method(case.method.clone())
        .uri(&case.path);
    for (name, value) in &case.headers {
        // A header no HTTP stack would deliver (bad name or bytes) is not an input.
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        builder = builder.header(name, value);
    }
    builder.body(Body::from(case.body.clone())).ok()
}

fn check(
    rt: &tokio::runtime::Runtime,
    router: &Router,
    case: &Case,
    tally: &Mutex<Tally>,
) -> Result<(), TestCaseError> {
    let Some(request) = build_request(case) else {
        return Err(TestCaseError::fail(format!(
            "the generator made an unsendable request: {case:?}"
        )));
    };
    let outcome = rt.block_on(
        AssertUnwindSafe(async {
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        })
        .catch_unwind(),
    );
    let mut tally = tally.lock().unwrap();
    tally.cases += 1;
    *tally.routes.entry(case.route).or_default() += 1;
    let shown = || String::from_utf8_lossy(&case.body[..case.body.len().min(600)]).into_owned();
    let Ok((status, body)) = outcome else {
        tally.panics += 1;
        return Err(TestCaseError::fail(format!(
            "PANIC on {} {} headers {:?} body {}",
            case.method,
            case.path,
            shown_headers(case),
            shown()
        )));
    };
    *tally.statuses.entry(status.as_u16()).or_default() += 1;
    let text = || String::from_utf8_lossy(&body[..body.len().min(600)]).into_owned();
    if status.is_server_error() {
        return Err(TestCaseError::fail(format!(
            "{status} on {} {} headers {:?} body {}: {}",
            case.method,
            case.path,
            shown_headers(case),
            shown(),
            text()
        )));
    }
    if status.is_client_error() && error_message(&body).is_none() {
        return Err(TestCaseError::fail(format!(
            "{status} without a JSON error message on {} {}: {:?}",
            case.method,
            case.path,
            text()
        )));
    }
    if case.valid {
        tally.valid += 1;
        if !status.is_success() {
            return Err(TestCaseError::fail(format!(
                "a valid request was refused: {status} on {} {} headers {:?} body {}: {}",
                case.method,
                case.path,
                shown_headers(case),
                shown(),
                text()
            )));
        }
    }
    Ok(())
}

fn run(
    label: &str,
    cases: u32,
    api_key: Option<String>,
    rt: &tokio::runtime::Runtime,
    router: &Router,
) {
    let started = Instant::now();
    let tally = Mutex::new(Tally::default());
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(api_key), |case| check(rt, router, &case, &tally));
    let tally = tally.into_inner().unwrap();
    // Straight to stderr, past libtest's capture: the summary belongs in every run's output.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz: api router ({label}): {} cases ({} valid), {} panics, {:.1} s, statuses {:?}, routes {:?}",
        tally.cases,
        tally.valid,
        tally.panics,
        started.elapsed().as_secs_f64(),
        tally.statuses,
        tally.routes,
    );
    if let Err(failure) = result {
        panic!("fuzz: api router ({label}): {failure}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_route_with_controls_off() {
    let rt = runtime();
    let (_sim, router) = rt.block_on(router_without_controls());
    run("controls off", CASES, None, &rt, &router);
}

#[test]
fn every_route_with_controls_on() {
    let rt = runtime();
    let (_stack, router, key) = rt.block_on(router_with_controls());
    run("controls on", CASES_WITH_CONTROLS, Some(key), &rt, &router);
}

#[test]
fn raw_number_literals_are_rendered_raw() {
    let value = json!({"a": format!("{RAW_MARK}1e400"), "b": [format!("{RAW_MARK}-1")]});
    assert_eq!(
        String::from_utf8(render(&value)).unwrap(),
        r#"{"a":1e400,"b":[-1]}"#
    );
}

/// Found by the fuzzer: a `{id}` that percent-decodes to bytes that are not UTF-8 was a
/// plain-text 400 from axum, unreadable to the AWS SDKs; now JSON in the route's dialect.
#[tokio::test]
async fn a_path_segment_that_is_not_utf8_is_a_json_400() {
    let api = crate::common::start().await;
    for (path, pointer) in [
        ("/model/%FF%FE/converse", "/message"),
        ("/model/%C0/invoke", "/message"),
        ("/api/%FF", "/error/message"),
    ] {
        let reply = api.post(path, "{}").await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert!(
            reply
                .json()
                .pointer(pointer)
                .and_then(Value::as_str)
                .is_some(),
            "{path}: {}",
            reply.text()
        );
    }
    let reply = api.get("/v1/jobs/%FF").await;
    assert!(reply.status.is_client_error(), "{}", reply.text());
    assert!(error_message(&reply.body).is_some(), "{}", reply.text());
}

/// Found by the fuzzer: a registered path with a method it does not take was a 405 with an
/// empty body; now a JSON error naming the method.
#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let api = crate::common::start().await;
    for (method, path) in [
        (Method::PUT, "/v1/converse"),
        (Method::DELETE, "/health"),
        (Method::POST, "/v1/models"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let reply = api.send(request).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        let message = error_message(&reply.body).unwrap_or_default();
        assert!(
            message.contains(method.as_str()),
            "{method} {path}: {}",
            reply.text()
        );
    }
}
