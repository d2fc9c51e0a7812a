//! An in-memory seed lab: one [`Firewall`] on the seed configuration with two
//! ports and a virtual clock, plus frame builders for the hosts around it.
//! Used by the pipeline's own tests, by the integration tests and by the
//! criterion benchmarks, so they all drive the same packet path the workers
//! run, without sockets.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use crate::config::Config;
use crate::io::TxSink;
use crate::logging::{DebugFlags, LogQueues, StampedRecord};
use crate::pipeline::{Firewall, FirewallSizing};
use crate::runtime::{PortBinding, Runtime};
use crate::shared::Shared;
use crate::wire::checksum;
use crate::wire::emit::{emit_tcp_segment, Origin, TcpSegmentSpec};
use crate::wire::ethernet::Mac;
use crate::wire::tcp::{SeqNumber, TcpFlags};
use crate::worker::Processor;

/// The seed running-config, embedded.
pub const SEED_CONFIG: &str = include_str!("../../fixtures/seed.cfg");

/// MAC of the firewall's Ethernet2/0 (port 0, outside).
pub const FW_OUTSIDE_MAC: Mac = Mac([0x02, 0x4d, 0x47, 0x00, 0x20, 0x00]);
/// MAC of the firewall's Ethernet2/1 (port 1, inside).
pub const FW_INSIDE_MAC: Mac = Mac([0x02, 0x4d, 0x47, 0x00, 0x21, 0x00]);
/// MAC of the upstream router 172.22.1.1.
pub const ISP_MAC: Mac = Mac([0x02, 0x15, 0x00, 0x00, 0x00, 0x01]);
/// MAC of the mail server 10.10.10.2.
pub const MAIL_MAC: Mac = Mac([0x02, 0x0a, 0x00, 0x00, 0x00, 0x02]);
/// MAC of the inside host 10.10.10.5.
pub const HOST5_MAC: Mac = Mac([0x02, 0x0a, 0x00, 0x00, 0x00, 0x05]);

/// The outside port.
pub const OUTSIDE: usize = 0;
/// The inside port.
pub const INSIDE: usize = 1;

/// The two ports of the seed firewall: `Ethernet2/0` (outside, port
/// [`OUTSIDE`]) and `Ethernet2/1` (inside, port [`INSIDE`]) with the
/// simulated MACs.
pub fn seed_ports() -> Vec<PortBinding> {
    vec![
        PortBinding {
            ios_name: "Ethernet2/0".into(),
            linux_name: "sim0".into(),
            mac: FW_OUTSIDE_MAC,
        },
        PortBinding {
            ios_name: "Ethernet2/1".into(),
            linux_name: "sim1".into(),
            mac: FW_INSIDE_MAC,
        },
    ]
}

/// A firewall worker on the seed configuration, driven by hand.
pub struct SeedLab {
    /// The worker.
    pub fw: Firewall,
    /// Shared state (registry, reports, runtime).
    pub shared: Arc<Shared>,
    /// Log queues (drain with [`SeedLab::logs`]).
    pub queues: LogQueues,
    /// Output of the last call.
    pub tx: TxSink,
    /// Virtual monotonic time (ns).
    pub now: u64,
}

impl std::fmt::Debug for SeedLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedLab").field("now", &self.now).finish()
    }
}

impl SeedLab {
    /// The seed configuration (plus `extra` configuration lines) on one
    /// worker, with the neighbours 172.22.1.1, 10.10.10.2 and 10.10.10.5
    /// already resolved.
    pub fn new(extra: &[&str]) -> SeedLab {
        let (mut cfg, _) = Config::load(SEED_CONFIG).expect("seed config loads");
        for line in extra {
            cfg.apply_line(line).expect("extra configuration line");
        }
        Self::with_config(cfg)
    }

    /// A lab on `cfg` (which must define Ethernet2/0 and Ethernet2/1).
    pub fn with_config(cfg: Config) -> SeedLab {
        let rt = Runtime::build(cfg, seed_ports(), 1).expect("runtime");
        let debug = Arc::new(DebugFlags::new());
        let now = 1_000_000_000;
        let shared =
            Arc::new(Shared::new(rt, 1, 65_536, now, 0, Arc::clone(&debug)).expect("shared"));
        let (mut producers, queues) = LogQueues::new(1, 65_536, debug);
        let fw = Firewall::new(
            0,
            Arc::clone(&shared),
            producers.remove(0),
            FirewallSizing::default(),
            now,
        )
        .expect("firewall");
        let mut lab = SeedLab {
            fw,
            shared,
            queues,
            tx: TxSink::with_capacity(256),
            now,
        };
        lab.learn_seed_neighbours();
        lab
    }

    /// Teaches the firewall the seed's neighbours (the ISP router
    /// 172.22.1.1, the mail server 10.10.10.2 and host5 10.10.10.5), as
    /// their own traffic would; clears the output.
    pub fn learn_seed_neighbours(&mut self) {
        self.learn(
            OUTSIDE,
            ISP_MAC,
            Ipv4Addr::new(172, 22, 1, 1),
            Ipv4Addr::new(172, 22, 1, 16),
        );
        self.learn(
            INSIDE,
            MAIL_MAC,
            Ipv4Addr::new(10, 10, 10, 2),
            Ipv4Addr::new(10, 10, 10, 1),
        );
        self.learn(
            INSIDE,
            HOST5_MAC,
            Ipv4Addr::new(10, 10, 10, 5),
            Ipv4Addr::new(10, 10, 10, 1),
        );
        self.tx.clear();
    }

    /// Teaches the firewall a neighbour by an ARP request addressed to it.
    pub fn learn(&mut self, port: usize, mac: Mac, ip: Ipv4Addr, fw_ip: Ipv4Addr) {
        let mut f = arp_request(mac, ip, fw_ip);
        self.fw.process(self.now, port, &mut f, &mut self.tx);
    }

    /// Feeds one frame on `port`; returns what the firewall transmitted, as
    /// `(port, frame)`.
    pub fn send(&mut self, port: usize, frame: &[u8]) -> Vec<(usize, Vec<u8>)> {
        self.tx.clear();
        let mut f = frame.to_vec();
        self.fw.process(self.now, port, &mut f, &mut self.tx);
        self.fw.tick(self.now, &mut self.tx);
        self.tx.iter().map(|(p, f)| (p, f.to_vec())).collect()
    }

    /// Advances the virtual clock by `ns` and runs the timers; returns what
    /// was transmitted.
    pub fn advance(&mut self, ns: u64) -> Vec<(usize, Vec<u8>)> {
        self.tx.clear();
        // Tick at least every 100 ms of virtual time so timers fire in order.
        let step = 100_000_000;
        let end = self.now + ns;
        while self.now < end {
            self.now = (self.now + step).min(end);
            self.fw.tick(self.now, &mut self.tx);
        }
        self.tx.iter().map(|(p, f)| (p, f.to_vec())).collect()
    }

    /// Log records emitted so far (drained).
    pub fn logs(&mut self) -> Vec<String> {
        let mut out: Vec<StampedRecord> = Vec::new();
        self.queues.drain_into(&mut out, usize::MAX);
        out.iter().map(|r| r.record.to_string()).collect()
    }

    /// A report of the worker (sessions and counters), as the control thread
    /// would get it.
    pub fn report(&mut self) -> crate::shared::WorkerReport {
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::scope(|s| {
            let h = s.spawn(|| shared.collect_reports(std::time::Duration::from_secs(2)));
            // Answer the request from this thread (the worker).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while shared.report_wanted(0).is_none() && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            self.fw.tick(self.now, &mut self.tx);
            h.join().expect("collector")
        });
        handle.into_iter().next().expect("one worker")
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn ipv4_header(b: &mut [u8], proto: u8, src: Ipv4Addr, dst: Ipv4Addr, payload_len: usize, ttl: u8) {
    b[0] = 0x45;
    put16(b, 2, (20 + payload_len) as u16);
    put16(b, 4, 0x1234);
    b[6] = 0x40;
    b[8] = ttl;
    b[9] = proto;
    b[12..16].copy_from_slice(&src.octets());
    b[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&b[..20]);
    put16(b, 10, c);
}

fn ethernet(b: &mut [u8], dst: Mac, src: Mac, ethertype: u16) {
    b[..6].copy_from_slice(&dst.0);
    b[6..12].copy_from_slice(&src.0);
    put16(b, 12, ethertype);
}

/// An ARP request from (`mac`, `ip`) for `target`.
pub fn arp_request(mac: Mac, ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    ethernet(&mut f, Mac::BROADCAST, mac, 0x0806);
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&ip.octets());
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// A TCP segment frame.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src_mac: Mac,
    dst_mac: Mac,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + 20 + 20 + payload.len() + 60];
    let spec = TcpSegmentSpec {
        origin: Origin {
            src_mac,
            dst_mac,
            src_ip: *src.ip(),
            ident: 1,
        },
        dst_ip: *dst.ip(),
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNumber(seq),
        ack: SeqNumber(ack),
        flags: TcpFlags(flags),
        window: 64_240,
        ttl: 64,
        dont_fragment: true,
    };
    let n = emit_tcp_segment(&mut buf, &spec, payload).expect("tcp frame");
    buf.truncate(n);
    buf
}

/// A UDP datagram frame.
pub fn udp(
    src_mac: Mac,
    dst_mac: Mac,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let l4 = 8 + payload.len();
    let mut f = vec![0u8; (14 + 20 + l4).max(60)];
    ethernet(&mut f, dst_mac, src_mac, 0x0800);
    ipv4_header(&mut f[14..], 17, *src.ip(), *dst.ip(), l4, 64);
    let u = &mut f[34..34 + l4];
    put16(u, 0, src.port());
    put16(u, 2, dst.port());
    put16(u, 4, l4 as u16);
    u[8..].copy_from_slice(payload);
    let c = checksum::l4_checksum(*src.ip(), *dst.ip(), 17, u);
    put16(u, 6, if c == 0 { 0xffff } else { c });
    f
}

/// An ICMP message frame (`body` follows the 4-byte type/code/checksum).
pub fn icmp(
    src_mac: Mac,
    dst_mac: Mac,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    body: &[u8],
) -> Vec<u8> {
    let l4 = 4 + body.len();
    let mut f = vec![0u8; (14 + 20 + l4).max(60)];
    ethernet(&mut f, dst_mac, src_mac, 0x0800);
    ipv4_header(&mut f[14..], 1, src, dst, l4, 64);
    let m = &mut f[34..34 + l4];
    m[0] = icmp_type;
    m[1] = code;
    m[4..].copy_from_slice(body);
    let c = checksum::checksum(m);
    put16(m, 2, c);
    f
}

/// An ICMP echo request/reply body: identifier, sequence, data.
pub fn echo_body(ident: u16, seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; 4 + 8];
    put16(&mut b, 0, ident);
    put16(&mut b, 2, seq);
    b[4..].copy_from_slice(b"mailgrd!");
    b
}
