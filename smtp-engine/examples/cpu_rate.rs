//! Command-phase rate in CPU time (not wall time): on a shared 2-vCPU machine
//! criterion's wall-clock figures include time the benchmark thread spent
//! waiting for a CPU. This runs established-session command/reply rounds
//! (SMTP lockstep and ESMTP pipelined groups) and divides by the thread's
//! on-CPU time from `/proc/thread-self/schedstat`.
//!
//! `cargo run --release -p smtp-engine --example cpu_rate` (`CPU_RATE_LINES=N`
//! sets the lines per case, default 2 000 000; use a small N under callgrind;
//! `CPU_RATE_ONLY=lockstep|pipelined|esmtp_lockstep` runs one case;
//! `esmtp_lockstep` — ESMTP parameter inspection, one command per segment —
//! is not run by default). `CPU_RATE_ONLY=data` runs the DATA phase instead:
//! a 256 KiB message (headers, text, base64 lines) in 1448-byte segments
//! through an inspector in DATA state, against a `memchr` line split of the
//! same segments, both in CPU time (`CPU_RATE_ROUNDS=N` messages, default 200).

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
/// A realistic message of about `size` bytes ending with `\r\n.\r\n`.
fn message_body(size: usize) -> Vec<u8> {
    let mut m =
        b"From: Alice <alice@example.net>\r\nTo: Bob <bob@example.test>\r\nSubject: figures\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\r\n"
            .to_vec();
    for _ in 0..8 {
        m.extend_from_slice(
            b"Hello Bob, please find the figures attached. Let me know if anything is unclear.\r\n",
        );
    }
    m.extend_from_slice(b"\r\n--b1\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut k = 0usize;
    while m.len() + 80 < size {
        for _ in 0..76 {
            k = k.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            m.push(B64[(k >> 16) % 64]);
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b1--\r\n.\r\n");
    m
}

/// The DATA phase against a `memchr` line split, in CPU time.
fn data_phase() {
    let policy = Policy::default();
    let mut st = SmtpStats::default();
    let mut ready = Inspector::new(&policy);
    for (client, seg) in [
        (false, &b"220 x ESMTP\r\n"[..]),
        (true, b"HELO a\r\n"),
        (false, b"250 x\r\n"),
        (true, b"MAIL FROM:<a@b>\r\n"),
        (false, b"250 ok\r\n"),
        (true, b"RCPT TO:<b@c>\r\n"),
        (false, b"250 ok\r\n"),
        (true, b"DATA\r\n"),
        (false, b"354 go\r\n"),
    ] {
        let mut b = seg.to_vec();
        if client {
            ready.handle_client(&mut b, &mut st);
        } else {
            ready.handle_server(&mut b, &mut st);
        }
    }
    assert!(ready.in_data());
    let mut body = message_body(256 * 1024);
    let rounds: u64 = std::env::var("CPU_RATE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let bytes = body.len() as u64 * rounds;
    let c0 = cpu_ns();
    let mut fwd = 0;
    for _ in 0..rounds {
        let mut insp = ready.clone();
        for seg in body.chunks_mut(1448) {
            fwd += insp.handle_client(seg, &mut st).forward;
        }
        assert!(!insp.in_data());
    }
    let insp_ns = (cpu_ns() - c0) as f64;
    assert_eq!(fwd as u64, bytes);
    let c0 = cpu_ns();
    let mut n = (0usize, 0usize);
    for _ in 0..rounds {
        for seg in std::hint::black_box(&body).chunks(1448) {
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', seg) {
                n.0 += 1;
                n.1 += nl + 1 - start;
                start = nl + 1;
            }
        }
    }
    let memchr_ns = (cpu_ns() - c0) as f64;
    std::hint::black_box(n);
    println!(
        "data bytes={bytes} inspector {:.2} GB/s memchr_lines {:.2} GB/s (cpu time) -> ratio {:.2}",
        bytes as f64 / insp_ns,
        bytes as f64 / memchr_ns,
        memchr_ns / insp_ns
    );
}

fn main() {
    let only = std::env::var("CPU_RATE_ONLY").unwrap_or_default();
    if only == "data" {
        data_phase();
        return;
    }
    for (name, esmtp, pipelined) in [
        ("lockstep", false, false),
        ("pipelined", true, true),
        ("esmtp_lockstep", true, false),
    ] {
        if only != name && (!only.is_empty() || name == "esmtp_lockstep") {
            continue;
        }
        let policy = if esmtp {
            Policy::esmtp()
        } else {
            Policy::default()
        };
        let mut st = SmtpStats::default();
        let mut insp = Inspector::new(&policy);
        insp.handle_server(&mut b"220 x ESMTP\r\n".to_vec(), &mut st);
        if esmtp {
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
            match name { "lockstep" => "smtp_lockstep", "pipelined" => "esmtp_pipelined", _ => name }, wall / lines as f64, cpu / lines as f64, lines as f64 / cpu * 1e3);
        assert_eq!(st.cmd_masked + st.withheld_bytes, 0);
    }
}
