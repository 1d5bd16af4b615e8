//! The scan pipeline: SBOM in, findings and verdict out.
