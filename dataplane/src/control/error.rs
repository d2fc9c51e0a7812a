//! Errors of the control socket, typed so the binary can print the IOS text
//! to the operator and exit non-zero, and the server can tell a refused
//! command (reply `ERR`, connection kept) from a broken connection.

use std::io;

use super::command::ParseError;

/// Everything that can go wrong between `mailguard show …` and the running
/// dataplane.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The command words did not parse (IOS error text).
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The handler understood the command and refused it (a configuration
    /// error, an unknown rule name, …); the text is shown as is.
    #[error("{0}")]
    Rejected(String),
    /// Client side: the server answered with an error; its text.
    #[error("{0}")]
    Remote(String),
    /// The peer broke the framing (bad header, not UTF-8, control bytes).
    #[error("control protocol error: {0}")]
    Protocol(String),
    /// A request or response exceeded its size bound.
    #[error("control message too large ({len} bytes, max {max})")]
    TooLarge { len: usize, max: usize },
    /// The peer did not answer in time.
    #[error("control socket timed out")]
    Timeout,
    /// Too many clients are connected.
    #[error("% Control socket busy, try again")]
    Busy,
    /// The socket could not be bound, connected, read or written.
    #[error("control socket: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for ControlError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ControlError::Timeout,
            _ => ControlError::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(
            ControlError::from(ParseError::Incomplete).to_string(),
            "% Incomplete command."
        );
        assert_eq!(
            ControlError::Rejected("% Invalid rule".into()).to_string(),
            "% Invalid rule"
        );
        assert!(matches!(
            ControlError::from(io::Error::from(io::ErrorKind::WouldBlock)),
            ControlError::Timeout
        ));
        assert!(matches!(
            ControlError::from(io::Error::from(io::ErrorKind::NotFound)),
            ControlError::Io(_)
        ));
    }
}
