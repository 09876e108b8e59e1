//! The nine scrapers, reading Linux's `/proc` (through `procfs-core`'s parsers) and `statvfs`
//! under `root_path`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use procfs_core::net::{InterfaceDeviceStatus, TcpNetEntries, TcpState};
use procfs_core::{
    DiskStats, ExplicitSystemInfo, FromRead, FromReadSI, KernelStats, LoadAverage, Meminfo, VmStat,
};
use strata_pipelines::Metrics;

use super::config::{Filters, Scrapers};
use super::metadata::{self as md, Def, Instrument};

/// Sector size `/proc/diskstats` counts in, whatever the device's real sector size.
const SECTOR_BYTES: u64 = 512;

/// Scope name prefix; the scraper name is appended (`strata/receiver/hostmetrics/cpu`).
const SCOPE_PREFIX: &str = "strata/receiver/hostmetrics";

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

/// A data point value as read: counters stay integers (no detour through `f64`, which is exact
/// only up to 2^53), times and ratios are doubles. The metric's definition decides what is
/// emitted.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(u64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(v: u64) -> Self {
        Num::Int(v)
    }
}

impl From<f64> for Num {
    fn from(v: f64) -> Self {
        Num::Float(v)
    }
}

/// Data points of one metric being recorded.
struct Rec {
    def: Def,
    start: u64,
    now: u64,
    points: Vec<NumberDataPoint>,
}

impl Rec {
    fn new(def: Def, start: u64, now: u64) -> Self {
        Rec {
            def,
            start,
            now,
            points: Vec::new(),
        }
    }

    /// Records `v` with attribute values in the order of `def.attributes`.
    fn add(&mut self, attrs: &[&str], v: impl Into<Num>) {
        debug_assert_eq!(attrs.len(), self.def.attributes.len());
        let value = match (self.def.int, v.into()) {
            (true, Num::Int(i)) => {
                number_data_point::Value::AsInt(i64::try_from(i).unwrap_or(i64::MAX))
            }
            (true, Num::Float(f)) => number_data_point::Value::AsInt(f as i64),
            (false, Num::Int(i)) => number_data_point::Value::AsDouble(i as f64),
            (false, Num::Float(f)) => number_data_point::Value::AsDouble(f),
        };
        self.points.push(NumberDataPoint {
            attributes: self
                .def
                .attributes
                .iter()
                .zip(attrs)
                .map(|(k, v)| kv(k, v))
                .collect(),
            start_time_unix_nano: match self.def.instrument {
                Instrument::Sum(_) => self.start,
                Instrument::Gauge => 0,
            },
            time_unix_nano: self.now,
            value: Some(value),
            ..Default::default()
        });
    }

    fn finish(self) -> Metric {
        let data = match self.def.instrument {
            Instrument::Sum(monotonic) => metric::Data::Sum(Sum {
                data_points: self.points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: monotonic,
            }),
            Instrument::Gauge => metric::Data::Gauge(Gauge {
                data_points: self.points,
            }),
        };
        Metric {
            name: self.def.name.to_owned(),
            description: self.def.description.to_owned(),
            unit: self.def.unit.to_owned(),
            data: Some(data),
            ..Default::default()
        }
    }
}

/// `/proc/stat` as parsed once per scrape, or why it could not be.
type KernelStatsResult = Result<KernelStats, String>;

/// Reads host metrics under a root path.
pub struct HostScraper {
    root: PathBuf,
    scrapers: Scrapers,
    filters: Filters,
    ticks_per_second: u64,
    resource: Resource,
}

use crate::scraper::now_nanos;

fn read_host_name(root: &Path) -> String {
    std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned()
        })
}

impl HostScraper {
    /// A scraper for the enabled `scrapers`, reading under `root`.
    pub fn new(root: PathBuf, scrapers: Scrapers, filters: Filters) -> Self {
        let host_name = read_host_name(&root);
        HostScraper {
            root,
            scrapers,
            filters,
            ticks_per_second: rustix::param::clock_ticks_per_second().max(1),
            resource: Resource {
                attributes: vec![kv("host.name", &host_name), kv("os.type", "linux")],
                ..Default::default()
            },
        }
    }

    fn proc(&self, rel: &str) -> PathBuf {
        self.root.join("proc").join(rel)
    }

    fn kernel_stats(&self) -> KernelStatsResult {
        let si = ExplicitSystemInfo {
            boot_time_secs: 0,
            ticks_per_second: self.ticks_per_second,
            page_size: 4096,
            is_little_endian: cfg!(target_endian = "little"),
        };
        KernelStats::from_file(self.proc("stat"), &si).map_err(|e| format!("read /proc/stat: {e}"))
    }

    /// Runs every enabled scraper. Returns one resource with one scope per scraper, and the
    /// errors of scrapers that failed (their metrics are missing from the result).
    pub fn scrape(&self) -> (Metrics, Vec<String>) {
        // /proc/stat feeds cpu, load (cpu_average), processes and every start time: read once.
        let stat = self.kernel_stats();
        // Boot time in Unix nanoseconds: the start time of every cumulative sum.
        let start = stat
            .as_ref()
            .map(|k| k.btime * 1_000_000_000)
            .unwrap_or_default();
        let stat = &stat;
        let now = now_nanos();
        let mut scopes = Vec::new();
        let mut errors = Vec::new();
        let s = &self.scrapers;
        let mut run =
            |name: &str, enabled: bool, f: &dyn Fn(u64, u64) -> Result<Vec<Metric>, String>| {
                if !enabled {
                    return;
                }
                match f(start, now) {
                    Ok(mut metrics) => {
                        // `metrics: {<name>: {enabled: false}}` drops a metric.
                        if let Some(t) = s.metric_toggles(name) {
                            metrics.retain(|m| t.get(&m.name).is_none_or(|t| t.enabled));
                        }
                        scopes.push(ScopeMetrics {
                            scope: Some(InstrumentationScope {
                                name: format!("{SCOPE_PREFIX}/{name}"),
                                version: env!("CARGO_PKG_VERSION").to_owned(),
                                ..Default::default()
                            }),
                            metrics,
                            schema_url: "https://opentelemetry.io/schemas/1.9.0".into(),
                        })
                    }
                    Err(e) => errors.push(format!("{name} scraper: {e}")),
                }
            };
        run("cpu", s.cpu.is_some(), &|st, n| self.cpu(stat, st, n));
        run("memory", s.memory.is_some(), &|st, n| self.memory(st, n));
        run("load", s.load.is_some(), &|st, n| self.load(stat, st, n));
        run("disk", s.disk.is_some(), &|st, n| self.disk(st, n));
        run("filesystem", s.filesystem.is_some(), &|st, n| {
            self.filesystem(st, n)
        });
        run("network", s.network.is_some(), &|st, n| self.network(st, n));
        run("paging", s.paging.is_some(), &|st, n| self.paging(st, n));
        run("processes", s.processes.is_some(), &|st, n| {
            self.processes(stat, st, n)
        });
        run("system", s.system.is_some(), &|st, n| self.system(st, n));
        let metrics = Metrics {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: scopes,
                schema_url: String::new(),
            }],
        };
        (metrics, errors)
    }

    /// `system.cpu.time{cpu,state}` from `/proc/stat`, ticks → seconds.
    fn cpu(&self, stat: &KernelStatsResult, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let ks = stat.as_ref().map_err(Clone::clone)?;
        let tps = self.ticks_per_second as f64;
        let mut r = Rec::new(md::CPU_TIME, start, now);
        for (i, c) in ks.cpu_time.iter().enumerate() {
            let cpu = format!("cpu{i}");
            for (state, ticks) in [
                ("user", c.user),
                ("system", c.system),
                ("idle", c.idle),
                ("interrupt", c.irq.unwrap_or(0)),
                ("nice", c.nice),
                ("softirq", c.softirq.unwrap_or(0)),
                ("steal", c.steal.unwrap_or(0)),
                ("wait", c.iowait.unwrap_or(0)),
            ] {
                r.add(&[&cpu, state], ticks as f64 / tps);
            }
        }
        Ok(vec![r.finish()])
    }

    /// `system.memory.usage{state}` from `/proc/meminfo`, computed as procps' `free` and
    /// gopsutil do: cached = Cached + SReclaimable, used = total − free − buffers − cached.
    fn memory(&self, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let m = Meminfo::from_file(self.proc("meminfo"))
            .map_err(|e| format!("read /proc/meminfo: {e}"))?;
        let sreclaimable = m.s_reclaimable.unwrap_or(0);
        let cached = m.cached + sreclaimable;
        let used = m
            .mem_total
            .saturating_sub(m.mem_free)
            .saturating_sub(m.buffers)
            .saturating_sub(cached);
        let mut r = Rec::new(md::MEMORY_USAGE, start, now);
        for (state, v) in [
            ("used", used),
            ("free", m.mem_free),
            ("buffered", m.buffers),
            ("cached", cached),
            ("slab_reclaimable", sreclaimable),
            ("slab_unreclaimable", m.s_unreclaim.unwrap_or(0)),
        ] {
            r.add(&[state], v);
        }
        Ok(vec![r.finish()])
    }

    /// `system.cpu.load_average.*` from `/proc/loadavg`.
    fn load(&self, stat: &KernelStatsResult, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let l = LoadAverage::from_file(self.proc("loadavg"))
            .map_err(|e| format!("read /proc/loadavg: {e}"))?;
        let div = if self.scrapers.load.as_ref().is_some_and(|c| c.cpu_average) {
            stat.as_ref().map_err(Clone::clone)?.cpu_time.len().max(1) as f64
        } else {
            1.0
        };
        Ok([
            (md::LOAD_1M, l.one),
            (md::LOAD_5M, l.five),
            (md::LOAD_15M, l.fifteen),
        ]
        .into_iter()
        .map(|(def, v)| {
            let mut r = Rec::new(def, start, now);
            r.add(&[], f64::from(v) / div);
            r.finish()
        })
        .collect())
    }

    /// `system.disk.*` from `/proc/diskstats` (sectors of 512 bytes, times in ms → s).
    fn disk(&self, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let stats = DiskStats::from_file(self.proc("diskstats"))
            .map_err(|e| format!("read /proc/diskstats: {e}"))?;
        let mut io = Rec::new(md::DISK_IO, start, now);
        let mut ops = Rec::new(md::DISK_OPERATIONS, start, now);
        let mut io_time = Rec::new(md::DISK_IO_TIME, start, now);
        let mut op_time = Rec::new(md::DISK_OPERATION_TIME, start, now);
        let mut weighted = Rec::new(md::DISK_WEIGHTED_IO_TIME, start, now);
        let mut pending = Rec::new(md::DISK_PENDING_OPERATIONS, start, now);
        let mut merged = Rec::new(md::DISK_MERGED, start, now);
        for d in stats.0.iter().filter(|d| self.filters.disk.allows(&d.name)) {
            let dev = d.name.as_str();
            io.add(&[dev, "read"], d.sectors_read * SECTOR_BYTES);
            io.add(&[dev, "write"], d.sectors_written * SECTOR_BYTES);
            ops.add(&[dev, "read"], d.reads);
            ops.add(&[dev, "write"], d.writes);
            io_time.add(&[dev], d.time_in_progress as f64 / 1000.0);
            op_time.add(&[dev, "read"], d.time_reading as f64 / 1000.0);
            op_time.add(&[dev, "write"], d.time_writing as f64 / 1000.0);
            weighted.add(&[dev], d.weighted_time_in_progress as f64 / 1000.0);
            pending.add(&[dev], d.in_progress);
            merged.add(&[dev, "read"], d.merged);
            merged.add(&[dev, "write"], d.writes_merged);
        }
        Ok([io, ops, io_time, op_time, weighted, pending, merged]
            .into_iter()
            .map(Rec::finish)
            .collect())
    }

    /// `system.filesystem.*` from the mount table and `statvfs` of each mount point.
    fn filesystem(&self, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let mounts_path = self.proc("1/mounts");
        let mounts_path = if mounts_path.exists() {
            mounts_path
        } else {
            self.proc("self/mounts")
        };
        let text = std::fs::read_to_string(&mounts_path)
            .map_err(|e| format!("read {}: {e}", mounts_path.display()))?;
        let nodev: HashSet<String> = std::fs::read_to_string(self.proc("filesystems"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("nodev"))
            .map(|t| t.trim().to_owned())
            .collect();
        let mut usage = Rec::new(md::FS_USAGE, start, now);
        let mut inodes = Rec::new(md::FS_INODES_USAGE, start, now);
        let mut seen = HashSet::new();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(device), Some(mountpoint), Some(fstype), Some(opts)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let mountpoint = unescape_mount(mountpoint);
            if !self.filters.include_virtual_filesystems
                && (nodev.contains(fstype) || device == "none")
            {
                continue;
            }
            if !self.filters.fs_devices.allows(device)
                || !self.filters.fs_types.allows(fstype)
                || !self.filters.mount_points.allows(&mountpoint)
                || !seen.insert(mountpoint.clone())
            {
                continue;
            }
            let mode = if opts.split(',').any(|o| o == "ro") {
                "ro"
            } else {
                "rw"
            };
            let path = self.root.join(mountpoint.trim_start_matches('/'));
            let Ok(st) = rustix::fs::statvfs(&path) else {
                continue; // Unreadable mount points (permissions, stale NFS) are skipped.
            };
            let frsize = st.f_frsize;
            let total = st.f_blocks * frsize;
            let free = st.f_bavail * frsize;
            let used = (st.f_blocks - st.f_bfree) * frsize;
            let reserved = total.saturating_sub(used).saturating_sub(free);
            let a = |state| [device, mode, mountpoint.as_str(), fstype, state];
            usage.add(&a("used"), used);
            usage.add(&a("free"), free);
            usage.add(&a("reserved"), reserved);
            inodes.add(&a("used"), st.f_files.saturating_sub(st.f_ffree));
            inodes.add(&a("free"), st.f_ffree);
        }
        Ok(vec![usage.finish(), inodes.finish()])
    }

    /// `system.network.*` from `/proc/net/dev`, connections from `/proc/net/tcp{,6}`.
    fn network(&self, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let dev = InterfaceDeviceStatus::from_file(self.proc("net/dev"))
            .map_err(|e| format!("read /proc/net/dev: {e}"))?;
        let mut packets = Rec::new(md::NET_PACKETS, start, now);
        let mut dropped = Rec::new(md::NET_DROPPED, start, now);
        let mut errors = Rec::new(md::NET_ERRORS, start, now);
        let mut io = Rec::new(md::NET_IO, start, now);
        let sorted: BTreeMap<_, _> = dev.0.iter().collect();
        for (name, d) in sorted
            .into_iter()
            .filter(|(n, _)| self.filters.network.allows(n))
        {
            let n = name.as_str();
            packets.add(&[n, "transmit"], d.sent_packets);
            packets.add(&[n, "receive"], d.recv_packets);
            dropped.add(&[n, "transmit"], d.sent_drop);
            dropped.add(&[n, "receive"], d.recv_drop);
            errors.add(&[n, "transmit"], d.sent_errs);
            errors.add(&[n, "receive"], d.recv_errs);
            io.add(&[n, "transmit"], d.sent_bytes);
            io.add(&[n, "receive"], d.recv_bytes);
        }
        let si = ExplicitSystemInfo {
            boot_time_secs: 0,
            ticks_per_second: self.ticks_per_second,
            page_size: 4096,
            is_little_endian: cfg!(target_endian = "little"),
        };
        let mut by_state: BTreeMap<&'static str, u64> =
            TCP_STATES.iter().map(|s| (*s, 0)).collect();
        for file in ["net/tcp", "net/tcp6"] {
            // tcp6 is absent when IPv6 is disabled; that is not an error.
            if let Ok(entries) = TcpNetEntries::from_file(self.proc(file), &si) {
                for e in entries.0 {
                    *by_state.entry(tcp_state_name(&e.state)).or_default() += 1;
                }
            }
        }
        let mut conns = Rec::new(md::NET_CONNECTIONS, start, now);
        for (state, n) in by_state {
            conns.add(&["tcp", state], n);
        }
        Ok(vec![
            packets.finish(),
            dropped.finish(),
            errors.finish(),
            io.finish(),
            conns.finish(),
        ])
    }

    /// `system.paging.*`: usage per swap device from `/proc/swaps` (KiB → bytes); operations
    /// and faults from `/proc/vmstat` (`pswpin`/`pswpout` are major page-ins/outs,
    /// `pgpgin`/`pgpgout` minor; minor faults = `pgfault` − `pgmajfault`). Values are counts of
    /// operations, as the unit says (gopsutil multiplies them by 4096; we do not).
    fn paging(&self, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let mut usage = Rec::new(md::PAGING_USAGE, start, now);
        let swaps = std::fs::read_to_string(self.proc("swaps"))
            .map_err(|e| format!("read /proc/swaps: {e}"))?;
        for line in swaps.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let (Ok(size), Ok(used)) = (f[2].parse::<u64>(), f[3].parse::<u64>()) else {
                continue;
            };
            usage.add(&[f[0], "used"], used * 1024);
            usage.add(&[f[0], "free"], size.saturating_sub(used) * 1024);
        }
        let vm = VmStat::from_file(self.proc("vmstat"))
            .map_err(|e| format!("read /proc/vmstat: {e}"))?;
        let get = |k: &str| u64::try_from(vm.0.get(k).copied().unwrap_or(0)).unwrap_or(0);
        let mut ops = Rec::new(md::PAGING_OPERATIONS, start, now);
        ops.add(&["page_in", "major"], get("pswpin"));
        ops.add(&["page_out", "major"], get("pswpout"));
        ops.add(&["page_in", "minor"], get("pgpgin"));
        ops.add(&["page_out", "minor"], get("pgpgout"));
        let mut faults = Rec::new(md::PAGING_FAULTS, start, now);
        faults.add(&["major"], get("pgmajfault"));
        faults.add(&["minor"], get("pgfault").saturating_sub(get("pgmajfault")));
        Ok(vec![usage.finish(), ops.finish(), faults.finish()])
    }

    /// `system.processes.*`: states of `/proc/<pid>/stat`, with `running` and `blocked` taken
    /// from `/proc/stat` (one read, more accurate), and `processes` from `/proc/stat` as created.
    fn processes(
        &self,
        stat: &KernelStatsResult,
        start: u64,
        now: u64,
    ) -> Result<Vec<Metric>, String> {
        let ks = stat.as_ref().map_err(Clone::clone)?;
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let dir =
            std::fs::read_dir(self.root.join("proc")).map_err(|e| format!("read /proc: {e}"))?;
        for entry in dir.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // A process may exit between listing and reading; skip it.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .and_then(|s| s.chars().next());
            let status = match state {
                Some('R') => "running",
                Some('S') => "sleeping",
                Some('D') => "blocked",
                Some('Z') => "zombies",
                Some('T' | 't') => "stopped",
                Some('I') => "idle",
                Some('W') => "paging",
                Some('L') => "locked",
                _ => "unknown",
            };
            *counts.entry(status).or_default() += 1;
        }
        if let Some(r) = ks.procs_running {
            counts.insert("running", u64::from(r));
        }
        if let Some(b) = ks.procs_blocked {
            counts.insert("blocked", u64::from(b));
        }
        let mut count = Rec::new(md::PROCESSES_COUNT, start, now);
        for (status, n) in counts {
            count.add(&[status], n);
        }
        let mut created = Rec::new(md::PROCESSES_CREATED, start, now);
        created.add(&[], ks.processes);
        Ok(vec![count.finish(), created.finish()])
    }

    /// `system.uptime` from `/proc/uptime`.
    fn system(&self, start: u64, now: u64) -> Result<Vec<Metric>, String> {
        let u = procfs_core::Uptime::from_file(self.proc("uptime"))
            .map_err(|e| format!("read /proc/uptime: {e}"))?;
        let mut r = Rec::new(md::UPTIME, start, now);
        r.add(&[], u.uptime);
        Ok(vec![r.finish()])
    }
}

/// TCP states, named as gopsutil (and so the Collector) names them.
const TCP_STATES: &[&str] = &[
    "CLOSE",
    "CLOSE_WAIT",
    "CLOSING",
    "ESTABLISHED",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "LAST_ACK",
    "LISTEN",
    "SYN_RECV",
    "SYN_SENT",
    "TIME_WAIT",
];

fn tcp_state_name(s: &TcpState) -> &'static str {
    match s {
        TcpState::Established => "ESTABLISHED",
        TcpState::SynSent => "SYN_SENT",
        TcpState::SynRecv | TcpState::NewSynRecv => "SYN_RECV",
        TcpState::FinWait1 => "FIN_WAIT1",
        TcpState::FinWait2 => "FIN_WAIT2",
        TcpState::TimeWait => "TIME_WAIT",
        TcpState::Close => "CLOSE",
        TcpState::CloseWait => "CLOSE_WAIT",
        TcpState::LastAck => "LAST_ACK",
        TcpState::Listen => "LISTEN",
        TcpState::Closing => "CLOSING",
    }
}

/// Undoes the octal escapes of `/proc/mounts` (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mdatagen's `metrics: {<name>: {enabled}}`: `false` drops a metric from this host's
    /// scrape; `true` for one Strata does not produce is listed for the start-up warning.
    #[test]
    fn metric_toggles_drop_and_report() {
        let cfg: crate::hostmetrics::Config = strata_pipelines::config::parse_component(
            "r",
            serde_yaml_ng::from_str(
                "scrapers:\n  load:\n    metrics:\n      system.cpu.load_average.5m: {enabled: false}\n  cpu:\n    metrics:\n      system.cpu.utilization: {enabled: true}\n    resource_attributes:\n      host.name: {enabled: true}",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            cfg.scrapers.enabled_but_not_produced(),
            [
                "scrapers::cpu::metrics::system.cpu.utilization",
                "scrapers::cpu::resource_attributes::host.name"
            ]
        );
        let filters = cfg.filters("r").unwrap();
        let s = HostScraper::new("/".into(), cfg.scrapers.clone(), filters);
        let (m, _) = s.scrape();
        let names: Vec<&str> = m.resource_metrics[0]
            .scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.as_str())
            .collect();
        assert!(names.contains(&"system.cpu.load_average.1m"), "{names:?}");
        assert!(!names.contains(&"system.cpu.load_average.5m"), "{names:?}");
        assert!(names.contains(&"system.cpu.time"), "{names:?}");
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape_mount(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape_mount("/"), "/");
    }
}
