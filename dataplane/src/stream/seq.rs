//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! Every comparison in the tracker and the stream layer goes through [`Seq`] so that a
//! session whose numbers wrap past 2^32 behaves exactly like one that does not. Two
//! numbers are only comparable when they are less than 2^31 apart, which TCP guarantees
//! for any two numbers inside one window.

use core::fmt;
use core::ops::{Add, Sub};

/// A TCP sequence (or acknowledgement) number with modulo-2^32 ordering.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// Signed distance `self − other`, valid while |distance| < 2^31.
    pub const fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` in sequence space.
    pub const fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` in sequence space.
    pub const fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` in sequence space.
    pub const fn gt(self, other: Seq) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` in sequence space.
    pub const fn ge(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }

    /// The later of two sequence numbers.
    pub const fn max(self, other: Seq) -> Seq {
        if self.ge(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    pub const fn min(self, other: Seq) -> Seq {
        if self.le(other) {
            self
        } else {
            other
        }
    }

    /// Number of bytes from `from` up to `self`, or 0 when `self` is not after `from`.
    pub const fn bytes_after(self, from: Seq) -> u32 {
        let d = self.diff(from);
        if d > 0 {
            d as u32
        } else {
            0
        }
    }
}

impl Add<u32> for Seq {
    type Output = Seq;
    fn add(self, rhs: u32) -> Seq {
        Seq(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for Seq {
    type Output = Seq;
    fn sub(self, rhs: u32) -> Seq {
        Seq(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_wraps_around_2_pow_32() {
        let near_end = Seq(u32::MAX - 2);
        let wrapped = near_end + 5;
        assert_eq!(wrapped, Seq(2));
        assert!(near_end.lt(wrapped));
        assert!(wrapped.gt(near_end));
        assert_eq!(wrapped.diff(near_end), 5);
        assert_eq!(near_end.diff(wrapped), -5);
        assert_eq!(wrapped.bytes_after(near_end), 5);
        assert_eq!(near_end.bytes_after(wrapped), 0);
        assert_eq!(near_end.max(wrapped), wrapped);
        assert_eq!(near_end.min(wrapped), near_end);
        assert_eq!(wrapped - 5, near_end);
    }

    #[test]
    fn equal_numbers_compare_le_and_ge() {
        let s = Seq(1000);
        assert!(s.le(s) && s.ge(s) && !s.lt(s) && !s.gt(s));
    }
}
