//! SPDX 2.3 JSON: reader and deterministic writer.
