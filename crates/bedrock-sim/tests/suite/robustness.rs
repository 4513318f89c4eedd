//! Hostile input never takes the simulator down: every bad request gets a 4xx with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use bedrock_sim::{SimConfig, Simulator};
use serde_json::Value;

#[tokio::test]
async fn bad_inputs_get_client_errors_and_the_server_survives() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let base = sim.endpoint_url();
    let http = reqwest::Client::new();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"messages\": 5}".to_vec(),
        b"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": 5}]}]}".to_vec(),
        b"{\"messages\": [{\"role\": \"system\", \"content\": []}]}".to_vec(),
        b"{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": 1e400, \"messages\": []}"
            .to_vec(),
        b"{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": -1, \"messages\": []}"
            .to_vec(),
        b"{\"anthropic_version\": \"x\", \"max_tokens\": 1, \"messages\": [{\"role\": \"user\", \"content\": 1}]}"
            .to_vec(),
        deep.clone().into_bytes(),
        format!("{{\"messages\": {deep}}}").into_bytes(),
    ];
    let models = [
        "anthropic.claude-3-5-haiku-20241022-v1%3A0",
        "amazon.nova-micro-v1:0",
        "%FF%FE",
        "arn%3Aaws%3Abedrock%3A%3A%3A",
        "%2F%2F",
    ];
    for model in models {
        for op in [
            "converse",
            "converse-stream",
            "invoke",
            "invoke-with-response-stream",
        ] {
            for body in &bodies {
                let resp = http
                    .post(format!("{base}/model/{model}/{op}"))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                assert!(
                    (400..500).contains(&status),
                    "{model} {op} {:?} -> {status}",
                    String::from_utf8_lossy(&body[..body.len().min(60)])
                );
                let json: Value = resp.json().await.unwrap();
                assert!(json["message"].is_string(), "{json}");
            }
        }
    }
    for (method, path) in [
        ("GET", "/model/x/converse"),
        (
            "POST",
            "/model/anthropic.claude-3-5-haiku-20241022-v1:0/unknown-op",
        ),
        ("POST", "/model/"),
        ("GET", "/nowhere"),
        ("PUT", "/_sim/models/%FF/behavior"),
        ("PUT", "/_sim/models/x/behavior"),
        ("PATCH", "/_sim/models/x/behavior"),
        ("GET", "/_sim/models/unset/behavior"),
    ] {
        let resp = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .body("{\"errorRate\": \"high\"}")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{method} {path} -> {status}");
    }
    let health = http
        .get(format!("{base}/_sim/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Rejected model calls are counted too (the gateway did make them).
    assert!(sim.call_counts().total > 0);
}
