//! End-to-end tests of `stella feeds` on the real Feedser sample (`testdata/feeds-sample`,
//! all nine sources, declared in `e2e/feeds/sample.yaml`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stella(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stella"))
        .args(args)
        .env_remove("STELLA_DB")
        .env_remove("STELLA_FEED_STORE")
        .env_remove("STELLA_FEEDS_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run stella")
}

fn ok(out: Output) -> Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The repository's real Feedser sample.
fn sample() -> PathBuf {
    repo().join("testdata/feeds-sample")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Env {
    dir: tempfile::TempDir,
    config: String,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = repo().join("e2e/feeds/sample.yaml").display().to_string();
        Self { dir, config }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    fn sync(&self, store: &str, db: &str) -> serde_json::Value {
        json(&ok(stella(&[
            "feeds",
            "sync",
            "--config",
            &self.config,
            "--store",
            store,
            "--db",
            db,
            "-o",
            "json",
        ])))
    }
}

fn sources_of(advisory: &serde_json::Value) -> Vec<String> {
    let mut s: Vec<String> = advisory["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|p| p["source"].as_str().unwrap_or_default().to_owned())
        .collect();
    s.sort();
    s.dedup();
    s
}

#[test]
fn sync_merges_four_sources_into_one_advisory_and_the_scan_uses_it() {
    let env = Env::new();
    let (store, db) = (env.path("feeds.db"), env.path("adv.db"));
    let first = env.sync(&store, &db);
    let feeds = first["feeds"].as_array().expect("feeds");
    assert_eq!(feeds.len(), 10, "every feed of the sample config ran");
    for f in feeds {
        assert!(f["error"].is_null(), "{f}");
        assert!(f["records"].as_u64() > Some(0), "{f}");
    }
    let created = first["merge"]["created"].as_u64().expect("created");
    assert!(created > 1000, "{first}");

    // The three four-source clusters of the sample's README: OSV (PyPA or Go), GHSA,
    // Debian and NVD, each one advisory keyed by its CVE, found by any id.
    for (cve, other_id) in [
        ("CVE-2023-23934", "GHSA-px8h-6qxv-m22q"),
        ("CVE-2022-24859", "PYSEC-2022-194"),
        ("CVE-2022-23648", "GO-2022-0344"),
    ] {
        let shown = json(&ok(stella(&[
            "feeds", "show", other_id, "--store", &store, "--output", "json",
        ])));
        assert_eq!(shown["id"], cve);
        assert!(
            shown["aliases"]
                .as_array()
                .expect("aliases")
                .iter()
                .any(|a| a == other_id)
        );
        assert_eq!(
            sources_of(&shown),
            ["debian", "ghsa", "nvd", "osv"],
            "{cve}"
        );
        for p in shown["sources"].as_array().expect("sources") {
            assert!(p["fetch"].as_str().is_some_and(|f| f.contains('@')), "{p}");
        }
    }

    // The scan reads the merged snapshot: werkzeug 2.2.2 is hit by the canonical CVE,
    // which carries the PyPA and GHSA ids.
    let sbom = repo().join("data/demo/sbom.cdx.json").display().to_string();
    let report = json(&ok(stella(&[
        "scan", "--sbom", &sbom, "--db", &db, "--output", "json",
    ])));
    let findings = report["findings"].as_array().expect("findings");
    let werkzeug = findings
        .iter()
        .find(|f| f["id"] == "CVE-2023-23934")
        .unwrap_or_else(|| panic!("no CVE-2023-23934 finding in {report}"));
    assert!(
        werkzeug["purl"]
            .as_str()
            .unwrap_or("")
            .starts_with("pkg:pypi/werkzeug@2.2.2")
    );

    // A second sync reads nothing again and changes nothing.
    let again = env.sync(&store, &db);
    for f in again["feeds"].as_array().expect("feeds") {
        assert_eq!(f["documents"], 0, "{f}");
        assert!(f["unchanged"].as_u64() > Some(0), "{f}");
    }
    assert_eq!(again["merge"]["created"], 0);
    assert_eq!(again["merge"]["updated"], 0);
    assert_eq!(again["merge"]["retracted"], 0);
    assert_eq!(again["merge"]["advisories"].as_u64(), Some(created));

    let status = json(&ok(stella(&[
        "feeds", "status", "--store", &store, "-o", "json",
    ])));
    let rows = status["feeds"].as_array().expect("feeds");
    assert_eq!(rows.len(), 10);
    for r in rows {
        assert!(r["last_success"].as_str().is_some(), "{r}");
        assert!(r["records"].as_u64() > Some(0), "{r}");
        assert!(r["last_error"].is_null(), "{r}");
    }
}

#[test]
fn exports_are_reproducible_and_a_kit_round_trips_to_a_clean_store() {
    let env = Env::new();
    let (store, db) = (env.path("feeds.db"), env.path("adv.db"));
    env.sync(&store, &db);
    let export = |store: &str, out: &str| {
        text(&ok(stella(&[
            "feeds", "export", "--store", store, "--out", out,
        ])))
    };
    let digest = export(&store, &env.path("e1"));
    assert_eq!(digest.len(), 64, "root digest printed last: {digest}");
    assert_eq!(export(&store, &env.path("e2")), digest);

    let key = env.path("kit-key");
    ok(stella(&["feeds", "keygen", "--out", &key]));
    let kit = env.path("feeds.tar.zst");
    let built = text(&ok(stella(&[
        "feeds",
        "kit",
        "build",
        "--store",
        &store,
        "--key",
        &format!("{key}.key"),
        "--out",
        &kit,
    ])));
    assert_eq!(built, digest);

    let (store2, db2) = (env.path("clean.db"), env.path("adv2.db"));
    let import = |force: bool| {
        let pubkey = format!("{key}.pub");
        let mut args = vec![
            "feeds",
            "kit",
            "import",
            kit.as_str(),
            "--trust",
            pubkey.as_str(),
            "--store",
            store2.as_str(),
            "--db",
            db2.as_str(),
        ];
        if force {
            args.push("--force");
        }
        stella(&args)
    };
    assert_eq!(text(&ok(import(false))), digest);
    assert_eq!(
        export(&store2, &env.path("e3")),
        digest,
        "clean store re-exports the same"
    );
    let again = import(false);
    assert_eq!(
        again.status.code(),
        Some(2),
        "the same kit twice is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already installed"));
    ok(import(true));

    // The kit's store answers `show` and its snapshot answers the scan.
    let shown = json(&ok(stella(&[
        "feeds",
        "show",
        "PYSEC-2023-57",
        "--store",
        &store2,
    ])));
    assert_eq!(shown["id"], "CVE-2023-23934");
    let sbom = repo().join("data/demo/sbom.cdx.json").display().to_string();
    let report = json(&ok(stella(&[
        "scan", "--sbom", &sbom, "--db", &db2, "-o", "json",
    ])));
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["id"] == "CVE-2023-23934")
    );

    // A kit signed by another key is refused before anything is installed.
    let other = env.path("other");
    ok(stella(&["feeds", "keygen", "--out", &other]));
    let (store3, db3) = (env.path("third.db"), env.path("adv3.db"));
    let refused = stella(&[
        "feeds",
        "kit",
        "import",
        &kit,
        "--trust",
        &format!("{other}.pub"),
        "--store",
        &store3,
        "--db",
        &db3,
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        !Path::new(&db3).exists(),
        "nothing installed from an untrusted kit"
    );
}

#[test]
fn a_failing_feed_is_isolated_and_bad_documents_lose_nothing() {
    let env = Env::new();
    let root = sample();
    // GHSA from a copy we can damage; a second feed whose location does not exist.
    let ghsa = env.dir.path().join("ghsa");
    std::fs::create_dir(&ghsa).expect("mkdir");
    for e in std::fs::read_dir(root.join("ghsa")).expect("ghsa") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), ghsa.join(e.file_name())).expect("copy");
    }
    let config = env.path("two.yaml");
    std::fs::write(
        &config,
        format!(
            "feeds:\n  - name: ghsa\n    source: ghsa\n    location: {}\n  - name: gone\n    source: osv\n    location: {}\n",
            ghsa.display(),
            env.path("no-such-dir")
        ),
    )
    .expect("config");
    let (store, db) = (env.path("feeds.db"), env.path("adv.db"));
    let run = || {
        stella(&[
            "feeds", "sync", "--config", &config, "--store", &store, "--db", &db, "-o", "json",
        ])
    };
    let first = run();
    assert_eq!(first.status.code(), Some(3), "partial failure");
    let report = json(&first);
    assert_eq!(report["feeds"][0]["records"], 10);
    assert!(
        report["feeds"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-dir"))
    );
    assert_eq!(report["merge"]["created"], 10);

    // Damage one document: its records stay, the error is reported, the feed is retried.
    let victim = ghsa.join("GHSA-px8h-6qxv-m22q.json");
    std::fs::write(&victim, b"{ not json").expect("damage");
    let second = run();
    assert_eq!(second.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&second.stderr).contains("GHSA-px8h-6qxv-m22q.json"));
    let shown = json(&ok(stella(&[
        "feeds",
        "show",
        "GHSA-px8h-6qxv-m22q",
        "--store",
        &store,
    ])));
    assert_eq!(
        shown["id"], "CVE-2023-23934",
        "the damaged document's record is kept"
    );
    let status = json(&ok(stella(&[
        "feeds", "status", "--store", &store, "-o", "json",
    ])));
    let ghsa_row = status["feeds"]
        .as_array()
        .expect("feeds")
        .iter()
        .find(|r| r["feed"] == "ghsa")
        .cloned()
        .expect("ghsa row");
    assert!(
        ghsa_row["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("unreadable"))
    );
    assert_eq!(ghsa_row["records"], 10);

    // Removing a document retracts only its contribution.
    std::fs::remove_file(&victim).expect("remove");
    let third = json(&run());
    assert_eq!(third["feeds"][0]["removed"], 1);
    assert_eq!(third["merge"]["retracted"], 1);
    assert_eq!(third["merge"]["advisories"], 9);
}

#[test]
fn one_off_import_of_a_single_source() {
    let env = Env::new();
    let (store, db) = (env.path("feeds.db"), env.path("adv.db"));
    let dsa = sample().join("debian-tracker/DSA.list");
    let out = json(&ok(stella(&[
        "feeds",
        "import",
        "--source",
        "debian",
        "--store",
        &store,
        "--db",
        &db,
        "-o",
        "json",
        &dsa.display().to_string(),
    ])));
    assert_eq!(out["feeds"][0]["feed"], "debian");
    assert_eq!(out["feeds"][0]["records"], 200, "200 DSA entries");
    let shown = json(&ok(stella(&[
        "feeds",
        "show",
        "DSA-5091-1",
        "--store",
        &store,
    ])));
    assert_eq!(shown["id"], "CVE-2022-23648");
    assert_eq!(sources_of(&shown), ["debian"]);
    let bad = stella(&[
        "feeds", "import", "--source", "nope", "--store", &store, "x",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}
