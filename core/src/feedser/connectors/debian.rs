//! Debian security tracker connector: `data/DSA/list`, `data/DLA/list` and the
//! tracker's JSON export, normalised to OSV.
//!
//! Rules, decided here:
//! - One record per DSA/DLA id. The id is kept as written (`DSA-418` has no revision).
//!   An id that occurs twice in a list (a re-issued advisory) is merged into one record:
//!   aliases and affected entries are unioned, the first header's date and summary win,
//!   and `database_specific.header_lines` lists every header line, so ids stay unique and
//!   both occurrences remain traceable. The location then names every line.
//! - One `affected` entry per (package, release): ecosystem `Debian:<number>` (codename map
//!   below), one ECOSYSTEM range `introduced "0"`, `fixed <version>`.
//! - `<not-affected>` gives no affected entry; it is listed in
//!   `database_specific.not_affected`. `<unfixed>`, `<end-of-life>` and the other
//!   markers (`<no-dsa>`, `<ignored>`, `<postponed>`, `<removed>`) give `introduced "0"`
//!   with no fix, flagged in the entry's `database_specific.status`: a release without a
//!   fix stays affected, the conservative reading.
//! - A release codename we cannot number (`sid`, a typo) gives no affected entry; it is
//!   listed in `database_specific.unknown_releases`.
//! - A package line without `[release]` in a DLA entry applies to the release in Debian LTS
//!   on the entry's date ([`lts_release_on`]); in a DSA entry it is listed as unknown.
//! - Urgency suffixes `(medium)` go to `ecosystem_specific.urgency`; other parenthesised
//!   trailers are kept as `database_specific.note`. `NOTE:` lines go to
//!   `database_specific.notes`; unrecognised lines to `database_specific.unrecognised_lines`.
//! - An entry with no package line at all, or whose header cannot be read, is skipped
//!   with a reason. Size, line length and entry count over [`TrackerLimits`], or bytes that
//!   are not UTF-8, make the whole document an error naming the line.
//! - Tracker JSON: one record per CVE, id `DEBIAN-CVE-…` (so it never clashes with the
//!   NVD record `CVE-…`) with the CVE as alias; `fixed_version "0"` means not affected.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::advisory::osv::{Affected, Event, OsvRecord, Package, Range, RangeType};
use crate::feedser::{ConnectorError, Parsed, Skipped, Source, SourceRecord};

const SOURCE: Source = Source::Debian;

/// Which tracker list a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `data/DSA/list`: Debian Security Advisories.
    Dsa,
    /// `data/DLA/list`: Debian LTS Advisories.
    Dla,
}

impl ListKind {
    /// The advisory id prefix (`DSA`, `DLA`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Dsa => "DSA",
            Self::Dla => "DLA",
        }
    }
}

/// Resource limits for one tracker document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerLimits {
    /// Largest accepted document, in bytes (the full DSA list is about 2.5 MB).
    pub max_bytes: usize,
    /// Longest accepted line, in bytes (the longest real CVE line is a few KiB).
    pub max_line_bytes: usize,
    /// Most entries (headers) in one list, or CVEs in one JSON export.
    pub max_entries: usize,
    /// Deepest JSON nesting accepted (the export nests 5 levels).
    pub max_depth: usize,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
            max_entries: 1_000_000,
            max_depth: 32,
        }
    }
}

/// The OSV version number of a Debian release codename (`bullseye` → `11`).
pub fn codename_version(codename: &str) -> Option<&'static str> {
    crate::ecosystem::debian_codename(codename)
}

/// The release in Debian LTS on `date`, for DLA package lines without `[release]`.
///
/// Rule: each LTS period runs until the next one starts; the boundaries are the first of
/// the month the next LTS team took over (squeeze until 2016-05, wheezy until 2018-06,
/// jessie until 2020-07, stretch until 2022-07, buster until 2024-07, bullseye until
/// 2026-07, bookworm after). Dates before LTS existed (2014-06) have no LTS release.
pub fn lts_release_on(date: NaiveDate) -> Option<&'static str> {
    let cutoffs = [
        ((2014, 6), None),
        ((2016, 5), Some("squeeze")),
        ((2018, 6), Some("wheezy")),
        ((2020, 7), Some("jessie")),
        ((2022, 7), Some("stretch")),
        ((2024, 7), Some("buster")),
        ((2026, 7), Some("bullseye")),
    ];
    for ((y, m), release) in cutoffs {
        let until = NaiveDate::from_ymd_opt(y, m, 1)?;
        if date < until {
            return release;
        }
    }
    Some("bookworm")
}

/// Urgency words the tracker writes in parentheses after a version.
fn is_urgency(text: &str) -> bool {
    let word = text.trim_end_matches('*');
    matches!(
        word,
        "unimportant" | "low" | "medium" | "high" | "critical" | "not yet assigned"
    )
}

fn error(document: &str, reason: String) -> ConnectorError {
    ConnectorError::new(SOURCE, document, reason)
}

/// Decodes UTF-8, naming the line of the first bad byte.
fn decode<'a>(document: &str, bytes: &'a [u8]) -> Result<&'a str, ConnectorError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        error(
            document,
            format!("line {line}: not UTF-8 (byte offset {})", e.valid_up_to()),
        )
    })
}

/// One package line of an entry, as read.
#[derive(Debug, Clone)]
struct PackageLine {
    line: usize,
    release: Option<String>,
    release_inferred: bool,
    package: String,
    /// The version, or the marker without brackets (`not-affected`).
    value: String,
    marker: bool,
    urgency: Option<String>,
    note: Option<String>,
}

/// One entry under construction.
#[derive(Debug)]
struct Entry {
    id: String,
    header_line: usize,
    date: NaiveDate,
    summary: Option<String>,
    aliases: Vec<String>,
    packages: Vec<PackageLine>,
    notes: Vec<String>,
    unrecognised: Vec<(usize, String)>,
    last_line: usize,
}

/// Reads a `[DD Mon YYYY] ID pkg - summary` header; `Err` says why not.
fn parse_header(line: &str, kind: ListKind) -> Result<(NaiveDate, String, Option<String>), String> {
    let rest = line
        .strip_prefix('[')
        .ok_or_else(|| "header does not start with `[`".to_owned())?;
    let (date_text, rest) = rest
        .split_once(']')
        .ok_or_else(|| "header date has no closing `]`".to_owned())?;
    let date = NaiveDate::parse_from_str(date_text.trim(), "%d %b %Y")
        .map_err(|e| format!("header date `{date_text}` is not `DD Mon YYYY`: {e}"))?;
    let rest = rest.trim();
    let (id, summary) = match rest.split_once(char::is_whitespace) {
        Some((id, summary)) => (id, summary.trim()),
        None => (rest, ""),
    };
    let number = id
        .strip_prefix(kind.prefix())
        .and_then(|r| r.strip_prefix('-'))
        .ok_or_else(|| format!("id `{id}` is not a {} id", kind.prefix()))?;
    let well_formed = number
        .split('-')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        && number.split('-').count() <= 2;
    if !well_formed {
        return Err(format!(
            "id `{id}` is not {}-NNNN or {}-NNNN-N",
            kind.prefix(),
            kind.prefix()
        ));
    }
    let summary = (!summary.is_empty()).then(|| summary.to_owned());
    Ok((date, id.to_owned(), summary))
}

/// Reads `[release] - pkg version (trailer)` or `- pkg version` (already trimmed).
fn parse_package_line(text: &str, line: usize) -> Option<PackageLine> {
    let (release, rest) = if let Some(r) = text.strip_prefix('[') {
        let (release, rest) = r.split_once(']')?;
        (Some(release.trim().to_owned()), rest.trim_start())
    } else {
        (None, text)
    };
    let rest = rest.strip_prefix('-')?.trim_start();
    let mut parts = rest.splitn(3, char::is_whitespace);
    let package = parts.next().filter(|p| !p.is_empty())?.to_owned();
    let value = parts.next().map(str::trim).filter(|v| !v.is_empty())?;
    let trailer = parts.next().map(str::trim).unwrap_or_default();
    let (value, marker) = match value.strip_prefix('<').and_then(|v| v.strip_suffix('>')) {
        Some(m) if !m.is_empty() => (m.to_owned(), true),
        Some(_) => return None,
        None => (value.to_owned(), false),
    };
    let mut urgency = None;
    let mut note = None;
    if !trailer.is_empty() {
        match trailer.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            Some(inner) if is_urgency(inner.trim()) => urgency = Some(inner.trim().to_owned()),
            Some(inner) => note = Some(inner.trim().to_owned()),
            None => note = Some(trailer.to_owned()),
        }
    }
    if release.as_deref() == Some("") {
        return None;
    }
    Some(PackageLine {
        line,
        release,
        release_inferred: false,
        package,
        value,
        marker,
        urgency,
        note,
    })
}

/// Reads one tracker list (`data/DSA/list` or `data/DLA/list`) into one record per id.
pub fn parse_tracker_list(
    document: &str,
    bytes: &[u8],
    kind: ListKind,
) -> Result<Parsed, ConnectorError> {
    parse_tracker_list_with_limits(document, bytes, kind, &TrackerLimits::default())
}

/// [`parse_tracker_list`] with explicit limits.
pub fn parse_tracker_list_with_limits(
    document: &str,
    bytes: &[u8],
    kind: ListKind,
    limits: &TrackerLimits,
) -> Result<Parsed, ConnectorError> {
    crate::feedser::check_size(SOURCE, document, bytes, limits.max_bytes)?;
    let text = decode(document, bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parsed = Parsed::default();
    let mut entries: Vec<Entry> = Vec::new();
    let mut current: Option<Entry> = None;
    // True while inside an entry whose header was skipped: its body lines go with it.
    let mut in_skipped = false;
    let mut headers = 0usize;
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        if raw.len() > limits.max_line_bytes {
            return Err(error(
                document,
                format!(
                    "line {line_no}: {} bytes, more than the limit of {}",
                    raw.len(),
                    limits.max_line_bytes
                ),
            ));
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if !indented {
            entries.extend(current.take());
            in_skipped = false;
            headers += 1;
            if headers > limits.max_entries {
                return Err(error(
                    document,
                    format!(
                        "line {line_no}: more than the limit of {} entries",
                        limits.max_entries
                    ),
                ));
            }
            match parse_header(trimmed, kind) {
                Ok((date, id, summary)) => {
                    current = Some(Entry {
                        id,
                        header_line: line_no,
                        date,
                        summary,
                        aliases: Vec::new(),
                        packages: Vec::new(),
                        notes: Vec::new(),
                        unrecognised: Vec::new(),
                        last_line: line_no,
                    });
                }
                Err(reason) => {
                    in_skipped = true;
                    parsed.skipped.push(Skipped {
                        document: document.to_owned(),
                        location: format!("line {line_no}"),
                        reason: format!("unreadable entry header: {reason}"),
                    });
                }
            }
            continue;
        }
        let Some(entry) = current.as_mut() else {
            if !in_skipped {
                parsed.skipped.push(Skipped {
                    document: document.to_owned(),
                    location: format!("line {line_no}"),
                    reason: "indented line before any entry header".to_owned(),
                });
            }
            continue;
        };
        entry.last_line = line_no;
        if let Some(inner) = trimmed.strip_prefix('{') {
            match inner.strip_suffix('}') {
                Some(list) => {
                    for id in list.split_whitespace() {
                        if !entry.aliases.iter().any(|a| a == id) {
                            entry.aliases.push(id.to_owned());
                        }
                    }
                }
                None => entry.unrecognised.push((line_no, trimmed.to_owned())),
            }
        } else if let Some(note) = trimmed.strip_prefix("NOTE:") {
            entry.notes.push(note.trim().to_owned());
        } else if trimmed.starts_with('[') || trimmed.starts_with('-') {
            match parse_package_line(trimmed, line_no) {
                Some(mut p) => {
                    if p.release.is_none() && kind == ListKind::Dla {
                        p.release = lts_release_on(entry.date).map(str::to_owned);
                        p.release_inferred = p.release.is_some();
                    }
                    entry.packages.push(p);
                }
                None => entry.unrecognised.push((line_no, trimmed.to_owned())),
            }
        } else {
            entry.unrecognised.push((line_no, trimmed.to_owned()));
        }
    }
    entries.extend(current.take());

    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for entry in entries {
        if entry.packages.is_empty() {
            parsed.skipped.push(Skipped {
                document: document.to_owned(),
                location: format!("{} (line {})", entry.id, entry.header_line),
                reason: "entry has no package line, so no release or version to record".to_owned(),
            });
            continue;
        }
        let record = entry_record(&entry, kind);
        match by_id
            .get(&entry.id)
            .and_then(|&i| parsed.records.get_mut(i))
        {
            Some(existing) => merge_duplicate(existing, record, entry.header_line),
            None => {
                by_id.insert(entry.id.clone(), parsed.records.len());
                parsed.records.push(SourceRecord {
                    source: SOURCE,
                    document: document.to_owned(),
                    location: format!("{} (line {})", entry.id, entry.header_line),
                    record,
                });
            }
        }
    }
    Ok(parsed)
}

/// Folds a second occurrence of an id into the first (see the module rules).
fn merge_duplicate(existing: &mut SourceRecord, other: OsvRecord, header_line: usize) {
    let record = &mut existing.record;
    for alias in other.aliases {
        if !record.aliases.contains(&alias) {
            record.aliases.push(alias);
        }
    }
    for affected in other.affected {
        if !record.affected.contains(&affected) {
            record.affected.push(affected);
        }
    }
    if let (Some(Value::Object(mine)), Some(Value::Object(theirs))) =
        (record.database_specific.as_mut(), other.database_specific)
    {
        for (key, value) in theirs {
            match (mine.get_mut(&key), value) {
                (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
                (None, v) => {
                    mine.insert(key, v);
                }
                _ => {}
            }
        }
    }
    existing.location = existing
        .location
        .replacen("(line ", "(lines ", 1)
        .replace(')', &format!(", {header_line})"));
}

/// Turns one parsed entry into its OSV record.
fn entry_record(entry: &Entry, kind: ListKind) -> OsvRecord {
    let published = format!("{}T00:00:00Z", entry.date.format("%Y-%m-%d"));
    let mut affected = Vec::new();
    let mut not_affected = Vec::new();
    let mut unknown_releases = Vec::new();
    for p in &entry.packages {
        let ecosystem = p
            .release
            .as_deref()
            .and_then(codename_version)
            .map(|v| format!("Debian:{v}"));
        let Some(ecosystem) = ecosystem else {
            unknown_releases.push(json!({
                "line": p.line,
                "release": p.release,
                "package": p.package,
                "value": p.value,
            }));
            continue;
        };
        if p.marker && p.value == "not-affected" {
            not_affected.push(json!({
                "line": p.line,
                "release": p.release,
                "ecosystem": ecosystem,
                "package": p.package,
                "note": p.note,
            }));
            continue;
        }
        let mut events = vec![Event::Introduced("0".to_owned())];
        let mut db = Map::new();
        db.insert("line".into(), json!(p.line));
        if p.marker {
            db.insert("status".into(), json!(p.value));
        } else {
            events.push(Event::Fixed(p.value.clone()));
        }
        if let Some(note) = &p.note {
            db.insert("note".into(), json!(note));
        }
        if p.release_inferred {
            db.insert("release_inferred_from_date".into(), json!(p.release));
        }
        let candidate = Affected {
            package: Some(Package {
                ecosystem,
                name: p.package.clone(),
                purl: None,
            }),
            severity: Vec::new(),
            ranges: vec![Range {
                kind: RangeType::Ecosystem,
                repo: None,
                events,
            }],
            versions: Vec::new(),
            ecosystem_specific: p.urgency.as_ref().map(|u| json!({ "urgency": u })),
            database_specific: Some(Value::Object(db)),
        };
        affected.push(candidate);
    }
    let mut db = Map::new();
    db.insert("list".into(), json!(kind.prefix()));
    db.insert("header_lines".into(), json!([entry.header_line]));
    db.insert("last_line".into(), json!(entry.last_line));
    for (key, list) in [
        ("not_affected", not_affected),
        ("unknown_releases", unknown_releases),
    ] {
        if !list.is_empty() {
            db.insert(key.into(), Value::Array(list));
        }
    }
    if !entry.notes.is_empty() {
        db.insert("notes".into(), json!(entry.notes));
    }
    if !entry.unrecognised.is_empty() {
        let lines: Vec<Value> = entry
            .unrecognised
            .iter()
            .map(|(line, text)| json!({ "line": line, "text": text }))
            .collect();
        db.insert("unrecognised_lines".into(), Value::Array(lines));
    }
    OsvRecord {
        id: entry.id.clone(),
        modified: published.clone(),
        published: Some(published),
        aliases: entry.aliases.clone(),
        summary: entry.summary.clone(),
        affected,
        database_specific: Some(Value::Object(db)),
        ..OsvRecord::default()
    }
}

/// Reads the tracker's JSON export (package → CVE → releases) into one record per CVE.
pub fn parse_tracker_json(document: &str, bytes: &[u8]) -> Result<Parsed, ConnectorError> {
    parse_tracker_json_with_limits(document, bytes, &TrackerLimits::default())
}

/// [`parse_tracker_json`] with explicit limits.
pub fn parse_tracker_json_with_limits(
    document: &str,
    bytes: &[u8],
    limits: &TrackerLimits,
) -> Result<Parsed, ConnectorError> {
    crate::feedser::check_size(SOURCE, document, bytes, limits.max_bytes)?;
    if crate::json_depth::exceeds(bytes, limits.max_depth) {
        return Err(error(
            document,
            format!("JSON nests deeper than the limit of {}", limits.max_depth),
        ));
    }
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| error(document, format!("invalid JSON: {e}")))?;
    let Value::Object(packages) = root else {
        return Err(error(
            document,
            "the top level is not an object of packages".to_owned(),
        ));
    };
    let mut parsed = Parsed::default();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = 0usize;
    let skip = |parsed: &mut Parsed, location: String, reason: &str| {
        parsed.skipped.push(Skipped {
            document: document.to_owned(),
            location,
            reason: reason.to_owned(),
        });
    };
    // Sorted explicitly: with serde_json's `preserve_order` (turned on by other crates in
    // the build) maps iterate in file order, and record order must not depend on features.
    let mut packages: Vec<(&String, &Value)> = packages.iter().collect();
    packages.sort_by(|a, b| a.0.cmp(b.0));
    for (package, cves) in packages {
        let Value::Object(cves) = cves else {
            skip(
                &mut parsed,
                format!("$.{package}"),
                "package value is not an object of CVEs",
            );
            continue;
        };
        let mut cves: Vec<(&String, &Value)> = cves.iter().collect();
        cves.sort_by(|a, b| a.0.cmp(b.0));
        for (cve, info) in cves {
            count += 1;
            if count > limits.max_entries {
                return Err(error(
                    document,
                    format!("more than the limit of {} CVE entries", limits.max_entries),
                ));
            }
            let location = format!("$.{package}.{cve}");
            let Some(releases) = info.get("releases") else {
                skip(&mut parsed, location, "CVE entry has no `releases`");
                continue;
            };
            let releases = match releases {
                Value::Object(r) if !r.is_empty() => r,
                Value::Object(_) | Value::Array(_) => {
                    skip(
                        &mut parsed,
                        location,
                        "CVE entry has no release data (`releases` is empty)",
                    );
                    continue;
                }
                _ => {
                    skip(&mut parsed, location, "`releases` is not an object");
                    continue;
                }
            };
            let (affected, db) = json_affected(package, releases);
            let id = format!("DEBIAN-{cve}");
            if let Some(record) = by_id
                .get(&id)
                .and_then(|&i| parsed.records.get_mut(i))
                .map(|r| &mut r.record)
            {
                // The same CVE under another package: one record, more affected entries.
                record.affected.extend(affected);
                if let Some(Value::Object(mine)) = record.database_specific.as_mut() {
                    for (k, v) in db {
                        if let (Some(Value::Array(a)), Value::Array(b)) = (mine.get_mut(&k), &v) {
                            a.extend(b.iter().cloned());
                        } else if !mine.contains_key(&k) {
                            mine.insert(k, v);
                        }
                    }
                }
                continue;
            }
            let mut db = db;
            for key in ["scope", "debianbug"] {
                if let Some(v) = info.get(key) {
                    db.insert(key.into(), v.clone());
                }
            }
            let record = OsvRecord {
                id: id.clone(),
                aliases: if cve.starts_with("CVE-") {
                    vec![cve.clone()]
                } else {
                    Vec::new()
                },
                details: info
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                affected,
                database_specific: Some(Value::Object(db)),
                ..OsvRecord::default()
            };
            by_id.insert(id, parsed.records.len());
            parsed.records.push(SourceRecord {
                source: SOURCE,
                document: document.to_owned(),
                location,
                record,
            });
        }
    }
    Ok(parsed)
}

/// The affected entries of one package's releases, and what did not become one.
fn json_affected(
    package: &str,
    releases: &Map<String, Value>,
) -> (Vec<Affected>, Map<String, Value>) {
    let mut affected = Vec::new();
    let mut not_affected = Vec::new();
    let mut unknown = Vec::new();
    for (codename, info) in releases {
        let status = info.get("status").and_then(Value::as_str).unwrap_or("");
        let fixed = info.get("fixed_version").and_then(Value::as_str);
        let urgency = info.get("urgency").and_then(Value::as_str);
        let Some(number) = codename_version(codename) else {
            unknown.push(json!({ "release": codename, "package": package, "status": status }));
            continue;
        };
        let ecosystem = format!("Debian:{number}");
        if status == "resolved" && fixed == Some("0") {
            not_affected
                .push(json!({ "release": codename, "ecosystem": ecosystem, "package": package }));
            continue;
        }
        let mut events = vec![Event::Introduced("0".to_owned())];
        let mut db = Map::new();
        db.insert("status".into(), json!(status));
        match fixed {
            Some(v) if status == "resolved" && !v.is_empty() => {
                events.push(Event::Fixed(v.to_owned()));
            }
            _ => {
                // Open, undetermined, or resolved without a version: no fix to record.
                db.insert("unfixed".into(), json!(true));
                if urgency == Some("end-of-life") {
                    db.insert("end_of_life".into(), json!(true));
                }
            }
        }
        affected.push(Affected {
            package: Some(Package {
                ecosystem,
                name: package.to_owned(),
                purl: None,
            }),
            ranges: vec![Range {
                kind: RangeType::Ecosystem,
                repo: None,
                events,
            }],
            ecosystem_specific: urgency.map(|u| json!({ "urgency": u })),
            database_specific: Some(Value::Object(db)),
            ..Affected::default()
        });
    }
    let mut db = Map::new();
    if !not_affected.is_empty() {
        db.insert("not_affected".into(), Value::Array(not_affected));
    }
    if !unknown.is_empty() {
        db.insert("unknown_releases".into(), Value::Array(unknown));
    }
    (affected, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_testdata(rel: &str) -> Vec<u8> {
        let path = crate::testdata::dir().join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn list(text: &str, kind: ListKind) -> Parsed {
        parse_tracker_list("test.list", text.as_bytes(), kind).expect("parses")
    }

    fn record<'a>(parsed: &'a Parsed, id: &str) -> &'a OsvRecord {
        &parsed
            .records
            .iter()
            .find(|r| r.record.id == id)
            .unwrap_or_else(|| panic!("no record {id}: {parsed:#?}"))
            .record
    }

    /// (ecosystem, name, events) of every affected entry.
    fn triples(r: &OsvRecord) -> Vec<(String, String, Vec<Event>)> {
        r.affected
            .iter()
            .map(|a| {
                let p = a.package.clone().unwrap_or_default();
                let events = a.ranges.iter().flat_map(|r| r.events.clone()).collect();
                (p.ecosystem, p.name, events)
            })
            .collect()
    }

    fn fixed(eco: &str, name: &str, v: &str) -> (String, String, Vec<Event>) {
        (
            eco.into(),
            name.into(),
            vec![Event::Introduced("0".into()), Event::Fixed(v.into())],
        )
    }

    fn open(eco: &str, name: &str) -> (String, String, Vec<Event>) {
        (eco.into(), name.into(), vec![Event::Introduced("0".into())])
    }

    const TRAPS: &str = concat!(
        "[07 May 2020] DSA-4676-2 salt - regression update\n",
        "\t{CVE-2020-11651 CVE-2020-11652}\n",
        "\t[stretch] - salt 2016.11.2+ds-1+deb9u4\n",
        "[10 Jan 2020] DSA-4600-1 multi - several issues\n",
        "        {CVE-2019-1}\n",
        "    \t[buster] - foo 1:2.3~rc1-4+deb10u1 (medium)\n",
        "        [buster] - foo-data <not-affected> (Vulnerable code not present)\n",
        "\t[stretch] - foo <end-of-life>\n",
        "\t[bullseye] - foo <unfixed> (low**)\n",
        "\t[sid] - foo 2.4-1\n",
        "\tNOTE: fixed in testing at time of DSA\n",
        "\tgarbage line\n",
        "[07 Jan 2004] DSA-418 vbox3 - privilege leak\n",
        "\t[woody] - vbox3 0.1.7.1\r\n",
        "[01 Jan 2004] DSA-417-1 nocve - no CVE line\n",
        "\t[woody] - nocve 1.0-1woody1\n",
        "[01 Jan 2004] DSA-416-1 onlynote - note only\n",
        "\tNOTE: nothing to see\n",
        "[32 Foo 2004] DSA-415-1 bad - bad date\n",
        "\t[woody] - bad 1.0\n",
        "[06 May 2020] DSA-4676-1 salt - security update\n",
        "\t{CVE-2019-17361 CVE-2020-11651}\n",
        "\t[buster] - salt 2018.3.4+dfsg1-6+deb10u1\n",
    );

    #[test]
    fn list_format_traps() {
        let p = list(TRAPS, ListKind::Dsa);
        let ids: Vec<&str> = p.records.iter().map(|r| r.record.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "DSA-4676-2",
                "DSA-4600-1",
                "DSA-418",
                "DSA-417-1",
                "DSA-4676-1"
            ]
        );

        let multi = record(&p, "DSA-4600-1");
        assert_eq!(multi.aliases, ["CVE-2019-1"]);
        assert_eq!(multi.summary.as_deref(), Some("multi - several issues"));
        assert_eq!(multi.published.as_deref(), Some("2020-01-10T00:00:00Z"));
        assert_eq!(
            triples(multi),
            vec![
                fixed("Debian:10", "foo", "1:2.3~rc1-4+deb10u1"),
                open("Debian:9", "foo"),
                open("Debian:11", "foo"),
            ]
        );
        assert_eq!(
            multi.affected[0].ecosystem_specific,
            Some(json!({"urgency": "medium"}))
        );
        assert_eq!(
            multi.affected[1]
                .database_specific
                .as_ref()
                .map(|d| d["status"].clone()),
            Some(json!("end-of-life"))
        );
        assert_eq!(
            multi.affected[2]
                .database_specific
                .as_ref()
                .map(|d| d["status"].clone()),
            Some(json!("unfixed"))
        );
        assert_eq!(
            multi.affected[2].ecosystem_specific,
            Some(json!({"urgency": "low**"}))
        );
        let db = multi.database_specific.clone().unwrap_or_default();
        assert_eq!(db["not_affected"][0]["package"], "foo-data");
        assert_eq!(db["not_affected"][0]["ecosystem"], "Debian:10");
        assert_eq!(db["not_affected"][0]["note"], "Vulnerable code not present");
        assert_eq!(db["unknown_releases"][0]["release"], "sid");
        assert_eq!(db["notes"], json!(["fixed in testing at time of DSA"]));
        assert_eq!(db["unrecognised_lines"][0]["line"], 12);

        // No revision in the id; CRLF line ending; woody is 3.0.
        assert_eq!(
            triples(record(&p, "DSA-418")),
            vec![fixed("Debian:3.0", "vbox3", "0.1.7.1")]
        );
        assert!(record(&p, "DSA-417-1").aliases.is_empty());

        let reasons: Vec<(&str, &str)> = p
            .skipped
            .iter()
            .map(|s| (s.location.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons[0].0 == "line 19" && reasons[0].1.contains("32 Foo 2004"),
            "{reasons:?}"
        );
        assert!(reasons[1].0.starts_with("DSA-416-1") && reasons[1].1.contains("no package line"));
    }

    #[test]
    fn duplicate_ids_merge_into_one_record() {
        let text = format!(
            "{TRAPS}[01 Jan 2021] DSA-4676-2 salt - second copy\n\t{{CVE-2021-9}}\n\t[buster] - salt 2018.3.4+dfsg1-6+deb10u2\n"
        );
        let p = list(&text, ListKind::Dsa);
        let merged: Vec<&SourceRecord> = p
            .records
            .iter()
            .filter(|r| r.record.id == "DSA-4676-2")
            .collect();
        assert_eq!(merged.len(), 1);
        let r = merged[0];
        assert_eq!(r.location, "DSA-4676-2 (lines 1, 24)");
        assert_eq!(
            r.record.aliases,
            ["CVE-2020-11651", "CVE-2020-11652", "CVE-2021-9"]
        );
        assert_eq!(
            r.record.summary.as_deref(),
            Some("salt - regression update")
        );
        assert_eq!(
            triples(&r.record),
            vec![
                fixed("Debian:9", "salt", "2016.11.2+ds-1+deb9u4"),
                fixed("Debian:10", "salt", "2018.3.4+dfsg1-6+deb10u2"),
            ]
        );
        assert_eq!(
            r.record
                .database_specific
                .as_ref()
                .map(|d| d["header_lines"].clone()),
            Some(json!([1, 24]))
        );
    }

    #[test]
    fn untagged_dla_lines_take_the_lts_release_of_their_date() {
        let text = "[10 Jan 2015] DLA-100-1 a - x\n\t- a 1.0-1+deb6u1\n\
                    [10 Jan 2019] DLA-1600-1 b - x\n\t- b 2.0-1+deb8u1\n\
                    [10 Jan 2021] DLA-2500-1 c - x\n\t- c 3.0-1+deb9u1\n\
                    [10 Jan 2023] DLA-3300-1 d - x\n\t- d 4.0-1+deb10u1\n";
        let p = list(text, ListKind::Dla);
        let ecos: Vec<String> = p
            .records
            .iter()
            .flat_map(|r| triples(&r.record))
            .map(|t| t.0)
            .collect();
        assert_eq!(ecos, ["Debian:6", "Debian:8", "Debian:9", "Debian:10"]);
        // In a DSA list an untagged line has no release: listed, not guessed.
        let p = list("[10 Jan 2019] DSA-1-1 b - x\n\t- b 2.0-1\n", ListKind::Dsa);
        assert!(p.records[0].record.affected.is_empty());
        assert_eq!(
            p.records[0]
                .record
                .database_specific
                .as_ref()
                .map(|d| d["unknown_releases"][0]["package"].clone()),
            Some(json!("b"))
        );
        assert_eq!(
            lts_release_on(NaiveDate::from_ymd_opt(2013, 1, 1).unwrap_or_default()),
            None
        );
        // The wrong prefix for the list is a skipped entry.
        let p = list(
            "[10 Jan 2019] DSA-1-1 b - x\n\t[buster] - b 2.0-1\n",
            ListKind::Dla,
        );
        assert!(p.records.is_empty());
        assert!(
            p.skipped[0].reason.contains("not a DLA id"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn whole_document_errors_name_the_line() {
        let bad = b"[01 Jan 2020] DSA-1-1 a - b\n\t[buster] - a 1\xff\n";
        let e = parse_tracker_list("d", bad, ListKind::Dsa).expect_err("not UTF-8");
        assert!(
            e.reason.starts_with("line 2:") && e.reason.contains("UTF-8"),
            "{e}"
        );
        let small = TrackerLimits {
            max_line_bytes: 20,
            ..TrackerLimits::default()
        };
        let e = parse_tracker_list_with_limits("d", TRAPS.as_bytes(), ListKind::Dsa, &small)
            .expect_err("long line");
        assert!(e.reason.starts_with("line 1:"), "{e}");
        let few = TrackerLimits {
            max_entries: 2,
            ..TrackerLimits::default()
        };
        let e = parse_tracker_list_with_limits("d", TRAPS.as_bytes(), ListKind::Dsa, &few)
            .expect_err("too many entries");
        assert!(
            e.reason.contains("line 13") && e.reason.contains("limit of 2"),
            "{e}"
        );
        let tiny = TrackerLimits {
            max_bytes: 10,
            ..TrackerLimits::default()
        };
        assert!(
            parse_tracker_list_with_limits("d", TRAPS.as_bytes(), ListKind::Dsa, &tiny).is_err()
        );
        assert!(parse_tracker_json_with_limits("d", b"{}", &tiny).is_ok());
        assert!(parse_tracker_json("d", b"[1]").is_err());
        assert!(parse_tracker_json("d", b"{").is_err());
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(
            parse_tracker_json("d", deep.as_bytes())
                .unwrap_err()
                .reason
                .contains("deeper")
        );
        // An indented line before any header is a skip, not an error.
        let p = list("\t[buster] - a 1\n", ListKind::Dsa);
        assert_eq!(p.skipped.len(), 1);
    }

    #[test]
    fn tracker_json_example() {
        let bytes = read_testdata("feeds-sample/debian-tracker/tracker-json-example.json");
        let p = parse_tracker_json("tracker-json-example.json", &bytes).expect("parses");
        let ids: Vec<&str> = p.records.iter().map(|r| r.record.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "DEBIAN-CVE-2005-3111",
                "DEBIAN-CVE-2022-0456",
                "DEBIAN-CVE-2007-2383",
                "DEBIAN-CVE-2008-7220",
                "DEBIAN-CVE-2025-53603",
                "DEBIAN-CVE-2013-1444",
            ]
        );
        for r in &p.records {
            assert_eq!(
                r.record.aliases,
                [r.record.id.trim_start_matches("DEBIAN-")]
            );
        }
        let chromium = record(&p, "DEBIAN-CVE-2022-0456");
        let mut t = triples(chromium);
        t.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert_eq!(
            t,
            vec![
                open("Debian:10", "chromium"),
                fixed("Debian:11", "chromium", "98.0.4758.80-1~deb11u1"),
                fixed("Debian:12", "chromium", "98.0.4758.80-1"),
                open("Debian:9", "chromium"),
            ]
        );
        let eol = chromium
            .affected
            .iter()
            .find(|a| a.ranges[0].events.len() == 1)
            .and_then(|a| a.database_specific.clone())
            .unwrap_or_default();
        assert_eq!(eol["end_of_life"], true);
        assert_eq!(
            chromium
                .database_specific
                .as_ref()
                .map(|d| d["unknown_releases"][0]["release"].clone()),
            Some(json!("sid"))
        );
        // fixed_version "0": never affected.
        let never = record(&p, "DEBIAN-CVE-2007-2383");
        assert!(never.affected.is_empty());
        assert_eq!(
            never
                .database_specific
                .as_ref()
                .and_then(|d| d["not_affected"].as_array().map(Vec::len)),
            Some(3)
        );
        assert!(
            never
                .details
                .as_deref()
                .unwrap_or_default()
                .contains("Prototype")
        );
        // `"releases": []` is skipped with a reason.
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].location, "$.chromium-browser.CVE-2022-0358");
        // The same CVE under two packages is one record.
        let two =
            br#"{"a":{"CVE-1":{"releases":{"buster":{"status":"resolved","fixed_version":"1"}}}},
                       "b":{"CVE-1":{"releases":{"bullseye":{"status":"open"}}}}}"#;
        let p = parse_tracker_json("d", two).expect("parses");
        assert_eq!(p.records.len(), 1);
        assert_eq!(
            triples(&p.records[0].record),
            vec![fixed("Debian:10", "a", "1"), open("Debian:11", "b")]
        );
    }

    /// Headers in a list file, counted independently of the parser.
    fn header_count(text: &str) -> usize {
        text.lines().filter(|l| l.starts_with('[')).count()
    }

    #[test]
    fn sample_lists_summary() {
        for (file, kind) in [("DSA.list", ListKind::Dsa), ("DLA.list", ListKind::Dla)] {
            let bytes = read_testdata(&format!("feeds-sample/debian-tracker/{file}"));
            let p = parse_tracker_list(file, &bytes, kind).expect("parses");
            let text = String::from_utf8_lossy(&bytes);
            let headers = header_count(&text);
            let merged: usize = p
                .records
                .iter()
                .map(|r| {
                    r.record
                        .database_specific
                        .as_ref()
                        .and_then(|d| d["header_lines"].as_array().map(Vec::len))
                        .unwrap_or(0)
                })
                .sum();
            let affected: usize = p.records.iter().map(|r| r.record.affected.len()).sum();
            println!(
                "{file}: {headers} headers -> {} records ({merged} headers), {} skipped, {affected} affected entries",
                p.records.len(),
                p.skipped.len()
            );
            for s in &p.skipped {
                println!("  skipped {}: {}", s.location, s.reason);
            }
            assert_eq!(
                merged + p.skipped.len(),
                headers,
                "every header yields a record or a skip"
            );
            assert_eq!(headers, if kind == ListKind::Dsa { 200 } else { 150 });
            for r in &p.records {
                assert!(r.record.id.starts_with(kind.prefix()), "{}", r.record.id);
                assert!(!r.record.affected.is_empty(), "{}", r.record.id);
                assert!(r.record.published.is_some());
                assert!(
                    r.record
                        .database_specific
                        .as_ref()
                        .is_some_and(|d| d.get("unrecognised_lines").is_none()),
                    "{}",
                    r.record.id
                );
            }
            // Every package line in the file is an affected entry (no marker lines here).
            let package_lines = text
                .lines()
                .filter(|l| l.trim_start().starts_with('[') && l.starts_with([' ', '\t']))
                .count();
            assert_eq!(affected, package_lines, "{file}");
        }
    }

    /// The derived OSV files the oracle ships for DSA/DLA ids.
    fn oracle_records() -> Vec<OsvRecord> {
        let dir = crate::testdata::dir().join("oracle/derived-osv/debian");
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("oracle missing ({}): {e}", dir.display()));
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            let r = crate::advisory::osv::parse_json(&bytes, &Default::default())
                .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
            out.push(r);
        }
        out
    }

    #[test]
    fn differential_against_oracle_derived_osv() {
        let mut ours: BTreeMap<String, OsvRecord> = BTreeMap::new();
        for (file, kind) in [("DSA.list", ListKind::Dsa), ("DLA.list", ListKind::Dla)] {
            let bytes = read_testdata(&format!("feeds-sample/debian-tracker/{file}"));
            for r in parse_tracker_list(file, &bytes, kind)
                .expect("parses")
                .records
            {
                ours.insert(r.record.id.clone(), r.record);
            }
        }
        let oracle = oracle_records();
        let mut compared = 0;
        let mut disagreements = Vec::new();
        for theirs in &oracle {
            let Some(mine) = ours.get(&theirs.id) else {
                continue;
            };
            compared += 1;
            if triples(mine) != triples(theirs) {
                disagreements.push(format!(
                    "{}: ours {:?} theirs {:?}",
                    theirs.id,
                    triples(mine),
                    triples(theirs)
                ));
            }
            let mut a = mine.aliases.clone();
            let mut b = theirs.aliases.clone();
            a.sort();
            b.sort();
            if a != b {
                disagreements.push(format!("{} aliases: ours {a:?} theirs {b:?}", theirs.id));
            }
        }
        println!(
            "debian oracle: {compared} of {} ids compared, {} disagreements",
            oracle.len(),
            disagreements.len()
        );
        assert!(compared >= 200, "only {compared} ids in common");
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }

    /// A well-formed package line and the affected triple it must give.
    fn package_line() -> impl Strategy<Value = (String, Option<(String, String, Vec<Event>)>)> {
        let codename = prop::sample::select(vec![
            "woody", "sarge", "etch", "jessie", "stretch", "buster", "bullseye", "bookworm", "sid",
        ]);
        let name = "[a-z][a-z0-9+.-]{0,12}";
        let version =
            "([1-9]:)?[0-9]{1,3}(\\.[0-9a-z]{1,4}){0,3}(~[a-z0-9]{1,4})?(-[0-9a-z.+~]{1,8})?";
        let value = prop_oneof![version.prop_map(Some), Just(None),];
        let indent = prop::sample::select(vec!["\t", "        ", "    \t"]);
        let urgency = prop::sample::select(vec!["", " (medium)", " (low**)", " (bug #12345)"]);
        (codename, name, value, indent, urgency).prop_map(|(c, n, v, i, u)| {
            let eco = codename_version(c).map(|num| format!("Debian:{num}"));
            match v {
                Some(v) => (
                    format!("{i}[{c}] - {n} {v}{u}"),
                    eco.map(|e| fixed(&e, &n, &v)),
                ),
                None => (
                    format!("{i}[{c}] - {n} <end-of-life>{u}"),
                    eco.map(|e| open(&e, &n)),
                ),
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_tracker_list("d", &bytes, ListKind::Dsa);
            let _ = parse_tracker_list("d", &bytes, ListKind::Dla);
            let _ = parse_tracker_json("d", &bytes);
        }

        #[test]
        fn line_shaped_garbage_never_panics(lines in proptest::collection::vec("[\\[\\]{}<>() \\t\\-a-zA-Z0-9:]{0,40}", 0..20)) {
            let text = lines.join("\n");
            let _ = parse_tracker_list("d", text.as_bytes(), ListKind::Dla);
        }

        #[test]
        fn generated_entries_round_trip(
            entries in proptest::collection::vec(
                (1u32..9999, 1u32..5, 1u32..28, 1995i32..2030, proptest::collection::vec(1u32..99999, 0..4), proptest::collection::vec(package_line(), 1..4)),
                1..6,
            )
        ) {
            let mut text = String::new();
            let mut expected = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for (n, rev, day, year, cves, lines) in entries {
                let id = format!("DSA-{n}-{rev}");
                if !seen.insert(id.clone()) {
                    continue;
                }
                let date = NaiveDate::from_ymd_opt(year, 3, day).unwrap_or_default();
                text.push_str(&format!("[{}] {id} pkg - security update\n", date.format("%d %b %Y")));
                let aliases: Vec<String> = cves.iter().map(|c| format!("CVE-2020-{c:04}")).collect();
                if !aliases.is_empty() {
                    text.push_str(&format!("\t{{{}}}\n", aliases.join(" ")));
                }
                let mut triples_expected = Vec::new();
                for (line, triple) in lines {
                    text.push_str(&line);
                    text.push('\n');
                    triples_expected.extend(triple);
                }
                let mut dedup = Vec::new();
                for a in aliases { if !dedup.contains(&a) { dedup.push(a); } }
                expected.push((id, format!("{}T00:00:00Z", date.format("%Y-%m-%d")), dedup, triples_expected));
            }
            let p = parse_tracker_list("d", text.as_bytes(), ListKind::Dsa).expect("parses");
            prop_assert!(p.skipped.is_empty(), "{:?}", p.skipped);
            prop_assert_eq!(p.records.len(), expected.len());
            for (r, (id, published, aliases, t)) in p.records.iter().zip(expected) {
                prop_assert_eq!(&r.record.id, &id);
                prop_assert_eq!(r.record.published.as_deref(), Some(published.as_str()));
                prop_assert_eq!(&r.record.aliases, &aliases);
                prop_assert_eq!(triples(&r.record), t);
            }
        }
    }
}
