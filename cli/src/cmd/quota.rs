//! `stella quota`: the caller's daily scan quota on a stella-server.

use std::io::Write;

use clap::{Args, ValueEnum};

use crate::server_client::ServerArgs;

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
    let quota = remote.json(remote.get("/api/v1/quota")?, "quota")?;
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
fn table(q: &serde_json::Value) -> String {
    let field = |k: &str| match q.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "-".to_owned(),
        Some(v) => v.to_string(),
    };
    // u32::MAX is how the server spells "no limit".
    let limit = match q.get("limit").and_then(|v| v.as_u64()) {
        Some(l) if l == u64::from(u32::MAX) => "unlimited".to_owned(),
        _ => field("limit"),
    };
    let rows = [
        ("subject", field("subject")),
        ("tier", field("tier")),
        ("used today", field("used")),
        ("daily limit", limit),
        ("remaining", field("remaining")),
        (
            "resets at",
            format!("{} (in {} s)", field("resetAt"), field("resetInSeconds")),
        ),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k:<12} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
