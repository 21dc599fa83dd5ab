//! Bounded statistics for the report: a log-linear histogram (quantiles within a stated
//! error, fixed memory), the densest-window clustering that finds pool timeouts in it,
//! and a per-second timeline of connections opened and closed.

/// Values below this are counted exactly; above, each power of two is cut into this
/// many equal buckets.
const SUB: u64 = 64;
const SUB_BITS: u32 = 6;
/// The largest power of two with its own buckets: 2^42 µs is about 51 days; larger
/// values share the last bucket.
const MAX_EXP: u32 = 42;
/// Buckets of one histogram: 64 exact values, then 64 per power of two from 2^6 to
/// 2^42 (2,432 counters, 9.5 KiB).
pub const BUCKETS: usize = (SUB + (MAX_EXP - SUB_BITS + 1) as u64 * SUB) as usize;

/// Counts of non-negative values (microseconds, or plain counts) in log-linear buckets.
///
/// A bucket is at most 1/64 of its lower bound wide, so a quantile, reported as the
/// middle of its bucket, is within 0.8 % of the true value (exact below 64). Memory is
/// fixed: the counters are allocated with the first value.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Option<Box<[u32]>>,
    total: u64,
    max: u64,
}

/// One non-empty bucket: values in `low..high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub low: u64,
    pub high: u64,
    pub count: u64,
}

impl Bucket {
    /// The value a bucket stands for: its middle (its value, when exact).
    pub fn mid(&self) -> u64 {
        if self.high - self.low <= 1 {
            self.low
        } else {
            self.low + (self.high - self.low) / 2
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (v >> (exp - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(exp - SUB_BITS) * SUB + sub) as usize
}

fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i + 1);
    }
    let k = i - SUB;
    let shift = k / SUB;
    let sub = k % SUB;
    let low = (SUB + sub) << shift;
    (low, low + (1u64 << shift))
}

impl Histogram {
    /// Counts `v` (negative values, from timestamps that went backwards, count as 0).
    pub fn add(&mut self, v: i64) {
        let v = u64::try_from(v).unwrap_or(0);
        let counts = self
            .counts
            .get_or_insert_with(|| vec![0u32; BUCKETS].into_boxed_slice());
        if let Some(c) = counts.get_mut(index(v)) {
            *c = c.saturating_add(1);
        }
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value counted (exact).
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// The `q` quantile (0..=1): the middle of the bucket holding the value of rank
    /// ⌈q·n⌉, never above the largest value.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for b in self.buckets() {
            seen += b.count;
            if seen >= rank {
                return Some(b.mid().min(self.max));
            }
        }
        Some(self.max)
    }

    /// The non-empty buckets, smallest values first.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.counts
            .iter()
            .flat_map(|c| c.iter().enumerate())
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let (low, high) = bounds(i);
                Bucket {
                    low,
                    high,
                    count: u64::from(c),
                }
            })
    }

    /// How many values lie in `low..=high` (by bucket middles).
    pub fn count_between(&self, low: u64, high: u64) -> u64 {
        self.buckets()
            .filter(|b| (low..=high).contains(&b.mid()))
            .map(|b| b.count)
            .sum()
    }
}

/// What makes a cluster of values sharp enough to call it a timeout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClusterRule {
    /// Half-width of the window, at least (µs): 50 ms.
    pub min_half_width: u64,
    /// Half-width of the window as a share of its centre: 2 %.
    pub relative_half_width: f64,
    /// Share of all values the window must hold.
    pub min_share: f64,
    /// Values the window must hold.
    pub min_count: u64,
}

impl Default for ClusterRule {
    fn default() -> Self {
        ClusterRule {
            min_half_width: 50_000,
            relative_half_width: 0.02,
            min_share: 0.5,
            min_count: 5,
        }
    }
}

/// A sharp cluster of values: `count` of `total` lie in `low..high`, around `centre`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cluster {
    /// The count-weighted mean of the window's bucket middles (µs).
    pub centre: u64,
    pub low: u64,
    pub high: u64,
    pub count: u64,
    pub total: u64,
}

impl Cluster {
    pub fn share(&self) -> f64 {
        self.count as f64 / self.total.max(1) as f64
    }

    /// Half the window's extent: the `±` of the centre.
    pub fn spread(&self) -> u64 {
        (self.high - self.low) / 2
    }
}

/// The densest window of `h`: over the buckets in value order, each window starts at a
/// bucket and takes every following bucket whose middle is within twice the rule's
/// half-width (`max(50 ms, 2 %)` of the first middle) of it; the window holding the most
/// values wins, the smallest values on ties. It is a cluster when it holds at least
/// `min_share` of the values and at least `min_count` of them. Deterministic: the same
/// values give the same answer whatever their order.
pub fn densest(h: &Histogram, rule: &ClusterRule) -> Option<Cluster> {
    let buckets: Vec<Bucket> = h.buckets().collect();
    let mut best: Option<(usize, usize, u64)> = None;
    let mut end = 0;
    let mut in_window = 0u64;
    for start in 0..buckets.len() {
        let first = buckets[start].mid();
        let half = rule
            .min_half_width
            .max((first as f64 * rule.relative_half_width) as u64);
        let limit = first.saturating_add(half.saturating_mul(2));
        if end < start {
            end = start;
            in_window = 0;
        }
        while let Some(b) = buckets.get(end) {
            if b.mid() > limit {
                break;
            }
            in_window += b.count;
            end += 1;
        }
        if best.is_none_or(|(_, _, c)| in_window > c) {
            best = Some((start, end, in_window));
        }
        in_window -= buckets[start].count;
    }
    let (start, end, count) = best?;
    let window = buckets.get(start..end)?;
    let share = count as f64 / h.count().max(1) as f64;
    if count < rule.min_count || share < rule.min_share {
        return None;
    }
    let weighted: u128 = window
        .iter()
        .map(|b| u128::from(b.mid()) * u128::from(b.count))
        .sum();
    Some(Cluster {
        centre: (weighted / u128::from(count.max(1))) as u64,
        low: window.first()?.low,
        high: window.last()?.high,
        count,
        total: h.count(),
    })
}

/// Most bins of the timeline: when a capture runs longer, bins double in width.
pub const TIMELINE_BINS: usize = 600;

/// Connections opened and closed per time bin (one second, doubling when the capture
/// outgrows [`TIMELINE_BINS`]).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// The first bin's start (µs).
    start: Option<i64>,
    /// Bin width in seconds.
    width: i64,
    /// `[opened, closed]` per bin.
    bins: Vec<[u64; 2]>,
}

impl Timeline {
    pub fn opened(&mut self, ts_micros: i64) {
        self.add(ts_micros, 0);
    }

    pub fn closed(&mut self, ts_micros: i64) {
        self.add(ts_micros, 1);
    }

    fn add(&mut self, ts: i64, which: usize) {
        let start = *self
            .start
            .get_or_insert(ts.div_euclid(1_000_000) * 1_000_000);
        if self.width == 0 {
            self.width = 1;
        }
        // Connections opened before the first one seen (timestamps out of order) count
        // in the first bin.
        let secs = ts.saturating_sub(start).max(0) / 1_000_000;
        let mut bin = (secs / self.width) as usize;
        while bin >= TIMELINE_BINS {
            self.coarsen();
            bin = (secs / self.width) as usize;
        }
        if self.bins.len() <= bin {
            self.bins.resize(bin + 1, [0, 0]);
        }
        if let Some(b) = self.bins.get_mut(bin) {
            b[which] += 1;
        }
    }

    /// Halves the resolution: each pair of bins becomes one.
    fn coarsen(&mut self) {
        self.width = self.width.saturating_mul(2);
        let merged = self
            .bins
            .chunks(2)
            .map(|pair| {
                let mut sum = [0, 0];
                for b in pair {
                    sum[0] += b[0];
                    sum[1] += b[1];
                }
                sum
            })
            .collect();
        self.bins = merged;
    }

    /// The first bin's start (µs since the epoch), its width (s) and the bins.
    pub fn bins(&self) -> (i64, i64, &[[u64; 2]]) {
        (self.start.unwrap_or(0), self.width.max(1), &self.bins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of pseudo-random numbers (xorshift), for test data.
    fn noise(seed: u64) -> impl Iterator<Item = u64> {
        let mut x = seed;
        std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
    }

    #[test]
    fn buckets_cover_every_value_without_gaps() {
        for i in 0..BUCKETS - 1 {
            let (low, high) = bounds(i);
            assert_eq!(bounds(i + 1).0, high, "bucket {i}");
            assert_eq!(index(low), i);
            assert_eq!(index(high - 1), i);
            assert!((high - low) as f64 <= (low as f64 / 64.0).max(1.0));
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact_and_quantiles_are_within_the_stated_error() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.add(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.max(), Some(100));
        let mut h = Histogram::default();
        let mut values: Vec<u64> = noise(7).take(10_000).map(|x| x % 10_000_000).collect();
        for &v in &values {
            h.add(v as i64);
        }
        values.sort_unstable();
        for q in [0.5, 0.9, 0.99] {
            let exact = values[(q * values.len() as f64).ceil() as usize - 1] as f64;
            let approx = h.quantile(q).unwrap() as f64;
            assert!(
                (approx - exact).abs() <= exact / 128.0 + 1.0,
                "q{q}: {approx} vs {exact}"
            );
        }
        assert_eq!(h.max(), values.last().copied());
        assert!(h.quantile(1.0) <= h.max());
    }

    #[test]
    fn negative_and_huge_values_are_counted_without_panicking() {
        let mut h = Histogram::default();
        h.add(-5);
        h.add(i64::MAX);
        assert_eq!(h.count(), 2);
        assert_eq!(h.quantile(0.0), Some(0));
        assert!(h.quantile(1.0).unwrap() > 1 << 42);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn a_five_second_cluster_is_found_with_its_centre_and_share() {
        let mut h = Histogram::default();
        // 94 values at 5.0 s ± 50 ms, 6 spread between 0.1 s and 30 s.
        for x in noise(3).take(94) {
            h.add(4_950_000 + (x % 100_001) as i64);
        }
        for x in noise(11).take(6) {
            h.add(100_000 + (x % 30_000_000) as i64);
        }
        let c = densest(&h, &ClusterRule::default()).expect("a cluster");
        assert!((c.centre as i64 - 5_000_000).abs() < 40_000, "{c:?}");
        assert!(c.count >= 94 && c.count <= 96, "{c:?}");
        assert!(c.low <= 4_950_000 && c.high >= 5_050_000, "{c:?}");
        assert!(c.spread() < 150_000, "{c:?}");
    }

    #[test]
    fn uniform_noise_has_no_cluster() {
        let mut h = Histogram::default();
        for x in noise(5).take(1000) {
            h.add((x % 60_000_000) as i64);
        }
        assert_eq!(densest(&h, &ClusterRule::default()), None);
    }

    #[test]
    fn too_few_values_make_no_cluster() {
        let mut h = Histogram::default();
        for _ in 0..4 {
            h.add(2_000_000);
        }
        assert_eq!(densest(&h, &ClusterRule::default()), None);
        h.add(2_000_000);
        assert_eq!(
            densest(&h, &ClusterRule::default()).map(|c| c.count),
            Some(5)
        );
    }

    #[test]
    fn the_timeline_doubles_its_bins_instead_of_growing() {
        let mut t = Timeline::default();
        for s in 0..3000i64 {
            t.opened(s * 1_000_000);
            t.closed(s * 1_000_000 + 500_000);
        }
        let (_, width, bins) = t.bins();
        assert!(bins.len() <= TIMELINE_BINS);
        assert_eq!(width, 8);
        assert_eq!(bins.iter().map(|b| b[0]).sum::<u64>(), 3000);
        assert_eq!(bins[0], [8, 8]);
    }
}
