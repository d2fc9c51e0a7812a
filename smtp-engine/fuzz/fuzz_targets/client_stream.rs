//! Fuzz the client command/DATA path: arbitrary bytes, arbitrary segmentation,
//! every policy knob. Checks the verdict contract (never longer than the
//! segment, unconsumed bytes untouched when continuing) and that nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_engine::{Action, Inspector, Mode, Policy, SignatureSet, SmtpStats};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let flags = data[0];
    let cut = data[1] as usize % 64 + 1;
    let policy = Policy {
        mode: if flags & 1 != 0 {
            Mode::Esmtp
        } else {
            Mode::Smtp
        },
        allow_tls: flags & 2 != 0,
        bdat: flags & 4 != 0,
        legacy_pre_12_3_7t: flags & 8 != 0,
        debug: flags & 16 != 0,
        signatures: if flags & 32 != 0 {
            SignatureSet::all()
        } else {
            SignatureSet::default()
        },
        max_data: 1 + data[2] as u64 * 16,
        ..Policy::default()
    };
    let mut insp = Inspector::new(&policy);
    let mut stats = SmtpStats::default();
    let mut greeting = *b"220 fuzz ESMTP\r\n";
    insp.handle_server(&mut greeting, &mut stats);
    for seg in data[3..].chunks(cut) {
        let orig = seg.to_vec();
        let mut b = orig.clone();
        let v = insp.handle_client(&mut b, &mut stats);
        assert!(v.forward <= b.len());
        if v.action == Action::Continue {
            assert_eq!(&b[v.forward..], &orig[v.forward..]);
        }
        while insp.poll_event().is_some() {}
        // Answer whatever was forwarded so withheld bytes can flow again.
        let mut reply = *b"250 ok\r\n";
        insp.handle_server(&mut reply, &mut stats);
        while insp.poll_event().is_some() {}
    }
    insp.end_of_stream(&mut stats);
});
