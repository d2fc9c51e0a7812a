//! A minimal HTTP/1.1 server for `--metrics ADDR:PORT`: `GET /metrics`
//! (and `HEAD`) answers the exposition of a snapshot taken at that moment by
//! the caller's closure; any other path is 404, any other method 405.
//!
//! Scrapes are rare and tiny, so one thread serves connections one at a time:
//! each request is bounded ([`MAX_REQUEST`] bytes, [`REQUEST_DEADLINE`] to
//! arrive), always answered with `Connection: close`, so a stuck client can
//! delay a scrape by at most the deadline and never grow memory.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::exposition::{render, CONTENT_TYPE};
use super::snapshot::MetricsSnapshot;

/// Largest request head accepted.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// Produces a snapshot on demand (runs on the metrics thread).
pub type SnapshotSource = Arc<dyn Fn() -> MetricsSnapshot + Send + Sync>;

/// A running metrics endpoint; dropping it stops it.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks one; see [`MetricsServer::local_addr`]).
    pub fn bind(addr: SocketAddr, source: SnapshotSource) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("mailguard-metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if thread_stop.load(Ordering::Acquire) {
                        break;
                    }
                    match stream {
                        Ok(s) => {
                            let _ = serve(s, &source);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            // Wake the blocking accept.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What a request head asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Metrics { head: bool },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

/// Reads the request head (up to the empty line) within the bounds.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Route> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(Route::BadRequest);
        }
        let n = stream.read(&mut buf).map_err(|_| Route::BadRequest)?;
        if n == 0 {
            return Err(Route::BadRequest);
        }
        head.extend_from_slice(&buf[..n]);
        if memchr::memmem::find(&head, b"\r\n\r\n").is_some()
            || memchr::memmem::find(&head, b"\n\n").is_some()
        {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST {
            return Err(Route::TooLarge);
        }
    }
}

fn route(head: &[u8]) -> Route {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Route::BadRequest;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics { head: false },
        ("HEAD", "/metrics") => Route::Metrics { head: true },
        ("GET" | "HEAD", _) => Route::NotFound,
        _ => Route::MethodNotAllowed,
    }
}

fn serve(mut stream: TcpStream, source: &SnapshotSource) -> io::Result<()> {
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let route = match read_head(&mut stream) {
        Ok(head) => route(&head),
        Err(r) => r,
    };
    let (status, content_type, body, head_only) = match route {
        Route::Metrics { head } => {
            // A panicking snapshot closure must not kill the endpoint.
            match catch_unwind(AssertUnwindSafe(|| render(&source()))) {
                Ok(body) => ("200 OK", CONTENT_TYPE, body, head),
                Err(_) => (
                    "500 Internal Server Error",
                    "text/plain; charset=utf-8",
                    "snapshot failed\n".to_string(),
                    false,
                ),
            }
        }
        Route::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found; metrics are at /metrics\n".to_string(),
            false,
        ),
        Route::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".to_string(),
            false,
        ),
        Route::BadRequest => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_string(),
            false,
        ),
        Route::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            "request too large\n".to_string(),
            false,
        ),
    };
    let allow = if route == Route::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    linger(&mut stream);
    Ok(())
}

/// Reads and discards what the client still sends (bounded in bytes and
/// time) before closing, so the kernel does not answer unread data with a
/// RST that could destroy our response in flight.
fn linger(stream: &mut TcpStream) {
    const MAX_DISCARD: usize = 64 * 1024;
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut buf = [0u8; 4096];
    let mut discarded = 0;
    while discarded < MAX_DISCARD {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn server() -> (MetricsServer, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let source: SnapshotSource = Arc::new(move || {
            let n = c.fetch_add(1, Ordering::Relaxed) + 1;
            MetricsSnapshot {
                half_open: n,
                ..Default::default()
            }
        });
        let srv = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), source).unwrap();
        (srv, calls)
    }

    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn get_metrics() {
        let (srv, calls) = server();
        let reply = exchange(
            srv.local_addr(),
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        );
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(
            body.contains("\nmailguard_half_open_sessions 1\n"),
            "{body}"
        );
        // a second scrape takes a fresh snapshot; query strings are ignored
        let reply = exchange(srv.local_addr(), b"GET /metrics?x=1 HTTP/1.0\n\n");
        assert!(reply.contains("\nmailguard_half_open_sessions 2\n"));
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // HEAD: headers only
        let reply = exchange(srv.local_addr(), b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(reply.ends_with("\r\n\r\n"));
        srv.shutdown();
    }

    #[test]
    fn other_requests() {
        let (srv, calls) = server();
        let a = srv.local_addr();
        assert!(exchange(a, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(exchange(a, b"GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        let r = exchange(a, b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 ") && r.contains("Allow: GET, HEAD\r\n"));
        assert!(exchange(a, b"garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(exchange(a, b"\xff\xfe / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(exchange(a, b"GET /metrics SMTP/1.0\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST * 2));
        assert!(exchange(a, &big).starts_with("HTTP/1.1 431 "));
        // a client that connects and says nothing is cut off at the deadline
        let started = Instant::now();
        let silent = exchange(a, b"");
        assert!(silent.starts_with("HTTP/1.1 400 "));
        assert!(started.elapsed() < REQUEST_DEADLINE + Duration::from_secs(2));
        // none of these took a snapshot
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        // and the server still serves
        assert!(exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
    }

    #[test]
    fn panicking_source_gives_500_and_server_survives() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let source: SnapshotSource = Arc::new(move || {
            if c.fetch_add(1, Ordering::Relaxed) == 0 {
                panic!("first scrape fails");
            }
            MetricsSnapshot::default()
        });
        let srv = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), source).unwrap();
        let a = srv.local_addr();
        assert!(exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 500 "));
        assert!(exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
    }

    proptest::proptest! {
        #[test]
        fn route_never_panics(head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = route(&head);
        }
    }

    #[test]
    fn route_table() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\n"),
            Route::Metrics { head: false }
        );
        assert_eq!(route(b"GET  /metrics HTTP/1.1\r\n"), Route::BadRequest);
        assert_eq!(route(b"DELETE /x HTTP/1.1\r\n"), Route::MethodNotAllowed);
        assert_eq!(route(b""), Route::BadRequest);
    }
}
