//! Tokens of one configuration line, each with its 1-based column, and a cursor
//! that matches IOS keywords.
//!
//! IOS keywords are case-insensitive and, in interactive configuration, may be
//! abbreviated to any unique prefix among the keywords valid at that position
//! (`int e2/0`, `ip add`). Files always use full keywords, so the loader runs the
//! cursor with abbreviations off; the control socket runs it with them on. Every
//! parse error carries the column of the token that caused it, because a config
//! file is rejected as a whole and the operator must find each bad token.

use std::net::Ipv4Addr;

/// One whitespace-separated word of a line and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The word as written.
    pub text: &'a str,
    /// 1-based column of its first character (in characters, not bytes).
    pub column: usize,
}

/// Splits a line into tokens (spaces and tabs separate words).
pub fn tokenize(line: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte offset, column)
    let mut column = 0usize;
    for (offset, ch) in line.char_indices() {
        column += 1;
        if ch == ' ' || ch == '\t' {
            if let Some((s, c)) = start.take() {
                tokens.push(Token {
                    text: &line[s..offset],
                    column: c,
                });
            }
        } else if start.is_none() {
            start = Some((offset, column));
        }
    }
    if let Some((s, c)) = start {
        tokens.push(Token {
            text: &line[s..],
            column: c,
        });
    }
    tokens
}

/// Why a token was rejected (the column is carried separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based column of the offending token (or one past the end of the line
    /// when a word is missing).
    pub column: usize,
    /// Human-readable reason.
    pub reason: String,
}

impl SyntaxError {
    /// Builds an error at `column`.
    pub fn new(column: usize, reason: impl Into<String>) -> Self {
        SyntaxError {
            column,
            reason: reason.into(),
        }
    }
}

/// A read position over the tokens of one line.
#[derive(Debug, Clone)]
pub struct Cursor<'a, 't> {
    tokens: &'t [Token<'a>],
    pos: usize,
    end_column: usize,
    abbreviations: bool,
}

impl<'a, 't> Cursor<'a, 't> {
    /// A cursor at the first token. `end_column` is the column just after the
    /// line's last character (reported when a word is missing).
    pub fn new(tokens: &'t [Token<'a>], end_column: usize, abbreviations: bool) -> Self {
        Cursor {
            tokens,
            pos: 0,
            end_column,
            abbreviations,
        }
    }

    /// Whether unique-prefix abbreviations are accepted.
    pub fn abbreviations(&self) -> bool {
        self.abbreviations
    }

    /// The next token without consuming it.
    pub fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    /// Consumes and returns the next token.
    pub fn next_token(&mut self) -> Option<Token<'a>> {
        let token = self.peek();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    /// Whether every token has been consumed.
    pub fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// Column of the next token, or the end-of-line column.
    pub fn column(&self) -> usize {
        self.peek().map_or(self.end_column, |t| t.column)
    }

    /// The remaining tokens joined by single spaces (for free text such as
    /// descriptions and remarks).
    pub fn rest(&mut self) -> String {
        let words: Vec<&str> = self.tokens[self.pos..].iter().map(|t| t.text).collect();
        self.pos = self.tokens.len();
        words.join(" ")
    }

    /// Fails unless the line is fully consumed.
    pub fn finish(&self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(SyntaxError::new(
                t.column,
                format!("unexpected \"{}\"", t.text),
            )),
        }
    }

    /// Matches the next token against `candidates` (full keywords, lower case)
    /// without consuming it; returns the index of the matched candidate.
    pub fn peek_keyword(&self, candidates: &[&str]) -> Option<usize> {
        let token = self.peek()?;
        match_keyword(token.text, candidates, self.abbreviations).ok()
    }

    /// Consumes the next token if it is one of `candidates`.
    pub fn accept_keyword(&mut self, candidates: &[&str]) -> Option<usize> {
        let index = self.peek_keyword(candidates)?;
        self.pos += 1;
        Some(index)
    }

    /// Consumes the next token, which must be one of `candidates`.
    pub fn keyword(&mut self, candidates: &[&str]) -> Result<usize, SyntaxError> {
        let Some(token) = self.peek() else {
            return Err(SyntaxError::new(
                self.end_column,
                format!("incomplete command, expected {}", expected_list(candidates)),
            ));
        };
        match match_keyword(token.text, candidates, self.abbreviations) {
            Ok(index) => {
                self.pos += 1;
                Ok(index)
            }
            Err(KeywordMismatch::Ambiguous) => Err(SyntaxError::new(
                token.column,
                format!("ambiguous command \"{}\"", token.text),
            )),
            Err(KeywordMismatch::Unknown) => Err(SyntaxError::new(
                token.column,
                format!(
                    "unexpected \"{}\", expected {}",
                    token.text,
                    expected_list(candidates)
                ),
            )),
        }
    }

    /// Consumes a word (any text), naming `what` when it is missing.
    pub fn word(&mut self, what: &str) -> Result<Token<'a>, SyntaxError> {
        self.next_token().ok_or_else(|| {
            SyntaxError::new(
                self.end_column,
                format!("incomplete command, expected {what}"),
            )
        })
    }

    /// Consumes an unsigned decimal number within `min..=max`.
    pub fn number(&mut self, what: &str, min: u64, max: u64) -> Result<u64, SyntaxError> {
        let token = self.word(what)?;
        parse_number(token, what, min, max)
    }

    /// Consumes a dotted-quad IPv4 address.
    pub fn address(&mut self, what: &str) -> Result<Ipv4Addr, SyntaxError> {
        let token = self.word(what)?;
        parse_address(token, what)
    }
}

/// Parses a decimal number token within `min..=max`.
pub fn parse_number(token: Token<'_>, what: &str, min: u64, max: u64) -> Result<u64, SyntaxError> {
    if token.text.is_empty() || !token.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SyntaxError::new(
            token.column,
            format!("\"{}\" is not a number ({what})", token.text),
        ));
    }
    match token.text.parse::<u64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(SyntaxError::new(
            token.column,
            format!("{what} {} out of range {min}-{max}", token.text),
        )),
    }
}

/// Parses a dotted-quad IPv4 address token (exactly four decimal octets).
pub fn parse_address(token: Token<'_>, what: &str) -> Result<Ipv4Addr, SyntaxError> {
    let bad = || {
        SyntaxError::new(
            token.column,
            format!("\"{}\" is not an IPv4 address ({what})", token.text),
        )
    };
    let mut octets = [0u8; 4];
    let mut parts = token.text.split('.');
    for octet in &mut octets {
        let part = parts.next().ok_or_else(bad)?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        *octet = part.parse::<u8>().map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Ipv4Addr::from(octets))
}

/// Why a word is not one of the candidate keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordMismatch {
    /// No candidate matches.
    Unknown,
    /// Several candidates start with the abbreviation.
    Ambiguous,
}

/// Matches `word` against lower-case `candidates`: an exact (case-insensitive)
/// match always wins; with `abbreviations`, a unique prefix also matches.
pub fn match_keyword(
    word: &str,
    candidates: &[&str],
    abbreviations: bool,
) -> Result<usize, KeywordMismatch> {
    if let Some(index) = candidates.iter().position(|c| c.eq_ignore_ascii_case(word)) {
        return Ok(index);
    }
    if !abbreviations || word.is_empty() {
        return Err(KeywordMismatch::Unknown);
    }
    let mut found = None;
    for (index, candidate) in candidates.iter().enumerate() {
        let is_prefix = candidate.len() > word.len()
            && candidate.is_char_boundary(word.len())
            && candidate[..word.len()].eq_ignore_ascii_case(word);
        if is_prefix {
            if found.is_some() {
                return Err(KeywordMismatch::Ambiguous);
            }
            found = Some(index);
        }
    }
    found.ok_or(KeywordMismatch::Unknown)
}

fn expected_list(candidates: &[&str]) -> String {
    match candidates {
        [] => "nothing".to_string(),
        [one] => format!("\"{one}\""),
        many if many.len() <= 6 => {
            let quoted: Vec<String> = many.iter().map(|c| format!("\"{c}\"")).collect();
            format!("one of {}", quoted.join(", "))
        }
        _ => "a keyword".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_columns() {
        let tokens = tokenize(" ip  address\t10.0.0.1");
        let cols: Vec<(usize, &str)> = tokens.iter().map(|t| (t.column, t.text)).collect();
        assert_eq!(cols, vec![(2, "ip"), (6, "address"), (14, "10.0.0.1")]);
    }

    #[test]
    fn keywords_exact_and_abbreviated() {
        assert_eq!(match_keyword("PERMIT", &["permit", "deny"], false), Ok(0));
        assert_eq!(
            match_keyword("per", &["permit", "deny"], false),
            Err(KeywordMismatch::Unknown)
        );
        assert_eq!(match_keyword("per", &["permit", "deny"], true), Ok(0));
        assert_eq!(
            match_keyword("i", &["ip", "interface"], true),
            Err(KeywordMismatch::Ambiguous)
        );
        // An exact keyword wins over being a prefix of a longer one.
        assert_eq!(match_keyword("ip", &["ipinip", "ip"], true), Ok(1));
    }

    #[test]
    fn addresses_and_numbers() {
        let t = Token {
            text: "10.0.0.256",
            column: 4,
        };
        assert_eq!(parse_address(t, "address").unwrap_err().column, 4);
        let t = Token {
            text: "172.22.1.16",
            column: 1,
        };
        assert_eq!(
            parse_address(t, "address").unwrap(),
            Ipv4Addr::new(172, 22, 1, 16)
        );
        let t = Token {
            text: "0600",
            column: 9,
        };
        assert_eq!(parse_number(t, "n", 1, 1000).unwrap(), 600);
        assert!(parse_number(t, "n", 1, 500).is_err());
        let t = Token {
            text: "-1",
            column: 9,
        };
        assert!(parse_number(t, "n", 0, 500).is_err());
    }
}
