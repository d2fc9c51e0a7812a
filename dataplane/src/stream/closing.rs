//! The FW_CLOSING state of a session after reply-and-close (`smtp-inspection.md` §9.2).
//!
//! Once the firewall has answered the client with a 5xx reply + FIN in the server's name
//! and reset the server, the session only exists to close the client side gracefully: the
//! client must see an orderly close (a permanent failure) rather than a reset (which makes
//! an MTA retry for days, §9.3). [`FwClosing`] answers each later segment with an action;
//! its rules are one declared table ([`closing_transition`]), printed by a snapshot test.

use super::segment::{InjectedSegment, SegmentInfo, Side, TcpFlags};
use super::seq::Seq;

/// Where the client is in its close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosingPhase {
    /// Waiting for the client's FIN.
    AwaitingClientFin,
    /// The client's FIN has been acknowledged in the server's name; finwait-time runs.
    ClientFinAcked,
}

/// A segment as FW_CLOSING classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosingEvent {
    /// Client segment without data, FIN, SYN or RST (e.g. its ACK of our FIN).
    ClientAck,
    /// Client segment carrying data, no FIN.
    ClientData,
    /// Client FIN (with or without data).
    ClientFin,
    ClientRst,
    ClientSyn,
    /// Anything from the server (it has been reset).
    ServerSegment,
}

impl ClosingEvent {
    pub const ALL: [ClosingEvent; 6] = [
        ClosingEvent::ClientAck,
        ClosingEvent::ClientData,
        ClosingEvent::ClientFin,
        ClosingEvent::ClientRst,
        ClosingEvent::ClientSyn,
        ClosingEvent::ServerSegment,
    ];
}

/// What the table says to do (without the numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosingRule {
    /// Swallow silently (expected; not a counted drop).
    Absorb,
    /// Answer with an ACK in the server's name; forward nothing.
    AckInServerName,
    /// Drop and count.
    Drop,
    /// Delete the session now.
    Delete,
}

/// The action for one segment, with the ACK to inject when there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosingAction {
    Absorb,
    /// Send this segment to the client; forward nothing.
    AckInServerName(InjectedSegment),
    Drop,
    Delete,
}

/// The answer for one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosingOutcome {
    pub action: ClosingAction,
    /// The client's FIN was just acknowledged: start finwait-time (delete in 5 s).
    pub start_finwait: bool,
}

/// The FW_CLOSING table. Quoted from `smtp-inspection.md` §9.2 step 4:
///
/// > The session enters `FW_CLOSING`: C's ACK of the injected FIN is absorbed; a FIN from
/// > C is answered with an ACK in S's name; data from C is acknowledged and discarded;
/// > segments from S are dropped. The session is deleted `finwait-time` (5 s) after C's
/// > FIN or after the idle timeout, whichever first.
///
/// PROPOSED completions: a client RST ends the session at once (nothing is left to close
/// gracefully); a client SYN is dropped; client data after its own FIN is dropped; a
/// retransmitted client FIN is acknowledged again without restarting finwait-time.
pub const fn closing_transition(
    phase: ClosingPhase,
    event: ClosingEvent,
) -> (ClosingRule, ClosingPhase, bool) {
    use ClosingEvent as E;
    use ClosingPhase as P;
    use ClosingRule as A;
    match (phase, event) {
        (_, E::ServerSegment) => (A::Drop, phase, false),
        (_, E::ClientRst) => (A::Delete, phase, false),
        (_, E::ClientSyn) => (A::Drop, phase, false),
        (_, E::ClientAck) => (A::Absorb, phase, false),
        (P::AwaitingClientFin, E::ClientData) => (A::AckInServerName, phase, false),
        (P::AwaitingClientFin, E::ClientFin) => (A::AckInServerName, P::ClientFinAcked, true),
        (P::ClientFinAcked, E::ClientData) => (A::Drop, phase, false),
        (P::ClientFinAcked, E::ClientFin) => (A::AckInServerName, phase, false),
    }
}

/// FW_CLOSING state of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FwClosing {
    phase: ClosingPhase,
    /// The server's sequence number after the injected reply and FIN.
    server_seq: Seq,
    /// Everything from the client up to here has been acknowledged in the server's name.
    client_acked: Seq,
    /// Window field for the ACKs (the server's last advertised window).
    window: u16,
}

impl FwClosing {
    /// After injecting the reply: `server_seq` = injected seq + reply length + 1 (FIN);
    /// `client_acked` = the ACK the injected segment carried.
    pub fn new(server_seq: Seq, client_acked: Seq, window: u16) -> FwClosing {
        FwClosing {
            phase: ClosingPhase::AwaitingClientFin,
            server_seq,
            client_acked,
            window,
        }
    }

    pub fn phase(&self) -> ClosingPhase {
        self.phase
    }

    /// The server's sequence number after the injected FIN (for
    /// [`super::TcpTracker::record_injected`]).
    pub fn server_seq(&self) -> Seq {
        self.server_seq
    }

    /// Handles one segment of the closing session.
    pub fn on_segment(&mut self, from: Side, seg: &SegmentInfo) -> ClosingOutcome {
        let event = match from {
            Side::Responder => ClosingEvent::ServerSegment,
            Side::Initiator if seg.flags.rst() => ClosingEvent::ClientRst,
            Side::Initiator if seg.flags.syn() => ClosingEvent::ClientSyn,
            Side::Initiator if seg.flags.fin() => ClosingEvent::ClientFin,
            Side::Initiator if seg.payload_len > 0 => ClosingEvent::ClientData,
            Side::Initiator => ClosingEvent::ClientAck,
        };
        let (rule, phase, start_finwait) = closing_transition(self.phase, event);
        self.phase = phase;
        let action = match rule {
            ClosingRule::Absorb => ClosingAction::Absorb,
            ClosingRule::Drop => ClosingAction::Drop,
            ClosingRule::Delete => ClosingAction::Delete,
            ClosingRule::AckInServerName => {
                // Acknowledge contiguous data only; a segment beyond a gap gets a
                // duplicate ACK.
                if seg.seq.le(self.client_acked) {
                    self.client_acked = self.client_acked.max(seg.seq_end());
                }
                ClosingAction::AckInServerName(InjectedSegment {
                    toward: Side::Initiator,
                    seq: self.server_seq,
                    ack: self.client_acked,
                    flags: TcpFlags::ACK,
                    window: self.window,
                })
            }
        };
        ClosingOutcome {
            action,
            start_finwait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_table_snapshot() {
        let mut out = String::new();
        for phase in [
            ClosingPhase::AwaitingClientFin,
            ClosingPhase::ClientFinAcked,
        ] {
            for event in ClosingEvent::ALL {
                let (rule, next, finwait) = closing_transition(phase, event);
                let line = format!(
                    "{:<18} {:<14} -> {:<16} {:<18}{}",
                    format!("{phase:?}"),
                    format!("{event:?}"),
                    format!("{rule:?}"),
                    format!("{next:?}"),
                    if finwait { " start finwait" } else { "" }
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        println!("{out}");
        assert_eq!(
            out,
            include_str!("closing.snapshot"),
            "FW_CLOSING table changed"
        );
    }

    /// D5: after the injected `554 Transaction failed\r\n` (24 bytes) + FIN.
    #[test]
    fn d5_client_ack_absorbed_fin_answered_server_dropped() {
        let server_seq = Seq(5001 + 29);
        let client_end = Seq(1001 + 14 + 607);
        let mut c = FwClosing::new(server_seq + 24 + 1, client_end, 509);
        let ack = SegmentInfo::new(client_end.0, (server_seq + 25).0, TcpFlags::ACK, 502, 0);
        assert_eq!(
            c.on_segment(Side::Initiator, &ack).action,
            ClosingAction::Absorb
        );
        let data = SegmentInfo::new(client_end.0, 0, TcpFlags::ACK, 502, 6);
        let out = c.on_segment(Side::Initiator, &data);
        assert_eq!(
            out.action,
            ClosingAction::AckInServerName(InjectedSegment {
                toward: Side::Initiator,
                seq: server_seq + 25,
                ack: client_end + 6,
                flags: TcpFlags::ACK,
                window: 509
            })
        );
        assert!(!out.start_finwait);
        let srv = SegmentInfo::new(5001, 0, TcpFlags::RST, 0, 0);
        assert_eq!(
            c.on_segment(Side::Responder, &srv).action,
            ClosingAction::Drop
        );
        let fin = SegmentInfo::new((client_end + 6).0, 0, TcpFlags::ACK | TcpFlags::FIN, 502, 0);
        let out = c.on_segment(Side::Initiator, &fin);
        assert!(out.start_finwait);
        assert!(matches!(out.action, ClosingAction::AckInServerName(s) if s.ack == client_end + 7));
        assert_eq!(c.phase(), ClosingPhase::ClientFinAcked);
        let out = c.on_segment(Side::Initiator, &fin);
        assert!(
            !out.start_finwait,
            "a retransmitted FIN does not restart finwait"
        );
        assert!(matches!(out.action, ClosingAction::AckInServerName(s) if s.ack == client_end + 7));
        let rst = SegmentInfo::new((client_end + 7).0, 0, TcpFlags::RST, 0, 0);
        assert_eq!(
            c.on_segment(Side::Initiator, &rst).action,
            ClosingAction::Delete
        );
    }

    #[test]
    fn data_beyond_a_gap_gets_a_duplicate_ack() {
        let mut c = FwClosing::new(Seq(10), Seq(100), 1);
        let data = SegmentInfo::new(150, 0, TcpFlags::ACK, 1, 10);
        assert!(matches!(
            c.on_segment(Side::Initiator, &data).action,
            ClosingAction::AckInServerName(s) if s.ack == Seq(100)
        ));
    }
}
