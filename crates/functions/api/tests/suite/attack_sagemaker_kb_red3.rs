//! Red team (red3) on issue 18's doors: SageMaker endpoints as models and Bedrock Knowledge
//! Bases. Each test passes only when the control it names holds; each failed when written
//! (see the branch's report for what it saw).

use crate::attack_sagemaker_kb::{ENDPOINT, KB, kb_config};
use crate::controls_support::*;
use gateway::controls::keys::{KeyLimits, RateLimits};
use serde_json::{Value, json};

/// `reply with: w0 w1 … w{n-1}`: the simulator answers exactly those words, one output
/// token each, as far as the body's output limit lets it.
fn words(n: usize) -> String {
    let list: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    format!("reply with: {}", list.join(" "))
}

/// The `completion_tokens` counts an answer (sync body or the bytes of a stream) reports.
fn completion_tokens(body: &[u8]) -> Vec<u64> {
    let text = String::from_utf8_lossy(body);
    text.match_indices("\"completion_tokens\":")
        .filter_map(|(at, key)| {
            let digits: String = text[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// Red team (red3), high: the output limit the gateway reserves and writes for a SageMaker
/// model is read from whichever field the body's *shape* suggests (`inputs` → TGI's
/// `parameters.max_new_tokens`, `textGenerationConfig` → Titan's, `schemaVersion` → Nova's),
/// not from the model's configured dialect. A chat body that also carries a decoy TGI field
/// of 1 token is admitted as a 1-token call and goes to the container unchanged, where the
/// chat container reads `max_tokens: 100000`. The docs' promise — "the model cannot produce
/// more than was reserved, streamed or not" — is what keeps budgets and tokens-per-minute
/// whole; here the endpoint wrote 200 tokens on a 1-token reservation (a real vLLM/TGI
/// container writes until its context ends). Expected: either a 400, or an answer of at
/// most the reserved 1 output token, on every door to the endpoint. (Fixed: the limit is read
/// from the fields of the model's configured dialect; the test now shows the real limit is
/// what a tokens-per-minute limit sees.)
#[tokio::test]
async fn attack_a_decoy_limit_field_cannot_unlock_a_sagemaker_models_output() {
    let stack = start_with(kb_config()).await;
    // A tokens-per-minute limit far above the prompt plus one output token, far below the
    // body's real limit: admitted only if the decoy is taken for the limit.
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["ft-llama".into()];
            k.limits.default.tokens_per_minute = Some(5_000);
        })
        .await;
    let prompt = words(200);
    let decoys = [
        json!({"inputs": "x", "parameters": {"max_new_tokens": 1}}),
        json!({"textGenerationConfig": {"maxTokenCount": 1}}),
        json!({"schemaVersion": "messages-v1", "inferenceConfig": {"max_new_tokens": 1}}),
    ];
    let doors = [
        format!("/endpoints/{ENDPOINT}/invocations"),
        format!("/endpoints/{ENDPOINT}/invocations-response-stream"),
        "/model/ft-llama/invoke".to_owned(),
    ];
    for door in &doors {
        for decoy in &decoys {
            let mut body = json!({
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 100_000,
            });
            if door.ends_with("-stream") {
                body["stream"] = json!(true);
                body["stream_options"] = json!({"include_usage": true});
            }
            for (name, value) in decoy.as_object().unwrap() {
                body[name] = value.clone();
            }
            let reply = stack.post(door, &key.api_key, &body).await;
            assert!(
                reply.status == 400 || reply.status == 429,
                "{door} with decoy {decoy}: a 100,000-token request was admitted as a small one: {} {}",
                reply.status,
                reply.text()
            );
        }
    }
    assert_eq!(stack.sim.calls(&format!("sagemaker:{ENDPOINT}")), 0);
}

/// Red team (red3), medium: a key's per-model limits may name a knowledge base (`kb:<id>`), and
/// a bare `Retrieve` is held to them — but the RAG routes are admitted only under the
/// answering model's scope, so the same key retrieves from that knowledge base as often as it
/// likes through `/v1/knowledge-bases/{id}/query` (which hands back every chunk in `sources`,
/// up to 100 a call, for a 1-token answer) or `RetrieveAndGenerate`. Expected: the knowledge
/// base's limit holds on every route that retrieves from it.
#[tokio::test]
async fn attack_a_knowledge_bases_rate_limit_holds_on_the_rag_routes() {
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into(), format!("kb:{KB}")];
            k.limits = KeyLimits {
                default: RateLimits::default(),
                models: [(
                    format!("kb:{KB}"),
                    RateLimits {
                        requests_per_minute: Some(1),
                        tokens_per_minute: None,
                        concurrency: None,
                    },
                )]
                .into_iter()
                .collect(),
            };
        })
        .await;
    // The bare Retrieve is held to the knowledge base's limit.
    let retrieve = json!({"retrievalQuery": {"text": "vacation"}});
    let path = format!("/knowledgebases/{KB}/retrieve");
    let first = stack.post(&path, &key.api_key, &retrieve).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = stack.post(&path, &key.api_key, &retrieve).await;
    assert_eq!(second.status, 429, "{}", second.text());
    assert_eq!(stack.sim.calls(&format!("kb:{KB}")), 1);

    // The RAG routes retrieve from the same knowledge base.
    let query = json!({"query": "vacation", "max_tokens": 1, "number_of_results": 100});
    let rag = json!({"input": {"text": "vacation"},
        "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE",
            "knowledgeBaseConfiguration": {"knowledgeBaseId": KB, "modelArn": "haiku"}}});
    let mut statuses = Vec::new();
    let mut chunks = 0;
    for _ in 0..2 {
        let reply = stack
            .post(
                &format!("/v1/knowledge-bases/{KB}/query"),
                &key.api_key,
                &query,
            )
            .await;
        if reply.status == 200 {
            chunks += reply.json()["sources"].as_array().map_or(0, Vec::len);
        }
        statuses.push(reply.status.as_u16());
        let reply = stack.post("/retrieveAndGenerate", &key.api_key, &rag).await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(
        stack.sim.calls(&format!("kb:{KB}")),
        1,
        "a key held to 1 retrieval a minute from {KB} retrieved again through the RAG routes \
         ({statuses:?}; {chunks} chunks handed back)"
    );
}

/// Red team (red3), medium-low: a RAG request whose answering call is invalid
/// (`max_tokens: 0`) is admitted, retrieves from the knowledge base (billed by Bedrock), calls
/// the model, and only then is refused with Bedrock's 400 — which names no field. Expected: a
/// 400 naming `max_tokens`, before anything is retrieved or generated.
#[tokio::test]
async fn attack_an_invalid_rag_request_retrieves_nothing() {
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into(), format!("kb:{KB}")];
        })
        .await;
    let reply = stack
        .post(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &key.api_key,
            &json!({"query": "vacation", "max_tokens": 0, "number_of_results": 100}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    let retrieved = stack.sim.calls(&format!("kb:{KB}"));
    let generated = stack.sim.calls(HAIKU);
    assert_eq!(
        (retrieved, generated),
        (0, 0),
        "refused as invalid after {retrieved} billed retrieval(s) and {generated} model call(s)"
    );
    assert_eq!(
        reply.json()["error"]["field"],
        Value::from("max_tokens"),
        "{}",
        reply.text()
    );
}

/// Red team (red3), low-medium: the knowledge-base routes answer 403 before 404 so keys cannot
/// enumerate knowledge bases, but SageMaker's wire route looks the endpoint up first: a key
/// allowed nothing behind it gets 404 for an endpoint the gateway does not serve and 403
/// naming the model (`ft-llama`) for one it does — the deployment's endpoints and the models
/// behind them can be probed. Expected: the same refusal for both, naming no model.
#[tokio::test]
async fn attack_sagemaker_endpoints_cannot_be_enumerated() {
    let stack = start_with(kb_config()).await;
    let haiku_only = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let served = stack
        .post(
            &format!("/endpoints/{ENDPOINT}/invocations"),
            &haiku_only.api_key,
            &body,
        )
        .await;
    let unknown = stack
        .post(
            "/endpoints/no-such-ep/invocations",
            &haiku_only.api_key,
            &body,
        )
        .await;
    assert_eq!(
        served.status,
        unknown.status,
        "served endpoint: {} {}; unknown endpoint: {} {}",
        served.status,
        served.text(),
        unknown.status,
        unknown.text()
    );
    assert!(
        !served.text().contains("'ft-llama'"),
        "the refusal names the model behind the endpoint: {}",
        served.text()
    );
    assert_eq!(stack.sim.calls(&format!("sagemaker:{ENDPOINT}")), 0);
}

/// Red team (red3), low: a RAG request naming an answering model the gateway does not know is
/// refused with every configured model id, alias and group — including the SageMaker-served
/// `ft-llama` this key may not use — while the catalog routes list only the key's own models.
/// Expected: the refusal names nothing outside the key's allow-list.
#[tokio::test]
async fn attack_an_unknown_answering_model_lists_no_model_outside_the_allow_list() {
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into(), format!("kb:{KB}")];
        })
        .await;
    let query = stack
        .post(
            &format!("/v1/knowledge-bases/{KB}/query"),
            &key.api_key,
            &json!({"query": "vacation", "model": "nope"}),
        )
        .await;
    let rag = stack
        .post(
            "/retrieveAndGenerate",
            &key.api_key,
            &json!({"input": {"text": "vacation"},
                "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE",
                    "knowledgeBaseConfiguration": {"knowledgeBaseId": KB,
                        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/nope"}}}),
        )
        .await;
    for reply in [&query, &rag] {
        assert!(reply.status.is_client_error(), "{}", reply.text());
        assert!(
            !reply.text().contains("ft-llama"),
            "an unknown model's refusal lists a model outside the key's allow-list: {}",
            reply.text()
        );
    }
    assert_eq!(stack.sim.calls(&format!("kb:{KB}")), 0);
}

/// Red team (red3), medium: a stream from SageMaker's wire route is settled from Bedrock's
/// `amazon-bedrock-invocationMetrics` only, which a container's payload parts never carry
/// (its usage is the OpenAI `usage` of the last `chat.completion.chunk`). So every completed
/// SageMaker stream settles as a *broken* one: the ledger counts it as an error, charges the
/// reservation, and records at most the reserved output — with the decoy above, a stream that
/// wrote 200 tokens is ledgered as 1. Expected: a completed stream is settled at the usage the
/// container reported, and is no error.
#[tokio::test]
async fn attack_a_sagemaker_stream_is_settled_at_its_reported_usage() {
    let stack = start_with(kb_config()).await;
    let key = stack
        .key("acme", |k| k.allowed_models = vec!["ft-llama".into()])
        .await;
    let body = json!({
        "messages": [{"role": "user", "content": words(10)}],
        "max_tokens": 50,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let reply = stack
        .post(
            &format!("/endpoints/{ENDPOINT}/invocations-response-stream"),
            &key.api_key,
            &body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        completion_tokens(&reply.body),
        vec![10],
        "the container's usage"
    );
    let usage = stack.get("/v1/usage", &key.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text());
    let row = &usage.json()["by_model"]["ft-llama"];
    assert_eq!(
        (
            row["requests"].as_u64(),
            row["errors"].as_u64(),
            row["output_tokens"].as_u64()
        ),
        (Some(1), Some(0), Some(10)),
        "a completed stream that wrote 10 tokens is ledgered as {row}"
    );
}
