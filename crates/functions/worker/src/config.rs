//! The worker's settings, read once at cold start; an error names the variable.

use gateway::env::{Env, EnvError, job_ttl_secs};
use gateway::jobs::callback::{CallbackSecrets, CallbackSettings, RetrySchedule};
use gateway::jobs::processor::ProcessorSettings;
use gateway::jobs::producer::Producers;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub jobs_table: String,
    pub topic_arn: String,
    pub settings: ProcessorSettings,
    pub concurrency: usize,
    /// Callback delivery; `None` when `JOBS_QUEUE_URL` is unset (jobs with a callback URL then
    /// finish without one, logged).
    pub callbacks: Option<CallbackConfig>,
}

/// Where callback attempts are queued, dead-lettered and alerted, and how they are signed.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    /// The jobs queue (the one this worker consumes): later attempts are delayed messages on it.
    pub queue_url: String,
    /// The jobs queue's dead-letter queue: a callback given up on is sent there at once.
    /// Unset: its last message is reported failed until the redrive policy moves it there.
    pub dlq_url: Option<String>,
    /// Where "callback given up" alerts go; the notifications topic unless set.
    pub alert_topic_arn: String,
    pub settings: CallbackSettings,
}

/// Producer intake (`gateway.job.v1` messages and `GenAI Job Requested` events): on when
/// `JOB_PRODUCERS` names producers.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub producers: Producers,
    /// Where a new job's pointer is queued (`JOBS_QUEUE_URL`, required with producers).
    pub queue_url: String,
    /// Where a refused message goes with its reason (`JOBS_DLQ_URL`).
    pub dlq_url: Option<String>,
    /// `JOB_EVENTS_QUEUE_ARN`: the queue only the bus's request rule may send to. An
    /// EventBridge envelope is taken as an event only from there; unset: from nowhere.
    pub events_queue_arn: Option<String>,
    /// `JOB_TTL_DAYS` (default 7), in seconds.
    pub ttl_secs: u64,
    /// `CALLBACK_ALLOW_HTTP` / `CALLBACK_ALLOW_PRIVATE` (local development only).
    pub allow_http: bool,
    pub allow_private: bool,
}

/// Why the worker could not start; each variant names the variable (or the configuration
/// document) it rejects.
#[derive(Debug, thiserror::Error)]
pub enum WorkerInitError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Gateway(#[from] gateway::config::ConfigError),
    /// `JOB_PRODUCERS` does not parse; the message names the field.
    #[error("{0}")]
    Producers(String),
    #[error("the controls could not be built: {0}")]
    Controls(String),
}

impl ProducerConfig {
    pub fn from_env(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, WorkerInitError> {
        let env = Env(lookup);
        let Some(json) = env.optional("JOB_PRODUCERS") else {
            return Ok(None);
        };
        let producers = Producers::parse(&json).map_err(WorkerInitError::Producers)?;
        Ok(Some(Self {
            producers,
            queue_url: env.required("JOBS_QUEUE_URL").map_err(|e| {
                EnvError::new(
                    "JOBS_QUEUE_URL",
                    format!("{} with JOB_PRODUCERS", e.message),
                )
            })?,
            dlq_url: env.optional("JOBS_DLQ_URL"),
            events_queue_arn: env.optional("JOB_EVENTS_QUEUE_ARN"),
            ttl_secs: job_ttl_secs(&env)?,
            allow_http: env.flag("CALLBACK_ALLOW_HTTP")?,
            allow_private: env.flag("CALLBACK_ALLOW_PRIVATE")?,
        }))
    }
}

impl WorkerConfig {
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, WorkerInitError> {
        let env = Env(&lookup);
        // SQS's own bounds for a redrive policy's maxReceiveCount.
        let max_receive_count = env.number("MAX_RECEIVE_COUNT", 5u32, 1..=1_000)?;
        let settings = ProcessorSettings {
            lease: Duration::from_secs(env.number("JOB_LEASE_SECS", 180u64, 0..=u64::MAX)?),
            max_receive_count,
            notify_lease: Duration::from_secs(30),
            ..ProcessorSettings::default()
        };
        let jobs_table = env.required("JOBS_TABLE")?;
        let topic_arn = env.required("NOTIFY_TOPIC_ARN")?;
        Ok(Self {
            jobs_table,
            callbacks: CallbackConfig::from_env(&env, &topic_arn)?,
            topic_arn,
            settings,
            // Out of range is clamped, as it always was: a deployed value never fails a start.
            concurrency: env
                .number("WORKER_CONCURRENCY", 8usize, 0..=usize::MAX)?
                .clamp(1, 64),
        })
    }
}

impl CallbackConfig {
    /// `JOBS_QUEUE_URL` turns callbacks on; then `CALLBACK_SIGNING_SECRET` (`whsec_...`,
    /// several separated by spaces during a rotation) is required. Optional: `JOBS_DLQ_URL`
    /// (recommended: dead-letters at once), `CALLBACK_SIGNING_SECRETS` (JSON host →
    /// secret(s)), `CALLBACK_RETRY_DELAYS` (`5s,5m,30m,2h,8h`), `ALERT_TOPIC_ARN`, and for
    /// local development only `CALLBACK_ALLOW_HTTP` / `CALLBACK_ALLOW_PRIVATE`.
    fn from_env<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        topic_arn: &str,
    ) -> Result<Option<Self>, EnvError> {
        let Some(queue_url) = env.optional("JOBS_QUEUE_URL") else {
            return Ok(None);
        };
        let secrets = CallbackSecrets::parse(
            &env.required("CALLBACK_SIGNING_SECRET")?,
            (env.0)("CALLBACK_SIGNING_SECRETS").as_deref(),
        )
        .map_err(|e| EnvError::new("CALLBACK_SIGNING_SECRET(S)", e))?;
        let mut settings = CallbackSettings::new(secrets);
        if let Some(delays) = (env.0)("CALLBACK_RETRY_DELAYS") {
            settings.schedule = RetrySchedule::parse(&delays)
                .map_err(|e| EnvError::new("CALLBACK_RETRY_DELAYS", e))?;
        }
        settings.allow_http = env.flag("CALLBACK_ALLOW_HTTP")?;
        settings.allow_private = env.flag("CALLBACK_ALLOW_PRIVATE")?;
        Ok(Some(Self {
            queue_url,
            dlq_url: env.optional("JOBS_DLQ_URL"),
            alert_topic_arn: env
                .optional("ALERT_TOPIC_ARN")
                .unwrap_or_else(|| topic_arn.to_owned()),
            settings,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            WorkerConfig::from_env(env(&[])).unwrap_err().to_string(),
            "JOBS_TABLE: is required"
        );
        let err = WorkerConfig::from_env(env(&[
            ("JOBS_TABLE", "t"),
            ("NOTIFY_TOPIC_ARN", "a"),
            ("MAX_RECEIVE_COUNT", "x"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("MAX_RECEIVE_COUNT"), "{err}");
        for (var, bad) in [("MAX_RECEIVE_COUNT", "0"), ("WORKER_CONCURRENCY", "lots")] {
            let pairs = [("JOBS_TABLE", "t"), ("NOTIFY_TOPIC_ARN", "a"), (var, bad)];
            let lookup = |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            };
            let err = WorkerConfig::from_env(lookup).unwrap_err();
            assert!(
                matches!(&err, WorkerInitError::Env(e) if e.var == var),
                "{err}"
            );
        }
        let ok =
            WorkerConfig::from_env(env(&[("JOBS_TABLE", "t"), ("NOTIFY_TOPIC_ARN", "a")])).unwrap();
        assert_eq!(ok.settings.max_receive_count, 5);
    }

    #[test]
    fn callbacks_are_configured_by_the_queue_url_and_need_a_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("JOBS_TABLE", "t"), ("NOTIFY_TOPIC_ARN", "arn:topic")];
            pairs.extend_from_slice(extra);
            WorkerConfig::from_env(move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        assert!(with(&[]).unwrap().callbacks.is_none());
        let err = with(&[("JOBS_QUEUE_URL", "q")]).unwrap_err().to_string();
        assert_eq!(err, "CALLBACK_SIGNING_SECRET: is required");
        let without_dlq =
            with(&[("JOBS_QUEUE_URL", "q"), ("CALLBACK_SIGNING_SECRET", secret)]).unwrap();
        assert_eq!(without_dlq.callbacks.unwrap().dlq_url, None);
        let err = with(&[
            ("JOBS_QUEUE_URL", "q"),
            ("JOBS_DLQ_URL", "d"),
            ("CALLBACK_SIGNING_SECRET", "whsec_short"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("CALLBACK_SIGNING_SECRET") && !err.contains("whsec_short"),
            "{err}"
        );
        let err = with(&[
            ("JOBS_QUEUE_URL", "q"),
            ("JOBS_DLQ_URL", "d"),
            ("CALLBACK_SIGNING_SECRET", secret),
            ("CALLBACK_RETRY_DELAYS", "5 minutes"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("CALLBACK_RETRY_DELAYS"), "{err}");

        let config = with(&[
            ("JOBS_QUEUE_URL", "q"),
            ("JOBS_DLQ_URL", "d"),
            ("CALLBACK_SIGNING_SECRET", secret),
            ("CALLBACK_RETRY_DELAYS", "1s,1s"),
            ("CALLBACK_ALLOW_HTTP", "true"),
        ])
        .unwrap();
        let callbacks = config.callbacks.unwrap();
        assert_eq!(
            (callbacks.queue_url.as_str(), callbacks.dlq_url.as_deref()),
            ("q", Some("d"))
        );
        assert_eq!(callbacks.alert_topic_arn, "arn:topic");
        assert_eq!(callbacks.settings.schedule.max_attempts(), 3);
        assert!(callbacks.settings.allow_http && !callbacks.settings.allow_private);
        assert!(
            !format!("{callbacks:?}").contains("MfKQ9"),
            "secrets never printed"
        );
    }

    #[test]
    fn producer_intake_is_off_without_producers_and_its_errors_name_the_variable() {
        let env = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        assert!(ProducerConfig::from_env(&env(vec![])).unwrap().is_none());
        let producers = r#"{"crm": {"tenant": "crm"}}"#.to_owned();
        let error = ProducerConfig::from_env(&env(vec![("JOB_PRODUCERS", producers.clone())]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("JOBS_QUEUE_URL"), "{error}");
        let error = ProducerConfig::from_env(&env(vec![
            (
                "JOB_PRODUCERS",
                r#"{"crm": {"tenant": "crm", "colour": 1}}"#.to_owned(),
            ),
            ("JOBS_QUEUE_URL", "q".to_owned()),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("JOB_PRODUCERS") && error.contains("colour"),
            "{error}"
        );
        let config = ProducerConfig::from_env(&env(vec![
            ("JOB_PRODUCERS", producers),
            ("JOBS_QUEUE_URL", "q".to_owned()),
            ("JOB_TTL_DAYS", "2".to_owned()),
            (
                "JOB_EVENTS_QUEUE_ARN",
                "arn:aws:sqs:us-east-1:1:ev".to_owned(),
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.ttl_secs, 2 * 24 * 3600);
        assert_eq!(
            config.events_queue_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:1:ev")
        );
        assert_eq!(config.producers.0["crm"].tenant, "crm");
    }
}
