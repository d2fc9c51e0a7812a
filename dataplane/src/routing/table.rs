//! The route table (`config-and-nat.md` §6): connected routes of up interfaces plus
//! `ip route` statics, compiled into one hash map per prefix length (longest first), with
//! static next hops resolved recursively when the table is built.

use std::net::Ipv4Addr;

use hashbrown::HashMap;

use super::{mask_of, IfIndex, Interface, Ipv4Cidr, RouteError};

/// Where an `ip route` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget {
    /// `ip route P M NEXTHOP`: resolved recursively.
    NextHop(Ipv4Addr),
    /// `ip route P M INTERFACE [NEXTHOP]`: out of that interface, to the next hop if given,
    /// else directly to the destination (ARP for it).
    Interface {
        /// Egress interface.
        index: IfIndex,
        /// Optional next hop on it.
        next_hop: Option<Ipv4Addr>,
    },
}

/// One `ip route` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticRoute {
    prefix: Ipv4Cidr,
    target: RouteTarget,
    distance: u8,
}

impl StaticRoute {
    /// Default administrative distance of a static route.
    pub const DEFAULT_DISTANCE: u8 = 1;

    /// `ip route PREFIX MASK TARGET [DISTANCE]`. Distance 255 is accepted and never
    /// installed (IOS semantics).
    pub fn new(
        prefix: Ipv4Addr,
        mask: Ipv4Addr,
        target: RouteTarget,
        distance: u8,
    ) -> Result<Self, RouteError> {
        let p = Ipv4Cidr::from_mask(prefix, mask)?;
        if p.network() != prefix {
            return Err(RouteError::InconsistentAddressAndMask);
        }
        if distance == 0 {
            return Err(RouteError::BadDistance(distance));
        }
        Ok(StaticRoute {
            prefix: p,
            target,
            distance,
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> Ipv4Cidr {
        self.prefix
    }

    /// The target.
    pub fn target(&self) -> RouteTarget {
        self.target
    }

    /// The administrative distance.
    pub fn distance(&self) -> u8 {
        self.distance
    }
}

/// The forwarding decision for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Egress interface.
    pub egress: IfIndex,
    /// Gateway to ARP for; `None` = the destination is on the link.
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    /// The address to resolve with ARP for a packet to `dst`.
    #[inline]
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.gateway.unwrap_or(dst)
    }
}

/// Where an installed route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSource {
    /// A connected subnet (distance 0).
    Connected,
    /// An `ip route` line.
    Static,
}

/// A route as installed (for `show ip route` and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledRoute {
    /// Prefix (network address).
    pub prefix: Ipv4Cidr,
    /// Origin.
    pub source: RouteSource,
    /// Administrative distance.
    pub distance: u8,
    /// Forwarding decision.
    pub route: Route,
}

/// Maximum depth of recursive next-hop resolution.
const MAX_RECURSION: usize = 8;

/// The compiled route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// One map per prefix length present, longest first: network → route.
    levels: Vec<(u8, HashMap<u32, Route>)>,
    installed: Vec<InstalledRoute>,
}

#[derive(Clone, Copy)]
struct Candidate {
    prefix: Ipv4Cidr,
    distance: u8,
    kind: CandidateKind,
}

#[derive(Clone, Copy)]
enum CandidateKind {
    Connected(IfIndex),
    Static(RouteTarget),
}

impl RouteTable {
    /// Builds the table from the interfaces (connected routes of up interfaces with an
    /// address) and the static routes. A static route whose next hop does not resolve to a
    /// connected subnet, or whose interface is down, is not installed. For equal prefixes
    /// the lowest distance wins (connected 0; ties keep the first configured).
    pub fn build(interfaces: &[Interface], statics: &[StaticRoute]) -> RouteTable {
        let mut cands: Vec<Candidate> = Vec::new();
        for i in interfaces.iter().filter(|i| i.up) {
            if let Some(a) = i.address {
                cands.push(Candidate {
                    prefix: Ipv4Cidr::new(a.network(), a.prefix_len()),
                    distance: 0,
                    kind: CandidateKind::Connected(i.index),
                });
            }
        }
        for s in statics.iter().filter(|s| s.distance < 255) {
            if let RouteTarget::Interface { index, .. } = s.target {
                if !interfaces.iter().any(|i| i.index == index && i.up) {
                    continue;
                }
            }
            cands.push(Candidate {
                prefix: s.prefix,
                distance: s.distance,
                kind: CandidateKind::Static(s.target),
            });
        }
        // Most specific first, then lowest distance, then configuration order (stable).
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by_key(|&i| {
            (
                std::cmp::Reverse(cands[i].prefix.prefix_len()),
                cands[i].distance,
            )
        });

        let mut installed: Vec<InstalledRoute> = Vec::new();
        for &ci in &order {
            let c = cands[ci];
            if installed.iter().any(|r| r.prefix == c.prefix) {
                continue;
            }
            let mut chain = [usize::MAX; MAX_RECURSION];
            chain[0] = ci;
            let Some(route) = resolve_candidate(&cands, &order, ci, &mut chain, 1) else {
                continue;
            };
            installed.push(InstalledRoute {
                prefix: c.prefix,
                source: match c.kind {
                    CandidateKind::Connected(_) => RouteSource::Connected,
                    CandidateKind::Static(_) => RouteSource::Static,
                },
                distance: c.distance,
                route,
            });
        }
        let mut levels: Vec<(u8, HashMap<u32, Route>)> = Vec::new();
        for r in &installed {
            let len = r.prefix.prefix_len();
            if !levels.iter().any(|(l, _)| *l == len) {
                levels.push((len, HashMap::new()));
            }
            if let Some((_, map)) = levels.iter_mut().find(|(l, _)| *l == len) {
                map.insert(u32::from(r.prefix.network()), r.route);
            }
        }
        levels.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
        RouteTable { levels, installed }
    }

    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<Route> {
        let d = u32::from(dst);
        self.levels
            .iter()
            .find_map(|(len, map)| map.get(&(d & mask_of(*len))).copied())
    }

    /// The installed routes, most specific first.
    pub fn installed(&self) -> &[InstalledRoute] {
        &self.installed
    }
}

/// Resolves candidate `ci` to a forwarding decision; `chain` holds the candidates already on
/// the resolution path (a route never resolves through itself).
fn resolve_candidate(
    cands: &[Candidate],
    order: &[usize],
    ci: usize,
    chain: &mut [usize; MAX_RECURSION],
    depth: usize,
) -> Option<Route> {
    match cands[ci].kind {
        CandidateKind::Connected(index) => Some(Route {
            egress: index,
            gateway: None,
        }),
        CandidateKind::Static(RouteTarget::Interface { index, next_hop }) => Some(Route {
            egress: index,
            gateway: next_hop,
        }),
        CandidateKind::Static(RouteTarget::NextHop(nh)) => {
            resolve_next_hop(cands, order, nh, chain, depth)
        }
    }
}

fn resolve_next_hop(
    cands: &[Candidate],
    order: &[usize],
    nh: Ipv4Addr,
    chain: &mut [usize; MAX_RECURSION],
    depth: usize,
) -> Option<Route> {
    if depth >= MAX_RECURSION {
        return None;
    }
    for &cj in order {
        if chain[..depth].contains(&cj) || !cands[cj].prefix.contains(nh) {
            continue;
        }
        let r = match cands[cj].kind {
            CandidateKind::Connected(index) => Some(Route {
                egress: index,
                gateway: Some(nh),
            }),
            CandidateKind::Static(RouteTarget::Interface { index, next_hop }) => Some(Route {
                egress: index,
                gateway: Some(next_hop.unwrap_or(nh)),
            }),
            CandidateKind::Static(RouteTarget::NextHop(nh2)) => {
                chain[depth] = cj;
                resolve_next_hop(cands, order, nh2, chain, depth + 1)
            }
        };
        if r.is_some() {
            return r;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::fixtures::*;

    #[test]
    fn seed_routing_table() {
        let t = seed_routes();
        assert_eq!(
            t.lookup(ip("10.10.10.2")),
            Some(Route {
                egress: E21,
                gateway: None
            })
        );
        assert_eq!(
            t.lookup(ip("172.22.1.1")),
            Some(Route {
                egress: E20,
                gateway: None
            })
        );
        let r = t.lookup(ip("203.0.113.9")).unwrap();
        assert_eq!(
            r,
            Route {
                egress: E20,
                gateway: Some(ip("172.22.1.1"))
            }
        );
        assert_eq!(r.next_hop(ip("203.0.113.9")), ip("172.22.1.1"));
        assert_eq!(t.installed().len(), 3);
        assert_eq!(t.installed()[2].source, RouteSource::Static);
    }

    #[test]
    fn recursion_distance_and_interface_routes() {
        let ifs = seed_interfaces();
        let r =
            |p: &str, m: &str, t: RouteTarget, d: u8| StaticRoute::new(ip(p), ip(m), t, d).unwrap();
        let statics = [
            // 192.168.5.0/24 via 172.22.1.1; 10.20.0.0/16 via 192.168.5.1 (recursive).
            r(
                "10.20.0.0",
                "255.255.0.0",
                RouteTarget::NextHop(ip("192.168.5.1")),
                1,
            ),
            r(
                "192.168.5.0",
                "255.255.255.0",
                RouteTarget::NextHop(ip("172.22.1.1")),
                1,
            ),
            // Two routes for one prefix: the lower distance wins.
            r(
                "198.18.0.0",
                "255.254.0.0",
                RouteTarget::NextHop(ip("172.22.1.2")),
                20,
            ),
            r(
                "198.18.0.0",
                "255.254.0.0",
                RouteTarget::NextHop(ip("10.10.10.9")),
                5,
            ),
            // Unresolvable next hop (resolves only through itself): not installed.
            r(
                "100.64.0.0",
                "255.192.0.0",
                RouteTarget::NextHop(ip("100.64.0.1")),
                1,
            ),
            // Interface route without next hop: ARP for the destination itself.
            r(
                "192.0.2.0",
                "255.255.255.0",
                RouteTarget::Interface {
                    index: E20,
                    next_hop: None,
                },
                1,
            ),
            // Interface route on a down interface: not installed.
            r(
                "203.0.113.0",
                "255.255.255.0",
                RouteTarget::Interface {
                    index: S20,
                    next_hop: None,
                },
                1,
            ),
            // Distance 255: never installed.
            r(
                "198.51.100.0",
                "255.255.255.0",
                RouteTarget::NextHop(ip("10.10.10.9")),
                255,
            ),
        ];
        let t = RouteTable::build(&ifs, &statics);
        assert_eq!(
            t.lookup(ip("10.20.3.4")),
            Some(Route {
                egress: E20,
                gateway: Some(ip("172.22.1.1"))
            })
        );
        assert_eq!(
            t.lookup(ip("198.19.1.1")),
            Some(Route {
                egress: E21,
                gateway: Some(ip("10.10.10.9"))
            })
        );
        assert_eq!(t.lookup(ip("100.64.0.7")), None);
        assert_eq!(
            t.lookup(ip("192.0.2.53")),
            Some(Route {
                egress: E20,
                gateway: None
            })
        );
        assert_eq!(t.lookup(ip("203.0.113.9")), None);
        assert_eq!(t.lookup(ip("198.51.100.7")), None);
        // A down interface contributes no connected route.
        let mut ifs2 = ifs.clone();
        ifs2[1].up = false;
        assert_eq!(RouteTable::build(&ifs2, &[]).lookup(ip("10.10.10.2")), None);
    }

    #[test]
    fn static_cycle_does_not_resolve() {
        let r = |p: &str, nh: &str| {
            StaticRoute::new(ip(p), ip("255.255.255.0"), RouteTarget::NextHop(ip(nh)), 1).unwrap()
        };
        let t = RouteTable::build(
            &seed_interfaces(),
            &[
                r("192.168.1.0", "192.168.2.1"),
                r("192.168.2.0", "192.168.1.1"),
            ],
        );
        assert_eq!(t.lookup(ip("192.168.1.5")), None);
        assert_eq!(t.lookup(ip("192.168.2.5")), None);
    }
}
