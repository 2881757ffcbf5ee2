//! The wall-time figures of `--stats`: p50, p99, the maximum, and which
//! record was slowest, in bounded memory (a log-linear histogram: 32 steps
//! per power of two, so a quantile is within about 3%).

use std::time::Duration;

/// Buckets per power of two.
const STEPS: u32 = 32;

/// Wall times seen so far.
#[derive(Debug, Default)]
pub struct WallTimes {
    buckets: Vec<u64>,
    count: u64,
    max: Duration,
    slowest: Option<u64>,
}

impl WallTimes {
    /// Counts record `index`'s time.
    pub fn add(&mut self, index: u64, wall: Duration) {
        let micros = u64::try_from(wall.as_micros()).unwrap_or(u64::MAX);
        let bucket = bucket(micros);
        if self.buckets.len() <= bucket {
            self.buckets.resize(bucket + 1, 0);
        }
        self.buckets[bucket] += 1;
        self.count += 1;
        if self.slowest.is_none() || wall > self.max {
            self.max = wall;
            self.slowest = Some(index);
        }
    }

    /// The time below which fraction `q` of the records took, roughly.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_micros(upper(bucket)).min(self.max));
            }
        }
        Some(self.max)
    }

    /// `p50 … p99 … max … (record N)`, for the summary.
    pub fn summary(&self) -> Option<String> {
        let (p50, p99) = (self.quantile(0.5)?, self.quantile(0.99)?);
        let show = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        Some(format!(
            "wall time p50 {}, p99 {}, max {} (record {})",
            show(p50),
            show(p99),
            show(self.max),
            self.slowest.unwrap_or_default()
        ))
    }
}

/// The bucket of `micros`: exact below 32, then 32 steps per power of two.
fn bucket(micros: u64) -> usize {
    if micros < u64::from(STEPS) {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros(); // ≥ 5
    let step = (micros >> (power - 5)) & u64::from(STEPS - 1);
    (STEPS * (power - 4) + step as u32) as usize
}

/// The largest value that falls in `bucket`.
fn upper(bucket: usize) -> u64 {
    let bucket = bucket as u32;
    if bucket < STEPS {
        return u64::from(bucket);
    }
    let power = bucket / STEPS + 4;
    let step = u64::from(bucket % STEPS);
    ((u64::from(STEPS) + step + 1) << (power - 5)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close_and_the_slowest_is_named() {
        let mut times = WallTimes::default();
        for i in 0..1000u64 {
            times.add(i, Duration::from_micros(i * 100 + 7));
        }
        times.add(5000, Duration::from_millis(250));
        let p50 = times.quantile(0.5).unwrap().as_micros() as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.04, "p50 {p50}");
        let p99 = times.quantile(0.99).unwrap().as_micros() as f64;
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.04, "p99 {p99}");
        assert!(
            times
                .summary()
                .unwrap()
                .ends_with("max 250.000 ms (record 5000)")
        );
        for micros in [0u64, 1, 31, 32, 33, 1000, u64::MAX / 2] {
            assert!(upper(bucket(micros)) >= micros, "{micros}");
        }
    }
}
