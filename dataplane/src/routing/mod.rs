//! Routing, neighbour resolution and the router's minimal local stack
//! (`config-and-nat.md` §6, §7, §4.4).
//!
//! * [`RouteTable`]: connected routes of up interfaces plus `ip route` statics, compiled into
//!   one hash map per prefix length present (longest prefix first). Static next hops are
//!   resolved recursively to a connected subnet when the table is built, so a lookup returns
//!   the egress interface and the gateway to ARP for. The pipeline looks up once per new
//!   session; sessions cache the [`Route`] and the lead rebuilds the table (and bumps a
//!   generation) when interfaces or routes change.
//! * [`NeighbourTable`]: the ARP cache of every interface. Decision: packets for a next hop
//!   that is being resolved are *queued*, not dropped (IOS drops the first packet, which would
//!   cost the seed's first inbound SYN a one-second retransmission): a small pool of
//!   fixed-size slots allocated once, at most [`NeighbourConfig::queue_per_neighbour`] packets
//!   per neighbour; every packet that does not fit is dropped and counted. Requests are
//!   retried every second, three times; then the queued packets are dropped (counted) and
//!   the entry is forgotten. Resolved entries live four hours (IOS default).
//! * The local stack: [`handle_arp`] answers who-has for interface addresses and, on
//!   `ip nat outside` interfaces, for static-translation GLOBAL addresses in the interface's
//!   subnet (§4.4); [`handle_local`] answers ICMP echo to an interface address and drops
//!   everything else addressed to the router (§7); [`IcmpErrorLimiter`] allows one ICMP error
//!   per interface per 500 ms, shared by all workers through atomics.
//!
//! Layout: this file holds the interface model shared by all three parts ([`Interface`],
//! [`Ipv4Cidr`], [`IfIndex`], [`NatRole`]); `table.rs` the route table, `neighbour.rs` the ARP
//! cache and its pending queue, `local.rs` the local stack. Every item is re-exported here,
//! so `crate::routing::X` is the one public path.
//!
//! Sans-IO: `now` is a [`Duration`](std::time::Duration) on the caller's monotonic clock;
//! nothing here reads a clock or touches the OS.

mod local;
mod neighbour;
mod table;

use std::fmt;
use std::net::Ipv4Addr;

use crate::nat::StaticNatTable;
use crate::wire::arp::ArpRepr;
use crate::wire::ethernet::Mac;

pub use local::{handle_arp, handle_local, is_router_address, IcmpErrorLimiter, LocalVerdict};
pub use neighbour::{
    NeighbourConfig, NeighbourCounters, NeighbourDrop, NeighbourGeneration, NeighbourTable,
    Resolution, MAX_QUEUE_PER_NEIGHBOUR,
};
pub use table::{InstalledRoute, Route, RouteSource, RouteTable, RouteTarget, StaticRoute};

// ---------------------------------------------------------------------------------------
// Interfaces
// ---------------------------------------------------------------------------------------

/// Index of a dataplane interface (the lead maps IOS names to indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfIndex(pub u16);

/// `ip nat inside` / `ip nat outside` marking of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatRole {
    /// Neither.
    #[default]
    None,
    /// `ip nat inside`.
    Inside,
    /// `ip nat outside`.
    Outside,
}

/// Why an address/mask or route is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The mask's one bits are not contiguous.
    #[error("% Invalid mask {0}")]
    BadMask(Ipv4Addr),
    /// The prefix has bits set outside the mask (IOS: `%Inconsistent address and mask`).
    #[error("%Inconsistent address and mask")]
    InconsistentAddressAndMask,
    /// Administrative distance outside 1–255.
    #[error("% Invalid distance {0}")]
    BadDistance(u8),
}

/// An IPv4 address with a prefix length (an interface address or a route prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// An address and prefix length (0–32; larger values are clamped to 32).
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Self {
        Ipv4Cidr {
            addr,
            prefix_len: prefix_len.min(32),
        }
    }

    /// An address and a dotted mask as written in IOS (`172.22.1.16 255.255.255.0`).
    pub fn from_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Result<Self, RouteError> {
        let m = u32::from(mask);
        let len = m.leading_ones();
        if m.checked_shl(len).unwrap_or(0) != 0 {
            return Err(RouteError::BadMask(mask));
        }
        Ok(Ipv4Cidr::new(addr, len as u8))
    }

    /// The address.
    #[inline]
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The mask as a number.
    #[inline]
    pub fn mask_bits(&self) -> u32 {
        mask_of(self.prefix_len)
    }

    /// The dotted mask.
    #[inline]
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The network address.
    #[inline]
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask_bits())
    }

    /// The directed-broadcast address of the subnet.
    #[inline]
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask_bits())
    }

    /// Whether `ip` is in this subnet.
    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask_bits() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[inline]
pub(super) fn mask_of(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

/// What routing and the local stack need to know about one interface. The lead builds
/// these from the configuration and the bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Index.
    pub index: IfIndex,
    /// MAC address of the bound host device.
    pub mac: Mac,
    /// `ip address` (None for `no ip address`).
    pub address: Option<Ipv4Cidr>,
    /// NAT marking.
    pub nat: NatRole,
    /// Not shutdown and bound to a device.
    pub up: bool,
}

impl Interface {
    /// Whether `ip` is this interface's own address.
    #[inline]
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.up && self.address.is_some_and(|a| a.addr() == ip)
    }

    /// The who-has request this interface sends to resolve `target`.
    pub fn arp_request(&self, target: Ipv4Addr) -> Option<ArpRepr> {
        let a = self.address?;
        Some(ArpRepr::request(self.mac, a.addr(), target))
    }

    /// Gratuitous ARPs to send when the interface comes up: its own address and, on a
    /// `nat outside` interface, every static-translation alias in its subnet (§7).
    pub fn gratuitous_arps<'a>(
        &'a self,
        nat: &'a StaticNatTable,
    ) -> impl Iterator<Item = ArpRepr> + 'a {
        let own = self.address.filter(|_| self.up).map(|a| a.addr());
        let aliases = nat
            .translations()
            .iter()
            .map(|t| t.global)
            .filter(move |g| nat.is_alias(*g, self));
        own.into_iter()
            .chain(aliases)
            .map(move |ip| ArpRepr::gratuitous(self.mac, ip))
    }
}

/// Shared fixtures of the routing tests: the seed scenario's interfaces, translations and
/// routes.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::net::Ipv4Addr;

    use etherparse::PacketBuilder;

    use super::*;

    pub(crate) const E20: IfIndex = IfIndex(0);
    pub(crate) const E21: IfIndex = IfIndex(1);
    pub(crate) const S20: IfIndex = IfIndex(2);
    pub(crate) const E20_MAC: Mac = Mac([0x02, 0, 0, 0, 0x20, 0x00]);
    pub(crate) const E21_MAC: Mac = Mac([0x02, 0, 0, 0, 0x21, 0x00]);
    pub(crate) const ISP_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x01]);

    pub(crate) fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    pub(crate) fn seed_interfaces() -> Vec<Interface> {
        vec![
            Interface {
                index: E20,
                mac: E20_MAC,
                address: Some(Ipv4Cidr::from_mask(ip("172.22.1.16"), ip("255.255.255.0")).unwrap()),
                nat: NatRole::Outside,
                up: true,
            },
            Interface {
                index: E21,
                mac: E21_MAC,
                address: Some(Ipv4Cidr::from_mask(ip("10.10.10.1"), ip("255.255.255.0")).unwrap()),
                nat: NatRole::Inside,
                up: true,
            },
            Interface {
                index: S20,
                mac: Mac::ZERO,
                address: None,
                nat: NatRole::None,
                up: false,
            },
        ]
    }

    pub(crate) fn seed_nat() -> StaticNatTable {
        let mut t = StaticNatTable::new();
        t.insert(ip("10.10.10.2"), ip("172.22.1.110")).unwrap();
        t.insert(ip("10.10.10.5"), ip("172.22.1.111")).unwrap();
        t
    }

    pub(crate) fn seed_routes() -> RouteTable {
        let default = StaticRoute::new(
            ip("0.0.0.0"),
            ip("0.0.0.0"),
            RouteTarget::NextHop(ip("172.22.1.1")),
            StaticRoute::DEFAULT_DISTANCE,
        )
        .unwrap();
        RouteTable::build(&seed_interfaces(), &[default])
    }

    pub(crate) fn frame_to(dst: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(E20_MAC.0, [0; 6])
            .ipv4([10, 10, 10, 5], dst, 63)
            .udp(1, 2)
            .write(&mut f, b"x")
            .unwrap();
        f
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn masks_and_prefixes() {
        let c = Ipv4Cidr::from_mask(ip("172.22.1.16"), ip("255.255.255.0")).unwrap();
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.network(), ip("172.22.1.0"));
        assert_eq!(c.broadcast(), ip("172.22.1.255"));
        assert_eq!(c.mask(), ip("255.255.255.0"));
        assert!(c.contains(ip("172.22.1.110")));
        assert!(!c.contains(ip("172.22.2.1")));
        assert_eq!(
            Ipv4Cidr::from_mask(ip("1.2.3.4"), ip("255.0.255.0")),
            Err(RouteError::BadMask(ip("255.0.255.0")))
        );
        assert_eq!(
            Ipv4Cidr::from_mask(ip("0.0.0.0"), ip("0.0.0.0"))
                .unwrap()
                .prefix_len(),
            0
        );
        assert_eq!(
            StaticRoute::new(
                ip("10.1.0.0"),
                ip("255.0.0.0"),
                RouteTarget::NextHop(ip("1.1.1.1")),
                1
            ),
            Err(RouteError::InconsistentAddressAndMask)
        );
        assert!(Ipv4Cidr::new(ip("0.0.0.0"), 0).contains(ip("203.0.113.9")));
    }

    #[test]
    fn gratuitous_arps_on_up() {
        let ifs = seed_interfaces();
        let nat = seed_nat();
        let g: Vec<_> = ifs[0].gratuitous_arps(&nat).map(|a| a.target_ip).collect();
        assert_eq!(
            g,
            vec![ip("172.22.1.16"), ip("172.22.1.110"), ip("172.22.1.111")]
        );
        let g: Vec<_> = ifs[1].gratuitous_arps(&nat).map(|a| a.target_ip).collect();
        assert_eq!(g, vec![ip("10.10.10.1")]);
    }
}
