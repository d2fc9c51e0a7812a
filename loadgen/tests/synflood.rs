//! The SYN flood on a veth pair between two namespaces of the test's own: every frame sent
//! arrives, is a well-formed IPv4/TCP SYN with correct checksums, and the source rotation
//! covers the configured addresses and ports. Needs root (namespaces, AF_PACKET).
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use loadgen::synflood::{flood, FloodConfig};
use loadgen::synframe::SynTemplate;
use loadgen::sys::packet::{interface, PacketSocket};
use loadgen::topo::VethPair;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn flood_frames_arrive_well_formed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let pair = VethPair::up(&format!("{}t0", std::process::id())).expect("veth pair");
    // Capture on the far end first.
    let (ready_tx, ready_rx) = mpsc::channel();
    let ns_b = pair.ns_b.clone();
    let if_b = pair.if_b.clone();
    let capture = std::thread::spawn(move || -> Vec<Vec<u8>> {
        loadgen::sys::netns::enter(&ns_b).unwrap();
        let (idx, _) = interface(&if_b).unwrap();
        let cap = PacketSocket::capture(idx, Duration::from_millis(200)).unwrap();
        ready_tx.send(()).unwrap();
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut idle = 0;
        while Instant::now() < deadline && idle < 5 {
            match cap.recv(&mut buf).unwrap() {
                Some(n) => {
                    idle = 0;
                    frames.push(buf[..n].to_vec());
                }
                None => idle += 1,
            }
        }
        frames
    });
    ready_rx.recv().unwrap();
    let sources: Vec<Ipv4Addr> = (100..110).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect();
    let cfg = FloodConfig {
        netns: Some(pair.ns_a.clone()),
        interface: pair.if_a.clone(),
        template: SynTemplate {
            src_mac: [2, 0, 0, 0, 0, 0xa],
            dst_mac: [2, 0, 0, 0, 0, 0xb],
            sources: sources.clone(),
            dst: Ipv4Addr::new(172, 22, 1, 110),
            dport: 25,
            sport_lo: 41_000,
            sport_hi: 41_049,
        },
        rate: 5000.0,
        count: Some(500),
        duration: None,
        cpu: None,
    };
    let r = flood(cfg, std::sync::Arc::new(|| false)).expect("flood");
    assert_eq!(r.sent, 500);
    assert!(
        (r.achieved_pps - 5000.0).abs() / 5000.0 < 0.10,
        "{} pps",
        r.achieved_pps
    );
    let frames = capture.join().unwrap();
    let syns: Vec<_> = frames
        .iter()
        .filter_map(|f| {
            let p = SlicedPacket::from_ethernet(f).ok()?;
            let Some(NetSlice::Ipv4(ip)) = p.net else {
                return None;
            };
            let Some(TransportSlice::Tcp(tcp)) = p.transport else {
                return None;
            };
            Some((ip.header().to_header(), tcp.to_header(), f.clone()))
        })
        .collect();
    assert_eq!(
        syns.len(),
        500,
        "every SYN arrives (captured {} frames)",
        frames.len()
    );
    let mut endpoints = HashSet::new();
    for (ip, tcp, raw) in &syns {
        assert_eq!(&raw[0..6], &[2, 0, 0, 0, 0, 0xb]);
        assert_eq!(
            ip.header_checksum,
            ip.calc_header_checksum(),
            "IPv4 checksum"
        );
        assert_eq!(
            tcp.checksum,
            tcp.calc_checksum_ipv4(ip, &[]).unwrap(),
            "TCP checksum"
        );
        assert!(tcp.syn && !tcp.ack && !tcp.rst && !tcp.fin);
        assert_eq!(tcp.destination_port, 25);
        assert_eq!(
            Ipv4Addr::from(ip.destination),
            Ipv4Addr::new(172, 22, 1, 110)
        );
        assert!(sources.contains(&Ipv4Addr::from(ip.source)));
        endpoints.insert((ip.source, tcp.source_port));
    }
    // 10 addresses × 50 ports = 500 distinct (source, port) pairs: each used once.
    assert_eq!(endpoints.len(), 500);
    drop(pair);
}
