//! Prometheus text exposition format 0.0.4 of a [`MetricsSnapshot`]: one
//! `# HELP` and one `# TYPE` line per family, then its samples; counters end
//! in `_total`; label values escaped (`\\`, `\"`, `\n`). Every family is
//! always present (with no samples when, e.g., no worker runs yet), so
//! dashboards never see a metric appear and disappear.

use std::fmt::Write as _;

use super::snapshot::{MetricsSnapshot, VfrMetrics};

/// The `Content-Type` of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// Builds the text, one family at a time.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_metric_name(name), "{name}");
        debug_assert_eq!(kind == Kind::Counter, name.ends_with("_total"), "{name}");
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(
            self.out,
            "# TYPE {name} {}",
            match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            }
        );
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(valid_label_name(k), "{k}");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label_value(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The virtual-reassembly families, one sample per interface (and reason).
fn vfr(e: &mut Exposition, vfr: &[VfrMetrics]) {
    type Field = fn(&VfrMetrics) -> u64;
    let families: [(&str, Kind, &str, Field); 5] = [
        (
            "mailguard_vfr_reassemblies",
            Kind::Gauge,
            "Datagrams under virtual reassembly now.",
            |v| v.reassemblies,
        ),
        (
            "mailguard_vfr_fragments_held",
            Kind::Gauge,
            "Fragments held by datagrams under virtual reassembly.",
            |v| v.fragments_held,
        ),
        (
            "mailguard_vfr_fragments_total",
            Kind::Counter,
            "Fragments offered to virtual reassembly.",
            |v| v.fragments,
        ),
        (
            "mailguard_vfr_reassembled_total",
            Kind::Counter,
            "Datagrams virtual reassembly completed.",
            |v| v.reassembled,
        ),
        (
            "mailguard_vfr_timeouts_total",
            Kind::Counter,
            "Incomplete datagrams dropped at the reassembly timeout.",
            |v| v.timeouts,
        ),
    ];
    for (name, kind, help, field) in families {
        e.family(name, kind, help);
        for v in vfr {
            e.sample(name, &[("interface", &v.interface)], field(v));
        }
    }
    let name = "mailguard_vfr_dropped_fragments_total";
    e.family(
        name,
        Kind::Counter,
        "Fragments virtual reassembly dropped, by reason.",
    );
    for v in vfr {
        for (reason, n) in &v.drops {
            e.sample(name, &[("interface", &v.interface), ("reason", reason)], *n);
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Renders `snap` in the text format.
pub fn render(snap: &MetricsSnapshot) -> String {
    let mut e = Exposition {
        out: String::with_capacity(8 * 1024),
    };
    let workers: Vec<String> = (0..snap.workers.len()).map(|i| i.to_string()).collect();

    // Per worker: packets, bytes, handoff.
    type WorkerField = fn(&super::snapshot::WorkerMetrics) -> u64;
    let per_worker: [(&str, &str, WorkerField); 7] = [
        ("mailguard_rx_packets_total", "Packets received.", |w| {
            w.rx_packets
        }),
        ("mailguard_tx_packets_total", "Packets transmitted.", |w| {
            w.tx_packets
        }),
        ("mailguard_rx_bytes_total", "Bytes received.", |w| {
            w.rx_bytes
        }),
        ("mailguard_tx_bytes_total", "Bytes transmitted.", |w| {
            w.tx_bytes
        }),
        (
            "mailguard_handoff_sent_total",
            "Packets handed to the worker that owns their flow.",
            |w| w.handoff_sent,
        ),
        (
            "mailguard_handoff_received_total",
            "Packets received from other workers by handoff.",
            |w| w.handoff_received,
        ),
        (
            "mailguard_handoff_dropped_total",
            "Packets dropped because the owner's handoff ring was full.",
            |w| w.handoff_dropped,
        ),
    ];
    for (name, help, field) in per_worker {
        e.family(name, Kind::Counter, help);
        for (w, id) in snap.workers.iter().zip(&workers) {
            e.sample(name, &[("worker", id)], field(w));
        }
    }

    e.family(
        "mailguard_drops_total",
        Kind::Counter,
        "Packets dropped, by worker and named reason.",
    );
    for (w, id) in snap.workers.iter().zip(&workers) {
        for (reason, count) in snap.drop_reasons.iter().zip(&w.drops) {
            e.sample(
                "mailguard_drops_total",
                &[("worker", id), ("reason", reason)],
                *count,
            );
        }
    }

    e.family(
        "mailguard_ring_used",
        Kind::Gauge,
        "Slots in use in a worker's ring.",
    );
    for (w, id) in snap.workers.iter().zip(&workers) {
        for r in &w.rings {
            e.sample(
                "mailguard_ring_used",
                &[("worker", id), ("ring", &r.ring)],
                r.used,
            );
        }
    }
    e.family(
        "mailguard_ring_capacity",
        Kind::Gauge,
        "Slots in a worker's ring.",
    );
    for (w, id) in snap.workers.iter().zip(&workers) {
        for r in &w.rings {
            e.sample(
                "mailguard_ring_capacity",
                &[("worker", id), ("ring", &r.ring)],
                r.capacity,
            );
        }
    }

    e.family(
        "mailguard_sessions",
        Kind::Gauge,
        "Current inspection sessions by state.",
    );
    for (state, n) in [
        ("established", snap.sessions.established),
        ("half_open", snap.sessions.half_open),
        ("terminating", snap.sessions.terminating),
    ] {
        e.sample("mailguard_sessions", &[("state", state)], n);
    }
    e.single(
        "mailguard_session_creations_total",
        Kind::Counter,
        "Inspection sessions created.",
        snap.session_creations,
    );
    e.single(
        "mailguard_session_table_full_total",
        Kind::Counter,
        "New sessions refused because the session table was full.",
        snap.session_table_full,
    );
    e.family(
        "mailguard_session_table_bytes",
        Kind::Gauge,
        "Session-table memory mapped at start-up, by page size obtained.",
    );
    for (pages, n) in [
        ("huge", snap.session_table_bytes[0]),
        ("plain", snap.session_table_bytes[1]),
    ] {
        e.sample("mailguard_session_table_bytes", &[("pages", pages)], n);
    }
    vfr(&mut e, &snap.vfr);
    e.single(
        "mailguard_half_open_sessions",
        Kind::Gauge,
        "Global half-open session count (max-incomplete).",
        snap.half_open,
    );
    e.single(
        "mailguard_one_minute_rate",
        Kind::Gauge,
        "Session creation attempts in the current one-minute sampling period.",
        snap.one_minute_rate,
    );
    e.single(
        "mailguard_aggressive_mode",
        Kind::Gauge,
        "1 while CBAC aggressive mode is on.",
        u64::from(snap.aggressive_mode),
    );
    e.single(
        "mailguard_aggressive_mode_entered_total",
        Kind::Counter,
        "Times aggressive mode was entered.",
        snap.aggressive_mode_entered,
    );
    e.single(
        "mailguard_hosts_blocked",
        Kind::Gauge,
        "Hosts currently blocked by the per-host half-open limit.",
        snap.hosts_blocked,
    );
    e.family(
        "mailguard_half_open_deleted_total",
        Kind::Counter,
        "Half-open sessions deleted, by reason.",
    );
    for (reason, n) in &snap.half_open_deleted {
        e.sample(
            "mailguard_half_open_deleted_total",
            &[("reason", reason)],
            *n,
        );
    }
    e.family(
        "mailguard_alerts_total",
        Kind::Counter,
        "Log messages written, by mnemonic.",
    );
    for (kind, n) in &snap.alerts {
        e.sample("mailguard_alerts_total", &[("kind", kind)], *n);
    }

    let s = &snap.smtp;
    for (name, help, value) in [
        (
            "mailguard_smtp_sessions_total",
            "SMTP sessions inspected.",
            s.sessions,
        ),
        (
            "mailguard_smtp_cmd_lines_total",
            "SMTP command lines inspected.",
            s.cmd_lines,
        ),
        (
            "mailguard_smtp_cmd_masked_total",
            "SMTP command lines masked.",
            s.cmd_masked,
        ),
        (
            "mailguard_smtp_ehlo_keywords_masked_total",
            "EHLO reply keywords masked.",
            s.ehlo_keywords_masked,
        ),
        (
            "mailguard_smtp_param_violations_total",
            "ESMTP parameter violations.",
            s.param_violations,
        ),
        (
            "mailguard_smtp_reply_close_total",
            "Sessions closed by reply-and-close.",
            s.reply_close,
        ),
        (
            "mailguard_smtp_max_data_closes_total",
            "Sessions closed for exceeding max-data.",
            s.max_data_closes,
        ),
        (
            "mailguard_smtp_withheld_bytes_total",
            "Client bytes withheld until the server replied.",
            s.withheld_bytes,
        ),
        (
            "mailguard_smtp_bare_lf_cmd_total",
            "Command lines ended by a bare LF.",
            s.bare_lf_cmd,
        ),
        (
            "mailguard_smtp_bare_cr_rewritten_total",
            "Bare CR in commands rewritten to SP.",
            s.bare_cr_rewritten,
        ),
        (
            "mailguard_smtp_data_bare_eol_rewritten_total",
            "Bare CR/LF in message data rewritten to SP (anti-smuggling).",
            s.data_bare_eol_rewritten,
        ),
        (
            "mailguard_smtp_reply_malformed_total",
            "Malformed server reply lines forwarded.",
            s.reply_malformed,
        ),
        (
            "mailguard_tcp_ooo_queued_total",
            "Out-of-order TCP segments queued for inspection.",
            s.tcp_ooo_queued,
        ),
        (
            "mailguard_tcp_ooo_dropped_total",
            "Out-of-order TCP segments dropped on queue overflow.",
            s.tcp_ooo_dropped,
        ),
        (
            "mailguard_tcp_retrans_mismatch_total",
            "Retransmissions whose data differed from the original.",
            s.tcp_retrans_mismatch,
        ),
    ] {
        e.single(name, Kind::Counter, help, value);
    }
    e.family(
        "mailguard_smtp_sig_hits_total",
        Kind::Counter,
        "SMTP IDS signature hits, by signature id.",
    );
    for (id, n) in &s.sig_hits {
        e.sample(
            "mailguard_smtp_sig_hits_total",
            &[("id", &id.to_string())],
            *n,
        );
    }

    let l = &snap.logging;
    e.family(
        "mailguard_log_records_total",
        Kind::Counter,
        "Log records by outcome (queued, dropped on a full queue, rate-limited).",
    );
    for (outcome, n) in [
        ("queued", l.queues.queued),
        ("queue_overflow", l.queues.overflow),
        ("session_rate_limited", l.queues.session_suppressed),
        ("global_rate_limited", l.global_suppressed),
        ("write_error", l.write_errors),
    ] {
        e.sample("mailguard_log_records_total", &[("outcome", outcome)], n);
    }
    e.family(
        "mailguard_syslog_datagrams_total",
        Kind::Counter,
        "Syslog datagrams by outcome.",
    );
    e.sample(
        "mailguard_syslog_datagrams_total",
        &[("outcome", "sent")],
        l.syslog_sent,
    );
    e.sample(
        "mailguard_syslog_datagrams_total",
        &[("outcome", "error")],
        l.syslog_errors,
    );
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::snapshot::{RingOccupancy, WorkerMetrics};
    use std::collections::{BTreeMap, BTreeSet};

    const REASONS: &[&str] = &["acl_deny", "bad_checksum", "weird \"reason\"\\x"];

    fn snapshot() -> MetricsSnapshot {
        let worker = |n: u64| WorkerMetrics {
            rx_packets: 100 * n,
            tx_packets: 90 * n,
            rx_bytes: 6400 * n,
            tx_bytes: 5000 * n,
            handoff_sent: n,
            handoff_received: 2 * n,
            handoff_dropped: 0,
            rings: vec![RingOccupancy {
                ring: "rx:Ethernet2/0".into(),
                used: 3 * n,
                capacity: 4096,
            }],
            drops: vec![5 * n, n, 7],
        };
        let mut s = MetricsSnapshot {
            drop_reasons: REASONS,
            workers: vec![worker(1), worker(2)],
            half_open: 50,
            aggressive_mode: true,
            aggressive_mode_entered: 1,
            half_open_deleted: vec![("synwait", 3), ("host", 1)],
            alerts: vec![("ALERT_ON", 1), ("HOST_TCP_ALERT_ON", 1)],
            ..Default::default()
        };
        s.sessions.established = 12;
        s.sessions.half_open = 50;
        s.session_table_bytes = [4 << 21, 8192];
        s.vfr = vec![VfrMetrics {
            interface: "Ethernet2/0".into(),
            reassemblies: 1,
            fragments_held: 2,
            fragments: 40,
            reassembled: 15,
            timeouts: 1,
            drops: vec![("overlap", 1), ("table_full", 2)],
        }];
        s.smtp.cmd_lines = 120;
        s.smtp.sig_hits = vec![(3101, 2), (3104, 1)];
        s.logging.queues.overflow = 4;
        s
    }

    /// A small validator of the 0.0.4 text format: every sample belongs to
    /// the family declared just before it, each family is declared once with
    /// HELP then TYPE, names and labels are valid, values parse, no sample
    /// (name + labels) repeats.
    fn validate(text: &str) -> BTreeMap<String, u64> {
        assert!(text.ends_with('\n'));
        let mut families = BTreeSet::new();
        let mut current: Option<(String, String)> = None;
        let mut samples = BTreeMap::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(valid_metric_name(&name), "{name}");
                assert!(
                    families.insert(name.clone()),
                    "family {name} declared twice"
                );
                let ty = lines.next().expect("TYPE after HELP");
                let ty = ty
                    .strip_prefix(&format!("# TYPE {name} "))
                    .unwrap_or_else(|| panic!("bad TYPE line {ty:?}"));
                assert!(ty == "counter" || ty == "gauge", "{ty}");
                if ty == "counter" {
                    assert!(name.ends_with("_total"), "{name}");
                }
                current = Some((name, ty.to_string()));
                continue;
            }
            assert!(!line.starts_with('#'), "stray comment {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("value");
            let value: u64 = value.parse().expect("integer value");
            let name = series.split('{').next().unwrap();
            assert_eq!(
                Some(name),
                current.as_ref().map(|c| c.0.as_str()),
                "sample outside its family"
            );
            if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .expect("braces");
                // parse k="v" pairs honouring escapes
                let mut chars = inner.chars().peekable();
                loop {
                    let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                    assert!(valid_label_name(&key), "label {key:?}");
                    assert_eq!(chars.next(), Some('"'));
                    loop {
                        match chars.next().expect("unterminated value") {
                            '\\' => {
                                let esc = chars.next().unwrap();
                                assert!(matches!(esc, '\\' | '"' | 'n'), "bad escape");
                            }
                            '"' => break,
                            '\n' => panic!("raw newline"),
                            _ => {}
                        }
                    }
                    match chars.next() {
                        None => break,
                        Some(',') => continue,
                        Some(c) => panic!("unexpected {c:?}"),
                    }
                }
            }
            assert!(
                samples.insert(series.to_string(), value).is_none(),
                "duplicate {series}"
            );
        }
        samples
    }

    #[test]
    fn exposition_is_valid_and_complete() {
        let text = render(&snapshot());
        let samples = validate(&text);
        assert_eq!(samples["mailguard_rx_packets_total{worker=\"1\"}"], 200);
        assert_eq!(
            samples["mailguard_drops_total{worker=\"0\",reason=\"acl_deny\"}"],
            5
        );
        assert_eq!(
            samples["mailguard_drops_total{worker=\"1\",reason=\"weird \\\"reason\\\"\\\\x\"}"],
            7
        );
        assert_eq!(
            samples["mailguard_ring_used{worker=\"1\",ring=\"rx:Ethernet2/0\"}"],
            6
        );
        assert_eq!(samples["mailguard_sessions{state=\"half_open\"}"], 50);
        assert_eq!(samples["mailguard_aggressive_mode"], 1);
        assert_eq!(
            samples["mailguard_vfr_reassembled_total{interface=\"Ethernet2/0\"}"],
            15
        );
        assert_eq!(
            samples[
                "mailguard_vfr_dropped_fragments_total{interface=\"Ethernet2/0\",reason=\"table_full\"}"
            ],
            2
        );
        assert_eq!(
            samples["mailguard_session_table_bytes{pages=\"huge\"}"],
            4 << 21
        );
        assert_eq!(
            samples["mailguard_session_table_bytes{pages=\"plain\"}"],
            8192
        );
        assert_eq!(samples["mailguard_half_open_sessions"], 50);
        assert_eq!(samples["mailguard_alerts_total{kind=\"ALERT_ON\"}"], 1);
        assert_eq!(
            samples["mailguard_half_open_deleted_total{reason=\"synwait\"}"],
            3
        );
        assert_eq!(samples["mailguard_smtp_cmd_lines_total"], 120);
        assert_eq!(samples["mailguard_smtp_sig_hits_total{id=\"3101\"}"], 2);
        assert_eq!(
            samples["mailguard_log_records_total{outcome=\"queue_overflow\"}"],
            4
        );
    }

    #[test]
    fn empty_snapshot_keeps_every_family() {
        let full = render(&snapshot());
        let empty = render(&MetricsSnapshot::default());
        validate(&empty);
        let families = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.starts_with("# TYPE "))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(families(&full), families(&empty));
        assert!(empty.contains("\nmailguard_aggressive_mode 0\n"));
    }

    #[test]
    fn escaping_and_names() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
        assert!(valid_metric_name("mailguard_x:y_total"));
        assert!(!valid_metric_name("9x"));
        assert!(!valid_metric_name("a-b"));
        assert!(!valid_metric_name(""));
        assert!(valid_label_name("_worker1"));
        assert!(!valid_label_name("__name"));
        assert!(!valid_label_name("a:b"));
    }
}
