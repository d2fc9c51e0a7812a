//! Per-session TCP tracking for every inspected TCP session (`cbac-sessions.md` §3).
//!
//! [`TcpTracker`] is small and `Copy` so the session table can store it inline. It
//! classifies each segment into a [`TcpEvent`] (SYN checks §3.4, RST window §3.2,
//! sequence window §3.3, ACK sanity) and applies [`transition`]; it keeps, per side, the
//! next sequence number the side will send, its highest ACK, its advertised window
//! (scaled when both SYNs carried the window-scale option) and its MSS. Timers are the
//! caller's: the verdict says when the session became established, reached FIN_BOTH
//! (start finwait-time) or closed (delete now).

use super::segment::{InjectedSegment, SegmentInfo, Side, TcpFlags};
use super::seq::Seq;
use super::tcp_state::{transition, TcpDropReason, TcpEvent, TcpState, Transition};

/// RFC 9293 §3.7.1: the MSS assumed when the SYN carries no MSS option.
pub const DEFAULT_MSS: u16 = 536;
/// RFC 7323 §2.3: the largest valid window-scale shift.
pub const MAX_WSCALE: u8 = 14;

/// What the tracker knows about one side (the side that *sends* with these numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Peer {
    /// Initial sequence number (valid when `syn_seen`).
    isn: Seq,
    /// Next sequence number after everything this side has sent (SYN and FIN included).
    end: Seq,
    /// Highest acknowledgement this side has sent (valid when `ack_seen`).
    ack: Seq,
    /// Last advertised window, scaled.
    window: u32,
    /// Largest advertised window, scaled.
    max_window: u32,
    /// Highest right window edge advertised (`ack + window`), valid when `ack_seen`. The
    /// window check uses it rather than the latest edge, so data the sender sent before
    /// it learned of a shrunken window is not dropped.
    right_edge: Seq,
    /// Sequence number of this side's FIN (valid when `fin_seen`).
    fin_seq: Seq,
    /// Last window field as on the wire.
    window_field: u16,
    mss: u16,
    /// Window-scale shift from this side's SYN option.
    wscale: Option<u8>,
    syn_seen: bool,
    ack_seen: bool,
    fin_seen: bool,
}

/// Per-session TCP state: the §3.1 state plus per-side sequence tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpTracker {
    state: TcpState,
    /// Both SYNs carried the window-scale option (RFC 7323 §2.2).
    scaling: bool,
    peers: [Peer; 2],
}

/// The tracker's answer for one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackVerdict {
    /// Forward the segment (after whatever the stream layer and inspector do to it).
    Accept(Accepted),
    /// Drop and count the segment.
    Drop(TcpDropReason),
}

/// An accepted segment and the state change it caused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub previous: TcpState,
    pub state: TcpState,
    /// A SYN (or SYN+ACK) retransmitted with the same ISN: forward it, but it is not a
    /// new attempt and does not restart synwait-time (§3.4).
    pub syn_retransmission: bool,
}

impl Accepted {
    pub fn state_changed(&self) -> bool {
        self.previous != self.state
    }

    /// The session stopped being half-open: decrement the half-open counters, switch
    /// from synwait-time to idle-time.
    pub fn became_established(&self) -> bool {
        self.previous.is_half_open() && !self.state.is_half_open() && self.state != TcpState::Closed
    }

    /// The second FIN was seen: start finwait-time (§3.2).
    pub fn reached_fin_both(&self) -> bool {
        self.previous != TcpState::FinBoth && self.state == TcpState::FinBoth
    }

    /// In-window RST: forward it, then delete the session now (§3.2).
    pub fn closed(&self) -> bool {
        self.state == TcpState::Closed
    }
}

impl TcpTracker {
    /// Creates the tracker from the session-opening segment: a SYN without ACK (§1.2, §3.4).
    pub fn from_syn(syn: &SegmentInfo) -> Result<TcpTracker, TcpDropReason> {
        if !syn.flags.syn() || syn.flags.ack() || syn.flags.rst() || syn.flags.fin() {
            return Err(TcpDropReason::BadSyn);
        }
        let mut initiator = Peer {
            isn: syn.seq,
            end: syn.seq_end(),
            syn_seen: true,
            mss: syn.mss.unwrap_or(DEFAULT_MSS),
            wscale: syn.wscale.map(|w| w.min(MAX_WSCALE)),
            ..Peer::default()
        };
        // RFC 7323 §2.2: the window field of a SYN is never scaled.
        initiator.window = u32::from(syn.window);
        initiator.max_window = initiator.window;
        initiator.window_field = syn.window;
        Ok(TcpTracker {
            state: TcpState::SynSent,
            scaling: false,
            peers: [initiator, Peer::default()],
        })
    }

    pub fn state(&self) -> TcpState {
        self.state
    }

    pub fn is_half_open(&self) -> bool {
        self.state.is_half_open()
    }

    /// Both SYNs carried the window-scale option.
    pub fn window_scaling(&self) -> bool {
        self.scaling
    }

    /// The sequence number just after everything `side` has sent (SYN/FIN included).
    pub fn next_seq(&self, side: Side) -> Seq {
        self.peers[side.index()].end
    }

    /// `side`'s initial sequence number, once its SYN has been seen.
    pub fn isn(&self, side: Side) -> Option<Seq> {
        let p = &self.peers[side.index()];
        p.syn_seen.then_some(p.isn)
    }

    /// The highest ACK `side` has sent, once it has sent one.
    pub fn highest_ack(&self, side: Side) -> Option<Seq> {
        let p = &self.peers[side.index()];
        p.ack_seen.then_some(p.ack)
    }

    /// `side`'s last advertised window in bytes (scaled).
    pub fn window(&self, side: Side) -> u32 {
        self.peers[side.index()].window
    }

    /// `side`'s last window field as it was on the wire (what an injected segment in
    /// `side`'s name should carry, §9.2 step 2).
    pub fn window_field(&self, side: Side) -> u16 {
        self.peers[side.index()].window_field
    }

    /// The MSS `side` announced (536 when it announced none).
    pub fn mss(&self, side: Side) -> u16 {
        self.peers[side.index()].mss
    }

    /// Sequence number of `side`'s FIN, once seen.
    pub fn fin_seq(&self, side: Side) -> Option<Seq> {
        let p = &self.peers[side.index()];
        p.fin_seen.then_some(p.fin_seq)
    }

    /// The first sequence number beyond what `receiver` accepts from its peer: the
    /// highest right edge it advertised (ACK + window) + one MSS of the sender (§3.3,
    /// `smtp-inspection.md` §11 rule 4). `None` while the receiver has not acknowledged
    /// anything.
    pub fn receive_limit(&self, receiver: Side) -> Option<Seq> {
        let r = &self.peers[receiver.index()];
        let sender = &self.peers[receiver.peer().index()];
        r.ack_seen.then(|| r.right_edge + u32::from(sender.mss))
    }

    /// Notes sequence space the firewall itself sent in `side`'s name (the reply-and-close
    /// FIN, §9.2), so that the other side's ACK of it is not judged an ACK of unsent data.
    pub fn record_injected(&mut self, side: Side, end: Seq) {
        let p = &mut self.peers[side.index()];
        p.end = p.end.max(end);
    }

    /// §3.5: the RST to send to the responder when a half-open session is deleted by
    /// synwait expiry or the half-open protections — only once the responder's SYN+ACK
    /// has been seen (so an acceptable sequence number is known); otherwise delete silently.
    pub fn half_open_reset(&self) -> Option<InjectedSegment> {
        if self.state != TcpState::SynRcvd {
            return None;
        }
        let init = &self.peers[Side::Initiator.index()];
        let resp = &self.peers[Side::Responder.index()];
        Some(InjectedSegment {
            toward: Side::Responder,
            seq: init.end,
            ack: resp.end,
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
        })
    }

    /// Tracks one segment sent by `from`.
    pub fn on_segment(&mut self, from: Side, seg: &SegmentInfo) -> TrackVerdict {
        let previous = self.state;
        let (event, syn_retransmission) = self.classify(from, seg);
        let mut next = match transition(self.state, event) {
            Transition::To(next) => next,
            Transition::Drop(reason) => return TrackVerdict::Drop(reason),
        };
        self.state = next;
        self.learn(from, seg, event);
        // The handshake-completing ACK may also carry a FIN: apply it in the new state.
        if event == TcpEvent::AckOfSynAck && seg.flags.fin() {
            let fin_event = self.fin_event(from);
            if let Transition::To(after_fin) = transition(self.state, fin_event) {
                next = after_fin;
                self.state = next;
                self.learn_fin(from, seg);
            }
        }
        TrackVerdict::Accept(Accepted {
            previous,
            state: next,
            syn_retransmission,
        })
    }

    /// The established fast path of [`on_segment`](Self::on_segment): an ordinary
    /// segment (ACK, no SYN/FIN/RST) of an established session that is in the window and
    /// acknowledges nothing unsent. Such a segment classifies as [`TcpEvent::Segment`],
    /// which leaves `Established` unchanged; this learns from it exactly as
    /// `on_segment` would and returns `true`. For any other segment it returns `false`
    /// and changes nothing: the caller then runs `on_segment`, which judges (and
    /// counts) it.
    #[inline]
    pub fn track_established(&mut self, from: Side, seg: &SegmentInfo) -> bool {
        self.track_ordinary(
            from,
            seg.seq,
            seg.ack,
            seg.flags,
            seg.window,
            seg.payload_len,
        )
    }

    /// [`track_established`](Self::track_established) with the segment's
    /// fields by value (the options play no part for such a segment), always
    /// inlined: the forwarding fast paths call it for nearly every packet,
    /// with the fields just read from the frame, so nothing goes through
    /// memory and no call is made.
    #[inline(always)]
    pub fn track_ordinary(
        &mut self,
        from: Side,
        seq: Seq,
        ack: Seq,
        flags: TcpFlags,
        window: u16,
        payload_len: u32,
    ) -> bool {
        // ACK, and none of SYN/FIN/RST: one mask compare.
        let mask = TcpFlags::SYN.0 | TcpFlags::FIN.0 | TcpFlags::RST.0 | TcpFlags::ACK.0;
        if self.state != TcpState::Established || flags.0 & mask != TcpFlags::ACK.0 {
            return false;
        }
        let (me, them) = (from.index(), from.peer().index());
        let receiver = &self.peers[them];
        // `in_window` (§3.3) for a segment without SYN and FIN: its sequence
        // length is its payload length.
        if receiver.ack_seen {
            let left = receiver.ack - receiver.max_window.saturating_add(1);
            let right = receiver.right_edge + u32::from(self.peers[me].mss);
            let inside = if payload_len == 0 {
                seq.ge(left) && seq.le(right)
            } else {
                (seq + payload_len).gt(left) && seq.lt(right)
            };
            if !inside {
                return false;
            }
        }
        if receiver.syn_seen && ack.gt(receiver.end) {
            return false;
        }
        // `learn(from, seg, TcpEvent::Segment)` for a segment with ACK and
        // without SYN/FIN/RST, spelled out (the property test below holds the
        // two equal).
        let scaling = self.scaling;
        let p = &mut self.peers[me];
        p.end = p.end.max(seq + payload_len);
        let shift = if scaling { p.wscale.unwrap_or(0) } else { 0 };
        p.window = u32::from(window) << shift;
        p.max_window = p.max_window.max(p.window);
        p.window_field = window;
        if !p.ack_seen || ack.gt(p.ack) {
            p.ack = ack;
        }
        let edge = ack + p.window;
        if !p.ack_seen || edge.gt(p.right_edge) {
            p.right_edge = edge;
        }
        p.ack_seen = true;
        true
    }

    /// Maps a segment to its event. Checks in order: RST, SYN, window, ACK.
    fn classify(&self, from: Side, seg: &SegmentInfo) -> (TcpEvent, bool) {
        let flags = seg.flags;
        let me = &self.peers[from.index()];
        let peer = &self.peers[from.peer().index()];

        if flags.rst() {
            let ok = self.rst_acceptable(from, seg);
            return (
                if ok {
                    TcpEvent::RstInWindow
                } else {
                    TcpEvent::RstOutOfWindow
                },
                false,
            );
        }

        if flags.syn() {
            return match (from, flags.ack()) {
                (Side::Initiator, false) if seg.seq == me.isn => (TcpEvent::InitiatorSyn, true),
                (Side::Initiator, false) => (TcpEvent::InitiatorSynNewIsn, false),
                (Side::Responder, true) if seg.ack != peer.isn + 1 => {
                    (TcpEvent::SynAckBadAck, false)
                }
                (Side::Responder, true) if me.syn_seen && seg.seq != me.isn => {
                    (TcpEvent::ResponderSynAckNewIsn, false)
                }
                (Side::Responder, true) => (TcpEvent::ResponderSynAck, me.syn_seen),
                _ => (TcpEvent::BadSyn, false),
            };
        }

        if !flags.ack() {
            return (TcpEvent::NoAck, false);
        }
        if !self.in_window(from, seg) {
            return (TcpEvent::OutOfWindow, false);
        }
        // An ACK may not acknowledge sequence space the peer never sent.
        if peer.syn_seen && seg.ack.gt(peer.end) {
            return (TcpEvent::BadAck, false);
        }
        if self.state == TcpState::SynRcvd && from == Side::Initiator {
            return if seg.ack == peer.isn + 1 {
                (TcpEvent::AckOfSynAck, false)
            } else {
                (TcpEvent::BadAck, false)
            };
        }
        if flags.fin() {
            return (self.fin_event(from), false);
        }
        (TcpEvent::Segment, false)
    }

    fn fin_event(&self, from: Side) -> TcpEvent {
        if self.peers[from.index()].fin_seen {
            TcpEvent::FinRetransmit
        } else if self.peers[from.peer().index()].fin_seen {
            TcpEvent::SecondFin
        } else {
            TcpEvent::Fin
        }
    }

    /// §3.2: is the RST's sequence number inside the receiver's window?
    fn rst_acceptable(&self, from: Side, seg: &SegmentInfo) -> bool {
        let me = &self.peers[from.index()];
        let receiver = &self.peers[from.peer().index()];
        if receiver.ack_seen {
            let window = receiver.window.max(1);
            return seg.seq.ge(receiver.ack) && seg.seq.lt(receiver.ack + window);
        }
        match from {
            // RFC 9293 §3.10.7.3 (SYN-SENT): a reset is acceptable if its ACK
            // acknowledges the SYN.
            Side::Responder if !me.syn_seen => seg.flags.ack() && seg.ack == receiver.isn + 1,
            // The receiver has acknowledged nothing yet: only the sender's own next
            // sequence number is plausible.
            _ => seg.seq == me.end,
        }
    }

    /// §3.3: accept unless the segment lies entirely outside
    /// `[ack − max_window, ack + window + 1 MSS]` of the receiver.
    fn in_window(&self, from: Side, seg: &SegmentInfo) -> bool {
        let me = &self.peers[from.index()];
        let receiver = &self.peers[from.peer().index()];
        if !receiver.ack_seen {
            return true;
        }
        let left = receiver.ack - receiver.max_window.saturating_add(1);
        let right = receiver.right_edge + u32::from(me.mss);
        let len = seg.seq_len();
        if len == 0 {
            seg.seq.ge(left) && seg.seq.le(right)
        } else {
            seg.seq_end().gt(left) && seg.seq.lt(right)
        }
    }

    /// Records what an accepted segment tells about its sender.
    fn learn(&mut self, from: Side, seg: &SegmentInfo, event: TcpEvent) {
        let first_synack = event == TcpEvent::ResponderSynAck && !self.peers[from.index()].syn_seen;
        if first_synack {
            let init_wscale = self.peers[Side::Initiator.index()].wscale;
            let p = &mut self.peers[from.index()];
            p.isn = seg.seq;
            p.end = seg.seq;
            p.syn_seen = true;
            p.mss = seg.mss.unwrap_or(DEFAULT_MSS);
            p.wscale = seg.wscale.map(|w| w.min(MAX_WSCALE));
            // RFC 7323 §2.2: scaling is in effect only when both SYNs carried the option.
            self.scaling = init_wscale.is_some() && p.wscale.is_some();
        }
        if event == TcpEvent::RstInWindow {
            return;
        }
        let scaling = self.scaling;
        let p = &mut self.peers[from.index()];
        p.end = p.end.max(seg.seq_end());
        // A retransmitted SYN carries a stale, unscaled window: learn nothing from it.
        let stale_syn = seg.flags.syn() && !first_synack;
        if !stale_syn {
            let shift = if scaling && !seg.flags.syn() {
                p.wscale.unwrap_or(0)
            } else {
                0
            };
            p.window = u32::from(seg.window) << shift;
            p.max_window = p.max_window.max(p.window);
            p.window_field = seg.window;
        }
        if seg.flags.ack() {
            if !p.ack_seen || seg.ack.gt(p.ack) {
                p.ack = seg.ack;
            }
            let edge = seg.ack + p.window;
            if !p.ack_seen || edge.gt(p.right_edge) {
                p.right_edge = edge;
            }
            p.ack_seen = true;
        }
        if seg.flags.fin() && !matches!(event, TcpEvent::AckOfSynAck) {
            self.learn_fin(from, seg);
        }
    }

    fn learn_fin(&mut self, from: Side, seg: &SegmentInfo) {
        let p = &mut self.peers[from.index()];
        if !p.fin_seen {
            p.fin_seen = true;
            p.fin_seq = seg.seq + seg.payload_len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Side = Side::Initiator;
    const R: Side = Side::Responder;
    const A: TcpFlags = TcpFlags::ACK;
    const SYN: TcpFlags = TcpFlags::SYN;
    const FIN: TcpFlags = TcpFlags::FIN;
    const RST: TcpFlags = TcpFlags::RST;

    fn seg(seq: u32, ack: u32, flags: TcpFlags, window: u16, len: u32) -> SegmentInfo {
        SegmentInfo::new(seq, ack, flags, window, len)
    }

    /// Client ISN 1000, server ISN 5000, no options.
    fn established() -> TcpTracker {
        let mut t = TcpTracker::from_syn(&seg(1000, 0, SYN, 64240, 0)).unwrap();
        assert!(matches!(
            t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)),
            TrackVerdict::Accept(a) if a.state == TcpState::SynRcvd
        ));
        let v = t.on_segment(I, &seg(1001, 5001, A, 502, 0));
        assert!(matches!(v, TrackVerdict::Accept(a) if a.became_established()));
        t
    }

    fn accepted(v: TrackVerdict) -> Accepted {
        match v {
            TrackVerdict::Accept(a) => a,
            TrackVerdict::Drop(r) => panic!("dropped: {r:?}"),
        }
    }

    proptest::proptest! {
        /// Arbitrary segments never panic, and the state only moves forward through the
        /// table: once established never half-open again, once closed always closed.
        #[test]
        fn arbitrary_segments_move_the_state_forward_only(
            isn in proptest::prelude::any::<u32>(),
            segs in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>(),
                 0u8..64, proptest::prelude::any::<u16>(), 0u32..3000, proptest::option::of(0u8..20)),
                0..64,
            ),
        ) {
            let rank = |s: TcpState| TcpState::ALL.iter().position(|x| *x == s).unwrap();
            let mut t = TcpTracker::from_syn(&seg(isn, 0, SYN, 1000, 0)).unwrap();
            for (initiator, seq, ack, flags, window, len, wscale) in segs {
                let from = if initiator { I } else { R };
                // Half of the segments use plausible numbers so the handshake happens.
                let (seq, ack) = if seq % 2 == 0 {
                    (t.next_seq(from).0, t.next_seq(from.peer()).0)
                } else {
                    (seq, ack)
                };
                let info = seg(seq, ack, TcpFlags(flags), window, len).with_options(wscale, None);
                let before = t.state();
                match t.on_segment(from, &info) {
                    TrackVerdict::Accept(a) => {
                        proptest::prop_assert_eq!(a.previous, before);
                        proptest::prop_assert!(rank(a.state) >= rank(before), "{:?} -> {:?}", before, a.state);
                    }
                    TrackVerdict::Drop(_) => proptest::prop_assert_eq!(t.state(), before),
                }
            }
        }

        /// The established fast path learns exactly what `on_segment` learns when it
        /// takes a segment, and changes nothing when it leaves it to `on_segment`.
        #[test]
        fn track_established_agrees_with_on_segment(
            segs in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), -70_000i64..70_000, -70_000i64..70_000,
                 0u8..64, proptest::prelude::any::<u16>(), 0u32..3000),
                0..48,
            ),
        ) {
            let mut t = established();
            for (initiator, dseq, dack, flags, window, len) in segs {
                let from = if initiator { I } else { R };
                let seq = (t.next_seq(from).0 as i64 + dseq) as u32;
                let ack = (t.next_seq(from.peer()).0 as i64 + dack) as u32;
                let info = seg(seq, ack, TcpFlags(flags), window, len);
                let mut fast = t;
                let mut slow = t;
                let verdict = slow.on_segment(from, &info);
                if fast.track_established(from, &info) {
                    proptest::prop_assert!(
                        matches!(verdict, TrackVerdict::Accept(a) if !a.state_changed()),
                        "{:?}", verdict
                    );
                    proptest::prop_assert_eq!(fast, slow);
                } else {
                    proptest::prop_assert_eq!(fast, t);
                    // Only segments that are not ordinary in-window ACKs of an
                    // established session are left to the full tracker.
                    let ordinary = TcpFlags(flags).ack()
                        && !TcpFlags(flags).syn()
                        && !TcpFlags(flags).fin()
                        && !TcpFlags(flags).rst();
                    proptest::prop_assert!(
                        !ordinary
                            || t.state() != TcpState::Established
                            || matches!(verdict, TrackVerdict::Drop(_)),
                        "{:?}", verdict
                    );
                }
                t = slow;
            }
        }
    }

    #[test]
    fn tracker_stays_small_enough_to_live_in_the_session_table() {
        assert!(core::mem::size_of::<TcpTracker>() <= 96);
    }

    #[test]
    fn handshake_states_and_half_open() {
        let mut t = TcpTracker::from_syn(&seg(1000, 0, SYN, 64240, 0)).unwrap();
        assert_eq!(t.state(), TcpState::SynSent);
        assert!(t.is_half_open());
        assert_eq!(
            t.half_open_reset(),
            None,
            "no SYN+ACK seen: delete silently"
        );
        let a = accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)));
        assert!(a.state_changed() && !a.became_established());
        assert!(t.is_half_open());
        assert_eq!(
            t.half_open_reset(),
            Some(InjectedSegment {
                toward: R,
                seq: Seq(1001),
                ack: Seq(5001),
                flags: RST | A,
                window: 0
            })
        );
        let a = accepted(t.on_segment(I, &seg(1001, 5001, A, 502, 0)));
        assert!(a.became_established());
        assert_eq!(t.state().display(), "SIS_OPEN");
        assert_eq!(t.half_open_reset(), None);
    }

    #[test]
    fn syn_retransmission_same_isn_is_forwarded_other_isn_dropped() {
        let mut t = TcpTracker::from_syn(&seg(1000, 0, SYN, 64240, 0)).unwrap();
        let a = accepted(t.on_segment(I, &seg(1000, 0, SYN, 64240, 0)));
        assert!(a.syn_retransmission && !a.state_changed());
        assert_eq!(
            t.on_segment(I, &seg(7777, 0, SYN, 64240, 0)),
            TrackVerdict::Drop(TcpDropReason::SynIsnMismatch)
        );
        // SYN+ACK that does not acknowledge ISN+1.
        assert_eq!(
            t.on_segment(R, &seg(5000, 1000, SYN | A, 65160, 0)),
            TrackVerdict::Drop(TcpDropReason::BadSynAck)
        );
        // SYN+ACK from the initiator side.
        assert_eq!(
            t.on_segment(I, &seg(1000, 1, SYN | A, 65160, 0)),
            TrackVerdict::Drop(TcpDropReason::BadSyn)
        );
        accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)));
        let a = accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)));
        assert!(a.syn_retransmission);
        assert_eq!(
            t.on_segment(R, &seg(6000, 1001, SYN | A, 65160, 0)),
            TrackVerdict::Drop(TcpDropReason::SynIsnMismatch)
        );
    }

    #[test]
    fn session_needs_a_plain_syn() {
        assert_eq!(
            TcpTracker::from_syn(&seg(1, 0, SYN | A, 10, 0)),
            Err(TcpDropReason::BadSyn)
        );
        assert_eq!(
            TcpTracker::from_syn(&seg(1, 0, A, 10, 0)),
            Err(TcpDropReason::BadSyn)
        );
    }

    #[test]
    fn data_before_synack_and_bad_final_ack_are_dropped() {
        let mut t = TcpTracker::from_syn(&seg(1000, 0, SYN, 64240, 0)).unwrap();
        assert_eq!(
            t.on_segment(I, &seg(1001, 0, A, 502, 10)),
            TrackVerdict::Drop(TcpDropReason::InvalidInState)
        );
        accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)));
        assert_eq!(
            t.on_segment(I, &seg(1001, 4999, A, 502, 0)),
            TrackVerdict::Drop(TcpDropReason::BadAck)
        );
        assert_eq!(
            t.on_segment(I, &seg(1001, 5001, TcpFlags::PSH, 502, 0)),
            TrackVerdict::Drop(TcpDropReason::NoAck)
        );
    }

    #[test]
    fn fin_exchange_reaches_fin_both_once() {
        let mut t = established();
        accepted(t.on_segment(I, &seg(1001, 5001, A, 502, 6)));
        let a = accepted(t.on_segment(I, &seg(1007, 5001, A | FIN, 502, 0)));
        assert_eq!(a.state, TcpState::FinOne);
        assert_eq!(t.fin_seq(I), Some(Seq(1007)));
        assert_eq!(t.next_seq(I), Seq(1008));
        let a = accepted(t.on_segment(I, &seg(1007, 5001, A | FIN, 502, 0)));
        assert!(!a.state_changed(), "retransmitted FIN");
        let a = accepted(t.on_segment(R, &seg(5001, 1008, A | FIN, 509, 0)));
        assert!(a.reached_fin_both());
        assert_eq!(a.state.display(), "SIS_CLOSING");
        let a = accepted(t.on_segment(I, &seg(1008, 5002, A, 502, 0)));
        assert!(!a.reached_fin_both() && a.state == TcpState::FinBoth);
        assert_eq!(
            t.on_segment(I, &seg(9999, 0, SYN, 502, 0)),
            TrackVerdict::Drop(TcpDropReason::SynIsnMismatch)
        );
    }

    #[test]
    fn rst_in_window_closes_out_of_window_is_dropped() {
        let mut t = established();
        // The server acknowledged 1001 with window 65160: 1001 + 70000 is outside.
        assert_eq!(
            t.on_segment(I, &seg(1001 + 70000, 0, RST, 0, 0)),
            TrackVerdict::Drop(TcpDropReason::RstOutOfWindow)
        );
        assert_eq!(
            t.on_segment(I, &seg(1000, 0, RST, 0, 0)),
            TrackVerdict::Drop(TcpDropReason::RstOutOfWindow)
        );
        let a = accepted(t.on_segment(I, &seg(1001 + 100, 0, RST, 0, 0)));
        assert!(a.closed());
        assert_eq!(
            t.on_segment(R, &seg(5001, 1001, A, 100, 0)),
            TrackVerdict::Drop(TcpDropReason::SessionClosed)
        );
    }

    #[test]
    fn rst_answering_the_syn_needs_the_right_ack() {
        let mut t = TcpTracker::from_syn(&seg(1000, 0, SYN, 64240, 0)).unwrap();
        assert_eq!(
            t.on_segment(R, &seg(0, 1000, RST | A, 0, 0)),
            TrackVerdict::Drop(TcpDropReason::RstOutOfWindow)
        );
        assert!(accepted(t.on_segment(R, &seg(0, 1001, RST | A, 0, 0))).closed());
    }

    #[test]
    fn window_check_drops_segments_far_outside() {
        let mut t = established();
        // Server window 65160, client MSS 536: right edge 1001 + 65160 + 536.
        let right = 1001 + 65160 + 536;
        accepted(t.on_segment(I, &seg(right - 1, 5001, A, 502, 1)));
        assert_eq!(
            t.on_segment(I, &seg(right, 5001, A, 502, 1)),
            TrackVerdict::Drop(TcpDropReason::OutOfWindow)
        );
        // Far below the left edge.
        assert_eq!(
            t.on_segment(I, &seg(1001u32.wrapping_sub(70000), 5001, A, 502, 10)),
            TrackVerdict::Drop(TcpDropReason::OutOfWindow)
        );
        // ACK of data the server never sent.
        assert_eq!(
            t.on_segment(I, &seg(1001, 5002, A, 502, 0)),
            TrackVerdict::Drop(TcpDropReason::BadAck)
        );
    }

    #[test]
    fn window_scaling_needs_both_syns() {
        let syn = seg(1000, 0, SYN, 64240, 0).with_options(Some(7), Some(1460));
        let mut t = TcpTracker::from_syn(&syn).unwrap();
        let synack = seg(5000, 1001, SYN | A, 65160, 0).with_options(Some(9), Some(1400));
        accepted(t.on_segment(R, &synack));
        assert!(t.window_scaling());
        assert_eq!(t.window(R), 65160, "the SYN+ACK window is never scaled");
        accepted(t.on_segment(I, &seg(1001, 5001, A, 502, 0)));
        assert_eq!(t.window(I), 502 << 7);
        assert_eq!(t.window_field(I), 502);
        accepted(t.on_segment(R, &seg(5001, 1001, A, 500, 0)));
        assert_eq!(t.window(R), 500 << 9);
        assert_eq!(t.mss(I), 1460);
        assert_eq!(t.receive_limit(R), Some(Seq(1001) + (500 << 9) + 1460));
        // A segment 200 000 bytes ahead fits the scaled window (256 000).
        accepted(t.on_segment(I, &seg(1001 + 200_000, 5001, A, 502, 100)));

        // Only one SYN with the option: no scaling.
        let mut t = TcpTracker::from_syn(&syn).unwrap();
        accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)));
        accepted(t.on_segment(I, &seg(1001, 5001, A, 502, 0)));
        assert!(!t.window_scaling());
        assert_eq!(t.window(I), 502);
    }

    #[test]
    fn shrunken_window_keeps_the_highest_right_edge() {
        let mut t = established();
        // The server closes its window to 0 after acknowledging 100 bytes.
        accepted(t.on_segment(I, &seg(1001, 5001, A, 502, 100)));
        accepted(t.on_segment(R, &seg(5001, 1101, A, 0, 0)));
        assert_eq!(t.window(R), 0);
        // Data sent under the old window (edge 1001 + 65160) still passes.
        accepted(t.on_segment(I, &seg(1101 + 60_000, 5001, A, 502, 100)));
        assert_eq!(t.receive_limit(R), Some(Seq(1001 + 65160 + 536)));
        // A retransmitted SYN+ACK does not reset the learned window.
        accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 1, 0)));
        assert_eq!(t.window_field(R), 0);
    }

    #[test]
    fn sequence_numbers_wrap_around_2_pow_32() {
        let isn = u32::MAX - 3;
        let mut t = TcpTracker::from_syn(&seg(isn, 0, SYN, 64240, 0)).unwrap();
        accepted(t.on_segment(R, &seg(u32::MAX, isn.wrapping_add(1), SYN | A, 65160, 0)));
        accepted(t.on_segment(I, &seg(isn.wrapping_add(1), 0, A, 502, 0)));
        assert_eq!(t.state(), TcpState::Established);
        // 10 bytes straddling 2^32.
        accepted(t.on_segment(I, &seg(isn.wrapping_add(1), 0, A, 502, 10)));
        assert_eq!(t.next_seq(I), Seq(isn.wrapping_add(11)));
        accepted(t.on_segment(R, &seg(0, isn.wrapping_add(11), A, 65160, 0)));
        assert_eq!(t.highest_ack(R), Some(Seq(7)));
        // ACK beyond what the client sent, across the wrap.
        assert_eq!(
            t.on_segment(R, &seg(0, 8, A, 65160, 0)),
            TrackVerdict::Drop(TcpDropReason::BadAck)
        );
        let a = accepted(t.on_segment(I, &seg(7, 0, A | FIN, 502, 0)));
        assert_eq!(a.state, TcpState::FinOne);
    }

    #[test]
    fn handshake_ack_carrying_fin_is_applied_in_order() {
        let mut t = TcpTracker::from_syn(&seg(1000, 0, SYN, 64240, 0)).unwrap();
        accepted(t.on_segment(R, &seg(5000, 1001, SYN | A, 65160, 0)));
        let a = accepted(t.on_segment(I, &seg(1001, 5001, A | FIN, 502, 4)));
        assert!(a.became_established());
        assert_eq!(a.state, TcpState::FinOne);
        assert_eq!(t.fin_seq(I), Some(Seq(1005)));
    }

    #[test]
    fn injected_fin_may_be_acknowledged() {
        let mut t = established();
        assert_eq!(
            t.on_segment(I, &seg(1001, 5002, A, 502, 0)),
            TrackVerdict::Drop(TcpDropReason::BadAck)
        );
        t.record_injected(R, Seq(5001 + 25));
        accepted(t.on_segment(I, &seg(1001, 5001 + 25, A, 502, 0)));
    }
}
