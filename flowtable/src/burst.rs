//! Burst lookup: many packets' sessions found at once, with their cache misses
//! overlapped (VPP's "hash the whole burst, then look up with prefetch").
//!
//! Why: with a million sessions the index and the entries are far larger than the
//! caches, so one lookup is three *dependent* DRAM misses (hashbrown's control
//! group → the index bucket → the session entry). One at a time that is a few
//! hundred ns on a loaded virtual machine; the core can have many misses in
//! flight, but only if the loads of different packets are issued before any
//! branch waits on one of them. `_mm_prefetch` needs `unsafe`, which this crate
//! denies, so the burst is cut into phases whose loads do not feed branches
//! until the next phase:
//!
//! 1. **index** — three passes over the burst (`index.rs`, `candidates`):
//!    every packet's control group (one line: probes start on group
//!    boundaries) read without branching on it; then each probe's first
//!    bucket whose 7-bit tag matches, computed from those now-cached control
//!    bytes (the match accepts any record without reading the session);
//!    then the records of those buckets (`slot << 1 | side`, one line each).
//!    Splitting the control-byte and record reads keeps each pass short in
//!    instructions, so the core's window holds many packets' misses at once.
//!    No tag match is a definite miss;
//! 2. **session entries** — one read of each candidate's 64-byte entry, folded
//!    into a value that only `black_box` consumes (a "touch"), so no branch
//!    waits for it;
//! 3. **resolve** — compare each packet's key with its candidate (all in cache
//!    now). A mismatch (another key with the same tag before the right one,
//!    about one probe in a few hundred at the table's load) falls back to the
//!    full single lookup, so the result is always exactly
//!    [`FlowTable::lookup`]'s.
//!
//! Each phase's loads are independent of each other, so an out-of-order core
//! overlaps them up to its miss-handling limit; the cost per packet falls from
//! the sum of the latencies to roughly their sum divided by the memory
//! parallelism (and with the index and the entries on huge pages,
//! [`crate::memory`], their page walks are short). [`FlowTable::touch_values`] does the same for the
//! caller's `T` of every hit, before the per-packet work reads it.
//!
//! How the pipeline uses it (one receive burst):
//!
//! ```
//! # use flowtable::{FlowHasher, FlowKey, FlowTable, Nanos, SessionKeys, TableConfig};
//! # use flowtable::key::IPPROTO_UDP;
//! # use std::net::Ipv4Addr;
//! # let hasher = FlowHasher::new(1);
//! # let mut table: FlowTable<u32> =
//! #     FlowTable::new(TableConfig::with_capacity(64), hasher, Nanos::ZERO).unwrap();
//! # let k = FlowKey::new(IPPROTO_UDP, Ipv4Addr::new(10, 0, 0, 1), 53000,
//! #     Ipv4Addr::new(192, 0, 2, 53), 53, 1);
//! # table.insert(SessionKeys { initiator: k, responder: k }, 7, Nanos::ZERO).unwrap();
//! # let packets = [k.reversed(), k];
//! let mut keys = [FlowKey::default(); flowtable::BURST];
//! let mut hashes = [flowtable::FlowHash(0); flowtable::BURST];
//! let mut hits = [None; flowtable::BURST];
//! // 1. parse + key + hash every packet of the burst (the hash also steers)
//! for (i, key) in packets.iter().enumerate() {
//!     keys[i] = *key;
//!     hashes[i] = hasher.hash(key);
//! }
//! let n = packets.len();
//! // 2. look the whole burst up, then bring in each hit's session data
//! table.lookup_burst(&keys[..n], &hashes[..n], &mut hits[..n]);
//! table.touch_values(&hits[..n]);
//! // 3. per packet: session path on a hit, new-flow path on a miss
//! for hit in &hits[..n] {
//!     let session = hit.and_then(|h| table.get(h.handle));
//!     assert_eq!(session, Some(&7));
//! }
//! ```
//!
//! The tables never change during a burst lookup (`&self`), so a packet that
//! creates a session cannot be seen by a later packet of the *same* lookup: a
//! caller that creates sessions while walking the burst must look a miss up
//! again (singly) once an earlier packet of the burst created a session.

use core::hint::black_box;

use crate::hash::FlowHash;
use crate::key::FlowKey;
use crate::table::{FlowTable, Lookup, NO_TAG};

/// Packets handled per phase round (the chunk [`FlowTable::lookup_burst`] cuts
/// longer slices into); also a good receive-burst size for callers.
pub const BURST: usize = 32;

impl<T> FlowTable<T> {
    /// Looks up `keys[i]` with `hashes[i]` (each `hasher.hash(&keys[i])`) and
    /// writes the result to `out[i]`, exactly as [`lookup`](Self::lookup) would,
    /// but with the memory accesses of all packets overlapped (module docs).
    /// Handles `min(keys.len(), hashes.len(), out.len())` packets, returned.
    /// No allocation, no lock; any length (cut into chunks of [`BURST`]).
    pub fn lookup_burst(
        &self,
        keys: &[FlowKey],
        hashes: &[FlowHash],
        out: &mut [Option<Lookup>],
    ) -> usize {
        let n = keys.len().min(hashes.len()).min(out.len());
        let mut start = 0;
        while start < n {
            let end = (start + BURST).min(n);
            self.lookup_chunk(&keys[start..end], &hashes[start..end], &mut out[start..end]);
            start = end;
        }
        n
    }

    /// Reads the first line of the caller's value of every hit, without
    /// branching on it, so that the per-packet work that follows finds it in
    /// cache (the "prefetch" of the session data). Misses are skipped.
    pub fn touch_values(&self, hits: &[Option<Lookup>]) {
        let mut sink = 0u32;
        for hit in hits.iter().flatten() {
            sink ^= u32::from(self.inner.value_present(hit.handle.slot()));
        }
        black_box(sink);
    }

    /// The phases over at most [`BURST`] packets.
    fn lookup_chunk(&self, keys: &[FlowKey], hashes: &[FlowHash], out: &mut [Option<Lookup>]) {
        let inner = &self.inner;
        let n = keys.len().min(hashes.len()).min(out.len()).min(BURST);
        // 1. Index: every packet's first tag-matching record (no session
        //    read, so the packets' probes are independent).
        let mut tag = [NO_TAG; BURST];
        inner.index.candidates(
            &hashes[..n],
            &mut tag[..n],
            NO_TAG,
            !inner.index_beyond_cache,
        );
        // 2. Session entries: touch, no branch on the data.
        black_box(inner.touch_entries(&tag[..n]));
        // 3. Resolve (in cache). No candidate is a definite miss; a wrong
        //    candidate takes the full probe (the right record may follow).
        inner.resolve_all(&tag[..n], &keys[..n], &mut out[..n]);
        for i in 0..n {
            if out[i].is_none() && tag[i] != NO_TAG {
                out[i] = self.lookup(&keys[i], hashes[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;
    use crate::hash::FlowHasher;
    use crate::key::{SessionKeys, IPPROTO_TCP};
    use crate::table::TableConfig;
    use crate::time::Nanos;

    fn keys(i: u32) -> SessionKeys {
        let c = Ipv4Addr::from_bits(0x6440_0000 + i / 1000);
        let port = 10_000 + (i % 1000) as u16;
        SessionKeys {
            initiator: FlowKey::new(IPPROTO_TCP, c, port, Ipv4Addr::new(172, 22, 1, 110), 25, 0),
            responder: FlowKey::new(IPPROTO_TCP, c, port, Ipv4Addr::new(10, 10, 10, 2), 25, 1),
        }
    }

    /// One of the four keys a packet of session `i` can carry: 0 the
    /// initiator's, 1 its reply, 2 the responder's, 3 its reply.
    fn form(i: u32, form: u8) -> FlowKey {
        let k = keys(i);
        match form {
            0 => k.initiator,
            1 => k.initiator.reversed(),
            2 => k.responder,
            _ => k.responder.reversed(),
        }
    }

    #[test]
    fn burst_equals_single_lookups() {
        for beyond_cache in [false, true] {
            burst_equals_single_lookups_with(beyond_cache);
        }
    }

    /// `beyond_cache`: take the split index phases that a table larger than
    /// the caches takes (a small table would take the one-pass probes).
    fn burst_equals_single_lookups_with(beyond_cache: bool) {
        let hasher = FlowHasher::new(3);
        let mut t: FlowTable<u32> =
            FlowTable::new(TableConfig::with_capacity(500), hasher, Nanos::ZERO).unwrap();
        t.inner.index_beyond_cache = beyond_cache;
        for i in 0..400 {
            t.insert(keys(i), i, Nanos::ZERO).unwrap();
        }
        // Hits in all four forms, misses, and a length not a multiple of BURST.
        let probe: Vec<FlowKey> = (0..450u32).map(|i| form(i, (i % 4) as u8)).collect();
        let hashes: Vec<FlowHash> = probe.iter().map(|k| hasher.hash(k)).collect();
        let mut out = vec![None; probe.len()];
        assert_eq!(t.lookup_burst(&probe, &hashes, &mut out), probe.len());
        for (i, k) in probe.iter().enumerate() {
            assert_eq!(out[i], t.lookup(k, hashes[i]), "packet {i}");
        }
        assert_eq!(out.iter().filter(|h| h.is_some()).count(), 400);
        t.touch_values(&out);
    }

    #[test]
    fn short_slices_bound_the_burst() {
        let hasher = FlowHasher::new(3);
        let mut t: FlowTable<u32> =
            FlowTable::new(TableConfig::with_capacity(8), hasher, Nanos::ZERO).unwrap();
        t.insert(keys(1), 1, Nanos::ZERO).unwrap();
        let k = [keys(1).initiator, keys(2).initiator];
        let h = [hasher.hash(&k[0])];
        let mut out = [None; 2];
        assert_eq!(t.lookup_burst(&k, &h, &mut out), 1);
        assert!(out[0].is_some());
        assert_eq!(out[1], None);
        // An empty table and empty slices are fine.
        let empty: FlowTable<u32> =
            FlowTable::new(TableConfig::with_capacity(8), hasher, Nanos::ZERO).unwrap();
        assert_eq!(
            empty.lookup_burst(&k, &[hasher.hash(&k[0]), hasher.hash(&k[1])], &mut out),
            2
        );
        assert_eq!(out, [None, None]);
        assert_eq!(t.lookup_burst(&[], &[], &mut []), 0);
    }

    #[test]
    fn crowded_tiny_table_bursts_equal_single_lookups() {
        for beyond_cache in [false, true] {
            crowded_tiny_table_with(beyond_cache);
        }
    }

    fn crowded_tiny_table_with(beyond_cache: bool) {
        // Capacity 5: a tiny index where tags collide and probes run past
        // the first group; the burst must fall back exactly where needed.
        let hasher = FlowHasher::new(9);
        let mut t: FlowTable<u32> =
            FlowTable::new(TableConfig::with_capacity(5), hasher, Nanos::ZERO).unwrap();
        t.inner.index_beyond_cache = beyond_cache;
        let mut live = Vec::new();
        for round in 0..3000u32 {
            if live.len() == 5 {
                let (_, h) = live.remove((round as usize * 7) % 5);
                assert!(t.remove(h).is_some());
            }
            live.push((round, t.insert(keys(round), round, Nanos::ZERO).unwrap()));
            let probe: Vec<FlowKey> = (round.saturating_sub(8)..=round)
                .flat_map(|i| [keys(i).initiator.reversed(), keys(i).responder])
                .collect();
            let hashes: Vec<FlowHash> = probe.iter().map(|k| hasher.hash(k)).collect();
            let mut out = vec![None; probe.len()];
            t.lookup_burst(&probe, &hashes, &mut out);
            for (i, k) in probe.iter().enumerate() {
                assert_eq!(out[i], t.lookup(k, hashes[i]), "round {round} probe {i}");
            }
            let in_range = live.iter().filter(|(id, _)| id + 8 >= round).count();
            assert_eq!(out.iter().flatten().count(), 2 * in_range);
        }
    }

    proptest::proptest! {
        /// Both index paths of the burst (one-pass probes for a cached
        /// index, split phases beyond the caches) answer exactly what single
        /// lookups answer, through churn, on both page policies, at
        /// capacities from tiny (crowded groups, tag collisions, probes past
        /// the first group, tombstones) to a few hundred.
        #[test]
        fn both_burst_paths_equal_single_lookups(
            capacity in 1..300u32,
            beyond_cache: bool,
            plain: bool,
            steps in proptest::collection::vec(
                (
                    proptest::collection::vec((0..400u32, proptest::bool::ANY), 0..40),
                    proptest::collection::vec((0..420u32, 0..4u8), 1..70),
                ),
                1..12,
            ),
        ) {
            let hasher = FlowHasher::new(23);
            let policy = if plain { crate::PagePolicy::Plain } else { crate::PagePolicy::HugePages };
            let mut t: FlowTable<u32> =
                FlowTable::with_pages(TableConfig::with_capacity(capacity), hasher, Nanos::ZERO, policy)
                    .unwrap();
            t.inner.index_beyond_cache = beyond_cache;
            let mut live = std::collections::BTreeMap::new();
            for (changes, probes) in steps {
                for (id, insert) in changes {
                    if insert {
                        if let Ok(h) = t.insert(keys(id), id, Nanos::ZERO) {
                            live.insert(id, h);
                        }
                    } else if let Some(h) = live.remove(&id) {
                        proptest::prop_assert_eq!(t.remove(h), Some(id));
                    }
                }
                let probe: Vec<FlowKey> = probes
                    .iter()
                    .map(|&(id, f)| form(id, f))
                    .collect();
                let hashes: Vec<FlowHash> = probe.iter().map(|k| hasher.hash(k)).collect();
                let mut out = vec![None; probe.len()];
                t.lookup_burst(&probe, &hashes, &mut out);
                for (i, k) in probe.iter().enumerate() {
                    proptest::prop_assert_eq!(out[i], t.lookup(k, hashes[i]), "probe {}", i);
                    proptest::prop_assert_eq!(
                        out[i].map(|h| h.handle),
                        live.get(&probes[i].0).copied()
                    );
                }
            }
        }
    }
}
