//! `spdk` receiver: storage telemetry from an SPDK application (`spdk_tgt`, `nvmf_tgt`) over
//! its JSON-RPC interface — the unix socket, TCP, or `scripts/rpc_http_proxy.py`.
//!
//! ```yaml
//! receivers:
//!   spdk:
//!     endpoint: unix:///var/tmp/spdk.sock   # or 10.0.0.5:5260, or https://dpu:8000 (the proxy)
//!     # username: ${env:SPDK_RPC_USER}      # basic auth, proxy only
//!     # password: ${file:/run/secrets/spdk}
//!     # tls: { ca_file: /etc/strata/spdk-ca.pem }   # https proxy; or insecure_skip_verify: true
//!     collection_interval: 10s
//!     timeout: 5s                          # per call
//!     optional: false                      # true: a missing socket is not an error (profiles)
//!     scrapers:                            # every method is on by default
//!       bdev_get_iostat: { enabled: true, per_channel: [Nvme0n1] }
//!       bdev_get_bdevs: { enabled: true }
//!       nvmf_get_stats: { enabled: true }
//!       nvmf_get_subsystems: { enabled: true }
//!       thread_get_stats: { enabled: true }
//!       framework_get_reactors: { enabled: true }
//!       accel_get_stats: { enabled: true }
//!       iobuf_get_stats: { enabled: true }
//!       bdev_nvme_get_controllers: { enabled: true }
//!     histograms:                          # spdk.bdev.io.latency; off by default
//!       enabled: true
//!       bdevs: [Nvme0n1]                   # default: every bdev of bdev_get_bdevs
//!       io_type: all                       # or read, write, unmap, ... (the histogram's opc)
//!       enable: true                       # call bdev_enable_histogram (default true)
//!       bounds: [0.00001, 0.0001, 0.001]   # seconds; default one bucket per 2^n range
//! ```
//!
//! **Latency histograms** (`histograms: {enabled: true}`): per bdev and interval, one
//! `bdev_get_histogram` call, decoded exactly ([`histogram`]) into the cumulative
//! explicit-bucket histogram `spdk.bdev.io.latency` (seconds). Its bounds are SPDK's own
//! bucket edges, `(hi − 1) ÷ tsc_rate`, merged to one bucket per power-of-two range, or to the
//! configured `bounds` snapped up to the nearest edge, so every count is exact; `count` is the
//! sum of the buckets; `sum` is estimated from bucket midpoints (SPDK keeps none; relative
//! error ≤ 2^−(g+1), 0.4 % at the default granularity). With `enable: true` the receiver calls
//! `bdev_enable_histogram` (with `opc` unless `io_type: all`) for each bdev the first time it
//! sees it. SPDK's pitfalls are each warned about once per bdev and counted
//! (`strata_receiver_spdk_call_errors{method="bdev_get_histogram",cause}`,
//! `strata_receiver_spdk_histogram_enables{reason}`):
//! - `-12` (`Cannot allocate memory`): the histogram is not enabled — after an SPDK restart, or
//!   disabled by someone. With `enable: true` it is enabled again (`reason="lost"`), else the
//!   warning says how.
//! - `-19` (`No such device`): the bdev does not exist; asked for again each interval.
//! - A channel created after `bdev_enable_histogram` is silently left out by SPDK: when
//!   `bdev_get_iostat` counted I/O over an interval and the histogram grew by less than half of
//!   it, the histogram is disabled and enabled again (`reason="stale"`), which starts a new
//!   series.
//! - Any bucket that decreases (re-enable, restart, a destroyed channel) or a change of
//!   granularity/ranges starts a new series with a new `start_time_unix_nano`.
//!
//! Each interval makes one call per enabled method (plus one per `per_channel` bdev) on one
//! persistent connection, after `spdk_get_version`, whose `version` becomes the resource
//! attribute `spdk.version` (with `spdk.rpc.endpoint`). Latencies and busy/idle times come in
//! CPU ticks and are divided by the response's `tick_rate`: every `s` metric is in seconds.
//!
//! Resilience: a method the target does not know (`-32601`, an older or newer SPDK) disables
//! its scraper with one warning; the others go on. A missing socket, a refused connection, a
//! timeout, a connection closed mid-response, garbage, or a JSON-RPC error is logged with the
//! method, the endpoint and the cause, counted in `otelcol_scraper_errored_metric_points` and
//! `strata_receiver_spdk_call_errors{receiver,method,cause}` (`rpc_error`, `timeout`,
//! `transport`, `unreachable`, `invalid_response`), and the next interval tries again on a fresh
//! connection. When the target cannot be reached at all (no socket, connection refused, HTTP
//! 401/403 from the proxy) the scrape stops after the first call with one error.
//!
//! No semantic convention covers SPDK; the names follow the OTel naming guidelines
//! (`spdk.*`, UCUM units, cumulative monotonic sums for counters, gauges for levels):
//!
//! | metric | unit | type | attributes | SPDK source |
//! |---|---|---|---|---|
//! | `spdk.bdev.io.bytes` | `By` | counter (int) | `spdk.bdev.name`, `direction` | bdev_get_iostat: bytes_read, bytes_written, bytes_unmapped, bytes_copied |
//! | `spdk.bdev.io.operations` | `{operation}` | counter (int) | `spdk.bdev.name`, `direction` | bdev_get_iostat: num_read_ops, num_write_ops, num_unmap_ops, num_copy_ops |
//! | `spdk.bdev.io.time` | `s` | counter (double) | `spdk.bdev.name`, `direction` | bdev_get_iostat: read/write/unmap/copy_latency_ticks ÷ tick_rate |
//! | `spdk.bdev.io.latency.max` | `s` | gauge (double) | `spdk.bdev.name`, `direction` | bdev_get_iostat: max_*_latency_ticks ÷ tick_rate |
//! | `spdk.bdev.io.latency.min` | `s` | gauge (double) | `spdk.bdev.name`, `direction` | bdev_get_iostat: min_*_latency_ticks ÷ tick_rate |
//! | `spdk.bdev.io.errors` | `{error}` | counter (int) | `spdk.bdev.name`, `error.type` | bdev_get_iostat: io_error (one point per status SPDK lists) |
//! | `spdk.bdev.queue_depth` | `{operation}` | gauge (int) | `spdk.bdev.name` | bdev_get_iostat: queue_depth (only with bdev_set_qd_sampling_period) |
//! | `spdk.bdev.io_time` | `s` | counter (double) | `spdk.bdev.name` | bdev_get_iostat: io_time (µs) ÷ 10^6 (only with queue-depth sampling) |
//! | `spdk.bdev.weighted_io_time` | `s` | counter (double) | `spdk.bdev.name` | bdev_get_iostat: weighted_io_time (µs × queue depth) ÷ 10^6 (only with queue-depth sampling) |
//! | `spdk.bdev.channel.io.bytes` | `By` | counter (int) | `spdk.bdev.name`, `spdk.thread.id`, `direction` | bdev_get_iostat per_channel: channels[].bytes_* |
//! | `spdk.bdev.channel.io.operations` | `{operation}` | counter (int) | `spdk.bdev.name`, `spdk.thread.id`, `direction` | bdev_get_iostat per_channel: channels[].num_*_ops |
//! | `spdk.bdev.channel.io.time` | `s` | counter (double) | `spdk.bdev.name`, `spdk.thread.id`, `direction` | bdev_get_iostat per_channel: channels[].*_latency_ticks ÷ tick_rate |
//! | `spdk.bdev.capacity` | `By` | gauge (int) | `spdk.bdev.name`, `spdk.bdev.product_name`, `spdk.bdev.block_size`, `spdk.bdev.claimed` | bdev_get_bdevs: num_blocks × block_size; product_name, block_size, claimed |
//! | `spdk.nvmf.poll_group.qpairs` | `{qpair}` | counter (int) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.qpair.type` | nvmf_get_stats: poll_groups[].admin_qpairs, io_qpairs |
//! | `spdk.nvmf.poll_group.qpairs.current` | `{qpair}` | gauge (int) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.qpair.type` | nvmf_get_stats: poll_groups[].current_admin_qpairs, current_io_qpairs |
//! | `spdk.nvmf.poll_group.pending_bdev_io` | `{operation}` | gauge (int) | `spdk.nvmf.poll_group.name` | nvmf_get_stats: poll_groups[].pending_bdev_io |
//! | `spdk.nvmf.poll_group.completed_nvme_io` | `{operation}` | counter (int) | `spdk.nvmf.poll_group.name` | nvmf_get_stats: poll_groups[].completed_nvme_io |
//! | `spdk.nvmf.transport.polls` | `{poll}` | counter (int) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.transport.type`, `spdk.nvmf.transport.device` | nvmf_get_stats: poll_groups[].transports[].devices[].polls (RDMA) |
//! | `spdk.nvmf.transport.completions` | `{completion}` | counter (int) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.transport.type`, `spdk.nvmf.transport.device` | nvmf_get_stats: poll_groups[].transports[].devices[].completions (RDMA) |
//! | `spdk.nvmf.transport.requests` | `{request}` | counter (int) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.transport.type`, `spdk.nvmf.transport.device` | nvmf_get_stats: poll_groups[].transports[].devices[].requests (RDMA) |
//! | `spdk.nvmf.transport.request.time` | `s` | counter (double) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.transport.type`, `spdk.nvmf.transport.device` | nvmf_get_stats: poll_groups[].transports[].devices[].request_latency ÷ tick_rate (RDMA) |
//! | `spdk.nvmf.transport.pending_data_buffer` | `{request}` | gauge (int) | `spdk.nvmf.poll_group.name`, `spdk.nvmf.transport.type` | nvmf_get_stats: poll_groups[].transports[].pending_data_buffer (RDMA) |
//! | `spdk.nvmf.subsystem.namespaces` | `{namespace}` | gauge (int) | `spdk.nvmf.subsystem.nqn`, `spdk.nvmf.subsystem.type` | nvmf_get_subsystems: namespaces[] (count) |
//! | `spdk.nvmf.subsystem.listeners` | `{listener}` | gauge (int) | `spdk.nvmf.subsystem.nqn`, `spdk.nvmf.subsystem.type` | nvmf_get_subsystems: listen_addresses[] (count) |
//! | `spdk.nvmf.subsystem.hosts` | `{host}` | gauge (int) | `spdk.nvmf.subsystem.nqn`, `spdk.nvmf.subsystem.type`, `spdk.nvmf.subsystem.allow_any_host` | nvmf_get_subsystems: hosts[] (count), allow_any_host |
//! | `spdk.thread.time` | `s` | counter (double) | `spdk.thread.name`, `spdk.thread.id`, `state` | thread_get_stats: threads[].busy, idle ÷ tick_rate |
//! | `spdk.thread.pollers` | `{poller}` | gauge (int) | `spdk.thread.name`, `spdk.thread.id`, `state` | thread_get_stats: threads[].active/timed/paused_pollers_count |
//! | `spdk.reactor.time` | `s` | counter (double) | `spdk.reactor.lcore`, `state` | framework_get_reactors: reactors[].busy, idle ÷ tick_rate |
//! | `spdk.reactor.threads` | `{thread}` | gauge (int) | `spdk.reactor.lcore` | framework_get_reactors: reactors[].lw_threads[] (count) |
//! | `spdk.accel.operations` | `{operation}` | counter (int) | `spdk.accel.opcode`, `spdk.accel.module`, `outcome` | accel_get_stats: operations[].executed, failed |
//! | `spdk.accel.bytes` | `By` | counter (int) | `spdk.accel.opcode`, `spdk.accel.module` | accel_get_stats: operations[].num_bytes |
//! | `spdk.accel.sequences` | `{sequence}` | counter (int) | `outcome` | accel_get_stats: sequence_executed, sequence_failed |
//! | `spdk.accel.retries` | `{retry}` | counter (int) | `spdk.accel.retry.type` | accel_get_stats: retry_task, retry_sequence, retry_iobuf, retry_bufdesc |
//! | `spdk.iobuf.requests` | `{request}` | counter (int) | `spdk.iobuf.module`, `spdk.iobuf.pool`, `spdk.iobuf.source` | iobuf_get_stats: [].small_pool/large_pool .cache, .main, .retry |
//! | `spdk.nvme.controller.state` | `1` | gauge (int) | `spdk.nvme.controller.name`, `spdk.nvme.controller.cntlid`, `spdk.nvme.controller.state`, `network.transport`, `server.address`, `server.port`, `spdk.nvme.subsystem.nqn` | bdev_nvme_get_controllers: [].ctrlrs[].state, cntlid, trid |
//! | `spdk.bdev.io.latency` | `s` | histogram (cumulative) | `spdk.bdev.name`, `spdk.bdev.io.type` | bdev_get_histogram (histogram_data.h): base64 u64 counters, granularity, min_range, max_range, tsc_rate; bounds (hi − 1) ÷ tsc_rate; sum estimated from bucket midpoints |

mod client;
mod config;
pub mod histogram;
mod latency;
pub mod metrics;
mod receiver;

pub use client::{CallError, SpdkClient};
pub use config::{
    BDEV_IO_TYPES, Config, Endpoint, HistogramConfig, IostatConfig, Scrapers, Toggle,
};
pub use receiver::{Factory, SpdkReceiver, SpdkScraper};

/// The type name in configs.
pub const TYPE: &str = "spdk";

#[cfg(test)]
mod tests;
