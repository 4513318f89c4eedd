//! The worker's soak under faults (issue 15): jobs from the three producers at once — job
//! pointers as `POST /v1/jobs` leaves them (the gateway's own submit code), raw
//! `gateway.job.v1` messages on the jobs queue, and `GenAI Job Requested` events put on a bus
//! whose rule feeds the events queue — drained by `instances` processes of the release worker
//! binary under the harness's Runtime API, each polling both queues as Lambda's event source
//! mappings would. During the storm the simulator throttles 30% of calls and fails 10% with a
//! 5xx, and every few batches a worker process is killed (SIGKILL) mid-batch and replaced, as
//! Lambda replaces an instance; the killed batch is not settled, so its messages come back.
//!
//! After the storm (faults off, no more kills) the run waits until both queues are empty, then
//! checks every job: SUCCEEDED, or FAILED with a reason; exactly one notification at a FIFO
//! topic's subscriber and exactly one result event at a content-deduplicating FIFO queue
//! (docs/JOB_PRODUCERS.md); nothing dead-lettered. Reported: lost and duplicated counts, events
//! put more than once (what a subscriber that does not deduplicate would see), time to terminal
//! (p50/p99, submit → the record's last write) and the last terminal job after the storm's end.

use crate::invoke_host::InvokeHost;
use crate::procs::{self, Proc};
use crate::runtime_api;
use anyhow::{Context, bail};
use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_eventbridge::types::{InputTransformer, PutEventsRequestEntry, SqsParameters, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use event_source_emulator::sqs::SqsPoller;
use futures_util::StreamExt;
use gateway::config::GatewayConfig;
use gateway::jobs::producer::{DETAIL_TYPE_REQUESTED, SCHEMA_V1};
use gateway::jobs::submit::{self, JobSettings};
use gateway::jobs::{JobQueue, JobStatus, JobStore, NotificationState, SubmitJob};
use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};
use http::Method;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::resources::create_fifo_queue;

const FUNCTION_NAME: &str = "gateway-worker-soak";
const TENANT: &str = "bench";
const PRODUCER: &str = "bench";
const SOURCE: &str = "bench.soak";
const CALLBACK_SECRET: &str = "whsec_Y2FsbGJhY2stc2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";
/// One batch in this many, per lane, is killed during the storm.
const KILL_EVERY: usize = 6;
/// How far into a batch its process is killed (cycled): model calls, finishing, announcing.
const KILL_AFTER_MS: [u64; 5] = [30, 90, 250, 600, 1_200];
/// The storm lasts this long after the last job is submitted.
const STORM_AFTER_SUBMIT: Duration = Duration::from_secs(20);
/// Goal: the last job terminal within this long after the storm's end.
pub const GOAL_LAST_TERMINAL: Duration = Duration::from_secs(120);

pub struct SoakConfig {
    pub worker_bin: PathBuf,
    pub sim_bin: PathBuf,
    pub jobs: usize,
    pub instances: usize,
    pub log_dir: PathBuf,
}

#[derive(Debug, Default)]
pub struct SoakReport {
    pub jobs: usize,
    pub by_producer: [usize; 3],
    pub succeeded: usize,
    pub failed: usize,
    pub failed_without_reason: usize,
    /// FAILED jobs by their error code.
    pub failure_codes: BTreeMap<String, usize>,
    /// Jobs never created, or not terminal and announced at the end.
    pub lost: usize,
    pub dead_lettered: usize,
    pub duplicated_notifications: usize,
    pub duplicated_events: usize,
    pub missing_notifications: usize,
    pub missing_events: usize,
    /// Jobs whose result event was put more than once (a killed worker's republish).
    pub republished_events: usize,
    pub kills: usize,
    pub batches: usize,
    pub storm: Duration,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub last_after_storm_ms: u64,
    pub elapsed: Duration,
}

impl SoakReport {
    pub fn markdown(&self) -> String {
        let met = |ok: bool| if ok { "met" } else { "**not met**" };
        format!(
            "| jobs (API / SQS / EventBridge) | SUCCEEDED | FAILED (without reason) | lost | dead-lettered | duplicated notifications / events | missing notifications / events | events put twice (republished) | kills / batches | storm | time to terminal p50 / p99 | last terminal after the storm |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n\
             | {} ({} / {} / {}) | {} | {} ({}) | {} | {} | {} / {} | {} / {} | {} | {} / {} | {:.0} s | {:.1} s / {:.1} s | {:.1} s |\n\n\
             FAILED by code: {:?}.\n\n\
             Goals: lost 0 and duplicated 0: {}; last job terminal ≤ {} s after the storm: {}.\n",
            self.jobs,
            self.by_producer[0],
            self.by_producer[1],
            self.by_producer[2],
            self.succeeded,
            self.failed,
            self.failed_without_reason,
            self.lost,
            self.dead_lettered,
            self.duplicated_notifications,
            self.duplicated_events,
            self.missing_notifications,
            self.missing_events,
            self.republished_events,
            self.kills,
            self.batches,
            self.storm.as_secs_f64(),
            self.p50_ms as f64 / 1e3,
            self.p99_ms as f64 / 1e3,
            self.last_after_storm_ms as f64 / 1e3,
            self.failure_codes,
            met(self.lost == 0
                && self.duplicated_notifications == 0
                && self.duplicated_events == 0
                && self.missing_notifications == 0
                && self.missing_events == 0
                && self.dead_lettered == 0
                && self.failed_without_reason == 0),
            GOAL_LAST_TERMINAL.as_secs(),
            met(Duration::from_millis(self.last_after_storm_ms) <= GOAL_LAST_TERMINAL),
        )
    }
}

/// Everything the soak creates in the emulator.
struct Resources {
    table: String,
    jobs_url: String,
    jobs_arn: String,
    dlq_url: String,
    events_url: String,
    events_arn: String,
    bus: String,
    topic_arn: String,
    notes_url: String,
    results_fifo_url: String,
    results_url: String,
}

impl Resources {
    async fn create() -> anyhow::Result<Self> {
        let moto = testkit::moto();
        let (sqs, sns) = (moto.sqs(), moto.sns());
        let events = aws_sdk_eventbridge::Client::new(&moto.sdk_config());
        let table = testkit::unique_name("soak-jobs");
        testkit::resources::create_table(&moto.dynamodb(), &table, false, false).await;
        // Visibility longer than the 10 s job lease: a killed batch's leases have run out
        // when its messages come back. The deployed receive budget (5) before the DLQ.
        let jobs =
            testkit::resources::create_queue(&sqs, &testkit::unique_name("soak-jobs"), Some(5), 12)
                .await;
        let requests =
            testkit::resources::create_queue(&sqs, &testkit::unique_name("soak-ev"), None, 12)
                .await;
        let bus = testkit::unique_name("soak-bus");
        events.create_event_bus().name(&bus).send().await?;
        let topic_arn = sns
            .create_topic()
            .name(format!("{}.fifo", testkit::unique_name("soak-notes")))
            .attributes("FifoTopic", "true")
            .send()
            .await?
            .topic_arn()
            .context("topic arn")?
            .to_owned();
        let notes = create_fifo_queue(&sqs, &testkit::unique_name("soak-notes"), false).await;
        testkit::resources::subscribe_queue(&sns, &topic_arn, &notes.1, false).await;
        let results_fifo =
            create_fifo_queue(&sqs, &testkit::unique_name("soak-results"), true).await;
        let results =
            testkit::resources::create_queue(&sqs, &testkit::unique_name("soak-results"), None, 30)
                .await;
        let detail_only = InputTransformer::builder()
            .input_paths_map("detail", "$.detail")
            .input_template("<detail>")
            .build()?;
        let rules = [
            (
                "requests",
                json!({"detail-type": [DETAIL_TYPE_REQUESTED]}),
                Target::builder().id("q").arn(&requests.arn).build()?,
            ),
            (
                "results-fifo",
                json!({"source": ["genai.gateway"]}),
                Target::builder()
                    .id("q")
                    .arn(&results_fifo.1)
                    .sqs_parameters(SqsParameters::builder().message_group_id("r").build())
                    .input_transformer(detail_only)
                    .build()?,
            ),
            (
                "results",
                json!({"source": ["genai.gateway"]}),
                Target::builder().id("q").arn(&results.arn).build()?,
            ),
        ];
        for (rule, pattern, target) in rules {
            events
                .put_rule()
                .name(rule)
                .event_bus_name(&bus)
                .event_pattern(pattern.to_string())
                .send()
                .await?;
            events
                .put_targets()
                .rule(rule)
                .event_bus_name(&bus)
                .targets(target)
                .send()
                .await?;
        }
        Ok(Resources {
            table,
            jobs_url: jobs.url,
            jobs_arn: jobs.arn,
            dlq_url: jobs.dlq_url.context("DLQ")?,
            events_url: requests.url,
            events_arn: requests.arn,
            bus,
            topic_arn,
            notes_url: notes.0,
            results_fifo_url: results_fifo.0,
            results_url: results.url,
        })
    }

    fn worker_env(&self, sim: SocketAddr) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                testkit::moto().endpoint_url().to_owned(),
            ),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", format!("http://{sim}")),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("JOBS_TABLE", self.table.clone()),
            ("NOTIFY_TOPIC_ARN", self.topic_arn.clone()),
            ("JOBS_QUEUE_URL", self.jobs_url.clone()),
            ("JOBS_DLQ_URL", self.dlq_url.clone()),
            ("JOB_EVENTS_QUEUE_ARN", self.events_arn.clone()),
            ("EVENT_BUS_NAME", self.bus.clone()),
            (
                "JOB_PRODUCERS",
                json!({PRODUCER: {"tenant": TENANT, "event_sources": [SOURCE]}}).to_string(),
            ),
            ("MAX_RECEIVE_COUNT", "5".to_owned()),
            ("JOB_LEASE_SECS", "10".to_owned()),
            ("CALLBACK_SIGNING_SECRET", CALLBACK_SECRET.to_owned()),
            ("WORKER_CONCURRENCY", "8".to_owned()),
        ]
    }
}

/// 30% throttled, 10% 5xx, in a fixed pseudo-random order (xorshift), `n` calls long.
fn storm_behavior(n: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let script: Vec<&str> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 10 {
                0..=2 => "ThrottlingException",
                3 => "InternalServerException",
                _ => "ok",
            }
        })
        .collect();
    json!({ "script": script }).to_string()
}

fn producer_message(id: &str, prompt: &str) -> Value {
    json!({"schema": SCHEMA_V1, "producer": PRODUCER, "idempotency_id": id, "model": "haiku",
           "request": {"converse": {"messages": [{"role": "user", "content": [{"text": prompt}]}],
                                    "inferenceConfig": {"maxTokens": 200}}}})
}

fn producer_job_id(id: &str) -> String {
    submit::job_id(TENANT, Some(&format!("\0producer\0{PRODUCER}\0{id}")), "")
}

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

/// Submits `jobs` jobs, producers in turn; returns job id → submit time (ms).
async fn submit_all(
    resources: &Resources,
    jobs: usize,
) -> anyhow::Result<(BTreeMap<String, u64>, [usize; 3])> {
    let moto = testkit::moto();
    let store = DynamoJobStore::new(moto.dynamodb(), &resources.table);
    let pointers = SqsJobQueue::new(moto.sqs(), &resources.jobs_url);
    let sqs = moto.sqs();
    let events = aws_sdk_eventbridge::Client::new(&moto.sdk_config());
    let config = GatewayConfig::default();
    let mut sent = BTreeMap::new();
    let mut counts = [0usize; 3];
    for chunk_start in (0..jobs).step_by(30) {
        let mut entries = Vec::new();
        for i in chunk_start..(chunk_start + 30).min(jobs) {
            let prompt = format!("Soak job {i}: what is the capital of France? One sentence.");
            match i % 3 {
                0 => {
                    let body = json!({"converse": {"modelId": "haiku",
                        "messages": [{"role": "user", "content": [{"text": prompt}]}],
                        "inferenceConfig": {"maxTokens": 200}}});
                    let submission: SubmitJob = serde_json::from_value(body)?;
                    let id = submit::job_id(TENANT, None, &format!("soak-api-{i}"));
                    let record = submit::prepare(
                        submission,
                        &config,
                        TENANT,
                        id,
                        now_ms(),
                        JobSettings::default(),
                    )?;
                    store.create(&record).await?;
                    pointers.enqueue(&record.message(), Duration::ZERO).await?;
                    sent.insert(record.job_id.clone(), now_ms());
                }
                1 => {
                    let id = format!("soak-sqs-{i}");
                    sqs.send_message()
                        .queue_url(&resources.jobs_url)
                        .message_body(producer_message(&id, &prompt).to_string())
                        .send()
                        .await?;
                    sent.insert(producer_job_id(&id), now_ms());
                }
                _ => {
                    let id = format!("soak-event-{i}");
                    entries.push(
                        PutEventsRequestEntry::builder()
                            .event_bus_name(&resources.bus)
                            .source(SOURCE)
                            .detail_type(DETAIL_TYPE_REQUESTED)
                            .detail(producer_message(&id, &prompt).to_string())
                            .build(),
                    );
                    sent.insert(producer_job_id(&id), 0);
                }
            }
            counts[i % 3] += 1;
        }
        // Ten entries per PutEvents.
        for batch in entries.chunks(10) {
            let output = events
                .put_events()
                .set_entries(Some(batch.to_vec()))
                .send()
                .await?;
            if output.failed_entry_count() > 0 {
                bail!("PutEvents refused {} entries", output.failed_entry_count());
            }
        }
        let now = now_ms();
        for submitted in sent.values_mut().filter(|t| **t == 0) {
            *submitted = now;
        }
    }
    Ok((sent, counts))
}

/// One Lambda instance: a Runtime API with one worker process, replaced when killed.
struct Lane {
    index: usize,
    host: InvokeHost,
    process: RefCell<Option<Proc>>,
    spawned: Cell<usize>,
}

impl Lane {
    async fn start(
        index: usize,
        config: &SoakConfig,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let lane = Lane {
            index,
            host: InvokeHost::start(FUNCTION_NAME).await?,
            process: RefCell::new(None),
            spawned: Cell::new(0),
        };
        lane.spawn(config, env).await?;
        Ok(lane)
    }

    /// A fresh worker process, ready when it first polls.
    async fn spawn(&self, config: &SoakConfig, env: &[(&str, String)]) -> anyhow::Result<()> {
        let polls = self.host.polls();
        let command = runtime_api::lambda_command(
            &config.worker_bin,
            self.host.addr,
            FUNCTION_NAME,
            env.iter().map(|(k, v)| (*k, v.clone())),
        );
        let n = self.spawned.get();
        self.spawned.set(n + 1);
        let name = format!("soak-worker-{}-{n}", self.index);
        *self.process.borrow_mut() = Some(Proc::spawn(&name, command, None, &config.log_dir)?);
        let started = Instant::now();
        while self.host.polls() <= polls {
            if let Some(problem) = self.host.problem() {
                bail!("the worker: {problem}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("worker {name} did not poll within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    fn kill(&self) {
        if let Some(process) = self.process.borrow_mut().take() {
            process.stop();
        }
    }
}

/// Shared state of the drive loop.
struct Drive {
    storm: Cell<bool>,
    done: Cell<bool>,
    kills: Cell<usize>,
    batches: Cell<usize>,
}

async fn lane_loop(
    lane: &Lane,
    drive: &Drive,
    pollers: &[SqsPoller; 2],
    config: &SoakConfig,
    env: &[(&str, String)],
) -> anyhow::Result<()> {
    let mut own_batches = 0usize;
    while !drive.done.get() {
        let mut idle = true;
        for poller in pollers {
            // The emulator sometimes fails a call under this load: the event source mapping
            // polls again, as Lambda's would.
            let event = match poller.receive().await {
                Ok(event) => event,
                Err(error) => {
                    eprintln!(
                        "gateway-bench: soak: sqs:ReceiveMessage failed, polling again: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if event.records.is_empty() {
                continue;
            }
            idle = false;
            own_batches += 1;
            drive.batches.set(drive.batches.get() + 1);
            let payload = serde_json::to_string(&event)?;
            let kill_after = (drive.storm.get() && own_batches.is_multiple_of(KILL_EVERY))
                .then(|| KILL_AFTER_MS[(own_batches / KILL_EVERY) % KILL_AFTER_MS.len()]);
            let invoke = lane.host.invoke(payload);
            let answer = match kill_after {
                Some(ms) => {
                    tokio::select! {
                        answer = invoke => Some(answer),
                        _ = tokio::time::sleep(Duration::from_millis(ms)) => None,
                    }
                }
                None => Some(
                    tokio::time::timeout(Duration::from_secs(120), invoke)
                        .await
                        .context("a batch was not answered within 120 s")?,
                ),
            };
            let Some(answer) = answer else {
                // Killed mid-batch: nothing is settled; its messages come back.
                lane.kill();
                drive.kills.set(drive.kills.get() + 1);
                lane.spawn(config, env).await?;
                continue;
            };
            let body = answer?;
            let response: SqsBatchResponse = serde_json::from_slice(&body).with_context(|| {
                format!("not a batch response: {}", String::from_utf8_lossy(&body))
            })?;
            // A refused delete (the batch outlived its visibility and was received again)
            // only brings it back: the worker finds its jobs done.
            if let Err(error) = poller.settle(&event, &response).await {
                eprintln!("gateway-bench: soak: sqs:DeleteMessage failed: {error}");
            }
        }
        if idle {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Nothing visible, in flight or delayed on the queue.
async fn queue_is_empty(url: &str) -> anyhow::Result<bool> {
    let attributes = testkit::moto()
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    Ok([
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .all(|name| attributes.get(name).is_none_or(|n| n == "0")))
}

/// Every message on the queue, bodies parsed, deleted as read. Each is received once (a long
/// visibility timeout), so a delete the emulator refuses cannot count it twice.
async fn receive_all(url: &str) -> anyhow::Result<Vec<Value>> {
    let sqs = testkit::moto().sqs();
    let mut all = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(900)
            .wait_time_seconds(1)
            .send()
            .await?;
        if output.messages().is_empty() {
            return Ok(all);
        }
        for message in output.messages() {
            all.push(serde_json::from_str(message.body().unwrap_or("null")).unwrap_or(Value::Null));
            if let Err(error) = sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
            {
                eprintln!("gateway-bench: soak: reading {url}: sqs:DeleteMessage: {error}");
            }
        }
    }
}

fn count_by(values: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    counts
}

async fn sim_behavior(sim: SocketAddr, body: &str) -> anyhow::Result<()> {
    crate::client::call_ok(sim, Method::PUT, "/_sim/behavior", body).await?;
    Ok(())
}

pub async fn run(config: &SoakConfig) -> anyhow::Result<SoakReport> {
    let _ = testkit::moto();
    let (sim, sim_addr) =
        procs::start_sim(&config.sim_bin, "soak-sim", None, &config.log_dir).await?;
    let resources = Resources::create().await?;
    let env = resources.worker_env(sim_addr);
    // Calls beyond the script answer normally; the storm's end clears it anyway.
    sim_behavior(sim_addr, &storm_behavior(config.jobs * 20)).await?;

    let mut lanes = Vec::with_capacity(config.instances);
    for index in 0..config.instances.max(1) {
        lanes.push(Lane::start(index, config, &env).await?);
    }
    let pollers = || {
        let sqs = testkit::moto().sqs();
        let mut jobs = SqsPoller::new(sqs.clone(), &resources.jobs_url, &resources.jobs_arn);
        let mut events = SqsPoller::new(sqs, &resources.events_url, &resources.events_arn);
        jobs.wait_seconds = 0;
        events.wait_seconds = 0;
        [jobs, events]
    };
    let lane_pollers: Vec<[SqsPoller; 2]> = lanes.iter().map(|_| pollers()).collect();
    let drive = Drive {
        storm: Cell::new(true),
        done: Cell::new(false),
        kills: Cell::new(0),
        batches: Cell::new(0),
    };
    let started = Instant::now();
    let started_ms = now_ms();
    let storm_end_ms = Cell::new(0u64);
    let (drove, watched) = tokio::join!(
        futures_util::future::join_all(
            lanes
                .iter()
                .zip(&lane_pollers)
                .map(|(lane, pollers)| lane_loop(lane, &drive, pollers, config, &env))
        ),
        async {
            let submitted = submit_all(&resources, config.jobs).await;
            if submitted.is_ok() {
                tokio::time::sleep(STORM_AFTER_SUBMIT).await;
            }
            // The storm ends: faults off, no more kills.
            drive.storm.set(false);
            storm_end_ms.set(now_ms());
            let cleared = sim_behavior(sim_addr, "{}").await;
            let deadline = Instant::now() + Duration::from_secs(600);
            let mut empty_twice = 0;
            while empty_twice < 2 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let empty = queue_is_empty(&resources.jobs_url).await.unwrap_or(false)
                    && queue_is_empty(&resources.events_url).await.unwrap_or(false);
                empty_twice = if empty { empty_twice + 1 } else { 0 };
            }
            drive.done.set(true);
            cleared.and(submitted)
        }
    );
    let (sent, by_producer) = watched?;
    for result in drove {
        result?;
    }
    let elapsed = started.elapsed();
    for lane in &lanes {
        lane.kill();
    }
    sim.stop();

    // Every job's record, as its owner would read it.
    let store = DynamoJobStore::new(testkit::moto().dynamodb(), &resources.table);
    let records: Vec<(String, Option<gateway::jobs::JobRecord>)> =
        futures_util::stream::iter(&sent)
            .map(|(id, _)| {
                let store = &store;
                async move { (id.clone(), store.get(id).await.ok().flatten()) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
    let notified = count_by(receive_all(&resources.notes_url).await?.iter().map(|note| {
        let message: Value =
            serde_json::from_str(note["Message"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
        message["job_id"].as_str().unwrap_or("").to_owned()
    }));
    let announced = count_by(
        receive_all(&resources.results_fifo_url)
            .await?
            .iter()
            .map(|detail| detail["job_id"].as_str().unwrap_or("").to_owned()),
    );
    let put = count_by(
        receive_all(&resources.results_url)
            .await?
            .iter()
            .map(|event| event["detail"]["job_id"].as_str().unwrap_or("").to_owned()),
    );
    let dead_lettered = receive_all(&resources.dlq_url).await?.len();

    let mut report = SoakReport {
        jobs: sent.len(),
        by_producer,
        dead_lettered,
        kills: drive.kills.get(),
        batches: drive.batches.get(),
        storm: Duration::from_millis(storm_end_ms.get().saturating_sub(started_ms)),
        elapsed,
        republished_events: put.values().filter(|n| **n > 1).count(),
        ..SoakReport::default()
    };
    let mut times = Vec::new();
    let mut last_terminal = 0u64;
    for (id, record) in &records {
        let Some(job) = record else {
            report.lost += 1;
            continue;
        };
        if !job.status.is_terminal() || job.notification != NotificationState::Sent {
            report.lost += 1;
            continue;
        }
        match job.status {
            JobStatus::Succeeded => report.succeeded += 1,
            _ => {
                report.failed += 1;
                let code = job
                    .error
                    .as_ref()
                    .map(|e| e.code.clone())
                    .unwrap_or_default();
                if code.is_empty() {
                    report.failed_without_reason += 1;
                }
                *report.failure_codes.entry(code).or_default() += 1;
            }
        }
        times.push(job.updated_at_ms.saturating_sub(sent[id]));
        last_terminal = last_terminal.max(job.updated_at_ms);
        match notified.get(id) {
            Some(1) => {}
            Some(_) => report.duplicated_notifications += 1,
            None => report.missing_notifications += 1,
        }
        match announced.get(id) {
            Some(1) => {}
            Some(_) => report.duplicated_events += 1,
            None => report.missing_events += 1,
        }
    }
    times.sort_unstable();
    let pct = |q: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    report.p50_ms = pct(0.5);
    report.p99_ms = pct(0.99);
    report.last_after_storm_ms = last_terminal.saturating_sub(storm_end_ms.get());
    Ok(report)
}

/// `gateway-bench soak`: runs the soak and prints its report (Markdown), failing the run when
/// a job was lost, duplicated or left without its announcements.
pub async fn main(
    args: &crate::cli::Args,
    log_dir: PathBuf,
) -> anyhow::Result<std::process::ExitCode> {
    let config = SoakConfig {
        worker_bin: crate::cli::existing(&args.worker_bin)?,
        sim_bin: args.binary("bedrock-sim")?,
        jobs: args.jobs,
        instances: args.worker_instances.iter().copied().max().unwrap_or(1),
        log_dir,
    };
    eprintln!(
        "gateway-bench: soak ({} jobs, {} worker instance(s), worker logs in {})…",
        config.jobs,
        config.instances,
        config.log_dir.display()
    );
    let report = run(&config).await?;
    println!(
        "Soak: `gateway-bench soak --jobs {} --worker-instances {}` ({:.0} s)\n\n{}",
        config.jobs,
        config.instances,
        report.elapsed.as_secs_f64(),
        report.markdown()
    );
    let clean = report.lost == 0
        && report.duplicated_notifications == 0
        && report.duplicated_events == 0
        && report.missing_notifications == 0
        && report.missing_events == 0
        && report.dead_lettered == 0
        && report.failed_without_reason == 0;
    Ok(if clean {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
