//! `ip virtual-reassembly` and egress re-fragmentation on the wire: the real
//! `mailguard` binary in the seed lab reassembles what Linux hosts fragment,
//! inspects and translates the whole datagram, and sends it on as fragments
//! again, which the far host reassembles (`cbac-sessions.md` §8.3,
//! `config-and-nat.md` §5.2 step 10).
//!
//! * `ping -s 4000` from host5 (inside, 10.10.10.5 → 172.22.1.111) to
//!   192.0.2.53 (behind the isp): the request and the reply each travel as
//!   three fragments through both reassembly tables and the ICMP session.
//! * A UDP echo of 4000 and 20 000 bytes (3 and 14 fragments each way)
//!   between Python sockets, byte for byte.
//! * `ping -s 4000` of the inside interface's own address: the router's
//!   echo reply leaves as fragments too.
//! * The same with two workers: every fragment is steered by addresses, so a
//!   datagram's fragments meet on one worker, which hands the datagram to the
//!   worker owning its flow when that is the other one. Twelve flows (twelve
//!   source ports) of each size must all come back, without a retry.
//!
//! Skipped (with a message) when not root or when the binary is not built.

use std::sync::Mutex;
use std::time::Duration;

use mailguard_tests::netlab::{can_run, poll_until, FirewallLab};

/// Namespace tests share the machine's two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn skip() -> bool {
    if !can_run() {
        eprintln!("skipped: needs root and a built mailguard binary (scripts/test.sh builds it)");
        return true;
    }
    false
}

/// UDP echo server on 192.0.2.53:5353 in the client namespace.
const ECHO_SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("192.0.2.53", 5353))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"#;

/// Sends N patterned bytes to the echo server and checks the answer.
const ECHO_CLIENT: &str = r#"
import socket, sys
n = int(sys.argv[1])
payload = bytes((i * 7 + 3) % 251 for i in range(n))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for attempt in range(5):
    s.sendto(payload, ("192.0.2.53", 5353))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        continue
    print("echo", len(data), "equal" if data == payload else "DIFFERENT")
    sys.exit(0 if data == payload else 1)
print("no echo")
sys.exit(1)
"#;

/// Sends N patterned bytes from each of K sockets (K source ports, so K
/// flows spread over the workers, 10 ms apart, large socket buffers so the
/// hosts do not drop) and counts the exact echoes; no retries.
const ECHO_MANY: &str = r#"
import socket, sys, time
n, k = int(sys.argv[1]), int(sys.argv[2])
payload = bytes((i * 7 + 3) % 251 for i in range(n))
socks = []
for _ in range(k):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.settimeout(3)
    s.sendto(payload, ("192.0.2.53", 5353))
    socks.append(s)
    time.sleep(0.01)
good = 0
for s in socks:
    try:
        data, _ = s.recvfrom(65535)
        good += data == payload
    except socket.timeout:
        pass
print("echoed", good, "of", k)
sys.exit(0 if good == k else 1)
"#;

/// TCP source on 192.0.2.53:8080: reads a byte count, sends that many
/// patterned bytes, closes.
const TCP_SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.53", 8080))
s.listen(8)
while True:
    c, _ = s.accept()
    n = int(c.recv(32).decode())
    c.sendall(bytes((i * 13 + 1) % 251 for i in range(n)))
    c.close()
"#;

/// Asks the TCP source for N bytes, checks every one.
const TCP_CLIENT: &str = r#"
import socket, sys
n = int(sys.argv[1])
c = socket.create_connection(("192.0.2.53", 8080), timeout=10)
c.sendall(str(n).encode())
got = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    got += b
ok = bytes(got) == bytes((i * 13 + 1) % 251 for i in range(n))
print("received", len(got), "equal" if ok else "DIFFERENT")
sys.exit(0 if ok else 1)
"#;

fn received(ping_output: &str) -> usize {
    ping_output
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("transmitted, ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
fn large_datagrams_cross_the_firewall_fragmented() {
    cross_fragmented(1);
}

#[test]
fn large_datagrams_cross_two_workers_fragmented() {
    cross_fragmented(2);
}

fn cross_fragmented(workers: usize) {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut fw = FirewallLab::start(workers, &[]);
    fw.warm_up();
    // Count fragments as they arrive on the far side of the firewall, before
    // any defragmentation in those namespaces (priority -450 < -400).
    let counters = |table: &str, src: &str| {
        format!(
            "table ip {table} {{\n\
             counter initial {{ }}\n\
             counter later {{ }}\n\
             chain pre {{\n\
             type filter hook prerouting priority -450; policy accept;\n\
             ip saddr {src} ip frag-off & 0x3fff == 0x2000 counter name \"initial\"\n\
             ip saddr {src} ip frag-off & 0x1fff != 0 counter name \"later\"\n\
             }}\n\
             }}\n"
        )
    };
    fw.nft(&fw.lab.ns.isp, &counters("fragout", "172.22.1.111"));
    fw.nft(&fw.lab.ns.host5, &counters("fragout", "192.0.2.53"));

    // ping -s 4000: 4028-byte datagrams, fragmented by host5 and by the
    // client's stack on the way back.
    let (ok, out) = fw.run(
        &fw.lab.ns.host5,
        &[
            "ping",
            "-c",
            "3",
            "-i",
            "0.3",
            "-W",
            "3",
            "-s",
            "4000",
            "192.0.2.53",
        ],
    );
    assert!(ok, "ping -s 4000 host5 → 192.0.2.53: {out}");
    assert_eq!(received(&out), 3, "every echo answered: {out}");
    // Each 4028-byte datagram left the firewall as 3 fragments, both ways.
    for ns in [&fw.lab.ns.isp, &fw.lab.ns.host5] {
        let initial = fw.nft_counter(ns, "fragout", "initial");
        let later = fw.nft_counter(ns, "fragout", "later");
        assert!(
            initial >= 3 && later >= 6,
            "fragments seen in {ns}: {initial} initial, {later} later"
        );
    }
    let sessions = fw.sessions();
    assert!(
        sessions.iter().any(|s| s.protocol == "icmp"),
        "the reassembled echo opened an ICMP session: {sessions:?}"
    );
    // `show ip virtual-reassembly`: both interfaces put the echoes together
    // (requests inside, replies outside), summed over the workers.
    let vfr = fw.cmd("show ip virtual-reassembly");
    let totals: Vec<u64> = vfr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Total reassembly count:"))
        .map(|n| n.parse().expect("a count"))
        .collect();
    assert!(
        totals.len() == 2 && totals.iter().all(|&n| n >= 3),
        "three 3-fragment echoes reassembled on each interface:\n{vfr}"
    );
    assert!(vfr.contains("   Total reassembly failures:0\n"), "{vfr}");

    // UDP, byte for byte, both ways through NAT.
    let client_ns = fw.lab.ns.client.clone();
    fw.spawn(&client_ns, &["python3", "-c", ECHO_SERVER]);
    let host5 = fw.lab.ns.host5.clone();
    for n in ["4000", "20000"] {
        let result = poll_until(Duration::from_secs(20), Duration::from_millis(200), || {
            let (ok, out) = fw.run(&host5, &["python3", "-c", ECHO_CLIENT, n]);
            ok.then_some(out)
        });
        let out = result.unwrap_or_else(|| {
            let (_, out) = fw.run(&host5, &["python3", "-c", ECHO_CLIENT, n]);
            panic!(
                "UDP echo of {n} bytes failed: {out}\nlog:\n{}",
                fw.log_text()
            )
        });
        assert!(out.contains(&format!("echo {n} equal")), "{out}");
    }
    // Many flows at once, each answered the first time.
    for n in ["4000", "20000"] {
        let (ok, out) = fw.run(&host5, &["python3", "-c", ECHO_MANY, n, "12"]);
        assert!(
            ok,
            "{workers} worker(s), 12 UDP echoes of {n} bytes: {out}\nlog:\n{}\n{}",
            fw.log_text(),
            fw.cmd("show interfaces")
        );
    }
    let (ok, out) = fw.run(
        &fw.lab.ns.host5,
        &[
            "ping",
            "-c",
            "6",
            "-i",
            "0.2",
            "-W",
            "3",
            "-s",
            "4000",
            "192.0.2.53",
        ],
    );
    assert!(ok && received(&out) == 6, "second ping run: {out}");
    // TCP with segments larger than the firewall's links: the client's link
    // to the isp carries 9000 bytes and its stack sends without DF
    // (`ip_no_pmtu_disc`), host5 advertises an MSS of 3960, so the server's
    // 4000-byte segments are fragmented by the isp router and reach the
    // firewall as fragments.
    let dev_of = |ns: &str, dst: &str| {
        let (_, route) = fw.run(ns, &["ip", "-4", "route", "get", dst]);
        let mut words = route.split_whitespace();
        words.find(|w| *w == "dev");
        words.next().unwrap_or_default().to_string()
    };
    let client_dev = dev_of(&client_ns, "172.22.1.111");
    let isp_dev = dev_of(&fw.lab.ns.isp, "192.0.2.53");
    for (ns, cmd) in [
        (
            &client_ns,
            vec!["ip", "link", "set", "dev", &client_dev, "mtu", "9000"],
        ),
        (
            &fw.lab.ns.isp,
            vec!["ip", "link", "set", "dev", &isp_dev, "mtu", "9000"],
        ),
        (
            &client_ns,
            vec!["sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1"],
        ),
    ] {
        let (ok, out) = fw.run(ns, &cmd);
        assert!(ok, "{cmd:?}: {out}");
    }
    let (_, route) = fw.run(&host5, &["ip", "-4", "route", "show", "default"]);
    let mut adv = vec!["ip", "route", "replace"];
    adv.extend(route.split_whitespace());
    adv.extend(["advmss", "3960"]);
    let (ok, out) = fw.run(&host5, &adv);
    assert!(ok, "{adv:?}: {out}");
    fw.spawn(&client_ns, &["python3", "-c", TCP_SERVER]);
    let later_before = fw.nft_counter(&host5, "fragout", "later");
    let result = poll_until(Duration::from_secs(20), Duration::from_millis(300), || {
        let (ok, out) = fw.run(&host5, &["python3", "-c", TCP_CLIENT, "300000"]);
        ok.then_some(out)
    });
    if !result.is_some_and(|o| o.contains("equal")) {
        let (_, out) = fw.run(&host5, &["python3", "-c", TCP_CLIENT, "300000"]);
        panic!(
            "{workers} worker(s): TCP transfer with 4000-byte segments failed: {out}\nlog:\n{}\n{}",
            fw.log_text(),
            fw.cmd("show ip inspect session"),
        );
    }
    let later = fw.nft_counter(&host5, "fragout", "later") - later_before;
    assert!(
        later >= 40,
        "TCP segments crossed as fragments: {later} later fragments"
    );

    // The router's own answer to a 4000-byte echo leaves fragmented too.
    let (ok, out) = fw.run(
        &fw.lab.ns.host5,
        &[
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "3",
            "-s",
            "4000",
            "10.10.10.1",
        ],
    );
    assert!(ok && received(&out) == 3, "ping -s 4000 10.10.10.1: {out}");
}
