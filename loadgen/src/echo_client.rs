//! The TCP echo dialogue as a sans-IO state machine: send a payload, read it back byte for
//! byte, finish. Used by `loadgen tcp` for connections/s with a small exchange.
use crate::outcome::{Action, FailureKind, Payload};

#[derive(Debug, Clone, Default)]
pub struct EchoClient {
    got: usize,
}

impl EchoClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// Connected: send the shared payload `idx`.
    pub fn on_connected(&mut self, idx: usize) -> Action {
        self.got = 0;
        Action::Send(Payload::Shared(idx))
    }

    pub fn on_sent(&mut self) -> Action {
        Action::Recv
    }

    /// Echoed bytes must equal the payload at the same offset.
    pub fn on_recv(&mut self, payload: &[u8], data: &[u8]) -> Action {
        let end = self.got + data.len();
        if end > payload.len() || payload[self.got..end] != *data {
            return Action::Finish(Err(FailureKind::BadEcho));
        }
        self.got = end;
        if self.got == payload.len() {
            Action::Finish(Ok(()))
        } else {
            Action::Recv
        }
    }

    pub fn on_eof(&mut self) -> Action {
        Action::Finish(Err(FailureKind::UnexpectedClose))
    }
}

/// Writes UDP transaction `seq`'s datagram: the payload with the sequence number in its
/// first 8 bytes (so a late echo of an earlier transaction is recognised, not counted).
pub fn udp_datagram(payload: &[u8], seq: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(payload);
    if out.len() < 8 {
        out.resize(8, 0);
    }
    out[..8].copy_from_slice(&seq.to_le_bytes());
}

/// Judges a received datagram against the one sent: `Some(true)` echo, `Some(false)` bad,
/// `None` a stale echo of an earlier transaction (keep waiting).
pub fn udp_judge(sent: &[u8], got: &[u8]) -> Option<bool> {
    if got == sent {
        return Some(true);
    }
    if got.len() == sent.len() && got.len() >= 8 && sent.len() >= 8 {
        let g = u64::from_le_bytes(got[..8].try_into().unwrap_or([0; 8]));
        let s = u64::from_le_bytes(sent[..8].try_into().unwrap_or([0; 8]));
        if g < s && got[8..] == sent[8..] {
            return None;
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_in_pieces() {
        let p = b"hello world";
        let mut c = EchoClient::new();
        assert_eq!(c.on_connected(3), Action::Send(Payload::Shared(3)));
        assert_eq!(c.on_sent(), Action::Recv);
        assert_eq!(c.on_recv(p, b"hello"), Action::Recv);
        assert_eq!(c.on_recv(p, b" world"), Action::Finish(Ok(())));
    }

    #[test]
    fn bad_and_too_long_echo() {
        let p = b"abc";
        let mut c = EchoClient::new();
        c.on_connected(0);
        assert_eq!(
            c.on_recv(p, b"abd"),
            Action::Finish(Err(FailureKind::BadEcho))
        );
        let mut c = EchoClient::new();
        c.on_connected(0);
        assert_eq!(
            c.on_recv(p, b"abcd"),
            Action::Finish(Err(FailureKind::BadEcho))
        );
        assert_eq!(
            c.on_eof(),
            Action::Finish(Err(FailureKind::UnexpectedClose))
        );
    }

    #[test]
    fn udp_sequence() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        udp_datagram(b"0123456789xyz", 7, &mut a);
        udp_datagram(b"0123456789xyz", 6, &mut b);
        assert_eq!(&a[8..], b"89xyz");
        assert_eq!(udp_judge(&a, &a), Some(true));
        assert_eq!(udp_judge(&a, &b), None);
        assert_eq!(udp_judge(&b, &a), Some(false));
        assert_eq!(udp_judge(&a, b"short"), Some(false));
        udp_datagram(b"ab", 1, &mut a);
        assert_eq!(a.len(), 8);
    }
}
