//! The policy engine: one table per rule condition, first-match-wins and default
//! actions, mutes before rules, validation errors with paths, the JSON Schema, the
//! generated policy of the v0 flags, and determinism.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use stella_core::advisory::Severity;
use stella_core::advisory::cvss::CvssScore;
use stella_core::matcher::Finding;
use stella_core::policy::compiled::{CompiledPolicy, PolicyCache, PolicyError};
use stella_core::policy::context::ScanContext;
use stella_core::policy::document::{PolicyDocument, json_schema};
use stella_core::policy::evaluate::{Evaluation, KnownExploited, evaluate};
use stella_core::policy::generated;
use stella_core::policy::mute::MuteSet;
use stella_core::policy::rule::Subject;
use stella_core::verdict::Action;
use stella_core::verdict::mute_rule::MuteRule;
use stella_core::verdict::{DEFAULT_RULE, Status, Verdict};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn finding(id: &str, purl: &str, severity: Severity) -> Finding {
    let name = purl.rsplit('/').next().unwrap_or(purl);
    let (name, version) = name.split_once('@').unwrap_or((name, "0"));
    Finding {
        id: id.to_owned(),
        aliases: vec![format!("GHSA-{}", id.to_ascii_lowercase())],
        advisories: vec![id.to_owned()],
        component_ref: purl.to_owned(),
        package_name: name.to_owned(),
        purl: purl.to_owned(),
        installed_version: version.to_owned(),
        fixed_versions: vec!["9.9".to_owned()],
        severity,
        cvss: None,
        summary: None,
        published: None,
        layer_digest: None,
    }
}

fn with_cvss(mut f: Finding, score: f64) -> Finding {
    f.cvss = Some(CvssScore {
        version: "3.1".to_owned(),
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned(),
        score,
    });
    f
}

fn unfixed(mut f: Finding) -> Finding {
    f.fixed_versions.clear();
    f
}

/// A policy with one rule (`match:` given as YAML flow text) that fails, default warn.
fn one_rule(conditions: &str) -> CompiledPolicy {
    let yaml = format!(
        "schemaVersion: 1\nname: t\ndefaultAction: warn\nrules:\n  - name: r\n    action: fail\n    match: {conditions}\n"
    );
    CompiledPolicy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{conditions}: {e}"))
}

fn context() -> ScanContext {
    ScanContext {
        image: Some("registry.example.com/prod/shop:1.4".to_owned()),
        digest: Some("sha256:abcdef".to_owned()),
        namespace: Some("shop-prod".to_owned()),
        namespace_labels: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        labels: BTreeMap::from([("tier".to_owned(), "frontend".to_owned())]),
        ..ScanContext::default()
    }
}

fn run(policy: &CompiledPolicy, findings: Vec<Finding>, ctx: &ScanContext) -> Verdict {
    evaluate(
        policy,
        findings,
        &Evaluation {
            context: ctx,
            mutes: &[],
            kev: None,
            now: now(),
        },
    )
}

/// Whether the single rule of `policy` fires on `f` in `ctx`.
fn fires(policy: &CompiledPolicy, f: Finding, ctx: &ScanContext) -> bool {
    let v = run(policy, vec![f], ctx);
    match v.findings.first() {
        Some(d) => &*d.rule == "r",
        None => panic!("finding vanished: {v:?}"),
    }
}

/// (conditions, finding, context, fires?) rows, checked one by one.
fn table(rows: Vec<(&str, Finding, ScanContext, bool)>) {
    for (conditions, f, ctx, want) in rows {
        let policy = one_rule(conditions);
        let label = format!("{conditions} on {} {:?}", f.purl, f.severity);
        assert_eq!(fires(&policy, f, &ctx), want, "{label}");
    }
}

#[test]
fn severity_list_and_minimum() {
    let f = |s| finding("CVE-1", "pkg:npm/a@1", s);
    let c = context;
    table(vec![
        ("{severity: [critical, high]}", f(Severity::High), c(), true),
        (
            "{severity: [critical, high]}",
            f(Severity::Medium),
            c(),
            false,
        ),
        ("{severity: [unknown]}", f(Severity::Unknown), c(), true),
        ("{minSeverity: high}", f(Severity::Critical), c(), true),
        ("{minSeverity: high}", f(Severity::High), c(), true),
        ("{minSeverity: high}", f(Severity::Medium), c(), false),
        ("{minSeverity: unknown}", f(Severity::Unknown), c(), true),
        ("{minSeverity: low}", f(Severity::Unknown), c(), false),
        // Both given: both must hold.
        (
            "{severity: [low, critical], minSeverity: high}",
            f(Severity::Low),
            c(),
            false,
        ),
        (
            "{severity: [low, critical], minSeverity: high}",
            f(Severity::Critical),
            c(),
            true,
        ),
    ]);
}

#[test]
fn cvss_range_is_inclusive_and_needs_a_score() {
    let f = |score| with_cvss(finding("CVE-1", "pkg:npm/a@1", Severity::High), score);
    let c = context;
    table(vec![
        ("{cvss: {min: 9.0}}", f(9.0), c(), true),
        ("{cvss: {min: 9.0}}", f(8.9), c(), false),
        ("{cvss: {max: 4.0}}", f(4.0), c(), true),
        ("{cvss: {max: 4.0}}", f(4.1), c(), false),
        ("{cvss: {min: 5, max: 7}}", f(6.5), c(), true),
        ("{cvss: {min: 5, max: 7}}", f(7.5), c(), false),
        ("{cvss: {}}", f(0.0), c(), true),
        // No score at all: a CVSS condition does not match.
        (
            "{cvss: {max: 10}}",
            finding("CVE-1", "pkg:npm/a@1", Severity::High),
            c(),
            false,
        ),
    ]);
}

#[test]
fn fix_availability() {
    let fixed = || finding("CVE-1", "pkg:npm/a@1", Severity::High);
    let c = context;
    table(vec![
        ("{fixAvailable: true}", fixed(), c(), true),
        ("{fixAvailable: true}", unfixed(fixed()), c(), false),
        ("{fixAvailable: false}", unfixed(fixed()), c(), true),
        ("{fixAvailable: false}", fixed(), c(), false),
    ]);
}

#[test]
fn advisory_age_in_days() {
    let policy = |c: &str| one_rule(c);
    let ctx = context();
    // (conditions, published days ago or None, fires?)
    let rows: [(&str, Option<i64>, bool); 8] = [
        ("{age: {atLeastDays: 30}}", Some(30), true),
        ("{age: {atLeastDays: 30}}", Some(29), false),
        ("{age: {atMostDays: 7}}", Some(7), true),
        ("{age: {atMostDays: 7}}", Some(8), false),
        ("{age: {atLeastDays: 7, atMostDays: 30}}", Some(10), true),
        ("{age: {atLeastDays: 7, atMostDays: 30}}", Some(31), false),
        // Unknown publication date: an age condition does not match.
        ("{age: {atLeastDays: 0}}", None, false),
        ("{age: {}}", Some(0), true),
    ];
    for (conditions, days, want) in rows {
        let p = policy(conditions);
        let mut f = finding("CVE-1", "pkg:npm/a@1", Severity::High);
        f.published = days.map(|d| now() - Duration::days(d) - Duration::hours(1));
        let subject = Subject {
            finding: &f,
            kev: None,
        };
        let got = p.rules()[0].matches(&subject, &ctx, now());
        assert_eq!(got, want, "{conditions} at {days:?} days");
    }
}

#[test]
fn package_ecosystem_and_id_globs() {
    let npm = || {
        finding(
            "CVE-2024-1",
            "pkg:npm/%40scope/left-pad@1.0.0",
            Severity::High,
        )
    };
    let deb = || {
        finding(
            "CVE-2023-9",
            "pkg:deb/debian/openssl@3.0.11-1?distro=debian-12",
            Severity::High,
        )
    };
    let c = context;
    table(vec![
        (r#"{packages: ["pkg:npm/*"]}"#, npm(), c(), true),
        (r#"{packages: ["pkg:npm/*"]}"#, deb(), c(), false),
        (
            r#"{packages: ["pkg:deb/debian/openssl"]}"#,
            deb(),
            c(),
            true,
        ),
        (
            r#"{packages: ["pkg:deb/debian/openssl@3.0.*"]}"#,
            deb(),
            c(),
            true,
        ),
        (
            r#"{packages: ["pkg:deb/debian/openssl@1.*"]}"#,
            deb(),
            c(),
            false,
        ),
        (r#"{ecosystems: [deb, apk]}"#, deb(), c(), true),
        (r#"{ecosystems: [deb, apk]}"#, npm(), c(), false),
        (r#"{ecosystems: ["NPM"]}"#, npm(), c(), true),
        (r#"{ids: ["CVE-2024-*"]}"#, npm(), c(), true),
        (r#"{ids: ["CVE-2024-*"]}"#, deb(), c(), false),
        // Matched against aliases too, ignoring case.
        (r#"{ids: ["ghsa-cve-2023-*"]}"#, deb(), c(), true),
        (r#"{ids: ["cve-2023-9"]}"#, deb(), c(), true),
    ]);
}

#[test]
fn image_digest_and_namespace_globs() {
    let f = || finding("CVE-1", "pkg:npm/a@1", Severity::High);
    let bare = ScanContext::default;
    table(vec![
        (
            r#"{images: ["registry.example.com/prod/*"]}"#,
            f(),
            context(),
            true,
        ),
        (r#"{images: ["*/sandbox/*"]}"#, f(), context(), false),
        (r#"{images: ["**"]}"#, f(), bare(), false),
        (r#"{digests: ["sha256:abc*"]}"#, f(), context(), true),
        (r#"{digests: ["sha256:0*"]}"#, f(), context(), false),
        (r#"{namespaces: ["shop-*"]}"#, f(), context(), true),
        (r#"{namespaces: ["kube-*"]}"#, f(), context(), false),
        // No namespace (a CI scan): namespace conditions never match.
        (r#"{namespaces: ["*"]}"#, f(), bare(), false),
    ]);
}

#[test]
fn namespace_and_workload_label_selectors() {
    let f = || finding("CVE-1", "pkg:npm/a@1", Severity::High);
    let bare = ScanContext::default;
    table(vec![
        (
            "{namespaceSelector: {matchLabels: {env: prod}}}",
            f(),
            context(),
            true,
        ),
        (
            "{namespaceSelector: {matchLabels: {env: dev}}}",
            f(),
            context(),
            false,
        ),
        (
            "{namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}}",
            f(),
            context(),
            true,
        ),
        // A selector needs a namespace to select, even one matching everything.
        ("{namespaceSelector: {}}", f(), bare(), false),
        ("{namespaceSelector: {}}", f(), context(), true),
        (
            "{labelSelector: {matchLabels: {tier: frontend}}}",
            f(),
            context(),
            true,
        ),
        (
            "{labelSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}",
            f(),
            context(),
            false,
        ),
        (
            "{labelSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}",
            f(),
            bare(),
            true,
        ),
    ]);
}

#[test]
fn kev_membership_needs_a_catalog() {
    let kev: BTreeSet<String> = ["CVE-2021-44228".to_owned()].into();
    let policy = one_rule("{kev: true}");
    assert!(policy.uses_kev());
    let ctx = context();
    let log4j = || {
        finding(
            "CVE-2021-44228",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            Severity::Critical,
        )
    };
    let other = || finding("CVE-2020-1", "pkg:npm/a@1", Severity::Critical);
    let eval = |kev: Option<&dyn KnownExploited>, f: Finding| {
        evaluate(
            &policy,
            vec![f],
            &Evaluation {
                context: &ctx,
                mutes: &[],
                kev,
                now: now(),
            },
        )
        .status
    };
    assert_eq!(eval(Some(&kev), log4j()), Status::Fail);
    assert_eq!(eval(Some(&kev), other()), Status::Warn);
    // Without a catalog nothing is known to be exploited, nor known not to be.
    assert_eq!(eval(None, log4j()), Status::Warn);
    let not_kev = one_rule("{kev: false}");
    let v = evaluate(
        &not_kev,
        vec![other(), log4j()],
        &Evaluation {
            context: &ctx,
            mutes: &[],
            kev: Some(&kev),
            now: now(),
        },
    );
    let rules: Vec<&str> = v.findings.iter().map(|d| &*d.rule).collect();
    assert_eq!(rules, ["r", DEFAULT_RULE]);
    // Matched through an alias too.
    let mut aliased = other();
    aliased.aliases.push("cve-2021-44228".to_owned());
    assert_eq!(eval(Some(&kev), aliased), Status::Fail);
}

#[test]
fn first_match_wins_and_default_applies() {
    let policy = CompiledPolicy::from_yaml(
        "schemaVersion: 1
name: order
defaultAction: ignore
rules:
  - {name: ignore-npm, action: ignore, match: {ecosystems: [npm]}}
  - {name: fail-critical, action: fail, match: {minSeverity: critical}}
  - {name: warn-high, action: warn, reason: look at it, match: {minSeverity: high}}
",
    )
    .unwrap();
    let findings = vec![
        finding("CVE-1", "pkg:npm/a@1", Severity::Critical),
        finding("CVE-2", "pkg:pypi/b@1", Severity::Critical),
        finding("CVE-3", "pkg:pypi/c@1", Severity::High),
        finding("CVE-4", "pkg:pypi/d@1", Severity::Low),
    ];
    let v = run(&policy, findings, &ScanContext::default());
    assert_eq!(v.status, Status::Fail);
    let acted: Vec<(&str, &str, Action)> = v
        .findings
        .iter()
        .map(|d| (d.finding.id.as_str(), &*d.rule, d.action))
        .collect();
    assert_eq!(
        acted,
        [
            ("CVE-2", "fail-critical", Action::Fail),
            ("CVE-3", "warn-high", Action::Warn)
        ]
    );
    let ignored: Vec<(&str, &str)> = v
        .ignored
        .iter()
        .map(|d| (d.finding.id.as_str(), &*d.rule))
        .collect();
    assert_eq!(ignored, [("CVE-1", "ignore-npm"), ("CVE-4", DEFAULT_RULE)]);
    let fired: Vec<(&str, Option<usize>, usize)> = v
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.index, r.findings))
        .collect();
    assert_eq!(
        fired,
        [
            ("ignore-npm", Some(0), 1),
            ("fail-critical", Some(1), 1),
            ("warn-high", Some(2), 1),
            (DEFAULT_RULE, None, 1)
        ]
    );
    assert_eq!(v.rules[2].reason, "look at it");
    // Conditions are spelled out when the author gave no reason.
    assert_eq!(v.rules[1].reason, "severity >= critical");
    assert_eq!(v.counts.critical, 1);
    assert_eq!(v.counts.total, 2);
}

#[test]
fn status_is_the_worst_action() {
    let f = || vec![finding("CVE-1", "pkg:npm/a@1", Severity::Low)];
    for (default, want) in [
        ("ignore", Status::Pass),
        ("warn", Status::Warn),
        ("fail", Status::Fail),
    ] {
        let p = CompiledPolicy::from_yaml(&format!(
            "schemaVersion: 1\nname: s\ndefaultAction: {default}\n"
        ))
        .unwrap();
        let v = run(&p, f(), &ScanContext::default());
        assert_eq!(v.status, want, "{default}");
        assert_eq!(v.exit_code(), i32::from(want == Status::Fail));
        assert_eq!(
            run(&p, vec![], &ScanContext::default()).status,
            Status::Pass
        );
    }
    // Omitted default action: warn.
    let p = CompiledPolicy::from_yaml("schemaVersion: 1\nname: s\n").unwrap();
    assert_eq!(p.document().default_action, Action::Warn);
}

#[test]
fn mutes_apply_before_rules_and_expired_mutes_are_reported() {
    let policy = CompiledPolicy::from_yaml(
        "schemaVersion: 1
name: m
defaultAction: fail
mutes:
  - {id: CVE-1, justification: component_not_present, author: a@example.com}
  - {id: CVE-2, expires: 2026-01-01, reason: old}
",
    )
    .unwrap();
    let vex = MuteSet::compile([MuteRule {
        id: "GHSA-cve-3".to_owned(),
        purl: Some("pkg:npm/c*".to_owned()),
        namespaces: vec!["shop-*".to_owned()],
        ..MuteRule::default()
    }])
    .unwrap();
    let findings = vec![
        finding("CVE-1", "pkg:npm/a@1", Severity::Critical),
        finding("CVE-2", "pkg:npm/b@1", Severity::Critical),
        finding("CVE-3", "pkg:npm/c@1", Severity::Critical),
    ];
    let ctx = context();
    let v = evaluate(
        &policy,
        findings.clone(),
        &Evaluation {
            context: &ctx,
            mutes: std::slice::from_ref(&vex),
            kev: None,
            now: now(),
        },
    );
    let muted: Vec<&str> = v.muted.iter().map(|m| m.finding.id.as_str()).collect();
    assert_eq!(muted, ["CVE-1", "CVE-3"]);
    let provenance = serde_json::to_value(&v.muted[0].mute.provenance).unwrap();
    assert_eq!(
        provenance,
        serde_json::json!({"kind": "file", "path": "policy m", "index": 0})
    );
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].finding.id, "CVE-2");
    assert_eq!(v.status, Status::Fail);
    assert_eq!(v.expired_mutes.len(), 1);
    assert_eq!(v.expired_mutes[0].mute.id, "CVE-2");
    assert_eq!(v.expired_mutes[0].matching_findings, 1);
    // The namespace-scoped mute does not apply in another namespace.
    let elsewhere = ScanContext {
        namespace: Some("billing".to_owned()),
        ..context()
    };
    let v = evaluate(
        &policy,
        findings,
        &Evaluation {
            context: &elsewhere,
            mutes: std::slice::from_ref(&vex),
            kev: None,
            now: now(),
        },
    );
    assert_eq!(v.muted.len(), 1);
}

/// Parses `yaml` and returns the error text, which must name `path`.
fn error(yaml: &str) -> String {
    match CompiledPolicy::from_yaml(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_policies_are_rejected_with_path_and_reason() {
    let head = "schemaVersion: 1\nname: bad\n";
    let cases: Vec<(String, &str)> = vec![
        ("name: x\n".to_owned(), "missing field `schemaVersion`"),
        (
            "schemaVersion: 2\nname: x\n".to_owned(),
            "schemaVersion: unsupported version 2",
        ),
        (
            "schemaVersion: 1\nname: ' '\n".to_owned(),
            "name: missing or empty",
        ),
        (format!("{head}colour: red\n"), "unknown field `colour`"),
        (format!("{head}defaultAction: block\n"), "defaultAction"),
        (
            format!("{head}rules:\n  - {{name: a, action: fail, match: {{severity: [severe]}}}}\n"),
            "rules[0].match.severity[0]",
        ),
        (
            format!("{head}rules:\n  - {{name: a, action: fail, match: {{sevrity: [high]}}}}\n"),
            "unknown field `sevrity`",
        ),
        (
            format!("{head}rules:\n  - {{name: a, action: fail}}\n  - {{name: a, action: warn}}\n"),
            "rules[1].name: duplicate rule name \"a\"",
        ),
        (
            format!("{head}rules:\n  - {{name: a, action: fail, match: {{cvss: {{min: 11}}}}}}\n"),
            "rules[0].match.cvss.min: must be between 0 and 10",
        ),
        (
            format!(
                "{head}rules:\n  - {{name: a, action: fail, match: {{cvss: {{min: 8, max: 7}}}}}}\n"
            ),
            "rules[0].match.cvss: min is greater than max",
        ),
        (
            format!(
                "{head}rules:\n  - {{name: a, action: fail, match: {{age: {{atLeastDays: 9, atMostDays: 1}}}}}}\n"
            ),
            "rules[0].match.age: atLeastDays is greater than atMostDays",
        ),
        (
            format!(
                "{head}rules:\n  - {{name: a, action: fail, match: {{images: [\"[oops\"]}}}}\n"
            ),
            "rules[0].match.images[0]: invalid glob",
        ),
        (
            format!("{head}rules:\n  - {{name: a, action: fail, match: {{packages: [\"\"]}}}}\n"),
            "rules[0].match.packages[0]: empty pattern",
        ),
        (
            format!(
                "{head}rules:\n  - {{name: a, action: fail, match: {{namespaceSelector: {{matchExpressions: [{{key: env, operator: In}}]}}}}}}\n"
            ),
            "rules[0].match.namespaceSelector.matchExpressions[0].values: must be non-empty",
        ),
        (
            format!(
                "{head}rules:\n  - {{name: a, action: fail, match: {{labelSelector: {{matchLabels: {{\"bad key!\": x}}}}}}}}\n"
            ),
            "rules[0].match.labelSelector.matchLabels.bad key!",
        ),
        (
            format!(
                "{head}rules:\n  - {{name: a, action: fail, match: {{namespaceSelector: {{matchExpressions: [{{key: env, operator: Maybe}}]}}}}}}\n"
            ),
            "operator",
        ),
        (
            format!("{head}mutes:\n  - {{id: CVE-1, expires: next-march}}\n"),
            "mutes[0].expires",
        ),
        (
            format!("{head}mutes:\n  - {{id: CVE-1, justification: trust_me}}\n"),
            "mutes[0].justification",
        ),
        (
            format!("{head}rego:\n  modules: []\n"),
            "rego.modules: must list at least one module",
        ),
        ("schemaVersion: 1\nname: [unclosed\n".to_owned(), "line"),
    ];
    for (yaml, want) in cases {
        let text = error(&yaml);
        assert!(text.contains(want), "{yaml}\n→ {text}\nwanted {want:?}");
    }
    // YAML errors carry the line.
    let text = error("schemaVersion: 1\nname: x\nrules:\n  - name: a\n    action: explode\n");
    assert!(text.starts_with("line 5: rules[0].action:"), "{text}");
}

#[test]
fn oversized_and_non_utf8_policies_are_refused() {
    let big = format!(
        "schemaVersion: 1\nname: x\ndescription: \"{}\"\n",
        "a".repeat(2 << 20)
    );
    assert!(matches!(
        CompiledPolicy::from_yaml(&big),
        Err(PolicyError::Document(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, b"schemaVersion: 1\nname: \xff\n").unwrap();
    assert!(
        CompiledPolicy::load(&path)
            .unwrap_err()
            .to_string()
            .contains("UTF-8")
    );
    let err = CompiledPolicy::load(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(err.to_string().contains("missing.yaml"), "{err}");
}

fn examples() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/policies");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn json_schema_accepts_the_examples_and_rejects_mistakes() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        // The schema describes the same document the parser reads.
        let doc = PolicyDocument::from_yaml(&text).unwrap();
        let value = serde_json::to_value(&doc).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for bad in [
        serde_json::json!({"name": "x"}),
        serde_json::json!({"schemaVersion": 1, "name": "x", "rules": [{"name": "a", "action": "block"}]}),
        serde_json::json!({"schemaVersion": 1, "name": "x", "extra": true}),
        serde_json::json!({"schemaVersion": 1, "name": "x", "rules": [{"name": "a", "action": "fail", "match": {"cvss": {"min": 12}}}]}),
        serde_json::json!({"schemaVersion": 1, "name": "x", "mutes": [{"id": "CVE-1", "justification": "nope"}]}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

#[test]
fn digest_ignores_formatting_and_changes_with_content() {
    let a = CompiledPolicy::from_yaml(
        "# comment\nschemaVersion: 1\nname: d\nrules:\n  - {name: r, action: fail, match: {minSeverity: high}}\n",
    )
    .unwrap();
    let b = CompiledPolicy::from_yaml(
        "{\"rules\": [{\"match\": {\"minSeverity\": \"high\"}, \"action\": \"fail\", \"name\": \"r\"}], \"name\": \"d\", \"schemaVersion\": 1}",
    )
    .unwrap();
    let c = CompiledPolicy::from_yaml(
        "schemaVersion: 1\nname: d\nrules:\n  - {name: r, action: warn, match: {minSeverity: high}}\n",
    )
    .unwrap();
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), c.digest());
    assert!(a.digest().starts_with("sha256:") && a.digest().len() == 71);
    let v = run(&a, vec![], &ScanContext::default());
    assert_eq!(v.policy.digest, a.digest());
    assert_eq!(v.policy.name, "d");
    assert!(!v.policy.generated);
}

#[test]
fn cache_compiles_each_digest_once() {
    let cache = PolicyCache::new();
    let doc = |yaml: &str| PolicyDocument::from_yaml(yaml).unwrap();
    let one = cache
        .get_or_compile(doc("schemaVersion: 1\nname: c\n"))
        .unwrap();
    let again = cache
        .get_or_compile(doc("{name: c, schemaVersion: 1}"))
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&one, &again));
    let other = cache
        .get_or_compile(doc("schemaVersion: 1\nname: c2\n"))
        .unwrap();
    assert!(!std::sync::Arc::ptr_eq(&one, &other));
    assert_eq!(cache.len(), 2);
    assert!(
        cache
            .get_or_compile(doc("schemaVersion: 9\nname: c\n"))
            .is_err()
    );
    assert_eq!(cache.len(), 2);
}

#[test]
fn generated_policy_matches_the_v0_flags() {
    let all = [
        Severity::Unknown,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    for threshold in all {
        let p = generated::from_flags(Some(threshold), false);
        assert!(p.is_generated());
        for sev in all {
            let v = run(
                &p,
                vec![finding("CVE-1", "pkg:npm/a@1", sev)],
                &ScanContext::default(),
            );
            let want = if sev >= threshold {
                Status::Fail
            } else {
                Status::Warn
            };
            assert_eq!(v.status, want, "{sev:?} against --fail-on {threshold:?}");
        }
    }
    let p = generated::from_flags(Some(Severity::High), true);
    let v = run(
        &p,
        vec![
            unfixed(finding("CVE-1", "pkg:npm/a@1", Severity::Critical)),
            finding("CVE-2", "pkg:npm/b@1", Severity::Low),
        ],
        &ScanContext::default(),
    );
    assert_eq!(v.status, Status::Warn);
    assert_eq!(v.ignored.len(), 1);
    assert_eq!(&*v.ignored[0].rule, "ignore-unfixed");
    // No flags: report everything, never fail.
    let v = run(
        &generated::from_flags(None, false),
        vec![finding("CVE-1", "pkg:npm/a@1", Severity::Critical)],
        &ScanContext::default(),
    );
    assert_eq!(v.status, Status::Warn);
    assert_eq!(v.exit_code(), 0);
}

fn arb_finding() -> impl Strategy<Value = Finding> {
    (
        0usize..6,
        prop::sample::select(vec!["npm", "pypi", "deb", "maven", "golang"]),
        0usize..5,
        prop::option::of(0.0f64..=10.0),
        any::<bool>(),
    )
        .prop_map(|(id, eco, sev, score, fixed)| {
            let severity = [
                Severity::Unknown,
                Severity::Low,
                Severity::Medium,
                Severity::High,
                Severity::Critical,
            ][sev];
            let mut f = finding(
                &format!("CVE-2024-{id}"),
                &format!("pkg:{eco}/p{id}@1"),
                severity,
            );
            if let Some(s) = score {
                f = with_cvss(f, s);
            }
            if !fixed {
                f = unfixed(f);
            }
            f
        })
}

proptest! {
    #[test]
    fn parser_never_panics(text in "\\PC{0,300}") {
        let _ = CompiledPolicy::from_yaml(&text);
    }

    #[test]
    fn parser_never_panics_on_policy_shaped_yaml(
        keys in prop::collection::vec(
            prop::sample::select(vec!["rules", "match", "severity", "cvss", "min", "mutes", "id",
                "name", "action", "namespaceSelector", "matchLabels", "- ", "{", "[", ":", "fail"]),
            0..40,
        )
    ) {
        let text = format!("schemaVersion: 1\nname: p\n{}", keys.join(" "));
        let _ = CompiledPolicy::from_yaml(&text);
    }

    /// Every finding ends up in exactly one place, and evaluation is deterministic.
    #[test]
    fn every_finding_is_decided_once(
        findings in prop::collection::vec(arb_finding(), 0..40),
        min in 0usize..5,
        ignore_unfixed in any::<bool>(),
        muted_id in 0usize..6,
    ) {
        let severity = [Severity::Unknown, Severity::Low, Severity::Medium, Severity::High, Severity::Critical][min];
        let mut doc = generated::document(Some(severity), ignore_unfixed);
        doc.mutes.push(MuteRule { id: format!("cve-2024-{muted_id}"), ..MuteRule::default() });
        let policy = CompiledPolicy::compile(doc).unwrap();
        let v = run(&policy, findings.clone(), &ScanContext::default());
        prop_assert_eq!(v.findings.len() + v.ignored.len() + v.muted.len(), findings.len());
        let muted = format!("CVE-2024-{muted_id}");
        prop_assert!(v.muted.iter().all(|m| m.finding.id == muted));
        let fails = v.findings.iter().any(|d| d.action == Action::Fail);
        prop_assert_eq!(v.status == Status::Fail, fails);
        prop_assert!(v.findings.iter().filter(|d| d.action == Action::Fail).all(|d| d.finding.severity >= severity));
        prop_assert_eq!(v.rules.iter().map(|r| r.findings).sum::<usize>(), v.findings.len() + v.ignored.len());
        let again = run(&policy, findings, &ScanContext::default());
        prop_assert_eq!(v, again);
    }
}

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/policies")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn embedded_rego_modules_are_the_shipped_files() {
    let doc = PolicyDocument::from_yaml(&example("exploited-and-rego.yaml")).unwrap();
    let rego = doc.rego.as_ref().expect("rego section");
    assert_eq!(rego.modules.len(), 2);
    for module in &rego.modules {
        assert_eq!(
            module.source,
            example(&format!("rego/{}", module.name)),
            "{}",
            module.name
        );
    }
}

/// A policy whose Rego module is `module`, with `onError: on_error`.
fn rego_policy(module: &str, on_error: &str) -> CompiledPolicy {
    let indented: String = module.lines().map(|l| format!("        {l}\n")).collect();
    let yaml = format!(
        "schemaVersion: 1\nname: r\ndefaultAction: ignore\nrego:\n  onError: {on_error}\n  timeoutMs: 50\n  modules:\n    - name: m.rego\n      source: |\n{indented}"
    );
    CompiledPolicy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn rego_deny_and_warn_set_the_status() {
    let module = "package stella\nimport rego.v1\n\
        deny contains sprintf(\"%s in prod\", [f.id]) if {\n  input.namespace.labels.env == \"prod\"\n  some f in input.findings\n  f.severity == \"critical\"\n}\n\
        warn contains sprintf(\"%d findings\", [count(input.findings)]) if count(input.findings) > 1\n";
    let policy = rego_policy(module, "fail");
    let findings = || {
        vec![
            finding("CVE-1", "pkg:npm/a@1", Severity::Critical),
            finding("CVE-2", "pkg:npm/b@1", Severity::Low),
        ]
    };
    let v = run(&policy, findings(), &context());
    assert_eq!(v.status, Status::Fail);
    let rego = v.rego.as_ref().unwrap();
    assert_eq!(rego.deny, ["CVE-1 in prod"]);
    assert_eq!(rego.warn, ["2 findings"]);
    assert!(rego.error.is_none() && rego.fallback.is_none());
    // Every finding was ignored by the rules: only Rego decides the status.
    assert!(v.findings.is_empty());
    let v = run(&policy, findings(), &ScanContext::default());
    assert_eq!(v.status, Status::Warn);
    let v = run(&policy, vec![], &ScanContext::default());
    assert_eq!(v.status, Status::Pass);
}

#[test]
fn rego_failure_applies_the_fallback() {
    // Runs far longer than the 50 ms budget.
    let runaway = "package stella\nimport rego.v1\n\
        deny contains \"never\" if {\n  some i in numbers.range(1, 100000)\n  some j in numbers.range(1, 100000)\n  i * j < 0\n}\n";
    for (on_error, want) in [
        ("fail", Status::Fail),
        ("warn", Status::Warn),
        ("ignore", Status::Pass),
    ] {
        let v = run(
            &rego_policy(runaway, on_error),
            vec![],
            &ScanContext::default(),
        );
        assert_eq!(v.status, want, "onError {on_error}");
        let rego = v.rego.unwrap();
        assert!(
            rego.error.as_deref().is_some_and(|e| !e.is_empty()),
            "{rego:?}"
        );
        assert_eq!(rego.fallback.map(|a| a.as_str()), Some(on_error));
        assert!(rego.deny.is_empty());
    }
    // Fail closed is the default.
    let doc = PolicyDocument::from_yaml(
        "schemaVersion: 1\nname: r\nrego:\n  modules:\n    - {name: m.rego, source: \"package stella\\ndeny := []\\n\"}\n",
    )
    .unwrap();
    assert_eq!(doc.rego.unwrap().on_error, Action::Fail);
}

#[test]
fn rego_errors_name_the_module() {
    let yaml = "schemaVersion: 1\nname: r\nrego:\n  modules:\n    - {name: ok.rego, source: \"package stella\\ndeny := []\\n\"}\n    - {name: broken.rego, source: \"package stella\\ndeny contains x if {\\n\"}\n";
    let text = error(yaml);
    assert!(text.starts_with("rego.modules[1]: "), "{text}");
    assert!(text.contains("broken.rego"), "{text}");
    let text = error(
        "schemaVersion: 1\nname: r\nrego:\n  timeoutMs: 0\n  modules:\n    - {name: m.rego, source: \"package stella\\ndeny := []\\n\"}\n",
    );
    assert!(text.contains("rego.timeoutMs"), "{text}");
}
