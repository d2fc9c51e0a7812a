//! The real `mailguard` binary in the seed lab (network namespaces), with
//! real traffic: ping, a real HTTP exchange, and real SMTP clients (swaks,
//! Python's smtplib) against a recording server and postfix's smtp-sink.
//! Acceptance cases A2, A3, B1–B3, B5, B8 and D2/D3/D8/D10 on the wire, with
//! one and with two workers.
//!
//! Skipped (with a message) when not root or when the binary is not built;
//! `scripts/test.sh` builds it and CI runs as root.

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use mailguard_tests::mail_server::{DataReply, MailServer};
use mailguard_tests::netlab::{can_run, FirewallLab};
use mailguard_tests::netns;

/// Namespace tests share the machine's two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SHOW_ALL: &str = include_str!("../../fixtures/show-ip-inspect-all.txt");

fn skip() -> bool {
    if !can_run() {
        eprintln!("skipped: needs root and a built mailguard binary (scripts/test.sh builds it)");
        return true;
    }
    false
}

fn recording_server(fw: &FirewallLab) -> MailServer {
    let listener = netns::run_in(&fw.lab.ns.mail, || TcpListener::bind("10.10.10.2:25"))
        .expect("bind in mail ns");
    MailServer::start(listener, DataReply::Accept).expect("server")
}

fn swaks(fw: &FirewallLab, extra: &[&str]) -> (bool, String) {
    let mut cmd = vec![
        "timeout",
        "30",
        "swaks",
        "--to",
        "bob@example.test",
        "--from",
        "alice@example.org",
        "--server",
        "172.22.1.110",
        "--helo",
        "client.example.net",
        "--timeout",
        "10",
    ];
    cmd.extend_from_slice(extra);
    fw.run(&fw.lab.ns.client, &cmd)
}

fn seed_lab_end_to_end(workers: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fw = FirewallLab::start(workers, &[]);
    // A2: show output byte for byte, no sessions yet.
    assert_eq!(fw.cmd("show ip inspect all"), SHOW_ALL);
    assert_eq!(
        fw.cmd("show ip nat translations"),
        "Pro Inside global      Inside local       Outside local      Outside global\n\
         --- 172.22.1.110       10.10.10.2         ---                ---\n\
         --- 172.22.1.111       10.10.10.5         ---                ---\n"
    );
    // B5 on the wire: inside ping out (session + return traffic), the
    // router's own inside address answers, outside pings are denied by 101.
    let (ok, out) = fw.run(
        &fw.lab.ns.host5,
        &["ping", "-c", "2", "-W", "2", "203.0.113.9"],
    );
    assert!(ok, "host5 → 203.0.113.9: {out}");
    let (ok, out) = fw.run(
        &fw.lab.ns.host5,
        &["ping", "-c", "1", "-W", "2", "10.10.10.1"],
    );
    assert!(ok, "host5 → 10.10.10.1: {out}");
    let (ok, _) = fw.run(
        &fw.lab.ns.client,
        &["ping", "-c", "1", "-W", "1", "172.22.1.110"],
    );
    assert!(!ok, "ICMP to the mail server is not permitted by list 101");
    let sessions = fw.cmd("show ip inspect session");
    assert!(
        sessions.contains("(10.10.10.5:0)=>(203.0.113.9:0) icmp SIS_OPEN"),
        "{sessions}"
    );

    // D3 with a real client: EHLO masked in SMTP mode, swaks falls back to
    // HELO and delivers (B1, B8: the isp resolves the NAT alias by ARP).
    let server = recording_server(&fw);
    let (ok, out) = swaks(&fw, &[]);
    assert!(ok, "swaks: {out}");
    assert!(
        out.contains("500 5.5.2 Error: command not recognized"),
        "{out}"
    );
    let recs = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1);
    let got = String::from_utf8_lossy(&recs[0].received).into_owned();
    assert!(
        got.starts_with(&format!(
            "{}\r\nHELO client.example.net\r\n",
            "X".repeat(23)
        )),
        "{got:?}"
    );
    assert_eq!(recs[0].messages.len(), 1, "one message delivered");
    assert_eq!(
        recs[0].peer.map(|p| p.ip().to_string()),
        Some("198.51.100.7".to_string()),
        "NAT keeps the client address"
    );
    let log = fw.wait_log("SMTP_INVALID_COMMAND", Duration::from_secs(5));
    assert!(log.contains("%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EHLO) (total 25 chars) from initiator (198.51.100.7:"), "{log}");
    // Only the SYN met list 101.
    let acl = fw.cmd("show access-lists");
    assert!(
        acl.contains("10 permit tcp any host 172.22.1.110 eq smtp (1 match)"),
        "{acl}"
    );

    // A3 step 2 at run time, then D8 with a real client: the EHLO reply's
    // unsupported keywords arrive masked.
    assert!(fw
        .cmd_result("configure ip inspect name OUT-IN esmtp")
        .unwrap_or_else(|e| e)
        .contains("cannot coexist"));
    fw.cmd("configure no ip inspect name OUT-IN smtp");
    fw.cmd("configure ip inspect name OUT-IN esmtp");
    assert!(fw
        .cmd("show ip inspect name OUT-IN")
        .contains("    esmtp max-data 20000000 alert is on audit-trail is off timeout 3600"));
    let (ok, out) = swaks(&fw, &["--pipeline"]);
    assert!(ok, "swaks esmtp: {out}");
    for masked in [
        "250-XXXX\r",
        "250-XXXXXXXX\r",
        "250-XXXXXXXXXXXXXXXX\r",
        "250 XXXXXXXX\r",
    ] {
        assert!(
            out.contains(masked.trim_end_matches('\r')),
            "{masked} in {out}"
        );
    }
    assert!(
        out.contains("250-PIPELINING") && out.contains("250-SIZE 10240000"),
        "{out}"
    );
    let recs = server.wait_for(2, Duration::from_secs(10));
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].messages.len(), 1);

    // D10 with Python's smtplib: an unsupported MAIL parameter is answered
    // 555 and the connection is closed by the firewall (no RST to the client).
    let script = r#"
import smtplib, sys
s = smtplib.SMTP('172.22.1.110', 25, timeout=10)
s.ehlo('client.example.net')
code, msg = s.docmd('MAIL FROM:<alice@example.org> SMTPUTF8')
print(code, msg.decode())
try:
    s.noop()
    print('still open')
except smtplib.SMTPServerDisconnected:
    print('closed')
"#;
    let (ok, out) = fw.run(
        &fw.lab.ns.client,
        &["timeout", "30", "python3", "-c", script],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("555 Unsupported parameter") && out.contains("closed"),
        "{out}"
    );
    let log = fw.wait_log("SMTP_INVALID_PARAMETER", Duration::from_secs(5));
    assert!(log.contains("%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (SMTPUTF8) from initiator (198.51.100.7:"), "{log}");
    let recs = server.wait_for(3, Duration::from_secs(10));
    assert!(
        !String::from_utf8_lossy(&recs[2].received).contains("SMTPUTF8"),
        "the offending line never reaches the server"
    );
    let stats = fw.cmd("show ip inspect statistics");
    assert!(stats.contains("reply-and-close 1"), "{stats}");
}

#[test]
fn seed_lab_end_to_end_one_worker() {
    if skip() {
        return;
    }
    seed_lab_end_to_end(1);
}

#[test]
fn seed_lab_end_to_end_two_workers() {
    if skip() {
        return;
    }
    seed_lab_end_to_end(2);
}

/// B3 with real sockets: an inside client fetches a page from the outside
/// web server through a session; list 101 lets the return traffic in.
/// Then delivery to postfix's smtp-sink through the firewall.
#[test]
fn outbound_http_and_smtp_sink_delivery() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut fw = FirewallLab::start(1, &["ip inspect audit-trail"]);
    let web = fw.dir().join("www");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "hello from 203.0.113.9\n").unwrap();
    let web_s = web.to_string_lossy().into_owned();
    let client_ns = fw.lab.ns.client.clone();
    fw.spawn(
        &client_ns,
        &[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            "203.0.113.9",
            "--directory",
            &web_s,
        ],
    );
    let fetch = r#"
import urllib.request, time
for i in range(50):
    try:
        print(urllib.request.urlopen('http://203.0.113.9/index.html', timeout=5).read().decode(), end='')
        break
    except Exception as e:
        time.sleep(0.2)
"#;
    let host5 = fw.lab.ns.host5.clone();
    let (ok, out) = fw.run(&host5, &["timeout", "30", "python3", "-c", fetch]);
    assert!(ok && out.contains("hello from 203.0.113.9"), "{out}");
    let log = fw.wait_log(
        "http session initiator (10.10.10.5:",
        Duration::from_secs(8),
    );
    assert!(
        log.contains("%FW-6-SESS_AUDIT_TRAIL: http session initiator (10.10.10.5:"),
        "{log}"
    );

    // smtp-sink (postfix) as the mail server.
    let sink = ["/usr/sbin/smtp-sink", "-u", "root", "10.10.10.2:25", "64"];
    let mail_ns = fw.lab.ns.mail.clone();
    fw.spawn(&mail_ns, &sink);
    std::thread::sleep(Duration::from_millis(300));
    let (ok, out) = swaks(&fw, &["--body", "hello through mailguard"]);
    assert!(ok, "swaks → smtp-sink: {out}");
    assert!(out.contains("250 2.0.0 Ok"), "{out}");
}
