//! Flow identification: the session key of a packet, and its table hash.
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

/// The table hash of a key: the same for both directions and both
/// interfaces of a session. (The owning worker is chosen by the peer hash,
/// `owner.rs`.)
#[inline]
pub fn hash_of(hasher: &FlowHasher, key: &FlowKey) -> FlowHash {
    hasher.hash(key)
}

/// The session key of a frame the established fast path may take (TCP or
/// UDP): `key_of` without building the general summary, with the inside form
/// of each address found through `globals`. Always inlined: the burst loop
/// keeps the parsed fields in registers.
#[inline(always)]
pub(super) fn forwardable_key(
    rt: &Runtime,
    globals: &GlobalMap,
    f: &crate::wire::established::Forwardable,
) -> FlowKey {
    FlowKey::new(
        f.protocol,
        globals.inside_form(rt, f.src),
        f.src_port,
        globals.inside_form(rt, f.dst),
        f.dst_port,
        0,
    )
}

/// The static translations' GLOBAL → LOCAL map in the shape the per-packet
/// path wants, built from a [`Runtime`] (and rebuilt with it): 64 slots
/// indexed by a hash of the address. Most addresses a packet carries are not
/// a GLOBAL one, and an empty slot says so with one multiply and one AND; a
/// slot holding one GLOBAL address answers with one compare; a slot two
/// GLOBAL addresses share sends the address to `Runtime::inside_form`. Every
/// GLOBAL address is in its slot, so the map always gives the runtime's
/// answer (the property test below holds it to that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GlobalMap {
    /// Slots holding exactly one GLOBAL address.
    single: u64,
    /// Slots shared by several GLOBAL addresses.
    shared: u64,
    /// Per slot: the GLOBAL address (host order) and its LOCAL address.
    slots: [(u32, Ipv4Addr); 64],
}

impl GlobalMap {
    /// The map of `rt`'s static translations.
    pub(super) fn new(rt: &Runtime) -> GlobalMap {
        let mut m = GlobalMap {
            single: 0,
            shared: 0,
            slots: [(0, Ipv4Addr::UNSPECIFIED); 64],
        };
        for t in rt.nat.translations() {
            let i = Self::slot(t.global);
            let bit = 1u64 << i;
            if m.single & bit != 0 {
                m.single &= !bit;
                m.shared |= bit;
            } else if m.shared & bit == 0 {
                m.single |= bit;
                m.slots[i] = (t.global.to_bits(), t.local);
            }
        }
        m
    }

    /// The slot of `a` (Fibonacci hashing: the top six bits of a product).
    #[inline]
    fn slot(a: Ipv4Addr) -> usize {
        (a.to_bits().wrapping_mul(0x9e37_79b1) >> 26) as usize
    }

    /// `rt.inside_form(a)`. `rt` must be the runtime the map was built from.
    #[inline]
    pub(super) fn inside_form(&self, rt: &Runtime, a: Ipv4Addr) -> Ipv4Addr {
        let i = Self::slot(a);
        let bit = 1u64 << i;
        if (self.single | self.shared) & bit == 0 {
            return a;
        }
        if self.shared & bit != 0 {
            return rt.inside_form(a);
        }
        match self.slots[i & 63] {
            (global, local) if global == a.to_bits() => local,
            _ => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn runtime(statics: &[(Ipv4Addr, Ipv4Addr)]) -> Runtime {
        let mut text = String::from(
            "interface Ethernet0\n ip address 10.10.10.1 255.255.255.0\n ip nat inside\n\
             interface Ethernet1\n ip address 172.22.1.1 255.255.255.0\n ip nat outside\n",
        );
        for (local, global) in statics {
            text.push_str(&format!("ip nat inside source static {local} {global}\n"));
        }
        let (config, _) = crate::config::Config::load(&text).expect("config loads");
        Runtime::build(config, Vec::new(), 1).expect("runtime")
    }

    #[test]
    fn globals_map_to_locals_and_others_to_themselves() {
        let local = Ipv4Addr::new(10, 10, 10, 5);
        let global = Ipv4Addr::new(172, 22, 1, 111);
        let rt = runtime(&[(local, global)]);
        let f = GlobalMap::new(&rt);
        assert_eq!(f.inside_form(&rt, global), local);
        assert_eq!(f.inside_form(&rt, local), local);
        let other = Ipv4Addr::new(203, 0, 113, 7);
        assert_eq!(f.inside_form(&rt, other), other);
        let empty = GlobalMap::new(&runtime(&[]));
        assert_eq!((empty.single, empty.shared), (0, 0));
    }

    proptest! {
        /// The map gives the runtime's answer for every address, with up to
        /// 40 translations (beyond the runtime's linear-scan limit, and
        /// enough for slots shared by several GLOBAL addresses).
        #[test]
        fn same_answer_as_the_runtime(
            n in 0usize..40,
            probes in proptest::collection::vec(any::<u32>(), 1..64),
        ) {
            let statics: Vec<(Ipv4Addr, Ipv4Addr)> = (0..n)
                .map(|i| {
                    (
                        Ipv4Addr::new(10, 10, 10, 10 + i as u8),
                        Ipv4Addr::new(172, 22, 1, 100 + i as u8),
                    )
                })
                .collect();
            let rt = runtime(&statics);
            let f = GlobalMap::new(&rt);
            let probes = probes
                .into_iter()
                .map(Ipv4Addr::from_bits)
                .chain(statics.iter().flat_map(|&(l, g)| [l, g]));
            for a in probes {
                prop_assert_eq!(f.inside_form(&rt, a), rt.inside_form(a));
            }
        }
    }
}
