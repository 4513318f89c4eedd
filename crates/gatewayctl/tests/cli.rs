//! gatewayctl against the emulator: the whole key lifecycle, tenants, usage and prices.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests read the wall clock and call adapters directly: the "one of" rules bind production code.
#![allow(clippy::disallowed_methods)]

use gateway::controls::keys::{hash_api_key, unseal_secret};
use gateway::controls::ledger::LedgerEntry;
use gateway::controls::ports::{CounterStore, KeyStore, Settlement};
use gateway::controls::usage::TokenUsage;
use gateway::controls::{Nanos, calendar};
use gateway_aws::control_store::DynamoControlStore;
use serde_json::Value;

struct Cli {
    table: String,
    client: aws_sdk_dynamodb::Client,
}

impl Cli {
    async fn new() -> Self {
        let moto = testkit::moto();
        let table = testkit::unique_name("state");
        testkit::resources::create_table(&moto.dynamodb(), &table, true, false).await;
        Self {
            table,
            client: moto.dynamodb(),
        }
    }

    async fn run(&self, args: &str) -> Result<String, String> {
        let args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
        let table = self.table.clone();
        let env = move |k: &str| match k {
            "STATE_TABLE" => Some(table.clone()),
            "GATEWAY_KEY_SEAL_SECRET" => Some("seal".to_owned()),
            _ => None,
        };
        let mut out = Vec::new();
        gatewayctl::run(&args, env, self.client.clone(), &mut out)
            .await
            .map(|()| String::from_utf8(out).unwrap())
            .map_err(|e| format!("{e:#}"))
    }

    async fn json(&self, args: &str) -> Value {
        let out = self.run(&format!("{args} --json")).await.unwrap();
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    fn store(&self) -> DynamoControlStore {
        DynamoControlStore::new(self.client.clone(), &self.table, &Default::default())
    }
}

#[tokio::test]
async fn keys_are_created_listed_limited_disabled_and_rotated() {
    let cli = Cli::new().await;
    let created = cli
        .json("keys create --tenant acme --name ci --models haiku,sonnet --rpm 60 --daily-usd 5")
        .await;
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    let api_key = created["api_key"].as_str().unwrap().to_owned();
    let secret = created["aws_secret_access_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Only the hash is stored; the SigV4 secret only sealed.
    let store = cli.store();
    let record = store
        .key_by_hash(&hash_api_key(&api_key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.key_id, key_id);
    assert_eq!(record.allowed_models, ["haiku", "sonnet"]);
    assert_eq!(record.limits.default.requests_per_minute, Some(60));
    assert_eq!(record.budget.daily_usd, Some(5.0));
    let sealed = record.sigv4_sealed.clone().unwrap();
    assert!(!sealed.contains(&secret));
    assert_eq!(unseal_secret(&sealed, &key_id, b"seal").unwrap(), secret);
    let raw = cli
        .client
        .scan()
        .table_name(&cli.table)
        .send()
        .await
        .unwrap();
    assert!(
        !format!("{:?}", raw.items()).contains(&secret),
        "the secret is nowhere in the table"
    );

    let listed = cli.run("keys list --tenant acme").await.unwrap();
    assert!(listed.starts_with("KEY ID"), "{listed}");
    assert!(listed.contains(&key_id) && listed.contains("active") && listed.contains("$5"));

    cli.run(&format!(
        "keys set-limits {key_id} --model haiku --tpm 1000"
    ))
    .await
    .unwrap();
    cli.run(&format!("keys set-budget {key_id} --monthly-usd 50"))
        .await
        .unwrap();
    let shown = cli.json(&format!("keys show {key_id}")).await;
    assert_eq!(
        shown["limits"]["models"]["haiku"]["tokens_per_minute"],
        1000
    );
    assert_eq!(shown["budget"]["daily_usd"], 5.0);
    assert_eq!(shown["budget"]["monthly_usd"], 50.0);

    let disabled = cli.json(&format!("keys disable {key_id}")).await;
    assert_eq!(disabled["status"], "disabled");
    assert!(
        store
            .key_by_hash(&hash_api_key(&api_key))
            .await
            .unwrap()
            .unwrap()
            .disabled,
        "both items updated"
    );
    cli.run(&format!("keys enable {key_id}")).await.unwrap();

    let rotated = cli
        .json(&format!("keys rotate {key_id} --grace-minutes 0"))
        .await;
    let new_id = rotated["key_id"].as_str().unwrap();
    assert_ne!(new_id, key_id);
    let new = store.key_by_id(new_id).await.unwrap().unwrap();
    assert_eq!(
        new.limits.models["haiku"].tokens_per_minute,
        Some(1000),
        "settings carried over"
    );
    assert_eq!(new.tenant, "acme");
    let old = cli.json(&format!("keys show {key_id}")).await;
    assert_eq!(old["status"], "expired");
    assert_eq!(old["rotated_to"], new_id);

    assert!(
        cli.run("keys show GWKAAAAAAAAAAAAAAAAA")
            .await
            .unwrap_err()
            .contains("no key")
    );
    assert!(
        cli.run("keys create")
            .await
            .unwrap_err()
            .contains("--tenant")
    );
    assert!(cli.run("keys create --tenant a#b").await.is_err());
}

#[tokio::test]
async fn tenants_usage_and_prices() {
    let cli = Cli::new().await;
    let tenant = cli
        .json("tenants set-budget acme --daily-usd 100 --monthly-usd 1000")
        .await;
    assert_eq!(tenant["budget"]["monthly_usd"], 1000.0);
    let tenant = cli.json("tenants set-jwt-limits acme --rpm 10").await;
    assert_eq!(tenant["jwt_limits"]["default"]["requests_per_minute"], 10);
    assert_eq!(tenant["budget"]["daily_usd"], 100.0, "other settings kept");

    let day = calendar::day_string(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    for (model, cost) in [("anthropic.haiku", 1_500_000), ("amazon.nova", 250)] {
        cli.store()
            .settle(&Settlement {
                adjustments: vec![],
                ledger: Some(LedgerEntry {
                    tenant: "acme".into(),
                    day: day.clone(),
                    principal: "GWKTEST".into(),
                    model: model.into(),
                    usage: TokenUsage {
                        input: 100,
                        output: 20,
                        ..TokenUsage::default()
                    },
                    cost: Nanos(cost),
                    cache_hit: false,
                    error: false,
                    expires_at_secs: u64::MAX / 4,
                }),
                cache: None,
            })
            .await
            .unwrap();
    }
    let table = cli.run("usage --tenant acme").await.unwrap();
    assert!(
        table.contains("anthropic.haiku") && table.contains("$0.0015"),
        "{table}"
    );
    assert!(table.contains("total: 2 requests, $0.00150025"), "{table}");
    let report = cli
        .json(&format!("usage --tenant acme --from {day} --to {day}"))
        .await;
    assert_eq!(report["totals"]["input_tokens"], 200);
    assert!(
        cli.run("usage --tenant acme --from 2026-01-02 --to 2026-01-01")
            .await
            .is_err()
    );

    let prices = cli.run("prices").await.unwrap();
    assert!(prices.contains("as of") && prices.contains(gateway::config::HAIKU));
    let prices = cli.json("prices").await;
    assert!(
        prices["source"]
            .as_str()
            .unwrap()
            .contains("aws.amazon.com")
    );
    assert!(cli.run("help").await.unwrap().contains("keys create"));
}

#[tokio::test]
async fn callback_hosts_are_set_on_keys_and_tenants() {
    let cli = Cli::new().await;
    let created = cli
        .json("keys create --tenant acme --callback-hosts hooks.acme.example,*.acme.example")
        .await;
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    let record = cli.store().key_by_id(&key_id).await.unwrap().unwrap();
    assert_eq!(
        record.callback_hosts,
        ["hooks.acme.example", "*.acme.example"]
    );
    let shown = cli
        .json(&format!(
            "keys set-callback-hosts {key_id} --callback-hosts other.example"
        ))
        .await;
    assert_eq!(
        shown["callback_hosts"],
        serde_json::json!(["other.example"])
    );
    let cleared = cli
        .json(&format!("keys set-callback-hosts {key_id} --clear"))
        .await;
    assert_eq!(cleared["callback_hosts"], serde_json::json!([]));
    assert!(
        cli.run(&format!(
            "keys set-callback-hosts {key_id} --callback-hosts https://x/y"
        ))
        .await
        .is_err()
    );
    let tenant = cli
        .json("tenants set-callback-hosts acme --callback-hosts hooks.acme.example")
        .await;
    assert_eq!(
        tenant["callback_hosts"],
        serde_json::json!(["hooks.acme.example"])
    );
    let stored = cli.store().tenant("acme").await.unwrap().unwrap();
    assert_eq!(stored.callback_hosts, ["hooks.acme.example"]);
}

#[tokio::test]
async fn callback_secrets_are_derived_per_tenant_and_source() {
    const MASTER: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let run = |args: &str, masters: Option<&'static str>| {
        let args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
        async move {
            let env = move |k: &str| match k {
                "CALLBACK_SIGNING_SECRET" => masters.map(str::to_owned),
                _ => None,
            };
            let mut out = Vec::new();
            gatewayctl::run(&args, env, testkit::moto().dynamodb(), &mut out)
                .await
                .map(|()| String::from_utf8(out).unwrap())
                .map_err(|e| format!("{e:#}"))
        }
    };
    let x = run("callbacks secret --tenant x", Some(MASTER))
        .await
        .unwrap();
    let y = run("callbacks secret --tenant y", Some(MASTER))
        .await
        .unwrap();
    let source = run("callbacks secret --source x", Some(MASTER))
        .await
        .unwrap();
    assert!(
        x.starts_with("whsec_") && x.trim().lines().count() == 1,
        "{x}"
    );
    assert!(x != y && x != source && y != source);
    assert!(!x.contains(&MASTER[6..]), "the master is never printed");
    // During a rotation every master yields a secret, the current one first.
    let rotation =
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_dGhpcy1pcy1hbm90aGVyLXNlY3JldC0xMjM0NTY=";
    let both = run("callbacks secret --tenant x", Some(rotation))
        .await
        .unwrap();
    assert_eq!(both.lines().next(), x.lines().next());
    assert_eq!(both.lines().count(), 2);
    // The derivation is the documented one.
    use base64::Engine as _;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&MASTER[6..])
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"gateway-callback-v1\0tenant\0x");
    let expected = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(x.trim(), expected);
    assert!(run("callbacks secret --tenant x", None).await.is_err());
    assert!(
        run("callbacks secret --tenant x --source y", Some(MASTER))
            .await
            .is_err()
    );
}
