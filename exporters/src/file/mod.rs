//! `file` exporter: appends every request as one line of OTLP/JSON to `path` — the format the
//! OpenTelemetry Collector's file exporter writes (`format: json`), readable by its `otlpjsonfile`
//! receiver.
//!
//! ```yaml
//! exporters:
//!   file:
//!     path: /var/lib/strata/out.jsonl
//! ```
//!
//! Each line is flushed before `consume` returns; a write error is returned to the caller as a
//! retryable error (the disk may come back).

mod exporter;

pub use exporter::{Config, Factory, FileExporter};

/// The type name in configs.
pub const TYPE: &str = "file";
