//! Text rendering of events: the IOS log messages of spec §13/§10/§8/§7.4 and
//! the `debug ip inspect smtp` lines of §12.3. Kept out of the packet path:
//! the dataplane's logging stage calls these after draining events, passing
//! the session's addresses (as seen on the initiating interface).

use core::fmt::Write;
use std::net::SocketAddrV4;

use crate::events::{DebugEvent, Event};
use crate::signatures::Signature;

/// Write `bytes` with non-printable bytes rendered as `.` (spec §2.5 item 6).
fn write_token(out: &mut impl Write, bytes: &[u8]) -> core::fmt::Result {
    for &b in bytes {
        out.write_char(if (0x20..0x7F).contains(&b) {
            b as char
        } else {
            '.'
        })?;
    }
    Ok(())
}

/// The `%FAC-SEV-MNEMONIC` of a signature's log line (spec §10).
pub fn signature_mnemonic(sig: Signature) -> &'static str {
    match sig {
        Signature::F1InvalidRecipient => "FW-4-TCP_SENDMAIL_BAD_TO_SIG",
        Signature::F2InvalidSender => "FW-4-TCP_SENDMAIL_BAD_FROM_SIG",
        Signature::F3ArchaicSendmail => "FW-4-TCP_SENDMAIL_OLD_SIG",
        Signature::F4DecodeAlias => "FW-4-TCP_SENDMAIL_DECODE",
        Signature::F5MajordomoExec => "FW-4-TCP_MAJORDOMO_EXEC_BUG",
        Signature::F6OverlongCommand => "FW-4-TCP_SENDMAIL_INVALID_COMMAND",
        _ => "IDS-4-SMTP_SIG",
    }
}

/// The mnemonic of an event's log line (`None` for debug events).
pub fn mnemonic(ev: &Event) -> Option<&'static str> {
    Some(match ev {
        Event::InvalidCommand { .. } => "FW-3-SMTP_INVALID_COMMAND",
        Event::InvalidParameter { .. } => "FW-3-SMTP_INVALID_PARAMETER",
        Event::Signature { sig } => signature_mnemonic(*sig),
        Event::MaxData { .. } => "FW-4-SMTP_MAX_DATA",
        Event::TlsStarted => "FW-6-SMTP_TLS_STARTED",
        Event::Debug(_) => return None,
    })
}

/// Write the log message of `ev` — `%MNEMONIC: text`, without the timestamp
/// prefix — for a session from `initiator` to `responder`. Debug events are
/// written as their `debug ip inspect smtp` line.
pub fn write_message(
    ev: &Event,
    initiator: SocketAddrV4,
    responder: SocketAddrV4,
    out: &mut impl Write,
) -> core::fmt::Result {
    let (ci, si) = (initiator.ip(), responder.ip());
    let cp = initiator.port();
    match ev {
        Event::InvalidCommand { total_len, .. } => {
            out.write_str("%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (")?;
            write_token(out, ev.token())?;
            write!(out, ") (total {total_len} chars) from initiator ({ci}:{cp})")
        }
        Event::InvalidParameter { .. } => {
            out.write_str("%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (")?;
            write_token(out, ev.token())?;
            write!(out, ") from initiator ({ci}:{cp})")
        }
        Event::Signature { sig } => {
            let m = signature_mnemonic(*sig);
            match sig {
                Signature::F6OverlongCommand => write!(out, "%{m}: Invalid SMTP command - {ci} to {si}"),
                s if s.closes_session() => write!(out, "%{m}: {} - from {ci} to {si}", s.title()),
                s => write!(out, "%{m}: Sig:{}:{} - from {ci} to {si}", s.id(), s.title()),
            }
        }
        Event::MaxData { limit } => write!(
            out,
            "%FW-4-SMTP_MAX_DATA: SMTP session initiator ({ci}:{cp}) exceeded max-data ({limit} bytes), session closed"
        ),
        Event::TlsStarted => write!(
            out,
            "%FW-6-SMTP_TLS_STARTED: TLS negotiated, SMTP inspection stopped for initiator ({ci}:{cp})"
        ),
        Event::Debug(d) => write_debug(d, out),
    }
}

/// Write one `debug ip inspect smtp` line (spec §12.3), without timestamp.
pub fn write_debug(d: &DebugEvent, out: &mut impl Write) -> core::fmt::Result {
    match *d {
        DebugEvent::Verb { cmd_len, match_len, state } => write!(
            out,
            "CBAC SMTP: VERB - Cmd len:{cmd_len}, match_len:{match_len}, cmd_re_state:{state}"
        ),
        DebugEvent::VerbMatch { id } => write!(out, "CBAC SMTP: VERB - match id:{id}"),
        DebugEvent::Param { cmd_len, match_len, state } => write!(
            out,
            "CBAC SMTP: CMD PARAM - Cmd len:{cmd_len}, match_len:{match_len}, cmd_re_state:{state}"
        ),
        DebugEvent::ParamMatch { id } => write!(out, "CBAC SMTP: CMD PARAM - match id:{id}"),
        DebugEvent::EndOfCommandLine { index, len } => {
            write!(out, "CBAC SMTP: End Of Command Line - index:{index}, len:{len}")
        }
        DebugEvent::ReplyType => out.write_str("CBAC SMTP: reply_type OTHERS"),
        DebugEvent::Reply { len, match_len, state } => write!(
            out,
            "CBAC SMTP: OTHER REPLY - Reply len: {len}, match_len:{match_len}, reply_re_state:{state}"
        ),
        DebugEvent::ReplyMatch { id } => write!(out, "CBAC SMTP: OTHER REPLY match id:{id}"),
        DebugEvent::EndOfReplyLine { index, len } => {
            write!(out, "CBAC SMTP: End Of Reply Line - index:{index} ,len:{len}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ev: Event) -> String {
        let c: SocketAddrV4 = "198.51.100.7:40012".parse().unwrap();
        let s: SocketAddrV4 = "172.22.1.110:25".parse().unwrap();
        let mut out = String::new();
        write_message(&ev, c, s, &mut out).unwrap();
        out
    }

    fn verb(v: &[u8], total: u32) -> Event {
        let mut verb = [0u8; 16];
        verb[..v.len()].copy_from_slice(v);
        Event::InvalidCommand {
            verb,
            verb_len: v.len() as u8,
            total_len: total,
        }
    }

    #[test]
    fn ios_texts() {
        assert_eq!(
            msg(verb(b"EXPN", 11)),
            "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:40012)"
        );
        assert_eq!(
            msg(verb(b"HE\0LO", 9)),
            "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (HE.LO) (total 9 chars) from initiator (198.51.100.7:40012)"
        );
        let mut token = [0u8; 64];
        token[..8].copy_from_slice(b"SMTPUTF8");
        assert_eq!(
            msg(Event::InvalidParameter { token, len: 8 }),
            "%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (SMTPUTF8) from initiator (198.51.100.7:40012)"
        );
        assert_eq!(
            msg(Event::Signature { sig: Signature::F1InvalidRecipient }),
            "%FW-4-TCP_SENDMAIL_BAD_TO_SIG: Sendmail Invalid Recipient - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature { sig: Signature::F2InvalidSender }),
            "%FW-4-TCP_SENDMAIL_BAD_FROM_SIG: Sendmail Invalid Sender - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature { sig: Signature::F3ArchaicSendmail }),
            "%FW-4-TCP_SENDMAIL_OLD_SIG: Archaic Sendmail Attacks - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature {
                sig: Signature::F4DecodeAlias
            }),
            "%FW-4-TCP_SENDMAIL_DECODE: Sendmail Decode Alias - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature { sig: Signature::F5MajordomoExec }),
            "%FW-4-TCP_MAJORDOMO_EXEC_BUG: Majordomo Execute Attack - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature { sig: Signature::F6OverlongCommand }),
            "%FW-4-TCP_SENDMAIL_INVALID_COMMAND: Invalid SMTP command - 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature {
                sig: Signature::I1SmailAttack
            }),
            "%IDS-4-SMTP_SIG: Sig:3100:Smail Attack - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::Signature {
                sig: Signature::I3MailSpam
            }),
            "%IDS-4-SMTP_SIG: Sig:3106:Mail Spam - from 198.51.100.7 to 172.22.1.110"
        );
        assert_eq!(
            msg(Event::MaxData { limit: 1000 }),
            "%FW-4-SMTP_MAX_DATA: SMTP session initiator (198.51.100.7:40012) exceeded max-data (1000 bytes), session closed"
        );
        assert_eq!(
            msg(Event::TlsStarted),
            "%FW-6-SMTP_TLS_STARTED: TLS negotiated, SMTP inspection stopped for initiator (198.51.100.7:40012)"
        );
        assert_eq!(mnemonic(&Event::TlsStarted), Some("FW-6-SMTP_TLS_STARTED"));
        assert_eq!(mnemonic(&Event::Debug(DebugEvent::ReplyType)), None);
    }

    #[test]
    fn debug_texts() {
        let mut s = String::new();
        write_debug(&DebugEvent::EndOfReplyLine { index: 0, len: 64 }, &mut s).unwrap();
        assert_eq!(s, "CBAC SMTP: End Of Reply Line - index:0 ,len:64");
        s.clear();
        write_debug(
            &DebugEvent::Verb {
                cmd_len: 1,
                match_len: 1,
                state: 9,
            },
            &mut s,
        )
        .unwrap();
        assert_eq!(
            s,
            "CBAC SMTP: VERB - Cmd len:1, match_len:1, cmd_re_state:9"
        );
    }
}
