//! Running engines as a measured job: one engine thread per listed CPU (each entering the
//! lab namespace and pinning itself before it creates a socket), the load split between
//! them, CPU time taken from each thread and from the whole machine, a progress line on a
//! terminal, and the merged `Report`.
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::{self, EngineConfig, EngineError, Load};
use crate::report::{CpuUse, Report, Stats};

/// Where and how engines run.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// Network namespace to enter (`ip netns` name).
    pub netns: Option<String>,
    /// CPUs to pin engine threads to; one engine per CPU (empty: one unpinned engine).
    pub cpus: Vec<usize>,
    /// Print a progress line to stderr (only honoured when stderr is a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("engine setup: {0}")]
    Setup(std::io::Error),
    #[error("engine thread panicked")]
    Panicked,
}

/// Splits a run among `n` engines: counts and rates divided exactly (remainders to the
/// first engines), concurrency likewise (each engine at least 1).
pub fn split(cfg: &EngineConfig, n: usize) -> Vec<EngineConfig> {
    let n = n.max(1);
    (0..n)
        .map(|i| {
            let mut c = cfg.clone();
            let share = |total: u64| total / n as u64 + u64::from((i as u64) < total % n as u64);
            c.count = cfg.count.map(share);
            c.load = match cfg.load {
                Load::Concurrency(k) => Load::Concurrency((share(k as u64) as usize).max(1)),
                Load::Rate {
                    per_s,
                    max_in_flight,
                } => Load::Rate {
                    per_s: per_s / n as f64,
                    max_in_flight: (max_in_flight / n).max(1),
                },
            };
            if n > 1 && !cfg.sources.is_empty() {
                // Rotate the source list so engines do not all start on the same address.
                c.sources.rotate_left(i % cfg.sources.len());
            }
            c
        })
        .collect()
}

/// Runs `cfg` as placed, stopping early when `stop` turns true; returns the merged report.
pub fn run(
    cfg: &EngineConfig,
    place: &Placement,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) -> Result<Report, RunError> {
    let _ = crate::sys::sock::raise_nofile_limit();
    let engines = place.cpus.len().max(1);
    let parts = split(cfg, engines);
    let shown = place.progress && std::io::stderr().is_terminal();
    let live: Arc<Mutex<Vec<(Stats, Duration)>>> =
        Arc::new(Mutex::new(vec![
            (Stats::default(), Duration::ZERO);
            engines
        ]));
    let before = crate::cpustat::sample();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let ns = place.netns.clone();
        let cpu = place.cpus.get(i).copied();
        let live = Arc::clone(&live);
        let stop = Arc::clone(&stop);
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || -> Result<(Stats, Duration), RunError> {
                if let Some(ns) = &ns {
                    crate::sys::netns::enter(ns).map_err(RunError::Setup)?;
                }
                if let Some(c) = cpu {
                    crate::pin(c).map_err(RunError::Setup)?;
                }
                let cpu0 = crate::sys::cpu::thread_cpu().unwrap_or_default();
                let mut progress = |s: &Stats, at: Duration| {
                    if let Ok(mut v) = live.lock() {
                        v[i] = (s.clone(), at);
                    }
                };
                let stats = engine::run(&part, &mut progress, &*stop)?;
                let cpu1 = crate::sys::cpu::thread_cpu().unwrap_or_default();
                Ok((stats, cpu1.saturating_sub(cpu0)))
            })
            .map_err(RunError::Setup)?;
        handles.push(h);
    }
    // Progress on a terminal, once a second, from the engines' last snapshots.
    if shown {
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(200));
            if let Ok(v) = live.lock() {
                let mut m = Stats::default();
                let mut at = Duration::ZERO;
                for (s, t) in v.iter() {
                    m.merge(s);
                    at = at.max(*t);
                }
                if at.is_zero() {
                    continue; // no snapshot yet
                }
                // Figures as of the engines' last snapshot (taken once a second).
                let secs = at.as_secs_f64();
                eprint!(
                    "\r  {:6.1} s  started {:>9}  ok {:>9}  failed {:>7}  ok/s {:>9.0}   ",
                    secs,
                    m.started,
                    m.ok,
                    m.failed(),
                    crate::report::per_second(m.ok, secs)
                );
            }
        }
        eprintln!();
    }
    let mut stats = Stats::default();
    let mut gen_cpu = Duration::ZERO;
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok((s, c))) => {
                stats.merge(&s);
                gen_cpu += c;
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(RunError::Panicked);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let elapsed = t0.elapsed();
    let after = crate::cpustat::sample();
    let machine = match (before, after) {
        (Some(a), Some(b)) => crate::cpustat::busy_between(a, b),
        _ => Duration::ZERO,
    };
    let cpu = CpuUse {
        generator_s: gen_cpu.as_secs_f64(),
        machine_s: machine.as_secs_f64(),
        cpus: crate::sys::cpu::online_cpus(),
    };
    Ok(Report::new(
        cfg.workload.name(),
        &cfg.target.to_string(),
        &format!(
            "{}{}",
            cfg.load.describe(),
            if engines > 1 {
                format!(", {engines} engines")
            } else {
                String::new()
            }
        ),
        &stats,
        elapsed,
        cpu,
        stop(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Workload;
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn split_is_exact() {
        let cfg = EngineConfig {
            target: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            sources: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            load: Load::Rate {
                per_s: 1000.0,
                max_in_flight: 100,
            },
            count: Some(1001),
            duration: None,
            session_timeout: Duration::from_secs(1),
            shared: vec![],
            recv_size: 64,
            workload: Workload::TcpEcho,
        };
        let p = split(&cfg, 2);
        assert_eq!(p[0].count, Some(501));
        assert_eq!(p[1].count, Some(500));
        assert_eq!(
            p[0].load,
            Load::Rate {
                per_s: 500.0,
                max_in_flight: 50
            }
        );
        assert_eq!(p[1].sources[0], Ipv4Addr::new(10, 0, 0, 2));
        let mut c = cfg.clone();
        c.load = Load::Concurrency(3);
        let p = split(&c, 2);
        assert_eq!(
            (p[0].load, p[1].load),
            (Load::Concurrency(2), Load::Concurrency(1))
        );
    }
}
