//! The controller over the in-memory store: authentication, reservations under concurrency,
//! settlement and the ledger, the cache.

use super::cache::{self, CacheDirective};
use super::controller::{CallPlan, Controller, Credentials, Outcome};
use super::estimate::Estimate;
use super::in_memory::InMemoryControlStore;
use super::job_charge::{ChargeOutcome, JobCharge};
use super::keys::{
    self, Budget, ENTROPY_BYTES, IssuedKey, KeyLimits, KeyRecord, RateLimits, TenantRecord,
};
use super::models;
use super::money::Nanos;
use super::ports::UsageStore;
use super::sigv4::{self, SignedRequest};
use super::usage::TokenUsage;
use super::{RouteClass, calendar};
use crate::api::converse::{
    ContentBlock, ConverseOutput, ConverseRequest, ConverseResponse, InferenceConfig, Message,
    Metrics, Role, Usage,
};
use crate::config::{GatewayConfig, HAIKU};
use crate::service::LastGood;
use std::sync::Arc;

const NOW_MS: u64 = 1_764_072_000_000; // 2025-11-25T12:00:00Z
const SEAL: &[u8] = b"test-seal-key";

fn issued(seed: u8) -> IssuedKey {
    let mut entropy = [0u8; ENTROPY_BYTES];
    for (i, b) in entropy.iter_mut().enumerate() {
        *b = seed ^ u8::try_from(i).unwrap().wrapping_mul(13);
    }
    keys::issue(&entropy)
}

fn controller(store: InMemoryControlStore) -> Controller<InMemoryControlStore> {
    Controller::new(
        &GatewayConfig::default(),
        store,
        SEAL.to_vec(),
        Some("us-east-1".into()),
    )
    .unwrap()
}

fn key(seed: u8, tenant: &str) -> (IssuedKey, KeyRecord) {
    let issued = issued(seed);
    let mut record = KeyRecord::new(&issued, tenant, 0);
    record.sigv4_sealed = Some(keys::seal_secret(&issued.secret, &issued.key_id, SEAL));
    (issued, record)
}

fn plan(max_tokens: u32) -> CallPlan {
    let request = request(max_tokens);
    CallPlan {
        route: RouteClass::Converse,
        model: models::resolve(&GatewayConfig::default(), "haiku", &[]).unwrap(),
        estimate: Estimate {
            input_tokens: 100,
            max_output_tokens: u64::from(max_tokens),
            writes_prompt_cache: false,
        },
        cache: cache::plan(
            &Default::default(),
            RouteClass::Converse,
            CacheDirective::Default,
            &request,
            HAIKU,
            "acme",
        ),
    }
}

fn request(max_tokens: u32) -> ConverseRequest {
    ConverseRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text("hi".into())],
        }],
        inference_config: Some(InferenceConfig {
            max_tokens: Some(max_tokens),
            temperature: Some(0.0),
            ..InferenceConfig::default()
        }),
        ..ConverseRequest::default()
    }
}

fn answer() -> LastGood {
    LastGood {
        response: ConverseResponse {
            output: ConverseOutput::Message(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::Text("hello".into())],
            }),
            stop_reason: "end_turn".into(),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 20,
                total_tokens: 30,
                cache_read_input_tokens: None,
                cache_write_input_tokens: None,
                cache_write_1h_input_tokens: None,
            },
            metrics: Metrics::default(),
            additional_model_response_fields: None,
            performance_config: None,
            service_tier: None,
        },
        model_id: HAIKU.into(),
        region: None,
        stored_at_ms: NOW_MS,
    }
}

#[tokio::test]
async fn api_keys_authenticate_by_hash() {
    let store = InMemoryControlStore::default();
    let (issued, record) = key(1, "acme");
    store.put_key(record);
    let controls = controller(store);
    let principal = controls
        .authenticate(Credentials::ApiKey(&issued.api_key), NOW_MS)
        .await
        .unwrap();
    assert_eq!(principal.tenant, "acme");
    assert_eq!(principal.id, issued.key_id);
    let (other, _) = key(2, "acme");
    let unknown = controls
        .authenticate(Credentials::ApiKey(&other.api_key), NOW_MS)
        .await
        .unwrap_err();
    assert_eq!(unknown.status_code(), 401);
    let garbage = controls
        .authenticate(Credentials::ApiKey("sk-not-ours"), NOW_MS)
        .await
        .unwrap_err();
    assert_eq!(garbage.status_code(), 401);
}

#[tokio::test]
async fn a_disabled_key_is_refused_once_the_cache_forgets_it() {
    let store = InMemoryControlStore::default();
    let (issued, mut record) = key(3, "acme");
    store.put_key(record.clone());
    let mut config = GatewayConfig::default();
    config.controls.auth.key_cache_ttl_ms = 50;
    let controls = Controller::new(&config, store, SEAL.to_vec(), None).unwrap();
    let creds = || Credentials::ApiKey(&issued.api_key);
    controls.authenticate(creds(), NOW_MS).await.unwrap();
    record.disabled = true;
    controls.store().put_key(record);
    // Within the TTL the instance still trusts what it read.
    controls.authenticate(creds(), NOW_MS).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let refused = controls.authenticate(creds(), NOW_MS).await.unwrap_err();
    assert_eq!(refused.status_code(), 403);
    assert!(refused.to_string().contains("disabled"));
}

#[tokio::test]
async fn sigv4_with_the_key_secret_verifies_and_a_wrong_one_does_not() {
    let store = InMemoryControlStore::default();
    let (issued, record) = key(4, "acme");
    store.put_key(record);
    let controls = controller(store);
    let body = br#"{"messages":[]}"#;
    let amz_date = "20251125T120000Z";
    let sign = |secret: &str| {
        let headers = vec![("host", "gw.example.com"), ("x-amz-date", amz_date)];
        let request = SignedRequest {
            method: "POST",
            path: "/model/haiku/converse",
            query: None,
            headers: headers.clone(),
            body,
        };
        let signed = vec!["host".to_owned(), "x-amz-date".to_owned()];
        let canonical = sigv4::canonical_request(
            &request,
            &signed,
            &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body)),
        );
        let scope = "20251125/us-east-1/bedrock/aws4_request";
        let to_sign = sigv4::string_to_sign(amz_date, scope, &canonical);
        let key = sigv4::signing_key(secret, "20251125", "us-east-1", "bedrock");
        let signature = hex::encode(super::crypto::hmac_sha256(&key, to_sign.as_bytes()));
        (
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}",
                issued.key_id
            ),
            request,
        )
    };
    let (authorization, request) = sign(&issued.secret);
    let principal = controls
        .authenticate(
            Credentials::SigV4 {
                authorization: &authorization,
                request,
            },
            NOW_MS,
        )
        .await
        .unwrap();
    assert_eq!(principal.method, super::AuthMethod::SigV4);
    let (authorization, request) = sign("wrong-secret");
    let refused = controls
        .authenticate(
            Credentials::SigV4 {
                authorization: &authorization,
                request,
            },
            NOW_MS,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status_code(), 403);
}

#[tokio::test]
async fn concurrent_reservations_never_overspend_and_the_ledger_is_exact() {
    let store = InMemoryControlStore::default();
    let (issued, mut record) = key(5, "acme");
    let controls_probe = controller(InMemoryControlStore::default());
    let price = controls_probe.price(HAIKU, None).unwrap();
    // Worst case of one call: 100 input tokens and 50 output tokens.
    let worst = price.cost(&TokenUsage {
        input: 100,
        output: 50,
        ..TokenUsage::default()
    });
    #[allow(clippy::cast_precision_loss)]
    let daily = worst.0 as f64 * 10.0 / 1e9;
    record.budget = Budget {
        daily_usd: Some(daily),
        monthly_usd: None,
    };
    store.put_key(record);
    let controls = Arc::new(controller(store));
    let principal = controls
        .authenticate(Credentials::ApiKey(&issued.api_key), NOW_MS)
        .await
        .unwrap();
    let calls = (0..64).map(|_| {
        let controls = Arc::clone(&controls);
        let principal = principal.clone();
        async move {
            let admission = controls.admit(&principal, plan(50), NOW_MS).await.ok()?;
            // Every call uses its whole reservation: the budget covers exactly ten.
            let settled = controls
                .settle(
                    &admission,
                    Outcome::Answered {
                        model_id: HAIKU.into(),
                        region: None,
                        usage: TokenUsage {
                            input: 100,
                            output: 50,
                            ..TokenUsage::default()
                        },
                        keep: None,
                    },
                    NOW_MS,
                )
                .await;
            Some(settled.cost)
        }
    });
    let costs: Vec<Nanos> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(costs.len(), 10);
    let day = calendar::day_string(NOW_MS / 1_000);
    let rows = controls.store().usage("acme", &day).await.unwrap();
    let ledger: u64 = rows.iter().map(|r| r.cost_nanos).sum();
    assert_eq!(ledger, costs.iter().map(|c| c.0).sum::<u64>());
    assert_eq!(rows[0].requests, 10);
    let pk = format!("BUDGET#key:{}#d:{day}", issued.key_id);
    assert_eq!(
        controls.store().counter(&pk, "spent"),
        i64::try_from(ledger).unwrap()
    );
    assert_eq!(
        controls.store().counter(&pk, "committed"),
        i64::try_from(ledger).unwrap()
    );
}

#[tokio::test]
async fn the_request_limit_refuses_with_retry_after_and_headers() {
    let store = InMemoryControlStore::default();
    let (issued, mut record) = key(6, "acme");
    record.limits = KeyLimits {
        default: RateLimits {
            requests_per_minute: Some(2),
            tokens_per_minute: Some(10_000),
            concurrency: None,
        },
        ..KeyLimits::default()
    };
    store.put_key(record);
    let controls = controller(store);
    let principal = controls
        .authenticate(Credentials::ApiKey(&issued.api_key), NOW_MS)
        .await
        .unwrap();
    let first = controls.admit(&principal, plan(10), NOW_MS).await.unwrap();
    assert_eq!(first.rate.unwrap().requests_remaining, Some(1));
    controls.admit(&principal, plan(10), NOW_MS).await.unwrap();
    let refused = controls
        .admit(&principal, plan(10), NOW_MS + 15_000)
        .await
        .unwrap_err();
    assert_eq!(refused.error.status_code(), 429);
    assert_eq!(
        refused.error.retry_after(),
        Some(std::time::Duration::from_secs(45))
    );
    assert_eq!(refused.rate.unwrap().requests_remaining, Some(0));
    // The next minute is a new window.
    controls
        .admit(&principal, plan(10), NOW_MS + 60_000)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_kept_answer_is_found_by_the_next_identical_request() {
    let store = InMemoryControlStore::default();
    let (issued, record) = key(7, "acme");
    store.put_key(record);
    let controls = controller(store);
    let principal = controls
        .authenticate(Credentials::ApiKey(&issued.api_key), NOW_MS)
        .await
        .unwrap();
    let first = controls.admit(&principal, plan(10), NOW_MS).await.unwrap();
    assert!(first.cached.is_none());
    let usage = TokenUsage {
        input: 10,
        output: 20,
        ..TokenUsage::default()
    };
    let settled = controls
        .settle(
            &first,
            Outcome::Answered {
                model_id: HAIKU.into(),
                region: None,
                usage,
                keep: Some(Box::new(answer())),
            },
            NOW_MS,
        )
        .await;
    assert!(settled.cost > Nanos::ZERO);
    let second = controls
        .admit(&principal, plan(10), NOW_MS + 1_000)
        .await
        .unwrap();
    let cached = second.cached.as_ref().unwrap();
    assert_eq!(cached.answer.response.text(), "hello");
    let hit = controls
        .settle(
            &second,
            Outcome::CacheHit {
                model_id: HAIKU.into(),
            },
            NOW_MS + 1_000,
        )
        .await;
    assert_eq!(hit.cost, Nanos::ZERO);
    // A different request (another max_tokens) misses.
    let other = controls
        .admit(&principal, plan(11), NOW_MS + 1_000)
        .await
        .unwrap();
    assert!(other.cached.is_none());
}

#[tokio::test]
async fn allow_lists_and_jwt_tenants() {
    let store = InMemoryControlStore::default();
    let (issued, mut record) = key(8, "acme");
    record.allowed_models = vec!["sonnet".into()];
    store.put_key(record);
    store.put_tenant(TenantRecord {
        tenant: "beta".into(),
        jwt_limits: KeyLimits {
            default: RateLimits {
                requests_per_minute: Some(1),
                ..RateLimits::default()
            },
            ..KeyLimits::default()
        },
        ..TenantRecord::default()
    });
    let controls = controller(store);
    let principal = controls
        .authenticate(Credentials::ApiKey(&issued.api_key), NOW_MS)
        .await
        .unwrap();
    let refused = models::resolve(
        &GatewayConfig::default(),
        "haiku",
        principal.allowed_models(),
    )
    .unwrap_err();
    assert_eq!(refused.status_code(), 403);
    // A plan that reaches no model the caller may use is refused by admission too.
    let mut empty = plan(10);
    empty.model.candidates.clear();
    let refused = controls.admit(&principal, empty, NOW_MS).await.unwrap_err();
    assert_eq!(refused.error.status_code(), 403);
    let jwt = controls
        .authenticate(
            Credentials::Jwt {
                subject: "u1",
                tenant: "beta",
            },
            NOW_MS,
        )
        .await
        .unwrap();
    assert_eq!(jwt.id, "jwt:u1");
    controls.admit(&jwt, plan(10), NOW_MS).await.unwrap();
    assert_eq!(
        controls
            .admit(&jwt, plan(10), NOW_MS)
            .await
            .unwrap_err()
            .error
            .status_code(),
        429
    );
}

/// A key with a daily budget, a rate limit and a concurrency cap of one, and its principal.
async fn job_key(
    seed: u8,
) -> (
    Controller<InMemoryControlStore>,
    super::keys::Principal,
    String,
) {
    let store = InMemoryControlStore::default();
    let (issued, mut record) = key(seed, "acme");
    record.budget = Budget {
        daily_usd: Some(1.0),
        monthly_usd: None,
    };
    record.limits = KeyLimits {
        default: RateLimits {
            requests_per_minute: Some(10),
            tokens_per_minute: Some(10_000),
            concurrency: Some(1),
        },
        models: Default::default(),
    };
    store.put_key(record);
    let controls = controller(store);
    let principal = controls
        .authenticate(Credentials::ApiKey(&issued.api_key), NOW_MS)
        .await
        .unwrap();
    let day = calendar::day_string(NOW_MS / 1_000);
    (
        controls,
        principal,
        format!("BUDGET#key:{}#d:{day}", issued.key_id),
    )
}

/// Admits a job's call (no cache: jobs never read or write the response cache).
async fn admit_job(
    controls: &Controller<InMemoryControlStore>,
    principal: &super::keys::Principal,
) -> super::controller::Admission {
    let plan = CallPlan {
        route: RouteClass::Jobs,
        cache: None,
        ..plan(50)
    };
    controls.admit(principal, plan, NOW_MS).await.unwrap()
}

#[tokio::test]
async fn a_job_reserves_its_limits_but_holds_no_concurrency_slot() {
    let (controls, principal, budget) = job_key(40).await;
    // Two jobs under a concurrency cap of one: both admitted, neither holds a slot.
    let first = admit_job(&controls, &principal).await;
    let second = admit_job(&controls, &principal).await;
    for admission in [&first, &second] {
        assert!(
            admission
                .reservation
                .counters
                .iter()
                .all(|c| !c.pk.starts_with("CC#")),
            "{:?}",
            admission.reservation.counters
        );
    }
    let worst = first.reservation.cost.as_i64();
    assert!(worst > 0);
    assert_eq!(controls.store().counter(&budget, "committed"), 2 * worst);
    // A direct call still takes the slot.
    let direct = controls.admit(&principal, plan(50), NOW_MS).await.unwrap();
    assert!(
        direct
            .reservation
            .counters
            .iter()
            .any(|c| c.pk.starts_with("CC#"))
    );
}

#[tokio::test]
async fn a_job_charge_survives_its_record_and_settles_to_the_actual_cost() {
    let (controls, principal, budget) = job_key(41).await;
    let admission = admit_job(&controls, &principal).await;
    // What the job record stores, and what the worker reads back.
    let stored = serde_json::to_string(&admission.charge("submit-1")).unwrap();
    let charge: JobCharge = serde_json::from_str(&stored).unwrap();
    assert_eq!(charge, admission.charge("submit-1"));
    let usage = TokenUsage {
        input: 100,
        output: 7,
        ..TokenUsage::default()
    };
    let settled = controls
        .settle_charge(
            &charge,
            ChargeOutcome::Answered {
                model_id: HAIKU.into(),
                region: None,
                usage,
            },
            NOW_MS + 30_000,
        )
        .await;
    assert_eq!(
        settled.cost,
        controls.price(HAIKU, None).unwrap().cost(&usage)
    );
    assert!(settled.cost < admission.reservation.cost);
    assert_eq!(
        controls.store().counter(&budget, "committed"),
        settled.cost.as_i64()
    );
    assert_eq!(
        controls.store().counter(&budget, "spent"),
        settled.cost.as_i64()
    );
    let rate = &admission.reservation.counters[0].pk;
    assert!(rate.starts_with("RL#"), "{rate}");
    assert_eq!(controls.store().counter(rate, "tokens"), 107);
    assert_eq!(controls.store().counter(rate, "requests"), 1);
    let day = calendar::day_string(NOW_MS / 1_000);
    let rows = controls.store().usage("acme", &day).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].requests, 1);
    assert_eq!(rows[0].cost_nanos, settled.cost.0);
    assert_eq!(rows[0].errors, 0);
}

#[tokio::test]
async fn a_failed_job_and_a_released_submit_give_everything_back() {
    let (controls, principal, budget) = job_key(42).await;
    let failed = admit_job(&controls, &principal).await;
    let released = admit_job(&controls, &principal).await;
    controls
        .settle_charge(&failed.charge("submit-2"), ChargeOutcome::Failed, NOW_MS)
        .await;
    controls.release(&released).await;
    assert_eq!(controls.store().counter(&budget, "committed"), 0);
    assert_eq!(controls.store().counter(&budget, "spent"), 0);
    let rate = &failed.reservation.counters[0].pk;
    assert_eq!(controls.store().counter(rate, "tokens"), 0);
    // The failed job is in the ledger as an error; the released submit is not there at all.
    let day = calendar::day_string(NOW_MS / 1_000);
    let rows = controls.store().usage("acme", &day).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].requests, rows[0].errors, rows[0].cost_nanos),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_job_settled_after_its_rate_window_leaves_that_window_alone() {
    let (controls, principal, budget) = job_key(43).await;
    let admission = admit_job(&controls, &principal).await;
    let rate = admission.reservation.counters[0].pk.clone();
    let reserved_tokens = controls.store().counter(&rate, "tokens");
    let usage = TokenUsage {
        input: 100,
        output: 7,
        ..TokenUsage::default()
    };
    let settled = controls
        .settle_charge(
            &admission.charge("submit-3"),
            ChargeOutcome::Answered {
                model_id: HAIKU.into(),
                region: None,
                usage,
            },
            NOW_MS + 120_000,
        )
        .await;
    // The window's item may be gone by then (TTL): an ADD would bring it back without one.
    assert_eq!(controls.store().counter(&rate, "tokens"), reserved_tokens);
    assert_eq!(
        controls.store().counter(&budget, "spent"),
        settled.cost.as_i64()
    );
}

/// Finding 9: 10,000 distinct bogus keys wiped the instance's key cache, valid keys included,
/// so every valid request went back to the table. Unknown keys now live in a cache of their
/// own: the flood costs one lookup per bogus key and the valid key stays cached.
#[tokio::test]
async fn a_flood_of_bogus_keys_does_not_evict_valid_ones() {
    let store = InMemoryControlStore::default();
    let (valid, record) = key(7, "acme");
    store.put_key(record);
    let controls = controller(store);
    let auth = |token: String| {
        let controls = &controls;
        async move {
            controls
                .authenticate(Credentials::ApiKey(&token), NOW_MS)
                .await
        }
    };
    auth(valid.api_key.clone()).await.unwrap();
    let after_first = controls
        .store()
        .calls
        .load(std::sync::atomic::Ordering::SeqCst);
    let mut entropy = [0u8; ENTROPY_BYTES];
    for _ in 0..10_001 {
        entropy.iter_mut().for_each(|b| *b = fastrand::u8(..));
        let bogus = keys::issue(&entropy);
        assert!(auth(bogus.api_key).await.is_err());
    }
    let after_flood = controls
        .store()
        .calls
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        after_flood - after_first,
        10_001,
        "one lookup per bogus key"
    );
    auth(valid.api_key.clone()).await.unwrap();
    assert_eq!(
        controls
            .store()
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        after_flood,
        "the valid key was still cached"
    );
}

/// Finding 6 at the rule level: a JWT tenant with no record is refused without a default
/// policy, and gets exactly the default policy when one is configured.
#[tokio::test]
async fn jwt_callers_without_a_tenant_record_get_the_default_policy_or_nothing() {
    let refused = controller(InMemoryControlStore::default());
    let err = refused
        .authenticate(
            Credentials::Jwt {
                subject: "u1",
                tenant: "u1",
            },
            NOW_MS,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 403);
    let mut config = GatewayConfig::default();
    config.controls.auth.jwt_default_policy = Some(super::config::JwtDefaultPolicy {
        limits: KeyLimits {
            default: RateLimits {
                requests_per_minute: Some(5),
                ..RateLimits::default()
            },
            ..KeyLimits::default()
        },
        budget: Budget {
            daily_usd: Some(1.0),
            monthly_usd: None,
        },
        allowed_models: vec!["haiku".into()],
    });
    let controls = Controller::new(
        &config,
        InMemoryControlStore::default(),
        SEAL.to_vec(),
        None,
    )
    .unwrap();
    let principal = controls
        .authenticate(
            Credentials::Jwt {
                subject: "u1",
                tenant: "u1",
            },
            NOW_MS,
        )
        .await
        .unwrap();
    assert_eq!(principal.allowed_models(), ["haiku".to_owned()]);
    let policy = principal.tenant_policy.as_ref().unwrap();
    assert_eq!(policy.budget.daily_usd, Some(1.0));
    assert_eq!(
        principal.rate_limits(&["haiku".into()]).requests_per_minute,
        Some(5)
    );
}

#[test]
fn sagemaker_runtime_paths_are_signed_for_sagemaker_and_the_rest_for_bedrock() {
    use crate::controls::controller::sigv4_service;
    assert_eq!(sigv4_service("/endpoints/ep/invocations"), "sagemaker");
    assert_eq!(sigv4_service("/model/m/converse"), "bedrock");
    assert_eq!(
        sigv4_service("/knowledgebases/KB12345678/retrieve"),
        "bedrock"
    );
    assert_eq!(sigv4_service("/v1/endpoints/x"), "bedrock");
}
