//! The knowledge-base operations of the metered call.
//!
//! - [`Retrieve`] alone: authorised by the key's allow-list (`kb:<id>`), held to its limits
//!   under the scope `kb:<id>` (per-model limits may name it), and priced as the query's
//!   input tokens at the knowledge base's embedding model's rate — what Bedrock bills per
//!   request (the vector store's cost is not per request).
//! - [`Grounded`]: a question answered from retrieved chunks, as one admitted call, counted
//!   under `kb:<id>` like a bare retrieval (the key's limits for it first). Its worst
//!   case covers the chunks before they exist (each is cut to the knowledge base's
//!   `max_chunk_bytes`), so a caller the controls refuse retrieves nothing; the answer goes
//!   through the call path (routing, fallbacks, breakers) like any Converse call and settles
//!   at its usage. The retrieval inside a grounded answer is not charged apart: its query
//!   embedding costs a millionth of the answer's tokens.

use super::operation::{Finish, Finished, Operation, settle_answer};
use super::settlement::Settlement;
use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::config::GatewayConfig;
use crate::controls::Outcome;
use crate::controls::estimate::{self, Estimate};
use crate::controls::models::{self, ModelRef};
use crate::controls::ports::CounterStore;
use crate::controls::usage::TokenUsage;
use crate::error::GatewayError;
use crate::knowledge_base::{Chunk, KnowledgeBaseClient, KnowledgeBaseConfig, permits, rag};
use crate::ports::{ModelClient, Target};
use crate::service::{Caller, Gateway, Route, Served, Unanswered};
use std::time::Instant;

/// Bytes each chunk adds to the grounded prompt besides its text (`[n] ` and a newline).
const CHUNK_FRAME_BYTES: usize = 8;

/// 403 unless `allowed` (empty: everything) covers the knowledge base.
fn authorise(knowledge_base: &KnowledgeBaseConfig, allowed: &[String]) -> Result<(), GatewayError> {
    if permits(allowed, &knowledge_base.id) {
        Ok(())
    } else {
        Err(GatewayError::Forbidden(format!(
            "this key may not use knowledge base '{}'",
            knowledge_base.id
        )))
    }
}

/// What a query asks of a knowledge base.
pub struct Query<'a> {
    pub knowledge_base: &'a KnowledgeBaseConfig,
    pub text: &'a str,
    /// Chunks to retrieve (checked by the caller against the knowledge base's range).
    pub count: u32,
}

impl Query<'_> {
    /// `Retrieve`, bounded by the deadline; each chunk cut to the knowledge base's cap.
    async fn retrieve<M: ModelClient, K: KnowledgeBaseClient>(
        &self,
        gateway: &Gateway<M>,
        client: &K,
        deadline: Option<Instant>,
    ) -> Result<Vec<Chunk>, Unanswered> {
        let work = client.retrieve(&self.knowledge_base.id, self.text, self.count);
        let chunks = gateway.within_deadline(deadline, work).await??;
        Ok(self.knowledge_base.bounded(chunks))
    }

    /// The most bytes the retrieved chunks can add to a prompt.
    fn chunk_bytes(&self) -> usize {
        let per_chunk = self.knowledge_base.max_chunk_bytes + CHUNK_FRAME_BYTES;
        per_chunk.saturating_mul(self.count as usize)
    }
}

/// `Retrieve` alone.
pub(crate) struct Retrieve<'a, K> {
    pub client: &'a K,
    pub query: Query<'a>,
    /// `kb:<id>`: the name the call is admitted, limited and audited under.
    pub scope: String,
    /// The query's tokens, as the embedding model reads them: reserved and charged.
    pub query_tokens: u64,
}

impl<K: KnowledgeBaseClient> Operation for Retrieve<'_, K> {
    type Output = Vec<Chunk>;

    fn route(&self) -> Route<'_> {
        Route::Model(&self.scope)
    }

    fn estimate(&self, _config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        Ok(Estimate {
            input_tokens: self.query_tokens,
            max_output_tokens: 0,
            writes_prompt_cache: false,
        })
    }

    fn resolve(
        &self,
        _config: &GatewayConfig,
        _name: &str,
        allowed: &[String],
    ) -> Result<ModelRef, GatewayError> {
        let knowledge_base = self.query.knowledge_base;
        authorise(knowledge_base, allowed)?;
        Ok(ModelRef {
            scope: self.scope.clone(),
            names: vec![self.scope.clone()],
            // What the reservation is priced at: the embedding of the query.
            candidates: vec![Target::new(knowledge_base.embedding_model.clone())],
        })
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        _caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<Vec<Chunk>>, Unanswered> {
        let chunks = self.query.retrieve(gateway, self.client, deadline).await?;
        Ok(Served {
            value: chunks,
            target: Target::new(self.scope.clone()),
            attempts: 1,
            fell_back: false,
            from_fallback_tier: false,
            region: gateway.home_region().map(str::to_owned),
            route: "knowledge_base".to_owned(),
        })
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<Vec<Chunk>>,
        mut settlement: Settlement<S>,
        _how: Finish,
    ) -> Finished<Vec<Chunk>> {
        // Priced as the embedding model's input: the ledger row names that model.
        let outcome = Outcome::Answered {
            model_id: self.query.knowledge_base.embedding_model.clone(),
            region: None,
            usage: TokenUsage {
                input: self.query_tokens,
                ..TokenUsage::default()
            },
            keep: None,
        };
        let settled = settlement.settle(outcome).await;
        (served, settled)
    }
}

/// An answer grounded in retrieved chunks, and the chunks.
pub struct GroundedAnswer {
    pub response: ConverseResponse,
    pub chunks: Vec<Chunk>,
}

/// Retrieve, then answer from the chunks through the call path.
pub(crate) struct Grounded<'a, K> {
    pub client: &'a K,
    pub query: Query<'a>,
    /// The answering model (id, alias, group or `auto`).
    pub model: &'a str,
    pub max_tokens: Option<u32>,
}

impl<K: KnowledgeBaseClient> Grounded<'_, K> {
    fn request(&self, chunks: &[Chunk]) -> ConverseRequest {
        rag::grounded_request(self.query.text, chunks, self.max_tokens)
    }
}

impl<K: KnowledgeBaseClient> Operation for Grounded<'_, K> {
    type Output = GroundedAnswer;

    fn route(&self) -> Route<'_> {
        Route::Model(self.model)
    }

    /// The prompt without chunks, plus every chunk at its cap.
    fn estimate(&self, config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        let config = &config.controls.estimate;
        let mut estimate = estimate::converse(&self.request(&[]), config)?;
        let chunks = estimate::text_tokens(self.query.chunk_bytes(), config);
        estimate.input_tokens = estimate.input_tokens.saturating_add(chunks);
        Ok(estimate)
    }

    fn resolve(
        &self,
        config: &GatewayConfig,
        name: &str,
        allowed: &[String],
    ) -> Result<ModelRef, GatewayError> {
        authorise(self.query.knowledge_base, allowed)?;
        // Counted under the knowledge base, with its bare retrievals: the key's limits for
        // `kb:<id>` hold on every route that retrieves; without them, the answering model's.
        let mut model = models::resolve(config, name, allowed)?;
        let scope = self.query.knowledge_base.scope();
        model.names.insert(0, scope.clone());
        model.scope = scope;
        Ok(model)
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<GroundedAnswer>, Unanswered> {
        let chunks = self.query.retrieve(gateway, self.client, deadline).await?;
        let request = self.request(&chunks);
        let served = gateway
            .converse(caller, Route::Model(self.model), &request, deadline)
            .await?;
        Ok(served.map(|response| GroundedAnswer { response, chunks }))
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<GroundedAnswer>,
        settlement: Settlement<S>,
        how: Finish,
    ) -> Finished<GroundedAnswer> {
        let mut chunks = Vec::new();
        let answer = served.map(|grounded| {
            chunks = grounded.chunks;
            grounded.response
        });
        let settled = settle_answer(&answer, &self.request(&chunks), settlement, how).await;
        (
            answer.map(|response| GroundedAnswer { response, chunks }),
            settled,
        )
    }
}
