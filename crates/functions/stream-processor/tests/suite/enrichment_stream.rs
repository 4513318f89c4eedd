//! The "Done when" of the reactive processor, against the emulator's real stream: items written
//! with the SDK, records read back through the DynamoDB Streams API and shaped as Lambda's
//! event, the handler run on them with the real DynamoDB store and the Bedrock simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use bedrock_sim::{Behavior, ErrorKind, count_output_tokens, expected_reply};
use event_source_emulator::dynamodb_stream::{FilterCriteria, OnFailure, OnFailureRecord};
use serde_json::json;
use std::time::Duration;
use stream_processor::FILTER_PATTERN;
use testkit::{moto, resources, unique_name};

#[tokio::test]
async fn an_inserted_pending_item_is_enriched_exactly_once_with_the_simulators_answer() {
    let h = harness().await;
    let content = "Quarterly revenue grew in every region while costs stayed flat.";
    h.put("doc-1", 1, content, summarize()).await;

    let mut poller = h.poller(OnFailure::Discard);
    let (report, batches) = h.poll(&mut poller).await;
    assert_eq!(
        (report.read, report.delivered, report.invocations),
        (1, 1, 1),
        "{report:?}"
    );
    let (event, response) = &batches[0];
    assert!(reported(response).is_empty(), "{response:?}");
    // The event is shaped as Lambda's DynamoDB event source mapping shapes it.
    let record = &event.records[0];
    assert_eq!(
        (record.event_name.as_str(), record.event_version.as_deref()),
        ("INSERT", Some("1.1"))
    );
    assert_eq!(record.event_source.as_deref(), Some("aws:dynamodb"));
    assert_eq!(
        record.event_source_arn.as_deref(),
        Some(h.stream_arn.as_str())
    );
    assert_eq!(record.aws_region, "us-east-1");
    assert!(record.change.sequence_number.is_some());

    let item = h.item("doc-1").await;
    let expected = expected_reply(content);
    assert_eq!(item["status"], "ENRICHED", "{item}");
    assert_eq!(item["result"], json!(expected));
    assert_eq!(item["model"], HAIKU);
    assert_eq!(item["enriched_version"], 1);
    assert_eq!(
        item["usage"]["output_tokens"],
        count_output_tokens(&expected)
    );
    assert!(item["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(item["processed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(h.sim.calls(HAIKU), 1);

    // The write-back's own record is filtered out; later polls deliver nothing.
    for _ in 0..3 {
        let (report, _) = h.poll(&mut poller).await;
        assert_eq!(report.delivered, 0, "{report:?}");
    }
    // A duplicate delivery of the INSERT (Lambda retries, replays) changes nothing.
    let records = h.all_records().await;
    let insert: Vec<_> = records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .cloned()
        .collect();
    assert!(reported(&h.handle(&insert).await).is_empty());
    assert_eq!(h.sim.calls(HAIKU), 1, "enriched exactly once");
    assert_eq!(h.item("doc-1").await, item);
}

#[tokio::test]
async fn running_the_handler_over_the_records_of_its_own_writes_makes_no_model_call() {
    let h = harness().await;
    h.sim
        .set_behavior(NOVA_LITE, Behavior::always(ErrorKind::ThrottlingException));
    h.put("ok", 1, "A short note about the weather.", summarize())
        .await;
    h.put(
        "bad",
        1,
        "Text for a model that is throttled.",
        template("on-nova"),
    )
    .await;

    // Every kind of write the processor makes: ENRICHED, an attempt counted, FAILED.
    let inserts = h.all_records().await;
    assert_eq!(inserts.len(), 2);
    assert_eq!(reported(&h.handle(&inserts).await).len(), 1);
    let bad_insert: Vec<_> = inserts
        .iter()
        .filter(|r| key_of(r) == "bad")
        .cloned()
        .collect();
    assert_eq!(
        reported(&h.handle(&bad_insert).await),
        vec![sequence_number(&bad_insert[0])]
    );
    assert_eq!(h.item("ok").await["status"], "ENRICHED");
    assert_eq!(h.item("bad").await["status"], "FAILED");

    let records = h.all_records().await;
    let own: Vec<_> = records[2..].to_vec();
    assert_eq!(own.len(), 3, "{own:#?}");
    assert!(own.iter().all(|r| r.event_name == "MODIFY"));
    let calls = h.calls();
    for _ in 0..2 {
        let response = h.handle(&own).await;
        assert!(reported(&response).is_empty(), "{response:?}");
    }
    assert_eq!(
        h.calls(),
        calls,
        "no Bedrock call for the processor's own writes"
    );
    assert_eq!(h.all_records().await.len(), 5, "and no further write");

    // The template's filter keeps ENRICHED/FAILED write-backs away from the function; the
    // attempt counter's write stays PENDING and is stopped by the guard in code instead.
    let filter = FilterCriteria::from_patterns([FILTER_PATTERN]).unwrap();
    let passing: Vec<_> = own
        .iter()
        .filter(|r| filter.matches(&serde_json::to_value(r).unwrap()))
        .map(|r| r.change.new_image.get("attempts").cloned())
        .collect();
    assert_eq!(
        passing,
        vec![Some(serde_dynamo::AttributeValue::N("1".into()))]
    );
}

#[tokio::test]
async fn a_stale_record_does_not_overwrite_a_newer_item() {
    let h = harness().await;
    let (old, new) = (
        "The first draft of the memo.",
        "The second, final memo text.",
    );
    h.put("doc", 1, old, summarize()).await;
    h.put("doc", 2, new, summarize()).await;
    let records = h.all_records().await;
    let (v1, v2) = (&records[0], &records[1]);

    // Out of order: the older version's record arrives after the newer one was enriched.
    assert!(reported(&h.handle(std::slice::from_ref(v2)).await).is_empty());
    assert!(reported(&h.handle(std::slice::from_ref(v1)).await).is_empty());
    let item = h.item("doc").await;
    assert_eq!(
        (item["version"].as_u64(), item["content"].as_str()),
        (Some(2), Some(new))
    );
    assert_eq!(item["result"], json!(expected_reply(new)));
    assert_eq!(
        h.sim.calls(HAIKU),
        1,
        "the stale record makes no model call"
    );

    // A newer version written while the model answers the older one: the write-back loses.
    h.put("race", 1, old, summarize()).await;
    let record = h.all_records().await.pop().unwrap();
    h.sim.set_behavior(
        HAIKU,
        Behavior {
            first_token_ms: 1_500,
            ..Behavior::default()
        },
    );
    let (response, ()) = tokio::join!(h.handle(std::slice::from_ref(&record)), async {
        // The simulator counts a call when it arrives, before its latency: the model is busy
        // with version 1 from here on.
        while h.sim.calls(HAIKU) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h.put("race", 2, new, summarize()).await;
    });
    assert!(reported(&response).is_empty());
    assert_eq!(
        h.sim.calls(HAIKU),
        2,
        "the model did answer the older version"
    );
    let item = h.item("race").await;
    assert_eq!(
        (item["status"].as_str(), item["version"].as_u64()),
        (Some("PENDING"), Some(2)),
        "{item}"
    );
    assert_eq!(
        (item["content"].as_str(), item.get("result")),
        (Some(new), None)
    );
}

#[tokio::test]
async fn a_failing_record_is_reported_by_sequence_number_and_ends_failed_after_the_configured_attempts()
 {
    let h = harness().await;
    h.sim
        .set_behavior(NOVA_LITE, Behavior::always(ErrorKind::ThrottlingException));
    let sqs = moto().sqs();
    let destination =
        resources::create_queue(&sqs, &unique_name("stream-failures"), None, 30).await;
    let mut poller = h.poller(OnFailure::Sqs {
        client: sqs.clone(),
        queue_url: destination.url.clone(),
    });
    h.put("a", 1, "Minutes of the Monday meeting.", summarize())
        .await;
    h.put(
        "b",
        1,
        "Text for a model that is throttled.",
        template("on-nova"),
    )
    .await;
    h.put(
        "c",
        1,
        "The app crashes on start. reply with: bug",
        classify(&["billing", "bug"]),
    )
    .await;

    // First delivery: only b is reported, by its sequence number; a and c are enriched.
    let (report, batches) = h.poll(&mut poller).await;
    let (event, response) = &batches[0];
    let b_seq = sequence_number(event.records.iter().find(|r| key_of(r) == "b").unwrap());
    assert_eq!(reported(response), vec![b_seq.clone()]);
    assert_eq!(report.failed, vec![b_seq.clone()]);
    assert_eq!(h.item("a").await["status"], "ENRICHED");
    assert_eq!(h.item("c").await["result"], "bug");
    let b = h.item("b").await;
    assert_eq!(
        (b["status"].as_str(), b["attempts"].as_u64()),
        (Some("PENDING"), Some(1)),
        "{b}"
    );
    assert_eq!(b["last_error"]["code"], "model_throttled");

    // The stream brings b back (and what follows it); the last allowed attempt fails it, and
    // the event source mapping hands it to the on-failure destination.
    let (report, _) = h.poll(&mut poller).await;
    assert_eq!(
        (report.failed.clone(), report.discarded.clone()),
        (vec![b_seq.clone()], vec![b_seq.clone()])
    );
    let b = h.item("b").await;
    assert_eq!(
        (b["status"].as_str(), b["attempts"].as_u64()),
        (Some("FAILED"), Some(2)),
        "{b}"
    );
    assert_eq!(b["error"]["code"], "model_throttled");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 2 attempts"),
        "{b}"
    );
    assert!(b.get("result").is_none());

    // Past it: nothing fails any more; a and c were not called again.
    for _ in 0..2 {
        let (report, _) = h.poll(&mut poller).await;
        assert!(report.failed.is_empty(), "{report:?}");
    }
    assert_eq!(h.sim.calls(HAIKU), 2);
    assert_eq!(h.sim.calls(NOVA_LITE), 2);

    let messages = sqs
        .receive_message()
        .queue_url(&destination.url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<OnFailureRecord> = messages
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let info = &bodies[0];
    assert_eq!(info.request_context.condition, "RetryAttemptsExhausted");
    assert_eq!(info.request_context.approximate_invoke_count, 2);
    assert_eq!(
        (
            info.batch_info.start_sequence_number.as_str(),
            info.batch_info.batch_size
        ),
        (b_seq.as_str(), 1)
    );
    assert_eq!(info.batch_info.stream_arn, h.stream_arn);
}

#[tokio::test]
async fn classify_outside_the_labels_and_extract_violating_the_schema_are_never_enriched() {
    let h = harness().await;
    let schema = json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}});
    h.put(
        "label-bad",
        1,
        "Please refund me. reply with: refund",
        classify(&["billing", "bug"]),
    )
    .await;
    h.put(
        "label-ok",
        1,
        "Charged twice. reply with: Billing.",
        classify(&["billing", "bug"]),
    )
    .await;
    h.put(
        "json-bad",
        1,
        r#"Invoice total twelve. reply with: {"total": "twelve"}"#,
        extract(schema.clone()),
    )
    .await;
    h.put(
        "json-ok",
        1,
        r#"Invoice total 12.50. reply with: {"total": 12.5}"#,
        extract(schema),
    )
    .await;

    let mut poller = h.poller(OnFailure::Discard);
    for _ in 0..5 {
        h.poll(&mut poller).await;
        for key in ["label-bad", "json-bad"] {
            let item = h.item(key).await;
            assert_ne!(item["status"], "ENRICHED", "{item}");
            assert!(item.get("result").is_none(), "{item}");
        }
    }
    assert_eq!(h.item("label-ok").await["result"], "billing");
    assert_eq!(h.item("json-ok").await["result"], json!({"total": 12.5}));

    let label_bad = h.item("label-bad").await;
    assert_eq!(
        (label_bad["status"].as_str(), label_bad["attempts"].as_u64()),
        (Some("FAILED"), Some(2))
    );
    assert_eq!(label_bad["error"]["code"], "invalid_output");
    assert!(
        label_bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'refund' is not one of the labels"),
        "{label_bad}"
    );
    let json_bad = h.item("json-bad").await;
    assert_eq!(json_bad["status"], "FAILED");
    assert!(
        json_bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$.total: expected number, got string"),
        "{json_bad}"
    );
    // Invalid answers were retried (the configured attempts), valid ones asked once.
    assert_eq!(h.sim.calls(HAIKU), 2 + 2 * MAX_ATTEMPTS as u64);
}

#[tokio::test]
async fn an_unusable_document_is_failed_with_the_reason_and_no_model_call() {
    let h = harness().await;
    h.put("no-template", 1, "Some text.", template("missing"))
        .await;
    h.put("no-variable", 1, "Some text.", template("tone"))
        .await;
    h.put("bad-task", 1, "Some text.", json!({"type": "translate"}))
        .await;
    let mut item = std::collections::HashMap::new();
    for (k, v) in [
        ("pk", "no-version"),
        ("status", "PENDING"),
        ("content", "x"),
        ("task", "summarize"),
    ] {
        item.insert(
            k.to_owned(),
            aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned()),
        );
    }
    h.put_item(item).await;

    let mut poller = h.poller(OnFailure::Discard);
    h.poll(&mut poller).await;
    let code = |item: serde_json::Value| {
        (
            item["status"].as_str().map(str::to_owned),
            item["error"]["code"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(
        code(h.item("no-template").await),
        (Some("FAILED".into()), Some("unknown_template".into()))
    );
    assert_eq!(
        code(h.item("no-variable").await),
        (
            Some("FAILED".into()),
            Some("missing_template_variable".into())
        )
    );
    assert_eq!(
        code(h.item("bad-task").await),
        (Some("FAILED".into()), Some("invalid_document".into()))
    );
    assert_eq!(
        code(h.item("no-version").await),
        (Some("FAILED".into()), Some("invalid_document".into()))
    );
    assert_eq!(h.calls(), 0);
}
