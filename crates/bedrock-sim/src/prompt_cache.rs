//! Prompt caching as Bedrock reports it: cache points (`cachePoint` in Converse, `cache_control`
//! in Anthropic bodies) end cacheable prefixes; the first use of a prefix writes it, a repeat
//! within its TTL reads it.
//!
//! Why a real cache and not a flag: the gateway prices cache reads and writes separately (and
//! 5-minute and 1-hour writes differently), so tests need the service's exact sequence — a write
//! on the first turn, reads on the next, a write again after expiry.
//!
//! Model, following Anthropic's documented rules (which Bedrock passes through):
//! * the prompt is read in the order tools → system → messages; a checkpoint's prefix is
//!   everything up to and including the marked element;
//! * at most four checkpoints, and `1h` ones before `5m` ones (both refused otherwise);
//! * the longest checkpoint prefix still cached is *read* (and its lifetime refreshed);
//!   every later checkpoint's segment is *written* with that checkpoint's TTL;
//! * token counts use the simulator's rule (ceil(chars / 4)): a prefix of `c` characters is
//!   `ceil(c / 4)` tokens, so read + write never exceeds the request's input tokens and
//!   `inputTokens` is what is left after the last checkpoint;
//! * entries are keyed by base model id and a hash of the prefix content; the state lives in
//!   the simulator and `SimHandle::reset()` clears it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Most cache points one request may carry (Bedrock and Anthropic both allow four).
pub const MAX_CHECKPOINTS: usize = 4;

/// A cache entry's lifetime class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheTtl {
    FiveMinutes,
    OneHour,
}

impl CacheTtl {
    /// `"5m"` / `"1h"` (the wire values of both APIs); `None` for anything else.
    pub fn parse(wire: &str) -> Option<CacheTtl> {
        match wire {
            "5m" => Some(CacheTtl::FiveMinutes),
            "1h" => Some(CacheTtl::OneHour),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }
}

/// Prompt-cache settings (`promptCache` in the sim config). Real models also require a minimum
/// prefix length (1,024–4,096 tokens); `minTokens` mimics that, off by default so short test
/// prompts cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PromptCacheConfig {
    /// Lifetime of a `5m` entry, in ms (default 300000).
    pub five_minute_ttl_ms: u64,
    /// Lifetime of a `1h` entry, in ms (default 3600000).
    pub one_hour_ttl_ms: u64,
    /// Checkpoints whose prefix is shorter than this many tokens are ignored, as the service
    /// ignores too-short prefixes.
    pub min_tokens: u32,
}

impl Default for PromptCacheConfig {
    fn default() -> Self {
        PromptCacheConfig {
            five_minute_ttl_ms: 300_000,
            one_hour_ttl_ms: 3_600_000,
            min_tokens: 0,
        }
    }
}

impl PromptCacheConfig {
    fn lifetime(&self, ttl: CacheTtl) -> Duration {
        Duration::from_millis(match ttl {
            CacheTtl::FiveMinutes => self.five_minute_ttl_ms,
            CacheTtl::OneHour => self.one_hour_ttl_ms,
        })
    }
}

/// The end of one cacheable prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Hash of the prefix content.
    pub hash: u64,
    /// Input characters in the prefix (the simulator's token unit).
    pub chars: usize,
    pub ttl: CacheTtl,
}

/// Walks a prompt in order, hashing its elements and recording checkpoints.
#[derive(Debug, Default)]
pub struct PrefixWalk {
    hasher: DefaultHasher,
    chars: usize,
    checkpoints: Vec<Checkpoint>,
}

impl PrefixWalk {
    /// Feeds one prompt element: `section` keeps equal JSON in different places apart (a tool
    /// is not a system block); `element` is hashed without any `cache_control` key so that the
    /// marker itself is not content; `chars` is what the element adds to the input count.
    pub fn feed(&mut self, section: &str, element: &Value, chars: usize) {
        self.hasher.write(section.as_bytes());
        self.hasher.write_u8(0);
        let bytes = match element {
            Value::Object(map) if map.contains_key("cache_control") => {
                let mut map = map.clone();
                map.remove("cache_control");
                serde_json::to_vec(&map)
            }
            other => serde_json::to_vec(other),
        };
        self.hasher.write(&bytes.unwrap_or_default());
        self.chars += chars;
    }

    /// Marks the end of a cacheable prefix here.
    pub fn checkpoint(&mut self, ttl: CacheTtl) -> Result<(), ApiError> {
        if self.checkpoints.len() == MAX_CHECKPOINTS {
            return Err(ApiError::validation(format!(
                "A maximum of {MAX_CHECKPOINTS} blocks with cache_control may be provided. Found {}.",
                MAX_CHECKPOINTS + 1
            )));
        }
        // A shorter-lived entry ends before a longer-lived one that extends it would: the
        // service refuses 1h markers after 5m ones.
        if ttl == CacheTtl::OneHour
            && self
                .checkpoints
                .iter()
                .any(|c| c.ttl == CacheTtl::FiveMinutes)
        {
            return Err(ApiError::validation(
                "A cache point with ttl='1h' must not come after a cache point with ttl='5m'. Order cache points from the longest TTL to the shortest.",
            ));
        }
        self.checkpoints.push(Checkpoint {
            hash: self.hasher.finish(),
            chars: self.chars,
            ttl,
        });
        Ok(())
    }

    /// Input characters fed so far (the whole prompt's, once the walk is done).
    pub fn chars(&self) -> usize {
        self.chars
    }

    pub fn finish(self) -> Vec<Checkpoint> {
        self.checkpoints
    }
}

/// Cache tokens of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Whether the request carried cache points at all (then usage reports the cache fields).
    pub requested: bool,
    pub read: u32,
    pub write_5m: u32,
    pub write_1h: u32,
}

impl CacheUsage {
    pub fn write(&self) -> u32 {
        self.write_5m.saturating_add(self.write_1h)
    }
}

/// Tokens of a prefix of `chars` characters (the simulator's ceil(chars / 4), without the
/// at-least-one rule of whole requests).
fn prefix_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// The simulator-wide cache: (base model, prefix hash) → expiry.
#[derive(Debug)]
pub struct PromptCache {
    config: PromptCacheConfig,
    entries: Mutex<HashMap<(String, u64), Instant>>,
}

impl PromptCache {
    pub fn new(config: PromptCacheConfig) -> Self {
        PromptCache {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, u64), Instant>> {
        // Nothing panics while holding the lock, so poisoning cannot carry a broken invariant.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every entry (the next use of any prefix is a write again).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Reads and writes the request's checkpoints at time `now` and reports the tokens.
    pub fn apply(&self, base_model: &str, checkpoints: &[Checkpoint], now: Instant) -> CacheUsage {
        let mut usage = CacheUsage {
            requested: !checkpoints.is_empty(),
            ..CacheUsage::default()
        };
        let eligible: Vec<&Checkpoint> = checkpoints
            .iter()
            .filter(|c| {
                let tokens = prefix_tokens(c.chars);
                tokens > 0 && tokens >= self.config.min_tokens
            })
            .collect();
        if eligible.is_empty() {
            return usage;
        }
        let mut entries = self.lock();
        entries.retain(|_, expiry| *expiry > now);
        let key = |c: &Checkpoint| (base_model.to_string(), c.hash);
        let hit = eligible.iter().rposition(|c| entries.contains_key(&key(c)));
        let mut covered = 0u32;
        if let Some(i) = hit {
            let c = eligible[i];
            covered = prefix_tokens(c.chars);
            usage.read = covered;
            entries.insert(key(c), now + self.config.lifetime(c.ttl));
        }
        let first_write = hit.map_or(0, |i| i + 1);
        for c in &eligible[first_write..] {
            let tokens = prefix_tokens(c.chars);
            let segment = tokens.saturating_sub(covered);
            covered = covered.max(tokens);
            match c.ttl {
                CacheTtl::FiveMinutes => usage.write_5m += segment,
                CacheTtl::OneHour => usage.write_1h += segment,
            }
            entries.insert(key(c), now + self.config.lifetime(c.ttl));
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn walk(parts: &[(&str, usize, Option<CacheTtl>)]) -> Vec<Checkpoint> {
        let mut w = PrefixWalk::default();
        for (text, chars, ttl) in parts {
            w.feed("system", &json!({ "text": text }), *chars);
            if let Some(ttl) = ttl {
                w.checkpoint(*ttl).unwrap();
            }
        }
        w.finish()
    }

    #[test]
    fn write_then_read_then_expiry() {
        let cache = PromptCache::new(PromptCacheConfig::default());
        let cps = walk(&[("long system", 400, Some(CacheTtl::FiveMinutes))]);
        let t0 = Instant::now();
        let first = cache.apply("m", &cps, t0);
        assert_eq!((first.read, first.write_5m, first.write_1h), (0, 100, 0));
        let second = cache.apply("m", &cps, t0 + Duration::from_secs(299));
        assert_eq!((second.read, second.write()), (100, 0));
        // The read refreshed the entry; 6 minutes after it, it is gone.
        let later = cache.apply("m", &cps, t0 + Duration::from_secs(299 + 360));
        assert_eq!((later.read, later.write()), (0, 100));
        // Another model has its own cache.
        assert_eq!(cache.apply("other", &cps, t0).write(), 100);
        cache.clear();
        assert_eq!(cache.apply("m", &cps, t0).write(), 100);
    }

    #[test]
    fn longest_cached_prefix_is_read_and_the_rest_written_by_ttl() {
        let cache = PromptCache::new(PromptCacheConfig::default());
        let t0 = Instant::now();
        let one = walk(&[("tools", 40, Some(CacheTtl::OneHour))]);
        assert_eq!(cache.apply("m", &one, t0).write_1h, 10);
        let two = walk(&[
            ("tools", 40, Some(CacheTtl::OneHour)),
            ("doc", 80, Some(CacheTtl::FiveMinutes)),
        ]);
        let usage = cache.apply("m", &two, t0);
        assert_eq!((usage.read, usage.write_5m, usage.write_1h), (10, 20, 0));
        // Changed content after the first checkpoint: read the first, write the new second.
        let changed = walk(&[
            ("tools", 40, Some(CacheTtl::OneHour)),
            ("other doc", 80, Some(CacheTtl::FiveMinutes)),
        ]);
        let usage = cache.apply("m", &changed, t0);
        assert_eq!((usage.read, usage.write_5m), (10, 20));
    }

    #[test]
    fn limits_and_minimums() {
        let mut w = PrefixWalk::default();
        for _ in 0..MAX_CHECKPOINTS {
            w.checkpoint(CacheTtl::FiveMinutes).unwrap();
        }
        let err = w.checkpoint(CacheTtl::FiveMinutes).unwrap_err();
        assert!(err.message.contains("maximum of 4"), "{err}");
        let mut w = PrefixWalk::default();
        w.checkpoint(CacheTtl::OneHour).unwrap();
        w.checkpoint(CacheTtl::FiveMinutes).unwrap();
        let err = w.checkpoint(CacheTtl::OneHour).unwrap_err();
        assert!(err.message.contains("ttl='1h'"), "{err}");

        let cache = PromptCache::new(PromptCacheConfig {
            min_tokens: 1024,
            ..PromptCacheConfig::default()
        });
        let short = walk(&[("short", 400, Some(CacheTtl::FiveMinutes))]);
        let usage = cache.apply("m", &short, Instant::now());
        assert!(usage.requested);
        assert_eq!((usage.read, usage.write()), (0, 0));
        // cache_control is not content: the same block with another marker hashes the same.
        let mut a = PrefixWalk::default();
        a.feed(
            "s",
            &json!({"text": "x", "cache_control": {"type": "ephemeral"}}),
            1,
        );
        a.checkpoint(CacheTtl::FiveMinutes).unwrap();
        let mut b = PrefixWalk::default();
        b.feed("s", &json!({"text": "x"}), 1);
        b.checkpoint(CacheTtl::FiveMinutes).unwrap();
        assert_eq!(a.finish()[0].hash, b.finish()[0].hash);
    }
}
