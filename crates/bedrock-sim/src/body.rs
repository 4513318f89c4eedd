//! Request bodies parsed with the failing field named, and each API's wording of a body it
//! rejects: restJson1 operations say "Malformed request body at `path`", InvokeModel bodies are
//! checked against a JSON schema ("Malformed input request: #/path: ...").

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `body` parsed as `T`; a failure becomes `error(path, what serde said)`.
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: &[u8],
    error: impl FnOnce(String, String) -> ApiError,
) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|err| error(err.path().to_string(), err.inner().to_string()))
}

/// A Converse or CountTokens body that does not parse.
pub(crate) fn rest_json_error(path: String, inner: String) -> ApiError {
    ApiError::validation(format!("Malformed request body at `{path}`: {inner}"))
}

/// An InvokeModel body the model's schema rejects.
pub(crate) fn malformed(detail: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

/// An InvokeModel body that does not parse against a strict schema (one with no extra keys).
pub(crate) fn schema_error(path: String, inner: String) -> ApiError {
    if inner.starts_with("unknown field") {
        let key = inner.split('`').nth(1).unwrap_or("?");
        malformed(format!("#: extraneous key [{key}] is not permitted"))
    } else {
        malformed(format!("#/{}: {inner}", path.replace('.', "/")))
    }
}
