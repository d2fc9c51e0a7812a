//! `ip virtual-reassembly` (`dataplane::reassembly`) on arbitrary frames: every
//! input record is parsed like the pipeline does and, if it is a fragment,
//! offered to a table with the default limits (16 datagrams, 32 fragments,
//! 3 s), the clock advancing by the record's first byte in 100 ms steps. A
//! completed datagram must be a well-formed, unfragmented IPv4 datagram of at
//! most 65535 bytes; the table must never hold more than its limit.
//!
//! ```text
//! record := tick:u8 len:u16be bytes[len]
//! ```
//!
//! The IPv4 header checksum of every record is made valid before parsing, so
//! mutations of the header fields reach the reassembly table.
#![no_main]

use dataplane::config::model::VirtualReassembly as VfrConfig;
use dataplane::reassembly::{Offer, VirtualReassembly, MAX_DATAGRAM};
use dataplane::routing::IfIndex;
use dataplane::wire::frame::{parse_frame_with, ChecksumPolicy, L3};
use dataplane::wire::ipv4::Ipv4Packet;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let config = VfrConfig::default();
    let mut table = VirtualReassembly::new(IfIndex(0), &config);
    let mut now = 0u64;
    let mut rest = data;
    while let [tick, hi, lo, tail @ ..] = rest {
        now += u64::from(*tick) * 100_000_000;
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (frame, after) = tail.split_at(n);
        rest = after;
        let mut frame = frame.to_vec();
        common::fix_checksums(&mut frame);
        let frame = &frame[..];
        let Ok(parsed) = parse_frame_with(frame, ChecksumPolicy::TrustL4) else {
            continue;
        };
        let L3::Ipv4(ip) = parsed.l3 else {
            continue;
        };
        if let Offer::Complete { frame: out } = table.offer(now, frame, &ip) {
            let dgram = &out[ip.l3_offset..];
            assert!(dgram.len() <= MAX_DATAGRAM);
            let header = Ipv4Packet::new_checked(dgram).expect("reassembled header");
            assert!(header.checksum_valid());
            assert_eq!(usize::from(header.total_len()), dgram.len());
            assert!(!header.more_fragments() && header.frag_offset() == 0);
        }
        assert!(table.in_progress() <= config.max_reassemblies as usize);
        while table.pop_event().is_some() {}
    }
    table.expire(now + 3_000_000_000);
    assert_eq!(table.in_progress(), 0);
});
