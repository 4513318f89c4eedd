//! The router: every route of the API function, in one place.

use crate::http_controls::auth::{RouteInfo, governed};
use crate::routes::{
    async_invoke, bedrock, bedrock_catalog, converse, embeddings, jobs, knowledge_base, messages,
    meta, openai, responses, sagemaker, tasks, usage,
};
use crate::state::SharedState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use gateway::controls::RouteClass::{
    Chat, Converse, ConverseStream, Embeddings, Invoke, Jobs, Task, Usage,
};

const fn gw(class: gateway::controls::RouteClass) -> RouteInfo {
    RouteInfo::gateway(class)
}

const fn aws(class: gateway::controls::RouteClass) -> RouteInfo {
    RouteInfo::bedrock(class)
}

const fn oa(class: gateway::controls::RouteClass) -> RouteInfo {
    RouteInfo::openai(class)
}

pub fn router(state: SharedState) -> Router {
    let body_limit = state.body_limit();
    // Every route that calls a model, submits work or reports usage: behind the auth layer
    // (authentication, allow-lists, the audit record), with its kind and error dialect.
    let s = &state;
    let controlled = Router::new()
        // Bedrock's Converse shapes under the gateway's own paths (model in the body).
        .route(
            "/v1/converse",
            governed(s, gw(Converse), post(converse::converse)),
        )
        .route(
            "/v1/converse-stream",
            governed(s, gw(ConverseStream), post(converse::converse_stream)),
        )
        // OpenAI-compatible chat.
        .route(
            "/v1/chat/completions",
            governed(s, oa(Chat), post(openai::chat_completions)),
        )
        // OpenAI's Responses API, stateless.
        .route(
            "/v1/responses",
            governed(s, oa(Chat), post(responses::create)),
        )
        // OpenAI's embeddings API on Titan / Cohere embedding models (InvokeModel).
        .route(
            "/v1/embeddings",
            governed(s, oa(Embeddings), post(embeddings::create)),
        )
        // Anthropic's Messages API (the Anthropic SDKs, Claude Code's ANTHROPIC_BASE_URL):
        // InvokeModel with the Anthropic body.
        .route(
            "/v1/messages",
            governed(s, RouteInfo::anthropic(Invoke), post(messages::create)),
        )
        .route(
            "/v1/messages/count_tokens",
            governed(
                s,
                RouteInfo::anthropic(Invoke),
                post(messages::count_tokens),
            ),
        )
        // Task routes: statically routed to the model configured for the task.
        .route("/api/{task}", governed(s, gw(Task), post(tasks::run_task)))
        // Async jobs: submit, then poll (or be notified / called back).
        .route("/v1/jobs", governed(s, gw(Jobs), post(jobs::submit)))
        .route(
            "/v1/jobs/{job_id}",
            governed(s, gw(Jobs), get(jobs::status)),
        )
        // Usage and cost by model and day, from the ledger.
        .route("/v1/usage", governed(s, gw(Usage), get(usage::usage)))
        // The bedrock-runtime wire API itself, for AWS SDKs whose endpoint is the gateway.
        // Bedrock's async API: jobs, in Bedrock's errors.
        .route(
            "/async-invoke",
            governed(
                s,
                aws(Jobs),
                post(async_invoke::start).get(async_invoke::list),
            ),
        )
        .route(
            "/async-invoke/{*invocation_arn}",
            governed(s, aws(Jobs), get(async_invoke::get)),
        )
        .route(
            "/model/{model_id}/converse",
            governed(s, aws(Converse), post(bedrock::converse)),
        )
        .route(
            "/model/{model_id}/converse-stream",
            governed(s, aws(ConverseStream), post(bedrock::converse_stream)),
        )
        .route(
            "/model/{model_id}/invoke",
            governed(s, aws(Invoke), post(bedrock::invoke)),
        )
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            governed(s, aws(Invoke), post(bedrock::invoke_stream)),
        )
        .route(
            "/model/{model_id}/count-tokens",
            governed(s, aws(Invoke), post(bedrock::count_tokens)),
        )
        // Bedrock control-plane reads clients send to the same base URL: listings of what the
        // key may use, open to every key like its own usage, signed like the runtime calls.
        .route(
            "/inference-profiles",
            governed(s, aws(Usage), get(bedrock_catalog::list_inference_profiles)),
        )
        .route(
            "/inference-profiles/{id}",
            governed(s, aws(Usage), get(bedrock_catalog::get_inference_profile)),
        )
        .route(
            "/foundation-models",
            governed(s, aws(Usage), get(bedrock_catalog::list_foundation_models)),
        )
        // SageMaker Runtime's wire API, for endpoints configured models name.
        .route(
            "/endpoints/{endpoint}/invocations",
            governed(s, aws(Invoke), post(sagemaker::invoke_endpoint)),
        )
        .route(
            "/endpoints/{endpoint}/invocations-response-stream",
            governed(s, aws(Invoke), post(sagemaker::invoke_endpoint_stream)),
        )
        // Knowledge Bases: the gateway's RAG route, and Bedrock Agent Runtime's wire reads.
        .route(
            "/v1/knowledge-bases/{kb_id}/query",
            governed(s, gw(Converse), post(knowledge_base::query)),
        )
        .route(
            "/knowledgebases/{kb_id}/retrieve",
            governed(s, aws(Converse), post(knowledge_base::retrieve)),
        )
        .route(
            "/retrieveAndGenerate",
            governed(
                s,
                aws(Converse),
                post(knowledge_base::retrieve_and_generate),
            ),
        );
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
