//! Monotonic time as plain data.
//!
//! `flowtable` is sans-IO: it never reads a clock. Every entry point takes `now`
//! as a [`Nanos`], nanoseconds on a monotonic time line chosen by the caller
//! (the workers use nanoseconds since the inspection subsystem started; tests use
//! a virtual clock). Only differences and orderings matter, so the origin is free.

use core::fmt;
use core::ops::{Add, Sub};

/// A point on (or a span of) the caller's monotonic time line, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub u64);

impl Nanos {
    /// The origin of the time line.
    pub const ZERO: Nanos = Nanos(0);
    /// The farthest representable point (used as "never").
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s.saturating_mul(1_000_000_000))
    }

    /// Whole milliseconds.
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }

    /// Whole minutes (block-time is configured in minutes).
    pub const fn from_mins(m: u64) -> Nanos {
        Nanos::from_secs(m.saturating_mul(60))
    }

    /// Raw nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds, truncated.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// `self + d`, saturating at [`Nanos::MAX`].
    pub const fn saturating_add(self, d: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(d.0))
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub const fn saturating_sub(self, earlier: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add for Nanos {
    type Output = Nanos;
    /// Saturating: a deadline never wraps around into the past.
    fn add(self, rhs: Nanos) -> Nanos {
        self.saturating_add(rhs)
    }
}

impl Sub for Nanos {
    type Output = Nanos;
    /// Saturating at zero.
    fn sub(self, rhs: Nanos) -> Nanos {
        self.saturating_sub(rhs)
    }
}

impl fmt::Debug for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0 / 1_000_000_000;
        let ns = self.0 % 1_000_000_000;
        write!(f, "{s}.{ns:09}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_saturation() {
        assert_eq!(Nanos::from_secs(2), Nanos(2_000_000_000));
        assert_eq!(Nanos::from_millis(5), Nanos(5_000_000));
        assert_eq!(Nanos::from_mins(2), Nanos::from_secs(120));
        assert_eq!(Nanos::MAX + Nanos(1), Nanos::MAX);
        assert_eq!(Nanos(3) - Nanos(5), Nanos::ZERO);
        assert_eq!(Nanos::from_millis(1500).as_secs(), 1);
        assert_eq!(format!("{:?}", Nanos::from_millis(1500)), "1.500000000s");
    }
}
