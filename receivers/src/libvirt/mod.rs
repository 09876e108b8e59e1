//! `libvirt` receiver: statistics of the virtual machines (libvirt *domains*) of a KVM host, so
//! the node pipeline (host metrics, SPDK, Redfish) runs on a hypervisor without a DPU too. The
//! OpenTelemetry Collector has no libvirt receiver and the semantic conventions have no VM
//! metrics yet; the names below live under `libvirt.domain.*` and reuse the `system.*`
//! attribute names (`system.device`, `disk.io.direction`, `network.interface.name`,
//! `network.io.direction`, `system.paging.direction`).
//!
//! ```yaml
//! receivers:
//!   libvirt:
//!     uri: qemu:///system          # any libvirt URI: qemu+ssh://host/system, test:///default
//!     read_only: true              # virConnectOpenReadOnly: the read-only socket, any local user
//!     collection_interval: 10s
//!     domains:                     # optional; names are domain names
//!       include: { names: ["tenant-.*"], match_type: regexp }
//!       exclude: { names: [scratch], match_type: strict }
//! ```
//!
//! Each scrape makes one `virConnectGetAllDomainStats` call (every stats group the driver has,
//! active and inactive domains). Where a driver's bulk answer lacks a group for a running
//! domain, the per-domain call that carries the same values fills it in (`strata-libvirt`'s
//! docs). Each domain is one resource: `libvirt.domain.name`, `libvirt.domain.uuid`; the
//! host's identity comes from the `resourcedetection` processor of the pipeline
//! (`configs/kvm.yaml`).
//!
//! What happens when things change:
//! - a domain that appears or disappears between scrapes is logged once (info) and counted in
//!   `strata_receiver_libvirt_domain_changes{change="appeared"|"disappeared"}`;
//!   `strata_receiver_libvirt_domains` is the number scraped last;
//! - a lost connection (libvirtd restarted) or a failed connect: the scrape is skipped, the
//!   cause is logged once per outage and counted in
//!   `strata_receiver_libvirt_errors{cause="connect"|"permission"|"connection_lost"|"stats"|"timeout"}`;
//!   the next interval connects again, and the recovery is logged;
//! - permission denied (the read-write socket needs the `libvirt` group or polkit): logged with
//!   what to do; `read_only: true` needs no group on `qemu:///system`.
//! - a libvirtd that stops answering (libvirt's calls have no timeout of their own): a scrape
//!   is given up on after one `collection_interval` (at least 5 s), counted as
//!   `cause="timeout"` and logged once; no second call is started beside the stuck one, and
//!   scraping resumes when libvirt answers. Shutdown does not wait for the stuck call.
//!
//! Counters whose value goes down (a domain restarted) start a new series: the start time of
//! the domain's cumulative points is reset when its CPU time decreases.
//!
//! The receiver is built with the cargo feature `libvirt` (it links libvirt, Debian's
//! `libvirt-dev`); without it, a config that uses it is refused with that explanation.
//!
//! Metrics (`test:///default`, libvirt's simulated driver, defines all but the ones marked
//! QEMU/KVM only; with QEMU/KVM the bulk answer has every group, plus `cpu.user`/`cpu.system`,
//! `vcpu.N.wait`, `block.N.rd.times`/`wr.times`/`fl.*`, and no `block.N.errors`):
//!
//! | metric | unit | type | attributes | libvirt source [fill-in call] |
//! |---|---|---|---|---|
//! | `libvirt.domain.state` | `{domain}` | updowncounter (int) | `libvirt.domain.state` | state.state (virDomainState) |
//! | `libvirt.domain.cpu.time` | `s` | counter (double) |  | cpu.time ns [virDomainGetInfo cpuTime] |
//! | `libvirt.domain.vcpu.time` | `s` | counter (double) | `libvirt.vcpu.id` | vcpu.N.time ns [virDomainGetVcpus cpuTime] |
//! | `libvirt.domain.vcpu.wait` | `s` | counter (double) | `libvirt.vcpu.id` | vcpu.N.wait ns (QEMU/KVM only) |
//! | `libvirt.domain.vcpu.count` | `{vcpu}` | updowncounter (int) |  | vcpu.current [virDomainGetInfo nrVirtCpu] |
//! | `libvirt.domain.vcpu.limit` | `{vcpu}` | updowncounter (int) |  | vcpu.maximum [virDomainGetInfo nrVirtCpu] |
//! | `libvirt.domain.memory.assigned` | `By` | updowncounter (int) |  | balloon.current KiB [virDomainGetInfo memory] |
//! | `libvirt.domain.memory.limit` | `By` | updowncounter (int) |  | balloon.maximum KiB [virDomainGetInfo maxMem] |
//! | `libvirt.domain.memory.available` | `By` | updowncounter (int) |  | balloon.available KiB [virDomainMemoryStats AVAILABLE] |
//! | `libvirt.domain.memory.unused` | `By` | updowncounter (int) |  | balloon.unused KiB [virDomainMemoryStats UNUSED] |
//! | `libvirt.domain.memory.usable` | `By` | updowncounter (int) |  | balloon.usable KiB [virDomainMemoryStats USABLE] |
//! | `libvirt.domain.memory.disk_caches` | `By` | updowncounter (int) |  | balloon.disk_caches KiB [virDomainMemoryStats DISK_CACHES] |
//! | `libvirt.domain.memory.rss` | `By` | updowncounter (int) |  | balloon.rss KiB [virDomainMemoryStats RSS] |
//! | `libvirt.domain.memory.swap` | `By` | counter (int) | `system.paging.direction` | balloon.swap_in, balloon.swap_out KiB [virDomainMemoryStats SWAP_IN/SWAP_OUT] |
//! | `libvirt.domain.memory.page_faults` | `{fault}` | counter (int) | `system.paging.fault.type` | balloon.major_fault, balloon.minor_fault [virDomainMemoryStats MAJOR_FAULT/MINOR_FAULT] |
//! | `libvirt.domain.disk.io` | `By` | counter (int) | `system.device`, `disk.io.direction` | block.N.rd.bytes, block.N.wr.bytes [virDomainBlockStats] |
//! | `libvirt.domain.disk.operations` | `{operation}` | counter (int) | `system.device`, `disk.io.direction` | block.N.rd.reqs, block.N.wr.reqs [virDomainBlockStats] |
//! | `libvirt.domain.disk.operation_time` | `s` | counter (double) | `system.device`, `disk.io.direction` | block.N.rd.times, block.N.wr.times ns (QEMU/KVM only) |
//! | `libvirt.domain.disk.errors` | `{error}` | counter (int) | `system.device` | block.N.errors [virDomainBlockStats errs] (Xen and the test driver; QEMU does not count them) |
//! | `libvirt.domain.disk.capacity` | `By` | updowncounter (int) | `system.device` | block.N.capacity [virDomainGetBlockInfo] |
//! | `libvirt.domain.disk.allocation` | `By` | updowncounter (int) | `system.device` | block.N.allocation [virDomainGetBlockInfo] |
//! | `libvirt.domain.disk.physical` | `By` | updowncounter (int) | `system.device` | block.N.physical [virDomainGetBlockInfo] |
//! | `libvirt.domain.network.io` | `By` | counter (int) | `network.interface.name`, `network.io.direction` | net.N.rx.bytes, net.N.tx.bytes [virDomainInterfaceStats] |
//! | `libvirt.domain.network.packets` | `{packet}` | counter (int) | `network.interface.name`, `network.io.direction` | net.N.rx.pkts, net.N.tx.pkts [virDomainInterfaceStats] |
//! | `libvirt.domain.network.errors` | `{error}` | counter (int) | `network.interface.name`, `network.io.direction` | net.N.rx.errs, net.N.tx.errs [virDomainInterfaceStats] |
//! | `libvirt.domain.network.dropped` | `{packet}` | counter (int) | `network.interface.name`, `network.io.direction` | net.N.rx.drop, net.N.tx.drop [virDomainInterfaceStats] |

mod config;
pub mod metrics;
mod receiver;
#[cfg(test)]
mod tests;

pub use config::Config;
pub use receiver::Factory;
#[cfg(feature = "libvirt")]
pub use receiver::{LibvirtReceiver, LibvirtScraper};

/// The type name in configs.
pub const TYPE: &str = "libvirt";
