//! Per-rule inspection policy: the knobs of one `ip inspect name N {smtp|esmtp}`
//! entry (spec §1.4) plus the PROPOSED product extensions (allow-tls,
//! mask-banner, legacy-pre-12.3-7T, BDAT — README decisions 3 and 9).
//!
//! The dataplane builds one `Policy` per inspection rule; [`crate::Inspector::new`]
//! copies what it needs, so a session never points back at the configuration.

use crate::signatures::SignatureSet;

/// Inspection mode: which verb set, and whether ESMTP features are inspected (spec §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// `smtp`: 12 verbs, no parameter inspection, no pipelining.
    #[default]
    Smtp,
    /// `esmtp`: 15 verbs, parameter and EHLO-reply inspection, pipelining.
    Esmtp,
}

/// The IOS default `max-data` (spec §8).
pub const DEFAULT_MAX_DATA: u64 = 20_000_000;
/// The IOS default `ip audit smtp spam` recipient threshold (spec §10.2, I3).
pub const DEFAULT_SPAM_THRESHOLD: u32 = 250;

/// One inspection rule's SMTP/ESMTP policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `smtp` or `esmtp`.
    pub mode: Mode,
    /// Ceiling on message bytes per session (DATA sections and BDAT chunks), spec §8.
    pub max_data: u64,
    /// `allow-tls`: STARTTLS legal and visible; inspection stops after the 220 (decision 9).
    pub allow_tls: bool,
    /// `mask-banner`: PIX-style masking of the greeting text (spec §4.6).
    pub mask_banner: bool,
    /// BDAT/CHUNKING inspection option (decision 3); ESMTP mode only.
    pub bdat: bool,
    /// `legacy-pre-12.3-7T`: reset instead of masking, EHLO→NOOP conversion (spec §9.4).
    pub legacy_pre_12_3_7t: bool,
    /// Enabled IDS signatures (spec §10).
    pub signatures: SignatureSet,
    /// I3 (Mail Spam) threshold: more than this many RCPT lines per transaction.
    pub spam_threshold: u32,
    /// `debug ip inspect smtp`: generate [`crate::DebugEvent`]s.
    pub debug: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Mode::Smtp,
            max_data: DEFAULT_MAX_DATA,
            allow_tls: false,
            mask_banner: false,
            bdat: false,
            legacy_pre_12_3_7t: false,
            signatures: SignatureSet::default(),
            spam_threshold: DEFAULT_SPAM_THRESHOLD,
            debug: false,
        }
    }
}

impl Policy {
    /// The default policy for `esmtp`.
    pub fn esmtp() -> Self {
        Policy {
            mode: Mode::Esmtp,
            ..Policy::default()
        }
    }

    /// The mode actually enforced: legacy (pre-12.3(7)T) knows no ESMTP (spec §9.4).
    pub fn effective_mode(&self) -> Mode {
        if self.legacy_pre_12_3_7t {
            Mode::Smtp
        } else {
            self.mode
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::Signature;

    #[test]
    fn defaults_are_ios_defaults() {
        let p = Policy::default();
        assert_eq!(p.mode, Mode::Smtp);
        assert_eq!(p.max_data, 20_000_000);
        assert_eq!(p.spam_threshold, 250);
        assert!(!p.allow_tls && !p.mask_banner && !p.bdat && !p.legacy_pre_12_3_7t && !p.debug);
        for s in Signature::ALL {
            assert_eq!(p.signatures.contains(s), s.default_enabled(), "{s:?}");
        }
    }

    #[test]
    fn legacy_forces_smtp() {
        let p = Policy {
            legacy_pre_12_3_7t: true,
            ..Policy::esmtp()
        };
        assert_eq!(p.effective_mode(), Mode::Smtp);
    }
}
