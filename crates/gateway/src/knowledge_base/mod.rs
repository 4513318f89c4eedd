//! Knowledge Bases behind the gateway: which knowledge bases a deployment serves, who may use
//! them (`kb:<id>` entries in a key's allow-list), the retrieval port, and the pure RAG
//! steps — the grounded prompt built from retrieved chunks, and the citations of an answer.
//! Generation is an ordinary model call through the gateway's call path.

pub mod rag;

use crate::error::GatewayError;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Allow-list entries naming knowledge bases start with this (`kb:<id>`, or `kb:*` for all).
pub const ALLOW_PREFIX: &str = "kb:";
/// Results retrieved when neither the request nor the knowledge base's entry names a count.
pub const DEFAULT_RESULTS: u32 = 5;
/// Bedrock's own ceiling on `numberOfResults`.
pub const MAX_RESULTS: u32 = 100;
/// The longest query accepted, in characters (Bedrock's limit for a retrieval query's text).
pub const MAX_QUERY_CHARS: usize = 1000;

/// One knowledge base the gateway serves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBaseConfig {
    /// The Bedrock knowledge base id (`[0-9a-zA-Z]{10}`).
    pub id: String,
    /// The model (id, alias or group) that answers from the retrieved chunks when the request
    /// names none.
    pub model: String,
    #[serde(default = "default_results")]
    pub number_of_results: u32,
}

fn default_results() -> u32 {
    DEFAULT_RESULTS
}

/// Bedrock's knowledge base id rule.
pub fn valid_id(id: &str) -> bool {
    id.len() == 10 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether an allow-list (empty: everything) lets a caller use knowledge base `id`.
pub fn permits(allowed: &[String], id: &str) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| {
            entry
                .strip_prefix(ALLOW_PREFIX)
                .is_some_and(|kb| kb == id || kb == "*")
        })
}

/// One retrieved chunk, as Bedrock's `Retrieve` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub text: String,
    /// Where the chunk came from (S3 URI, web URL, …), when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Bedrock Agent Runtime's `Retrieve`. One attempt per call.
pub trait KnowledgeBaseClient: Send + Sync {
    fn retrieve(
        &self,
        knowledge_base_id: &str,
        query: &str,
        number_of_results: u32,
    ) -> impl Future<Output = Result<Vec<Chunk>, GatewayError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_name_knowledge_bases_with_a_prefix() {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(permits(&[], "KB1"));
        assert!(permits(&list(&["haiku", "kb:KB1"]), "KB1"));
        assert!(!permits(&list(&["haiku", "kb:KB1"]), "KB2"));
        assert!(!permits(&list(&["haiku"]), "KB1"));
        assert!(
            !permits(&list(&["KB1"]), "KB1"),
            "a bare id is a model name"
        );
        assert!(permits(&list(&["kb:*"]), "KB9"));
    }

    #[test]
    fn ids_follow_bedrocks_rule() {
        assert!(valid_id("ABCDE12345"));
        assert!(!valid_id("ABCDE123456"));
        assert!(!valid_id("kb-1234567"));
        assert!(!valid_id("KB1"));
        assert!(!valid_id(""));
    }
}
