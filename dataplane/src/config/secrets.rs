//! Masking of secrets in configuration lines.
//!
//! Lines that carry passwords, secrets, keys or SNMP communities are outside
//! the product; they are stored, warned about and printed only with the secret
//! replaced by `<removed>` (an encryption-type digit such as `7` is kept, as
//! in `enable password 7 <removed>`).

/// The text that replaces a secret.
pub const REMOVED: &str = "<removed>";

const SECRET_KEYWORDS: &[&str] = &["password", "secret", "key", "key-string", "community"];

/// Returns `line` with every secret replaced by `<removed>`; spacing is kept.
pub fn mask_secrets(line: &str) -> String {
    let spans = word_spans(line);
    let mut out = String::with_capacity(line.len());
    let mut copied = 0usize;
    let mut i = 0usize;
    while i < spans.len() {
        let (start, end) = spans[i];
        i += 1;
        if !SECRET_KEYWORDS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&line[start..end]))
        {
            continue;
        }
        let Some(&(s, e)) = spans.get(i) else {
            break;
        };
        let is_type = e - s == 1 && line.as_bytes()[s].is_ascii_digit();
        let (ms, me) = match spans.get(i + 1) {
            Some(&(s2, e2)) if is_type => {
                i += 2;
                (s2, e2)
            }
            _ => {
                i += 1;
                (s, e)
            }
        };
        out.push_str(&line[copied..ms]);
        out.push_str(REMOVED);
        copied = me;
    }
    out.push_str(&line[copied..]);
    out
}

fn word_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, ch) in line.char_indices() {
        if ch == ' ' || ch == '\t' {
            if let Some(s) = start.take() {
                spans.push((s, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_and_keeps_type() {
        assert_eq!(
            mask_secrets("enable password 7 02050D4808095E731F"),
            "enable password 7 <removed>"
        );
        assert_eq!(
            mask_secrets(" password 7 121A0C0411045D5679"),
            " password 7 <removed>"
        );
        assert_eq!(
            mask_secrets("enable secret s3cr3t"),
            "enable secret <removed>"
        );
        assert_eq!(
            mask_secrets("username bob privilege 15 password 0 hunter2"),
            "username bob privilege 15 password 0 <removed>"
        );
        assert_eq!(
            mask_secrets("snmp-server community public RO"),
            "snmp-server community <removed> RO"
        );
        assert_eq!(mask_secrets(" login"), " login");
        assert_eq!(mask_secrets("password"), "password");
        assert_eq!(mask_secrets("password 7"), "password <removed>");
    }
}
