//! The policy the v0 flags stand for: `--ignore-unfixed` ignores findings without a
//! fix, `--fail-on SEVERITY` fails on findings at or above it, and everything else warns
//! (reported, exit code 0), as the scanner behaved before policies existed.
//!
//! The v0 flags (`--fail-on`, `--ignore-unfixed`, `--ignore-file`) are kept as sugar:
//! [`VerdictConfig`] becomes the generated policy and [`evaluate`] runs it.

use super::compiled::CompiledPolicy;
use super::context::ScanContext;
use super::document::{Conditions, PolicyDocument, Rule};
use super::ignore::IgnoreFile;
use crate::advisory::Severity;
use crate::matcher::Finding;
use crate::verdict::Action;
use crate::verdict::Verdict;
use chrono::{DateTime, Utc};

/// Name of the generated policy in verdicts.
pub const GENERATED_POLICY_NAME: &str = "stella-cli-flags";

/// The document for the flags.
pub fn document(fail_on: Option<Severity>, ignore_unfixed: bool) -> PolicyDocument {
    let mut rules = Vec::new();
    if ignore_unfixed {
        rules.push(Rule {
            name: "ignore-unfixed".to_owned(),
            action: Action::Ignore,
            reason: Some("--ignore-unfixed: no fixed version is known".to_owned()),
            conditions: Conditions {
                fix_available: Some(false),
                ..Conditions::default()
            },
        });
    }
    if let Some(min) = fail_on {
        rules.push(Rule {
            name: format!("fail-on-{}", min.as_str()),
            action: Action::Fail,
            reason: Some(format!(
                "--fail-on {}: severity is {} or higher",
                min.as_str(),
                min.as_str()
            )),
            conditions: Conditions {
                min_severity: Some(min),
                ..Conditions::default()
            },
        });
    }
    PolicyDocument {
        schema_version: 1,
        name: GENERATED_POLICY_NAME.to_owned(),
        version: None,
        description: Some("Generated from --fail-on / --ignore-unfixed".to_owned()),
        default_action: Action::Warn,
        rules,
        mutes: Vec::new(),
        rego: None,
    }
}

/// The compiled policy for the flags.
pub fn from_flags(fail_on: Option<Severity>, ignore_unfixed: bool) -> CompiledPolicy {
    // The generated document has no globs, selectors or Rego: it always compiles.
    match CompiledPolicy::compile(document(fail_on, ignore_unfixed)) {
        Ok(policy) => policy.into_generated(),
        Err(e) => unreachable!("the generated policy is valid: {e}"),
    }
}

/// The v0 verdict flags, turned into a generated policy by [`evaluate`].
#[derive(Debug, Clone, Default)]
pub struct VerdictConfig {
    /// Fail when a finding is at least this severe; `None` never fails.
    pub fail_on: Option<Severity>,
    /// Ignore findings that have no fixed version.
    pub ignore_unfixed: bool,
    /// Accepted vulnerabilities (become mute rules).
    pub ignores: IgnoreFile,
}

/// Applies the v0 flags in `cfg` to `findings` at time `now`, as a generated policy.
pub fn evaluate(findings: Vec<Finding>, cfg: &VerdictConfig, now: DateTime<Utc>) -> Verdict {
    let policy = from_flags(cfg.fail_on, cfg.ignore_unfixed);
    let ignores = cfg.ignores.to_mute_set("ignore file");
    let evaluation = super::evaluate::Evaluation {
        context: &ScanContext::default(),
        mutes: std::slice::from_ref(&ignores),
        kev: None,
        now,
    };
    super::evaluate::evaluate(&policy, findings, &evaluation)
}

/// A `--fail-on` value that is not a severity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected one of critical, high, medium, low, unknown")]
pub struct ParseSeverityError(pub String);

/// Parses a threshold name (`critical|high|medium|low|unknown`, any ASCII case).
///
/// `unknown` is the lowest threshold: it fails on any finding.
pub fn parse_fail_on(text: &str) -> Result<Severity, ParseSeverityError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        "unknown" => Ok(Severity::Unknown),
        _ => Err(ParseSeverityError(text.to_owned())),
    }
}
