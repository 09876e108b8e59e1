//! `otlp_http` exporter: sends all signals over OTLP/HTTP (`POST {endpoint}/v1/traces`,
//! `/v1/metrics`, `/v1/logs`), binary protobuf or JSON.
//!
//! ```yaml
//! exporters:
//!   otlp_http/backend:
//!     endpoint: https://otlp.example.com:4318   # base URL; /v1/<signal> is appended
//!     traces_endpoint: https://traces.example.com/v1/traces   # optional, used as is
//!     encoding: proto          # proto (default) or json
//!     compression: gzip        # gzip (default), zstd, none
//!     compression_params: { level: 1 }   # gzip 1-9 (default 1), zstd 1-22 (default 3)
//!     headers: { x-api-key: "${env:API_KEY}" }
//!     timeout: 5s
//!     tls: { ca_file: /etc/strata/ca.pem }
//! ```
//!
//! Responses per the OTLP/HTTP spec: 2xx is success (a partial success in the body is logged);
//! 429, 502, 503, 504 and connection failures are retryable (honouring `Retry-After`);
//! every other status is permanent.
//!
//! Self-metrics: `otelcol_exporter_sent_*`, `otelcol_exporter_send_failed_*` (by the graph).

mod config;
mod exporter;

pub use config::{Compression, Config, Encoding};
pub use exporter::{Factory, OtlpHttpExporter};

/// The type name in configs.
pub const TYPE: &str = "otlp_http";
/// The name most Collector configs use for it.
pub const TYPE_ALIAS: &str = "otlphttp";
