//! Rego policy cost: compiling the shipped example modules, and evaluating
//! `kev-and-fixable.rego` over a scan context with 2,000 findings (the evaluator runs it
//! once per scan; the target is well under 5 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;
use stella_core::policy::rego::{RegoLimits, RegoModule, RegoProgram};

fn module(name: &str) -> RegoModule {
    let path = format!(
        "{}/../config/policies/rego/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    RegoModule {
        name: name.to_owned(),
        source,
    }
}

/// 2,000 synthetic findings: one in 10 critical (half of those fixable), one in 50 in KEV.
fn context(findings: usize) -> Value {
    let severities = [
        "low", "medium", "high", "medium", "low", "critical", "high", "low", "medium", "high",
    ];
    let findings: Vec<Value> = (0..findings)
        .map(|i| {
            let severity = severities[i % severities.len()];
            let fixed: Vec<String> = if i % 20 < 10 {
                vec![format!("1.{i}.1")]
            } else {
                vec![]
            };
            json!({
                "id": format!("CVE-2024-{i:05}"),
                "aliases": [format!("GHSA-{i:04}-xxxx-yyyy")],
                "purl": format!("pkg:npm/package-{i}@1.{i}.0"),
                "package": format!("package-{i}"),
                "version": format!("1.{i}.0"),
                "ecosystem": "npm",
                "severity": severity,
                "cvss": 7.5,
                "fixAvailable": !fixed.is_empty(),
                "fixedVersions": fixed,
                "published": "2024-01-01T00:00:00Z",
                "kev": i % 50 == 0,
                "action": "warn",
                "rule": "warn-the-rest"
            })
        })
        .collect();
    json!({
        "now": "2026-11-29T00:00:00Z",
        "policy": {"name": "prod", "version": "1"},
        "image": {"ref": "registry.example/app:1.2", "digest": null},
        "namespace": {"name": "prod", "labels": {"env": "prod"}},
        "labels": {"app": "web"},
        "sbom": {"format": "cyclonedx", "components": 2000, "ecosystems": {"npm": 2000}},
        "findings": findings
    })
}

fn bench(c: &mut Criterion) {
    let kev = [module("kev-and-fixable.rego")];
    let both = [module("kev-and-fixable.rego"), module("image-hygiene.rego")];
    let limits = RegoLimits::default();
    c.bench_function("rego/compile/kev-and-fixable", |b| {
        b.iter(|| RegoProgram::compile(black_box(&kev), "stella", limits))
    });
    c.bench_function("rego/compile/both-examples", |b| {
        b.iter(|| RegoProgram::compile(black_box(&both), "stella", limits))
    });
    let input = context(2000);
    // Parts of the fixed cost: serialising the input, and regorus parsing it.
    c.bench_function("rego/input/serialise/2000-findings", |b| {
        b.iter(|| serde_json::to_string(black_box(&input)))
    });
    let text = serde_json::to_string(&input).expect("serialisable");
    c.bench_function("rego/input/regorus-parse/2000-findings", |b| {
        b.iter(|| regorus::Value::from_json_str(black_box(&text)))
    });
    // Fixed cost of one evaluation: worker thread, input serialisation and loading.
    let trivial = [RegoModule {
        name: "trivial.rego".to_owned(),
        source: "package stella\ndeny contains \"never\" if false\n".to_owned(),
    }];
    let program = RegoProgram::compile(&trivial, "stella", limits).expect("trivial compiles");
    c.bench_function("rego/evaluate/trivial/2000-findings", |b| {
        b.iter(|| program.evaluate(black_box(&input)))
    });
    for (name, modules) in [("kev-and-fixable", &kev[..]), ("both-examples", &both[..])] {
        let program = RegoProgram::compile(modules, "stella", limits).expect("example compiles");
        let outcome = program.evaluate(&input).expect("example evaluates");
        assert!(!outcome.deny.is_empty() && !outcome.warn.is_empty());
        c.bench_function(&format!("rego/evaluate/{name}/2000-findings"), |b| {
            b.iter(|| program.evaluate(black_box(&input)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
