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
    clock_ticks, cpu_ticks, env_usize, firewall_pid, median, min_max, parse_client, parse_server,
    session_lines, sha256_hex, smtp_source_available, source_message, thread_cpu, thread_delta,
    MessageKey, ThreadCpu, CLIENT_PY, SERVER_PY, SMTP_SOURCE,
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
    // The kernel's fanout spreads the sessions (each from a `connect()`
    // port, which Linux keeps even) over both workers, and ownership is the
    // same peer hash: every frame arrived at the worker that owns it, so none
    // was handed over.
    let metrics = fw.metrics().expect("metrics");
    let received = FirewallLab::metric_sum(&metrics, "mailguard_rx_packets_total");
    let handed = FirewallLab::metric_sum(&metrics, "mailguard_handoff_sent_total");
    let per_worker: Vec<u64> = (0..2)
        .map(|w| {
            let name = format!("mailguard_rx_packets_total{{worker=\"{w}\"}}");
            FirewallLab::metric_sum(&metrics, &name)
        })
        .collect();
    assert!(
        per_worker.iter().all(|&n| n > received * 3 / 10),
        "frames received per worker: {per_worker:?}"
    );
    assert_eq!(
        handed, 0,
        "{handed} of {received} frames handed over between workers: {per_worker:?}"
    );
    let cpu = cpu_ticks(pid).unwrap_or(0).saturating_sub(cpu0) as f64 / clock_ticks() as f64;
    let bytes: usize = expected.iter().map(|(k, n)| k.2 * n).sum();
    eprintln!(
        "soak: {connections} sessions, {want} messages ({:.1} MB), {illegal} illegal lines \
         masked, {} server-side resets (RST aborts), {:.1} s, firewall CPU {cpu:.1} s",
        bytes as f64 / 1e6,
        server.resets,
        started.elapsed().as_secs_f64()
    );
    eprintln!("soak: frames received per worker {per_worker:?}, none handed over");
    eprintln!("{}", fw.cmd("show ip inspect statistics"));
}

/// One measured smtp-source run.
struct CostRun {
    /// Sessions (one message each) per second of wall time.
    rate: f64,
    /// Firewall CPU-seconds per session (all threads, idle polling included;
    /// ns resolution from `schedstat`).
    cpu: f64,
    /// The same minus the firewall's idle CPU rate over the run's wall time.
    busy_cpu: f64,
    /// Packets inspected per session (both rules' counters).
    packets: f64,
    /// What each firewall thread did during the run.
    threads: Vec<ThreadCpu>,
}

impl CostRun {
    /// Worker CPU-seconds per session and worker wake-ups (voluntary
    /// context switches: each is a sleep in `ppoll` that ended) per session.
    fn worker(&self, sessions: f64) -> (f64, f64) {
        let workers = self
            .threads
            .iter()
            .filter(|t| t.name.starts_with("mg-worker"));
        let (cpu, wakeups) =
            workers.fold((0u64, 0u64), |(c, w), t| (c + t.cpu_ns, w + t.voluntary));
        (cpu as f64 / 1e9 / sessions, wakeups as f64 / sessions)
    }

    /// Share of the workers' CPU time spent in the kernel (system time:
    /// syscalls, and the delivery of transmitted frames to the receiving
    /// stacks, which the kernel runs in the sender's context), percent.
    fn worker_system_pct(&self) -> f64 {
        let (user, system) = self
            .threads
            .iter()
            .filter(|t| t.name.starts_with("mg-worker"))
            .fold((0u64, 0u64), |(u, s), t| {
                (u + t.user_ticks, s + t.system_ticks)
            });
        100.0 * system as f64 / (user + system).max(1) as f64
    }
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
    /// Firewall CPU-seconds per second when no traffic passes.
    idle_rate: f64,
    messages: usize,
    size: usize,
    concurrency: usize,
    /// Run each measured smtp-source under `strace -c -f` (diagnosis only:
    /// tracing inflates every figure).
    strace: bool,
}

fn total_cpu_ns(threads: &[ThreadCpu]) -> u64 {
    threads.iter().map(|t| t.cpu_ns).sum()
}

/// `strace -c -f` attached to the firewall for one run; `finish` detaches
/// it and returns its summary table.
struct Strace {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl Strace {
    fn attach(pid: u32, out: std::path::PathBuf) -> Strace {
        let child = std::process::Command::new("strace")
            .args(["-c", "-f", "-q", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("strace");
        // Let it attach to every thread before the run starts.
        std::thread::sleep(Duration::from_millis(500));
        Strace { child, out }
    }

    fn finish(mut self) -> String {
        // SIGINT makes strace detach and write its summary.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `(syscall, calls)` rows of a `strace -c` table.
fn strace_calls(table: &str) -> Vec<(String, u64)> {
    table
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors,] syscall
            if f.len() < 5 || f[0].parse::<f64>().is_err() || f.last() == Some(&"total") {
                return None;
            }
            Some((f.last()?.to_string(), f[3].parse().ok()?))
        })
        .collect()
}

fn measure_run(fw: &FirewallLab, c: &CostSetup, messages: usize, label: &str) -> CostRun {
    let (m, l, s) = (
        messages.to_string(),
        c.size.to_string(),
        c.concurrency.to_string(),
    );
    let ns = fw.lab.ns.client.clone();
    let packets_before = inspected_packets(fw, "tcp") + inspected_packets(fw, "smtp");
    let strace = c
        .strace
        .then(|| Strace::attach(c.pid, fw.dir().join(format!("strace-{label}.txt"))));
    let threads0 = thread_cpu(c.pid);
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
    let threads1 = thread_cpu(c.pid);
    if let Some(st) = strace {
        let table = st.finish();
        let calls: Vec<String> = strace_calls(&table)
            .into_iter()
            .take(8)
            .map(|(name, n)| format!("{name} {:.2}", n as f64 / messages as f64))
            .collect();
        eprintln!("  {label} syscalls/session (strace): {}", calls.join(", "));
    }
    assert!(
        ok,
        "smtp-source failed after {secs:.1} s: {out}\n{}\n{}",
        fw.cmd("show ip inspect statistics"),
        fw.cmd("show ip inspect session")
    );
    let cpu_s = total_cpu_ns(&threads1).saturating_sub(total_cpu_ns(&threads0)) as f64 / 1e9;
    let n = messages as f64;
    let packets = inspected_packets(fw, "tcp") + inspected_packets(fw, "smtp") - packets_before;
    CostRun {
        rate: n / secs,
        cpu: cpu_s / n,
        busy_cpu: (cpu_s - c.idle_rate * secs).max(0.0) / n,
        packets: packets as f64 / n,
        threads: thread_delta(&threads0, &threads1),
    }
}

/// Switches the `OUT-IN` entry to `inspect` (`smtp` or `tcp`) and waits
/// until no session of the previous run is left.
fn switch_rule(fw: &FirewallLab, inspect: &str) {
    let other = if inspect == "smtp" { "tcp" } else { "smtp" };
    // Absent the first time round: the error is expected then.
    let _ = fw.cmd_result(&format!("configure no ip inspect name OUT-IN {other}"));
    fw.cmd(&format!("configure ip inspect name OUT-IN {inspect}"));
    let (gone, _) = wait_sessions_gone(fw, Duration::from_secs(FINWAIT + IDLE + 15));
    assert!(gone, "sessions left before run");
}

/// Issue 5: the same smtp-source workload through the firewall with the
/// seed's `smtp` rule and with a plain `tcp` rule; sessions/s and firewall
/// CPU per session (all threads, ns resolution), in interleaved pairs whose
/// order alternates (smtp first, then tcp first, …) so that drift of the
/// shared machine cancels out. Reports every pair's ratio, the median ratio
/// and its spread, per-rule medians, the worker's CPU and wake-ups per
/// session and each thread's share, and the verdict against the ≤ 10 %
/// target. Generator and smtp-sink pinned to core 0, the one worker on core
/// 1 (mailguard's default: the last core).
/// Run: `cargo test -p mailguard-tests --test netns_soak -- --ignored --nocapture`
/// (`MAILGUARD_BIN` may point at a release build; `MAILGUARD_COST_PAIRS`
/// (default 8), `MAILGUARD_COST_MESSAGES` (default 2000), `MAILGUARD_COST_SIZE`,
/// `MAILGUARD_COST_CONCURRENCY` size the measurement;
/// `MAILGUARD_COST_STRACE=1` adds syscalls per session from `strace -c -f`,
/// for diagnosis only).
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
    let idle0 = thread_cpu(pid);
    std::thread::sleep(Duration::from_secs(3));
    let idle1 = thread_cpu(pid);
    let idle_rate = total_cpu_ns(&idle1).saturating_sub(total_cpu_ns(&idle0)) as f64 / 1e9 / 3.0;
    let idle_wakeups: u64 = thread_delta(&idle0, &idle1)
        .iter()
        .filter(|t| t.name.starts_with("mg-worker"))
        .map(|t| t.voluntary)
        .sum();
    let setup = CostSetup {
        pid,
        idle_rate,
        messages: env_usize("MAILGUARD_COST_MESSAGES", 2000).max(10),
        size: env_usize("MAILGUARD_COST_SIZE", 100),
        concurrency: env_usize("MAILGUARD_COST_CONCURRENCY", 20).max(1),
        strace: std::env::var_os("MAILGUARD_COST_STRACE").is_some_and(|v| v != "0"),
    };
    let pairs = env_usize("MAILGUARD_COST_PAIRS", 8).max(1);

    // Warm-up (ARP, page cache, first sessions).
    measure_run(&fw, &setup, setup.messages / 10, "warm-up");
    let n = setup.messages as f64;
    let (mut smtp, mut tcp) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        let order = if pair % 2 == 0 {
            ["smtp", "tcp"]
        } else {
            ["tcp", "smtp"]
        };
        for inspect in order {
            switch_rule(&fw, inspect);
            let other = if inspect == "smtp" { "tcp" } else { "smtp" };
            let before = inspected_packets(&fw, other);
            let r = measure_run(&fw, &setup, setup.messages, &format!("{pair}-{inspect}"));
            assert_eq!(
                inspected_packets(&fw, other),
                before,
                "the {inspect} run was inspected as {other}"
            );
            let (worker_cpu, wakeups) = r.worker(n);
            let shares: Vec<String> = r
                .threads
                .iter()
                .filter(|t| t.cpu_ns > 0)
                .map(|t| format!("{} {:.1}", t.name, t.cpu_ns as f64 / 1e3 / n))
                .collect();
            eprintln!(
                "pair {pair} {inspect:>4}: {:6.0} sessions/s  {:6.1} µs CPU/session  \
                 {:6.1} µs busy  worker {:6.1} µs ({:2.0} % system), {:5.2} wake-ups/session  \
                 {:5.1} packets/session  [µs/session by thread: {}]",
                r.rate,
                r.cpu * 1e6,
                r.busy_cpu * 1e6,
                worker_cpu * 1e6,
                r.worker_system_pct(),
                wakeups,
                r.packets,
                shares.join(", ")
            );
            if inspect == "smtp" {
                &mut smtp
            } else {
                &mut tcp
            }
            .push(r);
        }
    }
    let pct = |a: f64, b: f64| (a / b - 1.0) * 100.0;
    let cpu_ratios: Vec<f64> = smtp
        .iter()
        .zip(&tcp)
        .map(|(s, t)| pct(s.cpu, t.cpu))
        .collect();
    let worker_ratios: Vec<f64> = smtp
        .iter()
        .zip(&tcp)
        .map(|(s, t)| pct(s.worker(n).0, t.worker(n).0))
        .collect();
    let rate_ratios: Vec<f64> = smtp
        .iter()
        .zip(&tcp)
        .map(|(s, t)| pct(s.rate, t.rate))
        .collect();
    let med =
        |v: &[CostRun], f: &dyn Fn(&CostRun) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "inspection cost: smtp-source -s {} -m {} -l {}, 1 worker (core 1), \
         smtp-source + smtp-sink on core 0, {pairs} pairs (order alternating)",
        setup.concurrency, setup.messages, setup.size
    );
    eprintln!(
        "binary: {}",
        mailguard_tests::netlab::mailguard_bin().display()
    );
    eprintln!("nproc {nproc}, loadavg {}", load.trim());
    eprintln!(
        "firewall idle: {:.4} CPU-s/s, {:.0} worker wake-ups/s",
        idle_rate,
        idle_wakeups as f64 / 3.0
    );
    for (name, v) in [("smtp", &smtp), (" tcp", &tcp)] {
        eprintln!(
            "{name}: {:.0} sessions/s, {:.1} µs CPU/session, {:.1} µs busy, worker {:.1} µs and \
             {:.2} wake-ups/session, {:.1} packets/session (medians of {pairs})",
            med(v, &|r| r.rate),
            med(v, &|r| r.cpu) * 1e6,
            med(v, &|r| r.busy_cpu) * 1e6,
            med(v, &|r| r.worker(n).0) * 1e6,
            med(v, &|r| r.worker(n).1),
            med(v, &|r| r.packets),
        );
    }
    let show = |v: &[f64]| {
        let each: Vec<String> = v.iter().map(|x| format!("{x:+.1}")).collect();
        let (lo, hi) = min_max(v);
        format!(
            "median {:+.1} % (pairs: {} %; spread {:+.1} … {:+.1})",
            median(v),
            each.join(", "),
            lo,
            hi
        )
    };
    eprintln!("cost of smtp over tcp, per pair:");
    eprintln!("  firewall CPU/session: {}", show(&cpu_ratios));
    eprintln!("  worker CPU/session:   {}", show(&worker_ratios));
    eprintln!("  sessions/s:           {}", show(&rate_ratios));
    let cost = median(&cpu_ratios);
    let (_, worst) = min_max(&cpu_ratios);
    eprintln!(
        "verdict (target: ≤ 10 % CPU/session): {}",
        if cost <= 10.0 && worst <= 10.0 {
            format!("met in every pair (median {cost:+.1} %)")
        } else if cost <= 10.0 {
            format!("met by the median ({cost:+.1} %), not by every pair (worst {worst:+.1} %)")
        } else {
            format!("NOT met (median {cost:+.1} %)")
        }
    );
    if setup.strace {
        eprintln!("(traced with strace: absolute figures inflated)");
    }
    assert!(smtp.iter().chain(&tcp).all(|r| r.rate > 0.0));
}

#[test]
fn strace_summary_rows_are_read() {
    let table = "% time     seconds  usecs/call     calls    errors syscall\n\
                 ------ ----------- ----------- --------- --------- ----------------\n \
                 61.20    0.012000          10      7374           sendmmsg\n \
                 30.00    0.006000           2      4500        12 ppoll\n\
                 ------ ----------- ----------- --------- --------- ----------------\n\
                 100.00    0.018000           1     11874        12 total\n";
    assert_eq!(
        strace_calls(table),
        vec![("sendmmsg".to_owned(), 7374), ("ppoll".to_owned(), 4500)]
    );
}
