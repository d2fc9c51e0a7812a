//! In-memory ports: Vec-of-frames rings for tests, benchmarks and simulations.
//!
//! Frames are injected on a port's receive queue and come out of the pipeline
//! on the port's transmit log. Buffers are recycled between the two so that a
//! benchmark that re-injects what it drains does not allocate in steady state.

use std::collections::VecDeque;
use std::time::Duration;

use super::{lend_burst, IoError, PortIo, PortStats, TxSink};

/// One in-memory port: a receive queue and a log of transmitted frames.
#[derive(Debug, Default)]
struct MemPort {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
    stats: PortStats,
}

/// A set of in-memory ports behind the [`PortIo`] trait.
#[derive(Debug, Default)]
pub struct MemoryIo {
    ports: Vec<MemPort>,
    spare: Vec<Vec<u8>>,
    rx_done: Vec<Vec<u8>>,
}

impl MemoryIo {
    /// `ports` empty ports.
    pub fn new(ports: usize) -> Self {
        MemoryIo {
            ports: (0..ports).map(|_| MemPort::default()).collect(),
            spare: Vec::new(),
            rx_done: Vec::new(),
        }
    }

    /// Queue a copy of `frame` for reception on `port`.
    pub fn inject(&mut self, port: usize, frame: &[u8]) {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        self.ports[port].rx.push_back(buf);
    }

    /// Frames still waiting for reception on `port`.
    pub fn rx_pending(&self, port: usize) -> usize {
        self.ports[port].rx.len()
    }

    /// Frames transmitted on `port` so far (oldest first).
    pub fn transmitted(&self, port: usize) -> &[Vec<u8>] {
        &self.ports[port].tx
    }

    /// Take the frames transmitted on `port`, leaving its log empty.
    pub fn take_transmitted(&mut self, port: usize) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.ports[port].tx)
    }

    /// Empty the transmit log of `port`, keeping the buffers for reuse.
    pub fn recycle_transmitted(&mut self, port: usize) {
        let tx = &mut self.ports[port].tx;
        self.spare.append(tx);
    }
}

impl PortIo for MemoryIo {
    fn port_count(&self) -> usize {
        self.ports.len()
    }

    fn rx_burst<F>(&mut self, port: usize, f: F) -> Result<usize, IoError>
    where
        F: FnOnce(&mut [&mut [u8]]),
    {
        let ports = self.ports.len();
        let p = self
            .ports
            .get_mut(port)
            .ok_or(IoError::NoSuchPort { port, ports })?;
        let n = lend_burst(p.rx.iter_mut().map(|v| v.as_mut_slice()), f);
        for _ in 0..n {
            if let Some(buf) = p.rx.pop_front() {
                p.stats.rx_frames += 1;
                p.stats.rx_bytes += buf.len() as u64;
                self.rx_done.push(buf);
            }
        }
        self.spare.append(&mut self.rx_done);
        Ok(n)
    }

    fn tx_flush(&mut self, tx: &mut TxSink) -> Result<usize, IoError> {
        let mut sent = 0;
        for (port, frame) in tx.iter() {
            match self.ports.get_mut(port) {
                Some(p) => {
                    let mut buf = self.spare.pop().unwrap_or_default();
                    buf.clear();
                    buf.extend_from_slice(frame);
                    p.tx.push(buf);
                    p.stats.tx_frames += 1;
                    p.stats.tx_bytes += frame.len() as u64;
                    sent += 1;
                }
                None => {
                    if let Some(p0) = self.ports.first_mut() {
                        p0.stats.tx_errors += 1;
                    }
                }
            }
        }
        for p in &mut self.ports {
            p.stats.tx_calls += 1;
        }
        tx.clear();
        Ok(sent)
    }

    fn wait_rx(&mut self, timeout: Duration) -> Result<bool, IoError> {
        if self.ports.iter().any(|p| !p.rx.is_empty()) {
            return Ok(true);
        }
        std::thread::sleep(timeout.min(Duration::from_millis(1)));
        Ok(false)
    }

    fn port_stats(&mut self, port: usize) -> PortStats {
        self.ports.get(port).map(|p| p.stats).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_lent_in_order_rewritten_in_place_and_sent_per_port() {
        let mut io = MemoryIo::new(2);
        io.inject(0, &[1, 2, 3]);
        io.inject(0, &[4, 5]);
        let mut tx = TxSink::with_capacity(8);
        let n = io
            .rx_burst(0, |burst| {
                assert_eq!(burst.len(), 2);
                for f in burst.iter_mut() {
                    f[0] ^= 0xff;
                    tx.push(1, f).unwrap();
                }
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(io.rx_pending(0), 0);
        assert_eq!(io.tx_flush(&mut tx).unwrap(), 2);
        assert_eq!(io.transmitted(1), &[vec![0xfe, 2, 3], vec![0xfb, 5]]);
        assert!(io.transmitted(0).is_empty());
        assert_eq!(io.port_stats(0).rx_frames, 2);
        assert_eq!(io.port_stats(1).tx_bytes, 5);
    }

    #[test]
    fn empty_port_does_not_call_and_bad_port_is_an_error() {
        let mut io = MemoryIo::new(1);
        assert_eq!(io.rx_burst(0, |_| panic!("called")).unwrap(), 0);
        assert!(matches!(
            io.rx_burst(3, |_| ()),
            Err(IoError::NoSuchPort { port: 3, ports: 1 })
        ));
    }

    #[test]
    fn large_queues_are_drained_in_bursts() {
        let mut io = MemoryIo::new(1);
        for i in 0..150u8 {
            io.inject(0, &[i]);
        }
        let mut seen = Vec::new();
        while io
            .rx_burst(0, |b| seen.extend(b.iter().map(|f| f[0])))
            .unwrap()
            > 0
        {}
        assert_eq!(seen, (0..150u8).collect::<Vec<_>>());
    }
}
