//! The crate's integration tests as one test binary: one link instead of one per file,
//! which keeps a clean build's disk use and link time down. Each module is one former file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests read the wall clock and call adapters directly: the "one of" rules bind production code.
#![allow(clippy::disallowed_methods)] // test code: fail loudly

mod common;

mod async_invoke;
mod attack_announce_batch;
mod attack_jobs;
mod callbacks;
mod fuzz;
mod jobs_charging;
mod jobs_flow;
mod lifecycle;
mod producers;
mod sagemaker_jobs;
mod soak;
