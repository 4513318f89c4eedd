//! The fallback chain's last link: the last good answer to an identical request, served when
//! every model failed. A port, so the response-cache adapter (DynamoDB) can back it; the
//! in-memory store here serves one instance.

use super::erased::BoxFuture;
use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::ports::Target;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A remembered answer and who gave it (for the response headers when it is replayed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastGood {
    pub response: ConverseResponse,
    pub model_id: String,
    pub region: Option<String>,
    /// Unix ms when the answer was given; entries older than the tier's TTL are not served.
    pub stored_at_ms: u64,
}

impl LastGood {
    /// The answer `target` gave just now.
    pub(crate) fn given(response: ConverseResponse, target: &Target) -> Self {
        Self {
            response,
            model_id: target.model_id.clone(),
            region: target.region.clone(),
            stored_at_ms: crate::clock::unix_ms(),
        }
    }
}

pub type LastGoodError = Box<dyn std::error::Error + Send + Sync>;

/// Where last good answers live, keyed by [`cache_key`]. Object-safe (boxed futures) so the
/// gateway holds any implementation as `Arc<dyn LastGoodStore>`. Failures are logged by the
/// gateway and never fail a request.
pub trait LastGoodStore: Send + Sync {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<LastGood>, LastGoodError>>;
    fn put<'a>(
        &'a self,
        key: &'a str,
        answer: LastGood,
    ) -> BoxFuture<'a, Result<(), LastGoodError>>;
}

/// The key of an answer: SHA-256 over the route's scope (the model or group the caller named,
/// resolved, so an alias and its id share answers) and the request as JSON without its model
/// id. Struct fields serialize in declaration order, so equal requests give equal keys.
pub fn cache_key(scope: &str, request: &ConverseRequest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    let unnamed;
    let request = if request.model_id.is_some() {
        unnamed = ConverseRequest {
            model_id: None,
            ..request.clone()
        };
        &unnamed
    } else {
        request
    };
    // Serializing plain data into a Vec cannot fail; should it ever, the key still differs
    // per scope and the worst case is a cache miss.
    hasher.update(serde_json::to_vec(request).unwrap_or_default());
    hex::encode(hasher.finalize())
}

/// Answers held by this instance, newest `max_entries` kept.
#[derive(Debug)]
pub struct InMemoryLastGood {
    max_entries: usize,
    state: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    answers: HashMap<String, LastGood>,
    /// Keys oldest first; a key put again moves to the back.
    order: VecDeque<String>,
}

impl InMemoryLastGood {
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            state: Mutex::new(Entries::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A cache: a panic mid-update leaves at worst a missing entry.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LastGoodStore for InMemoryLastGood {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<LastGood>, LastGoodError>> {
        let found = self.lock().answers.get(key).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        answer: LastGood,
    ) -> BoxFuture<'a, Result<(), LastGoodError>> {
        let mut entries = self.lock();
        if entries.answers.insert(key.to_owned(), answer).is_some() {
            entries.order.retain(|k| k != key);
        }
        entries.order.push_back(key.to_owned());
        while entries.answers.len() > self.max_entries {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.answers.remove(&oldest);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::converse::{ContentBlock, Message, Role};

    fn request(text: &str) -> ConverseRequest {
        ConverseRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text(text.to_owned())],
            }],
            ..ConverseRequest::default()
        }
    }

    fn answer(text: &str) -> LastGood {
        LastGood {
            response: ConverseResponse::assistant_text(text),
            model_id: "m".into(),
            region: None,
            stored_at_ms: 1,
        }
    }

    #[test]
    fn keys_depend_on_scope_and_content_not_on_the_named_model() {
        let a = cache_key("m", &request("hi"));
        assert_eq!(a, cache_key("m", &request("hi")));
        let named = ConverseRequest {
            model_id: Some("alias".into()),
            ..request("hi")
        };
        assert_eq!(a, cache_key("m", &named));
        assert_ne!(a, cache_key("other", &request("hi")));
        assert_ne!(a, cache_key("m", &request("hi!")));
        assert_eq!(a.len(), 64);
    }

    #[tokio::test]
    async fn keeps_the_newest_entries() {
        let store = InMemoryLastGood::new(2);
        store.put("a", answer("1")).await.unwrap();
        store.put("b", answer("2")).await.unwrap();
        store.put("a", answer("3")).await.unwrap();
        store.put("c", answer("4")).await.unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.get("b").await.unwrap().is_none(), "oldest dropped");
        assert_eq!(store.get("a").await.unwrap().unwrap().response.text(), "3");
    }
}
