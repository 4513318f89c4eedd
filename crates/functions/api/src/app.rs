//! The router: every route of the API function, in one place.

use crate::routes::{bedrock, converse, meta, openai, tasks};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use gateway::config::GatewayConfig;
use gateway::service::Gateway;
use gateway_aws::bedrock::BedrockModelClient;
use std::sync::Arc;

/// Everything a request needs, built once at cold start and shared by all requests.
pub struct AppState {
    pub gateway: Gateway<BedrockModelClient>,
}

impl AppState {
    pub fn new(config: GatewayConfig, models: BedrockModelClient) -> Arc<Self> {
        Arc::new(Self {
            gateway: Gateway::new(config, models),
        })
    }

    pub fn body_limit(&self) -> usize {
        self.gateway.config().limits.max_body_bytes
    }
}

pub type SharedState = Arc<AppState>;

pub fn router(state: SharedState) -> Router {
    let body_limit = state.body_limit();
    Router::new()
        .route("/health", get(meta::health))
        .route("/v1/models", get(meta::models))
        // Bedrock's Converse shapes under the gateway's own paths (model in the body).
        .route("/v1/converse", post(converse::converse))
        .route("/v1/converse-stream", post(converse::converse_stream))
        // OpenAI-compatible chat.
        .route("/v1/chat/completions", post(openai::chat_completions))
        // Task routes: statically routed to the model configured for the task.
        .route("/api/{task}", post(tasks::run_task))
        // The bedrock-runtime wire API itself, for AWS SDKs whose endpoint is the gateway.
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
        .fallback(meta::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
