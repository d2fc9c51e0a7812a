//! State shared by all workers and the control thread.
//!
//! Nothing here is touched per established-flow packet except through the
//! worker's own `Arc<Runtime>` copy: the runtime is swapped by generation
//! number (one relaxed load per burst), the half-open registry is taken only
//! on session creation and half-open transitions, the neighbour table only
//! on ARP traffic and for next hops a session has not cached yet (or whose
//! cached MAC the neighbour generation, an atomic read without the lock,
//! says is stale), and the report slots only when the control thread asks
//! for a snapshot.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use flowtable::{HalfOpenConfig, HalfOpenRegistry, Nanos, RegistrySizing};
use smtp_engine::SmtpStats;

use crate::drop_reason::DropCounters;
use crate::logging::DebugFlags;
use crate::reassembly::VfrCounters;
use crate::routing::{IcmpErrorLimiter, NeighbourConfig, NeighbourTable};
use crate::runtime::{Runtime, MAX_PORTS};
use crate::show::SessionSnapshot;
use crate::stream::StreamCounters;

/// Per-port traffic counters of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted (forwarded or originated).
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames received on this port and dropped.
    pub drops: u64,
}

impl PortCounters {
    /// Adds another worker's figures.
    pub fn add(&mut self, o: &PortCounters) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.drops += o.drops;
    }
}

/// Packet counts by protocol for `show ip inspect statistics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolPackets {
    /// Inspected TCP packets (sessions without an application inspector).
    pub tcp: u64,
    /// SMTP-inspected packets.
    pub smtp: u64,
    /// UDP packets of sessions.
    pub udp: u64,
    /// ICMP packets of sessions.
    pub icmp: u64,
}

impl ProtocolPackets {
    /// Adds another worker's figures.
    pub fn add(&mut self, o: &ProtocolPackets) {
        self.tcp += o.tcp;
        self.smtp += o.smtp;
        self.udp += o.udp;
        self.icmp += o.icmp;
    }
}

/// One port's virtual-reassembly state on one worker (`show ip
/// virtual-reassembly`); all zero where the interface has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VfrReport {
    /// Datagrams under reassembly now (poisoned ones included).
    pub reassemblies: u64,
    /// Fragments held by them.
    pub fragments: u64,
    /// Counters since the table was built.
    pub counters: VfrCounters,
}

impl VfrReport {
    /// Adds another worker's figures.
    pub fn add(&mut self, o: &VfrReport) {
        self.reassemblies += o.reassemblies;
        self.fragments += o.fragments;
        self.counters.add(&o.counters);
    }
}

/// What one worker reports when the control thread asks.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// Live sessions.
    pub sessions: Vec<SessionSnapshot>,
    /// Drops by reason.
    pub drops: DropCounters,
    /// Per-port counters.
    pub ports: [PortCounters; MAX_PORTS],
    /// Access-list entry hits: per access list (compiled order), per entry.
    pub acl_hits: Vec<Vec<u64>>,
    /// SMTP inspector counters.
    pub smtp: SmtpStats,
    /// Stream-integrity counters.
    pub stream: StreamCounters,
    /// Packets by inspected protocol.
    pub packets: ProtocolPackets,
    /// Sessions created by this worker.
    pub creations: u64,
    /// Last session creation (monotonic ns), 0 = never.
    pub last_created_ns: u64,
    /// Established / half-open / terminating now.
    pub counts: [u64; 3],
    /// Most sessions in each of those states at once (this worker).
    pub maxever: [u64; 3],
    /// The session table's memory: bytes on huge pages, bytes on ordinary
    /// pages (the kernel may refuse `MADV_HUGEPAGE`; operators want to know).
    pub table_memory: [u64; 2],
    /// Virtual reassembly per port.
    pub vfr: [VfrReport; MAX_PORTS],
}

/// Shared state of one running firewall.
#[derive(Debug)]
pub struct Shared {
    runtime: Mutex<Arc<Runtime>>,
    generation: AtomicU64,
    /// The global half-open registry (`cbac-sessions.md` §7).
    pub halfopen: HalfOpenRegistry,
    /// Neighbour (ARP) cache shared by the workers.
    pub neighbours: Mutex<NeighbourTable>,
    /// Rate limit of router-originated ICMP errors.
    pub icmp_errors: IcmpErrorLimiter,
    /// `debug ip inspect` switches.
    pub debug: Arc<DebugFlags>,
    /// Number of workers.
    pub workers: usize,
    /// Wall clock (Unix ns) minus monotonic ns, for log timestamps.
    pub wall_offset_ns: u64,
    /// Next session id.
    next_session_id: AtomicU32,
    /// Snapshot requests (generation) and each worker's answered generation.
    request: AtomicU64,
    answered: Vec<AtomicU64>,
    reports: Vec<Mutex<WorkerReport>>,
    /// Statistics reset time (monotonic ns; 0 = never).
    pub stats_reset_ns: AtomicU64,
}

fn halfopen_config(rt: &Runtime) -> HalfOpenConfig {
    let g = &rt.compiled.globals;
    HalfOpenConfig {
        max_incomplete_high: u64::from(g.max_incomplete_high),
        max_incomplete_low: u64::from(g.max_incomplete_low),
        one_minute_high: u64::from(g.one_minute_high),
        one_minute_low: u64::from(g.one_minute_low),
        host_limit: u64::from(g.max_incomplete_host).max(1),
        block_time_minutes: u64::from(g.block_time_minutes),
        period: Nanos::from_secs(60),
    }
}

impl Shared {
    /// Shared state for `workers` workers starting at monotonic time `now`.
    pub fn new(
        runtime: Runtime,
        workers: usize,
        sessions_per_worker: u32,
        now: u64,
        wall_offset_ns: u64,
        debug: Arc<DebugFlags>,
    ) -> Result<Shared, String> {
        let halfopen = HalfOpenRegistry::new(
            halfopen_config(&runtime),
            RegistrySizing {
                workers: workers as u16,
                capacity: sessions_per_worker.saturating_mul(workers as u32),
                hosts: 4096,
                events: 1024,
            },
            Nanos(now),
        )
        .map_err(|e| e.to_string())?;
        let interfaces = runtime.interfaces.len().max(1);
        let generation = runtime.generation;
        Ok(Shared {
            runtime: Mutex::new(Arc::new(runtime)),
            generation: AtomicU64::new(generation),
            halfopen,
            neighbours: Mutex::new(NeighbourTable::new(NeighbourConfig::default())),
            icmp_errors: IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, interfaces),
            debug,
            workers,
            wall_offset_ns,
            next_session_id: AtomicU32::new(0x6300_F000),
            request: AtomicU64::new(0),
            answered: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            reports: (0..workers)
                .map(|_| Mutex::new(WorkerReport::default()))
                .collect(),
            stats_reset_ns: AtomicU64::new(0),
        })
    }

    /// The runtime in force.
    pub fn runtime(&self) -> Arc<Runtime> {
        Arc::clone(&lock(&self.runtime))
    }

    /// Generation of the runtime in force (one relaxed load).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Installs a new runtime (configuration change). Live sessions keep
    /// what they recorded at creation; the half-open thresholds apply at once.
    pub fn install(&self, runtime: Runtime) -> Result<(), String> {
        self.halfopen
            .set_config(halfopen_config(&runtime))
            .map_err(|e| e.to_string())?;
        let generation = runtime.generation;
        *lock(&self.runtime) = Arc::new(runtime);
        self.generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// A fresh session id.
    #[inline]
    pub fn session_id(&self) -> u32 {
        self.next_session_id.fetch_add(8, Ordering::Relaxed)
    }

    /// Whether the control thread asked for a report newer than the one
    /// worker `w` gave.
    #[inline]
    pub fn report_wanted(&self, w: usize) -> Option<u64> {
        let req = self.request.load(Ordering::Acquire);
        let done = self.answered.get(w)?.load(Ordering::Relaxed);
        (req > done).then_some(req)
    }

    /// Stores worker `w`'s answer to request `req`.
    pub fn put_report(&self, w: usize, req: u64, report: WorkerReport) {
        if let (Some(slot), Some(done)) = (self.reports.get(w), self.answered.get(w)) {
            *lock(slot) = report;
            done.store(req, Ordering::Release);
        }
    }

    /// Asks every worker for a report and waits (bounded) for the answers.
    /// Workers that do not answer in time (stopped, stuck) contribute their
    /// last report.
    pub fn collect_reports(&self, timeout: std::time::Duration) -> Vec<WorkerReport> {
        let req = self.request.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline
            && self
                .answered
                .iter()
                .any(|a| a.load(Ordering::Acquire) < req)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.reports.iter().map(|r| lock(r).clone()).collect()
    }
}

/// Locks a mutex, recovering from poisoning (a panicking holder leaves the
/// data usable: counters and caches, never invariants across fields).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
