//! `spdk_trace` receiver: SPDK tracepoints → one span per storage I/O, for Jaeger and Zipkin.
//!
//! SPDK records each NVMe-oF request, bdev I/O, NVMe command and socket request in a shared
//! memory ring (`spdk_tgt -e nvmf_tcp,bdev,nvme_tcp,bdev_nvme`), with nanosecond-grade TSC
//! timestamps and parent links; `spdk_trace -j` prints it as JSON. This receiver reads that
//! JSON and pairs the entries into spans:
//!
//! ```yaml
//! receivers:
//!   spdk_trace:
//!     # Either a file that snapshots are written to (replaced, or appended to):
//!     file: /var/run/spdk/trace.json
//!     # or a command run every interval, whose stdout is the JSON (argv, no shell). With
//!     # `ring`, the newest matching trace ring is copied first and `{ring}` names the copy: a
//!     # live `spdk_trace -s` reads the ring while SPDK overwrites it, and tears entries under load.
//!     # command: [spdk_trace, -f, "{ring}", -j]
//!     # ring: /dev/shm/spdk_tgt_trace.pid*
//!     collection_interval: 10s
//!     timeout: 60s                 # the command's deadline
//!     max_open: 10s                # open spans older than this (trace time) are dropped
//!     max_document_mib: 512        # a larger document is refused
//!     service_name: spdk           # the resource's service.name
//!     sampling:
//!       ratio: 1.0                 # fraction of request trees kept (by trace id)
//!       latency_threshold: 1ms     # trees whose root took at least this are always kept
//! ```
//!
//! **Spans.** An entry of a `new_object` tracepoint opens its object's span; the object's
//! completion tracepoint closes it (`TCP_REQ_COMPLETED`, `BDEV_IO_DONE`, `BDEV_NVME_IO_DONE`,
//! `NVME_TCP_COMPLETE`, `NVME_PCIE_COMPLETE`, `SOCK_REQ_COMPLETE`, and for other groups a name
//! ending in `_DONE`/`_COMPLETE`/`_COMPLETED`); entries in between are span events. The span
//! lasts end tsc − start tsc ticks (equal to the closing entry's `object.time`), converted with
//! `tsc_rate`; `spdk.ticks` keeps the exact tick count. `related` makes the parent, so one NVMe-oF
//! request is one trace: `nvmf_tcp.request` → `bdev.io` → `bdev_nvme.io` → `nvme_tcp.command`
//! → `sock.request`.
//!
//! | span | kind | start → end tracepoint | attributes (besides `spdk.lcore`, `spdk.owner`, `spdk.owner.description`, `spdk.ticks`) |
//! |---|---|---|---|
//! | `nvmf_tcp.request` | server | TCP_REQ_NEW → TCP_REQ_COMPLETED | `spdk.queue_depth`, `client.address`, `client.port`, `spdk.nvmf.subsystem.nqn` (from the qpair's description, v26.05) |
//! | `bdev.io` | internal | BDEV_IO_START → BDEV_IO_DONE | `spdk.bdev.io.type` (`read`, `write`, ... of `enum spdk_bdev_io_type`), `spdk.bdev.offset_blocks`, `spdk.bdev.num_blocks`, `spdk.queue_depth`, `spdk.bdev.name` (v26.05 owner) |
//! | `bdev_nvme.io` | internal | BDEV_NVME_IO_START → BDEV_NVME_IO_DONE | — |
//! | `nvme_tcp.command`, `nvme_pcie.command` | client | NVME_TCP_SUBMIT → NVME_TCP_COMPLETE (PCIE alike) | `spdk.nvme.qid`, `spdk.nvme.cid`, `spdk.nvme.opc`, `spdk.nvme.opc.name`, `spdk.nvme.slba` (dw10), `spdk.nvme.nlb` (dw12 + 1), `spdk.queue_depth`, `spdk.nvme.status` and status Error when `cpl` ≠ 0 |
//! | `sock.request` | internal | SOCK_REQ_QUEUE → SOCK_REQ_COMPLETE | `spdk.sock.bytes` |
//! | (start tracepoint's name, lowercase) | internal | any other `new_object` → `_DONE`/`_COMPLETE` | `spdk.tpoint.<arg>` for each integer or string argument |
//!
//! Events carry the tracepoint name and `spdk.tpoint.<arg>` attributes. Pointer arguments
//! (`ctx`) are left out. The resource has `service.name` and `spdk.trace.source`.
//!
//! **Time.** TSC values are mapped to Unix time by anchoring the snapshot's newest entry at the
//! moment the snapshot was taken (the file's modification time, or when the command finished);
//! the anchor is kept while later snapshots agree within a second, so spans of successive
//! snapshots line up.
//!
//! **Across snapshots.** Entries already read from an earlier snapshot are skipped (per lcore,
//! at or below its newest tsc); spans still open at the end of one snapshot are closed by the
//! next, and dropped (counted) once open longer than `max_open`.
//!
//! **Bounds.** A command's output is read up to `max_document_mib`; a command that prints
//! more is killed and its output refused. Spans a busy pipeline keeps refusing are held and
//! offered again next interval (at most 100,000; older ones beyond that are dropped and
//! counted as refused).
//!
//! **Counters** (`strata_receiver_spdk_trace_spans{receiver,outcome}`): `completed` (start and
//! end seen), `kept`, `sampled_out`, `dropped_open`; `strata_receiver_spdk_trace_entries_unmatched`
//! (entries of objects whose start was never seen); `strata_receiver_spdk_trace_documents{outcome}`
//! (`parsed`, `invalid`).

mod pairing;
mod parse;
mod receiver;
mod tpoints;

pub use pairing::{Counts, FinishedTree, Options, Pairing};
pub use parse::{Arg, Entry, EntryObject, Header, Sink, Tpoint, TpointArg, documents, parse};
pub use receiver::{Config, Factory, Sampling, SpdkTraceReceiver};

/// The type name in configs.
pub const TYPE: &str = "spdk_trace";

#[cfg(test)]
mod tests;
