//! Helpers shared by mailguard's integration tests (`tests/tests/*.rs`):
//! network-namespace labs, raw-socket clients and scripted servers.

pub mod mail_server;
pub mod netlab;
pub mod netns;
pub mod rawtcp;
pub mod smtp_sim;
pub mod soak;
