//! `show ip virtual-reassembly [interface]` (`cbac-sessions.md` §8.3): each
//! interface's `ip virtual-reassembly` settings and what its reassembly
//! tables (one per worker, summed here) hold and have done. Without it an
//! operator could see fragments being dropped (`show interfaces` input
//! drops) but not why: table full, too many fragments, overlaps, timeouts.
//!
//! The text form is IOS's; the JSON form adds the drop breakdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::interfaces_named;
use crate::config::model::Config;
use crate::shared::VfrReport;

/// Text form; `reports` maps IOS interface names to the workers' summed
/// figures (interfaces without a report show zeros).
pub fn show_ip_virtual_reassembly(
    cfg: &Config,
    name: Option<&str>,
    reports: &BTreeMap<String, VfrReport>,
    out: &mut String,
) {
    let none = VfrReport::default();
    for (n, iface) in interfaces_named(cfg, name).enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}:", iface.name);
        let Some(v) = &iface.virtual_reassembly else {
            out.push_str("   Virtual Fragment Reassembly (VFR) is DISABLED\n");
            continue;
        };
        let r = reports.get(&iface.name).unwrap_or(&none);
        let c = &r.counters;
        let _ = write!(
            out,
            "   Virtual Fragment Reassembly (VFR) is ENABLED [in]\n\
             \x20  Concurrent reassemblies (max-reassemblies): {}\n\
             \x20  Fragments per reassembly (max-fragments): {}\n\
             \x20  Reassembly timeout (timeout): {} seconds\n\
             \x20  Drop fragments: {}\n\
             \n\
             \x20  Current reassembly count:{}\n\
             \x20  Current fragment count:{}\n\
             \x20  Total reassembly count:{}\n\
             \x20  Total reassembly timeout count:{}\n\
             \x20  Total reassembly failures:{}\n",
            v.max_reassemblies,
            v.max_fragments,
            v.timeout,
            if v.drop_fragments { "ON" } else { "OFF" },
            r.reassemblies,
            r.fragments,
            c.reassembled,
            c.timeouts,
            c.failures(),
        );
    }
}

/// JSON form: settings, current figures, totals and every drop reason.
pub fn show_ip_virtual_reassembly_json(
    cfg: &Config,
    name: Option<&str>,
    reports: &BTreeMap<String, VfrReport>,
) -> Value {
    let none = VfrReport::default();
    Value::Array(
        interfaces_named(cfg, name)
            .map(|iface| {
                let Some(v) = &iface.virtual_reassembly else {
                    return json!({ "interface": iface.name, "enabled": false });
                };
                let r = reports.get(&iface.name).unwrap_or(&none);
                let c = &r.counters;
                json!({
                    "interface": iface.name,
                    "enabled": true,
                    "max_reassemblies": v.max_reassemblies,
                    "max_fragments": v.max_fragments,
                    "timeout_seconds": v.timeout,
                    "drop_fragments": v.drop_fragments,
                    "current_reassemblies": r.reassemblies,
                    "current_fragments": r.fragments,
                    "fragments": c.fragments,
                    "held": c.held,
                    "reassembled": c.reassembled,
                    "timeouts": c.timeouts,
                    "failures": c.failures(),
                    "dropped_fragments": c.dropped_fragments(),
                    "drops": {
                        "not_a_fragment": c.drop_not_a_fragment,
                        "drop_fragments": c.drop_drop_fragments,
                        "malformed": c.drop_malformed,
                        "table_full": c.drop_table_full,
                        "too_many_fragments": c.drop_too_many_fragments,
                        "overlap": c.drop_overlap,
                        "duplicate": c.drop_duplicate,
                        "oversize": c.drop_oversize,
                        "inconsistent": c.drop_inconsistent,
                        "poisoned": c.drop_poisoned,
                    },
                    "events_lost": c.events_lost,
                })
            })
            .collect(),
    )
}
