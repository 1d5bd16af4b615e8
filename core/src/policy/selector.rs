//! Kubernetes label selectors: validation of keys and values, and matching against a
//! label map, with the API server's semantics.

use std::collections::BTreeMap;

use super::document::{LabelOperator, LabelSelector};

/// Checks a selector; the error names the offending field relative to the selector.
pub fn validate(selector: &LabelSelector) -> Result<(), (String, String)> {
    for (key, value) in &selector.match_labels {
        check_key(key).map_err(|r| (format!("matchLabels.{key}"), r))?;
        check_value(value).map_err(|r| (format!("matchLabels.{key}"), r))?;
    }
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let at = |field: &str| format!("matchExpressions[{i}].{field}");
        check_key(&req.key).map_err(|r| (at("key"), r))?;
        match req.operator {
            LabelOperator::In | LabelOperator::NotIn if req.values.is_empty() => {
                return Err((
                    at("values"),
                    "must be non-empty for In and NotIn".to_owned(),
                ));
            }
            LabelOperator::Exists | LabelOperator::DoesNotExist if !req.values.is_empty() => {
                return Err((
                    at("values"),
                    "must be empty for Exists and DoesNotExist".to_owned(),
                ));
            }
            _ => {}
        }
        for (j, value) in req.values.iter().enumerate() {
            check_value(value).map_err(|r| (at(&format!("values[{j}]")), r))?;
        }
    }
    Ok(())
}

/// Whether `labels` satisfy every requirement of `selector` (an empty selector
/// matches everything).
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|req| {
            let value = labels.get(&req.key);
            match req.operator {
                LabelOperator::In => value.is_some_and(|v| req.values.contains(v)),
                LabelOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
                LabelOperator::Exists => value.is_some(),
                LabelOperator::DoesNotExist => value.is_none(),
            }
        })
}

/// A label name: `[prefix/]name`, name ≤ 63 characters of `[A-Za-z0-9._-]` starting and
/// ending alphanumeric, prefix a DNS subdomain of ≤ 253 characters.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            return Err(format!("label key {key:?}: prefix is not a DNS subdomain"));
        }
    }
    if name.is_empty() {
        return Err(format!("label key {key:?}: empty name"));
    }
    check_name(name).map_err(|r| format!("label key {key:?}: {r}"))
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(value).map_err(|r| format!("label value {value:?}: {r}"))
}

fn check_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    if bytes.len() > 63 {
        return Err("longer than 63 characters".to_owned());
    }
    let inner = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err("empty".to_owned());
    };
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() || !bytes.iter().all(inner) {
        return Err(
            "must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric".to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::LabelRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn req(key: &str, operator: LabelOperator, values: &[&str]) -> LabelRequirement {
        LabelRequirement {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn operator_table() {
        use LabelOperator::*;
        let prod = labels(&[("env", "prod"), ("team", "a")]);
        let none = labels(&[]);
        // (requirement, matches prod?, matches no labels?)
        let cases = [
            (req("env", In, &["prod", "stage"]), true, false),
            (req("env", In, &["dev"]), false, false),
            (req("env", NotIn, &["prod"]), false, true),
            (req("env", NotIn, &["dev"]), true, true),
            (req("team", Exists, &[]), true, false),
            (req("owner", Exists, &[]), false, false),
            (req("owner", DoesNotExist, &[]), true, true),
            (req("env", DoesNotExist, &[]), false, true),
        ];
        for (r, on_prod, on_none) in cases {
            let s = LabelSelector {
                match_labels: BTreeMap::new(),
                match_expressions: vec![r.clone()],
            };
            assert_eq!(matches(&s, &prod), on_prod, "{r:?} on prod");
            assert_eq!(matches(&s, &none), on_none, "{r:?} on no labels");
        }
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = LabelSelector {
            match_labels: labels(&[("env", "prod")]),
            match_expressions: vec![req("team", LabelOperator::In, &["a"])],
        };
        assert!(matches(&s, &labels(&[("env", "prod"), ("team", "a")])));
        assert!(!matches(&s, &labels(&[("env", "prod"), ("team", "b")])));
        assert!(!matches(&s, &labels(&[("team", "a")])));
        assert!(matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = [
            (
                LabelSelector {
                    match_labels: labels(&[("-bad", "x")]),
                    ..Default::default()
                },
                "matchLabels.-bad",
            ),
            (
                LabelSelector {
                    match_labels: labels(&[("ok", "white space")]),
                    ..Default::default()
                },
                "matchLabels.ok",
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("env", LabelOperator::In, &[])],
                    ..Default::default()
                },
                "matchExpressions[0].values",
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("env", LabelOperator::Exists, &["x"])],
                    ..Default::default()
                },
                "matchExpressions[0].values",
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("Bad_Prefix/x", LabelOperator::Exists, &[])],
                    ..Default::default()
                },
                "matchExpressions[0].key",
            ),
        ];
        for (selector, field) in bad {
            let (at, _) = validate(&selector).expect_err(field);
            assert_eq!(at, field);
        }
        let good = LabelSelector {
            match_labels: labels(&[("app.kubernetes.io/name", "web"), ("tier", "")]),
            match_expressions: vec![req(
                "kubernetes.io/metadata.name",
                LabelOperator::In,
                &["prod"],
            )],
        };
        validate(&good).unwrap();
    }
}
