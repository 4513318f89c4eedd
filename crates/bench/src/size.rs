//! Package size: the release zip cargo-lambda builds for each Lambda function binary.
//!
//! Function binaries are discovered, not listed: every binary target of a package under
//! `crates/functions/` except local hosts (`*-local`, e.g. `api-local`), from `cargo metadata`.
//! Zips are read from `<target>/lambda/<bin>/bootstrap.zip` (cargo-lambda's output); a missing
//! zip is reported as not built, never guessed.

use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    manifest_path: PathBuf,
    targets: Vec<TargetInfo>,
}

#[derive(Deserialize)]
struct TargetInfo {
    name: String,
    kind: Vec<String>,
}

pub struct Workspace {
    pub functions: Vec<String>,
    pub target_dir: PathBuf,
}

/// Function binaries and the target directory of the workspace at `root`.
pub fn discover(root: &Path) -> anyhow::Result<Workspace> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("run cargo metadata")?;
    if !output.status.success() {
        anyhow::bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("parse cargo metadata")?;
    Ok(Workspace {
        functions: function_bins(&metadata, &root.join("crates").join("functions")),
        target_dir: metadata.target_directory,
    })
}

fn function_bins(metadata: &Metadata, functions_dir: &Path) -> Vec<String> {
    let mut bins: Vec<String> = metadata
        .packages
        .iter()
        .filter(|p| p.manifest_path.starts_with(functions_dir))
        .flat_map(|p| &p.targets)
        .filter(|t| t.kind.iter().any(|k| k == "bin") && !t.name.ends_with("-local"))
        .map(|t| t.name.clone())
        .collect();
    bins.sort();
    bins
}

pub struct PackageSize {
    pub function: String,
    pub zip: PathBuf,
    /// `None`: not built.
    pub zip_bytes: Option<u64>,
}

pub fn sizes(workspace: &Workspace) -> Vec<PackageSize> {
    workspace
        .functions
        .iter()
        .map(|f| {
            let zip = zip_path(&workspace.target_dir, f);
            let zip_bytes = std::fs::metadata(&zip).ok().map(|m| m.len());
            PackageSize {
                function: f.clone(),
                zip,
                zip_bytes,
            }
        })
        .collect()
}

pub fn zip_path(target_dir: &Path, function: &str) -> PathBuf {
    target_dir
        .join("lambda")
        .join(function)
        .join("bootstrap.zip")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_binaries_exclude_local_hosts_and_other_crates() {
        let json = r#"{"target_directory":"/w/target","packages":[
            {"manifest_path":"/w/crates/functions/api/Cargo.toml","targets":[
                {"name":"api","kind":["lib"]},{"name":"api","kind":["bin"]},{"name":"api-local","kind":["bin"]},
                {"name":"routes","kind":["test"]}]},
            {"manifest_path":"/w/crates/functions/worker/Cargo.toml","targets":[{"name":"worker","kind":["bin"]}]},
            {"manifest_path":"/w/crates/bedrock-sim/Cargo.toml","targets":[{"name":"bedrock-sim","kind":["bin"]}]}]}"#;
        let metadata: Metadata = serde_json::from_str(json).unwrap();
        assert_eq!(
            function_bins(&metadata, Path::new("/w/crates/functions")),
            ["api", "worker"]
        );
    }
}
