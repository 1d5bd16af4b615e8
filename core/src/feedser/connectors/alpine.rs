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
    ConnectorError::new(SOURCE, document, reason)
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
    v.rsplit_once("-r").is_some_and(|(base, rel)| {
        !base.is_empty() && !rel.is_empty() && rel.bytes().all(|b| b.is_ascii_digit())
    })
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
                repairs.push(
                    json!({ "kind": "cve_space", "from": format!("{token} {next}"), "to": id }),
                );
                if tail != next {
                    repairs.push(json!({ "kind": "cve_suffix", "from": next, "to": tail }));
                }
                ids.push(id);
                continue;
            }
        }
        if let Some(rest) = token
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("CVE-"))
            .and(token.get(4..))
        {
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
    (digits >= 4)
        .then(|| s.get(..year_end + 1 + digits))
        .flatten()
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
    crate::feedser::check_size(SOURCE, document, bytes, limits.max_bytes)?;
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
    // Secdb files use neither anchors nor aliases; refusing them rules out alias bombs.
    let options = crate::advisory::osv::strict_yaml_options(limits.max_depth, limits.max_bytes);
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
        let Some(name) = pkg
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))
        else {
            skip(&mut parsed, at, "package has no usable `name`".to_owned());
            continue;
        };
        let Some(secfixes) = pkg.secfixes.filter(|s| !s.0.is_empty()) else {
            skip(
                &mut parsed,
                format!("{at} ({name})"),
                "package has no secfixes".to_owned(),
            );
            continue;
        };
        for (key, list) in secfixes.0 {
            entries += 1;
            if entries > limits.max_entries {
                return Err(error(
                    document,
                    format!(
                        "more than the limit of {} secfix entries",
                        limits.max_entries
                    ),
                ));
            }
            let location = format!("{at}.secfixes[\"{key}\"] ({name})");
            let mut repairs = Vec::new();
            let Some(version) = normalise_version(&key, &mut repairs) else {
                skip(
                    &mut parsed,
                    location,
                    format!("secfix key `{key}` is not a version"),
                );
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
                skip(
                    &mut parsed,
                    location,
                    format!("secfix `{key}` lists no ids"),
                );
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
                        events: vec![
                            Event::Introduced("0".to_owned()),
                            Event::Fixed(version.clone()),
                        ],
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secdb(text: &str) -> Parsed {
        parse_secdb("test.yaml", text.as_bytes()).expect("parses")
    }

    fn record<'a>(parsed: &'a Parsed, id: &str) -> &'a OsvRecord {
        &parsed
            .records
            .iter()
            .find(|r| r.record.id == id)
            .unwrap_or_else(|| {
                panic!(
                    "no record {id}: {:?}",
                    parsed
                        .records
                        .iter()
                        .map(|r| &r.record.id)
                        .collect::<Vec<_>>()
                )
            })
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

    const TRAPS: &str = concat!(
        "---\n",
        "distroversion: v3.5\n",
        "reponame: main\n",
        "archs:\n",
        "  - x86_64\n",
        "packages:\n",
        "  - pkg:\n",
        "      name: curl\n",
        "      secfixes:\n",
        "        7.51.0:\n",
        "          - CVE-2016-8615\n",
        "        7.50.1.r2:\n",
        "        - CVE-2016-5419\n",
        "        0:\n",
        "          - CVE-2016-0001\n",
        "  - pkg:\n",
        "      name: xen\n",
        "      secfixes:\n",
        "        4.7.0-r1:\n",
        "            - CVE-2016-6258 XSA-182\n",
        "            - CVE-2017-8073.patch\n",
        "            - CVE 2018-16859\n",
        "        1.10-r0:\n",
        "          - XSA-1\n",
        "        1.9-r0: []\n",
        "  - pkg:\n",
        "      name: wireshark\n",
        "      secfixes:\n",
        "        2.2.6-r0:\n",
        "          - wnpa-sec-2017-18\n",
        "          - wnpa-sec-2017-18\n",
        "  - pkg:\n",
        "      secfixes:\n",
        "        1-r0:\n",
        "          - CVE-2000-1\n",
        "  - pkg:\n",
        "      name: nofixes\n",
    );

    #[test]
    fn secdb_format_traps_and_repairs() {
        let p = secdb(TRAPS);
        let ids: Vec<&str> = p.records.iter().map(|r| r.record.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ALPINE-v3.5-curl-7.51.0",
                "ALPINE-v3.5-curl-7.50.1-r2",
                "ALPINE-v3.5-curl-0",
                "ALPINE-v3.5-xen-4.7.0-r1",
                "ALPINE-v3.5-xen-1.10-r0",
                "ALPINE-v3.5-wireshark-2.2.6-r0",
            ]
        );
        let curl = record(&p, "ALPINE-v3.5-curl-7.51.0");
        assert_eq!(
            triples(curl),
            vec![(
                "Alpine:v3.5".into(),
                "curl".into(),
                vec![Event::Introduced("0".into()), Event::Fixed("7.51.0".into())]
            )]
        );
        let dot = record(&p, "ALPINE-v3.5-curl-7.50.1-r2");
        assert_eq!(triples(dot)[0].2[1], Event::Fixed("7.50.1-r2".into()));
        // `0`: never affected — no affected entry (one without ranges would mean "all").
        let never = record(&p, "ALPINE-v3.5-curl-0");
        assert!(never.affected.is_empty());
        assert_eq!(never.aliases, ["CVE-2016-0001"]);
        assert_eq!(
            never
                .database_specific
                .as_ref()
                .map(|d| d["not_affected"][0]["package"].clone()),
            Some(json!("curl"))
        );
        let xen = record(&p, "ALPINE-v3.5-xen-4.7.0-r1");
        assert_eq!(
            xen.aliases,
            [
                "CVE-2016-6258",
                "XSA-182",
                "CVE-2017-8073",
                "CVE-2018-16859"
            ]
        );
        // `1.10` stays `1.10` (a YAML float would read 1.1).
        assert_eq!(
            triples(record(&p, "ALPINE-v3.5-xen-1.10-r0"))[0].2[1],
            Event::Fixed("1.10-r0".into())
        );
        let ws = record(&p, "ALPINE-v3.5-wireshark-2.2.6-r0");
        assert_eq!(ws.aliases, ["wnpa-sec-2017-18"]);
        assert_eq!(
            ws.database_specific.as_ref().map(|d| d["reponame"].clone()),
            Some(json!("main"))
        );

        let counts = repair_counts(&p);
        let expected: BTreeMap<String, usize> = [
            ("missing_release", 1),
            ("release_dot", 1),
            ("split_entry", 1),
            ("cve_suffix", 1),
            ("cve_space", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(counts, expected);

        let skips: Vec<(&str, &str)> = p
            .skipped
            .iter()
            .map(|s| (s.location.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skips.len(), 3, "{skips:?}");
        assert!(skips[0].1.contains("`1.9-r0` lists no ids"), "{skips:?}");
        assert!(
            skips[1].0 == "packages[3]" && skips[1].1.contains("name"),
            "{skips:?}"
        );
        assert!(skips[2].1.contains("no secfixes"), "{skips:?}");
    }

    #[test]
    fn empty_packages_and_whole_document_errors() {
        let p = secdb("---\ndistroversion: v3.3\nreponame: community\npackages:\n");
        assert!(p.records.is_empty() && p.skipped.is_empty());
        let e = parse_secdb("d", b"packages: []\n").expect_err("no distroversion");
        assert!(e.reason.contains("distroversion"), "{e}");
        let e = parse_secdb("d", b"distroversion: v3.3\npackages:\n  - pkg: [\n")
            .expect_err("bad yaml");
        assert!(e.reason.contains("line"), "{e}");
        let e =
            parse_secdb("d", b"distroversion: v3.3\npackages: &a []\nx: *a\n").expect_err("alias");
        assert!(e.reason.starts_with("invalid secdb YAML"), "{e}");
        let small = SecdbLimits {
            max_line_bytes: 10,
            ..SecdbLimits::default()
        };
        let e = parse_secdb_with_limits("d", TRAPS.as_bytes(), &small).expect_err("long line");
        assert!(e.reason.starts_with("line 2:"), "{e}");
        let few = SecdbLimits {
            max_entries: 2,
            ..SecdbLimits::default()
        };
        assert!(parse_secdb_with_limits("d", TRAPS.as_bytes(), &few).is_err());
        let tiny = SecdbLimits {
            max_bytes: 8,
            ..SecdbLimits::default()
        };
        assert!(parse_secdb_with_limits("d", TRAPS.as_bytes(), &tiny).is_err());
        let deep = format!(
            "distroversion: v3.3\nx: {}1{}\n",
            "[".repeat(50),
            "]".repeat(50)
        );
        assert!(parse_secdb("d", deep.as_bytes()).is_err());
    }

    /// Every sample file with its (distroversion, package blocks, secfix keys) counted by text.
    fn sample_files() -> Vec<(String, Vec<u8>)> {
        let root = crate::testdata::dir().join("feeds-sample/alpine-secdb");
        let mut out = Vec::new();
        let dirs = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        for dir in dirs.flatten() {
            for repo in ["main.yaml", "community.yaml"] {
                let path = dir.path().join(repo);
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((
                    format!("{}/{repo}", dir.file_name().to_string_lossy()),
                    bytes,
                ));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn sample_secdb_summary() {
        let mut blocks_total = 0;
        let mut all = Parsed::default();
        for (name, bytes) in sample_files() {
            let p = parse_secdb(&name, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8_lossy(&bytes);
            let blocks = text.lines().filter(|l| l.trim_start() == "- pkg:").count();
            // Secfix keys: lines ending in `:` nested under `secfixes:` (8 spaces deep).
            let keys = text
                .lines()
                .filter(|l| {
                    l.len() > 8
                        && l.starts_with("        ")
                        && !l.starts_with("         ")
                        && l.trim_end().ends_with(':')
                })
                .count();
            let skipped_keys = p
                .skipped
                .iter()
                .filter(|s| s.location.contains(".secfixes["))
                .count();
            let skipped_blocks = p.skipped.len() - skipped_keys;
            println!(
                "{name}: {blocks} package blocks, {keys} secfix keys -> {} records, {} skipped, repairs {:?}",
                p.records.len(),
                p.skipped.len(),
                repair_counts(&p)
            );
            for s in &p.skipped {
                println!("  skipped {}: {}", s.location, s.reason);
            }
            assert_eq!(
                p.records.len() + skipped_keys,
                keys,
                "{name}: every secfix key yields a record or a skip"
            );
            assert!(skipped_blocks <= blocks);
            let eco = format!("Alpine:{}", name.split('/').next().unwrap_or_default());
            for r in &p.records {
                assert!(
                    r.record
                        .affected
                        .iter()
                        .all(|a| a.package.as_ref().is_some_and(|p| p.ecosystem == eco))
                );
            }
            blocks_total += blocks;
            all.records.extend(p.records);
            all.skipped.extend(p.skipped);
        }
        println!(
            "alpine total: {blocks_total} blocks, {} records, {} skipped, repairs {:?}",
            all.records.len(),
            all.skipped.len(),
            repair_counts(&all)
        );
        assert_eq!(blocks_total, 569, "README: 569 package blocks");
        let counts = repair_counts(&all);
        // libzip 1.3.0 (five releases), nautilus 3.32.1, radare2 3.9.0, libbsd 0.8.2, screen 4.5.1.
        assert_eq!(counts.get("missing_release"), Some(&9), "{counts:?}");
        // Every `- CVE-… TALOS-…` list entry, counted from the text.
        let two_id_lines: usize = sample_files()
            .iter()
            .map(|(_, b)| {
                String::from_utf8_lossy(b)
                    .lines()
                    .filter(|l| l.trim_start().starts_with("- CVE-") && l.contains(" TALOS-"))
                    .count()
            })
            .sum();
        assert_eq!(counts.get("split_entry"), Some(&two_id_lines), "{counts:?}");
        let ws = all
            .records
            .iter()
            .find(|r| r.record.id == "ALPINE-v3.5-wireshark-2.2.6-r0")
            .expect("wireshark");
        assert!(ws.record.aliases.iter().any(|a| a == "wnpa-sec-2017-18"));
    }

    #[test]
    fn differential_against_oracle_derived_osv() {
        let mut ours: BTreeMap<String, OsvRecord> = BTreeMap::new();
        for (name, bytes) in sample_files() {
            for r in parse_secdb(&name, &bytes)
                .unwrap_or_else(|e| panic!("{e}"))
                .records
            {
                ours.insert(r.record.id.clone(), r.record);
            }
        }
        let dir = crate::testdata::dir().join("oracle/derived-osv/alpine");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("oracle missing ({}): {e}", dir.display()));
        let (mut total, mut compared) = (0, 0);
        let mut disagreements = Vec::new();
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            let theirs = crate::advisory::osv::parse_json(&bytes, &Default::default())
                .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
            total += 1;
            let Some(mine) = ours.get(&theirs.id) else {
                continue;
            };
            compared += 1;
            if triples(mine) != triples(&theirs) {
                disagreements.push(format!(
                    "{}: ours {:?} theirs {:?}",
                    theirs.id,
                    triples(mine),
                    triples(&theirs)
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
            "alpine oracle: {compared} of {total} ids compared, {} disagreements",
            disagreements.len()
        );
        assert!(compared >= 100, "only {compared} ids in common");
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_secdb("d", &bytes);
        }

        #[test]
        fn entry_text_never_panics(entry in "[ -~]{0,40}") {
            let mut repairs = Vec::new();
            let ids = entry_ids(&entry, &mut repairs);
            prop_assert!(ids.iter().all(|id| !id.is_empty() && !id.contains(' ')));
            let _ = normalise_version(&entry, &mut repairs);
        }

        #[test]
        fn generated_secdb_round_trips(
            release in "v3\\.[0-9]{1,2}",
            packages in proptest::collection::btree_map(
                "[a-z][a-z0-9_-]{0,10}",
                proptest::collection::btree_map(
                    "[0-9]{1,2}(\\.[0-9]{1,3}){0,2}(_p[0-9])?-r[0-9]{1,2}",
                    proptest::collection::btree_set(1000u32..99999, 1..4),
                    1..4,
                ),
                0..5,
            ),
            indent in prop::sample::select(vec!["", "  "]),
        ) {
            let mut text = format!("---\ndistroversion: {release}\nreponame: main\npackages:\n");
            let mut expected = Vec::new();
            for (name, fixes) in &packages {
                text.push_str(&format!("  - pkg:\n      name: {name}\n      secfixes:\n"));
                for (version, cves) in fixes {
                    text.push_str(&format!("        {version}:\n"));
                    let aliases: Vec<String> = cves.iter().map(|c| format!("CVE-2019-{c:04}")).collect();
                    for a in &aliases {
                        text.push_str(&format!("        {indent}- {a}\n"));
                    }
                    expected.push((format!("ALPINE-{release}-{name}-{version}"), version.clone(), name.clone(), aliases));
                }
            }
            let p = parse_secdb("d", text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert!(p.skipped.is_empty());
            prop_assert_eq!(p.records.len(), expected.len());
            for (r, (id, version, name, aliases)) in p.records.iter().zip(expected) {
                prop_assert_eq!(&r.record.id, &id);
                prop_assert_eq!(&r.record.aliases, &aliases);
                prop_assert_eq!(
                    triples(&r.record),
                    vec![(format!("Alpine:{release}"), name, vec![Event::Introduced("0".into()), Event::Fixed(version)])]
                );
            }
        }
    }
}
