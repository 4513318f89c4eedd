//! A circuit breaker per (model, region) as a plain record plus pure transitions, so the same
//! state can live in a DynamoDB item and be updated with conditional writes on `version`.

use super::error::{InvalidConfig, ensure};
use super::window::{Counts, Window, WindowSpan};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Opens when failures / requests in the window reach this (0..=1).
    pub failure_rate_threshold: f64,
    /// Below this many requests in the window the rate means nothing; the breaker stays closed.
    pub min_requests: u32,
    pub bucket_ms: u64,
    /// The window is `bucket_count * bucket_ms` long.
    pub bucket_count: u32,
    /// Cool-down: how long the breaker stays open before letting probes through.
    pub open_ms: u64,
    /// Probes allowed at once while half-open, across all instances.
    pub half_open_max_probes: u32,
    /// A probe with no result after this long is presumed lost (its instance was frozen or
    /// killed, as Lambda instances are), so its slot is given to a new probe.
    pub probe_timeout_ms: u64,
    /// How long an instance trusts its cached copy of the shared record.
    pub cache_ttl_ms: u64,
    /// How often an instance adds its unflushed counts to the shared record.
    pub flush_interval_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_rate_threshold: 0.5,
            min_requests: 20,
            bucket_ms: 3_000,
            bucket_count: 10,
            open_ms: 30_000,
            half_open_max_probes: 1,
            probe_timeout_ms: 30_000,
            cache_ttl_ms: 1_000,
            flush_interval_ms: 2_000,
        }
    }
}

impl BreakerConfig {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let rate = self.failure_rate_threshold;
        ensure(
            rate > 0.0 && rate <= 1.0,
            "failure_rate_threshold",
            "must be in (0, 1]",
        )?;
        ensure(self.min_requests >= 1, "min_requests", "must be at least 1")?;
        ensure(self.bucket_ms >= 1, "bucket_ms", "must be positive")?;
        ensure(self.bucket_count >= 1, "bucket_count", "must be at least 1")?;
        ensure(
            self.half_open_max_probes >= 1,
            "half_open_max_probes",
            "must be at least 1",
        )?;
        ensure(
            self.probe_timeout_ms >= 1,
            "probe_timeout_ms",
            "must be positive",
        )
    }

    pub fn span(&self) -> WindowSpan {
        WindowSpan {
            bucket_ms: self.bucket_ms,
            bucket_count: self.bucket_count,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

/// The whole breaker state of one target. `version` is the store's optimistic-lock counter:
/// 0 for a record never saved, incremented by every successful save.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BreakerRecord {
    pub state: BreakerState,
    /// Unix ms of the last transition to open.
    pub opened_at_ms: Option<u64>,
    pub window: Window,
    pub half_open_in_flight: u32,
    /// Unix ms the newest probe was let through; used to expire lost probes.
    pub last_probe_at_ms: Option<u64>,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerAdmission {
    Allowed,
    /// Allowed as a half-open probe: its result decides whether the breaker closes.
    Probe,
    Rejected {
        retry_in: Duration,
    },
}

impl BreakerAdmission {
    pub fn is_allowed(self) -> bool {
        !matches!(self, Self::Rejected { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    /// closed → open: the failure rate crossed the threshold.
    Opened,
    /// open → half-open: the cool-down is over.
    HalfOpened,
    /// half-open → closed: a probe succeeded.
    Closed,
    /// half-open → open: a probe failed.
    Reopened,
}

/// The fields whose change must be written to the shared store at once; counts are not
/// among them (they are flushed periodically).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ControlFields {
    state: BreakerState,
    opened_at_ms: Option<u64>,
    half_open_in_flight: u32,
    last_probe_at_ms: Option<u64>,
}

impl BreakerRecord {
    /// Decides whether a call may go to the target now, taking a probe slot if half-open.
    pub fn admit(&mut self, cfg: &BreakerConfig, now_ms: u64) -> BreakerAdmission {
        match self.state {
            BreakerState::Closed => BreakerAdmission::Allowed,
            BreakerState::Open => {
                let reopen_at = self.opened_at_ms.unwrap_or(0).saturating_add(cfg.open_ms);
                if now_ms < reopen_at {
                    return BreakerAdmission::Rejected {
                        retry_in: Duration::from_millis(reopen_at - now_ms),
                    };
                }
                self.state = BreakerState::HalfOpen;
                self.half_open_in_flight = 0;
                self.take_probe(now_ms)
            }
            BreakerState::HalfOpen => {
                let lost_at = self
                    .last_probe_at_ms
                    .unwrap_or(0)
                    .saturating_add(cfg.probe_timeout_ms);
                if now_ms >= lost_at {
                    // Every probe in flight is presumed lost; start counting afresh.
                    self.half_open_in_flight = 0;
                }
                if self.half_open_in_flight < cfg.half_open_max_probes {
                    self.take_probe(now_ms)
                } else {
                    BreakerAdmission::Rejected {
                        retry_in: Duration::from_millis(lost_at.saturating_sub(now_ms)),
                    }
                }
            }
        }
    }

    /// Records a call's result and moves the state machine: the single entry point for a
    /// record used on its own. Only a closed breaker counts results; an open or half-open one
    /// decides on the result alone.
    pub fn on_result(&mut self, cfg: &BreakerConfig, now_ms: u64, success: bool) -> Transition {
        if self.state == BreakerState::Closed {
            self.record(cfg, now_ms, success);
        }
        self.settle(cfg, now_ms, success)
    }

    /// Counts a result in the window only (see [`settle`](Self::settle)).
    pub fn record(&mut self, cfg: &BreakerConfig, now_ms: u64, success: bool) {
        self.window.record(cfg.span(), now_ms, success);
    }

    /// The state change a result causes, without counting it (see [`record`](Self::record)).
    /// A half-open result may come from a call admitted before the breaker opened; it is
    /// still a fresh signal about the target, so it is used as a probe result.
    pub fn settle(&mut self, cfg: &BreakerConfig, now_ms: u64, success: bool) -> Transition {
        match (self.state, success) {
            (BreakerState::Closed, _) => self.evaluate(cfg, now_ms),
            (BreakerState::Open, _) => Transition::None,
            (BreakerState::HalfOpen, true) => {
                self.state = BreakerState::Closed;
                self.opened_at_ms = None;
                self.reset_probes_and_window();
                Transition::Closed
            }
            (BreakerState::HalfOpen, false) => {
                self.open(now_ms);
                Transition::Reopened
            }
        }
    }

    /// Opens a closed breaker whose window is over the threshold (after recording a result
    /// or after merging other instances' counts).
    pub fn evaluate(&mut self, cfg: &BreakerConfig, now_ms: u64) -> Transition {
        if self.state != BreakerState::Closed {
            return Transition::None;
        }
        let counts = self.counts(cfg, now_ms);
        let tripped = counts.total() >= cfg.min_requests
            && counts
                .failure_rate()
                .is_some_and(|rate| rate >= cfg.failure_rate_threshold);
        if tripped {
            self.open(now_ms);
            Transition::Opened
        } else {
            Transition::None
        }
    }

    pub fn counts(&self, cfg: &BreakerConfig, now_ms: u64) -> Counts {
        self.window.counts(cfg.span(), now_ms)
    }

    pub(crate) fn control_fields(&self) -> ControlFields {
        ControlFields {
            state: self.state,
            opened_at_ms: self.opened_at_ms,
            half_open_in_flight: self.half_open_in_flight,
            last_probe_at_ms: self.last_probe_at_ms,
        }
    }

    fn take_probe(&mut self, now_ms: u64) -> BreakerAdmission {
        self.half_open_in_flight = self.half_open_in_flight.saturating_add(1);
        self.last_probe_at_ms = Some(now_ms);
        BreakerAdmission::Probe
    }

    fn open(&mut self, now_ms: u64) {
        self.state = BreakerState::Open;
        self.opened_at_ms = Some(now_ms);
        self.reset_probes_and_window();
    }

    fn reset_probes_and_window(&mut self) {
        self.half_open_in_flight = 0;
        self.last_probe_at_ms = None;
        self.window.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            min_requests: 10,
            ..BreakerConfig::default()
        }
    }

    fn tripped(cfg: &BreakerConfig, now_ms: u64) -> BreakerRecord {
        let mut record = BreakerRecord::default();
        for _ in 0..10 {
            record.on_result(cfg, now_ms, false);
        }
        assert_eq!(record.state, BreakerState::Open);
        record
    }

    #[test]
    fn opens_at_the_threshold_once_volume_is_reached() {
        let cfg = cfg();
        let mut record = BreakerRecord::default();
        for _ in 0..9 {
            assert_eq!(record.on_result(&cfg, 1_000, false), Transition::None);
        }
        assert_eq!(record.state, BreakerState::Closed, "9 < min_requests");
        assert_eq!(record.on_result(&cfg, 1_000, false), Transition::Opened);
        assert_eq!(record.opened_at_ms, Some(1_000));
        assert!(record.window.is_empty());
    }

    #[test]
    fn a_mostly_healthy_target_stays_closed() {
        let cfg = cfg();
        let mut record = BreakerRecord::default();
        for i in 0..100 {
            record.on_result(&cfg, 1_000 + i, i % 3 != 0);
        }
        assert_eq!(record.state, BreakerState::Closed);
    }

    #[test]
    fn old_failures_slide_out_of_the_window() {
        let cfg = cfg();
        let mut record = BreakerRecord::default();
        for _ in 0..9 {
            record.on_result(&cfg, 1_000, false);
        }
        // 60 s later the window (30 s) no longer holds them.
        assert_eq!(record.on_result(&cfg, 61_000, false), Transition::None);
        assert_eq!(record.counts(&cfg, 61_000).total(), 1);
    }

    #[test]
    fn rejects_while_open_then_lets_one_probe_after_cool_down() {
        let cfg = cfg();
        let mut record = tripped(&cfg, 1_000);
        assert_eq!(
            record.admit(&cfg, 11_000),
            BreakerAdmission::Rejected {
                retry_in: Duration::from_secs(20)
            }
        );
        assert_eq!(record.admit(&cfg, 31_000), BreakerAdmission::Probe);
        assert_eq!(record.state, BreakerState::HalfOpen);
        assert!(
            !record.admit(&cfg, 31_001).is_allowed(),
            "only one probe at a time"
        );
    }

    #[test]
    fn probe_success_closes_and_probe_failure_reopens() {
        let cfg = cfg();
        let mut record = tripped(&cfg, 1_000);
        record.admit(&cfg, 31_000);
        assert_eq!(record.on_result(&cfg, 32_000, true), Transition::Closed);
        assert_eq!(record.state, BreakerState::Closed);
        assert_eq!(record.admit(&cfg, 32_001), BreakerAdmission::Allowed);

        let mut record = tripped(&cfg, 1_000);
        record.admit(&cfg, 31_000);
        assert_eq!(record.on_result(&cfg, 32_000, false), Transition::Reopened);
        assert_eq!(record.opened_at_ms, Some(32_000));
        assert!(!record.admit(&cfg, 33_000).is_allowed());
    }

    #[test]
    fn a_lost_probe_frees_its_slot_after_the_probe_timeout() {
        let cfg = cfg();
        let mut record = tripped(&cfg, 1_000);
        assert_eq!(record.admit(&cfg, 31_000), BreakerAdmission::Probe);
        assert_eq!(
            record.admit(&cfg, 40_000),
            BreakerAdmission::Rejected {
                retry_in: Duration::from_secs(21)
            }
        );
        assert_eq!(record.admit(&cfg, 61_000), BreakerAdmission::Probe);
        assert_eq!(record.half_open_in_flight, 1);
    }

    #[test]
    fn late_results_while_open_change_nothing() {
        let cfg = cfg();
        let mut record = tripped(&cfg, 1_000);
        assert_eq!(record.on_result(&cfg, 2_000, true), Transition::None);
        assert_eq!(record.state, BreakerState::Open);
    }

    #[test]
    fn record_round_trips_through_json() {
        let cfg = cfg();
        let mut record = tripped(&cfg, 1_000);
        record.version = 7;
        record.admit(&cfg, 31_000);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["state"], "half_open");
        assert_eq!(
            serde_json::from_value::<BreakerRecord>(json).unwrap(),
            record
        );
    }

    #[test]
    fn config_validation_names_the_key() {
        let bad = BreakerConfig {
            failure_rate_threshold: 1.5,
            ..BreakerConfig::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.key),
            Err("failure_rate_threshold")
        );
        assert!(BreakerConfig::default().validate().is_ok());
    }
}
