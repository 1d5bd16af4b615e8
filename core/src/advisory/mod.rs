//! Advisories as StellaOps reads them: OSV records, severities and CVSS scores.

pub mod canonical;
pub mod cvss;
pub mod osv;
pub mod severity;

pub use osv::{Affected, Event, OsvRecord, Range, RangeType};
pub use severity::{Assessment, Severity, assess};
