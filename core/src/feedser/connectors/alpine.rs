//! Alpine secdb connector (`v3.x/{main,community}.yaml`), normalised to OSV.
//!
//! Rules, decided here:
//! - One record per (release, package, fixed version): id
//!   `ALPINE-<distroversion>-<pkg>-<fixed>`, ecosystem `Alpine:<distroversion>` (the
//!   `v` kept, `Alpine:v3.10`), one ECOSYSTEM range `introduced "0"`, `fixed <version>`.
//! - The secfix key `0` means "never affected": the record keeps its aliases but has no
//!   `affected` entry (an entry without ranges would read as "every version"); the package
//!   is listed in `database_specific.not_affected`.
//! - Every repair is listed in the record's `database_specific.repairs` and counted by
//!   [`repair_counts`]: `.r2` → `-r2` (`release_dot`), a key without `-rN` is kept as
//!   written (`missing_release`), `CVE 2018-16859` → `CVE-2018-16859` (`cve_space`),
//!   `CVE-2017-8073.patch` → `CVE-2017-8073` (`cve_suffix`), one entry naming several ids
//!   (`CVE-2016-6258 XSA-182`) is split (`split_entry`). Non-CVE ids (`XSA-182`,
//!   `wnpa-sec-2017-18`) stay aliases as written.
//! - A secfix with no ids, a package without name, or an unreadable key is skipped with a
//!   reason; an empty `packages:` gives no records. A document over [`SecdbLimits`], not
//!   valid YAML, or without `distroversion` is an error (serde-saphyr's message carries the
//!   line and column).
//! - The secdb has no dates, so `modified` is left empty and `published` unset.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::{Value, json};

use crate::advisory::osv::{Affected, Event, OsvRecord, Package, Range, RangeType};
use crate::feedser::{ConnectorError, Parsed, Skipped, Source, SourceRecord};

const SOURCE: Source = Source::Alpine;

/// Resource limits for one secdb document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecdbLimits {
    /// Largest accepted document, in bytes (the largest real file is about 300 KiB).
    pub max_bytes: usize,
    /// Longest accepted line, in bytes.
    pub max_line_bytes: usize,
    /// Deepest YAML nesting accepted (the format nests 5 levels).
    pub max_depth: usize,
    /// Most secfix entries (fixed versions) in one document.
    pub max_entries: usize,
}

impl Default for SecdbLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
            max_depth: 16,
            max_entries: 1_000_000,
        }
    }
}

/// The document as read: unknown header keys (`archs`, `urlprefix`, ...) are ignored.
#[derive(Debug, Deserialize)]
struct SecDb {
    #[serde(default)]
    distroversion: Option<String>,
    #[serde(default)]
    reponame: Option<String>,
    #[serde(default)]
    packages: Option<Vec<PackageBlock>>,
}

#[derive(Debug, Deserialize)]
struct PackageBlock {
    #[serde(default)]
    pkg: Option<Pkg>,
}

#[derive(Debug, Deserialize)]
struct Pkg {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    secfixes: Option<Secfixes>,
}

/// `secfixes`, in document order (a map would sort `1.10` before `1.9`).
#[derive(Debug, Default)]
struct Secfixes(Vec<(String, Option<Vec<Option<String>>>)>);

impl<'de> Deserialize<'de> for Secfixes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Secfixes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of fixed version to a list of ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secfixes, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Option<Vec<Option<String>>>>()? {
                    out.push((k, v));
                }
                Ok(Secfixes(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn error(document: &str, reason: String) -> ConnectorError {
    ConnectorError {
        source_name: SOURCE.name(),
        document: document.to_owned(),
        reason,
    }
}

/// How many times each repair was made over the records of `parsed`.
pub fn repair_counts(parsed: &Parsed) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in &parsed.records {
        let repairs = r
            .record
            .database_specific
            .as_ref()
            .and_then(|d| d.get("repairs"))
            .and_then(Value::as_array);
        for repair in repairs.into_iter().flatten() {
            if let Some(kind) = repair.get("kind").and_then(Value::as_str) {
                *counts.entry(kind.to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// A secfix key made usable: the version, and the repairs made to it.
fn normalise_version(key: &str, repairs: &mut Vec<Value>) -> Option<String> {
    let key = key.trim();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    if has_release(key) {
        return Some(key.to_owned());
    }
    // `1.2.3.r2`: the release separator written as a dot.
    if let Some((base, rel)) = key.rsplit_once(".r")
        && !base.is_empty()
        && !rel.is_empty()
        && rel.bytes().all(|b| b.is_ascii_digit())
    {
        let fixed = format!("{base}-r{rel}");
        repairs.push(json!({ "kind": "release_dot", "from": key, "to": fixed }));
        return Some(fixed);
    }
    if key != "0" {
        repairs.push(json!({ "kind": "missing_release", "from": key, "to": key }));
    }
    Some(key.to_owned())
}

fn has_release(v: &str) -> bool {
    v.rsplit_once("-r")
        .is_some_and(|(base, rel)| !base.is_empty() && !rel.is_empty() && rel.bytes().all(|b| b.is_ascii_digit()))
}

/// `YYYY-NNNN…` (the part of a CVE id after `CVE-`).
fn is_cve_tail(s: &str) -> bool {
    match s.split_once('-') {
        Some((year, num)) => {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && num.len() >= 4
                && num.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Splits one secfix list entry into ids, repairing the spellings listed in the module docs.
fn entry_ids(entry: &str, repairs: &mut Vec<Value>) -> Vec<String> {
    let tokens: Vec<&str> = entry.split_whitespace().collect();
    let mut ids = Vec::new();
    let mut i = 0;
    while let Some(&token) = tokens.get(i) {
        i += 1;
        if token.eq_ignore_ascii_case("CVE")
            && let Some(&next) = tokens.get(i)
        {
            let tail = cve_prefix(next).unwrap_or(next);
            if is_cve_tail(tail) {
                i += 1;
                let id = format!("CVE-{tail}");
                repairs.push(json!({ "kind": "cve_space", "from": format!("{token} {next}"), "to": id }));
                if tail != next {
                    repairs.push(json!({ "kind": "cve_suffix", "from": next, "to": tail }));
                }
                ids.push(id);
                continue;
            }
        }
        if let Some(rest) = token.get(..4).filter(|p| p.eq_ignore_ascii_case("CVE-")).and(token.get(4..)) {
            if let Some(tail) = cve_prefix(rest)
                && tail != rest
            {
                let id = format!("CVE-{tail}");
                repairs.push(json!({ "kind": "cve_suffix", "from": token, "to": id }));
                ids.push(id);
                continue;
            }
            if is_cve_tail(rest) {
                ids.push(format!("CVE-{rest}"));
                continue;
            }
        }
        ids.push(token.to_owned());
    }
    if ids.len() > 1 {
        repairs.push(json!({ "kind": "split_entry", "from": entry, "to": ids }));
    }
    ids
}

/// The `YYYY-NNNN` at the start of `s` (after `CVE-`), when followed by junk like `.patch`.
fn cve_prefix(s: &str) -> Option<&str> {
    let year_end = 4;
    let year = s.get(..year_end)?;
    if !year.bytes().all(|b| b.is_ascii_digit()) || s.as_bytes().get(year_end) != Some(&b'-') {
        return None;
    }
    let digits = s
        .get(year_end + 1..)?
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    (digits >= 4).then(|| s.get(..year_end + 1 + digits)).flatten()
}

/// Reads one secdb document into one record per (package, fixed version).
pub fn parse_secdb(document: &str, bytes: &[u8]) -> Result<Parsed, ConnectorError> {
    parse_secdb_with_limits(document, bytes, &SecdbLimits::default())
}

/// [`parse_secdb`] with explicit limits.
pub fn parse_secdb_with_limits(
    document: &str,
    bytes: &[u8],
    limits: &SecdbLimits,
) -> Result<Parsed, ConnectorError> {
    if bytes.len() > limits.max_bytes {
        return Err(error(
            document,
            format!(
                "document is {} bytes, more than the limit of {}",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.len() > limits.max_line_bytes {
            return Err(error(
                document,
                format!(
                    "line {}: {} bytes, more than the limit of {}",
                    i + 1,
                    line.len(),
                    limits.max_line_bytes
                ),
            ));
        }
    }
    let mut options = serde_saphyr::Options::default();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.flow_nesting_limit = limits.max_depth;
    // Secdb files use neither anchors nor aliases; refusing them rules out alias bombs.
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_documents = 1;
    budget.max_reader_input_bytes = Some(limits.max_bytes);
    budget.max_total_scalar_bytes = limits.max_bytes;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 0;
    options.with_snippet = false;
    let db: SecDb = serde_saphyr::from_slice_with_options(bytes, options)
        .map_err(|e| error(document, format!("invalid secdb YAML: {e}")))?;
    let Some(release) = db
        .distroversion
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty() && !v.contains(char::is_whitespace))
    else {
        return Err(error(
            document,
            "no usable `distroversion` header, so no ecosystem to record".to_owned(),
        ));
    };
    let ecosystem = format!("Alpine:{release}");
    let reponame = db.reponame.clone();
    let mut parsed = Parsed::default();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut entries = 0usize;
    let skip = |parsed: &mut Parsed, location: String, reason: String| {
        parsed.skipped.push(Skipped {
            document: document.to_owned(),
            location,
            reason,
        });
    };
    for (index, block) in db.packages.unwrap_or_default().into_iter().enumerate() {
        let at = format!("packages[{index}]");
        let Some(pkg) = block.pkg else {
            skip(&mut parsed, at, "package block has no `pkg`".to_owned());
            continue;
        };
        let Some(name) = pkg.name.as_deref().map(str::trim).filter(|n| !n.is_empty() && !n.contains(char::is_whitespace)) else {
            skip(&mut parsed, at, "package has no usable `name`".to_owned());
            continue;
        };
        let Some(secfixes) = pkg.secfixes.filter(|s| !s.0.is_empty()) else {
            skip(&mut parsed, format!("{at} ({name})"), "package has no secfixes".to_owned());
            continue;
        };
        for (key, list) in secfixes.0 {
            entries += 1;
            if entries > limits.max_entries {
                return Err(error(
                    document,
                    format!("more than the limit of {} secfix entries", limits.max_entries),
                ));
            }
            let location = format!("{at}.secfixes[\"{key}\"] ({name})");
            let mut repairs = Vec::new();
            let Some(version) = normalise_version(&key, &mut repairs) else {
                skip(&mut parsed, location, format!("secfix key `{key}` is not a version"));
                continue;
            };
            let mut aliases: Vec<String> = Vec::new();
            for entry in list.into_iter().flatten().flatten() {
                for id in entry_ids(&entry, &mut repairs) {
                    if !aliases.contains(&id) {
                        aliases.push(id);
                    }
                }
            }
            if aliases.is_empty() {
                skip(&mut parsed, location, format!("secfix `{key}` lists no ids"));
                continue;
            }
            let id = format!("ALPINE-{release}-{name}-{version}");
            let mut db = serde_json::Map::new();
            if let Some(repo) = &reponame {
                db.insert("reponame".into(), json!(repo));
            }
            db.insert("secfix_key".into(), json!(key));
            if !repairs.is_empty() {
                db.insert("repairs".into(), Value::Array(repairs));
            }
            let affected = if version == "0" {
                db.insert(
                    "not_affected".into(),
                    json!([{ "ecosystem": ecosystem, "package": name }]),
                );
                Vec::new()
            } else {
                vec![Affected {
                    package: Some(Package {
                        ecosystem: ecosystem.clone(),
                        name: name.to_owned(),
                        purl: None,
                    }),
                    ranges: vec![Range {
                        kind: RangeType::Ecosystem,
                        repo: None,
                        events: vec![Event::Introduced("0".to_owned()), Event::Fixed(version.clone())],
                    }],
                    ..Affected::default()
                }]
            };
            if let Some(existing) = by_id.get(&id).and_then(|&i| parsed.records.get_mut(i)) {
                // Two keys that normalise to one version (`1.2-r2` and `1.2.r2`): one record.
                for alias in aliases {
                    if !existing.record.aliases.contains(&alias) {
                        existing.record.aliases.push(alias);
                    }
                }
                if let Some(Value::Object(mine)) = existing.record.database_specific.as_mut()
                    && let Some(Value::Array(more)) = db.remove("repairs")
                {
                    match mine.get_mut("repairs") {
                        Some(Value::Array(list)) => list.extend(more),
                        _ => {
                            mine.insert("repairs".into(), Value::Array(more));
                        }
                    }
                }
                existing.location.push_str(&format!(", {location}"));
                continue;
            }
            by_id.insert(id.clone(), parsed.records.len());
            parsed.records.push(SourceRecord {
                source: SOURCE,
                document: document.to_owned(),
                location,
                record: OsvRecord {
                    id,
                    aliases,
                    affected,
                    database_specific: Some(Value::Object(db)),
                    ..OsvRecord::default()
                },
            });
        }
    }
    Ok(parsed)
}
