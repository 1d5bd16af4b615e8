//! One compiled policy rule: its globs and selectors checked and built once, and the
//! pure test of whether a finding, in a scan context, meets all its conditions.

use chrono::{DateTime, Utc};
use globset::{GlobBuilder, GlobMatcher};

use super::context::{ScanContext, purl_type};
use super::document::{Conditions, Rule};
use super::selector;
use crate::matcher::Finding;
use crate::verdict::ignore::PurlGlob;

/// A finding with the facts rules test that are not fields of [`Finding`].
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// When the vulnerability was first published (the advisory age is counted from it).
    pub published: Option<DateTime<Utc>>,
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
    packages: Vec<PurlGlob>,
    ecosystems: Vec<GlobMatcher>,
    ids: Vec<GlobMatcher>,
    images: Vec<GlobMatcher>,
    digests: Vec<GlobMatcher>,
    namespaces: Vec<GlobMatcher>,
}

/// Compiles a glob; `*` crosses `/` (image and purl paths have slashes).
fn glob(pattern: &str, case_insensitive: bool) -> Result<GlobMatcher, String> {
    if pattern.trim().is_empty() {
        return Err("empty pattern".to_owned());
    }
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .case_insensitive(case_insensitive)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {pattern:?}: {}", e.kind()))
}

fn globs(field: &str, patterns: &[String], ci: bool) -> Result<Vec<GlobMatcher>, FieldError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| glob(p, ci).map_err(|r| field_error(format!("match.{field}[{i}]"), r)))
        .collect()
}

fn any_glob(globs: &[GlobMatcher], value: Option<&str>) -> bool {
    globs.is_empty() || value.is_some_and(|v| globs.iter().any(|g| g.is_match(v)))
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
        let packages = c
            .packages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = || format!("match.packages[{i}]");
                if p.trim().is_empty() {
                    return Err(field_error(at(), "empty pattern"));
                }
                PurlGlob::new(p)
                    .map_err(|e| field_error(at(), format!("invalid glob: {}", e.kind())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            packages,
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
        let c: &Conditions = &self.rule.conditions;
        let f = subject.finding;
        (c.severity.is_empty() || c.severity.contains(&f.severity))
            && c.min_severity.is_none_or(|min| f.severity >= min)
            && c.cvss.is_none_or(|range| {
                f.cvss.as_ref().is_some_and(|s| {
                    range.min.is_none_or(|min| s.score >= min)
                        && range.max.is_none_or(|max| s.score <= max)
                })
            })
            && c.fix_available
                .is_none_or(|want| want != f.fixed_versions.is_empty())
            && c.age.is_none_or(|age| {
                subject.published.is_some_and(|published| {
                    let days = (now - published).num_days();
                    age.at_least_days.is_none_or(|n| days >= i64::from(n))
                        && age.at_most_days.is_none_or(|n| days <= i64::from(n))
                })
            })
            && (self.packages.is_empty() || self.packages.iter().any(|g| g.is_match(&f.purl)))
            && any_glob(&self.ecosystems, Some(purl_type(&f.purl)))
            && (self.ids.is_empty()
                || self
                    .ids
                    .iter()
                    .any(|g| g.is_match(&f.id) || f.aliases.iter().any(|a| g.is_match(a))))
            && any_glob(&self.images, context.image.as_deref())
            && any_glob(&self.digests, context.digest.as_deref())
            && any_glob(&self.namespaces, context.namespace.as_deref())
            && c.namespace_selector.as_ref().is_none_or(|sel| {
                context.namespace.is_some() && selector::matches(sel, &context.namespace_labels)
            })
            && c.label_selector
                .as_ref()
                .is_none_or(|sel| selector::matches(sel, &context.labels))
            && c.kev.is_none_or(|want| subject.kev == Some(want))
    }

    /// The reason reported when the rule fires: the author's, or the rule's conditions.
    pub fn reason(&self) -> String {
        match &self.rule.reason {
            Some(r) if !r.trim().is_empty() => r.trim().to_owned(),
            _ => describe(&self.rule.conditions),
        }
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
