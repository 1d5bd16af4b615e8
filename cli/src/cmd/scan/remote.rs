//! `stella scan --server URL`: the scan runs on a stella-server. An SBOM is
//! posted as is; an image goes through the delta protocol (only the layers the
//! server has never analysed are read and uploaded). Both are queued, their progress
//! followed, and the report fetched and rendered like a local one.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use stella_core::delta::client::{fragments_for, manifest_of};
use stella_core::delta::selection_id;
use stella_core::inventory::analyzer;
use stella_core::inventory::source::{self, ImageSource};
use stella_core::report::{self, ScanReport};
use stella_core::server_api::{
    FRAGMENT_MEDIA_TYPE, LAYER_MANIFEST_MEDIA_TYPE, LayersQuery, MissingLayers, NDJSON_MEDIA_TYPE,
    ScanAccepted, ScanEvent, ScanParams, ScanView,
};

use super::policy_args::PolicyArgs;
use crate::cmd::image::ImageArgs;
use crate::progress;
use crate::server_client::{ErrorAnswer, ExitError, Remote, answer_error, read_json, status_error};

/// How long to wait for a queued scan whose event stream ended early.
const POLL_LIMIT: Duration = Duration::from_secs(600);

/// What the delta protocol did with an image's layers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerCounts {
    /// Distinct layers in the image.
    pub total: usize,
    /// Layers read and uploaded.
    pub uploaded: usize,
    /// Layers the server already had.
    pub known: usize,
}

/// Fails when a flag of a local scan that the server does not take is given: the
/// server's own policy decides.
pub fn reject_local_policy_flags(policy: &PolicyArgs) -> anyhow::Result<()> {
    let given: Vec<&str> = [
        ("--policy", policy.policy.is_some()),
        ("--fail-on", policy.fail_on.is_some()),
        ("--ignore-unfixed", policy.ignore_unfixed),
        ("--ignore-file", policy.ignore_file.is_some()),
        ("--vex", !policy.vex.is_empty()),
        ("--namespace-label", !policy.namespace_label.is_empty()),
        ("--label", !policy.label.is_empty()),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(anyhow::Error::new(ExitError {
        code: crate::EXIT_USAGE_OR_INPUT,
        message: format!(
            "{} cannot be used with --server: the server's policy decides \
             (manage it with the server's /api/v1/policy)",
            given.join(", ")
        ),
    }))
}

/// The `POST /scan` query: async, plus the policy context the flags give.
fn scan_query(policy: &PolicyArgs) -> ScanParams {
    ScanParams {
        run_async: true,
        image: policy.image_ref.clone(),
        image_digest: policy.image_digest.clone(),
        namespace: policy.namespace.clone(),
    }
}

/// Scans an SBOM on the server.
pub fn scan_sbom(
    remote: &Remote,
    sbom: Vec<u8>,
    policy: &PolicyArgs,
) -> anyhow::Result<ScanReport> {
    let request = remote
        .post("/api/v1/scan")?
        .query(&scan_query(policy))
        .header(CONTENT_TYPE, "application/json")
        .body(sbom);
    let response = remote.send(request, "scan")?;
    let id = accepted_id(response)?;
    follow(remote, &id)
}

/// Scans an image on the server by the delta protocol; also says how many layers
/// were uploaded.
pub fn scan_image(
    remote: &Remote,
    spec: &str,
    image_args: &ImageArgs,
    policy: &PolicyArgs,
) -> anyhow::Result<(ScanReport, LayerCounts)> {
    let options = image_args.open_options()?;
    let image =
        source::open_with(spec, &options).with_context(|| format!("opening image {spec}"))?;
    let analyzers = analyzer::all();
    let manifest = manifest_of(image.as_ref(), &selection_id(&analyzers))
        .with_context(|| format!("describing image {spec}"))?;
    let layers = manifest.unique_layers();
    let missing = missing_layers(remote, &layers)?;
    let mut counts = LayerCounts {
        total: layers.len(),
        uploaded: 0,
        known: layers.len().saturating_sub(missing.len()),
    };
    counts.uploaded += upload(remote, image.as_ref(), image_args, &analyzers, &missing)?;
    let body = manifest.to_json();
    let post = || -> anyhow::Result<_> {
        let request = remote
            .post("/api/v1/scan")?
            .query(&scan_query(policy))
            .header(CONTENT_TYPE, LAYER_MANIFEST_MEDIA_TYPE)
            .body(body.clone());
        remote.send(request, "scan")
    };
    let mut response = post()?;
    if response.status() == StatusCode::CONFLICT {
        // Another client's fragments can expire between our check and the scan: upload
        // what the server names and try once more.
        let answer = ErrorAnswer::read(response);
        let again = named_missing(&answer)?;
        tracing::info!(
            layers = again.len(),
            "the server lost layers since the check; uploading them again"
        );
        let uploaded = upload(remote, image.as_ref(), image_args, &analyzers, &again)?;
        counts.uploaded += uploaded;
        counts.known = counts.known.saturating_sub(uploaded);
        response = post()?;
    }
    let id = accepted_id(response)?;
    let report = follow(remote, &id)?;
    Ok((report, counts))
}

/// `POST /layers/missing`: the layers of `layers` the server has no analysis of.
fn missing_layers(remote: &Remote, layers: &[String]) -> anyhow::Result<BTreeSet<String>> {
    let request = remote.post("/api/v1/layers/missing")?.json(&LayersQuery {
        layers: layers.to_vec(),
    });
    let answer: MissingLayers = remote.json(request, "layer lookup")?;
    let known: BTreeSet<&str> = layers.iter().map(String::as_str).collect();
    let mut set = BTreeSet::new();
    for d in answer.missing {
        // Only layers of this image can be uploaded; anything else is a server bug.
        if !known.contains(d.as_str()) {
            anyhow::bail!("layer lookup: the server named layer {d}, which is not in the image");
        }
        set.insert(d);
    }
    Ok(set)
}

/// The layers a 409 `layers_missing` answer names.
fn named_missing(answer: &ErrorAnswer) -> anyhow::Result<BTreeSet<String>> {
    if answer.code != "layers_missing" {
        return Err(answer_error("scan", answer).into());
    }
    let named = answer
        .details_as::<MissingLayers>()
        .context("scan: the 409 answer lists no missing layers")?;
    Ok(named.missing.into_iter().collect())
}

/// Reads the `missing` layers into fragments and PUTs each; returns how many.
fn upload(
    remote: &Remote,
    image: &dyn ImageSource,
    image_args: &ImageArgs,
    analyzers: &[Box<dyn stella_core::inventory::analyzer::Analyzer>],
    missing: &BTreeSet<String>,
) -> anyhow::Result<usize> {
    if missing.is_empty() {
        return Ok(0);
    }
    let bar = progress::bar(missing.len() as u64, "reading layers");
    let fragments = fragments_for(
        image,
        analyzers,
        &image_args.build_options(),
        missing,
        |done, _| bar.set_position(done as u64),
    )
    .context("reading the layers to upload")?;
    bar.finish_and_clear();
    let bar = progress::bar(fragments.len() as u64, "uploading layers");
    for (digest, fragment) in &fragments {
        let request = remote
            .put(&format!("/api/v1/layers/{digest}"))?
            .header(CONTENT_TYPE, FRAGMENT_MEDIA_TYPE)
            .body(fragment.clone());
        remote.send_ok(request, &format!("uploading layer {digest}"))?;
        tracing::debug!(layer = %digest, bytes = fragment.len(), "layer uploaded");
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(fragments.len())
}

/// The scan id of a 202 answer (any other status is an error).
fn accepted_id(response: reqwest::blocking::Response) -> anyhow::Result<String> {
    if response.status() != StatusCode::ACCEPTED {
        if response.status().is_success() {
            anyhow::bail!(
                "scan: expected 202 Accepted, the server answered {}",
                response.status()
            );
        }
        return Err(status_error("scan", response).into());
    }
    let accepted: ScanAccepted = read_json(response, "scan")?;
    Ok(accepted.id)
}

/// Follows the scan's events to its end (a spinner on a TTY), then fetches its report.
fn follow(remote: &Remote, id: &str) -> anyhow::Result<ScanReport> {
    tracing::info!(scan = %id, server = %remote.base(), "scan queued");
    let spinner = progress::message_spinner("scan queued");
    let request = remote
        .get(&format!("/api/v1/scan/{id}/events"))?
        .header(ACCEPT, NDJSON_MEDIA_TYPE);
    // The stream is only progress: if it breaks, the record below still says how it ended.
    match remote.send_ok(request, "scan events") {
        Ok(response) => {
            for line in BufReader::new(response).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<ScanEvent>(&line) else {
                    continue;
                };
                let (kind, message) = (event.kind.as_str(), event.message.as_str());
                tracing::debug!(scan = %id, kind, message, "scan event");
                spinner.set_message(format!("{kind}: {message}"));
                if kind == "done" || kind == "failed" {
                    break;
                }
            }
        }
        Err(e) => tracing::warn!("{e:#}"),
    }
    let started = Instant::now();
    let record = loop {
        let record: ScanView =
            remote.json(remote.get(&format!("/api/v1/scan/{id}"))?, "scan result")?;
        if record.status == "done" || record.status == "failed" {
            break record;
        }
        if started.elapsed() > POLL_LIMIT {
            anyhow::bail!("scan {id} is still {} after {POLL_LIMIT:?}", record.status);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    spinner.finish_and_clear();
    if record.status == "failed" {
        let why = record.error.as_deref().unwrap_or("no reason given");
        anyhow::bail!("scan {id} failed on the server: {why}");
    }
    let value = record
        .report
        .with_context(|| format!("scan {id} is done but has no report"))?;
    report::from_json(value).with_context(|| format!("scan {id}: reading the server's report"))
}
