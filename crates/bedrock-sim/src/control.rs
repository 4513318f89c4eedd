//! Runtime state shared by all requests: behaviours, script positions and call counters.
//!
//! One short `Mutex` section per model call (never held across an await).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use crate::behavior::{Behavior, Outcome, SimConfig};
use crate::catalog::ResolvedModel;
use crate::error::{ErrorKind, StreamErrorKind};

/// What one call will do, decided when it arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub outcome: PlannedOutcome,
    pub first_token: Duration,
    pub chunk_delay: Duration,
    pub words_per_chunk: usize,
    /// For streaming calls that otherwise succeed: fail after n chunks with this exception.
    pub stream_failure: Option<(StreamErrorKind, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedOutcome {
    Ok,
    Hang,
    Error(ErrorKind),
    StreamError {
        kind: StreamErrorKind,
        after_chunks: u32,
    },
}

#[derive(Debug)]
struct Slot {
    behavior: Arc<Behavior>,
    script_pos: usize,
    calls: u64,
}

impl Slot {
    fn new(behavior: Behavior) -> Self {
        Slot {
            behavior: Arc::new(behavior),
            script_pos: 0,
            calls: 0,
        }
    }

    fn plan(&mut self) -> Plan {
        let b = &self.behavior;
        let index = self.calls;
        self.calls += 1;
        let scripted = b.script.get(self.script_pos).copied();
        if scripted.is_some() {
            self.script_pos += 1;
        }
        let outcome = match scripted {
            Some(Outcome::Ok) => PlannedOutcome::Ok,
            Some(Outcome::Hang) => PlannedOutcome::Hang,
            Some(Outcome::Error(kind)) => PlannedOutcome::Error(kind),
            Some(Outcome::StreamError { kind, after_chunks }) => PlannedOutcome::StreamError {
                kind,
                after_chunks: after_chunks.or(b.fail_after_chunks).unwrap_or(1),
            },
            None if b.hang => PlannedOutcome::Hang,
            None if b.error_rate > 0.0 && unit_draw(b.seed, index) < b.error_rate => {
                PlannedOutcome::Error(b.error_type)
            }
            None => PlannedOutcome::Ok,
        };
        Plan {
            outcome,
            first_token: Duration::from_millis(b.first_token_ms),
            chunk_delay: Duration::from_millis(b.chunk_delay_ms),
            words_per_chunk: b.words_per_chunk.max(1),
            stream_failure: b.fail_after_chunks.map(|n| (b.stream_error, n)),
        }
    }
}

/// A deterministic draw in [0, 1) from (seed, call index): splitmix64.
fn unit_draw(seed: u64, index: u64) -> f64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug)]
struct Inner {
    default: Slot,
    models: HashMap<String, Slot>,
    calls: HashMap<String, u64>,
    total: u64,
}

impl Inner {
    fn from_config(config: &SimConfig) -> Self {
        Inner {
            default: Slot::new(config.default.clone()),
            models: config
                .models
                .iter()
                .map(|(id, b)| (id.clone(), Slot::new(b.clone())))
                .collect(),
            calls: HashMap::new(),
            total: 0,
        }
    }

    fn count(&mut self, key: &str) {
        self.total += 1;
        match self.calls.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                self.calls.insert(key.to_string(), 1);
            }
        }
    }
}

/// Per-model call counters, as served by `GET /_sim/calls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Calls of all models, including rejected ones.
    pub total: u64,
    /// Calls per model id (decoded, ARN stripped; unknown ids as sent).
    pub models: BTreeMap<String, u64>,
}

/// Behaviours and counters; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Control {
    initial: SimConfig,
    inner: Mutex<Inner>,
}

impl Control {
    pub fn new(config: SimConfig) -> Self {
        Control {
            inner: Mutex::new(Inner::from_config(&config)),
            initial: config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, so poisoning cannot carry a broken invariant.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a call that was rejected before planning (unknown model, bad body).
    pub fn count_rejected(&self, key: &str) {
        self.lock().count(key);
    }

    /// Counts a valid call and decides its outcome (consuming a script step).
    pub fn begin_call(&self, model: &ResolvedModel) -> Plan {
        let mut inner = self.lock();
        inner.count(&model.id);
        let inner = &mut *inner;
        if let Some(slot) = inner.models.get_mut(&model.id) {
            return slot.plan();
        }
        if model.base != model.id
            && let Some(slot) = inner.models.get_mut(&model.base)
        {
            return slot.plan();
        }
        inner.default.plan()
    }

    pub fn set_behavior(&self, model: &str, behavior: Behavior) {
        self.lock()
            .models
            .insert(model.to_string(), Slot::new(behavior));
    }

    /// Removes a model's own behaviour (it falls back to the default); true if there was one.
    pub fn remove_behavior(&self, model: &str) -> bool {
        self.lock().models.remove(model).is_some()
    }

    pub fn behavior(&self, model: &str) -> Option<Behavior> {
        self.lock()
            .models
            .get(model)
            .map(|slot| (*slot.behavior).clone())
    }

    pub fn set_default_behavior(&self, behavior: Behavior) {
        self.lock().default = Slot::new(behavior);
    }

    pub fn default_behavior(&self) -> Behavior {
        (*self.lock().default.behavior).clone()
    }

    /// Back to the behaviours of the start-up config (scripts rewound); counters untouched.
    pub fn reset_behaviors(&self) {
        let fresh = Inner::from_config(&self.initial);
        let mut inner = self.lock();
        inner.default = fresh.default;
        inner.models = fresh.models;
    }

    /// Start-up behaviours and zero counters.
    pub fn reset(&self) {
        *self.lock() = Inner::from_config(&self.initial);
    }

    pub fn calls(&self, model: &str) -> u64 {
        self.lock().calls.get(model).copied().unwrap_or(0)
    }

    pub fn call_counts(&self) -> CallCounts {
        let inner = self.lock();
        CallCounts {
            total: inner.total,
            models: inner.calls.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, base: &str) -> ResolvedModel {
        ResolvedModel {
            id: id.to_string(),
            base: base.to_string(),
        }
    }

    #[test]
    fn scripts_are_consumed_then_calls_succeed() {
        let control = Control::new(SimConfig::default().with_model(
            "a.m",
            Behavior::script([
                Outcome::Error(ErrorKind::ThrottlingException),
                Outcome::Hang,
            ]),
        ));
        let m = model("us.a.m", "a.m");
        assert_eq!(
            control.begin_call(&m).outcome,
            PlannedOutcome::Error(ErrorKind::ThrottlingException)
        );
        assert_eq!(control.begin_call(&m).outcome, PlannedOutcome::Hang);
        assert_eq!(control.begin_call(&m).outcome, PlannedOutcome::Ok);
        assert_eq!(control.calls("us.a.m"), 3);
        assert_eq!(control.calls("a.m"), 0);
        control.reset();
        assert_eq!(control.calls("us.a.m"), 0);
        assert_eq!(
            control.begin_call(&m).outcome,
            PlannedOutcome::Error(ErrorKind::ThrottlingException)
        );
    }

    #[test]
    fn exact_id_wins_over_base_and_default() {
        let control = Control::new(SimConfig::default());
        control.set_behavior("a.m", Behavior::always(ErrorKind::ModelErrorException));
        control.set_behavior("eu.a.m", Behavior::default());
        assert_eq!(
            control.begin_call(&model("us.a.m", "a.m")).outcome,
            PlannedOutcome::Error(ErrorKind::ModelErrorException)
        );
        assert_eq!(
            control.begin_call(&model("eu.a.m", "a.m")).outcome,
            PlannedOutcome::Ok
        );
        assert_eq!(
            control.begin_call(&model("b.m", "b.m")).outcome,
            PlannedOutcome::Ok
        );
        control.reset_behaviors();
        assert_eq!(
            control.begin_call(&model("us.a.m", "a.m")).outcome,
            PlannedOutcome::Ok
        );
        assert_eq!(control.call_counts().total, 4);
    }

    #[test]
    fn error_rate_is_deterministic_and_close_to_the_rate() {
        let behavior = Behavior {
            error_rate: 0.3,
            seed: 42,
            ..Behavior::default()
        };
        let run = || {
            let control = Control::new(SimConfig::default().with_model("a.m", behavior.clone()));
            (0..1000)
                .map(|_| control.begin_call(&model("a.m", "a.m")).outcome != PlannedOutcome::Ok)
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let failures = first.iter().filter(|f| **f).count();
        assert!((230..370).contains(&failures), "{failures}");
    }
}
