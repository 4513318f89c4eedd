//! What a caller's model name means for the controls: the scope limits are counted under (the
//! same scope the fallback tier keys answers by), every name a key's per-model limits may use
//! for it, and every model the route may end up calling *that the caller may use* — the
//! worst-case price of a reservation is the highest of theirs. The allow-list is applied to
//! the models themselves, never to the name asked for: `auto`, a group or an alias cannot
//! reach a model the key may not call (the call path checks each target again when it calls).

use crate::api::tasks::Task;
use crate::config::{GatewayConfig, ModelConfig};
use crate::error::GatewayError;
use crate::ports::Target;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// The model id, `group:<name>`, or `auto:<name>`.
    pub scope: String,
    /// The scope, the name asked for, and every id and alias it resolves to: what per-model
    /// limits are looked up by.
    pub names: Vec<String>,
    /// Every (model, region) the route may call for this caller: the chain and its
    /// fallbacks, without the models outside the caller's allow-list. Never empty.
    pub candidates: Vec<Target>,
}

/// The model name a task route is configured with.
pub fn task_model(config: &GatewayConfig, task: Task) -> Result<&str, GatewayError> {
    config
        .routes
        .get(&task)
        .map(String::as_str)
        .ok_or_else(|| GatewayError::NotFound(format!("route '{}' is not configured", task.name())))
}

/// Resolves a caller's name (model id, alias, group or the `auto` name) for a caller whose
/// allow-list is `allowed` (empty: every model). 403 naming the model when the caller may use
/// none of the models the name can reach.
pub fn resolve(
    config: &GatewayConfig,
    name: &str,
    allowed: &[String],
) -> Result<ModelRef, GatewayError> {
    let mut names = BTreeSet::from([name.to_owned()]);
    let mut models: Vec<&ModelConfig> = Vec::new();
    let scope = if let Some(model) = config.model(name) {
        models.push(model);
        model.id.clone()
    } else if let Some(group) = config.group(name) {
        models.extend(group.models.iter().filter_map(|m| config.model(m)));
        format!("group:{}", group.name)
    } else if config.is_auto(name) {
        for tier in [
            crate::resilience::Tier::Simple,
            crate::resilience::Tier::Medium,
            crate::resilience::Tier::Complex,
        ] {
            if let Some(target) = config.tier_target(tier) {
                names.insert(target.to_owned());
                if let Some(model) = config.model(target) {
                    models.push(model);
                } else if let Some(group) = config.group(target) {
                    models.extend(group.models.iter().filter_map(|m| config.model(m)));
                }
            }
        }
        format!("auto:{name}")
    } else {
        return Err(GatewayError::UnknownModel {
            model: name.to_owned(),
            allowed: config.names_for(allowed),
        });
    };
    names.insert(scope.clone());
    for model in &models {
        names.insert(model.id.clone());
        names.extend(model.aliases.iter().cloned());
    }
    // Fallbacks are priced but are not names of the requested model.
    let mut reachable: Vec<&ModelConfig> = models.clone();
    for model in &models {
        reachable.extend(model.fallbacks.iter().filter_map(|f| config.model(f)));
    }
    let mut candidates = Vec::new();
    let first = reachable.first().map(|m| m.id.clone());
    for model in reachable {
        if !config.permits(allowed, &model.id) {
            continue;
        }
        if model.regions.is_empty() {
            push_unique(&mut candidates, Target::new(model.id.clone()));
        }
        for region in &model.regions {
            push_unique(
                &mut candidates,
                Target::in_region(model.id.clone(), region.clone()),
            );
        }
    }
    if candidates.is_empty() {
        let model = first.unwrap_or_else(|| name.to_owned());
        return Err(GatewayError::Forbidden(format!(
            "this API key may not use model '{model}'"
        )));
    }
    // The scope first: per-model limits match it before aliases.
    let mut ordered = vec![scope.clone()];
    ordered.extend(names.into_iter().filter(|n| *n != scope));
    Ok(ModelRef {
        scope,
        names: ordered,
        candidates,
    })
}

fn push_unique(targets: &mut Vec<Target>, target: Target) {
    if !targets.contains(&target) {
        targets.push(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HAIKU, NOVA_LITE, SONNET};

    #[test]
    fn a_model_alias_resolves_with_its_fallbacks_priced() {
        let config = GatewayConfig::parse(
            "test",
            &r#"{"models":[{"id":"SONNET","aliases":["large"],"fallbacks":["small"],"regions":["us-east-1","us-west-2"]},
                          {"id":"HAIKU","aliases":["small"]}],
                 "routes":{},
                 "routing":{"groups":[{"name":"fast","models":["small"]}]}}"#
                .replace("SONNET", SONNET)
                .replace("HAIKU", HAIKU),
        )
        .unwrap();
        let large = resolve(&config, "large", &[]).unwrap();
        assert_eq!(large.scope, SONNET);
        assert_eq!(large.names[0], SONNET);
        assert!(large.names.contains(&"large".to_owned()));
        assert!(
            !large.names.contains(&"small".to_owned()),
            "a fallback is not a name"
        );
        assert_eq!(large.candidates.len(), 3);
        assert!(large.candidates.contains(&Target::new(HAIKU)));
        let group = resolve(&config, "fast", &[]).unwrap();
        assert_eq!(group.scope, "group:fast");
        assert!(group.names.contains(&HAIKU.to_owned()));
        assert!(resolve(&config, "gpt-5", &[]).is_err());
    }

    #[test]
    fn auto_prices_every_tier() {
        let config = GatewayConfig::default();
        let auto = resolve(&config, "auto", &[]).unwrap();
        assert_eq!(auto.scope, "auto:auto");
        for id in [HAIKU, NOVA_LITE, SONNET] {
            assert!(auto.candidates.contains(&Target::new(id)), "{id}");
        }
        assert_eq!(task_model(&config, Task::Classify).unwrap(), "small");
    }

    /// The review's bypass: a key allowed only `haiku` asked for `auto` and got Sonnet,
    /// because the allow-list was matched against every tier's names.
    #[test]
    fn an_allow_list_applies_to_the_models_not_the_name_asked_for() {
        let config = GatewayConfig::default();
        let haiku_only = vec!["haiku".to_owned()];
        let auto = resolve(&config, "auto", &haiku_only).unwrap();
        assert_eq!(auto.candidates, vec![Target::new(HAIKU)]);
        let sonnet = resolve(&config, "sonnet", &haiku_only).unwrap_err();
        assert_eq!(sonnet.status_code(), 403);
        assert!(sonnet.to_string().contains(SONNET), "{sonnet}");
        let everything = resolve(&config, "auto", &["auto".to_owned()]).unwrap();
        assert!(everything.candidates.contains(&Target::new(SONNET)));
    }
}
