//! `loadgen synflood`: half-open SYNs at a set rate from a set of source addresses, sent as
//! raw frames on one interface of a lab namespace (AF_PACKET, batched `sendmmsg`), alone or
//! alongside legitimate SMTP sessions whose success rate and latency show the effect.
//!
//! Safety: the flood only runs inside a named network namespace (`--netns` is required),
//! is bounded by `--count` or `--duration`, and stops on SIGINT.
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::report::{per_second, Report};
use crate::synframe::{SynTemplate, FRAME_LEN};
use crate::sys::packet::{self, PacketSocket};

#[derive(Debug, Args, Clone)]
pub struct SynfloodArgs {
    /// Namespace to send from (required: the flood never runs in the host namespace).
    #[arg(long)]
    pub netns: String,
    /// Interface inside that namespace to send on.
    #[arg(long)]
    pub interface: String,
    /// Victim address and port (e.g. 172.22.1.110:25).
    #[arg(long)]
    pub target: SocketAddrV4,
    /// Spoofed sources: addresses, ranges A-B, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub sources: Vec<String>,
    /// Source ports, LO-HI.
    #[arg(long, default_value = "1024-65535")]
    pub sports: String,
    /// Next-hop MAC (aa:bb:cc:dd:ee:ff); default: resolve --gateway by ARP.
    #[arg(long)]
    pub dst_mac: Option<String>,
    /// Next hop to resolve when --dst-mac is not given.
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// SYNs per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    #[arg(long)]
    pub count: Option<u64>,
    /// Seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Pin the flood thread to this CPU.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Also run legitimate SMTP sessions at this rate (per second) to --target.
    #[arg(long)]
    pub legit_rate: Option<f64>,
    /// Source addresses of the legitimate sessions (bound; must exist in the namespace).
    #[arg(long, value_delimiter = ',')]
    pub legit_source: Vec<Ipv4Addr>,
    /// CPU for the legitimate sessions' engine.
    #[arg(long)]
    pub legit_cpu: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

/// Flood parameters after parsing.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    pub netns: Option<String>,
    pub interface: String,
    pub template: SynTemplate,
    pub rate: f64,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub cpu: Option<usize>,
}

/// What the flood did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodReport {
    pub sent: u64,
    /// Batches the kernel did not take in full (frames retried later).
    pub queue_full: u64,
    pub elapsed_s: f64,
    pub achieved_pps: f64,
    pub distinct_sources: u64,
}

/// Parses `a.b.c.d`, `a.b.c.d-e.f.g.h` (at most 65 536 addresses per range).
pub fn parse_sources(items: &[String]) -> Result<Vec<Ipv4Addr>, String> {
    let mut v = Vec::new();
    for it in items {
        let it = it.trim();
        if let Some((a, b)) = it.split_once('-') {
            let a: Ipv4Addr = a.trim().parse().map_err(|_| format!("bad address {a:?}"))?;
            let b: Ipv4Addr = b.trim().parse().map_err(|_| format!("bad address {b:?}"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a >= 65_536 {
                return Err(format!("bad range {it:?}"));
            }
            v.extend((a..=b).map(Ipv4Addr::from));
        } else {
            v.push(it.parse().map_err(|_| format!("bad address {it:?}"))?);
        }
    }
    if v.is_empty() {
        return Err("no source addresses".into());
    }
    Ok(v)
}

/// Parses `LO-HI` ports.
pub fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad port range {s:?}"))?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad port range {s:?}"))?;
    if a == 0 || b < a {
        return Err(format!("bad port range {s:?}"));
    }
    Ok((a, b))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("bad MAC {s:?}"));
    }
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC {s:?}"))?;
    }
    Ok(m)
}

/// Finds `ip`'s MAC in this thread's namespace ARP table (`/proc/thread-self/net/arp`).
fn arp_lookup(ip: Ipv4Addr, ifname: &str) -> Option<[u8; 6]> {
    let t = std::fs::read_to_string("/proc/thread-self/net/arp").ok()?;
    for line in t.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6 && f[0] == ip.to_string() && f[5] == ifname && f[2] == "0x2" {
            return parse_mac(f[3]).ok();
        }
    }
    None
}

/// Resolves `gateway` by ARP: one UDP datagram to its discard port triggers resolution.
pub fn resolve_mac(gateway: Ipv4Addr, ifname: &str) -> io::Result<[u8; 6]> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    loop {
        if let Some(m) = arp_lookup(gateway, ifname) {
            return Ok(m);
        }
        let _ = sock.send_to(b"loadgen arp probe", (gateway, 9));
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no ARP entry for {gateway} on {ifname}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends the flood on the calling thread (which must already be in the right namespace).
pub fn flood_here(cfg: &FloodConfig, stop: &dyn Fn() -> bool) -> io::Result<FloodReport> {
    if cfg.count.is_none() && cfg.duration.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the flood needs --count or --duration",
        ));
    }
    if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "rate must be positive",
        ));
    }
    let (ifindex, _) = packet::interface(&cfg.interface)?;
    let tx = PacketSocket::transmitter(ifindex)?;
    const BATCH: usize = 64;
    let mut frames = vec![[0u8; FRAME_LEN]; BATCH];
    let limit_by_time = cfg
        .duration
        .map(|d| (d.as_secs_f64() * cfg.rate).ceil() as u64);
    let total = match (cfg.count, limit_by_time) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => 0,
    };
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut queue_full = 0u64;
    while sent < total && !stop() {
        let elapsed = t0.elapsed().as_secs_f64();
        let due = ((elapsed * cfg.rate) as u64 + 1).min(total);
        if due <= sent {
            let next = (sent as f64) / cfg.rate;
            let wait = (next - elapsed).clamp(0.0, 0.002);
            std::thread::sleep(Duration::from_secs_f64(wait));
            continue;
        }
        let n = ((due - sent) as usize).min(BATCH);
        for (j, f) in frames.iter_mut().take(n).enumerate() {
            cfg.template.write(sent + j as u64, f);
        }
        let refs: Vec<&[u8]> = frames.iter().take(n).map(|f| &f[..]).collect();
        let took = tx.send_batch(&refs)?;
        if took < n {
            queue_full += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        sent += took as u64;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Ok(FloodReport {
        sent,
        queue_full,
        elapsed_s: elapsed,
        achieved_pps: per_second(sent, elapsed),
        distinct_sources: cfg.template.distinct().min(sent),
    })
}

/// Runs the flood in its own thread inside `cfg.netns`, pinned if asked.
pub fn flood(
    cfg: FloodConfig,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) -> io::Result<FloodReport> {
    std::thread::Builder::new()
        .name("synflood".into())
        .spawn(move || {
            if let Some(ns) = &cfg.netns {
                crate::sys::netns::enter(ns)?;
            }
            if let Some(c) = cfg.cpu {
                crate::pin(c)?;
            }
            flood_here(&cfg, &*stop)
        })?
        .join()
        .map_err(|_| io::Error::other("flood thread panicked"))?
}

/// Builds the flood configuration from the command line (resolving the next hop's MAC
/// inside the namespace when needed).
pub fn config_from_args(a: &SynfloodArgs) -> Result<FloodConfig, String> {
    if !(a.netns.starts_with("mg") || a.netns.starts_with("lg")) {
        return Err(format!(
            "namespace {:?} is not a lab namespace (mg<id>-… from `loadgen lab`/`mailguard lab`, lg… from tests)",
            a.netns
        ));
    }
    let sources = parse_sources(&a.sources)?;
    let (lo, hi) = parse_ports(&a.sports)?;
    let ns = a.netns.clone();
    let ifname = a.interface.clone();
    let dst_mac = a.dst_mac.clone();
    let gateway = a.gateway;
    let (src_mac, dst_mac) = std::thread::spawn(move || -> Result<([u8; 6], [u8; 6]), String> {
        crate::sys::netns::enter(&ns).map_err(|e| e.to_string())?;
        let (_, mac) = packet::interface(&ifname).map_err(|e| e.to_string())?;
        let dst = match (dst_mac, gateway) {
            (Some(m), _) => parse_mac(&m)?,
            (None, Some(g)) => resolve_mac(g, &ifname).map_err(|e| e.to_string())?,
            (None, None) => return Err("give --dst-mac or --gateway".into()),
        };
        Ok((mac, dst))
    })
    .join()
    .map_err(|_| "setup thread panicked".to_string())??;
    Ok(FloodConfig {
        netns: Some(a.netns.clone()),
        interface: a.interface.clone(),
        template: SynTemplate {
            src_mac,
            dst_mac,
            sources,
            dst: *a.target.ip(),
            dport: a.target.port(),
            sport_lo: lo,
            sport_hi: hi,
        },
        rate: a.rate,
        count: a.count,
        duration: a.duration.map(Duration::from_secs_f64),
        cpu: a.cpu,
    })
}

/// The flood with, optionally, the legitimate sessions' report.
#[derive(Debug, Serialize)]
pub struct UnderAttack {
    pub flood: FloodReport,
    pub legit: Option<Report>,
    /// Share of legitimate sessions that succeeded.
    pub legit_success_rate: Option<f64>,
}

/// `loadgen synflood`.
pub fn main(
    a: &SynfloodArgs,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) -> Result<UnderAttack, String> {
    let cfg = config_from_args(a)?;
    let legit = match a.legit_rate {
        None => None,
        Some(rate) => {
            let smtp = crate::cli::SmtpArgs {
                load: crate::cli::LoadArgs {
                    target: a.target,
                    source: a.legit_source.clone(),
                    concurrency: None,
                    rate: Some(rate),
                    max_in_flight: 10_000,
                    count: None,
                    duration: Some(cfg.duration.map_or_else(
                        || cfg.count.unwrap_or(0) as f64 / cfg.rate,
                        |d| d.as_secs_f64(),
                    )),
                    timeout: 10.0,
                    netns: Some(a.netns.clone()),
                    cpu: a.legit_cpu.into_iter().collect(),
                    json: true,
                    quiet: true,
                },
                mix: "legal".into(),
                ehlo: false,
                helo_name: "client.example".into(),
                from: "loadgen@client.example".into(),
                rcpt: vec!["postmaster@mail.example".into()],
                rcpts: 1,
                body_size: 100,
                large_size: 1 << 20,
                illegal_command: "XSHELL /bin/sh".into(),
            };
            Some(smtp)
        }
    };
    let legit_handle = match legit {
        Some(s) => {
            let ec = s.engine_config()?;
            let place = s.load.placement();
            let st = Arc::clone(&stop);
            Some(std::thread::spawn(move || crate::run::run(&ec, &place, st)))
        }
        None => None,
    };
    let flood = flood(cfg, Arc::clone(&stop)).map_err(|e| format!("flood: {e}"));
    let legit = match legit_handle {
        Some(h) => Some(
            h.join()
                .map_err(|_| "legitimate-session thread panicked".to_string())?
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let flood = flood?;
    let legit_success_rate = legit.as_ref().map(|r| {
        if r.started > 0 {
            r.ok as f64 / r.started as f64
        } else {
            0.0
        }
    });
    Ok(UnderAttack {
        flood,
        legit,
        legit_success_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let v =
            parse_sources(&["198.51.100.100-198.51.100.102".into(), "10.0.0.1".into()]).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[2], Ipv4Addr::new(198, 51, 100, 102));
        assert!(parse_sources(&["10.0.0.2-10.0.0.1".into()]).is_err());
        assert!(parse_sources(&["10.0.0.0-10.1.0.0".into()]).is_err());
        assert!(parse_sources(&[]).is_err());
        assert_eq!(parse_ports("41000-41050"), Ok((41_000, 41_050)));
        assert_eq!(parse_ports("25"), Ok((25, 25)));
        assert!(parse_ports("0-5").is_err());
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Ok([2, 0, 10, 255, 0, 1]));
        assert!(parse_mac("02:00").is_err());
    }

    #[test]
    fn unbounded_flood_is_refused() {
        let cfg = FloodConfig {
            netns: None,
            interface: "lo".into(),
            template: SynTemplate {
                src_mac: [0; 6],
                dst_mac: [0; 6],
                sources: vec![Ipv4Addr::LOCALHOST],
                dst: Ipv4Addr::LOCALHOST,
                dport: 1,
                sport_lo: 1,
                sport_hi: 1,
            },
            rate: 1.0,
            count: None,
            duration: None,
            cpu: None,
        };
        assert!(flood_here(&cfg, &|| false).is_err());
    }
}
