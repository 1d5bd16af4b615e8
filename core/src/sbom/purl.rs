//! Package URLs, parsed and normalised per the package-url specification.

use std::collections::BTreeMap;

/// A parsed package URL: `pkg:type/namespace/name@version?qualifiers#subpath`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Purl {
    /// Package type, lower-cased (`deb`, `pypi`, `npm`, ...).
    pub ty: String,
    /// Namespace segments joined by `/`, decoded and normalised per type.
    pub namespace: Option<String>,
    /// Package name, decoded and normalised per type.
    pub name: String,
    /// Version, decoded.
    pub version: Option<String>,
    /// Qualifiers with lower-cased keys, decoded values; empty values dropped.
    pub qualifiers: BTreeMap<String, String>,
    /// Subpath, decoded, without leading/trailing slashes.
    pub subpath: Option<String>,
}

/// Why a string is not a valid package URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package URL {input:?}: {reason}")]
pub struct PurlError {
    /// The offending input (truncated for display).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Purl {
    /// Parse and normalise a package URL string.
    pub fn parse(_s: &str) -> Result<Purl, PurlError> {
        todo!("helper: sbom")
    }
}

impl std::fmt::Display for Purl {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!("helper: sbom")
    }
}
