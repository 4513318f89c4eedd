//! The router: every route of the API function, in one place.

use crate::routes::{
    bedrock, bedrock_catalog, converse, embeddings, jobs, knowledge_base, messages, meta, openai,
    responses, sagemaker, tasks, usage,
};
use crate::state::SharedState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;

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
            crate::http_controls::auth::layer,
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
