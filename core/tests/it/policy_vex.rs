//! VEX import: OpenVEX v0.2.0 and CycloneDX 1.4–1.6 documents become mute rules.
//!
//! There is no VEX data in `testdata/`; the documents here are written by hand
//! to follow the OpenVEX v0.2.0 specification examples (document fields, statement
//! fields, `products[].subcomponents`, `identifiers.purl`) and the CycloneDX VEX
//! examples (`vulnerabilities[].analysis`, `affects[].ref` to a `bom-ref` or BOM-Link).

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use stella_core::policy::mute::{Context, FindingRef, MuteDecision, MuteSet};
use stella_core::policy::vex::{VexError, VexImport, VexLimits, cyclonedx, openvex, purl_pattern};
use stella_core::verdict::mute_rule::{Justification, Provenance};

const OPENVEX: &str = r#"{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
  "author": "Wolfi J Inkinson",
  "role": "Document Creator",
  "timestamp": "2023-01-08T18:02:03.647787998-06:00",
  "version": 1,
  "statements": [
    {
      "vulnerability": {
        "@id": "https://nvd.nist.gov/vuln/detail/CVE-2019-17571",
        "name": "CVE-2019-17571",
        "aliases": ["GHSA-2qrg-x229-3v8q"]
      },
      "products": [
        {
          "@id": "pkg:oci/example@sha256%3A54e0b2b8f0c4b5d1",
          "subcomponents": [
            { "@id": "pkg:maven/log4j/log4j@1.2.17" }
          ]
        }
      ],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path",
      "impact_statement": "SocketServer is never started"
    },
    {
      "vulnerability": { "name": "CVE-2014-123456" },
      "products": [
        { "@id": "pkg:apk/wolfi/git@2.39.0-r1?arch=armv7" },
        { "@id": "https://example.com/product/git", "identifiers": { "purl": "pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64" } }
      ],
      "status": "fixed"
    },
    {
      "vulnerability": "CVE-2023-0001",
      "products": [ { "@id": "pkg:npm/left-pad@1.3.0" } ],
      "status": "affected",
      "action_statement": "Upgrade to 1.3.1"
    },
    {
      "vulnerability": { "name": "CVE-2023-0002" },
      "products": [ { "@id": "pkg:pypi/requests@2.31.0" } ],
      "status": "under_investigation"
    },
    {
      "vulnerability": { "name": "CVE-2023-0003" },
      "products": [ { "@id": "pkg:golang/example.com/mod@v1.0.0" } ],
      "status": "affected",
      "timestamp": "2023-02-01T00:00:00Z"
    },
    {
      "vulnerability": { "name": "CVE-2023-0003" },
      "products": [ { "@id": "pkg:golang/example.com/mod@v1.0.0" } ],
      "status": "not_affected",
      "justification": "component_not_present",
      "timestamp": "2023-03-01T00:00:00Z"
    },
    {
      "vulnerability": { "name": "CVE-2023-0003" },
      "products": [ { "@id": "pkg:golang/example.com/mod@v1.0.0" } ],
      "status": "under_investigation",
      "timestamp": "2023-01-15T00:00:00Z"
    }
  ]
}"#;

fn limits() -> VexLimits {
    VexLimits::default()
}

fn muted(set: &MuteSet, id: &str, aliases: &[&str], purl: &str) -> bool {
    let aliases: Vec<String> = aliases.iter().map(|a| (*a).to_owned()).collect();
    let finding = FindingRef {
        id,
        aliases: &aliases,
        purl,
    };
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    matches!(
        set.decide(&finding, &Context::default(), now),
        MuteDecision::Muted(_)
    )
}

#[test]
fn openvex_statements_become_mutes() {
    let import = openvex::parse(OPENVEX.as_bytes(), "vendor.openvex.json", &limits()).unwrap();
    assert_eq!(
        import.document_id.as_deref(),
        Some("https://openvex.dev/docs/example/vex-9fb3463de1b57")
    );
    let summary: Vec<(&str, String, usize)> = import
        .mutes
        .iter()
        .map(|m| {
            let Some(Provenance::Vex {
                document,
                statement,
            }) = &m.provenance
            else {
                panic!("mute without VEX provenance: {m:?}");
            };
            assert_eq!(document, "vendor.openvex.json");
            assert_eq!(m.author.as_deref(), Some("Wolfi J Inkinson"));
            (
                m.id.as_str(),
                m.purl.clone().unwrap_or_default(),
                *statement,
            )
        })
        .collect();
    let log4j = purl_pattern("pkg:maven/log4j/log4j@1.2.17");
    assert_eq!(
        summary,
        [
            ("CVE-2019-17571", log4j.clone(), 0),
            ("GHSA-2qrg-x229-3v8q", log4j, 0),
            (
                "CVE-2014-123456",
                purl_pattern("pkg:apk/wolfi/git@2.39.0-r1?arch=armv7"),
                1
            ),
            (
                "CVE-2014-123456",
                purl_pattern("pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"),
                1
            ),
            (
                "CVE-2023-0003",
                purl_pattern("pkg:golang/example.com/mod@v1.0.0"),
                5
            ),
        ]
    );
    let first = &import.mutes[0];
    assert_eq!(
        first.justification,
        Some(Justification::VulnerableCodeNotInExecutePath)
    );
    assert_eq!(
        first.reason.as_deref(),
        Some("SocketServer is never started")
    );
    assert_eq!(import.mutes[2].reason.as_deref(), Some("fixed per VEX"));

    let ignored: Vec<(usize, &str, &str)> = import
        .ignored
        .iter()
        .map(|i| (i.statement, i.vulnerability.as_str(), i.reason.as_str()))
        .collect();
    assert_eq!(
        ignored,
        [
            (2, "CVE-2023-0001", "status affected: Upgrade to 1.3.1"),
            (3, "CVE-2023-0002", "status under_investigation"),
            (4, "CVE-2023-0003", "superseded by statement 5"),
            (6, "CVE-2023-0003", "superseded by statement 5"),
        ]
    );

    let set = MuteSet::compile(import.mutes).unwrap();
    // The subcomponent, not the image, is what a scan reports.
    assert!(muted(
        &set,
        "CVE-2019-17571",
        &[],
        "pkg:maven/log4j/log4j@1.2.17"
    ));
    assert!(muted(
        &set,
        "CVE-2099-1",
        &["ghsa-2qrg-x229-3v8q"],
        "pkg:maven/log4j/log4j@1.2.17"
    ));
    assert!(!muted(
        &set,
        "CVE-2019-17571",
        &[],
        "pkg:maven/log4j/log4j@1.2.16"
    ));
    assert!(!muted(
        &set,
        "CVE-2019-17571",
        &[],
        "pkg:oci/example@sha256%3A54e0b2b8f0c4b5d1"
    ));
    // Qualifiers in the statement's purl must match exactly, '?' is not a wildcard.
    assert!(muted(
        &set,
        "CVE-2014-123456",
        &[],
        "pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"
    ));
    assert!(muted(
        &set,
        "CVE-2014-123456",
        &[],
        "pkg:apk/wolfi/git@2.39.0-r1?arch=armv7"
    ));
    assert!(!muted(
        &set,
        "CVE-2014-123456",
        &[],
        "pkg:apk/wolfi/git@2.39.0-r1?arch=aarch64"
    ));
    assert!(!muted(&set, "CVE-2023-0001", &[], "pkg:npm/left-pad@1.3.0"));
    assert!(!muted(
        &set,
        "CVE-2023-0002",
        &[],
        "pkg:pypi/requests@2.31.0"
    ));
    assert!(muted(
        &set,
        "CVE-2023-0003",
        &[],
        "pkg:golang/example.com/mod@v1.0.0"
    ));
}

#[test]
fn statement_order_breaks_timestamp_ties_and_undated_inherit_the_document_time() {
    let doc = r#"{"@context":"https://openvex.dev/ns/v0.2.0","timestamp":"2023-01-01T00:00:00Z","statements":[
      {"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a@1"}],"status":"not_affected","justification":"component_not_present"},
      {"vulnerability":{"name":"cve-1"},"products":[{"@id":"pkg:npm/a@1"}],"status":"affected"},
      {"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a@1"}],"status":"fixed","timestamp":"2022-12-31T00:00:00Z"}
    ]}"#;
    let import = openvex::parse(doc.as_bytes(), "d", &limits()).unwrap();
    assert!(import.mutes.is_empty(), "{:?}", import.mutes);
    let reasons: Vec<&str> = import.ignored.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "superseded by statement 1",
            "status affected",
            "superseded by statement 1"
        ]
    );
}

#[test]
fn not_affected_without_justification_or_impact_does_not_mute() {
    let doc = r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[
      {"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a@1"}],"status":"not_affected"},
      {"vulnerability":{"name":"CVE-2"},"products":[{"@id":"https://example.com/no-purl"}],"status":"fixed"}
    ]}"#;
    let import = openvex::parse(doc.as_bytes(), "d", &limits()).unwrap();
    assert!(import.mutes.is_empty());
    let reasons: Vec<&str> = import.ignored.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "not_affected without justification or impact_statement",
            "product has no purl to match findings against"
        ]
    );
}

fn error_of(result: Result<VexImport, VexError>) -> String {
    match result {
        Ok(import) => panic!("expected an error, got {import:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn openvex_errors_carry_a_json_path() {
    let ctx = r#""@context":"https://openvex.dev/ns/v0.2.0""#;
    let cases = [
        (
            format!(
                "{{{ctx},\"statements\":[{{\"vulnerability\":\"CVE-1\",\"products\":[{{\"@id\":\"pkg:npm/a@1\"}}],\"status\":\"maybe\"}}]}}"
            ),
            "statements[0].status",
        ),
        (
            format!(
                "{{{ctx},\"statements\":[{{\"vulnerability\":\"CVE-1\",\"products\":[{{\"@id\":\"pkg:npm/a@1\"}}],\"status\":\"not_affected\",\"justification\":\"code_not_present\"}}]}}"
            ),
            "statements[0].justification",
        ),
        (
            format!(
                "{{{ctx},\"statements\":[{{\"vulnerability\":\"CVE-1\",\"products\":\"pkg:npm/a@1\",\"status\":\"fixed\"}}]}}"
            ),
            "statements[0].products",
        ),
        (
            format!(
                "{{{ctx},\"statements\":[{{\"vulnerability\":\"CVE-1\",\"products\":[],\"status\":\"fixed\"}}]}}"
            ),
            "statements[0].products",
        ),
        (
            format!(
                "{{{ctx},\"statements\":[{{\"vulnerability\":{{\"@id\":\"https://nvd.nist.gov/vuln/detail/CVE-1\",\"aliases\":[]}},\"products\":[{{\"@id\":\"pkg:npm/a@1\"}}],\"status\":\"fixed\"}}]}}"
            ),
            "statements[0].vulnerability",
        ),
        (
            format!(
                "{{{ctx},\"statements\":[{{\"vulnerability\":\"CVE-1\",\"products\":[{{\"@id\":\"pkg:npm/a@1\"}}],\"status\":\"fixed\",\"timestamp\":\"yesterday\"}}]}}"
            ),
            "statements[0].timestamp",
        ),
        (
            format!("{{{ctx},\"timestamp\":\"2023-13-01T00:00:00Z\",\"statements\":[]}}"),
            "timestamp",
        ),
        (
            "{\"@context\":\"https://example.com/not-vex\",\"statements\":[]}".to_owned(),
            "@context",
        ),
        (format!("{{{ctx},\"statements\":[]}} trailing"), "."),
    ];
    for (doc, path) in cases {
        let message = error_of(openvex::parse(doc.as_bytes(), "d", &limits()));
        assert!(
            message.contains(&format!("at {path}:")),
            "{path}: {message}"
        );
    }
}

#[test]
fn limits_are_enforced_before_parsing() {
    let deep = format!(
        "{{\"@context\":\"https://openvex.dev/ns/v0.2.0\",\"x\":{}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(matches!(
        openvex::parse(deep.as_bytes(), "d", &limits()),
        Err(VexError::TooDeep { limit: 64 })
    ));
    assert!(matches!(
        cyclonedx::parse(deep.as_bytes(), "d", &limits()),
        Err(VexError::TooDeep { limit: 64 })
    ));
    let small = VexLimits {
        max_bytes: 100,
        ..VexLimits::default()
    };
    assert!(matches!(
        openvex::parse(OPENVEX.as_bytes(), "d", &small),
        Err(VexError::TooLarge { limit: 100 })
    ));
    let few = VexLimits {
        max_statements: 2,
        ..VexLimits::default()
    };
    assert!(matches!(
        openvex::parse(OPENVEX.as_bytes(), "d", &few),
        Err(VexError::TooManyStatements { count: 7, limit: 2 })
    ));
    assert!(matches!(
        cyclonedx::parse(CYCLONEDX.as_bytes(), "d", &few),
        Err(VexError::TooManyStatements { count: 5, limit: 2 })
    ));
}

const CYCLONEDX: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.5",
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "version": 1,
  "metadata": {
    "timestamp": "2024-01-10T12:00:00Z",
    "component": { "type": "container", "name": "acme-app", "bom-ref": "acme-app", "purl": "pkg:oci/acme-app@sha256%3Aabc" }
  },
  "components": [
    {
      "type": "library", "bom-ref": "jackson-databind-2.8.0", "name": "jackson-databind",
      "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.8.0",
      "components": [
        { "type": "library", "bom-ref": "nested", "name": "inner", "purl": "pkg:maven/com.example/inner@1.0" }
      ]
    }
  ],
  "vulnerabilities": [
    {
      "bom-ref": "6eee14da-8f42-4cc4-bb65-203235f02415",
      "id": "SNYK-JAVA-COMFASTERXMLJACKSONCORE-32111",
      "source": { "name": "Snyk", "url": "https://security.snyk.io/vuln/SNYK-JAVA-COMFASTERXMLJACKSONCORE-32111" },
      "references": [ { "id": "CVE-2018-7489", "source": { "name": "NVD" } } ],
      "analysis": {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "response": ["will_not_fix", "update"],
        "detail": "Automated dataflow analysis and manual code review indicates that the vulnerable code is not reachable, either directly or indirectly."
      },
      "affects": [ { "ref": "jackson-databind-2.8.0" } ]
    },
    {
      "id": "CVE-2024-1000",
      "analysis": { "state": "false_positive" },
      "affects": [ { "ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#nested" }, { "ref": "missing-ref" } ]
    },
    {
      "id": "CVE-2024-1001",
      "analysis": { "state": "resolved", "justification": "protected_at_runtime" },
      "affects": [ { "ref": "pkg:npm/lodash@4.17.20" } ]
    },
    {
      "id": "CVE-2024-1002",
      "analysis": { "state": "exploitable", "response": ["update"] },
      "affects": [ { "ref": "jackson-databind-2.8.0" } ]
    },
    {
      "id": "CVE-2024-1003",
      "analysis": { "state": "in_triage" },
      "affects": [ { "ref": "jackson-databind-2.8.0" } ]
    }
  ]
}"#;

#[test]
fn cyclonedx_analysis_becomes_mutes() {
    let import = cyclonedx::parse(CYCLONEDX.as_bytes(), "acme.cdx.json", &limits()).unwrap();
    assert_eq!(
        import.document_id.as_deref(),
        Some("urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79")
    );
    let ids: Vec<(&str, usize)> = import
        .mutes
        .iter()
        .map(|m| match &m.provenance {
            Some(Provenance::Vex {
                document,
                statement,
            }) if document == "acme.cdx.json" => (m.id.as_str(), *statement),
            other => panic!("bad provenance {other:?}"),
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("SNYK-JAVA-COMFASTERXMLJACKSONCORE-32111", 0),
            ("CVE-2018-7489", 0),
            ("CVE-2024-1000", 1),
            ("CVE-2024-1001", 2),
        ]
    );
    let first = &import.mutes[0];
    assert_eq!(
        first.justification,
        Some(Justification::VulnerableCodeNotInExecutePath)
    );
    let reason = first.reason.as_deref().unwrap_or("");
    assert!(
        reason.starts_with(
            "CycloneDX VEX: not_affected, justification code_not_reachable: Automated"
        ),
        "{reason}"
    );
    assert_eq!(import.mutes[2].justification, None);
    assert_eq!(
        import.mutes[3].justification,
        Some(Justification::InlineMitigationsAlreadyExist)
    );
    let ignored: Vec<(usize, &str)> = import
        .ignored
        .iter()
        .map(|i| (i.statement, i.reason.as_str()))
        .collect();
    assert_eq!(
        ignored,
        [
            (1, "affects ref \"missing-ref\" does not resolve to a purl"),
            (3, "state exploitable does not mute"),
            (4, "state in_triage does not mute"),
        ]
    );

    let set = MuteSet::compile(import.mutes).unwrap();
    let jackson = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.8.0";
    assert!(muted(&set, "GHSA-xxxx", &["CVE-2018-7489"], jackson));
    assert!(!muted(
        &set,
        "CVE-2018-7489",
        &[],
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.0"
    ));
    assert!(muted(
        &set,
        "CVE-2024-1000",
        &[],
        "pkg:maven/com.example/inner@1.0"
    ));
    assert!(muted(&set, "CVE-2024-1001", &[], "pkg:npm/lodash@4.17.20"));
    assert!(!muted(&set, "CVE-2024-1002", &[], jackson));
    assert!(!muted(&set, "CVE-2024-1003", &[], jackson));
}

#[test]
fn cyclonedx_justifications_map_to_vex() {
    use Justification::*;
    let table = [
        ("code_not_present", VulnerableCodeNotPresent),
        ("code_not_reachable", VulnerableCodeNotInExecutePath),
        ("requires_configuration", VulnerableCodeNotInExecutePath),
        ("requires_dependency", ComponentNotPresent),
        ("requires_environment", VulnerableCodeNotInExecutePath),
        ("protected_by_compiler", InlineMitigationsAlreadyExist),
        ("protected_at_runtime", InlineMitigationsAlreadyExist),
        ("protected_at_perimeter", InlineMitigationsAlreadyExist),
        (
            "protected_by_mitigating_control",
            InlineMitigationsAlreadyExist,
        ),
    ];
    for (cdx, vex) in table {
        assert_eq!(cyclonedx::map_justification(cdx), Some(vex), "{cdx}");
        let doc = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","vulnerabilities":[{{"id":"CVE-1","analysis":{{"state":"not_affected","justification":"{cdx}"}},"affects":[{{"ref":"pkg:npm/a@1"}}]}}]}}"#
        );
        let import = cyclonedx::parse(doc.as_bytes(), "d", &limits()).unwrap();
        assert_eq!(import.mutes.len(), 1);
        assert_eq!(import.mutes[0].justification, Some(vex));
        assert!(
            import.mutes[0]
                .reason
                .as_deref()
                .unwrap_or("")
                .contains(cdx)
        );
    }
    assert_eq!(
        cyclonedx::map_justification("vulnerable_code_not_present"),
        None
    );
}

#[test]
fn cyclonedx_errors_carry_a_json_path() {
    let wrap = |vulns: &str| {
        format!(r#"{{"bomFormat":"CycloneDX","specVersion":"1.4","vulnerabilities":[{vulns}]}}"#)
    };
    let cases = [
        (
            wrap(
                r#"{"id":"CVE-1","analysis":{"state":"maybe"},"affects":[{"ref":"pkg:npm/a@1"}]}"#,
            ),
            "vulnerabilities[0].analysis.state",
        ),
        (
            wrap(
                r#"{"id":"CVE-1","analysis":{"state":"not_affected","justification":"nope"},"affects":[{"ref":"pkg:npm/a@1"}]}"#,
            ),
            "vulnerabilities[0].analysis.justification",
        ),
        (
            wrap(r#"{"analysis":{"state":"not_affected"},"affects":[{"ref":"pkg:npm/a@1"}]}"#),
            "vulnerabilities[0].id",
        ),
        (
            wrap(r#"{"id":"CVE-1","analysis":{"state":"not_affected"},"affects":[]}"#),
            "vulnerabilities[0].affects",
        ),
        (
            wrap(r#"{"id":"CVE-1","affects":[{"ref":7}]}"#),
            "vulnerabilities[0].affects[0].ref",
        ),
        (
            wrap(r#"{"id":"CVE-1","updated":"soon","affects":[{"ref":"pkg:npm/a@1"}]}"#),
            "vulnerabilities[0].updated",
        ),
        (
            r#"{"bomFormat":"SPDX","specVersion":"1.5"}"#.to_owned(),
            "bomFormat",
        ),
        (
            r#"{"bomFormat":"CycloneDX","specVersion":"1.3"}"#.to_owned(),
            "specVersion",
        ),
    ];
    for (doc, path) in cases {
        let message = error_of(cyclonedx::parse(doc.as_bytes(), "d", &limits()));
        assert!(
            message.contains(&format!("at {path}:")),
            "{path}: {message}"
        );
    }
}

#[test]
fn purl_patterns_escape_glob_syntax() {
    let cases = [
        ("pkg:npm/a@1", "pkg:npm/a@1", true),
        ("pkg:npm/a@1", "pkg:npm/a@1?foo=bar", true),
        ("pkg:npm/a@1", "pkg:npm/a@1#sub/path", true),
        ("pkg:npm/a@1", "pkg:npm/a@12", false),
        ("pkg:npm/a@1", "pkg:npm/a", false),
        ("pkg:npm/a@1?x=1", "pkg:npm/a@1?x=1", true),
        ("pkg:npm/a@1?x=1", "pkg:npm/a@1?x=2", false),
        ("pkg:npm/a*@1", "pkg:npm/ab@1", false),
        ("pkg:npm/a[b]@1", "pkg:npm/a[b]@1", true),
        ("pkg:npm/a{b,c}@1", "pkg:npm/ab@1", false),
        ("pkg:npm/a@1}", "pkg:npm/a@1}?x=1", true),
        ("pkg:npm/a@1,", "pkg:npm/a@1,", true),
        ("pkg:npm/a@1,", "pkg:npm/a@1", false),
    ];
    for (purl, installed, expected) in cases {
        let glob = stella_core::policy::mute::PurlGlob::new(&purl_pattern(purl)).unwrap();
        assert_eq!(glob.is_match(installed), expected, "{purl} vs {installed}");
    }
}

#[derive(Debug, Clone)]
struct GenStatement {
    vuln: usize,
    product: usize,
    status: &'static str,
    justification: Option<&'static str>,
    timestamp: Option<u32>,
}

const VULNS: [&str; 3] = ["CVE-2024-1", "CVE-2024-2", "GHSA-aaaa-bbbb-cccc"];
const PRODUCTS: [&str; 3] = [
    "pkg:npm/a@1.0.0",
    "pkg:pypi/b@2.0",
    "pkg:deb/debian/c@3?arch=amd64",
];

fn gen_statement() -> impl Strategy<Value = GenStatement> {
    (
        0..VULNS.len(),
        0..PRODUCTS.len(),
        prop::sample::select(vec![
            "not_affected",
            "fixed",
            "affected",
            "under_investigation",
        ]),
        prop::option::of(prop::sample::select(vec![
            "component_not_present",
            "vulnerable_code_not_present",
            "inline_mitigations_already_exist",
        ])),
        prop::option::of(0u32..5),
    )
        .prop_map(
            |(vuln, product, status, justification, timestamp)| GenStatement {
                vuln,
                product,
                status,
                justification,
                timestamp,
            },
        )
}

/// The expected winner per (vuln, product): latest timestamp (undated oldest), then position.
fn expected_mutes(
    statements: &[GenStatement],
    muting: impl Fn(&GenStatement) -> bool,
) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        let wins = statements.iter().enumerate().all(|(j, o)| {
            o.vuln != s.vuln || o.product != s.product || (o.timestamp, j) <= (s.timestamp, i)
        });
        if wins && muting(s) {
            out.push((VULNS[s.vuln].to_owned(), PRODUCTS[s.product].to_owned(), i));
        }
    }
    out
}

fn actual_mutes(import: &VexImport) -> Vec<(String, String, usize)> {
    import
        .mutes
        .iter()
        .map(|m| {
            let Some(Provenance::Vex { statement, .. }) = m.provenance else {
                panic!("no provenance");
            };
            let purl = PRODUCTS
                .iter()
                .find(|p| purl_pattern(p) == m.purl.clone().unwrap_or_default())
                .map(|p| (*p).to_owned())
                .unwrap_or_default();
            (m.id.clone(), purl, statement)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn purl_patterns_compile_and_match_their_purl(purl in "pkg:[a-z]{1,5}/\\PC{1,30}") {
        let glob = stella_core::policy::mute::PurlGlob::new(&purl_pattern(&purl)).unwrap();
        prop_assert!(glob.is_match(purl.trim()), "{} -> {}", purl, purl_pattern(&purl));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = openvex::parse(&bytes, "fuzz", &limits());
        let _ = cyclonedx::parse(&bytes, "fuzz", &limits());
    }

    #[test]
    fn json_shaped_text_never_panics(text in r#"[\[\]{}",:0-9a-z@_ .-]{0,300}"#) {
        let _ = openvex::parse(text.as_bytes(), "fuzz", &limits());
        let _ = cyclonedx::parse(text.as_bytes(), "fuzz", &limits());
    }

    #[test]
    fn generated_openvex_round_trips(statements in prop::collection::vec(gen_statement(), 0..12)) {
        let json_statements: Vec<serde_json::Value> = statements.iter().map(|s| {
            let mut v = serde_json::json!({
                "vulnerability": {"name": VULNS[s.vuln]},
                "products": [{"@id": PRODUCTS[s.product]}],
                "status": s.status,
            });
            if let Some(j) = s.justification { v["justification"] = j.into(); }
            if let Some(t) = s.timestamp { v["timestamp"] = format!("2024-01-0{}T00:00:00Z", t + 1).into(); }
            v
        }).collect();
        let doc = serde_json::json!({
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "urn:test",
            "author": "proptest",
            "statements": json_statements,
        });
        let import = openvex::parse(doc.to_string().as_bytes(), "gen", &limits()).unwrap();
        let expected = expected_mutes(&statements, |s| {
            s.status == "fixed" || (s.status == "not_affected" && s.justification.is_some())
        });
        prop_assert_eq!(actual_mutes(&import), expected.clone());
        prop_assert_eq!(import.mutes.len() + import.ignored.len(), statements.len());
        for m in &import.mutes {
            let Some(Provenance::Vex { statement, .. }) = m.provenance else { unreachable!() };
            prop_assert_eq!(m.justification.map(|j| j.as_str()), statements[statement].justification);
        }
    }

    #[test]
    fn generated_cyclonedx_round_trips(statements in prop::collection::vec(gen_statement(), 0..12)) {
        let state = |s: &str| match s {
            "not_affected" => "not_affected",
            "fixed" => "resolved",
            "affected" => "exploitable",
            _ => "in_triage",
        };
        let vulns: Vec<serde_json::Value> = statements.iter().map(|s| {
            let mut v = serde_json::json!({
                "id": VULNS[s.vuln],
                "analysis": {"state": state(s.status)},
                "affects": [{"ref": PRODUCTS[s.product]}],
            });
            if let Some(t) = s.timestamp { v["updated"] = format!("2024-01-0{}T00:00:00Z", t + 1).into(); }
            v
        }).collect();
        let doc = serde_json::json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": vulns});
        let import = cyclonedx::parse(doc.to_string().as_bytes(), "gen", &limits()).unwrap();
        let expected = expected_mutes(&statements, |s| s.status == "not_affected" || s.status == "fixed");
        prop_assert_eq!(actual_mutes(&import), expected);
        prop_assert_eq!(import.mutes.len() + import.ignored.len(), statements.len());
    }
}
