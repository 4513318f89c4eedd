//! Circuit breakers in `BREAKER#<model>#<region>` items.

use super::{DynamoStateStore, Item, StoreError, body, expired, now_secs};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway::ports::Target;
use gateway::resilience::{BreakerRecord, BreakerStore};

impl DynamoStateStore {
    fn breaker_pk(&self, target: &Target) -> String {
        let region = target.region.as_deref().unwrap_or(&self.home_region);
        format!("BREAKER#{}#{region}", target.model_id)
    }
}

fn corrupt(error: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt {
        what: "breaker",
        message: error.to_string(),
    }
}

impl BreakerStore for DynamoStateStore {
    type Error = StoreError;

    #[tracing::instrument(skip_all, fields(model = %key.model_id, region = ?key.region))]
    async fn load(&self, key: &Target) -> Result<Option<BreakerRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(self.breaker_pk(key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("dynamodb:GetItem", e))?;
        match output.item {
            Some(item) if !expired(&item, now_secs()) => serde_dynamo::from_item(body(item))
                .map(Some)
                .map_err(corrupt),
            _ => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(model = %key.model_id, region = ?key.region, version = record.version))]
    async fn save_if_version(
        &self,
        key: &Target,
        record: &BreakerRecord,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let now = now_secs();
        let mut item: Item = serde_dynamo::to_item(record).map_err(corrupt)?;
        item.extend(Self::key(self.breaker_pk(key)));
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
            // No record yet, or only one whose TTL passed (it reads as absent).
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
