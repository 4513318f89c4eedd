//! `POST /v1/embeddings`: OpenAI's embeddings API on Bedrock's embedding models through
//! InvokeModel (`gateway::api::embeddings`). Each model call goes through the controls like any
//! InvokeModel call (allow-list, limits, budget, cost, audit): a Titan request is one call per
//! input, one after another, a Cohere request one call. The audit record and `x-gateway-cost`
//! carry the sum of the calls.

use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Failure, OpenAi, Refused};
use crate::http_controls::call::{COST, CallContext};
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use gateway::GatewayError;
use gateway::api::embeddings::{EmbeddingFamily, EmbeddingList, EmbeddingsRequest};
use gateway::api::invoke::InvokeRequest;
use gateway::config::ModelKind;
use gateway::controls::Nanos;
use gateway::controls::usage::{TokenUsage, from_invoke_body};

/// Titan calls of one request in flight at once. One: each call takes a slot of the key's
/// concurrency cap, and a request must not be refused by its own other calls.
const CONCURRENT_CALLS: usize = 1;

/// Sums of the calls, read from the audit record each call's settlement wrote.
#[derive(Default)]
struct Tally {
    usage: TokenUsage,
    cost: Nanos,
    reported_tokens: u64,
}

pub async fn create(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<OpenAi>> {
    let (list, mut headers, cost) = embed(&state, &call, &ctx.request_id, body).await?;
    // Controls on: the sum of the calls' costs, not the last call's.
    if headers.contains_key(COST) {
        crate::headers::insert(&mut headers, COST, &cost.usd());
    }
    Ok((headers, Json(list)).into_response())
}

async fn embed(
    state: &SharedState,
    call: &CallContext,
    request_id: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<(EmbeddingList, http::HeaderMap, Nanos), Refused> {
    let request: EmbeddingsRequest = read_json(body, state.body_limit())?;
    let config = state.gateway.config();
    let embedding_names = || {
        config
            .models
            .iter()
            .filter(|m| m.kind() == ModelKind::Embedding)
            .flat_map(|m| std::iter::once(&m.id).chain(&m.aliases).cloned())
            .collect::<Vec<_>>()
    };
    let model = config
        .model(&request.model)
        .ok_or_else(|| GatewayError::UnknownModel {
            model: request.model.clone(),
            allowed: embedding_names(),
        })?;
    let family = EmbeddingFamily::of(&model.id)
        .filter(|_| model.kind() == ModelKind::Embedding)
        .ok_or_else(|| {
            GatewayError::invalid(
                "model",
                format!(
                    "'{}' is not an embedding model; embedding models: {}",
                    request.model,
                    embedding_names().join(", ")
                ),
            )
        })?;
    let plan = request.plan(family)?;
    let estimate = &config.controls.estimate;
    let request = &request;
    let calls = plan.bodies.into_iter().map(|body| {
        let invoke = InvokeRequest {
            model_id: request.model.clone(),
            body,
            content_type: Some("application/json".into()),
            accept: Some("application/json".into()),
        };
        async move {
            let done = call.invoke(&request.model, &invoke).await?;
            // The settlement just wrote this call's usage and cost into the audit record;
            // nothing ran in between (the calls share this task).
            let mut counted = (TokenUsage::default(), Nanos::ZERO);
            call.audit.update(|r| {
                counted = (
                    TokenUsage {
                        input: r.input_tokens,
                        output: r.output_tokens,
                        cache_read: r.cache_read_tokens,
                        cache_write: r.cache_write_tokens,
                        cache_write_1h: r.cache_write_1h_tokens,
                    },
                    r.cost,
                );
            });
            // Cohere's body carries no token count (Bedrock sends it in a header): the
            // estimate, which is what the reservation charged.
            let reported = match from_invoke_body(&done.served.value.body) {
                Some(usage) => usage.input,
                None => gateway::controls::estimate::invoke(
                    gateway::controls::output_cap::BodyDialect::Bedrock(&model.id),
                    &invoke.body,
                    estimate,
                )
                .map(|e| e.input_tokens)
                .unwrap_or(0),
            };
            Ok::<_, Refused>((done, counted, reported))
        }
    });
    let mut pending = std::pin::pin!(futures_util::stream::iter(calls).buffered(CONCURRENT_CALLS));
    let mut results = Vec::new();
    while let Some(result) = pending.next().await {
        let failed = result.is_err();
        results.push(result);
        // A failed input fails the request: the inputs after it are not sent (nor billed).
        if failed {
            break;
        }
    }
    let mut tally = Tally::default();
    let mut vectors = Vec::with_capacity(plan.texts.len());
    let mut last = None;
    let mut failure = None;
    for result in results {
        match result {
            Ok((done, (usage, cost), reported)) => {
                tally.usage.add(&usage);
                tally.cost = tally.cost.saturating_add(cost);
                tally.reported_tokens = tally.reported_tokens.saturating_add(reported);
                vectors.extend(gateway::api::embeddings::vectors(
                    family,
                    &done.served.value.body,
                )?);
                last = Some(done);
            }
            Err(refused) => {
                failure.get_or_insert(refused);
            }
        }
    }
    call.audit.update(|r| r.set_usage(&tally.usage, tally.cost));
    if let Some(refused) = failure {
        return Err(refused);
    }
    let done = last.ok_or_else(|| GatewayError::Internal("no embedding call was made".into()))?;
    if vectors.len() != plan.texts.len() {
        return Err(GatewayError::Internal(format!(
            "{} vectors for {} inputs",
            vectors.len(),
            plan.texts.len()
        ))
        .into());
    }
    let headers = done.headers(request_id);
    let list = EmbeddingList::new(
        done.served.target.model_id.clone(),
        vectors,
        plan.base64,
        tally.reported_tokens,
    );
    Ok((list, headers, tally.cost))
}
