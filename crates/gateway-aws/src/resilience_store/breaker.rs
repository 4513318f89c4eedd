//! Circuit breakers in `BREAKER#<model>#<region>` items.

use super::{DynamoStateStore, StoreError, body, expired, now_secs};
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
        match self.get(self.breaker_pk(key)).await? {
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
        let item = serde_dynamo::to_item(record).map_err(corrupt)?;
        self.put_if_version(self.breaker_pk(key), item, expected_version, now_secs())
            .await
    }
}
