//! The exporter helper every exporter is built with (the Collector's `exporterhelper`): a
//! per-attempt `timeout`, `retry_on_failure`, a `sending_queue` in memory or on disk, request
//! splitting at `max_request_size`, and the exporter self-metrics.
//!
//! ```yaml
//! extensions:
//!   file_storage/queue:
//!     directory: /var/lib/strata/queue
//!     fsync: interval            # always | interval | never
//! exporters:
//!   otlp/upstream:
//!     endpoint: aggregator:4317
//!     timeout: 5s                # per attempt
//!     max_request_size: 4MiB     # larger requests are split (gRPC peers refuse > 4 MiB)
//!     retry_on_failure:
//!       enabled: true
//!       initial_interval: 5s     # then x multiplier, jittered by randomization_factor
//!       multiplier: 1.5
//!       randomization_factor: 0.5
//!       max_interval: 30s
//!       max_elapsed_time: 300s   # 0 = retry forever
//!     sending_queue:
//!       enabled: true
//!       num_consumers: 10
//!       queue_size: 1000         # in sizer units
//!       sizer: requests          # requests | items | bytes
//!       block_on_overflow: false # true: the sender waits for room instead of a retryable refusal
//!       storage: file_storage/queue   # persistent; omit for in memory
//!       batch:                   # in-memory queues: merge queued requests per export
//!         flush_timeout: 200ms   # a batch leaves at min_size items or after this
//!         min_size: 8192
//!         max_size: 0            # split bigger batches; 0 = no limit
//! service:
//!   extensions: [file_storage/queue]
//! ```
//!
//! **Acknowledgement.** With a queue, the exporter accepts a request once it is queued (on disk
//! and synced per `fsync` for a persistent queue); the receiver then answers its client. Without
//! a queue, the exporter answers with the export's result. A full queue is a retryable refusal,
//! so the client keeps its data and tries again.
//!
//! **Retries.** Failures are classified per the OTLP specification ([`crate::classify`]):
//! permanent ones (gRPC `INVALID_ARGUMENT`, HTTP 400, ...) are dropped at once, counted in
//! `otelcol_exporter_send_failed_*` and logged; retryable ones wait
//! `interval × (1 ± randomization_factor)`, at least the peer's `Retry-After` or gRPC
//! `RetryInfo` delay, and give up after `max_elapsed_time`.
//!
//! Self-metrics (labels `exporter`, and `data_type` where the name has no item kind):
//!
//! | name | type |
//! |---|---|
//! | `otelcol_exporter_sent_{spans,metric_points,log_records}` | counter |
//! | `otelcol_exporter_send_failed_{...}` | counter: dropped after a permanent error or `max_elapsed_time` |
//! | `otelcol_exporter_enqueue_failed_{...}` | counter: refused because the queue was full or closed |
//! | `otelcol_exporter_send_retries` | counter: attempts that were retried |
//! | `otelcol_exporter_rejected_{...}` | counter: items the peer rejected in an OTLP partial success |
//! | `otelcol_exporter_queue_size`, `otelcol_exporter_queue_capacity` | gauges, in sizer units |
//! | `otelcol_exporter_queue_dropped_{...}` | counter: lost at the shutdown deadline, undecodable on disk |
//! | `otelcol_exporter_queue_recovered_{...}` | counter: found in a persistent queue at start |
//! | `otelcol_exporter_queue_truncated_bytes` | counter: torn or corrupt segment tails cut at start |
//! | `otelcol_exporter_storage_dropped_{...}` | counter: lost to `when_full: drop_oldest` |

mod config;
mod exporter;
mod payload;
mod queue;

pub use config::{HelperConfig, QueueBatch, QueueConfig, RetryConfig, Sizer};
pub use exporter::{Fallback, HelperExporter, RequestSender, split_to_size};
pub use payload::{Payload, Request};
pub use queue::{DiskQueue, MemQueue, Receipt, Refused, Taken, TakenRequest};
pub use strata_pipelines::config::{de_bytes, parse_bytes};

#[cfg(test)]
pub(crate) mod tests;
