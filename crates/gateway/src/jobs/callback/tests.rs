//! The callback state machine over in-memory ports: attempts, schedule, duplicates, deferral,
//! dead-lettering and alerts. The DynamoDB/SQS/HTTP adapters are tested against the emulator
//! and a local receiver in the worker's tests.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::GatewayError;
use crate::config::GatewayConfig;
use crate::jobs::model::{
    AttemptOutcome, CallbackAttempt, CallbackState, JobMessage, JobRecord, JobResult, JobStatus,
};
use crate::jobs::ports::{
    CallbackAlert, CallbackAlerts, CallbackSender, Claim, Created, DeliveryError, FinishClaims,
    JobOutcome, JobQueue, JobStore,
};
use crate::jobs::processor::RecordFailure;
use crate::jobs::submit::{JobSettings, prepare};
use crate::webhook::{CallbackPolicy, SsrfError};

thread_local! {
    static NOW: Cell<u64> = const { Cell::new(1_800_000_000_000) };
}

fn clock() -> u64 {
    NOW.with(Cell::get)
}

fn advance(ms: u64) {
    NOW.with(|now| now.set(now.get() + ms));
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct MemStore(Mutex<HashMap<String, JobRecord>>);

impl MemStore {
    fn with(job: JobRecord) -> Self {
        Self(Mutex::new(HashMap::from([(job.job_id.clone(), job)])))
    }

    fn job(&self, id: &str) -> JobRecord {
        self.0.lock().unwrap()[id].clone()
    }
}

fn unused<T>() -> Result<T, GatewayError> {
    Err(GatewayError::Internal("not used by callbacks".into()))
}

impl JobStore for MemStore {
    async fn create(&self, _: &JobRecord) -> Result<Created, GatewayError> {
        unused()
    }
    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>, GatewayError> {
        Ok(self.0.lock().unwrap().get(job_id).cloned())
    }
    async fn claim(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: u64,
        _: u64,
    ) -> Result<Claim, GatewayError> {
        unused()
    }
    async fn finish(
        &self,
        _: &str,
        _: &str,
        _: u64,
        _: &JobOutcome,
        _: FinishClaims,
    ) -> Result<Option<JobRecord>, GatewayError> {
        unused()
    }
    async fn release(&self, _: &str, _: &str, _: u64) -> Result<bool, GatewayError> {
        unused()
    }
    async fn claim_notification(&self, _: &str, _: u64, _: u64) -> Result<bool, GatewayError> {
        unused()
    }
    async fn claim_charge(&self, _: &str, _: u64) -> Result<bool, GatewayError> {
        unused()
    }

    async fn mark_notified(&self, _: &str, _: u64) -> Result<(), GatewayError> {
        unused()
    }
    async fn claim_callback(
        &self,
        job_id: &str,
        attempt: u32,
        now: u64,
        until: u64,
    ) -> Result<bool, GatewayError> {
        let mut jobs = self.0.lock().unwrap();
        let job = jobs.get_mut(job_id).unwrap();
        let free = match job.callback_state {
            Some(CallbackState::Pending) => true,
            Some(CallbackState::Sending) => job.callback_lease_until_ms.is_some_and(|l| l < now),
            _ => false,
        };
        if !job.status.is_terminal() || job.callback_sent + 1 != attempt || !free {
            return Ok(false);
        }
        job.callback_state = Some(CallbackState::Sending);
        job.callback_lease_until_ms = Some(until);
        Ok(true)
    }
    async fn record_callback_attempt(
        &self,
        job_id: &str,
        attempt: &CallbackAttempt,
        state: CallbackState,
        _: u64,
    ) -> Result<bool, GatewayError> {
        let mut jobs = self.0.lock().unwrap();
        let job = jobs.get_mut(job_id).unwrap();
        if job.callback_state != Some(CallbackState::Sending)
            || job.callback_sent + 1 != attempt.attempt
        {
            return Ok(false);
        }
        job.callback_state = Some(state);
        job.callback_sent = attempt.attempt;
        job.callback_attempts.push(attempt.clone());
        job.callback_lease_until_ms = None;
        Ok(true)
    }
}

#[derive(Default)]
struct MemQueue(Mutex<Vec<(JobMessage, Duration)>>);

impl MemQueue {
    fn take(&self) -> Vec<(JobMessage, Duration)> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl JobQueue for MemQueue {
    async fn enqueue(&self, message: &JobMessage, delay: Duration) -> Result<(), GatewayError> {
        self.0.lock().unwrap().push((message.clone(), delay));
        Ok(())
    }
}

#[derive(Default)]
struct MemAlerts(Mutex<Vec<CallbackAlert>>);

impl CallbackAlerts for MemAlerts {
    async fn alert(&self, alert: &CallbackAlert) -> Result<(), GatewayError> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

/// One POST as the sender was asked to make it: URL, headers, body.
type Sent = (String, Vec<(&'static str, String)>, Vec<u8>);

/// Answers from a script; records what it was asked to send.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<u16, DeliveryError>>>,
    sent: Mutex<Vec<Sent>>,
}

impl Scripted {
    fn answering(answers: impl IntoIterator<Item = Result<u16, DeliveryError>>) -> Self {
        Self {
            answers: Mutex::new(answers.into_iter().collect()),
            ..Self::default()
        }
    }

    fn calls(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

impl CallbackSender for Scripted {
    async fn post(
        &self,
        url: &str,
        _: &CallbackPolicy,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<u16, DeliveryError> {
        self.sent
            .lock()
            .unwrap()
            .push((url.to_owned(), headers.to_vec(), body.to_vec()));
        self.answers.lock().unwrap().pop_front().unwrap_or(Ok(200))
    }
}

fn finished_job(url: &str) -> JobRecord {
    let submit = serde_json::from_value(json!({
        "converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        "callback_url": url,
    }))
    .unwrap();
    let mut job = prepare(
        submit,
        &GatewayConfig::default(),
        "acme",
        "job-1".into(),
        clock(),
        JobSettings::default(),
    )
    .unwrap();
    job.status = JobStatus::Succeeded;
    job.result = Some(JobResult {
        model: "haiku".into(),
        text: "hello".into(),
        stop_reason: "end_turn".into(),
        cost_usd: None,
        response: json!({}),
    });
    job
}

struct Fixture {
    store: MemStore,
    queue: MemQueue,
    dlq: MemQueue,
    alerts: MemAlerts,
    sender: Scripted,
    settings: CallbackSettings,
    use_dlq: bool,
}

impl Fixture {
    fn new(answers: impl IntoIterator<Item = Result<u16, DeliveryError>>, schedule: &str) -> Self {
        let mut settings = CallbackSettings::new(CallbackSecrets::parse(SECRET, None).unwrap());
        settings.schedule = RetrySchedule::parse(schedule).unwrap();
        Self {
            store: MemStore::with(finished_job("https://hooks.example.com/cb?token=abc")),
            queue: MemQueue::default(),
            dlq: MemQueue::default(),
            alerts: MemAlerts::default(),
            sender: Scripted::answering(answers),
            settings,
            use_dlq: true,
        }
    }

    async fn process(&self, message: &JobMessage) -> Result<CallbackDisposition, RecordFailure> {
        CallbackProcessor {
            store: &self.store,
            queue: &self.queue,
            dead_letters: self.use_dlq.then_some(&self.dlq),
            alerts: &self.alerts,
            sender: &self.sender,
            settings: &self.settings,
            clock,
        }
        .process(message)
        .await
    }
}

fn first() -> JobMessage {
    JobMessage::callback("job-1", "acme", 1, None)
}

#[tokio::test]
async fn a_2xx_delivers_once_signed_with_the_job_id() {
    let fx = Fixture::new([Ok(204)], "5s");
    let done = fx.process(&first()).await.unwrap();
    assert!(matches!(
        done,
        CallbackDisposition::Attempted {
            attempt: 1,
            outcome: AttemptOutcome::Delivered,
            ..
        }
    ));
    let job = fx.store.job("job-1");
    assert_eq!(job.callback_state, Some(CallbackState::Delivered));
    assert_eq!(job.callback_attempts.len(), 1);
    assert_eq!(job.callback_attempts[0].status, Some(204));
    assert!(fx.queue.take().is_empty() && fx.dlq.take().is_empty());

    let (url, headers, body) = fx.sender.sent.lock().unwrap()[0].clone();
    assert_eq!(url, "https://hooks.example.com/cb?token=abc");
    let header = |name: &str| headers.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    assert_eq!(header("webhook-id"), "job-1");
    assert_eq!(header("webhook-timestamp"), (clock() / 1000).to_string());
    assert!(header("webhook-signature").starts_with("v1,"));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["type"], "job.succeeded");
    assert_eq!(body["data"]["result"]["text"], "hello");

    // The same message again (SQS at-least-once): nothing is sent twice.
    assert_eq!(
        fx.process(&first()).await.unwrap(),
        CallbackDisposition::AlreadyDone
    );
    assert_eq!(fx.sender.calls(), 1);
}

#[tokio::test]
async fn failures_schedule_the_next_attempt_and_record_each_one() {
    let fx = Fixture::new([Ok(500), Ok(302), Ok(200)], "5s,5m,30m");
    fx.process(&first()).await.unwrap();
    let queued = fx.queue.take();
    assert_eq!(queued.len(), 1);
    let (second, delay) = &queued[0];
    assert_eq!((second.attempt, *delay), (Some(2), Duration::from_secs(5)));
    assert_eq!(second.not_before_ms, Some(clock() + 5_000));
    let job = fx.store.job("job-1");
    assert_eq!(
        (job.callback_state, job.callback_sent),
        (Some(CallbackState::Pending), 1)
    );
    assert_eq!(job.callback_attempts[0].retry_at_ms, Some(clock() + 5_000));

    // Attempt 3's message arriving before attempt 2 was made is put back.
    let third_early = JobMessage::callback("job-1", "acme", 3, None);
    assert!(matches!(
        fx.process(&third_early).await,
        Err(RecordFailure::Busy(_))
    ));

    advance(5_000);
    fx.process(second).await.unwrap();
    let job = fx.store.job("job-1");
    assert_eq!(job.callback_attempts[1].status, Some(302));
    assert_eq!(
        job.callback_attempts[1].error.as_deref(),
        Some("redirect_not_followed")
    );
    let (third, delay) = fx.queue.take().pop().unwrap();
    assert_eq!(delay, Duration::from_secs(300));

    advance(300_000);
    fx.process(&third).await.unwrap();
    let job = fx.store.job("job-1");
    assert_eq!(job.callback_state, Some(CallbackState::Delivered));
    let statuses: Vec<_> = job.callback_attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(302), Some(200)]);
    assert!(fx.dlq.take().is_empty() && fx.alerts.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn gone_stops_at_once_without_an_alert() {
    let fx = Fixture::new([Ok(410)], "5s,5m");
    fx.process(&first()).await.unwrap();
    let job = fx.store.job("job-1");
    assert_eq!(job.callback_state, Some(CallbackState::Gone));
    assert!(fx.queue.take().is_empty() && fx.dlq.take().is_empty());
    assert!(fx.alerts.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_last_failure_is_dead_lettered_and_alerted_without_the_url_path() {
    let fx = Fixture::new([Err(DeliveryError::Timeout), Ok(503)], "1s");
    fx.process(&first()).await.unwrap();
    let (second, _) = fx.queue.take().pop().unwrap();
    advance(1_000);
    let done = fx.process(&second).await.unwrap();
    assert!(matches!(
        done,
        CallbackDisposition::Attempted {
            next: Next::GiveUp,
            ..
        }
    ));
    let job = fx.store.job("job-1");
    assert_eq!(job.callback_state, Some(CallbackState::Failed));
    assert_eq!(
        job.callback_attempts[0].error.as_deref(),
        Some("callback_timeout: timed out")
    );
    assert_eq!(fx.dlq.take(), vec![(second, Duration::ZERO)]);
    let alerts = fx.alerts.0.lock().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].host, "hooks.example.com");
    assert_eq!((alerts[0].attempts, alerts[0].last_status), (2, Some(503)));
    assert!(!serde_json::to_string(&alerts[0]).unwrap().contains("token"));
}

#[tokio::test]
async fn a_refused_url_is_given_up_on_the_first_attempt() {
    let refused = DeliveryError::Refused(SsrfError::ForbiddenAddress("10.0.0.1".parse().unwrap()));
    let fx = Fixture::new([Err(refused)], "5s,5m");
    fx.process(&first()).await.unwrap();
    let job = fx.store.job("job-1");
    assert_eq!(job.callback_state, Some(CallbackState::Failed));
    assert_eq!(job.callback_attempts[0].outcome, AttemptOutcome::Permanent);
    assert_eq!(
        job.callback_attempts[0].error.as_deref(),
        Some("callback_forbidden_address: callback address is not publicly routable")
    );
    assert_eq!(fx.dlq.take().len(), 1);
}

#[tokio::test]
async fn waits_beyond_the_sqs_cap_are_chained_without_an_attempt() {
    let fx = Fixture::new([], "2h");
    let later = JobMessage::callback("job-1", "acme", 1, Some(clock() + 2 * 3600 * 1000));
    assert_eq!(
        fx.process(&later).await.unwrap(),
        CallbackDisposition::Deferred
    );
    assert_eq!(fx.queue.take(), vec![(later, Duration::from_secs(900))]);
    assert_eq!(fx.sender.calls(), 0);
    assert_eq!(fx.store.job("job-1").callback_sent, 0);
}

#[tokio::test]
async fn unknown_jobs_are_poison_and_jobs_without_callbacks_are_skipped() {
    let fx = Fixture::new([], "");
    let unknown = JobMessage::callback("job-404", "acme", 1, None);
    assert!(matches!(
        fx.process(&unknown).await,
        Err(RecordFailure::Poison(_))
    ));
    {
        let mut jobs = fx.store.0.lock().unwrap();
        let job = jobs.get_mut("job-1").unwrap();
        job.callback_url = None;
        job.callback_state = None;
    }
    assert_eq!(
        fx.process(&first()).await.unwrap(),
        CallbackDisposition::NoCallback
    );
    assert_eq!(fx.sender.calls(), 0);
}

#[test]
fn old_run_bodies_still_parse_and_callback_bodies_round_trip() {
    let old: JobMessage = serde_json::from_str(r#"{"job_id":"job-1","tenant":"acme"}"#).unwrap();
    assert_eq!(old.kind, crate::jobs::model::MessageKind::Run);
    assert_eq!(
        serde_json::to_string(&old).unwrap(),
        r#"{"job_id":"job-1","tenant":"acme"}"#
    );
    let callback = JobMessage::callback("job-1", "acme", 2, Some(5));
    let text = serde_json::to_string(&callback).unwrap();
    assert_eq!(
        text,
        r#"{"job_id":"job-1","tenant":"acme","kind":"callback","attempt":2,"not_before_ms":5}"#
    );
    assert_eq!(serde_json::from_str::<JobMessage>(&text).unwrap(), callback);
}

#[tokio::test]
async fn without_a_dead_letter_queue_the_last_message_keeps_failing_for_the_redrive_policy() {
    let mut fx = Fixture::new([Ok(500)], "");
    fx.use_dlq = false;
    let failed = fx.process(&first()).await;
    assert!(
        matches!(failed, Err(RecordFailure::Poison(_))),
        "{failed:?}"
    );
    let job = fx.store.job("job-1");
    assert_eq!(
        (job.callback_state, job.callback_sent),
        (Some(CallbackState::Failed), 1)
    );
    assert_eq!(fx.alerts.0.lock().unwrap().len(), 1);
    // Each redelivery of that message fails again (no second POST, no second alert) until
    // maxReceiveCount moves it to the DLQ.
    for _ in 0..3 {
        assert!(matches!(
            fx.process(&first()).await,
            Err(RecordFailure::Poison(_))
        ));
    }
    assert_eq!(fx.sender.calls(), 1);
    assert_eq!(fx.alerts.0.lock().unwrap().len(), 1);
}
