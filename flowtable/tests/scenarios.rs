//! Table-level acceptance cases of `seed-scenario.md` on a virtual clock:
//! B4–B7, B10 (sessions and timeouts) and C1–C4 (half-open protections), with
//! the exact alert lines.

mod common;

use common::*;
use flowtable::{HalfOpenConfig, InspectStatistics, Nanos, SessionGauges, TimeoutKind};

const C: &str = "198.51.100.7";
const S: &str = "172.22.1.110";
const HOST5: &str = "10.10.10.5";

/// Ticks every 10 ms from `from` to `to` inclusive.
fn run(sim: &mut Sim, from: Nanos, to: Nanos) {
    let mut t = from;
    while t <= to {
        sim.tick(t);
        t = t + Nanos::from_millis(10);
    }
}

#[test]
fn b4_udp_and_dns_timeout() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    let q = udp(HOST5, 53000, "192.0.2.53", 53, INSIDE);
    let reply = udp("192.0.2.53", 53, "172.22.1.111", 53000, OUTSIDE);
    assert_eq!(sim.packet(secs(0.0), q, Kind::Udp(30)), Verdict::Forward);
    assert_eq!(
        sim.sessions(),
        [" (10.10.10.5:53000)=>(192.0.2.53:53) udp SIS_OPENING"]
    );
    run(&mut sim, secs(0.0), secs(1.0));
    assert_eq!(
        sim.packet(secs(1.0), reply, Kind::Udp(60)),
        Verdict::Forward
    );
    assert_eq!(
        sim.sessions(),
        [" (10.10.10.5:53000)=>(192.0.2.53:53) udp SIS_OPEN"]
    );
    run(&mut sim, secs(1.0), secs(5.99));
    assert_eq!(
        sim.sessions().len(),
        1,
        "dns-timeout counts from the last packet (t=1)"
    );
    run(&mut sim, secs(6.0), secs(6.0));
    assert!(sim.sessions().is_empty(), "removed at t=6");
    assert_eq!(sim.packet(secs(7.0), reply, Kind::Udp(60)), Verdict::Drop);

    // Port 123: the UDP idle time (30 s) from the last packet.
    let q = udp(HOST5, 53002, "192.0.2.53", 123, INSIDE);
    let reply = udp("192.0.2.53", 123, "172.22.1.111", 53002, OUTSIDE);
    let t0 = secs(100.0);
    sim.packet(t0, q, Kind::Udp(48));
    run(&mut sim, t0, t0 + secs(25.0));
    assert_eq!(
        sim.packet(t0 + secs(25.0), reply, Kind::Udp(48)),
        Verdict::Forward
    );
    run(&mut sim, t0 + secs(25.0), t0 + secs(56.0));
    assert_eq!(
        sim.packet(t0 + secs(56.0), reply, Kind::Udp(48)),
        Verdict::Drop
    );
    assert_eq!(sim.table.stats().expired(TimeoutKind::Dns), 1);
    assert_eq!(sim.table.stats().expired(TimeoutKind::UdpIdle), 1);
}

#[test]
fn b5_icmp_from_last_outgoing_packet() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    let req = icmp(HOST5, 7, "203.0.113.9", INSIDE);
    let reply = icmp("203.0.113.9", 0, "172.22.1.111", OUTSIDE);
    let reply = flowtable::FlowKey {
        dst_port: 7,
        ..reply
    };
    assert_eq!(
        sim.packet(secs(0.0), req, Kind::EchoRequest),
        Verdict::Forward
    );
    assert_eq!(
        sim.sessions(),
        [" (10.10.10.5:0)=>(203.0.113.9:0) icmp SIS_OPEN"]
    );
    assert_eq!(
        sim.packet(secs(0.1), reply, Kind::EchoReply),
        Verdict::Forward
    );
    // Replies do not extend the timeout.
    sim.packet(secs(5.0), reply, Kind::EchoReply);
    run(&mut sim, secs(0.0), secs(10.5));
    assert_eq!(
        sim.packet(secs(10.5), reply, Kind::EchoReply),
        Verdict::Drop
    );
    assert!(sim.sessions().is_empty());
    assert_eq!(sim.reg.snapshot().halfopen, 0, "ICMP is never half-open");

    // Ten pings one second apart: the session lives until 10 s after the last.
    let t0 = secs(100.0);
    for i in 0..10 {
        sim.packet(t0 + secs(i as f64), req, Kind::EchoRequest);
        sim.packet(t0 + secs(i as f64 + 0.05), reply, Kind::EchoReply);
    }
    run(&mut sim, t0, t0 + secs(18.99));
    assert_eq!(sim.sessions().len(), 1);
    run(&mut sim, t0 + secs(19.0), t0 + secs(19.0));
    assert!(sim.sessions().is_empty());
}

#[test]
fn b6_synwait_without_synack_sends_no_rst() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    let syn = tcp(C, 40006, S, 25, OUTSIDE);
    assert_eq!(sim.packet(secs(0.0), syn, Kind::Syn), Verdict::Forward);
    run(&mut sim, secs(0.0), secs(29.0));
    assert_eq!(
        sim.sessions(),
        [" (198.51.100.7:40006)=>(172.22.1.110:25) smtp SIS_OPENING"]
    );
    assert_eq!(sim.reg.snapshot().halfopen, 1);
    run(&mut sim, secs(29.0), secs(31.0));
    assert!(sim.sessions().is_empty());
    assert!(sim.rsts.is_empty());
    let snap = sim.reg.snapshot();
    assert_eq!((snap.halfopen, snap.deleted.synwait), (0, 1));
    // A forged SYN-ACK from the inside creates nothing.
    let synack = tcp("10.10.10.2", 25, C, 40006, INSIDE);
    assert_eq!(sim.packet(secs(32.0), synack, Kind::SynAck), Verdict::Drop);
    assert!(sim.table.is_empty());
}

#[test]
fn b6_synwait_after_synack_sends_rst_to_responder() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    sim.packet(secs(0.0), tcp(C, 40016, S, 25, OUTSIDE), Kind::Syn);
    sim.packet(
        secs(0.1),
        tcp("10.10.10.2", 25, C, 40016, INSIDE),
        Kind::SynAck,
    );
    run(&mut sim, secs(0.0), secs(30.0));
    assert_eq!(sim.rsts, [tcp(C, 40016, "10.10.10.2", 25, INSIDE)]);
}

/// Handshake + the B7 dialogue on C:`port`, returning the time after it.
fn smtp_dialogue(sim: &mut Sim, port: u16, t: f64) -> f64 {
    let c2s = tcp(C, port, S, 25, OUTSIDE);
    let s2c = tcp("10.10.10.2", 25, C, port, INSIDE);
    assert_eq!(sim.packet(secs(t), c2s, Kind::Syn), Verdict::Forward);
    assert_eq!(
        sim.packet(secs(t + 0.01), s2c, Kind::SynAck),
        Verdict::Forward
    );
    assert_eq!(sim.packet(secs(t + 0.02), c2s, Kind::Ack), Verdict::Forward);
    for (i, (dir, n)) in [(1, 29), (0, 16), (1, 23)].into_iter().enumerate() {
        let k = if dir == 0 { c2s } else { s2c };
        assert_eq!(
            sim.packet(secs(t + 0.1 + i as f64 * 0.1), k, Kind::Data(n)),
            Verdict::Forward
        );
    }
    t + 0.5
}

#[test]
fn b7_finwait_and_audit_trail() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    sim.audit = true;
    let c2s = tcp(C, 40007, S, 25, OUTSIDE);
    let s2c = tcp("10.10.10.2", 25, C, 40007, INSIDE);
    let t = smtp_dialogue(&mut sim, 40007, 0.0);
    sim.packet(secs(t), c2s, Kind::Data(6));
    sim.packet(secs(t + 0.1), s2c, Kind::Data(15));
    sim.packet(secs(t + 0.2), s2c, Kind::Fin);
    assert_eq!(
        sim.sessions(),
        [" (198.51.100.7:40007)=>(172.22.1.110:25) smtp SIS_OPEN"]
    );
    let second_fin = t + 0.3;
    sim.packet(secs(second_fin), c2s, Kind::Fin);
    sim.packet(secs(second_fin + 0.01), s2c, Kind::Ack);
    assert_eq!(
        sim.sessions(),
        [" (198.51.100.7:40007)=>(172.22.1.110:25) smtp SIS_CLOSING"]
    );
    run(&mut sim, secs(0.0), secs(second_fin + 4.99));
    assert_eq!(sim.sessions().len(), 1);
    assert!(sim.log.is_empty());
    run(&mut sim, secs(second_fin + 4.99), secs(second_fin + 5.01));
    assert!(sim.sessions().is_empty());
    assert_eq!(
        sim.lines(),
        ["%FW-6-SESS_AUDIT_TRAIL: smtp session initiator (198.51.100.7:40007) sent 22 bytes -- responder (172.22.1.110:25) sent 67 bytes"]
    );
    let (at, _) = sim.log[0];
    assert!(
        at >= secs(second_fin + 5.0) && at <= secs(second_fin + 5.01),
        "{at:?}"
    );
}

#[test]
fn b10_rule_timeout() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    sim.smtp_timeout = Some(Nanos::from_secs(20));
    let t = smtp_dialogue(&mut sim, 40010, 0.0);
    let last = t - 0.2; // the server's 250 line
    run(&mut sim, secs(0.0), secs(last + 19.9));
    assert_eq!(
        sim.sessions(),
        [" (198.51.100.7:40010)=>(172.22.1.110:25) smtp SIS_OPEN"]
    );
    run(&mut sim, secs(last + 19.9), secs(last + 21.0));
    assert!(sim.sessions().is_empty());
    // A later data segment finds no session and creates none (not a SYN).
    assert_eq!(
        sim.packet(secs(t + 22.0), tcp(C, 40010, S, 25, OUTSIDE), Kind::Data(6)),
        Verdict::Drop
    );
    assert!(sim.table.is_empty());
}

#[test]
fn c1_max_incomplete_count() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    for i in 0..501u16 {
        let t = secs(i as f64 * 0.001);
        let v = sim.packet(
            t,
            udp(HOST5, 40001 + i, "192.0.2.53", 9, INSIDE),
            Kind::Udp(10),
        );
        assert_eq!(v, Verdict::Forward, "datagram {}", i + 1);
        sim.tick(t);
        if i == 499 {
            assert_eq!(sim.reg.snapshot().halfopen, 500);
            assert!(sim.lines().is_empty());
        }
    }
    assert_eq!(
        sim.lines(),
        ["%FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501"]
    );
    assert_eq!(sim.reg.snapshot().halfopen, 500);
    assert_eq!(sim.halfopen_count(), 500);
    assert!(
        sim.table
            .lookup_key(&udp(HOST5, 40001, "192.0.2.53", 9, INSIDE))
            .is_none(),
        "40001 deleted"
    );
    assert!(sim
        .table
        .lookup_key(&udp(HOST5, 40501, "192.0.2.53", 9, INSIDE))
        .is_some());
    // t≈30: everything expires, count alarm cleared, rate alarm holds aggressive mode.
    run(&mut sim, secs(0.5), secs(30.6));
    let snap = sim.reg.snapshot();
    assert_eq!(
        (
            snap.halfopen,
            snap.count_alarm,
            snap.rate_alarm,
            snap.aggressive
        ),
        (0, false, true, true)
    );
    assert!(sim.table.is_empty());
    assert_eq!(sim.lines().len(), 1);
    run(&mut sim, secs(30.6), secs(59.99));
    assert_eq!(sim.lines().len(), 1);
    run(&mut sim, secs(60.0), secs(60.0));
    assert_eq!(
        sim.lines(),
        [
            "%FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501",
            "%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0",
        ]
    );
    assert_eq!(sim.log[1].0, secs(60.0));
    run(&mut sim, secs(60.0), secs(200.0));
    assert_eq!(sim.lines().len(), 2, "exactly one ON and one OFF");
    let stats = InspectStatistics::collect(
        [&**sim.table.stats()],
        &SessionGauges::default(),
        &sim.reg.snapshot(),
    );
    assert!(!stats.aggressive);
    assert_eq!(stats.aggressive_entered, 1);
    assert_eq!(stats.maxever_creation_rate, 501);
    assert_eq!(stats.creations, 501);
    assert_eq!(stats.maxever[1], 500);
    assert_eq!(stats.halfopen_deleted.aggressive, 1);
    assert_eq!(stats.halfopen_deleted.synwait, 500);
    // "Last session creation rate 501" as seen right after the first boundary:
    let mut sim2 = Sim::new(HalfOpenConfig::default());
    for i in 0..501u16 {
        sim2.packet(
            secs(i as f64 * 0.001),
            udp(HOST5, 40001 + i, "192.0.2.53", 9, INSIDE),
            Kind::Udp(1),
        );
    }
    sim2.tick(secs(60.0));
    assert_eq!(sim2.reg.snapshot().last_rate, 501);
}

/// One complete TCP connection host5 → 203.0.113.9:80 at time `t`.
fn web_connection(sim: &mut Sim, port: u16, t: Nanos) {
    let out = tcp(HOST5, port, "203.0.113.9", 80, INSIDE);
    let back = tcp("203.0.113.9", 80, "172.22.1.111", port, OUTSIDE);
    let ms = Nanos::from_millis(1);
    assert_eq!(sim.packet(t, out, Kind::Syn), Verdict::Forward);
    assert_eq!(sim.packet(t + ms, back, Kind::SynAck), Verdict::Forward);
    assert_eq!(sim.packet(t + ms + ms, out, Kind::Ack), Verdict::Forward);
    sim.packet(t + Nanos::from_millis(3), out, Kind::Fin);
    sim.packet(t + Nanos::from_millis(4), back, Kind::Fin);
    sim.packet(t + Nanos::from_millis(5), out, Kind::Ack);
}

#[test]
fn c2_one_minute_rate() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    for i in 0..501u16 {
        let t = Nanos::from_millis(i as u64 * 100);
        sim.tick(t);
        web_connection(&mut sim, 50000 + i, t);
        assert!(sim.reg.snapshot().halfopen <= 1);
        if i == 499 {
            assert!(sim.lines().is_empty());
        }
    }
    assert_eq!(
        sim.lines(),
        ["%FW-4-ALERT_ON: getting aggressive, count (0/500) current 1-min rate: 501"]
    );
    assert_eq!(sim.log[0].0, secs(50.0));
    run(&mut sim, secs(50.0), secs(59.99));
    assert_eq!(sim.lines().len(), 1);
    run(&mut sim, secs(60.0), secs(60.0));
    assert_eq!(
        sim.lines()[1],
        "%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0"
    );
    assert_eq!(sim.reg.snapshot().last_rate, 501);

    // Control: 300 in t=30…59.9 and 201 in t=60…89.9 never raise ALERT_ON.
    let mut sim = Sim::new(HalfOpenConfig::default());
    for i in 0..501u16 {
        let t = if i < 300 {
            Nanos::from_millis(30_000 + i as u64 * 100)
        } else {
            Nanos::from_millis(60_000 + (i as u64 - 300) * 100)
        };
        sim.tick(t);
        web_connection(&mut sim, 50000 + i, t);
    }
    run(&mut sim, secs(90.0), secs(130.0));
    assert!(sim.lines().is_empty(), "{:?}", sim.lines());
    let snap = sim.reg.snapshot();
    assert_eq!((snap.maxever_rate, snap.aggressive_entered), (300, 0));
}

#[test]
fn c3_per_host_limit_block_time_zero() {
    let mut sim = Sim::new(HalfOpenConfig::default());
    for i in 0..51u16 {
        let t = Nanos::from_millis(i as u64 * 19);
        assert_eq!(
            sim.packet(t, tcp(C, 41000 + i, S, 25, OUTSIDE), Kind::Syn),
            Verdict::Forward
        );
    }
    assert_eq!(
        sim.lines(),
        ["%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 172.22.1.110."]
    );
    let expect: Vec<String> = (41001..=41050)
        .map(|p| format!(" (198.51.100.7:{p})=>(172.22.1.110:25) smtp SIS_OPENING"))
        .collect();
    assert_eq!(sim.sessions(), expect);
    let snap = sim.reg.snapshot();
    assert_eq!((snap.halfopen, snap.aggressive, snap.rate), (50, false, 51));
    assert!(sim.rsts.is_empty(), "no SYN-ACK seen, no RST");
    assert_eq!(
        sim.packet(secs(1.0), tcp(C, 41051, S, 25, OUTSIDE), Kind::Syn),
        Verdict::Forward
    );
    assert!(sim
        .table
        .lookup_key(&tcp(C, 41001, S, 25, OUTSIDE))
        .is_none());
    assert_eq!(sim.lines().len(), 1, "nothing new logged");
    assert_eq!(sim.reg.host_halfopen(ip(S)), 50);
    assert_eq!(sim.reg.snapshot().deleted.host, 2);
}

#[test]
fn c4_per_host_limit_with_block_time() {
    let mut sim = Sim::new(HalfOpenConfig {
        block_time_minutes: 2,
        ..HalfOpenConfig::default()
    });
    let t = smtp_dialogue(&mut sim, 40100, 0.0);
    let base = secs(t + 1.0);
    for i in 0..50u16 {
        let at = base + Nanos::from_millis(i as u64 * 10);
        assert_eq!(
            sim.packet(at, tcp(C, 41000 + i, S, 25, OUTSIDE), Kind::Syn),
            Verdict::Forward
        );
    }
    let t51 = base + Nanos::from_millis(500);
    assert_eq!(
        sim.packet(t51, tcp(C, 41050, S, 25, OUTSIDE), Kind::Syn),
        Verdict::Drop
    );
    assert_eq!(
        sim.lines(),
        ["%FW-2-BLOCK_HOST: Blocking new TCP connections to host 172.22.1.110 for 2 minutes (half-open count 50 exceeded)."]
    );
    assert_eq!(
        sim.sessions(),
        [" (198.51.100.7:40100)=>(172.22.1.110:25) smtp SIS_OPEN"]
    );
    assert_eq!(sim.reg.snapshot().halfopen, 0);
    assert_eq!(sim.reg.snapshot().deleted.block, 50);
    // During the block: the established session works, new SYNs are dropped.
    assert_eq!(
        sim.packet(
            t51 + secs(1.0),
            tcp(C, 40100, S, 25, OUTSIDE),
            Kind::Data(6)
        ),
        Verdict::Forward
    );
    run(&mut sim, t51, t51 + secs(60.0));
    assert_eq!(
        sim.packet(
            t51 + secs(60.0),
            tcp("198.51.100.8", 42000, S, 25, OUTSIDE),
            Kind::Syn
        ),
        Verdict::Drop
    );
    run(&mut sim, t51 + secs(60.0), t51 + secs(119.99));
    assert_eq!(sim.lines().len(), 1);
    run(&mut sim, t51 + secs(120.0), t51 + secs(120.0));
    assert_eq!(
        sim.lines()[1],
        "%FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked"
    );
    assert_eq!(sim.log[1].0, t51 + secs(120.0));
    assert_eq!(
        sim.packet(
            t51 + secs(121.0),
            tcp("198.51.100.8", 42001, S, 25, OUTSIDE),
            Kind::Syn
        ),
        Verdict::Forward
    );
    assert_eq!(sim.reg.snapshot().block_events, 1);
    assert_eq!(sim.reg.snapshot().hosts_blocked, 0);
}
