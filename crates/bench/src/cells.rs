//! How the report writes a figure: a spread over runs as one table cell, sizes in MiB.

use crate::stats::Spread;

/// `median (min–max)` over several runs, the value alone for one run, `–` for none.
pub fn cell(s: Option<Spread>, decimals: usize) -> String {
    match s {
        Some(s) if s.runs > 1 => format!(
            "{:.d$} ({:.d$}–{:.d$})",
            s.median,
            s.min,
            s.max,
            d = decimals
        ),
        Some(s) => format!("{:.d$}", s.median, d = decimals),
        None => "–".to_owned(),
    }
}

/// Sizes in MiB: AWS's own "MB" (the 50 MB zip quota is 52,428,800 bytes; memory sizes too).
pub fn mib(kib: f64) -> f64 {
    kib / 1024.0
}
