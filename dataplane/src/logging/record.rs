//! Every message the dataplane logs, as plain fixed-size data, and its exact
//! IOS text.
//!
//! Workers build a [`LogRecord`] on the packet path without allocating or
//! formatting (it is `Copy`, no `String` inside); the logger thread turns it
//! into text with [`LogRecord`]'s `Display` (`%FAC-SEV-MNEMONIC: text`, or the
//! bare `CBAC …` line for debug records). The texts are those of
//! `smtp-inspection.md` §7.4/§8/§10/§11/§13, `cbac-sessions.md` §7.2–7.3/§10.2/§12
//! and `config-and-nat.md` §3.2; the tests at the bottom reproduce every log
//! line quoted in `seed-scenario.md`.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::debug::DebugCategory;

/// Bytes copied from the wire (an SMTP verb, a parameter token), truncated to
/// `N` bytes, printed with every non-printable byte as `.`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WireToken<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> WireToken<N> {
    /// Copies at most `N` (and at most 255) bytes of `src`.
    pub fn new(src: &[u8]) -> Self {
        let len = src.len().min(N).min(usize::from(u8::MAX));
        let mut bytes = [0u8; N];
        bytes[..len].copy_from_slice(&src[..len]);
        WireToken {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl<const N: usize> fmt::Display for WireToken<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for &b in self.as_bytes() {
            let c = if (0x20..=0x7e).contains(&b) {
                b as char
            } else {
                '.'
            };
            f.write_char(c)?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for WireToken<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireToken({self})")
    }
}

/// The SMTP verb as received (`smtp-inspection.md` §13: `Invalid SMTP command (%s)`).
pub type VerbToken = WireToken<16>;
/// The offending ESMTP parameter token, max 64 bytes (§13).
pub type ParameterToken = WireToken<64>;

/// An IOS interface name (`Ethernet2/0`), copied into a record; longer names
/// are truncated.
pub type InterfaceName = WireToken<32>;

/// The hard-coded SMTP signatures of `smtp-inspection.md` §10.1 (F1–F6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmtpSignature {
    /// F1, 3101: `|` in the `RCPT TO:` argument.
    SendmailBadTo,
    /// F2, 3102: `|` in the `MAIL FROM:` argument.
    SendmailBadFrom,
    /// F3, 3104: `WIZ` / `DEBUG`.
    SendmailOld,
    /// F4, 3105: mail to `decode` / `uudecode`.
    SendmailDecode,
    /// F5, 3107: back-quote in `Reply-To:`.
    MajordomoExec,
    /// F6: overlong command line.
    SendmailInvalidCommand,
}

impl SmtpSignature {
    pub const ALL: [SmtpSignature; 6] = [
        SmtpSignature::SendmailBadTo,
        SmtpSignature::SendmailBadFrom,
        SmtpSignature::SendmailOld,
        SmtpSignature::SendmailDecode,
        SmtpSignature::MajordomoExec,
        SmtpSignature::SendmailInvalidCommand,
    ];

    pub fn kind(self) -> LogKind {
        match self {
            SmtpSignature::SendmailBadTo => LogKind::TcpSendmailBadToSig,
            SmtpSignature::SendmailBadFrom => LogKind::TcpSendmailBadFromSig,
            SmtpSignature::SendmailOld => LogKind::TcpSendmailOldSig,
            SmtpSignature::SendmailDecode => LogKind::TcpSendmailDecode,
            SmtpSignature::MajordomoExec => LogKind::TcpMajordomoExecBug,
            SmtpSignature::SendmailInvalidCommand => LogKind::TcpSendmailInvalidCommand,
        }
    }

    /// The signature title printed before ` - from …`.
    pub fn title(self) -> &'static str {
        match self {
            SmtpSignature::SendmailBadTo => "Sendmail Invalid Recipient",
            SmtpSignature::SendmailBadFrom => "Sendmail Invalid Sender",
            SmtpSignature::SendmailOld => "Archaic Sendmail Attacks",
            SmtpSignature::SendmailDecode => "Sendmail Decode Alias",
            SmtpSignature::MajordomoExec => "Majordomo Execute Attack",
            SmtpSignature::SendmailInvalidCommand => "Invalid SMTP command",
        }
    }
}

/// `permitted` / `denied` in the access-list log (`config-and-nat.md` §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessListAction {
    Permitted,
    Denied,
}

/// The packet an access-list log line describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessListPacket {
    /// `%SEC-6-IPACCESSLOGP: … tcp S(sp) -> D(dp), …`
    Tcp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
    },
    /// `%SEC-6-IPACCESSLOGP: … udp S(sp) -> D(dp), …`
    Udp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
    },
    /// `%SEC-6-IPACCESSLOGDP: … icmp S -> D (type/code), …`
    Icmp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        icmp_type: u8,
        code: u8,
    },
    /// `%SEC-6-IPACCESSLOGNP: … <proto> S -> D, …` (any other IP protocol).
    Other {
        protocol: u8,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
}

/// Every message the dataplane emits. Plain `Copy` data; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRecord {
    /// `%FW-6-SESS_AUDIT_TRAIL` (`cbac-sessions.md` §10.2). `protocol` is the
    /// inspection keyword (`smtp`, `tcp`, `ftp-data`, …); ICMP prints port 0.
    SessAuditTrail {
        protocol: &'static str,
        initiator: SocketAddrV4,
        responder: SocketAddrV4,
        initiator_bytes: u64,
        responder_bytes: u64,
    },
    /// `%FW-4-ALERT_ON` (§7.2): `count (H/max_incomplete_high) current 1-min rate: R`.
    AlertOn { count: u64, high: u64, rate: u64 },
    /// `%FW-4-ALERT_OFF` (§7.2): `count (H/max_incomplete_low) current 1-min rate: R`.
    AlertOff { count: u64, low: u64, rate: u64 },
    /// `%FW-4-HOST_TCP_ALERT_ON` (§7.3).
    HostTcpAlertOn { limit: u64, host: Ipv4Addr },
    /// `%FW-2-BLOCK_HOST` (§7.3).
    BlockHost {
        host: Ipv4Addr,
        minutes: u64,
        limit: u64,
    },
    /// `%FW-4-UNBLOCK_HOST` (§7.3).
    UnblockHost { host: Ipv4Addr },
    /// `%FW-3-SMTP_INVALID_COMMAND` (`smtp-inspection.md` §13); `total` = line
    /// length including its terminator.
    SmtpInvalidCommand {
        verb: VerbToken,
        total: u32,
        initiator: SocketAddrV4,
    },
    /// `%FW-3-SMTP_INVALID_PARAMETER` (§13).
    SmtpInvalidParameter {
        token: ParameterToken,
        initiator: SocketAddrV4,
    },
    /// The six `%FW-4-TCP_*` signature messages (§10.1); addresses are client →
    /// server on the initiating interface.
    SmtpSignature {
        signature: SmtpSignature,
        client: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// `%IDS-4-SMTP_SIG: Sig:<id>:<title> - from C to S` (§10.2).
    IdsSmtpSignature {
        sig_id: u16,
        title: &'static str,
        client: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// `%FW-4-SMTP_MAX_DATA` (§8).
    SmtpMaxData { initiator: SocketAddrV4, limit: u64 },
    /// `%FW-6-SMTP_TLS_STARTED` (§7.4).
    SmtpTlsStarted { initiator: SocketAddrV4 },
    /// `%FW-4-TCP_OoO_SEG` (§11 rule 1).
    TcpOutOfOrderSegment {
        seq: u32,
        len: u32,
        expected: u32,
        initiator: SocketAddrV4,
        responder: SocketAddrV4,
    },
    /// `%FW-4-TCP_OVERLAP_MISMATCH` (§11 rule 2).
    TcpOverlapMismatch {
        initiator: SocketAddrV4,
        responder: SocketAddrV4,
    },
    /// `%SEC-6-IPACCESSLOG{P,DP,NP}` (`config-and-nat.md` §3.2).
    AccessList {
        list: u16,
        action: AccessListAction,
        packet: AccessListPacket,
        count: u32,
    },
    /// `%FW-4-SESSION_THRESHOLD_EXCEEDED` (`cbac-sessions.md` Q5, PROPOSED text):
    /// the session table is full and a new session was refused.
    SessionThresholdExceeded {
        limit: u32,
        initiator: SocketAddrV4,
        responder: SocketAddrV4,
    },
    /// `%IP_VFR-4-FRAG_TABLE_OVERFLOW` (`cbac-sessions.md` §8.3, PROPOSED
    /// text): the interface's virtual-reassembly table is full (once per
    /// episode of fullness).
    VfrTableOverflow { interface: InterfaceName },
    /// `%IP_VFR-4-TOO_MANY_FRAGMENTS` (§8.3, PROPOSED text): a datagram with
    /// more than `max-fragments` fragments was dropped.
    VfrTooManyFragments {
        interface: InterfaceName,
        max_fragments: u32,
        source: Ipv4Addr,
    },
    /// A `debug ip inspect …` line (`cbac-sessions.md` §12).
    Debug(DebugRecord),
    /// The firewall's own events (`%SYS-…`): start, configuration changes,
    /// a stalled worker, stop.
    System(SystemEvent),
}

/// How a configuration change arrived (`%SYS-5-CONFIG_I`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigVia {
    /// `mailguard configure "LINE"` on the control socket.
    ControlSocket,
    /// The configuration file, reloaded on SIGHUP.
    File,
}

impl ConfigVia {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigVia::ControlSocket => "control socket",
            ConfigVia::File => "configuration file",
        }
    }
}

/// The firewall's own events, in IOS `%SYS` style (PROPOSED texts: IOS logs
/// `%SYS-5-CONFIG_I: Configured from console by …` and `%SYS-5-RESTART`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemEvent {
    /// `%SYS-5-RESTART: System restarted -- mailguard, W worker(s) on P port(s)`.
    Started { workers: u16, ports: u8 },
    /// `%SYS-5-CONFIG_I: Configured from VIA (generation N)`.
    Configured { via: ConfigVia, generation: u64 },
    /// `%SYS-3-CONFIG_FAILED: Configuration reload rejected (N error(s)),
    /// running configuration kept`.
    ReloadRejected { errors: u32 },
    /// `%SYS-2-WORKER_STALLED: Worker W stopped processing packets; stopping`.
    WorkerStalled { worker: u16 },
    /// `%SYS-5-SHUTDOWN: mailguard stopping`.
    Stopping,
}

impl SystemEvent {
    pub fn kind(self) -> LogKind {
        match self {
            SystemEvent::Started { .. } => LogKind::SysRestart,
            SystemEvent::Configured { .. } => LogKind::SysConfigured,
            SystemEvent::ReloadRejected { .. } => LogKind::SysConfigFailed,
            SystemEvent::WorkerStalled { .. } => LogKind::SysWorkerStalled,
            SystemEvent::Stopping => LogKind::SysShutdown,
        }
    }
}

impl fmt::Display for SystemEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SystemEvent::Started { workers, ports } => write!(
                f,
                "System restarted -- mailguard, {workers} worker(s) on {ports} port(s)"
            ),
            SystemEvent::Configured { via, generation } => write!(
                f,
                "Configured from {} (generation {generation})",
                via.as_str()
            ),
            SystemEvent::ReloadRejected { errors } => write!(
                f,
                "Configuration reload rejected ({errors} error(s)), running configuration kept"
            ),
            SystemEvent::WorkerStalled { worker } => {
                write!(f, "Worker {worker} stopped processing packets; stopping")
            }
            SystemEvent::Stopping => f.write_str("mailguard stopping"),
        }
    }
}

/// Which CBAC timer a debug line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    Synwait,
    Idle,
    Finwait,
    Dns,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Synwait => "synwait",
            TimerKind::Idle => "idle",
            TimerKind::Finwait => "finwait",
            TimerKind::Dns => "dns-timeout",
        }
    }
}

/// What happened to the timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    Init,
    Stop,
    Expired,
}

impl TimerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerAction::Init => "Init",
            TimerAction::Stop => "Stop",
            TimerAction::Expired => "Expired",
        }
    }
}

/// The L4 protocol of an `L4 inspect result` debug line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Protocol {
    Tcp,
    Udp,
    Icmp,
}

/// Why a half-open session was deleted (`cbac-sessions.md` §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfOpenDeleteReason {
    Synwait,
    Aggressive,
    Host,
    Block,
}

impl HalfOpenDeleteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HalfOpenDeleteReason::Synwait => "synwait",
            HalfOpenDeleteReason::Aggressive => "aggressive",
            HalfOpenDeleteReason::Host => "host",
            HalfOpenDeleteReason::Block => "block",
        }
    }
}

/// A preformatted debug line (the SMTP engine's `CBAC SMTP: …` lines,
/// `smtp-inspection.md` §12.3), in a fixed buffer; longer text is truncated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DebugLine {
    category: DebugCategory,
    bytes: [u8; DebugLine::CAPACITY],
    len: u8,
}

impl DebugLine {
    pub const CAPACITY: usize = 120;

    /// Formats `args` into the buffer without allocating:
    /// `DebugLine::format(DebugCategory::Smtp, format_args!("CBAC SMTP: VERB - match id:{}", 5))`.
    pub fn format(category: DebugCategory, args: fmt::Arguments<'_>) -> Self {
        let mut line = DebugLine {
            category,
            bytes: [0; Self::CAPACITY],
            len: 0,
        };
        // Truncation is reported as fmt::Error by `write_str`; the text
        // written so far is kept, which is what we want.
        let _ = fmt::write(&mut line, args);
        line
    }

    /// Copies a line of bytes (non-printables shown as `.`).
    pub fn from_bytes(category: DebugCategory, text: &[u8]) -> Self {
        let len = text.len().min(Self::CAPACITY);
        let mut bytes = [0u8; Self::CAPACITY];
        for (dst, &b) in bytes.iter_mut().zip(&text[..len]) {
            *dst = if (0x20..=0x7e).contains(&b) { b } else { b'.' };
        }
        DebugLine {
            category,
            bytes,
            len: len as u8,
        }
    }

    pub fn category(&self) -> DebugCategory {
        self.category
    }

    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 sequences are ever copied in (see `write_str`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Write for DebugLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let used = usize::from(self.len);
        let room = Self::CAPACITY - used;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[used..used + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len = (used + take) as u8;
        if take < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for DebugLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebugLine({:?}, {:?})", self.category, self.as_str())
    }
}

/// `debug ip inspect …` output (`cbac-sessions.md` §12, PROPOSED formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugRecord {
    /// object-creation.
    ObjectCreate {
        sis: u32,
        initiator: SocketAddrV4,
        responder: SocketAddrV4,
        initiator_alt: SocketAddrV4,
        responder_alt: SocketAddrV4,
    },
    /// object-deletion.
    ObjectDelete { sis: u32 },
    /// timers.
    Timer {
        sis: u32,
        action: TimerAction,
        timer: TimerKind,
    },
    /// tcp / udp / icmp: the L4 verdict of one packet. `tcp_flags` is the TCP
    /// flags byte (ignored for UDP/ICMP).
    L4Result {
        sis: u32,
        protocol: L4Protocol,
        pass: bool,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        bytes: u32,
        tcp_flags: u8,
    },
    /// events: aggressive mode on/off.
    AggressiveMode { on: bool },
    /// events: a host blocked / unblocked.
    HostBlock { host: Ipv4Addr, blocked: bool },
    /// events: a half-open session deleted by a protection.
    HalfOpenDeleted {
        sis: u32,
        reason: HalfOpenDeleteReason,
    },
    /// A preformatted line (SMTP engine).
    Line(DebugLine),
}

impl DebugRecord {
    /// The `debug ip inspect` word that turns this line on.
    pub fn category(&self) -> DebugCategory {
        match self {
            DebugRecord::ObjectCreate { .. } => DebugCategory::ObjectCreation,
            DebugRecord::ObjectDelete { .. } => DebugCategory::ObjectDeletion,
            DebugRecord::Timer { .. } => DebugCategory::Timers,
            DebugRecord::L4Result { protocol, .. } => match protocol {
                L4Protocol::Tcp => DebugCategory::Tcp,
                L4Protocol::Udp => DebugCategory::Udp,
                L4Protocol::Icmp => DebugCategory::Icmp,
            },
            DebugRecord::AggressiveMode { .. }
            | DebugRecord::HostBlock { .. }
            | DebugRecord::HalfOpenDeleted { .. } => DebugCategory::Events,
            DebugRecord::Line(line) => line.category(),
        }
    }
}

/// `(i:p)` as IOS prints an address and port.
struct Endpoint(SocketAddrV4);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}:{})", self.0.ip(), self.0.port())
    }
}

/// TCP flag names in header bit order, for debug lines.
const TCP_FLAG_NAMES: [(u8, &str); 8] = [
    (0x02, "SYN"),
    (0x10, "ACK"),
    (0x01, "FIN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
];

impl fmt::Display for DebugRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DebugRecord::ObjectCreate {
                sis,
                initiator,
                responder,
                initiator_alt,
                responder_alt,
            } => write!(
                f,
                "CBAC OBJ_CREATE: sis {sis:08X} initiator_addr {} responder_addr {} \
                 initiator_alt_addr {} responder_alt_addr {}",
                Endpoint(initiator),
                Endpoint(responder),
                Endpoint(initiator_alt),
                Endpoint(responder_alt)
            ),
            DebugRecord::ObjectDelete { sis } => write!(f, "CBAC OBJ_DELETE: delete sis {sis:08X}"),
            DebugRecord::Timer { sis, action, timer } => write!(
                f,
                "CBAC Timer {}: sis {sis:08X} timer {}",
                action.as_str(),
                timer.as_str()
            ),
            DebugRecord::L4Result {
                sis,
                protocol,
                pass,
                src,
                dst,
                bytes,
                tcp_flags,
            } => {
                write!(
                    f,
                    "CBAC sis {sis:08X} L4 inspect result: {} packet {} {} bytes {bytes}",
                    if pass { "PASS" } else { "DROP" },
                    Endpoint(src),
                    Endpoint(dst)
                )?;
                match protocol {
                    L4Protocol::Tcp => {
                        let mut sep = " ";
                        for (bit, name) in TCP_FLAG_NAMES {
                            if tcp_flags & bit != 0 {
                                write!(f, "{sep}{name}")?;
                                sep = "|";
                            }
                        }
                        Ok(())
                    }
                    L4Protocol::Udp => f.write_str(" udp"),
                    L4Protocol::Icmp => f.write_str(" icmp"),
                }
            }
            DebugRecord::AggressiveMode { on } => {
                write!(f, "CBAC: aggressive mode {}", if on { "on" } else { "off" })
            }
            DebugRecord::HostBlock { host, blocked } => write!(
                f,
                "CBAC: host {host} {}",
                if blocked { "blocked" } else { "unblocked" }
            ),
            DebugRecord::HalfOpenDeleted { sis, reason } => write!(
                f,
                "CBAC: half-open session sis {sis:08X} deleted ({})",
                reason.as_str()
            ),
            DebugRecord::Line(ref line) => f.write_str(line.as_str()),
        }
    }
}

/// The message type of a record: the unit of rate limiting, of the "alerts by
/// kind" metric, and the syslog MSGID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    SessAuditTrail,
    AlertOn,
    AlertOff,
    HostTcpAlertOn,
    BlockHost,
    UnblockHost,
    SmtpInvalidCommand,
    SmtpInvalidParameter,
    TcpSendmailBadToSig,
    TcpSendmailBadFromSig,
    TcpSendmailOldSig,
    TcpSendmailDecode,
    TcpMajordomoExecBug,
    TcpSendmailInvalidCommand,
    IdsSmtpSig,
    SmtpMaxData,
    SmtpTlsStarted,
    TcpOutOfOrderSegment,
    TcpOverlapMismatch,
    AccessListLogP,
    AccessListLogDp,
    AccessListLogNp,
    SessionThresholdExceeded,
    VfrFragTableOverflow,
    VfrTooManyFragments,
    Debug,
    SysRestart,
    SysConfigured,
    SysConfigFailed,
    SysWorkerStalled,
    SysShutdown,
}

/// IOS syslog severities used here (RFC 5424 numbering is the same).
pub mod severity {
    pub const CRITICAL: u8 = 2;
    pub const ERROR: u8 = 3;
    pub const WARNING: u8 = 4;
    pub const NOTICE: u8 = 5;
    pub const INFORMATIONAL: u8 = 6;
    pub const DEBUGGING: u8 = 7;
}

impl LogKind {
    pub const COUNT: usize = 31;
    pub const ALL: [LogKind; LogKind::COUNT] = [
        LogKind::SessAuditTrail,
        LogKind::AlertOn,
        LogKind::AlertOff,
        LogKind::HostTcpAlertOn,
        LogKind::BlockHost,
        LogKind::UnblockHost,
        LogKind::SmtpInvalidCommand,
        LogKind::SmtpInvalidParameter,
        LogKind::TcpSendmailBadToSig,
        LogKind::TcpSendmailBadFromSig,
        LogKind::TcpSendmailOldSig,
        LogKind::TcpSendmailDecode,
        LogKind::TcpMajordomoExecBug,
        LogKind::TcpSendmailInvalidCommand,
        LogKind::IdsSmtpSig,
        LogKind::SmtpMaxData,
        LogKind::SmtpTlsStarted,
        LogKind::TcpOutOfOrderSegment,
        LogKind::TcpOverlapMismatch,
        LogKind::AccessListLogP,
        LogKind::AccessListLogDp,
        LogKind::AccessListLogNp,
        LogKind::SessionThresholdExceeded,
        LogKind::VfrFragTableOverflow,
        LogKind::VfrTooManyFragments,
        LogKind::Debug,
        LogKind::SysRestart,
        LogKind::SysConfigured,
        LogKind::SysConfigFailed,
        LogKind::SysWorkerStalled,
        LogKind::SysShutdown,
    ];

    /// Position in [`LogKind::ALL`] (dense, for counter arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    /// `(facility, severity, mnemonic)`.
    pub fn mnemonic(self) -> (&'static str, u8, &'static str) {
        use severity::*;
        match self {
            LogKind::SessAuditTrail => ("FW", INFORMATIONAL, "SESS_AUDIT_TRAIL"),
            LogKind::AlertOn => ("FW", WARNING, "ALERT_ON"),
            LogKind::AlertOff => ("FW", WARNING, "ALERT_OFF"),
            LogKind::HostTcpAlertOn => ("FW", WARNING, "HOST_TCP_ALERT_ON"),
            LogKind::BlockHost => ("FW", CRITICAL, "BLOCK_HOST"),
            LogKind::UnblockHost => ("FW", WARNING, "UNBLOCK_HOST"),
            LogKind::SmtpInvalidCommand => ("FW", ERROR, "SMTP_INVALID_COMMAND"),
            LogKind::SmtpInvalidParameter => ("FW", ERROR, "SMTP_INVALID_PARAMETER"),
            LogKind::TcpSendmailBadToSig => ("FW", WARNING, "TCP_SENDMAIL_BAD_TO_SIG"),
            LogKind::TcpSendmailBadFromSig => ("FW", WARNING, "TCP_SENDMAIL_BAD_FROM_SIG"),
            LogKind::TcpSendmailOldSig => ("FW", WARNING, "TCP_SENDMAIL_OLD_SIG"),
            LogKind::TcpSendmailDecode => ("FW", WARNING, "TCP_SENDMAIL_DECODE"),
            LogKind::TcpMajordomoExecBug => ("FW", WARNING, "TCP_MAJORDOMO_EXEC_BUG"),
            LogKind::TcpSendmailInvalidCommand => ("FW", WARNING, "TCP_SENDMAIL_INVALID_COMMAND"),
            LogKind::IdsSmtpSig => ("IDS", WARNING, "SMTP_SIG"),
            LogKind::SmtpMaxData => ("FW", WARNING, "SMTP_MAX_DATA"),
            LogKind::SmtpTlsStarted => ("FW", INFORMATIONAL, "SMTP_TLS_STARTED"),
            LogKind::TcpOutOfOrderSegment => ("FW", WARNING, "TCP_OoO_SEG"),
            LogKind::TcpOverlapMismatch => ("FW", WARNING, "TCP_OVERLAP_MISMATCH"),
            LogKind::AccessListLogP => ("SEC", INFORMATIONAL, "IPACCESSLOGP"),
            LogKind::AccessListLogDp => ("SEC", INFORMATIONAL, "IPACCESSLOGDP"),
            LogKind::AccessListLogNp => ("SEC", INFORMATIONAL, "IPACCESSLOGNP"),
            LogKind::SessionThresholdExceeded => ("FW", WARNING, "SESSION_THRESHOLD_EXCEEDED"),
            LogKind::VfrFragTableOverflow => ("IP_VFR", WARNING, "FRAG_TABLE_OVERFLOW"),
            LogKind::VfrTooManyFragments => ("IP_VFR", WARNING, "TOO_MANY_FRAGMENTS"),
            LogKind::Debug => ("CBAC", DEBUGGING, "DEBUG"),
            LogKind::SysRestart => ("SYS", NOTICE, "RESTART"),
            LogKind::SysConfigured => ("SYS", NOTICE, "CONFIG_I"),
            LogKind::SysConfigFailed => ("SYS", ERROR, "CONFIG_FAILED"),
            LogKind::SysWorkerStalled => ("SYS", CRITICAL, "WORKER_STALLED"),
            LogKind::SysShutdown => ("SYS", NOTICE, "SHUTDOWN"),
        }
    }

    pub fn severity(self) -> u8 {
        self.mnemonic().1
    }

    /// `FW-3-SMTP_INVALID_COMMAND` (the metric label and the syslog MSGID
    /// use the mnemonic alone).
    pub fn name(self) -> &'static str {
        self.mnemonic().2
    }

    /// Whether the global rate limit (100/s) applies. Half-open alerts are
    /// logged once per transition and audit-trail lines once per session
    /// (`cbac-sessions.md` §7.5, §10.2), so they are not limited; debug lines
    /// have their own, larger budget.
    pub fn globally_limited(self) -> bool {
        !matches!(
            self,
            LogKind::SessAuditTrail
                | LogKind::AlertOn
                | LogKind::AlertOff
                | LogKind::HostTcpAlertOn
                | LogKind::BlockHost
                | LogKind::UnblockHost
                | LogKind::Debug
                | LogKind::SysRestart
                | LogKind::SysConfigured
                | LogKind::SysConfigFailed
                | LogKind::SysWorkerStalled
                | LogKind::SysShutdown
        )
    }

    /// The per-session rate-limit slot (`smtp-inspection.md` §13: one per
    /// second per session per message type), or `None` for messages that are
    /// not about one session's traffic. The six signature messages and the
    /// IDS message share one slot: each closes (or at most flags) the session.
    pub fn session_slot(self) -> Option<usize> {
        match self {
            LogKind::SmtpInvalidCommand => Some(0),
            LogKind::SmtpInvalidParameter => Some(1),
            LogKind::TcpSendmailBadToSig
            | LogKind::TcpSendmailBadFromSig
            | LogKind::TcpSendmailOldSig
            | LogKind::TcpSendmailDecode
            | LogKind::TcpMajordomoExecBug
            | LogKind::TcpSendmailInvalidCommand
            | LogKind::IdsSmtpSig => Some(2),
            LogKind::SmtpMaxData => Some(3),
            LogKind::SmtpTlsStarted => Some(4),
            LogKind::TcpOutOfOrderSegment => Some(5),
            LogKind::TcpOverlapMismatch => Some(6),
            _ => None,
        }
    }
}

/// Number of distinct [`LogKind::session_slot`] values.
pub const SESSION_SLOTS: usize = 7;

impl LogRecord {
    pub fn kind(&self) -> LogKind {
        match self {
            LogRecord::SessAuditTrail { .. } => LogKind::SessAuditTrail,
            LogRecord::AlertOn { .. } => LogKind::AlertOn,
            LogRecord::AlertOff { .. } => LogKind::AlertOff,
            LogRecord::HostTcpAlertOn { .. } => LogKind::HostTcpAlertOn,
            LogRecord::BlockHost { .. } => LogKind::BlockHost,
            LogRecord::UnblockHost { .. } => LogKind::UnblockHost,
            LogRecord::SmtpInvalidCommand { .. } => LogKind::SmtpInvalidCommand,
            LogRecord::SmtpInvalidParameter { .. } => LogKind::SmtpInvalidParameter,
            LogRecord::SmtpSignature { signature, .. } => signature.kind(),
            LogRecord::IdsSmtpSignature { .. } => LogKind::IdsSmtpSig,
            LogRecord::SmtpMaxData { .. } => LogKind::SmtpMaxData,
            LogRecord::SmtpTlsStarted { .. } => LogKind::SmtpTlsStarted,
            LogRecord::TcpOutOfOrderSegment { .. } => LogKind::TcpOutOfOrderSegment,
            LogRecord::TcpOverlapMismatch { .. } => LogKind::TcpOverlapMismatch,
            LogRecord::AccessList { packet, .. } => match packet {
                AccessListPacket::Tcp { .. } | AccessListPacket::Udp { .. } => {
                    LogKind::AccessListLogP
                }
                AccessListPacket::Icmp { .. } => LogKind::AccessListLogDp,
                AccessListPacket::Other { .. } => LogKind::AccessListLogNp,
            },
            LogRecord::SessionThresholdExceeded { .. } => LogKind::SessionThresholdExceeded,
            LogRecord::VfrTableOverflow { .. } => LogKind::VfrFragTableOverflow,
            LogRecord::VfrTooManyFragments { .. } => LogKind::VfrTooManyFragments,
            LogRecord::Debug(_) => LogKind::Debug,
            LogRecord::System(e) => e.kind(),
        }
    }

    /// The `debug ip inspect` word that gates this record, if it is a debug line.
    pub fn debug_category(&self) -> Option<DebugCategory> {
        match self {
            LogRecord::Debug(d) => Some(d.category()),
            _ => None,
        }
    }

    fn write_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LogRecord::SessAuditTrail {
                protocol,
                initiator,
                responder,
                initiator_bytes,
                responder_bytes,
            } => write!(
                f,
                "{protocol} session initiator {} sent {initiator_bytes} bytes -- \
                 responder {} sent {responder_bytes} bytes",
                Endpoint(initiator),
                Endpoint(responder)
            ),
            LogRecord::AlertOn { count, high, rate } => write!(
                f,
                "getting aggressive, count ({count}/{high}) current 1-min rate: {rate}"
            ),
            LogRecord::AlertOff { count, low, rate } => write!(
                f,
                "calming down, count ({count}/{low}) current 1-min rate: {rate}"
            ),
            LogRecord::HostTcpAlertOn { limit, host } => write!(
                f,
                "Max tcp half-open connections ({limit}) exceeded for host {host}."
            ),
            LogRecord::BlockHost {
                host,
                minutes,
                limit,
            } => write!(
                f,
                "Blocking new TCP connections to host {host} for {minutes} minute{} \
                 (half-open count {limit} exceeded).",
                if minutes == 1 { "" } else { "s" }
            ),
            LogRecord::UnblockHost { host } => {
                write!(f, "New TCP connections to host {host} no longer blocked")
            }
            LogRecord::SmtpInvalidCommand {
                ref verb,
                total,
                initiator,
            } => write!(
                f,
                "Invalid SMTP command ({verb}) (total {total} chars) from initiator {}",
                Endpoint(initiator)
            ),
            LogRecord::SmtpInvalidParameter {
                ref token,
                initiator,
            } => write!(
                f,
                "Invalid SMTP parameter ({token}) from initiator {}",
                Endpoint(initiator)
            ),
            LogRecord::SmtpSignature {
                signature,
                client,
                server,
            } => match signature {
                SmtpSignature::SendmailInvalidCommand => {
                    write!(f, "{} - {client} to {server}", signature.title())
                }
                _ => write!(f, "{} - from {client} to {server}", signature.title()),
            },
            LogRecord::IdsSmtpSignature {
                sig_id,
                title,
                client,
                server,
            } => write!(f, "Sig:{sig_id}:{title} - from {client} to {server}"),
            LogRecord::SmtpMaxData { initiator, limit } => write!(
                f,
                "SMTP session initiator {} exceeded max-data ({limit} bytes), session closed",
                Endpoint(initiator)
            ),
            LogRecord::SmtpTlsStarted { initiator } => write!(
                f,
                "TLS negotiated, SMTP inspection stopped for initiator {}",
                Endpoint(initiator)
            ),
            LogRecord::TcpOutOfOrderSegment {
                seq,
                len,
                expected,
                initiator,
                responder,
            } => write!(
                f,
                "Dropping TCP Segment: seq:{seq} {len} bytes is out-of-order; \
                 expected seq:{expected}. Reason: TCP reassembly queue overflow - \
                 session {initiator} to {responder}"
            ),
            LogRecord::TcpOverlapMismatch {
                initiator,
                responder,
            } => write!(
                f,
                "Retransmitted data differs from original - session {initiator} to {responder}"
            ),
            LogRecord::AccessList {
                list,
                action,
                packet,
                count,
            } => {
                let action = match action {
                    AccessListAction::Permitted => "permitted",
                    AccessListAction::Denied => "denied",
                };
                write!(f, "list {list} {action} ")?;
                match packet {
                    AccessListPacket::Tcp { src, dst } | AccessListPacket::Udp { src, dst } => {
                        let proto = if matches!(packet, AccessListPacket::Tcp { .. }) {
                            "tcp"
                        } else {
                            "udp"
                        };
                        write!(
                            f,
                            "{proto} {}({}) -> {}({})",
                            src.ip(),
                            src.port(),
                            dst.ip(),
                            dst.port()
                        )?;
                    }
                    AccessListPacket::Icmp {
                        src,
                        dst,
                        icmp_type,
                        code,
                    } => write!(f, "icmp {src} -> {dst} ({icmp_type}/{code})")?,
                    AccessListPacket::Other { protocol, src, dst } => {
                        write!(f, "{protocol} {src} -> {dst}")?
                    }
                }
                write!(f, ", {count} packet{}", if count == 1 { "" } else { "s" })
            }
            LogRecord::SessionThresholdExceeded {
                limit,
                initiator,
                responder,
            } => write!(
                f,
                "Session table full ({limit} sessions), new session {}=>{} refused",
                Endpoint(initiator),
                Endpoint(responder)
            ),
            LogRecord::VfrTableOverflow { interface } => {
                write!(f, "{interface}: the virtual reassembly table is full")
            }
            LogRecord::VfrTooManyFragments {
                interface,
                max_fragments,
                source,
            } => write!(
                f,
                "{interface}: Too many fragments per datagram (more than {max_fragments}) - \
                 sent by {source}"
            ),
            LogRecord::Debug(ref d) => fmt::Display::fmt(d, f),
            LogRecord::System(ref e) => fmt::Display::fmt(e, f),
        }
    }
}

/// `%FAC-SEV-MNEMONIC: text`, or the bare line for debug records; the
/// timestamp prefix is added by [`super::format_line`].
impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        if kind != LogKind::Debug {
            let (facility, severity, mnemonic) = kind.mnemonic();
            write!(f, "%{facility}-{severity}-{mnemonic}: ")?;
        }
        self.write_text(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `%IP_VFR-4-…` texts of `cbac-sessions.md` §8.3, identical to what
    /// the reassembly table's own events render.
    #[test]
    fn vfr_texts() {
        use crate::reassembly::VfrEvent;
        use crate::routing::IfIndex;
        let interface = InterfaceName::new(b"Ethernet2/0");
        let r = LogRecord::VfrTableOverflow { interface };
        assert_eq!(
            r.to_string(),
            "%IP_VFR-4-FRAG_TABLE_OVERFLOW: Ethernet2/0: the virtual reassembly table is full"
        );
        assert_eq!(
            r.to_string(),
            VfrEvent::TableOverflow { iface: IfIndex(0) }.message("Ethernet2/0")
        );
        let source = Ipv4Addr::new(198, 51, 100, 7);
        let r = LogRecord::VfrTooManyFragments {
            interface,
            max_fragments: 32,
            source,
        };
        assert_eq!(
            r.to_string(),
            "%IP_VFR-4-TOO_MANY_FRAGMENTS: Ethernet2/0: Too many fragments per datagram \
             (more than 32) - sent by 198.51.100.7"
        );
        let ev = VfrEvent::TooManyFragments {
            iface: IfIndex(0),
            max_fragments: 32,
            source,
        };
        assert_eq!(r.to_string(), ev.message("Ethernet2/0"));
        assert_eq!(r.kind().severity(), 4);
        assert!(r.kind().globally_limited());
        assert_eq!(LogKind::ALL[r.kind().index()], r.kind());
    }

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    const C: &str = "198.51.100.7";
    const S: &str = "172.22.1.110";

    /// seed-scenario.md B7.
    #[test]
    fn b7_audit_trail() {
        let r = LogRecord::SessAuditTrail {
            protocol: "smtp",
            initiator: sa("198.51.100.7:40007"),
            responder: sa("172.22.1.110:25"),
            initiator_bytes: 22,
            responder_bytes: 67,
        };
        assert_eq!(
            r.to_string(),
            "%FW-6-SESS_AUDIT_TRAIL: smtp session initiator (198.51.100.7:40007) sent 22 bytes -- responder (172.22.1.110:25) sent 67 bytes"
        );
    }

    /// seed-scenario.md C1, C2.
    #[test]
    fn c1_c2_alert_on_off() {
        let on = LogRecord::AlertOn {
            count: 500,
            high: 500,
            rate: 501,
        };
        assert_eq!(
            on.to_string(),
            "%FW-4-ALERT_ON: getting aggressive, count (500/500) current 1-min rate: 501"
        );
        let on = LogRecord::AlertOn {
            count: 0,
            high: 500,
            rate: 501,
        };
        assert_eq!(
            on.to_string(),
            "%FW-4-ALERT_ON: getting aggressive, count (0/500) current 1-min rate: 501"
        );
        let off = LogRecord::AlertOff {
            count: 0,
            low: 400,
            rate: 0,
        };
        assert_eq!(
            off.to_string(),
            "%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0"
        );
    }

    /// seed-scenario.md C3, C4.
    #[test]
    fn c3_c4_per_host_messages() {
        let r = LogRecord::HostTcpAlertOn {
            limit: 50,
            host: ip(S),
        };
        assert_eq!(
            r.to_string(),
            "%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 172.22.1.110."
        );
        let r = LogRecord::BlockHost {
            host: ip(S),
            minutes: 2,
            limit: 50,
        };
        assert_eq!(
            r.to_string(),
            "%FW-2-BLOCK_HOST: Blocking new TCP connections to host 172.22.1.110 for 2 minutes (half-open count 50 exceeded)."
        );
        let r = LogRecord::BlockHost {
            host: ip(S),
            minutes: 1,
            limit: 50,
        };
        assert!(r.to_string().contains(" for 1 minute (half-open"));
        let r = LogRecord::UnblockHost { host: ip(S) };
        assert_eq!(
            r.to_string(),
            "%FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked"
        );
    }

    /// seed-scenario.md D2, D3, D4, D12, D13, D17.
    #[test]
    fn d2_invalid_command() {
        let cmd = |verb: &[u8], total, port| {
            LogRecord::SmtpInvalidCommand {
                verb: VerbToken::new(verb),
                total,
                initiator: SocketAddrV4::new(ip(C), port),
            }
            .to_string()
        };
        assert_eq!(
            cmd(b"EXPN", 11, 40012),
            "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:40012)"
        );
        assert_eq!(
            cmd(b"eXpN", 11, 40012),
            "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (eXpN) (total 11 chars) from initiator (198.51.100.7:40012)"
        );
        assert!(cmd(b"EHLO", 25, 40013).contains("(EHLO) (total 25 chars)"));
        assert!(cmd(b"HE\0LO", 9, 40014).contains("(HE.LO) (total 9 chars)"));
        assert!(cmd(b"EXPN", 7, 40014).contains("(EXPN) (total 7 chars)"));
        assert!(cmd(b"EXPN", 12, 40021).contains("(EXPN) (total 12 chars)"));
        assert!(cmd(b"Subject:", 12, 1).contains("(Subject:) (total 12 chars)"));
        assert!(cmd(b"STARTTLS", 10, 1).contains("(STARTTLS) (total 10 chars)"));
        // Over-long verbs are cut at 16 bytes; control bytes become dots.
        assert!(cmd(b"ABCDEFGHIJKLMNOPQRSTU", 23, 1).contains("(ABCDEFGHIJKLMNOP) (total"));
        assert!(cmd(b"\x1b[\xff\x7f", 6, 1).contains("(.[..)"));
    }

    /// seed-scenario.md D10, D11, D16.
    #[test]
    fn d10_d11_invalid_parameter() {
        let param = |tok: &[u8], port| {
            LogRecord::SmtpInvalidParameter {
                token: ParameterToken::new(tok),
                initiator: SocketAddrV4::new(ip(C), port),
            }
            .to_string()
        };
        assert_eq!(
            param(b"SMTPUTF8", 40020),
            "%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (SMTPUTF8) from initiator (198.51.100.7:40020)"
        );
        assert!(param(b"NOTIFY=NEVER,DELAY", 1).contains("(NOTIFY=NEVER,DELAY) from"));
        assert!(param(b"SIZE=12ab", 1).contains("(SIZE=12ab) from"));
        assert!(param(b"HELO x", 1).contains("(HELO x) from"));
        let long = [b'A'; 100];
        let text = param(&long, 1);
        assert!(text.contains(&format!("({}) from", "A".repeat(64))));
    }

    /// seed-scenario.md D5, D18.
    #[test]
    fn d5_d18_signatures() {
        let sig = |s| {
            LogRecord::SmtpSignature {
                signature: s,
                client: ip(C),
                server: ip(S),
            }
            .to_string()
        };
        assert_eq!(
            sig(SmtpSignature::SendmailInvalidCommand),
            "%FW-4-TCP_SENDMAIL_INVALID_COMMAND: Invalid SMTP command - 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            sig(SmtpSignature::SendmailBadTo),
            "%FW-4-TCP_SENDMAIL_BAD_TO_SIG: Sendmail Invalid Recipient - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            sig(SmtpSignature::SendmailBadFrom),
            "%FW-4-TCP_SENDMAIL_BAD_FROM_SIG: Sendmail Invalid Sender - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            sig(SmtpSignature::SendmailOld),
            "%FW-4-TCP_SENDMAIL_OLD_SIG: Archaic Sendmail Attacks - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            sig(SmtpSignature::SendmailDecode),
            "%FW-4-TCP_SENDMAIL_DECODE: Sendmail Decode Alias - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            sig(SmtpSignature::MajordomoExec),
            "%FW-4-TCP_MAJORDOMO_EXEC_BUG: Majordomo Execute Attack - from 198.51.100.7 to 172.22.1.110"
        );
        let ids = LogRecord::IdsSmtpSignature {
            sig_id: 3100,
            title: "Smail Attack",
            client: ip(C),
            server: ip(S),
        };
        assert_eq!(
            ids.to_string(),
            "%IDS-4-SMTP_SIG: Sig:3100:Smail Attack - from 198.51.100.7 to 172.22.1.110"
        );
    }

    /// seed-scenario.md D19; smtp-inspection.md §7.4.
    #[test]
    fn d19_max_data_and_tls() {
        let r = LogRecord::SmtpMaxData {
            initiator: sa("198.51.100.7:40031"),
            limit: 1000,
        };
        assert_eq!(
            r.to_string(),
            "%FW-4-SMTP_MAX_DATA: SMTP session initiator (198.51.100.7:40031) exceeded max-data (1000 bytes), session closed"
        );
        let r = LogRecord::SmtpTlsStarted {
            initiator: sa("198.51.100.7:40040"),
        };
        assert_eq!(
            r.to_string(),
            "%FW-6-SMTP_TLS_STARTED: TLS negotiated, SMTP inspection stopped for initiator (198.51.100.7:40040)"
        );
    }

    /// seed-scenario.md D20, D21, D22.
    #[test]
    fn d20_d22_stream_integrity() {
        let r = LogRecord::TcpOverlapMismatch {
            initiator: sa("198.51.100.7:40033"),
            responder: sa("172.22.1.110:25"),
        };
        assert_eq!(
            r.to_string(),
            "%FW-4-TCP_OVERLAP_MISMATCH: Retransmitted data differs from original - session 198.51.100.7:40033 to 172.22.1.110:25"
        );
        let r = LogRecord::TcpOutOfOrderSegment {
            seq: 1_000_100,
            len: 10,
            expected: 1_000_000,
            initiator: sa("198.51.100.7:40035"),
            responder: sa("172.22.1.110:25"),
        };
        assert_eq!(
            r.to_string(),
            "%FW-4-TCP_OoO_SEG: Dropping TCP Segment: seq:1000100 10 bytes is out-of-order; expected seq:1000000. Reason: TCP reassembly queue overflow - session 198.51.100.7:40035 to 172.22.1.110:25"
        );
    }

    /// config-and-nat.md §3.2.
    #[test]
    fn access_list_log_lines() {
        let r = LogRecord::AccessList {
            list: 101,
            action: AccessListAction::Denied,
            packet: AccessListPacket::Tcp {
                src: sa("198.51.100.7:40000"),
                dst: sa("172.22.1.110:80"),
            },
            count: 1,
        };
        assert_eq!(
            r.to_string(),
            "%SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.7(40000) -> 172.22.1.110(80), 1 packet"
        );
        let r = LogRecord::AccessList {
            list: 102,
            action: AccessListAction::Permitted,
            packet: AccessListPacket::Udp {
                src: sa("10.10.10.5:53000"),
                dst: sa("192.0.2.53:53"),
            },
            count: 7,
        };
        assert_eq!(
            r.to_string(),
            "%SEC-6-IPACCESSLOGP: list 102 permitted udp 10.10.10.5(53000) -> 192.0.2.53(53), 7 packets"
        );
        let r = LogRecord::AccessList {
            list: 101,
            action: AccessListAction::Permitted,
            packet: AccessListPacket::Icmp {
                src: ip(C),
                dst: ip(S),
                icmp_type: 8,
                code: 0,
            },
            count: 3,
        };
        assert_eq!(
            r.to_string(),
            "%SEC-6-IPACCESSLOGDP: list 101 permitted icmp 198.51.100.7 -> 172.22.1.110 (8/0), 3 packets"
        );
        let r = LogRecord::AccessList {
            list: 101,
            action: AccessListAction::Denied,
            packet: AccessListPacket::Other {
                protocol: 47,
                src: ip(C),
                dst: ip(S),
            },
            count: 1,
        };
        assert_eq!(
            r.to_string(),
            "%SEC-6-IPACCESSLOGNP: list 101 denied 47 198.51.100.7 -> 172.22.1.110, 1 packet"
        );
    }

    #[test]
    fn session_threshold_exceeded() {
        let r = LogRecord::SessionThresholdExceeded {
            limit: 65536,
            initiator: sa("198.51.100.7:40001"),
            responder: sa("172.22.1.110:25"),
        };
        assert_eq!(
            r.to_string(),
            "%FW-4-SESSION_THRESHOLD_EXCEEDED: Session table full (65536 sessions), new session (198.51.100.7:40001)=>(172.22.1.110:25) refused"
        );
    }

    /// cbac-sessions.md §12 formats.
    #[test]
    fn debug_lines() {
        let d = |r| LogRecord::Debug(r).to_string();
        assert_eq!(
            d(DebugRecord::ObjectCreate {
                sis: 0x6300_F0A8,
                initiator: sa("198.51.100.7:40001"),
                responder: sa("172.22.1.110:25"),
                initiator_alt: sa("198.51.100.7:40001"),
                responder_alt: sa("10.10.10.2:25"),
            }),
            "CBAC OBJ_CREATE: sis 6300F0A8 initiator_addr (198.51.100.7:40001) responder_addr (172.22.1.110:25) initiator_alt_addr (198.51.100.7:40001) responder_alt_addr (10.10.10.2:25)"
        );
        assert_eq!(
            d(DebugRecord::ObjectDelete { sis: 0xA8 }),
            "CBAC OBJ_DELETE: delete sis 000000A8"
        );
        assert_eq!(
            d(DebugRecord::Timer {
                sis: 0x6300_F0A8,
                action: TimerAction::Expired,
                timer: TimerKind::Synwait
            }),
            "CBAC Timer Expired: sis 6300F0A8 timer synwait"
        );
        assert_eq!(
            d(DebugRecord::L4Result {
                sis: 1,
                protocol: L4Protocol::Tcp,
                pass: true,
                src: sa("198.51.100.7:40001"),
                dst: sa("172.22.1.110:25"),
                bytes: 0,
                tcp_flags: 0x12,
            }),
            "CBAC sis 00000001 L4 inspect result: PASS packet (198.51.100.7:40001) (172.22.1.110:25) bytes 0 SYN|ACK"
        );
        assert_eq!(
            d(DebugRecord::L4Result {
                sis: 2,
                protocol: L4Protocol::Udp,
                pass: false,
                src: sa("10.10.10.5:53000"),
                dst: sa("192.0.2.53:53"),
                bytes: 40,
                tcp_flags: 0,
            }),
            "CBAC sis 00000002 L4 inspect result: DROP packet (10.10.10.5:53000) (192.0.2.53:53) bytes 40 udp"
        );
        assert_eq!(
            d(DebugRecord::AggressiveMode { on: true }),
            "CBAC: aggressive mode on"
        );
        assert_eq!(
            d(DebugRecord::HostBlock {
                host: ip(S),
                blocked: false
            }),
            "CBAC: host 172.22.1.110 unblocked"
        );
        assert_eq!(
            d(DebugRecord::HalfOpenDeleted {
                sis: 3,
                reason: HalfOpenDeleteReason::Host
            }),
            "CBAC: half-open session sis 00000003 deleted (host)"
        );
    }

    /// smtp-inspection.md §12 lines, formatted into the fixed buffer.
    #[test]
    fn smtp_debug_line_buffer() {
        let line = DebugLine::format(
            DebugCategory::Smtp,
            format_args!("CBAC SMTP: End Of Reply Line - index:{} ,len:{}", 0, 64),
        );
        assert_eq!(
            LogRecord::Debug(DebugRecord::Line(line)).to_string(),
            "CBAC SMTP: End Of Reply Line - index:0 ,len:64"
        );
        assert_eq!(line.category(), DebugCategory::Smtp);
        let long = "x".repeat(500);
        let line = DebugLine::format(DebugCategory::Smtp, format_args!("{long}"));
        assert_eq!(line.as_str().len(), DebugLine::CAPACITY);
        // truncation never splits a UTF-8 sequence
        let wide = "é".repeat(100);
        let line = DebugLine::format(DebugCategory::Smtp, format_args!("{wide}"));
        assert_eq!(line.as_str().len(), DebugLine::CAPACITY);
        let line = DebugLine::format(DebugCategory::Smtp, format_args!("a{wide}"));
        assert_eq!(line.as_str().len(), DebugLine::CAPACITY - 1);
        let raw = DebugLine::from_bytes(DebugCategory::Esmtp, b"CBAC SMTP: a\r\n");
        assert_eq!(raw.as_str(), "CBAC SMTP: a..");
    }

    proptest::proptest! {
        /// Whatever the wire carried, the token prints as printable ASCII,
        /// one character per byte kept.
        #[test]
        fn tokens_print_safely(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let text = ParameterToken::new(&bytes).to_string();
            proptest::prop_assert_eq!(text.len(), bytes.len().min(64));
            proptest::prop_assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            let line = DebugLine::from_bytes(DebugCategory::Smtp, &bytes);
            proptest::prop_assert!(line.as_str().bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }
    }

    #[test]
    fn kinds_are_dense_and_complete() {
        for (i, k) in LogKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        for s in SmtpSignature::ALL {
            assert!(s.kind().session_slot().is_some());
        }
        let slots: std::collections::BTreeSet<_> = LogKind::ALL
            .iter()
            .filter_map(|k| k.session_slot())
            .collect();
        assert_eq!(slots.len(), SESSION_SLOTS);
        assert!(slots.iter().all(|&s| s < SESSION_SLOTS));
    }

    #[test]
    fn system_events() {
        let cases = [
            (
                SystemEvent::Started { workers: 2, ports: 2 },
                "%SYS-5-RESTART: System restarted -- mailguard, 2 worker(s) on 2 port(s)",
            ),
            (
                SystemEvent::Configured {
                    via: ConfigVia::ControlSocket,
                    generation: 3,
                },
                "%SYS-5-CONFIG_I: Configured from control socket (generation 3)",
            ),
            (
                SystemEvent::Configured {
                    via: ConfigVia::File,
                    generation: 4,
                },
                "%SYS-5-CONFIG_I: Configured from configuration file (generation 4)",
            ),
            (
                SystemEvent::ReloadRejected { errors: 2 },
                "%SYS-3-CONFIG_FAILED: Configuration reload rejected (2 error(s)), running configuration kept",
            ),
            (
                SystemEvent::WorkerStalled { worker: 1 },
                "%SYS-2-WORKER_STALLED: Worker 1 stopped processing packets; stopping",
            ),
            (SystemEvent::Stopping, "%SYS-5-SHUTDOWN: mailguard stopping"),
        ];
        for (event, text) in cases {
            let r = LogRecord::System(event);
            assert_eq!(r.to_string(), text);
            assert!(!r.kind().globally_limited());
            assert_eq!(r.kind().session_slot(), None);
            assert_eq!(r.debug_category(), None);
        }
    }

    #[test]
    fn record_stays_small_and_copy() {
        fn is_copy<T: Copy>() {}
        is_copy::<LogRecord>();
        assert!(std::mem::size_of::<LogRecord>() <= 136);
    }
}
