//! Property-based fuzzing of the webhook router (`POST /webhooks/{source}`), in process,
//! against moto (dedupe and jobs tables, the jobs queue).
//!
//! Each case is one delivery: a source (the three configured schemes, unknown and encoded
//! names), a body (a valid payload of the source, the payload mutated, arbitrary JSON or
//! bytes, past the source's size limit) and signature headers (correct, signed with a wrong
//! or rotated-out secret, garbage, missing, timestamps at the edges of `i64` and outside the
//! tolerance, delivery ids too long or unprintable). What must hold for every case: the router
//! answers (no panic), never with a 5xx, every 4xx is JSON naming the problem, and a correctly
//! signed valid delivery is accepted (202).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::{
    EVENT_TIME, GENERIC_SECRET, GITHUB_SECRET, TICKETS_OLD_SECRET, TICKETS_SECRET, hooks,
};
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue, Request};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tower::ServiceExt;

/// Generated deliveries per run. Bounds CI time: unsigned and badly signed deliveries are
/// refused before any emulator call; the correctly signed valid share (four moto calls each)
/// is kept small.
const CASES: u32 = 10_000;
/// The generic source's `max_body_bytes` in the test config.
const GENERIC_LIMIT: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Tickets,
    Github,
    Generic,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Self::Tickets => "tickets",
            Self::Github => "github",
            Self::Generic => "generic",
        }
    }

    /// A payload the source's mapping accepts.
    fn payload(self) -> Value {
        match self {
            Self::Tickets => json!({"type": "ticket.created",
                "ticket": {"id": "T-1", "title": "Printer on fire", "body": "Smoke on floor 3."},
                "callback_url": "https://hooks.example.com/cb"}),
            Self::Github => json!({"action": "opened", "issue": {"number": 7, "title": "Crash"},
                "repository": {"full_name": "octo-org/app"}}),
            Self::Generic => json!({"event": "order.paid", "order": 42}),
        }
    }
}

#[derive(Debug, Clone)]
enum Target {
    Configured(Source),
    /// Any other source name (path segment), or a configured one in another case.
    Other(String),
}

#[derive(Debug, Clone)]
enum BodyKind {
    Valid,
    /// The valid payload with one field replaced (or the top level, at index 0).
    Mutated(prop::sample::Index, Value),
    Json(Value),
    Bytes(Vec<u8>),
    Oversize(usize),
}

/// How the delivery is signed.
#[derive(Debug, Clone)]
enum Signing {
    Correct,
    /// Tickets only: the secret before the rotation (still accepted).
    OldSecret,
    WrongSecret,
    Missing,
    /// Correctly signed over this timestamp text (Standard Webhooks only; otherwise garbage).
    Timestamp(String),
    /// Correctly signed with this delivery id.
    DeliveryId(String),
    /// Arbitrary values in the signature headers.
    Garbage(Vec<(&'static str, Vec<u8>)>),
}

#[derive(Debug, Clone)]
struct Case {
    target: Target,
    body: BodyKind,
    signing: Signing,
    content_type: Option<String>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z./:]{0,24}".prop_map(Value::String),
        (1000usize..5000).prop_map(|n| Value::String("x".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "type",
                        "ticket",
                        "id",
                        "title",
                        "body",
                        "callback_url",
                        "issue",
                        "number",
                        "repository",
                        "full_name"
                    ])
                    .prop_map(str::to_owned),
                    any::<String>(),
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,80}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..80),
        Just(b"v1,".to_vec()),
        Just(b"v1,AAAA v1a,BBBB v2,CCCC".to_vec()),
        Just(b"sha256=".to_vec()),
        "sha256=[0-9a-f]{0,70}".prop_map(String::into_bytes),
        "v1,[A-Za-z0-9+/=]{0,60}".prop_map(String::into_bytes),
        Just(" v1,x".repeat(100).into_bytes()),
    ]
}

fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just(i64::MAX.to_string()),
        Just(i64::MIN.to_string()),
        Just(u64::MAX.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just((EVENT_TIME + 301).to_string()),
        Just((EVENT_TIME - 301).to_string()),
        Just(format!(" {EVENT_TIME} ")),
        Just(format!("{EVENT_TIME}.0")),
        Just(format!("+{EVENT_TIME}")),
        Just("1e9".to_owned()),
        Just(String::new()),
        "[0-9]{0,12}",
        "[ -~]{0,12}",
    ]
}

fn delivery_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x".repeat(257)),
        Just("x".repeat(5000)),
        Just(" ".to_owned()),
        Just("id with spaces".to_owned()),
        "[ -~]{0,40}",
        // Unicode without control characters: what a header value can carry.
        any::<String>().prop_map(|s| s.chars().filter(|c| !c.is_control()).collect()),
    ]
}

fn signing() -> impl Strategy<Value = Signing> {
    let names = prop::sample::select(vec![
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-hub-signature-256",
        "x-github-delivery",
        "x-signature",
        "x-delivery-id",
    ]);
    prop_oneof![
        // Correctly signed deliveries reach moto when the payload maps: a small share.
        1 => Just(Signing::Correct),
        1 => Just(Signing::OldSecret),
        3 => Just(Signing::WrongSecret),
        3 => Just(Signing::Missing),
        2 => timestamp().prop_map(Signing::Timestamp),
        1 => delivery_id().prop_map(Signing::DeliveryId),
        8 => prop::collection::vec((names, header_value()), 1..5).prop_map(Signing::Garbage),
    ]
}

fn body_kind() -> impl Strategy<Value = BodyKind> {
    prop_oneof![
        1 => Just(BodyKind::Valid),
        3 => (any::<prop::sample::Index>(), json_value()).prop_map(|(i, v)| BodyKind::Mutated(i, v)),
        4 => json_value().prop_map(BodyKind::Json),
        4 => prop::collection::vec(any::<u8>(), 0..400).prop_map(BodyKind::Bytes),
        1 => prop_oneof![GENERIC_LIMIT + 1..GENERIC_LIMIT * 2, 300_000usize..600_000].prop_map(BodyKind::Oversize),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        4 => Just(Target::Configured(Source::Tickets)),
        2 => Just(Target::Configured(Source::Github)),
        2 => Just(Target::Configured(Source::Generic)),
        1 => prop_oneof![
            Just("TICKETS".to_owned()),
            Just("tickets%00".to_owned()),
            Just("..".to_owned()),
            Just("%2e%2e".to_owned()),
            Just("%ZZ".to_owned()),
            Just("tickets%2F..".to_owned()),
            "[a-zA-Z0-9._~-]{1,40}",
            Just("s".repeat(2000)),
        ]
        .prop_map(Target::Other),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let content_type = prop_oneof![
        4 => Just(Some("application/json".to_owned())),
        1 => Just(None),
        1 => "[ -~]{0,30}".prop_map(Some),
    ];
    (target(), body_kind(), signing(), content_type).prop_map(
        |(target, body, signing, content_type)| Case {
            target,
            body,
            signing,
            content_type,
        },
    )
}

/// Every field path of a small JSON payload (the root first), for the mutation's index.
fn paths(value: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    if let Value::Object(map) = value {
        for (k, v) in map {
            paths(v, format!("{prefix}/{k}"), out);
        }
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let tag = hmac(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(tag))
}

fn hex_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])))
}

/// The signature headers of `source` over `body`, signed with `secret`.
fn signed(
    source: Source,
    secret_for: impl Fn(Source) -> &'static str,
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Vec<(&'static str, Vec<u8>)> {
    let secret = secret_for(source);
    match source {
        Source::Tickets => vec![
            ("webhook-id", id.as_bytes().to_vec()),
            ("webhook-timestamp", timestamp.as_bytes().to_vec()),
            (
                "webhook-signature",
                standard_signature(secret, id, timestamp, body).into_bytes(),
            ),
        ],
        Source::Github => vec![
            ("x-github-delivery", id.as_bytes().to_vec()),
            (
                "x-hub-signature-256",
                hex_signature(secret, body).into_bytes(),
            ),
        ],
        Source::Generic => vec![
            ("x-delivery-id", id.as_bytes().to_vec()),
            ("x-signature", hex_signature(secret, body).into_bytes()),
        ],
    }
}

fn right_secret(source: Source) -> &'static str {
    match source {
        Source::Tickets => TICKETS_SECRET,
        Source::Github => GITHUB_SECRET,
        Source::Generic => GENERIC_SECRET,
    }
}

/// A well-formed secret of each scheme that the source does not know.
fn wrong_secret(source: Source) -> &'static str {
    match source {
        Source::Tickets => "whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQta2V5LTMyYnl0ZXMh",
        _ => "someone else's secret",
    }
}

/// The request, and whether it must be accepted (202).
fn request(case: &Case, unique: u64) -> (Request<Body>, bool) {
    let source = match &case.target {
        Target::Configured(source) => Some(*source),
        Target::Other(_) => None,
    };
    let name = match &case.target {
        Target::Configured(source) => source.name().to_owned(),
        Target::Other(name) => name.clone(),
    };
    let payload = source.map(Source::payload).unwrap_or_else(|| json!({}));
    let body: Vec<u8> = match &case.body {
        BodyKind::Valid => {
            let mut payload = payload;
            // Each valid delivery is a new ticket (the same id twice is a conflict).
            if let Some(id) = payload.pointer_mut("/ticket/id") {
                *id = json!(format!("T-{unique}"));
            }
            // A body seen before is a redelivery whatever its delivery id (dedupe binds the
            // body), so every valid delivery carries something of its own.
            if let Some(object) = payload.as_object_mut() {
                object.insert("fuzz_delivery".into(), json!(unique));
            }
            payload.to_string().into_bytes()
        }
        BodyKind::Mutated(index, replacement) => {
            let mut all = Vec::new();
            paths(&payload, String::new(), &mut all);
            let mut payload = payload;
            let path = index.get(&all);
            if path.is_empty() {
                payload = replacement.clone();
            } else if let Some(slot) = payload.pointer_mut(path) {
                *slot = replacement.clone();
            }
            payload.to_string().into_bytes()
        }
        BodyKind::Json(v) => v.to_string().into_bytes(),
        BodyKind::Bytes(b) => b.clone(),
        BodyKind::Oversize(n) => {
            let mut payload = payload;
            payload["pad"] = json!("p".repeat(*n));
            payload.to_string().into_bytes()
        }
    };
    let id = format!("delivery-{unique}");
    let now = EVENT_TIME.to_string();
    let (headers, correctly_signed) = match (&case.signing, source) {
        (_, None) => (
            signed(Source::Tickets, right_secret, &id, &now, &body),
            false,
        ),
        (Signing::Correct, Some(s)) => (signed(s, right_secret, &id, &now, &body), true),
        (Signing::OldSecret, Some(s)) => {
            let old = |s| {
                if s == Source::Tickets {
                    TICKETS_OLD_SECRET
                } else {
                    right_secret(s)
                }
            };
            (signed(s, old, &id, &now, &body), true)
        }
        (Signing::WrongSecret, Some(s)) => (signed(s, wrong_secret, &id, &now, &body), false),
        (Signing::Missing, Some(_)) => (Vec::new(), false),
        (Signing::Timestamp(t), Some(s)) => {
            let in_window = t
                .trim()
                .parse::<i64>()
                .is_ok_and(|t| EVENT_TIME.abs_diff(t as u64) <= 300 && t >= 0);
            // Only the Standard Webhooks scheme signs a timestamp; others ignore the header.
            (
                signed(s, right_secret, &id, t, &body),
                in_window || s != Source::Tickets,
            )
        }
        (Signing::DeliveryId(d), Some(s)) => {
            let usable = !d.trim().is_empty()
                && d.trim().len() <= 256
                && d.trim().bytes().all(|b| b.is_ascii_graphic());
            (signed(s, right_secret, d, &now, &body), usable)
        }
        (Signing::Garbage(headers), Some(_)) => (headers.clone(), false),
    };
    let mut builder = Request::post(format!("/webhooks/{name}"));
    if let Some(Ok(value)) = case.content_type.as_deref().map(HeaderValue::from_str) {
        builder = builder.header("content-type", value);
    }
    let mut header_ok = true;
    for (name, value) in headers {
        match HeaderValue::from_bytes(&value) {
            Ok(value) => builder = builder.header(HeaderName::from_static(name), value),
            Err(_) => header_ok = false,
        }
    }
    let valid = source.is_some()
        && correctly_signed
        && header_ok
        && matches!(case.body, BodyKind::Valid)
        && !matches!(case.signing, Signing::DeliveryId(_));
    (builder.body(Body::from(body)).unwrap(), valid)
}

fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(str::to_owned)
}

#[derive(Default)]
struct Tally {
    cases: u64,
    panics: u64,
    valid: u64,
    statuses: BTreeMap<u16, u64>,
}

#[test]
fn deliveries_with_random_bodies_and_signatures() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hooks = rt.block_on(hooks());
    let tally = Mutex::new(Tally::default());
    let next = AtomicU64::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| {
        let (request, valid) = request(&case, next.fetch_add(1, Ordering::Relaxed));
        // On a task of its own, so a panic in the handler is seen (as a JoinError), not fatal.
        let router = hooks.router.clone();
        let outcome = rt.block_on(async move {
            tokio::spawn(async move {
                let response = router.oneshot(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, body)
            })
            .await
        });
        let mut tally = tally.lock().unwrap();
        tally.cases += 1;
        let Ok((status, body)) = outcome else {
            tally.panics += 1;
            return Err(TestCaseError::fail(format!("PANIC on {case:?}")));
        };
        *tally.statuses.entry(status.as_u16()).or_default() += 1;
        let text = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
        prop_assert!(!status.is_server_error(), "{status} on {case:?}: {text}");
        if status.is_client_error() {
            prop_assert!(
                error_message(&body).is_some(),
                "{status} without a JSON error message on {case:?}: {text}"
            );
        }
        if valid {
            tally.valid += 1;
            prop_assert_eq!(
                status.as_u16(),
                202,
                "a valid delivery was refused: {:?}: {}",
                case,
                text
            );
        }
        Ok(())
    });
    let tally = tally.into_inner().unwrap();
    // Straight to stderr, past libtest's capture: the summary belongs in every run's output.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz: webhook router: {} cases ({} valid), {} panics, {:.1} s, statuses {:?}",
        tally.cases,
        tally.valid,
        tally.panics,
        started.elapsed().as_secs_f64(),
        tally.statuses,
    );
    if let Err(failure) = result {
        panic!("fuzz: webhook router: {failure}");
    }
}
