//! Single-writer counters readable from other threads.
//!
//! Each worker writes only its own counters; the control thread reads them with
//! relaxed loads and sums them (`show ip inspect statistics`). With a single
//! writer an increment is a plain load + store (no locked read-modify-write on the
//! packet path); readers may see a value a few increments old, never a torn one.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter or gauge with one writing thread.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Only the owning thread may call it.
    #[inline]
    pub fn bump(&self) {
        self.add(1);
    }

    /// Adds `n`. Only the owning thread may call it.
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Overwrites the value. Only the owning thread may call it.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Current value (any thread).
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let c = Counter::default();
        c.bump();
        c.add(4);
        assert_eq!(c.get(), 5);
        c.set(2);
        assert_eq!(c.get(), 2);
    }
}
