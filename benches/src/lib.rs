//! Shared corpus builders for mailguard's criterion benchmarks (`benches/benches/*.rs`).
//!
//! The benchmarks live in this crate, not in the crates they measure, so that
//! every figure is produced by one `cargo bench -p mailguard-benches` run and
//! the measured crates keep criterion out of their dependency trees.
pub mod smtp_corpus;

/// Configuration lines that put the half-open protections out of the way of a
/// benchmark on the seed lab: thresholds far above anything a run creates
/// (cbac spec §6 ranges: 1..=2^32-1; per host 1..=250). High before low: a
/// line must not put low above high.
pub const HALF_OPEN_OUT_OF_THE_WAY: [&str; 5] = [
    "ip inspect max-incomplete high 4000000000",
    "ip inspect max-incomplete low 3999999999",
    "ip inspect one-minute high 4000000000",
    "ip inspect one-minute low 3999999999",
    "ip inspect tcp max-incomplete host 250 block-time 0",
];
