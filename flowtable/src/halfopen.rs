//! The global half-open protections (`cbac-sessions.md` §7; decisions 5 and 6).
//!
//! Every figure here is **global** across workers: the half-open count `H`, the
//! attempt count `R` of the current one-minute sampling period, the per-host
//! counts `Hh(d)`, the two alarms, aggressive mode, blocked hosts, and "the oldest
//! half-open session" system-wide. The thresholds must hold exactly, so every
//! decision that reads and changes them runs in one short critical section: a
//! [`std::sync::Mutex`] around the registry state, taken only on the
//! session-creation path ([`HalfOpenRegistry::attempt`]), when a session leaves
//! half-open ([`HalfOpenRegistry::established`], [`HalfOpenRegistry::remove`]),
//! and by the periodic [`HalfOpenRegistry::poll`]. The established-packet path
//! never touches it. Atomics alone cannot give exactness here: one attempt reads
//! `H`, `R` and `Hh(d)`, may pick and delete the globally oldest half-open session,
//! and then adds itself, and these steps must not interleave with another
//! worker's. Each critical section is O(1) (O(host_limit) for a block).
//!
//! Registered half-open sessions live in a preallocated slab (capacity = the sum
//! of the workers' table capacities, so it cannot overflow while every entry
//! belongs to a table session) threaded on two intrusive lists in registration
//! order: a global one (oldest first, for aggressive mode) and one per TCP
//! destination host (for the per-host limit). Registration order is creation
//! order, because the registry itself serialises creations.
//!
//! When a deletion picks a session (of any worker), the registry accounts for it
//! immediately (`H`, `Hh`, the OFF evaluation) and moves the entry to the owning
//! worker's *deletion list*; the worker drains it with
//! [`HalfOpenRegistry::take_deletions`] on its next poll, tears the session down,
//! and sends an RST toward the responder if it had seen the SYN-ACK (decision 6,
//! §3.5). The list is intrusive in the already-allocated entry, so it is bounded by
//! the worker's own table size and needs no allocation. A worker that meanwhile
//! reports progress on such a session learns from [`Release::AlreadyDeleted`] that
//! it must delete it.
//!
//! Log events (ALERT_ON/OFF, HOST_TCP_ALERT_ON, BLOCK_HOST, UNBLOCK_HOST) are plain
//! data in a bounded queue drained with [`HalfOpenRegistry::take_events`].

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

use hashbrown::HashMap;

use crate::stats::HalfOpenDeleted;
use crate::table::Handle;
use crate::time::Nanos;

const NIL: u32 = u32::MAX;

/// The half-open thresholds of `ip inspect ...` (§6), with IOS defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HalfOpenConfig {
    /// `max-incomplete high`.
    pub max_incomplete_high: u64,
    /// `max-incomplete low`.
    pub max_incomplete_low: u64,
    /// `one-minute high`.
    pub one_minute_high: u64,
    /// `one-minute low`.
    pub one_minute_low: u64,
    /// `tcp max-incomplete host N`.
    pub host_limit: u64,
    /// `block-time M` in minutes (0 = delete the oldest instead of blocking).
    pub block_time_minutes: u64,
    /// Length of a sampling period (60 s; shorter only in tests).
    pub period: Nanos,
}

impl Default for HalfOpenConfig {
    fn default() -> Self {
        HalfOpenConfig {
            max_incomplete_high: 500,
            max_incomplete_low: 400,
            one_minute_high: 500,
            one_minute_low: 400,
            host_limit: 50,
            block_time_minutes: 0,
            period: Nanos::from_secs(60),
        }
    }
}

/// A rejected [`HalfOpenConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HalfOpenConfigError {
    /// A low threshold above its high threshold.
    #[error("% low threshold must not exceed high threshold")]
    LowAboveHigh,
    /// Host limit 0 or sampling period 0.
    #[error("% value out of range")]
    OutOfRange,
}

impl HalfOpenConfig {
    /// Checks the ranges of §6.
    pub fn validate(&self) -> Result<(), HalfOpenConfigError> {
        if self.max_incomplete_low > self.max_incomplete_high
            || self.one_minute_low > self.one_minute_high
        {
            return Err(HalfOpenConfigError::LowAboveHigh);
        }
        if self.host_limit == 0 || self.period == Nanos::ZERO {
            return Err(HalfOpenConfigError::OutOfRange);
        }
        Ok(())
    }
}

/// Start-up sizing of the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrySizing {
    /// Number of workers (deletion lists).
    pub workers: u16,
    /// Maximum registered half-open sessions: the sum of the tables' capacities.
    pub capacity: u32,
    /// Maximum TCP destination hosts tracked at once (hosts with half-open
    /// sessions or blocked).
    pub hosts: u32,
    /// Maximum undrained log events (further ones are counted and dropped).
    pub events: u32,
}

/// Session transport, as far as the half-open rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Counted in `H` and in `Hh(dst)`.
    Tcp,
    /// Counted in `H` only.
    Udp,
}

/// A registered half-open session (store it in the session's data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HalfOpenId {
    index: u32,
    generation: u32,
}

/// A log event of the half-open protections (§7.2, §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// `%FW-4-ALERT_ON: getting aggressive, count (count/high) current 1-min rate: rate`
    AlertOn {
        /// `H`.
        count: u64,
        /// `max-incomplete high`.
        high: u64,
        /// `R`.
        rate: u64,
    },
    /// `%FW-4-ALERT_OFF: calming down, count (count/low) current 1-min rate: rate`
    AlertOff {
        /// `H`.
        count: u64,
        /// `max-incomplete low`.
        low: u64,
        /// `R`.
        rate: u64,
    },
    /// `%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (limit) exceeded for host host.`
    HostTcpAlertOn {
        /// Responder address (initiator-side view).
        host: Ipv4Addr,
        /// `host_limit`.
        limit: u64,
    },
    /// `%FW-2-BLOCK_HOST: Blocking new TCP connections to host host for minutes minute(s) (half-open count limit exceeded).`
    BlockHost {
        /// Blocked host.
        host: Ipv4Addr,
        /// Block time in minutes.
        minutes: u64,
        /// `host_limit`.
        limit: u64,
    },
    /// `%FW-4-UNBLOCK_HOST: New TCP connections to host host no longer blocked`
    UnblockHost {
        /// Unblocked host.
        host: Ipv4Addr,
    },
}

impl core::fmt::Display for Event {
    /// The IOS system message text (without timestamp), exactly as §7 gives it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Event::AlertOn { count, high, rate } => write!(
                f,
                "%FW-4-ALERT_ON: getting aggressive, count ({count}/{high}) current 1-min rate: {rate}"
            ),
            Event::AlertOff { count, low, rate } => write!(
                f,
                "%FW-4-ALERT_OFF: calming down, count ({count}/{low}) current 1-min rate: {rate}"
            ),
            Event::HostTcpAlertOn { host, limit } => write!(
                f,
                "%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections ({limit}) exceeded for host {host}."
            ),
            Event::BlockHost { host, minutes, limit } => write!(
                f,
                "%FW-2-BLOCK_HOST: Blocking new TCP connections to host {host} for {minutes} minute{} (half-open count {limit} exceeded).",
                if minutes == 1 { "" } else { "s" }
            ),
            Event::UnblockHost { host } => write!(
                f,
                "%FW-4-UNBLOCK_HOST: New TCP connections to host {host} no longer blocked"
            ),
        }
    }
}

/// An [`Event`] with the time and registry operation number that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedEvent {
    /// Registry operation number (global order of all registry operations).
    pub seq: u64,
    /// `now` of that operation.
    pub at: Nanos,
    /// What happened.
    pub event: Event,
}

/// Why the registry chose a half-open session for deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteReason {
    /// Oldest half-open session in aggressive mode (§7.2).
    Aggressive,
    /// Oldest half-open toward a host at its limit, block-time 0 (§7.3).
    Host,
    /// All half-open toward a host being blocked (§7.3).
    Block,
}

/// A deletion notice for the owning worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// The session in the owner's table (generation-checked: if it is already gone
    /// the notice is moot).
    pub handle: Handle,
    /// Its registry id (already released).
    pub id: HalfOpenId,
    /// Why.
    pub reason: DeleteReason,
    /// Transport of the session (TCP: RST to the responder if SYN-ACK was seen).
    pub transport: Transport,
    /// Responder address, initiator-side view.
    pub dst: Ipv4Addr,
}

/// Why a creation attempt was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The destination host is blocked (§7.3): drop the SYN silently.
    HostBlocked,
    /// This SYN made the host reach its limit with block-time > 0; the host is now
    /// blocked and the SYN dropped.
    HostLimitBlock,
    /// The registry slab is full (sizing smaller than the tables).
    RegistryFull,
    /// Too many distinct TCP destination hosts tracked at once.
    HostTableFull,
}

/// Result of [`HalfOpenRegistry::attempt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Create the session; keep the id.
    Admitted(HalfOpenId),
    /// Do not create it.
    Refused(Refusal),
}

/// Result of [`HalfOpenRegistry::established`] / [`HalfOpenRegistry::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The session was half-open and is no longer counted.
    Released,
    /// The registry had already chosen this session for deletion (its notice is
    /// withdrawn): the caller must delete the session now.
    AlreadyDeleted(DeleteReason),
    /// Unknown or stale id: nothing changed.
    Unknown,
}

/// Why a half-open session stops being half-open, for [`HalfOpenRegistry::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveCause {
    /// Its timer expired while half-open (counted as `halfopen_deleted{synwait}`).
    TimedOut,
    /// Deleted for another reason (RST, ICMP error, table clear): not counted.
    Closed,
}

/// The registry's figures for `show ip inspect statistics` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// `H`.
    pub halfopen: u64,
    /// Largest `H` ever.
    pub halfopen_maxever: u64,
    /// `R` in the current period.
    pub rate: u64,
    /// `R` of the last completed period.
    pub last_rate: u64,
    /// Largest `R` of a completed period.
    pub maxever_rate: u64,
    /// `H` at the last period boundary.
    pub last_halfopen_total: u64,
    /// Count alarm state.
    pub count_alarm: bool,
    /// Rate alarm state.
    pub rate_alarm: bool,
    /// Aggressive mode.
    pub aggressive: bool,
    /// Times aggressive mode was entered.
    pub aggressive_entered: u64,
    /// Hosts blocked now.
    pub hosts_blocked: u64,
    /// BLOCK_HOST events.
    pub block_events: u64,
    /// Half-open deletions by reason.
    pub deleted: HalfOpenDeleted,
    /// Attempts refused, by [`Refusal`] order.
    pub refused: [u64; 4],
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Registry operations so far.
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryState {
    Free,
    Live,
    Doomed(DeleteReason),
    Sentinel,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    generation: u32,
    state: EntryState,
    worker: u16,
    transport: Transport,
    dst: u32,
    handle: Handle,
    /// Global list (Live) or the worker's deletion list (Doomed); free list (Free).
    prev: u32,
    next: u32,
    /// Per-host list (Live TCP entries).
    host_prev: u32,
    host_next: u32,
}

#[derive(Clone, Copy, Debug)]
struct Host {
    count: u64,
    head: u32,
    tail: u32,
    alert: bool,
    blocked_until: Option<Nanos>,
}

#[derive(Debug)]
struct State {
    config: HalfOpenConfig,
    sizing: RegistrySizing,
    start: Nanos,
    period_index: u64,
    snap: RegistrySnapshot,
    entries: Vec<Entry>,
    free_head: u32,
    hosts: HashMap<u32, Host>,
    blocked: Vec<(u32, Nanos)>,
    events: VecDeque<TimedEvent>,
    now: Nanos,
}

/// The global half-open registry, shared by all workers (`Arc<HalfOpenRegistry>`).
#[derive(Debug)]
pub struct HalfOpenRegistry {
    state: Mutex<State>,
}

const GLOBAL: u32 = 0;

impl HalfOpenRegistry {
    /// A registry whose first sampling period starts at `start`.
    pub fn new(
        config: HalfOpenConfig,
        sizing: RegistrySizing,
        start: Nanos,
    ) -> Result<HalfOpenRegistry, HalfOpenConfigError> {
        config.validate()?;
        let sentinels = 1 + sizing.workers as usize;
        let mut entries = Vec::with_capacity(sentinels + sizing.capacity as usize);
        for i in 0..sentinels as u32 {
            entries.push(Entry {
                generation: 0,
                state: EntryState::Sentinel,
                worker: 0,
                transport: Transport::Udp,
                dst: 0,
                handle: Handle::dangling(),
                prev: i,
                next: i,
                host_prev: NIL,
                host_next: NIL,
            });
        }
        Ok(HalfOpenRegistry {
            state: Mutex::new(State {
                config,
                sizing,
                start,
                period_index: 0,
                snap: RegistrySnapshot::default(),
                entries,
                free_head: NIL,
                hosts: HashMap::with_capacity(sizing.hosts as usize),
                blocked: Vec::with_capacity(sizing.hosts as usize),
                events: VecDeque::with_capacity(sizing.events as usize),
                now: start,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough counters; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the thresholds (configuration change); applies from now on.
    pub fn set_config(&self, config: HalfOpenConfig) -> Result<(), HalfOpenConfigError> {
        config.validate()?;
        self.lock().config = config;
        Ok(())
    }

    /// The thresholds in force.
    pub fn config(&self) -> HalfOpenConfig {
        self.lock().config
    }

    /// A TCP or UDP session-creation attempt toward `dst` (initiator-side responder
    /// address) by `worker`, whose session is already inserted as `handle` in that
    /// worker's table. Runs §7.3 then §7.2; on `Admitted` the session counts as
    /// half-open; on `Refused` the caller deletes the session it inserted and drops
    /// the packet. Deletions chosen here (of any worker's sessions) go to the
    /// owners' deletion lists; the caller should drain its own right after.
    pub fn attempt(
        &self,
        worker: u16,
        handle: Handle,
        transport: Transport,
        dst: Ipv4Addr,
        now: Nanos,
    ) -> Admission {
        self.attempt_numbered(worker, handle, transport, dst, now).1
    }

    /// [`attempt`](Self::attempt), also returning the registry operation number
    /// (the global order of registry operations, shared with [`TimedEvent::seq`]).
    pub fn attempt_numbered(
        &self,
        worker: u16,
        handle: Handle,
        transport: Transport,
        dst: Ipv4Addr,
        now: Nanos,
    ) -> (u64, Admission) {
        let mut st = self.lock();
        st.begin(now);
        let r = st.attempt(worker, handle, transport, dst.to_bits());
        (st.snap.seq, r)
    }

    /// A half-open session became established (TCP: initiator's ACK of the
    /// SYN-ACK; UDP: first responder datagram).
    pub fn established(&self, id: HalfOpenId, now: Nanos) -> Release {
        self.release_numbered(id, None, now).1
    }

    /// A half-open session was deleted by its owner (`cause`).
    pub fn remove(&self, id: HalfOpenId, cause: RemoveCause, now: Nanos) -> Release {
        self.release_numbered(id, Some(cause), now).1
    }

    /// [`established`](Self::established) (`cause` `None`) or
    /// [`remove`](Self::remove), with the registry operation number.
    pub fn release_numbered(
        &self,
        id: HalfOpenId,
        cause: Option<RemoveCause>,
        now: Nanos,
    ) -> (u64, Release) {
        let mut st = self.lock();
        st.begin(now);
        let r = st.release(id, cause);
        (st.snap.seq, r)
    }

    /// Period boundaries and block expiries due at `now` (call from every worker's
    /// timer tick; cheap when nothing is due).
    pub fn poll(&self, now: Nanos) -> u64 {
        let mut st = self.lock();
        st.begin(now);
        st.snap.seq
    }

    /// Moves `worker`'s pending deletion notices into `out` (appends; reuse the
    /// vector to avoid allocation). Returns the registry operation number.
    pub fn take_deletions(&self, worker: u16, out: &mut Vec<Deletion>) -> u64 {
        let mut st = self.lock();
        st.snap.seq += 1;
        let seq = st.snap.seq;
        if worker >= st.sizing.workers {
            return seq;
        }
        let head = 1 + worker as u32;
        loop {
            let i = st.entries[head as usize].next;
            if i == head {
                break;
            }
            let e = st.entries[i as usize];
            st.unlink(i);
            if let EntryState::Doomed(reason) = e.state {
                out.push(Deletion {
                    handle: e.handle,
                    id: HalfOpenId {
                        index: i,
                        generation: e.generation,
                    },
                    reason,
                    transport: e.transport,
                    dst: Ipv4Addr::from_bits(e.dst),
                });
            }
            st.free(i);
        }
        seq
    }

    /// Moves the pending log events into `out` in order.
    pub fn take_events(&self, out: &mut Vec<TimedEvent>) {
        let mut st = self.lock();
        out.extend(st.events.drain(..));
    }

    /// Current figures.
    pub fn snapshot(&self) -> RegistrySnapshot {
        self.lock().snap
    }

    /// `Hh(host)`: half-open TCP sessions toward `host`.
    pub fn host_halfopen(&self, host: Ipv4Addr) -> u64 {
        self.lock()
            .hosts
            .get(&host.to_bits())
            .map_or(0, |h| h.count)
    }

    /// Whether new TCP connections to `host` are blocked at `now`.
    pub fn is_blocked(&self, host: Ipv4Addr, now: Nanos) -> bool {
        let st = self.lock();
        st.hosts
            .get(&host.to_bits())
            .and_then(|h| h.blocked_until)
            .is_some_and(|until| now < until)
    }
}

impl State {
    /// Every operation: number it, roll sampling periods, expire blocks.
    fn begin(&mut self, now: Nanos) {
        self.snap.seq += 1;
        self.now = self.now.max(now);
        let now = self.now;
        let elapsed = now.saturating_sub(self.start);
        let period = elapsed.0 / self.config.period.0.max(1);
        if period > self.period_index {
            let finished = self.snap.rate;
            self.snap.last_rate = if period == self.period_index + 1 {
                finished
            } else {
                0
            };
            self.snap.maxever_rate = self.snap.maxever_rate.max(finished);
            self.snap.last_halfopen_total = self.snap.halfopen;
            self.snap.rate = 0;
            self.period_index = period;
            self.evaluate_off();
        }
        if self.blocked.iter().any(|&(_, until)| until <= now) {
            let mut i = 0;
            while i < self.blocked.len() {
                let (host, until) = self.blocked[i];
                if until <= now {
                    // Ordered removal: UNBLOCK lines come out in blocking order.
                    self.blocked.remove(i);
                    if let Some(h) = self.hosts.get_mut(&host) {
                        h.blocked_until = None;
                    }
                    self.snap.hosts_blocked -= 1;
                    self.emit(Event::UnblockHost {
                        host: Ipv4Addr::from_bits(host),
                    });
                    self.forget_host_if_idle(host);
                } else {
                    i += 1;
                }
            }
        }
    }

    fn emit(&mut self, event: Event) {
        if self.events.len() >= self.sizing.events as usize {
            self.snap.events_dropped += 1;
            return;
        }
        self.events.push_back(TimedEvent {
            seq: self.snap.seq,
            at: self.now,
            event,
        });
    }

    fn refuse(&mut self, r: Refusal) -> Admission {
        self.snap.refused[r as usize] += 1;
        Admission::Refused(r)
    }

    fn attempt(
        &mut self,
        worker: u16,
        handle: Handle,
        transport: Transport,
        dst: u32,
    ) -> Admission {
        if worker >= self.sizing.workers {
            return self.refuse(Refusal::RegistryFull);
        }
        if self.free_head == NIL && self.entries.len() >= self.entries.capacity() {
            return self.refuse(Refusal::RegistryFull);
        }
        let cfg = self.config;
        if transport == Transport::Tcp {
            let known = self.hosts.get(&dst).copied();
            if known.is_none() && self.hosts.len() >= self.sizing.hosts as usize {
                return self.refuse(Refusal::HostTableFull);
            }
            if let Some(h) = known {
                if h.blocked_until.is_some() {
                    return self.refuse(Refusal::HostBlocked);
                }
                if h.count >= cfg.host_limit {
                    if cfg.block_time_minutes == 0 {
                        // One deletion with a fixed limit; more only if the limit
                        // was lowered since, so that Hh(d) < limit before adding.
                        while let Some(head) = self
                            .hosts
                            .get(&dst)
                            .filter(|h| h.count >= cfg.host_limit)
                            .map(|h| h.head)
                        {
                            self.doom(head, DeleteReason::Host);
                        }
                        if let Some(h) = self.hosts.get_mut(&dst) {
                            if !h.alert {
                                h.alert = true;
                                self.emit(Event::HostTcpAlertOn {
                                    host: Ipv4Addr::from_bits(dst),
                                    limit: cfg.host_limit,
                                });
                            }
                        }
                        self.evaluate_off();
                    } else {
                        while let Some(head) =
                            self.hosts.get(&dst).map(|h| h.head).filter(|&x| x != NIL)
                        {
                            self.doom(head, DeleteReason::Block);
                        }
                        let until = self.now + Nanos::from_mins(cfg.block_time_minutes);
                        if let Some(h) = self.hosts.get_mut(&dst) {
                            h.blocked_until = Some(until);
                            h.alert = false;
                        }
                        self.blocked.push((dst, until));
                        self.snap.hosts_blocked += 1;
                        self.snap.block_events += 1;
                        self.emit(Event::BlockHost {
                            host: Ipv4Addr::from_bits(dst),
                            minutes: cfg.block_time_minutes,
                            limit: cfg.host_limit,
                        });
                        self.evaluate_off();
                        self.refused_block();
                        return Admission::Refused(Refusal::HostLimitBlock);
                    }
                }
            }
        }
        // §7.2, normative order.
        self.snap.rate += 1;
        if self.snap.halfopen >= cfg.max_incomplete_high {
            self.snap.count_alarm = true;
        }
        if self.snap.rate > cfg.one_minute_high {
            self.snap.rate_alarm = true;
        }
        if !self.snap.aggressive && (self.snap.count_alarm || self.snap.rate_alarm) {
            self.snap.aggressive = true;
            self.snap.aggressive_entered += 1;
            self.emit(Event::AlertOn {
                count: self.snap.halfopen,
                high: cfg.max_incomplete_high,
                rate: self.snap.rate,
            });
        }
        if self.snap.aggressive && self.snap.halfopen > 0 {
            let oldest = self.entries[GLOBAL as usize].next;
            let victim = self.entries[oldest as usize];
            self.doom(oldest, DeleteReason::Aggressive);
            if victim.transport == Transport::Tcp {
                self.check_host_alert(victim.dst);
                self.forget_host_if_idle(victim.dst);
            }
            self.evaluate_off();
        }
        // Create the new half-open session.
        let i = self.alloc();
        let generation = self.entries[i as usize].generation;
        {
            let e = &mut self.entries[i as usize];
            e.state = EntryState::Live;
            e.worker = worker;
            e.transport = transport;
            e.dst = dst;
            e.handle = handle;
        }
        self.link_before(GLOBAL, i);
        if transport == Transport::Tcp {
            let host = self.hosts.entry(dst).or_insert(Host {
                count: 0,
                head: NIL,
                tail: NIL,
                alert: false,
                blocked_until: None,
            });
            let tail = host.tail;
            host.tail = i;
            if tail == NIL {
                host.head = i;
            }
            host.count += 1;
            self.entries[i as usize].host_prev = tail;
            self.entries[i as usize].host_next = NIL;
            if tail != NIL {
                self.entries[tail as usize].host_next = i;
            }
            self.check_host_alert(dst);
        }
        self.snap.halfopen += 1;
        self.snap.halfopen_maxever = self.snap.halfopen_maxever.max(self.snap.halfopen);
        Admission::Admitted(HalfOpenId {
            index: i,
            generation,
        })
    }

    fn refused_block(&mut self) {
        self.snap.refused[Refusal::HostLimitBlock as usize] += 1;
    }

    fn release(&mut self, id: HalfOpenId, cause: Option<RemoveCause>) -> Release {
        let Some(e) = self.entries.get(id.index as usize).copied() else {
            return Release::Unknown;
        };
        if e.generation != id.generation {
            return Release::Unknown;
        }
        match e.state {
            EntryState::Live => {
                self.unaccount(id.index);
                if cause == Some(RemoveCause::TimedOut) {
                    self.snap.deleted.synwait += 1;
                }
                self.free(id.index);
                if e.transport == Transport::Tcp {
                    self.check_host_alert(e.dst);
                    self.forget_host_if_idle(e.dst);
                }
                self.evaluate_off();
                Release::Released
            }
            EntryState::Doomed(reason) => {
                self.unlink(id.index);
                self.free(id.index);
                Release::AlreadyDeleted(reason)
            }
            EntryState::Free | EntryState::Sentinel => Release::Unknown,
        }
    }

    /// Chooses live entry `i` for deletion by its owner.
    fn doom(&mut self, i: u32, reason: DeleteReason) {
        self.unaccount(i);
        match reason {
            DeleteReason::Aggressive => self.snap.deleted.aggressive += 1,
            DeleteReason::Host => self.snap.deleted.host += 1,
            DeleteReason::Block => self.snap.deleted.block += 1,
        }
        let worker = self.entries[i as usize].worker;
        self.entries[i as usize].state = EntryState::Doomed(reason);
        self.link_before(1 + worker as u32, i);
    }

    /// Removes live entry `i` from the global and host lists and from `H`, `Hh`.
    fn unaccount(&mut self, i: u32) {
        self.unlink(i);
        let e = self.entries[i as usize];
        if e.transport == Transport::Tcp {
            if let Some(h) = self.hosts.get_mut(&e.dst) {
                if e.host_prev == NIL {
                    h.head = e.host_next;
                }
                if e.host_next == NIL {
                    h.tail = e.host_prev;
                }
                h.count -= 1;
            }
            if e.host_prev != NIL {
                self.entries[e.host_prev as usize].host_next = e.host_next;
            }
            if e.host_next != NIL {
                self.entries[e.host_next as usize].host_prev = e.host_prev;
            }
            self.entries[i as usize].host_prev = NIL;
            self.entries[i as usize].host_next = NIL;
        }
        self.snap.halfopen -= 1;
    }

    /// `host_alert(d)` is cleared when `Hh(d)` falls below the limit.
    fn check_host_alert(&mut self, dst: u32) {
        let limit = self.config.host_limit;
        if let Some(h) = self.hosts.get_mut(&dst) {
            if h.count < limit {
                h.alert = false;
            }
        }
    }

    fn forget_host_if_idle(&mut self, dst: u32) {
        if let Some(h) = self.hosts.get(&dst) {
            if h.count == 0 && h.blocked_until.is_none() && !h.alert {
                self.hosts.remove(&dst);
            }
        }
    }

    /// The OFF rules of §7.2 (decision 5).
    fn evaluate_off(&mut self) {
        let cfg = self.config;
        if self.snap.halfopen < cfg.max_incomplete_low {
            self.snap.count_alarm = false;
        }
        if self.snap.rate < cfg.one_minute_low {
            self.snap.rate_alarm = false;
        }
        if self.snap.aggressive && !self.snap.count_alarm && !self.snap.rate_alarm {
            self.snap.aggressive = false;
            self.emit(Event::AlertOff {
                count: self.snap.halfopen,
                low: cfg.max_incomplete_low,
                rate: self.snap.rate,
            });
        }
    }

    fn alloc(&mut self) -> u32 {
        if self.free_head != NIL {
            let i = self.free_head;
            self.free_head = self.entries[i as usize].next;
            i
        } else {
            let i = self.entries.len() as u32;
            self.entries.push(Entry {
                generation: 0,
                state: EntryState::Free,
                worker: 0,
                transport: Transport::Udp,
                dst: 0,
                handle: Handle::dangling(),
                prev: NIL,
                next: NIL,
                host_prev: NIL,
                host_next: NIL,
            });
            i
        }
    }

    fn free(&mut self, i: u32) {
        let e = &mut self.entries[i as usize];
        e.generation = e.generation.wrapping_add(1);
        e.state = EntryState::Free;
        e.prev = NIL;
        e.next = self.free_head;
        self.free_head = i;
    }

    /// Appends `i` at the tail of the circular list headed by sentinel `head`.
    fn link_before(&mut self, head: u32, i: u32) {
        let last = self.entries[head as usize].prev;
        self.entries[i as usize].prev = last;
        self.entries[i as usize].next = head;
        self.entries[last as usize].next = i;
        self.entries[head as usize].prev = i;
    }

    fn unlink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.entries[i as usize];
        self.entries[prev as usize].next = next;
        self.entries[next as usize].prev = prev;
        self.entries[i as usize].prev = NIL;
        self.entries[i as usize].next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u16 = 2;

    fn registry(config: HalfOpenConfig) -> HalfOpenRegistry {
        HalfOpenRegistry::new(
            config,
            RegistrySizing {
                workers: W,
                capacity: 10_000,
                hosts: 100,
                events: 16,
            },
            Nanos::ZERO,
        )
        .unwrap()
    }

    fn handle(n: u32) -> Handle {
        Handle::test_new(n, 0)
    }

    fn admit(
        r: &HalfOpenRegistry,
        w: u16,
        n: u32,
        t: Transport,
        dst: [u8; 4],
        now: Nanos,
    ) -> HalfOpenId {
        match r.attempt(w, handle(n), t, Ipv4Addr::from(dst), now) {
            Admission::Admitted(id) => id,
            other => panic!("attempt {n}: {other:?}"),
        }
    }

    fn events(r: &HalfOpenRegistry) -> Vec<String> {
        let mut v = Vec::new();
        r.take_events(&mut v);
        v.into_iter().map(|e| e.event.to_string()).collect()
    }

    #[test]
    fn count_alarm_deletes_oldest_of_any_worker() {
        let cfg = HalfOpenConfig {
            max_incomplete_high: 3,
            max_incomplete_low: 2,
            ..HalfOpenConfig::default()
        };
        let r = registry(cfg);
        let ids: Vec<_> = (0..3)
            .map(|n| {
                admit(
                    &r,
                    (n % 2) as u16,
                    n,
                    Transport::Udp,
                    [192, 0, 2, 53],
                    Nanos(n as u64),
                )
            })
            .collect();
        assert!(events(&r).is_empty());
        // Fourth attempt on worker 1: H=3 >= 3 → ON, oldest (worker 0, n=0) doomed.
        admit(&r, 1, 3, Transport::Udp, [192, 0, 2, 53], Nanos(10));
        assert_eq!(
            events(&r),
            ["%FW-4-ALERT_ON: getting aggressive, count (3/3) current 1-min rate: 4"]
        );
        let s = r.snapshot();
        assert_eq!(
            (s.halfopen, s.deleted.aggressive, s.aggressive),
            (3, 1, true)
        );
        let mut del = Vec::new();
        r.take_deletions(1, &mut del);
        assert!(del.is_empty());
        r.take_deletions(0, &mut del);
        assert_eq!(del.len(), 1);
        assert_eq!(
            (del[0].handle, del[0].reason),
            (handle(0), DeleteReason::Aggressive)
        );
        // Already released: the owner's later report is Unknown.
        assert_eq!(
            r.remove(ids[0], RemoveCause::Closed, Nanos(11)),
            Release::Unknown
        );
        // Two sessions establish: H 3 → 1 < low 2, but the rate (4) is under low
        // too (500/400 defaults) → OFF once H < 2.
        assert_eq!(r.established(ids[1], Nanos(12)), Release::Released);
        assert!(events(&r).is_empty());
        assert_eq!(r.established(ids[2], Nanos(13)), Release::Released);
        assert_eq!(
            events(&r),
            ["%FW-4-ALERT_OFF: calming down, count (1/2) current 1-min rate: 4"]
        );
    }

    #[test]
    fn doomed_entry_reported_to_owner_on_progress() {
        let cfg = HalfOpenConfig {
            max_incomplete_high: 1,
            max_incomplete_low: 1,
            ..HalfOpenConfig::default()
        };
        let r = registry(cfg);
        let a = admit(&r, 0, 0, Transport::Tcp, [10, 0, 0, 1], Nanos(0));
        admit(&r, 1, 1, Transport::Tcp, [10, 0, 0, 1], Nanos(1));
        // Worker 0 sees the SYN-ACK/ACK before draining: it learns it must delete.
        assert_eq!(
            r.established(a, Nanos(2)),
            Release::AlreadyDeleted(DeleteReason::Aggressive)
        );
        let mut del = Vec::new();
        r.take_deletions(0, &mut del);
        assert!(del.is_empty(), "notice withdrawn");
        assert_eq!(r.snapshot().halfopen, 1);
        assert_eq!(r.host_halfopen(Ipv4Addr::new(10, 0, 0, 1)), 1);
    }

    #[test]
    fn rate_alarm_and_period_boundary() {
        let cfg = HalfOpenConfig {
            one_minute_high: 3,
            one_minute_low: 2,
            ..HalfOpenConfig::default()
        };
        let r = registry(cfg);
        for n in 0..4 {
            let id = admit(
                &r,
                0,
                n,
                Transport::Tcp,
                [10, 0, 0, 2],
                Nanos::from_secs(n as u64),
            );
            r.established(id, Nanos::from_secs(n as u64));
        }
        assert_eq!(
            events(&r),
            ["%FW-4-ALERT_ON: getting aggressive, count (0/500) current 1-min rate: 4"]
        );
        r.poll(Nanos::from_secs(59));
        assert!(events(&r).is_empty());
        r.poll(Nanos::from_secs(60));
        assert_eq!(
            events(&r),
            ["%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0"]
        );
        let s = r.snapshot();
        assert_eq!(
            (s.last_rate, s.maxever_rate, s.aggressive_entered),
            (4, 4, 1)
        );
        // Two empty periods: the last completed one had rate 0.
        r.poll(Nanos::from_secs(180));
        assert_eq!(r.snapshot().last_rate, 0);
        assert_eq!(r.snapshot().maxever_rate, 4);
    }

    #[test]
    fn host_limit_block_time_zero() {
        let cfg = HalfOpenConfig {
            host_limit: 2,
            ..HalfOpenConfig::default()
        };
        let r = registry(cfg);
        let d = [172, 22, 1, 110];
        admit(&r, 0, 0, Transport::Tcp, d, Nanos(0));
        let b = admit(&r, 1, 1, Transport::Tcp, d, Nanos(1));
        admit(&r, 0, 2, Transport::Tcp, d, Nanos(2));
        admit(&r, 0, 3, Transport::Tcp, d, Nanos(3));
        assert_eq!(
            events(&r),
            ["%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (2) exceeded for host 172.22.1.110."]
        );
        assert_eq!(r.snapshot().deleted.host, 2);
        assert_eq!(
            r.established(b, Nanos(4)),
            Release::AlreadyDeleted(DeleteReason::Host)
        );
        // UDP toward the same host is not limited per host.
        admit(&r, 0, 4, Transport::Udp, d, Nanos(5));
        assert_eq!(r.host_halfopen(Ipv4Addr::from(d)), 2);
        assert_eq!(r.snapshot().halfopen, 3);
    }

    #[test]
    fn lowered_host_limit_restores_the_bound() {
        let r = registry(HalfOpenConfig {
            host_limit: 3,
            ..HalfOpenConfig::default()
        });
        let d = [10, 10, 10, 2];
        for n in 0..3 {
            admit(&r, 0, n, Transport::Tcp, d, Nanos(n as u64));
        }
        r.set_config(HalfOpenConfig {
            host_limit: 1,
            ..HalfOpenConfig::default()
        })
        .unwrap();
        admit(&r, 0, 3, Transport::Tcp, d, Nanos(3));
        assert_eq!(r.host_halfopen(Ipv4Addr::from(d)), 1);
        assert_eq!(r.snapshot().deleted.host, 3);
        let mut del = Vec::new();
        r.take_deletions(0, &mut del);
        let slots: Vec<u32> = del.iter().map(|d| d.handle.slot()).collect();
        assert_eq!(slots, [0, 1, 2], "oldest first");
    }

    #[test]
    fn block_time_blocks_and_unblocks() {
        let cfg = HalfOpenConfig {
            host_limit: 2,
            block_time_minutes: 1,
            ..HalfOpenConfig::default()
        };
        let r = registry(cfg);
        let d = [172, 22, 1, 110];
        admit(&r, 0, 0, Transport::Tcp, d, Nanos(0));
        admit(&r, 1, 1, Transport::Tcp, d, Nanos(0));
        let t = Nanos::from_secs(1);
        assert_eq!(
            r.attempt(0, handle(2), Transport::Tcp, Ipv4Addr::from(d), t),
            Admission::Refused(Refusal::HostLimitBlock)
        );
        assert_eq!(
            events(&r),
            ["%FW-2-BLOCK_HOST: Blocking new TCP connections to host 172.22.1.110 for 1 minute (half-open count 2 exceeded)."]
        );
        assert_eq!(r.snapshot().halfopen, 0);
        assert_eq!(r.snapshot().deleted.block, 2);
        assert!(r.is_blocked(Ipv4Addr::from(d), Nanos::from_secs(60)));
        assert_eq!(
            r.attempt(
                0,
                handle(3),
                Transport::Tcp,
                Ipv4Addr::from(d),
                Nanos::from_secs(60)
            ),
            Admission::Refused(Refusal::HostBlocked)
        );
        // Other hosts are unaffected.
        admit(
            &r,
            0,
            4,
            Transport::Tcp,
            [172, 22, 1, 111],
            Nanos::from_secs(60),
        );
        r.poll(Nanos::from_secs(61));
        assert_eq!(
            events(&r),
            ["%FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked"]
        );
        admit(&r, 0, 5, Transport::Tcp, d, Nanos::from_secs(61));
        let s = r.snapshot();
        assert_eq!(
            (
                s.hosts_blocked,
                s.block_events,
                s.refused[Refusal::HostBlocked as usize]
            ),
            (0, 1, 1)
        );
    }

    #[test]
    fn bounded_queues_and_tables() {
        let r = HalfOpenRegistry::new(
            HalfOpenConfig {
                max_incomplete_high: 1,
                max_incomplete_low: 1,
                one_minute_high: 1,
                one_minute_low: 1,
                ..HalfOpenConfig::default()
            },
            RegistrySizing {
                workers: 1,
                capacity: 2,
                hosts: 1,
                events: 1,
            },
            Nanos::ZERO,
        )
        .unwrap();
        admit(&r, 0, 0, Transport::Tcp, [1, 1, 1, 1], Nanos(0));
        assert_eq!(
            r.attempt(
                0,
                handle(1),
                Transport::Tcp,
                Ipv4Addr::new(2, 2, 2, 2),
                Nanos(1)
            ),
            Admission::Refused(Refusal::HostTableFull)
        );
        // Rate 2 > 1: aggressive; the TCP session is doomed but its entry is held
        // until worker 0 drains it, so the slab (2) is full.
        let b = admit(&r, 0, 2, Transport::Udp, [3, 3, 3, 3], Nanos(2));
        assert_eq!(
            r.attempt(
                0,
                handle(3),
                Transport::Udp,
                Ipv4Addr::new(3, 3, 3, 3),
                Nanos(3)
            ),
            Admission::Refused(Refusal::RegistryFull)
        );
        let mut del = Vec::new();
        r.take_deletions(0, &mut del);
        assert_eq!(del.len(), 1);
        assert_eq!(del[0].dst, Ipv4Addr::new(1, 1, 1, 1));
        assert_eq!(
            r.attempt(
                9,
                handle(4),
                Transport::Udp,
                Ipv4Addr::new(3, 3, 3, 3),
                Nanos(4)
            ),
            Admission::Refused(Refusal::RegistryFull)
        );
        assert_eq!(r.established(b, Nanos(5)), Release::Released);
        // OFF at the boundary does not fit in the one-event queue: counted.
        r.poll(Nanos::from_secs(120));
        assert_eq!(events(&r).len(), 1);
        let s = r.snapshot();
        assert!(!s.aggressive);
        assert_eq!(s.events_dropped, 1);
        assert_eq!(s.refused, [0, 0, 2, 1]);
    }

    #[test]
    fn config_validation() {
        let bad = HalfOpenConfig {
            max_incomplete_low: 501,
            ..HalfOpenConfig::default()
        };
        assert_eq!(bad.validate(), Err(HalfOpenConfigError::LowAboveHigh));
        assert_eq!(
            HalfOpenConfigError::LowAboveHigh.to_string(),
            "% low threshold must not exceed high threshold"
        );
        let r = registry(HalfOpenConfig::default());
        assert!(r.set_config(bad).is_err());
        assert_eq!(r.config(), HalfOpenConfig::default());
    }
}
