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
    run_client_with(script, &[base_url]).await
}

pub(crate) async fn run_client_with(script: &str, args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let python = python();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(args).output())
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

/// Claude Code's `GET /inference-profiles?type=SYSTEM_DEFINED`, as boto3's control-plane client
/// sends it: SigV4-signed with a gateway key, parsed by botocore's model of the `bedrock` API,
/// and showing only the models the key may use.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_bedrock_control_plane_reads_with_a_signed_key() {
    let stack = crate::controls_support::start(serde_json::json!({})).await;
    let key = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let base = stack.serve().await;
    let out = run_client_with(
        "boto3_bedrock_control.py",
        &[&base, &key.key_id, &key.secret],
    )
    .await;
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let profiles = seen["profiles"].as_array().unwrap();
    assert!(
        profiles.contains(&serde_json::json!(format!("us.{HAIKU}"))),
        "{out}"
    );
    assert!(
        profiles
            .iter()
            .all(|p| p.as_str().unwrap().ends_with(HAIKU)),
        "{out}"
    );
    assert_eq!(seen["models"], serde_json::json!([HAIKU]), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_sagemaker_runtime_and_bedrock_agent_runtime_through_the_gateway() {
    use crate::sagemaker_kb::{CHAT_ENDPOINT, KB, start_sagemaker};
    let api = start_sagemaker().await;
    let base = api.serve().await;
    let out = run_client_with("boto3_sagemaker_kb.py", &[&base, CHAT_ENDPOINT, KB, HAIKU]).await;
    for step in [
        "invoke_endpoint ok",
        "unknown endpoint ok",
        "retrieve ok",
        "retrieve_and_generate ok",
    ] {
        assert!(out.contains(step), "{out}");
    }
    assert_eq!(api.sim.calls(&format!("sagemaker:{CHAT_ENDPOINT}")), 1);
    assert_eq!(api.sim.calls(&format!("kb:{KB}")), 2);
    assert_eq!(api.sim.calls(HAIKU), 1);
}
