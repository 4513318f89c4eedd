//! CloudFormation intrinsic functions, evaluated the way the deployed stack would evaluate them
//! with every parameter at its Default (or a local override): `Ref`, `Fn::GetAtt`, `Fn::Sub`,
//! `Fn::If`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`, `Fn::Join`, `Fn::Split`,
//! `Fn::Select`, `Fn::Contains`, in short (`!Ref`) and long (`{"Ref": ..}`) form.
//!
//! Evaluation is lazy: only the properties the offline stack needs are evaluated, so the many
//! deploy-only properties (IAM, alarms, WAF, ...) never have to be understood here. A function
//! the evaluator does not know fails with the path where it appears, never silently.

use super::{Template, TemplateError};
use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;

/// What `Ref` and `Fn::GetAtt` of a resource give locally. Before the resources exist
/// (phase one of a start) nothing resolves, which is fine for literal properties.
pub trait ResourceAttributes {
    fn reference(&self, logical_id: &str) -> Option<Json>;
    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Json>;
}

/// No resource resolves (for properties that must be literal or parameter-only).
pub struct NoResources;

impl ResourceAttributes for NoResources {
    fn reference(&self, _: &str) -> Option<Json> {
        None
    }
    fn attribute(&self, _: &str, _: &str) -> Option<Json> {
        None
    }
}

/// The pseudo parameters as the local stack answers them (moto's default account).
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";
pub const STACK_NAME: &str = "local";

const MAX_DEPTH: usize = 64;

pub struct Evaluator<'a> {
    template: &'a Template,
    resources: &'a dyn ResourceAttributes,
}

fn err(path: &str, message: impl Into<String>) -> TemplateError {
    TemplateError::At {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The intrinsic a YAML node calls, if it is one: (function name in long form, argument).
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = match name {
                "Ref" | "Condition" => name.to_owned(),
                other => format!("Fn::{other}"),
            };
            Some((long, &tagged.value))
        }
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            let is_function = key == "Ref"
                || key.starts_with("Fn::")
                || (key == "Condition" && argument.is_string());
            is_function.then(|| (key.to_owned(), argument))
        }
        _ => None,
    }
}

/// A JSON value as the string CloudFormation would substitute (scalars only).
pub fn scalar_string(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(template: &'a Template, resources: &'a dyn ResourceAttributes) -> Self {
        Self {
            template,
            resources,
        }
    }

    /// The value of `value`; `None` when it is `AWS::NoValue` (the property is absent).
    pub fn eval(&self, value: &Yaml, path: &str) -> Result<Option<Json>, TemplateError> {
        self.eval_at(value, path, 0)
    }

    /// A value that must be present and a scalar, as a string (environment variables, queue
    /// attributes).
    pub fn string(&self, value: &Yaml, path: &str) -> Result<Option<String>, TemplateError> {
        match self.eval(value, path)? {
            None => Ok(None),
            Some(json) => scalar_string(&json)
                .map(Some)
                .ok_or_else(|| err(path, format!("expected a string, got {json}"))),
        }
    }

    /// Evaluates a named condition of the `Conditions` section.
    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        self.condition_at(name, "Conditions", 0)
    }

    fn condition_at(&self, name: &str, path: &str, depth: usize) -> Result<bool, TemplateError> {
        let body = self
            .template
            .conditions
            .get(name)
            .ok_or_else(|| err(path, format!("unknown condition {name}")))?;
        let here = format!("Conditions.{name}");
        self.boolean(body, &here, depth + 1)
    }

    fn boolean(&self, value: &Yaml, path: &str, depth: usize) -> Result<bool, TemplateError> {
        match self.eval_at(value, path, depth)? {
            Some(Json::Bool(b)) => Ok(b),
            Some(Json::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            other => Err(err(path, format!("expected a condition, got {other:?}"))),
        }
    }

    fn eval_at(
        &self,
        value: &Yaml,
        path: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                "intrinsics nested too deeply (a condition refers to itself?)",
            ));
        }
        if let Some((function, argument)) = intrinsic(value) {
            let here = format!("{path}.{function}");
            return self.call(&function, argument, &here, depth + 1);
        }
        Ok(Some(match value {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n).map_err(|e| err(path, e.to_string()))?,
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.eval_at(item, &format!("{path}[{i}]"), depth + 1)? {
                        out.push(v);
                    }
                }
                Json::Array(out)
            }
            Yaml::Mapping(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let key = key
                        .as_str()
                        .ok_or_else(|| err(path, format!("mapping key {key:?} is not a string")))?;
                    if let Some(v) = self.eval_at(item, &format!("{path}.{key}"), depth + 1)? {
                        out.insert(key.to_owned(), v);
                    }
                }
                Json::Object(out)
            }
            Yaml::Tagged(tagged) => return Err(err(path, format!("unknown tag {}", tagged.tag))),
        }))
    }

    fn args<'v>(
        &self,
        argument: &'v Yaml,
        path: &str,
        count: usize,
    ) -> Result<&'v [Yaml], TemplateError> {
        match argument {
            Yaml::Sequence(items) if items.len() == count => Ok(items),
            _ => Err(err(path, format!("expects a list of {count}"))),
        }
    }

    fn required(&self, value: &Yaml, path: &str, depth: usize) -> Result<Json, TemplateError> {
        self.eval_at(value, path, depth)?
            .ok_or_else(|| err(path, "AWS::NoValue where a value is required"))
    }

    fn string_arg(&self, value: &Yaml, path: &str, depth: usize) -> Result<String, TemplateError> {
        let json = self.required(value, path, depth)?;
        scalar_string(&json).ok_or_else(|| err(path, format!("expected a string, got {json}")))
    }

    fn list_arg(&self, value: &Yaml, path: &str, depth: usize) -> Result<Vec<Json>, TemplateError> {
        match self.required(value, path, depth)? {
            Json::Array(items) => Ok(items),
            other => Err(err(path, format!("expected a list, got {other}"))),
        }
    }

    fn call(
        &self,
        function: &str,
        argument: &Yaml,
        path: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        match function {
            "Ref" => {
                let name = argument
                    .as_str()
                    .ok_or_else(|| err(path, "expects a name"))?;
                self.reference(name, path)
            }
            "Fn::GetAtt" => {
                let (id, attribute) = match argument {
                    Yaml::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                        .ok_or_else(|| err(path, "expects Resource.Attribute"))?,
                    Yaml::Sequence(items) if items.len() == 2 => (
                        self.string_arg(&items[0], path, depth)?,
                        self.string_arg(&items[1], path, depth)?,
                    ),
                    _ => return Err(err(path, "expects Resource.Attribute")),
                };
                self.resources
                    .attribute(&id, &attribute)
                    .map(Some)
                    .ok_or_else(|| err(path, format!("{id}.{attribute} does not exist locally")))
            }
            "Fn::Sub" => {
                let (text, vars) = match argument {
                    Yaml::String(s) => (s.clone(), None),
                    Yaml::Sequence(items) if items.len() == 2 => {
                        (self.string_arg(&items[0], path, depth)?, Some(&items[1]))
                    }
                    _ => return Err(err(path, "expects a string or [string, variables]")),
                };
                let mut variables = Map::new();
                if let Some(vars) = vars
                    && let Some(Json::Object(map)) = self.eval_at(vars, path, depth)?
                {
                    variables = map;
                }
                self.substitute(&text, &variables, path)
                    .map(|s| Some(Json::String(s)))
            }
            "Fn::If" => {
                let items = self.args(argument, path, 3)?;
                let name = items[0]
                    .as_str()
                    .ok_or_else(|| err(path, "expects a condition name"))?;
                let branch = if self.condition_at(name, path, depth)? {
                    &items[1]
                } else {
                    &items[2]
                };
                self.eval_at(branch, path, depth)
            }
            "Fn::Equals" => {
                let items = self.args(argument, path, 2)?;
                let a = self.required(&items[0], path, depth)?;
                let b = self.required(&items[1], path, depth)?;
                let equal = match (scalar_string(&a), scalar_string(&b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => a == b,
                };
                Ok(Some(Json::Bool(equal)))
            }
            "Fn::Not" => {
                let items = self.args(argument, path, 1)?;
                Ok(Some(Json::Bool(!self.boolean(&items[0], path, depth)?)))
            }
            "Fn::And" | "Fn::Or" => {
                let items = argument
                    .as_sequence()
                    .ok_or_else(|| err(path, "expects a list"))?;
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.boolean(item, path, depth)?);
                }
                let result = if function == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                };
                Ok(Some(Json::Bool(result)))
            }
            "Condition" => {
                let name = argument
                    .as_str()
                    .ok_or_else(|| err(path, "expects a condition name"))?;
                Ok(Some(Json::Bool(self.condition_at(name, path, depth)?)))
            }
            "Fn::Join" => {
                let items = self.args(argument, path, 2)?;
                let delimiter = self.string_arg(&items[0], path, depth)?;
                let parts = self.list_arg(&items[1], path, depth)?;
                let parts: Option<Vec<String>> = parts.iter().map(scalar_string).collect();
                let parts = parts.ok_or_else(|| err(path, "joins scalars only"))?;
                Ok(Some(Json::String(parts.join(&delimiter))))
            }
            "Fn::Split" => {
                let items = self.args(argument, path, 2)?;
                let delimiter = self.string_arg(&items[0], path, depth)?;
                let text = self.string_arg(&items[1], path, depth)?;
                Ok(Some(Json::Array(
                    text.split(delimiter.as_str())
                        .map(|s| Json::String(s.to_owned()))
                        .collect(),
                )))
            }
            "Fn::Select" => {
                let items = self.args(argument, path, 2)?;
                let index: usize = self
                    .string_arg(&items[0], path, depth)?
                    .parse()
                    .map_err(|_| err(path, "index must be a whole number"))?;
                let list = self.list_arg(&items[1], path, depth)?;
                list.get(index)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| err(path, format!("index {index} out of range")))
            }
            "Fn::Contains" => {
                let items = self.args(argument, path, 2)?;
                let list = self.list_arg(&items[0], path, depth)?;
                let wanted = self.required(&items[1], path, depth)?;
                let wanted = scalar_string(&wanted);
                Ok(Some(Json::Bool(
                    list.iter().any(|v| scalar_string(v) == wanted),
                )))
            }
            other => Err(err(
                path,
                format!("{other} is not supported by the offline stack"),
            )),
        }
    }

    fn reference(&self, name: &str, path: &str) -> Result<Option<Json>, TemplateError> {
        let pseudo = match name {
            "AWS::NoValue" => return Ok(None),
            "AWS::Region" => Some(REGION),
            "AWS::AccountId" => Some(ACCOUNT_ID),
            "AWS::StackName" => Some(STACK_NAME),
            "AWS::Partition" => Some("aws"),
            "AWS::URLSuffix" => Some("amazonaws.com"),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(Some(Json::String(value.to_owned())));
        }
        if self.template.parameters.contains_key(name) {
            return self
                .template
                .parameter(name)
                .map(Some)
                .map_err(|e| match e {
                    TemplateError::At { message, .. } => {
                        err(path, format!("Ref {name}: parameter {message}"))
                    }
                    other => other,
                });
        }
        self.resources.reference(name).map(Some).ok_or_else(|| {
            err(
                path,
                format!("Ref {name}: no parameter or local resource of that name"),
            )
        })
    }

    /// `${Name}`, `${Resource.Attribute}` and `${!Literal}` as `Fn::Sub` does.
    fn substitute(
        &self,
        text: &str,
        variables: &Map<String, Json>,
        path: &str,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| err(path, "unclosed ${"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match variables.get(name) {
                    Some(v) => Some(v.clone()),
                    None => match name.split_once('.') {
                        Some((id, attribute)) if !name.starts_with("AWS::") => {
                            self.resources.attribute(id, attribute)
                        }
                        _ => self.reference(name, path)?,
                    },
                };
                let value = value
                    .ok_or_else(|| err(path, format!("${{{name}}} does not resolve locally")))?;
                out.push_str(
                    &scalar_string(&value)
                        .ok_or_else(|| err(path, format!("${{{name}}} is not a string")))?,
                );
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
