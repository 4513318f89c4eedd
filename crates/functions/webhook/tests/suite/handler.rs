//! `POST /webhooks/{source}` on the emulator: what is accepted, what is refused and with which
//! status, and that a redelivery is not processed twice. Signatures are computed in the test
//! with the `hmac` crate (and GitHub's documented vector), not with the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::sync::{Arc, Mutex};

use crate::common::*;
use gateway::jobs::{JobStatus, JobStore};
use serde_json::json;

const CALLBACK: &str = "http://127.0.0.1:9/results";

/// The dedupe key of a Standard Webhooks delivery (its id is signed): body hash and id.
fn signed_key(id: &str, body: &str) -> String {
    use sha2::Digest;
    format!("sha256:{}:id:{id}", hex::encode(sha2::Sha256::digest(body)))
}
/// A well-formed secret nobody configured.
const STRANGER: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";

#[tokio::test]
async fn a_signed_delivery_becomes_a_queued_job_carrying_its_callback() {
    let hooks = hooks().await;
    let body = ticket("T-7", "https://hooks.example.com/triage?token=abc");
    let reply = hooks
        .post(
            "tickets",
            &standard_headers(TICKETS_SECRET, "msg_1", EVENT_TIME, &body),
            &body,
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    assert_eq!(reply.json["status"], "queued");
    assert_eq!(reply.json["delivery_id"], "msg_1");
    let job_id = reply.json["job_id"].as_str().unwrap();

    let job = hooks.jobs.get(job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.tenant, "webhook:tickets");
    assert_eq!(
        job.callback_url.as_deref(),
        Some("https://hooks.example.com/triage?token=abc")
    );
    let converse = &serde_json::to_value(&job.request).unwrap()["converse"];
    assert_eq!(converse["modelId"], "haiku");
    assert_eq!(
        converse["messages"][0]["content"][0]["text"],
        "Ticket T-7: Printer on fire\n\nSmoke on floor 3."
    );
    assert_eq!(converse["system"][0]["text"], "You triage support tickets.");
    assert_eq!(converse["inferenceConfig"]["maxTokens"], 256);
    assert_eq!(job.metadata["ticket_id"], "T-7");
    assert_eq!(job.metadata["event"], "ticket.created");
    assert_eq!(job.metadata["webhook_delivery_id"], "msg_1");

    let queued = hooks.queued().await;
    assert_eq!(
        queued,
        vec![json!({"job_id": job_id, "tenant": "webhook:tickets"})]
    );
}

#[tokio::test]
async fn tampered_or_unsigned_deliveries_are_401() {
    let hooks = hooks().await;
    let body = ticket("T-8", CALLBACK);
    let good = standard_headers(TICKETS_SECRET, "msg_2", EVENT_TIME, &body);
    let with = |name: &str, value: String| {
        good.iter()
            .map(|(n, v)| (*n, if *n == name { value.clone() } else { v.clone() }))
            .collect::<Vec<_>>()
    };
    let without = |name: &str| {
        good.iter()
            .filter(|(n, _)| *n != name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let tampered_body = body.replace("Printer on fire", "Printer is fine");
    let flipped = {
        let sig = &good[2].1;
        let last = if sig.ends_with("A=") { "B=" } else { "A=" };
        format!("{}{last}", &sig[..sig.len() - 2])
    };
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "tampered body",
            good.clone(),
            &tampered_body,
            "webhook_bad_signature",
        ),
        (
            "tampered timestamp",
            with("webhook-timestamp", (EVENT_TIME - 1).to_string()),
            &body,
            "webhook_bad_signature",
        ),
        (
            "tampered id",
            with("webhook-id", "msg_3".into()),
            &body,
            "webhook_bad_signature",
        ),
        (
            "tampered signature",
            with("webhook-signature", flipped),
            &body,
            "webhook_bad_signature",
        ),
        (
            "unknown secret",
            with(
                "webhook-signature",
                standard_signature(STRANGER, "msg_2", EVENT_TIME, &body),
            ),
            &body,
            "webhook_bad_signature",
        ),
        (
            "no signature",
            without("webhook-signature"),
            &body,
            "webhook_missing_header",
        ),
        (
            "no timestamp",
            without("webhook-timestamp"),
            &body,
            "webhook_missing_header",
        ),
        (
            "garbled timestamp",
            with("webhook-timestamp", "yesterday".into()),
            &body,
            "webhook_malformed_header",
        ),
        ("no headers at all", vec![], &body, "webhook_missing_header"),
    ];
    for (name, headers, body, code) in cases {
        let reply = hooks.post("tickets", &headers, body).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.json);
        assert_eq!(reply.json["error"]["code"], code, "{name}");
        assert_eq!(
            reply.json["error"]["message"],
            "the delivery's signature could not be verified"
        );
    }
    assert_eq!(hooks.job_count().await, 0);
    assert!(hooks.queued().await.is_empty());
}

#[tokio::test]
async fn stale_and_future_timestamps_are_401_even_when_correctly_signed() {
    let hooks = hooks().await;
    let body = ticket("T-9", CALLBACK);
    for (signed_at, expected) in [
        (EVENT_TIME - 301, 401),
        (EVENT_TIME + 301, 401),
        (EVENT_TIME - 3600, 401),
        (EVENT_TIME - 299, 202),
    ] {
        let id = format!("msg_ts_{signed_at}");
        let reply = hooks
            .post(
                "tickets",
                &standard_headers(TICKETS_SECRET, &id, signed_at, &body),
                &body,
            )
            .await;
        assert_eq!(
            reply.status,
            expected,
            "signed at now{:+}: {}",
            signed_at as i64 - EVENT_TIME as i64,
            reply.json
        );
        if expected == 401 {
            assert_eq!(reply.json["error"]["code"], "webhook_stale_timestamp");
        }
    }
    // A captured delivery replayed later is refused even though its signature is intact.
    let headers = standard_headers(TICKETS_SECRET, "msg_replay", EVENT_TIME, &body);
    assert_eq!(hooks.post("tickets", &headers, &body).await.status, 202);
    hooks.set_now_secs(EVENT_TIME + 600);
    assert_eq!(hooks.post("tickets", &headers, &body).await.status, 401);
}

#[tokio::test]
async fn either_secret_of_a_rotation_is_accepted() {
    let hooks = hooks().await;
    let body = ticket("T-10", CALLBACK);
    let old = standard_headers(TICKETS_OLD_SECRET, "msg_old", EVENT_TIME, &body);
    assert_eq!(hooks.post("tickets", &old, &body).await.status, 202);
    let new = standard_headers(TICKETS_SECRET, "msg_new", EVENT_TIME, &body);
    assert_eq!(hooks.post("tickets", &new, &body).await.status, 202);
    // A sender mid-rotation signs with both; one unknown signature among them is fine.
    let both = format!(
        "v1,Zm9yZ2VkLXNpZ25hdHVyZS1mb3ItdGVzdGluZy0xMjM0NTY= {}",
        standard_signature(TICKETS_OLD_SECRET, "msg_both", EVENT_TIME, &body)
    );
    let headers = vec![
        ("webhook-id", "msg_both".to_owned()),
        ("webhook-timestamp", EVENT_TIME.to_string()),
        ("webhook-signature", both),
    ];
    assert_eq!(hooks.post("tickets", &headers, &body).await.status, 202);
    assert_eq!(hooks.job_count().await, 3);
}

#[tokio::test]
async fn unknown_source_oversized_and_malformed_deliveries() {
    let hooks = hooks().await;
    let body = ticket("T-11", CALLBACK);
    let headers = standard_headers(TICKETS_SECRET, "msg_x", EVENT_TIME, &body);
    let reply = hooks.post("nobody", &headers, &body).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"]["code"].as_str()),
        (404, Some("unknown_source"))
    );
    let reply = hooks.post("", &headers, &body).await;
    assert_eq!(reply.status, 404);

    // The generic source accepts 1 KiB; the router's limit is the largest source's.
    let big = json!({"padding": "x".repeat(2000)}).to_string();
    let signed = vec![
        ("x-signature", hex_signature(GENERIC_SECRET, &big)),
        ("x-delivery-id", "d-1".to_owned()),
    ];
    let reply = hooks.post("generic", &signed, &big).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let huge = "x".repeat(300 * 1024);
    let reply = hooks
        .post(
            "tickets",
            &standard_headers(TICKETS_SECRET, "msg_huge", EVENT_TIME, &huge),
            &huge,
        )
        .await;
    assert_eq!(reply.status, 413);

    // Correctly signed but not JSON: authenticated first, then refused as malformed.
    let not_json = "{\"ticket\": ";
    let reply = hooks
        .post(
            "tickets",
            &standard_headers(TICKETS_SECRET, "msg_bad", EVENT_TIME, not_json),
            not_json,
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"]["code"].as_str()),
        (400, Some("malformed_payload"))
    );
    // JSON, but without what the prompt template requires.
    let partial = json!({"ticket": {"id": "T-12"}, "callback_url": CALLBACK}).to_string();
    let reply = hooks
        .post(
            "tickets",
            &standard_headers(TICKETS_SECRET, "msg_part", EVENT_TIME, &partial),
            &partial,
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["error"]["code"], "payload_missing_field");
    assert_eq!(
        reply.json["error"]["message"],
        "the payload has no value at `/ticket/title`"
    );
    // Unsigned garbage is 401, not 400: nothing unauthenticated is parsed.
    assert_eq!(hooks.post("tickets", &[], not_json).await.status, 401);
    assert_eq!(hooks.job_count().await, 0);
}

#[tokio::test]
async fn a_hostile_callback_url_in_the_payload_is_refused_at_intake() {
    let hooks = hooks().await;
    for (i, url) in [
        "http://169.254.169.254/latest/meta-data/",
        "ftp://hooks.example.com/",
        "http://u:p@hooks.example.com/",
        "http://[fe80::1]/",
    ]
    .into_iter()
    .enumerate()
    {
        let body = ticket("T-13", url);
        let id = format!("msg_ssrf_{i}");
        let reply = hooks
            .post(
                "tickets",
                &standard_headers(TICKETS_SECRET, &id, EVENT_TIME, &body),
                &body,
            )
            .await;
        assert_eq!(reply.status, 400, "{url}: {}", reply.json);
        assert!(
            reply.json["error"]["code"]
                .as_str()
                .unwrap()
                .starts_with("callback_"),
            "{url}"
        );
    }
    assert_eq!(hooks.job_count().await, 0);
}

#[tokio::test]
async fn a_redelivered_webhook_id_is_not_processed_twice() {
    let hooks = hooks().await;
    let body = ticket("T-14", CALLBACK);
    let headers = standard_headers(TICKETS_SECRET, "msg_again", EVENT_TIME, &body);
    let first = hooks.post("tickets", &headers, &body).await;
    assert_eq!(first.status, 202);
    // The sender retries (its own timeout, a lost response): re-signed a little later.
    hooks.set_now_secs(EVENT_TIME + 40);
    let resent = standard_headers(TICKETS_SECRET, "msg_again", EVENT_TIME + 40, &body);
    for headers in [&headers, &resent] {
        let again = hooks.post("tickets", headers, &body).await;
        assert_eq!(again.status, 200, "{}", again.json);
        assert_eq!(again.json["status"], "duplicate");
        assert_eq!(again.json["job_id"], first.json["job_id"]);
    }
    // Two at the same moment: still one job.
    let parallel = standard_headers(TICKETS_SECRET, "msg_parallel", EVENT_TIME + 40, &body);
    let (a, b) = tokio::join!(
        hooks.post("tickets", &parallel, &body),
        hooks.post("tickets", &parallel, &body)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 202] || statuses == [202, 202] || statuses == [200, 200],
        "{statuses:?}"
    );
    assert_eq!(a.json["job_id"], b.json["job_id"]);

    assert_eq!(hooks.job_count().await, 2);
    let queued = hooks.queued().await;
    let first_id = first.json["job_id"].as_str().unwrap();
    assert_eq!(
        queued.iter().filter(|m| m["job_id"] == first_id).count(),
        1,
        "{queued:?}"
    );
}

#[tokio::test]
async fn a_delivery_whose_first_attempt_died_before_queueing_is_completed_on_redelivery() {
    let hooks = hooks().await;
    let body = ticket("T-15", CALLBACK);
    // The first attempt claimed the delivery id and crashed: no job, nothing queued.
    hooks
        .state
        .dedupe
        .claim(
            "tickets",
            &signed_key("msg_crash", &body),
            "job-whatever",
            EVENT_TIME * 1000,
            3600,
        )
        .await
        .unwrap();
    let reply = hooks
        .post(
            "tickets",
            &standard_headers(TICKETS_SECRET, "msg_crash", EVENT_TIME, &body),
            &body,
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    assert_eq!(hooks.job_count().await, 1);
    assert_eq!(hooks.queued().await.len(), 1);
    // And now it is done for good.
    let again = hooks
        .post(
            "tickets",
            &standard_headers(TICKETS_SECRET, "msg_crash", EVENT_TIME, &body),
            &body,
        )
        .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn an_expired_dedupe_record_counts_as_absent() {
    let hooks = hooks().await;
    let body = ticket("T-16", CALLBACK);
    // Remembered for one second only (TTL deletion is lazy, and moto never deletes).
    hooks
        .state
        .dedupe
        .claim(
            "tickets",
            &signed_key("msg_old_id", &body),
            "job-x",
            EVENT_TIME * 1000,
            1,
        )
        .await
        .unwrap();
    hooks
        .state
        .dedupe
        .mark_accepted(
            "tickets",
            &signed_key("msg_old_id", &body),
            EVENT_TIME * 1000,
        )
        .await
        .unwrap();
    hooks.set_now_secs(EVENT_TIME + 10);
    let fresh = standard_headers(TICKETS_SECRET, "msg_old_id", EVENT_TIME + 10, &body);
    let reply = hooks.post("tickets", &fresh, &body).await;
    assert_eq!(reply.status, 202, "{}", reply.json);
}

#[tokio::test]
async fn github_and_generic_hmac_sources() {
    let hooks = hooks().await;
    // GitHub's documented example: this secret and body give this signature. The body is not
    // JSON, so it is authenticated and then refused as malformed: 400, not 401.
    let documented = vec![
        (
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".to_owned(),
        ),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
    ];
    let reply = hooks.post("github", &documented, "Hello, World!").await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"]["code"].as_str()),
        (400, Some("malformed_payload"))
    );
    let reply = hooks.post("github", &documented, "Hello, World?").await;
    assert_eq!(reply.status, 401);

    let issue = json!({"action": "opened", "issue": {"number": 7, "title": "Crash"}, "repository": {"full_name": "o/r"}})
        .to_string();
    let headers = vec![
        ("x-hub-signature-256", hex_signature(GITHUB_SECRET, &issue)),
        ("x-github-delivery", "d-github-1".to_owned()),
    ];
    let reply = hooks.post("github", &headers, &issue).await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let job = hooks
        .jobs
        .get(reply.json["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.tenant, "octo-org");
    assert_eq!(job.callback_url, None);
    assert_eq!(
        serde_json::to_value(&job.request).unwrap()["converse"]["messages"][0]["content"][0]["text"],
        "Triage issue #7 in o/r: Crash"
    );

    let event = json!({"kind": "invoice.paid", "amount": 12}).to_string();
    let headers = vec![
        ("x-signature", hex_signature(GENERIC_SECRET, &event)),
        ("x-delivery-id", "inv-1".to_owned()),
    ];
    let reply = hooks.post("generic", &headers, &event).await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let job = hooks
        .jobs
        .get(reply.json["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&job.request).unwrap()["converse"]["messages"][0]["content"][0]["text"],
        event
    );
    assert_eq!(
        job.callback_hosts,
        Some(vec!["hooks.example.com".to_owned()])
    );
    let wrong = vec![
        ("x-signature", hex_signature("another", &event)),
        ("x-delivery-id", "inv-2".to_owned()),
    ];
    assert_eq!(hooks.post("generic", &wrong, &event).await.status, 401);
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn refusals_are_logged_without_the_secret_or_the_body() {
    let hooks = hooks().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let body = json!({"ticket": {"id": "T-17", "title": "TOP-SECRET-BODY-MARKER"}, "callback_url": CALLBACK}).to_string();
    let bad = standard_headers(
        TICKETS_OLD_SECRET,
        "msg_log",
        EVENT_TIME,
        &body.replace("MARKER", "M4RKER"),
    );
    assert_eq!(hooks.post("tickets", &bad, &body).await.status, 401);
    let stale = standard_headers(TICKETS_SECRET, "msg_log2", EVENT_TIME - 900, &body);
    assert_eq!(hooks.post("tickets", &stale, &body).await.status, 401);
    assert_eq!(
        hooks
            .post(
                "tickets",
                &standard_headers(TICKETS_SECRET, "msg_log3", EVENT_TIME, "nope"),
                "nope"
            )
            .await
            .status,
        400
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("webhook refused") && logs.contains("webhook_bad_signature"),
        "{logs}"
    );
    assert!(
        logs.contains("webhook_stale_timestamp") && logs.contains("malformed_payload"),
        "{logs}"
    );
    for secret_or_body in [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "YW4tb2xkZXIt",
        "TOP-SECRET-BODY",
        &bad[2].1[3..],
    ] {
        assert!(
            !logs.contains(secret_or_body),
            "{secret_or_body} leaked into the logs"
        );
    }
}
