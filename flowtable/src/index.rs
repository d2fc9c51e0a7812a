//! The session index: flow hash → index entry (`slot << 1 | side`), in
//! cache-line buckets that never move.
//!
//! Why not `hashbrown`: its control bytes and its buckets are two separate
//! arrays, so a lookup at a million sessions reads two random lines of the
//! index before it reaches the session entry (three dependent DRAM misses), and
//! its memory cannot be put on huge pages without an `unsafe` allocator. Here a
//! **line** is one 64-byte, cache-line-aligned bucket that holds everything a
//! probe needs: eight 16-bit fingerprints (compared all at once, SWAR), the
//! eight index entries they belong to, an occupancy mask and an overflow
//! count. A lookup that hits reads one line of
//! the index and one session entry; a miss usually reads one line only.
//!
//! * **Placement**: a key's *home* line is a multiply-shift range reduction of
//!   the low 32 bits of its flow hash (any line count, no power-of-two
//!   rounding); the fingerprint is hash bits 32..48 (core steering uses bits
//!   25..57, so within one worker's table they still vary freely).
//! * **Overflow** (F14 style): a key whose home line is full goes to the next
//!   line with a free way (wrapping), and every line it passed counts one more
//!   "record stored beyond me". A probe stops at the first line whose count is
//!   zero. Removal decrements the same lines, so there are no tombstones, no
//!   rehash, no growth: records never move, and a removal at a recorded
//!   position needs neither the key nor its hash (a record stored away from
//!   its home line is flagged; only then is its key hashed again, to find the
//!   lines it passed).
//! * **Sizing**: `lines = ceil(records / 4)`, at most half of the ways used
//!   when every session has two keys: 32 bytes per session. A full home line
//!   is then rare (about 1 % of lookups at a full table go past it), and even
//!   a miss almost always stops at its home line.
//! * **Memory**: one [`PageArray`] (huge pages when the kernel gives them),
//!   allocated at start-up, zero = empty.

use bytemuck::{Pod, Zeroable};

use crate::hash::FlowHash;
use crate::memory::{Backing, PageArray, PagePolicy};

/// Ways (records) per line.
pub(crate) const WAYS: usize = 8;
/// No index entry (an empty candidate of a burst lookup).
pub(crate) const NO_TAG: u32 = u32::MAX;
/// Tag bit: the record is not in its home line (removal then hashes the key
/// to find the lines it passed).
pub(crate) const DISPLACED: u32 = 1 << 31;

const LANES_LOW: u64 = 0x0101_0101_0101_0101;
const LANES_HIGH: u64 = 0x8080_8080_8080_8080;
const LANES_REST: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// One 64-byte bucket.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line {
    /// Byte `w`: fingerprint bits 0..8 of way `w` (hash bits 32..40).
    fp_lo: u64,
    /// Byte `w`: fingerprint bits 8..16 of way `w` (hash bits 40..48).
    fp_hi: u64,
    /// `0x80`: way `w` holds a record, `0`: free. One byte per way, so that
    /// freeing a way is a plain one-byte store: a removal never waits for
    /// the line to arrive from memory.
    occupied: [u8; WAYS],
    /// Records stored beyond this line whose probe passes it.
    overflow: u32,
    pad: u32,
    /// Index entries (`slot << 1 | side`, plus [`DISPLACED`]) of ways 0..8.
    tags: [u32; WAYS],
}

const _: () = assert!(core::mem::size_of::<Line>() == 64);

/// A key's 16-bit fingerprint, as the two bytes broadcast to every lane.
#[derive(Clone, Copy)]
struct Fingerprint {
    lo: u64,
    hi: u64,
}

impl Fingerprint {
    #[inline(always)]
    fn of(hash: FlowHash) -> Fingerprint {
        Fingerprint {
            lo: ((hash.0 >> 32) & 0xff) * LANES_LOW,
            hi: ((hash.0 >> 40) & 0xff) * LANES_LOW,
        }
    }
}

impl Line {
    /// `0x80` in the byte of every occupied way whose fingerprint is `fp`
    /// (SWAR: both bytes equal ⇔ the or of the xors is a zero byte, found
    /// exactly, without borrows between lanes).
    #[inline(always)]
    fn matches(&self, fp: Fingerprint) -> u64 {
        let x = (self.fp_lo ^ fp.lo) | (self.fp_hi ^ fp.hi);
        !(((x & LANES_REST) + LANES_REST) | x) & self.occupancy()
    }

    /// The bytes of the free ways (`0x80` each).
    #[inline(always)]
    fn free(&self) -> u64 {
        !self.occupancy() & LANES_HIGH
    }

    /// `0x80` in the byte of every occupied way.
    #[inline(always)]
    fn occupancy(&self) -> u64 {
        u64::from_le_bytes(self.occupied)
    }

    /// Stores a record in way `way`.
    #[inline(always)]
    fn put(&mut self, way: usize, hash: FlowHash, tag: u32) {
        let shift = way * 8;
        let clear = !(0xff_u64 << shift);
        self.fp_lo = (self.fp_lo & clear) | (((hash.0 >> 32) & 0xff) << shift);
        self.fp_hi = (self.fp_hi & clear) | (((hash.0 >> 40) & 0xff) << shift);
        self.occupied[way] = 0x80;
        self.tags[way] = tag;
    }
}

/// The way of the lowest lane set in a lane mask.
#[inline(always)]
fn way_of(lanes: u64) -> usize {
    (lanes.trailing_zeros() / 8) as usize
}

/// A record's position: `line × 8 + way` (what the session entry remembers so
/// that removal goes straight to it).
pub(crate) type Position = u32;

/// The index (see the module docs).
#[derive(Debug)]
pub(crate) struct LineIndex {
    lines: PageArray<Line>,
    /// Number of lines (≥ 1).
    n: u32,
    /// Records stored.
    len: u32,
}

impl LineIndex {
    /// An index for at most `records` records (two per session).
    pub(crate) fn new(records: u64, policy: PagePolicy) -> std::io::Result<LineIndex> {
        let n = (records * 2).div_ceil(WAYS as u64).max(1);
        // Positions are `line × 8 + way` in a u32.
        let n = u32::try_from(n)
            .ok()
            .filter(|&n| u64::from(n) * WAYS as u64 <= 1 << 32)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        Ok(LineIndex {
            lines: PageArray::zeroed(n as usize, policy)?,
            n,
            len: 0,
        })
    }

    /// Records stored.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Bytes of the lines.
    pub(crate) fn bytes(&self) -> usize {
        self.lines.bytes()
    }

    /// What the lines got.
    pub(crate) fn backing(&self) -> Backing {
        self.lines.backing()
    }

    /// Number of lines.
    #[cfg(test)]
    pub(crate) fn lines(&self) -> usize {
        self.n as usize
    }

    /// Home line of a hash's low 32 bits.
    #[inline(always)]
    fn home(&self, low: u32) -> usize {
        ((u64::from(low) * u64::from(self.n)) >> 32) as usize
    }

    #[inline(always)]
    fn next(&self, at: usize) -> usize {
        if at + 1 == self.n as usize {
            0
        } else {
            at + 1
        }
    }

    /// The first index entry under `hash` for which `is` holds (the caller
    /// compares the session's key). The entry passed to `is` has
    /// [`DISPLACED`] cleared.
    #[inline(always)]
    pub(crate) fn find(&self, hash: FlowHash, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let lines = self.lines.as_slice();
        let fp = Fingerprint::of(hash);
        let home = self.home(hash.0 as u32);
        let line = lines.get(home)?;
        let mut m = line.matches(fp);
        while m != 0 {
            let tag = line.tags[way_of(m) & (WAYS - 1)] & !DISPLACED;
            if is(tag) {
                return Some(tag);
            }
            m &= m - 1;
        }
        if line.overflow == 0 {
            return None;
        }
        self.find_beyond(home, fp, is)
    }

    /// The rest of a probe that overflowed its home line (rare).
    #[cold]
    #[inline(never)]
    fn find_beyond(
        &self,
        home: usize,
        fp: Fingerprint,
        mut is: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let lines = self.lines.as_slice();
        let mut at = home;
        for _ in 1..self.n {
            at = self.next(at);
            let line = lines.get(at)?;
            let mut m = line.matches(fp);
            while m != 0 {
                let tag = line.tags[way_of(m) & (WAYS - 1)] & !DISPLACED;
                if is(tag) {
                    return Some(tag);
                }
                m &= m - 1;
            }
            if line.overflow == 0 {
                return None;
            }
        }
        None
    }

    /// The burst's first step, for every key of a burst: the index entry of
    /// the first way of the key's home line whose fingerprint matches
    /// ([`NO_TAG`] if none), and whether the answer may lie elsewhere (another
    /// matching way, or records overflowed past the home line); no branch
    /// depends on a loaded line, so all the lines' misses overlap. A `NO_TAG`
    /// without `more` is a definite miss.
    #[inline(always)]
    pub(crate) fn candidates(&self, hashes: &[FlowHash], tags: &mut [u32], more: &mut [bool]) {
        let lines = self.lines.as_slice();
        for ((hash, tag), more) in hashes.iter().zip(tags).zip(more) {
            // `home < n <= lines.len()`: the check never fails (no branch
            // on loaded data either way).
            let Some(line) = lines.get(self.home(hash.0 as u32)) else {
                continue;
            };
            let m = line.matches(Fingerprint::of(*hash));
            let found = line.tags[way_of(m) & (WAYS - 1)] & !DISPLACED;
            *tag = if m == 0 { NO_TAG } else { found };
            *more = (m & m.wrapping_sub(1)) != 0 || line.overflow != 0;
        }
    }

    /// Reads the home lines of `hashes` (a "prefetch": the result only feeds
    /// `black_box`, nothing branches on it).
    #[inline(always)]
    pub(crate) fn touch(&self, hashes: [FlowHash; 2]) -> u64 {
        let lines = self.lines.as_slice();
        let last = lines.len().saturating_sub(1);
        let mut sink = 0;
        for hash in hashes {
            sink ^= lines
                .get(self.home(hash.0 as u32).min(last))
                .map_or(0, |l| l.occupancy());
        }
        sink
    }

    /// Stores `tag` under `hash` unless an entry for which `is` holds is there
    /// already (then `Err(that entry)`, nothing stored); one probe does both.
    /// `Ok` with the new record's position and whether it was displaced from
    /// its home line (what [`clear`](Self::clear) needs).
    #[inline(always)]
    pub(crate) fn insert_unique(
        &mut self,
        hash: FlowHash,
        tag: u32,
        mut is: impl FnMut(u32) -> bool,
    ) -> Result<(Position, bool), u32> {
        let fp = Fingerprint::of(hash);
        let home = self.home(hash.0 as u32);
        let lines = self.lines.as_mut_slice();
        let Some(line) = lines.get_mut(home) else {
            return Err(NO_TAG);
        };
        // Common case: nothing beyond the home line, and a free way in it.
        let mut m = line.matches(fp);
        while m != 0 {
            let t = line.tags[way_of(m) & (WAYS - 1)] & !DISPLACED;
            if is(t) {
                return Err(t);
            }
            m &= m - 1;
        }
        if line.overflow == 0 && line.free() != 0 {
            let way = way_of(line.free());
            line.put(way, hash, tag);
            self.len += 1;
            return Ok(((home * WAYS + way) as u32, false));
        }
        self.insert_beyond(home, hash, tag, is)
    }

    /// [`insert_unique`](Self::insert_unique) when the home line is full or
    /// overflowed: the whole probe (rare).
    #[cold]
    #[inline(never)]
    fn insert_beyond(
        &mut self,
        home: usize,
        hash: FlowHash,
        tag: u32,
        mut is: impl FnMut(u32) -> bool,
    ) -> Result<(Position, bool), u32> {
        let fp = Fingerprint::of(hash);
        let n = self.n as usize;
        let lines = self.lines.as_mut_slice();
        let mut at = home;
        let mut free: Option<(usize, usize)> = None;
        for step in 0..n {
            let line = &lines[at];
            // The home line's ways were compared by the caller.
            let mut m = if step == 0 { 0 } else { line.matches(fp) };
            while m != 0 {
                let t = line.tags[way_of(m) & (WAYS - 1)] & !DISPLACED;
                if is(t) {
                    return Err(t);
                }
                m &= m - 1;
            }
            if free.is_none() && line.free() != 0 {
                free = Some((at, way_of(line.free())));
            }
            if line.overflow == 0 {
                break;
            }
            at = if at + 1 == n { 0 } else { at + 1 };
        }
        // No holder: the first free way of the probe, else the first one
        // beyond it (there always is one: at most half the ways are used).
        let (target, way) = match free {
            Some(f) => f,
            None => {
                let mut found = None;
                for _ in 0..n {
                    at = if at + 1 == n { 0 } else { at + 1 };
                    if lines[at].free() != 0 {
                        found = Some((at, way_of(lines[at].free())));
                        break;
                    }
                }
                match found {
                    Some(f) => f,
                    // Unreachable while records ≤ the sizing; refuse rather
                    // than overwrite.
                    None => return Err(NO_TAG),
                }
            }
        };
        let mut passed = home;
        while passed != target {
            lines[passed].overflow += 1;
            passed = if passed + 1 == n { 0 } else { passed + 1 };
        }
        let flag = if target == home { 0 } else { DISPLACED };
        lines[target].put(way, hash, tag | flag);
        self.len += 1;
        Ok(((target * WAYS + way) as u32, target != home))
    }

    /// The index entry at `pos`, if that way holds one.
    #[cfg(test)]
    pub(crate) fn get(&self, pos: Position) -> Option<u32> {
        let line = self.lines.as_slice().get(pos as usize / WAYS)?;
        let way = pos as usize % WAYS;
        (line.occupied[way] != 0).then_some(line.tags[way] & !DISPLACED)
    }

    /// Removes the record at `pos` (recorded at insert): no probe, and no key
    /// or hash unless the record was displaced from its home line (then
    /// `hash()` is asked for, to find the lines it passed). Returns its index
    /// entry (`None`: that way was empty).
    #[inline(always)]
    pub(crate) fn remove_at(
        &mut self,
        pos: Position,
        hash: impl FnOnce() -> FlowHash,
    ) -> Option<u32> {
        let at = pos as usize / WAYS;
        let way = pos as usize % WAYS;
        let lines = self.lines.as_mut_slice();
        let line = lines.get_mut(at)?;
        if line.occupied[way] == 0 {
            return None;
        }
        line.occupied[way] = 0;
        let tag = line.tags[way];
        self.len -= 1;
        if tag & DISPLACED != 0 {
            self.unwind(at, hash());
        }
        Some(tag & !DISPLACED)
    }

    /// Frees the records at `positions` (recorded at insert, with whether
    /// each was displaced from its home line): one byte store per record,
    /// no load of the line, so that a removal never waits for memory.
    /// `hash(i)` (the hash of the key of `positions[i]`) is asked for only
    /// for a displaced record, to unwind the lines it passed.
    #[inline(always)]
    pub(crate) fn clear(
        &mut self,
        positions: &[(Position, bool)],
        hash: impl Fn(usize) -> FlowHash,
    ) {
        let lines = self.lines.as_mut_slice();
        for &(pos, _) in positions {
            if let Some(line) = lines.get_mut(pos as usize / WAYS) {
                debug_assert_ne!(line.occupied[pos as usize % WAYS], 0, "stale position");
                line.occupied[pos as usize % WAYS] = 0;
                self.len -= 1;
            }
        }
        for (i, &(pos, displaced)) in positions.iter().enumerate() {
            if displaced {
                self.unwind(pos as usize / WAYS, hash(i));
            }
        }
    }

    /// Decrements the overflow counts of the lines a displaced record stored
    /// at line `at` passed.
    #[cold]
    #[inline(never)]
    fn unwind(&mut self, at: usize, hash: FlowHash) {
        let n = self.n as usize;
        let mut passed = self.home(hash.0 as u32);
        let lines = self.lines.as_mut_slice();
        for _ in 0..n {
            if passed == at {
                break;
            }
            if let Some(line) = lines.get_mut(passed) {
                line.overflow = line.overflow.saturating_sub(1);
            }
            passed = if passed + 1 == n { 0 } else { passed + 1 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash homed on line `line` of `idx`, with fingerprint `fp`.
    fn on_line(idx: &LineIndex, line: usize, fp: u16) -> FlowHash {
        let n = idx.lines() as u64;
        let low = ((line as u64) << 32).div_ceil(n) as u32;
        assert_eq!(idx.home(low), line);
        FlowHash((u64::from(fp) << 32) | u64::from(low))
    }

    impl LineIndex {
        /// One key's burst candidate.
        fn candidate(&self, hash: FlowHash) -> (u32, bool) {
            let (mut tag, mut more) = ([NO_TAG], [false]);
            self.candidates(&[hash], &mut tag, &mut more);
            (tag[0], more[0])
        }
    }

    fn no_hash() -> FlowHash {
        panic!("a record at home needs no hash")
    }

    #[test]
    fn sizing_and_empty() {
        let idx = LineIndex::new(2_000_000, PagePolicy::HugePages).unwrap();
        assert_eq!(idx.lines(), 500_000);
        assert_eq!(idx.bytes(), 500_000 * 64);
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.find(FlowHash(12345), |_| true), None);
        assert_eq!(idx.candidate(FlowHash(12345)), (NO_TAG, false));
        let one = LineIndex::new(0, PagePolicy::Plain).unwrap();
        assert_eq!(one.lines(), 1);
        // Positions must fit a u32.
        assert!(LineIndex::new(1 << 32, PagePolicy::Plain).is_err());
    }

    #[test]
    fn fingerprints_compare_both_bytes_exactly() {
        let mut idx = LineIndex::new(8, PagePolicy::Plain).unwrap();
        // Fingerprints that share one byte, or differ by a borrow-prone value.
        let fps = [
            0x0000u16, 0x0001, 0x0100, 0x0101, 0x8080, 0x7f80, 0x807f, 0xffff,
        ];
        for (i, &fp) in fps.iter().enumerate() {
            idx.insert_unique(on_line(&idx, 0, fp), i as u32, |_| false)
                .unwrap();
        }
        for (i, &fp) in fps.iter().enumerate() {
            let mut seen = Vec::new();
            let found = idx.find(on_line(&idx, 0, fp), |t| {
                seen.push(t);
                false
            });
            assert_eq!(found, None);
            assert_eq!(seen, vec![i as u32], "fp {fp:#x}");
            assert_eq!(idx.candidate(on_line(&idx, 0, fp)).0, i as u32);
        }
        assert_eq!(idx.candidate(on_line(&idx, 0, 0x1234)), (NO_TAG, false));
    }

    #[test]
    fn insert_find_remove_one_line() {
        let mut idx = LineIndex::new(20, PagePolicy::Plain).unwrap();
        let h = on_line(&idx, 2, 5);
        let (p, displaced) = idx.insert_unique(h, 10, |_| false).unwrap();
        assert!(!displaced);
        assert_eq!(p as usize / WAYS, 2);
        assert_eq!(idx.get(p), Some(10));
        assert_eq!(idx.find(h, |t| t == 10), Some(10));
        assert_eq!(idx.find(h, |t| t == 11), None);
        assert_eq!(idx.candidate(h), (10, false));
        // A second record with the same fingerprint: both candidates.
        let (p2, _) = idx.insert_unique(h, 12, |t| t == 12).unwrap();
        assert_eq!(idx.find(h, |t| t == 12), Some(12));
        assert_eq!(idx.candidate(h), (10, true));
        // The holder is reported and nothing is stored.
        assert_eq!(idx.insert_unique(h, 14, |t| t == 12), Err(12));
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.remove_at(p, no_hash), Some(10));
        assert_eq!(idx.remove_at(p, no_hash), None);
        assert_eq!(idx.find(h, |t| t == 10), None);
        assert_eq!(idx.remove_at(p2, no_hash), Some(12));
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.remove_at(u32::MAX - 1, no_hash), None);
    }

    #[test]
    fn overflow_chains_wrap_and_unwind() {
        // 4 lines; 20 records all homed on the last line: they fill it and
        // wrap around to lines 0 and 1.
        let mut idx = LineIndex::new(16, PagePolicy::Plain).unwrap();
        assert_eq!(idx.lines(), 4);
        let last = idx.lines() - 1;
        let hashes: Vec<FlowHash> = (0..20).map(|i| on_line(&idx, last, 100 + i)).collect();
        let pos: Vec<Position> = hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| idx.insert_unique(h, i as u32, |_| false).unwrap().0)
            .collect();
        let lines_used: Vec<usize> = pos.iter().map(|&p| p as usize / WAYS).collect();
        assert_eq!(&lines_used[..8], &[last; 8]);
        assert_eq!(&lines_used[8..16], &[0; 8]);
        assert_eq!(&lines_used[16..], &[1; 4]);
        for (i, &h) in hashes.iter().enumerate() {
            assert_eq!(idx.find(h, |t| t == i as u32), Some(i as u32), "{i}");
            assert_eq!(idx.get(pos[i]), Some(i as u32));
        }
        // An absent key homed on line 0 probes on to line 1, then stops; one
        // homed on line 2 stops at once.
        let mut probed = 0;
        assert_eq!(
            idx.find(on_line(&idx, 0, 7), |_| {
                probed += 1;
                false
            }),
            None
        );
        assert_eq!(idx.candidate(on_line(&idx, 0, 7)), (NO_TAG, true));
        assert_eq!(idx.candidate(on_line(&idx, 2, 7)), (NO_TAG, false));
        // Removing the displaced records unwinds the counts (their hashes are
        // asked for); the rest stay reachable, and freed ways are reused.
        for i in (8..20).rev() {
            assert_eq!(idx.remove_at(pos[i], || hashes[i]), Some(i as u32));
        }
        assert!(idx.lines.as_slice().iter().all(|l| l.overflow == 0));
        for (i, &h) in hashes.iter().enumerate().take(8) {
            assert_eq!(idx.find(h, |t| t == i as u32), Some(i as u32));
        }
        assert_eq!(idx.remove_at(pos[3], no_hash), Some(3));
        let reused = idx.insert_unique(hashes[3], 98, |t| t == 98).unwrap();
        assert_eq!(reused, (pos[3], false));
        // The store-only removal: displaced records unwind too.
        let far = idx.insert_unique(hashes[12], 97, |_| false).unwrap();
        assert!(far.1, "home line full: displaced");
        assert!(idx.candidate(hashes[12]).1);
        let asked = std::cell::Cell::new(0);
        idx.clear(&[reused, far], |i| {
            asked.set(asked.get() + 1);
            [hashes[3], hashes[12]][i]
        });
        assert_eq!(asked.get(), 1);
        assert_eq!(idx.find(hashes[12], |t| t == 97), None);
        assert_eq!(idx.find(hashes[3], |t| t == 98), None);
        assert_eq!(idx.len(), 7);
        assert!(idx.lines.as_slice().iter().all(|l| l.overflow == 0));
    }

    #[test]
    fn removal_in_the_middle_keeps_later_records_reachable() {
        let mut idx = LineIndex::new(16, PagePolicy::Plain).unwrap();
        let hashes: Vec<FlowHash> = (0..18).map(|i| on_line(&idx, 0, i)).collect();
        let pos: Vec<Position> = hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| idx.insert_unique(h, i as u32, |_| false).unwrap().0)
            .collect();
        // Free a way of the home line: the records beyond it stay found, and
        // uniqueness is still checked along the whole chain.
        idx.remove_at(pos[2], no_hash);
        for i in (0..18).filter(|&i| i != 2) {
            assert_eq!(idx.find(hashes[i], |t| t == i as u32), Some(i as u32));
        }
        assert_eq!(idx.insert_unique(hashes[17], 50, |t| t == 17), Err(17));
        // A new key takes the freed way of its home line.
        assert_eq!(
            idx.insert_unique(hashes[2], 51, |_| false),
            Ok((pos[2], false))
        );
    }

    use std::collections::HashMap;

    use proptest::prelude::*;

    proptest! {
        /// The index against a map, with hashes crowded onto 3 of 4 lines and
        /// a handful of fingerprints, so that full lines, overflow chains that
        /// wrap, shared fingerprints and removals in the middle of chains are
        /// the normal case. Keys are `u16`s; the index entry of key `k` is `k`.
        #[test]
        fn index_matches_a_map(ops in proptest::collection::vec((0..40u16, any::<bool>()), 1..400)) {
            let mut idx = LineIndex::new(16, PagePolicy::Plain).unwrap();
            let hash_of = |k: u16| on_line(&idx, usize::from(k % 3), k % 5);
            let hashes: Vec<FlowHash> = (0..40).map(hash_of).collect();
            let mut model: HashMap<u16, (Position, bool)> = HashMap::new();
            for (k, insert) in ops {
                let h = hashes[usize::from(k)];
                if insert {
                    if model.len() == 32 && !model.contains_key(&k) {
                        continue;
                    }
                    let got = idx.insert_unique(h, u32::from(k), |t| t == u32::from(k));
                    match model.get(&k) {
                        Some(_) => prop_assert_eq!(got, Err(u32::from(k))),
                        None => {
                            let (pos, displaced) = got.unwrap();
                            prop_assert_eq!(idx.get(pos), Some(u32::from(k)));
                            model.insert(k, (pos, displaced));
                        }
                    }
                } else if let Some((pos, displaced)) = model.remove(&k) {
                    // Both removal paths: the checked one and the store-only one.
                    if k % 2 == 0 {
                        prop_assert_eq!(idx.remove_at(pos, || h), Some(u32::from(k)));
                    } else {
                        idx.clear(&[(pos, displaced)], |_| h);
                    }
                }
                prop_assert_eq!(idx.len(), model.len());
                for j in 0..40u16 {
                    let hj = hashes[usize::from(j)];
                    let found = idx.find(hj, |t| t == u32::from(j));
                    prop_assert_eq!(found.is_some(), model.contains_key(&j), "key {}", j);
                    // The burst candidate is exact or says "look further".
                    let (tag, more) = idx.candidate(hj);
                    if model.contains_key(&j) && tag != u32::from(j) {
                        prop_assert!(more, "key {} hidden from the burst", j);
                    }
                    if tag == NO_TAG && !more {
                        prop_assert!(!model.contains_key(&j));
                    }
                }
            }
            for (k, (pos, _)) in model.drain() {
                prop_assert_eq!(idx.remove_at(pos, || hashes[usize::from(k)]), Some(u32::from(k)));
            }
            prop_assert!(idx.lines.as_slice().iter().all(|l| l.overflow == 0 && l.occupancy() == 0));
        }
    }
}
