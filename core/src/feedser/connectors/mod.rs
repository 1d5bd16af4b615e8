//! One parser per advisory source: the bytes of one document in, OSV records out.
//! Each has size limits, never panics, and is fuzzed.

pub mod osv;
