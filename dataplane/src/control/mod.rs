//! The control socket: IOS command words over a Unix socket
//! (`mailguard show ip inspect all`, `mailguard debug ip inspect smtp`,
//! `mailguard configure "LINE"`), so an operator inspects and changes the
//! running dataplane the way they would a router, and scripts get `--json`.
//!
//! Layers, one file each: [`command`] turns words into a typed [`Command`]
//! (IOS abbreviations and error texts); [`protocol`] frames requests and
//! replies; [`server`] serves clients and calls the binary's
//! [`ControlHandler`]; [`client`] is what the CLI subcommands call. The
//! control thread never touches a worker's table: the handler reads counters
//! and asks workers for snapshots (DESIGN.md "Cores and ownership").

pub mod client;
pub mod command;
pub mod error;
pub mod protocol;
pub mod server;

pub use client::{request, request_with_timeout};
pub use command::{Command, ParseError, ShowCommand};
pub use error::ControlError;
pub use server::{answer, ControlHandler, ControlServer, ServerLimits};

use crate::logging::{DebugCategory, DebugFlags};

/// Executes the debug commands against the shared switches and returns the
/// IOS reply (`INSPECT SMTP Inspection debugging is on`,
/// `All possible debugging has been turned off`); `None` for other commands.
/// `show debugging` is answered too. A handler calls this first.
pub fn apply_debug(flags: &DebugFlags, cmd: &Command) -> Option<String> {
    match cmd {
        Command::Debug { category, on } => Some(flags.set(*category, *on)),
        Command::UndebugAll => Some(flags.clear_all().to_string()),
        Command::Show(ShowCommand::Debugging) => Some(show_debugging(flags)),
        _ => None,
    }
}

/// `show debugging`: the enabled `debug ip inspect` categories, IOS layout;
/// empty when none is on.
pub fn show_debugging(flags: &DebugFlags) -> String {
    let enabled: Vec<DebugCategory> = flags.enabled_categories();
    if enabled.is_empty() {
        return String::new();
    }
    let mut out = String::from("INSPECT:\n");
    for c in enabled {
        out.push_str("  ");
        out.push_str(&c.reply(true));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_commands_flip_the_shared_switches() {
        let flags = DebugFlags::new();
        let on = Command::parse("debug ip inspect smtp").unwrap();
        assert_eq!(
            apply_debug(&flags, &on).as_deref(),
            Some("INSPECT SMTP Inspection debugging is on")
        );
        assert!(flags.enabled(DebugCategory::Smtp));
        let show = Command::parse("sh debug").unwrap();
        assert_eq!(
            apply_debug(&flags, &show).as_deref(),
            Some("INSPECT:\n  INSPECT SMTP Inspection debugging is on\n")
        );
        let off = Command::parse("undebug all").unwrap();
        assert_eq!(
            apply_debug(&flags, &off).as_deref(),
            Some("All possible debugging has been turned off")
        );
        assert!(!flags.any());
        assert_eq!(apply_debug(&flags, &show).as_deref(), Some(""));
        let other = Command::parse("show run").unwrap();
        assert_eq!(apply_debug(&flags, &other), None);
    }
}
