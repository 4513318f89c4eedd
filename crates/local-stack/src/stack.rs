//! Start and stop the whole suite: emulator, simulator, the template's resources, and every
//! function hosted as its event sources would invoke it.

use crate::StackError;
use crate::endpoints;
use crate::hosts::{self, Fallback, FunctionEnv, StopSignal};
use crate::moto::{self, MotoServer};
use crate::resources::{self, LocalResources};
use crate::template::{EventSpec, FunctionSpec, Template};
use event_source_emulator::dynamodb_stream::{
    DynamoDbStreamPoller, FilterCriteria, OnFailure, StartingPosition,
};
use event_source_emulator::sqs::SqsPoller;
use gateway::secrets::SecretEnv;
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the emulator comes from.
#[derive(Debug, Clone)]
pub enum MotoSource {
    /// Start `.venv/bin/gateway-moto-server` (or `binary`) on `port` (0: a free one), output to `log`.
    Start {
        binary: Option<PathBuf>,
        port: u16,
        log: PathBuf,
    },
    /// Use a running, empty emulator at this URL.
    External(String),
}

#[derive(Clone)]
pub struct Options {
    pub template: PathBuf,
    /// Parameter overrides (`Name`, `Value`), as `sam deploy --parameter-overrides`.
    pub parameters: Vec<(String, String)>,
    pub api_addr: SocketAddr,
    pub webhook_addr: SocketAddr,
    pub bedrock_addr: SocketAddr,
    pub moto: MotoSource,
    /// Where variables the template leaves empty come from (default: this process's env).
    pub fallback_env: Fallback,
    /// Log what each SNS topic publishes (through a `<Topic>-local-tap` queue).
    pub topic_taps: bool,
    /// Supply the [`local_defaults`](crate::local_defaults) the template leaves empty.
    pub local_defaults: bool,
    /// Where the offline run's callback receiver listens (`None`: no receiver).
    pub callback_inbox_addr: Option<SocketAddr>,
}

impl Options {
    /// Every port chosen by the kernel, the repository's template: for tests.
    pub fn ephemeral() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            template: default_template(),
            parameters: Vec::new(),
            api_addr: any,
            webhook_addr: any,
            bedrock_addr: any,
            moto: MotoSource::Start {
                binary: None,
                port: 0,
                log: std::env::temp_dir()
                    .join(format!("gateway-local-moto-{}.log", std::process::id())),
            },
            fallback_env: Arc::new(|name| std::env::var(name).ok()),
            topic_taps: false,
            local_defaults: true,
            callback_inbox_addr: None,
        }
    }
}

/// `./template.yaml` when run from the repository root, else the workspace's.
pub fn default_template() -> PathBuf {
    let here = PathBuf::from("template.yaml");
    if here.exists() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
    }
}

/// A function as it runs locally.
#[derive(Debug, Clone)]
pub struct HostedFunction {
    pub logical_id: String,
    pub binary: String,
    /// How it is invoked locally (listener URL, queue, stream), or why it is not.
    pub invoked_by: Vec<String>,
    /// Why the function is not running: its configuration failed its init.
    pub init_error: Option<String>,
    pub env: FunctionEnv,
}

/// The running suite. Stop it with [`LocalStack::stop`] (dropping it also ends moto, but
/// without letting in-flight batches finish).
pub struct LocalStack {
    pub moto_url: String,
    pub bedrock_url: String,
    /// The API function's listener (`http://127.0.0.1:PORT`).
    pub api_url: Option<String>,
    /// The webhook function's listener.
    pub webhook_url: Option<String>,
    /// The callback receiver of the offline run (`.../callbacks`), when enabled.
    pub callback_inbox_url: Option<String>,
    pub resources: LocalResources,
    pub functions: Vec<HostedFunction>,
    pub sdk: aws_config::SdkConfig,
    moto: Option<MotoServer>,
    bedrock: Option<bedrock_sim::SimHandle>,
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<()>)>,
}

fn free_port() -> Result<u16, StackError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| StackError::Moto(format!("no free port: {e}")))
}

fn function_error(function: &str, message: impl std::fmt::Display) -> StackError {
    StackError::Function {
        function: function.to_owned(),
        message: message.to_string(),
    }
}

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

fn number(value: &Json) -> Option<i64> {
    match value {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl LocalStack {
    pub async fn start(options: Options) -> Result<Self, StackError> {
        let mut template = Template::from_file(&options.template)?;
        if options.local_defaults
            && !options
                .parameters
                .iter()
                .any(|(name, _)| name == "AuthMode")
        {
            // Deployed stacks require gateway API keys; the offline run answers without them so
            // the README's curls work. `--param AuthMode=api_keys` runs with the deployed rule.
            template.set_parameter("AuthMode", "none")?;
        }
        for (name, value) in &options.parameters {
            template.set_parameter(name, value)?;
        }

        let moto_server = match &options.moto {
            MotoSource::External(_) => None,
            MotoSource::Start { binary, port, log } => {
                let binary = match binary {
                    Some(b) => b.clone(),
                    None => moto::find_binary().map_err(StackError::Moto)?,
                };
                let port = if *port == 0 { free_port()? } else { *port };
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                    return Err(StackError::Moto(format!(
                        "port {port} is in use (another gateway-local?); choose another with --moto-port"
                    )));
                }
                Some(
                    MotoServer::start(&binary, port, log)
                        .await
                        .map_err(StackError::Moto)?,
                )
            }
        };
        let moto_url = match (&options.moto, &moto_server) {
            (MotoSource::External(url), _) => url.clone(),
            (_, Some(server)) => server.endpoint_url().to_owned(),
            (_, None) => return Err(StackError::Moto("no emulator".into())),
        };
        tracing::info!(url = %moto_url, "moto (DynamoDB, Streams, SQS, SNS) ready");

        let sim_config =
            bedrock_sim::SimConfig::from_env().map_err(|e| StackError::Simulator(e.to_string()))?;
        let bedrock = bedrock_sim::Simulator::bind(options.bedrock_addr, sim_config)
            .await
            .map_err(|e| {
                StackError::Simulator(format!("{e} (address {})", options.bedrock_addr))
            })?;
        let bedrock_url = bedrock.endpoint_url();
        tracing::info!(url = %bedrock_url, "bedrock-sim ready");

        let sdk = endpoints::sdk_config(&moto_url, &bedrock_url).await;
        let (stop_sender, stop) = StopSignal::new();
        let mut stack = Self {
            moto_url,
            bedrock_url,
            api_url: None,
            webhook_url: None,
            callback_inbox_url: None,
            resources: LocalResources::default(),
            functions: Vec::new(),
            sdk,
            moto: moto_server,
            bedrock: Some(bedrock),
            stop: stop_sender,
            tasks: Vec::new(),
        };
        // From here on a failure must still stop what was started.
        if let Err(error) = stack.provision(&template, &options, stop).await {
            stack.stop().await;
            return Err(error);
        }
        Ok(stack)
    }

    async fn provision(
        &mut self,
        template: &Template,
        options: &Options,
        stop: StopSignal,
    ) -> Result<(), StackError> {
        self.resources = resources::create(template, &self.sdk).await?;
        if options.topic_taps {
            let sqs = aws_sdk_sqs::Client::new(&self.sdk);
            let sns = aws_sdk_sns::Client::new(&self.sdk);
            for (id, topic) in &self.resources.topics {
                let tap = hosts::topic_tap::create(&sqs, &sns, id, &topic.arn)
                    .await
                    .map_err(|message| StackError::Resource {
                        what: format!("tap queue of {id}"),
                        message,
                    })?;
                let task = tokio::spawn(hosts::topic_tap::run(tap, sqs.clone(), stop.clone()));
                self.tasks.push((format!("{id} tap"), task));
            }
        }
        for function in template.functions()? {
            let values = template.environment(&function, &self.resources)?;
            let env =
                FunctionEnv::new(values, options.fallback_env.clone(), options.local_defaults);
            let mut hosted = HostedFunction {
                logical_id: function.logical_id.clone(),
                binary: function.binary.clone(),
                invoked_by: Vec::new(),
                init_error: None,
                env,
            };
            // A function whose configuration fails its init does not run, as in Lambda; the
            // others still do, and the summary (and the end-to-end tests) say why.
            match self
                .host(template, &function, &mut hosted, options, &stop)
                .await
            {
                Ok(()) => {}
                Err(StackError::Function { message, .. }) => {
                    tracing::error!(function = %function.logical_id, error = %message, "init failed: the function is not running");
                    hosted.init_error = Some(message);
                }
                Err(other) => return Err(other),
            }
            self.functions.push(hosted);
        }
        if let Some(addr) = options.callback_inbox_addr {
            let secret = self
                .functions
                .iter()
                .find(|f| f.binary == "worker")
                .and_then(|f| f.env.get("CALLBACK_SIGNING_SECRET"));
            let (bound, task) = hosts::callback_inbox::serve(addr, secret, stop.clone()).await?;
            self.callback_inbox_url = Some(format!("http://{bound}/callbacks"));
            self.tasks.push(("callback inbox".to_owned(), task));
        }
        Ok(())
    }

    /// Hosts one function by its binary, as its template events say it is invoked.
    async fn host(
        &mut self,
        template: &Template,
        function: &FunctionSpec,
        hosted: &mut HostedFunction,
        options: &Options,
        stop: &StopSignal,
    ) -> Result<(), StackError> {
        let id = function.logical_id.as_str();
        match function.binary.as_str() {
            "api" if self.api_url.is_some() => {
                let url = self.api_url.clone().unwrap_or_default();
                hosted
                    .invoked_by
                    .push(format!("the same binary as the API listener ({url})"));
            }
            "api" => {
                let secrets = self.secrets(id, &hosted.env).await?;
                let mut state =
                    api::AppState::from_env(&self.sdk, secrets.over(hosted.env.lookup()))
                        .map_err(|e| function_error(id, e))?;
                // EMF metric lines are for CloudWatch; here stdout is the summary, and the audit
                // log line of each request carries the same numbers.
                if let Some(state) = Arc::get_mut(&mut state) {
                    state.metrics = api::MetricsSink::Off;
                }
                let (addr, task) =
                    hosts::http::serve(id, api::router(state), options.api_addr, stop.clone())
                        .await?;
                let url = format!("http://{addr}");
                hosted.invoked_by.push(format!("HTTP {url}"));
                self.api_url = Some(url);
                self.tasks.push((id.to_owned(), task));
            }
            "webhook" if self.webhook_url.is_some() => {
                let url = self.webhook_url.clone().unwrap_or_default();
                hosted
                    .invoked_by
                    .push(format!("the same binary as the webhook listener ({url})"));
            }
            "webhook" => {
                let secrets = self.secrets(id, &hosted.env).await?;
                let state =
                    webhook::AppState::from_env(&self.sdk, secrets.over(hosted.env.lookup()))
                        .map_err(|e| function_error(id, e))?;
                let (addr, task) = hosts::http::serve(
                    id,
                    webhook::router(state),
                    options.webhook_addr,
                    stop.clone(),
                )
                .await?;
                let url = format!("http://{addr}");
                hosted
                    .invoked_by
                    .push(format!("HTTP {url}/webhooks/{{source}}"));
                self.webhook_url = Some(url);
                self.tasks.push((id.to_owned(), task));
            }
            "worker" => {
                let secrets = self.secrets(id, &hosted.env).await?;
                let worker = Arc::new(
                    build_worker(&self.sdk, &hosted.env, &secrets)
                        .map_err(|e| function_error(id, e))?,
                );
                for event in template.events(function, "SQS", &self.resources)? {
                    let poller = self.sqs_poller(function, &event)?;
                    let queue = self
                        .resources
                        .queue_by_arn(event.properties["Queue"].as_str().unwrap_or_default())
                        .map(|q| q.name.clone())
                        .unwrap_or_default();
                    hosted
                        .invoked_by
                        .push(format!("SQS {queue} (batch {})", poller.batch_size));
                    let worker = worker.clone();
                    let task = tokio::spawn(hosts::sqs_source::run(
                        id.to_owned(),
                        poller,
                        move |event| {
                            let worker = worker.clone();
                            async move {
                                let (worker, callbacks) = &*worker;
                                worker.handle_with(event, callbacks.as_ref()).await
                            }
                        },
                        stop.clone(),
                    ));
                    self.tasks.push((format!("{id} {}", event.name), task));
                }
            }
            "stream-processor" => {
                let processor = Arc::new(
                    stream_processor::LambdaProcessor::from_env(&self.sdk, hosted.env.lookup())
                        .map_err(|e| function_error(id, e))?,
                );
                for event in template.events(function, "DynamoDB", &self.resources)? {
                    let poller = self.stream_poller(function, &event)?;
                    hosted
                        .invoked_by
                        .push(format!("DynamoDB stream of {}", self.stream_table(&event)));
                    let processor = processor.clone();
                    let timeout_ms = function.timeout_secs * 1000;
                    let task = tokio::spawn(hosts::stream_source::run(
                        id.to_owned(),
                        poller,
                        move |event| {
                            let processor = processor.clone();
                            async move {
                                // The invocation's deadline, as Lambda's context would give it.
                                let deadline =
                                    stream_processor::deadline_from(now_ms() + timeout_ms);
                                processor.handle(event, deadline).await
                            }
                        },
                        stop.clone(),
                    ));
                    self.tasks.push((format!("{id} {}", event.name), task));
                }
            }
            other => hosted
                .invoked_by
                .push(format!("not hosted: no local host for binary `{other}`")),
        }
        Ok(())
    }

    fn sqs_poller(
        &self,
        function: &FunctionSpec,
        event: &EventSpec,
    ) -> Result<SqsPoller, StackError> {
        let arn = event.properties["Queue"].as_str().unwrap_or_default();
        let queue = self.resources.queue_by_arn(arn).ok_or_else(|| {
            function_error(
                &function.logical_id,
                format!("event {}: queue {arn} is not a local queue", event.name),
            )
        })?;
        let mut poller =
            SqsPoller::new(aws_sdk_sqs::Client::new(&self.sdk), &queue.url, &queue.arn);
        // ReceiveMessage returns at most 10, whatever the mapping's batch size.
        poller.batch_size = number(&event.properties["BatchSize"])
            .unwrap_or(10)
            .clamp(1, 10) as i32;
        poller.wait_seconds = hosts::sqs_source::WAIT_SECONDS;
        Ok(poller)
    }

    fn stream_table(&self, event: &EventSpec) -> String {
        let arn = event.properties["Stream"].as_str().unwrap_or_default();
        self.resources
            .table_by_stream_arn(arn)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| arn.to_owned())
    }

    fn stream_poller(
        &self,
        function: &FunctionSpec,
        event: &EventSpec,
    ) -> Result<DynamoDbStreamPoller, StackError> {
        let p = &event.properties;
        let arn = p["Stream"].as_str().ok_or_else(|| {
            function_error(
                &function.logical_id,
                format!("event {}: no Stream", event.name),
            )
        })?;
        let mut poller =
            DynamoDbStreamPoller::new(aws_sdk_dynamodbstreams::Client::new(&self.sdk), arn)
                .with_function_arn(format!(
                    "arn:aws:lambda:{}:{}:function:{}",
                    crate::template::intrinsics::REGION,
                    crate::template::intrinsics::ACCOUNT_ID,
                    function.logical_id
                ))
                .with_starting_position(match p["StartingPosition"].as_str() {
                    Some("LATEST") => StartingPosition::Latest,
                    _ => StartingPosition::TrimHorizon,
                });
        if let Some(size) = number(&p["BatchSize"]) {
            poller = poller.with_batch_size(size as i32);
        }
        if let Some(retries) = number(&p["MaximumRetryAttempts"]).filter(|r| *r >= 0) {
            poller = poller.with_maximum_retry_attempts(retries as u32);
        }
        if let Some(filters) = p["FilterCriteria"]["Filters"].as_array() {
            let patterns: Vec<&str> = filters
                .iter()
                .filter_map(|f| f["Pattern"].as_str())
                .collect();
            let filter = FilterCriteria::from_patterns(patterns).map_err(|e| {
                function_error(
                    &function.logical_id,
                    format!("event {} FilterCriteria: {e}", event.name),
                )
            })?;
            poller = poller.with_filter(filter);
        }
        if let Some(destination) = p["DestinationConfig"]["OnFailure"]["Destination"].as_str() {
            let queue = self.resources.queue_by_arn(destination).ok_or_else(|| {
                function_error(
                    &function.logical_id,
                    format!(
                        "event {}: on-failure destination {destination} is not a local queue",
                        event.name
                    ),
                )
            })?;
            poller = poller.with_on_failure(OnFailure::Sqs {
                client: aws_sdk_sqs::Client::new(&self.sdk),
                queue_url: queue.url.clone(),
            });
        }
        Ok(poller)
    }

    /// The function's variables that come from Secrets Manager (its `*_SECRET_ID`s, naming
    /// secrets the template created in moto), read as its Lambda `main.rs` reads them.
    async fn secrets(&self, id: &str, env: &FunctionEnv) -> Result<SecretEnv, StackError> {
        gateway_aws::secrets::secret_env(&self.sdk, &env.lookup())
            .await
            .map_err(|e| function_error(id, e))
    }

    /// Stops the pollers and listeners (each finishes its batch or request), then bedrock-sim
    /// and moto.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for (name, task) in self.tasks.drain(..) {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(_) => tracing::debug!(task = %name, "stopped"),
                Err(_) => tracing::warn!(task = %name, "did not stop within 30 s"),
            }
        }
        if let Some(bedrock) = self.bedrock.take() {
            let _ = bedrock.shutdown().await;
        }
        if let Some(moto) = self.moto.take() {
            moto.stop().await;
        }
    }

    pub fn function(&self, logical_id: &str) -> Option<&HostedFunction> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }
}

/// The worker as its Lambda `main.rs` wires it, from the function's environment.
type HostedWorker = (worker::LambdaWorker, Option<worker::Callbacks>);

fn build_worker(
    sdk: &aws_config::SdkConfig,
    env: &FunctionEnv,
    secrets: &SecretEnv,
) -> Result<HostedWorker, String> {
    worker::LambdaWorker::from_env(sdk, secrets.over(env.lookup())).map_err(|e| e.to_string())
}
