//! What `gateway-local` prints once the suite is up: the URLs, what each function is invoked
//! by, the resources, and one curl example per flow (the same commands as the README's).

use crate::LocalStack;
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn summary(stack: &LocalStack) -> String {
    let mut out = String::new();
    let api = stack.api_url.as_deref().unwrap_or("http://127.0.0.1:8080");
    let moto = &stack.moto_url;
    // One line of the summary (appending to a String cannot fail).
    macro_rules! say {
        ($($arg:tt)*) => {
            let _ = writeln!(out, $($arg)*);
        };
    }
    say!("\ngateway-local is up. Ctrl-C stops everything it started.\n");
    say!(
        "  API        {}",
        stack.api_url.as_deref().unwrap_or("(not hosted)")
    );
    say!(
        "  webhooks   {}",
        stack.webhook_url.as_deref().unwrap_or("(not hosted)")
    );
    if let Some(inbox) = &stack.callback_inbox_url {
        say!("  callbacks  {inbox}   (a receiver that logs the callbacks it gets)");
    }
    say!("  moto       {moto}   (DynamoDB, Streams, SQS, SNS)");
    say!("  bedrock    {}   (bedrock-sim)", stack.bedrock_url);

    say!("\nFunctions (environment from template.yaml):");
    for function in &stack.functions {
        match &function.init_error {
            Some(error) => {
                say!(
                    "  {} [{}] NOT RUNNING: init failed: {error}",
                    function.logical_id,
                    function.binary
                );
            }
            None => {
                say!(
                    "  {} [{}] <- {}",
                    function.logical_id,
                    function.binary,
                    function.invoked_by.join("; ")
                );
            }
        }
        say!("      {}", function.env.describe());
        let defaults = function.env.local_defaults_read();
        if !defaults.is_empty() {
            say!(
                "      local defaults (not in template.yaml): {}",
                defaults.join(", ")
            );
        }
    }

    say!("\nResources (named by logical id):");
    let tables: Vec<String> = stack
        .resources
        .tables
        .iter()
        .map(|(id, t)| {
            if t.stream_arn.is_some() {
                format!("{id} (stream)")
            } else {
                id.clone()
            }
        })
        .collect();
    say!("  tables  {}", tables.join(", "));
    say!("  queues  {}", ids(&stack.resources.queues));
    say!("  topics  {}", ids(&stack.resources.topics));
    if !stack.resources.secrets.is_empty() {
        say!("  secrets {}", ids(&stack.resources.secrets));
    }

    let documents = stack
        .functions
        .iter()
        .find_map(|f| f.env.values.get("DOCUMENTS_TABLE").cloned())
        .unwrap_or_else(|| "DocumentsTable".to_owned());
    let ddb = format!(
        "curl -s {moto} --aws-sigv4 aws:amz:us-east-1:dynamodb --user test:test \\\n    -H 'content-type: application/x-amz-json-1.0'"
    );

    say!("\nTry it:");
    say!("  # sync (Bedrock Converse shape; model id or alias)");
    say!(
        "  curl -s {api}/v1/converse -H 'content-type: application/json' \\\n    -d '{{\"modelId\":\"haiku\",\"messages\":[{{\"role\":\"user\",\"content\":[{{\"text\":\"Hello\"}}]}}]}}'"
    );
    say!("  # streaming (server-sent events)");
    say!(
        "  curl -sN {api}/v1/converse-stream -H 'content-type: application/json' \\\n    -d '{{\"modelId\":\"haiku\",\"messages\":[{{\"role\":\"user\",\"content\":[{{\"text\":\"Hello\"}}]}}]}}'"
    );
    say!("  # OpenAI client shape (any OpenAI SDK with base_url={api}/v1)");
    say!(
        "  curl -s {api}/v1/chat/completions -H 'content-type: application/json' \\\n    -d '{{\"model\":\"haiku\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'"
    );
    say!(
        "  # async job: submit, then poll with the returned job id (the worker runs it; SNS notifies)"
    );
    say!(
        "  job=$(curl -s {api}/v1/jobs -H 'content-type: application/json' -H \"idempotency-key: $RANDOM\" \\\n    -d '{{\"converse\":{{\"modelId\":\"haiku\",\"messages\":[{{\"role\":\"user\",\"content\":[{{\"text\":\"Summarise this\"}}]}}]}}}}' \\\n    | sed 's/.*\"job_id\":\"\\([^\"]*\\)\".*/\\1/')"
    );
    say!("  curl -s {api}/v1/jobs/$job");
    say!(
        "  # document enrichment: write a PENDING item (the stream processor enriches it), then read it"
    );
    say!(
        "  {ddb} -H 'x-amz-target: DynamoDB_20120810.PutItem' \\\n    -d '{{\"TableName\":\"{documents}\",\"Item\":{{\"pk\":{{\"S\":\"doc-1\"}},\"version\":{{\"N\":\"1\"}},\"status\":{{\"S\":\"PENDING\"}},\"task\":{{\"S\":\"summarize\"}},\"content\":{{\"S\":\"The parcel arrived two days late and the box was crushed.\"}}}}}}'"
    );
    say!(
        "  {ddb} -H 'x-amz-target: DynamoDB_20120810.GetItem' \\\n    -d '{{\"TableName\":\"{documents}\",\"Key\":{{\"pk\":{{\"S\":\"doc-1\"}}}}}}'"
    );
    if let Some(jobs_queue) = stack.resources.queues.get("JobsQueue") {
        let message = r#"{\"schema\":\"gateway.job.v1\",\"producer\":\"demo\",\"idempotency_id\":\"order-1\",\"model\":\"haiku\",\"request\":{\"converse\":{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise order 1\"}]}]}}}"#;
        say!(
            "  # direct SQS producer: a gateway.job.v1 message on the jobs queue becomes a job (tenant demo)"
        );
        say!(
            "  curl -s {moto} --aws-sigv4 aws:amz:us-east-1:sqs --user test:test \\\n    -H 'content-type: application/x-amz-json-1.0' -H 'x-amz-target: AmazonSQS.SendMessage' \\\n    -d '{{\"QueueUrl\":\"{}\",\"MessageBody\":\"{message}\"}}'",
            jobs_queue.url
        );
        if let Some(bus) = stack.resources.buses.values().next() {
            say!(
                "  # EventBridge producer: a GenAI Job Requested event (its id is the idempotency id); results come back as GenAI Job Succeeded/Failed"
            );
            // No idempotency id: the event's own id is the job's.
            let detail = message.replace(r#"\"idempotency_id\":\"order-1\","#, "");
            say!(
                "  curl -s {moto} --aws-sigv4 aws:amz:us-east-1:events --user test:test \\\n    -H 'content-type: application/x-amz-json-1.1' -H 'x-amz-target: AWSEvents.PutEvents' \\\n    -d '{{\"Entries\":[{{\"EventBusName\":\"{}\",\"Source\":\"com.example.demo\",\"DetailType\":\"GenAI Job Requested\",\"Detail\":\"{}\"}}]}}'",
                bus.name,
                detail
            );
        }
        say!(
            "  # a producer's job, read by its tenant (a key of tenant demo when controls are on)"
        );
        say!(
            "  curl -s {api}/v1/jobs/job-$(printf 'demo\\0producer/demo/order-1' | sha256sum | cut -c1-32)"
        );
    }
    if let Some(bucket) = stack.resources.buckets.values().next() {
        say!(
            "  # Bedrock's async API (any bedrock-runtime client pointed at the gateway): start, poll, list; the answer lands in S3"
        );
        let aws = format!(
            "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --region us-east-1 --endpoint-url {api}"
        );
        say!(
            "  arn=$({aws} bedrock-runtime start-async-invoke --model-id haiku \\\n    --model-input '{{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":200,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}' \\\n    --output-data-config '{{\"s3OutputDataConfig\":{{\"s3Uri\":\"s3://{bucket}/runs\"}}}}' --query invocationArn --output text)"
        );
        say!("  {aws} bedrock-runtime get-async-invoke --invocation-arn \"$arn\"");
        say!("  {aws} bedrock-runtime list-async-invokes --status-equals Completed");
        say!(
            "  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --region us-east-1 --endpoint-url {moto} s3 cp \"s3://{bucket}/runs/${{arn##*/}}/output.json\" -"
        );
    }
    if let Some(webhook) = &stack.webhook_url {
        let callback = stack
            .callback_inbox_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8082/callbacks");
        say!(
            "  # webhook with a callback: a signed delivery becomes a job; the worker POSTs the result to callback_url"
        );
        say!(
            "  body='{{\"ticket\":{{\"id\":\"T-1\",\"title\":\"Printer on fire\",\"body\":\"Smoke on floor 3.\"}},\"callback_url\":\"{callback}/T-1\"}}'"
        );
        say!(
            "  sig=$(printf '%s' \"$body\" | openssl dgst -sha256 -hmac {} -r | cut -d' ' -f1)",
            crate::local_defaults::DEMO_WEBHOOK_SECRET
        );
        say!(
            "  curl -s {webhook}/webhooks/demo -H 'content-type: application/json' \\\n    -H \"x-github-delivery: $(date +%s)-$RANDOM\" -H \"x-hub-signature-256: sha256=$sig\" -d \"$body\""
        );
    }
    out
}

/// The logical ids of one kind of resource, in order, comma-separated.
fn ids<V>(resources: &BTreeMap<String, V>) -> String {
    resources.keys().cloned().collect::<Vec<_>>().join(", ")
}
