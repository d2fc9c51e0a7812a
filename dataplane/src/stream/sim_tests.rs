//! Property tests: a byte stream cut into random segments, duplicated, altered and
//! reordered, delivered through the stream layer to a model receiver. Whatever arrives,
//! the receiver gets exactly the bytes the inspector judged, once, in order; without
//! altered copies that is the original stream; the pool never exceeds its budgets and
//! gets every chunk back.

use proptest::prelude::*;

use super::*;

const HDR: usize = 8;
const WINDOW: u32 = 3000;

#[derive(Clone, Debug)]
struct Step {
    start: usize,
    len: usize,
    alter: bool,
    accept_pct: u8,
    ack: bool,
    jump: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0usize..4000,
        0usize..900,
        prop::bool::weighted(0.15),
        prop_oneof![Just(100u8), 0u8..=100],
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(start, len, alter, accept_pct, ack, jump)| Step {
            start,
            len,
            alter,
            accept_pct,
            ack,
            jump,
        })
}

/// The model: firewall state, the receiver's stream, and what the inspector accepted.
struct Sim {
    isn: u32,
    pool: StreamPool,
    counters: StreamCounters,
    session: InspectedSession,
    received: Vec<u8>,
    inspected: Vec<u8>,
    acked: usize,
    now_ms: u64,
    buf: Vec<u8>,
}

impl Sim {
    fn new(isn: u32, store: usize, ooo: usize) -> Sim {
        Sim {
            isn,
            pool: StreamPool::new(store, ooo),
            counters: StreamCounters::default(),
            session: InspectedSession::new(Seq(isn), Seq(1)),
            received: Vec::new(),
            inspected: Vec::new(),
            acked: 0,
            now_ms: 0,
            buf: vec![0u8; 2048],
        }
    }

    fn ack(&mut self) {
        self.acked = self.received.len();
        let ack = Seq(self.isn) + self.acked as u32;
        self.session.on_ack(&mut self.pool, Side::Responder, ack);
    }

    fn limit(&self) -> Option<Seq> {
        Some(Seq(self.isn) + self.acked as u32 + WINDOW)
    }

    /// Sends bytes `start..` (content `bytes`) and everything released after it.
    fn send(&mut self, start: usize, bytes: &[u8], accept_pct: u8) {
        let mut frame = vec![0x45; HDR];
        frame.extend_from_slice(bytes);
        let a = Arrival {
            now_ms: self.now_ms,
            seq: Seq(self.isn) + start as u32,
            fin: false,
            payload_at: HDR,
            payload_len: bytes.len(),
            receive_limit: self.limit(),
        };
        self.present(a, &mut frame, accept_pct);
        while let Some(r) = self.session.release_ready(
            &mut self.pool,
            &mut self.counters,
            Side::Initiator,
            self.now_ms,
            &mut self.buf,
        ) {
            let mut frame = self.buf[..r.frame_len].to_vec();
            let a = r.arrival(self.now_ms, self.limit());
            self.present(a, &mut frame, accept_pct);
        }
        self.check_bounds();
    }

    fn present(&mut self, a: Arrival, frame: &mut [u8], accept_pct: u8) {
        let from = Side::Initiator;
        let mut v = self
            .session
            .on_segment(&mut self.pool, &mut self.counters, from, a, frame);
        let payload = &mut frame[HDR..HDR + a.payload_len];
        if let SegmentVerdict::Inspect(p) = v {
            let new = p.new_range();
            // The inspector sees each byte once, in order: new bytes start where the
            // accepted stream ends.
            assert_eq!(p.new_seq(), Seq(self.isn) + self.inspected.len() as u32);
            let n = new.len() * usize::from(accept_pct) / 100;
            self.inspected
                .extend_from_slice(&payload[new.start..new.start + n]);
            v = self
                .session
                .commit(&mut self.pool, &mut self.counters, from, p, payload, n);
        }
        if let SegmentVerdict::Forward(f) = v {
            if f.len == 0 {
                return;
            }
            let at = a.seq.diff(Seq(self.isn)) + f.offset as i32;
            assert!(at >= 0, "forwarded below the stream start");
            let at = at as usize;
            assert!(at <= self.received.len(), "gap: forwarded out of order");
            if at < self.acked {
                // Only a keep-alive probe (one byte at ACK − 1) may repeat acknowledged
                // sequence space; the receiver discards its byte.
                assert!(
                    f.len == 1 && at + 1 == self.acked,
                    "forwarded already-acked bytes"
                );
                return;
            }
            let bytes = &payload[f.range()];
            for (i, &b) in bytes.iter().enumerate() {
                match self.received.get(at + i) {
                    Some(&old) => assert_eq!(old, b, "receiver got two different copies"),
                    None => self.received.push(b),
                }
            }
        }
    }

    fn check_bounds(&self) {
        let (store_cap, ooo_cap) = self.pool.capacity();
        assert!(self.pool.store_bytes_in_use() <= store_cap);
        assert!(self.pool.ooo_bytes_in_use() <= ooo_cap);
        let stream = self.session.stream(Side::Initiator);
        assert!(stream.unacked_bytes() <= STORE_CAP_PER_DIRECTION);
        assert!(stream.queued_segments() <= OOO_SEGMENTS_PER_DIRECTION);
        assert_eq!(
            stream.unacked_bytes(),
            self.received.len() - stream.acked().diff(Seq(self.isn)) as usize
        );
    }
}

fn run(data: &[u8], isn: u32, steps: &[Step], store: usize, ooo: usize) -> Sim {
    let mut sim = Sim::new(isn, store, ooo);
    let mut altered = false;
    for st in steps {
        if st.jump {
            sim.now_ms += 6_000;
        }
        sim.now_ms += 1;
        let start = st.start % (data.len() + 1);
        let end = (start + st.len).min(data.len());
        let mut bytes = data[start..end].to_vec();
        if st.alter && !bytes.is_empty() {
            bytes[0] ^= 0x20;
            altered = true;
        }
        sim.send(start, &bytes, st.accept_pct);
        if st.ack {
            sim.ack();
        }
    }
    // The sender's retransmission timer: resend from the receiver's ACK until done.
    let mut rounds = 0;
    while sim.received.len() < data.len() {
        rounds += 1;
        assert!(rounds < 10_000, "no progress");
        sim.ack();
        sim.now_ms += 200;
        let start = sim.received.len();
        let end = (start + 700).min(data.len());
        let bytes = data[start..end].to_vec();
        sim.send(start, &bytes, 100);
    }
    sim.ack();
    assert_eq!(
        sim.received, sim.inspected,
        "receiver got exactly the inspected bytes"
    );
    if !altered {
        assert_eq!(sim.received, data, "original stream, once, in order");
    }
    sim
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_segmentation_delivers_the_inspected_stream_once_in_order(
        data in prop::collection::vec(any::<u8>(), 1..4000),
        isn in prop_oneof![Just(u32::MAX - 1000), any::<u32>()],
        steps in prop::collection::vec(step(), 0..80),
    ) {
        let mut sim = run(&data, isn, &steps, 64 * 1024, 32 * 1024);
        sim.session.release_all(&mut sim.pool);
        prop_assert_eq!(sim.pool.store_bytes_in_use() + sim.pool.ooo_bytes_in_use(), 0);
        let (s, o) = sim.pool.capacity();
        prop_assert_eq!(sim.pool.free_chunks() * CHUNK_SIZE, s + o);
    }

    #[test]
    fn tiny_pools_only_slow_delivery_down(
        data in prop::collection::vec(any::<u8>(), 1..3000),
        steps in prop::collection::vec(step(), 0..60),
    ) {
        // One chunk of store, two of out-of-order memory.
        let mut sim = run(&data, 12345, &steps, CHUNK_SIZE, 2 * CHUNK_SIZE);
        sim.session.release_all(&mut sim.pool);
        prop_assert_eq!(sim.pool.free_chunks(), 3);
    }
}

/// A fixed hostile delivery (reversed, overlapping, altered copies) so the property test's
/// machinery is known to exercise every path it claims to.
#[test]
fn reversed_overlapping_delivery_exercises_queue_and_first_copy_wins() {
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    let mut steps = Vec::new();
    for k in (0..10).rev() {
        steps.push(Step {
            start: k * 200,
            len: 300,
            alter: k % 3 == 0,
            accept_pct: 100,
            ack: false,
            jump: false,
        });
    }
    steps.push(Step {
        start: 0,
        len: 400,
        alter: true,
        accept_pct: 100,
        ack: false,
        jump: false,
    });
    steps.push(Step {
        start: 100,
        len: 50,
        alter: false,
        accept_pct: 100,
        ack: true,
        jump: false,
    });
    let sim = run(&data, u32::MAX - 700, &steps, 64 * 1024, 32 * 1024);
    let c = &sim.counters;
    assert!(c.tcp_ooo_queued >= 9, "{c:?}");
    assert!(c.tcp_ooo_released >= 1, "{c:?}");
    assert!(c.tcp_retrans_mismatch >= 1, "{c:?}");
    assert!(c.tcp_retrans_bytes_restored > 0, "{c:?}");
}
