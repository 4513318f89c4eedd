//! A gateway with controls on, over a state table of its own in the emulator and a Bedrock
//! simulator; keys made directly in the table; a log of every DynamoDB and Bedrock call.
#![allow(dead_code)]

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use axum::Router;
use axum::body::Body;
use bedrock_sim::SimHandle;
use gateway::config::GatewayConfig;
use gateway::controls::keys::{self, IssuedKey, KeyRecord};
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::control_store::{DynamoControlStore, TieredLastGood};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tower::ServiceExt;

pub const HAIKU: &str = gateway::config::HAIKU;
pub const SEAL: &str = "test-seal-secret";

/// One SDK call as the interceptor saw it.
#[derive(Debug, Clone)]
pub struct LoggedCall {
    pub id: u64,
    /// `DynamoDB_20120810.TransactWriteItems`, `bedrock:<path>`, …
    pub operation: String,
    pub started: Instant,
    pub ended: Option<Instant>,
}

impl LoggedCall {
    pub fn is_dynamodb(&self) -> bool {
        self.operation.starts_with("DynamoDB")
    }
}

#[derive(Debug, Default)]
pub struct CallLog {
    next: AtomicU64,
    calls: Mutex<Vec<LoggedCall>>,
}

impl CallLog {
    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    pub fn calls(&self) -> Vec<LoggedCall> {
        self.calls.lock().unwrap().clone()
    }
}

#[derive(Debug, Clone)]
struct CallId(u64);

impl Storable for CallId {
    type Storer = StoreReplace<Self>;
}

/// Logs every request an SDK client sends (DynamoDB by its `x-amz-target`, Bedrock by path).
#[derive(Debug, Clone)]
pub struct Recorder(pub Arc<CallLog>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "test-call-recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.to_owned(),
            None => format!("bedrock:{}", request.uri()),
        };
        let id = self.0.next.fetch_add(1, Ordering::SeqCst);
        cfg.interceptor_state().store_put(CallId(id));
        self.0.calls.lock().unwrap().push(LoggedCall {
            id,
            operation,
            started: Instant::now(),
            ended: None,
        });
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallId(id)) = cfg.load::<CallId>().cloned() {
            let mut calls = self.0.calls.lock().unwrap();
            if let Some(call) = calls.iter_mut().find(|c| c.id == id) {
                call.ended = Some(Instant::now());
            }
        }
        Ok(())
    }
}

pub struct Stack {
    pub sim: SimHandle,
    pub config: GatewayConfig,
    pub store: DynamoControlStore,
    pub table: String,
    pub log: Arc<CallLog>,
    pub metrics: Arc<Mutex<Vec<String>>>,
    pub router: Router,
}

/// The default models with `controls` (merged over `auth.mode: api_keys`) from JSON.
pub fn config(controls: Value) -> GatewayConfig {
    let mut merged = json!({"auth": {"mode": "api_keys"}});
    merge(&mut merged, controls);
    let config = GatewayConfig {
        controls: serde_json::from_value(merged).unwrap(),
        ..GatewayConfig::default()
    };
    config.controls.validate().unwrap();
    config
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (k, v) in over {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (base, over) => *base = over,
    }
}

pub async fn start(controls: Value) -> Stack {
    start_with(config(controls)).await
}

/// A stack over a whole configuration (models, routing, controls) of the test's own.
pub async fn start_with(config: GatewayConfig) -> Stack {
    let sdk = testkit::moto().sdk_config();
    let sim = testkit::bedrock_sim().await;
    let table = testkit::unique_name("state");
    testkit::resources::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table, true, false)
        .await;
    let log = Arc::new(CallLog::default());
    let ddb_config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(Recorder(Arc::clone(&log)))
        .build();
    let store = DynamoControlStore::new(
        aws_sdk_dynamodb::Client::from_conf(ddb_config),
        &table,
        &config.controls.cache,
    );
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let router = instance(&sim, &config, &store, &log, &metrics);
    Stack {
        sim,
        config,
        store,
        table,
        log,
        metrics,
        router,
    }
}

/// A router over the same simulator and table: another Lambda instance, with caches of its own.
pub fn instance(
    sim: &SimHandle,
    config: &GatewayConfig,
    store: &DynamoControlStore,
    log: &Arc<CallLog>,
    metrics: &Arc<Mutex<Vec<String>>>,
) -> Router {
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let bedrock_config = aws_sdk_bedrockruntime::config::Builder::from(&sdk)
        .interceptor(Recorder(Arc::clone(log)))
        .build();
    // SageMaker endpoints on the same simulator, for configs that serve some.
    let models = gateway_aws::models::GatewayModelClient::new(
        BedrockModelClient::new(
            aws_sdk_bedrockruntime::Client::from_conf(bedrock_config),
            HashMap::new(),
        ),
        gateway_aws::sagemaker::SageMakerModelClient::from_sdk_config(&sdk, config),
    );
    let parts = gateway_aws::resilience_store::local_parts(config)
        .with_home_region(Some("us-east-1".to_owned()))
        .with_last_good(Arc::new(TieredLastGood::new(100, store.clone())));
    let controls = gateway::controls::Controller::new(
        config,
        store.clone(),
        SEAL.as_bytes().to_vec(),
        Some("us-east-1".to_owned()),
    )
    .unwrap();
    let state = api::AppState::with_controls(
        config.clone(),
        models,
        parts,
        Some(controls),
        api::MetricsSink::Memory(Arc::clone(metrics)),
        None,
    );
    // Knowledge bases on the same simulator, for configs that list some.
    let _ = state
        .knowledge_bases
        .set(gateway_aws::knowledge_base::BedrockKnowledgeBases::from_sdk_config(&sdk));
    api::router(state)
}

impl Stack {
    pub fn another_instance(&self) -> Router {
        instance(
            &self.sim,
            &self.config,
            &self.store,
            &self.log,
            &self.metrics,
        )
    }

    /// A new key for `tenant`, usable with SigV4, shaped by `edit`, stored in the table.
    pub async fn key(&self, tenant: &str, edit: impl FnOnce(&mut KeyRecord)) -> IssuedKey {
        let mut entropy = [0u8; keys::ENTROPY_BYTES];
        entropy.iter_mut().for_each(|b| *b = fastrand::u8(..));
        let issued = keys::issue(&entropy);
        let mut record = KeyRecord::new(&issued, tenant, 0);
        record.sigv4_sealed = Some(keys::seal_secret(
            &issued.secret,
            &issued.key_id,
            SEAL.as_bytes(),
        ));
        edit(&mut record);
        self.store.create_key(&record).await.unwrap();
        issued
    }

    pub async fn record(&self, key: &IssuedKey) -> KeyRecord {
        use gateway::controls::ports::KeyStore;
        self.store.key_by_id(&key.key_id).await.unwrap().unwrap()
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.post_with(&self.router, path, key, body, &[]).await
    }

    pub async fn post_with(
        &self,
        router: &Router,
        path: &str,
        key: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(router, request.body(Body::from(body.to_string())).unwrap()).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        let request = Request::get(path)
            .header("x-api-key", key)
            .body(Body::empty())
            .unwrap();
        send(&self.router, request).await
    }

    /// Serves the router on a TCP port (for SDK clients); returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    pub fn metric_lines(&self) -> Vec<Value> {
        self.metrics
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: body.to_vec(),
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A Converse body; `temperature` 0 makes it deterministic (cacheable by default).
pub fn ask(text: &str, max_tokens: u32, temperature: f32) -> Value {
    json!({
        "modelId": "haiku",
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
    })
}

/// Nano-dollars of a `x-gateway-cost` or `cost_usd` string.
pub fn nanos(usd: &str) -> u64 {
    let (whole, frac) = usd.split_once('.').unwrap_or((usd, ""));
    let frac = format!("{frac:0<9}");
    whole.parse::<u64>().unwrap() * 1_000_000_000 + frac[..9].parse::<u64>().unwrap()
}
