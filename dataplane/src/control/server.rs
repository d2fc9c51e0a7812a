//! The control socket server: a Unix stream socket, one accept thread and
//! one short-lived thread per client (at most [`ServerLimits::max_clients`]).
//! It parses each request into a [`Command`] and hands it to the
//! [`ControlHandler`] the binary provides; the server itself knows nothing
//! of sessions or configuration and never touches a worker's table.
//!
//! Robustness: every read and write has a timeout, requests are bounded
//! (`protocol::MAX_REQUEST`), garbage gets an `ERR` reply and the connection
//! is closed, a handler panic becomes an `ERR` reply (in builds that
//! unwind), and the socket file is created mode 0600 and removed on shutdown.

use std::fs;
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::command::Command;
use super::error::ControlError;
use super::protocol::{read_request, write_response, Status};

/// Executes parsed commands; implemented by the binary over the running
/// dataplane. Returns the reply text (IOS text, or JSON when `json`).
pub trait ControlHandler: Send + Sync {
    fn execute(&self, cmd: &Command, json: bool) -> Result<String, ControlError>;
}

/// Bounds of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Clients served at once; more get `ERR` busy.
    pub max_clients: usize,
    /// A client idle this long (between or inside requests) is dropped.
    pub read_timeout: Duration,
    /// A client that does not read its reply this long is dropped.
    pub write_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_clients: 16,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// A running control server; dropping it stops it.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `path` with default limits and starts serving.
    pub fn bind(path: &Path, handler: Arc<dyn ControlHandler>) -> Result<Self, ControlError> {
        Self::bind_with_limits(path, handler, ServerLimits::default())
    }

    /// Binds `path` and starts serving. A stale socket file (nobody
    /// listening) is replaced; a live one is an error (`AddrInUse`).
    pub fn bind_with_limits(
        path: &Path,
        handler: Arc<dyn ControlHandler>,
        limits: ServerLimits,
    ) -> Result<Self, ControlError> {
        remove_stale_socket(path)?;
        let listener = UnixListener::bind(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("mailguard-control".into())
            .spawn(move || accept_loop(listener, handler, limits, thread_stop))?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, waits for the accept thread and removes the socket
    /// file. Clients being served finish their current request.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            // Wake the blocking accept.
            let _ = UnixStream::connect(&self.path);
            let _ = thread.join();
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn remove_stale_socket(path: &Path) -> Result<(), ControlError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::Io(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running mailguard", path.display()),
                )));
            }
            fs::remove_file(path)?;
            Ok(())
        }
        Ok(_) => Err(ControlError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ))),
        Err(_) => Ok(()),
    }
}

/// Decrements the client count when a client thread ends, however it ends.
struct ClientSlot(Arc<AtomicUsize>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(
    listener: UnixListener,
    handler: Arc<dyn ControlHandler>,
    limits: ServerLimits,
    stop: Arc<AtomicBool>,
) {
    let clients = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(stream) = stream else {
            // EMFILE and friends: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = stream.set_read_timeout(Some(limits.read_timeout));
        let _ = stream.set_write_timeout(Some(limits.write_timeout));
        if clients.fetch_add(1, Ordering::AcqRel) >= limits.max_clients {
            clients.fetch_sub(1, Ordering::AcqRel);
            let mut w = BufWriter::new(&stream);
            let _ = write_response(&mut w, Status::Err, &ControlError::Busy.to_string());
            continue;
        }
        let slot = ClientSlot(Arc::clone(&clients));
        let handler = Arc::clone(&handler);
        let spawned = thread::Builder::new()
            .name("mailguard-control-client".into())
            .spawn(move || {
                let _slot = slot;
                serve_client(stream, handler.as_ref());
            });
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Serves requests on one connection until EOF, timeout or a framing error.
fn serve_client(stream: UnixStream, handler: &dyn ControlHandler) {
    let mut reader = BufReader::new(&stream);
    let mut writer = BufWriter::new(&stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) | Err(ControlError::Timeout) | Err(ControlError::Io(_)) => return,
            Err(e) => {
                // The framing is lost: say why and close.
                let _ = write_response(&mut writer, Status::Err, &e.to_string());
                return;
            }
        };
        let (status, body) = answer(handler, &request.line, request.json);
        if write_response(&mut writer, status, &body).is_err() {
            return;
        }
    }
}

/// Parses and executes one command line; never panics.
pub fn answer(handler: &dyn ControlHandler, line: &str, json: bool) -> (Status, String) {
    let command = match Command::parse(line) {
        Ok(c) => c,
        Err(e) => return (Status::Err, e.to_string()),
    };
    match catch_unwind(AssertUnwindSafe(|| handler.execute(&command, json))) {
        Ok(Ok(text)) => (Status::Ok, text),
        Ok(Err(e)) => (Status::Err, e.to_string()),
        Err(_) => (
            Status::Err,
            format!("% Internal error while executing '{command}'"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::client::{request, request_with_timeout};
    use crate::control::command::ShowCommand;
    use crate::control::protocol::{read_response, MAX_REQUEST};
    use std::io::{Read, Write};
    use std::sync::atomic::AtomicU32;

    /// A temp dir removed on drop (also on panic).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "mg-ctl-{}-{}-{}",
                std::process::id(),
                tag,
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn sock(&self) -> PathBuf {
            self.0.join("control.sock")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Echoes the canonical command; refuses `show running-config`; panics
    /// on `clear ip inspect statistics`.
    struct FakeHandler;

    impl ControlHandler for FakeHandler {
        fn execute(&self, cmd: &Command, json: bool) -> Result<String, ControlError> {
            match cmd {
                Command::Show(ShowCommand::RunningConfig) => {
                    Err(ControlError::Rejected("% not today".into()))
                }
                Command::ClearInspectStatistics => panic!("handler bug"),
                Command::Show(ShowCommand::InspectSessions { .. }) => Ok("x".repeat(200_000)),
                _ if json => Ok(format!("{{\"command\":\"{cmd}\"}}")),
                _ => Ok(format!("{cmd}\n")),
            }
        }
    }

    fn server(dir: &TempDir, limits: ServerLimits) -> ControlServer {
        ControlServer::bind_with_limits(&dir.sock(), Arc::new(FakeHandler), limits).unwrap()
    }

    #[test]
    fn round_trip_with_abbreviations_and_json() {
        let dir = TempDir::new("rt");
        let srv = server(&dir, ServerLimits::default());
        let sock = dir.sock();
        // a reply much larger than any socket buffer
        assert_eq!(
            request(&sock, "sh ip insp sess det", false).unwrap(),
            "x".repeat(200_000)
        );
        assert_eq!(
            request(&sock, "sh ip insp all", false).unwrap(),
            "show ip inspect all\n"
        );
        assert_eq!(
            request(&sock, "debug ip inspect smtp", true).unwrap(),
            "{\"command\":\"debug ip inspect smtp\"}"
        );
        let mode = fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        srv.shutdown();
        assert!(!sock.exists(), "socket file removed on shutdown");
        assert!(request(&sock, "sh run", false).is_err());
    }

    #[test]
    fn errors_come_back_as_ios_text() {
        let dir = TempDir::new("err");
        let _srv = server(&dir, ServerLimits::default());
        let sock = dir.sock();
        let e = request(&sock, "show ip inspct all", false).unwrap_err();
        assert!(matches!(e, ControlError::Remote(_)));
        assert_eq!(
            e.to_string(),
            "show ip inspct all\n        ^\n% Invalid input detected at '^' marker."
        );
        let e = request(&sock, "sh i", false).unwrap_err();
        assert_eq!(e.to_string(), "% Ambiguous command:  \"sh i\"");
        let e = request(&sock, "show running-config", false).unwrap_err();
        assert_eq!(e.to_string(), "% not today");
        let e = request(&sock, "clear ip inspect statistics", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "% Internal error while executing 'clear ip inspect statistics'"
        );
        // the server survived the handler panic
        assert!(request(&sock, "show ip inspect all", false).is_ok());
    }

    #[test]
    fn several_requests_per_connection_and_concurrent_clients() {
        let dir = TempDir::new("multi");
        // A client's slot is freed when its server thread reads EOF, which
        // under load can lag behind the client's next connect: room for
        // that lag, so this test is about concurrency, not the busy limit
        // (tested on its own below).
        let limits = ServerLimits {
            max_clients: 128,
            ..ServerLimits::default()
        };
        let _srv = server(&dir, limits);
        let sock = dir.sock();
        let mut stream = UnixStream::connect(&sock).unwrap();
        stream
            .write_all(b"MAILGUARD/1 TEXT sh acc 101\nMAILGUARD/1 TEXT sh int\n")
            .unwrap();
        let mut reader = BufReader::new(&stream);
        assert_eq!(
            read_response(&mut reader).unwrap(),
            (Status::Ok, "show access-lists 101\n".to_string())
        );
        assert_eq!(
            read_response(&mut reader).unwrap(),
            (Status::Ok, "show interfaces\n".to_string())
        );
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let sock = sock.clone();
                thread::spawn(move || {
                    for _ in 0..20 {
                        let reply = request(&sock, &format!("sh acc {i}"), false).unwrap();
                        assert_eq!(reply, format!("show access-lists {i}\n"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn garbage_and_oversized_input_get_err_and_close() {
        let dir = TempDir::new("garbage");
        let _srv = server(&dir, ServerLimits::default());
        let sock = dir.sock();
        for garbage in [
            &b"\x00\x01\x02\xff\xfe\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"MAILGUARD/1 TEXT show\x07\n",
        ] {
            let mut s = UnixStream::connect(&sock).unwrap();
            s.write_all(garbage).unwrap();
            let mut reader = BufReader::new(&s);
            let (status, body) = read_response(&mut reader).unwrap();
            assert_eq!(status, Status::Err, "{body}");
            assert!(body.starts_with("control protocol error"), "{body}");
            let mut rest = Vec::new();
            assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "closed");
        }
        // oversized: a line far beyond the bound, never terminated
        let mut s = UnixStream::connect(&sock).unwrap();
        let big = vec![b'a'; MAX_REQUEST * 4];
        let _ = s.write_all(&big);
        let (status, body) = read_response(&mut BufReader::new(&s)).unwrap();
        assert_eq!(status, Status::Err);
        assert!(body.contains("too large"), "{body}");
        // and the server still answers
        assert!(request(&sock, "sh run", false).is_err());
        assert!(request(&sock, "sh int", false).is_ok());
    }

    #[test]
    fn idle_clients_time_out_and_busy_limit_holds() {
        let dir = TempDir::new("busy");
        let limits = ServerLimits {
            max_clients: 1,
            read_timeout: Duration::from_millis(300),
            write_timeout: Duration::from_millis(300),
        };
        let _srv = server(&dir, limits);
        let sock = dir.sock();
        let idle = UnixStream::connect(&sock).unwrap();
        thread::sleep(Duration::from_millis(50));
        let e = request_with_timeout(&sock, "sh int", false, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.to_string(), "% Control socket busy, try again");
        // the idle client is dropped after the read timeout …
        let mut buf = [0u8; 1];
        idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!((&idle).read(&mut buf).unwrap(), 0);
        thread::sleep(Duration::from_millis(50));
        // … which frees its slot
        assert!(request(&sock, "sh int", false).is_ok());
    }

    #[test]
    fn stale_socket_is_replaced_live_one_is_refused() {
        let dir = TempDir::new("stale");
        let sock = dir.sock();
        {
            // a socket file nobody listens on any more
            let l = UnixListener::bind(&sock).unwrap();
            drop(l);
        }
        assert!(sock.exists());
        let srv = server(&dir, ServerLimits::default());
        let second = ControlServer::bind(&sock, Arc::new(FakeHandler));
        assert!(matches!(second, Err(ControlError::Io(_))));
        assert!(request(&sock, "sh int", false).is_ok());
        drop(srv);
        // a regular file is never deleted
        fs::write(&sock, b"keep").unwrap();
        assert!(ControlServer::bind(&sock, Arc::new(FakeHandler)).is_err());
        assert_eq!(fs::read(&sock).unwrap(), b"keep");
    }
}
