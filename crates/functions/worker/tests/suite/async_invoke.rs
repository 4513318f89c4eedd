//! Bedrock's async API end to end on the emulators: `POST /async-invoke` through the API's
//! router (controls on: keys, allow-lists, budgets) → the jobs table and queue → the worker's
//! metered InvokeModel call (bedrock-sim) → the answer in S3 (moto) → `GET /async-invoke/{arn}`
//! and `GET /async-invoke`; then the attacks, and an unmodified boto3 client doing the same.

use crate::common::*;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use axum::body::Body;
use gateway::config::GatewayConfig;
use gateway::controls::Controller;
use gateway::controls::keys::Budget;
use gateway::jobs::async_invoke::{AsyncInvokeSettings, S3_URI_FIELD};
use gateway::jobs::submit::JobSettings;
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::jobs::{
    DynamoJobStore, INVOCATIONS_INDEX, INVOCATIONS_INDEX_KEY, S3InvocationOutputs, SqsJobQueue,
};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use testkit::{moto, unique_name};
use tower::ServiceExt;

const ACCOUNT: &str = "123456789012";

struct AsyncFlow {
    flow: Flow,
    router: axum::Router,
    bucket: String,
    s3: aws_sdk_s3::Client,
}

fn s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&moto().sdk_config())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The jobs table's ListAsyncInvokes index, as template.yaml declares it.
async fn add_invocations_index(table: &str) {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str, kind| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(INVOCATIONS_INDEX)
        .key_schema(key(INVOCATIONS_INDEX_KEY, KeyType::Hash))
        .key_schema(key("created_at_ms", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .unwrap();
    moto()
        .dynamodb()
        .update_table()
        .table_name(table)
        .attribute_definitions(attribute(INVOCATIONS_INDEX_KEY, ScalarAttributeType::S))
        .attribute_definitions(attribute("created_at_ms", ScalarAttributeType::N))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                        .index_name(INVOCATIONS_INDEX)
                        .set_key_schema(Some(index.key_schema.clone()))
                        .set_projection(index.projection.clone())
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("add the async-invocations index");
}

/// The jobs flow with controls on, an output bucket, the API's async settings over it and the
/// worker writing outputs to it.
async fn async_flow() -> AsyncFlow {
    let mut flow = flow_with_controls(json!({})).await;
    add_invocations_index(&flow.jobs_table).await;
    let bucket = unique_name("gw-out");
    let s3 = s3();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let config = GatewayConfig {
        controls: serde_json::from_value(json!({"auth": {"mode": "api_keys"}})).unwrap(),
        ..GatewayConfig::default()
    };
    let store = flow.controls.clone().unwrap();
    let controller =
        Controller::new(&config, store, Vec::new(), Some("us-east-1".to_owned())).unwrap();
    let ddb = moto().dynamodb();
    let backend = api::JobsBackend {
        store: DynamoJobStore::new(ddb, &flow.jobs_table),
        queue: SqsJobQueue::new(moto().sqs(), &flow.jobs_queue_url),
        settings: JobSettings::default(),
        callback_policy: lenient_callbacks(),
    };
    let bedrock = testkit::local_sdk_config(&flow.sim.endpoint_url());
    let state = api::AppState::with_controls(
        config.clone(),
        BedrockModelClient::from_sdk_config(&bedrock, &[]),
        gateway_aws::resilience_store::local_parts(&config),
        Some(controller),
        api::MetricsSink::Off,
        Some(backend),
    );
    state
        .async_invoke
        .set(AsyncInvokeSettings {
            bucket: bucket.clone(),
            region: "us-east-1".into(),
            account: ACCOUNT.into(),
        })
        .unwrap();
    flow.worker.outputs = Some(S3InvocationOutputs::from_sdk_config(&moto().sdk_config()));
    AsyncFlow {
        flow,
        router: api::router(state),
        bucket,
        s3,
    }
}

fn model_input(prompt: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
           "messages": [{"role": "user", "content": prompt}]})
}

impl AsyncFlow {
    fn start_body(&self, token: Option<&str>, prefix: &str) -> Value {
        let mut body = json!({
            "modelId": "haiku",
            "modelInput": model_input("Say hello"),
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": format!("s3://{}/{prefix}", self.bucket)}},
        });
        if let Some(token) = token {
            body["clientRequestToken"] = json!(token);
        }
        body
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value, Option<String>) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            error_type,
        )
    }

    async fn start(&self, key: &str, body: &Value) -> (StatusCode, Value, Option<String>) {
        self.call("POST", "/async-invoke", key, Some(body)).await
    }

    async fn get(&self, key: &str, arn: &str) -> (StatusCode, Value, Option<String>) {
        let encoded: String = arn
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.call("GET", &format!("/async-invoke/{encoded}"), key, None)
            .await
    }

    async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let output = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(output.body.collect().await.unwrap().into_bytes().to_vec())
    }

    /// How many async-invocation jobs the table holds for `tenant`.
    async fn invocations(&self, tenant: &str) -> usize {
        let output = moto()
            .dynamodb()
            .scan()
            .table_name(&self.flow.jobs_table)
            .filter_expression("ai_tenant = :t")
            .expression_attribute_values(
                ":t",
                aws_sdk_dynamodb::types::AttributeValue::S(tenant.into()),
            )
            .send()
            .await
            .unwrap();
        output.items.unwrap_or_default().len()
    }
}

fn id_of(arn: &str) -> &str {
    arn.rsplit_once('/').unwrap().1
}

#[tokio::test]
async fn an_invocation_runs_through_the_jobs_pipeline_into_s3_and_reads_back_as_bedrock_does() {
    let af = async_flow().await;
    let key = af.flow.api_key("acme", |_| {}).await;
    let body = af.start_body(Some("token-1"), "runs/");
    let (status, started, _) = af.start(&key.api_key, &body).await;
    assert_eq!(status, 200, "{started}");
    let arn = started["invocationArn"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:bedrock:us-east-1:{ACCOUNT}:async-invoke/"
        )),
        "{arn}"
    );
    assert_eq!(id_of(&arn).len(), 12);

    // The same token again: the same invocation, one job.
    let (status, again, _) = af.start(&key.api_key, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["invocationArn"], arn);
    assert_eq!(af.invocations("acme").await, 1);
    // The same token with another body: refused, nothing new.
    let mut other = body.clone();
    other["modelInput"] = model_input("something else");
    let (status, conflict, _) = af.start(&key.api_key, &other).await;
    assert_eq!(status, 400, "{conflict}");

    let (status, pending, _) = af.get(&key.api_key, &arn).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["status"], "InProgress");
    assert_eq!(pending["clientRequestToken"], "token-1");
    assert!(pending.get("endTime").is_none(), "{pending}");
    let object_key = format!("runs/{}/output.json", id_of(&arn));
    assert!(
        af.object(&object_key).await.is_none(),
        "no output before the worker ran"
    );

    af.flow.drain().await;
    assert_eq!(
        af.flow.sim.calls(HAIKU),
        1,
        "one model call for the two starts"
    );
    let (status, done, _) = af.get(&key.api_key, &arn).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["invocationArn"], arn);
    assert!(
        done["modelArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("foundation-model/{HAIKU}")),
        "{done}"
    );
    assert_eq!(
        done["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"],
        format!("s3://{}/runs/", af.bucket)
    );
    for field in ["submitTime", "lastModifiedTime", "endTime"] {
        let time = done[field].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{field}: {time}");
    }

    // The model's own InvokeModel answer, where Bedrock lays it out.
    let output = af.object(&object_key).await.expect("the output object");
    let answer: Value = serde_json::from_slice(&output).unwrap();
    let text = answer["content"][0]["text"].as_str().unwrap();
    assert!(!text.is_empty(), "{answer}");
    let job = af
        .flow
        .job_as(
            Some(&key.api_key),
            &gateway::jobs::async_invoke::job_id(id_of(&arn)),
        )
        .await;
    assert_eq!(job["result"]["text"], text, "{job}");

    // Listed, filtered and paged.
    let (_, second, _) = af
        .start(&key.api_key, &af.start_body(Some("token-2"), "runs"))
        .await;
    let second_arn = second["invocationArn"].as_str().unwrap().to_owned();
    let list = |query: &'static str| af.call("GET", query, &key.api_key, None);
    let (status, all, _) = list("/async-invoke").await;
    assert_eq!(status, 200, "{all}");
    let arns = |page: &Value| -> Vec<String> {
        page["asyncInvokeSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["invocationArn"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        arns(&all),
        [second_arn.clone(), arn.clone()],
        "newest first"
    );
    let (_, completed, _) = list("/async-invoke?statusEquals=Completed").await;
    assert_eq!(arns(&completed), [arn.as_str()]);
    let (_, running, _) = list("/async-invoke?statusEquals=InProgress").await;
    assert_eq!(arns(&running), [second_arn.as_str()]);
    let (_, first_page, _) =
        list("/async-invoke?maxResults=1&sortOrder=Ascending&sortBy=SubmissionTime").await;
    assert_eq!(arns(&first_page), [arn.as_str()]);
    let token = first_page["nextToken"].as_str().unwrap().to_owned();
    let (status, next_page, _) = af
        .call(
            "GET",
            &format!("/async-invoke?maxResults=1&sortOrder=Ascending&nextToken={token}"),
            &key.api_key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{next_page}");
    assert_eq!(arns(&next_page), [second_arn]);
    let (_, after, _) = list("/async-invoke?submitTimeAfter=2999-01-01T00:00:00Z").await;
    assert_eq!(arns(&after), Vec::<String>::new());
}

#[tokio::test]
async fn attacks_are_refused_as_bedrock_would_and_nothing_leaks_across_tenants() {
    let af = async_flow().await;
    let owner = af.flow.api_key("acme", |_| {}).await;
    let intruder = af.flow.api_key("intruder", |_| {}).await;
    let (status, started, _) = af
        .start(&owner.api_key, &af.start_body(Some("mine"), "x"))
        .await;
    assert_eq!(status, 200, "{started}");
    let arn = started["invocationArn"].as_str().unwrap().to_owned();

    // Another tenant's ARN answers exactly like an unknown one.
    let unknown = format!("{}zzzzzzzzzzzz", &arn[..arn.len() - 12]);
    let (status, theirs, kind) = af.get(&intruder.api_key, &arn).await;
    let (status_unknown, missing, kind_unknown) = af.get(&intruder.api_key, &unknown).await;
    assert_eq!(
        (status, status_unknown),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(kind.as_deref(), Some("ResourceNotFoundException"));
    assert_eq!(kind, kind_unknown);
    assert_eq!(
        theirs["message"]
            .as_str()
            .unwrap()
            .replace(id_of(&arn), "ID"),
        missing["message"]
            .as_str()
            .unwrap()
            .replace("zzzzzzzzzzzz", "ID")
    );
    let (_, listed, _) = af
        .call("GET", "/async-invoke", &intruder.api_key, None)
        .await;
    assert_eq!(listed["asyncInvokeSummaries"], json!([]), "{listed}");
    // The same token from another tenant is another invocation, never the owner's.
    let (_, other, _) = af
        .start(&intruder.api_key, &af.start_body(Some("mine"), "x"))
        .await;
    assert_ne!(other["invocationArn"], arn);

    // A key not allowed the model: the very error a sync InvokeModel gets.
    let narrow = af
        .flow
        .api_key("acme", |k| k.allowed_models = vec!["no-such-model".into()])
        .await;
    let (status, refused, kind) = af.start(&narrow.api_key, &af.start_body(None, "x")).await;
    let (sync_status, sync_refused, sync_kind) = af
        .call(
            "POST",
            "/model/haiku/invoke",
            &narrow.api_key,
            Some(&model_input("hi")),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        (status, &refused, &kind),
        (sync_status, &sync_refused, &sync_kind)
    );

    // A spent budget: refused, nothing queued.
    let broke = af
        .flow
        .api_key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(0.000_001),
                monthly_usd: None,
            }
        })
        .await;
    let (status, refused, kind) = af.start(&broke.api_key, &af.start_body(None, "x")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(kind.as_deref(), Some("AccessDeniedException"));

    // Outputs only inside the deployment's bucket.
    for uri in [
        "s3://someone-elses-bucket/x",
        "s3://",
        "https://example.com/x",
    ] {
        let mut body = af.start_body(None, "x");
        body["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] = json!(uri);
        let (status, refused, kind) = af.start(&owner.api_key, &body).await;
        assert_eq!(status, 400, "{uri}: {refused}");
        assert_eq!(kind.as_deref(), Some("ValidationException"));
        assert!(
            refused["message"].as_str().unwrap().contains(S3_URI_FIELD),
            "{refused}"
        );
    }
    // Oversized input, a bad ARN, forged list parameters: 400 naming the field.
    let mut big = af.start_body(None, "x");
    big["modelInput"]["messages"][0]["content"] = json!("x".repeat(200 * 1024));
    let (status, refused, _) = af.start(&owner.api_key, &big).await;
    assert!(status == 400 || status == 413, "{status}: {refused}");
    let (status, refused, _) = af.get(&owner.api_key, "arn:aws:bedrock:nope").await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("invocationArn")
    );
    let (status, refused, _) = af
        .get(&owner.api_key, &format!("arn:{}", "a".repeat(3000)))
        .await;
    assert_eq!(status, 400, "{refused}");
    for query in [
        "/async-invoke?nextToken=garbage!!",
        "/async-invoke?nextToken=eyJ0IjoxLCJqIjoiYSIsInRlbmFudCI6ImFjbWUifQ",
        "/async-invoke?maxResults=0",
        "/async-invoke?maxResults=100000",
        "/async-invoke?statusEquals=Everything",
        "/async-invoke?submitTimeAfter=not-a-time",
    ] {
        let (status, refused, kind) = af.call("GET", query, &owner.api_key, None).await;
        assert_eq!(status, 400, "{query}: {refused}");
        assert_eq!(kind.as_deref(), Some("ValidationException"), "{query}");
    }
    // None of the refused starts reached the model or the table.
    assert_eq!(af.invocations("acme").await, 1);
    assert_eq!(af.flow.sim.calls(HAIKU), 0);
}

/// An unmodified boto3 `bedrock-runtime` client: start, poll until Completed (the worker runs
/// meanwhile, as Lambda's event source would), the object read back with boto3's S3 client,
/// listed and paged; a key without the model gets the sync route's error.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_start_get_list_async_invoke() {
    let af = Arc::new(async_flow().await);
    let key = af.flow.api_key("acme", |_| {}).await;
    let denied = af
        .flow
        .api_key("intruder", |k| {
            k.allowed_models = vec!["no-such-model".into()]
        })
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = af.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (af, stop) = (Arc::clone(&af), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                af.flow.poll_once().await;
            }
        })
    };
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../api/tests/clients/boto3_async_invoke.py");
    let python =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/setup.sh`",
        python.display()
    );
    let args = [
        base,
        key.api_key.clone(),
        af.bucket.clone(),
        moto().endpoint_url().to_owned(),
        denied.api_key.clone(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    worker.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boto3 client failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("async invoke ok"), "{stdout}");
    assert_eq!(af.flow.sim.calls(HAIKU), 1, "{stdout}");
}

/// Red team: a JSON number DynamoDB cannot store (its range is 1E-130 to 1E+126) inside
/// `modelInput` passes every check of the start, then the job record's PutItem fails and the
/// caller gets a 500. It must be a 400 naming `modelInput`, before anything is admitted.
#[tokio::test]
async fn attack_async_invoke_model_input_number_outside_dynamodb_range_is_a_400_not_a_500() {
    let af = async_flow().await;
    let key = af.flow.api_key("acme", |_| {}).await;
    for number in [json!(1e200), json!(1e-200)] {
        let mut body = af.start_body(None, "x");
        body["modelInput"]["temperature"] = number.clone();
        let (status, refused, kind) = af.start(&key.api_key, &body).await;
        assert_eq!(status, 400, "temperature {number}: {status} {refused}");
        assert_eq!(kind.as_deref(), Some("ValidationException"), "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or("")
                .contains("modelInput"),
            "{refused}"
        );
    }
    assert_eq!(af.invocations("acme").await, 0);
}

/// Red team: an `s3Uri` inside the bucket whose object key `<prefix>/<id>/output.json` is
/// longer than S3's 1024-byte key limit is accepted at start; the worker then calls (and
/// bills) the model and only the PutObject fails. The start must refuse it, naming the field.
#[tokio::test]
async fn attack_async_invoke_s3_uri_whose_output_key_exceeds_s3_key_limit_is_refused_at_start() {
    let af = async_flow().await;
    let key = af.flow.api_key("acme", |_| {}).await;
    let head = format!("s3://{}/", af.bucket);
    // 1024 characters in all: within the start's own URI limit; the key is 1000+ bytes
    // of prefix plus "/<12 characters>/output.json".
    let ascii = format!("{head}{}", "a".repeat(1024 - head.len()));
    // Multi-byte characters: the limit is in bytes of UTF-8, not characters.
    let unicode = format!("{head}{}", "é".repeat((1024 - head.len()) / 2));
    for uri in [ascii, unicode] {
        let mut body = af.start_body(None, "x");
        body["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] = json!(uri);
        let (status, refused, _) = af.start(&key.api_key, &body).await;
        assert_eq!(status, 400, "{} bytes: {refused}", uri.len());
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or("")
                .contains(S3_URI_FIELD),
            "{refused}"
        );
    }
    af.flow.drain().await;
    assert_eq!(
        af.flow.sim.calls(HAIKU),
        0,
        "the model was called (and billed)"
    );
}

/// Red team: DynamoDB refuses an item nested deeper than 32 levels, and the record stores
/// `modelInput` three levels down (`request.async_invoke.model_input`). A 31-deep input is
/// accepted by the start (moto does not enforce the nesting limit; DynamoDB answers the
/// PutItem with a ValidationException, which the API turns into a 500). The start must
/// bound the depth and refuse it with a 400 naming `modelInput`.
#[tokio::test]
async fn attack_async_invoke_model_input_deeper_than_dynamodb_nesting_is_refused() {
    let af = async_flow().await;
    let key = af.flow.api_key("acme", |_| {}).await;
    let mut deep = json!("leaf");
    for _ in 0..31 {
        deep = json!({ "n": deep });
    }
    let mut body = af.start_body(None, "x");
    body["modelInput"]["metadata"] = deep;
    let (status, refused, _) = af.start(&key.api_key, &body).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("modelInput"),
        "{refused}"
    );
    assert_eq!(af.invocations("acme").await, 0);
}
