//! Runs cases against a gateway: each case's request on its route with the caller's key, a
//! bounded number at a time, then its assertions and, when it has one, its judge.

use crate::answer::Answer;
use crate::case::{Case, Judge, Method, Suite};
use crate::check::{self, Observed};
use crate::error::EvalError;
use crate::judge;
use crate::report::{CaseResult, Report};
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// Largest response body read; the rest of a longer one is not waited for.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most cases in flight at once.
pub const MAX_CONCURRENCY: usize = 64;

pub struct Runner {
    client: reqwest::Client,
    base: reqwest::Url,
    key: Option<String>,
    concurrency: usize,
}

impl Runner {
    /// `base_url`: the gateway (`https://…/` or `http://127.0.0.1:8080`); `key`: a gateway key
    /// (or a JWT), sent as `Authorization: Bearer`.
    pub fn new(
        base_url: &str,
        key: Option<String>,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<Self, EvalError> {
        let base = reqwest::Url::parse(base_url)
            .map_err(|e| EvalError::usage("--url", format!("{base_url}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(EvalError::usage(
                "--url",
                "an http:// or https:// URL with a host",
            ));
        }
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(EvalError::usage(
                "--concurrency",
                format!("1 to {MAX_CONCURRENCY}"),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| EvalError::Client(e.to_string()))?;
        Ok(Self {
            client,
            base,
            key: key.filter(|k| !k.trim().is_empty()),
            concurrency,
        })
    }

    /// Every case of every suite, in file order; at most `concurrency` in flight.
    pub async fn run(&self, suites: &[Suite]) -> Report {
        let jobs = suites.iter().flat_map(|suite| {
            suite
                .cases
                .iter()
                .map(move |case| (suite.name.as_str(), case))
        });
        let cases = futures_util::stream::iter(jobs)
            .map(|(suite, case)| self.run_case(suite, case))
            .buffered(self.concurrency)
            .collect()
            .await;
        Report { cases }
    }

    async fn run_case(&self, suite: &str, case: &Case) -> CaseResult {
        let mut result = CaseResult {
            suite: suite.to_owned(),
            id: case.id.clone(),
            route: case.route.clone(),
            passed: false,
            reasons: Vec::new(),
            status: None,
            latency_ms: 0,
            cost_usd: None,
            output_tokens: None,
            model: None,
            judge_score: None,
            judge_cost_usd: None,
        };
        let observed = match self.call(case).await {
            Ok(observed) => observed,
            Err(reason) => {
                result.reasons.push(reason);
                return result;
            }
        };
        result.status = Some(observed.status);
        result.latency_ms = observed.latency_ms;
        result.cost_usd = observed.cost_usd;
        result.output_tokens = observed.answer.output_tokens;
        result.model = observed.model.clone();
        result.reasons = check::failures(&case.expect, &observed);
        if let Some(judge) = &case.judge
            && result.reasons.is_empty()
        {
            match self.grade(judge, &observed.answer.text).await {
                Ok((score, cost)) => {
                    result.judge_score = Some(score);
                    result.judge_cost_usd = cost;
                    if score < judge.threshold {
                        result.reasons.push(format!(
                            "judge {} scored {score:.2} (at least {:.2})",
                            judge.model, judge.threshold
                        ));
                    }
                }
                Err(reason) => result.reasons.push(reason),
            }
        }
        result.passed = result.reasons.is_empty();
        result
    }

    /// Sends one request; `Err` only when no response came.
    async fn send(
        &self,
        method: Method,
        route: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Observed, String> {
        let url = self.url(route)?;
        let mut request = match method {
            Method::Post => self.client.post(url),
            Method::Get => self.client.get(url),
        };
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        // A fresh model call for every case: a cached answer would hide the model's cost,
        // latency and any regression behind a replay. A case may ask otherwise.
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("cache-control"))
        {
            request = request.header("cache-control", "no-store");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("no response from {route}: {}", without_url(e)))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let cost_usd = header("x-gateway-cost").and_then(|c| c.parse::<f64>().ok());
        let model = header("x-gateway-model");
        let event_stream =
            header("content-type").is_some_and(|t| t.starts_with("text/event-stream"));
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the response of {route}: {}", without_url(e)))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!(
                    "the response of {route} is over {MAX_RESPONSE_BYTES} bytes"
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let text = String::from_utf8_lossy(&bytes);
        Ok(Observed {
            status,
            answer: Answer::from_body(&text, event_stream),
            latency_ms,
            cost_usd,
            model,
        })
    }

    async fn call(&self, case: &Case) -> Result<Observed, String> {
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.send(case.method, &case.route, case.request.as_ref(), &headers)
            .await
    }

    /// The judge's score and what its call cost.
    async fn grade(&self, judge: &Judge, answer: &str) -> Result<(f64, Option<f64>), String> {
        let body = judge::request(&judge.model, &judge.rubric, answer);
        let observed = self
            .send(Method::Post, "/v1/converse", Some(&body), &[])
            .await
            .map_err(|e| format!("judge: {e}"))?;
        if observed.status != 200 {
            return Err(format!(
                "judge {}: status {}: {}",
                judge.model,
                observed.status,
                check::quote(&observed.answer.body.to_string())
            ));
        }
        let score = judge::score(&observed.answer.text)?;
        Ok((score, observed.cost_usd))
    }

    /// The gateway's base URL with `route` appended (the base's own path kept, e.g. a stage).
    fn url(&self, route: &str) -> Result<reqwest::Url, String> {
        let base = self.base.as_str().trim_end_matches('/');
        reqwest::Url::parse(&format!("{base}{route}")).map_err(|e| format!("{route}: {e}"))
    }
}

/// A client error without the URL (it may carry a query string the suite author wrote).
fn without_url(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", error.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_before_any_call() {
        let t = Duration::from_secs(1);
        assert!(Runner::new("ftp://x", None, 4, t).is_err());
        assert!(Runner::new("not a url", None, 4, t).is_err());
        assert!(Runner::new("http://127.0.0.1:1", None, 0, t).is_err());
        assert!(Runner::new("http://127.0.0.1:1", None, 65, t).is_err());
        let runner = Runner::new("https://h.example/prod/", Some(" ".into()), 4, t).unwrap();
        assert_eq!(runner.key, None, "a blank key is no key");
        assert_eq!(
            runner.url("/v1/converse").unwrap().as_str(),
            "https://h.example/prod/v1/converse"
        );
    }
}
