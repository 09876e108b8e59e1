//! `debug` exporter: writes what it receives to the log, for all signals.
//!
//! ```yaml
//! exporters:
//!   debug:
//!     verbosity: basic   # basic (default) | normal | detailed
//! ```
//!
//! - `basic`: one line per request with counts, as the Collector prints them
//!   (`resource metrics: 1, metrics: 25, data points: 312`).
//! - `normal`: additionally one line per span (`name trace_id span_id`), per data point
//!   (`name{attr=value,...} value`) and per log record (`severity body`).
//! - `detailed`: additionally the whole request as pretty-printed OTLP/JSON.
//!
//! It never fails, so it never causes a retry upstream.
//!
//! [`logging`] is the Collector's deprecated exporter of that name, run as this one.

mod exporter;
pub mod logging;

pub use exporter::{Config, DebugExporter, Factory, Verbosity};

/// The type name in configs.
pub const TYPE: &str = "debug";
