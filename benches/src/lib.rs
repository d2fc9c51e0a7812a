//! Shared corpus builders for mailguard's criterion benchmarks (`benches/benches/*.rs`).
//!
//! The benchmarks live in this crate, not in the crates they measure, so that
//! every figure is produced by one `cargo bench -p mailguard-benches` run and
//! the measured crates keep criterion out of their dependency trees.
pub mod smtp_corpus;
