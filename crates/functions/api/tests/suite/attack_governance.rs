//! The outside review's attacks on the model allow-list, budgets, number handling, the
//! response cache, JWT callers and retries (issue 14, findings 1, 2, 6, 10, 12 and the retry
//! budget), each replayed through the real router, the emulator and bedrock-sim, asserting the
//! attack now fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use bedrock_sim::{Behavior, ErrorKind, Outcome};
use gateway::config::{GatewayConfig, SONNET};
use gateway::controls::keys::Budget;
use serde_json::{Value, json};

/// A prompt the content classifier sends to the complex tier (Sonnet): code, long, "review".
fn review_prompt() -> String {
    format!(
        "Please review this code:\n```rust\n{}```",
        "let x = 1;\n".repeat(400)
    )
}

/// Finding 1: a key allowed only `haiku` asked for `auto` with a long review prompt and was
/// answered by Sonnet. Now the model the route chose is checked: 403 naming it, and Sonnet
/// never called — on the Converse route, the OpenAI route and the Bedrock wire path alike.
#[tokio::test]
async fn a_haiku_only_key_cannot_reach_sonnet_through_auto() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let prompt = review_prompt();
    let converse = stack
        .post(
            "/v1/converse",
            &key.api_key,
            &json!({"modelId": "auto", "messages": [{"role": "user", "content": [{"text": prompt}]}]}),
        )
        .await;
    assert_eq!(converse.status, 403, "{}", converse.text());
    assert!(converse.text().contains(SONNET), "{}", converse.text());
    let chat = stack
        .post(
            "/v1/chat/completions",
            &key.api_key,
            &json!({"model": "auto", "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    assert_eq!(chat.status, 403, "{}", chat.text());
    assert_eq!(
        chat.json()["error"]["type"],
        "permission_error",
        "{}",
        chat.text()
    );
    assert_eq!(stack.sim.calls(SONNET), 0, "Sonnet was never called");

    // A short prompt routes `auto` to Haiku, which the key may use.
    let short = stack
        .post(
            "/v1/converse",
            &key.api_key,
            &json!({"modelId": "auto", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        )
        .await;
    assert_eq!(short.status, 200, "{}", short.text());
    assert_eq!(short.header("x-gateway-model"), Some(HAIKU));
}

/// Finding 1 through a model group and a fallback chain: the members and fallbacks a key may
/// not use are skipped, never called, even when they come first or the allowed one fails.
#[tokio::test]
async fn groups_and_fallbacks_skip_models_outside_the_allow_list() {
    let config: GatewayConfig = GatewayConfig::parse(
        "test",
        &json!({
            "models": [
                {"id": SONNET, "aliases": ["sonnet"], "fallbacks": ["haiku"]},
                {"id": HAIKU, "aliases": ["haiku"], "fallbacks": ["sonnet"]}
            ],
            "routes": {},
            "routing": {"groups": [{"name": "fast", "models": ["sonnet", "haiku"], "strategy": "cost"}]},
            "controls": {"auth": {"mode": "api_keys"}}
        })
        .to_string(),
    )
    .unwrap();
    let stack = start_with(config).await;
    let key = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    for _ in 0..4 {
        let reply = stack
            .post("/v1/converse", &key.api_key, &ask_model("fast", "hello"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    }
    // Haiku down: its fallback (Sonnet) is not the key's to use, so the error is Haiku's own.
    stack.sim.set_behavior(
        HAIKU,
        Behavior::always(ErrorKind::ServiceUnavailableException),
    );
    let down = stack
        .post(
            "/v1/converse",
            &key.api_key,
            &ask_model("haiku", "hello again"),
        )
        .await;
    assert_eq!(down.status, 503, "{}", down.text());
    // Asking for Sonnet by name reaches only its allowed fallback.
    assert_eq!(stack.sim.calls(SONNET), 0, "Sonnet was never called");
}

fn ask_model(model: &str, text: &str) -> Value {
    json!({"modelId": model, "messages": [{"role": "user", "content": [{"text": text}]}]})
}

/// Finding 2: without `maxTokens` the reservation assumed the default output, but the call
/// went to Bedrock with no limit. Now the reserved limit is written into the request: the
/// answer stops there and the call costs no more than it reserved, on Converse and on the
/// native InvokeModel body alike.
#[tokio::test]
async fn leaving_out_max_tokens_cannot_spend_past_the_reservation() {
    let stack = start(json!({
        "estimate": {"default_max_output_tokens": 20},
        "cache": {"enabled": false}
    }))
    .await;
    let words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
    let prompt = format!("reply with: {}", words.join(" "));
    let controls = gateway::controls::Controller::new(&stack.config, (), vec![], None).unwrap();
    let price = controls.price(HAIKU, Some("us-east-1")).unwrap();
    // A budget for exactly one reservation (input at a byte a token, plus 20 output tokens).
    let input = (prompt.len() as u64) + 16;
    let one = price.cost(&gateway::controls::usage::TokenUsage {
        input,
        output: 20,
        ..Default::default()
    });
    let key = stack
        .key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(one.0 as f64 / 1e9 * 1.5),
                monthly_usd: None,
            }
        })
        .await;
    let reply = stack
        .post("/v1/converse", &key.api_key, &ask_model("haiku", &prompt))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["usage"]["outputTokens"], 20, "{body}");
    assert_eq!(body["stopReason"], "max_tokens");
    let cost = nanos(reply.header("x-gateway-cost").unwrap());
    assert!(cost <= one.0, "spent {cost} > reserved {}", one.0);
    // Keep calling until the budget refuses: the total spent never passes the budget.
    let budget = (one.0 as f64 * 1.5) as u64;
    let mut spent = cost;
    let mut refused = false;
    for _ in 0..20 {
        let again = stack
            .post("/v1/converse", &key.api_key, &ask_model("haiku", &prompt))
            .await;
        if again.status == 402 {
            refused = true;
            break;
        }
        assert_eq!(again.status, 200, "{}", again.text());
        spent += nanos(again.header("x-gateway-cost").unwrap());
    }
    assert!(refused, "the budget refused at last");
    assert!(spent <= budget, "spent {spent} of a {budget} budget");

    // InvokeModel with an Anthropic body and no max_tokens: the gateway writes it in.
    let open = stack.key("acme2", |_| {}).await;
    let invoke = stack
        .post(
            &format!("/model/{HAIKU}/invoke"),
            &open.api_key,
            &json!({"anthropic_version": "bedrock-2023-05-31",
                    "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    assert_eq!(invoke.status, 200, "{}", invoke.text());
    assert_eq!(
        invoke.json()["usage"]["output_tokens"],
        20,
        "{}",
        invoke.text()
    );
}

/// Finding 10: `max_tokens = u64::MAX` panicked the handler in debug and wrapped in release,
/// so the tokens-per-minute check saw a tiny number. Now any limit above the maximum is a 400
/// naming the field, with the limits on or off, and the model is never called.
#[tokio::test]
async fn an_absurd_max_tokens_is_refused_not_wrapped() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| {
            k.limits.default.tokens_per_minute = Some(10_000);
        })
        .await;
    let invoke = stack
        .post(
            &format!("/model/{HAIKU}/invoke"),
            &key.api_key,
            &json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 18446744073709551615u64,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(invoke.status, 400, "{}", invoke.text());
    assert!(invoke.text().contains("max_tokens"), "{}", invoke.text());
    let converse = stack
        .post(
            "/v1/converse",
            &key.api_key,
            &json!({"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                    "inferenceConfig": {"maxTokens": 4294967295u64}}),
        )
        .await;
    assert_eq!(converse.status, 400, "{}", converse.text());
    assert!(converse.text().contains("maxTokens"), "{}", converse.text());
    let chat = stack
        .post(
            "/v1/chat/completions",
            &key.api_key,
            &json!({"model": "haiku", "max_tokens": 4000000000u64,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(chat.status, 400, "{}", chat.text());
    assert_eq!(stack.sim.calls(HAIKU), 0);
    // A sane limit within the key's tokens per minute still works.
    let fine = stack
        .post("/v1/converse", &key.api_key, &ask("hi", 100, 0.5))
        .await;
    assert_eq!(fine.status, 200, "{}", fine.text());
}

/// Finding 12: tenant B sending tenant A's temperature-0 prompt got `x-gateway-cache: hit`
/// and A's answer. The cache is now partitioned by tenant by default.
#[tokio::test]
async fn one_tenant_cannot_read_anothers_cached_answers() {
    let stack = start(json!({})).await;
    let alice = stack.key("tenant-a", |_| {}).await;
    let bob = stack.key("tenant-b", |_| {}).await;
    let secret = ask(
        "our Q3 acquisition target is Contoso: draft the memo",
        50,
        0.0,
    );
    let first = stack.post("/v1/converse", &alice.api_key, &secret).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-gateway-cache"), Some("miss"));
    let again = stack.post("/v1/converse", &alice.api_key, &secret).await;
    assert_eq!(again.header("x-gateway-cache"), Some("hit"), "A's own hit");
    let probe = stack.post("/v1/converse", &bob.api_key, &secret).await;
    assert_eq!(probe.status, 200, "{}", probe.text());
    assert_eq!(
        probe.header("x-gateway-cache"),
        Some("miss"),
        "B learns nothing"
    );
    assert_eq!(stack.sim.calls(HAIKU), 2, "B's call went to the model");
}

/// A JWT-authorised request as API Gateway hands it over: the sample event's claims replaced.
fn jwt_request(claims: Value) -> http::Request<axum::body::Body> {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../../../events/api/converse.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = request.into_parts();
    http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

/// Finding 6: a JWT caller whose tenant had no `TENANT#` record got no limit and no budget
/// (with no tenant claim the tenant is the `sub`, so no record ever exists). Now such a
/// caller is refused, unless a default policy is configured, which then applies in full.
#[tokio::test]
async fn a_jwt_caller_without_a_tenant_record_is_never_unlimited() {
    let refused = start(json!({})).await;
    let reply = send(&refused.router, jwt_request(json!({"sub": "mallory"}))).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(
        reply.text().contains("jwt_default_policy"),
        "{}",
        reply.text()
    );
    let with_tenant = send(
        &refused.router,
        jwt_request(json!({"sub": "mallory", "tenant": "nobody"})),
    )
    .await;
    assert_eq!(with_tenant.status, 403, "{}", with_tenant.text());
    assert_eq!(refused.sim.calls(HAIKU), 0);

    let limited = start(json!({"auth": {"jwt_default_policy": {
        "limits": {"default": {"requests_per_minute": 1}},
        "allowed_models": ["haiku"]
    }}}))
    .await;
    let first = send(&limited.router, jwt_request(json!({"sub": "mallory"}))).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = send(&limited.router, jwt_request(json!({"sub": "mallory"}))).await;
    assert_eq!(second.status, 429, "{}", second.text());
    assert_eq!(limited.sim.calls(HAIKU), 1);
}

/// The reliability defect: the retry budget started with one token, so a fresh instance
/// throttled twice answered 429 after 2 of its 3 attempts. It now starts full.
#[tokio::test]
async fn a_fresh_instance_makes_every_configured_attempt() {
    let stack = start(json!({"cache": {"enabled": false}})).await;
    let key = stack.key("acme", |_| {}).await;
    stack.sim.set_behavior(
        HAIKU,
        Behavior::script([
            Outcome::Error(ErrorKind::ThrottlingException),
            Outcome::Error(ErrorKind::ThrottlingException),
            Outcome::Ok,
        ]),
    );
    let reply = stack
        .post("/v1/converse", &key.api_key, &ask("hi", 10, 0.5))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-gateway-attempts"), Some("3"));
    assert_eq!(stack.sim.calls(HAIKU), 3);
}

/// Red-team finding: a limit in a field the model does not read (`max_tokens: 1` in a Titan
/// body) was reserved as one token while the model wrote the whole answer. Only the model's
/// own field counts, and that field is what the gateway writes.
#[tokio::test]
async fn a_limit_in_a_field_the_model_ignores_cannot_overspend() {
    const TITAN: &str = "amazon.titan-text-express-v1";
    let config = GatewayConfig::parse(
        "test",
        &json!({
            "models": [{"id": TITAN, "aliases": ["titan"]}],
            "routes": {},
            "controls": {"auth": {"mode": "api_keys"},
                         "estimate": {"default_max_output_tokens": 30},
                         "cache": {"enabled": false}}
        })
        .to_string(),
    )
    .unwrap();
    let stack = start_with(config).await;
    let key = stack.key("acme", |_| {}).await;
    let words: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
    let body = json!({"inputText": format!("reply with: {}", words.join(" ")), "max_tokens": 1});
    for path in [
        format!("/model/{TITAN}/invoke"),
        "/model/titan/invoke".to_owned(),
    ] {
        let reply = stack.post(&path, &key.api_key, &body).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let answer = reply.json();
        let output = answer["results"][0]["tokenCount"].as_u64().unwrap();
        assert!(output <= 30, "{path}: {output} output tokens: {answer}");
    }
}

/// Red-team finding: a tenant record made for another reason (callback hosts, a budget)
/// switched the JWT default policy off, and empty JWT fields then meant "every model, no
/// limit". Now only a record that sets a JWT policy replaces the default.
#[tokio::test]
async fn a_tenant_record_without_a_jwt_policy_keeps_the_default() {
    let stack = start(json!({"auth": {"jwt_default_policy": {
        "limits": {"default": {"requests_per_minute": 1}},
        "allowed_models": ["haiku"]
    }}}))
    .await;
    stack
        .store
        .save_tenant(&gateway::controls::TenantRecord {
            tenant: "acme".into(),
            callback_hosts: vec!["hooks.acme.example".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut event: Value =
        serde_json::from_str(include_str!("../../../../../events/api/converse.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"] =
        json!({"sub": "mallory", "tenant": "acme"});
    event["body"] = json!(
        json!({"modelId": "sonnet", "messages": [{"role": "user", "content": [{"text": "hi"}]}]})
            .to_string()
    );
    let request = |event: &Value| {
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let (parts, body) = request.into_parts();
        http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()))
    };
    let sonnet = send(&stack.router, request(&event)).await;
    assert_eq!(sonnet.status, 403, "{}", sonnet.text());
    assert_eq!(stack.sim.calls(SONNET), 0);
    let first = send(
        &stack.router,
        jwt_request(json!({"sub": "mallory", "tenant": "acme"})),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = send(
        &stack.router,
        jwt_request(json!({"sub": "mallory", "tenant": "acme"})),
    )
    .await;
    assert_eq!(
        second.status,
        429,
        "the default rate limit applies: {}",
        second.text()
    );
    // A subject too long for the state table's keys is a 403, not a 500.
    let long = send(
        &stack.router,
        jwt_request(json!({"sub": "m".repeat(3_000), "tenant": "acme"})),
    )
    .await;
    assert_eq!(long.status, 403, "{}", long.text());
}

/// Red-team finding: a key allowed only `haiku` got Sonnet's cached answer to an `auto`
/// request another key of its tenant had made. A cached answer is served only if its model
/// is one the caller may reach.
#[tokio::test]
async fn a_cached_answer_from_a_model_outside_the_allow_list_is_not_served() {
    let stack = start(json!({})).await;
    let all = stack.key("acme", |_| {}).await;
    let haiku_only = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let body = json!({"modelId": "auto", "inferenceConfig": {"temperature": 0, "maxTokens": 50},
        "messages": [{"role": "user", "content": [{"text": review_prompt()}]}]});
    let first = stack.post("/v1/converse", &all.api_key, &body).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-gateway-model"), Some(SONNET));
    let again = stack.post("/v1/converse", &all.api_key, &body).await;
    assert_eq!(again.header("x-gateway-cache"), Some("hit"));
    let probe = stack.post("/v1/converse", &haiku_only.api_key, &body).await;
    assert_eq!(probe.status, 403, "{}", probe.text());
    assert_ne!(probe.header("x-gateway-cache"), Some("hit"));
}

/// A slow Haiku: one word a chunk, `delay_ms` between chunks (a non-streaming answer waits the
/// same total), so a caller can leave while the model is still answering.
fn slow_haiku(stack: &Stack, delay_ms: u64) {
    stack.sim.set_behavior(
        HAIKU,
        Behavior {
            chunk_delay_ms: delay_ms,
            words_per_chunk: 1,
            ..Behavior::default()
        },
    );
}

fn counting_prompt() -> Value {
    let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    ask_model("haiku", &format!("reply with: {}", words.join(" ")))
}

/// The EMF lines (one per audit record) of requests to `route`.
fn lines_for(stack: &Stack, route: &str) -> Vec<Value> {
    stack
        .metric_lines()
        .into_iter()
        .filter(|l| l["Route"] == route)
        .collect()
}

/// What the key's tenant was charged today, in nanos, once the ledger shows a charge (a
/// dropped call settles from a background task).
async fn charged(stack: &Stack, key: &gateway::controls::keys::IssuedKey) -> u64 {
    for _ in 0..100 {
        let usage = stack.get("/v1/usage", &key.api_key).await;
        assert_eq!(usage.status, 200, "{}", usage.text());
        let cost = nanos(usage.json()["totals"]["cost_usd"].as_str().unwrap());
        if cost > 0 {
            return cost;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the ledger never showed the dropped call's charge");
}

/// Red team (metered call): a caller reads the first event of a ConverseStream and hangs up.
/// The ledger charges the reservation (Bedrock bills the tokens), but the request's audit
/// record and EMF line are written with no usage and no cost: the settlement from the
/// dropped stream never reaches the audit slot, so the audit trail says the call was free.
#[tokio::test]
async fn a_stream_dropped_midway_is_audited_with_what_the_ledger_charged() {
    let stack = start(json!({"cache": {"enabled": false}})).await;
    let key = stack.key("acme", |_| {}).await;
    slow_haiku(&stack, 100);
    let request = http::Request::post("/v1/converse-stream")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", key.api_key))
        .body(axum::body::Body::from(counting_prompt().to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(stack.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = http_body_util::BodyExt::frame(&mut body).await;
    assert!(first.is_some(), "the stream started");
    drop(body);
    let ledger = charged(&stack, &key).await;
    let lines = lines_for(&stack, "/v1/converse-stream");
    assert_eq!(lines.len(), 1, "one audit line for the request: {lines:?}");
    let audited = (lines[0]["CostUSD"].as_f64().unwrap_or(0.0) * 1e9).round() as u64;
    assert_eq!(
        audited, ledger,
        "the audit record's cost ({audited} nanos) is the ledger's charge ({ledger} nanos): {}",
        lines[0]
    );
}

/// Red team (metered call): a caller sends a non-streaming Converse and hangs up before the
/// model answers. The handler's future is dropped: the settlement's drop charges the
/// reservation in the ledger, but no audit record (and no EMF line) is ever written for the
/// request — a billed call missing from the audit trail.
#[tokio::test]
async fn a_buffered_call_the_caller_abandons_still_leaves_an_audit_record() {
    let stack = start(json!({"cache": {"enabled": false}})).await;
    let key = stack.key("acme", |_| {}).await;
    slow_haiku(&stack, 50);
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        stack.post("/v1/converse", &key.api_key, &counting_prompt()),
    )
    .await;
    assert!(abandoned.is_err(), "the caller left before the answer");
    let ledger = charged(&stack, &key).await;
    assert!(ledger > 0);
    // Give any deferred writer the same time the ledger had.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let lines = lines_for(&stack, "/v1/converse");
    assert_eq!(
        lines.len(),
        1,
        "a call the ledger charged ({ledger} nanos) has one audit line: {lines:?}"
    );
}

/// Red team (metered call): the gateway's own request timeout cancels a Converse while the
/// model is still writing. The call settles as `Failed` ("nothing billed"): the reservation is
/// given back and the ledger shows no cost — yet Bedrock bills a call it was generating, and
/// the very same call abandoned by the caller instead is charged its reservation. A key holder
/// can keep slow, large calls running into the timeout without spending any budget.
#[tokio::test]
async fn a_call_the_gateway_times_out_is_charged_like_one_the_caller_left() {
    let mut config = config(json!({"cache": {"enabled": false}}));
    config.limits.request_timeout_ms = 1_500;
    let stack = start_with(config).await;
    let key = stack.key("acme", |_| {}).await;
    slow_haiku(&stack, 150);
    let timed_out = stack
        .post("/v1/converse", &key.api_key, &counting_prompt())
        .await;
    assert!(
        timed_out.status.is_server_error(),
        "the gateway gave up: {} {}",
        timed_out.status,
        timed_out.text()
    );
    let model_calls = stack
        .log
        .calls()
        .iter()
        .filter(|c| !c.is_dynamodb())
        .count();
    assert_eq!(
        model_calls,
        1,
        "the model was called: {:?}",
        stack.log.calls()
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let usage = stack.get("/v1/usage", &key.api_key).await;
    let cost = nanos(usage.json()["totals"]["cost_usd"].as_str().unwrap());
    assert!(
        cost > 0,
        "a model call cut off by the gateway's timeout is charged: {}",
        usage.text()
    );
}

/// Red team (metered call): CountTokens is "free on Bedrock, so nothing is admitted" — and so
/// no rate limit applies either. A key held to 2 requests a minute (429 on Converse) still
/// makes as many CountTokens calls as it likes, each a real Bedrock call against the account's
/// shared CountTokens quota (a noisy neighbour the per-key limit exists to stop).
#[tokio::test]
async fn count_tokens_is_held_to_the_keys_request_rate() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| {
            k.limits = gateway::controls::keys::KeyLimits {
                default: gateway::controls::keys::RateLimits {
                    requests_per_minute: Some(2),
                    tokens_per_minute: None,
                    concurrency: None,
                },
                models: Default::default(),
            }
        })
        .await;
    let body = json!({"input": {"converse": {"messages": [
        {"role": "user", "content": [{"text": "count me"}]}]}}});
    let path = format!("/model/{HAIKU}/count-tokens");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(stack.post(&path, &key.api_key, &body).await.status.as_u16());
    }
    assert!(
        statuses.contains(&429),
        "a key limited to 2 requests a minute is refused the 3rd to 6th CountTokens: {statuses:?}"
    );
}

/// Red team (metered call): a ConverseStream that the model breaks midway is charged its
/// reservation and counted as an error in the usage ledger, but its audit record keeps the
/// 200 it started with and no error code, so the EMF `Errors` metric (what alarms watch)
/// never sees the failure the ledger recorded.
#[tokio::test]
async fn a_stream_the_model_breaks_midway_is_audited_as_an_error() {
    let stack = start(json!({"cache": {"enabled": false}})).await;
    let key = stack.key("acme", |_| {}).await;
    stack.sim.set_behavior(
        HAIKU,
        Behavior::script([Outcome::StreamError {
            kind: bedrock_sim::StreamErrorKind::ModelStreamErrorException,
            after_chunks: Some(2),
        }]),
    );
    let broken = stack
        .post("/v1/converse-stream", &key.api_key, &counting_prompt())
        .await;
    assert_eq!(broken.status, 200, "the stream started: {}", broken.text());
    let usage = stack.get("/v1/usage", &key.api_key).await;
    assert_eq!(usage.json()["totals"]["errors"], 1, "{}", usage.text());
    let lines = lines_for(&stack, "/v1/converse-stream");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0]["Errors"], 1,
        "the ledger counted an error; the audit record did not: {}",
        lines[0]
    );
}

/// Red team (metered call): an InvokeModel body that is JSON followed by trailing bytes
/// (`{...} x`) is not JSON to the gateway, so its output limit is not read (the reservation
/// assumes the default) nor capped (the body goes out unchanged) — but the model's parser
/// reads the object and ignores the tail (bedrock-sim does, as lenient JSON parsers do), so
/// the call writes as many tokens as the body's own `max_tokens` asks. The same body without
/// the tail is refused by the budget; with it, one call spends several budgets.
#[tokio::test]
async fn an_invoke_body_with_trailing_bytes_cannot_spend_past_the_budget() {
    let stack = start(json!({
        "estimate": {"default_max_output_tokens": 20},
        "cache": {"enabled": false}
    }))
    .await;
    // One-letter words: each is an output token but only two bytes of input.
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000,
        "messages": [{"role": "user", "content": format!("reply with: {}", "a ".repeat(2000))}]})
    .to_string();
    let controls = gateway::controls::Controller::new(&stack.config, (), vec![], None).unwrap();
    let price = controls.price(HAIKU, Some("us-east-1")).unwrap();
    // A budget for one call at the default output limit (20 tokens), not for 400 tokens.
    let one = price.cost(&gateway::controls::usage::TokenUsage {
        input: body.len() as u64 + 16,
        output: 20,
        ..Default::default()
    });
    let budget = (one.0 as f64 * 1.5) as u64;
    let key = stack
        .key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(budget as f64 / 1e9),
                monthly_usd: None,
            }
        })
        .await;
    let invoke = |body: String| {
        let request = http::Request::post(format!("/model/{HAIKU}/invoke"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", key.api_key))
            .body(axum::body::Body::from(body))
            .unwrap();
        send(&stack.router, request)
    };
    let honest = invoke(body.clone()).await;
    assert!(
        honest.status.is_client_error(),
        "2000 tokens are over budget: {} {}",
        honest.status,
        honest.text()
    );
    let trailing = invoke(format!("{body} x")).await;
    let spent = trailing.header("x-gateway-cost").map_or(0, nanos);
    assert!(
        trailing.status.is_client_error() || spent <= budget,
        "a body with a trailing byte spent {spent} nanos of a {budget} budget: {} {}",
        trailing.status,
        trailing.text()
    );
}

/// Red team (red2): an unknown model's error listed every configured model, so a key limited
/// to Haiku learned the rest. The list is the key's own models, on every door.
#[tokio::test]
async fn attack_an_unknown_model_error_lists_only_the_keys_own_models() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let converse = json!({"modelId": "no-such-model", "messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    let chat = json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]});
    let messages = json!({"model": "no-such-model", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    for (path, body) in [
        ("/v1/converse", &converse),
        ("/v1/chat/completions", &chat),
        ("/v1/messages", &messages),
    ] {
        let reply = stack.post(path, &key.api_key, body).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.text());
        let text = reply.text();
        assert!(text.contains("no-such-model"), "{path}: {text}");
        assert!(
            !text.contains("sonnet") && !text.contains("nova"),
            "{path} names models outside the key's list: {text}"
        );
    }
}
