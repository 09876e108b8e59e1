//! `zipkin` exporter: traces as Zipkin v2 JSON (`POST {endpoint}`, normally
//! `http://zipkin:9411/api/v2/spans`), mapped per the OpenTelemetry specification's Zipkin
//! transformation ([`strata_translators::zipkin`] has the table).
//!
//! ```yaml
//! exporters:
//!   zipkin:
//!     endpoint: http://zipkin.observability.svc:9411/api/v2/spans
//!     format: json                 # the only format (proto is not supported)
//!     default_service_name: unknown_service   # for resources without service.name
//!     compression: none            # none (default) | gzip
//!     headers: { x-tenant: dpu-fleet }
//!     timeout: 5s
//!     tls: { ca_file: /etc/strata/ca.pem }
//!     retry_on_failure: { enabled: true }
//!     sending_queue: { enabled: true }
//! ```
//!
//! Responses: any 2xx (Zipkin answers 202) is success; 429, 502, 503, 504 and connection
//! failures are retried (honouring `Retry-After`); every other status is permanent. Spans
//! whose trace or span id has the wrong length cannot be written in Zipkin's model; they are
//! dropped, logged and reported as rejected (`otelcol_exporter_rejected_spans`).
//!
//! Self-metrics: those of the exporter helper ([`crate::helper`]).

mod config;
mod exporter;

pub use config::Config;
pub use exporter::{Factory, ZipkinExporter};

/// The type name in configs.
pub const TYPE: &str = "zipkin";
