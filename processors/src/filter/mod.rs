//! `filter` processor: drops spans, span events, metrics, data points and log records, for all
//! signals, with the OpenTelemetry Collector's config (both its OTTL form and its legacy
//! include/exclude form).
//!
//! ```yaml
//! processors:
//!   filter/ottl:
//!     error_mode: ignore
//!     traces:
//!       span:                       # drop a span (and its events) when any condition holds
//!         - 'attributes["http.route"] == "/healthz"'
//!         - 'kind == SPAN_KIND_INTERNAL and resource.attributes["service.name"] == "noisy"'
//!       spanevent:
//!         - 'IsMatch(name, ".*grpc.*")'
//!     metrics:
//!       metric:                     # drop the whole metric
//!         - 'name == "system.paging.faults"'
//!       datapoint:                  # drop points; a metric left empty is dropped
//!         - 'attributes["state"] == "idle"'
//!     logs:
//!       log_record:
//!         - 'severity_number < SEVERITY_NUMBER_WARN'
//!   filter/legacy:
//!     spans:
//!       exclude:
//!         match_type: regexp
//!         span_names: ["^health.*"]
//!     metrics:
//!       include:                    # keep only these metrics
//!         match_type: strict
//!         metric_names: [system.cpu.time, system.memory.usage]
//!     logs:
//!       exclude:
//!         match_type: strict
//!         severity_texts: [DEBUG]
//! ```
//!
//! The supported OTTL subset (paths, functions, enums) is listed in [`crate::ottl`]; anything
//! else is refused when the config is loaded, with the condition's YAML path. Legacy rules
//! follow [`crate::matching`]; `match_type: expr` is not supported. OTTL and legacy rules
//! cannot be mixed for one signal.
//!
//! What is dropped is reported back to the sender as an OTLP partial success
//! (`rejected_spans` / `rejected_data_points` / `rejected_log_records`, with
//! `"N spans dropped by processor filter/x"`) when `filter` comes before `batch`, and counted in
//! `otelcol_processor_incoming_items` / `otelcol_processor_outgoing_items{processor,
//! otel_signal}`. Span events are not items: dropping them is not a rejection. Resources and
//! scopes left empty are removed.

mod config;
mod processor;

pub use config::{
    Config, ErrorMode, LegacySpans, LogMatch, LogsConfig, MetricMatch, MetricsConfig, TracesConfig,
};
pub use processor::{Factory, Filter};

/// The type name in configs.
pub const TYPE: &str = "filter";

#[cfg(test)]
mod tests;
