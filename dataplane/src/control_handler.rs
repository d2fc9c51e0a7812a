//! The binary's [`ControlHandler`]: executes IOS commands against the running
//! firewall. `show` commands read the runtime's configuration and the
//! snapshots the workers hand back on request ([`Shared::collect_reports`]);
//! `configure LINE` edits a copy of the configuration line by line (keeping
//! the interactive mode between requests, like a console session) and
//! installs a new runtime generation; `debug`/`undebug` flip the shared
//! switches; `clear` commands move a baseline, never a worker's counters.
//!
//! Why the control thread never touches a worker's table (DESIGN.md "Cores
//! and ownership"): the workers own their sessions and counters; this file
//! only sums what they report, so a slow `show` costs the packet path one
//! snapshot per worker and nothing else.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use smtp_engine::{Signature, SmtpStats};

use crate::config::model::InspectProtocol;
use crate::config::parse::normalise_interface_name;
use crate::config::{Config, ConfigSession};
use crate::control::{apply_debug, Command, ControlError, ControlHandler, ShowCommand};
use crate::logging::{
    logging_totals, render_show_logging, wall_clock_ns, ConfigVia, LogProducer, LogRecord,
    LoggerStats, LoggingTotals, QueueCounters, SystemEvent,
};
use crate::runtime::{PortBinding, Runtime};
use crate::shared::{lock, PortCounters, ProtocolPackets, Shared, VfrReport, WorkerReport};
use crate::show::{
    self, AclCounters, InspectStatistics, InspectView, InterfaceCounters, SessionCounts,
    SessionSnapshot, SmtpStatistics,
};

/// How long a `show` waits for the workers' snapshots.
pub const REPORT_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the log goes, for `show logging`.
#[derive(Clone)]
pub struct LoggingView {
    /// The logger's counters.
    pub stats: Arc<LoggerStats>,
    /// The producers' queue counters.
    pub queues: QueueCounters,
    /// Log file path, or `stderr`.
    pub destination: String,
    /// `--syslog` target.
    pub syslog: Option<String>,
}

impl std::fmt::Debug for LoggingView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggingView")
            .field("destination", &self.destination)
            .field("syslog", &self.syslog)
            .finish()
    }
}

impl LoggingView {
    /// Every logging counter now.
    pub fn totals(&self) -> LoggingTotals {
        logging_totals(&self.queues, &self.stats)
    }
}

/// The configuration being edited: the model in force and the interactive
/// mode (`interface X` carries over to the next `configure` request).
#[derive(Debug)]
struct ConfigState {
    config: Config,
    session: ConfigSession,
}

/// Counter values at the last `clear ip inspect statistics`.
#[derive(Debug, Default, Clone)]
struct StatsBaseline {
    packets: ProtocolPackets,
    creations: u64,
    smtp: SmtpStatistics,
    aggressive_entries: u64,
    block_events: u64,
    /// Most sessions seen in each state by `show` since the reset (the
    /// workers' own maxima cannot be reset from here).
    maxever: Option<SessionCounts>,
}

/// Sums of every worker's report.
#[derive(Debug, Default, Clone)]
pub struct ReportTotals {
    /// Live sessions of every worker, ordered by id.
    pub sessions: Vec<SessionSnapshot>,
    /// Per-port counters.
    pub ports: [PortCounters; crate::runtime::MAX_PORTS],
    /// Packets by inspected protocol.
    pub packets: ProtocolPackets,
    /// SMTP inspector counters.
    pub smtp: SmtpStats,
    /// Sessions created.
    pub creations: u64,
    /// Latest creation (monotonic ns; 0 = never).
    pub last_created_ns: u64,
    /// Current established / half-open / terminating.
    pub counts: [u64; 3],
    /// Sum of each worker's maxima (the global maximum's upper bound; exact
    /// with one worker).
    pub maxever: [u64; 3],
    /// Session-table bytes on huge pages and on ordinary pages, all workers.
    pub table_memory: [u64; 2],
    /// Virtual reassembly per port, all workers.
    pub vfr: [VfrReport; crate::runtime::MAX_PORTS],
}

impl ReportTotals {
    /// Adds up `reports`.
    pub fn sum(reports: &[WorkerReport]) -> ReportTotals {
        let mut t = ReportTotals::default();
        for r in reports {
            t.sessions.extend(r.sessions.iter().cloned());
            for (a, b) in t.ports.iter_mut().zip(&r.ports) {
                a.add(b);
            }
            t.packets.add(&r.packets);
            t.smtp.add(&r.smtp);
            t.creations += r.creations;
            t.last_created_ns = t.last_created_ns.max(r.last_created_ns);
            for i in 0..3 {
                t.counts[i] += r.counts[i];
                t.maxever[i] += r.maxever[i];
            }
            for i in 0..2 {
                t.table_memory[i] += r.table_memory[i];
            }
            for (a, b) in t.vfr.iter_mut().zip(&r.vfr) {
                a.add(b);
            }
        }
        t.sessions.sort_by_key(|s| s.id);
        t
    }
}

fn smtp_statistics(s: &SmtpStats) -> SmtpStatistics {
    SmtpStatistics {
        lines: s.cmd_lines,
        masked: s.cmd_masked,
        parameter_violations: s.param_violations,
        signature_hits: s.sig_hits.iter().sum(),
        reply_and_close: s.reply_close,
        max_data_closes: s.max_data_closes,
    }
}

fn sub_smtp(a: SmtpStatistics, b: &SmtpStatistics) -> SmtpStatistics {
    SmtpStatistics {
        lines: a.lines.saturating_sub(b.lines),
        masked: a.masked.saturating_sub(b.masked),
        parameter_violations: a
            .parameter_violations
            .saturating_sub(b.parameter_violations),
        signature_hits: a.signature_hits.saturating_sub(b.signature_hits),
        reply_and_close: a.reply_and_close.saturating_sub(b.reply_and_close),
        max_data_closes: a.max_data_closes.saturating_sub(b.max_data_closes),
    }
}

fn counts(c: [u64; 3]) -> SessionCounts {
    SessionCounts {
        established: c[0],
        half_open: c[1],
        terminating: c[2],
    }
}

fn max_counts(a: SessionCounts, b: SessionCounts) -> SessionCounts {
    SessionCounts {
        established: a.established.max(b.established),
        half_open: a.half_open.max(b.half_open),
        terminating: a.terminating.max(b.terminating),
    }
}

/// Normalises an interface name typed by an operator (`e2/0` → `Ethernet2/0`).
pub fn normalise_name(name: &str) -> Option<String> {
    let split = name.find(|c: char| c.is_ascii_digit())?;
    let (kind, number) = name.split_at(split);
    normalise_interface_name(kind.trim(), number.trim())
}

/// The link state of a host network device (`/sys/class/net/IF/carrier`).
pub fn sysfs_link_up(device: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{device}/carrier"))
        .is_ok_and(|s| s.trim() == "1")
}

/// Executes control commands over one running firewall.
pub struct Handler {
    shared: Arc<Shared>,
    ports: Vec<PortBinding>,
    state: Mutex<ConfigState>,
    baseline: Mutex<StatsBaseline>,
    acl_baseline: Mutex<AclCounters>,
    logging: Option<LoggingView>,
    log: Option<LogProducer>,
    clock: fn() -> u64,
    link_up: fn(&str) -> bool,
    report_timeout: Duration,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("ports", &self.ports)
            .field("logging", &self.logging)
            .finish()
    }
}

impl Handler {
    /// A handler over `shared`, whose runtime was built from `config` bound
    /// to `ports`.
    pub fn new(shared: Arc<Shared>, config: Config, ports: Vec<PortBinding>) -> Handler {
        Handler {
            shared,
            ports,
            state: Mutex::new(ConfigState {
                config,
                session: ConfigSession::new(),
            }),
            baseline: Mutex::new(StatsBaseline::default()),
            acl_baseline: Mutex::new(AclCounters::new()),
            logging: None,
            log: None,
            clock: crate::worker::monotonic_ns,
            link_up: sysfs_link_up,
            report_timeout: REPORT_TIMEOUT,
        }
    }

    /// Adds the logger's counters (`show logging`).
    pub fn with_logging(mut self, view: LoggingView) -> Handler {
        self.logging = Some(view);
        self
    }

    /// Logs configuration changes (`%SYS-5-CONFIG_I`) through `producer`.
    pub fn with_log(mut self, producer: LogProducer) -> Handler {
        self.log = Some(producer);
        self
    }

    /// Logs one of the firewall's own events (no-op without a log queue).
    pub fn log_system(&self, event: SystemEvent) {
        if let Some(log) = &self.log {
            log.emit(wall_clock_ns(), LogRecord::System(event));
        }
    }

    /// Replaces the monotonic clock (tests).
    pub fn with_clock(mut self, clock: fn() -> u64) -> Handler {
        self.clock = clock;
        self
    }

    /// Replaces the link-state probe (tests).
    pub fn with_link_probe(mut self, link_up: fn(&str) -> bool) -> Handler {
        self.link_up = link_up;
        self
    }

    /// Replaces how long a `show` waits for the workers.
    pub fn with_report_timeout(mut self, timeout: Duration) -> Handler {
        self.report_timeout = timeout;
        self
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Installs `config` as a new runtime generation. Live sessions are kept;
    /// the interactive mode goes back to global configuration.
    pub fn replace_config(&self, config: Config, via: ConfigVia) -> Result<u64, String> {
        let mut state = lock(&self.state);
        let generation = self.install(config.clone())?;
        state.config = config;
        state.session = ConfigSession::new();
        self.log_system(SystemEvent::Configured { via, generation });
        Ok(generation)
    }

    /// Builds and installs a runtime from `config` (generation + 1).
    fn install(&self, config: Config) -> Result<u64, String> {
        let generation = self.shared.generation() + 1;
        let runtime =
            Runtime::build(config, self.ports.clone(), generation).map_err(|e| format!("% {e}"))?;
        self.shared.install(runtime)?;
        Ok(generation)
    }

    /// `configure LINE`: one line, all or nothing.
    fn configure(&self, line: &str) -> Result<String, ControlError> {
        let mut state = lock(&self.state);
        let mut candidate = state.config.clone();
        let mut session = state.session;
        let message = session
            .apply_line(&mut candidate, line)
            .map_err(|e| ControlError::Rejected(e.console()))?;
        if candidate != state.config {
            let generation = self
                .install(candidate.clone())
                .map_err(ControlError::Rejected)?;
            state.config = candidate;
            self.log_system(SystemEvent::Configured {
                via: ConfigVia::ControlSocket,
                generation,
            });
        }
        state.session = session;
        Ok(message.unwrap_or_default())
    }

    fn reports(&self) -> ReportTotals {
        ReportTotals::sum(&self.shared.collect_reports(self.report_timeout))
    }

    /// `show ip inspect statistics` figures now.
    pub fn statistics(&self, totals: &ReportTotals) -> InspectStatistics {
        let now = (self.clock)();
        let snap = self.shared.halfopen.snapshot();
        let mut base = lock(&self.baseline);
        let current = counts(totals.counts);
        let maxever = match base.maxever {
            None => {
                let mut m = counts(totals.maxever);
                // The registry's maximum is the exact global figure; the
                // workers' sum only bounds it.
                if snap.halfopen_maxever > 0 {
                    m.half_open = snap.halfopen_maxever;
                }
                max_counts(m, current)
            }
            Some(since_reset) => {
                let m = max_counts(since_reset, current);
                base.maxever = Some(m);
                m
            }
        };
        let p = &totals.packets;
        let b = &base.packets;
        let reset = self.shared.stats_reset_ns.load(Ordering::Relaxed);
        InspectStatistics {
            protocol_packets: vec![
                (InspectProtocol::Tcp, p.tcp.saturating_sub(b.tcp)),
                (InspectProtocol::Smtp, p.smtp.saturating_sub(b.smtp)),
                (InspectProtocol::Udp, p.udp.saturating_sub(b.udp)),
                (InspectProtocol::Icmp, p.icmp.saturating_sub(b.icmp)),
            ],
            session_creations: totals.creations.saturating_sub(base.creations),
            current,
            maxever,
            last_session_created: (totals.last_created_ns > 0)
                .then(|| Duration::from_nanos(now.saturating_sub(totals.last_created_ns))),
            last_statistic_reset: (reset > 0)
                .then(|| Duration::from_nanos(now.saturating_sub(reset))),
            last_creation_rate: snap.last_rate,
            maxever_creation_rate: snap.maxever_rate,
            last_half_open_total: snap.last_halfopen_total,
            aggressive_mode: snap.aggressive,
            aggressive_entries: snap
                .aggressive_entered
                .saturating_sub(base.aggressive_entries),
            hosts_blocked: snap.hosts_blocked,
            block_events: snap.block_events.saturating_sub(base.block_events),
            smtp: sub_smtp(smtp_statistics(&totals.smtp), &base.smtp),
        }
    }

    /// `clear ip inspect statistics`.
    fn clear_statistics(&self) {
        let totals = self.reports();
        let snap = self.shared.halfopen.snapshot();
        let now = (self.clock)().max(1);
        *lock(&self.baseline) = StatsBaseline {
            packets: totals.packets,
            creations: totals.creations,
            smtp: smtp_statistics(&totals.smtp),
            aggressive_entries: snap.aggressive_entered,
            block_events: snap.block_events,
            maxever: Some(counts(totals.counts)),
        };
        self.shared.stats_reset_ns.store(now, Ordering::Relaxed);
    }

    /// Access-list hits summed over workers, by list number, less the
    /// `clear access-list counters` baseline.
    pub fn acl_counters(&self, rt: &Runtime) -> AclCounters {
        let reports = self.shared.collect_reports(self.report_timeout);
        let mut sums = AclCounters::new();
        for (i, list) in rt.compiled.access_lists.iter().enumerate() {
            let mut hits = vec![0u64; list.entries.len()];
            for r in &reports {
                // A worker that has not picked up this generation yet
                // reports another shape: skip it rather than misattribute.
                if let Some(h) = r.acl_hits.get(i).filter(|h| h.len() == hits.len()) {
                    for (a, b) in hits.iter_mut().zip(h) {
                        *a += b;
                    }
                }
            }
            sums.insert(list.number, hits);
        }
        let base = lock(&self.acl_baseline);
        for (number, hits) in sums.iter_mut() {
            if let Some(b) = base.get(number).filter(|b| b.len() == hits.len()) {
                for (h, b) in hits.iter_mut().zip(b) {
                    // Counters that went backwards were reset by a worker.
                    *h = if *h >= *b { *h - b } else { *h };
                }
            }
        }
        sums
    }

    /// `clear access-list counters [N]`.
    fn clear_acl_counters(&self, number: Option<u16>) -> Result<String, ControlError> {
        let rt = self.shared.runtime();
        if let Some(n) = number {
            if !rt.config.access_lists.contains_key(&n) {
                return Err(ControlError::Rejected(format!(
                    "% Access list {n} does not exist"
                )));
            }
        }
        let current = {
            // Raw sums: drop the old baseline first.
            let saved = std::mem::take(&mut *lock(&self.acl_baseline));
            let c = self.acl_counters(&rt);
            *lock(&self.acl_baseline) = saved;
            c
        };
        let mut base = lock(&self.acl_baseline);
        for (n, hits) in current {
            if number.is_none_or(|want| want == n) {
                base.insert(n, hits);
            }
        }
        Ok(String::new())
    }

    /// The interface a `show … [interface]` names, normalised (`e2/0` →
    /// `Ethernet2/0`); an error if the configuration has no such interface.
    fn interface_filter(
        &self,
        cfg: &Config,
        name: Option<&str>,
    ) -> Result<Option<String>, ControlError> {
        name.map(|n| {
            normalise_name(n)
                .filter(|n| cfg.interface(n).is_some())
                .ok_or_else(|| ControlError::Rejected(format!("% Invalid interface name: {n}")))
        })
        .transpose()
    }

    /// Per-interface counters for `show interfaces`.
    fn interface_counters(
        &self,
        rt: &Runtime,
        totals: &ReportTotals,
    ) -> BTreeMap<String, InterfaceCounters> {
        rt.ports
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let p = totals.ports.get(i).copied().unwrap_or_default();
                (
                    b.ios_name.clone(),
                    InterfaceCounters {
                        device: Some(b.linux_name.clone()),
                        link_up: (self.link_up)(&b.linux_name),
                        rx_packets: p.rx_packets,
                        rx_bytes: p.rx_bytes,
                        rx_drops: p.drops,
                        tx_packets: p.tx_packets,
                        tx_bytes: p.tx_bytes,
                        tx_drops: 0,
                    },
                )
            })
            .collect()
    }

    fn show(&self, cmd: &ShowCommand, json: bool) -> Result<String, ControlError> {
        let rt = self.shared.runtime();
        let cfg = &rt.config;
        let mut out = String::new();
        let value: Value = match cmd {
            ShowCommand::InspectAll
            | ShowCommand::InspectConfig
            | ShowCommand::InspectInterfaces
            | ShowCommand::InspectName(_)
            | ShowCommand::InspectSessions { .. }
            | ShowCommand::InspectStatistics => {
                let view = match cmd {
                    ShowCommand::InspectAll => InspectView::All,
                    ShowCommand::InspectConfig => InspectView::Config,
                    ShowCommand::InspectInterfaces => InspectView::Interfaces,
                    ShowCommand::InspectName(n) => InspectView::Name(n.clone()),
                    ShowCommand::InspectSessions { detail } => {
                        InspectView::Session { detail: *detail }
                    }
                    _ => InspectView::Statistics,
                };
                let needs_reports = matches!(
                    view,
                    InspectView::All | InspectView::Session { .. } | InspectView::Statistics
                );
                let totals = if needs_reports {
                    self.reports()
                } else {
                    ReportTotals::default()
                };
                let stats = if view == InspectView::Statistics {
                    self.statistics(&totals)
                } else {
                    InspectStatistics::default()
                };
                if !json {
                    show::show_ip_inspect(cfg, &view, &totals.sessions, &stats, &mut out);
                    return Ok(out);
                }
                show::show_ip_inspect_json(cfg, &view, &totals.sessions, &stats)
            }
            ShowCommand::NatTranslations { .. } => {
                let totals = self.reports();
                if !json {
                    show::show_ip_nat_translations(cfg, &totals.sessions, &mut out);
                    return Ok(out);
                }
                show::show_ip_nat_translations_json(cfg, &totals.sessions)
            }
            ShowCommand::AccessLists(number) => {
                let counters = self.acl_counters(&rt);
                if !json {
                    show::show_access_lists(cfg, *number, &counters, &mut out);
                    return Ok(out);
                }
                show::show_access_lists_json(cfg, *number, &counters)
            }
            ShowCommand::Interfaces(name) => {
                let name = self.interface_filter(cfg, name.as_deref())?;
                let totals = self.reports();
                let counters = self.interface_counters(&rt, &totals);
                if !json {
                    show::show_interfaces(cfg, name.as_deref(), &counters, &mut out);
                    return Ok(out);
                }
                show::show_interfaces_json(cfg, name.as_deref(), &counters)
            }
            ShowCommand::VirtualReassembly(name) => {
                let name = self.interface_filter(cfg, name.as_deref())?;
                let totals = self.reports();
                let reports: BTreeMap<String, VfrReport> = rt
                    .ports
                    .iter()
                    .zip(&totals.vfr)
                    .map(|(b, r)| (b.ios_name.clone(), *r))
                    .collect();
                if !json {
                    show::show_ip_virtual_reassembly(cfg, name.as_deref(), &reports, &mut out);
                    return Ok(out);
                }
                show::show_ip_virtual_reassembly_json(cfg, name.as_deref(), &reports)
            }
            ShowCommand::RunningConfig => {
                if !json {
                    show::show_running_config(cfg, &mut out);
                    return Ok(out);
                }
                show::show_running_config_json(cfg)
            }
            ShowCommand::Debugging => {
                let text = crate::control::show_debugging(&self.shared.debug);
                if !json {
                    return Ok(text);
                }
                json!({
                    "enabled": self
                        .shared
                        .debug
                        .enabled_categories()
                        .iter()
                        .map(|c| c.word())
                        .collect::<Vec<_>>(),
                })
            }
            ShowCommand::Logging => {
                let (totals, stats, destination, syslog) = match &self.logging {
                    Some(v) => (
                        v.totals(),
                        Arc::clone(&v.stats),
                        v.destination.clone(),
                        v.syslog.clone(),
                    ),
                    None => (
                        LoggingTotals::default(),
                        Arc::new(LoggerStats::default()),
                        "stderr".to_string(),
                        None,
                    ),
                };
                if !json {
                    return Ok(render_show_logging(
                        &totals,
                        &stats,
                        &destination,
                        syslog.as_deref(),
                    ));
                }
                json!({
                    "destination": destination,
                    "syslog": syslog,
                    "logged": stats.emitted_total(),
                    "by_kind": stats.emitted_by_kind().into_iter().collect::<BTreeMap<_, _>>(),
                    "queued": totals.queues.queued,
                    "dropped": totals.queues.overflow,
                    "rate_limited": totals.queues.session_suppressed + totals.global_suppressed,
                    "write_errors": totals.write_errors,
                    "syslog_sent": totals.syslog_sent,
                    "syslog_errors": totals.syslog_errors,
                })
            }
        };
        serde_json::to_string_pretty(&value)
            .map_err(|e| ControlError::Rejected(format!("% JSON encoding failed: {e}")))
    }
}

/// The SMTP signature hit counters as `(IDS id, hits)`.
pub fn signature_hits(s: &SmtpStats) -> Vec<(u16, u64)> {
    Signature::ALL
        .iter()
        .map(|sig| (sig.id(), s.sig_hits[sig.index()]))
        .collect()
}

impl ControlHandler for Handler {
    fn execute(&self, cmd: &Command, json: bool) -> Result<String, ControlError> {
        let reply = match cmd {
            Command::Show(s) => return self.show(s, json),
            Command::Debug { .. } | Command::UndebugAll => {
                apply_debug(&self.shared.debug, cmd).unwrap_or_default()
            }
            Command::Configure(line) => self.configure(line)?,
            Command::ClearInspectStatistics => {
                self.clear_statistics();
                String::new()
            }
            Command::ClearAccessListCounters(n) => self.clear_acl_counters(*n)?,
        };
        if json {
            return Ok(json!({ "message": reply }).to_string());
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Transport;
    use crate::show::SessionState;
    use crate::wire::ethernet::Mac;
    use std::net::SocketAddrV4;

    const SEED: &str = include_str!("../../fixtures/seed.cfg");
    const SHOW_ALL: &str = include_str!("../../fixtures/show-ip-inspect-all.txt");
    /// A request number no real request reaches: the slot counts as answered.
    const ANSWERED: u64 = 1 << 40;
    const NOW: u64 = 500_000_000_000;

    fn clock() -> u64 {
        NOW
    }

    fn link_up(_: &str) -> bool {
        true
    }

    fn ports() -> Vec<PortBinding> {
        vec![
            PortBinding {
                ios_name: "Ethernet2/0".into(),
                linux_name: "e20".into(),
                mac: Mac([2, 0, 0, 0, 0, 1]),
            },
            PortBinding {
                ios_name: "Ethernet2/1".into(),
                linux_name: "e21".into(),
                mac: Mac([2, 0, 0, 0, 0, 2]),
            },
        ]
    }

    fn handler(workers: usize) -> Handler {
        let (cfg, _) = Config::load(SEED).expect("seed loads");
        let rt = Runtime::build(cfg.clone(), ports(), 1).expect("binds");
        let shared = Shared::new(
            rt,
            workers,
            1024,
            1,
            0,
            Arc::new(crate::logging::DebugFlags::new()),
        )
        .expect("shared");
        Handler::new(Arc::new(shared), cfg, ports())
            .with_clock(clock)
            .with_link_probe(link_up)
            .with_report_timeout(Duration::from_millis(5))
    }

    fn run(h: &Handler, line: &str) -> Result<String, ControlError> {
        h.execute(&Command::parse(line).expect("parses"), false)
    }

    fn smtp_session(id: u32, state: SessionState) -> SessionSnapshot {
        SessionSnapshot {
            id,
            protocol: InspectProtocol::Smtp,
            transport: Transport::Tcp,
            initiator: "198.51.100.7:40001".parse::<SocketAddrV4>().unwrap(),
            responder: "172.22.1.110:25".parse::<SocketAddrV4>().unwrap(),
            state,
            age: Duration::from_secs(65),
            idle: Duration::from_secs(2),
            initiator_bytes: 120,
            responder_bytes: 340,
        }
    }

    /// Two workers' synthetic reports.
    fn put_reports(h: &Handler) {
        let mut a = WorkerReport::default();
        a.sessions
            .push(smtp_session(0x6300_F008, SessionState::Established));
        a.ports[0] = PortCounters {
            rx_packets: 10,
            rx_bytes: 1000,
            tx_packets: 7,
            tx_bytes: 700,
            drops: 1,
        };
        a.acl_hits = vec![vec![3]];
        a.packets = ProtocolPackets {
            tcp: 5,
            smtp: 12,
            udp: 0,
            icmp: 2,
        };
        a.smtp.cmd_lines = 9;
        a.smtp.cmd_masked = 1;
        a.smtp.sig_hits[0] = 2;
        a.creations = 4;
        a.last_created_ns = NOW - 3_000_000_000;
        a.counts = [1, 0, 0];
        a.maxever = [2, 1, 0];
        let mut b = WorkerReport::default();
        let mut s = smtp_session(0x6300_F000, SessionState::HalfOpen);
        s.initiator = "10.10.10.5:50000".parse().unwrap();
        s.responder = "203.0.113.9:25".parse().unwrap();
        b.sessions.push(s);
        b.ports[1].rx_packets = 5;
        b.acl_hits = vec![vec![2]];
        b.packets.smtp = 3;
        b.creations = 2;
        b.last_created_ns = NOW - 1_000_000_000;
        b.counts = [0, 1, 0];
        b.maxever = [1, 1, 0];
        // Ethernet2/0's reassembly tables on both workers.
        a.vfr[0].reassemblies = 1;
        a.vfr[0].fragments = 2;
        a.vfr[0].counters.fragments = 40;
        a.vfr[0].counters.reassembled = 12;
        a.vfr[0].counters.timeouts = 1;
        a.vfr[0].counters.drop_overlap = 1;
        b.vfr[0].counters.reassembled = 3;
        b.vfr[0].counters.drop_table_full = 2;
        b.vfr[0].counters.drop_poisoned = 4;
        h.shared().put_report(0, ANSWERED, a);
        h.shared().put_report(1, ANSWERED, b);
    }

    #[test]
    fn show_ip_inspect_all_is_the_seed_output() {
        let h = handler(2);
        assert_eq!(run(&h, "show ip inspect all").unwrap(), SHOW_ALL);
        assert_eq!(run(&h, "sh ip insp all").unwrap(), SHOW_ALL);
        // With sessions, the listing follows.
        put_reports(&h);
        let text = run(&h, "show ip inspect all").unwrap();
        let listing = text.strip_prefix(SHOW_ALL).expect("seed output first");
        assert_eq!(
            listing,
            "Established Sessions\n Session 6300F008 (198.51.100.7:40001)=>(172.22.1.110:25) smtp SIS_OPEN\n\
             Half-open Sessions\n Session 6300F000 (10.10.10.5:50000)=>(203.0.113.9:25) smtp SIS_OPENING\n"
        );
    }

    #[test]
    fn sessions_detail_and_json() {
        let h = handler(2);
        assert_eq!(run(&h, "show ip inspect session").unwrap(), "");
        put_reports(&h);
        let text = run(&h, "show ip inspect session detail").unwrap();
        assert!(
            text.contains("  Created 00:01:05, Last heard 00:00:02\n"),
            "{text}"
        );
        assert!(
            text.contains("  Bytes sent (initiator:responder) [120:340]\n"),
            "{text}"
        );
        let json = h
            .execute(&Command::parse("show ip inspect session").unwrap(), true)
            .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[0]["id"], "6300F000");
    }

    #[test]
    fn statistics_sum_the_workers_and_clear_resets() {
        let h = handler(2);
        put_reports(&h);
        let text = run(&h, "show ip inspect statistics").unwrap();
        for line in [
            "tcp packets: [0:5]\n",
            "smtp packets: [0:15]\n",
            "icmp packets: [0:2]\n",
            "Interfaces configured for inspection 2\n",
            "Session creations since subsystem startup or last reset 6\n",
            "Current session counts (estab/half-open/terminating) [1:1:0]\n",
            "Maxever session counts (estab/half-open/terminating) [3:2:0]\n",
            "Last session created 00:00:01\n",
            "Last statistic reset never\n",
            "SMTP: lines 9, masked 1, parameter violations 0, signature hits 2, reply-and-close 0, max-data closes 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(run(&h, "clear ip inspect statistics").unwrap(), "");
        let text = run(&h, "show ip inspect statistics").unwrap();
        for line in [
            "smtp packets: [0:0]\n",
            "Session creations since subsystem startup or last reset 0\n",
            "Current session counts (estab/half-open/terminating) [1:1:0]\n",
            "Maxever session counts (estab/half-open/terminating) [1:1:0]\n",
            "Last statistic reset 00:00:00\n",
            "SMTP: lines 0, masked 0, parameter violations 0, signature hits 0, reply-and-close 0, max-data closes 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let v: Value = serde_json::from_str(
            &h.execute(&Command::parse("show ip inspect statistics").unwrap(), true)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(v["interfaces_configured"], 2);
    }

    #[test]
    fn nat_translations_from_sessions() {
        let h = handler(2);
        let statics =
            "Pro Inside global      Inside local       Outside local      Outside global\n\
                       --- 172.22.1.110       10.10.10.2         ---                ---\n\
                       --- 172.22.1.111       10.10.10.5         ---                ---\n";
        assert_eq!(run(&h, "show ip nat translations").unwrap(), statics);
        put_reports(&h);
        let text = run(&h, "show ip nat translations").unwrap();
        assert_eq!(
            text,
            format!(
                "{statics}\
                 tcp 172.22.1.111:50000 10.10.10.5:50000   203.0.113.9:25     203.0.113.9:25\n\
                 tcp 172.22.1.110:25    10.10.10.2:25      198.51.100.7:40001 198.51.100.7:40001\n"
            )
        );
        let v: Value = serde_json::from_str(
            &h.execute(&Command::parse("show ip nat translations").unwrap(), true)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(v.as_array().unwrap().len(), 4);
    }

    #[test]
    fn access_list_counters_sum_and_clear() {
        let h = handler(2);
        assert_eq!(
            run(&h, "show access-lists").unwrap(),
            "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp\n"
        );
        put_reports(&h);
        assert_eq!(
            run(&h, "show access-lists 101").unwrap(),
            "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp (5 matches)\n"
        );
        assert_eq!(run(&h, "show access-lists 102").unwrap(), "");
        assert!(run(&h, "clear access-list counters 199").is_err());
        assert_eq!(run(&h, "clear access-list counters 101").unwrap(), "");
        assert_eq!(
            run(&h, "show access-lists").unwrap(),
            "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp\n"
        );
    }

    #[test]
    fn virtual_reassembly_sums_workers_per_interface() {
        let h = handler(2);
        put_reports(&h);
        assert_eq!(
            run(&h, "show ip virtual-reassembly e2/0").unwrap(),
            "Ethernet2/0:\n\
             \x20  Virtual Fragment Reassembly (VFR) is ENABLED [in]\n\
             \x20  Concurrent reassemblies (max-reassemblies): 16\n\
             \x20  Fragments per reassembly (max-fragments): 32\n\
             \x20  Reassembly timeout (timeout): 3 seconds\n\
             \x20  Drop fragments: OFF\n\
             \n\
             \x20  Current reassembly count:1\n\
             \x20  Current fragment count:2\n\
             \x20  Total reassembly count:15\n\
             \x20  Total reassembly timeout count:1\n\
             \x20  Total reassembly failures:3\n"
        );
        let all = run(&h, "show ip virtual-reassembly").unwrap();
        assert!(
            all.contains("\nSerial2/0:\n   Virtual Fragment Reassembly (VFR) is DISABLED\n\n"),
            "{all}"
        );
        assert!(
            all.contains("Ethernet2/1:\n   Virtual Fragment Reassembly (VFR) is ENABLED [in]\n"),
            "{all}"
        );
        assert!(all.contains("   Total reassembly count:0\n"), "{all}");
        assert!(run(&h, "show ip virtual-reassembly Ethernet7/7").is_err());
        let v: Value = serde_json::from_str(
            &h.execute(
                &Command::parse("show ip virtual-reassembly Ethernet2/0").unwrap(),
                true,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(v[0]["interface"], "Ethernet2/0");
        assert_eq!(v[0]["reassembled"], 15);
        assert_eq!(v[0]["dropped_fragments"], 7);
        assert_eq!(v[0]["drops"]["table_full"], 2);
        assert_eq!(v[0]["drops"]["poisoned"], 4);
    }

    #[test]
    fn interfaces_show_port_counters() {
        let h = handler(2);
        put_reports(&h);
        let text = run(&h, "show interfaces e2/0").unwrap();
        assert!(
            text.starts_with("Ethernet2/0 is up, line protocol is up\n  Hardware is e20\n"),
            "{text}"
        );
        assert!(
            text.contains("     10 packets input, 1000 bytes, 1 input drops\n"),
            "{text}"
        );
        assert!(
            text.contains("     7 packets output, 700 bytes, 0 output drops\n"),
            "{text}"
        );
        let all = run(&h, "show interfaces").unwrap();
        assert!(all.contains("Serial2/0 is administratively down"), "{all}");
        assert!(all.contains("  Hardware is not bound\n"), "{all}");
        assert!(run(&h, "show interfaces Ethernet7/7").is_err());
        let v: Value = serde_json::from_str(
            &h.execute(&Command::parse("show interfaces").unwrap(), true)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(v.as_array().unwrap().len(), 3);
    }

    #[test]
    fn configure_installs_a_new_generation() {
        let (mut producers, queues) =
            crate::logging::LogQueues::new(1, 16, Arc::new(crate::logging::DebugFlags::new()));
        let h = handler(1).with_log(producers.pop().unwrap());
        assert_eq!(h.shared().generation(), 1);
        run(&h, "configure ip inspect audit-trail").unwrap();
        assert_eq!(h.shared().generation(), 2);
        let mut logged = Vec::new();
        queues.drain_into(&mut logged, 16);
        assert_eq!(logged.len(), 1);
        assert_eq!(
            logged[0].record.to_string(),
            "%SYS-5-CONFIG_I: Configured from control socket (generation 2)"
        );
        // A line that changes nothing installs nothing and logs nothing.
        run(&h, "configure ip inspect audit-trail").unwrap();
        assert_eq!(h.shared().generation(), 2);
        assert_eq!(queues.drain_into(&mut logged, 16), 0);
        assert!(run(&h, "show ip inspect config")
            .unwrap()
            .starts_with("Session audit trail is enabled\n"));
        assert!(run(&h, "show running-config")
            .unwrap()
            .contains("ip inspect audit-trail\n"));
        // Interface mode carries over between requests.
        run(&h, "configure interface Ethernet2/0").unwrap();
        run(&h, "configure no ip access-group 101 in").unwrap();
        let cfg = h.shared().runtime();
        assert_eq!(
            cfg.config.interface("Ethernet2/0").unwrap().access_group_in,
            None
        );
        // A bad line changes nothing and says why.
        let generation = h.shared().generation();
        let err = run(&h, "configure ip inspect max-incomplete high banana").unwrap_err();
        assert!(matches!(err, ControlError::Rejected(_)), "{err:?}");
        assert!(err.to_string().starts_with('%'), "{err}");
        assert_eq!(h.shared().generation(), generation);
        // SIGHUP-style replacement goes back to the file.
        let (seed, _) = Config::load(SEED).unwrap();
        assert_eq!(
            h.replace_config(seed, ConfigVia::File).unwrap(),
            generation + 1
        );
        assert_eq!(run(&h, "show ip inspect all").unwrap(), SHOW_ALL);
    }

    #[test]
    fn debug_and_logging() {
        let h = handler(1);
        assert_eq!(
            run(&h, "debug ip inspect smtp").unwrap(),
            "INSPECT SMTP Inspection debugging is on"
        );
        assert_eq!(
            run(&h, "show debugging").unwrap(),
            "INSPECT:\n  INSPECT SMTP Inspection debugging is on\n"
        );
        let v: Value = serde_json::from_str(
            &h.execute(&Command::parse("show debugging").unwrap(), true)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(v["enabled"][0], "smtp");
        assert_eq!(
            run(&h, "undebug all").unwrap(),
            "All possible debugging has been turned off"
        );
        assert_eq!(run(&h, "show debugging").unwrap(), "");
        assert!(run(&h, "show logging")
            .unwrap()
            .contains("File logging: stderr"));
    }

    #[test]
    fn every_show_has_valid_json() {
        let h = handler(2);
        put_reports(&h);
        for line in [
            "show ip inspect all",
            "show ip inspect config",
            "show ip inspect interfaces",
            "show ip inspect name OUT-IN",
            "show ip inspect session detail",
            "show ip inspect statistics",
            "show ip nat translations verbose",
            "show access-lists",
            "show access-lists 7",
            "show interfaces",
            "show running-config",
            "show debugging",
            "show logging",
            "clear ip inspect statistics",
        ] {
            let text = h.execute(&Command::parse(line).unwrap(), true).unwrap();
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{line}: {e}: {text}"));
        }
    }

    #[test]
    fn map_names_normalise() {
        assert_eq!(normalise_name("e2/0").as_deref(), Some("Ethernet2/0"));
        assert_eq!(
            normalise_name("Ethernet2/1").as_deref(),
            Some("Ethernet2/1")
        );
        assert_eq!(normalise_name("nonsense"), None);
        assert_eq!(normalise_name("2/0"), None);
    }
}
