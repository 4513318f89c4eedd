//! Drives the API router in process, against an in-process Bedrock simulator over real HTTP.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use bedrock_sim::SimHandle;
use bytes::Bytes;
use gateway::config::GatewayConfig;
use gateway_aws::bedrock::BedrockModelClient;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const HAIKU: &str = gateway::config::HAIKU;
pub const SONNET: &str = gateway::config::SONNET;
pub const NOVA_LITE: &str = gateway::config::NOVA_LITE;

pub struct TestApi {
    pub sim: SimHandle,
    pub router: Router,
}

pub async fn start() -> TestApi {
    start_with(GatewayConfig::default()).await
}

pub async fn start_with(config: GatewayConfig) -> TestApi {
    let sim = testkit::bedrock_sim().await;
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let models = BedrockModelClient::from_sdk_config(&sdk, &[]);
    let router = api::router(api::AppState::new(config, models));
    TestApi { sim, router }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Server-sent events as (event name or "", data) pairs.
    pub fn sse(&self) -> Vec<(String, String)> {
        self.text()
            .split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                (event, data)
            })
            .collect()
    }
}

impl TestApi {
    pub async fn post(&self, path: &str, body: impl Into<Body>) -> Reply {
        self.send(
            Request::post(path)
                .header("content-type", "application/json")
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path, body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Serves the router on a real TCP port (for SDK and Python clients); returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }
}

pub fn user_message(text: &str) -> Value {
    serde_json::json!({"role": "user", "content": [{"text": text}]})
}

/// A state table of its own in the moto emulator (pk/sk, as the `state` table).
pub async fn state_table() -> String {
    let table = testkit::unique_name("state");
    testkit::resources::create_table(&testkit::moto().dynamodb(), &table, true, false).await;
    table
}

/// A router whose gateway keeps breakers and health in `state_table` (DynamoDB, shared by
/// every router built on the same table) or, without one, per instance. Home region us-east-1.
pub fn resilient_router(
    models: BedrockModelClient,
    config: GatewayConfig,
    state_table: Option<&str>,
) -> Router {
    let mut parts = gateway_aws::resilience_store::local_parts(&config)
        .with_home_region(Some("us-east-1".to_owned()));
    if let Some(table) = state_table {
        let store = gateway_aws::resilience_store::DynamoStateStore::from_sdk_config(
            &testkit::moto().sdk_config(),
            table,
        );
        parts = parts
            .with_breaker_store(store.clone())
            .with_health_store(store);
    }
    api::router(api::AppState::with_controls(
        config,
        models,
        parts,
        None,
        Default::default(),
        None,
    ))
}

/// Bedrock clients for one simulator, with a client per region the config names.
pub fn sim_models(sim: &SimHandle, config: &GatewayConfig) -> BedrockModelClient {
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    BedrockModelClient::from_sdk_config(&sdk, &config.regions())
}

/// A router over a fresh simulator, with `resilient_router`'s state.
pub async fn start_resilient(config: GatewayConfig, state_table: Option<&str>) -> TestApi {
    let sim = testkit::bedrock_sim().await;
    let router = resilient_router(sim_models(&sim, &config), config, state_table);
    TestApi { sim, router }
}

/// Another router (another Lambda instance: its own caches) over the same simulator.
pub fn another_instance(api: &TestApi, config: GatewayConfig, state_table: Option<&str>) -> Router {
    resilient_router(sim_models(&api.sim, &config), config, state_table)
}

/// A gateway config from JSON with `{SONNET}`, `{HAIKU}`, `{NOVA_LITE}` placeholders.
pub fn config(json: &str) -> GatewayConfig {
    let json = json
        .replace("{SONNET}", SONNET)
        .replace("{HAIKU}", HAIKU)
        .replace("{NOVA_LITE}", NOVA_LITE);
    GatewayConfig::parse("test", &json).unwrap_or_else(|e| panic!("test config: {e}"))
}

/// A Converse body for `/v1/converse` and `/v1/converse-stream`.
pub fn ask(model: &str, text: &str) -> Value {
    serde_json::json!({"modelId": model, "messages": [user_message(text)]})
}

impl TestApi {
    /// The same request through another router (instance).
    pub async fn post_json_to(router: &Router, path: &str, body: &Value) -> Reply {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }
}
