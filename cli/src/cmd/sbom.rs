//! `stella sbom SOURCE`: build an image's SBOM (CycloneDX 1.6, SPDX 2.3 or a table).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use stella_core::inventory::analyzer;
use stella_core::inventory::builder::{BuildOptions, BuildOutcome, build};
use stella_core::inventory::cache::LayerCache;
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
    /// One line per component: purl, layer.
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
    let options = BuildOptions {
        cache: LayerCache::from_env(),
        ..BuildOptions::default()
    };
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
        SbomOutput::Table => {
            let mut s = String::new();
            for c in &outcome.sbom.components {
                let purl = c.purl.as_ref().map(ToString::to_string).unwrap_or_default();
                let layer = c.layer_digest.as_deref().unwrap_or("-");
                s.push_str(&format!("{purl}\t{layer}\n"));
            }
            s.into_bytes()
        }
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
