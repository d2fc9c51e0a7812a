//! Issue 5 on the wire: a soak of thousands of concurrent real SMTP sessions
//! through the real binary with two workers, and (ignored, a measurement)
//! the cost of SMTP inspection against plain TCP inspection.
//!
//! The soak mixes postfix's `smtp-source` with a Python asyncio client
//! (legal sessions, several messages per session, illegal verbs, EHLO with
//! pipelined groups, pipelining without an advertisement, RST aborts) and
//! bodies from a few bytes to a megabyte, first in the seed's SMTP mode, then
//! in ESMTP mode switched at run time. Its assertions are exact: every
//! message the server confirmed is the one the client sent (count and
//! sha256), every session completed, illegal verbs reached the server only
//! masked, and the session table is empty once the (shortened) timeouts ran.
//!
//! Size: `MAILGUARD_SOAK_SESSIONS` (default 2000) and
//! `MAILGUARD_SOAK_CONCURRENCY` (default 200) for a longer local soak.
//!
//! Skipped (with a message) when not root, when the binary is not built or
//! when postfix's `smtp-source` is missing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mailguard_tests::netlab::{can_run, FirewallLab};
use mailguard_tests::soak::{
    clock_ticks, cpu_ticks, env_usize, firewall_pid, median, parse_client, parse_server,
    session_lines, sha256_hex, smtp_source_available, source_message, MessageKey, CLIENT_PY,
    SERVER_PY, SMTP_SOURCE,
};

/// Namespace tests share the machine's two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Public address of the mail server (static translation of 10.10.10.2).
const MAIL_PUBLIC: &str = "172.22.1.110";
const FINWAIT: u64 = 1;
const IDLE: u64 = 30;

fn skip() -> bool {
    if !can_run() {
        eprintln!("skipped: needs root and a built mailguard binary (scripts/test.sh builds it)");
        return true;
    }
    if !smtp_source_available() {
        eprintln!("skipped: postfix's smtp-source ({SMTP_SOURCE}) is not installed");
        return true;
    }
    false
}

/// Shortened timeouts, and half-open limits out of the way: every client
/// comes from one address (198.51.100.7), far above the default one-minute
/// rate and per-host half-open limit; this test is about sessions, not the
/// half-open protections.
fn soak_config() -> Vec<String> {
    vec![
        format!("ip inspect tcp finwait-time {FINWAIT}"),
        format!("ip inspect tcp idle-time {IDLE}"),
        "ip inspect tcp synwait-time 10".to_owned(),
        "ip inspect one-minute high 4000000".to_owned(),
        "ip inspect one-minute low 3000000".to_owned(),
        "ip inspect max-incomplete high 4000000".to_owned(),
        "ip inspect max-incomplete low 3000000".to_owned(),
        "ip inspect tcp max-incomplete host 250 block-time 0".to_owned(),
    ]
}

fn start_lab(workers: usize) -> FirewallLab {
    let config = soak_config();
    let lines: Vec<&str> = config.iter().map(String::as_str).collect();
    FirewallLab::start(workers, &lines)
}

/// Waits until `show ip inspect session` lists nothing; returns the last
/// output and whether it became empty.
fn wait_sessions_gone(fw: &FirewallLab, timeout: Duration) -> (bool, String) {
    let deadline = Instant::now() + timeout;
    loop {
        let show = fw.cmd("show ip inspect session");
        if session_lines(&show) == 0 {
            return (true, show);
        }
        if Instant::now() >= deadline {
            return (false, show);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts the recording server in the mail namespace and waits until it
/// listens; returns the path of its record file.
fn start_server(fw: &mut FirewallLab) -> std::path::PathBuf {
    let dir = fw.dir().to_path_buf();
    let script = dir.join("soak_server.py");
    std::fs::write(&script, SERVER_PY).expect("write server");
    let records = dir.join("server-records.txt");
    let (script_s, records_s) = (
        script.to_string_lossy().into_owned(),
        records.to_string_lossy().into_owned(),
    );
    let mail_ns = fw.lab.ns.mail.clone();
    fw.spawn(
        &mail_ns,
        &["python3", &script_s, "10.10.10.2", "25", &records_s],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&records)
        .unwrap_or_default()
        .starts_with("READY")
    {
        assert!(Instant::now() < deadline, "soak server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    records
}

/// One phase of the soak: the mixed client and smtp-source at the same time.
struct Phase {
    mode: &'static str,
    seed: usize,
    client_sessions: usize,
    client_concurrency: usize,
    source_messages: usize,
    source_concurrency: usize,
    source_lines: usize,
}

struct PhaseResult {
    expected: Vec<(MessageKey, usize)>,
    aborted_ports: Vec<u16>,
    connections: usize,
    illegal_sent: usize,
}

fn run_phase(fw: &FirewallLab, p: &Phase) -> PhaseResult {
    let dir = fw.dir().to_path_buf();
    let client = dir.join("soak_client.py");
    std::fs::write(&client, CLIENT_PY).expect("write client");
    let out = dir.join(format!("client-{}.txt", p.seed));
    let tag = format!("source{}", p.seed);
    let (file, body) = source_message(&tag, p.source_lines);
    let msg_file = dir.join(format!("source-{}.txt", p.seed));
    std::fs::write(&msg_file, file).expect("write message");
    let source_key: MessageKey = (tag, sha256_hex(&dir, &body), body.len());

    let client_s = client.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    let msg_s = msg_file.to_string_lossy().into_owned();
    let (sessions, conc, seed) = (
        p.client_sessions.to_string(),
        p.client_concurrency.to_string(),
        p.seed.to_string(),
    );
    let (m, s) = (
        p.source_messages.to_string(),
        p.source_concurrency.to_string(),
    );
    let ns = fw.lab.ns.client.clone();
    let started = Instant::now();
    let ((client_ok, client_text), (source_ok, source_text)) = std::thread::scope(|scope| {
        let c = scope.spawn(|| {
            let t = Instant::now();
            let r = fw.run(
                &ns,
                &[
                    "timeout",
                    "600",
                    "python3",
                    &client_s,
                    MAIL_PUBLIC,
                    "25",
                    &sessions,
                    &conc,
                    p.mode,
                    &seed,
                    &out_s,
                ],
            );
            eprintln!("  mixed client: {:.1} s", t.elapsed().as_secs_f64());
            r
        });
        let src = scope.spawn(|| {
            let t = Instant::now();
            let r = fw.run(
                &ns,
                &[
                    "timeout",
                    "600",
                    SMTP_SOURCE,
                    "-s",
                    &s,
                    "-m",
                    &m,
                    "-F",
                    &msg_s,
                    "-M",
                    "client.example.net",
                    "-f",
                    "soak@client.example.net",
                    "-t",
                    "user@mail.soak.test",
                    MAIL_PUBLIC,
                ],
            );
            eprintln!("  smtp-source: {:.1} s", t.elapsed().as_secs_f64());
            r
        });
        (
            c.join().expect("client thread"),
            src.join().expect("smtp-source thread"),
        )
    });
    eprintln!(
        "soak phase {} ({}): {} client sessions + {} smtp-source messages in {:.1} s",
        p.seed,
        p.mode,
        p.client_sessions,
        p.source_messages,
        started.elapsed().as_secs_f64()
    );
    assert!(client_ok, "mixed client failed: {client_text}");
    assert!(source_ok, "smtp-source failed: {source_text}");
    let report = parse_client(&std::fs::read_to_string(&out).unwrap_or_default());
    assert!(report.complete, "client wrote no summary: {client_text}");
    assert!(
        report.failures.is_empty(),
        "{} failed sessions in {} mode, first: {:#?}",
        report.failures.len(),
        p.mode,
        &report.failures[..report.failures.len().min(20)]
    );
    assert_eq!(report.sessions, p.client_sessions, "sessions completed");
    assert!(report.illegal_sent > 0 && report.pipelined > 0 && report.aborted > 0);
    if p.mode == "esmtp" {
        assert!(report.ehlo_masked > 0, "EHLO replies were inspected");
    }
    let aborted_ports = report.aborted_ports.clone();
    let mut expected: Vec<(MessageKey, usize)> = report.messages.into_iter().collect();
    expected.push((source_key, p.source_messages));
    PhaseResult {
        expected,
        aborted_ports,
        connections: p.client_sessions + p.source_messages,
        illegal_sent: report.illegal_sent,
    }
}

/// Waits until the server recorded `connections` ended connections.
fn wait_server(records: &std::path::Path, connections: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(records).unwrap_or_default();
        if parse_server(&text).connections >= connections || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn soak_thousands_of_smtp_sessions_two_workers() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let total = env_usize("MAILGUARD_SOAK_SESSIONS", 2000).max(16);
    let concurrency = env_usize("MAILGUARD_SOAK_CONCURRENCY", 200).max(4);
    let mut fw = start_lab(2);
    let records = start_server(&mut fw);
    let started = Instant::now();
    let pid = firewall_pid(&fw).expect("mailguard pid in the firewall namespace");
    let cpu0 = cpu_ticks(pid).unwrap_or(0);

    // Per phase: 3/8 of the sessions from the mixed client, 1/8 from
    // smtp-source; concurrency split 3:1 the same way.
    let phase = |mode, seed, lines| Phase {
        mode,
        seed,
        client_sessions: total * 3 / 8,
        client_concurrency: (concurrency * 3 / 4).max(1),
        source_messages: total / 8,
        source_concurrency: (concurrency / 4).max(1),
        source_lines: lines,
    };
    let mut expected: std::collections::BTreeMap<MessageKey, usize> = Default::default();
    let mut connections = 0;
    let mut illegal = 0;
    for (i, p) in [phase("smtp", 1, 40), phase("esmtp", 2, 400)]
        .iter()
        .enumerate()
    {
        if i == 1 {
            // A3 step 2 at run time: from SMTP to ESMTP inspection.
            fw.cmd("configure no ip inspect name OUT-IN smtp");
            fw.cmd("configure ip inspect name OUT-IN esmtp");
        }
        let r = run_phase(&fw, p);
        for (k, n) in r.expected {
            *expected.entry(k).or_default() += n;
        }
        connections += r.connections;
        illegal += r.illegal_sent;

        // Every connection has ended at the server; after the timeouts the
        // firewall holds no session.
        let text = wait_server(&records, connections);
        let server = parse_server(&text);
        if server.connections != connections {
            let open: Vec<String> = server
                .open_peers
                .iter()
                .map(|p| {
                    let port = p.rsplit(':').next().and_then(|v| v.parse::<u16>().ok());
                    let abort = port.is_some_and(|v| r.aborted_ports.contains(&v));
                    format!(
                        "{p}{}",
                        if abort {
                            " (client ended it with RST)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            panic!(
                "{} of {connections} connections ended at the server; never ended: {open:?}\n\
                 {}\n{}\n{}",
                server.connections,
                fw.cmd("show ip inspect session detail"),
                fw.cmd("show ip inspect statistics"),
                fw.cmd("show interfaces")
            );
        }
        let (gone, show) = wait_sessions_gone(&fw, Duration::from_secs(FINWAIT + IDLE + 15));
        assert!(
            gone,
            "{} sessions left after the timeouts:\n{}",
            session_lines(&show),
            show.lines().take(40).collect::<Vec<_>>().join("\n")
        );
    }
    let server = parse_server(&std::fs::read_to_string(&records).unwrap_or_default());
    let want: usize = expected.values().sum();
    assert_eq!(server.message_count(), want, "messages delivered");
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, n)| server.messages.get(*k) != Some(*n))
        .take(10)
        .collect();
    let unexpected: Vec<_> = server
        .messages
        .iter()
        .filter(|(k, n)| expected.get(*k) != Some(*n))
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "lost or corrupted messages: client-side {missing:?}, server-side {unexpected:?}"
    );
    assert_eq!(
        server.clear_illegal, 0,
        "an illegal verb reached the server"
    );
    assert_eq!(
        server.unknown_commands, illegal,
        "every illegal line reached the server masked"
    );
    let log = fw.wait_log("SMTP_INVALID_COMMAND", Duration::from_secs(5));
    assert!(log.contains("%FW-3-SMTP_INVALID_COMMAND"), "{log}");
    let cpu = cpu_ticks(pid).unwrap_or(0).saturating_sub(cpu0) as f64 / clock_ticks() as f64;
    let bytes: usize = expected.iter().map(|(k, n)| k.2 * n).sum();
    eprintln!(
        "soak: {connections} sessions, {want} messages ({:.1} MB), {illegal} illegal lines \
         masked, {} server-side resets (RST aborts), {:.1} s, firewall CPU {cpu:.1} s",
        bytes as f64 / 1e6,
        server.resets,
        started.elapsed().as_secs_f64()
    );
    eprintln!("{}", fw.cmd("show ip inspect statistics"));
}

/// One measured smtp-source run.
struct CostRun {
    /// Sessions (one message each) per second of wall time.
    rate: f64,
    /// Firewall CPU-seconds per session (all threads, idle polling included).
    cpu: f64,
    /// The same minus the firewall's idle CPU rate over the run's wall time.
    busy_cpu: f64,
}

/// Packets counted by `show ip inspect statistics` for `proto` (both
/// switching paths).
fn inspected_packets(fw: &FirewallLab, proto: &str) -> u64 {
    let stats = fw.cmd("show ip inspect statistics");
    let prefix = format!("{proto} packets: [");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            rest.trim_end_matches(']')
                .split(':')
                .filter_map(|v| v.trim().parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

struct CostSetup {
    pid: u32,
    ticks: f64,
    idle_rate: f64,
    messages: usize,
    size: usize,
    concurrency: usize,
}

fn measure_run(fw: &FirewallLab, c: &CostSetup, messages: usize) -> CostRun {
    let (m, l, s) = (
        messages.to_string(),
        c.size.to_string(),
        c.concurrency.to_string(),
    );
    let ns = fw.lab.ns.client.clone();
    let cpu0 = cpu_ticks(c.pid).expect("firewall cpu");
    let t0 = Instant::now();
    let (ok, out) = fw.run(
        &ns,
        &[
            "taskset",
            "-c",
            "0",
            "timeout",
            "300",
            SMTP_SOURCE,
            "-s",
            &s,
            "-m",
            &m,
            "-l",
            &l,
            "-M",
            "client.example.net",
            "-f",
            "soak@client.example.net",
            "-t",
            "user@mail.soak.test",
            MAIL_PUBLIC,
        ],
    );
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(c.pid).expect("firewall cpu");
    assert!(
        ok,
        "smtp-source failed after {secs:.1} s: {out}\n{}\n{}",
        fw.cmd("show ip inspect statistics"),
        fw.cmd("show ip inspect session")
    );
    let cpu_s = cpu1.saturating_sub(cpu0) as f64 / c.ticks;
    let n = messages as f64;
    CostRun {
        rate: n / secs,
        cpu: cpu_s / n,
        busy_cpu: (cpu_s - c.idle_rate * secs).max(0.0) / n,
    }
}

/// Issue 5: the same smtp-source workload through the firewall with the
/// seed's `smtp` rule and with a plain `tcp` rule; sessions/s and firewall
/// CPU per session, medians of 3 interleaved runs each, and the cost ratio
/// (target ≤ 10 %). Generator and smtp-sink pinned to core 0, the one
/// worker on core 1 (mailguard's default: the last core).
/// Run: `cargo test -p mailguard-tests --test netns_soak -- --ignored --nocapture`
/// (`MAILGUARD_BIN` may point at a release build; `MAILGUARD_COST_MESSAGES`,
/// `MAILGUARD_COST_SIZE`, `MAILGUARD_COST_CONCURRENCY` size the workload).
#[test]
#[ignore = "measurement: run with --ignored --nocapture"]
fn inspection_cost_smtp_vs_tcp() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut fw = start_lab(1);
    let mail_ns = fw.lab.ns.mail.clone();
    fw.spawn(
        &mail_ns,
        &[
            "taskset",
            "-c",
            "0",
            "/usr/sbin/smtp-sink",
            "-u",
            "root",
            "10.10.10.2:25",
            "256",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let pid = firewall_pid(&fw).expect("mailguard pid in the firewall namespace");
    let ticks = clock_ticks() as f64;
    let idle0 = cpu_ticks(pid).expect("cpu");
    std::thread::sleep(Duration::from_secs(3));
    let idle_rate = cpu_ticks(pid).expect("cpu").saturating_sub(idle0) as f64 / ticks / 3.0;
    let setup = CostSetup {
        pid,
        ticks,
        idle_rate,
        messages: env_usize("MAILGUARD_COST_MESSAGES", 3000).max(10),
        size: env_usize("MAILGUARD_COST_SIZE", 100),
        concurrency: env_usize("MAILGUARD_COST_CONCURRENCY", 20).max(1),
    };

    // Warm-up (ARP, page cache, first sessions).
    measure_run(&fw, &setup, setup.messages / 10);
    let (mut smtp, mut tcp) = (Vec::new(), Vec::new());
    for round in 0..3 {
        for inspect in ["smtp", "tcp"] {
            let other = if inspect == "smtp" { "tcp" } else { "smtp" };
            // Absent the first time round: the error is expected then.
            let _ = fw.cmd_result(&format!("configure no ip inspect name OUT-IN {other}"));
            fw.cmd(&format!("configure ip inspect name OUT-IN {inspect}"));
            let (gone, _) = wait_sessions_gone(&fw, Duration::from_secs(FINWAIT + IDLE + 15));
            assert!(gone, "sessions left before run");
            let before = inspected_packets(&fw, other);
            // Packets of the run: an SMTP-mode `smtp` rule masks EHLO, so the
            // client falls back to HELO (one more round trip per session).
            let packets_before = inspected_packets(&fw, "tcp") + inspected_packets(&fw, "smtp");
            let r = measure_run(&fw, &setup, setup.messages);
            assert_eq!(
                inspected_packets(&fw, other),
                before,
                "the {inspect} run was inspected as {other}"
            );
            let packets =
                inspected_packets(&fw, "tcp") + inspected_packets(&fw, "smtp") - packets_before;
            eprintln!(
                "round {round} {inspect:>4}: {:6.0} sessions/s  {:6.1} µs CPU/session  \
                 {:6.1} µs busy CPU/session  {:5.1} packets/session",
                r.rate,
                r.cpu * 1e6,
                r.busy_cpu * 1e6,
                packets as f64 / setup.messages as f64
            );
            if inspect == "smtp" {
                &mut smtp
            } else {
                &mut tcp
            }
            .push(r);
        }
    }
    let med = |v: &[CostRun], f: fn(&CostRun) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let s = (
        med(&smtp, |r| r.rate),
        med(&smtp, |r| r.cpu),
        med(&smtp, |r| r.busy_cpu),
    );
    let t = (
        med(&tcp, |r| r.rate),
        med(&tcp, |r| r.cpu),
        med(&tcp, |r| r.busy_cpu),
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "inspection cost: smtp-source -s {} -m {} -l {}, 1 worker (core 1), \
         smtp-source + smtp-sink on core 0",
        setup.concurrency, setup.messages, setup.size
    );
    eprintln!(
        "binary: {}",
        mailguard_tests::netlab::mailguard_bin().display()
    );
    eprintln!("nproc {nproc}, loadavg {}", load.trim());
    eprintln!("firewall idle CPU: {:.3} CPU-s/s", idle_rate);
    for (name, v) in [("smtp", s), (" tcp", t)] {
        eprintln!(
            "{name}: {:.0} sessions/s, {:.1} µs CPU/session, {:.1} µs busy CPU/session \
             (medians of 3)",
            v.0,
            v.1 * 1e6,
            v.2 * 1e6
        );
    }
    eprintln!(
        "cost of smtp over tcp: CPU/session {:+.1} %, busy CPU/session {:+.1} %, \
         sessions/s {:+.1} %",
        (s.1 / t.1 - 1.0) * 100.0,
        (s.2 / t.2 - 1.0) * 100.0,
        (s.0 / t.0 - 1.0) * 100.0
    );
    assert!(s.0 > 0.0 && t.0 > 0.0);
}
