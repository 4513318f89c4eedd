//! The controls' ports over the `state` table (`pk`, `sk`; TTL attribute `expires_at`, epoch
//! seconds, also checked in code wherever an expired item could matter).
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `KEY#<sha256 of the key>` | `KEY` | a key record (tenant, allow-lists, limits, budget, expiry, disabled, sealed SigV4 secret) |
//! | `KEYID#<key id>` | `KEY` | the same record, for SigV4 and administration by id (both written in one transaction) |
//! | `TENANT#<tenant>` | `TENANT` | a tenant's budget and the limits of its JWT callers |
//! | `RL#<principal>#<model>#<minute>` | `RL` | `requests`, `tokens`, `mark` |
//! | `CC#<principal>#<model>#<bucket>` | `CC` | `inflight` |
//! | `BUDGET#<key:id\|tenant:name>#<d:day\|m:month>` | `BUDGET` | `committed` (spent + reserved), `spent`, nano-USD |
//! | `USAGE#<tenant>#<day>` | `<principal>#<model>` | ledger row: requests, tokens by kind, `cost_nanos`, cache hits, errors |
//! | `CACHE#<request hash>` | `CACHE` | a cached answer: `body` (JSON) or `body_gz` (gzip), `fresh_until_ms`, `stored_at_ms` |
//!
//! Hot path: `reserve` is one TransactWriteItems over every counter a request touches
//! (conditions guard each add; a refusal returns the item that refused), `peek` one GetItem or
//! BatchGetItem (rate item and cached answer), issued concurrently; `settle` one
//! TransactWriteItems (counters, ledger, cache entry). Key and tenant records are read only
//! when the per-instance cache misses.

mod admin;
mod cache;
mod counters;
mod keys;
mod usage;

pub use cache::TieredLastGood;

use gateway::controls::config::CacheConfig;
use gateway::controls::ports::StoreError;
use std::collections::HashMap;

use crate::dynamo_attr::{self, Item, n, now_secs, s, string};

fn number(item: &Item, name: &str) -> Option<i64> {
    dynamo_attr::number(item, name)
}

/// The controls' records and counters in the state table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoControlStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Cached answers above this size are stored gzip-compressed.
    compress_above: usize,
    /// Cached answers above this size (after compression) are not stored.
    max_entry: usize,
}

impl DynamoControlStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        cache: &CacheConfig,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            compress_above: cache.compress_above_bytes,
            max_entry: cache.max_entry_bytes,
        }
    }

    /// A client from the shared SDK config (endpoint from `AWS_ENDPOINT_URL*`).
    pub fn from_sdk_config(
        sdk: &aws_config::SdkConfig,
        table: impl Into<String>,
        cache: &CacheConfig,
    ) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table, cache)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// Whether an item's TTL has passed, now.
fn expired(item: &Item) -> bool {
    dynamo_attr::expired(item, now_secs())
}

fn aws_error(operation: &str, error: impl std::error::Error) -> StoreError {
    StoreError(format!(
        "{operation}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(error)
    ))
}
