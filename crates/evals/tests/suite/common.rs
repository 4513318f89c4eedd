//! Offline stacks for the tests, each on a runtime of its own thread (a `#[tokio::test]`'s
//! runtime ends with its test; the stack's listeners must not), living until the binary exits.
//! They run with the deployed rule, `AuthMode=api_keys`: the runner's key is checked, and the
//! gateway prices every call (`x-gateway-cost`).

use local_stack::{LocalStack, Options};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A running stack and a key issued on it.
pub struct Started {
    pub api_url: String,
    pub key: String,
}

/// The repository's starter suite.
pub fn starter_suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../evals")
}

/// Where a test's reports go: `target/evals/<name>` of the workspace.
pub fn out_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/evals")
        .join(name)
}

/// The stack as `template.yaml` deploys it, shared by the tests.
pub fn default_stack() -> &'static Started {
    static STACK: OnceLock<Started> = OnceLock::new();
    STACK.get_or_init(|| start(Vec::new()))
}

/// Starts a stack with these template parameter overrides (and `AuthMode=api_keys`).
pub fn start(mut parameters: Vec<(String, String)>) -> Started {
    parameters.push(("AuthMode".to_owned(), "api_keys".to_owned()));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the stack");
        runtime.block_on(async move {
            let options = Options {
                parameters,
                ..Options::ephemeral()
            };
            match LocalStack::start(options).await {
                Ok(stack) => {
                    let _ = sender.send(ready(&stack).await);
                    // Serve until the test binary exits (moto goes with it).
                    std::future::pending::<()>().await;
                }
                Err(error) => {
                    let _ = sender.send(Err(error.to_string()));
                }
            }
        });
    });
    match receiver.recv() {
        Ok(Ok(started)) => started,
        Ok(Err(error)) => panic!(
            "the offline stack did not start: {error}\n\
             (moto comes from .venv: run `bash scripts/setup.sh` or `make test`)"
        ),
        Err(_) => panic!("the offline stack's thread ended before it started"),
    }
}

/// The API's URL and a key `gatewayctl keys create` issued in the stack's state table.
async fn ready(stack: &LocalStack) -> Result<Started, String> {
    let api = stack
        .functions
        .iter()
        .find(|f| f.logical_id == "ApiFunction")
        .ok_or("no ApiFunction in template.yaml")?;
    if let Some(error) = &api.init_error {
        return Err(format!("ApiFunction's init failed: {error}"));
    }
    let table = api
        .env
        .values
        .get("STATE_TABLE")
        .cloned()
        .ok_or("ApiFunction has no STATE_TABLE")?;
    let args: Vec<String> = "keys create --tenant evals --name eval-runner --no-sigv4 --json"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let env = move |name: &str| (name == "STATE_TABLE").then(|| table.clone());
    let mut out = Vec::new();
    gatewayctl::run(
        &args,
        env,
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &mut out,
    )
    .await
    .map_err(|e| format!("gatewayctl keys create: {e:#}"))?;
    let created: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("gatewayctl's answer: {e}"))?;
    Ok(Started {
        api_url: stack
            .api_url
            .clone()
            .ok_or("the API function is not hosted")?,
        key: created["api_key"]
            .as_str()
            .ok_or("gatewayctl gave no api_key")?
            .to_owned(),
    })
}
