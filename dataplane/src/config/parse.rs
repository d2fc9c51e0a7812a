//! Parsing and applying one configuration line in a given mode
//! (`config-and-nat.md` §1–§2, §4, §6; `cbac-sessions.md` §6, §9).
//!
//! Each command is parsed and applied in one step to a `Config`; callers that
//! need a line to be all-or-nothing (interactive configuration) apply it to a
//! copy. The outcome tells the caller how to classify the line (implement,
//! accept, ignore+warn) and whether it changes the mode.

use std::net::Ipv4Addr;

use crate::acl::{self, AccessList, AclCommand, AclKind};
use crate::config::error::{ErrorKind, WarningKind};
use crate::config::lexer::{match_keyword, parse_number, Cursor, KeywordMismatch, SyntaxError};
use crate::config::model::*;

/// Longest inspection rule name; longer names are truncated (`cbac-sessions.md` §9).
pub const MAX_RULE_NAME: usize = 16;
/// PROPOSED range of every timeout in seconds.
pub const MAX_TIMEOUT: u64 = 2_147_483;

/// The sub-mode a line is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Global configuration.
    Global,
    /// `interface X` (index into `Config::interfaces`).
    Interface(usize),
    /// A sub-mode entered by an ignored command (`controller`, `line`, ...).
    Ignored,
}

/// How a line was classified and what it does to the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Implemented: the model changed. The section tells where it belongs in
    /// the running-config; the optional warning is reported with the line.
    Applied {
        section: Section,
        warning: Option<WarningKind>,
    },
    /// Valid, no effect needed: kept verbatim in the running-config.
    Accepted,
    /// Valid IOS outside the product: kept verbatim (masked), warned.
    Ignored,
    /// Valid, parsed, without effect here: kept verbatim, warned with a reason.
    Warned(WarningKind),
    /// Entered interface mode (the interface exists now).
    EnterInterface(usize),
    /// Entered an ignored sub-mode (the line itself is ignored and warned).
    EnterIgnored,
    /// `exit`: back to global mode.
    Exit,
    /// `end`.
    End,
    /// The first words are not a command of this mode.
    NotMine,
}

/// A failed line: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub column: usize,
    pub kind: ErrorKind,
}

impl From<SyntaxError> for LineError {
    fn from(e: SyntaxError) -> Self {
        LineError {
            column: e.column,
            kind: ErrorKind::InvalidInput(e.reason),
        }
    }
}

fn rejected(column: usize, reason: impl Into<String>) -> LineError {
    LineError {
        column,
        kind: ErrorKind::Rejected(reason.into()),
    }
}

/// Options of one parse.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParseOptions {
    /// Check `low <= high` at each line (interactive) rather than at the end
    /// of a file (where the order of the two lines must not matter).
    pub check_thresholds_now: bool,
}

type Res = Result<Outcome, LineError>;

fn applied(section: Section) -> Res {
    Ok(Outcome::Applied {
        section,
        warning: None,
    })
}

// ---------------------------------------------------------------- global mode

const GLOBAL_HEADS: &[&str] = &[
    "version",
    "service",
    "hostname",
    "boot-start-marker",
    "boot-end-marker",
    "boot",
    "enable",
    "aaa",
    "resource",
    "voice-card",
    "ip",
    "controller",
    "interface",
    "access-list",
    "control-plane",
    "voice-port",
    "line",
    "end",
    "exit",
    "username",
    "logging",
    "snmp-server",
    "ntp",
    "clock",
    "ftp-server",
    "banner",
];

const IP_HEADS: &[&str] = &[
    "inspect",
    "route",
    "nat",
    "subnet-zero",
    "cef",
    "classless",
    "http",
    "dhcp",
    "ips",
    "domain-name",
    "domain",
    "name-server",
    "port-map",
    "audit",
    "ssh",
    "source-route",
    "finger",
    "bootp",
];

/// Parses and applies one global-mode command.
pub(crate) fn global_command(
    cfg: &mut Config,
    cur: &mut Cursor<'_, '_>,
    opts: ParseOptions,
) -> Res {
    let negate = cur.accept_keyword(&["no"]).is_some();
    let Some(head_token) = cur.peek() else {
        return Ok(Outcome::NotMine);
    };
    let head = match match_keyword(head_token.text, GLOBAL_HEADS, cur.abbreviations()) {
        Ok(i) => GLOBAL_HEADS[i],
        Err(KeywordMismatch::Ambiguous) => {
            return Err(SyntaxError::new(
                head_token.column,
                format!("ambiguous command \"{}\"", head_token.text),
            )
            .into())
        }
        Err(KeywordMismatch::Unknown) => return Ok(Outcome::NotMine),
    };
    cur.next_token();
    match head {
        "version" if !negate => {
            let version = cur.word("version number")?;
            cur.finish()?;
            cfg.version = Some(version.text.to_string());
            applied(Section::Version)
        }
        "service" => {
            if cur.peek_keyword(&["timestamps"]).is_some() {
                cur.next_token();
                service_timestamps(cfg, cur, negate)
            } else {
                cur.word("service name")?;
                Ok(Outcome::Ignored)
            }
        }
        "hostname" if !negate => {
            let name = cur.word("hostname")?;
            cur.finish()?;
            cfg.hostname = name.text.to_string();
            applied(Section::Hostname)
        }
        "hostname" => {
            cur.finish()?;
            cfg.hostname = DEFAULT_HOSTNAME.to_string();
            applied(Section::Hostname)
        }
        "boot-start-marker" | "boot-end-marker" => {
            cur.finish()?;
            Ok(Outcome::Accepted)
        }
        "aaa" if negate && cur.peek_keyword(&["new-model"]).is_some() => {
            cur.next_token();
            cur.finish()?;
            Ok(Outcome::Accepted)
        }
        "boot" | "enable" | "aaa" | "resource" | "voice-card" | "username" | "logging"
        | "snmp-server" | "ntp" | "clock" | "ftp-server" => {
            if cur.at_end() {
                return Err(SyntaxError::new(cur.column(), "incomplete command").into());
            }
            Ok(Outcome::Ignored)
        }
        "banner" => Err(rejected(
            head_token.column,
            "multi-line banners are not supported; remove the banner",
        )),
        "controller" | "voice-port" | "line" | "control-plane" => {
            if head != "control-plane" && cur.at_end() {
                return Err(SyntaxError::new(cur.column(), "incomplete command").into());
            }
            if negate {
                Ok(Outcome::Ignored)
            } else {
                Ok(Outcome::EnterIgnored)
            }
        }
        "interface" => interface_command(cfg, cur, negate),
        "access-list" => access_list(cfg, cur, negate),
        "end" => {
            cur.finish()?;
            Ok(Outcome::End)
        }
        "exit" => {
            cur.finish()?;
            Ok(Outcome::Exit)
        }
        "ip" => ip_global(cfg, cur, negate, opts),
        _ => Err(SyntaxError::new(
            head_token.column,
            format!("\"no {}\" is not supported", head_token.text),
        )
        .into()),
    }
}

fn service_timestamps(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool) -> Res {
    let which = cur.accept_keyword(&["debug", "log"]);
    let style = if negate {
        TimestampStyle::Off
    } else {
        match cur.accept_keyword(&["uptime", "datetime"]) {
            None | Some(0) => TimestampStyle::Uptime,
            Some(_) => {
                let (mut msec, mut localtime, mut show_timezone, mut year) =
                    (false, false, false, false);
                while !cur.at_end() {
                    let column = cur.column();
                    let flag = match cur.keyword(&["msec", "localtime", "show-timezone", "year"])? {
                        0 => &mut msec,
                        1 => &mut localtime,
                        2 => &mut show_timezone,
                        _ => &mut year,
                    };
                    if std::mem::replace(flag, true) {
                        return Err(SyntaxError::new(column, "option given twice").into());
                    }
                }
                TimestampStyle::Datetime {
                    msec,
                    localtime,
                    show_timezone,
                    year,
                }
            }
        }
    };
    cur.finish()?;
    match which {
        Some(0) => cfg.timestamps.debug = style,
        Some(_) => cfg.timestamps.log = style,
        None => {
            cfg.timestamps.debug = style;
            cfg.timestamps.log = style;
        }
    }
    applied(Section::Timestamps)
}

const INTERFACE_TYPES: &[&str] = &[
    "Ethernet",
    "FastEthernet",
    "GigabitEthernet",
    "TenGigabitEthernet",
    "Serial",
    "Loopback",
    "Tunnel",
    "Vlan",
    "Port-channel",
    "BRI",
    "Dialer",
    "Async",
    "ATM",
    "Virtual-Template",
];

/// Normalises an IOS interface name (`e2/0`, `eth2/0`, `Ethernet 2/0` →
/// `Ethernet2/0`). Type words match by unique prefix in every mode (IOS
/// accepts `e2/0` in a pasted config too).
pub fn normalise_interface_name(type_part: &str, number_part: &str) -> Option<String> {
    if type_part.is_empty() || number_part.is_empty() {
        return None;
    }
    if !number_part
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit())
        || !number_part
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'/' || b == b'.' || b == b':')
    {
        return None;
    }
    let lower: Vec<String> = INTERFACE_TYPES
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let lower_refs: Vec<&str> = lower.iter().map(String::as_str).collect();
    let index = match_keyword(type_part, &lower_refs, true).ok()?;
    Some(format!("{}{}", INTERFACE_TYPES[index], number_part))
}

/// Reads an interface name written as one token (`Ethernet2/0`) or two
/// (`Ethernet 2/0`).
pub(crate) fn interface_name(cur: &mut Cursor<'_, '_>) -> Result<(String, usize), LineError> {
    let token = cur.word("interface name")?;
    let split = token
        .text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(token.text.len());
    let (type_part, number_part) = token.text.split_at(split);
    let name = if number_part.is_empty() {
        let number = cur.word("interface number")?;
        normalise_interface_name(type_part, number.text)
    } else {
        normalise_interface_name(type_part, number_part)
    };
    name.map(|n| (n, token.column)).ok_or_else(|| {
        SyntaxError::new(
            token.column,
            format!("\"{}\" is not a valid interface name", token.text),
        )
        .into()
    })
}

fn interface_command(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool) -> Res {
    let (name, column) = interface_name(cur)?;
    cur.finish()?;
    let existing = cfg.interfaces.iter().position(|i| i.name == name);
    if negate {
        let Some(index) = existing else {
            return Err(rejected(column, format!("interface {name} does not exist")));
        };
        cfg.interfaces.remove(index);
        return applied(Section::Interfaces);
    }
    let index = match existing {
        Some(index) => index,
        None => {
            cfg.interfaces.push(Interface::new(name));
            cfg.interfaces.len() - 1
        }
    };
    Ok(Outcome::EnterInterface(index))
}

fn access_list(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool) -> Res {
    let token = cur.word("access list number")?;
    let number = parse_number(token, "access list number", 1, 2699)? as u16;
    let Some(kind) = AclKind::of_number(number) else {
        return Err(SyntaxError::new(
            token.column,
            format!(
                "access list {number} is not a numbered IP list (1-99, 100-199, 1300-1999, 2000-2699)"
            ),
        )
        .into());
    };
    if negate {
        cur.finish()?;
        cfg.access_lists.remove(&number);
        return applied(Section::AccessLists);
    }
    let command = acl::parse_entry(kind, cur)?;
    let list = cfg
        .access_lists
        .entry(number)
        .or_insert_with(|| AccessList::new(number, kind));
    match command {
        AclCommand::Entry(entry) => list.entries.push(entry),
        AclCommand::Remark(text) => list.remarks.push(text),
    }
    applied(Section::AccessLists)
}

fn ip_global(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool, opts: ParseOptions) -> Res {
    let index = cur.keyword(IP_HEADS)?;
    match IP_HEADS[index] {
        "inspect" => inspect_global(cfg, cur, negate, opts),
        "route" => ip_route(cfg, cur, negate),
        "nat" => ip_nat(cfg, cur, negate),
        "subnet-zero" | "cef" | "classless" => {
            cur.finish()?;
            Ok(if negate {
                Outcome::Ignored
            } else {
                Outcome::Accepted
            })
        }
        "http" => {
            if negate && cur.peek_keyword(&["secure-server"]).is_some() {
                cur.next_token();
                cur.finish()?;
                return Ok(Outcome::Accepted);
            }
            cur.word("http option")?;
            Ok(Outcome::Ignored)
        }
        "port-map" => {
            let app = cur.word("application")?;
            cur.keyword(&["port"])?;
            cur.number("port", 1, 65535)?;
            if cur.accept_keyword(&["list"]).is_some() {
                cur.number("access list", 1, 99)?;
            }
            cur.finish()?;
            Ok(Outcome::Warned(WarningKind::PartialSupport(format!(
                "port-to-application mapping is not supported: {} is inspected on its well-known port only",
                app.text.to_ascii_lowercase()
            ))))
        }
        "audit" if !negate && cur.peek_keyword(&["smtp"]).is_some() => {
            cur.next_token();
            cur.keyword(&["spam"])?;
            let n = cur.number("recipient count", 1, 65535)? as u32;
            cur.finish()?;
            cfg.inspect.spam_recipients = n;
            applied(Section::Inspect)
        }
        "audit" if negate && cur.peek_keyword(&["smtp"]).is_some() => {
            cur.next_token();
            cur.keyword(&["spam"])?;
            if !cur.at_end() {
                cur.number("recipient count", 1, 65535)?;
            }
            cur.finish()?;
            cfg.inspect.spam_recipients = InspectGlobals::default().spam_recipients;
            applied(Section::Inspect)
        }
        _ => {
            if cur.at_end() {
                return Err(SyntaxError::new(cur.column(), "incomplete command").into());
            }
            Ok(Outcome::Ignored)
        }
    }
}

fn contiguous(mask: Ipv4Addr) -> bool {
    let m = u32::from(mask);
    m.leading_ones() + m.trailing_zeros() == 32
}

fn ip_route(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool) -> Res {
    let prefix_col = cur.column();
    let prefix = cur.address("prefix")?;
    let mask_col = cur.column();
    let mask = cur.address("mask")?;
    if !contiguous(mask) {
        return Err(SyntaxError::new(mask_col, "mask is not contiguous").into());
    }
    if u32::from(prefix) & !u32::from(mask) != 0 {
        return Err(rejected(prefix_col, "Inconsistent address and mask"));
    }
    let mut interface = None;
    let mut next_hop = None;
    if let Some(t) = cur.peek() {
        if t.text.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            next_hop = Some(cur.address("next hop")?);
        } else {
            let (name, column) = interface_name(cur)?;
            if cfg.interface(&name).is_none() {
                return Err(rejected(column, format!("interface {name} does not exist")));
            }
            interface = Some(name);
            if cur
                .peek()
                .is_some_and(|t| t.text.contains('.') && t.text.as_bytes()[0].is_ascii_digit())
            {
                next_hop = Some(cur.address("next hop")?);
            }
        }
    } else if !negate {
        return Err(SyntaxError::new(
            cur.column(),
            "incomplete command, expected next hop or interface",
        )
        .into());
    }
    let distance = if cur.at_end() {
        1
    } else {
        cur.number("distance", 1, 255)? as u8
    };
    cur.finish()?;
    let same_target = |r: &StaticRoute| {
        r.prefix == prefix && r.mask == mask && r.interface == interface && r.next_hop == next_hop
    };
    if negate {
        let before = cfg.routes.len();
        if interface.is_none() && next_hop.is_none() {
            cfg.routes
                .retain(|r| !(r.prefix == prefix && r.mask == mask));
        } else {
            cfg.routes.retain(|r| !same_target(r));
        }
        if cfg.routes.len() == before {
            return Err(rejected(prefix_col, "no such static route"));
        }
        return applied(Section::Routes);
    }
    if let Some(existing) = cfg.routes.iter_mut().find(|r| same_target(r)) {
        existing.distance = distance;
    } else {
        cfg.routes.push(StaticRoute {
            prefix,
            mask,
            interface,
            next_hop,
            distance,
        });
    }
    applied(Section::Routes)
}

fn ip_nat(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool) -> Res {
    cur.keyword(&["inside"])?;
    cur.keyword(&["source"])?;
    let column = cur.column();
    if cur.keyword(&["static"]).is_err() {
        return Err(SyntaxError::new(
            column,
            "only \"ip nat inside source static LOCAL GLOBAL\" is supported",
        )
        .into());
    }
    let local_col = cur.column();
    let local = cur.address("inside local address")?;
    let global_col = cur.column();
    let global = cur.address("inside global address")?;
    let extendable = cur.accept_keyword(&["extendable"]).is_some();
    cur.finish()?;
    if negate {
        let before = cfg.static_nat.len();
        cfg.static_nat
            .retain(|t| !(t.local == local && t.global == global));
        if cfg.static_nat.len() == before {
            return Err(rejected(local_col, "no such static translation"));
        }
        return applied(Section::Nat);
    }
    if let Some(existing) = cfg
        .static_nat
        .iter_mut()
        .find(|t| t.local == local && t.global == global)
    {
        existing.extendable = extendable;
        return applied(Section::Nat);
    }
    let conflict = |address: Ipv4Addr, column: usize, t: &StaticTranslation| LineError {
        column,
        kind: ErrorKind::AlreadyMapped {
            address: address.to_string(),
            local: t.local.to_string(),
            global: t.global.to_string(),
        },
    };
    if let Some(t) = cfg.translation_by_local(local) {
        return Err(conflict(local, local_col, t));
    }
    if let Some(t) = cfg.translation_by_global(global) {
        return Err(conflict(global, global_col, t));
    }
    cfg.static_nat.push(StaticTranslation {
        local,
        global,
        extendable,
    });
    applied(Section::Nat)
}

// ------------------------------------------------------------ ip inspect (global)

const INSPECT_HEADS: &[&str] = &[
    "name",
    "tcp",
    "udp",
    "dns-timeout",
    "max-incomplete",
    "one-minute",
    "audit-trail",
    "alert-off",
    "smtp",
];

fn timeout_value(cur: &mut Cursor<'_, '_>, negate: bool, default: u32) -> Result<u32, LineError> {
    if negate && cur.at_end() {
        return Ok(default);
    }
    let value = cur.number("seconds", 1, MAX_TIMEOUT)? as u32;
    Ok(if negate { default } else { value })
}

fn inspect_global(
    cfg: &mut Config,
    cur: &mut Cursor<'_, '_>,
    negate: bool,
    opts: ParseOptions,
) -> Res {
    if negate && cur.at_end() {
        // `no ip inspect`: remove every inspection rule and global setting.
        cfg.inspect = InspectGlobals::default();
        cfg.rules.clear();
        return applied(Section::Inspect);
    }
    let defaults = InspectGlobals::default();
    let g = &mut cfg.inspect;
    match INSPECT_HEADS[cur.keyword(INSPECT_HEADS)?] {
        "name" => return inspect_name(cfg, cur, negate),
        "tcp" => {
            match cur.keyword(&[
                "synwait-time",
                "finwait-time",
                "idle-time",
                "max-incomplete",
                "reassembly",
            ])? {
                0 => g.tcp_synwait_time = timeout_value(cur, negate, defaults.tcp_synwait_time)?,
                1 => g.tcp_finwait_time = timeout_value(cur, negate, defaults.tcp_finwait_time)?,
                2 => g.tcp_idle_time = timeout_value(cur, negate, defaults.tcp_idle_time)?,
                3 => {
                    cur.keyword(&["host"])?;
                    if negate && cur.at_end() {
                        g.max_incomplete_host = defaults.max_incomplete_host;
                        g.block_time_minutes = defaults.block_time_minutes;
                    } else {
                        let host = cur.number("half-open limit per host", 1, 250)? as u32;
                        let block = if cur.accept_keyword(&["block-time"]).is_some() {
                            cur.number("block-time minutes", 0, 35_791)? as u32
                        } else {
                            defaults.block_time_minutes
                        };
                        if negate {
                            g.max_incomplete_host = defaults.max_incomplete_host;
                            g.block_time_minutes = defaults.block_time_minutes;
                        } else {
                            g.max_incomplete_host = host;
                            g.block_time_minutes = block;
                        }
                    }
                }
                _ => {
                    let r = &mut g.tcp_reassembly;
                    let d = TcpReassembly::default();
                    match cur.keyword(&["queue", "memory", "timeout", "alarm"])? {
                        0 => {
                            cur.keyword(&["length"])?;
                            let v = optional_number(cur, negate, "queue length", 0, 1024)?;
                            r.queue_length = v.unwrap_or(d.queue_length);
                        }
                        1 => {
                            cur.keyword(&["limit"])?;
                            let v =
                                optional_number(cur, negate, "memory limit (KB)", 1, 4_194_304)?;
                            r.memory_limit_kb = v.unwrap_or(d.memory_limit_kb);
                        }
                        2 => {
                            let v = optional_number(cur, negate, "seconds", 1, 3600)?;
                            r.timeout = v.unwrap_or(d.timeout);
                        }
                        _ => {
                            if negate && cur.at_end() {
                                r.alarm = d.alarm;
                            } else {
                                let on = cur.keyword(&["on", "off"])? == 0;
                                r.alarm = if negate { d.alarm } else { on };
                            }
                        }
                    }
                }
            }
        }
        "udp" => {
            cur.keyword(&["idle-time"])?;
            g.udp_idle_time = timeout_value(cur, negate, defaults.udp_idle_time)?;
        }
        "dns-timeout" => g.dns_timeout = timeout_value(cur, negate, defaults.dns_timeout)?,
        "max-incomplete" => return thresholds(cfg, cur, negate, opts, false),
        "one-minute" => return thresholds(cfg, cur, negate, opts, true),
        "audit-trail" => g.audit_trail = !negate,
        "alert-off" => g.alert_off = !negate,
        _ => {
            cur.keyword(&["ids-signature"])?;
            let token = cur.word("signature id")?;
            let id = parse_number(token, "signature id", 0, 99_999)? as u32;
            if !g.ids_signatures.set(id, !negate) {
                let known: Vec<String> = IDS_SIGNATURES.iter().map(|s| s.0.to_string()).collect();
                return Err(SyntaxError::new(
                    token.column,
                    format!("unknown SMTP signature {id} (known: {})", known.join(", ")),
                )
                .into());
            }
        }
    }
    cur.finish()?;
    applied(Section::Inspect)
}

fn optional_number(
    cur: &mut Cursor<'_, '_>,
    negate: bool,
    what: &str,
    min: u64,
    max: u64,
) -> Result<Option<u32>, LineError> {
    if negate && cur.at_end() {
        return Ok(None);
    }
    let v = cur.number(what, min, max)? as u32;
    Ok(if negate { None } else { Some(v) })
}

fn thresholds(
    cfg: &mut Config,
    cur: &mut Cursor<'_, '_>,
    negate: bool,
    opts: ParseOptions,
    one_minute: bool,
) -> Res {
    let high = cur.keyword(&["high", "low"])? == 0;
    let column = cur.column();
    let value = optional_number(cur, negate, "threshold", 1, u64::from(u32::MAX))?;
    cur.finish()?;
    let defaults = InspectGlobals::default();
    let g = &mut cfg.inspect;
    let (hi, lo, d_hi, d_lo) = if one_minute {
        (
            &mut g.one_minute_high,
            &mut g.one_minute_low,
            defaults.one_minute_high,
            defaults.one_minute_low,
        )
    } else {
        (
            &mut g.max_incomplete_high,
            &mut g.max_incomplete_low,
            defaults.max_incomplete_high,
            defaults.max_incomplete_low,
        )
    };
    let (new_hi, new_lo) = if high {
        (value.unwrap_or(d_hi), *lo)
    } else {
        (*hi, value.unwrap_or(d_lo))
    };
    if opts.check_thresholds_now && new_lo > new_hi {
        return Err(LineError {
            column,
            kind: ErrorKind::LowAboveHigh,
        });
    }
    *hi = new_hi;
    *lo = new_lo;
    applied(Section::Inspect)
}

/// Truncates a rule name to its first 16 characters (`cbac-sessions.md` §9).
pub fn truncate_rule_name(name: &str) -> String {
    name.chars().take(MAX_RULE_NAME).collect()
}

const ENTRY_OPTIONS: &[&str] = &[
    "alert",
    "audit-trail",
    "timeout",
    "max-data",
    "allow-tls",
    "mask-banner",
    "legacy-pre-12.3-7t",
    "bdat",
    "urlfilter",
    "java-list",
    "program-number",
    "wait-time",
    "max",
];

/// An rpc entry before `program-number` is read (0 is not a valid program).
const RPC_UNSET: RpcEntryOptions = RpcEntryOptions {
    program_number: 0,
    wait_time: 0,
};

fn inspect_name(cfg: &mut Config, cur: &mut Cursor<'_, '_>, negate: bool) -> Res {
    if negate && cur.at_end() {
        cfg.rules.clear();
        return applied(Section::Inspect);
    }
    let name_token = cur.word("inspection rule name")?;
    let name = truncate_rule_name(name_token.text);
    if negate && cur.at_end() {
        let before = cfg.rules.len();
        cfg.rules.retain(|r| r.name != name);
        if cfg.rules.len() == before {
            return Err(rejected(
                name_token.column,
                format!("inspection rule {name} does not exist"),
            ));
        }
        return applied(Section::Inspect);
    }
    let proto_token = cur.word("protocol")?;
    let protocol = match match_keyword(
        proto_token.text,
        InspectProtocol::KEYWORDS,
        cur.abbreviations(),
    ) {
        Ok(i) => InspectProtocol::ALL[i],
        Err(_) => {
            return Err(SyntaxError::new(
                proto_token.column,
                format!("unknown inspection protocol \"{}\"", proto_token.text),
            )
            .into())
        }
    };
    let mut entry = InspectEntry::new(protocol);
    let mut seen = [false; ENTRY_OPTIONS.len()];
    let mut fragment = FragmentEntryOptions::default();
    while let Some(token) = cur.peek() {
        let index = cur.keyword(ENTRY_OPTIONS)?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(SyntaxError::new(
                token.column,
                format!("option \"{}\" given twice", ENTRY_OPTIONS[index]),
            )
            .into());
        }
        let wrong = |what: &str| -> LineError {
            SyntaxError::new(
                token.column,
                format!("option \"{}\" is only valid for {what}", token.text),
            )
            .into()
        };
        let is_fragment = protocol == InspectProtocol::Fragment;
        match ENTRY_OPTIONS[index] {
            "alert" | "audit-trail" if is_fragment => return Err(wrong("protocol entries")),
            "alert" => entry.alert = Some(cur.keyword(&["on", "off"])? == 0),
            "audit-trail" => entry.audit_trail = Some(cur.keyword(&["on", "off"])? == 0),
            "timeout" if is_fragment => {
                fragment.timeout = cur.number("seconds", 1, MAX_TIMEOUT)? as u32
            }
            "timeout" => entry.timeout = Some(cur.number("seconds", 1, MAX_TIMEOUT)? as u32),
            "max" if is_fragment => {
                fragment.max = cur.number("fragment states", 50, 10_000)? as u32
            }
            "max" => return Err(wrong("fragment")),
            "max-data" | "allow-tls" | "mask-banner" | "legacy-pre-12.3-7t" | "bdat"
                if !protocol.is_mail() =>
            {
                return Err(wrong("smtp and esmtp"))
            }
            "max-data" => {
                entry.max_data = Some(cur.number("bytes", 1, u64::from(u32::MAX))? as u32)
            }
            "allow-tls" => entry.smtp.allow_tls = true,
            "mask-banner" => entry.smtp.mask_banner = true,
            "legacy-pre-12.3-7t" => entry.smtp.legacy_pre_12_3_7t = true,
            "bdat" => entry.smtp.bdat = true,
            "urlfilter" | "java-list" if protocol != InspectProtocol::Http => {
                return Err(wrong("http"))
            }
            "urlfilter" => entry.http.urlfilter = true,
            "java-list" => entry.http.java_list = Some(cur.word("access list")?.text.to_string()),
            "program-number" | "wait-time" if protocol != InspectProtocol::Rpc => {
                return Err(wrong("rpc"))
            }
            "program-number" => {
                let n = cur.number("program number", 1, u64::from(u32::MAX))? as u32;
                entry.rpc.get_or_insert(RPC_UNSET).program_number = n;
            }
            _ => {
                let minutes = cur.number("wait-time minutes", 0, 35_791)? as u32;
                entry.rpc.get_or_insert(RPC_UNSET).wait_time = minutes;
            }
        }
    }
    if protocol == InspectProtocol::Rpc
        && !negate
        && entry.rpc.is_none_or(|r| r.program_number == 0)
    {
        return Err(SyntaxError::new(cur.column(), "rpc needs \"program-number N\"").into());
    }
    if protocol == InspectProtocol::Fragment {
        entry.fragment = Some(fragment);
    }
    if negate {
        let Some(rule_index) = cfg.rules.iter().position(|r| r.name == name) else {
            return Err(rejected(
                name_token.column,
                format!("inspection rule {name} does not exist"),
            ));
        };
        let rule = &mut cfg.rules[rule_index];
        let before = rule.entries.len();
        let rpc_program = entry.rpc.map(|r| r.program_number);
        rule.entries.retain(|e| {
            !(e.protocol == protocol
                && (rpc_program.is_none() || e.rpc.map(|r| r.program_number) == rpc_program))
        });
        if rule.entries.len() == before {
            return Err(rejected(
                proto_token.column,
                format!(
                    "{} is not configured in inspection rule {name}",
                    protocol.keyword()
                ),
            ));
        }
        if rule.entries.is_empty() {
            cfg.rules.remove(rule_index);
        }
        return applied(Section::Inspect);
    }
    if let Some(rule) = cfg.rule(&name) {
        let has = |p| rule.entries.iter().any(|e| e.protocol == p);
        if protocol == InspectProtocol::Esmtp && has(InspectProtocol::Smtp) {
            return Err(LineError {
                column: proto_token.column,
                kind: ErrorKind::EsmtpWithSmtp,
            });
        }
        if protocol == InspectProtocol::Smtp && has(InspectProtocol::Esmtp) {
            return Err(LineError {
                column: proto_token.column,
                kind: ErrorKind::SmtpWithEsmtp,
            });
        }
    }
    let warning = support_warning(&entry);
    let rule = match cfg.rules.iter().position(|r| r.name == name) {
        Some(i) => &mut cfg.rules[i],
        None => {
            cfg.rules.push(InspectRule {
                name,
                entries: Vec::new(),
            });
            let last = cfg.rules.len() - 1;
            &mut cfg.rules[last]
        }
    };
    match rule.entries.iter_mut().find(|e| e.same_key(&entry)) {
        Some(existing) => *existing = entry,
        None => rule.entries.push(entry),
    }
    Ok(Outcome::Applied {
        section: Section::Inspect,
        warning,
    })
}

fn support_warning(entry: &InspectEntry) -> Option<WarningKind> {
    let p = entry.protocol;
    match p {
        InspectProtocol::Ftp => Some(WarningKind::PartialSupport(
            "FTP inspected as a TCP session only: FTP command inspection not implemented, data channels not opened".into(),
        )),
        InspectProtocol::Http => {
            let extra = if entry.http.urlfilter || entry.http.java_list.is_some() {
                "; urlfilter and java-list are accepted but not enforced"
            } else {
                ""
            };
            Some(WarningKind::PartialSupport(format!(
                "HTTP inspected as a TCP session only{extra}"
            )))
        }
        _ if p.support() == SupportLevel::None => Some(WarningKind::PartialSupport(format!(
            "{} is not inspected by this product; the entry creates no session",
            p.keyword()
        ))),
        _ => None,
    }
}

// ------------------------------------------------------------- interface mode

const INTERFACE_HEADS: &[&str] = &[
    "ip",
    "shutdown",
    "description",
    "half-duplex",
    "full-duplex",
    "duplex",
    "speed",
    "keepalive",
    "cdp",
    "mtu",
    "bandwidth",
    "clock",
];

const INTERFACE_IP_HEADS: &[&str] = &[
    "address",
    "access-group",
    "nat",
    "inspect",
    "virtual-reassembly",
    "unreachables",
    "mtu",
    "route-cache",
    "mroute-cache",
    "redirects",
    "proxy-arp",
];

/// Parses and applies one interface-mode command on interface `index`.
/// Returns `NotMine` when the words are not an interface command (the caller
/// then tries global mode, as IOS does for a pasted config).
pub(crate) fn interface_mode_command(
    cfg: &mut Config,
    index: usize,
    cur: &mut Cursor<'_, '_>,
) -> Res {
    let negate = cur.accept_keyword(&["no"]).is_some();
    let Some(head_token) = cur.peek() else {
        return Ok(Outcome::NotMine);
    };
    let Ok(head) = match_keyword(head_token.text, INTERFACE_HEADS, cur.abbreviations()) else {
        return Ok(Outcome::NotMine);
    };
    // `ip` is shared with global mode: look at the second word first.
    let ip_head = if INTERFACE_HEADS[head] == "ip" {
        let mut probe = cur.clone();
        probe.next_token();
        let Some(second) = probe.peek() else {
            return Ok(Outcome::NotMine);
        };
        match match_keyword(second.text, INTERFACE_IP_HEADS, cur.abbreviations()) {
            Ok(i) => {
                let word = INTERFACE_IP_HEADS[i];
                if word == "inspect" && !looks_like_interface_inspect(&probe) {
                    return Ok(Outcome::NotMine);
                }
                if word == "nat" && probe.clone().nth_is(1, &["inside", "outside"]).is_none() {
                    return Ok(Outcome::NotMine);
                }
                Some(word)
            }
            Err(_) => return Ok(Outcome::NotMine),
        }
    } else {
        None
    };
    cur.next_token();
    let iface = &mut cfg.interfaces[index];
    match INTERFACE_HEADS[head] {
        "shutdown" => {
            cur.finish()?;
            iface.shutdown = !negate;
        }
        "description" => {
            let text = cur.rest();
            if negate {
                iface.description = None;
            } else if text.is_empty() {
                return Err(SyntaxError::new(cur.column(), "incomplete command").into());
            } else {
                iface.description = Some(text);
            }
        }
        "ip" => {
            cur.next_token(); // the second word, matched above
            match ip_head.unwrap_or_default() {
                "address" => {
                    if negate {
                        if !cur.at_end() {
                            cur.address("address")?;
                            cur.address("mask")?;
                        }
                        cur.finish()?;
                        iface.address = None;
                    } else {
                        let address = cur.address("address")?;
                        let mask_col = cur.column();
                        let mask = cur.address("mask")?;
                        if !contiguous(mask) || u32::from(mask) == 0 {
                            return Err(SyntaxError::new(mask_col, "bad mask").into());
                        }
                        if cur.peek_keyword(&["secondary"]).is_some() {
                            return Err(rejected(
                                cur.column(),
                                "secondary addresses are not supported",
                            ));
                        }
                        cur.finish()?;
                        iface.address = Some(InterfaceAddress { address, mask });
                    }
                }
                "access-group" => {
                    let number = if cur.peek_keyword(&["in", "out"]).is_some() && negate {
                        None
                    } else {
                        let token = cur.word("access list number")?;
                        let n = parse_number(token, "access list number", 1, 2699)? as u16;
                        if AclKind::of_number(n).is_none() {
                            return Err(SyntaxError::new(
                                token.column,
                                format!("{n} is not a numbered IP access list"),
                            )
                            .into());
                        }
                        Some(n)
                    };
                    let dir = cur.keyword(&["in", "out"])?;
                    cur.finish()?;
                    let slot = if dir == 0 {
                        &mut iface.access_group_in
                    } else {
                        &mut iface.access_group_out
                    };
                    *slot = if negate { None } else { number };
                }
                "nat" => {
                    let role = if cur.keyword(&["inside", "outside"])? == 0 {
                        NatRole::Inside
                    } else {
                        NatRole::Outside
                    };
                    cur.finish()?;
                    if negate {
                        if iface.nat == Some(role) {
                            iface.nat = None;
                        }
                    } else {
                        iface.nat = Some(role);
                    }
                }
                "inspect" => {
                    let name = if cur.peek_keyword(&["in", "out"]).is_some() && negate {
                        None
                    } else {
                        Some(truncate_rule_name(cur.word("inspection rule name")?.text))
                    };
                    let dir = cur.keyword(&["in", "out"])?;
                    cur.finish()?;
                    let direction = if dir == 0 {
                        Direction::In
                    } else {
                        Direction::Out
                    };
                    let mut warning = None;
                    let iface_name = iface.name.clone();
                    let slot = match direction {
                        Direction::In => &mut iface.inspect_in,
                        Direction::Out => &mut iface.inspect_out,
                    };
                    if negate {
                        *slot = None;
                    } else {
                        if let (Some(old), Some(new)) = (slot.as_ref(), name.as_ref()) {
                            if old != new {
                                warning = Some(WarningKind::Note(format!(
                                    "inspection rule {old} replaced by {new} on {iface_name} {direction}"
                                )));
                            }
                        }
                        *slot = name;
                        let seq = cfg.next_sequence();
                        cfg.interfaces[index].inspect_sequence = seq;
                    }
                    return Ok(Outcome::Applied {
                        section: Section::Interfaces,
                        warning,
                    });
                }
                "virtual-reassembly" => {
                    if negate {
                        cur.finish()?;
                        iface.virtual_reassembly = None;
                    } else {
                        let mut vfr = VirtualReassembly::default();
                        let mut seen = [false; 4];
                        while let Some(t) = cur.peek() {
                            let k = cur.keyword(&[
                                "max-reassemblies",
                                "max-fragments",
                                "timeout",
                                "drop-fragments",
                            ])?;
                            if std::mem::replace(&mut seen[k], true) {
                                return Err(SyntaxError::new(t.column, "option given twice").into());
                            }
                            match k {
                                0 => {
                                    vfr.max_reassemblies = cur.number("datagrams", 1, 8192)? as u32
                                }
                                1 => vfr.max_fragments = cur.number("fragments", 1, 8192)? as u32,
                                2 => vfr.timeout = cur.number("seconds", 1, 30)? as u32,
                                _ => vfr.drop_fragments = true,
                            }
                        }
                        iface.virtual_reassembly = Some(vfr);
                    }
                }
                "unreachables" => {
                    cur.finish()?;
                    iface.unreachables = !negate;
                }
                "mtu" => iface.ip_mtu = mtu_value(cur, negate, MIN_IP_MTU)?,
                _ => {
                    // route-cache, mroute-cache, redirects, proxy-arp: valid
                    // IOS, no meaning here.
                    return Ok(Outcome::Ignored);
                }
            }
        }
        "mtu" => iface.mtu = mtu_value(cur, negate, MIN_LINK_MTU)?,
        _ => {
            // Link and media settings belong to the host NIC.
            return Ok(Outcome::Ignored);
        }
    }
    applied(Section::Interfaces)
}

/// The value of `[no] mtu N` / `[no] ip mtu N` (`min`..=[`MAX_MTU`] bytes);
/// `None` for the `no` form, whose value is optional.
fn mtu_value(cur: &mut Cursor<'_, '_>, negate: bool, min: u16) -> Result<Option<u16>, SyntaxError> {
    if negate {
        if !cur.at_end() {
            cur.number("bytes", u64::from(min), u64::from(MAX_MTU))?;
        }
        cur.finish()?;
        return Ok(None);
    }
    let mtu = cur.number("bytes", u64::from(min), u64::from(MAX_MTU))? as u16;
    cur.finish()?;
    Ok(Some(mtu))
}

/// `ip inspect NAME in|out` (interface) versus `ip inspect name ...` (global):
/// the interface form is exactly a name followed by a direction.
fn looks_like_interface_inspect(after_ip: &Cursor<'_, '_>) -> bool {
    let mut probe = after_ip.clone();
    probe.next_token(); // "inspect"
    let first = probe.next_token();
    let second = probe.next_token();
    let third = probe.peek();
    let is_dir = |t: Option<crate::config::lexer::Token<'_>>| {
        t.is_some_and(|t| match_keyword(t.text, &["in", "out"], false).is_ok())
    };
    match (first, second, third) {
        (Some(_), Some(_), None) if is_dir(second) => true,
        (Some(_), None, None) => is_dir(first), // `no ip inspect in`
        _ => false,
    }
}

impl Cursor<'_, '_> {
    /// Whether the token `n` places ahead (0 = next) is one of `candidates`.
    fn nth_is(mut self, n: usize, candidates: &[&str]) -> Option<usize> {
        for _ in 0..n {
            self.next_token();
        }
        self.peek_keyword(candidates)
    }
}
