//! Model ids as callers and configurations write them: a base id, an inference-profile id
//! (`us.<id>`) or a Bedrock ARN of either. Used by the configuration (which model a name
//! means), the price table and the catalogue routes alike.

/// Cross-region inference profile prefixes (`us.anthropic…`).
const PROFILE_PREFIXES: [&str; 8] = ["us-gov", "us", "eu", "apac", "global", "jp", "au", "ca"];

/// (profile geography, base model id) of a model id, inference-profile id or ARN:
/// `arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.x-v1:0` → (`us`, `anthropic.x-v1:0`).
pub fn split_model_id(model_id: &str) -> (Option<&str>, &str) {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    for prefix in PROFILE_PREFIXES {
        if let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
            && rest.contains('.')
        {
            return (Some(prefix), rest);
        }
    }
    (None, id)
}
