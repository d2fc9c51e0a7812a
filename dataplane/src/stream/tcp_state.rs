//! The CBAC TCP session states and their transition table (`cbac-sessions.md` §3).
//!
//! The table is declared in one `match` ([`transition`]) so that a reviewer sees every
//! (state, event) pair in one place; `tests::transition_table_snapshot` prints the whole
//! matrix and compares it with the text kept in the test, so any change to the table
//! shows up as a diff in review. The tracker ([`super::tracker`]) only classifies a
//! segment into a [`TcpEvent`] and applies what the table says.

use core::fmt;

/// Session state of a TCP session, `cbac-sessions.md` §3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// Initiator SYN seen (session creation).
    SynSent,
    /// Responder SYN+ACK acknowledging the initiator's ISN seen.
    SynRcvd,
    /// Initiator ACK of the responder's SYN seen.
    Established,
    /// First FIN from either side seen.
    FinOne,
    /// FIN seen from both sides; the caller starts finwait-time.
    FinBoth,
    /// In-window RST seen (or finwait expired): the session is to be deleted.
    Closed,
}

impl TcpState {
    /// Every state, in table order.
    pub const ALL: [TcpState; 6] = [
        TcpState::SynSent,
        TcpState::SynRcvd,
        TcpState::Established,
        TcpState::FinOne,
        TcpState::FinBoth,
        TcpState::Closed,
    ];

    /// The state's name in the spec (`SYN_SENT`, …).
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRcvd => "SYN_RCVD",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinOne => "FIN_ONE",
            TcpState::FinBoth => "FIN_BOTH",
            TcpState::Closed => "CLOSED",
        }
    }

    /// The IOS display name used by `show ip inspect sessions` (§3.1 table); `(deleted)`
    /// for a closed session, which `show` never lists.
    pub const fn display(self) -> &'static str {
        match self {
            TcpState::SynSent | TcpState::SynRcvd => "SIS_OPENING",
            TcpState::Established | TcpState::FinOne => "SIS_OPEN",
            TcpState::FinBoth => "SIS_CLOSING",
            TcpState::Closed => "(deleted)",
        }
    }

    /// "A TCP session counts as half-open for as long as it has not reached the
    /// established state." (§3.1)
    pub const fn is_half_open(self) -> bool {
        matches!(self, TcpState::SynSent | TcpState::SynRcvd)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a segment means for the session, as classified by the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpEvent {
    /// SYN without ACK from the initiator carrying the session's ISN.
    InitiatorSyn,
    /// SYN from the initiator with a different ISN.
    InitiatorSynNewIsn,
    /// SYN+ACK from the responder acknowledging initiator ISN + 1 (with the recorded
    /// responder ISN when one is already known).
    ResponderSynAck,
    /// SYN+ACK from the responder with a responder ISN different from the recorded one.
    ResponderSynAckNewIsn,
    /// SYN+ACK from the responder whose ACK is not initiator ISN + 1.
    SynAckBadAck,
    /// SYN from the responder without ACK, or SYN+ACK from the initiator.
    BadSyn,
    /// Initiator segment in SYN_RCVD acknowledging responder ISN + 1.
    AckOfSynAck,
    /// An ordinary in-window segment with ACK (data or pure ACK), no SYN/FIN/RST.
    Segment,
    /// A FIN while neither side has sent one.
    Fin,
    /// A FIN from one side while the other side's FIN has been seen.
    SecondFin,
    /// A FIN from a side that has already sent its FIN.
    FinRetransmit,
    /// RST inside the receiver's window.
    RstInWindow,
    /// RST outside the receiver's window.
    RstOutOfWindow,
    /// A segment entirely outside `[ack − max_window, ack + window + 1 MSS]` (§3.3).
    OutOfWindow,
    /// A non-SYN, non-RST segment without the ACK flag.
    NoAck,
    /// An ACK for sequence space the other side never sent, or (in SYN_RCVD) an
    /// initiator ACK that does not acknowledge the responder's SYN.
    BadAck,
}

impl TcpEvent {
    /// Every event, in table order.
    pub const ALL: [TcpEvent; 16] = [
        TcpEvent::InitiatorSyn,
        TcpEvent::InitiatorSynNewIsn,
        TcpEvent::ResponderSynAck,
        TcpEvent::ResponderSynAckNewIsn,
        TcpEvent::SynAckBadAck,
        TcpEvent::BadSyn,
        TcpEvent::AckOfSynAck,
        TcpEvent::Segment,
        TcpEvent::Fin,
        TcpEvent::SecondFin,
        TcpEvent::FinRetransmit,
        TcpEvent::RstInWindow,
        TcpEvent::RstOutOfWindow,
        TcpEvent::OutOfWindow,
        TcpEvent::NoAck,
        TcpEvent::BadAck,
    ];
}

/// Why the tracker dropped a segment; each reason has a per-worker counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpDropReason {
    /// §3.4: a SYN (or SYN+ACK) with an ISN different from the one recorded.
    SynIsnMismatch,
    /// SYN+ACK not acknowledging the initiator's ISN.
    BadSynAck,
    /// SYN from the wrong side or with the wrong flags (§3.4), or a SYN creating no session.
    BadSyn,
    /// A SYN for a session that is already open (same ISN; stale duplicate).
    StaleSyn,
    /// A segment the state does not allow (data before the handshake, FIN in SYN_SENT, …).
    InvalidInState,
    /// §3.2: RST outside the receiver's window.
    RstOutOfWindow,
    /// §3.3: segment entirely outside the acceptable sequence range.
    OutOfWindow,
    /// Non-SYN, non-RST segment without ACK.
    NoAck,
    /// ACK of unsent data, or wrong ACK of the SYN+ACK.
    BadAck,
    /// Segment for a session already closed (waiting for deletion).
    SessionClosed,
}

impl TcpDropReason {
    /// Every reason, for counter arrays and `show` output.
    pub const ALL: [TcpDropReason; 10] = [
        TcpDropReason::SynIsnMismatch,
        TcpDropReason::BadSynAck,
        TcpDropReason::BadSyn,
        TcpDropReason::StaleSyn,
        TcpDropReason::InvalidInState,
        TcpDropReason::RstOutOfWindow,
        TcpDropReason::OutOfWindow,
        TcpDropReason::NoAck,
        TcpDropReason::BadAck,
        TcpDropReason::SessionClosed,
    ];

    /// Counter name (metrics label).
    pub const fn name(self) -> &'static str {
        match self {
            TcpDropReason::SynIsnMismatch => "tcp_syn_isn_mismatch",
            TcpDropReason::BadSynAck => "tcp_bad_synack",
            TcpDropReason::BadSyn => "tcp_bad_syn",
            TcpDropReason::StaleSyn => "tcp_stale_syn",
            TcpDropReason::InvalidInState => "tcp_invalid_in_state",
            TcpDropReason::RstOutOfWindow => "tcp_rst_out_of_window",
            TcpDropReason::OutOfWindow => "tcp_out_of_window",
            TcpDropReason::NoAck => "tcp_no_ack",
            TcpDropReason::BadAck => "tcp_bad_ack",
            TcpDropReason::SessionClosed => "tcp_session_closed",
        }
    }

    /// Position in [`TcpDropReason::ALL`] (counter index).
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The table's answer for one (state, event) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Forward the segment; the session moves to (or stays in) this state.
    To(TcpState),
    /// Drop and count the segment; the state does not change.
    Drop(TcpDropReason),
}

/// The transition table.
///
/// Quoted from `cbac-sessions.md`:
///
/// > §3.1 SYN_SENT — entered on initiator SYN (session creation). SYN_RCVD — responder
/// > SYN+ACK acknowledging the initiator's ISN. ESTABLISHED — initiator ACK of the
/// > responder's SYN. FIN_ONE — first FIN from either side. FIN_BOTH — FIN seen from both
/// > sides. CLOSED — in-window RST, or finwait expiry.
/// >
/// > §3.2 RST: an RST whose sequence number is inside the receiver's window is forwarded,
/// > then the session is deleted immediately. Out-of-window RSTs are dropped.
/// >
/// > §3.3 Segments entirely outside `[ack_of_receiver − max_window, ack_of_receiver +
/// > window + 1 MSS]` are dropped and counted.
/// >
/// > §3.4 A retransmitted SYN with the same ISN on a SYN_SENT session is forwarded and does
/// > not count as a new attempt nor restart synwait. A SYN with a different ISN for an
/// > existing session tuple is dropped and counted. SYN+ACK from the initiator side, or a
/// > SYN carrying ACK as first packet, creates no session.
///
/// And RFC 9293 §3.10.7.4: "If the ACK bit is off, drop the segment and return" (every
/// segment after the initial SYN carries ACK); a SYN+ACK retransmitted by the responder
/// after the handshake completed (its copy of the final ACK was lost) is forwarded so the
/// initiator re-acknowledges it.
pub const fn transition(state: TcpState, event: TcpEvent) -> Transition {
    use TcpDropReason as R;
    use TcpEvent as E;
    use TcpState as S;
    use Transition::{Drop, To};
    match (state, event) {
        // A closed session only waits for deletion.
        (S::Closed, _) => Drop(R::SessionClosed),

        // RST and window checks apply the same way in every live state.
        (_, E::RstInWindow) => To(S::Closed),
        (_, E::RstOutOfWindow) => Drop(R::RstOutOfWindow),
        (_, E::OutOfWindow) => Drop(R::OutOfWindow),
        (_, E::NoAck) => Drop(R::NoAck),
        (_, E::BadAck) => Drop(R::BadAck),
        (_, E::InitiatorSynNewIsn) => Drop(R::SynIsnMismatch),
        (_, E::ResponderSynAckNewIsn) => Drop(R::SynIsnMismatch),
        (_, E::SynAckBadAck) => Drop(R::BadSynAck),
        (_, E::BadSyn) => Drop(R::BadSyn),

        // Handshake.
        (S::SynSent, E::InitiatorSyn) => To(S::SynSent),
        (S::SynSent, E::ResponderSynAck) => To(S::SynRcvd),
        (S::SynSent, E::AckOfSynAck) => Drop(R::InvalidInState),
        (S::SynSent, E::Segment) => Drop(R::InvalidInState),
        (S::SynSent, E::Fin | E::SecondFin | E::FinRetransmit) => Drop(R::InvalidInState),

        (S::SynRcvd, E::InitiatorSyn) => To(S::SynRcvd),
        (S::SynRcvd, E::ResponderSynAck) => To(S::SynRcvd),
        (S::SynRcvd, E::AckOfSynAck) => To(S::Established),
        (S::SynRcvd, E::Segment) => To(S::SynRcvd),
        (S::SynRcvd, E::Fin | E::SecondFin | E::FinRetransmit) => Drop(R::InvalidInState),

        // Open session.
        (S::Established, E::InitiatorSyn) => Drop(R::StaleSyn),
        (S::Established, E::ResponderSynAck) => To(S::Established),
        (S::Established, E::AckOfSynAck | E::Segment) => To(S::Established),
        (S::Established, E::Fin | E::FinRetransmit) => To(S::FinOne),
        (S::Established, E::SecondFin) => To(S::FinBoth),

        // Closing.
        (S::FinOne, E::InitiatorSyn | E::ResponderSynAck) => Drop(R::StaleSyn),
        (S::FinOne, E::AckOfSynAck | E::Segment) => To(S::FinOne),
        (S::FinOne, E::Fin | E::FinRetransmit) => To(S::FinOne),
        (S::FinOne, E::SecondFin) => To(S::FinBoth),

        (S::FinBoth, E::InitiatorSyn | E::ResponderSynAck) => Drop(R::StaleSyn),
        (S::FinBoth, E::AckOfSynAck | E::Segment) => To(S::FinBoth),
        (S::FinBoth, E::Fin | E::SecondFin | E::FinRetransmit) => To(S::FinBoth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, one line per state; a change to `transition` changes this text.
    #[test]
    fn transition_table_snapshot() {
        let mut out = String::new();
        for state in TcpState::ALL {
            for event in TcpEvent::ALL {
                let to = match transition(state, event) {
                    Transition::To(next) => next.name().to_string(),
                    Transition::Drop(reason) => format!("drop {}", reason.name()),
                };
                out.push_str(&format!(
                    "{:<12} {:<22} -> {}\n",
                    state.name(),
                    format!("{event:?}"),
                    to
                ));
            }
        }
        println!("{out}");
        let expected = include_str!("tcp_state.snapshot");
        assert_eq!(
            out, expected,
            "transition table changed: update tcp_state.snapshot in review"
        );
    }

    #[test]
    fn half_open_and_display_names() {
        let table: Vec<_> = TcpState::ALL
            .iter()
            .map(|s| (s.name(), s.display(), s.is_half_open()))
            .collect();
        assert_eq!(
            table,
            [
                ("SYN_SENT", "SIS_OPENING", true),
                ("SYN_RCVD", "SIS_OPENING", true),
                ("ESTABLISHED", "SIS_OPEN", false),
                ("FIN_ONE", "SIS_OPEN", false),
                ("FIN_BOTH", "SIS_CLOSING", false),
                ("CLOSED", "(deleted)", false),
            ]
        );
    }

    #[test]
    fn drop_reason_index_matches_all() {
        for (i, r) in TcpDropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
