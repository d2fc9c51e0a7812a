//! Property tests against simple models: the session table against a `BTreeMap`
//! with explicit deadlines, and the half-open registry against the sequential
//! reference model of §7 (`common/model.rs`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use common::model::{HalfOpenModel, MRelease};
use flowtable::key::IPPROTO_TCP;
use flowtable::wheel::WheelConfig;
use flowtable::{
    Admission, Direction, FlowHasher, FlowKey, FlowTable, HalfOpenConfig, HalfOpenId,
    HalfOpenRegistry, Handle, Nanos, RegistrySizing, Release, RemoveCause, SessionKeys, Side,
    TableConfig, TimeoutKind, Transport,
};
use proptest::prelude::*;

const G_NS: u64 = 10_000_000;

fn keys(id: u16) -> SessionKeys {
    let c = Ipv4Addr::new(100, 64, (id >> 8) as u8, id as u8);
    let initiator = FlowKey::new(
        IPPROTO_TCP,
        c,
        1000 + id,
        Ipv4Addr::new(172, 22, 1, 110),
        25,
        0,
    );
    let responder = if id.is_multiple_of(5) {
        initiator
    } else {
        FlowKey::new(
            IPPROTO_TCP,
            c,
            1000 + id,
            Ipv4Addr::new(10, 10, 10, 2),
            25,
            1,
        )
    };
    SessionKeys {
        initiator,
        responder,
    }
}

#[derive(Clone, Debug)]
enum TOp {
    Insert(u16),
    Remove(u16),
    Lookup(u16, u8),
    Arm(u16, u8, u64),
    Touch(u16),
    GetMutTouch(u16),
    Advance(u64, usize),
}

fn top() -> impl Strategy<Value = TOp> {
    prop_oneof![
        3 => (0..40u16).prop_map(TOp::Insert),
        1 => (0..40u16).prop_map(TOp::Remove),
        3 => (0..40u16, 0..4u8).prop_map(|(i, v)| TOp::Lookup(i, v)),
        3 => (0..40u16, 0..7u8, 1..3000u64).prop_map(|(i, k, t)| TOp::Arm(i, k, t)),
        2 => (0..40u16).prop_map(TOp::Touch),
        2 => (0..40u16).prop_map(TOp::GetMutTouch),
        2 => (0..700u64, 1..8usize).prop_map(|(d, b)| TOp::Advance(d, b)),
    ]
}

#[derive(Debug)]
struct MSess {
    handle: Handle,
    timer: Option<(TimeoutKind, u64, u64)>, // kind, timeout ns, deadline ns
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn table_matches_model(ops in proptest::collection::vec(top(), 1..300)) {
        let cap = 16usize;
        let config = TableConfig { capacity: cap as u32, wheel: WheelConfig { granularity: Nanos(G_NS), slots: 8 } };
        let mut t: FlowTable<u16> = FlowTable::new(config, FlowHasher::new(7), Nanos::ZERO).unwrap();
        let mut m: BTreeMap<u16, MSess> = BTreeMap::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                TOp::Insert(id) => {
                    let r = t.insert(keys(id), id, Nanos(now));
                    if m.contains_key(&id) {
                        prop_assert!(r.is_err());
                    } else if m.len() == cap {
                        prop_assert_eq!(r.unwrap_err().error, flowtable::InsertError::TableFull);
                    } else {
                        let handle = r.unwrap();
                        m.insert(id, MSess { handle, timer: None });
                    }
                }
                TOp::Remove(id) => {
                    match m.remove(&id) {
                        Some(s) => {
                            prop_assert_eq!(t.remove(s.handle), Some(id));
                            prop_assert_eq!(t.remove(s.handle), None);
                        }
                        None => prop_assert!(t.lookup_key(&keys(id).initiator).is_none()),
                    }
                }
                TOp::Lookup(id, v) => {
                    let k = keys(id);
                    let single = k.is_single();
                    let (key, side, dir) = match v {
                        0 => (k.initiator, Side::Initiator, Direction::Forward),
                        1 => (k.initiator.reversed(), Side::Initiator, Direction::Reverse),
                        2 => (k.responder, if single { Side::Initiator } else { Side::Responder }, Direction::Forward),
                        _ => (k.responder.reversed(), if single { Side::Initiator } else { Side::Responder }, Direction::Reverse),
                    };
                    let hit = t.lookup(&key, t.hasher().hash(&key));
                    match m.get(&id) {
                        Some(s) => {
                            let hit = hit.expect("live session found");
                            prop_assert_eq!(hit.handle, s.handle);
                            prop_assert_eq!(hit.side, side);
                            prop_assert_eq!(hit.direction, dir);
                            prop_assert_eq!(t.get(hit.handle), Some(&id));
                        }
                        None => prop_assert!(hit.is_none()),
                    }
                }
                TOp::Arm(id, k, ms) => {
                    let kind = TimeoutKind::ALL[k as usize];
                    let timeout = ms * 1_000_000;
                    let ok = t.arm(m.get(&id).map_or(Handle::dangling(), |s| s.handle), kind, Nanos(timeout), Nanos(now));
                    prop_assert_eq!(ok, m.contains_key(&id));
                    if let Some(s) = m.get_mut(&id) {
                        s.timer = Some((kind, timeout, now + timeout));
                    }
                }
                TOp::Touch(id) => {
                    let ok = t.touch(m.get(&id).map_or(Handle::dangling(), |s| s.handle), Nanos(now));
                    let expect = m.get(&id).is_some_and(|s| s.timer.is_some());
                    prop_assert_eq!(ok, expect);
                    if let Some(MSess { timer: Some((_, timeout, deadline)), .. }) = m.get_mut(&id) {
                        *deadline = now + *timeout;
                    }
                }
                TOp::GetMutTouch(id) => {
                    // get_mut + touch in one: the data of a live session, its
                    // timer (if any) restarted; nothing for a stale handle.
                    let h = m.get(&id).map_or(Handle::dangling(), |s| s.handle);
                    let got = t.get_mut_touch(h, Nanos(now)).map(|v| *v);
                    prop_assert_eq!(got, m.contains_key(&id).then_some(id));
                    if let Some(MSess { timer: Some((_, timeout, deadline)), .. }) = m.get_mut(&id) {
                        *deadline = now + *timeout;
                    }
                    if let Some(s) = m.get(&id) {
                        let timer = t.timer(s.handle).map(|(k, d)| (k, d.0));
                        prop_assert_eq!(timer, s.timer.map(|(k, _, d)| (k, d)));
                    }
                }
                TOp::Advance(dms, budget) => {
                    now += dms * 1_000_000;
                    let due: BTreeSet<(u16, TimeoutKind)> = m.iter().filter_map(|(&id, s)| {
                        let (kind, _, d) = s.timer?;
                        (d.div_ceil(G_NS) * G_NS <= now).then_some((id, kind))
                    }).collect();
                    let mut got = BTreeSet::new();
                    loop {
                        let mut n = 0;
                        let r = t.advance(Nanos(now), budget, |e| {
                            n += 1;
                            got.insert((e.value, e.kind));
                            assert_eq!(e.keys, keys(e.value));
                        });
                        prop_assert!(n <= budget);
                        prop_assert_eq!(r.expired, n);
                        if !r.more { break; }
                    }
                    prop_assert_eq!(&got, &due);
                    for (id, _) in &due {
                        m.remove(id);
                    }
                }
            }
            prop_assert_eq!(t.len(), m.len());
            for (id, s) in &m {
                let timer = t.timer(s.handle).map(|(k, d)| (k, d.0));
                prop_assert_eq!(timer, s.timer.map(|(k, _, d)| (k, d)), "session {}", id);
            }
        }
    }
}

proptest! {
    /// The burst lookup answers exactly what single lookups answer, for any
    /// table history (inserts and removals, so tombstones and reused slots),
    /// any mix of hits in all four key forms and misses, and any burst length.
    #[test]
    fn burst_lookup_equals_single_lookups(
        inserts in proptest::collection::vec(0..200u16, 0..150),
        removals in proptest::collection::vec(0..200u16, 0..80),
        probes in proptest::collection::vec((0..220u16, 0..4u8), 0..100),
    ) {
        let hasher = FlowHasher::new(11);
        let config = TableConfig::with_capacity(128);
        let mut t: FlowTable<u16> = FlowTable::new(config, hasher, Nanos::ZERO).unwrap();
        let mut live = BTreeMap::new();
        for id in inserts {
            if let Ok(h) = t.insert(keys(id), id, Nanos::ZERO) {
                live.insert(id, h);
            }
        }
        for id in removals {
            if let Some(h) = live.remove(&id) {
                prop_assert_eq!(t.remove(h), Some(id));
            }
        }
        let probe_keys: Vec<FlowKey> = probes
            .iter()
            .map(|&(id, form)| {
                let k = keys(id);
                match form {
                    0 => k.initiator,
                    1 => k.initiator.reversed(),
                    2 => k.responder,
                    _ => k.responder.reversed(),
                }
            })
            .collect();
        let hashes: Vec<_> = probe_keys.iter().map(|k| hasher.hash(k)).collect();
        let mut out = vec![None; probe_keys.len()];
        prop_assert_eq!(t.lookup_burst(&probe_keys, &hashes, &mut out), probe_keys.len());
        for (i, k) in probe_keys.iter().enumerate() {
            prop_assert_eq!(out[i], t.lookup(k, hashes[i]), "probe {}", i);
            let expect = live.get(&probes[i].0).copied();
            prop_assert_eq!(out[i].map(|h| h.handle), expect);
        }
        t.touch_values(&out);
    }
}

#[derive(Clone, Debug)]
enum ROp {
    Attempt { worker: u16, tcp: bool, dst: u8 },
    Established(usize),
    Remove(usize, bool),
    Stale(usize),
    Advance(u64),
    Take(u16),
}

fn rop() -> impl Strategy<Value = ROp> {
    prop_oneof![
        8 => (0..3u16, any::<bool>(), 0..4u8).prop_map(|(worker, tcp, dst)| ROp::Attempt { worker, tcp, dst }),
        2 => any::<usize>().prop_map(ROp::Established),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, t)| ROp::Remove(i, t)),
        1 => any::<usize>().prop_map(ROp::Stale),
        2 => (0..30_000u64).prop_map(ROp::Advance),
        2 => (0..3u16).prop_map(ROp::Take),
    ]
}

fn rconfig() -> impl Strategy<Value = HalfOpenConfig> {
    (1..8u64, 0..8u64, 1..12u64, 0..12u64, 1..4u64, 0..2u64).prop_map(
        |(hi, lo, rhi, rlo, host, block)| HalfOpenConfig {
            max_incomplete_high: hi,
            max_incomplete_low: lo.min(hi),
            one_minute_high: rhi,
            one_minute_low: rlo.min(rhi),
            host_limit: host,
            block_time_minutes: block,
            period: Nanos::from_secs(60),
        },
    )
}

fn dst(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 22, 1, 110 + d)
}

fn release_eq(r: Release, m: MRelease) -> bool {
    match (r, m) {
        (Release::Released, MRelease::Released) | (Release::Unknown, MRelease::Unknown) => true,
        (Release::AlreadyDeleted(a), MRelease::AlreadyDeleted(b)) => a == b,
        _ => false,
    }
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn registry_matches_model(cfg in rconfig(), ops in proptest::collection::vec(rop(), 1..300)) {
        let workers = 3u16;
        let reg = HalfOpenRegistry::new(cfg, RegistrySizing { workers, capacity: 1000, hosts: 64, events: 4096 }, Nanos::ZERO).unwrap();
        let mut model = HalfOpenModel::new(cfg, workers);
        let mut live: Vec<(u64, HalfOpenId)> = Vec::new();
        let mut gone: Vec<HalfOpenId> = Vec::new();
        let mut now = 0u64;
        let mut next = 0u64;
        let mut out = Vec::new();
        let mut events = Vec::new();
        for op in ops {
            match op {
                ROp::Attempt { worker, tcp, dst: d } => {
                    let n = next;
                    next += 1;
                    let t = if tcp { Transport::Tcp } else { Transport::Udp };
                    let r = reg.attempt(worker, Handle::test_new(n as u32, 0), t, dst(d), Nanos(now));
                    let m = model.attempt(worker, n, tcp, dst(d).to_bits(), Nanos(now));
                    match (r, m) {
                        (Admission::Admitted(id), Ok(())) => live.push((n, id)),
                        (Admission::Refused(a), Err(b)) => prop_assert_eq!(a, b),
                        (r, m) => prop_assert!(false, "real {:?} model {:?}", r, m),
                    }
                }
                ROp::Established(i) | ROp::Remove(i, _) if live.is_empty() => { let _ = i; }
                ROp::Established(i) => {
                    let (n, id) = live.swap_remove(i % live.len());
                    let r = reg.established(id, Nanos(now));
                    let m = model.release(n, None, Nanos(now));
                    prop_assert!(release_eq(r, m), "{:?} vs {:?}", r, m);
                    gone.push(id);
                }
                ROp::Remove(i, timed_out) => {
                    let (n, id) = live.swap_remove(i % live.len());
                    let cause = if timed_out { RemoveCause::TimedOut } else { RemoveCause::Closed };
                    let r = reg.remove(id, cause, Nanos(now));
                    let m = model.release(n, Some(timed_out), Nanos(now));
                    prop_assert!(release_eq(r, m), "{:?} vs {:?}", r, m);
                    gone.push(id);
                }
                ROp::Stale(i) => {
                    if !gone.is_empty() {
                        let id = gone[i % gone.len()];
                        prop_assert_eq!(reg.established(id, Nanos(now)), Release::Unknown);
                        model.poll(Nanos(now));
                    }
                }
                ROp::Advance(ms) => {
                    now += ms * 1_000_000;
                    reg.poll(Nanos(now));
                    model.poll(Nanos(now));
                }
                ROp::Take(w) => {
                    out.clear();
                    reg.take_deletions(w, &mut out);
                    let real: Vec<(u64, flowtable::DeleteReason)> = out.iter().map(|d| (d.handle.slot() as u64, d.reason)).collect();
                    let m = model.take_deletions(w);
                    prop_assert_eq!(&real, &m);
                    for (n, _) in m {
                        if let Some(p) = live.iter().position(|&(x, _)| x == n) {
                            gone.push(live.swap_remove(p).1);
                        }
                    }
                }
            }
            events.clear();
            reg.take_events(&mut events);
            let real_events: Vec<_> = events.iter().map(|e| e.event).collect();
            let model_events: Vec<_> = std::mem::take(&mut model.events);
            prop_assert_eq!(real_events, model_events);
            let s = reg.snapshot();
            prop_assert_eq!(s.halfopen, model.h());
            prop_assert_eq!(s.halfopen_maxever, model.maxever);
            prop_assert_eq!((s.rate, s.last_rate, s.maxever_rate, s.last_halfopen_total),
                (model.rate, model.last_rate, model.maxever_rate, model.last_total));
            prop_assert_eq!((s.count_alarm, s.rate_alarm, s.aggressive, s.aggressive_entered),
                (model.count_alarm, model.rate_alarm, model.aggressive, model.entered));
            prop_assert_eq!((s.hosts_blocked, s.block_events), (model.hosts_blocked(), model.block_events));
            prop_assert_eq!([s.deleted.synwait, s.deleted.aggressive, s.deleted.host, s.deleted.block], model.deleted);
            for d in 0..4 {
                prop_assert_eq!(reg.host_halfopen(dst(d)), model.hh(dst(d).to_bits()));
            }
            if model.aggressive && cfg.max_incomplete_high > 0 {
                prop_assert!(s.halfopen <= cfg.max_incomplete_high.max(s.halfopen_maxever.min(cfg.max_incomplete_high)));
            }
        }
    }
}
