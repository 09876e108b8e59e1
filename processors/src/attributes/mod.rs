//! `attributes` processor: edits the attributes of spans (and their events), log records and
//! metric data points with the OpenTelemetry Collector's `attributesprocessor` config — a list
//! of [attribute actions](crate::actions) applied in order, optionally only to the items that
//! an `include` block matches and an `exclude` block does not ([`crate::matching`]).
//!
//! ```yaml
//! processors:
//!   attributes/scrub:
//!     include:
//!       match_type: regexp
//!       services: ["auth.*"]
//!     exclude:
//!       match_type: strict
//!       span_names: [healthz]
//!     actions:
//!       - {key: password, value: obfuscated, action: update}
//!       - {key: token, action: delete}
//!       - {key: user.email, action: hash}
//!       - key: http.url
//!         pattern: ^(?P<url_scheme>[a-z]+)://(?P<server_address>[^/:]+)
//!         action: extract
//! ```
//!
//! Per signal, as in the Collector:
//! - **traces**: the actions apply to the span's attributes and to the attributes of each of
//!   its events; `include`/`exclude` may use `services`, `span_names`, `span_kinds`,
//!   `attributes`, `resources`, `libraries`.
//! - **logs**: the record's attributes; `log_bodies`, `log_severity_texts`,
//!   `log_severity_number`, `attributes`, `resources`, `libraries`.
//! - **metrics**: each data point's attributes; `metric_names`, `resources`.
//!
//! A property that does not apply to the pipeline's signal is refused when the pipeline is
//! built. For each item the match is decided first, on the unmodified item; then the actions
//! run. Nothing is dropped.

mod config;
mod processor;

pub use config::Config;
pub use processor::{AttributesProcessor, Factory};

/// The type name in configs.
pub const TYPE: &str = "attributes";

#[cfg(test)]
mod tests;
