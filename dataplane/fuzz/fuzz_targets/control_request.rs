//! The control-socket framing (`control::protocol`): `read_request` (what the
//! server reads from a client) and `read_response` (what the client reads from
//! the server) on arbitrary bytes. Both are bounded: they must return (value or
//! error) without panicking, whatever the peer sends.
#![no_main]

use std::io::Cursor;

use dataplane::control::protocol::{read_request, read_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut requests = Cursor::new(data);
    for _ in 0..16 {
        match read_request(&mut requests) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let _ = read_response(&mut Cursor::new(data));
});
