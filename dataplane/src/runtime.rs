//! The running configuration as the packet path sees it: the IOS model
//! compiled ([`CompiledConfig`]) and bound to packet I/O ports, with the
//! routing table, the static translation table and the SMTP inspector
//! policies built once per configuration change.
//!
//! Why a separate type: workers hold an `Arc<Runtime>` and swap it only when
//! the configuration generation changes (`configure`, reload), so a packet
//! never does string work, never takes a lock, and a reload never drops a
//! live session (sessions keep what they need — timeouts, policy, paths —
//! from the runtime that created them).

use std::net::Ipv4Addr;

use smtp_engine::{Mode, Policy, Signature};

use crate::config::compiled::{InterfaceId, ResolvedEntry, SmtpMode};
use crate::config::{CompiledConfig, Config, NatRole as CfgNatRole};
use crate::io::steer::PeerSide;
use crate::nat::StaticNatTable;
use crate::routing::{IfIndex, Interface, Ipv4Cidr, NatRole, RouteTable, RouteTarget, StaticRoute};
use crate::wire::ethernet::Mac;

/// One `--map IOSNAME=LINUXIF` binding: packet I/O port `port` carries the IOS
/// interface `iface`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// IOS interface name (normalised, e.g. `Ethernet2/0`).
    pub ios_name: String,
    /// Host network device.
    pub linux_name: String,
    /// MAC address the firewall uses on this port.
    pub mac: Mac,
}

/// Why a runtime could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A `--map` names an interface the configuration does not have.
    #[error("--map {0}: no such interface in the configuration")]
    UnknownInterface(String),
    /// Two `--map`s name the same IOS interface.
    #[error("--map {0}: interface bound twice")]
    DuplicateBinding(String),
    /// More ports than the dataplane supports.
    #[error("at most {0} ports are supported")]
    TooManyPorts(usize),
    /// A static translation conflicts with another one.
    #[error("{0}")]
    Nat(String),
}

/// Most packet I/O ports (interface bindings) one firewall drives.
pub const MAX_PORTS: usize = 8;

/// Everything the pipeline reads per packet, immutable while shared.
#[derive(Debug)]
pub struct Runtime {
    /// Configuration generation (bumped by every change).
    pub generation: u64,
    /// The source model (for `show running-config`, `show ip inspect`).
    pub config: Config,
    /// Names resolved to indices, defaults resolved.
    pub compiled: CompiledConfig,
    /// Port bindings, by port index.
    pub ports: Vec<PortBinding>,
    /// For each port, the IOS interface it carries.
    pub port_iface: Vec<InterfaceId>,
    /// For each configured interface (by `InterfaceId`), its port if bound.
    pub iface_port: Vec<Option<usize>>,
    /// Routing view of each interface (indexed by `InterfaceId`, the
    /// `IfIndex` is the same number).
    pub interfaces: Vec<Interface>,
    /// Connected + static routes.
    pub routes: RouteTable,
    /// Static inside-source translations.
    pub nat: StaticNatTable,
    /// SMTP inspector policy for each (rule, entry) that has one.
    smtp_policies: Vec<Vec<Option<Policy>>>,
    /// Global `no ip unreachables`-style switch for ICMP errors on ACL deny.
    pub acl_unreachables: bool,
    /// The static translations as (GLOBAL, LOCAL) words, for a linear scan on
    /// the per-packet path when there are only a few (cheaper than hashing).
    nat_pairs: Vec<(u32, Ipv4Addr)>,
}

/// Up to this many static translations the inside form is found by a linear
/// scan; above it, by the translation table's hash map.
const NAT_SCAN_LIMIT: usize = 16;

impl Runtime {
    /// Compiles `config` and binds it to `ports`.
    pub fn build(
        config: Config,
        ports: Vec<PortBinding>,
        generation: u64,
    ) -> Result<Runtime, RuntimeError> {
        if ports.len() > MAX_PORTS {
            return Err(RuntimeError::TooManyPorts(MAX_PORTS));
        }
        let compiled = config.compile();
        let mut port_iface = Vec::with_capacity(ports.len());
        let mut iface_port = vec![None; compiled.interfaces.len()];
        for (port, b) in ports.iter().enumerate() {
            let id = compiled
                .interface_id(&b.ios_name)
                .ok_or_else(|| RuntimeError::UnknownInterface(b.ios_name.clone()))?;
            if iface_port[usize::from(id.0)].is_some() {
                return Err(RuntimeError::DuplicateBinding(b.ios_name.clone()));
            }
            iface_port[usize::from(id.0)] = Some(port);
            port_iface.push(id);
        }
        let interfaces: Vec<Interface> = compiled
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, ci)| {
                let port = iface_port[i];
                Interface {
                    index: IfIndex(i as u16),
                    mac: port.map(|p| ports[p].mac).unwrap_or(Mac([0; 6])),
                    address: ci
                        .address
                        .and_then(|a| Ipv4Cidr::from_mask(a.address, a.mask).ok()),
                    nat: match ci.nat {
                        Some(CfgNatRole::Inside) => NatRole::Inside,
                        Some(CfgNatRole::Outside) => NatRole::Outside,
                        None => NatRole::None,
                    },
                    // An interface is up when it is not shut down and is bound
                    // to a port (an unbound interface cannot carry traffic).
                    up: !ci.shutdown && port.is_some(),
                }
            })
            .collect();
        let statics: Vec<StaticRoute> = compiled
            .routes
            .iter()
            .filter(|r| r.distance > 0)
            .filter_map(|r| {
                let target = match (r.interface, r.next_hop) {
                    (Some(i), nh) => RouteTarget::Interface {
                        index: IfIndex(i.0),
                        next_hop: nh,
                    },
                    (None, Some(nh)) => RouteTarget::NextHop(nh),
                    (None, None) => return None,
                };
                StaticRoute::new(
                    Ipv4Addr::from(r.prefix),
                    Ipv4Addr::from(r.mask),
                    target,
                    r.distance,
                )
                .ok()
            })
            .collect();
        let routes = RouteTable::build(&interfaces, &statics);
        let mut nat = StaticNatTable::new();
        for t in &compiled.static_nat {
            nat.insert(t.local, t.global)
                .map_err(|e| RuntimeError::Nat(e.to_string()))?;
        }
        let nat_pairs = nat
            .translations()
            .iter()
            .map(|t| (u32::from(t.global), t.local))
            .collect();
        let smtp_policies = compiled
            .rules
            .iter()
            .map(|r| {
                r.entries
                    .iter()
                    .map(|e| smtp_policy(e, &compiled))
                    .collect()
            })
            .collect();
        Ok(Runtime {
            generation,
            config,
            compiled,
            ports,
            port_iface,
            iface_port,
            interfaces,
            routes,
            nat,
            smtp_policies,
            acl_unreachables: true,
            nat_pairs,
        })
    }

    /// The SMTP inspector policy of entry `entry` of rule `rule`.
    pub fn smtp_policy(&self, rule: usize, entry: usize) -> Option<&Policy> {
        self.smtp_policies.get(rule)?.get(entry)?.as_ref()
    }

    /// The routing view of the interface carried by `port`.
    #[inline]
    pub fn port_interface(&self, port: usize) -> Option<&Interface> {
        let id = self.port_iface.get(port)?;
        self.interfaces.get(usize::from(id.0))
    }

    /// Which address of the frames received on `port` is the outside
    /// peer's: the source on an `ip nat outside` interface, the destination
    /// on any other. The kernel's fanout program hashes on it
    /// ([`crate::io::steer`]), and so does the workers' ownership.
    #[inline]
    pub fn peer_side(&self, port: usize) -> PeerSide {
        match self.port_interface(port).map(|i| i.nat) {
            Some(NatRole::Outside) => PeerSide::Source,
            _ => PeerSide::Destination,
        }
    }

    /// Port of interface index `iface`, if bound.
    #[inline]
    pub fn port_of(&self, iface: IfIndex) -> Option<usize> {
        self.iface_port.get(usize::from(iface.0)).copied().flatten()
    }

    /// Whether `addr` is one of the router's own interface addresses.
    #[inline]
    pub fn is_router_address(&self, addr: Ipv4Addr) -> bool {
        self.interfaces.iter().any(|i| i.owns(addr))
    }

    /// The inside ("local") form of an address: a static GLOBAL address maps
    /// to its LOCAL one; everything else is unchanged. Flow steering and
    /// session keys use this form so that both interfaces and both directions
    /// of a translated flow meet in one session.
    #[inline]
    pub fn inside_form(&self, addr: Ipv4Addr) -> Ipv4Addr {
        if self.nat_pairs.len() <= NAT_SCAN_LIMIT {
            let a = u32::from(addr);
            for (global, local) in &self.nat_pairs {
                if *global == a {
                    return *local;
                }
            }
            return addr;
        }
        self.nat.local_of(addr).unwrap_or(addr)
    }
}

/// Builds the inspector policy of an `smtp`/`esmtp` entry from its options and
/// the global signature settings.
fn smtp_policy(e: &ResolvedEntry, compiled: &CompiledConfig) -> Option<Policy> {
    let mode = match e.smtp_mode? {
        SmtpMode::Smtp => Mode::Smtp,
        SmtpMode::Esmtp => Mode::Esmtp,
    };
    let mut policy = Policy {
        mode,
        max_data: u64::from(e.max_data),
        ..Policy::default()
    };
    policy.allow_tls = e.smtp.allow_tls;
    policy.mask_banner = e.smtp.mask_banner;
    policy.bdat = e.smtp.bdat;
    policy.legacy_pre_12_3_7t = e.smtp.legacy_pre_12_3_7t;
    let ids = &compiled.globals.ids_signatures;
    // Signatures the configuration can switch follow it; the others (F6,
    // which has no IDS number) keep the engine's default.
    for sig in Signature::ALL {
        let id = u32::from(sig.id());
        if !crate::config::IDS_SIGNATURES.iter().any(|s| s.0 == id) {
            continue;
        }
        if ids.is_enabled(id) {
            policy.signatures.enable(sig);
        } else {
            policy.signatures.disable(sig);
        }
    }
    policy.spam_threshold = compiled.globals.spam_recipients;
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_runtime() -> Runtime {
        let text = include_str!("../../fixtures/seed.cfg");
        let (cfg, _) = Config::load(text).expect("seed loads");
        let ports = vec![
            PortBinding {
                ios_name: "Ethernet2/0".into(),
                linux_name: "e20".into(),
                mac: Mac([2, 0, 0, 0, 0, 1]),
            },
            PortBinding {
                ios_name: "Ethernet2/1".into(),
                linux_name: "e21".into(),
                mac: Mac([2, 0, 0, 0, 0, 2]),
            },
        ];
        Runtime::build(cfg, ports, 1).expect("binds")
    }

    #[test]
    fn seed_binds_two_ports_and_routes() {
        let rt = seed_runtime();
        assert_eq!(rt.ports.len(), 2);
        let out = rt.port_interface(0).unwrap();
        assert_eq!(out.nat, NatRole::Outside);
        assert!(out.up);
        let r = rt
            .routes
            .lookup("203.0.113.9".parse().unwrap())
            .expect("default route");
        assert_eq!(rt.port_of(r.egress), Some(0));
        assert_eq!(r.gateway, Some("172.22.1.1".parse().unwrap()));
        let r = rt
            .routes
            .lookup("10.10.10.2".parse().unwrap())
            .expect("connected");
        assert_eq!(rt.port_of(r.egress), Some(1));
        assert_eq!(
            rt.inside_form("172.22.1.110".parse().unwrap()),
            "10.10.10.2".parse::<Ipv4Addr>().unwrap()
        );
        assert!(rt.is_router_address("10.10.10.1".parse().unwrap()));
    }

    #[test]
    fn seed_smtp_entry_has_an_smtp_policy() {
        let rt = seed_runtime();
        let out_in = rt
            .compiled
            .rules
            .iter()
            .position(|r| r.name == "OUT-IN")
            .unwrap();
        let p = rt.smtp_policy(out_in, 0).expect("smtp policy");
        assert_eq!(p.mode, Mode::Smtp);
        assert_eq!(p.max_data, 20_000_000);
        assert!(rt.smtp_policy(out_in, 1).is_none());
    }

    #[test]
    fn unknown_binding_is_an_error() {
        let (cfg, _) = Config::load(include_str!("../../fixtures/seed.cfg")).unwrap();
        let ports = vec![PortBinding {
            ios_name: "Ethernet9/9".into(),
            linux_name: "x".into(),
            mac: Mac([0; 6]),
        }];
        assert!(matches!(
            Runtime::build(cfg, ports, 1),
            Err(RuntimeError::UnknownInterface(_))
        ));
    }
}
