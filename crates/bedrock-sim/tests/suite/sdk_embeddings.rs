//! Titan and Cohere embedding models through the real SDK's InvokeModel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use crate::common::*;
use aws_sdk_bedrockruntime::primitives::Blob;
use bedrock_sim::{Behavior, ErrorKind, Outcome};
use serde_json::{Value, json};

const TITAN_V2: &str = "amazon.titan-embed-text-v2:0";
const COHERE_EN: &str = "cohere.embed-english-v3";
const COHERE_MULTI: &str = "cohere.embed-multilingual-v3";

async fn embed(client: &aws_sdk_bedrockruntime::Client, model: &str, body: Value) -> Value {
    let out = client
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap();
    serde_json::from_slice(out.body().as_ref()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[tokio::test]
async fn titan_v2_has_the_requested_dimension_and_is_deterministic() {
    let sim = sim().await;
    let client = client(&sim).await;
    for dims in [256, 512, 1024] {
        let body = json!({"inputText": "the gateway routes requests", "dimensions": dims, "normalize": true});
        let a = embed(&client, TITAN_V2, body.clone()).await;
        let b = embed(&client, TITAN_V2, body).await;
        let v = floats(&a["embedding"]);
        assert_eq!(v.len(), dims);
        assert!((norm(&v) - 1.0).abs() < 1e-3, "unit length: {}", norm(&v));
        assert_eq!(a, b, "same text, same vector");
        assert_eq!(a["inputTextTokenCount"], 7); // 27 characters
    }
    let default = embed(&client, TITAN_V2, json!({"inputText": "x"})).await;
    assert_eq!(floats(&default["embedding"]).len(), 1024);
    let other = embed(&client, TITAN_V2, json!({"inputText": "y"})).await;
    assert_ne!(default["embedding"], other["embedding"]);
    let raw = embed(
        &client,
        TITAN_V2,
        json!({"inputText": "x", "normalize": false}),
    )
    .await;
    assert!((norm(&floats(&raw["embedding"])) - 1.0).abs() > 0.1);

    let out = client
        .invoke_model()
        .model_id(TITAN_V2)
        .body(Blob::new(br#"{"inputText":"x","dimensions":300}"#.to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(out.is_validation_exception(), "{out:?}");
}

#[tokio::test]
async fn cohere_v3_returns_one_vector_per_text() {
    let sim = sim().await;
    let client = client(&sim).await;
    let texts = ["first document", "second document", "third"];
    for model in [COHERE_EN, COHERE_MULTI] {
        let body = json!({"texts": texts, "input_type": "search_document", "truncate": "END"});
        let out = embed(&client, model, body.clone()).await;
        assert_eq!(out["response_type"], "embeddings_floats");
        assert_eq!(out["texts"], json!(texts));
        assert!(!out["id"].as_str().unwrap().is_empty());
        let vectors = out["embeddings"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            assert_eq!(floats(v).len(), 1024);
        }
        assert_ne!(vectors[0], vectors[1]);
        assert_eq!(embed(&client, model, body).await, out);
    }
    let typed = embed(
        &client,
        COHERE_EN,
        json!({"texts": ["a"], "input_type": "search_query", "embedding_types": ["float", "int8"]}),
    )
    .await;
    assert_eq!(typed["response_type"], "embeddings_by_type");
    assert_eq!(floats(&typed["embeddings"]["float"][0]).len(), 1024);
    assert_eq!(
        typed["embeddings"]["int8"][0].as_array().unwrap().len(),
        1024
    );
}

#[tokio::test]
async fn embedding_models_take_behaviours_and_refuse_converse() {
    let sim = sim().await;
    let client = client(&sim).await;
    sim.set_behavior(
        TITAN_V2,
        Behavior::script([Outcome::Error(ErrorKind::ThrottlingException)]),
    );
    let err = client
        .invoke_model()
        .model_id(TITAN_V2)
        .body(Blob::new(br#"{"inputText":"x"}"#.to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    let ok = embed(&client, TITAN_V2, json!({"inputText": "x"})).await;
    assert!(ok["embedding"].is_array());
    assert_eq!(sim.calls(TITAN_V2), 2);

    let err = client
        .converse()
        .model_id(COHERE_EN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}
