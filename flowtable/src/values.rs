//! The caller's per-session data (`Option<T>` per slot), reserved once for the
//! table's capacity, on huge pages.
//!
//! Why: the pipeline reads a session's data on every packet right after the
//! lookup (`touch_values`, then `get_mut_touch`); at a million sessions the
//! slots are tens to hundreds of megabytes read at random, and on 4 KB pages
//! every such read was also a TLB miss. `T` is the caller's type (not plain
//! data), so the slots cannot live in a [`crate::memory`] mapping; they are a
//! `Vec` allocated through `hugealloc`'s allocator instead (as the index is,
//! `index.rs`), with no `unsafe` here. With [`PagePolicy::Plain`] they stay on
//! the global allocator's ordinary pages.

use allocator_api2::vec::Vec as AVec;
use hugealloc::HugeAlloc;

use crate::memory::{huge_advice_accepted, Backing, PagePolicy, HUGE_PAGE};

/// The slots, on huge pages or on ordinary pages.
#[derive(Debug)]
pub(crate) enum Values<T> {
    /// Allocated by [`HugeAlloc`] (advised huge when 2 MiB or larger).
    Huge(AVec<Option<T>, HugeAlloc>),
    /// Allocated by the global allocator ([`PagePolicy::Plain`]).
    Plain(AVec<Option<T>>),
}

impl<T> Values<T> {
    /// No slot yet, room for `capacity` (never reallocated: the table never
    /// pushes more).
    pub(crate) fn with_room(capacity: usize, policy: PagePolicy) -> std::io::Result<Values<T>> {
        let oom = |_| std::io::Error::from(std::io::ErrorKind::OutOfMemory);
        Ok(match policy {
            PagePolicy::HugePages => {
                let mut v = AVec::new_in(HugeAlloc);
                v.try_reserve_exact(capacity).map_err(oom)?;
                Values::Huge(v)
            }
            PagePolicy::Plain => {
                let mut v = AVec::new();
                v.try_reserve_exact(capacity).map_err(oom)?;
                Values::Plain(v)
            }
        })
    }

    /// The slots in use.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[Option<T>] {
        match self {
            Values::Huge(v) => v.as_slice(),
            Values::Plain(v) => v.as_slice(),
        }
    }

    /// The slots in use, mutably.
    #[inline(always)]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [Option<T>] {
        match self {
            Values::Huge(v) => v.as_mut_slice(),
            Values::Plain(v) => v.as_mut_slice(),
        }
    }

    /// Slot `i`.
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> Option<&Option<T>> {
        self.as_slice().get(i)
    }

    /// Slot `i`, mutably.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Option<T>> {
        self.as_mut_slice().get_mut(i)
    }

    /// Appends the next slot (within the reserved room: no allocation).
    #[inline]
    pub(crate) fn push(&mut self, value: Option<T>) {
        match self {
            Values::Huge(v) => v.push(value),
            Values::Plain(v) => v.push(value),
        }
    }

    /// Slots reserved.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Values::Huge(v) => v.capacity(),
            Values::Plain(v) => v.capacity(),
        }
    }

    /// Bytes reserved.
    pub(crate) fn bytes(&self) -> usize {
        self.capacity() * core::mem::size_of::<Option<T>>()
    }

    /// Where the slots are (as [`crate::index`]'s `backing`).
    pub(crate) fn backing(&self) -> Backing {
        match self {
            Values::Huge(_) if self.bytes() >= HUGE_PAGE && huge_advice_accepted() => {
                Backing::HugePages
            }
            _ => Backing::Plain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_behave_alike_on_both_policies() {
        for policy in [PagePolicy::HugePages, PagePolicy::Plain] {
            let mut v: Values<u64> = Values::with_room(300_000, policy).unwrap();
            let cap = v.capacity();
            assert!(cap >= 300_000);
            for i in 0..300_000u64 {
                v.push(Some(i));
            }
            assert_eq!(v.capacity(), cap, "never reallocated");
            assert_eq!(v.get(7), Some(&Some(7)));
            *v.get_mut(7).unwrap() = None;
            assert_eq!(v.as_slice()[7], None);
            assert_eq!(v.get(300_000), None);
            let expect = policy == PagePolicy::HugePages && huge_advice_accepted();
            assert_eq!(v.backing() == Backing::HugePages, expect);
        }
        let small: Values<u64> = Values::with_room(100, PagePolicy::HugePages).unwrap();
        assert_eq!(small.backing(), Backing::Plain);
    }
}
