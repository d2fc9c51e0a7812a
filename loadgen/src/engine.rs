//! The connection engine: many client sessions multiplexed on one io_uring, started at a
//! fixed concurrency or on an open-loop schedule, bounded by count and/or duration.
//!
//! One engine runs on one thread (pinned by the caller). Each connection slot carries a
//! sans-IO client (`SmtpClient`, `EchoClient`, or a UDP transaction) and at most one
//! operation in flight; the loop submits the operations those clients ask for, reaps
//! completions, feeds them back, and starts new sessions when the schedule says so. Per
//! session there is no allocation and no syscall besides `socket`/`setsockopt` and the
//! ring's own batched `io_uring_enter`.
//!
//! Open loop: start `k` is due at `k / rate` after the origin whether or not earlier sessions
//! have finished; session latency is measured from the *due* time (no coordinated omission),
//! lateness of the actual start is recorded separately (`start_lag`). A due start with every
//! slot busy is not attempted and counted as `NoSlot`.
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::echo_client::{udp_datagram, udp_judge, EchoClient};
use crate::mix::Mix;
use crate::outcome::{Action, FailureKind, Payload};
use crate::report::Stats;
use crate::smtp_client::{Script, SessionKind, SmtpClient, SmtpPlan};
use crate::sys::uring::{Completion, Op, SlotRing, Source};

/// How sessions are started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Keep exactly this many sessions in flight.
    Concurrency(usize),
    /// Start sessions at this rate per second (open loop), with at most `max_in_flight`.
    Rate { per_s: f64, max_in_flight: usize },
}

impl Load {
    pub fn slots(&self) -> usize {
        match *self {
            Load::Concurrency(n) => n.max(1),
            Load::Rate { max_in_flight, .. } => max_in_flight.max(1),
        }
    }
    pub fn describe(&self) -> String {
        match *self {
            Load::Concurrency(n) => format!("concurrency {n}"),
            Load::Rate {
                per_s,
                max_in_flight,
            } => format!("rate {per_s}/s, max in flight {max_in_flight}"),
        }
    }
}

/// What each session does.
#[derive(Debug, Clone)]
pub enum Workload {
    /// SMTP sessions: shared payloads 0 (body) and 1 (large body) per the plan's indexes.
    Smtp {
        plan: SmtpPlan,
        mix: Mix,
        rcpts: usize,
    },
    /// TCP connect, echo of shared payload 0, close.
    TcpEcho,
    /// UDP transaction: datagram (shared payload 0 + sequence number), echo, next.
    Udp,
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Smtp { .. } => "smtp",
            Workload::TcpEcho => "tcp",
            Workload::Udp => "udp",
        }
    }
}

/// A complete engine run description.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub target: SocketAddrV4,
    /// Source addresses, used round-robin per session (empty: the kernel chooses).
    pub sources: Vec<Ipv4Addr>,
    pub load: Load,
    /// Stop starting after this many sessions.
    pub count: Option<u64>,
    /// Stop starting after this long.
    pub duration: Option<Duration>,
    /// A session (connect included) not finished after this long fails with a timeout.
    pub session_timeout: Duration,
    /// Read-only payloads (message bodies, echo payload).
    pub shared: Vec<Arc<[u8]>>,
    pub recv_size: usize,
    pub workload: Workload,
}

/// Errors that stop a run before it starts (a running engine counts failures instead).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("io_uring setup: {0}")]
    Ring(io::Error),
    #[error("io_uring wait: {0}")]
    Wait(io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Free,
    Connecting,
    Active,
    Closing,
}

#[derive(Debug, Clone)]
enum Driver {
    Idle,
    Smtp(SmtpClient),
    Echo(EchoClient),
    Udp,
}

#[derive(Debug, Clone)]
struct SlotState {
    phase: Phase,
    driver: Driver,
    due_ns: u64,
    started_ns: u64,
    deadline_ns: u64,
    send_src: Source,
    send_off: usize,
    send_len: usize,
    timed_out: bool,
    outcome: Result<(), FailureKind>,
}

impl SlotState {
    fn new() -> Self {
        SlotState {
            phase: Phase::Free,
            driver: Driver::Idle,
            due_ns: 0,
            started_ns: 0,
            deadline_ns: u64::MAX,
            send_src: Source::Out,
            send_off: 0,
            send_len: 0,
            timed_out: false,
            outcome: Ok(()),
        }
    }
}

/// Snapshot hook called about once a second with the stats so far and the elapsed time.
pub type Progress<'a> = &'a mut dyn FnMut(&Stats, Duration);

struct Engine<'c> {
    cfg: &'c EngineConfig,
    ring: SlotRing,
    slots: Vec<SlotState>,
    free: Vec<u32>,
    active: usize,
    stats: Stats,
    origin: Instant,
    mix: Option<Mix>,
    scripts: Vec<(SessionKind, Script)>,
    plan: Option<SmtpPlan>,
    udp_seq: u64,
    source_at: usize,
}

/// Runs one engine to completion on the calling thread. `stop` is polled every loop turn;
/// when it turns true no new session starts and sessions in flight are cancelled.
pub fn run(
    cfg: &EngineConfig,
    progress: Progress<'_>,
    stop: &dyn Fn() -> bool,
) -> Result<Stats, EngineError> {
    validate(cfg)?;
    let n = cfg.load.slots();
    let ring =
        SlotRing::new(n, cfg.recv_size.max(64), cfg.shared.clone()).map_err(EngineError::Ring)?;
    let (mix, scripts, plan) = match &cfg.workload {
        Workload::Smtp { plan, mix, rcpts } => (
            Some(mix.clone()),
            SessionKind::ALL
                .iter()
                .map(|&k| (k, Script::new(k, *rcpts)))
                .collect(),
            Some(plan.clone()),
        ),
        _ => (None, Vec::new(), None),
    };
    let mut e = Engine {
        cfg,
        ring,
        slots: vec![SlotState::new(); n],
        free: (0..n as u32).rev().collect(),
        active: 0,
        stats: Stats::default(),
        origin: Instant::now(),
        mix,
        scripts,
        plan,
        udp_seq: 0,
        source_at: 0,
    };
    e.run(progress, stop)?;
    Ok(e.stats)
}

fn validate(cfg: &EngineConfig) -> Result<(), EngineError> {
    if cfg.count.is_none() && cfg.duration.is_none() {
        return Err(EngineError::Config(
            "a run needs --count or --duration (runs are bounded)".into(),
        ));
    }
    if let Load::Rate { per_s, .. } = cfg.load {
        if !(per_s.is_finite() && per_s > 0.0) {
            return Err(EngineError::Config(format!(
                "rate must be positive, got {per_s}"
            )));
        }
    }
    let need = match cfg.workload {
        Workload::Smtp { ref plan, .. } => plan.body.max(plan.large_body) + 1,
        _ => 1,
    };
    if cfg.shared.len() < need {
        return Err(EngineError::Config("missing shared payload".into()));
    }
    if matches!(cfg.workload, Workload::Udp | Workload::TcpEcho) && cfg.shared[0].is_empty() {
        return Err(EngineError::Config("echo payload must not be empty".into()));
    }
    if let Workload::Smtp { ref plan, .. } = cfg.workload {
        if plan.rcpts.is_empty() {
            return Err(EngineError::Config(
                "SMTP plan needs at least one recipient".into(),
            ));
        }
    }
    Ok(())
}

impl Engine<'_> {
    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn due_ns(&self, k: u64) -> u64 {
        match self.cfg.load {
            Load::Rate { per_s, .. } => (k as f64 * 1e9 / per_s) as u64,
            Load::Concurrency(_) => 0,
        }
    }

    /// May start `k` (0-based) be started at `now`?
    fn may_start(&self, k: u64, now: u64) -> bool {
        if self.cfg.count.is_some_and(|c| k >= c) {
            return false;
        }
        if let Some(d) = self.cfg.duration {
            let limit = d.as_nanos() as u64;
            let t = match self.cfg.load {
                Load::Rate { .. } => self.due_ns(k),
                Load::Concurrency(_) => now,
            };
            if t >= limit {
                return false;
            }
        }
        true
    }

    fn run(&mut self, progress: Progress<'_>, stop: &dyn Fn() -> bool) -> Result<(), EngineError> {
        let mut completions: Vec<Completion> = Vec::with_capacity(self.slots.len() * 2);
        let mut next_scan = 0u64;
        let mut next_progress = 1_000_000_000u64;
        let mut stopping = false;
        let mut drain_deadline: Option<u64> = None;
        loop {
            let now = self.now_ns();
            if !stopping && stop() {
                stopping = true;
                self.cancel_all();
            }
            // Start what is due.
            let mut wait_ns = 50_000_000u64;
            if !stopping {
                match self.cfg.load {
                    Load::Concurrency(_) => {
                        while !self.free.is_empty() && self.may_start(self.stats.started, now) {
                            self.start(now, now);
                        }
                    }
                    Load::Rate { .. } => {
                        while self.may_start(self.stats.started, now) {
                            let due = self.due_ns(self.stats.started);
                            if due > now {
                                wait_ns = wait_ns.min(due - now);
                                break;
                            }
                            self.start(due, now);
                        }
                    }
                }
            }
            let more = !stopping && self.may_start(self.stats.started, now);
            if !more && self.active == 0 && self.ring.in_flight() == 0 {
                break;
            }
            if !more {
                // Draining: bounded by the session timeout plus a margin.
                let dl = *drain_deadline.get_or_insert(
                    now + self.cfg.session_timeout.as_nanos() as u64 + 2_000_000_000,
                );
                if now > dl {
                    break;
                }
            }
            if now >= next_scan {
                if stopping {
                    self.cancel_all();
                } else {
                    self.expire(now);
                }
                next_scan = now + 10_000_000;
            }
            if now >= next_progress {
                progress(&self.stats, Duration::from_nanos(now));
                next_progress = now + 1_000_000_000;
            }
            completions.clear();
            self.ring
                .wait(
                    Duration::from_nanos(wait_ns.min(10_000_000)),
                    &mut completions,
                )
                .map_err(EngineError::Wait)?;
            let now = self.now_ns();
            for c in completions.iter().copied() {
                self.complete(c, now);
            }
        }
        // Anything still open (drain deadline passed): count and release.
        for i in 0..self.slots.len() as u32 {
            let s = &self.slots[i as usize];
            let r = match s.phase {
                Phase::Free => continue,
                Phase::Closing => s.outcome,
                Phase::Connecting => Err(FailureKind::ConnectTimeout),
                Phase::Active => Err(FailureKind::Timeout),
            };
            match r {
                Ok(()) => self.stats.ok += 1,
                Err(k) => self.stats.fail(k),
            }
            self.slots[i as usize].phase = Phase::Free;
        }
        progress(&self.stats, self.origin.elapsed());
        Ok(())
    }

    fn next_source(&mut self) -> Option<Ipv4Addr> {
        if self.cfg.sources.is_empty() {
            return None;
        }
        let s = self.cfg.sources[self.source_at % self.cfg.sources.len()];
        self.source_at += 1;
        Some(s)
    }

    /// Starts one session (due at `due`, actually now).
    fn start(&mut self, due: u64, now: u64) {
        self.stats.note_start(now);
        if matches!(self.cfg.load, Load::Rate { .. }) {
            self.stats.start_lag.record_ns(now.saturating_sub(due));
        }
        let Some(slot) = self.free.pop() else {
            self.stats.fail(FailureKind::NoSlot);
            return;
        };
        let timeout = self.cfg.session_timeout.as_nanos() as u64;
        let st = &mut self.slots[slot as usize];
        st.due_ns = due;
        st.started_ns = now;
        st.deadline_ns = now.saturating_add(timeout);
        st.timed_out = false;
        st.outcome = Ok(());
        self.active += 1;
        match self.cfg.workload {
            Workload::Udp => self.start_udp(slot),
            _ => self.start_tcp(slot),
        }
    }

    fn start_tcp(&mut self, slot: u32) {
        let source = self.next_source();
        let driver = match (&mut self.mix, &self.cfg.workload) {
            (Some(mix), Workload::Smtp { .. }) => {
                let kind = mix.next_kind();
                let script = self
                    .scripts
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, s)| *s)
                    .unwrap_or_else(|| Script::new(kind, 1));
                Driver::Smtp(SmtpClient::new(script))
            }
            _ => Driver::Echo(EchoClient::new()),
        };
        self.slots[slot as usize].driver = driver;
        match self.ring.open_tcp(slot, source) {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return self.release(slot, Err(FailureKind::Socket)),
        }
        self.slots[slot as usize].phase = Phase::Connecting;
        match self.ring.connect(slot, self.cfg.target) {
            Ok(Ok(())) => {}
            _ => self.finish(slot, Err(FailureKind::Io)),
        }
    }

    fn start_udp(&mut self, slot: u32) {
        if !self.ring.has_socket(slot) {
            let source = self.next_source();
            match self.ring.open_udp(slot, source, self.cfg.target) {
                Ok(Ok(())) => {}
                _ => return self.release(slot, Err(FailureKind::Socket)),
            }
        }
        self.udp_seq += 1;
        let seq = self.udp_seq;
        self.slots[slot as usize].driver = Driver::Udp;
        self.slots[slot as usize].phase = Phase::Active;
        let payload = Arc::clone(&self.cfg.shared[0]);
        match self.ring.out_mut(slot) {
            Ok(out) => udp_datagram(&payload, seq, out),
            Err(_) => return self.finish(slot, Err(FailureKind::Io)),
        }
        self.act(slot, Action::Send(Payload::Out));
    }

    /// Carries out what a client asked for.
    fn act(&mut self, slot: u32, action: Action) {
        match action {
            Action::Send(p) => {
                let src = match p {
                    Payload::Out => Source::Out,
                    Payload::Shared(i) => Source::Shared(i),
                };
                let len = match p {
                    Payload::Out => self.ring.out_mut(slot).map(|o| o.len()).unwrap_or(0),
                    Payload::Shared(i) => self.cfg.shared.get(i).map_or(0, |b| b.len()),
                };
                let st = &mut self.slots[slot as usize];
                st.send_src = src;
                st.send_off = 0;
                st.send_len = len;
                if len == 0 {
                    return self.act_after_sent(slot);
                }
                match self.ring.send(slot, src, 0) {
                    Ok(Ok(())) => {}
                    _ => self.finish(slot, Err(FailureKind::Io)),
                }
            }
            Action::Recv => match self.ring.recv(slot) {
                Ok(Ok(())) => {}
                _ => self.finish(slot, Err(FailureKind::Io)),
            },
            Action::Finish(r) => self.finish(slot, r),
        }
    }

    fn act_after_sent(&mut self, slot: u32) {
        let a = match &mut self.slots[slot as usize].driver {
            Driver::Smtp(c) => c.on_sent(),
            Driver::Echo(c) => c.on_sent(),
            Driver::Udp => Action::Recv,
            Driver::Idle => Action::Finish(Err(FailureKind::Io)),
        };
        self.act(slot, a);
    }

    /// Ends a session: TCP sockets are closed through the ring (the result is recorded at
    /// the close completion); UDP slots keep their socket and are released at once.
    fn finish(&mut self, slot: u32, r: Result<(), FailureKind>) {
        let st = &mut self.slots[slot as usize];
        st.outcome = r;
        if matches!(self.cfg.workload, Workload::Udp) && r.is_ok() {
            return self.release(slot, r);
        }
        if self.ring.has_socket(slot) {
            st.phase = Phase::Closing;
            if let Ok(Ok(())) = self.ring.close(slot) {
                return;
            }
        }
        self.release(slot, r);
    }

    /// Records the session's result and returns the slot to the free list.
    fn release(&mut self, slot: u32, r: Result<(), FailureKind>) {
        let now = self.now_ns();
        let st = &mut self.slots[slot as usize];
        match r {
            Ok(()) => {
                self.stats.ok += 1;
                self.stats
                    .session
                    .record_ns(now.saturating_sub(st.due_ns.min(st.started_ns)));
            }
            Err(k) => self.stats.fail(k),
        }
        st.phase = Phase::Free;
        st.driver = Driver::Idle;
        self.active -= 1;
        self.free.push(slot);
    }

    fn complete(&mut self, c: Completion, now: u64) {
        let slot = c.slot;
        let Some(st) = self.slots.get(slot as usize) else {
            return;
        };
        let (phase, timed_out) = (st.phase, st.timed_out);
        if phase == Phase::Free {
            return;
        }
        if c.op == Op::Close {
            let r = self.slots[slot as usize].outcome;
            return self.release(slot, r);
        }
        if timed_out && c.result < 0 {
            let k = if phase == Phase::Connecting {
                FailureKind::ConnectTimeout
            } else {
                FailureKind::Timeout
            };
            return self.finish(slot, Err(k));
        }
        match c.op {
            Op::Connect => {
                if c.result < 0 {
                    return self.finish(slot, Err(FailureKind::from_connect_errno(-c.result)));
                }
                self.stats
                    .connect
                    .record_ns(now.saturating_sub(self.slots[slot as usize].started_ns));
                self.slots[slot as usize].phase = Phase::Active;
                let a = match &mut self.slots[slot as usize].driver {
                    Driver::Smtp(cl) => cl.on_connected(),
                    Driver::Echo(cl) => cl.on_connected(0),
                    _ => Action::Finish(Err(FailureKind::Io)),
                };
                self.act(slot, a);
            }
            Op::Send => {
                if c.result <= 0 {
                    let k = if c.result == 0 {
                        FailureKind::Io
                    } else {
                        FailureKind::from_io_errno(-c.result)
                    };
                    return self.finish(slot, Err(k));
                }
                self.stats.bytes_sent += c.result as u64;
                let st = &mut self.slots[slot as usize];
                st.send_off += c.result as usize;
                if st.send_off < st.send_len {
                    let (src, off) = (st.send_src, st.send_off);
                    match self.ring.send(slot, src, off) {
                        Ok(Ok(())) => {}
                        _ => self.finish(slot, Err(FailureKind::Io)),
                    }
                } else {
                    self.act_after_sent(slot);
                }
            }
            Op::Recv => {
                if c.result < 0 {
                    return self.finish(slot, Err(FailureKind::from_io_errno(-c.result)));
                }
                let n = c.result as usize;
                self.stats.bytes_received += n as u64;
                let a = self.on_data(slot, n);
                self.act(slot, a);
            }
            Op::Close | Op::Cancel | Op::Accept => {}
        }
    }

    fn on_data(&mut self, slot: u32, n: usize) -> Action {
        let st = &mut self.slots[slot as usize];
        if n == 0 {
            return match &mut st.driver {
                Driver::Smtp(c) => c.on_eof(),
                Driver::Echo(c) => c.on_eof(),
                _ => Action::Finish(Err(FailureKind::UnexpectedClose)),
            };
        }
        let Ok((data, out)) = self.ring.received_and_out(slot, n) else {
            return Action::Finish(Err(FailureKind::Io));
        };
        match &mut st.driver {
            Driver::Smtp(c) => match &self.plan {
                Some(plan) => c.on_recv(plan, data, out, &mut self.stats.replies),
                None => Action::Finish(Err(FailureKind::Io)),
            },
            Driver::Echo(c) => c.on_recv(&self.cfg.shared[0], data),
            Driver::Udp => match udp_judge(out, data) {
                Some(true) => Action::Finish(Ok(())),
                Some(false) => Action::Finish(Err(FailureKind::BadEcho)),
                None => Action::Recv,
            },
            Driver::Idle => Action::Finish(Err(FailureKind::Io)),
        }
    }

    /// Cancels the operation of every session past its deadline.
    fn expire(&mut self, now: u64) {
        for i in 0..self.slots.len() {
            let st = &mut self.slots[i];
            if matches!(st.phase, Phase::Connecting | Phase::Active)
                && now >= st.deadline_ns
                && !self.ring.is_idle(i as u32)
            {
                st.timed_out = true;
                let _ = self.ring.cancel(i as u32);
            }
        }
    }

    fn cancel_all(&mut self) {
        for i in 0..self.slots.len() {
            let st = &mut self.slots[i];
            if matches!(st.phase, Phase::Connecting | Phase::Active) && !self.ring.is_idle(i as u32)
            {
                st.timed_out = true;
                let _ = self.ring.cancel(i as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(load: Load) -> EngineConfig {
        EngineConfig {
            target: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9),
            sources: vec![],
            load,
            count: Some(1),
            duration: None,
            session_timeout: Duration::from_secs(1),
            shared: vec![Arc::from(&b"x"[..])],
            recv_size: 1024,
            workload: Workload::TcpEcho,
        }
    }

    #[test]
    fn unbounded_and_bad_rates_are_rejected() {
        let mut c = cfg(Load::Concurrency(1));
        c.count = None;
        assert!(matches!(validate(&c), Err(EngineError::Config(_))));
        let c = cfg(Load::Rate {
            per_s: 0.0,
            max_in_flight: 1,
        });
        assert!(matches!(validate(&c), Err(EngineError::Config(_))));
        let mut c = cfg(Load::Concurrency(1));
        c.shared = vec![Arc::from(&b""[..])];
        assert!(matches!(validate(&c), Err(EngineError::Config(_))));
        assert!(validate(&cfg(Load::Concurrency(1))).is_ok());
    }
}
