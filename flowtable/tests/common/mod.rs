//! A miniature CBAC worker on a virtual clock, built only from `flowtable`'s public
//! API, as the dataplane uses it: static NAT for the seed addresses, TCP/UDP/ICMP
//! session states, half-open registration, timers, deletion notices, RSTs toward
//! responders, audit-trail and alert lines. It is deliberately small: packets are
//! described by their tuple and a kind, not by bytes.

#![allow(dead_code)]

pub mod model;

use std::net::Ipv4Addr;
use std::sync::Arc;

use flowtable::key::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use flowtable::{
    Deletion, Direction, FlowKey, FlowTable, HalfOpenConfig, HalfOpenId, HalfOpenRegistry, Nanos,
    RegistrySizing, Release, RemoveCause, SessionKeys, TableConfig, TimedEvent, TimeoutKind,
    Timeouts, Transport,
};

pub const OUTSIDE: u8 = 0;
pub const INSIDE: u8 = 1;

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

/// Static translations of the seed: 10.10.10.2 ↔ 172.22.1.110, 10.10.10.5 ↔ 172.22.1.111.
const NAT: [([u8; 4], [u8; 4]); 2] = [
    ([10, 10, 10, 2], [172, 22, 1, 110]),
    ([10, 10, 10, 5], [172, 22, 1, 111]),
];

fn inside_to_outside(a: u32) -> u32 {
    NAT.iter()
        .find(|(i, _)| Ipv4Addr::from(*i).to_bits() == a)
        .map_or(a, |(_, o)| Ipv4Addr::from(*o).to_bits())
}

fn outside_to_inside(a: u32) -> u32 {
    NAT.iter()
        .find(|(_, o)| Ipv4Addr::from(*o).to_bits() == a)
        .map_or(a, |(i, _)| Ipv4Addr::from(*i).to_bits())
}

/// The same packet on the other interface.
pub fn translate(k: &FlowKey) -> FlowKey {
    let mut t = *k;
    if k.zone == OUTSIDE {
        t.dst = outside_to_inside(k.dst);
        t.src = outside_to_inside(k.src);
        t.zone = INSIDE;
    } else {
        t.src = inside_to_outside(k.src);
        t.dst = inside_to_outside(k.dst);
        t.zone = OUTSIDE;
    }
    t
}

pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16, zone: u8) -> FlowKey {
    FlowKey::new(IPPROTO_TCP, ip(src), sport, ip(dst), dport, zone)
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, zone: u8) -> FlowKey {
    FlowKey::new(IPPROTO_UDP, ip(src), sport, ip(dst), dport, zone)
}

/// ICMP echo: the identifier travels in `src_port` for requests.
pub fn icmp(src: &str, id: u16, dst: &str, zone: u8) -> FlowKey {
    FlowKey::new(IPPROTO_ICMP, ip(src), id, ip(dst), 0, zone)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Syn,
    SynAck,
    Ack,
    Fin,
    Rst,
    Data(u64),
    Udp(u64),
    EchoRequest,
    EchoReply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    SynSent,
    SynRcvd,
    Established,
    FinOne,
    FinBoth,
    UdpOpening,
    UdpOpen,
    Icmp,
}

impl St {
    pub fn display(self) -> &'static str {
        match self {
            St::SynSent | St::SynRcvd | St::UdpOpening => "SIS_OPENING",
            St::Established | St::FinOne | St::UdpOpen | St::Icmp => "SIS_OPEN",
            St::FinBoth => "SIS_CLOSING",
        }
    }
}

#[derive(Debug)]
pub struct Sess {
    pub st: St,
    pub halfopen: Option<HalfOpenId>,
    pub synack: bool,
    pub fin: [bool; 2],
    pub bytes: [u64; 2],
    pub idle: Nanos,
}

pub struct Sim {
    pub table: FlowTable<Sess>,
    pub reg: Arc<HalfOpenRegistry>,
    pub worker: u16,
    pub timeouts: Timeouts,
    /// Per-rule `timeout` of the smtp entry (None = tcp idle-time).
    pub smtp_timeout: Option<Nanos>,
    pub audit: bool,
    pub log: Vec<(Nanos, String)>,
    /// RSTs sent toward responders (responder-side key, initiator → responder).
    pub rsts: Vec<FlowKey>,
    deletions: Vec<Deletion>,
    events: Vec<TimedEvent>,
}

pub fn registry(config: HalfOpenConfig, workers: u16, capacity: u32) -> Arc<HalfOpenRegistry> {
    Arc::new(
        HalfOpenRegistry::new(
            config,
            RegistrySizing {
                workers,
                capacity: capacity * workers as u32,
                hosts: 4096,
                events: 1024,
            },
            Nanos::ZERO,
        )
        .expect("config"),
    )
}

impl Sim {
    pub fn new(config: HalfOpenConfig) -> Sim {
        Sim::with_registry(registry(config, 1, 4096), 0, 4096)
    }

    pub fn with_registry(reg: Arc<HalfOpenRegistry>, worker: u16, capacity: u32) -> Sim {
        Sim {
            table: FlowTable::new(
                TableConfig::with_capacity(capacity),
                Default::default(),
                Nanos::ZERO,
            )
            .expect("table"),
            reg,
            worker,
            timeouts: Timeouts::default(),
            smtp_timeout: None,
            audit: false,
            log: Vec::new(),
            rsts: Vec::new(),
            deletions: Vec::with_capacity(256),
            events: Vec::with_capacity(256),
        }
    }

    /// Whether a session may be created by this first packet (the seed rules:
    /// IN-OUT tcp/udp/icmp inbound on the inside, OUT-IN smtp inbound outside).
    fn may_create(&self, key: &FlowKey, kind: Kind) -> bool {
        let opening = matches!(kind, Kind::Syn | Kind::Udp(_) | Kind::EchoRequest);
        opening
            && (key.zone == INSIDE
                || (key.proto == IPPROTO_TCP
                    && key.dst_port == 25
                    && key.dst_addr() == ip("172.22.1.110")))
    }

    pub fn packet(&mut self, now: Nanos, key: FlowKey, kind: Kind) -> Verdict {
        let v = self.packet_inner(now, key, kind);
        self.drain(now);
        v
    }

    fn packet_inner(&mut self, now: Nanos, key: FlowKey, kind: Kind) -> Verdict {
        let hash = self.table.hasher().hash(&key);
        let Some(hit) = self.table.lookup(&key, hash) else {
            return if self.may_create(&key, kind) {
                self.create(now, key, kind)
            } else {
                Verdict::Drop
            };
        };
        let h = hit.handle;
        let forward = hit.direction == Direction::Forward;
        let dir = usize::from(!forward);
        let Some(s) = self.table.get_mut(h) else {
            return Verdict::Drop;
        };
        let mut rearm: Option<(TimeoutKind, Nanos)> = None;
        let mut touch = false;
        let mut leave_halfopen = false;
        let mut delete = false;
        match kind {
            Kind::Syn => {} // retransmission: forwarded, synwait not restarted
            Kind::SynAck if !forward && s.st == St::SynSent => {
                s.st = St::SynRcvd;
                s.synack = true;
            }
            Kind::Ack if forward && s.st == St::SynRcvd => {
                s.st = St::Established;
                leave_halfopen = true;
                rearm = Some((TimeoutKind::TcpIdle, s.idle));
            }
            Kind::Data(n) if matches!(s.st, St::Established | St::FinOne) => {
                s.bytes[dir] += n;
                touch = true;
            }
            Kind::Ack => touch = s.st != St::FinBoth,
            Kind::Fin => {
                s.fin[dir] = true;
                if s.fin[0] && s.fin[1] {
                    s.st = St::FinBoth;
                    rearm = Some((TimeoutKind::FinWait, self.timeouts.finwait));
                } else {
                    s.st = St::FinOne;
                    touch = true;
                }
            }
            Kind::Rst => delete = true,
            Kind::Udp(n) => {
                s.bytes[dir] += n;
                if !forward && s.st == St::UdpOpening {
                    s.st = St::UdpOpen;
                    leave_halfopen = true;
                    let dns = self
                        .table
                        .keys(h)
                        .is_some_and(|k| k.initiator.dst_port == 53);
                    rearm = Some(if dns {
                        (TimeoutKind::Dns, self.timeouts.dns)
                    } else {
                        (
                            TimeoutKind::UdpIdle,
                            self.table.get(h).map_or(Nanos::ZERO, |s| s.idle),
                        )
                    });
                } else {
                    touch = true;
                }
            }
            Kind::EchoRequest => touch = forward,
            Kind::EchoReply => {}
            _ => return Verdict::Drop,
        }
        if leave_halfopen {
            let id = self.table.get_mut(h).and_then(|s| s.halfopen.take());
            if let Some(id) = id {
                if let Release::AlreadyDeleted(_) = self.reg.established(id, now) {
                    self.delete(now, h, true);
                    return Verdict::Drop;
                }
            }
        }
        if delete {
            self.delete(now, h, false);
            return Verdict::Forward;
        }
        if let Some((k, d)) = rearm {
            self.table.arm(h, k, d, now);
        } else if touch {
            self.table.touch(h, now);
        }
        Verdict::Forward
    }

    fn create(&mut self, now: Nanos, key: FlowKey, kind: Kind) -> Verdict {
        let keys = SessionKeys {
            initiator: key,
            responder: translate(&key),
        };
        let (st, timer, idle, transport) = match kind {
            Kind::Syn => {
                let idle = if key.dst_port == 25 {
                    self.smtp_timeout.unwrap_or(self.timeouts.tcp_idle)
                } else {
                    self.timeouts.tcp_idle
                };
                (
                    St::SynSent,
                    (TimeoutKind::SynWait, self.timeouts.synwait),
                    idle,
                    Some(Transport::Tcp),
                )
            }
            Kind::Udp(_) => (
                St::UdpOpening,
                (TimeoutKind::UdpIdle, self.timeouts.udp_idle),
                self.timeouts.udp_idle,
                Some(Transport::Udp),
            ),
            _ => (
                St::Icmp,
                (TimeoutKind::Icmp, self.timeouts.icmp),
                self.timeouts.icmp,
                None,
            ),
        };
        let sess = Sess {
            st,
            halfopen: None,
            synack: false,
            fin: [false; 2],
            bytes: [0; 2],
            idle,
        };
        let Ok(h) = self.table.insert(keys, sess, now) else {
            return Verdict::Drop;
        };
        if let Some(t) = transport {
            match self.reg.attempt(self.worker, h, t, key.dst_addr(), now) {
                flowtable::Admission::Admitted(id) => {
                    if let Some(s) = self.table.get_mut(h) {
                        s.halfopen = Some(id);
                    }
                }
                flowtable::Admission::Refused(_) => {
                    self.table.remove(h);
                    return Verdict::Drop;
                }
            }
        }
        if let Kind::Udp(n) = kind {
            if let Some(s) = self.table.get_mut(h) {
                s.bytes[0] += n;
            }
        }
        self.table.arm(h, timer.0, timer.1, now);
        Verdict::Forward
    }

    /// Tears a session down on our own initiative (RST, doomed on progress).
    fn delete(&mut self, now: Nanos, h: flowtable::Handle, rst_if_synack: bool) {
        let Some(keys) = self.table.keys(h) else {
            return;
        };
        let Some(s) = self.table.remove(h) else {
            return;
        };
        if let Some(id) = s.halfopen {
            self.reg.remove(id, RemoveCause::Closed, now);
        }
        if rst_if_synack && s.synack {
            self.rsts.push(keys.responder);
        }
        self.audit(now, &keys, &s);
    }

    fn audit(&mut self, now: Nanos, keys: &SessionKeys, s: &Sess) {
        if !self.audit {
            return;
        }
        let i = keys.initiator;
        self.log.push((
            now,
            format!(
                "%FW-6-SESS_AUDIT_TRAIL: {} session initiator ({}:{}) sent {} bytes -- responder ({}:{}) sent {} bytes",
                proto_name(&i),
                i.src_addr(),
                i.src_port,
                s.bytes[0],
                i.dst_addr(),
                i.dst_port,
                s.bytes[1]
            ),
        ));
    }

    /// Timer tick: expiries, registry poll, deletion notices, events.
    pub fn tick(&mut self, now: Nanos) {
        let mut expired = Vec::new();
        loop {
            let r = self.table.advance(now, 64, |e| expired.push(e));
            if !r.more {
                break;
            }
        }
        for e in expired {
            if let Some(id) = e.value.halfopen {
                self.reg.remove(id, RemoveCause::TimedOut, now);
                if e.kind == TimeoutKind::SynWait && e.value.synack {
                    self.rsts.push(e.keys.responder);
                }
            }
            self.audit(now, &e.keys, &e.value);
        }
        self.reg.poll(now);
        self.drain(now);
    }

    fn drain(&mut self, now: Nanos) {
        self.reg.take_deletions(self.worker, &mut self.deletions);
        let mut deletions = std::mem::take(&mut self.deletions);
        for d in deletions.drain(..) {
            let keys = self.table.keys(d.handle);
            if let (Some(s), Some(keys)) = (self.table.remove(d.handle), keys) {
                // Decision 6: RST to the responder if its SYN-ACK was seen.
                if d.transport == Transport::Tcp && s.synack {
                    self.rsts.push(keys.responder);
                }
                self.audit(now, &keys, &s);
            }
        }
        self.deletions = deletions;
        self.reg.take_events(&mut self.events);
        for e in self.events.drain(..) {
            self.log.push((now, e.event.to_string()));
        }
    }

    /// `show ip inspect session` lines (initiator-side view), sorted.
    pub fn sessions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .table
            .iter()
            .map(|(_, k, s)| {
                let i = k.initiator;
                let (sp, dp) = if i.proto == IPPROTO_ICMP {
                    (0, 0)
                } else {
                    (i.src_port, i.dst_port)
                };
                format!(
                    " ({}:{})=>({}:{}) {} {}",
                    i.src_addr(),
                    sp,
                    i.dst_addr(),
                    dp,
                    proto_name(&i),
                    s.st.display()
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.iter().map(|(_, l)| l.clone()).collect()
    }

    pub fn halfopen_count(&self) -> usize {
        self.table
            .iter()
            .filter(|(_, _, s)| s.halfopen.is_some())
            .count()
    }
}

pub fn proto_name(k: &FlowKey) -> &'static str {
    match k.proto {
        IPPROTO_TCP if k.dst_port == 25 => "smtp",
        IPPROTO_TCP if k.dst_port == 80 && k.zone == INSIDE => "http",
        IPPROTO_TCP => "tcp",
        IPPROTO_UDP => "udp",
        _ => "icmp",
    }
}

pub fn secs(s: f64) -> Nanos {
    Nanos((s * 1e9).round() as u64)
}
