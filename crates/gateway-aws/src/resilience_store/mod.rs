//! Runtime pieces of the resilience policies: the shared state (circuit breakers, model health)
//! in the single `state` table, and the tokio clock the retry loop sleeps on.
//!
//! Items (`sk` is always `STATE`; `expires_at` is the table's TTL attribute, epoch seconds,
//! also checked on every read because TTL deletion is late, and never happens locally):
//! - `BREAKER#<model>#<region>`: a [`BreakerRecord`](gateway::resilience::BreakerRecord),
//!   written only on state transitions and periodic count flushes, conditional on `version`.
//! - `HEALTH#<model>`: a [`ModelHealth`](gateway::resilience::ModelHealth) aggregate, merged
//!   read-modify-write, conditional on `version`.
//!
//! Reads are strongly consistent: a stale read would only make the next conditional write fail.

mod breaker;
mod clock;
mod health;
mod wiring;

pub use clock::TokioClock;
pub use wiring::{gateway_parts, local_parts};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::Duration;

use crate::dynamo_attr::{Item, expired, now_secs, number};

/// The sort key of every resilience item: one item per breaker or model.
const SK: &str = "STATE";

/// The policies' shared state in the `state` table. One value implements both
/// [`BreakerStore`](gateway::resilience::BreakerStore) and
/// [`HealthStore`](gateway::resilience::HealthStore); clone it for each.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The name a target without a region is keyed under, so `BREAKER#m#us-east-1` is the
    /// same breaker whether a route names the home region or not.
    home_region: String,
    /// How long an item lives after its last write.
    ttl: Duration,
}

/// A failed store call. The policies log it and carry on with local state.
#[derive(Debug)]
pub enum StoreError {
    Aws {
        operation: &'static str,
        message: String,
    },
    Corrupt {
        what: &'static str,
        message: String,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Aws { operation, message } => write!(f, "{operation} failed: {message}"),
            Self::Corrupt { what, message } => {
                write!(f, "a stored {what} item does not parse: {message}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn aws(operation: &'static str, error: impl std::error::Error) -> Self {
        Self::Aws {
            operation,
            message: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
        }
    }
}

impl DynamoStateStore {
    /// Items live a day after their last write: far longer than any cool-down or health
    /// window, short enough that retired models leave no clutter.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        home_region: Option<String>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            home_region: home_region
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "home".to_owned()),
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// A DynamoDB client from the shared SDK config (endpoint from `AWS_ENDPOINT_URL*`), keyed
    /// under the config's region.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let home = sdk.region().map(|r| r.as_ref().to_owned());
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table, home)
    }

    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(pk: String) -> Item {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(SK.to_owned())),
        ])
    }

    fn expires_at(&self, now_secs: u64) -> AttributeValue {
        AttributeValue::N(now_secs.saturating_add(self.ttl.as_secs()).to_string())
    }

    /// The item under `pk`, read strongly consistent (expired or not).
    async fn get(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("dynamodb:GetItem", e))?;
        Ok(output.item)
    }

    /// Writes `item` under `pk`, living `ttl` from `now`, if the stored item is at
    /// `expected_version`, or with `None` if there is none (or only one whose TTL passed: it
    /// reads as absent). `Ok(false)`: another writer got there first.
    async fn put_if_version(
        &self,
        pk: String,
        mut item: Item,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<bool, StoreError> {
        item.extend(Self::key(pk));
        item.insert("expires_at".to_owned(), self.expires_at(now));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expected_version {
            Some(version) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
            None => request
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(StoreError::aws("dynamodb:PutItem", e)),
        }
    }
}

/// The item without the table's own attributes, ready for `serde_dynamo::from_item`.
fn body(mut item: Item) -> Item {
    for name in ["pk", "sk", "expires_at"] {
        item.remove(name);
    }
    item
}
