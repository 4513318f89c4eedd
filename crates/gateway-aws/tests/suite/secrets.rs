//! The Secrets Manager adapter against moto's Secrets Manager: a value by name and by ARN,
//! cached for the TTL, a rotated value seen once the TTL has passed, the last good value kept
//! when a refresh fails, and the cold-start environment built from `*_SECRET_ID` variables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway::secrets::SecretSource;
use gateway_aws::secrets::{SecretsManagerSource, secret_env};
use std::time::Duration;

fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&testkit::moto().sdk_config())
}

/// A new secret holding `value`: (name, ARN).
async fn create(value: &str) -> (String, String) {
    let name = testkit::unique_name("gw-secret");
    let created = client()
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    (name, created.arn.unwrap())
}

async fn rotate(id: &str, value: &str) {
    client()
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_secret_is_read_by_name_or_arn_and_a_rotation_is_seen_after_the_ttl() {
    let (name, arn) = create("first").await;
    let ttl = Duration::from_millis(600);
    let source = SecretsManagerSource::new(client()).with_ttl(ttl);
    assert_eq!(source.secret_string(&name).await.unwrap(), "first");
    assert_eq!(source.secret_string(&arn).await.unwrap(), "first");

    rotate(&name, "second").await;
    // Within the TTL the cached value is used: no call, the old value.
    assert_eq!(source.secret_string(&name).await.unwrap(), "first");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(source.secret_string(&name).await.unwrap(), "second");
    assert_eq!(source.secret_string(&arn).await.unwrap(), "second");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_value_and_an_unknown_secret_fails() {
    let (name, _) = create("kept").await;
    let ttl = Duration::from_millis(300);
    let source = SecretsManagerSource::new(client()).with_ttl(ttl);
    assert_eq!(source.secret_string(&name).await.unwrap(), "kept");
    client()
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(source.secret_string(&name).await.unwrap(), "kept");

    let missing = testkit::unique_name("gw-missing");
    let error = source.secret_string(&missing).await.unwrap_err();
    assert_eq!(error.id, missing);
    assert!(
        error.message.contains("GetSecretValue"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn the_cold_start_environment_takes_each_secret_named_by_a_secret_id_variable() {
    let (seal, _) = create("seal-key-material").await;
    let (_, callback_arn) = create("whsec_Y2FsbGJhY2s=").await;
    let vars = [
        ("GATEWAY_KEY_SEAL_SECRET_ID", seal.clone()),
        ("CALLBACK_SIGNING_SECRET_ID", callback_arn),
        ("CALLBACK_SIGNING_SECRET", "whsec_plain".to_owned()),
        ("STATE_TABLE", "t".to_owned()),
    ];
    let base = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let env = secret_env(&testkit::moto().sdk_config(), &base)
        .await
        .unwrap();
    let lookup = env.over(base);
    assert_eq!(
        lookup("GATEWAY_KEY_SEAL_SECRET").as_deref(),
        Some("seal-key-material")
    );
    assert_eq!(
        lookup("CALLBACK_SIGNING_SECRET").as_deref(),
        Some("whsec_Y2FsbGJhY2s=")
    );
    assert_eq!(lookup("WEBHOOK_CONFIG"), None);
    assert_eq!(lookup("STATE_TABLE").as_deref(), Some("t"));

    // A secret id that names nothing fails the cold start, naming the id.
    let broken = |name: &str| (name == "WEBHOOK_CONFIG_SECRET_ID").then(|| "gw-nope".to_owned());
    let error = secret_env(&testkit::moto().sdk_config(), &broken)
        .await
        .unwrap_err();
    assert_eq!(error.id, "gw-nope");
}
