//! The release gate: a run regresses when its pass rate is below the threshold, or when a case
//! that passed in the baseline report fails now.

use crate::report::Report;

#[derive(Debug, Clone)]
pub struct Gate {
    /// Lowest acceptable pass rate, 0 to 1.
    pub min_pass_rate: f64,
    /// An earlier run's report (e.g. production's last good one).
    pub baseline: Option<Report>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub pass_rate: f64,
    pub min_pass_rate: f64,
    /// Cases that passed in the baseline and fail now.
    pub regressions: Vec<String>,
    /// Cases that passed in the baseline and were not run now (reported, not failed: a suite
    /// may drop a case on purpose).
    pub not_run: Vec<String>,
}

impl Gate {
    pub fn judge(&self, report: &Report) -> Verdict {
        let mut regressions = Vec::new();
        let mut not_run = Vec::new();
        if let Some(baseline) = &self.baseline {
            for before in baseline.cases.iter().filter(|c| c.passed) {
                match report.case(&before.id) {
                    Some(now) if !now.passed => regressions.push(before.id.clone()),
                    Some(_) => {}
                    None => not_run.push(before.id.clone()),
                }
            }
        }
        Verdict {
            pass_rate: report.pass_rate(),
            min_pass_rate: self.min_pass_rate,
            regressions,
            not_run,
        }
    }
}

impl Verdict {
    pub fn below_threshold(&self) -> bool {
        self.pass_rate < self.min_pass_rate
    }

    /// Whether the release may go on.
    pub fn ok(&self) -> bool {
        !self.below_threshold() && self.regressions.is_empty()
    }

    /// The verdict in a few lines for a person.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "pass rate {:.1}% (threshold {:.1}%){}",
            self.pass_rate * 100.0,
            self.min_pass_rate * 100.0,
            if self.below_threshold() {
                ": BELOW THRESHOLD"
            } else {
                ""
            }
        )];
        if !self.regressions.is_empty() {
            lines.push(format!(
                "regressed (passed in the baseline, fail now): {}",
                self.regressions.join(", ")
            ));
        }
        if !self.not_run.is_empty() {
            lines.push(format!(
                "in the baseline but not run: {}",
                self.not_run.join(", ")
            ));
        }
        lines.push(
            if self.ok() {
                "gate: PASS"
            } else {
                "gate: FAIL"
            }
            .to_owned(),
        );
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CaseResult;

    fn result(id: &str, passed: bool) -> CaseResult {
        CaseResult {
            suite: "s".into(),
            id: id.into(),
            route: "/x".into(),
            passed,
            reasons: Vec::new(),
            status: Some(200),
            latency_ms: 1,
            cost_usd: None,
            output_tokens: None,
            model: None,
            judge_score: None,
            judge_cost_usd: None,
        }
    }

    fn report(cases: &[(&str, bool)]) -> Report {
        Report {
            cases: cases.iter().map(|(id, p)| result(id, *p)).collect(),
        }
    }

    #[test]
    fn a_case_that_passed_before_and_fails_now_is_a_regression() {
        let gate = Gate {
            min_pass_rate: 0.5,
            baseline: Some(report(&[("a", true), ("b", false), ("c", true)])),
        };
        let verdict = gate.judge(&report(&[
            ("a", false),
            ("b", false),
            ("d", true),
            ("e", true),
        ]));
        assert_eq!(verdict.regressions, vec!["a"]);
        assert_eq!(verdict.not_run, vec!["c"]);
        assert!(!verdict.below_threshold(), "2 of 4 is the threshold");
        assert!(!verdict.ok());
        assert!(
            verdict
                .describe()
                .iter()
                .any(|l| l.contains("regressed") && l.contains('a'))
        );
    }

    #[test]
    fn a_case_failing_before_and_now_is_no_regression_but_counts_in_the_rate() {
        let gate = Gate {
            min_pass_rate: 1.0,
            baseline: Some(report(&[("b", false)])),
        };
        let verdict = gate.judge(&report(&[("b", false), ("a", true)]));
        assert!(verdict.regressions.is_empty());
        assert!(verdict.below_threshold());
        assert!(!verdict.ok());
        let ok = Gate {
            min_pass_rate: 0.5,
            baseline: None,
        }
        .judge(&report(&[("b", false), ("a", true)]));
        assert!(ok.ok());
    }
}
