//! Scan requests end to end, shared by `POST /scan` (synchronous) and the runners
//! (asynchronous jobs): classify the body (SBOM document or layer manifest), compose
//! an image SBOM from stored layer fragments, scan, and for jobs keep the record.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::engine::{ScanEngine, ScanFailure, ScanTarget};
use crate::metrics::Metrics;
use stella_core::delta::fragment::FragmentLimits;
use stella_core::delta::manifest::{LayerManifest, ManifestLimits};
use stella_core::delta::{ComposeError, LayerStore, load_and_compose};
use stella_core::inventory::analyzer::Analyzer;
use stella_core::queue::Delivery;
use stella_core::queue::runner::{JobError, JobHandler};
use stella_core::report::ScanReport;
use stella_core::sbom::{self, Sbom, SbomFormat};
use stella_core::scan_records::{ScanStatus, ScanStore};

/// The media type of a layer manifest body.
pub const LAYER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.stella.layer-manifest+json";

/// A scan request's body, read and checked (before the quota counts it).
#[derive(Debug, Clone)]
pub enum ScanInput {
    /// A CycloneDX or SPDX document, parsed.
    Document {
        /// Its format.
        format: SbomFormat,
        /// Its contents.
        sbom: Sbom,
    },
    /// An image by its layers, composed from stored fragments.
    Manifest(LayerManifest),
}

/// A scan job as queued: the raw body, so the runner reads exactly what was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    /// Who asked (the token's subject).
    pub subject: String,
    /// Where the scan runs.
    pub target: ScanTarget,
    /// Whether `body` is a layer manifest.
    pub manifest: bool,
    /// The request body.
    pub body: Vec<u8>,
}

/// The queued payload's header: the payload minus its body.
#[derive(Debug, Serialize, Deserialize)]
struct PayloadHeader {
    subject: String,
    target: ScanTarget,
    manifest: bool,
}

impl JobPayload {
    /// The queue encoding: a one-line JSON header, a newline, then the body as sent.
    pub fn encode(&self) -> Vec<u8> {
        let header = PayloadHeader {
            subject: self.subject.clone(),
            target: self.target.clone(),
            manifest: self.manifest,
        };
        // Compact JSON escapes newlines inside strings, so the first b'\n' ends it.
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes [`JobPayload::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let split = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("job payload has no header line")?;
        let header: PayloadHeader = serde_json::from_slice(&bytes[..split])
            .map_err(|e| format!("undecodable job payload header: {e}"))?;
        Ok(Self {
            subject: header.subject,
            target: header.target,
            manifest: header.manifest,
            body: bytes[split + 1..].to_vec(),
        })
    }
}

/// Whether a body is a layer manifest: by media type, or by its `schema` field when
/// sent as plain JSON.
pub fn is_manifest(content_type: Option<&str>, body: &[u8]) -> bool {
    if content_type.is_some_and(|t| t.starts_with(LAYER_MANIFEST_MEDIA_TYPE)) {
        return true;
    }
    // Cheap sniff: our manifests start with their schema; SBOMs never mention it.
    let head = &body[..body.len().min(512)];
    head.windows(stella_core::delta::manifest::SCHEMA.len())
        .any(|w| w == stella_core::delta::manifest::SCHEMA.as_bytes())
}

/// Runs scans for the API and the runners.
#[derive(Debug)]
pub struct ScanService {
    /// Advisory DB, policy, KEV.
    pub scanner: Arc<ScanEngine>,
    /// Stored layer fragments.
    pub layers: Arc<dyn LayerStore>,
    /// Analyzers for composing images from fragments.
    pub analyzers: Arc<Vec<Box<dyn Analyzer>>>,
    /// Limits on fragments.
    pub fragment_limits: FragmentLimits,
}

impl ScanService {
    /// Reads and checks a request body. Errors are the client's (400).
    pub fn read(&self, manifest: bool, body: &[u8]) -> Result<ScanInput, ScanFailure> {
        if manifest {
            let m = LayerManifest::parse(body, &ManifestLimits::default())
                .map_err(|e| ScanFailure::BadInput(format!("invalid layer manifest: {e}")))?;
            return Ok(ScanInput::Manifest(m));
        }
        let (format, sbom) = sbom::read_any(body, &self.scanner.limits)
            .map_err(|e| ScanFailure::BadInput(format!("invalid SBOM: {e}")))?;
        Ok(ScanInput::Document { format, sbom })
    }

    /// Scans a checked input; `progress(kind, message)` hears the steps.
    pub async fn run(
        &self,
        input: ScanInput,
        target: &ScanTarget,
        progress: &(dyn Fn(&str, String) + Send + Sync),
    ) -> Result<ScanReport, ScanFailure> {
        let (format, sbom) = match input {
            ScanInput::Document { format, sbom } => (format, sbom),
            ScanInput::Manifest(manifest) => {
                progress(
                    "compose",
                    format!(
                        "composing {} from {} layer fragments",
                        manifest.image.name,
                        manifest.layers.len()
                    ),
                );
                // load_and_compose moves its CPU work (decoding, analyzers) off the
                // async workers itself.
                let built = load_and_compose(
                    self.layers.as_ref(),
                    &manifest,
                    &self.analyzers,
                    &self.fragment_limits,
                )
                .await
                .map_err(compose_failure)?;
                (SbomFormat::CycloneDx, built.sbom)
            }
        };
        progress(
            "match",
            format!("matching {} components", sbom.components.len()),
        );
        let scanner = self.scanner.clone();
        let target = target.clone();
        tokio::task::spawn_blocking(move || scanner.scan_model(format, sbom, &target, Utc::now()))
            .await
            .map_err(|e| ScanFailure::Unavailable(format!("scan task failed: {e}")))?
    }
}

fn compose_failure(e: ComposeError) -> ScanFailure {
    match e {
        ComposeError::MissingLayers(layers) => ScanFailure::MissingLayers(layers),
        ComposeError::Store(e) => ScanFailure::Unavailable(e.to_string()),
        other => ScanFailure::BadInput(other.to_string()),
    }
}

/// The runners' job handler: runs a queued scan and records its progress and result
/// (the result is stored before the job is acknowledged; a rerun overwrites it).
#[derive(Debug)]
pub struct ScanJobHandler {
    /// Runs the scans.
    pub service: Arc<ScanService>,
    /// Scan records.
    pub records: Arc<dyn ScanStore>,
    /// Counts verdicts and runner outcomes.
    pub metrics: Arc<Metrics>,
    /// Fault injection for crash tests: a pause after a job starts, so a runner can be
    /// killed mid-job (zero in production).
    pub fault_delay: std::time::Duration,
}

#[async_trait]
impl JobHandler for ScanJobHandler {
    async fn handle(&self, delivery: &Delivery) -> Result<(), JobError> {
        let outcome = self.run_job(delivery).await;
        self.metrics.job(if outcome.is_ok() {
            "done"
        } else {
            "failed_attempt"
        });
        outcome
    }

    async fn dead(&self, delivery: &Delivery, error: &str) {
        self.metrics.job("dead");
        self.metrics.scan("error");
        if let Err(e) = self.records.fail(&delivery.job.id, error).await {
            tracing::error!(scan = %delivery.job.id, error = %e, "could not mark the scan failed");
        }
    }
}

impl ScanJobHandler {
    /// One attempt at a job.
    async fn run_job(&self, delivery: &Delivery) -> Result<(), JobError> {
        let id = delivery.job.id.as_str();
        let payload = JobPayload::decode(&delivery.job.payload).map_err(JobError::Fatal)?;
        let store = |e: stella_core::scan_records::ScanStoreError| JobError::Retry(e.to_string());
        self.records
            .set_status(id, ScanStatus::Running)
            .await
            .map_err(store)?;
        self.records
            .push_event(
                id,
                "started",
                &format!("attempt {} on {}", delivery.attempt, delivery.consumer),
                None,
            )
            .await
            .map_err(store)?;
        if !self.fault_delay.is_zero() {
            tokio::time::sleep(self.fault_delay).await;
        }
        let input = match self.service.read(payload.manifest, &payload.body) {
            Ok(input) => input,
            Err(e) => return Err(JobError::Fatal(e.to_string())),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        let progress = move |kind: &str, message: String| {
            let _ = tx.send((kind.to_owned(), message));
        };
        let outcome = self.service.run(input, &payload.target, &progress).await;
        drop(progress);
        while let Some((kind, message)) = rx.recv().await {
            self.records
                .push_event(id, &kind, &message, None)
                .await
                .map_err(store)?;
        }
        match outcome {
            Ok(report) => {
                let verdict = report.verdict.status.as_str().to_owned();
                let value = serde_json::to_value(&report)
                    .map_err(|e| JobError::Fatal(format!("report: {e}")))?;
                self.records.finish(id, value).await.map_err(store)?;
                self.metrics.scan(&verdict);
                Ok(())
            }
            Err(ScanFailure::Unavailable(e)) => {
                self.records
                    .push_event(id, "retry", &e, None)
                    .await
                    .map_err(store)?;
                Err(JobError::Retry(e))
            }
            Err(e) => Err(JobError::Fatal(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_payloads_round_trip_with_any_body() {
        let payload = JobPayload {
            subject: "ci\npipeline".into(),
            target: ScanTarget {
                image: Some("registry.example/app:1".into()),
                image_digest: None,
                namespace: Some("shop".into()),
            },
            manifest: false,
            body: b"{\"a\":\n1}\n\n".to_vec(),
        };
        assert_eq!(JobPayload::decode(&payload.encode()), Ok(payload));
        assert!(JobPayload::decode(b"no header line").is_err());
        assert!(JobPayload::decode(b"{not json}\nbody").is_err());
    }

    #[test]
    fn manifests_are_told_from_sboms() {
        let manifest = br#"{"schema":"stella.layer-manifest/v1","image":{"name":"x"},"selection":"s","layers":[]}"#;
        assert!(is_manifest(None, manifest));
        assert!(is_manifest(Some(LAYER_MANIFEST_MEDIA_TYPE), b"{}"));
        assert!(!is_manifest(
            Some("application/json"),
            br#"{"bomFormat":"CycloneDX"}"#
        ));
    }
}
