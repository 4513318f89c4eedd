//! Model health aggregates in `HEALTH#<model>` items: read in batches, merged with a
//! conditional read-modify-write.

use super::{DynamoStateStore, Item, StoreError, body, expired, now_secs, number};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use gateway::resilience::{HealthDelta, HealthStore, ModelHealth};
use std::collections::HashMap;

/// BatchGetItem's limit on keys per call.
const BATCH: usize = 100;
/// Conditional writes lost to other instances before a merge gives up (its delta is kept
/// and retried at the next flush).
const MERGE_TRIES: usize = 5;

const PREFIX: &str = "HEALTH#";

fn corrupt(error: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt {
        what: "health",
        message: error.to_string(),
    }
}

/// The aggregate and its version; an expired item counts as absent.
fn parse(item: Item, now_secs: u64) -> Result<Option<(ModelHealth, u64)>, StoreError> {
    if expired(&item, now_secs) {
        return Ok(None);
    }
    let version = number(&item, "version").unwrap_or(0);
    let mut item = body(item);
    item.remove("version");
    let health = serde_dynamo::from_item(item).map_err(corrupt)?;
    Ok(Some((health, version)))
}

impl HealthStore for DynamoStateStore {
    type Error = StoreError;

    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    async fn load_many(&self, keys: &[String]) -> Result<HashMap<String, ModelHealth>, StoreError> {
        let now = now_secs();
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|k| Self::key(format!("{PREFIX}{k}")))
                        .collect(),
                ))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::aws("dynamodb:BatchGetItem", e))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| StoreError::aws("dynamodb:BatchGetItem", e))?;
            if output
                .unprocessed_keys
                .as_ref()
                .is_some_and(|u| !u.is_empty())
            {
                // Health is advisory: a key left out reads as unknown until the next refresh.
                tracing::info!("health load throttled; some models read as unknown");
            }
            let items = output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            for item in items {
                let key = match item.get("pk") {
                    Some(AttributeValue::S(pk)) => pk.strip_prefix(PREFIX).map(str::to_owned),
                    _ => None,
                };
                if let (Some(key), Some((health, _))) = (key, parse(item, now)?) {
                    found.insert(key, health);
                }
            }
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(key = %key, samples = delta.samples))]
    async fn merge(
        &self,
        key: &str,
        delta: &HealthDelta,
        alpha: f64,
    ) -> Result<ModelHealth, StoreError> {
        for _ in 0..MERGE_TRIES {
            let now = now_secs();
            let current = match self.get(format!("{PREFIX}{key}")).await? {
                Some(item) => parse(item, now)?,
                None => None,
            };
            let (mut health, version) = current.unwrap_or_default();
            health.apply(delta, alpha);
            let mut item: Item = serde_dynamo::to_item(&health).map_err(corrupt)?;
            item.insert(
                "version".to_owned(),
                AttributeValue::N((version + 1).to_string()),
            );
            // Version 0: no item yet (or only an expired one).
            let expected = (version != 0).then_some(version);
            if self
                .put_if_version(format!("{PREFIX}{key}"), item, expected, now)
                .await?
            {
                return Ok(health);
            }
        }
        Err(StoreError::Aws {
            operation: "dynamodb:PutItem",
            message: format!("health of '{key}' changed under {MERGE_TRIES} merges in a row"),
        })
    }
}
