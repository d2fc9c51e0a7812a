//! The scripted mail server of `seed-scenario.md` §4: deterministic replies,
//! and a record of every byte each connection received, in order, so tests
//! can compare "bytes forwarded by the firewall" exactly.
//!
//! It is deliberately not a real MTA: it answers by the verb of each line
//! (LF-terminated, so bare-LF lines are answered too) and treats everything
//! between its `354` and `\r\n.\r\n` as message data.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The 212-byte EHLO reply of case D8.
pub const EHLO_REPLY: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
/// Greeting (29 bytes).
pub const GREETING: &[u8] = b"220 mail.example.test ESMTP\r\n";

/// How the server answers `DATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataReply {
    /// `354 End data with <CR><LF>.<CR><LF>`.
    Accept,
    /// `554 5.5.1 Error: no valid recipients` (case D13 variant).
    NoValidRecipients,
}

/// What one accepted connection did.
#[derive(Debug, Clone, Default)]
pub struct ConnectionRecord {
    /// Client address as the server saw it.
    pub peer: Option<SocketAddr>,
    /// Every byte received, in order.
    pub received: Vec<u8>,
    /// Messages queued (each message's data, without the final `.\r\n`).
    pub messages: Vec<Vec<u8>>,
    /// Whether the connection ended with a reset (or another error).
    pub reset: bool,
}

/// A running scripted server.
pub struct MailServer {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<ConnectionRecord>>>,
    thread: Option<JoinHandle<()>>,
}

impl MailServer {
    /// Starts the server on an already bound listener (bind it inside the mail
    /// namespace, e.g. with [`crate::netns::run_in`]).
    pub fn start(listener: TcpListener, data_reply: DataReply) -> io::Result<MailServer> {
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (stop.clone(), records.clone());
        let thread = std::thread::spawn(move || accept_loop(listener, data_reply, s, r));
        Ok(MailServer {
            stop,
            records,
            thread: Some(thread),
        })
    }

    /// A copy of the records of all connections so far (in accept order).
    pub fn records(&self) -> Vec<ConnectionRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until `n` connections have been accepted and have ended, or the
    /// timeout passes; returns the records.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ConnectionRecord> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let recs = self.records();
            let done = recs.len() >= n;
            if done || std::time::Instant::now() >= deadline {
                return recs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    data_reply: DataReply,
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<ConnectionRecord>>>,
) {
    let mut workers = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let (s, r) = (stop.clone(), records.clone());
                workers.push(std::thread::spawn(move || {
                    let rec = serve(stream, peer, data_reply, &s);
                    if let Ok(mut all) = r.lock() {
                        all.push(rec);
                    }
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Reply for one command line (without its terminator).
pub fn reply_for(line: &[u8], data_reply: DataReply) -> &'static [u8] {
    let verb: Vec<u8> = line
        .iter()
        .take_while(|b| **b != b' ' && **b != b'\r')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    match verb.as_slice() {
        b"HELO" => b"250 mail.example.test\r\n",
        b"EHLO" => EHLO_REPLY,
        b"MAIL" => b"250 2.1.0 Ok\r\n",
        b"RCPT" => b"250 2.1.5 Ok\r\n",
        b"DATA" => match data_reply {
            DataReply::Accept => b"354 End data with <CR><LF>.<CR><LF>\r\n",
            DataReply::NoValidRecipients => b"554 5.5.1 Error: no valid recipients\r\n",
        },
        b"VRFY" => b"252 2.0.0 Cannot VRFY user\r\n",
        b"HELP" => b"214 2.0.0 Commands supported\r\n",
        b"NOOP" => b"250 2.0.0 Ok\r\n",
        b"RSET" => b"250 2.0.0 Ok\r\n",
        b"ETRN" => b"250 Queuing started\r\n",
        b"QUIT" => b"221 2.0.0 Bye\r\n",
        _ => b"500 5.5.2 Error: command not recognized\r\n",
    }
}

fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    data_reply: DataReply,
    stop: &AtomicBool,
) -> ConnectionRecord {
    let mut rec = ConnectionRecord {
        peer: Some(peer),
        ..Default::default()
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_nodelay(true);
    if stream.write_all(GREETING).is_err() {
        rec.reset = true;
        return rec;
    }
    let mut pending = Vec::new();
    let mut in_data = false;
    let mut message = Vec::new();
    let mut buf = [0u8; 16384];
    let mut idle_ticks = 0u32;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                idle_ticks += 1;
                // 10 minutes without a byte: give up (bounded life).
                if idle_ticks > 6000 {
                    break;
                }
                continue;
            }
            Err(_) => {
                rec.reset = true;
                break;
            }
        };
        idle_ticks = 0;
        rec.received.extend_from_slice(&buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        let mut quit = false;
        loop {
            if in_data {
                let Some(end) = find(&pending, b"\r\n.\r\n") else {
                    break;
                };
                message.extend_from_slice(&pending[..end + 2]);
                pending.drain(..end + 5);
                rec.messages.push(std::mem::take(&mut message));
                in_data = false;
                if stream.write_all(b"250 2.0.0 Ok: queued\r\n").is_err() {
                    rec.reset = true;
                    return rec;
                }
                continue;
            }
            let Some(lf) = pending.iter().position(|b| *b == b'\n') else {
                break;
            };
            let line: Vec<u8> = pending.drain(..=lf).collect();
            let reply = reply_for(&line, data_reply);
            if stream.write_all(reply).is_err() {
                rec.reset = true;
                return rec;
            }
            if reply.starts_with(b"354") {
                in_data = true;
                // An empty message: ".\r\n" right after the DATA line.
                if pending.starts_with(b".\r\n") {
                    pending.drain(..3);
                    rec.messages.push(Vec::new());
                    in_data = false;
                    if stream.write_all(b"250 2.0.0 Ok: queued\r\n").is_err() {
                        rec.reset = true;
                        return rec;
                    }
                }
            }
            if reply.starts_with(b"221") {
                quit = true;
                break;
            }
        }
        if quit {
            let _ = stream.shutdown(Shutdown::Write);
            // Drain until the client closes.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                rec.received.extend_from_slice(&buf[..n]);
            }
            break;
        }
    }
    rec
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_reply_is_the_212_bytes_of_d8() {
        assert_eq!(EHLO_REPLY.len(), 212);
        assert_eq!(GREETING.len(), 29);
    }

    #[test]
    fn replies_follow_the_table() {
        assert_eq!(
            reply_for(b"helo x\r\n", DataReply::Accept),
            b"250 mail.example.test\r\n"
        );
        assert_eq!(reply_for(b"XXXXXXXXX\r\n", DataReply::Accept).len(), 41);
        assert_eq!(reply_for(b"QUIT\r\n", DataReply::Accept).len(), 15);
        assert!(reply_for(b"DATA\r\n", DataReply::NoValidRecipients).starts_with(b"554"));
    }

    #[test]
    fn serves_a_session_on_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = MailServer::start(l, DataReply::Accept).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let script: &[&[u8]] = &[
            b"HELO a\r\n",
            b"MAIL FROM:<a@b>\r\n",
            b"RCPT TO:<c@d>\r\n",
            b"DATA\r\n",
            b"Subject: x\r\n\r\nhi\r\n.\r\n",
            b"QUIT\r\n",
        ];
        let n = c.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        for line in script {
            c.write_all(line).unwrap();
            let n = c.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        drop(c);
        let recs = server.wait_for(1, Duration::from_secs(5));
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].messages, vec![b"Subject: x\r\n\r\nhi\r\n".to_vec()]);
        assert!(got.ends_with(b"221 2.0.0 Bye\r\n"));
        assert_eq!(recs[0].received, script.concat());
    }
}
