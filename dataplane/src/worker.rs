//! Pinned workers: each runs rx burst → processor → tx burst → tick on its own
//! core, owning the flows whose hash maps to it.
//!
//! Why this shape (DESIGN.md "Cores and ownership"): a flow's state lives in
//! exactly one worker (`owner = hash % N`), so nothing on the packet path
//! takes a lock. A frame received by a non-owner crosses a bounded SPSC ring
//! ([`crate::handoff`]) and the owner processes it as its own; a full ring is
//! a counted drop. The kernel fanout (`PACKET_FANOUT_HASH`) makes handoff rare
//! for un-NATed flows; the counters say how rare.
//!
//! A processor may also hand work over by itself after processing
//! ([`OwnerHandoff`]): the firewall collects every fragment of a datagram on
//! one worker, and only once the datagram is whole does it know the flow's
//! owner; it then hands the fragments over, marked
//! [`HandoffKind::Reassemble`], and the owner processes them without steering
//! them again.
//!
//! Each worker builds its own I/O and processor *inside its thread* (the
//! `make` closure), after pinning: sockets and rings are then created on the
//! worker's core and in whatever network namespace the closure enters.
//! Counters are published with relaxed atomic stores once per loop, so the
//! control thread can read them without touching the worker's tables.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::utils::CachePadded;

use crate::handoff::{mesh, HandoffKind, HandoffLinks, Outlet, Producer};
use crate::io::steer::{peer_hash, PeerSide};
use crate::io::{IoError, PortIo, TxSink, BURST};

/// Work a processor hands to another worker by itself, after processing a
/// frame — beyond [`Processor::steer`], which decides on receipt. The
/// firewall implements it for the datagrams its `ip virtual-reassembly`
/// table completed for a flow another worker owns (`pipeline/fragments.rs`:
/// every fragment is steered by addresses alone, so one worker collects a
/// datagram; its owner is only known once it is whole). The defaults do
/// nothing.
pub trait OwnerHandoff {
    /// Moves what was queued for other workers since the last call into
    /// `out` (the worker calls it after every burst and every tick).
    fn drain_handoffs(&mut self, _out: &mut Outlet<'_>) {}

    /// The frames processed from now until the next call with `false` were
    /// handed over by another worker ([`HandoffKind::Reassemble`]): complete
    /// and process them here, never hand them on.
    fn set_handed_over(&mut self, _handed_over: bool) {}
}

/// The packet-processing side a worker drives (the firewall pipeline, or
/// [`Forwarder`]). Sans-IO: time is passed in, output goes to the [`TxSink`].
pub trait Processor: Send + OwnerHandoff {
    /// Flow hash of `frame` received on `port` (the same for both directions
    /// and both interfaces of a session), or `None` to process it on the
    /// worker that received it (ARP, frames that belong to no flow).
    fn steer(&self, port: usize, frame: &[u8]) -> Option<u64>;

    /// Process one frame received on `port`, in place; queue output on `tx`.
    fn process(&mut self, now: u64, port: usize, frame: &mut [u8], tx: &mut TxSink);

    /// Process a burst of frames this worker owns, all received on `port`.
    /// Override to parse and hash the whole burst before looking up.
    fn process_burst(&mut self, now: u64, port: usize, frames: &mut [&mut [u8]], tx: &mut TxSink) {
        for frame in frames.iter_mut() {
            self.process(now, port, frame, tx);
        }
    }

    /// Timers: called once per loop iteration (also when idle).
    fn tick(&mut self, now: u64, tx: &mut TxSink);
}

/// Errors starting or running workers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Packet I/O failed.
    #[error("worker {worker}: {source}")]
    Io {
        /// Worker index.
        worker: usize,
        /// The I/O error.
        source: IoError,
    },
    /// The worker's `make` closure failed.
    #[error("worker {worker}: setup failed: {reason}")]
    Setup {
        /// Worker index.
        worker: usize,
        /// What went wrong.
        reason: String,
    },
    /// The worker thread panicked or could not be spawned.
    #[error("worker {worker}: thread failed: {reason}")]
    Thread {
        /// Worker index.
        worker: usize,
        /// What went wrong.
        reason: String,
    },
    /// Zero workers requested.
    #[error("at least one worker is needed")]
    NoWorkers,
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Number of workers.
    pub workers: usize,
    /// Core id for worker i is `cores[i % cores.len()]`; empty = not pinned.
    pub cores: Vec<usize>,
    /// Slots per handoff ring.
    pub handoff_capacity: usize,
    /// Frames per TX batch.
    pub tx_capacity: usize,
    /// Loops without work before sleeping in `wait_rx`.
    pub idle_spins: u32,
    /// Longest sleep when idle (bounds handoff latency with several workers).
    pub idle_timeout: Duration,
    /// Shortest time between two samples of the backend's kernel statistics
    /// (a syscall per port): the worker takes them at most this often, busy
    /// or idle, and at exit. The thread's CPU time (a read of `/proc`) is
    /// sampled every [`CPU_SAMPLE_EVERY`]-th time.
    pub stats_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: 1,
            cores: Vec::new(),
            handoff_capacity: 1024,
            tx_capacity: 4 * BURST,
            idle_spins: 64,
            idle_timeout: Duration::from_micros(500),
            stats_interval: Duration::from_millis(5),
        }
    }
}

/// The worker samples its CPU time once per this many samples of the
/// backend's statistics ([`WorkerConfig::stats_interval`]).
pub const CPU_SAMPLE_EVERY: u32 = 20;

/// Per-worker counters, written by the worker only (relaxed stores), read by
/// anyone.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Frames received from the ports.
    pub rx: AtomicU64,
    /// Frames sent.
    pub tx: AtomicU64,
    /// Frames refused by a full TX batch.
    pub tx_drops: AtomicU64,
    /// Frames that could not be sent by the backend.
    pub tx_errors: AtomicU64,
    /// Frames handed to another worker.
    pub handoff_out: AtomicU64,
    /// Frames received from other workers.
    pub handoff_in: AtomicU64,
    /// Frames dropped because the owner's ring was full.
    pub handoff_drops: AtomicU64,
    /// Frames waiting in this worker's inbound handoff rings (last sample).
    pub handoff_occupancy: AtomicU64,
    /// Oversize + truncated + VLAN-stripped frames dropped by the backend.
    pub rx_bad_frames: AtomicU64,
    /// Frames the kernel dropped because the RX ring was full.
    pub rx_ring_drops: AtomicU64,
    /// Fullest RX ring of this worker, percent (last sample).
    pub rx_ring_used_pct: AtomicU64,
    /// Offloaded frames whose TCP/UDP checksum was completed in software.
    pub rx_csum_completed: AtomicU64,
    /// CPU time of the worker thread, ns (sampled every
    /// [`CPU_SAMPLE_EVERY`] × [`WorkerConfig::stats_interval`] and at exit;
    /// 0 where `/proc/thread-self/schedstat` is unavailable).
    pub cpu_ns: AtomicU64,
    /// Loop iterations.
    pub loops: AtomicU64,
    /// Times the worker went to sleep in `wait_rx`.
    pub idle_waits: AtomicU64,
    /// 1 when pinned to a core.
    pub pinned: AtomicU64,
}

/// A plain copy of [`WorkerCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// See [`WorkerCounters::rx`].
    pub rx: u64,
    /// See [`WorkerCounters::tx`].
    pub tx: u64,
    /// See [`WorkerCounters::tx_drops`].
    pub tx_drops: u64,
    /// See [`WorkerCounters::tx_errors`].
    pub tx_errors: u64,
    /// See [`WorkerCounters::handoff_out`].
    pub handoff_out: u64,
    /// See [`WorkerCounters::handoff_in`].
    pub handoff_in: u64,
    /// See [`WorkerCounters::handoff_drops`].
    pub handoff_drops: u64,
    /// See [`WorkerCounters::handoff_occupancy`].
    pub handoff_occupancy: u64,
    /// See [`WorkerCounters::rx_bad_frames`].
    pub rx_bad_frames: u64,
    /// See [`WorkerCounters::rx_ring_drops`].
    pub rx_ring_drops: u64,
    /// See [`WorkerCounters::rx_ring_used_pct`].
    pub rx_ring_used_pct: u64,
    /// See [`WorkerCounters::rx_csum_completed`].
    pub rx_csum_completed: u64,
    /// See [`WorkerCounters::cpu_ns`].
    pub cpu_ns: u64,
    /// See [`WorkerCounters::loops`].
    pub loops: u64,
    /// See [`WorkerCounters::idle_waits`].
    pub idle_waits: u64,
    /// See [`WorkerCounters::pinned`].
    pub pinned: u64,
}

impl WorkerCounters {
    /// Read every counter (relaxed).
    pub fn snapshot(&self) -> CounterSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            rx: r(&self.rx),
            tx: r(&self.tx),
            tx_drops: r(&self.tx_drops),
            tx_errors: r(&self.tx_errors),
            handoff_out: r(&self.handoff_out),
            handoff_in: r(&self.handoff_in),
            handoff_drops: r(&self.handoff_drops),
            handoff_occupancy: r(&self.handoff_occupancy),
            rx_bad_frames: r(&self.rx_bad_frames),
            rx_ring_drops: r(&self.rx_ring_drops),
            rx_ring_used_pct: r(&self.rx_ring_used_pct),
            rx_csum_completed: r(&self.rx_csum_completed),
            cpu_ns: r(&self.cpu_ns),
            loops: r(&self.loops),
            idle_waits: r(&self.idle_waits),
            pinned: r(&self.pinned),
        }
    }
}

/// Monotonic nanoseconds since the first call in this process (the `now`
/// every processor receives).
pub fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Running workers.
#[derive(Debug)]
pub struct Workers<IO, P> {
    handles: Vec<JoinHandle<Result<(IO, P), WorkerError>>>,
    stop: Arc<AtomicBool>,
    counters: Arc<[CachePadded<WorkerCounters>]>,
}

impl<IO, P> Workers<IO, P>
where
    IO: PortIo + Send + 'static,
    P: Processor + 'static,
{
    /// Start `cfg.workers` workers. Worker `i` pins itself, then calls
    /// `make(i)` in its own thread to build its I/O and processor; the
    /// `make` calls run one at a time in worker order (so the i-th socket to
    /// join a fanout group belongs to worker i). Returns
    /// once every worker is set up (so its sockets exist), or the first
    /// setup error after stopping the others.
    pub fn spawn<M>(cfg: WorkerConfig, stop: Arc<AtomicBool>, make: M) -> Result<Self, WorkerError>
    where
        M: Fn(usize) -> Result<(IO, P), WorkerError> + Send + Sync + 'static,
    {
        if cfg.workers == 0 {
            return Err(WorkerError::NoWorkers);
        }
        let counters: Arc<[CachePadded<WorkerCounters>]> = (0..cfg.workers)
            .map(|_| CachePadded::new(WorkerCounters::default()))
            .collect();
        let make = Arc::new(make);
        // make(i) runs in worker order, one at a time: sockets join fanout
        // groups in that order, so fanout member i is worker i.
        let turn = Arc::new((Mutex::new(0usize), Condvar::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, Result<(), WorkerError>)>();
        let mut handles = Vec::with_capacity(cfg.workers);
        let mut spawn_error = None;
        for links in mesh(cfg.workers, cfg.handoff_capacity) {
            let me = links.me;
            let cfg = cfg.clone();
            let stop = stop.clone();
            let counters = counters.clone();
            let make = make.clone();
            let ready = ready_tx.clone();
            let turn = turn.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("mg-worker-{me}"))
                .spawn(move || {
                    let c = &counters[me];
                    if let Some(&core) = cfg.cores.get(me % cfg.cores.len().max(1)) {
                        if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                            c.pinned.store(1, Ordering::Relaxed);
                        }
                    }
                    let made = {
                        let _turn = SetupTurn::wait(&turn, me);
                        make(me)
                    };
                    let (mut io, mut processor) = match made {
                        Ok(v) => {
                            let _ = ready.send((me, Ok(())));
                            v
                        }
                        Err(e) => {
                            let reason = e.to_string();
                            let _ = ready.send((me, Err(e)));
                            return Err(WorkerError::Setup { worker: me, reason });
                        }
                    };
                    drop(ready);
                    run_worker(&cfg, links, &mut io, &mut processor, c, &stop)?;
                    Ok((io, processor))
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    spawn_error = Some(WorkerError::Thread {
                        worker: me,
                        reason: e.to_string(),
                    });
                    break;
                }
            }
        }
        drop(ready_tx);
        let mut first_error = spawn_error;
        for _ in 0..handles.len() {
            match ready_rx.recv() {
                Ok((_, Ok(()))) => {}
                Ok((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => break, // a thread died before reporting
            }
        }
        let workers = Workers {
            handles,
            stop,
            counters,
        };
        if let Some(e) = first_error {
            workers.stop.store(true, Ordering::Relaxed);
            let _ = workers.join();
            return Err(e);
        }
        Ok(workers)
    }

    /// Counters of every worker.
    pub fn counters(&self) -> Arc<[CachePadded<WorkerCounters>]> {
        self.counters.clone()
    }

    /// Sum of every worker's counters (gauges: the maximum).
    pub fn totals(&self) -> CounterSnapshot {
        totals_of(&self.counters)
    }

    /// Ask every worker to stop (they finish their current loop).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stop and wait for every worker; returns each worker's I/O and
    /// processor, or the first error.
    pub fn join(self) -> Result<Vec<(IO, P)>, WorkerError> {
        self.stop();
        let mut out = Vec::with_capacity(self.handles.len());
        let mut first_error = None;
        for (i, h) in self.handles.into_iter().enumerate() {
            match h.join() {
                Ok(Ok(v)) => out.push(v),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(WorkerError::Thread {
                        worker: i,
                        reason: "panicked".into(),
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Sum of the counters of several workers (gauges: the maximum).
pub fn totals_of(counters: &[CachePadded<WorkerCounters>]) -> CounterSnapshot {
    let mut t = CounterSnapshot::default();
    for c in counters {
        let s = c.snapshot();
        t.rx += s.rx;
        t.tx += s.tx;
        t.tx_drops += s.tx_drops;
        t.tx_errors += s.tx_errors;
        t.handoff_out += s.handoff_out;
        t.handoff_in += s.handoff_in;
        t.handoff_drops += s.handoff_drops;
        t.handoff_occupancy += s.handoff_occupancy;
        t.rx_bad_frames += s.rx_bad_frames;
        t.rx_ring_drops += s.rx_ring_drops;
        t.rx_ring_used_pct = t.rx_ring_used_pct.max(s.rx_ring_used_pct);
        t.rx_csum_completed += s.rx_csum_completed;
        t.cpu_ns += s.cpu_ns;
        t.loops += s.loops;
        t.idle_waits += s.idle_waits;
        t.pinned += s.pinned;
    }
    t
}

/// Worker `me`'s turn to run its setup; passing the turn on when dropped
/// (also if `make` panics, so later workers never wait forever).
struct SetupTurn<'a>(&'a (Mutex<usize>, Condvar));

impl<'a> SetupTurn<'a> {
    fn wait(turn: &'a (Mutex<usize>, Condvar), me: usize) -> Self {
        let (lock, cv) = turn;
        let mut t = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *t < me {
            t = cv.wait(t).unwrap_or_else(|e| e.into_inner());
        }
        SetupTurn(turn)
    }
}

impl Drop for SetupTurn<'_> {
    fn drop(&mut self) {
        let (lock, cv) = self.0;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_all();
    }
}

/// Local counts, published to the shared atomics once per loop.
#[derive(Default)]
struct LocalCounts {
    rx: u64,
    handoff_out: u64,
    handoff_in: u64,
    handoff_drops: u64,
    loops: u64,
    idle_waits: u64,
}

/// The worker loop (public so tests and single-threaded tools can run one
/// worker inline). Runs until `stop` is set.
pub fn run_worker<IO, P>(
    cfg: &WorkerConfig,
    mut links: HandoffLinks,
    io: &mut IO,
    processor: &mut P,
    counters: &WorkerCounters,
    stop: &AtomicBool,
) -> Result<(), WorkerError>
where
    IO: PortIo,
    P: Processor,
{
    let me = links.me;
    let workers = cfg.workers.max(1) as u64;
    let io_err = |source| WorkerError::Io { worker: me, source };
    let mut tx = TxSink::with_capacity(cfg.tx_capacity.max(2 * BURST));
    let mut local = LocalCounts::default();
    let mut sent = 0u64;
    let mut idle = 0u32;
    let ports = io.port_count();
    let stats_interval = u64::try_from(cfg.stats_interval.as_nanos()).unwrap_or(u64::MAX);
    // Due at once: the first loop publishes.
    let mut last_stats: Option<u64> = None;
    // Stats samples left until the next CPU-time sample (0: this one).
    let mut until_cpu = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let now = monotonic_ns();
        let mut work = 0usize;
        for port in 0..ports {
            let to = &mut links.to;
            let n = io
                .rx_burst(port, |burst| {
                    // One worker owns every flow: no steering hash needed.
                    if workers == 1 {
                        processor.process_burst(now, port, burst, &mut tx);
                        drain_handoffs(processor, to, &mut local);
                        return;
                    }
                    // Partition in place: owned frames to the front, the rest
                    // handed to their owner.
                    let mut owned = 0;
                    for i in 0..burst.len() {
                        let owner = match processor.steer(port, burst[i]) {
                            Some(h) if workers > 1 => (h % workers) as usize,
                            _ => me,
                        };
                        if owner == me {
                            burst.swap(i, owned);
                            owned += 1;
                        } else if let Some(Some(p)) = to.get_mut(owner) {
                            match p.push(port, burst[i]) {
                                Ok(()) => local.handoff_out += 1,
                                Err(_) => local.handoff_drops += 1,
                            }
                        }
                    }
                    processor.process_burst(now, port, &mut burst[..owned], &mut tx);
                    drain_handoffs(processor, to, &mut local);
                })
                .map_err(io_err)?;
            local.rx += n as u64;
            work += n;
            if tx.room() < 2 * BURST {
                sent += io.tx_flush(&mut tx).map_err(io_err)? as u64;
            }
        }
        let mut occupancy = 0;
        for c in links.from.iter_mut() {
            let n = c.pop_burst_kind(BURST, |port, kind, frame| match kind {
                HandoffKind::Steered => processor.process(now, port, frame, &mut tx),
                HandoffKind::Reassemble => {
                    processor.set_handed_over(true);
                    processor.process(now, port, frame, &mut tx);
                    processor.set_handed_over(false);
                }
            });
            drain_handoffs(processor, &mut links.to, &mut local);
            occupancy += c.ring().len();
            local.handoff_in += n as u64;
            work += n;
            if tx.room() < 2 * BURST {
                sent += io.tx_flush(&mut tx).map_err(io_err)? as u64;
            }
        }
        processor.tick(now, &mut tx);
        drain_handoffs(processor, &mut links.to, &mut local);
        sent += io.tx_flush(&mut tx).map_err(io_err)? as u64;
        local.loops += 1;

        let mut sleeping = false;
        if work == 0 {
            idle += 1;
            if idle >= cfg.idle_spins {
                idle = 0;
                sleeping = true;
            }
        } else {
            idle = 0;
        }
        let r = Ordering::Relaxed;
        counters.rx.store(local.rx, r);
        counters.tx.store(sent, r);
        counters.tx_drops.store(tx.dropped(), r);
        counters.handoff_out.store(local.handoff_out, r);
        counters.handoff_in.store(local.handoff_in, r);
        counters.handoff_drops.store(local.handoff_drops, r);
        counters.handoff_occupancy.store(occupancy as u64, r);
        counters.loops.store(local.loops, r);
        counters.idle_waits.store(local.idle_waits, r);
        // Counters that cost syscalls (a `getsockopt` per port, a read of
        // `/proc`): on a clock, not per loop or per sleep — a worker that
        // sleeps after every small burst would otherwise pay them thousands
        // of times a second.
        if last_stats.is_none_or(|t| now.saturating_sub(t) >= stats_interval) {
            last_stats = Some(now);
            if until_cpu == 0 {
                counters.cpu_ns.store(thread_cpu_ns().unwrap_or(0), r);
                until_cpu = CPU_SAMPLE_EVERY;
            }
            until_cpu -= 1;
            publish_port_stats(io, counters);
        }
        if sleeping {
            local.idle_waits += 1;
            counters.idle_waits.store(local.idle_waits, r);
            io.wait_rx(cfg.idle_timeout).map_err(io_err)?;
        }
    }
    publish_port_stats(io, counters);
    counters
        .cpu_ns
        .store(thread_cpu_ns().unwrap_or(0), Ordering::Relaxed);
    Ok(())
}

/// Lets the processor hand what it queued for other workers to their rings.
#[inline]
fn drain_handoffs<P: Processor>(
    processor: &mut P,
    to: &mut [Option<Producer>],
    local: &mut LocalCounts,
) {
    let mut out = Outlet::new(to);
    processor.drain_handoffs(&mut out);
    local.handoff_out += out.handed;
    local.handoff_drops += out.dropped;
}

/// CPU time the calling thread has run, in ns (first field of
/// `/proc/thread-self/schedstat`). For measurements: figures per unit of
/// CPU stay comparable on a machine shared with other work.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn publish_port_stats<IO: PortIo>(io: &mut IO, counters: &WorkerCounters) {
    let (mut bad, mut ring, mut errors, mut used, mut csum) = (0, 0, 0, 0, 0);
    for port in 0..io.port_count() {
        let s = io.port_stats(port);
        csum += s.rx_csum_completed;
        used = s.rx_ring_used_pct.max(used);
        bad += s.rx_oversize + s.rx_truncated + s.rx_vlan_stripped;
        ring += s.rx_ring_drops;
        errors += s.tx_errors;
    }
    counters.rx_bad_frames.store(bad, Ordering::Relaxed);
    counters.rx_ring_drops.store(ring, Ordering::Relaxed);
    counters.rx_ring_used_pct.store(used, Ordering::Relaxed);
    counters.rx_csum_completed.store(csum, Ordering::Relaxed);
    counters.tx_errors.store(errors, Ordering::Relaxed);
}

/// The do-nothing processor: every frame received on port 0 leaves unchanged
/// on port 1 and vice versa (an L2 wire). Used to verify the ring path on
/// real packets and to measure the I/O ceiling.
#[derive(Debug, Default, Clone)]
pub struct Forwarder {
    /// Steer by the peer hash ([`crate::io::steer`]; port 0 is the outside)
    /// to exercise ownership and handoff; otherwise every frame stays on the
    /// worker that received it.
    pub steer_by_peer_hash: bool,
}

impl OwnerHandoff for Forwarder {}

impl Processor for Forwarder {
    fn steer(&self, port: usize, frame: &[u8]) -> Option<u64> {
        if !self.steer_by_peer_hash {
            return None;
        }
        let side = if port == 0 {
            PeerSide::Source
        } else {
            PeerSide::Destination
        };
        peer_hash(frame, side).map(u64::from)
    }

    fn process(&mut self, _now: u64, port: usize, frame: &mut [u8], tx: &mut TxSink) {
        // A full batch is counted by the sink itself.
        let _ = tx.push(port ^ 1, frame);
    }

    fn tick(&mut self, _now: u64, _tx: &mut TxSink) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::memory::MemoryIo;
    use std::sync::Mutex;

    fn ipv4_frame(src: [u8; 4], dst: [u8; 4], tag: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[59] = tag;
        f
    }

    #[test]
    fn forwarder_steers_both_directions_of_a_flow_alike() {
        let fw = Forwarder {
            steer_by_peer_hash: true,
        };
        let a = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 0);
        let b = ipv4_frame([10, 0, 0, 2], [10, 0, 0, 1], 0);
        assert_eq!(fw.steer(0, &a), fw.steer(1, &b));
        assert!(fw.steer(0, &[0u8; 20]).is_none());
        let c = ipv4_frame([10, 0, 0, 3], [10, 0, 0, 2], 0);
        assert_ne!(fw.steer(0, &a), fw.steer(0, &c));
        assert!(Forwarder::default().steer(0, &a).is_none());
    }

    /// Two workers on in-memory ports: every frame is injected at worker 0;
    /// frames of flows owned by worker 1 cross the handoff ring and leave on
    /// worker 1's port. Nothing is lost, nothing changes.
    fn run_two_workers(
        frames: &[Vec<u8>],
        handoff_capacity: usize,
    ) -> (Vec<Vec<u8>>, CounterSnapshot) {
        let mut first = MemoryIo::new(2);
        for f in frames {
            first.inject(0, f);
        }
        let ios = Arc::new(Mutex::new(vec![Some(first), Some(MemoryIo::new(2))]));
        let cfg = WorkerConfig {
            workers: 2,
            handoff_capacity,
            idle_timeout: Duration::from_micros(100),
            ..WorkerConfig::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ios2 = ios.clone();
        let workers = Workers::spawn(cfg, stop, move |i| {
            let io = ios2.lock().unwrap()[i].take().ok_or(WorkerError::Setup {
                worker: i,
                reason: "no io".into(),
            })?;
            Ok((
                io,
                Forwarder {
                    steer_by_peer_hash: true,
                },
            ))
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = workers.totals();
            if t.tx + t.handoff_drops >= frames.len() as u64 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let totals = workers.totals();
        let done = workers.join().unwrap();
        let mut out = Vec::new();
        for (mut io, _) in done {
            out.extend(io.take_transmitted(1));
            assert!(io.transmitted(0).is_empty());
        }
        (out, totals)
    }

    #[test]
    fn two_workers_hand_off_and_forward_every_frame_unchanged() {
        let mut frames = Vec::new();
        for i in 0..500u32 {
            let host = (i % 50) as u8;
            frames.push(ipv4_frame(
                [198, 51, 100, host],
                [10, 10, 10, 2],
                (i % 251) as u8,
            ));
        }
        let (mut out, totals) = run_two_workers(&frames, 1024);
        assert_eq!(totals.rx, 500);
        assert_eq!(totals.tx, 500);
        assert_eq!(totals.handoff_drops, 0);
        assert!(totals.handoff_out > 0 && totals.handoff_out < 500);
        assert_eq!(totals.handoff_in, totals.handoff_out);
        let mut want = frames.clone();
        want.sort();
        out.sort();
        assert_eq!(out, want);
    }

    #[test]
    fn handoff_overflow_is_a_counted_drop() {
        // One flow owned by worker 1 and a 2-slot ring: the burst of 64
        // overflows it; drops are counted, frames that made it are intact.
        let fw = Forwarder {
            steer_by_peer_hash: true,
        };
        let mut src = [198, 51, 100, 0];
        while fw.steer(0, &ipv4_frame(src, [10, 10, 10, 2], 0)).unwrap() % 2 != 1 {
            src[3] += 1;
        }
        let frames: Vec<Vec<u8>> = (0..64)
            .map(|i| ipv4_frame(src, [10, 10, 10, 2], i))
            .collect();
        let (out, totals) = run_two_workers(&frames, 2);
        assert_eq!(totals.rx, 64);
        assert_eq!(totals.handoff_out + totals.handoff_drops, 64);
        // At least 62 when worker 1 pops nothing while worker 0 pushes the
        // burst; a spinning worker 1 may pop a few slots free meanwhile (more
        // on a loaded machine, where worker 0 can be preempted mid-burst).
        assert!(
            totals.handoff_drops >= 32,
            "{} of 64 dropped",
            totals.handoff_drops
        );
        assert_eq!(out.len() as u64, totals.tx);
        assert_eq!(
            totals.tx, totals.handoff_out,
            "every frame handed over left"
        );
        assert!(out.iter().all(|f| frames.contains(f)));
    }

    /// Counts `port_stats` calls (each a syscall on AF_PACKET).
    struct CountingIo {
        inner: MemoryIo,
        stats_calls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl PortIo for CountingIo {
        fn port_count(&self) -> usize {
            self.inner.port_count()
        }
        fn rx_burst<F>(&mut self, port: usize, f: F) -> Result<usize, IoError>
        where
            F: FnOnce(&mut [&mut [u8]]),
        {
            self.inner.rx_burst(port, f)
        }
        fn tx_flush(&mut self, tx: &mut TxSink) -> Result<usize, IoError> {
            self.inner.tx_flush(tx)
        }
        fn wait_rx(&mut self, timeout: Duration) -> Result<bool, IoError> {
            self.inner.wait_rx(timeout)
        }
        fn port_stats(&mut self, port: usize) -> crate::io::PortStats {
            self.stats_calls.fetch_add(1, Ordering::Relaxed);
            self.inner.port_stats(port)
        }
    }

    #[test]
    fn costly_counters_are_sampled_on_a_clock_not_per_sleep() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cfg = WorkerConfig {
            idle_spins: 1,
            idle_timeout: Duration::from_millis(1),
            stats_interval: Duration::from_millis(40),
            ..WorkerConfig::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(WorkerCounters::default());
        let (c, st, n) = (counters.clone(), stop.clone(), calls.clone());
        let worker = std::thread::spawn(move || {
            let mut io = CountingIo {
                inner: MemoryIo::new(2),
                stats_calls: n,
            };
            let links = mesh(1, 4).pop().unwrap();
            run_worker(&cfg, links, &mut io, &mut Forwarder::default(), &c, &st)
        });
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        worker.join().unwrap().unwrap();
        let sleeps = counters.idle_waits.load(Ordering::Relaxed);
        let samples = calls.load(Ordering::Relaxed) / 2;
        // At most one sample per 40 ms (plus the first and the one at exit),
        // however often the worker slept.
        assert!(sleeps > 40, "the worker slept {sleeps} times");
        assert!((2..=8).contains(&samples), "{samples} samples in 200 ms");
    }

    #[test]
    fn setup_runs_in_worker_order_so_fanout_members_match_workers() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let cfg = WorkerConfig {
            workers: 4,
            ..WorkerConfig::default()
        };
        let w = Workers::spawn(cfg, Arc::new(AtomicBool::new(false)), move |i| {
            // Later workers sleep less: without ordering they would finish first.
            std::thread::sleep(Duration::from_millis(4 * (4 - i as u64)));
            o.lock().unwrap().push(i);
            Ok((MemoryIo::new(2), Forwarder::default()))
        })
        .unwrap();
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(w.join().unwrap().len(), 4);
    }

    #[test]
    fn setup_error_stops_everything_and_is_reported() {
        let stop = Arc::new(AtomicBool::new(false));
        let cfg = WorkerConfig {
            workers: 2,
            ..WorkerConfig::default()
        };
        let r = Workers::<MemoryIo, Forwarder>::spawn(cfg, stop.clone(), |i| {
            if i == 1 {
                Err(WorkerError::Setup {
                    worker: 1,
                    reason: "no such port".into(),
                })
            } else {
                Ok((MemoryIo::new(2), Forwarder::default()))
            }
        });
        assert!(matches!(r, Err(WorkerError::Setup { worker: 1, .. })));
        assert!(stop.load(Ordering::Relaxed));
        let none = Workers::<MemoryIo, Forwarder>::spawn(
            WorkerConfig {
                workers: 0,
                ..WorkerConfig::default()
            },
            stop,
            |_| Ok((MemoryIo::new(2), Forwarder::default())),
        );
        assert!(matches!(none, Err(WorkerError::NoWorkers)));
    }
}
