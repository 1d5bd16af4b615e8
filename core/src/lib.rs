//! StellaOps core: the SBOM-first scan pipeline and its domain, as a library (no HTTP
//! server, no binary).
//!
//! Data flow: an SBOM ([`sbom`]), or one built from an image ([`inventory`]), is
//! matched ([`matcher`]) against the advisory snapshot ([`advisory_db`], filled from
//! OSV records in [`advisory`] or by [`feedser`]) using per-ecosystem version
//! semantics ([`version`]); findings get a verdict under a policy ([`policy`],
//! [`verdict`]) and are rendered ([`report`]). [`pipeline`] wires these together for
//! callers. The server's domain lives here too: [`identity`], [`quota`], the job
//! [`queue`], [`scan_records`] and the delta-SBOM layer protocol ([`delta`]).
//!
//! Stores: SQLite always; Redis adapters behind the `redis` feature, the MongoDB feed
//! store behind `mongo`.

pub mod advisory;
pub mod advisory_db;
pub mod delta;
pub mod ecosystem;
pub mod feedser;
mod hex;
pub mod identity;
pub mod import;
pub mod inventory;
mod json_depth;
pub mod matcher;
pub mod pipeline;
pub mod policy;
pub mod queue;
pub mod quota;
pub mod report;
pub mod sbom;
pub mod scan_records;
pub mod server_api;
pub mod signing_key;
pub mod sqlite;
pub mod verdict;
pub mod version;

/// The repository's `testdata/` folder, for unit tests (the same helper as the
/// integration tests and benches use).
#[cfg(test)]
#[path = "../tests/it/testdata.rs"]
mod testdata;
