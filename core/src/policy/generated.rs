//! The policy the v0 flags stand for: `--ignore-unfixed` ignores findings without a
//! fix, `--fail-on SEVERITY` fails on findings at or above it, and everything else warns
//! (reported, exit code 0), as the scanner behaved before policies existed.

use super::compiled::CompiledPolicy;
use super::document::{Action, Conditions, PolicyDocument, Rule};
use crate::advisory::Severity;

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
