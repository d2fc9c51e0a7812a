//! The configuration as the packet pipeline needs it: names resolved to small
//! indices, defaults resolved to effective values, and per-rule protocol
//! matchers, built once per configuration change so that no packet ever does
//! string work (STYLE practice 6: bounded, precomputed).

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::acl::{proto, AccessList};
use crate::config::model::*;

/// Index of an interface in [`CompiledConfig::interfaces`] (same order as
/// `Config::interfaces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InterfaceId(pub u16);

/// Index of an inspection rule in [`CompiledConfig::rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct InspectRuleId(pub u16);

/// Index of an access list in [`CompiledConfig::access_lists`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AclId(pub u16);

/// SMTP inspector mode of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpMode {
    /// `smtp`: 12 verbs, no EHLO.
    Smtp,
    /// `esmtp`: 15 verbs, parameter and EHLO-reply inspection.
    Esmtp,
}

/// One protocol entry with every default resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedEntry {
    /// Protocol keyword (the session's protocol name in `show`).
    pub protocol: InspectProtocol,
    /// Idle timeout applied to sessions created by this entry (seconds).
    pub timeout_secs: u32,
    /// Alerts on (entry option, else `!alert-off`).
    pub alert: bool,
    /// Audit trail on (entry option, else `ip inspect audit-trail`).
    pub audit_trail: bool,
    /// max-data (smtp/esmtp).
    pub max_data: u32,
    /// SMTP inspector to attach, if any.
    pub smtp_mode: Option<SmtpMode>,
    /// smtp/esmtp extensions.
    pub smtp: SmtpEntryOptions,
    /// Whether the entry creates sessions in this product.
    pub creates_sessions: bool,
}

/// An inspection rule compiled into direct lookups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompiledRule {
    /// Rule name.
    pub name: String,
    /// Entries in configuration order.
    pub entries: Vec<ResolvedEntry>,
    tcp: Option<u8>,
    udp: Option<u8>,
    icmp: Option<u8>,
    /// Application entries over TCP: (well-known port, entry index).
    tcp_apps: Vec<(u16, u8)>,
    /// Application entries over UDP.
    udp_apps: Vec<(u16, u8)>,
    /// `fragment` entry options.
    pub fragment: Option<FragmentEntryOptions>,
}

impl CompiledRule {
    fn new(rule: &InspectRule, globals: &InspectGlobals) -> Self {
        let mut compiled = CompiledRule {
            name: rule.name.clone(),
            entries: Vec::with_capacity(rule.entries.len()),
            tcp: None,
            udp: None,
            icmp: None,
            tcp_apps: Vec::new(),
            udp_apps: Vec::new(),
            fragment: None,
        };
        // At most 20 protocol keywords (+ rpc programs) per rule: u8 indices.
        for (index, e) in rule.entries.iter().enumerate().take(usize::from(u8::MAX)) {
            let index = index as u8;
            let creates_sessions = e.protocol.support() != SupportLevel::None
                && e.protocol != InspectProtocol::Fragment;
            compiled.entries.push(ResolvedEntry {
                protocol: e.protocol,
                timeout_secs: e.effective_timeout(globals),
                alert: e.effective_alert(globals),
                audit_trail: e.effective_audit_trail(globals),
                max_data: e.effective_max_data(),
                smtp_mode: match e.protocol {
                    InspectProtocol::Smtp => Some(SmtpMode::Smtp),
                    InspectProtocol::Esmtp => Some(SmtpMode::Esmtp),
                    _ => None,
                },
                smtp: e.smtp,
                creates_sessions,
            });
            match e.protocol {
                InspectProtocol::Tcp => compiled.tcp = Some(index),
                InspectProtocol::Udp => compiled.udp = Some(index),
                InspectProtocol::Icmp => compiled.icmp = Some(index),
                InspectProtocol::Fragment => compiled.fragment = e.fragment,
                p if creates_sessions => {
                    if let Some(port) = p.well_known_port() {
                        match p.transport() {
                            Transport::Tcp => compiled.tcp_apps.push((port, index)),
                            Transport::Udp => compiled.udp_apps.push((port, index)),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        compiled
    }

    /// The entry that inspects a new flow of IP protocol `ip_proto` to
    /// responder port `dport`: an application entry for the port wins over
    /// the generic `tcp`/`udp` entry (`cbac-sessions.md` §2.2). `None` = not
    /// inspected. No allocation.
    #[inline]
    pub fn match_flow(&self, ip_proto: u8, dport: u16) -> Option<&ResolvedEntry> {
        let (apps, generic) = match ip_proto {
            proto::TCP => (&self.tcp_apps, self.tcp),
            proto::UDP => (&self.udp_apps, self.udp),
            proto::ICMP => return self.icmp.map(|i| &self.entries[usize::from(i)]),
            _ => return None,
        };
        let index = apps
            .iter()
            .find(|(port, _)| *port == dport)
            .map(|(_, i)| *i)
            .or(generic)?;
        Some(&self.entries[usize::from(index)])
    }
}

/// An interface with references resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompiledInterface {
    /// Normalised IOS name.
    pub name: String,
    /// Address and mask.
    pub address: Option<InterfaceAddress>,
    /// Administratively down.
    pub shutdown: bool,
    /// NAT role.
    pub nat: Option<NatRole>,
    /// Inbound access list (`None` also when the list has no entries: permit all).
    pub acl_in: Option<AclId>,
    /// Outbound access list.
    pub acl_out: Option<AclId>,
    /// Inbound inspection rule (`None` also when the name is undefined: empty rule).
    pub rule_in: Option<InspectRuleId>,
    /// Outbound inspection rule.
    pub rule_out: Option<InspectRuleId>,
    /// Virtual fragment reassembly.
    pub virtual_reassembly: Option<VirtualReassembly>,
    /// Send ICMP unreachables on ACL deny.
    pub unreachables: bool,
    /// IP MTU from `ip mtu` / `mtu` (`None`: the device's MTU applies).
    pub ip_mtu: Option<u16>,
    /// Addresses the router answers ARP for on this interface: its own
    /// address, plus, on a `nat outside` interface, every static global
    /// address inside its subnet (`config-and-nat.md` §4.4).
    pub arp_addresses: Vec<Ipv4Addr>,
}

/// A route with its egress resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CompiledRoute {
    /// Network (host order).
    pub prefix: u32,
    /// Mask (host order).
    pub mask: u32,
    /// Prefix length.
    pub prefix_len: u8,
    /// Egress interface, when given or connected.
    pub interface: Option<InterfaceId>,
    /// Next hop (recursive resolution by the routing module).
    pub next_hop: Option<Ipv4Addr>,
    /// Administrative distance (connected 0).
    pub distance: u8,
}

/// Everything the pipeline reads, with names resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompiledConfig {
    /// Interfaces, indexed by [`InterfaceId`].
    pub interfaces: Vec<CompiledInterface>,
    /// Inspection rules, indexed by [`InspectRuleId`].
    pub rules: Vec<CompiledRule>,
    /// Access lists, indexed by [`AclId`].
    pub access_lists: Vec<AccessList>,
    /// Static translations.
    pub static_nat: Vec<StaticTranslation>,
    /// Connected routes (interfaces not shut down) then static routes.
    pub routes: Vec<CompiledRoute>,
    /// Global inspection settings.
    pub globals: InspectGlobals,
    /// Debug/log timestamp styles.
    pub timestamps: ServiceTimestamps,
    /// Hostname.
    pub hostname: String,
}

fn arp_addresses(cfg: &Config, iface: &Interface) -> Vec<Ipv4Addr> {
    let Some(own) = iface.address else {
        return Vec::new();
    };
    let mut list = vec![own.address];
    if iface.nat == Some(NatRole::Outside) {
        for t in &cfg.static_nat {
            if own.contains(t.global) && !list.contains(&t.global) {
                list.push(t.global);
            }
        }
    }
    list
}

impl CompiledConfig {
    /// Compiles `cfg`.
    pub fn new(cfg: &Config) -> Self {
        let access_lists: Vec<AccessList> = cfg
            .access_lists
            .values()
            .filter(|l| !l.entries.is_empty())
            .cloned()
            .collect();
        let acl_id = |n: Option<u16>| {
            n.and_then(|n| access_lists.iter().position(|l| l.number == n))
                .map(|i| AclId(i as u16))
        };
        let rules: Vec<CompiledRule> = cfg
            .rules
            .iter()
            .map(|r| CompiledRule::new(r, &cfg.inspect))
            .collect();
        let rule_id = |n: &Option<String>| {
            n.as_ref()
                .and_then(|n| rules.iter().position(|r| &r.name == n))
                .map(|i| InspectRuleId(i as u16))
        };
        let interfaces: Vec<CompiledInterface> = cfg
            .interfaces
            .iter()
            .map(|i| CompiledInterface {
                name: i.name.clone(),
                address: i.address,
                shutdown: i.shutdown,
                nat: i.nat,
                acl_in: acl_id(i.access_group_in),
                acl_out: acl_id(i.access_group_out),
                rule_in: rule_id(&i.inspect_in),
                rule_out: rule_id(&i.inspect_out),
                virtual_reassembly: i.virtual_reassembly,
                unreachables: i.unreachables,
                ip_mtu: i.configured_ip_mtu(),
                arp_addresses: arp_addresses(cfg, i),
            })
            .collect();
        let mut routes = Vec::new();
        for (index, iface) in cfg.interfaces.iter().enumerate() {
            if let (Some(a), false) = (iface.address, iface.shutdown) {
                routes.push(CompiledRoute {
                    prefix: u32::from(a.network()),
                    mask: u32::from(a.mask),
                    prefix_len: a.prefix_len(),
                    interface: Some(InterfaceId(index as u16)),
                    next_hop: None,
                    distance: 0,
                });
            }
        }
        for r in &cfg.routes {
            routes.push(CompiledRoute {
                prefix: u32::from(r.prefix),
                mask: u32::from(r.mask),
                prefix_len: r.prefix_len(),
                interface: r
                    .interface
                    .as_ref()
                    .and_then(|n| cfg.interfaces.iter().position(|i| &i.name == n))
                    .map(|i| InterfaceId(i as u16)),
                next_hop: r.next_hop,
                distance: r.distance,
            });
        }
        CompiledConfig {
            interfaces,
            rules,
            access_lists,
            static_nat: cfg.static_nat.clone(),
            routes,
            globals: cfg.inspect,
            timestamps: cfg.timestamps,
            hostname: cfg.hostname.clone(),
        }
    }

    /// The interface id of a normalised name.
    pub fn interface_id(&self, name: &str) -> Option<InterfaceId> {
        self.interfaces
            .iter()
            .position(|i| i.name == name)
            .map(|i| InterfaceId(i as u16))
    }

    /// The rule applied on `iface` in `direction`.
    #[inline]
    pub fn rule(&self, iface: InterfaceId, direction: Direction) -> Option<&CompiledRule> {
        let i = self.interfaces.get(usize::from(iface.0))?;
        let id = match direction {
            Direction::In => i.rule_in,
            Direction::Out => i.rule_out,
        }?;
        self.rules.get(usize::from(id.0))
    }

    /// The access list applied on `iface` in `direction` (`None` = permit all).
    #[inline]
    pub fn access_list(&self, iface: InterfaceId, direction: Direction) -> Option<&AccessList> {
        let i = self.interfaces.get(usize::from(iface.0))?;
        let id = match direction {
            Direction::In => i.acl_in,
            Direction::Out => i.acl_out,
        }?;
        self.access_lists.get(usize::from(id.0))
    }

    /// The idle timeout of a new session created by `entry` towards responder
    /// port `dport`: UDP to port 53 uses `dns-timeout`, which an entry timeout
    /// never overrides (`cbac-sessions.md` §6).
    #[inline]
    pub fn session_timeout(&self, entry: &ResolvedEntry, ip_proto: u8, dport: u16) -> u32 {
        if ip_proto == proto::UDP && dport == 53 {
            self.globals.dns_timeout
        } else {
            entry.timeout_secs
        }
    }
}
