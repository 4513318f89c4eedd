//! Worker throughput: jobs per second through the real worker binary, next to the emulator's
//! own ceiling for the same SQS, DynamoDB and SNS operations.
//!
//! Both phases drain the same kind of queue of freshly submitted jobs (each a record in a new
//! jobs table and a message on a new queue, made by the gateway's own submit code, outside the
//! timing), with the same event source mapping loop: `lanes` loops, each receiving a batch of
//! up to 10 messages, handing it over, and deleting the messages not reported as failed — what
//! Lambda's SQS event source mapping does for `lanes` concurrent instances.
//! - **Ceiling** (the emulator alone): the batch goes to the gateway's `JobProcessor` in this
//!   process, with the real DynamoDB and SNS adapters and a model runner that answers at once
//!   with a captured simulator reply: every emulator call the worker makes per job (GetItem,
//!   four conditional UpdateItems, Publish), at the worker's per-batch concurrency, and no
//!   Lambda, no gateway call path, no Bedrock.
//! - **End to end**: the batch goes, as an SQS event, through the harness's Runtime API to
//!   `lanes` processes of the release worker binary (each a Lambda instance), which call
//!   bedrock-sim through the gateway and moto through the AWS SDK.
//!
//! Afterwards every job must be `SUCCEEDED` with a result and its notification sent, and in the
//! end-to-end phase the simulator must have been called exactly once per job; otherwise the run
//! fails. Jobs/s = jobs ÷ (first receive → last delete).

use crate::invoke_host::InvokeHost;
use crate::procs::{self, Proc};
use crate::recording_proxy::{self, CallLog, Upstream};
use crate::runtime_api;
use anyhow::{Context, bail};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use event_source_emulator::sqs::SqsPoller;
use futures_util::StreamExt;
use gateway::GatewayError;
use gateway::api::converse::{ConverseRequest, ConverseResponse};
use gateway::config::GatewayConfig;
use gateway::controls::pricing::Pricing;
use gateway::jobs::processor::{JobAnswer, JobProcessor, JobRunner, ProcessorSettings};
use gateway::jobs::submit::{self, JobSettings};
use gateway::jobs::{JobQueue, JobStatus, JobStore, NoCharges, NotificationState, SubmitJob};
use gateway_aws::jobs::{DynamoJobStore, SnsJobNotifier, SqsJobQueue};
use gateway_aws::lambda_batch::sqs_batch_response;
use http::Method;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const GOAL_RATIO: f64 = 0.8;
const FUNCTION_NAME: &str = "gateway-worker";
/// Messages per batch: the template's event source mapping batch size.
const BATCH_SIZE: i32 = 10;

pub struct WorkerBenchConfig {
    /// The Lambda binary (the bootstrap from the worker zip in a full run).
    pub worker_bin: PathBuf,
    pub sim_bin: PathBuf,
    pub jobs: usize,
    pub repeats: usize,
    /// Concurrent instances (event source mapping lanes) to measure, e.g. 1 and 4.
    pub instances: Vec<usize>,
    /// Records a worker runs at once within a batch (`WORKER_CONCURRENCY`; 8 is its default).
    pub concurrency: usize,
    pub log_dir: PathBuf,
    /// How long one phase may take before the run fails.
    pub timeout: Duration,
}

/// One drained queue.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    pub jobs: usize,
    pub elapsed: Duration,
    pub batches: usize,
    /// Records the handler reported as failed (they come back after the visibility timeout).
    pub item_failures: usize,
}

impl Drained {
    pub fn jobs_per_second(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One repeat at one instance count.
#[derive(Debug, Clone)]
pub struct WorkerRun {
    pub instances: usize,
    pub ceiling: Drained,
    pub end_to_end: Drained,
    /// CPU time of the worker processes (user + sys, all instances) per job, µs.
    pub worker_cpu_us_per_job: f64,
    /// Largest VmHWM among the worker processes, KiB.
    pub worker_peak_rss_kib: u64,
    pub sim_calls_per_job: f64,
}

impl WorkerRun {
    pub fn ratio(&self) -> f64 {
        self.end_to_end.jobs_per_second() / self.ceiling.jobs_per_second()
    }
}

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

/// Answers every job at once with the same captured reply: the ceiling leaves the model out.
struct InstantRunner(ConverseResponse);

impl JobRunner for InstantRunner {
    async fn run(
        &self,
        _caller: gateway::service::Caller<'_>,
        model: &str,
        _request: &ConverseRequest,
    ) -> Result<JobAnswer, GatewayError> {
        Ok(JobAnswer {
            response: self.0.clone(),
            model: model.to_owned(),
            region: None,
        })
    }
}

/// A jobs table, queue and topic of their own, with `jobs` jobs submitted.
struct Fixture {
    table: String,
    queue_url: String,
    queue_arn: String,
    topic_arn: String,
    job_ids: Vec<String>,
}

async fn fixture(jobs: usize, config: &GatewayConfig) -> anyhow::Result<Fixture> {
    let moto = testkit::moto();
    let table = testkit::unique_name("bench-jobs");
    testkit::resources::create_table(&moto.dynamodb(), &table, false, false).await;
    // The template's visibility timeout is six times the function timeout; a record reported
    // failed comes back after it, so keep it short enough to finish within the phase timeout.
    let queue =
        testkit::resources::create_queue(&moto.sqs(), &testkit::unique_name("bench-jobs"), None, 5)
            .await;
    let topic_arn =
        testkit::resources::create_topic(&moto.sns(), &testkit::unique_name("bench-jobs")).await;
    let store = DynamoJobStore::new(moto.dynamodb(), &table);
    let queue_client = SqsJobQueue::new(moto.sqs(), &queue.url);
    let now = now_ms();
    // Distinct prompts, so no cache can answer a job for another.
    let records = (0..jobs)
        .map(|i| {
            let body = serde_json::json!({ "converse": {
                "modelId": "haiku",
                "messages": [{"role": "user", "content": [{"text": format!("Job {i}: what is the capital of France? One sentence.")}]}],
                "inferenceConfig": {"maxTokens": 200}
            }});
            let submit: SubmitJob = serde_json::from_value(body)?;
            let id = submit::job_id("bench", None, &uuid::Uuid::new_v4().simple().to_string());
            Ok(submit::prepare(
                submit,
                config,
                "bench",
                id,
                now,
                JobSettings::default(),
            )?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let seeded: Vec<anyhow::Result<()>> = futures_util::stream::iter(&records)
        .map(|record| {
            let (store, queue_client) = (&store, &queue_client);
            async move {
                store.create(record).await?;
                queue_client
                    .enqueue(&record.message(), Duration::ZERO)
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for result in seeded {
        result.context("submitting the benchmark's jobs")?;
    }
    Ok(Fixture {
        table,
        queue_url: queue.url,
        queue_arn: queue.arn,
        topic_arn,
        job_ids: records.into_iter().map(|r| r.job_id).collect(),
    })
}

/// The event source mapping: `lanes` loops receive, hand over and settle batches until `jobs`
/// messages are deleted.
async fn drain<F, Fut>(
    fixture: &Fixture,
    lanes: usize,
    timeout: Duration,
    handle: F,
) -> anyhow::Result<Drained>
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = anyhow::Result<SqsBatchResponse>>,
{
    let mut poller = SqsPoller::new(
        testkit::moto().sqs(),
        &fixture.queue_url,
        &fixture.queue_arn,
    );
    poller.batch_size = BATCH_SIZE;
    // No long poll: an empty receive near the end must not hold a lane for a second.
    poller.wait_seconds = 0;
    let jobs = fixture.job_ids.len();
    let (deleted, batches, failures) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let started = Instant::now();
    let lane = || async {
        while deleted.load(Ordering::SeqCst) < jobs {
            if started.elapsed() > timeout {
                bail!(
                    "{} of {jobs} jobs done after {timeout:?}",
                    deleted.load(Ordering::SeqCst)
                );
            }
            let event = poller.receive().await.context("sqs:ReceiveMessage")?;
            if event.records.is_empty() {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            // A handler that never answers (a worker process died mid-batch) must fail the
            // run, not hang it.
            let left = timeout.saturating_sub(started.elapsed());
            let response = match tokio::time::timeout(left, handle(event.clone())).await {
                Ok(response) => response?,
                Err(_) => bail!(
                    "a batch was not answered within {timeout:?}; {} of {jobs} jobs done",
                    deleted.load(Ordering::SeqCst)
                ),
            };
            batches.fetch_add(1, Ordering::SeqCst);
            failures.fetch_add(response.batch_item_failures.len(), Ordering::SeqCst);
            let n = poller
                .settle(&event, &response)
                .await
                .context("sqs:DeleteMessage")?;
            deleted.fetch_add(n, Ordering::SeqCst);
        }
        Ok(())
    };
    let results = futures_util::future::join_all((0..lanes).map(|_| lane())).await;
    let elapsed = started.elapsed();
    for result in results {
        result?;
    }
    Ok(Drained {
        jobs,
        elapsed,
        batches: batches.into_inner(),
        item_failures: failures.into_inner(),
    })
}

/// Every job finished, with a result, and announced exactly as the worker promises.
async fn verify(fixture: &Fixture, phase: &str) -> anyhow::Result<()> {
    let store = DynamoJobStore::new(testkit::moto().dynamodb(), &fixture.table);
    let checks: Vec<anyhow::Result<()>> = futures_util::stream::iter(&fixture.job_ids)
        .map(|id| {
            let store = &store;
            async move {
                let job = store.get(id).await?.context("the job record is gone")?;
                if job.status != JobStatus::Succeeded
                    || job.result.is_none()
                    || job.notification != NotificationState::Sent
                {
                    bail!(
                        "job {id} ended {:?} (result: {}, notification {:?}, error {:?})",
                        job.status,
                        job.result.is_some(),
                        job.notification,
                        job.error
                    );
                }
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let failed: Vec<String> = checks
        .into_iter()
        .filter_map(|c| c.err().map(|e| format!("{e:#}")))
        .collect();
    if let Some(first) = failed.first() {
        bail!(
            "{phase}: {} of {} jobs did not finish as promised; first: {first}",
            failed.len(),
            fixture.job_ids.len()
        );
    }
    Ok(())
}

/// A reply of the simulator's, as the model runner of the ceiling phase returns it.
async fn captured_reply(sim: std::net::SocketAddr) -> anyhow::Result<ConverseResponse> {
    let body = crate::client::call_ok(
        sim,
        Method::POST,
        &format!("/model/{}/converse", crate::overhead::MODEL_PATH_ID),
        crate::overhead::CONVERSE_BODY,
    )
    .await?;
    serde_json::from_slice(&body).context("the simulator's Converse reply does not parse")
}

async fn ceiling(
    config: &WorkerBenchConfig,
    lanes: usize,
    gateway: &GatewayConfig,
    reply: &ConverseResponse,
) -> anyhow::Result<Drained> {
    let fixture = fixture(config.jobs, gateway).await?;
    let moto = testkit::moto();
    let store = DynamoJobStore::new(moto.dynamodb(), &fixture.table);
    let notifier = SnsJobNotifier::new(moto.sns(), &fixture.topic_arn);
    let runner = InstantRunner(reply.clone());
    // The worker prices every answer too.
    let pricing =
        Pricing::new(gateway, Some("us-east-1".to_owned())).map_err(anyhow::Error::msg)?;
    let processor = JobProcessor {
        store: &store,
        notifier: &notifier,
        runner: &runner,
        callbacks: None::<&SqsJobQueue>,
        settings: ProcessorSettings::default(),
        clock: now_ms,
        pricing: Some(&pricing),
        // The bench's jobs are submitted without controls: they carry no charge.
        charges: None::<&NoCharges>,
        events: None,
    };
    let processor = &processor;
    let drained = drain(&fixture, lanes, config.timeout, |event| async move {
        let failed: Vec<String> = futures_util::stream::iter(event.records)
            .map(|record| async move {
                let receive_count = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let body = record.body.as_deref().unwrap_or_default();
                match processor.process(body, receive_count).await {
                    Ok(_) => None,
                    Err(_) => record.message_id.clone(),
                }
            })
            .buffer_unordered(config.concurrency.max(1))
            .filter_map(|failed| async move { failed })
            .collect()
            .await;
        Ok(sqs_batch_response(failed))
    })
    .await?;
    verify(&fixture, "ceiling").await?;
    Ok(drained)
}

struct EndToEnd {
    drained: Drained,
    /// Calls the proxy forwarded while the queue drained, when the calls were recorded.
    calls: Vec<crate::recording_proxy::Call>,
    cpu_us_per_job: f64,
    peak_rss_kib: u64,
    sim_calls_per_job: f64,
}

async fn end_to_end(
    config: &WorkerBenchConfig,
    lanes: usize,
    gateway: &GatewayConfig,
    sim: std::net::SocketAddr,
    run: usize,
    record: Option<&Arc<CallLog>>,
) -> anyhow::Result<EndToEnd> {
    let fixture = fixture(config.jobs, gateway).await?;
    let host = InvokeHost::start(FUNCTION_NAME).await?;
    let mut moto_url = testkit::moto().endpoint_url().to_owned();
    let mut sim_url = format!("http://{sim}");
    if let Some(log) = record {
        let moto_addr = recording_proxy::socket_addr(&moto_url)?;
        moto_url = format!(
            "http://{}",
            recording_proxy::listen(Upstream::Moto, moto_addr, log.clone()).await?
        );
        sim_url = format!(
            "http://{}",
            recording_proxy::listen(Upstream::Bedrock, sim, log.clone()).await?
        );
    }
    let mark = record.map(|log| log.mark()).unwrap_or(0);
    let mut workers = Vec::with_capacity(lanes);
    for instance in 0..lanes {
        let command: Command = runtime_api::lambda_command(
            &config.worker_bin,
            host.addr,
            FUNCTION_NAME,
            [
                ("AWS_ENDPOINT_URL", moto_url.clone()),
                ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim_url.clone()),
                ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
                ("JOBS_TABLE", fixture.table.clone()),
                ("NOTIFY_TOPIC_ARN", fixture.topic_arn.clone()),
                ("WORKER_CONCURRENCY", config.concurrency.to_string()),
            ],
        );
        workers.push(Proc::spawn(
            &format!("worker-{run}-{lanes}-{instance}"),
            command,
            None,
            &config.log_dir,
        )?);
    }
    // Every instance's init is done when it first polls.
    let started = Instant::now();
    while host.polls() < lanes as u64 {
        for worker in &mut workers {
            worker.check_alive()?;
        }
        if let Some(problem) = host.problem() {
            bail!("the worker: {problem}");
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "{} of {lanes} worker instances polled within 30 s; output:\n{}",
                host.polls(),
                workers.first().map(Proc::log_tail).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu_before: Duration = workers.iter().filter_map(|w| w.cpu_time().ok()).sum();
    let sim_before = crate::overhead::sim_calls(sim).await?;
    let host = &host;
    let drained = drain(&fixture, lanes, config.timeout, |event| async move {
        let payload = serde_json::to_string(&event)?;
        let body = host.invoke(payload).await?;
        serde_json::from_slice::<SqsBatchResponse>(&body).with_context(|| {
            format!(
                "the worker's answer is not a batch response: {}",
                String::from_utf8_lossy(&body)
            )
        })
    })
    .await;
    let drained = match drained {
        Ok(d) => d,
        Err(e) => {
            let tail = workers.first().map(Proc::log_tail).unwrap_or_default();
            return Err(e.context(format!("end to end; first worker's output:\n{tail}")));
        }
    };
    let cpu_after: Duration = workers.iter().filter_map(|w| w.cpu_time().ok()).sum();
    let peak_rss_kib = workers
        .iter()
        .filter_map(|w| w.peak_rss_kib().ok())
        .max()
        .unwrap_or(0);
    let sim_calls = crate::overhead::sim_calls(sim).await? - sim_before;
    let calls = record.map(|log| log.since(mark)).unwrap_or_default();
    for worker in workers {
        worker.stop();
    }
    if let Some(problem) = host.problem() {
        bail!("the worker: {problem}");
    }
    verify(&fixture, "end to end").await?;
    let jobs = drained.jobs as f64;
    Ok(EndToEnd {
        drained,
        calls,
        cpu_us_per_job: cpu_after.saturating_sub(cpu_before).as_secs_f64() * 1e6 / jobs,
        peak_rss_kib,
        sim_calls_per_job: sim_calls as f64 / jobs,
    })
}

/// The AWS calls the worker made per job (operation → calls per job), counted by the recording
/// proxy on a separate, untimed pass of one instance (the proxy would slow the timed ones).
pub type CallsPerJob = std::collections::BTreeMap<String, f64>;

async fn count_calls(
    config: &WorkerBenchConfig,
    gateway: &GatewayConfig,
    sim: std::net::SocketAddr,
) -> anyhow::Result<(usize, CallsPerJob)> {
    let log = Arc::new(CallLog::default());
    let counted = WorkerBenchConfig {
        jobs: config.jobs.min(20),
        worker_bin: config.worker_bin.clone(),
        sim_bin: config.sim_bin.clone(),
        instances: vec![1],
        log_dir: config.log_dir.clone(),
        ..*config
    };
    let e2e = end_to_end(&counted, 1, gateway, sim, usize::MAX, Some(&log))
        .await
        .context("worker call count (through the recording proxy)")?;
    let jobs = e2e.drained.jobs.max(1) as f64;
    let mut per_job = CallsPerJob::new();
    for call in &e2e.calls {
        let name = match call.upstream {
            Upstream::Moto => call.operation.clone(),
            Upstream::Bedrock => "Bedrock Converse".to_owned(),
        };
        *per_job.entry(name).or_default() += 1.0 / jobs;
    }
    Ok((e2e.drained.jobs, per_job))
}

/// Every repeat at every instance count; the two phases alternate which goes first. Then the
/// untimed call count.
pub async fn run(
    config: &WorkerBenchConfig,
) -> anyhow::Result<(Vec<WorkerRun>, (usize, CallsPerJob))> {
    // Started before any timing, so its start-up is not measured.
    let _ = testkit::moto();
    let (sim, sim_addr) =
        procs::start_sim(&config.sim_bin, "sim-worker", None, &config.log_dir).await?;
    let gateway = GatewayConfig::default();
    let reply = captured_reply(sim_addr).await?;

    let mut runs = Vec::new();
    for repeat in 0..config.repeats {
        for &lanes in &config.instances {
            let context = || {
                format!(
                    "worker run {}/{}, {lanes} instance(s)",
                    repeat + 1,
                    config.repeats
                )
            };
            let (ceiling, e2e) = if repeat % 2 == 0 {
                let c = ceiling(config, lanes, &gateway, &reply)
                    .await
                    .with_context(context)?;
                let e = end_to_end(config, lanes, &gateway, sim_addr, repeat, None)
                    .await
                    .with_context(context)?;
                (c, e)
            } else {
                let e = end_to_end(config, lanes, &gateway, sim_addr, repeat, None)
                    .await
                    .with_context(context)?;
                let c = ceiling(config, lanes, &gateway, &reply)
                    .await
                    .with_context(context)?;
                (c, e)
            };
            if (e2e.sim_calls_per_job - 1.0).abs() > f64::EPSILON {
                bail!(
                    "{}: the simulator was called {:.2} times per job, not once",
                    context(),
                    e2e.sim_calls_per_job
                );
            }
            runs.push(WorkerRun {
                instances: lanes,
                ceiling,
                end_to_end: e2e.drained,
                worker_cpu_us_per_job: e2e.cpu_us_per_job,
                worker_peak_rss_kib: e2e.peak_rss_kib,
                sim_calls_per_job: e2e.sim_calls_per_job,
            });
        }
    }
    let calls = count_calls(config, &gateway, sim_addr).await?;
    sim.stop();
    Ok((runs, calls))
}
