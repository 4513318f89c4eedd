//! Embedding models through InvokeModel: Amazon Titan Text Embeddings (v1, v2) and Cohere
//! Embed v3 (English, multilingual), with their request and response bodies.
//!
//! Vectors are deterministic — seeded from a hash of the model and the text — so tests can
//! compare two calls, and have the model's dimension (Titan v2: `dimensions` 256/512/1024,
//! default 1024; Titan v1: 1536; Cohere v3: 1024). Titan v2 vectors are unit length when
//! `normalize` is true (the default); Cohere's are unit length as the real model's are.
//! Input tokens use the simulator's rule (ceil(chars / 4), at least 1, per text).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{malformed, parse_json, schema_error};
use crate::catalog::ResolvedModel;
use crate::error::ApiError;
use crate::reply::{count_input_tokens, fnv1a, id_suffix, xorshift};

/// The service's answer when Converse or a streaming call names an embedding model.
pub const UNSUPPORTED_OPERATION: &str =
    "The provided model doesn't support this operation. Use InvokeModel for embedding models.";

/// A finished embedding call: the response body and its input tokens (for the usage header).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub body: Vec<u8>,
    pub input_tokens: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TitanRequest {
    input_text: Option<String>,
    dimensions: Option<i64>,
    normalize: Option<bool>,
    embedding_types: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CohereRequest {
    texts: Option<Vec<String>>,
    input_type: Option<String>,
    #[allow(dead_code)]
    truncate: Option<String>,
    embedding_types: Option<Vec<String>>,
}

/// Most texts one Cohere call may carry.
const COHERE_MAX_TEXTS: usize = 96;
const COHERE_INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];
const COHERE_TYPES: [&str; 5] = ["float", "int8", "uint8", "binary", "ubinary"];

/// Embeds the InvokeModel body `body` for `model` (an embedding model).
pub fn embed(model: &ResolvedModel, body: &[u8]) -> Result<Embedded, ApiError> {
    if model.provider() == "cohere" {
        cohere(model, body)
    } else {
        titan(model, body)
    }
}

/// A deterministic vector of `dims` values in [-1, 1) for `text` on `model`, unit length if
/// `normalize`.
pub fn vector(model: &str, text: &str, dims: usize, normalize: bool) -> Vec<f32> {
    let mut state = fnv1a(format!("{model}\u{0}{text}").as_bytes()) | 1;
    let mut values: Vec<f64> = (0..dims)
        .map(|_| {
            state = xorshift(state);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    if normalize {
        let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            values.iter_mut().for_each(|v| *v /= norm);
        }
    }
    values.into_iter().map(|v| v as f32).collect()
}

fn titan(model: &ResolvedModel, body: &[u8]) -> Result<Embedded, ApiError> {
    let req: TitanRequest = parse_json(body, schema_error)?;
    let v1 = model.base == "amazon.titan-embed-text-v1";
    let text = req
        .input_text
        .ok_or_else(|| malformed("#: required key [inputText] not found"))?;
    if v1 && (req.dimensions.is_some() || req.normalize.is_some()) {
        return Err(malformed(
            "#: extraneous key [dimensions/normalize] is not permitted",
        ));
    }
    let dims = match req.dimensions {
        None if v1 => 1536,
        None => 1024,
        Some(d @ (256 | 512 | 1024)) => d as usize,
        Some(d) => {
            return Err(malformed(format!(
                "#/dimensions: {d} is not a valid enum value"
            )));
        }
    };
    let types = req.embedding_types.clone().unwrap_or_default();
    if let Some(bad) = types.iter().find(|t| *t != "float" && *t != "binary") {
        return Err(malformed(format!(
            "#/embeddingTypes: {bad} is not a valid enum value"
        )));
    }
    let embedding = vector(&model.base, &text, dims, req.normalize.unwrap_or(true));
    let input_tokens = count_input_tokens(text.chars().count());
    let mut out = json!({ "embedding": embedding, "inputTextTokenCount": input_tokens });
    if req.embedding_types.is_some() {
        let mut by_type = serde_json::Map::new();
        for kind in &types {
            let value = if kind == "binary" {
                json!(
                    embedding
                        .iter()
                        .map(|v| u8::from(*v > 0.0))
                        .collect::<Vec<_>>()
                )
            } else {
                json!(embedding)
            };
            by_type.insert(kind.clone(), value);
        }
        out["embeddingsByType"] = Value::Object(by_type);
    }
    Ok(Embedded {
        body: serde_json::to_vec(&out).unwrap_or_else(|_| b"{}".to_vec()),
        input_tokens,
    })
}

fn cohere(model: &ResolvedModel, body: &[u8]) -> Result<Embedded, ApiError> {
    const DIMS: usize = 1024;
    let req: CohereRequest = parse_json(body, schema_error)?;
    let texts = req
        .texts
        .ok_or_else(|| malformed("#: required key [texts] not found"))?;
    if texts.len() > COHERE_MAX_TEXTS {
        return Err(malformed(format!(
            "#/texts: expected maximum item count: {COHERE_MAX_TEXTS}, found: {}",
            texts.len()
        )));
    }
    let input_type = req
        .input_type
        .ok_or_else(|| malformed("#: required key [input_type] not found"))?;
    if !COHERE_INPUT_TYPES.contains(&input_type.as_str()) {
        return Err(malformed(format!(
            "#/input_type: {input_type} is not a valid enum value"
        )));
    }
    if let Some(bad) = req
        .embedding_types
        .iter()
        .flatten()
        .find(|t| !COHERE_TYPES.contains(&t.as_str()))
    {
        return Err(malformed(format!(
            "#/embedding_types/0: {bad} is not a valid enum value"
        )));
    }
    let vectors: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| vector(&model.base, t, DIMS, true))
        .collect();
    let input_tokens = texts
        .iter()
        .map(|t| count_input_tokens(t.chars().count()))
        .fold(0u32, u32::saturating_add);
    let (embeddings, response_type) = match &req.embedding_types {
        None => (json!(vectors), "embeddings_floats"),
        Some(types) => {
            let mut by_type = serde_json::Map::new();
            for kind in types {
                let converted: Vec<Value> = vectors.iter().map(|v| quantise(kind, v)).collect();
                by_type.insert(kind.clone(), Value::Array(converted));
            }
            (Value::Object(by_type), "embeddings_by_type")
        }
    };
    let id = id_suffix(&texts.join("\u{0}"));
    let out = json!({
        "embeddings": embeddings,
        "id": format!("{}-{}-{}-{}-{}", &id[0..8], &id[8..12], &id[12..16], &id[16..20], &id[20..24]),
        "response_type": response_type,
        "texts": texts,
    });
    Ok(Embedded {
        body: serde_json::to_vec(&out).unwrap_or_else(|_| b"{}".to_vec()),
        input_tokens,
    })
}

/// Cohere's compressed embedding types: int8/uint8 scale each value; binary/ubinary pack eight
/// sign bits per byte (so 1024 dimensions become 128 values).
fn quantise(kind: &str, v: &[f32]) -> Value {
    match kind {
        "int8" => json!(
            v.iter()
                .map(|x| (x * 127.0).round().clamp(-128.0, 127.0) as i32)
                .collect::<Vec<_>>()
        ),
        "uint8" => json!(
            v.iter()
                .map(|x| ((x + 1.0) * 127.5).round().clamp(0.0, 255.0) as i32)
                .collect::<Vec<_>>()
        ),
        "binary" | "ubinary" => {
            let packed: Vec<i32> = v
                .chunks(8)
                .map(|bits| {
                    let byte = bits
                        .iter()
                        .fold(0i32, |acc, x| (acc << 1) | i32::from(*x > 0.0));
                    if kind == "binary" { byte - 128 } else { byte }
                })
                .collect();
            json!(packed)
        }
        _ => json!(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(base: &str) -> ResolvedModel {
        ResolvedModel {
            id: base.into(),
            base: base.into(),
        }
    }

    fn norm(v: &[f32]) -> f64 {
        v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
    }

    #[test]
    fn titan_dimensions_and_normalisation() {
        let m = model("amazon.titan-embed-text-v2:0");
        let out = embed(&m, br#"{"inputText":"hello world","dimensions":256}"#).unwrap();
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        let v: Vec<f32> = serde_json::from_value(body["embedding"].clone()).unwrap();
        assert_eq!(v.len(), 256);
        assert!((norm(&v) - 1.0).abs() < 1e-4, "{}", norm(&v));
        assert_eq!(body["inputTextTokenCount"], 3);
        let raw = vector(&m.base, "hello world", 1024, false);
        assert!((norm(&raw) - 1.0).abs() > 0.1);
        let err = embed(&m, br#"{"inputText":"x","dimensions":100}"#).unwrap_err();
        assert!(err.message.contains("dimensions"), "{err}");
        let err = embed(&m, br#"{"inputText":"x","oops":1}"#).unwrap_err();
        assert!(err.message.contains("extraneous key [oops]"), "{err}");
    }

    #[test]
    fn cohere_shapes() {
        let m = model("cohere.embed-english-v3");
        let out = embed(
            &m,
            br#"{"texts":["a","bb"],"input_type":"search_document","embedding_types":["float","int8","binary"]}"#,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(body["response_type"], "embeddings_by_type");
        assert_eq!(
            body["embeddings"]["float"][1].as_array().unwrap().len(),
            1024
        );
        assert_eq!(
            body["embeddings"]["binary"][0].as_array().unwrap().len(),
            128
        );
        assert_eq!(out.input_tokens, 2);
        let err = embed(&m, br#"{"texts":["a"]}"#).unwrap_err();
        assert!(err.message.contains("input_type"), "{err}");
    }
}
