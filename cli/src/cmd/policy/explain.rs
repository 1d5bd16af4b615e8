//! `stella policy explain --sbom FILE --policy FILE`: the verdict, then every finding
//! with its action and the rule (or mute) that decided it.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use stella_core::report::ScanReport;
use stella_core::sbom::Limits;

use crate::cmd::image::ImageArgs;
use crate::cmd::scan::policy_args::PolicyArgs;

/// Output of `stella policy explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// One line per finding.
    Table,
    /// A JSON array of decisions.
    Json,
}

/// Arguments of `stella policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// SBOM to evaluate: CycloneDX or SPDX JSON.
    #[arg(long, value_name = "FILE")]
    sbom: PathBuf,
    /// Advisory DB built by `stella db import` or `stella feeds sync`.
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ExplainFormat::Table)]
    output: ExplainFormat,
}

/// Why one finding got its action.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Decision<'a> {
    id: &'a str,
    purl: &'a str,
    severity: &'a str,
    /// `fail`, `warn`, `ignore` or `muted`.
    action: &'a str,
    /// The deciding rule, when not muted.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    reason: String,
}

/// Run the explanation; always exits 0 unless the inputs are unusable.
pub fn run(args: ExplainArgs) -> anyhow::Result<u8> {
    let report = crate::cmd::scan::scan_report(
        Some(&args.sbom),
        None,
        &ImageArgs::default(),
        args.db,
        &args.policy,
        Limits::default(),
    )?;
    let decisions = decisions(&report);
    match args.output {
        ExplainFormat::Json => {
            let v = &report.verdict;
            let doc = serde_json::json!({
                "policy": v.policy,
                "status": v.status,
                "rules": v.rules,
                "rego": v.rego,
                "decisions": decisions,
                "expiredMutes": v.expired_mutes,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        ExplainFormat::Table => print!("{}", render(&report, &decisions)),
    }
    Ok(0)
}

fn decisions(report: &ScanReport) -> Vec<Decision<'_>> {
    let v = &report.verdict;
    let mut out: Vec<Decision<'_>> = report
        .findings
        .iter()
        .chain(&v.ignored)
        .map(|d| Decision {
            id: &d.finding.id,
            purl: &d.finding.purl,
            severity: d.finding.severity.as_str(),
            action: d.action.as_str(),
            rule: Some(&d.rule),
            reason: d.reason.to_string(),
        })
        .collect();
    out.extend(v.muted.iter().map(|m| Decision {
        id: &m.finding.id,
        purl: &m.finding.purl,
        severity: m.finding.severity.as_str(),
        action: "muted",
        rule: None,
        reason: stella_core::report::table::mute_summary(&m.mute),
    }));
    out.sort_by(|a, b| (a.id, a.purl).cmp(&(b.id, b.purl)));
    out
}

fn render(report: &ScanReport, decisions: &[Decision<'_>]) -> String {
    let v = &report.verdict;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "policy {}{} ({}) — verdict {}",
        v.policy.name,
        v.policy
            .version
            .as_deref()
            .map(|x| format!(" {x}"))
            .unwrap_or_default(),
        v.policy.digest,
        v.status.as_str().to_ascii_uppercase()
    );
    for d in decisions {
        let by = match d.rule {
            Some(rule) => format!("rule {rule}: {}", d.reason),
            None => format!("mute: {}", d.reason),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<8} {:<20} {} — {}",
            d.action.to_ascii_uppercase(),
            d.severity,
            d.id,
            d.purl,
            by
        );
    }
    if let Some(rego) = &v.rego {
        stella_core::report::table::rego_lines(&mut out, rego);
    }
    for e in &v.expired_mutes {
        let _ = writeln!(
            out,
            "expired mute: {} ({}) expired {}; {} finding(s) no longer muted",
            e.mute.id,
            stella_core::report::table::provenance(&e.mute),
            e.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.matching_findings
        );
    }
    out
}
