//! The allocator's own heap figures for `otelcol_process_runtime_heap_alloc_bytes` and
//! `otelcol_process_runtime_total_sys_memory_bytes`: glibc's `mallinfo2(3)`, summed over all
//! arenas by glibc. Elsewhere (musl, other systems) there is no figure and the metrics are
//! absent.

use strata_pipelines::telemetry::HeapStats;

/// glibc's figures: `alloc` = `uordblks` (in-use bytes in the arenas) + `hblkhd` (bytes in
/// `mmap`ed blocks, the large allocations); `sys` = `arena` (bytes the arenas got from the OS)
/// + `hblkhd`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn stats() -> Option<HeapStats> {
    // SAFETY: `mallinfo2` (glibc >= 2.33) takes no arguments, reads the allocator's own
    // counters under its locks, and returns a plain struct by value.
    let m = unsafe { libc::mallinfo2() };
    Some(HeapStats {
        alloc: (m.uordblks + m.hblkhd) as u64,
        sys: (m.arena + m.hblkhd) as u64,
    })
}

/// No allocator figures on this platform.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn stats() -> Option<HeapStats> {
    None
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_live_allocation_is_counted() {
        let before = super::stats().unwrap().alloc;
        let block = vec![1u8; 8 << 20];
        let during = super::stats().unwrap().alloc;
        assert!(during >= before + (8 << 20) - 4096, "{before} -> {during}");
        assert!(super::stats().unwrap().sys >= during);
        drop(block);
    }
}
