//! The package-url specification's own test suite (trimmed copy in
//! `fixtures/purl/test-suite-data.json`, MIT, see the README there).

use std::collections::BTreeMap;

use serde_json::Value;
use stella_core::sbom::Purl;

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/purl/test-suite-data.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        other => panic!("{path}: not a JSON array: {other:?}"),
    }
}

fn opt(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

#[test]
fn spec_test_suite() {
    let cases = cases();
    assert!(cases.len() >= 39, "only {} cases", cases.len());
    let (mut valid, mut invalid) = (0, 0);
    for case in &cases {
        let desc = opt(case, "description").unwrap_or_default();
        let input = opt(case, "purl").unwrap_or_default();
        let parsed = Purl::parse(&input);
        if case.get("is_invalid").and_then(Value::as_bool) == Some(true) {
            assert!(parsed.is_err(), "{desc}: {input} accepted as {parsed:?}");
            invalid += 1;
            continue;
        }
        let p = parsed.unwrap_or_else(|e| panic!("{desc}: {e}"));
        assert_eq!(Some(p.ty.clone()), opt(case, "type"), "{desc}");
        assert_eq!(p.namespace, opt(case, "namespace"), "{desc}");
        assert_eq!(Some(p.name.clone()), opt(case, "name"), "{desc}");
        assert_eq!(p.version, opt(case, "version"), "{desc}");
        assert_eq!(p.subpath, opt(case, "subpath"), "{desc}");
        let quals: BTreeMap<String, String> = case
            .get("qualifiers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(p.qualifiers, quals, "{desc}");
        let canonical = opt(case, "canonical_purl").unwrap_or_default();
        assert_eq!(p.to_string(), canonical, "{desc}");
        // The canonical form is a fixed point.
        assert_eq!(Purl::parse(&canonical).ok(), Some(p), "{desc}");
        valid += 1;
    }
    assert!(
        valid >= 25 && invalid >= 10,
        "{valid} valid, {invalid} invalid"
    );
}
