#![no_main]
//! Fuzz target: the policy document parser and compiler must never panic, and a policy
//! that compiles must evaluate (a finding in a namespace) without panicking.
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use stella_core::advisory::Severity;
use stella_core::matcher::Finding;
use stella_core::policy::compiled::CompiledPolicy;
use stella_core::policy::context::ScanContext;
use stella_core::policy::evaluate::{Evaluation, evaluate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = CompiledPolicy::from_yaml(text) else {
        return;
    };
    let finding = Finding {
        id: "CVE-2021-44228".to_owned(),
        aliases: vec!["GHSA-jfh8-c2jp-5v3q".to_owned()],
        advisories: vec!["GHSA-jfh8-c2jp-5v3q".to_owned()],
        component_ref: "log4j".to_owned(),
        package_name: "log4j-core".to_owned(),
        purl: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".to_owned(),
        installed_version: "2.14.1".to_owned(),
        fixed_versions: vec!["2.15.0".to_owned()],
        severity: Severity::Critical,
        cvss: None,
        summary: None,
        published: None,
        layer_digest: None,
    };
    let context = ScanContext {
        image: Some("registry.example/app:1".to_owned()),
        namespace: Some("prod".to_owned()),
        ..ScanContext::default()
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
    let verdict = evaluate(
        &policy,
        vec![finding],
        &Evaluation {
            context: &context,
            mutes: &[],
            kev: None,
            now,
        },
    );
    assert_eq!(
        verdict.findings.len() + verdict.ignored.len() + verdict.muted.len(),
        1
    );
});
