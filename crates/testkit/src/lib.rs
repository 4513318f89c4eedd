//! Test infrastructure shared by every test binary: the local AWS emulator (the moto server, over
//! its real wire protocols) and SDK clients configured for it.
//!
//! One moto server per test binary, started on first use on a free port. Tests run in parallel in
//! that binary, so each test makes its own uniquely named tables, queues and topics.
//! If the emulator is missing, tests fail loudly with the command that installs it: never skip.

// Test infrastructure: failing fast with a clear message is the point.
#![allow(clippy::expect_used, clippy::panic)]

pub mod lambda_runtime;
mod moto;
pub mod resources;

pub use moto::{Moto, moto};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// Warnings and errors of the code under test go to the running test's captured output, so a
/// failing test shows why (an internal error's detail, a store error) next to its assertion.
/// Idempotent; called by [`moto`] and [`bedrock_sim`], so every test using either has it.
pub fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .try_init();
}

/// A name no other test in this run uses: `<prefix>-<8 hex>`.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..8])
}

/// SDK configuration for a local endpoint: dummy credentials, us-east-1, no retries (tests assert
/// exact call counts and must see the first failure).
pub fn local_sdk_config(endpoint_url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new("test", "test", None, None, "testkit"),
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build()
}

/// A Bedrock simulator on a free port of this test's runtime; dropped with the test.
pub async fn bedrock_sim() -> bedrock_sim::SimHandle {
    capture_logs();
    bedrock_sim::Simulator::start(bedrock_sim::SimConfig::default())
        .await
        .expect("testkit: the Bedrock simulator failed to start")
}

/// A bedrock-runtime SDK client for a simulator (or the gateway), no SDK retries.
pub fn bedrock_client(endpoint_url: &str) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::new(&local_sdk_config(endpoint_url))
}
