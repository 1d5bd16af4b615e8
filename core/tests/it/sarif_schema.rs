//! The SARIF renderer's output validates against the official SARIF 2.1.0 schema.

use chrono::{TimeZone, Utc};
use serde_json::Value;
use stella_core::advisory::Severity;
use stella_core::advisory::cvss::CvssScore;
use stella_core::matcher::Finding;
use stella_core::policy::generated::{VerdictConfig, evaluate};
use stella_core::policy::ignore::IgnoreFile;
use stella_core::report::sarif::to_sarif;
use stella_core::report::{DatabaseInfo, SbomInfo, ScanReport, ToolInfo};
use stella_core::sbom::SbomFormat;

fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sarif/sarif-schema-2.1.0.json"
    );
    let text = std::fs::read_to_string(path).expect("SARIF schema fixture is committed");
    serde_json::from_str(&text).expect("SARIF schema fixture is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema())
        .expect("the official schema compiles")
}

fn finding(
    id: &str,
    purl: &str,
    severity: Severity,
    fixed: &[&str],
    score: Option<f64>,
) -> Finding {
    let name = purl.rsplit('/').next().unwrap_or(purl);
    let (name, version) = name.split_once('@').unwrap_or((name, "0"));
    Finding {
        id: id.to_owned(),
        aliases: vec![format!("GHSA-{}", id.len())],
        advisories: vec![id.to_owned()],
        component_ref: purl.to_owned(),
        package_name: name.to_owned(),
        purl: purl.to_owned(),
        installed_version: version.to_owned(),
        fixed_versions: fixed.iter().map(|v| (*v).to_owned()).collect(),
        severity,
        cvss: score.map(|score| CvssScore {
            version: "3.1".to_owned(),
            vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned(),
            score,
        }),
        summary: Some(format!("{name}: \"quoted\" <html> & unicode é summary")),
        published: None,
        layer_digest: None,
    }
}

fn report(sbom_path: Option<&str>, findings: Vec<Finding>) -> ScanReport {
    let cfg = VerdictConfig {
        fail_on: Some(Severity::High),
        ignore_unfixed: false,
        ignores: IgnoreFile::parse("ignores:\n  - id: CVE-2024-0004\n").expect("valid ignore file"),
    };
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    ScanReport::new(
        ToolInfo {
            name: "stella".into(),
            version: "0.1.0".into(),
        },
        Some("registry.example/app:1.0".into()),
        SbomInfo::new(SbomFormat::Spdx, sbom_path.map(str::to_owned), 10),
        DatabaseInfo::default(),
        evaluate(findings, &cfg, now),
    )
}

fn sample_findings() -> Vec<Finding> {
    vec![
        finding(
            "CVE-2024-0001",
            "pkg:pypi/attrs@21.0",
            Severity::Critical,
            &["22.0"],
            Some(9.8),
        ),
        finding(
            "CVE-2024-0001",
            "pkg:pypi/attrs@20.0",
            Severity::High,
            &["22.0"],
            Some(7.5),
        ),
        finding(
            "CVE-2024-0002",
            "pkg:npm/%40babel/core@7.0.0",
            Severity::Medium,
            &[],
            None,
        ),
        finding(
            "GHSA-abcd-efgh-ijkl",
            "pkg:deb/debian/openssl@3.0.11-1?arch=amd64",
            Severity::Low,
            &["3.0.13-1"],
            Some(3.1),
        ),
        finding(
            "OSV-2024-5",
            "pkg:golang/github.com/a/b@v1.2.3",
            Severity::Unknown,
            &[],
            None,
        ),
        finding(
            "CVE-2024-0004",
            "pkg:pypi/idna@3.0",
            Severity::High,
            &["3.7"],
            None,
        ),
    ]
}

fn assert_valid(sarif: &str) {
    let instance: Value = serde_json::from_str(sarif).expect("SARIF output is JSON");
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF is not schema-valid:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_output_is_schema_valid() {
    let sarif = to_sarif(&report(
        Some("out/sbom files/app.spdx.json"),
        sample_findings(),
    ));
    assert_valid(&sarif);
    let log: Value = serde_json::from_str(&sarif).unwrap();
    // The ignored finding is not reported; the others are.
    assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 5);
}

#[test]
fn sarif_without_sbom_path_and_without_findings_is_schema_valid() {
    assert_valid(&to_sarif(&report(None, sample_findings())));
    assert_valid(&to_sarif(&report(Some("C:\\sboms\\bom.json"), vec![])));
}

#[test]
fn schema_rejects_broken_sarif() {
    // Guards against a vacuous schema: known-bad variants of our own output fail.
    let sarif = to_sarif(&report(Some("bom.json"), sample_findings()));
    let good: Value = serde_json::from_str(&sarif).unwrap();
    let validator = validator();
    assert!(validator.is_valid(&good));

    let mut bad_level = good.clone();
    bad_level["runs"][0]["results"][0]["level"] = Value::from("critical");
    assert!(!validator.is_valid(&bad_level));

    let mut bad_version = good.clone();
    bad_version["version"] = Value::from("2.0.0");
    assert!(!validator.is_valid(&bad_version));

    let mut bad_uri = good.clone();
    bad_uri["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = Value::from("not a uri");
    assert!(!validator.is_valid(&bad_uri));

    let mut extra = good;
    extra["runs"][0]["results"][0]["severity"] = Value::from("high");
    assert!(!validator.is_valid(&extra));
}
