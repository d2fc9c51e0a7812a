//! The per-session inspector: a fixed-size object holding the client-stream
//! state (command line / DATA / BDAT chunk), the server-stream reply state, the
//! reply FIFO (spec §6.1) and the event queue, and the two entry points the
//! dataplane calls with each in-order payload.
//!
//! Contract of a [`Verdict`]: the first `forward` bytes of the slice go to the
//! peer, possibly rewritten in place (masking, bare CR/LF → SP, EHLO keyword
//! masking); lengths never change. Bytes after `forward` were *not consumed*:
//! the caller withholds them (does not acknowledge them) and presents them again
//! later, starting at the same stream offset, when the sender retransmits.
//! After a reply-and-close or reset the inspector is closed and forwards nothing.

use crate::command::CmdLine;
use crate::command_fast::{fast_classes, FastClasses};
use crate::data::DataScan;
use crate::events::{Event, EventQueue};
use crate::policy::{Mode, Policy};
use crate::reply::ReplyLine;
use crate::signatures::{Signature, SignatureSet};
use crate::stats::SmtpStats;
use crate::verbs::{self, Verb};
use crate::{
    REPLY_INVALID_PARAMETER, REPLY_MAX_DATA, REPLY_TRANSACTION_FAILED, REPLY_UNSUPPORTED_PARAMETER,
};

/// What the caller does with a segment besides forwarding `forward` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep going.
    Continue,
    /// Reply-and-close (spec §9.2): inject `reply` toward the client with FIN,
    /// RST the server, enter FW_CLOSING.
    ReplyAndClose {
        reply: &'static [u8],
        reason: CloseReason,
    },
    /// Legacy (pre-12.3(7)T) behaviour: reset both ends (spec §9.4).
    Reset { reason: CloseReason },
    /// allow-tls: the server accepted STARTTLS; pass the rest of the session
    /// uninspected (decision 9).
    StopInspection,
}

/// Why a session was closed or reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Unsupported ESMTP parameter keyword (`555`).
    UnsupportedParameter,
    /// Bad parameter value, duplicate, bad ETRN/AUTH/BDAT syntax or AUTH continuation (`501`).
    InvalidParameter,
    /// A hard-coded IDS signature (`554`).
    Signature(Signature),
    /// max-data exceeded (`552`).
    MaxData,
    /// Legacy mode only: an illegal command.
    InvalidCommand,
}

impl CloseReason {
    /// The reply injected toward the client (spec §5.2, §8, §10.1).
    pub const fn reply(self) -> &'static [u8] {
        match self {
            CloseReason::UnsupportedParameter => REPLY_UNSUPPORTED_PARAMETER,
            CloseReason::InvalidParameter => REPLY_INVALID_PARAMETER,
            CloseReason::MaxData => REPLY_MAX_DATA,
            CloseReason::Signature(_) | CloseReason::InvalidCommand => REPLY_TRANSACTION_FAILED,
        }
    }
}

/// The inspector's answer for one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Leading bytes to forward (possibly rewritten in place).
    pub forward: usize,
    /// What else to do.
    pub action: Action,
}

impl Verdict {
    pub(crate) const fn forward(n: usize) -> Self {
        Verdict {
            forward: n,
            action: Action::Continue,
        }
    }
}

/// What the server's next reply answers (spec §6.1).
///
/// Numbered so that the expectations that end a group come last, from
/// [`Expect::FIRST_GROUP_END`] on: whether a popped expectation was a
/// barrier is then one compare (the quiet reply loop pops one per line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Helo,
    Mail,
    Rcpt,
    Rset,
    EndOfData,
    Bdat,
    Masked,
    Other,
    // The expectations that end a group (`GROUP_ENDS`).
    Greeting,
    Ehlo,
    EhloAsNoop,
    Data,
    Auth,
    AuthCont,
    StartTls,
    Quit,
}

impl Expect {
    /// Must its reply be seen before more client commands pass (spec §6.3)?
    /// (One bit test: the FIFO asks this on every push and pop.)
    #[inline(always)]
    pub(crate) const fn ends_group(self) -> bool {
        Self::GROUP_ENDS & self.bit() != 0
    }

    /// The expectations that end a group, as bits ([`Self::ends_group`]).
    const GROUP_ENDS: u32 = Expect::Data.bit()
        | Expect::Auth.bit()
        | Expect::AuthCont.bit()
        | Expect::Ehlo.bit()
        | Expect::EhloAsNoop.bit()
        | Expect::Quit.bit()
        | Expect::StartTls.bit()
        | Expect::Greeting.bit();

    /// The number of the first expectation that ends a group: every one
    /// from it on does, none before it.
    const FIRST_GROUP_END: u32 = Expect::Greeting as u32;

    /// This expectation as a one-bit set.
    #[inline(always)]
    pub(crate) const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// Replies the state machine acts upon (debug `match id:10`, spec §12.2 item 5).
    pub(crate) fn acted_upon(self) -> bool {
        !matches!(self, Expect::Masked | Expect::Other)
    }

    pub(crate) const fn for_verb(v: Verb, legacy: bool) -> Expect {
        match v {
            Verb::Helo => Expect::Helo,
            Verb::Ehlo if legacy => Expect::EhloAsNoop,
            Verb::Ehlo => Expect::Ehlo,
            Verb::Mail | Verb::Saml | Verb::Send | Verb::Soml => Expect::Mail,
            Verb::Rcpt => Expect::Rcpt,
            Verb::Rset => Expect::Rset,
            Verb::Data => Expect::Data,
            Verb::Auth => Expect::Auth,
            Verb::StartTls => Expect::StartTls,
            Verb::Quit => Expect::Quit,
            Verb::Bdat => Expect::Bdat,
            _ => Expect::Other,
        }
    }
}

/// Capacity of the reply FIFO; a full FIFO withholds further commands. A
/// power of two, so the ring indices wrap with a mask.
pub(crate) const FIFO_LEN: usize = 32;
const _: () = assert!(FIFO_LEN.is_power_of_two());

/// [`ReplyFifo::front_raw`] of an empty FIFO: one past every expectation's
/// number (the representation an empty slot has), so that its bit is in no
/// set of expectations.
const FIFO_EMPTY: u32 = Expect::Quit as u32 + 1;

// The group-ending expectations are exactly those numbered from
// `FIRST_GROUP_END` up to the last (`Quit`), so that a number compare
// tells them (`ReplyFifo::drop_front_raw`).
const _: () =
    assert!(Expect::GROUP_ENDS == (FIFO_EMPTY_BIT - 1) & !((1 << Expect::FIRST_GROUP_END) - 1));

/// The bit of [`FIFO_EMPTY`].
pub(crate) const FIFO_EMPTY_BIT: u32 = 1 << FIFO_EMPTY;

/// Bounded FIFO of reply expectations.
///
/// A ring whose slots outside the live window `[head, head + len)` hold
/// `None`: the front is then one load, `None` when the FIFO is empty (the
/// reply path asks for it on every line).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplyFifo {
    buf: [Option<Expect>; FIFO_LEN],
    // Counters as `u32`, not `u8`: the client loop over a pipelined group
    // reads them right after the previous line wrote them, and LLVM had
    // merged the narrow loads into one wider load of adjacent fields, which a
    // narrower store cannot forward to. Whole-word fields keep every read the
    // width of the write that feeds it.
    /// The front's slot, modulo `FIFO_LEN` (every read masks it: a pop
    /// only stores the next slot's index, up to `FIFO_LEN` itself, one
    /// instruction fewer per reply line).
    head: u32,
    len: u32,
    barriers: u32,
}

impl ReplyFifo {
    fn new() -> Self {
        let mut f = ReplyFifo {
            buf: [None; FIFO_LEN],
            head: 0,
            len: 0,
            barriers: 0,
        };
        f.push(Expect::Greeting);
        f
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn is_full(&self) -> bool {
        self.len as usize == FIFO_LEN
    }
    pub(crate) fn has_barrier(&self) -> bool {
        self.barriers > 0
    }
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<Expect> {
        self.buf[self.head as usize & (FIFO_LEN - 1)]
    }
    /// Push; false when full (callers check capacity before starting a line).
    #[inline]
    pub(crate) fn push(&mut self, e: Expect) -> bool {
        if self.is_full() {
            return false;
        }
        self.buf[self.head.wrapping_add(self.len) as usize & (FIFO_LEN - 1)] = Some(e);
        self.len += 1;
        self.barriers += u32::from(e.ends_group());
        true
    }
    /// Push for a caller that has just proven room ([`Inspector::may_start_line`]
    /// checks `!is_full()` before every command line): no second check.
    /// (Safe code either way: a violated promise would only make the counters
    /// wrong, and a debug build asserts it.)
    #[inline(always)]
    pub(crate) fn push_unchecked(&mut self, e: Expect) {
        debug_assert!(!self.is_full());
        self.buf[self.head.wrapping_add(self.len) as usize & (FIFO_LEN - 1)] = Some(e);
        self.len += 1;
        self.barriers += u32::from(e.ends_group());
    }
    /// The front as its number (`Expect as u32`), [`FIFO_EMPTY`] when the
    /// FIFO is empty: a test against a set of expectations' bits is then
    /// one bit test, an empty FIFO in none.
    #[inline(always)]
    pub(crate) fn front_raw(&self) -> u32 {
        match self.front() {
            Some(e) => e as u32,
            None => FIFO_EMPTY,
        }
    }

    /// Pop the front, which the caller has just read by [`Self::front_raw`]
    /// as `e` (an expectation, not [`FIFO_EMPTY`]).
    #[inline(always)]
    pub(crate) fn drop_front_raw(&mut self, e: u32) {
        debug_assert!(self.front().is_some_and(|f| f as u32 == e));
        let h = self.head as usize & (FIFO_LEN - 1);
        self.buf[h] = None;
        // The next slot from the front's own index (the caller has just
        // computed it to read the front), not from `head`: no second copy
        // of `head` to keep. (`head` stays a slot modulo `FIFO_LEN`.)
        self.head = h as u32 + 1;
        self.len -= 1;
        self.barriers -= u32::from(e >= Expect::FIRST_GROUP_END);
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Expect> {
        let e = self.front()?;
        self.drop_front(e);
        Some(e)
    }
    /// Pop the front, which the caller has just read as `e`.
    #[inline(always)]
    pub(crate) fn drop_front(&mut self, e: Expect) {
        self.drop_front_raw(e as u32);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Inspecting,
    Closed,
    Passthrough,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    Command,
    Data,
    Bdat,
}

/// Result of processing one piece of a segment.
pub(crate) enum Step {
    /// Continue at this offset.
    Next(usize),
    /// Withhold everything from the current offset.
    Withhold,
    /// Stop: verdict for the segment.
    Done(Verdict),
}

/// One inspected SMTP session (fixed size, no heap).
///
/// `repr(C)`, its fields in this order on purpose, in runs by how `new`
/// sets them, with no padding, so that it writes them as a few wide
/// stores: first what the policy decides (48 bytes, the entry points' gate
/// among them, and last the flags that are mostly off, which run on into
/// the zeros), then what starts at zero (32 bytes), then the per-phase
/// state (the DATA scan, all zero too, the reply FIFO, the reply line), the
/// event queue and the command line. The entry points' gate
/// (`Inspector::gate`, private: `client`, `phase`, `fast`, `auth_cont`) is four
/// adjacent bytes at a word boundary that LLVM reads as one word, one
/// compare per segment instead of four loads and branches.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Inspector {
    // What the policy decides.
    pub(crate) max_data: u64,
    pub(crate) fast_classes: FastClasses,
    pub(crate) allowed: u32,
    pub(crate) spam_threshold: u32,
    /// The expectations whose single-line reply the quiet-line loop takes
    /// ([`crate::reply::quiet_expectations`] of the policy).
    pub(crate) quiet_expect: u32,
    pub(crate) sigs: SignatureSet,
    pub(crate) mode: Mode,
    pub(crate) debug: bool,
    // The gate of the entry points ([`Self::gate`]): four adjacent bytes,
    // word-aligned (at byte 40).
    pub(crate) client: Client,
    pub(crate) phase: Phase,
    /// May the whole-line fast paths run (not debug, not legacy, not
    /// disabled for a differential test)?
    pub(crate) fast: bool,
    pub(crate) auth_cont: bool,
    pub(crate) allow_tls: bool,
    pub(crate) mask_banner: bool,
    pub(crate) bdat: bool,
    pub(crate) legacy: bool,
    // What starts at zero.
    pub(crate) bdat_remaining: u64,
    pub(crate) data_bytes: u64,
    pub(crate) rcpt_count: u32,
    pub(crate) cmd_index: u32,
    pub(crate) reply_index: u32,
    pub(crate) bdat_last: bool,
    pub(crate) pipelining: bool,
    pub(crate) closing: bool,
    pub(crate) spam_fired: bool,
    // The per-phase state, the events, the command line.
    pub(crate) data: DataScan,
    pub(crate) fifo: ReplyFifo,
    pub(crate) reply: ReplyLine,
    pub(crate) events: EventQueue,
    pub(crate) line: CmdLine,
}

/// The verb rules a policy gives each of its sessions: the mode in effect,
/// whether BDAT and STARTTLS are on in it, the verbs allowed and the
/// command fast path's verb classes. Seven of the policy's flags
/// decide them, so they are derived for every combination of those at
/// compile time, by the same functions, and a new session looks its own up:
/// one load instead of the bit spreading of [`fast_classes`] (about a
/// hundred instructions) for every session.
#[derive(Clone, Copy)]
struct VerbRules {
    mode: Mode,
    bdat: bool,
    allow_tls: bool,
    allowed: u32,
    fast_classes: FastClasses,
}

impl VerbRules {
    /// [`VERB_RULES`]' key bits: the policy flags the rules depend on.
    const ESMTP: usize = 1 << 0;
    const LEGACY: usize = 1 << 1;
    const BDAT: usize = 1 << 2;
    const ALLOW_TLS: usize = 1 << 3;
    const I1: usize = 1 << 4;
    const I2: usize = 1 << 5;
    const F6: usize = 1 << 6;
    const KEYS: usize = 1 << 7;

    /// The rules of a session under `policy`.
    #[inline(always)]
    fn of(policy: &Policy) -> VerbRules {
        let sigs = policy.signatures;
        let flags = [
            (policy.mode == Mode::Esmtp, Self::ESMTP),
            (policy.legacy_pre_12_3_7t, Self::LEGACY),
            (policy.bdat, Self::BDAT),
            (policy.allow_tls, Self::ALLOW_TLS),
            (sigs.contains(Signature::I1SmailAttack), Self::I1),
            (sigs.contains(Signature::I2Reconnaissance), Self::I2),
            (sigs.contains(Signature::F6OverlongCommand), Self::F6),
        ];
        let key = flags
            .iter()
            .fold(0, |key, &(on, bit)| if on { key | bit } else { key });
        VERB_RULES[key]
    }

    /// The rules for the policy flags in `key`.
    const fn derive(key: usize) -> VerbRules {
        let legacy = key & Self::LEGACY != 0;
        // (`Policy::effective_mode`: legacy forces SMTP.)
        let esmtp = key & Self::ESMTP != 0 && !legacy;
        let bdat = esmtp && key & Self::BDAT != 0;
        let allow_tls = esmtp && key & Self::ALLOW_TLS != 0;
        let mut allowed = if esmtp {
            verbs::ESMTP_VERBS
        } else {
            verbs::SMTP_VERBS
        };
        if legacy {
            allowed |= Verb::Ehlo.bit();
        }
        if bdat {
            allowed |= Verb::Bdat.bit();
        }
        if allow_tls {
            allowed |= Verb::StartTls.bit();
        }
        let mut sigs = SignatureSet::empty();
        if key & Self::I1 != 0 {
            sigs = sigs.with(Signature::I1SmailAttack);
        }
        if key & Self::I2 != 0 {
            sigs = sigs.with(Signature::I2Reconnaissance);
        }
        if key & Self::F6 != 0 {
            sigs = sigs.with(Signature::F6OverlongCommand);
        }
        let mode = if esmtp { Mode::Esmtp } else { Mode::Smtp };
        VerbRules {
            mode,
            bdat,
            allow_tls,
            allowed,
            fast_classes: fast_classes(allowed, sigs, mode),
        }
    }
}

/// [`VerbRules`] for every combination of the policy flags they depend on.
static VERB_RULES: [VerbRules; VerbRules::KEYS] = {
    let mut t = [VerbRules::derive(0); VerbRules::KEYS];
    let mut key = 1;
    while key < VerbRules::KEYS {
        t[key] = VerbRules::derive(key);
        key += 1;
    }
    t
};

/// [`Inspector::gate`] of a session whose client stream may take the
/// command-line fast path (at a command line start, `line.active` aside):
/// client in command state, inspecting, fast paths on, no AUTH continuation.
const GATE_CLIENT_FAST: u32 = Inspector::gate_of(Client::Command, Phase::Inspecting, true, false);

/// [`Inspector::gate`] of a session whose client stream takes the
/// message-line walk: in DATA, inspecting, fast paths on (and no AUTH
/// continuation due, as always in DATA).
const GATE_DATA_FAST: u32 = Inspector::gate_of(Client::Data, Phase::Inspecting, true, false);

/// The bytes of [`Inspector::gate`] the server stream's reply fast path asks
/// about ([`GATE_SERVER_FAST`]): `phase` and `fast`.
const GATE_SERVER_MASK: u32 = 0x00FF_FF00;

/// Those bytes of a session whose server stream may take the reply fast
/// path (at a reply line start): inspecting, fast paths on.
const GATE_SERVER_FAST: u32 = GATE_CLIENT_FAST & GATE_SERVER_MASK;

impl Inspector {
    /// A new session under `policy`, expecting the server's greeting first.
    pub fn new(policy: &Policy) -> Self {
        let legacy = policy.legacy_pre_12_3_7t;
        let VerbRules {
            mode,
            bdat,
            allow_tls,
            allowed,
            fast_classes,
        } = VerbRules::of(policy);
        Inspector {
            mode,
            allowed,
            sigs: policy.signatures,
            max_data: policy.max_data,
            spam_threshold: policy.spam_threshold,
            allow_tls,
            mask_banner: policy.mask_banner,
            bdat,
            legacy,
            debug: policy.debug,
            fast: !policy.debug && !legacy,
            fast_classes,
            phase: Phase::Inspecting,
            client: Client::Command,
            line: CmdLine::new(),
            data: DataScan::new(),
            bdat_remaining: 0,
            bdat_last: false,
            data_bytes: 0,
            fifo: ReplyFifo::new(),
            reply: ReplyLine::new(),
            quiet_expect: crate::reply::quiet_expectations(policy.mask_banner),
            pipelining: false,
            auth_cont: false,
            closing: false,
            rcpt_count: 0,
            spam_fired: false,
            cmd_index: 0,
            reply_index: 0,
            events: EventQueue::new(),
        }
    }

    /// Inspect client→server bytes (in stream order, starting right after the
    /// last consumed byte).
    #[inline]
    pub fn handle_client(&mut self, bytes: &mut [u8], stats: &mut SmtpStats) -> Verdict {
        // The common case first, in a tight loop: whole legal command lines
        // from a line start (one in lockstep, a pipelined group otherwise).
        // It does exactly what the general path does for such lines; the
        // general path continues after them, at the same offset.
        let mut i = 0;
        // (Inspecting, command state, fast paths on, no AUTH continuation
        // due: `fast_lines_allowed`, by one word.)
        if self.gate() == GATE_CLIENT_FAST && !self.line.active {
            // The first line straight from the lean tier: a lockstep line,
            // or a group it takes whole by its tail calls, then needs no
            // group loop. (A line it declines, having changed nothing, the
            // loop offers it again and goes on to `general_line`. An empty
            // segment it leaves as it is: no test for one here.)
            if self.may_start_line() {
                let left = self.lean_line(bytes, stats);
                if left == 0 {
                    return Verdict::forward(bytes.len());
                }
                i = bytes.len() - left;
            }
            i = self.command_lines_fast(bytes, i, stats);
            if i == bytes.len() {
                return Verdict::forward(i);
            }
        }
        self.handle_client_from(bytes, i, stats)
    }

    /// The general client path from offset `i` (every state, any bytes).
    /// A DATA segment from a line start takes the message-line walk first
    /// ([`Self::data_lines_entry`]); when that finishes the segment (the
    /// common message segment), nothing else runs. Anything left goes to
    /// [`Self::client_loop`], out of line, so the walk is compiled on its
    /// own and not among the general loop's registers.
    #[inline(never)]
    fn handle_client_from(&mut self, bytes: &mut [u8], i: usize, stats: &mut SmtpStats) -> Verdict {
        // (In DATA, inspecting, fast paths on, by one word. No AUTH
        // continuation is due in DATA: a session with that flag left over
        // takes the general path, which does the same.)
        if self.gate() == GATE_DATA_FAST {
            // Message lines and the end of data without the general loop.
            return match self.data_lines_entry(bytes, i, stats) {
                Ok(next) if next == bytes.len() => Verdict::forward(next),
                Ok(next) => self.client_loop(bytes, next, None, stats),
                // The general DATA arm goes on where the walk stopped
                // (counting message bytes from `i`).
                Err(at) => self.client_loop(bytes, i, Some(at), stats),
            };
        }
        self.client_loop(bytes, i, None, stats)
    }

    /// The general client loop from offset `i`; in DATA state with
    /// `walked_to`, the message bytes from `i` up to it were walked (not
    /// counted) already.
    #[inline(never)]
    fn client_loop(
        &mut self,
        bytes: &mut [u8],
        mut i: usize,
        mut walked_to: Option<usize>,
        stats: &mut SmtpStats,
    ) -> Verdict {
        match self.phase {
            Phase::Closed => return Verdict::forward(0),
            Phase::Passthrough => return Verdict::forward(bytes.len()),
            Phase::Inspecting => {}
        }
        let len = bytes.len();
        // (Each new command line tries the fast path first: `command_chunk`.)
        while i < len {
            let step = match self.client {
                Client::Command => self.command_chunk(bytes, i, stats),
                Client::Data => {
                    let from = walked_to.take().unwrap_or(i);
                    self.data_chunk_at(bytes, i, from, stats)
                }
                Client::Bdat => self.bdat_chunk(bytes, i, stats),
            };
            match step {
                Step::Next(n) => i = n,
                Step::Withhold => {
                    stats.withheld_bytes += (len - i) as u64;
                    return Verdict::forward(i);
                }
                Step::Done(v) => return v,
            }
        }
        Verdict::forward(len)
    }

    /// Inspect server→client bytes.
    ///
    /// Always inlined: its quiet-line loop is most replies' whole cost, and a
    /// call (which LLVM chose when the caller was large, as criterion's is)
    /// cost ~25 instructions per reply segment and 4 % of a fresh session's
    /// time (BENCHMARKS.md, seventh session).
    #[inline(always)]
    pub fn handle_server(&mut self, bytes: &mut [u8], stats: &mut SmtpStats) -> Verdict {
        // The common case first, in a tight loop: whole reply lines nobody
        // rewrites (one per lockstep reply, several per pipelined group, the
        // EHLO reply's keyword lines); the general path continues after them.
        let mut i = 0;
        // (Inspecting, fast paths on, by one word; a line start where no
        // reply is open: the rest of a reply that an earlier segment opened
        // takes the general path, its lines each by the whole-line fast
        // path still.)
        if self.gate() & GATE_SERVER_MASK == GATE_SERVER_FAST && self.reply.at_reply_start() {
            // (The fast path takes whole lines: it stops at a line start.)
            i = self.reply_lines_fast(bytes, stats);
            if i == bytes.len() {
                return Verdict::forward(i);
            }
            if i == crate::reply::PASSTHROUGH {
                // allow-tls: after the 220 to STARTTLS the whole segment
                // passes and inspection stops.
                return Verdict {
                    forward: bytes.len(),
                    action: Action::StopInspection,
                };
            }
        }
        self.handle_server_from(bytes, i, stats)
    }

    /// The general server path from offset `i`.
    #[inline(never)]
    fn handle_server_from(
        &mut self,
        bytes: &mut [u8],
        mut i: usize,
        stats: &mut SmtpStats,
    ) -> Verdict {
        match self.phase {
            Phase::Closed => return Verdict::forward(0),
            Phase::Passthrough => return Verdict::forward(bytes.len()),
            Phase::Inspecting => {}
        }
        let len = bytes.len();
        while i < len {
            match self.reply_chunk(bytes, i, stats) {
                Step::Next(n) => i = n,
                Step::Withhold => return Verdict::forward(i),
                Step::Done(v) => return v,
            }
        }
        Verdict::forward(len)
    }

    /// The entry points' gate as one word: `client`, `phase`, `fast` and
    /// `auth_cont` in bytes 0 to 3, the order of these adjacent fields
    /// (LLVM reads them by one load).
    #[inline(always)]
    fn gate(&self) -> u32 {
        Self::gate_of(self.client, self.phase, self.fast, self.auth_cont)
    }

    /// [`Self::gate`] of these field values.
    #[inline(always)]
    const fn gate_of(client: Client, phase: Phase, fast: bool, auth_cont: bool) -> u32 {
        client as u32 | (phase as u32) << 8 | (fast as u32) << 16 | (auth_cont as u32) << 24
    }

    /// Turn the whole-line fast paths off (or back on, unless the policy
    /// forbids them): the general path alone must give identical results, which
    /// the differential property tests check. Not for production use.
    #[doc(hidden)]
    pub fn set_fast_paths(&mut self, on: bool) {
        self.fast = on && !self.debug && !self.legacy;
    }

    /// Next queued event, if any. (Inline: the dataplane asks after every
    /// segment, and the queue is almost always empty.)
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// The session ended (FIN/RST/timeout). A masked command line still open
    /// is logged now (spec §2.5 item 6).
    pub fn end_of_stream(&mut self, stats: &mut SmtpStats) {
        if self.phase == Phase::Inspecting
            && self.client == Client::Command
            && self.line.active
            && !self.line.auth
            && self.line.masked
        {
            self.log_invalid_command(stats);
            stats.cmd_masked += 1;
        }
        self.line.reset();
    }

    /// Has the session been closed (reply-and-close or reset)?
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Is inspection stopped (allow-tls after STARTTLS)?
    pub fn is_passthrough(&self) -> bool {
        self.phase == Phase::Passthrough
    }

    /// Has the server announced it is closing (a 421 reply)?
    pub fn server_closing(&self) -> bool {
        self.closing
    }

    /// Is the client stream in the DATA section?
    pub fn in_data(&self) -> bool {
        self.client == Client::Data
    }

    /// Message bytes counted toward max-data so far.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Is command pipelining currently tolerated (ESMTP, PIPELINING advertised)?
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }

    // ----- shared helpers for the phase modules -----

    #[inline]
    pub(crate) fn emit(&mut self, ev: Event, stats: &mut SmtpStats) {
        if !self.events.push(ev) {
            stats.events_dropped += 1;
        }
    }

    /// Count and report a signature hit (log-only signatures stop here).
    pub(crate) fn sig_hit(&mut self, sig: Signature, stats: &mut SmtpStats) {
        stats.sig_hits[sig.index()] += 1;
        self.emit(Event::Signature { sig }, stats);
    }

    /// A hard-coded signature fired: log and reply-and-close (reset in legacy mode).
    pub(crate) fn sig_close(&mut self, sig: Signature, stats: &mut SmtpStats) -> Step {
        self.sig_hit(sig, stats);
        self.close(0, CloseReason::Signature(sig), stats)
    }

    /// End the session: forward `forward` bytes, then reply-and-close (or reset).
    pub(crate) fn close(
        &mut self,
        forward: usize,
        reason: CloseReason,
        stats: &mut SmtpStats,
    ) -> Step {
        self.phase = Phase::Closed;
        let reset = self.legacy && !matches!(reason, CloseReason::MaxData);
        let action = if reset {
            stats.legacy_resets += 1;
            Action::Reset { reason }
        } else {
            stats.reply_close += 1;
            if reason == CloseReason::MaxData {
                stats.max_data_closes += 1;
            }
            Action::ReplyAndClose {
                reply: reason.reply(),
                reason,
            }
        };
        Step::Done(Verdict { forward, action })
    }

    /// May a new client command line start now (spec §3.3, §6.3, §6.4)?
    #[inline]
    pub(crate) fn may_start_line(&self) -> bool {
        if self.fifo.is_full() {
            return false;
        }
        if self.pipelining {
            !self.fifo.has_barrier()
        } else {
            self.fifo.is_empty()
        }
    }

    /// Reset the per-transaction counters (MAIL, RSET, HELO/EHLO, end of message).
    pub(crate) fn reset_transaction(&mut self) {
        self.rcpt_count = 0;
        self.spam_fired = false;
    }
}

/// What the differential tests of the fast paths share: an inspector with
/// the fast paths on and one with them off, fed the same segments, must show
/// the same [`Outcome`] after every segment.
#[cfg(test)]
pub(crate) mod differential {
    use super::*;

    /// Everything one segment changes that a caller can see.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct Outcome {
        pub verdict: Verdict,
        pub bytes: Vec<u8>,
        pub events: Vec<Event>,
        pub stats: SmtpStats,
        pub pipelining: bool,
        pub passthrough: bool,
        pub closed: bool,
        pub server_closing: bool,
        pub in_data: bool,
        pub data_bytes: u64,
        /// The command and reply line numbers `debug ip inspect smtp`
        /// prints: the fast paths must count every line they take, though
        /// only a debug session (which has no fast paths) shows them.
        pub line_indices: (u32, u32),
    }

    /// Two inspectors for `policy`: fast paths on, fast paths off.
    pub(crate) fn pair(policy: &Policy) -> [(Inspector, SmtpStats); 2] {
        [true, false].map(|fast| {
            let mut insp = Inspector::new(policy);
            insp.set_fast_paths(fast);
            (insp, SmtpStats::default())
        })
    }

    /// Feeds `seg` (client → server when `client`) to both inspectors.
    pub(crate) fn feed_both(
        sides: &mut [(Inspector, SmtpStats); 2],
        client: bool,
        seg: &[u8],
    ) -> [Outcome; 2] {
        sides
            .each_mut()
            .map(|(insp, stats)| feed(insp, stats, client, seg))
    }

    /// Feeds `seg` to one inspector.
    pub(crate) fn feed(
        insp: &mut Inspector,
        stats: &mut SmtpStats,
        client: bool,
        seg: &[u8],
    ) -> Outcome {
        let mut bytes = seg.to_vec();
        let verdict = if client {
            insp.handle_client(&mut bytes, stats)
        } else {
            insp.handle_server(&mut bytes, stats)
        };
        let mut events = Vec::new();
        while let Some(e) = insp.poll_event() {
            events.push(e);
        }
        Outcome {
            verdict,
            bytes,
            events,
            stats: *stats,
            pipelining: insp.pipelining(),
            passthrough: insp.is_passthrough(),
            closed: insp.is_closed(),
            server_closing: insp.server_closing(),
            in_data: insp.in_data(),
            data_bytes: insp.data_bytes(),
            line_indices: (insp.cmd_index, insp.reply_index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compile-time table of verb rules gives every policy what the
    /// derivation would give it at run time: every combination of the flags
    /// with every signature set (so that a signature the classes come to
    /// depend on, but the table's key leaves out, fails here).
    #[test]
    fn verb_rules_table_matches_the_derivation() {
        for flags in 0..16u32 {
            for set in 0..1u32 << Signature::ALL.len() {
                let mut p = Policy {
                    mode: if flags & 1 != 0 {
                        Mode::Esmtp
                    } else {
                        Mode::Smtp
                    },
                    legacy_pre_12_3_7t: flags & 2 != 0,
                    bdat: flags & 4 != 0,
                    allow_tls: flags & 8 != 0,
                    signatures: SignatureSet::empty(),
                    ..Policy::default()
                };
                for (i, s) in Signature::ALL.iter().enumerate() {
                    if set & 1 << i != 0 {
                        p.signatures.enable(*s);
                    }
                }
                let mode = p.effective_mode();
                let esmtp = mode == Mode::Esmtp;
                let mut allowed = if esmtp {
                    verbs::ESMTP_VERBS
                } else {
                    verbs::SMTP_VERBS
                };
                for (on, verb) in [
                    (p.legacy_pre_12_3_7t, Verb::Ehlo),
                    (p.bdat && esmtp, Verb::Bdat),
                    (p.allow_tls && esmtp, Verb::StartTls),
                ] {
                    if on {
                        allowed |= verb.bit();
                    }
                }
                let rules = VerbRules::of(&p);
                assert_eq!(rules.allowed, allowed, "{p:?}");
                assert_eq!(
                    rules.fast_classes,
                    fast_classes(allowed, p.signatures, mode),
                    "{p:?}"
                );
                let insp = Inspector::new(&p);
                assert_eq!(
                    (insp.allowed, insp.fast_classes),
                    (allowed, rules.fast_classes)
                );
                assert_eq!(
                    (insp.mode, insp.bdat, insp.allow_tls),
                    (mode, p.bdat && esmtp, p.allow_tls && esmtp),
                    "{p:?}"
                );
            }
        }
    }

    #[test]
    fn inspector_is_small_and_fixed() {
        let size = core::mem::size_of::<Inspector>();
        println!("size_of::<Inspector>() = {size}");
        assert!(size <= 2048, "{size}");
        // The runs `new` writes by wide stores, and the gate at a word.
        assert_eq!(core::mem::offset_of!(Inspector, client), 40);
        assert_eq!(core::mem::offset_of!(Inspector, bdat_remaining), 48);
        assert_eq!(core::mem::offset_of!(Inspector, data), 80);
    }

    #[test]
    fn fifo_counts_barriers() {
        let mut f = ReplyFifo::new();
        assert!(f.has_barrier());
        assert_eq!(f.pop(), Some(Expect::Greeting));
        assert!(f.is_empty() && !f.has_barrier());
        for _ in 0..FIFO_LEN {
            assert!(f.push(Expect::Rcpt));
        }
        assert!(f.is_full());
        assert!(!f.push(Expect::Data));
        for _ in 0..FIFO_LEN {
            assert_eq!(f.pop(), Some(Expect::Rcpt));
        }
        assert!(f.push(Expect::Data));
        assert!(f.has_barrier());
        assert_eq!(f.pop(), Some(Expect::Data));
        assert_eq!(f.pop(), None);
    }

    #[test]
    fn fifo_front_raw_numbers_expectations_below_empty() {
        use Expect::*;
        let all = [
            Greeting, Helo, Ehlo, EhloAsNoop, Mail, Rcpt, Rset, Data, EndOfData, Auth, AuthCont,
            StartTls, Quit, Bdat, Masked, Other,
        ];
        let mut f = ReplyFifo::new();
        assert_eq!(f.front_raw(), Greeting as u32);
        f.drop_front_raw(Greeting as u32);
        assert_eq!(f.front_raw(), FIFO_EMPTY);
        assert!(!f.has_barrier());
        for e in all {
            assert!((e as u32) < FIFO_EMPTY && FIFO_EMPTY < 32);
            assert!(f.push(e) && f.push(Rcpt));
            assert_eq!(f.has_barrier(), e.ends_group());
            assert_eq!(f.front_raw(), e as u32);
            f.drop_front_raw(e as u32);
            assert!(!f.has_barrier());
            assert_eq!(f.front_raw(), Rcpt as u32);
            assert_eq!(f.pop(), Some(Rcpt));
            assert_eq!(f.front_raw(), FIFO_EMPTY);
        }
        // The quiet set never holds the empty FIFO's bit.
        for mask_banner in [false, true] {
            assert_eq!(
                crate::reply::quiet_expectations(mask_banner) & FIFO_EMPTY_BIT,
                0
            );
        }
    }

    #[test]
    fn close_reasons_have_spec_texts() {
        assert_eq!(
            CloseReason::UnsupportedParameter.reply(),
            b"555 Unsupported parameter\r\n"
        );
        assert_eq!(
            CloseReason::InvalidParameter.reply(),
            b"501 Invalid parameter\r\n"
        );
        assert_eq!(
            CloseReason::MaxData.reply(),
            b"552 Message size exceeds limit\r\n"
        );
        assert_eq!(
            CloseReason::Signature(Signature::F1InvalidRecipient).reply(),
            b"554 Transaction failed\r\n"
        );
    }
}
