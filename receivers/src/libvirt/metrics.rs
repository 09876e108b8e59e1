//! libvirt domain statistics → OTLP metrics. The keys are `virConnectGetAllDomainStats`'s
//! (libvirt's "virsh domstats" docs); every one is optional (drivers and hypervisor versions
//! differ), so an absent key is an absent data point, never a zero.

use strata_libvirt::DomainStats;

use crate::def;
pub use crate::recorder::{Attr, Def, Kind, Num, Recorder};

/// Every metric the receiver emits (the table in the module docs and the README). The source
/// column names the bulk stats key and, in brackets, the per-domain call that fills it where
/// the driver's bulk answer lacks the group (`test:///default` answers only `state`).
pub const DEFS: &[Def] = &[
    def!(
        "libvirt.domain.state",
        "{domain}",
        UpDownCounter,
        true,
        ["libvirt.domain.state"],
        "state.state (virDomainState)",
        "1 for the domain's current state, 0 for the others (running, blocked, paused, shutdown, shutoff, crashed, pmsuspended, nostate)."
    ),
    def!(
        "libvirt.domain.cpu.time",
        "s",
        Counter,
        false,
        [],
        "cpu.time ns [virDomainGetInfo cpuTime]",
        "CPU time the domain used, all vCPUs and the hypervisor's threads for it."
    ),
    def!(
        "libvirt.domain.vcpu.time",
        "s",
        Counter,
        false,
        ["libvirt.vcpu.id"],
        "vcpu.N.time ns [virDomainGetVcpus cpuTime]",
        "CPU time of one vCPU."
    ),
    def!(
        "libvirt.domain.vcpu.wait",
        "s",
        Counter,
        false,
        ["libvirt.vcpu.id"],
        "vcpu.N.wait ns (QEMU/KVM only)",
        "Time the vCPU was runnable but waited for a host CPU (steal, as the guest sees it)."
    ),
    def!(
        "libvirt.domain.vcpu.count",
        "{vcpu}",
        UpDownCounter,
        true,
        [],
        "vcpu.current [virDomainGetInfo nrVirtCpu]",
        "vCPUs the domain has now."
    ),
    def!(
        "libvirt.domain.vcpu.limit",
        "{vcpu}",
        UpDownCounter,
        true,
        [],
        "vcpu.maximum [virDomainGetInfo nrVirtCpu]",
        "vCPUs the domain may have (hot-plug limit)."
    ),
    def!(
        "libvirt.domain.memory.assigned",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.current KiB [virDomainGetInfo memory]",
        "Memory the guest has now: the balloon's current size."
    ),
    def!(
        "libvirt.domain.memory.limit",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.maximum KiB [virDomainGetInfo maxMem]",
        "Memory the guest may have at most."
    ),
    def!(
        "libvirt.domain.memory.available",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.available KiB [virDomainMemoryStats AVAILABLE]",
        "Memory the guest's OS sees as its total (balloon driver in the guest)."
    ),
    def!(
        "libvirt.domain.memory.unused",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.unused KiB [virDomainMemoryStats UNUSED]",
        "Memory the guest leaves unused (balloon driver in the guest)."
    ),
    def!(
        "libvirt.domain.memory.usable",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.usable KiB [virDomainMemoryStats USABLE]",
        "Memory the guest could use without swapping (balloon driver in the guest)."
    ),
    def!(
        "libvirt.domain.memory.disk_caches",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.disk_caches KiB [virDomainMemoryStats DISK_CACHES]",
        "Memory the guest uses for caches it can free at once."
    ),
    def!(
        "libvirt.domain.memory.rss",
        "By",
        UpDownCounter,
        true,
        [],
        "balloon.rss KiB [virDomainMemoryStats RSS]",
        "Resident memory of the domain's process on the host."
    ),
    def!(
        "libvirt.domain.memory.swap",
        "By",
        Counter,
        true,
        ["system.paging.direction"],
        "balloon.swap_in, balloon.swap_out KiB [virDomainMemoryStats SWAP_IN/SWAP_OUT]",
        "Memory the guest swapped in and out."
    ),
    def!(
        "libvirt.domain.memory.page_faults",
        "{fault}",
        Counter,
        true,
        ["system.paging.fault.type"],
        "balloon.major_fault, balloon.minor_fault [virDomainMemoryStats MAJOR_FAULT/MINOR_FAULT]",
        "Page faults in the guest, major and minor."
    ),
    def!(
        "libvirt.domain.disk.io",
        "By",
        Counter,
        true,
        ["system.device", "disk.io.direction"],
        "block.N.rd.bytes, block.N.wr.bytes [virDomainBlockStats]",
        "Bytes the domain read from and wrote to the disk."
    ),
    def!(
        "libvirt.domain.disk.operations",
        "{operation}",
        Counter,
        true,
        ["system.device", "disk.io.direction"],
        "block.N.rd.reqs, block.N.wr.reqs [virDomainBlockStats]",
        "Read and write requests of the disk."
    ),
    def!(
        "libvirt.domain.disk.operation_time",
        "s",
        Counter,
        false,
        ["system.device", "disk.io.direction"],
        "block.N.rd.times, block.N.wr.times ns (QEMU/KVM only)",
        "Time spent in the disk's read and write requests."
    ),
    def!(
        "libvirt.domain.disk.errors",
        "{error}",
        Counter,
        true,
        ["system.device"],
        "block.N.errors [virDomainBlockStats errs] (Xen and the test driver; QEMU does not count them)",
        "I/O errors of the disk."
    ),
    def!(
        "libvirt.domain.disk.capacity",
        "By",
        UpDownCounter,
        true,
        ["system.device"],
        "block.N.capacity [virDomainGetBlockInfo]",
        "Size of the disk as the guest sees it."
    ),
    def!(
        "libvirt.domain.disk.allocation",
        "By",
        UpDownCounter,
        true,
        ["system.device"],
        "block.N.allocation [virDomainGetBlockInfo]",
        "Bytes of the disk's image allocated on the host."
    ),
    def!(
        "libvirt.domain.disk.physical",
        "By",
        UpDownCounter,
        true,
        ["system.device"],
        "block.N.physical [virDomainGetBlockInfo]",
        "Size of the disk's image file or device on the host."
    ),
    def!(
        "libvirt.domain.network.io",
        "By",
        Counter,
        true,
        ["network.interface.name", "network.io.direction"],
        "net.N.rx.bytes, net.N.tx.bytes [virDomainInterfaceStats]",
        "Bytes received and transmitted on the interface."
    ),
    def!(
        "libvirt.domain.network.packets",
        "{packet}",
        Counter,
        true,
        ["network.interface.name", "network.io.direction"],
        "net.N.rx.pkts, net.N.tx.pkts [virDomainInterfaceStats]",
        "Packets received and transmitted on the interface."
    ),
    def!(
        "libvirt.domain.network.errors",
        "{error}",
        Counter,
        true,
        ["network.interface.name", "network.io.direction"],
        "net.N.rx.errs, net.N.tx.errs [virDomainInterfaceStats]",
        "Receive and transmit errors of the interface."
    ),
    def!(
        "libvirt.domain.network.dropped",
        "{packet}",
        Counter,
        true,
        ["network.interface.name", "network.io.direction"],
        "net.N.rx.drop, net.N.tx.drop [virDomainInterfaceStats]",
        "Packets dropped on receive and transmit."
    ),
];

/// The Markdown table of [`DEFS`].
pub fn markdown_table() -> String {
    crate::recorder::markdown_table(DEFS, "libvirt source [fill-in call]")
}

/// `virDomainState` by number.
pub const STATES: [&str; 8] = [
    "nostate",
    "running",
    "blocked",
    "paused",
    "shutdown",
    "shutoff",
    "crashed",
    "pmsuspended",
];

const NS: f64 = 1e-9;
const KIB: u64 = 1024;

/// Records one domain's statistics into `rec` (a recorder of its own resource).
pub fn record(rec: &mut Recorder, s: &DomainStats) {
    let u = |k: &str| s.u64(k);
    if let Some(state) = s.params.get("state.state").and_then(|v| match v {
        strata_libvirt::Value::Int(i) => Some(*i),
        v => v.as_u64().and_then(|u| i64::try_from(u).ok()),
    }) {
        for (i, name) in STATES.iter().enumerate() {
            let on = u64::from(i64::try_from(i).is_ok_and(|i| i == state));
            rec.add("libvirt.domain.state", vec![(*name).into()], Num::I(on));
        }
    }
    if let Some(v) = u("cpu.time") {
        rec.add("libvirt.domain.cpu.time", vec![], Num::F(v as f64 * NS));
    }
    if let Some(v) = u("vcpu.current") {
        rec.add("libvirt.domain.vcpu.count", vec![], Num::I(v));
    }
    if let Some(v) = u("vcpu.maximum") {
        rec.add("libvirt.domain.vcpu.limit", vec![], Num::I(v));
    }
    for i in 0..u("vcpu.maximum")
        .or(u("vcpu.current"))
        .unwrap_or(0)
        .min(4096)
    {
        let id = Attr::I(i64::try_from(i).unwrap_or(i64::MAX));
        if let Some(v) = u(&format!("vcpu.{i}.time")) {
            rec.add(
                "libvirt.domain.vcpu.time",
                vec![id.clone()],
                Num::F(v as f64 * NS),
            );
        }
        if let Some(v) = u(&format!("vcpu.{i}.wait")) {
            rec.add("libvirt.domain.vcpu.wait", vec![id], Num::F(v as f64 * NS));
        }
    }
    for (key, name) in [
        ("balloon.current", "libvirt.domain.memory.assigned"),
        ("balloon.maximum", "libvirt.domain.memory.limit"),
        ("balloon.available", "libvirt.domain.memory.available"),
        ("balloon.unused", "libvirt.domain.memory.unused"),
        ("balloon.usable", "libvirt.domain.memory.usable"),
        ("balloon.disk_caches", "libvirt.domain.memory.disk_caches"),
        ("balloon.rss", "libvirt.domain.memory.rss"),
    ] {
        if let Some(v) = u(key) {
            rec.add(name, vec![], Num::I(v.saturating_mul(KIB)));
        }
    }
    for (key, dir) in [("balloon.swap_in", "in"), ("balloon.swap_out", "out")] {
        if let Some(v) = u(key) {
            rec.add(
                "libvirt.domain.memory.swap",
                vec![dir.into()],
                Num::I(v.saturating_mul(KIB)),
            );
        }
    }
    for (key, ty) in [
        ("balloon.major_fault", "major"),
        ("balloon.minor_fault", "minor"),
    ] {
        if let Some(v) = u(key) {
            rec.add(
                "libvirt.domain.memory.page_faults",
                vec![ty.into()],
                Num::I(v),
            );
        }
    }
    for i in 0..u("block.count").unwrap_or(0).min(4096) {
        let Some(dev) = s.str(&format!("block.{i}.name")) else {
            continue;
        };
        let k = |f: &str| u(&format!("block.{i}.{f}"));
        for (dir, p) in [("read", "rd"), ("write", "wr")] {
            let attrs = || vec![Attr::from(dev), Attr::from(dir)];
            if let Some(v) = k(&format!("{p}.bytes")) {
                rec.add("libvirt.domain.disk.io", attrs(), Num::I(v));
            }
            if let Some(v) = k(&format!("{p}.reqs")) {
                rec.add("libvirt.domain.disk.operations", attrs(), Num::I(v));
            }
            if let Some(v) = k(&format!("{p}.times")) {
                rec.add(
                    "libvirt.domain.disk.operation_time",
                    attrs(),
                    Num::F(v as f64 * NS),
                );
            }
        }
        for (f, name) in [
            ("errors", "libvirt.domain.disk.errors"),
            ("capacity", "libvirt.domain.disk.capacity"),
            ("allocation", "libvirt.domain.disk.allocation"),
            ("physical", "libvirt.domain.disk.physical"),
        ] {
            if let Some(v) = k(f) {
                rec.add(name, vec![dev.into()], Num::I(v));
            }
        }
    }
    for i in 0..u("net.count").unwrap_or(0).min(4096) {
        let Some(dev) = s.str(&format!("net.{i}.name")) else {
            continue;
        };
        for (dir, p) in [("receive", "rx"), ("transmit", "tx")] {
            for (f, name) in [
                ("bytes", "libvirt.domain.network.io"),
                ("pkts", "libvirt.domain.network.packets"),
                ("errs", "libvirt.domain.network.errors"),
                ("drop", "libvirt.domain.network.dropped"),
            ] {
                if let Some(v) = u(&format!("net.{i}.{p}.{f}")) {
                    rec.add(name, vec![dev.into(), dir.into()], Num::I(v));
                }
            }
        }
    }
}
