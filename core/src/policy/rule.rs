//! One compiled policy rule: its globs and selectors checked and built once, and the
//! pure test of whether a finding, in a scan context, meets all its conditions.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::context::{ScanContext, purl_type};
use super::document::{Conditions, Rule};
use super::mute::purl_without_version;
use super::selector;
use crate::matcher::Finding;

/// A finding with the facts rules test that are not fields of [`Finding`].
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// Whether the vulnerability is in the loaded KEV catalog (`None`: no catalog).
    pub kev: Option<bool>,
}

/// A rule field that is invalid: its path below the rule and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path relative to the rule, e.g. `match.packages[0]`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

fn field_error(path: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        reason: reason.into(),
    }
}

/// A rule ready to match.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule as written.
    pub rule: Rule,
    /// Its position in the policy.
    pub index: usize,
    /// Its name, shared by every finding it decides.
    pub name: Arc<str>,
    /// Its reason (the author's, or its conditions spelled out), computed once.
    pub reason: Arc<str>,
    packages: Globs,
    ecosystems: Globs,
    ids: Globs,
    images: Globs,
    digests: Globs,
    namespaces: Globs,
}

/// The alternatives of one glob list, as one matcher; `None` when the list is empty
/// (no condition). One [`GlobSet`] pass is cheaper than a matcher per pattern.
type Globs = Option<GlobSet>;

/// Compiles a list of globs; `*` crosses `/` (image and purl paths have slashes).
fn globs(field: &str, patterns: &[String], case_insensitive: bool) -> Result<Globs, FieldError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let at = || format!("match.{field}[{i}]");
        if pattern.trim().is_empty() {
            return Err(field_error(at(), "empty pattern"));
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| field_error(at(), format!("invalid glob {pattern:?}: {}", e.kind())))?;
        set.add(glob);
    }
    set.build()
        .map(Some)
        .map_err(|e| field_error(format!("match.{field}"), e.to_string()))
}

/// Whether `value` matches the globs; no globs always match, an unknown value never.
fn glob_match(globs: &Globs, value: Option<&str>) -> bool {
    match globs {
        None => true,
        Some(set) => value.is_some_and(|v| set.is_match(v)),
    }
}

impl CompiledRule {
    /// Checks and compiles `rule`, the `index`-th of its policy.
    pub fn compile(index: usize, rule: Rule) -> Result<Self, FieldError> {
        if rule.name.trim().is_empty() {
            return Err(field_error("name", "missing or empty"));
        }
        let c = &rule.conditions;
        if let Some(range) = c.cvss {
            for (field, value) in [("min", range.min), ("max", range.max)] {
                if value.is_some_and(|v| !(0.0..=10.0).contains(&v)) {
                    return Err(field_error(
                        format!("match.cvss.{field}"),
                        "must be between 0 and 10",
                    ));
                }
            }
            if let (Some(min), Some(max)) = (range.min, range.max)
                && min > max
            {
                return Err(field_error("match.cvss", "min is greater than max"));
            }
        }
        if let Some(age) = c.age
            && let (Some(least), Some(most)) = (age.at_least_days, age.at_most_days)
            && least > most
        {
            return Err(field_error(
                "match.age",
                "atLeastDays is greater than atMostDays",
            ));
        }
        for (field, sel) in [
            ("namespaceSelector", &c.namespace_selector),
            ("labelSelector", &c.label_selector),
        ] {
            if let Some(sel) = sel {
                selector::validate(sel)
                    .map_err(|(at, reason)| field_error(format!("match.{field}.{at}"), reason))?;
            }
        }
        let reason = match &rule.reason {
            Some(r) if !r.trim().is_empty() => r.trim().to_owned(),
            _ => describe(&rule.conditions),
        };
        Ok(Self {
            name: Arc::from(rule.name.trim()),
            reason: Arc::from(reason),
            packages: globs("packages", &c.packages, false)?,
            ecosystems: globs("ecosystems", &c.ecosystems, true)?,
            ids: globs("ids", &c.ids, true)?,
            images: globs("images", &c.images, false)?,
            digests: globs("digests", &c.digests, false)?,
            namespaces: globs("namespaces", &c.namespaces, false)?,
            index,
            rule,
        })
    }

    /// Whether the rule needs a KEV catalog.
    pub fn uses_kev(&self) -> bool {
        self.rule.conditions.kev.is_some()
    }

    /// Whether `subject`, seen in `context` at `now`, meets every condition.
    pub fn matches(
        &self,
        subject: &Subject<'_>,
        context: &ScanContext,
        now: DateTime<Utc>,
    ) -> bool {
        self.applies_in(context) && self.matches_finding(subject, now)
    }

    /// Whether the conditions on the scan context (image, digest, namespace, labels)
    /// hold; the same for every finding of a scan, so evaluated once per scan.
    pub fn applies_in(&self, context: &ScanContext) -> bool {
        let c: &Conditions = &self.rule.conditions;
        glob_match(&self.images, context.image.as_deref())
            && glob_match(&self.digests, context.digest.as_deref())
            && glob_match(&self.namespaces, context.namespace.as_deref())
            && c.namespace_selector.as_ref().is_none_or(|sel| {
                context.namespace.is_some() && selector::matches(sel, &context.namespace_labels)
            })
            && c.label_selector
                .as_ref()
                .is_none_or(|sel| selector::matches(sel, &context.labels))
    }

    /// Whether the conditions on the finding itself hold (cheapest tests first).
    pub fn matches_finding(&self, subject: &Subject<'_>, now: DateTime<Utc>) -> bool {
        let c: &Conditions = &self.rule.conditions;
        let f = subject.finding;
        (c.severity.is_empty() || c.severity.contains(&f.severity))
            && c.min_severity.is_none_or(|min| f.severity >= min)
            && c.fix_available
                .is_none_or(|want| want != f.fixed_versions.is_empty())
            && c.kev.is_none_or(|want| subject.kev == Some(want))
            && c.cvss.is_none_or(|range| {
                f.cvss.as_ref().is_some_and(|s| {
                    range.min.is_none_or(|min| s.score >= min)
                        && range.max.is_none_or(|max| s.score <= max)
                })
            })
            && c.age.is_none_or(|age| {
                f.published.is_some_and(|published| {
                    let days = (now - published).num_days();
                    age.at_least_days.is_none_or(|n| days >= i64::from(n))
                        && age.at_most_days.is_none_or(|n| days <= i64::from(n))
                })
            })
            && glob_match(&self.ecosystems, Some(purl_type(&f.purl)))
            && self.packages.as_ref().is_none_or(|set| {
                set.is_match(&f.purl) || set.is_match(purl_without_version(&f.purl))
            })
            && self
                .ids
                .as_ref()
                .is_none_or(|set| set.is_match(&f.id) || f.aliases.iter().any(|a| set.is_match(a)))
    }
}

/// A one-line description of conditions, e.g. `severity >= high, fix available`.
pub fn describe(c: &Conditions) -> String {
    let mut parts = Vec::new();
    if !c.severity.is_empty() {
        let names: Vec<_> = c.severity.iter().map(|s| s.as_str()).collect();
        parts.push(format!("severity in [{}]", names.join(", ")));
    }
    if let Some(min) = c.min_severity {
        parts.push(format!("severity >= {}", min.as_str()));
    }
    if let Some(r) = c.cvss {
        match (r.min, r.max) {
            (Some(a), Some(b)) => parts.push(format!("CVSS {a}..{b}")),
            (Some(a), None) => parts.push(format!("CVSS >= {a}")),
            (None, Some(b)) => parts.push(format!("CVSS <= {b}")),
            (None, None) => parts.push("has a CVSS score".to_owned()),
        }
    }
    match c.fix_available {
        Some(true) => parts.push("fix available".to_owned()),
        Some(false) => parts.push("no fix available".to_owned()),
        None => {}
    }
    if let Some(a) = c.age {
        if let Some(n) = a.at_least_days {
            parts.push(format!("published >= {n} days ago"));
        }
        if let Some(n) = a.at_most_days {
            parts.push(format!("published <= {n} days ago"));
        }
    }
    for (name, list) in [
        ("package", &c.packages),
        ("ecosystem", &c.ecosystems),
        ("id", &c.ids),
        ("image", &c.images),
        ("digest", &c.digests),
        ("namespace", &c.namespaces),
    ] {
        if !list.is_empty() {
            parts.push(format!("{name} matches {}", list.join(" | ")));
        }
    }
    if c.namespace_selector.is_some() {
        parts.push("namespace labels match the selector".to_owned());
    }
    if c.label_selector.is_some() {
        parts.push("workload labels match the selector".to_owned());
    }
    match c.kev {
        Some(true) => parts.push("in CISA KEV".to_owned()),
        Some(false) => parts.push("not in CISA KEV".to_owned()),
        None => {}
    }
    if parts.is_empty() {
        "every finding".to_owned()
    } else {
        parts.join(", ")
    }
}
