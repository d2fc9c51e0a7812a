//! The only place in `loadgen` that talks to the kernel through raw system calls.
//!
//! io_uring submissions borrow memory the kernel writes into later, AF_PACKET sockets and
//! `setns(2)` have no safe wrapper in std: all of that needs `unsafe`, and keeping it in one
//! module lets the safety argument be read in one sitting. Everything outside `sys` is safe
//! Rust and sees only the safe wrappers defined here.
#![allow(unsafe_code)]

pub mod cpu;
pub mod netns;
pub mod packet;
pub mod signal;
pub mod sock;
pub mod uring;
