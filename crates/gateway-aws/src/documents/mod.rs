//! The documents table (key `pk`) as the enrichment processor's [`DocumentStore`]. Reads are
//! strongly consistent; every write is one UpdateItem conditional on the item still being
//! `PENDING` at the version the processor worked on, so the table arbitrates between duplicate
//! deliveries and a newer write by the application always wins.

use crate::dynamo_attr::{n, number_value as number, s};
use crate::jobs::aws_error;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway::GatewayError;
use gateway::api::converse::Usage;
use gateway::enrichment::document::attr;
use gateway::enrichment::{DocumentState, DocumentStore, Enrichment, FailureReason, Status};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct DynamoDocumentStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn reason(reason: &FailureReason) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("code".to_owned(), s(&reason.code)),
        ("message".to_owned(), s(&reason.message)),
    ]))
}

fn usage(usage: &Usage) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("input_tokens".to_owned(), n(usage.input_tokens)),
        ("output_tokens".to_owned(), n(usage.output_tokens)),
        ("total_tokens".to_owned(), n(usage.total_tokens)),
    ]))
}

/// `Ok(false)` when the condition failed: the item is no longer what the processor saw.
async fn conditional(
    request: UpdateItemFluentBuilder,
    operation: &str,
) -> Result<bool, GatewayError> {
    match request.send().await {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
            Ok(false)
        }
        Err(e) => Err(aws_error(operation, e)),
    }
}

impl DynamoDocumentStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// An update of `key` that holds only while the item is `PENDING` at `version` (or, with
    /// `None`, while it is `PENDING` without a numeric version).
    fn update_pending(&self, key: &str, version: Option<u64>) -> UpdateItemFluentBuilder {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::KEY, s(key))
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#version", attr::VERSION)
            .expression_attribute_values(":pending", s(Status::Pending.as_str()));
        match version {
            Some(version) => request
                .condition_expression("#status = :pending AND #version = :version")
                .expression_attribute_values(":version", n(version)),
            None => request
                .condition_expression(
                    "#status = :pending AND NOT attribute_type(#version, :number)",
                )
                .expression_attribute_values(":number", s("N")),
        }
    }
}

impl DocumentStore for DynamoDocumentStore {
    #[tracing::instrument(skip_all, fields(key))]
    async fn state(&self, key: &str) -> Result<Option<DocumentState>, GatewayError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::KEY, s(key))
            .consistent_read(true)
            .projection_expression("#version, #status, #attempts, #attempted")
            .expression_attribute_names("#version", attr::VERSION)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#attempts", attr::ATTEMPTS)
            .expression_attribute_names("#attempted", attr::ATTEMPTED_VERSION)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:GetItem", e))?;
        Ok(output.item.map(|item| {
            let version = number::<u64>(item.get(attr::VERSION));
            let attempted = number::<u64>(item.get(attr::ATTEMPTED_VERSION));
            DocumentState {
                version,
                status: match item.get(attr::STATUS) {
                    Some(AttributeValue::S(status)) => Status::parse(status),
                    _ => None,
                },
                // A count from an older version does not hold against new content.
                attempts: if version.is_some() && attempted == version {
                    number(item.get(attr::ATTEMPTS)).unwrap_or(0)
                } else {
                    0
                },
            }
        }))
    }

    #[tracing::instrument(skip_all, fields(key, version))]
    async fn enrich(
        &self,
        key: &str,
        version: u64,
        enrichment: &Enrichment,
    ) -> Result<bool, GatewayError> {
        let result = serde_dynamo::to_attribute_value(&enrichment.result)
            .map_err(|e| GatewayError::Internal(format!("enrichment result to attribute: {e}")))?;
        let request = self
            .update_pending(key, Some(version))
            .update_expression(
                "SET #status = :enriched, #result = :result, #model = :model, #usage = :usage, \
                 #processed_at = :processed_at, #enriched_version = :version REMOVE #last_error",
            )
            .expression_attribute_names("#result", attr::RESULT)
            .expression_attribute_names("#model", attr::MODEL)
            .expression_attribute_names("#usage", attr::USAGE)
            .expression_attribute_names("#processed_at", attr::PROCESSED_AT)
            .expression_attribute_names("#enriched_version", attr::ENRICHED_VERSION)
            .expression_attribute_names("#last_error", attr::LAST_ERROR)
            .expression_attribute_values(":enriched", s(Status::Enriched.as_str()))
            .expression_attribute_values(":result", result)
            .expression_attribute_values(":model", s(&enrichment.model))
            .expression_attribute_values(":usage", usage(&enrichment.usage))
            .expression_attribute_values(":processed_at", s(&enrichment.processed_at));
        conditional(request, "dynamodb:UpdateItem(enrich)").await
    }

    #[tracing::instrument(skip_all, fields(key, version, attempts))]
    async fn count_attempt(
        &self,
        key: &str,
        version: u64,
        attempts: u32,
        failure: &FailureReason,
    ) -> Result<bool, GatewayError> {
        let request = self
            .update_pending(key, Some(version))
            .update_expression(
                "SET #attempts = :attempts, #attempted = :version, #last_error = :error",
            )
            .expression_attribute_names("#attempts", attr::ATTEMPTS)
            .expression_attribute_names("#attempted", attr::ATTEMPTED_VERSION)
            .expression_attribute_names("#last_error", attr::LAST_ERROR)
            .expression_attribute_values(":attempts", n(attempts))
            .expression_attribute_values(":error", reason(failure));
        conditional(request, "dynamodb:UpdateItem(count_attempt)").await
    }

    #[tracing::instrument(skip_all, fields(key, version))]
    async fn fail(
        &self,
        key: &str,
        version: Option<u64>,
        attempts: Option<u32>,
        failure: &FailureReason,
        failed_at: &str,
    ) -> Result<bool, GatewayError> {
        let mut request = self
            .update_pending(key, version)
            .expression_attribute_names("#error", attr::ERROR)
            .expression_attribute_names("#failed_at", attr::FAILED_AT)
            .expression_attribute_values(":failed", s(Status::Failed.as_str()))
            .expression_attribute_values(":error", reason(failure))
            .expression_attribute_values(":failed_at", s(failed_at));
        let mut set = "SET #status = :failed, #error = :error, #failed_at = :failed_at".to_owned();
        if let (Some(attempts), Some(_)) = (attempts, version) {
            set.push_str(", #attempts = :attempts, #attempted = :version");
            request = request
                .expression_attribute_names("#attempts", attr::ATTEMPTS)
                .expression_attribute_names("#attempted", attr::ATTEMPTED_VERSION)
                .expression_attribute_values(":attempts", n(attempts));
        }
        conditional(request.update_expression(set), "dynamodb:UpdateItem(fail)").await
    }
}
