//! A sequential reference model of `cbac-sessions.md` §7, written straight from
//! the spec's pseudo-code with plain vectors and linear scans, to check the real
//! registry (its intrusive lists, host map, deletion lists and locking) against.

use std::collections::BTreeMap;

use flowtable::{DeleteReason, Event, HalfOpenConfig, Nanos, Refusal};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MRelease {
    Released,
    AlreadyDeleted(DeleteReason),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Live {
    n: u64,
    worker: u16,
    tcp: bool,
    dst: u32,
}

#[derive(Debug)]
pub struct HalfOpenModel {
    pub cfg: HalfOpenConfig,
    now: Nanos,
    period: u64,
    /// Creation order, oldest first.
    live: Vec<Live>,
    /// Per worker: doomed (n, reason), in doom order.
    doomed: Vec<Vec<(u64, DeleteReason)>>,
    alert: BTreeMap<u32, bool>,
    blocked: Vec<(u32, Nanos)>,
    pub rate: u64,
    pub last_rate: u64,
    pub maxever_rate: u64,
    pub last_total: u64,
    pub count_alarm: bool,
    pub rate_alarm: bool,
    pub aggressive: bool,
    pub entered: u64,
    pub block_events: u64,
    pub deleted: [u64; 4],
    pub maxever: u64,
    pub events: Vec<Event>,
}

impl HalfOpenModel {
    pub fn new(cfg: HalfOpenConfig, workers: u16) -> Self {
        HalfOpenModel {
            cfg,
            now: Nanos::ZERO,
            period: 0,
            live: Vec::new(),
            doomed: vec![Vec::new(); workers as usize],
            alert: BTreeMap::new(),
            blocked: Vec::new(),
            rate: 0,
            last_rate: 0,
            maxever_rate: 0,
            last_total: 0,
            count_alarm: false,
            rate_alarm: false,
            aggressive: false,
            entered: 0,
            block_events: 0,
            deleted: [0; 4],
            maxever: 0,
            events: Vec::new(),
        }
    }

    pub fn h(&self) -> u64 {
        self.live.len() as u64
    }

    pub fn hh(&self, d: u32) -> u64 {
        self.live.iter().filter(|l| l.tcp && l.dst == d).count() as u64
    }

    pub fn hosts_blocked(&self) -> u64 {
        self.blocked.len() as u64
    }

    fn begin(&mut self, now: Nanos) {
        self.now = self.now.max(now);
        let p = self.now.0 / self.cfg.period.0;
        if p > self.period {
            self.last_rate = if p == self.period + 1 { self.rate } else { 0 };
            self.maxever_rate = self.maxever_rate.max(self.rate);
            self.last_total = self.h();
            self.rate = 0;
            self.period = p;
            self.off();
        }
        let now = self.now;
        let (due, keep): (Vec<_>, Vec<_>) = self.blocked.iter().partition(|&&(_, u)| u <= now);
        self.blocked = keep;
        for (h, _) in due {
            self.events.push(Event::UnblockHost { host: h.into() });
        }
    }

    fn off(&mut self) {
        if self.h() < self.cfg.max_incomplete_low {
            self.count_alarm = false;
        }
        if self.rate < self.cfg.one_minute_low {
            self.rate_alarm = false;
        }
        if self.aggressive && !self.count_alarm && !self.rate_alarm {
            self.aggressive = false;
            self.events.push(Event::AlertOff {
                count: self.h(),
                low: self.cfg.max_incomplete_low,
                rate: self.rate,
            });
        }
    }

    fn doom(&mut self, pos: usize, reason: DeleteReason) {
        let l = self.live.remove(pos);
        self.deleted[reason as usize + 1] += 1;
        self.doomed[l.worker as usize].push((l.n, reason));
    }

    fn clear_alerts(&mut self) {
        let limit = self.cfg.host_limit;
        let hosts: Vec<u32> = self.alert.keys().copied().collect();
        for d in hosts {
            if self.hh(d) < limit {
                self.alert.remove(&d);
            }
        }
    }

    pub fn poll(&mut self, now: Nanos) {
        self.begin(now);
    }

    pub fn attempt(
        &mut self,
        worker: u16,
        n: u64,
        tcp: bool,
        dst: u32,
        now: Nanos,
    ) -> Result<(), Refusal> {
        self.begin(now);
        let cfg = self.cfg;
        if tcp {
            if self.blocked.iter().any(|&(h, _)| h == dst) {
                return Err(Refusal::HostBlocked);
            }
            if self.hh(dst) >= cfg.host_limit {
                if cfg.block_time_minutes == 0 {
                    while self.hh(dst) >= cfg.host_limit {
                        let pos = self
                            .live
                            .iter()
                            .position(|l| l.tcp && l.dst == dst)
                            .expect("oldest");
                        self.doom(pos, DeleteReason::Host);
                    }
                    if let std::collections::btree_map::Entry::Vacant(e) = self.alert.entry(dst) {
                        e.insert(true);
                        self.events.push(Event::HostTcpAlertOn {
                            host: dst.into(),
                            limit: cfg.host_limit,
                        });
                    }
                    self.off();
                } else {
                    while let Some(pos) = self.live.iter().position(|l| l.tcp && l.dst == dst) {
                        self.doom(pos, DeleteReason::Block);
                    }
                    self.alert.remove(&dst);
                    self.blocked
                        .push((dst, self.now + Nanos::from_mins(cfg.block_time_minutes)));
                    self.block_events += 1;
                    self.events.push(Event::BlockHost {
                        host: dst.into(),
                        minutes: cfg.block_time_minutes,
                        limit: cfg.host_limit,
                    });
                    self.off();
                    return Err(Refusal::HostLimitBlock);
                }
            }
        }
        self.rate += 1;
        if self.h() >= cfg.max_incomplete_high {
            self.count_alarm = true;
        }
        if self.rate > cfg.one_minute_high {
            self.rate_alarm = true;
        }
        if !self.aggressive && (self.count_alarm || self.rate_alarm) {
            self.aggressive = true;
            self.entered += 1;
            self.events.push(Event::AlertOn {
                count: self.h(),
                high: cfg.max_incomplete_high,
                rate: self.rate,
            });
        }
        if self.aggressive && self.h() > 0 {
            self.doom(0, DeleteReason::Aggressive);
            self.off();
        }
        self.live.push(Live {
            n,
            worker,
            tcp,
            dst,
        });
        self.maxever = self.maxever.max(self.h());
        self.clear_alerts();
        Ok(())
    }

    /// `timed_out`: None = established, Some(true) = timed out, Some(false) = closed.
    pub fn release(&mut self, n: u64, timed_out: Option<bool>, now: Nanos) -> MRelease {
        self.begin(now);
        if let Some(pos) = self.live.iter().position(|l| l.n == n) {
            self.live.remove(pos);
            if timed_out == Some(true) {
                self.deleted[0] += 1;
            }
            self.clear_alerts();
            self.off();
            return MRelease::Released;
        }
        for list in &mut self.doomed {
            if let Some(pos) = list.iter().position(|&(m, _)| m == n) {
                let (_, reason) = list.remove(pos);
                return MRelease::AlreadyDeleted(reason);
            }
        }
        MRelease::Unknown
    }

    pub fn pending(&self, worker: u16) -> usize {
        self.doomed[worker as usize].len()
    }

    pub fn take_deletions(&mut self, worker: u16) -> Vec<(u64, DeleteReason)> {
        std::mem::take(&mut self.doomed[worker as usize])
    }
}
