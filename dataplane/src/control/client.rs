//! The client side, used by `mailguard show|debug|configure|clear`: connect,
//! send one request, return the reply text (or the server's error text as
//! [`ControlError::Remote`]).

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::error::ControlError;
use super::protocol::{encode_request, read_response, Status};

/// How long a request may take by default (a large `show … detail`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `line` to the dataplane listening on `socket_path`.
pub fn request(socket_path: &Path, line: &str, json: bool) -> Result<String, ControlError> {
    request_with_timeout(socket_path, line, json, DEFAULT_TIMEOUT)
}

/// [`request`] with an explicit timeout for each read and write.
pub fn request_with_timeout(
    socket_path: &Path,
    line: &str,
    json: bool,
    timeout: Duration,
) -> Result<String, ControlError> {
    let bytes = encode_request(line, json)?;
    let mut stream = UnixStream::connect(socket_path).map_err(|e| {
        ControlError::Io(std::io::Error::new(
            e.kind(),
            format!(
                "cannot connect to {} ({e}); is mailguard running?",
                socket_path.display()
            ),
        ))
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // A server that refuses us (busy) answers and closes before reading:
    // our write may fail, yet its answer is waiting to be read.
    let written = stream.write_all(&bytes);
    let mut reader = BufReader::new(&stream);
    match (read_response(&mut reader), written) {
        (Ok((Status::Ok, body)), Ok(())) => Ok(body),
        (Ok((Status::Err, body)), _) => Err(ControlError::Remote(body)),
        (Ok((Status::Ok, _)), Err(e)) => Err(e.into()),
        (Err(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(())) => Err(e),
    }
}
