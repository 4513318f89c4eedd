//! The call path against a scripted in-memory model client, on tokio's paused clock: every
//! retry, deadline and fallback decision without waiting or a network.

use super::*;
use crate::api::converse::{ContentBlock, Message, Role};
use crate::api::stream::{BlockDelta, ContentBlockDelta, MessageStart, StreamEvent};
use crate::error::UpstreamKind;
use crate::resilience::in_memory::InMemoryBreakerStore;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

/// The production clock shape, over tokio (paused in these tests).
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

#[derive(Debug, Clone, Copy)]
enum Play {
    Ok,
    Fail(UpstreamKind),
    Hang,
    /// Streams: one event, then this failure.
    FailAfterFirst(UpstreamKind),
}

#[derive(Default)]
struct Scripted {
    scripts: Mutex<HashMap<String, VecDeque<Play>>>,
    always: Mutex<HashMap<String, Play>>,
    always_at: Mutex<HashMap<Target, Play>>,
    calls: Mutex<HashMap<Target, u32>>,
}

impl Scripted {
    fn script(&self, model: &str, plays: impl IntoIterator<Item = Play>) {
        self.scripts
            .lock()
            .unwrap()
            .insert(model.to_owned(), plays.into_iter().collect());
    }

    fn always(&self, model: &str, play: Play) {
        self.always.lock().unwrap().insert(model.to_owned(), play);
    }

    fn always_at(&self, target: &Target, play: Play) {
        self.always_at.lock().unwrap().insert(target.clone(), play);
    }

    fn calls(&self, model: &str) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.model_id == model)
            .map(|(_, n)| n)
            .sum()
    }

    fn calls_at(&self, target: &Target) -> u32 {
        self.calls.lock().unwrap().get(target).copied().unwrap_or(0)
    }

    fn next(&self, target: &Target) -> Play {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(target.clone())
            .or_default() += 1;
        let scripted = self
            .scripts
            .lock()
            .unwrap()
            .get_mut(&target.model_id)
            .and_then(VecDeque::pop_front);
        let at = self.always_at.lock().unwrap().get(target).copied();
        scripted
            .or(at)
            .or_else(|| self.always.lock().unwrap().get(&target.model_id).copied())
            .unwrap_or(Play::Ok)
    }
}

fn upstream(kind: UpstreamKind) -> GatewayError {
    GatewayError::Upstream {
        kind,
        message: format!("{kind:?}"),
        retry_after: None,
    }
}

fn reply(model: &str) -> ConverseResponse {
    ConverseResponse::assistant_text(format!("from {model}"))
}

async fn play(play: Play) -> Result<(), GatewayError> {
    match play {
        Play::Ok | Play::FailAfterFirst(_) => Ok(()),
        Play::Fail(kind) => Err(upstream(kind)),
        Play::Hang => std::future::pending().await,
    }
}

fn text_event(text: &str) -> StreamEvent {
    StreamEvent::ContentBlockDelta(ContentBlockDelta {
        content_block_index: 0,
        delta: BlockDelta::Text(text.to_owned()),
    })
}

impl ModelClient for Arc<Scripted> {
    async fn converse(
        &self,
        target: &Target,
        _: &ConverseRequest,
    ) -> Result<ConverseResponse, GatewayError> {
        play(self.next(target)).await?;
        Ok(reply(&target.model_id))
    }

    async fn converse_stream(
        &self,
        target: &Target,
        _: &ConverseRequest,
    ) -> Result<ConverseEventStream, GatewayError> {
        let step = self.next(target);
        play(step).await?;
        let model = target.model_id.clone();
        Ok(Box::pin(async_stream::stream! {
            yield Ok(StreamEvent::MessageStart(MessageStart { role: Role::Assistant }));
            if let Play::FailAfterFirst(kind) = step {
                yield Err(upstream(kind));
                return;
            }
            yield Ok(text_event(&format!("from {model}")));
        }))
    }

    async fn invoke(
        &self,
        target: &Target,
        _: &InvokeRequest,
    ) -> Result<InvokeResponse, GatewayError> {
        play(self.next(target)).await?;
        Ok(InvokeResponse {
            body: target.model_id.clone().into_bytes(),
            content_type: "application/json".into(),
        })
    }

    async fn invoke_stream(
        &self,
        target: &Target,
        _: &InvokeRequest,
    ) -> Result<InvokeChunkStream, GatewayError> {
        play(self.next(target)).await?;
        Ok(Box::pin(futures_stream_empty()))
    }

    async fn count_tokens(
        &self,
        target: &Target,
        _: &crate::api::count_tokens::CountTokensInput,
    ) -> Result<crate::api::count_tokens::CountTokensResponse, GatewayError> {
        play(self.next(target)).await?;
        Ok(crate::api::count_tokens::CountTokensResponse { input_tokens: 7 })
    }
}

fn futures_stream_empty()
-> impl futures_core::Stream<Item = Result<crate::api::invoke::InvokeChunk, GatewayError>> + Send {
    async_stream::stream! {
        if false {
            yield Ok(crate::api::invoke::InvokeChunk { bytes: Vec::new() });
        }
    }
}

const CONFIG: &str = r#"{
    "models": [
        {"id": "sonnet", "aliases": ["large"], "fallbacks": ["haiku"]},
        {"id": "nova", "aliases": ["medium"]},
        {"id": "haiku", "aliases": ["small"], "regions": ["us-east-1", "us-west-2"]}
    ],
    "limits": {"request_timeout_ms": 10000},
    "resilience": {
        "retry": {"max_attempts": 3, "base_delay_ms": 100, "max_delay_ms": 1000, "min_attempt_ms": 200},
        "retry_budget": {"min_retries_per_sec": 100, "max_balance": 100},
        "breaker": {"min_requests": 4, "failure_rate_threshold": 0.5, "open_ms": 5000, "cache_ttl_ms": 1000}
    }
}"#;

struct Harness {
    models: Arc<Scripted>,
    breakers: Arc<InMemoryBreakerStore>,
    gateway: Gateway<Arc<Scripted>>,
}

fn harness(json: &str) -> Harness {
    let config = GatewayConfig::parse("test", json).unwrap();
    let models = Arc::new(Scripted::default());
    let breakers = Arc::new(InMemoryBreakerStore::default());
    let parts = GatewayParts::local(&config, TokioClock)
        .with_breaker_store(Arc::clone(&breakers))
        .with_home_region(Some("us-east-1".into()));
    let gateway = Gateway::new(config, Arc::clone(&models), parts);
    Harness {
        models,
        breakers,
        gateway,
    }
}

fn ask(text: &str) -> ConverseRequest {
    ConverseRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.to_owned())],
        }],
        ..ConverseRequest::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttled_primary_falls_back_after_its_retries() {
    let h = harness(CONFIG);
    h.models
        .always("sonnet", Play::Fail(UpstreamKind::Throttled));
    let served = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("large"), &ask("hi"), None)
        .await
        .unwrap();
    assert_eq!(served.value.text(), "from haiku");
    assert_eq!(served.target, Target::in_region("haiku", "us-east-1"));
    assert_eq!((served.attempts, served.fell_back), (4, true));
    assert_eq!(served.region.as_deref(), Some("us-east-1"));
    assert_eq!(served.route, "static");
    assert_eq!(h.models.calls("sonnet"), 3);
}

#[tokio::test(start_paused = true)]
async fn validation_errors_are_neither_retried_nor_fallen_over() {
    let h = harness(CONFIG);
    h.models
        .always("sonnet", Play::Fail(UpstreamKind::Validation));
    let err = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("sonnet"), &ask("hi"), None)
        .await
        .unwrap_err()
        .error;
    assert_eq!(err.code(), "invalid_request");
    assert_eq!((h.models.calls("sonnet"), h.models.calls("haiku")), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_model_is_cut_at_the_deadline_and_nothing_starts_after_it() {
    let h = harness(CONFIG);
    h.models.always("sonnet", Play::Hang);
    let started = tokio::time::Instant::now();
    let caller_deadline = Instant::now() + Duration::from_millis(1_500);
    let err = h
        .gateway
        .converse(
            Caller::SYSTEM,
            Route::Model("sonnet"),
            &ask("hi"),
            Some(caller_deadline),
        )
        .await
        .unwrap_err()
        .error;
    let waited = started.elapsed();
    assert!(waited <= Duration::from_millis(1_600), "{waited:?}");
    assert_eq!(err.status_code(), 504, "{err}");
    assert_eq!((h.models.calls("sonnet"), h.models.calls("haiku")), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_then_skips_the_target_without_calling_it() {
    let h = harness(CONFIG);
    h.models
        .always("nova", Play::Fail(UpstreamKind::ServiceUnavailable));
    // 3 attempts, then 1 more: the 4th failure reaches min_requests and opens the breaker.
    let first = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("nova"), &ask("hi"), None)
        .await
        .unwrap_err()
        .error;
    assert_eq!(first.code(), "model_unavailable");
    let _ = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("nova"), &ask("hi"), None)
        .await;
    assert_eq!(h.models.calls("nova"), 4);
    let open = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("nova"), &ask("hi"), None)
        .await
        .unwrap_err()
        .error;
    assert_eq!(open.code(), "all_models_failed", "{open}");
    assert!(open.to_string().contains("nova: circuit open"), "{open}");
    assert_eq!(h.models.calls("nova"), 4, "no call while open");
}

#[tokio::test(start_paused = true)]
async fn a_failing_region_fails_over_to_the_next_and_is_skipped_once_open() {
    let h = harness(CONFIG);
    let (east, west) = (
        Target::in_region("haiku", "us-east-1"),
        Target::in_region("haiku", "us-west-2"),
    );
    h.models
        .always_at(&east, Play::Fail(UpstreamKind::InternalServer));
    for expected_east_calls in [3, 4, 4] {
        let served = h
            .gateway
            .converse(Caller::SYSTEM, Route::Model("small"), &ask("hi"), None)
            .await
            .unwrap();
        assert_eq!(served.target, west);
        assert_eq!(served.region.as_deref(), Some("us-west-2"));
        assert!(served.fell_back);
        assert_eq!(h.models.calls_at(&east), expected_east_calls);
    }
    assert_eq!(h.models.calls_at(&west), 3);
}

#[tokio::test(start_paused = true)]
async fn the_hot_path_reads_breaker_state_once_per_cache_ttl() {
    let h = harness(CONFIG);
    for _ in 0..20 {
        h.gateway
            .converse(Caller::SYSTEM, Route::Model("nova"), &ask("hi"), None)
            .await
            .unwrap();
    }
    assert_eq!(h.breakers.loads(), 1);
    assert_eq!(h.breakers.saves(), 0);
}

#[tokio::test(start_paused = true)]
async fn every_target_failing_serves_the_last_good_answer_or_a_clear_503() {
    let h = harness(CONFIG);
    let question = ask("what is up?");
    let fresh = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("sonnet"), &question, None)
        .await
        .unwrap();
    assert!(!fresh.from_fallback_tier);
    h.models
        .always("sonnet", Play::Fail(UpstreamKind::ModelError));
    h.models
        .always("haiku", Play::Fail(UpstreamKind::ModelError));
    let cached = h
        .gateway
        .converse(Caller::SYSTEM, Route::Model("large"), &question, None)
        .await
        .unwrap();
    assert!(cached.from_fallback_tier && cached.fell_back);
    assert_eq!(cached.value, fresh.value);
    assert_eq!(cached.target.model_id, "sonnet");
    assert_eq!(
        cached.attempts, 9,
        "3 per target: sonnet, haiku in two regions"
    );

    let err = h
        .gateway
        .converse(
            Caller::SYSTEM,
            Route::Model("sonnet"),
            &ask("something new"),
            None,
        )
        .await
        .unwrap_err()
        .error;
    assert_eq!((err.status_code(), err.code()), (503, "all_models_failed"));
    assert!(err.to_string().contains("no cached answer"), "{err}");
}

async fn collect(mut stream: ConverseEventStream) -> Vec<Result<StreamEvent, GatewayError>> {
    let mut items = Vec::new();
    while let Some(item) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        items.push(item);
    }
    items
}

#[tokio::test(start_paused = true)]
async fn streams_fall_back_only_before_the_first_event() {
    let h = harness(CONFIG);
    h.models
        .always("sonnet", Play::Fail(UpstreamKind::ServiceUnavailable));
    let served = h
        .gateway
        .converse_stream(Caller::SYSTEM, Route::Model("sonnet"), &ask("hi"), None)
        .await
        .unwrap();
    assert_eq!(served.target.model_id, "haiku");
    assert!(served.fell_back);
    let items = collect(served.value).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap(), &text_event("from haiku"));

    let h = harness(CONFIG);
    h.models
        .script("sonnet", [Play::FailAfterFirst(UpstreamKind::StreamError)]);
    let served = h
        .gateway
        .converse_stream(Caller::SYSTEM, Route::Model("sonnet"), &ask("hi"), None)
        .await
        .unwrap();
    assert_eq!(served.target.model_id, "sonnet");
    let items = collect(served.value).await;
    assert!(items[0].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err().code(), "stream_error");
    assert_eq!(
        h.models.calls("haiku"),
        0,
        "no fallback after the first event"
    );
}

#[tokio::test(start_paused = true)]
async fn invoke_fails_over_across_regions_only() {
    let h = harness(CONFIG);
    h.models
        .always("sonnet", Play::Fail(UpstreamKind::Throttled));
    let request = InvokeRequest {
        model_id: "sonnet".into(),
        body: b"{}".to_vec(),
        content_type: None,
        accept: None,
    };
    let err = h
        .gateway
        .invoke(Caller::SYSTEM, "sonnet", &request, None)
        .await
        .unwrap_err()
        .error;
    assert_eq!(err.code(), "model_throttled");
    assert_eq!(h.models.calls("haiku"), 0);
    let err = h
        .gateway
        .invoke(Caller::SYSTEM, "auto", &request, None)
        .await
        .unwrap_err()
        .error;
    assert_eq!(err.field(), Some("modelId"));
}
