//! Everything a request needs, built once at cold start and shared by all requests: the
//! gateway and its clients, the controls, the jobs backends, the metrics sink. Handlers and
//! the auth layer read it; only `app.rs` (the router) and the hosts build it.

use crate::http_controls::{Controls, MetricsSink};
use gateway::config::GatewayConfig;
use gateway::controls::pricing::Pricing;
use gateway::env::{Env, EnvError, job_ttl_secs};
use gateway::jobs::async_invoke::AsyncInvokeSettings;
use gateway::jobs::submit::JobSettings;
use gateway::metered::Meter;
use gateway::service::{Gateway, GatewayParts};
use gateway::webhook::CallbackPolicy;
use gateway_aws::control_store::DynamoControlStore;
use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};
use gateway_aws::knowledge_base::BedrockKnowledgeBases;
use gateway_aws::models::GatewayModelClient;
use std::sync::Arc;

/// Everything a request needs, built once at cold start and shared by all requests.
pub struct AppState {
    pub gateway: Gateway<GatewayModelClient>,
    /// The async jobs backends; `None` when this deployment has no jobs table/queue configured.
    pub jobs: Option<JobsBackend>,
    /// Keys, limits, budgets, usage and the response cache; `None` with `auth.mode: none`.
    pub controls: Option<Arc<Controls>>,
    /// Where each request's EMF metric line goes.
    pub metrics: MetricsSink,
    /// Prices calls with controls off too, so every audit record has its cost.
    pub pricing: Option<Arc<Pricing>>,
    /// Bedrock Knowledge Bases' Retrieve, for the knowledge-base routes: set at cold start when
    /// the configuration lists knowledge bases (tests set it over their simulator).
    pub knowledge_bases: std::sync::OnceLock<BedrockKnowledgeBases>,
    /// Bedrock's async API (`/async-invoke`): set when `ASYNC_INVOKE_BUCKET` names the output
    /// bucket (tests set it over their emulator's bucket).
    pub async_invoke: std::sync::OnceLock<AsyncInvokeSettings>,
}

/// Where `POST /v1/jobs` writes and enqueues.
pub struct JobsBackend {
    pub store: DynamoJobStore,
    pub queue: SqsJobQueue,
    pub settings: JobSettings,
    /// The deployment's callback policy, checked at submit (the worker's, from the same
    /// `CALLBACK_ALLOW_HTTP` / `CALLBACK_ALLOW_PRIVATE` variables).
    pub callback_policy: CallbackPolicy,
}

impl JobsBackend {
    /// From `JOBS_TABLE` and `JOBS_QUEUE_URL` (and optional `JOB_TTL_DAYS` and the callback
    /// flags); `None` when either is unset, which leaves the jobs routes answering that jobs
    /// are not enabled. A set variable that does not parse fails the cold start.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, EnvError> {
        let env = Env(lookup);
        let (Some(table), Some(queue_url)) =
            (env.optional("JOBS_TABLE"), env.optional("JOBS_QUEUE_URL"))
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            store: DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
            queue: SqsJobQueue::new(aws_sdk_sqs::Client::new(sdk), queue_url),
            settings: JobSettings {
                ttl_secs: job_ttl_secs(&env)?,
            },
            callback_policy: CallbackPolicy {
                allow_http: env.flag("CALLBACK_ALLOW_HTTP")?,
                allow_private: env.flag("CALLBACK_ALLOW_PRIVATE")?,
                allowed_hosts: None,
            },
        }))
    }
}

impl AppState {
    /// Per-instance resilience state (breakers, health, last good answers in memory).
    pub fn new(config: GatewayConfig, models: impl Into<GatewayModelClient>) -> Arc<Self> {
        let parts = gateway_aws::resilience_store::local_parts(&config);
        Arc::new(Self::build(config, models, parts))
    }

    /// Everything from the environment, once at cold start: the gateway configuration, the
    /// Bedrock clients and, when configured, the jobs backends. Makes no network call.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<Self>, gateway::config::ConfigError> {
        let mut config = GatewayConfig::from_env(&lookup)?;
        crate::http_controls::apply_auth_mode(&mut config, &lookup)?;
        // One Bedrock client per region a model may fail over to, and a SageMaker client when
        // a model is served by an endpoint; state shared via STATE_TABLE.
        let models = GatewayModelClient::from_sdk_config(sdk, &config);
        let mut parts = gateway_aws::resilience_store::gateway_parts(sdk, &config, &lookup);
        let controls = match crate::http_controls::from_env(sdk, &config, &lookup)? {
            Some((controls, store)) => {
                // The fallback tier finds the response cache's answers (same store and keys).
                let max = config.resilience.cache_tier.max_entries;
                parts = parts.with_last_good(Arc::new(
                    gateway_aws::control_store::TieredLastGood::new(max, store),
                ));
                Some(Arc::new(controls))
            }
            None => None,
        };
        let metrics = if config.controls.metrics.enabled {
            MetricsSink::Stdout
        } else {
            MetricsSink::Off
        };
        let knowledge_bases = std::sync::OnceLock::new();
        if !config.knowledge_bases.is_empty() {
            let _ = knowledge_bases.set(BedrockKnowledgeBases::from_sdk_config(sdk));
        }
        let state = Self {
            controls,
            metrics,
            knowledge_bases,
            ..Self::build(config, models, parts)
        };
        if let Some(settings) = async_invoke_from_env(sdk, &lookup) {
            let _ = state.async_invoke.set(settings);
        }
        // `build` left `jobs` unset: `None` stays `None`.
        Ok(Arc::new(Self {
            jobs: JobsBackend::from_env(sdk, &lookup)?,
            ..state
        }))
    }

    /// With the resilience state (e.g. breakers shared through DynamoDB), controls (e.g. over
    /// a test's state table), metrics sink and jobs backends the caller chose.
    pub fn with_controls(
        config: GatewayConfig,
        models: impl Into<GatewayModelClient>,
        parts: GatewayParts,
        controls: Option<Controls>,
        metrics: MetricsSink,
        jobs: Option<JobsBackend>,
    ) -> Arc<Self> {
        Arc::new(Self {
            controls: controls.map(Arc::new),
            metrics,
            jobs,
            ..Self::build(config, models, parts)
        })
    }

    fn build(
        config: GatewayConfig,
        models: impl Into<GatewayModelClient>,
        parts: GatewayParts,
    ) -> Self {
        let pricing = Pricing::new(&config, parts.home_region.clone())
            .inspect_err(|error| tracing::error!(%error, "no price table; costs are recorded as 0"))
            .ok()
            .map(Arc::new);
        Self {
            pricing,
            gateway: Gateway::new(config, models.into(), parts),
            jobs: None,
            controls: None,
            metrics: MetricsSink::Off,
            knowledge_bases: std::sync::OnceLock::new(),
            async_invoke: std::sync::OnceLock::new(),
        }
    }

    /// The one metered call path over this state's gateway and controls.
    pub fn meter(&self) -> Meter<'_, GatewayModelClient, DynamoControlStore> {
        Meter {
            gateway: &self.gateway,
            controls: self.controls.as_ref(),
            pricing: self.pricing.as_ref(),
        }
    }

    pub fn body_limit(&self) -> usize {
        self.gateway.config().limits.max_body_bytes
    }
}

/// From `ASYNC_INVOKE_BUCKET` (the one output bucket; unset: the routes answer 404), the
/// function's region and `AWS_ACCOUNT_ID` (in invocation ARNs; template.yaml sets it).
fn async_invoke_from_env(
    sdk: &aws_config::SdkConfig,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Option<AsyncInvokeSettings> {
    let bucket = lookup("ASYNC_INVOKE_BUCKET").filter(|b| !b.trim().is_empty())?;
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let account = lookup("AWS_ACCOUNT_ID")
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| "000000000000".to_owned());
    Some(AsyncInvokeSettings {
        bucket: bucket.trim().to_owned(),
        region,
        account,
    })
}

pub type SharedState = Arc<AppState>;
