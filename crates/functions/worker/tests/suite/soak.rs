//! A soak under faults, in process: jobs from the three producers at once (`POST /v1/jobs`,
//! raw `gateway.job.v1` messages, `GenAI Job Requested` events), the simulator throttling 30%
//! of calls and failing 10% with a 5xx, and every fifth batch abandoned mid-flight (its
//! handler dropped after 40 ms to 1.3 s, nothing settled: a worker killed mid-batch). Every job must
//! end SUCCEEDED, or FAILED with a reason, once, with exactly one SNS notification and one
//! result event; lost and duplicated counts and time to terminal are printed.
//!
//! The bench's soak with worker processes killed is issue 15's last item; this is its
//! in-process form, small enough for every test run.

use crate::common::*;
use crate::lifecycle::{fifo_subscribers, receive_all};
use crate::producers::{SOURCE, message, producer_flow, producer_job_id};
use bedrock_sim::{Behavior, ErrorKind, Outcome};
use gateway::jobs::JobStore;
use gateway::jobs::callback::{CallbackSecrets, CallbackSettings};
use gateway_aws::callback::HttpCallbackSender;
use gateway_aws::jobs::{SnsJobNotifier, SqsJobQueue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use worker::Callbacks;

const PER_PRODUCER: usize = 20;
const CALLBACK_SECRET: &str = "whsec_Y2FsbGJhY2stc2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";

#[tokio::test]
async fn every_job_of_every_producer_ends_once_under_faults_and_kills() {
    let mut p = producer_flow().await;
    // Subscribers that deduplicate (FIFO topic, content-deduplicating FIFO results queue).
    let fifo = fifo_subscribers(&p.bus).await;
    p.flow.worker.notifier = SnsJobNotifier::new(testkit::moto().sns(), &fifo.topic);
    let sqs = testkit::moto().sqs();
    p.flow.worker.redelivery = Some(gateway_aws::jobs::SqsRedelivery::new(
        sqs.clone(),
        &p.flow.jobs_queue_url,
    ));
    // The deployed receive budget (JobsMaxReceiveCount's default).
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"5"}}"#,
        testkit::resources::queue_arn(&sqs, &p.flow.dlq_url).await
    );
    sqs.set_queue_attributes()
        .queue_url(&p.flow.jobs_queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            redrive,
        )
        .send()
        .await
        .unwrap();
    p.flow.worker.settings.max_receive_count = 5;
    // The deployed worker has the jobs queue (for callbacks, and to re-queue a job held by
    // another worker on its message's last delivery).
    let callbacks = Callbacks {
        queue: SqsJobQueue::new(sqs.clone(), &p.flow.jobs_queue_url),
        dead_letters: None,
        alerts: SnsJobNotifier::new(
            testkit::moto().sns(),
            testkit::resources::create_topic(
                &testkit::moto().sns(),
                &testkit::unique_name("alerts"),
            )
            .await,
        ),
        sender: HttpCallbackSender::new(),
        settings: CallbackSettings::new(CallbackSecrets::parse(CALLBACK_SECRET, None).unwrap()),
    };
    // Shorter than the queue's 1 s visibility timeout plus a poll: a killed batch's leases
    // have run out when its messages come back.
    p.flow.worker.settings.lease = Duration::from_millis(800);
    p.flow.worker.settings.notify_lease = Duration::from_secs(2);
    p.flow.worker.settings.redelivery_base = Duration::from_secs(1);
    p.flow.worker.settings.redelivery_max = Duration::from_secs(2);
    // 30% throttled, 10% 5xx, in a fixed random order.
    let mut rng = fastrand::Rng::with_seed(15);
    let script: Vec<Outcome> = (0..2_000)
        .map(|_| match rng.u8(0..10) {
            0..=2 => Outcome::Error(ErrorKind::ThrottlingException),
            3 => Outcome::Error(ErrorKind::InternalServerException),
            _ => Outcome::Ok,
        })
        .collect();
    p.flow.sim.set_behavior(HAIKU, Behavior::script(script));

    let key = p.flow.api_key("crm", |_| {}).await;
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..PER_PRODUCER {
        let (status, body) = p
            .flow
            .submit_as(Some(&key.api_key), &converse_job(&format!("api {i}")), None)
            .await;
        assert_eq!(status, 202, "{body}");
        sent.insert(body["job_id"].as_str().unwrap().to_owned(), now());
        let id = format!("sqs-{i}");
        p.flow
            .send_raw(&message(&id, &format!("sqs {i}")).to_string())
            .await;
        sent.insert(producer_job_id(&id), now());
        let id = format!("event-{i}");
        p.put_event(SOURCE, &message(&id, &format!("event {i}")))
            .await;
        sent.insert(producer_job_id(&id), now());
    }
    assert_eq!(sent.len(), 3 * PER_PRODUCER);

    let started = Instant::now();
    let mut terminal: BTreeMap<String, Value> = BTreeMap::new();
    let mut batches = 0u32;
    while terminal.len() < sent.len() && started.elapsed() < Duration::from_secs(150) {
        for poller in std::iter::once(&p.flow.jobs_poller).chain(&p.flow.events_poller) {
            let event = poller.receive().await.unwrap();
            if event.records.is_empty() {
                continue;
            }
            batches += 1;
            if batches.is_multiple_of(5) {
                // Killed mid-batch: whatever it claimed stays leased, nothing is settled. At
                // 40 ms to 1.3 s in: during model calls, finishing writes or announcements.
                let _ = tokio::time::timeout(
                    Duration::from_millis(40 << (batches / 5 % 6)),
                    p.flow.worker.handle_with(event.clone(), Some(&callbacks)),
                )
                .await;
            } else {
                let response = p
                    .flow
                    .worker
                    .handle_with(event.clone(), Some(&callbacks))
                    .await;
                poller.settle(&event, &response).await.unwrap();
            }
        }
        for id in sent.keys() {
            if terminal.contains_key(id) {
                continue;
            }
            if let Some(job) = p.flow.worker.store.get(id).await.unwrap()
                && job.status.is_terminal()
            {
                terminal.insert(id.clone(), serde_json::to_value(&job).unwrap());
            }
        }
    }
    let lost: Vec<&String> = sent
        .keys()
        .filter(|id| !terminal.contains_key(*id))
        .collect();
    // Let the last announcements land: messages of killed batches come back after the
    // visibility timeout, so the queue is done when nothing is visible or in flight.
    let settle_started = Instant::now();
    while settle_started.elapsed() < Duration::from_secs(60) {
        p.flow.drain().await;
        if queue_is_empty(&p.flow.jobs_queue_url).await {
            break;
        }
        sleep(500).await;
    }
    let mut notified: BTreeMap<String, usize> = BTreeMap::new();
    for note in receive_all(&fifo.notes_url).await {
        let body: Value = serde_json::from_str(note["Message"].as_str().unwrap_or("{}")).unwrap();
        *notified
            .entry(body["job_id"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    for detail in receive_all(&fifo.results_url).await {
        *events
            .entry(detail["job_id"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    // What a subscriber that does not deduplicate sees of the events: the republishes.
    let mut put: BTreeMap<String, usize> = BTreeMap::new();
    for event in p.result_events().await {
        *put.entry(event["detail"]["job_id"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    let republished = put.values().filter(|n| **n > 1).count();
    let dead = p.flow.dlq_bodies().await;
    let duplicated =
        notified.values().filter(|n| **n > 1).count() + events.values().filter(|n| **n > 1).count();
    let mut times: Vec<u64> = terminal
        .iter()
        .map(|(id, job)| {
            job["updated_at_ms"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(sent[id])
        })
        .collect();
    times.sort_unstable();
    let pct = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let failed = terminal
        .values()
        .filter(|job| job["status"] == "FAILED")
        .count();
    eprintln!(
        "soak: {} jobs (3 producers), 30% throttled + 10% 5xx, every 5th batch killed: lost {}, duplicated {}, events republished by killed workers {republished}, failed {failed}, {batches} batches, time to terminal p50 {} ms p99 {} ms",
        sent.len(),
        lost.len(),
        duplicated,
        pct(0.5),
        pct(0.99)
    );
    let mut stuck = Vec::new();
    for id in &lost {
        stuck.push(serde_json::to_value(p.flow.worker.store.get(id).await.unwrap()).unwrap());
    }
    assert!(
        lost.is_empty(),
        "jobs never terminal: {stuck:?}, DLQ {dead:?}"
    );
    // A pointer on its last delivery hands its job to a fresh, delayed pointer before the work
    // starts; if its worker is killed then, the old pointer reaches the DLQ although its job
    // goes on. So a dead-lettered pointer is allowed only for a job that ended (checked just
    // above: none is lost) — never one that did not.
    for body in &dead {
        let pointer: serde_json::Value = serde_json::from_str(body).unwrap();
        let id = pointer["job_id"].as_str().unwrap_or_default();
        assert!(
            terminal.iter().any(|(job, _)| job == id),
            "a dead-lettered message whose job did not end: {body}"
        );
    }
    // Exactly once at subscribers that deduplicate: a worker killed after publishing and before
    // recording it leaves the next delivery to publish again, which SNS FIFO (deduplication id =
    // job id) and the content-deduplicating results queue drop (moto enforces both, as AWS
    // does within 5 minutes).
    assert_eq!(
        duplicated, 0,
        "notifications {notified:?} events {events:?}"
    );
    for (id, job) in &terminal {
        assert_eq!(
            notified.get(id),
            Some(&1),
            "one notification for {id}: {notified:?}"
        );
        assert_eq!(
            events.get(id),
            Some(&1),
            "one result event for {id}: {events:?}"
        );
        if job["status"] == "FAILED" {
            assert!(job["error"]["code"].is_string(), "a reason: {job}");
        }
    }
}

/// Nothing visible, nothing in flight, nothing delayed.
async fn queue_is_empty(url: &str) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = testkit::moto()
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .all(|name| attributes.get(name).is_none_or(|n| n == "0"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
