//! Which chain a request walks: the caller's name (model, alias, group or `auto`) or task route,
//! resolved to a fallback chain plus the decision and its reason for the `x-gateway-route`
//! header.

use crate::api::converse::{ContentBlock, ConverseRequest, ToolResultContent};
use crate::api::tasks::Task;
use crate::config::{GatewayConfig, ModelConfig, ModelGroup};
use crate::error::GatewayError;
use crate::resilience::{
    ClassifierConfig, FallbackChain, FallbackTarget, HealthStore, MetricsRouter,
    MetricsRouterConfig, RequestFeatures, RouteCandidate, SharedHealth, Strategy,
};

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A model id, alias, model group or the `auto` name.
    Model(&'a str),
    /// A task route, statically mapped to a model (or group) by configuration.
    Task(Task),
}

/// What a call may do besides its first target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flexibility {
    /// Converse: fall back across models, to the cache tier, and choose by content or metrics.
    AnyModel,
    /// InvokeModel carries the provider's own body: only the named model, in its regions.
    SameModel,
}

/// A request's resolved route.
#[derive(Debug, Clone)]
pub(crate) struct RoutePlan {
    pub chain: FallbackChain,
    /// What identical answers are shared under: the resolved model id or group name.
    pub scope: String,
    /// For the `x-gateway-route` header: `static`, `task:classify`, `complex:code+long(…)`,
    /// `group:fast:latency`.
    pub decision: String,
}

impl RoutePlan {
    /// (model, region) targets the chain expands to.
    pub fn target_count(&self) -> usize {
        self.chain
            .targets
            .iter()
            .map(|t| t.regions.len().max(1))
            .sum()
    }
}

pub(crate) async fn plan<H: HealthStore>(
    config: &GatewayConfig,
    health: &SharedHealth<H>,
    route: Route<'_>,
    request: Option<&ConverseRequest>,
    flexibility: Flexibility,
    now_ms: u64,
) -> Result<RoutePlan, GatewayError> {
    let (name, decision) = match route {
        Route::Task(task) => {
            let name = config.routes.get(&task).ok_or_else(|| {
                GatewayError::NotFound(format!("route '{}' is not configured", task.name()))
            })?;
            (name.as_str(), format!("task:{}", task.name()))
        }
        Route::Model(name) if config.is_auto(name) => {
            let Some(request) = request.filter(|_| flexibility == Flexibility::AnyModel) else {
                return Err(needs_concrete_model(name));
            };
            let (tier, reason) = classify(&config.routing.classifier, request);
            let target = config.tier_target(tier).ok_or_else(|| {
                GatewayError::Internal(format!("tier {} has no model", tier.as_str()))
            })?;
            (target, format!("{}:{reason}", tier.as_str()))
        }
        Route::Model(name) => (name, "static".to_owned()),
    };
    if let Some(model) = config.model(name) {
        let mut plan = model_plan(config, model, decision, flexibility);
        // Named through an inference profile: called through it, in the model's regions.
        if let Some(first) = plan.chain.targets.first_mut() {
            config.call_id(name, model).clone_into(&mut first.model_id);
        }
        return Ok(plan);
    }
    if let Some(group) = config.group(name) {
        if flexibility == Flexibility::SameModel {
            return Err(needs_concrete_model(name));
        }
        return group_plan(config, health, group, decision, now_ms).await;
    }
    Err(GatewayError::UnknownModel {
        model: name.to_owned(),
        allowed: config.allowed_names(),
    })
}

fn needs_concrete_model(name: &str) -> GatewayError {
    GatewayError::invalid(
        "modelId",
        format!("'{name}' chooses a model per request; this operation needs a concrete model"),
    )
}

fn target(model: &ModelConfig) -> FallbackTarget {
    FallbackTarget {
        model_id: model.id.clone(),
        regions: model.regions.clone(),
    }
}

/// The model in its regions, then its fallbacks in theirs.
fn model_plan(
    config: &GatewayConfig,
    model: &ModelConfig,
    decision: String,
    flexibility: Flexibility,
) -> RoutePlan {
    let mut targets = vec![target(model)];
    let mut cache_tier = false;
    if flexibility == Flexibility::AnyModel {
        targets.extend(
            model
                .fallbacks
                .iter()
                .filter_map(|n| config.model(n))
                .map(target),
        );
        cache_tier = config.cache_tier_for(model);
    }
    RoutePlan {
        chain: FallbackChain {
            targets,
            cache_tier,
        },
        scope: model.id.clone(),
        decision,
    }
}

/// The member chosen from shared health first, then the other members, then the chosen
/// member's own fallbacks.
async fn group_plan<H: HealthStore>(
    config: &GatewayConfig,
    health: &SharedHealth<H>,
    group: &ModelGroup,
    decision: String,
    now_ms: u64,
) -> Result<RoutePlan, GatewayError> {
    let members: Vec<&ModelConfig> = group
        .models
        .iter()
        .filter_map(|n| config.model(n))
        .collect();
    let candidates: Vec<RouteCandidate> = members
        .iter()
        .map(|m| RouteCandidate {
            health_key: m.id.clone(),
            price_per_1k_tokens: m.price_per_1k_tokens,
        })
        .collect();
    let keys: Vec<String> = candidates.iter().map(|c| c.health_key.clone()).collect();
    let snapshot = health.snapshot(&keys, now_ms).await;
    let router = MetricsRouter::new(MetricsRouterConfig {
        strategy: group.strategy,
        stale_after_ms: group.stale_after_ms,
    });
    let chosen = router
        .choose(&candidates, &snapshot, now_ms, &mut fastrand::Rng::new())
        .and_then(|i| members.get(i).copied())
        .ok_or_else(|| GatewayError::Internal(format!("group '{}' has no models", group.name)))?;
    let mut targets = vec![target(chosen)];
    targets.extend(
        members
            .iter()
            .filter(|m| m.id != chosen.id)
            .map(|m| target(m)),
    );
    targets.extend(
        chosen
            .fallbacks
            .iter()
            .filter_map(|n| config.model(n))
            .map(target),
    );
    let strategy = match group.strategy {
        Strategy::Latency => "latency",
        Strategy::Cost => "cost",
        Strategy::Health => "health",
    };
    let decision = if decision == "static" {
        format!("group:{}:{strategy}", group.name)
    } else {
        format!("{decision} group:{}:{strategy}", group.name)
    };
    Ok(RoutePlan {
        chain: FallbackChain {
            targets,
            cache_tier: config.cache_tier_for(chosen),
        },
        scope: format!("group:{}", group.name),
        decision,
    })
}

/// The classifier's view of a Converse request.
fn classify(
    config: &ClassifierConfig,
    request: &ConverseRequest,
) -> (crate::resilience::Tier, String) {
    let mut texts: Vec<&str> = request.system_texts().collect();
    for message in &request.messages {
        for block in &message.content {
            match block {
                ContentBlock::Text(text) => texts.push(text),
                ContentBlock::ToolResult(result) => {
                    texts.extend(result.content.iter().filter_map(|c| match c {
                        ToolResultContent::Text(text) => Some(text.as_str()),
                        _ => None,
                    }));
                }
                _ => {}
            }
        }
    }
    let features = RequestFeatures {
        texts,
        message_count: request.messages.len(),
        tools_present: request
            .tool_config
            .as_ref()
            .is_some_and(|t| !t.tools.is_empty()),
        max_tokens: request.inference_config.as_ref().and_then(|c| c.max_tokens),
    };
    config.classify(&features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::HealthConfig;
    use crate::resilience::in_memory::InMemoryHealthStore;

    fn config(json: &str) -> GatewayConfig {
        GatewayConfig::parse("test", json).unwrap()
    }

    fn health() -> SharedHealth<InMemoryHealthStore> {
        SharedHealth::new(InMemoryHealthStore::default(), HealthConfig::default())
    }

    fn ask(text: &str) -> ConverseRequest {
        serde_json::from_value(serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": text}]}]
        }))
        .unwrap()
    }

    const CHAIN: &str = r#"{
        "models": [
            {"id": "big", "aliases": ["large"], "regions": ["us-east-1", "us-west-2"], "fallbacks": ["small"]},
            {"id": "mid", "aliases": ["medium"]},
            {"id": "tiny", "aliases": ["small"], "cache_tier": false}
        ],
        "routes": {"classify": "small", "generate": "large", "analyze": "fast"},
        "routing": {"groups": [{"name": "fast", "models": ["tiny", "mid"]}]}
    }"#;

    #[tokio::test]
    async fn a_model_expands_to_its_regions_then_its_fallbacks() {
        let config = config(CHAIN);
        let plan = plan(
            &config,
            &health(),
            Route::Model("large"),
            Some(&ask("hi")),
            Flexibility::AnyModel,
            0,
        )
        .await
        .unwrap();
        assert_eq!(plan.chain.targets.len(), 2);
        assert_eq!(plan.target_count(), 3);
        assert!(plan.chain.cache_tier);
        assert_eq!(
            (plan.scope.as_str(), plan.decision.as_str()),
            ("big", "static")
        );

        let same = plan_for_invoke(&config, "large").await.unwrap();
        assert_eq!(same.chain.targets.len(), 1);
        assert!(!same.chain.cache_tier);
        assert_eq!(
            plan_for_invoke(&config, "fast").await.unwrap_err().field(),
            Some("modelId")
        );
    }

    #[tokio::test]
    async fn a_profile_id_calls_the_profile_with_the_models_fallbacks() {
        let config = config(CHAIN);
        let not_a_profile = plan_for_invoke(&config, "us.big").await;
        assert!(
            not_a_profile.is_err(),
            "'big' has no dot, so 'us.big' is no profile of it"
        );
        let config = GatewayConfig::parse(
            "test",
            r#"{"models":[{"id":"anthropic.big-v1:0","fallbacks":["anthropic.small-v1:0"]},
                          {"id":"anthropic.small-v1:0"}],"routes":{}}"#,
        )
        .unwrap();
        let plan = plan(
            &config,
            &health(),
            Route::Model("global.anthropic.big-v1:0"),
            Some(&ask("x")),
            Flexibility::AnyModel,
            0,
        )
        .await
        .unwrap();
        let ids: Vec<&str> = plan
            .chain
            .targets
            .iter()
            .map(|t| t.model_id.as_str())
            .collect();
        assert_eq!(ids, ["global.anthropic.big-v1:0", "anthropic.small-v1:0"]);
        assert_eq!(plan.scope, "anthropic.big-v1:0");
    }

    async fn plan_for_invoke(
        config: &GatewayConfig,
        name: &str,
    ) -> Result<RoutePlan, GatewayError> {
        plan(
            config,
            &health(),
            Route::Model(name),
            None,
            Flexibility::SameModel,
            0,
        )
        .await
    }

    #[tokio::test]
    async fn auto_routes_by_content_and_says_why() {
        let config = config(CHAIN);
        let short = plan(
            &config,
            &health(),
            Route::Model("auto"),
            Some(&ask("What is 2+2?")),
            Flexibility::AnyModel,
            0,
        )
        .await
        .unwrap();
        assert_eq!(short.chain.targets[0].model_id, "tiny");
        assert_eq!(short.decision, "simple:short(12 chars)");
        let review = format!(
            "Please review this code:\n```rust\n{}```",
            "let x = 1;\n".repeat(400)
        );
        let long = plan(
            &config,
            &health(),
            Route::Model("auto"),
            Some(&ask(&review)),
            Flexibility::AnyModel,
            0,
        )
        .await
        .unwrap();
        assert_eq!(long.chain.targets[0].model_id, "big");
        assert!(
            long.decision.starts_with("complex:code+long("),
            "{}",
            long.decision
        );
    }

    #[tokio::test]
    async fn a_group_puts_the_healthier_member_first() {
        let config = config(CHAIN);
        let health = health();
        for i in 0..5 {
            health.observe("tiny", 1_000 + i, 3_000.0, true);
            health.observe("mid", 1_000 + i, 100.0, true);
        }
        for _ in 0..20 {
            let plan = plan(
                &config,
                &health,
                Route::Task(Task::Analyze),
                Some(&ask("x")),
                Flexibility::AnyModel,
                2_000,
            )
            .await
            .unwrap();
            let order: Vec<&str> = plan
                .chain
                .targets
                .iter()
                .map(|t| t.model_id.as_str())
                .collect();
            assert_eq!(order, ["mid", "tiny"]);
            assert_eq!(plan.decision, "task:analyze group:fast:latency");
            assert_eq!(plan.scope, "group:fast");
        }
    }

    #[tokio::test]
    async fn unknown_names_list_what_is_allowed() {
        let config = config(CHAIN);
        let err = plan(
            &config,
            &health(),
            Route::Model("gpt"),
            Some(&ask("x")),
            Flexibility::AnyModel,
            0,
        )
        .await
        .unwrap_err();
        let GatewayError::UnknownModel { allowed, .. } = err else {
            panic!("expected UnknownModel, got {err:?}");
        };
        assert!(allowed.contains(&"fast".to_owned()) && allowed.contains(&"auto".to_owned()));
    }
}
