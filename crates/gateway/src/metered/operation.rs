//! The operations a metered call can make, each saying only what differs between them: how
//! its request is estimated, whether it may be answered from the response cache, how the
//! gateway's call path makes it, and how its answer settles (a whole answer at once, a stream
//! at its end). Everything else — authorise, admit, short-circuit, settle, audit — is the one
//! metered call in `super`.

use super::audit_slot::record_content;
use super::settlement::Settlement;
use super::streams;
use crate::api::converse::{ContentBlock, ConverseRequest, ConverseResponse};
use crate::api::count_tokens::{CountTokensInput, CountTokensResponse};
use crate::api::invoke::{InvokeRequest, InvokeResponse};
use crate::config::GatewayConfig;
use crate::controls::cache;
use crate::controls::estimate::{self, Estimate};
use crate::controls::models::{self, ModelRef};
use crate::controls::ports::CounterStore;
use crate::controls::usage::from_invoke_body;
use crate::controls::{Outcome, Settled};
use crate::error::GatewayError;
use crate::ports::{ConverseEventStream, InvokeChunkStream, ModelClient};
use crate::service::{Caller, Gateway, LastGood, Route, Served, Unanswered};
use std::future::Future;
use std::time::Instant;

/// How the answer settles, and what it needs from the call to do so.
pub(crate) struct Finish {
    /// Keep the answer in the response cache (the plan stores).
    pub keep: bool,
    /// Note prompt and completion in the audit record, cut to this many characters.
    pub content_chars: Option<usize>,
}

pub(crate) trait Operation: Sync {
    type Output: Send + 'static;

    /// The model (or task) the caller named.
    fn route(&self) -> Route<'_>;

    fn estimate(&self, config: &GatewayConfig) -> Result<Estimate, GatewayError>;

    /// What the controls count and price the call under: by default the model `name` (the
    /// route's) as this caller may reach it.
    fn resolve(
        &self,
        config: &GatewayConfig,
        name: &str,
        allowed: &[String],
    ) -> Result<ModelRef, GatewayError> {
        models::resolve(config, name, allowed)
    }

    /// The request the response cache keys, when this operation may be served from it.
    fn cacheable(&self) -> Option<&ConverseRequest> {
        None
    }

    /// A cached answer in this operation's shape.
    fn replay(&self, _answer: &LastGood) -> Option<Self::Output> {
        None
    }

    /// The gateway's call path: routing, retries, breakers, fallbacks.
    fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Served<Self::Output>, Unanswered>> + Send;

    /// Settles the served answer (now, or when its stream ends) and hands it on.
    fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<Self::Output>,
        settlement: Settlement<S>,
        how: Finish,
    ) -> impl Future<Output = Finished<Self::Output>> + Send;
}

/// Converse, whole answer.
pub(crate) struct Converse<'a> {
    pub route: Route<'a>,
    pub request: &'a ConverseRequest,
}

/// ConverseStream.
pub(crate) struct ConverseStream<'a> {
    pub route: Route<'a>,
    pub request: &'a ConverseRequest,
}

/// InvokeModel: the provider's own body. Not cached.
pub(crate) struct Invoke<'a> {
    pub model: &'a str,
    pub request: &'a InvokeRequest,
}

/// InvokeModelWithResponseStream. Not cached.
pub(crate) struct InvokeStream<'a> {
    pub model: &'a str,
    pub request: &'a InvokeRequest,
    /// The model is a SageMaker container's: its stream is server-sent events, its usage
    /// an OpenAI `usage` object rather than Bedrock's invocation metrics.
    pub events: bool,
}

/// CountTokens: free on Bedrock, but a call on the account's shared quota, so it is
/// admitted (rate limits, concurrency) with nothing to reserve, and settled at no cost.
pub(crate) struct CountTokens<'a> {
    pub model: &'a str,
    pub input: &'a CountTokensInput,
}

/// What a call settles and hands on: the answer, and its cost when settled already.
pub(crate) type Finished<T> = (Served<T>, Option<Settled>);

/// How an answer the fallback tier served (no model gave it now) settles.
fn from_fallback_tier<T>(served: &Served<T>) -> Option<Outcome> {
    served.from_fallback_tier.then(|| Outcome::FallbackCache {
        model_id: served.target.model_id.clone(),
    })
}

impl Operation for Converse<'_> {
    type Output = ConverseResponse;

    fn route(&self) -> Route<'_> {
        self.route
    }

    fn estimate(&self, config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        estimate::converse(self.request, &config.controls.estimate)
    }

    fn cacheable(&self) -> Option<&ConverseRequest> {
        Some(self.request)
    }

    fn replay(&self, answer: &LastGood) -> Option<ConverseResponse> {
        Some(answer.response.clone())
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseResponse>, Unanswered> {
        gateway
            .converse(caller, self.route, self.request, deadline)
            .await
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<ConverseResponse>,
        settlement: Settlement<S>,
        how: Finish,
    ) -> Finished<ConverseResponse> {
        let settled = settle_answer(&served, self.request, settlement, how).await;
        (served, settled)
    }
}

/// Settles a whole Converse answer to `request` (a model's, kept in the response cache when
/// the plan stores; or the fallback tier's) and notes its content in the audit record.
pub(crate) async fn settle_answer<S: CounterStore + 'static>(
    served: &Served<ConverseResponse>,
    request: &ConverseRequest,
    mut settlement: Settlement<S>,
    how: Finish,
) -> Option<Settled> {
    let target = &served.target;
    let outcome = from_fallback_tier(served).unwrap_or_else(|| {
        let keep = how
            .keep
            .then(|| Box::new(LastGood::given(served.value.clone(), target)));
        Outcome::answered(target, (&served.value.usage).into(), keep)
    });
    let settled = settlement.settle(outcome).await;
    if let Some(max) = how.content_chars
        && !served.from_fallback_tier
    {
        record_content(
            settlement.audit(),
            max,
            &prompt_text(request),
            &served.value.text(),
        );
    }
    settled
}

impl Operation for ConverseStream<'_> {
    type Output = ConverseEventStream;

    fn route(&self) -> Route<'_> {
        self.route
    }

    fn estimate(&self, config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        estimate::converse(self.request, &config.controls.estimate)
    }

    fn cacheable(&self) -> Option<&ConverseRequest> {
        Some(self.request)
    }

    fn replay(&self, answer: &LastGood) -> Option<ConverseEventStream> {
        let events = cache::replay_events(&answer.response, 24);
        Some(Box::pin(futures_util::stream::iter(
            events.into_iter().map(Ok),
        )))
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseEventStream>, Unanswered> {
        gateway
            .converse_stream(caller, self.route, self.request, deadline)
            .await
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<ConverseEventStream>,
        mut settlement: Settlement<S>,
        how: Finish,
    ) -> Finished<ConverseEventStream> {
        if let Some(outcome) = from_fallback_tier(&served) {
            let settled = settlement.settle(outcome).await;
            return (served, settled);
        }
        let target = served.target.clone();
        let prompt = how
            .content_chars
            .map(|max| (max, prompt_text(self.request)));
        let settle = streams::ConverseSettle {
            settlement,
            target,
            keep: how.keep,
            prompt,
        };
        (served.map(|events| streams::converse(events, settle)), None)
    }
}

impl Operation for Invoke<'_> {
    type Output = InvokeResponse;

    fn route(&self) -> Route<'_> {
        Route::Model(self.model)
    }

    fn estimate(&self, config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        invoke_estimate(config, self.model, self.request)
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeResponse>, Unanswered> {
        gateway
            .invoke(caller, self.model, self.request, deadline)
            .await
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<InvokeResponse>,
        mut settlement: Settlement<S>,
        _how: Finish,
    ) -> Finished<InvokeResponse> {
        let outcome = match from_invoke_body(&served.value.body) {
            Some(usage) => Outcome::answered(&served.target, usage, None),
            // A body without usage (a SageMaker container's plain answer): charged its
            // estimate, the output its bytes amount to.
            None => Outcome::Estimated {
                output_chars: served.value.body.len(),
            },
        };
        let settled = settlement.settle(outcome).await;
        (served, settled)
    }
}

impl Operation for InvokeStream<'_> {
    type Output = InvokeChunkStream;

    fn route(&self) -> Route<'_> {
        Route::Model(self.model)
    }

    fn estimate(&self, config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        invoke_estimate(config, self.model, self.request)
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeChunkStream>, Unanswered> {
        gateway
            .invoke_stream(caller, self.model, self.request, deadline)
            .await
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<InvokeChunkStream>,
        settlement: Settlement<S>,
        _how: Finish,
    ) -> Finished<InvokeChunkStream> {
        let target = served.target.clone();
        (
            served.map(|chunks| streams::invoke(chunks, settlement, target, self.events)),
            None,
        )
    }
}

impl Operation for CountTokens<'_> {
    type Output = CountTokensResponse;

    fn route(&self) -> Route<'_> {
        Route::Model(self.model)
    }

    fn estimate(&self, _config: &GatewayConfig) -> Result<Estimate, GatewayError> {
        Ok(Estimate {
            input_tokens: 0,
            max_output_tokens: 0,
            writes_prompt_cache: false,
        })
    }

    async fn call<M: ModelClient>(
        &self,
        gateway: &Gateway<M>,
        caller: Caller<'_>,
        deadline: Option<Instant>,
    ) -> Result<Served<CountTokensResponse>, Unanswered> {
        gateway
            .count_tokens(caller, self.model, self.input, deadline)
            .await
    }

    async fn finish<S: CounterStore + 'static>(
        &self,
        served: Served<CountTokensResponse>,
        mut settlement: Settlement<S>,
        _how: Finish,
    ) -> Finished<CountTokensResponse> {
        let outcome = Outcome::answered(&served.target, Default::default(), None);
        let settled = settlement.settle(outcome).await;
        (served, settled)
    }
}

/// An InvokeModel body's estimate, its output limit read from the fields the resolved model's
/// provider reads (an alias names no provider; the call path writes the same model's field).
fn invoke_estimate(
    config: &GatewayConfig,
    model: &str,
    request: &InvokeRequest,
) -> Result<Estimate, GatewayError> {
    let dialect = crate::controls::output_cap::BodyDialect::of_named(config, model);
    estimate::invoke(dialect, &request.body, &config.controls.estimate)
}

/// Text of the request (system and messages), for audit records that keep content.
pub(crate) fn prompt_text(request: &ConverseRequest) -> String {
    let mut parts: Vec<&str> = request.system_texts().collect();
    for message in &request.messages {
        for block in &message.content {
            if let ContentBlock::Text(text) = block {
                parts.push(text);
            }
        }
    }
    parts.join("\n")
}
