//! (module under construction: see lib.rs for its place on the packet path)
