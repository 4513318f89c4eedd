//! The offline stack, shared by every test of this binary.
//!
//! It runs on a runtime of its own (a dedicated thread), because each `#[tokio::test]` has its
//! own runtime and the stack's listeners and pollers must outlive any one test. moto is a
//! child process that ends with this test binary.

use local_stack::{LocalStack, Options};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the tests need to reach the stack.
pub struct Stack {
    pub api_url: String,
    pub webhook_url: Option<String>,
    pub moto_url: String,
    /// Each hosted function's environment (logical id → variables), as the template gives it.
    pub env: BTreeMap<String, BTreeMap<String, String>>,
    /// Functions whose configuration failed their init, with why.
    pub init_errors: BTreeMap<String, String>,
}

impl Stack {
    /// Fails the test, saying why, unless these functions are running.
    pub fn require(&self, functions: &[&str]) -> &Self {
        for function in functions {
            assert!(
                self.env.contains_key(*function),
                "{function} is not in template.yaml"
            );
            if let Some(error) = self.init_errors.get(*function) {
                panic!(
                    "{function} is not running: its init failed: {error} (its environment comes from template.yaml)"
                );
            }
        }
        self
    }

    /// A variable of a function's environment, e.g. the worker's `NOTIFY_TOPIC_ARN`.
    pub fn env(&self, function: &str, name: &str) -> String {
        self.env
            .get(function)
            .and_then(|env| env.get(name))
            .unwrap_or_else(|| panic!("{function} has no {name} in its template environment"))
            .clone()
    }

    pub fn sdk(&self) -> aws_config::SdkConfig {
        testkit::local_sdk_config(&self.moto_url)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk())
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk())
    }
}

static STACK: OnceLock<Stack> = OnceLock::new();

pub fn stack() -> &'static Stack {
    STACK.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the stack");
            runtime.block_on(async move {
                match LocalStack::start(Options::ephemeral()).await {
                    Ok(stack) => {
                        let info = Stack {
                            api_url: stack.api_url.clone().expect("the API function is hosted"),
                            webhook_url: stack.webhook_url.clone(),
                            moto_url: stack.moto_url.clone(),
                            env: stack
                                .functions
                                .iter()
                                .map(|f| (f.logical_id.clone(), f.env.values.clone()))
                                .collect(),
                            init_errors: stack
                                .functions
                                .iter()
                                .filter_map(|f| Some((f.logical_id.clone(), f.init_error.clone()?)))
                                .collect(),
                        };
                        let _ = sender.send(Ok(info));
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
            Ok(Ok(stack)) => stack,
            Ok(Err(error)) => panic!(
                "the offline stack did not start: {error}\n\
                 (moto comes from .venv: run `bash scripts/setup.sh` or `make test`)"
            ),
            Err(_) => panic!("the offline stack's thread ended before it started"),
        }
    })
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Calls `probe` until it returns `Some`, or fails after `timeout` saying what it waited for.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
