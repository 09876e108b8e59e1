use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use futures::future::join_all;
use strata_pipelines::auth::ClientContext;
use strata_pipelines::storage::FileStorage;
use strata_pipelines::telemetry::{Counter, Gauge};
use strata_pipelines::{
    Accepted, BuildError, Component, ComponentId, ConfigError, ConsumeError, ConsumeResult,
    Consumer, Exporter, ExporterFactory, Host, Settings, ShutdownError, Signal, StartError, Tasks,
    YamlValue, config::parse_component,
};
use tracing::{info, warn};

use super::config::{Config, RoutingKey};
use super::resolver::{Resolver, from_config};
use super::ring::Ring;
use super::route::Routable;
use crate::helper::{Fallback, HelperExporter, MemQueue, Payload, Request, Taken, TakenRequest};
use crate::otlp::{GrpcExport, OtlpExporter};

/// Longest a part waits for room when its owner's queue and the next backend's are both full.
const FULL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One backend: its endpoint and its `otlp` sub-exporter (own queue, retries, TLS).
struct Backend<T: Balanced> {
    endpoint: String,
    exporter: Arc<HelperExporter<T>>,
    /// `otelcol_loadbalancer_backend_outcome{success="true"|"false"}` of this endpoint,
    /// looked up once (every request counts).
    sent: Counter,
    refused: Counter,
}

/// What the `loadbalancing` exporter needs of a signal: splitting by key and an OTLP/gRPC
/// `Export` method.
pub trait Balanced: Routable + GrpcExport {}
impl<T: Routable + GrpcExport> Balanced for T {}

struct State<T: Balanced> {
    ring: Ring,
    /// In the ring's order.
    backends: Vec<Backend<T>>,
}

/// The `loadbalancing` exporter for one signal. See the module docs.
pub struct LoadBalancer<T: Balanced> {
    weak: std::sync::Weak<LoadBalancer<T>>,
    set: Settings,
    cfg: Config,
    key: RoutingKey,
    resolver: Arc<dyn Resolver>,
    state: RwLock<Arc<State<T>>>,
    /// Serializes membership changes.
    change: tokio::sync::Mutex<()>,
    host: Mutex<Option<Host>>,
    tasks: Tasks,
    num_backends: Gauge,
    resolutions_ok: Counter,
    resolutions_failed: Counter,
    rerouted: Counter,
    failed_over: Counter,
}

/// A backend's [`Fallback`]: what it gave up on (retries exhausted) goes to the backend each
/// key would have without it, the next on the ring (affinity lost for those keys, data kept).
struct NextOnRing<T: Balanced> {
    lb: std::sync::Weak<LoadBalancer<T>>,
    endpoint: String,
}

#[async_trait]
impl<T: Balanced> Fallback<T> for NextOnRing<T> {
    async fn take_over(&self, data: Request<T>) -> bool {
        let Some(lb) = self.lb.upgrade() else {
            return false;
        };
        lb.fail_over(&self.endpoint, data).await
    }
}

impl<T: Balanced> LoadBalancer<T> {
    /// An exporter for `cfg` (validated).
    ///
    /// # Errors
    /// A DNS resolver that cannot be built.
    pub fn new(set: Settings, cfg: Config) -> Result<Arc<Self>, String> {
        let resolver: Arc<dyn Resolver> = Arc::from(from_config(&cfg.resolver)?);
        Ok(Self::with_resolver(set, cfg, resolver))
    }

    /// An exporter whose backends come from `resolver` instead of `cfg.resolver` (a resolver
    /// of another kind, such as a Kubernetes EndpointSlice watch).
    pub fn with_resolver(set: Settings, cfg: Config, resolver: Arc<dyn Resolver>) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self::with_weak(weak.clone(), set, cfg, resolver))
    }

    fn with_weak(
        weak: std::sync::Weak<LoadBalancer<T>>,
        set: Settings,
        cfg: Config,
        resolver: Arc<dyn Resolver>,
    ) -> Self {
        let t = set.telemetry.clone();
        let id = set.id.to_string();
        let res = |success: &str| {
            t.counter(
                "otelcol_loadbalancer_num_resolutions",
                &[("exporter", id.as_str()), ("success", success)],
            )
        };
        LoadBalancer {
            weak,
            key: cfg.routing_key.unwrap_or(T::DEFAULT_KEY),
            resolver,
            num_backends: t.gauge(
                "otelcol_loadbalancer_num_backends",
                &[("exporter", id.as_str())],
            ),
            resolutions_ok: res("true"),
            resolutions_failed: res("false"),
            rerouted: t.counter(
                "strata_loadbalancer_rerouted_items",
                &[
                    ("exporter", id.as_str()),
                    ("otel_signal", T::SIGNAL.as_str()),
                ],
            ),
            failed_over: t.counter(
                "strata_loadbalancer_failed_over_items",
                &[
                    ("exporter", id.as_str()),
                    ("otel_signal", T::SIGNAL.as_str()),
                ],
            ),
            state: RwLock::new(Arc::new(State {
                ring: Ring::default(),
                backends: Vec::new(),
            })),
            change: tokio::sync::Mutex::new(()),
            host: Mutex::new(None),
            tasks: Tasks::default(),
            cfg,
            set,
        }
    }

    fn state(&self) -> Arc<State<T>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The backends now, in the ring's order.
    pub fn backends(&self) -> Vec<String> {
        self.state().ring.backends().to_vec()
    }

    /// The outcome counter of `endpoint` (`success` "true" or "false").
    fn outcome_counter(&self, endpoint: &str, ok: bool) -> Counter {
        self.set.telemetry.counter(
            "otelcol_loadbalancer_backend_outcome",
            &[
                ("exporter", &self.set.id.to_string()),
                ("endpoint", endpoint),
                ("success", if ok { "true" } else { "false" }),
            ],
        )
    }

    /// The name of `endpoint`'s sub-exporter: `<name>_<endpoint, made safe>`.
    fn sub_name(&self, endpoint: &str) -> String {
        let clean: String = endpoint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}_{clean}", self.set.id.name().unwrap_or("backend"))
    }

    /// The persistent queues (`sending_queue::storage`) of backends this exporter no longer
    /// has, left on disk by an earlier process or configuration (a backend removed while
    /// Strata was down or reloading): each is opened and its data routed over the current
    /// ring, so a scale-in during a restart loses nothing either. Queues of current backends
    /// belong to their sub-exporters and are not touched.
    async fn claim_orphans(&self, host: &Host) {
        let st = self.state();
        if st.backends.is_empty() {
            return;
        }
        let Ok(cfg) = self.cfg.sub_config(&self.set.path(), "orphans:0") else {
            return;
        };
        let Some(storage) = cfg
            .helper()
            .queue
            .storage
            .as_ref()
            .and_then(|sid| host.extension(sid))
            .and_then(|ext| ext.storage())
        else {
            return;
        };
        // The directory names `FileStorage::open` makes of `<type>/<name>_<endpoint>_<signal>`.
        let safe = FileStorage::dir_name;
        let queue_of = |ep: &str| {
            safe(&format!(
                "{}_{}",
                ComponentId::new(self.set.id.ty(), Some(&self.sub_name(ep))),
                T::SIGNAL
            ))
        };
        let prefix = safe(&format!(
            "{}/{}_",
            self.set.id.ty(),
            self.set.id.name().unwrap_or("backend")
        ));
        let suffix = format!("_{}", T::SIGNAL);
        let live: Vec<String> = st.backends.iter().map(|b| queue_of(&b.endpoint)).collect();
        let Ok(dir) = std::fs::read_dir(&storage.directory) else {
            return;
        };
        let mut orphans: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(&suffix) && !live.contains(n))
            .collect();
        orphans.sort();
        for name in orphans {
            match storage.open(&name) {
                Ok((log, rec)) => {
                    if rec.records > 0 {
                        info!(exporter = %self.set.id, queue = %name, records = rec.records, items = rec.items,
                            "a persistent queue of a backend no longer resolved; re-routing its data");
                    }
                    self.reroute(Taken::persistent(Arc::new(log), true), &name)
                        .await;
                }
                Err(e) => {
                    warn!(exporter = %self.set.id, queue = %name, error = %e, "cannot open the persistent queue of a former backend")
                }
            }
        }
    }

    /// A started sub-exporter for `endpoint`. Its id (`<type>/<name>_<endpoint>`) is stable,
    /// so a reload hands its in-memory queue to the next configuration's.
    async fn sub_exporter(
        &self,
        endpoint: &str,
        host: &Host,
    ) -> Result<Arc<HelperExporter<T>>, String> {
        let cfg = self
            .cfg
            .sub_config(&self.set.path(), endpoint)
            .map_err(|e| e.to_string())?;
        let name = self.sub_name(endpoint);
        let set = Settings {
            kind: self.set.kind,
            id: ComponentId::new(self.set.id.ty(), Some(&name)),
            telemetry: self.set.telemetry.clone(),
        };
        let helper = cfg.helper();
        let sender = OtlpExporter::<T>::new(set.id.clone(), cfg)?;
        let e = Arc::new(HelperExporter::new(&set, helper, Arc::new(sender)));
        e.set_fallback(Arc::new(NextOnRing {
            lb: self.self_weak(),
            endpoint: endpoint.to_owned(),
        }));
        e.start(host).await.map_err(|e| e.to_string())?;
        Ok(e)
    }

    /// Makes `endpoints` the backends: new ones are started; the data queued for a leaving
    /// one is taken from its queue and routed again over the new ring (to the new owners of
    /// its keys), then it is stopped.
    async fn apply(&self, endpoints: Vec<String>) {
        let _turn = self.change.lock().await;
        let ring = Ring::new(endpoints);
        let old = self.state();
        if ring == old.ring {
            return;
        }
        let Some(host) = self.host.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let mut backends = Vec::with_capacity(ring.backends().len());
        for ep in ring.backends() {
            let existing = old.backends.iter().find(|b| &b.endpoint == ep);
            let exporter = match existing {
                Some(b) => b.exporter.clone(),
                None => match self.sub_exporter(ep, &host).await {
                    Ok(e) => e,
                    Err(e) => {
                        warn!(exporter = %self.set.id, endpoint = %ep, error = %e, "cannot create the backend's exporter; leaving it out");
                        continue;
                    }
                },
            };
            backends.push(Backend {
                endpoint: ep.clone(),
                exporter,
                sent: self.outcome_counter(ep, true),
                refused: self.outcome_counter(ep, false),
            });
        }
        let ring = Ring::new(backends.iter().map(|b| b.endpoint.clone()).collect());
        info!(exporter = %self.set.id, backends = ?ring.backends(), "load-balancing backends changed");
        self.num_backends.set(ring.backends().len() as i64);
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(State { ring, backends });
        // Leaving backends: their queued data goes to the new owners.
        for b in old
            .backends
            .iter()
            .filter(|b| !self.backends().contains(&b.endpoint))
        {
            let taken = b.exporter.take_queued().await;
            self.reroute(taken, &format!("the backend {} that left", b.endpoint))
                .await;
        }
        self.claim_orphans(&host).await;
    }

    /// Routes every request of `taken` over the current ring (to the owners of its keys); a
    /// persistent queue's record is acknowledged once its data is queued for its new owner.
    /// What cannot be routed (no backend, every queue full) stays in a persistent queue, or
    /// is lost from an in-memory one, logged and counted.
    async fn reroute(&self, mut taken: Taken<T>, from: &str) {
        let mut moved = 0u64;
        let mut lost = 0u64;
        let mut kept = 0u64;
        while let Some(req) = taken.next_request() {
            let TakenRequest {
                ctx,
                payload,
                receipt,
            } = req;
            let items = payload.item_count() as u64;
            let data = match payload {
                Payload::Decoded(d) => Ok(d),
                Payload::Encoded(e) => e.decode(),
            };
            let r = match data {
                Ok(d) => ClientContext::scope_opt(ctx, self.route(d)).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(_) => {
                    moved += items;
                    self.rerouted.add(items);
                    receipt.handed_over();
                }
                Err(e) => {
                    if receipt.is_stored() {
                        kept += items;
                        warn!(exporter = %self.set.id, items, error = %e, "re-routing failed; the data stays in the persistent queue");
                    } else {
                        lost += items;
                        warn!(exporter = %self.set.id, items, error = %e, "re-routing failed; data lost");
                    }
                }
            }
        }
        if moved + lost + kept + taken.unreadable > 0 {
            info!(exporter = %self.set.id, from, rerouted_items = moved, lost_items = lost + taken.unreadable,
                kept_items = kept, "re-routed the data queued for a backend");
        }
    }

    /// After a reload: the in-memory queues the previous configuration's sub-exporters parked
    /// for backends this one no longer has are taken and their data routed over the new ring
    /// (the queues of backends it still has went to their new sub-exporters at start).
    async fn claim_parked(&self, host: &Host) {
        let prefix = format!(
            "exporter {}/{}_",
            self.set.id.ty(),
            self.set.id.name().unwrap_or("backend")
        );
        let suffix = format!("/{}", T::SIGNAL);
        for key in host.handover.keys() {
            if !(key.starts_with(&prefix) && key.ends_with(&suffix)) {
                continue;
            }
            let Some(q) = host.handover.take::<Arc<MemQueue<T>>>(&key) else {
                continue;
            };
            let entries = q.drain();
            let n: usize = entries.iter().map(|e| e.data.item_count()).sum();
            info!(exporter = %self.set.id, queue = %key, items = n, "re-routing the queue of a backend the new configuration does not have");
            self.reroute(Taken::memory(entries), &key).await;
        }
    }

    /// What the backend `endpoint` gave up on after its retries: each key's part goes to the
    /// backend that owns it on the ring without `endpoint`. True when every part was queued
    /// (counted in `strata_loadbalancer_failed_over_items`); false when there is no other
    /// backend or a part could not be queued within 5 s (every other queue full): the backend
    /// then drops the request and counts all of it as failed, although the parts queued before
    /// the refusal are delivered.
    async fn fail_over(&self, endpoint: &str, data: Request<T>) -> bool {
        let st = self.state();
        let others: Vec<String> = st
            .ring
            .backends()
            .iter()
            .filter(|b| *b != endpoint)
            .cloned()
            .collect();
        if others.is_empty() {
            return false;
        }
        let items = data.item_count() as u64;
        let data = match data {
            Request::Decoded(d) => Arc::try_unwrap(d).unwrap_or_else(|a| (*a).clone()),
            Request::Encoded(e) => match e.decode() {
                Ok(d) => d,
                Err(_) => return false,
            },
        };
        let ring = Ring::new(others);
        let parts = T::split(data, self.key, &self.cfg.routing_attributes, &ring);
        for (owner, part) in parts {
            let to = &ring.backends()[owner];
            let Some(b) = st.backends.iter().find(|b| &b.endpoint == to) else {
                return false;
            };
            if let Err(e) = b.exporter.consume_waiting(part, FULL_WAIT).await {
                warn!(exporter = %self.set.id, from = %endpoint, to = %to, error = %e, "cannot fail over to the next backend");
                return false;
            }
            b.sent.add(1);
        }
        self.failed_over.add(items);
        warn!(exporter = %self.set.id, from = %endpoint, items, "backend unreachable past retry_on_failure; its data went to the next backend on the ring (affinity lost for those keys)");
        true
    }

    /// Splits `data` by owner and hands each part to its backend; a part whose owner's queue
    /// is full goes to the next backend in the list (no part is sent twice).
    async fn route(&self, data: T) -> ConsumeResult {
        let st = self.state();
        if st.backends.is_empty() {
            return Err(ConsumeError::retryable(format!(
                "exporter {}: no backend resolved yet",
                self.set.id
            )));
        }
        let parts = T::split(data, self.key, &self.cfg.routing_attributes, &st.ring);
        let sends = parts.into_iter().map(|(owner, part)| {
            let st = st.clone();
            async move {
                let b = &st.backends[owner];
                let next = &st.backends[(owner + 1) % st.backends.len()];
                // The owner's queue is full and does not block: the next backend in the list
                // takes the part (affinity lost for these keys; counted and logged). When both
                // are full, the part waits for room (up to FULL_WAIT) rather than failing the
                // whole request, whose other parts may already be queued: a sender retrying it
                // would send those twice. Asked before sending, so no part is copied.
                let waited_until = tokio::time::Instant::now() + FULL_WAIT;
                let target = loop {
                    match b.exporter.ready() {
                        Ok(()) => break b,
                        Err(e) if st.backends.len() > 1 && next.exporter.ready().is_ok() => {
                            b.refused.add(1);
                            warn!(exporter = %self.set.id, from = %b.endpoint, to = %next.endpoint, error = %e, "backend refuses; sending its part to the next backend");
                            break next;
                        }
                        Err(_) if tokio::time::Instant::now() >= waited_until => break b,
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    }
                };
                // Found ready, the queue may still have filled since (another request's
                // part): wait for room rather than refuse this part, whose siblings may be
                // queued already.
                let wait = waited_until
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(std::time::Duration::from_secs(1));
                let r = target.exporter.consume_waiting(part, wait).await;
                if r.is_ok() {
                    target.sent.add(1);
                } else {
                    target.refused.add(1);
                }
                r
            }
        });
        let mut out = Accepted::all();
        let mut first_err = None;
        for r in join_all(sends).await {
            match r {
                Ok(a) => out = out.and(a),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

#[async_trait]
impl<T: Balanced> Consumer<T> for LoadBalancer<T> {
    async fn consume(&self, data: T) -> ConsumeResult {
        self.route(data).await
    }

    /// Every backend has a queue by default: answered at enqueue.
    fn queued(&self) -> bool {
        true
    }
}

#[async_trait]
impl<T: Balanced> Component for LoadBalancer<T> {
    /// Resolves the backends once (a failure is retried by the resolver loop), starts their
    /// exporters, and keeps resolving every `interval` (DNS).
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        *self.host.lock().unwrap_or_else(|p| p.into_inner()) = Some(host.clone());
        match self.resolver.resolve().await {
            Ok(list) => {
                self.resolutions_ok.add(1);
                self.apply(list).await;
            }
            Err(e) => {
                self.resolutions_failed.add(1);
                warn!(exporter = %self.set.id, error = %e, "cannot resolve the backends yet");
            }
        }
        self.claim_parked(host).await;
        if let Some(every) = self.resolver.interval() {
            // The loop holds only what it needs; `apply` goes through a weak handle.
            let me: Arc<
                dyn Fn(Vec<String>) -> futures::future::BoxFuture<'static, ()> + Send + Sync,
            > = {
                let weak = self.self_weak();
                Arc::new(move |list| {
                    let weak = weak.clone();
                    Box::pin(async move {
                        if let Some(lb) = weak.upgrade() {
                            lb.apply(list).await;
                        }
                    })
                })
            };
            let (resolver, cancel) = (self.resolver.clone(), self.tasks.token());
            let (ok, failed, id) = (
                self.resolutions_ok.clone(),
                self.resolutions_failed.clone(),
                self.set.id.clone(),
            );
            self.tasks.spawn(async move {
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                    match resolver.resolve().await {
                        Ok(list) => {
                            ok.add(1);
                            me(list).await;
                        }
                        Err(e) => {
                            failed.add(1);
                            warn!(exporter = %id, error = %e, "resolution failed; keeping the last backends");
                        }
                    }
                }
            });
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        let st = self.state();
        for b in &st.backends {
            b.exporter.shutdown().await?;
        }
        Ok(())
    }
}

impl<T: Balanced> Exporter<T> for LoadBalancer<T> {}

impl<T: Balanced> LoadBalancer<T> {
    fn self_weak(&self) -> std::sync::Weak<LoadBalancer<T>> {
        self.weak.clone()
    }
}

/// Factory of the `loadbalancing` exporter, registered under `loadbalancing` and under the
/// alias `load_balancing`.
#[derive(Debug, Clone, Copy)]
pub struct Factory {
    name: &'static str,
}

impl Default for Factory {
    fn default() -> Self {
        Factory { name: super::TYPE }
    }
}

impl Factory {
    /// The factory under the alias `load_balancing`.
    pub fn alias() -> Self {
        Factory {
            name: super::TYPE_ALIAS,
        }
    }

    fn build<T: Balanced>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let path = set.path();
        let c = parse_component::<Config>(&path, cfg)?;
        LoadBalancer::<T>::new(set, c)
            .map(|lb| lb as Arc<dyn Exporter<T>>)
            .map_err(|e| {
                strata_pipelines::ConfigError::new(format!("{path}::resolver::dns"), e).into()
            })
    }
}

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::exporter_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use strata_pipelines::testing::fake;
    use strata_pipelines::{Kind, SignalData, Telemetry, Traces};

    use super::*;

    /// An OTLP/gRPC trace endpoint counting the spans it receives.
    #[derive(Clone, Default)]
    struct Backend(Arc<StdMutex<usize>>);

    #[tonic::async_trait]
    impl TraceService for Backend {
        async fn export(
            &self,
            req: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            *self.0.lock().unwrap() += req.into_inner().item_count();
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    /// Serves `b` on a loopback port until the returned handle is aborted.
    async fn serve(b: Backend) -> (String, tokio::task::JoinHandle<()>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(b))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l))
                .await;
        });
        (addr, h)
    }

    /// A resolver whose answer the test changes, as a DNS record changes.
    struct Changing(StdMutex<Vec<String>>);

    #[async_trait]
    impl Resolver for Changing {
        async fn resolve(&self) -> Result<Vec<String>, String> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn interval(&self) -> Option<std::time::Duration> {
            Some(std::time::Duration::from_millis(50))
        }
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{what}");
    }

    /// A resolution drops a backend whose queue holds data (its peer is down): the queued
    /// data goes to the remaining backend, in this process; nothing is lost.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_backend_leaving_the_resolution_hands_its_queue_to_the_others() {
        let (a, b) = (Backend::default(), Backend::default());
        let (addr_a, _ha) = serve(a.clone()).await;
        let (addr_b, hb) = serve(b.clone()).await;
        let resolver = Arc::new(Changing(StdMutex::new(vec![
            addr_a.clone(),
            addr_b.clone(),
        ])));
        let lb = test_lb(
            "retry_on_failure: {initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0s}",
            resolver.clone(),
            &Telemetry::default(),
        );
        lb.start(&Host::default()).await.unwrap();
        assert_eq!(lb.backends().len(), 2);
        // B goes down; 20 requests of 10 traces: B's share waits in its queue.
        hb.abort();
        let _ = hb.await;
        let sent = send_n(&lb, 7, 20).await;
        until("A got its share", || *a.0.lock().unwrap() > 0).await;
        assert!(*a.0.lock().unwrap() < sent, "B owns some of the keys");
        // The resolution changes: B is gone. Its queued spans reach A.
        *resolver.0.lock().unwrap() = vec![addr_a.clone()];
        until("every span reached A", || *a.0.lock().unwrap() == sent).await;
        assert_eq!(lb.backends(), vec![addr_a]);
        assert_eq!(*b.0.lock().unwrap(), 0);
        lb.shutdown().await.unwrap();
    }

    /// What `b` has received once it got something and then nothing more for 300 ms (its
    /// share is in, what remains waits in queues).
    async fn settled(b: &Backend) -> usize {
        until("the backend got its share", || *b.0.lock().unwrap() > 0).await;
        let mut last = 0;
        loop {
            let now = *b.0.lock().unwrap();
            if now == last {
                return now;
            }
            last = now;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// Backend A serving (keep the handle), backend B's address with nothing listening (its
    /// peer down), and a resolver answering both.
    async fn a_up_b_down() -> (
        Backend,
        String,
        String,
        Arc<Changing>,
        tokio::task::JoinHandle<()>,
    ) {
        let a = Backend::default();
        let (addr_a, ha) = serve(a.clone()).await;
        let (addr_b, hb) = serve(Backend::default()).await;
        hb.abort();
        let _ = hb.await;
        let resolver = Arc::new(Changing(StdMutex::new(vec![
            addr_a.clone(),
            addr_b.clone(),
        ])));
        (a, addr_a, addr_b, resolver, ha)
    }

    /// A backend whose queue is full (its peer down, `queue_size: 1`, not blocking): its parts
    /// go to the other backend, counted; nothing is sent twice or lost (once the resolution
    /// drops it, what it held reaches the other backend too).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_backend_queue_sends_its_parts_to_the_next_backend() {
        let (a, addr_a, addr_b, resolver, _ha) = a_up_b_down().await;
        let telemetry = Telemetry::default();
        let lb = test_lb(
            "sending_queue: {queue_size: 1, num_consumers: 1}, retry_on_failure: {initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0s}",
            resolver.clone(),
            &telemetry,
        );
        lb.start(&Host::default()).await.unwrap();
        let sent = send_n(&lb, 9, 30).await;
        let refused = telemetry
            .render()
            .lines()
            .find(|l| {
                l.starts_with("otelcol_loadbalancer_backend_outcome{")
                    && l.contains(&addr_b)
                    && l.contains("success=\"false\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(refused > 0, "{}", telemetry.render());
        *resolver.0.lock().unwrap() = vec![addr_a.clone()];
        until("every span reached A, once", || {
            *a.0.lock().unwrap() == sent
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(*a.0.lock().unwrap(), sent, "a span arrived twice");
        lb.shutdown().await.unwrap();
    }

    /// `requests` requests of 10 traces, each trace id unique to (`tag`, request, span).
    /// 20 requests of 10 traces (see [`send_n`]).
    async fn send_traces(lb: &LoadBalancer<Traces>, tag: u8) -> usize {
        send_n(lb, tag, 20).await
    }

    async fn send_n(lb: &LoadBalancer<Traces>, tag: u8, requests: u8) -> usize {
        let mut sent = 0;
        for r in 0..requests {
            let mut t = fake::traces(1, 10);
            for (i, s) in t.resource_spans[0].scope_spans[0]
                .spans
                .iter_mut()
                .enumerate()
            {
                s.trace_id = vec![r, i as u8, tag, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7];
            }
            sent += t.item_count();
            lb.consume(t).await.unwrap();
        }
        sent
    }

    /// A `loadbalancing` exporter for traces whose `protocol.otlp` template is plaintext, no
    /// compression, 1 s timeout plus `otlp` (more keys of the template), resolving with
    /// `resolver`.
    fn test_lb(
        otlp: &str,
        resolver: Arc<dyn Resolver>,
        telemetry: &Telemetry,
    ) -> Arc<LoadBalancer<Traces>> {
        let cfg: Config = strata_pipelines::config::parse_component(
            "e",
            serde_yaml_ng::from_str(&format!(
                "protocol: {{otlp: {{tls: {{insecure: true}}, compression: none, timeout: 1s, {otlp}}}}}\nresolver: {{static: {{hostnames: [x]}}}}"
            ))
            .unwrap(),
        )
        .unwrap();
        let set = Settings {
            kind: Kind::Exporter,
            id: "loadbalancing".parse().unwrap(),
            telemetry: telemetry.clone(),
        };
        LoadBalancer::<Traces>::with_resolver(set, cfg, resolver)
    }

    fn persistent_lb(resolver: Arc<Changing>, telemetry: &Telemetry) -> Arc<LoadBalancer<Traces>> {
        test_lb(
            "sending_queue: {storage: file_storage}, retry_on_failure: {initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0s}",
            resolver,
            telemetry,
        )
    }

    fn queue_dirs(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// As above with persistent queues: the leaving backend's records are read from disk,
    /// queued for the new owner, acknowledged, and its queue directory is removed.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_backend_leaving_hands_over_its_persistent_queue() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, host) = crate::helper::tests::storage_host(tmp.path());
        let (a, addr_a, addr_b, resolver, _ha) = a_up_b_down().await;
        let telemetry = Telemetry::default();
        let lb = persistent_lb(resolver.clone(), &telemetry);
        lb.start(&host).await.unwrap();
        let sent = send_traces(&lb, 1).await;
        let on_a = settled(&a).await;
        assert_eq!(queue_dirs(tmp.path()).len(), 2);
        assert!(on_a < sent, "B owns some of the keys");
        *resolver.0.lock().unwrap() = vec![addr_a.clone()];
        until("every span reached A", || *a.0.lock().unwrap() == sent).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(*a.0.lock().unwrap(), sent, "a span arrived twice");
        assert!(
            telemetry
                .render()
                .contains(&format!("strata_loadbalancer_rerouted_items{{exporter=\"loadbalancing\",otel_signal=\"traces\"}} {}", sent - on_a)),
            "{}",
            telemetry.render()
        );
        let b_queue = format!("loadbalancing_backend_{}_traces", addr_b.replace(':', "_"));
        until("B's queue directory is removed", || {
            !queue_dirs(tmp.path()).contains(&b_queue)
        })
        .await;
        lb.shutdown().await.unwrap();
    }

    /// A backend removed while Strata was down: its persistent queue, left on disk by the
    /// previous process, is found at start and its data routed to the backends resolved now.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_former_backends_persistent_queue_is_claimed_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, host) = crate::helper::tests::storage_host(tmp.path());
        let (a, addr_a, _, resolver, _ha) = a_up_b_down().await;
        let first = persistent_lb(resolver.clone(), &Telemetry::default());
        first.start(&host).await.unwrap();
        let sent = send_traces(&first, 2).await;
        let on_a = settled(&a).await;
        first.shutdown().await.unwrap();
        drop(first);
        assert!(on_a < sent, "B's share stays on disk");
        // The next process resolves only A.
        let resolver = Arc::new(Changing(StdMutex::new(vec![addr_a.clone()])));
        let telemetry = Telemetry::default();
        let second = persistent_lb(resolver, &telemetry);
        second.start(&host).await.unwrap();
        until("B's spans reached A", || *a.0.lock().unwrap() == sent).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(*a.0.lock().unwrap(), sent, "a span arrived twice");
        assert_eq!(
            queue_dirs(tmp.path()),
            vec![format!(
                "loadbalancing_backend_{}_traces",
                addr_a.replace(':', "_")
            )]
        );
        second.shutdown().await.unwrap();
    }

    /// A backend that stays unreachable past `retry_on_failure` (`max_elapsed_time: 300ms`):
    /// what it gave up on goes to the next backend on the ring for those keys, counted; none
    /// of it is dropped, none arrives twice.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreachable_backends_data_fails_over_to_the_next_on_the_ring() {
        let (a, _addr_a, _, resolver, _ha) = a_up_b_down().await;
        let telemetry = Telemetry::default();
        let lb = test_lb(
            "retry_on_failure: {initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 300ms}",
            resolver,
            &telemetry,
        );
        lb.start(&Host::default()).await.unwrap();
        let sent = send_traces(&lb, 3).await;
        until("every span reached A", || *a.0.lock().unwrap() == sent).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(*a.0.lock().unwrap(), sent, "a span arrived twice");
        let failed_over = telemetry
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("strata_loadbalancer_failed_over_items{exporter=\"loadbalancing\",otel_signal=\"traces\"} ")?.parse::<usize>().ok())
            .unwrap_or(0);
        assert!(
            failed_over > 0 && failed_over < sent,
            "{}",
            telemetry.render()
        );
        assert!(
            !telemetry
                .render()
                .lines()
                .any(|l| l.starts_with("otelcol_exporter_send_failed_spans") && !l.ends_with(" 0")),
            "nothing dropped: {}",
            telemetry.render()
        );
        lb.shutdown().await.unwrap();
    }
}
