//! Remembering deliveries in the state table, so a redelivered webhook is not processed twice.
//!
//! A delivery is known by its dedupe key (see the handler): `sha256:<hex of the body>`, plus
//! `:id:<delivery id>` when the scheme signs the id. An unsigned id never identifies a
//! delivery alone, so one signed body replayed under fresh ids is one delivery.
//!
//! Item: `pk = WEBHOOK#<source>#<dedupe key>`, `sk = DEDUPE`, the job id, `state`
//! (`RECEIVED` when claimed, `ACCEPTED` once its job is queued) and `expires_at` (epoch
//! seconds, the table's TTL attribute). TTL deletion is lazy (and absent in the emulator),
//! so the claim's condition treats an expired item as absent itself.
//!
//! A delivery whose first attempt died between claim and queue (state still `RECEIVED`) is
//! processed again on redelivery: the job id is derived from the dedupe key, so the job is
//! still created once.

use std::collections::HashMap;

use crate::dynamo_attr::{n, s};
use aws_sdk_dynamodb::error::SdkError;
use gateway::GatewayError;
use gateway::webhook::VerifiedDelivery;

const SORT_KEY: &str = "DEDUPE";
const RECEIVED: &str = "RECEIVED";
const ACCEPTED: &str = "ACCEPTED";

/// What the claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First time seen (or the old record expired): process it.
    New,
    /// Seen before. `accepted`: its job was queued, so there is nothing left to do.
    Seen { accepted: bool, job_id: String },
}

#[derive(Debug, Clone)]
pub struct DedupeStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn aws_error(operation: &str, error: impl std::fmt::Debug) -> GatewayError {
    tracing::error!(operation, error = ?error, "AWS call failed");
    GatewayError::Internal(format!("{operation} failed"))
}

impl DedupeStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// What makes two deliveries the same: see [`VerifiedDelivery::dedupe_key`].
    pub fn delivery_key(delivery: &VerifiedDelivery, body: &[u8]) -> String {
        delivery.dedupe_key(body)
    }

    /// Source names carry no `#` (checked at config time) and dedupe keys are bounded,
    /// printable ASCII (a fixed-length hash first, then an id the signature schemes bounded),
    /// so keys cannot collide.
    pub fn key(source: &str, delivery_id: &str) -> String {
        format!("WEBHOOK#{source}#{delivery_id}")
    }

    /// `delivery_id`: the delivery's [`Self::delivery_key`].
    #[tracing::instrument(skip_all, fields(source, delivery_id))]
    pub async fn claim(
        &self,
        source: &str,
        delivery_id: &str,
        job_id: &str,
        now_ms: u64,
        ttl_secs: u64,
    ) -> Result<Claim, GatewayError> {
        let now_secs = now_ms / 1000;
        let item = HashMap::from([
            ("pk".to_owned(), s(Self::key(source, delivery_id))),
            ("sk".to_owned(), s(SORT_KEY)),
            ("job_id".to_owned(), s(job_id)),
            ("state".to_owned(), s(RECEIVED)),
            ("received_at_ms".to_owned(), n(now_ms)),
            ("expires_at".to_owned(), n(now_secs + ttl_secs)),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::New),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                self.seen(source, delivery_id, job_id).await
            }
            Err(e) => Err(aws_error("dynamodb:PutItem(dedupe)", e)),
        }
    }

    async fn seen(
        &self,
        source: &str,
        delivery_id: &str,
        job_id: &str,
    ) -> Result<Claim, GatewayError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(Self::key(source, delivery_id)))
            .key("sk", s(SORT_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:GetItem(dedupe)", e))?;
        let item = output.item.unwrap_or_default();
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        Ok(Claim::Seen {
            accepted: text("state").as_deref() == Some(ACCEPTED),
            job_id: text("job_id").unwrap_or_else(|| job_id.to_owned()),
        })
    }

    /// The delivery's job is queued: later redeliveries are answered without any work.
    #[tracing::instrument(skip_all, fields(source, delivery_id))]
    pub async fn mark_accepted(
        &self,
        source: &str,
        delivery_id: &str,
        now_ms: u64,
    ) -> Result<(), GatewayError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::key(source, delivery_id)))
            .key("sk", s(SORT_KEY))
            .update_expression("SET #state = :accepted, accepted_at_ms = :now")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":accepted", s(ACCEPTED))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:UpdateItem(dedupe)", e))?;
        Ok(())
    }
}
