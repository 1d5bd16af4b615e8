//! Advisory import on the real records of the sample (`testdata/`): every OSV document
//! imports, re-import changes nothing, zip archives import like directories, and
//! bad documents are reported without stopping the rest.

use crate::testdata;

use std::io::Write;
use std::path::{Path, PathBuf};

use stella_core::advisory_db::AdvisoryDb;
use stella_core::import::{ImportLimits, Source, discover, import};

fn osv_inputs() -> Vec<PathBuf> {
    let s = testdata::dir();
    [
        "feeds-sample/osv-pypi",
        "feeds-sample/osv-go",
        "feeds-sample/osv-crates",
        "feeds-sample/ghsa",
        "oracle/derived-osv",
    ]
    .iter()
    .map(|p| s.join(p))
    .collect()
}

fn count_files(dirs: &[PathBuf]) -> u64 {
    fn walk(d: &Path) -> u64 {
        std::fs::read_dir(d)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .map(|p| if p.is_dir() { walk(&p) } else { 1 })
            .sum()
    }
    dirs.iter().map(|d| walk(d)).sum()
}

#[test]
fn whole_sample_imports_and_reimport_is_a_no_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = AdvisoryDb::open(&dir.path().join("a.db")).expect("open");
    let inputs = osv_inputs();
    let sources = discover(&inputs).expect("discover");
    assert_eq!(sources.len() as u64, count_files(&inputs));
    let mut calls = 0;
    let first =
        import(&mut db, &sources, &ImportLimits::default(), |_| calls += 1).expect("import");
    assert_eq!(calls, sources.len());
    assert!(first.failures.is_empty(), "{:#?}", first.failures);
    assert_eq!(first.inserted, first.documents);
    let stats = db.stats().expect("stats");
    assert_eq!(stats.advisories, first.documents);
    assert!(stats.withdrawn > 0, "the Go sample has withdrawn records");
    for eco in [
        "pypi",
        "golang",
        "cargo",
        "maven",
        "npm",
        "deb/debian/11",
        "apk/alpine/3.10",
    ] {
        assert!(
            stats.by_ecosystem.iter().any(|(e, n)| e == eco && *n > 0),
            "{eco} indexed: {:?}",
            stats.by_ecosystem
        );
    }
    let again = import(&mut db, &sources, &ImportLimits::default(), |_| {}).expect("reimport");
    assert_eq!(again.unchanged, first.documents);
    assert_eq!(again.inserted + again.updated, 0);
    let mut after = db.stats().expect("stats");
    // Only the import time moves on a no-op import.
    after.last_import = stats.last_import.clone();
    assert_eq!(after, stats);
}

#[test]
fn changed_record_is_updated_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = testdata::dir().join("feeds-sample/ghsa/GHSA-jfh8-c2jp-5v3q.json");
    let copy = dir.path().join("GHSA-jfh8-c2jp-5v3q.json");
    std::fs::copy(&src, &copy).expect("copy");
    let mut db = AdvisoryDb::open(&dir.path().join("a.db")).expect("open");
    let sources = vec![Source::File(copy.clone())];
    let r = import(&mut db, &sources, &ImportLimits::default(), |_| {}).expect("import");
    assert_eq!(r.inserted, 1);
    let before = db
        .candidates("maven", "org.apache.logging.log4j:log4j-core")
        .expect("cands");
    assert!(before.len() > 1, "several vulnerable branches");
    // Drop every affected entry but the first: the DB must forget the others.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&copy).expect("read")).expect("json");
    v["affected"].as_array_mut().expect("affected").truncate(1);
    std::fs::write(&copy, serde_json::to_vec(&v).expect("ser")).expect("write");
    let r = import(&mut db, &sources, &ImportLimits::default(), |_| {}).expect("import");
    assert_eq!(r.updated, 1);
    let after = db
        .candidates("maven", "org.apache.logging.log4j:log4j-core")
        .expect("cands");
    assert_eq!(after.len(), 1);
    assert_eq!(db.stats().expect("stats").advisories, 1);
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    for (name, bytes) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        z.write_all(bytes).expect("write");
    }
    z.finish().expect("finish");
}

#[test]
fn zip_archives_import_like_directories_and_bad_entries_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = testdata::dir();
    let go = std::fs::read(s.join("feeds-sample/osv-go/GO-2022-0344.json")).expect("read");
    let pysec =
        std::fs::read(s.join("feeds-sample/osv-pypi/werkzeug/PYSEC-2023-57.yaml")).expect("read");
    let big = vec![b' '; 64 * 1024];
    let archive = dir.path().join("all.zip");
    write_zip(
        &archive,
        &[
            ("GO-2022-0344.json", &go),
            ("PYSEC-2023-57.yaml", &pysec),
            ("README.txt", b"not a record"),
            ("broken.json", b"{\"id\": "),
            ("huge.json", &big),
        ],
    );
    let not_zip = dir.path().join("fake.zip");
    std::fs::write(&not_zip, b"PK but not really").expect("write");
    let mut db = AdvisoryDb::open(&dir.path().join("a.db")).expect("open");
    let limits = ImportLimits {
        max_document_bytes: 32 * 1024,
        ..ImportLimits::default()
    };
    let sources = discover(&[archive, not_zip]).expect("discover");
    let r = import(&mut db, &sources, &limits, |_| {}).expect("import");
    assert_eq!(r.inserted, 2, "{r:#?}");
    let locations: Vec<&str> = r.failures.iter().map(|f| f.location.as_str()).collect();
    assert_eq!(r.failures.len(), 3, "{locations:?}");
    assert!(locations.iter().any(|l| l.ends_with("all.zip!broken.json")));
    assert!(locations.iter().any(|l| l.ends_with("all.zip!huge.json")));
    assert!(locations.iter().any(|l| l.ends_with("fake.zip")));
    assert!(
        !db.candidates("golang", "github.com/containerd/containerd")
            .expect("cands")
            .is_empty()
    );
    assert!(!db.candidates("pypi", "werkzeug").expect("cands").is_empty());
}

#[test]
fn schema_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    drop(AdvisoryDb::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    conn.pragma_update(None, "user_version", 999).expect("bump");
    drop(conn);
    let err = AdvisoryDb::open(&path).expect_err("newer schema");
    assert!(err.to_string().contains("999"), "{err}");
    let err = AdvisoryDb::open_read_only(&path).expect_err("newer schema");
    assert!(err.to_string().contains("upgrade"), "{err}");
}
