//! The session index: a `hashbrown::HashTable<u32>` of `slot << 1 | side`
//! records under the keys' flow hashes (issue #3), on huge pages.
//!
//! Why huge pages: at a million sessions the index is tens of megabytes read
//! at random, and with 4 KB pages nearly every read of it was also a TLB miss
//! (a nested page walk under KVM). The table's other arrays are mapped by
//! [`crate::memory`]; the index is hashbrown's own allocation, so it is
//! allocated through [`HugeAlloc`] (crate `hugealloc`: the global allocator
//! with 2 MiB alignment and `madvise(MADV_HUGEPAGE)` for allocations of 2 MiB
//! or more), passed to hashbrown with its `allocator-api2` feature. No
//! `unsafe` here: the allocator and its `Allocator` impl live in that crate.
//! With [`PagePolicy::Plain`] the index stays on the global allocator's
//! ordinary pages (a separate variant, so that the fallback really is plain;
//! the match on it is one predictable branch). [`Index::backing`] says where
//! the index is, for the table's page statistics.
//!
//! Why aligned probe starts: hashbrown starts a probe at `hash & mask` and
//! loads the 16 control bytes from there, so about one probe in four
//! (15/64) straddles two cache lines of control bytes. The index is handed
//! the flow hash with its low 4 bits cleared ([`probe_hash`]): every probe
//! then starts on a 16-byte group boundary, its control group is always
//! inside one line, and the group's 16 records (4 bytes each) are exactly one
//! aligned 64-byte line of hashbrown's data array too. The tag (bits 57..64)
//! and the group choice (bits 4 and up) still come from the hash; at the
//! table's load (at most a quarter of the buckets hold a record, see
//! `table.rs`) a group holds 4 records on average, and a probe runs past its
//! first group about once in a million.

use allocator_api2::alloc::Allocator;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use hugealloc::HugeAlloc;

use crate::hash::FlowHash;
use crate::memory::{huge_advice_accepted, Backing, PagePolicy, HUGE_PAGE};

/// Control bytes per hashbrown group (SSE2: 16; other targets use 8, which
/// divides it, so the alignment holds there too).
const GROUP: u64 = 16;

/// The hash hashbrown is given for a flow hash: low bits cleared, so that a
/// probe starts on a group boundary (module docs).
#[inline(always)]
pub(crate) const fn probe_hash(h: FlowHash) -> u64 {
    h.0 & !(GROUP - 1)
}

/// The index, on huge pages or on the heap's ordinary pages.
#[derive(Debug)]
pub(crate) enum Index {
    /// Allocated by [`HugeAlloc`] (advised huge when 2 MiB or larger).
    Huge(HashTable<u32, HugeAlloc>),
    /// Allocated by the global allocator ([`PagePolicy::Plain`]).
    Plain(HashTable<u32>),
}

/// Runs `$body` with `$ix` bound to the hashbrown table of either variant
/// (the body is compiled once per allocator).
macro_rules! on_index {
    ($index:expr, $ix:ident => $body:expr) => {
        match $index {
            Index::Huge($ix) => $body,
            Index::Plain($ix) => $body,
        }
    };
}

/// What [`Index::claim`] found.
pub(crate) enum Claim {
    /// Recorded at this bucket.
    Inserted(usize),
    /// A record `eq` accepted holds the key already.
    Held(u32),
}

impl Index {
    /// An index with room for `records` records that never reallocates
    /// while it holds at most `records / 2` of them (see `table.rs`).
    pub(crate) fn with_room(records: usize, policy: PagePolicy) -> Result<Index, std::io::Error> {
        let oom = |_| std::io::Error::from(std::io::ErrorKind::OutOfMemory);
        Ok(match policy {
            PagePolicy::HugePages => {
                let mut t = HashTable::new_in(HugeAlloc);
                t.try_reserve(records, |_: &u32| 0).map_err(oom)?;
                Index::Huge(t)
            }
            PagePolicy::Plain => {
                let mut t = HashTable::new();
                t.try_reserve(records, |_: &u32| 0).map_err(oom)?;
                Index::Plain(t)
            }
        })
    }

    /// Where the index's memory is: on huge pages when it came from
    /// [`HugeAlloc`], is at least one huge page large (hugealloc advises
    /// only those) and this kernel accepts the advice (asked the same way,
    /// on a throwaway mapping that is never touched).
    pub(crate) fn backing(&self) -> Backing {
        match self {
            Index::Huge(t) if t.allocation_size() >= HUGE_PAGE && huge_advice_accepted() => {
                Backing::HugePages
            }
            _ => Backing::Plain,
        }
    }

    /// Bytes hashbrown allocated (buckets and control bytes).
    pub(crate) fn allocation_size(&self) -> usize {
        on_index!(self, ix => ix.allocation_size())
    }

    /// Address of the allocation (for `/proc/self/smaps` checks).
    #[cfg(test)]
    pub(crate) fn first_record_addr(&self) -> Option<usize> {
        on_index!(self, ix => ix.iter().next().map(|r| r as *const u32 as usize))
    }

    /// Records held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        on_index!(self, ix => ix.len())
    }

    /// hashbrown's `capacity()`: records held + records insertable without a
    /// rehash (jumps when hashbrown rehashes).
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        on_index!(self, ix => ix.capacity())
    }

    /// Number of buckets (a power of two).
    #[cfg(test)]
    pub(crate) fn num_buckets(&self) -> usize {
        on_index!(self, ix => ix.num_buckets())
    }

    /// The record probed under `hash` that `eq` accepts (hashbrown's `find`).
    #[inline(always)]
    pub(crate) fn find(&self, hash: FlowHash, eq: impl FnMut(&u32) -> bool) -> Option<u32> {
        on_index!(self, ix => ix.find(probe_hash(hash), eq).copied())
    }

    /// The burst's index phases: `records[i]` becomes the first record under
    /// `hashes[i]` whose tag matches (`none` when no tag matches: a definite
    /// miss), without reading any session. Three passes over the burst,
    /// each issuing its loads before any branch waits on them: the control
    /// group of every probe (one line each, the probes start on group
    /// boundaries), then the first tag match of each (control bytes now in
    /// cache: compute only), then the records (one line each). With
    /// `cached` (an index that fits the caches) one pass of plain probes
    /// instead: the split would only cost instructions.
    #[inline(always)]
    pub(crate) fn candidates(
        &self,
        hashes: &[FlowHash],
        records: &mut [u32],
        none: u32,
        cached: bool,
    ) {
        on_index!(self, ix => candidates_in(ix, hashes, records, none, cached))
    }

    /// The record at `bucket`, if that bucket is full.
    #[cfg(test)]
    pub(crate) fn get_bucket(&self, bucket: usize) -> Option<u32> {
        on_index!(self, ix => ix.get_bucket(bucket).copied())
    }

    /// Records `record` under `hash` unless a record `eq` accepts is found in
    /// the same probe; `rehash` gives the flow hash of any record (hashbrown
    /// calls it only when it rehashes).
    #[inline]
    pub(crate) fn claim(
        &mut self,
        hash: FlowHash,
        record: u32,
        eq: impl FnMut(&u32) -> bool,
        rehash: impl Fn(&u32) -> FlowHash,
    ) -> Claim {
        on_index!(self, ix => claim_in(ix, hash, record, eq, &rehash))
    }

    /// Removes the record at `bucket` if it is `record`; `false` otherwise.
    #[inline]
    pub(crate) fn remove_at(&mut self, bucket: usize, record: u32) -> bool {
        on_index!(self, ix => match ix.get_bucket_entry(bucket) {
            Ok(found) if *found.get() == record => {
                found.remove();
                true
            }
            _ => false,
        })
    }

    /// Removes `record`, found by probing `hash`.
    pub(crate) fn remove_probing(&mut self, hash: FlowHash, record: u32) {
        on_index!(self, ix => {
            if let Ok(found) = ix.find_entry(probe_hash(hash), |&r| r == record) {
                found.remove();
            }
        })
    }

    /// Calls `f(bucket, record)` for every record (O(buckets)).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, u32)) {
        on_index!(self, ix => {
            for bucket in ix.iter_buckets() {
                if let Some(&r) = ix.get_bucket(bucket) {
                    f(bucket, r);
                }
            }
        })
    }

    /// hashbrown's `shrink_to` (tests that force buckets to move).
    #[cfg(test)]
    pub(crate) fn shrink_to(&mut self, min: usize, rehash: impl Fn(&u32) -> FlowHash) {
        on_index!(self, ix => ix.shrink_to(min, |r| probe_hash(rehash(r))))
    }
}

#[inline(always)]
fn candidates_in<A: Allocator>(
    ix: &HashTable<u32, A>,
    hashes: &[FlowHash],
    records: &mut [u32],
    none: u32,
    cached: bool,
) {
    const MAX: usize = crate::burst::BURST;
    let n = hashes.len().min(records.len()).min(MAX);
    let mask = ix.num_buckets().wrapping_sub(1);
    if cached {
        // An index in the caches: one pass (fewer instructions).
        for (r, h) in records[..n].iter_mut().zip(hashes) {
            *r = ix.find(probe_hash(*h), |_| true).copied().unwrap_or(none);
        }
        return;
    }
    // 1. Control groups: read one control byte of each (its line), folded
    //    into a value only `black_box` consumes.
    let mut groups = 0u32;
    for h in &hashes[..n] {
        groups ^= u32::from(ix.get_bucket(probe_hash(*h) as usize & mask).is_some());
    }
    core::hint::black_box(groups);
    // 2. First tag match of each probe (no record read).
    let mut bucket = [usize::MAX; MAX];
    for (b, h) in bucket[..n].iter_mut().zip(hashes) {
        *b = ix
            .find_bucket_index(probe_hash(*h), |_| true)
            .unwrap_or(usize::MAX);
    }
    // 3. The records.
    for (r, &b) in records[..n].iter_mut().zip(&bucket[..n]) {
        *r = ix.get_bucket(b).copied().unwrap_or(none);
    }
}

#[inline(always)]
fn claim_in<A: Allocator>(
    ix: &mut HashTable<u32, A>,
    hash: FlowHash,
    record: u32,
    eq: impl FnMut(&u32) -> bool,
    rehash: &impl Fn(&u32) -> FlowHash,
) -> Claim {
    match ix.entry(probe_hash(hash), eq, |r| probe_hash(rehash(r))) {
        Entry::Occupied(holder) => Claim::Held(*holder.get()),
        Entry::Vacant(vacant) => Claim::Inserted(vacant.insert(record).bucket_index()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_hash_keeps_tag_and_group_bits() {
        let h = FlowHash(0xfedc_ba98_7654_321f);
        assert_eq!(probe_hash(h), 0xfedc_ba98_7654_3210);
        assert_eq!(probe_hash(h) >> 57, h.0 >> 57);
    }

    #[test]
    fn records_land_in_the_group_their_hash_names() {
        for policy in [PagePolicy::HugePages, PagePolicy::Plain] {
            let mut ix = Index::with_room(4096, policy).unwrap();
            let mask = ix.num_buckets() - 1;
            for r in 0..1000u32 {
                let h = FlowHash(u64::from(r).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let Claim::Inserted(bucket) = ix.claim(h, r, |_| false, |_| h) else {
                    panic!("refused");
                };
                // At this load the first group has room: the record is in
                // the 16 buckets starting at the aligned probe position.
                let start = probe_hash(h) as usize & mask;
                assert_eq!(start % 16, 0);
                assert!(
                    (start..start + 16).contains(&bucket),
                    "{r}: {bucket} {start}"
                );
                assert_eq!(ix.get_bucket(bucket), Some(r));
                assert_eq!(ix.find(h, |&x| x == r), Some(r));
            }
            assert_eq!(ix.len(), 1000);
            for r in (0..1000u32).step_by(2) {
                let h = FlowHash(u64::from(r).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                ix.remove_probing(h, r);
                assert_eq!(ix.find(h, |&x| x == r), None);
            }
            assert_eq!(ix.len(), 500);
        }
    }

    #[test]
    fn small_indexes_are_plain_and_large_ones_follow_the_policy() {
        let small = Index::with_room(1000, PagePolicy::HugePages).unwrap();
        assert!(small.allocation_size() < HUGE_PAGE);
        assert_eq!(small.backing(), Backing::Plain);
        let plain = Index::with_room(1 << 20, PagePolicy::Plain).unwrap();
        assert!(plain.allocation_size() >= HUGE_PAGE);
        assert_eq!(plain.backing(), Backing::Plain);
        let huge = Index::with_room(1 << 20, PagePolicy::HugePages).unwrap();
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| !s.contains("[never]"));
        if thp {
            assert_eq!(huge.backing(), Backing::HugePages);
        }
    }
}
