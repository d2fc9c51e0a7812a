//! Flow identification: the session key of a packet, and the steering hash.
//!
//! The key is the packet's 5-tuple in *inside form* (static GLOBAL addresses
//! replaced by their LOCAL ones, see `session.rs`), zone 0. ICMP queries put
//! the identifier on the requester's side of the key (`(requester, id) →
//! (peer, 0)`, replies the mirror image), so a reply is the reverse of its
//! request. ICMP errors are keyed by the datagram they quote: they belong to
//! the session of that datagram (`cbac-sessions.md` §5.2, §5.4).

use std::net::Ipv4Addr;

use flowtable::{FlowHash, FlowHasher, FlowKey};

use crate::runtime::Runtime;
use crate::wire::frame::{Ipv4Info, L4};
use crate::wire::icmp::{EmbeddedL4, IcmpClass};
use crate::wire::ipv4::protocol;

/// How a packet relates to the key it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The packet's own tuple (TCP, UDP, ICMP query or reply).
    Own,
    /// The tuple of the datagram quoted by an ICMP error.
    Quoted,
}

/// The session key of a packet, or `None` when it can belong to no session
/// (a non-initial fragment, an unknown protocol, an ICMP type CBAC ignores).
#[inline]
pub fn key_of(rt: &Runtime, ip: &Ipv4Info) -> Option<(FlowKey, KeyOrigin)> {
    let inside = |a: Ipv4Addr| rt.inside_form(a);
    match ip.l4 {
        L4::Tcp(t) => Some((
            FlowKey::new(
                protocol::TCP,
                inside(ip.src),
                t.src_port,
                inside(ip.dst),
                t.dst_port,
                0,
            ),
            KeyOrigin::Own,
        )),
        L4::Udp(u) => Some((
            FlowKey::new(
                protocol::UDP,
                inside(ip.src),
                u.src_port,
                inside(ip.dst),
                u.dst_port,
                0,
            ),
            KeyOrigin::Own,
        )),
        L4::Icmp(i) => match i.class {
            IcmpClass::QueryRequest => Some((
                FlowKey::new(
                    protocol::ICMP,
                    inside(ip.src),
                    i.ident,
                    inside(ip.dst),
                    0,
                    0,
                ),
                KeyOrigin::Own,
            )),
            IcmpClass::QueryReply => Some((
                FlowKey::new(
                    protocol::ICMP,
                    inside(ip.src),
                    0,
                    inside(ip.dst),
                    i.ident,
                    0,
                ),
                KeyOrigin::Own,
            )),
            IcmpClass::Error => {
                let e = i.embedded?;
                let (sport, dport) = match (e.protocol, e.l4) {
                    (protocol::TCP | protocol::UDP, EmbeddedL4::Ports { src_port, dst_port }) => {
                        (src_port, dst_port)
                    }
                    (protocol::ICMP, EmbeddedL4::IcmpQuery { ident, .. }) => (ident, 0),
                    _ => return None,
                };
                Some((
                    FlowKey::new(e.protocol, inside(e.src), sport, inside(e.dst), dport, 0),
                    KeyOrigin::Quoted,
                ))
            }
            IcmpClass::Other => None,
        },
        L4::Fragment | L4::Other => None,
    }
}

/// The steering hash of a key: the same for both directions and both
/// interfaces of a session, reused for the table lookup.
#[inline]
pub fn hash_of(hasher: &FlowHasher, key: &FlowKey) -> FlowHash {
    hasher.hash(key)
}
