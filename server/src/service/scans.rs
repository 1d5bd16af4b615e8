//! Scan requests end to end, shared by `POST /scan` (synchronous, or queued) and the
//! runners (asynchronous jobs): classify the body (SBOM document or layer manifest),
//! reserve the caller's quota, compose an image SBOM from stored layer fragments,
//! scan, and for jobs keep the record. A scan that could not run is refunded.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::blocking;
use super::engine::{ScanEngine, ScanFailure, ScanTarget};
use super::layers::LayerService;
use crate::metrics::Metrics;
use stella_core::delta::manifest::{LayerManifest, ManifestLimits};
use stella_core::delta::{ComposeError, load_and_compose};
use stella_core::queue::runner::{JobError, JobHandler};
use stella_core::queue::{Delivery, Job, JobQueue, submit};
use stella_core::quota::{QuotaStore, seconds_until_reset};
use stella_core::report::ScanReport;
use stella_core::sbom::{self, Sbom, SbomFormat};
use stella_core::scan_records::{ScanStatus, ScanStore};
use stella_core::server_api::{LAYER_MANIFEST_MEDIA_TYPE, QuotaExceeded, ScanAccepted};

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
    /// When the scan was counted against the subject's quota (the day a refund goes
    /// to); absent in jobs queued before refunds existed.
    pub admitted_at: Option<DateTime<Utc>>,
    /// The request body.
    pub body: Vec<u8>,
}

/// The queued payload's header: the payload minus its body.
#[derive(Debug, Serialize, Deserialize)]
struct PayloadHeader {
    subject: String,
    target: ScanTarget,
    manifest: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admitted_at: Option<DateTime<Utc>>,
}

impl JobPayload {
    /// The queue encoding: a one-line JSON header, a newline, then the body as sent.
    pub fn encode(&self) -> Vec<u8> {
        let header = PayloadHeader {
            subject: self.subject.clone(),
            target: self.target.clone(),
            manifest: self.manifest,
            admitted_at: self.admitted_at,
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
            admitted_at: header.admitted_at,
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

/// Who asks for a scan, as their token says.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The token's subject (whose quota counts the scan).
    pub subject: String,
    /// The subject's tier.
    pub tier: String,
    /// Scans allowed per UTC day.
    pub daily_limit: u32,
}

/// A scan request as received.
#[derive(Debug)]
pub struct ScanRequest {
    /// Where the scan runs.
    pub target: ScanTarget,
    /// Queue it and answer at once instead of scanning now.
    pub run_async: bool,
    /// The body's media type, if given.
    pub content_type: Option<String>,
    /// The body: an SBOM or a layer manifest.
    pub body: Vec<u8>,
}

/// What a scan request got.
#[derive(Debug)]
pub enum ScanCreated {
    /// The scan ran now: its report.
    Report(Box<ScanReport>),
    /// The scan was queued.
    Queued(ScanAccepted),
}

/// Runs scans for the API and the runners.
#[derive(Debug)]
pub struct ScanService {
    /// Advisory DB, policy, KEV.
    pub scanner: Arc<ScanEngine>,
    /// Stored layer fragments and the analyzers that compose them.
    pub layers: Arc<LayerService>,
    /// Daily scan counters.
    pub quota: Arc<dyn QuotaStore>,
    /// Scan jobs.
    pub queue: Arc<dyn JobQueue>,
    /// Scan records.
    pub records: Arc<dyn ScanStore>,
    /// Counts verdicts, quota refusals and runner outcomes.
    pub metrics: Arc<Metrics>,
    /// Bounds synchronous scans running at once.
    pub sync_scans: Semaphore,
}

impl ScanService {
    /// A scan request: reads and checks the body (an invalid one is not counted),
    /// reserves one scan of the requester's daily quota, then scans now or queues the
    /// job. A scan that does not run (queueing failed, the scan failed) is refunded;
    /// a queued job that ends without a report is refunded by its runner.
    pub async fn create(
        self: &Arc<Self>,
        who: &Requester,
        request: ScanRequest,
    ) -> Result<ScanCreated, ScanFailure> {
        let ScanRequest {
            target,
            run_async,
            content_type,
            body,
        } = request;
        let manifest = is_manifest(content_type.as_deref(), &body);
        let this = self.clone();
        let (input, body) = blocking(move || (this.read(manifest, &body), body))
            .await
            .map_err(|e| ScanFailure::Unavailable(e.to_string()))?;
        let input = input?;
        let admitted_at = self.reserve(who).await?;
        let outcome = if run_async {
            let payload = JobPayload {
                subject: who.subject.clone(),
                target,
                manifest,
                admitted_at: Some(admitted_at),
                body,
            };
            self.queue_job(payload).await.map(ScanCreated::Queued)
        } else {
            self.run_now(input, &target)
                .await
                .map(|report| ScanCreated::Report(Box::new(report)))
        };
        if outcome.is_err() {
            self.refund(&who.subject, admitted_at).await;
        }
        outcome
    }

    /// Counts one scan for `who`, or refuses when the daily quota is used up. Returns
    /// when it was counted (the server's clock: the day a refund goes to).
    async fn reserve(&self, who: &Requester) -> Result<DateTime<Utc>, ScanFailure> {
        let now = Utc::now();
        let a = self
            .quota
            .admit(&who.subject, who.daily_limit, now)
            .await
            .map_err(|e| ScanFailure::Unavailable(e.to_string()))?;
        if a.admitted {
            return Ok(now);
        }
        self.metrics.quota_rejection();
        let retry = seconds_until_reset(now);
        Err(ScanFailure::QuotaExceeded {
            message: format!(
                "daily scan quota of {} used up for {} (tier {}); it resets at {} (in {retry} s)",
                a.limit,
                who.subject,
                who.tier,
                a.reset_at.to_rfc3339(),
            ),
            details: QuotaExceeded {
                limit: a.limit,
                used: a.used,
                reset_at: a.reset_at,
                retry_after_seconds: retry,
            },
        })
    }

    /// Gives back a reserved scan that did not run. A failure is logged, not
    /// returned: the request's own outcome is what the caller needs to hear.
    pub async fn refund(&self, subject: &str, admitted_at: DateTime<Utc>) {
        if let Err(e) = self.quota.refund(subject, admitted_at).await {
            tracing::warn!(subject, error = %e, "could not refund a scan that did not run");
        }
    }

    /// Queues a scan job and records it.
    async fn queue_job(&self, payload: JobPayload) -> Result<ScanAccepted, ScanFailure> {
        let id = uuid::Uuid::new_v4().to_string();
        let job = Job {
            id: id.clone(),
            payload: payload.encode(),
        };
        submit(
            self.queue.as_ref(),
            self.records.as_ref(),
            &job,
            Some(&payload.subject),
        )
        .await
        .map_err(|e| ScanFailure::Unavailable(e.to_string()))?;
        Ok(ScanAccepted::queued(id))
    }

    /// Scans now, within the bound on synchronous scans.
    async fn run_now(
        &self,
        input: ScanInput,
        target: &ScanTarget,
    ) -> Result<ScanReport, ScanFailure> {
        let _permit = self
            .sync_scans
            .acquire()
            .await
            .map_err(|_| ScanFailure::Unavailable("server shutting down".into()))?;
        match self.run(input, target, &|_, _| {}).await {
            Ok(report) => {
                self.metrics.scan(report.verdict.status.as_str());
                Ok(report)
            }
            Err(e) => {
                self.metrics.scan("error");
                Err(e)
            }
        }
    }

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
                    self.layers.store.as_ref(),
                    &manifest,
                    &self.layers.analyzers,
                    &self.layers.fragment_limits,
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
        blocking(move || scanner.scan_model(format, sbom, &target, Utc::now()))
            .await
            .map_err(|e| ScanFailure::Unavailable(e.to_string()))?
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
    /// Runs the scans (and holds the records, quota and metrics).
    pub service: Arc<ScanService>,
    /// Fault injection for crash tests: a pause after a job starts, so a runner can be
    /// killed mid-job (zero in production).
    pub fault_delay: std::time::Duration,
}

#[async_trait]
impl JobHandler for ScanJobHandler {
    async fn handle(&self, delivery: &Delivery) -> Result<(), JobError> {
        let outcome = self.run_job(delivery).await;
        self.service.metrics.job(if outcome.is_ok() {
            "done"
        } else {
            "failed_attempt"
        });
        outcome
    }

    async fn dead(&self, delivery: &Delivery, error: &str) {
        let service = &self.service;
        service.metrics.job("dead");
        service.metrics.scan("error");
        let id = delivery.job.id.as_str();
        // A job that already ended (done before its ack was lost, or marked failed
        // before a crash) keeps its count: refund only the first ending without a
        // report, so redeliveries never refund twice.
        let ended = matches!(
            service.records.get(id).await,
            Ok(Some(r)) if r.status.is_final()
        );
        if let Err(e) = service.records.fail(id, error).await {
            tracing::error!(scan = %id, error = %e, "could not mark the scan failed");
        }
        if ended {
            return;
        }
        if let Ok(JobPayload {
            subject,
            admitted_at: Some(at),
            ..
        }) = JobPayload::decode(&delivery.job.payload)
        {
            service.refund(&subject, at).await;
        }
    }
}

impl ScanJobHandler {
    /// One attempt at a job.
    async fn run_job(&self, delivery: &Delivery) -> Result<(), JobError> {
        let id = delivery.job.id.as_str();
        let payload = JobPayload::decode(&delivery.job.payload).map_err(JobError::Fatal)?;
        let store = |e: stella_core::scan_records::ScanStoreError| JobError::Retry(e.to_string());
        let records = &self.service.records;
        records
            .set_status(id, ScanStatus::Running)
            .await
            .map_err(store)?;
        records
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
            records
                .push_event(id, &kind, &message, None)
                .await
                .map_err(store)?;
        }
        match outcome {
            Ok(report) => {
                let verdict = report.verdict.status.as_str().to_owned();
                let value = serde_json::to_value(&report)
                    .map_err(|e| JobError::Fatal(format!("report: {e}")))?;
                records.finish(id, value).await.map_err(store)?;
                self.service.metrics.scan(&verdict);
                Ok(())
            }
            Err(ScanFailure::Unavailable(e)) => {
                records
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
            admitted_at: Some(Utc::now()),
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
