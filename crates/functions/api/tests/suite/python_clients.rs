//! Independent clients against the locally served router: the official OpenAI Python SDK and
//! boto3's bedrock-runtime client, from the project's venv (`scripts/setup.sh` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run `bash scripts/setup.sh` (make test does)",
        venv.display()
    );
    venv
}

async fn run_client(script: &str, base_url: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let python = python();
    let base_url = base_url.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).arg(base_url).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "client failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn official_openai_sdk_chat_stream_and_tools() {
    let api = start().await;
    let base = api.serve().await;
    let out = run_client("openai_chat.py", &format!("{base}/v1")).await;
    assert!(
        out.contains("chat ok") && out.contains("stream ok") && out.contains("tools ok"),
        "{out}"
    );
    assert!(api.sim.calls(HAIKU) >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_bedrock_runtime_converse_stream_and_count_tokens() {
    let api = start().await;
    let base = api.serve().await;
    let out = run_client("boto3_bedrock.py", &base).await;
    assert!(
        out.contains("converse ok")
            && out.contains("converse_stream ok")
            && out.contains("count_tokens ok"),
        "{out}"
    );
    // CountTokens is not a model call.
    assert_eq!(api.sim.calls(HAIKU), 2);
}
