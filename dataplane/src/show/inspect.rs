//! `show ip inspect {all | config | interfaces | name NAME | session [detail] |
//! statistics}` (`cbac-sessions.md` §10.1, §11), in text and JSON.
//!
//! The text layout of `all`, `config`, `interfaces` and `name` is the seed's
//! output byte for byte (single spaces, no trailing blanks, every line ended
//! by `\n`). Session and statistics layouts are the PROPOSED ones of §11.3 and
//! §11.4. Everything here is pure: the caller passes snapshots taken off the
//! fast path.

use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::model::*;

/// Which `show ip inspect` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectView {
    /// `all`.
    All,
    /// `config`.
    Config,
    /// `interfaces`.
    Interfaces,
    /// `name NAME`.
    Name(String),
    /// `session` (`detail` when true).
    Session {
        /// With creation/last-heard/bytes lines.
        detail: bool,
    },
    /// `statistics`.
    Statistics,
}

/// Session state as `show` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// `SIS_OPEN`.
    Established,
    /// `SIS_OPENING`.
    HalfOpen,
    /// `SIS_CLOSING`.
    Closing,
}

impl SessionState {
    /// The IOS state name.
    pub fn ios_name(self) -> &'static str {
        match self {
            SessionState::Established => "SIS_OPEN",
            SessionState::HalfOpen => "SIS_OPENING",
            SessionState::Closing => "SIS_CLOSING",
        }
    }
}

/// One session as `show` needs it (initiator-side view, `cbac-sessions.md` §1.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSnapshot {
    /// Session id (printed as 8 upper-case hex digits).
    pub id: u32,
    /// Protocol keyword of the entry that created it (`smtp`, `http`, `tcp`...).
    pub protocol: InspectProtocol,
    /// Transport of the session.
    pub transport: Transport,
    /// Initiator address and port (ICMP: port 0 or the echo id).
    pub initiator: SocketAddrV4,
    /// Responder address and port, as seen on the initiating interface.
    pub responder: SocketAddrV4,
    /// State.
    pub state: SessionState,
    /// Time since creation.
    pub age: Duration,
    /// Time since the last packet.
    pub idle: Duration,
    /// Payload bytes sent by the initiator.
    pub initiator_bytes: u64,
    /// Payload bytes sent by the responder.
    pub responder_bytes: u64,
}

/// Current or maximum session counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SessionCounts {
    /// Established sessions.
    pub established: u64,
    /// Half-open sessions.
    pub half_open: u64,
    /// Terminating sessions.
    pub terminating: u64,
}

/// SMTP inspector counters (`smtp-inspection.md` §14), summed over workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SmtpStatistics {
    /// Command lines seen.
    pub lines: u64,
    /// Command lines masked.
    pub masked: u64,
    /// ESMTP parameter violations.
    pub parameter_violations: u64,
    /// IDS signature hits.
    pub signature_hits: u64,
    /// Reply-and-close events.
    pub reply_and_close: u64,
    /// Sessions closed for max-data.
    pub max_data_closes: u64,
}

/// Inputs of `show ip inspect statistics` (`cbac-sessions.md` §11.4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InspectStatistics {
    /// Fast-path packets per protocol, in print order.
    pub protocol_packets: Vec<(InspectProtocol, u64)>,
    /// Sessions created since start or last reset.
    pub session_creations: u64,
    /// Current counts.
    pub current: SessionCounts,
    /// Maximum counts ever.
    pub maxever: SessionCounts,
    /// Time since the last session was created (`None` = never).
    pub last_session_created: Option<Duration>,
    /// Time since `clear ip inspect statistics` (`None` = never).
    pub last_statistic_reset: Option<Duration>,
    /// Attempts in the last completed one-minute sampling period.
    pub last_creation_rate: u64,
    /// Largest such count.
    pub maxever_creation_rate: u64,
    /// Half-open total at the last sample.
    pub last_half_open_total: u64,
    /// Aggressive mode now on.
    pub aggressive_mode: bool,
    /// Times aggressive mode was entered.
    pub aggressive_entries: u64,
    /// Hosts blocked now.
    pub hosts_blocked: u64,
    /// Block events since start.
    pub block_events: u64,
    /// SMTP inspector counters.
    pub smtp: SmtpStatistics,
}

fn enabled(v: bool) -> &'static str {
    if v {
        "enabled"
    } else {
        "disabled"
    }
}

fn on_off(v: bool) -> &'static str {
    if v {
        "on"
    } else {
        "off"
    }
}

/// Writes `show ip inspect <view>` for `cfg` into `out`.
pub fn show_ip_inspect(
    cfg: &Config,
    view: &InspectView,
    sessions: &[SessionSnapshot],
    stats: &InspectStatistics,
    out: &mut String,
) {
    match view {
        InspectView::All => {
            write_config(cfg, out);
            out.push('\n');
            write_interfaces(cfg, out);
            write_sessions(sessions, false, out);
        }
        InspectView::Config => write_config(cfg, out),
        InspectView::Interfaces => write_interfaces(cfg, out),
        InspectView::Name(name) => {
            let name = crate::config::parse::truncate_rule_name(name);
            if let Some(rule) = cfg.rule(&name) {
                write_rule(cfg, rule, out);
            }
        }
        InspectView::Session { detail } => write_sessions(sessions, *detail, out),
        InspectView::Statistics => write_statistics(cfg, stats, out),
    }
}

/// The global block and every rule (`show ip inspect config`).
pub fn write_config(cfg: &Config, out: &mut String) {
    let g = &cfg.inspect;
    let _ = writeln!(out, "Session audit trail is {}", enabled(g.audit_trail));
    let _ = writeln!(out, "Session alert is {}", enabled(!g.alert_off));
    let _ = writeln!(
        out,
        "one-minute (sampling period) thresholds are [{}:{}] connections",
        g.one_minute_low, g.one_minute_high
    );
    let _ = writeln!(
        out,
        "max-incomplete sessions thresholds are [{}:{}]",
        g.max_incomplete_low, g.max_incomplete_high
    );
    let _ = writeln!(
        out,
        "max-incomplete tcp connections per host is {}. Block-time {} minute.",
        g.max_incomplete_host, g.block_time_minutes
    );
    let _ = writeln!(
        out,
        "tcp synwait-time is {} sec -- tcp finwait-time is {} sec",
        g.tcp_synwait_time, g.tcp_finwait_time
    );
    let _ = writeln!(
        out,
        "tcp idle-time is {} sec -- udp idle-time is {} sec",
        g.tcp_idle_time, g.udp_idle_time
    );
    let _ = writeln!(out, "dns-timeout is {} sec", g.dns_timeout);
    out.push_str("Inspection Rule Configuration\n");
    for rule in &cfg.rules {
        write_rule(cfg, rule, out);
    }
}

/// ` Inspection name NAME` and its protocol lines.
pub fn write_rule(cfg: &Config, rule: &InspectRule, out: &mut String) {
    let _ = writeln!(out, " Inspection name {}", rule.name);
    write_entries(cfg, rule, out);
}

fn write_entries(cfg: &Config, rule: &InspectRule, out: &mut String) {
    for e in &rule.entries {
        out.push_str("    ");
        write_entry_line(cfg, e, out);
        out.push('\n');
    }
}

/// One protocol line with effective values (no indentation, no newline):
/// `<kw> [max-data N ]alert is on|off audit-trail is on|off timeout T`.
pub fn write_entry_line(cfg: &Config, e: &InspectEntry, out: &mut String) {
    let g = &cfg.inspect;
    out.push_str(e.protocol.keyword());
    if let Some(f) = e.fragment {
        let _ = write!(out, " max {} timeout {}", f.max, f.timeout);
        return;
    }
    if let Some(r) = e.rpc {
        let _ = write!(
            out,
            " program-number {} wait-time {}",
            r.program_number, r.wait_time
        );
    }
    if e.http.urlfilter {
        out.push_str(" urlfilter");
    }
    if let Some(j) = &e.http.java_list {
        let _ = write!(out, " java-list {j}");
    }
    if e.protocol.is_mail() {
        let _ = write!(out, " max-data {}", e.effective_max_data());
        for (on, word) in [
            (e.smtp.allow_tls, " allow-tls"),
            (e.smtp.mask_banner, " mask-banner"),
            (e.smtp.legacy_pre_12_3_7t, " legacy-pre-12.3-7T"),
            (e.smtp.bdat, " bdat"),
        ] {
            if on {
                out.push_str(word);
            }
        }
    }
    let _ = write!(
        out,
        " alert is {} audit-trail is {} timeout {}",
        on_off(e.effective_alert(g)),
        on_off(e.effective_audit_trail(g)),
        e.effective_timeout(g)
    );
}

/// The `Interface Configuration` block (`show ip inspect interfaces`).
pub fn write_interfaces(cfg: &Config, out: &mut String) {
    out.push_str("Interface Configuration\n");
    for iface in cfg.inspected_interfaces() {
        let _ = writeln!(out, " Interface {}", iface.name);
        for (label, rule) in [
            ("Inbound", iface.inspect_in.as_deref()),
            ("Outgoing", iface.inspect_out.as_deref()),
        ] {
            match rule {
                Some(name) => {
                    let _ = writeln!(out, "  {label} inspection rule is {name}");
                    if let Some(rule) = cfg.rule(name) {
                        write_entries(cfg, rule, out);
                    }
                }
                None => {
                    let _ = writeln!(out, "  {label} inspection rule is not set");
                }
            }
        }
        for (label, group) in [
            ("Inbound", iface.access_group_in),
            ("Outgoing", iface.access_group_out),
        ] {
            match group {
                Some(n) => {
                    let _ = writeln!(out, "  {label} access list is {n}");
                }
                None => {
                    let _ = writeln!(out, "  {label} access list is not set");
                }
            }
        }
    }
}

/// `hh:mm:ss` (hours not wrapped).
pub fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The session listing (nothing at all when there are no sessions).
pub fn write_sessions(sessions: &[SessionSnapshot], detail: bool, out: &mut String) {
    for (state, title) in [
        (SessionState::Established, "Established Sessions"),
        (SessionState::HalfOpen, "Half-open Sessions"),
        (SessionState::Closing, "Terminating Sessions"),
    ] {
        let mut first = true;
        for s in sessions.iter().filter(|s| s.state == state) {
            if first {
                out.push_str(title);
                out.push('\n');
                first = false;
            }
            let _ = writeln!(
                out,
                " Session {:08X} ({})=>({}) {} {}",
                s.id,
                s.initiator,
                s.responder,
                s.protocol.keyword(),
                state.ios_name()
            );
            if detail {
                let _ = writeln!(out, "  Created {}, Last heard {}", hms(s.age), hms(s.idle));
                let _ = writeln!(
                    out,
                    "  Bytes sent (initiator:responder) [{}:{}]",
                    s.initiator_bytes, s.responder_bytes
                );
            }
        }
    }
}

/// `show ip inspect statistics`.
pub fn write_statistics(cfg: &Config, st: &InspectStatistics, out: &mut String) {
    out.push_str("Packet inspection statistics [process switch:fast switch]\n");
    for (p, n) in &st.protocol_packets {
        let _ = writeln!(out, "{} packets: [0:{n}]", p.keyword());
    }
    let _ = writeln!(
        out,
        "Interfaces configured for inspection {}",
        cfg.inspected_interfaces().len()
    );
    let _ = writeln!(
        out,
        "Session creations since subsystem startup or last reset {}",
        st.session_creations
    );
    let c = st.current;
    let m = st.maxever;
    let _ = writeln!(
        out,
        "Current session counts (estab/half-open/terminating) [{}:{}:{}]",
        c.established, c.half_open, c.terminating
    );
    let _ = writeln!(
        out,
        "Maxever session counts (estab/half-open/terminating) [{}:{}:{}]",
        m.established, m.half_open, m.terminating
    );
    let ago = |d: Option<Duration>| d.map_or_else(|| "never".to_string(), hms);
    let _ = writeln!(out, "Last session created {}", ago(st.last_session_created));
    let _ = writeln!(out, "Last statistic reset {}", ago(st.last_statistic_reset));
    let _ = writeln!(out, "Last session creation rate {}", st.last_creation_rate);
    let _ = writeln!(
        out,
        "Maxever session creation rate {}",
        st.maxever_creation_rate
    );
    let _ = writeln!(
        out,
        "Last half-open session total {}",
        st.last_half_open_total
    );
    let _ = writeln!(
        out,
        "Aggressive mode: {} (entered {} times)",
        on_off(st.aggressive_mode),
        st.aggressive_entries
    );
    let _ = writeln!(
        out,
        "Hosts blocked: {} (block events {})",
        st.hosts_blocked, st.block_events
    );
    let s = st.smtp;
    let _ = writeln!(
        out,
        "SMTP: lines {}, masked {}, parameter violations {}, signature hits {}, reply-and-close {}, max-data closes {}",
        s.lines, s.masked, s.parameter_violations, s.signature_hits, s.reply_and_close, s.max_data_closes
    );
}

// ------------------------------------------------------------------- JSON

fn entry_json(cfg: &Config, e: &InspectEntry) -> Value {
    let g = &cfg.inspect;
    let mut v = json!({
        "protocol": e.protocol.keyword(),
        "alert": e.effective_alert(g),
        "audit_trail": e.effective_audit_trail(g),
        "timeout": e.effective_timeout(g),
    });
    if e.protocol.is_mail() {
        v["max_data"] = json!(e.effective_max_data());
        v["options"] = json!(e.smtp);
    }
    if let Some(r) = e.rpc {
        v["rpc"] = json!(r);
    }
    if e.protocol == InspectProtocol::Http {
        v["http"] = json!(e.http);
    }
    if let Some(f) = e.fragment {
        v["fragment"] = json!(f);
    }
    v
}

fn rule_json(cfg: &Config, rule: &InspectRule) -> Value {
    json!({
        "name": rule.name,
        "entries": rule.entries.iter().map(|e| entry_json(cfg, e)).collect::<Vec<_>>(),
    })
}

fn config_json(cfg: &Config) -> Value {
    let g = &cfg.inspect;
    json!({
        "audit_trail": g.audit_trail,
        "alert": !g.alert_off,
        "one_minute": { "low": g.one_minute_low, "high": g.one_minute_high },
        "max_incomplete": { "low": g.max_incomplete_low, "high": g.max_incomplete_high },
        "max_incomplete_host": g.max_incomplete_host,
        "block_time_minutes": g.block_time_minutes,
        "tcp_synwait_time": g.tcp_synwait_time,
        "tcp_finwait_time": g.tcp_finwait_time,
        "tcp_idle_time": g.tcp_idle_time,
        "udp_idle_time": g.udp_idle_time,
        "dns_timeout": g.dns_timeout,
        "rules": cfg.rules.iter().map(|r| rule_json(cfg, r)).collect::<Vec<_>>(),
    })
}

fn interfaces_json(cfg: &Config) -> Value {
    let list: Vec<Value> = cfg
        .inspected_interfaces()
        .into_iter()
        .map(|i| {
            json!({
                "interface": i.name,
                "inbound_rule": i.inspect_in,
                "outgoing_rule": i.inspect_out,
                "inbound_access_list": i.access_group_in,
                "outgoing_access_list": i.access_group_out,
            })
        })
        .collect();
    Value::Array(list)
}

fn session_json(s: &SessionSnapshot) -> Value {
    json!({
        "id": format!("{:08X}", s.id),
        "protocol": s.protocol.keyword(),
        "initiator": s.initiator.to_string(),
        "responder": s.responder.to_string(),
        "state": s.state.ios_name(),
        "created_secs": s.age.as_secs(),
        "last_heard_secs": s.idle.as_secs(),
        "initiator_bytes": s.initiator_bytes,
        "responder_bytes": s.responder_bytes,
    })
}

/// The JSON form of `show ip inspect <view>`.
pub fn show_ip_inspect_json(
    cfg: &Config,
    view: &InspectView,
    sessions: &[SessionSnapshot],
    stats: &InspectStatistics,
) -> Value {
    let sessions_json = || Value::Array(sessions.iter().map(session_json).collect());
    match view {
        InspectView::All => json!({
            "config": config_json(cfg),
            "interfaces": interfaces_json(cfg),
            "sessions": sessions_json(),
        }),
        InspectView::Config => config_json(cfg),
        InspectView::Interfaces => interfaces_json(cfg),
        InspectView::Name(name) => {
            let name = crate::config::parse::truncate_rule_name(name);
            cfg.rule(&name).map_or(Value::Null, |r| rule_json(cfg, r))
        }
        InspectView::Session { .. } => sessions_json(),
        InspectView::Statistics => {
            let mut v = json!(stats);
            v["interfaces_configured"] = json!(cfg.inspected_interfaces().len());
            v
        }
    }
}
