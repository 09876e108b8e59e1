//! `resource` processor: edits resource attributes with the OpenTelemetry Collector's
//! `resourceprocessor` config — a list of [attribute actions](crate::actions) applied, in
//! order, to the resource of every batch of traces, metrics and logs.
//!
//! ```yaml
//! processors:
//!   resource:
//!     attributes:
//!       - key: k8s.cluster.name
//!         value: ${env:K8S_CLUSTER_NAME}
//!         action: upsert
//!       - key: deployment.environment.name
//!         from_attribute: env
//!         action: insert
//!       - key: env
//!         action: delete
//!       - key: host.id
//!         action: hash
//! ```
//!
//! A resource slot that is missing gets an empty resource first, so `insert`/`upsert` also
//! label data that came without one. Nothing is dropped: no item is ever rejected.

mod config;
mod processor;

pub use config::Config;
pub use processor::{Factory, ResourceProcessor};

/// The type name in configs.
pub const TYPE: &str = "resource";

#[cfg(test)]
mod tests;
