//! The metrics this receiver emits: exactly the OpenTelemetry Collector hostmetrics receiver's
//! default-enabled metrics (its scrapers' `metadata.yaml`, semantic conventions 1.9.0): name,
//! unit, instrument, value type, temporality, monotonicity and attribute keys.

/// How a metric is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// A cumulative sum; `true` when monotonic.
    Sum(bool),
    /// A gauge.
    Gauge,
}

/// One metric definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Def {
    /// Metric name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// UCUM unit.
    pub unit: &'static str,
    /// Sum (cumulative, with monotonicity) or gauge.
    pub instrument: Instrument,
    /// Integer (`true`) or double data points.
    pub int: bool,
    /// Attribute keys of every data point.
    pub attributes: &'static [&'static str],
}

macro_rules! def {
    ($id:ident, $name:literal, $desc:literal, $unit:literal, $inst:expr, $int:literal, [$($a:literal),*]) => {
        #[doc = concat!("`", $name, "` (", $unit, "): ", $desc)]
        pub const $id: Def = Def {
            name: $name,
            description: $desc,
            unit: $unit,
            instrument: $inst,
            int: $int,
            attributes: &[$($a),*],
        };
    };
}

use Instrument::{Gauge, Sum};

def!(
    CPU_TIME,
    "system.cpu.time",
    "Total seconds each logical CPU spent on each mode.",
    "s",
    Sum(true),
    false,
    ["cpu", "state"]
);
def!(
    MEMORY_USAGE,
    "system.memory.usage",
    "Bytes of memory in use.",
    "By",
    Sum(false),
    true,
    ["state"]
);
def!(
    LOAD_1M,
    "system.cpu.load_average.1m",
    "Average CPU Load over 1 minute.",
    "{thread}",
    Gauge,
    false,
    []
);
def!(
    LOAD_5M,
    "system.cpu.load_average.5m",
    "Average CPU Load over 5 minutes.",
    "{thread}",
    Gauge,
    false,
    []
);
def!(
    LOAD_15M,
    "system.cpu.load_average.15m",
    "Average CPU Load over 15 minutes.",
    "{thread}",
    Gauge,
    false,
    []
);
def!(
    DISK_IO,
    "system.disk.io",
    "Disk bytes transferred.",
    "By",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    DISK_OPERATIONS,
    "system.disk.operations",
    "Disk operations count.",
    "{operations}",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    DISK_IO_TIME,
    "system.disk.io_time",
    "Time disk spent activated.",
    "s",
    Sum(true),
    false,
    ["device"]
);
def!(
    DISK_OPERATION_TIME,
    "system.disk.operation_time",
    "Time spent in disk operations.",
    "s",
    Sum(true),
    false,
    ["device", "direction"]
);
def!(
    DISK_WEIGHTED_IO_TIME,
    "system.disk.weighted_io_time",
    "Time disk spent activated multiplied by the queue length.",
    "s",
    Sum(true),
    false,
    ["device"]
);
def!(
    DISK_PENDING_OPERATIONS,
    "system.disk.pending_operations",
    "The queue size of pending I/O operations.",
    "{operations}",
    Sum(false),
    true,
    ["device"]
);
def!(
    DISK_MERGED,
    "system.disk.merged",
    "The number of disk reads/writes merged into single physical disk access operations.",
    "{operations}",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    FS_USAGE,
    "system.filesystem.usage",
    "Filesystem bytes used.",
    "By",
    Sum(false),
    true,
    ["device", "mode", "mountpoint", "type", "state"]
);
def!(
    FS_INODES_USAGE,
    "system.filesystem.inodes.usage",
    "FileSystem inodes used.",
    "{inodes}",
    Sum(false),
    true,
    ["device", "mode", "mountpoint", "type", "state"]
);
def!(
    NET_PACKETS,
    "system.network.packets",
    "The number of packets transferred.",
    "{packets}",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    NET_DROPPED,
    "system.network.dropped",
    "The number of packets dropped.",
    "{packets}",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    NET_ERRORS,
    "system.network.errors",
    "The number of errors encountered.",
    "{errors}",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    NET_IO,
    "system.network.io",
    "The number of bytes transmitted and received.",
    "By",
    Sum(true),
    true,
    ["device", "direction"]
);
def!(
    NET_CONNECTIONS,
    "system.network.connections",
    "The number of connections.",
    "{connections}",
    Sum(false),
    true,
    ["protocol", "state"]
);
def!(
    PAGING_USAGE,
    "system.paging.usage",
    "Swap (unix) or pagefile (windows) usage.",
    "By",
    Sum(false),
    true,
    ["device", "state"]
);
def!(
    PAGING_OPERATIONS,
    "system.paging.operations",
    "The number of paging operations.",
    "{operations}",
    Sum(true),
    true,
    ["direction", "type"]
);
def!(
    PAGING_FAULTS,
    "system.paging.faults",
    "The number of page faults.",
    "{faults}",
    Sum(true),
    true,
    ["type"]
);
def!(
    PROCESSES_COUNT,
    "system.processes.count",
    "Total number of processes in each state.",
    "{processes}",
    Sum(false),
    true,
    ["status"]
);
def!(
    PROCESSES_CREATED,
    "system.processes.created",
    "Total number of created processes.",
    "{processes}",
    Sum(true),
    true,
    []
);
def!(
    UPTIME,
    "system.uptime",
    "The time the system has been running",
    "s",
    Gauge,
    false,
    []
);

/// Every metric, by scraper, in emission order.
pub const ALL: &[(&str, &[Def])] = &[
    ("cpu", &[CPU_TIME]),
    ("memory", &[MEMORY_USAGE]),
    ("load", &[LOAD_1M, LOAD_5M, LOAD_15M]),
    (
        "disk",
        &[
            DISK_IO,
            DISK_OPERATIONS,
            DISK_IO_TIME,
            DISK_OPERATION_TIME,
            DISK_WEIGHTED_IO_TIME,
            DISK_PENDING_OPERATIONS,
            DISK_MERGED,
        ],
    ),
    ("filesystem", &[FS_USAGE, FS_INODES_USAGE]),
    (
        "network",
        &[
            NET_PACKETS,
            NET_DROPPED,
            NET_ERRORS,
            NET_IO,
            NET_CONNECTIONS,
        ],
    ),
    ("paging", &[PAGING_USAGE, PAGING_OPERATIONS, PAGING_FAULTS]),
    ("processes", &[PROCESSES_COUNT, PROCESSES_CREATED]),
    ("system", &[UPTIME]),
];
