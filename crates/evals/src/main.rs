//! `gateway-eval`: runs eval suites against a gateway; exit 0 (gate passed), 1 (regression),
//! 2 (the run could not be made). `gateway-eval --help` lists the options.

use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match evals::Options::parse(&args, |k| std::env::var(k).ok()) {
        Ok(Some(options)) => options,
        Ok(None) => return say(evals::cli::USAGE, ExitCode::SUCCESS),
        Err(error) => return say(&format!("gateway-eval: {error}\n"), ExitCode::from(2)),
    };
    match evals::execute(&options).await {
        Ok(outcome) => {
            let code = if outcome.verdict.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
            say(&outcome.summary, code)
        }
        Err(error) => say(&format!("gateway-eval: {error}\n"), ExitCode::from(2)),
    }
}

/// The binary's one place that writes to the terminal.
fn say(text: &str, code: ExitCode) -> ExitCode {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    code
}
