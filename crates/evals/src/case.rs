//! The case file format: one JSON document per suite, each case a request, the route to send it
//! to, and what its answer must satisfy. Loaded and checked whole before anything is sent, so
//! a typo fails the run at once, naming the file, the case and the field.
//!
//! JSON, not YAML: the requests are JSON bodies already, and the workspace's only YAML crate is
//! deprecated. See `evals/README.md` for the format with examples.

use crate::error::EvalError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Largest suite file read (a bound before parsing).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most cases in one run, over all files.
pub const MAX_CASES: usize = 1_000;
/// Longest case id (it names a JUnit test case and a table row).
const MAX_ID_CHARS: usize = 128;

/// One suite file.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub source: PathBuf,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    suite: String,
    #[serde(default)]
    #[allow(dead_code)] // For the reader of the file.
    description: Option<String>,
    cases: Vec<Case>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Method {
    #[default]
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "GET")]
    Get,
}

/// One evaluation case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique in the run: the JUnit test name and the key of the baseline comparison.
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub method: Method,
    /// Path on the gateway, e.g. `/v1/chat/completions`, `/model/haiku/converse`, `/api/classify`.
    pub route: String,
    /// The JSON body, in the shape the route takes.
    #[serde(default)]
    pub request: Option<Value>,
    /// Extra request headers (the key is added by the runner).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,
    /// A model-graded check, made through the same gateway.
    #[serde(default)]
    pub judge: Option<Judge>,
}

/// What the response must satisfy. Every assertion given must hold; text assertions apply to
/// the answer text (see [`crate::answer`]). A field left out takes its [`Default`]: no check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// HTTP status (default 200).
    pub status: u16,
    /// Substrings the answer must contain (case-sensitive).
    pub contains: Vec<String>,
    /// Substrings the answer must not contain.
    pub not_contains: Vec<String>,
    /// A regular expression (regex-lite syntax) the answer must match somewhere.
    pub regex: Option<String>,
    /// The answer parsed as JSON must conform (the gateway's extract-schema subset: `type`,
    /// `properties`, `required`, `enum`, `items`; an object at the root).
    pub json_schema: Option<Value>,
    /// The answer, trimmed of surrounding punctuation and compared case-insensitively, is one of.
    pub one_of: Vec<String>,
    /// Most output tokens the response's usage may report.
    pub max_tokens: Option<u64>,
    /// Most the call may cost (the `x-gateway-cost` header, USD).
    pub max_cost_usd: Option<f64>,
    /// Longest the call may take, request sent to body read.
    pub max_latency_ms: Option<u64>,
    /// A tool call the answer must contain.
    pub tool_call: Option<ToolCallExpect>,
    /// A substring of the model that served the call (`x-gateway-model`).
    pub model: Option<String>,
    /// JSON pointer into the response body → the value it must hold.
    pub fields: BTreeMap<String, Value>,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            status: 200,
            contains: Vec::new(),
            not_contains: Vec::new(),
            regex: None,
            json_schema: None,
            one_of: Vec::new(),
            max_tokens: None,
            max_cost_usd: None,
            max_latency_ms: None,
            tool_call: None,
            model: None,
            fields: BTreeMap::new(),
        }
    }
}

/// A tool call by `name` whose arguments include `arguments` (objects compared key by key,
/// recursively; anything else by equality; extra arguments in the call are allowed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallExpect {
    pub name: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// A judge model grades the answer against a rubric; the case passes at `threshold` or above.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judge {
    /// A model id or alias the gateway serves on `/v1/converse`.
    pub model: String,
    pub rubric: String,
    /// Lowest passing score, 0 to 1.
    pub threshold: f64,
}

/// Loads a suite file, or every `*.json` file of a directory (sorted by name).
pub fn load(path: &Path) -> Result<Vec<Suite>, EvalError> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| EvalError::file(path.display(), e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(EvalError::file(path.display(), "no *.json suite files"));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let suites = files
        .iter()
        .map(|file| load_file(file))
        .collect::<Result<Vec<_>, _>>()?;
    check_run(&suites)?;
    Ok(suites)
}

fn load_file(path: &Path) -> Result<Suite, EvalError> {
    let text = crate::files::read_bounded(path, MAX_FILE_BYTES, "a suite file")?;
    parse(&text, path)
}

/// Parses and checks one suite document; `source` names it in errors.
pub fn parse(text: &str, source: &Path) -> Result<Suite, EvalError> {
    let shown = source.display();
    let mut de = serde_json::Deserializer::from_str(text);
    let file: SuiteFile = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| EvalError::suite(&shown, e.path().to_string(), e.inner().to_string()))?;
    if file.suite.trim().is_empty() {
        return Err(EvalError::suite(&shown, "suite", "must not be empty"));
    }
    for (i, case) in file.cases.iter().enumerate() {
        check_case(case).map_err(|(field, message)| {
            EvalError::suite(&shown, format!("cases[{i}] ({}).{field}", case.id), message)
        })?;
    }
    Ok(Suite {
        name: file.suite,
        source: source.to_path_buf(),
        cases: file.cases,
    })
}

fn check_run(suites: &[Suite]) -> Result<(), EvalError> {
    let mut seen = BTreeSet::new();
    let mut count = 0usize;
    for suite in suites {
        for case in &suite.cases {
            count += 1;
            if !seen.insert(case.id.as_str()) {
                return Err(EvalError::suite(
                    suite.source.display(),
                    format!("case {}", case.id),
                    "the id is used twice in this run",
                ));
            }
        }
    }
    if count == 0 {
        return Err(EvalError::usage("suite", "no cases to run"));
    }
    if count > MAX_CASES {
        return Err(EvalError::usage(
            "suite",
            format!("{count} cases; a run may have at most {MAX_CASES}"),
        ));
    }
    Ok(())
}

type Invalid = (&'static str, String);

fn check_case(case: &Case) -> Result<(), Invalid> {
    let id_ok = !case.id.is_empty()
        && case.id.chars().count() <= MAX_ID_CHARS
        && case
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !id_ok {
        return Err(("id", format!("1 to {MAX_ID_CHARS} of A-Z a-z 0-9 - _ .")));
    }
    check_route(&case.route).map_err(|m| ("route", m))?;
    if case.method == Method::Get && case.request.is_some() {
        return Err(("request", "a GET case sends no body".to_owned()));
    }
    for name in case.headers.keys() {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" || lower == "x-api-key" {
            return Err((
                "headers",
                format!("{name}: the runner sends the key; do not put credentials in a suite"),
            ));
        }
    }
    let expect = &case.expect;
    if !(100..=599).contains(&expect.status) {
        return Err(("expect.status", "an HTTP status, 100 to 599".to_owned()));
    }
    if let Some(pattern) = &expect.regex {
        regex_lite::Regex::new(pattern).map_err(|e| ("expect.regex", e.to_string()))?;
    }
    if let Some(schema) = &expect.json_schema {
        gateway::enrichment::schema::check_extract_schema(schema)
            .map_err(|m| ("expect.json_schema", m))?;
    }
    if expect.one_of.len() == 1 {
        return Err(("expect.one_of", "give two labels or more".to_owned()));
    }
    if let Some(cost) = expect.max_cost_usd
        && !(cost.is_finite() && cost >= 0.0)
    {
        return Err((
            "expect.max_cost_usd",
            "a number of USD, 0 or more".to_owned(),
        ));
    }
    for pointer in expect.fields.keys() {
        if !pointer.starts_with('/') {
            return Err((
                "expect.fields",
                format!("{pointer}: a JSON pointer starts with '/'"),
            ));
        }
    }
    if let Some(judge) = &case.judge {
        if !(0.0..=1.0).contains(&judge.threshold) {
            return Err(("judge.threshold", "a score from 0 to 1".to_owned()));
        }
        if judge.rubric.trim().is_empty() || judge.model.trim().is_empty() {
            return Err(("judge", "a model and a rubric are required".to_owned()));
        }
    }
    Ok(())
}

/// A path on the gateway, never a URL of its own: a suite cannot send the key elsewhere.
fn check_route(route: &str) -> Result<(), String> {
    if !route.starts_with('/') || route.starts_with("//") {
        return Err("a path starting with '/' (the gateway URL is given to the runner)".to_owned());
    }
    if route.split(['/', '?']).any(|segment| segment == "..") {
        return Err("no '..' segments".to_owned());
    }
    if route
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '\\')
    {
        return Err("no spaces, control characters, '#' or '\\'".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Suite, EvalError> {
        parse(text, Path::new("t.json"))
    }

    #[test]
    fn a_minimal_case_gets_the_defaults() {
        let suite =
            parse_str(r#"{"suite":"s","cases":[{"id":"a","route":"/v1/converse"}]}"#).unwrap();
        let case = &suite.cases[0];
        assert_eq!(case.method, Method::Post);
        assert_eq!(case.expect.status, 200);
        assert!(case.judge.is_none());
    }

    #[test]
    fn an_unknown_assertion_is_named_with_its_case() {
        let error = parse_str(
            r#"{"suite":"s","cases":[{"id":"a","route":"/x","expect":{"contain":["x"]}}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("cases[0].expect"), "{error}");
        assert!(error.contains("contain"), "{error}");
    }

    #[test]
    fn routes_that_leave_the_gateway_are_refused() {
        for route in [
            "http://evil.example/x",
            "//evil.example/x",
            "/v1/../x",
            "v1/x",
            "/a b",
        ] {
            let text = format!(r#"{{"suite":"s","cases":[{{"id":"a","route":"{route}"}}]}}"#);
            let error = parse_str(&text).unwrap_err().to_string();
            assert!(error.contains("(a).route"), "{route}: {error}");
        }
    }

    #[test]
    fn bad_assertions_fail_the_load_not_the_run() {
        let cases = [
            (r#"{"regex":"("}"#, "expect.regex"),
            (r#"{"json_schema":{"type":"string"}}"#, "expect.json_schema"),
            (r#"{"one_of":["only"]}"#, "expect.one_of"),
            (r#"{"max_cost_usd":-1}"#, "expect.max_cost_usd"),
            (r#"{"fields":{"model":"x"}}"#, "expect.fields"),
            (r#"{"status":42}"#, "expect.status"),
        ];
        for (expect, field) in cases {
            let text =
                format!(r#"{{"suite":"s","cases":[{{"id":"a","route":"/x","expect":{expect}}}]}}"#);
            let error = parse_str(&text).unwrap_err().to_string();
            assert!(error.contains(field), "{expect}: {error}");
        }
    }

    #[test]
    fn credentials_and_bad_ids_and_judges_are_refused() {
        let cases = [
            r#"{"id":"a","route":"/x","headers":{"X-Api-Key":"gwk_x"}}"#,
            r#"{"id":"a b","route":"/x"}"#,
            r#"{"id":"a","route":"/x","judge":{"model":"m","rubric":"r","threshold":2}}"#,
            r#"{"id":"a","route":"/x","method":"GET","request":{}}"#,
        ];
        for case in cases {
            let text = format!(r#"{{"suite":"s","cases":[{case}]}}"#);
            assert!(parse_str(&text).is_err(), "{case}");
        }
    }

    #[test]
    fn ids_must_be_unique_across_files() {
        let a = parse_str(r#"{"suite":"a","cases":[{"id":"x","route":"/x"}]}"#).unwrap();
        let b = parse_str(r#"{"suite":"b","cases":[{"id":"x","route":"/y"}]}"#).unwrap();
        let error = check_run(&[a, b]).unwrap_err().to_string();
        assert!(error.contains("used twice"), "{error}");
    }
}
