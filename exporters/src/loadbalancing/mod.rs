//! `loadbalancing` exporter (alias `load_balancing`): sends each trace (by default; or each
//! service, resource, metric stream or attribute set) to one backend of a scaled-out tier, so
//! tail sampling and span metrics there see whole traces. Each backend is an `otlp`
//! sub-exporter made from `protocol.otlp`, with its own sending queue, retries and TLS.
//!
//! ```yaml
//! exporters:
//!   loadbalancing:
//!     routing_key: traceID          # traceID (traces, logs) | service | resource | streamID (metrics) | attributes
//!     protocol:
//!       otlp:                       # any `otlp` exporter setting but endpoint
//!         tls: { ca_file: /etc/strata/tls/ca.crt }
//!         sending_queue: { queue_size: 1000 }
//!     resolver:
//!       dns: { hostname: strata-cluster.observability.svc, port: 4317, interval: 5s, timeout: 1s }
//!       # nameservers: ["10.96.0.10"]   # ask these DNS servers, not /etc/resolv.conf
//!       # or static: { hostnames: [cluster-0:4317, cluster-1:4317] }
//!       # or k8s: { service: strata-cluster.observability, ports: [4317], interval: 5s }
//! ```
//!
//! The `dns` resolver uses the system's resolver (`/etc/resolv.conf`), or, with `nameservers`
//! (a Strata extension, `ip[:port]`), asks those servers directly with hickory-resolver and
//! no cache, so a changed answer (a pod added to or removed from a headless Service) is seen at
//! the next `interval`. The `k8s` resolver reads the Service's EndpointSlices from the
//! Kubernetes API every `interval` (the Collector watches; a poll keeps no connection open and
//! costs one small GET): every ready endpoint address with each of `ports`, so a terminating
//! pod leaves the ring as soon as it stops being ready and its queue is re-routed while it
//! drains. It authenticates with the pod's service account (token re-read at every request,
//! TLS verified with the account's CA) and needs `get`/`list` on `endpointslices`.
//!
//! The owner of a key is chosen by rendezvous hashing ([`ring`]): even load, the same choice
//! on every front-end, and a membership change moves only the keys of the backends that
//! changed. Where the Collector's users lose data, Strata does not:
//! - **a backend that leaves** (a scale-in, a DNS change): the data queued for it is taken
//!   from its queue and routed to the new owners of its keys, counted in
//!   `strata_loadbalancer_rerouted_items`. From a persistent queue (`sending_queue::storage`)
//!   each record is read from disk, queued for its new owner, and only then acknowledged
//!   (a crash in between sends it twice, never loses it); the emptied queue's directory is
//!   removed. What cannot be routed stays on disk. A persistent queue of a backend that is
//!   gone when Strata starts (removed while it was down or reloading) is found in the
//!   storage directory at the first resolution and re-routed the same way;
//! - **a request split over several backends**: each part goes to its own backend's queue, so
//!   a backend that refuses its part never makes the healthy ones receive theirs twice; when
//!   a backend's queue is full (and does not block), its part goes to the next backend in the
//!   list instead (affinity lost for those keys, counted in
//!   `otelcol_loadbalancer_backend_outcome{success="false"}` and logged); when both are full
//!   the part waits up to 5 s for room rather than failing the request (also when the queue
//!   filled between the check and the enqueue). Only after that is the request refused, and
//!   then its parts already queued may reach their backends twice when the sender retries.
//!
//! - **a backend that stays unreachable**: what its sub-exporter gives up on once
//!   `retry_on_failure` is exhausted (`max_elapsed_time`) goes to the backend each key would
//!   have without it, the next on the ring, instead of being dropped: counted in
//!   `strata_loadbalancer_failed_over_items` and logged. This is the trade-off between
//!   affinity and loss, decided for no loss: those traces are split between two replicas (tail
//!   sampling there sees them in two parts). A peer's permanent refusal is not failed over.
//!   With `max_elapsed_time: 0` (retry forever) nothing fails over: affinity is kept and the
//!   data waits in the queue (then the full-queue rule above applies).
//!
//! An export in flight when a reload or shutdown stops a sub-exporter is sent again (to the
//! new owner): the peer may have it twice, and `strata_exporter_interrupted_items` counts such
//! items, for every exporter.
//!
//! A failed lookup keeps the last list. Self-metrics: `otelcol_loadbalancer_num_backends`,
//! `otelcol_loadbalancer_num_resolutions{success}`, `otelcol_loadbalancer_backend_outcome{endpoint,success}`.
//!
//! Not yet: a `watch` of EndpointSlices (the `k8s` resolver polls).

mod config;
mod exporter;
mod resolver;
pub mod ring;
mod route;

pub use config::{
    Config, DnsResolver, K8sResolver, Protocol, ResolverConfig, RoutingKey, StaticResolver,
};
pub use exporter::{Balanced, Factory, LoadBalancer};
pub use resolver::{Resolver, ready_endpoints};
pub use route::Routable;

/// The type name in configs.
pub const TYPE: &str = "loadbalancing";
/// The Collector's newer name for it.
pub const TYPE_ALIAS: &str = "load_balancing";
