//! The worker's settings, read once at cold start; an error names the variable.

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

impl ProducerConfig {
    pub fn from_env(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let Some(json) = lookup("JOB_PRODUCERS").filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        Ok(Some(Self {
            producers: Producers::parse(&json)?,
            queue_url: required(lookup, "JOBS_QUEUE_URL")
                .map_err(|e| format!("{e} with JOB_PRODUCERS"))?,
            dlq_url: lookup("JOBS_DLQ_URL").filter(|v| !v.trim().is_empty()),
            events_queue_arn: lookup("JOB_EVENTS_QUEUE_ARN").filter(|v| !v.trim().is_empty()),
            ttl_secs: number(lookup, "JOB_TTL_DAYS", 7)?.saturating_mul(24 * 3600),
            allow_http: flag(lookup, "CALLBACK_ALLOW_HTTP")?,
            allow_private: flag(lookup, "CALLBACK_ALLOW_PRIVATE")?,
        }))
    }
}

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is required"))
}

fn flag(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match lookup(name).as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, got '{other}'")),
    }
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<u64, String> {
    match lookup(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got '{v}'")),
    }
}

impl WorkerConfig {
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let max_receive_count = number(&lookup, "MAX_RECEIVE_COUNT", 5)?;
        if max_receive_count == 0 {
            return Err("MAX_RECEIVE_COUNT must be at least 1".into());
        }
        let settings = ProcessorSettings {
            lease: Duration::from_secs(number(&lookup, "JOB_LEASE_SECS", 180)?),
            max_receive_count: max_receive_count as u32,
            notify_lease: Duration::from_secs(30),
            ..ProcessorSettings::default()
        };
        let jobs_table = required(&lookup, "JOBS_TABLE")?;
        let topic_arn = required(&lookup, "NOTIFY_TOPIC_ARN")?;
        Ok(Self {
            jobs_table,
            callbacks: CallbackConfig::from_env(&lookup, &topic_arn)?,
            topic_arn,
            settings,
            concurrency: number(&lookup, "WORKER_CONCURRENCY", 8)?.clamp(1, 64) as usize,
        })
    }
}

impl CallbackConfig {
    /// `JOBS_QUEUE_URL` turns callbacks on; then `CALLBACK_SIGNING_SECRET` (`whsec_...`,
    /// several separated by spaces during a rotation) is required. Optional: `JOBS_DLQ_URL`
    /// (recommended: dead-letters at once), `CALLBACK_SIGNING_SECRETS` (JSON host →
    /// secret(s)), `CALLBACK_RETRY_DELAYS` (`5s,5m,30m,2h,8h`), `ALERT_TOPIC_ARN`, and for
    /// local development only `CALLBACK_ALLOW_HTTP` / `CALLBACK_ALLOW_PRIVATE`.
    fn from_env(
        lookup: &impl Fn(&str) -> Option<String>,
        topic_arn: &str,
    ) -> Result<Option<Self>, String> {
        let Some(queue_url) = lookup("JOBS_QUEUE_URL").filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let secrets = CallbackSecrets::parse(
            &required(lookup, "CALLBACK_SIGNING_SECRET")?,
            lookup("CALLBACK_SIGNING_SECRETS").as_deref(),
        )
        .map_err(|e| format!("CALLBACK_SIGNING_SECRET(S): {e}"))?;
        let mut settings = CallbackSettings::new(secrets);
        if let Some(delays) = lookup("CALLBACK_RETRY_DELAYS") {
            settings.schedule =
                RetrySchedule::parse(&delays).map_err(|e| format!("CALLBACK_RETRY_DELAYS: {e}"))?;
        }
        settings.allow_http = flag(lookup, "CALLBACK_ALLOW_HTTP")?;
        settings.allow_private = flag(lookup, "CALLBACK_ALLOW_PRIVATE")?;
        Ok(Some(Self {
            queue_url,
            dlq_url: lookup("JOBS_DLQ_URL").filter(|v| !v.trim().is_empty()),
            alert_topic_arn: lookup("ALERT_TOPIC_ARN")
                .filter(|v| !v.trim().is_empty())
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
            WorkerConfig::from_env(env(&[])).unwrap_err(),
            "JOBS_TABLE is required"
        );
        let err = WorkerConfig::from_env(env(&[
            ("JOBS_TABLE", "t"),
            ("NOTIFY_TOPIC_ARN", "a"),
            ("MAX_RECEIVE_COUNT", "x"),
        ]))
        .unwrap_err();
        assert!(err.starts_with("MAX_RECEIVE_COUNT"), "{err}");
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
        let err = with(&[("JOBS_QUEUE_URL", "q")]).unwrap_err();
        assert_eq!(err, "CALLBACK_SIGNING_SECRET is required");
        let without_dlq =
            with(&[("JOBS_QUEUE_URL", "q"), ("CALLBACK_SIGNING_SECRET", secret)]).unwrap();
        assert_eq!(without_dlq.callbacks.unwrap().dlq_url, None);
        let err = with(&[
            ("JOBS_QUEUE_URL", "q"),
            ("JOBS_DLQ_URL", "d"),
            ("CALLBACK_SIGNING_SECRET", "whsec_short"),
        ])
        .unwrap_err();
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
        .unwrap_err();
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
        let error =
            ProducerConfig::from_env(&env(vec![("JOB_PRODUCERS", producers.clone())])).unwrap_err();
        assert!(error.contains("JOBS_QUEUE_URL"), "{error}");
        let error = ProducerConfig::from_env(&env(vec![
            (
                "JOB_PRODUCERS",
                r#"{"crm": {"tenant": "crm", "colour": 1}}"#.to_owned(),
            ),
            ("JOBS_QUEUE_URL", "q".to_owned()),
        ]))
        .unwrap_err();
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
