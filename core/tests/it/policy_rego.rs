//! Rego policy modules: the example modules shipped in `config/policies/rego/`, evaluated
//! against scan contexts of the shape the policy evaluator builds, plus a property test
//! that arbitrary module text never panics the compiler or the evaluator.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};
use stella_core::policy::rego::{RegoError, RegoLimits, RegoModule, RegoOutcome, RegoProgram};

/// Loads a shipped example module.
fn example(name: &str) -> RegoModule {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../config/policies/rego")
        .join(name);
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    RegoModule {
        name: name.to_owned(),
        source,
    }
}

fn program(name: &str) -> RegoProgram {
    RegoProgram::compile(&[example(name)], "stella", RegoLimits::default())
        .unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// A finding as the evaluator renders it.
fn finding(id: &str, package: &str, severity: &str, fixed: &[&str], kev: bool) -> Value {
    json!({
        "id": id,
        "aliases": [],
        "purl": format!("pkg:deb/debian/{package}@1.0"),
        "package": package,
        "version": "1.0",
        "ecosystem": "deb",
        "severity": severity,
        "cvss": 9.8,
        "fixedVersions": fixed,
        "fixAvailable": !fixed.is_empty(),
        "published": null,
        "kev": kev,
        "action": "warn",
        "rule": "warn-the-rest"
    })
}

/// A scan context with the given image, namespace and findings.
fn context(image: Value, namespace: Value, findings: Vec<Value>) -> Value {
    json!({
        "now": "2026-11-29T00:00:00Z",
        "policy": {"name": "prod", "version": "1"},
        "image": image,
        "namespace": namespace,
        "labels": {"app": "web"},
        "sbom": {"format": "cyclonedx", "components": 120, "ecosystems": {"deb": 100, "npm": 20}},
        "findings": findings
    })
}

fn image(reference: &str, digest: Option<&str>) -> Value {
    json!({"ref": reference, "digest": digest})
}

fn namespace(name: &str, env: &str) -> Value {
    json!({"name": name, "labels": {"env": env}})
}

fn outcome(deny: &[&str], warn: &[&str]) -> RegoOutcome {
    RegoOutcome {
        deny: deny.iter().map(|s| (*s).to_owned()).collect(),
        warn: warn.iter().map(|s| (*s).to_owned()).collect(),
    }
}

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn kev_and_fixable_table() {
    let program = program("kev-and-fixable.rego");
    let pinned = image("registry.example/app:1.2", Some(DIGEST));
    let critical_fixed = finding(
        "CVE-2024-0001",
        "openssl",
        "critical",
        &["1.1", "1.2"],
        false,
    );
    let critical_unfixed = finding("CVE-2024-0002", "zlib", "critical", &[], false);
    let high_kev = finding("CVE-2023-4863", "libwebp", "high", &["1.3.2"], true);
    let critical_kev = finding("CVE-2021-44228", "log4j", "critical", &["2.15.0"], true);
    let cases = [
        (
            "prod: fixable critical denied, unfixed critical not, KEV warned",
            context(
                pinned.clone(),
                namespace("shop", "prod"),
                vec![
                    critical_fixed.clone(),
                    critical_unfixed.clone(),
                    high_kev.clone(),
                ],
            ),
            outcome(
                &[
                    "CVE-2024-0001: openssl 1.0 is critical and fixed in 1.1, 1.2 (namespace shop is env=prod)",
                ],
                &["CVE-2023-4863: libwebp 1.0 is known to be exploited (CISA KEV)"],
            ),
        ),
        (
            "staging: nothing denied, KEV still warned",
            context(
                pinned.clone(),
                namespace("shop", "staging"),
                vec![critical_fixed.clone(), critical_kev.clone()],
            ),
            outcome(
                &[],
                &["CVE-2021-44228: log4j 1.0 is known to be exploited (CISA KEV)"],
            ),
        ),
        (
            "no namespace (outside Kubernetes): nothing denied",
            context(pinned.clone(), Value::Null, vec![critical_fixed.clone()]),
            outcome(&[], &[]),
        ),
        (
            "prod: a KEV critical with a fix is both denied and warned",
            context(
                Value::Null,
                namespace("pay", "prod"),
                vec![critical_kev.clone(), high_kev.clone()],
            ),
            outcome(
                &[
                    "CVE-2021-44228: log4j 1.0 is critical and fixed in 2.15.0 (namespace pay is env=prod)",
                ],
                &[
                    "CVE-2021-44228: log4j 1.0 is known to be exploited (CISA KEV)",
                    "CVE-2023-4863: libwebp 1.0 is known to be exploited (CISA KEV)",
                ],
            ),
        ),
        (
            "prod, no findings",
            context(pinned, namespace("shop", "prod"), vec![]),
            outcome(&[], &[]),
        ),
    ];
    for (what, input, expected) in cases {
        assert_eq!(program.evaluate(&input).unwrap(), expected, "{what}");
    }
}

#[test]
fn image_hygiene_table() {
    let program = program("image-hygiene.rego");
    let highs = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| finding(&format!("CVE-2024-{i:04}"), "pkg", "high", &[], false))
            .collect()
    };
    let not_allowed = "is not from an allowed registry (ghcr.io/example-org/, registry.example/)";
    let cases = [
        (
            "pinned, allowed registry, 5 highs: clean",
            context(
                image("registry.example/app:1.2", Some(DIGEST)),
                Value::Null,
                highs(5),
            ),
            outcome(&[], &[]),
        ),
        (
            "6 highs: warned (criticals do not count)",
            context(
                image("ghcr.io/example-org/api:3", Some(DIGEST)),
                Value::Null,
                [
                    highs(6),
                    vec![finding("CVE-1", "x", "critical", &[], false)],
                ]
                .concat(),
            ),
            outcome(&[], &["6 high-severity findings (more than 5)"]),
        ),
        (
            "no digest",
            context(image("registry.example/app:1.2", None), Value::Null, vec![]),
            outcome(
                &["image registry.example/app:1.2 is not pinned by digest"],
                &[],
            ),
        ),
        (
            "Docker Hub short name without digest: both denials",
            context(image("nginx:1.25", None), Value::Null, highs(7)),
            outcome(
                &[
                    &format!("image nginx:1.25 {not_allowed}"),
                    "image nginx:1.25 is not pinned by digest",
                ],
                &["7 high-severity findings (more than 5)"],
            ),
        ),
        (
            "lookalike registry host is not allowed",
            context(
                image("registry.example.evil.com/app:1", Some(DIGEST)),
                Value::Null,
                vec![],
            ),
            outcome(
                &[&format!(
                    "image registry.example.evil.com/app:1 {not_allowed}"
                )],
                &[],
            ),
        ),
        (
            "no image (directory scan): image rules do not apply",
            context(Value::Null, namespace("x", "prod"), highs(1)),
            outcome(&[], &[]),
        ),
    ];
    for (what, input, expected) in cases {
        assert_eq!(program.evaluate(&input).unwrap(), expected, "{what}");
    }
}

#[test]
fn both_examples_in_one_program() {
    let modules = [
        example("kev-and-fixable.rego"),
        example("image-hygiene.rego"),
    ];
    let program = RegoProgram::compile(&modules, "stella", RegoLimits::default()).unwrap();
    let input = context(
        image("registry.example/app:1.2", None),
        namespace("shop", "prod"),
        vec![finding(
            "CVE-2024-0001",
            "openssl",
            "critical",
            &["1.1"],
            true,
        )],
    );
    assert_eq!(
        program.evaluate(&input).unwrap(),
        outcome(
            &[
                "CVE-2024-0001: openssl 1.0 is critical and fixed in 1.1 (namespace shop is env=prod)",
                "image registry.example/app:1.2 is not pinned by digest",
            ],
            &["CVE-2024-0001: openssl 1.0 is known to be exploited (CISA KEV)"],
        )
    );
}

#[test]
fn program_is_shared_across_threads() {
    let program = program("kev-and-fixable.rego");
    let input = context(
        Value::Null,
        namespace("shop", "prod"),
        vec![finding(
            "CVE-2024-0001",
            "openssl",
            "critical",
            &["1.1"],
            false,
        )],
    );
    let expected = program.evaluate(&input).unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| program.evaluate(&input)))
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap().unwrap(), expected);
        }
    });
}

/// Fragments that random module text is assembled from, so that it often gets past the
/// lexer and reaches the parser, analyser and interpreter.
const FRAGMENTS: &[&str] = &[
    "package stella\n",
    "import rego.v1\n",
    "deny",
    "warn",
    " contains ",
    " if ",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "msg",
    " := ",
    " = ",
    "==",
    "\"text\"",
    "input.findings",
    "some f in ",
    "f.severity",
    "sprintf(\"%v\", [",
    "count(",
    "numbers.range(1, 10)",
    "not ",
    "; ",
    "\n",
    "every x in ",
    "1e400",
    "-",
    "x",
    "|",
    "`raw`",
    "with input as {}",
    "default ",
    "else ",
    "\u{0}",
    "é",
    "deny[msg] ",
    "walk(input, [p, v])",
    "0.1",
    "true",
    "null",
    ".",
];

/// The shipped example with a random span replaced by a fragment: near-valid text that
/// reaches deeper into the parser and often compiles.
fn mutated_example() -> impl Strategy<Value = String> {
    let source = example("kev-and-fixable.rego").source;
    let chars: Vec<char> = source.chars().collect();
    let len = chars.len();
    (0..len, 0..8usize, proptest::sample::select(FRAGMENTS)).prop_map(move |(at, cut, insert)| {
        let end = (at + cut).min(len);
        let mut text: String = chars[..at].iter().collect();
        text.push_str(insert);
        text.extend(&chars[end..]);
        text
    })
}

fn arbitrary_module() -> impl Strategy<Value = String> {
    prop_oneof![
        mutated_example(),
        proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..60)
            .prop_map(|parts| parts.concat()),
        ".{0,400}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Compiling arbitrary text and evaluating whatever compiles never panics (a panic
    /// inside regorus would surface as `RegoError::Internal`, which fails this test too).
    #[test]
    fn arbitrary_module_never_panics(source in arbitrary_module()) {
        let module = RegoModule { name: "fuzz.rego".to_owned(), source };
        let limits = RegoLimits::default();
        match RegoProgram::compile(&[module], "stella", limits) {
            Ok(program) => {
                let input = context(Value::Null, Value::Null, vec![finding("CVE-1", "p", "high", &[], true)]);
                let result = program.evaluate(&input);
                prop_assert!(!matches!(result, Err(RegoError::Internal { .. })), "{result:?}");
            }
            Err(err) => prop_assert!(!matches!(err, RegoError::Internal { .. }), "{err:?}"),
        }
    }
}
