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
//!     compression_params: { level: 1 }   # gzip 1-9 (default 1), zstd 1-22 (default 3)
//!     timeout: 5s              # per attempt
//!     max_request_size: 4MiB   # larger requests are split (default 4 MiB, gRPC's usual limit)
//!     retry_on_failure: { enabled: true, initial_interval: 5s, max_interval: 30s, max_elapsed_time: 300s }
//!     sending_queue: { enabled: true, num_consumers: 10, queue_size: 1000, storage: file_storage }
//! ```
//!
//! Failures are classified per the OTLP spec ([`crate::classify`]): UNAVAILABLE (peer down),
//! DEADLINE_EXCEEDED and the other retryable codes, `RESOURCE_EXHAUSTED` with `RetryInfo`, and
//! transport errors are retried by the exporter helper ([`crate::helper`]); the rest are dropped
//! and counted. The request is encoded from a shared reference, so retries do not copy it. A
//! partial success from the peer is logged with the rejected count.
//!
//! Self-metrics: the exporter helper's (`otelcol_exporter_sent_*`, `..._send_failed_*`,
//! `..._enqueue_failed_*`, `otelcol_exporter_queue_size`, ...).

mod call;
mod config;
mod connect;
mod exporter;

pub use config::{Compression, CompressionParams, Config};
pub use exporter::{Factory, GrpcExport, OtlpExporter};

/// The type name in configs.
pub const TYPE: &str = "otlp";
/// The alias the Collector also accepts.
pub const TYPE_ALIAS: &str = "otlp_grpc";
