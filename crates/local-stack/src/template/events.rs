//! The template's EventBridge side: `AWS::Events::EventBus` and `AWS::Events::Rule` (pattern
//! and targets), so the offline run routes `GenAI Job Requested` events to the jobs queue the
//! way the deployed bus does.

use super::{ResourceAttributes, Template, TemplateError, at, get, mapping};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// A rule with its references resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub logical_id: String,
    /// The bus's name (`default` when the rule names none).
    pub bus: String,
    /// The event pattern as JSON text.
    pub pattern: String,
    /// `(Id, Arn)` of each target.
    pub targets: Vec<(String, String)>,
}

impl Template {
    /// Logical ids of the buses whose condition holds.
    /// The S3 buckets' logical ids (present under the conditions).
    pub fn buckets(&self) -> Result<Vec<String>, TemplateError> {
        Ok(self
            .present("AWS::S3::Bucket")?
            .iter()
            .map(|r| r.logical_id.clone())
            .collect())
    }

    pub fn event_buses(&self) -> Result<Vec<String>, TemplateError> {
        Ok(self
            .present("AWS::Events::EventBus")?
            .iter()
            .map(|r| r.logical_id.clone())
            .collect())
    }

    /// The rules, resolved against the local resources (buses and queues must exist).
    pub fn event_rules(
        &self,
        resources: &dyn ResourceAttributes,
    ) -> Result<Vec<RuleSpec>, TemplateError> {
        let evaluator = self.evaluator(resources);
        let mut rules = Vec::new();
        for resource in self.present("AWS::Events::Rule")? {
            let path = format!("Resources.{}.Properties", resource.logical_id);
            let p = &resource.properties;
            let bus = resource
                .string_property(&evaluator, "EventBusName")?
                .unwrap_or_else(|| "default".to_owned());
            let pattern = match get(p, "EventPattern") {
                Some(v) => evaluator.eval(v, &format!("{path}.EventPattern"))?,
                None => None,
            }
            .ok_or_else(|| at(format!("{path}.EventPattern"), "is required locally"))?;
            let pattern = match pattern {
                Json::String(s) => s,
                other => other.to_string(),
            };
            let mut targets = Vec::new();
            if let Some(Yaml::Sequence(list)) = get(p, "Targets") {
                for (i, target) in list.iter().enumerate() {
                    let target = mapping(Some(target));
                    let field = |name: &str| -> Result<String, TemplateError> {
                        let path = format!("{path}.Targets[{i}].{name}");
                        get(&target, name)
                            .map(|v| evaluator.string(v, &path))
                            .transpose()?
                            .flatten()
                            .ok_or_else(|| at(path, "is required"))
                    };
                    targets.push((field("Id")?, field("Arn")?));
                }
            }
            rules.push(RuleSpec {
                logical_id: resource.logical_id.clone(),
                bus,
                pattern,
                targets,
            });
        }
        Ok(rules)
    }
}
