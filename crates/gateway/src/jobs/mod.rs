//! Asynchronous jobs: the record, its state machine, and the ports that store, queue and
//! announce it. The worker's per-message logic lives in [`processor`]; adapters implement the ports.
//!
//! States: `QUEUED` → `RUNNING` (claimed with a lease) → `SUCCEEDED` | `FAILED`. A lease that
//! expires (a worker crashed or timed out) makes the job claimable again, so a redelivered message
//! finishes it. Terminal records are never rewritten, so a duplicate delivery cannot produce a
//! second result; the notification has its own claim so it is published once per job.
//!
//! A job with a callback URL gets its result POSTed once announced: the announcing worker
//! queues callback attempt 1, and [`callback`] makes and records each attempt, re-queuing
//! the next one with a delay until delivered, gone (410) or given up (dead-letter + alert).

pub mod async_invoke;
pub mod async_invoke_job;
pub mod async_invoke_list;
pub mod callback;
pub mod events;
pub mod intake;
pub mod model;
pub mod ports;
pub mod processor;
pub mod producer;
pub mod submit;
pub mod submitter;

pub use model::*;
pub use ports::*;
