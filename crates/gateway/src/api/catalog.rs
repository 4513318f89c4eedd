//! Bedrock's control-plane reads that clients send to the runtime's base URL (Claude Code asks
//! `GET /inference-profiles?type=SYSTEM_DEFINED` on every run): ListInferenceProfiles,
//! GetInferenceProfile and ListFoundationModels, in the `bedrock` API's shapes, answered from
//! the configured models only and only those the caller may use.
//!
//! A configured base model is offered through the system-defined profiles of the geographies
//! its `profiles` allow (all of `us`, `eu`, `apac`, `global` when unset); a configured profile id
//! is offered as itself. ARNs carry the home region and a placeholder account, since the gateway
//! is not an AWS account: clients match profiles by id.

use crate::config::{GatewayConfig, ModelConfig, ModelKind, strip_bedrock_arn};
use crate::error::GatewayError;
use crate::model_id::split_model_id;
use serde::Serialize;

/// Geographies a base model is listed under when its `profiles` are unset.
const LISTED_GEOGRAPHIES: [&str; 4] = ["us", "eu", "apac", "global"];
/// The account in listed ARNs: the gateway's profiles belong to no AWS account.
const ACCOUNT: &str = "000000000000";
/// Listed as both creation and update time: configuration has no history.
const EPOCH: &str = "2024-01-01T00:00:00Z";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceProfile {
    pub inference_profile_name: String,
    pub description: String,
    pub created_at: &'static str,
    pub updated_at: &'static str,
    pub inference_profile_arn: String,
    pub models: Vec<ProfileModel>,
    pub inference_profile_id: String,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileModel {
    pub model_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundationModel {
    pub model_arn: String,
    pub model_id: String,
    pub model_name: String,
    pub provider_name: String,
    pub input_modalities: Vec<&'static str>,
    pub output_modalities: Vec<&'static str>,
    pub response_streaming_supported: bool,
    pub customizations_supported: Vec<&'static str>,
    pub inference_types_supported: Vec<&'static str>,
    pub model_lifecycle: Lifecycle,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lifecycle {
    pub status: &'static str,
}

/// What the listings are built from: the configuration, the caller's allow-list (empty: every
/// model) and the region ARNs name.
pub struct Catalog<'a> {
    pub config: &'a GatewayConfig,
    pub allowed: &'a [String],
    pub region: &'a str,
}

impl Catalog<'_> {
    fn usable(&self) -> impl Iterator<Item = &ModelConfig> {
        self.config
            .models
            .iter()
            .filter(|m| self.config.permits(self.allowed, &m.id))
    }

    /// Every system-defined profile of a model the caller may use, in configuration order.
    pub fn profiles(&self) -> Vec<InferenceProfile> {
        let mut listed: Vec<InferenceProfile> = Vec::new();
        // Embedding models have no cross-region inference profiles on Bedrock.
        let chat = |m: &&ModelConfig| m.kind() == ModelKind::Chat;
        for model in self.usable().filter(chat) {
            let id = strip_bedrock_arn(&model.id).unwrap_or(&model.id);
            let ids: Vec<String> = match split_model_id(id) {
                (Some(_), _) => vec![id.to_owned()],
                (None, base) => {
                    let geographies: Vec<&str> = if model.profiles.is_empty() {
                        LISTED_GEOGRAPHIES.to_vec()
                    } else {
                        model.profiles.iter().map(String::as_str).collect()
                    };
                    geographies.iter().map(|g| format!("{g}.{base}")).collect()
                }
            };
            for profile_id in ids {
                if listed.iter().all(|p| p.inference_profile_id != profile_id) {
                    listed.push(self.profile(&profile_id));
                }
            }
        }
        listed
    }

    /// One profile by id or ARN, if the caller may use it; 404 / 403 as Bedrock answers.
    pub fn profile_by_id(&self, identifier: &str) -> Result<InferenceProfile, GatewayError> {
        let not_found =
            || GatewayError::NotFound(format!("inference profile '{identifier}' does not exist"));
        let id = strip_bedrock_arn(identifier).ok_or_else(not_found)?;
        let model = self.config.model(id).ok_or_else(not_found)?;
        if !self.config.permits(self.allowed, &model.id) {
            return Err(GatewayError::Forbidden(format!(
                "this API key may not use model '{}'",
                model.id
            )));
        }
        self.profiles()
            .into_iter()
            .find(|p| p.inference_profile_id == id)
            .ok_or_else(not_found)
    }

    fn profile(&self, profile_id: &str) -> InferenceProfile {
        let (geography, base) = split_model_id(profile_id);
        let geography = geography.unwrap_or_default();
        InferenceProfile {
            inference_profile_name: format!("{} {base}", geography.to_uppercase()),
            description: format!("Routes requests to {base} through the gateway"),
            created_at: EPOCH,
            updated_at: EPOCH,
            inference_profile_arn: format!(
                "arn:aws:bedrock:{}:{ACCOUNT}:inference-profile/{profile_id}",
                self.region
            ),
            models: vec![ProfileModel {
                model_arn: self.model_arn(base),
            }],
            inference_profile_id: profile_id.to_owned(),
            status: "ACTIVE",
            kind: "SYSTEM_DEFINED",
        }
    }

    fn model_arn(&self, base: &str) -> String {
        format!("arn:aws:bedrock:{}::foundation-model/{base}", self.region)
    }

    /// The base models of the models the caller may use, once each.
    pub fn foundation_models(&self) -> Vec<FoundationModel> {
        let mut listed: Vec<FoundationModel> = Vec::new();
        for model in self.usable() {
            let id = strip_bedrock_arn(&model.id).unwrap_or(&model.id);
            let base = split_model_id(id).1;
            if listed.iter().any(|m| m.model_id == base) {
                continue;
            }
            let provider = base.split('.').next().unwrap_or(base);
            let embedding = base.contains("embed");
            listed.push(FoundationModel {
                model_arn: self.model_arn(base),
                model_id: base.to_owned(),
                model_name: model
                    .aliases
                    .first()
                    .cloned()
                    .unwrap_or_else(|| base.to_owned()),
                provider_name: provider_name(provider),
                input_modalities: vec!["TEXT"],
                output_modalities: vec![if embedding { "EMBEDDING" } else { "TEXT" }],
                response_streaming_supported: !embedding,
                customizations_supported: Vec::new(),
                inference_types_supported: vec!["ON_DEMAND", "INFERENCE_PROFILE"],
                model_lifecycle: Lifecycle { status: "ACTIVE" },
            });
        }
        listed
    }
}

/// Bedrock's display name of a provider, from the id's first part.
fn provider_name(prefix: &str) -> String {
    match prefix {
        "anthropic" => "Anthropic".to_owned(),
        "amazon" => "Amazon".to_owned(),
        "meta" => "Meta".to_owned(),
        "cohere" => "Cohere".to_owned(),
        "mistral" => "Mistral AI".to_owned(),
        "ai21" => "AI21 Labs".to_owned(),
        "deepseek" => "DeepSeek".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HAIKU, NOVA_LITE, SONNET, TITAN_EMBED};

    fn ids(profiles: &[InferenceProfile]) -> Vec<&str> {
        profiles
            .iter()
            .map(|p| p.inference_profile_id.as_str())
            .collect()
    }

    #[test]
    fn profiles_follow_the_config_and_the_allow_list() {
        let config = GatewayConfig::parse(
            "test",
            &format!(
                r#"{{"models":[{{"id":"{HAIKU}","aliases":["haiku"],"profiles":["us","global"]}},
                    {{"id":"eu.{SONNET}"}},{{"id":"{NOVA_LITE}"}},{{"id":"{TITAN_EMBED}"}}],"routes":{{}}}}"#
            ),
        )
        .unwrap();
        let all = Catalog {
            config: &config,
            allowed: &[],
            region: "us-east-1",
        };
        let profiles = all.profiles();
        assert_eq!(
            ids(&profiles),
            [
                format!("us.{HAIKU}"),
                format!("global.{HAIKU}"),
                format!("eu.{SONNET}"),
                format!("us.{NOVA_LITE}"),
                format!("eu.{NOVA_LITE}"),
                format!("apac.{NOVA_LITE}"),
                format!("global.{NOVA_LITE}"),
            ]
        );
        assert_eq!(
            profiles[0].models[0].model_arn,
            format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}")
        );
        let json = serde_json::to_value(&profiles[0]).unwrap();
        assert_eq!(json["type"], "SYSTEM_DEFINED");
        assert_eq!(json["inferenceProfileId"], format!("us.{HAIKU}"));

        let allowed = ["haiku".to_owned()];
        let haiku_only = Catalog {
            config: &config,
            allowed: &allowed,
            region: "us-east-1",
        };
        assert_eq!(
            ids(&haiku_only.profiles()),
            [format!("us.{HAIKU}"), format!("global.{HAIKU}")]
        );
        let arn =
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.{HAIKU}");
        assert_eq!(
            haiku_only.profile_by_id(&arn).unwrap().inference_profile_id,
            format!("global.{HAIKU}")
        );
        assert!(matches!(
            haiku_only.profile_by_id(&format!("eu.{HAIKU}")),
            Err(GatewayError::NotFound(_))
        ));
        assert!(matches!(
            haiku_only.profile_by_id(&format!("us.{NOVA_LITE}")),
            Err(GatewayError::Forbidden(_))
        ));
        let models = haiku_only.foundation_models();
        assert_eq!(models.len(), 1);
        assert_eq!(
            (
                models[0].model_id.as_str(),
                models[0].provider_name.as_str()
            ),
            (HAIKU, "Anthropic")
        );
        let everything = Catalog {
            config: &config,
            allowed: &[],
            region: "us-east-1",
        };
        // Three chat models and one embedding model (which has no inference profiles above).
        assert_eq!(everything.foundation_models().len(), 4);
    }
}
