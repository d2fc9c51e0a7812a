//! One direction of an SMTP-inspected TCP session as an ordered, tamper-proof byte stream
//! (`smtp-inspection.md` §11, §2.1, §3.3).
//!
//! The inspector must see every byte exactly once and in order, and the receiver must get
//! exactly the bytes the inspector judged. [`InspectedStream`] enforces that for one
//! direction:
//!
//! * bytes below the receiver's cumulative ACK are gone: such segments are dropped, except
//!   keep-alive probes (rule 3);
//! * bytes already forwarded but not yet acknowledged are kept *as forwarded* in the
//!   worker's [`StreamPool`]; any later copy of them is overwritten with the stored bytes
//!   before it is forwarded, and a difference is counted (rule 2, first copy wins);
//! * only bytes starting exactly at the next expected sequence number are new: they go to
//!   the inspector, which may accept a prefix (`commit(n)`); the rest is withheld — trimmed
//!   from the forwarded segment and never stored, so the sender retransmits it (§2.1);
//! * segments beyond the next expected sequence number wait in a bounded out-of-order queue
//!   (16 per direction, 1 MiB per worker, 5 s) as whole frames, and are handed back to the
//!   pipeline in order once the gap fills (rule 1);
//! * data beyond the receiver's window (+1 MSS) or beyond the 256 KiB store cap is
//!   trimmed or dropped (rules 4, 5).
//!
//! Invariant: the store holds exactly the bytes `[acked, next)`.

use core::ops::Range;

use super::counters::StreamCounters;
use super::pool::{Budget, Chain, StreamPool};
use super::seq::Seq;

/// §11 rule 1: out-of-order segments queued per direction per session.
pub const OOO_SEGMENTS_PER_DIRECTION: usize = 16;
/// §11 rule 1: a queued segment older than this is discarded (milliseconds).
pub const OOO_TIMEOUT_MS: u64 = 5_000;
/// §11 rule 5: retransmission store per direction per session.
pub const STORE_CAP_PER_DIRECTION: usize = 256 * 1024;

/// Why the stream layer dropped a segment; each reason has a per-worker counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamDropReason {
    /// Rule 3: every byte is below the receiver's cumulative ACK (not a keep-alive).
    AlreadyAcked,
    /// Rule 4: the data starts beyond the receiver's window + 1 MSS.
    BeyondWindow,
    /// Rule 1: the out-of-order queue (16 segments or the worker's 1 MiB) is full;
    /// `%FW-4-TCP_OoO_SEG` is due (see [`super::StreamEvent::OooOverflow`]).
    OooOverflow,
    /// An out-of-order segment already covered by a queued one.
    OooDuplicate,
    /// Rule 5: no room left in the retransmission store for any new byte.
    StoreFull,
    /// The inspector accepted none of the new bytes and nothing else was left to forward
    /// (§3.3: "a segment consisting only of withheld bytes is dropped").
    Withheld,
    /// Data after the FIN already forwarded.
    DataAfterFin,
    /// A FIN at a sequence number that contradicts the bytes already forwarded.
    FinConflict,
    /// The payload range given by the caller does not lie inside the frame, or a queued
    /// frame does not fit the caller's buffer.
    BadFrame,
}

impl StreamDropReason {
    pub const ALL: [StreamDropReason; 9] = [
        StreamDropReason::AlreadyAcked,
        StreamDropReason::BeyondWindow,
        StreamDropReason::OooOverflow,
        StreamDropReason::OooDuplicate,
        StreamDropReason::StoreFull,
        StreamDropReason::Withheld,
        StreamDropReason::DataAfterFin,
        StreamDropReason::FinConflict,
        StreamDropReason::BadFrame,
    ];

    /// Counter name (metrics label).
    pub const fn name(self) -> &'static str {
        match self {
            StreamDropReason::AlreadyAcked => "stream_already_acked",
            StreamDropReason::BeyondWindow => "stream_beyond_window",
            StreamDropReason::OooOverflow => "stream_ooo_overflow",
            StreamDropReason::OooDuplicate => "stream_ooo_duplicate",
            StreamDropReason::StoreFull => "stream_store_full",
            StreamDropReason::Withheld => "stream_withheld",
            StreamDropReason::DataAfterFin => "stream_data_after_fin",
            StreamDropReason::FinConflict => "stream_fin_conflict",
            StreamDropReason::BadFrame => "stream_bad_frame",
        }
    }

    /// Position in [`StreamDropReason::ALL`] (counter index).
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A data segment arriving for one direction (the frame itself is passed separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Monotonic worker time in milliseconds.
    pub now_ms: u64,
    pub seq: Seq,
    /// The segment carries FIN.
    pub fin: bool,
    /// Where the TCP payload starts in the frame.
    pub payload_at: usize,
    pub payload_len: usize,
    /// First sequence number beyond what the receiver accepts
    /// ([`super::TcpTracker::receive_limit`]); `None` = unknown, no limit.
    pub receive_limit: Option<Seq>,
}

/// What the pipeline forwards: `payload[offset .. offset + len]` at sequence number
/// `seq + offset`, with FIN set only when `fin` is true.
///
/// `offset > 0` only when the segment starts below the receiver's cumulative ACK: those
/// bytes are no longer held, so they are cut rather than forwarded unchecked. Bytes after
/// `offset + len` are withheld. When `rewritten` is true, stored bytes replaced differing
/// bytes in the payload (checksum update needed); `mismatch` says whether they differed
/// where the inspector had not edited them itself (`tcp_retrans_mismatch`, §11 rule 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub offset: usize,
    pub len: usize,
    pub fin: bool,
    pub rewritten: bool,
    pub mismatch: bool,
}

impl Forward {
    /// The forwarded byte range within the payload.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// New bytes waiting for the inspector's judgement; hand it back to `commit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "commit() must follow, or the stream never advances"]
pub struct Pending {
    offset: usize,
    old_len: usize,
    new_len: usize,
    payload_len: usize,
    new_start: Seq,
    end: Seq,
    fin: bool,
    rewritten: bool,
    mismatch: bool,
}

impl Pending {
    /// The payload range the inspector must see (as `&mut [u8]`, in place).
    pub fn new_range(&self) -> Range<usize> {
        let start = self.offset + self.old_len;
        start..start + self.new_len
    }

    /// Sequence number of the first new byte.
    pub fn new_seq(&self) -> Seq {
        self.new_start
    }

    /// Stored bytes replaced differing bytes in the old part of the payload.
    pub fn rewritten(&self) -> bool {
        self.rewritten
    }

    /// Of those, some differed where the inspector had not edited the stored bytes.
    pub fn mismatch(&self) -> bool {
        self.mismatch
    }
}

/// The stream layer's answer for one arriving segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentVerdict {
    /// Forward (part of) the segment as described.
    Forward(Forward),
    /// New bytes for the inspector: run it on `payload[p.new_range()]`, then call `commit`.
    Inspect(Pending),
    /// Held out of order: forward nothing now; the frame comes back from `release_ready`.
    Queued,
    /// Drop the segment (counted).
    Drop(StreamDropReason),
}

/// A queued frame handed back in order: it is in the caller's buffer, `frame_len` bytes;
/// process it again from the stream stage on (the tracker has already seen it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Released {
    pub frame_len: usize,
    pub seq: Seq,
    pub fin: bool,
    pub payload_at: usize,
    pub payload_len: usize,
}

impl Released {
    /// The arrival to present to `on_segment` for this frame.
    pub fn arrival(&self, now_ms: u64, receive_limit: Option<Seq>) -> Arrival {
        Arrival {
            now_ms,
            seq: self.seq,
            fin: self.fin,
            payload_at: self.payload_at,
            payload_len: self.payload_len,
            receive_limit,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OooSlot {
    seq: Seq,
    payload_len: u32,
    payload_at: u32,
    frame_len: u32,
    arrived_ms: u64,
    fin: bool,
    frame: Chain,
}

impl OooSlot {
    fn end(&self) -> Seq {
        self.seq + self.payload_len
    }
}

/// One direction (sender → receiver) of an inspected session. Not `Clone`: it owns pool
/// chunks, which must be returned exactly once ([`InspectedStream::release_all`]).
#[derive(Debug, PartialEq, Eq)]
pub struct InspectedStream {
    /// Next sequence number the inspector expects = end of the highest byte forwarded.
    next: Seq,
    /// Receiver's cumulative ACK (bytes below are released).
    acked: Seq,
    /// Sequence number of the forwarded FIN (valid when `fin_forwarded`).
    fin_seq: Seq,
    fin_forwarded: bool,
    fin_acked: bool,
    /// Bytes `[acked, next)` as forwarded.
    store: Chain,
    /// Out-of-order frames sorted by sequence number; the first `ooo_count` are live.
    ooo: [OooSlot; OOO_SEGMENTS_PER_DIRECTION],
    ooo_count: u8,
    /// Ranges `[start, end)` of stored bytes the inspector itself rewrote (masking, bare
    /// CR/LF), in sequence order; the first `edit_count` are live. A retransmission may
    /// differ from the stored bytes there without being a mismatch (rule 2 compares with
    /// what the sender sent first).
    edits: [(Seq, Seq); EDITS_PER_DIRECTION],
    edit_count: u8,
}

/// Most inspector-edited ranges remembered per direction; more are merged into the last.
const EDITS_PER_DIRECTION: usize = 8;

impl InspectedStream {
    /// A stream whose first data byte has sequence number `first` (the sender's ISN + 1).
    pub fn new(first: Seq) -> InspectedStream {
        InspectedStream {
            next: first,
            acked: first,
            fin_seq: first,
            fin_forwarded: false,
            fin_acked: false,
            store: Chain::EMPTY,
            ooo: [OooSlot::default(); OOO_SEGMENTS_PER_DIRECTION],
            ooo_count: 0,
            edits: [(first, first); EDITS_PER_DIRECTION],
            edit_count: 0,
        }
    }

    /// The inspector rewrote the forwarded bytes `[start, end)` (clipped to what is
    /// stored): a later copy of them that differs only there is no mismatch. Ranges are
    /// noted in stream order; when the log is full the range joins the last one (which can
    /// only hide a mismatch, never change what is forwarded).
    pub fn note_edit(&mut self, start: Seq, end: Seq) {
        let start = start.max(self.acked);
        let end = end.min(self.next);
        if !end.gt(start) {
            return;
        }
        let n = usize::from(self.edit_count);
        if n > 0 && (n == EDITS_PER_DIRECTION || self.edits[n - 1].1.ge(start)) {
            let last = &mut self.edits[n - 1];
            last.1 = last.1.max(end);
            return;
        }
        self.edits[n] = (start, end);
        self.edit_count += 1;
    }

    /// Rule 2: overwrites `buf` (the retransmitted bytes from `start`, all stored) with the
    /// stored bytes. Returns whether any byte changed, and whether one changed where the
    /// inspector had not rewritten the stored bytes itself (a mismatch).
    fn restore_old(&self, pool: &StreamPool, start: Seq, buf: &mut [u8]) -> (bool, bool) {
        let at = start.bytes_after(self.acked) as usize;
        let end = start + buf.len() as u32;
        let (mut changed, mut mismatch) = (false, false);
        let mut pos = 0;
        for &(es, ee) in &self.edits[..usize::from(self.edit_count)] {
            let (s, e) = (es.max(start), ee.min(end));
            if !e.gt(s) {
                continue;
            }
            let s_off = (s.bytes_after(start) as usize).max(pos);
            let e_off = (e.bytes_after(start) as usize).max(s_off);
            if s_off > pos && self.store.overwrite(pool, at + pos, &mut buf[pos..s_off]) {
                changed = true;
                mismatch = true;
            }
            // Edited by the inspector: restored, but a difference is expected.
            changed |= self
                .store
                .overwrite(pool, at + s_off, &mut buf[s_off..e_off]);
            pos = e_off;
        }
        if pos < buf.len() && self.store.overwrite(pool, at + pos, &mut buf[pos..]) {
            changed = true;
            mismatch = true;
        }
        (changed, mismatch)
    }

    /// End of the last byte forwarded to the receiver (the receiver's next expected
    /// sequence number once it has everything), FIN excluded.
    pub fn next_seq(&self) -> Seq {
        self.next
    }

    /// The sequence number after everything forwarded, FIN included.
    pub fn next_seq_with_fin(&self) -> Seq {
        if self.fin_forwarded {
            self.fin_seq + 1
        } else {
            self.next
        }
    }

    /// The receiver's cumulative ACK as last seen.
    pub fn acked(&self) -> Seq {
        self.acked
    }

    /// Bytes forwarded and not yet acknowledged (held for first-copy-wins).
    pub fn unacked_bytes(&self) -> usize {
        self.store.len()
    }

    /// Frames waiting out of order.
    pub fn queued_segments(&self) -> usize {
        usize::from(self.ooo_count)
    }

    /// The FIN was forwarded.
    pub fn fin_forwarded(&self) -> bool {
        self.fin_forwarded
    }

    /// An ACK from the receiver: releases the stored bytes it covers.
    pub fn on_ack(&mut self, pool: &mut StreamPool, ack: Seq) {
        if self.fin_forwarded && ack.gt(self.fin_seq) {
            self.fin_acked = true;
        }
        if !ack.gt(self.acked) {
            return;
        }
        let upto = ack.min(self.next);
        let n = upto.bytes_after(self.acked) as usize;
        self.store.pop_front(pool, Budget::Store, n);
        self.acked = upto;
        let live = usize::from(self.edit_count);
        let gone = self.edits[..live]
            .iter()
            .take_while(|e| e.1.le(upto))
            .count();
        if gone > 0 {
            self.edits.copy_within(gone..live, 0);
            self.edit_count -= gone as u8;
        }
    }

    /// Judges one arriving segment of this direction. `frame` is the whole frame (it is
    /// copied into the pool when the segment must wait); the payload is
    /// `frame[a.payload_at .. a.payload_at + a.payload_len]` and may be rewritten in place
    /// (first copy wins).
    pub fn on_segment(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        a: Arrival,
        frame: &mut [u8],
    ) -> SegmentVerdict {
        let Some(payload_end) = a.payload_at.checked_add(a.payload_len) else {
            return self.drop(counters, StreamDropReason::BadFrame);
        };
        if payload_end > frame.len() || a.payload_len > u32::MAX as usize / 2 {
            return self.drop(counters, StreamDropReason::BadFrame);
        }
        if a.payload_len == 0 && !a.fin {
            // Pure ACK, window update or zero-byte keep-alive: no stream data.
            return SegmentVerdict::Forward(Forward {
                offset: 0,
                len: 0,
                fin: false,
                rewritten: false,
                mismatch: false,
            });
        }
        if a.seq.gt(self.next) {
            return self.enqueue(pool, counters, a, frame);
        }
        self.in_order(pool, counters, a, &mut frame[a.payload_at..payload_end])
    }

    /// The inspector accepted `accepted` of the new bytes of `p` (after rewriting them in
    /// place in `payload`): stores them as forwarded and says what to forward.
    pub fn commit(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        p: Pending,
        payload: &[u8],
        accepted: usize,
    ) -> SegmentVerdict {
        let new = p.new_range();
        let usable = p.new_start == self.next && new.end <= payload.len();
        let n = if usable { accepted.min(p.new_len) } else { 0 };
        let n = self
            .store
            .push(pool, Budget::Store, &payload[new.start..new.start + n]);
        self.next = self.next + n as u32;
        let to_end = p.offset + p.old_len + n == p.payload_len;
        let fin = p.fin && to_end && p.end == self.next && !self.fin_forwarded;
        let fin = fin || (p.fin && to_end && self.fin_forwarded && p.end == self.fin_seq);
        if fin {
            self.fin_forwarded = true;
            self.fin_seq = self.next;
        }
        let len = p.old_len + n;
        if len == 0 && !fin {
            return self.drop(counters, StreamDropReason::Withheld);
        }
        SegmentVerdict::Forward(Forward {
            offset: p.offset,
            len,
            fin,
            rewritten: p.rewritten,
            mismatch: p.mismatch,
        })
    }

    /// Hands back, in order, the next queued frame whose data now starts at or before the
    /// next expected byte. Copies it into `out` and frees its pool chunks. Expired frames
    /// are discarded first. Call until it returns `None` after every segment that advanced
    /// the stream.
    pub fn release_ready(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        now_ms: u64,
        out: &mut [u8],
    ) -> Option<Released> {
        self.expire(pool, counters, now_ms);
        while self.ooo_count > 0 && self.ooo[0].seq.le(self.next) {
            let mut slot = self.remove_slot(0);
            let covered = slot.end().le(self.next) && !slot.fin;
            let fits = slot.frame_len as usize <= out.len();
            if covered || !fits {
                slot.frame.clear(pool, Budget::Ooo);
                counters.count_stream_drop(if covered {
                    StreamDropReason::OooDuplicate
                } else {
                    StreamDropReason::BadFrame
                });
                continue;
            }
            let len = slot.frame_len as usize;
            slot.frame.read(pool, 0, &mut out[..len]);
            slot.frame.clear(pool, Budget::Ooo);
            counters.tcp_ooo_released += 1;
            return Some(Released {
                frame_len: len,
                seq: slot.seq,
                fin: slot.fin,
                payload_at: slot.payload_at as usize,
                payload_len: slot.payload_len as usize,
            });
        }
        None
    }

    /// Discards queued frames older than 5 s; returns how many.
    pub fn expire(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        now_ms: u64,
    ) -> usize {
        let mut expired = 0;
        let mut i = 0;
        while i < usize::from(self.ooo_count) {
            if now_ms.saturating_sub(self.ooo[i].arrived_ms) >= OOO_TIMEOUT_MS {
                let mut slot = self.remove_slot(i);
                slot.frame.clear(pool, Budget::Ooo);
                counters.tcp_ooo_expired += 1;
                expired += 1;
            } else {
                i += 1;
            }
        }
        expired
    }

    /// When the oldest queued frame expires (for the worker's timer wheel).
    pub fn next_expiry(&self) -> Option<u64> {
        self.ooo[..usize::from(self.ooo_count)]
            .iter()
            .map(|s| s.arrived_ms + OOO_TIMEOUT_MS)
            .min()
    }

    /// Returns every pool chunk (session deleted, or reply-and-close).
    pub fn release_all(&mut self, pool: &mut StreamPool) {
        self.store.clear(pool, Budget::Store);
        self.edit_count = 0;
        for slot in &mut self.ooo[..usize::from(self.ooo_count)] {
            slot.frame.clear(pool, Budget::Ooo);
        }
        self.ooo_count = 0;
        self.acked = self.next;
    }

    fn drop(&self, counters: &mut StreamCounters, reason: StreamDropReason) -> SegmentVerdict {
        counters.count_stream_drop(reason);
        if reason == StreamDropReason::OooOverflow {
            counters.tcp_ooo_dropped += 1;
        }
        SegmentVerdict::Drop(reason)
    }

    /// Rule 1: a segment beyond the next expected byte waits, whole frame, in the queue.
    fn enqueue(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        a: Arrival,
        frame: &[u8],
    ) -> SegmentVerdict {
        if let Some(limit) = a.receive_limit {
            if a.seq.ge(limit) {
                return self.drop(counters, StreamDropReason::BeyondWindow);
            }
        }
        if self.fin_forwarded {
            return self.drop(counters, StreamDropReason::DataAfterFin);
        }
        let end = a.seq + a.payload_len as u32;
        let live = usize::from(self.ooo_count);
        let duplicate = self.ooo[..live]
            .iter()
            .any(|s| s.seq.le(a.seq) && s.end().ge(end) && (s.fin || !a.fin));
        if duplicate {
            return self.drop(counters, StreamDropReason::OooDuplicate);
        }
        self.expire(pool, counters, a.now_ms);
        let live = usize::from(self.ooo_count);
        if live == OOO_SEGMENTS_PER_DIRECTION || frame.len() > u32::MAX as usize {
            return self.drop(counters, StreamDropReason::OooOverflow);
        }
        let mut chain = Chain::EMPTY;
        if chain.push(pool, Budget::Ooo, frame) < frame.len() {
            chain.clear(pool, Budget::Ooo);
            return self.drop(counters, StreamDropReason::OooOverflow);
        }
        let at = self.ooo[..live]
            .iter()
            .position(|s| s.seq.gt(a.seq))
            .unwrap_or(live);
        self.ooo.copy_within(at..live, at + 1);
        self.ooo[at] = OooSlot {
            seq: a.seq,
            payload_len: a.payload_len as u32,
            payload_at: a.payload_at as u32,
            frame_len: frame.len() as u32,
            arrived_ms: a.now_ms,
            fin: a.fin,
            frame: chain,
        };
        self.ooo_count += 1;
        counters.tcp_ooo_queued += 1;
        SegmentVerdict::Queued
    }

    fn remove_slot(&mut self, i: usize) -> OooSlot {
        let live = usize::from(self.ooo_count);
        let slot = self.ooo[i];
        self.ooo.copy_within(i + 1..live, i);
        self.ooo[live - 1] = OooSlot::default();
        self.ooo_count -= 1;
        slot
    }

    /// Rules 2–5 for a segment starting at or before the next expected byte.
    fn in_order(
        &mut self,
        pool: &mut StreamPool,
        counters: &mut StreamCounters,
        a: Arrival,
        payload: &mut [u8],
    ) -> SegmentVerdict {
        let len = payload.len();
        let end = a.seq + len as u32;
        let unchanged = Forward {
            offset: 0,
            len,
            fin: a.fin,
            rewritten: false,
            mismatch: false,
        };
        if self.fin_forwarded {
            if end.gt(self.fin_seq) {
                return self.drop(counters, StreamDropReason::DataAfterFin);
            }
            if a.fin && end != self.fin_seq {
                return self.drop(counters, StreamDropReason::FinConflict);
            }
        }
        if len == 0 {
            // A bare FIN: acceptable only right after the last byte forwarded.
            if a.seq != self.next {
                return self.drop(counters, StreamDropReason::FinConflict);
            }
            self.fin_forwarded = true;
            self.fin_seq = self.next;
            return SegmentVerdict::Forward(unchanged);
        }
        // Rule 3: entirely below the receiver's cumulative ACK.
        if end.le(self.acked) {
            if len == 1 && end == self.acked && !a.fin {
                counters.tcp_keepalives += 1;
                return SegmentVerdict::Forward(unchanged);
            }
            if a.fin && self.fin_forwarded && !self.fin_acked {
                // Only the FIN is still unacknowledged: forward it alone.
                return SegmentVerdict::Forward(Forward {
                    offset: len,
                    len: 0,
                    fin: true,
                    rewritten: false,
                    mismatch: false,
                });
            }
            return self.drop(counters, StreamDropReason::AlreadyAcked);
        }
        let offset = self.acked.bytes_after(a.seq) as usize;
        // Rule 2: bytes forwarded but unacknowledged — first copy wins.
        let old_start = a.seq.max(self.acked);
        let old_end = end.min(self.next);
        let old_len = old_end.bytes_after(old_start) as usize;
        let (mut rewritten, mut mismatch) = (false, false);
        if old_len > 0 {
            (rewritten, mismatch) =
                self.restore_old(pool, old_start, &mut payload[offset..offset + old_len]);
            counters.tcp_retrans_bytes_restored += old_len as u64;
            if mismatch {
                counters.tcp_retrans_mismatch += 1;
            }
        }
        // New bytes: limited by the receiver's window (rule 4) and the store (rule 5).
        let wanted = end.bytes_after(self.next) as usize;
        let mut new_len = wanted;
        let mut cut_by = None;
        if let Some(limit) = a.receive_limit {
            let room = limit.bytes_after(self.next) as usize;
            if new_len > room {
                counters.tcp_window_trimmed_bytes += (new_len - room) as u64;
                new_len = room;
                cut_by = Some(StreamDropReason::BeyondWindow);
            }
        }
        let store_room = (STORE_CAP_PER_DIRECTION.saturating_sub(self.store.len()))
            .min(self.store.tail_room() + pool.room(Budget::Store));
        if new_len > store_room {
            counters.tcp_store_trimmed_bytes += (new_len - store_room) as u64;
            new_len = store_room;
            cut_by = cut_by.or(Some(StreamDropReason::StoreFull));
        }
        let pending = Pending {
            offset,
            old_len,
            new_len,
            payload_len: len,
            new_start: self.next,
            end,
            fin: a.fin,
            rewritten,
            mismatch,
        };
        if new_len > 0 {
            return SegmentVerdict::Inspect(pending);
        }
        if let (0, Some(reason)) = (old_len, cut_by) {
            return self.drop(counters, reason);
        }
        self.commit(pool, counters, pending, payload, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: usize = 4;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xEE; HDR];
        f.extend_from_slice(payload);
        f
    }

    fn arrival(now_ms: u64, seq: u32, len: usize) -> Arrival {
        Arrival {
            now_ms,
            seq: Seq(seq),
            fin: false,
            payload_at: HDR,
            payload_len: len,
            receive_limit: None,
        }
    }

    /// Runs a segment through the stream with an inspector that accepts `accept` new
    /// bytes (all when `None`); returns the verdict and the forwarded payload.
    fn deliver(
        s: &mut InspectedStream,
        pool: &mut StreamPool,
        c: &mut StreamCounters,
        a: Arrival,
        payload: &[u8],
        accept: Option<usize>,
    ) -> (SegmentVerdict, Vec<u8>) {
        let mut f = frame(payload);
        let mut v = s.on_segment(pool, c, a, &mut f);
        if let SegmentVerdict::Inspect(p) = v {
            let n = accept.unwrap_or(p.new_range().len());
            v = s.commit(pool, c, p, &f[HDR..], n);
        }
        let fwd = match v {
            SegmentVerdict::Forward(fw) => f[HDR..][fw.range()].to_vec(),
            _ => Vec::new(),
        };
        (v, fwd)
    }

    fn setup(s: u32) -> (InspectedStream, StreamPool, StreamCounters) {
        (
            InspectedStream::new(Seq(s)),
            StreamPool::new(64 * 1024, 64 * 1024),
            StreamCounters::default(),
        )
    }

    /// A retransmission of a line the inspector masked differs from the stored (masked)
    /// bytes only where it masked them: restored, checksum flagged, but no mismatch; a
    /// change outside the edit is still one. ACKs drop the edit log with the bytes.
    #[test]
    fn inspector_edits_are_not_mismatches() {
        let s = 0xFFFF_FFFC;
        let (mut st, mut pool, mut c) = setup(s);
        let line = b"EXPN root\r\nNOOP\r\n";
        let mut f = frame(line);
        let SegmentVerdict::Inspect(p) =
            st.on_segment(&mut pool, &mut c, arrival(0, s, 17), &mut f)
        else {
            panic!("new bytes are inspected");
        };
        f[HDR..HDR + 9].copy_from_slice(b"XXXXXXXXX");
        let v = st.commit(&mut pool, &mut c, p, &f[HDR..], 17);
        assert!(matches!(v, SegmentVerdict::Forward(fw) if fw.len == 17));
        st.note_edit(Seq(s), Seq(s) + 9);
        let (v, fwd) = deliver(&mut st, &mut pool, &mut c, arrival(1, s, 17), line, None);
        assert_eq!(fwd, b"XXXXXXXXX\r\nNOOP\r\n");
        assert!(matches!(v, SegmentVerdict::Forward(fw) if fw.rewritten && !fw.mismatch));
        assert_eq!(c.tcp_retrans_mismatch, 0);
        let (v, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(2, s, 17),
            b"EXPN root\r\nQUIT\r\n",
            None,
        );
        assert_eq!(fwd, b"XXXXXXXXX\r\nNOOP\r\n");
        assert!(matches!(v, SegmentVerdict::Forward(fw) if fw.mismatch));
        assert_eq!(c.tcp_retrans_mismatch, 1);
        st.on_ack(&mut pool, Seq(s) + 11);
        assert_eq!(st.edit_count, 0);
    }

    #[test]
    fn d20_retransmission_with_different_content_first_copy_wins() {
        let s = 1_000_001;
        let (mut st, mut pool, mut c) = setup(s);
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(0, s, 8),
            b"HELO a\r\n",
            None,
        );
        assert_eq!(fwd, b"HELO a\r\n");
        let (v, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(1, s, 8),
            b"EXPN a\r\n",
            None,
        );
        assert_eq!(fwd, b"HELO a\r\n");
        assert!(
            matches!(v, SegmentVerdict::Forward(f) if f.rewritten && f.offset == 0 && f.len == 8)
        );
        assert_eq!(c.tcp_retrans_mismatch, 1);
        st.on_ack(&mut pool, Seq(s + 8));
        assert_eq!(st.unacked_bytes(), 0);
        let (v, _) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(2, s, 8),
            b"HELO a\r\n",
            None,
        );
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::AlreadyAcked));
        assert_eq!(c.stream_drop(StreamDropReason::AlreadyAcked), 1);
        assert_eq!(pool.store_bytes_in_use(), 0);
    }

    #[test]
    fn d21_overlap_keeps_forwarded_bytes_and_inspects_only_the_new_part() {
        let s = 5000;
        let (mut st, mut pool, mut c) = setup(s);
        deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(0, s, 7),
            b"HELO ab",
            None,
        );
        let mut f = frame(b"XYZ\r\n");
        let v = st.on_segment(&mut pool, &mut c, arrival(1, s + 5, 5), &mut f);
        let SegmentVerdict::Inspect(p) = v else {
            panic!("{v:?}")
        };
        assert!(p.rewritten());
        assert_eq!(p.new_seq(), Seq(s + 7));
        assert_eq!(
            &f[HDR..][p.new_range()],
            b"Z\r\n",
            "the inspector sees only new bytes"
        );
        let v = st.commit(&mut pool, &mut c, p, &f[HDR..], 3);
        let SegmentVerdict::Forward(fw) = v else {
            panic!("{v:?}")
        };
        assert_eq!(&f[HDR..][fw.range()], b"abZ\r\n");
        assert_eq!(c.tcp_retrans_mismatch, 1);
        assert_eq!(st.next_seq(), Seq(s + 10));
    }

    #[test]
    fn d22_out_of_order_segment_is_held_until_the_gap_fills() {
        let s = 77;
        let (mut st, mut pool, mut c) = setup(s);
        let (v, _) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(0, s + 3, 5),
            b"O a\r\n",
            None,
        );
        assert_eq!(v, SegmentVerdict::Queued);
        assert!(pool.ooo_bytes_in_use() > 0);
        let mut out = [0u8; 64];
        assert_eq!(st.release_ready(&mut pool, &mut c, 1, &mut out), None);
        let (_, fwd) = deliver(&mut st, &mut pool, &mut c, arrival(2, s, 3), b"HEL", None);
        assert_eq!(fwd, b"HEL");
        let r = st.release_ready(&mut pool, &mut c, 3, &mut out).unwrap();
        assert_eq!(r.seq, Seq(s + 3));
        assert_eq!(
            &out[..r.frame_len],
            &frame(b"O a\r\n")[..],
            "the original frame comes back"
        );
        let payload = out[r.payload_at..r.payload_at + r.payload_len].to_vec();
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            r.arrival(3, None),
            &payload,
            None,
        );
        assert_eq!(fwd, b"O a\r\n");
        assert_eq!(st.release_ready(&mut pool, &mut c, 4, &mut out), None);
        assert_eq!(st.next_seq(), Seq(s + 8));
        assert_eq!((c.tcp_ooo_queued, c.tcp_ooo_released), (1, 1));
        assert_eq!(pool.ooo_bytes_in_use(), 0);
    }

    #[test]
    fn d22_overflow_drops_the_17th_and_expires_after_5_s() {
        let s = 4_000_000_000;
        let (mut st, mut pool, mut c) = setup(s);
        for i in 0..16u32 {
            let (v, _) = deliver(
                &mut st,
                &mut pool,
                &mut c,
                arrival(10, s + 1 + 10 * i, 10),
                b"0123456789",
                None,
            );
            assert_eq!(v, SegmentVerdict::Queued);
        }
        let (v, _) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(20, s + 161, 10),
            b"0123456789",
            None,
        );
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::OooOverflow));
        assert_eq!((c.tcp_ooo_queued, c.tcp_ooo_dropped), (16, 1));
        assert_eq!(
            st.next_seq(),
            Seq(s),
            "the expected seq reported in the log"
        );
        assert_eq!(st.next_expiry(), Some(10 + OOO_TIMEOUT_MS));
        assert_eq!(st.expire(&mut pool, &mut c, 10 + OOO_TIMEOUT_MS - 1), 0);
        assert_eq!(st.expire(&mut pool, &mut c, 10 + OOO_TIMEOUT_MS), 16);
        assert_eq!(st.queued_segments(), 0);
        assert_eq!(pool.ooo_bytes_in_use(), 0);
        assert_eq!(c.tcp_ooo_expired, 16);
    }

    #[test]
    fn d7_withheld_tail_is_not_stored_and_is_accepted_when_retransmitted() {
        let s = 100;
        let (mut st, mut pool, mut c) = setup(s);
        let data = b"HELO a\r\nMAIL FROM:<b@example.org>\r\n";
        assert_eq!(data.len(), 35);
        let (v, fwd) = deliver(&mut st, &mut pool, &mut c, arrival(0, s, 35), data, Some(8));
        assert_eq!(fwd, b"HELO a\r\n");
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.offset == 0 && f.len == 8 && !f.fin));
        assert_eq!(st.next_seq(), Seq(s + 8));
        assert_eq!(st.unacked_bytes(), 8);
        // A pure ACK from the client (seq beyond the withheld bytes) still passes.
        let (v, _) = deliver(&mut st, &mut pool, &mut c, arrival(1, s + 35, 0), b"", None);
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.len == 0));
        // The server answers and acknowledges the 8 bytes; the client retransmits the rest.
        st.on_ack(&mut pool, Seq(s + 8));
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(2, s + 8, 27),
            &data[8..],
            None,
        );
        assert_eq!(fwd, &data[8..]);
        assert_eq!(st.next_seq(), Seq(s + 35));
    }

    #[test]
    fn d13_withheld_after_data_and_segment_of_only_withheld_bytes_is_dropped() {
        let s = 9;
        let (mut st, mut pool, mut c) = setup(s);
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(0, s, 18),
            b"DATA\r\nSubject: x\r\n",
            Some(6),
        );
        assert_eq!(fwd, b"DATA\r\n");
        // Retransmission before the 354: the inspector withholds everything.
        let (v, _) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(1, s + 6, 12),
            b"Subject: x\r\n",
            Some(0),
        );
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::Withheld));
        // A full retransmission: the first 6 bytes are old (restored), the rest withheld.
        let (v, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(2, s, 18),
            b"DATA\r\nSubject: x\r\n",
            Some(0),
        );
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.len == 6 && !f.rewritten));
        assert_eq!(fwd, b"DATA\r\n");
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(3, s + 6, 12),
            b"Subject: x\r\n",
            None,
        );
        assert_eq!(fwd, b"Subject: x\r\n");
    }

    #[test]
    fn keepalive_is_forwarded_and_acked_front_is_cut() {
        let s = 10;
        let (mut st, mut pool, mut c) = setup(s);
        deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(0, s, 8),
            b"HELO a\r\n",
            None,
        );
        st.on_ack(&mut pool, Seq(s + 8));
        let (v, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(1, s + 7, 1),
            b"\n",
            None,
        );
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.len == 1));
        assert_eq!(fwd, b"\n");
        assert_eq!(c.tcp_keepalives, 1);
        deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(2, s + 8, 4),
            b"NOOP",
            None,
        );
        // Retransmission of acked bytes plus unacked plus new: acked part cut.
        let (v, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(3, s + 4, 10),
            b" a\r\nNOOX\r\n",
            None,
        );
        assert!(
            matches!(v, SegmentVerdict::Forward(f) if f.offset == 4 && f.len == 6 && f.rewritten)
        );
        assert_eq!(fwd, b"NOOP\r\n");
    }

    #[test]
    fn window_and_store_limits_trim_new_bytes() {
        let s = 0;
        let (mut st, mut pool, mut c) = setup(s);
        let mut a = arrival(0, s, 10);
        a.receive_limit = Some(Seq(s + 6));
        let (_, fwd) = deliver(&mut st, &mut pool, &mut c, a, b"0123456789", None);
        assert_eq!(fwd, b"012345");
        assert_eq!(c.tcp_window_trimmed_bytes, 4);
        let mut a = arrival(1, s + 6, 4);
        a.receive_limit = Some(Seq(s + 6));
        let (v, _) = deliver(&mut st, &mut pool, &mut c, a, b"6789", None);
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::BeyondWindow));
        let mut a = arrival(1, s + 100, 4);
        a.receive_limit = Some(Seq(s + 50));
        let (v, _) = deliver(&mut st, &mut pool, &mut c, a, b"late", None);
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::BeyondWindow));

        // Store cap: 256 KiB per direction, never more than the receiver has not acked.
        let (mut st, mut pool, mut c) = (
            InspectedStream::new(Seq(0)),
            StreamPool::new(1 << 20, 0),
            StreamCounters::default(),
        );
        let big = vec![b'a'; 1400];
        let mut seq = 0u32;
        for _ in 0..200 {
            let (v, fwd) = deliver(
                &mut st,
                &mut pool,
                &mut c,
                arrival(0, seq, 1400),
                &big,
                None,
            );
            seq += fwd.len() as u32;
            if matches!(v, SegmentVerdict::Drop(_)) {
                break;
            }
        }
        assert_eq!(st.unacked_bytes(), STORE_CAP_PER_DIRECTION);
        assert_eq!(seq as usize, STORE_CAP_PER_DIRECTION);
        assert!(c.tcp_store_trimmed_bytes > 0);
        assert_eq!(c.stream_drop(StreamDropReason::StoreFull), 1);
        st.release_all(&mut pool);
        assert_eq!(pool.store_bytes_in_use(), 0);
    }

    #[test]
    fn fin_bookkeeping() {
        let s = 50;
        let (mut st, mut pool, mut c) = setup(s);
        let mut a = arrival(0, s, 6);
        a.fin = true;
        // The inspector withholds part: the FIN is withheld with it.
        let (v, _) = deliver(&mut st, &mut pool, &mut c, a, b"QUIT\r\n", Some(4));
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.len == 4 && !f.fin));
        assert!(!st.fin_forwarded());
        let mut a = arrival(1, s + 4, 2);
        a.fin = true;
        let (v, _) = deliver(&mut st, &mut pool, &mut c, a, b"\r\n", None);
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.len == 2 && f.fin));
        assert_eq!(st.next_seq_with_fin(), Seq(s + 7));
        // Retransmitted FIN alone, then data after the FIN.
        let mut a = arrival(2, s + 6, 0);
        a.fin = true;
        let (v, _) = deliver(&mut st, &mut pool, &mut c, a, b"", None);
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.fin));
        let (v, _) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(3, s + 6, 3),
            b"abc",
            None,
        );
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::DataAfterFin));
        // Everything acked but the FIN: a retransmission forwards the FIN alone.
        st.on_ack(&mut pool, Seq(s + 6));
        let mut a = arrival(4, s + 4, 2);
        a.fin = true;
        let (v, _) = deliver(&mut st, &mut pool, &mut c, a, b"\r\n", None);
        assert_eq!(
            v,
            SegmentVerdict::Forward(Forward {
                offset: 2,
                len: 0,
                fin: true,
                rewritten: false,
                mismatch: false
            })
        );
    }

    #[test]
    fn bad_payload_range_is_a_counted_drop() {
        let (mut st, mut pool, mut c) = setup(0);
        let mut f = frame(b"abc");
        let mut a = arrival(0, 0, 10);
        a.payload_at = HDR;
        let v = st.on_segment(&mut pool, &mut c, a, &mut f);
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::BadFrame));
        a.payload_at = usize::MAX;
        let v = st.on_segment(&mut pool, &mut c, a, &mut f);
        assert_eq!(v, SegmentVerdict::Drop(StreamDropReason::BadFrame));
    }

    #[test]
    fn sequence_wraparound_through_store_and_queue() {
        let s = u32::MAX - 4;
        let (mut st, mut pool, mut c) = setup(s);
        let (v, _) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(0, s.wrapping_add(8), 4),
            b"IJKL",
            None,
        );
        assert_eq!(v, SegmentVerdict::Queued);
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(1, s, 8),
            b"ABCDEFGH",
            None,
        );
        assert_eq!(fwd, b"ABCDEFGH");
        let mut out = [0u8; 64];
        let r = st.release_ready(&mut pool, &mut c, 2, &mut out).unwrap();
        let payload = out[r.payload_at..r.payload_at + r.payload_len].to_vec();
        let (_, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            r.arrival(2, None),
            &payload,
            None,
        );
        assert_eq!(fwd, b"IJKL");
        assert_eq!(st.next_seq(), Seq(7));
        // Retransmission across the wrap point with different bytes.
        let (v, fwd) = deliver(
            &mut st,
            &mut pool,
            &mut c,
            arrival(3, s.wrapping_add(3), 6),
            b"xxxxxx",
            None,
        );
        assert!(matches!(v, SegmentVerdict::Forward(f) if f.rewritten));
        assert_eq!(fwd, b"DEFGHI");
        st.on_ack(&mut pool, Seq(3));
        assert_eq!(st.unacked_bytes(), 4);
    }
}
