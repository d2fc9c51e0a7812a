//! `show ip nat translations` (`config-and-nat.md` §4.6): the static
//! translations, then one extended line per live session that uses one of
//! them (derived from the session table, there is no separate NAT table).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::{json, Value};

use crate::config::model::{Config, StaticTranslation, Transport};
use crate::show::inspect::SessionSnapshot;

/// One line of the translation table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationRow {
    /// `tcp`, `udp`, `icmp`, or `---` for a static entry.
    pub protocol: &'static str,
    /// Inside global.
    pub inside_global: String,
    /// Inside local.
    pub inside_local: String,
    /// Outside local.
    pub outside_local: String,
    /// Outside global.
    pub outside_global: String,
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Icmp => "icmp",
        Transport::None => "---",
    }
}

fn with_port(ip: Ipv4Addr, port: u16) -> String {
    SocketAddrV4::new(ip, port).to_string()
}

/// The session's row, if it crosses a static translation: inbound sessions
/// are addressed to a global address, outbound ones come from a local one.
fn session_row(cfg: &Config, s: &SessionSnapshot) -> Option<TranslationRow> {
    let protocol = transport_name(s.transport);
    let row = |t: &StaticTranslation, inside_port: u16, outside: SocketAddrV4| TranslationRow {
        protocol,
        inside_global: with_port(t.global, inside_port),
        inside_local: with_port(t.local, inside_port),
        outside_local: outside.to_string(),
        outside_global: outside.to_string(),
    };
    if let Some(t) = cfg.translation_by_global(*s.responder.ip()) {
        return Some(row(t, s.responder.port(), s.initiator));
    }
    if let Some(t) = cfg.translation_by_local(*s.initiator.ip()) {
        return Some(row(t, s.initiator.port(), s.responder));
    }
    None
}

/// Every row: statics first, then sessions.
pub fn translation_rows(cfg: &Config, sessions: &[SessionSnapshot]) -> Vec<TranslationRow> {
    let mut rows: Vec<TranslationRow> = cfg
        .static_nat
        .iter()
        .map(|t| TranslationRow {
            protocol: "---",
            inside_global: t.global.to_string(),
            inside_local: t.local.to_string(),
            outside_local: "---".into(),
            outside_global: "---".into(),
        })
        .collect();
    rows.extend(sessions.iter().filter_map(|s| session_row(cfg, s)));
    rows
}

/// Writes the table (IOS columns: 3, then 18 wide with one space between).
pub fn show_ip_nat_translations(cfg: &Config, sessions: &[SessionSnapshot], out: &mut String) {
    out.push_str("Pro Inside global      Inside local       Outside local      Outside global\n");
    for r in translation_rows(cfg, sessions) {
        let _ = writeln!(
            out,
            "{:<3} {:<18} {:<18} {:<18} {}",
            r.protocol, r.inside_global, r.inside_local, r.outside_local, r.outside_global
        );
    }
}

/// JSON form.
pub fn show_ip_nat_translations_json(cfg: &Config, sessions: &[SessionSnapshot]) -> Value {
    Value::Array(
        translation_rows(cfg, sessions)
            .into_iter()
            .map(|r| {
                json!({
                    "protocol": r.protocol,
                    "inside_global": r.inside_global,
                    "inside_local": r.inside_local,
                    "outside_local": r.outside_local,
                    "outside_global": r.outside_global,
                })
            })
            .collect(),
    )
}
