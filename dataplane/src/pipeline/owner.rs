//! Which worker owns a packet's session: the peer hash.
//!
//! The kernel's fanout already spreads frames over the workers by the peer
//! hash ([`crate::io::steer`]: outside peer address and both ports, the same
//! for both directions and both interfaces of a session under inside-source
//! translation). Ownership uses the very same hash, so a frame of an ordinary
//! TCP or UDP flow is always owned by the worker that received it and never
//! crosses a handoff ring; only what the kernel cannot place does:
//! - an ICMP error, which the kernel hashes on its sender (a router on the
//!   path), belongs to the session of the datagram it quotes. That datagram
//!   travelled the other way, so its peer is on the opposite side;
//! - an initial fragment without `ip virtual-reassembly` (the kernel hashes
//!   fragments on the peer address alone) belongs to its flow, ports
//!   included, as does a datagram reassembled from fragments.
//!
//! An ICMP query's session hashes on the peer address alone, as the kernel
//! does for every protocol but TCP and UDP.

use std::net::Ipv4Addr;

use crate::io::steer::{peer_address_hash, peer_flow_hash, PeerSide};
use crate::wire::established::Forwardable;
use crate::wire::frame::{Ipv4Info, L4};
use crate::wire::icmp::{EmbeddedL4, IcmpClass};
use crate::wire::ipv4::protocol;

/// The owner hash of a parsed datagram received with its peer on `side`
/// (`None`: it can belong to no session, e.g. a non-initial fragment or an
/// unknown protocol, and stays where it landed).
pub(super) fn owner_hash(side: PeerSide, ip: &Ipv4Info) -> Option<u64> {
    let ports = |src_port: u16, dst_port: u16| {
        flow_owner(
            side.pick(ip.src, ip.dst),
            side.pick(src_port, dst_port),
            side.pick(dst_port, src_port),
        )
    };
    match ip.l4 {
        L4::Tcp(t) => Some(ports(t.src_port, t.dst_port)),
        L4::Udp(u) => Some(ports(u.src_port, u.dst_port)),
        L4::Icmp(i) => match i.class {
            IcmpClass::QueryRequest | IcmpClass::QueryReply => {
                Some(address_owner(side.pick(ip.src, ip.dst)))
            }
            IcmpClass::Error => {
                let e = i.embedded?;
                let quoted = side.opposite();
                let peer = quoted.pick(e.src, e.dst);
                match (e.protocol, e.l4) {
                    (protocol::TCP | protocol::UDP, EmbeddedL4::Ports { src_port, dst_port }) => {
                        Some(flow_owner(
                            peer,
                            quoted.pick(src_port, dst_port),
                            quoted.pick(dst_port, src_port),
                        ))
                    }
                    (protocol::ICMP, EmbeddedL4::IcmpQuery { .. }) => Some(address_owner(peer)),
                    _ => None,
                }
            }
            IcmpClass::Other => None,
        },
        L4::Fragment | L4::Other => None,
    }
}

/// The owner hash of a frame the established fast path parsed (TCP or UDP,
/// never a fragment): the kernel's peer hash of it.
#[inline(always)]
pub(super) fn forwardable_owner_hash(side: PeerSide, f: &Forwardable) -> u64 {
    flow_owner(
        side.pick(f.src, f.dst),
        side.pick(f.src_port, f.dst_port),
        side.pick(f.dst_port, f.src_port),
    )
}

#[inline(always)]
fn flow_owner(peer: Ipv4Addr, peer_port: u16, local_port: u16) -> u64 {
    u64::from(peer_flow_hash(peer, peer_port, local_port))
}

fn address_owner(peer: Ipv4Addr) -> u64 {
    u64::from(peer_address_hash(peer))
}
