//! Fragments (`cbac-sessions.md` §8.3): with `ip virtual-reassembly` on the
//! ingress interface, fragments are held until their datagram is complete and
//! every later stage (ACLs, sessions, NAT, SMTP inspection) sees whole
//! datagrams only; without it, a non-initial fragment cannot be judged.

use crate::drop_reason::DropReason;
use crate::io::TxSink;

use super::Firewall;

impl Firewall {
    /// A fragment on `port`: with `ip virtual-reassembly`, held until its
    /// datagram is complete, which then goes through the whole pipeline (and
    /// is forwarded whole if it fits a frame; no egress re-fragmentation
    /// yet). Without it, a non-initial fragment cannot be judged and is
    /// dropped; an initial one is judged by its headers.
    pub(super) fn reassemble(
        &mut self,
        now: u64,
        port: usize,
        frame: &mut [u8],
        ip: &crate::wire::frame::Ipv4Info,
        tx: &mut TxSink,
    ) {
        let Some(Some(vfr)) = self.vfr.get_mut(port) else {
            if ip.frag_offset != 0 {
                return self.drop_frame(port, DropReason::Fragment);
            }
            return self.continue_unfragmented(now, port, frame, tx);
        };
        let len = match vfr.offer(now, frame, ip) {
            crate::reassembly::Offer::Complete { frame: whole } => {
                let n = whole.len().min(self.reassembled.len());
                self.reassembled[..n].copy_from_slice(&whole[..n]);
                n
            }
            crate::reassembly::Offer::Held => return,
            crate::reassembly::Offer::Dropped(_) => {
                return self.drop_frame(port, DropReason::Fragment)
            }
        };
        while vfr.pop_event().is_some() {}
        if len > crate::io::MAX_FRAME {
            return self.drop_frame(port, DropReason::TooBig);
        }
        let mut whole = std::mem::take(&mut self.reassembled);
        self.continue_unfragmented(now, port, &mut whole[..len], tx);
        self.reassembled = whole;
    }
}
