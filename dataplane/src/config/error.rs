//! Errors and warnings of configuration loading, each tied to a line and (for
//! errors) the column of the offending token.
//!
//! A file load is atomic: every error is collected and the whole file is
//! rejected, so an operator gets the complete list in one pass. Interactive
//! commands print [`ConfigError::console`], the exact IOS console text for the
//! messages the seed documents (`%ESMTP cannot coexist ...`).

use std::fmt;

use serde::Serialize;

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unknown keyword, malformed value, unsupported option.
    InvalidInput(String),
    /// `esmtp` added to a rule that has `smtp`.
    EsmtpWithSmtp,
    /// `smtp` added to a rule that has `esmtp`.
    SmtpWithEsmtp,
    /// A `low` threshold above its `high` threshold.
    LowAboveHigh,
    /// A static translation reuses an address already mapped.
    AlreadyMapped {
        /// The reused address.
        address: String,
        /// The existing mapping's local address.
        local: String,
        /// The existing mapping's global address.
        global: String,
    },
    /// A valid command that refers to something that does not exist or
    /// contradicts the configuration.
    Rejected(String),
}

impl ErrorKind {
    /// The bare console message.
    pub fn message(&self) -> String {
        match self {
            ErrorKind::InvalidInput(reason) => format!("% Invalid input detected: {reason}"),
            ErrorKind::EsmtpWithSmtp => {
                "%ESMTP cannot coexist with SMTP, please unconfigure SMTP and try again...".into()
            }
            ErrorKind::SmtpWithEsmtp => {
                "%SMTP cannot coexist with ESMTP, please unconfigure ESMTP and try again...".into()
            }
            ErrorKind::LowAboveHigh => "% low threshold must not exceed high threshold".into(),
            ErrorKind::AlreadyMapped {
                address,
                local,
                global,
            } => format!("% {address} already mapped ({local} -> {global})"),
            ErrorKind::Rejected(reason) => format!("% {reason}"),
        }
    }
}

/// One rejected line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column of the offending token.
    pub column: usize,
    /// The line as written (trimmed, secrets masked).
    pub text: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    /// The text an interactive console prints (no line number).
    pub fn console(&self) -> String {
        match &self.kind {
            ErrorKind::InvalidInput(reason) => {
                format!(
                    "% Invalid input detected at column {}: {}",
                    self.column, reason
                )
            }
            other => other.message(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidInput(reason) => write!(
                f,
                "% Invalid input detected at line {}, column {}: {} -- {}",
                self.line, self.column, self.text, reason
            ),
            other => {
                let message = other.message();
                write!(
                    f,
                    "% Rejected at line {}, column {}: {} -- {}",
                    self.line,
                    self.column,
                    self.text,
                    message.strip_prefix("% ").unwrap_or(&message)
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a line produced a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum WarningKind {
    /// Valid IOS outside the product: ignored.
    Ignored,
    /// Implemented only in part.
    PartialSupport(String),
    /// Accepted, with a remark for the operator.
    Note(String),
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// The line (trimmed, secrets masked).
    pub text: String,
    /// Why.
    pub kind: WarningKind,
}

impl Warning {
    /// The text an interactive console prints (no line number).
    pub fn console(&self) -> String {
        match &self.kind {
            WarningKind::Ignored => format!("% Warning: ignored (not supported): {}", self.text),
            WarningKind::PartialSupport(why) => {
                format!("% Warning: partially supported: {} -- {}", self.text, why)
            }
            WarningKind::Note(why) => format!("% Warning: {why}"),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WarningKind::Ignored => write!(
                f,
                "% Warning: line {} ignored (not supported): {}",
                self.line, self.text
            ),
            WarningKind::PartialSupport(why) => write!(
                f,
                "% Warning: line {} partially supported: {} -- {}",
                self.line, self.text, why
            ),
            WarningKind::Note(why) => {
                write!(f, "% Warning: line {}: {} -- {}", self.line, self.text, why)
            }
        }
    }
}

/// A rejected configuration file: every error, plus the warnings seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct LoadErrors {
    /// Every error, in line order.
    pub errors: Vec<ConfigError>,
    /// Warnings of the lines that were valid.
    pub warnings: Vec<Warning>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "% Configuration rejected: {} error(s), nothing was loaded",
            self.errors.len()
        )?;
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}
