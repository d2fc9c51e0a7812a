//! `FlowTable<T>`: one worker's session table.
//!
//! * **Storage**: `capacity` session slots, reserved at start-up and filled
//!   lazily (the `Vec`s never grow past their reservation, so they never
//!   reallocate); freed slots go on a free list. A [`Handle`] is `(slot,
//!   generation)`: a stale handle (session deleted, slot reused) is refused.
//!   A slot is split in two parallel arrays: a 64-byte, cache-line-aligned
//!   **entry** with everything lookup, `touch`, `arm` and `remove` read (both
//!   keys, generation, liveness, timer kind and duration, creation time, the
//!   index buckets of the keys), and the caller's `Option<T>`. A lookup that
//!   reaches a session therefore reads exactly one line of the slab, and the
//!   caller's data does not push the keys across a line boundary.
//! * **Index**: a `hashbrown::HashTable<u32>` holding `slot << 1 | side` for each of
//!   the session's two keys ([`SessionKeys`]), hashed in canonical form with the
//!   caller's precomputed [`FlowHash`]. Two entries per session serve four packet
//!   tuples (each key in both directions), and a hit reports the [`Side`] and
//!   [`Direction`] that matched. A session whose keys are the same flow (no NAT) is
//!   indexed once. The index is reserved for `4 × capacity` entries so that it
//!   stays at most half full: hashbrown then always rehashes in place when
//!   tombstones accumulate and never allocates (see the `churn_never_reallocates`
//!   test).
//! * **Insert and remove** cost one index probe per key: insert claims each key
//!   with hashbrown's `entry` (finding a session that holds the flow and
//!   indexing the new one in the same probe), and records the bucket it landed
//!   in; remove erases at the recorded buckets without hashing or probing (at
//!   1 M sessions that saves two DRAM misses per removal). hashbrown moves
//!   buckets only in a rehash, which only an insert can trigger; the insert
//!   detects it (`capacity()` jumps) and records every bucket again.
//! * **Timers**: a [`TimerWheel`] with one node per slot; every session has at most
//!   one running timer ([`TimeoutKind`] + duration). [`FlowTable::touch`] re-arms
//!   it in O(1). Expiry deletes the session and hands its data to the caller.
//! * **Hot path**: `lookup`, `lookup_burst` (in [`crate::burst`]), `insert`,
//!   `remove`, `touch` take no lock and never allocate. A full table refuses the
//!   insert (counted), it never grows.
//! * **Memory** (excluding `T`): 64 B entry + 16 B wheel node + 32–46 B of index
//!   (u32 buckets + control bytes at ≥ 4.57 buckets per session, rounded up to
//!   a power of two) = 112–126 B per session, plus `Option<T>`'s tag when `T`
//!   has no niche ([`FlowTable::overhead_bytes`]).

use std::sync::Arc;

use hashbrown::hash_table::Entry as IndexEntry;
use hashbrown::HashTable;

use crate::hash::{FlowHash, FlowHasher};
use crate::key::{Direction, FlowKey, SessionKeys, Side};
use crate::stats::TableStats;
use crate::time::Nanos;
use crate::timeout::TimeoutKind;
use crate::wheel::{Advance, TimerWheel, WheelConfig};

const NIL: u32 = u32::MAX;
/// "Bucket not recorded": removal probes for the key instead.
const NO_BUCKET: u32 = u32::MAX;
/// Largest supported capacity (slot ids are shifted left by one in the index).
pub const MAX_CAPACITY: u32 = (1 << 30) - 1;

/// Start-up sizing of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Maximum number of sessions (1 ..= [`MAX_CAPACITY`]).
    pub capacity: u32,
    /// Timer wheel geometry.
    pub wheel: WheelConfig,
}

impl TableConfig {
    /// A table for `capacity` sessions with the default wheel.
    pub fn with_capacity(capacity: u32) -> TableConfig {
        TableConfig {
            capacity,
            wheel: WheelConfig::default(),
        }
    }
}

/// A bad [`TableConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Capacity outside `1 ..= MAX_CAPACITY`.
    #[error("session table capacity {0} outside 1..={MAX_CAPACITY}")]
    Capacity(u32),
}

/// A generation-checked reference to a session of one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    slot: u32,
    generation: u32,
}

impl Handle {
    /// A handle that names no session of any table (placeholder).
    pub const fn dangling() -> Handle {
        Handle {
            slot: u32::MAX,
            generation: u32::MAX,
        }
    }

    /// A handle with explicit parts (tests of code that stores handles).
    #[doc(hidden)]
    pub const fn test_new(slot: u32, generation: u32) -> Handle {
        Handle { slot, generation }
    }

    /// Slot number (stable while the session lives; `show` may print it as the id).
    pub const fn slot(self) -> u32 {
        self.slot
    }

    /// Generation of the slot when the session was created.
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// A 32-bit id unique among live sessions of all workers when
    /// `worker < 2^(32 - bits(capacity))`; used for `Session %08X`.
    pub const fn session_id(self, worker: u32, capacity_bits: u32) -> u32 {
        (worker << capacity_bits) | self.slot
    }
}

/// A successful lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The session.
    pub handle: Handle,
    /// Which key matched.
    pub side: Side,
    /// Whether the packet goes initiator → responder (`Forward`) or back.
    pub direction: Direction,
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// Every slot is in use (`session_table_full`).
    #[error("session table full")]
    TableFull,
    /// One of the keys already belongs to a live session.
    #[error("flow key already belongs to a session")]
    KeyInUse(Handle),
}

/// A refused insert: the error and the caller's data, handed back.
#[derive(Debug)]
pub struct Rejected<T> {
    /// Why.
    pub error: InsertError,
    /// The value that was not stored.
    pub value: T,
}

/// A session deleted by its timer.
#[derive(Debug)]
pub struct Expired<T> {
    /// The (now stale) handle of the deleted session.
    pub handle: Handle,
    /// Which timer fired.
    pub kind: TimeoutKind,
    /// Both tuples (for the audit trail and for an RST toward the responder).
    pub keys: SessionKeys,
    /// Creation time.
    pub created: Nanos,
    /// The caller's data.
    pub value: T,
}

/// The hot part of a session: everything a lookup, `touch`, `arm` and `remove`
/// read, in one 64-byte cache line (aligned, so a lookup that reaches the entry
/// costs exactly one line). The caller's data lives in a parallel array
/// (`values`) so that it neither pushes the keys across a line boundary nor
/// costs space in this line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Entry {
    /// Both tuples, as inserted.
    keys: SessionKeys,
    /// Duration of the running timer (re-armed by `touch`).
    timeout: Nanos,
    /// Creation time.
    created: Nanos,
    /// Bumped on every release: a stale [`Handle`] no longer matches.
    generation: u32,
    /// Index bucket of each key (`NO_BUCKET`: unknown, probe for it), so that
    /// removal unindexes without hashing and probing. While the slot is free,
    /// `buckets[0]` is the next free slot (`NIL` ends the list).
    buckets: [u32; 2],
    /// Kind of the running timer.
    kind: TimeoutKind,
    /// Both keys are the same flow: indexed once.
    single: bool,
    /// A session lives in this slot.
    live: bool,
}

const _: () = assert!(core::mem::size_of::<Entry>() == 64);

/// One worker's session table (see the module docs).
#[derive(Debug)]
pub struct FlowTable<T> {
    pub(crate) inner: Sessions<T>,
    wheel: TimerWheel,
}

/// Everything but the wheel, so that expiry can free sessions while the wheel is
/// borrowed.
#[derive(Debug)]
pub(crate) struct Sessions<T> {
    pub(crate) hasher: FlowHasher,
    pub(crate) index: HashTable<u32>,
    entries: Vec<Entry>,
    values: Vec<Option<T>>,
    free_head: u32,
    len: u32,
    capacity: u32,
    stats: Arc<TableStats>,
}

impl<T> FlowTable<T> {
    /// A table sized once for `config.capacity` sessions; the wheel starts at `now`.
    pub fn new(config: TableConfig, hasher: FlowHasher, now: Nanos) -> Result<Self, ConfigError> {
        let capacity = config.capacity;
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(ConfigError::Capacity(capacity));
        }
        Ok(FlowTable {
            inner: Sessions {
                hasher,
                index: HashTable::with_capacity(capacity as usize * 4),
                entries: Vec::with_capacity(capacity as usize),
                values: Vec::with_capacity(capacity as usize),
                free_head: NIL,
                len: 0,
                capacity,
                stats: Arc::new(TableStats::default()),
            },
            wheel: TimerWheel::new(capacity, config.wheel, now),
        })
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.inner.len as usize
    }

    /// Whether no session lives.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Maximum number of sessions.
    pub fn capacity(&self) -> usize {
        self.inner.capacity as usize
    }

    /// The hasher the table uses for keys the caller did not hash.
    pub fn hasher(&self) -> FlowHasher {
        self.inner.hasher
    }

    /// This table's counters (share the `Arc` with the control thread).
    pub fn stats(&self) -> &Arc<TableStats> {
        &self.inner.stats
    }

    /// Heap bytes reserved by the table itself, excluding `T`'s own heap data:
    /// index (buckets + control bytes), entries, the `Option<T>` value slots,
    /// wheel.
    pub fn reserved_bytes(&self) -> usize {
        let index = self.inner.index.allocation_size();
        let entries = self.inner.entries.capacity() * core::mem::size_of::<Entry>();
        let values = self.inner.values.capacity() * core::mem::size_of::<Option<T>>();
        index + entries + values + self.wheel.reserved_bytes()
    }

    /// [`reserved_bytes`](Self::reserved_bytes) less `capacity × size_of::<T>()`:
    /// what the table costs on top of the caller's data (index, entry, wheel
    /// node, and the `Option` tag when `T` has no niche to hide it in).
    pub fn overhead_bytes(&self) -> usize {
        self.reserved_bytes()
            .saturating_sub(self.inner.values.capacity() * core::mem::size_of::<T>())
    }

    /// Size of one slot: the 64-byte hot entry plus the `Option<T>` value slot.
    pub const fn slot_size() -> usize {
        core::mem::size_of::<Entry>() + core::mem::size_of::<Option<T>>()
    }

    /// Finds the session a packet belongs to. `hash` must be `hasher.hash(key)`
    /// (the packet's one flow hash). For many packets at once prefer
    /// [`lookup_burst`](Self::lookup_burst), which overlaps their cache misses.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: FlowHash) -> Option<Lookup> {
        let entries = &self.inner.entries;
        let mut direction = Direction::Forward;
        let tag = *self.inner.index.find(hash.0, |&e| {
            let k = entries[(e >> 1) as usize].keys.side(side_of(e));
            if *k == *key {
                true
            } else if k.reversed() == *key {
                direction = Direction::Reverse;
                true
            } else {
                false
            }
        })?;
        Some(Lookup {
            handle: Handle {
                slot: tag >> 1,
                generation: entries[(tag >> 1) as usize].generation,
            },
            side: side_of(tag),
            direction,
        })
    }

    /// [`lookup`](Self::lookup) hashing the key itself.
    pub fn lookup_key(&self, key: &FlowKey) -> Option<Lookup> {
        self.lookup(key, self.inner.hasher.hash(key))
    }

    /// Creates a session (no timer yet: call [`arm`](Self::arm)). `hashes` must be
    /// this table's hasher's hashes of `keys.initiator` and `keys.responder` (one of
    /// them is the packet's own flow hash). Refused, and counted, when the table is
    /// full or a key already belongs to a live session; the value is handed back.
    pub fn insert_hashed(
        &mut self,
        keys: SessionKeys,
        hashes: [FlowHash; 2],
        value: T,
        now: Nanos,
    ) -> Result<Handle, Rejected<T>> {
        // A hash from another hasher would leave index entries behind on removal.
        debug_assert_eq!(hashes[0], self.inner.hasher.hash(&keys.initiator));
        debug_assert_eq!(hashes[1], self.inner.hasher.hash(&keys.responder));
        let inner = &mut self.inner;
        let single = keys.is_single();
        let fresh = Entry {
            keys,
            timeout: Nanos::ZERO,
            created: now,
            generation: 0,
            buckets: [NO_BUCKET; 2],
            kind: TimeoutKind::Custom,
            single,
            live: true,
        };
        // The slot the session will take; written before indexing so that a
        // rehash during the insert can hash the new keys.
        let (slot, undo) = if inner.free_head != NIL {
            let s = inner.free_head;
            let entry = &mut inner.entries[s as usize];
            let undo = *entry;
            *entry = Entry {
                generation: entry.generation,
                ..fresh
            };
            (s, Some(undo))
        } else if inner.entries.len() < inner.capacity as usize {
            inner.entries.push(fresh);
            (inner.entries.len() as u32 - 1, None)
        } else {
            // Full: a key in use is still reported as such.
            for (key, hash) in [(&keys.initiator, hashes[0]), (&keys.responder, hashes[1])] {
                if let Some(hit) = self.lookup(key, hash) {
                    self.inner.stats.key_in_use.bump();
                    return Err(Rejected {
                        error: InsertError::KeyInUse(hit.handle),
                        value,
                    });
                }
            }
            self.inner.stats.table_full.bump();
            return Err(Rejected {
                error: InsertError::TableFull,
                value,
            });
        };
        // One probe per key: finds a session holding it, or indexes it.
        let mut moved = false;
        let mut in_use = None;
        for side in if single { 0..1 } else { 0..2 } {
            match inner.claim_key(hashes[side as usize], (slot << 1) | side) {
                Ok(m) => moved |= m,
                Err(holder) => {
                    in_use = Some(holder);
                    if side == 1 {
                        inner.unindex_probing(slot << 1, hashes[0]);
                    }
                    break;
                }
            }
        }
        if let Some(holder) = in_use {
            match undo {
                Some(old) => inner.entries[slot as usize] = old,
                None => {
                    inner.entries.pop();
                }
            }
            if moved {
                inner.record_buckets();
            }
            inner.stats.key_in_use.bump();
            return Err(Rejected {
                error: InsertError::KeyInUse(holder),
                value,
            });
        }
        if let Some(old) = undo {
            inner.free_head = old.buckets[0];
            inner.values[slot as usize] = Some(value);
        } else {
            inner.values.push(Some(value));
        }
        if moved {
            inner.record_buckets();
        }
        inner.len += 1;
        inner.stats.creations.bump();
        inner.stats.last_created.set(now.0.saturating_add(1));
        inner.stats.sessions.set(inner.len as u64);
        Ok(Handle {
            slot,
            generation: inner.entries[slot as usize].generation,
        })
    }

    /// [`insert_hashed`](Self::insert_hashed) hashing both keys itself.
    pub fn insert(
        &mut self,
        keys: SessionKeys,
        value: T,
        now: Nanos,
    ) -> Result<Handle, Rejected<T>> {
        let hashes = [
            self.inner.hasher.hash(&keys.initiator),
            self.inner.hasher.hash(&keys.responder),
        ];
        self.insert_hashed(keys, hashes, value, now)
    }

    /// Whether `h` names a live session.
    #[inline]
    pub fn contains(&self, h: Handle) -> bool {
        self.live(h).is_some()
    }

    /// The entry of a live session (reads the entry's line only, not `T`).
    #[inline]
    fn live(&self, h: Handle) -> Option<&Entry> {
        let e = self.inner.entries.get(h.slot as usize)?;
        (e.generation == h.generation && e.live).then_some(e)
    }

    /// The caller's data of a live session.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        self.live(h)?;
        self.inner.values.get(h.slot as usize)?.as_ref()
    }

    /// The caller's data of a live session, mutably.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        self.live(h)?;
        self.inner.values.get_mut(h.slot as usize)?.as_mut()
    }

    /// Both tuples of a live session.
    pub fn keys(&self, h: Handle) -> Option<&SessionKeys> {
        Some(&self.live(h)?.keys)
    }

    /// Creation time of a live session.
    pub fn created(&self, h: Handle) -> Option<Nanos> {
        Some(self.live(h)?.created)
    }

    /// The running timer of a live session: kind and deadline.
    pub fn timer(&self, h: Handle) -> Option<(TimeoutKind, Nanos)> {
        let e = self.live(h)?;
        Some((e.kind, self.wheel.deadline(h.slot)?))
    }

    /// Deletes a session, returning its data. Stale handles return `None`.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        self.live(h)?;
        self.wheel.disarm(h.slot);
        Some(self.inner.release(h.slot))
    }

    /// Starts (or restarts) a session's timer: `kind`, firing `timeout` after `now`.
    /// The duration is remembered for [`touch`](Self::touch). Returns `false` for a
    /// stale handle.
    #[inline]
    pub fn arm(&mut self, h: Handle, kind: TimeoutKind, timeout: Nanos, now: Nanos) -> bool {
        let Some(e) = self.inner.entries.get_mut(h.slot as usize) else {
            return false;
        };
        if e.generation != h.generation || !e.live {
            return false;
        }
        e.kind = kind;
        e.timeout = timeout;
        self.wheel.arm(h.slot, now + timeout);
        true
    }

    /// Activity on a session: restarts its running timer with the remembered kind
    /// and duration (O(1); usually one store). Returns `false` for a stale handle
    /// or a session without a timer.
    #[inline]
    pub fn touch(&mut self, h: Handle, now: Nanos) -> bool {
        let Some(e) = self.live(h) else {
            return false;
        };
        if !self.wheel.is_armed(h.slot) {
            return false;
        }
        let deadline = now + e.timeout;
        self.wheel.arm(h.slot, deadline);
        true
    }

    /// Stops a session's timer (the session stays).
    pub fn disarm(&mut self, h: Handle) -> bool {
        if self.live(h).is_none() {
            return false;
        }
        self.wheel.disarm(h.slot);
        true
    }

    /// Deletes up to `budget` sessions whose timer is due at `now` (never early, at
    /// most one wheel tick late), handing each to `on_expiry`.
    pub fn advance(
        &mut self,
        now: Nanos,
        budget: usize,
        mut on_expiry: impl FnMut(Expired<T>),
    ) -> Advance {
        let inner = &mut self.inner;
        self.wheel.advance(now, budget, |s| {
            let entry = &inner.entries[s as usize];
            let handle = Handle {
                slot: s,
                generation: entry.generation,
            };
            let kind = entry.kind;
            let keys = entry.keys;
            let created = entry.created;
            inner.stats.expired[kind.index()].bump();
            let value = inner.release(s);
            on_expiry(Expired {
                handle,
                kind,
                keys,
                created,
                value,
            });
        })
    }

    /// Live sessions in slot order (for `show ip inspect session`; off the fast path).
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &SessionKeys, &T)> + '_ {
        self.inner
            .entries
            .iter()
            .zip(self.inner.values.iter())
            .enumerate()
            .filter_map(|(i, (e, v))| {
                let v = v.as_ref()?;
                Some((
                    Handle {
                        slot: i as u32,
                        generation: e.generation,
                    },
                    &e.keys,
                    v,
                ))
            })
    }
}

impl<T> Sessions<T> {
    /// The lookup result for index entry `tag` if its key matches `key` in
    /// either direction.
    #[inline]
    pub(crate) fn resolve(&self, tag: u32, key: &FlowKey) -> Option<Lookup> {
        let entry = self.entries.get((tag >> 1) as usize)?;
        let side = side_of(tag);
        let k = entry.keys.side(side);
        let direction = if *k == *key {
            Direction::Forward
        } else if k.reversed() == *key {
            Direction::Reverse
        } else {
            return None;
        };
        Some(Lookup {
            handle: Handle {
                slot: tag >> 1,
                generation: entry.generation,
            },
            side,
            direction,
        })
    }

    /// A read of the entry index entry `tag` points to, for the burst's touch
    /// phase: the slot number is clamped instead of checked, so no branch
    /// depends on the loaded bucket, and the result only feeds `black_box`.
    #[inline]
    pub(crate) fn touch_entry(&self, tag: u32) -> u32 {
        let last = self.entries.len().saturating_sub(1);
        let s = ((tag >> 1) as usize).min(last);
        self.entries.get(s).map_or(0, |e| e.keys.initiator.src)
    }

    /// Whether slot `s` holds a value (reads the value's first line).
    #[inline]
    pub(crate) fn value_present(&self, s: u32) -> bool {
        self.values.get(s as usize).is_some_and(Option::is_some)
    }

    /// Indexes key `tag` (its entry already written) under `hash` unless a live
    /// session holds that flow already (either direction), in one probe; records
    /// the bucket in the entry. `Ok(moved)`: whether hashbrown moved buckets to
    /// make room (a rehash in place after tombstones piled up; `capacity()`,
    /// items + growth left, then jumps to the full capacity), in which case every
    /// recorded bucket is stale and the caller must call
    /// [`record_buckets`](Self::record_buckets). `Err(holder)`: the key is in use.
    fn claim_key(&mut self, hash: FlowHash, tag: u32) -> Result<bool, Handle> {
        let before = self.index.capacity();
        let entries = &self.entries;
        let hasher = self.hasher;
        let key = entries[(tag >> 1) as usize].keys.side(side_of(tag));
        let found = self.index.entry(
            hash.0,
            |&e| {
                let k = entries[(e >> 1) as usize].keys.side(side_of(e));
                *k == *key || k.reversed() == *key
            },
            |e: &u32| {
                hasher
                    .hash(entries[(*e >> 1) as usize].keys.side(side_of(*e)))
                    .0
            },
        );
        let bucket = match found {
            IndexEntry::Occupied(holder) => {
                let s = *holder.get() >> 1;
                return Err(Handle {
                    slot: s,
                    generation: entries[s as usize].generation,
                });
            }
            IndexEntry::Vacant(vacant) => vacant.insert(tag).bucket_index(),
        };
        self.entries[(tag >> 1) as usize].buckets[(tag & 1) as usize] =
            u32::try_from(bucket).unwrap_or(NO_BUCKET);
        // Without a rehash an insert adds 0 (into an empty bucket) or 1 (into a
        // tombstone) to items + growth_left.
        Ok(self.index.capacity() > before + 1)
    }

    /// Removes index entry `tag` found by probing `hash` (undo of a claim).
    fn unindex_probing(&mut self, tag: u32, hash: FlowHash) {
        if let Ok(found) = self.index.find_entry(hash.0, |&e| e == tag) {
            found.remove();
        }
    }

    /// Re-records every key's bucket after hashbrown moved them (rare: only a
    /// rehash in place; O(buckets)).
    fn record_buckets(&mut self) {
        for bucket in self.index.iter_buckets() {
            if let Some(&tag) = self.index.get_bucket(bucket) {
                self.entries[(tag >> 1) as usize].buckets[(tag & 1) as usize] =
                    u32::try_from(bucket).unwrap_or(NO_BUCKET);
            }
        }
    }

    /// Removes index entry `tag` (key `key`): at its recorded bucket when
    /// there is one (no hashing, no probing), else by a probe.
    fn unindex_key(&mut self, tag: u32, key: &FlowKey) {
        let bucket = self.entries[(tag >> 1) as usize].buckets[(tag & 1) as usize];
        if bucket != NO_BUCKET {
            if let Ok(found) = self.index.get_bucket_entry(bucket as usize) {
                debug_assert_eq!(*found.get(), tag, "stale recorded bucket");
                found.remove();
                return;
            }
        }
        if let Ok(found) = self
            .index
            .find_entry(self.hasher.hash(key).0, |&e| e == tag)
        {
            found.remove();
        }
    }

    /// Unindexes and frees slot `s` (live, timer already stopped).
    fn release(&mut self, s: u32) -> T {
        let entry = &self.entries[s as usize];
        let keys = entry.keys;
        let sides: &[Side] = if entry.single {
            &[Side::Initiator]
        } else {
            &[Side::Initiator, Side::Responder]
        };
        for &side in sides {
            self.unindex_key((s << 1) | side as u32, keys.side(side));
        }
        let entry = &mut self.entries[s as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.live = false;
        entry.buckets = [self.free_head, NO_BUCKET];
        self.free_head = s;
        self.len -= 1;
        self.stats.removals.bump();
        self.stats.sessions.set(self.len as u64);
        match self.values[s as usize].take() {
            Some(v) => v,
            None => unreachable!("release of a free slot"),
        }
    }
}

#[inline]
fn side_of(entry: u32) -> Side {
    if entry & 1 == 0 {
        Side::Initiator
    } else {
        Side::Responder
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;
    use crate::key::{IPPROTO_TCP, IPPROTO_UDP};

    const OUTSIDE: u8 = 0;
    const INSIDE: u8 = 1;

    fn table(cap: u32) -> FlowTable<u32> {
        FlowTable::new(
            TableConfig::with_capacity(cap),
            FlowHasher::default(),
            Nanos::ZERO,
        )
        .unwrap()
    }

    /// The seed's inbound SMTP session: 198.51.100.7:port → 172.22.1.110:25
    /// outside, → 10.10.10.2:25 inside.
    fn smtp(port: u16) -> SessionKeys {
        let c = Ipv4Addr::new(198, 51, 100, 7);
        SessionKeys {
            initiator: FlowKey::new(
                IPPROTO_TCP,
                c,
                port,
                Ipv4Addr::new(172, 22, 1, 110),
                25,
                OUTSIDE,
            ),
            responder: FlowKey::new(
                IPPROTO_TCP,
                c,
                port,
                Ipv4Addr::new(10, 10, 10, 2),
                25,
                INSIDE,
            ),
        }
    }

    #[test]
    fn both_keys_both_directions() {
        let mut t = table(8);
        let keys = smtp(40001);
        let h = t.insert(keys, 7, Nanos::ZERO).unwrap();
        let cases = [
            (keys.initiator, Side::Initiator, Direction::Forward),
            (
                keys.initiator.reversed(),
                Side::Initiator,
                Direction::Reverse,
            ),
            (keys.responder, Side::Responder, Direction::Forward),
            (
                keys.responder.reversed(),
                Side::Responder,
                Direction::Reverse,
            ),
        ];
        for (k, side, direction) in cases {
            let hit = t.lookup_key(&k).unwrap();
            assert_eq!(
                hit,
                Lookup {
                    handle: h,
                    side,
                    direction
                }
            );
        }
        assert_eq!(t.get(h), Some(&7));
        assert!(t.lookup_key(&smtp(40002).initiator).is_none());
        let mut other_zone = keys.initiator;
        other_zone.zone = 9;
        assert!(t.lookup_key(&other_zone).is_none());
    }

    #[test]
    fn untranslated_session_indexed_once() {
        let mut t = table(4);
        let k = FlowKey::new(
            IPPROTO_UDP,
            Ipv4Addr::new(10, 10, 10, 5),
            53000,
            Ipv4Addr::new(192, 0, 2, 53),
            53,
            INSIDE,
        );
        let h = t
            .insert(
                SessionKeys {
                    initiator: k,
                    responder: k,
                },
                1,
                Nanos::ZERO,
            )
            .unwrap();
        assert_eq!(t.inner.index.len(), 1);
        assert_eq!(
            t.lookup_key(&k.reversed()).unwrap().direction,
            Direction::Reverse
        );
        assert_eq!(t.remove(h), Some(1));
        assert_eq!(t.inner.index.len(), 0);
        assert!(t.lookup_key(&k).is_none());
    }

    #[test]
    fn stale_handles_are_refused() {
        let mut t = table(2);
        let h = t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
        assert_eq!(t.remove(h), Some(1));
        assert_eq!(t.remove(h), None);
        let h2 = t.insert(smtp(2), 2, Nanos::ZERO).unwrap();
        assert_eq!(h2.slot(), h.slot());
        assert_ne!(h2, h);
        assert_eq!(t.get(h), None);
        assert!(!t.arm(h, TimeoutKind::TcpIdle, Nanos::from_secs(1), Nanos::ZERO));
        assert!(!t.touch(h, Nanos::ZERO));
        assert_eq!(t.get_mut(h), None);
        assert_eq!(t.get(h2), Some(&2));
    }

    #[test]
    fn full_table_and_duplicate_keys_are_counted() {
        let mut t = table(2);
        let a = t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
        let dup = t.insert(smtp(1), 9, Nanos::ZERO).unwrap_err();
        assert_eq!(dup.error, InsertError::KeyInUse(a));
        assert_eq!(dup.value, 9);
        // The responder key alone colliding is refused too.
        let mut half = smtp(5);
        half.responder = smtp(1).responder.reversed();
        assert_eq!(
            t.insert(half, 9, Nanos::ZERO).unwrap_err().error,
            InsertError::KeyInUse(a)
        );
        t.insert(smtp(2), 2, Nanos::ZERO).unwrap();
        let full = t.insert(smtp(3), 3, Nanos::ZERO).unwrap_err();
        assert_eq!(full.error, InsertError::TableFull);
        assert_eq!(full.value, 3);
        assert_eq!(t.stats().table_full.get(), 1);
        assert_eq!(t.stats().key_in_use.get(), 2);
        assert_eq!(t.stats().creations.get(), 2);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn churn_never_reallocates() {
        let cap = 1000u32;
        let mut t = table(cap);
        let index_bytes = t.inner.index.allocation_size();
        let slab_cap = t.inner.entries.capacity();
        let mut live: Vec<Handle> = (0..cap as u16)
            .map(|p| t.insert(smtp(p), 0, Nanos::ZERO).unwrap())
            .collect();
        let mut next = cap as u16;
        for round in 0..50_000u32 {
            let i = (round.wrapping_mul(2_654_435_761) % cap) as usize;
            assert!(t.remove(live[i]).is_some());
            live[i] = t.insert(smtp(next), 0, Nanos::ZERO).unwrap();
            next = next.wrapping_add(1).max(cap as u16);
        }
        assert_eq!(t.inner.index.allocation_size(), index_bytes);
        assert_eq!(t.inner.entries.capacity(), slab_cap);
        assert_eq!(t.len(), cap as usize);
    }

    /// Every live key's recorded bucket holds its index entry.
    fn assert_buckets_recorded(t: &FlowTable<u32>) {
        for (h, _, _) in t.iter() {
            let e = &t.inner.entries[h.slot() as usize];
            let sides = if e.single { 1 } else { 2 };
            for side in 0..sides {
                let tag = (h.slot() << 1) | side;
                let b = e.buckets[side as usize];
                assert_eq!(t.inner.index.get_bucket(b as usize), Some(&tag));
            }
        }
    }

    #[test]
    fn buckets_moved_by_hashbrown_are_recorded_again() {
        let mut t = table(300);
        let mut live: Vec<Handle> = (0..100u16)
            .map(|p| t.insert(smtp(p), u32::from(p), Nanos::ZERO).unwrap())
            .collect();
        assert_buckets_recorded(&t);
        // Squeeze the index to its minimum so that the next inserts must move
        // every bucket (the same signal as a rehash in place: capacity jumps).
        let entries = &t.inner.entries;
        let hasher = t.inner.hasher;
        t.inner.index.shrink_to(0, |e: &u32| {
            hasher
                .hash(entries[(*e >> 1) as usize].keys.side(side_of(*e)))
                .0
        });
        let squeezed = t.inner.index.num_buckets();
        for p in 100..300u16 {
            live.push(t.insert(smtp(p), u32::from(p), Nanos::ZERO).unwrap());
        }
        assert!(t.inner.index.num_buckets() > squeezed, "buckets moved");
        assert_buckets_recorded(&t);
        for (i, h) in live.into_iter().enumerate() {
            assert_eq!(t.remove(h), Some(i as u32));
            assert!(t.lookup_key(&smtp(i as u16).responder).is_none());
        }
        assert_eq!(t.inner.index.len(), 0);
    }

    #[test]
    fn timers_expire_sessions_and_touch_extends() {
        let mut t = table(4);
        let a = t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
        let b = t.insert(smtp(2), 2, Nanos::ZERO).unwrap();
        assert!(t.arm(a, TimeoutKind::SynWait, Nanos::from_secs(30), Nanos::ZERO));
        assert!(t.arm(b, TimeoutKind::TcpIdle, Nanos::from_secs(20), Nanos::ZERO));
        assert!(t.touch(b, Nanos::from_secs(15)));
        assert_eq!(
            t.timer(b),
            Some((TimeoutKind::TcpIdle, Nanos::from_secs(35)))
        );
        let mut got = Vec::new();
        t.advance(Nanos::from_secs(30), usize::MAX, |e| {
            got.push((e.kind, e.value, e.keys))
        });
        assert_eq!(got, vec![(TimeoutKind::SynWait, 1, smtp(1))]);
        assert!(!t.contains(a));
        assert!(t.lookup_key(&smtp(1).responder).is_none());
        got.clear();
        t.advance(Nanos::from_secs(35), usize::MAX, |e| {
            got.push((e.kind, e.value, e.keys))
        });
        assert_eq!(got, vec![(TimeoutKind::TcpIdle, 2, smtp(2))]);
        assert!(t.is_empty());
        assert_eq!(t.stats().expired(TimeoutKind::SynWait), 1);
        assert_eq!(t.stats().expired(TimeoutKind::TcpIdle), 1);
    }

    #[test]
    fn disarmed_session_does_not_expire_and_touch_needs_a_timer() {
        let mut t = table(2);
        let a = t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
        assert!(!t.touch(a, Nanos::ZERO));
        t.arm(a, TimeoutKind::Custom, Nanos::from_secs(1), Nanos::ZERO);
        assert!(t.disarm(a));
        let r = t.advance(Nanos::from_secs(10), usize::MAX, |_| panic!("disarmed"));
        assert_eq!(r.expired, 0);
        assert!(t.contains(a));
        assert_eq!(t.iter().count(), 1);
    }

    #[test]
    fn bytes_per_session_within_budget() {
        // Table overhead + entry, excluding the caller's data.
        for cap in [10_000u32, 1 << 20, 1_000_000] {
            let t: FlowTable<()> = FlowTable::new(
                TableConfig::with_capacity(cap),
                FlowHasher::default(),
                Nanos::ZERO,
            )
            .unwrap();
            let per = t.overhead_bytes() as f64 / cap as f64;
            eprintln!("capacity {cap}: {per:.1} bytes/session");
            assert!(per <= 128.0, "{per} bytes per session");
        }
        assert_eq!(core::mem::size_of::<Entry>(), 64);
        assert_eq!(core::mem::align_of::<Entry>(), 64);
        // A niche-less T pays its own Option tag, nothing else.
        let t: FlowTable<u64> = FlowTable::new(
            TableConfig::with_capacity(1000),
            FlowHasher::default(),
            Nanos::ZERO,
        )
        .unwrap();
        assert_eq!(
            t.reserved_bytes() - t.overhead_bytes(),
            1000 * core::mem::size_of::<u64>()
        );
    }

    #[test]
    fn bad_capacity() {
        assert_eq!(
            FlowTable::<u8>::new(
                TableConfig::with_capacity(0),
                FlowHasher::default(),
                Nanos::ZERO
            )
            .unwrap_err(),
            ConfigError::Capacity(0)
        );
    }
}
