//! Policy evaluation over 2,000 findings (goal: YAML rules < 0.5 ms), compiling a
//! policy, and a compile-cache hit.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use stella_core::advisory::Severity;
use stella_core::advisory::cvss::CvssScore;
use stella_core::matcher::Finding;
use stella_core::policy::compiled::{CompiledPolicy, PolicyCache};
use stella_core::policy::context::ScanContext;
use stella_core::policy::document::PolicyDocument;
use stella_core::policy::evaluate::{Evaluation, evaluate};

/// A realistic gate: mutes, globs, selectors, CVSS and severity rules, in the order a
/// team writes them (specific exceptions first).
const POLICY: &str = r#"
schemaVersion: 1
name: bench
defaultAction: warn
rules:
  - name: sandbox
    action: ignore
    match: {images: ["*/sandbox/*"]}
  - name: reviewed
    action: ignore
    match: {ids: ["CVE-2023-23934", "GHSA-xxxx-*"], packages: ["pkg:pypi/werkzeug@*"]}
  - name: unscored
    action: ignore
    match: {severity: [unknown], namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}}
  - name: fixable-critical-prod
    action: fail
    match: {minSeverity: critical, fixAvailable: true, namespaceSelector: {matchLabels: {env: prod}}}
  - name: cvss9
    action: fail
    match: {cvss: {min: 9.0}, namespaces: ["shop-*", "pay-*"]}
  - name: os-high
    action: warn
    match: {minSeverity: high, ecosystems: [deb, apk, rpm]}
  - name: frontend
    action: fail
    match: {cvss: {min: 7.0, max: 8.9}, labelSelector: {matchLabels: {tier: frontend}}}
mutes:
  - {id: CVE-2022-24999, purl: "pkg:npm/qs@*", justification: vulnerable_code_not_in_execute_path, expires: 2027-03-31}
  - {id: CVE-2019-0001, expires: 2020-01-01}
"#;

fn findings(n: usize) -> Vec<Finding> {
    let ecosystems = [
        "deb/debian",
        "npm",
        "pypi",
        "maven/org.example",
        "golang/github.com/x",
    ];
    let severities = [
        Severity::Unknown,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    (0..n)
        .map(|i| {
            let eco = ecosystems[i % ecosystems.len()];
            let purl = format!("pkg:{eco}/package{}@1.{}.0", i % 300, i % 7);
            Finding {
                id: format!("CVE-20{}-{:05}", 18 + i % 7, i),
                aliases: vec![format!("GHSA-{:04}-{:04}-{:04}", i, i % 97, i % 13)],
                advisories: vec![format!("GHSA-{:04}-{:04}-{:04}", i, i % 97, i % 13)],
                component_ref: purl.clone(),
                package_name: format!("package{}", i % 300),
                purl,
                installed_version: format!("1.{}.0", i % 7),
                fixed_versions: if i % 3 == 0 {
                    vec![]
                } else {
                    vec!["2.0.0".to_owned()]
                },
                severity: severities[i % severities.len()],
                cvss: (i % 4 != 0).then(|| CvssScore {
                    version: "3.1".to_owned(),
                    vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned(),
                    score: (i % 101) as f64 / 10.0,
                }),
                summary: None,
                published: None,
                layer_digest: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let policy = CompiledPolicy::from_yaml(POLICY).expect("bench policy compiles");
    let input = findings(2_000);
    let context = ScanContext {
        image: Some("registry.example.com/prod/shop:1.4".to_owned()),
        digest: Some("sha256:abc".to_owned()),
        namespace: Some("shop-prod".to_owned()),
        namespace_labels: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        labels: BTreeMap::from([("tier".to_owned(), "frontend".to_owned())]),
        ..ScanContext::default()
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
    let eval = Evaluation {
        context: &context,
        mutes: &[],
        kev: None,
        now,
    };
    // Evaluation consumes the findings; the copy made for each run is set-up, not timed.
    c.bench_function("policy_yaml_2000_findings", |b| {
        b.iter_batched(
            || input.clone(),
            |findings| evaluate(&policy, findings, &eval),
            BatchSize::LargeInput,
        )
    });
    let empty = CompiledPolicy::from_yaml("schemaVersion: 1\nname: empty\n").expect("compiles");
    c.bench_function("policy_no_rules_2000_findings (baseline)", |b| {
        b.iter_batched(
            || input.clone(),
            |findings| evaluate(&empty, findings, &eval),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("clone_2000_findings (baseline)", |b| {
        b.iter(|| input.clone())
    });
    c.bench_function("policy_compile", |b| {
        b.iter(|| CompiledPolicy::from_yaml(POLICY).expect("compiles"))
    });
    let cache = PolicyCache::new();
    let doc = PolicyDocument::from_yaml(POLICY).expect("parses");
    cache.get_or_compile(doc.clone()).expect("compiles");
    c.bench_function("policy_cache_hit", |b| {
        b.iter(|| cache.get_or_compile(doc.clone()).expect("cached"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
