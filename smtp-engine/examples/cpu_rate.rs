//! Command-phase rate in CPU time (not wall time): on a shared 2-vCPU machine
//! criterion's wall-clock figures include time the benchmark thread spent
//! waiting for a CPU. This runs established-session command/reply rounds
//! (SMTP lockstep and ESMTP pipelined groups) and divides by the thread's
//! on-CPU time from `/proc/thread-self/schedstat`.
//!
//! `cargo run --release -p smtp-engine --example cpu_rate` (`CPU_RATE_LINES=N`
//! sets the lines per case, default 2 000 000; use a small N under callgrind;
//! `CPU_RATE_ONLY=lockstep|pipelined` runs one case).

use smtp_engine::{Inspector, Policy, SmtpStats};
use std::time::Instant;
/// On-CPU nanoseconds of the calling thread.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
fn main() {
    let only = std::env::var("CPU_RATE_ONLY").unwrap_or_default();
    for pipelined in [false, true] {
        if !only.is_empty() && only != if pipelined { "pipelined" } else { "lockstep" } {
            continue;
        }
        let policy = if pipelined {
            Policy::esmtp()
        } else {
            Policy::default()
        };
        let mut st = SmtpStats::default();
        let mut insp = Inspector::new(&policy);
        insp.handle_server(&mut b"220 x ESMTP\r\n".to_vec(), &mut st);
        if pipelined {
            insp.handle_client(&mut b"EHLO a\r\n".to_vec(), &mut st);
            insp.handle_server(
                &mut b"250-x\r\n250-PIPELINING\r\n250 SIZE 1\r\n".to_vec(),
                &mut st,
            );
        }
        let cmds: [(&[u8], &[u8]); 4] = [
            (
                b"MAIL FROM:<alice@example.net> SIZE=2048\r\n",
                b"250 2.1.0 Ok\r\n",
            ),
            (b"RCPT TO:<bob@example.test>\r\n", b"250 2.1.5 Ok\r\n"),
            (b"RCPT TO:<carol@example.test>\r\n", b"250 2.1.5 Ok\r\n"),
            (b"RSET\r\n", b"250 2.0.0 Ok\r\n"),
        ];
        let mut rounds: Vec<(Vec<u8>, Vec<u8>, u64)> = if pipelined {
            vec![(
                cmds.iter().flat_map(|c| c.0.iter().copied()).collect(),
                cmds.iter().flat_map(|c| c.1.iter().copied()).collect(),
                4,
            )]
        } else {
            cmds.iter()
                .map(|c| (c.0.to_vec(), c.1.to_vec(), 1))
                .collect()
        };
        let n: u64 = std::env::var("CPU_RATE_LINES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000_000);
        let (t0, c0) = (Instant::now(), cpu_ns());
        let mut lines = 0;
        let mut fwd = 0;
        for _ in 0..n / 4 {
            for (c, r, k) in rounds.iter_mut() {
                fwd += insp.handle_client(c, &mut st).forward;
                fwd += insp.handle_server(r, &mut st).forward;
                lines += *k;
            }
        }
        let (wall, cpu) = (t0.elapsed().as_nanos() as f64, (cpu_ns() - c0) as f64);
        println!("{} lines={lines} fwd={fwd} wall {:.1} ns/line cpu {:.1} ns/line -> {:.2} M lines/s per core (cpu time)",
            if pipelined { "esmtp_pipelined" } else { "smtp_lockstep" }, wall / lines as f64, cpu / lines as f64, lines as f64 / cpu * 1e3);
        assert_eq!(st.cmd_masked + st.withheld_bytes, 0);
    }
}
