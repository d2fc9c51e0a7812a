//! `show interfaces`: state, address and the dataplane's per-interface
//! counters (summed over workers by the caller).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use super::interfaces_named;
use crate::config::model::{Config, Interface};

/// Per-interface counters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InterfaceCounters {
    /// Host network device bound to the interface, if any.
    pub device: Option<String>,
    /// Link is up.
    pub link_up: bool,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Received packets dropped.
    pub rx_drops: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets that could not be sent.
    pub tx_drops: u64,
}

fn status(iface: &Interface, c: &InterfaceCounters) -> (&'static str, &'static str) {
    if iface.shutdown {
        ("administratively down", "down")
    } else if c.device.is_some() && c.link_up {
        ("up", "up")
    } else {
        ("down", "down")
    }
}

/// Writes every interface (or only `name`) with its counters.
pub fn show_interfaces(
    cfg: &Config,
    name: Option<&str>,
    counters: &BTreeMap<String, InterfaceCounters>,
    out: &mut String,
) {
    let none = InterfaceCounters::default();
    for iface in interfaces_named(cfg, name) {
        let c = counters.get(&iface.name).unwrap_or(&none);
        let (admin, line) = status(iface, c);
        let _ = writeln!(out, "{} is {admin}, line protocol is {line}", iface.name);
        match &c.device {
            Some(d) => {
                let _ = writeln!(out, "  Hardware is {d}");
            }
            None => out.push_str("  Hardware is not bound\n"),
        }
        if let Some(a) = iface.address {
            let _ = writeln!(
                out,
                "  Internet address is {}/{}",
                a.address,
                a.prefix_len()
            );
        }
        let _ = writeln!(
            out,
            "     {} packets input, {} bytes, {} input drops",
            c.rx_packets, c.rx_bytes, c.rx_drops
        );
        let _ = writeln!(
            out,
            "     {} packets output, {} bytes, {} output drops",
            c.tx_packets, c.tx_bytes, c.tx_drops
        );
    }
}

/// JSON form.
pub fn show_interfaces_json(
    cfg: &Config,
    name: Option<&str>,
    counters: &BTreeMap<String, InterfaceCounters>,
) -> Value {
    let none = InterfaceCounters::default();
    Value::Array(
        interfaces_named(cfg, name)
            .map(|i| {
                let c = counters.get(&i.name).unwrap_or(&none);
                let (admin, line) = status(i, c);
                json!({
                    "interface": i.name,
                    "status": admin,
                    "line_protocol": line,
                    "address": i.address.map(|a| format!("{}/{}", a.address, a.prefix_len())),
                    "counters": c,
                })
            })
            .collect(),
    )
}
