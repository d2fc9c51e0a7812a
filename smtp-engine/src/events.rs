//! Events the inspector reports to the dataplane, and the bounded queue that
//! holds them until [`crate::Inspector::poll_event`] drains them.
//!
//! Events carry raw fields only (byte arrays, integers): nothing is formatted or
//! allocated on the packet path. [`crate::fmt`] renders them as IOS text. The
//! queue is a fixed ring of [`EVENT_QUEUE_LEN`] entries; when it is full the new
//! event is dropped and `SmtpStats::events_dropped` counts it (the dataplane
//! drains after every call, so this only happens when one segment produces
//! many events, e.g. a pipelined burst of illegal lines or debug output).

use crate::signatures::Signature;

/// Capacity of the per-session event queue.
pub const EVENT_QUEUE_LEN: usize = 8;

/// Something worth logging happened in a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A command line was masked (`%FW-3-SMTP_INVALID_COMMAND`, spec §2.5 item 6).
    /// `verb` holds up to 16 raw bytes of the verb token as received.
    InvalidCommand {
        verb: [u8; 16],
        verb_len: u8,
        total_len: u32,
    },
    /// An ESMTP parameter violation closed the session (`%FW-3-SMTP_INVALID_PARAMETER`, §5).
    InvalidParameter { token: [u8; 64], len: u8 },
    /// An IDS signature matched (§10).
    Signature { sig: Signature },
    /// max-data exceeded, session closed (`%FW-4-SMTP_MAX_DATA`, §8).
    MaxData { limit: u64 },
    /// STARTTLS succeeded with allow-tls on; inspection stopped (`%FW-6-SMTP_TLS_STARTED`, §7.4).
    TlsStarted,
    /// `debug ip inspect smtp` output (only when `Policy::debug`).
    Debug(DebugEvent),
}

impl Event {
    /// The verb token of an [`Event::InvalidCommand`] / the token of an
    /// [`Event::InvalidParameter`] as a byte slice.
    pub fn token(&self) -> &[u8] {
        match self {
            Event::InvalidCommand { verb, verb_len, .. } => &verb[..*verb_len as usize],
            Event::InvalidParameter { token, len } => &token[..*len as usize],
            _ => &[],
        }
    }
}

/// One `debug ip inspect smtp` line (spec §12.3). State numbers are
/// implementation-defined; ids follow spec §2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugEvent {
    /// `VERB - Cmd len:%d, match_len:%d, cmd_re_state:%d`
    Verb {
        cmd_len: u32,
        match_len: u32,
        state: u16,
    },
    /// `VERB - match id:%d`
    VerbMatch { id: u8 },
    /// `CMD PARAM - Cmd len:%d, match_len:%d, cmd_re_state:%d`
    Param {
        cmd_len: u32,
        match_len: u32,
        state: u16,
    },
    /// `CMD PARAM - match id:%d`
    ParamMatch { id: u8 },
    /// `End Of Command Line - index:%d, len:%d`
    EndOfCommandLine { index: u32, len: u32 },
    /// `reply_type OTHERS`
    ReplyType,
    /// `OTHER REPLY - Reply len: %d, match_len:%d, reply_re_state:%d`
    Reply {
        len: u32,
        match_len: u32,
        state: u16,
    },
    /// `OTHER REPLY match id:%d`
    ReplyMatch { id: u8 },
    /// `End Of Reply Line - index:%d ,len:%d`
    EndOfReplyLine { index: u32, len: u32 },
}

/// Fixed-capacity FIFO of events.
#[derive(Clone, Debug)]
pub(crate) struct EventQueue {
    buf: [Event; EVENT_QUEUE_LEN],
    head: u8,
    len: u8,
}

impl EventQueue {
    pub(crate) fn new() -> Self {
        EventQueue {
            buf: [Event::TlsStarted; EVENT_QUEUE_LEN],
            head: 0,
            len: 0,
        }
    }

    /// Queue `ev`; false (and nothing queued) when full.
    #[inline]
    pub(crate) fn push(&mut self, ev: Event) -> bool {
        if self.len as usize == EVENT_QUEUE_LEN {
            return false;
        }
        let at = (self.head as usize + self.len as usize) % EVENT_QUEUE_LEN;
        self.buf[at] = ev;
        self.len += 1;
        true
    }

    /// The oldest event, if any. Inline only the emptiness test (the
    /// dataplane asks after every segment, and the queue is almost always
    /// empty); the pop itself is out of line.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        self.pop_front()
    }

    /// [`Self::pop`] past its emptiness test (tested again: it stands on
    /// its own).
    #[cold]
    #[inline(never)]
    fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let ev = self.buf[self.head as usize];
        self.head = ((self.head as usize + 1) % EVENT_QUEUE_LEN) as u8;
        self.len -= 1;
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_fifo() {
        let mut q = EventQueue::new();
        for i in 0..EVENT_QUEUE_LEN as u64 {
            assert!(q.push(Event::MaxData { limit: i }));
        }
        assert!(!q.push(Event::TlsStarted));
        assert_eq!(q.pop(), Some(Event::MaxData { limit: 0 }));
        assert!(q.push(Event::TlsStarted));
        for i in 1..EVENT_QUEUE_LEN as u64 {
            assert_eq!(q.pop(), Some(Event::MaxData { limit: i }));
        }
        assert_eq!(q.pop(), Some(Event::TlsStarted));
        assert_eq!(q.pop(), None);
    }
}
