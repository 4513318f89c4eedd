//! The whole suite offline, in one process: `gateway-local`.
//!
//! It starts the moto server (DynamoDB, DynamoDB Streams, SQS, SNS over their real wire
//! protocols; a child process that cannot outlive this one) and the Bedrock simulator
//! (in-process), creates every table, queue, topic and subscription `template.yaml` describes
//! (named by logical id, see [`template`]), computes each function's environment from the
//! template's `Environment.Variables` so local configuration is the deployed configuration,
//! and hosts the functions' handlers as Lambda would invoke them:
//!
//! - `api` (and later `webhook`): the axum router under a localhost listener;
//! - `worker`: the SQS event source mapping — long-poll, `SqsEvent`, delete what succeeded,
//!   leave failures for redelivery and the dead-letter queue;
//! - `stream-processor`: the DynamoDB Streams event source mapping — filter criteria, batch
//!   item failures, retries, on-failure destination.
//!
//! # Why one process and not the binaries under a local Lambda Runtime API
//!
//! The handlers are library functions, so hosting them here runs exactly the code the Lambda
//! binaries run (`main.rs` only wires it). One process starts in about a second after the
//! build, needs no Docker and no `cargo lambda watch` (which rebuilds and spawns a runtime per
//! function), logs into one readable stream, and stops cleanly on Ctrl-C. What it does not
//! exercise — the release binaries under the Lambda Runtime API — is covered by the benchmark
//! harness's cold-start test (`crates/bench`), which runs the real `bootstrap` binaries
//! against a Runtime API emulator.

pub mod endpoints;
pub mod hosts;
pub mod local_defaults;
pub mod moto;
pub mod resources;
pub mod stack;
pub mod summary;
pub mod template;

pub use resources::LocalResources;
pub use stack::{HostedFunction, LocalStack, MotoSource, Options, default_template};
pub use template::{Template, TemplateError};

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("moto: {0}")]
    Moto(String),
    #[error("bedrock-sim: {0}")]
    Simulator(String),
    #[error("creating {what}: {message}")]
    Resource { what: String, message: String },
    #[error("{function}: {message}")]
    Function { function: String, message: String },
    #[error("{function}: cannot listen on {addr}: {message}")]
    Listen {
        function: String,
        addr: SocketAddr,
        message: String,
    },
}
