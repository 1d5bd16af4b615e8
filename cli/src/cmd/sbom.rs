//! `stella sbom SOURCE`: build an image's SBOM (CycloneDX 1.6, SPDX 2.3 or a table).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use stella_core::inventory::analyzer;
use stella_core::inventory::builder::{BuildOutcome, build};
use stella_core::inventory::source;
use stella_core::sbom::SbomFormat;

use super::image::ImageArgs;
use crate::progress;

/// SBOM output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomOutput {
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
    /// One row per component: name, version, type, layer, evidence file, owner.
    Table,
}

/// Arguments of `stella sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// Image: `oci-dir:PATH[:TAG]`, `docker-archive:FILE`, `dir:PATH`, or a registry
    /// reference (`[registry:]REGISTRY/REPO[:TAG][@sha256:…]`, `alpine` = Docker Hub).
    source: String,
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = SbomOutput::Cyclonedx)]
    output: SbomOutput,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
}

/// Open an image source and build its SBOM, with a progress bar on a TTY.
pub fn build_from_source(spec: &str, args: &ImageArgs) -> anyhow::Result<BuildOutcome> {
    let options = args.open_options()?;
    let image =
        source::open_with(spec, &options).with_context(|| format!("opening image {spec}"))?;
    let analyzers = analyzer::all();
    let bar = progress::bar(image.layers().len() as u64, "reading layers");
    let options = args.build_options();
    let outcome = build(image.as_ref(), &analyzers, &options, |done, _| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("reading image {spec}"))?;
    bar.finish_and_clear();
    for e in &outcome.errors {
        tracing::warn!("{e}");
    }
    Ok(outcome)
}

/// Run `stella sbom`; returns the process exit code.
pub fn run(args: SbomArgs) -> anyhow::Result<u8> {
    let outcome = build_from_source(&args.source, &args.image)?;
    let mut bytes = match args.output {
        SbomOutput::Cyclonedx => SbomFormat::CycloneDx.write(&outcome.sbom),
        SbomOutput::Spdx => SbomFormat::Spdx.write(&outcome.sbom),
        SbomOutput::Table => table(&outcome).into_bytes(),
    };
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    match &args.output_file {
        Some(p) => std::fs::write(p, &bytes).with_context(|| format!("writing {}", p.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e).context("writing the SBOM");
            }
        }
    }
    Ok(0)
}

/// The human view: one aligned row per component, then where the layers came from.
fn table(outcome: &BuildOutcome) -> String {
    let short = |digest: &str| -> String {
        match digest.split_once(':') {
            Some((algo, hex)) => format!("{algo}:{}", hex.get(..12).unwrap_or(hex)),
            None => digest.to_string(),
        }
    };
    let mut rows = vec![[
        "NAME".to_string(),
        "VERSION".to_string(),
        "TYPE".to_string(),
        "LAYER".to_string(),
        "EVIDENCE".to_string(),
        "OWNED BY".to_string(),
    ]];
    for c in &outcome.sbom.components {
        let evidence = match c.files.as_slice() {
            [] => "-".to_string(),
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} (+{})", rest.len()),
        };
        rows.push([
            c.name.clone(),
            c.version.clone().unwrap_or_default(),
            c.purl.as_ref().map(|p| p.ty.clone()).unwrap_or_default(),
            c.layer_digest.as_deref().map_or("-".to_string(), short),
            evidence,
            c.owned_by.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let cached = outcome.layers.iter().filter(|l| l.from_cache).count();
    out.push_str(&format!(
        "\n{} components from {} layers ({} read from the layer cache)",
        outcome.sbom.components.len(),
        outcome.layers.len(),
        cached
    ));
    if let Some(os) = &outcome.os {
        out.push_str(&format!(
            "; OS {}",
            os.pretty_name.clone().unwrap_or_else(|| os.id.clone())
        ));
    }
    out.push('\n');
    out
}
