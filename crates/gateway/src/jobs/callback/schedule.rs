//! When a callback is tried again, and what each answer means. Pure: time is passed in.

use std::time::Duration;

use crate::jobs::model::{AttemptOutcome, CallbackState};
use crate::jobs::ports::DeliveryError;

/// SQS delays a message by at most 15 minutes; longer waits are chained.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);
/// Bounds on a configured schedule, so a typo cannot retry for weeks.
const MAX_RETRIES: usize = 20;
const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// The waits between attempts: attempt 1 is immediate, attempt `n + 1` follows attempt `n`
/// after `delays[n - 1]`. The number of attempts is `delays.len() + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// 5 s, 5 min, 30 min, 2 h, 8 h: six attempts over about ten and a half hours.
    fn default() -> Self {
        let secs = [5, 300, 1800, 7200, 28_800];
        Self {
            delays: secs.into_iter().map(Duration::from_secs).collect(),
        }
    }
}

/// What happens after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivery is over (delivered, or the receiver said 410 Gone).
    Finish(CallbackState),
    /// Try again after this long.
    RetryAfter(Duration),
    /// No attempt left, or retrying cannot help: dead-letter and alert.
    GiveUp,
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Result<Self, String> {
        if delays.len() > MAX_RETRIES {
            return Err(format!("at most {MAX_RETRIES} retries"));
        }
        if delays.iter().any(|d| *d > MAX_DELAY) {
            return Err("a retry delay may be at most 24h".into());
        }
        Ok(Self { delays })
    }

    /// A comma-separated list of waits with a unit: `5s,5m,30m,2h,8h` (`ms` also accepted).
    /// An empty text means no retries.
    pub fn parse(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(parse_duration)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(delays)
    }

    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// What follows attempt `attempt` (1-based) that ended with `outcome`.
    pub fn next(&self, attempt: u32, outcome: AttemptOutcome) -> Next {
        match outcome {
            AttemptOutcome::Delivered => Next::Finish(CallbackState::Delivered),
            AttemptOutcome::Gone => Next::Finish(CallbackState::Gone),
            AttemptOutcome::Permanent => Next::GiveUp,
            AttemptOutcome::Retryable => {
                let index = attempt.max(1) as usize - 1;
                self.delays
                    .get(index)
                    .map_or(Next::GiveUp, |delay| Next::RetryAfter(*delay))
            }
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` needs a unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(format!("`{text}`: unit must be ms, s, m or h")),
    };
    Ok(duration)
}

/// What an attempt's result means: 2xx delivered, 410 gone, a refused URL permanent,
/// anything else (other statuses, redirects, which are never followed, timeouts, transport
/// errors, a failed DNS lookup) worth another try.
pub fn classify(result: &Result<u16, DeliveryError>) -> AttemptOutcome {
    match result {
        Ok(status) if (200..300).contains(status) => AttemptOutcome::Delivered,
        Ok(410) => AttemptOutcome::Gone,
        Ok(_) => AttemptOutcome::Retryable,
        Err(error) if error.is_retryable() => AttemptOutcome::Retryable,
        Err(_) => AttemptOutcome::Permanent,
    }
}

/// The delay to put on a message due at `not_before_ms`: what is left, capped at SQS's
/// maximum (the message is then re-delayed when it arrives early).
pub fn queue_delay(not_before_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(not_before_ms.saturating_sub(now_ms)).min(MAX_QUEUE_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::SsrfError;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn the_default_schedule_is_bounded_and_backs_off() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.max_attempts(), 6);
        let waits: Vec<u64> = (1..=5)
            .map(|n| match schedule.next(n, AttemptOutcome::Retryable) {
                Next::RetryAfter(d) => d.as_secs(),
                other => panic!("attempt {n}: {other:?}"),
            })
            .collect();
        assert_eq!(waits, [5, 300, 1800, 7200, 28_800]);
        assert_eq!(schedule.next(6, AttemptOutcome::Retryable), Next::GiveUp);
        assert_eq!(schedule.next(60, AttemptOutcome::Retryable), Next::GiveUp);
    }

    #[test]
    fn delivered_gone_and_permanent_end_the_schedule_at_once() {
        let schedule = RetrySchedule::default();
        assert_eq!(
            schedule.next(1, AttemptOutcome::Delivered),
            Next::Finish(CallbackState::Delivered)
        );
        assert_eq!(
            schedule.next(1, AttemptOutcome::Gone),
            Next::Finish(CallbackState::Gone)
        );
        assert_eq!(schedule.next(1, AttemptOutcome::Permanent), Next::GiveUp);
    }

    #[test]
    fn schedules_parse_with_units_and_refuse_nonsense() {
        let parsed = RetrySchedule::parse("1s, 2m,3h,250ms").unwrap();
        assert_eq!(
            parsed.delays(),
            [
                Duration::from_secs(1),
                Duration::from_secs(120),
                Duration::from_secs(3 * 3600),
                Duration::from_millis(250),
            ]
        );
        assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
        for bad in ["5", "5d", "x5s", "25h", "-1s"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
        assert!(RetrySchedule::parse(&vec!["1s"; 21].join(",")).is_err());
    }

    #[test]
    fn answers_are_classified() {
        let ok = |status| classify(&Ok(status));
        assert_eq!(ok(200), AttemptOutcome::Delivered);
        assert_eq!(ok(204), AttemptOutcome::Delivered);
        assert_eq!(ok(410), AttemptOutcome::Gone);
        for status in [301, 302, 307, 308, 400, 404, 429, 500, 503] {
            assert_eq!(ok(status), AttemptOutcome::Retryable, "{status}");
        }
        let refused =
            DeliveryError::Refused(SsrfError::ForbiddenAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(classify(&Err(refused)), AttemptOutcome::Permanent);
        let lookup = DeliveryError::Refused(SsrfError::Resolution(std::io::Error::other("nx")));
        assert_eq!(classify(&Err(lookup)), AttemptOutcome::Retryable);
        assert_eq!(
            classify(&Err(DeliveryError::Timeout)),
            AttemptOutcome::Retryable
        );
    }

    #[test]
    fn long_waits_are_chained_under_the_sqs_cap() {
        assert_eq!(queue_delay(10_000, 4_000), Duration::from_secs(6));
        assert_eq!(queue_delay(7_200_000, 0), MAX_QUEUE_DELAY);
        assert_eq!(queue_delay(1_000, 5_000), Duration::ZERO);
    }
}
