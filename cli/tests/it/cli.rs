//! End-to-end tests of the `stella` binary on the shipped demo data (real advisories).

use crate::demo_run::{demo_db, demo_sbom, json, repo, stella};

#[test]
fn import_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("adv.db").display().to_string();
    let advisories = repo().join("data/demo/advisories").display().to_string();
    let first = json(&stella(&[
        "db",
        "import",
        "--db",
        &db,
        "-o",
        "json",
        &advisories,
    ]));
    let docs = first["documents"].as_u64().expect("documents");
    assert!(docs > 0);
    assert_eq!(first["inserted"].as_u64(), Some(docs));
    let again = json(&stella(&[
        "db",
        "import",
        "--db",
        &db,
        "-o",
        "json",
        &advisories,
    ]));
    assert_eq!(again["unchanged"].as_u64(), Some(docs));
    assert_eq!(again["inserted"].as_u64(), Some(0));
    assert_eq!(again["updated"].as_u64(), Some(0));
    let info = json(&stella(&["db", "info", "--db", &db, "-o", "json"]));
    assert_eq!(info["advisories"].as_u64(), Some(docs));
}

#[test]
fn demo_scan_finds_real_vulnerabilities_once_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = demo_db(dir.path());
    let out = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--db",
        &db,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "no --fail-on: pass");
    let report = json(&out);
    let findings = report["findings"].as_array().expect("findings");
    let find = |id: &str, purl_prefix: &str| {
        findings
            .iter()
            .filter(|f| f["id"] == id && f["purl"].as_str().unwrap_or("").starts_with(purl_prefix))
            .collect::<Vec<_>>()
    };
    let log4shell = find(
        "CVE-2021-44228",
        "pkg:maven/org.apache.logging.log4j/log4j-core@",
    );
    assert_eq!(log4shell.len(), 1, "{findings:#?}");
    assert_eq!(log4shell[0]["severity"], "critical");
    assert_eq!(log4shell[0]["installedVersion"], "2.14.1");
    assert!(
        log4shell[0]["fixedVersions"]
            .as_array()
            .expect("fixedVersions")
            .iter()
            .any(|v| v == "2.15.0")
    );
    // One finding for the CVE reached through GHSA and PYSEC.
    let werkzeug = find("CVE-2023-23934", "pkg:pypi/werkzeug@");
    assert_eq!(werkzeug.len(), 1);
    let aliases: Vec<&str> = werkzeug[0]["aliases"]
        .as_array()
        .expect("aliases")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(aliases.contains(&"GHSA-px8h-6qxv-m22q") && aliases.contains(&"PYSEC-2023-57"));
    // No (component, id) pair twice.
    let mut keys: Vec<(String, String)> = findings
        .iter()
        .map(|f| (f["purl"].to_string(), f["id"].to_string()))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n);
    // Not vulnerable in the demo data: requests 2.31.0, grpc 1.80.0.
    assert!(find("", "pkg:pypi/requests@").is_empty());
    assert!(
        findings
            .iter()
            .all(|f| !f["purl"].as_str().unwrap_or("").contains("grpc"))
    );
    // Without flags or a policy every finding warns: reported, exit code 0.
    assert_eq!(report["verdict"]["status"], "warn");
    assert_eq!(report["verdict"]["policy"]["generated"], true);
}

#[test]
fn fail_on_sets_exit_code_and_ignores_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = demo_db(dir.path());
    let sbom = demo_sbom();
    let out = stella(&[
        "scan",
        "--sbom",
        &sbom,
        "--db",
        &db,
        "--fail-on",
        "critical",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["verdict"]["status"], "fail");

    let ignore = dir.path().join("ignore.yaml");
    std::fs::write(
        &ignore,
        "ignores:\n  - id: GHSA-jfh8-c2jp-5v3q\n    purl: \"pkg:maven/org.apache.logging.log4j/*\"\n    reason: patched with the JndiLookup removal\n  - id: CVE-2023-23934\n    expires: 2001-01-01\n",
    )
    .expect("write ignore file");
    let ignore = ignore.display().to_string();
    let out = stella(&[
        "scan",
        "--sbom",
        &sbom,
        "--db",
        &db,
        "--fail-on",
        "critical",
        "--ignore-file",
        &ignore,
        "-o",
        "json",
    ]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["id"] != "CVE-2021-44228")
    );
    assert_eq!(
        report["verdict"]["expiredMutes"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["id"] == "CVE-2023-23934"),
        "an expired ignore no longer applies"
    );
}

#[test]
fn table_and_sarif_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = demo_db(dir.path());
    let sbom = demo_sbom();
    let table = stella(&["scan", "--sbom", &sbom, "--db", &db]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("CVE-2021-44228"), "{text}");
    let first_critical = text.find("critical").expect("critical row");
    let first_low = text.find("low").unwrap_or(usize::MAX);
    assert!(first_critical < first_low, "sorted by severity:\n{text}");
    let sarif = json(&stella(&[
        "scan", "--sbom", &sbom, "--db", &db, "-o", "sarif",
    ]));
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        !sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .is_empty()
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = demo_db(dir.path());
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","purl":"pkg:/nope"}]}"#,
    )
    .expect("write");
    let out = stella(&["scan", "--sbom", &bad.display().to_string(), "--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("components[0]"),
        "error names the JSON path: {err}"
    );

    let missing = dir.path().join("none.db").display().to_string();
    let out = stella(&["scan", "--sbom", &demo_sbom(), "--db", &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stella db import"));

    let out = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--db",
        &db,
        "--fail-on",
        "severe",
    ]);
    assert_eq!(out.status.code(), Some(2));

    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"id\": 5}").expect("write");
    let out = stella(&["db", "import", "--db", &db, &junk.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.json"));
}
