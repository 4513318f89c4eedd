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

/// The same boto3 clients with a gateway key as their credentials (api_keys mode): SageMaker
/// Runtime signs for service `sagemaker`, Agent Runtime for `bedrock`; both verify, and the
/// key's allow-list, limits and ledger apply.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_sagemaker_runtime_and_bedrock_agent_runtime_signed_with_a_gateway_key() {
    use crate::attack_sagemaker_kb::{ENDPOINT, KB, kb_config};
    let stack = crate::controls_support::start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into(), "ft-llama".into(), format!("kb:{KB}")];
        })
        .await;
    let base = stack.serve().await;
    let out = run_client_with(
        "boto3_sagemaker_kb.py",
        &[&base, ENDPOINT, KB, HAIKU, &key.key_id, &key.secret],
    )
    .await;
    for step in [
        "invoke_endpoint ok",
        "retrieve ok",
        "retrieve_and_generate ok",
    ] {
        assert!(out.contains(step), "{out}");
    }
    assert_eq!(stack.sim.calls(&format!("sagemaker:{ENDPOINT}")), 1);
    assert_eq!(stack.sim.calls(&format!("kb:{KB}")), 2);
}

/// The `anthropic` SDK: `Anthropic(base_url=…)` create (tools, cache_control), stream,
/// count_tokens, a Claude-Code-shaped beta call and an error; `AnthropicBedrock(base_url=…)`
/// create and stream with the gateway key as SigV4 credentials. Then a cached-prompt
/// conversation (one long system prompt cached for 1 hour, the latest turn for 5 minutes,
/// three turns): a write, then reads; each turn's `x-gateway-cost` equals a hand computation
/// from the price table to the nano-dollar, and the usage ledger holds their sum.
#[tokio::test(flavor = "multi_thread")]
async fn official_anthropic_sdk_messages_and_cached_prompt_costs() {
    let stack = crate::controls_support::start(serde_json::json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let conversation_key = stack.key("cached-talk", |_| {}).await;
    let base = stack.serve().await;
    // Anthropic's name for the configured Bedrock model: `claude-…-YYYYMMDD`.
    let anthropic_name = HAIKU
        .trim_start_matches("anthropic.")
        .rsplit_once("-v")
        .unwrap()
        .0;
    let out = run_client_with(
        "anthropic_messages.py",
        &[
            &base,
            &key.api_key,
            &key.key_id,
            &key.secret,
            HAIKU,
            anthropic_name,
            &conversation_key.api_key,
        ],
    )
    .await;
    let seen: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    let turns = seen["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 3, "{out}");
    let n = |turn: &serde_json::Value, field: &str| turn[field].as_u64().unwrap();
    // Turn 1 writes the system prompt (1 hour) and the question (5 minutes); later turns read
    // the system prompt and write only their new question.
    assert_eq!(n(&turns[0], "cache_read"), 0, "{out}");
    let system_tokens = n(&turns[0], "cache_write_1h");
    assert!(system_tokens > 1_000, "{out}");
    assert!(
        n(&turns[0], "cache_write") > system_tokens,
        "a 5-minute write too: {out}"
    );
    for turn in &turns[1..] {
        assert_eq!(n(turn, "cache_read"), system_tokens, "{out}");
        assert_eq!(n(turn, "cache_write_1h"), 0, "{out}");
        assert!(n(turn, "cache_write") > 0, "{out}");
    }

    // By hand, from prices.json's in-region row for Claude Haiku 4.5 (list price + 10%), in
    // nano-dollars per token: input $0.0011/1k = 1100, output $0.0055/1k = 5500, cache read
    // $0.00011/1k = 110, 5-minute write $0.001375/1k = 1375, 1-hour write $0.0022/1k = 2200.
    let (input, output, read, write_5m, write_1h) = (1_100, 5_500, 110, 1_375, 2_200);
    let table = gateway::controls::pricing::PriceTable::builtin(&[]).unwrap();
    let price = table.lookup(HAIKU, Some("us-east-1")).unwrap();
    assert_eq!(
        [
            price.input.0,
            price.output.0,
            price.cache_read.0,
            price.cache_write.0,
            price.cache_write_1h.0
        ],
        [input, output, read, write_5m, write_1h].map(|p| p * 1_000),
        "the table's row changed: update the hand computation"
    );
    let mut total = 0;
    for turn in turns {
        let expected = n(turn, "input") * input
            + n(turn, "output") * output
            + n(turn, "cache_read") * read
            + (n(turn, "cache_write") - n(turn, "cache_write_1h")) * write_5m
            + n(turn, "cache_write_1h") * write_1h;
        let charged = crate::controls_support::nanos(turn["cost_usd"].as_str().unwrap());
        assert_eq!(charged, expected, "{turn}");
        total += expected;
    }
    // The ledger agrees.
    let usage = stack.get("/v1/usage", &conversation_key.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text());
    let totals = &usage.json()["totals"];
    assert_eq!(
        crate::controls_support::nanos(totals["cost_usd"].as_str().unwrap()),
        total,
        "{totals}"
    );
    assert_eq!(totals["requests"], 3);
    let sum = |field: &str| turns.iter().map(|t| n(t, field)).sum::<u64>();
    assert_eq!(totals["cache_read_tokens"], sum("cache_read"));
    assert_eq!(totals["cache_write_tokens"], sum("cache_write"));
    assert_eq!(totals["cache_write_1h_tokens"], sum("cache_write_1h"));
}
