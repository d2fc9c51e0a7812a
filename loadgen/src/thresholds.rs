//! `loadgen thresholds`: drives a running mailguard (in a seed lab this command builds)
//! through its half-open protections (`spec/cbac-sessions.md` §7; acceptance cases C1–C3
//! of `spec/seed-scenario.md` §5) and reports, per threshold, where the alarm turned on
//! and off against the configured value, with a pass/fail.
//!
//! * per-host limit (C3): SYNs to 172.22.1.110:25, which the mail namespace drops, one at
//!   a time; `HOST_TCP_ALERT_ON` must appear at SYN `limit + 1`, naming the host and limit.
//! * max-incomplete (C1): UDP datagrams from host5 to 192.0.2.53:9, which the client
//!   namespace drops, from distinct ports; `ALERT_ON` at datagram `high + 1` with
//!   `count (high/high)`; `ALERT_OFF` with `count (0/low)` once the sessions expired and a
//!   sampling period ended (30–61 s later with the defaults).
//! * one-minute (C2): complete TCP connections host5 → 203.0.113.9:80 one after another;
//!   `ALERT_ON` with `count (0/high)` and rate `high + 1`; `ALERT_OFF` at a period end.
//!
//! Each phase runs on a freshly started lab and mailguard so earlier phases leave no
//! half-open sessions or rates behind. Every wait is bounded.
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::mailguard::{Mailguard, SEED_CFG};
use crate::responder::{Responder, ResponderConfig};
use crate::synframe::{SynTemplate, FRAME_LEN};
use crate::topo::{Lab, Variant};

#[derive(Debug, Args, Clone)]
pub struct ThresholdArgs {
    /// The mailguard binary.
    #[arg(long)]
    pub mailguard: Option<PathBuf>,
    /// Configuration (default: the embedded seed configuration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Phases to run: host, max-incomplete, one-minute (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "host,max-incomplete,one-minute"
    )]
    pub phases: Vec<String>,
    /// Do not wait for the ALERT_OFF lines (they need up to ~95 s per phase).
    #[arg(long)]
    pub skip_off: bool,
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// CPU list for mailguard (taskset syntax).
    #[arg(long, default_value = "1")]
    pub dut_cpus: String,
    #[arg(long, default_value_t = 10)]
    pub ready_timeout: u64,
    #[arg(long)]
    pub json: bool,
}

/// Configured thresholds, as `show ip inspect config|all` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    pub one_minute_low: u64,
    pub one_minute_high: u64,
    pub max_incomplete_low: u64,
    pub max_incomplete_high: u64,
    pub host_limit: u64,
    pub block_time_min: u64,
}

fn bracket_pair(line: &str) -> Option<(u64, u64)> {
    let inner = line.split_once('[')?.1.split_once(']')?.0;
    let (a, b) = inner.split_once(':')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Parses the threshold lines of `show ip inspect config` / `all` (seed-scenario.md §3.1).
pub fn parse_thresholds(show: &str) -> Option<Thresholds> {
    let mut om = None;
    let mut mi = None;
    let mut host = None;
    for line in show.lines().map(str::trim) {
        if line.starts_with("one-minute (sampling period) thresholds are") {
            om = bracket_pair(line);
        } else if line.starts_with("max-incomplete sessions thresholds are") {
            mi = bracket_pair(line);
        } else if let Some(rest) = line.strip_prefix("max-incomplete tcp connections per host is ")
        {
            let (n, rest) = rest.split_once('.')?;
            let bt = rest
                .trim()
                .strip_prefix("Block-time ")?
                .split_whitespace()
                .next()?;
            host = Some((n.trim().parse().ok()?, bt.parse().ok()?));
        }
    }
    let ((oml, omh), (mil, mih), (hl, bt)) = (om?, mi?, host?);
    Some(Thresholds {
        one_minute_low: oml,
        one_minute_high: omh,
        max_incomplete_low: mil,
        max_incomplete_high: mih,
        host_limit: hl,
        block_time_min: bt,
    })
}

/// One half-open alarm line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Alarm {
    On {
        count: u64,
        high: u64,
        rate: u64,
    },
    Off {
        count: u64,
        low: u64,
        rate: u64,
    },
    HostOn {
        limit: u64,
        host: Ipv4Addr,
    },
    Block {
        host: Ipv4Addr,
        minutes: u64,
        limit: u64,
    },
    Unblock {
        host: Ipv4Addr,
    },
}

fn count_pair(s: &str) -> Option<(u64, u64, u64)> {
    let inner = s.split_once("count (")?.1;
    let (pair, rest) = inner.split_once(')')?;
    let (a, b) = pair.split_once('/')?;
    let rate = rest
        .split_once("current 1-min rate:")?
        .1
        .split_whitespace()
        .next()?;
    Some((a.parse().ok()?, b.parse().ok()?, rate.parse().ok()?))
}

fn host_in(s: &str, after: &str) -> Option<Ipv4Addr> {
    s.split_once(after)?
        .1
        .split_whitespace()
        .next()?
        .trim_end_matches('.')
        .parse()
        .ok()
}

/// Parses one log line (any prefix before `%FW-` is ignored: timestamps, syslog headers).
pub fn parse_alarm(line: &str) -> Option<Alarm> {
    let at = line.find("%FW-")?;
    let m = &line[at..];
    if m.starts_with("%FW-4-ALERT_ON:") {
        let (count, high, rate) = count_pair(m)?;
        Some(Alarm::On { count, high, rate })
    } else if m.starts_with("%FW-4-ALERT_OFF:") {
        let (count, low, rate) = count_pair(m)?;
        Some(Alarm::Off { count, low, rate })
    } else if m.starts_with("%FW-4-HOST_TCP_ALERT_ON:") {
        let limit = m
            .split_once("connections (")?
            .1
            .split_once(')')?
            .0
            .parse()
            .ok()?;
        Some(Alarm::HostOn {
            limit,
            host: host_in(m, "for host ")?,
        })
    } else if m.starts_with("%FW-2-BLOCK_HOST:") {
        let host = host_in(m, "connections to host ")?;
        let minutes = m
            .split_once(" for ")?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let limit = m
            .split_once("half-open count ")?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(Alarm::Block {
            host,
            minutes,
            limit,
        })
    } else if m.starts_with("%FW-4-UNBLOCK_HOST:") {
        Some(Alarm::Unblock {
            host: host_in(m, "to host ")?,
        })
    } else {
        None
    }
}

/// Every alarm in a log text, in order.
pub fn parse_alarms(log: &str) -> Vec<Alarm> {
    log.lines().filter_map(parse_alarm).collect()
}

/// The verdict on one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub threshold: &'static str,
    pub configured: String,
    /// The attempt (SYN, datagram, connection) at which the ON alarm appeared.
    pub on_at: Option<u64>,
    pub expected_on_at: u64,
    pub on_line: Option<Alarm>,
    /// Seconds from the ON alarm to the OFF alarm.
    pub off_after_s: Option<f64>,
    pub off_line: Option<Alarm>,
    pub pass: bool,
    pub detail: String,
    /// `show ip inspect statistics --json` at the end of the phase.
    pub statistics: Option<serde_json::Value>,
}

/// Reads `show ip inspect statistics --json`; a reply that is not JSON is an error.
fn statistics(mg: &Mailguard) -> Result<serde_json::Value, String> {
    let text = mg
        .show(&["ip", "inspect", "statistics"], true)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text)
        .map_err(|e| format!("`show ip inspect statistics --json` is not JSON: {e}"))
}
pub fn judge_host(t: &Thresholds, on_at: Option<u64>, alarms: &[Alarm], host: Ipv4Addr) -> Check {
    let on = alarms
        .iter()
        .find(|a| matches!(a, Alarm::HostOn { .. }))
        .cloned();
    let expected = t.host_limit + 1;
    let mut problems = Vec::new();
    if on_at != Some(expected) {
        problems.push(format!("alert at SYN {on_at:?}, expected {expected}"));
    }
    match &on {
        Some(Alarm::HostOn { limit, host: h }) if *limit == t.host_limit && *h == host => {}
        Some(other) => problems.push(format!("alert line {other:?}")),
        None => problems.push("no HOST_TCP_ALERT_ON line".into()),
    }
    let n_on = alarms
        .iter()
        .filter(|a| matches!(a, Alarm::HostOn { .. }))
        .count();
    if n_on > 1 {
        problems.push(format!("{n_on} HOST_TCP_ALERT_ON lines, expected 1"));
    }
    Check {
        threshold: "max-incomplete host",
        configured: format!("{} (block-time {} min)", t.host_limit, t.block_time_min),
        on_at,
        expected_on_at: expected,
        on_line: on,
        off_after_s: None,
        off_line: None,
        pass: problems.is_empty(),
        detail: problems.join("; "),
        statistics: None,
    }
}

/// Judges a global-alarm phase (`count` = max-incomplete, `rate` = one-minute).
pub fn judge_global(
    name: &'static str,
    t: &Thresholds,
    on_at: Option<u64>,
    alarms: &[Alarm],
    off_after_s: Option<f64>,
    want_off: bool,
) -> Check {
    let rate_phase = name == "one-minute";
    let (low, high) = if rate_phase {
        (t.one_minute_low, t.one_minute_high)
    } else {
        (t.max_incomplete_low, t.max_incomplete_high)
    };
    let expected = high + 1;
    let on = alarms
        .iter()
        .find(|a| matches!(a, Alarm::On { .. }))
        .cloned();
    let off = alarms
        .iter()
        .find(|a| matches!(a, Alarm::Off { .. }))
        .cloned();
    let mut problems = Vec::new();
    match &on {
        Some(Alarm::On {
            count,
            high: h,
            rate,
        }) => {
            if *h != t.max_incomplete_high {
                problems.push(format!(
                    "ON line shows high {h}, configured {}",
                    t.max_incomplete_high
                ));
            }
            if rate_phase {
                if *rate != high + 1 {
                    problems.push(format!("ON at rate {rate}, expected {}", high + 1));
                }
                if *count > 1 {
                    problems.push(format!("ON with half-open count {count}, expected 0 or 1"));
                }
            } else if *count != high {
                problems.push(format!("ON with count {count}, expected {high}"));
            }
        }
        _ => problems.push("no ALERT_ON line".into()),
    }
    if !rate_phase && on_at != Some(expected) {
        problems.push(format!(
            "ALERT_ON at datagram {on_at:?}, expected {expected}"
        ));
    }
    if want_off {
        match &off {
            Some(Alarm::Off {
                count,
                low: l,
                rate,
            }) => {
                if *l != t.max_incomplete_low {
                    problems.push(format!(
                        "OFF line shows low {l}, configured {}",
                        t.max_incomplete_low
                    ));
                }
                if *count >= t.max_incomplete_low || *rate >= t.one_minute_low {
                    problems.push(format!(
                        "OFF with count {count} rate {rate}: not below the low thresholds"
                    ));
                }
            }
            _ => problems.push("no ALERT_OFF line".into()),
        }
        if !rate_phase {
            if let Some(s) = off_after_s {
                // Sessions expire after the UDP idle time (30 s); the alarm clears at the next
                // period boundary: 30–61 s, ±1 s for a real-time run.
                if !(29.0..=62.0).contains(&s) {
                    problems.push(format!("OFF {s:.1} s after ON, expected 30–61 s"));
                }
            }
        }
    }
    let ons = alarms
        .iter()
        .filter(|a| matches!(a, Alarm::On { .. }))
        .count();
    if ons > 1 {
        problems.push(format!("{ons} ALERT_ON lines, expected 1"));
    }
    Check {
        threshold: name,
        configured: format!("[{low}:{high}]"),
        on_at,
        expected_on_at: expected,
        on_line: on,
        off_after_s,
        off_line: off,
        pass: problems.is_empty(),
        detail: problems.join("; "),
        statistics: None,
    }
}

/// Result of `loadgen thresholds`.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdReport {
    pub configured: Thresholds,
    pub checks: Vec<Check>,
    pub pass: bool,
}

struct Phase {
    lab: Lab,
    mg: Mailguard,
}

fn start_phase(a: &ThresholdArgs) -> Result<Phase, String> {
    let mut lab =
        Lab::up(&crate::topo::unique_id(), Variant::Mailguard).map_err(|e| format!("lab: {e}"))?;
    let bin = a
        .mailguard
        .clone()
        .unwrap_or_else(crate::cli::default_mailguard);
    let cfg = match &a.config {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => SEED_CFG.to_string(),
    };
    let mg = Mailguard::start(
        &mut lab,
        &bin,
        &cfg,
        a.workers,
        &a.dut_cpus,
        Duration::from_secs(a.ready_timeout),
    )
    .map_err(|e| e.to_string())?;
    // Resolve every neighbour on the paths first (ICMP sessions are not half-open and do not
    // count toward the one-minute rate), so no test packet is lost to ARP resolution.
    for (ns, dst) in [
        (&lab.ns.mail, "198.51.100.7"),
        (&lab.ns.host5, "192.0.2.53"),
    ] {
        if let Err(e) = lab.exec(ns, &["ping", "-c", "1", "-W", "2", dst]) {
            return Err(format!("path check: ping {dst} from {ns} failed: {e}"));
        }
    }
    Ok(Phase { lab, mg })
}

/// Waits (bounded) until `pred` holds on the parsed log.
fn wait_log(mg: &Mailguard, within: Duration, pred: impl Fn(&[Alarm]) -> bool) -> Vec<Alarm> {
    let deadline = Instant::now() + within;
    loop {
        let alarms = parse_alarms(&mg.log_text());
        if pred(&alarms) || Instant::now() > deadline {
            return alarms;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn in_ns<T: Send + 'static>(
    ns: String,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        crate::sys::netns::enter(&ns).map_err(|e| e.to_string())?;
        f()
    })
    .join()
    .map_err(|_| "phase thread panicked".to_string())?
}

fn host_phase(a: &ThresholdArgs, t: &Thresholds) -> Result<Check, String> {
    let p = start_phase(a)?;
    // The mail server drops SYNs silently, so every SYN leaves a half-open session.
    p.lab
        .exec(&p.lab.ns.mail, &["nft", "add table ip lg; add chain ip lg in { type filter hook input priority 0; }; add rule ip lg in tcp dport 25 drop"])
        .map_err(|e| e.to_string())?;
    let client = p.lab.ns.client.clone();
    let limit = t.host_limit;
    let victim = Ipv4Addr::new(172, 22, 1, 110);
    let mg_log = p.mg.log.clone();
    let mg_out = p.mg.output.clone();
    let on_at = in_ns(client, move || {
        let (ifindex, src_mac) =
            crate::sys::packet::interface(crate::topo::CLIENT_IF).map_err(|e| e.to_string())?;
        let dst_mac =
            crate::synflood::resolve_mac(Ipv4Addr::new(198, 51, 100, 1), crate::topo::CLIENT_IF)
                .map_err(|e| e.to_string())?;
        let tx =
            crate::sys::packet::PacketSocket::transmitter(ifindex).map_err(|e| e.to_string())?;
        let tpl = SynTemplate {
            src_mac,
            dst_mac,
            sources: vec![Ipv4Addr::new(198, 51, 100, 7)],
            dst: victim,
            dport: 25,
            sport_lo: 41_000,
            sport_hi: 41_000 + limit as u16 + 10,
        };
        let mut f = [0u8; FRAME_LEN];
        let log_has_host_on = || {
            let text = std::fs::read_to_string(&mg_log).unwrap_or_default()
                + &std::fs::read_to_string(&mg_out).unwrap_or_default();
            parse_alarms(&text)
                .iter()
                .any(|x| matches!(x, Alarm::HostOn { .. }))
        };
        for i in 0..limit + 2 {
            tpl.write(i, &mut f);
            tx.send_batch(&[&f[..]]).map_err(|e| e.to_string())?;
            // Give the firewall time to log before the next SYN, so the SYN that
            // triggered the alert is known exactly.
            let deadline =
                Instant::now() + Duration::from_millis(if i + 1 >= limit { 500 } else { 20 });
            while Instant::now() < deadline {
                if log_has_host_on() {
                    return Ok(Some(i + 1));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(None)
    })?;
    let alarms = wait_log(&p.mg, Duration::from_millis(500), |_| false);
    let mut c = judge_host(t, on_at, &alarms, victim);
    c.statistics = Some(statistics(&p.mg)?);
    Ok(c)
}

fn max_incomplete_phase(a: &ThresholdArgs, t: &Thresholds) -> Result<Check, String> {
    let p = start_phase(a)?;
    // 192.0.2.53:9 is a silent sink: datagrams vanish, so UDP sessions stay half-open.
    p.lab
        .exec(&p.lab.ns.client, &["nft", "add table ip lg; add chain ip lg in { type filter hook input priority 0; }; add rule ip lg in udp dport 9 drop"])
        .map_err(|e| e.to_string())?;
    let high = t.max_incomplete_high;
    if high > 20_000 {
        return Err(format!(
            "max-incomplete high {high} is too large to drive with distinct UDP ports"
        ));
    }
    let host5 = p.lab.ns.host5.clone();
    let mg_log = p.mg.log.clone();
    let mg_out = p.mg.output.clone();
    let (on_at, on_time) = in_ns(host5, move || {
        let has_on = || {
            let text = std::fs::read_to_string(&mg_log).unwrap_or_default()
                + &std::fs::read_to_string(&mg_out).unwrap_or_default();
            parse_alarms(&text)
                .iter()
                .any(|x| matches!(x, Alarm::On { .. }))
        };
        let sink = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 53), 9);
        for i in 0..high + 1 {
            let port = 40_001 + i as u16;
            let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
                .map_err(|e| format!("bind {port}: {e}"))?;
            s.send_to(b"loadgen max-incomplete", sink)
                .map_err(|e| e.to_string())?;
            if i + 1 >= high {
                let deadline = Instant::now() + Duration::from_millis(500);
                while Instant::now() < deadline {
                    if has_on() {
                        return Ok((Some(i + 1), Some(Instant::now())));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        Ok((None, None))
    })?;
    let mut alarms = wait_log(&p.mg, Duration::from_millis(300), |_| false);
    let mut off_after = None;
    if !a.skip_off && on_time.is_some() {
        alarms = wait_log(&p.mg, Duration::from_secs(95), |v| {
            v.iter().any(|x| matches!(x, Alarm::Off { .. }))
        });
        if alarms.iter().any(|x| matches!(x, Alarm::Off { .. })) {
            off_after = on_time.map(|t0| t0.elapsed().as_secs_f64());
        }
    }
    let mut c = judge_global("max-incomplete", t, on_at, &alarms, off_after, !a.skip_off);
    c.statistics = Some(statistics(&p.mg)?);
    Ok(c)
}

fn one_minute_phase(a: &ThresholdArgs, t: &Thresholds) -> Result<Check, String> {
    let p = start_phase(a)?;
    let web = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 80);
    let _responder = Responder::spawn(ResponderConfig {
        echo: Some(web),
        netns: Some(p.lab.ns.client.clone()),
        ..ResponderConfig::default()
    })
    .map_err(|e| format!("web responder: {e}"))?;
    let high = t.one_minute_high;
    if high > 50_000 {
        return Err(format!("one-minute high {high} is too large to drive"));
    }
    let host5 = p.lab.ns.host5.clone();
    let mg_log = p.mg.log.clone();
    let mg_out = p.mg.output.clone();
    let (on_at, on_time) = in_ns(host5, move || {
        let has_on = || {
            let text = std::fs::read_to_string(&mg_log).unwrap_or_default()
                + &std::fs::read_to_string(&mg_out).unwrap_or_default();
            parse_alarms(&text)
                .iter()
                .any(|x| matches!(x, Alarm::On { .. }))
        };
        // Up to two periods' worth, in case the burst straddles a sampling-period boundary.
        for i in 0..2 * (high + 1) {
            let mut s = TcpStream::connect_timeout(&web.into(), Duration::from_secs(3))
                .map_err(|e| format!("connection {}: {e}", i + 1))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| e.to_string())?;
            s.write_all(b"ping").map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b)
                .map_err(|e| format!("connection {}: {e}", i + 1))?;
            drop(s);
            if i + 1 >= high {
                std::thread::sleep(Duration::from_millis(20));
                if has_on() {
                    return Ok((Some(i + 1), Some(Instant::now())));
                }
            }
        }
        Ok((None, None))
    })?;
    let mut alarms = wait_log(&p.mg, Duration::from_millis(300), |_| false);
    let mut off_after = None;
    if !a.skip_off && on_time.is_some() {
        alarms = wait_log(&p.mg, Duration::from_secs(65), |v| {
            v.iter().any(|x| matches!(x, Alarm::Off { .. }))
        });
        if alarms.iter().any(|x| matches!(x, Alarm::Off { .. })) {
            off_after = on_time.map(|t0| t0.elapsed().as_secs_f64());
        }
    }
    let mut c = judge_global("one-minute", t, on_at, &alarms, off_after, !a.skip_off);
    c.statistics = Some(statistics(&p.mg)?);
    Ok(c)
}

/// `loadgen thresholds`.
pub fn main(
    a: &ThresholdArgs,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) -> Result<ThresholdReport, String> {
    for ph in &a.phases {
        if !matches!(ph.as_str(), "host" | "max-incomplete" | "one-minute") {
            return Err(format!(
                "unknown phase {ph:?} (host, max-incomplete, one-minute)"
            ));
        }
    }
    // Configured values, from the running device.
    let t = {
        let p = start_phase(a)?;
        let show =
            p.mg.show(&["ip", "inspect", "all"], false)
                .map_err(|e| e.to_string())?;
        // The statistics must be readable as JSON too (the machine interface).
        statistics(&p.mg)?;
        parse_thresholds(&show).ok_or("cannot find the threshold lines in `show ip inspect all`")?
    };
    let mut checks = Vec::new();
    for ph in &a.phases {
        if stop() {
            return Err("interrupted".into());
        }
        checks.push(match ph.as_str() {
            "host" => host_phase(a, &t)?,
            "max-incomplete" => max_incomplete_phase(a, &t)?,
            _ => one_minute_phase(a, &t)?,
        });
    }
    let pass = checks.iter().all(|c| c.pass);
    Ok(ThresholdReport {
        configured: t,
        checks,
        pass,
    })
}

/// Text rendering.
pub fn to_text(r: &ThresholdReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "configured: {:?}", r.configured);
    for c in &r.checks {
        let _ = writeln!(
            s,
            "{:<22} {} configured {}: ON at {:?} (expected {}), OFF after {} — {}",
            c.threshold,
            if c.pass { "PASS" } else { "FAIL" },
            c.configured,
            c.on_at,
            c.expected_on_at,
            c.off_after_s.map_or("-".into(), |x| format!("{x:.1} s")),
            if c.detail.is_empty() { "ok" } else { &c.detail }
        );
    }
    let _ = writeln!(s, "{}", if r.pass { "ALL PASS" } else { "SOME FAILED" });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = include_str!("../../fixtures/show-ip-inspect-all.txt");

    #[test]
    fn thresholds_from_the_seed_show_output() {
        let t = parse_thresholds(SHOW).unwrap();
        assert_eq!(
            t,
            Thresholds {
                one_minute_low: 400,
                one_minute_high: 500,
                max_incomplete_low: 400,
                max_incomplete_high: 500,
                host_limit: 50,
                block_time_min: 0
            }
        );
        assert_eq!(parse_thresholds("nothing"), None);
    }

    #[test]
    fn alarm_lines_from_the_spec() {
        let log = "\
*Mar  1 00:00:01.000: %FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501
Nov 23 17:00:00 %FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 172.22.1.110.
%FW-2-BLOCK_HOST: Blocking new TCP connections to host 172.22.1.110 for 2 minutes (half-open count 50 exceeded).
%FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked
%FW-6-SESS_AUDIT_TRAIL: whatever
%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0
";
        let h = Ipv4Addr::new(172, 22, 1, 110);
        assert_eq!(
            parse_alarms(log),
            vec![
                Alarm::On {
                    count: 500,
                    high: 500,
                    rate: 501
                },
                Alarm::HostOn { limit: 50, host: h },
                Alarm::Block {
                    host: h,
                    minutes: 2,
                    limit: 50
                },
                Alarm::Unblock { host: h },
                Alarm::Off {
                    count: 0,
                    low: 400,
                    rate: 0
                },
            ]
        );
        assert_eq!(parse_alarm("%FW-4-ALERT_ON: garbage"), None);
    }

    fn seed() -> Thresholds {
        parse_thresholds(SHOW).unwrap()
    }

    #[test]
    fn judging_the_host_limit() {
        let h = Ipv4Addr::new(172, 22, 1, 110);
        let good = vec![Alarm::HostOn { limit: 50, host: h }];
        assert!(judge_host(&seed(), Some(51), &good, h).pass);
        let c = judge_host(&seed(), Some(50), &good, h);
        assert!(!c.pass && c.detail.contains("expected 51"), "{}", c.detail);
        assert!(
            !judge_host(
                &seed(),
                Some(51),
                &[Alarm::HostOn { limit: 40, host: h }],
                h
            )
            .pass
        );
        assert!(!judge_host(&seed(), None, &[], h).pass);
        assert!(!judge_host(&seed(), Some(51), &[good[0].clone(), good[0].clone()], h).pass);
    }

    #[test]
    fn judging_max_incomplete_and_one_minute() {
        let on = Alarm::On {
            count: 500,
            high: 500,
            rate: 501,
        };
        let off = Alarm::Off {
            count: 0,
            low: 400,
            rate: 0,
        };
        let c = judge_global(
            "max-incomplete",
            &seed(),
            Some(501),
            &[on.clone(), off.clone()],
            Some(45.0),
            true,
        );
        assert!(c.pass, "{}", c.detail);
        assert!(
            !judge_global(
                "max-incomplete",
                &seed(),
                Some(501),
                &[on.clone(), off.clone()],
                Some(70.0),
                true
            )
            .pass
        );
        assert!(
            !judge_global(
                "max-incomplete",
                &seed(),
                Some(500),
                std::slice::from_ref(&on),
                None,
                false
            )
            .pass
        );
        assert!(
            !judge_global(
                "max-incomplete",
                &seed(),
                Some(501),
                std::slice::from_ref(&on),
                None,
                true
            )
            .pass,
            "OFF missing"
        );
        let rate_on = Alarm::On {
            count: 0,
            high: 500,
            rate: 501,
        };
        let c = judge_global(
            "one-minute",
            &seed(),
            Some(501),
            &[rate_on.clone(), off.clone()],
            Some(20.0),
            true,
        );
        assert!(c.pass, "{}", c.detail);
        let c = judge_global(
            "one-minute",
            &seed(),
            Some(700),
            &[Alarm::On {
                count: 0,
                high: 500,
                rate: 502,
            }],
            None,
            false,
        );
        assert!(!c.pass && c.detail.contains("rate 502"));
    }
}
