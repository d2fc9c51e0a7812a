//! The whole packet path on the seed configuration, on a virtual clock
//! (acceptance cases of `seed-scenario.md` at the pipeline level).

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::drop_reason::DropReason;
use crate::show::SessionState;
use crate::sim::*;
use crate::wire::frame::{parse_frame, Ipv4Info, L4};

const C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const S_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 110);
const S_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 2);
const H5: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 5);
const H5_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 111);
const WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const DNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const SEC: u64 = 1_000_000_000;

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// How a test feeds a frame to the firewall (the fast paths are held to
/// the full path by feeding the same frames each way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// `process`: the single-frame (established and inspected) fast path first.
    Frame,
    /// `process_burst` with a burst of one: the burst fast path first.
    Burst,
    /// The full path only.
    FullOnly,
}

/// Feeds `frame` on `port` as `via` says, runs the timers, and returns what
/// was sent, as (port, frame).
pub(super) fn feed(
    lab: &mut SeedLab,
    via: Via,
    port: usize,
    frame: &[u8],
) -> Vec<(usize, Vec<u8>)> {
    use crate::worker::Processor;
    lab.tx.clear();
    let mut f = frame.to_vec();
    let (now, tx) = (lab.now, &mut lab.tx);
    match via {
        Via::Frame => lab.fw.process(now, port, &mut f, tx),
        Via::Burst => lab.fw.process_burst(now, port, &mut [f.as_mut_slice()], tx),
        Via::FullOnly => lab.fw.handle_frame_without_fast_path(now, port, &mut f, tx),
    }
    lab.fw.tick(lab.now, &mut lab.tx);
    lab.tx.iter().map(|(p, f)| (p, f.to_vec())).collect()
}

fn ipv4(frame: &[u8]) -> Ipv4Info {
    *parse_frame(frame)
        .expect("valid frame")
        .ipv4()
        .expect("ipv4")
}

fn from_outside(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp(ISP_MAC, FW_OUTSIDE_MAC, src, dst, seq, ack, flags, payload)
}

fn from_mail(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp(MAIL_MAC, FW_INSIDE_MAC, src, dst, seq, ack, flags, payload)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// B1: inbound SMTP SYN is translated and forwarded, a half-open session
/// appears, and the handshake makes it established.
#[test]
fn b1_inbound_smtp_session() {
    let mut lab = SeedLab::new(&[]);
    let out = lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40001), sa(S_GLOBAL, 25), 1000, 0, SYN, b""),
    );
    assert_eq!(out.len(), 1, "SYN forwarded");
    let (port, f) = &out[0];
    assert_eq!(*port, INSIDE);
    let ip = ipv4(f);
    assert_eq!((ip.src, ip.dst, ip.ttl), (C, S_LOCAL, 63));
    assert_eq!(&f[..6], &MAIL_MAC.0);
    let r = lab.report();
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.sessions[0].state, SessionState::HalfOpen);
    assert_eq!(r.sessions[0].responder, sa(S_GLOBAL, 25));
    // SYN-ACK from the server leaves from 172.22.1.110:25.
    let out = lab.send(
        INSIDE,
        &from_mail(sa(S_LOCAL, 25), sa(C, 40001), 5000, 1001, SYN | ACK, b""),
    );
    assert_eq!(out.len(), 1);
    let ip = ipv4(&out[0].1);
    assert_eq!((out[0].0, ip.src, ip.dst), (OUTSIDE, S_GLOBAL, C));
    assert_eq!(&out[0].1[..6], &ISP_MAC.0);
    let out = lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40001), sa(S_GLOBAL, 25), 1001, 5001, ACK, b""),
    );
    assert_eq!(out.len(), 1);
    let r = lab.report();
    assert_eq!(r.sessions[0].state, SessionState::Established);
    // Only the SYN met access list 101.
    assert_eq!(r.acl_hits, vec![vec![1]]);
}

/// B2: the implicit deny drops other inbound flows, with one ICMP 3/13
/// (the second is rate-limited).
#[test]
fn b2_acl_implicit_deny() {
    let mut lab = SeedLab::new(&[]);
    let out = lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40002), sa(S_GLOBAL, 80), 1, 0, SYN, b""),
    );
    assert_eq!(out.len(), 1, "one ICMP unreachable");
    let ip = ipv4(&out[0].1);
    assert_eq!(
        (out[0].0, ip.src, ip.dst),
        (OUTSIDE, Ipv4Addr::new(172, 22, 1, 16), C)
    );
    match ip.l4 {
        L4::Icmp(i) => assert_eq!((i.icmp_type, i.code), (3, 13)),
        other => panic!("not ICMP: {other:?}"),
    }
    let out = lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40003), sa(H5_GLOBAL, 25), 1, 0, SYN, b""),
    );
    assert!(out.is_empty(), "second deny within 500 ms is silent");
    assert_eq!(lab.fw.drops().0[DropReason::AclDenyIn.index()], 2);
    assert!(lab.report().sessions.is_empty());
}

/// B3: an inside-initiated session's return traffic passes list 101; an
/// unsolicited packet does not.
#[test]
fn b3_outbound_session_and_return_traffic() {
    let mut lab = SeedLab::new(&[]);
    let syn = tcp(
        HOST5_MAC,
        FW_INSIDE_MAC,
        sa(H5, 50000),
        sa(WEB, 80),
        7,
        0,
        SYN,
        b"",
    );
    let out = lab.send(INSIDE, &syn);
    assert_eq!(out.len(), 1);
    let ip = ipv4(&out[0].1);
    assert_eq!((out[0].0, ip.src, ip.dst), (OUTSIDE, H5_GLOBAL, WEB));
    let r = lab.report();
    assert_eq!(r.sessions[0].protocol.keyword(), "http");
    assert_eq!(r.sessions[0].initiator, sa(H5, 50000));
    let synack = from_outside(sa(WEB, 80), sa(H5_GLOBAL, 50000), 100, 8, SYN | ACK, b"");
    let out = lab.send(OUTSIDE, &synack);
    assert_eq!(out.len(), 1, "return traffic bypasses list 101");
    let ip = ipv4(&out[0].1);
    assert_eq!((out[0].0, ip.dst), (INSIDE, H5));
    // Unsolicited: other port.
    let out = lab.send(
        OUTSIDE,
        &from_outside(sa(WEB, 80), sa(H5_GLOBAL, 50001), 100, 8, ACK, b""),
    );
    assert!(out.iter().all(|(_, f)| !matches!(ipv4(f).l4, L4::Tcp(_))));
    let out = lab.send(
        OUTSIDE,
        &from_outside(sa(WEB, 81), sa(H5_GLOBAL, 50000), 100, 8, ACK, b""),
    );
    assert!(out.iter().all(|(_, f)| !matches!(ipv4(f).l4, L4::Tcp(_))));
}

/// B4: DNS sessions end 5 s after the answer; later answers are dropped.
#[test]
fn b4_udp_dns_timeout() {
    let mut lab = SeedLab::new(&[]);
    let q = udp(
        HOST5_MAC,
        FW_INSIDE_MAC,
        sa(H5, 53000),
        sa(DNS, 53),
        b"query",
    );
    assert_eq!(lab.send(INSIDE, &q).len(), 1);
    assert_eq!(lab.report().sessions[0].state, SessionState::HalfOpen);
    lab.advance(SEC);
    let a = udp(
        ISP_MAC,
        FW_OUTSIDE_MAC,
        sa(DNS, 53),
        sa(H5_GLOBAL, 53000),
        b"answer",
    );
    let out = lab.send(OUTSIDE, &a);
    assert_eq!(out.len(), 1);
    assert_eq!(ipv4(&out[0].1).dst, H5);
    assert_eq!(lab.report().sessions[0].state, SessionState::Established);
    lab.advance(5 * SEC + 200_000_000);
    assert!(
        lab.report().sessions.is_empty(),
        "dns-timeout after the answer"
    );
    assert!(lab.send(OUTSIDE, &a).iter().all(|(p, _)| *p != INSIDE));
}

/// B5: ICMP echo session; the reply passes; a time-exceeded quoting the
/// request is translated inside and out; one quoting another id is dropped.
#[test]
fn b5_icmp_session_and_errors() {
    let mut lab = SeedLab::new(&[]);
    let req = icmp(HOST5_MAC, FW_INSIDE_MAC, H5, WEB, 8, 0, &echo_body(7, 1));
    let out = lab.send(INSIDE, &req);
    assert_eq!(out.len(), 1);
    let sent = out[0].1.clone();
    assert_eq!(ipv4(&sent).src, H5_GLOBAL);
    let r = lab.report();
    assert_eq!(r.sessions[0].initiator, sa(H5, 0));
    let reply = icmp(
        ISP_MAC,
        FW_OUTSIDE_MAC,
        WEB,
        H5_GLOBAL,
        0,
        0,
        &echo_body(7, 1),
    );
    let out = lab.send(OUTSIDE, &reply);
    assert_eq!(out.len(), 1);
    assert_eq!(ipv4(&out[0].1).dst, H5);
    // time-exceeded from 172.22.1.1 quoting the request as it left.
    let quoted = &sent[14..14 + 28];
    let mut body = vec![0u8; 4];
    body.extend_from_slice(quoted);
    let te = icmp(
        ISP_MAC,
        FW_OUTSIDE_MAC,
        Ipv4Addr::new(172, 22, 1, 1),
        H5_GLOBAL,
        11,
        0,
        &body,
    );
    let out = lab.send(OUTSIDE, &te);
    assert_eq!(out.len(), 1, "error of the session is forwarded");
    let f = &out[0].1;
    let ip = ipv4(f);
    assert_eq!(ip.dst, H5);
    // Embedded source rewritten to the local address.
    assert_eq!(&f[14 + 20 + 8 + 12..14 + 20 + 8 + 16], &H5.octets());
    // Another identifier: dropped.
    let other = icmp(HOST5_MAC, FW_INSIDE_MAC, H5, WEB, 8, 0, &echo_body(8, 1));
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&other[14..14 + 28]);
    body[4 + 12..4 + 16].copy_from_slice(&H5_GLOBAL.octets());
    let te = icmp(
        ISP_MAC,
        FW_OUTSIDE_MAC,
        Ipv4Addr::new(172, 22, 1, 1),
        H5_GLOBAL,
        11,
        0,
        &body,
    );
    assert!(lab.send(OUTSIDE, &te).is_empty());
    // After 10.5 s without a request, the reply is dropped.
    lab.advance(10 * SEC + 500_000_000);
    assert!(
        lab.report().sessions.is_empty(),
        "ICMP timeout from the last request"
    );
    assert!(lab.send(OUTSIDE, &reply).iter().all(|(p, _)| *p != INSIDE));
}

/// B6: SYN-wait expiry deletes the half-open session without any RST.
#[test]
fn b6_synwait_expiry() {
    let mut lab = SeedLab::new(&[]);
    lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40006), sa(S_GLOBAL, 25), 9, 0, SYN, b""),
    );
    lab.advance(29 * SEC);
    assert_eq!(lab.report().sessions.len(), 1);
    let out = lab.advance(2 * SEC);
    assert!(out.is_empty(), "no RST when no SYN-ACK was seen");
    assert!(lab.report().sessions.is_empty());
}

/// B7: FIN exchange, finwait and the audit trail line.
#[test]
fn b7_fin_finwait_audit_trail() {
    let mut lab = SeedLab::new(&["ip inspect audit-trail"]);
    let c = sa(C, 40007);
    let s = sa(S_GLOBAL, 25);
    let sl = sa(S_LOCAL, 25);
    lab.send(OUTSIDE, &from_outside(c, s, 100, 0, SYN, b""));
    lab.send(INSIDE, &from_mail(sl, c, 500, 101, SYN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 101, 501, ACK, b""));
    let greeting = b"220 mail.example.test ESMTP\r\n";
    assert_eq!(
        lab.send(INSIDE, &from_mail(sl, c, 501, 101, PSH | ACK, greeting))
            .len(),
        1
    );
    let helo = b"HELO a.example\r\n";
    assert_eq!(
        lab.send(OUTSIDE, &from_outside(c, s, 101, 530, PSH | ACK, helo))
            .len(),
        1
    );
    let r250 = b"250 mail.example.test\r\n";
    lab.send(INSIDE, &from_mail(sl, c, 530, 117, PSH | ACK, r250));
    let quit = b"QUIT\r\n";
    assert_eq!(
        lab.send(OUTSIDE, &from_outside(c, s, 117, 553, PSH | ACK, quit))
            .len(),
        1
    );
    let bye = b"221 2.0.0 Bye\r\n";
    lab.send(INSIDE, &from_mail(sl, c, 553, 123, PSH | ACK, bye));
    lab.send(INSIDE, &from_mail(sl, c, 568, 123, FIN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 123, 569, FIN | ACK, b""));
    lab.send(INSIDE, &from_mail(sl, c, 569, 124, ACK, b""));
    assert_eq!(lab.report().sessions[0].state, SessionState::Closing);
    lab.logs();
    lab.advance(5 * SEC + 200_000_000);
    assert!(lab.report().sessions.is_empty());
    let logs = lab.logs();
    assert!(
        logs.iter().any(|l| l
            == "%FW-6-SESS_AUDIT_TRAIL: smtp session initiator (198.51.100.7:40007) sent 22 bytes -- responder (172.22.1.110:25) sent 67 bytes"),
        "{logs:?}"
    );
}

/// C3: per-host limit with block-time 0 deletes the oldest half-open session.
#[test]
fn c3_per_host_limit() {
    let mut lab = SeedLab::new(&[]);
    for p in 41000..=41050u16 {
        let out = lab.send(
            OUTSIDE,
            &from_outside(sa(C, p), sa(S_GLOBAL, 25), 1, 0, SYN, b""),
        );
        assert!(
            out.iter().any(|(port, _)| *port == INSIDE),
            "SYN {p} forwarded"
        );
    }
    let r = lab.report();
    assert_eq!(r.sessions.len(), 50);
    assert!(r.sessions.iter().all(|s| s.initiator.port() != 41000));
    let logs = lab.logs();
    assert_eq!(
        logs.iter()
            .filter(|l| l.contains("%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 172.22.1.110."))
            .count(),
        1,
        "{logs:?}"
    );
    assert!(!logs
        .iter()
        .any(|l| l.contains("ALERT_ON: getting aggressive")));
}

/// D2 through the pipeline: an illegal verb is masked in place with the
/// lengths and sequence numbers unchanged, and logged.
#[test]
fn d2_masking_in_the_packet_path() {
    let mut lab = SeedLab::new(&[]);
    let c = sa(C, 40012);
    let s = sa(S_GLOBAL, 25);
    let sl = sa(S_LOCAL, 25);
    lab.send(OUTSIDE, &from_outside(c, s, 100, 0, SYN, b""));
    lab.send(INSIDE, &from_mail(sl, c, 500, 101, SYN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 101, 501, ACK, b""));
    let greeting = b"220 mail.example.test ESMTP\r\n";
    lab.send(INSIDE, &from_mail(sl, c, 501, 101, PSH | ACK, greeting));
    let out = lab.send(
        OUTSIDE,
        &from_outside(c, s, 101, 530, PSH | ACK, b"EXPN root\r\n"),
    );
    assert_eq!(out.len(), 1);
    let f = &out[0].1;
    let ip = ipv4(f);
    let L4::Tcp(t) = ip.l4 else { panic!("tcp") };
    assert_eq!(&f[t.payload_range()], b"XXXXXXXXX\r\n");
    assert_eq!(t.seq.0, 101);
    let logs = lab.logs();
    assert!(
        logs.iter().any(|l| l
            == "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:40012)"),
        "{logs:?}"
    );
}

/// ARP for the NAT aliases (B8) is answered with the interface MAC.
#[test]
fn b8_arp_for_aliases() {
    let mut lab = SeedLab::new(&[]);
    for (target, answered) in [
        (S_GLOBAL, true),
        (H5_GLOBAL, true),
        (Ipv4Addr::new(172, 22, 1, 16), true),
        (Ipv4Addr::new(172, 22, 1, 112), false),
    ] {
        let out = lab.send(
            OUTSIDE,
            &arp_request(ISP_MAC, Ipv4Addr::new(172, 22, 1, 1), target),
        );
        assert_eq!(!out.is_empty(), answered, "{target}");
        if answered {
            assert_eq!(&out[0].1[22..28], &FW_OUTSIDE_MAC.0);
        }
    }
}

/// Malformed frames of every kind are counted drops, never panics.
#[test]
fn malformed_frames_are_counted_drops() {
    let mut lab = SeedLab::new(&[]);
    // A 54-byte SYN (padded to 60): every cut shorter than the datagram is malformed.
    let good = from_outside(sa(C, 40001), sa(S_GLOBAL, 25), 1000, 0, SYN, b"");
    for cut in 0..54 {
        assert!(lab.send(OUTSIDE, &good[..cut]).is_empty());
    }
    let mut bad = good.clone();
    bad[14 + 10] ^= 0xff; // IP checksum
    assert!(lab.send(OUTSIDE, &bad).is_empty());
    let mut bad = good.clone();
    bad[14 + 20 + 16] ^= 0xff; // TCP checksum
    assert!(lab.send(OUTSIDE, &bad).is_empty());
    let d = lab.fw.drops();
    assert_eq!(d.total(), 56, "{d:?}");
    assert!(lab.report().sessions.is_empty());
}

/// An access-list entry with `log` reports the first match at once and
/// aggregates the next ones (`config-and-nat.md` §3.2).
#[test]
fn acl_log_lines() {
    let mut lab = SeedLab::new(&["access-list 101 deny tcp any any eq www log"]);
    lab.logs();
    lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40000), sa(S_GLOBAL, 80), 1, 0, SYN, b""),
    );
    lab.send(
        OUTSIDE,
        &from_outside(sa(C, 40001), sa(S_GLOBAL, 80), 1, 0, SYN, b""),
    );
    let logs = lab.logs();
    assert_eq!(
        logs,
        vec!["%SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.7(40000) -> 172.22.1.110(80), 1 packet".to_string()]
    );
    lab.advance(301 * SEC);
    let logs = lab.logs();
    assert!(
        logs.iter().any(|l| l == "%SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.7(40001) -> 172.22.1.110(80), 1 packet"),
        "{logs:?}"
    );
}

/// C1: 501 UDP half-open sessions turn aggressive mode on at the 501st with
/// the exact figures; it turns off at the sampling-period boundary.
#[test]
fn c1_max_incomplete_count() {
    let mut lab = SeedLab::new(&[]);
    lab.logs();
    let mut forwarded = 0;
    for p in 40001..=40501u16 {
        let d = udp(HOST5_MAC, FW_INSIDE_MAC, sa(H5, p), sa(DNS, 9), b"x");
        forwarded += lab
            .send(INSIDE, &d)
            .iter()
            .filter(|(port, _)| *port == OUTSIDE)
            .count();
    }
    assert_eq!(forwarded, 501, "all 501 datagrams forwarded");
    let r = lab.report();
    assert_eq!(r.sessions.len(), 500);
    assert!(
        r.sessions.iter().all(|s| s.initiator.port() != 40001),
        "oldest deleted"
    );
    let logs = lab.logs();
    assert_eq!(
        logs,
        vec![
            "%FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501"
                .to_string()
        ]
    );
    // Sessions expire at t≈30 s: no ALERT_OFF yet (rate alarm).
    lab.advance(31 * SEC);
    assert!(lab.report().sessions.is_empty());
    assert!(lab.logs().is_empty());
    // The period boundary at t=60 s (the lab's clock started at 1 s).
    lab.advance(30 * SEC);
    assert_eq!(
        lab.logs(),
        vec!["%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0".to_string()]
    );
}

/// C4: per-host limit with block-time: the 51st SYN deletes all half-open
/// sessions and blocks the host; an established session continues; the
/// block ends after 2 minutes.
#[test]
fn c4_block_time() {
    let mut lab = SeedLab::new(&["ip inspect tcp max-incomplete host 50 block-time 2"]);
    let c = sa(C, 40100);
    let s = sa(S_GLOBAL, 25);
    let sl = sa(S_LOCAL, 25);
    lab.send(OUTSIDE, &from_outside(c, s, 100, 0, SYN, b""));
    lab.send(INSIDE, &from_mail(sl, c, 500, 101, SYN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 101, 501, ACK, b""));
    lab.send(
        INSIDE,
        &from_mail(
            sl,
            c,
            501,
            101,
            PSH | ACK,
            b"220 mail.example.test ESMTP\r\n",
        ),
    );
    lab.send(
        OUTSIDE,
        &from_outside(c, s, 101, 530, PSH | ACK, b"HELO a.example\r\n"),
    );
    lab.send(
        INSIDE,
        &from_mail(sl, c, 530, 117, PSH | ACK, b"250 mail.example.test\r\n"),
    );
    lab.logs();
    for p in 41000..=41049u16 {
        lab.send(OUTSIDE, &from_outside(sa(C, p), s, 1, 0, SYN, b""));
    }
    let out = lab.send(OUTSIDE, &from_outside(sa(C, 41050), s, 1, 0, SYN, b""));
    assert!(out.iter().all(|(p, _)| *p != INSIDE), "51st SYN dropped");
    let r = lab.report();
    assert_eq!(r.sessions.len(), 1, "only the established session is left");
    assert_eq!(
        lab.logs(),
        vec![
            "%FW-2-BLOCK_HOST: Blocking new TCP connections to host 172.22.1.110 for 2 minutes (half-open count 50 exceeded)."
                .to_string()
        ]
    );
    // The established session still works during the block.
    let out = lab.send(
        OUTSIDE,
        &from_outside(c, s, 117, 553, PSH | ACK, b"NOOP\r\n"),
    );
    assert!(out.iter().any(|(p, _)| *p == INSIDE));
    lab.advance(60 * SEC);
    let other = Ipv4Addr::new(198, 51, 100, 8);
    let out = lab.send(OUTSIDE, &from_outside(sa(other, 42000), s, 1, 0, SYN, b""));
    assert!(out.iter().all(|(p, _)| *p != INSIDE), "blocked at t+60");
    lab.advance(61 * SEC);
    assert!(lab
        .logs()
        .iter()
        .any(|l| l
            == "%FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked"));
    let out = lab.send(OUTSIDE, &from_outside(sa(other, 42001), s, 1, 0, SYN, b""));
    assert!(out.iter().any(|(p, _)| *p == INSIDE), "unblocked");
}

/// B9: a port-unreachable about a UDP session's datagram is translated
/// inside and out, with valid checksums.
#[test]
fn b9_icmp_error_of_udp_session() {
    let mut lab = SeedLab::new(&[]);
    let d = udp(
        HOST5_MAC,
        FW_INSIDE_MAC,
        sa(H5, 53001),
        sa(DNS, 5000),
        b"ping",
    );
    let out = lab.send(INSIDE, &d);
    let sent = out[0].1.clone();
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&sent[14..14 + 28]);
    let err = icmp(ISP_MAC, FW_OUTSIDE_MAC, DNS, H5_GLOBAL, 3, 3, &body);
    let out = lab.send(OUTSIDE, &err);
    assert_eq!(out.len(), 1);
    let f = &out[0].1;
    let parsed = parse_frame(f).expect("checksums valid after translation");
    let ip = parsed.ipv4().unwrap();
    assert_eq!(ip.dst, H5);
    let L4::Icmp(i) = ip.l4 else { panic!("icmp") };
    let e = i.embedded.expect("embedded");
    assert_eq!(e.src, H5);
    // Embedded IP checksum valid.
    let emb = &f[14 + 20 + 8..14 + 20 + 8 + 20];
    assert_eq!(crate::wire::checksum::checksum(emb), 0);
}

/// B10: a rule timeout of 20 s removes an idle established session; a later
/// data segment passes list 101 but creates nothing.
#[test]
fn b10_rule_timeout() {
    let mut lab = SeedLab::new(&["ip inspect name OUT-IN smtp timeout 20"]);
    let c = sa(C, 40010);
    let s = sa(S_GLOBAL, 25);
    let sl = sa(S_LOCAL, 25);
    lab.send(OUTSIDE, &from_outside(c, s, 100, 0, SYN, b""));
    lab.send(INSIDE, &from_mail(sl, c, 500, 101, SYN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 101, 501, ACK, b""));
    lab.advance(19 * SEC);
    assert_eq!(lab.report().sessions.len(), 1);
    lab.advance(2 * SEC);
    assert!(lab.report().sessions.is_empty());
    let out = lab.send(
        OUTSIDE,
        &from_outside(c, s, 101, 501, PSH | ACK, b"NOOP\r\n"),
    );
    assert!(out.iter().any(|(p, _)| *p == INSIDE), "passes list 101");
    assert!(
        lab.report().sessions.is_empty(),
        "no session from a non-SYN"
    );
}

/// Two workers sharing one half-open registry: C1's figures hold exactly
/// when the 501 flows are spread over both workers by their flow hash.
#[test]
fn c1_holds_across_two_workers() {
    use std::sync::Arc;

    use crate::config::Config;
    use crate::io::TxSink;
    use crate::logging::{DebugFlags, LogQueues, StampedRecord};
    use crate::pipeline::{Firewall, FirewallSizing};
    use crate::runtime::Runtime;
    use crate::shared::Shared;
    use crate::worker::Processor;

    let (cfg, _) = Config::load(SEED_CONFIG).unwrap();
    let rt = Runtime::build(cfg, crate::sim::seed_ports(), 1).unwrap();
    let debug = Arc::new(DebugFlags::new());
    let mut now = SEC;
    let shared = Arc::new(Shared::new(rt, 2, 4096, now, 0, Arc::clone(&debug)).unwrap());
    let (mut producers, queues) = LogQueues::new(2, 4096, debug);
    let mut workers: Vec<Firewall> = (0..2)
        .map(|w| {
            Firewall::new(
                w as u16,
                Arc::clone(&shared),
                producers.remove(0),
                FirewallSizing::default(),
                now,
            )
            .unwrap()
        })
        .collect();
    let mut tx = TxSink::with_capacity(64);
    for w in workers.iter_mut() {
        let isp = Ipv4Addr::new(172, 22, 1, 1);
        let mut f = arp_request(ISP_MAC, isp, Ipv4Addr::new(172, 22, 1, 16));
        w.process(now, OUTSIDE, &mut f, &mut tx);
    }
    let mut per_worker = [0usize; 2];
    let mut forwarded = 0;
    for p in 40001..=40501u16 {
        let mut d = udp(HOST5_MAC, FW_INSIDE_MAC, sa(H5, p), sa(DNS, 9), b"x");
        let owner = (workers[0].steer(INSIDE, &d).unwrap() % 2) as usize;
        per_worker[owner] += 1;
        tx.clear();
        workers[owner].process(now, INSIDE, &mut d, &mut tx);
        // Both workers apply the registry's decisions promptly.
        now += 1_000_000;
        for w in workers.iter_mut() {
            w.tick(now, &mut tx);
        }
        forwarded += tx.iter().filter(|(port, _)| *port == OUTSIDE).count();
    }
    assert!(per_worker[0] > 100 && per_worker[1] > 100, "{per_worker:?}");
    assert_eq!(forwarded, 501);
    let total: usize = workers.iter().map(|w| w.session_count()).sum();
    assert_eq!(total, 500, "H stays at max-incomplete high across workers");
    let mut logs: Vec<StampedRecord> = Vec::new();
    queues.drain_into(&mut logs, usize::MAX);
    let lines: Vec<String> = logs.iter().map(|r| r.record.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "%FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501"
                .to_string()
        ]
    );
}

/// A client that reuses its port after the FIN exchange opens a new session
/// at once instead of waiting for the FIN-wait timer of the old one.
#[test]
fn syn_after_fin_exchange_reopens() {
    let mut lab = SeedLab::new(&[]);
    let c = sa(C, 40070);
    let s = sa(S_GLOBAL, 25);
    let sl = sa(S_LOCAL, 25);
    lab.send(OUTSIDE, &from_outside(c, s, 100, 0, SYN, b""));
    lab.send(INSIDE, &from_mail(sl, c, 500, 101, SYN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 101, 501, ACK, b""));
    lab.send(INSIDE, &from_mail(sl, c, 501, 101, FIN | ACK, b""));
    lab.send(OUTSIDE, &from_outside(c, s, 101, 502, FIN | ACK, b""));
    lab.send(INSIDE, &from_mail(sl, c, 502, 102, ACK, b""));
    assert_eq!(lab.report().sessions[0].state, SessionState::Closing);
    let out = lab.send(OUTSIDE, &from_outside(c, s, 90_000, 0, SYN, b""));
    assert!(out.iter().any(|(p, _)| *p == INSIDE), "new SYN forwarded");
    let r = lab.report();
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.sessions[0].state, SessionState::HalfOpen);
}

/// `ip virtual-reassembly` (on both seed interfaces): a fragmented UDP
/// datagram is reassembled, creates its session like a whole one, and leaves
/// translated; a lone non-initial fragment goes nowhere.
#[test]
fn fragments_are_reassembled_before_inspection() {
    let mut lab = SeedLab::new(&[]);
    let payload = vec![0x5a; 100];
    let whole = udp(
        HOST5_MAC,
        FW_INSIDE_MAC,
        sa(H5, 53100),
        sa(DNS, 5000),
        &payload,
    );
    let ip = &whole[14..14 + 20 + 8 + 100];
    let fragment = |offset: usize, data: &[u8], more: bool| {
        let mut f = whole[..14 + 20].to_vec();
        f.extend_from_slice(data);
        let total = (20 + data.len()) as u16;
        f[14 + 2..14 + 4].copy_from_slice(&total.to_be_bytes());
        let flags_off = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
        f[14 + 6..14 + 8].copy_from_slice(&flags_off.to_be_bytes());
        f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        let c = crate::wire::checksum::checksum(&f[14..14 + 20]);
        f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        while f.len() < 60 {
            f.push(0);
        }
        f
    };
    let first = fragment(0, &ip[20..20 + 48], true);
    let second = fragment(48, &ip[20 + 48..], false);
    assert!(lab.send(INSIDE, &second).is_empty(), "held until complete");
    let out = lab.send(INSIDE, &first);
    // Judged whole, then sent on as the fragments it arrived in (egress
    // re-fragmentation, `transmit.rs`), translated.
    assert_eq!(
        out.len(),
        2,
        "the reassembled datagram leaves as its fragments"
    );
    let mut data = Vec::new();
    for (i, (port, f)) in out.iter().enumerate() {
        assert_eq!(*port, OUTSIDE);
        let ip = ipv4(f);
        assert_eq!((ip.src, ip.dst), (H5_GLOBAL, DNS));
        assert_eq!(
            (usize::from(ip.frag_offset), ip.more_fragments),
            if i == 0 { (0, true) } else { (48, false) }
        );
        data.extend_from_slice(&f[ip.l4_offset..ip.end()]);
    }
    assert_eq!(&data[8..], &payload[..], "UDP payload intact");
    assert_eq!(lab.report().sessions.len(), 1);
    // A lone later fragment of another datagram never leaves.
    let mut orphan = fragment(48, &[1; 16], false);
    orphan[14 + 4..14 + 6].copy_from_slice(&0x4321u16.to_be_bytes());
    orphan[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    let c = crate::wire::checksum::checksum(&orphan[14..14 + 20]);
    orphan[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert!(lab.send(INSIDE, &orphan).is_empty());
    // What `show ip virtual-reassembly` reads: the inside port's table holds
    // the orphan; one datagram was reassembled from two fragments.
    let vfr = lab.report().vfr[INSIDE];
    assert_eq!((vfr.reassemblies, vfr.fragments), (1, 1));
    assert_eq!(vfr.counters.fragments, 3);
    assert_eq!(vfr.counters.reassembled, 1);
    assert_eq!(lab.report().vfr[OUTSIDE].counters.fragments, 0);
}

/// The established fast path against the full path: two labs with the same
/// sessions, one running `handle_frame` (fast path first), the other the full
/// path only; every packet must give the same output frames, the same
/// sessions (tracker, timers, counters) and the same log lines.
mod fast_path {
    use proptest::prelude::*;

    use super::*;
    use crate::io::TxSink;
    use crate::wire::ethernet::Mac;
    use crate::worker::Processor;

    const RST: u8 = 0x04;
    const URG: u8 = 0x20;
    const ECE: u8 = 0x40;

    /// How a lab runs its frames.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Path {
        WithFastPath,
        FullOnly,
    }

    fn send(lab: &mut SeedLab, path: Path, port: usize, frame: &[u8]) -> Vec<(usize, Vec<u8>)> {
        lab.tx.clear();
        let mut f = frame.to_vec();
        match path {
            Path::WithFastPath => lab.fw.handle_frame(lab.now, port, &mut f, &mut lab.tx),
            Path::FullOnly => {
                lab.fw
                    .handle_frame_without_fast_path(lab.now, port, &mut f, &mut lab.tx)
            }
        }
        lab.fw.tick(lab.now, &mut lab.tx);
        lab.tx.iter().map(|(p, f)| (p, f.to_vec())).collect()
    }

    /// One flow of the test: who sends on which port, with which addresses.
    #[derive(Clone, Copy)]
    struct Flow {
        tcp: bool,
        /// (port, src mac, dst mac, src, dst) for the initiator's packets.
        out: (usize, Mac, Mac, SocketAddrV4, SocketAddrV4),
        /// The same for the responder's packets.
        back: (usize, Mac, Mac, SocketAddrV4, SocketAddrV4),
    }

    fn flows() -> Vec<Flow> {
        vec![
            // http, source NAT (inside → outside).
            Flow {
                tcp: true,
                out: (INSIDE, HOST5_MAC, FW_INSIDE_MAC, sa(H5, 50000), sa(WEB, 80)),
                back: (
                    OUTSIDE,
                    ISP_MAC,
                    FW_OUTSIDE_MAC,
                    sa(WEB, 80),
                    sa(H5_GLOBAL, 50000),
                ),
            },
            // smtp, destination NAT (outside → inside): never the fast path.
            Flow {
                tcp: true,
                out: (
                    OUTSIDE,
                    ISP_MAC,
                    FW_OUTSIDE_MAC,
                    sa(C, 40001),
                    sa(S_GLOBAL, 25),
                ),
                back: (
                    INSIDE,
                    MAIL_MAC,
                    FW_INSIDE_MAC,
                    sa(S_LOCAL, 25),
                    sa(C, 40001),
                ),
            },
            // udp, source NAT.
            Flow {
                tcp: false,
                out: (
                    INSIDE,
                    HOST5_MAC,
                    FW_INSIDE_MAC,
                    sa(H5, 53001),
                    sa(DNS, 5000),
                ),
                back: (
                    OUTSIDE,
                    ISP_MAC,
                    FW_OUTSIDE_MAC,
                    sa(DNS, 5000),
                    sa(H5_GLOBAL, 53001),
                ),
            },
            // dns (udp/53): dns-timeout re-armed by every answer.
            Flow {
                tcp: false,
                out: (INSIDE, HOST5_MAC, FW_INSIDE_MAC, sa(H5, 53002), sa(DNS, 53)),
                back: (
                    OUTSIDE,
                    ISP_MAC,
                    FW_OUTSIDE_MAC,
                    sa(DNS, 53),
                    sa(H5_GLOBAL, 53002),
                ),
            },
        ]
    }

    /// Initial sequence numbers of the TCP flows' initiator and responder.
    const ISN: [u32; 2] = [1000, 5000];

    fn frame(
        flow: &Flow,
        reverse: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> (usize, Vec<u8>) {
        let (port, smac, dmac, src, dst) = if reverse { flow.back } else { flow.out };
        let f = if flow.tcp {
            tcp(smac, dmac, src, dst, seq, ack, flags, payload)
        } else {
            udp(smac, dmac, src, dst, payload)
        };
        (port, f)
    }

    /// A lab with the fast path and one with the full path only, every flow
    /// opened on both.
    fn opened_pair() -> [(SeedLab, Path); 2] {
        let mut labs = [
            (SeedLab::new(&[]), Path::WithFastPath),
            (SeedLab::new(&[]), Path::FullOnly),
        ];
        open(&mut labs);
        labs
    }

    /// Opens every flow on both labs (handshake, or a datagram each way).
    fn open(labs: &mut [(SeedLab, Path); 2]) {
        for flow in flows() {
            let steps: Vec<(bool, u32, u32, u8)> = if flow.tcp {
                vec![
                    (false, ISN[0], 0, SYN),
                    (true, ISN[1], ISN[0] + 1, SYN | ACK),
                    (false, ISN[0] + 1, ISN[1] + 1, ACK),
                ]
            } else {
                vec![(false, 0, 0, 0), (true, 0, 0, 0)]
            };
            for (reverse, seq, ack, flags) in steps {
                let (port, f) = frame(&flow, reverse, seq, ack, flags, b"");
                for (lab, path) in labs.iter_mut() {
                    let out = send(lab, *path, port, &f);
                    assert_eq!(out.len(), 1, "opening packet forwarded");
                }
            }
        }
    }

    fn set_ttl(f: &mut [u8], ttl: u8) {
        f[14 + 8] = ttl;
        f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        let c = crate::wire::checksum::checksum(&f[14..34]);
        f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    }

    /// A packet of the random walk.
    #[derive(Debug, Clone)]
    struct Step {
        flow: usize,
        reverse: bool,
        flags: u8,
        dseq: i64,
        dack: i64,
        payload: Vec<u8>,
        ttl_one: bool,
        wait_ms: u64,
        /// Instead of a segment, a gratuitous ARP from neighbour 0 (ISP), 1
        /// (host5) or 2 (mail server), with its own MAC or a moved one.
        arp: Option<(usize, bool)>,
    }

    /// The gratuitous ARP of a [`Step`] (port, frame).
    fn gratuitous_arp(who: usize, moved: bool) -> (usize, Vec<u8>) {
        let (port, mac, ip) = match who {
            0 => (OUTSIDE, ISP_MAC, Ipv4Addr::new(172, 22, 1, 1)),
            1 => (INSIDE, HOST5_MAC, H5),
            _ => (INSIDE, MAIL_MAC, S_LOCAL),
        };
        let mut mac = mac;
        if moved {
            mac.0[4] ^= 0x80;
        }
        (port, arp_request(mac, ip, ip))
    }

    fn step() -> impl Strategy<Value = Step> {
        let flags = prop_oneof![
            6 => Just(ACK),
            3 => Just(ACK | PSH),
            1 => Just(ACK | URG),
            1 => Just(ACK | ECE),
            1 => Just(ACK | FIN),
            1 => Just(RST),
            1 => Just(RST | ACK),
            1 => Just(SYN),
            1 => Just(PSH),
        ];
        let delta = prop_oneof![
            6 => Just(0i64),
            2 => -3000i64..3000,
            1 => -200_000i64..200_000,
        ];
        (
            0usize..4,
            any::<bool>(),
            flags,
            delta.clone(),
            delta,
            proptest::collection::vec(prop_oneof![b'a'..=b'z', Just(b'\r'), Just(b'\n')], 0..40),
            proptest::bool::weighted(0.05),
            prop_oneof![8 => 0u64..50, 1 => 0u64..40_000],
            proptest::option::weighted(0.05, (0usize..3, any::<bool>())),
        )
            .prop_map(
                |(flow, reverse, flags, dseq, dack, payload, ttl_one, wait_ms, arp)| Step {
                    flow,
                    reverse,
                    flags,
                    dseq,
                    dack,
                    payload,
                    ttl_one,
                    wait_ms,
                    arp,
                },
            )
    }

    /// Runs `steps` on a lab with the fast path and on one with the full path
    /// only, in bursts of the given sizes (cycled), and compares the output and
    /// the state after every burst. `burst_api`: the fast lab receives each
    /// burst through `process_burst` (burst lookup) rather than frame by frame.
    /// `mtu`: the IP MTU of both ports once the flows are open (small values
    /// send the larger frames to fragmentation-needed, off the fast transmit).
    fn compare(
        steps: Vec<Step>,
        bursts: &[usize],
        burst_api: bool,
        mtu: Option<u16>,
    ) -> Result<(), TestCaseError> {
        let mut labs = opened_pair();
        if let Some(mtu) = mtu {
            for (lab, _) in labs.iter_mut() {
                lab.fw.set_ip_mtu(OUTSIDE, mtu);
                lab.fw.set_ip_mtu(INSIDE, mtu);
            }
        }
        let flows = flows();
        // Next sequence number per flow and side, as the senders see it.
        let mut next = [[ISN[0] + 1, ISN[1] + 1]; 4];
        let mut frames = Vec::new();
        for s in &steps {
            if let Some((who, moved)) = s.arp {
                let (port, f) = gratuitous_arp(who, moved);
                frames.push((port, f, s.wait_ms));
                continue;
            }
            let flow = &flows[s.flow];
            let side = usize::from(s.reverse);
            let seq = (i64::from(next[s.flow][side]) + s.dseq) as u32;
            let ack = (i64::from(next[s.flow][1 - side]) + s.dack) as u32;
            let (port, mut f) = frame(flow, s.reverse, seq, ack, s.flags, &s.payload);
            if s.ttl_one {
                set_ttl(&mut f, 1);
            }
            if s.dseq == 0 {
                next[s.flow][side] = next[s.flow][side]
                    .wrapping_add(s.payload.len() as u32 + u32::from(s.flags & FIN != 0));
            }
            frames.push((port, f, s.wait_ms));
        }
        let mut at = 0;
        let mut sizes = bursts.iter().cycle();
        while at < frames.len() {
            // One burst: frames of one port in a row, at most `size` of them.
            let size = *sizes.next().unwrap_or(&1);
            let port = frames[at].0;
            let mut end = at + 1;
            while end < frames.len() && end - at < size && frames[end].0 == port {
                end += 1;
            }
            let wait = frames[at].2;
            let mut outs = Vec::new();
            let mut states = Vec::new();
            for (lab, path) in labs.iter_mut() {
                lab.now += wait * 1_000_000;
                lab.tx.clear();
                let mut copies: Vec<Vec<u8>> =
                    frames[at..end].iter().map(|f| f.1.clone()).collect();
                match (*path, burst_api) {
                    (Path::WithFastPath, true) => {
                        let mut slices: Vec<&mut [u8]> =
                            copies.iter_mut().map(|f| f.as_mut_slice()).collect();
                        lab.fw
                            .process_burst(lab.now, port, &mut slices, &mut lab.tx);
                    }
                    (Path::WithFastPath, false) => {
                        for f in copies.iter_mut() {
                            lab.fw.handle_frame(lab.now, port, f, &mut lab.tx);
                        }
                    }
                    (Path::FullOnly, _) => {
                        for f in copies.iter_mut() {
                            lab.fw
                                .handle_frame_without_fast_path(lab.now, port, f, &mut lab.tx);
                        }
                    }
                }
                lab.fw.tick(lab.now, &mut lab.tx);
                let out: Vec<(usize, Vec<u8>)> =
                    lab.tx.iter().map(|(p, f)| (p, f.to_vec())).collect();
                outs.push(out);
                states.push((lab.fw.state_dump(), lab.logs()));
            }
            prop_assert_eq!(&outs[0], &outs[1], "{:?}", &steps[at..end]);
            prop_assert_eq!(&states[0], &states[1], "{:?}", &steps[at..end]);
            at = end;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn same_output_and_state_as_the_full_path(
            steps in proptest::collection::vec(step(), 1..48),
        ) {
            compare(steps, &[1], false, None)?;
        }

        #[test]
        fn bursts_give_the_same_output_and_state_as_the_full_path(
            steps in proptest::collection::vec(step(), 1..64),
            bursts in proptest::collection::vec(1usize..40, 1..4),
            mtu in prop_oneof![3 => Just(None), 1 => (68u16..100).prop_map(Some)],
        ) {
            compare(steps, &bursts, true, mtu)?;
        }
    }

    /// The fast path takes ordinary segments of a non-inspected session and
    /// leaves everything that changes state, or is inspected, to the full
    /// path.
    #[test]
    fn what_takes_the_fast_path() {
        let mut labs = opened_pair();
        let lab = &mut labs[0].0;
        let flows = flows();
        let mut tx = TxSink::with_capacity(16);
        let mut fast = |lab: &mut SeedLab, flow: usize, reverse: bool, flags: u8, p: &[u8]| {
            let side = usize::from(reverse);
            let seq = ISN[side] + 1;
            let ack = ISN[1 - side] + 1;
            let (port, mut f) = frame(&flows[flow], reverse, seq, ack, flags, p);
            tx.clear();
            lab.fw.forward_established(lab.now, port, &mut f, &mut tx)
        };
        assert!(fast(lab, 0, false, ACK, b""));
        assert!(fast(lab, 0, true, ACK | PSH, b"data"));
        assert!(fast(lab, 2, false, 0, b"datagram"));
        assert!(fast(lab, 2, true, 0, b"datagram"));
        assert!(
            !fast(lab, 3, true, 0, b"dns answer"),
            "dns re-arms its timer"
        );
        assert!(
            fast(lab, 1, false, ACK, b""),
            "smtp: the inspected fast path"
        );
        assert!(!fast(lab, 0, false, ACK | FIN, b""), "FIN changes state");
        assert!(!fast(lab, 0, false, RST | ACK, b""), "RST changes state");
        assert!(!fast(lab, 0, false, SYN, b""), "SYN may reopen");
    }

    /// The destination MACs of the IPv4 frames sent out of `port`.
    fn ipv4_to(out: &[(usize, Vec<u8>)], port: usize) -> Vec<Mac> {
        out.iter()
            .filter(|(p, f)| *p == port && f[12..14] == [0x08, 0x00])
            .map(|(_, f)| Mac(f[..6].try_into().expect("6 bytes")))
            .collect()
    }

    /// An ARP reply from (`mac`, `ip`) to the firewall's inside address.
    fn arp_reply_to_inside(mac: Mac, ip: Ipv4Addr) -> Vec<u8> {
        let mut f = arp_request(mac, ip, Ipv4Addr::new(10, 10, 10, 1));
        f[..6].copy_from_slice(&FW_INSIDE_MAC.0);
        f[20..22].copy_from_slice(&[0, 2]);
        f[32..38].copy_from_slice(&FW_INSIDE_MAC.0);
        f
    }

    /// A neighbour that moves mid-session (a gratuitous ARP from host5, an
    /// ARP reply from the mail server): the next packets of the live sessions
    /// go to the new MAC whichever path forwards them (single-frame fast path,
    /// burst fast path, inspected fast path, full path); the other direction
    /// keeps its next hop. A neighbour whose entry expires under a live
    /// session is resolved again: the session's next packet waits for ARP
    /// (who-has sent) and leaves to the MAC of the answer.
    #[test]
    fn sessions_follow_a_neighbour_that_moves() {
        const HOST5_MOVED: Mac = Mac([0x02, 0x0a, 0, 0, 0x01, 0x05]);
        const MAIL_MOVED: Mac = Mac([0x02, 0x0a, 0, 0, 0x01, 0x02]);
        for via in [Via::Frame, Via::Burst, Via::FullOnly] {
            let mut labs = opened_pair();
            let lab = &mut labs[0].0;
            let flows = flows();
            // An ordinary segment of flow 0 (http, host5 ↔ web) or 1 (smtp,
            // client ↔ mail server, inspected).
            let seg = |flow: usize, reverse: bool| {
                let side = usize::from(reverse);
                frame(
                    &flows[flow],
                    reverse,
                    ISN[side] + 1,
                    ISN[1 - side] + 1,
                    ACK,
                    b"",
                )
            };
            let run = |lab: &mut SeedLab, (port, f): (usize, Vec<u8>)| feed(lab, via, port, &f);
            // Twice each: the second packet takes the fast paths (cache filled).
            for _ in 0..2 {
                let out = run(lab, seg(0, true));
                assert_eq!(ipv4_to(&out, INSIDE), vec![HOST5_MAC], "{via:?}");
                let out = run(lab, seg(1, false));
                assert_eq!(ipv4_to(&out, INSIDE), vec![MAIL_MAC], "{via:?}");
            }
            // Host5 announces a new MAC; the mail server answers with one.
            let h5 = Ipv4Addr::new(10, 10, 10, 5);
            let srv = Ipv4Addr::new(10, 10, 10, 2);
            run(lab, (INSIDE, arp_request(HOST5_MOVED, h5, h5)));
            run(lab, (INSIDE, arp_reply_to_inside(MAIL_MOVED, srv)));
            for _ in 0..2 {
                let out = run(lab, seg(0, true));
                assert_eq!(ipv4_to(&out, INSIDE), vec![HOST5_MOVED], "{via:?}");
                let out = run(lab, seg(1, false));
                assert_eq!(ipv4_to(&out, INSIDE), vec![MAIL_MOVED], "{via:?}");
                let out = run(lab, seg(0, false));
                assert_eq!(ipv4_to(&out, OUTSIDE), vec![ISP_MAC], "{via:?}");
            }
            // Keep the http session alive for 3.5 hours (below its idle
            // timeout each time): the neighbour entries stay.
            for _ in 0..7 {
                lab.advance(30 * 60 * SEC);
                let out = run(lab, seg(0, true));
                assert_eq!(ipv4_to(&out, INSIDE), vec![HOST5_MOVED], "{via:?}");
            }
            // Four hours after they were learned the entries expire: the
            // session's next packet waits for ARP.
            lab.advance(31 * 60 * SEC);
            let out = run(lab, seg(0, true));
            assert_eq!(ipv4_to(&out, INSIDE), vec![], "{via:?}: waits for ARP");
            let asks: Vec<&Vec<u8>> = out
                .iter()
                .filter(|(p, f)| *p == INSIDE && f[12..14] == [0x08, 0x06])
                .map(|(_, f)| f)
                .collect();
            assert_eq!(asks.len(), 1, "{via:?}: one who-has");
            assert_eq!(&asks[0][38..42], &h5.octets(), "{via:?}: for host5");
            // Host5 answers (from yet another MAC): the waiting packet leaves
            // to it, and so do the session's next packets.
            let out = run(lab, (INSIDE, arp_reply_to_inside(HOST5_MAC, h5)));
            assert_eq!(ipv4_to(&out, INSIDE), vec![HOST5_MAC], "{via:?}: released");
            for _ in 0..2 {
                let out = run(lab, seg(0, true));
                assert_eq!(ipv4_to(&out, INSIDE), vec![HOST5_MAC], "{via:?}");
            }
        }
    }

    /// Ownership is the kernel fanout's peer hash: every frame of a flow, in
    /// both directions, translated or not, whether the compact parse takes
    /// it or leaves it to the full parse (SYN, FIN), is owned by the worker
    /// the kernel's program placed it on, so it never needs a handoff.
    #[test]
    fn steering_is_the_kernel_peer_hash() {
        let lab = SeedLab::new(&[]);
        for flow in flows() {
            let mut owners = Vec::new();
            for reverse in [false, true] {
                for flags in [ACK, ACK | PSH, SYN, ACK | FIN] {
                    let (port, f) = frame(&flow, reverse, 1, 2, flags, b"x");
                    let kernel = crate::io::steer::peer_hash(&f, lab.fw.rt.peer_side(port))
                        .expect("an IPv4 frame");
                    let steered = lab.fw.steer(port, &f);
                    assert_eq!(steered, Some(u64::from(kernel)), "{flags:#x}");
                    owners.push(steered);
                }
            }
            owners.dedup();
            assert_eq!(owners.len(), 1, "both directions of a flow: one owner");
        }
    }

    /// An ICMP error belongs to the session of the datagram it quotes, which
    /// left through the port the error arrives on: it is steered to the
    /// owner of that flow (the kernel hashed it on its sender), on either
    /// interface, for TCP and UDP flows.
    #[test]
    fn icmp_errors_are_steered_to_the_quoted_flows_owner() {
        let lab = SeedLab::new(&[]);
        let router = Ipv4Addr::new(192, 0, 2, 254);
        for flow in flows() {
            for reverse in [false, true] {
                let (port, f) = frame(&flow, reverse, 1, 2, ACK, b"x");
                let (_, smac, dmac, src, dst) = if reverse { flow.back } else { flow.out };
                // The datagram that left through `port`, towards `src`.
                let quoted = if flow.tcp {
                    tcp(dmac, smac, dst, src, 2, 1, ACK, b"")
                } else {
                    udp(dmac, smac, dst, src, b"")
                };
                let mut body = vec![0u8; 4];
                body.extend_from_slice(&quoted[14..14 + 20 + 8]);
                let error = icmp(smac, dmac, router, *dst.ip(), 3, 3, &body);
                assert_eq!(
                    lab.fw.steer(port, &error),
                    lab.fw.steer(port, &f),
                    "{:?} reverse={reverse}",
                    flow.out
                );
            }
        }
    }

    /// The fast path's per-configuration caches (the ports' MACs, the static
    /// translations' map) follow a new runtime: after the outside port's MAC
    /// changes, frames forwarded from a burst leave with the new source MAC,
    /// and frames still addressed to the old one are not ours, exactly as on
    /// the full path.
    #[test]
    fn a_new_runtime_reaches_the_fast_transmit() {
        let mut labs = opened_pair();
        let new_mac = Mac([0x02, 0x4d, 0x47, 0x00, 0x20, 0x99]);
        let flows = flows();
        let out = frame(&flows[0], false, ISN[0] + 1, ISN[1] + 1, ACK, b"");
        let back_old = frame(&flows[0], true, ISN[1] + 1, ISN[0] + 1, ACK, b"");
        let mut back_new = back_old.clone();
        back_new.1[..6].copy_from_slice(&new_mac.0);
        let mut outs = Vec::new();
        for (lab, path) in labs.iter_mut() {
            let (cfg, _) = crate::config::Config::load(SEED_CONFIG).expect("seed config");
            let mut ports = seed_ports();
            ports[OUTSIDE].mac = new_mac;
            let rt = crate::runtime::Runtime::build(cfg, ports, 2).expect("runtime");
            lab.shared.install(rt).expect("installed");
            let mut got = Vec::new();
            for (port, f) in [&out, &back_old, &back_new] {
                lab.tx.clear();
                let mut copy = f.clone();
                match path {
                    Path::WithFastPath => {
                        let mut burst = [copy.as_mut_slice()];
                        lab.fw
                            .process_burst(lab.now, *port, &mut burst, &mut lab.tx);
                    }
                    Path::FullOnly => {
                        lab.fw.tick(lab.now, &mut lab.tx);
                        lab.fw.handle_frame_without_fast_path(
                            lab.now,
                            *port,
                            &mut copy,
                            &mut lab.tx,
                        );
                    }
                }
                got.push(
                    lab.tx
                        .iter()
                        .map(|(p, f)| (p, f.to_vec()))
                        .collect::<Vec<_>>(),
                );
            }
            outs.push((got, lab.fw.state_dump()));
        }
        let (got, _) = &outs[0];
        assert_eq!(got[0].len(), 1);
        assert_eq!(got[0][0].0, OUTSIDE);
        assert_eq!(&got[0][0].1[6..12], &new_mac.0, "the new source MAC");
        assert!(got[1].is_empty(), "the old MAC is no longer ours");
        assert_eq!(got[2].len(), 1, "the new one is");
        assert_eq!(outs[0], outs[1]);
    }

    /// A datagram too big for the egress MTU leaves the fast transmit for the
    /// general one, whatever took it there: an ordinary segment from the
    /// burst fast path, a FIN from the session path. With DF set (as the
    /// simulated hosts send) both are answered with ICMP
    /// fragmentation-needed and counted as `too_big`, never as malformed.
    #[test]
    fn too_big_for_the_egress_mtu_through_the_fast_transmit() {
        let mut labs = opened_pair();
        let lab = &mut labs[0].0;
        lab.fw.set_ip_mtu(OUTSIDE, 68);
        let flows = flows();
        let payload = [b'x'; 40];
        let too_big = lab.fw.drops().0[DropReason::TooBig.index()];
        let malformed = lab.fw.drops().0[DropReason::MalformedIp.index()];
        for (n, flags) in [ACK | PSH, ACK | FIN].into_iter().enumerate() {
            let (port, f) = frame(&flows[0], false, ISN[0] + 1, ISN[1] + 1, flags, &payload);
            // Past the ICMP error rate limit.
            lab.now += 2 * SEC;
            lab.tx.clear();
            let mut copy = f.clone();
            let mut burst = [copy.as_mut_slice()];
            lab.fw.process_burst(lab.now, port, &mut burst, &mut lab.tx);
            let out: Vec<(usize, Vec<u8>)> = lab.tx.iter().map(|(p, f)| (p, f.to_vec())).collect();
            assert_eq!(out.len(), 1, "{flags:#x}: one ICMP error");
            assert_eq!(out[0].0, INSIDE, "back to the sender");
            let icmp = ipv4(&out[0].1);
            let L4::Icmp(i) = icmp.l4 else {
                panic!("ICMP expected: {icmp:?}")
            };
            assert_eq!((i.icmp_type, i.code), (3, 4), "fragmentation needed");
            assert_eq!(
                lab.fw.drops().0[DropReason::TooBig.index()],
                too_big + n as u64 + 1
            );
        }
        assert_eq!(lab.fw.drops().0[DropReason::MalformedIp.index()], malformed);
        // A frame that fits still leaves by the fast transmit.
        let (port, f) = frame(&flows[0], false, ISN[0] + 1, ISN[1] + 1, ACK, b"");
        assert_eq!(send(lab, Path::WithFastPath, port, &f).len(), 1);
    }

    /// Transport checksums: an ordinary segment of a non-inspected session is
    /// forwarded as a router would, corrupt or not (the receiver discards
    /// it); a FIN or RST with a bad checksum, and any segment of an SMTP
    /// session, are dropped as malformed (they could change state or reach
    /// the inspector).
    #[test]
    fn transport_checksum_where_it_matters() {
        let mut labs = opened_pair();
        let lab = &mut labs[0].0;
        let flows = flows();
        let corrupt = |flow: usize, flags: u8, payload: &[u8]| {
            let (port, mut f) = frame(&flows[flow], false, ISN[0] + 1, ISN[1] + 1, flags, payload);
            f[14 + 20 + 16] ^= 0x5a;
            (port, f)
        };
        let (port, f) = corrupt(0, ACK | PSH, b"abc");
        assert_eq!(send(lab, Path::WithFastPath, port, &f).len(), 1);
        let malformed = lab.fw.drops().0[DropReason::MalformedL4.index()];
        for (flow, flags, payload) in [
            (0, ACK | FIN, &b""[..]),
            (0, RST | ACK, b""),
            (1, ACK | PSH, b"MAIL FROM:<a@b>\r\n"),
        ] {
            let (port, f) = corrupt(flow, flags, payload);
            assert!(send(lab, Path::WithFastPath, port, &f).is_empty());
        }
        assert_eq!(
            lab.fw.drops().0[DropReason::MalformedL4.index()],
            malformed + 3
        );
    }
}
