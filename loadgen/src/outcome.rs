//! What a session can end in, and what a client state machine asks the engine to do next.
//! Shared by the sans-IO clients (`smtp_client`, `echo_client`) and the engine.
use serde::Serialize;

/// Why a session failed. Every failed session has exactly one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The connect was answered with RST (`ECONNREFUSED`).
    ConnectRefused,
    /// No route / host or network unreachable (ICMP errors, `EHOSTUNREACH`, `ENETUNREACH`).
    Unreachable,
    /// The connect did not finish within the session timeout.
    ConnectTimeout,
    /// The session (after connect) did not finish within the session timeout.
    Timeout,
    /// The peer reset an established connection.
    Reset,
    /// The peer closed before the dialogue ended.
    UnexpectedClose,
    /// A reply with a code other than the one the dialogue expects.
    UnexpectedReply,
    /// Bytes that are not a well-formed SMTP reply.
    MalformedReply,
    /// An echoed payload that differs from what was sent.
    BadEcho,
    /// Open-loop: a start was due but every connection slot was busy (the session was not
    /// attempted; counted so the offered rate stays honest).
    NoSlot,
    /// Creating or binding the socket failed (e.g. descriptor or port exhaustion).
    Socket,
    /// Any other I/O error.
    Io,
}

impl FailureKind {
    pub const ALL: [FailureKind; 12] = [
        FailureKind::ConnectRefused,
        FailureKind::Unreachable,
        FailureKind::ConnectTimeout,
        FailureKind::Timeout,
        FailureKind::Reset,
        FailureKind::UnexpectedClose,
        FailureKind::UnexpectedReply,
        FailureKind::MalformedReply,
        FailureKind::BadEcho,
        FailureKind::NoSlot,
        FailureKind::Socket,
        FailureKind::Io,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::ConnectRefused => "connect-refused",
            FailureKind::Unreachable => "unreachable",
            FailureKind::ConnectTimeout => "connect-timeout",
            FailureKind::Timeout => "timeout",
            FailureKind::Reset => "reset",
            FailureKind::UnexpectedClose => "unexpected-close",
            FailureKind::UnexpectedReply => "unexpected-reply",
            FailureKind::MalformedReply => "malformed-reply",
            FailureKind::BadEcho => "bad-echo",
            FailureKind::NoSlot => "no-slot",
            FailureKind::Socket => "socket",
            FailureKind::Io => "io",
        }
    }

    /// Classifies a negative errno from a connect.
    pub fn from_connect_errno(errno: i32) -> Self {
        match errno {
            libc::ECONNREFUSED => FailureKind::ConnectRefused,
            libc::EHOSTUNREACH | libc::ENETUNREACH => FailureKind::Unreachable,
            libc::ETIMEDOUT | libc::ECANCELED => FailureKind::ConnectTimeout,
            libc::ECONNRESET => FailureKind::Reset,
            _ => FailureKind::Io,
        }
    }

    /// Classifies a negative errno from a send or receive.
    pub fn from_io_errno(errno: i32) -> Self {
        match errno {
            libc::ECONNRESET | libc::EPIPE => FailureKind::Reset,
            libc::ECANCELED | libc::ETIMEDOUT => FailureKind::Timeout,
            libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ECONNREFUSED => FailureKind::Unreachable,
            _ => FailureKind::Io,
        }
    }
}

/// Which bytes to send next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The slot's own buffer, just written by the client.
    Out,
    /// A shared, read-only payload (message body, echo payload) by index.
    Shared(usize),
}

/// What the client asks the engine to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send(Payload),
    Recv,
    /// The dialogue is over: success or the reason it failed.
    Finish(Result<(), FailureKind>),
}
