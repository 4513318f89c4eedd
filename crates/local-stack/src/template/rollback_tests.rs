//! The rollback drill's offline half (docs/ROLLBACK.md): read from the real template.yaml, every
//! function deploys through CodeDeploy traffic shifting on its `live` alias, and each shift is
//! watched by an alarm that can stop it — one on the function's errors, of the *new* version
//! only, able to fire inside the canary's first interval, and present whenever its function is.
//! A rename, a dropped alarm or an alarm on the wrong version fails here, not in production.

use super::security_tests::{tagged, template};
use serde_yaml::Value as Yaml;

fn functions(t: &Yaml) -> Vec<(String, &Yaml)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), r))
        .collect()
}

/// The first interval of a `DeploymentType`, in seconds: how soon an alarm must be able to fire.
fn first_interval_s(deployment_type: &str) -> u64 {
    let minutes = deployment_type
        .trim_end_matches("Minutes")
        .trim_end_matches("Minute")
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse::<u64>().ok());
    match (deployment_type, minutes) {
        ("AllAtOnce", _) => 0,
        (_, Some(m)) => m * 60,
        _ => panic!("unknown DeploymentType {deployment_type}"),
    }
}

#[test]
fn the_deployment_type_defaults_to_a_canary_and_offers_only_known_shifts() {
    let t = template();
    let parameter = &t["Parameters"]["DeploymentType"];
    let default = parameter["Default"].as_str().unwrap();
    assert!(
        default.starts_with("Canary"),
        "{default}: production deploys by canary"
    );
    for allowed in parameter["AllowedValues"].as_sequence().unwrap() {
        let name = allowed.as_str().unwrap();
        let _ = first_interval_s(name);
    }
    assert_eq!(t["Globals"]["Function"]["AutoPublishAlias"], "live");
}

#[test]
fn every_function_shifts_traffic_under_an_errors_alarm_of_its_new_version() {
    let t = template();
    let default_type = t["Parameters"]["DeploymentType"]["Default"]
        .as_str()
        .unwrap();
    let window_s = first_interval_s(default_type);
    let fns = functions(&t);
    assert!(fns.len() >= 5, "the template's functions: {}", fns.len());
    for (id, function) in fns {
        let preference = &function["Properties"]["DeploymentPreference"];
        let (tag, kind) = tagged(&preference["Type"]);
        assert_eq!(
            (tag.as_str(), kind.as_str()),
            ("!Ref", Some("DeploymentType")),
            "{id}"
        );
        let alarms = preference["Alarms"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id}: no Alarms"));
        assert!(!alarms.is_empty(), "{id}: a shift nothing can stop");
        for alarm_ref in alarms {
            let (tag, name) = tagged(alarm_ref);
            assert_eq!(tag, "!Ref", "{id}: alarms by !Ref");
            let name = name.as_str().unwrap();
            let alarm = &t["Resources"][name];
            assert_eq!(alarm["Type"], "AWS::CloudWatch::Alarm", "{id}: {name}");
            // Present exactly when its function is (else the deployment group names a missing
            // alarm, or a deployed function has none).
            assert_eq!(
                alarm["Condition"], function["Condition"],
                "{id}: {name}'s condition"
            );
            if !function["Condition"].is_null() {
                assert_eq!(preference["PassthroughCondition"], true, "{id}");
            }
            let p = &alarm["Properties"];
            assert_eq!(
                (&p["Namespace"], &p["MetricName"]),
                (&"AWS/Lambda".into(), &"Errors".into()),
                "{id}: {name}"
            );
            assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{name}");
            assert_eq!(
                p["Threshold"].as_u64(),
                Some(0),
                "{name}: any error of the new version"
            );
            // Quiet minutes of a canary are not failures.
            assert_eq!(p["TreatMissingData"], "notBreaching", "{name}");
            let period = p["Period"].as_u64().unwrap();
            let evaluations = p["EvaluationPeriods"].as_u64().unwrap();
            assert!(
                period * evaluations <= window_s,
                "{name}: needs {}s of data, the canary's first step is {window_s}s",
                period * evaluations
            );
            let dimension = |key: &str| {
                p["Dimensions"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .find(|d| d["Name"] == key)
                    .map(|d| tagged(&d["Value"]))
                    .unwrap_or_else(|| panic!("{name}: no {key} dimension"))
            };
            let (tag, value) = dimension("Resource");
            assert_eq!(
                (tag.as_str(), value.as_str()),
                ("!Sub", Some(format!("${{{id}}}:live").as_str())),
                "{name}"
            );
            let (tag, value) = dimension("FunctionName");
            assert_eq!(
                (tag.as_str(), value.as_str()),
                ("!Ref", Some(id.as_str())),
                "{name}"
            );
            // The version being shifted to: old-version errors must not roll a good release
            // back, nor hide a bad one.
            let (tag, value) = dimension("ExecutedVersion");
            assert_eq!(
                (tag.as_str(), value.as_str()),
                ("!GetAtt", Some(format!("{id}.Version.Version").as_str())),
                "{name}"
            );
        }
    }
}

#[test]
fn the_first_interval_is_read_from_the_deployment_type() {
    assert_eq!(first_interval_s("Canary10Percent5Minutes"), 300);
    assert_eq!(first_interval_s("Linear10PercentEvery1Minute"), 60);
    assert_eq!(first_interval_s("Canary10Percent30Minutes"), 1800);
    assert_eq!(first_interval_s("AllAtOnce"), 0);
}
