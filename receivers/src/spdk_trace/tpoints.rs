//! What `spdk_trace -j` does not say: which tracepoints end an object, each object type's
//! label prefix, and the codes in their arguments. From SPDK's headers and trace registrations
//! (`lib/bdev/bdev.c`, `lib/nvmf/tcp.c`, `lib/nvme/nvme_tcp.c`, `lib/nvme/nvme_pcie_common.c`,
//! `module/bdev/nvme/bdev_nvme.c`, `lib/sock/sock.c`, `include/spdk_internal/trace_defs.h`),
//! checked against the v25.09 captures (the fixtures' README). Tracepoint ids are
//! `group * 64 + n` and are the same in v25.09 and v26.05.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::parse::{Arg, Entry, Tpoint};

/// What an entry does to its object's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opens the span (`new_object`).
    Start,
    /// A state change inside it (a span event).
    Event,
    /// Closes it.
    End,
}

/// A tracepoint this module knows.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Tracepoint id.
    pub id: u32,
    /// The object's label prefix (spdk_trace's `object.id` letter).
    pub object: char,
    /// Its role.
    pub role: Role,
}

const fn k(id: u32, object: char, role: Role) -> Known {
    Known { id, object, role }
}

/// The tracepoints of the bdev, nvmf_tcp, nvme_tcp, nvme_pcie, bdev_nvme and sock groups.
pub const KNOWN: &[Known] = &[
    k(192, 'i', Role::Start), // BDEV_IO_START
    k(193, 'i', Role::End),   // BDEV_IO_DONE
    k(320, 'r', Role::Start), // TCP_REQ_NEW
    k(321, 'r', Role::Event), // TCP_REQ_NEED_BUFFER
    k(322, 'r', Role::Event), // TCP_REQ_HAVE_BUFFER
    k(323, 'r', Role::Event), // TCP_REQ_WAIT_ZCPY_START
    k(324, 'r', Role::Event), // TCP_REQ_ZCPY_START_CPL
    k(325, 'r', Role::Event), // TCP_REQ_TX_H_TO_C
    k(326, 'r', Role::Event), // TCP_REQ_RDY_TO_EXECUTE
    k(327, 'r', Role::Event), // TCP_REQ_EXECUTING
    k(328, 'r', Role::Event), // TCP_REQ_WAIT_ZCPY_CMT
    k(329, 'r', Role::Event), // TCP_REQ_EXECUTED
    k(330, 'r', Role::Event), // TCP_REQ_RDY_TO_COMPLETE
    k(331, 'r', Role::Event), // TCP_REQ_TRANSFER_C2H
    k(332, 'r', Role::Event), // TCP_REQ_AWAIT_ZCPY_RLS
    k(333, 'r', Role::End),   // TCP_REQ_COMPLETED
    k(336, 'r', Role::Event), // TCP_REQ_AWAIT_R2T_ACK
    k(704, 'p', Role::Start), // NVME_PCIE_SUBMIT
    k(705, 'p', Role::End),   // NVME_PCIE_COMPLETE
    k(832, 'p', Role::Start), // NVME_TCP_SUBMIT
    k(833, 'p', Role::End),   // NVME_TCP_COMPLETE
    k(896, 'N', Role::Start), // BDEV_NVME_IO_START
    k(897, 'N', Role::End),   // BDEV_NVME_IO_DONE
    k(960, 's', Role::Start), // SOCK_REQ_QUEUE
    k(961, 's', Role::Event), // SOCK_REQ_PEND
    k(962, 's', Role::End),   // SOCK_REQ_COMPLETE
];

/// The known tracepoint `id`.
pub fn known(id: u32) -> Option<Known> {
    KNOWN.iter().find(|t| t.id == id).copied()
}

/// The role of tracepoint `id`: the table's, else from its definition (`new_object` starts;
/// a name ending in `_DONE`, `_COMPLETE` or `_COMPLETED` ends, unless it is a state before
/// completion such as `_RDY_TO_COMPLETE`; anything else is an event).
pub fn role(id: u32, def: Option<&Tpoint>) -> Role {
    if let Some(k) = known(id) {
        return k.role;
    }
    match def {
        Some(d) if d.new_object => Role::Start,
        Some(d)
            if (d.name.ends_with("_DONE")
                || d.name.ends_with("_COMPLETE")
                || d.name.ends_with("_COMPLETED"))
                && !d.name.contains("_TO_") =>
        {
            Role::End
        }
        _ => Role::Event,
    }
}

/// The span name and kind of an object started by tracepoint `id` with label `prefix`; an
/// empty name means "use the start tracepoint's name".
pub fn span_name(prefix: char, id: u32) -> (&'static str, SpanKind) {
    match (prefix, id) {
        ('r', 320) => ("nvmf_tcp.request", SpanKind::Server),
        ('i', 192) => ("bdev.io", SpanKind::Internal),
        ('N', 896) => ("bdev_nvme.io", SpanKind::Internal),
        ('p', 832) => ("nvme_tcp.command", SpanKind::Client),
        ('p', 704) => ("nvme_pcie.command", SpanKind::Client),
        ('s', 960) => ("sock.request", SpanKind::Internal),
        _ => ("", SpanKind::Internal),
    }
}

/// `enum spdk_bdev_io_type` (`include/spdk/bdev.h`) by value (0 is `invalid`).
pub fn bdev_io_type(v: u64) -> Option<&'static str> {
    match v {
        0 => Some("invalid"),
        v => crate::spdk::BDEV_IO_TYPES
            .get(usize::try_from(v - 1).ok()?)
            .copied(),
    }
}

/// NVM command set opcodes (NVMe base spec, `include/spdk/nvme_spec.h`) by value.
pub fn nvme_opc(v: u64) -> Option<&'static str> {
    Some(match v {
        0x00 => "flush",
        0x01 => "write",
        0x02 => "read",
        0x04 => "write_uncorrectable",
        0x05 => "compare",
        0x08 => "write_zeroes",
        0x09 => "dataset_management",
        0x0c => "verify",
        0x19 => "copy",
        _ => return None,
    })
}

/// The NVMe completion status (`cpl`, the raw status field) of a completion entry.
pub fn completion_status(def: Option<&Tpoint>, e: &Entry<'_>) -> Option<u64> {
    let i = def?.args.iter().position(|a| a.name == "cpl")?;
    match e.args.get(i)? {
        Arg::Int(v) => Some(*v),
        _ => None,
    }
}
