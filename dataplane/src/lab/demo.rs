//! `mailguard lab demo`: the MailGuard story on real sockets, told the way an
//! IOS engineer reads it.
//!
//! Why a scripted demo and not a test harness: the README's main command has
//! to show, on a stock Linux box, what the seed firewall does to SMTP —
//! `show ip inspect all` before traffic, a legal session through a real MTA
//! (`smtp-sink`) with a real client (`swaks`), illegal commands masked to
//! `XXXX` and refused by the server, a run-time switch to ESMTP with the EHLO
//! reply masked, reply-and-close (`555`, `554`), the `show` commands and the
//! alert lines. It checks every claim it prints, so it doubles as an
//! end-to-end acceptance run (spec `seed-scenario.md`, `smtp-inspection.md`
//! §3, §5, §10): any surprise is a [`DemoError::Unexpected`] and a non-zero
//! exit.
//!
//! Sockets, not processes, for the scripted parts: a socket stays in the
//! namespace it was created in, so the demo enters the client namespace just
//! long enough to connect, and the mail namespace just long enough to bind a
//! small recording MTA (a thread of this process) that reports every byte it
//! received. SIGINT/SIGTERM only raise a flag; every wait polls it, and the
//! [`Lab`] and firewall guards tear everything down on every path.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ifname, netns, Lab, LabError, LabKind};
use crate::control;
use crate::engine::ConfigSource;

/// Address the client talks to (the mail server's static translation).
const MAIL_GLOBAL: &str = "172.22.1.110:25";
/// Where the mail server listens (inside local).
const MAIL_LOCAL: &str = "10.10.10.2:25";
/// How long one client step may wait for a reply.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the firewall may take to answer on its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Poll period of every wait (how fast Ctrl-C is noticed).
const POLL: Duration = Duration::from_millis(50);

/// What `mailguard lab demo` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// Lab id (namespaces `mg<id>-*`).
    pub id: String,
    /// Workers of the firewall.
    pub workers: u16,
    /// `seed` or a configuration file.
    pub config: String,
    /// Control socket of the lab's firewall.
    pub control: PathBuf,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Building or using the lab failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The configuration cannot be read.
    #[error("configuration: {0}")]
    Config(String),
    /// The firewall did not start or died.
    #[error("firewall: {0}")]
    Firewall(String),
    /// A control command failed.
    #[error("`{command}` failed: {message}")]
    Control {
        /// The command line.
        command: String,
        /// The error.
        message: String,
    },
    /// A socket or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The firewall (or a server) did not behave as the seed scenario says.
    #[error("unexpected result: {0}")]
    Unexpected(String),
    /// Network namespaces need root.
    #[error("needs root (network namespaces): run it with sudo")]
    NotRoot,
    /// A program the demo runs is not installed.
    #[error("`{0}` not found: install it (scripts/install-deps.sh)")]
    MissingTool(String),
    /// SIGINT or SIGTERM arrived.
    #[error("interrupted")]
    Interrupted,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DemoError {
    let what = what.into();
    move |source| DemoError::Io { what, source }
}

fn unexpected(what: impl Into<String>) -> DemoError {
    DemoError::Unexpected(what.into())
}

/// Builds the lab, runs the firewall (`mailguard_exe run ...`) in it, plays
/// the seed scenario, prints everything to `out`, and tears down — also on
/// error and on SIGINT/SIGTERM.
pub fn run_demo(
    opts: &DemoOptions,
    mailguard_exe: &Path,
    out: &mut impl Write,
) -> Result<(), DemoError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(io_err("cannot install the signal handler"))?;
    }
    if !effective_root() {
        return Err(DemoError::NotRoot);
    }
    for tool in [SMTP_SINK, "swaks", "ip", "ethtool"] {
        if !tool_exists(tool) {
            return Err(DemoError::MissingTool(tool.to_string()));
        }
    }
    ConfigSource::from_arg(&opts.config)
        .read()
        .map_err(|e| DemoError::Config(e.to_string()))?;
    if control::request(&opts.control, "show debugging", false).is_ok() {
        return Err(DemoError::Firewall(format!(
            "a firewall already answers on {}; stop it or use --control",
            opts.control.display()
        )));
    }
    let started = Instant::now();
    let mut demo = Demo {
        opts,
        stop: &stop,
        out,
    };
    demo.say(&format!(
        "mailguard lab demo: building the seed lab {} in network namespaces",
        opts.id
    ))?;
    let mut lab = Lab::up(&opts.id, LabKind::Dataplane)?;
    let result = (|| {
        let mut fw = Firewall::start(&lab, opts, mailguard_exe, &stop)?;
        let r = demo.play(&mut lab, &fw);
        let stopped = fw.stop();
        r?;
        demo.say(&format!("\n{stopped}"))
    })();
    let down = lab.down();
    result?;
    down?;
    if stop.load(Ordering::Relaxed) {
        return Err(DemoError::Interrupted);
    }
    let left = super::leftover_namespaces(&opts.id)?;
    if !left.is_empty() {
        return Err(unexpected(format!("namespaces left: {}", left.join(" "))));
    }
    demo.say(&format!(
        "lab {} removed; demo finished in {:.1} s",
        opts.id,
        started.elapsed().as_secs_f64()
    ))
}

/// The real MTA of the legal session (Postfix's test server).
const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// Effective uid 0, from `/proc/self/status` (no `unsafe` needed).
fn effective_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `tool` is an existing path, or a file in one of `$PATH`'s directories
/// (plus the sbin directories, where `ip` lives).
fn tool_exists(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(tool).is_file())
}

/// The firewall process in the lab's firewall namespace. Dropping it stops it.
struct Firewall {
    child: Child,
    log: PathBuf,
}

impl Firewall {
    fn start(
        lab: &Lab,
        opts: &DemoOptions,
        exe: &Path,
        stop: &AtomicBool,
    ) -> Result<Firewall, DemoError> {
        let log = std::env::temp_dir().join(format!("mailguard-demo-{}.log", opts.id));
        let file = std::fs::File::create(&log).map_err(io_err(log.display().to_string()))?;
        let file2 = file
            .try_clone()
            .map_err(io_err(log.display().to_string()))?;
        let outside = format!("Ethernet2/0={}", ifname::FW_OUTSIDE);
        let inside = format!("Ethernet2/1={}", ifname::FW_INSIDE);
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.ns.fw])
            .arg(exe)
            .args(["run", "--config", &opts.config])
            .args(["--map", &outside, "--map", &inside])
            .args(["--workers", &opts.workers.to_string()])
            .arg("--control")
            .arg(&opts.control)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2)
            // Its own process group: the terminal's Ctrl-C is for the demo,
            // which then stops the firewall cleanly.
            .process_group(0)
            .spawn()
            .map_err(|e| DemoError::Firewall(format!("cannot start {}: {e}", exe.display())))?;
        let mut fw = Firewall { child, log };
        let begin = Instant::now();
        loop {
            if let Ok(Some(status)) = fw.child.try_wait() {
                return Err(DemoError::Firewall(format!(
                    "exited ({status}):\n{}",
                    fw.log_text()
                )));
            }
            if control::request(&opts.control, "show debugging", false).is_ok() {
                return Ok(fw);
            }
            if stop.load(Ordering::Relaxed) {
                return Err(DemoError::Interrupted);
            }
            if begin.elapsed() > START_TIMEOUT {
                return Err(DemoError::Firewall(format!(
                    "did not answer on {} within {} s",
                    opts.control.display(),
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, up to 5 s for a clean exit, then SIGKILL; a line saying how
    /// it ended.
    fn stop(&mut self) -> String {
        if let Ok(Some(status)) = self.child.try_wait() {
            return format!("firewall had already exited ({status})");
        }
        let pid = self.child.id().to_string();
        let _ = super::run(&["kill", "-TERM", &pid]);
        let begin = Instant::now();
        while begin.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return format!("firewall (pid {pid}) stopped: {status}");
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        format!("firewall (pid {pid}) killed after 5 s")
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One event seen by the recording MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerEvent {
    Accepted(SocketAddr),
    Received(Vec<u8>),
    Sent(Vec<u8>),
    /// The connection ended: `"FIN"` or `"RST"` (or an error text).
    Closed(String),
}

/// The EHLO reply of the recording MTA: what a modern Postfix announces.
const EHLO_REPLY: &[&str] = &[
    "250-mail.example.test",
    "250-PIPELINING",
    "250-SIZE 10240000",
    "250-STARTTLS",
    "250-8BITMIME",
    "250-CHUNKING",
    "250 SMTPUTF8",
];

/// A tiny, honest MTA: one connection at a time, reports every line.
fn recording_mta(listener: TcpListener, events: Sender<ServerEvent>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = events.send(ServerEvent::Accepted(peer));
                let end = serve(stream, &events, &stop);
                let _ = events.send(ServerEvent::Closed(end));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                let _ = events.send(ServerEvent::Closed(format!("accept failed: {e}")));
                return;
            }
        }
    }
}

fn serve(mut stream: TcpStream, events: &Sender<ServerEvent>, stop: &AtomicBool) -> String {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(POLL)).is_err() {
        return "socket setup failed".into();
    }
    let send = |stream: &mut TcpStream, lines: &[&str]| -> std::io::Result<()> {
        let mut bytes = Vec::new();
        for l in lines {
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        let _ = events.send(ServerEvent::Sent(bytes.clone()));
        stream.write_all(&bytes)
    };
    if let Err(e) = send(&mut stream, &["220 mail.example.test ESMTP demo"]) {
        return e.to_string();
    }
    let mut pending = Vec::new();
    let mut in_data = false;
    let mut buf = [0u8; 4096];
    let idle = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) || idle.elapsed() > Duration::from_secs(20) {
            return "abandoned".into();
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return "FIN".into(),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return "RST".into(),
            Err(e) => return e.to_string(),
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            let _ = events.send(ServerEvent::Received(line.clone()));
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            let reply: &[&str] = if in_data {
                if text == "." {
                    in_data = false;
                    &["250 2.0.0 Ok: queued as DEMO1"]
                } else {
                    &[]
                }
            } else {
                let verb = text
                    .split([' ', ':'])
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match verb.as_str() {
                    "HELO" => &["250 mail.example.test"],
                    "EHLO" => EHLO_REPLY,
                    "MAIL" => &["250 2.1.0 Ok"],
                    "RCPT" => &["250 2.1.5 Ok"],
                    "DATA" => {
                        in_data = true;
                        &["354 End data with <CR><LF>.<CR><LF>"]
                    }
                    "RSET" | "NOOP" => &["250 2.0.0 Ok"],
                    "QUIT" => &["221 2.0.0 Bye"],
                    _ => &["500 5.5.2 Error: command not recognized"],
                }
            };
            if !reply.is_empty() {
                if let Err(e) = send(&mut stream, reply) {
                    return e.to_string();
                }
            }
            if text.eq_ignore_ascii_case("QUIT") {
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
        }
    }
}

/// `EXPN root\r\n` → `EXPN root` (CR/LF dropped, other control bytes as `\xNN`).
fn printable(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' | b'\n' => {}
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// What the client got back for one command.
#[derive(Debug, Default)]
struct Reply {
    lines: Vec<String>,
    /// The firewall (or server) closed the connection after the reply.
    closed: bool,
}

impl Reply {
    fn code(&self) -> &str {
        self.lines.last().map_or("", |l| l.get(..3).unwrap_or(""))
    }
}

/// The scripted client's connection.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

struct Demo<'a, W: Write> {
    opts: &'a DemoOptions,
    stop: &'a AtomicBool,
    out: &'a mut W,
}

impl<W: Write> Demo<'_, W> {
    fn say(&mut self, text: &str) -> Result<(), DemoError> {
        writeln!(self.out, "{text}").map_err(io_err("writing the demo output"))?;
        self.out.flush().map_err(io_err("writing the demo output"))
    }

    fn check_stop(&self) -> Result<(), DemoError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(DemoError::Interrupted);
        }
        Ok(())
    }

    fn control(&mut self, line: &str) -> Result<String, DemoError> {
        self.check_stop()?;
        control::request(&self.opts.control, line, false).map_err(|e| DemoError::Control {
            command: line.to_string(),
            message: e.to_string(),
        })
    }

    fn show(&mut self, what: &str) -> Result<String, DemoError> {
        let line = format!("show {what}");
        let text = self.control(&line)?;
        self.say(&format!("\nRouter#{line}\n{}", text.trim_end()))?;
        Ok(text)
    }

    fn heading(&mut self, text: &str) -> Result<(), DemoError> {
        self.say(&format!("\n=== {text}"))
    }

    fn play(&mut self, lab: &mut Lab, fw: &Firewall) -> Result<(), DemoError> {
        let ns = lab.ns.clone();
        self.say(&format!(
            "  client {}  198.51.100.7 -- isp -- [Ethernet2/0 mailguard Ethernet2/1] -- mail 10.10.10.2 (static NAT {})",
            ns.client, MAIL_GLOBAL
        ))?;
        self.say(&format!(
            "  firewall: pid {} in {}, config {}, {} worker(s), control {}",
            fw.child.id(),
            ns.fw,
            self.opts.config,
            self.opts.workers,
            self.opts.control.display()
        ))?;

        self.heading("1. The inspection configuration before any traffic")?;
        let all = self.show("ip inspect all")?;
        if !all.contains("Inspection name OUT-IN") {
            return Err(unexpected("`show ip inspect all` lists no rule OUT-IN"));
        }

        self.heading(
            "2. A legal SMTP session (ip inspect name OUT-IN smtp): swaks in the client namespace -> 172.22.1.110:25, the real MTA smtp-sink on 10.10.10.2:25",
        )?;
        self.legal_session_with_smtp_sink(lab)?;

        // The recording MTA for everything that follows.
        let listener = {
            let _inside = netns::enter(&ns.mail)?;
            TcpListener::bind(MAIL_LOCAL).map_err(io_err(format!("bind {MAIL_LOCAL}")))?
        };
        listener
            .set_nonblocking(true)
            .map_err(io_err("listener setup"))?;
        let (tx, rx) = mpsc::channel();
        let server_stop = Arc::new(AtomicBool::new(false));
        std::thread::scope(|scope| {
            let flag = Arc::clone(&server_stop);
            scope.spawn(move || recording_mta(listener, tx, flag));
            let r = self.scripted_sessions(&ns.client, &rx, fw);
            server_stop.store(true, Ordering::Relaxed);
            r
        })?;

        self.heading("6. The firewall's view at the end")?;
        self.show("ip inspect session")?;
        let stats = self.show("ip inspect statistics")?;
        if stats.trim().is_empty() {
            return Err(unexpected("`show ip inspect statistics` printed nothing"));
        }
        let nat = self.show("ip nat translations")?;
        if !nat.contains("172.22.1.110") {
            return Err(unexpected("no static translation 172.22.1.110 shown"));
        }
        self.show("access-lists")?;

        self.say("\n=== The firewall's log (alerts and system messages)")?;
        for line in fw.log_text().lines().filter(|l| l.starts_with('*')) {
            self.say(line)?;
        }
        Ok(())
    }

    fn legal_session_with_smtp_sink(&mut self, lab: &mut Lab) -> Result<(), DemoError> {
        let ns = lab.ns.clone();
        let sink = lab.spawn(
            &ns.mail,
            &[SMTP_SINK, "-u", "nobody", "-c", MAIL_LOCAL, "16"],
        )?;
        // smtp-sink is ready when 10.10.10.2:25 answers inside.
        let begin = Instant::now();
        loop {
            let up = {
                let _inside = netns::enter(&ns.mail)?;
                TcpStream::connect_timeout(&MAIL_LOCAL.parse().expect("literal"), POLL).is_ok()
            };
            if up {
                break;
            }
            if let Ok(Some(status)) = sink.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = sink.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(unexpected(format!(
                    "smtp-sink exited ({status}): {}",
                    err.trim()
                )));
            }
            self.check_stop()?;
            if begin.elapsed() > STEP_TIMEOUT {
                return Err(unexpected("smtp-sink did not start listening"));
            }
            std::thread::sleep(POLL);
        }
        let sink_pid = sink.id().to_string();
        let swaks = lab.spawn(
            &ns.client,
            &[
                "swaks",
                "--protocol",
                "SMTP",
                "--server",
                MAIL_GLOBAL,
                "--helo",
                "client.example.org",
                "--from",
                "alice@example.org",
                "--to",
                "bob@example.test",
                "--header",
                "Subject: MailGuard demo",
                "--body",
                "Hello through mailguard.",
                "--timeout",
                "5",
            ],
        )?;
        let begin = Instant::now();
        let status = loop {
            // Ctrl-C also reaches swaks (same process group): stop first.
            self.check_stop()?;
            if let Ok(Some(status)) = swaks.try_wait() {
                break status;
            }
            if begin.elapsed() > Duration::from_secs(15) {
                return Err(unexpected("swaks did not finish within 15 s"));
            }
            std::thread::sleep(POLL);
        };
        let mut transcript = String::new();
        if let Some(mut o) = swaks.stdout.take() {
            let _ = o.read_to_string(&mut transcript);
        }
        if let Some(mut e) = swaks.stderr.take() {
            let _ = e.read_to_string(&mut transcript);
        }
        self.say("client (swaks) transcript, -> sent, <- received:")?;
        for l in transcript.lines() {
            self.say(&format!("  {l}"))?;
        }
        if !status.success() || !transcript.contains("<-  250") || !transcript.contains("221") {
            return Err(unexpected(format!(
                "the legal SMTP session through the firewall failed (swaks: {status})"
            )));
        }
        self.say("=> the message was accepted by smtp-sink: a legal session passes untouched")?;
        // Free port 25 for the recording MTA.
        let _ = super::run(&["kill", "-TERM", &sink_pid]);
        let begin = Instant::now();
        while begin.elapsed() < STEP_TIMEOUT {
            let busy = {
                let _inside = netns::enter(&ns.mail)?;
                TcpStream::connect_timeout(&MAIL_LOCAL.parse().expect("literal"), POLL).is_ok()
            };
            if !busy {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        Err(unexpected("smtp-sink did not stop"))
    }

    fn scripted_sessions(
        &mut self,
        client_ns: &str,
        rx: &Receiver<ServerEvent>,
        fw: &Firewall,
    ) -> Result<(), DemoError> {
        self.heading(
            "3. Illegal commands in SMTP mode: masked to X's by the firewall, refused 5xx by the server",
        )?;
        self.say(
            "   (server = a recording MTA on 10.10.10.2:25 that prints every line it receives)",
        )?;
        let mut c = self.connect(client_ns, rx)?;
        self.step(&mut c, rx, "HELO client.example.org")?;
        let r = self.step(&mut c, rx, "EXPN root")?;
        self.expect_masked(&r, "EXPN root")?;
        let r = self.step(&mut c, rx, "EHLO client.example.org")?;
        self.expect_masked(&r, "EHLO client.example.org")?;
        self.step(&mut c, rx, "QUIT")?;
        self.finish(c, rx)?;
        self.expect_log(fw, "%FW-3-SMTP_INVALID_COMMAND", 2)?;

        self.heading("4. Switching the inspection rule to ESMTP at run time")?;
        for line in [
            "no ip inspect name OUT-IN smtp",
            "ip inspect name OUT-IN esmtp",
        ] {
            let reply = self.control(&format!("configure {line}"))?;
            self.say(&format!("Router(config)#{line}"))?;
            if !reply.trim().is_empty() {
                self.say(reply.trim_end())?;
            }
        }
        let all = self.control("show ip inspect all")?;
        if let Some(l) = all.lines().find(|l| l.contains("esmtp")) {
            self.say(&format!("Router#show ip inspect all | include esmtp\n{l}"))?;
        }
        self.say(
            "An ESMTP session: the server's EHLO reply as sent and as the client received it",
        )?;
        let mut c = self.connect(client_ns, rx)?;
        c_send(&mut c, "EHLO client.example.org", self.stop)?;
        let reply = c_reply(&mut c, self.stop, false)?;
        let server = self.drain(rx, Duration::from_millis(200));
        self.say("  server sent:                      client received:")?;
        let sent: Vec<String> = server
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Sent(b) => Some(b),
                _ => None,
            })
            .flat_map(|b| b.split(|c| *c == b'\n').filter(|l| !l.is_empty()))
            .map(printable)
            .collect();
        for i in 0..sent.len().max(reply.lines.len()) {
            self.say(&format!(
                "  {:<32} {}",
                sent.get(i).map_or("", String::as_str),
                reply.lines.get(i).map_or("", String::as_str)
            ))?;
        }
        let masked = ["STARTTLS", "CHUNKING", "SMTPUTF8"];
        for kw in masked {
            if reply.lines.iter().any(|l| l.contains(kw)) {
                return Err(unexpected(format!(
                    "{kw} reached the client in the EHLO reply"
                )));
            }
        }
        if !reply.lines.iter().any(|l| l.contains("XXXX")) || reply.code() != "250" {
            return Err(unexpected("the EHLO reply was not masked"));
        }
        self.say(
            "=> unsupported ESMTP keywords (STARTTLS, CHUNKING, SMTPUTF8) reach the client as XXXX",
        )?;
        self.step(&mut c, rx, "MAIL FROM:<alice@example.org> SIZE=120")?;
        self.step(&mut c, rx, "RCPT TO:<bob@example.test>")?;
        self.step(&mut c, rx, "DATA")?;
        c_send(
            &mut c,
            "Subject: ESMTP through mailguard\r\n\r\nHello.\r\n.",
            self.stop,
        )?;
        self.say("  C: Subject: ESMTP through mailguard / Hello. / .")?;
        let r = c_reply(&mut c, self.stop, false)?;
        let events = self.drain(rx, Duration::from_millis(20));
        self.print_server(&events)?;
        self.print_reply(&r)?;
        if r.code() != "250" {
            return Err(unexpected("the ESMTP message was not accepted"));
        }
        self.step(&mut c, rx, "QUIT")?;
        self.finish(c, rx)?;

        self.heading("5. Reply-and-close: the firewall answers for the server and closes")?;
        self.say("a) an unsupported MAIL parameter (SMTPUTF8)")?;
        let mut c = self.connect(client_ns, rx)?;
        self.step(&mut c, rx, "EHLO client.example.org")?;
        self.expect_closed(
            c,
            rx,
            "MAIL FROM:<a@example.org> SMTPUTF8",
            "555 Unsupported parameter",
        )?;
        self.expect_log(fw, "%FW-3-SMTP_INVALID_PARAMETER", 1)?;
        self.say("b) the Sendmail pipe-to-program signature in RCPT TO")?;
        let mut c = self.connect(client_ns, rx)?;
        self.step(&mut c, rx, "EHLO client.example.org")?;
        self.step(&mut c, rx, "MAIL FROM:<a@example.org>")?;
        self.expect_closed(
            c,
            rx,
            "RCPT TO:<|/usr/bin/id@example.test>",
            "554 Transaction failed",
        )?;
        self.expect_log(fw, "%FW-4-TCP_SENDMAIL_BAD_TO_SIG", 1)?;
        Ok(())
    }

    /// Enter the client namespace, connect to the mail server's global
    /// address, print the greeting.
    fn connect(
        &mut self,
        client_ns: &str,
        rx: &Receiver<ServerEvent>,
    ) -> Result<Client, DemoError> {
        self.check_stop()?;
        let stream = {
            let _inside = netns::enter(client_ns)?;
            TcpStream::connect_timeout(&MAIL_GLOBAL.parse().expect("literal"), STEP_TIMEOUT)
                .map_err(io_err(format!("connect to {MAIL_GLOBAL}")))?
        };
        let local = stream
            .local_addr()
            .map_err(io_err("client socket address"))?;
        stream
            .set_read_timeout(Some(POLL))
            .map_err(io_err("client socket setup"))?;
        let mut c = Client {
            stream,
            pending: Vec::new(),
        };
        self.say(&format!("  client {local} -> {MAIL_GLOBAL}"))?;
        let greeting = c_reply(&mut c, self.stop, false)?;
        let events = self.drain(rx, Duration::from_millis(100));
        for e in &events {
            if let ServerEvent::Accepted(peer) = e {
                self.say(&format!("  server 10.10.10.2:25 accepted from {peer}"))?;
            }
        }
        self.print_reply(&greeting)?;
        if greeting.code() != "220" {
            return Err(unexpected("no 220 greeting through the firewall"));
        }
        Ok(c)
    }

    /// Collect server events for up to `wait` (at least what is queued).
    fn drain(&self, rx: &Receiver<ServerEvent>, wait: Duration) -> Vec<ServerEvent> {
        let mut v: Vec<ServerEvent> = rx.try_iter().collect();
        let end = Instant::now() + wait;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(e) => v.push(e),
                Err(_) => break,
            }
        }
        v
    }

    fn print_reply(&mut self, r: &Reply) -> Result<(), DemoError> {
        for l in &r.lines {
            self.say(&format!("  C received: {l}"))?;
        }
        if r.closed {
            self.say("  C: connection closed (FIN from the firewall)")?;
        }
        Ok(())
    }

    /// Send one command, print client and server sides, return the reply.
    fn step(
        &mut self,
        c: &mut Client,
        rx: &Receiver<ServerEvent>,
        line: &str,
    ) -> Result<(Reply, Vec<ServerEvent>), DemoError> {
        self.say(&format!("  C sent:     {line}"))?;
        c_send(c, line, self.stop)?;
        let reply = c_reply(c, self.stop, false)?;
        let events = self.drain(rx, Duration::from_millis(20));
        self.print_server(&events)?;
        self.print_reply(&reply)?;
        Ok((reply, events))
    }

    fn print_server(&mut self, events: &[ServerEvent]) -> Result<(), DemoError> {
        for e in events {
            match e {
                ServerEvent::Received(b) => {
                    self.say(&format!("  S received: {}", printable(b)))?;
                }
                ServerEvent::Sent(b) => {
                    for l in b.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                        self.say(&format!("  S replied:  {}", printable(l)))?;
                    }
                }
                ServerEvent::Closed(how) => {
                    self.say(&format!("  S: connection ended ({how})"))?;
                }
                ServerEvent::Accepted(peer) => {
                    self.say(&format!("  S: accepted from {peer}"))?;
                }
            }
        }
        Ok(())
    }

    /// The server must have received `original` as X's (same length) and
    /// the client a 5xx.
    fn expect_masked(
        &mut self,
        (reply, events): &(Reply, Vec<ServerEvent>),
        original: &str,
    ) -> Result<(), DemoError> {
        let mut masked = "X".repeat(original.len()).into_bytes();
        masked.extend_from_slice(b"\r\n");
        if !events.contains(&ServerEvent::Received(masked)) {
            return Err(unexpected(format!(
                "`{original}` did not reach the server as {} X's",
                original.len()
            )));
        }
        if !reply.code().starts_with('5') {
            return Err(unexpected(format!(
                "`{original}`: the client got {:?}, not a 5xx",
                reply.lines
            )));
        }
        self.say(&format!(
            "=> `{original}` reached the server as {} and was refused",
            "X".repeat(original.len())
        ))
    }

    /// Send `line`; the client must get `expect` then FIN, the server a RST.
    fn expect_closed(
        &mut self,
        mut c: Client,
        rx: &Receiver<ServerEvent>,
        line: &str,
        expect: &str,
    ) -> Result<(), DemoError> {
        self.say(&format!("  C sent:     {line}"))?;
        c_send(&mut c, line, self.stop)?;
        let reply = c_reply(&mut c, self.stop, true)?;
        // Like a real MTA, the client closes its side on the FIN.
        drop(c);
        let mut events = self.drain(rx, Duration::from_millis(50));
        let begin = Instant::now();
        while !events.iter().any(|e| matches!(e, ServerEvent::Closed(_)))
            && begin.elapsed() < STEP_TIMEOUT
        {
            self.check_stop()?;
            events.extend(self.drain(rx, POLL));
        }
        self.print_server(&events)?;
        self.print_reply(&reply)?;
        if reply.lines.last().map(String::as_str) != Some(expect) || !reply.closed {
            return Err(unexpected(format!(
                "`{line}`: expected `{expect}` and a close, the client got {:?} (closed: {})",
                reply.lines, reply.closed
            )));
        }
        if events
            .iter()
            .any(|e| matches!(e, ServerEvent::Received(b) if printable(b) == line))
        {
            return Err(unexpected(format!("`{line}` reached the server")));
        }
        let server_end = events.iter().find_map(|e| match e {
            ServerEvent::Closed(how) => Some(how.as_str()),
            _ => None,
        });
        if server_end != Some("RST") {
            return Err(unexpected(format!(
                "the server's side ended with {server_end:?}, not a RST"
            )));
        }
        self.say(&format!(
            "=> the firewall answered `{expect}` itself, closed the client side (FIN) and reset the server (RST)"
        ))
    }

    fn finish(&mut self, c: Client, rx: &Receiver<ServerEvent>) -> Result<(), DemoError> {
        drop(c);
        let mut events = Vec::new();
        let begin = Instant::now();
        while !events.iter().any(|e| matches!(e, ServerEvent::Closed(_)))
            && begin.elapsed() < STEP_TIMEOUT
        {
            self.check_stop()?;
            events.extend(self.drain(rx, POLL));
        }
        self.print_server(&events)
    }

    /// Wait (up to 3 s) until the firewall's log holds `count` lines with `tag`.
    fn expect_log(&mut self, fw: &Firewall, tag: &str, count: usize) -> Result<(), DemoError> {
        let begin = Instant::now();
        loop {
            let text = fw.log_text();
            let lines: Vec<&str> = text.lines().filter(|l| l.contains(tag)).collect();
            if lines.len() >= count {
                self.say("  firewall log:")?;
                for l in lines {
                    self.say(&format!("  {l}"))?;
                }
                return Ok(());
            }
            self.check_stop()?;
            if begin.elapsed() > Duration::from_secs(3) {
                return Err(unexpected(format!(
                    "{count} `{tag}` line(s) expected in the firewall log, found {}",
                    lines.len()
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

fn c_send(c: &mut Client, line: &str, stop: &AtomicBool) -> Result<(), DemoError> {
    if stop.load(Ordering::Relaxed) {
        return Err(DemoError::Interrupted);
    }
    let mut bytes = line.as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    c.stream
        .write_all(&bytes)
        .map_err(io_err(format!("client send `{line}`")))
}

/// Read one complete reply (multi-line until `ddd `); with `until_close`,
/// also wait for the end of the connection.
fn c_reply(c: &mut Client, stop: &AtomicBool, until_close: bool) -> Result<Reply, DemoError> {
    let mut reply = Reply::default();
    let begin = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(pos) = c.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = c.pending.drain(..=pos).collect();
            let text = printable(&line);
            let last = text.as_bytes().get(3) != Some(&b'-');
            reply.lines.push(text);
            if last && !until_close {
                return Ok(reply);
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Err(DemoError::Interrupted);
        }
        if begin.elapsed() > STEP_TIMEOUT {
            return Err(unexpected(format!(
                "no complete reply within {} s (got {:?})",
                STEP_TIMEOUT.as_secs(),
                reply.lines
            )));
        }
        match c.stream.read(&mut buf) {
            Ok(0) => {
                reply.closed = true;
                if !c.pending.is_empty() {
                    reply.lines.push(printable(&c.pending));
                    c.pending.clear();
                }
                if reply.lines.is_empty() && !until_close {
                    return Err(unexpected("the connection closed without a reply"));
                }
                return Ok(reply);
            }
            Ok(n) => c.pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(io_err("client receive")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_drops_line_ends_and_escapes_controls() {
        assert_eq!(printable(b"EXPN root\r\n"), "EXPN root");
        assert_eq!(printable(b"HE\0LO\r\n"), "HE\\x00LO");
        assert_eq!(printable(b"\xff"), "\\xff");
    }

    #[test]
    fn tools_are_found_on_the_path_or_by_absolute_name() {
        assert!(tool_exists("sh"));
        assert!(tool_exists("/bin/sh"));
        assert!(!tool_exists("mailguard-no-such-tool"));
        assert!(!tool_exists("/nonexistent/tool"));
    }

    #[test]
    fn reply_code_is_the_last_line() {
        let r = Reply {
            lines: vec!["250-a".into(), "250 b".into()],
            closed: false,
        };
        assert_eq!(r.code(), "250");
        assert_eq!(Reply::default().code(), "");
    }

    #[test]
    fn client_reads_multiline_replies_and_the_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"250-one\r\n250 two\r\n555 Unsupported parameter\r\n")
                .unwrap();
        });
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(POLL)).unwrap();
        let mut c = Client {
            stream,
            pending: Vec::new(),
        };
        let stop = AtomicBool::new(false);
        let r = c_reply(&mut c, &stop, false).unwrap();
        assert_eq!(r.lines, ["250-one", "250 two"]);
        assert!(!r.closed);
        server.join().unwrap();
        let r = c_reply(&mut c, &stop, true).unwrap();
        assert_eq!(r.lines, ["555 Unsupported parameter"]);
        assert!(r.closed);
    }

    #[test]
    fn recording_mta_reports_lines_and_refuses_unknown_verbs() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let t = std::thread::spawn(move || recording_mta(listener, tx, flag));
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(POLL)).unwrap();
        let mut c = Client {
            stream,
            pending: Vec::new(),
        };
        let never = AtomicBool::new(false);
        assert_eq!(c_reply(&mut c, &never, false).unwrap().code(), "220");
        c_send(&mut c, "XXXXXXXXX", &never).unwrap();
        assert_eq!(c_reply(&mut c, &never, false).unwrap().code(), "500");
        c_send(&mut c, "EHLO x", &never).unwrap();
        let r = c_reply(&mut c, &never, false).unwrap();
        assert_eq!(r.lines.len(), EHLO_REPLY.len());
        c_send(&mut c, "QUIT", &never).unwrap();
        let r = c_reply(&mut c, &never, true).unwrap();
        assert!(r.closed && r.code() == "221");
        drop(c);
        let mut seen = Vec::new();
        while !seen.iter().any(|e| matches!(e, ServerEvent::Closed(_))) {
            seen.push(rx.recv_timeout(STEP_TIMEOUT).unwrap());
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        assert!(seen.contains(&ServerEvent::Received(b"XXXXXXXXX\r\n".to_vec())));
        assert!(seen.contains(&ServerEvent::Sent(
            b"500 5.5.2 Error: command not recognized\r\n".to_vec()
        )));
        assert_eq!(seen.last(), Some(&ServerEvent::Closed("FIN".into())));
    }
}
