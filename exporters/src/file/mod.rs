//! `file` exporter: appends every request as one line of OTLP/JSON to `path` — the format the
//! OpenTelemetry Collector's file exporter writes (`format: json`), readable by its `otlpjsonfile`
//! receiver.
//!
//! ```yaml
//! exporters:
//!   file:
//!     path: /var/lib/strata/out.jsonl
//!     format: json            # json (default) | proto: 4-byte big-endian length + OTLP protobuf
//!     compression: zstd       # optional: each request compressed, length-prefixed
//!     rotation:               # lumberjack's: rename to out-<UTC time>.jsonl past max_megabytes
//!       max_megabytes: 100
//!       max_backups: 100
//!       max_days: 0
//!     group_by:               # one file per resource attribute value: path holds one `*`
//!       enabled: false
//!       resource_attribute: fileexporter.path_segment
//!       max_open_files: 100
//!     create_directory: false
//!     directory_permissions: "0755"
//!     append: true            # unset: append (Strata); false: truncate at start (the Collector's default)
//! ```
//!
//! The keys are the Collector's (`exporter/fileexporter/config.go`), with its validation rules.
//! Each request is written and flushed before `consume` returns (so `flush_interval` is always
//! met); a write error is returned to the caller as a retryable error (the disk may come back).
//! The signals of one exporter id share its files, as in the Collector.

mod exporter;

pub use exporter::{Config, Factory, FileExporter};

/// The type name in configs.
pub const TYPE: &str = "file";
