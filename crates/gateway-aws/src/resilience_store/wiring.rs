//! The gateway's resilience parts from the environment, once at cold start.

use super::{DynamoStateStore, TokioClock};
use gateway::config::GatewayConfig;
use gateway::service::GatewayParts;

/// Breakers and health shared through the `STATE_TABLE` table when it is set; otherwise
/// per-instance state (logged, since every instance then learns about failures on its own).
/// The home region, for headers and breaker keys, is the SDK config's (`AWS_REGION`).
pub fn gateway_parts(
    sdk: &aws_config::SdkConfig,
    config: &GatewayConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> GatewayParts {
    let home = sdk.region().map(|r| r.as_ref().to_owned());
    let parts = GatewayParts::local(config, TokioClock).with_home_region(home);
    match lookup("STATE_TABLE").filter(|t| !t.trim().is_empty()) {
        Some(table) => {
            tracing::info!(table = %table, "circuit breakers and model health are shared through the state table");
            let store = DynamoStateStore::from_sdk_config(sdk, table);
            parts
                .with_breaker_store(store.clone())
                .with_health_store(store)
        }
        None => {
            tracing::warn!(
                "STATE_TABLE is not set: circuit breakers and model health are per instance"
            );
            parts
        }
    }
}

/// Per-instance parts without an SDK config: for hosts and tests that build clients by hand.
/// Reads `AWS_REGION` for the home region's name.
pub fn local_parts(config: &GatewayConfig) -> GatewayParts {
    GatewayParts::local(config, TokioClock).with_home_region(std::env::var("AWS_REGION").ok())
}
