//! The whole worker pipeline (wire → ACL → NAT → CBAC → stream → SMTP →
//! rewrite → tx) on arbitrary frames, through the in-memory seed lab
//! (`dataplane::sim::SeedLab`): the seed configuration, both ports, a virtual
//! clock. The input is a sequence of records so that one input can open a
//! session and then hit it with follow-up frames and timer runs:
//!
//! ```text
//! record := op:u8 len:u16be bytes[len]
//! op & 0x80 == 0 : send `bytes` on port (op & 1); if op & 0x40, with the IPv4
//!                  and transport checksums made valid first
//! op & 0x80 != 0 : advance the virtual clock by ((len % 1000) * 10 ms), no bytes
//! ```
//!
//! Everything the firewall transmits must be a frame the firewall itself can
//! parse (it only emits well-formed Ethernet/IPv4/ARP).
//!
//! Building a lab takes tens of milliseconds (production-sized tables), so one
//! lab serves [`INPUTS_PER_LAB`] inputs, the clock moving on by a second between
//! inputs; state left by earlier inputs (sessions, half-open counts, ARP) is
//! part of what gets exercised. To replay a crash artifact alone, set
//! `MAILGUARD_FUZZ_FRESH_LAB=1` (a fresh lab per input).
#![no_main]

use std::cell::RefCell;

use dataplane::sim::SeedLab;
use dataplane::wire::frame::parse_frame_with;
use dataplane::wire::frame::ChecksumPolicy;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fn check_output(out: &[(usize, Vec<u8>)]) {
    for (port, frame) in out {
        assert!(*port < 2, "transmit on a port that does not exist");
        assert!(
            parse_frame_with(frame, ChecksumPolicy::Verify).is_ok(),
            "the firewall emitted a frame it cannot parse: {frame:02x?}"
        );
    }
}

/// Inputs run on one lab before it is rebuilt.
const INPUTS_PER_LAB: u32 = 2_000;

thread_local! {
    static LAB: RefCell<Option<(SeedLab, u32)>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    LAB.with_borrow_mut(|slot| {
        let fresh = std::env::var_os("MAILGUARD_FUZZ_FRESH_LAB").is_some();
        match slot {
            Some((_, runs)) if *runs < INPUTS_PER_LAB && !fresh => *runs += 1,
            _ => *slot = Some((SeedLab::new(&[]), 0)),
        }
        if let Some((lab, _)) = slot {
            run(lab, data);
            lab.advance(1_000_000_000);
        }
    });
});

fn run(lab: &mut SeedLab, data: &[u8]) {
    let mut rest = data;
    let mut records = 0;
    while let [op, hi, lo, tail @ ..] = rest {
        records += 1;
        if records > 64 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if op & 0x80 != 0 {
            check_output(&lab.advance((len % 1000) as u64 * 10_000_000));
            rest = tail;
            continue;
        }
        let n = len.min(tail.len());
        let (frame, after) = tail.split_at(n);
        let mut frame = frame.to_vec();
        if op & 0x40 != 0 {
            common::fix_checksums(&mut frame);
        }
        check_output(&lab.send(usize::from(op & 1), &frame));
        rest = after;
    }
    let _ = lab.logs();
}
