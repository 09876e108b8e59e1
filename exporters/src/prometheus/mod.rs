//! `prometheus` exporter: a pull endpoint serving the metrics it receives in the Prometheus
//! text exposition format 0.0.4, or OpenMetrics 1.0 when `enable_open_metrics` is on and the
//! scraper asks for it (`Accept: application/openmetrics-text`).
//!
//! ```yaml
//! exporters:
//!   prometheus:
//!     endpoint: 0.0.0.0:8889        # GET /metrics
//!     namespace: dpu                # prefix: dpu_system_cpu_time_seconds_total
//!     const_labels: { fleet: east } # on every series (never overriding a data point's own)
//!     send_timestamps: false        # write each point's timestamp (ms)
//!     metric_expiration: 5m         # series not updated for this long disappear
//!     enable_open_metrics: false
//!     resource_to_telemetry_conversion:
//!       enabled: false              # true: every resource attribute is a label too
//! ```
//!
//! Names follow the OTel specification's Prometheus compatibility rules
//! ([`strata_translators::prometheus`]): unit suffixes, `_total` on monotonic sums, `_ratio`
//! for unit-`1` gauges, attribute keys sanitised into labels. Resource attributes:
//! `service.namespace`/`service.name` become the `job` label and `service.instance.id` the
//! `instance` label of every series; the others are the labels of one `target_info` gauge per
//! resource (value 1). The scope gives `otel_scope_name` and `otel_scope_version`.
//!
//! Temporality: the endpoint serves cumulative values. Cumulative points replace the series'
//! value (an older point never overwrites a newer one); delta sums and delta histograms (with
//! the same bucket bounds) are added up. Monotonic sums are `counter`s, other sums and gauges
//! `gauge`s, explicit-bucket histograms `histogram`s (`_bucket{le}`, `_sum`, `_count`),
//! summaries `summary`s. Exponential histograms, points flagged "no recorded value" and
//! points whose name clashes with a family of another type are dropped, logged and reported
//! as rejected (`otelcol_exporter_rejected_metric_points`).
//!
//! Self-metrics: those of the exporter helper ([`crate::helper`]).

mod accumulator;
mod config;
mod exporter;
mod render;

pub use accumulator::Accumulator;
pub use config::Config;
pub use exporter::{Factory, PrometheusExporter};
pub use render::Format;

/// The type name in configs.
pub const TYPE: &str = "prometheus";

#[cfg(test)]
mod tests;
