//! RFC 5424 syslog over UDP (RFC 5426) for `--syslog HOST:PORT`.
//!
//! Decisions (documented here because neither IOS nor the spec fixes them):
//! * facility **local7** (23), the IOS `logging facility` default, so
//!   `PRI = 23 * 8 + severity`, the severity being the digit of the IOS
//!   mnemonic (`%FW-4-…` → 4);
//! * `APP-NAME` = `mailguard`, `PROCID` = `-`, `MSGID` = the mnemonic
//!   (`SMTP_INVALID_COMMAND`; `DEBUG` for debug lines), no structured data;
//! * `MSG` = the IOS text without timestamp (`%FW-3-…: …`), ASCII, no BOM; the
//!   RFC 3339 `TIMESTAMP` field carries the time (UTC, milliseconds);
//! * only messages up to `max_severity` are sent (default 6, informational,
//!   the IOS `logging trap` default): debug lines stay local.
//!
//! One datagram per message; send errors are counted, never retried.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use super::record::LogRecord;
use super::timestamp::Rfc3339Timestamp;

/// Syslog facility local7.
pub const FACILITY_LOCAL7: u8 = 23;

/// RFC 5424 `APP-NAME`.
pub const APP_NAME: &str = "mailguard";

/// Formats one RFC 5424 message into `out` (cleared first).
pub fn format_datagram(unix_ns: u64, hostname: &str, record: &LogRecord, out: &mut String) {
    out.clear();
    let kind = record.kind();
    let pri = u16::from(FACILITY_LOCAL7) * 8 + u16::from(kind.severity());
    let _ = write!(
        out,
        "<{pri}>1 {} {} {APP_NAME} - {} - {record}",
        Rfc3339Timestamp(unix_ns),
        hostname,
        kind.name()
    );
}

/// An RFC 5424 `HOSTNAME`: 1–255 printable US-ASCII characters without
/// spaces; anything else becomes `-` (the NILVALUE when empty).
pub fn sanitize_hostname(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .take(255)
        .map(|c| if c.is_ascii_graphic() { c } else { '-' })
        .collect();
    if cleaned.is_empty() {
        "-".to_string()
    } else {
        cleaned
    }
}

/// The local host name (Linux `/proc`), or `-`.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| sanitize_hostname(&s))
        .unwrap_or_else(|_| "-".to_string())
}

/// A connected UDP socket toward the collector.
#[derive(Debug)]
pub struct SyslogSender {
    socket: UdpSocket,
    hostname: String,
    max_severity: u8,
    buf: String,
    sent: u64,
    errors: u64,
}

impl SyslogSender {
    /// Resolves `target` (`HOST:PORT`) and connects a UDP socket to it.
    pub fn connect(target: &str, hostname: &str, max_severity: u8) -> io::Result<Self> {
        let addr: SocketAddr = target.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "syslog target did not resolve")
        })?;
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(addr)?;
        socket.set_nonblocking(true)?;
        Ok(SyslogSender {
            socket,
            hostname: sanitize_hostname(hostname),
            max_severity,
            buf: String::with_capacity(512),
            sent: 0,
            errors: 0,
        })
    }

    /// Sends `record` if its severity is within the trap level.
    pub fn send(&mut self, unix_ns: u64, record: &LogRecord) {
        if record.kind().severity() > self.max_severity {
            return;
        }
        format_datagram(unix_ns, &self.hostname, record, &mut self.buf);
        match self.socket.send(self.buf.as_bytes()) {
            Ok(_) => self.sent += 1,
            Err(_) => self.errors += 1,
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::record::{DebugRecord, VerbToken};
    use std::time::Duration;

    const NS: u64 = 1_795_453_666_123_000_000; // 2026-11-23T17:07:46.123Z

    fn invalid_command() -> LogRecord {
        LogRecord::SmtpInvalidCommand {
            verb: VerbToken::new(b"EXPN"),
            total: 11,
            initiator: "198.51.100.7:40012".parse().unwrap(),
        }
    }

    #[test]
    fn datagram_layout() {
        let mut out = String::new();
        format_datagram(NS, "fw1", &invalid_command(), &mut out);
        assert_eq!(
            out,
            "<187>1 2026-11-23T17:07:46.123Z fw1 mailguard - SMTP_INVALID_COMMAND - \
             %FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) \
             from initiator (198.51.100.7:40012)"
        );
        let block = LogRecord::BlockHost {
            host: "172.22.1.110".parse().unwrap(),
            minutes: 2,
            limit: 50,
        };
        format_datagram(NS, "fw1", &block, &mut out);
        assert!(out.starts_with(
            "<186>1 2026-11-23T17:07:46.123Z fw1 mailguard - BLOCK_HOST - %FW-2-BLOCK_HOST: "
        ));
    }

    #[test]
    fn hostnames_are_sanitized() {
        assert_eq!(sanitize_hostname("fw 1\n"), "fw-1");
        assert_eq!(sanitize_hostname(""), "-");
        assert_eq!(sanitize_hostname("rtr-é"), "rtr--");
        assert_eq!(sanitize_hostname(&"a".repeat(300)).len(), 255);
    }

    #[test]
    fn sends_to_a_udp_collector_on_loopback() {
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let target = collector.local_addr().unwrap().to_string();
        let mut sender = SyslogSender::connect(&target, "mailguard-test", 6).unwrap();
        sender.send(NS, &invalid_command());
        // debug lines are above the trap level and stay local
        sender.send(
            NS,
            &LogRecord::Debug(DebugRecord::AggressiveMode { on: true }),
        );
        sender.send(
            NS + 1_000_000,
            &LogRecord::UnblockHost {
                host: "172.22.1.110".parse().unwrap(),
            },
        );
        let mut buf = [0u8; 2048];
        let n = collector.recv(&mut buf).unwrap();
        let first = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(first.starts_with("<187>1 2026-11-23T17:07:46.123Z mailguard-test mailguard - SMTP_INVALID_COMMAND - %FW-3-"));
        let n = collector.recv(&mut buf).unwrap();
        let second = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(
            second,
            "<188>1 2026-11-23T17:07:46.124Z mailguard-test mailguard - UNBLOCK_HOST - \
             %FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked"
        );
        assert_eq!(sender.sent(), 2);
        assert_eq!(sender.errors(), 0);
    }

    #[test]
    fn unresolvable_target_is_an_error() {
        assert!(SyslogSender::connect("no-port-here", "h", 6).is_err());
    }
}
