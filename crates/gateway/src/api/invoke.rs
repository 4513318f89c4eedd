//! InvokeModel: the body is the model provider's own JSON, passed through as bytes. The gateway
//! does not reinterpret a provider's native body; it reads usage from it where it can.

#[derive(Debug, Clone, PartialEq)]
pub struct InvokeRequest {
    pub model_id: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvokeResponse {
    pub body: Vec<u8>,
    pub content_type: String,
}

/// One chunk of InvokeModelWithResponseStream: the provider's JSON event, already base64-decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeChunk {
    pub bytes: Vec<u8>,
}
