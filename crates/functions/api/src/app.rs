//! The router: every route of the API function, in one place.

use crate::controls::{Controls, MetricsSink};
use crate::routes::{
    async_invoke, bedrock, bedrock_catalog, converse, embeddings, jobs, knowledge_base, messages,
    meta, openai, responses, sagemaker, tasks, usage,
};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use gateway::config::GatewayConfig;
use gateway::controls::pricing::Pricing;
use gateway::jobs::submit::JobSettings;
use gateway::metered::Meter;
use gateway::service::{Gateway, GatewayParts};
use gateway::webhook::CallbackPolicy;
use gateway_aws::controls::DynamoControlStore;
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
    pub async_invoke: std::sync::OnceLock<gateway::jobs::async_invoke::AsyncInvokeSettings>,
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

/// A local-development flag: only `true` or `1` turn it on.
fn flag(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> bool {
    matches!(lookup(name).as_deref().map(str::trim), Some("true" | "1"))
}

impl JobsBackend {
    /// From `JOBS_TABLE` and `JOBS_QUEUE_URL` (and optional `JOB_TTL_DAYS`); `None` when either
    /// is unset, which leaves the jobs routes answering that jobs are not enabled.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        let table = lookup("JOBS_TABLE").filter(|v| !v.is_empty())?;
        let queue_url = lookup("JOBS_QUEUE_URL").filter(|v| !v.is_empty())?;
        let ttl_days = lookup("JOB_TTL_DAYS")
            .and_then(|d| d.parse::<u64>().ok())
            .unwrap_or(7);
        Some(Self {
            store: DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
            queue: SqsJobQueue::new(aws_sdk_sqs::Client::new(sdk), queue_url),
            settings: JobSettings {
                ttl_secs: ttl_days * 24 * 3600,
            },
            callback_policy: CallbackPolicy {
                allow_http: flag(&lookup, "CALLBACK_ALLOW_HTTP"),
                allow_private: flag(&lookup, "CALLBACK_ALLOW_PRIVATE"),
                allowed_hosts: None,
            },
        })
    }
}

impl AppState {
    /// Per-instance resilience state (breakers, health, last good answers in memory).
    pub fn new(config: GatewayConfig, models: impl Into<GatewayModelClient>) -> Arc<Self> {
        let parts = gateway_aws::resilience_store::local_parts(&config);
        Arc::new(Self::build(config, models, parts))
    }

    /// With the resilience state the caller chose (e.g. breakers shared through DynamoDB).
    pub fn with_resilience(
        config: GatewayConfig,
        models: impl Into<GatewayModelClient>,
        parts: GatewayParts,
    ) -> Arc<Self> {
        Arc::new(Self::build(config, models, parts))
    }

    pub fn new_with_jobs(
        config: GatewayConfig,
        models: impl Into<GatewayModelClient>,
        jobs: JobsBackend,
    ) -> Arc<Self> {
        let parts = gateway_aws::resilience_store::local_parts(&config);
        Arc::new(Self {
            jobs: Some(jobs),
            ..Self::build(config, models, parts)
        })
    }

    /// Everything from the environment, once at cold start: the gateway configuration, the
    /// Bedrock clients and, when configured, the jobs backends. Makes no network call.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<Self>, gateway::config::ConfigError> {
        let mut config = GatewayConfig::from_env(&lookup)?;
        crate::controls::apply_auth_mode(&mut config, &lookup)?;
        // One Bedrock client per region a model may fail over to, and a SageMaker client when
        // a model is served by an endpoint; state shared via STATE_TABLE.
        let models = GatewayModelClient::from_sdk_config(sdk, &config);
        let mut parts = gateway_aws::resilience_store::gateway_parts(sdk, &config, &lookup);
        let controls = match crate::controls::from_env(sdk, &config, &lookup)? {
            Some((controls, store)) => {
                // The fallback tier finds the response cache's answers (same store and keys).
                let max = config.resilience.cache_tier.max_entries;
                parts = parts.with_last_good(Arc::new(gateway_aws::controls::TieredLastGood::new(
                    max, store,
                )));
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
        if let Some(settings) = async_invoke::settings_from_env(sdk, &lookup) {
            let _ = state.async_invoke.set(settings);
        }
        Ok(Arc::new(match JobsBackend::from_env(sdk, &lookup) {
            Some(jobs) => Self {
                jobs: Some(jobs),
                ..state
            },
            None => state,
        }))
    }

    /// With controls (built by the caller, e.g. over a test's state table), a metrics sink
    /// and, optionally, the jobs backends.
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

pub type SharedState = Arc<AppState>;

pub fn router(state: SharedState) -> Router {
    let body_limit = state.body_limit();
    // Every route that calls a model, submits work or reports usage: behind the auth layer
    // (authentication, allow-lists, the audit record).
    let controlled = Router::new()
        // Bedrock's Converse shapes under the gateway's own paths (model in the body).
        .route("/v1/converse", post(converse::converse))
        .route("/v1/converse-stream", post(converse::converse_stream))
        // OpenAI-compatible chat.
        .route("/v1/chat/completions", post(openai::chat_completions))
        // OpenAI's Responses API, stateless.
        .route("/v1/responses", post(responses::create))
        // OpenAI's embeddings API on Titan / Cohere embedding models (InvokeModel).
        .route("/v1/embeddings", post(embeddings::create))
        // Anthropic's Messages API (the Anthropic SDKs, Claude Code's ANTHROPIC_BASE_URL).
        .route("/v1/messages", post(messages::create))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        // Task routes: statically routed to the model configured for the task.
        .route("/api/{task}", post(tasks::run_task))
        // Async jobs: submit, then poll (or be notified / called back).
        .route("/v1/jobs", post(jobs::submit))
        .route("/v1/jobs/{job_id}", get(jobs::status))
        // Usage and cost by model and day, from the ledger.
        .route("/v1/usage", get(usage::usage))
        // The bedrock-runtime wire API itself, for AWS SDKs whose endpoint is the gateway.
        .route(
            "/async-invoke",
            post(async_invoke::start).get(async_invoke::list),
        )
        .route("/async-invoke/{*invocation_arn}", get(async_invoke::get))
        .route("/model/{model_id}/converse", post(bedrock::converse))
        .route(
            "/model/{model_id}/converse-stream",
            post(bedrock::converse_stream),
        )
        .route("/model/{model_id}/invoke", post(bedrock::invoke))
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(bedrock::invoke_stream),
        )
        .route(
            "/model/{model_id}/count-tokens",
            post(bedrock::count_tokens),
        )
        // Bedrock control-plane reads clients send to the same base URL.
        .route(
            "/inference-profiles",
            get(bedrock_catalog::list_inference_profiles),
        )
        .route(
            "/inference-profiles/{id}",
            get(bedrock_catalog::get_inference_profile),
        )
        .route(
            "/foundation-models",
            get(bedrock_catalog::list_foundation_models),
        )
        // SageMaker Runtime's wire API, for endpoints configured models name.
        .route(
            "/endpoints/{endpoint}/invocations",
            post(sagemaker::invoke_endpoint),
        )
        .route(
            "/endpoints/{endpoint}/invocations-response-stream",
            post(sagemaker::invoke_endpoint_stream),
        )
        // Knowledge Bases: the gateway's RAG route, and Bedrock Agent Runtime's wire reads.
        .route(
            "/v1/knowledge-bases/{kb_id}/query",
            post(knowledge_base::query),
        )
        .route(
            "/knowledgebases/{kb_id}/retrieve",
            post(knowledge_base::retrieve),
        )
        .route(
            "/retrieveAndGenerate",
            post(knowledge_base::retrieve_and_generate),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::controls::auth::layer,
        ));
    Router::new()
        .route("/health", get(meta::health))
        .route("/v1/models", get(meta::models))
        .route("/openapi.json", get(crate::openapi::serve))
        .merge(controlled)
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
