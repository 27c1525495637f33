//! Prometheus metrics: HTTP requests by route and status, connections, and the core's batch sizes
//! and commit latency. Rendered as text at `GET /metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Histogram,
    pub connections_open: Gauge<i64, AtomicI64>,
    pub connections_refused: Counter,
    pub tls_handshake_failures: Counter,
}

pub struct CoreMetrics {
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub commits: Counter,
    pub commands: Counter,
}

impl CoreMetrics {
    pub fn observe_commit(&self, size: usize, took: Duration) {
        self.batch_size.observe(size as f64);
        self.commit_seconds.observe(took.as_secs_f64());
        self.commits.inc();
        self.commands.inc_by(size as u64);
    }
}

pub struct Metrics {
    pub http: HttpMetrics,
    pub core: Arc<CoreMetrics>,
    registry: Registry,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("centralita");
        let http = HttpMetrics {
            requests: Family::default(),
            duration: Histogram::new(exponential_buckets(0.0001, 2.5, 12)),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            tls_handshake_failures: Counter::default(),
        };
        let core = Arc::new(CoreMetrics {
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 14)),
            commits: Counter::default(),
            commands: Counter::default(),
        });
        registry.register("http_requests", "HTTP requests answered, by route and status", http.requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer an HTTP request", http.duration.clone());
        registry.register("http_connections_open", "Connections being served", http.connections_open.clone());
        registry.register(
            "http_connections_refused",
            "Connections closed because http.max_connections were open",
            http.connections_refused.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            http.tls_handshake_failures.clone(),
        );
        registry.register("core_batch_size", "Commands applied per write transaction", core.batch_size.clone());
        registry.register(
            "core_commit_seconds",
            "Time to apply and durably commit one batch",
            core.commit_seconds.clone(),
        );
        registry.register("core_commits", "Durable commits made by the core", core.commits.clone());
        registry.register("core_commands", "Commands committed by the core", core.commands.clone());
        Metrics { http, core, registry }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
