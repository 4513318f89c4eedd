//! Job records in DynamoDB (table key `pk` = job id). Each state change is one conditional
//! UpdateItem, so the table itself arbitrates between concurrent workers.

use super::aws_error;
use super::result_codec::{self, StoredResult};
use crate::dynamo_attr::{Item, n, s};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use gateway::GatewayError;
use gateway::jobs::{
    CallbackAttempt, CallbackState, Claim, Created, FinishClaims, JobError, JobOutcome, JobRecord,
    JobStatus, JobStore, NotificationState,
};

#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
}

fn status(value: JobStatus) -> AttributeValue {
    s(value.as_str())
}

fn notification(value: NotificationState) -> AttributeValue {
    s(match value {
        NotificationState::Pending => "PENDING",
        NotificationState::Sending => "SENDING",
        NotificationState::Sent => "SENT",
    })
}

fn callback_state(value: CallbackState) -> AttributeValue {
    s(value.as_str())
}

fn to_item(record: &JobRecord) -> Result<Item, GatewayError> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|e| GatewayError::Internal(format!("job record to item: {e}")))?;
    item.insert("pk".to_owned(), s(&record.job_id));
    super::invocations_index::index_attributes(record, &mut item);
    Ok(item)
}

pub(super) fn from_item(mut item: Item) -> Result<JobRecord, GatewayError> {
    item.remove("pk");
    let compressed = match item.remove("result_gz") {
        Some(AttributeValue::B(blob)) => Some(blob.into_inner()),
        _ => None,
    };
    let mut record: JobRecord = serde_dynamo::from_item(item)
        .map_err(|e| GatewayError::Internal(format!("job item does not parse: {e}")))?;
    if let Some(bytes) = compressed {
        record.result = Some(
            result_codec::decode(&bytes)
                .map_err(|e| GatewayError::Internal(format!("job result: {e}")))?,
        );
    }
    Ok(record)
}

/// DynamoDB's (and moto's) refusal of an item over 400 KB.
fn is_item_too_large(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationException")
        && message.is_some_and(|m| m.to_ascii_lowercase().contains("item size"))
}

/// Why a job whose answer cannot be stored failed; `size` 0 when only the write knew.
fn result_too_large(size: usize) -> JobError {
    let size = if size > 0 {
        format!(" ({size} bytes)")
    } else {
        String::new()
    };
    JobError {
        code: "result_too_large".into(),
        message: format!("the model's answer{size} exceeds what a job can store"),
    }
}

fn value<T: serde::Serialize>(value: &T) -> Result<AttributeValue, GatewayError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| GatewayError::Internal(format!("attribute: {e}")))
}

/// `Ok(None)` when the condition failed: someone else changed the record first.
async fn conditional(
    request: UpdateItemFluentBuilder,
    operation: &str,
) -> Result<Option<Item>, GatewayError> {
    match request.return_values(ReturnValue::AllNew).send().await {
        Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
            Ok(None)
        }
        Err(e) => Err(aws_error(operation, e)),
    }
}

/// DynamoDB's limit on the items of one TransactWriteItems.
const MAX_TRANSACTION_ITEMS: usize = 100;

impl DynamoJobStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn update(&self, job_id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_id))
    }

    /// The conditional write that finishes a job with `outcome` and takes `claims`.
    fn finish_request(
        &self,
        job_id: &str,
        token: &str,
        now_ms: u64,
        outcome: &JobOutcome,
        claims: FinishClaims,
    ) -> Result<UpdateItemFluentBuilder, GatewayError> {
        let mut request = self
            .update(job_id)
            .condition_expression("#status = :running AND lease_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", status(JobStatus::Running))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":sending", notification(NotificationState::Sending))
            .expression_attribute_values(":notify_until", n(claims.notify_lease_until_ms));
        let claimed = if claims.charge {
            ", charge_settled_at_ms = :now"
        } else {
            ""
        };
        let set = match outcome {
            JobOutcome::Succeeded { result, usage } => {
                request = request.expression_attribute_values(":usage", value(usage)?);
                match result_codec::encode(result)
                    .map_err(|e| GatewayError::Internal(format!("encoding result: {e}")))?
                {
                    StoredResult::Plain(result) => {
                        request = request
                            .expression_attribute_names("#result", "result")
                            .expression_attribute_values(":done", status(JobStatus::Succeeded))
                            .expression_attribute_values(":result", value(&result)?);
                        "#status = :done, #result = :result, #usage = :usage"
                    }
                    StoredResult::Compressed(bytes) => {
                        request = request
                            .expression_attribute_values(":done", status(JobStatus::Succeeded))
                            .expression_attribute_values(
                                ":result",
                                AttributeValue::B(Blob::new(bytes)),
                            );
                        "#status = :done, result_gz = :result, #usage = :usage"
                    }
                    StoredResult::TooLarge(size) => {
                        let error = result_too_large(size);
                        request = request
                            .expression_attribute_values(":done", status(JobStatus::Failed))
                            .expression_attribute_values(":error", value(&error)?);
                        "#status = :done, #error = :error, #usage = :usage"
                    }
                }
            }
            JobOutcome::Failed { error, usage } => {
                request = request
                    .expression_attribute_values(":done", status(JobStatus::Failed))
                    .expression_attribute_values(":error", value(error)?);
                if let Some(usage) = usage {
                    request = request.expression_attribute_values(":usage", value(usage)?);
                    "#status = :done, #error = :error, #usage = :usage"
                } else {
                    "#status = :done, #error = :error"
                }
            }
        };
        if set.contains("#error") {
            request = request.expression_attribute_names("#error", "error");
        }
        if set.contains("#usage") {
            request = request.expression_attribute_names("#usage", "usage");
        }
        Ok(request.update_expression(format!(
            "SET {set}, updated_at_ms = :now, notification = :sending, \
             notify_lease_until_ms = :notify_until{claimed} REMOVE lease_token, lease_until_ms"
        )))
    }
}

impl JobStore for DynamoJobStore {
    #[tracing::instrument(skip_all, fields(job_id = %record.job_id))]
    async fn create(&self, record: &JobRecord) -> Result<Created, GatewayError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let existing = self.get(&record.job_id).await?.ok_or_else(|| {
                    GatewayError::Internal("job exists but cannot be read".into())
                })?;
                Ok(Created::Existing(Box::new(existing)))
            }
            Err(e) => Err(aws_error("dynamodb:PutItem", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>, GatewayError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:GetItem", e))?;
        output.item.map(from_item).transpose()
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn claim(
        &self,
        job_id: &str,
        tenant: &str,
        token: &str,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> Result<Claim, GatewayError> {
        // `expires_at` is in seconds: not expired at `now_ms` ⟺ expires_at > ⌊now_ms / 1000⌋.
        let mut condition = String::from(
            "attribute_exists(pk) AND expires_at > :now_secs AND \
             (#status = :queued OR (#status = :running AND lease_until_ms < :now))",
        );
        let mut request = self
            .update(job_id)
            .update_expression(
                "SET #status = :running, lease_token = :token, lease_until_ms = :until, \
                 attempts = if_not_exists(attempts, :zero) + :one, updated_at_ms = :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", status(JobStatus::Running))
            .expression_attribute_values(":queued", status(JobStatus::Queued))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":now_secs", n(now_ms / 1000))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        if !tenant.is_empty() {
            condition.push_str(" AND tenant = :tenant");
            request = request.expression_attribute_values(":tenant", s(tenant));
        }
        let request = request
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            // A lost claim reads the record with the same write: no GetItem before claiming.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match request.send().await {
            Ok(output) => Ok(Claim::Won(Box::new(from_item(
                output.attributes.unwrap_or_default(),
            )?))),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let current = match e.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => failed.item,
                    _ => None,
                };
                Ok(Claim::Lost(
                    current
                        .filter(|item| !item.is_empty())
                        .map(from_item)
                        .transpose()?
                        .map(Box::new),
                ))
            }
            Err(e) => Err(aws_error("dynamodb:UpdateItem(claim)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn finish(
        &self,
        job_id: &str,
        token: &str,
        now_ms: u64,
        outcome: &JobOutcome,
        claims: FinishClaims,
    ) -> Result<Option<JobRecord>, GatewayError> {
        let request = self.finish_request(job_id, token, now_ms, outcome, claims)?;
        // ALL_NEW: the finished record comes back with the write, so the worker announces it
        // without another read.
        let written = match request.return_values(ReturnValue::AllNew).send().await {
            Ok(output) => Some(output.attributes.unwrap_or_default()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                None
            }
            Err(SdkError::ServiceError(e))
                if is_item_too_large(e.err().code(), e.err().message()) =>
            {
                // The answer fits on its own but not with this record (one submitted before
                // the intake's size limit): the job fails once, with a clear error, instead
                // of the write failing on every redelivery, each of which would call and
                // bill the model again.
                let JobOutcome::Succeeded { usage, .. } = outcome else {
                    return Err(aws_error("dynamodb:UpdateItem(finish)", e));
                };
                tracing::error!(
                    job_id,
                    "job result does not fit in its record: failing the job"
                );
                let failed = JobOutcome::Failed {
                    error: result_too_large(0),
                    usage: Some(*usage),
                };
                let request = self.finish_request(job_id, token, now_ms, &failed, claims)?;
                conditional(request, "dynamodb:UpdateItem(finish)").await?
            }
            Err(e) => return Err(aws_error("dynamodb:UpdateItem(finish)", e)),
        };
        written.map(from_item).transpose()
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn release(&self, job_id: &str, token: &str, now_ms: u64) -> Result<bool, GatewayError> {
        let request = self
            .update(job_id)
            .update_expression(
                "SET #status = :queued, updated_at_ms = :now REMOVE lease_token, lease_until_ms",
            )
            .condition_expression("#status = :running AND lease_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", status(JobStatus::Running))
            .expression_attribute_values(":queued", status(JobStatus::Queued))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":now", n(now_ms));
        Ok(conditional(request, "dynamodb:UpdateItem(release)")
            .await?
            .is_some())
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn claim_notification(
        &self,
        job_id: &str,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> Result<bool, GatewayError> {
        let request = self
            .update(job_id)
            .update_expression("SET notification = :sending, notify_lease_until_ms = :until")
            .condition_expression(
                "(#status = :succeeded OR #status = :failed) AND \
                 (notification = :pending OR (notification = :sending AND notify_lease_until_ms < :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":succeeded", status(JobStatus::Succeeded))
            .expression_attribute_values(":failed", status(JobStatus::Failed))
            .expression_attribute_values(":pending", notification(NotificationState::Pending))
            .expression_attribute_values(":sending", notification(NotificationState::Sending))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":now", n(now_ms));
        Ok(
            conditional(request, "dynamodb:UpdateItem(claim_notification)")
                .await?
                .is_some(),
        )
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn claim_charge(&self, job_id: &str, now_ms: u64) -> Result<bool, GatewayError> {
        let request = self
            .update(job_id)
            .update_expression("SET charge_settled_at_ms = :now")
            .condition_expression(
                "attribute_exists(charge) AND attribute_not_exists(charge_settled_at_ms)",
            )
            .expression_attribute_values(":now", n(now_ms));
        // Nothing to read back: the caller has the record (the charge) already.
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(aws_error("dynamodb:UpdateItem(claim_charge)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(job_id))]
    async fn mark_notified(&self, job_id: &str, now_ms: u64) -> Result<(), GatewayError> {
        let request = self
            .update(job_id)
            .update_expression(
                "SET notification = :sent, updated_at_ms = :now REMOVE notify_lease_until_ms",
            )
            .condition_expression("notification = :sending")
            .expression_attribute_values(":sending", notification(NotificationState::Sending))
            .expression_attribute_values(":sent", notification(NotificationState::Sent))
            .expression_attribute_values(":now", n(now_ms));
        conditional(request, "dynamodb:UpdateItem(mark_notified)").await?;
        Ok(())
    }

    /// One TransactWriteItems for the batch (a transaction's items are at most 100; a batch
    /// is [`gateway::jobs::ANNOUNCE_BATCH`]). When the transaction is refused — one job no
    /// longer `SENDING` cancels it all, a job named twice is invalid — each job is marked on its
    /// own, as `mark_notified` does.
    #[tracing::instrument(skip_all, fields(jobs = job_ids.len()))]
    async fn mark_all_notified(&self, job_ids: &[&str], now_ms: u64) -> Result<(), GatewayError> {
        let mut unique: Vec<&str> = Vec::with_capacity(job_ids.len());
        for job_id in job_ids {
            if !unique.contains(job_id) {
                unique.push(job_id);
            }
        }
        let job_ids = unique.as_slice();
        if job_ids.len() == 1 || job_ids.len() > MAX_TRANSACTION_ITEMS {
            for job_id in job_ids {
                self.mark_notified(job_id, now_ms).await?;
            }
            return Ok(());
        }
        if job_ids.is_empty() {
            return Ok(());
        }
        let mut request = self.client.transact_write_items();
        for job_id in job_ids {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(*job_id))
                .update_expression(
                    "SET notification = :sent, updated_at_ms = :now REMOVE notify_lease_until_ms",
                )
                .condition_expression("notification = :sending")
                .expression_attribute_values(":sending", notification(NotificationState::Sending))
                .expression_attribute_values(":sent", notification(NotificationState::Sent))
                .expression_attribute_values(":now", n(now_ms))
                .build()
                .map_err(|e| GatewayError::Internal(format!("mark_all_notified: {e}")))?;
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => {
                tracing::debug!(error = %e.err(), "batch mark refused; marking one by one");
                for job_id in job_ids {
                    self.mark_notified(job_id, now_ms).await?;
                }
                Ok(())
            }
            Err(e) => Err(aws_error(
                "dynamodb:TransactWriteItems(mark_all_notified)",
                e,
            )),
        }
    }

    #[tracing::instrument(skip_all, fields(job_id, attempt))]
    async fn claim_callback(
        &self,
        job_id: &str,
        attempt: u32,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> Result<bool, GatewayError> {
        let request = self
            .update(job_id)
            .update_expression("SET callback_state = :sending, callback_lease_until_ms = :until")
            .condition_expression(
                "(#status = :succeeded OR #status = :failed) AND callback_sent = :prev AND \
                 (callback_state = :pending OR (callback_state = :sending AND callback_lease_until_ms < :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":succeeded", status(JobStatus::Succeeded))
            .expression_attribute_values(":failed", status(JobStatus::Failed))
            .expression_attribute_values(":prev", n(u64::from(attempt.saturating_sub(1))))
            .expression_attribute_values(":pending", callback_state(CallbackState::Pending))
            .expression_attribute_values(":sending", callback_state(CallbackState::Sending))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":now", n(now_ms));
        Ok(conditional(request, "dynamodb:UpdateItem(claim_callback)")
            .await?
            .is_some())
    }

    #[tracing::instrument(skip_all, fields(job_id, attempt = attempt.attempt))]
    async fn record_callback_attempt(
        &self,
        job_id: &str,
        attempt: &CallbackAttempt,
        state: CallbackState,
        now_ms: u64,
    ) -> Result<bool, GatewayError> {
        // One condition covers both races: the claim is still ours (SENDING) and no other
        // worker recorded this attempt number meanwhile.
        let request = self
            .update(job_id)
            .update_expression(
                "SET callback_state = :state, callback_sent = :sent, updated_at_ms = :now, \
                 callback_attempts = list_append(if_not_exists(callback_attempts, :empty), :attempt) \
                 REMOVE callback_lease_until_ms",
            )
            .condition_expression("callback_state = :sending AND callback_sent = :prev")
            .expression_attribute_values(":state", callback_state(state))
            .expression_attribute_values(":sending", callback_state(CallbackState::Sending))
            .expression_attribute_values(":sent", n(u64::from(attempt.attempt)))
            .expression_attribute_values(":prev", n(u64::from(attempt.attempt.saturating_sub(1))))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":attempt", AttributeValue::L(vec![value(attempt)?]));
        Ok(
            conditional(request, "dynamodb:UpdateItem(record_callback_attempt)")
                .await?
                .is_some(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_item_size_refusal_fails_a_job_as_too_large() {
        // DynamoDB's and moto's wording; a ValidationException for anything else is a bug of
        // ours and must not turn into a failed job.
        for message in [
            "Item size has exceeded the maximum allowed size",
            "Item size to update has exceeded the maximum allowed size",
        ] {
            assert!(is_item_too_large(
                Some("ValidationException"),
                Some(message)
            ));
        }
        assert!(!is_item_too_large(
            Some("ValidationException"),
            Some("Invalid UpdateExpression")
        ));
        assert!(!is_item_too_large(
            Some("ThrottlingException"),
            Some("Item size")
        ));
        assert!(result_too_large(12).message.contains("12 bytes"));
    }
}
