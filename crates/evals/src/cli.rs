//! `gateway-eval`'s options and the one run it makes: load the suites, run them, write the
//! reports, judge the gate. The binary and the tests both come through [`execute`].

use crate::case;
use crate::error::EvalError;
use crate::files;
use crate::gate::{Gate, Verdict};
use crate::report::Report;
use crate::run::Runner;
use crate::{junit, markdown};
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
gateway-eval: runs prompt-regression suites against a gateway and gates a release on them.

usage: gateway-eval --url URL --suite PATH [options]

  --url URL             the gateway (e.g. https://abc.execute-api.us-east-1.amazonaws.com)
  --suite PATH          a suite file, or a directory of *.json suite files
  --key-env NAME        environment variable holding the gateway key (default GATEWAY_EVAL_KEY;
                        unset: no key is sent)
  --out DIR             where report.json, junit.xml and summary.md go (default eval-reports)
  --baseline FILE       an earlier report.json: a case that passed there and fails now fails
                        the gate
  --min-pass-rate R     lowest pass rate, 0 to 1 (default 1)
  --concurrency N       cases in flight at once, 1 to 64 (default 4)
  --timeout-ms MS       per request (default 60000)

exit status: 0 gate passed; 1 gate failed (below the pass rate, or a regression); 2 the run
could not be made (bad options or suite, unreadable baseline).
";

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub url: String,
    pub suite: PathBuf,
    /// The key itself (read from the variable `--key-env` names, never from the command line,
    /// so it stays out of process lists and build logs).
    pub key: Option<String>,
    pub out: PathBuf,
    pub baseline: Option<PathBuf>,
    pub min_pass_rate: f64,
    pub concurrency: usize,
    pub timeout: Duration,
}

/// The outcome of a run, and where its reports went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: Report,
    pub verdict: Verdict,
    pub summary: String,
    pub report_json: PathBuf,
    pub junit_xml: PathBuf,
    pub summary_md: PathBuf,
}

impl Options {
    /// Parses the arguments (after the program name); `env` reads the key's variable.
    /// `Ok(None)`: help was asked for.
    pub fn parse(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, EvalError> {
        let mut url = None;
        let mut suite = None;
        let mut key_env = "GATEWAY_EVAL_KEY".to_owned();
        let mut out = PathBuf::from("eval-reports");
        let mut baseline = None;
        let mut min_pass_rate = 1.0;
        let mut concurrency = 4;
        let mut timeout_ms: u64 = 60_000;
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            if matches!(flag.as_str(), "-h" | "--help" | "help") {
                return Ok(None);
            }
            let mut value = || {
                rest.next()
                    .cloned()
                    .ok_or_else(|| EvalError::usage(flag.clone(), "needs a value"))
            };
            match flag.as_str() {
                "--url" => url = Some(value()?),
                "--suite" => suite = Some(PathBuf::from(value()?)),
                "--key-env" => key_env = value()?,
                "--out" => out = PathBuf::from(value()?),
                "--baseline" => baseline = Some(PathBuf::from(value()?)),
                "--min-pass-rate" => min_pass_rate = number(flag, &value()?)?,
                "--concurrency" => concurrency = number(flag, &value()?)?,
                "--timeout-ms" => timeout_ms = number(flag, &value()?)?,
                "--key" => {
                    return Err(EvalError::usage(
                        "--key",
                        "put the key in an environment variable and name it with --key-env",
                    ));
                }
                other => return Err(EvalError::usage(other, "unknown option (see --help)")),
            }
        }
        if !(0.0..=1.0).contains(&min_pass_rate) {
            return Err(EvalError::usage("--min-pass-rate", "0 to 1"));
        }
        if !(1..=3_600_000).contains(&timeout_ms) {
            return Err(EvalError::usage("--timeout-ms", "1 to 3600000"));
        }
        Ok(Some(Self {
            url: url.ok_or_else(|| EvalError::usage("--url", "required"))?,
            suite: suite.ok_or_else(|| EvalError::usage("--suite", "required"))?,
            key: env(&key_env),
            out,
            baseline,
            min_pass_rate,
            concurrency,
            timeout: Duration::from_millis(timeout_ms),
        }))
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, EvalError> {
    value
        .parse()
        .map_err(|_| EvalError::usage(flag, format!("{value:?} is not a number")))
}

/// Loads, runs, writes `report.json`, `junit.xml` and `summary.md` under `out`, judges.
pub async fn execute(options: &Options) -> Result<Outcome, EvalError> {
    let suites = case::load(&options.suite)?;
    // Read before the run: a bad baseline should not cost a suite's worth of model calls.
    let baseline = options.baseline.as_deref().map(Report::read).transpose()?;
    let runner = Runner::new(
        &options.url,
        options.key.clone(),
        options.concurrency,
        options.timeout,
    )?;
    let report = runner.run(&suites).await;
    let verdict = Gate {
        min_pass_rate: options.min_pass_rate,
        baseline,
    }
    .judge(&report);
    let summary = markdown::render(&report, &verdict, &options.url);
    let report_json = options.out.join("report.json");
    let junit_xml = options.out.join("junit.xml");
    let summary_md = options.out.join("summary.md");
    files::write(&report_json, &report.to_json())?;
    files::write(&junit_xml, &junit::render(&report))?;
    files::write(&summary_md, &summary)?;
    Ok(Outcome {
        report,
        verdict,
        summary,
        report_json,
        junit_xml,
        summary_md,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_key_comes_from_the_named_variable() {
        let env = |name: &str| (name == "MY_KEY").then(|| "gwk_secret".to_owned());
        let options = Options::parse(
            &args(&[
                "--url",
                "http://h",
                "--suite",
                "evals",
                "--key-env",
                "MY_KEY",
                "--concurrency",
                "8",
            ]),
            env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(options.key.as_deref(), Some("gwk_secret"));
        assert_eq!(options.concurrency, 8);
        assert_eq!(options.min_pass_rate, 1.0);
    }

    #[test]
    fn bad_options_are_named() {
        let none = |_: &str| None;
        for (list, named) in [
            (&["--suite", "x"][..], "--url"),
            (&["--url", "http://h"][..], "--suite"),
            (
                &["--url", "http://h", "--suite", "x", "--min-pass-rate", "2"][..],
                "--min-pass-rate",
            ),
            (
                &["--url", "http://h", "--suite", "x", "--concurrency", "many"][..],
                "--concurrency",
            ),
            (&["--key", "gwk_x"][..], "--key"),
            (&["--bogus"][..], "--bogus"),
            (&["--url"][..], "--url"),
        ] {
            let error = Options::parse(&args(list), none).unwrap_err().to_string();
            assert!(error.starts_with(named), "{list:?}: {error}");
        }
        assert_eq!(Options::parse(&args(&["--help"]), none).unwrap(), None);
    }
}
