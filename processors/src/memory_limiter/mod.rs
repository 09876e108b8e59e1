//! `memory_limiter` processor: bounds the memory telemetry can take in the process and refuses
//! new data — with a retryable error, which OTLP receivers answer as gRPC `UNAVAILABLE` / HTTP
//! 503 so that senders back off and retry — before the process runs out of memory. Put it
//! first in every pipeline, as in the OpenTelemetry Collector.
//!
//! ```yaml
//! processors:
//!   memory_limiter:
//!     check_interval: 1s
//!     limit_mib: 256          # or limit_percentage: 25 (of the cgroup limit or machine memory)
//!     spike_limit_mib: 64     # or spike_limit_percentage; default 20 % of the limit
//! ```
//!
//! The soft limit is the hard limit minus the spike limit. Two guards use it:
//!
//! 1. **The byte budget** (by construction). Each request admitted reserves the heap bytes it
//!    holds decoded ([`strata_pipelines::heap`]: every vector and string of the OTLP structs,
//!    2.5–8 times the protobuf encoding) in the process-wide [`strata_pipelines::memory`]
//!    budget until the rest of the pipeline — processors, `batch`, exporters — is done with it.
//!    A request that would take the bytes in flight, in all pipelines together, above the soft
//!    limit is refused before anything holds it. Copies made on the way (an exporter's encoded
//!    request, a receiver's raw body) are not in the budget; the spike limit and the second
//!    guard cover them.
//!    Once the bytes in flight pass 90 % of the soft limit, or a request is refused, the
//!    budget is marked *under pressure* and the OTLP receivers refuse every new request before
//!    reading its body (`otelcol_receiver_refused_requests{reason="memory_limit"}`), until the
//!    next check finds room again.
//! 2. **The resident set**, read every `check_interval` from `/proc/self/status`: above the
//!    soft limit all data is refused until a reading is back under it. Each transition is
//!    logged at warn / info.
//!
//! The budget and its pressure flag are one per process. Limiters in several pipelines share
//! them, each comparing the shared total with its own soft limit, so give every pipeline's
//! limiter the same limits: with different ones, the lower limit decides for all.
//!
//! Refused items are counted in `otelcol_processor_refused_{spans,metric_points,log_records}
//! {processor}` and by the receiver as refused. Nothing admitted is dropped: the limiter only
//! refuses at the door.

mod config;
mod processor;

pub use config::{Config, Limits};
pub use processor::{Factory, MemoryLimiter};

/// The type name in configs.
pub const TYPE: &str = "memory_limiter";

#[cfg(test)]
mod tests;
