//! The `bedrock-sim` binary: announces its URL, reads a config file, stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::test]
async fn binary_serves_with_a_config_file_and_exits_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("bedrock-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&json!({
            "models": {"amazon.nova-micro-v1:0": {"script": ["ThrottlingException"]}},
            "extraModels": ["acme.from-config-v1"]
        }))
        .unwrap(),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-sim"))
        .args(["--port", "0", "--threads", "1", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("bedrock-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let http = reqwest::Client::new();
    let converse = |model: &str| {
        http.post(format!("{url}/model/{model}/converse"))
            .json(&json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
            .send()
    };
    let resp = converse("amazon.nova-micro-v1:0").await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(
        converse("amazon.nova-micro-v1:0").await.unwrap().status(),
        200
    );
    assert_eq!(
        converse("us.acme.from-config-v1").await.unwrap().status(),
        200
    );
    let calls: Value = http
        .get(format!("{url}/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["total"], 3);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "bedrock-sim did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_rejects_a_bad_config_with_the_key_named() {
    let dir = std::env::temp_dir().join(format!("bedrock-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, br#"{"default": {"errorRate": 3}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-sim"))
        .args(["--port", "0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("errorRate"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
