//! `debug ip inspect …` switches (`cbac-sessions.md` §12), shared by the
//! control thread (which flips them) and the workers (which read them before
//! building a debug record). One relaxed atomic load per check: debug output is
//! off the fast path unless an operator asked for it.

use std::sync::atomic::{AtomicU32, Ordering};

/// The `debug ip inspect` words this product implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DebugCategory {
    Smtp,
    Esmtp,
    Tcp,
    Udp,
    Icmp,
    ObjectCreation,
    ObjectDeletion,
    Events,
    Timers,
    Detailed,
}

impl DebugCategory {
    pub const ALL: [DebugCategory; 10] = [
        DebugCategory::Smtp,
        DebugCategory::Esmtp,
        DebugCategory::Tcp,
        DebugCategory::Udp,
        DebugCategory::Icmp,
        DebugCategory::ObjectCreation,
        DebugCategory::ObjectDeletion,
        DebugCategory::Events,
        DebugCategory::Timers,
        DebugCategory::Detailed,
    ];

    /// The command word (`debug ip inspect <word>`).
    pub fn word(self) -> &'static str {
        match self {
            DebugCategory::Smtp => "smtp",
            DebugCategory::Esmtp => "esmtp",
            DebugCategory::Tcp => "tcp",
            DebugCategory::Udp => "udp",
            DebugCategory::Icmp => "icmp",
            DebugCategory::ObjectCreation => "object-creation",
            DebugCategory::ObjectDeletion => "object-deletion",
            DebugCategory::Events => "events",
            DebugCategory::Timers => "timers",
            DebugCategory::Detailed => "detailed",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.word() == word)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// The IOS reply to `debug ip inspect <word>` (seed:
    /// `INSPECT SMTP Inspection debugging is on`).
    pub fn reply(self, on: bool) -> String {
        format!(
            "INSPECT {} Inspection debugging is {}",
            self.word().to_ascii_uppercase(),
            if on { "on" } else { "off" }
        )
    }
}

/// The IOS reply to `undebug all`.
pub const UNDEBUG_ALL_REPLY: &str = "All possible debugging has been turned off";

/// The set of enabled debug categories.
#[derive(Debug, Default)]
pub struct DebugFlags {
    bits: AtomicU32,
}

impl DebugFlags {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether lines of `category` should be produced. `detailed` turns on
    /// every category except the per-packet L4 lines.
    #[inline]
    pub fn enabled(&self, category: DebugCategory) -> bool {
        let bits = self.bits.load(Ordering::Relaxed);
        if bits == 0 {
            return false;
        }
        bits & category.bit() != 0
            || (bits & DebugCategory::Detailed.bit() != 0
                && !matches!(
                    category,
                    DebugCategory::Tcp | DebugCategory::Udp | DebugCategory::Icmp
                ))
    }

    /// Whether any category is on (the cheapest check for a worker).
    #[inline]
    pub fn any(&self) -> bool {
        self.bits.load(Ordering::Relaxed) != 0
    }

    /// Turns one category on or off and returns the IOS reply line.
    pub fn set(&self, category: DebugCategory, on: bool) -> String {
        if on {
            self.bits.fetch_or(category.bit(), Ordering::Relaxed);
        } else {
            self.bits.fetch_and(!category.bit(), Ordering::Relaxed);
        }
        category.reply(on)
    }

    /// `undebug all`.
    pub fn clear_all(&self) -> &'static str {
        self.bits.store(0, Ordering::Relaxed);
        UNDEBUG_ALL_REPLY
    }

    /// The enabled categories, in [`DebugCategory::ALL`] order.
    pub fn enabled_categories(&self) -> Vec<DebugCategory> {
        let bits = self.bits.load(Ordering::Relaxed);
        DebugCategory::ALL
            .into_iter()
            .filter(|c| bits & c.bit() != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_reply_text() {
        let flags = DebugFlags::new();
        assert!(!flags.any());
        assert_eq!(
            flags.set(DebugCategory::Smtp, true),
            "INSPECT SMTP Inspection debugging is on"
        );
        assert!(flags.enabled(DebugCategory::Smtp));
        assert!(!flags.enabled(DebugCategory::Tcp));
        assert_eq!(
            flags.set(DebugCategory::ObjectCreation, true),
            "INSPECT OBJECT-CREATION Inspection debugging is on"
        );
        assert_eq!(
            flags.enabled_categories(),
            vec![DebugCategory::Smtp, DebugCategory::ObjectCreation]
        );
        assert_eq!(
            flags.set(DebugCategory::Smtp, false),
            "INSPECT SMTP Inspection debugging is off"
        );
        assert!(!flags.enabled(DebugCategory::Smtp));
        assert_eq!(flags.clear_all(), UNDEBUG_ALL_REPLY);
        assert!(!flags.any());
    }

    #[test]
    fn detailed_covers_all_but_per_packet_lines() {
        let flags = DebugFlags::new();
        flags.set(DebugCategory::Detailed, true);
        assert!(flags.enabled(DebugCategory::Smtp));
        assert!(flags.enabled(DebugCategory::Timers));
        assert!(!flags.enabled(DebugCategory::Tcp));
    }

    #[test]
    fn words_round_trip() {
        for c in DebugCategory::ALL {
            assert_eq!(DebugCategory::from_word(c.word()), Some(c));
        }
        assert_eq!(DebugCategory::from_word("ftp-cmd"), None);
    }
}
