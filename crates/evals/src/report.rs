//! The result of a run: one record per case, kept as JSON so a later run can use it as its
//! baseline, and rendered as JUnit XML and Markdown (the `junit` and `markdown` modules).

use crate::error::EvalError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Largest baseline report read.
const MAX_REPORT_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub suite: String,
    pub id: String,
    pub route: String,
    pub passed: bool,
    /// Why it failed, one line per broken assertion (empty when it passed).
    pub reasons: Vec<String>,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// `x-gateway-cost` of the case's call.
    pub cost_usd: Option<f64>,
    pub output_tokens: Option<u64>,
    /// The model that served the call (`x-gateway-model`).
    pub model: Option<String>,
    /// The judge's score, when the case has a model-graded check.
    pub judge_score: Option<f64>,
    /// What the judge's call cost.
    pub judge_cost_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// Passed over run, 0 to 1 (1 for an empty run: nothing failed).
    pub fn pass_rate(&self) -> f64 {
        if self.cases.is_empty() {
            return 1.0;
        }
        self.passed() as f64 / self.cases.len() as f64
    }

    /// Cases' and judges' costs together, USD.
    pub fn total_cost_usd(&self) -> f64 {
        self.cases
            .iter()
            .map(|c| c.cost_usd.unwrap_or(0.0) + c.judge_cost_usd.unwrap_or(0.0))
            .sum()
    }

    pub fn case(&self, id: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.id == id)
    }

    pub fn read(path: &Path) -> Result<Self, EvalError> {
        let text = crate::files::read_bounded(path, MAX_REPORT_BYTES, "a report")?;
        serde_json::from_str(&text)
            .map_err(|e| EvalError::file(path.display(), format!("not an eval report (JSON): {e}")))
    }

    pub fn to_json(&self) -> String {
        // A report of plain fields always serialises; the fallback keeps the signature total.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{\"cases\":[]}".to_owned())
    }
}
