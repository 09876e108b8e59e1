//! `resourcedetection` processor (enrichment from the environment): detects the identity of
//! where Strata runs — host, OS, Kubernetes pod and node, DPU card — once when the pipeline is
//! built (at start and at each reload), and stamps it onto the resource of every span, data
//! point and log record, with the OpenTelemetry Collector's `resourcedetectionprocessor`
//! config shape.
//!
//! ```yaml
//! processors:
//!   resourcedetection:
//!     detectors: [env, k8s, dpu, system]   # first to set an attribute wins
//!     override: false                      # keep what the data already says
//!     system:
//!       root_path: /hostfs
//!       resource_attributes:
//!         host.id: {enabled: false}
//!     dpu:
//!       root_path: /hostfs
//!       name: ${env:STRATA_DPU_NAME}
//! ```
//!
//! | detector | attributes | source |
//! |---|---|---|
//! | `env` | any | `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-decoded; a malformed value is discarded whole with a warning) |
//! | `system` | `host.name`, `host.id`, `host.arch`, `os.type`, `os.description`, `os.version` | `<root_path>/proc/sys/kernel/hostname`, `/etc/machine-id` (or `/var/lib/dbus/machine-id`), the build target, `/etc/os-release` and `/proc/sys/kernel/osrelease` |
//! | `k8s` | `k8s.pod.name`, `k8s.pod.uid`, `k8s.namespace.name`, `k8s.node.name`, `k8s.cluster.name` | the downward-API variables `K8S_POD_NAME`, `K8S_POD_UID`, `K8S_NAMESPACE`, `K8S_NODE_NAME`, `K8S_CLUSTER_NAME` (renamed with `k8s.env_vars`) |
//! | `k8snode` | `k8s.node.name` | the variable `k8snode.node_from_env_var` (default `K8S_NODE_NAME`); no API-server call |
//! | `dpu` (or `dmi`) | `dpu.vendor`, `dpu.model`, `dpu.serial_number`, `dpu.name` | `<root_path>/sys/class/dmi/id/` `sys_vendor`/`board_vendor`, `product_name`/`board_name`, `product_serial`/`board_serial`; each replaced by `vendor`, `model`, `serial_number` when configured; `name` from config only |
//!
//! Every attribute can be switched off with `<detector>.resource_attributes.<name>.enabled:
//! false`. A missing or unreadable source sets nothing (firmware placeholders such as
//! `To be filled by O.E.M.` count as missing); detection never fails the pipeline. `override:
//! true` (the default, as in the Collector) replaces an attribute the data already has; `false`
//! only adds missing ones. The semantic conventions have no attributes for a DPU or SmartNIC
//! card, so the `dpu.*` names are Strata's own. `timeout` is accepted and unused: nothing is
//! fetched over the network.

mod config;
pub mod detect;
mod processor;

pub use config::{Config, Detector, DpuConfig, K8sConfig, SystemConfig};
pub use processor::{Factory, ResourceDetectionProcessor};

/// The type name in configs.
pub const TYPE: &str = "resourcedetection";

#[cfg(test)]
mod tests;
