//! A small safe layer over libvirt's C API, for Strata's `libvirt` receiver.
//!
//! - [`DomainStats`]: one domain's statistics as libvirt's typed parameters
//!   (`virConnectGetAllDomainStats`, "Domain statistics" in libvirt's `virsh domstats` docs):
//!   keys such as `state.state`, `cpu.time`, `vcpu.0.time`, `balloon.rss`, `block.0.rd.bytes`,
//!   `net.0.tx.pkts`, values as [`Value`].
//! - [`Connection`] (feature `sys`, which links libvirt): one bulk call per scrape; a stats
//!   group the driver leaves out of the bulk answer (the `test` driver answers only `state`;
//!   older or non-QEMU drivers leave out others) is filled, for running domains, from the
//!   per-domain calls that carry the same values (`virDomainGetInfo`, `virDomainGetVcpus`,
//!   `virDomainMemoryStats`, `virDomainBlockStats`, `virDomainGetBlockInfo`,
//!   `virDomainInterfaceStats`), under the bulk call's key names. [`DomainStats::filled`] says
//!   which groups were.
//! - [`devices`]: the disk and interface target names of a domain's XML, which the per-domain
//!   calls take.
//!
//! Everything libvirt allocates is freed before a call returns (the record list with
//! `virDomainStatsRecordListFree`, strings with `free`); the `sys` tests scrape 10,000 times
//! and check that the process's RSS stays flat. Without `sys`, only the plain types and the XML
//! reader are built, so a workspace without libvirt installed still builds.
#![deny(rust_2018_idioms, unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;

#[cfg(feature = "sys")]
mod sys;
#[cfg(feature = "sys")]
pub use sys::Connection;

/// One typed-parameter value (`virTypedParameterType`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `VIR_TYPED_PARAM_INT`, `VIR_TYPED_PARAM_LLONG`.
    Int(i64),
    /// `VIR_TYPED_PARAM_UINT`, `VIR_TYPED_PARAM_ULLONG`.
    UInt(u64),
    /// `VIR_TYPED_PARAM_DOUBLE`.
    Double(f64),
    /// `VIR_TYPED_PARAM_BOOLEAN`.
    Bool(bool),
    /// `VIR_TYPED_PARAM_STRING`.
    String(String),
}

impl Value {
    /// The value as an unsigned integer: integers ≥ 0 and booleans; `None` otherwise.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::UInt(u) => Some(*u),
            Value::Bool(b) => Some(u64::from(*b)),
            Value::Double(_) | Value::String(_) => None,
        }
    }

    /// The value as a string, for `String` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One domain's statistics (a `virDomainStatsRecord`, plus what per-domain calls filled in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DomainStats {
    /// The domain's name (`virDomainGetName`).
    pub name: String,
    /// The domain's UUID, RFC 4122 text (`virDomainGetUUIDString`).
    pub uuid: String,
    /// Typed parameters by key, as `virConnectGetAllDomainStats` names them.
    pub params: BTreeMap<String, Value>,
    /// Stats groups (`cpu`, `vcpu`, `balloon`, `block`, `net`) that the bulk call left out and
    /// per-domain calls filled in.
    pub filled: Vec<&'static str>,
}

impl DomainStats {
    /// The unsigned value of `key`, if present and an unsigned integer.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.params.get(key).and_then(Value::as_u64)
    }

    /// The string value of `key`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// Whether any key of the group `prefix` (`"block"` for `block.*`) is present.
    pub fn has_group(&self, prefix: &str) -> bool {
        let p = format!("{prefix}.");
        self.params
            .range(p.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&p))
    }
}

/// A libvirt error (`virError`): its number (`virErrorNumber`), the module that raised it
/// (`virErrorDomain`) and libvirt's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// `virErrorNumber` (e.g. 38 `VIR_ERR_SYSTEM_ERROR`, 42 `VIR_ERR_NO_DOMAIN`).
    pub code: i32,
    /// `virErrorDomain`.
    pub domain: i32,
    /// libvirt's message, or what failed when libvirt gave none.
    pub message: String,
}

/// `VIR_ERR_NO_SUPPORT`.
pub const ERR_NO_SUPPORT: i32 = 3;
/// `VIR_ERR_OPERATION_DENIED`.
pub const ERR_OPERATION_DENIED: i32 = 29;
/// `VIR_ERR_SYSTEM_ERROR`.
pub const ERR_SYSTEM_ERROR: i32 = 38;
/// `VIR_ERR_RPC`.
pub const ERR_RPC: i32 = 39;
/// `VIR_ERR_NO_DOMAIN`.
pub const ERR_NO_DOMAIN: i32 = 42;
/// `VIR_ERR_AUTH_FAILED`.
pub const ERR_AUTH_FAILED: i32 = 45;
/// `VIR_ERR_OPERATION_INVALID`.
pub const ERR_OPERATION_INVALID: i32 = 55;
/// `VIR_ERR_AUTH_CANCELLED`.
pub const ERR_AUTH_CANCELLED: i32 = 79;
/// `VIR_ERR_OPERATION_UNSUPPORTED`.
pub const ERR_OPERATION_UNSUPPORTED: i32 = 84;
/// `VIR_ERR_ACCESS_DENIED`.
pub const ERR_ACCESS_DENIED: i32 = 88;
/// `VIR_ERR_AUTH_UNAVAILABLE`.
pub const ERR_AUTH_UNAVAILABLE: i32 = 94;

impl Error {
    /// The caller may not do this: authentication failed or is unavailable, the access-control
    /// driver refused, or the socket could not be opened for lack of permission.
    pub fn is_permission(&self) -> bool {
        matches!(
            self.code,
            ERR_OPERATION_DENIED
                | ERR_AUTH_FAILED
                | ERR_AUTH_CANCELLED
                | ERR_ACCESS_DENIED
                | ERR_AUTH_UNAVAILABLE
        ) || self.message.contains("Permission denied")
    }

    /// The domain is gone or not running (it went away during the scrape).
    pub fn is_domain_gone(&self) -> bool {
        matches!(self.code, ERR_NO_DOMAIN | ERR_OPERATION_INVALID)
    }

    /// The driver does not implement the call.
    pub fn is_unsupported(&self) -> bool {
        matches!(self.code, ERR_NO_SUPPORT | ERR_OPERATION_UNSUPPORTED)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (libvirt error {})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

/// The devices of a domain that per-domain statistics calls take by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    /// Disk targets (`<devices><disk><target dev="vda"/>`), in document order.
    pub disks: Vec<String>,
    /// Interface targets (`<devices><interface><target dev="vnet0"/>`), in document order;
    /// interfaces without a target (not started) are left out.
    pub interfaces: Vec<String>,
}

/// Reads the disk and interface target names from a domain's XML (`virDomainGetXMLDesc`,
/// libvirt's domain XML format, `<domain><devices>`).
///
/// # Errors
/// The text is not well-formed XML or its root is not `<domain>`.
pub fn devices(xml: &str) -> Result<Devices, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("domain XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(format!(
            "domain XML: the root is <{}>, not <domain>",
            root.tag_name().name()
        ));
    }
    let mut out = Devices::default();
    for devs in root.children().filter(|n| n.has_tag_name("devices")) {
        for d in devs.children().filter(|n| n.is_element()) {
            let target = d
                .children()
                .find(|n| n.has_tag_name("target"))
                .and_then(|t| t.attribute("dev"))
                .filter(|s| !s.is_empty());
            match (d.tag_name().name(), target) {
                ("disk", Some(t)) => out.disks.push(t.to_owned()),
                ("interface", Some(t)) => out.interfaces.push(t.to_owned()),
                _ => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `test:///default` driver's domain, as `virsh -c test:///default dumpxml test` printed
    /// it (libvirt 9.0.0), shortened.
    const TEST_DOMAIN: &str = r#"<domain type='test' id='1'>
  <name>test</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
    </interface>
    <interface type='network'><source network='default'/></interface>
    <memballoon model='virtio'/>
  </devices>
</domain>"#;

    #[test]
    fn targets_of_disks_and_started_interfaces() {
        let d = devices(TEST_DOMAIN).unwrap();
        assert_eq!(d.disks, vec!["vda", "sda"]);
        assert_eq!(d.interfaces, vec!["testnet0"]);
    }

    #[test]
    fn not_a_domain_is_an_error() {
        assert!(devices("<network/>").unwrap_err().contains("not <domain>"));
        assert!(devices("<domain>").unwrap_err().starts_with("domain XML"));
    }

    #[test]
    fn groups_and_values() {
        let mut s = DomainStats::default();
        s.params.insert("block.count".into(), Value::UInt(1));
        s.params.insert("blocky".into(), Value::UInt(1));
        s.params.insert("state.state".into(), Value::Int(1));
        assert!(s.has_group("block") && s.has_group("state"));
        assert!(!s.has_group("net") && !s.has_group("bloc"));
        assert_eq!(s.u64("state.state"), Some(1));
        assert_eq!(Value::Int(-1).as_u64(), None);
    }
}
