//! Matching real advisories of the sample (`testdata/`) through the advisory DB: a
//! finding's `published` time is the earliest publication time of the advisories that
//! matched it (Go's `0001-01-01` placeholder gives none); Debian releases before 4 match
//! by their two-part numbers.

use crate::testdata;

use chrono::{DateTime, Utc};
use stella_core::advisory::osv::{OsvLimits, parse_file_bytes};
use stella_core::advisory_db::{AdvisoryDb, PreparedRecord};
use stella_core::matcher::{Finding, match_sbom};
use stella_core::sbom::{Component, Purl, Sbom};

/// An in-memory DB holding the given sample files (paths under `testdata/`).
fn db_with(files: &[&str]) -> AdvisoryDb {
    let root = testdata::dir();
    let records: Vec<PreparedRecord> = files
        .iter()
        .map(|f| {
            let path = root.join(f);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let record = parse_file_bytes(f, &bytes, &OsvLimits::default())
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            PreparedRecord::new(record)
        })
        .collect();
    let mut db = AdvisoryDb::open_in_memory().expect("in-memory DB");
    db.upsert_batch(&records).expect("upsert");
    db
}

fn findings(db: &AdvisoryDb, purl: &str) -> Vec<Finding> {
    let purl = Purl::parse(purl).expect("purl");
    let sbom = Sbom {
        components: vec![Component {
            bom_ref: "c0".into(),
            name: purl.name.clone(),
            version: purl.version.clone(),
            purl: Some(purl),
            ..Component::default()
        }],
        ..Sbom::default()
    };
    match_sbom(&sbom, db).expect("match").findings
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

#[test]
fn a_finding_is_as_old_as_its_earliest_advisory() {
    // PYSEC-2023-57 says 2023-02-14T20:15:00Z (the NVD date), GHSA-px8h-6qxv-m22q
    // 2023-02-15T15:37:03Z: the later one sorts first by id, so "first" would be wrong.
    let files = [
        "feeds-sample/osv-pypi/werkzeug/PYSEC-2023-57.yaml",
        "feeds-sample/ghsa/GHSA-px8h-6qxv-m22q.json",
    ];
    let db = db_with(&files);
    for (id, want) in [
        ("PYSEC-2023-57", "2023-02-14T20:15:00Z"),
        ("GHSA-px8h-6qxv-m22q", "2023-02-15T15:37:03Z"),
    ] {
        let record = db.record(id).expect("read").expect("stored");
        assert_eq!(
            record.published.as_deref(),
            Some(want),
            "{id} in the sample"
        );
    }
    let found = findings(&db, "pkg:pypi/werkzeug@2.2.2");
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.id, "CVE-2023-23934");
    assert_eq!(f.advisories, ["GHSA-px8h-6qxv-m22q", "PYSEC-2023-57"]);
    assert_eq!(f.published, Some(time("2023-02-14T20:15:00Z")));

    // With only the GHSA record stored, the finding takes its date.
    let db = db_with(&files[1..]);
    let found = findings(&db, "pkg:pypi/werkzeug@2.2.2");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].published, Some(time("2023-02-15T15:37:03Z")));

    // The JSON report carries it as RFC 3339 under `published`.
    let json = serde_json::to_value(&found[0]).expect("serialise");
    assert_eq!(json["published"], "2023-02-15T15:37:03Z");
}

#[test]
fn a_placeholder_publication_date_gives_no_age() {
    // The Go repository's records say `"published": "0001-01-01T00:00:00Z"`.
    let db = db_with(&["feeds-sample/osv-go/GO-2025-3672.json"]);
    let record = db.record("GO-2025-3672").expect("read").expect("stored");
    assert_eq!(record.published.as_deref(), Some("0001-01-01T00:00:00Z"));
    let found = findings(&db, "pkg:golang/github.com/patrickhener/goshs@v1.0.4");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].id, "CVE-2025-46816");
    assert_eq!(found[0].published, None);
    let json = serde_json::to_value(&found[0]).expect("serialise");
    assert!(
        json.get("published").is_none(),
        "absent, not null: {json:#}"
    );
}

#[test]
fn sarge_packages_match_debian_3_1_advisories() {
    // The oracle's rendering of DSA-1008-1: kdegraphics in `Debian:3.1` (sarge), fixed
    // in 4:3.3.2-2sarge4. Releases before 4 are named by two numbers, so 3.0 (woody)
    // is another release.
    let db = db_with(&["oracle/derived-osv/debian/DSA-1008-1.json"]);
    let ids =
        |purl: &str| -> Vec<String> { findings(&db, purl).into_iter().map(|f| f.id).collect() };
    for distro in ["debian-3.1", "sarge", "debian-3.1r8"] {
        assert_eq!(
            ids(&format!(
                "pkg:deb/debian/kdegraphics@4:3.3.2-2sarge3?distro={distro}"
            )),
            ["CVE-2006-0746"],
            "{distro}"
        );
    }
    assert!(ids("pkg:deb/debian/kdegraphics@4:3.3.2-2sarge4?distro=debian-3.1").is_empty());
    assert!(ids("pkg:deb/debian/kdegraphics@4:3.3.2-2sarge3?distro=debian-3.0").is_empty());
}
