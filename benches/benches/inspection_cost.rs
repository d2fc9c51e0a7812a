//! The cost of SMTP inspection, side by side in one run (issue 5): whole SMTP
//! sessions, packet by packet, through the firewall pipeline on the seed
//! configuration, once with the seed's `ip inspect name OUT-IN smtp` and once
//! with the same rule entry as plain `tcp`.
//!
//! Why a pipeline replay next to the end-to-end measurement
//! (`tests/tests/netns_soak.rs`, `inspection_cost_smtp_vs_tcp`): through real
//! namespaces most of the firewall's CPU goes to packet I/O, wake-ups and
//! the kernel, which are the same for both rules and vary from run to run on
//! a shared machine; here the two variants run the same frames through the
//! same code in the same process, so their ratio is the inspection's own cost
//! per session (and it is repeatable under `callgrind`).
//!
//! One session is the whole conversation of a real client (three-way
//! handshake, banner, HELO, MAIL, RCPT, DATA, a 400-byte message, QUIT, both
//! FINs, last ACK): 22 frames, every one forwarded. 64 sessions run
//! interleaved, so every step of the script is one burst of 64 frames from
//! one port, as a worker sees concurrent clients. After the last step the
//! virtual clock moves past FIN-wait and the timers delete the sessions (in
//! the timed region: expiry is part of a session's cost), so every pass
//! creates its sessions anew on the same ports.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::io::{TxSink, BURST};
use dataplane::sim::OUTSIDE;
use dataplane::sim::{self, SeedLab, FW_INSIDE_MAC, FW_OUTSIDE_MAC, INSIDE, ISP_MAC, MAIL_MAC};
use dataplane::worker::Processor;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Concurrent sessions per pass (one burst per script step).
const SESSIONS: usize = 64;
/// Largest frame of the script (the DATA segment) with room to spare.
const STRIDE: usize = 640;
/// Virtual ns between two bursts (a session lasts ≈ 22 bursts).
const NS_PER_BURST: u64 = 50_000;
/// FIN-wait for the bench (seconds) and the jump past it after a pass.
const FINWAIT_S: u64 = 1;
const EXPIRE_JUMP_NS: u64 = (FINWAIT_S + 1) * 1_000_000_000;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const MAIL_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 110);
const MAIL_INSIDE: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 2);
const CLIENT_ISN: u32 = 1_000_000;
const SERVER_ISN: u32 = 7_000_000;

/// The message of the DATA phase: headers and body, about 400 bytes.
const MESSAGE: &str = "From: Alice <alice@client.example.net>\r\n\
To: User <user@mail.example.com>\r\n\
Subject: quarterly figures\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <20261123100000.4711@client.example.net>\r\n\
\r\n\
Hello,\r\n\
\r\n\
the figures for the quarter are attached below; the totals match the\r\n\
ledger and the variance is within the agreed limits. Please confirm by\r\n\
Friday so that the report can go out on time.\r\n\
\r\n\
Regards,\r\n\
Alice\r\n\
.\r\n";

/// Who sends a step of the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
}

/// The conversation: sender, TCP flags, payload.
fn script() -> Vec<(Sender, u8, Vec<u8>)> {
    use Sender::{Client as C, Server as S};
    let data = |s: &str| s.as_bytes().to_vec();
    vec![
        (C, SYN, vec![]),
        (S, SYN | ACK, vec![]),
        (C, ACK, vec![]),
        (S, PSH | ACK, data("220 mail.example.com ESMTP Postfix\r\n")),
        (C, PSH | ACK, data("HELO client.example.net\r\n")),
        (S, PSH | ACK, data("250 mail.example.com\r\n")),
        (
            C,
            PSH | ACK,
            data("MAIL FROM:<alice@client.example.net>\r\n"),
        ),
        (S, PSH | ACK, data("250 2.1.0 Ok\r\n")),
        (C, PSH | ACK, data("RCPT TO:<user@mail.example.com>\r\n")),
        (S, PSH | ACK, data("250 2.1.5 Ok\r\n")),
        (C, PSH | ACK, data("DATA\r\n")),
        (
            S,
            PSH | ACK,
            data("354 End data with <CR><LF>.<CR><LF>\r\n"),
        ),
        (C, PSH | ACK, data(MESSAGE)),
        (S, PSH | ACK, data("250 2.0.0 Ok: queued as 4711\r\n")),
        (C, PSH | ACK, data("QUIT\r\n")),
        (S, PSH | ACK, data("221 2.0.0 Bye\r\n")),
        (S, FIN | ACK, vec![]),
        (C, ACK, vec![]),
        (C, FIN | ACK, vec![]),
        (S, ACK, vec![]),
        // A late duplicate ACK of the client (as a real stack may send): the
        // session is closing, both variants just forward it.
        (C, ACK, vec![]),
        (S, ACK, vec![]),
    ]
}

/// The frames of one step for all sessions, with its ingress port.
struct Step {
    port: usize,
    pristine: Vec<u8>,
    work: Vec<u8>,
    lens: Vec<usize>,
}

/// Builds the frames of every step for `SESSIONS` sessions (client ports
/// 40 000 + i), tracking sequence and acknowledgement numbers per side.
fn steps() -> Vec<Step> {
    let script = script();
    let mut steps: Vec<Step> = script
        .iter()
        .map(|(from, _, _)| Step {
            port: if *from == Sender::Client {
                OUTSIDE
            } else {
                INSIDE
            },
            pristine: vec![0u8; SESSIONS * STRIDE],
            work: vec![0u8; SESSIONS * STRIDE],
            lens: Vec::with_capacity(SESSIONS),
        })
        .collect();
    for i in 0..SESSIONS {
        let port = 40_000 + i as u16;
        let client = SocketAddrV4::new(CLIENT, port);
        let (mut c_next, mut s_next) = (CLIENT_ISN, SERVER_ISN);
        for (k, (from, flags, payload)) in script.iter().enumerate() {
            let consumed = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
            let frame = match from {
                Sender::Client => {
                    let ack = if flags & ACK != 0 { s_next } else { 0 };
                    let f = sim::tcp(
                        ISP_MAC,
                        FW_OUTSIDE_MAC,
                        client,
                        SocketAddrV4::new(MAIL_GLOBAL, 25),
                        c_next,
                        ack,
                        *flags,
                        payload,
                    );
                    c_next = c_next.wrapping_add(consumed);
                    f
                }
                Sender::Server => {
                    let f = sim::tcp(
                        MAIL_MAC,
                        FW_INSIDE_MAC,
                        SocketAddrV4::new(MAIL_INSIDE, 25),
                        client,
                        s_next,
                        c_next,
                        *flags,
                        payload,
                    );
                    s_next = s_next.wrapping_add(consumed);
                    f
                }
            };
            let mut frame = frame;
            frame.resize(frame.len().max(60), 0);
            assert!(frame.len() <= STRIDE);
            let step = &mut steps[k];
            step.pristine[i * STRIDE..i * STRIDE + frame.len()].copy_from_slice(&frame);
            step.lens.push(frame.len());
        }
    }
    steps
}

/// The seed lab with the `OUT-IN` entry as `rule` (`smtp` or `tcp`), the
/// half-open thresholds out of the way and a short FIN-wait.
fn lab(rule: &str) -> SeedLab {
    let entry = format!("ip inspect name OUT-IN {rule}");
    let mut lines: Vec<&str> = mailguard_benches::HALF_OPEN_OUT_OF_THE_WAY.to_vec();
    lines.push("ip inspect tcp finwait-time 1");
    if rule != "smtp" {
        lines.push("no ip inspect name OUT-IN smtp");
        lines.push(&entry);
    }
    SeedLab::new(&lines)
}

/// One pass: every step as one burst, then the jump past FIN-wait. Returns
/// the frames transmitted. Not inlined, for `callgrind --toggle-collect`.
#[inline(never)]
fn pass(lab: &mut SeedLab, tx: &mut TxSink, steps: &mut [Step]) -> usize {
    let mut sent = 0;
    for step in steps.iter_mut() {
        let mut slots: [&mut [u8]; BURST] = std::array::from_fn(|_| Default::default());
        let mut n = 0;
        for (c, &len) in step.work.chunks_mut(STRIDE).zip(step.lens.iter()) {
            slots[n] = &mut c[..len];
            n += 1;
        }
        lab.now += NS_PER_BURST;
        lab.fw
            .process_burst(lab.now, step.port, &mut slots[..n], tx);
        lab.fw.tick(lab.now, tx);
        sent += tx.len();
        tx.clear();
    }
    // Past FIN-wait, in timer-sized steps: the sessions expire.
    let end = lab.now + EXPIRE_JUMP_NS;
    while lab.now < end {
        lab.now = (lab.now + 100_000_000).min(end);
        lab.fw.tick(lab.now, tx);
        sent += tx.len();
        tx.clear();
    }
    sent
}

fn reset(steps: &mut [Step]) {
    for s in steps {
        s.work.copy_from_slice(&s.pristine);
    }
}

fn frames(steps: &[Step]) -> usize {
    steps.iter().map(|s| s.lens.len()).sum()
}

/// Runs one pass untimed and checks that the variant does what it claims:
/// every frame forwarded, nothing dropped, no session left, and the packets
/// counted under the rule's protocol.
fn check(lab: &mut SeedLab, tx: &mut TxSink, steps: &mut [Step], rule: &str) {
    reset(steps);
    let sent = pass(lab, tx, steps);
    let report = lab.report();
    let drops: u64 = report.drops.0.iter().sum();
    assert_eq!(
        (sent, drops, lab.fw.session_count()),
        (frames(steps), 0, 0),
        "{rule}: every frame forwarded, no drop, no session left (drops {:?})",
        report.drops
    );
    // Every packet of a session after the one that created it.
    let on_session = (frames(steps) - SESSIONS) as u64;
    let (smtp, tcp) = (report.packets.smtp, report.packets.tcp);
    match rule {
        // Inspected up to the server's FIN (16 steps after the SYN); the
        // inspector's slot is released once both FINs are acknowledged.
        "smtp" => assert!(
            smtp + tcp >= on_session && smtp >= 16 * SESSIONS as u64,
            "smtp {smtp} tcp {tcp}"
        ),
        _ => assert!(tcp >= on_session && smtp == 0, "tcp {tcp} smtp {smtp}"),
    }
}

fn timed(lab: &mut SeedLab, tx: &mut TxSink, steps: &mut [Step], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        reset(steps);
        let start = Instant::now();
        black_box(pass(lab, tx, steps));
        total += start.elapsed();
    }
    total
}

fn inspection_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("inspection_cost");
    g.throughput(Throughput::Elements(SESSIONS as u64));
    let mut tx = TxSink::with_capacity(4 * BURST);
    for rule in ["tcp", "smtp"] {
        // Built and checked on first use, so that a filtered-out variant
        // costs nothing (and a profile of one variant holds only that one).
        let mut state: Option<(SeedLab, Vec<Step>)> = None;
        g.bench_function(format!("session_{rule}"), |b| {
            let (lab, steps) = state.get_or_insert_with(|| {
                let (mut lab, mut steps) = (lab(rule), steps());
                check(&mut lab, &mut tx, &mut steps, rule);
                (lab, steps)
            });
            b.iter_custom(|iters| timed(lab, &mut tx, steps, iters))
        });
    }
    g.finish();
}

criterion_group!(benches, inspection_cost);
criterion_main!(benches);
