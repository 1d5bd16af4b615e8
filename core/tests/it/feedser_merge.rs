//! Merge over the real sample's OSV-format sources (PyPA YAML, Go, RustSec OSV, GHSA),
//! plus Debian records built by hand in the shape the Debian connector produces.

use crate::testdata;

use std::collections::BTreeSet;

use stella_core::advisory::canonical::CanonicalAdvisory;
use stella_core::advisory::osv::{Affected, Event, OsvRecord, Package, Range, RangeType};
use stella_core::feedser::connectors::osv::parse;
use stella_core::feedser::merge::{MergeReason, Precedence, build, diff, merge};
use stella_core::feedser::{Source, SourceRecord};

/// All records of the sample's OSV-format folders, parsed by the OSV connector.
fn sample_records() -> Vec<SourceRecord> {
    let root = testdata::dir().join("feeds-sample");
    let mut records = Vec::new();
    for (folder, source, ext) in [
        ("osv-pypi", Source::Osv, "yaml"),
        ("osv-go", Source::Osv, "json"),
        ("osv-crates", Source::Osv, "json"),
        ("ghsa", Source::Ghsa, "json"),
    ] {
        let paths = testdata::files(&root.join(folder), &format!(".{ext}"));
        assert!(!paths.is_empty(), "{folder} is empty");
        for p in paths {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let doc = p
                .strip_prefix(&root)
                .map(|r| r.display().to_string())
                .unwrap_or_default();
            let parsed =
                parse(source, &doc, &bytes, ext == "yaml").unwrap_or_else(|e| panic!("{e}"));
            records.extend(parsed.records);
        }
    }
    records
}

/// A Debian record as the Debian connector writes it: one per DSA/DLA, CVEs as aliases.
fn debian(id: &str, cves: &[&str], release: &str, package: &str, fixed: &str) -> SourceRecord {
    SourceRecord {
        source: Source::Debian,
        document: "debian-tracker/DLA.list".into(),
        location: id.into(),
        record: OsvRecord {
            id: id.into(),
            modified: "2023-02-27T00:00:00Z".into(),
            published: Some("2023-02-27T00:00:00Z".into()),
            aliases: cves.iter().map(|s| s.to_string()).collect(),
            summary: Some(format!("{package} - security update")),
            affected: vec![Affected {
                package: Some(Package {
                    ecosystem: format!("Debian:{release}"),
                    name: package.into(),
                    purl: None,
                }),
                ranges: vec![Range {
                    kind: RangeType::Ecosystem,
                    repo: None,
                    events: vec![Event::Introduced("0".into()), Event::Fixed(fixed.into())],
                }],
                ..Affected::default()
            }],
            ..OsvRecord::default()
        },
    }
}

fn find<'a>(out: &'a [CanonicalAdvisory], id: &str) -> &'a CanonicalAdvisory {
    out.iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no canonical advisory {id}"))
}

fn record_ids(a: &CanonicalAdvisory) -> Vec<(&str, &str)> {
    a.provenance
        .iter()
        .map(|p| (p.source.as_str(), p.record_id.as_str()))
        .collect()
}

#[test]
fn sample_merges_across_sources() {
    let mut records = sample_records();
    let osv_count = records.len();
    assert_eq!(
        osv_count,
        200 + 200 + 150 + 10,
        "every OSV-format record parsed"
    );
    // The real DLA-3346-1 (two CVEs) and a hand-built DSA naming three CVEs of the sample.
    records.push(debian(
        "DLA-3346-1",
        &["CVE-2023-23934", "CVE-2023-25577"],
        "10",
        "python-werkzeug",
        "0.14.1+dfsg1-4+deb10u2",
    ));
    records.push(debian(
        "DSA-9999-1",
        &["CVE-2023-23934", "CVE-2022-24859", "CVE-2022-23648"],
        "11",
        "bundle",
        "1.0-1",
    ));
    let p = Precedence::default();
    let outcome = merge(&records, &p);
    let out = &outcome.advisories;
    assert_eq!(outcome.events.len(), out.len());
    assert!(
        outcome
            .events
            .iter()
            .all(|e| e.reason == MergeReason::Created)
    );

    // PYSEC-2023-57 + GHSA-px8h-6qxv-m22q + both Debian records: one advisory.
    let werkzeug = find(out, "CVE-2023-23934");
    assert_eq!(
        record_ids(werkzeug),
        vec![
            ("debian", "DLA-3346-1"),
            ("debian", "DSA-9999-1"),
            ("ghsa", "GHSA-px8h-6qxv-m22q"),
            ("osv", "PYSEC-2023-57"),
        ]
    );
    // GHSA wins the PyPI package (name normalised: `Werkzeug` and `werkzeug` meet).
    let choice = &werkzeug.field_provenance.affected["pypi|werkzeug"];
    assert_eq!(choice.source, "ghsa");
    assert_eq!(choice.overridden[0].record_id, "PYSEC-2023-57");
    assert_eq!(
        werkzeug.summary.as_deref(),
        Some("Incorrect parsing of nameless cookies leads to __Host- cookies bypass")
    );
    assert_eq!(werkzeug.cwes, vec!["CWE-20"]);
    assert_eq!(werkzeug.published.as_deref(), Some("2023-02-14T20:15:00Z"));
    assert!(!werkzeug.aliases.iter().any(|a| a == "CVE-2023-25577"));

    // The Debian records do not glue the CVEs they list: PYSEC-2023-58 stays apart.
    let other = find(out, "CVE-2023-25577");
    assert!(record_ids(other).contains(&("osv", "PYSEC-2023-58")));
    assert!(record_ids(other).contains(&("debian", "DLA-3346-1")));
    assert!(!record_ids(other).contains(&("osv", "PYSEC-2023-57")));

    // The three-CVE DSA contributes to three separate advisories, each with its package.
    let with_dsa: Vec<&str> = out
        .iter()
        .filter(|a| a.provenance.iter().any(|p| p.record_id == "DSA-9999-1"))
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(
        with_dsa,
        vec!["CVE-2022-23648", "CVE-2022-24859", "CVE-2023-23934"]
    );
    for id in &with_dsa {
        let a = find(out, id);
        assert!(
            a.affected
                .iter()
                .any(|x| x.ecosystem_key == "deb/debian/11" && x.name == "bundle")
        );
    }
    let containerd = find(out, "CVE-2022-23648");
    assert!(record_ids(containerd).contains(&("osv", "GO-2022-0344")));
    assert!(record_ids(containerd).contains(&("ghsa", "GHSA-crp2-qrr5-8pq7")));

    // Every record is accounted for, and canonical ids are unique.
    let seen: BTreeSet<(String, String)> = out
        .iter()
        .flat_map(|a| a.provenance.iter())
        .map(|p| (p.source.clone(), p.document.clone()))
        .collect();
    let input: BTreeSet<(String, String)> = records
        .iter()
        .map(|r| (r.source.name().to_owned(), r.document.clone()))
        .collect();
    assert_eq!(seen, input);
    let unique: BTreeSet<&str> = out.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(unique.len(), out.len());

    // Input order does not matter; re-running reports nothing.
    let mut reversed = records.clone();
    reversed.reverse();
    let again = build(&reversed, &p);
    let bytes = |v: &[CanonicalAdvisory]| -> Vec<Vec<u8>> {
        v.iter().map(CanonicalAdvisory::canonical_json).collect()
    };
    assert_eq!(bytes(&again), bytes(out));
    assert!(diff(out, &records, &p).events.is_empty());

    // Removing the GHSA record updates only its advisory.
    let without: Vec<SourceRecord> = records
        .iter()
        .filter(|r| r.record.id != "GHSA-px8h-6qxv-m22q")
        .cloned()
        .collect();
    let changed = diff(out, &without, &p);
    let events: Vec<(&str, MergeReason, &[String])> = changed
        .events
        .iter()
        .map(|e| (e.canonical_id.as_str(), e.reason, e.sources.as_slice()))
        .collect();
    assert_eq!(
        events,
        vec![(
            "CVE-2023-23934",
            MergeReason::Updated,
            &["ghsa".to_string()][..]
        )]
    );

    // Figures: clusters by number of contributing records and of distinct sources
    // (the three OSV folders are all source `osv`).
    let count = |f: &dyn Fn(&CanonicalAdvisory) -> usize, n: usize| {
        out.iter().filter(|a| f(a) >= n).count()
    };
    let n_records = |a: &CanonicalAdvisory| a.provenance.len();
    let n_sources = |a: &CanonicalAdvisory| {
        let s: BTreeSet<&str> = a.provenance.iter().map(|p| p.source.as_str()).collect();
        s.len()
    };
    println!(
        "records in: {}, canonical out: {}, clusters with >=2 records: {}, >=3 records: {}, \
         >=2 sources: {}, >=3 sources: {}",
        records.len(),
        out.len(),
        count(&n_records, 2),
        count(&n_records, 3),
        count(&n_sources, 2),
        count(&n_sources, 3),
    );
    assert!(count(&n_sources, 3) >= 1 && out.len() < records.len());
}
