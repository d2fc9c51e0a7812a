//! The frame parser (`wire::frame::parse_frame`) on arbitrary bytes, under
//! both checksum policies. Beyond "no panic", it checks the invariants the
//! pipeline relies on after the one checked parse: every offset the summary
//! hands out lies inside the buffer, and the two policies agree whenever the
//! strict one accepts.
#![no_main]

use dataplane::wire::frame::{parse_frame, parse_frame_with, ChecksumPolicy, L3};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let strict = parse_frame(data);
    let trusting = parse_frame_with(data, ChecksumPolicy::TrustL4);
    if let Ok(p) = &strict {
        assert_eq!(
            trusting.as_ref().ok(),
            Some(p),
            "TrustL4 must accept what Verify accepts, identically"
        );
    }
    if let Ok(p) = &trusting {
        if let L3::Ipv4(ip) = &p.l3 {
            assert!(ip.l3_offset + ip.header_len <= ip.end());
            assert!(ip.end() <= data.len(), "datagram end beyond the buffer");
            assert!(ip.l4_offset <= ip.end());
            assert!(ip.l4_offset >= ip.l3_offset + ip.header_len);
            let _ = ip.ports();
            let _ = ip.is_fragment();
        }
    }
});
