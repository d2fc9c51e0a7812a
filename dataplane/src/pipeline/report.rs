//! What a worker tells the control thread when asked (`show` commands,
//! metrics): session snapshots and every counter it keeps. Built only on
//! request, off the packet path.

use std::time::Duration;

use crate::config::model::Transport;
use crate::session::L4State;
use crate::shared::{VfrReport, WorkerReport};
use crate::show::SessionSnapshot;

use super::Firewall;

impl Firewall {
    /// A snapshot of this worker's sessions and counters at `now`.
    pub(super) fn report(&self, now: u64) -> WorkerReport {
        let sessions = self
            .table
            .iter()
            .map(|(h, _keys, s)| {
                let created = self.table.created(h).map(|c| c.0).unwrap_or(now);
                SessionSnapshot {
                    id: s.id,
                    protocol: s.protocol,
                    transport: match s.l4 {
                        L4State::Tcp { .. } => Transport::Tcp,
                        L4State::Udp { .. } => Transport::Udp,
                        L4State::Icmp => Transport::Icmp,
                    },
                    initiator: s.initiator,
                    responder: s.responder,
                    state: s.display_state(),
                    age: Duration::from_nanos(now.saturating_sub(created)),
                    idle: Duration::from_nanos(now.saturating_sub(s.last_heard.0)),
                    initiator_bytes: s.bytes[0],
                    responder_bytes: s.bytes[1],
                }
            })
            .collect();
        WorkerReport {
            sessions,
            drops: self.drops,
            ports: self.ports,
            acl_hits: self.acl_hits.clone(),
            smtp: *self.smtp.stats(),
            stream: *self.smtp.stream_counters(),
            packets: self.packets,
            creations: self.creations,
            last_created_ns: self.last_created_ns,
            counts: self.counts,
            maxever: self.maxever,
            table_memory: [
                self.table.stats().huge_page_bytes.get(),
                self.table.stats().plain_page_bytes.get(),
            ],
            vfr: std::array::from_fn(|port| match self.vfr.get(port) {
                Some(Some(t)) => VfrReport {
                    reassemblies: t.in_progress() as u64,
                    fragments: t.held_fragments() as u64,
                    counters: *t.counters(),
                },
                _ => VfrReport::default(),
            }),
        }
    }
}
