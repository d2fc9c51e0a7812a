//! `FlowTable<T>`: one worker's session table.
//!
//! * **Storage**: a slab of `capacity` session slots, reserved at start-up and
//!   filled lazily (the `Vec` never grows past its reservation, so it never
//!   reallocates); freed slots go on a free list. A [`Handle`] is `(slot,
//!   generation)`: a stale handle (session deleted, slot reused) is refused.
//! * **Index**: a `hashbrown::HashTable<u32>` holding `slot << 1 | side` for each of
//!   the session's two keys ([`SessionKeys`]), hashed in canonical form with the
//!   caller's precomputed [`FlowHash`]. Two entries per session serve four packet
//!   tuples (each key in both directions), and a hit reports the [`Side`] and
//!   [`Direction`] that matched. A session whose keys are the same flow (no NAT) is
//!   indexed once. The index is reserved for `4 × capacity` entries so that it
//!   stays at most half full: hashbrown then always rehashes in place when
//!   tombstones accumulate and never allocates (see the `churn_never_reallocates`
//!   test).
//! * **Timers**: a [`TimerWheel`] with one node per slot; every session has at most
//!   one running timer ([`TimeoutKind`] + duration). [`FlowTable::touch`] re-arms
//!   it in O(1). Expiry deletes the session and hands its data to the caller.
//! * **Hot path**: `lookup`, `insert`, `remove`, `touch` take no lock and never
//!   allocate. A full table refuses the insert (counted), it never grows.

use std::sync::Arc;

use hashbrown::HashTable;

use crate::hash::{FlowHash, FlowHasher};
use crate::key::{Direction, FlowKey, SessionKeys, Side};
use crate::stats::TableStats;
use crate::time::Nanos;
use crate::timeout::TimeoutKind;
use crate::wheel::{Advance, TimerWheel, WheelConfig};

const NIL: u32 = u32::MAX;
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

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    next_free: u32,
    single: bool,
    kind: TimeoutKind,
    keys: SessionKeys,
    created: Nanos,
    timeout: Nanos,
    value: Option<T>,
}

/// One worker's session table (see the module docs).
#[derive(Debug)]
pub struct FlowTable<T> {
    inner: Sessions<T>,
    wheel: TimerWheel,
}

/// Everything but the wheel, so that expiry can free sessions while the wheel is
/// borrowed.
#[derive(Debug)]
struct Sessions<T> {
    hasher: FlowHasher,
    index: HashTable<u32>,
    slots: Vec<Slot<T>>,
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
                slots: Vec::with_capacity(capacity as usize),
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
    /// index (buckets + control bytes), slab (with `Option<T>` inline), wheel.
    pub fn reserved_bytes(&self) -> usize {
        let index = self.inner.index.allocation_size();
        let slab = self.inner.slots.capacity() * core::mem::size_of::<Slot<T>>();
        index + slab + self.wheel.reserved_bytes()
    }

    /// Size of one slab slot (the per-session entry, including `Option<T>`).
    pub const fn slot_size() -> usize {
        core::mem::size_of::<Slot<T>>()
    }

    /// Finds the session a packet belongs to. `hash` must be `hasher.hash(key)`
    /// (the packet's one flow hash).
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: FlowHash) -> Option<Lookup> {
        let slots = &self.inner.slots;
        let entry = *self.inner.index.find(hash.0, |&e| {
            let k = slots[(e >> 1) as usize].keys.side(side_of(e));
            *k == *key || k.reversed() == *key
        })?;
        let slot = &slots[(entry >> 1) as usize];
        let side = side_of(entry);
        let direction = if *slot.keys.side(side) == *key {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        Some(Lookup {
            handle: Handle {
                slot: entry >> 1,
                generation: slot.generation,
            },
            side,
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
        let single = keys.is_single();
        for (key, hash) in [(&keys.initiator, hashes[0]), (&keys.responder, hashes[1])] {
            if let Some(hit) = self.lookup(key, hash) {
                self.inner.stats.key_in_use.bump();
                return Err(Rejected {
                    error: InsertError::KeyInUse(hit.handle),
                    value,
                });
            }
        }
        let slot = if self.inner.free_head != NIL {
            let s = self.inner.free_head;
            self.inner.free_head = self.inner.slots[s as usize].next_free;
            let entry = &mut self.inner.slots[s as usize];
            entry.next_free = NIL;
            entry.single = single;
            entry.kind = TimeoutKind::Custom;
            entry.keys = keys;
            entry.created = now;
            entry.timeout = Nanos::ZERO;
            entry.value = Some(value);
            s
        } else if self.inner.slots.len() < self.inner.capacity as usize {
            let s = self.inner.slots.len() as u32;
            self.inner.slots.push(Slot {
                generation: 0,
                next_free: NIL,
                single,
                kind: TimeoutKind::Custom,
                keys,
                created: now,
                timeout: Nanos::ZERO,
                value: Some(value),
            });
            s
        } else {
            self.inner.stats.table_full.bump();
            return Err(Rejected {
                error: InsertError::TableFull,
                value,
            });
        };
        let slots = &self.inner.slots;
        let hasher = self.inner.hasher;
        let rehash = |e: &u32| {
            hasher
                .hash(slots[(*e >> 1) as usize].keys.side(side_of(*e)))
                .0
        };
        self.inner
            .index
            .insert_unique(hashes[0].0, slot << 1, rehash);
        if !single {
            self.inner
                .index
                .insert_unique(hashes[1].0, (slot << 1) | 1, rehash);
        }
        self.inner.len += 1;
        self.inner.stats.creations.bump();
        self.inner.stats.last_created.set(now.0.saturating_add(1));
        self.inner.stats.sessions.set(self.inner.len as u64);
        Ok(Handle {
            slot,
            generation: self.inner.slots[slot as usize].generation,
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

    #[inline]
    fn live(&self, h: Handle) -> Option<&Slot<T>> {
        let s = self.inner.slots.get(h.slot as usize)?;
        (s.generation == h.generation && s.value.is_some()).then_some(s)
    }

    /// The caller's data of a live session.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        self.live(h)?.value.as_ref()
    }

    /// The caller's data of a live session, mutably.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        let s = self.inner.slots.get_mut(h.slot as usize)?;
        if s.generation != h.generation {
            return None;
        }
        s.value.as_mut()
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
        let s = self.live(h)?;
        Some((s.kind, self.wheel.deadline(h.slot)?))
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
        let Some(s) = self.inner.slots.get_mut(h.slot as usize) else {
            return false;
        };
        if s.generation != h.generation || s.value.is_none() {
            return false;
        }
        s.kind = kind;
        s.timeout = timeout;
        self.wheel.arm(h.slot, now + timeout);
        true
    }

    /// Activity on a session: restarts its running timer with the remembered kind
    /// and duration (O(1); usually one store). Returns `false` for a stale handle
    /// or a session without a timer.
    #[inline]
    pub fn touch(&mut self, h: Handle, now: Nanos) -> bool {
        let Some(s) = self.live(h) else {
            return false;
        };
        if !self.wheel.is_armed(h.slot) {
            return false;
        }
        let deadline = now + s.timeout;
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
            let entry = &inner.slots[s as usize];
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
        self.inner.slots.iter().enumerate().filter_map(|(i, s)| {
            let v = s.value.as_ref()?;
            Some((
                Handle {
                    slot: i as u32,
                    generation: s.generation,
                },
                &s.keys,
                v,
            ))
        })
    }
}

impl<T> Sessions<T> {
    /// Unindexes and frees slot `s` (live, timer already stopped).
    fn release(&mut self, s: u32) -> T {
        let entry = &self.slots[s as usize];
        let keys = entry.keys;
        let single = entry.single;
        let sides: &[Side] = if single {
            &[Side::Initiator]
        } else {
            &[Side::Initiator, Side::Responder]
        };
        for &side in sides {
            let key = keys.side(side);
            let tag = (s << 1) | side as u32;
            if let Ok(found) = self
                .index
                .find_entry(self.hasher.hash(key).0, |&e| e == tag)
            {
                found.remove();
            }
        }
        let entry = &mut self.slots[s as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.next_free = self.free_head;
        self.free_head = s;
        self.len -= 1;
        self.stats.removals.bump();
        self.stats.sessions.set(self.len as u64);
        match entry.value.take() {
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
        let slab_cap = t.inner.slots.capacity();
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
        assert_eq!(t.inner.slots.capacity(), slab_cap);
        assert_eq!(t.len(), cap as usize);
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
        // Table overhead + entry, excluding the caller's data (T = ()).
        for cap in [10_000u32, 1 << 20, 1_000_000] {
            let t: FlowTable<()> = FlowTable::new(
                TableConfig::with_capacity(cap),
                FlowHasher::default(),
                Nanos::ZERO,
            )
            .unwrap();
            let per = t.reserved_bytes() as f64 / cap as f64;
            eprintln!("capacity {cap}: {per:.1} bytes/session");
            assert!(per <= 128.0, "{per} bytes per session");
        }
        assert_eq!(FlowTable::<()>::slot_size(), 64);
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
