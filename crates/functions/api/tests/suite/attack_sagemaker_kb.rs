//! Attack tests for the new doors: a key's allow-list covers knowledge bases (`kb:<id>`) and
//! SageMaker-served models like any model. A key not allowed them gets 403 on every route —
//! the gateway's RAG route, Bedrock Agent Runtime's wire operations and SageMaker's wire
//! route — and nothing is retrieved or invoked.

use crate::controls_support::*;
use gateway::config::GatewayConfig;
use serde_json::json;

pub(crate) const KB: &str = "KB12345678";
pub(crate) const ENDPOINT: &str = "ft-llama-ep";

pub(crate) fn kb_config() -> GatewayConfig {
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

/// Red team (red2): `Retrieve` is billed upstream (the query is embedded, the vector store is
/// searched) but the wire route takes no admission at all — a key held to one request a
/// minute retrieves as often as it likes. Expected: the key's request rate applies (429).
#[tokio::test]
async fn attack_retrieve_is_held_to_the_keys_request_rate() {
    use gateway::controls::keys::{KeyLimits, RateLimits};
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec![format!("kb:{KB}")];
            k.limits = KeyLimits {
                default: RateLimits {
                    requests_per_minute: Some(1),
                    tokens_per_minute: None,
                    concurrency: None,
                },
                models: Default::default(),
            };
        })
        .await;
    let body = json!({"retrievalQuery": {"text": "vacation"}});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let reply = stack
            .post(
                &format!("/knowledgebases/{KB}/retrieve"),
                &key.api_key,
                &body,
            )
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert!(
        statuses.contains(&429),
        "a one-request-a-minute key retrieved 5 times: {statuses:?}"
    );
    assert!(stack.sim.calls(&format!("kb:{KB}")) <= 1);
}

/// Red team (red2): the RAG route retrieves before the answering call is admitted, so a key
/// whose budget is spent still drives a billed `Retrieve` on every request (then gets 402).
/// Expected: a refused call retrieves nothing.
#[tokio::test]
async fn attack_a_key_with_its_budget_spent_retrieves_nothing() {
    use gateway::controls::keys::Budget;
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into(), format!("kb:{KB}")];
            k.budget = Budget {
                daily_usd: Some(0.000_000_001),
                monthly_usd: None,
            };
        })
        .await;
    let query = json!({"query": "vacation"});
    for _ in 0..3 {
        let refused = stack
            .post(
                &format!("/v1/knowledge-bases/{KB}/query"),
                &key.api_key,
                &query,
            )
            .await;
        assert!(
            refused.status == 402 || refused.status == 429,
            "{}",
            refused.text()
        );
    }
    assert_eq!(stack.sim.calls(HAIKU), 0);
    assert_eq!(
        stack.sim.calls(&format!("kb:{KB}")),
        0,
        "a key refused for its budget still made billed retrievals"
    );
}

/// A stack and a key that may only retrieve from `KB`, with a daily budget of `usd`.
async fn retriever_with_daily_budget(usd: f64) -> (Stack, gateway::controls::keys::IssuedKey) {
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec![format!("kb:{KB}")];
            k.budget = gateway::controls::keys::Budget {
                daily_usd: Some(usd),
                monthly_usd: None,
            };
        })
        .await;
    (stack, key)
}

/// A retrieval is charged: the query's embedding at the knowledge base's embedding model's
/// rate, in the response's cost header and in the tenant's ledger.
#[tokio::test]
async fn a_retrieval_is_charged_to_the_keys_budget() {
    let (stack, key) = retriever_with_daily_budget(1.0).await;
    let body = json!({"retrievalQuery": {"text": "how many vacation days do I get?"}});
    let reply = stack
        .post(
            &format!("/knowledgebases/{KB}/retrieve"),
            &key.api_key,
            &body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let cost = reply.header("x-gateway-cost").expect("a cost header");
    assert!(cost.parse::<f64>().unwrap() > 0.0, "cost {cost}");
    let usage = stack.get("/v1/usage", &key.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text());
    assert!(
        usage.text().contains("amazon.titan-embed-text-v2:0"),
        "the ledger names the embedding model: {}",
        usage.text()
    );
}

/// A spent budget stops a bare `Retrieve` too: nothing reaches the knowledge base.
#[tokio::test]
async fn attack_a_key_with_its_budget_spent_cannot_retrieve() {
    let (stack, key) = retriever_with_daily_budget(0.000_000_001).await;
    let body = json!({"retrievalQuery": {"text": "vacation policy for new employees"}});
    let refused = stack
        .post(
            &format!("/knowledgebases/{KB}/retrieve"),
            &key.api_key,
            &body,
        )
        .await;
    // 403: even one retrieval's worst case is above the budget (402 once spent).
    assert!(
        refused.status == 402 || refused.status == 403,
        "{}",
        refused.text()
    );
    assert!(refused.text().contains("budget"), "{}", refused.text());
    assert_eq!(stack.sim.calls(&format!("kb:{KB}")), 0);
}

/// A key learns nothing about knowledge bases outside its allow-list: an unknown id and a
/// configured one answer the same 403. A key that may use every knowledge base gets 404 for
/// one that is not configured.
#[tokio::test]
async fn attack_knowledge_base_ids_cannot_be_enumerated() {
    let stack = start_with(kb_config()).await;
    let haiku_only = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let every_kb = stack
        .key("acme", |k| k.allowed_models = vec!["kb:*".into()])
        .await;
    let body = json!({"retrievalQuery": {"text": "vacation"}});
    for id in [KB, "ZZZZZZZZZZ"] {
        let reply = stack
            .post(
                &format!("/knowledgebases/{id}/retrieve"),
                &haiku_only.api_key,
                &body,
            )
            .await;
        assert_eq!(reply.status, 403, "{id}: {}", reply.text());
    }
    let unknown = stack
        .post(
            "/knowledgebases/ZZZZZZZZZZ/retrieve",
            &every_kb.api_key,
            &body,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
}
