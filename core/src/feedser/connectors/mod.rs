//! One parser per advisory source: the bytes of one document in, OSV records out.
//! Each has size limits, never panics, and is fuzzed.

pub mod alpine;
pub mod debian;
pub mod node_range;
pub mod nodejs_wg;
pub mod nvd;
pub mod osv;
pub mod rustsec;
