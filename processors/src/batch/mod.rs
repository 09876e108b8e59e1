//! `batch` processor: groups data into larger requests for the exporters, for all signals.
//!
//! ```yaml
//! processors:
//!   batch:
//!     send_batch_size: 8192      # items (spans, data points, log records) that trigger a send
//!     send_batch_max_size: 0     # upper bound per request; larger batches are split (0 = none)
//!     timeout: 200ms             # send a non-empty batch at the latest after this long
//! ```
//!
//! Unlike the OpenTelemetry Collector's batch processor, a caller's `consume` does not return as
//! soon as its data is buffered: it completes with the result of the export request(s) that
//! carried its data. A failed export therefore reaches the receiver, which answers its client
//! with a retryable error instead of losing the data. On shutdown whatever is buffered is sent.
//!
//! Items dropped on purpose *after* the batch (a `filter` placed behind it, a peer's partial
//! success) cannot be attributed to the callers whose data was merged; they are logged at debug
//! level and counted by the dropping component, and the callers are told everything was
//! accepted. Put `filter` before `batch` (the Collector's recommended order) so senders learn
//! what was dropped.
//!
//! When the exporters after it keep requests encoded (`otlp`, `otlp_http` with protobuf), the
//! batch holds the requests as received and sends their concatenation (the request's only field
//! is repeated, so concatenated requests are the merged request); a request is decoded only to
//! split it at `send_batch_max_size`. A pass-through `otlp → batch → otlp` pipeline thus
//! forwards the bytes it received, as one without `batch` does.
//!
//! Self-metrics: the exporters' `otelcol_exporter_sent_*` / `send_failed_*` count the results.

mod config;
mod processor;

pub use config::Config;
pub use processor::{BatchProcessor, Factory};

/// The type name in configs.
pub const TYPE: &str = "batch";
