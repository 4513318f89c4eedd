//! The worker's settings, read once at cold start; an error names the variable.

use gateway::jobs::processor::ProcessorSettings;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub jobs_table: String,
    pub topic_arn: String,
    pub settings: ProcessorSettings,
    pub concurrency: usize,
}

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    lookup(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{name} is required"))
}

fn number(lookup: &impl Fn(&str) -> Option<String>, name: &str, default: u64) -> Result<u64, String> {
    match lookup(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| format!("{name} must be a whole number, got '{v}'")),
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
        };
        Ok(Self {
            jobs_table: required(&lookup, "JOBS_TABLE")?,
            topic_arn: required(&lookup, "NOTIFY_TOPIC_ARN")?,
            settings,
            concurrency: number(&lookup, "WORKER_CONCURRENCY", 8)?.clamp(1, 64) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(WorkerConfig::from_env(env(&[])).unwrap_err(), "JOBS_TABLE is required");
        let err = WorkerConfig::from_env(env(&[("JOBS_TABLE", "t"), ("NOTIFY_TOPIC_ARN", "a"), ("MAX_RECEIVE_COUNT", "x")]))
            .unwrap_err();
        assert!(err.starts_with("MAX_RECEIVE_COUNT"), "{err}");
        let ok = WorkerConfig::from_env(env(&[("JOBS_TABLE", "t"), ("NOTIFY_TOPIC_ARN", "a")])).unwrap();
        assert_eq!(ok.settings.max_receive_count, 5);
    }
}
