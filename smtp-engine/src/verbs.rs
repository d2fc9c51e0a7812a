//! The command-verb prefix automaton (spec §2.2, §2.4).
//!
//! Every verb the inspector knows (the 15 ESMTP verbs, STARTTLS and BDAT for
//! their options, and the signature verbs WIZ, DEBUG, EXPN) is a bit in a
//! `u32`. `STEP[pos][byte]` is the set of verbs whose byte at `pos` equals
//! `byte` (case-insensitively), so one AND per input byte narrows the set of
//! candidates: the line diverges at the first byte where no *allowed*
//! candidate is left. `EXACT[len]` selects verbs of exactly `len` bytes,
//! which decides the verb when its delimiter (SP, CR, LF) arrives. Both tables
//! are built at compile time; the automaton state is one `u32` plus a position.

/// A verb known to the inspector. Discriminants are the `debug` verb ids:
/// spec §2.2 numbers DATA=4 … VRFY=15; AUTH, EHLO, ETRN and the rest are ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verb {
    Auth = 1,
    Ehlo = 2,
    Etrn = 3,
    Data = 4,
    Helo = 5,
    Help = 6,
    Mail = 7,
    Noop = 8,
    Quit = 9,
    Rcpt = 10,
    Rset = 11,
    Saml = 12,
    Send = 13,
    Soml = 14,
    Vrfy = 15,
    StartTls = 16,
    Bdat = 17,
    Wiz = 18,
    Debug = 19,
    Expn = 20,
}

/// All verbs, in bit order (bit i = `VERBS[i]`).
pub(crate) const VERBS: [(Verb, &[u8]); 20] = [
    (Verb::Auth, b"AUTH"),
    (Verb::Ehlo, b"EHLO"),
    (Verb::Etrn, b"ETRN"),
    (Verb::Data, b"DATA"),
    (Verb::Helo, b"HELO"),
    (Verb::Help, b"HELP"),
    (Verb::Mail, b"MAIL"),
    (Verb::Noop, b"NOOP"),
    (Verb::Quit, b"QUIT"),
    (Verb::Rcpt, b"RCPT"),
    (Verb::Rset, b"RSET"),
    (Verb::Saml, b"SAML"),
    (Verb::Send, b"SEND"),
    (Verb::Soml, b"SOML"),
    (Verb::Vrfy, b"VRFY"),
    (Verb::StartTls, b"STARTTLS"),
    (Verb::Bdat, b"BDAT"),
    (Verb::Wiz, b"WIZ"),
    (Verb::Debug, b"DEBUG"),
    (Verb::Expn, b"EXPN"),
];

/// Longest verb (STARTTLS).
pub(crate) const MAX_VERB: usize = 8;

impl Verb {
    /// The verb's bit in candidate sets.
    pub(crate) const fn bit(self) -> u32 {
        let mut i = 0;
        while i < VERBS.len() {
            if VERBS[i].0 as u8 == self as u8 {
                return 1 << i;
            }
            i += 1;
        }
        0
    }

    /// The `debug` verb id (spec §2.2 numbering).
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// Upper-case spelling.
    pub fn name(self) -> &'static [u8] {
        VERBS[self.bit().trailing_zeros() as usize].1
    }

    /// The single verb of a one-bit set.
    #[inline]
    pub(crate) fn from_bits(bits: u32) -> Option<Verb> {
        // One bit set (without a popcount, which is slow on baseline x86-64).
        if bits != 0 && bits & (bits - 1) == 0 {
            Some(VERBS[bits.trailing_zeros() as usize].0)
        } else {
            None
        }
    }
}

const fn build_step() -> [[u32; 256]; MAX_VERB] {
    let mut t = [[0u32; 256]; MAX_VERB];
    let mut v = 0;
    while v < VERBS.len() {
        let name = VERBS[v].1;
        let mut p = 0;
        while p < name.len() {
            let up = name[p];
            t[p][up as usize] |= 1 << v;
            t[p][up.to_ascii_lowercase() as usize] |= 1 << v;
            p += 1;
        }
        v += 1;
    }
    t
}

const fn build_exact() -> [u32; MAX_VERB + 1] {
    let mut t = [0u32; MAX_VERB + 1];
    let mut v = 0;
    while v < VERBS.len() {
        t[VERBS[v].1.len()] |= 1 << v;
        v += 1;
    }
    t
}

static STEP: [[u32; 256]; MAX_VERB] = build_step();
static EXACT: [u32; MAX_VERB + 1] = build_exact();

/// Every verb bit.
pub(crate) const ALL_VERBS: u32 = (1 << VERBS.len()) - 1;

/// The 12 SMTP-mode verbs (spec §2.2).
pub(crate) const SMTP_VERBS: u32 = Verb::Data.bit()
    | Verb::Helo.bit()
    | Verb::Help.bit()
    | Verb::Mail.bit()
    | Verb::Noop.bit()
    | Verb::Quit.bit()
    | Verb::Rcpt.bit()
    | Verb::Rset.bit()
    | Verb::Saml.bit()
    | Verb::Send.bit()
    | Verb::Soml.bit()
    | Verb::Vrfy.bit();

/// The 15 ESMTP-mode verbs (spec §2.2).
pub(crate) const ESMTP_VERBS: u32 =
    SMTP_VERBS | Verb::Auth.bit() | Verb::Ehlo.bit() | Verb::Etrn.bit();

/// Advance the candidate set by one byte at position `pos` (0-based).
#[inline]
pub(crate) fn step(cands: u32, pos: usize, b: u8) -> u32 {
    if pos < MAX_VERB {
        cands & STEP[pos][b as usize]
    } else {
        0
    }
}

/// Candidates that are complete after `len` bytes.
#[inline]
pub(crate) fn exact(cands: u32, len: usize) -> u32 {
    if len <= MAX_VERB {
        cands & EXACT[len]
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &[u8], allowed: u32) -> (Option<usize>, Option<Verb>) {
        let mut c = ALL_VERBS;
        for (i, &b) in line.iter().enumerate() {
            if b == b' ' || b == b'\r' || b == b'\n' {
                return (None, Verb::from_bits(exact(c, i) & allowed));
            }
            c = step(c, i, b);
            if c & allowed == 0 {
                return (Some(i + 1), None);
            }
        }
        (None, None)
    }

    #[test]
    fn divergence_points_of_spec_2_4() {
        assert_eq!(run(b"E", SMTP_VERBS).0, Some(1));
        assert_eq!(run(b"HEL", SMTP_VERBS), (None, None));
        assert_eq!(run(b"HELX", SMTP_VERBS).0, Some(4));
        assert_eq!(run(b"HELOX", SMTP_VERBS).0, Some(5));
        assert_eq!(run(b"HELO\t", SMTP_VERBS).0, Some(5));
        assert_eq!(run(b"E", ESMTP_VERBS), (None, None));
        assert_eq!(run(b"EX", ESMTP_VERBS).0, Some(2));
        assert_eq!(run(b"HeLo x", SMTP_VERBS), (None, Some(Verb::Helo)));
        assert_eq!(run(b"ehlo x", ESMTP_VERBS), (None, Some(Verb::Ehlo)));
        assert_eq!(run(b"EHLO x", SMTP_VERBS).0, Some(1));
        assert_eq!(run(b"HE\0LO", SMTP_VERBS).0, Some(3));
        assert_eq!(
            run(b"STARTTLS\r", ESMTP_VERBS | Verb::StartTls.bit()),
            (None, Some(Verb::StartTls))
        );
        assert_eq!(run(b"HEL \r", SMTP_VERBS), (None, None));
    }

    #[test]
    fn verb_sets_and_ids() {
        assert_eq!(SMTP_VERBS.count_ones(), 12);
        assert_eq!(ESMTP_VERBS.count_ones(), 15);
        assert_eq!(Verb::Helo.id(), 5);
        assert_eq!(Verb::Vrfy.id(), 15);
        assert_eq!(Verb::Help.id(), 6);
        assert_eq!(Verb::Quit.id(), 9);
        assert_eq!(Verb::Data.id(), 4);
        for (v, name) in VERBS {
            assert_eq!(v.name(), name);
            assert_eq!(Verb::from_bits(v.bit()), Some(v));
        }
    }
}
