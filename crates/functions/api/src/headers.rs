//! Response headers that say who served a request.

use gateway::service::Served;
use http::{HeaderMap, HeaderValue};

pub const REQUEST_ID: &str = "x-request-id";
pub const MODEL: &str = "x-gateway-model";
pub const REGION: &str = "x-gateway-region";
pub const ATTEMPTS: &str = "x-gateway-attempts";

pub fn served_headers<T>(request_id: &str, served: &Served<T>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    insert(&mut headers, REQUEST_ID, request_id);
    insert(&mut headers, MODEL, &served.target.model_id);
    if let Some(region) = &served.target.region {
        insert(&mut headers, REGION, region);
    }
    headers.insert(ATTEMPTS, HeaderValue::from(served.attempts));
    headers
}

/// Skips values that are not valid header text rather than failing the response.
pub fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
