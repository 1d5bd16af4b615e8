//! `stella scan --policy`, `stella policy validate|explain|schema` on the demo SBOM and
//! the shipped advisories: every example policy in `config/policies/` is exercised here.

use crate::demo_run::{demo_db, json, path, repo, stella};

/// `(id, action, rule)` of every acted-on finding, sorted by id.
fn decisions(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .chain(report["verdict"]["ignored"].as_array().expect("ignored"))
        .map(|f| {
            (
                f["id"].as_str().unwrap_or_default().to_owned(),
                f["action"].as_str().unwrap_or_default().to_owned(),
                f["rule"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn action_of<'a>(d: &'a [(String, String, String)], id: &str) -> (&'a str, &'a str) {
    let (_, action, rule) = d
        .iter()
        .find(|(i, _, _)| i == id)
        .unwrap_or_else(|| panic!("{id} not decided: {d:?}"));
    (action, rule)
}

fn muted_ids(report: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = report["verdict"]["muted"]
        .as_array()
        .expect("muted")
        .iter()
        .map(|m| m["finding"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn prod_gate_with_vex_in_and_out_of_production() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let sbom = path("data/demo/sbom.cdx.json");
    let policy = path("config/policies/prod-gate.yaml");
    let openvex = path("config/policies/vex/demo.openvex.json");
    let cdx = path("config/policies/vex/demo.cdx-vex.json");
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan", "--sbom", &sbom, "--db", &db, "--policy", &policy, "--vex", &openvex, "--vex",
            &cdx, "-o", "json",
        ];
        args.extend_from_slice(extra);
        stella(&args)
    };

    let out = scan(&["--namespace", "shop", "--namespace-label", "env=prod"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let v = &report["verdict"];
    assert_eq!(v["status"], "fail");
    assert_eq!(v["policy"]["name"], "prod-gate");
    assert_eq!(v["policy"]["version"], "2026-11-29");
    assert!(
        v["policy"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let d = decisions(&report);
    assert_eq!(
        action_of(&d, "CVE-2021-44228"),
        ("fail", "fixable-critical-in-prod")
    );
    assert_eq!(action_of(&d, "CVE-2020-36518"), ("warn", "(default)"));
    // The expired mute no longer applies: minimatch is decided by the rules again.
    assert_eq!(action_of(&d, "CVE-2022-3517"), ("warn", "(default)"));
    let expired = v["expiredMutes"].as_array().unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["mute"]["id"], "GHSA-f8q6-p94x-37v3");
    assert_eq!(expired[0]["matchingFindings"], 1);
    // Muted by the policy (qs), the OpenVEX statement (twisted), the CycloneDX VEX (containerd).
    assert_eq!(
        muted_ids(&report),
        ["CVE-2022-21716", "CVE-2022-23648", "CVE-2022-24999"]
    );
    let muted = v["muted"].as_array().unwrap();
    let twisted = muted
        .iter()
        .find(|m| m["finding"]["id"] == "CVE-2022-21716")
        .unwrap();
    assert_eq!(
        twisted["mute"]["justification"],
        "vulnerable_code_not_in_execute_path"
    );
    assert_eq!(twisted["mute"]["provenance"]["kind"], "vex");
    assert_eq!(twisted["mute"]["provenance"]["statement"], 0);
    let qs = muted
        .iter()
        .find(|m| m["finding"]["id"] == "CVE-2022-24999")
        .unwrap();
    assert_eq!(qs["mute"]["author"], "platform-team@example.com");
    assert_eq!(qs["mute"]["provenance"]["path"], "policy prod-gate");
    let fired: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["fixable-critical-in-prod", "(default)"]);

    // A dev namespace: nothing fails, and unscored findings are ignored.
    let out = scan(&["--namespace", "shop-dev", "--namespace-label", "env=dev"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["verdict"]["status"], "warn");
    let d = decisions(&report);
    assert_eq!(action_of(&d, "CVE-2021-44228"), ("warn", "(default)"));
    assert_eq!(
        action_of(&d, "CVE-2023-25577"),
        ("ignore", "unscored-outside-prod")
    );

    // The table says the same in words.
    let out = stella(&[
        "scan",
        "--sbom",
        &sbom,
        "--db",
        &db,
        "--policy",
        &policy,
        "--vex",
        &openvex,
        "--namespace",
        "shop",
        "--namespace-label",
        "env=prod",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rule fixable-critical-in-prod (fail): 1 finding — Critical vulnerability with a fix available"), "{text}");
    assert!(
        text.contains(
            "muted: CVE-2022-21716 in pkg:pypi/twisted@21.7.0 — vulnerable_code_not_in_execute_path"
        ),
        "{text}"
    );
    assert!(text.contains("warning: mute of GHSA-f8q6-p94x-37v3 (policy prod-gate #1) expired 2026-01-31T23:59:59Z"), "{text}");
    assert!(
        text.contains("verdict: FAIL (policy prod-gate 2026-11-29"),
        "{text}"
    );
}

#[test]
fn ci_baseline_gates_fixable_high_and_ignores_reviewed_findings() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let out = stella(&[
        "scan",
        "--sbom",
        &path("data/demo/sbom.cdx.json"),
        "--db",
        &db,
        "--policy",
        &path("config/policies/ci-baseline.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let d = decisions(&report);
    assert_eq!(
        action_of(&d, "CVE-2021-44228"),
        ("fail", "fixable-high-or-critical")
    );
    assert_eq!(
        action_of(&d, "CVE-2022-3517"),
        ("fail", "fixable-high-or-critical")
    );
    assert_eq!(
        action_of(&d, "CVE-2023-23934"),
        ("ignore", "reviewed-werkzeug-cookie")
    );
    assert_eq!(action_of(&d, "CVE-2023-25577"), ("ignore", "unscored"));
    assert_eq!(action_of(&d, "CVE-2023-3978"), ("ignore", "unscored"));
    // Medium advisories published over two years ago (urllib3's in October 2023) fail.
    assert_eq!(action_of(&d, "CVE-2023-45803"), ("fail", "old-medium"));
    let urllib3 = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "CVE-2023-45803")
        .unwrap();
    assert!(
        urllib3["published"]
            .as_str()
            .unwrap()
            .starts_with("2023-10-17"),
        "{urllib3}"
    );
    assert_eq!(
        report["summary"]["failing"],
        report["verdict"]["counts"]["total"].as_u64().unwrap()
            - report["summary"]["warning"].as_u64().unwrap()
    );
}

#[test]
fn image_hygiene_uses_image_and_label_context() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let sbom = path("data/demo/sbom.cdx.json");
    let policy = path("config/policies/image-hygiene.yaml");
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan", "--sbom", &sbom, "--db", &db, "--policy", &policy, "-o", "json",
        ];
        args.extend_from_slice(extra);
        json(&stella(&args))
    };
    let prod = scan(&[
        "--image-ref",
        "registry.example.com/prod/shop:1.4",
        "--label",
        "tier=frontend",
    ]);
    let d = decisions(&prod);
    assert_eq!(
        action_of(&d, "CVE-2021-44228"),
        ("fail", "prod-registry-high")
    );
    assert_eq!(
        action_of(&d, "CVE-2023-22466"),
        ("fail", "frontend-medium-cvss")
    );
    assert_eq!(action_of(&d, "CVE-2023-23934"), ("warn", "(default)"));
    let sandbox = scan(&["--image-ref", "registry.example.com/sandbox/shop:dev"]);
    assert_eq!(sandbox["verdict"]["status"], "pass");
    assert_eq!(sandbox["verdict"]["ignored"].as_array().unwrap().len(), 12);
    let digest = scan(&[
        "--image-digest",
        "sha256:0000000000000000000000000000000000000000000000000000000000000bad",
    ]);
    assert_eq!(digest["verdict"]["status"], "fail");
    assert_eq!(digest["verdict"]["rules"][0]["name"], "known-bad-digest");
}

#[test]
fn validate_reports_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(repo().join("config/policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let mut args = vec!["policy", "validate"];
    args.extend(files.iter().map(String::as_str));
    let out = stella(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(": valid — policy"))
            .count(),
        files.len()
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "schemaVersion: 1\nname: bad\nrules:\n  - name: r\n    action: fail\n    match:\n      cvss: {min: 12}\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    let out = stella(&["policy", "validate", &files[0], &bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml: invalid: rules[0].match.cvss.min: must be between 0 and 10"),
        "{err}"
    );

    // A policy that fails to load stops the scan with exit 2 before anything is printed.
    let db = demo_db(dir.path());
    let out = stella(&[
        "scan",
        "--sbom",
        &path("data/demo/sbom.cdx.json"),
        "--db",
        &db,
        "--policy",
        &bad,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    // --policy and the v0 flags are exclusive.
    let out = stella(&["scan", "--sbom", "x", "--policy", &bad, "--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_is_json_schema_for_the_policy_document() {
    let out = stella(&["policy", "schema"]);
    assert!(out.status.success());
    let schema = json(&out);
    assert_eq!(schema["title"], "StellaOps scan policy");
    assert!(schema["properties"]["rules"].is_object(), "{schema:#}");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(required.contains(&"schemaVersion") && required.contains(&"name"));
}

#[test]
fn explain_gives_every_finding_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let sbom = path("data/demo/sbom.cdx.json");
    let policy = path("config/policies/prod-gate.yaml");
    let openvex = path("config/policies/vex/demo.openvex.json");
    let args = [
        "policy",
        "explain",
        "--sbom",
        &sbom,
        "--db",
        &db,
        "--policy",
        &policy,
        "--vex",
        &openvex,
        "--namespace-label",
        "env=prod",
        "--namespace",
        "shop",
    ];
    let out = stella(&args);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("policy prod-gate 2026-11-29 (sha256:"),
        "{text}"
    );
    assert!(
        text.lines().next().unwrap().ends_with("verdict FAIL"),
        "{text}"
    );
    assert!(text.contains("FAIL   critical CVE-2021-44228       pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1 — rule fixable-critical-in-prod: Critical vulnerability with a fix available, in a production namespace"), "{text}");
    assert!(text.contains("MUTED  high     CVE-2022-21716"), "{text}");
    assert!(text.contains("expired mute: GHSA-f8q6-p94x-37v3"), "{text}");

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let doc = json(&stella(&json_args));
    let decisions = doc["decisions"].as_array().unwrap();
    // Every finding of the scan is explained: 12 matched, none dropped.
    assert_eq!(decisions.len(), 12);
    assert!(
        decisions
            .iter()
            .all(|d| !d["reason"].as_str().unwrap().is_empty())
    );
    let muted: Vec<&str> = decisions
        .iter()
        .filter(|d| d["action"] == "muted")
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(muted, ["CVE-2022-21716", "CVE-2022-24999"]);
}

#[test]
fn audit_mutes_records_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.yaml");
    let after = dir.path().join("after.yaml");
    std::fs::write(
        &before,
        "schemaVersion: 1\nname: p\nmutes:\n  - {id: CVE-1, expires: 2026-12-31}\n  - {id: CVE-2}\n",
    )
    .unwrap();
    std::fs::write(
        &after,
        "schemaVersion: 1\nname: p\nmutes:\n  - {id: CVE-1, expires: 2027-03-31, author: alice}\n  - {id: CVE-3, justification: component_not_present}\n",
    )
    .unwrap();
    let log = dir.path().join("audit.jsonl");
    let (b, a, l) = (
        before.display().to_string(),
        after.display().to_string(),
        log.display().to_string(),
    );
    let out = stella(&[
        "policy",
        "audit-mutes",
        "--before",
        &b,
        "--after",
        &a,
        "--actor",
        "alice",
        "--audit-log",
        &l,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let changes: Vec<(&str, &str)> = printed
        .iter()
        .map(|r| (r["change"].as_str().unwrap(), r["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changes,
        [
            ("changed", "CVE-1"),
            ("removed", "CVE-2"),
            ("added", "CVE-3")
        ]
    );
    assert_eq!(
        printed[0]["fields"],
        serde_json::json!(["expires", "author"])
    );
    assert_eq!(printed[0]["actor"], "alice");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 3);
    // A new policy: every mute is added.
    let out = stella(&["policy", "audit-mutes", "--after", &a]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn exploited_and_rego_needs_kev_and_reports_rego_messages() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let sbom = path("data/demo/sbom.cdx.json");
    let policy = path("config/policies/exploited-and-rego.yaml");
    let kev = path("data/kev/known_exploited_vulnerabilities.json");

    // A KEV rule without a catalog is a usage error, not a silent non-match.
    let out = stella(&["scan", "--sbom", &sbom, "--db", &db, "--policy", &policy]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has rules on KEV membership: give the catalog with --kev FILE"),
        "{err}"
    );

    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan", "--sbom", &sbom, "--db", &db, "--policy", &policy, "--kev", &kev, "-o", "json",
        ];
        args.extend_from_slice(extra);
        let out = stella(&args);
        (out.status.code(), json(&out))
    };
    // In production, from an allowed registry but not pinned by digest: Rego denies twice.
    let (code, report) = scan(&[
        "--image-ref",
        "registry.example/shop/web:1.4",
        "--namespace",
        "shop",
        "--namespace-label",
        "env=prod",
    ]);
    assert_eq!(code, Some(1));
    let rego = &report["verdict"]["rego"];
    assert_eq!(
        rego["deny"],
        serde_json::json!([
            "CVE-2021-44228: log4j-core 2.14.1 is critical and fixed in 2.15.0 (namespace shop is env=prod)",
            "image registry.example/shop/web:1.4 is not pinned by digest"
        ])
    );
    assert!(rego["error"].is_null());
    // None of the demo's vulnerabilities is in the (53-entry) KEV subset: the KEV rule
    // does not fire, and every finding's `kev` is known to be false.
    let d = decisions(&report);
    assert!(
        d.iter().all(|(_, _, rule)| rule != "known-exploited"),
        "{d:?}"
    );
    assert_eq!(action_of(&d, "CVE-2023-3978"), ("ignore", "unscored"));

    // Pinned, allowed, outside production: Rego says nothing (the demo's 4 high findings
    // are under the module's warning threshold of 5); the findings still warn.
    let (code, report) = scan(&[
        "--image-ref",
        "registry.example/shop/web:1.4",
        "--image-digest",
        "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(report["verdict"]["status"], "warn");
    assert_eq!(report["verdict"]["rego"]["deny"], serde_json::json!([]));
    assert_eq!(report["verdict"]["rego"]["warn"], serde_json::json!([]));
}
