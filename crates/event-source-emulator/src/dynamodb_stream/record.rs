//! Stream records read through the SDK → the records of the Lambda event, shaped as the event
//! source mapping shapes them: `eventVersion` "1.1", `eventSource` "aws:dynamodb",
//! `eventSourceARN` the stream's ARN, `ApproximateCreationDateTime` in whole epoch seconds, and
//! DynamoDB-JSON images.

use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord, StreamViewType, UserIdentity};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The record format version Lambda puts on DynamoDB stream events.
pub const EVENT_VERSION: &str = "1.1";
pub const EVENT_SOURCE: &str = "aws:dynamodb";

/// One SDK record as the Lambda event carries it. `region` fills `awsRegion` when the
/// record has none.
pub fn to_lambda_record(record: &Record, stream_arn: &str, region: &str) -> EventRecord {
    let mut out = EventRecord::default();
    out.event_id = record.event_id().unwrap_or_default().to_owned();
    out.event_name = record
        .event_name()
        .map(|name| name.as_str().to_owned())
        .unwrap_or_default();
    out.event_version = Some(EVENT_VERSION.to_owned());
    out.event_source = Some(EVENT_SOURCE.to_owned());
    out.aws_region = record.aws_region().unwrap_or(region).to_owned();
    out.event_source_arn = Some(stream_arn.to_owned());
    out.user_identity = record.user_identity().map(|identity| {
        let mut user = UserIdentity::default();
        user.type_ = identity.r#type().unwrap_or_default().to_owned();
        user.principal_id = identity.principal_id().unwrap_or_default().to_owned();
        user
    });
    if let Some(change) = record.dynamodb() {
        out.change = stream_record(change);
    }
    out
}

fn stream_record(change: &aws_sdk_dynamodbstreams::types::StreamRecord) -> StreamRecord {
    let mut out = StreamRecord::default();
    // Lambda hands over whole seconds (DynamoDB's default precision).
    out.approximate_creation_date_time = change
        .approximate_creation_date_time()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
        .unwrap_or_default();
    out.keys = item(change.keys());
    out.new_image = item(change.new_image());
    out.old_image = item(change.old_image());
    out.sequence_number = change.sequence_number().map(str::to_owned);
    out.size_bytes = change.size_bytes().unwrap_or_default();
    out.stream_view_type = change.stream_view_type().map(|view| {
        use aws_sdk_dynamodbstreams::types::StreamViewType as Sdk;
        match view {
            Sdk::NewImage => StreamViewType::NewImage,
            Sdk::OldImage => StreamViewType::OldImage,
            Sdk::NewAndOldImages => StreamViewType::NewAndOldImages,
            _ => StreamViewType::KeysOnly,
        }
    });
    out
}

fn item(attributes: Option<&HashMap<String, AttributeValue>>) -> serde_dynamo::Item {
    attributes
        .map(|attributes| {
            attributes
                .iter()
                .filter_map(|(name, value)| attribute(value).map(|v| (name.clone(), v)))
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default()
        .into()
}

/// By hand rather than serde_dynamo's `From`, which panics on a variant this SDK version does
/// not know; such a value is dropped (with a warning) instead.
fn attribute(value: &AttributeValue) -> Option<serde_dynamo::AttributeValue> {
    use serde_dynamo::AttributeValue as Lambda;
    Some(match value {
        AttributeValue::S(s) => Lambda::S(s.clone()),
        AttributeValue::N(n) => Lambda::N(n.clone()),
        AttributeValue::B(b) => Lambda::B(b.as_ref().to_vec()),
        AttributeValue::Bool(b) => Lambda::Bool(*b),
        AttributeValue::Null(b) => Lambda::Null(*b),
        AttributeValue::M(m) => Lambda::M(
            m.iter()
                .filter_map(|(k, v)| attribute(v).map(|v| (k.clone(), v)))
                .collect(),
        ),
        AttributeValue::L(l) => Lambda::L(l.iter().filter_map(attribute).collect()),
        AttributeValue::Ss(ss) => Lambda::Ss(ss.clone()),
        AttributeValue::Ns(ns) => Lambda::Ns(ns.clone()),
        AttributeValue::Bs(bs) => Lambda::Bs(bs.iter().map(|b| b.as_ref().to_vec()).collect()),
        _ => {
            tracing::warn!(
                "stream record carries an attribute type this SDK does not know; dropped"
            );
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime as SdkDateTime};
    use aws_sdk_dynamodbstreams::types::{
        OperationType, StreamRecord as SdkStreamRecord, StreamViewType as SdkView,
    };
    use serde_json::json;

    #[test]
    fn shapes_a_record_as_the_event_source_mapping_does() {
        let image = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("doc-1".into())),
            ("version".to_owned(), AttributeValue::N("2".into())),
            ("blob".to_owned(), AttributeValue::B(Blob::new(vec![0, 1]))),
            ("tags".to_owned(), AttributeValue::Ss(vec!["a".into()])),
            (
                "meta".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "ok".to_owned(),
                    AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::Null(true)]),
                )])),
            ),
        ]);
        let change = SdkStreamRecord::builder()
            .approximate_creation_date_time(SdkDateTime::from_secs_f64(1_700_000_000.75))
            .set_keys(Some(HashMap::from([(
                "pk".to_owned(),
                AttributeValue::S("doc-1".into()),
            )])))
            .set_new_image(Some(image))
            .sequence_number("4200000000000000000001")
            .size_bytes(64)
            .stream_view_type(SdkView::NewAndOldImages)
            .build();
        let record = Record::builder()
            .event_id("e-1")
            .event_name(OperationType::Insert)
            .event_version("1.0")
            .event_source("aws:dynamodb")
            .dynamodb(change)
            .build();
        let arn =
            "arn:aws:dynamodb:us-east-1:123456789012:table/docs/stream/2024-01-01T00:00:00.000";
        let shaped = serde_json::to_value(to_lambda_record(&record, arn, "eu-west-1")).unwrap();
        assert_eq!(shaped["eventID"], "e-1");
        assert_eq!(shaped["eventName"], "INSERT");
        assert_eq!(shaped["eventVersion"], "1.1");
        assert_eq!(shaped["eventSource"], "aws:dynamodb");
        assert_eq!(shaped["awsRegion"], "eu-west-1");
        assert_eq!(shaped["eventSourceARN"], arn);
        let dynamodb = &shaped["dynamodb"];
        assert_eq!(
            dynamodb["ApproximateCreationDateTime"].as_f64(),
            Some(1_700_000_000.0)
        );
        assert_eq!(dynamodb["Keys"], json!({"pk": {"S": "doc-1"}}));
        assert_eq!(dynamodb["SequenceNumber"], "4200000000000000000001");
        assert_eq!(dynamodb["SizeBytes"], 64);
        assert_eq!(dynamodb["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert_eq!(
            dynamodb["NewImage"],
            json!({"pk": {"S": "doc-1"}, "version": {"N": "2"}, "blob": {"B": "AAE="}, "tags": {"SS": ["a"]},
                   "meta": {"M": {"ok": {"L": [{"BOOL": true}, {"NULL": true}]}}}})
        );
        // And it reads back as the typed Lambda event.
        let back: EventRecord = serde_json::from_value(shaped).unwrap();
        assert_eq!(
            back.change.new_image.get("version"),
            Some(&serde_dynamo::AttributeValue::N("2".into()))
        );
    }
}
