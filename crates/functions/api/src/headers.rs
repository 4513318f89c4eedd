//! Response headers that say who served a request and how, and the rate limits it met.

use gateway::controls::reservation::RateView;
use gateway::service::Served;
use http::{HeaderMap, HeaderValue};

pub const REQUEST_ID: &str = "x-request-id";
/// The request id as the AWS SDKs read it, on Bedrock's (SageMaker's, Agent Runtime's) routes.
pub const AMZN_REQUEST_ID: &str = "x-amzn-requestid";
/// Anthropic's own request-id header, which its SDKs surface as `_request_id`.
pub const ANTHROPIC_REQUEST_ID: &str = "request-id";
pub const MODEL: &str = "x-gateway-model";
/// The region that answered (the home region when the route named none).
pub const REGION: &str = "x-gateway-region";
/// Model calls made for the request, across retries and fallbacks.
pub const ATTEMPTS: &str = "x-gateway-attempts";
/// `true` when anything but the chain's first target answered.
pub const FALLBACK: &str = "x-gateway-fallback";
/// `fallback` when the answer is the cached-response tier's (every model failed).
pub const CACHE: &str = "x-gateway-cache";
/// How the model was chosen: `static`, `task:<name>`, `<tier>:<reason>`, `group:<name>:<strategy>`.
pub const ROUTE: &str = "x-gateway-route";

pub fn served_headers<T>(request_id: &str, served: &Served<T>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    insert(&mut headers, REQUEST_ID, request_id);
    insert(&mut headers, MODEL, &served.target.model_id);
    if let Some(region) = &served.region {
        insert(&mut headers, REGION, region);
    }
    headers.insert(ATTEMPTS, HeaderValue::from(served.attempts));
    if served.fell_back {
        headers.insert(FALLBACK, HeaderValue::from_static("true"));
    }
    if served.from_fallback_tier {
        headers.insert(CACHE, HeaderValue::from_static("fallback"));
    }
    insert(&mut headers, ROUTE, &served.route);
    headers
}

/// Skips values that are not valid header text rather than failing the response.
pub fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// OpenAI's rate-limit headers.
pub fn rate_headers(view: Option<&RateView>, headers: &mut HeaderMap) {
    let Some(view) = view else { return };
    let reset = format!("{}s", view.reset_secs);
    let mut put = |name: &'static str, value: Option<u64>| {
        if let Some(value) = value {
            headers.insert(name, HeaderValue::from(value));
        }
    };
    put("x-ratelimit-limit-requests", view.requests_limit);
    put("x-ratelimit-remaining-requests", view.requests_remaining);
    put("x-ratelimit-limit-tokens", view.tokens_limit);
    put("x-ratelimit-remaining-tokens", view.tokens_remaining);
    if let Ok(reset) = HeaderValue::from_str(&reset) {
        if view.requests_limit.is_some() {
            headers.insert("x-ratelimit-reset-requests", reset.clone());
        }
        if view.tokens_limit.is_some() {
            headers.insert("x-ratelimit-reset-tokens", reset);
        }
    }
}
