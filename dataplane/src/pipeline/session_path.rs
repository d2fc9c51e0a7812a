//! A packet of a live session (`config-and-nat.md` §5.2 step 9): no access
//! list, the session's recorded translation, L4 state tracking, the SMTP
//! inspector when attached, timers, and the cached next hop.

use flowtable::{Handle, Nanos, TimeoutKind};

use crate::drop_reason::DropReason;
use crate::io::TxSink;
use crate::nat::{translate_destination, translate_source};
use crate::session::{dir_toward, side_of, DirPath, L4State, Rewrite, Session, FORWARD, REVERSE};
use crate::shared::lock;
use crate::show::SessionState;
use crate::smtp_path::{update_forwarded_summary, SegmentCtx, SmtpOutput, SmtpVerdict};
use crate::stream::{InjectedSegment, SegmentInfo, TcpFlags, TrackVerdict};
use crate::wire::emit::{emit_tcp_segment, Origin, TcpSegmentSpec};
use crate::wire::frame::{parse_frame, Ipv4Info, L4};
use crate::wire::tcp::{SeqNumber, TcpFlags as WireFlags};

use super::flow::KeyOrigin;
use super::new_flow::payload_len;
use super::transmit::Sent;
use super::Firewall;

/// The direction of a packet that matched session `s` (`forward` = same
/// orientation as the session key), or `None` if it arrived on a port the
/// session's packets never use in that direction.
pub(super) fn packet_direction(
    s: &Session,
    forward: bool,
    port: usize,
    origin: KeyOrigin,
) -> Option<usize> {
    match origin {
        KeyOrigin::Own => s.direction_of(forward, port),
        // An ICMP error about a packet that went one way travels the other way.
        KeyOrigin::Quoted => {
            let dir = if forward { REVERSE } else { FORWARD };
            (usize::from(s.paths[dir].ingress) == port).then_some(dir)
        }
    }
}

/// Whether a packet is a fresh connection attempt (SYN without ACK) on a
/// TCP session that is already terminating: both FINs seen, reset, or closed
/// by the firewall. Such a session is replaced by a new one, as a client that
/// reuses its port after the FIN exchange would otherwise wait for the
/// FIN-wait timer (conntrack behaves the same way).
pub(super) fn reopens(s: &Session, ip: &Ipv4Info) -> bool {
    let L4::Tcp(t) = ip.l4 else { return false };
    if !(t.flags.syn() && !t.flags.ack() && !t.flags.rst()) {
        return false;
    }
    match &s.l4 {
        L4State::Tcp { tracker, .. } => {
            s.closing
                || matches!(
                    tracker.state(),
                    crate::stream::TcpState::FinBoth | crate::stream::TcpState::Closed
                )
        }
        _ => false,
    }
}

/// Applies a direction's recorded translation.
#[inline]
fn apply_rewrite(path: &DirPath, frame: &mut [u8], ip: &mut Ipv4Info) {
    match path.rewrite {
        Rewrite::None => {}
        Rewrite::Source(a) => translate_source(frame, ip, a),
        Rewrite::Destination(a) => translate_destination(frame, ip, a),
    }
}

/// A direction's recorded translation and the TTL step: the folded update of
/// [`translate_and_step_ttl`] where its conditions hold (an IPv4 header without
/// options at the usual offset, TCP or UDP, the whole datagram in `frame`, TTL
/// above 1), else [`apply_rewrite`] then [`Ipv4Info::decrement_ttl`]. Same
/// bytes either way.
#[inline]
fn rewrite_and_step_ttl(path: &DirPath, frame: &mut [u8], ip: &mut Ipv4Info) {
    use crate::wire::established::{L3_OFFSET, L4_OFFSET};
    let folded = ip.l3_offset == L3_OFFSET
        && ip.l4_offset == L4_OFFSET
        && ip.ttl > 1
        && frame.len() >= ip.end()
        && matches!(ip.l4, L4::Tcp(_) | L4::Udp(_));
    if folded {
        translate_and_step_ttl(frame, ip, path.rewrite);
    } else {
        apply_rewrite(path, frame, ip);
        ip.decrement_ttl(frame);
    }
}

/// The fast path's rewrite: the recorded translation and the TTL step in one
/// incremental update of the IPv4 header checksum, and the transport checksum
/// fixed for the address change (RFC 1624). The result is bit-identical to
/// [`apply_rewrite`] followed by [`Ipv4Info::decrement_ttl`]: ones'-complement
/// updates commute, and a sum with a non-zero operand has one representation.
/// The caller guarantees what `parse_established` checked: an IPv4 header
/// without options at `ip.l3_offset`, a TCP or UDP header after it, the whole
/// datagram in `frame`, and a TTL above 1.
#[inline]
fn translate_and_step_ttl(frame: &mut [u8], ip: &mut Ipv4Info, rewrite: Rewrite) {
    use crate::wire::checksum::{addr_delta, apply_delta, word_delta};
    use crate::wire::established::{L3_OFFSET, L4_OFFSET};
    use crate::wire::ipv4::{CHECKSUM_OFFSET, DST_ADDR_OFFSET, SRC_ADDR_OFFSET, TTL_OFFSET};
    let Some(header) = frame.get_mut(L3_OFFSET..L4_OFFSET) else {
        return;
    };
    let ttl = ip.ttl;
    ip.ttl = ttl.saturating_sub(1);
    let mut delta = word_delta(
        u16::from_be_bytes([ttl, ip.protocol]),
        u16::from_be_bytes([ip.ttl, ip.protocol]),
    );
    header[TTL_OFFSET] = ip.ttl;
    let change = match rewrite {
        Rewrite::Source(new) if new != ip.src => {
            Some((SRC_ADDR_OFFSET, std::mem::replace(&mut ip.src, new), new))
        }
        Rewrite::Destination(new) if new != ip.dst => {
            Some((DST_ADDR_OFFSET, std::mem::replace(&mut ip.dst, new), new))
        }
        _ => None,
    };
    let l4_delta = change.map(|(offset, old, new)| {
        header[offset..offset + 4].copy_from_slice(&new.octets());
        addr_delta(old, new)
    });
    if let Some(d) = l4_delta {
        delta += d;
    }
    let c = u16::from_be_bytes([header[CHECKSUM_OFFSET], header[CHECKSUM_OFFSET + 1]]);
    header[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2]
        .copy_from_slice(&apply_delta(c, delta).to_be_bytes());
    let Some(d) = l4_delta else { return };
    let (at, udp) = match ip.l4 {
        L4::Tcp(_) => (L4_OFFSET + crate::wire::tcp::CHECKSUM_OFFSET, false),
        _ => (L4_OFFSET + crate::wire::udp::CHECKSUM_OFFSET, true),
    };
    let Some(field) = frame.get_mut(at..at + 2) else {
        return;
    };
    let c = u16::from_be_bytes([field[0], field[1]]);
    // RFC 768: a UDP checksum of 0 means "none" and stays 0; a computed 0 is sent as
    // 0xffff (`checksum::update_udp_addr`).
    let c = match (udp, c) {
        (true, 0) => 0,
        (true, c) => match apply_delta(c, d) {
            0 => 0xffff,
            c => c,
        },
        (false, c) => apply_delta(c, d),
    };
    field.copy_from_slice(&c.to_be_bytes());
}

/// What the SMTP stage decided for the current frame.
enum Forwarding {
    /// Forward the (possibly rewritten) frame.
    Frame,
    /// Do not forward it.
    Drop(DropReason),
    /// Do not forward it, and delete the session.
    Delete,
    /// Already handled by the SMTP stage (queued, forwarded as side output,
    /// absorbed): nothing more to do, and not a drop.
    Consumed,
}

impl Firewall {
    /// The established fast path for a single frame (handoffs from other
    /// workers, the simulator; bursts take the same gate in
    /// `Firewall::handle_chunk`): a TCP segment with ACK and without
    /// SYN/FIN/RST, or a UDP datagram, of an established session that is not
    /// terminating and has its next hop resolved; an SMTP-inspected session's
    /// segment goes to the inspected fast path. The short parse and key of
    /// the burst path, one lookup, then the burst path's `forward_burst_hit`:
    /// it does what [`session_path`](Self::session_path) does for such a
    /// packet (the tests hold it to the same output frames and the same
    /// session state). Returns `false`, having changed nothing, when the
    /// packet needs the full path (`handle_frame` then runs it).
    ///
    /// Transport checksum decision: this path does **not** verify the TCP/UDP
    /// checksum (a router does not verify the checksums of datagrams it
    /// forwards; the receiving end discards a corrupt one). That is safe here
    /// because nothing on this path acts on payload bytes and no state change
    /// depends on the segment: SMTP-inspected sessions, SYN/FIN/RST segments
    /// (state changes, session deletion, reopening), the UDP answer that ends
    /// the half-open state and every first packet of a flow take the full path,
    /// which verifies every checksum. A corrupt segment forwarded here can only
    /// widen what the tracker accepts (a larger `end`, ACK or window), which a
    /// sender with a valid checksum could do as well, refresh the idle timer,
    /// and count its bytes.
    #[inline]
    pub(super) fn forward_established(
        &mut self,
        now: u64,
        port: usize,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) -> bool {
        let Some(mac) = self.rt.port_interface(port).filter(|i| i.up).map(|i| i.mac) else {
            return false;
        };
        let Some((c, key)) = self.fast_candidate(mac, frame) else {
            return false;
        };
        let hash = super::flow::hash_of(&self.hasher, &key);
        let Some(hit) = self.table.lookup(&key, hash) else {
            return false;
        };
        self.forward_burst_hit(now, port, frame, c, hit, tx)
    }

    /// The inspected fast path: an ordinary segment (ACK, no SYN/FIN/RST) of
    /// the SMTP-inspected session `handle`, for which `forward_burst_hit`
    /// (the established fast path, burst or single frame) already made its
    /// checks: the short parse (interface, MAC, TTL), the session neither
    /// closing nor half-open, direction `dir`, next hop known. It runs
    /// [`session_path`](Self::session_path) directly, as the full path would
    /// after its own parse and lookup, which would find the same session and
    /// direction (such a segment never reopens a session). Two checks of the
    /// full parse remain: the IPv4 summary `session_path` takes
    /// (`parse_established`, the same frames the short parse accepts), and
    /// the transport checksum, verified here because the inspector acts on
    /// the payload. Returns `false`, having changed nothing, when either
    /// fails: the full path then drops and counts the segment.
    pub(super) fn forward_inspected_hit(
        &mut self,
        now: u64,
        port: usize,
        frame: &mut [u8],
        handle: Handle,
        dir: usize,
        tx: &mut TxSink,
    ) -> bool {
        let Some((_, ip)) = crate::wire::established::parse_established(frame) else {
            return false;
        };
        let Some(segment) = frame.get(ip.l4_offset..ip.end()) else {
            return false;
        };
        if !matches!(ip.l4, L4::Tcp(_))
            || !crate::wire::checksum::l4_checksum_valid(
                ip.src,
                ip.dst,
                crate::wire::ipv4::protocol::TCP,
                segment,
            )
        {
            return false;
        }
        self.session_path(now, port, handle, dir, KeyOrigin::Own, frame, ip, tx);
        true
    }

    /// The session path.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn session_path(
        &mut self,
        now: u64,
        port: usize,
        handle: Handle,
        dir: usize,
        origin: KeyOrigin,
        frame: &mut [u8],
        mut ip: Ipv4Info,
        tx: &mut TxSink,
    ) {
        if ip.ttl <= 1 {
            // Quote the datagram as it arrived; the session is not touched.
            if let Some(iface) = self.rt.port_interface(port).copied() {
                if let Ok(parsed) = parse_frame(frame) {
                    let spec = crate::wire::emit::IcmpErrorSpec::ttl_exceeded();
                    self.send_icmp_error(now, port, &iface, &parsed, &ip, frame, spec, tx);
                }
            }
            return self.drop_frame(port, DropReason::TtlExpired);
        }
        if origin == KeyOrigin::Quoted {
            // ICMP error of the session: translate outer and quoted headers.
            let Some(path) = self.table.get(handle).map(|s| s.paths[dir]) else {
                return;
            };
            self.packets.icmp += 1;
            apply_rewrite(&path, frame, &mut ip);
            ip.decrement_ttl(frame);
            return self.send_on_path(now, handle, dir, &ip, frame, tx);
        }
        let mut finish: Option<SessionState> = None;
        let mut delete = false;
        // L4 state.
        let verdict = match ip.l4 {
            L4::Tcp(_) => self.track_tcp(now, handle, dir, frame, &mut ip, tx),
            L4::Udp(_) => {
                self.packets.udp += 1;
                self.track_udp(now, handle, dir);
                Forwarding::Frame
            }
            L4::Icmp(_) => {
                self.packets.icmp += 1;
                // The ICMP timeout counts from the last outgoing request only.
                if dir == FORWARD {
                    self.table.touch(handle, Nanos(now));
                }
                Forwarding::Frame
            }
            _ => Forwarding::Frame,
        };
        match verdict {
            Forwarding::Frame => {}
            Forwarding::Drop(reason) => return self.drop_frame(port, reason),
            Forwarding::Consumed => {
                if let Some(s) = self.table.get_mut(handle) {
                    s.last_heard = Nanos(now);
                }
                return;
            }
            Forwarding::Delete => {
                self.delete_session(now, handle, flowtable::RemoveCause::Closed, tx);
                return self.drop_frame(port, DropReason::SmtpClosed);
            }
        }
        let Some(s) = self.table.get_mut(handle) else {
            return;
        };
        s.last_heard = Nanos(now);
        s.bytes[dir] += payload_len(&ip);
        if let L4State::Tcp { tracker, .. } = &s.l4 {
            if tracker.state() == crate::stream::TcpState::Closed {
                delete = true;
            }
        }
        if delete {
            finish = Some(s.display_state());
        }
        let path = s.paths[dir];
        rewrite_and_step_ttl(&path, frame, &mut ip);
        match path.cached_mac(self.neighbour_generation.get()) {
            // The next hop is known and the datagram sits at the usual
            // offset: the fast path's transmit (the same frame as `transmit`).
            Some(mac) if ip.l3_offset == crate::wire::established::L3_OFFSET => {
                let total_len = u16::try_from(ip.total_len).unwrap_or(u16::MAX);
                self.transmit_forwardable(
                    now,
                    usize::from(path.egress),
                    path.next_hop,
                    mac,
                    total_len,
                    frame,
                    tx,
                );
            }
            _ => self.send_on_path(now, handle, dir, &ip, frame, tx),
        }
        if finish.is_some() {
            // In-window RST: forwarded, then the session is gone (§3.2).
            self.delete_session(now, handle, flowtable::RemoveCause::Closed, tx);
        }
    }

    /// Transmits a frame along a session direction, caching the next hop's
    /// MAC. A cached MAC that is no longer good (the neighbour moved or its
    /// entry expired: the neighbour generation moved on) is resolved again as
    /// for a new flow — known, or the frame waits for ARP — and the cache
    /// follows the outcome.
    fn send_on_path(
        &mut self,
        now: u64,
        handle: Handle,
        dir: usize,
        ip: &Ipv4Info,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) {
        let Some(path) = self.table.get(handle).map(|s| s.paths[dir]) else {
            return;
        };
        // Read before resolving: a change made meanwhile makes the next
        // packet resolve again.
        let generation = self.neighbour_generation.get();
        let cached = path.cached_mac(generation);
        let sent = self.transmit(
            now,
            usize::from(path.egress),
            path.next_hop,
            cached,
            ip,
            frame,
            tx,
        );
        if cached.is_none() {
            let mac = match sent {
                Sent::To(mac) => Some(mac),
                Sent::Pending | Sent::Dropped => None,
            };
            if let Some(s) = self.table.get_mut(handle) {
                s.paths[dir].cache_mac(mac, generation);
            }
        }
    }

    /// UDP: the first responder datagram ends the half-open state; DNS then
    /// switches to `dns-timeout` (`cbac-sessions.md` §4).
    fn track_udp(&mut self, now: u64, handle: Handle, dir: usize) {
        let dns_timeout = u64::from(self.rt.compiled.globals.dns_timeout);
        let Some(s) = self.table.get_mut(handle) else {
            return;
        };
        let mut became_open = None;
        let mut dns = false;
        if let L4State::Udp {
            answered,
            dns: is_dns,
        } = &mut s.l4
        {
            if dir == REVERSE && !*answered {
                *answered = true;
                became_open = s.halfopen.take();
                dns = *is_dns;
            }
        }
        if let Some(id) = became_open {
            self.shared.halfopen.established(id, Nanos(now));
            self.leave_state(SessionState::HalfOpen);
            self.enter_state(SessionState::Established);
        } else if dir == REVERSE {
            // Still half-open only if no answer ever came; nothing to do.
        }
        if dns {
            self.table.arm(
                handle,
                TimeoutKind::Dns,
                Nanos::from_secs(dns_timeout),
                Nanos(now),
            );
        } else {
            self.table.touch(handle, Nanos(now));
        }
    }

    /// TCP: state tracking, then the SMTP inspector if attached.
    fn track_tcp(
        &mut self,
        now: u64,
        handle: Handle,
        dir: usize,
        frame: &mut [u8],
        ip: &mut Ipv4Info,
        tx: &mut TxSink,
    ) -> Forwarding {
        let L4::Tcp(t) = ip.l4 else {
            return Forwarding::Frame;
        };
        let seg = SegmentInfo {
            seq: crate::stream::Seq(t.seq.0),
            ack: crate::stream::Seq(t.ack.0),
            flags: TcpFlags(t.flags.0),
            window: t.window,
            payload_len: t.payload_len as u32,
            wscale: t.options.window_scale,
            mss: t.options.mss,
        };
        let finwait = u64::from(self.rt.compiled.globals.tcp_finwait_time);
        let from = side_of(dir);
        let Some(s) = self.table.get_mut(handle) else {
            return Forwarding::Drop(DropReason::NoSession);
        };
        let idle = s.idle_timeout;
        let L4State::Tcp { tracker, smtp } = &mut s.l4 else {
            return Forwarding::Frame;
        };
        let smtp = *smtp;
        // An ordinary segment of an established session (most of an inspected
        // session's) changes no state: the tracker's own fast path, which
        // learns from it exactly as `on_segment` would.
        let accepted = if tracker.track_established(from, &seg) {
            crate::stream::Accepted {
                previous: crate::stream::TcpState::Established,
                state: crate::stream::TcpState::Established,
                syn_retransmission: false,
            }
        } else {
            match tracker.on_segment(from, &seg) {
                TrackVerdict::Drop(_) => return Forwarding::Drop(DropReason::TcpState),
                TrackVerdict::Accept(a) => a,
            }
        };
        let mut established = None;
        if accepted.became_established() {
            established = s.halfopen.take();
        }
        let fin_both = accepted.reached_fin_both() && !s.closing;
        if fin_both {
            s.closing = true;
        }
        let was_half_open = established.is_some();
        if let Some(id) = established {
            self.shared.halfopen.established(id, Nanos(now));
        }
        if was_half_open {
            self.leave_state(SessionState::HalfOpen);
            self.enter_state(SessionState::Established);
            self.table
                .arm(handle, TimeoutKind::TcpIdle, idle, Nanos(now));
        }
        if fin_both {
            self.leave_state(SessionState::Established);
            self.enter_state(SessionState::Closing);
            self.table.arm(
                handle,
                TimeoutKind::FinWait,
                Nanos::from_secs(finwait),
                Nanos(now),
            );
        } else if !self.table.get(handle).is_some_and(|s| s.closing) {
            self.table.touch(handle, Nanos(now));
        }
        let Some(slot) = smtp else {
            self.packets.tcp += 1;
            return Forwarding::Frame;
        };
        self.packets.smtp += 1;
        let verdict = self.inspect_smtp(now, handle, dir, slot, frame, ip, tx);
        // Both FINs seen and nothing left unacknowledged: the inspection
        // state is no longer needed; free the slot for new sessions instead
        // of holding it for the FIN-wait time.
        if matches!(verdict, Forwarding::Frame | Forwarding::Consumed) {
            self.release_smtp_if_done(now, handle, slot);
        }
        verdict
    }

    /// Releases a terminating session's SMTP slot once its streams are empty.
    fn release_smtp_if_done(&mut self, now: u64, handle: Handle, slot: crate::smtp_path::SmtpSlot) {
        let done = self.table.get(handle).is_some_and(|s| match &s.l4 {
            L4State::Tcp { tracker, .. } => matches!(
                tracker.state(),
                crate::stream::TcpState::FinBoth | crate::stream::TcpState::Closed
            ),
            _ => false,
        });
        if !done || self.smtp.quiescent(slot) != Some(true) {
            return;
        }
        let unix = self.unix_ns(now);
        let Some(s) = self.table.get_mut(handle) else {
            return;
        };
        let ctx = crate::smtp_path::LogCtx {
            unix_ns: unix,
            initiator: s.initiator,
            responder: s.responder,
            alert: s.alert,
            log: &self.log,
        };
        if let L4State::Tcp { smtp, .. } = &mut s.l4 {
            *smtp = None;
        }
        self.smtp.close(slot, &ctx);
    }

    /// Runs the SMTP glue for one segment and applies its verdict.
    #[allow(clippy::too_many_arguments)]
    fn inspect_smtp(
        &mut self,
        now: u64,
        handle: Handle,
        dir: usize,
        slot: crate::smtp_path::SmtpSlot,
        frame: &mut [u8],
        ip: &mut Ipv4Info,
        tx: &mut TxSink,
    ) -> Forwarding {
        let L4::Tcp(t) = ip.l4 else {
            return Forwarding::Frame;
        };
        let unix = self.unix_ns(now);
        let Some(s) = self.table.get_mut(handle) else {
            return Forwarding::Drop(DropReason::NoSession);
        };
        let (initiator, responder, alert) = (s.initiator, s.responder, s.alert);
        let L4State::Tcp { tracker, .. } = &mut s.l4 else {
            return Forwarding::Frame;
        };
        let mut outputs = Vec::new();
        let mut out = SessionOutput {
            outputs: &mut outputs,
        };
        let mut ctx = SegmentCtx {
            now_ns: now,
            unix_ns: unix,
            from: side_of(dir),
            tracker,
            ip: *ip,
            tcp: t,
            initiator,
            responder,
            alert,
            log: &self.log,
        };
        let verdict = self.smtp.on_segment(slot, &mut ctx, frame, &mut out);
        // Reply-and-close puts the session in FW_CLOSING: shown as terminating.
        if self.smtp.is_fw_closing(slot) {
            if let Some(s) = self.table.get_mut(handle) {
                if !s.closing {
                    let before = s.display_state();
                    s.closing = true;
                    self.leave_state(before);
                    self.enter_state(SessionState::Closing);
                }
            }
        }
        // Out-of-order data waits at most 5 s (`smtp-inspection.md` §11):
        // track the session until its queue is empty.
        if self.smtp.next_expiry(slot).is_some() && !self.ooo_pending.contains(&slot) {
            self.ooo_pending.push(slot);
        }
        // Side output first, in call order (the `SmtpOutput` contract): the
        // stage returns `Forward` only when it made no side output.
        for output in outputs {
            match output {
                Output::Frame(f) => self.forward_released(now, handle, dir, f, tx),
                Output::Inject(seg, payload) => {
                    self.inject(now, handle, seg.toward, &seg, &payload, tx)
                }
            }
        }
        match verdict {
            SmtpVerdict::Forward { frame_len } => {
                // The rewrite keeps every offset: read back what it may change
                // (no second parse and checksum verification).
                if update_forwarded_summary(&frame[..frame_len], ip) {
                    return Forwarding::Frame;
                }
                match parse_frame(&frame[..frame_len]) {
                    Ok(p) => match p.ipv4() {
                        Some(new_ip) => {
                            *ip = *new_ip;
                            Forwarding::Frame
                        }
                        None => Forwarding::Drop(DropReason::MalformedIp),
                    },
                    Err(_) => Forwarding::Drop(DropReason::MalformedL4),
                }
            }
            SmtpVerdict::Consumed { start_finwait } => {
                if start_finwait {
                    let finwait = u64::from(self.rt.compiled.globals.tcp_finwait_time);
                    self.table.arm(
                        handle,
                        TimeoutKind::FinWait,
                        Nanos::from_secs(finwait),
                        Nanos(now),
                    );
                }
                Forwarding::Consumed
            }
            SmtpVerdict::Drop(reason) => Forwarding::Drop(reason),
            SmtpVerdict::DeleteSession => Forwarding::Delete,
        }
    }

    /// Forwards in-order frames released by the stream layer (already
    /// inspected) along direction `dir`.
    fn forward_released(
        &mut self,
        now: u64,
        handle: Handle,
        dir: usize,
        mut f: Vec<u8>,
        tx: &mut TxSink,
    ) {
        let Some(path) = self.table.get(handle).map(|s| s.paths[dir]) else {
            return;
        };
        let Ok(parsed) = parse_frame(&f) else { return };
        let Some(mut ip) = parsed.ipv4().copied() else {
            return;
        };
        if let Some(s) = self.table.get_mut(handle) {
            s.bytes[dir] += payload_len(&ip);
        }
        rewrite_and_step_ttl(&path, &mut f, &mut ip);
        self.send_on_path(now, handle, dir, &ip, &mut f, tx);
    }

    /// Sends a firewall-originated TCP segment toward `toward` in the other
    /// end's name, with the addresses that end sees (`smtp-inspection.md`
    /// §9.2 steps 2–3, `cbac-sessions.md` §3.5).
    pub(super) fn inject(
        &mut self,
        now: u64,
        handle: Handle,
        toward: crate::stream::Side,
        seg: &InjectedSegment,
        payload: &[u8],
        tx: &mut TxSink,
    ) {
        let Some(paths) = self.table.get(handle).map(|s| s.paths) else {
            return;
        };
        self.inject_on(now, &paths, toward, seg, payload, tx);
    }

    /// [`inject`](Self::inject) with the session's paths given (the session
    /// may already be out of the table).
    pub(super) fn inject_on(
        &mut self,
        now: u64,
        paths: &[DirPath; 2],
        toward: crate::stream::Side,
        seg: &InjectedSegment,
        payload: &[u8],
        tx: &mut TxSink,
    ) {
        let path = paths[dir_toward(toward)];
        let egress = usize::from(path.egress);
        let Some(iface) = self.rt.port_interface(egress).copied() else {
            return;
        };
        let mac = match path.cached_mac(self.neighbour_generation.get()) {
            Some(m) => Some(m),
            None => lock(&self.shared.neighbours).lookup(
                std::time::Duration::from_nanos(now),
                iface.index,
                path.next_hop,
            ),
        };
        let Some(dst_mac) = mac else {
            self.drops.count(DropReason::ArpUnresolved);
            return;
        };
        let spec = TcpSegmentSpec {
            origin: Origin {
                src_mac: iface.mac,
                dst_mac,
                src_ip: *path.wire_src.ip(),
                ident: (now >> 8) as u16,
            },
            dst_ip: *path.wire_dst.ip(),
            src_port: path.wire_src.port(),
            dst_port: path.wire_dst.port(),
            seq: SeqNumber(seg.seq.0),
            ack: SeqNumber(seg.ack.0),
            flags: WireFlags(seg.flags.0),
            window: seg.window,
            ttl: 64,
            dont_fragment: true,
        };
        let Ok(buf) = tx.build(egress, crate::io::MAX_FRAME) else {
            self.drops.count(DropReason::TxFull);
            return;
        };
        match emit_tcp_segment(buf, &spec, payload) {
            Ok(n) => {
                tx.truncate_last(n);
                self.ports[egress].tx_packets += 1;
                self.ports[egress].tx_bytes += n as u64;
            }
            Err(_) => tx.truncate_last(0),
        }
    }
}

/// One side output of the SMTP stage, in call order.
enum Output {
    /// A frame to forward in the segment's direction.
    Frame(Vec<u8>),
    /// A firewall-originated segment.
    Inject(InjectedSegment, Vec<u8>),
}

/// Collects the SMTP stage's side output for one segment; applied by the
/// session path once the stage returns (the stage holds the session
/// borrowed). Side output is rare (out-of-order releases, reply-and-close),
/// so the copies it makes do not touch the common path.
struct SessionOutput<'a> {
    outputs: &'a mut Vec<Output>,
}

impl SmtpOutput for SessionOutput<'_> {
    fn forward_extra(&mut self, frame: &mut [u8]) {
        self.outputs.push(Output::Frame(frame.to_vec()));
    }

    fn inject(&mut self, seg: &InjectedSegment, payload: &[u8]) {
        self.outputs.push(Output::Inject(*seg, payload.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    //! The inspected fast path (`forward_inspected_hit`) against the full path
    //! on what the random walk of `pipeline/tests.rs` (`fast_path`) does not
    //! make: corrupt transport checksums, and a whole session compared frame
    //! by frame.
    use std::net::{Ipv4Addr, SocketAddrV4};

    use crate::drop_reason::DropReason;
    use crate::pipeline::tests::{feed, Via};
    use crate::sim::*;

    const C: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40100);
    const S_GLOBAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(172, 22, 1, 110), 25);
    const S_LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 25);
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    const FIN: u8 = 0x01;

    /// A whole SMTP session (with an illegal verb, masked by the inspector,
    /// and a line split over two segments), as (port, frame).
    fn session() -> Vec<(usize, Vec<u8>)> {
        let (mut c, mut s) = (1_000u32, 9_000u32);
        let mut out = Vec::new();
        let client = |out: &mut Vec<(usize, Vec<u8>)>, c: &mut u32, s: u32, flags: u8, p: &[u8]| {
            out.push((
                OUTSIDE,
                tcp(ISP_MAC, FW_OUTSIDE_MAC, C, S_GLOBAL, *c, s, flags, p),
            ));
            *c = c.wrapping_add(p.len() as u32 + u32::from(flags & (SYN | FIN) != 0));
        };
        let server = |out: &mut Vec<(usize, Vec<u8>)>, s: &mut u32, c: u32, flags: u8, p: &[u8]| {
            out.push((
                INSIDE,
                tcp(MAIL_MAC, FW_INSIDE_MAC, S_LOCAL, C, *s, c, flags, p),
            ));
            *s = s.wrapping_add(p.len() as u32 + u32::from(flags & (SYN | FIN) != 0));
        };
        client(&mut out, &mut c, 0, SYN, b"");
        server(&mut out, &mut s, c, SYN | ACK, b"");
        client(&mut out, &mut c, s, ACK, b"");
        server(
            &mut out,
            &mut s,
            c,
            PSH | ACK,
            b"220 mail.example.com ESMTP\r\n",
        );
        client(
            &mut out,
            &mut c,
            s,
            PSH | ACK,
            b"HELO client.example.net\r\n",
        );
        server(&mut out, &mut s, c, PSH | ACK, b"250 mail.example.com\r\n");
        client(&mut out, &mut c, s, PSH | ACK, b"VRFY root\r\n");
        server(&mut out, &mut s, c, PSH | ACK, b"500 5.5.2 Error\r\n");
        client(&mut out, &mut c, s, PSH | ACK, b"MAIL FROM:<a@");
        client(&mut out, &mut c, s, PSH | ACK, b"example.net>\r\n");
        server(&mut out, &mut s, c, PSH | ACK, b"250 2.1.0 Ok\r\n");
        client(&mut out, &mut c, s, PSH | ACK, b"QUIT\r\n");
        server(&mut out, &mut s, c, PSH | ACK, b"221 2.0.0 Bye\r\n");
        server(&mut out, &mut s, c, FIN | ACK, b"");
        client(&mut out, &mut c, s, ACK, b"");
        client(&mut out, &mut c, s, FIN | ACK, b"");
        server(&mut out, &mut s, c, ACK, b"");
        out
    }

    #[test]
    fn inspected_fast_path_gives_the_full_paths_frames_state_and_logs() {
        for via in [Via::Frame, Via::Burst] {
            let mut fast = SeedLab::new(&[]);
            let mut full = SeedLab::new(&[]);
            for (i, (port, frame)) in session().iter().enumerate() {
                let a = feed(&mut fast, via, *port, frame);
                let b = feed(&mut full, Via::FullOnly, *port, frame);
                assert_eq!(a, b, "frame {i}");
                assert_eq!(fast.fw.state_dump(), full.fw.state_dump(), "frame {i}");
                assert_eq!(fast.logs(), full.logs(), "frame {i}");
            }
            // The session was inspected and every frame forwarded.
            assert!(fast.report().packets.smtp >= 12);
            assert_eq!(fast.report().drops.0.iter().sum::<u64>(), 0);
        }
    }

    #[test]
    fn the_inspected_fast_path_takes_ordinary_segments_only() {
        let mut lab = SeedLab::new(&[]);
        let frames = session();
        let mut tx = crate::io::TxSink::with_capacity(16);
        let mut taken = Vec::new();
        for (port, frame) in &frames {
            let mut f = frame.clone();
            tx.clear();
            let fast = lab.fw.forward_established(lab.now, *port, &mut f, &mut tx);
            if !fast {
                feed(&mut lab, Via::FullOnly, *port, frame);
            }
            taken.push(fast);
        }
        // Not the handshake (frames 0–2), every ordinary segment of the
        // established session (3–12, and 14: the client's ACK of the
        // server's FIN), not the FINs (13, 15), nor the last ACK (both FINs
        // seen: the session is closing).
        let want: Vec<bool> = (0..frames.len())
            .map(|i| (3..=12).contains(&i) || i == 14)
            .collect();
        assert_eq!(taken, want);
    }

    #[test]
    fn corrupt_segment_of_an_inspected_session_is_dropped_as_by_the_full_path() {
        let frames = session();
        // The HELO with one payload byte changed (checksum not updated).
        let (port, good) = &frames[4];
        let mut bad = good.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0x20;
        let mut outs = Vec::new();
        for via in [Via::Frame, Via::Burst, Via::FullOnly] {
            let mut lab = SeedLab::new(&[]);
            for (port, frame) in &frames[..4] {
                feed(&mut lab, via, *port, frame);
            }
            let before = lab.report().drops.0[DropReason::MalformedL4.index()];
            let state = sessions(&lab);
            assert!(
                feed(&mut lab, via, *port, &bad).is_empty(),
                "corrupt segment dropped"
            );
            let after = lab.report().drops.0[DropReason::MalformedL4.index()];
            assert_eq!(after, before + 1, "counted");
            assert_eq!(sessions(&lab), state, "nothing learnt from it");
            // The intact copy passes.
            outs.push(feed(&mut lab, via, *port, good));
        }
        assert_eq!(outs[0].len(), 1);
        assert!(outs.iter().all(|o| *o == outs[0]));
    }

    /// The session lines of the state dump (counters left out).
    fn sessions(lab: &SeedLab) -> Vec<String> {
        let mut dump = lab.fw.state_dump();
        dump.retain(|l| l.starts_with("SessionKeys"));
        dump
    }
}
