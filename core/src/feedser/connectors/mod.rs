//! One parser per advisory source: the bytes of one document in, OSV records out.
//! Each has size limits, never panics, and is fuzzed.

// NVD, RustSec native and Node.js security WG connectors (helper `nvd`).
pub mod node_range;
pub mod nodejs_wg;
pub mod nvd;
pub mod rustsec;
