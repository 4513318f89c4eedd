//! Percentiles of one run (nearest rank over all sorted samples, so exact rather than
//! HDR-bucketed) and min/median/max over repeated runs.

use std::time::Duration;

/// Latencies of one run, sorted ascending.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100); `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.sorted.is_empty() {
            return None;
        }
        let n = self.sorted.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.sorted.get(rank.clamp(1, n) - 1).copied()
    }

    /// Arithmetic mean; `None` without samples.
    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.sorted.len()).ok().filter(|&n| n > 0)?;
        Some(self.sorted.iter().sum::<Duration>() / n)
    }

    pub fn p50(&self) -> Option<Duration> {
        self.percentile(50.0)
    }
    pub fn p99(&self) -> Option<Duration> {
        self.percentile(99.0)
    }
}

/// Min, median and max of one figure over repeated runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    /// `None` without values. The median of an even count is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            min: v[0],
            median,
            max: v[n - 1],
            runs: n,
        })
    }
}

/// The spread of one figure (`f`, `None` where a run lacks it) over repeated runs.
pub fn spread_of<T>(items: &[T], f: impl Fn(&T) -> Option<f64>) -> Option<Spread> {
    Spread::of(&items.iter().filter_map(f).collect::<Vec<_>>())
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Latencies {
        Latencies::new(v.iter().map(|x| Duration::from_micros(*x)).collect())
    }

    #[test]
    fn nearest_rank_percentiles() {
        let l = us(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(l.p50(), Some(Duration::from_micros(50)));
        assert_eq!(l.percentile(90.0), Some(Duration::from_micros(90)));
        assert_eq!(l.p99(), Some(Duration::from_micros(99)));
        assert_eq!(l.percentile(100.0), Some(Duration::from_micros(100)));
        assert_eq!(l.percentile(0.0), Some(Duration::from_micros(1)));
    }

    #[test]
    fn small_and_empty_runs() {
        assert_eq!(us(&[]).p50(), None);
        let one = us(&[7]);
        assert_eq!(one.p99(), Some(Duration::from_micros(7)));
        // 10 samples: p99 is the largest, p90 the 9th.
        let ten = us(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(ten.p99(), Some(Duration::from_micros(10)));
        assert_eq!(ten.percentile(90.0), Some(Duration::from_micros(9)));
    }

    #[test]
    fn spread_over_repeats() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.runs), (1.0, 2.0, 3.0, 3));
        let even = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[f64::NAN]).is_none());
    }
}
