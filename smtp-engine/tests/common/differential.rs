//! One side of a differential test: an inspector with the fast paths on or
//! off, and everything one call changes that a caller can see, so two sides
//! fed the same calls can be compared call by call (`tests/fast_path.rs`,
//! `tests/quiet_entries.rs`).

use smtp_engine::{Event, Inspector, Policy, SmtpStats, Verdict};

/// Everything one call changes that a caller can see.
#[derive(Debug, PartialEq)]
pub struct Seen {
    pub verdict: Verdict,
    pub bytes: Vec<u8>,
    pub events: Vec<Event>,
    pub stats: SmtpStats,
    pub flags: [bool; 5],
    pub data_bytes: u64,
}

/// One inspector and its counters.
pub struct Side {
    pub insp: Inspector,
    pub stats: SmtpStats,
}

impl Side {
    pub fn new(policy: &Policy, fast: bool) -> Self {
        let mut insp = Inspector::new(policy);
        insp.set_fast_paths(fast);
        Side {
            insp,
            stats: SmtpStats::default(),
        }
    }

    pub fn call(&mut self, client: bool, seg: &[u8]) -> Seen {
        let mut bytes = seg.to_vec();
        let verdict = if client {
            self.insp.handle_client(&mut bytes, &mut self.stats)
        } else {
            self.insp.handle_server(&mut bytes, &mut self.stats)
        };
        let mut events = Vec::new();
        while let Some(e) = self.insp.poll_event() {
            events.push(e);
        }
        let i = &self.insp;
        Seen {
            verdict,
            bytes,
            events,
            stats: self.stats,
            flags: [
                i.pipelining(),
                i.is_closed(),
                i.is_passthrough(),
                i.server_closing(),
                i.in_data(),
            ],
            data_bytes: i.data_bytes(),
        }
    }
}
