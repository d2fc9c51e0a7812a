//! Engine counters of spec §14. One `SmtpStats` per worker, passed `&mut` into
//! every call (no atomics on the packet path); `show ip inspect statistics`
//! and the metrics endpoint sum the workers' copies with [`SmtpStats::add`].

use crate::signatures::Signature;

/// Per-worker SMTP inspection counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmtpStats {
    /// Inspectors created (`smtp_sessions`); incremented by the caller when it
    /// creates one ([`crate::Inspector::new`] takes no stats).
    pub sessions: u64,
    /// Complete client command lines inspected (AUTH continuation lines excluded).
    pub cmd_lines: u64,
    /// Illegal command lines (masked, or empty) (`smtp_cmd_masked`).
    pub cmd_masked: u64,
    /// EHLO reply lines whose keyword was masked.
    pub ehlo_keywords_masked: u64,
    /// ESMTP parameter violations (each closed a session).
    pub param_violations: u64,
    /// Hits per signature, indexed by [`Signature::index`].
    pub sig_hits: [u64; 11],
    /// Sessions ended with reply-and-close (any reason).
    pub reply_close: u64,
    /// Of those, because of max-data.
    pub max_data_closes: u64,
    /// Sessions reset by legacy (pre-12.3(7)T) behaviour.
    pub legacy_resets: u64,
    /// Client bytes withheld (trimmed or dropped) by the pipelining rules.
    pub withheld_bytes: u64,
    /// Bare LF accepted as command-line terminator.
    pub bare_lf_cmd: u64,
    /// Bare CR in a command line rewritten to SP.
    pub bare_cr_rewritten: u64,
    /// Bare CR/LF (or `.` after a segment-final CR) rewritten to SP in DATA.
    pub data_bare_eol_rewritten: u64,
    /// Reply lines not starting with three digits.
    pub reply_malformed: u64,
    /// Reply lines longer than 512 octets (forwarded).
    pub reply_overlong: u64,
    /// Replies with no outstanding command (forwarded).
    pub reply_unsolicited: u64,
    /// Events lost because a session's event queue was full.
    pub events_dropped: u64,
    /// Messages completed (end-of-data or BDAT LAST).
    pub messages: u64,
    /// Message bytes seen (DATA sections and BDAT chunks).
    pub data_bytes: u64,
    /// Sessions whose inspection stopped after STARTTLS (allow-tls).
    pub tls_passthrough: u64,
}

impl SmtpStats {
    /// Add `other` into `self` (summing per-worker copies on read).
    pub fn add(&mut self, other: &SmtpStats) {
        self.sessions += other.sessions;
        self.cmd_lines += other.cmd_lines;
        self.cmd_masked += other.cmd_masked;
        self.ehlo_keywords_masked += other.ehlo_keywords_masked;
        self.param_violations += other.param_violations;
        for (a, b) in self.sig_hits.iter_mut().zip(other.sig_hits.iter()) {
            *a += *b;
        }
        self.reply_close += other.reply_close;
        self.max_data_closes += other.max_data_closes;
        self.legacy_resets += other.legacy_resets;
        self.withheld_bytes += other.withheld_bytes;
        self.bare_lf_cmd += other.bare_lf_cmd;
        self.bare_cr_rewritten += other.bare_cr_rewritten;
        self.data_bare_eol_rewritten += other.data_bare_eol_rewritten;
        self.reply_malformed += other.reply_malformed;
        self.reply_overlong += other.reply_overlong;
        self.reply_unsolicited += other.reply_unsolicited;
        self.events_dropped += other.events_dropped;
        self.messages += other.messages;
        self.data_bytes += other.data_bytes;
        self.tls_passthrough += other.tls_passthrough;
    }

    /// Hits of one signature.
    pub fn sig(&self, s: Signature) -> u64 {
        self.sig_hits[s.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sums_every_field() {
        let mut a = SmtpStats {
            cmd_lines: 1,
            withheld_bytes: 5,
            ..SmtpStats::default()
        };
        a.sig_hits[3] = 2;
        let mut b = a;
        b.tls_passthrough = 7;
        a.add(&b);
        assert_eq!(a.cmd_lines, 2);
        assert_eq!(a.withheld_bytes, 10);
        assert_eq!(a.sig(Signature::F4DecodeAlias), 4);
        assert_eq!(a.tls_passthrough, 7);
    }
}
