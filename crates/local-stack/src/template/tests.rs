//! The template parsing, against the repository's real template.yaml and small inline ones.

use super::*;
use crate::resources::{LocalBus, LocalQueue, LocalResources, LocalSecret, LocalTable, LocalTopic};

fn real() -> Template {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    Template::from_file(&path).unwrap()
}

/// What the local resources would be after creating the real template's, with moto's names.
fn local(template: &Template) -> LocalResources {
    let mut local = LocalResources::default();
    for table in template.tables().unwrap() {
        let id = table.logical_id.clone();
        local.tables.insert(
            id.clone(),
            LocalTable {
                name: id.clone(),
                arn: format!("arn:aws:dynamodb:us-east-1:123456789012:table/{id}"),
                stream_arn: table.stream_view_type.map(|_| {
                    format!("arn:aws:dynamodb:us-east-1:123456789012:table/{id}/stream/x")
                }),
            },
        );
    }
    for queue in template.queues().unwrap() {
        let name = queue.name();
        local.queues.insert(
            queue.logical_id.clone(),
            LocalQueue {
                url: format!("http://127.0.0.1:5000/123456789012/{name}"),
                arn: format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
                name,
            },
        );
    }
    for topic in template.topics().unwrap() {
        let name = topic.name();
        local.topics.insert(
            topic.logical_id.clone(),
            LocalTopic {
                arn: format!("arn:aws:sns:us-east-1:123456789012:{name}"),
                name,
            },
        );
    }
    for secret in template.secrets().unwrap() {
        let name = secret.logical_id.clone();
        local.secrets.insert(
            name.clone(),
            LocalSecret {
                arn: format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
                name,
            },
        );
    }
    for bus in template.event_buses().unwrap() {
        local.buses.insert(
            bus.clone(),
            LocalBus {
                arn: format!("arn:aws:events:us-east-1:123456789012:event-bus/{bus}"),
                name: bus,
            },
        );
    }
    for bucket in template.buckets().unwrap() {
        let name = bucket.to_ascii_lowercase();
        local.buckets.insert(bucket, name);
    }
    local
}

#[test]
fn the_real_template_routes_job_requests_from_its_bus_to_the_job_events_queue() {
    let template = real();
    let local = local(&template);
    assert_eq!(template.event_buses().unwrap(), ["GatewayEventBus"]);
    let rules = template.event_rules(&local).unwrap();
    let rule = rules
        .iter()
        .find(|r| r.logical_id == "JobRequestedRule")
        .expect("JobRequestedRule");
    assert_eq!(rule.bus, "GatewayEventBus");
    let pattern: serde_json::Value = serde_json::from_str(&rule.pattern).unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({"detail-type": ["GenAI Job Requested"]})
    );
    assert_eq!(
        rule.targets,
        [(
            "job-events-queue".to_owned(),
            "arn:aws:sqs:us-east-1:123456789012:JobEventsQueue".to_owned()
        )]
    );
}

#[test]
fn the_real_template_has_the_three_tables_with_keys_streams_and_ttl() {
    let tables = real().tables().unwrap();
    let by_id = |id: &str| {
        tables
            .iter()
            .find(|t| t.logical_id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let jobs = by_id("JobsTable");
    assert_eq!(jobs.keys, vec![("pk".to_owned(), "HASH".to_owned())]);
    let attributes = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        jobs.attributes,
        attributes(&[("pk", "S"), ("ai_tenant", "S"), ("created_at_ms", "N")])
    );
    // ListAsyncInvokes' sparse index.
    let index = &jobs.global_indexes[0];
    assert_eq!(index.name, "async-invocations");
    assert_eq!(
        index.keys,
        attributes(&[("ai_tenant", "HASH"), ("created_at_ms", "RANGE")])
    );
    assert_eq!(jobs.ttl_attribute.as_deref(), Some("expires_at"));
    assert_eq!(jobs.stream_view_type, None);
    let state = by_id("StateTable");
    assert_eq!(
        state.keys,
        vec![
            ("pk".to_owned(), "HASH".to_owned()),
            ("sk".to_owned(), "RANGE".to_owned())
        ]
    );
    let documents = by_id("DocumentsTable");
    assert_eq!(
        documents.stream_view_type.as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    assert_eq!(documents.ttl_attribute.as_deref(), Some("expires_at"));
}

#[test]
fn the_real_template_queues_carry_their_attributes_and_redrive_from_the_parameter_default() {
    let template = real();
    let queues = template.queues().unwrap();
    let jobs = queues.iter().find(|q| q.logical_id == "JobsQueue").unwrap();
    assert!(
        jobs.attributes
            .contains(&("VisibilityTimeout".to_owned(), "720".to_owned()))
    );
    assert!(
        jobs.attributes
            .contains(&("ReceiveMessageWaitTimeSeconds".to_owned(), "20".to_owned()))
    );
    assert!(jobs.has_redrive_policy);
    for id in ["JobsDeadLetterQueue", "StreamFailureQueue"] {
        assert!(queues.iter().any(|q| q.logical_id == id), "{id}");
    }
    let policy = template
        .redrive_policy("JobsQueue", &local(&template))
        .unwrap()
        .unwrap();
    let policy: Json = serde_json::from_str(&policy).unwrap();
    assert_eq!(
        policy["deadLetterTargetArn"],
        "arn:aws:sqs:us-east-1:123456789012:JobsDeadLetterQueue"
    );
    assert_eq!(
        policy["maxReceiveCount"], "5",
        "JobsMaxReceiveCount's Default"
    );

    let mut overridden = real();
    overridden
        .set_parameter("JobsMaxReceiveCount", "2")
        .unwrap();
    let policy = overridden
        .redrive_policy("JobsQueue", &local(&overridden))
        .unwrap()
        .unwrap();
    assert!(policy.contains(r#""maxReceiveCount":"2""#), "{policy}");
}

#[test]
fn the_real_template_topics_and_conditional_subscriptions() {
    let template = real();
    let topics: Vec<String> = template
        .topics()
        .unwrap()
        .into_iter()
        .map(|t| t.logical_id)
        .collect();
    assert!(
        topics.contains(&"NotificationsTopic".to_owned()),
        "{topics:?}"
    );
    // AlertEmailSubscription exists only with an AlertEmail (its Default is empty).
    assert!(
        template
            .subscriptions()
            .unwrap()
            .iter()
            .all(|s| s.logical_id != "AlertEmailSubscription")
    );
    let mut with_email = real();
    with_email
        .set_parameter("AlertEmail", "ops@example.com")
        .unwrap();
    let subscriptions = with_email.subscriptions().unwrap();
    let email = subscriptions
        .iter()
        .find(|s| s.logical_id == "AlertEmailSubscription")
        .unwrap();
    let resolved = with_email
        .resolve_subscription(email, &local(&with_email))
        .unwrap();
    assert_eq!(resolved.protocol, "email");
    assert_eq!(resolved.endpoint, "ops@example.com");
    assert_eq!(
        resolved.topic_arn,
        "arn:aws:sns:us-east-1:123456789012:AlertsTopic"
    );
}

#[test]
fn the_real_template_functions_get_their_deployed_environment_locally() {
    let template = real();
    let local = local(&template);
    let functions = template.functions().unwrap();
    let binaries: Vec<(&str, &str)> = functions
        .iter()
        .map(|f| (f.logical_id.as_str(), f.binary.as_str()))
        .collect();
    for expected in [
        ("ApiFunction", "api"),
        ("ApiStreamFunction", "api"),
        ("WorkerFunction", "worker"),
        ("StreamProcessorFunction", "stream-processor"),
        ("WebhookFunction", "webhook"),
    ] {
        assert!(binaries.contains(&expected), "{expected:?} in {binaries:?}");
    }
    let env = |id: &str| {
        template
            .environment(
                functions.iter().find(|f| f.logical_id == id).unwrap(),
                &local,
            )
            .unwrap()
    };

    let worker = env("WorkerFunction");
    assert_eq!(worker["JOBS_TABLE"], "JobsTable");
    assert_eq!(worker["STATE_TABLE"], "StateTable");
    assert_eq!(
        worker["NOTIFY_TOPIC_ARN"],
        "arn:aws:sns:us-east-1:123456789012:NotificationsTopic"
    );
    assert_eq!(
        worker["JOBS_QUEUE_URL"],
        "http://127.0.0.1:5000/123456789012/JobsQueue"
    );
    assert_eq!(
        worker["MAX_RECEIVE_COUNT"], "5",
        "the same parameter as the queue's redrive policy"
    );
    // Globals apply to every function.
    assert_eq!(worker["RUST_LOG"], "info");
    assert_eq!(worker["GATEWAY_CONFIG"], "");

    let api = env("ApiFunction");
    assert_eq!(api["API_RESPONSE_MODE"], "buffered");
    assert_eq!(api["JOBS_QUEUE_URL"], worker["JOBS_QUEUE_URL"]);
    assert_eq!(env("ApiStreamFunction")["API_RESPONSE_MODE"], "streaming");
    assert_eq!(
        env("StreamProcessorFunction")["DOCUMENTS_TABLE"],
        "DocumentsTable"
    );
    assert_eq!(env("StreamProcessorFunction")["MAX_ATTEMPTS"], "3");
    // No secret configured by default: the !If takes its empty branch.
    assert_eq!(env("WebhookFunction")["WEBHOOK_CONFIG_SECRET_ID"], "");
    assert_eq!(worker["CALLBACK_SIGNING_SECRET_ID"], "");
    // The seal key is a secret the stack creates; both API functions get its ARN, not its value.
    let seal_arn = &local.secrets["GatewayKeySealSecret"].arn;
    assert_eq!(&api["GATEWAY_KEY_SEAL_SECRET_ID"], seal_arn);
    assert_eq!(
        &env("ApiStreamFunction")["GATEWAY_KEY_SEAL_SECRET_ID"],
        seal_arn
    );
    // Secrets are read at run time: no function's environment holds a secret's value.
    for function in &functions {
        for (name, value) in env(&function.logical_id) {
            assert!(
                !value.contains("{{resolve:")
                    && !matches!(
                        name.as_str(),
                        "GATEWAY_KEY_SEAL_SECRET" | "CALLBACK_SIGNING_SECRET" | "WEBHOOK_CONFIG"
                    ),
                "{}: {name} carries a secret in the environment",
                function.logical_id
            );
        }
    }

    let stream = functions
        .iter()
        .find(|f| f.logical_id == "StreamProcessorFunction")
        .unwrap();
    assert_eq!(stream.timeout_secs, 120);
}

#[test]
fn the_real_template_generates_the_seal_key_secret() {
    let secrets = real().secrets().unwrap();
    let seal = secrets
        .iter()
        .find(|s| s.logical_id == "GatewayKeySealSecret")
        .unwrap();
    assert_eq!(seal.secret_string, None);
    assert!(seal.generated_length >= 32, "{seal:?}");
}

#[test]
fn the_real_template_event_sources_resolve_to_local_resources() {
    let template = real();
    let local = local(&template);
    let functions = template.functions().unwrap();
    let worker = functions
        .iter()
        .find(|f| f.logical_id == "WorkerFunction")
        .unwrap();
    let sqs = template.events(worker, "SQS", &local).unwrap();
    assert_eq!(sqs.len(), 2);
    assert_eq!(
        sqs[0].properties["Queue"],
        "arn:aws:sqs:us-east-1:123456789012:JobsQueue"
    );
    assert_eq!(sqs[0].properties["BatchSize"], "5");
    // The bus's request rule delivers to a queue of its own, the worker's second source.
    assert_eq!(
        sqs[1].properties["Queue"],
        "arn:aws:sqs:us-east-1:123456789012:JobEventsQueue"
    );

    let processor = functions
        .iter()
        .find(|f| f.logical_id == "StreamProcessorFunction")
        .unwrap();
    let streams = template.events(processor, "DynamoDB", &local).unwrap();
    assert_eq!(streams.len(), 1);
    let p = &streams[0].properties;
    assert_eq!(
        p["Stream"],
        "arn:aws:dynamodb:us-east-1:123456789012:table/DocumentsTable/stream/x"
    );
    assert_eq!(p["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(p["MaximumRetryAttempts"], "3");
    assert_eq!(
        p["DestinationConfig"]["OnFailure"]["Destination"],
        "arn:aws:sqs:us-east-1:123456789012:StreamFailureQueue"
    );
    let pattern = p["FilterCriteria"]["Filters"][0]["Pattern"]
        .as_str()
        .unwrap();
    assert_eq!(
        pattern,
        stream_processor_filter(),
        "the template's filter is the one the function documents"
    );
}

fn stream_processor_filter() -> &'static str {
    r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["PENDING"]}}}}"#
}

#[test]
fn conditions_drop_resources_and_parameters_switch_them_on() {
    let yaml = r#"
Parameters:
  Extra: { Type: String, Default: "false" }
  Names: { Type: CommaDelimitedList, Default: "a,b" }
Conditions:
  WantExtra: !Equals [!Ref Extra, "true"]
  NotExtra: !Not [!Condition WantExtra]
  HasNames: !Not [!Equals [!Join ["", !Ref Names], ""]]
Resources:
  Always:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !If [WantExtra, 60, 30]
      DelaySeconds: !If [NotExtra, !Ref "AWS::NoValue", 5]
  Optional:
    Type: AWS::SQS::Queue
    Condition: WantExtra
  Fifo:
    Type: AWS::SQS::Queue
    Properties: { FifoQueue: true }
"#;
    let mut template = Template::parse(yaml).unwrap();
    let queues = template.queues().unwrap();
    let ids: Vec<&str> = queues.iter().map(|q| q.logical_id.as_str()).collect();
    assert_eq!(ids, ["Always", "Fifo"]);
    assert_eq!(
        queues[0].attributes,
        vec![("VisibilityTimeout".to_owned(), "30".to_owned())]
    );
    assert_eq!(queues[1].name(), "Fifo.fifo");
    assert!(
        template
            .evaluator(&NoResources)
            .condition("HasNames")
            .unwrap()
    );

    template.set_parameter("Extra", "true").unwrap();
    let queues = template.queues().unwrap();
    assert_eq!(queues.len(), 3);
    assert_eq!(
        queues[0].attributes,
        vec![
            ("VisibilityTimeout".to_owned(), "60".to_owned()),
            ("DelaySeconds".to_owned(), "5".to_owned())
        ]
    );
    assert!(template.set_parameter("Nope", "1").is_err());
}

#[test]
fn sub_join_split_select_and_long_forms() {
    let yaml = r#"
Parameters:
  Env: { Type: String, Default: dev }
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          A: !Sub "${AWS::StackName}-${Env}-${!Literal}"
          B: !Sub ["${X}/${Topic.TopicName}", { X: !Ref Env }]
          C: { "Fn::Join": ["-", ["x", { Ref: Env }]] }
          D: !Select [1, !Split [",", "p,q,r"]]
          E: { "Fn::GetAtt": [Topic, TopicArn] }
          F: 42
"#;
    let template = Template::parse(yaml).unwrap();
    let mut local = LocalResources::default();
    local.topics.insert(
        "Topic".into(),
        LocalTopic {
            name: "Topic".into(),
            arn: "arn:aws:sns:us-east-1:123456789012:Topic".into(),
        },
    );
    let function = &template.functions().unwrap()[0];
    assert_eq!(function.binary, "Fn");
    let env = template.environment(function, &local).unwrap();
    assert_eq!(env["A"], "local-dev-${Literal}");
    assert_eq!(env["B"], "dev/Topic");
    assert_eq!(env["C"], "x-dev");
    assert_eq!(env["D"], "q");
    assert_eq!(env["E"], "arn:aws:sns:us-east-1:123456789012:Topic");
    assert_eq!(env["F"], "42");
}

#[test]
fn errors_name_where_and_what() {
    let yaml = r#"
Parameters:
  Issuer: { Type: String }
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          ISSUER: !Ref Issuer
          MISSING: !GetAtt Nowhere.Arn
          ODD: !FindInMap [M, K, V]
"#;
    let template = Template::parse(yaml).unwrap();
    let function = &template.functions().unwrap()[0];
    let error = template
        .environment(function, &LocalResources::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Variables.ISSUER") && error.contains("--param Issuer="),
        "{error}"
    );

    assert!(matches!(
        Template::parse("a: [b"),
        Err(TemplateError::Yaml(_))
    ));
    let table_without_keys =
        "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {}\n";
    let error = Template::parse(table_without_keys)
        .unwrap()
        .tables()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Resources.T.Properties.KeySchema"),
        "{error}"
    );
}
