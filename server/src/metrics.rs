//! Prometheus metrics of the server, in the OpenMetrics text format at `/metrics`:
//! request latency per route, scans by verdict, quota rejections, queue depth, layer
//! cache hits and misses (and their ratio), runner outcomes.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request: method, matched route template, status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

/// One label value (verdict status, layer lookup result, runner outcome).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ValueLabel {
    value: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Histogram, fn() -> Histogram>,
    scans: Family<ValueLabel, Counter>,
    quota_rejections: Counter,
    queue_depth: Gauge,
    layer_lookups: Family<ValueLabel, Counter>,
    layer_hit_ratio: Gauge<f64, AtomicU64>,
    jobs: Family<ValueLabel, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("stella");
        let requests = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route and status",
            requests.clone(),
        );
        let scans = Family::<ValueLabel, Counter>::default();
        registry.register(
            "scans",
            "Scans finished, by verdict (pass, warn, fail) or error",
            scans.clone(),
        );
        let quota_rejections = Counter::default();
        registry.register(
            "quota_rejections",
            "Scan requests refused with 429 because the daily quota was used up",
            quota_rejections.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Scan jobs waiting or in progress (read at scrape time)",
            queue_depth.clone(),
        );
        let layer_lookups = Family::<ValueLabel, Counter>::default();
        registry.register(
            "layer_lookups",
            "Layers asked about in /layers/missing: hit (already analysed) or miss",
            layer_lookups.clone(),
        );
        let layer_hit_ratio = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "layer_cache_hit_ratio",
            "Share of layers asked about that were already analysed, since start",
            layer_hit_ratio.clone(),
        );
        let jobs = Family::<ValueLabel, Counter>::default();
        registry.register(
            "runner_jobs",
            "Scan job attempts by outcome in this process's runners (done, failed_attempt, dead)",
            jobs.clone(),
        );
        Self {
            registry,
            requests,
            scans,
            quota_rejections,
            queue_depth,
            layer_lookups,
            layer_hit_ratio,
            jobs,
        }
    }

    /// Counts a finished scan by its verdict status (`pass`, `warn`, `fail`) or `error`.
    pub fn scan(&self, verdict: &str) {
        self.scans
            .get_or_create(&ValueLabel {
                value: verdict.to_owned(),
            })
            .inc();
    }

    /// Counts a request refused by the quota.
    pub fn quota_rejection(&self) {
        self.quota_rejections.inc();
    }

    /// Counts one `/layers/missing` answer.
    pub fn layer_lookup(&self, asked: usize, missing: usize) {
        // Each guard is dropped before the next lookup: the family's lock is not
        // re-entrant when a label is first created.
        let count = |value: &str, by: u64| {
            let counter = self.layer_lookups.get_or_create(&ValueLabel {
                value: value.to_owned(),
            });
            counter.inc_by(by);
            counter.get()
        };
        let h = count("hit", asked.saturating_sub(missing) as u64);
        let m = count("miss", missing as u64);
        if h + m > 0 {
            self.layer_hit_ratio.set(h as f64 / (h + m) as f64);
        }
    }

    /// Counts a runner outcome (`done`, `failed_attempt`, `dead`).
    pub fn job(&self, outcome: &str) {
        self.jobs
            .get_or_create(&ValueLabel {
                value: outcome.to_owned(),
            })
            .inc();
    }

    /// Sets the queue depth gauge.
    pub fn set_queue_depth(&self, depth: u64) {
        self.queue_depth.set(depth.min(i64::MAX as u64) as i64);
    }

    /// Records one answered request under its route template.
    pub fn observe_request(&self, method: String, route: String, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteLabels {
                method,
                route,
                status,
            })
            .observe(seconds);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
