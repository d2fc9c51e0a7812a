//! TCP state tracking for every inspected TCP session, and the stream-integrity layer under
//! the SMTP inspector. Sans-IO: numbers and byte slices in, verdicts out; time is passed in
//! as monotonic milliseconds; nothing here allocates after the worker's [`StreamPool`] is
//! built.
//!
//! | piece | spec | file |
//! |---|---|---|
//! | [`TcpState`], the transition table, drop reasons | `cbac-sessions.md` §3.1–3.4 | `tcp_state.rs` |
//! | [`TcpTracker`]: per-session state, sequence/window tracking, §3.5 reset | §3.1–3.5 | `tracker.rs` |
//! | [`InspectedStream`]: in-order delivery, first copy wins, withholding, OoO queue, window, store cap | `smtp-inspection.md` §11, §2.1, §3.3 | `inspected.rs` |
//! | [`InspectedSession`]: both directions, alerts, reply-and-close numbers | §11, §9.2 steps 2–3 | `session.rs` |
//! | [`FwClosing`]: FW_CLOSING actions | §9.2 step 4 | `closing.rs` |
//! | [`StreamPool`]: per-worker chunk arena with hard budgets | §11 rules 1, 5 | `pool.rs` |
//! | [`StreamCounters`] | §14 | `counters.rs` |
//!
//! # How the pipeline uses it
//!
//! Every TCP session stores a [`TcpTracker`] (created with [`TcpTracker::from_syn`]); every
//! segment of the session goes through [`TcpTracker::on_segment`] first. A `Drop` is
//! counted ([`StreamCounters::count_tcp_drop`]) and the segment dropped. An `Accept` says
//! whether the session just became established (leave the half-open counts, switch to
//! idle-time), reached FIN_BOTH (start finwait-time) or closed (forward the RST, delete).
//!
//! Sessions with an SMTP inspector also store an [`InspectedSession`] (built with
//! [`InspectedSession::from_tracker`] once the SYN+ACK has been seen). For each segment the
//! tracker accepted, from side `from`:
//!
//! 1. if it carries ACK: `session.on_ack(pool, from, ack)` (releases the other direction's
//!    stored bytes);
//! 2. `session.on_segment(pool, counters, from, arrival, frame)` with
//!    `arrival.receive_limit = tracker.receive_limit(from.peer())`, then act on the verdict:
//!    * `Forward(f)` — forward `payload[f.offset .. f.offset + f.len]` at sequence
//!      `seq + f.offset`, FIN only if `f.fin` (cut/trim the frame, fix checksums);
//!    * `Inspect(p)` — run the inspector on `&mut payload[p.new_range()]`; it accepts `n`
//!      bytes (the rest is withheld) and may have masked some in place; then
//!      `session.commit(pool, counters, from, p, payload, n)` returns `Forward` or
//!      `Drop(Withheld)`;
//!    * `Queued` — forward nothing now; `Drop(reason)` — drop (already counted);
//! 3. `while let Some(r) = session.release_ready(pool, counters, from, now_ms, &mut buf)`:
//!    `buf[..r.frame_len]` is a queued frame whose turn has come; run it through step 2
//!    with `r.arrival(now_ms, limit)` (not through the tracker again) and forward it;
//! 4. `while let Some(ev) = session.poll_event()` — log `%FW-4-TCP_OVERLAP_MISMATCH` or
//!    `%FW-4-TCP_OoO_SEG` (alert gating and rate limits are the logger's);
//! 5. when the session is deleted: `session.release_all(pool)`. A timer at
//!    `session.next_expiry()` calls `session.expire(..)` for idle sessions.
//!
//! If the inspector asks for reply-and-close: commit what it let through (0, or the bytes
//! up to the limit for max-data; with 0 forward nothing of the segment, not even a
//! retransmitted old part), then
//! `session.reply_and_close(pool, offending_end, tracker.window_field(Responder), reply_len)`
//! gives the `ACK|PSH|FIN` segment for the client (with the reply as payload), the
//! `RST|ACK` for the server, and the [`FwClosing`] that handles every later segment.
//!
//! # Worked example (D21 then D7, client ISN s − 1)
//!
//! ```
//! use dataplane::stream::*;
//!
//! let mut pool = StreamPool::new(64 * 1024, 64 * 1024);
//! let mut counters = StreamCounters::default();
//! let s = 1000;
//! let mut session = InspectedSession::new(Seq(s), Seq(9000));
//! let client = Side::Initiator;
//! let arrival = |seq: u32, len: usize| Arrival {
//!     now_ms: 0, seq: Seq(seq), fin: false, payload_at: 0, payload_len: len, receive_limit: None,
//! };
//!
//! // `HELO ab` at s: all new; the inspector accepts all 7 bytes.
//! let mut frame = *b"HELO ab";
//! let SegmentVerdict::Inspect(p) = session.on_segment(&mut pool, &mut counters, client, arrival(s, 7), &mut frame)
//! else { unreachable!() };
//! assert_eq!(p.new_range(), 0..7);
//! let v = session.commit(&mut pool, &mut counters, client, p, &frame, 7);
//! assert!(matches!(v, SegmentVerdict::Forward(f) if f.offset == 0 && f.len == 7));
//!
//! // `XYZ\r\n` at s+5 overlaps `ab`: the old part is restored, only `Z\r\n` is new.
//! let mut frame = *b"XYZ\r\n";
//! let SegmentVerdict::Inspect(p) = session.on_segment(&mut pool, &mut counters, client, arrival(s + 5, 5), &mut frame)
//! else { unreachable!() };
//! assert_eq!(&frame[p.new_range()], b"Z\r\n");
//! let SegmentVerdict::Forward(f) = session.commit(&mut pool, &mut counters, client, p, &frame, 3)
//! else { unreachable!() };
//! assert_eq!(&frame[f.offset..f.offset + f.len], b"abZ\r\n");
//! assert_eq!(session.poll_event(), Some(StreamEvent::OverlapMismatch { from: client }));
//!
//! // The server acknowledges everything; a pipelined segment arrives in SMTP mode and the
//! // inspector accepts only the first line: forward 8 bytes, withhold the rest.
//! session.on_ack(&mut pool, Side::Responder, Seq(s + 10));
//! let mut frame = *b"HELO a\r\nNOOP\r\n";
//! let SegmentVerdict::Inspect(p) = session.on_segment(&mut pool, &mut counters, client, arrival(s + 10, 14), &mut frame)
//! else { unreachable!() };
//! let SegmentVerdict::Forward(f) = session.commit(&mut pool, &mut counters, client, p, &frame, 8)
//! else { unreachable!() };
//! assert_eq!((f.offset, f.len, f.fin), (0, 8, false));
//! assert_eq!(session.stream(client).next_seq(), Seq(s + 18));
//! session.release_all(&mut pool);
//! ```

mod closing;
mod counters;
mod inspected;
mod pool;
mod segment;
mod seq;
mod session;
#[cfg(test)]
mod sim_tests;
mod tcp_state;
mod tracker;

pub use closing::{
    closing_transition, ClosingAction, ClosingEvent, ClosingOutcome, ClosingPhase, ClosingRule,
    FwClosing,
};
pub use counters::StreamCounters;
pub use inspected::{
    Arrival, Forward, InspectedStream, Pending, Released, SegmentVerdict, StreamDropReason,
    OOO_SEGMENTS_PER_DIRECTION, OOO_TIMEOUT_MS, STORE_CAP_PER_DIRECTION,
};
pub use pool::{StreamPool, CHUNK_SIZE, DEFAULT_STORE_BYTES_PER_WORKER, OOO_BYTES_PER_WORKER};
pub use segment::{InjectedSegment, SegmentInfo, Side, TcpFlags};
pub use seq::Seq;
pub use session::{InspectedSession, ReplyAndClose, StreamEvent};
pub use tcp_state::{transition, TcpDropReason, TcpEvent, TcpState, Transition};
pub use tracker::{Accepted, TcpTracker, TrackVerdict, DEFAULT_MSS, MAX_WSCALE};
