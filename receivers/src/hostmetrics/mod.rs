//! `hostmetrics` receiver: the host's CPU, memory, load, disk, file system, network, paging,
//! process and uptime metrics, with exactly the OpenTelemetry Collector hostmetrics receiver's
//! default metric names, units, instruments, temporality and attributes (see [`metadata`]).
//!
//! ```yaml
//! receivers:
//!   hostmetrics:
//!     collection_interval: 10s
//!     initial_delay: 1s
//!     root_path: /hostfs          # the host's / mounted into the container
//!     scrapers:
//!       cpu:
//!       memory:
//!       load: { cpu_average: false }
//!       disk:
//!         exclude: { devices: ["loop.*"], match_type: regexp }
//!       filesystem:
//!         exclude_mount_points: { mount_points: ["/snap/.*"], match_type: regexp }
//!       network:
//!         include: { interfaces: [eth0, ens.*], match_type: regexp }
//!       paging:
//!       processes:
//!       system:
//! ```
//!
//! | scraper | metrics (unit; instrument) | attributes |
//! |---|---|---|
//! | cpu | `system.cpu.time` (s; cumulative monotonic double sum) | `cpu`, `state` |
//! | memory | `system.memory.usage` (By; non-monotonic int sum) | `state` |
//! | load | `system.cpu.load_average.{1m,5m,15m}` ({thread}; double gauge) | — |
//! | disk | `system.disk.io` (By), `.operations`, `.merged` ({operations}); `.io_time`, `.operation_time`, `.weighted_io_time` (s); `.pending_operations` ({operations}, non-monotonic) | `device`[, `direction`] |
//! | filesystem | `system.filesystem.usage` (By), `.inodes.usage` ({inodes}); non-monotonic | `device`, `mode`, `mountpoint`, `type`, `state` |
//! | network | `system.network.io` (By), `.packets`, `.dropped` ({packets}), `.errors` ({errors}); `.connections` ({connections}, non-monotonic) | `device`, `direction`; `protocol`, `state` |
//! | paging | `system.paging.usage` (By, non-monotonic), `.operations` ({operations}), `.faults` ({faults}) | `device`, `state`; `direction`, `type`; `type` |
//! | processes | `system.processes.count` (non-monotonic), `.created` ({processes}) | `status`; — |
//! | system | `system.uptime` (s; double gauge) | — |
//!
//! Cumulative sums start at boot time. Resource: `host.name`, `os.type`. Each scraper is its own
//! instrumentation scope (`strata/receiver/hostmetrics/<scraper>`). A scraper that fails is
//! logged and counted (`otelcol_scraper_errored_metric_points`); the others still report.
//!
//! Self-metrics: `otelcol_receiver_accepted_metric_points`, `otelcol_receiver_refused_metric_points`.

mod config;
pub mod metadata;
mod receiver;
mod scrape;

pub use config::{Config, Filters, MatchSet, MatchType, Matcher, Scrapers};
pub use receiver::{Factory, HostMetricsReceiver};
pub use scrape::HostScraper;

/// The type name in configs.
pub const TYPE: &str = "hostmetrics";
