//! The last stage (`config-and-nat.md` §5.2 step 10): MTU handling, next-hop
//! MAC, Ethernet header, and the TX batch.
//!
//! Sessions cache their next hop's MAC per direction, so an established
//! flow's packet never touches the shared neighbour table. A next hop not
//! yet resolved is asked for once (the frame waits in the neighbour table's
//! bounded queue and leaves when the reply arrives, see `local.rs`). A cached
//! MAC is used only while the neighbour table's generation is the one it was
//! resolved at (`DirPath::cached_mac`): when a neighbour moves or an entry
//! expires, the session's next packet resolves its next hop again here.
//!
//! MTU handling, as a router does it:
//! * A datagram that `ip virtual-reassembly` put together leaves as fragments
//!   again, along the boundaries it arrived with (IOS VFR forwards the
//!   fragments it reassembled virtually), carrying the processed bytes: the
//!   translated addresses, the decremented TTL and the SMTP inspector's
//!   masking are in the first fragment's header and in the payload, and the
//!   transport checksum (in the first fragment) covers the whole processed
//!   datagram. Boundary pieces larger than the egress MTU are split further.
//! * Any other datagram larger than the egress MTU is fragmented if DF is
//!   clear, else dropped (`too_big`) and answered with ICMP 3/4
//!   fragmentation-needed carrying the next-hop MTU (RFC 1191), rate-limited
//!   with the other ICMP errors, quoting the datagram as its sender sent it
//!   (addresses before NAT, TTL before the decrement), so path MTU discovery
//!   works through the static translation.
//! * The egress MTU is the interface's IP MTU: the lower of the Linux
//!   device's MTU ([`Firewall::set_device_mtu`], from the engine) and the
//!   configuration's `ip mtu` / `mtu`; either alone when the other is
//!   unknown, 1500 (the IOS Ethernet default) when both are; never above
//!   what a TX slot holds. It follows configuration reloads.
//!   [`Firewall::set_ip_mtu`] pins a value (tools and tests).
//!
//! Fragments are written straight into TX slots (or, while the next hop is
//! being resolved, into one preallocated staging frame that the neighbour
//! table copies): nothing is allocated per packet. A datagram's fragments
//! go out all or none: if the TX batch has no room for all of them the
//! datagram is dropped (`tx_full`).

use std::time::Duration;

use crate::drop_reason::DropReason;
use crate::io::TxSink;
use crate::reassembly::FragmentLayout;
use crate::routing::{IfIndex, Interface, NatRole, Resolution};
use crate::runtime::MAX_PORTS;
use crate::shared::lock;
use crate::wire::emit::{self, IcmpErrorSpec, Origin};
use crate::wire::ethernet::{self, Mac};
use crate::wire::fragment::{self, FragmentSpec, Pieces, MAX_HEADER_LEN};
use crate::wire::frame::Ipv4Info;

use super::Firewall;

/// IP MTU of an interface unless set otherwise (IOS default for Ethernet).
pub const DEFAULT_IP_MTU: u16 = 1500;
/// Largest IP MTU: one fragment must fit a TX slot with its Ethernet header.
pub const MAX_IP_MTU: u16 = (crate::io::MAX_FRAME - ethernet::HEADER_LEN) as u16;

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

/// One worker's egress fragmentation state: the IP MTU per port, the
/// arrival layout of the reassembled datagram being processed, and the
/// staging frame for fragments that wait for ARP.
pub(super) struct Refragmenter {
    /// IP MTU in force per port, for configuration generation `generation`.
    mtu: [u16; MAX_PORTS],
    generation: Option<u64>,
    /// The Linux device's MTU per port, when known.
    device: [Option<u16>; MAX_PORTS],
    /// Values pinned by [`Firewall::set_ip_mtu`].
    pinned: [Option<u16>; MAX_PORTS],
    armed: Option<FragmentLayout>,
    staging: Box<[u8]>,
    /// Reassembled datagrams leaving as fragments toward the worker that
    /// owns their flow (`fragments.rs`).
    pub(super) handoff: super::fragments::ReassemblyHandoff,
}

impl Refragmenter {
    /// Every port at [`DEFAULT_IP_MTU`]; allocates the staging frame.
    pub(super) fn new() -> Self {
        Refragmenter {
            mtu: [DEFAULT_IP_MTU; MAX_PORTS],
            generation: None,
            device: [None; MAX_PORTS],
            pinned: [None; MAX_PORTS],
            armed: None,
            staging: vec![0u8; crate::io::MAX_FRAME].into_boxed_slice(),
            handoff: super::fragments::ReassemblyHandoff::new(),
        }
    }

    /// The datagram about to be processed was reassembled from `layout`'s
    /// fragments: its transmission re-emits them.
    #[inline]
    pub(super) fn arm(&mut self, layout: FragmentLayout) {
        self.armed = Some(layout);
    }

    /// Whether a reassembled datagram is being processed.
    #[inline]
    pub(super) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Processing of the reassembled datagram is over.
    #[inline]
    pub(super) fn disarm(&mut self) {
        self.armed = None;
    }

    /// The armed layout if `ip` is the reassembled datagram it belongs to
    /// (same IP ID and payload length: an inspector that changed the length
    /// makes the layout meaningless, the datagram is then cut to the MTU).
    #[inline]
    fn take_layout_for(&mut self, ip: &Ipv4Info) -> Option<FragmentLayout> {
        let l = self.armed.as_ref()?;
        if l.ident() == ip.ident
            && l.payload_len() as usize == ip.total_len.saturating_sub(ip.header_len)
            && !ip.is_fragment()
        {
            self.armed.take()
        } else {
            None
        }
    }
}

/// The MAC of each port's interface, as [`Runtime::port_interface`] gives it
/// (`None` for a port without an interface): what `transmit` reads per frame,
/// read once per configuration generation for the fast transmit.
///
/// [`Runtime::port_interface`]: crate::runtime::Runtime::port_interface
pub(super) fn port_macs(rt: &crate::runtime::Runtime) -> [Option<Mac>; MAX_PORTS] {
    std::array::from_fn(|port| rt.port_interface(port).map(|i| i.mac))
}

/// The IP MTU of `port` from its pinned value, or the configuration's and
/// the device's, clamped to 68–[`MAX_IP_MTU`].
fn effective_mtu(
    rt: &crate::runtime::Runtime,
    port: usize,
    device: Option<u16>,
    pinned: Option<u16>,
) -> u16 {
    let configured = rt
        .port_iface
        .get(port)
        .and_then(|id| rt.compiled.interfaces.get(usize::from(id.0)))
        .and_then(|i| i.ip_mtu);
    let mtu = pinned.unwrap_or(match (configured, device) {
        (Some(c), Some(d)) => c.min(d),
        (Some(m), None) | (None, Some(m)) => m,
        (None, None) => DEFAULT_IP_MTU,
    });
    mtu.clamp(fragment::MIN_MTU as u16, MAX_IP_MTU)
}

impl Firewall {
    /// Pins the IP MTU of `port` (clamped to 68–2034: a fragment must fit a
    /// TX slot), whatever the device and the configuration say; returns the
    /// value in force. Ports beyond the last are ignored.
    pub fn set_ip_mtu(&mut self, port: usize, mtu: u16) -> u16 {
        let mtu = mtu.clamp(fragment::MIN_MTU as u16, MAX_IP_MTU);
        if let (Some(m), Some(p)) = (
            self.refrag.mtu.get_mut(port),
            self.refrag.pinned.get_mut(port),
        ) {
            *m = mtu;
            *p = Some(mtu);
        }
        mtu
    }

    /// Tells the MTU of the Linux device behind `port`; returns the IP MTU
    /// now in force there (the lower of the device's and the
    /// configuration's).
    pub fn set_device_mtu(&mut self, port: usize, mtu: u32) -> u16 {
        if let Some(d) = self.refrag.device.get_mut(port) {
            *d = Some(mtu.min(u32::from(u16::MAX)) as u16);
        }
        self.refrag.generation = None;
        self.ip_mtu(port)
    }

    /// The IP MTU of `port`.
    pub fn ip_mtu(&self, port: usize) -> u16 {
        let r = &self.refrag;
        match (r.device.get(port), r.pinned.get(port)) {
            (Some(&d), Some(&p)) => effective_mtu(&self.rt, port, d, p),
            _ => DEFAULT_IP_MTU,
        }
    }

    /// The IP MTU of `egress`, recomputed for every port when the
    /// configuration generation changed.
    #[inline]
    fn egress_mtu(&mut self, egress: usize) -> usize {
        if self.refrag.generation != Some(self.rt.generation) {
            let r = &mut self.refrag;
            for port in 0..MAX_PORTS {
                r.mtu[port] = effective_mtu(&self.rt, port, r.device[port], r.pinned[port]);
            }
            r.generation = Some(self.rt.generation);
        }
        usize::from(
            self.refrag
                .mtu
                .get(egress)
                .copied()
                .unwrap_or(DEFAULT_IP_MTU),
        )
    }

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
        let layout = if self.refrag.armed.is_some() {
            self.refrag.take_layout_for(ip)
        } else {
            None
        };
        let mtu = self.egress_mtu(egress);
        if layout.is_some() || ip.total_len > mtu {
            return self.transmit_fragments(
                now, egress, &iface, next_hop, cached, ip, frame, layout, mtu, tx,
            );
        }
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

    /// [`transmit`](Self::transmit) for the established fast path: `frame`,
    /// already rewritten (its IPv4 total length is `total_len`), to the
    /// session's cached next-hop `mac`. The common case — the egress interface
    /// exists, the datagram fits its MTU, no reassembled datagram is being
    /// re-fragmented — writes the Ethernet header and the datagram into a TX
    /// slot with no general summary built and no neighbour table consulted;
    /// anything else takes `transmit` with the same result.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transmit_forwardable(
        &mut self,
        now: u64,
        egress: usize,
        next_hop: std::net::Ipv4Addr,
        mac: Mac,
        total_len: u16,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) {
        self.transmit_forwardable_inlined(now, egress, next_hop, mac, total_len, frame, tx);
    }

    /// [`transmit_forwardable`](Self::transmit_forwardable), always inlined:
    /// for the burst fast path, where it runs for nearly every frame.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transmit_forwardable_inlined(
        &mut self,
        now: u64,
        egress: usize,
        next_hop: std::net::Ipv4Addr,
        mac: Mac,
        total_len: u16,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) {
        let mtu = match self.refrag.mtu.get(egress) {
            Some(&m) if self.refrag.generation == Some(self.rt.generation) => m,
            _ => self.egress_mtu(egress) as u16,
        };
        let src_mac = match self.port_macs.get(egress) {
            Some(&Some(m)) if !self.refrag.is_armed() && total_len <= mtu => m,
            _ => return self.transmit_slow(now, egress, next_hop, mac, frame, tx),
        };
        // Strip Ethernet padding beyond the datagram, keep the 60-byte minimum.
        let len = (ethernet::HEADER_LEN + usize::from(total_len))
            .max(60)
            .min(frame.len());
        let Some(datagram) = frame.get(ethernet::HEADER_LEN..len) else {
            return self.transmit_slow(now, egress, next_hop, mac, frame, tx);
        };
        let Ok(slot) = tx.build(egress, len) else {
            self.drops.count(DropReason::TxFull);
            return;
        };
        let (header, rest) = slot.split_at_mut(ethernet::HEADER_LEN);
        ethernet::write_header(header, mac, src_mac, ethernet::ethertype::IPV4);
        rest.copy_from_slice(datagram);
        if let Some(p) = self.ports.get_mut(egress) {
            p.tx_packets += 1;
            p.tx_bytes += len as u64;
        }
    }

    /// [`transmit_forwardable`](Self::transmit_forwardable)'s uncommon case:
    /// the general transmit with the summary of the rewritten frame (the full
    /// parse: the frame may be any datagram the session path forwards — IP
    /// options, SYN/FIN/RST, a reassembled datagram — and its transport
    /// checksum was judged before the rewrite).
    #[cold]
    #[inline(never)]
    fn transmit_slow(
        &mut self,
        now: u64,
        egress: usize,
        next_hop: std::net::Ipv4Addr,
        mac: Mac,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) {
        use crate::wire::frame::{parse_frame_with, ChecksumPolicy};
        let ip = parse_frame_with(frame, ChecksumPolicy::TrustL4)
            .ok()
            .and_then(|p| p.ipv4().copied());
        match ip {
            Some(ip) => {
                self.transmit(now, egress, next_hop, Some(mac), &ip, frame, tx);
            }
            None => self.drops.count(DropReason::MalformedIp),
        }
    }

    /// A datagram the router sends itself toward `mac` out of `egress`, as
    /// fragments: along the armed layout if it is the reassembled datagram's
    /// (same IP ID and length), else cut to the egress MTU.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_fragments_to(
        &mut self,
        now: u64,
        egress: usize,
        iface: &Interface,
        mac: Mac,
        ip: &Ipv4Info,
        frame: &[u8],
        tx: &mut TxSink,
    ) {
        let layout = if self.refrag.armed.is_some() {
            self.refrag.take_layout_for(ip)
        } else {
            None
        };
        let mtu = self.egress_mtu(egress);
        self.transmit_fragments(
            now,
            egress,
            iface,
            ip.dst,
            Some(mac),
            ip,
            frame,
            layout,
            mtu,
            tx,
        );
    }

    /// The datagram leaves as fragments: along `layout` (a reassembled
    /// datagram) or cut to `mtu` (a datagram too large for the egress link).
    /// DF set and a piece larger than `mtu` → ICMP fragmentation-needed.
    #[allow(clippy::too_many_arguments)]
    fn transmit_fragments(
        &mut self,
        now: u64,
        egress: usize,
        iface: &Interface,
        next_hop: std::net::Ipv4Addr,
        cached: Option<Mac>,
        ip: &Ipv4Info,
        frame: &[u8],
        layout: Option<FragmentLayout>,
        mtu: usize,
        tx: &mut TxSink,
    ) -> Sent {
        let l3 = ip.l3_offset;
        let hl = ip.header_len;
        let (Some(header), Some(payload)) = (frame.get(l3..l3 + hl), frame.get(l3 + hl..ip.end()))
        else {
            self.drops.count(DropReason::FragmentFailed);
            return Sent::Dropped;
        };
        let whole = [payload.len() as u32];
        let ends: &[u32] = match &layout {
            Some(l) => l.ends(),
            None => &whole,
        };
        let mut later = [0u8; MAX_HEADER_LEN];
        let later_len = fragment::later_header(header, &mut later);
        let later = &later[..later_len];
        // A datagram that is itself a non-initial fragment has no full header.
        let first_room = if ip.frag_offset == 0 {
            fragment::room(mtu, hl)
        } else {
            fragment::room(mtu, later_len)
        };
        let later_room = fragment::room(mtu, later_len);
        let pieces = Pieces::new(ends, first_room, later_room);
        if ip.dont_fragment && pieces.splits() {
            self.send_frag_needed(now, iface, ip, frame, mtu, tx);
            self.drops.count(DropReason::TooBig);
            return Sent::Dropped;
        }
        if first_room < 8 || later_room < 8 {
            self.drops.count(DropReason::FragmentFailed);
            return Sent::Dropped;
        }
        let count = pieces.clone().count();
        if count > tx.room() {
            self.drops.count(DropReason::TxFull);
            return Sent::Dropped;
        }
        let spec_of = |p: &fragment::Piece, dst_mac: Mac| {
            let header = if p.offset == 0 && ip.frag_offset == 0 {
                header
            } else {
                later
            };
            let spec = FragmentSpec {
                dst_mac,
                src_mac: iface.mac,
                offset: usize::from(ip.frag_offset) + p.offset,
                more: p.end() < payload.len() || ip.more_fragments,
                dont_fragment: ip.dont_fragment,
            };
            (spec, header, &payload[p.offset..p.end()])
        };

        // The next hop's MAC; unknown → the fragments wait in the neighbour
        // table's queue (as many as it takes) while ARP resolves it.
        let mac = match cached {
            Some(m) => m,
            None => {
                let t = Duration::from_nanos(now);
                let ifindex = IfIndex(iface.index.0);
                let mut neighbours = lock(&self.shared.neighbours);
                match neighbours.lookup(t, ifindex, next_hop) {
                    Some(m) => m,
                    None => {
                        let mut request = false;
                        let staging = &mut self.refrag.staging;
                        for p in pieces {
                            let (spec, header, data) = spec_of(&p, Mac::BROADCAST);
                            let Ok(n) = fragment::write_fragment(staging, &spec, header, data)
                            else {
                                break;
                            };
                            match neighbours.resolve(t, ifindex, next_hop, &staging[..n]) {
                                Resolution::Queued { send_request } => request |= send_request,
                                Resolution::Dropped { send_request, .. } => {
                                    request |= send_request;
                                    break;
                                }
                                // Cannot happen under the lock held since the lookup.
                                Resolution::Known(_) => break,
                            }
                        }
                        drop(neighbours);
                        if request {
                            self.send_arp_request(egress, iface, next_hop, tx);
                        }
                        self.drops.count(DropReason::ArpUnresolved);
                        return Sent::Pending;
                    }
                }
            }
        };
        let mut sent = 0u64;
        let mut bytes = 0u64;
        for p in pieces {
            let (spec, header, data) = spec_of(&p, mac);
            let len = fragment::frame_len(header.len(), data.len());
            let Ok(buf) = tx.build(egress, len) else {
                self.drops.count(DropReason::TxFull);
                break;
            };
            match fragment::write_fragment(buf, &spec, header, data) {
                Ok(n) => {
                    sent += 1;
                    bytes += n as u64;
                }
                Err(_) => {
                    // Sized above from the same header and piece: unreachable,
                    // but never send stale slot bytes.
                    tx.truncate_last(0);
                    self.drops.count(DropReason::FragmentFailed);
                    break;
                }
            }
        }
        let p = &mut self.ports[egress];
        p.tx_packets += sent;
        p.tx_bytes += bytes;
        Sent::To(mac)
    }

    /// ICMP 3/4 (fragmentation needed, next-hop MTU `mtu`) to the sender of
    /// the datagram in `frame`, which the pipeline already rewrote: it still
    /// carries the Ethernet header it arrived with (the ingress interface is
    /// the one whose MAC it was sent to; the sender's next hop is its source
    /// MAC), and its quote is restored to what the sender sent (addresses
    /// before the static translation, TTL before the decrement).
    fn send_frag_needed(
        &mut self,
        now: u64,
        egress_iface: &Interface,
        ip: &Ipv4Info,
        frame: &[u8],
        mtu: usize,
        tx: &mut TxSink,
    ) {
        let (Some(dst), Some(src)) = (frame.get(0..6), frame.get(6..12)) else {
            return;
        };
        let mut to_us = [0u8; 6];
        to_us.copy_from_slice(dst);
        let mut sender = [0u8; 6];
        sender.copy_from_slice(src);
        let (to_us, sender) = (Mac(to_us), Mac(sender));
        if !emit::icmp_error_allowed(to_us, ip) {
            return;
        }
        let rt = &self.rt;
        // Where the datagram came in.
        let mut by_mac = (0..rt.ports.len())
            .filter(|&p| rt.port_interface(p).is_some_and(|i| i.up && i.mac == to_us));
        let ingress = match (by_mac.next(), by_mac.next()) {
            (Some(p), None) => Some(p),
            _ => {
                let sent_from = match egress_iface.nat {
                    NatRole::Outside => rt.nat.local_of(ip.src).unwrap_or(ip.src),
                    _ => ip.src,
                };
                rt.routes
                    .lookup(sent_from)
                    .and_then(|r| rt.port_of(r.egress))
            }
        };
        let Some(port) = ingress else { return };
        let Some(in_iface) = rt.port_interface(port).copied() else {
            return;
        };
        let Some(addr) = in_iface.address else { return };
        // Undo the static translation the datagram got between the two.
        let mut sent_src = ip.src;
        let mut sent_dst = ip.dst;
        if in_iface.nat == NatRole::Inside && egress_iface.nat == NatRole::Outside {
            if let Some(local) = rt.nat.local_of(ip.src) {
                sent_src = local;
            }
        }
        if in_iface.nat == NatRole::Outside {
            if let Some(global) = rt.nat.global_of(ip.dst) {
                sent_dst = global;
            }
        }
        if !self
            .shared
            .icmp_errors
            .allow(in_iface.index, Duration::from_nanos(now))
        {
            return;
        }
        let mut quote = [0u8; MAX_HEADER_LEN + emit::ICMP_ERROR_QUOTE];
        let quote_len = (ip.header_len + emit::ICMP_ERROR_QUOTE).min(ip.total_len);
        let Some(original) = frame.get(ip.l3_offset..ip.l3_offset + quote_len) else {
            return;
        };
        let quote = &mut quote[..quote_len];
        quote.copy_from_slice(original);
        fragment::quote_as_sent(quote, sent_src, sent_dst, 1);
        let origin = Origin {
            src_mac: in_iface.mac,
            dst_mac: sender,
            src_ip: addr.addr(),
            ident: (now >> 10) as u16,
        };
        let spec = IcmpErrorSpec::fragmentation_needed(mtu.min(usize::from(u16::MAX)) as u16);
        // Ethernet + IP + ICMP header + quote, padded to the minimum frame.
        let len = (ethernet::HEADER_LEN + 20 + 8 + quote_len).max(fragment::MIN_FRAME_LEN);
        let Ok(buf) = tx.build(port, len) else {
            self.drops.count(DropReason::TxFull);
            return;
        };
        match emit::emit_icmp_error(buf, &origin, &spec, quote) {
            Ok(n) => {
                tx.truncate_last(n);
                self.ports[port].tx_packets += 1;
                self.ports[port].tx_bytes += n as u64;
            }
            Err(_) => tx.truncate_last(0),
        }
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
