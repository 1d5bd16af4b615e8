//! Evaluating a compiled policy over the findings of one scan: mutes first, then the
//! ordered rules (first match wins, else the default action), then the Rego modules
//! over the whole scan. Pure: same findings, context, mutes, catalog and clock give
//! the same verdict.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::compiled::CompiledPolicy;
use super::context::{ScanContext, purl_type};
use super::mute::{FindingRef, MuteDecision, MuteSet};
use super::rule::{CompiledRule, Subject};
use crate::matcher::Finding;
use crate::verdict::Action;
use crate::verdict::mute_rule::MuteRule;
use crate::verdict::{
    DEFAULT_RULE, DecidedFinding, ExpiredMute, FiredRule, MutedFinding, PolicyRef, RegoVerdict,
    SeverityCounts, Status, Verdict,
};

/// A catalog of known exploited vulnerabilities (CISA KEV).
pub trait KnownExploited {
    /// Whether `id` (a CVE id, any ASCII case) is in the catalog.
    fn contains(&self, id: &str) -> bool;
}

impl KnownExploited for super::kev::KevCatalog {
    fn contains(&self, id: &str) -> bool {
        super::kev::KevCatalog::contains(self, id)
    }
}

impl KnownExploited for std::collections::BTreeSet<String> {
    fn contains(&self, id: &str) -> bool {
        std::collections::BTreeSet::contains(self, &id.to_ascii_uppercase())
    }
}

/// Everything besides the policy and findings that a verdict depends on.
#[derive(Clone, Copy)]
pub struct Evaluation<'a> {
    /// Where the scan runs.
    pub context: &'a ScanContext,
    /// Mute rules from outside the policy (VEX documents, ignore files, MuteRule
    /// resources), consulted after the policy's own, in order.
    pub mutes: &'a [MuteSet],
    /// The KEV catalog, when loaded. Without one, `kev` conditions match nothing.
    pub kev: Option<&'a dyn KnownExploited>,
    /// The clock (mute expiry, advisory age).
    pub now: DateTime<Utc>,
}

impl std::fmt::Debug for Evaluation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluation")
            .field("context", &self.context)
            .field("mutes", &self.mutes.len())
            .field("kev", &self.kev.is_some())
            .field("now", &self.now)
            .finish()
    }
}

/// Evaluates `policy` over `findings`.
pub fn evaluate(policy: &CompiledPolicy, findings: Vec<Finding>, eval: &Evaluation<'_>) -> Verdict {
    let sets: Vec<&MuteSet> = std::iter::once(policy.mutes()).chain(eval.mutes).collect();
    let mute_context = eval.context.mute_context();
    // Expired rules that still match, counted per rule (by address: rules live in `sets`).
    let mut expired_hits: BTreeMap<*const MuteRule, usize> = BTreeMap::new();
    let mut fired: BTreeMap<Option<usize>, FiredRule> = BTreeMap::new();
    let mut decided = Vec::with_capacity(findings.len());
    let mut ignored = Vec::new();
    let mut muted = Vec::new();
    // Context conditions are the same for every finding: test them once.
    let applicable: Vec<&CompiledRule> = policy
        .rules()
        .iter()
        .filter(|r| r.applies_in(eval.context))
        .collect();
    let default_name: Arc<str> = Arc::from(DEFAULT_RULE);
    let default_reason: Arc<str> = Arc::from("no rule matched: the policy's default action");

    'findings: for finding in findings {
        let mut first_expired = None;
        for set in &sets {
            match set.decide(&FindingRef::from(&finding), &mute_context, eval.now) {
                MuteDecision::Muted(rule) => {
                    muted.push(MutedFinding {
                        mute: rule.clone(),
                        finding,
                    });
                    continue 'findings;
                }
                MuteDecision::Expired(rule) => {
                    first_expired.get_or_insert(rule as *const MuteRule);
                }
                MuteDecision::None => {}
            }
        }
        if let Some(rule) = first_expired {
            *expired_hits.entry(rule).or_insert(0) += 1;
        }
        let subject = Subject {
            finding: &finding,
            kev: eval
                .kev
                .map(|k| k.contains(&finding.id) || finding.aliases.iter().any(|a| k.contains(a))),
        };
        let rule = applicable
            .iter()
            .find(|r| r.matches_finding(&subject, eval.now));
        let (index, name, action, reason) = match rule {
            Some(r) => (Some(r.index), &r.name, r.rule.action, &r.reason),
            None => (
                None,
                &default_name,
                policy.document().default_action,
                &default_reason,
            ),
        };
        fired
            .entry(index)
            .or_insert_with(|| FiredRule {
                name: name.to_string(),
                index,
                action,
                reason: reason.to_string(),
                findings: 0,
            })
            .findings += 1;
        let decided_finding = DecidedFinding {
            finding,
            action,
            rule: Arc::clone(name),
            reason: Arc::clone(reason),
        };
        if action == Action::Ignore {
            ignored.push(decided_finding);
        } else {
            decided.push(decided_finding);
        }
    }

    let expired_mutes = sets
        .iter()
        .flat_map(|set| set.expired(eval.now))
        .map(|(rule, expires)| ExpiredMute {
            mute: rule.clone(),
            expires,
            matching_findings: expired_hits
                .get(&(rule as *const MuteRule))
                .copied()
                .unwrap_or(0),
        })
        .collect();

    // The default's key (`None`) sorts first in the map; report it after the rules.
    let mut rules: Vec<FiredRule> = fired.into_values().collect();
    rules.sort_by_key(|r| r.index.unwrap_or(usize::MAX));

    let status = decided
        .iter()
        .map(|f| status_of(f.action))
        .max()
        .unwrap_or(Status::Pass);
    let document = policy.document();
    let mut verdict = Verdict {
        status,
        policy: PolicyRef {
            name: document.name.clone(),
            version: document.version.clone(),
            digest: policy.digest().to_owned(),
            generated: policy.is_generated(),
        },
        rules,
        rego: None,
        counts: SeverityCounts::of(decided.iter().map(|d| &d.finding)),
        findings: decided,
        ignored,
        muted,
        expired_mutes,
    };
    if let Some(rego) = policy.rego() {
        let input = rego_input(policy, &verdict, eval.context, eval.kev, eval.now);
        let (result, status) = match rego.program.evaluate(&input) {
            Ok(outcome) => {
                let status = if !outcome.deny.is_empty() {
                    Status::Fail
                } else if !outcome.warn.is_empty() {
                    Status::Warn
                } else {
                    Status::Pass
                };
                let result = RegoVerdict {
                    deny: outcome.deny,
                    warn: outcome.warn,
                    ..RegoVerdict::default()
                };
                (result, status)
            }
            // A module that fails or runs out of budget yields the configured fallback.
            Err(e) => (
                RegoVerdict {
                    error: Some(e.to_string()),
                    fallback: Some(rego.on_error),
                    ..RegoVerdict::default()
                },
                status_of(rego.on_error),
            ),
        };
        verdict.status = verdict.status.max(status);
        verdict.rego = Some(result);
    }
    verdict
}

fn status_of(action: Action) -> Status {
    match action {
        Action::Fail => Status::Fail,
        Action::Warn => Status::Warn,
        Action::Ignore => Status::Pass,
    }
}

/// The Rego input document: the scan context and the findings left after muting, each
/// with the action the rules gave it.
pub fn rego_input(
    policy: &CompiledPolicy,
    verdict: &Verdict,
    context: &ScanContext,
    kev: Option<&dyn KnownExploited>,
    now: DateTime<Utc>,
) -> serde_json::Value {
    use serde_json::{Value, json};
    let finding = |d: &DecidedFinding| {
        let f = &d.finding;
        json!({
            "id": f.id,
            "aliases": f.aliases,
            "purl": f.purl,
            "package": f.package_name,
            "version": f.installed_version,
            "ecosystem": purl_type(&f.purl),
            "severity": f.severity.as_str(),
            "cvss": f.cvss.as_ref().map(|c| c.score),
            "fixedVersions": f.fixed_versions,
            "fixAvailable": !f.fixed_versions.is_empty(),
            "published": f.published.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            "kev": kev.map(|k| k.contains(&f.id) || f.aliases.iter().any(|a| k.contains(a))),
            "action": d.action.as_str(),
            "rule": &*d.rule,
        })
    };
    let findings: Vec<Value> = verdict
        .findings
        .iter()
        .chain(&verdict.ignored)
        .map(finding)
        .collect();
    let document = policy.document();
    json!({
        "now": now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "policy": {"name": document.name, "version": document.version},
        "image": context.image.as_ref().map(|image| json!({"ref": image, "digest": context.digest})),
        "namespace": context.namespace.as_ref().map(|name| json!({"name": name, "labels": context.namespace_labels})),
        "labels": context.labels,
        "sbom": context.sbom,
        "findings": findings,
    })
}
