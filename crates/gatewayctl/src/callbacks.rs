//! `gatewayctl callbacks secret --tenant T | --source S`: the secret a tenant's (or a webhook
//! source's) callback receiver verifies with. Each is derived from the deployment's master
//! callback secret(s) in `CALLBACK_SIGNING_SECRET` (the worker's variable), so no table holds
//! it and a receiver given one tenant's secret cannot verify another tenant's callbacks.

use anyhow::{anyhow, bail};
use gateway::jobs::callback::{CallbackSecrets, Signer};
use serde_json::json;
use std::io::Write;

/// The worker's master secret(s): `whsec_...`, several separated by spaces during a rotation.
pub const MASTER_VAR: &str = "CALLBACK_SIGNING_SECRET";

/// Prints the derived secret(s), the current one first: during a rotation of the masters the
/// worker signs with every one, so a receiver may accept any of them.
pub fn secret(
    tenant: Option<&str>,
    source: Option<&str>,
    json_out: bool,
    env: &impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let signer = match (tenant, source) {
        (Some(tenant), None) => Signer::Tenant(tenant),
        (None, Some(source)) => Signer::Source(source),
        _ => bail!("callbacks secret needs exactly one of --tenant T or --source S"),
    };
    let masters = env(MASTER_VAR)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| anyhow!("{MASTER_VAR} is not set (the worker's master callback secret)"))?;
    let secrets =
        CallbackSecrets::parse(&masters, None).map_err(|e| anyhow!("{MASTER_VAR}: {e}"))?;
    let derived = secrets.whsec_for(signer);
    if json_out {
        let (kind, name) = match signer {
            Signer::Tenant(t) => ("tenant", t),
            Signer::Source(s) => ("source", s),
        };
        writeln!(out, "{}", json!({kind: name, "secrets": derived}))?;
    } else {
        for secret in derived {
            writeln!(out, "{secret}")?;
        }
    }
    Ok(())
}
