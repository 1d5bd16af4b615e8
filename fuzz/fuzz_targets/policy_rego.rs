#![no_main]
//! Fuzz target: compiling arbitrary Rego module text must never panic or overflow the
//! stack, and a module that compiles must evaluate (to messages or an error) without
//! panicking. A panic inside regorus would be caught and reported as `Internal`, which
//! this target treats as a finding.
use libfuzzer_sys::fuzz_target;
use stella_core::policy::rego::{RegoError, RegoLimits, RegoModule, RegoProgram};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let module = RegoModule {
        name: "fuzz.rego".to_owned(),
        source: source.to_owned(),
    };
    match RegoProgram::compile(&[module], "stella", RegoLimits::default()) {
        Ok(program) => {
            let input = serde_json::json!({
                "now": "2026-11-29T00:00:00Z",
                "policy": {"name": "fuzz", "version": "1"},
                "image": {"ref": "registry.example/app:1.2", "digest": null},
                "namespace": {"name": "prod", "labels": {"env": "prod"}},
                "labels": {"app": "web"},
                "sbom": {"format": "cyclonedx", "components": 1, "ecosystems": {"pypi": 1}},
                "findings": [{
                    "id": "CVE-2023-23934", "aliases": ["GHSA-px8h-6qxv-m22q"],
                    "purl": "pkg:pypi/werkzeug@2.2.2", "package": "werkzeug", "version": "2.2.2",
                    "ecosystem": "pypi", "severity": "high", "cvss": 7.5,
                    "fixedVersions": ["2.2.3"], "fixAvailable": true, "published": null,
                    "kev": false, "action": "warn", "rule": "warn-the-rest"
                }]
            });
            let result = program.evaluate(&input);
            assert!(
                !matches!(result, Err(RegoError::Internal { .. })),
                "{result:?}"
            );
            if let Ok(outcome) = result {
                assert!(outcome.deny.windows(2).all(|w| w[0] < w[1]));
                assert!(outcome.warn.windows(2).all(|w| w[0] < w[1]));
            }
        }
        Err(err) => assert!(!matches!(err, RegoError::Internal { .. }), "{err:?}"),
    }
});
