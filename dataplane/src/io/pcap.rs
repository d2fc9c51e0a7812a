//! Classic libpcap files, by hand (the format is 24 + 16 bytes of headers):
//! a reader for replay, a writer for capturing what the firewall forwarded,
//! [`PcapIo`], a [`PortIo`] backend that receives from pcap files and
//! writes every transmitted frame to a pcap file per port, and [`TxTap`],
//! a wrapper around any backend (AF_PACKET included) that also records what
//! it sends — a debugging aid, not for the fast path (it writes per frame;
//! give it a `BufWriter`).
//!
//! Reads accept both byte orders and microsecond or nanosecond timestamps;
//! writes use native microsecond format with link type Ethernet (1).

use std::io::{Read, Write};
use std::time::Duration;

use super::memory::MemoryIo;
use super::{IoError, PortIo, PortStats, TxSink};

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Link type Ethernet (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Records longer than this are refused (bounded memory on hostile files).
pub const MAX_RECORD: u32 = 256 * 1024;

/// Errors reading or writing a pcap file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// Underlying I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with a pcap magic number.
    #[error("not a pcap file (magic {0:#010x})")]
    BadMagic(u32),
    /// The link type is not Ethernet.
    #[error("link type {0} is not Ethernet (1)")]
    LinkType(u32),
    /// A record header is inconsistent (caplen > MAX_RECORD or > origlen).
    #[error("record {index}: bad caplen {caplen}")]
    BadRecord {
        /// Record number, from 0.
        index: u64,
        /// Its captured length.
        caplen: u32,
    },
    /// The file ends inside a record.
    #[error("record {0}: truncated")]
    Truncated(u64),
}

/// One record: timestamp in nanoseconds since the epoch and the frame bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    /// Capture time, ns.
    pub ts_ns: u64,
    /// Original length on the wire (may exceed `data.len()` when truncated).
    pub orig_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
}

/// Streaming reader of a classic pcap file.
#[derive(Debug)]
pub struct PcapReader<R> {
    inner: R,
    swapped: bool,
    nanos: bool,
    index: u64,
}

impl<R: Read> PcapReader<R> {
    /// Read and check the global header.
    pub fn new(mut inner: R) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        inner.read_exact(&mut h)?;
        let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, nanos) = match magic {
            MAGIC_US => (false, false),
            MAGIC_NS => (false, true),
            m if m.swap_bytes() == MAGIC_US => (true, false),
            m if m.swap_bytes() == MAGIC_NS => (true, true),
            m => return Err(PcapError::BadMagic(m)),
        };
        let rd = |b: &[u8]| {
            let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if swapped {
                v.swap_bytes()
            } else {
                v
            }
        };
        let linktype = rd(&h[20..24]);
        if linktype != LINKTYPE_ETHERNET {
            return Err(PcapError::LinkType(linktype));
        }
        Ok(PcapReader {
            inner,
            swapped,
            nanos,
            index: 0,
        })
    }

    fn u32_at(&self, b: &[u8]) -> u32 {
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if self.swapped {
            v.swap_bytes()
        } else {
            v
        }
    }

    /// Next record, or `None` at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<PcapRecord>, PcapError> {
        let mut h = [0u8; 16];
        let mut got = 0;
        while got < h.len() {
            let n = self.inner.read(&mut h[got..])?;
            if n == 0 {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(PcapError::Truncated(self.index))
                };
            }
            got += n;
        }
        let sec = u64::from(self.u32_at(&h[0..4]));
        let frac = u64::from(self.u32_at(&h[4..8]));
        let caplen = self.u32_at(&h[8..12]);
        let orig_len = self.u32_at(&h[12..16]);
        if caplen > MAX_RECORD {
            return Err(PcapError::BadRecord {
                index: self.index,
                caplen,
            });
        }
        let mut data = vec![0u8; caplen as usize];
        self.inner.read_exact(&mut data).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                PcapError::Truncated(self.index)
            } else {
                PcapError::Io(e)
            }
        })?;
        self.index += 1;
        let ts_ns = sec * 1_000_000_000 + if self.nanos { frac } else { frac * 1000 };
        Ok(Some(PcapRecord {
            ts_ns,
            orig_len: orig_len.max(caplen),
            data,
        }))
    }

    /// Read every remaining record.
    pub fn read_all(mut self) -> Result<Vec<PcapRecord>, PcapError> {
        let mut out = Vec::new();
        while let Some(r) = self.next_record()? {
            out.push(r);
        }
        Ok(out)
    }
}

/// Writer of a classic pcap file (microsecond timestamps, Ethernet).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: W,
    records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Write the global header (snaplen 65535).
    pub fn new(mut inner: W) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC_US.to_ne_bytes());
        h[4..6].copy_from_slice(&2u16.to_ne_bytes());
        h[6..8].copy_from_slice(&4u16.to_ne_bytes());
        h[16..20].copy_from_slice(&65535u32.to_ne_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
        inner.write_all(&h)?;
        Ok(PcapWriter { inner, records: 0 })
    }

    /// Append one frame captured at `ts_ns` (ns since the epoch).
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), PcapError> {
        let mut h = [0u8; 16];
        let sec = (ts_ns / 1_000_000_000) as u32;
        let usec = ((ts_ns % 1_000_000_000) / 1000) as u32;
        let len = frame.len() as u32;
        h[0..4].copy_from_slice(&sec.to_ne_bytes());
        h[4..8].copy_from_slice(&usec.to_ne_bytes());
        h[8..12].copy_from_slice(&len.to_ne_bytes());
        h[12..16].copy_from_slice(&len.to_ne_bytes());
        self.inner.write_all(&h)?;
        self.inner.write_all(frame)?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// A [`PortIo`] backend for replay: each port receives the frames of a pcap
/// file (in file order) and every transmitted frame is appended to that
/// port's capture writer, stamped with the record time of the frame being
/// replayed (or 0 before any).
#[derive(Debug)]
pub struct PcapIo<W: Write> {
    mem: MemoryIo,
    captures: Vec<Option<PcapWriter<W>>>,
    last_ts_ns: u64,
}

impl<W: Write> PcapIo<W> {
    /// `inputs[i]` is received on port i; `captures[i]` (if any) records what
    /// is sent on port i.
    pub fn new(
        inputs: Vec<Vec<PcapRecord>>,
        captures: Vec<Option<PcapWriter<W>>>,
    ) -> Result<Self, IoError> {
        let ports = inputs.len().max(captures.len());
        let mut mem = MemoryIo::new(ports);
        let mut last_ts_ns = 0;
        for (port, records) in inputs.iter().enumerate() {
            for r in records {
                mem.inject(port, &r.data);
                last_ts_ns = last_ts_ns.max(r.ts_ns);
            }
        }
        let mut captures = captures;
        captures.resize_with(ports, || None);
        Ok(PcapIo {
            mem,
            captures,
            last_ts_ns,
        })
    }

    /// Finish: flush and return every capture writer's inner sink.
    pub fn finish(self) -> Result<Vec<Option<W>>, IoError> {
        self.captures
            .into_iter()
            .map(|c| c.map(|w| w.into_inner()).transpose().map_err(IoError::from))
            .collect()
    }
}

impl<W: Write> PortIo for PcapIo<W> {
    fn port_count(&self) -> usize {
        self.mem.port_count()
    }

    fn rx_burst<F>(&mut self, port: usize, f: F) -> Result<usize, IoError>
    where
        F: FnOnce(&mut [&mut [u8]]),
    {
        self.mem.rx_burst(port, f)
    }

    fn tx_flush(&mut self, tx: &mut TxSink) -> Result<usize, IoError> {
        for (port, frame) in tx.iter() {
            if let Some(Some(w)) = self.captures.get_mut(port) {
                w.write_frame(self.last_ts_ns, frame)?;
            }
        }
        self.mem.tx_flush(tx)
    }

    fn wait_rx(&mut self, timeout: Duration) -> Result<bool, IoError> {
        self.mem.wait_rx(timeout)
    }

    fn port_stats(&mut self, port: usize) -> PortStats {
        self.mem.port_stats(port)
    }
}

/// Wraps a backend and writes every frame it sends on `port` to a pcap
/// capture, stamped with the time passed to [`TxTap::set_now`].
#[derive(Debug)]
pub struct TxTap<IO, W: Write> {
    inner: IO,
    port: usize,
    capture: PcapWriter<W>,
    now_ns: u64,
    errors: u64,
}

impl<IO: PortIo, W: Write> TxTap<IO, W> {
    /// Record what `inner` sends on `port` into `capture`.
    pub fn new(inner: IO, port: usize, capture: PcapWriter<W>) -> Self {
        TxTap {
            inner,
            port,
            capture,
            now_ns: 0,
            errors: 0,
        }
    }

    /// Timestamp (ns since the epoch) for the frames of the next flushes.
    pub fn set_now(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
    }

    /// Frames that could not be written to the capture.
    pub fn capture_errors(&self) -> u64 {
        self.errors
    }

    /// The wrapped backend and the capture.
    pub fn into_parts(self) -> (IO, PcapWriter<W>) {
        (self.inner, self.capture)
    }
}

impl<IO: PortIo, W: Write> PortIo for TxTap<IO, W> {
    fn port_count(&self) -> usize {
        self.inner.port_count()
    }

    fn rx_burst<F>(&mut self, port: usize, f: F) -> Result<usize, IoError>
    where
        F: FnOnce(&mut [&mut [u8]]),
    {
        self.inner.rx_burst(port, f)
    }

    fn tx_flush(&mut self, tx: &mut TxSink) -> Result<usize, IoError> {
        for (port, frame) in tx.iter() {
            if port == self.port && self.capture.write_frame(self.now_ns, frame).is_err() {
                self.errors += 1;
            }
        }
        self.inner.tx_flush(tx)
    }

    fn wait_rx(&mut self, timeout: Duration) -> Result<bool, IoError> {
        self.inner.wait_rx(timeout)
    }

    fn port_stats(&mut self, port: usize) -> PortStats {
        self.inner.port_stats(port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_written_big_endian_nanosecond_file_is_read() {
        let mut f = Vec::new();
        f.extend_from_slice(&[0xa1, 0xb2, 0x3c, 0x4d]); // ns magic, big-endian
        f.extend_from_slice(&[0, 2, 0, 4]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&[0, 0, 0xff, 0xff]);
        f.extend_from_slice(&[0, 0, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 60]);
        f.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
        let recs = PcapReader::new(&f[..]).unwrap().read_all().unwrap();
        assert_eq!(
            recs,
            vec![PcapRecord {
                ts_ns: 2_000_000_007,
                orig_len: 60,
                data: vec![0xaa, 0xbb, 0xcc]
            }]
        );
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(
            PcapReader::new(&[0u8; 24][..]),
            Err(PcapError::BadMagic(0))
        ));
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame(0, &[1, 2, 3, 4]).unwrap();
        let mut bytes = w.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1);
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert!(matches!(r.next_record(), Err(PcapError::Truncated(0))));
        let mut huge = PcapWriter::new(Vec::new()).unwrap().into_inner().unwrap();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        huge.extend_from_slice(&(MAX_RECORD + 1).to_ne_bytes());
        huge.extend_from_slice(&(MAX_RECORD + 1).to_ne_bytes());
        let mut r = PcapReader::new(&huge[..]).unwrap();
        assert!(matches!(
            r.next_record(),
            Err(PcapError::BadRecord { index: 0, .. })
        ));
        let mut raw = PcapWriter::new(Vec::new()).unwrap().into_inner().unwrap();
        raw[20] = 101;
        assert!(matches!(
            PcapReader::new(&raw[..]),
            Err(PcapError::LinkType(_))
        ));
    }

    #[test]
    fn replay_backend_captures_what_is_sent() {
        let input = vec![PcapRecord {
            ts_ns: 5_000_000_000,
            orig_len: 3,
            data: vec![1, 2, 3],
        }];
        let w = PcapWriter::new(Vec::new()).unwrap();
        let mut io = PcapIo::new(vec![input, vec![]], vec![None, Some(w)]).unwrap();
        let mut tx = TxSink::with_capacity(4);
        io.rx_burst(0, |b| {
            for f in b.iter_mut() {
                tx.push(1, f).unwrap();
            }
        })
        .unwrap();
        io.tx_flush(&mut tx).unwrap();
        let out = io.finish().unwrap();
        let cap = out[1].as_ref().unwrap();
        let recs = PcapReader::new(&cap[..]).unwrap().read_all().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].data, vec![1, 2, 3]);
        assert_eq!(recs[0].ts_ns, 5_000_000_000);
    }

    #[test]
    fn tap_records_one_port_and_passes_everything_through() {
        let mut tap = TxTap::new(MemoryIo::new(2), 1, PcapWriter::new(Vec::new()).unwrap());
        tap.set_now(7_000_000_000);
        let mut tx = TxSink::with_capacity(4);
        tx.push(0, &[1]).unwrap();
        tx.push(1, &[2, 2]).unwrap();
        assert_eq!(tap.tx_flush(&mut tx).unwrap(), 2);
        let (mut mem, cap) = tap.into_parts();
        assert_eq!(mem.take_transmitted(0), vec![vec![1]]);
        let recs = PcapReader::new(&cap.into_inner().unwrap()[..])
            .unwrap()
            .read_all()
            .unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(
            (recs[0].ts_ns, recs[0].data.clone()),
            (7_000_000_000, vec![2, 2])
        );
    }

    proptest! {
        #[test]
        fn write_then_read_round_trips(frames in proptest::collection::vec(
            (0u64..4_000_000_000_000_000_000, proptest::collection::vec(any::<u8>(), 0..200)), 0..20)) {
            let mut w = PcapWriter::new(Vec::new()).unwrap();
            for (ts, f) in &frames {
                w.write_frame(*ts, f).unwrap();
            }
            let bytes = w.into_inner().unwrap();
            let recs = PcapReader::new(&bytes[..]).unwrap().read_all().unwrap();
            prop_assert_eq!(recs.len(), frames.len());
            for (r, (ts, f)) in recs.iter().zip(&frames) {
                prop_assert_eq!(&r.data, f);
                prop_assert_eq!(r.ts_ns, ts / 1000 * 1000);
            }
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(r) = PcapReader::new(&bytes[..]) {
                let _ = r.read_all();
            }
        }
    }
}
