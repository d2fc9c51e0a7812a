//! The typed configuration model: what the running-config says, with IOS
//! defaults resolved where a reader needs them.
//!
//! The model holds no secret: lines that carry passwords are outside the
//! product (ignore+warn) and are stored already masked (`<removed>`), so no
//! `Debug`, `show` or JSON output can leak one.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::acl::AccessList;

/// Default `max-data` of an smtp/esmtp entry (bytes).
pub const DEFAULT_MAX_DATA: u32 = 20_000_000;
/// Default ICMP session timeout (seconds).
pub const DEFAULT_ICMP_TIMEOUT: u32 = 10;
/// Default hostname when none is configured.
pub const DEFAULT_HOSTNAME: &str = "Router";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `hostname` (prompt and `show` headers).
    pub hostname: String,
    /// `version` (recorded, shown by `show version`).
    pub version: Option<String>,
    /// `service timestamps debug|log ...`.
    pub timestamps: ServiceTimestamps,
    /// Interfaces in order of first appearance.
    pub interfaces: Vec<Interface>,
    /// Global `ip inspect ...` settings.
    pub inspect: InspectGlobals,
    /// Inspection rules in order of first definition.
    pub rules: Vec<InspectRule>,
    /// `ip route` entries in order.
    pub routes: Vec<StaticRoute>,
    /// `ip nat inside source static` mappings in order.
    pub static_nat: Vec<StaticTranslation>,
    /// Numbered access lists.
    pub access_lists: BTreeMap<u16, AccessList>,
    /// Where each part of the running-config goes, with accepted and ignored
    /// lines kept verbatim (secrets masked).
    #[serde(skip)]
    pub(crate) layout: Vec<LayoutItem>,
    /// Sequence counter for "most recently configured" interface ordering.
    #[serde(skip)]
    pub(crate) sequence: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: DEFAULT_HOSTNAME.to_string(),
            version: None,
            timestamps: ServiceTimestamps::default(),
            interfaces: Vec::new(),
            inspect: InspectGlobals::default(),
            rules: Vec::new(),
            routes: Vec::new(),
            static_nat: Vec::new(),
            access_lists: BTreeMap::new(),
            layout: Vec::new(),
            sequence: 0,
        }
    }
}

/// One item of the running-config layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) enum LayoutItem {
    /// A line printed as stored (accepted or ignored commands, `!`).
    Verbatim(String),
    /// The place of a model section.
    Section(Section),
}

/// Model sections of the running-config, in IOS order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) enum Section {
    Version,
    Timestamps,
    Hostname,
    Inspect,
    Interfaces,
    Routes,
    Nat,
    AccessLists,
}

/// `service timestamps` settings for debug and log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ServiceTimestamps {
    /// `service timestamps debug ...`.
    pub debug: TimestampStyle,
    /// `service timestamps log ...`.
    pub log: TimestampStyle,
}

/// How a debug or log line is stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TimestampStyle {
    /// No timestamp.
    #[default]
    Off,
    /// Time since start.
    Uptime,
    /// `datetime [msec] [localtime] [show-timezone] [year]`.
    Datetime {
        /// Milliseconds shown.
        msec: bool,
        /// Local time instead of UTC.
        localtime: bool,
        /// Time zone shown.
        show_timezone: bool,
        /// Year shown.
        year: bool,
    },
}

/// NAT role of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NatRole {
    /// `ip nat inside`.
    Inside,
    /// `ip nat outside`.
    Outside,
}

/// Traffic direction on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Arriving on the interface.
    In,
    /// Leaving through the interface.
    Out,
}

impl Direction {
    /// `in` / `out`.
    pub fn keyword(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// An interface address with its mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InterfaceAddress {
    /// Address.
    pub address: Ipv4Addr,
    /// Subnet mask (contiguous).
    pub mask: Ipv4Addr,
}

impl InterfaceAddress {
    /// Prefix length of the mask.
    pub fn prefix_len(&self) -> u8 {
        u32::from(self.mask).leading_ones() as u8
    }

    /// Network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & u32::from(self.mask))
    }

    /// Whether `ip` is in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.address)) & u32::from(self.mask) == 0
    }
}

/// `ip virtual-reassembly` settings (`cbac-sessions.md` §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VirtualReassembly {
    /// Datagrams under reassembly at once.
    pub max_reassemblies: u32,
    /// Fragments per datagram.
    pub max_fragments: u32,
    /// Seconds before an incomplete datagram is dropped.
    pub timeout: u32,
    /// Drop every fragment.
    pub drop_fragments: bool,
}

impl Default for VirtualReassembly {
    fn default() -> Self {
        VirtualReassembly {
            max_reassemblies: 16,
            max_fragments: 32,
            timeout: 3,
            drop_fragments: false,
        }
    }
}

/// Smallest `ip mtu` (RFC 791: every link carries 68-byte datagrams).
pub const MIN_IP_MTU: u16 = 68;
/// Smallest `mtu`.
pub const MIN_LINK_MTU: u16 = 64;
/// Largest `mtu` / `ip mtu` accepted (jumbo frames).
pub const MAX_MTU: u16 = 18_000;

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// Normalised IOS name (`Ethernet2/0`).
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `ip address A M` (`None` = `no ip address`).
    pub address: Option<InterfaceAddress>,
    /// `shutdown`.
    pub shutdown: bool,
    /// `ip nat inside|outside`.
    pub nat: Option<NatRole>,
    /// `ip access-group N in`.
    pub access_group_in: Option<u16>,
    /// `ip access-group N out`.
    pub access_group_out: Option<u16>,
    /// `ip inspect NAME in`.
    pub inspect_in: Option<String>,
    /// `ip inspect NAME out`.
    pub inspect_out: Option<String>,
    /// `ip virtual-reassembly`.
    pub virtual_reassembly: Option<VirtualReassembly>,
    /// `ip unreachables` (default on; `no ip unreachables` turns it off).
    pub unreachables: bool,
    /// `mtu N`: the interface MTU (IP MTU too unless `ip mtu` says less).
    pub mtu: Option<u16>,
    /// `ip mtu N`: the largest IP datagram sent without fragmentation.
    pub ip_mtu: Option<u16>,
    /// Ignored or accepted interface lines kept verbatim (`half-duplex`).
    pub extra_lines: Vec<String>,
    /// When an inspection rule was last applied (ordering of `show ip inspect interfaces`).
    #[serde(skip)]
    pub(crate) inspect_sequence: u64,
}

impl Interface {
    /// The IP MTU the configuration asks for: `ip mtu`, bounded by `mtu`
    /// (IOS never sends an IP datagram larger than the interface MTU), or
    /// `mtu` alone; `None` when neither is set (the device decides).
    pub fn configured_ip_mtu(&self) -> Option<u16> {
        match (self.ip_mtu, self.mtu) {
            (Some(ip), Some(link)) => Some(ip.min(link)),
            (Some(ip), None) => Some(ip),
            (None, Some(link)) => Some(link.max(MIN_IP_MTU)),
            (None, None) => None,
        }
    }

    /// A new interface with IOS defaults.
    pub fn new(name: String) -> Self {
        Interface {
            name,
            description: None,
            address: None,
            shutdown: false,
            nat: None,
            access_group_in: None,
            access_group_out: None,
            inspect_in: None,
            inspect_out: None,
            virtual_reassembly: None,
            unreachables: true,
            mtu: None,
            ip_mtu: None,
            extra_lines: Vec::new(),
            inspect_sequence: 0,
        }
    }

    /// The access group for a direction.
    pub fn access_group(&self, direction: Direction) -> Option<u16> {
        match direction {
            Direction::In => self.access_group_in,
            Direction::Out => self.access_group_out,
        }
    }

    /// The applied inspection rule for a direction.
    pub fn inspect(&self, direction: Direction) -> Option<&str> {
        match direction {
            Direction::In => self.inspect_in.as_deref(),
            Direction::Out => self.inspect_out.as_deref(),
        }
    }
}

/// Transport used by an inspection protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// Not a transport session (fragment inspection).
    None,
}

/// How far this product implements a protocol keyword (`cbac-sessions.md` §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SupportLevel {
    /// Fully implemented.
    Full,
    /// Session tracking only, with a config warning.
    SessionOnly,
    /// Accepted with a warning; creates no session.
    None,
}

macro_rules! inspect_protocols {
    ($($variant:ident => $kw:literal, $transport:ident, $port:expr, $support:ident;)*) => {
        /// A protocol keyword of `ip inspect name` (`cbac-sessions.md` §2.1).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum InspectProtocol {
            $(
                #[doc = concat!("`", $kw, "`")]
                $variant,
            )*
        }

        impl InspectProtocol {
            /// Every keyword, in declaration order.
            pub const ALL: &'static [InspectProtocol] = &[$(InspectProtocol::$variant),*];
            /// The keyword texts, parallel to [`InspectProtocol::ALL`].
            pub const KEYWORDS: &'static [&'static str] = &[$($kw),*];

            /// The keyword as written in the config and `show`.
            pub fn keyword(self) -> &'static str {
                match self { $(InspectProtocol::$variant => $kw,)* }
            }

            /// The transport whose idle time applies and whose packets it matches.
            pub fn transport(self) -> Transport {
                match self { $(InspectProtocol::$variant => Transport::$transport,)* }
            }

            /// Well-known port for application keywords (port-to-application map).
            pub fn well_known_port(self) -> Option<u16> {
                match self { $(InspectProtocol::$variant => $port,)* }
            }

            /// Support level in this product.
            pub fn support(self) -> SupportLevel {
                match self { $(InspectProtocol::$variant => SupportLevel::$support,)* }
            }
        }
    };
}

inspect_protocols! {
    Tcp => "tcp", Tcp, None, Full;
    Udp => "udp", Udp, None, Full;
    Icmp => "icmp", Icmp, None, Full;
    Cuseeme => "cuseeme", Udp, Some(7648), None;
    Esmtp => "esmtp", Tcp, Some(25), Full;
    Smtp => "smtp", Tcp, Some(25), Full;
    Ftp => "ftp", Tcp, Some(21), SessionOnly;
    Http => "http", Tcp, Some(80), SessionOnly;
    H323 => "h323", Tcp, Some(1720), None;
    Netshow => "netshow", Tcp, Some(1755), None;
    Realaudio => "realaudio", Tcp, Some(7070), None;
    Rpc => "rpc", Tcp, Some(111), None;
    Sip => "sip", Udp, Some(5060), None;
    Skinny => "skinny", Tcp, Some(2000), None;
    Streamworks => "streamworks", Udp, Some(1558), None;
    Sqlnet => "sqlnet", Tcp, Some(1521), None;
    Tftp => "tftp", Udp, Some(69), None;
    Rcmd => "rcmd", Tcp, Some(514), None;
    Vdolive => "vdolive", Tcp, Some(7000), None;
    Fragment => "fragment", None, None, Full;
}

impl InspectProtocol {
    /// `smtp` or `esmtp`.
    pub fn is_mail(self) -> bool {
        matches!(self, InspectProtocol::Smtp | InspectProtocol::Esmtp)
    }
}

/// Product extensions of an smtp/esmtp entry (`smtp-inspection.md` §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SmtpEntryOptions {
    /// `allow-tls`: STARTTLS legal in ESMTP mode.
    pub allow_tls: bool,
    /// `mask-banner`: PIX-style banner masking.
    pub mask_banner: bool,
    /// `legacy-pre-12.3-7T`: behaviour before IOS 12.3(7)T.
    pub legacy_pre_12_3_7t: bool,
    /// `bdat`: full BDAT/CHUNKING inspection (decision 3).
    pub bdat: bool,
}

/// `http` entry options (accepted, not enforced).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HttpEntryOptions {
    /// `urlfilter`.
    pub urlfilter: bool,
    /// `java-list ACL`.
    pub java_list: Option<String>,
}

/// `rpc program-number N [wait-time MIN]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RpcEntryOptions {
    /// Program number.
    pub program_number: u32,
    /// Minutes a pinhole stays open (default 0).
    pub wait_time: u32,
}

/// `fragment [max N timeout S]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FragmentEntryOptions {
    /// State entries (default 256).
    pub max: u32,
    /// Seconds (default 1).
    pub timeout: u32,
}

impl Default for FragmentEntryOptions {
    fn default() -> Self {
        FragmentEntryOptions {
            max: 256,
            timeout: 1,
        }
    }
}

/// One protocol entry of an inspection rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectEntry {
    /// Protocol keyword.
    pub protocol: InspectProtocol,
    /// `alert on|off` (`None` = follow the global setting).
    pub alert: Option<bool>,
    /// `audit-trail on|off` (`None` = follow the global setting).
    pub audit_trail: Option<bool>,
    /// `timeout S` (`None` = the global idle time of the transport).
    pub timeout: Option<u32>,
    /// `max-data N` (smtp/esmtp; `None` = 20 000 000).
    pub max_data: Option<u32>,
    /// smtp/esmtp extensions.
    pub smtp: SmtpEntryOptions,
    /// http options.
    pub http: HttpEntryOptions,
    /// rpc program.
    pub rpc: Option<RpcEntryOptions>,
    /// fragment options.
    pub fragment: Option<FragmentEntryOptions>,
}

impl InspectEntry {
    /// An entry with every option unset.
    pub fn new(protocol: InspectProtocol) -> Self {
        InspectEntry {
            protocol,
            alert: None,
            audit_trail: None,
            timeout: None,
            max_data: None,
            smtp: SmtpEntryOptions::default(),
            http: HttpEntryOptions::default(),
            rpc: None,
            fragment: None,
        }
    }

    /// Whether `other` configures the same entry (same protocol, and same
    /// program for rpc).
    pub fn same_key(&self, other: &InspectEntry) -> bool {
        self.protocol == other.protocol
            && self.rpc.map(|r| r.program_number) == other.rpc.map(|r| r.program_number)
    }

    /// Alert flag after resolving the global default.
    pub fn effective_alert(&self, globals: &InspectGlobals) -> bool {
        self.alert.unwrap_or(!globals.alert_off)
    }

    /// Audit-trail flag after resolving the global default.
    pub fn effective_audit_trail(&self, globals: &InspectGlobals) -> bool {
        self.audit_trail.unwrap_or(globals.audit_trail)
    }

    /// Idle timeout after resolving the global default (tcp 3600, udp 30,
    /// icmp 10, applications their transport's idle time).
    pub fn effective_timeout(&self, globals: &InspectGlobals) -> u32 {
        self.timeout.unwrap_or(match self.protocol.transport() {
            Transport::Tcp => globals.tcp_idle_time,
            Transport::Udp => globals.udp_idle_time,
            Transport::Icmp => DEFAULT_ICMP_TIMEOUT,
            Transport::None => self.fragment.unwrap_or_default().timeout,
        })
    }

    /// `max-data` after resolving the default.
    pub fn effective_max_data(&self) -> u32 {
        self.max_data.unwrap_or(DEFAULT_MAX_DATA)
    }
}

/// A named inspection rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectRule {
    /// Name (at most 16 characters).
    pub name: String,
    /// Entries in order of creation.
    pub entries: Vec<InspectEntry>,
}

impl InspectRule {
    /// The entry for a protocol keyword, if configured.
    pub fn entry(&self, protocol: InspectProtocol) -> Option<&InspectEntry> {
        self.entries.iter().find(|e| e.protocol == protocol)
    }
}

/// `ip inspect tcp reassembly ...` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcpReassembly {
    /// Out-of-order segments queued per session.
    pub queue_length: u32,
    /// Memory limit in KB.
    pub memory_limit_kb: u32,
    /// Seconds a queued segment waits.
    pub timeout: u32,
    /// Alarm on overflow.
    pub alarm: bool,
}

impl Default for TcpReassembly {
    fn default() -> Self {
        TcpReassembly {
            queue_length: 16,
            memory_limit_kb: 1024,
            timeout: 5,
            alarm: true,
        }
    }
}

/// The SMTP IDS signatures that can be switched (`smtp-inspection.md` §10):
/// id, title, on by default. The ids of I4/I5 (3108, 3109) are the ones the
/// `smtp-engine` crate assigns; F6 (overlong command) has no id and is
/// always on.
pub const IDS_SIGNATURES: &[(u32, &str, bool)] = &[
    (3100, "Smail Attack", false),
    (3101, "Sendmail Invalid Recipient", true),
    (3102, "Sendmail Invalid Sender", true),
    (3103, "Sendmail Reconnaissance", false),
    (3104, "Archaic Sendmail Attacks", true),
    (3105, "Sendmail Decode Alias", true),
    (3106, "Mail Spam", false),
    (3107, "Majordomo Execute Attack", true),
    (3108, "MIME Filename Too Long", false),
    (3109, "Overlong Message Line", false),
];

/// Which SMTP IDS signatures are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdsSignatureSet {
    /// Bit `i` = [`IDS_SIGNATURES`]`[i]` enabled.
    pub bits: u16,
}

impl IdsSignatureSet {
    /// Whether signature `id` is enabled.
    pub fn is_enabled(&self, id: u32) -> bool {
        IDS_SIGNATURES
            .iter()
            .position(|s| s.0 == id)
            .is_some_and(|i| self.bits & (1 << i) != 0)
    }

    /// Switches signature `id`; false when the id is unknown.
    pub fn set(&mut self, id: u32, on: bool) -> bool {
        match IDS_SIGNATURES.iter().position(|s| s.0 == id) {
            Some(i) => {
                if on {
                    self.bits |= 1 << i;
                } else {
                    self.bits &= !(1 << i);
                }
                true
            }
            None => false,
        }
    }

    /// Whether signature `id` is on by default.
    pub fn default_for(id: u32) -> bool {
        IDS_SIGNATURES.iter().any(|s| s.0 == id && s.2)
    }
}

impl Default for IdsSignatureSet {
    fn default() -> Self {
        let mut bits = 0;
        for (i, s) in IDS_SIGNATURES.iter().enumerate() {
            if s.2 {
                bits |= 1 << i;
            }
        }
        IdsSignatureSet { bits }
    }
}

/// Global `ip inspect` settings (`cbac-sessions.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InspectGlobals {
    /// `ip inspect tcp synwait-time`.
    pub tcp_synwait_time: u32,
    /// `ip inspect tcp finwait-time`.
    pub tcp_finwait_time: u32,
    /// `ip inspect tcp idle-time`.
    pub tcp_idle_time: u32,
    /// `ip inspect udp idle-time`.
    pub udp_idle_time: u32,
    /// `ip inspect dns-timeout`.
    pub dns_timeout: u32,
    /// `ip inspect max-incomplete high`.
    pub max_incomplete_high: u32,
    /// `ip inspect max-incomplete low`.
    pub max_incomplete_low: u32,
    /// `ip inspect one-minute high`.
    pub one_minute_high: u32,
    /// `ip inspect one-minute low`.
    pub one_minute_low: u32,
    /// `ip inspect tcp max-incomplete host N`.
    pub max_incomplete_host: u32,
    /// `... block-time M` (minutes).
    pub block_time_minutes: u32,
    /// `ip inspect audit-trail`.
    pub audit_trail: bool,
    /// `ip inspect alert-off`.
    pub alert_off: bool,
    /// `ip inspect tcp reassembly ...`.
    pub tcp_reassembly: TcpReassembly,
    /// `ip inspect smtp ids-signature ID`.
    pub ids_signatures: IdsSignatureSet,
    /// `ip audit smtp spam N` (recipients per transaction before signature 3106).
    pub spam_recipients: u32,
}

impl Default for InspectGlobals {
    fn default() -> Self {
        InspectGlobals {
            tcp_synwait_time: 30,
            tcp_finwait_time: 5,
            tcp_idle_time: 3600,
            udp_idle_time: 30,
            dns_timeout: 5,
            max_incomplete_high: 500,
            max_incomplete_low: 400,
            one_minute_high: 500,
            one_minute_low: 400,
            max_incomplete_host: 50,
            block_time_minutes: 0,
            audit_trail: false,
            alert_off: false,
            tcp_reassembly: TcpReassembly::default(),
            ids_signatures: IdsSignatureSet::default(),
            spam_recipients: 250,
        }
    }
}

/// Where a static route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaticRoute {
    /// Destination network.
    pub prefix: Ipv4Addr,
    /// Destination mask (contiguous).
    pub mask: Ipv4Addr,
    /// Egress interface (normalised name), if given.
    pub interface: Option<String>,
    /// Next hop, if given.
    pub next_hop: Option<Ipv4Addr>,
    /// Administrative distance (default 1).
    pub distance: u8,
}

impl StaticRoute {
    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        u32::from(self.mask).leading_ones() as u8
    }
}

/// `ip nat inside source static LOCAL GLOBAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StaticTranslation {
    /// Inside local address.
    pub local: Ipv4Addr,
    /// Inside global address.
    pub global: Ipv4Addr,
    /// `extendable` keyword.
    pub extendable: bool,
}

impl Config {
    /// The interface with a normalised name.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// The inspection rule with this name.
    pub fn rule(&self, name: &str) -> Option<&InspectRule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Interfaces with an inspection rule applied, most recently configured first
    /// (`cbac-sessions.md` §11.2).
    pub fn inspected_interfaces(&self) -> Vec<&Interface> {
        let mut list: Vec<&Interface> = self
            .interfaces
            .iter()
            .filter(|i| i.inspect_in.is_some() || i.inspect_out.is_some())
            .collect();
        list.sort_by_key(|i| std::cmp::Reverse(i.inspect_sequence));
        list
    }

    /// The static translation whose global address is `global`.
    pub fn translation_by_global(&self, global: Ipv4Addr) -> Option<&StaticTranslation> {
        self.static_nat.iter().find(|t| t.global == global)
    }

    /// The static translation whose local address is `local`.
    pub fn translation_by_local(&self, local: Ipv4Addr) -> Option<&StaticTranslation> {
        self.static_nat.iter().find(|t| t.local == local)
    }

    pub(crate) fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}
