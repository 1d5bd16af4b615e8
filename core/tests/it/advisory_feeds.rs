//! Reads every real OSV/GHSA record in the feed sample (`testdata/feeds-sample`) and
//! checks what came out.

use crate::testdata;

use std::path::{Path, PathBuf};

use stella_core::advisory::cvss::score;
use stella_core::advisory::osv::{OsvLimits, OsvRecord, parse_file_bytes};
use stella_core::advisory::{Event, RangeType, Severity, assess};

/// All files under `dir` (recursively) whose name ends with one of `exts`, sorted.
fn files_under(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if exts.iter().any(|x| path.to_string_lossy().ends_with(x)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn parse_path(path: &Path) -> OsvRecord {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    parse_file_bytes(name, &bytes, &OsvLimits::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_all(sub: &str, exts: &[&str], expected_at_least: usize) -> Vec<(PathBuf, OsvRecord)> {
    let dir = testdata::dir().join(sub);
    let files = files_under(&dir, exts);
    assert!(
        files.len() >= expected_at_least,
        "{sub}: only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut out = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).expect("read");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match parse_file_bytes(name, &bytes, &OsvLimits::default()) {
            Ok(r) => out.push((path, r)),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{sub}: parsed {} records", out.len());
    out
}

/// The id must match the file name for the upstream sources that name files by id.
fn assert_ids_match_file_names(records: &[(PathBuf, OsvRecord)]) {
    for (path, r) in records {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(stem, r.id, "{}", path.display());
    }
}

#[test]
fn every_pypa_yaml_record_parses() {
    let records = parse_all("feeds-sample/osv-pypi", &[".yaml"], 200);
    assert_eq!(records.len(), 200);
    assert_ids_match_file_names(&records);
    for (path, r) in &records {
        assert!(!r.affected.is_empty(), "{}", path.display());
        // Timestamps, quoted or not, come out as RFC 3339 text.
        for ts in std::iter::once(&r.modified).chain(r.published.iter()) {
            assert!(
                chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
                "{}: {ts}",
                path.display()
            );
        }
    }
}

/// Unquoted YAML timestamps keep their exact text; compare with the raw file line.
#[test]
fn pypa_unquoted_timestamps_are_preserved_verbatim() {
    let dir = testdata::dir().join("feeds-sample/osv-pypi");
    let mut unquoted = 0;
    let mut quoted = 0;
    for path in files_under(&dir, &[".yaml"]) {
        let text = std::fs::read_to_string(&path).expect("read");
        let r = parse_path(&path);
        for line in text.lines() {
            let (field, value) = match line.split_once(": ") {
                Some((k @ ("published" | "modified"), v)) => (k, v),
                _ => continue,
            };
            let got = if field == "published" {
                r.published.clone().unwrap_or_default()
            } else {
                r.modified.clone()
            };
            let inner = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
            if let Some(inner) = inner {
                quoted += 1;
                assert_eq!(got, inner, "{}", path.display());
            } else {
                unquoted += 1;
                assert_eq!(got, value, "{}", path.display());
            }
        }
    }
    assert!(unquoted >= 15, "only {unquoted} unquoted timestamps seen");
    assert!(quoted > 50, "only {quoted} quoted timestamps seen");
}

#[test]
fn pydash_record_fields() {
    let r = parse_path(&testdata::dir().join("feeds-sample/osv-pypi/pydash/PYSEC-2023-179.yaml"));
    assert_eq!(r.modified, "2023-09-28T10:29:02.604249Z");
    assert_eq!(r.published.as_deref(), Some("2023-09-28T05:15:00Z"));
    assert_eq!(r.aliases, vec!["CVE-2023-26145"]);
    let a = &r.affected[0];
    let pkg = a.package.as_ref().expect("package");
    assert_eq!(
        (pkg.ecosystem.as_str(), pkg.name.as_str()),
        ("PyPI", "pydash")
    );
    assert_eq!(a.ranges[0].kind, RangeType::Git);
    assert_eq!(
        a.ranges[0].repo.as_deref(),
        Some("https://github.com/dgilland/pydash")
    );
    assert_eq!(a.ranges[1].kind, RangeType::Ecosystem);
    assert_eq!(
        a.ranges[1].events,
        vec![Event::Introduced("0".into()), Event::Fixed("6.0.0".into())]
    );
    assert_eq!(a.versions.first().map(String::as_str), Some("0.0.0"));
    assert_eq!(a.versions.last().map(String::as_str), Some("5.1.2"));
    assert_eq!(a.versions.len(), 61);
}

#[test]
fn every_go_record_parses() {
    let records = parse_all("feeds-sample/osv-go", &[".json"], 200);
    assert_ids_match_file_names(&records);
    for (path, r) in &records {
        assert_eq!(r.modified, "0001-01-01T00:00:00Z", "{}", path.display());
        for a in &r.affected {
            for range in &a.ranges {
                assert_eq!(range.kind, RangeType::Semver, "{}", path.display());
            }
        }
    }
    assert!(records.iter().any(|(_, r)| !r.related.is_empty()));
    assert!(records.iter().any(|(_, r)| r.affected.len() > 1));
}

#[test]
fn every_rustsec_record_parses() {
    let records = parse_all("feeds-sample/osv-crates", &[".json"], 150);
    assert_ids_match_file_names(&records);
    // RustSec ranges start at 0.0.0-0.
    let first_events: Vec<_> = records
        .iter()
        .flat_map(|(_, r)| r.affected.iter())
        .flat_map(|a| a.ranges.iter())
        .filter_map(|range| range.events.first())
        .collect();
    assert!(
        first_events
            .iter()
            .all(|e| matches!(e, Event::Introduced(_)))
    );
    let from_zero = first_events
        .iter()
        .filter(|e| ***e == Event::Introduced("0.0.0-0".into()))
        .count();
    assert!(from_zero >= 100, "only {from_zero} ranges start at 0.0.0-0");
}

#[test]
fn every_ghsa_record_parses() {
    let records = parse_all("feeds-sample/ghsa", &[".json"], 10);
    assert_ids_match_file_names(&records);
    for (path, r) in &records {
        let sev = r
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(|s| s.as_str());
        assert!(
            matches!(sev, Some("LOW" | "MODERATE" | "HIGH" | "CRITICAL")),
            "{}: {sev:?}",
            path.display()
        );
    }
    // qs has one affected entry per vulnerable branch.
    assert!(records.iter().any(|(_, r)| r.affected.len() >= 9));
}

#[test]
fn every_derived_osv_record_parses() {
    let records = parse_all("oracle/derived-osv", &[".json"], 500);
    assert_ids_match_file_names(&records);
    for (path, r) in &records {
        let eco = r.affected[0].package.as_ref().map(|p| p.ecosystem.as_str());
        let ok = eco.is_some_and(|e| e.starts_with("Debian:") || e.starts_with("Alpine:"));
        assert!(ok, "{}: {eco:?}", path.display());
    }
}

#[test]
fn every_cvss_vector_in_the_osv_samples_scores() {
    let mut checked = 0;
    for (sub, exts) in [
        ("feeds-sample/osv-pypi", &[".yaml"][..]),
        ("feeds-sample/osv-go", &[".json"][..]),
        ("feeds-sample/osv-crates", &[".json"][..]),
        ("feeds-sample/ghsa", &[".json"][..]),
    ] {
        for path in files_under(&testdata::dir().join(sub), exts) {
            let r = parse_path(&path);
            let entries = r
                .severity
                .iter()
                .chain(r.affected.iter().flat_map(|a| a.severity.iter()));
            for e in entries.filter(|e| e.kind.starts_with("CVSS_")) {
                let s = score(&e.score).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                let prefix = match s.version.as_str() {
                    "2.0" => "CVSS_V2",
                    "3.0" | "3.1" => "CVSS_V3",
                    _ => "CVSS_V4",
                };
                assert_eq!(e.kind, prefix, "{}", path.display());
                checked += 1;
            }
        }
    }
    eprintln!("OSV CVSS vectors scored: {checked}");
    assert!(checked >= 80, "only {checked} vectors");
}

/// GHSA derives its label from its CVSS vector: our assessment must agree with it on every
/// sample record, and fall back to the label where there is no vector.
#[test]
fn ghsa_assessments_agree_with_ghsa_labels() {
    let records = parse_all("feeds-sample/ghsa", &[".json"], 10);
    let mut from_cvss = 0;
    for (path, r) in &records {
        let label: Severity = r
            .database_specific
            .as_ref()
            .and_then(|d| d["severity"].as_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{}: no label", path.display()));
        for a in &r.affected {
            let got = assess(r, a);
            assert_eq!(got.severity, label, "{}", path.display());
            from_cvss += usize::from(got.cvss.is_some());
        }
    }
    assert!(from_cvss > 0);
}

#[test]
fn assessment_table_on_real_records() {
    let dir = testdata::dir().join("feeds-sample/ghsa");
    let table = [
        (
            "GHSA-jfh8-c2jp-5v3q",
            Severity::Critical,
            Some(("3.1", 10.0)),
        ),
        ("GHSA-57j2-w4cx-62h2", Severity::High, Some(("3.1", 7.5))),
        ("GHSA-px8h-6qxv-m22q", Severity::Low, Some(("3.1", 2.6))),
        ("GHSA-g4mx-q9vg-27p4", Severity::Medium, Some(("3.1", 4.2))),
        // `severity: []` in this stored version: the GHSA label decides.
        ("GHSA-crp2-qrr5-8pq7", Severity::Medium, None),
    ];
    for (id, severity, cvss) in table {
        let r = parse_path(&dir.join(format!("{id}.json")));
        let a = assess(&r, &r.affected[0]);
        assert_eq!(a.severity, severity, "{id}");
        assert_eq!(
            a.cvss.as_ref().map(|c| (c.version.as_str(), c.score)),
            cvss,
            "{id}"
        );
    }
}

/// Events keep record order and kind: compare with a schema-less read of every JSON record.
#[test]
fn events_match_the_raw_json_in_order() {
    let mut compared = 0;
    for sub in [
        "feeds-sample/osv-go",
        "feeds-sample/osv-crates",
        "feeds-sample/ghsa",
        "oracle/derived-osv",
    ] {
        for path in files_under(&testdata::dir().join(sub), &[".json"]) {
            let raw: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            let r = parse_path(&path);
            let raw_affected = raw["affected"].as_array().cloned().unwrap_or_default();
            assert_eq!(raw_affected.len(), r.affected.len(), "{}", path.display());
            for (ra, a) in raw_affected.iter().zip(&r.affected) {
                let raw_ranges = ra["ranges"].as_array().cloned().unwrap_or_default();
                assert_eq!(raw_ranges.len(), a.ranges.len(), "{}", path.display());
                for (rr, range) in raw_ranges.iter().zip(&a.ranges) {
                    let raw_events: Vec<(String, String)> = rr["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| {
                            e.as_object()?.iter().next().map(|(k, v)| {
                                (k.clone(), v.as_str().unwrap_or_default().to_owned())
                            })
                        })
                        .collect();
                    let ours: Vec<(String, String)> = range
                        .events
                        .iter()
                        .map(|e| {
                            let kind = match e {
                                Event::Introduced(_) => "introduced",
                                Event::Fixed(_) => "fixed",
                                Event::LastAffected(_) => "last_affected",
                                Event::Limit(_) => "limit",
                            };
                            (kind.to_owned(), e.version().to_owned())
                        })
                        .collect();
                    assert_eq!(raw_events, ours, "{}", path.display());
                    compared += ours.len();
                }
            }
        }
    }
    eprintln!("events compared: {compared}");
    assert!(compared > 1000, "only {compared} events");
}
