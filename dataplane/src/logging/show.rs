//! `show logging`: where log lines go and what the limits held back, in a
//! shortened IOS layout (IOS prints the same first line and one block per
//! destination; the fields it has and we do not — console, monitor, buffer,
//! xml — are left out). PROPOSED layout.

use std::fmt::Write as _;

use super::logger::{LoggerStats, LoggingTotals};

/// Renders `show logging`. `destination` is the log file path or `stderr`;
/// `syslog` the `--syslog` target if any.
pub fn render_show_logging(
    totals: &LoggingTotals,
    stats: &LoggerStats,
    destination: &str,
    syslog: Option<&str>,
) -> String {
    let mut out = String::new();
    let dropped = totals.queues.overflow;
    let limited = totals.queues.session_suppressed + totals.global_suppressed;
    let _ = writeln!(
        out,
        "Syslog logging: enabled ({dropped} messages dropped, {limited} messages rate-limited, \
         {} write errors)",
        totals.write_errors
    );
    let _ = writeln!(
        out,
        "    File logging: {destination}, {} messages logged",
        stats.emitted_total()
    );
    match syslog {
        Some(target) => {
            let _ = writeln!(
                out,
                "    Trap logging: level informational, {} message lines logged",
                totals.syslog_sent
            );
            let _ = writeln!(
                out,
                "        Logging to {target} (udp, RFC 5424, facility local7), \
                 {} message lines logged, {} errors",
                totals.syslog_sent, totals.syslog_errors
            );
        }
        None => {
            let _ = writeln!(out, "    Trap logging: disabled");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut totals = LoggingTotals::default();
        totals.queues.overflow = 2;
        totals.queues.session_suppressed = 3;
        totals.global_suppressed = 4;
        totals.syslog_sent = 9;
        let stats = LoggerStats::default();
        assert_eq!(
            render_show_logging(&totals, &stats, "/var/log/mailguard.log", Some("192.0.2.1:514")),
            "Syslog logging: enabled (2 messages dropped, 7 messages rate-limited, 0 write errors)\n\
             \x20   File logging: /var/log/mailguard.log, 0 messages logged\n\
             \x20   Trap logging: level informational, 9 message lines logged\n\
             \x20       Logging to 192.0.2.1:514 (udp, RFC 5424, facility local7), 9 message lines logged, 0 errors\n"
        );
        assert!(render_show_logging(&totals, &stats, "stderr", None)
            .ends_with("    Trap logging: disabled\n"));
    }
}
