//! Canonical advisories: one record per vulnerability, merged from several sources
//! (built by [`crate::feedser::merge`]), with provenance for every record and field.
//!
//! Determinism: every collection is a sorted `Vec` or a `BTreeMap`, and [`canonical_json`]
//! writes object keys sorted whatever `serde_json` features are enabled, so the digest of an
//! advisory depends only on its content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::osv::{Range, SeverityEntry};

/// One vulnerability as StellaOps publishes it after merging its sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalAdvisory {
    /// Stable id: the CVE when the cluster has exactly one, else the earliest-published
    /// source record id (ties by id).
    pub id: String,
    /// Every other id of the vulnerability (record ids and aliases), sorted, without `id`.
    pub aliases: Vec<String>,
    /// One-line summary, from the highest-precedence record that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Long description, from the highest-precedence record that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Affected packages, sorted by ecosystem key, name, then contributing record.
    pub affected: Vec<CanonicalAffected>,
    /// Every severity entry of every contributing record, with its computed CVSS score.
    pub severities: Vec<CanonicalSeverity>,
    /// The CVSS entry chosen by precedence (NVD's only when no better source has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<CanonicalSeverity>,
    /// CWE ids (`CWE-79`), sorted, from `database_specific.cwe_ids` of the records.
    pub cwes: Vec<String>,
    /// References deduplicated by URL, sorted by URL.
    pub references: Vec<CanonicalReference>,
    /// Earliest publication time of the contributing records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Latest modification time of the contributing records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Set (to the latest withdrawal time) only when EVERY contributing record is withdrawn:
    /// one source withdrawing its record does not withdraw what the others still assert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// One entry per contributing source record, sorted.
    pub provenance: Vec<RecordProvenance>,
    /// Which record each chosen field came from.
    pub field_provenance: FieldProvenance,
}

/// A reference to one contributing source record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    /// Source name (`ghsa`, `debian`, ...).
    pub source: String,
    /// The record's own id.
    pub record_id: String,
    /// Where in its document (disambiguates a DSA id that appears twice).
    pub location: String,
}

/// Where one contributing record came from, and its content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordProvenance {
    /// Source name.
    pub source: String,
    /// The record's id.
    pub record_id: String,
    /// The document it was read from.
    pub document: String,
    /// Where in the document.
    pub location: String,
    /// SHA-256 (hex) of the record's canonical JSON.
    pub sha256: String,
    /// The fetch that brought this content (`<feed>@<time>`), when the record came
    /// through the feed store; a record whose content did not change keeps its fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<String>,
}

/// One affected package, normalised, with the record it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalAffected {
    /// OSV ecosystem as the record wrote it (`PyPI`, `Debian:11`, `Alpine:v3.19`).
    pub ecosystem: String,
    /// Normalised ecosystem key including the distro release (`pypi`, `deb/debian/11`);
    /// the OSV text itself for ecosystems StellaOps does not know.
    pub ecosystem_key: String,
    /// Package name normalised for the ecosystem (PEP 503 for PyPI, lower case for crates).
    pub name: String,
    /// Package URL, when the record gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// Version ranges, as the record wrote them (event order matters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Enumerated affected versions, sorted and deduplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Per-package severities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityEntry>,
    /// Ecosystem-specific data (Go symbols, Debian urgency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
    /// The record this entry came from.
    pub source: RecordRef,
}

/// A severity entry of one source, with its CVSS base score when it is a CVSS vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalSeverity {
    /// `CVSS_V3`, `CVSS_V4`, `Ubuntu`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or label as written.
    pub vector: String,
    /// CVSS version (`3.1`) when the vector scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_version: Option<String>,
    /// Computed base score when the vector scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The record it came from.
    pub source: RecordRef,
}

/// A reference URL and the sources that cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalReference {
    /// Reference type from the highest-precedence source citing it (`ADVISORY`, `WEB`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL.
    pub url: String,
    /// Names of the sources citing it, sorted, deduplicated.
    pub sources: Vec<String>,
}

/// Which record each chosen field came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProvenance {
    /// Source of `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<RecordRef>,
    /// Source of `details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<RecordRef>,
    /// Source of `published`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<RecordRef>,
    /// Source of `modified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<RecordRef>,
    /// Per affected package (keyed `ecosystem_key|name`): which records' ranges were kept
    /// and which were overridden by precedence.
    pub affected: BTreeMap<String, AffectedChoice>,
}

/// The precedence decision for one affected package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedChoice {
    /// The winning source's name.
    pub source: String,
    /// Records whose entries were kept.
    pub kept: Vec<RecordRef>,
    /// Records of lower-precedence sources whose entries for this package were dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<RecordRef>,
}

impl CanonicalAdvisory {
    /// The advisory as canonical JSON (object keys sorted, no whitespace).
    pub fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_value(self)
            .map(|v| canonical_json(&v))
            .unwrap_or_default()
    }

    /// SHA-256 (hex) of [`CanonicalAdvisory::canonical_json`].
    pub fn digest(&self) -> String {
        sha256_hex(&self.canonical_json())
    }
}

/// SHA-256 (hex) of a source record's canonical JSON, as recorded in [`RecordProvenance`].
pub fn record_sha256(record: &super::osv::OsvRecord) -> String {
    serde_json::to_value(record)
        .map(|v| sha256_hex(&canonical_json(&v)))
        .unwrap_or_default()
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(bytes))
}

/// `value` as compact JSON with every object's keys in sorted order, whatever map type
/// `serde_json` was built with (the `preserve_order` feature would keep insertion order).
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Scalars have one serde_json spelling already.
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is deterministic; reuse it, writing in place. Writing
    // a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut inner = serde_json::Map::new();
        inner.insert("z".into(), serde_json::json!(1));
        inner.insert("a".into(), serde_json::json!("é\"\n"));
        let mut outer = serde_json::Map::new();
        outer.insert(
            "b".into(),
            serde_json::json!([serde_json::Value::Object(inner)]),
        );
        outer.insert("a".into(), serde_json::json!(null));
        let text = canonical_json(&serde_json::Value::Object(outer));
        assert_eq!(
            String::from_utf8_lossy(&text),
            r#"{"a":null,"b":[{"a":"é\"\n","z":1}]}"#
        );
        // Still valid JSON that reads back to the same value.
        let back: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        assert_eq!(back["b"][0]["z"], 1);
    }

    #[test]
    fn digest_is_sha256_of_the_canonical_json() {
        // The SHA-256 of the empty string, a fixed point of the definition.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
