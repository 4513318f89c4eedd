//! The exact response cache's rules: which requests may be answered from it (on by default only
//! for deterministic requests, i.e. temperature 0; a request opts in or out with
//! `Cache-Control`), under which key (the fallback tier's [`cache_key`] of the canonical request,
//! optionally partitioned by tenant), how fresh an answer must be, and how a cached answer is
//! replayed as a stream.

use super::config::{CacheConfig, CachePartition};
use super::route_class::RouteClass;
use crate::api::converse::{ContentBlock, ConverseRequest, ConverseResponse, ReasoningBlock, Role};
use crate::api::stream::{
    BlockDelta, BlockStart, ContentBlockDelta, ContentBlockStart, ContentBlockStop, MessageStart,
    MessageStop, ReasoningDelta, StreamEvent, StreamMetadata, ToolUseDelta, ToolUseStart,
};
use crate::service::last_good::{LastGood, cache_key};
use serde::{Deserialize, Serialize};

/// What a request's `Cache-Control` header asks of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheDirective {
    /// No header: the route's and request's defaults.
    #[default]
    Default,
    /// `max-age=N`: an answer up to N seconds old is acceptable (this opts a non-deterministic
    /// request in); a fresh answer is kept N seconds. `max-age=0` reads nothing.
    MaxAge(u64),
    /// `no-cache`: do not answer from the cache; a fresh deterministic answer is still kept.
    NoCache,
    /// `no-store`: neither read nor keep.
    NoStore,
}

impl CacheDirective {
    /// Parses a `Cache-Control` request header. `no-store` beats `no-cache` beats `max-age`;
    /// unknown directives are ignored, as HTTP caches do.
    pub fn parse(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::Default;
        };
        let mut max_age = None;
        let mut no_cache = false;
        for part in header.split(',') {
            let part = part.trim().to_ascii_lowercase();
            if part == "no-store" {
                return Self::NoStore;
            }
            if part == "no-cache" {
                no_cache = true;
            } else if let Some(value) = part.strip_prefix("max-age=") {
                max_age = value.trim_matches('"').parse::<u64>().ok().or(max_age);
            }
        }
        if no_cache {
            Self::NoCache
        } else {
            max_age.map_or(Self::Default, Self::MaxAge)
        }
    }
}

/// A request the same as an earlier one gets the same answer only at temperature 0.
pub fn is_deterministic(request: &ConverseRequest) -> bool {
    request
        .inference_config
        .as_ref()
        .and_then(|c| c.temperature)
        .is_some_and(|t| t == 0.0)
}

/// What the cache does for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePlan {
    pub key: String,
    /// Answer from an entry at most this old (seconds); `None`: do not read.
    pub read_max_age_secs: Option<u64>,
    /// Keep a fresh answer this long (seconds); `None`: do not keep.
    pub store_ttl_secs: Option<u64>,
}

impl CachePlan {
    pub fn reads(&self) -> bool {
        self.read_max_age_secs.is_some()
    }
}

/// The cache's decision for a request on a route. `scope` is what the route resolves the
/// caller's model name to (the fallback tier's scope); `tenant` partitions when configured.
pub fn plan(
    config: &CacheConfig,
    route: RouteClass,
    directive: CacheDirective,
    request: &ConverseRequest,
    scope: &str,
    tenant: &str,
) -> Option<CachePlan> {
    if !config.enabled || !config.routes.contains(&route) {
        return None;
    }
    let deterministic = is_deterministic(request);
    let default_ttl = config.default_ttl_secs;
    let (read, store) = match directive {
        CacheDirective::NoStore => return None,
        CacheDirective::Default if deterministic => (Some(default_ttl), Some(default_ttl)),
        CacheDirective::Default => return None,
        CacheDirective::NoCache => (None, deterministic.then_some(default_ttl)),
        CacheDirective::MaxAge(0) => (None, deterministic.then_some(default_ttl)),
        CacheDirective::MaxAge(n) => {
            let n = n.min(config.max_ttl_secs);
            (Some(n), Some(n))
        }
    };
    if read.is_none() && store.is_none() {
        return None;
    }
    Some(CachePlan {
        key: key(config.partition, scope, tenant, request),
        read_max_age_secs: read,
        store_ttl_secs: store,
    })
}

/// The entry's key: the fallback tier's key for the same scope and request (so the tier
/// finds these answers), with the tenant in the scope when partitioned.
pub fn key(
    partition: CachePartition,
    scope: &str,
    tenant: &str,
    request: &ConverseRequest,
) -> String {
    match partition {
        CachePartition::Shared => cache_key(scope, request),
        CachePartition::Tenant => cache_key(&format!("tenant:{tenant}\u{0}{scope}"), request),
    }
}

/// A cached answer as stored: the fallback tier's [`LastGood`] and until when it is fresh
/// for the response cache (the tier may serve it longer, as a last resort).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub answer: LastGood,
    pub fresh_until_ms: u64,
}

impl CachedAnswer {
    /// Whether this entry may answer a request that accepts answers `max_age_secs` old.
    pub fn serves(&self, max_age_secs: u64, now_ms: u64) -> bool {
        now_ms < self.fresh_until_ms
            && now_ms
                < self
                    .answer
                    .stored_at_ms
                    .saturating_add(max_age_secs.saturating_mul(1_000))
    }
}

/// The events a ConverseStream would have sent for `response`: how a cached answer is
/// replayed on the streaming routes. Text goes in deltas of about `chunk_chars` characters.
pub fn replay_events(response: &ConverseResponse, chunk_chars: usize) -> Vec<StreamEvent> {
    let chunk_chars = chunk_chars.max(1);
    let mut events = vec![StreamEvent::MessageStart(MessageStart {
        role: Role::Assistant,
    })];
    for (index, block) in response.message().content.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let delta = |delta| {
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: index,
                delta,
            })
        };
        match block {
            ContentBlock::Text(text) => {
                for piece in chunks(text, chunk_chars) {
                    events.push(delta(BlockDelta::Text(piece.to_owned())));
                }
            }
            ContentBlock::ToolUse(tool) => {
                events.push(StreamEvent::ContentBlockStart(ContentBlockStart {
                    content_block_index: index,
                    start: BlockStart::ToolUse(ToolUseStart {
                        tool_use_id: tool.tool_use_id.clone(),
                        name: tool.name.clone(),
                    }),
                }));
                events.push(delta(BlockDelta::ToolUse(ToolUseDelta {
                    input: tool.input.to_string(),
                })));
            }
            ContentBlock::ReasoningContent(ReasoningBlock::ReasoningText(reasoning)) => {
                events.push(delta(BlockDelta::ReasoningContent(ReasoningDelta::Text(
                    reasoning.text.clone(),
                ))));
                if let Some(signature) = &reasoning.signature {
                    events.push(delta(BlockDelta::ReasoningContent(
                        ReasoningDelta::Signature(signature.clone()),
                    )));
                }
            }
            ContentBlock::ReasoningContent(ReasoningBlock::RedactedContent(redacted)) => {
                events.push(delta(BlockDelta::ReasoningContent(
                    ReasoningDelta::RedactedContent(redacted.clone()),
                )));
            }
            // A model's reply holds none of the input-only blocks; skip rather than invent.
            _ => continue,
        }
        events.push(StreamEvent::ContentBlockStop(ContentBlockStop {
            content_block_index: index,
        }));
    }
    events.push(StreamEvent::MessageStop(MessageStop {
        stop_reason: response.stop_reason.clone(),
        additional_model_response_fields: response.additional_model_response_fields.clone(),
    }));
    events.push(StreamEvent::Metadata(StreamMetadata {
        usage: response.usage,
        metrics: response.metrics,
    }));
    events
}

/// `text` in pieces of about `size` bytes, split on character boundaries.
fn chunks(text: &str, size: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&text[start..end]);
        start = end;
    }
    if pieces.is_empty() {
        pieces.push("");
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::converse::{
        ConverseOutput, InferenceConfig, Message, Metrics, ToolUseBlock, Usage,
    };
    use crate::controls::usage::StreamAccumulator;

    fn request(temperature: Option<f32>) -> ConverseRequest {
        ConverseRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text("hi".into())],
            }],
            inference_config: Some(InferenceConfig {
                temperature,
                ..InferenceConfig::default()
            }),
            ..ConverseRequest::default()
        }
    }

    #[test]
    fn cache_control_parsing() {
        assert_eq!(CacheDirective::parse(None), CacheDirective::Default);
        assert_eq!(
            CacheDirective::parse(Some("max-age=60")),
            CacheDirective::MaxAge(60)
        );
        assert_eq!(
            CacheDirective::parse(Some("No-Cache")),
            CacheDirective::NoCache
        );
        assert_eq!(
            CacheDirective::parse(Some("max-age=5, no-store")),
            CacheDirective::NoStore
        );
        assert_eq!(
            CacheDirective::parse(Some("private")),
            CacheDirective::Default
        );
        assert_eq!(
            CacheDirective::parse(Some("max-age=x")),
            CacheDirective::Default
        );
    }

    #[test]
    fn on_by_default_only_for_deterministic_requests() {
        let config = CacheConfig::default();
        let plan = |directive, temperature, route| {
            super::plan(&config, route, directive, &request(temperature), "m", "t")
        };
        let hit = plan(CacheDirective::Default, Some(0.0), RouteClass::Converse).unwrap();
        assert_eq!(hit.read_max_age_secs, Some(config.default_ttl_secs));
        assert!(plan(CacheDirective::Default, Some(0.7), RouteClass::Converse).is_none());
        assert!(plan(CacheDirective::Default, None, RouteClass::Converse).is_none());
        // Opt in with max-age, clamped to the configured maximum.
        let opted = plan(
            CacheDirective::MaxAge(u64::MAX),
            Some(0.7),
            RouteClass::Chat,
        )
        .unwrap();
        assert_eq!(opted.store_ttl_secs, Some(config.max_ttl_secs));
        // no-store: nothing; no-cache: keep but do not read.
        assert!(plan(CacheDirective::NoStore, Some(0.0), RouteClass::Converse).is_none());
        let refresh = plan(CacheDirective::NoCache, Some(0.0), RouteClass::Converse).unwrap();
        assert!(!refresh.reads() && refresh.store_ttl_secs.is_some());
        // Not on routes the cache is not enabled for.
        assert!(plan(CacheDirective::Default, Some(0.0), RouteClass::Invoke).is_none());
    }

    #[test]
    fn keys_match_the_fallback_tier_unless_partitioned() {
        let r = request(Some(0.0));
        assert_eq!(
            key(CachePartition::Shared, "m", "a", &r),
            cache_key("m", &r)
        );
        assert_ne!(
            key(CachePartition::Tenant, "m", "a", &r),
            key(CachePartition::Tenant, "m", "b", &r)
        );
    }

    #[test]
    fn freshness_is_checked_in_code() {
        let answer = CachedAnswer {
            answer: LastGood {
                response: response(),
                model_id: "m".into(),
                region: None,
                stored_at_ms: 1_000,
            },
            fresh_until_ms: 61_000,
        };
        assert!(answer.serves(60, 30_000));
        assert!(!answer.serves(10, 30_000), "older than the request accepts");
        assert!(!answer.serves(3_600, 61_000), "expired");
    }

    fn response() -> ConverseResponse {
        ConverseResponse {
            output: ConverseOutput::Message(Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text("héllo wörld, a longer reply".into()),
                    ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: "t".into(),
                        name: "f".into(),
                        input: serde_json::json!({"x": [1, 2]}),
                    }),
                ],
            }),
            stop_reason: "tool_use".into(),
            usage: Usage {
                input_tokens: 5,
                output_tokens: 6,
                total_tokens: 11,
                cache_read_input_tokens: None,
                cache_write_input_tokens: None,
                cache_write_1h_input_tokens: None,
            },
            metrics: Metrics { latency_ms: 3 },
            additional_model_response_fields: None,
            performance_config: None,
            service_tier: None,
        }
    }

    #[test]
    fn a_replayed_answer_folds_back_into_itself() {
        let original = response();
        let events = replay_events(&original, 4);
        assert!(events.len() > 6, "text split into several deltas");
        let mut acc = StreamAccumulator::default();
        for event in &events {
            acc.observe(event);
        }
        assert_eq!(acc.finish().unwrap(), original);
    }
}
