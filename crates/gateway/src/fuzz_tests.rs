//! Property-based fuzzing of the gateway's pure parsers: everything a caller, a sender or an
//! operator writes is parsed by one of these before anything else looks at it. Each must
//! return (an error for bad input), never panic, and agree with itself where that is cheap
//! to state (a parsed value re-parses the same).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::config::GatewayConfig;
use crate::controls::cache::CacheDirective;
use crate::controls::calendar;
use crate::controls::keys;
use crate::controls::sigv4::{self, Authorization, SignedRequest};
use crate::enrichment::{EnrichmentConfig, StreamChange, triage};
use crate::jobs::callback::schedule::RetrySchedule;
use crate::jobs::callback::signing::CallbackSecrets;
use crate::webhook::signature::SignatureScheme;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};

/// Generated inputs per parser. Bounds test time: each parse takes microseconds.
const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z_]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "models",
                        "id",
                        "aliases",
                        "routes",
                        "classify",
                        "generate",
                        "analyze",
                        "limits",
                        "max_body_bytes",
                        "resilience",
                        "retry",
                        "max_attempts",
                        "controls",
                        "auth",
                        "mode",
                        "regions",
                        "fallback",
                        "timeout_ms",
                        "model",
                        "templates",
                        "prompt",
                        "system",
                        "scheme",
                        "secrets",
                        "secret",
                        "header",
                        "tolerance_secs",
                        "prefix",
                        "encoding",
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

/// A JSON document: arbitrary text, arbitrary JSON, or `base` with one value replaced.
fn document(base: Value) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
        (any::<prop::sample::Index>(), json_value()).prop_map(move |(index, replacement)| {
            let mut doc = base.clone();
            let mut pointers = Vec::new();
            pointers_of(&doc, String::new(), &mut pointers);
            let pointer = index.get(&pointers).clone();
            if let Some(slot) = doc.pointer_mut(&pointer) {
                *slot = replacement;
            }
            doc.to_string()
        }),
    ]
}

fn pointers_of(value: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers_of(
                    v,
                    format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers_of(v, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gateway_config_parse_never_panics(text in document(json!({
        "models": [{"id": "a", "aliases": ["x"], "max_tokens": 4096},
                   {"id": "b", "aliases": ["y"]}],
        "routes": {"classify": "a", "generate": "b", "analyze": "a"},
        "limits": {"max_body_bytes": 1024},
        "resilience": {"retry": {"max_attempts": 2}},
    }))) {
        let _ = GatewayConfig::parse("GATEWAY_CONFIG", &text);
    }

    #[test]
    fn sigv4_authorization_parse_never_panics(header in prop_oneof![
        any::<String>(),
        ("[ -~]{0,40}", "[ -~]{0,30}", "[ -~]{0,70}").prop_map(|(credential, signed, signature)| format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}")),
        ("[A-Z0-9]{0,20}", "[0-9]{0,9}", "[a-z0-9-]{0,12}", "[0-9a-f]{0,66}").prop_map(|(akid, date, region, sig)| format!(
            "AWS4-HMAC-SHA256 Credential={akid}/{date}/{region}/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}")),
    ]) {
        if let Ok(auth) = Authorization::parse(&header) {
            prop_assert_eq!(auth.signature.len(), 32);
            prop_assert_eq!(auth.date.len(), 8);
            prop_assert!(auth.signed_headers.iter().any(|h| h == "host"));
        }
    }

    #[test]
    fn sigv4_verify_never_panics(
        amz_date in prop_oneof!["[0-9]{8}T[0-9]{6}Z", "[ -~]{0,20}", Just("99999999T999999Z".to_owned()),
                                Just("00000000T000000Z".to_owned()), Just("2026120\u{e9}T00000Z".to_owned())],
        path in "(/[ -~]{0,12}){0,4}",
        query in prop::option::of("[ -~]{0,40}"),
        headers in prop::collection::vec(("[a-zA-Z-]{1,16}", "[ -~]{0,30}"), 0..6),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<u64>(),
        skew in any::<u64>(),
    ) {
        let auth = Authorization::parse(&format!(
            "AWS4-HMAC-SHA256 Credential=AKID/{}/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date;{}, Signature={}",
            amz_date.get(..8).unwrap_or("20261206"),
            headers.first().map(|(n, _)| n.to_ascii_lowercase()).unwrap_or_default(),
            "00".repeat(32),
        ));
        let mut all: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        all.push(("host", "gateway.example.com"));
        all.push(("x-amz-date", amz_date.as_str()));
        let request = SignedRequest { method: "POST", path: &path, query: query.as_deref(), headers: all, body: &body };
        if let Ok(auth) = auth {
            // A zero signature never verifies; what matters is that nothing panics on the way.
            prop_assert!(sigv4::verify(&request, &auth, "secret", "bedrock", now, skew).is_err());
        }
    }

    #[test]
    fn api_key_parse_never_panics(text in prop_oneof![
        any::<String>(),
        "gwk_[ -~]{0,40}",
        "gwk_[a-z0-9]{0,30}_[A-Za-z0-9]{0,60}",
    ]) {
        if let Some((key_id, secret)) = keys::parse_api_key(&text) {
            prop_assert_eq!(format!("gwk_{key_id}_{secret}"), text);
        }
    }

    #[test]
    fn cache_control_parse_never_panics(header in prop::option::of(prop_oneof![
        any::<String>(),
        "(no-store|no-cache|max-age=[0-9-]{0,25}|[ -~]{0,10})(, ?(no-store|no-cache|max-age=[0-9a-z-]{0,25}|[ -~]{0,10})){0,4}",
    ])) {
        let _ = CacheDirective::parse(header.as_deref());
    }

    #[test]
    fn day_parse_never_panics_and_round_trips(text in prop_oneof![
        any::<String>(),
        "[0-9+-]{0,14}",
        (any::<i64>(), any::<u32>(), any::<u32>()).prop_map(|(y, m, d)| format!("{y}-{m}-{d}")),
        (any::<i64>(), 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        (0i64..=9999, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
    ]) {
        if let Some(day) = calendar::parse_day(&text) {
            let canonical = calendar::day_from_number(day);
            prop_assert_eq!(calendar::parse_day(&canonical), Some(day));
        }
    }

    #[test]
    fn webhook_signature_verify_never_panics(
        scheme in prop::sample::select(vec![
            r#"{"scheme":"standard","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}"#,
            r#"{"scheme":"github","secret":"It's a Secret to Everybody"}"#,
            r#"{"scheme":"hmac","header":"x-signature","secret":"s","prefix":"sha256=","id_header":"x-delivery-id"}"#,
            r#"{"scheme":"hmac","header":"x-signature","secret":"s","encoding":"base64"}"#,
        ]),
        headers in prop::collection::vec((
            prop_oneof![
                prop::sample::select(vec!["webhook-id", "webhook-timestamp", "webhook-signature",
                    "x-hub-signature-256", "x-github-delivery", "x-signature", "x-delivery-id"]).prop_map(str::to_owned),
                "[a-z-]{1,12}",
            ],
            prop_oneof![
                any::<String>(),
                "v1,[A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,60}){0,3}",
                "sha256=[0-9a-fA-F]{0,70}",
                "-?[0-9]{0,20}",
            ],
        ), 0..6),
        body in prop::collection::vec(any::<u8>(), 0..128),
        now in any::<i64>(),
    ) {
        let scheme: SignatureScheme = serde_json::from_str(scheme).unwrap();
        // Random tags never match a secret.
        prop_assert!(scheme.verify(&headers, &body, now).is_err());
    }

    #[test]
    fn webhook_signature_config_parse_never_panics(text in document(json!(
        {"scheme": "hmac", "header": "x-signature", "secret": "s", "prefix": "sha256=",
         "encoding": "hex", "id_header": "x-delivery-id", "tolerance_secs": 300,
         "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}
    ))) {
        let _ = serde_json::from_str::<SignatureScheme>(&text);
    }

    #[test]
    fn callback_settings_parse_never_panics(
        schedule in prop_oneof![any::<String>(), "([0-9]{0,22}[smhd]?,? ?){0,8}", "[ -~]{0,30}"],
        default in prop_oneof![any::<String>(), "whsec_[A-Za-z0-9+/=]{0,90}"],
        per_host in prop::option::of(document(json!({"hooks.example.com": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))),
    ) {
        let _ = RetrySchedule::parse(&schedule);
        let _ = CallbackSecrets::parse(&default, per_host.as_deref());
    }

    #[test]
    fn enrichment_config_parse_never_panics(text in document(json!({
        "model": "small",
        "templates": {"tone": {"prompt": "Rewrite for {{audience}}: {{content}}", "system": "s", "model": "small"}},
    }))) {
        let _ = EnrichmentConfig::parse("ENRICHMENT_CONFIG", &text, |name| name == "small");
    }

    #[test]
    fn stream_triage_never_panics(
        event_name in prop_oneof![prop::sample::select(vec!["INSERT", "MODIFY", "REMOVE"]).prop_map(str::to_owned), any::<String>()],
        new_image in json_value(),
        old_image in json_value(),
        status in prop::option::of(prop_oneof![Just(json!({"S": "PENDING"})), json_value()]),
        pk in prop::option::of(prop_oneof![Just(json!({"S": "doc-1"})), json_value()]),
        version in prop::option::of(prop_oneof![Just(json!({"N": "1"})), Just(json!({"N": "1e400"})), json_value()]),
    ) {
        let object = |v: Value| match v { Value::Object(m) => m, other => Map::from_iter([("x".to_owned(), other)]) };
        let mut new_image = object(new_image);
        for (name, value) in [("status", status), ("pk", pk), ("version", version)] {
            if let Some(value) = value {
                new_image.insert(name.to_owned(), value);
            }
        }
        let old_image = object(old_image);
        let _ = triage(StreamChange { event_name: &event_name, new_image: &new_image, old_image: &old_image });
    }
}

/// A year past `i64`'s day arithmetic (found by `day_parse_never_panics_and_round_trips`):
/// `GET /v1/usage?from=9223372036854775807-03-01` panicked in debug builds and wrapped
/// around in release ones.
#[test]
fn a_year_out_of_range_is_not_a_day() {
    assert_eq!(calendar::parse_day("9223372036854775807-03-01"), None);
    assert_eq!(calendar::parse_day("-9223372036854775808-01-01"), None);
    assert_eq!(calendar::parse_day("10000-01-01"), None);
    assert_eq!(calendar::parse_day("-1-01-01"), None);
    assert!(calendar::parse_day("0000-03-01").is_some());
    assert!(calendar::parse_day("9999-12-31").is_some());
}
