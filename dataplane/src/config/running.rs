//! `show running-config`: the configuration regenerated from the model in IOS
//! order, with accepted and ignored lines printed where they were (secrets
//! masked), so that loading the output gives the same model back.

use std::fmt::Write as _;

use crate::config::model::*;

/// The running-config text, framed as IOS prints it.
pub fn running_config(cfg: &Config) -> String {
    let mut body = String::new();
    for item in layout_with_all_sections(cfg) {
        match item {
            LayoutItem::Verbatim(text) => {
                body.push_str(&text);
                body.push('\n');
            }
            LayoutItem::Section(section) => write_section(cfg, section, &mut body),
        }
    }
    body.push_str("end\n");
    format!(
        "Building configuration...\n\nCurrent configuration : {} bytes\n{body}",
        body.len()
    )
}

/// The stored layout plus any non-empty section that has no place yet.
fn layout_with_all_sections(cfg: &Config) -> Vec<LayoutItem> {
    let mut layout = cfg.layout.clone();
    let all = [
        Section::Version,
        Section::Timestamps,
        Section::Hostname,
        Section::Inspect,
        Section::Interfaces,
        Section::Routes,
        Section::Nat,
        Section::AccessLists,
    ];
    for section in all {
        if layout.contains(&LayoutItem::Section(section)) {
            continue;
        }
        let mut probe = String::new();
        write_section(cfg, section, &mut probe);
        if probe.is_empty() {
            continue;
        }
        let position = layout
            .iter()
            .position(|item| matches!(item, LayoutItem::Section(s) if *s > section))
            .unwrap_or(layout.len());
        layout.insert(position, LayoutItem::Section(section));
    }
    layout
}

fn write_section(cfg: &Config, section: Section, out: &mut String) {
    match section {
        Section::Version => {
            if let Some(v) = &cfg.version {
                let _ = writeln!(out, "version {v}");
            }
        }
        Section::Timestamps => {
            for (which, style) in [("debug", cfg.timestamps.debug), ("log", cfg.timestamps.log)] {
                match style {
                    TimestampStyle::Off => {}
                    TimestampStyle::Uptime => {
                        let _ = writeln!(out, "service timestamps {which} uptime");
                    }
                    TimestampStyle::Datetime {
                        msec,
                        localtime,
                        show_timezone,
                        year,
                    } => {
                        let _ = write!(out, "service timestamps {which} datetime");
                        for (on, word) in [
                            (msec, " msec"),
                            (localtime, " localtime"),
                            (show_timezone, " show-timezone"),
                            (year, " year"),
                        ] {
                            if on {
                                out.push_str(word);
                            }
                        }
                        out.push('\n');
                    }
                }
            }
        }
        Section::Hostname => {
            if cfg.hostname != DEFAULT_HOSTNAME {
                let _ = writeln!(out, "hostname {}", cfg.hostname);
            }
        }
        Section::Inspect => {
            write_inspect_globals(&cfg.inspect, out);
            for rule in &cfg.rules {
                for entry in &rule.entries {
                    write_entry(&rule.name, entry, out);
                }
            }
        }
        Section::Interfaces => {
            for (i, iface) in cfg.interfaces.iter().enumerate() {
                if i > 0 {
                    out.push_str("!\n");
                }
                write_interface(iface, out);
            }
        }
        Section::Routes => {
            for r in &cfg.routes {
                let _ = write!(out, "ip route {} {}", r.prefix, r.mask);
                if let Some(i) = &r.interface {
                    let _ = write!(out, " {i}");
                }
                if let Some(n) = r.next_hop {
                    let _ = write!(out, " {n}");
                }
                if r.distance != 1 {
                    let _ = write!(out, " {}", r.distance);
                }
                out.push('\n');
            }
        }
        Section::Nat => {
            for t in &cfg.static_nat {
                let _ = write!(out, "ip nat inside source static {} {}", t.local, t.global);
                if t.extendable {
                    out.push_str(" extendable");
                }
                out.push('\n');
            }
        }
        Section::AccessLists => {
            for list in cfg.access_lists.values() {
                for remark in &list.remarks {
                    let _ = writeln!(out, "access-list {} remark {remark}", list.number);
                }
                for entry in &list.entries {
                    let _ = write!(out, "access-list {} ", list.number);
                    let _ = entry.write_ios(list.kind, out);
                    out.push('\n');
                }
            }
        }
    }
}

fn write_inspect_globals(g: &InspectGlobals, out: &mut String) {
    let d = InspectGlobals::default();
    let mut line = |cond: bool, text: String| {
        if cond {
            out.push_str(&text);
            out.push('\n');
        }
    };
    line(g.audit_trail, "ip inspect audit-trail".into());
    line(g.alert_off, "ip inspect alert-off".into());
    line(
        g.max_incomplete_low != d.max_incomplete_low,
        format!("ip inspect max-incomplete low {}", g.max_incomplete_low),
    );
    line(
        g.max_incomplete_high != d.max_incomplete_high,
        format!("ip inspect max-incomplete high {}", g.max_incomplete_high),
    );
    line(
        g.one_minute_low != d.one_minute_low,
        format!("ip inspect one-minute low {}", g.one_minute_low),
    );
    line(
        g.one_minute_high != d.one_minute_high,
        format!("ip inspect one-minute high {}", g.one_minute_high),
    );
    line(
        g.tcp_synwait_time != d.tcp_synwait_time,
        format!("ip inspect tcp synwait-time {}", g.tcp_synwait_time),
    );
    line(
        g.tcp_finwait_time != d.tcp_finwait_time,
        format!("ip inspect tcp finwait-time {}", g.tcp_finwait_time),
    );
    line(
        g.tcp_idle_time != d.tcp_idle_time,
        format!("ip inspect tcp idle-time {}", g.tcp_idle_time),
    );
    line(
        g.udp_idle_time != d.udp_idle_time,
        format!("ip inspect udp idle-time {}", g.udp_idle_time),
    );
    line(
        g.dns_timeout != d.dns_timeout,
        format!("ip inspect dns-timeout {}", g.dns_timeout),
    );
    line(
        g.max_incomplete_host != d.max_incomplete_host
            || g.block_time_minutes != d.block_time_minutes,
        format!(
            "ip inspect tcp max-incomplete host {} block-time {}",
            g.max_incomplete_host, g.block_time_minutes
        ),
    );
    let r = g.tcp_reassembly;
    let dr = d.tcp_reassembly;
    line(
        r.queue_length != dr.queue_length,
        format!("ip inspect tcp reassembly queue length {}", r.queue_length),
    );
    line(
        r.memory_limit_kb != dr.memory_limit_kb,
        format!(
            "ip inspect tcp reassembly memory limit {}",
            r.memory_limit_kb
        ),
    );
    line(
        r.timeout != dr.timeout,
        format!("ip inspect tcp reassembly timeout {}", r.timeout),
    );
    line(
        r.alarm != dr.alarm,
        format!(
            "ip inspect tcp reassembly alarm {}",
            if r.alarm { "on" } else { "off" }
        ),
    );
    for (id, _, _) in IDS_SIGNATURES {
        let on = g.ids_signatures.is_enabled(*id);
        if on != IdsSignatureSet::default_for(*id) {
            line(
                true,
                format!(
                    "{}ip inspect smtp ids-signature {id}",
                    if on { "" } else { "no " }
                ),
            );
        }
    }
    line(
        g.spam_recipients != d.spam_recipients,
        format!("ip audit smtp spam {}", g.spam_recipients),
    );
}

fn on_off(v: bool) -> &'static str {
    if v {
        "on"
    } else {
        "off"
    }
}

/// `ip inspect name NAME PROTO [options]` for one entry.
pub fn write_entry(name: &str, e: &InspectEntry, out: &mut String) {
    let _ = write!(out, "ip inspect name {name} {}", e.protocol.keyword());
    if let Some(r) = e.rpc {
        let _ = write!(out, " program-number {}", r.program_number);
        if r.wait_time != 0 {
            let _ = write!(out, " wait-time {}", r.wait_time);
        }
    }
    if e.http.urlfilter {
        out.push_str(" urlfilter");
    }
    if let Some(j) = &e.http.java_list {
        let _ = write!(out, " java-list {j}");
    }
    if let Some(f) = e.fragment {
        if f != FragmentEntryOptions::default() {
            let _ = write!(out, " max {} timeout {}", f.max, f.timeout);
        }
    }
    if let Some(a) = e.alert {
        let _ = write!(out, " alert {}", on_off(a));
    }
    if let Some(a) = e.audit_trail {
        let _ = write!(out, " audit-trail {}", on_off(a));
    }
    if let Some(m) = e.max_data {
        let _ = write!(out, " max-data {m}");
    }
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
    if let Some(t) = e.timeout {
        let _ = write!(out, " timeout {t}");
    }
    out.push('\n');
}

fn write_interface(iface: &Interface, out: &mut String) {
    let _ = writeln!(out, "interface {}", iface.name);
    if let Some(d) = &iface.description {
        let _ = writeln!(out, " description {d}");
    }
    if let Some(m) = iface.mtu {
        let _ = writeln!(out, " mtu {m}");
    }
    match iface.address {
        Some(a) => {
            let _ = writeln!(out, " ip address {} {}", a.address, a.mask);
        }
        None => out.push_str(" no ip address\n"),
    }
    if let Some(m) = iface.ip_mtu {
        let _ = writeln!(out, " ip mtu {m}");
    }
    if let Some(n) = iface.access_group_in {
        let _ = writeln!(out, " ip access-group {n} in");
    }
    if let Some(n) = iface.access_group_out {
        let _ = writeln!(out, " ip access-group {n} out");
    }
    match iface.nat {
        Some(NatRole::Inside) => out.push_str(" ip nat inside\n"),
        Some(NatRole::Outside) => out.push_str(" ip nat outside\n"),
        None => {}
    }
    if let Some(r) = &iface.inspect_in {
        let _ = writeln!(out, " ip inspect {r} in");
    }
    if let Some(r) = &iface.inspect_out {
        let _ = writeln!(out, " ip inspect {r} out");
    }
    if let Some(v) = iface.virtual_reassembly {
        let d = VirtualReassembly::default();
        out.push_str(" ip virtual-reassembly");
        if v.max_reassemblies != d.max_reassemblies {
            let _ = write!(out, " max-reassemblies {}", v.max_reassemblies);
        }
        if v.max_fragments != d.max_fragments {
            let _ = write!(out, " max-fragments {}", v.max_fragments);
        }
        if v.timeout != d.timeout {
            let _ = write!(out, " timeout {}", v.timeout);
        }
        if v.drop_fragments {
            out.push_str(" drop-fragments");
        }
        out.push('\n');
    }
    if !iface.unreachables {
        out.push_str(" no ip unreachables\n");
    }
    if iface.shutdown {
        out.push_str(" shutdown\n");
    }
    for line in &iface.extra_lines {
        let _ = writeln!(out, " {line}");
    }
}
