//! The `mailguard` binary end to end: `check` on good and broken
//! configurations, `run` failing fast, the control subcommands without a
//! server, and a short `run` in a private network namespace driven through
//! the control socket and stopped with SIGTERM.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mailguard");
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/seed.cfg");
const SHOW_ALL: &str = include_str!("../../fixtures/show-ip-inspect-all.txt");

fn mailguard(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("mailguard runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!("mg-cli-{}-{tag}", std::process::id()));
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(contents.as_bytes()))
            .expect("temp file");
        TempFile(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn check_seed_has_26_warnings_and_exit_0() {
    let out = mailguard(&["check", "--config", SEED]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let warnings = stdout
        .lines()
        .filter(|l| l.starts_with("% Warning: line "))
        .count();
    assert_eq!(warnings, 26, "{stdout}");
    assert!(stdout.ends_with("26 warning(s), 0 errors\n"), "{stdout}");
    // The embedded copy says the same.
    let embedded = mailguard(&["check", "--config", "seed"]);
    assert!(embedded.status.success());
    assert_eq!(text(&embedded.stdout), stdout);
}

#[test]
fn check_broken_config_gives_line_column_and_exit_1() {
    let cfg = TempFile::new(
        "broken.cfg",
        "hostname r1\ninterface Ethernet2/0\n ip address 10.0.0.1 255.255.255.0\n ip inspect NOSUCH in bogus\n",
    );
    let out = mailguard(&["check", "--config", cfg.path()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("line 4, column "), "{stdout}");
    assert!(stdout.contains("nothing would be loaded"), "{stdout}");
    let missing = mailguard(&["check", "--config", "/nonexistent/mg.cfg"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read /nonexistent/mg.cfg"));
}

#[test]
fn run_fails_fast_on_a_missing_device() {
    let sock = std::env::temp_dir().join(format!("mg-cli-{}-missing.sock", std::process::id()));
    let out = mailguard(&[
        "run",
        "--config",
        "seed",
        "--map",
        "Ethernet2/0=mgnodev0",
        "--control",
        sock.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--map Ethernet2/0=mgnodev0: no such network device 'mgnodev0'"),
        "{stderr}"
    );
    assert!(!sock.exists());
}

#[test]
fn run_rejects_a_broken_config_with_line_and_column() {
    let cfg = TempFile::new(
        "broken-run.cfg",
        "interface Ethernet2/0\n ip address 10.0.0.1\n",
    );
    let out = mailguard(&["run", "--config", cfg.path(), "--map", "Ethernet2/0=lo"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2, column "), "{stderr}");
}

#[test]
fn control_commands_without_a_server_fail_clearly() {
    let sock = format!("/tmp/mg-cli-{}-nobody.sock", std::process::id());
    let out = mailguard(&["show", "ip", "inspect", "all", "--control", &sock]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is mailguard running?"),
        "{}",
        text(&out.stderr)
    );
}

/// A network namespace with two veth pairs, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("mgcli{}{tag}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name);
        if !ok(&["-n", &ns.0, "link", "set", "lo", "up"]) {
            return None;
        }
        for (a, b) in [("o0", "o1"), ("n0", "n1")] {
            if !ok(&[
                "-n", &ns.0, "link", "add", a, "type", "veth", "peer", "name", b,
            ]) || !ok(&["-n", &ns.0, "link", "set", a, "up"])
                || !ok(&["-n", &ns.0, "link", "set", b, "up"])
            {
                return None;
            }
        }
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The firewall process, killed on drop if still running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends SIGTERM and waits for a clean exit; returns its stderr.
fn stop(fw: &mut Running) -> String {
    let pid = fw.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = fw.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = fw.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "exit {status:?}: {stderr}");
    stderr
}

fn wait_for(path: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn run_serves_show_and_configure_and_stops_on_sigterm() {
    let Some(ns) = Netns::new("a") else {
        eprintln!("skipped: cannot create a network namespace here");
        return;
    };
    let sock = PathBuf::from(format!("/tmp/mg-cli-{}-run.sock", std::process::id()));
    let log = TempFile::new("run.log", "");
    let sock_s = sock.to_str().unwrap().to_string();
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0, BIN, "run", "--config", "seed"])
        .args([
            "--map",
            "Ethernet2/0=o0",
            "--map",
            "Ethernet2/1=n0",
            "--workers",
            "1",
        ])
        .args([
            "--sessions",
            "1024",
            "--control",
            &sock_s,
            "--log",
            log.path(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut fw = Running(child);
    assert!(
        wait_for(&sock, Duration::from_secs(10)),
        "control socket never appeared"
    );
    let show = mailguard(&["show", "ip", "inspect", "all", "--control", &sock_s]);
    assert!(show.status.success(), "{}", text(&show.stderr));
    assert_eq!(text(&show.stdout), SHOW_ALL);
    let json = mailguard(&[
        "show",
        "ip",
        "nat",
        "translations",
        "--json",
        "--control",
        &sock_s,
    ]);
    assert!(json.status.success());
    assert!(text(&json.stdout).contains("\"inside_global\": \"172.22.1.110\""));
    let conf = mailguard(&["configure", "ip inspect audit-trail", "--control", &sock_s]);
    assert!(conf.status.success(), "{}", text(&conf.stderr));
    let cfg = mailguard(&["show", "ip", "inspect", "config", "--control", &sock_s]);
    assert!(text(&cfg.stdout).starts_with("Session audit trail is enabled\n"));
    let bad = mailguard(&["configure", "ip inspect bogus-word", "--control", &sock_s]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).starts_with('%'), "{}", text(&bad.stderr));
    let dbg = mailguard(&["debug", "ip", "inspect", "smtp", "--control", &sock_s]);
    assert_eq!(
        text(&dbg.stdout),
        "INSPECT SMTP Inspection debugging is on\n"
    );
    let undbg = mailguard(&["undebug", "all", "--control", &sock_s]);
    assert_eq!(
        text(&undbg.stdout),
        "All possible debugging has been turned off\n"
    );
    let clear = mailguard(&["clear", "ip", "inspect", "statistics", "--control", &sock_s]);
    assert!(clear.status.success());
    let stats = mailguard(&["show", "ip", "inspect", "statistics", "--control", &sock_s]);
    assert!(text(&stats.stdout).contains("Last statistic reset 00:00:0"));
    // SIGTERM: clean exit 0, socket removed. `ip netns exec` execs the
    // binary, so the child's pid is mailguard's.
    let stderr = stop(&mut fw);
    assert!(!sock.exists());
    assert!(!stderr.contains("%SYS-"), "log lines go to --log: {stderr}");
    let logged = std::fs::read_to_string(&log.0).unwrap();
    let lines: Vec<&str> = logged
        .lines()
        .map(|l| &l[l.find(": %").unwrap_or(0)..])
        .collect();
    assert_eq!(
        lines,
        [
            ": %SYS-5-RESTART: System restarted -- mailguard, 1 worker(s) on 2 port(s)",
            ": %SYS-5-CONFIG_I: Configured from control socket (generation 2)",
            ": %SYS-5-SHUTDOWN: mailguard stopping",
        ],
        "{logged}"
    );
    assert!(logged.starts_with('*'), "IOS timestamps: {logged}");
}

/// GET /metrics from inside namespace `ns`.
fn scrape(ns: &str, port: u16) -> String {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _guard = dataplane::lab::netns::enter(&ns).expect("enter netns");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        let _ = std::io::Read::read_to_string(&mut s, &mut body);
        body
    })
    .join()
    .expect("scrape thread")
}

#[test]
fn two_workers_reload_on_sighup_and_serve_metrics() {
    let Some(ns) = Netns::new("b") else {
        eprintln!("skipped: cannot create a network namespace here");
        return;
    };
    let seed = std::fs::read_to_string(SEED).unwrap();
    let cfg = TempFile::new("hup.cfg", &seed);
    let sock = PathBuf::from(format!("/tmp/mg-cli-{}-hup.sock", std::process::id()));
    let sock_s = sock.to_str().unwrap().to_string();
    let port = 19_000 + (std::process::id() % 1000) as u16;
    let metrics = format!("127.0.0.1:{port}");
    let syslog_port = port + 1000;
    let syslog = format!("127.0.0.1:{syslog_port}");
    // A syslog collector in the namespace, until it sees the shutdown line.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let collector_ns = ns.0.clone();
    let collector = std::thread::spawn(move || {
        let _guard = dataplane::lab::netns::enter(&collector_ns).expect("enter netns");
        let sock = std::net::UdpSocket::bind(("127.0.0.1", syslog_port)).expect("bind syslog");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _ = ready_tx.send(());
        let mut got = Vec::new();
        let start = Instant::now();
        let mut buf = [0u8; 2048];
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(n) = sock.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = line.contains("SHUTDOWN");
                got.push(line);
                if done {
                    break;
                }
            }
        }
        got
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("collector ready");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0, BIN, "run", "--config", cfg.path()])
        .args([
            "--map",
            "e2/0=o0",
            "--map",
            "e2/1=n0",
            "--workers",
            "2",
            "--cores",
            "0",
        ])
        .args([
            "--sessions",
            "1024",
            "--control",
            &sock_s,
            "--metrics",
            &metrics,
            "--syslog",
            &syslog,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut fw = Running(child);
    assert!(
        wait_for(&sock, Duration::from_secs(10)),
        "control socket never appeared"
    );
    let show_config =
        || text(&mailguard(&["show", "ip", "inspect", "config", "--control", &sock_s]).stdout);
    assert!(show_config().starts_with("Session audit trail is disabled\n"));
    // A good file: reloaded.
    std::fs::write(&cfg.0, format!("{seed}ip inspect audit-trail\n")).unwrap();
    let pid = fw.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    while !show_config().starts_with("Session audit trail is enabled\n") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A broken file: the running configuration stays.
    std::fs::write(&cfg.0, "interface Ethernet2/0\n ip address 10.0.0.1\n").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(400));
    assert!(show_config().starts_with("Session audit trail is enabled\n"));
    let body = scrape(&ns.0, port);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("mailguard_"), "{body}");
    let stderr = stop(&mut fw);
    assert!(
        stderr.contains("%SYS-5-CONFIG_I: Configured from"),
        "{stderr}"
    );
    assert!(stderr.contains("%SYS-3-CONFIG_FAILED"), "{stderr}");
    assert!(stderr.contains("line 2, column"), "{stderr}");
    let datagrams = collector.join().expect("collector");
    assert!(datagrams.len() >= 4, "{datagrams:?}");
    assert!(
        datagrams[0].starts_with("<189>1 "),
        "local7.notice: {datagrams:?}"
    );
    assert!(
        datagrams[0].contains(" 3640-123 mailguard - RESTART - %SYS-5-RESTART"),
        "{datagrams:?}"
    );
    assert!(
        datagrams.iter().any(|d| d.contains("%SYS-3-CONFIG_FAILED")),
        "{datagrams:?}"
    );
}

/// Runs `mailguard lab down` on drop (also when the test panics).
struct LabGuard(String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["lab", "down", "--id", &self.0])
            .output();
    }
}

#[test]
fn lab_up_runs_the_firewall_and_lab_down_removes_everything() {
    if Command::new("ip").args(["netns", "list"]).output().is_err() {
        eprintln!("skipped: no ip command");
        return;
    }
    let id = format!("c{}", std::process::id());
    let sock = format!("/tmp/mg-cli-{}-lab.sock", std::process::id());
    let guard = LabGuard(id.clone());
    let up = mailguard(&["lab", "up", "--id", &id, "--control", &sock]);
    if !up.status.success() && text(&up.stderr).contains("netns") {
        eprintln!("skipped: {}", text(&up.stderr));
        return;
    }
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(text(&up.stdout).contains(&format!("mg{id}-fw")));
    let show = mailguard(&["show", "ip", "inspect", "all", "--control", &sock]);
    assert_eq!(text(&show.stdout), SHOW_ALL);
    // A second `up` on the same socket is refused.
    let again = mailguard(&["lab", "up", "--id", "other", "--control", &sock]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already answers"),
        "{}",
        text(&again.stderr)
    );
    let down = mailguard(&["lab", "down", "--id", &id]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(
        !Path::new(&sock).exists(),
        "the firewall did not stop cleanly"
    );
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!text(&left.stdout).contains(&format!("mg{id}-")));
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("mailguard-lab-{id}.log")));
    drop(guard);
    let gone = mailguard(&["lab", "down", "--id", &id]);
    assert_eq!(gone.status.code(), Some(1));
}
