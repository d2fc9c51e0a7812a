//! IOS-format logging: alerts, audit trail, access-list and debug lines
//! (`smtp-inspection.md` §13, `cbac-sessions.md` §7.5/§10/§12,
//! `config-and-nat.md` §3.2), written as
//! `*Nov 23 17:07:46.123: %FW-3-SMTP_INVALID_COMMAND: …` to the log file or
//! stderr and, with `--syslog`, as RFC 5424 datagrams.
//!
//! Why it is shaped this way: workers must not format, allocate, lock or make
//! syscalls per packet, so they only push a small `Copy` [`LogRecord`] into
//! their own bounded queue ([`LogProducer::emit`], overflow counted); one
//! logger thread ([`Logger`]) does the text work. Rate limits are sans-IO:
//! the per-session part ([`SessionLogLimiter`], 12 bytes kept in the session)
//! runs in the owner worker, the global part in the logger on record
//! timestamps.
//!
//! Wiring, in the binary:
//! ```ignore
//! let debug = Arc::new(DebugFlags::new());
//! let (producers, queues) = LogQueues::new(workers + 1, 4096, Arc::clone(&debug));
//! let mut config = LoggerConfig::new(open_sink(log_path)?);
//! config.syslog = syslog_target.map(|t| SyslogSender::connect(t, &hostname, 6)).transpose()?;
//! let logger = Logger::spawn(LogWriter::new(queues, config))?;
//! // worker i: producers[i].emit(now_unix_ns, LogRecord::AlertOn { .. });
//! ```

pub mod debug;
mod from_flowtable;
pub mod logger;
pub mod queue;
pub mod ratelimit;
pub mod record;
pub mod show;
pub mod syslog;
pub mod timestamp;

use std::fmt::Write as _;

pub use debug::{DebugCategory, DebugFlags, UNDEBUG_ALL_REPLY};
pub use logger::{
    open_sink, totals as logging_totals, LogWriter, Logger, LoggerConfig, LoggerStats,
    LoggingTotals, MemorySink,
};
pub use queue::{LogProducer, LogQueues, QueueCounters, QueueTotals, StampedRecord};
pub use ratelimit::{GlobalRateLimiter, SessionLogLimiter};
pub use record::{
    AccessListAction, AccessListPacket, ConfigVia, DebugLine, DebugRecord, HalfOpenDeleteReason,
    InterfaceName, L4Protocol, LogKind, LogRecord, ParameterToken, SmtpSignature, SystemEvent,
    TimerAction, TimerKind, VerbToken, WireToken,
};
pub use show::render_show_logging;
pub use syslog::SyslogSender;
pub use timestamp::{wall_clock_ns, IosTimestamp, Rfc3339Timestamp};

/// Appends `<IOS timestamp>: <record text>` (no newline) to `out`, e.g.
/// `*Nov 23 17:07:46.123: %FW-4-ALERT_ON: getting aggressive, …`.
pub fn format_line(unix_ns: u64, record: &LogRecord, out: &mut String) {
    let _ = write!(out, "{}: {}", IosTimestamp(unix_ns), record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_ios_prefix() {
        let mut s = String::new();
        format_line(
            1_795_453_666_123_000_000,
            &LogRecord::AlertOff {
                count: 0,
                low: 400,
                rate: 0,
            },
            &mut s,
        );
        assert_eq!(
            s,
            "*Nov 23 17:07:46.123: %FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0"
        );
    }

    /// Every timestamped line of the seed's `debug ip inspect smtp` trace
    /// (`smtp-inspection.md` §12) comes out byte-identical through
    /// `DebugLine` and `format_line`, timestamps included.
    #[test]
    fn seed_debug_trace_reproduced() {
        const TRACE: &str = include_str!("../../../fixtures/seed-debug-trace.txt");
        const OCT_18_2026: u64 = 1_792_281_600; // 00:00:00Z, seconds
        let mut checked = 0;
        for line in TRACE.lines().filter(|l| l.starts_with("*Oct 18 ")) {
            let (stamp, text) = line.split_at(line.find(": ").expect("stamp"));
            let text = &text[2..];
            let clock = &stamp["*Oct 18 ".len()..]; // hh:mm:ss.mmm
            let field = |r: std::ops::Range<usize>| clock[r].parse::<u64>().unwrap();
            let secs = OCT_18_2026 + field(0..2) * 3600 + field(3..5) * 60 + field(6..8);
            let ns = secs * 1_000_000_000 + field(9..12) * 1_000_000;
            let record = LogRecord::Debug(DebugRecord::Line(DebugLine::format(
                DebugCategory::Smtp,
                format_args!("{text}"),
            )));
            let mut out = String::new();
            format_line(ns, &record, &mut out);
            assert_eq!(out, line);
            checked += 1;
        }
        assert_eq!(checked, 117);
    }
}
