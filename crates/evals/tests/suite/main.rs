//! The eval runner against the offline stack (moto + bedrock-sim + the API function, started
//! in-process): the starter suite passes, and a deliberate regression fails the gate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod common;
mod pipeline;
mod regression;
mod runner;
mod starter;
