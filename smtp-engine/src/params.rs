//! ESMTP argument inspection (spec §5): the arguments of MAIL/SAML/SEND/SOML,
//! RCPT, ETRN, AUTH (and BDAT when the BDAT option is on, decision 3), checked
//! against the grammar of §5.3 one byte at a time, so any segmentation gives
//! the same result.
//!
//! The parser is fed the bytes after the verb's delimiter (bare CR already
//! turned into SP, CR/LF excluded) and [`ArgParser::finish`] at the line end. A
//! violation names the offending token (kept, up to 64 bytes, for the log) and
//! whether it is an unsupported keyword (`555`) or a bad value/syntax (`501`).
//! Paths that do not start with `FROM:`/`TO:` are left to the server (it
//! rejects them itself); everything the grammar covers is enforced.

/// The kind of argument list being parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgKind {
    /// MAIL, SAML, SEND, SOML: `FROM:` path and mail-params.
    Mail,
    /// RCPT: `TO:` path and rcpt-params.
    Rcpt,
    /// ETRN: one node or queue argument.
    Etrn,
    /// AUTH: mechanism and optional initial response.
    Auth,
    /// BDAT: chunk size and optional `LAST`.
    Bdat,
}

/// A parameter violation (spec §5.1, §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// Unknown keyword, or SMTPUTF8 bytes in a path → `555`.
    Unsupported,
    /// Malformed value, duplicate, bad ETRN/AUTH/BDAT syntax → `501`.
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ph {
    Prefix,
    PathStart,
    Angle,
    Bare,
    AfterPath,
    Sep,
    Keyword,
    Value,
    /// ETRN/AUTH/BDAT: inside or between simple tokens.
    Simple,
    /// Lenient: not inspected any more.
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    Unknown,
    Size,
    Body,
    Ret,
    Envid,
    Auth,
    Notify,
    Orcpt,
}

impl Param {
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

const NOTIFY_NEVER: u8 = 1;
const NOTIFY_SUCCESS: u8 = 2;
const NOTIFY_FAILURE: u8 = 4;
const NOTIFY_DELAY: u8 = 8;

/// Streaming parser state for one command line's arguments.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgParser {
    kind: ArgKind,
    ph: Ph,
    pos: u8,
    sp_used: bool,
    quote: bool,
    esc: bool,
    utf8: bool,
    kw: [u8; 8],
    kw_len: u8,
    param: Param,
    has_eq: bool,
    seen: u8,
    tab: bool,
    v_ok: bool,
    v_count: u32,
    v_hex: u8,
    v_buf: [u8; 12],
    v_len: u8,
    notify: u8,
    orcpt_type: bool,
    x_count: u32,
    ntok: u8,
    tok_chars: u32,
    etrn_queue: bool,
    /// The current token as received (up to 64 bytes) for the log.
    pub(crate) tok: [u8; 64],
    pub(crate) tok_len: u8,
    /// BDAT: the declared chunk size and whether `LAST` was given.
    pub(crate) bdat_size: u64,
    pub(crate) bdat_last: bool,
}

impl ArgParser {
    pub(crate) fn new(kind: ArgKind) -> Self {
        ArgParser {
            kind,
            ph: match kind {
                ArgKind::Mail | ArgKind::Rcpt => Ph::Prefix,
                _ => Ph::Simple,
            },
            pos: 0,
            sp_used: false,
            quote: false,
            esc: false,
            utf8: false,
            kw: [0; 8],
            kw_len: 0,
            param: Param::Unknown,
            has_eq: false,
            seen: 0,
            tab: false,
            v_ok: true,
            v_count: 0,
            v_hex: 0,
            v_buf: [0; 12],
            v_len: 0,
            notify: 0,
            orcpt_type: true,
            x_count: 0,
            ntok: 0,
            tok_chars: 0,
            etrn_queue: false,
            tok: [0; 64],
            tok_len: 0,
            bdat_size: 0,
            bdat_last: false,
        }
    }

    /// The offending token (valid after a violation).
    pub(crate) fn token(&self) -> &[u8] {
        &self.tok[..self.tok_len as usize]
    }

    #[inline]
    fn tok_reset(&mut self) {
        self.tok_len = 0;
        self.tok_chars = 0;
    }

    #[inline]
    fn tok_push(&mut self, b: u8) {
        if (self.tok_len as usize) < self.tok.len() {
            self.tok[self.tok_len as usize] = b;
            self.tok_len += 1;
        }
        self.tok_chars = self.tok_chars.saturating_add(1);
    }

    /// Consume the leading run of `run` that cannot change the parser's state
    /// except for being part of the current path (printable ASCII other than
    /// `"`, `>`, `\\`, `|` inside `<…>`; printable ASCII other than SP and `|`
    /// in a bare path). Returns the number of bytes consumed; the caller feeds
    /// the next byte through [`ArgParser::feed`]. This is the fast path for the
    /// bulk of MAIL/RCPT lines.
    #[inline]
    pub(crate) fn skip_run(&mut self, run: &[u8]) -> usize {
        let n = match self.ph {
            Ph::Angle if !self.quote && !self.esc => run
                .iter()
                .position(|&b| {
                    !(0x20..0x7F).contains(&b) || matches!(b, b'"' | b'>' | b'\\' | b'|')
                })
                .unwrap_or(run.len()),
            Ph::Bare => run
                .iter()
                .position(|&b| !(0x21..0x7F).contains(&b) || b == b'|')
                .unwrap_or(run.len()),
            _ => 0,
        };
        if n > 0 {
            let room = self.tok.len() - self.tok_len as usize;
            let k = room.min(n);
            self.tok[self.tok_len as usize..self.tok_len as usize + k].copy_from_slice(&run[..k]);
            self.tok_len += k as u8;
            self.tok_chars = self.tok_chars.saturating_add(n as u32);
        }
        n
    }

    /// Feed one argument byte (never CR or LF).
    pub(crate) fn feed(&mut self, b: u8) -> Result<(), Violation> {
        match self.ph {
            Ph::Off => Ok(()),
            Ph::Prefix => {
                let want: &[u8] = if self.kind == ArgKind::Mail {
                    b"FROM:"
                } else {
                    b"TO:"
                };
                self.tok_push(b);
                if b.to_ascii_uppercase() == want[self.pos as usize] {
                    self.pos += 1;
                    if self.pos as usize == want.len() {
                        self.ph = Ph::PathStart;
                        self.tok_reset();
                    }
                } else {
                    self.ph = Ph::Off;
                }
                Ok(())
            }
            Ph::PathStart => {
                if b == b' ' && !self.sp_used {
                    self.sp_used = true;
                    return Ok(());
                }
                self.tok_push(b);
                if b == b'<' {
                    self.ph = Ph::Angle;
                    Ok(())
                } else if b > b' ' && b != 0x7F {
                    self.utf8 |= b >= 0x80;
                    self.ph = Ph::Bare;
                    Ok(())
                } else {
                    Err(Violation::Invalid)
                }
            }
            Ph::Angle => {
                self.tok_push(b);
                self.utf8 |= b >= 0x80;
                if self.esc {
                    self.esc = false;
                } else if self.quote {
                    match b {
                        b'\\' => self.esc = true,
                        b'"' => self.quote = false,
                        _ => {}
                    }
                } else {
                    match b {
                        b'"' => self.quote = true,
                        b'>' => {
                            self.ph = Ph::AfterPath;
                            return self.path_done();
                        }
                        b'\t' => return Err(Violation::Invalid),
                        _ => {}
                    }
                }
                Ok(())
            }
            Ph::Bare => {
                if b == b' ' {
                    self.ph = Ph::Sep;
                    return self.path_done();
                }
                self.tok_push(b);
                self.utf8 |= b >= 0x80;
                if b == b'\t' {
                    return Err(Violation::Invalid);
                }
                Ok(())
            }
            Ph::AfterPath => {
                if b == b' ' {
                    self.ph = Ph::Sep;
                    Ok(())
                } else {
                    self.tok_push(b);
                    Err(Violation::Invalid)
                }
            }
            Ph::Sep => {
                if b == b' ' {
                    return Ok(());
                }
                self.param_start();
                self.keyword_byte(b)
            }
            Ph::Keyword => {
                if b == b' ' {
                    self.ph = Ph::Sep;
                    return self.param_end();
                }
                self.keyword_byte(b)
            }
            Ph::Value => {
                if b == b' ' {
                    self.ph = Ph::Sep;
                    return self.param_end();
                }
                self.tok_push(b);
                self.value_byte(b);
                Ok(())
            }
            Ph::Simple => self.simple_byte(b),
        }
    }

    /// The line ended: complete the last token.
    pub(crate) fn finish(&mut self) -> Result<(), Violation> {
        match self.ph {
            Ph::Off | Ph::Prefix | Ph::PathStart | Ph::AfterPath | Ph::Sep => Ok(()),
            Ph::Angle => Err(Violation::Invalid),
            Ph::Bare => self.path_done(),
            Ph::Keyword | Ph::Value => self.param_end(),
            Ph::Simple => {
                if self.tok_chars > 0 {
                    self.simple_end()?;
                }
                if self.ntok == 0 {
                    Err(Violation::Invalid)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn path_done(&mut self) -> Result<(), Violation> {
        if self.utf8 {
            Err(Violation::Unsupported)
        } else {
            Ok(())
        }
    }

    fn param_start(&mut self) {
        self.tok_reset();
        self.ph = Ph::Keyword;
        self.kw_len = 0;
        self.param = Param::Unknown;
        self.has_eq = false;
        self.tab = false;
        self.v_ok = true;
        self.v_count = 0;
        self.v_hex = 0;
        self.v_len = 0;
        self.notify = 0;
        self.orcpt_type = true;
        self.x_count = 0;
    }

    fn keyword_byte(&mut self, b: u8) -> Result<(), Violation> {
        self.tok_push(b);
        if b == b'=' {
            self.has_eq = true;
            self.param = self.lookup();
            self.ph = Ph::Value;
            return Ok(());
        }
        self.tab |= b == b'\t';
        if (self.kw_len as usize) < self.kw.len() {
            self.kw[self.kw_len as usize] = b.to_ascii_uppercase();
        }
        self.kw_len = self.kw_len.saturating_add(1);
        Ok(())
    }

    fn lookup(&self) -> Param {
        if self.kw_len as usize > self.kw.len() {
            return Param::Unknown;
        }
        let kw = &self.kw[..self.kw_len as usize];
        match (self.kind, kw) {
            (ArgKind::Mail, b"SIZE") => Param::Size,
            (ArgKind::Mail, b"BODY") => Param::Body,
            (ArgKind::Mail, b"RET") => Param::Ret,
            (ArgKind::Mail, b"ENVID") => Param::Envid,
            (ArgKind::Mail, b"AUTH") => Param::Auth,
            (ArgKind::Rcpt, b"NOTIFY") => Param::Notify,
            (ArgKind::Rcpt, b"ORCPT") => Param::Orcpt,
            _ => Param::Unknown,
        }
    }

    fn value_byte(&mut self, b: u8) {
        self.tab |= b == b'\t';
        match self.param {
            Param::Unknown => {}
            Param::Size => {
                self.v_count += 1;
                self.v_ok &= b.is_ascii_digit() && self.v_count <= 20;
            }
            Param::Body | Param::Ret => self.buf_byte(b),
            Param::Envid | Param::Auth => self.xtext_byte(b),
            Param::Notify => {
                if b == b',' {
                    self.notify_item();
                } else {
                    self.buf_byte(b);
                }
            }
            Param::Orcpt => {
                self.v_count += 1;
                self.v_ok &= self.v_count <= 500;
                if self.orcpt_type {
                    if b == b';' {
                        self.v_ok &= self.v_count > 1;
                        self.orcpt_type = false;
                    } else {
                        self.v_ok &= b.is_ascii_alphanumeric() || b == b'-';
                    }
                } else {
                    self.x_count += 1;
                    self.xtext_char(b);
                }
            }
        }
    }

    fn buf_byte(&mut self, b: u8) {
        if (self.v_len as usize) < self.v_buf.len() {
            self.v_buf[self.v_len as usize] = b.to_ascii_uppercase();
            self.v_len += 1;
        } else {
            self.v_ok = false;
        }
    }

    /// xtext = *( %x21-2A / %x2C-3C / %x3E-7E / "+" 2HEXUPPER ) with a decoded-length count.
    fn xtext_byte(&mut self, b: u8) {
        if self.v_hex == 0 {
            self.v_count += 1;
        }
        self.xtext_char(b);
    }

    fn xtext_char(&mut self, b: u8) {
        if self.v_hex > 0 {
            self.v_ok &= b.is_ascii_digit() || (b'A'..=b'F').contains(&b);
            self.v_hex -= 1;
        } else if b == b'+' {
            self.v_hex = 2;
        } else {
            self.v_ok &= (0x21..=0x7E).contains(&b) && b != b'=';
        }
    }

    fn notify_item(&mut self) {
        let bit = match &self.v_buf[..self.v_len as usize] {
            b"NEVER" => NOTIFY_NEVER,
            b"SUCCESS" => NOTIFY_SUCCESS,
            b"FAILURE" => NOTIFY_FAILURE,
            b"DELAY" => NOTIFY_DELAY,
            _ => 0,
        };
        // Unknown or empty item, repeated item, NEVER combined with anything.
        if bit == 0 || self.notify & bit != 0 {
            self.v_ok = false;
        }
        self.notify |= bit;
        if self.notify & NOTIFY_NEVER != 0 && self.notify != NOTIFY_NEVER {
            self.v_ok = false;
        }
        self.v_len = 0;
    }

    fn param_end(&mut self) -> Result<(), Violation> {
        if !self.has_eq {
            self.param = self.lookup();
        }
        if self.tab {
            return Err(Violation::Invalid);
        }
        if self.param == Param::Unknown {
            return Err(Violation::Unsupported);
        }
        if !self.has_eq || self.seen & self.param.bit() != 0 {
            return Err(Violation::Invalid);
        }
        self.seen |= self.param.bit();
        let v = &self.v_buf[..self.v_len as usize];
        let ok = self.v_ok
            && match self.param {
                Param::Size => self.v_count >= 1,
                Param::Body => matches!(v, b"7BIT" | b"8BITMIME" | b"BINARYMIME"),
                Param::Ret => matches!(v, b"FULL" | b"HDRS"),
                Param::Envid => self.v_hex == 0 && (1..=100).contains(&self.v_count),
                Param::Auth => self.v_hex == 0 && (1..=500).contains(&self.v_count),
                Param::Notify => {
                    self.notify_item();
                    self.v_ok
                }
                Param::Orcpt => !self.orcpt_type && self.v_hex == 0 && self.x_count > 0,
                Param::Unknown => false,
            };
        if ok {
            Ok(())
        } else {
            Err(Violation::Invalid)
        }
    }

    /// ETRN / AUTH / BDAT tokens, separated by SP.
    fn simple_byte(&mut self, b: u8) -> Result<(), Violation> {
        if b == b' ' {
            if self.tok_chars > 0 {
                self.simple_end()?;
                self.tok_reset();
            }
            return Ok(());
        }
        let first = self.tok_chars == 0;
        self.tok_push(b);
        let ok = match (self.kind, self.ntok) {
            (ArgKind::Etrn, 0) => {
                if first && (b == b'@' || b == b'#') {
                    self.etrn_queue = b == b'#';
                    true
                } else if self.etrn_queue {
                    (0x21..=0x7E).contains(&b)
                } else {
                    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
                }
            }
            (ArgKind::Auth, 0) => {
                (b.is_ascii_alphanumeric() || b == b'-' || b == b'_') && self.tok_chars <= 20
            }
            (ArgKind::Auth, 1) => is_base64(b),
            (ArgKind::Bdat, 0) => match (b as char).to_digit(10) {
                Some(d) => match self
                    .bdat_size
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(d as u64))
                {
                    Some(n) => {
                        self.bdat_size = n;
                        self.tok_chars <= 20
                    }
                    None => false,
                },
                None => false,
            },
            (ArgKind::Bdat, 1) => {
                let i = self.tok_chars as usize - 1;
                i < 4 && b.to_ascii_uppercase() == b"LAST"[i]
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Violation::Invalid)
        }
    }

    fn simple_end(&mut self) -> Result<(), Violation> {
        let t = &self.tok[..self.tok_len as usize];
        let ok = match (self.kind, self.ntok) {
            (ArgKind::Etrn, 0) => !(t.len() == 1 && (t[0] == b'@' || t[0] == b'#')),
            (ArgKind::Bdat, 1) => {
                self.bdat_last = true;
                self.tok_chars == 4
            }
            _ => true,
        };
        self.ntok += 1;
        if ok {
            Ok(())
        } else {
            Err(Violation::Invalid)
        }
    }
}

/// Base64 alphabet plus padding.
#[inline]
pub(crate) fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: ArgKind, args: &[u8]) -> Result<(), (Violation, Vec<u8>)> {
        let mut p = ArgParser::new(kind);
        for &b in args {
            p.feed(b).map_err(|v| (v, p.token().to_vec()))?;
        }
        p.finish().map_err(|v| (v, p.token().to_vec()))
    }

    fn err(kind: ArgKind, args: &[u8]) -> (Violation, String) {
        let (v, t) = check(kind, args).expect_err("violation expected");
        (v, String::from_utf8_lossy(&t).into_owned())
    }

    #[test]
    fn valid_mail_and_rcpt_d9() {
        assert!(check(
            ArgKind::Mail,
            b"FROM:<alice@example.org> SIZE=1024 BODY=8BITMIME RET=HDRS ENVID=QQ314159"
        )
        .is_ok());
        assert!(check(
            ArgKind::Rcpt,
            b"TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.test"
        )
        .is_ok());
        assert!(check(ArgKind::Mail, b"FROM:<alice@example.org> AUTH=<>").is_ok());
        assert!(check(ArgKind::Mail, b"FROM:<>").is_ok());
        assert!(check(ArgKind::Mail, b"from: <a@b>  size=1").is_ok());
        assert!(check(ArgKind::Mail, b"FROM:<\"a b>c\"@x> BODY=7bit").is_ok());
        assert!(check(ArgKind::Mail, b"FROM:a@b SIZE=0").is_ok());
        assert!(check(ArgKind::Mail, b"FROM:<a@b> ENVID=a+2Bb AUTH=x+3D").is_ok());
        assert!(check(ArgKind::Rcpt, b"TO:<b@x> NOTIFY=NEVER").is_ok());
        assert!(check(ArgKind::Rcpt, b"TO:<b@x> NOTIFY=delay").is_ok());
        // Not a FROM:/TO: line: left to the server.
        assert!(check(ArgKind::Mail, b"FRUM:<a> SMTPUTF8").is_ok());
    }

    #[test]
    fn violations_d10_d11() {
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<alice@example.org> SMTPUTF8"),
            (Violation::Unsupported, "SMTPUTF8".into())
        );
        assert_eq!(
            err(ArgKind::Rcpt, b"TO:<bob@example.test> NOTIFY=NEVER,DELAY"),
            (Violation::Invalid, "NOTIFY=NEVER,DELAY".into())
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a@example.org> SIZE=12ab"),
            (Violation::Invalid, "SIZE=12ab".into())
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> MT-PRIORITY=3").0,
            Violation::Unsupported
        );
        assert_eq!(
            err(ArgKind::Rcpt, b"TO:<a> SIZE=3").0,
            Violation::Unsupported
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> NOTIFY=NEVER").0,
            Violation::Unsupported
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> SIZE=1 SIZE=2"),
            (Violation::Invalid, "SIZE=2".into())
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> SIZE=123456789012345678901").0,
            Violation::Invalid
        );
        assert_eq!(err(ArgKind::Mail, b"FROM:<a> SIZE").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Mail, b"FROM:<a> SIZE=").0, Violation::Invalid);
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> BODY=9BIT").0,
            Violation::Invalid
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> RET=ALL").0,
            Violation::Invalid
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> ENVID=a=b").0,
            Violation::Invalid
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> ENVID=a+2").0,
            Violation::Invalid
        );
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> ENVID=a+2b").0,
            Violation::Invalid
        );
        let long = [b"FROM:<a> ENVID=".as_slice(), &[b'x'; 101]].concat();
        assert_eq!(err(ArgKind::Mail, &long).0, Violation::Invalid);
        assert_eq!(
            err(ArgKind::Rcpt, b"TO:<a> NOTIFY=SUCCESS,SUCCESS").0,
            Violation::Invalid
        );
        assert_eq!(
            err(ArgKind::Rcpt, b"TO:<a> NOTIFY=SOMETIMES").0,
            Violation::Invalid
        );
        assert_eq!(
            err(ArgKind::Rcpt, b"TO:<a> ORCPT=rfc822").0,
            Violation::Invalid
        );
        assert_eq!(err(ArgKind::Rcpt, b"TO:<a> ORCPT=;x").0, Violation::Invalid);
        assert_eq!(
            err(ArgKind::Mail, b"FROM:<a> SIZE=1\tBODY=7BIT").0,
            Violation::Invalid
        );
        assert_eq!(err(ArgKind::Mail, b"FROM:<a>x").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Mail, b"FROM:<a").0, Violation::Invalid);
        assert_eq!(
            err(ArgKind::Mail, "FROM:<jös@x>".as_bytes()).0,
            Violation::Unsupported
        );
        assert_eq!(
            err(ArgKind::Rcpt, "TO:bö@x SIZE=1".as_bytes()).0,
            Violation::Unsupported
        );
    }

    #[test]
    fn etrn_auth_bdat() {
        assert!(check(ArgKind::Etrn, b"@example.net").is_ok());
        assert!(check(ArgKind::Etrn, b"example.net").is_ok());
        assert!(check(ArgKind::Etrn, b"#queue!1").is_ok());
        assert_eq!(err(ArgKind::Etrn, b"").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Etrn, b"@").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Etrn, b"exa_mple").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Etrn, b"a b").0, Violation::Invalid);
        assert!(check(ArgKind::Auth, b"LOGIN").is_ok());
        assert!(check(ArgKind::Auth, b"PLAIN AGFsaWNlAHNlY3JldA==").is_ok());
        assert!(check(ArgKind::Auth, b"PLAIN =").is_ok());
        assert!(check(ArgKind::Auth, b"SCRAM-SHA-256").is_ok());
        assert_eq!(err(ArgKind::Auth, b"").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Auth, b"LOG!N").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Auth, b"PLAIN a*b").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Auth, b"PLAIN a b").0, Violation::Invalid);
        assert_eq!(
            err(ArgKind::Auth, b"ABCDEFGHIJKLMNOPQRSTU").0,
            Violation::Invalid
        );
        let mut p = ArgParser::new(ArgKind::Bdat);
        for &b in b"1000 last" {
            p.feed(b).unwrap();
        }
        p.finish().unwrap();
        assert_eq!((p.bdat_size, p.bdat_last), (1000, true));
        assert!(check(ArgKind::Bdat, b"0 LAST").is_ok());
        assert_eq!(err(ArgKind::Bdat, b"").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Bdat, b"12x").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Bdat, b"12 LASTX").0, Violation::Invalid);
        assert_eq!(err(ArgKind::Bdat, b"12 LAS").0, Violation::Invalid);
        assert_eq!(
            err(ArgKind::Bdat, b"99999999999999999999").0,
            Violation::Invalid
        );
    }
}
