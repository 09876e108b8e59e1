//! The detectors: each returns the attributes it found, in a fixed order. A source that is
//! missing or unreadable sets nothing (and is logged at debug); detection never fails.

use std::collections::BTreeMap;
use std::path::Path;

use strata_pipelines::proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};

use super::config::{AttributeSwitch, Config, Detector, DpuConfig, K8sConfig, SystemConfig};

/// Attributes of the `system` detector (OTel semantic conventions, `host.*` and `os.*`).
pub const SYSTEM_ATTRS: &[&str] = &[
    "host.name",
    "host.id",
    "host.arch",
    "os.type",
    "os.description",
    "os.version",
];

/// Attributes of the `k8s` detector and the downward-API variables they are read from.
pub const K8S_ATTRS: &[(&str, &str)] = &[
    ("k8s.pod.name", "K8S_POD_NAME"),
    ("k8s.pod.uid", "K8S_POD_UID"),
    ("k8s.namespace.name", "K8S_NAMESPACE"),
    ("k8s.node.name", "K8S_NODE_NAME"),
    ("k8s.cluster.name", "K8S_CLUSTER_NAME"),
];

/// Attributes of the `k8snode` detector.
pub const K8SNODE_ATTRS: &[&str] = &["k8s.node.name"];

/// Attributes of the `dpu` detector and the DMI files (`sys/class/dmi/id/<file>`) they come
/// from; `dpu.name` has no file and is set from config only.
pub const DPU_ATTRS: &[&str] = &["dpu.vendor", "dpu.model", "dpu.serial_number", "dpu.name"];

const DMI_FILES: &[(&str, &[&str])] = &[
    ("dpu.vendor", &["sys_vendor", "board_vendor"]),
    ("dpu.model", &["product_name", "board_name"]),
    ("dpu.serial_number", &["product_serial", "board_serial"]),
];

/// Placeholders firmware writes into unset DMI fields; they identify nothing.
const DMI_PLACEHOLDERS: &[&str] = &[
    "",
    "To be filled by O.E.M.",
    "To Be Filled By O.E.M.",
    "Default string",
    "Not Specified",
    "Not Applicable",
    "System Product Name",
    "System manufacturer",
    "System Serial Number",
    "None",
    "0",
    "0123456789",
];

/// A string attribute.
pub fn kv(k: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Av::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn enabled(switches: &BTreeMap<String, AttributeSwitch>, attr: &str) -> bool {
    switches.get(attr).is_none_or(|s| s.enabled)
}

fn read_trimmed(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "resource detection source not readable");
            None
        }
    }
}

/// Runs every configured detector; the result has each key once, the first detector's
/// value winning. `env` reads an environment variable.
pub fn detect(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = Vec::new();
    for d in &cfg.detectors {
        let found = match d {
            Detector::Env => env_detector(env),
            Detector::System => system(&cfg.system),
            Detector::K8s => k8s(&cfg.k8s, env),
            Detector::K8snode => {
                let c = &cfg.k8snode;
                if enabled(&c.resource_attributes, "k8s.node.name") {
                    env(&c.node_from_env_var)
                        .filter(|v| !v.is_empty())
                        .map(|v| vec![kv("k8s.node.name", v)])
                        .unwrap_or_default()
                } else {
                    Vec::new()
                }
            }
            Detector::Dpu | Detector::Dmi => dpu(cfg.dpu_config()),
        };
        for a in found {
            if !out.iter().any(|o| o.key == a.key) {
                out.push(a);
            }
        }
    }
    out
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values
/// percent-decoded (OTel SDK specification, "Specifying resource information via an
/// environment variable"). A malformed value is discarded whole, with a warning.
pub fn env_detector(env: &dyn Fn(&str) -> Option<String>) -> Vec<KeyValue> {
    let Some(raw) = env("OTEL_RESOURCE_ATTRIBUTES") else {
        return Vec::new();
    };
    match parse_resource_attributes(&raw) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "OTEL_RESOURCE_ATTRIBUTES discarded");
            Vec::new()
        }
    }
}

/// Parses the `OTEL_RESOURCE_ATTRIBUTES` format.
///
/// # Errors
/// A pair without `=`, an empty key, or an invalid percent escape.
pub fn parse_resource_attributes(raw: &str) -> Result<Vec<KeyValue>, String> {
    let mut out = Vec::new();
    for pair in raw.split(',') {
        if pair.trim().is_empty() {
            continue;
        }
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{pair:?} has an empty key"));
        }
        out.push(kv(k, percent_decode(v.trim())?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// The semantic-convention `host.arch` of a Rust target arch (`std::env::consts::ARCH`).
pub fn host_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// The value of `KEY=` in an os-release file, unquoted.
fn os_release(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches('"').trim_matches('\'').to_string()).filter(|v| !v.is_empty())
    })
}

/// `host.name` (kernel hostname), `host.id` (`/etc/machine-id`, else
/// `/var/lib/dbus/machine-id`), `host.arch`, `os.type` (`linux`), `os.description`
/// (os-release `PRETTY_NAME` and the kernel release), `os.version` (os-release `VERSION_ID`),
/// all read under `root_path`.
pub fn system(c: &SystemConfig) -> Vec<KeyValue> {
    let root = &c.root_path;
    let on = |a: &str| enabled(&c.resource_attributes, a);
    let mut out = Vec::new();
    if on("host.name")
        && let Some(h) = read_trimmed(&root.join("proc/sys/kernel/hostname"))
    {
        out.push(kv("host.name", h));
    }
    if on("host.id")
        && let Some(id) = read_trimmed(&root.join("etc/machine-id"))
            .or_else(|| read_trimmed(&root.join("var/lib/dbus/machine-id")))
    {
        out.push(kv("host.id", id));
    }
    if on("host.arch") {
        out.push(kv("host.arch", host_arch(std::env::consts::ARCH)));
    }
    if on("os.type") {
        out.push(kv("os.type", std::env::consts::OS));
    }
    let release = read_trimmed(&root.join("etc/os-release"))
        .or_else(|| read_trimmed(&root.join("usr/lib/os-release")));
    let kernel = read_trimmed(&root.join("proc/sys/kernel/osrelease"));
    if on("os.description") {
        let pretty = release
            .as_deref()
            .and_then(|r| os_release(r, "PRETTY_NAME"));
        let desc = match (pretty, &kernel) {
            (Some(p), Some(k)) => Some(format!("{p} (Linux {k})")),
            (Some(p), None) => Some(p),
            (None, Some(k)) => Some(format!("Linux {k}")),
            (None, None) => None,
        };
        if let Some(d) = desc {
            out.push(kv("os.description", d));
        }
    }
    if on("os.version")
        && let Some(v) = release.as_deref().and_then(|r| os_release(r, "VERSION_ID"))
    {
        out.push(kv("os.version", v));
    }
    out
}

/// The downward-API variables ([`K8S_ATTRS`], or the ones `env_vars` names); unset or empty
/// variables set nothing.
pub fn k8s(c: &K8sConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<KeyValue> {
    K8S_ATTRS
        .iter()
        .filter(|(a, _)| enabled(&c.resource_attributes, a))
        .filter_map(|(a, var)| {
            let var = c.env_vars.get(*a).map_or(*var, String::as_str);
            env(var).filter(|v| !v.is_empty()).map(|v| kv(a, v))
        })
        .collect()
}

/// The card's identity: `dpu.vendor`, `dpu.model`, `dpu.serial_number` from
/// `<root_path>/sys/class/dmi/id` (`sys_vendor`/`board_vendor`, `product_name`/`board_name`,
/// `product_serial`/`board_serial`, the first that holds a real value), each replaced by the
/// config's value when given; `dpu.name` from config only.
pub fn dpu(c: &DpuConfig) -> Vec<KeyValue> {
    let dir = c.root_path.join("sys/class/dmi/id");
    let mut out = Vec::new();
    for (attr, files) in DMI_FILES {
        if !enabled(&c.resource_attributes, attr) {
            continue;
        }
        let configured = match *attr {
            "dpu.vendor" => &c.vendor,
            "dpu.model" => &c.model,
            _ => &c.serial_number,
        };
        let v = configured.clone().or_else(|| {
            files
                .iter()
                .filter_map(|f| read_trimmed(&dir.join(f)))
                .find(|v| !DMI_PLACEHOLDERS.contains(&v.as_str()))
        });
        if let Some(v) = v {
            out.push(kv(attr, v));
        }
    }
    if enabled(&c.resource_attributes, "dpu.name")
        && let Some(n) = &c.name
    {
        out.push(kv("dpu.name", n.clone()));
    }
    out
}
