//! Reading a JSON body: size limit → 413, bad JSON or a wrong field → 400 naming the field path.

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use gateway::GatewayError;
use http::StatusCode;
use serde::de::DeserializeOwned;

pub fn bytes_or_error(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    match body {
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(GatewayError::PayloadTooLarge { limit })
        }
        Err(rejection) => Err(GatewayError::InvalidRequest {
            field: None,
            message: rejection.body_text(),
        }),
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::InvalidRequest {
            field: None,
            message: "request body must be a JSON object".into(),
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A field missing from, or unknown to, the top-level object fails at the root (`.`)
        // but is well-formed JSON: name the field, as for any nested one.
        let message = inner.to_string();
        if path == "."
            && inner.is_data()
            && let Some(field) = named_field(&message)
        {
            return GatewayError::InvalidRequest {
                field: Some(field.to_owned()),
                message: format!("{field}: {message}"),
            };
        }
        if path == "." || inner.is_syntax() || inner.is_eof() {
            GatewayError::InvalidRequest {
                field: None,
                message: format!("malformed JSON: {inner}"),
            }
        } else {
            GatewayError::InvalidRequest {
                field: Some(path.clone()),
                message: format!("{path}: {inner}"),
            }
        }
    })
}

/// The field serde names in "missing field `x`" / "unknown field `x`, expected …".
fn named_field(message: &str) -> Option<&str> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next())
        .filter(|field| !field.is_empty())
}

pub fn read_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, GatewayError> {
    parse_json(&bytes_or_error(body, limit)?)
}
