//! The deployment's security properties, read from the real template.yaml: secure by default
//! (gateway keys, no open Function URL, an authorizer on every model route without them), the
//! Function URL's concurrency guard, secrets only by id, and each role's state-table access
//! limited to its own key prefixes (`dynamodb:LeadingKeys`).

use serde_yaml::Value as Yaml;

pub(super) fn template() -> Yaml {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `!Tag value` → (tag, value); anything else → ("", itself).
pub(super) fn tagged(value: &Yaml) -> (String, &Yaml) {
    match value {
        Yaml::Tagged(t) => (t.tag.to_string(), &t.value),
        other => (String::new(), other),
    }
}

fn at<'a>(value: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("no {key} in the path {path:?}"))
    })
}

fn resource<'a>(t: &'a Yaml, id: &str) -> &'a Yaml {
    at(t, &["Resources", id])
}

#[test]
fn gateway_keys_are_the_default_and_the_function_url_cannot_run_without_them() {
    let t = template();
    assert_eq!(at(&t, &["Parameters", "AuthMode", "Default"]), "api_keys");
    let rule = at(&t, &["Rules", "NoOpenFunctionUrl"]);
    let (tag, condition) = tagged(at(rule, &["RuleCondition"]));
    assert_eq!(tag, "!Equals");
    assert_eq!(
        serde_yaml::to_string(condition).unwrap(),
        "- !Ref EnableStreamingUrl\n- 'true'\n"
    );
    let assertion = &at(rule, &["Assertions"])[0]["Assert"];
    assert_eq!(
        serde_yaml::to_string(assertion).unwrap(),
        "!Equals\n- !Ref AuthMode\n- api_keys\n"
    );
    // The URL it guards is the public one.
    let url = at(
        resource(&t, "ApiStreamFunction"),
        &["Properties", "FunctionUrlConfig"],
    );
    assert_eq!(url["AuthType"], "NONE");
}

#[test]
fn model_routes_keep_the_jwt_authorizer_when_auth_mode_is_none() {
    let t = template();
    assert_eq!(
        serde_yaml::to_string(at(&t, &["Conditions", "JwtOnly"])).unwrap(),
        "!Equals\n- !Ref AuthMode\n- none\n"
    );
    let paths = at(
        resource(&t, "GatewayHttpApi"),
        &["Properties", "DefinitionBody", "paths"],
    )
    .as_mapping()
    .unwrap();
    let model_paths: Vec<&str> = paths
        .keys()
        .filter_map(Yaml::as_str)
        .filter(|p| p.starts_with("/model/"))
        .collect();
    assert_eq!(model_paths.len(), 5, "{model_paths:?}");
    // Every Bedrock path of the body (model operations and control-plane reads) keeps it.
    for path in paths.keys().filter_map(Yaml::as_str) {
        // Model operations, SageMaker's and Agent Runtime's are POSTs; control-plane reads GETs.
        let operation = if paths[path].get("post").is_some() {
            "post"
        } else {
            "get"
        };
        let security = &paths[path][operation]["security"];
        assert_eq!(
            serde_yaml::to_string(security).unwrap(),
            "!If\n- JwtOnly\n- - GatewayJwt: []\n- - NONE: []\n",
            "{path}"
        );
    }
    // No function event declares a /model route (its Authorizer could only be a literal).
    for (id, r) in at(&t, &["Resources"]).as_mapping().unwrap() {
        for (_, event) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
            let path = event["Properties"]["Path"].as_str().unwrap_or("");
            assert!(
                !path.starts_with("/model/"),
                "{id:?} has an event on {path}"
            );
        }
    }
}

#[test]
fn the_function_url_has_reserved_concurrency() {
    let t = template();
    let function = at(resource(&t, "ApiStreamFunction"), &["Properties"]);
    assert_eq!(
        serde_yaml::to_string(&function["ReservedConcurrentExecutions"]).unwrap(),
        "!Ref StreamingUrlReservedConcurrency\n"
    );
    let default = at(
        &t,
        &["Parameters", "StreamingUrlReservedConcurrency", "Default"],
    );
    assert!(
        (1..=100).contains(&default.as_u64().unwrap()),
        "{default:?}"
    );
}

#[test]
fn secrets_are_passed_by_id_and_readable_only_by_their_function() {
    let t = template();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
    )
    .unwrap();
    assert!(
        !text.contains("{{resolve:secretsmanager"),
        "no secret is resolved into the template"
    );
    let seal = resource(&t, "GatewayKeySealSecret");
    assert_eq!(seal["Type"], "AWS::SecretsManager::Secret");
    assert_eq!(seal["DeletionPolicy"], "Retain");
    for (function, var) in [
        ("ApiFunction", "GATEWAY_KEY_SEAL_SECRET_ID"),
        ("ApiStreamFunction", "GATEWAY_KEY_SEAL_SECRET_ID"),
        ("WorkerFunction", "CALLBACK_SIGNING_SECRET_ID"),
        ("WebhookFunction", "WEBHOOK_CONFIG_SECRET_ID"),
    ] {
        let vars = at(
            resource(&t, function),
            &["Properties", "Environment", "Variables"],
        );
        assert!(vars.get(var).is_some(), "{function} has {var}");
    }
    // Every GetSecretValue names its secret: no wildcard resource.
    let mut grants = 0;
    for role in [
        "ApiRole",
        "WorkerRole",
        "StreamProcessorRole",
        "WebhookRole",
    ] {
        for statement in statements(&t, role) {
            if statement["Action"] == "secretsmanager:GetSecretValue" {
                grants += 1;
                assert_ne!(statement["Resource"], "*", "{role}");
            }
        }
    }
    assert_eq!(
        grants, 3,
        "api (seal key), worker (callback secret), webhook (config)"
    );
}

/// A role's inline policy statements (an `!If` statement taken with its condition true).
fn statements(t: &Yaml, role: &str) -> Vec<Yaml> {
    let policies = at(resource(t, role), &["Properties", "Policies"]);
    let mut out = Vec::new();
    for policy in policies.as_sequence().unwrap() {
        for statement in at(policy, &["PolicyDocument", "Statement"])
            .as_sequence()
            .unwrap()
        {
            match tagged(statement) {
                (tag, value) if tag == "!If" => out.push(value[1].clone()),
                (_, value) => out.push(value.clone()),
            }
        }
    }
    out
}

/// Each statement on the state table: (actions, key prefixes it is limited to).
fn state_table_access(t: &Yaml, role: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    for statement in statements(t, role) {
        let on_state = serde_yaml::to_string(&statement["Resource"])
            .unwrap()
            .contains("StateTable.Arn");
        if !on_state {
            continue;
        }
        let actions: Vec<String> = match &statement["Action"] {
            Yaml::Sequence(a) => a
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            Yaml::String(a) => vec![a.clone()],
            other => panic!("{role}: actions {other:?}"),
        };
        let leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{role}: a state table statement without LeadingKeys"));
        let prefixes = leading
            .iter()
            .map(|p| {
                let p = p.as_str().unwrap();
                assert!(p.ends_with("#*"), "{role}: {p} is not a key prefix");
                p.trim_end_matches('*').to_owned()
            })
            .collect();
        out.push((actions, prefixes));
    }
    out
}

fn writes(access: &[(Vec<String>, Vec<String>)]) -> Vec<String> {
    let mut out: Vec<String> = access
        .iter()
        .filter(|(actions, _)| {
            actions.iter().any(|a| {
                matches!(
                    a.as_str(),
                    "dynamodb:PutItem"
                        | "dynamodb:UpdateItem"
                        | "dynamodb:DeleteItem"
                        | "dynamodb:BatchWriteItem"
                )
            })
        })
        .flat_map(|(_, prefixes)| prefixes.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn reads(access: &[(Vec<String>, Vec<String>)]) -> Vec<String> {
    let mut out: Vec<String> = access.iter().flat_map(|(_, p)| p.clone()).collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn each_function_touches_only_its_own_state_table_prefixes_and_none_writes_keys() {
    let t = template();
    let strings = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    };
    let api = state_table_access(&t, "ApiRole");
    assert_eq!(
        writes(&api),
        strings(&[
            "BREAKER#", "BUDGET#", "CACHE#", "CC#", "HEALTH#", "RL#", "USAGE#"
        ])
    );
    assert_eq!(
        reads(&api),
        strings(&[
            "BREAKER#", "BUDGET#", "CACHE#", "CC#", "HEALTH#", "KEY#", "KEYID#", "RL#", "TENANT#",
            "USAGE#"
        ])
    );
    let worker = state_table_access(&t, "WorkerRole");
    assert_eq!(writes(&worker), writes(&api));
    let stream = state_table_access(&t, "StreamProcessorRole");
    assert_eq!(reads(&stream), strings(&["BREAKER#", "HEALTH#"]));
    let webhook = state_table_access(&t, "WebhookRole");
    assert_eq!(
        writes(&webhook),
        strings(&["BUDGET#", "CC#", "RL#", "USAGE#", "WEBHOOK#"])
    );
    assert_eq!(
        reads(&webhook),
        strings(&[
            "BUDGET#", "CC#", "KEY#", "KEYID#", "RL#", "TENANT#", "USAGE#", "WEBHOOK#"
        ])
    );
    for (role, access) in [
        ("api", &api),
        ("worker", &worker),
        ("stream", &stream),
        ("webhook", &webhook),
    ] {
        for identity in ["KEY#", "KEYID#", "TENANT#"] {
            assert!(
                !writes(access).contains(&identity.to_owned()),
                "{role} may write {identity}"
            );
        }
        // Scan has no leading key, so ForAllValues would not limit it: never granted.
        assert!(
            access
                .iter()
                .all(|(a, _)| !a.iter().any(|a| a == "dynamodb:Scan")),
            "{role} may scan"
        );
    }
}

/// The role's managed policies that exist only under `condition` (`!If [condition, !Ref X, …]`).
fn conditional_policies(t: &Yaml, role: &str) -> Vec<(String, String)> {
    at(resource(t, role), &["Properties", "ManagedPolicyArns"])
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|arn| match tagged(arn) {
            (tag, value) if tag == "!If" => {
                let (_, policy) = tagged(&value[1]);
                Some((value[0].as_str()?.to_owned(), policy.as_str()?.to_owned()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn sagemaker_and_knowledge_base_access_is_limited_to_the_named_resources() {
    let t = template();
    for (policy, condition, actions) in [
        (
            "SageMakerInvokePolicy",
            "HasSageMakerEndpoints",
            vec![
                "sagemaker:InvokeEndpoint",
                "sagemaker:InvokeEndpointWithResponseStream",
            ],
        ),
        (
            "KnowledgeBaseRetrievePolicy",
            "HasKnowledgeBases",
            vec!["bedrock:Retrieve"],
        ),
    ] {
        let body = resource(&t, policy);
        assert_eq!(at(body, &["Condition"]).as_str(), Some(condition));
        let statements = at(body, &["Properties", "PolicyDocument", "Statement"])
            .as_sequence()
            .unwrap();
        assert_eq!(statements.len(), 1, "{policy}");
        let statement = &statements[0];
        let granted: Vec<&str> = match &statement["Action"] {
            Yaml::Sequence(items) => items.iter().filter_map(Yaml::as_str).collect(),
            Yaml::String(one) => vec![one.as_str()],
            other => panic!("{policy}: {other:?}"),
        };
        assert_eq!(granted, actions, "{policy}");
        let resources = serde_yaml::to_string(&statement["Resource"]).unwrap();
        assert!(
            !resources.contains("/*"),
            "{policy}: no wildcard resource: {resources}"
        );
        let pinned = &statement["Condition"]["StringEquals"];
        assert!(pinned.get("aws:ResourceAccount").is_some(), "{policy}");
        assert!(pinned.get("aws:RequestedRegion").is_some(), "{policy}");
    }
    // SageMaker models are called by every function that calls models; knowledge bases only
    // by the API.
    for role in ["ApiRole", "WorkerRole", "StreamProcessorRole"] {
        let policies = conditional_policies(&t, role);
        assert!(
            policies.contains(&(
                "HasSageMakerEndpoints".into(),
                "SageMakerInvokePolicy".into()
            )),
            "{role}: {policies:?}"
        );
        assert_eq!(
            policies
                .iter()
                .any(|(_, p)| p == "KnowledgeBaseRetrievePolicy"),
            role == "ApiRole",
            "{role}: {policies:?}"
        );
    }
    for (endpoint, condition) in [
        ("SageMakerRuntimeEndpoint", "UseVpcForSageMaker"),
        ("BedrockAgentRuntimeEndpoint", "UseVpcForKnowledgeBases"),
    ] {
        assert_eq!(
            at(resource(&t, endpoint), &["Condition"]).as_str(),
            Some(condition)
        );
    }
}
