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
/// A retrieved chunk is cut to this many bytes when its knowledge base's entry names no cap
/// (Bedrock's default chunks are ~300 tokens; hierarchical parents ~1,500).
pub const DEFAULT_CHUNK_BYTES: usize = 8_000;
/// The highest cap a knowledge base's entry may set.
pub const MAX_CHUNK_BYTES: usize = 100_000;
/// What a `Retrieve` is priced as when the entry names nothing: the query is embedded by it.
pub const DEFAULT_EMBEDDING_MODEL: &str = "amazon.titan-embed-text-v2:0";

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
    /// The model that embeds the query: a `Retrieve` is priced as its input tokens (the
    /// vector store's own cost is not per request).
    #[serde(default = "default_embedding_model")]
    pub embedding_model: String,
    /// Each retrieved chunk is cut to this many bytes (at a character boundary), so that
    /// the worst case a RAG answer reserves before retrieving really bounds its prompt.
    #[serde(default = "default_chunk_bytes")]
    pub max_chunk_bytes: usize,
}

impl KnowledgeBaseConfig {
    /// The name limits and ledger rows count this knowledge base's retrievals under.
    pub fn scope(&self) -> String {
        format!("{ALLOW_PREFIX}{}", self.id)
    }

    /// `chunks` with each text cut to `max_chunk_bytes`.
    pub fn bounded(&self, mut chunks: Vec<Chunk>) -> Vec<Chunk> {
        for chunk in &mut chunks {
            if chunk.text.len() > self.max_chunk_bytes {
                let mut end = self.max_chunk_bytes;
                while !chunk.text.is_char_boundary(end) {
                    end -= 1;
                }
                chunk.text.truncate(end);
            }
        }
        chunks
    }
}

fn default_results() -> u32 {
    DEFAULT_RESULTS
}

fn default_embedding_model() -> String {
    DEFAULT_EMBEDDING_MODEL.to_owned()
}

fn default_chunk_bytes() -> usize {
    DEFAULT_CHUNK_BYTES
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
    fn chunks_are_cut_at_a_character_boundary() {
        let kb: KnowledgeBaseConfig =
            serde_json::from_str(r#"{"id":"ABCDE12345","model":"m","max_chunk_bytes":4}"#).unwrap();
        let chunk = |text: &str| Chunk {
            text: text.into(),
            uri: None,
            score: None,
        };
        let cut = kb.bounded(vec![chunk("abcdef"), chunk("aé€"), chunk("ab")]);
        let texts: Vec<&str> = cut.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["abcd", "aé", "ab"]);
        assert_eq!(kb.scope(), "kb:ABCDE12345");
        assert_eq!(kb.embedding_model, DEFAULT_EMBEDDING_MODEL);
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
