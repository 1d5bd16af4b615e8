//! CycloneDX JSON (1.4, 1.5, 1.6): reader and deterministic writer.
