//! `mailguard lab demo` end to end: the README's main command must build the
//! seed lab, tell the whole MailGuard story (masking, 5xx, reply-and-close,
//! alerts, `show` output), exit 0 and leave no namespace or process behind —
//! also when interrupted with SIGINT half-way.
//!
//! Needs root (network namespaces); skipped with a message otherwise.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_mailguard");

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// A unique lab id and control socket for one test.
fn ids(tag: &str) -> (String, String) {
    let id = format!("d{tag}{}", std::process::id());
    let sock = format!("/tmp/mailguard-demo-test-{id}.sock");
    (id, sock)
}

fn start(id: &str, sock: &str) -> Child {
    Command::new(EXE)
        .args(["lab", "demo", "--id", id, "--control", sock])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailguard lab demo")
}

/// Waits at most `limit`; a demo that hangs is killed and fails the test.
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let begin = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if begin.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "demo still running after {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("wait")
}

/// Nothing of lab `id` survives: no namespace, no process using its socket.
fn assert_nothing_left(id: &str, sock: &str) {
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let list = String::from_utf8_lossy(&list.stdout);
    let prefix = format!("mg{id}-");
    assert!(
        !list.lines().any(|l| l.starts_with(&prefix)),
        "namespaces left behind:\n{list}"
    );
    let pg = Command::new("pgrep")
        .args(["-f", sock])
        .output()
        .expect("pgrep");
    assert!(
        !pg.status.success(),
        "processes left behind: {}",
        String::from_utf8_lossy(&pg.stdout)
    );
    assert!(
        !std::path::Path::new(sock).exists(),
        "control socket {sock} left behind"
    );
}

#[test]
fn lab_demo_tells_the_mailguard_story_and_cleans_up() {
    if !is_root() {
        eprintln!("skipped: `mailguard lab demo` needs root (network namespaces)");
        return;
    }
    let (id, sock) = ids("a");
    let out = wait_bounded(start(&id, &sock), Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {}:\n{stdout}\n{stderr}",
        out.status
    );
    for needle in [
        "Router#show ip inspect all",
        "Inspection name OUT-IN",
        "<-  250 2.0.0 Ok",
        "S received: XXXXXXXXX\n",
        "C received: 500 ",
        "S received: XXXXXXXXXXXXXXXXXXXXXXX\n",
        "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN)",
        "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EHLO)",
        "Router(config)#ip inspect name OUT-IN esmtp",
        "250-STARTTLS                     250-XXXXXXXX",
        "C received: 555 Unsupported parameter",
        "%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (SMTPUTF8)",
        "S: connection ended (RST)",
        "C received: 554 Transaction failed",
        "%FW-4-TCP_SENDMAIL_BAD_TO_SIG",
        "Router#show ip inspect session",
        "Router#show ip inspect statistics",
        "Router#show ip nat translations",
        "172.22.1.110       10.10.10.2",
        "Router#show access-lists",
        "permit tcp any host 172.22.1.110 eq smtp",
        "%SYS-5-RESTART",
        "removed; demo finished",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // The illegal command never reaches the server in clear.
    assert!(!stdout.contains("S received: EXPN"), "{stdout}");
    assert_nothing_left(&id, &sock);
}

#[test]
fn lab_demo_interrupted_tears_everything_down() {
    if !is_root() {
        eprintln!("skipped: `mailguard lab demo` needs root (network namespaces)");
        return;
    }
    let (id, sock) = ids("b");
    let mut child = start(&id, &sock);
    // Interrupt once the firewall is running and traffic has started.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).expect("read demo output") > 0 {
        seen.push_str(&line);
        let reached = line.starts_with("=== 2.");
        line.clear();
        if reached {
            break;
        }
    }
    assert!(
        seen.contains("=== 2."),
        "the demo never got to traffic:\n{seen}"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let mut rest = String::new();
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut rest);
        rest
    });
    let out = wait_bounded(child, Duration::from_secs(30));
    let _ = reader.join();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an interrupted demo must fail");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_nothing_left(&id, &sock);
}
