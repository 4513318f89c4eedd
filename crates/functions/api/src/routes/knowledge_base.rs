//! Knowledge Bases behind the gateway:
//!
//! - `POST /v1/knowledge-bases/{id}/query` — the gateway's RAG route: `Retrieve` from the
//!   knowledge base, then the answer from a model through the call path (routing, fallbacks,
//!   limits, budgets, cost, audit), with citations.
//! - `POST /knowledgebases/{id}/retrieve` and `POST /retrieveAndGenerate` — Bedrock Agent
//!   Runtime's wire operations for SDK users. RetrieveAndGenerate is answered the same way
//!   (the `modelArn` names a configured model), never by Bedrock's own generation.
//!
//! Every route needs a knowledge base the caller's allow-list covers (`kb:<id>` or `kb:*`; an
//! empty list covers all; else 403) that is configured (`knowledge_bases[]`; else 404). Every
//! retrieval is a metered call: Retrieve alone is admitted under `kb:<id>` and priced as its
//! query's embedding; a RAG answer is one admitted call whose reservation covers the chunks
//! before they are retrieved, so a refused caller retrieves nothing.

use super::Segment;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Bedrock, Failure, Gateway, Refused};
use crate::headers::AMZN_REQUEST_ID;
use crate::http_controls::call::CallContext;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::controls::output_cap::MAX_OUTPUT_TOKENS;
use gateway::knowledge_base::rag::{self, Citation};
use gateway::knowledge_base::{Chunk, KnowledgeBaseConfig, MAX_QUERY_CHARS, MAX_RESULTS, permits};
use gateway::metered::{GroundedAnswer, Query};
use serde::Deserialize;
use serde_json::{Value, json};

/// The knowledge base `id`, if this caller may use it (else 403, whether or not it exists:
/// a key learns nothing of the knowledge bases outside its allow-list) and it is configured
/// (else 404). The metered call checks the allow-list again.
fn admit<'a>(
    state: &'a SharedState,
    call: &CallContext,
    id: &str,
) -> Result<&'a KnowledgeBaseConfig, GatewayError> {
    if !permits(call.principal.allowed_models(), id) {
        return Err(GatewayError::Forbidden(format!(
            "this key may not use knowledge base '{id}'"
        )));
    }
    state
        .gateway
        .config()
        .knowledge_base(id)
        .ok_or_else(|| GatewayError::NotFound(format!("knowledge base '{id}' is not configured")))
}

fn check_query(field: &str, query: &str) -> Result<(), GatewayError> {
    if query.trim().is_empty() {
        return Err(GatewayError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(GatewayError::invalid(
            field,
            format!("{field} must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_count(
    field: &str,
    count: Option<u32>,
    kb: &KnowledgeBaseConfig,
) -> Result<u32, GatewayError> {
    let count = count.unwrap_or(kb.number_of_results);
    if !(1..=MAX_RESULTS).contains(&count) {
        return Err(GatewayError::invalid(
            field,
            format!("{field} must be 1 to {MAX_RESULTS}"),
        ));
    }
    Ok(count)
}

/// One RAG question: which model answers, what is asked, how many chunks ground it.
struct Ask<'a> {
    model: &'a str,
    query: Query<'a>,
    max_tokens: Option<u32>,
}

/// Retrieve, then generate, as one metered call: the answer, its citations and the chunks,
/// and the call's headers (`x-gateway-*`, cost, rate limits).
async fn answer(
    call: &CallContext,
    ask: Ask<'_>,
    request_id: &str,
) -> Result<(Answered, http::HeaderMap), Refused> {
    let done = call
        .grounded_converse(ask.query, ask.model, ask.max_tokens)
        .await?;
    let headers = done.headers(request_id);
    let GroundedAnswer { response, chunks } = done.served.value;
    let text = response.text();
    let citations = rag::citations(&text, &chunks);
    Ok((
        Answered {
            model: done.served.target.model_id,
            usage: response.usage,
            text,
            citations,
            chunks,
        },
        headers,
    ))
}

struct Answered {
    model: String,
    usage: gateway::api::converse::Usage,
    text: String,
    citations: Vec<Citation>,
    chunks: Vec<Chunk>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    query: String,
    /// The answering model (id, alias or group); default: the knowledge base's `model`.
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    number_of_results: Option<u32>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

/// `POST /v1/knowledge-bases/{id}/query`.
pub async fn query(
    State(state): State<SharedState>,
    Segment(kb_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Gateway>> {
    let request: QueryRequest = read_json(body, state.body_limit())?;
    let kb = admit(&state, &call, &kb_id)?;
    check_query("query", &request.query)?;
    let count = check_count("number_of_results", request.number_of_results, kb)?;
    if let Some(max) = request.max_tokens
        && !(1..=MAX_OUTPUT_TOKENS).contains(&u64::from(max))
    {
        return Err(GatewayError::invalid(
            "max_tokens",
            format!("max_tokens must be 1 to {MAX_OUTPUT_TOKENS}"),
        )
        .into());
    }
    let ask = Ask {
        model: request.model.as_deref().unwrap_or(&kb.model),
        query: Query {
            knowledge_base: kb,
            text: &request.query,
            count,
        },
        max_tokens: request.max_tokens,
    };
    let (answered, headers) = answer(&call, ask, &ctx.request_id).await?;
    let body = json!({
        "knowledge_base_id": kb_id,
        "answer": answered.text,
        "citations": answered.citations,
        "sources": answered.chunks,
        "model": answered.model,
        "usage": answered.usage,
    });
    Ok((headers, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireRetrieve {
    retrieval_query: WireText,
    #[serde(default)]
    retrieval_configuration: Option<WireRetrievalConfiguration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireText {
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireRetrievalConfiguration {
    vector_search_configuration: WireVectorSearch,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireVectorSearch {
    #[serde(default)]
    number_of_results: Option<u32>,
}

impl WireRetrievalConfiguration {
    fn count(config: Option<&Self>) -> Option<u32> {
        config.and_then(|c| c.vector_search_configuration.number_of_results)
    }
}

/// A chunk as Bedrock's `retrievedReferences` / `retrievalResults` carry it.
fn wire_reference(chunk: &Chunk) -> Value {
    let mut reference = json!({"content": {"text": chunk.text, "type": "TEXT"}});
    if let Some(uri) = &chunk.uri {
        reference["location"] = if uri.starts_with("s3://") {
            json!({"type": "S3", "s3Location": {"uri": uri}})
        } else {
            json!({"type": "WEB", "webLocation": {"url": uri}})
        };
    }
    reference
}

/// `POST /knowledgebases/{id}/retrieve`.
pub async fn retrieve(
    State(state): State<SharedState>,
    Segment(kb_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request: WireRetrieve = read_json(body, state.body_limit())?;
    let kb = admit(&state, &call, &kb_id)?;
    check_query("retrievalQuery.text", &request.retrieval_query.text)?;
    let count = check_count(
        "retrievalConfiguration.vectorSearchConfiguration.numberOfResults",
        WireRetrievalConfiguration::count(request.retrieval_configuration.as_ref()),
        kb,
    )?;
    let query = Query {
        knowledge_base: kb,
        text: &request.retrieval_query.text,
        count,
    };
    let done = call.retrieve(query).await?;
    let results: Vec<Value> = done
        .served
        .value
        .iter()
        .map(|chunk| {
            let mut result = wire_reference(chunk);
            if let Some(score) = chunk.score {
                result["score"] = json!(score);
            }
            result
        })
        .collect();
    let mut headers = done.headers(&ctx.request_id);
    crate::headers::insert(&mut headers, AMZN_REQUEST_ID, &ctx.request_id);
    Ok((headers, Json(json!({ "retrievalResults": results }))).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireRetrieveAndGenerate {
    input: WireText,
    retrieve_and_generate_configuration: WireRagConfiguration,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireRagConfiguration {
    r#type: String,
    #[serde(default)]
    knowledge_base_configuration: Option<WireKbConfiguration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireKbConfiguration {
    knowledge_base_id: String,
    model_arn: String,
    #[serde(default)]
    retrieval_configuration: Option<WireRetrievalConfiguration>,
}

/// `POST /retrieveAndGenerate`.
pub async fn retrieve_and_generate(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request: WireRetrieveAndGenerate = read_json(body, state.body_limit())?;
    let config = request.retrieve_and_generate_configuration;
    let kb_config = match (config.r#type.as_str(), config.knowledge_base_configuration) {
        ("KNOWLEDGE_BASE", Some(kb)) => kb,
        _ => {
            return Err(GatewayError::invalid(
                "retrieveAndGenerateConfiguration",
                "retrieveAndGenerateConfiguration: only type KNOWLEDGE_BASE with a knowledgeBaseConfiguration is served",
            )
            .into());
        }
    };
    if let Some(session) = &request.session_id
        && (session.len() > 100 || !session.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(GatewayError::invalid("sessionId", "sessionId is not a session id").into());
    }
    let kb = admit(&state, &call, &kb_config.knowledge_base_id)?;
    check_query("input.text", &request.input.text)?;
    let count = check_count(
        "retrieveAndGenerateConfiguration.knowledgeBaseConfiguration.retrievalConfiguration.vectorSearchConfiguration.numberOfResults",
        WireRetrievalConfiguration::count(kb_config.retrieval_configuration.as_ref()),
        kb,
    )?;
    let ask = Ask {
        model: &kb_config.model_arn,
        query: Query {
            knowledge_base: kb,
            text: &request.input.text,
            count,
        },
        max_tokens: None,
    };
    let (answered, mut headers) = answer(&call, ask, &ctx.request_id).await?;
    crate::headers::insert(&mut headers, AMZN_REQUEST_ID, &ctx.request_id);
    // The gateway keeps no conversation state: a session id is echoed, else a new one.
    let session = request
        .session_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let citations: Vec<Value> = answered
        .citations
        .iter()
        .map(|c| {
            json!({
                "generatedResponsePart": {"textResponsePart": {
                    "text": c.text,
                    "span": {"start": c.start, "end": c.end.saturating_sub(1)},
                }},
                "retrievedReferences": c.sources.iter()
                    .filter_map(|i| answered.chunks.get(*i))
                    .map(wire_reference)
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let body = json!({
        "sessionId": session,
        "output": {"text": answered.text},
        "citations": citations,
    });
    Ok((headers, Json(body)).into_response())
}
