//! IOS `show` output: pure formatting of the configuration model and of
//! snapshots the control thread collects from the workers. Each command has a
//! text form (byte-identical to IOS where the seed documents it) and a JSON
//! form for `--json`.

pub mod access_lists;
pub mod inspect;
pub mod interfaces;
pub mod nat;
pub mod vfr;

pub use access_lists::{show_access_lists, show_access_lists_json, AclCounters};
pub use inspect::{
    show_ip_inspect, show_ip_inspect_json, InspectStatistics, InspectView, SessionCounts,
    SessionSnapshot, SessionState, SmtpStatistics,
};
pub use interfaces::{show_interfaces, show_interfaces_json, InterfaceCounters};
pub use nat::{show_ip_nat_translations, show_ip_nat_translations_json};
pub use vfr::{show_ip_virtual_reassembly, show_ip_virtual_reassembly_json};

use serde_json::{json, Value};

use crate::config::Config;

/// The configured interfaces a `show … [interface]` covers: all, or the one
/// named (already normalised by the caller).
pub(crate) fn interfaces_named<'a>(
    cfg: &'a Config,
    name: Option<&'a str>,
) -> impl Iterator<Item = &'a crate::config::model::Interface> {
    cfg.interfaces
        .iter()
        .filter(move |i| name.is_none_or(|n| n == i.name))
}

/// `show running-config`.
pub fn show_running_config(cfg: &Config, out: &mut String) {
    out.push_str(&cfg.running_config());
}

/// JSON form of `show running-config`: the model itself.
pub fn show_running_config_json(cfg: &Config) -> Value {
    json!({ "config": cfg, "text": cfg.running_config() })
}

#[cfg(test)]
mod tests;
