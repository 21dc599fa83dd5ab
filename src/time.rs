//! Time as an integer: nanoseconds since the Unix epoch, from capture to formatting.
//!
//! Capture truncates to whole microseconds (SPEC §2), so every duration is an exact
//! number of microseconds. Floats and calendars belong to `format/` only.

/// A point in time, in nanoseconds since the Unix epoch (may be before it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From seconds and microseconds, as classic pcap stores them.
    pub fn from_secs_micros(secs: i64, micros: i64) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(micros.saturating_mul(1_000)),
        )
    }

    /// From seconds and nanoseconds; the nanoseconds are truncated to microseconds.
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Self::from_secs_micros(secs, nanos / 1_000)
    }

    /// From a count of `units` per second (pcapng `if_tsresol`), truncated to microseconds.
    pub fn from_ticks(ticks: u64, units_per_sec: u64) -> Self {
        let units = units_per_sec.max(1);
        let secs = ticks / units;
        let frac = ticks % units;
        // frac < units, so frac * 1e6 fits in u128 comfortably.
        let micros = (u128::from(frac) * 1_000_000 / u128::from(units)) as i64;
        Self::from_secs_micros(secs.min(i64::MAX as u64) as i64, micros)
    }

    /// Whole microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    /// Whole seconds since the epoch (rounded towards minus infinity).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// The microsecond part, 0..1_000_000.
    pub fn subsec_micros(self) -> u32 {
        (self.0.rem_euclid(1_000_000_000) / 1_000) as u32
    }

    /// `self - earlier` in whole microseconds (negative when time went backwards).
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        self.micros().saturating_sub(earlier.micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanoseconds_are_truncated_to_microseconds() {
        let t = Timestamp::from_secs_nanos(10, 123_456_789);
        assert_eq!(t.micros(), 10_123_456);
        assert_eq!(t.subsec_micros(), 123_456);
    }

    #[test]
    fn ticks_at_any_resolution_become_microseconds() {
        assert_eq!(Timestamp::from_ticks(1_500, 1_000).micros(), 1_500_000);
        assert_eq!(
            Timestamp::from_ticks(7_000_000_123, 1_000_000_000).micros(),
            7_000_000
        );
    }

    #[test]
    fn differences_can_be_negative() {
        let a = Timestamp::from_secs_micros(5, 0);
        let b = Timestamp::from_secs_micros(5, 500_300);
        assert_eq!(a.micros_since(b), -500_300);
    }
}
