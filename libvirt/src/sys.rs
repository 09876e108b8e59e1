//! The FFI side (feature `sys`): every `unsafe` block of Strata's libvirt support is here.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::ptr;
use std::sync::Once;

use virt_sys as v;

use crate::{DomainStats, Error, Value, devices};

static INIT: Once = Once::new();

/// libvirt's default error handler prints every error to stderr; errors are read with
/// `virGetLastError` and reported through Strata's logs instead.
unsafe extern "C" fn quiet(_data: *mut c_void, _err: v::virErrorPtr) {}

fn init() {
    INIT.call_once(|| {
        // SAFETY: called once, before any other libvirt call of this process (libvirt asks
        // multi-threaded programs to call virInitialize first); `quiet` ignores its arguments.
        unsafe {
            v::virInitialize();
            v::virSetErrorFunc(ptr::null_mut(), Some(quiet));
        }
    });
}

/// The calling thread's last libvirt error (libvirt keeps it per thread), or `what` when there
/// is none.
fn last_error(what: &str) -> Error {
    // SAFETY: virGetLastError returns null or a pointer to this thread's error, valid until
    // the next libvirt call on this thread; its strings are copied before that.
    unsafe {
        let e = v::virGetLastError();
        if e.is_null() {
            return Error {
                code: 0,
                domain: 0,
                message: format!("{what} failed"),
            };
        }
        let message = if (*e).message.is_null() {
            format!("{what} failed")
        } else {
            CStr::from_ptr((*e).message).to_string_lossy().into_owned()
        };
        let out = Error {
            code: (*e).code,
            domain: (*e).domain,
            message,
        };
        v::virResetLastError();
        out
    }
}

/// A connection to a libvirt driver (`virConnectPtr`). libvirt connections may be used from
/// several threads at once; calls block (run them off an async runtime's workers).
pub struct Connection {
    ptr: v::virConnectPtr,
}

// SAFETY: libvirt's public API is thread-safe for a connection shared between threads
// ("libvirt is thread-safe ... a virConnectPtr may be used from multiple threads", libvirt's
// threading docs); the pointer is only freed in Drop.
unsafe impl Send for Connection {}
// SAFETY: as above.
unsafe impl Sync for Connection {}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from virConnectOpen* and is closed once.
        unsafe {
            v::virConnectClose(self.ptr);
        }
    }
}

impl Connection {
    /// Opens `uri` (`qemu:///system`, `test:///default`, `qemu+ssh://host/system`, ...),
    /// read-only when `read_only` (`virConnectOpenReadOnly`: enough for statistics, and
    /// allowed to any local user on the read-only socket).
    ///
    /// # Errors
    /// libvirt's error: no such driver, the daemon is not running, permission denied, ...
    pub fn open(uri: &str, read_only: bool) -> Result<Connection, Error> {
        init();
        let c = CString::new(uri).map_err(|_| Error {
            code: 0,
            domain: 0,
            message: "the URI contains a NUL byte".into(),
        })?;
        // SAFETY: `c` is a valid C string for the duration of the call.
        let ptr = unsafe {
            if read_only {
                v::virConnectOpenReadOnly(c.as_ptr())
            } else {
                v::virConnectOpen(c.as_ptr())
            }
        };
        if ptr.is_null() {
            return Err(last_error("virConnectOpen"));
        }
        Ok(Connection { ptr })
    }

    /// Whether the connection still works (`virConnectIsAlive`: false once the daemon went
    /// away).
    pub fn is_alive(&self) -> bool {
        // SAFETY: `ptr` is open.
        unsafe { v::virConnectIsAlive(self.ptr) == 1 }
    }

    /// Statistics of every domain, active or not: one `virConnectGetAllDomainStats` call (all
    /// groups the driver supports), then, for running domains, per-domain calls for the groups
    /// it left out (see the crate docs).
    ///
    /// # Errors
    /// The bulk call failed (connection lost, permission denied). A per-domain call that fails
    /// leaves its group out of that domain.
    pub fn domain_stats(&self) -> Result<Vec<DomainStats>, Error> {
        let mut records: *mut v::virDomainStatsRecordPtr = ptr::null_mut();
        // SAFETY: `ptr` is open; on success libvirt stores a NULL-terminated array of `n`
        // records in `records`, freed below with virDomainStatsRecordListFree (which also
        // releases each record's domain reference).
        let n = unsafe { v::virConnectGetAllDomainStats(self.ptr, 0, &mut records, 0) };
        if n < 0 {
            return Err(last_error("virConnectGetAllDomainStats"));
        }
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for i in 0..usize::try_from(n).unwrap_or(0) {
            // SAFETY: `records` holds `n` valid record pointers.
            let rec = unsafe { *records.add(i) };
            if rec.is_null() {
                break;
            }
            // SAFETY: `rec` is a valid record until the list is freed; its parameters are
            // copied out here.
            let (dom, params) = unsafe { ((*rec).dom, read_params((*rec).params, (*rec).nparams)) };
            let mut s = DomainStats {
                name: domain_name(dom),
                uuid: domain_uuid(dom),
                params: params.into_iter().collect(),
                filled: Vec::new(),
            };
            fill(dom, &mut s);
            out.push(s);
        }
        // SAFETY: `records` came from virConnectGetAllDomainStats and is freed once.
        unsafe { v::virDomainStatsRecordListFree(records) };
        Ok(out)
    }
}

/// Copies `n` typed parameters out of libvirt's array.
///
/// # Safety
/// `params` points to `n` initialized `virTypedParameter`s (or `n` is 0).
unsafe fn read_params(params: v::virTypedParameterPtr, n: c_int) -> Vec<(String, Value)> {
    let n = usize::try_from(n).unwrap_or(0);
    if params.is_null() || n == 0 {
        return Vec::new();
    }
    // SAFETY: the caller's contract.
    let params = unsafe { std::slice::from_raw_parts(params, n) };
    let mut out = Vec::with_capacity(n);
    for p in params {
        // `field` is NUL-terminated within its 80 bytes (VIR_TYPED_PARAM_FIELD_LENGTH).
        let field: Vec<u8> = p
            .field
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        let key = String::from_utf8_lossy(&field).into_owned();
        // SAFETY: `type_` says which union member libvirt set.
        let value = unsafe {
            match p.type_ as c_uint {
                v::VIR_TYPED_PARAM_INT => Value::Int(i64::from(p.value.i)),
                v::VIR_TYPED_PARAM_UINT => Value::UInt(u64::from(p.value.ui)),
                v::VIR_TYPED_PARAM_LLONG => Value::Int(p.value.l),
                v::VIR_TYPED_PARAM_ULLONG => Value::UInt(p.value.ul),
                v::VIR_TYPED_PARAM_DOUBLE => Value::Double(p.value.d),
                v::VIR_TYPED_PARAM_BOOLEAN => Value::Bool(p.value.b != 0),
                v::VIR_TYPED_PARAM_STRING if !p.value.s.is_null() => {
                    Value::String(CStr::from_ptr(p.value.s).to_string_lossy().into_owned())
                }
                _ => continue,
            }
        };
        out.push((key, value));
    }
    out
}

fn domain_name(dom: v::virDomainPtr) -> String {
    // SAFETY: `dom` is valid; the name is owned by the domain object and copied here.
    unsafe {
        let p = v::virDomainGetName(dom);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn domain_uuid(dom: v::virDomainPtr) -> String {
    // VIR_UUID_STRING_BUFLEN: 36 characters and the NUL.
    let mut buf = [0 as c_char; 37];
    // SAFETY: `dom` is valid and `buf` has VIR_UUID_STRING_BUFLEN bytes.
    let r = unsafe { v::virDomainGetUUIDString(dom, buf.as_mut_ptr()) };
    if r < 0 {
        return String::new();
    }
    // SAFETY: libvirt wrote a NUL-terminated string into `buf`.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Per-domain calls for the groups the bulk answer left out, for a running domain.
fn fill(dom: v::virDomainPtr, s: &mut DomainStats) {
    // SAFETY: `dom` is valid.
    if unsafe { v::virDomainIsActive(dom) } != 1 {
        return;
    }
    let has = |g: &str| s.has_group(g);
    let (need_cpu, need_vcpu, need_balloon, need_block, need_net) = (
        !has("cpu"),
        !has("vcpu"),
        !has("balloon"),
        !has("block"),
        !has("net"),
    );
    let mut put = |k: String, val: Value| {
        s.params.entry(k).or_insert(val);
    };
    let mut filled = Vec::new();
    let mut info: v::virDomainInfo = unsafe { std::mem::zeroed() };
    // SAFETY: `dom` is valid; `info` is a plain struct libvirt fills.
    let have_info = unsafe { v::virDomainGetInfo(dom, &mut info) } == 0;
    if !have_info {
        let _ = last_error("virDomainGetInfo");
    }
    if have_info && need_cpu {
        put("cpu.time".into(), Value::UInt(info.cpuTime));
        filled.push("cpu");
    }
    if have_info && need_vcpu {
        let nr = u64::from(info.nrVirtCpu);
        put("vcpu.current".into(), Value::UInt(nr));
        put("vcpu.maximum".into(), Value::UInt(nr));
        let mut vcpus: Vec<v::virVcpuInfo> = vec![unsafe { std::mem::zeroed() }; nr as usize];
        // SAFETY: `vcpus` has room for `nr` entries; no CPU maps are asked for.
        let got = unsafe {
            v::virDomainGetVcpus(
                dom,
                vcpus.as_mut_ptr(),
                c_int::from(info.nrVirtCpu),
                ptr::null_mut(),
                0,
            )
        };
        if got < 0 {
            let _ = last_error("virDomainGetVcpus");
        }
        for vc in vcpus.iter().take(usize::try_from(got).unwrap_or(0)) {
            put(
                format!("vcpu.{}.state", vc.number),
                Value::Int(i64::from(vc.state)),
            );
            put(format!("vcpu.{}.time", vc.number), Value::UInt(vc.cpuTime));
        }
        filled.push("vcpu");
    }
    if need_balloon {
        if have_info {
            put("balloon.current".into(), Value::UInt(info.memory as u64));
            put("balloon.maximum".into(), Value::UInt(info.maxMem as u64));
        }
        let mut stats: Vec<v::virDomainMemoryStatStruct> =
            vec![unsafe { std::mem::zeroed() }; v::VIR_DOMAIN_MEMORY_STAT_NR as usize];
        // SAFETY: `stats` has VIR_DOMAIN_MEMORY_STAT_NR entries.
        let got = unsafe {
            v::virDomainMemoryStats(
                dom,
                stats.as_mut_ptr(),
                v::VIR_DOMAIN_MEMORY_STAT_NR as c_uint,
                0,
            )
        };
        if got < 0 {
            let _ = last_error("virDomainMemoryStats");
        }
        for st in stats.iter().take(usize::try_from(got).unwrap_or(0)) {
            // The bulk call's names for virDomainMemoryStatTags (libvirt's
            // qemuDomainGetStatsBalloon).
            let key = match st.tag as c_uint {
                v::VIR_DOMAIN_MEMORY_STAT_SWAP_IN => "swap_in",
                v::VIR_DOMAIN_MEMORY_STAT_SWAP_OUT => "swap_out",
                v::VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT => "major_fault",
                v::VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT => "minor_fault",
                v::VIR_DOMAIN_MEMORY_STAT_UNUSED => "unused",
                v::VIR_DOMAIN_MEMORY_STAT_AVAILABLE => "available",
                v::VIR_DOMAIN_MEMORY_STAT_RSS => "rss",
                v::VIR_DOMAIN_MEMORY_STAT_USABLE => "usable",
                v::VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE => "last-update",
                v::VIR_DOMAIN_MEMORY_STAT_DISK_CACHES => "disk_caches",
                v::VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC => "hugetlb_pgalloc",
                v::VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL => "hugetlb_pgfail",
                _ => continue,
            };
            put(format!("balloon.{key}"), Value::UInt(st.val));
        }
        filled.push("balloon");
    }
    if need_block || need_net {
        let devs = domain_xml(dom).and_then(|x| devices(&x).ok());
        if let Some(devs) = devs {
            if need_block {
                fill_blocks(dom, &devs.disks, &mut put);
                filled.push("block");
            }
            if need_net {
                fill_interfaces(dom, &devs.interfaces, &mut put);
                filled.push("net");
            }
        }
    }
    s.filled = filled;
}

fn domain_xml(dom: v::virDomainPtr) -> Option<String> {
    // SAFETY: `dom` is valid; the returned string is the caller's, freed here after copying.
    unsafe {
        let p = v::virDomainGetXMLDesc(dom, 0);
        if p.is_null() {
            let _ = last_error("virDomainGetXMLDesc");
            return None;
        }
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        libc_free(p.cast());
        Some(s)
    }
}

unsafe extern "C" {
    #[link_name = "free"]
    fn libc_free(p: *mut c_void);
}

fn fill_blocks(dom: v::virDomainPtr, disks: &[String], put: &mut impl FnMut(String, Value)) {
    put("block.count".into(), Value::UInt(disks.len() as u64));
    for (i, name) in disks.iter().enumerate() {
        put(format!("block.{i}.name"), Value::String(name.clone()));
        let Ok(c) = CString::new(name.as_str()) else {
            continue;
        };
        let mut st: v::virDomainBlockStatsStruct = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a C string; `st` is a plain struct of the size passed.
        let r = unsafe {
            v::virDomainBlockStats(
                dom,
                c.as_ptr(),
                &mut st,
                std::mem::size_of::<v::virDomainBlockStatsStruct>(),
            )
        };
        if r == 0 {
            // -1 means "not known" in virDomainBlockStats.
            for (k, val) in [
                ("rd.reqs", st.rd_req),
                ("rd.bytes", st.rd_bytes),
                ("wr.reqs", st.wr_req),
                ("wr.bytes", st.wr_bytes),
                ("errors", st.errs),
            ] {
                if val >= 0 {
                    put(format!("block.{i}.{k}"), Value::UInt(val as u64));
                }
            }
        } else {
            let _ = last_error("virDomainBlockStats");
        }
        let mut bi: v::virDomainBlockInfo = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { v::virDomainGetBlockInfo(dom, c.as_ptr(), &mut bi, 0) } == 0 {
            put(format!("block.{i}.capacity"), Value::UInt(bi.capacity));
            put(format!("block.{i}.allocation"), Value::UInt(bi.allocation));
            put(format!("block.{i}.physical"), Value::UInt(bi.physical));
        } else {
            let _ = last_error("virDomainGetBlockInfo");
        }
    }
}

fn fill_interfaces(dom: v::virDomainPtr, ifaces: &[String], put: &mut impl FnMut(String, Value)) {
    put("net.count".into(), Value::UInt(ifaces.len() as u64));
    for (i, name) in ifaces.iter().enumerate() {
        put(format!("net.{i}.name"), Value::String(name.clone()));
        let Ok(c) = CString::new(name.as_str()) else {
            continue;
        };
        let mut st: v::virDomainInterfaceStatsStruct = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a C string; `st` is a plain struct of the size passed.
        let r = unsafe {
            v::virDomainInterfaceStats(
                dom,
                c.as_ptr(),
                &mut st,
                std::mem::size_of::<v::virDomainInterfaceStatsStruct>(),
            )
        };
        if r != 0 {
            let _ = last_error("virDomainInterfaceStats");
            continue;
        }
        for (k, val) in [
            ("rx.bytes", st.rx_bytes),
            ("rx.pkts", st.rx_packets),
            ("rx.errs", st.rx_errs),
            ("rx.drop", st.rx_drop),
            ("tx.bytes", st.tx_bytes),
            ("tx.pkts", st.tx_packets),
            ("tx.errs", st.tx_errs),
            ("tx.drop", st.tx_drop),
        ] {
            if val >= 0 {
                put(format!("net.{i}.{k}"), Value::UInt(val as u64));
            }
        }
    }
}
