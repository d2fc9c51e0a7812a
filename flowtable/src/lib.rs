//! Per-core CBAC session tables, timing wheels and the global half-open
//! protections. Sans-IO: every entry point takes `now`.
