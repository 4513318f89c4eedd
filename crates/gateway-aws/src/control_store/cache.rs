//! Cached answers (`CACHE#<request hash>`): written with a call's settlement, read by the
//! response cache alongside the reservation and by the fallback chain's cached-response tier.
//! Answers above `compress_above_bytes` are stored gzip-compressed; freshness and the TTL
//! are checked in code on every read.

use super::{DynamoControlStore, Item, aws_error, expired, key, n, number, s, string};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use gateway::controls::cache::CachedAnswer;
use gateway::controls::ports::{CacheWrite, StoreError};
use gateway::service::{BoxFuture, InMemoryLastGood, LastGood, LastGoodError, LastGoodStore};
use std::io::{Read, Write};

pub(super) const CACHE_SK: &str = "CACHE";

pub(super) fn cache_pk(key: &str) -> String {
    format!("CACHE#{key}")
}

/// The item for a cache write; `None` when the answer is too large even compressed.
pub(super) fn cache_item(
    write: &CacheWrite,
    compress_above: usize,
    max_entry: usize,
) -> Result<Option<Item>, String> {
    let answer = &write.answer.answer;
    let json = serde_json::to_vec(&answer.response).map_err(|e| e.to_string())?;
    let mut item = key(cache_pk(&write.key), CACHE_SK);
    if json.len() > compress_above {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&json).map_err(|e| e.to_string())?;
        let compressed = encoder.finish().map_err(|e| e.to_string())?;
        if compressed.len() > max_entry {
            return Ok(None);
        }
        item.insert(
            "body_gz".to_owned(),
            AttributeValue::B(Blob::new(compressed)),
        );
    } else {
        item.insert(
            "body".to_owned(),
            s(String::from_utf8_lossy(&json).into_owned()),
        );
    }
    item.insert("model_id".to_owned(), s(answer.model_id.clone()));
    if let Some(region) = &answer.region {
        item.insert("region".to_owned(), s(region.clone()));
    }
    item.insert("stored_at_ms".to_owned(), n(answer.stored_at_ms));
    item.insert("fresh_until_ms".to_owned(), n(write.answer.fresh_until_ms));
    item.insert("expires_at".to_owned(), n(write.expires_at_secs));
    Ok(Some(item))
}

pub(super) fn decode_cached(item: Item) -> Result<CachedAnswer, String> {
    let json = match (item.get("body"), item.get("body_gz")) {
        (Some(AttributeValue::S(body)), _) => body.clone().into_bytes(),
        (_, Some(AttributeValue::B(blob))) => {
            let mut json = Vec::new();
            GzDecoder::new(blob.as_ref())
                .read_to_end(&mut json)
                .map_err(|e| format!("gunzip: {e}"))?;
            json
        }
        _ => return Err("no body".into()),
    };
    let response = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    let number = |name| {
        number(&item, name)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| format!("no {name}"))
    };
    Ok(CachedAnswer {
        answer: LastGood {
            response,
            model_id: string(&item, "model_id").ok_or("no model_id")?,
            region: string(&item, "region"),
            stored_at_ms: number("stored_at_ms")?,
        },
        fresh_until_ms: number("fresh_until_ms")?,
    })
}

impl DynamoControlStore {
    /// A cached answer by key, whether or not still fresh (the caller decides), unless its
    /// TTL has passed.
    pub async fn cached_answer(&self, cache_key: &str) -> Result<Option<CachedAnswer>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(cache_pk(cache_key), CACHE_SK)))
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:GetItem", e))?;
        match output.item {
            Some(item) if !expired(&item) => decode_cached(item).map(Some).map_err(StoreError),
            _ => Ok(None),
        }
    }
}

/// The fallback chain's cached-response tier over the same store as the response cache:
/// answers are remembered per instance (no write on the hot path) and, when every model
/// failed, looked up here first and then in the state table, where the response cache keeps
/// answers under the same keys.
pub struct TieredLastGood {
    memory: InMemoryLastGood,
    table: DynamoControlStore,
}

impl TieredLastGood {
    pub fn new(max_entries: usize, table: DynamoControlStore) -> Self {
        Self {
            memory: InMemoryLastGood::new(max_entries),
            table,
        }
    }
}

impl LastGoodStore for TieredLastGood {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<LastGood>, LastGoodError>> {
        Box::pin(async move {
            if let Some(found) = self.memory.get(key).await? {
                return Ok(Some(found));
            }
            Ok(self.table.cached_answer(key).await?.map(|c| c.answer))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        answer: LastGood,
    ) -> BoxFuture<'a, Result<(), LastGoodError>> {
        self.memory.put(key, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::api::converse::ConverseResponse;

    fn write(text: &str) -> CacheWrite {
        CacheWrite {
            key: "k".into(),
            answer: CachedAnswer {
                answer: LastGood {
                    response: ConverseResponse::assistant_text(text),
                    model_id: "m".into(),
                    region: Some("eu-west-1".into()),
                    stored_at_ms: 5,
                },
                fresh_until_ms: 10,
            },
            expires_at_secs: 99,
        }
    }

    #[test]
    fn small_answers_stay_plain_large_ones_round_trip_compressed() {
        let small = cache_item(&write("hi"), 1_024, 350_000).unwrap().unwrap();
        assert!(small.contains_key("body"));
        assert_eq!(decode_cached(small).unwrap(), write("hi").answer);
        let text = "all work and no play ".repeat(5_000);
        let large = cache_item(&write(&text), 1_024, 350_000).unwrap().unwrap();
        let Some(AttributeValue::B(blob)) = large.get("body_gz") else {
            panic!("expected a compressed body");
        };
        assert!(blob.as_ref().len() < 10_000);
        assert_eq!(decode_cached(large).unwrap(), write(&text).answer);
        assert!(
            cache_item(&write(&text), 1_024, 100).unwrap().is_none(),
            "too large"
        );
    }
}
