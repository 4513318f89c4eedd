//! The controls around one model call, over the store ports:
//!
//! 1. [`Controller::authenticate`]: credentials → [`Principal`] (key and tenant records from a
//!    per-instance cache, else one read each).
//! 2. [`Controller::admit`]: allow-lists, then — concurrently, one round trip each — the
//!    atomic reservation of every rate limit and budget the call touches, and a read of the
//!    rate counters (for headers) and the cached answer. A refusal names the limit.
//! 3. The caller serves the request (from the cached answer, or through the gateway).
//! 4. [`Controller::settle`]: one round trip that settles the reservation to the actual cost,
//!    adds the ledger row and keeps a fresh answer in the cache.

use super::cache::{CachePlan, CachedAnswer};
use super::calendar;
use super::config::ControlsConfig;
use super::estimate::{self, Estimate};
use super::instance_cache::TtlCache;
use super::keys::{
    AuthMethod, KeyRecord, Principal, TenantRecord, hash_api_key, is_key_id, parse_api_key,
    unseal_secret, valid_tenant,
};
use super::ledger::{LedgerEntry, UsageReport, UsageRow};
use super::models::ModelRef;
use super::money::Nanos;
use super::ports::{
    CacheWrite, CounterStore, KeyStore, Reserved, Settlement, StoreError, UsageStore,
};
use super::pricing::Pricing;
use super::pricing::{Price, PriceTable};
use super::reservation::{self, BudgetScope, CounterKind, RateView, Reservation, ReservationInput};
use super::route_class::RouteClass;
use super::sigv4::{self, Authorization, SignedRequest};
use super::usage::TokenUsage;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::ports::Target;
use crate::service::LastGood;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The service name the Bedrock Runtime (and Agent Runtime) SDKs sign with.
pub const SIGV4_SERVICE: &str = "bedrock";

/// The service name the SageMaker Runtime SDKs sign with.
pub const SIGV4_SAGEMAKER_SERVICE: &str = "sagemaker";

/// The service a signature over `path` must name: SageMaker Runtime's `/endpoints/…` are
/// signed for `sagemaker`, everything else for `bedrock`. The signing key is derived from
/// the service, so a signature made for one cannot verify as the other.
pub fn sigv4_service(path: &str) -> &'static str {
    if path.starts_with("/endpoints/") {
        SIGV4_SAGEMAKER_SERVICE
    } else {
        SIGV4_SERVICE
    }
}

/// The longest JWT subject a principal id is made from (it is part of state-table keys).
const MAX_JWT_SUBJECT_BYTES: usize = 256;

/// Unknown keys are remembered for at most this long, so a key created a moment ago works
/// soon on instances that looked for it before.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);

/// What a request presented.
#[derive(Debug, Clone)]
pub enum Credentials<'a> {
    None,
    /// `Authorization: Bearer gwk_…` or `x-api-key: gwk_…`.
    ApiKey(&'a str),
    /// `Authorization: AWS4-HMAC-SHA256 …` on a Bedrock path.
    SigV4 {
        authorization: &'a str,
        request: SignedRequest<'a>,
    },
    /// Claims API Gateway's JWT authorizer already verified.
    Jwt {
        subject: &'a str,
        tenant: &'a str,
    },
}

/// One model call, as the controls see it.
#[derive(Debug, Clone)]
pub struct CallPlan {
    pub route: RouteClass,
    pub model: ModelRef,
    pub estimate: Estimate,
    pub cache: Option<CachePlan>,
}

/// A refused request, and the rate headers when a rate limit refused it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: GatewayError,
    pub rate: Option<RateView>,
}

impl From<GatewayError> for Refusal {
    fn from(error: GatewayError) -> Self {
        Self { error, rate: None }
    }
}

/// An admitted call: what was reserved, to be settled exactly once.
#[derive(Debug)]
pub struct Admission {
    pub principal: String,
    pub tenant: String,
    pub route: RouteClass,
    pub scope: String,
    pub estimate: Estimate,
    pub reservation: Reservation,
    pub rate: Option<RateView>,
    /// A fresh cached answer: serve it instead of calling a model.
    pub cached: Option<CachedAnswer>,
    pub cache: Option<CachePlan>,
    worst_price: Option<Price>,
}

/// How the call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A model answered; `keep` is the answer to cache (when the plan keeps answers).
    Answered {
        model_id: String,
        region: Option<String>,
        usage: TokenUsage,
        keep: Option<Box<LastGood>>,
    },
    /// Served from the response cache: no model call, no cost.
    CacheHit { model_id: String },
    /// Every model failed and the fallback tier served a remembered answer: no cost.
    FallbackCache { model_id: String },
    /// No answer: nothing billed.
    Failed,
    /// A stream broke midway or its caller went away: Bedrock bills tokens the gateway could
    /// not count, so the reservation (the worst case) is charged.
    Broken { output_chars: usize },
    /// A stream that ended normally without the provider's usage (a SageMaker container's
    /// stream carries none): charged the estimated input and the output its bytes amount
    /// to, never more than the reservation's output.
    Estimated { output_chars: usize },
}

impl Outcome {
    /// `target` answered, with `usage`.
    pub(crate) fn answered(
        target: &Target,
        usage: TokenUsage,
        keep: Option<Box<LastGood>>,
    ) -> Self {
        Self::Answered {
            model_id: target.model_id.clone(),
            region: target.region.clone(),
            usage,
            keep,
        }
    }
}

/// What the call cost, as settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub usage: TokenUsage,
    pub cost: Nanos,
    pub model: String,
}

pub struct Controller<S> {
    config: ControlsConfig,
    pricing: Pricing,
    store: S,
    seal_key: Vec<u8>,
    /// How long the fallback tier may serve an answer: cache items live at least this long.
    tier_ttl_secs: u64,
    keys: TtlCache<String, Arc<KeyRecord>>,
    /// Keys looked up and not found, apart from `keys`: a flood of distinct bogus keys fills
    /// and clears only this cache, never the valid keys' entries.
    unknown_keys: TtlCache<String, ()>,
    tenants: TtlCache<String, Option<Arc<TenantRecord>>>,
}

fn internal(what: &str, error: &StoreError) -> GatewayError {
    GatewayError::Internal(format!("{what}: {error}"))
}

impl<S> Controller<S> {
    pub fn new(
        gateway: &GatewayConfig,
        store: S,
        seal_key: Vec<u8>,
        home_region: Option<String>,
    ) -> Result<Self, String> {
        let config = gateway.controls.clone();
        let pricing = Pricing::new(gateway, home_region)?;
        let ttl = Duration::from_millis(config.auth.key_cache_ttl_ms);
        Ok(Self {
            keys: TtlCache::new(ttl, 10_000),
            unknown_keys: TtlCache::new(NEGATIVE_TTL.min(ttl), 10_000),
            tenants: TtlCache::new(ttl, 10_000),
            tier_ttl_secs: gateway.resilience.cache_tier.ttl_ms / 1_000,
            config,
            pricing,
            store,
            seal_key,
        })
    }

    pub fn config(&self) -> &ControlsConfig {
        &self.config
    }

    pub fn prices(&self) -> &PriceTable {
        self.pricing.table()
    }

    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The price of a call to `model_id` in `region` (the home region when `None`).
    pub fn price(&self, model_id: &str, region: Option<&str>) -> Option<Price> {
        self.pricing.price(model_id, region)
    }

    /// The worst-case price across every model a call may reach, or the first unpriced one.
    fn worst_price(&self, model: &ModelRef) -> Result<Price, String> {
        let mut worst = Price::default();
        for target in &model.candidates {
            let price = self
                .price(&target.model_id, target.region.as_deref())
                .ok_or_else(|| target.model_id.clone())?;
            worst = worst.max(price);
        }
        Ok(worst)
    }

    /// The worst-case cost of an estimate: input at the input rate (the dearest cache-write
    /// rate, 5-minute or 1-hour, when the request writes the prompt cache), output at the
    /// output rate.
    fn worst_cost(price: &Price, estimate: &Estimate) -> Nanos {
        let input_rate = if estimate.writes_prompt_cache {
            price.input.max(price.cache_write).max(price.cache_write_1h)
        } else {
            price.input
        };
        price_cost(input_rate, estimate.input_tokens)
            .saturating_add(price_cost(price.output, estimate.max_output_tokens))
    }
}

fn price_cost(per_1k: Nanos, tokens: u64) -> Nanos {
    let total = u128::from(per_1k.0) * u128::from(tokens);
    Nanos(u64::try_from(total.div_ceil(1_000)).unwrap_or(u64::MAX))
}

impl<S: KeyStore> Controller<S> {
    /// Who is calling. Unknown or malformed credentials are `Unauthenticated`; a known key
    /// that is disabled or expired, or a SigV4 signature that does not verify, `Forbidden`.
    pub async fn authenticate(
        &self,
        credentials: Credentials<'_>,
        now_ms: u64,
    ) -> Result<Principal, GatewayError> {
        match credentials {
            Credentials::None => Err(GatewayError::Unauthenticated),
            Credentials::ApiKey(token) => {
                let (key_id, _) =
                    parse_api_key(token.trim()).ok_or(GatewayError::Unauthenticated)?;
                let hash = hash_api_key(token.trim());
                let record = self
                    .cached_key(format!("h:{hash}"), || self.store.key_by_hash(&hash))
                    .await?
                    .ok_or(GatewayError::Unauthenticated)?;
                if record.key_id != key_id || record.secret_hash != hash {
                    return Err(GatewayError::Unauthenticated);
                }
                self.key_principal(record, AuthMethod::ApiKey, now_ms).await
            }
            Credentials::SigV4 {
                authorization,
                request,
            } => {
                if !self.config.auth.sigv4 {
                    return Err(GatewayError::Unauthenticated);
                }
                let auth = Authorization::parse(authorization)
                    .map_err(|e| GatewayError::Forbidden(e.to_string()))?;
                if !is_key_id(&auth.access_key_id) {
                    return Err(GatewayError::Unauthenticated);
                }
                let id = auth.access_key_id.clone();
                let record = self
                    .cached_key(format!("i:{id}"), || self.store.key_by_id(&id))
                    .await?
                    .ok_or(GatewayError::Unauthenticated)?;
                let Some(secret) = record
                    .sigv4_sealed
                    .as_deref()
                    .and_then(|sealed| unseal_secret(sealed, &record.key_id, &self.seal_key))
                else {
                    tracing::warn!(key_id = %record.key_id, "key has no SigV4 secret usable with this deployment's seal key");
                    return Err(GatewayError::Forbidden(
                        "this key cannot sign requests (SigV4); use it as a bearer token".into(),
                    ));
                };
                sigv4::verify(
                    &request,
                    &auth,
                    &secret,
                    sigv4_service(request.path),
                    now_ms / 1_000,
                    self.config.auth.sigv4_max_skew_secs,
                )
                .map_err(|e| GatewayError::Forbidden(e.to_string()))?;
                self.key_principal(record, AuthMethod::SigV4, now_ms).await
            }
            Credentials::Jwt { subject, tenant } => {
                if !valid_tenant(tenant) {
                    return Err(GatewayError::Forbidden(
                        "the token's tenant claim is not a usable tenant name".into(),
                    ));
                }
                // The subject becomes part of the state table's keys (`RL#jwt:<sub>#…`),
                // which DynamoDB caps at 2 KB.
                if subject.is_empty() || subject.len() > MAX_JWT_SUBJECT_BYTES {
                    return Err(GatewayError::Forbidden(format!(
                        "the token's subject claim must be 1 to {MAX_JWT_SUBJECT_BYTES} bytes"
                    )));
                }
                let policy = self.jwt_policy(tenant).await?;
                if policy.disabled {
                    return Err(GatewayError::Forbidden("this tenant is disabled".into()));
                }
                Ok(Principal {
                    id: format!("jwt:{}", subject.replace('#', "%23")),
                    tenant: tenant.to_owned(),
                    method: AuthMethod::Jwt,
                    key: None,
                    tenant_policy: Some(policy),
                })
            }
        }
    }

    /// What a JWT caller of `tenant` may do: its tenant record's JWT policy when the record
    /// sets one (JWT limits or JWT models); otherwise the configured default policy (with
    /// the record's budget, disabled flag and callback hosts when there is a record). A record
    /// made for other reasons (a budget, callback hosts) must not switch the default off:
    /// empty JWT fields mean "not set", never "unlimited". No policy at all: refused.
    async fn jwt_policy(&self, tenant: &str) -> Result<Arc<TenantRecord>, GatewayError> {
        let record = self.tenant_policy(tenant).await?;
        if let Some(record) = &record
            && record.sets_jwt_policy()
        {
            return Ok(Arc::clone(record));
        }
        let Some(default) = &self.config.auth.jwt_default_policy else {
            return Err(GatewayError::Forbidden(format!(
                "tenant '{tenant}' has no policy for JWT callers: set one (gatewayctl tenants set-jwt-limits / set-jwt-models) or configure controls.auth.jwt_default_policy"
            )));
        };
        let mut policy = record.map_or_else(
            || TenantRecord {
                tenant: tenant.to_owned(),
                budget: default.budget,
                ..TenantRecord::default()
            },
            |record| (*record).clone(),
        );
        if policy.budget.is_unlimited() {
            policy.budget = default.budget;
        }
        policy.jwt_limits = default.limits.clone();
        policy.jwt_allowed_models = default.allowed_models.clone();
        Ok(Arc::new(policy))
    }

    pub(super) async fn key_principal(
        &self,
        record: Arc<KeyRecord>,
        method: AuthMethod,
        now_ms: u64,
    ) -> Result<Principal, GatewayError> {
        if let Some(reason) = record.unusable(now_ms) {
            return Err(GatewayError::Forbidden(reason.to_owned()));
        }
        let policy = self.tenant_policy(&record.tenant).await?;
        if policy.as_ref().is_some_and(|p| p.disabled) {
            return Err(GatewayError::Forbidden("this tenant is disabled".into()));
        }
        Ok(Principal {
            id: record.key_id.clone(),
            tenant: record.tenant.clone(),
            method,
            key: Some(record),
            tenant_policy: policy,
        })
    }

    pub(super) async fn cached_key<F>(
        &self,
        cache_key: String,
        load: impl FnOnce() -> F,
    ) -> Result<Option<Arc<KeyRecord>>, GatewayError>
    where
        F: Future<Output = Result<Option<KeyRecord>, StoreError>>,
    {
        let now = Instant::now();
        if let Some(found) = self.keys.get(&cache_key, now, None) {
            return Ok(Some(found));
        }
        if self.unknown_keys.get(&cache_key, now, None).is_some() {
            return Ok(None);
        }
        let loaded = load()
            .await
            .map_err(|e| internal("reading an API key", &e))?
            .map(Arc::new);
        match &loaded {
            Some(record) => self.keys.put(cache_key, Arc::clone(record), now),
            None => self.unknown_keys.put(cache_key, (), now),
        }
        Ok(loaded)
    }

    pub(super) async fn tenant_policy(
        &self,
        tenant: &str,
    ) -> Result<Option<Arc<TenantRecord>>, GatewayError> {
        let now = Instant::now();
        if let Some(found) = self.tenants.get(&tenant.to_owned(), now, None) {
            return Ok(found);
        }
        let loaded = self
            .store
            .tenant(tenant)
            .await
            .map_err(|e| internal("reading a tenant", &e))?
            .map(Arc::new);
        self.tenants.put(tenant.to_owned(), loaded.clone(), now);
        Ok(loaded)
    }
}

impl<S: CounterStore> Controller<S> {
    /// Reserves the call's limits and budgets (all or nothing) and looks up the cache.
    pub async fn admit(
        &self,
        principal: &Principal,
        plan: CallPlan,
        now_ms: u64,
    ) -> Result<Admission, Refusal> {
        if !principal.may_use_route(plan.route) {
            return Err(GatewayError::Forbidden(format!(
                "this API key may not use the {} route",
                plan.route.as_str()
            ))
            .into());
        }
        // `models::resolve` left only the models this caller may use; none is a 403 there.
        if plan.model.candidates.is_empty() {
            return Err(GatewayError::Forbidden(format!(
                "this API key may not use model '{}'",
                plan.model.scope
            ))
            .into());
        }
        let limits = principal.rate_limits(&plan.model.names);
        let mut budgets = Vec::new();
        if let Some(key) = &principal.key
            && !key.budget.is_unlimited()
        {
            budgets.push((
                BudgetScope::Key(key.key_id.clone()),
                key.budget.daily(),
                key.budget.monthly(),
            ));
        }
        if let Some(tenant) = &principal.tenant_policy
            && !tenant.budget.is_unlimited()
        {
            budgets.push((
                BudgetScope::Tenant(tenant.tenant.clone()),
                tenant.budget.daily(),
                tenant.budget.monthly(),
            ));
        }
        let worst_price = match self.worst_price(&plan.model) {
            Ok(price) => Some(price),
            Err(unpriced) if !budgets.is_empty() => {
                return Err(GatewayError::Forbidden(format!(
                    "no price is known for model '{unpriced}', so a budget cannot be enforced for it; add it to controls.prices"
                ))
                .into());
            }
            Err(unpriced) => {
                tracing::warn!(model = %unpriced, "no price known: costs of this call are not tracked");
                None
            }
        };
        let cost = worst_price.map_or(Nanos::ZERO, |p| Self::worst_cost(&p, &plan.estimate));
        let now_secs = now_ms / 1_000;
        let reservation = reservation::reserve(&ReservationInput {
            principal: &principal.id,
            model: &plan.model.scope,
            requests_per_minute: limits.requests_per_minute,
            tokens_per_minute: limits.tokens_per_minute,
            // A job waits in a queue, not in a connection: its submit counts against the
            // rate limits and budgets but takes no in-flight slot (the queue and the worker's
            // own concurrency bound how many jobs run at once).
            concurrency: limits
                .concurrency
                .filter(|_| plan.route != RouteClass::Jobs),
            concurrency_bucket_secs: self.config.limits.concurrency_bucket_secs,
            budgets,
            tokens: plan.estimate.total(),
            cost,
            now_secs,
            mark: format!("{:016x}", fastrand::u64(..)),
        })?;
        let rate_counter = reservation
            .counters
            .iter()
            .find(|c| matches!(c.kind, CounterKind::Rate { .. }));
        let cache_read = plan
            .cache
            .as_ref()
            .filter(|c| c.reads())
            .map(|c| c.key.as_str());
        let reserve = async {
            if reservation.counters.is_empty() {
                Ok(Reserved::Admitted)
            } else {
                self.store.reserve(&reservation.counters).await
            }
        };
        let peek = async {
            if rate_counter.is_none() && cache_read.is_none() {
                Ok(Default::default())
            } else {
                self.store
                    .peek(rate_counter.map(|c| c.pk.as_str()), cache_read)
                    .await
            }
        };
        let (reserved, peeked) = futures_util::future::join(reserve, peek).await;
        let peeked = peeked.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading rate counters and the response cache failed; going on without");
            Default::default()
        });
        match reserved {
            Ok(Reserved::Admitted) => {}
            Ok(Reserved::Refused { index, observed }) => {
                let Some(counter) = reservation.counters.get(index) else {
                    return Err(GatewayError::Internal(format!(
                        "store refused unknown counter {index}"
                    ))
                    .into());
                };
                let observed = observed.or(peeked.rate);
                let rate = rate_counter.and_then(|c| {
                    let seen = if c.pk == counter.pk {
                        observed.as_ref()
                    } else {
                        None
                    };
                    RateView::new(c, seen, false, reservation.tokens, now_secs)
                });
                return Err(Refusal {
                    error: reservation::refusal(counter, observed.as_ref(), now_secs),
                    rate,
                });
            }
            Err(e) => return Err(internal("reserving limits and budget", &e).into()),
        }
        let rate = rate_counter.and_then(|c| {
            let read_after_own = peeked.rate_mark.is_some() && peeked.rate_mark == c.mark;
            RateView::new(
                c,
                peeked.rate.as_ref(),
                !read_after_own,
                reservation.tokens,
                now_secs,
            )
        });
        // A cached answer is served only if its model is one this caller may reach: another
        // key of the tenant may have been answered by a model outside this key's allow-list
        // (`auto` routes by content, so the same request can land on either).
        let cached = match (&plan.cache, peeked.cached) {
            (Some(cache), Some(found)) => cache
                .read_max_age_secs
                .filter(|max_age| found.serves(*max_age, now_ms))
                .filter(|_| {
                    plan.model
                        .candidates
                        .iter()
                        .any(|t| t.model_id == found.answer.model_id)
                })
                .map(|_| found),
            _ => None,
        };
        Ok(Admission {
            principal: principal.id.clone(),
            tenant: principal.tenant.clone(),
            route: plan.route,
            scope: plan.model.scope,
            estimate: plan.estimate,
            reservation,
            rate,
            cached,
            cache: plan.cache,
            worst_price,
        })
    }

    /// Settles an admitted call: counters to actuals, a ledger row, a fresh answer cached.
    /// A store failure is logged (the reservation then stays counted: never an overspend) and
    /// the cost is still returned.
    pub async fn settle(&self, admission: &Admission, outcome: Outcome, now_ms: u64) -> Settled {
        let zero = TokenUsage::default();
        let (usage, cost, model, keep, cache_hit, error) = match outcome {
            Outcome::Answered {
                model_id,
                region,
                usage,
                keep,
            } => {
                let price = self
                    .price(&model_id, region.as_deref())
                    .or(admission.worst_price);
                let cost = price.map_or(Nanos::ZERO, |p| p.cost(&usage));
                (usage, cost, model_id, keep, false, false)
            }
            Outcome::CacheHit { model_id } => (zero, Nanos::ZERO, model_id, None, true, false),
            Outcome::FallbackCache { model_id } => (zero, Nanos::ZERO, model_id, None, false, true),
            Outcome::Failed => (
                zero,
                Nanos::ZERO,
                admission.scope.clone(),
                None,
                false,
                true,
            ),
            Outcome::Broken { output_chars } => {
                let (usage, cost) = self.broken_charge(admission, output_chars);
                (usage, cost, admission.scope.clone(), None, false, true)
            }
            Outcome::Estimated { output_chars } => {
                let (usage, _) = self.broken_charge(admission, output_chars);
                let cost = admission
                    .worst_price
                    .map_or(Nanos::ZERO, |p| p.cost(&usage));
                (usage, cost, admission.scope.clone(), None, false, false)
            }
        };
        if cost > admission.reservation.cost && !admission.reservation.counters.is_empty() {
            tracing::warn!(
                reserved = %admission.reservation.cost, actual = %cost,
                "a call cost more than its reservation: its input was under-estimated (controls.estimate.bytes_per_token above the model's real bytes per token)"
            );
        }
        let now_secs = now_ms / 1_000;
        let cache = match (keep, &admission.cache) {
            (Some(answer), Some(plan)) => plan.store_ttl_secs.map(|ttl| CacheWrite {
                key: plan.key.clone(),
                answer: CachedAnswer {
                    answer: *answer,
                    fresh_until_ms: now_ms.saturating_add(ttl.saturating_mul(1_000)),
                },
                expires_at_secs: now_secs.saturating_add(ttl.max(self.tier_ttl_secs)),
            }),
            _ => None,
        };
        let settled = Settled { usage, cost, model };
        let settlement = Settlement {
            adjustments: reservation::settle(&admission.reservation, usage.total(), cost),
            ledger: Some(self.ledger_entry(
                &admission.tenant,
                &admission.principal,
                &settled,
                (cache_hit, error),
                now_secs,
            )),
            cache,
        };
        self.apply(&settlement, &admission.principal, cost).await;
        settled
    }

    /// What a call that broke (or was abandoned) after `output_chars` of output is charged:
    /// the reservation, the worst case, since Bedrock bills tokens the gateway never saw.
    pub fn broken_charge(&self, admission: &Admission, output_chars: usize) -> (TokenUsage, Nanos) {
        let usage = TokenUsage {
            input: admission.estimate.input_tokens,
            output: estimate::output_from_chars(output_chars, &self.config.estimate)
                .min(admission.estimate.max_output_tokens),
            ..TokenUsage::default()
        };
        (usage, admission.reservation.cost)
    }

    /// Gives back everything an admission reserved, for a call that was never made (a job
    /// whose record already existed, or could not be stored): no ledger row, no cache entry.
    pub async fn release(&self, admission: &Admission) {
        let settlement = Settlement {
            adjustments: reservation::settle(&admission.reservation, 0, Nanos::ZERO),
            ledger: None,
            cache: None,
        };
        self.apply(&settlement, &admission.principal, Nanos::ZERO)
            .await;
    }

    /// The usage ledger's row for one settled call; `flags`: (cache hit, error).
    pub(super) fn ledger_entry(
        &self,
        tenant: &str,
        principal: &str,
        settled: &Settled,
        (cache_hit, error): (bool, bool),
        now_secs: u64,
    ) -> LedgerEntry {
        LedgerEntry {
            tenant: tenant.to_owned(),
            day: calendar::day_string(now_secs),
            principal: principal.to_owned(),
            model: settled.model.clone(),
            usage: settled.usage,
            cost: settled.cost,
            cache_hit,
            error,
            expires_at_secs: now_secs + self.config.limits.usage_retention_days * 86_400,
        }
    }

    /// Writes a settlement. A store failure is logged, never returned: the reservation then
    /// stays counted (never an overspend) and the ledger misses the call.
    pub(super) async fn apply(&self, settlement: &Settlement, principal: &str, cost: Nanos) {
        if settlement.adjustments.is_empty()
            && settlement.ledger.is_none()
            && settlement.cache.is_none()
        {
            return;
        }
        if let Err(e) = self.store.settle(settlement).await {
            let model = settlement.ledger.as_ref().map_or("", |l| l.model.as_str());
            tracing::error!(
                error = %e, principal, model, cost = %cost,
                "settling a call failed: its reservation stays counted and the ledger misses it"
            );
        }
    }
}

impl<S: UsageStore> Controller<S> {
    /// Usage of `tenant` from `from` to `to` (inclusive, `YYYY-MM-DD`, at most 92 days).
    pub async fn usage_report(
        &self,
        tenant: &str,
        from: &str,
        to: &str,
    ) -> Result<UsageReport, GatewayError> {
        usage_report(&self.store, tenant, from, to).await
    }
}

/// The usage report of `tenant` over a day range, one ledger query per day, concurrently.
pub async fn usage_report(
    store: &impl UsageStore,
    tenant: &str,
    from: &str,
    to: &str,
) -> Result<UsageReport, GatewayError> {
    let first = calendar::parse_day(from)
        .ok_or_else(|| GatewayError::invalid("from", "must be a date YYYY-MM-DD"))?;
    let last = calendar::parse_day(to)
        .ok_or_else(|| GatewayError::invalid("to", "must be a date YYYY-MM-DD"))?;
    if last < first {
        return Err(GatewayError::invalid("to", "must not be before from"));
    }
    if last - first >= 92 {
        return Err(GatewayError::invalid(
            "from",
            "a report covers at most 92 days",
        ));
    }
    let days: Vec<String> = (first..=last).map(calendar::day_from_number).collect();
    let results =
        futures_util::future::join_all(days.iter().map(|day| store.usage(tenant, day))).await;
    let mut rows: Vec<UsageRow> = Vec::new();
    for result in results {
        rows.extend(result.map_err(|e| internal("reading the usage ledger", &e))?);
    }
    Ok(UsageReport::new(tenant, from, to, rows))
}
