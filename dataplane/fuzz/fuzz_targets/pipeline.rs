//! The whole worker pipeline (wire → ACL → NAT → CBAC → stream → SMTP →
//! rewrite → tx) on arbitrary frames, through the in-memory seed lab
//! (`dataplane::sim::SeedLab`): the seed configuration, both ports, a virtual
//! clock. The input is a sequence of records so that one input can open a
//! session and then hit it with follow-up frames and timer runs:
//!
//! ```text
//! record := op:u8 len:u16be bytes[len]
//! op & 0x80 == 0 : send `bytes` on port (op & 1)
//! op & 0x80 != 0 : advance the virtual clock by (len * 10 ms), no bytes
//! ```
//!
//! Everything the firewall transmits must be a frame the firewall itself can
//! parse (it only emits well-formed Ethernet/IPv4/ARP).
#![no_main]

use dataplane::sim::SeedLab;
use dataplane::wire::frame::parse_frame_with;
use dataplane::wire::frame::ChecksumPolicy;
use libfuzzer_sys::fuzz_target;

fn check_output(out: &[(usize, Vec<u8>)]) {
    for (port, frame) in out {
        assert!(*port < 2, "transmit on a port that does not exist");
        assert!(
            parse_frame_with(frame, ChecksumPolicy::Verify).is_ok(),
            "the firewall emitted a frame it cannot parse: {frame:02x?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lab = SeedLab::new(&[]);
    let mut rest = data;
    let mut records = 0;
    while let [op, hi, lo, tail @ ..] = rest {
        records += 1;
        if records > 64 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if op & 0x80 != 0 {
            check_output(&lab.advance(len as u64 * 10_000_000));
            rest = tail;
            continue;
        }
        let n = len.min(tail.len());
        let (frame, after) = tail.split_at(n);
        check_output(&lab.send(usize::from(op & 1), frame));
        rest = after;
    }
    let _ = lab.logs();
});
