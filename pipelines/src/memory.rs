//! The process-wide memory budget (DESIGN.md, "Memory"): every byte of telemetry in flight
//! through a pipeline that has a `memory_limiter` is reserved here from the moment the limiter
//! admits it until the pipeline is done with it (exported, refused, or — once exporters queue —
//! released by the queue). Limiters in several pipelines share the one counter, so their limits
//! bound the process's total, and data above a limit is refused before it is held anywhere.
//!
//! Also here: the readings the limiter's periodic check uses — the process's resident set
//! ([`resident_bytes`]) and the memory it may use ([`total_memory_bytes`]: the cgroup limit, v2
//! or v1, or the machine's memory).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A counter of reserved bytes; see the module docs.
#[derive(Debug, Default)]
pub struct MemoryBudget {
    used: AtomicU64,
    pressure: AtomicBool,
}

/// The process's budget.
pub fn global() -> &'static MemoryBudget {
    static BUDGET: MemoryBudget = MemoryBudget::new();
    &BUDGET
}

/// Bytes held until dropped.
#[derive(Debug)]
#[must_use = "the bytes are released when the reservation is dropped"]
pub struct Reservation {
    budget: &'static MemoryBudget,
    bytes: u64,
}

impl Reservation {
    /// The reserved size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl MemoryBudget {
    /// An empty budget (tests use their own; the process uses [`global`]).
    pub const fn new() -> Self {
        MemoryBudget {
            used: AtomicU64::new(0),
            pressure: AtomicBool::new(false),
        }
    }

    /// True while a `memory_limiter` is refusing data: receivers then refuse requests before
    /// reading their bodies (gRPC `UNAVAILABLE`, HTTP 503), so refused data never takes memory.
    pub fn under_pressure(&self) -> bool {
        self.pressure.load(Ordering::Acquire)
    }

    /// Set by `memory_limiter`: when a reservation fails, and at each check (to whether the
    /// resident set or the bytes in flight are above its soft limit).
    pub fn set_pressure(&self, on: bool) {
        self.pressure.store(on, Ordering::Release);
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes` whatever the total: for data already accepted (an exporter's in-memory
    /// queue holds what the sender was told is safe). Counting it lets `memory_limiter` refuse
    /// new data while queues are full of old data.
    pub fn reserve(&'static self, bytes: u64) -> Reservation {
        self.used.fetch_add(bytes, Ordering::AcqRel);
        Reservation {
            budget: self,
            bytes,
        }
    }

    /// Reserves `bytes` if the total stays at or under `limit`; `None` (nothing reserved)
    /// otherwise. A single request larger than `limit` is admitted when nothing else is held,
    /// so an oversized request is refused by size checks, not starved here forever.
    pub fn try_reserve(&'static self, bytes: u64, limit: u64) -> Option<Reservation> {
        let mut cur = self.used.load(Ordering::Acquire);
        loop {
            let next = cur.saturating_add(bytes);
            if next > limit && cur > 0 {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Some(Reservation {
                        budget: self,
                        bytes,
                    });
                }
                Err(now) => cur = now,
            }
        }
    }
}

/// The resident set size of this process in bytes (`VmRSS` of `/proc/self/status`), or `None`
/// where that file is not readable.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmRSS:").map(|k| k * 1024)
}

/// The peak resident set size of this process in bytes (`VmHWM`).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM:").map(|k| k * 1024)
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The memory this process may use, in bytes: the smallest of its cgroup's limit (v2
/// `memory.max` of the cgroup named in `/proc/self/cgroup`, or v1
/// `memory/memory.limit_in_bytes`) and the machine's `MemTotal`, all read under `root`
/// (normally `/`). `None` when none is readable.
pub fn total_memory_bytes(root: &Path) -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    let mem_total =
        read("proc/meminfo").and_then(|m| status_kib(&m, "MemTotal:").map(|k| k * 1024));
    let mut cgroup: Option<u64> = None;
    // cgroup v2: "0::/path" in /proc/self/cgroup; the limit file of that cgroup, or the
    // namespace root's (what a container sees).
    let v2_path = read("proc/self/cgroup").and_then(|c| {
        c.lines()
            .find_map(|l| l.strip_prefix("0::").map(|p| p.trim().to_string()))
    });
    let mut v2_files = Vec::new();
    if let Some(p) = &v2_path {
        v2_files.push(format!(
            "sys/fs/cgroup{}/memory.max",
            p.trim_end_matches('/')
        ));
    }
    v2_files.push("sys/fs/cgroup/memory.max".into());
    for f in v2_files {
        if let Some(v) = read(&f) {
            if let Ok(n) = v.trim().parse::<u64>() {
                cgroup = Some(n);
            }
            break;
        }
    }
    if cgroup.is_none()
        && let Some(v) = read("sys/fs/cgroup/memory/memory.limit_in_bytes")
        && let Ok(n) = v.trim().parse::<u64>()
        && n < (1 << 60)
    {
        cgroup = Some(n);
    }
    match (cgroup, mem_total) {
        (Some(c), Some(m)) => Some(c.min(m)),
        (c, m) => c.or(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_released_on_drop() {
        static B: MemoryBudget = MemoryBudget::new();
        let a = B.try_reserve(60, 100).unwrap();
        assert!(B.try_reserve(50, 100).is_none(), "60 + 50 > 100");
        let b = B.try_reserve(40, 100).unwrap();
        assert_eq!(B.used(), 100);
        drop(a);
        assert_eq!(B.used(), 40);
        drop(b);
        // Alone, an oversized request is admitted (size limits are the receiver's job).
        let big = B.try_reserve(500, 100).unwrap();
        assert_eq!(big.bytes(), 500);
        assert!(B.try_reserve(1, 100).is_none());
        drop(big);
        assert_eq!(B.used(), 0);
    }

    fn write(root: &Path, rel: &str, s: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn total_memory_is_the_smallest_of_cgroup_and_machine() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "proc/meminfo",
            "MemTotal:       16384000 kB\nMemFree: 1 kB\n",
        );
        assert_eq!(total_memory_bytes(r), Some(16_384_000 * 1024));
        // cgroup v2, limited, in a nested cgroup.
        write(r, "proc/self/cgroup", "0::/kubepods/pod1/c1\n");
        write(
            r,
            "sys/fs/cgroup/kubepods/pod1/c1/memory.max",
            "536870912\n",
        );
        assert_eq!(total_memory_bytes(r), Some(512 << 20));
        // "max" means no cgroup limit.
        write(r, "sys/fs/cgroup/kubepods/pod1/c1/memory.max", "max\n");
        assert_eq!(total_memory_bytes(r), Some(16_384_000 * 1024));
        // cgroup v1.
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, "proc/meminfo", "MemTotal:       16384000 kB\n");
        write(
            r,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "268435456\n",
        );
        assert_eq!(total_memory_bytes(r), Some(256 << 20));
        write(
            r,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        assert_eq!(total_memory_bytes(r), Some(16_384_000 * 1024));
        assert_eq!(total_memory_bytes(Path::new("/nonexistent")), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let rss = resident_bytes().unwrap();
        // Not `rss <= peak`: the two are read at different instants from RSS counters the
        // kernel keeps per thread and syncs lazily, so with other test threads allocating
        // and freeing, the second reading can be below the first (a CI run saw it).
        assert!(rss > 0 && peak_resident_bytes().unwrap() > 0);
        assert!(total_memory_bytes(Path::new("/")).unwrap() > rss);
    }
}
