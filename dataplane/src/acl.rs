//! Numbered IOS access lists: parsing of `access-list` lines, the compiled
//! form evaluated on the first packet of a flow, and the IOS text form used by
//! `show access-lists` and `show running-config`.
//!
//! Evaluation is first match wins with an implicit `deny ip any any`
//! (`config-and-nat.md` §3.2). Addresses are stored already ANDed with the
//! inverted wildcard, so a match is one XOR and one AND per address. Packets
//! that hit a session never get here (Firewall ACL Bypass), so an access list is
//! consulted once per flow, not once per packet; `evaluate` still allocates
//! nothing and takes no locks. Match counters live with the caller (one array
//! per worker, summed for `show`), so the compiled list is shared read-only.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::config::lexer::{parse_number, Cursor, SyntaxError};

/// IP protocol numbers used by the access-list matcher.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// IP in IP.
    pub const IPINIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
    /// AH (`ahp`).
    pub const AHP: u8 = 51;
    /// EIGRP.
    pub const EIGRP: u8 = 88;
    /// OSPF.
    pub const OSPF: u8 = 89;
    /// PIM.
    pub const PIM: u8 = 103;
}

/// TCP flag bits as they appear in the TCP header's flags byte.
pub mod tcp_flags {
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// What an access list decides for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The packet may pass.
    Permit,
    /// The packet is dropped.
    Deny,
}

impl Verdict {
    fn keyword(self) -> &'static str {
        match self {
            Verdict::Permit => "permit",
            Verdict::Deny => "deny",
        }
    }
}

/// The fields of a packet an access list looks at, extracted once by the
/// pipeline. Ports are 0 and ICMP fields are 0 for protocols without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclPacket {
    /// IP protocol number.
    pub proto: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// TCP/UDP source port.
    pub sport: u16,
    /// TCP/UDP destination port.
    pub dport: u16,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// TCP flags byte (`established` tests ACK and RST).
    pub tcp_flags: u8,
    /// A fragment with a non-zero offset (no L4 header).
    pub non_initial_fragment: bool,
}

/// Standard (source only) or extended list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AclKind {
    /// 1–99, 1300–1999.
    Standard,
    /// 100–199, 2000–2699.
    Extended,
}

impl AclKind {
    /// The kind of a list number, if it is a numbered IP list.
    pub fn of_number(number: u16) -> Option<AclKind> {
        match number {
            1..=99 | 1300..=1999 => Some(AclKind::Standard),
            100..=199 | 2000..=2699 => Some(AclKind::Extended),
            _ => None,
        }
    }
}

/// An address with a wildcard (1 bits are "don't care"); the address is
/// stored with the don't-care bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AddressMatch {
    /// Address with wildcard bits cleared.
    pub address: u32,
    /// Wildcard bits.
    pub wildcard: u32,
}

impl AddressMatch {
    /// `any`.
    pub const ANY: AddressMatch = AddressMatch {
        address: 0,
        wildcard: u32::MAX,
    };

    /// Builds a match, normalising the address (`10.10.10.5 0.0.0.255` →
    /// `10.10.10.0 0.0.0.255`).
    pub fn new(address: Ipv4Addr, wildcard: Ipv4Addr) -> Self {
        let wildcard = u32::from(wildcard);
        AddressMatch {
            address: u32::from(address) & !wildcard,
            wildcard,
        }
    }

    /// `host A`.
    pub fn host(address: Ipv4Addr) -> Self {
        AddressMatch::new(address, Ipv4Addr::UNSPECIFIED)
    }

    /// Whether `ip` matches.
    #[inline]
    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ self.address) & !self.wildcard == 0
    }
}

impl fmt::Display for AddressMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard == u32::MAX {
            f.write_str("any")
        } else if self.wildcard == 0 {
            write!(f, "host {}", Ipv4Addr::from(self.address))
        } else {
            write!(
                f,
                "{} {}",
                Ipv4Addr::from(self.address),
                Ipv4Addr::from(self.wildcard)
            )
        }
    }
}

/// A port condition (`eq`, `neq`, `lt`, `gt`, `range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortMatch {
    /// Equal.
    Eq(u16),
    /// Not equal.
    Neq(u16),
    /// Strictly less.
    Lt(u16),
    /// Strictly greater.
    Gt(u16),
    /// Inclusive range.
    Range(u16, u16),
}

impl PortMatch {
    /// Whether `port` matches.
    #[inline]
    pub fn matches(&self, port: u16) -> bool {
        match *self {
            PortMatch::Eq(p) => port == p,
            PortMatch::Neq(p) => port != p,
            PortMatch::Lt(p) => port < p,
            PortMatch::Gt(p) => port > p,
            PortMatch::Range(lo, hi) => (lo..=hi).contains(&port),
        }
    }
}

/// An ICMP condition: type with optional code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpMatch {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code (any code when absent).
    pub code: Option<u8>,
}

/// Logging option of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AclLog {
    /// No logging.
    None,
    /// `log`.
    Log,
    /// `log-input`.
    LogInput,
}

/// One access-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclEntry {
    /// Permit or deny.
    pub action: Verdict,
    /// IP protocol, `None` = `ip` (every protocol). Always `None` in standard lists.
    pub protocol: Option<u8>,
    /// Source condition.
    pub source: AddressMatch,
    /// Source port condition (tcp/udp).
    pub source_port: Option<PortMatch>,
    /// Destination condition (`any` in standard lists).
    pub destination: AddressMatch,
    /// Destination port condition (tcp/udp).
    pub destination_port: Option<PortMatch>,
    /// ICMP type/code (icmp).
    pub icmp: Option<IcmpMatch>,
    /// `established`: ACK or RST set (tcp).
    pub established: bool,
    /// `fragments`: only non-initial fragments.
    pub fragments: bool,
    /// Logging.
    pub log: AclLog,
}

impl AclEntry {
    fn has_l4_conditions(&self) -> bool {
        self.source_port.is_some()
            || self.destination_port.is_some()
            || self.icmp.is_some()
            || self.established
    }

    /// Whether this entry matches `pkt` (fragment rules of §3.2 included).
    #[inline]
    pub fn matches(&self, pkt: &AclPacket) -> bool {
        if let Some(p) = self.protocol {
            if p != pkt.proto {
                return false;
            }
        }
        if !self.source.matches(pkt.src) || !self.destination.matches(pkt.dst) {
            return false;
        }
        if self.fragments {
            return pkt.non_initial_fragment;
        }
        if pkt.non_initial_fragment && self.has_l4_conditions() {
            // No L4 header to test: a permit with L4 conditions matches on
            // its L3 conditions, a deny never matches (evaluation continues).
            return self.action == Verdict::Permit;
        }
        if let Some(pm) = self.source_port {
            if !pm.matches(pkt.sport) {
                return false;
            }
        }
        if let Some(pm) = self.destination_port {
            if !pm.matches(pkt.dport) {
                return false;
            }
        }
        if let Some(icmp) = self.icmp {
            if icmp.icmp_type != pkt.icmp_type {
                return false;
            }
            if let Some(code) = icmp.code {
                if code != pkt.icmp_code {
                    return false;
                }
            }
        }
        if self.established && pkt.tcp_flags & (tcp_flags::ACK | tcp_flags::RST) == 0 {
            return false;
        }
        true
    }

    /// Writes the entry in IOS form without the leading `access-list N`
    /// (`permit tcp any host 172.22.1.110 eq smtp`).
    pub fn write_ios(&self, kind: AclKind, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str(self.action.keyword())?;
        if kind == AclKind::Standard {
            write!(out, " {}", self.source)?;
        } else {
            write!(out, " {}", protocol_name(self.protocol))?;
            write!(out, " {}", self.source)?;
            if let Some(pm) = self.source_port {
                write_port_match(out, pm, self.protocol)?;
            }
            write!(out, " {}", self.destination)?;
            if let Some(pm) = self.destination_port {
                write_port_match(out, pm, self.protocol)?;
            }
            if let Some(icmp) = self.icmp {
                match icmp_name(icmp) {
                    Some(name) => write!(out, " {name}")?,
                    None => {
                        write!(out, " {}", icmp.icmp_type)?;
                        if let Some(code) = icmp.code {
                            write!(out, " {code}")?;
                        }
                    }
                }
            }
            if self.established {
                out.write_str(" established")?;
            }
            if self.fragments {
                out.write_str(" fragments")?;
            }
        }
        match self.log {
            AclLog::None => Ok(()),
            AclLog::Log => out.write_str(" log"),
            AclLog::LogInput => out.write_str(" log-input"),
        }
    }

    /// The IOS form as a string.
    pub fn to_ios(&self, kind: AclKind) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_ios(kind, &mut s);
        s
    }
}

/// A numbered access list: ordered entries and remarks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessList {
    /// List number.
    pub number: u16,
    /// Standard or extended.
    pub kind: AclKind,
    /// Entries in the order added.
    pub entries: Vec<AclEntry>,
    /// `access-list N remark TEXT` lines, in order (kept for the running-config).
    pub remarks: Vec<String>,
}

impl AccessList {
    /// An empty list.
    pub fn new(number: u16, kind: AclKind) -> Self {
        AccessList {
            number,
            kind,
            entries: Vec::new(),
            remarks: Vec::new(),
        }
    }

    /// First match wins; no match is the implicit deny (`None` index).
    /// Allocation-free.
    #[inline]
    pub fn evaluate(&self, pkt: &AclPacket) -> (Verdict, Option<usize>) {
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.matches(pkt) {
                return (entry.action, Some(index));
            }
        }
        (Verdict::Deny, None)
    }
}

/// What one `access-list` line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclCommand {
    /// Append an entry.
    Entry(AclEntry),
    /// Append a remark.
    Remark(String),
}

/// Parses the words after `access-list N` for a list of `kind`.
pub fn parse_entry(kind: AclKind, cur: &mut Cursor<'_, '_>) -> Result<AclCommand, SyntaxError> {
    let action = match cur.keyword(&["permit", "deny", "remark"])? {
        0 => Verdict::Permit,
        1 => Verdict::Deny,
        _ => return Ok(AclCommand::Remark(cur.rest())),
    };
    let mut entry = AclEntry {
        action,
        protocol: None,
        source: AddressMatch::ANY,
        source_port: None,
        destination: AddressMatch::ANY,
        destination_port: None,
        icmp: None,
        established: false,
        fragments: false,
        log: AclLog::None,
    };
    if kind == AclKind::Standard {
        entry.source = parse_address_match(cur, "source", true)?;
        if cur.accept_keyword(&["log"]).is_some() {
            entry.log = AclLog::Log;
        }
        reject_unsupported(cur)?;
        cur.finish()?;
        return Ok(AclCommand::Entry(entry));
    }
    entry.protocol = parse_protocol(cur)?;
    let ports = matches!(entry.protocol, Some(proto::TCP) | Some(proto::UDP));
    entry.source = parse_address_match(cur, "source", false)?;
    if ports {
        entry.source_port = parse_port_match(cur, entry.protocol)?;
    }
    entry.destination = parse_address_match(cur, "destination", false)?;
    if ports {
        entry.destination_port = parse_port_match(cur, entry.protocol)?;
    }
    if entry.protocol == Some(proto::ICMP) {
        entry.icmp = parse_icmp_match(cur)?;
    }
    // Trailing options, each at most once, in any order.
    while let Some(token) = cur.peek() {
        reject_unsupported(cur)?;
        let index = cur.keyword(&["established", "fragments", "log", "log-input"])?;
        let duplicate = match index {
            0 => {
                if entry.protocol != Some(proto::TCP) {
                    return Err(SyntaxError::new(
                        token.column,
                        "\"established\" is only valid for tcp",
                    ));
                }
                std::mem::replace(&mut entry.established, true)
            }
            1 => std::mem::replace(&mut entry.fragments, true),
            _ => {
                let was = entry.log != AclLog::None;
                entry.log = if index == 2 {
                    AclLog::Log
                } else {
                    AclLog::LogInput
                };
                was
            }
        };
        if duplicate {
            return Err(SyntaxError::new(
                token.column,
                format!("option \"{}\" given twice", token.text),
            ));
        }
    }
    if entry.fragments && entry.has_l4_conditions() {
        return Err(SyntaxError::new(
            cur.column(),
            "\"fragments\" cannot be combined with port, icmp or established conditions",
        ));
    }
    Ok(AclCommand::Entry(entry))
}

const UNSUPPORTED: &[&str] = &[
    "precedence",
    "tos",
    "dscp",
    "time-range",
    "dynamic",
    "reflect",
];

fn reject_unsupported(cur: &Cursor<'_, '_>) -> Result<(), SyntaxError> {
    if let Some(token) = cur.peek() {
        if let Some(index) = cur.peek_keyword(UNSUPPORTED) {
            return Err(SyntaxError::new(
                token.column,
                format!(
                    "access-list option \"{}\" is not supported",
                    UNSUPPORTED[index]
                ),
            ));
        }
    }
    Ok(())
}

const PROTOCOLS: &[(&str, Option<u8>)] = &[
    ("ip", None),
    ("tcp", Some(proto::TCP)),
    ("udp", Some(proto::UDP)),
    ("icmp", Some(proto::ICMP)),
    ("gre", Some(proto::GRE)),
    ("esp", Some(proto::ESP)),
    ("ahp", Some(proto::AHP)),
    ("igmp", Some(proto::IGMP)),
    ("ospf", Some(proto::OSPF)),
    ("eigrp", Some(proto::EIGRP)),
    ("pim", Some(proto::PIM)),
    ("ipinip", Some(proto::IPINIP)),
];

fn parse_protocol(cur: &mut Cursor<'_, '_>) -> Result<Option<u8>, SyntaxError> {
    let token = cur.word("protocol")?;
    if token.text.bytes().all(|b| b.is_ascii_digit()) {
        let n = parse_number(token, "protocol", 0, 255)? as u8;
        // Print-equivalent numbers map to their names (IOS does the same).
        return Ok(Some(n));
    }
    let names: Vec<&str> = PROTOCOLS.iter().map(|p| p.0).collect();
    match crate::config::lexer::match_keyword(token.text, &names, cur.abbreviations()) {
        Ok(index) => Ok(PROTOCOLS[index].1),
        Err(_) => Err(SyntaxError::new(
            token.column,
            format!("unknown protocol \"{}\"", token.text),
        )),
    }
}

fn protocol_name(protocol: Option<u8>) -> String {
    match PROTOCOLS.iter().find(|p| p.1 == protocol) {
        Some((name, _)) => (*name).to_string(),
        None => protocol.map_or_else(|| "ip".to_string(), |n| n.to_string()),
    }
}

fn parse_address_match(
    cur: &mut Cursor<'_, '_>,
    what: &str,
    standard: bool,
) -> Result<AddressMatch, SyntaxError> {
    if cur.peek().is_none() {
        return Err(SyntaxError::new(
            cur.column(),
            format!("incomplete command, expected {what} address"),
        ));
    }
    match cur.accept_keyword(&["any", "host"]) {
        Some(0) => return Ok(AddressMatch::ANY),
        Some(_) => return Ok(AddressMatch::host(cur.address(what)?)),
        None => {}
    }
    let address = cur.address(what)?;
    // Standard lists allow the wildcard to be omitted (= host).
    let wildcard_follows = cur
        .peek()
        .is_some_and(|t| t.text.bytes().next().is_some_and(|b| b.is_ascii_digit()));
    if standard && !wildcard_follows {
        return Ok(AddressMatch::host(address));
    }
    let wildcard = cur.address("wildcard")?;
    Ok(AddressMatch::new(address, wildcard))
}

fn parse_port_match(
    cur: &mut Cursor<'_, '_>,
    protocol: Option<u8>,
) -> Result<Option<PortMatch>, SyntaxError> {
    let Some(op) = cur.accept_keyword(&["eq", "neq", "lt", "gt", "range"]) else {
        return Ok(None);
    };
    let first = parse_port(cur, protocol)?;
    Ok(Some(match op {
        0 => PortMatch::Eq(first),
        1 => PortMatch::Neq(first),
        2 => PortMatch::Lt(first),
        3 => PortMatch::Gt(first),
        _ => {
            let column = cur.column();
            let second = parse_port(cur, protocol)?;
            if second < first {
                return Err(SyntaxError::new(
                    column,
                    "range end must not be below range start",
                ));
            }
            PortMatch::Range(first, second)
        }
    }))
}

/// IOS TCP port keywords (`config-and-nat.md` §3.3).
pub const TCP_PORT_NAMES: &[(&str, u16)] = &[
    ("bgp", 179),
    ("chargen", 19),
    ("cmd", 514),
    ("daytime", 13),
    ("discard", 9),
    ("domain", 53),
    ("drip", 3949),
    ("echo", 7),
    ("exec", 512),
    ("finger", 79),
    ("ftp", 21),
    ("ftp-data", 20),
    ("gopher", 70),
    ("hostname", 101),
    ("ident", 113),
    ("irc", 194),
    ("klogin", 543),
    ("kshell", 544),
    ("login", 513),
    ("lpd", 515),
    ("nntp", 119),
    ("pim-auto-rp", 496),
    ("pop2", 109),
    ("pop3", 110),
    ("smtp", 25),
    ("sunrpc", 111),
    ("tacacs", 49),
    ("talk", 517),
    ("telnet", 23),
    ("time", 37),
    ("uucp", 540),
    ("whois", 43),
    ("www", 80),
];

/// IOS UDP port keywords (`config-and-nat.md` §3.3).
pub const UDP_PORT_NAMES: &[(&str, u16)] = &[
    ("biff", 512),
    ("bootpc", 68),
    ("bootps", 67),
    ("discard", 9),
    ("dnsix", 195),
    ("domain", 53),
    ("echo", 7),
    ("isakmp", 500),
    ("mobile-ip", 434),
    ("nameserver", 42),
    ("netbios-dgm", 138),
    ("netbios-ns", 137),
    ("netbios-ss", 139),
    ("non500-isakmp", 4500),
    ("ntp", 123),
    ("pim-auto-rp", 496),
    ("rip", 520),
    ("snmp", 161),
    ("snmptrap", 162),
    ("sunrpc", 111),
    ("syslog", 514),
    ("tacacs", 49),
    ("talk", 517),
    ("tftp", 69),
    ("time", 37),
    ("who", 513),
    ("xdmcp", 177),
];

/// IOS ICMP message names with type and optional code (§3.3).
pub const ICMP_NAMES: &[(&str, u8, Option<u8>)] = &[
    ("echo-reply", 0, None),
    ("unreachable", 3, None),
    ("net-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("packet-too-big", 3, Some(4)),
    ("administratively-prohibited", 3, Some(13)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("echo", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, Some(0)),
    ("reassembly-timeout", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("information-request", 15, None),
    ("information-reply", 16, None),
    ("mask-request", 17, None),
    ("mask-reply", 18, None),
    ("traceroute", 30, None),
];

fn port_names(protocol: Option<u8>) -> &'static [(&'static str, u16)] {
    if protocol == Some(proto::UDP) {
        UDP_PORT_NAMES
    } else {
        TCP_PORT_NAMES
    }
}

fn parse_port(cur: &mut Cursor<'_, '_>, protocol: Option<u8>) -> Result<u16, SyntaxError> {
    let token = cur.word("port")?;
    if token.text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(parse_number(token, "port", 0, 65535)? as u16);
    }
    let table = port_names(protocol);
    let names: Vec<&str> = table.iter().map(|p| p.0).collect();
    match crate::config::lexer::match_keyword(token.text, &names, cur.abbreviations()) {
        Ok(index) => Ok(table[index].1),
        Err(_) => Err(SyntaxError::new(
            token.column,
            format!("unknown port name \"{}\"", token.text),
        )),
    }
}

fn write_port(out: &mut impl fmt::Write, port: u16, protocol: Option<u8>) -> fmt::Result {
    match port_names(protocol).iter().find(|p| p.1 == port) {
        Some((name, _)) => out.write_str(name),
        None => write!(out, "{port}"),
    }
}

fn write_port_match(out: &mut impl fmt::Write, pm: PortMatch, protocol: Option<u8>) -> fmt::Result {
    let (op, a, b) = match pm {
        PortMatch::Eq(p) => ("eq", p, None),
        PortMatch::Neq(p) => ("neq", p, None),
        PortMatch::Lt(p) => ("lt", p, None),
        PortMatch::Gt(p) => ("gt", p, None),
        PortMatch::Range(lo, hi) => ("range", lo, Some(hi)),
    };
    write!(out, " {op} ")?;
    write_port(out, a, protocol)?;
    if let Some(b) = b {
        out.write_char(' ')?;
        write_port(out, b, protocol)?;
    }
    Ok(())
}

fn parse_icmp_match(cur: &mut Cursor<'_, '_>) -> Result<Option<IcmpMatch>, SyntaxError> {
    let Some(token) = cur.peek() else {
        return Ok(None);
    };
    if token.text.bytes().all(|b| b.is_ascii_digit()) {
        cur.next_token();
        let icmp_type = parse_number(token, "icmp type", 0, 255)? as u8;
        let code = match cur.peek() {
            Some(t) if t.text.bytes().all(|b| b.is_ascii_digit()) => {
                cur.next_token();
                Some(parse_number(t, "icmp code", 0, 255)? as u8)
            }
            _ => None,
        };
        return Ok(Some(IcmpMatch { icmp_type, code }));
    }
    let names: Vec<&str> = ICMP_NAMES.iter().map(|n| n.0).collect();
    match cur.accept_keyword(&names) {
        Some(index) => {
            let (_, icmp_type, code) = ICMP_NAMES[index];
            Ok(Some(IcmpMatch { icmp_type, code }))
        }
        None => Ok(None),
    }
}

fn icmp_name(icmp: IcmpMatch) -> Option<&'static str> {
    ICMP_NAMES
        .iter()
        .find(|n| n.1 == icmp.icmp_type && n.2 == icmp.code)
        .map(|n| n.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::lexer::tokenize;

    fn parse(kind: AclKind, text: &str) -> Result<AclEntry, SyntaxError> {
        let tokens = tokenize(text);
        let mut cur = Cursor::new(&tokens, text.chars().count() + 1, false);
        match parse_entry(kind, &mut cur)? {
            AclCommand::Entry(e) => Ok(e),
            AclCommand::Remark(_) => panic!("remark"),
        }
    }

    fn ext(text: &str) -> AclEntry {
        parse(AclKind::Extended, text).unwrap()
    }

    fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> AclPacket {
        AclPacket {
            proto: proto::TCP,
            src: src.into(),
            dst: dst.into(),
            sport,
            dport,
            icmp_type: 0,
            icmp_code: 0,
            tcp_flags: flags,
            non_initial_fragment: false,
        }
    }

    #[test]
    fn seed_entry_round_trips_with_names() {
        let e = ext("permit tcp any host 172.22.1.110 eq smtp");
        assert_eq!(e.destination_port, Some(PortMatch::Eq(25)));
        assert_eq!(
            e.to_ios(AclKind::Extended),
            "permit tcp any host 172.22.1.110 eq smtp"
        );
        let list = AccessList {
            entries: vec![e],
            ..AccessList::new(101, AclKind::Extended)
        };
        let syn = tcp([198, 51, 100, 7], 40001, [172, 22, 1, 110], 25, 0x02);
        assert_eq!(list.evaluate(&syn), (Verdict::Permit, Some(0)));
        let http = tcp([198, 51, 100, 7], 40002, [172, 22, 1, 110], 80, 0x02);
        assert_eq!(list.evaluate(&http), (Verdict::Deny, None));
        let other = tcp([198, 51, 100, 7], 40003, [172, 22, 1, 111], 25, 0x02);
        assert_eq!(list.evaluate(&other), (Verdict::Deny, None));
    }

    #[test]
    fn every_port_operator() {
        let p = |dport| tcp([1, 1, 1, 1], 1000, [2, 2, 2, 2], dport, 0);
        let eq = ext("permit tcp any any eq 25");
        assert!(eq.matches(&p(25)) && !eq.matches(&p(26)));
        let neq = ext("permit tcp any any neq www");
        assert!(neq.matches(&p(25)) && !neq.matches(&p(80)));
        let lt = ext("permit tcp any any lt 1024");
        assert!(lt.matches(&p(1023)) && !lt.matches(&p(1024)));
        let gt = ext("permit tcp any any gt 1023");
        assert!(gt.matches(&p(1024)) && !gt.matches(&p(1023)));
        let range = ext("permit tcp any any range ftp-data telnet");
        assert_eq!(range.destination_port, Some(PortMatch::Range(20, 23)));
        assert!(range.matches(&p(20)) && range.matches(&p(23)) && !range.matches(&p(24)));
        assert_eq!(
            range.to_ios(AclKind::Extended),
            "permit tcp any any range ftp-data telnet"
        );
        let src = ext("deny tcp any eq 40000 any");
        assert!(src.matches(&tcp([1, 1, 1, 1], 40000, [2, 2, 2, 2], 1, 0)));
        assert!(!src.matches(&tcp([1, 1, 1, 1], 40001, [2, 2, 2, 2], 1, 0)));
        let udp = ext("permit udp any any eq domain");
        assert_eq!(
            udp.to_ios(AclKind::Extended),
            "permit udp any any eq domain"
        );
        let snmp = ext("permit udp any any eq snmp");
        assert_eq!(snmp.destination_port, Some(PortMatch::Eq(161)));
        // `snmp` is not a TCP keyword.
        assert!(parse(AclKind::Extended, "permit tcp any any eq snmp").is_err());
    }

    #[test]
    fn established_and_icmp() {
        let e = ext("permit tcp any any established");
        assert!(!e.matches(&tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 0x02)));
        assert!(e.matches(&tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 0x12)));
        assert!(e.matches(&tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 0x04)));
        let i = ext("permit icmp any any ttl-exceeded");
        assert_eq!(
            i.icmp,
            Some(IcmpMatch {
                icmp_type: 11,
                code: Some(0)
            })
        );
        let mut pkt = tcp([1, 1, 1, 1], 0, [2, 2, 2, 2], 0, 0);
        pkt.proto = proto::ICMP;
        pkt.icmp_type = 11;
        assert!(i.matches(&pkt));
        pkt.icmp_code = 1;
        assert!(!i.matches(&pkt));
        let n = ext("deny icmp any any 3 13 log");
        assert_eq!(
            n.to_ios(AclKind::Extended),
            "deny icmp any any administratively-prohibited log"
        );
        let n = ext("permit icmp any any 42");
        assert_eq!(n.to_ios(AclKind::Extended), "permit icmp any any 42");
    }

    #[test]
    fn wildcard_normalisation_and_standard_lists() {
        let e = ext("permit ip 10.10.10.5 0.0.0.255 any log-input");
        assert_eq!(
            e.to_ios(AclKind::Extended),
            "permit ip 10.10.10.0 0.0.0.255 any log-input"
        );
        let s = parse(AclKind::Standard, "deny 10.1.1.1").unwrap();
        assert_eq!(s.to_ios(AclKind::Standard), "deny host 10.1.1.1");
        let s = parse(AclKind::Standard, "permit 10.1.0.0 0.0.255.255 log").unwrap();
        assert_eq!(
            s.to_ios(AclKind::Standard),
            "permit 10.1.0.0 0.0.255.255 log"
        );
        // Non-contiguous masks are allowed.
        let n = ext("permit ip 10.0.0.1 0.255.0.254 any");
        assert!(n.source.matches(Ipv4Addr::new(10, 7, 0, 9)));
        assert!(!n.source.matches(Ipv4Addr::new(10, 7, 1, 9)));
    }

    #[test]
    fn errors_point_at_tokens() {
        let e = parse(AclKind::Extended, "permit tcp any any eq 70000").unwrap_err();
        assert_eq!(e.column, 23);
        let e = parse(AclKind::Extended, "permit tcp any any precedence 5").unwrap_err();
        assert_eq!(e.column, 20);
        let e = parse(AclKind::Extended, "permit foo any any").unwrap_err();
        assert_eq!(e.column, 8);
        let e = parse(AclKind::Extended, "permit udp any any established").unwrap_err();
        assert_eq!(e.column, 20);
        let e = parse(AclKind::Extended, "permit tcp any").unwrap_err();
        assert_eq!(e.column, 15);
        let e = parse(AclKind::Extended, "permit tcp any any log log").unwrap_err();
        assert_eq!(e.column, 24);
        let e = parse(AclKind::Extended, "permit tcp any any range 30 20").unwrap_err();
        assert_eq!(e.column, 29);
    }

    #[test]
    fn non_initial_fragments() {
        let mut frag = tcp([1, 1, 1, 1], 0, [2, 2, 2, 2], 0, 0);
        frag.non_initial_fragment = true;
        let deny_l4 = ext("deny tcp any any eq 25");
        let permit_l4 = ext("permit tcp any any eq 80");
        let deny_l3 = ext("deny tcp host 1.1.1.1 any");
        let frag_only = ext("deny ip any any fragments");
        assert!(!deny_l4.matches(&frag));
        assert!(permit_l4.matches(&frag));
        assert!(deny_l3.matches(&frag));
        assert!(frag_only.matches(&frag));
        assert!(!frag_only.matches(&tcp([1, 1, 1, 1], 0, [2, 2, 2, 2], 0, 0)));
        let list = AccessList {
            entries: vec![deny_l4, permit_l4],
            ..AccessList::new(101, AclKind::Extended)
        };
        assert_eq!(list.evaluate(&frag), (Verdict::Permit, Some(1)));
        assert!(parse(AclKind::Extended, "permit tcp any any eq 25 fragments").is_err());
    }

    fn naive(entries: &[AclEntry], pkt: &AclPacket) -> (Verdict, Option<usize>) {
        // Written independently from `matches`: compare plain integers.
        for (i, e) in entries.iter().enumerate() {
            let src = u32::from(pkt.src);
            let dst = u32::from(pkt.dst);
            let l3 = e.protocol.is_none_or(|p| p == pkt.proto)
                && (src & !e.source.wildcard) == e.source.address
                && (dst & !e.destination.wildcard) == e.destination.address;
            if !l3 {
                continue;
            }
            let l4_present = e.source_port.is_some()
                || e.destination_port.is_some()
                || e.icmp.is_some()
                || e.established;
            let hit = if e.fragments {
                pkt.non_initial_fragment
            } else if pkt.non_initial_fragment {
                !l4_present || e.action == Verdict::Permit
            } else {
                let port_ok = |pm: Option<PortMatch>, port: u16| match pm {
                    None => true,
                    Some(PortMatch::Eq(p)) => port == p,
                    Some(PortMatch::Neq(p)) => port != p,
                    Some(PortMatch::Lt(p)) => port < p,
                    Some(PortMatch::Gt(p)) => port > p,
                    Some(PortMatch::Range(a, b)) => a <= port && port <= b,
                };
                port_ok(e.source_port, pkt.sport)
                    && port_ok(e.destination_port, pkt.dport)
                    && e.icmp.is_none_or(|i| {
                        i.icmp_type == pkt.icmp_type && i.code.is_none_or(|c| c == pkt.icmp_code)
                    })
                    && (!e.established || pkt.tcp_flags & 0x14 != 0)
            };
            if hit {
                return (e.action, Some(i));
            }
        }
        (Verdict::Deny, None)
    }

    fn arb_addr() -> impl Strategy<Value = AddressMatch> {
        prop_oneof![
            Just(AddressMatch::ANY),
            (0u32..4).prop_map(|a| AddressMatch::host(Ipv4Addr::from(0x0a00_0000 | a))),
            (0u32..4, prop_oneof![Just(1u32), Just(3), Just(0x0100_0002)]).prop_map(|(a, w)| {
                AddressMatch::new(Ipv4Addr::from(0x0a00_0000 | a), Ipv4Addr::from(w))
            }),
        ]
    }

    fn arb_port() -> impl Strategy<Value = Option<PortMatch>> {
        prop_oneof![
            Just(None),
            (0u16..6).prop_map(|p| Some(PortMatch::Eq(p))),
            (0u16..6).prop_map(|p| Some(PortMatch::Neq(p))),
            (0u16..6).prop_map(|p| Some(PortMatch::Lt(p))),
            (0u16..6).prop_map(|p| Some(PortMatch::Gt(p))),
            (0u16..3, 0u16..3).prop_map(|(a, b)| Some(PortMatch::Range(a, a + b))),
        ]
    }

    fn arb_entry() -> impl Strategy<Value = AclEntry> {
        (
            any::<bool>(),
            prop_oneof![
                Just(None),
                Just(Some(proto::TCP)),
                Just(Some(proto::UDP)),
                Just(Some(proto::ICMP))
            ],
            arb_addr(),
            arb_addr(),
            arb_port(),
            arb_port(),
            (
                0u8..3,
                proptest::option::of(0u8..2),
                any::<bool>(),
                any::<bool>(),
            ),
        )
            .prop_map(|(permit, protocol, source, destination, sp, dp, extra)| {
                let (itype, icode, established, fragments) = extra;
                let ports = matches!(protocol, Some(proto::TCP) | Some(proto::UDP));
                let mut e = AclEntry {
                    action: if permit {
                        Verdict::Permit
                    } else {
                        Verdict::Deny
                    },
                    protocol,
                    source,
                    source_port: if ports { sp } else { None },
                    destination,
                    destination_port: if ports { dp } else { None },
                    icmp: (protocol == Some(proto::ICMP)).then_some(IcmpMatch {
                        icmp_type: itype,
                        code: icode,
                    }),
                    established: established && protocol == Some(proto::TCP),
                    fragments: false,
                    log: AclLog::None,
                };
                if fragments && !e.has_l4_conditions() {
                    e.fragments = true;
                }
                e
            })
    }

    fn arb_packet() -> impl Strategy<Value = AclPacket> {
        (
            prop_oneof![
                Just(proto::TCP),
                Just(proto::UDP),
                Just(proto::ICMP),
                Just(47u8)
            ],
            0u32..4,
            0u32..4,
            0u16..6,
            0u16..6,
            (0u8..3, 0u8..2, any::<u8>(), any::<bool>()),
        )
            .prop_map(
                |(proto, s, d, sport, dport, (t, c, flags, frag))| AclPacket {
                    proto,
                    src: Ipv4Addr::from(0x0a00_0000 | s),
                    dst: Ipv4Addr::from(0x0a00_0000 | d),
                    sport,
                    dport,
                    icmp_type: t,
                    icmp_code: c,
                    tcp_flags: flags,
                    non_initial_fragment: frag,
                },
            )
    }

    proptest! {
        #[test]
        fn evaluate_agrees_with_naive(entries in proptest::collection::vec(arb_entry(), 0..8),
                                      pkt in arb_packet()) {
            let list = AccessList { entries: entries.clone(), ..AccessList::new(150, AclKind::Extended) };
            prop_assert_eq!(list.evaluate(&pkt), naive(&entries, &pkt));
        }

        #[test]
        fn printed_entries_reparse_identically(entry in arb_entry()) {
            let text = entry.to_ios(AclKind::Extended);
            let reparsed = parse(AclKind::Extended, &text).unwrap();
            prop_assert_eq!(reparsed, entry);
        }

        #[test]
        fn parser_never_panics(words in proptest::collection::vec(
            prop_oneof![Just("permit"), Just("deny"), Just("tcp"), Just("any"), Just("host"),
                        Just("eq"), Just("range"), Just("10.0.0.1"), Just("0.0.0.255"),
                        Just("smtp"), Just("99999"), Just("log"), Just("established"),
                        Just("icmp"), Just("echo"), Just("fragments"), Just("x")], 0..10)) {
            let text = words.join(" ");
            let _ = parse(AclKind::Extended, &text);
            let _ = parse(AclKind::Standard, &text);
        }
    }
}
