//! The router's minimal local stack (`config-and-nat.md` §7, §4.4): ARP replies for
//! interface addresses and static-translation aliases, ICMP echo to interface addresses,
//! and the shared rate limit of router-originated ICMP errors.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{IfIndex, Interface, NeighbourTable};
use crate::nat::StaticNatTable;
use crate::wire::arp::{ArpOp, ArpRepr};
use crate::wire::emit;
use crate::wire::frame::{ParsedFrame, L4};
use crate::wire::icmp;

/// Handles an ARP packet received on `iface`: learns the sender (RFC 826 merge; entries are
/// created only from packets that concern us) and returns the reply to send, if any. The
/// router answers who-has for the interface's own address and, on an `ip nat outside`
/// interface, for every static-translation GLOBAL address in the interface's subnet
/// (§4.4, seed case B8). Senders outside the interface's subnet are ignored, and so are
/// gratuitous requests (they only refresh the cache).
pub fn handle_arp(
    now: Duration,
    arp: &ArpRepr,
    iface: &Interface,
    nat: &StaticNatTable,
    neighbours: &mut NeighbourTable,
) -> Option<ArpRepr> {
    let ours = iface.address.filter(|_| iface.up)?;
    if !ours.contains(arp.sender_ip) || arp.sender_ip == ours.addr() {
        return None;
    }
    let for_us = arp.target_ip == ours.addr() || nat.is_alias(arp.target_ip, iface);
    let creates = for_us || arp.op == ArpOp::Reply;
    if !arp.sender_mac.is_multicast() && !arp.sender_mac.octets().iter().all(|b| *b == 0) {
        neighbours.learn(now, iface.index, arp.sender_ip, arp.sender_mac, creates);
    }
    if arp.op == ArpOp::Request && for_us && arp.sender_ip != arp.target_ip {
        Some(arp.reply_from(iface.mac, arp.target_ip))
    } else {
        None
    }
}

/// What became of a packet addressed to one of the router's own addresses (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalVerdict {
    /// The frame buffer now holds the echo reply (this many bytes); send it back out of the
    /// ingress interface.
    EchoReply(usize),
    /// Not something the minimal stack answers (counted as `to-router`).
    Drop,
}

/// Whether `dst` is the address of an up interface (traffic for the router itself).
pub fn is_router_address(interfaces: &[Interface], dst: Ipv4Addr) -> bool {
    interfaces.iter().any(|i| i.owns(dst))
}

/// Handles a datagram the ingress ACL permitted and that is addressed to one of the
/// router's interface addresses (any interface, as IOS does): an ICMP echo request is
/// turned into its reply in place (sent back to the neighbour it came from); everything
/// else is dropped.
pub fn handle_local(frame: &mut [u8], parsed: &ParsedFrame, ingress: &Interface) -> LocalVerdict {
    let Some(ip) = parsed.ipv4() else {
        return LocalVerdict::Drop;
    };
    match ip.l4 {
        L4::Icmp(i) if i.icmp_type == icmp::types::ECHO_REQUEST => {
            match emit::echo_reply_in_place(frame, parsed, ingress.mac) {
                Ok(n) => LocalVerdict::EchoReply(n),
                Err(_) => LocalVerdict::Drop,
            }
        }
        _ => LocalVerdict::Drop,
    }
}

/// Rate limit of router-originated ICMP errors: one per interface per interval (IOS
/// `ip icmp rate-limit unreachable` default 500 ms), shared by all workers. Each interface
/// is a token bucket of one token refilled after `interval`; a worker takes the token with
/// a compare-and-swap on the time it was last taken, so the limit holds across cores
/// without a lock.
#[derive(Debug)]
pub struct IcmpErrorLimiter {
    interval_ns: u64,
    /// Per interface: 1 + time (ns) of the last error sent; 0 = never.
    last: Box<[AtomicU64]>,
}

impl IcmpErrorLimiter {
    /// IOS default interval.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

    /// A limiter for interfaces with index below `interfaces`.
    pub fn new(interval: Duration, interfaces: usize) -> Self {
        IcmpErrorLimiter {
            interval_ns: interval.as_nanos().min(u128::from(u64::MAX)) as u64,
            last: (0..interfaces).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether an ICMP error may be sent from `iface` now (and, if so, takes the token).
    /// Unknown interface indexes are never allowed.
    pub fn allow(&self, iface: IfIndex, now: Duration) -> bool {
        let Some(slot) = self.last.get(usize::from(iface.0)) else {
            return false;
        };
        let now_ns = (now.as_nanos().min(u128::from(u64::MAX - 1)) as u64) + 1;
        let mut prev = slot.load(Ordering::Relaxed);
        loop {
            if prev != 0 && now_ns < prev.saturating_add(self.interval_ns) {
                return false;
            }
            match slot.compare_exchange_weak(prev, now_ns, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(p) => prev = p,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;

    use super::*;
    use crate::routing::fixtures::*;
    use crate::routing::{NeighbourConfig, NeighbourTable};
    use crate::wire::ethernet::Mac;
    use crate::wire::frame::parse_frame;
    use crate::wire::L3;

    fn who_has(target: &str) -> ArpRepr {
        ArpRepr::request(ISP_MAC, ip("172.22.1.1"), ip(target))
    }

    #[test]
    fn b8_arp_for_own_address_and_nat_aliases() {
        let ifs = seed_interfaces();
        let nat = seed_nat();
        let mut n = NeighbourTable::new(NeighbourConfig::default());
        let now = Duration::from_secs(10);
        for target in ["172.22.1.110", "172.22.1.111", "172.22.1.16"] {
            // Through the real parser, from the bytes the isp would send.
            let mut f = [0u8; 60];
            who_has(target).emit_frame(&mut f).unwrap();
            let L3::Arp(req) = parse_frame(&f).unwrap().l3 else {
                panic!()
            };
            let reply = handle_arp(now, &req, &ifs[0], &nat, &mut n).expect(target);
            assert_eq!(reply.op, ArpOp::Reply);
            assert_eq!(reply.sender_mac, E20_MAC);
            assert_eq!(reply.sender_ip, ip(target));
            assert_eq!(reply.target_mac, ISP_MAC);
            assert_eq!(reply.target_ip, ip("172.22.1.1"));
            let mut out = [0u8; 60];
            reply.emit_frame(&mut out).unwrap();
            let oracle = etherparse::ArpPacket::from_slice(&out[14..]).unwrap();
            assert_eq!(oracle.operation, etherparse::ArpOperation::REPLY);
            assert_eq!(oracle.sender_hw_addr(), &E20_MAC.0);
            assert_eq!(&out[..6], &ISP_MAC.0);
        }
        assert_eq!(
            handle_arp(now, &who_has("172.22.1.112"), &ifs[0], &nat, &mut n),
            None
        );
        // Aliases are not answered on the inside interface.
        let inside_req = ArpRepr::request(
            Mac([2, 0, 0, 0, 0, 5]),
            ip("10.10.10.5"),
            ip("172.22.1.110"),
        );
        assert_eq!(handle_arp(now, &inside_req, &ifs[1], &nat, &mut n), None);
        // The requester was learned from a request for us.
        assert_eq!(n.lookup(now, E20, ip("172.22.1.1")), Some(ISP_MAC));
        // A request from outside the subnet is ignored entirely.
        let stray = ArpRepr::request(ISP_MAC, ip("192.0.2.1"), ip("172.22.1.16"));
        assert_eq!(handle_arp(now, &stray, &ifs[0], &nat, &mut n), None);
        assert_eq!(n.lookup(now, E20, ip("192.0.2.1")), None);
    }

    #[test]
    fn echo_to_interface_address_is_answered() {
        let ifs = seed_interfaces();
        let mut f = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 5], E21_MAC.0)
            .ipv4([10, 10, 10, 5], [10, 10, 10, 1], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut f, &[0u8; 32])
            .unwrap();
        assert!(is_router_address(&ifs, ip("10.10.10.1")));
        assert!(is_router_address(&ifs, ip("172.22.1.16")));
        assert!(!is_router_address(&ifs, ip("172.22.1.110")));
        let p = parse_frame(&f).unwrap();
        let LocalVerdict::EchoReply(len) = handle_local(&mut f, &p, &ifs[1]) else {
            panic!()
        };
        let r = parse_frame(&f[..len]).unwrap();
        assert_eq!(r.ipv4().unwrap().dst, ip("10.10.10.5"));
        // Anything else to the router is dropped.
        let mut u = frame_to([10, 10, 10, 1]);
        let p = parse_frame(&u).unwrap();
        assert_eq!(handle_local(&mut u, &p, &ifs[1]), LocalVerdict::Drop);
    }

    #[test]
    fn b2_icmp_errors_rate_limited_per_interface() {
        let l = IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, 2);
        let t = Duration::from_millis(1_000);
        assert!(l.allow(E20, t));
        assert!(!l.allow(E20, t + Duration::from_millis(100)));
        assert!(l.allow(E21, t + Duration::from_millis(100)));
        assert!(!l.allow(E20, t + Duration::from_millis(499)));
        assert!(l.allow(E20, t + Duration::from_millis(500)));
        assert!(!l.allow(IfIndex(7), t));
        // Time zero is a valid first instant.
        let l = IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, 1);
        assert!(l.allow(E20, Duration::ZERO));
        assert!(!l.allow(E20, Duration::from_millis(1)));
    }

    #[test]
    fn rate_limit_holds_across_workers() {
        let l = std::sync::Arc::new(IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, 1));
        let allowed: usize = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| l.allow(E20, Duration::from_millis(42)))
                        .count()
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 1);
    }
}
