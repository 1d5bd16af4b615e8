//! Errors from reading SBOM documents, each naming where in the document it arose.

/// Why an SBOM document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbomError {
    /// The document is larger than [`Limits::max_bytes`](super::Limits).
    #[error("SBOM document is {bytes} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the document.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// JSON nesting is deeper than [`Limits::max_depth`](super::Limits).
    #[error("SBOM document nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More components than [`Limits::max_components`](super::Limits).
    #[error("SBOM document has more than {max} components")]
    TooManyComponents {
        /// The limit.
        max: usize,
    },
    /// JSON syntax error, or a value of the wrong JSON type.
    #[error("{path}: {reason}")]
    Json {
        /// JSON path (`$.components[3].name`) of the offending value.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Well-formed JSON that breaks the format's rules (bad purl, wrong version...).
    #[error("{path}: {reason}")]
    Invalid {
        /// JSON path of the offending value.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Neither CycloneDX nor SPDX JSON.
    #[error("not a CycloneDX or SPDX JSON document")]
    UnknownFormat,
}
