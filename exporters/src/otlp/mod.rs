//! `otlp` exporter (alias `otlp_grpc`): sends all signals over OTLP/gRPC to the next tier or a
//! backend (Jaeger accepts OTLP natively).
//!
//! ```yaml
//! exporters:
//!   otlp/upstream:
//!     endpoint: aggregator.observability:4317   # host:port, or http(s)://host:port
//!     tls:
//!       insecure: false        # plaintext only when true (or an http:// endpoint)
//!       ca_file: /etc/strata/ca.pem
//!       cert_file: /etc/strata/client.pem   # mTLS
//!       key_file: /etc/strata/client-key.pem
//!     headers: { authorization: "Bearer ${file:/var/run/secrets/token}" }
//!     compression: gzip        # gzip (default), zstd, none
//!     timeout: 5s              # per request
//! ```
//!
//! Failures are classified per the OTLP spec ([`crate::classify`]) and returned to the caller:
//! UNAVAILABLE (peer down), DEADLINE_EXCEEDED and the other retryable codes become
//! `ConsumeError::Retryable`, so the receiver upstream answers its client UNAVAILABLE / 503.
//! A partial success from the peer is logged with the rejected count. Queueing and retry come
//! with the exporter helper.
//!
//! Self-metrics: `otelcol_exporter_sent_*`, `otelcol_exporter_send_failed_*` (by the graph).

mod config;
mod exporter;

pub use config::{Compression, Config};
pub use exporter::{Factory, OtlpExporter};

/// The type name in configs.
pub const TYPE: &str = "otlp";
/// The alias the Collector also accepts.
pub const TYPE_ALIAS: &str = "otlp_grpc";
