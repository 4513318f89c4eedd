//! OpenAI's embeddings API (`POST /v1/embeddings`) on Bedrock's embedding models through
//! InvokeModel: Amazon Titan Text Embeddings v2 (one call per input, as the model takes one
//! text) and Cohere Embed v3 (one call for the whole batch). Counts and sizes are bounded before
//! any call, each refusal naming the field.

use crate::error::GatewayError;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most inputs one request may carry. Titan takes one text per call, so this also bounds the
/// model calls one request makes.
pub const MAX_TITAN_INPUTS: usize = 32;
/// Cohere Embed's own limit per call.
pub const MAX_COHERE_INPUTS: usize = 96;
/// Titan Text Embeddings v2 reads at most 50,000 characters (8,192 tokens).
pub const MAX_TITAN_CHARS: usize = 50_000;
/// Cohere Embed v3 on Bedrock takes texts of at most 2,048 characters.
pub const MAX_COHERE_CHARS: usize = 2_048;
/// Titan v2's output sizes.
const TITAN_DIMENSIONS: [u32; 3] = [256, 512, 1024];
const COHERE_DIMENSIONS: u32 = 1024;
const COHERE_INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

/// Which request and response bodies an embedding model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingFamily {
    TitanV2,
    CohereV3,
}

impl EmbeddingFamily {
    /// The family of a model id (base id, inference-profile id or ARN); `None` for a model
    /// this route cannot speak to.
    pub fn of(model_id: &str) -> Option<Self> {
        if model_id.contains("amazon.titan-embed-text-v2") {
            Some(Self::TitanV2)
        } else if model_id.contains("cohere.embed-english-v3")
            || model_id.contains("cohere.embed-multilingual-v3")
        {
            Some(Self::CohereV3)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingsRequest {
    pub model: String,
    /// A string, or a list of strings. Token-id arrays are not supported. (Defaulted so that a
    /// missing input is refused naming the field.)
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input: Value,
    /// Titan v2: 256, 512 or 1024 (default). Cohere v3: 1024.
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// `float` (default) or `base64` (little-endian f32).
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// Cohere only: `search_document` (default), `search_query`, `classification`, `clustering`.
    #[serde(default)]
    pub input_type: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    pub user: Option<String>,
}

/// A request checked against its model's family: the texts and the bodies to send.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingPlan {
    pub texts: Vec<String>,
    pub base64: bool,
    /// InvokeModel bodies: one per text (Titan) or one for all (Cohere).
    pub bodies: Vec<Vec<u8>>,
}

impl EmbeddingsRequest {
    fn texts(&self, max_inputs: usize, max_chars: usize) -> Result<Vec<String>, GatewayError> {
        let texts = match &self.input {
            Value::String(text) => vec![text.clone()],
            Value::Array(items) => {
                if items.len() > max_inputs {
                    return Err(GatewayError::invalid(
                        "input",
                        format!(
                            "at most {max_inputs} inputs per request for this model, got {}",
                            items.len()
                        ),
                    ));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::String(text) => Ok(text.clone()),
                        _ => Err(GatewayError::invalid(
                            format!("input[{i}]"),
                            "each input must be a string (token-id arrays are not supported)",
                        )),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => {
                return Err(GatewayError::invalid(
                    "input",
                    "input must be a string or a list of strings",
                ));
            }
        };
        if texts.is_empty() {
            return Err(GatewayError::invalid("input", "input must not be empty"));
        }
        for (i, text) in texts.iter().enumerate() {
            let field = || match self.input {
                Value::String(_) => "input".to_owned(),
                _ => format!("input[{i}]"),
            };
            if text.is_empty() {
                return Err(GatewayError::invalid(field(), "an input must not be empty"));
            }
            let chars = text.chars().count();
            if chars > max_chars {
                return Err(GatewayError::invalid(
                    field(),
                    format!(
                        "an input may have at most {max_chars} characters for this model, got {chars}"
                    ),
                ));
            }
        }
        Ok(texts)
    }

    /// Checks the request for `family` and builds the InvokeModel bodies.
    pub fn plan(&self, family: EmbeddingFamily) -> Result<EmbeddingPlan, GatewayError> {
        let base64 = match self.encoding_format.as_deref() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(GatewayError::invalid(
                    "encoding_format",
                    format!("expected \"float\" or \"base64\", got \"{other}\""),
                ));
            }
        };
        let (texts, bodies) = match family {
            EmbeddingFamily::TitanV2 => {
                let dimensions = self.dimensions.unwrap_or(1024);
                if !TITAN_DIMENSIONS.contains(&dimensions) {
                    return Err(GatewayError::invalid(
                        "dimensions",
                        format!(
                            "this model embeds in 256, 512 or 1024 dimensions, not {dimensions}"
                        ),
                    ));
                }
                if self.input_type.is_some() {
                    return Err(GatewayError::invalid(
                        "input_type",
                        "input_type applies to Cohere models only",
                    ));
                }
                let texts = self.texts(MAX_TITAN_INPUTS, MAX_TITAN_CHARS)?;
                let bodies = texts
                    .iter()
                    .map(|text| {
                        json!({"inputText": text, "dimensions": dimensions, "normalize": true})
                            .to_string()
                            .into_bytes()
                    })
                    .collect();
                (texts, bodies)
            }
            EmbeddingFamily::CohereV3 => {
                if let Some(d) = self.dimensions.filter(|d| *d != COHERE_DIMENSIONS) {
                    return Err(GatewayError::invalid(
                        "dimensions",
                        format!("this model embeds in {COHERE_DIMENSIONS} dimensions, not {d}"),
                    ));
                }
                let input_type = self.input_type.as_deref().unwrap_or("search_document");
                if !COHERE_INPUT_TYPES.contains(&input_type) {
                    return Err(GatewayError::invalid(
                        "input_type",
                        format!("expected one of {}", COHERE_INPUT_TYPES.join(", ")),
                    ));
                }
                let texts = self.texts(MAX_COHERE_INPUTS, MAX_COHERE_CHARS)?;
                let body = json!({"texts": texts, "input_type": input_type})
                    .to_string()
                    .into_bytes();
                (texts, vec![body])
            }
        };
        Ok(EmbeddingPlan {
            texts,
            base64,
            bodies,
        })
    }
}

/// The vectors in one InvokeModel answer: Titan's `embedding`, or Cohere's `embeddings`.
pub fn vectors(family: EmbeddingFamily, body: &[u8]) -> Result<Vec<Vec<f32>>, GatewayError> {
    let bad =
        |what: &str| GatewayError::Internal(format!("embedding model answered without {what}"));
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("a JSON body"))?;
    let parse = |v: &Value| -> Result<Vec<f32>, GatewayError> {
        v.as_array()
            .ok_or_else(|| bad("a vector"))?
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32).ok_or_else(|| bad("numbers")))
            .collect()
    };
    match family {
        EmbeddingFamily::TitanV2 => Ok(vec![parse(
            json.get("embedding").ok_or_else(|| bad("`embedding`"))?,
        )?]),
        EmbeddingFamily::CohereV3 => json
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`embeddings`"))?
            .iter()
            .map(parse)
            .collect(),
    }
}

/// The response body.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    /// The model that answered (its Bedrock id).
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Embedding {
    pub object: &'static str,
    pub index: usize,
    /// A list of floats, or their little-endian f32 bytes in base64.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub embedding: Value,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

impl EmbeddingList {
    pub fn new(model: String, vectors: Vec<Vec<f32>>, base64: bool, input_tokens: u64) -> Self {
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(index, vector)| Embedding {
                object: "embedding",
                index,
                embedding: if base64 {
                    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    json!(vector)
                },
            })
            .collect();
        Self {
            object: "list",
            data,
            model,
            usage: EmbeddingUsage {
                prompt_tokens: input_tokens,
                total_tokens: input_tokens,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> EmbeddingsRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn titan_one_body_per_input_cohere_one_for_all() {
        let r = request(json!({"model": "m", "input": ["a", "b"], "dimensions": 256}));
        let plan = r.plan(EmbeddingFamily::TitanV2).unwrap();
        assert_eq!(plan.bodies.len(), 2);
        let body: Value = serde_json::from_slice(&plan.bodies[1]).unwrap();
        assert_eq!(
            body,
            json!({"inputText": "b", "dimensions": 256, "normalize": true})
        );
        let r = request(json!({"model": "m", "input": ["a", "b"], "input_type": "search_query"}));
        let plan = r.plan(EmbeddingFamily::CohereV3).unwrap();
        assert_eq!(plan.bodies.len(), 1);
        let body: Value = serde_json::from_slice(&plan.bodies[0]).unwrap();
        assert_eq!(
            body,
            json!({"texts": ["a", "b"], "input_type": "search_query"})
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let field = |body: Value, family| {
            request(body)
                .plan(family)
                .unwrap_err()
                .field()
                .map(str::to_owned)
        };
        let titan = EmbeddingFamily::TitanV2;
        let cohere = EmbeddingFamily::CohereV3;
        assert_eq!(
            field(json!({"model": "m", "input": "a", "dimensions": 3}), titan).as_deref(),
            Some("dimensions")
        );
        assert_eq!(
            field(
                json!({"model": "m", "input": "a", "dimensions": 256}),
                cohere
            )
            .as_deref(),
            Some("dimensions")
        );
        assert_eq!(
            field(
                json!({"model": "m", "input": "a", "encoding_format": "hex"}),
                titan
            )
            .as_deref(),
            Some("encoding_format")
        );
        assert_eq!(
            field(json!({"model": "m", "input": vec!["a"; 33]}), titan).as_deref(),
            Some("input")
        );
        assert!(
            request(json!({"model": "m", "input": vec!["a"; 96]}))
                .plan(cohere)
                .is_ok()
        );
        assert_eq!(
            field(json!({"model": "m", "input": vec!["a"; 97]}), cohere).as_deref(),
            Some("input")
        );
        assert_eq!(
            field(
                json!({"model": "m", "input": ["a", "x".repeat(2049)]}),
                cohere
            )
            .as_deref(),
            Some("input[1]")
        );
        assert_eq!(
            field(json!({"model": "m", "input": "x".repeat(50_001)}), titan).as_deref(),
            Some("input")
        );
        assert_eq!(
            field(json!({"model": "m", "input": [[1, 2]]}), titan).as_deref(),
            Some("input[0]")
        );
        assert_eq!(
            field(json!({"model": "m", "input": []}), titan).as_deref(),
            Some("input")
        );
        assert_eq!(
            field(json!({"model": "m", "input": [""]}), titan).as_deref(),
            Some("input[0]")
        );
        assert_eq!(
            field(json!({"model": "m", "input": 5}), titan).as_deref(),
            Some("input")
        );
        assert_eq!(
            field(
                json!({"model": "m", "input": "a", "input_type": "x"}),
                cohere
            )
            .as_deref(),
            Some("input_type")
        );
    }

    #[test]
    fn families_vectors_and_base64() {
        assert_eq!(
            EmbeddingFamily::of("amazon.titan-embed-text-v2:0"),
            Some(EmbeddingFamily::TitanV2)
        );
        assert_eq!(
            EmbeddingFamily::of("us.cohere.embed-english-v3"),
            Some(EmbeddingFamily::CohereV3)
        );
        assert_eq!(EmbeddingFamily::of("amazon.titan-embed-text-v1"), None);
        let titan = vectors(
            EmbeddingFamily::TitanV2,
            br#"{"embedding":[0.5,-1],"inputTextTokenCount":1}"#,
        )
        .unwrap();
        assert_eq!(titan, vec![vec![0.5, -1.0]]);
        let cohere = vectors(EmbeddingFamily::CohereV3, br#"{"embeddings":[[1],[2]]}"#).unwrap();
        assert_eq!(cohere.len(), 2);
        assert!(vectors(EmbeddingFamily::CohereV3, b"{}").is_err());
        let list = EmbeddingList::new("m".into(), vec![vec![1.0, -2.0]], true, 3);
        let b64 = list.data[0].embedding.as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
        assert_eq!(list.usage.total_tokens, 3);
    }
}
