//! `FlowTable<T>`: one worker's session table.
//!
//! * **Storage**: `capacity` session slots, mapped at start-up (huge pages when
//!   the kernel gives them, [`crate::memory`]) and filled lazily; freed slots
//!   go on a free list. A [`Handle`] is `(slot, generation)`: a stale handle
//!   (session deleted, slot reused) is refused. A slot is split in two parallel
//!   arrays: a 64-byte, cache-line-aligned **entry** with everything lookup,
//!   `touch`, `arm` and `remove` read (both keys, generation, liveness, timer
//!   kind and duration, creation time, the index positions of the keys), and
//!   the caller's `Option<T>` (a `Vec` reserved once: `T` is the caller's type,
//!   not plain data). A lookup that reaches a session therefore reads exactly
//!   one line of the slab, and the caller's data does not push the keys across
//!   a line boundary.
//! * **Index**: a `hashbrown::HashTable<u32>` holding `slot << 1 | side` for
//!   each of the session's two keys ([`SessionKeys`]) under the caller's
//!   precomputed [`FlowHash`] of the key's canonical form (issue #3). Two
//!   records per session serve four packet tuples (each key in both
//!   directions), and a hit reports the [`Side`] and [`Direction`] that
//!   matched. A session whose keys are the same flow (no NAT) is indexed once.
//!   The index is reserved for `4 × capacity` records: hashbrown rehashes in
//!   place (no allocation) only while its items are at most half its full
//!   capacity, and a full table holds `2 × capacity` records, so `4 ×` is the
//!   smallest reservation for which tombstones can never make it reallocate
//!   (`churn_never_reallocates`). It is allocated through `hugealloc`'s
//!   allocator (huge pages, no `unsafe` in this crate), and probes start on
//!   hashbrown group boundaries so that a probe's control bytes and its
//!   group's records are one line each ([`crate::index`]). A hit therefore
//!   reads three lines: control group, record, session entry.
//! * **Insert and remove** cost one index probe per key: insert claims each
//!   key with hashbrown's `entry` (finding a session that holds the flow and
//!   indexing the new one in the same probe) and records the bucket it landed
//!   in; remove erases at the recorded buckets without hashing or probing.
//!   hashbrown moves buckets only in a rehash, which only an insert can
//!   trigger; the insert detects it (`capacity()` jumps) and records every
//!   bucket again (O(buckets), rare).
//! * **Timers**: a [`TimerWheel`] with one node per slot; every session has at most
//!   one running timer ([`TimeoutKind`] + duration). [`FlowTable::touch`] re-arms
//!   it in O(1). Expiry deletes the session and hands its data to the caller.
//! * **Hot path**: `lookup`, `lookup_burst` (in [`crate::burst`]), `insert`,
//!   `remove`, `touch` take no lock and never allocate. A full table refuses the
//!   insert (counted), it never grows.
//! * **Memory** (excluding `T`): 64 B entry + 16 B wheel node + 23–46 B of
//!   index (u32 buckets + control bytes at 4.57–9.14 buckets per session:
//!   hashbrown rounds to a power of two; 40 B at 1 M sessions) = 103–126 B per
//!   session (plus the wheel's 4097 list heads: +6.5 B at 10 k sessions), plus
//!   `Option<T>`'s tag when `T` has no niche ([`FlowTable::overhead_bytes`]).
//!   Which arrays got huge pages (index, entries, wheel) is counted in
//!   [`TableStats::huge_page_bytes`] / [`TableStats::plain_page_bytes`].

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use crate::hash::{FlowHash, FlowHasher};
use crate::index::{Claim, Index};
use crate::key::{Direction, FlowKey, SessionKeys, Side};
use crate::memory::{Backing, PageArray, PagePolicy};
use crate::stats::TableStats;
use crate::time::Nanos;
use crate::timeout::TimeoutKind;
use crate::values::Values;
use crate::wheel::{Advance, TimerWheel, WheelConfig};

const NIL: u32 = u32::MAX;
/// "Bucket not recorded": removal probes for the key instead.
const NO_BUCKET: u32 = u32::MAX;
/// "No index record" (a burst candidate that does not exist).
pub(crate) const NO_TAG: u32 = u32::MAX;
/// Index records reserved per session (see the module docs: the least that
/// keeps hashbrown from ever reallocating).
const INDEX_RECORDS_PER_SESSION: usize = 4;
/// An index larger than this is assumed not to stay in the caches.
const INDEX_CACHE_BYTES: usize = 8 << 20;
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
    /// The table's arrays could not be mapped (out of memory or address space).
    #[error("session table memory: {0}")]
    Memory(std::io::ErrorKind),
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

/// A [`FlowKey`] as plain data: two words, so that entries can live in mapped
/// memory without `unsafe` and a key compares in two word compares per
/// direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct RawKey {
    /// `src | dst << 32`.
    addrs: u64,
    /// `src_port | dst_port << 16 | proto << 32 | zone << 40`.
    rest: u64,
}

impl RawKey {
    #[inline(always)]
    const fn new(k: &FlowKey) -> RawKey {
        RawKey {
            addrs: k.src as u64 | (k.dst as u64) << 32,
            rest: k.src_port as u64
                | (k.dst_port as u64) << 16
                | (k.proto as u64) << 32
                | (k.zone as u64) << 40,
        }
    }

    #[inline(always)]
    const fn get(&self) -> FlowKey {
        FlowKey {
            src: self.addrs as u32,
            dst: (self.addrs >> 32) as u32,
            src_port: self.rest as u16,
            dst_port: (self.rest >> 16) as u16,
            proto: (self.rest >> 32) as u8,
            zone: (self.rest >> 40) as u8,
        }
    }

    /// The same flow in the other direction (endpoints swapped, zone kept).
    #[inline(always)]
    const fn reversed(&self) -> RawKey {
        RawKey {
            addrs: self.addrs.rotate_left(32),
            rest: (self.rest & !0xffff_ffff)
                | (self.rest & 0xffff) << 16
                | (self.rest >> 16) & 0xffff,
        }
    }

    /// Whether both words equal (one branch, not one per word).
    #[inline(always)]
    const fn same(&self, other: &RawKey) -> bool {
        ((self.addrs ^ other.addrs) | (self.rest ^ other.rest)) == 0
    }

    /// Whether `key` (packed) is this flow, and in which direction.
    #[inline(always)]
    fn direction_of(&self, key: &RawKey) -> Option<Direction> {
        if self.same(key) {
            Some(Direction::Forward)
        } else if self.same(&key.reversed()) {
            Some(Direction::Reverse)
        } else {
            None
        }
    }
}

/// The hot part of a session: everything a lookup, `touch`, `arm` and `remove`
/// read, in one 64-byte cache line (aligned, so a lookup that reaches the entry
/// costs exactly one line). The caller's data lives in a parallel array
/// (`values`) so that it neither pushes the keys across a line boundary nor
/// costs space in this line. Plain data, so that the array can be mapped.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C, align(64))]
struct Entry {
    /// Both tuples, as inserted (initiator, responder).
    keys: [RawKey; 2],
    /// Duration of the running timer in ns (re-armed by `touch`).
    timeout: u64,
    /// Creation time in ns.
    created: u64,
    /// Bumped on every release: a stale [`Handle`] no longer matches.
    generation: u32,
    /// Index bucket of each key (`NO_BUCKET`: unknown, probe for it), so that
    /// removal unindexes without hashing and probing. While the slot is free,
    /// `buckets[0]` is the next free slot (`NIL` ends the list).
    buckets: [u32; 2],
    /// Kind of the running timer ([`TimeoutKind::index`]).
    kind: u8,
    /// 1: both keys are the same flow, indexed once.
    single: u8,
    /// 1: a session lives in this slot.
    live: u8,
    /// Padding (plain data has no implicit padding).
    _pad: u8,
}

const _: () = assert!(core::mem::size_of::<Entry>() == 64);

impl Entry {
    #[inline(always)]
    fn keys(&self) -> SessionKeys {
        SessionKeys {
            initiator: self.keys[0].get(),
            responder: self.keys[1].get(),
        }
    }

    #[inline(always)]
    fn kind(&self) -> TimeoutKind {
        TimeoutKind::ALL
            .get(self.kind as usize)
            .copied()
            .unwrap_or(TimeoutKind::Custom)
    }

    #[inline(always)]
    fn is_live(&self) -> bool {
        self.live != 0
    }
}

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
    pub(crate) index: Index,
    /// The index is larger than a last-level cache: insert then starts both
    /// keys' probes before claiming either (measured per create+delete:
    /// about −15 % at 1 M sessions; at 10 k, where the index is cached, it
    /// only cost +15 %, hence the condition).
    pub(crate) index_beyond_cache: bool,
    entries: PageArray<Entry>,
    /// Slots ever used (`entries[used..]` are untouched zero pages).
    used: u32,
    /// `values.len() == used`; reserved for `capacity` at start-up (on huge
    /// pages, `values.rs`).
    values: Values<T>,
    free_head: u32,
    len: u32,
    capacity: u32,
    stats: Arc<TableStats>,
}

impl<T> FlowTable<T> {
    /// A table sized once for `config.capacity` sessions; the wheel starts at
    /// `now`. Its big arrays ask for huge pages and keep ordinary pages when
    /// refused ([`PagePolicy::HugePages`], see [`crate::memory`]).
    pub fn new(config: TableConfig, hasher: FlowHasher, now: Nanos) -> Result<Self, ConfigError> {
        FlowTable::with_pages(config, hasher, now, PagePolicy::HugePages)
    }

    /// [`new`](Self::new) with an explicit page policy.
    pub fn with_pages(
        config: TableConfig,
        hasher: FlowHasher,
        now: Nanos,
        policy: PagePolicy,
    ) -> Result<Self, ConfigError> {
        let capacity = config.capacity;
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(ConfigError::Capacity(capacity));
        }
        let memory = |e: std::io::Error| ConfigError::Memory(e.kind());
        let index = Index::with_room(capacity as usize * INDEX_RECORDS_PER_SESSION, policy)
            .map_err(memory)?;
        let entries = PageArray::zeroed(capacity as usize, policy).map_err(memory)?;
        let wheel = TimerWheel::with_pages(capacity, config.wheel, now, policy).map_err(memory)?;
        let values = Values::with_room(capacity as usize, policy).map_err(memory)?;
        let stats = Arc::new(TableStats::default());
        for (backing, bytes) in [
            (index.backing(), index.allocation_size()),
            (entries.backing(), entries.bytes()),
            (wheel.backing(), wheel.reserved_bytes()),
            (values.backing(), values.bytes()),
        ] {
            match backing {
                Backing::HugePages => stats.huge_page_bytes.add(bytes as u64),
                Backing::Plain => stats.plain_page_bytes.add(bytes as u64),
            }
        }
        Ok(FlowTable {
            inner: Sessions {
                hasher,
                index_beyond_cache: index.allocation_size() > INDEX_CACHE_BYTES,
                index,
                entries,
                used: 0,
                values,
                free_head: NIL,
                len: 0,
                capacity,
                stats,
            },
            wheel,
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

    /// Whether the table's index, entries and wheel all got huge-page
    /// backing ([`Backing::Plain`] if any did not). (The caller's value slots
    /// are counted in the stats but not here: with a small `T` they may
    /// stay under one huge page.)
    pub fn backing(&self) -> Backing {
        let all = [
            self.inner.index.backing(),
            self.inner.entries.backing(),
            self.wheel.backing(),
        ];
        if all.iter().all(|&b| b == Backing::HugePages) {
            Backing::HugePages
        } else {
            Backing::Plain
        }
    }

    /// Bytes reserved by the table itself, excluding `T`'s own heap data:
    /// index lines, entries, the `Option<T>` value slots, wheel.
    pub fn reserved_bytes(&self) -> usize {
        let index = self.inner.index.allocation_size();
        let entries = self.inner.entries.bytes();
        let values = self.inner.values.bytes();
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
    /// Always inlined: the call itself (saved registers, a returned struct in
    /// memory) cost a fifth of a lookup's instructions.
    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey, hash: FlowHash) -> Option<Lookup> {
        let entries = self.inner.entries.as_slice();
        let packed = RawKey::new(key);
        let mut direction = Direction::Forward;
        let mut generation = 0;
        let tag = self.inner.index.find(hash, |&tag| {
            let Some(e) = entries.get((tag >> 1) as usize) else {
                return false;
            };
            match e.keys[(tag & 1) as usize].direction_of(&packed) {
                Some(d) => {
                    direction = d;
                    generation = e.generation;
                    true
                }
                None => false,
            }
        })?;
        Some(Lookup {
            handle: Handle {
                slot: tag >> 1,
                generation,
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
        // A hash from another hasher would leave the key unfindable.
        debug_assert_eq!(hashes[0], self.inner.hasher.hash(&keys.initiator));
        debug_assert_eq!(hashes[1], self.inner.hasher.hash(&keys.responder));
        let inner = &mut self.inner;
        if inner.index_beyond_cache {
            // Both keys' control groups are probed below, one claim after the
            // other: start both reads now so that their misses overlap (a
            // probe that matches nothing reads the groups and no session).
            core::hint::black_box(
                inner.index.find(hashes[0], |_| false).is_some()
                    | inner.index.find(hashes[1], |_| false).is_some(),
            );
        }
        let slot = if inner.free_head != NIL {
            inner.free_head
        } else if inner.used < inner.capacity {
            inner.used
        } else {
            return Err(self.refuse_full(&keys, hashes, value));
        };
        let raw = [RawKey::new(&keys.initiator), RawKey::new(&keys.responder)];
        match inner.create(slot, raw, hashes, now) {
            Ok(generation) => {
                if slot == inner.used {
                    inner.used += 1;
                    inner.values.push(Some(value));
                } else if let Some(v) = inner.values.get_mut(slot as usize) {
                    *v = Some(value);
                }
                inner.len += 1;
                inner.stats.creations.bump();
                inner.stats.last_created.set(now.0.saturating_add(1));
                inner.stats.sessions.set(inner.len as u64);
                Ok(Handle { slot, generation })
            }
            Err(holder) => {
                inner.stats.key_in_use.bump();
                Err(Rejected {
                    error: InsertError::KeyInUse(holder),
                    value,
                })
            }
        }
    }

    /// The refusal of an insert into a full table: a key in use is still
    /// reported as such.
    #[cold]
    fn refuse_full(&self, keys: &SessionKeys, hashes: [FlowHash; 2], value: T) -> Rejected<T> {
        for (key, hash) in [(&keys.initiator, hashes[0]), (&keys.responder, hashes[1])] {
            if let Some(hit) = self.lookup(key, hash) {
                self.inner.stats.key_in_use.bump();
                return Rejected {
                    error: InsertError::KeyInUse(hit.handle),
                    value,
                };
            }
        }
        self.inner.stats.table_full.bump();
        Rejected {
            error: InsertError::TableFull,
            value,
        }
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
        let e = self.inner.entries.as_slice().get(h.slot as usize)?;
        (e.generation == h.generation && e.is_live()).then_some(e)
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
    pub fn keys(&self, h: Handle) -> Option<SessionKeys> {
        Some(self.live(h)?.keys())
    }

    /// Creation time of a live session.
    pub fn created(&self, h: Handle) -> Option<Nanos> {
        Some(Nanos(self.live(h)?.created))
    }

    /// The running timer of a live session: kind and deadline.
    pub fn timer(&self, h: Handle) -> Option<(TimeoutKind, Nanos)> {
        let e = self.live(h)?;
        Some((e.kind(), self.wheel.deadline(h.slot)?))
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
        let Some(e) = self.inner.entries.as_mut_slice().get_mut(h.slot as usize) else {
            return false;
        };
        if e.generation != h.generation || !e.is_live() {
            return false;
        }
        e.kind = kind as u8;
        e.timeout = timeout.0;
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
        let deadline = now + Nanos(e.timeout);
        self.wheel.extend(h.slot, deadline)
    }

    /// [`get_mut`](Self::get_mut) and [`touch`](Self::touch) in one: the
    /// caller's data of a live session, mutably, after restarting its running
    /// timer (if it has one) at `now` with the remembered duration. One
    /// generation and liveness check, one read of the entry and of the timer
    /// node, and usually one store (the later deadline). `None` (and no
    /// change) for a stale handle; a session without a running timer is
    /// returned untouched.
    #[inline]
    pub fn get_mut_touch(&mut self, h: Handle, now: Nanos) -> Option<&mut T> {
        let e = self.live(h)?;
        let deadline = now + Nanos(e.timeout);
        self.wheel.extend(h.slot, deadline);
        self.inner.values.get_mut(h.slot as usize)?.as_mut()
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
        self.wheel
            .advance(now, budget, |s| inner.expire(s, &mut on_expiry))
    }

    /// Live sessions in slot order (for `show ip inspect session`; off the fast path).
    pub fn iter(&self) -> impl Iterator<Item = (Handle, SessionKeys, &T)> + '_ {
        self.inner
            .entries
            .as_slice()
            .iter()
            .zip(self.inner.values.as_slice())
            .enumerate()
            .filter_map(|(i, (e, v))| {
                let v = v.as_ref()?;
                Some((
                    Handle {
                        slot: i as u32,
                        generation: e.generation,
                    },
                    e.keys(),
                    v,
                ))
            })
    }
}

impl<T> Sessions<T> {
    /// Reads the entry every index entry of `tags` points to, for the burst's
    /// touch phase: slot numbers are clamped instead of checked, so no branch
    /// depends on the loaded lines, and the result only feeds `black_box`.
    #[inline(always)]
    pub(crate) fn touch_entries(&self, tags: &[u32]) -> u32 {
        let entries = self.entries.as_slice();
        let last = (self.used as usize).min(entries.len()).saturating_sub(1);
        let mut sink = 0u32;
        for &tag in tags {
            sink ^= entries
                .get(((tag >> 1) as usize).min(last))
                .map_or(0, |e| e.keys[0].addrs as u32);
        }
        sink
    }

    /// The burst's resolve phase: `out[i]` is the hit if candidate `tags[i]`
    /// holds `keys[i]` (either direction), else `None` (the caller probes
    /// fully where the index said there may be more).
    #[inline(always)]
    pub(crate) fn resolve_all(&self, tags: &[u32], keys: &[FlowKey], out: &mut [Option<Lookup>]) {
        let entries = self.entries.as_slice();
        for ((&tag, key), out) in tags.iter().zip(keys).zip(out) {
            *out = if tag == NO_TAG {
                None
            } else {
                entries.get((tag >> 1) as usize).and_then(|e| {
                    let direction = e.keys[(tag & 1) as usize].direction_of(&RawKey::new(key))?;
                    Some(Lookup {
                        handle: Handle {
                            slot: tag >> 1,
                            generation: e.generation,
                        },
                        side: side_of(tag),
                        direction,
                    })
                })
            };
        }
    }

    /// Whether slot `s` holds a value (reads the value's first line).
    #[inline]
    pub(crate) fn value_present(&self, s: u32) -> bool {
        self.values.get(s as usize).is_some_and(Option::is_some)
    }

    /// Writes session `slot` (free, or the next unused one) and indexes its
    /// keys, one probe per key that also finds a live session holding the
    /// flow (either direction). `Ok(generation)`; `Err(holder)`: a key is in
    /// use, and nothing changed (the slot stays free, the free list intact).
    /// The free list advances here; the caller does the rest of the
    /// bookkeeping.
    #[inline]
    fn create(
        &mut self,
        slot: u32,
        raw: [RawKey; 2],
        hashes: [FlowHash; 2],
        now: Nanos,
    ) -> Result<u32, Handle> {
        let single = raw[0].direction_of(&raw[1]).is_some();
        let entries = self.entries.as_mut_slice();
        let Some(entry) = entries.get_mut(slot as usize) else {
            return Err(Handle::dangling());
        };
        let generation = entry.generation;
        let next_free = entry.buckets[0];
        // The entry is written before indexing, so that the second key's
        // probe compares against the new session's first key, and a rehash
        // during the insert can hash the new keys.
        *entry = Entry {
            keys: raw,
            timeout: 0,
            created: now.0,
            generation,
            buckets: [NO_BUCKET; 2],
            kind: TimeoutKind::Custom as u8,
            single: u8::from(single),
            live: 1,
            _pad: 0,
        };
        let mut moved = false;
        for side in 0..if single { 1 } else { 2 } {
            match self.claim_key(hashes[side], (slot << 1) | side as u32) {
                Ok(m) => moved |= m,
                Err(holder) => {
                    if side == 1 {
                        self.unindex_probing(slot << 1, hashes[0]);
                    }
                    // Free again (the keys left behind are not indexed).
                    let entries = self.entries.as_mut_slice();
                    entries[slot as usize].live = 0;
                    entries[slot as usize].buckets = [next_free, NO_BUCKET];
                    if moved {
                        self.record_buckets();
                    }
                    return Err(holder);
                }
            }
        }
        if moved {
            self.record_buckets();
        }
        if slot != self.used {
            self.free_head = next_free;
        }
        Ok(generation)
    }

    /// Indexes key `tag` (its entry already written) under `hash` unless a
    /// live session holds that flow already (either direction), in one
    /// probe; records the bucket in the entry. `Ok(moved)`: whether hashbrown
    /// moved buckets to make room (a rehash in place after tombstones piled
    /// up; `capacity()`, items + growth left, then jumps to the full
    /// capacity), in which case every recorded bucket is stale and the
    /// caller must call [`record_buckets`](Self::record_buckets).
    /// `Err(holder)`: the key is in use.
    #[inline]
    fn claim_key(&mut self, hash: FlowHash, tag: u32) -> Result<bool, Handle> {
        let before = self.index.capacity();
        let entries = self.entries.as_mut_slice();
        let hasher = self.hasher;
        let view: &[Entry] = entries;
        let key = view[(tag >> 1) as usize].keys[(tag & 1) as usize];
        let found = self.index.claim(
            hash,
            tag,
            |&e| {
                view.get((e >> 1) as usize)
                    .is_some_and(|h| h.keys[(e & 1) as usize].direction_of(&key).is_some())
            },
            |&e| {
                view.get((e >> 1) as usize).map_or(FlowHash(0), |h| {
                    hasher.hash(&h.keys[(e & 1) as usize].get())
                })
            },
        );
        let bucket = match found {
            Claim::Held(holder) => {
                let s = holder >> 1;
                return Err(Handle {
                    slot: s,
                    generation: view.get(s as usize).map_or(u32::MAX, |h| h.generation),
                });
            }
            Claim::Inserted(bucket) => bucket,
        };
        entries[(tag >> 1) as usize].buckets[(tag & 1) as usize] =
            u32::try_from(bucket).unwrap_or(NO_BUCKET);
        // Without a rehash an insert adds 0 (into an empty bucket) or 1 (into
        // a tombstone) to items + growth_left.
        Ok(self.index.capacity() > before + 1)
    }

    /// Removes index record `tag` found by probing `hash` (undo of a claim).
    fn unindex_probing(&mut self, tag: u32, hash: FlowHash) {
        self.index.remove_probing(hash, tag);
    }

    /// Re-records every key's bucket after hashbrown moved them (rare: only
    /// a rehash in place; O(buckets)).
    #[cold]
    fn record_buckets(&mut self) {
        let entries = self.entries.as_mut_slice();
        self.index.for_each(|bucket, tag| {
            if let Some(e) = entries.get_mut((tag >> 1) as usize) {
                e.buckets[(tag & 1) as usize] = u32::try_from(bucket).unwrap_or(NO_BUCKET);
            }
        });
    }

    /// Removes index record `tag` (key `key`): at its recorded bucket when
    /// that bucket holds it (no hashing, no probing), else by a probe.
    #[inline]
    fn unindex_key(&mut self, tag: u32, bucket: u32, key: &RawKey) {
        if bucket != NO_BUCKET && self.index.remove_at(bucket as usize, tag) {
            return;
        }
        debug_assert_eq!(bucket, NO_BUCKET, "stale recorded bucket for {tag}");
        let hash = self.hasher.hash(&key.get());
        self.unindex_probing(tag, hash);
    }

    /// Deletes session `s` (live, timer already stopped) and hands it to
    /// `on_expiry`.
    fn expire(&mut self, s: u32, on_expiry: &mut impl FnMut(Expired<T>)) {
        let Some(&entry) = self.entries.as_slice().get(s as usize) else {
            return;
        };
        let kind = entry.kind();
        self.stats.expired[kind.index()].bump();
        let value = self.release(s);
        on_expiry(Expired {
            handle: Handle {
                slot: s,
                generation: entry.generation,
            },
            kind,
            keys: entry.keys(),
            created: Nanos(entry.created),
            value,
        });
    }

    /// Unindexes and frees slot `s` (live, timer already stopped): the
    /// records are erased at their recorded buckets (at a million sessions
    /// that saves two hashes and two probes per removal).
    fn release(&mut self, s: u32) -> T {
        let entries = self.entries.as_mut_slice();
        let entry = &mut entries[s as usize];
        let buckets = entry.buckets;
        let single = entry.single != 0;
        let keys = entry.keys;
        entry.generation = entry.generation.wrapping_add(1);
        entry.live = 0;
        entry.buckets = [self.free_head, NO_BUCKET];
        self.free_head = s;
        self.len -= 1;
        self.stats.removals.bump();
        self.stats.sessions.set(self.len as u64);
        let value = self.values.get_mut(s as usize).and_then(Option::take);
        for side in 0..if single { 1 } else { 2 } {
            self.unindex_key((s << 1) | side as u32, buckets[side], &keys[side]);
        }
        match value {
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
        let values_cap = t.inner.values.capacity();
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
        assert_eq!(t.inner.values.capacity(), values_cap);
        assert_eq!(t.len(), cap as usize);
        assert_eq!(t.inner.index.len(), 2 * cap as usize);
        assert_positions_recorded(&t);
    }

    /// Every live key's recorded bucket holds its index record.
    fn assert_positions_recorded(t: &FlowTable<u32>) {
        for (h, _, _) in t.iter() {
            let e = &t.inner.entries.as_slice()[h.slot() as usize];
            let sides = if e.single != 0 { 1 } else { 2 };
            for side in 0..sides {
                let tag = (h.slot() << 1) | side;
                let bucket = e.buckets[side as usize] as usize;
                assert_eq!(t.inner.index.get_bucket(bucket), Some(tag));
            }
        }
    }

    #[test]
    fn tiny_tables_stay_exact_through_churn() {
        // Capacity 3: the smallest hashbrown table, where tags collide and
        // tombstones pile up; every session stays findable through churn.
        let mut t = table(3);
        let mut live: Vec<(u16, Handle)> = Vec::new();
        for round in 0..2000u16 {
            if live.len() == 3 || (round % 3 == 0 && !live.is_empty()) {
                let (p, h) = live.remove(usize::from(round) % live.len());
                assert_eq!(t.remove(h), Some(u32::from(p)));
                assert!(t.lookup_key(&smtp(p).initiator).is_none());
                assert!(t.lookup_key(&smtp(p).responder.reversed()).is_none());
            }
            let h = t
                .insert(smtp(round), u32::from(round), Nanos::ZERO)
                .unwrap();
            live.push((round, h));
            for &(p, h) in &live {
                assert_eq!(t.lookup_key(&smtp(p).responder).unwrap().handle, h);
                assert_eq!(
                    t.lookup_key(&smtp(p).initiator.reversed()).unwrap().handle,
                    h
                );
            }
            assert_positions_recorded(&t);
        }
    }

    #[test]
    fn buckets_moved_by_hashbrown_are_recorded_again() {
        let mut t = table(300);
        let mut live: Vec<Handle> = (0..100u16)
            .map(|p| t.insert(smtp(p), u32::from(p), Nanos::ZERO).unwrap())
            .collect();
        assert_positions_recorded(&t);
        // Squeeze the index to its minimum so that the next inserts must move
        // every bucket (the same signal as a rehash in place: capacity jumps).
        let entries = t.inner.entries.as_slice().to_vec();
        let hasher = t.inner.hasher;
        t.inner.index.shrink_to(0, |&e: &u32| {
            hasher.hash(&entries[(e >> 1) as usize].keys[(e & 1) as usize].get())
        });
        let squeezed = t.inner.index.num_buckets();
        for p in 100..300u16 {
            live.push(t.insert(smtp(p), u32::from(p), Nanos::ZERO).unwrap());
        }
        assert!(t.inner.index.num_buckets() > squeezed, "buckets moved");
        assert_positions_recorded(&t);
        for (i, h) in live.into_iter().enumerate() {
            assert_eq!(t.remove(h), Some(i as u32));
            assert!(t.lookup_key(&smtp(i as u16).responder).is_none());
        }
        assert_eq!(t.inner.index.len(), 0);
    }

    #[test]
    fn get_mut_touch_is_get_mut_then_touch() {
        let mut t = table(4);
        let a = t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
        // No timer yet: the data, and no timer started.
        *t.get_mut_touch(a, Nanos::from_secs(1)).unwrap() += 10;
        assert_eq!(t.get(a), Some(&11));
        assert_eq!(t.timer(a), None);
        assert!(t.arm(a, TimeoutKind::TcpIdle, Nanos::from_secs(20), Nanos::ZERO));
        // A later deadline: extended in place.
        assert_eq!(t.get_mut_touch(a, Nanos::from_secs(5)), Some(&mut 11));
        assert_eq!(
            t.timer(a),
            Some((TimeoutKind::TcpIdle, Nanos::from_secs(25)))
        );
        // An earlier deadline (a `now` older than the arming one): re-filed,
        // and it fires on the new deadline, not the old one.
        assert!(t.arm(
            a,
            TimeoutKind::TcpIdle,
            Nanos::from_secs(5),
            Nanos::from_secs(10)
        ));
        assert!(t.get_mut_touch(a, Nanos::from_secs(8)).is_some());
        assert_eq!(
            t.timer(a),
            Some((TimeoutKind::TcpIdle, Nanos::from_secs(13)))
        );
        let mut fired = Vec::new();
        t.advance(Nanos::from_secs(12), usize::MAX, |e| fired.push(e.value));
        assert!(fired.is_empty());
        t.advance(Nanos::from_secs(13), usize::MAX, |e| fired.push(e.value));
        assert_eq!(fired, vec![11]);
        // Stale handle: nothing.
        assert_eq!(t.get_mut_touch(a, Nanos::from_secs(4)), None);
        let b = t.insert(smtp(2), 2, Nanos::ZERO).unwrap();
        assert_eq!(b.slot(), a.slot());
        assert_eq!(t.get_mut_touch(a, Nanos::from_secs(4)), None);
        assert_eq!(t.get(b), Some(&2));
    }

    #[test]
    fn refused_insert_leaves_no_trace() {
        let mut t = table(4);
        let a = t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
        // Fresh slot, second key in use: the first key's record is undone.
        let mut clash = smtp(2);
        clash.responder = smtp(1).responder;
        assert_eq!(
            t.insert(clash, 2, Nanos::ZERO).unwrap_err().error,
            InsertError::KeyInUse(a)
        );
        assert!(t.lookup_key(&clash.initiator).is_none());
        assert_eq!(t.inner.index.len(), 2);
        // Reused slot, same: the free list and the slot's generation survive.
        let b = t.insert(smtp(3), 3, Nanos::ZERO).unwrap();
        assert_eq!(t.remove(b), Some(3));
        assert_eq!(
            t.insert(clash, 2, Nanos::ZERO).unwrap_err().error,
            InsertError::KeyInUse(a)
        );
        let c = t.insert(smtp(4), 4, Nanos::ZERO).unwrap();
        assert_eq!(c.slot(), b.slot());
        assert_ne!(c, b);
        assert_eq!(t.get(b), None);
        assert_eq!(t.get(c), Some(&4));
        assert_eq!(t.inner.index.len(), 4);
        assert_positions_recorded(&t);
    }

    #[test]
    fn page_policies_behave_identically() {
        // The fallback (ordinary pages) and the huge-page table give the
        // same answers; the stats tell which memory each one got.
        let cap = 40_000u32;
        let mut huge: FlowTable<u32> = FlowTable::new(
            TableConfig::with_capacity(cap),
            FlowHasher::default(),
            Nanos::ZERO,
        )
        .unwrap();
        let mut plain: FlowTable<u32> = FlowTable::with_pages(
            TableConfig::with_capacity(cap),
            FlowHasher::default(),
            Nanos::ZERO,
            PagePolicy::Plain,
        )
        .unwrap();
        assert_eq!(plain.backing(), Backing::Plain);
        assert_eq!(plain.stats().huge_page_bytes.get(), 0);
        assert_eq!(
            plain.stats().plain_page_bytes.get() as usize,
            plain.reserved_bytes()
        );
        let total = huge.stats().huge_page_bytes.get() + huge.stats().plain_page_bytes.get();
        assert_eq!(total, plain.stats().plain_page_bytes.get());
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| !s.contains("[never]"));
        if thp {
            // The 2.5 MB entry array is big enough to be advised.
            assert!(huge.stats().huge_page_bytes.get() >= u64::from(cap) * 64);
        }
        let mut handles = Vec::new();
        for p in 0..30_000u16 {
            let a = huge.insert(smtp(p), u32::from(p), Nanos::ZERO).unwrap();
            let b = plain.insert(smtp(p), u32::from(p), Nanos::ZERO).unwrap();
            assert_eq!(a, b);
            handles.push(a);
        }
        for (p, h) in handles.iter().enumerate().step_by(3) {
            assert_eq!(huge.remove(*h), Some(p as u32));
            assert_eq!(plain.remove(*h), Some(p as u32));
        }
        for p in 0..31_000u16 {
            let k = smtp(p).responder.reversed();
            assert_eq!(huge.lookup_key(&k), plain.lookup_key(&k), "{p}");
        }
    }

    /// The `VmFlags` of the mapping of `/proc/self/smaps` that contains
    /// `addr` (`None` where `/proc` is unavailable).
    fn vm_flags_at(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return Some(flags.trim().to_owned());
                }
            }
        }
        None
    }

    #[test]
    fn index_pages_are_counted_where_they_are() {
        // 300 k sessions: a 5 MB index (2^20 buckets), advised huge by the
        // index's allocator under the default policy, not under Plain. The
        // kernel's record of the advice (`hg` in the mapping's VmFlags) must
        // agree with what the stats count.
        let cap = 300_000u32;
        for policy in [PagePolicy::HugePages, PagePolicy::Plain] {
            let mut t: FlowTable<u32> = FlowTable::with_pages(
                TableConfig::with_capacity(cap),
                FlowHasher::default(),
                Nanos::ZERO,
                policy,
            )
            .unwrap();
            t.insert(smtp(1), 1, Nanos::ZERO).unwrap();
            let index_bytes = t.inner.index.allocation_size() as u64;
            assert!(index_bytes >= crate::memory::HUGE_PAGE as u64);
            let entries = t.inner.entries.bytes() as u64;
            let wheel = t.wheel.reserved_bytes() as u64;
            let (huge, plain) = (
                t.stats().huge_page_bytes.get(),
                t.stats().plain_page_bytes.get(),
            );
            let values = t.inner.values.bytes() as u64;
            assert_eq!(huge + plain, index_bytes + entries + wheel + values);
            let index_huge = t.inner.index.backing() == Backing::HugePages;
            match policy {
                PagePolicy::Plain => {
                    assert!(!index_huge);
                    assert_eq!(huge, 0);
                }
                PagePolicy::HugePages => {
                    // Entries and wheel are each over one huge page too:
                    // all three agree on what the kernel accepts.
                    assert_eq!(t.inner.entries.backing(), t.inner.index.backing());
                    // The values (300 k × 8 B) too.
                    assert_eq!(t.inner.values.backing(), t.inner.index.backing());
                    assert_eq!(huge, if index_huge { huge + plain } else { 0 });
                    assert_eq!(t.backing(), t.inner.index.backing());
                }
            }
            let addr = t.inner.index.first_record_addr().unwrap();
            if let Some(flags) = vm_flags_at(addr) {
                let advised = flags.split_whitespace().any(|f| f == "hg");
                assert_eq!(advised, index_huge, "{policy:?}: VmFlags {flags}");
            }
        }
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
