//! Gateway controls: who may call (API keys, SigV4 with gateway keys, JWT claims), how much
//! (rate and token limits, concurrency caps, budgets), at what cost (price table, usage
//! ledger), what is answered from the exact response cache, and the audit record and metrics
//! every request leaves. Pure rules and ports; the DynamoDB adapters are in
//! `gateway-aws::controls`, the HTTP wiring in the `api` function.
//!
//! - `config`: the `controls` configuration section; `route_class`: the kinds of route it and
//!   keys name.
//! - `keys`: key issuance, hashing, sealing of SigV4 secrets, key and tenant records, principals.
//! - `sigv4`: AWS Signature Version 4 verification.
//! - `estimate`, `pricing`, `money`, `usage`: tokens before the call, cost after it.
//! - `output_cap`: the output limit every call carries (the reserved one when the caller
//!   sets none), and the largest a caller may ask for.
//! - `reservation`: rate-limit windows and budget periods as guarded counters.
//! - `cache`: `Cache-Control`, cacheability, keys, freshness, replay as a stream.
//! - `ledger`, `audit`: the usage ledger and reports; the audit record and EMF line.
//! - `controller`: authenticate → admit (reserve) → settle, over the `ports`.
//! - `job_charge`: an async job's reservation, carried from its submit to its worker.

pub mod audit;
pub mod cache;
pub mod calendar;
pub mod config;
pub mod controller;
mod crypto;
pub mod estimate;
// The controls' rules over an in-memory table, for this crate's unit tests only: deployed
// functions and local runs keep their state in DynamoDB (moto locally).
#[cfg(test)]
mod in_memory;
mod instance_cache;
pub mod job_charge;
pub mod keys;
pub mod ledger;
pub mod models;
pub mod money;
pub mod output_cap;
pub mod ports;
pub mod pricing;
pub mod reservation;
pub mod route_class;
mod service_principal;
pub mod sigv4;
pub mod usage;

pub use config::{AuthMode, ControlsConfig};
pub use controller::{
    Admission, CallPlan, Controller, Credentials, Outcome, Refusal, SIGV4_SERVICE, Settled,
};
pub use keys::{AuthMethod, KeyRecord, Principal, TenantRecord};
pub use money::Nanos;
pub use route_class::RouteClass;

#[cfg(test)]
mod tests;
