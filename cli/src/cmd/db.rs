//! `stella db`: import OSV records into the embedded advisory DB; show what it holds.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use stella_core::advisory_db::AdvisoryDb;
use stella_core::import::{ImportLimits, discover, import};

use crate::paths::db_path;
use crate::progress;

/// `stella db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Import OSV records (JSON, PyPA YAML; files, directories, zip archives).
    Import(ImportArgs),
    /// Show what the advisory DB holds.
    Info(InfoArgs),
}

/// Summary format of `db` commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SummaryFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `stella db import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Advisory DB file (created if missing).
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    /// Summary format.
    #[arg(long, short, value_enum, default_value_t = SummaryFormat::Text)]
    output: SummaryFormat,
    /// Largest accepted document, in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_document_bytes: u64,
    /// Files, directories or zip archives of OSV records.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// Arguments of `stella db info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Advisory DB file.
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = SummaryFormat::Text)]
    output: SummaryFormat,
}

/// Run a `db` subcommand; returns the process exit code.
pub fn run(cmd: DbCommand) -> anyhow::Result<u8> {
    match cmd {
        DbCommand::Import(a) => run_import(a),
        DbCommand::Info(a) => run_info(a),
    }
}

fn run_import(args: ImportArgs) -> anyhow::Result<u8> {
    let path = db_path(args.db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut db = AdvisoryDb::open(&path)?;
    let sources = discover(&args.paths)?;
    let limits = ImportLimits {
        max_document_bytes: args.max_document_bytes,
        ..ImportLimits::default()
    };
    let bar = progress::bar(sources.len() as u64, "importing");
    let report = import(&mut db, &sources, &limits, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    for f in &report.failures {
        eprintln!("stella: skipped {}: {}", f.location, f.reason);
    }
    match args.output {
        SummaryFormat::Text => println!(
            "{}: {} documents, {} inserted, {} updated, {} unchanged, {} failed",
            path.display(),
            report.documents,
            report.inserted,
            report.updated,
            report.unchanged,
            report.failures.len()
        ),
        SummaryFormat::Json => println!(
            "{}",
            serde_json::json!({
                "db": path.display().to_string(),
                "documents": report.documents,
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "failures": report.failures.iter().map(|f| serde_json::json!({
                    "location": f.location, "reason": f.reason})).collect::<Vec<_>>(),
            })
        ),
    }
    Ok(if report.failures.is_empty() { 0 } else { 2 })
}

fn run_info(args: InfoArgs) -> anyhow::Result<u8> {
    let path = db_path(args.db);
    let db = AdvisoryDb::open_read_only(&path)?;
    let stats = db.stats()?;
    match args.output {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&stats)?),
        SummaryFormat::Text => {
            println!("db:               {}", path.display());
            println!("schema version:   {}", stats.schema_version);
            println!(
                "advisories:       {} ({} withdrawn)",
                stats.advisories, stats.withdrawn
            );
            println!("affected entries: {}", stats.affected_entries);
            println!(
                "last import:      {}",
                stats.last_import.as_deref().unwrap_or("never")
            );
            for (eco, n) in &stats.by_ecosystem {
                println!("  {eco:<24} {n}");
            }
        }
    }
    Ok(0)
}
