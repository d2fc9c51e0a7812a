//! `mailguard run`: puts the pieces together and keeps them running until
//! SIGINT/SIGTERM.
//!
//! Order of start-up, each step failing fast with a clear message: load the
//! configuration atomically (every error with line and column), find each
//! `--map`ped host device and its MAC, build the runtime and the shared
//! state, start the logger, bind the control socket, start the pinned
//! workers (each opens its own AF_PACKET rings and builds its
//! [`Firewall`] in its thread), then the metrics endpoint. SIGHUP reloads the
//! configuration file atomically (a file with errors leaves the running
//! configuration in force); `configure LINE` on the control socket changes it
//! line by line. Neither drops a live session (`cbac-sessions.md` §9).
//!
//! Shutdown runs the other way round, so the log gets every line the workers
//! queued before they stopped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam::utils::CachePadded;

use crate::config::Config;
use crate::control::{ControlError, ControlServer};
use crate::control_handler::{normalise_name, signature_hits, Handler, LoggingView, ReportTotals};
use crate::drop_reason::{DropCounters, DropReason};
use crate::io::afpacket::{AfPacketIo, Fanout, FanoutMode, PortConfig, RingConfig};
use crate::io::steer::PeerSide;
use crate::logging::{
    open_sink, wall_clock_ns, ConfigVia, DebugFlags, IosTimestamp, LogQueues, Logger, LoggerConfig,
    SyslogSender, SystemEvent,
};
use crate::metrics::{
    MetricsServer, MetricsSnapshot, RingOccupancy, SessionCounts, SmtpCounters, VfrMetrics,
    WorkerMetrics,
};
use crate::pipeline::{Firewall, FirewallSizing};
use crate::runtime::{PortBinding, Runtime, RuntimeError};
use crate::shared::Shared;
use crate::wire::ethernet::Mac;
use crate::worker::{monotonic_ns, WorkerConfig, WorkerCounters, WorkerError, Workers};

/// The seed configuration (`seed-scenario.md`), used for `--config seed`.
pub const SEED_CONFIG: &str = include_str!("../../fixtures/seed.cfg");

/// Records each log queue holds before it counts overflow.
const LOG_QUEUE: usize = 4096;

/// How often the main thread looks at the signal flags.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The embedded seed configuration.
    Seed,
    /// A running-config file.
    File(PathBuf),
}

impl ConfigSource {
    /// `seed` names the embedded configuration, anything else a file.
    pub fn from_arg(arg: &str) -> ConfigSource {
        if arg == "seed" {
            ConfigSource::Seed
        } else {
            ConfigSource::File(PathBuf::from(arg))
        }
    }

    /// The configuration text.
    pub fn read(&self) -> Result<String, EngineError> {
        match self {
            ConfigSource::Seed => Ok(SEED_CONFIG.to_string()),
            ConfigSource::File(p) => {
                std::fs::read_to_string(p).map_err(|source| EngineError::ConfigRead {
                    path: p.clone(),
                    source,
                })
            }
        }
    }

    /// How log messages name it.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::Seed => "the seed configuration".into(),
            ConfigSource::File(p) => p.display().to_string(),
        }
    }
}

/// One `--map IOSNAME=LINUXIF`, the IOS name normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// IOS interface (`Ethernet2/0`).
    pub ios_name: String,
    /// Host network device (`e20`).
    pub linux_name: String,
}

/// Parses `IOSNAME=LINUXIF` (`e2/0=e20` is accepted and normalised).
pub fn parse_map(arg: &str) -> Result<PortMap, String> {
    let (ios, linux) = arg
        .split_once('=')
        .ok_or_else(|| format!("'{arg}': expected IOSNAME=LINUXIF"))?;
    let ios_name =
        normalise_name(ios.trim()).ok_or_else(|| format!("'{ios}': not an IOS interface name"))?;
    let linux_name = linux.trim();
    if linux_name.is_empty()
        || linux_name.len() > 15
        || linux_name.contains(['/', ' ', '\0'])
        || linux_name == "."
        || linux_name == ".."
    {
        return Err(format!("'{linux}': not a network device name"));
    }
    Ok(PortMap {
        ios_name,
        linux_name: linux_name.to_string(),
    })
}

/// Everything `mailguard run` takes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--config`.
    pub config: ConfigSource,
    /// `--map`, in port order.
    pub maps: Vec<PortMap>,
    /// `--workers`.
    pub workers: usize,
    /// `--cores`; `None` = the last `workers` cores.
    pub cores: Option<Vec<usize>>,
    /// `--sessions`: session-table size of each worker.
    pub sessions: u32,
    /// `--control`.
    pub control: PathBuf,
    /// `--log`; `None` = stderr.
    pub log: Option<PathBuf>,
    /// `--syslog HOST:PORT`.
    pub syslog: Option<String>,
    /// `--metrics ADDR:PORT`.
    pub metrics: Option<SocketAddr>,
}

/// Why `mailguard run` could not start (or stopped badly).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration has errors (every one, with line and column).
    #[error("{0}")]
    Config(String),
    /// A `--map`ped network device does not exist or has no MAC address.
    #[error("--map {ios}={device}: {reason}")]
    Device {
        /// IOS interface.
        ios: String,
        /// Host device.
        device: String,
        /// What is wrong.
        reason: String,
    },
    /// No `--map` given.
    #[error("no --map IOSNAME=LINUXIF given: the firewall would have no ports")]
    NoPorts,
    /// The configuration cannot be bound to the ports.
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    /// Shared state, logger or signal set-up failed.
    #[error("{0}")]
    Setup(String),
    /// The workers failed.
    #[error("{0}")]
    Worker(#[from] WorkerError),
    /// The control socket could not be bound.
    #[error("{0}")]
    Control(#[from] ControlError),
    /// The metrics endpoint could not be bound.
    #[error("--metrics {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Loads a configuration text atomically; on errors, the whole report.
pub fn load_config(
    text: &str,
    source: &ConfigSource,
) -> Result<(Config, Vec<String>), EngineError> {
    match Config::load(text) {
        Ok((cfg, warnings)) => Ok((cfg, warnings.iter().map(ToString::to_string).collect())),
        Err(errors) => Err(EngineError::Config(format!(
            "{}: {}",
            source.describe(),
            errors.to_string().trim_end()
        ))),
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(Mac(mac))
}

/// The MAC address of host device `device` (`/sys/class/net/DEV/address`).
pub fn device_mac(map: &PortMap) -> Result<Mac, EngineError> {
    let err = |reason: String| EngineError::Device {
        ios: map.ios_name.clone(),
        device: map.linux_name.clone(),
        reason,
    };
    let dir = Path::new("/sys/class/net").join(&map.linux_name);
    if !dir.exists() {
        return Err(err(format!(
            "no such network device '{}' in this network namespace",
            map.linux_name
        )));
    }
    let text = std::fs::read_to_string(dir.join("address"))
        .map_err(|e| err(format!("cannot read its MAC address: {e}")))?;
    parse_mac(&text).ok_or_else(|| err(format!("no Ethernet MAC address ('{}')", text.trim())))
}

/// The default cores: the last `workers` ones (core 0 and its neighbours
/// are left to the kernel and the other threads).
pub fn default_cores(workers: usize, available: &[usize]) -> Vec<usize> {
    if available.is_empty() {
        return Vec::new();
    }
    let n = workers.min(available.len());
    available[available.len() - n..].to_vec()
}

/// The cores to pin the workers to: `--cores` checked against the cores
/// this process may run on, or the last `workers` of them.
pub fn choose_cores(
    requested: Option<&[usize]>,
    workers: usize,
    available: &[usize],
) -> Result<Vec<usize>, String> {
    match requested {
        None => Ok(default_cores(workers, available)),
        Some(list) => {
            if let Some(bad) = list
                .iter()
                .find(|c| !available.is_empty() && !available.contains(c))
            {
                return Err(format!(
                    "--cores: core {bad} is not available (this process may use {available:?})"
                ));
            }
            Ok(list.to_vec())
        }
    }
}

/// Prints an IOS-style system message on stderr.
fn notice(text: &str) {
    eprintln!("{}: {text}", IosTimestamp(wall_clock_ns()));
}

/// Virtual reassembly of every bound interface that has it.
fn vfr_metrics(rt: &Runtime, totals: &ReportTotals) -> Vec<VfrMetrics> {
    rt.ports
        .iter()
        .zip(&totals.vfr)
        .filter(|(b, _)| {
            rt.config
                .interface(&b.ios_name)
                .is_some_and(|i| i.virtual_reassembly.is_some())
        })
        .map(|(b, r)| {
            let c = &r.counters;
            VfrMetrics {
                interface: b.ios_name.clone(),
                reassemblies: r.reassemblies,
                fragments_held: r.fragments,
                fragments: c.fragments,
                reassembled: c.reassembled,
                timeouts: c.timeouts,
                drops: vec![
                    ("not_a_fragment", c.drop_not_a_fragment),
                    ("drop_fragments", c.drop_drop_fragments),
                    ("malformed", c.drop_malformed),
                    ("table_full", c.drop_table_full),
                    ("too_many_fragments", c.drop_too_many_fragments),
                    ("overlap", c.drop_overlap),
                    ("duplicate", c.drop_duplicate),
                    ("oversize", c.drop_oversize),
                    ("inconsistent", c.drop_inconsistent),
                    ("poisoned", c.drop_poisoned),
                ],
            }
        })
        .collect()
}

/// The figures `/metrics` shows, gathered now.
pub fn gather_metrics(
    shared: &Shared,
    counters: &[CachePadded<WorkerCounters>],
    handoff_capacity: usize,
    logging: &LoggingView,
) -> MetricsSnapshot {
    static DROP_NAMES: [&str; DropReason::COUNT] = drop_names();
    let reports = shared.collect_reports(Duration::from_millis(200));
    let totals = ReportTotals::sum(&reports);
    let snap = shared.halfopen.snapshot();
    let mut drops = DropCounters::default();
    let workers = counters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let c = c.snapshot();
            let r = reports.get(i);
            if let Some(r) = r {
                drops.add(&r.drops);
            }
            let bytes = |f: fn(&crate::shared::PortCounters) -> u64| {
                r.map_or(0, |r| r.ports.iter().map(f).sum())
            };
            WorkerMetrics {
                rx_packets: c.rx,
                tx_packets: c.tx,
                rx_bytes: bytes(|p| p.rx_bytes),
                tx_bytes: bytes(|p| p.tx_bytes),
                handoff_sent: c.handoff_out,
                handoff_received: c.handoff_in,
                handoff_dropped: c.handoff_drops,
                rings: vec![RingOccupancy {
                    ring: "handoff".into(),
                    used: c.handoff_occupancy,
                    capacity: (handoff_capacity * counters.len().saturating_sub(1)) as u64,
                }],
                drops: r.map_or_else(|| vec![0; DropReason::COUNT], |r| r.drops.0.to_vec()),
            }
        })
        .collect();
    let stream = reports
        .iter()
        .fold(crate::stream::StreamCounters::default(), |mut a, r| {
            a.add(&r.stream);
            a
        });
    let s = &totals.smtp;
    let logging_totals = logging.totals();
    MetricsSnapshot {
        drop_reasons: &DROP_NAMES,
        workers,
        sessions: SessionCounts {
            established: totals.counts[0],
            half_open: totals.counts[1],
            terminating: totals.counts[2],
        },
        session_creations: totals.creations,
        session_table_full: drops.0[DropReason::TableFull.index()],
        session_table_bytes: totals.table_memory,
        half_open: snap.halfopen,
        one_minute_rate: snap.rate,
        aggressive_mode: snap.aggressive,
        aggressive_mode_entered: snap.aggressive_entered,
        hosts_blocked: snap.hosts_blocked,
        half_open_deleted: vec![
            ("synwait", snap.deleted.synwait),
            ("aggressive", snap.deleted.aggressive),
            ("host", snap.deleted.host),
            ("block", snap.deleted.block),
        ],
        alerts: logging.stats.emitted_by_kind(),
        smtp: SmtpCounters {
            sessions: s.sessions,
            cmd_lines: s.cmd_lines,
            cmd_masked: s.cmd_masked,
            ehlo_keywords_masked: s.ehlo_keywords_masked,
            param_violations: s.param_violations,
            sig_hits: signature_hits(s),
            reply_close: s.reply_close,
            max_data_closes: s.max_data_closes,
            withheld_bytes: s.withheld_bytes,
            bare_lf_cmd: s.bare_lf_cmd,
            bare_cr_rewritten: s.bare_cr_rewritten,
            data_bare_eol_rewritten: s.data_bare_eol_rewritten,
            reply_malformed: s.reply_malformed,
            tcp_ooo_queued: stream.tcp_ooo_queued,
            tcp_ooo_dropped: stream.tcp_ooo_dropped,
            tcp_retrans_mismatch: stream.tcp_retrans_mismatch,
        },
        logging: logging_totals,
        vfr: vfr_metrics(&shared.runtime(), &totals),
    }
}

const fn drop_names() -> [&'static str; DropReason::COUNT] {
    let mut names = [""; DropReason::COUNT];
    let mut i = 0;
    while i < DropReason::COUNT {
        names[i] = DropReason::ALL[i].name();
        i += 1;
    }
    names
}

/// Reloads the configuration from `source` (SIGHUP): all or nothing. The
/// outcome is logged (`%SYS-5-CONFIG_I` / `%SYS-3-CONFIG_FAILED`); the
/// warnings and each error's line and column go to stderr.
fn reload(handler: &Handler, source: &ConfigSource) {
    let text = match source.read() {
        Ok(t) => t,
        Err(e) => {
            notice(&e.to_string());
            handler.log_system(SystemEvent::ReloadRejected { errors: 1 });
            return;
        }
    };
    match Config::load(&text) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                notice(&w.to_string());
            }
            if let Err(e) = handler.replace_config(cfg, ConfigVia::File) {
                notice(&format!("{}: {e}", source.describe()));
                handler.log_system(SystemEvent::ReloadRejected { errors: 1 });
            }
        }
        Err(errors) => {
            for e in &errors.errors {
                notice(&format!("{}: {e}", source.describe()));
            }
            handler.log_system(SystemEvent::ReloadRejected {
                errors: u32::try_from(errors.errors.len()).unwrap_or(u32::MAX),
            });
        }
    }
}

/// Signal flags set by the handlers `signal-hook` installs.
struct Signals {
    stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn install() -> Result<Signals, EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let hup = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        let setup = |e: std::io::Error| EngineError::Setup(format!("signal handlers: {e}"));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            ids.push(signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(setup)?);
        }
        ids.push(
            signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
                .map_err(setup)?,
        );
        Ok(Signals { stop, hup, ids })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Runs the firewall until SIGINT or SIGTERM.
pub fn run(opts: RunOptions) -> Result<(), EngineError> {
    let signals = Signals::install()?;
    run_until(opts, &signals.stop, Some(&signals.hup))
}

/// [`run`] with explicit flags: stops when `stop` becomes true, reloads the
/// configuration whenever `hup` becomes true.
pub fn run_until(
    opts: RunOptions,
    stop: &AtomicBool,
    hup: Option<&AtomicBool>,
) -> Result<(), EngineError> {
    if opts.workers == 0 {
        return Err(EngineError::Worker(WorkerError::NoWorkers));
    }
    // 1. Configuration, atomically.
    let text = opts.config.read()?;
    let (config, warnings) = load_config(&text, &opts.config)?;
    for w in &warnings {
        eprintln!("{w}");
    }
    // 2. Ports: every device must exist here and now.
    if opts.maps.is_empty() {
        return Err(EngineError::NoPorts);
    }
    let mut bindings = Vec::with_capacity(opts.maps.len());
    for map in &opts.maps {
        if config.interface(&map.ios_name).is_none() {
            return Err(EngineError::Runtime(RuntimeError::UnknownInterface(
                map.ios_name.clone(),
            )));
        }
        if bindings
            .iter()
            .any(|b: &PortBinding| b.linux_name == map.linux_name)
        {
            return Err(EngineError::Device {
                ios: map.ios_name.clone(),
                device: map.linux_name.clone(),
                reason: "device already mapped to another interface".into(),
            });
        }
        let mac = device_mac(map)?;
        bindings.push(PortBinding {
            ios_name: map.ios_name.clone(),
            linux_name: map.linux_name.clone(),
            mac,
        });
    }
    for w in config.binding_warnings(|name| bindings.iter().any(|b| b.ios_name == name)) {
        eprintln!("{w}");
    }
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let cores = choose_cores(opts.cores.as_deref(), opts.workers, &available)
        .map_err(EngineError::Setup)?;
    // 3. Runtime and shared state.
    let now = monotonic_ns();
    let wall_offset = wall_clock_ns().saturating_sub(now);
    let runtime = Runtime::build(config.clone(), bindings.clone(), 1)?;
    let sides: Vec<PeerSide> = (0..bindings.len()).map(|p| runtime.peer_side(p)).collect();
    let hostname = runtime.config.hostname.clone();
    let debug = Arc::new(DebugFlags::new());
    let shared = Arc::new(
        Shared::new(
            runtime,
            opts.workers,
            opts.sessions,
            now,
            wall_offset,
            Arc::clone(&debug),
        )
        .map_err(|e| EngineError::Setup(format!("shared state: {e}")))?,
    );
    // 4. Logger: one queue per worker and one for the engine.
    let (mut producers, queues) = LogQueues::new(opts.workers + 1, LOG_QUEUE, debug);
    let sink = open_sink(opts.log.as_deref()).map_err(|e| {
        EngineError::Setup(format!(
            "--log {}: {e}",
            opts.log.as_deref().unwrap_or(Path::new("-")).display()
        ))
    })?;
    let mut log_config = LoggerConfig::new(sink);
    if let Some(target) = &opts.syslog {
        // Informational and above: debug lines stay in the log file.
        log_config.syslog = Some(
            SyslogSender::connect(target, &hostname, 6)
                .map_err(|e| EngineError::Setup(format!("--syslog {target}: {e}")))?,
        );
    }
    let logger = Logger::spawn(crate::logging::LogWriter::new(queues, log_config))
        .map_err(|e| EngineError::Setup(format!("logger thread: {e}")))?;
    let logging = LoggingView {
        stats: logger.stats(),
        queues: logger.queue_counters(),
        destination: opts
            .log
            .as_ref()
            .map_or_else(|| "stderr".to_string(), |p| p.display().to_string()),
        syslog: opts.syslog.clone(),
    };
    // 5. Control socket.
    let engine_log = producers
        .pop()
        .ok_or_else(|| EngineError::Setup("no log queue".into()))?;
    let handler = Arc::new(
        Handler::new(Arc::clone(&shared), config, bindings.clone())
            .with_logging(logging.clone())
            .with_log(engine_log),
    );
    let control = match ControlServer::bind(&opts.control, handler.clone()) {
        Ok(c) => c,
        Err(e) => {
            logger.shutdown();
            return Err(e.into());
        }
    };
    // 6. Workers.
    let worker_config = WorkerConfig {
        workers: opts.workers,
        cores,
        ..WorkerConfig::default()
    };
    let handoff_capacity = worker_config.handoff_capacity;
    let slots: Mutex<Vec<Option<crate::logging::LogProducer>>> =
        Mutex::new(producers.into_iter().map(Some).collect());
    let workers = opts.workers;
    let group_base = (std::process::id() as u16).wrapping_mul(crate::runtime::MAX_PORTS as u16);
    let port_configs: Vec<PortConfig> = bindings
        .iter()
        .zip(&sides)
        .enumerate()
        .map(|(k, (b, side))| PortConfig {
            ifname: b.linux_name.clone(),
            ring: RingConfig::default(),
            fanout: (workers > 1).then_some(Fanout {
                group_id: group_base.wrapping_add(k as u16),
                mode: FanoutMode::PeerHash(*side),
            }),
        })
        .collect();
    let worker_shared = Arc::clone(&shared);
    let sizing = FirewallSizing {
        sessions: opts.sessions,
        ..FirewallSizing::default()
    };
    let spawned = Workers::spawn(worker_config, Arc::new(AtomicBool::new(false)), move |i| {
        let setup = |reason: String| WorkerError::Setup { worker: i, reason };
        let log = crate::shared::lock(&slots)
            .get_mut(i)
            .and_then(Option::take)
            .ok_or_else(|| setup("no log queue".into()))?;
        let io = AfPacketIo::open(&port_configs)
            .map_err(|source| WorkerError::Io { worker: i, source })?;
        let mut fw = Firewall::new(
            i as u16,
            Arc::clone(&worker_shared),
            log,
            sizing,
            monotonic_ns(),
        )
        .map_err(setup)?;
        // Egress MTU: the lower of each device's and the configuration's.
        for port in 0..port_configs.len() {
            if let Some(mtu) = io.mtu(port) {
                fw.set_device_mtu(port, mtu);
            }
        }
        Ok((io, fw))
    });
    let workers_running = match spawned {
        Ok(w) => w,
        Err(e) => {
            control.shutdown();
            logger.shutdown();
            return Err(e.into());
        }
    };
    // 7. Metrics.
    let metrics = match opts.metrics {
        Some(addr) => {
            let counters = workers_running.counters();
            let shared = Arc::clone(&shared);
            let logging = logging.clone();
            let source: crate::metrics::SnapshotSource =
                Arc::new(move || gather_metrics(&shared, &counters, handoff_capacity, &logging));
            match MetricsServer::bind(addr, source) {
                Ok(m) => Some(m),
                Err(source) => {
                    control.shutdown();
                    let _ = workers_running.join();
                    logger.shutdown();
                    return Err(EngineError::Metrics { addr, source });
                }
            }
        }
        None => None,
    };
    handler.log_system(SystemEvent::Started {
        workers: u16::try_from(opts.workers).unwrap_or(u16::MAX),
        ports: u8::try_from(bindings.len()).unwrap_or(u8::MAX),
    });
    // 8. Wait for a signal; watch that every worker keeps looping.
    let counters = workers_running.counters();
    let mut watchdog = Watchdog::new(counters.len());
    let mut stalled = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(SIGNAL_POLL);
        if let Some(h) = hup {
            if h.swap(false, Ordering::Relaxed) {
                reload(&handler, &opts.config);
            }
        }
        let loops: Vec<u64> = counters
            .iter()
            .map(|c| c.loops.load(Ordering::Relaxed))
            .collect();
        if let Some(w) = watchdog.check(&loops, std::time::Instant::now()) {
            handler.log_system(SystemEvent::WorkerStalled {
                worker: u16::try_from(w).unwrap_or(u16::MAX),
            });
            stalled = Some(w);
            break;
        }
    }
    // 9. Shutdown, in reverse.
    handler.log_system(SystemEvent::Stopping);
    control.shutdown();
    if let Some(m) = metrics {
        m.shutdown();
    }
    let joined = workers_running.join();
    drop(handler);
    logger.shutdown();
    joined.map_err(EngineError::from)?;
    match stalled {
        Some(w) => Err(EngineError::Setup(format!("worker {w} stopped looping"))),
        None => Ok(()),
    }
}

/// How long a worker may go without completing a loop before the engine
/// gives up on it (a worker loops at least every idle timeout, so only a
/// dead or stuck one gets near this).
const WATCHDOG: Duration = Duration::from_secs(5);

/// Notices a worker whose loop counter stopped moving (its thread ended on
/// an I/O error or a panic, or it is stuck): a firewall missing a worker
/// would silently drop the flows that worker owns.
#[derive(Debug)]
struct Watchdog {
    last: Vec<(u64, Option<std::time::Instant>)>,
}

impl Watchdog {
    fn new(workers: usize) -> Watchdog {
        Watchdog {
            last: vec![(0, None); workers],
        }
    }

    /// The first worker that has not looped for [`WATCHDOG`], given the
    /// loop counters at `now`.
    fn check(&mut self, loops: &[u64], now: std::time::Instant) -> Option<usize> {
        let mut stalled = None;
        for (i, (&n, last)) in loops.iter().zip(self.last.iter_mut()).enumerate() {
            match last.1 {
                Some(since) if n == last.0 => {
                    if now.duration_since(since) >= WATCHDOG && stalled.is_none() {
                        stalled = Some(i);
                    }
                }
                _ => *last = (n, Some(now)),
            }
        }
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_arguments() {
        assert_eq!(
            parse_map("Ethernet2/0=e20").unwrap(),
            PortMap {
                ios_name: "Ethernet2/0".into(),
                linux_name: "e20".into()
            }
        );
        assert_eq!(parse_map("e2/1=veth-x").unwrap().ios_name, "Ethernet2/1");
        assert!(parse_map("Ethernet2/0").is_err());
        assert!(parse_map("Ethernet2/0=").is_err());
        assert!(parse_map("bogus=e20").is_err());
        assert!(parse_map("e2/0=../etc").is_err());
        assert!(parse_map("e2/0=averyveryverylongname").is_err());
    }

    proptest::proptest! {
        #[test]
        fn map_and_mac_parsers_never_panic(arg in "\\PC{0,40}", mac in "[0-9a-fA-F:]{0,20}") {
            if let Ok(m) = parse_map(&arg) {
                proptest::prop_assert!(m.ios_name.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
                proptest::prop_assert!(!m.linux_name.is_empty() && m.linux_name.len() <= 15);
            }
            let _ = parse_mac(&mac);
        }
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:00:5e:10:00:ff\n"),
            Some(Mac([2, 0, 0x5e, 0x10, 0, 0xff]))
        );
        assert_eq!(parse_mac("02:00:5e:10:00"), None);
        assert_eq!(parse_mac("02:00:5e:10:00:ff:01"), None);
        assert_eq!(parse_mac("zz:00:5e:10:00:ff"), None);
        assert_eq!(parse_mac(""), None);
    }

    #[test]
    fn cores_default_to_the_last_ones() {
        assert_eq!(default_cores(2, &[0, 1, 2, 3]), vec![2, 3]);
        assert_eq!(default_cores(1, &[0, 1]), vec![1]);
        assert_eq!(default_cores(4, &[0, 1]), vec![0, 1]);
        assert!(default_cores(2, &[]).is_empty());
    }

    #[test]
    fn requested_cores_must_exist() {
        assert_eq!(choose_cores(None, 1, &[0, 1]), Ok(vec![1]));
        assert_eq!(choose_cores(Some(&[0, 0]), 2, &[0, 1]), Ok(vec![0, 0]));
        let err = choose_cores(Some(&[0, 7]), 2, &[0, 1]).unwrap_err();
        assert!(err.contains("core 7 is not available"), "{err}");
        // Unknown topology: trust the operator.
        assert_eq!(choose_cores(Some(&[5]), 1, &[]), Ok(vec![5]));
    }

    #[test]
    fn seed_source_and_bad_file() {
        assert_eq!(ConfigSource::from_arg("seed"), ConfigSource::Seed);
        let (cfg, warnings) = load_config(SEED_CONFIG, &ConfigSource::Seed).unwrap();
        assert_eq!(warnings.len(), 26);
        assert_eq!(cfg.hostname, "3640-123");
        let missing = ConfigSource::from_arg("/nonexistent/mailguard.cfg");
        assert!(matches!(
            missing.read(),
            Err(EngineError::ConfigRead { .. })
        ));
        let err =
            load_config("interface Ethernet2/0\n ip address 10.0.0.1\n", &missing).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("column"), "{text}");
    }

    fn opts(maps: Vec<PortMap>) -> RunOptions {
        RunOptions {
            config: ConfigSource::Seed,
            maps,
            workers: 1,
            cores: Some(Vec::new()),
            sessions: 1024,
            control: std::env::temp_dir()
                .join(format!("mg-engine-test-{}.sock", std::process::id())),
            log: None,
            syslog: None,
            metrics: None,
        }
    }

    #[test]
    fn missing_device_fails_fast() {
        let stop = AtomicBool::new(true);
        let map = parse_map("Ethernet2/0=mgnosuchdev0").unwrap();
        let err = run_until(opts(vec![map]), &stop, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no such network device 'mgnosuchdev0'"),
            "{text}"
        );
        assert!(text.starts_with("--map Ethernet2/0=mgnosuchdev0"), "{text}");
    }

    #[test]
    fn unknown_interface_and_no_ports_fail_fast() {
        let stop = AtomicBool::new(true);
        let err = run_until(
            opts(vec![parse_map("Ethernet9/9=lo").unwrap()]),
            &stop,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Ethernet9/9"), "{err}");
        let err = run_until(opts(Vec::new()), &stop, None).unwrap_err();
        assert!(matches!(err, EngineError::NoPorts));
        let twice = vec![
            parse_map("Ethernet2/0=lo").unwrap(),
            parse_map("Ethernet2/1=lo").unwrap(),
        ];
        let err = run_until(opts(twice), &stop, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("Ethernet2/1=lo: device already mapped"),
            "{err}"
        );
    }

    #[test]
    fn watchdog_flags_a_worker_that_stops_looping() {
        let t0 = std::time::Instant::now();
        let mut w = Watchdog::new(2);
        assert_eq!(w.check(&[0, 0], t0), None);
        assert_eq!(w.check(&[5, 0], t0 + Duration::from_secs(3)), None);
        assert_eq!(w.check(&[9, 0], t0 + Duration::from_secs(4)), None);
        assert_eq!(w.check(&[12, 0], t0 + WATCHDOG), Some(1));
        // Worker 0 keeps moving; once worker 1 moves again it is fine.
        assert_eq!(
            w.check(&[15, 1], t0 + WATCHDOG + Duration::from_secs(1)),
            None
        );
        assert_eq!(w.check(&[15, 2], t0 + 2 * WATCHDOG), None);
        assert_eq!(w.check(&[15, 3], t0 + 3 * WATCHDOG), Some(0));
    }

    #[test]
    fn drop_names_follow_the_enum() {
        let names = drop_names();
        for r in DropReason::ALL {
            assert_eq!(names[r.index()], r.name());
        }
    }
}
