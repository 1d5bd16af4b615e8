//! The verdict of a policy over a scan: pass, warn or fail, why (the rules that fired
//! and the Rego messages), every finding with its action, and every muted finding with
//! the mute that muted it. These are the types only; `policy::evaluate` computes them,
//! so this module sits below `policy` and never refers to it.

pub mod mute_rule;

use mute_rule::MuteRule;

use crate::advisory::Severity;
use crate::matcher::Finding;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Exit code of a passing (or warning) verdict.
pub const EXIT_PASS: i32 = 0;
/// Exit code of a failing verdict.
pub const EXIT_FAIL: i32 = 1;
/// Exit code for usage or input errors (set by the CLI, never by a verdict).
pub const EXIT_USAGE_OR_INPUT: i32 = 2;

/// What a rule (or the default) does with a finding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Accept: the finding is reported as ignored and does not affect the verdict.
    Ignore,
    /// Report: the verdict is at least `warn` (exit code 0).
    Warn,
    /// Block: the verdict is `fail` (exit code 1).
    Fail,
}

impl Action {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// Pass, warn or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to act on.
    Pass,
    /// Something to look at; does not block (exit code 0).
    Warn,
    /// Blocks (exit code 1).
    Fail,
}

impl Status {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// Which policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// The policy's name.
    pub name: String,
    /// The policy's own revision, when it gives one.
    pub version: Option<String>,
    /// `sha256:` digest of the policy's canonical form.
    pub digest: String,
    /// True when the policy was generated from command-line flags.
    pub generated: bool,
}

/// A rule that decided at least one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FiredRule {
    /// The rule's name; `(default)` for the policy's default action.
    pub name: String,
    /// The rule's position in the policy; `null` for the default action.
    pub index: Option<usize>,
    /// Its action.
    pub action: Action,
    /// Why (the rule's reason, or its conditions spelled out).
    pub reason: String,
    /// How many findings it decided.
    pub findings: usize,
}

/// The name reported for the default action.
pub const DEFAULT_RULE: &str = "(default)";

/// A finding with the action the policy gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidedFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// What the policy does with it.
    pub action: Action,
    /// The rule that decided (`(default)` when none matched).
    pub rule: Arc<str>,
    /// Why.
    pub reason: Arc<str>,
}

/// A finding a mute rule (or VEX statement, or ignore-file entry) muted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutedFinding {
    /// The finding.
    pub finding: Finding,
    /// The mute that muted it, with its provenance.
    pub mute: MuteRule,
}

/// A mute rule whose expiry has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredMute {
    /// The rule.
    pub mute: MuteRule,
    /// When it expired.
    pub expires: DateTime<Utc>,
    /// How many findings it would still mute (now decided by the rules instead).
    pub matching_findings: usize,
}

/// What the Rego modules said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegoVerdict {
    /// `deny` messages, sorted.
    pub deny: Vec<String>,
    /// `warn` messages, sorted.
    pub warn: Vec<String>,
    /// Why evaluation failed, when it did.
    pub error: Option<String>,
    /// The action taken because evaluation failed (`onError`).
    pub fallback: Option<Action>,
}

/// The outcome of evaluating a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Pass, warn or fail.
    pub status: Status,
    /// The policy that decided.
    pub policy: PolicyRef,
    /// Rules that decided at least one finding, in policy order, then the default.
    pub rules: Vec<FiredRule>,
    /// The Rego result, when the policy has Rego modules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rego: Option<RegoVerdict>,
    /// Findings whose action is `fail` or `warn`, in input order (serialised by the
    /// report, not here).
    #[serde(skip)]
    pub findings: Vec<DecidedFinding>,
    /// Findings a rule (or the default) ignored, in input order.
    pub ignored: Vec<DecidedFinding>,
    /// Muted findings, in input order.
    pub muted: Vec<MutedFinding>,
    /// Mute rules whose expiry has passed.
    pub expired_mutes: Vec<ExpiredMute>,
    /// `fail` and `warn` findings per severity.
    pub counts: SeverityCounts,
}

/// Number of findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCounts {
    /// Critical.
    pub critical: usize,
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// Unknown.
    pub unknown: usize,
    /// All of them.
    pub total: usize,
}

impl SeverityCounts {
    /// Counts `findings` by severity.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut counts = Self::default();
        for finding in findings {
            counts.add(finding.severity);
        }
        counts
    }

    fn add(&mut self, severity: Severity) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        };
        *slot += 1;
        self.total += 1;
    }

    /// The count for one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }
}

impl Verdict {
    /// Process exit code: 0 pass or warn, 1 fail (2 is reserved for usage/input errors).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Pass | Status::Warn => EXIT_PASS,
            Status::Fail => EXIT_FAIL,
        }
    }

    /// Findings with action `fail`.
    pub fn failing(&self) -> impl Iterator<Item = &DecidedFinding> {
        self.findings.iter().filter(|f| f.action == Action::Fail)
    }
}
