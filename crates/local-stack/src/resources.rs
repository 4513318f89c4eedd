//! Creates what `template.yaml` describes on the local emulator, named by logical id, and
//! answers `Ref` / `Fn::GetAtt` of those resources with their local names, URLs and ARNs.

use crate::StackError;
use crate::template::{ResourceAttributes, Template, intrinsics};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value as Json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTable {
    pub name: String,
    pub arn: String,
    pub stream_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalQueue {
    pub name: String,
    pub url: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTopic {
    pub name: String,
    pub arn: String,
}

/// An EventBridge bus; `Ref` is its name, as in CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBus {
    pub name: String,
    pub arn: String,
}

/// A Secrets Manager secret; `Ref` is its ARN, as in CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSecret {
    pub name: String,
    pub arn: String,
}

/// The template's resources as they exist locally, by logical id.
#[derive(Debug, Clone, Default)]
pub struct LocalResources {
    pub tables: BTreeMap<String, LocalTable>,
    pub queues: BTreeMap<String, LocalQueue>,
    pub topics: BTreeMap<String, LocalTopic>,
    pub secrets: BTreeMap<String, LocalSecret>,
    pub buses: BTreeMap<String, LocalBus>,
    /// S3 buckets by logical id; `Ref` is the bucket's name (its logical id, lowercased).
    pub buckets: BTreeMap<String, String>,
}

impl LocalResources {
    /// The queue with this ARN (event sources and destinations name queues by ARN).
    pub fn queue_by_arn(&self, arn: &str) -> Option<&LocalQueue> {
        self.queues.values().find(|q| q.arn == arn)
    }

    /// The table whose stream this is.
    pub fn table_by_stream_arn(&self, arn: &str) -> Option<(&String, &LocalTable)> {
        self.tables
            .iter()
            .find(|(_, t)| t.stream_arn.as_deref() == Some(arn))
    }
}

impl ResourceAttributes for LocalResources {
    fn reference(&self, logical_id: &str) -> Option<Json> {
        let value = if let Some(table) = self.tables.get(logical_id) {
            &table.name
        } else if let Some(queue) = self.queues.get(logical_id) {
            &queue.url
        } else if let Some(secret) = self.secrets.get(logical_id) {
            &secret.arn
        } else if let Some(bus) = self.buses.get(logical_id) {
            &bus.name
        } else if let Some(bucket) = self.buckets.get(logical_id) {
            bucket
        } else {
            &self.topics.get(logical_id)?.arn
        };
        Some(Json::String(value.clone()))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Json> {
        let value = if let Some(table) = self.tables.get(logical_id) {
            match attribute {
                "Arn" => Some(table.arn.clone()),
                "StreamArn" => table.stream_arn.clone(),
                _ => None,
            }
        } else if let Some(queue) = self.queues.get(logical_id) {
            match attribute {
                "Arn" => Some(queue.arn.clone()),
                "QueueName" => Some(queue.name.clone()),
                "QueueUrl" => Some(queue.url.clone()),
                _ => None,
            }
        } else if let Some(topic) = self.topics.get(logical_id) {
            match attribute {
                "TopicArn" => Some(topic.arn.clone()),
                "TopicName" => Some(topic.name.clone()),
                _ => None,
            }
        } else if let Some(secret) = self.secrets.get(logical_id) {
            match attribute {
                "Id" => Some(secret.arn.clone()),
                _ => None,
            }
        } else if let Some(bus) = self.buses.get(logical_id) {
            match attribute {
                "Arn" => Some(bus.arn.clone()),
                "Name" => Some(bus.name.clone()),
                _ => None,
            }
        } else if let Some(bucket) = self.buckets.get(logical_id) {
            match attribute {
                "Arn" => Some(format!("arn:aws:s3:::{bucket}")),
                _ => None,
            }
        } else {
            None
        };
        value.map(Json::String)
    }
}

fn failed(what: impl Into<String>, error: impl std::fmt::Display) -> StackError {
    StackError::Resource {
        what: what.into(),
        message: error.to_string(),
    }
}

fn key_elements(
    keys: &[(String, String)],
    what: &str,
) -> Result<Vec<KeySchemaElement>, StackError> {
    keys.iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .map_err(|e| failed(what, e))
        })
        .collect()
}

/// Creates every table, queue, topic, secret and subscription of the template (conditions evaluated
/// with the template's parameter values). The emulator must be empty of those names.
pub async fn create(
    template: &Template,
    sdk: &aws_config::SdkConfig,
) -> Result<LocalResources, StackError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let sns = aws_sdk_sns::Client::new(sdk);
    let mut local = LocalResources::default();

    for table in template.tables()? {
        let what = format!("table {}", table.logical_id);
        let mut request = ddb
            .create_table()
            .table_name(&table.logical_id)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_elements(&table.keys, &what)?));
        for (name, kind) in &table.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(|e| failed(&what, e))?,
            );
        }
        for index in &table.global_indexes {
            let mut projection = Projection::builder()
                .projection_type(ProjectionType::from(index.projection_type.as_str()));
            for attribute in &index.non_key_attributes {
                projection = projection.non_key_attributes(attribute);
            }
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_elements(&index.keys, &what)?))
                    .projection(projection.build())
                    .build()
                    .map_err(|e| failed(&what, e))?,
            );
        }
        if let Some(view) = &table.stream_view_type {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()
                    .map_err(|e| failed(&what, e))?,
            );
        }
        let output = request
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let description = output.table_description();
        if let Some(attribute) = &table.ttl_attribute {
            ddb.update_time_to_live()
                .table_name(&table.logical_id)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attribute)
                        .enabled(true)
                        .build()
                        .map_err(|e| failed(&what, e))?,
                )
                .send()
                .await
                .map_err(|e| failed(&what, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        let arn = description
            .and_then(|d| d.table_arn())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:dynamodb:{}:{}:table/{}",
                    intrinsics::REGION,
                    intrinsics::ACCOUNT_ID,
                    table.logical_id
                )
            });
        tracing::info!(table = %table.logical_id, stream = table.stream_view_type.as_deref().unwrap_or("-"), ttl = table.ttl_attribute.as_deref().unwrap_or("-"), "created table");
        local.tables.insert(
            table.logical_id.clone(),
            LocalTable {
                name: table.logical_id.clone(),
                arn,
                stream_arn: description
                    .and_then(|d| d.latest_stream_arn())
                    .map(str::to_owned),
            },
        );
    }

    // Queues first without their redrive policies (which name other queues), then the policies.
    let queues = template.queues()?;
    for queue in &queues {
        let what = format!("queue {}", queue.logical_id);
        let name = queue.name();
        let mut request = sqs.create_queue().queue_name(&name);
        for (attribute, value) in &queue.attributes {
            request = request.attributes(QueueAttributeName::from(attribute.as_str()), value);
        }
        let output = request
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let url = output
            .queue_url()
            .ok_or_else(|| failed(&what, "CreateQueue returned no URL"))?
            .to_owned();
        let arn = format!(
            "arn:aws:sqs:{}:{}:{name}",
            intrinsics::REGION,
            intrinsics::ACCOUNT_ID
        );
        local
            .queues
            .insert(queue.logical_id.clone(), LocalQueue { name, url, arn });
    }
    for queue in &queues {
        let what = format!("queue {}", queue.logical_id);
        let policy = if queue.has_redrive_policy {
            template.redrive_policy(&queue.logical_id, &local)?
        } else {
            None
        };
        if let (Some(policy), Some(created)) = (&policy, local.queues.get(&queue.logical_id)) {
            sqs.set_queue_attributes()
                .queue_url(&created.url)
                .attributes(QueueAttributeName::RedrivePolicy, policy)
                .send()
                .await
                .map_err(|e| failed(&what, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        }
        tracing::info!(queue = %queue.logical_id, redrive = policy.as_deref().unwrap_or("-"), "created queue");
    }

    for topic in template.topics()? {
        let what = format!("topic {}", topic.logical_id);
        let name = topic.name();
        let mut request = sns.create_topic().name(&name);
        if topic.fifo {
            request = request.attributes("FifoTopic", "true");
        }
        let output = request
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_sns::error::DisplayErrorContext(e)))?;
        let arn = output
            .topic_arn()
            .ok_or_else(|| failed(&what, "CreateTopic returned no ARN"))?
            .to_owned();
        tracing::info!(topic = %topic.logical_id, "created topic");
        local
            .topics
            .insert(topic.logical_id.clone(), LocalTopic { name, arn });
    }

    // Secrets by logical id, their values as the deployed stack would have them (generated
    // ones by Secrets Manager's own GetRandomPassword).
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    for secret in template.secrets()? {
        let what = format!("secret {}", secret.logical_id);
        let value = match &secret.secret_string {
            Some(value) => value.clone(),
            None => secrets
                .get_random_password()
                .password_length(secret.generated_length)
                .exclude_punctuation(secret.exclude_punctuation)
                .send()
                .await
                .map_err(|e| failed(&what, aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?
                .random_password
                .ok_or_else(|| failed(&what, "GetRandomPassword returned no password"))?,
        };
        let output = secrets
            .create_secret()
            .name(&secret.logical_id)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?;
        let arn = output
            .arn()
            .ok_or_else(|| failed(&what, "CreateSecret returned no ARN"))?
            .to_owned();
        tracing::info!(secret = %secret.logical_id, "created secret");
        local.secrets.insert(
            secret.logical_id.clone(),
            LocalSecret {
                name: secret.logical_id.clone(),
                arn,
            },
        );
    }

    for spec in template.subscriptions()? {
        let what = format!("subscription {}", spec.logical_id);
        let subscription = template.resolve_subscription(&spec, &local)?;
        let mut request = sns
            .subscribe()
            .topic_arn(&subscription.topic_arn)
            .protocol(&subscription.protocol)
            .endpoint(&subscription.endpoint);
        for (name, value) in &subscription.attributes {
            request = request.attributes(name, value);
        }
        request
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_sns::error::DisplayErrorContext(e)))?;
        tracing::info!(subscription = %spec.logical_id, protocol = %subscription.protocol, "created subscription");
    }
    create_event_buses(template, sdk, &mut local).await?;
    create_buckets(template, sdk, &mut local).await?;
    Ok(local)
}

/// The buses by logical id, then their rules with their targets (moto delivers matching
/// events to SQS targets, as EventBridge does).
async fn create_event_buses(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    local: &mut LocalResources,
) -> Result<(), StackError> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    for logical_id in template.event_buses()? {
        let what = format!("event bus {logical_id}");
        let output = events
            .create_event_bus()
            .name(&logical_id)
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        let arn = output.event_bus_arn().unwrap_or_default().to_owned();
        tracing::info!(bus = %logical_id, "created event bus");
        local.buses.insert(
            logical_id.clone(),
            LocalBus {
                name: logical_id,
                arn,
            },
        );
    }
    for rule in template.event_rules(local)? {
        let what = format!("event rule {}", rule.logical_id);
        events
            .put_rule()
            .name(&rule.logical_id)
            .event_bus_name(&rule.bus)
            .event_pattern(&rule.pattern)
            .send()
            .await
            .map_err(|e| failed(&what, aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        for (id, arn) in &rule.targets {
            let target = aws_sdk_eventbridge::types::Target::builder()
                .id(id)
                .arn(arn)
                .build()
                .map_err(|e| failed(&what, e))?;
            events
                .put_targets()
                .rule(&rule.logical_id)
                .event_bus_name(&rule.bus)
                .targets(target)
                .send()
                .await
                .map_err(|e| failed(&what, aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        }
        tracing::info!(rule = %rule.logical_id, bus = %rule.bus, targets = rule.targets.len(), "created event rule");
    }
    Ok(())
}

/// The buckets (StartAsyncInvoke's outputs), path-style as the worker's client addresses them.
async fn create_buckets(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    local: &mut LocalResources,
) -> Result<(), StackError> {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    for logical_id in template.buckets()? {
        let name = logical_id.to_ascii_lowercase();
        let mut request = s3.create_bucket().bucket(&name);
        if let Some(region) = sdk.region().filter(|r| r.as_ref() != "us-east-1") {
            request = request.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        region.as_ref(),
                    ))
                    .build(),
            );
        }
        request.send().await.map_err(|e| {
            failed(
                format!("bucket {logical_id}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })?;
        tracing::info!(bucket = %logical_id, name, "created bucket");
        local.buckets.insert(logical_id, name);
    }
    Ok(())
}
