//! The last stage: next-hop MAC, Ethernet header, and the TX batch.
//!
//! Sessions cache their next hop's MAC per direction, so an established
//! flow's packet never touches the shared neighbour table. A next hop not
//! yet resolved is asked for once (the frame waits in the neighbour table's
//! bounded queue and leaves when the reply arrives, see `local.rs`).

use std::time::Duration;

use crate::drop_reason::DropReason;
use crate::io::TxSink;
use crate::routing::{IfIndex, Resolution};
use crate::shared::lock;
use crate::wire::ethernet::{self, Mac};
use crate::wire::frame::Ipv4Info;

use super::Firewall;

/// What became of a frame handed to [`Firewall::transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// Queued for transmission to this MAC (cache it).
    To(Mac),
    /// Waiting for ARP (or dropped by the neighbour table, counted there).
    Pending,
    /// Not sent.
    Dropped,
}

impl Firewall {
    /// Sends the IPv4 frame out of `egress` toward `next_hop`. `cached` is the
    /// next hop's MAC if the caller knows it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transmit(
        &mut self,
        now: u64,
        egress: usize,
        next_hop: std::net::Ipv4Addr,
        cached: Option<Mac>,
        ip: &Ipv4Info,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) -> Sent {
        let Some(iface) = self.rt.port_interface(egress).copied() else {
            self.drops.count(DropReason::NoInterface);
            return Sent::Dropped;
        };
        // Strip Ethernet padding beyond the datagram, keep the 60-byte minimum.
        let len = ip.end().max(60).min(frame.len());
        let frame = &mut frame[..len];
        let mac = match cached {
            Some(m) => m,
            None => {
                ethernet::write_header(frame, Mac::BROADCAST, iface.mac, ethernet::ethertype::IPV4);
                let t = Duration::from_nanos(now);
                let mut neighbours = lock(&self.shared.neighbours);
                match neighbours.resolve(t, IfIndex(iface.index.0), next_hop, frame) {
                    Resolution::Known(m) => m,
                    Resolution::Queued { send_request }
                    | Resolution::Dropped { send_request, .. } => {
                        drop(neighbours);
                        if send_request {
                            self.send_arp_request(egress, &iface, next_hop, tx);
                        }
                        self.drops.count(DropReason::ArpUnresolved);
                        return Sent::Pending;
                    }
                }
            }
        };
        ethernet::write_header(frame, mac, iface.mac, ethernet::ethertype::IPV4);
        if tx.push(egress, frame).is_err() {
            self.drops.count(DropReason::TxFull);
            return Sent::Dropped;
        }
        let p = &mut self.ports[egress];
        p.tx_packets += 1;
        p.tx_bytes += len as u64;
        Sent::To(mac)
    }

    /// Who-has `target` out of `port`.
    pub(super) fn send_arp_request(
        &mut self,
        port: usize,
        iface: &crate::routing::Interface,
        target: std::net::Ipv4Addr,
        tx: &mut TxSink,
    ) {
        let Some(req) = iface.arp_request(target) else {
            return;
        };
        if let Ok(buf) = tx.build(port, 60) {
            if req.emit_frame(buf).is_ok() {
                self.ports[port].tx_packets += 1;
                self.ports[port].tx_bytes += 60;
            }
        }
    }
}
