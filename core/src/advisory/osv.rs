//! The OSV record model (schema 1.x) and its JSON / PyPA-YAML readers.

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
/// Deserialized by hand (see [`EventVisitor`]) so that an event object with zero, two or an
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
    check_json_depth(bytes, limits.max_depth)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let record: OsvRecord =
        serde_path_to_error::deserialize(&mut de).map_err(|e| OsvError::Json {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })?;
    de.end().map_err(|e| OsvError::Json {
        path: ".".to_owned(),
        reason: e.to_string(),
    })?;
    validate(&record, limits)?;
    Ok(record)
}

/// Reads one OSV record from YAML (PyPA's advisory-database encoding).
///
/// Scalars are read as the text written, so an unquoted `published: 2021-09-01T16:15:00Z`
/// (a YAML 1.1 timestamp) or `fixed: 1.10` keeps its exact spelling. Anchors and aliases are
/// rejected: OSV YAML has no use for them and they are the way to a memory bomb.
pub fn parse_yaml(bytes: &[u8], limits: &OsvLimits) -> Result<OsvRecord, OsvError> {
    check_size(bytes, limits)?;
    let mut options = serde_saphyr::Options::default();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.flow_nesting_limit = limits.max_depth;
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_documents = 1;
    budget.max_reader_input_bytes = Some(limits.max_bytes);
    budget.max_total_scalar_bytes = limits.max_bytes;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 0;
    options.with_snippet = false;
    let mut path: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_slice_with_options(bytes, options, |de| {
        serde_path_to_error::deserialize::<_, OsvRecord>(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    let record = result.map_err(|e| OsvError::Yaml {
        path: path.unwrap_or_else(|| ".".to_owned()),
        reason: e.to_string(),
    })?;
    validate(&record, limits)?;
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

/// Measures JSON nesting before parsing, so that depth is bounded by our limit rather than
/// by serde_json's internal recursion guard. Only brackets outside strings count.
fn check_json_depth(bytes: &[u8], max_depth: usize) -> Result<(), OsvError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(OsvError::TooDeep { limit: max_depth });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
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
