//! Component lifecycle traits: receivers, processors and exporters.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use std::future::Future;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer::{Accepted, BoxConsumer, ConsumeResult, Consumer};
use crate::error::{ConsumeError, ShutdownError, StartError};
use crate::factory::Settings;
use crate::id::ComponentId;
use crate::signal::{Logs, Metrics, SignalData, Traces};
use crate::telemetry::{Counter, Telemetry};

/// What a component may reach while starting: self-telemetry, the started extensions (by id),
/// the state handed over between graphs on reload, and the shutdown deadline.
#[derive(Clone, Default)]
pub struct Host {
    /// The process-wide self-telemetry registry.
    pub telemetry: Telemetry,
    /// Started extensions by id (filled by [`crate::Graph::start`]).
    pub extensions: BTreeMap<ComponentId, Arc<dyn Extension>>,
    /// State that outlives one graph (in-memory queues across a SIGHUP reload).
    pub handover: Handover,
    /// When the running graph's graceful shutdown must be finished.
    pub deadline: Deadline,
    /// The service's health: lifecycle and exporters' failures (for `health_check`).
    pub health: crate::health::Health,
}

impl Host {
    /// The extension `id`, if it is configured and started.
    pub fn extension(&self, id: &ComponentId) -> Option<&Arc<dyn Extension>> {
        self.extensions.get(id)
    }

    /// The server authenticator of extension `id`.
    ///
    /// # Errors
    /// The extension is not started (not in `service.extensions`) or is not a server
    /// authenticator; the message names it.
    pub fn server_authenticator(
        &self,
        id: &ComponentId,
    ) -> Result<Arc<dyn crate::auth::ServerAuthenticator>, String> {
        let ext = self.extension(id).ok_or_else(|| {
            format!("authenticator {id} is not configured (list it under service::extensions)")
        })?;
        ext.server_authenticator()
            .ok_or_else(|| format!("extension {id} is not a server authenticator"))
    }

    /// The client authenticator of extension `id`.
    ///
    /// # Errors
    /// As [`Host::server_authenticator`].
    pub fn client_authenticator(
        &self,
        id: &ComponentId,
    ) -> Result<Arc<dyn crate::auth::ClientAuthenticator>, String> {
        let ext = self.extension(id).ok_or_else(|| {
            format!("authenticator {id} is not configured (list it under service::extensions)")
        })?;
        ext.client_authenticator()
            .ok_or_else(|| format!("extension {id} is not a client authenticator"))
    }
}

/// An extension (the Collector's `extension.Extension`): a component outside the pipelines that
/// others use by id — storage for persistent queues now; auth and health checks later.
pub trait Extension: Component {
    /// The storage this extension provides, if it is a storage extension.
    fn storage(&self) -> Option<crate::storage::FileStorage> {
        None
    }

    /// The server authenticator this extension provides (`bearertokenauth`, `basicauth`),
    /// used by receivers with `auth: {authenticator: <id>}`.
    fn server_authenticator(&self) -> Option<Arc<dyn crate::auth::ServerAuthenticator>> {
        None
    }

    /// The client authenticator this extension provides (`bearertokenauth`,
    /// `headers_setter`), used by exporters with `auth: {authenticator: <id>}`.
    fn client_authenticator(&self) -> Option<Arc<dyn crate::auth::ClientAuthenticator>> {
        None
    }
}

/// The instant a graceful shutdown must end, shared by the graph and its components: unset while
/// running; [`crate::Graph::shutdown`] sets it before stopping anything, so an exporter draining
/// its queue knows how long it may try.
#[derive(Clone, Default, Debug)]
pub struct Deadline(Arc<Mutex<Option<Instant>>>);

impl Deadline {
    /// Sets the deadline to `at`.
    pub fn set(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// The deadline, if a shutdown has begun.
    pub fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Values parked by one graph's components for the next graph (SIGHUP reload), by key
/// (`exporter id/signal`). While [`Handover::reloading`] is true, an exporter that shuts down
/// parks its in-memory queue here instead of draining it, and the exporter with the same id in
/// the new graph takes it at start; nothing queued is lost to a reload.
#[derive(Clone, Default)]
pub struct Handover(Arc<Mutex<HandoverState>>);

#[derive(Default)]
struct HandoverState {
    reloading: bool,
    parked: BTreeMap<String, Box<dyn Any + Send + Sync>>,
}

impl Handover {
    /// Marks a reload in progress (set by the binary around the old graph's shutdown).
    pub fn set_reloading(&self, on: bool) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).reloading = on;
    }

    /// True while a reload is in progress.
    pub fn reloading(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).reloading
    }

    /// Parks `value` under `key`, replacing what was there.
    pub fn park<V: Any + Send + Sync>(&self, key: String, value: V) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .parked
            .insert(key, Box::new(value));
    }

    /// Takes the value parked under `key` if it has type `V`.
    pub fn take<V: Any + Send + Sync>(&self, key: &str) -> Option<V> {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let v = st.parked.remove(key)?;
        match v.downcast::<V>() {
            Ok(v) => Some(*v),
            Err(v) => {
                st.parked.insert(key.to_owned(), v);
                None
            }
        }
    }

    /// The keys of everything parked now.
    pub fn keys(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .parked
            .keys()
            .cloned()
            .collect()
    }

    /// Removes and returns everything nobody took (after the new graph started), by key.
    pub fn take_unclaimed(&self) -> Vec<(String, Box<dyn Any + Send + Sync>)> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()).parked)
            .into_iter()
            .collect()
    }
}

/// Lifecycle shared by every component (the Collector's `component.Component`).
#[async_trait]
pub trait Component: Send + Sync {
    /// Binds listeners and spawns tasks, then returns; must not block on traffic.
    async fn start(&self, host: &Host) -> Result<(), StartError>;
    /// Stops accepting, flushes what was accepted, releases resources. Idempotent.
    async fn shutdown(&self) -> Result<(), ShutdownError>;
}

/// A receiver: gets data from outside (a socket, a scrape) and pushes it to `NextConsumers`.
pub trait Receiver: Component {}

/// A processor of one signal; it owns the next consumer of its pipeline.
pub trait Processor<T: SignalData>: Component + Consumer<T> {}

/// An exporter of one signal; it sends data out of the process.
pub trait Exporter<T: SignalData>: Component + Consumer<T> {}

/// The first consumer of every pipeline a receiver feeds, per signal (a fanout when the
/// receiver is in several pipelines of the same signal). `None` for signals it does not feed.
#[derive(Clone, Default)]
pub struct NextConsumers {
    /// Consumer for traces, when the receiver is in a traces pipeline.
    pub traces: Option<BoxConsumer<Traces>>,
    /// Consumer for metrics, when the receiver is in a metrics pipeline.
    pub metrics: Option<BoxConsumer<Metrics>>,
    /// Consumer for logs, when the receiver is in a logs pipeline.
    pub logs: Option<BoxConsumer<Logs>>,
}

/// A stateless, synchronous processing step (the Collector's processorhelper). Wrap it with
/// [`processor_fn`] to get a [`Processor`].
pub trait Process<T: SignalData>: Send + Sync + 'static {
    /// Transforms `data`. `Ok(None)` means everything was filtered out; the next consumer is then
    /// not called. Items (spans, data points, log records) missing from the result count as
    /// dropped on purpose and are reported to the sender as a partial success.
    fn process(&self, data: T) -> Result<Option<T>, ConsumeError>;
}

/// Adapts a [`Process`] into a full [`Processor`] that calls `next` with the result.
///
/// It counts `otelcol_processor_incoming_items` and `otelcol_processor_outgoing_items`
/// (labels `processor`, `otel_signal`; the Collector's processorhelper names), and answers
/// with an [`Accepted`] whose `rejected` is the number of items `p` dropped plus what `next`
/// reported, so the receiver can tell its client (OTLP partial success).
pub fn processor_fn<T: SignalData, P: Process<T>>(
    set: &Settings,
    p: P,
    next: BoxConsumer<T>,
) -> Arc<dyn Processor<T>> {
    let id = set.id.to_string();
    let labels = [
        ("processor", id.as_str()),
        ("otel_signal", T::SIGNAL.as_str()),
    ];
    Arc::new(FnProcessor {
        incoming: set
            .telemetry
            .counter("otelcol_processor_incoming_items", &labels),
        outgoing: set
            .telemetry
            .counter("otelcol_processor_outgoing_items", &labels),
        id: set.id.clone(),
        p,
        next,
    })
}

struct FnProcessor<T: SignalData, P> {
    id: ComponentId,
    incoming: Counter,
    outgoing: Counter,
    p: P,
    next: BoxConsumer<T>,
}

impl<T: SignalData, P> FnProcessor<T, P> {
    fn dropped(&self, n: usize) -> Accepted {
        Accepted::rejecting(
            n as u64,
            format!(
                "{n} {} dropped by processor {}",
                T::SIGNAL.item_name(),
                self.id
            ),
        )
    }
}

#[async_trait]
impl<T: SignalData, P: Process<T>> Consumer<T> for FnProcessor<T, P> {
    async fn consume(&self, data: T) -> ConsumeResult {
        let n_in = data.item_count();
        self.incoming.add(n_in as u64);
        match self.p.process(data)? {
            Some(d) => {
                let n_out = d.item_count();
                self.outgoing.add(n_out as u64);
                let here = self.dropped(n_in.saturating_sub(n_out));
                if n_out == 0 {
                    return Ok(here);
                }
                Ok(here.and(self.next.consume(d).await?))
            }
            None => Ok(self.dropped(n_in)),
        }
    }

    fn ready(&self) -> Result<(), ConsumeError> {
        self.next.ready()
    }

    fn queued(&self) -> bool {
        self.next.queued()
    }

    fn adopt_batching(&self, b: &crate::consumer::Batching) {
        self.next.adopt_batching(b);
    }
}

#[async_trait]
impl<T: SignalData, P: Process<T>> Component for FnProcessor<T, P> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

impl<T: SignalData, P: Process<T>> Processor<T> for FnProcessor<T, P> {}

/// A component's background tasks (servers, scrape loops, flush timers): spawned on one
/// tracker, told to stop by one token, and awaited together at shutdown — never detached.
#[derive(Debug, Default)]
pub struct Tasks {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    /// The token the tasks watch; cancelled by [`Tasks::stop`].
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Spawns `task` on the tracker.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // The task keeps the span it was spawned in (the component's, from the graph).
        self.tracker
            .spawn(tracing::Instrument::in_current_span(task));
    }

    /// The tracker the tasks run on (for tasks that spawn tasks of their own).
    pub fn tracker(&self) -> TaskTracker {
        self.tracker.clone()
    }

    /// Binds `endpoint` and accepts connections until [`Tasks::stop`], with TLS when `tls` is
    /// set (its files watched for new content every `reload_interval`, reloads counted in
    /// `telemetry`). `alpn` is what the TLS server announces (`[b"h2"]` for gRPC); `refused`
    /// counts failed handshakes; `what` names the server in logs.
    ///
    /// # Errors
    /// The address cannot be bound, or the TLS material does not load.
    pub async fn listen(
        &self,
        endpoint: &str,
        tls: Option<&crate::tls::TlsServerConfig>,
        alpn: &[&[u8]],
        refused: Option<Counter>,
        telemetry: &Telemetry,
        what: String,
    ) -> Result<crate::net::Incoming, String> {
        let tls = match tls {
            Some(t) => {
                let r = t.build(&format!("{what}::tls"), alpn)?;
                self.spawn(r.clone().watch(telemetry.clone(), self.token()));
                Some(r)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(&*crate::config::bind_address(endpoint))
            .await
            .map_err(|e| format!("cannot listen on {endpoint}: {e}"))?;
        crate::net::incoming(listener, tls, refused, self, what).map_err(|e| e.to_string())
    }

    /// [`Tasks::listen`] on `endpoint` (HTTP/2 and HTTP/1.1, TLS when `tls` is set), then
    /// [`Tasks::serve_http`] of `app`: what an extension or a pull exporter serving pages does
    /// (`health_check`, `zpages`, `pprof`, `prometheus`). `what` (`extensions::zpages`) names
    /// the server in logs and TLS metrics. Returns the bound address.
    ///
    /// # Errors
    /// As [`Tasks::listen`].
    pub async fn serve_app(
        &self,
        endpoint: &str,
        tls: Option<&crate::tls::TlsServerConfig>,
        telemetry: &Telemetry,
        what: String,
        app: axum::Router,
    ) -> Result<std::net::SocketAddr, String> {
        let incoming = self
            .listen(
                endpoint,
                tls,
                &[b"h2", b"http/1.1"],
                None,
                telemetry,
                what.clone(),
            )
            .await?;
        let addr = incoming.local_addr();
        self.serve_http(incoming, app, what);
        Ok(addr)
    }

    /// Serves `app` on `incoming` (from [`Tasks::listen`]) until [`Tasks::stop`]: every
    /// request carries the connection's [`crate::net::PeerInfo`] as an extension
    /// (`ConnectInfo<PeerInfo>`), in-flight requests finish at shutdown, and a warning names
    /// `what` if the server fails. `TCP_NODELAY` is set on every connection (a response
    /// written in parts must not wait for the client's delayed ACK: 40 ms per request was
    /// measured). What a handler leaves of a request body is read and discarded after its
    /// response ([`crate::unread`]), so an early refusal reaches HTTP/2 clients as its status.
    pub fn serve_http(&self, incoming: crate::net::Incoming, app: axum::Router, what: String) {
        let cancel = self.token();
        self.spawn(async move {
            let app = app
                .layer(axum::middleware::from_fn(crate::unread::layer))
                .into_make_service_with_connect_info::<crate::net::PeerInfo>();
            if let Err(e) = axum::serve(incoming, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await
            {
                tracing::warn!(server = %what, error = %e, "HTTP server stopped");
            }
        });
    }

    /// Cancels the token and waits until every task has ended. Idempotent.
    pub async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
