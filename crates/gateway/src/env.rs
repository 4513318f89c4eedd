//! The one environment reader every function's cold start uses. It reads through a lookup
//! (`std::env::var` in Lambda, a map in tests), so nothing here touches globals, and every
//! error names the variable. A blank value is an unset one; numbers and flags are strict: a
//! typo fails the cold start instead of silently becoming the default.

use std::str::FromStr;

/// A variable that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct EnvError {
    pub var: String,
    pub message: String,
}

impl EnvError {
    pub fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            message: message.into(),
        }
    }
}

/// Reads variables through `lookup`.
pub struct Env<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, trimmed; `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, EnvError> {
        self.optional(name)
            .ok_or_else(|| EnvError::new(name, "is required"))
    }

    /// `true`/`1` or `false`/`0`; unset: `false`.
    pub fn flag(&self, name: &str) -> Result<bool, EnvError> {
        match self.optional(name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(EnvError::new(
                name,
                format!("must be true or false, got '{other}'"),
            )),
        }
    }

    /// A number within `range`; unset: `default`.
    pub fn number<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, EnvError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        let value: T = raw
            .parse()
            .map_err(|_| EnvError::new(name, format!("must be a whole number, got '{raw}'")))?;
        if !range.contains(&value) {
            return Err(EnvError::new(
                name,
                format!("must be {} to {}, got {value}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }
}

/// Days a job record is kept (`JOB_TTL_DAYS`, default 7, at most ten years), in seconds: read
/// the same way by every function that writes job records.
pub fn job_ttl_secs<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<u64, EnvError> {
    Ok(env.number("JOB_TTL_DAYS", 7u64, 1..=3_650)? * 24 * 3_600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env(move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn blank_is_unset_and_required_names_the_variable() {
        let e = env(&[("A", "  x "), ("B", "   ")]);
        assert_eq!(e.optional("A").as_deref(), Some("x"));
        assert_eq!(e.optional("B"), None);
        assert_eq!(e.required("B").unwrap_err().to_string(), "B: is required");
    }

    #[test]
    fn flags_and_numbers_are_strict() {
        let e = env(&[
            ("F", "yes"),
            ("T", "1"),
            ("N", "7x"),
            ("BIG", "99999"),
            ("OK", " 12 "),
        ]);
        assert!(e.flag("F").unwrap_err().to_string().starts_with("F: "));
        assert!(e.flag("T").unwrap());
        assert!(!e.flag("UNSET").unwrap());
        assert!(e.number("N", 3u64, 1..=10).is_err());
        assert_eq!(
            e.number("BIG", 3u64, 1..=100).unwrap_err().message,
            "must be 1 to 100, got 99999"
        );
        assert_eq!(e.number("OK", 3u64, 1..=100).unwrap(), 12);
        assert_eq!(e.number("UNSET", 3u64, 1..=100).unwrap(), 3);
    }

    #[test]
    fn a_bad_job_ttl_fails_instead_of_becoming_the_default() {
        assert_eq!(job_ttl_secs(&env(&[])).unwrap(), 7 * 86_400);
        assert_eq!(
            job_ttl_secs(&env(&[("JOB_TTL_DAYS", "seven")]))
                .unwrap_err()
                .var,
            "JOB_TTL_DAYS"
        );
        assert!(job_ttl_secs(&env(&[("JOB_TTL_DAYS", "0")])).is_err());
    }
}
