//! Bedrock Agent Runtime's knowledge-base reads: `Retrieve`
//! (`POST /knowledgebases/{knowledgeBaseId}/retrieve`) and `RetrieveAndGenerate`
//! (`POST /retrieveAndGenerate`).
//!
//! Any id of the service's shape (`[0-9a-zA-Z]{10}`) names a knowledge base. Results are
//! deterministic: [`passages`] gives the chunks a query retrieves (text, S3 location, a score
//! falling by 0.07 from 0.95), and the generated answer cites the top ones. Behaviours and
//! call counts use the key `kb:<id>` (errors, hangs, first-token delay; Bedrock's error names).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Uri;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::ResolvedModel;
use crate::control::PlannedOutcome;
use crate::error::{ApiError, ErrorKind};
use crate::paths::{decode_segment, unknown_operation};
use crate::reply::{expected_reply, fnv1a};
use crate::state::SimState;
use crate::stream::sleep_unless_shutdown;

/// Results when the request names no `numberOfResults` (the service's default).
pub const DEFAULT_RESULTS: usize = 5;
const MAX_RESULTS: usize = 100;

/// The behaviour and call-counter key of a knowledge base.
pub fn behavior_key(kb_id: &str) -> String {
    format!("kb:{kb_id}")
}

/// One retrieved chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub text: String,
    pub uri: String,
    pub score: f64,
}

/// The chunks `query` retrieves from `kb_id`, best first.
pub fn passages(kb_id: &str, query: &str, count: usize) -> Vec<Passage> {
    let topic: String = query.chars().take(80).collect();
    (0..count.clamp(1, MAX_RESULTS))
        .map(|i| {
            let doc = fnv1a(format!("{kb_id}\u{0}{i}").as_bytes()) % 1000;
            Passage {
                text: format!(
                    "Passage {} on \"{topic}\": {}",
                    i + 1,
                    expected_reply(&format!("{kb_id}#{i}#{query}"))
                ),
                uri: format!("s3://kb-{}/doc-{doc:03}.txt", kb_id.to_ascii_lowercase()),
                score: ((95 - 7 * (i as i64).min(13)) as f64) / 100.0,
            }
        })
        .collect()
}

/// The answer RetrieveAndGenerate gives to `query`.
pub fn answer(kb_id: &str, query: &str) -> String {
    format!(
        "According to knowledge base {kb_id}: {}",
        expected_reply(query)
    )
}

fn reference(p: &Passage) -> Value {
    json!({
        "content": {"text": p.text, "type": "TEXT"},
        "location": {"type": "S3", "s3Location": {"uri": p.uri}},
        "metadata": {"x-amz-bedrock-kb-source-uri": p.uri},
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrieveBody {
    retrieval_query: TextInput,
    #[serde(default)]
    retrieval_configuration: Option<RetrievalConfiguration>,
}

#[derive(Deserialize)]
struct TextInput {
    text: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RetrievalConfiguration {
    #[serde(default)]
    vector_search_configuration: Option<VectorSearch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorSearch {
    #[serde(default)]
    number_of_results: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RagBody {
    input: TextInput,
    retrieve_and_generate_configuration: RagConfiguration,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RagConfiguration {
    #[serde(default)]
    knowledge_base_configuration: Option<KbConfiguration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KbConfiguration {
    knowledge_base_id: String,
    model_arn: String,
    #[serde(default)]
    retrieval_configuration: Option<RetrievalConfiguration>,
}

fn number_of_results(config: Option<&RetrievalConfiguration>) -> Result<usize, ApiError> {
    let n = config
        .and_then(|c| c.vector_search_configuration.as_ref())
        .and_then(|v| v.number_of_results)
        .unwrap_or(DEFAULT_RESULTS);
    if !(1..=MAX_RESULTS).contains(&n) {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'retrievalConfiguration.vectorSearchConfiguration.numberOfResults' failed to satisfy constraint: Member must have value between 1 and 100",
        ));
    }
    Ok(n)
}

fn valid_id(id: &str) -> bool {
    id.len() == 10 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    crate::body::parse_json(body, |path, inner| {
        ApiError::validation(format!("1 validation error detected: {path}: {inner}"))
    })
}

/// Plans one call of `kb_id` (counting it); an injected fault answers instead.
async fn begin(state: &SimState, kb_id: &str) -> Result<(), Response> {
    let key = behavior_key(kb_id);
    let plan = state.control.begin_call(&ResolvedModel {
        id: key.clone(),
        base: key,
    });
    let mut shutdown = state.shutdown_signal();
    match plan.outcome {
        PlannedOutcome::Ok => {}
        PlannedOutcome::Error(kind) => return Err(ApiError::injected(kind).into_response()),
        PlannedOutcome::StreamError { kind, .. } => {
            return Err(ApiError::injected(kind.http_equivalent()).into_response());
        }
        PlannedOutcome::Hang => {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return Err(ApiError::injected(ErrorKind::ServiceUnavailableException).into_response());
        }
    }
    if !sleep_unless_shutdown(plan.first_token, &mut shutdown).await {
        return Err(ApiError::injected(ErrorKind::ServiceUnavailableException).into_response());
    }
    Ok(())
}

fn json_response(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert("x-amzn-requestid", crate::request_id::next_header_value());
    response
}

/// `POST /knowledgebases/{knowledgeBaseId}/retrieve`.
pub(crate) async fn retrieve(
    State(state): State<Arc<SimState>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some(raw_id) = uri
        .path()
        .strip_prefix("/knowledgebases/")
        .and_then(|rest| rest.strip_suffix("/retrieve"))
    else {
        return unknown_operation(uri).await;
    };
    let Some(kb_id) = decode_segment(raw_id).filter(|id| valid_id(id)) else {
        return ApiError::validation(
            "1 validation error detected: Value at 'knowledgeBaseId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z]+",
        )
        .into_response();
    };
    let request: RetrieveBody = match parse(&body) {
        Ok(request) => request,
        Err(err) => {
            state.control.count_rejected(&behavior_key(&kb_id));
            return err.into_response();
        }
    };
    let count = match number_of_results(request.retrieval_configuration.as_ref()) {
        Ok(count) => count,
        Err(err) => return err.into_response(),
    };
    if let Err(refused) = begin(&state, &kb_id).await {
        return refused;
    }
    let results: Vec<Value> = passages(&kb_id, &request.retrieval_query.text, count)
        .iter()
        .map(|p| {
            let mut r = reference(p);
            r["score"] = json!(p.score);
            r
        })
        .collect();
    json_response(json!({ "retrievalResults": results }))
}

/// `POST /retrieveAndGenerate`.
pub(crate) async fn retrieve_and_generate(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Response {
    let request: RagBody = match parse(&body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let Some(kb) = request
        .retrieve_and_generate_configuration
        .knowledge_base_configuration
    else {
        return ApiError::validation(
            "knowledgeBaseConfiguration is required for type KNOWLEDGE_BASE (the simulator serves no other type)",
        )
        .into_response();
    };
    if !valid_id(&kb.knowledge_base_id) {
        return ApiError::validation("knowledgeBaseId must match [0-9a-zA-Z]{10}").into_response();
    }
    if kb.model_arn.trim().is_empty() {
        return ApiError::validation("modelArn must not be empty").into_response();
    }
    let count = match number_of_results(kb.retrieval_configuration.as_ref()) {
        Ok(count) => count,
        Err(err) => return err.into_response(),
    };
    if let Err(refused) = begin(&state, &kb.knowledge_base_id).await {
        return refused;
    }
    let found = passages(&kb.knowledge_base_id, &request.input.text, count);
    let text = answer(&kb.knowledge_base_id, &request.input.text);
    let cited: Vec<Value> = found.iter().take(3).map(reference).collect();
    let session = request
        .session_id
        .unwrap_or_else(|| format!("sim-session-{:016x}", fnv1a(request.input.text.as_bytes())));
    json_response(json!({
        "sessionId": session,
        "output": {"text": text},
        "citations": [{
            "generatedResponsePart": {"textResponsePart": {
                "text": text, "span": {"start": 0, "end": text.chars().count().saturating_sub(1)},
            }},
            "retrievedReferences": cited,
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_are_deterministic_and_ranked() {
        let a = passages("KB1", "what is rust", 4);
        assert_eq!(a, passages("KB1", "what is rust", 4));
        assert_eq!(a.len(), 4);
        assert!(a.windows(2).all(|w| w[0].score > w[1].score));
        assert_ne!(a[0].text, passages("KB2", "what is rust", 1)[0].text);
    }

    #[test]
    fn ids_and_counts_are_checked() {
        assert!(valid_id("ABC1234567"));
        assert!(!valid_id("ABC123"));
        assert!(!valid_id("bad-id"));
        assert!(!valid_id("ABCDEFGHIJK"));
        let config = RetrievalConfiguration {
            vector_search_configuration: Some(VectorSearch {
                number_of_results: Some(101),
            }),
        };
        assert!(number_of_results(Some(&config)).is_err());
        assert_eq!(number_of_results(None).unwrap(), DEFAULT_RESULTS);
    }
}
