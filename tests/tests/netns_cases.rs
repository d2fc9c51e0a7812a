//! Acceptance cases of `seed-scenario.md` §5 on the REAL `mailguard` binary in
//! the seed lab (network namespaces), with real traffic, each with one and
//! with two workers: A1–A3 (configuration and show, with the annotated seed
//! copy), B4 (UDP and DNS timeout), B6 (SYN wait), B7 (FIN, finwait, audit
//! trail), B9 (ICMP error of a UDP session, translated), B10 (rule timeout)
//! and the half-open protections C1 (max-incomplete), C2 (one-minute rate,
//! with its control run), C3 (per-host limit, block-time 0) and C4 (per-host
//! limit with block-time). The figures of the log lines and of `show` are
//! compared exactly as the specification gives them. With two workers the
//! half-open thresholds are global: the flows spread over both workers and
//! the figures must not change.
//!
//! Real time instead of the specification's virtual clock, kept short with
//! the configuration's own timeout commands where its values take minutes
//! (each case says what it changed; the behaviour under test is the same):
//! * B4: `ip inspect udp idle-time 6` (spec 30 s; replies at +3 s and +7 s
//!   pass, one after the session expired is dropped); `dns-timeout` keeps
//!   its default 5 s.
//! * B6: `ip inspect tcp synwait-time 8` (spec 30 s).
//! * B10: `ip inspect name OUT-IN smtp timeout 6` (spec 20 s).
//! * C4: `block-time 1` (spec 2 minutes; the show line and the BLOCK_HOST
//!   line say "1 minute"), the SYN during the block at +30 s, after it at
//!   the UNBLOCK line.
//! * B7, C1–C3 run on defaults. C1's ALERT_OFF and C2's alarms depend on the
//!   real one-minute sampling period (60 s from the firewall's start), so
//!   those cases and C4 run at the same time, each on its own lab, in
//!   [`a0_sampling_period_cases_run_concurrently`] (named to start first).
//!   The other cases run their one- and two-worker labs at the same time
//!   too, so the file takes about two minutes with the harness's default
//!   two test threads. `NETNS_CASES_ONLY=c4` narrows the `a0` test.
//!
//! With two workers, "the oldest half-open session" is the first one the
//! shared registry registered, i.e. the first processed, which for packets
//! sent a millisecond apart to two busy workers need not be the first sent:
//! the cases that name the deleted session (C1: 40001, C3: 41000/41001)
//! send those first packets one at a time and wait until they were
//! forwarded before the burst.
//!
//! Timer bounds: a timer never fires early, so "gone" is checked against a
//! lower bound measured from the last packet the test itself sent or saw
//! (minus 0.5 s for clock reads), with generous upper bounds for a loaded
//! machine. Every wait polls with a deadline.
//!
//! Traffic: real sockets in the namespaces (std UDP/TCP; a chosen client
//! port through [`FirewallLab::connect_from_port`]), raw SYN frames from
//! `loadgen`'s flood template on the client's interface, a forged SYN-ACK
//! built with etherparse, and nftables inside one lab namespace to drop
//! SYNs silently (mail server) or UDP to the discard port (client), and to
//! count what the firewall forwarded.
//!
//! Skipped (with a message) when not root or when the binary is not built
//! (`cargo build -p dataplane --bins`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::synframe::{checksum, SynTemplate, FRAME_LEN};
use loadgen::sys::packet::{self, PacketSocket};
use mailguard_tests::mail_server::{DataReply, MailServer};
use mailguard_tests::netlab::{can_run, mailguard_bin, poll_until, FirewallLab, SessionLine};
use mailguard_tests::netns;

/// SMTP client C.
const C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// Second client address (C4).
const C2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);
/// Mail server, global and local.
const S_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 110);
const S_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 2);
/// Inside host 5, local and global.
const H5: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 5);
const H5_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 111);
/// DNS server / silent UDP sink and web server (client namespace).
const DNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

const SHOW_ALL: &str = include_str!("../../fixtures/show-ip-inspect-all.txt");
const SEED_ANNOTATED: &str = include_str!("../../fixtures/seed-annotated.cfg");
const SECRETS: [&str; 2] = ["02050D4808095E731F", "121A0C0411045D5679"];

const SEC: Duration = Duration::from_secs(1);

fn skip() -> bool {
    if !can_run() {
        eprintln!(
            "skipped: needs root and a built mailguard binary (cargo build -p dataplane --bins)"
        );
        return true;
    }
    false
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Asserts `elapsed` lies in `lo..=hi` seconds.
fn assert_between(what: &str, elapsed: Duration, lo: f64, hi: f64) {
    let s = secs(elapsed);
    assert!(
        (lo..=hi).contains(&s),
        "{what}: {s:.2} s, expected between {lo} and {hi} s"
    );
}

/// The sessions whose initiator is `init` (any responder).
fn of(sessions: &[SessionLine], init: SocketAddrV4) -> Vec<SessionLine> {
    sessions
        .iter()
        .filter(|s| s.initiator == init)
        .cloned()
        .collect()
}

/// The line of `show ip inspect statistics` starting with `prefix`.
fn stat_line(fw: &FirewallLab, prefix: &str) -> String {
    let stats = fw.cmd("show ip inspect statistics");
    stats
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in\n{stats}"))
        .to_string()
}

/// How many log messages start with `prefix`.
fn count_messages(fw: &FirewallLab, prefix: &str) -> usize {
    fw.log_messages()
        .iter()
        .filter(|m| m.starts_with(prefix))
        .count()
}

/// The `%FW-` messages of the log (alarms, audit trail, SMTP alerts).
fn fw_messages(fw: &FirewallLab) -> Vec<String> {
    fw.log_messages()
        .into_iter()
        .filter(|m| m.starts_with("%FW-"))
        .collect()
}

/// nftables in the mail namespace: SYNs to port 25 are dropped silently and
/// counted (`syns`: what the firewall forwarded); incoming RSTs are counted.
/// Established traffic passes.
fn mail_drops_syns(fw: &FirewallLab) {
    fw.nft(
        &fw.lab.ns.mail,
        "table ip casetest {\n\
         counter syns { }\n\
         counter rsts { }\n\
         chain input {\n\
         type filter hook input priority 0; policy accept;\n\
         tcp dport 25 tcp flags & (syn | ack) == syn counter name \"syns\" drop\n\
         tcp flags & rst == rst counter name \"rsts\"\n\
         }\n\
         }\n",
    );
}

/// SYNs the firewall forwarded to the mail server so far.
fn forwarded_syns(fw: &FirewallLab) -> u64 {
    fw.nft_counter(&fw.lab.ns.mail, "casetest", "syns")
}

/// Waits until the mail namespace counted `n` SYNs; panics otherwise.
fn wait_forwarded_syns(fw: &FirewallLab, n: u64, timeout: Duration) {
    let got = poll_until(timeout, Duration::from_millis(50), || {
        (forwarded_syns(fw) >= n).then_some(())
    });
    assert!(
        got.is_some(),
        "{n} SYNs forwarded expected, the mail server saw {}",
        forwarded_syns(fw)
    );
    assert_eq!(forwarded_syns(fw), n, "SYNs forwarded");
}

/// Sends one raw SYN to 172.22.1.110:25 from `src` for every port of
/// `ports`, 1 ms apart, on the client's interface (loadgen's flood frames:
/// Ethernet to the isp, IPv4 with DF, TCP SYN with MSS, checksums valid).
fn send_syns(fw: &FirewallLab, src: Ipv4Addr, ports: RangeInclusive<u16>) {
    let dst_mac = fw
        .lab
        .mac(&fw.lab.ns.isp, dataplane::lab::ifname::ISP_CLIENT)
        .expect("isp MAC");
    let tpl = SynTemplate {
        src_mac: fw.lab.macs.client,
        dst_mac,
        sources: vec![src],
        dst: S_GLOBAL,
        dport: 25,
        sport_lo: *ports.start(),
        sport_hi: *ports.end(),
    };
    netns::run_in(&fw.lab.ns.client, move || {
        let (ifindex, _) = packet::interface(dataplane::lab::ifname::CLIENT)?;
        let tx = PacketSocket::transmitter(ifindex)?;
        let mut frame = [0u8; FRAME_LEN];
        for i in 0..tpl.distinct() {
            tpl.write(i, &mut frame);
            let deadline = Instant::now() + Duration::from_secs(2);
            while tx.send_batch(&[&frame[..]])? == 0 {
                if Instant::now() > deadline {
                    return Err(std::io::Error::other("transmit queue stays full"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    })
    .expect("send SYNs from the client namespace");
}

/// Sends one frame on `ifname` in namespace `ns`.
fn send_frame(ns: &str, ifname: &'static str, frame: Vec<u8>) {
    netns::run_in(ns, move || {
        let (ifindex, _) = packet::interface(ifname)?;
        let tx = PacketSocket::transmitter(ifindex)?;
        if tx.send_batch(&[&frame[..]])? != 1 {
            return Err(std::io::Error::other("frame not taken"));
        }
        Ok(())
    })
    .expect("send frame");
}

/// A UDP socket bound to `addr` inside namespace `ns`.
fn udp_in(ns: &str, addr: SocketAddrV4) -> UdpSocket {
    let s = netns::run_in(ns, move || UdpSocket::bind(addr))
        .unwrap_or_else(|e| panic!("bind {addr} in {ns}: {e}"));
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s
}

/// Receives one datagram within `timeout` (None if nothing came).
fn recv_within(s: &UdpSocket, timeout: Duration) -> Option<(Vec<u8>, SocketAddrV4)> {
    let mut buf = [0u8; 2048];
    poll_until(timeout, Duration::ZERO, || match s.recv_from(&mut buf) {
        Ok((n, std::net::SocketAddr::V4(from))) => Some((buf[..n].to_vec(), from)),
        _ => None,
    })
}

/// The scripted mail server (§4) on 10.10.10.2:25.
fn mail_server(fw: &FirewallLab) -> MailServer {
    let listener = netns::run_in(&fw.lab.ns.mail, || TcpListener::bind((S_LOCAL, 25)))
        .expect("bind 10.10.10.2:25 in the mail namespace");
    MailServer::start(listener, DataReply::Accept).expect("mail server")
}

/// Reads exactly `n` bytes within the stream's read timeout.
fn read_n(s: &mut std::net::TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// An SMTP connection from C:`port` to S with the greeting read.
fn smtp_client(fw: &FirewallLab, port: u16) -> std::net::TcpStream {
    let mut s = fw
        .connect_from_port(&fw.lab.ns.client, port, sa(S_GLOBAL, 25), 10 * SEC)
        .unwrap_or_else(|e| panic!("connect from C:{port}: {e}"));
    s.set_read_timeout(Some(10 * SEC)).expect("timeout");
    assert_eq!(read_n(&mut s, 29), b"220 mail.example.test ESMTP\r\n");
    s
}

/// Polls until no session of `init` is listed; returns when that was seen.
fn wait_gone(fw: &FirewallLab, init: SocketAddrV4, timeout: Duration) -> Instant {
    let (s, ok) = fw.wait_sessions(timeout, |s| of(s, init).is_empty());
    assert!(ok, "session of {init} still listed: {s:?}");
    Instant::now()
}

/// A named case for [`run_concurrently`].
type Case = (String, Box<dyn FnOnce() + Send>);

/// Runs every case on its own thread (named after the case, so its panic
/// message says which one failed), waits for all, and fails if any did.
/// Each case builds its own lab, so they do not interfere.
fn run_concurrently(cases: Vec<Case>) {
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(name, f)| {
            let h = std::thread::Builder::new()
                .name(name.clone())
                .spawn(f)
                .expect("spawn case thread");
            (name, h)
        })
        .collect();
    let failed: Vec<String> = handles
        .into_iter()
        .filter_map(|(name, h)| h.join().is_err().then_some(name))
        .collect();
    assert!(
        failed.is_empty(),
        "failed: {failed:?} (their panic messages are above)"
    );
}

/// Runs `case(1)` and `case(2)` at the same time, each on its own lab.
fn with_one_and_two_workers(name: &str, case: fn(usize)) {
    run_concurrently(vec![
        (format!("{name}/1w"), Box::new(move || case(1))),
        (format!("{name}/2w"), Box::new(move || case(2))),
    ]);
}

// ---------------------------------------------------------------- A1–A3

fn check(path: &str) -> String {
    let out = std::process::Command::new(mailguard_bin())
        .args(["check", "--config", path])
        .output()
        .expect("mailguard check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check {path}: {text}");
    text
}

/// A1–A3 on the real binary, loading the ANNOTATED seed copy: `check` on
/// both copies gives exactly the 26 warnings of A1 (same texts, no secret);
/// the running firewall prints A2's show output and answers A3's five rule
/// commands with the exact console texts.
#[test]
fn a1_a3_configuration_and_show_on_the_real_binary() {
    if skip() {
        return;
    }
    // A1 through `mailguard check`, both copies.
    // The texts of case A1, as the config loader's own test expects them.
    let expected: Vec<&str> = include_str!("../../fixtures/seed-a1-warnings.txt")
        .lines()
        .collect();
    assert_eq!(expected.len(), 26);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/");
    for file in ["seed.cfg", "seed-annotated.cfg"] {
        let out = check(&format!("{dir}{file}"));
        let warned: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("% Warning: line "))
            .map(|l| {
                let (_, rest) = l.split_once(": ").expect("warning layout");
                let (_, what) = rest.split_once(": ").expect("warning layout");
                what.split(" -- ").next().unwrap_or(what)
            })
            .collect();
        assert_eq!(warned, expected, "{file}:\n{out}");
        assert!(out.contains("26 warning(s), 0 errors"), "{file}: {out}");
        for secret in SECRETS {
            assert!(!out.contains(secret), "{file}: secret printed:\n{out}");
        }
    }

    let fw = FirewallLab::start_with_config(1, SEED_ANNOTATED);
    // A2.
    let all = fw.cmd("show ip inspect all");
    assert_eq!(all, SHOW_ALL);
    let first17: String = SHOW_ALL
        .lines()
        .take(17)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(fw.cmd("show ip inspect config"), first17);
    let at = SHOW_ALL
        .find("Interface Configuration")
        .expect("fixture layout");
    assert_eq!(fw.cmd("show ip inspect interfaces"), &SHOW_ALL[at..]);
    assert_eq!(
        fw.cmd("show ip inspect name OUT-IN"),
        " Inspection name OUT-IN\n    smtp max-data 20000000 alert is on audit-trail is off timeout 3600\n"
    );
    assert_eq!(fw.cmd("show ip inspect session"), "");
    assert_eq!(
        fw.cmd("show ip nat translations"),
        "Pro Inside global      Inside local       Outside local      Outside global\n\
         --- 172.22.1.110       10.10.10.2         ---                ---\n\
         --- 172.22.1.111       10.10.10.5         ---                ---\n"
    );
    let running = fw.cmd("show running-config");
    for secret in SECRETS {
        assert!(!running.contains(secret), "secret in running-config");
        assert!(!fw.log_text().contains(secret), "secret in the log");
    }

    // A3 step 1: refused, rule unchanged.
    let r = fw
        .cmd_result("configure ip inspect name OUT-IN esmtp")
        .unwrap_or_else(|e| e);
    assert_eq!(
        r.trim_end(),
        "%ESMTP cannot coexist with SMTP, please unconfigure SMTP and try again..."
    );
    assert_eq!(fw.cmd("show ip inspect all"), SHOW_ALL);
    // Step 2.
    fw.cmd("configure no ip inspect name OUT-IN smtp");
    fw.cmd("configure ip inspect name OUT-IN esmtp");
    let all = fw.cmd("show ip inspect all");
    let esmtp = "    esmtp max-data 20000000 alert is on audit-trail is off timeout 3600\n";
    assert_eq!(all.matches(esmtp).count(), 2, "both OUT-IN blocks:\n{all}");
    assert!(!all.contains("    smtp max-data"), "{all}");
    // Step 3.
    let r = fw
        .cmd_result("configure ip inspect name OUT-IN smtp")
        .unwrap_or_else(|e| e);
    assert_eq!(
        r.trim_end(),
        "%SMTP cannot coexist with ESMTP, please unconfigure ESMTP and try again..."
    );
    // Step 4: names are shown with 16 characters.
    fw.cmd("configure ip inspect name ABCDEFGHIJKLMNOPQRST tcp");
    let all = fw.cmd("show ip inspect all");
    assert!(
        all.contains("\n Inspection name ABCDEFGHIJKLMNOP\n"),
        "{all}"
    );
    assert!(!all.contains("ABCDEFGHIJKLMNOPQ"), "{all}");
    // Step 5.
    let r = fw
        .cmd_result("configure ip inspect one-minute low 600")
        .unwrap_or_else(|e| e);
    assert_eq!(
        r.trim_end(),
        "% low threshold must not exceed high threshold"
    );
    assert!(fw
        .cmd("show ip inspect config")
        .contains("one-minute (sampling period) thresholds are [400:500] connections\n"));
}

// ---------------------------------------------------------------- B4

/// B4: a DNS session ends dns-timeout (5 s) after the answer, later answers
/// are dropped; a UDP session to port 123 ends `udp idle-time` (6 s here)
/// after its LAST packet, not after its creation.
fn b4_udp_and_dns_timeout(workers: usize) {
    let fw = FirewallLab::start(workers, &["ip inspect udp idle-time 6"]);
    assert!(fw
        .cmd("show ip inspect config")
        .contains("tcp idle-time is 3600 sec -- udp idle-time is 6 sec\ndns-timeout is 5 sec\n"));
    fw.warm_up();
    let dns = udp_in(&fw.lab.ns.client, sa(DNS, 53));
    let ntp = udp_in(&fw.lab.ns.client, sa(DNS, 123));
    let h5 = udp_in(&fw.lab.ns.host5, sa(H5, 53000));
    let init = sa(H5, 53000);

    // DNS: query, session SIS_OPENING.
    h5.send_to(b"query", sa(DNS, 53)).expect("send query");
    let (q, from) = recv_within(&dns, 5 * SEC).expect("query forwarded");
    assert_eq!((q.as_slice(), from), (&b"query"[..], sa(H5_GLOBAL, 53000)));
    let s = of(&fw.sessions(), init);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (
            s[0].responder,
            s[0].protocol.as_str(),
            s[0].state.as_str(),
            s[0].section.as_str()
        ),
        (sa(DNS, 53), "udp", "SIS_OPENING", "Half-open Sessions")
    );
    // The answer is forwarded to 10.10.10.5:53000; the session is open.
    let t_answer = Instant::now();
    dns.send_to(b"answer", from).expect("send answer");
    let (a, src) = recv_within(&h5, 5 * SEC).expect("answer forwarded");
    assert_eq!((a.as_slice(), src), (&b"answer"[..], sa(DNS, 53)));
    let s = of(&fw.sessions(), init);
    assert_eq!(
        s.iter().map(|s| s.state.as_str()).collect::<Vec<_>>(),
        ["SIS_OPEN"],
        "{s:?}"
    );
    // Removed dns-timeout after the answer; a second answer is dropped.
    let gone = wait_gone(&fw, init, 20 * SEC);
    assert_between(
        "DNS session removed after the answer",
        gone - t_answer,
        4.5,
        12.0,
    );
    dns.send_to(b"late answer", from).expect("send");
    assert_eq!(recv_within(&h5, 2 * SEC), None, "answer after dns-timeout");

    // Port 123: the idle time counts from the last packet.
    let t0 = Instant::now();
    h5.send_to(b"ntp query", sa(DNS, 123)).expect("send");
    let (_, from) = recv_within(&ntp, 5 * SEC).expect("ntp query forwarded");
    assert_eq!(from, sa(H5_GLOBAL, 53000));
    std::thread::sleep((t0 + 3 * SEC).saturating_duration_since(Instant::now()));
    ntp.send_to(b"reply 1", from).expect("send");
    assert!(recv_within(&h5, 2 * SEC).is_some(), "reply at +3 s");
    std::thread::sleep((t0 + 7 * SEC).saturating_duration_since(Instant::now()));
    let t_last = Instant::now();
    ntp.send_to(b"reply 2", from).expect("send");
    assert!(
        recv_within(&h5, 2 * SEC).is_some(),
        "reply at +7 s (4 s after the last packet, 7 s after creation)"
    );
    let gone = wait_gone(&fw, init, 20 * SEC);
    assert_between(
        "UDP session removed after its last packet",
        gone - t_last,
        5.5,
        14.0,
    );
    ntp.send_to(b"reply 3", from).expect("send");
    assert_eq!(recv_within(&h5, 2 * SEC), None, "reply after the idle time");
}

/// With one and with two workers, at the same time (two labs).
#[test]
fn b4_udp_and_dns_timeout_one_and_two_workers() {
    if !skip() {
        with_one_and_two_workers("b4_udp_and_dns_timeout", b4_udp_and_dns_timeout);
    }
}

// ---------------------------------------------------------------- B6

/// B6: one SYN that the mail namespace drops; the half-open session is listed
/// until synwait-time (8 s here) and then removed without any RST; a forged
/// SYN-ACK from the inside still leaves the box but creates no session.
fn b6_syn_wait(workers: usize) {
    let fw = FirewallLab::start(workers, &["ip inspect tcp synwait-time 8"]);
    fw.warm_up();
    mail_drops_syns(&fw);
    fw.nft(
        &fw.lab.ns.client,
        "table ip casetest {\n\
         counter rsts { }\n\
         counter synacks { }\n\
         chain input {\n\
         type filter hook input priority 0; policy accept;\n\
         tcp flags & rst == rst counter name \"rsts\"\n\
         ip saddr 172.22.1.110 tcp sport 25 tcp dport 40006 tcp flags & (syn | ack) == (syn | ack) counter name \"synacks\"\n\
         }\n\
         chain output {\n\
         type filter hook output priority 0; policy accept;\n\
         tcp flags & rst == rst drop\n\
         }\n\
         }\n",
    );
    let init = sa(C, 40006);
    let t_syn = Instant::now();
    send_syns(&fw, C, 40006..=40006);
    wait_forwarded_syns(&fw, 1, 5 * SEC);
    let s = of(&fw.sessions(), init);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (
            s[0].responder,
            s[0].protocol.as_str(),
            s[0].state.as_str(),
            s[0].section.as_str()
        ),
        (
            sa(S_GLOBAL, 25),
            "smtp",
            "SIS_OPENING",
            "Half-open Sessions"
        )
    );
    let gone = wait_gone(&fw, init, 20 * SEC);
    assert_between(
        "half-open session removed after synwait-time",
        gone - t_syn,
        7.5,
        16.0,
    );
    std::thread::sleep(SEC);
    assert_eq!(
        fw.nft_counter(&fw.lab.ns.client, "casetest", "rsts"),
        0,
        "no RST to the client"
    );
    assert_eq!(
        fw.nft_counter(&fw.lab.ns.mail, "casetest", "rsts"),
        0,
        "no RST to the server"
    );

    // A forged SYN-ACK from the mail server leaves the box, creates nothing.
    let b = etherparse::PacketBuilder::ethernet2(fw.lab.macs.mail, fw.lab.macs.fw_inside)
        .ipv4(S_LOCAL.octets(), C.octets(), 64)
        .tcp(25, 40006, 7_000, 64_240)
        .syn()
        .ack(0x1234_5679);
    let mut frame = Vec::with_capacity(b.size(0));
    b.write(&mut frame, &[]).expect("build SYN-ACK");
    send_frame(&fw.lab.ns.mail, dataplane::lab::ifname::MAIL, frame);
    let arrived = poll_until(5 * SEC, Duration::from_millis(50), || {
        (fw.nft_counter(&fw.lab.ns.client, "casetest", "synacks") == 1).then_some(())
    });
    assert!(arrived.is_some(), "the forged SYN-ACK leaves the box");
    let (s, created) =
        fw.wait_sessions(1500 * Duration::from_millis(1), |s| !of(s, init).is_empty());
    assert!(!created, "no session from a SYN-ACK: {s:?}");
}

/// With one and with two workers, at the same time (two labs).
#[test]
fn b6_syn_wait_one_and_two_workers() {
    if !skip() {
        with_one_and_two_workers("b6_syn_wait", b6_syn_wait);
    }
}

// ---------------------------------------------------------------- B7

/// B7: with the audit trail on, an SMTP dialogue ends with FINs from both
/// sides; the session is SIS_CLOSING, disappears finwait-time (5 s) later
/// and only then the audit line prints its exact byte counts.
fn b7_fin_finwait_audit_trail(workers: usize) {
    let fw = FirewallLab::start(workers, &["ip inspect audit-trail"]);
    let all = fw.cmd("show ip inspect all");
    assert!(all.starts_with("Session audit trail is enabled\n"), "{all}");
    assert!(
        all.contains("    smtp max-data 20000000 alert is on audit-trail is on timeout 3600\n"),
        "{all}"
    );
    let server = mail_server(&fw);
    fw.warm_up();
    let init = sa(C, 40007);
    let mut c = smtp_client(&fw, 40007);
    c.write_all(b"HELO a.example\r\n").expect("HELO");
    assert_eq!(read_n(&mut c, 23), b"250 mail.example.test\r\n");
    c.write_all(b"QUIT\r\n").expect("QUIT");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("221 and the server's FIN");
    assert_eq!(rest, b"221 2.0.0 Bye\r\n");
    // The client's FIN (the second one).
    let t_fin = Instant::now();
    drop(c);
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| {
        of(s, init)
            .iter()
            .any(|x| x.state == "SIS_CLOSING" && x.section == "Terminating Sessions")
    });
    assert!(ok, "SIS_CLOSING after the second FIN: {s:?}");
    let audit = "%FW-6-SESS_AUDIT_TRAIL: smtp session initiator (198.51.100.7:40007) sent 22 bytes -- responder (172.22.1.110:25) sent 67 bytes";
    // The audit line comes when the session goes, not before: read the log
    // first, then the listing.
    let deadline = Instant::now() + 20 * SEC;
    let gone = loop {
        let logged = fw.log_messages().iter().any(|m| m == audit);
        let listed = !of(&fw.sessions(), init).is_empty();
        assert!(
            !(logged && listed),
            "audit line while the session is listed"
        );
        if !listed {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "session never removed");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_between("session removed after the FINs", gone - t_fin, 4.5, 12.0);
    assert!(
        fw.wait_log_message(audit, 5 * SEC).is_some(),
        "{:#?}",
        fw.log_messages()
    );
    assert_eq!(
        count_messages(&fw, "%FW-6-SESS_AUDIT_TRAIL: smtp "),
        1,
        "{:#?}",
        fw.log_messages()
    );
    let recs = server.wait_for(1, 5 * SEC);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].received, b"HELO a.example\r\nQUIT\r\n");
}

/// With one and with two workers, at the same time (two labs).
#[test]
fn b7_fin_finwait_audit_trail_one_and_two_workers() {
    if !skip() {
        with_one_and_two_workers("b7_fin_finwait_audit_trail", b7_fin_finwait_audit_trail);
    }
}

// ---------------------------------------------------------------- B9

/// One captured ICMP port-unreachable, decoded far enough to check it.
struct IcmpError {
    outer_dst: Ipv4Addr,
    outer_sum_ok: bool,
    icmp_sum_ok: bool,
    inner_src: Ipv4Addr,
    inner_dst: Ipv4Addr,
    inner_sum_ok: bool,
    inner_sport: u16,
    inner_dport: u16,
}

fn decode_port_unreachable(f: &[u8]) -> Option<IcmpError> {
    if f.len() < 14 + 20 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[9] != 1 || ihl < 20 || total > ip.len() || total < ihl + 8 + 20 + 8 {
        return None;
    }
    let icmp = &ip[ihl..total];
    if icmp[0] != 3 || icmp[1] != 3 {
        return None;
    }
    let inner = &icmp[8..];
    let ihl2 = usize::from(inner[0] & 0x0f) * 4;
    if ihl2 < 20 || inner.len() < ihl2 + 4 {
        return None;
    }
    let v4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    Some(IcmpError {
        outer_dst: v4(&ip[16..20]),
        outer_sum_ok: checksum(&ip[..ihl]) == 0,
        icmp_sum_ok: checksum(icmp) == 0,
        inner_src: v4(&inner[12..16]),
        inner_dst: v4(&inner[16..20]),
        inner_sum_ok: checksum(&inner[..ihl2]) == 0,
        inner_sport: u16::from_be_bytes([inner[ihl2], inner[ihl2 + 1]]),
        inner_dport: u16::from_be_bytes([inner[ihl2 + 2], inner[ihl2 + 3]]),
    })
}

/// B9: the client namespace's port-unreachable about host5's datagram passes
/// list 101 through the UDP session and reaches 10.10.10.5 translated: outer
/// destination and embedded source are 10.10.10.5, every checksum valid.
fn b9_icmp_error_of_a_udp_session(workers: usize) {
    let fw = FirewallLab::start(workers, &[]);
    fw.warm_up();
    // Capture on host5's interface from before the datagram is sent.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let capture = netns::spawn_in(&fw.lab.ns.host5, move || {
        let (ifindex, _) = packet::interface(dataplane::lab::ifname::HOST5)?;
        let sock = PacketSocket::capture(ifindex, Duration::from_millis(100))?;
        let _ = ready_tx.send(());
        let deadline = Instant::now() + 10 * SEC;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            if let Some(n) = sock.recv(&mut buf)? {
                if let Some(e) = decode_port_unreachable(&buf[..n]) {
                    return Ok(Some(e));
                }
            }
        }
        Ok(None)
    });
    ready_rx.recv_timeout(10 * SEC).expect("capture ready");
    let h5 = udp_in(&fw.lab.ns.host5, sa(H5, 53001));
    h5.connect(sa(DNS, 5000)).expect("connect");
    h5.send(b"anyone there?").expect("send");
    // The kernel matched the error to the socket: ECONNREFUSED.
    let mut buf = [0u8; 64];
    let refused = poll_until(5 * SEC, Duration::ZERO, || match h5.recv(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
        _ => None,
    });
    assert!(
        refused.is_some(),
        "port unreachable delivered to host5's socket"
    );
    let e = capture
        .join()
        .expect("capture thread")
        .expect("capture")
        .expect("port unreachable captured on host5's interface");
    assert_eq!(e.outer_dst, H5);
    assert!(e.outer_sum_ok, "outer IP checksum");
    assert!(e.icmp_sum_ok, "ICMP checksum");
    assert_eq!((e.inner_src, e.inner_dst), (H5, DNS), "embedded addresses");
    assert!(e.inner_sum_ok, "embedded IP checksum");
    assert_eq!((e.inner_sport, e.inner_dport), (53001, 5000));
    let s = of(&fw.sessions(), sa(H5, 53001));
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (s[0].responder, s[0].protocol.as_str()),
        (sa(DNS, 5000), "udp")
    );
}

/// With one and with two workers, at the same time (two labs).
#[test]
fn b9_icmp_error_of_a_udp_session_one_and_two_workers() {
    if !skip() {
        with_one_and_two_workers(
            "b9_icmp_error_of_a_udp_session",
            b9_icmp_error_of_a_udp_session,
        );
    }
}

// ---------------------------------------------------------------- B10

/// The match count of list 101's only entry.
fn acl_matches(fw: &FirewallLab) -> u64 {
    let acl = fw.cmd("show access-lists");
    let line = acl
        .lines()
        .find(|l| l.contains("permit tcp any host 172.22.1.110 eq smtp"))
        .unwrap_or_else(|| panic!("{acl}"));
    line.split_once(" (")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// B10: an idle established SMTP session is removed after the rule's
/// timeout (6 s here); a later data segment still passes list 101, the
/// server answers it, and no session is created.
fn b10_rule_timeout(workers: usize) {
    let fw = FirewallLab::start(workers, &["ip inspect name OUT-IN smtp timeout 6"]);
    assert_eq!(
        fw.cmd("show ip inspect name OUT-IN"),
        " Inspection name OUT-IN\n    smtp max-data 20000000 alert is on audit-trail is off timeout 6\n"
    );
    let server = mail_server(&fw);
    fw.warm_up();
    let init = sa(C, 40010);
    let mut c = smtp_client(&fw, 40010);
    // The last packets before the idle time: this exchange (the connect
    // helper may return seconds after the handshake on a loaded machine).
    let t_last = Instant::now();
    c.write_all(b"HELO a.example\r\n").expect("HELO");
    assert_eq!(read_n(&mut c, 23), b"250 mail.example.test\r\n");
    let s = of(&fw.sessions(), init);
    assert_eq!(
        s.iter()
            .map(|s| (s.state.as_str(), s.section.as_str()))
            .collect::<Vec<_>>(),
        [("SIS_OPEN", "Established Sessions")],
        "{s:?}"
    );
    let gone = wait_gone(&fw, init, 20 * SEC);
    assert_between(
        "idle session removed after the rule timeout",
        gone - t_last,
        5.5,
        14.0,
    );
    let before = acl_matches(&fw);
    c.write_all(b"NOOP\r\n").expect("NOOP");
    assert_eq!(
        read_n(&mut c, 14),
        b"250 2.0.0 Ok\r\n",
        "the server answers"
    );
    assert!(acl_matches(&fw) > before, "the data segment met list 101");
    let (s, created) =
        fw.wait_sessions(1500 * Duration::from_millis(1), |s| !of(s, init).is_empty());
    assert!(!created, "no session from a data segment: {s:?}");
    drop(c);
    let recs = server.wait_for(1, 5 * SEC);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].received, b"HELO a.example\r\nNOOP\r\n");
}

/// With one and with two workers, at the same time (two labs).
#[test]
fn b10_rule_timeout_one_and_two_workers() {
    if !skip() {
        with_one_and_two_workers("b10_rule_timeout", b10_rule_timeout);
    }
}

// ---------------------------------------------------------------- C3

/// The half-open SMTP sessions to S, as initiator ports (sorted).
fn half_open_smtp_ports(sessions: &[SessionLine]) -> Vec<u16> {
    let mut v: Vec<u16> = sessions
        .iter()
        .filter(|s| {
            s.responder == sa(S_GLOBAL, 25)
                && s.state == "SIS_OPENING"
                && s.section == "Half-open Sessions"
        })
        .map(|s| s.initiator.port())
        .collect();
    v.sort_unstable();
    v
}

/// C3: 51 SYNs that the mail server drops: the 51st deletes the oldest
/// half-open session and logs HOST_TCP_ALERT_ON once; all are forwarded; a
/// 52nd deletes the next oldest and logs nothing.
fn c3_per_host_limit(workers: usize) {
    let fw = FirewallLab::start(workers, &[]);
    fw.warm_up();
    mail_drops_syns(&fw);
    let host_on =
        "%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 172.22.1.110.";
    // The first two SYNs one at a time: they are the two oldest half-open
    // sessions whatever order two workers register the burst that follows
    // in (the registry's order is the order of processing).
    for (n, port) in [41000u16, 41001].into_iter().enumerate() {
        send_syns(&fw, C, port..=port);
        wait_forwarded_syns(&fw, n as u64 + 1, 5 * SEC);
    }
    send_syns(&fw, C, 41002..=41049);
    wait_forwarded_syns(&fw, 50, 10 * SEC);
    let want: Vec<u16> = (41000..=41049).collect();
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| half_open_smtp_ports(s) == want);
    assert!(ok, "50 half-open sessions: {:?}", half_open_smtp_ports(&s));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        count_messages(&fw, "%FW-4-HOST_TCP_ALERT_ON"),
        0,
        "not before the 51st"
    );

    send_syns(&fw, C, 41050..=41050);
    assert!(
        fw.wait_log_message(host_on, 5 * SEC).is_some(),
        "{:#?}",
        fw.log_messages()
    );
    wait_forwarded_syns(&fw, 51, 5 * SEC);
    let want: Vec<u16> = (41001..=41050).collect();
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| half_open_smtp_ports(s) == want);
    assert!(ok, "41001..41050 half-open: {:?}", half_open_smtp_ports(&s));
    let fw_lines = fw_messages(&fw);
    assert_eq!(fw_lines, [host_on], "one HOST_TCP_ALERT_ON, no ALERT_ON");

    send_syns(&fw, C, 41051..=41051);
    wait_forwarded_syns(&fw, 52, 5 * SEC);
    let want: Vec<u16> = (41002..=41051).collect();
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| half_open_smtp_ports(s) == want);
    assert!(ok, "41002..41051 half-open: {:?}", half_open_smtp_ports(&s));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fw_messages(&fw), [host_on], "the 52nd SYN logs nothing new");
}

/// With one and with two workers, at the same time (two labs).
#[test]
fn c3_per_host_limit_one_and_two_workers() {
    if !skip() {
        with_one_and_two_workers("c3_per_host_limit", c3_per_host_limit);
    }
}

// ------------------------------------------------- C1, C2, C4 (real minute)

const ALERT_OFF: &str = "%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0";

/// Asserts `t` lies at a sampling-period boundary of `fw`: 60·k s after the
/// firewall's start (which lies between spawn and ready), with `slack` s for
/// polling and a loaded machine.
fn assert_at_period_boundary(fw: &FirewallLab, what: &str, t: Instant, slack: f64) {
    let (spawned, ready) = fw.started_between();
    let since = secs(t - spawned);
    let k = ((since - (secs(ready - spawned) + slack)) / 60.0)
        .ceil()
        .max(1.0);
    let lo = 60.0 * k - 0.5;
    let hi = 60.0 * k + secs(ready - spawned) + slack;
    assert!(
        (lo..=hi).contains(&since),
        "{what} {since:.2} s after start, expected at the period boundary {lo:.1}..{hi:.1} s"
    );
}

/// C1: 501 UDP datagrams from host5 ports 40001… to the client's discard
/// port (dropped there): the 501st turns aggressive mode on with
/// `count (500/500) current 1-min rate: 501`, deletes the session of 40001
/// and creates its own; every datagram is forwarded. The sessions expire
/// ~30 s later (udp idle-time) and ALERT_OFF comes at the period boundary.
fn c1_max_incomplete(workers: usize) {
    let fw = FirewallLab::start(workers, &[]);
    fw.warm_up();
    fw.nft(
        &fw.lab.ns.client,
        "table ip casetest {\n\
         counter discard { }\n\
         chain input {\n\
         type filter hook input priority 0; policy accept;\n\
         udp dport 9 counter name \"discard\" drop\n\
         }\n\
         }\n",
    );
    let discarded = || fw.nft_counter(&fw.lab.ns.client, "casetest", "discard");
    let send_from = |ports: RangeInclusive<u16>| {
        netns::run_in(&fw.lab.ns.host5, move || {
            for p in ports {
                // One socket at a time: labs run concurrently in this process.
                let s = UdpSocket::bind((H5, p))?;
                s.send_to(b"x", (DNS, 9))?;
                if p % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(())
        })
        .expect("send datagrams from host5")
    };
    let udp_ports = |s: &[SessionLine]| -> Vec<u16> {
        let mut v: Vec<u16> = s
            .iter()
            .filter(|x| x.responder == sa(DNS, 9) && x.protocol == "udp")
            .map(|x| x.initiator.port())
            .collect();
        v.sort_unstable();
        v
    };
    let alert_on = "%FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501";

    // The first datagram alone, so it is the oldest session whatever the
    // order in which two workers register the burst that follows.
    send_from(40001..=40001);
    let fwd = poll_until(5 * SEC, Duration::from_millis(20), || {
        (discarded() == 1).then_some(())
    });
    assert!(fwd.is_some(), "the first datagram forwarded");
    send_from(40002..=40500);
    let fwd = poll_until(10 * SEC, Duration::from_millis(50), || {
        (discarded() >= 500).then_some(())
    });
    assert!(
        fwd.is_some(),
        "500 datagrams forwarded, got {}",
        discarded()
    );
    let want: Vec<u16> = (40001..=40500).collect();
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| udp_ports(s) == want);
    assert!(ok, "500 UDP sessions: {} listed", udp_ports(&s).len());
    assert!(
        s.iter()
            .filter(|x| x.responder == sa(DNS, 9))
            .all(|x| x.state == "SIS_OPENING" && x.section == "Half-open Sessions"),
        "all half-open"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        count_messages(&fw, "%FW-4-ALERT_ON"),
        0,
        "not before the 501st"
    );

    send_from(40501..=40501);
    let t_burst = Instant::now();
    assert!(
        fw.wait_log_message(alert_on, 5 * SEC).is_some(),
        "{:#?}",
        fw.log_messages()
    );
    let fwd = poll_until(5 * SEC, Duration::from_millis(50), || {
        (discarded() == 501).then_some(())
    });
    assert!(fwd.is_some(), "all 501 forwarded, got {}", discarded());
    let want: Vec<u16> = (40002..=40501).collect();
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| udp_ports(s) == want);
    if !ok {
        let p = udp_ports(&s);
        panic!(
            "40001 deleted, 40501 created: {} sessions listed, 40001 {}, 40501 {}; {}; {}",
            p.len(),
            if p.contains(&40001) { "listed" } else { "gone" },
            if p.contains(&40501) {
                "listed"
            } else {
                "missing"
            },
            stat_line(&fw, "Current session counts"),
            stat_line(&fw, "Session creations"),
        );
    }
    assert_eq!(
        stat_line(&fw, "Aggressive mode:"),
        "Aggressive mode: on (entered 1 times)"
    );

    // Expiry after the UDP idle time (30 s): the count alarm clears, but
    // the rate alarm holds ALERT_OFF until the period boundary.
    let (_, ok) = fw.wait_sessions(50 * SEC, |s| udp_ports(s).is_empty());
    assert!(ok, "UDP sessions expire");
    let t_expired = Instant::now();
    eprintln!(
        "c1/{workers}w: burst {:.1} s, expiry {:.1} s after start",
        secs(t_burst - fw.started_between().0),
        secs(t_expired - fw.started_between().0)
    );
    assert_between("UDP sessions expired", t_expired - t_burst, 29.0, 45.0);
    let (spawned, ready) = fw.started_between();
    if t_expired + 2 * SEC < spawned + 60 * SEC {
        assert_eq!(
            count_messages(&fw, "%FW-4-ALERT_OFF"),
            0,
            "no ALERT_OFF before the boundary"
        );
    }
    let t_off = fw
        .wait_log_message(ALERT_OFF, 75 * SEC)
        .unwrap_or_else(|| panic!("no ALERT_OFF: {:#?}", fw.log_messages()));
    assert_between("ALERT_OFF after the burst", t_off - t_burst, 29.0, 63.0);
    if t_expired + 2 * SEC < spawned + 60 * SEC && t_burst < ready + 25 * SEC {
        assert_at_period_boundary(&fw, "ALERT_OFF", t_off, 3.0);
    }
    assert_eq!(
        fw_messages(&fw),
        [alert_on, ALERT_OFF],
        "exactly one ON and one OFF"
    );
    assert_eq!(
        stat_line(&fw, "Aggressive mode:"),
        "Aggressive mode: off (entered 1 times)"
    );
    assert_eq!(
        stat_line(&fw, "Last session creation rate"),
        "Last session creation rate 501"
    );
}

/// A web server on 203.0.113.9:80 in the client namespace that accepts and
/// closes every connection, until dropped.
struct WebServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebServer {
    fn start(fw: &FirewallLab) -> WebServer {
        let listener = netns::run_in(&fw.lab.ns.client, || {
            let l = TcpListener::bind((WEB, 80))?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .expect("bind 203.0.113.9:80");
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => drop(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        WebServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` complete TCP connections host5 → 203.0.113.9:80, each closed right
/// after its handshake, from `parallel` clients at once (each client's
/// connections one after another). The firewall's packet latency on a loaded
/// 2-core machine is tens of milliseconds per connection, so 500 strictly
/// serial connections may not fit in one sampling period; a few clients at
/// once keep H small (≤ `parallel`) and change nothing in what C2 checks:
/// the rate, and H = 0 at the 501st SYN, which is made alone.
fn connections(fw: &FirewallLab, n: usize, parallel: usize) {
    let parallel = parallel.clamp(1, n.max(1));
    let clients: Vec<_> = (0..parallel)
        .map(|k| {
            let mine = n / parallel + usize::from(k < n % parallel);
            netns::spawn_in(&fw.lab.ns.host5, move || {
                for i in 0..mine {
                    let c = std::net::TcpStream::connect_timeout(&sa(WEB, 80).into(), 5 * SEC)
                        .map_err(|e| {
                            std::io::Error::other(format!("client {k}, connection {}: {e}", i + 1))
                        })?;
                    drop(c);
                }
                Ok(())
            })
        })
        .collect();
    for c in clients {
        c.join()
            .expect("client thread")
            .expect("connections from host5");
    }
}

/// Waits until no half-open session is counted, so the next SYN meets H = 0
/// (with two workers the last ACK and the next SYN may be handled by
/// different workers).
fn wait_no_half_open(fw: &FirewallLab) {
    let half_open = || -> Option<u64> {
        let line = stat_line(fw, "Current session counts");
        let inner = line.split_once('[')?.1.split_once(']')?.0;
        inner.split(':').nth(1)?.parse().ok()
    };
    let ok = poll_until(5 * SEC, Duration::from_millis(20), || {
        (half_open() == Some(0)).then_some(())
    });
    assert!(ok.is_some(), "{}", stat_line(fw, "Current session counts"));
}

/// C2: 501 complete connections in one sampling period (500 from 8
/// clients at once, see [`connections`], then the 501st alone once no
/// session is half-open): ALERT_ON exactly at the 501st with
/// `count (0/500) current 1-min rate: 501`, the 501st succeeds; ALERT_OFF
/// at the period boundary with `count (0/400) current 1-min rate: 0`.
fn c2_one_minute_rate(workers: usize) {
    let fw = FirewallLab::start(workers, &[]);
    let _web = WebServer::start(&fw);
    fw.warm_up();
    let (spawned, _) = fw.started_between();
    let alert_on = "%FW-4-ALERT_ON: getting aggressive, count (0/500) current 1-min rate: 501";
    connections(&fw, 500, 8);
    wait_no_half_open(&fw);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        count_messages(&fw, "%FW-4-ALERT_ON"),
        0,
        "not before the 501st"
    );
    connections(&fw, 1, 1);
    let t_501 = Instant::now();
    eprintln!(
        "c2/{workers}w: 501st connection {:.1} s after start",
        secs(t_501 - spawned)
    );
    assert!(
        t_501 + SEC < spawned + 60 * SEC,
        "precondition: 501 connections within the first period ({:.1} s after start)",
        secs(t_501 - spawned)
    );
    assert!(
        fw.wait_log_message(alert_on, 5 * SEC).is_some(),
        "{:#?}",
        fw.log_messages()
    );
    let t_off = fw
        .wait_log_message(ALERT_OFF, 75 * SEC)
        .unwrap_or_else(|| panic!("no ALERT_OFF: {:#?}", fw.log_messages()));
    assert_at_period_boundary(&fw, "ALERT_OFF", t_off, 3.0);
    assert_eq!(
        fw_messages(&fw),
        [alert_on, ALERT_OFF],
        "exactly one ON and one OFF"
    );
    assert_eq!(
        stat_line(&fw, "Aggressive mode:"),
        "Aggressive mode: off (entered 1 times)"
    );
    assert_eq!(
        stat_line(&fw, "Last session creation rate"),
        "Last session creation rate 501"
    );
}

/// C2 control: 300 connections in one period and 201 in the next never
/// raise ALERT_ON (no period sees more than 500).
fn c2_control_split_over_two_periods(workers: usize) {
    let fw = FirewallLab::start(workers, &[]);
    let _web = WebServer::start(&fw);
    fw.warm_up();
    let (spawned, ready) = fw.started_between();
    connections(&fw, 300, 8);
    assert!(
        Instant::now() + 2 * SEC < spawned + 60 * SEC,
        "precondition: 300 connections within the first period"
    );
    // Past the first boundary (start lies between spawn and ready).
    std::thread::sleep((ready + 61 * SEC).saturating_duration_since(Instant::now()));
    assert_eq!(
        stat_line(&fw, "Last session creation rate"),
        "Last session creation rate 300"
    );
    connections(&fw, 201, 8);
    wait_no_half_open(&fw);
    std::thread::sleep(SEC);
    assert_eq!(fw_messages(&fw), Vec::<String>::new(), "no alarm");
}

/// C4: with `block-time 1` (spec: 2), the 51st SYN deletes all 50 half-open
/// sessions, is dropped, and blocks the host; an established session goes on
/// working; a SYN during the block is dropped; the block ends after one
/// minute with UNBLOCK_HOST and a new SYN then creates a session.
fn c4_block_time(workers: usize) {
    let fw = FirewallLab::start(
        workers,
        &["ip inspect tcp max-incomplete host 50 block-time 1"],
    );
    assert!(fw
        .cmd("show ip inspect config")
        .contains("max-incomplete tcp connections per host is 50. Block-time 1 minute.\n"));
    let server = mail_server(&fw);
    fw.warm_up();
    let est = sa(C, 40100);
    let mut c = smtp_client(&fw, 40100);
    c.write_all(b"HELO a.example\r\n").expect("HELO");
    assert_eq!(read_n(&mut c, 23), b"250 mail.example.test\r\n");
    mail_drops_syns(&fw);

    // The first SYN alone: it is the oldest half-open session for sure.
    send_syns(&fw, C, 41000..=41000);
    wait_forwarded_syns(&fw, 1, 5 * SEC);
    let (_, ok) = fw.wait_sessions(5 * SEC, |s| half_open_smtp_ports(s) == [41000]);
    assert!(ok, "the first half-open session");
    send_syns(&fw, C, 41001..=41049);
    wait_forwarded_syns(&fw, 50, 10 * SEC);
    let want: Vec<u16> = (41000..=41049).collect();
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| half_open_smtp_ports(s) == want);
    assert!(ok, "50 half-open sessions: {:?}", half_open_smtp_ports(&s));
    assert!(fw_messages(&fw).is_empty(), "{:#?}", fw_messages(&fw));

    let block = "%FW-2-BLOCK_HOST: Blocking new TCP connections to host 172.22.1.110 for 1 minute (half-open count 50 exceeded).";
    send_syns(&fw, C, 41050..=41050);
    let t_block = fw
        .wait_log_message(block, 5 * SEC)
        .unwrap_or_else(|| panic!("no BLOCK_HOST: {:#?}", fw.log_messages()));
    let (s, ok) = fw.wait_sessions(5 * SEC, |s| half_open_smtp_ports(s).is_empty());
    assert!(
        ok,
        "all half-open sessions deleted: {:?}",
        half_open_smtp_ports(&s)
    );
    assert_eq!(of(&s, est).len(), 1, "the established session stays: {s:?}");
    std::thread::sleep(SEC);
    assert_eq!(forwarded_syns(&fw), 50, "the 51st SYN is dropped");
    assert_eq!(
        stat_line(&fw, "Hosts blocked:"),
        "Hosts blocked: 1 (block events 1)"
    );

    // The established session works during the block.
    c.write_all(b"NOOP\r\n").expect("NOOP");
    assert_eq!(read_n(&mut c, 14), b"250 2.0.0 Ok\r\n");

    // A SYN from another client in the middle of the block is dropped.
    std::thread::sleep((t_block + 30 * SEC).saturating_duration_since(Instant::now()));
    send_syns(&fw, C2, 42000..=42000);
    std::thread::sleep(SEC);
    assert_eq!(forwarded_syns(&fw), 50, "SYN during the block dropped");
    assert!(of(&fw.sessions(), sa(C2, 42000)).is_empty());

    let unblock = "%FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked";
    let t_unblock = fw
        .wait_log_message(unblock, 45 * SEC)
        .unwrap_or_else(|| panic!("no UNBLOCK_HOST: {:#?}", fw.log_messages()));
    assert_between("block length", t_unblock - t_block, 58.5, 64.0);
    send_syns(&fw, C2, 42001..=42001);
    wait_forwarded_syns(&fw, 51, 5 * SEC);
    let s = of(&fw.sessions(), sa(C2, 42001));
    assert_eq!(
        s.iter()
            .map(|x| (x.responder, x.state.as_str()))
            .collect::<Vec<_>>(),
        [(sa(S_GLOBAL, 25), "SIS_OPENING")],
        "a SYN after the block creates a session"
    );
    assert_eq!(fw_messages(&fw), [block, unblock]);
    assert_eq!(
        stat_line(&fw, "Hosts blocked:"),
        "Hosts blocked: 0 (block events 1)"
    );
    drop(c);
    let recs = server.wait_for(1, 5 * SEC);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].received, b"HELO a.example\r\nNOOP\r\n");
}

/// C1, C2 (and its control) and C4 with one and with two workers, each on
/// its own lab, all at the same time: each needs a real sampling period or
/// block-time of a minute, so together they take about as long as one.
/// (Named `a0_…` so the test harness starts it first.)
#[test]
fn a0_sampling_period_cases_run_concurrently() {
    if skip() {
        return;
    }
    let mut cases: Vec<Case> = Vec::new();
    for workers in [1, 2] {
        cases.push((
            format!("c1_max_incomplete/{workers}w"),
            Box::new(move || c1_max_incomplete(workers)),
        ));
        cases.push((
            format!("c2_one_minute_rate/{workers}w"),
            Box::new(move || c2_one_minute_rate(workers)),
        ));
        cases.push((
            format!("c4_block_time/{workers}w"),
            Box::new(move || c4_block_time(workers)),
        ));
    }
    cases.push((
        "c2_control_split_over_two_periods/2w".to_string(),
        Box::new(|| c2_control_split_over_two_periods(2)),
    ));
    // `NETNS_CASES_ONLY=c4` runs only the cases whose name contains "c4".
    if let Ok(only) = std::env::var("NETNS_CASES_ONLY") {
        cases.retain(|(name, _)| name.contains(only.as_str()));
    }
    run_concurrently(cases);
}
