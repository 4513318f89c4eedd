//! Attack tests for the new doors: a key's allow-list covers knowledge bases (`kb:<id>`) and
//! SageMaker-served models like any model. A key not allowed them gets 403 on every route —
//! the gateway's RAG route, Bedrock Agent Runtime's wire operations and SageMaker's wire
//! route — and nothing is retrieved or invoked.

use crate::controls_support::*;
use gateway::config::GatewayConfig;
use serde_json::json;

const KB: &str = "KB12345678";
const ENDPOINT: &str = "ft-llama-ep";

fn kb_config() -> GatewayConfig {
    let base = config(json!({}));
    let extra: GatewayConfig = GatewayConfig::parse(
        "test",
        &format!(
            r#"{{"models": [
                {{"id": "{HAIKU}", "aliases": ["haiku"]}},
                {{"id": "ft-llama", "sagemaker": {{"endpoint": "{ENDPOINT}", "dialect": "chat"}}}}
              ],
              "routes": {{}},
              "knowledge_bases": [{{"id": "{KB}", "model": "haiku"}}]}}"#
        ),
    )
    .unwrap();
    GatewayConfig {
        controls: base.controls,
        ..extra
    }
}

#[tokio::test]
async fn a_key_not_allowed_the_knowledge_base_gets_403_everywhere() {
    let stack = start_with(kb_config()).await;
    let haiku_only = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let query = json!({"query": "vacation"});
    let denied = stack
        .post(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &haiku_only.api_key,
            &query,
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert!(denied.text().contains(KB), "{}", denied.text());

    let retrieve = stack
        .post(
            &format!("/knowledgebases/{KB}/retrieve"),
            &haiku_only.api_key,
            &json!({"retrievalQuery": {"text": "vacation"}}),
        )
        .await;
    assert_eq!(retrieve.status, 403, "{}", retrieve.text());
    assert_eq!(
        retrieve
            .header("x-amzn-errortype")
            .map(|t| t.split(':').next().unwrap_or_default()),
        Some("AccessDeniedException")
    );
    let rag = stack
        .post(
            "/retrieveAndGenerate",
            &haiku_only.api_key,
            &json!({"input": {"text": "vacation"},
                    "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE",
                        "knowledgeBaseConfiguration": {"knowledgeBaseId": KB, "modelArn": HAIKU}}}),
        )
        .await;
    assert_eq!(rag.status, 403, "{}", rag.text());
    assert_eq!(stack.sim.calls(&format!("kb:{KB}")), 0, "nothing retrieved");
    assert_eq!(stack.sim.calls(HAIKU), 0);

    // The same key with the knowledge base on its list is answered.
    let allowed = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into(), format!("kb:{KB}")];
        })
        .await;
    let answered = stack
        .post(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &allowed.api_key,
            &query,
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert!(answered.header("x-gateway-cost").is_some());
    assert_eq!(stack.sim.calls(&format!("kb:{KB}")), 1);

    // A key allowed the knowledge base but not the answering model: retrieved, then refused.
    let kb_only = stack
        .key("acme", |k| k.allowed_models = vec![format!("kb:{KB}")])
        .await;
    let no_model = stack
        .post(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &kb_only.api_key,
            &query,
        )
        .await;
    assert_eq!(no_model.status, 403, "{}", no_model.text());
    assert_eq!(stack.sim.calls(HAIKU), 1, "the model was not called for it");
}

#[tokio::test]
async fn a_key_not_allowed_the_endpoint_model_cannot_invoke_it() {
    let stack = start_with(kb_config()).await;
    let haiku_only = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let wire = stack
        .post(
            &format!("/endpoints/{ENDPOINT}/invocations"),
            &haiku_only.api_key,
            &body,
        )
        .await;
    assert_eq!(wire.status, 403, "{}", wire.text());
    let converse = stack
        .post(
            "/v1/converse",
            &haiku_only.api_key,
            &json!({"modelId": "ft-llama", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        )
        .await;
    assert_eq!(converse.status, 403, "{}", converse.text());
    assert_eq!(stack.sim.calls(&format!("sagemaker:{ENDPOINT}")), 0);
}
