//! Fuzz both directions interleaved: each chunk's first byte picks the
//! direction, so replies (EHLO masking, 354, 334, STARTTLS 220) and commands
//! arrive in arbitrary orders and splits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_engine::{Inspector, Mode, Policy, SmtpStats};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let policy = Policy {
        mode: if flags & 1 != 0 {
            Mode::Esmtp
        } else {
            Mode::Smtp
        },
        allow_tls: flags & 2 != 0,
        bdat: flags & 4 != 0,
        mask_banner: flags & 8 != 0,
        debug: flags & 16 != 0,
        ..Policy::default()
    };
    let mut insp = Inspector::new(&policy);
    let mut stats = SmtpStats::default();
    for chunk in rest.split(|&b| b == 0xFF) {
        let Some((&dir, bytes)) = chunk.split_first() else {
            continue;
        };
        let mut b = bytes.to_vec();
        let v = if dir & 1 == 0 {
            insp.handle_client(&mut b, &mut stats)
        } else {
            insp.handle_server(&mut b, &mut stats)
        };
        assert!(v.forward <= b.len());
        while insp.poll_event().is_some() {}
    }
    insp.end_of_stream(&mut stats);
});
