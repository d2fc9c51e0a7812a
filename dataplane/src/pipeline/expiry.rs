//! Session ends: timer expiry (SYN-wait, idle, FIN-wait, DNS, ICMP), deletions
//! decided by the half-open protections, in-window RSTs and reply-and-close.
//! Every end goes through [`Firewall::finish`]: the half-open registry, the
//! SMTP slot, the audit trail and the RST toward a responder that already
//! answered (`cbac-sessions.md` §3.5, decision 6).

use flowtable::{Handle, Nanos, RemoveCause, TimedEvent, TimeoutKind};

use crate::io::TxSink;
use crate::logging::{DebugCategory, DebugRecord, LogRecord};
use crate::session::{L4State, Session};
use crate::show::SessionState;
use crate::stream::Side;

use super::Firewall;

/// How often a worker polls the shared half-open registry (period
/// boundaries, block expiries, deletions chosen by other workers).
const REGISTRY_POLL_NS: u64 = 1_000_000;

/// Most timer expiries handled per tick (bounded batches).
pub(super) const EXPIRY_BUDGET: usize = 512;

impl Firewall {
    /// Periodic work: timers, registry decisions, neighbour retries, reports.
    pub(super) fn on_tick(&mut self, now: u64, tx: &mut TxSink) {
        let mut expired = std::mem::take(&mut self.expired);
        self.table
            .advance(Nanos(now), EXPIRY_BUDGET, |e| expired.push(e));
        for e in expired.drain(..) {
            let cause = RemoveCause::TimedOut;
            let rst = e.kind == TimeoutKind::SynWait;
            self.finish(now, e.handle, e.value, Some(cause), rst, tx);
        }
        self.expired = expired;
        if now.wrapping_sub(self.last_poll_ns) >= REGISTRY_POLL_NS || self.last_poll_ns == 0 {
            self.last_poll_ns = now;
            self.shared.halfopen.poll(Nanos(now));
            self.apply_halfopen_decisions(now, tx);
            self.neighbour_tick(now, tx);
            self.flush_due_acl_logs(now);
            self.expire_out_of_order(now);
        }
        if let Some(req) = self.shared.report_wanted(usize::from(self.worker)) {
            let report = self.report(now);
            self.shared
                .put_report(usize::from(self.worker), req, report);
        }
    }

    /// Deletes the sessions the registry chose (aggressive mode, per-host
    /// limit, block) and logs the registry's events.
    pub(super) fn apply_halfopen_decisions(&mut self, now: u64, tx: &mut TxSink) {
        self.deletions.clear();
        self.shared
            .halfopen
            .take_deletions(self.worker, &mut self.deletions);
        let deletions = std::mem::take(&mut self.deletions);
        for d in &deletions {
            if let Some(mut s) = self.table.remove(d.handle) {
                // The registry already accounted this deletion.
                s.halfopen = None;
                self.leave_state(SessionState::HalfOpen);
                self.end_session(now, d.handle, s, true, tx);
            }
        }
        self.deletions = deletions;
        self.events.clear();
        self.shared.halfopen.take_events(&mut self.events);
        let events = std::mem::take(&mut self.events);
        for e in &events {
            self.log_registry_event(e);
        }
        self.events = events;
    }

    fn log_registry_event(&mut self, e: &TimedEvent) {
        use flowtable::Event;
        let unix = self.unix_ns(e.at.0);
        let record = match e.event {
            Event::AlertOn { count, high, rate } => LogRecord::AlertOn { count, high, rate },
            Event::AlertOff { count, low, rate } => LogRecord::AlertOff { count, low, rate },
            Event::HostTcpAlertOn { host, limit } => LogRecord::HostTcpAlertOn { limit, host },
            Event::BlockHost {
                host,
                minutes,
                limit,
            } => LogRecord::BlockHost {
                host,
                minutes,
                limit,
            },
            Event::UnblockHost { host } => LogRecord::UnblockHost { host },
        };
        self.log.emit(unix, record);
    }

    /// Deletes a live session (in-window RST, reply-and-close finished).
    pub(super) fn delete_session(
        &mut self,
        now: u64,
        handle: Handle,
        cause: RemoveCause,
        tx: &mut TxSink,
    ) {
        if let Some(s) = self.table.remove(handle) {
            self.finish(now, handle, s, Some(cause), false, tx);
        }
    }

    /// A session left the table for `cause`.
    fn finish(
        &mut self,
        now: u64,
        handle: Handle,
        mut s: Session,
        cause: Option<RemoveCause>,
        rst: bool,
        tx: &mut TxSink,
    ) {
        let state = s.display_state();
        if let (Some(id), Some(cause)) = (s.halfopen.take(), cause) {
            self.shared.halfopen.remove(id, cause, Nanos(now));
        }
        self.leave_state(state);
        self.end_session(now, handle, s, rst, tx);
    }

    /// The common end of every session: RST toward a responder that
    /// answered a still half-open TCP session, SMTP slot release, audit trail.
    fn end_session(&mut self, now: u64, handle: Handle, s: Session, rst: bool, tx: &mut TxSink) {
        if let L4State::Tcp { tracker, .. } = &s.l4 {
            if rst && tracker.is_half_open() {
                if let Some(seg) = tracker.half_open_reset() {
                    // The session is out of the table: inject with its paths.
                    let paths = s.paths;
                    self.inject_on(now, &paths, Side::Responder, &seg, &[], tx);
                }
            }
        }
        let _ = handle;
        let unix = self.unix_ns(now);
        if s.audit_trail {
            self.log.emit(
                unix,
                LogRecord::SessAuditTrail {
                    protocol: s.protocol.keyword(),
                    initiator: s.initiator,
                    responder: s.responder,
                    initiator_bytes: s.bytes[0],
                    responder_bytes: s.bytes[1],
                },
            );
        }
        if self.shared.debug.enabled(DebugCategory::ObjectDeletion) {
            self.log.emit(
                unix,
                LogRecord::Debug(DebugRecord::ObjectDelete { sis: s.id }),
            );
        }
        self.release_l4(now, &s);
    }

    /// Frees what a session's transport state holds outside the table.
    pub(super) fn release_l4(&mut self, now: u64, s: &Session) {
        if let L4State::Tcp {
            smtp: Some(slot), ..
        } = s.l4
        {
            let ctx = crate::smtp_path::LogCtx {
                unix_ns: self.unix_ns(now),
                initiator: s.initiator,
                responder: s.responder,
                alert: s.alert,
                log: &self.log,
            };
            self.smtp.close(slot, &ctx);
        }
    }

    /// Discards out-of-order segments that waited too long.
    fn expire_out_of_order(&mut self, now: u64) {
        let mut i = 0;
        while i < self.ooo_pending.len() {
            let slot = self.ooo_pending[i];
            if self.smtp.next_expiry(slot).is_some_and(|at| at <= now) {
                self.smtp.expire(slot, now);
            }
            if self.smtp.next_expiry(slot).is_none() {
                self.ooo_pending.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Reports access-list matches aggregated for the log interval.
    fn flush_due_acl_logs(&mut self, now: u64) {
        let rt = std::sync::Arc::clone(&self.rt);
        for (list, acl) in rt.compiled.access_lists.iter().enumerate() {
            for index in 0..acl.entries.len() {
                let due = self
                    .acl_log
                    .get(list)
                    .and_then(|l| l.get(index))
                    .is_some_and(|s| {
                        s.pending > 0
                            && now.saturating_sub(s.last_logged_ns)
                                >= super::new_flow::ACL_LOG_INTERVAL_NS
                    });
                if due {
                    self.flush_acl_log(now, list, acl.number, index);
                }
            }
        }
    }

    /// Neighbour table housekeeping: retries of pending resolutions.
    fn neighbour_tick(&mut self, now: u64, tx: &mut TxSink) {
        let t = std::time::Duration::from_nanos(now);
        let mut requests: Vec<(crate::routing::IfIndex, std::net::Ipv4Addr)> = Vec::new();
        crate::shared::lock(&self.shared.neighbours).tick(t, |i, ip| requests.push((i, ip)));
        for (ifindex, ip) in requests {
            if let Some(port) = self.rt.port_of(ifindex) {
                if let Some(iface) = self.rt.port_interface(port).copied() {
                    self.send_arp_request(port, &iface, ip, tx);
                }
            }
        }
    }

    /// Session-state gauges (`show ip inspect statistics`).
    pub(super) fn enter_state(&mut self, state: SessionState) {
        let i = state_index(state);
        self.counts[i] += 1;
        self.maxever[i] = self.maxever[i].max(self.counts[i]);
    }

    /// See [`enter_state`](Self::enter_state).
    pub(super) fn leave_state(&mut self, state: SessionState) {
        let i = state_index(state);
        self.counts[i] = self.counts[i].saturating_sub(1);
    }
}

fn state_index(state: SessionState) -> usize {
    match state {
        SessionState::Established => 0,
        SessionState::HalfOpen => 1,
        SessionState::Closing => 2,
    }
}
