//! Latency percentiles and the ratios the report states.

use std::time::Duration;

/// Latencies of the calls of one measurement, sorted.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Sorts `samples`.
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    /// How many.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The nearest-rank percentile `q` (0 < q ≤ 1): the smallest latency that at least
    /// `q` of the calls did not exceed. Zero without samples.
    pub fn percentile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    /// The slowest.
    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

/// `a ÷ b`, or `None` when `b` is zero (nothing to compare with).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A ratio with two decimals, or `-` when there is none.
pub fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Latencies {
        Latencies::new(values.iter().map(|&v| Duration::from_millis(v)).collect())
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_sorted_samples() {
        let l = millis(&[50, 10, 40, 20, 30, 60, 70, 80, 90, 100]);
        assert_eq!(l.percentile(0.5), Duration::from_millis(50));
        assert_eq!(l.percentile(0.9), Duration::from_millis(90));
        assert_eq!(l.percentile(0.99), Duration::from_millis(100));
        assert_eq!(l.percentile(0.01), Duration::from_millis(10));
        assert_eq!(l.max(), Duration::from_millis(100));
        let hundred = Latencies::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(hundred.percentile(0.99), Duration::from_millis(99));
        assert_eq!(hundred.percentile(0.5), Duration::from_millis(50));
    }

    #[test]
    fn one_or_no_sample() {
        assert_eq!(millis(&[7]).percentile(0.5), Duration::from_millis(7));
        assert_eq!(millis(&[7]).percentile(0.99), Duration::from_millis(7));
        assert_eq!(Latencies::default().percentile(0.5), Duration::ZERO);
    }

    #[test]
    fn ratios_need_something_to_compare_with() {
        assert_eq!(ratio(50.0, 100.0), Some(0.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(show_ratio(Some(0.456)), "0.46");
        assert_eq!(show_ratio(None), "-");
    }
}
