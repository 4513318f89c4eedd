//! The request's audit record while it is served: opened by whoever received the request
//! (the API's auth layer, a worker), filled in by the metered call as it admits, calls and
//! settles (also from a stream that settles after the handler returned), and written once by
//! the host when the response is complete.

use crate::controls::audit::{AuditRecord, truncate};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct AuditSlot {
    record: Arc<Mutex<AuditRecord>>,
    started: Instant,
}

impl AuditSlot {
    pub fn new(record: AuditRecord) -> Self {
        Self {
            record: Arc::new(Mutex::new(record)),
            started: Instant::now(),
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut AuditRecord)) {
        f(&mut self.lock());
    }

    /// The record, locked: for the host that writes it once at the end.
    pub fn lock(&self) -> MutexGuard<'_, AuditRecord> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Since the slot was opened.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The prompt and completion into the audit record, each cut to `max` characters (called only
/// when the configuration records content).
pub(crate) fn record_content(audit: &AuditSlot, max: usize, prompt: &str, completion: &str) {
    audit.update(|r| {
        r.prompt = Some(truncate(prompt, max));
        r.completion = Some(truncate(completion, max));
    });
}
