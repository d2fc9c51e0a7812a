//! Soak and inspection-cost helpers (issue 5): a recording SMTP server and a
//! mixed SMTP client (both Python asyncio scripts, embedded here and written
//! into the lab's scratch directory), postfix's `smtp-source` with a
//! pre-formatted message whose body hash is known in advance, parsers for
//! what both ends recorded, and the firewall's CPU time from `/proc`.
//!
//! Why Python for the mix: thousands of concurrent sessions with illegal
//! verbs, pipelined groups and RST aborts need a scriptable client; why
//! `smtp-source` as well: it is the standard, independent load tool, so the
//! firewall is not only tested against our own SMTP code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::netlab::FirewallLab;

/// The recording server (`server.py ADDR PORT RECORD_FILE`).
pub const SERVER_PY: &str = include_str!("soak/server.py");
/// The mixed client (`client.py HOST PORT SESSIONS CONCURRENCY MODE SEED OUT`).
pub const CLIENT_PY: &str = include_str!("soak/client.py");

/// Path of postfix's load generator.
pub const SMTP_SOURCE: &str = "/usr/sbin/smtp-source";

/// Whether postfix's `smtp-source` is installed.
pub fn smtp_source_available() -> bool {
    Path::new(SMTP_SOURCE).exists()
}

/// Reads a `usize` from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One delivered message: (tag, sha256 hex, body length).
pub type MessageKey = (String, String, usize);

/// What the recording server wrote.
#[derive(Debug, Default, Clone)]
pub struct ServerReport {
    /// Delivered messages and how often each was delivered.
    pub messages: BTreeMap<MessageKey, usize>,
    /// Connections that ended (any way).
    pub connections: usize,
    /// Connections that ended with a reset or an error.
    pub resets: usize,
    /// Command lines the server did not recognise (masked illegal verbs).
    pub unknown_commands: usize,
    /// Illegal verbs that reached the server in clear (must stay 0).
    pub clear_illegal: usize,
    /// Peers (`ip:port`) of connections accepted but not (yet) ended.
    pub open_peers: BTreeSet<String>,
}

impl ServerReport {
    /// Total number of delivered messages.
    pub fn message_count(&self) -> usize {
        self.messages.values().sum()
    }
}

/// Parses the server's record file.
pub fn parse_server(text: &str) -> ServerReport {
    let mut r = ServerReport::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.first().copied() {
            Some("MSG") if f.len() == 4 => {
                let key = (f[1].to_owned(), f[2].to_owned(), f[3].parse().unwrap_or(0));
                *r.messages.entry(key).or_default() += 1;
            }
            Some("OPEN") if f.len() == 2 => {
                r.open_peers.insert(f[1].to_owned());
            }
            Some("CONN") if f.len() == 6 => {
                r.open_peers.remove(f[1]);
                r.connections += 1;
                r.unknown_commands += f[3].parse::<usize>().unwrap_or(0);
                r.clear_illegal += f[4].parse::<usize>().unwrap_or(0);
                if f[5] == "reset" {
                    r.resets += 1;
                }
            }
            _ => {}
        }
    }
    r
}

/// What the mixed client wrote.
#[derive(Debug, Default, Clone)]
pub struct ClientReport {
    /// Messages the server confirmed with 250, as the client computed them.
    pub messages: BTreeMap<MessageKey, usize>,
    /// Failed sessions (index, kind, reason).
    pub failures: Vec<String>,
    /// Sessions that completed every step.
    pub sessions: usize,
    /// Illegal command lines sent (each expected to reach the server masked).
    pub illegal_sent: usize,
    /// Messages sent in a pipelined group.
    pub pipelined: usize,
    /// Sessions ended with a reset instead of QUIT.
    pub aborted: usize,
    /// EHLO replies seen with PIPELINING kept and STARTTLS masked.
    pub ehlo_masked: usize,
    /// Local ports of the sessions ended with a reset.
    pub aborted_ports: Vec<u16>,
    /// Whether the summary line was present (the client ran to the end).
    pub complete: bool,
}

/// Parses the client's output file.
pub fn parse_client(text: &str) -> ClientReport {
    let mut r = ClientReport::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.first().copied() {
            Some("MSG") if f.len() == 4 => {
                let key = (f[1].to_owned(), f[2].to_owned(), f[3].parse().unwrap_or(0));
                *r.messages.entry(key).or_default() += 1;
            }
            Some("FAIL") => r.failures.push(line.to_owned()),
            Some("ABORT") if f.len() == 2 => r.aborted_ports.extend(f[1].parse::<u16>().ok()),
            Some("STATS") if f.len() == 6 => {
                let n: Vec<usize> = f[1..].iter().map(|v| v.parse().unwrap_or(0)).collect();
                r.sessions = n[0];
                r.illegal_sent = n[1];
                r.pipelined = n[2];
                r.aborted = n[3];
                r.ehlo_masked = n[4];
                r.complete = true;
            }
            _ => {}
        }
    }
    r
}

/// A pre-formatted message for `smtp-source -F`: the file to write and the
/// body the server must receive (smtp-source appends CRLF to every line and
/// one empty line at the end).
pub fn source_message(tag: &str, payload_lines: usize) -> (String, Vec<u8>) {
    let mut lines = vec![
        format!("X-Soak-Id: {tag}"),
        format!("Subject: smtp-source {tag}"),
        String::new(),
    ];
    for i in 0..payload_lines {
        match i % 7 {
            0 => lines.push(format!(".leading dot {i}")),
            3 => lines.push(".".to_owned()),
            _ => lines.push(format!("line {i} {}", "La de da de da ".repeat(i % 9))),
        }
    }
    let file: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut body: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    body.extend_from_slice(b"\r\n");
    (file, body)
}

/// sha256 (hex) of `bytes`, computed by Python's hashlib (the same
/// implementation the server uses; the workspace has no sha2 crate).
pub fn sha256_hex(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("hash-input.bin");
    std::fs::write(&path, bytes).expect("write hash input");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
        ])
        .arg(&path)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The mailguard process in the firewall namespace.
pub fn firewall_pid(fw: &FirewallLab) -> Option<u32> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &fw.lab.ns.fw])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == "mailguard")
                .unwrap_or(false)
        })
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// User + system CPU ticks of a process (all its threads).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    user_system_ticks(&stat).map(|(u, s)| u + s)
}

/// `(utime, stime)` of a `/proc/.../stat` text.
pub fn user_system_ticks(stat: &str) -> Option<(u64, u64)> {
    // Fields after the `(comm)`, which may contain spaces: state is field 3,
    // utime field 14, stime field 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// CPU and scheduling figures of one thread of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCpu {
    /// Thread id.
    pub tid: u32,
    /// Thread name (`/proc/<pid>/task/<tid>/comm`, e.g. `mg-worker-0`).
    pub name: String,
    /// CPU time run, ns (first field of `schedstat`: ns resolution, unlike
    /// the clock ticks of `stat`).
    pub cpu_ns: u64,
    /// Voluntary context switches (the thread slept: a wake-up each).
    pub voluntary: u64,
    /// Involuntary context switches (preempted).
    pub involuntary: u64,
    /// User and system CPU time, clock ticks (`stat` fields 14 and 15): the
    /// system part includes the softirq work (delivery to the receivers'
    /// stacks) the kernel runs in the thread's context.
    pub user_ticks: u64,
    pub system_ticks: u64,
}

/// Every thread of process `pid` (empty when the process is gone).
pub fn thread_cpu(pid: u32) -> Vec<ThreadCpu> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut threads: Vec<ThreadCpu> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let base = e.path();
            let name = std::fs::read_to_string(base.join("comm")).ok()?;
            let sched = std::fs::read_to_string(base.join("schedstat")).ok()?;
            let status = std::fs::read_to_string(base.join("status")).ok()?;
            let (voluntary, involuntary) = context_switches(&status);
            let (user_ticks, system_ticks) = std::fs::read_to_string(base.join("stat"))
                .ok()
                .and_then(|stat| user_system_ticks(&stat))
                .unwrap_or((0, 0));
            Some(ThreadCpu {
                tid,
                name: name.trim().to_owned(),
                cpu_ns: sched.split_whitespace().next()?.parse().ok()?,
                voluntary,
                involuntary,
                user_ticks,
                system_ticks,
            })
        })
        .collect();
    threads.sort_by_key(|t| t.tid);
    threads
}

/// `(voluntary, involuntary)` context switches from a `/proc/.../status` text.
pub fn context_switches(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// What each thread did between two [`thread_cpu`] samples, summed by thread
/// name (threads that started later count from zero), in name order.
pub fn thread_delta(before: &[ThreadCpu], after: &[ThreadCpu]) -> Vec<ThreadCpu> {
    let mut by_name: BTreeMap<String, ThreadCpu> = BTreeMap::new();
    for a in after {
        let b = before.iter().find(|b| b.tid == a.tid);
        let d = by_name.entry(a.name.clone()).or_insert(ThreadCpu {
            tid: a.tid,
            name: a.name.clone(),
            cpu_ns: 0,
            voluntary: 0,
            involuntary: 0,
            user_ticks: 0,
            system_ticks: 0,
        });
        let since = |f: fn(&ThreadCpu) -> u64| f(a).saturating_sub(b.map_or(0, f));
        d.cpu_ns += since(|t| t.cpu_ns);
        d.voluntary += since(|t| t.voluntary);
        d.involuntary += since(|t| t.involuntary);
        d.user_ticks += since(|t| t.user_ticks);
        d.system_ticks += since(|t| t.system_ticks);
    }
    by_name.into_values().collect()
}

/// Spread of a non-empty slice: `(min, max)`.
pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Number of sessions listed by `show ip inspect session` (lines with `=>`).
pub fn session_lines(show: &str) -> usize {
    show.lines().filter(|l| l.contains("=>")).count()
}

/// Median of a non-empty slice (sorted copy; mean of the middle two).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_records() {
        let r = parse_server(
            "READY\nOPEN 1.2.3.4:5\nOPEN 1.2.3.4:6\nOPEN 1.2.3.4:7\nMSG c1-0-0 abcd 12\n\
             MSG c1-0-0 abcd 12\nCONN 1.2.3.4:5 2 3 0 quit\nCONN 1.2.3.4:6 0 0 1 reset\ngarbage\n",
        );
        assert_eq!(r.message_count(), 2);
        assert_eq!(r.connections, 2);
        assert_eq!(r.resets, 1);
        assert_eq!(r.unknown_commands, 3);
        assert_eq!(r.clear_illegal, 1);
        assert_eq!(r.open_peers.into_iter().collect::<Vec<_>>(), ["1.2.3.4:7"]);
    }

    #[test]
    fn parses_client_output() {
        let r = parse_client("MSG t h 5\nFAIL 3 plain boom\nABORT 40000\nSTATS 9 4 2 1 3\n");
        assert_eq!(r.aborted_ports, [40000]);
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.failures, vec!["FAIL 3 plain boom".to_owned()]);
        assert_eq!((r.sessions, r.illegal_sent, r.pipelined), (9, 4, 2));
        assert_eq!((r.aborted, r.ehlo_masked, r.complete), (1, 3, true));
        assert!(!parse_client("MSG t h 5\n").complete);
    }

    #[test]
    fn source_message_body_is_crlf_with_trailing_empty_line() {
        let (file, body) = source_message("s", 2);
        assert_eq!(
            file,
            "X-Soak-Id: s\nSubject: smtp-source s\n\n.leading dot 0\nline 1 La de da de da \n"
        );
        assert!(body.ends_with(b"line 1 La de da de da \r\n\r\n"));
        assert_eq!(
            body.len(),
            file.len() + 5 + 2,
            "a CR per line, one empty line"
        );
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn thread_figures_from_proc_text() {
        let status = "Name:\tmg-worker-0\nvoluntary_ctxt_switches:\t120\n\
                      nonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(context_switches(status), (120, 7));
        assert_eq!(context_switches("Name:\tx\n"), (0, 0));
        let t = |tid, name: &str, cpu_ns, voluntary| ThreadCpu {
            tid,
            name: name.to_owned(),
            cpu_ns,
            voluntary,
            involuntary: 0,
            user_ticks: cpu_ns / 100,
            system_ticks: 0,
        };
        let stat = "42 (mg worker) S 1 2 3 4 5 6 7 8 9 10 250 17 0 0";
        assert_eq!(user_system_ticks(stat), Some((250, 17)));
        assert_eq!(user_system_ticks("42 (x"), None);
        let before = [t(1, "mailguard", 100, 5), t(2, "mg-worker-0", 1_000, 10)];
        let after = [
            t(1, "mailguard", 150, 6),
            t(2, "mg-worker-0", 4_000, 40),
            t(3, "mg-worker-0", 500, 2),
        ];
        let d = thread_delta(&before, &after);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].name.as_str(), d[0].cpu_ns, d[0].voluntary),
            ("mailguard", 50, 1)
        );
        assert_eq!(
            (d[1].name.as_str(), d[1].cpu_ns, d[1].voluntary),
            ("mg-worker-0", 3_500, 32)
        );
        assert_eq!(d[1].user_ticks, 35);
        assert_eq!(min_max(&[3.0, -1.0, 2.0]), (-1.0, 3.0));
    }

    #[test]
    fn reads_this_process_threads() {
        let me = thread_cpu(std::process::id());
        assert!(!me.is_empty());
        assert!(me.iter().any(|t| t.cpu_ns > 0));
    }

    #[test]
    fn counts_session_lines() {
        let show = "Established Sessions\n Session 1 (1.1.1.1:1)=>(2.2.2.2:25) smtp SIS_OPEN\n";
        assert_eq!(session_lines(show), 1);
        assert_eq!(session_lines(""), 0);
    }
}
