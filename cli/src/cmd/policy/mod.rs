//! `stella policy`: check policy files, print the policy JSON Schema, and explain
//! which action each finding of an SBOM gets under a policy, and why.

mod explain;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use stella_core::policy::compiled::CompiledPolicy;
use stella_core::policy::{audit, document};

/// `stella policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files; errors give the field path and the reason.
    #[command(after_help = "Exit codes: 0 every file is valid, 2 some file is invalid.")]
    Validate(ValidateArgs),
    /// Print the JSON Schema of policy documents (for editors and CI linting).
    Schema,
    /// Scan an SBOM and print, for each finding, its action and why.
    Explain(Box<explain::ExplainArgs>),
    /// Audit records (JSON lines) of the mute rules added, removed or changed between
    /// two versions of a policy; e.g. in CI on every policy change.
    AuditMutes(AuditArgs),
}

/// Arguments of `stella policy audit-mutes`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The policy before the change (omit for a new policy).
    #[arg(long, value_name = "FILE")]
    before: Option<PathBuf>,
    /// The policy after the change.
    #[arg(long, value_name = "FILE")]
    after: PathBuf,
    /// Who made the change (e.g. the commit author).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Also append the records to this JSON-lines audit log.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

/// Arguments of `stella policy validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy files (YAML or JSON).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Run a `policy` subcommand; returns the process exit code.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<u8> {
    match cmd {
        PolicyCommand::Validate(args) => Ok(validate(&args)),
        PolicyCommand::Schema => {
            println!("{}", document::json_schema());
            Ok(0)
        }
        PolicyCommand::Explain(args) => explain::run(*args),
        PolicyCommand::AuditMutes(args) => audit_mutes(&args),
    }
}

fn audit_mutes(args: &AuditArgs) -> anyhow::Result<u8> {
    let load = |path: &PathBuf| {
        CompiledPolicy::load(path)
            .with_context(|| format!("policy {} is invalid", path.display()))
            .map(|p| p.document().mutes.clone())
    };
    let before = match &args.before {
        Some(path) => load(path)?,
        None => Vec::new(),
    };
    let after = load(&args.after)?;
    let records = audit::diff(
        &before,
        &after,
        &args.after.display().to_string(),
        args.actor.as_deref(),
        chrono::Utc::now(),
    );
    for record in &records {
        println!("{}", serde_json::to_string(record)?);
    }
    if let Some(log) = &args.audit_log {
        audit::append(log, &records)
            .with_context(|| format!("appending to audit log {}", log.display()))?;
    }
    Ok(0)
}

fn validate(args: &ValidateArgs) -> u8 {
    let mut code = 0;
    for path in &args.files {
        match CompiledPolicy::load(path) {
            Ok(policy) => {
                let doc = policy.document();
                println!(
                    "{}: valid — policy {}{} ({} rules, {} mutes{}, default {}), {}",
                    path.display(),
                    doc.name,
                    doc.version
                        .as_deref()
                        .map(|v| format!(" {v}"))
                        .unwrap_or_default(),
                    doc.rules.len(),
                    doc.mutes.len(),
                    doc.rego
                        .as_ref()
                        .map(|r| format!(", {} Rego modules", r.modules.len()))
                        .unwrap_or_default(),
                    doc.default_action.as_str(),
                    policy.digest(),
                );
            }
            Err(e) => {
                eprintln!("{}: invalid: {e}", path.display());
                code = crate::EXIT_USAGE_OR_INPUT;
            }
        }
    }
    code
}
