//! The OSV record model (schema 1.x) and its JSON / PyPA-YAML readers.
//!
//! Reading rules, decided here:
//! - Unknown fields are ignored (the schema grows; `schema_version` may be absent).
//! - Unknown range types (anything but SEMVER/ECOSYSTEM/GIT) and event objects without
//!   exactly one of introduced/fixed/last_affected/limit are errors naming the path: dropping
//!   a range we cannot read could hide an affected version, so the record is refused instead.
//! - A range with no events and an empty `id` are errors (the schema requires both).
//! - Timestamps stay text; YAML 1.1 spellings that are not RFC 3339 are rewritten to RFC 3339
//!   UTC, other text (`0001-01-01T00:00:00Z` included) is kept as written.
//! - Sizes, nesting depth, `affected[]` and event counts are bounded by [`OsvLimits`]; YAML
//!   anchors/aliases are refused outright.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// One OSV advisory record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OsvRecord {
    /// Advisory id (`GHSA-…`, `PYSEC-…`, `GO-…`, `RUSTSEC-…`).
    pub id: String,
    /// RFC 3339 time of last modification (kept as text: some sources write `0001-01-01`).
    #[serde(default)]
    pub modified: String,
    /// RFC 3339 publication time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// RFC 3339 withdrawal time; a withdrawn record no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Other ids for the same vulnerability.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Ids of related but distinct vulnerabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Long description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Record-level severities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityEntry>,
    /// Affected packages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Affected>,
    /// References.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Source-specific data (GHSA puts `severity` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// An OSV `severity[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityEntry {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or score text.
    pub score: String,
}

/// An OSV `references[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `WEB`, `FIX`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The URL.
    #[serde(default)]
    pub url: String,
}

/// One `affected[]` entry: a package and the versions of it that are affected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The affected package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
    /// Per-package severities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityEntry>,
    /// Version ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Explicitly enumerated affected versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Ecosystem-specific data (symbols, Debian urgency, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// The package an `affected[]` entry is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// OSV ecosystem (`PyPI`, `Debian:12`, ...).
    #[serde(default)]
    pub ecosystem: String,
    /// Package name as the ecosystem spells it.
    #[serde(default)]
    pub name: String,
    /// Package URL, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// Kind of an OSV range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeType {
    /// Versions ordered by SemVer 2.0.
    #[serde(rename = "SEMVER")]
    Semver,
    /// Versions ordered by the package's ecosystem.
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Git commits (never matched against package versions).
    #[serde(rename = "GIT")]
    Git,
}

/// One `ranges[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// How versions in `events` are ordered.
    #[serde(rename = "type")]
    pub kind: RangeType,
    /// Repository, for GIT ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The events, in record order (the order of equal versions matters).
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One range event.
///
/// Deserialized by hand (`EventVisitor`) so that an event object with zero, two or an
/// unknown key is rejected with a message naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Versions from here on are affected (`"0"` means from the beginning).
    Introduced(String),
    /// Versions from here on are not affected.
    Fixed(String),
    /// This version and below (to the last introduced) are affected.
    LastAffected(String),
    /// Upper bound on the range, exclusive.
    Limit(String),
}

impl Event {
    /// The event's version (or commit) text.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// The event keys OSV defines, in the order the schema lists them.
const EVENT_KEYS: [&str; 4] = ["introduced", "fixed", "last_affected", "limit"];

/// Visitor for [`Event`]: a map with exactly one known key whose value is a string.
struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object with exactly one of introduced/fixed/last_affected/limit")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut event: Option<Event> = None;
        while let Some(key) = map.next_key::<String>()? {
            let make: fn(String) -> Event = match key.as_str() {
                "introduced" => Event::Introduced,
                "fixed" => Event::Fixed,
                "last_affected" => Event::LastAffected,
                "limit" => Event::Limit,
                other => return Err(de::Error::unknown_field(other, &EVENT_KEYS)),
            };
            if event.is_some() {
                return Err(de::Error::custom(format!(
                    "event has more than one key (second key `{key}`); exactly one of introduced/fixed/last_affected/limit is allowed"
                )));
            }
            event = Some(make(map.next_value::<String>()?));
        }
        event.ok_or_else(|| {
            de::Error::custom("empty event object; exactly one of introduced/fixed/last_affected/limit is required")
        })
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

/// Resource limits applied while reading one OSV document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsvLimits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays/objects (mappings/sequences in YAML).
    pub max_depth: usize,
    /// Most `affected[]` entries in one record.
    pub max_affected: usize,
    /// Most range events in one record (summed over all affected entries and ranges).
    pub max_events: usize,
}

impl Default for OsvLimits {
    fn default() -> Self {
        // Real records are far below these: the largest PyPA/GHSA records are ~100 KiB,
        // nest 6 levels and carry a few hundred events.
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 64,
            max_affected: 10_000,
            max_events: 100_000,
        }
    }
}

/// Why an OSV document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    /// The document is larger than [`OsvLimits::max_bytes`].
    #[error("document is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Document size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Nesting deeper than [`OsvLimits::max_depth`].
    #[error("document nests deeper than the limit of {limit}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// More entries of some kind than a limit allows.
    #[error("{what}: {count} exceeds the limit of {limit}")]
    TooMany {
        /// What was counted (`affected`, `events`).
        what: &'static str,
        /// How many were found (or counted before stopping).
        count: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The JSON text is malformed or does not fit the OSV model.
    #[error("invalid OSV JSON at `{path}`: {reason}")]
    Json {
        /// JSON path of the offending element (`.` for the root).
        path: String,
        /// What was wrong, with line/column.
        reason: String,
    },
    /// The YAML text is malformed, over budget, or does not fit the OSV model.
    #[error("invalid OSV YAML at `{path}`: {reason}")]
    Yaml {
        /// Path of the offending element (`.` for the root).
        path: String,
        /// What was wrong, with line/column where known.
        reason: String,
    },
    /// The document parsed but breaks an OSV rule.
    #[error("invalid OSV record at `{path}`: {reason}")]
    Invalid {
        /// JSON path of the offending element.
        path: String,
        /// The rule that was broken.
        reason: String,
    },
    /// [`parse_file_bytes`] was given a name with no known extension.
    #[error("cannot tell the format of `{name}`: expected .json, .yaml or .yml")]
    UnknownFormat {
        /// The file name given.
        name: String,
    },
}

/// Reads one OSV record from JSON.
///
/// Unknown fields are ignored (the schema grows); unknown range types and event keys are
/// errors, because silently dropping a range could hide an affected version.
pub fn parse_json(bytes: &[u8], limits: &OsvLimits) -> Result<OsvRecord, OsvError> {
    check_size(bytes, limits)?;
    if crate::json_depth::exceeds(bytes, limits.max_depth) {
        return Err(OsvError::TooDeep {
            limit: limits.max_depth,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut record: OsvRecord =
        serde_path_to_error::deserialize(&mut de).map_err(|e| OsvError::Json {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })?;
    de.end().map_err(|e| OsvError::Json {
        path: ".".to_owned(),
        reason: e.to_string(),
    })?;
    validate(&record, limits)?;
    normalize_timestamps(&mut record);
    Ok(record)
}

/// serde-saphyr options for untrusted single-document YAML: depth and size
/// budgets, and no anchors or aliases (the way to a memory bomb; advisory formats
/// have no use for them).
pub(crate) fn strict_yaml_options(max_depth: usize, max_bytes: usize) -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = max_depth;
    budget.flow_nesting_limit = max_depth;
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_documents = 1;
    budget.max_reader_input_bytes = Some(max_bytes);
    budget.max_total_scalar_bytes = max_bytes;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 0;
    options.with_snippet = false;
    options
}

/// Reads one OSV record from YAML (PyPA's advisory-database encoding).
///
/// Scalars are read as the text written, so an unquoted `published: 2021-09-01T16:15:00Z`
/// (a YAML 1.1 timestamp) or `fixed: 1.10` keeps its exact spelling. Anchors and aliases are
/// rejected: OSV YAML has no use for them and they are the way to a memory bomb.
pub fn parse_yaml(bytes: &[u8], limits: &OsvLimits) -> Result<OsvRecord, OsvError> {
    check_size(bytes, limits)?;
    let options = strict_yaml_options(limits.max_depth, limits.max_bytes);
    let mut path: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_slice_with_options(bytes, options, |de| {
        serde_path_to_error::deserialize::<_, OsvRecord>(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    let mut record = result.map_err(|e| OsvError::Yaml {
        path: path.unwrap_or_else(|| ".".to_owned()),
        reason: e.to_string(),
    })?;
    validate(&record, limits)?;
    normalize_timestamps(&mut record);
    Ok(record)
}

/// Reads one OSV record, choosing JSON or YAML by the file name's extension.
pub fn parse_file_bytes(
    name: &str,
    bytes: &[u8],
    limits: &OsvLimits,
) -> Result<OsvRecord, OsvError> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        parse_json(bytes, limits)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        parse_yaml(bytes, limits)
    } else {
        Err(OsvError::UnknownFormat {
            name: name.to_owned(),
        })
    }
}

fn check_size(bytes: &[u8], limits: &OsvLimits) -> Result<(), OsvError> {
    if bytes.len() > limits.max_bytes {
        return Err(OsvError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Rewrites a YAML 1.1 timestamp that is not RFC 3339 (`2021-09-01 16:15:00`,
/// `2021-09-01T16:15:00`, `2021-09-01`) as RFC 3339 in UTC; anything else is left alone.
///
/// PyPA's YAML is written by a YAML 1.1 dumper, which may use those spellings for unquoted
/// timestamps; a naive time is taken as UTC, as YAML 1.1 specifies.
fn normalize_timestamp(text: &mut String) {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
    let t = text.trim();
    if t.is_empty() || DateTime::parse_from_rfc3339(t).is_ok() {
        return;
    }
    // YAML 1.1 allows a space (or tab) separator; RFC 3339 wants `T`.
    let joined = match t.split_once([' ', '\t']) {
        Some((date, time)) if !date.contains(':') => format!("{date}T{}", time.trim_start()),
        _ => t.to_owned(),
    };
    let normalized = if let Ok(dt) = DateTime::parse_from_str(&joined, "%Y-%m-%dT%H:%M:%S%.f%#z") {
        Some(dt.with_timezone(&Utc))
    } else if let Ok(naive) = NaiveDateTime::parse_from_str(&joined, "%Y-%m-%dT%H:%M:%S%.f") {
        Some(naive.and_utc())
    } else {
        NaiveDate::parse_from_str(&joined, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|naive| naive.and_utc())
    };
    if let Some(dt) = normalized {
        *text = dt.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    }
}

/// Brings the record's timestamps to RFC 3339 where they are recognisable YAML timestamps.
fn normalize_timestamps(record: &mut OsvRecord) {
    normalize_timestamp(&mut record.modified);
    for ts in [&mut record.published, &mut record.withdrawn]
        .into_iter()
        .flatten()
    {
        normalize_timestamp(ts);
    }
}

/// Checks the rules serde cannot express: a non-empty id and the count limits.
fn validate(record: &OsvRecord, limits: &OsvLimits) -> Result<(), OsvError> {
    if record.id.trim().is_empty() {
        return Err(OsvError::Invalid {
            path: "id".to_owned(),
            reason: "the id is empty".to_owned(),
        });
    }
    if record.affected.len() > limits.max_affected {
        return Err(OsvError::TooMany {
            what: "affected entries",
            count: record.affected.len(),
            limit: limits.max_affected,
        });
    }
    let events: usize = record
        .affected
        .iter()
        .flat_map(|a| a.ranges.iter())
        .map(|r| r.events.len())
        .sum();
    if events > limits.max_events {
        return Err(OsvError::TooMany {
            what: "range events",
            count: events,
            limit: limits.max_events,
        });
    }
    for (i, affected) in record.affected.iter().enumerate() {
        for (j, range) in affected.ranges.iter().enumerate() {
            if range.events.is_empty() {
                return Err(OsvError::Invalid {
                    path: format!("affected[{i}].ranges[{j}].events"),
                    reason: "a range needs at least one event".to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(text: &str) -> Result<OsvRecord, OsvError> {
        parse_json(text.as_bytes(), &OsvLimits::default())
    }

    fn yaml(text: &str) -> Result<OsvRecord, OsvError> {
        parse_yaml(text.as_bytes(), &OsvLimits::default())
    }

    /// A record with one ECOSYSTEM range whose events are `events` (JSON text).
    fn with_events(events: &str) -> String {
        format!(
            r#"{{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"PyPI","name":"p"}},"ranges":[{{"type":"ECOSYSTEM","events":[{events}]}}]}}]}}"#
        )
    }

    #[test]
    fn minimal_record_and_format_traps() {
        let r = json(
            r#"{"id":"GHSA-1","modified":"2024-01-01T00:00:00Z","severity":[],
                "future_field":{"x":[1,2]},
                "database_specific":{"nvd_published_at":null,"severity":"HIGH"},
                "affected":[{"package":{"ecosystem":"Go","name":"m"},
                  "ranges":[{"type":"GIT","repo":"https://g/r","events":[{"introduced":"0"},{"fixed":"abc"}]}]}]}"#,
        )
        .expect("parses");
        assert_eq!(r.id, "GHSA-1");
        assert!(r.severity.is_empty());
        let range = &r.affected[0].ranges[0];
        assert_eq!(
            (range.kind, range.repo.as_deref()),
            (RangeType::Git, Some("https://g/r"))
        );
        assert_eq!(range.events[1], Event::Fixed("abc".into()));
        assert_eq!(
            r.database_specific
                .as_ref()
                .map(|d| d["nvd_published_at"].is_null()),
            Some(true)
        );
    }

    #[test]
    fn yaml_scalars_keep_their_spelling() {
        let r = yaml(
            "id: PYSEC-1\nmodified: 2021-09-01T16:15:00Z\npublished: 0001-01-01T00:00:00Z\n\
             unknown_key: [1, 2]\naffected:\n- package: {ecosystem: PyPI, name: p}\n  ranges:\n  \
             - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.10\n  versions:\n  - 1.0\n  - 2019-09-12\n",
        )
        .expect("parses");
        assert_eq!(r.modified, "2021-09-01T16:15:00Z");
        assert_eq!(r.published.as_deref(), Some("0001-01-01T00:00:00Z"));
        let a = &r.affected[0];
        assert_eq!(
            a.ranges[0].events,
            vec![Event::Introduced("0".into()), Event::Fixed("1.10".into())]
        );
        assert_eq!(a.versions, vec!["1.0", "2019-09-12"]);
    }

    #[test]
    fn yaml_1_1_timestamp_spellings_become_rfc3339() {
        let table = [
            ("2021-09-01T16:15:00Z", "2021-09-01T16:15:00Z"),
            ("2023-09-28T10:29:02.604249Z", "2023-09-28T10:29:02.604249Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
            ("2021-09-01 16:15:00", "2021-09-01T16:15:00Z"),
            ("2021-09-01T16:15:00", "2021-09-01T16:15:00Z"),
            ("2021-09-01 16:15:00.5 +02:00", "2021-09-01T14:15:00.500Z"),
            ("2021-09-01", "2021-09-01T00:00:00Z"),
            ("not a date", "not a date"),
        ];
        for (input, expected) in table {
            let r =
                yaml(&format!("id: X\nmodified: {input}\npublished: '{input}'\n")).expect(input);
            assert_eq!(r.modified, expected, "{input}");
            assert_eq!(r.published.as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn bad_events_are_errors_naming_the_path() {
        let cases = [
            (r#"{"introduced":"0"},{"bogus":"1"}"#, "bogus"),
            (r#"{"introduced":"0","fixed":"1"}"#, "more than one key"),
            (r#"{}"#, "empty event"),
            (r#"{"fixed":1}"#, "invalid type"),
        ];
        for (events, needle) in cases {
            match json(&with_events(events)) {
                Err(OsvError::Json { path, reason }) => {
                    assert!(
                        path.starts_with("affected[0].ranges[0].events["),
                        "{events}: {path}"
                    );
                    assert!(reason.contains(needle), "{events}: {reason}");
                }
                other => panic!("{events}: {other:?}"),
            }
        }
        match json(&with_events("")) {
            Err(OsvError::Invalid { path, .. }) => {
                assert_eq!(path, "affected[0].ranges[0].events")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_range_type_is_an_error() {
        let text = with_events(r#"{"introduced":"0"}"#).replace("ECOSYSTEM", "DATE");
        match json(&text) {
            Err(OsvError::Json { path, reason }) => {
                assert_eq!(path, "affected[0].ranges[0].type");
                assert!(reason.contains("DATE"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let y = "id: X\naffected:\n- ranges:\n  - type: DATE\n    events:\n    - introduced: '0'\n";
        match yaml(y) {
            Err(OsvError::Yaml { path, .. }) => assert_eq!(path, "affected[0].ranges[0].type"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn id_is_required_and_non_empty() {
        assert!(matches!(
            json(r#"{"id":"  ","modified":"x"}"#),
            Err(OsvError::Invalid { path, .. }) if path == "id"
        ));
        assert!(matches!(
            json(r#"{"modified":"x"}"#),
            Err(OsvError::Json { reason, .. }) if reason.contains("missing field `id`")
        ));
        assert!(matches!(yaml("modified: x\n"), Err(OsvError::Yaml { .. })));
        assert!(matches!(yaml("id: ''\n"), Err(OsvError::Invalid { .. })));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for text in [
            "",
            "[]",
            "{",
            r#"{"id":"X"} trailing"#,
            "null",
            r#"{"id":5}"#,
        ] {
            assert!(json(text).is_err(), "{text:?}");
        }
        for text in [
            "",
            "- a\n- b\n",
            "id: [unclosed\n",
            "id: X\n---\nid: Y\n",
            "\u{0}",
        ] {
            assert!(yaml(text).is_err(), "{text:?}");
        }
        assert!(parse_yaml(b"id: \xff\xfe\n", &OsvLimits::default()).is_err());
    }

    #[test]
    fn yaml_aliases_are_rejected() {
        let text = "id: X\naliases: &a [CVE-1]\nrelated: *a\n";
        match yaml(text) {
            Err(OsvError::Yaml { reason, .. }) => {
                assert!(
                    reason.to_lowercase().contains("alias")
                        || reason.to_lowercase().contains("anchor"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The same document without the alias parses.
        assert!(yaml("id: X\naliases: [CVE-1]\nrelated: [CVE-1]\n").is_ok());
    }

    #[test]
    fn limits_are_enforced() {
        let small = OsvLimits {
            max_bytes: 64,
            ..OsvLimits::default()
        };
        let long = with_events(r#"{"introduced":"0"}"#);
        assert!(matches!(
            parse_json(long.as_bytes(), &small),
            Err(OsvError::TooLarge { limit: 64, .. })
        ));
        let deep = format!(
            r#"{{"id":"X","database_specific":{}1{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(matches!(json(&deep), Err(OsvError::TooDeep { limit: 64 })));
        // Brackets inside strings do not count as nesting.
        let quoted = format!(r#"{{"id":"X","summary":"{}"}}"#, "[".repeat(100));
        assert!(json(&quoted).is_ok());
        let deep_yaml = format!(
            "id: X\ndatabase_specific: {}1{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        match yaml(&deep_yaml) {
            Err(OsvError::Yaml { reason, .. }) => {
                assert!(
                    reason.contains("recursion limit") || reason.contains("depth"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The YAML depth bound is ours, not the parser's built-in one.
        let shallow = OsvLimits {
            max_depth: 8,
            ..OsvLimits::default()
        };
        let nested = |n: usize| {
            format!(
                "id: X\ndatabase_specific: {}1{}\n",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(parse_yaml(nested(5).as_bytes(), &shallow).is_ok());
        assert!(parse_yaml(nested(12).as_bytes(), &shallow).is_err());
        assert!(
            parse_json(
                nested(12)
                    .replace(
                        "id: X\ndatabase_specific: ",
                        "{\"id\":\"X\",\"database_specific\":"
                    )
                    .replace("]\n", "]}")
                    .as_bytes(),
                &shallow
            )
            .is_err()
        );
        let few_events = OsvLimits {
            max_events: 1,
            ..OsvLimits::default()
        };
        let two = with_events(r#"{"introduced":"0"},{"fixed":"1"}"#);
        assert!(matches!(
            parse_json(two.as_bytes(), &few_events),
            Err(OsvError::TooMany {
                count: 2,
                limit: 1,
                ..
            })
        ));
        let few_affected = OsvLimits {
            max_affected: 0,
            ..OsvLimits::default()
        };
        assert!(matches!(
            parse_json(two.as_bytes(), &few_affected),
            Err(OsvError::TooMany {
                count: 1,
                limit: 0,
                ..
            })
        ));
    }

    #[test]
    fn file_format_follows_the_extension() {
        let limits = OsvLimits::default();
        assert!(parse_file_bytes("a.json", br#"{"id":"X"}"#, &limits).is_ok());
        assert!(parse_file_bytes("A.YML", b"id: X\n", &limits).is_ok());
        assert!(parse_file_bytes("a.yaml", b"id: X\n", &limits).is_ok());
        assert!(matches!(
            parse_file_bytes("a.toml", b"id = 'X'", &limits),
            Err(OsvError::UnknownFormat { .. })
        ));
        // JSON is valid YAML, but a .json name must be strict JSON.
        assert!(parse_file_bytes("a.json", b"id: X\n", &limits).is_err());
    }

    /// A few real records to mutate: two JSON, one YAML.
    fn seeds() -> Vec<(bool, Vec<u8>)> {
        let root = crate::testdata::dir().join("feeds-sample");
        [
            (true, "ghsa/GHSA-hrpp-h998-j3pp.json"),
            (true, "osv-go/GO-2022-0344.json"),
            (false, "osv-pypi/pydash/PYSEC-2023-179.yaml"),
        ]
        .into_iter()
        .map(|(is_json, p)| {
            let bytes = std::fs::read(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
            (is_json, bytes)
        })
        .collect()
    }

    #[test]
    fn mutation_seeds_parse_unmutated() {
        for (is_json, bytes) in seeds() {
            let limits = OsvLimits::default();
            let r = if is_json {
                parse_json(&bytes, &limits)
            } else {
                parse_yaml(&bytes, &limits)
            };
            assert!(r.is_ok(), "{r:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_json(&bytes, &OsvLimits::default());
            let _ = parse_yaml(&bytes, &OsvLimits::default());
        }

        #[test]
        fn parsers_never_panic_on_mutated_records(
            seed in 0usize..3,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
        ) {
            let seeds = seeds();
            let Some((is_json, original)) = seeds.get(seed) else { return Ok(()) };
            let mut bytes = original.clone();
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    2 => { bytes.remove(i); }
                    _ => bytes.truncate(i),
                }
            }
            let limits = OsvLimits::default();
            let _ = if *is_json { parse_json(&bytes, &limits) } else { parse_yaml(&bytes, &limits) };
        }
    }
}
