//! Everything a delivery needs, built once at cold start and shared by all requests.

use std::sync::Arc;

use gateway::config::GatewayConfig;
use gateway::controls::Controller;
use gateway::env::{Env, EnvError, job_ttl_secs};
use gateway::jobs::submit::JobSettings;
use gateway::webhook::CallbackPolicy;
use gateway_aws::control_store::DynamoControlStore;
use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};

use crate::config::WebhookConfig;
use crate::dedupe::DedupeStore;

/// Epoch milliseconds. Injected so signature tolerance and TTLs are testable, and so the
/// committed sample events stay valid.
pub type EpochClock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> EpochClock {
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
    pub clock: EpochClock,
}

/// Why the function could not start: each names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Gateway(#[from] gateway::config::ConfigError),
    #[error(transparent)]
    Webhooks(#[from] crate::config::ConfigError),
    #[error("the controls could not be built: {0}")]
    Controls(String),
}

impl AppState {
    /// Everything from the environment: `WEBHOOK_CONFIG`, `GATEWAY_CONFIG` (or
    /// `GATEWAY_CONFIG_FILE`), `STATE_TABLE`, `JOBS_TABLE`, `JOBS_QUEUE_URL`, optional
    /// `JOB_TTL_DAYS` and the callback flags. Makes no network call.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<Self>, InitError> {
        let gateway = GatewayConfig::from_env(&lookup)?;
        let env = Env(&lookup);
        // https and public receivers only, unless the flags say otherwise (local development).
        let callback_policy = CallbackPolicy {
            allow_http: env.flag("CALLBACK_ALLOW_HTTP")?,
            allow_private: env.flag("CALLBACK_ALLOW_PRIVATE")?,
            allowed_hosts: None,
        };
        let webhooks = WebhookConfig::from_env(&lookup, &gateway, &callback_policy)?;
        let ttl_secs = job_ttl_secs(&env)?;
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let state_table = env.required("STATE_TABLE")?;
        let control_store =
            DynamoControlStore::new(dynamodb.clone(), &state_table, &gateway.controls.cache);
        let home = sdk.region().map(|r| r.as_ref().to_owned());
        // No seal key: this function authenticates no one, it only admits its sources' jobs.
        let controls = Controller::new(&gateway, control_store, Vec::new(), home)
            .map_err(InitError::Controls)?;
        Ok(Arc::new(Self {
            webhooks,
            gateway,
            callback_policy,
            jobs: DynamoJobStore::new(dynamodb.clone(), env.required("JOBS_TABLE")?),
            queue: SqsJobQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                env.required("JOBS_QUEUE_URL")?,
            ),
            job_settings: JobSettings { ttl_secs },
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
