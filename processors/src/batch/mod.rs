//! `batch` processor: groups data into larger requests for the exporters, for all signals.
//!
//! ```yaml
//! processors:
//!   batch:
//!     send_batch_size: 8192      # items (spans, data points, log records) that trigger a send
//!     send_batch_max_size: 0     # upper bound per request; larger batches are split (0 = none)
//!     timeout: 200ms             # send a non-empty batch at the latest after this long
//!     metadata_keys: [x-tenant]  # request headers (include_metadata) that keep batches apart
//!     metadata_cardinality_limit: 1000
//! ```
//!
//! **Where the batching happens.** When every exporter after it has a sending queue (the
//! default), `batch` hands its settings to those queues (`send_batch_size` → the queue batch's
//! `min_size`, `send_batch_max_size` → `max_size`, `timeout` → `flush_timeout`, unless the
//! exporter sets `sending_queue::batch` itself) and forwards each request at once. The sender
//! is answered as soon as its data is in every queue (on disk, synced per `fsync`, for a
//! persistent queue), and the exports have the shape these settings give. A sender that waits
//! for each answer — every OpenTelemetry SDK exports one batch at a time — is never held for a
//! batch to fill; with the Collector's defaults this is the difference between 10,000 and
//! ~500 spans/s for one such sender (BENCHMARKS.md, scenario a).
//!
//! Only when an exporter after it has no queue (`sending_queue: { enabled: false }`, or a
//! fanout to one) does `batch` buffer requests itself, and then, unlike the Collector's, a
//! caller's `consume` does not return as soon as its data is buffered: it completes with the
//! result of the export request(s) that carried its data, so a failed export reaches the
//! receiver, which answers its client with a retryable error instead of losing the data. That
//! answer waits up to `timeout` plus the export; the startup log says so with a warning. On
//! shutdown whatever is buffered is sent.
//!
//! Either way, batches never merge two authenticated identities (`auth.*` of the client
//! context) or requests differing in a `metadata_keys` header, and each leaves with its
//! context (for `headers_setter`): the sending queues keep contexts apart the same way.
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
