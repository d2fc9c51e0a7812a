//! Sans-IO streaming SMTP/ESMTP inspector with Cisco IOS Firewall (CBAC
//! "MailGuard") semantics. No I/O, no clock, no allocation per call.
//!
//! The dataplane owns one [`Inspector`] per inspected TCP session and feeds it
//! the in-order payload of each direction ([`Inspector::handle_client`],
//! [`Inspector::handle_server`]). Every call returns a [`Verdict`]: how many
//! leading bytes to forward (possibly rewritten in place, never resized) and
//! whether to reply-and-close, reset, or stop inspecting. Log-worthy facts
//! are queued as raw [`Event`]s and drained with [`Inspector::poll_event`];
//! [`fmt`] turns them into the exact IOS message texts.
//!
//! Module map (one job per file):
//! - [`policy`]: the per-rule knobs ([`Policy`], [`Mode`]).
//! - `verbs`: the command-verb prefix automaton (spec §2.2, §2.4).
//! - `framing`: byte classes for line framing (§2.3).
//! - `command`: the client command-line state machine: masking, limits,
//!   pipelining/withholding (§2–§3, §6).
//! - `command_fast`: whole-line fast path for legal lines in one segment.
//! - `params`: ESMTP parameter grammar (§5).
//! - `reply`: server reply lines and the reply FIFO (§6.1, §7.1, §7.4).
//! - `ehlo`: EHLO-reply keyword masking (§4).
//! - `data`: the DATA phase: end-of-data, anti-smuggling, max-data (§7.2, §8)
//!   and the BDAT byte counter (decision 3).
//! - [`signatures`]: the IDS signature set (§10) and its header scanners.
//! - [`events`]: the bounded event queue and event types (§13, §12.3).
//! - [`stats`]: the per-worker counters (§14).
//! - [`fmt`]: IOS message and `debug ip inspect smtp` text (§12.3, §13).
//! - `inspector`: the session object tying the phases together.
#![forbid(unsafe_code)]

mod command;
mod command_fast;
mod data;
#[cfg(test)]
mod data_differential;
mod ehlo;
pub mod events;
pub mod fmt;
mod framing;
mod inspector;
mod params;
pub mod policy;
mod reply;
#[cfg(test)]
mod reply_differential;
pub mod signatures;
pub mod stats;
mod verbs;

pub use events::{DebugEvent, Event, EVENT_QUEUE_LEN};
pub use inspector::{Action, CloseReason, Inspector, Verdict};
pub use policy::{Mode, Policy};
pub use signatures::{Signature, SignatureSet};
pub use stats::SmtpStats;
pub use verbs::Verb;

/// Injected reply for an unsupported ESMTP parameter keyword (spec §5.2).
pub const REPLY_UNSUPPORTED_PARAMETER: &[u8] = b"555 Unsupported parameter\r\n";
/// Injected reply for a bad parameter value / syntax (spec §5.2).
pub const REPLY_INVALID_PARAMETER: &[u8] = b"501 Invalid parameter\r\n";
/// Injected reply for an IDS signature hit (spec §10.1).
pub const REPLY_TRANSACTION_FAILED: &[u8] = b"554 Transaction failed\r\n";
/// Injected reply when max-data is exceeded (spec §8).
pub const REPLY_MAX_DATA: &[u8] = b"552 Message size exceeds limit\r\n";
