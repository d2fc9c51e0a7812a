//! `show access-lists [N]` (`config-and-nat.md` §3.2, `seed-scenario.md` §3.3):
//! IOS 12.3 layout with sequence numbers in steps of 10, names for ports and
//! ICMP messages, and `(N matches)` once an entry has matched.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::acl::{AccessList, AclEntry, AclKind};
use crate::config::model::Config;

/// Match counters per list number, one per entry (summed over workers).
pub type AclCounters = BTreeMap<u16, Vec<u64>>;

fn count(counters: &AclCounters, number: u16, index: usize) -> u64 {
    counters
        .get(&number)
        .and_then(|c| c.get(index))
        .copied()
        .unwrap_or(0)
}

/// The IOS text of an entry as `show access-lists` prints it (standard lists
/// use `A, wildcard bits W`).
pub fn entry_text(kind: AclKind, entry: &AclEntry) -> String {
    if kind == AclKind::Extended {
        return entry.to_ios(kind);
    }
    let s = entry.source;
    let action = if entry.action == crate::acl::Verdict::Permit {
        "permit"
    } else {
        "deny"
    };
    let mut text = match s.wildcard {
        u32::MAX => format!("{action} any"),
        0 => format!("{action} {}", Ipv4Addr::from(s.address)),
        w => format!(
            "{action} {}, wildcard bits {}",
            Ipv4Addr::from(s.address),
            Ipv4Addr::from(w)
        ),
    };
    if entry.log != crate::acl::AclLog::None {
        text.push_str(" log");
    }
    text
}

fn write_list(list: &AccessList, counters: &AclCounters, out: &mut String) {
    let kind = match list.kind {
        AclKind::Standard => "Standard",
        AclKind::Extended => "Extended",
    };
    let _ = writeln!(out, "{kind} IP access list {}", list.number);
    for (i, e) in list.entries.iter().enumerate() {
        let _ = write!(out, "    {} {}", (i + 1) * 10, entry_text(list.kind, e));
        match count(counters, list.number, i) {
            0 => {}
            1 => out.push_str(" (1 match)"),
            n => {
                let _ = write!(out, " ({n} matches)");
            }
        }
        out.push('\n');
    }
}

/// Writes every list, or only list `number`.
pub fn show_access_lists(
    cfg: &Config,
    number: Option<u16>,
    counters: &AclCounters,
    out: &mut String,
) {
    for list in cfg.access_lists.values() {
        if number.is_none_or(|n| n == list.number) {
            write_list(list, counters, out);
        }
    }
}

/// JSON form.
pub fn show_access_lists_json(cfg: &Config, number: Option<u16>, counters: &AclCounters) -> Value {
    Value::Array(
        cfg.access_lists
            .values()
            .filter(|l| number.is_none_or(|n| n == l.number))
            .map(|l| {
                json!({
                    "number": l.number,
                    "kind": l.kind,
                    "entries": l.entries.iter().enumerate().map(|(i, e)| json!({
                        "sequence": (i + 1) * 10,
                        "text": entry_text(l.kind, e),
                        "matches": count(counters, l.number, i),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
