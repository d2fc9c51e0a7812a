//! Flow keys: the IPv4 5-tuple plus a small zone id, and the two keys of a session.
//!
//! A packet is matched to a session by its [`FlowKey`]. Both directions of a flow
//! must find the same session, so the table indexes keys in their *canonical* form
//! ([`FlowKey::canonical`]: the endpoint with the smaller `(address, port)` first)
//! and reports on a hit whether the packet travelled in the key's own direction
//! ([`Direction::Forward`]) or the reverse one.
//!
//! With static NAT one session has two views (`cbac-sessions.md` §1.5): the
//! initiator-side tuple (as seen where the session was created) and the
//! responder-side tuple (as seen on the other interface). [`SessionKeys`] holds
//! both; the table indexes both, so a packet of either direction on either
//! interface finds its session with one probe.
//!
//! `zone` separates address spaces (for example the interface side a key was seen
//! on), so that identical tuples in two zones are different flows. The reverse of a
//! key keeps its zone: a reply arrives in the same zone as the request left.

use core::fmt;
use core::net::Ipv4Addr;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;

/// An IPv4 5-tuple plus a zone id. Addresses are host-order `u32`.
///
/// For ICMP sessions the dataplane puts the echo identifier in `src_port` and 0 in
/// `dst_port` (`cbac-sessions.md` §5.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port (or ICMP identifier).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Address-space / direction id chosen by the dataplane.
    pub zone: u8,
}

impl FlowKey {
    /// Builds a key from addresses and ports.
    pub const fn new(
        proto: u8,
        src: Ipv4Addr,
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
        zone: u8,
    ) -> FlowKey {
        FlowKey {
            src: src.to_bits(),
            dst: dst.to_bits(),
            src_port,
            dst_port,
            proto,
            zone,
        }
    }

    /// The same flow seen in the other direction (endpoints swapped, zone kept).
    #[inline]
    pub const fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
            zone: self.zone,
        }
    }

    /// Whether this key is already in canonical order
    /// (`(src, src_port) <= (dst, dst_port)`).
    #[inline]
    pub const fn is_canonical(&self) -> bool {
        self.src < self.dst || (self.src == self.dst && self.src_port <= self.dst_port)
    }

    /// The direction-free form: equal for a key and its reverse.
    #[inline]
    pub const fn canonical(&self) -> FlowKey {
        if self.is_canonical() {
            *self
        } else {
            self.reversed()
        }
    }

    /// Whether `packet` belongs to this key's flow, and in which direction.
    #[inline]
    pub fn direction_of(&self, packet: &FlowKey) -> Option<Direction> {
        if self == packet {
            Some(Direction::Forward)
        } else if self.reversed() == *packet {
            Some(Direction::Reverse)
        } else {
            None
        }
    }

    /// Packs the canonical key into two words (the input of the flow hash).
    #[inline]
    pub const fn packed_canonical(&self) -> (u64, u64) {
        let c = self.canonical();
        let a = ((c.src as u64) << 32) | c.dst as u64;
        let b = ((c.src_port as u64) << 48)
            | ((c.dst_port as u64) << 32)
            | ((c.proto as u64) << 8)
            | c.zone as u64;
        (a, b)
    }

    /// Source address as [`Ipv4Addr`].
    pub const fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.src)
    }

    /// Destination address as [`Ipv4Addr`].
    pub const fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.dst)
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}:{})=>({}:{}) proto {} zone {}",
            self.src_addr(),
            self.src_port,
            self.dst_addr(),
            self.dst_port,
            self.proto,
            self.zone
        )
    }
}

/// Which of a session's two keys a lookup matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The initiator-side tuple (where the session was created, before NAT).
    Initiator,
    /// The responder-side tuple (the other interface, after NAT).
    Responder,
}

/// The direction of a packet relative to the key it matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Same direction as the key: initiator → responder.
    Forward,
    /// Reverse direction: responder → initiator (return traffic).
    Reverse,
}

/// The two views of one session (`cbac-sessions.md` §1.5). Both are written in the
/// initiator → responder direction. Without NAT they may be equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SessionKeys {
    /// Tuple on the interface where the session was created (shown by `show`,
    /// audit trail and logs).
    pub initiator: FlowKey,
    /// Tuple on the other side of the static translation.
    pub responder: FlowKey,
}

impl SessionKeys {
    /// The key of one side.
    #[inline]
    pub const fn side(&self, side: Side) -> &FlowKey {
        match side {
            Side::Initiator => &self.initiator,
            Side::Responder => &self.responder,
        }
    }

    /// Whether both keys describe the same flow (no translation): the table then
    /// indexes it once.
    #[inline]
    pub fn is_single(&self) -> bool {
        self.initiator.canonical() == self.responder.canonical()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp_in() -> FlowKey {
        FlowKey::new(
            IPPROTO_TCP,
            Ipv4Addr::new(198, 51, 100, 7),
            40001,
            Ipv4Addr::new(172, 22, 1, 110),
            25,
            0,
        )
    }

    #[test]
    fn reverse_and_canonical() {
        let k = smtp_in();
        let r = k.reversed();
        assert_eq!(r.src_addr(), Ipv4Addr::new(172, 22, 1, 110));
        assert_eq!(r.src_port, 25);
        assert_eq!(r.reversed(), k);
        assert_eq!(k.canonical(), r.canonical());
        // 172.22.1.110 < 198.51.100.7, so the reply is the canonical form.
        assert!(r.is_canonical());
        assert!(!k.is_canonical());
        assert_eq!(k.packed_canonical(), r.packed_canonical());
    }

    #[test]
    fn same_address_orders_by_port() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let k = FlowKey::new(IPPROTO_UDP, a, 5000, a, 53, 1);
        assert!(!k.is_canonical());
        assert_eq!(k.canonical().src_port, 53);
    }

    #[test]
    fn direction_of() {
        let k = smtp_in();
        assert_eq!(k.direction_of(&k), Some(Direction::Forward));
        assert_eq!(k.direction_of(&k.reversed()), Some(Direction::Reverse));
        let mut other = k;
        other.zone = 1;
        assert_eq!(k.direction_of(&other), None);
    }

    #[test]
    fn session_keys_single() {
        let k = smtp_in();
        let mut keys = SessionKeys {
            initiator: k,
            responder: k,
        };
        assert!(keys.is_single());
        keys.responder.dst = u32::from(Ipv4Addr::new(10, 10, 10, 2));
        assert!(!keys.is_single());
        assert_eq!(keys.side(Side::Responder).dst_port, 25);
    }

    #[test]
    fn debug_format() {
        assert_eq!(
            format!("{:?}", smtp_in()),
            "(198.51.100.7:40001)=>(172.22.1.110:25) proto 6 zone 0"
        );
    }
}
