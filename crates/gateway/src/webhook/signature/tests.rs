//! Signature tests against vectors computed outside this code: the Standard Webhooks
//! spec's example, GitHub's documented example, and an `openssl dgst -hmac` result.

use super::*;

// Standard Webhooks specification test vector (also used by the svix libraries).
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: i64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
// A second, unrelated 24-byte key (base64 of "another-rotated-key-0001").
const SW_OTHER_SECRET: &str = "whsec_YW5vdGhlci1yb3RhdGVkLWtleS0wMDAx";

// GitHub docs, "Validating webhook deliveries" → "Testing the webhook payload validation".
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

// Computed at dev time, independently of this crate:
//   printf '%s' '{"event":"job.completed","id":"job_42"}' \
//     | openssl dgst -sha256 -hmac 'gateway-generic-test-secret'            (hex)
//   ... -binary | base64                                                   (base64)
//   printf '%s' '{"event":"job.completed","id":"job_42"}' | sha256sum      (body hash)
const GEN_SECRET: &str = "gateway-generic-test-secret";
const GEN_BODY: &[u8] = br#"{"event":"job.completed","id":"job_42"}"#;
const GEN_HEX: &str = "a09b306416b4ab11dce983cb5ef74c90956b2dfbfebcf4c6d33213fe2d13342b";
const GEN_B64: &str = "oJswZBa0qxHc6YPLXvdMkJVrLfv+vPTG0zIT/i0TNCs=";
const GEN_BODY_SHA256: &str = "8d4b6a6ceaaa255c3ba05b6bb9bbdc502026b2cf41c694c7e578def3c505ace0";

fn scheme(json: &str) -> SignatureScheme {
    serde_json::from_str(json).unwrap()
}

fn standard() -> SignatureScheme {
    scheme(&format!(
        r#"{{"scheme":"standard","secrets":["{SW_SECRET}"]}}"#
    ))
}

fn sw_headers(id: &str, ts: &str, sig: &str) -> Vec<(String, String)> {
    vec![
        ("Webhook-Id".into(), id.into()),
        ("Webhook-Timestamp".into(), ts.into()),
        ("Webhook-Signature".into(), sig.into()),
    ]
}

fn spec_headers() -> Vec<(String, String)> {
    sw_headers(SW_ID, &SW_TS.to_string(), SW_SIG)
}

// ---- Standard Webhooks -------------------------------------------------------------

#[test]
fn standard_signer_reproduces_the_spec_vector() {
    let key = SecretKey::from_whsec(SW_SECRET).unwrap();
    assert_eq!(sign_standard(&key, SW_ID, SW_TS, SW_BODY), SW_SIG);
}

#[test]
fn standard_accepts_the_spec_vector() {
    let delivery = standard().verify(&spec_headers(), SW_BODY, SW_TS).unwrap();
    assert_eq!(
        delivery,
        VerifiedDelivery {
            delivery_id: SW_ID.into(),
            timestamp: Some(SW_TS),
            matched_secret: 0,
            id_signed: true,
        }
    );
}

#[test]
fn standard_rejects_tampered_body() {
    let err = standard()
        .verify(&spec_headers(), br#"{"test": 2432232315}"#, SW_TS)
        .unwrap_err();
    assert_eq!(err, WebhookError::BadSignature);
}

#[test]
fn standard_rejects_tampered_timestamp_within_tolerance() {
    let headers = sw_headers(SW_ID, &(SW_TS + 1).to_string(), SW_SIG);
    let err = standard().verify(&headers, SW_BODY, SW_TS).unwrap_err();
    assert_eq!(err, WebhookError::BadSignature);
}

#[test]
fn standard_rejects_tampered_id() {
    let headers = sw_headers("msg_other", &SW_TS.to_string(), SW_SIG);
    let err = standard().verify(&headers, SW_BODY, SW_TS).unwrap_err();
    assert_eq!(err, WebhookError::BadSignature);
}

#[test]
fn standard_rejects_tampered_signature() {
    // Last base64 character changed: same length, different tag.
    let forged = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
    for sig in [
        forged,
        "v1,",
        "v1,not-base64!",
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "",
    ] {
        let headers = sw_headers(SW_ID, &SW_TS.to_string(), sig);
        let err = standard().verify(&headers, SW_BODY, SW_TS).unwrap_err();
        assert_eq!(err, WebhookError::BadSignature, "{sig:?}");
    }
}

#[test]
fn standard_rejects_wrong_secret() {
    let other = scheme(&format!(
        r#"{{"scheme":"standard","secrets":["{SW_OTHER_SECRET}"]}}"#
    ));
    let err = other.verify(&spec_headers(), SW_BODY, SW_TS).unwrap_err();
    assert_eq!(err, WebhookError::BadSignature);
}

#[test]
fn standard_enforces_the_tolerance_window_both_ways() {
    let scheme = standard();
    // Exactly at the edge is accepted (inclusive ±300 s).
    assert!(scheme.verify(&spec_headers(), SW_BODY, SW_TS + 300).is_ok());
    assert!(scheme.verify(&spec_headers(), SW_BODY, SW_TS - 300).is_ok());
    // Old delivery (replay) and one from the future (clock skew or forgery).
    for now in [SW_TS + 301, SW_TS - 301, i64::MAX, i64::MIN] {
        let err = scheme.verify(&spec_headers(), SW_BODY, now).unwrap_err();
        assert_eq!(err, WebhookError::StaleTimestamp, "now={now}");
    }
}

#[test]
fn standard_tolerance_is_configurable() {
    let strict = scheme(&format!(
        r#"{{"scheme":"standard","secrets":["{SW_SECRET}"],"tolerance_secs":10}}"#
    ));
    assert!(strict.verify(&spec_headers(), SW_BODY, SW_TS + 10).is_ok());
    assert_eq!(
        strict
            .verify(&spec_headers(), SW_BODY, SW_TS + 11)
            .unwrap_err(),
        WebhookError::StaleTimestamp
    );
}

#[test]
fn standard_accepts_a_rotated_secret_second_in_the_list() {
    let rotated = scheme(&format!(
        r#"{{"scheme":"standard","secrets":["{SW_OTHER_SECRET}","{SW_SECRET}"]}}"#
    ));
    let delivery = rotated.verify(&spec_headers(), SW_BODY, SW_TS).unwrap();
    assert_eq!(delivery.matched_secret, 1);
}

#[test]
fn standard_accepts_any_of_several_signatures_in_the_header() {
    // A sender mid-rotation signs with old and new keys; unknown versions are ignored.
    let old = SecretKey::from_whsec(SW_OTHER_SECRET).unwrap();
    let old_sig = sign_standard(&old, SW_ID, SW_TS, SW_BODY);
    let header = format!("v1a,c29tZS1lZDI1NTE5LXNpZw== {old_sig} {SW_SIG}");
    let headers = sw_headers(SW_ID, &SW_TS.to_string(), &header);
    assert!(standard().verify(&headers, SW_BODY, SW_TS).is_ok());
}

#[test]
fn standard_headers_sign_with_every_secret() {
    let keys = [
        SecretKey::from_whsec(SW_OTHER_SECRET).unwrap(),
        SecretKey::from_whsec(SW_SECRET).unwrap(),
    ];
    let headers = standard_headers(&keys, SW_ID, SW_TS, SW_BODY);
    assert_eq!(headers[0], ("webhook-id", SW_ID.to_owned()));
    assert_eq!(headers[1], ("webhook-timestamp", "1614265330".to_owned()));
    assert!(headers[2].1.ends_with(&format!(" {SW_SIG}")));
    assert!(standard().verify(&headers, SW_BODY, SW_TS).is_ok());
}

#[test]
fn standard_names_each_missing_header() {
    let full = spec_headers();
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let headers: Vec<_> = full
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(missing))
            .cloned()
            .collect();
        let err = standard().verify(&headers, SW_BODY, SW_TS).unwrap_err();
        assert_eq!(err, WebhookError::MissingHeader(missing.into()));
        assert!(err.to_string().contains(missing));
        assert_eq!(err.status_code(), 400);
    }
}

#[test]
fn standard_rejects_non_numeric_timestamp() {
    let headers = sw_headers(SW_ID, "yesterday", SW_SIG);
    let err = standard().verify(&headers, SW_BODY, SW_TS).unwrap_err();
    assert_eq!(
        err,
        WebhookError::MalformedHeader("webhook-timestamp".into())
    );
}

// ---- GitHub ------------------------------------------------------------------------

fn github() -> SignatureScheme {
    scheme(&format!(r#"{{"scheme":"github","secret":"{GH_SECRET}"}}"#))
}

fn gh_headers(sig: &str) -> [(&'static str, String); 2] {
    [
        ("X-Hub-Signature-256", sig.to_owned()),
        (
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
    ]
}

#[test]
fn github_accepts_the_documented_vector() {
    let delivery = github().verify(&gh_headers(GH_SIG), GH_BODY, 0).unwrap();
    assert_eq!(delivery.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(delivery.timestamp, None);
}

#[test]
fn github_rejects_tampering() {
    let err = github()
        .verify(&gh_headers(GH_SIG), b"Hello, World?", 0)
        .unwrap_err();
    assert_eq!(err, WebhookError::BadSignature);

    let forged = GH_SIG.replace("e17", "e18");
    let unprefixed = GH_SIG.trim_start_matches("sha256=");
    let sha1 = "sha1=757107ea0eb2509fc211221cce984b8a37570b6d";
    for sig in [forged.as_str(), unprefixed, sha1, "sha256=zz", "sha256="] {
        let err = github().verify(&gh_headers(sig), GH_BODY, 0).unwrap_err();
        assert_eq!(err, WebhookError::BadSignature, "{sig}");
    }
}

#[test]
fn github_accepts_a_rotated_secret() {
    let rotated = scheme(&format!(
        r#"{{"scheme":"github","secrets":["old-secret","{GH_SECRET}"]}}"#
    ));
    assert_eq!(
        rotated
            .verify(&gh_headers(GH_SIG), GH_BODY, 0)
            .unwrap()
            .matched_secret,
        1
    );
}

#[test]
fn github_names_missing_headers() {
    let no_sig = [("X-GitHub-Delivery", "d")];
    assert_eq!(
        github().verify(&no_sig, GH_BODY, 0).unwrap_err(),
        WebhookError::MissingHeader("x-hub-signature-256".into())
    );
    let no_id = [("x-hub-signature-256", GH_SIG)];
    assert_eq!(
        github().verify(&no_id, GH_BODY, 0).unwrap_err(),
        WebhookError::MissingHeader("x-github-delivery".into())
    );
}

// ---- Generic HMAC ------------------------------------------------------------------

#[test]
fn generic_hex_with_prefix_matches_openssl() {
    let hmac = scheme(&format!(
        r#"{{"scheme":"hmac","header":"X-Signature","secret":"{GEN_SECRET}","encoding":"hex","prefix":"sha256="}}"#
    ));
    let headers = [("x-signature", format!("sha256={GEN_HEX}"))];
    let delivery = hmac.verify(&headers, GEN_BODY, 0).unwrap();
    assert_eq!(delivery.delivery_id, format!("sha256:{GEN_BODY_SHA256}"));

    // The configured prefix is required, and the body is covered.
    let bare = [("x-signature", GEN_HEX.to_owned())];
    assert_eq!(
        hmac.verify(&bare, GEN_BODY, 0).unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        hmac.verify(&headers, b"{}", 0).unwrap_err(),
        WebhookError::BadSignature
    );
}

#[test]
fn generic_base64_matches_openssl_and_uses_the_id_header() {
    let hmac = scheme(&format!(
        r#"{{"scheme":"hmac","header":"x-sig","secrets":["rotated-out","{GEN_SECRET}"],"encoding":"base64","id_header":"X-Request-Id"}}"#
    ));
    let headers = [("X-Sig", GEN_B64), ("x-request-id", "req-7")];
    let delivery = hmac.verify(&headers, GEN_BODY, 0).unwrap();
    assert_eq!(delivery.delivery_id, "req-7");
    assert_eq!(delivery.matched_secret, 1);

    let no_id = [("X-Sig", GEN_B64)];
    assert_eq!(
        hmac.verify(&no_id, GEN_BODY, 0).unwrap_err(),
        WebhookError::MissingHeader("x-request-id".into())
    );
    let hex_instead = [("X-Sig", GEN_HEX), ("x-request-id", "req-7")];
    assert_eq!(
        hmac.verify(&hex_instead, GEN_BODY, 0).unwrap_err(),
        WebhookError::BadSignature
    );
}

#[test]
fn generic_names_its_configured_missing_header() {
    let hmac = scheme(&format!(
        r#"{{"scheme":"hmac","header":"X-Signature","secret":"{GEN_SECRET}"}}"#
    ));
    let err = hmac.verify(&[("other", "x")], GEN_BODY, 0).unwrap_err();
    assert_eq!(err, WebhookError::MissingHeader("x-signature".into()));
}

// ---- Config and redaction ----------------------------------------------------------

#[test]
fn bad_configs_fail_at_parse_time_without_echoing_secrets() {
    let cases = [
        r#"{"scheme":"standard","secrets":[]}"#,
        r#"{"scheme":"standard","secrets":["whsec_@@not-base64-TOPSECRET"]}"#,
        r#"{"scheme":"github"}"#,
        r#"{"scheme":"github","secret":""}"#,
        r#"{"scheme":"hmac","header":" ","secret":"TOPSECRET"}"#,
        r#"{"scheme":"hmac","header":"x","secret":"TOPSECRET","algorithm":"md5"}"#,
        r#"{"scheme":"hmac","header":"x","secret":"TOPSECRET","encoding":"base32"}"#,
        r#"{"scheme":"github","secret":"TOPSECRET","tolerance":1}"#,
        r#"{"scheme":"slack","secret":"TOPSECRET"}"#,
    ];
    for json in cases {
        let err = serde_json::from_str::<SignatureScheme>(json).unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{json}: {err}");
    }
}

#[test]
fn debug_output_redacts_every_secret() {
    let all = [
        standard(),
        github(),
        scheme(&format!(
            r#"{{"scheme":"hmac","header":"x","secret":"{GEN_SECRET}"}}"#
        )),
    ];
    for s in all {
        let shown = format!("{s:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        for secret in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", GH_SECRET, GEN_SECRET] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[test]
fn error_messages_never_contain_body_or_signature() {
    let err = standard()
        .verify(&spec_headers(), b"TOP-SECRET-BODY", SW_TS)
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("TOP-SECRET-BODY") && !text.contains("g0hM9SsE"));
    assert_eq!(
        (err.status_code(), err.code()),
        (401, "webhook_bad_signature")
    );
}

#[test]
fn oversized_or_blank_delivery_ids_are_refused() {
    let key = SecretKey::from_whsec(SW_SECRET).unwrap();
    for id in ["x".repeat(257), "   ".to_owned(), "two words".to_owned()] {
        let sig = sign_standard(&key, &id, SW_TS, SW_BODY);
        let headers = sw_headers(&id, &SW_TS.to_string(), &sig);
        let err = standard().verify(&headers, SW_BODY, SW_TS).unwrap_err();
        assert_eq!(err, WebhookError::MalformedHeader("webhook-id".into()));
    }
}
