//! SPDK responses → OTLP metrics. One function per method; each reads only what it needs and
//! treats every field as optional (fields come and go between SPDK releases), so an absent
//! field is an absent data point, never a zero.

use serde_json::{Map, Value};

use crate::def;
pub use crate::recorder::{Attr, Def, HistogramReading, Kind, Num, Recorder};

/// Every metric the receiver emits (the table in the module docs and the README).
pub const DEFS: &[Def] = &[
    def!(
        "spdk.bdev.io.bytes",
        "By",
        Counter,
        true,
        ["spdk.bdev.name", "direction"],
        "bdev_get_iostat: bytes_read, bytes_written, bytes_unmapped, bytes_copied",
        "Bytes transferred by the bdev, by direction (read, write, unmap, copy)."
    ),
    def!(
        "spdk.bdev.io.operations",
        "{operation}",
        Counter,
        true,
        ["spdk.bdev.name", "direction"],
        "bdev_get_iostat: num_read_ops, num_write_ops, num_unmap_ops, num_copy_ops",
        "I/O operations completed by the bdev, by direction."
    ),
    def!(
        "spdk.bdev.io.time",
        "s",
        Counter,
        false,
        ["spdk.bdev.name", "direction"],
        "bdev_get_iostat: read/write/unmap/copy_latency_ticks ÷ tick_rate",
        "Time spent in the bdev's I/O of the direction: the sum of the operations' latencies."
    ),
    def!(
        "spdk.bdev.io.latency.max",
        "s",
        Gauge,
        false,
        ["spdk.bdev.name", "direction"],
        "bdev_get_iostat: max_*_latency_ticks ÷ tick_rate",
        "Longest single operation of the direction since the bdev was created."
    ),
    def!(
        "spdk.bdev.io.latency.min",
        "s",
        Gauge,
        false,
        ["spdk.bdev.name", "direction"],
        "bdev_get_iostat: min_*_latency_ticks ÷ tick_rate",
        "Shortest single operation of the direction since the bdev was created."
    ),
    def!(
        "spdk.bdev.io.errors",
        "{error}",
        Counter,
        true,
        ["spdk.bdev.name", "error.type"],
        "bdev_get_iostat: io_error (one point per status SPDK lists)",
        "I/O errors of the bdev, by SPDK I/O status."
    ),
    def!(
        "spdk.bdev.queue_depth",
        "{operation}",
        Gauge,
        true,
        ["spdk.bdev.name"],
        "bdev_get_iostat: queue_depth (only with bdev_set_qd_sampling_period)",
        "Operations outstanding at the last queue-depth sample."
    ),
    def!(
        "spdk.bdev.io_time",
        "s",
        Counter,
        false,
        ["spdk.bdev.name"],
        "bdev_get_iostat: io_time (µs) ÷ 10^6 (only with queue-depth sampling)",
        "Time the bdev had I/O outstanding."
    ),
    def!(
        "spdk.bdev.weighted_io_time",
        "s",
        Counter,
        false,
        ["spdk.bdev.name"],
        "bdev_get_iostat: weighted_io_time (µs × queue depth) ÷ 10^6 (only with queue-depth sampling)",
        "Time the bdev had I/O outstanding, weighted by the queue depth."
    ),
    def!(
        "spdk.bdev.channel.io.bytes",
        "By",
        Counter,
        true,
        ["spdk.bdev.name", "spdk.thread.id", "direction"],
        "bdev_get_iostat per_channel: channels[].bytes_*",
        "Bytes transferred by the bdev on one SPDK thread's channel."
    ),
    def!(
        "spdk.bdev.channel.io.operations",
        "{operation}",
        Counter,
        true,
        ["spdk.bdev.name", "spdk.thread.id", "direction"],
        "bdev_get_iostat per_channel: channels[].num_*_ops",
        "Operations completed by the bdev on one channel."
    ),
    def!(
        "spdk.bdev.channel.io.time",
        "s",
        Counter,
        false,
        ["spdk.bdev.name", "spdk.thread.id", "direction"],
        "bdev_get_iostat per_channel: channels[].*_latency_ticks ÷ tick_rate",
        "Time spent in the bdev's I/O on one channel."
    ),
    def!(
        "spdk.bdev.capacity",
        "By",
        Gauge,
        true,
        [
            "spdk.bdev.name",
            "spdk.bdev.product_name",
            "spdk.bdev.block_size",
            "spdk.bdev.claimed"
        ],
        "bdev_get_bdevs: num_blocks × block_size; product_name, block_size, claimed",
        "Size of the bdev."
    ),
    def!(
        "spdk.nvmf.poll_group.qpairs",
        "{qpair}",
        Counter,
        true,
        ["spdk.nvmf.poll_group.name", "spdk.nvmf.qpair.type"],
        "nvmf_get_stats: poll_groups[].admin_qpairs, io_qpairs",
        "Queue pairs created on the poll group, by type (admin, io)."
    ),
    def!(
        "spdk.nvmf.poll_group.qpairs.current",
        "{qpair}",
        Gauge,
        true,
        ["spdk.nvmf.poll_group.name", "spdk.nvmf.qpair.type"],
        "nvmf_get_stats: poll_groups[].current_admin_qpairs, current_io_qpairs",
        "Queue pairs connected to the poll group now."
    ),
    def!(
        "spdk.nvmf.poll_group.pending_bdev_io",
        "{operation}",
        Gauge,
        true,
        ["spdk.nvmf.poll_group.name"],
        "nvmf_get_stats: poll_groups[].pending_bdev_io",
        "Bdev I/O the poll group is waiting for."
    ),
    def!(
        "spdk.nvmf.poll_group.completed_nvme_io",
        "{operation}",
        Counter,
        true,
        ["spdk.nvmf.poll_group.name"],
        "nvmf_get_stats: poll_groups[].completed_nvme_io",
        "NVMe I/O commands completed by the poll group."
    ),
    def!(
        "spdk.nvmf.transport.polls",
        "{poll}",
        Counter,
        true,
        [
            "spdk.nvmf.poll_group.name",
            "spdk.nvmf.transport.type",
            "spdk.nvmf.transport.device"
        ],
        "nvmf_get_stats: poll_groups[].transports[].devices[].polls (RDMA)",
        "Polls of the transport device."
    ),
    def!(
        "spdk.nvmf.transport.completions",
        "{completion}",
        Counter,
        true,
        [
            "spdk.nvmf.poll_group.name",
            "spdk.nvmf.transport.type",
            "spdk.nvmf.transport.device"
        ],
        "nvmf_get_stats: poll_groups[].transports[].devices[].completions (RDMA)",
        "Work completions reaped on the transport device."
    ),
    def!(
        "spdk.nvmf.transport.requests",
        "{request}",
        Counter,
        true,
        [
            "spdk.nvmf.poll_group.name",
            "spdk.nvmf.transport.type",
            "spdk.nvmf.transport.device"
        ],
        "nvmf_get_stats: poll_groups[].transports[].devices[].requests (RDMA)",
        "Requests handled on the transport device."
    ),
    def!(
        "spdk.nvmf.transport.request.time",
        "s",
        Counter,
        false,
        [
            "spdk.nvmf.poll_group.name",
            "spdk.nvmf.transport.type",
            "spdk.nvmf.transport.device"
        ],
        "nvmf_get_stats: poll_groups[].transports[].devices[].request_latency ÷ tick_rate (RDMA)",
        "Time requests spent on the transport device (sum of latencies)."
    ),
    def!(
        "spdk.nvmf.transport.pending_data_buffer",
        "{request}",
        Gauge,
        true,
        ["spdk.nvmf.poll_group.name", "spdk.nvmf.transport.type"],
        "nvmf_get_stats: poll_groups[].transports[].pending_data_buffer (RDMA)",
        "Requests waiting for a data buffer."
    ),
    def!(
        "spdk.nvmf.subsystem.namespaces",
        "{namespace}",
        Gauge,
        true,
        ["spdk.nvmf.subsystem.nqn", "spdk.nvmf.subsystem.type"],
        "nvmf_get_subsystems: namespaces[] (count)",
        "Namespaces of the subsystem."
    ),
    def!(
        "spdk.nvmf.subsystem.listeners",
        "{listener}",
        Gauge,
        true,
        ["spdk.nvmf.subsystem.nqn", "spdk.nvmf.subsystem.type"],
        "nvmf_get_subsystems: listen_addresses[] (count)",
        "Listen addresses of the subsystem."
    ),
    def!(
        "spdk.nvmf.subsystem.hosts",
        "{host}",
        Gauge,
        true,
        [
            "spdk.nvmf.subsystem.nqn",
            "spdk.nvmf.subsystem.type",
            "spdk.nvmf.subsystem.allow_any_host"
        ],
        "nvmf_get_subsystems: hosts[] (count), allow_any_host",
        "Hosts allowed to connect to the subsystem."
    ),
    def!(
        "spdk.thread.time",
        "s",
        Counter,
        false,
        ["spdk.thread.name", "spdk.thread.id", "state"],
        "thread_get_stats: threads[].busy, idle ÷ tick_rate",
        "Time the SPDK thread spent busy (doing work) or idle (polling with nothing to do)."
    ),
    def!(
        "spdk.thread.pollers",
        "{poller}",
        Gauge,
        true,
        ["spdk.thread.name", "spdk.thread.id", "state"],
        "thread_get_stats: threads[].active/timed/paused_pollers_count",
        "Pollers registered on the SPDK thread, by state (active, timed, paused)."
    ),
    def!(
        "spdk.reactor.time",
        "s",
        Counter,
        false,
        ["spdk.reactor.lcore", "state"],
        "framework_get_reactors: reactors[].busy, idle ÷ tick_rate",
        "Time the reactor (one data-plane core) spent busy or idle."
    ),
    def!(
        "spdk.reactor.threads",
        "{thread}",
        Gauge,
        true,
        ["spdk.reactor.lcore"],
        "framework_get_reactors: reactors[].lw_threads[] (count)",
        "SPDK threads scheduled on the reactor."
    ),
    def!(
        "spdk.accel.operations",
        "{operation}",
        Counter,
        true,
        ["spdk.accel.opcode", "spdk.accel.module", "outcome"],
        "accel_get_stats: operations[].executed, failed",
        "Acceleration operations, by opcode, module and outcome (executed, failed)."
    ),
    def!(
        "spdk.accel.bytes",
        "By",
        Counter,
        true,
        ["spdk.accel.opcode", "spdk.accel.module"],
        "accel_get_stats: operations[].num_bytes",
        "Bytes processed by acceleration operations."
    ),
    def!(
        "spdk.accel.sequences",
        "{sequence}",
        Counter,
        true,
        ["outcome"],
        "accel_get_stats: sequence_executed, sequence_failed",
        "Acceleration sequences, by outcome (executed, failed)."
    ),
    def!(
        "spdk.accel.retries",
        "{retry}",
        Counter,
        true,
        ["spdk.accel.retry.type"],
        "accel_get_stats: retry_task, retry_sequence, retry_iobuf, retry_bufdesc",
        "Times the accel framework had to retry for lack of a resource."
    ),
    def!(
        "spdk.iobuf.requests",
        "{request}",
        Counter,
        true,
        ["spdk.iobuf.module", "spdk.iobuf.pool", "spdk.iobuf.source"],
        "iobuf_get_stats: [].small_pool/large_pool .cache, .main, .retry",
        "Buffer requests of the module, by pool (small, large) and where they were served from (cache, main) or retried (retry)."
    ),
    def!(
        "spdk.nvme.controller.state",
        "1",
        Gauge,
        true,
        [
            "spdk.nvme.controller.name",
            "spdk.nvme.controller.cntlid",
            "spdk.nvme.controller.state",
            "network.transport",
            "server.address",
            "server.port",
            "spdk.nvme.subsystem.nqn"
        ],
        "bdev_nvme_get_controllers: [].ctrlrs[].state, cntlid, trid",
        "1 for the controller's current state (enabled, resetting, failed, ...)."
    ),
    def!(
        "spdk.bdev.io.latency",
        "s",
        Histogram,
        false,
        ["spdk.bdev.name", "spdk.bdev.io.type"],
        "bdev_get_histogram (histogram_data.h): base64 u64 counters, granularity, min_range, max_range, tsc_rate; bounds (hi − 1) ÷ tsc_rate; sum estimated from bucket midpoints",
        "Latency of the bdev's completed I/O of the type (`all`, `read`, ...) from submission to completion, cumulative since the histogram was enabled (histograms: enabled)."
    ),
];

/// The I/O operations `bdev_get_iostat` counted per bdev for a histogram of `io_type`
/// (`num_<type>_ops`, or the sum of the read, write, unmap and copy counts present for `all`); `None` for types
/// iostat does not count.
///
/// # Errors
/// A `result` that is not an iostat object.
pub fn iostat_ops(
    result: &Value,
    io_type: &str,
) -> Result<std::collections::HashMap<String, Option<u64>>, String> {
    let o = obj(result, "bdev_get_iostat")?;
    let bdevs = arr(
        o.get("bdevs").unwrap_or(&Value::Null),
        "bdev_get_iostat bdevs",
    )?;
    let mut out = std::collections::HashMap::new();
    for b in bdevs {
        let b = obj(b, "bdev_get_iostat bdevs[]")?;
        let Some(name) = s(b, "name") else { continue };
        let ops = if io_type == "all" {
            DIRECTIONS
                .iter()
                .filter_map(|(_, _, ops, _)| u(b, ops))
                .reduce(u64::saturating_add)
        } else {
            DIRECTIONS
                .iter()
                .find(|(dir, ..)| *dir == io_type)
                .and_then(|(_, _, ops, _)| u(b, ops))
        };
        out.insert(name.to_owned(), ops);
    }
    Ok(out)
}

/// Records `h`, one decoded `bdev_get_histogram` of `bdev`, as `spdk.bdev.io.latency`: the
/// series started at `start` (Unix ns), bucketed at `bounds` (seconds, snapped up to SPDK
/// edges; empty: one bucket per power-of-two range), its sum estimated from bucket midpoints.
pub fn bdev_histogram(
    r: &mut Recorder,
    bdev: &str,
    io_type: &str,
    h: &super::histogram::SpdkHistogram,
    start: u64,
    bounds: &[f64],
) {
    let (bounds, counts) = h.to_otel(bounds);
    r.add_histogram(
        "spdk.bdev.io.latency",
        vec![bdev.into(), io_type.into()],
        HistogramReading {
            start,
            bounds,
            counts,
            sum: Some(h.sum_estimate()),
        },
    );
}

/// The bdev names of a `bdev_get_bdevs` result, in order.
///
/// # Errors
/// A `result` that is not an array.
pub fn bdev_names(result: &Value) -> Result<Vec<String>, String> {
    Ok(arr(result, "bdev_get_bdevs")?
        .iter()
        .filter_map(|b| b.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// The definition of `name`.
///
/// # Panics
/// When `name` is not in [`DEFS`] (a programming error caught by the unit tests).
fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what}: expected an object, got {}", kind_of(v)))
}

fn arr<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what}: expected an array, got {}", kind_of(v)))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn u(o: &Map<String, Value>, k: &str) -> Option<u64> {
    o.get(k).and_then(Value::as_u64)
}

fn s<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

/// The tick rate of a response, in ticks per second.
fn tick_rate(o: &Map<String, Value>, method: &str) -> Result<f64, String> {
    match u(o, "tick_rate") {
        Some(r) if r > 0 => Ok(r as f64),
        _ => Err(format!("{method}: no tick_rate in the response")),
    }
}

const DIRECTIONS: [(&str, &str, &str, &str); 4] = [
    ("read", "bytes_read", "num_read_ops", "read_latency_ticks"),
    (
        "write",
        "bytes_written",
        "num_write_ops",
        "write_latency_ticks",
    ),
    (
        "unmap",
        "bytes_unmapped",
        "num_unmap_ops",
        "unmap_latency_ticks",
    ),
    ("copy", "bytes_copied", "num_copy_ops", "copy_latency_ticks"),
];

/// `bdev_get_iostat` (all bdevs): `{tick_rate, ticks, bdevs: [...]}`.
///
/// # Errors
/// A result of another shape, or no `tick_rate`.
pub fn bdev_iostat(r: &mut Recorder, result: &Value) -> Result<(), String> {
    let o = obj(result, "bdev_get_iostat")?;
    let rate = tick_rate(o, "bdev_get_iostat")?;
    let bdevs = arr(
        o.get("bdevs").unwrap_or(&Value::Null),
        "bdev_get_iostat bdevs",
    )?;
    for b in bdevs {
        let b = obj(b, "bdev_get_iostat bdevs[]")?;
        let Some(name) = s(b, "name") else { continue };
        for (dir, bytes, ops, ticks) in DIRECTIONS {
            let attrs = || vec![Attr::from(name), Attr::from(dir)];
            if let Some(v) = u(b, bytes) {
                r.add("spdk.bdev.io.bytes", attrs(), Num::I(v));
            }
            if let Some(v) = u(b, ops) {
                r.add("spdk.bdev.io.operations", attrs(), Num::I(v));
            }
            if let Some(v) = u(b, ticks) {
                r.add("spdk.bdev.io.time", attrs(), Num::F(v as f64 / rate));
            }
            if let Some(v) = u(b, &format!("max_{ticks}")) {
                r.add("spdk.bdev.io.latency.max", attrs(), Num::F(v as f64 / rate));
            }
            if let Some(v) = u(b, &format!("min_{ticks}")) {
                r.add("spdk.bdev.io.latency.min", attrs(), Num::F(v as f64 / rate));
            }
        }
        if let Some(errors) = b.get("io_error").and_then(Value::as_object) {
            for (status, n) in errors {
                if let Some(n) = n.as_u64() {
                    r.add(
                        "spdk.bdev.io.errors",
                        vec![name.into(), status.as_str().into()],
                        Num::I(n),
                    );
                }
            }
        }
        if let Some(q) = u(b, "queue_depth") {
            r.add("spdk.bdev.queue_depth", vec![name.into()], Num::I(q));
        }
        if let Some(t) = u(b, "io_time") {
            r.add(
                "spdk.bdev.io_time",
                vec![name.into()],
                Num::F(t as f64 / 1e6),
            );
        }
        if let Some(t) = u(b, "weighted_io_time") {
            r.add(
                "spdk.bdev.weighted_io_time",
                vec![name.into()],
                Num::F(t as f64 / 1e6),
            );
        }
    }
    Ok(())
}

/// `bdev_get_iostat` with `per_channel: true` for one bdev: `{tick_rate, name, channels: [...]}`.
///
/// # Errors
/// A result of another shape, or no `tick_rate`.
pub fn bdev_iostat_per_channel(r: &mut Recorder, bdev: &str, result: &Value) -> Result<(), String> {
    let what = "bdev_get_iostat per_channel";
    let o = obj(result, what)?;
    let rate = tick_rate(o, what)?;
    let name = s(o, "name").unwrap_or(bdev);
    for c in arr(o.get("channels").unwrap_or(&Value::Null), what)? {
        let c = obj(c, what)?;
        let Some(thread) = u(c, "thread_id") else {
            continue;
        };
        for (dir, bytes, ops, ticks) in DIRECTIONS {
            let attrs = || vec![Attr::from(name), Attr::I(thread as i64), Attr::from(dir)];
            if let Some(v) = u(c, bytes) {
                r.add("spdk.bdev.channel.io.bytes", attrs(), Num::I(v));
            }
            if let Some(v) = u(c, ops) {
                r.add("spdk.bdev.channel.io.operations", attrs(), Num::I(v));
            }
            if let Some(v) = u(c, ticks) {
                r.add(
                    "spdk.bdev.channel.io.time",
                    attrs(),
                    Num::F(v as f64 / rate),
                );
            }
        }
    }
    Ok(())
}

/// `bdev_get_bdevs`: `[{name, product_name, block_size, num_blocks, claimed, ...}]`.
///
/// # Errors
/// A result that is not an array.
pub fn bdevs(r: &mut Recorder, result: &Value) -> Result<(), String> {
    for b in arr(result, "bdev_get_bdevs")? {
        let b = obj(b, "bdev_get_bdevs[]")?;
        let (Some(name), Some(bs), Some(nb)) =
            (s(b, "name"), u(b, "block_size"), u(b, "num_blocks"))
        else {
            continue;
        };
        r.add(
            "spdk.bdev.capacity",
            vec![
                name.into(),
                s(b, "product_name").unwrap_or("").into(),
                Attr::I(bs as i64),
                Attr::B(b.get("claimed").and_then(Value::as_bool).unwrap_or(false)),
            ],
            Num::I(bs.saturating_mul(nb)),
        );
    }
    Ok(())
}

/// `nvmf_get_stats`: `{tick_rate, poll_groups: [{name, admin_qpairs, ..., transports: [...]}]}`.
///
/// # Errors
/// A result of another shape. A missing `tick_rate` only drops `spdk.nvmf.transport.request.time`.
pub fn nvmf_stats(r: &mut Recorder, result: &Value) -> Result<(), String> {
    let o = obj(result, "nvmf_get_stats")?;
    let rate = tick_rate(o, "nvmf_get_stats").ok();
    for g in arr(
        o.get("poll_groups").unwrap_or(&Value::Null),
        "nvmf_get_stats poll_groups",
    )? {
        let g = obj(g, "nvmf_get_stats poll_groups[]")?;
        let Some(pg) = s(g, "name") else { continue };
        for (ty, total, current) in [
            ("admin", "admin_qpairs", "current_admin_qpairs"),
            ("io", "io_qpairs", "current_io_qpairs"),
        ] {
            if let Some(v) = u(g, total) {
                r.add(
                    "spdk.nvmf.poll_group.qpairs",
                    vec![pg.into(), ty.into()],
                    Num::I(v),
                );
            }
            if let Some(v) = u(g, current) {
                r.add(
                    "spdk.nvmf.poll_group.qpairs.current",
                    vec![pg.into(), ty.into()],
                    Num::I(v),
                );
            }
        }
        if let Some(v) = u(g, "pending_bdev_io") {
            r.add(
                "spdk.nvmf.poll_group.pending_bdev_io",
                vec![pg.into()],
                Num::I(v),
            );
        }
        if let Some(v) = u(g, "completed_nvme_io") {
            r.add(
                "spdk.nvmf.poll_group.completed_nvme_io",
                vec![pg.into()],
                Num::I(v),
            );
        }
        let transports = g.get("transports").and_then(Value::as_array);
        for t in transports
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            let tt = s(t, "trtype").unwrap_or("");
            if let Some(v) = u(t, "pending_data_buffer") {
                r.add(
                    "spdk.nvmf.transport.pending_data_buffer",
                    vec![pg.into(), tt.into()],
                    Num::I(v),
                );
            }
            let devices = t.get("devices").and_then(Value::as_array);
            for d in devices.into_iter().flatten().filter_map(Value::as_object) {
                let dev = s(d, "name").unwrap_or("");
                let attrs = || vec![Attr::from(pg), Attr::from(tt), Attr::from(dev)];
                for (field, name) in [
                    ("polls", "spdk.nvmf.transport.polls"),
                    ("completions", "spdk.nvmf.transport.completions"),
                    ("requests", "spdk.nvmf.transport.requests"),
                ] {
                    if let Some(v) = u(d, field) {
                        r.add(name, attrs(), Num::I(v));
                    }
                }
                if let (Some(v), Some(rate)) = (u(d, "request_latency"), rate) {
                    r.add(
                        "spdk.nvmf.transport.request.time",
                        attrs(),
                        Num::F(v as f64 / rate),
                    );
                }
            }
        }
    }
    Ok(())
}

/// `nvmf_get_subsystems`: `[{nqn, subtype, listen_addresses, allow_any_host, hosts, namespaces}]`.
///
/// # Errors
/// A result that is not an array.
pub fn nvmf_subsystems(r: &mut Recorder, result: &Value) -> Result<(), String> {
    for ss in arr(result, "nvmf_get_subsystems")? {
        let ss = obj(ss, "nvmf_get_subsystems[]")?;
        let Some(nqn) = s(ss, "nqn") else { continue };
        let ty = s(ss, "subtype").unwrap_or("");
        let count = |k: &str| ss.get(k).and_then(Value::as_array).map(|a| a.len() as u64);
        if let Some(n) = count("namespaces") {
            r.add(
                "spdk.nvmf.subsystem.namespaces",
                vec![nqn.into(), ty.into()],
                Num::I(n),
            );
        }
        if let Some(n) = count("listen_addresses") {
            r.add(
                "spdk.nvmf.subsystem.listeners",
                vec![nqn.into(), ty.into()],
                Num::I(n),
            );
        }
        if let Some(n) = count("hosts") {
            let any = ss
                .get("allow_any_host")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            r.add(
                "spdk.nvmf.subsystem.hosts",
                vec![nqn.into(), ty.into(), Attr::B(any)],
                Num::I(n),
            );
        }
    }
    Ok(())
}

/// `thread_get_stats`: `{tick_rate, threads: [{name, id, busy, idle, *_pollers_count}]}`.
///
/// # Errors
/// A result of another shape, or no `tick_rate`.
pub fn threads(r: &mut Recorder, result: &Value) -> Result<(), String> {
    let o = obj(result, "thread_get_stats")?;
    let rate = tick_rate(o, "thread_get_stats")?;
    for t in arr(
        o.get("threads").unwrap_or(&Value::Null),
        "thread_get_stats threads",
    )? {
        let t = obj(t, "thread_get_stats threads[]")?;
        let (Some(name), Some(id)) = (s(t, "name"), u(t, "id")) else {
            continue;
        };
        let attrs = |state: &str| vec![Attr::from(name), Attr::I(id as i64), Attr::from(state)];
        for state in ["busy", "idle"] {
            if let Some(v) = u(t, state) {
                r.add("spdk.thread.time", attrs(state), Num::F(v as f64 / rate));
            }
        }
        for state in ["active", "timed", "paused"] {
            if let Some(v) = u(t, &format!("{state}_pollers_count")) {
                r.add("spdk.thread.pollers", attrs(state), Num::I(v));
            }
        }
    }
    Ok(())
}

/// `framework_get_reactors`: `{tick_rate, reactors: [{lcore, busy, idle, lw_threads}]}`.
///
/// # Errors
/// A result of another shape, or no `tick_rate`.
pub fn reactors(r: &mut Recorder, result: &Value) -> Result<(), String> {
    let o = obj(result, "framework_get_reactors")?;
    let rate = tick_rate(o, "framework_get_reactors")?;
    for re in arr(
        o.get("reactors").unwrap_or(&Value::Null),
        "framework_get_reactors reactors",
    )? {
        let re = obj(re, "framework_get_reactors reactors[]")?;
        let Some(lcore) = u(re, "lcore") else {
            continue;
        };
        for state in ["busy", "idle"] {
            if let Some(v) = u(re, state) {
                r.add(
                    "spdk.reactor.time",
                    vec![Attr::I(lcore as i64), state.into()],
                    Num::F(v as f64 / rate),
                );
            }
        }
        if let Some(t) = re.get("lw_threads").and_then(Value::as_array) {
            r.add(
                "spdk.reactor.threads",
                vec![Attr::I(lcore as i64)],
                Num::I(t.len() as u64),
            );
        }
    }
    Ok(())
}

/// `accel_get_stats`: `{sequence_executed, sequence_failed, operations: [...], retry_*}`.
///
/// # Errors
/// A result that is not an object.
pub fn accel(r: &mut Recorder, result: &Value) -> Result<(), String> {
    let o = obj(result, "accel_get_stats")?;
    for (outcome, k) in [
        ("executed", "sequence_executed"),
        ("failed", "sequence_failed"),
    ] {
        if let Some(v) = u(o, k) {
            r.add("spdk.accel.sequences", vec![outcome.into()], Num::I(v));
        }
    }
    let ops = o.get("operations").and_then(Value::as_array);
    for op in ops.into_iter().flatten().filter_map(Value::as_object) {
        let Some(opcode) = s(op, "opcode") else {
            continue;
        };
        let module = s(op, "module_name").unwrap_or("");
        for outcome in ["executed", "failed"] {
            if let Some(v) = u(op, outcome) {
                r.add(
                    "spdk.accel.operations",
                    vec![opcode.into(), module.into(), outcome.into()],
                    Num::I(v),
                );
            }
        }
        if let Some(v) = u(op, "num_bytes") {
            r.add(
                "spdk.accel.bytes",
                vec![opcode.into(), module.into()],
                Num::I(v),
            );
        }
    }
    for ty in ["task", "sequence", "iobuf", "bufdesc"] {
        if let Some(v) = u(o, &format!("retry_{ty}")) {
            r.add("spdk.accel.retries", vec![ty.into()], Num::I(v));
        }
    }
    Ok(())
}

/// `iobuf_get_stats`: `[{module, small_pool: {cache, main, retry}, large_pool: {...}}]`.
///
/// # Errors
/// A result that is not an array.
pub fn iobuf(r: &mut Recorder, result: &Value) -> Result<(), String> {
    for m in arr(result, "iobuf_get_stats")? {
        let m = obj(m, "iobuf_get_stats[]")?;
        let Some(module) = s(m, "module") else {
            continue;
        };
        for (pool, key) in [("small", "small_pool"), ("large", "large_pool")] {
            let Some(p) = m.get(key).and_then(Value::as_object) else {
                continue;
            };
            for source in ["cache", "main", "retry"] {
                if let Some(v) = u(p, source) {
                    r.add(
                        "spdk.iobuf.requests",
                        vec![module.into(), pool.into(), source.into()],
                        Num::I(v),
                    );
                }
            }
        }
    }
    Ok(())
}

/// `bdev_nvme_get_controllers`: `[{name, ctrlrs: [{state, cntlid, trid: {...}}]}]`.
///
/// # Errors
/// A result that is not an array.
pub fn nvme_controllers(r: &mut Recorder, result: &Value) -> Result<(), String> {
    for c in arr(result, "bdev_nvme_get_controllers")? {
        let c = obj(c, "bdev_nvme_get_controllers[]")?;
        let Some(name) = s(c, "name") else { continue };
        let ctrlrs = c.get("ctrlrs").and_then(Value::as_array);
        for ctrlr in ctrlrs.into_iter().flatten().filter_map(Value::as_object) {
            let Some(state) = s(ctrlr, "state") else {
                continue;
            };
            let empty = Map::new();
            let trid = ctrlr
                .get("trid")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            r.add(
                "spdk.nvme.controller.state",
                vec![
                    name.into(),
                    Attr::I(u(ctrlr, "cntlid").map_or(-1, |v| v as i64)),
                    state.into(),
                    s(trid, "trtype").unwrap_or("").to_ascii_lowercase().into(),
                    s(trid, "traddr").unwrap_or("").into(),
                    s(trid, "trsvcid").unwrap_or("").into(),
                    s(trid, "subnqn").unwrap_or("").into(),
                ],
                Num::I(1),
            );
        }
    }
    Ok(())
}

/// The `version` string of `spdk_get_version` (`"SPDK v25.09"`).
pub fn version(result: &Value) -> Option<String> {
    result.get("version")?.as_str().map(str::to_owned)
}

/// The metric table in Markdown (name, unit, type, attributes, source), as the module docs and
/// the README show it.
pub fn markdown_table() -> String {
    crate::recorder::markdown_table(DEFS, "SPDK source")
}

/// A recorder over this receiver's table.
pub fn recorder(start: u64, now: u64) -> Recorder {
    Recorder::new(DEFS, start, now)
}
