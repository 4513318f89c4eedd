//! `GET /openapi.json`: served without credentials, OpenAPI 3.1, and in step with the router
//! both ways — every route `app.rs` registers is an operation of the document, and every
//! operation reaches a handler (not the router's fallback) — and with the HTTP API of
//! template.yaml, which must route each operation to the function. The document's validity
//! against the OpenAPI 3.1 specification is checked by an independent validator
//! (`openapi-spec-validator`, from PyPI) in `openapi_document_passes_an_independent_validator`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::HAIKU;
use crate::controls_support;
use axum::body::Body;
use http::Request;
use serde_json::Value;
use std::collections::BTreeSet;

/// (METHOD, path with every `{param}` as `{}`).
type Operation = (String, String);

fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

fn documented(doc: &Value) -> BTreeSet<(String, String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), normalise(path), path.clone()));
        }
    }
    ops
}

/// Every `.route("<path>", <method>(…))` in the router's source, whitespace-insensitive.
fn registered() -> BTreeSet<Operation> {
    let source: String = include_str!("../../src/app.rs")
        .split_whitespace()
        .collect();
    let methods = ["get", "post", "put", "patch", "delete"];
    let mut ops = BTreeSet::new();
    for chunk in source.split(".route(\"").skip(1) {
        let (path, rest) = chunk.split_once("\",").unwrap();
        // `governed(state, kind(class), post(handler))`: the method router is the last part.
        let rest = match rest.strip_prefix("governed(") {
            Some(governed) => &governed[governed.find("),").unwrap() + 2..],
            None => rest,
        };
        // `get(handler)` or `post(handler)`, possibly chained: `get(a).post(b)`.
        let mut rest = rest;
        while let Some((method, after)) = rest.split_once('(') {
            let method = method.trim_start_matches('.');
            assert!(
                methods.contains(&method),
                "unexpected router source near {path}: {method}"
            );
            ops.insert((method.to_uppercase(), normalise(path)));
            let close = after.find(')').unwrap();
            rest = &after[close + 1..];
            if !methods.iter().any(|m| rest.starts_with(&format!(".{m}("))) {
                break;
            }
        }
    }
    assert!(
        ops.len() > 10,
        "the router source was not understood: {ops:?}"
    );
    ops
}

/// The operations template.yaml's HTTP API sends to the function: its `HttpApi` events and the
/// paths of its OpenAPI definition body.
fn templated() -> BTreeSet<Operation> {
    let template = include_str!("../../../../../template.yaml");
    let mut ops = BTreeSet::new();
    let lines: Vec<&str> = template.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.split("Method: ").nth(1) {
            let method = rest.split(',').next().unwrap().trim();
            if let Some(path) = rest.split("Path: ").nth(1) {
                let path = path.split([',', ' ']).next().unwrap().trim_matches('"');
                ops.insert((method.to_uppercase(), normalise(path)));
            }
        }
        let trimmed = line.trim();
        if trimmed.starts_with('/') && trimmed.ends_with(':') {
            let path = trimmed.trim_end_matches(':');
            let indent = |l: &str| l.len() - l.trim_start().len();
            // Every method under the path (a path may have several), up to the next key at
            // the path's own level.
            for next in lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
            {
                let next = next.trim().trim_end_matches(':');
                if ["get", "post", "put", "patch", "delete"].contains(&next) {
                    ops.insert((next.to_uppercase(), normalise(path)));
                }
            }
        }
    }
    ops
}

#[tokio::test]
async fn served_without_credentials_and_in_step_with_router_and_template() {
    let stack = controls_support::start(serde_json::json!({})).await;
    let reply = controls_support::send(
        &stack.router,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");

    let documented = documented(&doc);
    let documented_ops: BTreeSet<Operation> = documented
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let registered = registered();
    assert_eq!(
        registered.difference(&documented_ops).collect::<Vec<_>>(),
        Vec::<&Operation>::new(),
        "registered routes missing from the document"
    );
    assert_eq!(
        documented_ops.difference(&registered).collect::<Vec<_>>(),
        Vec::<&Operation>::new(),
        "documented operations the router source does not register"
    );

    // Each documented operation reaches a handler: the auth layer (which only runs on matched
    // routes) or the handler answers, never the fallback's "no route" or the 405.
    for (method, _, path) in &documented {
        let concrete = path
            .replace("{model_id}", HAIKU)
            .replace("{task}", "classify")
            .replace("{job_id}", "job-1")
            .replace("{id}", "profile-1");
        let request = Request::builder()
            .method(method.as_str())
            .uri(&concrete)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let reply = controls_support::send(&stack.router, request).await;
        let text = reply.text();
        assert_ne!(reply.status, 405, "{method} {path}: {text}");
        assert!(
            !text.contains("no route for") && !text.contains("is not an operation of this API"),
            "{method} {path} fell through to the fallback: {text}"
        );
    }

    // The deployed HTTP API routes every operation to the function.
    let templated = templated();
    let missing: Vec<&Operation> = documented_ops.difference(&templated).collect();
    assert!(
        missing.is_empty(),
        "operations template.yaml's HTTP API does not route: {missing:?}"
    );

    // The new routes' bodies are the Rust types' schemas, not loose objects.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "ResponsesRequest",
        "ResponseObject",
        "EmbeddingsRequest",
        "EmbeddingList",
    ] {
        assert!(schemas[name].is_object(), "{name} missing");
    }
    assert_eq!(
        doc["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/EmbeddingsRequest"
    );
    assert!(
        schemas["ResponsesRequest"]["properties"]["previous_response_id"].is_object(),
        "{}",
        schemas["ResponsesRequest"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_passes_an_independent_validator() {
    let api = crate::common::start().await;
    let base = api.serve().await;
    let out = crate::python_clients::run_client_with(
        "openapi_validate.py",
        &[&format!("{base}/openapi.json")],
    )
    .await;
    assert!(out.contains("openapi ok"), "{out}");
}
