//! The router and its state: everything a delivery needs, built once at cold start.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use gateway::config::GatewayConfig;
use gateway::controls::Controller;
use gateway::jobs::submit::JobSettings;
use gateway::webhook::CallbackPolicy;
use gateway_aws::controls::DynamoControlStore;
use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};

use crate::config::WebhookConfig;
use crate::dedupe::DedupeStore;
use crate::handler;

/// Epoch milliseconds. Injected so signature tolerance and TTLs are testable, and so the
/// committed sample events stay valid.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(gateway::clock::unix_ms)
}

pub struct AppState {
    pub webhooks: WebhookConfig,
    /// Models and limits: a source's model must resolve here, as the worker will resolve it.
    pub gateway: GatewayConfig,
    /// The deployment's callback policy (http / private receivers for local development).
    pub callback_policy: CallbackPolicy,
    pub jobs: DynamoJobStore,
    pub queue: SqsJobQueue,
    pub job_settings: JobSettings,
    pub dedupe: DedupeStore,
    /// Admits each job against its source's principal (limits, budgets, allowed models) and
    /// reserves its cost, over the state table, exactly as `POST /v1/jobs` does.
    pub controls: Controller<DynamoControlStore>,
    pub clock: Clock,
}

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is required"))
}

fn flag(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match lookup(name).as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, got '{other}'")),
    }
}

/// The deployment's callback policy: https and public receivers only, unless
/// `CALLBACK_ALLOW_HTTP` / `CALLBACK_ALLOW_PRIVATE` say otherwise (local development only).
pub fn callback_policy_from_env(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<CallbackPolicy, String> {
    Ok(CallbackPolicy {
        allow_http: flag(lookup, "CALLBACK_ALLOW_HTTP")?,
        allow_private: flag(lookup, "CALLBACK_ALLOW_PRIVATE")?,
        allowed_hosts: None,
    })
}

impl AppState {
    /// Everything from the environment: `WEBHOOK_CONFIG`, `GATEWAY_CONFIG` (or
    /// `GATEWAY_CONFIG_FILE`), `STATE_TABLE`, `JOBS_TABLE`, `JOBS_QUEUE_URL`, optional
    /// `JOB_TTL_DAYS` and the callback flags. Makes no network call.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<Self>, String> {
        let gateway = GatewayConfig::from_env(&lookup).map_err(|e| e.to_string())?;
        let callback_policy = callback_policy_from_env(&lookup)?;
        let webhooks = WebhookConfig::from_env(&lookup, &gateway, &callback_policy)
            .map_err(|e| e.to_string())?;
        let ttl_days = match lookup("JOB_TTL_DAYS") {
            None => 7,
            Some(days) => days
                .trim()
                .parse()
                .map_err(|_| format!("JOB_TTL_DAYS must be a whole number, got '{days}'"))?,
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let state_table = required(&lookup, "STATE_TABLE")?;
        let control_store =
            DynamoControlStore::new(dynamodb.clone(), &state_table, &gateway.controls.cache);
        let home = sdk.region().map(|r| r.as_ref().to_owned());
        // No seal key: this function authenticates no one, it only admits its sources' jobs.
        let controls = Controller::new(&gateway, control_store, Vec::new(), home)?;
        Ok(Arc::new(Self {
            webhooks,
            gateway,
            callback_policy,
            jobs: DynamoJobStore::new(dynamodb.clone(), required(&lookup, "JOBS_TABLE")?),
            queue: SqsJobQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                required(&lookup, "JOBS_QUEUE_URL")?,
            ),
            job_settings: JobSettings {
                ttl_secs: ttl_days * 24 * 3600,
            },
            dedupe: DedupeStore::new(dynamodb, state_table),
            controls,
            clock: system_clock(),
        }))
    }

    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }
}

pub type SharedState = Arc<AppState>;

pub fn router(state: SharedState) -> Router {
    // The largest source limit here; each source's own limit is checked in the handler.
    let body_limit = state.webhooks.max_body_bytes();
    Router::new()
        .route("/webhooks/{source}", post(handler::receive))
        .fallback(handler::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
