//! StellaOps core: the SBOM-first scan pipeline and its domain.
//!
//! Data flow: an SBOM ([`sbom`]) is matched ([`matcher`]) against the advisory
//! snapshot ([`store`], filled from OSV records in [`advisory`]) using per-ecosystem
//! version semantics ([`version`]); findings get a verdict ([`verdict`]) and are
//! rendered ([`report`]). [`scan`] wires these together for callers.

pub mod advisory;
#[cfg(feature = "server")]
pub mod api;
pub mod ecosystem;
pub mod feedser;
mod hex;
pub mod identity;
pub mod import;
pub mod inventory;
mod json_depth;
pub mod layers;
pub mod matcher;
pub mod policy;
pub mod queue;
pub mod quota;
pub mod report;
pub mod sbom;
pub mod scan;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod verdict;
pub mod version;

/// The repository's `testdata/` folder, for unit tests (the same helper as the
/// integration tests and benches use).
#[cfg(test)]
#[path = "../tests/testdata/mod.rs"]
mod testdata;
