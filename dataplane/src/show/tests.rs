//! Byte-exact `show` output for the seed (`seed-scenario.md` A2, B1, B7).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::*;
use crate::config::model::{InspectProtocol, Transport};

const SEED: &str = include_str!("../../../fixtures/seed.cfg");
const SHOW_ALL: &str = include_str!("../../../fixtures/show-ip-inspect-all.txt");

fn seed() -> Config {
    Config::load(SEED).unwrap().0
}

fn inspect(cfg: &Config, view: InspectView, sessions: &[SessionSnapshot]) -> String {
    let mut out = String::new();
    show_ip_inspect(
        cfg,
        &view,
        sessions,
        &InspectStatistics::default(),
        &mut out,
    );
    out
}

fn smtp_session(state: SessionState) -> SessionSnapshot {
    SessionSnapshot {
        id: 0x6300_F0A8,
        protocol: InspectProtocol::Smtp,
        transport: Transport::Tcp,
        initiator: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40001),
        responder: SocketAddrV4::new(Ipv4Addr::new(172, 22, 1, 110), 25),
        state,
        age: Duration::from_secs(22),
        idle: Duration::from_secs(17),
        initiator_bytes: 37,
        responder_bytes: 76,
    }
}

#[test]
fn a2_show_ip_inspect_all_is_byte_exact() {
    assert_eq!(inspect(&seed(), InspectView::All, &[]), SHOW_ALL);
}

#[test]
fn a2_config_interfaces_and_name() {
    let cfg = seed();
    let config = inspect(&cfg, InspectView::Config, &[]);
    let first17: String = SHOW_ALL
        .lines()
        .take(17)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(config, first17);
    let interfaces = inspect(&cfg, InspectView::Interfaces, &[]);
    let from = SHOW_ALL.find("Interface Configuration").unwrap();
    assert_eq!(interfaces, &SHOW_ALL[from..]);
    assert_eq!(
        inspect(&cfg, InspectView::Name("OUT-IN".into()), &[]),
        " Inspection name OUT-IN\n    smtp max-data 20000000 alert is on audit-trail is off timeout 3600\n"
    );
    assert_eq!(inspect(&cfg, InspectView::Name("NOPE".into()), &[]), "");
    assert_eq!(
        inspect(&cfg, InspectView::Session { detail: false }, &[]),
        ""
    );
}

#[test]
fn a2_nat_and_access_lists() {
    let cfg = seed();
    let mut out = String::new();
    show_ip_nat_translations(&cfg, &[], &mut out);
    assert_eq!(
        out,
        "Pro Inside global      Inside local       Outside local      Outside global\n\
         --- 172.22.1.110       10.10.10.2         ---                ---\n\
         --- 172.22.1.111       10.10.10.5         ---                ---\n"
    );
    let mut out = String::new();
    show_access_lists(&cfg, None, &AclCounters::new(), &mut out);
    assert_eq!(
        out,
        "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp\n"
    );
    let mut counters = AclCounters::new();
    counters.insert(101, vec![1]);
    let mut out = String::new();
    show_access_lists(&cfg, Some(101), &counters, &mut out);
    assert_eq!(
        out,
        "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp (1 match)\n"
    );
    counters.insert(101, vec![12]);
    let mut out = String::new();
    show_access_lists(&cfg, Some(101), &counters, &mut out);
    assert!(out.ends_with("eq smtp (12 matches)\n"));
    let mut out = String::new();
    show_access_lists(&cfg, Some(102), &counters, &mut out);
    assert_eq!(out, "");
}

#[test]
fn b1_sessions_and_extended_translations() {
    let cfg = seed();
    let half = smtp_session(SessionState::HalfOpen);
    assert_eq!(
        inspect(&cfg, InspectView::Session { detail: false }, &[half]),
        "Half-open Sessions\n Session 6300F0A8 (198.51.100.7:40001)=>(172.22.1.110:25) smtp SIS_OPENING\n"
    );
    let open = smtp_session(SessionState::Established);
    let outbound = SessionSnapshot {
        id: 0x1B0,
        protocol: InspectProtocol::Http,
        transport: Transport::Tcp,
        initiator: SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 5), 50000),
        responder: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 80),
        state: SessionState::Closing,
        age: Duration::from_secs(3725),
        idle: Duration::from_secs(1),
        initiator_bytes: 0,
        responder_bytes: 0,
    };
    let sessions = [outbound.clone(), open.clone()];
    assert_eq!(
        inspect(&cfg, InspectView::Session { detail: true }, &sessions),
        "Established Sessions\n Session 6300F0A8 (198.51.100.7:40001)=>(172.22.1.110:25) smtp SIS_OPEN\n  Created 00:00:22, Last heard 00:00:17\n  Bytes sent (initiator:responder) [37:76]\n\
         Terminating Sessions\n Session 000001B0 (10.10.10.5:50000)=>(203.0.113.9:80) http SIS_CLOSING\n  Created 01:02:05, Last heard 00:00:01\n  Bytes sent (initiator:responder) [0:0]\n"
    );
    // `all` appends the session listing after the interfaces.
    let all = inspect(&cfg, InspectView::All, std::slice::from_ref(&open));
    assert!(all.starts_with(SHOW_ALL));
    assert!(all.ends_with("smtp SIS_OPEN\n"));
    let mut out = String::new();
    show_ip_nat_translations(&cfg, &sessions, &mut out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[3],
        "tcp 172.22.1.111:50000 10.10.10.5:50000   203.0.113.9:80     203.0.113.9:80"
    );
    assert_eq!(
        lines[4],
        "tcp 172.22.1.110:25    10.10.10.2:25      198.51.100.7:40001 198.51.100.7:40001"
    );
    let json = show_ip_nat_translations_json(&cfg, &sessions);
    assert_eq!(json.as_array().unwrap().len(), 4);
}

#[test]
fn statistics_layout() {
    let cfg = seed();
    let stats = InspectStatistics {
        protocol_packets: vec![
            (InspectProtocol::Tcp, 1402),
            (InspectProtocol::Smtp, 37),
            (InspectProtocol::Udp, 12),
            (InspectProtocol::Icmp, 4),
        ],
        session_creations: 19,
        current: SessionCounts {
            established: 1,
            half_open: 0,
            terminating: 0,
        },
        maxever: SessionCounts {
            established: 3,
            half_open: 51,
            terminating: 1,
        },
        last_session_created: Some(Duration::from_secs(4)),
        last_statistic_reset: None,
        last_creation_rate: 2,
        maxever_creation_rate: 501,
        last_half_open_total: 0,
        aggressive_mode: false,
        aggressive_entries: 1,
        hosts_blocked: 0,
        block_events: 1,
        smtp: SmtpStatistics {
            lines: 120,
            masked: 3,
            parameter_violations: 1,
            signature_hits: 2,
            reply_and_close: 3,
            max_data_closes: 0,
        },
    };
    let mut out = String::new();
    show_ip_inspect(&cfg, &InspectView::Statistics, &[], &stats, &mut out);
    assert_eq!(
        out,
        "Packet inspection statistics [process switch:fast switch]\n\
tcp packets: [0:1402]\n\
smtp packets: [0:37]\n\
udp packets: [0:12]\n\
icmp packets: [0:4]\n\
Interfaces configured for inspection 2\n\
Session creations since subsystem startup or last reset 19\n\
Current session counts (estab/half-open/terminating) [1:0:0]\n\
Maxever session counts (estab/half-open/terminating) [3:51:1]\n\
Last session created 00:00:04\n\
Last statistic reset never\n\
Last session creation rate 2\n\
Maxever session creation rate 501\n\
Last half-open session total 0\n\
Aggressive mode: off (entered 1 times)\n\
Hosts blocked: 0 (block events 1)\n\
SMTP: lines 120, masked 3, parameter violations 1, signature hits 2, reply-and-close 3, max-data closes 0\n"
    );
    let json = show_ip_inspect_json(&cfg, &InspectView::Statistics, &[], &stats);
    assert_eq!(json["interfaces_configured"], 2);
    assert_eq!(json["maxever_creation_rate"], 501);
}

#[test]
fn b7_audit_trail_and_c4_block_time() {
    let mut cfg = seed();
    cfg.apply_line("ip inspect audit-trail").unwrap();
    let all = inspect(&cfg, InspectView::All, &[]);
    assert!(all.starts_with("Session audit trail is enabled\n"));
    assert!(all.contains("    smtp max-data 20000000 alert is on audit-trail is on timeout 3600\n"));
    cfg.apply_line("ip inspect tcp max-incomplete host 50 block-time 2")
        .unwrap();
    let config = inspect(&cfg, InspectView::Config, &[]);
    assert!(
        config.contains("max-incomplete tcp connections per host is 50. Block-time 2 minute.\n")
    );
    cfg.apply_line("ip inspect alert-off").unwrap();
    let config = inspect(&cfg, InspectView::Config, &[]);
    assert!(config.contains("Session alert is disabled\n"));
    assert!(config.contains("    tcp alert is off audit-trail is on timeout 3600\n"));
}

#[test]
fn entry_line_variants() {
    let mut cfg = seed();
    cfg.apply_line("ip inspect name X rpc program-number 100003 wait-time 2")
        .unwrap();
    cfg.apply_line("ip inspect name X http java-list 10 timeout 50")
        .unwrap();
    cfg.apply_line("ip inspect name X fragment max 300 timeout 4")
        .unwrap();
    cfg.apply_line("ip inspect name X esmtp allow-tls max-data 100 alert off")
        .unwrap();
    cfg.apply_line("ip inspect udp idle-time 40").unwrap();
    cfg.apply_line("ip inspect name X tftp").unwrap();
    assert_eq!(
        inspect(&cfg, InspectView::Name("X".into()), &[]),
        concat!(
            " Inspection name X\n",
            "    rpc program-number 100003 wait-time 2 alert is on audit-trail is off timeout 3600\n",
            "    http java-list 10 alert is on audit-trail is off timeout 50\n",
            "    fragment max 300 timeout 4\n",
            "    esmtp max-data 100 allow-tls alert is off audit-trail is off timeout 3600\n",
            "    tftp alert is on audit-trail is off timeout 40\n"
        )
    );
    assert!(inspect(&cfg, InspectView::Name("IN-OUT".into()), &[])
        .contains("    udp alert is on audit-trail is off timeout 40\n"));
}

#[test]
fn show_interfaces_and_running_config() {
    let cfg = seed();
    let mut counters = std::collections::BTreeMap::new();
    counters.insert(
        "Ethernet2/0".to_string(),
        InterfaceCounters {
            device: Some("veth-out".into()),
            link_up: true,
            rx_packets: 10,
            rx_bytes: 1000,
            rx_drops: 1,
            tx_packets: 9,
            tx_bytes: 900,
            tx_drops: 0,
        },
    );
    let mut out = String::new();
    show_interfaces(&cfg, None, &counters, &mut out);
    assert!(out.starts_with(
        "Ethernet2/0 is up, line protocol is up\n  Hardware is veth-out\n  Internet address is 172.22.1.16/24\n     10 packets input, 1000 bytes, 1 input drops\n     9 packets output, 900 bytes, 0 output drops\n"
    ));
    assert!(out.contains("Serial2/0 is administratively down, line protocol is down\n  Hardware is not bound\n     0 packets"));
    assert!(out.contains("Ethernet2/1 is down, line protocol is down\n"));
    let json = show_interfaces_json(&cfg, Some("Ethernet2/0"), &counters);
    assert_eq!(json[0]["counters"]["rx_packets"], 10);
    let mut rc = String::new();
    show_running_config(&cfg, &mut rc);
    assert!(rc.contains("\nhostname 3640-123\n"));
    assert!(!rc.contains("02050D4808095E731F"));
    let json = show_running_config_json(&cfg).to_string();
    assert!(!json.contains("02050D4808095E731F") && !json.contains("121A0C0411045D5679"));
}

#[test]
fn json_forms() {
    let cfg = seed();
    let stats = InspectStatistics::default();
    let v = show_ip_inspect_json(
        &cfg,
        &InspectView::All,
        &[smtp_session(SessionState::Established)],
        &stats,
    );
    assert_eq!(v["config"]["rules"][1]["name"], "OUT-IN");
    assert_eq!(
        v["config"]["rules"][1]["entries"][0]["max_data"],
        20_000_000
    );
    assert_eq!(v["interfaces"][0]["interface"], "Ethernet2/1");
    assert_eq!(v["sessions"][0]["id"], "6300F0A8");
    assert_eq!(v["sessions"][0]["state"], "SIS_OPEN");
    let v = show_access_lists_json(&cfg, None, &AclCounters::new());
    assert_eq!(
        v[0]["entries"][0]["text"],
        "permit tcp any host 172.22.1.110 eq smtp"
    );
}

#[test]
fn standard_list_layout() {
    let mut cfg = Config::default();
    cfg.apply_line("access-list 10 permit 10.1.0.5 0.0.255.255")
        .unwrap();
    cfg.apply_line("access-list 10 deny host 10.2.0.1 log")
        .unwrap();
    cfg.apply_line("access-list 10 permit any").unwrap();
    let mut out = String::new();
    show_access_lists(&cfg, None, &AclCounters::new(), &mut out);
    assert_eq!(
        out,
        "Standard IP access list 10\n    10 permit 10.1.0.0, wildcard bits 0.0.255.255\n    20 deny 10.2.0.1 log\n    30 permit any\n"
    );
}
