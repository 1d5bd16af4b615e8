//! `stella scan --sbom FILE`: match an SBOM against the advisory DB (or have a
//! stella-server do it, `--server`), render the report, and exit with the
//! verdict's code.

pub mod policy_args;
pub mod remote;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use stella_core::advisory_db::AdvisoryDb;
use stella_core::pipeline::{scan_sbom, scan_sbom_bytes};
use stella_core::report::{self, DatabaseInfo, ScanReport, ToolInfo};
use stella_core::sbom::Limits;
use stella_core::sbom::SbomFormat;

use super::image::ImageArgs;
use crate::paths::db_path;
use crate::server_client::ServerArgs;
use policy_args::{PolicyArgs, read_limited};

/// Report formats of `stella scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human table sorted by severity, with a summary line.
    Table,
    /// The JSON report (docs/json-output.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// When to colour the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `stella scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Image to scan: `oci-dir:PATH[:TAG]`, `docker-archive:FILE`, `dir:PATH` or a
    /// registry reference (its SBOM is built first, as `stella sbom` does).
    #[arg(required_unless_present = "sbom", conflicts_with = "sbom")]
    source: Option<String>,
    /// SBOM to scan instead of an image: CycloneDX 1.4–1.6 JSON or SPDX 2.3 JSON
    /// (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    sbom: Option<PathBuf>,
    #[command(flatten)]
    image: ImageArgs,
    /// Advisory DB built by `stella db import`.
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    /// Report format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    server: ServerArgs,
    /// Colour in the table.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Largest accepted SBOM, in bytes.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_sbom_bytes: usize,
    /// Most components accepted in one SBOM.
    #[arg(long, default_value_t = Limits::default().max_components)]
    max_components: usize,
}

/// Run the scan; returns the process exit code.
pub fn run(args: ScanArgs) -> anyhow::Result<u8> {
    let limits = Limits {
        max_bytes: args.max_sbom_bytes,
        max_components: args.max_components,
        ..Limits::default()
    };
    let report = if args.server.is_set() {
        server_report(&args, limits)?
    } else {
        scan_report(
            args.sbom.as_ref(),
            args.source.as_deref(),
            &args.image,
            args.db.clone(),
            &args.policy,
            limits,
        )?
    };
    let code = report.verdict.exit_code();
    let mut text = match args.output {
        OutputFormat::Json => report::to_json(&report),
        OutputFormat::Sarif => report::sarif::to_sarif(&report),
        OutputFormat::Table => {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    args.output_file.is_none()
                        && std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none()
                }
            };
            report::table::render(&report, table_width(args.output_file.is_some()), color)
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.output_file {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`stella scan ... | head`) is not an error worth a stack of text.
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e).context("writing the report");
            }
        }
    }
    let skipped = report.coverage.distro_without_release;
    if skipped > 0 {
        tracing::warn!(
            components = skipped,
            "OS packages without a distro release in their purl were not matched"
        );
    }
    Ok(code as u8)
}

/// Has the server scan the SBOM or image: the same report as a local scan, decided by
/// the server's policy and advisory DB.
fn server_report(args: &ScanArgs, limits: Limits) -> anyhow::Result<ScanReport> {
    remote::reject_local_policy_flags(&args.policy)?;
    let remote = args.server.connect()?;
    match (&args.sbom, args.source.as_deref()) {
        (Some(path), _) => {
            let bytes = read_input(path, limits.max_bytes)?;
            remote::scan_sbom(&remote, bytes, &args.policy)
                .with_context(|| format!("scanning {} on {}", path.display(), remote.base()))
        }
        (None, Some(spec)) => {
            let (report, counts) = remote::scan_image(&remote, spec, &args.image, &args.policy)
                .with_context(|| format!("scanning {spec} on {}", remote.base()))?;
            tracing::info!(
                layers = counts.total,
                uploaded = counts.uploaded,
                known = counts.known,
                "delta scan"
            );
            eprintln!(
                "stella: {} layers: {} uploaded, {} already known to the server",
                counts.total, counts.uploaded, counts.known
            );
            Ok(report)
        }
        (None, None) => anyhow::bail!("give an image SOURCE or --sbom FILE"),
    }
}

/// Scans an SBOM file or an image source under the policy flags and assembles the report.
pub fn scan_report(
    sbom: Option<&PathBuf>,
    source: Option<&str>,
    image: &ImageArgs,
    db: Option<PathBuf>,
    policy: &PolicyArgs,
    limits: Limits,
) -> anyhow::Result<ScanReport> {
    let mut options = policy.scan_options()?;
    options.sbom_limits = limits;
    let db_file = db_path(db);
    let db = AdvisoryDb::open_read_only(&db_file)?;
    let now = chrono::Utc::now();
    let (outcome, sbom_path) = match (sbom, source) {
        (Some(path), _) => {
            let bytes = read_input(path, limits.max_bytes)?;
            let outcome = scan_sbom_bytes(&bytes, &db, &options, now)
                .with_context(|| format!("scanning {}", path.display()))?;
            (outcome, Some(path.display().to_string()))
        }
        (None, Some(spec)) => {
            let built = super::sbom::build_from_source(spec, image)?;
            let outcome = scan_sbom(SbomFormat::CycloneDx, built.sbom, &db, &options, now)
                .with_context(|| format!("scanning {spec}"))?;
            (outcome, None)
        }
        (None, None) => anyhow::bail!("give an image SOURCE or --sbom FILE"),
    };
    let stats = db.stats()?;
    Ok(ScanReport::of_outcome(
        ToolInfo {
            name: "stella".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        outcome,
        sbom_path,
        DatabaseInfo::of(Some(db_file.display().to_string()), &stats),
    ))
}

/// Terminal width for the table; 160 columns when not writing to a terminal.
fn table_width(to_file: bool) -> usize {
    let term = console::Term::stdout();
    match term.size_checked() {
        Some((_, cols)) if !to_file && term.is_term() => cols as usize,
        _ => 160,
    }
}

fn read_input(path: &PathBuf, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    if path.as_os_str() != "-" {
        return read_limited(path, max)
            .with_context(|| format!("SBOM {} (--max-sbom-bytes)", path.display()));
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > max {
        anyhow::bail!("SBOM on stdin is larger than the {max}-byte limit (--max-sbom-bytes)");
    }
    Ok(bytes)
}
