//! Rego modules carried by a policy.

use serde::{Deserialize, Serialize};

/// One Rego module as written in a policy document (also embedded in the ScanPolicy CRD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegoModule {
    /// File-like name used in error messages.
    pub name: String,
    /// The Rego source.
    pub source: String,
}
