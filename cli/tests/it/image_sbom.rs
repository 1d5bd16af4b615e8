//! The SBOM builder on a real multi-layer OCI image (debootstrap + apt + pip + npm +
//! a cargo-auditable Rust binary + a layer of deletions), built once by `e2e/images/build.sh` into a cache, and
//! checked against the ground truth recorded from its root file system.

use crate::scan_report;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The image directory (cached across runs; built on first use).
fn image() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("e2e/images/build.sh"))
            .output()
            .expect("run e2e/images/build.sh");
        assert!(
            out.status.success(),
            "building the test image failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("image dir").trim())
    })
}

fn truth() -> serde_json::Value {
    let text = std::fs::read_to_string(image().join("truth.json")).expect("truth.json");
    serde_json::from_str(&text).expect("truth JSON")
}

/// A layer cache of this test process alone, so no entry of an older build is served.
fn cache_dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

fn stella(args: &[&str]) -> std::process::Output {
    stella_with_cache(args, cache_dir())
}

fn stella_with_cache(args: &[&str], cache: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stella"))
        .args(args)
        .env_remove("STELLA_DB")
        .env("STELLA_CACHE_DIR", cache)
        .output()
        .expect("run stella")
}

/// (type, name, version) of every component of a CycloneDX SBOM made by `stella sbom`.
fn sbom_packages(source: &str) -> (BTreeSet<(String, String, String)>, serde_json::Value) {
    let out = stella(&["sbom", source, "--output", "cyclonedx"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("CycloneDX JSON");
    let mut set = BTreeSet::new();
    for c in doc["components"].as_array().expect("components") {
        let purl = c["purl"].as_str().unwrap_or_default();
        let ty = purl
            .strip_prefix("pkg:")
            .and_then(|p| p.split('/').next())
            .unwrap_or_default();
        set.insert((
            ty.to_string(),
            c["name"].as_str().unwrap_or_default().to_ascii_lowercase(),
            c["version"].as_str().unwrap_or_default().to_string(),
        ));
    }
    (set, doc)
}

fn truth_packages() -> BTreeSet<(String, String, String)> {
    let t = truth();
    let mut set = BTreeSet::new();
    for (ty, key) in [
        ("deb", "deb"),
        ("pypi", "pypi"),
        ("npm", "npm"),
        ("cargo", "cargo"),
    ] {
        for p in t[key].as_array().expect("truth list") {
            let name = p[0].as_str().expect("name").to_ascii_lowercase();
            let name = if ty == "pypi" {
                name.replace(['_', '.'], "-")
            } else {
                name
            };
            set.insert((
                ty.to_string(),
                name,
                p[1].as_str().expect("version").to_string(),
            ));
        }
    }
    set
}

fn check_against_truth(source: &str) {
    let (found, doc) = sbom_packages(source);
    let truth = truth_packages();
    let missing: Vec<_> = truth.difference(&found).collect();
    assert!(missing.is_empty(), "{source}: missing {missing:#?}");
    let extra: Vec<_> = found
        .iter()
        .filter(|p| ["deb", "pypi", "npm", "cargo"].contains(&p.0.as_str()))
        .filter(|p| !truth.contains(p))
        .collect();
    assert!(
        extra.is_empty(),
        "{source}: not in the final file system {extra:#?}"
    );
    // Deleted in the last layer (whiteouts): must not be reported.
    assert!(!found.iter().any(|p| p.1 == "less" || p.1 == "chardet"));
    // Every component says which layer brought it in.
    for c in doc["components"].as_array().expect("components") {
        let has_layer = c["properties"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "stella:layer:digest"));
        assert!(has_layer, "no layer digest on {c}");
    }
    // Python packages apt installed are owned by their deb; pip's (usr/local) are not.
    let mut owned = 0;
    for c in doc["components"].as_array().expect("components") {
        if !c["purl"]
            .as_str()
            .unwrap_or_default()
            .starts_with("pkg:pypi/")
        {
            continue;
        }
        let props = c["properties"].as_array().expect("properties");
        let prop = |name: &str| {
            props
                .iter()
                .find(|p| p["name"] == name)
                .and_then(|p| p["value"].as_str())
        };
        let by_apt = prop("stella:file").is_some_and(|f| f.starts_with("usr/lib/python3/"));
        match prop("stella:owned-by") {
            Some(owner) => {
                assert!(by_apt, "{c}");
                assert!(owner.starts_with("pkg:deb/debian/python3-"), "{owner}");
                owned += 1;
            }
            None => assert!(!by_apt, "apt-installed but no owner: {c}"),
        }
    }
    assert!(owned > 0, "no Python package owned by a deb");
}

#[test]
fn oci_layout_matches_ground_truth() {
    let src = format!("oci-dir:{}:app", image().join("oci").display());
    check_against_truth(&src);
}

#[test]
fn docker_archive_matches_ground_truth() {
    let src = format!("docker-archive:{}", image().join("app.tar").display());
    check_against_truth(&src);
}

#[test]
fn a_cached_second_build_is_byte_identical() {
    let cache = tempfile::tempdir().expect("tempdir");
    let src = format!("oci-dir:{}:app", image().join("oci").display());
    let args = ["sbom", src.as_str(), "--output", "cyclonedx"];
    let first = stella_with_cache(&args, cache.path());
    assert!(first.status.success());
    let layers = std::fs::read_dir(cache.path().join("layers"))
        .expect("cache written")
        .count();
    assert!(layers >= 5, "one cache entry per layer, got {layers}");
    let second = stella_with_cache(&args, cache.path());
    assert!(second.status.success());
    assert_eq!(first.stdout, second.stdout);
}

/// (layers, layers read from the cache) from the summary line of `-o table`.
fn table_cache_summary(out: &std::process::Output) -> (usize, usize) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("NAME "), "{text}");
    let summary = text.lines().last().expect("summary line");
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers.as_slice() {
        [_, layers, cached, ..] => (*layers, *cached),
        _ => panic!("no summary in {summary:?}"),
    }
}

#[test]
fn table_output_reports_layer_cache_use() {
    let cache = tempfile::tempdir().expect("tempdir");
    let src = format!("oci-dir:{}:app", image().join("oci").display());
    let dir = cache.path().display().to_string();
    let args = ["sbom", src.as_str(), "-o", "table", "--cache-dir", &dir];
    let (layers, cached) = table_cache_summary(&stella(&args));
    assert!(layers >= 5);
    assert_eq!(cached, 0);
    assert_eq!(table_cache_summary(&stella(&args)), (layers, layers));
    let no_cache = ["sbom", src.as_str(), "-o", "table", "--no-cache"];
    assert_eq!(table_cache_summary(&stella(&no_cache)), (layers, 0));
}

#[test]
fn scan_of_the_image_finds_the_pinned_vulnerable_packages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("adv.db").display().to_string();
    let advisories = repo().join("data/demo/advisories").display().to_string();
    let out = stella(&["db", "import", "--db", &db, &advisories]);
    assert!(out.status.success());
    let src = format!("oci-dir:{}:app", image().join("oci").display());
    let out = stella(&["scan", &src, "--db", &db, "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let ids = scan_report::finding_ids(&report);
    assert!(
        ids.contains(&("qs".into(), "CVE-2022-24999".into())),
        "{ids:#?}"
    );
    assert!(
        ids.contains(&("urllib3".into(), "CVE-2023-45803".into())),
        "{ids:#?}"
    );
    // From the crates compiled into the Rust binary (cargo-auditable data):
    // RUSTSEC-2022-0013, reported by its CVE alias like the others.
    assert!(
        ids.contains(&("regex".into(), "CVE-2022-24713".into())),
        "{ids:#?}"
    );
}
