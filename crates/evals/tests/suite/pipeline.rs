//! pipeline.yaml, offline: it passes cfn-lint, `sam validate --lint` and checkov
//! (scripts/lint-template.sh), and it fits the repository — every buildspec and script it runs
//! exists, the build hands the deploys what they read, the deploy parameter files name only
//! template.yaml's parameters with allowed values, the stages run in the gated order, and each
//! stage has a role of its own with no wildcard action.

use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `!Tag value` → value; anything else → itself.
fn untag(value: &Yaml) -> &Yaml {
    match value {
        Yaml::Tagged(t) => &t.value,
        other => other,
    }
}

fn stages(pipeline: &Yaml) -> Vec<(String, Vec<Yaml>)> {
    pipeline["Resources"]["Pipeline"]["Properties"]["Stages"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|stage| {
            let actions = stage["Actions"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| untag(a).clone())
                .flat_map(|a| match a {
                    // A source chosen by a condition: both branches.
                    Yaml::Sequence(branches) => branches.into_iter().skip(1).collect(),
                    other => vec![other],
                })
                .collect();
            (stage["Name"].as_str().unwrap().to_owned(), actions)
        })
        .collect()
}

#[test]
fn pipeline_passes_cfn_lint_sam_validate_and_the_security_scan() {
    let output = Command::new("bash")
        .args(["scripts/lint-template.sh", "pipeline.yaml"])
        .current_dir(root())
        .output()
        .expect("bash starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("lint-template: PASS pipeline.yaml"),
        "scripts/lint-template.sh pipeline.yaml failed ({}); run scripts/setup.sh if the tools \
         are missing.\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
}

#[test]
fn stages_run_in_the_gated_order() {
    let pipeline = yaml("pipeline.yaml");
    let stages = stages(&pipeline);
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Source",
            "Build",
            "SecurityScan",
            "Staging",
            "Approval",
            "Production"
        ]
    );
    let staging = &stages[3].1;
    let order = |name: &str| {
        staging
            .iter()
            .find(|a| a["Name"] == name)
            .and_then(|a| a["RunOrder"].as_u64())
            .unwrap_or_else(|| panic!("Staging has no {name} with a RunOrder"))
    };
    assert!(order("CreateChangeSet") < order("Deploy"));
    assert!(
        order("Deploy") < order("EvalGate"),
        "the gate tests what was deployed"
    );
    let gate = staging.iter().find(|a| a["Name"] == "EvalGate").unwrap();
    assert_eq!(gate["ActionTypeId"]["Category"], "Test");
    assert!(
        gate["Configuration"]["EnvironmentVariables"]
            .as_str()
            .unwrap()
            .contains("#{StagingStack.ApiUrl}"),
        "the gate is pointed at the staging stack's URL"
    );
    assert_eq!(stages[4].1[0]["ActionTypeId"]["Provider"], "Manual");
    let production = &stages[5].1;
    assert!(
        production
            .iter()
            .any(|a| a["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE")
    );
}

#[test]
fn buildspecs_scripts_and_deploy_files_exist_and_fit_together() {
    let pipeline = yaml("pipeline.yaml");
    let mut buildspecs = Vec::new();
    for (_, project) in pipeline["Resources"].as_mapping().unwrap() {
        if project["Type"] == "AWS::CodeBuild::Project" {
            buildspecs.push(
                project["Properties"]["Source"]["BuildSpec"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert_eq!(buildspecs.len(), 3, "{buildspecs:?}");
    for path in &buildspecs {
        let spec = yaml(path);
        assert_eq!(spec["version"], 0.2, "{path}");
        // Every script a buildspec runs is in the repository.
        for (_, phase) in spec["phases"].as_mapping().unwrap() {
            for command in phase["commands"].as_sequence().unwrap() {
                let command = command.as_str().unwrap();
                for word in command
                    .split_whitespace()
                    .filter(|w| w.starts_with("scripts/"))
                {
                    assert!(root().join(word).exists(), "{path}: {word} does not exist");
                }
            }
        }
    }
    // What the deploys and the gate read from the build's output is in it.
    let build = yaml("buildspecs/build.yml");
    let files: Vec<&str> = build["artifacts"]["files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for needed in [
        "packaged.yaml",
        "deploy/*.json",
        "evals/*.json",
        "scripts/ci/*.sh",
        "dist/gateway-eval",
    ] {
        assert!(
            files.contains(&needed),
            "build.yml's artifacts lack {needed}"
        );
    }
    assert_eq!(build["reports"]["offline-evals"]["file-format"], "JUNITXML");
    assert_eq!(
        yaml("buildspecs/evals.yml")["reports"]["staging-evals"]["file-format"],
        "JUNITXML"
    );
}

#[test]
fn deploy_files_name_only_template_parameters_with_allowed_values() {
    let template = yaml("template.yaml");
    let parameters = template["Parameters"].as_mapping().unwrap();
    for file in ["deploy/staging.json", "deploy/production.json"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        let given = config["Parameters"].as_object().unwrap();
        for (name, value) in given {
            let parameter = parameters
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{file}: {name} is not a parameter of template.yaml"));
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("{file}: {name}: a string"));
            if let Some(allowed) = parameter["AllowedValues"].as_sequence() {
                let allowed: Vec<String> = allowed
                    .iter()
                    .map(|v| match v {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                    })
                    .collect();
                assert!(
                    allowed.iter().any(|a| a == value),
                    "{file}: {name}={value} not in {allowed:?}"
                );
            }
        }
        assert_eq!(
            given["AuthMode"], "api_keys",
            "{file}: deployed stacks require keys"
        );
    }
    let production: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/production.json")).unwrap(),
    )
    .unwrap();
    let kind = production["Parameters"]["DeploymentType"].as_str().unwrap();
    assert!(
        kind.starts_with("Canary"),
        "production deploys by canary, not {kind}"
    );
}

#[test]
fn each_stage_has_its_own_role_without_wildcard_actions() {
    let pipeline = yaml("pipeline.yaml");
    let resources = pipeline["Resources"].as_mapping().unwrap();
    let mut roles = BTreeSet::new();
    for (id, resource) in resources {
        if resource["Type"] == "AWS::CodeBuild::Project" {
            let role = untag(&resource["Properties"]["ServiceRole"]);
            assert!(
                roles.insert(serde_yaml::to_string(role).unwrap()),
                "{id:?} shares a role"
            );
        }
    }
    let mut statements = 0;
    for (id, resource) in resources {
        let documents: Vec<&Yaml> = match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => resource["Properties"]["Policies"]
                .as_sequence()
                .map(|p| p.iter().map(|p| &p["PolicyDocument"]).collect())
                .unwrap_or_default(),
            Some("AWS::IAM::ManagedPolicy") => vec![&resource["Properties"]["PolicyDocument"]],
            _ => continue,
        };
        for document in documents {
            for statement in document["Statement"].as_sequence().unwrap() {
                let statement = untag(statement);
                // A conditional statement: both branches.
                let branches: Vec<&Yaml> = match statement {
                    Yaml::Sequence(b) => b.iter().skip(1).collect(),
                    one => vec![one],
                };
                for statement in branches.into_iter().filter(|s| s.is_mapping()) {
                    statements += 1;
                    let actions: Vec<&str> = match &statement["Action"] {
                        Yaml::String(a) => vec![a.as_str()],
                        Yaml::Sequence(list) => list.iter().filter_map(Yaml::as_str).collect(),
                        other => panic!("{id:?}: Action {other:?}"),
                    };
                    for action in actions {
                        assert_ne!(action, "*", "{id:?}: a wildcard action");
                        if action == "iam:PassRole" {
                            assert!(
                                !statement["Condition"]["StringEquals"]["iam:PassedToService"]
                                    .is_null(),
                                "{id:?}: PassRole to any service"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(statements > 30, "{statements} statements read");
}
