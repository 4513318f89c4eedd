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
