//! The router's own minimal stack (`config-and-nat.md` §7): ARP for the
//! interface addresses and the static-translation aliases, ICMP echo to an
//! interface address, and router-originated ICMP errors (rate-limited).

use std::time::Duration;

use crate::drop_reason::DropReason;
use crate::io::TxSink;
use crate::routing::{self, Interface, LocalVerdict};
use crate::shared::lock;
use crate::wire::arp::ArpRepr;
use crate::wire::emit::{self, IcmpErrorSpec, Origin};
use crate::wire::frame::{parse_frame_with, ChecksumPolicy, Ipv4Info, ParsedFrame};
use crate::wire::ipv4::Ipv4Packet;

use super::Firewall;

impl Firewall {
    /// ARP received on `port`: learn, answer who-has for our addresses and
    /// NAT aliases, and release frames that were waiting for this neighbour.
    pub(super) fn handle_arp(
        &mut self,
        now: u64,
        port: usize,
        iface: &Interface,
        arp: &ArpRepr,
        tx: &mut TxSink,
    ) {
        let t = Duration::from_nanos(now);
        let rt = &self.rt;
        let mut neighbours = lock(&self.shared.neighbours);
        let reply = routing::handle_arp(t, arp, iface, &rt.nat, &mut neighbours);
        if let Some(reply) = reply {
            match tx.build(port, 60) {
                Ok(buf) => {
                    if reply.emit_frame(buf).is_err() {
                        tx.truncate_last(0);
                    } else {
                        self.ports[port].tx_packets += 1;
                        self.ports[port].tx_bytes += 60;
                    }
                }
                Err(_) => self.drops.count(DropReason::TxFull),
            }
        }
        if neighbours.has_ready() {
            let ports = &mut self.ports;
            neighbours.drain_ready(|ifindex, frame| {
                if let Some(p) = rt.port_of(ifindex) {
                    if tx.push(p, frame).is_ok() {
                        ports[p].tx_packets += 1;
                        ports[p].tx_bytes += frame.len() as u64;
                    }
                }
            });
        }
    }

    /// A datagram for one of the router's addresses (after the input ACL):
    /// echo requests are answered, everything else dropped.
    pub(super) fn deliver_local(
        &mut self,
        port: usize,
        iface: &Interface,
        frame: &mut [u8],
        parsed: &ParsedFrame,
        tx: &mut TxSink,
    ) {
        match routing::handle_local(frame, parsed, iface) {
            LocalVerdict::EchoReply(n) => {
                if self.refrag.is_armed() || n > crate::io::MAX_FRAME {
                    return self.send_own_fragmented(port, iface, &mut frame[..n], tx);
                }
                if n.saturating_sub(parsed.ipv4().map_or(0, |ip| ip.l3_offset))
                    > usize::from(self.ip_mtu(port))
                {
                    return self.send_own_fragmented(port, iface, &mut frame[..n], tx);
                }
                if tx.push(port, &frame[..n]).is_ok() {
                    self.ports[port].tx_packets += 1;
                    self.ports[port].tx_bytes += n as u64;
                } else {
                    self.drops.count(DropReason::TxFull);
                }
            }
            LocalVerdict::Drop => self.drop_frame(port, DropReason::LocalDelivery),
        }
    }

    /// Sends a datagram the router built itself (an echo reply as large as
    /// the request, up to 65535 bytes) as fragments: along the layout the
    /// request arrived with when it was reassembled (the reply has its IP ID
    /// and length), else cut to the egress MTU. The router is the sender: DF
    /// is cleared rather than answered. `frame` carries the Ethernet header
    /// toward the neighbour the request came from.
    fn send_own_fragmented(
        &mut self,
        port: usize,
        iface: &Interface,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) {
        let Ok(parsed) = parse_frame_with(frame, ChecksumPolicy::TrustL4) else {
            return self.drop_frame(port, DropReason::FragmentFailed);
        };
        let Some(mut ip) = parsed.ipv4().copied() else {
            return self.drop_frame(port, DropReason::FragmentFailed);
        };
        if ip.dont_fragment {
            let mut p = Ipv4Packet::new_unchecked(&mut frame[ip.l3_offset..ip.end()]);
            p.set_flags_and_offset(false, false, 0);
            p.fill_checksum();
            ip.dont_fragment = false;
        }
        let neighbour = parsed.dst_mac;
        // The neighbour's MAC is known, so `now` only matters for ARP and
        // fragmentation-needed, neither of which can happen here.
        let now = self.last_poll_ns;
        self.send_fragments_to(now, port, iface, neighbour, &ip, frame, tx);
    }

    /// Sends an ICMP error about `offending` (the frame as it arrived on
    /// `port`) back toward its sender, from `iface`'s address, if the rate
    /// limit and RFC 1812's rules allow it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_icmp_error(
        &mut self,
        now: u64,
        port: usize,
        iface: &Interface,
        parsed: &ParsedFrame,
        ip: &Ipv4Info,
        offending: &[u8],
        spec: IcmpErrorSpec,
        tx: &mut TxSink,
    ) {
        let Some(addr) = iface.address else { return };
        if !emit::icmp_error_allowed(parsed.dst_mac, ip) {
            return;
        }
        if !self
            .shared
            .icmp_errors
            .allow(iface.index, Duration::from_nanos(now))
        {
            return;
        }
        let origin = Origin {
            src_mac: iface.mac,
            dst_mac: parsed.src_mac,
            src_ip: addr.addr(),
            ident: (now >> 10) as u16,
        };
        let Some(datagram) = offending.get(ip.l3_offset..ip.end()) else {
            return;
        };
        let Ok(buf) = tx.build(port, crate::io::MAX_FRAME) else {
            self.drops.count(DropReason::TxFull);
            return;
        };
        match emit::emit_icmp_error(buf, &origin, &spec, datagram) {
            Ok(n) => {
                tx.truncate_last(n);
                self.ports[port].tx_packets += 1;
                self.ports[port].tx_bytes += n as u64;
            }
            Err(_) => tx.truncate_last(0),
        }
    }
}
