//! gatewayctl's commands, as a library so tests run them against the emulator.
//!
//! The table comes from `--table` or `STATE_TABLE`; the endpoint and credentials from the
//! standard AWS environment (`AWS_ENDPOINT_URL` for the local emulator). Keys usable with
//! SigV4 need `GATEWAY_KEY_SEAL_SECRET`, the same value the API function has.

mod callbacks;

use anyhow::{Context, anyhow, bail};
use gateway::controls::RouteClass;
use gateway::controls::controller::usage_report;
use gateway::controls::keys::{self, Budget, KeyRecord, RateLimits, TenantRecord};
use gateway::controls::ports::KeyStore;
use gateway::controls::pricing::PriceTable;
use gateway::controls::{Nanos, calendar};
use gateway_aws::control_store::DynamoControlStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;

pub const USAGE: &str = "\
usage: gatewayctl [--table NAME] COMMAND [OPTIONS]

keys
  keys create --tenant T [--name N] [--models a,b] [--routes converse,chat,...]
              [--rpm N] [--tpm N] [--concurrency N] [--daily-usd X] [--monthly-usd X]
              [--expires-in-days N] [--admin] [--no-sigv4] [--callback-hosts h1,*.h2]
                              the key is printed once; only its hash is stored
  keys list [--tenant T]
  keys show KEY_ID
  keys rotate KEY_ID [--grace-minutes N]   a new key with the same settings; the old one
                                           expires after the grace period (default 0: now)
  keys disable KEY_ID | keys enable KEY_ID
  keys set-limits KEY_ID [--model M] [--rpm N] [--tpm N] [--concurrency N] [--clear]
  keys set-budget KEY_ID [--daily-usd X] [--monthly-usd X] [--clear]
  keys set-callback-hosts KEY_ID --callback-hosts h1,*.h2 | --clear
                              hosts this key's jobs may call back (else the tenant's)
tenants
  tenants show T
  tenants set-budget T [--daily-usd X] [--monthly-usd X] [--clear]
  tenants set-jwt-limits T [--model M] [--rpm N] [--tpm N] [--concurrency N] [--clear]
  tenants set-jwt-models T --models a,b   (models the tenant's JWT callers may use; none: all)
  tenants set-callback-hosts T --callback-hosts h1,*.h2 | --clear
  tenants disable T | tenants enable T
callbacks
  callbacks secret --tenant T | --source S
                              the whsec_ secret(s) T's (or webhook source S's) callback
                              receiver verifies with, derived from CALLBACK_SIGNING_SECRET
reports
  usage --tenant T [--from YYYY-MM-DD] [--to YYYY-MM-DD]   (default: today, UTC)
  prices

options: --json prints JSON instead of tables
environment: STATE_TABLE, GATEWAY_KEY_SEAL_SECRET (or GATEWAY_KEY_SEAL_SECRET_ID), CALLBACK_SIGNING_SECRET, AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, ...";

const SEAL_VAR: &str = "GATEWAY_KEY_SEAL_SECRET";
const BOOLEAN_FLAGS: [&str; 5] = ["json", "admin", "no-sigv4", "clear", "help"];

/// Positional words and `--flag [value]` options.
#[derive(Debug, Default)]
struct Args {
    words: Vec<String>,
    flags: BTreeMap<String, String>,
}

impl Args {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut parsed = Self::default();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if let Some(flag) = arg.strip_prefix("--") {
                let (name, inline) = match flag.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_owned())),
                    None => (flag, None),
                };
                let value = if BOOLEAN_FLAGS.contains(&name) {
                    inline.unwrap_or_else(|| "true".to_owned())
                } else {
                    match inline {
                        Some(v) => v,
                        None => iter
                            .next()
                            .cloned()
                            .ok_or_else(|| anyhow!("--{name} needs a value"))?,
                    }
                };
                parsed.flags.insert(name.to_owned(), value);
            } else {
                parsed.words.push(arg.clone());
            }
        }
        Ok(parsed)
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    fn has(&self, name: &str) -> bool {
        self.flag(name).is_some_and(|v| v != "false")
    }

    fn number(&self, name: &str) -> anyhow::Result<Option<u64>> {
        self.flag(name)
            .map(|v| {
                v.parse::<u64>()
                    .with_context(|| format!("--{name} must be a whole number"))
            })
            .transpose()
    }

    fn usd(&self, name: &str) -> anyhow::Result<Option<f64>> {
        self.flag(name)
            .map(|v| {
                let usd: f64 = v
                    .parse()
                    .with_context(|| format!("--{name} must be an amount in USD"))?;
                Nanos::from_usd(usd)
                    .ok_or_else(|| anyhow!("--{name} must be a non-negative amount"))?;
                Ok(usd)
            })
            .transpose()
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.flag(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn word(&self, index: usize, what: &str) -> anyhow::Result<&str> {
        self.words
            .get(index)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("missing {what}\n\n{USAGE}"))
    }

    fn rate_limits(&self) -> anyhow::Result<RateLimits> {
        Ok(RateLimits {
            requests_per_minute: self.number("rpm")?,
            tokens_per_minute: self.number("tpm")?,
            concurrency: self.number("concurrency")?,
        })
    }
}

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

/// Runs one command. `env` is the environment (tests pass their own).
pub async fn run(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
    client: aws_sdk_dynamodb::Client,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let args = Args::parse(args)?;
    if args.words.is_empty() || args.has("help") || args.words[0] == "help" {
        writeln!(out, "{USAGE}")?;
        return Ok(());
    }
    if args.words[0] == "prices" {
        return prices(&args, out);
    }
    if args.words[0] == "callbacks" {
        if args.words.get(1).map(String::as_str) != Some("secret") {
            bail!("unknown command '{}'\n\n{USAGE}", args.words.join(" "));
        }
        return callbacks::secret(
            args.flag("tenant"),
            args.flag("source"),
            args.has("json"),
            &env,
            out,
        );
    }
    let table = args
        .flag("table")
        .map(str::to_owned)
        .or_else(|| env("STATE_TABLE"))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| anyhow!("no table: pass --table or set STATE_TABLE"))?;
    let store = DynamoControlStore::new(client, table, &Default::default());
    let seal = env(SEAL_VAR)
        .map(|s| s.trim().as_bytes().to_vec())
        .filter(|s| !s.is_empty());
    let ctl = Ctl {
        store,
        seal,
        json: args.has("json"),
    };
    match (
        args.words[0].as_str(),
        args.words.get(1).map(String::as_str),
    ) {
        ("keys", Some("create")) => ctl.create(&args, out).await,
        ("keys", Some("list")) => ctl.list(&args, out).await,
        ("keys", Some("show")) => {
            let record = ctl.key(args.word(2, "KEY_ID")?).await?;
            ctl.print_key(&record, out)
        }
        ("keys", Some("rotate")) => ctl.rotate(&args, out).await,
        ("keys", Some(verb @ ("disable" | "enable"))) => {
            let disabled = verb == "disable";
            let record = ctl
                .edit_key(args.word(2, "KEY_ID")?, |k| k.disabled = disabled)
                .await?;
            ctl.print_key(&record, out)
        }
        ("keys", Some("set-limits")) => {
            let limits = args.rate_limits()?;
            let model = args.flag("model").map(str::to_owned);
            let clear = args.has("clear");
            let record = ctl
                .edit_key(args.word(2, "KEY_ID")?, |k| {
                    set_limits(&mut k.limits, model, limits, clear)
                })
                .await?;
            ctl.print_key(&record, out)
        }
        ("keys", Some("set-budget")) => {
            let budget = budget_from(&args)?;
            let record = ctl
                .edit_key(args.word(2, "KEY_ID")?, |k| {
                    set_budget(&mut k.budget, budget, args.has("clear"))
                })
                .await?;
            ctl.print_key(&record, out)
        }
        ("keys", Some("set-callback-hosts")) => {
            let hosts = callback_hosts(&args)?;
            let record = ctl
                .edit_key(args.word(2, "KEY_ID")?, |k| k.callback_hosts = hosts)
                .await?;
            ctl.print_key(&record, out)
        }
        ("tenants", Some("show")) => {
            let tenant = ctl.tenant(args.word(2, "TENANT")?).await?;
            ctl.print_tenant(&tenant, out)
        }
        ("tenants", Some(verb)) => ctl.edit_tenant(verb, &args, out).await,
        ("usage", _) => ctl.usage(&args, out).await,
        _ => bail!("unknown command '{}'\n\n{USAGE}", args.words.join(" ")),
    }
}

/// `--callback-hosts a,*.b` (exact names or `*.suffix`), or `--clear` for none.
fn callback_hosts(args: &Args) -> anyhow::Result<Vec<String>> {
    if args.has("clear") {
        return Ok(Vec::new());
    }
    let hosts = args.list("callback-hosts");
    if hosts.is_empty() {
        bail!("give --callback-hosts h1,*.h2 or --clear");
    }
    if let Some(bad) = hosts
        .iter()
        .find(|h| h.contains(['/', ':', '@', ' ']) || h.trim_start_matches("*.").is_empty())
    {
        bail!("'{bad}' is not a host name or *.suffix pattern");
    }
    Ok(hosts.iter().map(|h| h.to_ascii_lowercase()).collect())
}

fn budget_from(args: &Args) -> anyhow::Result<Budget> {
    Ok(Budget {
        daily_usd: args.usd("daily-usd")?,
        monthly_usd: args.usd("monthly-usd")?,
    })
}

fn set_budget(budget: &mut Budget, new: Budget, clear: bool) {
    if clear {
        *budget = Budget::default();
    }
    budget.daily_usd = new.daily_usd.or(budget.daily_usd);
    budget.monthly_usd = new.monthly_usd.or(budget.monthly_usd);
}

fn set_limits(limits: &mut keys::KeyLimits, model: Option<String>, new: RateLimits, clear: bool) {
    let target = match model {
        Some(model) => limits.models.entry(model).or_default(),
        None => &mut limits.default,
    };
    if clear {
        *target = RateLimits::default();
    }
    *target = target.overlay(&new);
}

fn usd(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("${v}"))
}

fn limit(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Columns padded to their widest cell.
fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

struct Ctl {
    store: DynamoControlStore,
    seal: Option<Vec<u8>>,
    json: bool,
}

impl Ctl {
    async fn key(&self, key_id: &str) -> anyhow::Result<KeyRecord> {
        self.store
            .key_by_id(key_id)
            .await
            .map_err(|e| anyhow!(e))?
            .ok_or_else(|| anyhow!("no key {key_id}"))
    }

    async fn edit_key(
        &self,
        key_id: &str,
        edit: impl FnOnce(&mut KeyRecord),
    ) -> anyhow::Result<KeyRecord> {
        let mut record = self.key(key_id).await?;
        edit(&mut record);
        self.store.save_key(&record).await.map_err(|e| anyhow!(e))?;
        Ok(record)
    }

    async fn tenant(&self, tenant: &str) -> anyhow::Result<TenantRecord> {
        Ok(self
            .store
            .tenant(tenant)
            .await
            .map_err(|e| anyhow!(e))?
            .unwrap_or_else(|| TenantRecord {
                tenant: tenant.to_owned(),
                ..TenantRecord::default()
            }))
    }

    /// A new key from the OS's CSPRNG, sealed for SigV4 when a seal key is configured.
    fn issue(&self, tenant: &str, sigv4: bool) -> anyhow::Result<(keys::IssuedKey, KeyRecord)> {
        let mut entropy = [0u8; keys::ENTROPY_BYTES];
        getrandom::fill(&mut entropy).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
        let issued = keys::issue(&entropy);
        let mut record = KeyRecord::new(&issued, tenant, now_ms());
        if sigv4 && let Some(seal) = &self.seal {
            record.sigv4_sealed = Some(keys::seal_secret(&issued.secret, &issued.key_id, seal));
        }
        Ok((issued, record))
    }

    fn print_issued(
        &self,
        issued: &keys::IssuedKey,
        record: &KeyRecord,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        if self.json {
            writeln!(
                out,
                "{}",
                json!({
                    "key_id": issued.key_id, "api_key": issued.api_key, "tenant": record.tenant,
                    "aws_access_key_id": record.sigv4_sealed.as_ref().map(|_| &issued.key_id),
                    "aws_secret_access_key": record.sigv4_sealed.as_ref().map(|_| &issued.secret),
                })
            )?;
            return Ok(());
        }
        writeln!(out, "key id:   {}", issued.key_id)?;
        writeln!(out, "tenant:   {}", record.tenant)?;
        writeln!(out, "api key:  {}", issued.api_key)?;
        if record.sigv4_sealed.is_some() {
            writeln!(
                out,
                "as AWS credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
                issued.key_id, issued.secret
            )?;
        } else {
            writeln!(
                out,
                "(not usable with SigV4: {SEAL_VAR} is not set, or --no-sigv4)"
            )?;
        }
        writeln!(
            out,
            "The key is shown this once; the gateway keeps only its hash."
        )?;
        Ok(())
    }

    async fn create(&self, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
        let tenant = args
            .flag("tenant")
            .ok_or_else(|| anyhow!("keys create needs --tenant"))?;
        if !keys::valid_tenant(tenant) {
            bail!("'{tenant}' is not a usable tenant name (letters, digits, - _ . @ :)");
        }
        let (issued, mut record) = self.issue(tenant, !args.has("no-sigv4"))?;
        record.name = args.flag("name").unwrap_or_default().to_owned();
        record.allowed_models = args.list("models");
        record.allowed_routes = args
            .list("routes")
            .iter()
            .map(|r| RouteClass::parse(r).ok_or_else(|| anyhow!("unknown route '{r}'")))
            .collect::<anyhow::Result<_>>()?;
        record.limits.default = args.rate_limits()?;
        record.budget = budget_from(args)?;
        record.admin = args.has("admin");
        if args.flag("callback-hosts").is_some() {
            record.callback_hosts = callback_hosts(args)?;
        }
        record.expires_at_ms = args
            .number("expires-in-days")?
            .map(|d| now_ms() + d * 86_400_000);
        self.store
            .create_key(&record)
            .await
            .map_err(|e| anyhow!(e))?;
        self.print_issued(&issued, &record, out)
    }

    async fn rotate(&self, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
        let old_id = args.word(2, "KEY_ID")?;
        let mut old = self.key(old_id).await?;
        let (issued, mut record) = self.issue(&old.tenant, old.sigv4_sealed.is_some())?;
        let fresh = record.clone();
        record = KeyRecord {
            key_id: fresh.key_id,
            prefix: fresh.prefix,
            secret_hash: fresh.secret_hash,
            created_at_ms: fresh.created_at_ms,
            sigv4_sealed: fresh.sigv4_sealed,
            rotated_to: None,
            disabled: false,
            ..old.clone()
        };
        self.store
            .create_key(&record)
            .await
            .map_err(|e| anyhow!(e))?;
        let grace = args.number("grace-minutes")?.unwrap_or(0);
        let expires = now_ms() + grace * 60_000;
        old.expires_at_ms = Some(old.expires_at_ms.map_or(expires, |at| at.min(expires)));
        old.rotated_to = Some(record.key_id.clone());
        self.store.save_key(&old).await.map_err(|e| anyhow!(e))?;
        self.print_issued(&issued, &record, out)?;
        if !self.json {
            writeln!(out, "{} expires in {grace} minute(s)", old.key_id)?;
        }
        Ok(())
    }

    async fn list(&self, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
        let keys = self
            .store
            .list_keys(args.flag("tenant"))
            .await
            .map_err(|e| anyhow!(e))?;
        if self.json {
            let keys: Vec<Value> = keys.iter().map(key_json).collect();
            writeln!(out, "{}", Value::Array(keys))?;
            return Ok(());
        }
        let now = now_ms();
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| {
                vec![
                    k.key_id.clone(),
                    k.tenant.clone(),
                    k.name.clone(),
                    k.status(now).to_owned(),
                    limit(k.limits.default.requests_per_minute),
                    limit(k.limits.default.tokens_per_minute),
                    usd(k.budget.daily_usd),
                    usd(k.budget.monthly_usd),
                    if k.allowed_models.is_empty() {
                        "*".to_owned()
                    } else {
                        k.allowed_models.join(",")
                    },
                    if k.sigv4_sealed.is_some() {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "KEY ID", "TENANT", "NAME", "STATUS", "RPM", "TPM", "DAILY", "MONTHLY", "MODELS",
                "SIGV4",
            ],
            &rows,
        )?;
        Ok(())
    }

    fn print_key(&self, key: &KeyRecord, out: &mut impl Write) -> anyhow::Result<()> {
        let json = key_json(key);
        if self.json {
            writeln!(out, "{json}")?;
        } else {
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        Ok(())
    }

    fn print_tenant(&self, tenant: &TenantRecord, out: &mut impl Write) -> anyhow::Result<()> {
        let json = json!({
            "tenant": tenant.tenant, "budget": tenant.budget, "jwt_limits": tenant.jwt_limits,
            "jwt_allowed_models": tenant.jwt_allowed_models, "disabled": tenant.disabled,
            "callback_hosts": tenant.callback_hosts,
        });
        if self.json {
            writeln!(out, "{json}")?;
        } else {
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        Ok(())
    }

    async fn edit_tenant(
        &self,
        verb: &str,
        args: &Args,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        let mut tenant = self.tenant(args.word(2, "TENANT")?).await?;
        match verb {
            "set-budget" => set_budget(&mut tenant.budget, budget_from(args)?, args.has("clear")),
            "set-jwt-limits" => set_limits(
                &mut tenant.jwt_limits,
                args.flag("model").map(str::to_owned),
                args.rate_limits()?,
                args.has("clear"),
            ),
            "set-jwt-models" => tenant.jwt_allowed_models = args.list("models"),
            "set-callback-hosts" => tenant.callback_hosts = callback_hosts(args)?,
            "disable" => tenant.disabled = true,
            "enable" => tenant.disabled = false,
            other => bail!("unknown command 'tenants {other}'\n\n{USAGE}"),
        }
        self.store
            .save_tenant(&tenant)
            .await
            .map_err(|e| anyhow!(e))?;
        self.print_tenant(&tenant, out)
    }

    async fn usage(&self, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
        let tenant = args
            .flag("tenant")
            .ok_or_else(|| anyhow!("usage needs --tenant"))?;
        let today = calendar::day_string(now_ms() / 1_000);
        let to = args.flag("to").unwrap_or(&today).to_owned();
        let from = args.flag("from").unwrap_or(&to).to_owned();
        let report = usage_report(&self.store, tenant, &from, &to)
            .await
            .map_err(|e| anyhow!("{}", e.public_message()))?;
        if self.json {
            writeln!(out, "{}", serde_json::to_value(&report)?)?;
            return Ok(());
        }
        writeln!(out, "usage of {tenant}, {from} to {to} (UTC)\n")?;
        let rows: Vec<Vec<String>> = report
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.day.clone(),
                    r.principal.clone(),
                    r.model.clone(),
                    r.requests.to_string(),
                    r.input_tokens.to_string(),
                    r.output_tokens.to_string(),
                    (r.cache_read_tokens + r.cache_write_tokens).to_string(),
                    r.cache_hits.to_string(),
                    r.errors.to_string(),
                    format!("${}", Nanos(r.cost_nanos).usd()),
                ]
            })
            .collect();
        table(
            out,
            &[
                "DAY",
                "KEY",
                "MODEL",
                "REQUESTS",
                "INPUT",
                "OUTPUT",
                "CACHE TOKENS",
                "HITS",
                "ERRORS",
                "COST",
            ],
            &rows,
        )?;
        writeln!(out)?;
        let by_model: Vec<Vec<String>> = report
            .by_model
            .iter()
            .map(|(model, t)| {
                vec![
                    model.clone(),
                    t.requests.to_string(),
                    t.input_tokens.to_string(),
                    t.output_tokens.to_string(),
                    format!("${}", t.cost_usd),
                ]
            })
            .collect();
        table(
            out,
            &["MODEL", "REQUESTS", "INPUT", "OUTPUT", "COST"],
            &by_model,
        )?;
        writeln!(
            out,
            "\ntotal: {} requests, ${}",
            report.totals.requests, report.totals.cost_usd
        )?;
        Ok(())
    }
}

fn key_json(key: &KeyRecord) -> Value {
    json!({
        "key_id": key.key_id, "prefix": key.prefix, "tenant": key.tenant, "name": key.name,
        "status": key.status(now_ms()), "admin": key.admin,
        "allowed_models": key.allowed_models, "allowed_routes": key.allowed_routes,
        "limits": key.limits, "budget": key.budget, "expires_at_ms": key.expires_at_ms,
        "created_at_ms": key.created_at_ms, "sigv4": key.sigv4_sealed.is_some(),
        "rotated_to": key.rotated_to, "callback_hosts": key.callback_hosts,
    })
}

fn prices(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let table_ = PriceTable::builtin(&[]).map_err(|e| anyhow!(e))?;
    if args.has("json") {
        let entries: Vec<Value> = table_
            .entries()
            .iter()
            .map(|e| {
                json!({"model": e.model, "region": e.region, "profile": e.profile,
                    "input_per_1k": e.input_per_1k, "output_per_1k": e.output_per_1k,
                    "cache_read_per_1k": e.cache_read_per_1k, "cache_write_per_1k": e.cache_write_per_1k})
            })
            .collect();
        writeln!(
            out,
            "{}",
            json!({"source": table_.source, "as_of": table_.as_of, "prices": entries})
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "USD per 1k tokens, as of {}\nsource: {}\n",
        table_.as_of, table_.source
    )?;
    let opt = |v: Option<f64>| v.map_or_else(|| "(input)".to_owned(), |v| v.to_string());
    let rows: Vec<Vec<String>> = table_
        .entries()
        .iter()
        .map(|e| {
            vec![
                e.model.clone(),
                e.region.clone().unwrap_or_else(|| "*".into()),
                e.input_per_1k.to_string(),
                e.output_per_1k.to_string(),
                opt(e.cache_read_per_1k),
                opt(e.cache_write_per_1k),
            ]
        })
        .collect();
    table(
        out,
        &[
            "MODEL",
            "REGION",
            "INPUT",
            "OUTPUT",
            "CACHE READ",
            "CACHE WRITE",
        ],
        &rows,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Args {
        Args::parse(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_and_words() {
        let a = args(&[
            "keys", "create", "--tenant", "acme", "--json", "--rpm=10", "--models", "a, b",
        ]);
        assert_eq!(a.words, ["keys", "create"]);
        assert_eq!(a.flag("tenant"), Some("acme"));
        assert!(a.has("json"));
        assert_eq!(a.number("rpm").unwrap(), Some(10));
        assert_eq!(a.list("models"), ["a", "b"]);
        assert!(Args::parse(&["--tenant".to_owned()]).is_err());
        assert!(args(&["--rpm", "x"]).number("rpm").is_err());
        assert!(args(&["--daily-usd", "-1"]).usd("daily-usd").is_err());
    }

    #[test]
    fn limits_and_budgets_merge_unless_cleared() {
        let mut limits = keys::KeyLimits::default();
        set_limits(
            &mut limits,
            None,
            RateLimits {
                requests_per_minute: Some(5),
                ..Default::default()
            },
            false,
        );
        set_limits(
            &mut limits,
            None,
            RateLimits {
                tokens_per_minute: Some(9),
                ..Default::default()
            },
            false,
        );
        assert_eq!(
            (
                limits.default.requests_per_minute,
                limits.default.tokens_per_minute
            ),
            (Some(5), Some(9))
        );
        set_limits(
            &mut limits,
            Some("haiku".into()),
            RateLimits {
                concurrency: Some(1),
                ..Default::default()
            },
            false,
        );
        assert_eq!(limits.models["haiku"].concurrency, Some(1));
        set_limits(&mut limits, None, RateLimits::default(), true);
        assert!(limits.default.is_unlimited());
        let mut budget = Budget {
            daily_usd: Some(1.0),
            monthly_usd: None,
        };
        set_budget(
            &mut budget,
            Budget {
                daily_usd: None,
                monthly_usd: Some(9.0),
            },
            false,
        );
        assert_eq!(budget.daily_usd, Some(1.0));
        set_budget(&mut budget, Budget::default(), true);
        assert!(budget.is_unlimited());
    }

    #[test]
    fn tables_align() {
        let mut out = Vec::new();
        table(&mut out, &["A", "BB"], &[vec!["long".into(), "x".into()]]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A     BB\nlong  x\n");
    }
}
