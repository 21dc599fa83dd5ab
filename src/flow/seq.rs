//! TCP sequence-number arithmetic (RFC 793 §3.3): 32-bit values compared by the sign of
//! their wrapping difference, so a stream that crosses 2^32 keeps its order.

/// A TCP sequence number. Never compare the raw `u32`s: use the methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self + n` in sequence space.
    pub fn wrapping_add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// The signed distance from `other` to `self` (positive when `self` is after).
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Strictly before, in sequence space.
    pub fn before(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }

    /// Strictly after, in sequence space.
    pub fn after(self, other: SeqNum) -> bool {
        self.diff(other) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_wrapping_past_two_to_the_32() {
        let near_end = SeqNum(u32::MAX - 10);
        let wrapped = near_end.wrapping_add(100);
        assert_eq!(wrapped.0, 89);
        assert!(near_end.before(wrapped));
        assert!(wrapped.after(near_end));
        assert_eq!(wrapped.diff(near_end), 100);
    }

    #[test]
    fn equal_numbers_are_neither_before_nor_after() {
        let a = SeqNum(7);
        assert!(!a.before(a) && !a.after(a));
    }
}
