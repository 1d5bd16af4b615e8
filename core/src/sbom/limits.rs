//! Limits applied while reading untrusted SBOM documents.

/// Bounds on document size, nesting depth and component count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted JSON nesting.
    pub max_depth: usize,
    /// Most components accepted (nested components included).
    pub max_components: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024 * 1024,
            max_depth: 64,
            max_components: 500_000,
        }
    }
}
