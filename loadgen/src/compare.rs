//! `loadgen compare`: the same workloads through (a) mailguard, (b) the Linux kernel as the
//! firewall (nftables + conntrack + static NAT + ACL 101, `nft/seed-firewall.nft`) and
//! (c) plain kernel forwarding, each in a freshly built seed lab, with the generator pinned
//! to one CPU and the responders (and mailguard) to another. Reports medians of repeated
//! runs, per second and per busy CPU-second of the whole machine, the ratios between the
//! variants, and an SVG chart.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::engine::{EngineConfig, Load, Workload};
use crate::mailguard::{Mailguard, SEED_CFG};
use crate::report::{median, ratio, Report};
use crate::responder::{Responder, ResponderConfig};
use crate::run::Placement;
use crate::smtp_client::{message_body, SmtpPlan};
use crate::svg::{grouped_bars, Series};
use crate::topo::{Lab, Variant};

#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// Variants to run: mailguard, kernel, plain (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "mailguard,kernel,plain")]
    pub variants: Vec<String>,
    /// Workloads: smtp, tcp, udp (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "smtp,tcp,udp")]
    pub workloads: Vec<String>,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Runs per workload and variant (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    #[arg(long, default_value_t = 64)]
    pub smtp_concurrency: usize,
    #[arg(long, default_value_t = 64)]
    pub tcp_concurrency: usize,
    #[arg(long, default_value_t = 256)]
    pub udp_concurrency: usize,
    /// Message size of the SMTP sessions.
    #[arg(long, default_value_t = 100)]
    pub body_size: usize,
    /// CPU of the generator.
    #[arg(long, default_value_t = 0)]
    pub gen_cpu: usize,
    /// CPU of the responders and of mailguard's worker(s).
    #[arg(long, default_value_t = 1)]
    pub dut_cpu: usize,
    /// The mailguard binary.
    #[arg(long)]
    pub mailguard: Option<PathBuf>,
    /// mailguard configuration (default: the embedded seed configuration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Keep the configuration's half-open thresholds. By default they are raised out of
    /// the way (the kernel firewall has none, and the seed's one-minute high of 500 new
    /// sessions per minute would put mailguard in aggressive mode within a second).
    #[arg(long)]
    pub keep_thresholds: bool,
    /// Seconds to wait for mailguard's control socket.
    #[arg(long, default_value_t = 10)]
    pub ready_timeout: u64,
    /// Where to write the chart.
    #[arg(long, default_value = "compare.svg")]
    pub svg: PathBuf,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Lines that lift the half-open protections out of a throughput run's way (values are at
/// the top of the PROPOSED ranges of `cbac-sessions.md` §6; lows first lowered order-safe).
pub const BENCH_THRESHOLDS: &[&str] = &[
    "ip inspect max-incomplete high 4294967295",
    "ip inspect max-incomplete low 4294967294",
    "ip inspect one-minute high 4294967295",
    "ip inspect one-minute low 4294967294",
    "ip inspect tcp max-incomplete host 250 block-time 0",
];

/// `config` with `BENCH_THRESHOLDS` inserted before its final `end` line (or appended).
pub fn with_bench_thresholds(config: &str) -> String {
    let extra: String = BENCH_THRESHOLDS.iter().map(|l| format!("{l}\n")).collect();
    let lines: Vec<&str> = config.lines().collect();
    match lines.iter().rposition(|l| l.trim() == "end") {
        Some(i) => {
            let mut out = lines[..i].join("\n");
            out.push('\n');
            out.push_str(&extra);
            out.push_str(&lines[i..].join("\n"));
            out.push('\n');
            out
        }
        None => format!("{config}\n{extra}"),
    }
}

/// Workloads of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Smtp,
    Tcp,
    Udp,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim() {
            "smtp" => Some(Kind::Smtp),
            "tcp" => Some(Kind::Tcp),
            "udp" => Some(Kind::Udp),
            _ => None,
        }
    }
    pub fn unit(self) -> &'static str {
        match self {
            Kind::Smtp => "SMTP sessions",
            Kind::Tcp => "TCP connections",
            Kind::Udp => "UDP packets",
        }
    }
    /// Units counted per successful engine session (a UDP transaction is 2 packets).
    fn per_ok(self) -> f64 {
        if self == Kind::Udp {
            2.0
        } else {
            1.0
        }
    }
}

pub fn parse_variant(s: &str) -> Option<Variant> {
    match s.trim() {
        "mailguard" | "a" => Some(Variant::Mailguard),
        "kernel" | "kernel-firewall" | "b" => Some(Variant::KernelFirewall),
        "plain" | "plain-forwarding" | "c" => Some(Variant::Plain),
        _ => None,
    }
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct RunFigures {
    pub per_s: f64,
    /// Per CPU-second of the lab's own work: this process (generator + responders), the
    /// mailguard process, and the kernel's softirq threads.
    pub per_lab_cpu_s: f64,
    pub lab_cpu_s: f64,
    pub per_machine_cpu_s: f64,
    pub per_generator_cpu_s: f64,
    pub failed: u64,
    pub failures: std::collections::BTreeMap<String, u64>,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl RunFigures {
    pub fn from_report(k: Kind, r: &Report, lab_cpu: Duration) -> Self {
        let lab_cpu_s = lab_cpu.as_secs_f64();
        RunFigures {
            per_s: r.ok_per_s * k.per_ok(),
            per_lab_cpu_s: crate::report::per_second(r.ok, lab_cpu_s) * k.per_ok(),
            lab_cpu_s,
            per_machine_cpu_s: r.ok_per_machine_cpu_s * k.per_ok(),
            per_generator_cpu_s: r.ok_per_generator_cpu_s * k.per_ok(),
            failed: r.failed,
            failures: r.failures.clone(),
            p50_us: r.session_latency.p50_us,
            p99_us: r.session_latency.p99_us,
        }
    }
}

/// Medians over the runs of one (variant, workload).
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub variant: &'static str,
    pub workload: Kind,
    pub unit: &'static str,
    pub runs: Vec<RunFigures>,
    pub median_per_s: Option<f64>,
    pub median_per_lab_cpu_s: Option<f64>,
    pub median_per_machine_cpu_s: Option<f64>,
    pub median_p99_us: Option<f64>,
    pub failed_total: u64,
    /// Why there are no runs (variant could not start).
    pub error: Option<String>,
}

impl Cell {
    pub fn new(variant: Variant, k: Kind, runs: Vec<RunFigures>, error: Option<String>) -> Self {
        let col = |f: fn(&RunFigures) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        Cell {
            variant: variant.name(),
            workload: k,
            unit: k.unit(),
            median_per_s: col(|r| r.per_s),
            median_per_lab_cpu_s: col(|r| r.per_lab_cpu_s),
            median_per_machine_cpu_s: col(|r| r.per_machine_cpu_s),
            median_p99_us: col(|r| r.p99_us as f64),
            failed_total: runs.iter().map(|r| r.failed).sum(),
            runs,
            error,
        }
    }
}

/// Ratio of two variants on one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub workload: Kind,
    pub numerator: &'static str,
    pub denominator: &'static str,
    pub per_s: Option<f64>,
    pub per_lab_cpu_s: Option<f64>,
    pub per_machine_cpu_s: Option<f64>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub nproc: usize,
    pub layout: String,
    pub duration_s: f64,
    pub repeats: usize,
    pub cells: Vec<Cell>,
    pub ratios: Vec<Ratio>,
}

/// Ratios for every pair of variants (in the order given) on every workload.
pub fn ratios(cells: &[Cell]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let variants: Vec<&'static str> = {
        let mut v: Vec<&'static str> = Vec::new();
        for c in cells {
            if !v.contains(&c.variant) {
                v.push(c.variant);
            }
        }
        v
    };
    let workloads: Vec<Kind> = {
        let mut v = Vec::new();
        for c in cells {
            if !v.contains(&c.workload) {
                v.push(c.workload);
            }
        }
        v
    };
    for &k in &workloads {
        for (i, &a) in variants.iter().enumerate() {
            for &b in &variants[i + 1..] {
                let get = |v: &str| cells.iter().find(|c| c.variant == v && c.workload == k);
                let (Some(ca), Some(cb)) = (get(a), get(b)) else {
                    continue;
                };
                let r = |x: Option<f64>, y: Option<f64>| x.zip(y).and_then(|(x, y)| ratio(x, y));
                out.push(Ratio {
                    workload: k,
                    numerator: a,
                    denominator: b,
                    per_s: r(ca.median_per_s, cb.median_per_s),
                    per_lab_cpu_s: r(ca.median_per_lab_cpu_s, cb.median_per_lab_cpu_s),
                    per_machine_cpu_s: r(ca.median_per_machine_cpu_s, cb.median_per_machine_cpu_s),
                });
            }
        }
    }
    out
}

fn smtp_config(
    target: SocketAddrV4,
    sources: Vec<Ipv4Addr>,
    conc: usize,
    dur: f64,
    body: usize,
) -> EngineConfig {
    EngineConfig {
        target,
        sources,
        load: Load::Concurrency(conc),
        count: None,
        duration: Some(Duration::from_secs_f64(dur)),
        session_timeout: Duration::from_secs(10),
        shared: vec![
            Arc::from(message_body(
                body,
                "loadgen@client.example",
                "postmaster@mail.example",
            )),
            Arc::from(message_body(
                body,
                "loadgen@client.example",
                "postmaster@mail.example",
            )),
        ],
        recv_size: 4096,
        workload: Workload::Smtp {
            plan: SmtpPlan {
                ehlo: false,
                helo_name: "client.example".into(),
                mail_from: "loadgen@client.example".into(),
                rcpts: vec!["postmaster@mail.example".into()],
                illegal_command: "XSHELL /bin/sh".into(),
                body: 0,
                large_body: 1,
            },
            mix: crate::mix::Mix::parse("legal").unwrap_or_else(|_| unreachable!("static mix")),
            rcpts: 1,
        },
    }
}

fn echo_config(target: SocketAddrV4, workload: Workload, conc: usize, dur: f64) -> EngineConfig {
    // A lost datagram should cost its slot 1 s, not the TCP-sized 5 s.
    let timeout = if matches!(workload, Workload::Udp) {
        1
    } else {
        5
    };
    EngineConfig {
        target,
        sources: vec![],
        load: Load::Concurrency(conc),
        count: None,
        duration: Some(Duration::from_secs_f64(dur)),
        session_timeout: Duration::from_secs(timeout),
        shared: vec![Arc::from(&[b'x'; 64][..])],
        recv_size: 2048,
        workload,
    }
}

/// Ports of the responders in the lab.
const WEB: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 80);
const UDP_ECHO: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 7);

/// Builds one variant's lab with its responders (and mailguard), checks one session of
/// each workload gets through, then measures every workload `repeats` times.
fn measure_variant(
    a: &CompareArgs,
    variant: Variant,
    kinds: &[Kind],
    stop: &Arc<dyn Fn() -> bool + Send + Sync>,
) -> Result<Vec<(Kind, Vec<RunFigures>)>, String> {
    let id = crate::topo::unique_id();
    let mut lab = Lab::up(&id, variant).map_err(|e| format!("lab: {e}"))?;
    let dut = a.dut_cpu.to_string();
    let mg = match variant {
        Variant::Mailguard => {
            let bin = a
                .mailguard
                .clone()
                .unwrap_or_else(crate::cli::default_mailguard);
            let cfg = match &a.config {
                Some(p) => {
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?
                }
                None => SEED_CFG.to_string(),
            };
            let cfg = if a.keep_thresholds {
                cfg
            } else {
                with_bench_thresholds(&cfg)
            };
            Some(
                Mailguard::start(
                    &mut lab,
                    &bin,
                    &cfg,
                    a.workers,
                    &dut,
                    Duration::from_secs(a.ready_timeout),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        _ => None,
    };
    let mail = Responder::spawn(ResponderConfig {
        smtp: Some(SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 25)),
        netns: Some(lab.ns.mail.clone()),
        cpu: Some(a.dut_cpu),
        ..ResponderConfig::default()
    })
    .map_err(|e| format!("mail responder: {e}"))?;
    let web = Responder::spawn(ResponderConfig {
        echo: Some(WEB),
        udp: Some(UDP_ECHO),
        netns: Some(lab.ns.client.clone()),
        cpu: Some(a.dut_cpu),
        ..ResponderConfig::default()
    })
    .map_err(|e| format!("web responder: {e}"))?;
    let smtp_target = lab.smtp_target();
    let sources = vec![
        Ipv4Addr::new(198, 51, 100, 7),
        Ipv4Addr::new(198, 51, 100, 8),
    ];
    let build = |k: Kind, dur: f64, conc_scale: bool| -> (EngineConfig, String) {
        let c = |n: usize| if conc_scale { n } else { 1 };
        match k {
            Kind::Smtp => (
                smtp_config(
                    smtp_target,
                    sources.clone(),
                    c(a.smtp_concurrency),
                    dur,
                    a.body_size,
                ),
                lab.ns.client.clone(),
            ),
            Kind::Tcp => (
                echo_config(WEB, Workload::TcpEcho, c(a.tcp_concurrency), dur),
                lab.ns.host5.clone(),
            ),
            Kind::Udp => (
                echo_config(UDP_ECHO, Workload::Udp, c(a.udp_concurrency), dur),
                lab.ns.host5.clone(),
            ),
        }
    };
    // Reachability check: a few sessions of each workload must succeed first.
    for &k in kinds {
        let (mut cfg, ns) = build(k, 0.0, false);
        cfg.duration = None;
        cfg.count = Some(3);
        cfg.session_timeout = Duration::from_secs(5);
        let place = Placement {
            netns: Some(ns),
            cpus: vec![a.gen_cpu],
            progress: false,
        };
        let r = crate::run::run(&cfg, &place, Arc::clone(stop)).map_err(|e| e.to_string())?;
        if r.ok != 3 {
            return Err(format!(
                "{}: {:?} does not get through (ok {} of 3, failures {:?})",
                variant.name(),
                k,
                r.ok,
                r.failures
            ));
        }
    }
    let mut out = Vec::new();
    for &k in kinds {
        let mut runs = Vec::new();
        for i in 0..a.repeats {
            if stop() {
                return Err("interrupted".into());
            }
            let (cfg, ns) = build(k, a.duration, true);
            let place = Placement {
                netns: Some(ns),
                cpus: vec![a.gen_cpu],
                progress: false,
            };
            let lab_cpu = || {
                crate::sys::cpu::process_cpu().unwrap_or_default()
                    + mg.as_ref()
                        .and_then(|m| crate::cpustat::pid_cpu(m.pid))
                        .unwrap_or_default()
                    + crate::cpustat::ksoftirqd_cpu()
            };
            let cpu0 = lab_cpu();
            let r = crate::run::run(&cfg, &place, Arc::clone(stop)).map_err(|e| e.to_string())?;
            let used = lab_cpu().saturating_sub(cpu0);
            eprintln!(
                "  {} {:?} run {}: {:.0} {}/s, {:.0} per lab cpu-s, {:.0} per machine cpu-s, failed {} {:?}",
                variant.name(),
                k,
                i + 1,
                r.ok_per_s * k.per_ok(),
                k.unit(),
                crate::report::per_second(r.ok, used.as_secs_f64()) * k.per_ok(),
                r.ok_per_machine_cpu_s * k.per_ok(),
                r.failed,
                r.failures
            );
            runs.push(RunFigures::from_report(k, &r, used));
            // Let TIME_WAIT / conntrack entries of this run age before the next.
            std::thread::sleep(Duration::from_secs(1));
        }
        out.push((k, runs));
    }
    drop(web);
    drop(mail);
    Ok(out)
}

/// `loadgen compare`.
pub fn main(
    a: &CompareArgs,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) -> Result<Comparison, String> {
    let variants = a
        .variants
        .iter()
        .map(|v| {
            parse_variant(v)
                .ok_or_else(|| format!("unknown variant {v:?} (mailguard, kernel, plain)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kinds = a
        .workloads
        .iter()
        .map(|w| Kind::parse(w).ok_or_else(|| format!("unknown workload {w:?} (smtp, tcp, udp)")))
        .collect::<Result<Vec<_>, _>>()?;
    if a.repeats == 0 || !(a.duration > 0.0 && a.duration <= 600.0) {
        return Err("--repeats must be ≥ 1 and --duration in (0, 600] s".into());
    }
    let mut cells = Vec::new();
    let mut errors = Vec::new();
    for &v in &variants {
        eprintln!("{}:", v.name());
        match measure_variant(a, v, &kinds, &stop) {
            Ok(per) => {
                for (k, runs) in per {
                    cells.push(Cell::new(v, k, runs, None));
                }
            }
            Err(e) => {
                eprintln!("  {}: {e}", v.name());
                for &k in &kinds {
                    cells.push(Cell::new(v, k, Vec::new(), Some(e.clone())));
                }
                errors.push(format!("{}: {e}", v.name()));
            }
        }
        if stop() {
            break;
        }
    }
    let cmp = Comparison {
        nproc: crate::sys::cpu::online_cpus(),
        layout: format!(
            "generator pinned to CPU {}; responders{} pinned to CPU {}; kernel forwarding runs in softirq on the sending CPU",
            a.gen_cpu,
            if variants.contains(&Variant::Mailguard) { " and mailguard" } else { "" },
            a.dut_cpu
        ),
        duration_s: a.duration,
        repeats: a.repeats,
        ratios: ratios(&cells),
        cells,
    };
    std::fs::write(&a.svg, chart(&cmp)).map_err(|e| format!("{}: {e}", a.svg.display()))?;
    if cmp.cells.iter().all(|c| c.runs.is_empty()) {
        return Err(format!(
            "no variant could be measured: {}",
            errors.join("; ")
        ));
    }
    Ok(cmp)
}

/// Two panels side by side would need layout code; one chart per metric is written in a
/// single SVG document stacked vertically.
pub fn chart(c: &Comparison) -> String {
    let mut groups: Vec<Kind> = Vec::new();
    for cell in &c.cells {
        if !groups.contains(&cell.workload) {
            groups.push(cell.workload);
        }
    }
    let mut variants: Vec<&'static str> = Vec::new();
    for cell in &c.cells {
        if !variants.contains(&cell.variant) {
            variants.push(cell.variant);
        }
    }
    let panel = |title: &str, f: fn(&Cell) -> Option<f64>| {
        // Normalise each workload to its best variant (units differ between workloads).
        let best: Vec<f64> = groups
            .iter()
            .map(|&k| {
                c.cells
                    .iter()
                    .filter(|x| x.workload == k)
                    .filter_map(f)
                    .fold(0.0, f64::max)
            })
            .collect();
        let series = variants
            .iter()
            .map(|&v| {
                let cells: Vec<Option<&Cell>> = groups
                    .iter()
                    .map(|&k| c.cells.iter().find(|x| x.variant == v && x.workload == k))
                    .collect();
                Series {
                    name: v.to_string(),
                    values: cells
                        .iter()
                        .zip(&best)
                        .map(|(cell, &b)| cell.and_then(f).and_then(|x| ratio(x, b)))
                        .collect(),
                    labels: cells
                        .iter()
                        .map(|cell| {
                            cell.and_then(f)
                                .map_or(String::new(), |x| format!("{x:.0}"))
                        })
                        .collect(),
                }
            })
            .collect::<Vec<_>>();
        let names: Vec<String> = groups.iter().map(|k| k.unit().to_string()).collect();
        grouped_bars(
            title,
            "relative to best (labels: absolute)",
            &names,
            &series,
        )
    };
    let a = panel("Throughput per second (median)", |x| x.median_per_s);
    let b = panel(
        "Throughput per busy CPU-second of the machine (median)",
        |x| x.median_per_machine_cpu_s,
    );
    // Stack the two SVGs inside one document.
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"760\">\n<g>{}</g>\n<g transform=\"translate(0,380)\">{}</g>\n</svg>\n",
        a, b
    )
}

/// Text rendering of the comparison.
pub fn to_text(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "nproc {}; {}; {} runs of {} s, medians",
        c.nproc, c.layout, c.repeats, c.duration_s
    );
    let _ = writeln!(
        s,
        "{:<18} {:<16} {:>12} {:>14} {:>18} {:>10} {:>8}",
        "variant", "workload", "per s", "per lab cpu-s", "per machine cpu-s", "p99 µs", "failed"
    );
    for cell in &c.cells {
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = writeln!(
            s,
            "{:<18} {:<16} {:>12} {:>14} {:>18} {:>10} {:>8}{}",
            cell.variant,
            cell.unit,
            f(cell.median_per_s),
            f(cell.median_per_lab_cpu_s),
            f(cell.median_per_machine_cpu_s),
            f(cell.median_p99_us),
            cell.failed_total,
            cell.error
                .as_ref()
                .map_or(String::new(), |e| format!("  ({e})"))
        );
    }
    for r in &c.ratios {
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        let _ = writeln!(
            s,
            "ratio {:?} {} / {}: per s {}, per lab cpu-s {}, per machine cpu-s {}",
            r.workload,
            r.numerator,
            r.denominator,
            f(r.per_s),
            f(r.per_lab_cpu_s),
            f(r.per_machine_cpu_s)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs(per_s: f64, cpu: f64) -> RunFigures {
        RunFigures {
            per_s,
            per_lab_cpu_s: cpu,
            lab_cpu_s: 1.0,
            per_machine_cpu_s: cpu,
            per_generator_cpu_s: 0.0,
            failed: 0,
            failures: Default::default(),
            p50_us: 1,
            p99_us: 2,
        }
    }

    #[test]
    fn medians_and_ratios_on_fixed_data() {
        let cells = vec![
            Cell::new(
                Variant::KernelFirewall,
                Kind::Smtp,
                vec![figs(100.0, 50.0), figs(300.0, 70.0), figs(200.0, 60.0)],
                None,
            ),
            Cell::new(
                Variant::Plain,
                Kind::Smtp,
                vec![figs(400.0, 100.0), figs(400.0, 120.0)],
                None,
            ),
            Cell::new(
                Variant::Mailguard,
                Kind::Smtp,
                vec![],
                Some("pending".into()),
            ),
        ];
        assert_eq!(cells[0].median_per_s, Some(200.0));
        assert_eq!(cells[1].median_per_machine_cpu_s, Some(110.0));
        assert_eq!(cells[2].median_per_s, None);
        let r = ratios(&cells);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].numerator, r[0].denominator),
            ("kernel-firewall", "plain-forwarding")
        );
        assert_eq!(r[0].per_s, Some(0.5));
        assert_eq!(r[0].per_machine_cpu_s, Some(60.0 / 110.0));
        assert_eq!(r[1].per_s, None, "mailguard not measured");
        let c = Comparison {
            nproc: 2,
            layout: "x".into(),
            duration_s: 1.0,
            repeats: 3,
            ratios: r,
            cells,
        };
        let t = to_text(&c);
        assert!(t.contains("(pending)"), "{t}");
        assert!(t.lines().nth(1).unwrap().contains("per lab cpu-s"), "{t}");
        let svg = chart(&c);
        assert!(svg.matches("<svg").count() == 3);
    }

    #[test]
    fn bench_thresholds_go_before_end() {
        let c = with_bench_thresholds(SEED_CFG);
        let lines: Vec<&str> = c.lines().collect();
        let end = lines.iter().rposition(|l| l.trim() == "end").unwrap();
        assert_eq!(end, lines.len() - 1);
        assert_eq!(
            lines[end - 1],
            "ip inspect tcp max-incomplete host 250 block-time 0"
        );
        assert!(c.contains("ip nat inside source static 10.10.10.2 172.22.1.110"));
        assert!(with_bench_thresholds("hostname x").ends_with("block-time 0\n"));
    }

    #[test]
    fn udp_counts_two_packets_per_transaction() {
        assert_eq!(Kind::Udp.per_ok(), 2.0);
        assert_eq!(parse_variant("b"), Some(Variant::KernelFirewall));
        assert_eq!(parse_variant("x"), None);
        assert_eq!(Kind::parse("tcp"), Some(Kind::Tcp));
    }
}
