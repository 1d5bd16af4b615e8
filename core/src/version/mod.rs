//! Per-ecosystem version semantics: one total order per scheme.

use std::cmp::Ordering;

/// A version ordering scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scheme {
    /// Debian / Ubuntu dpkg (epoch, `~`, revision).
    Dpkg,
    /// Alpine apk (`_alpha`..`_p` suffixes, `-rN`).
    Apk,
    /// RPM EVR (rpmvercmp, `~`, `^`).
    Rpm,
    /// SemVer 2.0 (npm, Cargo).
    Semver,
    /// Go modules: SemVer with `v` prefix, `+incompatible`, pseudo-versions.
    Go,
    /// Python PEP 440.
    Pep440,
    /// Maven ComparableVersion.
    Maven,
    /// RubyGems `Gem::Version`.
    RubyGems,
    /// NuGet (SemVer 2.0 with four-part legacy versions).
    NuGet,
}

/// Why a version string cannot be ordered under a scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme:?} version {input:?}: {reason}")]
pub struct VersionError {
    /// The scheme the string was parsed under.
    pub scheme: Scheme,
    /// The offending input.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Compare two version strings under `scheme`.
pub fn compare(_scheme: Scheme, _a: &str, _b: &str) -> Result<Ordering, VersionError> {
    todo!("helper: version")
}
