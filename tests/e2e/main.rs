//! The whole suite end to end: the offline stack `gateway-local` runs (started once for this
//! test binary, in-process, on free ports: moto, bedrock-sim, the resources of template.yaml,
//! every function hosted as Lambda would invoke it), and each test sends one request through
//! one function the way a client or an application would — HTTP to the listeners, the AWS SDK
//! to the emulator — and waits for the outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod common;

mod async_job;
mod document_enrichment;
mod event_producer;
mod sync_call;
mod webhook_callback;
