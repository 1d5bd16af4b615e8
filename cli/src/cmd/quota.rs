//! `stella quota`: the caller's daily scan quota on a stella-server.

use std::io::Write;

use clap::{Args, ValueEnum};

use crate::server_client::ServerArgs;
use stella_core::server_api::QuotaView;

/// How to print the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuotaOutput {
    /// One field a line.
    Table,
    /// The server's JSON answer.
    Json,
}

/// Arguments of `stella quota`.
#[derive(Debug, Args)]
pub struct QuotaArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = QuotaOutput::Table)]
    output: QuotaOutput,
}

/// Runs `stella quota`; returns the exit code.
pub fn run(args: QuotaArgs) -> anyhow::Result<u8> {
    let remote = args.server.connect()?;
    let quota: QuotaView = remote.json(remote.get("/api/v1/quota")?, "quota")?;
    let text = match args.output {
        QuotaOutput::Json => serde_json::to_string_pretty(&quota)?,
        QuotaOutput::Table => table(&quota),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(0)
}

/// The quota as aligned `field  value` lines.
fn table(q: &QuotaView) -> String {
    // u32::MAX is how the server spells "no limit".
    let limit = match q.limit {
        u32::MAX => "unlimited".to_owned(),
        l => l.to_string(),
    };
    let reset_at = q
        .reset_at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let rows = [
        ("subject", q.subject.clone()),
        ("tier", q.tier.clone()),
        ("used today", q.used.to_string()),
        ("daily limit", limit),
        ("remaining", q.remaining.to_string()),
        (
            "resets at",
            format!("{reset_at} (in {} s)", q.reset_in_seconds),
        ),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k:<12} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
