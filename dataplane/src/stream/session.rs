//! Both directions of an SMTP-inspected session, their alerts, and reply-and-close.
//!
//! [`InspectedSession`] is what the pipeline stores beside the session's [`TcpTracker`]
//! when the session has an SMTP inspector. It routes each segment to the stream of its
//! sender, turns stream findings into the session-level alerts of §11 (the overlap
//! mismatch is logged once per session, the out-of-order overflow with its figures), and
//! computes the two injected segments of reply-and-close (§9.2 steps 2–3).

use super::closing::FwClosing;
use super::counters::StreamCounters;
use super::inspected::{
    Arrival, InspectedStream, Pending, Released, SegmentVerdict, StreamDropReason,
};
use super::pool::StreamPool;
use super::segment::{InjectedSegment, Side, TcpFlags};
use super::seq::Seq;
use super::tracker::TcpTracker;

/// An alert the pipeline must log (gated by the rule's alert setting and rate limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// `%FW-4-TCP_OVERLAP_MISMATCH: Retransmitted data differs from original - session
    /// %i:%d to %i:%d` — at most once per session.
    OverlapMismatch { from: Side },
    /// `%FW-4-TCP_OoO_SEG: Dropping TCP Segment: seq:%u %u bytes is out-of-order; expected
    /// seq:%u. Reason: TCP reassembly queue overflow - session %i:%d to %i:%d`.
    OooOverflow {
        from: Side,
        seq: Seq,
        len: u32,
        expected: Seq,
    },
}

/// The two segments of reply-and-close and the FW_CLOSING state that follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyAndClose {
    /// To the client in the server's name: `ACK|PSH|FIN`, payload = the reply text.
    pub to_client: InjectedSegment,
    /// To the server in the client's name: `RST|ACK`, no payload.
    pub to_server: InjectedSegment,
    pub closing: FwClosing,
}

/// Both directions of one inspected session. The initiator is the SMTP client. Owns pool
/// chunks: call [`InspectedSession::release_all`] before dropping it.
#[derive(Debug, PartialEq, Eq)]
pub struct InspectedSession {
    streams: [InspectedStream; 2],
    mismatch_logged: bool,
    pending_mismatch: Option<Side>,
    pending_overflow: Option<StreamEvent>,
}

impl InspectedSession {
    /// `initiator_first`/`responder_first`: the first data sequence number of each side
    /// (ISN + 1).
    pub fn new(initiator_first: Seq, responder_first: Seq) -> InspectedSession {
        InspectedSession {
            streams: [
                InspectedStream::new(initiator_first),
                InspectedStream::new(responder_first),
            ],
            mismatch_logged: false,
            pending_mismatch: None,
            pending_overflow: None,
        }
    }

    /// Builds the session from a tracker that has seen both SYNs.
    pub fn from_tracker(t: &TcpTracker) -> Option<InspectedSession> {
        let i = t.isn(Side::Initiator)?;
        let r = t.isn(Side::Responder)?;
        Some(InspectedSession::new(i + 1, r + 1))
    }

    /// The stream of bytes sent by `from`.
    pub fn stream(&self, from: Side) -> &InspectedStream {
        &self.streams[from.index()]
    }

    /// An ACK sent by `ack_from` releases the stored bytes of the other direction. Call it
    /// for every accepted segment carrying ACK, before `on_segment` for its data.
    pub fn on_ack(&mut self, pool: &mut StreamPool, ack_from: Side, ack: Seq) {
        self.streams[ack_from.peer().index()].on_ack(pool, ack);
    }

    /// Judges a segment sent by `from` ([`InspectedStream::on_segment`]).
    pub fn on_segment(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        from: Side,
        a: Arrival,
        frame: &mut [u8],
    ) -> SegmentVerdict {
        let stream = &mut self.streams[from.index()];
        let expected = stream.next_seq();
        let verdict = stream.on_segment(pool, counters, a, frame);
        match verdict {
            SegmentVerdict::Drop(StreamDropReason::OooOverflow) => {
                self.pending_overflow = Some(StreamEvent::OooOverflow {
                    from,
                    seq: a.seq,
                    len: a.payload_len as u32,
                    expected,
                });
            }
            SegmentVerdict::Forward(f) if f.mismatch => self.note_mismatch(from),
            SegmentVerdict::Inspect(p) if p.mismatch() => self.note_mismatch(from),
            _ => {}
        }
        verdict
    }

    /// The inspector rewrote the forwarded bytes `[start, end)` of `from`
    /// ([`InspectedStream::note_edit`]).
    pub fn note_edit(&mut self, from: Side, start: Seq, end: Seq) {
        self.streams[from.index()].note_edit(start, end);
    }

    /// Completes an `Inspect` verdict ([`InspectedStream::commit`]).
    pub fn commit(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        from: Side,
        p: Pending,
        payload: &[u8],
        accepted: usize,
    ) -> SegmentVerdict {
        self.streams[from.index()].commit(pool, counters, p, payload, accepted)
    }

    /// The next queued frame of `from` that can now go in order
    /// ([`InspectedStream::release_ready`]).
    pub fn release_ready(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        from: Side,
        now_ms: u64,
        out: &mut [u8],
    ) -> Option<Released> {
        self.streams[from.index()].release_ready(pool, counters, now_ms, out)
    }

    /// Discards queued frames older than 5 s in both directions.
    pub fn expire(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        now_ms: u64,
    ) -> usize {
        self.streams
            .iter_mut()
            .map(|s| s.expire(pool, counters, now_ms))
            .sum()
    }

    /// When the next queued frame expires, if any.
    pub fn next_expiry(&self) -> Option<u64> {
        self.streams
            .iter()
            .filter_map(InspectedStream::next_expiry)
            .min()
    }

    /// The next alert to log, if any. Poll after each call that can raise one.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        if let Some(from) = self.pending_mismatch.take() {
            return Some(StreamEvent::OverlapMismatch { from });
        }
        self.pending_overflow.take()
    }

    /// Returns every pool chunk. Must be called when the session is deleted.
    pub fn release_all(&mut self, pool: &mut StreamPool) {
        for s in &mut self.streams {
            s.release_all(pool);
        }
    }

    /// Reply-and-close (§9.2). `offending_end`: the sequence number after the client
    /// segment containing the violation; `server_window`: the server's last window field
    /// ([`TcpTracker::window_field`]); `reply_len`: length of the reply text. Call after
    /// `commit` (with the bytes forwarded before the limit, for max-data). Releases the
    /// session's pool memory; afterwards only the returned [`FwClosing`] handles segments.
    /// The caller should also `record_injected(Side::Responder, closing.server_seq())` on
    /// the tracker if segments still pass through it.
    pub fn reply_and_close(
        &mut self,
        pool: &mut StreamPool,
        offending_end: Seq,
        server_window: u16,
        reply_len: u32,
    ) -> ReplyAndClose {
        let client = &self.streams[Side::Initiator.index()];
        let server = &self.streams[Side::Responder.index()];
        let server_next = server.next_seq_with_fin();
        let to_client = InjectedSegment {
            toward: Side::Initiator,
            seq: server_next,
            ack: offending_end,
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
            window: server_window,
        };
        let to_server = InjectedSegment {
            toward: Side::Responder,
            seq: client.next_seq_with_fin(),
            ack: server_next,
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
        };
        self.release_all(pool);
        ReplyAndClose {
            to_client,
            to_server,
            closing: FwClosing::new(server_next + reply_len + 1, offending_end, server_window),
        }
    }

    fn note_mismatch(&mut self, from: Side) {
        if !self.mismatch_logged {
            self.mismatch_logged = true;
            self.pending_mismatch = Some(from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::closing::ClosingAction;
    use crate::stream::segment::SegmentInfo;
    use crate::stream::tracker::TrackVerdict;

    const C: Side = Side::Initiator;
    const S: Side = Side::Responder;

    fn arrival(seq: Seq, len: usize) -> Arrival {
        Arrival {
            now_ms: 0,
            seq,
            fin: false,
            payload_at: 0,
            payload_len: len,
            receive_limit: None,
        }
    }

    fn accept(v: TrackVerdict) {
        assert!(matches!(v, TrackVerdict::Accept(_)), "{v:?}");
    }

    /// Sends `payload` from `from` through tracker and session, the inspector accepting
    /// `n` new bytes; returns the stream verdict.
    #[allow(clippy::too_many_arguments)]
    fn send(
        t: &mut TcpTracker,
        sess: &mut InspectedSession,
        pool: &mut StreamPool,
        c: &mut StreamCounters,
        from: Side,
        seq: Seq,
        payload: &mut [u8],
        n: usize,
    ) -> SegmentVerdict {
        let ack = t.next_seq(from.peer());
        let window = if from == S { 509 } else { 502 };
        let info = SegmentInfo::new(
            seq.0,
            ack.0,
            TcpFlags::ACK | TcpFlags::PSH,
            window,
            payload.len() as u32,
        );
        accept(t.on_segment(from, &info));
        sess.on_ack(pool, from, ack);
        let mut a = arrival(seq, payload.len());
        a.receive_limit = t.receive_limit(from.peer());
        match sess.on_segment(pool, c, from, a, payload) {
            SegmentVerdict::Inspect(p) => sess.commit(pool, c, from, p, payload, n),
            v => v,
        }
    }

    /// D5: `HELO ` + 600×`a` + CRLF is refused whole; the injected segments' numbers.
    #[test]
    fn d5_reply_and_close_sequence_numbers() {
        let (ci, si) = (3_000_000_000u32, 7_000u32);
        let mut t =
            TcpTracker::from_syn(&SegmentInfo::new(ci, 0, TcpFlags::SYN, 64240, 0)).unwrap();
        accept(t.on_segment(
            S,
            &SegmentInfo::new(si, ci + 1, TcpFlags::SYN | TcpFlags::ACK, 65160, 0),
        ));
        accept(t.on_segment(C, &SegmentInfo::new(ci + 1, si + 1, TcpFlags::ACK, 502, 0)));
        let mut sess = InspectedSession::from_tracker(&t).unwrap();
        let mut pool = StreamPool::new(64 * 1024, 64 * 1024);
        let mut c = StreamCounters::default();

        let mut banner = *b"220 mail.example.test ESMTP\r\n";
        assert_eq!(banner.len(), 29);
        let v = send(
            &mut t,
            &mut sess,
            &mut pool,
            &mut c,
            S,
            Seq(si + 1),
            &mut banner,
            29,
        );
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.len == 29));

        let mut line = b"HELO ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 600));
        line.extend_from_slice(b"\r\n");
        assert_eq!(line.len(), 607);
        let v = send(
            &mut t,
            &mut sess,
            &mut pool,
            &mut c,
            C,
            Seq(ci + 1),
            &mut line,
            0,
        );
        assert_eq!(
            v,
            SegmentVerdict::Drop(StreamDropReason::Withheld),
            "nothing reaches the server"
        );

        let reply = b"554 Transaction failed\r\n";
        let offending_end = Seq(ci + 1) + 607;
        let rc = sess.reply_and_close(
            &mut pool,
            offending_end,
            t.window_field(S),
            reply.len() as u32,
        );
        assert_eq!(
            rc.to_client,
            InjectedSegment {
                toward: C,
                seq: Seq(si + 1 + 29),
                ack: Seq(ci + 1 + 607),
                flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
                window: 509,
            }
        );
        assert_eq!(
            rc.to_server,
            InjectedSegment {
                toward: S,
                seq: Seq(ci + 1),
                ack: Seq(si + 1 + 29),
                flags: TcpFlags::RST | TcpFlags::ACK,
                window: 0,
            }
        );
        assert_eq!(pool.store_bytes_in_use() + pool.ooo_bytes_in_use(), 0);

        // The client acknowledges the reply and FIN, then closes.
        let mut closing = rc.closing;
        t.record_injected(S, closing.server_seq());
        let fin_acked = Seq(si + 1 + 29 + 24 + 1);
        let ack = SegmentInfo::new(ci + 1 + 607, fin_acked.0, TcpFlags::ACK, 502, 0);
        accept(t.on_segment(C, &ack));
        assert_eq!(closing.on_segment(C, &ack).action, ClosingAction::Absorb);
        let fin = SegmentInfo::new(
            ci + 1 + 607,
            fin_acked.0,
            TcpFlags::ACK | TcpFlags::FIN,
            502,
            0,
        );
        let out = closing.on_segment(C, &fin);
        assert!(out.start_finwait);
        assert_eq!(
            out.action,
            ClosingAction::AckInServerName(InjectedSegment {
                toward: C,
                seq: fin_acked,
                ack: Seq(ci + 1 + 608),
                flags: TcpFlags::ACK,
                window: 509,
            })
        );
    }

    #[test]
    fn d20_overlap_mismatch_is_logged_once_per_session() {
        let mut pool = StreamPool::new(64 * 1024, 64 * 1024);
        let mut c = StreamCounters::default();
        let s = Seq(40033);
        let mut sess = InspectedSession::new(s, Seq(1));
        let mut first = *b"HELO a\r\n";
        let SegmentVerdict::Inspect(p) =
            sess.on_segment(&mut pool, &mut c, C, arrival(s, 8), &mut first)
        else {
            panic!()
        };
        let _ = sess.commit(&mut pool, &mut c, C, p, &first, 8);
        assert_eq!(sess.poll_event(), None);
        for _ in 0..2 {
            let mut again = *b"EXPN a\r\n";
            let v = sess.on_segment(&mut pool, &mut c, C, arrival(s, 8), &mut again);
            assert!(matches!(v, SegmentVerdict::Forward(f) if f.rewritten));
            assert_eq!(&again, b"HELO a\r\n");
        }
        assert_eq!(c.tcp_retrans_mismatch, 2);
        assert_eq!(
            sess.poll_event(),
            Some(StreamEvent::OverlapMismatch { from: C })
        );
        assert_eq!(sess.poll_event(), None, "one log per session");
        // The server direction mismatching later does not log again either.
        let mut reply = *b"250 ok\r\n";
        let SegmentVerdict::Inspect(p) =
            sess.on_segment(&mut pool, &mut c, S, arrival(Seq(1), 8), &mut reply)
        else {
            panic!()
        };
        let _ = sess.commit(&mut pool, &mut c, S, p, &reply, 8);
        let mut other = *b"550 no\r\n";
        let _ = sess.on_segment(&mut pool, &mut c, S, arrival(Seq(1), 8), &mut other);
        assert_eq!(sess.poll_event(), None);
        sess.on_ack(&mut pool, S, s + 8);
        let mut third = *b"HELO a\r\n";
        let v = sess.on_segment(&mut pool, &mut c, C, arrival(s, 8), &mut third);
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::AlreadyAcked));
        sess.release_all(&mut pool);
        assert_eq!(pool.store_bytes_in_use(), 0);
    }

    #[test]
    fn d22_overflow_event_carries_the_log_figures() {
        let mut pool = StreamPool::new(64 * 1024, 64 * 1024);
        let mut c = StreamCounters::default();
        let s = Seq(u32::MAX - 20);
        let mut sess = InspectedSession::new(s, Seq(1));
        for i in 0..17u32 {
            let mut seg = *b"abcd";
            let mut a = arrival(s + 1 + 4 * i, 4);
            a.now_ms = 1_000;
            let v = sess.on_segment(&mut pool, &mut c, C, a, &mut seg);
            if i < 16 {
                assert_eq!(v, SegmentVerdict::Queued);
                assert_eq!(sess.poll_event(), None);
            } else {
                assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::OooOverflow));
            }
        }
        assert_eq!(
            sess.poll_event(),
            Some(StreamEvent::OooOverflow {
                from: C,
                seq: s + 65,
                len: 4,
                expected: s,
            })
        );
        assert_eq!(sess.next_expiry(), Some(1_000 + OOO_TIMEOUT_MS_FOR_TEST));
        assert_eq!(sess.expire(&mut pool, &mut c, 6_000), 16);
        assert_eq!(pool.ooo_bytes_in_use(), 0);
    }

    const OOO_TIMEOUT_MS_FOR_TEST: u64 = crate::stream::inspected::OOO_TIMEOUT_MS;

    #[test]
    fn from_tracker_needs_both_syns() {
        let t = TcpTracker::from_syn(&SegmentInfo::new(10, 0, TcpFlags::SYN, 1000, 0)).unwrap();
        assert!(InspectedSession::from_tracker(&t).is_none());
    }
}
