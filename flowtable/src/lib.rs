//! Per-core CBAC session tables, timing wheels and the global half-open
//! protections. Sans-IO: every entry point takes `now` ([`Nanos`]).
//!
//! * [`key`] — flow keys (IPv4 5-tuple + zone), canonical form, the two keys of a
//!   session (initiator-side and responder-side, `cbac-sessions.md` §1.5).
//! * [`hash`] — the one symmetric flow hash per packet, and core steering.
//! * [`table`] — [`FlowTable<T>`]: per-worker, fixed capacity, generation-checked
//!   handles, a `hashbrown::HashTable` index under the precomputed hash, no lock
//!   and no allocation on lookup/insert/remove.
//! * [`memory`] — the session entries and timer nodes in their own mappings, on huge pages when the
//!   kernel gives them (the dataplane needs to do nothing for it); the index
//!   is on huge pages too, through its allocator (`index`, private).
//! * [`burst`] — [`FlowTable::lookup_burst`]: a whole receive burst looked up
//!   at once with its cache misses overlapped (use it on the packet path).
//! * [`wheel`], [`timeout`] — the per-table timing wheel and the timeout kinds
//!   (§3–§6).
//! * [`halfopen`] — the global max-incomplete / one-minute / per-host protections
//!   (§7), exact across workers.
//! * [`stats`], [`counter`] — the figures of `show ip inspect statistics` (§11.4).
//!
//! How the dataplane uses it:
//!
//! * Per packet: `hash = hasher.hash(&inside_form_key)` (one [`FlowHasher`] shared
//!   by all workers); `owner = hash.owner(workers)`; on the owner,
//!   `table.lookup(&key, hash)`; on a hit `table.get_mut_touch(handle, now)` (the
//!   established path takes no lock and touches nothing shared).
//! * Per receive burst (faster with many sessions): key and hash every packet
//!   first, then `table.lookup_burst(&keys, &hashes, &mut hits)` and
//!   `table.touch_values(&hits)`, then the per-packet work ([`burst`] has the
//!   example and the one caveat: sessions created while walking the burst).
//! * Session creation (TCP SYN / first UDP datagram that passed the ACL and an
//!   inspection rule): `table.insert_hashed(keys, hashes, data, now)` first (a full
//!   table refuses here, counted as `table_full`, before any half-open accounting);
//!   then `registry.attempt(worker, handle, transport, responder_addr, now)`:
//!   `Admitted(id)` → keep `id` in the session data and
//!   `table.arm(handle, SynWait | UdpIdle, duration, now)`; `Refused(_)` →
//!   `table.remove(handle)` and drop the packet. ICMP sessions skip the registry.
//! * Leaving half-open (TCP ESTABLISHED, first UDP reply): `registry.established(id,
//!   now)`; `Release::AlreadyDeleted` means the registry had picked it for deletion
//!   (tear it down, RST to the responder if SYN-ACK was seen). Deleting a half-open
//!   session yourself (RST, timeout): `registry.remove(id, cause, now)`.
//! * Every poll/tick: `registry.take_deletions(worker, &mut buf)` and act on each
//!   [`Deletion`]; `table.advance(now, budget, |expired| ..)` (audit trail; for
//!   half-open ones `registry.remove(id, RemoveCause::TimedOut, now)` and the RST
//!   of §3.5); `registry.poll(now)`; `registry.take_events(&mut buf)` for the log.
//! * `show ip inspect statistics`: [`InspectStatistics::collect`] over every
//!   worker's [`TableStats`], the [`SessionGauges`] and `registry.snapshot()`.

pub mod burst;
pub mod counter;
pub mod halfopen;
pub mod hash;
mod index;
pub mod key;
pub mod memory;
pub mod stats;
pub mod table;
pub mod time;
pub mod timeout;
mod values;
pub mod wheel;

pub use burst::BURST;
pub use halfopen::{
    Admission, DeleteReason, Deletion, Event, HalfOpenConfig, HalfOpenId, HalfOpenRegistry,
    Refusal, RegistrySizing, RegistrySnapshot, Release, RemoveCause, TimedEvent, Transport,
};
pub use hash::{FlowHash, FlowHasher};
pub use key::{Direction, FlowKey, SessionKeys, Side};
pub use memory::{Backing, PagePolicy};
pub use stats::{InspectStatistics, SessionClass, SessionGauges, TableStats};
pub use table::{Expired, FlowTable, Handle, InsertError, Lookup, Rejected, TableConfig};
pub use time::Nanos;
pub use timeout::{TimeoutKind, Timeouts};
pub use wheel::{Advance, WheelConfig};
