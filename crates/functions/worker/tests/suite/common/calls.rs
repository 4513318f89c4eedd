//! Counts the AWS calls the worker's SDK clients send (by operation), and can make one kind of
//! call fail as if the process had died just before it: what the call-count and exactly-once
//! tests need from the clients, without a fake of any service.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Every call seen, by operation (`DynamoDB_20120810.UpdateItem`, `sns:Publish`,
/// `AWSEvents.PutEvents`, `sqs:…`).
#[derive(Debug, Default)]
pub struct Calls(Mutex<BTreeMap<String, usize>>);

impl Calls {
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The interceptor: counts, and refuses a request whose body contains `fail_when`.
#[derive(Debug, Clone)]
pub struct Counter {
    pub calls: Arc<Calls>,
    pub fail_when: Option<&'static str>,
}

impl Counter {
    pub fn new(calls: &Arc<Calls>) -> Self {
        Self {
            calls: Arc::clone(calls),
            fail_when: None,
        }
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "test-call-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).to_string();
        if self.fail_when.is_some_and(|needle| body.contains(needle)) {
            return Err("the process died before this call".into());
        }
        // JSON protocols name the operation in a header; SNS's query protocol in the body.
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.to_owned(),
            None => body
                .split('&')
                .find_map(|pair| pair.strip_prefix("Action="))
                .map(|action| format!("sns:{action}"))
                .unwrap_or_else(|| "other".into()),
        };
        *self.calls.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// SDK clients over moto whose calls `counter` sees.
pub fn dynamodb(counter: &Counter) -> aws_sdk_dynamodb::Client {
    let sdk = testkit::moto().sdk_config();
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    )
}

pub fn sns(counter: &Counter) -> aws_sdk_sns::Client {
    let sdk = testkit::moto().sdk_config();
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    )
}

pub fn eventbridge(counter: &Counter) -> aws_sdk_eventbridge::Client {
    let sdk = testkit::moto().sdk_config();
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    )
}
