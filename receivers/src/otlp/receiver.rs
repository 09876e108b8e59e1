use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use strata_pipelines::{
    Accepted, BoxConsumer, BuildError, Component, ComponentId, ConfigError, ConsumeError, Host,
    NextConsumers, Receiver, ReceiverFactory, ReceiverObs, Settings, ShutdownError, Signal,
    SignalData, StartError, Tasks, YamlValue, config::parse_component, wire::Encoded,
};
use tracing::{debug, info, warn};

use logs_v1::ExportLogsPartialSuccess;
use metrics_v1::ExportMetricsPartialSuccess;
use opentelemetry_proto::tonic::collector::logs::v1 as logs_v1;
use opentelemetry_proto::tonic::collector::metrics::v1 as metrics_v1;
use opentelemetry_proto::tonic::collector::trace::v1 as trace_v1;
use trace_v1::ExportTracePartialSuccess;

use super::config::{GrpcConfig, HttpConfig};
use super::grpc::{MemoryGate, Svc, services};
use super::http::{HttpState, router};
use super::{Config, TYPE};

/// The HTTP/2 `SETTINGS_MAX_FRAME_SIZE` the gRPC server advertises (RFC 9113 §6.5.2).
const MAX_FRAME_SIZE: u32 = 256 * 1024;

/// Why a request's data was not accepted.
pub(crate) enum Refusal {
    /// The receiver is in no pipeline of this signal.
    NoPipeline(Signal),
    /// The pipeline refused it.
    Consume(ConsumeError),
}

/// Hands `data` to the pipeline and counts the outcome. `Ok` carries what the pipeline dropped
/// on purpose, for the partial success in the response.
pub(crate) async fn deliver<T: SignalData>(
    next: &Option<BoxConsumer<T>>,
    obs: &ReceiverObs,
    data: T,
) -> Result<Accepted, Refusal> {
    let n = data.item_count();
    hand_over(next, obs, n, |c| async move { c.consume(data).await }).await
}

/// [`deliver`] for a request still encoded (OTLP protobuf checked by [`Encoded::new`]): the
/// pipeline decodes it only where a component needs to look inside.
pub(crate) async fn deliver_encoded<T: SignalData>(
    next: &Option<BoxConsumer<T>>,
    obs: &ReceiverObs,
    data: Encoded<T>,
) -> Result<Accepted, Refusal> {
    let n = data.item_count();
    hand_over(
        next,
        obs,
        n,
        |c| async move { c.consume_encoded(data).await },
    )
    .await
}

/// Refuses before the body is read when the pipeline would refuse any request now
/// ([`strata_pipelines::Consumer::ready`]: a full sending queue that does not block), counted
/// in `otelcol_receiver_refused_requests{reason="queue_full"}`. A receiver in no pipeline of
/// this signal passes: the refusal then comes with its own reason after the read.
pub(crate) fn door<T: SignalData>(
    next: &Option<BoxConsumer<T>>,
    obs: &ReceiverObs,
) -> Result<(), Refusal> {
    match next.as_ref().map(|n| n.ready()) {
        Some(Err(e)) => {
            obs.refused_request("queue_full");
            Err(Refusal::Consume(e))
        }
        _ => Ok(()),
    }
}

async fn hand_over<T, F, Fut>(
    next: &Option<BoxConsumer<T>>,
    obs: &ReceiverObs,
    n: usize,
    call: F,
) -> Result<Accepted, Refusal>
where
    T: SignalData,
    F: FnOnce(BoxConsumer<T>) -> Fut,
    Fut: std::future::Future<Output = strata_pipelines::ConsumeResult>,
{
    let Some(next) = next else {
        obs.refused(T::SIGNAL, n);
        return Err(Refusal::NoPipeline(T::SIGNAL));
    };
    match call(next.clone()).await {
        Ok(a) => {
            obs.accepted(T::SIGNAL, n);
            if !a.is_full() {
                debug!(signal = %T::SIGNAL, rejected = a.rejected, message = %a.message, "partial success");
            }
            Ok(a)
        }
        Err(e) => {
            obs.refused(T::SIGNAL, n);
            debug!(signal = %T::SIGNAL, items = n, error = %e, "pipeline refused data");
            Err(Refusal::Consume(e))
        }
    }
}

/// An OTLP export response that carries a partial success (OTLP spec, "Partial Success").
pub(super) trait OtlpResponse: strata_translators::otlp_json::OtlpMessage {
    /// The response for `a`: no `partial_success` field when everything was accepted.
    fn from_accepted(a: &Accepted) -> Self;
}

macro_rules! otlp_response {
    ($resp:ty, $partial:ident, $field:ident) => {
        impl OtlpResponse for $resp {
            fn from_accepted(a: &Accepted) -> Self {
                Self {
                    partial_success: (!a.is_full()).then(|| $partial {
                        $field: i64::try_from(a.rejected).unwrap_or(i64::MAX),
                        error_message: a.message.clone(),
                    }),
                }
            }
        }
    };
}
otlp_response!(
    trace_v1::ExportTraceServiceResponse,
    ExportTracePartialSuccess,
    rejected_spans
);
otlp_response!(
    metrics_v1::ExportMetricsServiceResponse,
    ExportMetricsPartialSuccess,
    rejected_data_points
);
otlp_response!(
    logs_v1::ExportLogsServiceResponse,
    ExportLogsPartialSuccess,
    rejected_log_records
);

/// The `otlp` receiver: one gRPC and/or one HTTP server, shared by every pipeline it feeds.
pub struct OtlpReceiver {
    id: ComponentId,
    cfg: Config,
    next: NextConsumers,
    set: Settings,
    tasks: Tasks,
    grpc_addr: Mutex<Option<SocketAddr>>,
    http_addr: Mutex<Option<SocketAddr>>,
}

impl OtlpReceiver {
    /// A receiver for `cfg` (validated) feeding `next`.
    pub fn new(set: Settings, cfg: Config, next: NextConsumers) -> Self {
        OtlpReceiver {
            id: set.id.clone(),
            cfg,
            next,
            set,
            tasks: Tasks::default(),
            grpc_addr: Mutex::new(None),
            http_addr: Mutex::new(None),
        }
    }

    /// Address the gRPC server is bound to, once started.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        *self.grpc_addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Address the HTTP server is bound to, once started.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        *self.http_addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_error(&self, e: impl std::fmt::Display, what: &str) -> StartError {
        StartError {
            id: self.id.clone(),
            source: format!("{what}: {e}").into(),
        }
    }

    async fn start_grpc(&self, host: &Host, g: &GrpcConfig) -> Result<(), StartError> {
        let max_bytes = mib(g.max_recv_msg_size_mib);
        let obs = ReceiverObs::new(&self.set.telemetry, &self.id, "grpc");
        let sec = g.security();
        let gate = sec
            .gate(host, obs.clone())
            .map_err(|e| self.start_error(e, "grpc: auth"))?;
        let incoming = self
            .tasks
            .listen(
                &g.endpoint,
                sec.tls.as_ref(),
                &[b"h2"],
                Some(obs.refused_counter("tls_handshake")),
                &self.set.telemetry,
                format!("{}::protocols::grpc", self.set.path()),
            )
            .await
            .map_err(|e| self.start_error(e, "grpc"))?;
        let addr = incoming.local_addr();
        *self.grpc_addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        let gate =
            (sec.auth.is_some() || sec.include_metadata || sec.tls.is_some()).then_some(gate);
        let (t, m, l) = services(
            Svc {
                next: self.next.traces.clone(),
                obs: obs.clone(),
                gate: gate.clone(),
            },
            Svc {
                next: self.next.metrics.clone(),
                obs: obs.clone(),
                gate: gate.clone(),
            },
            Svc {
                next: self.next.logs.clone(),
                obs: obs.clone(),
                gate,
            },
            max_bytes,
            MemoryGate(obs.clone()),
        );
        let keepalive = g
            .keepalive
            .as_ref()
            .and_then(|k| k.server_parameters.clone())
            .unwrap_or_default();
        let mut server = tonic::transport::Server::builder()
            // Let clients send a whole OTLP request (typically 10–500 KiB) in one or a few
            // DATA frames instead of 16 KiB ones: fewer frames to parse and fewer reads.
            .max_frame_size(MAX_FRAME_SIZE)
            .max_concurrent_streams(g.max_concurrent_streams.filter(|n| *n > 0))
            .http2_keepalive_interval(keepalive.time.filter(|d| !d.is_zero()))
            .http2_keepalive_timeout(keepalive.timeout.filter(|d| !d.is_zero()));
        if let Some(age) = keepalive.max_connection_age.filter(|d| !d.is_zero()) {
            server = server.max_connection_age(age);
        }
        if let Some(grace) = keepalive.max_connection_age_grace.filter(|d| !d.is_zero()) {
            server = server.max_connection_age_grace(grace);
        }
        let router = server.add_service(t).add_service(m).add_service(l);
        let cancel = self.tasks.token();
        let id = self.id.clone();
        self.tasks.spawn(async move {
            // The listener sets TCP_NODELAY: a response written in several parts (headers,
            // then data and trailers once the pipeline answers) must not wait for the client's
            // delayed ACK (measured: +40 ms per request behind `memory_limiter`).
            let incoming = incoming.into_stream(crate::server::GrpcConn);
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, cancel.cancelled_owned())
                .await
            {
                warn!(receiver = %id, error = %e, "grpc server stopped");
            }
        });
        info!(receiver = %self.id, %addr, tls = g.tls.is_some(), auth = ?g.auth.as_ref().map(|a| a.authenticator.to_string()), "OTLP/gRPC listening");
        Ok(())
    }

    async fn start_http(&self, host: &Host, h: &HttpConfig) -> Result<(), StartError> {
        let obs = ReceiverObs::new(&self.set.telemetry, &self.id, "http");
        let sec = h.security();
        let gate = sec
            .gate(host, obs.clone())
            .map_err(|e| self.start_error(e, "http: auth"))?;
        let incoming = self
            .tasks
            .listen(
                &h.endpoint,
                sec.tls.as_ref(),
                &[b"h2", b"http/1.1"],
                Some(obs.refused_counter("tls_handshake")),
                &self.set.telemetry,
                format!("{}::protocols::http", self.set.path()),
            )
            .await
            .map_err(|e| self.start_error(e, "http"))?;
        let addr = incoming.local_addr();
        *self.http_addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        let state = Arc::new(HttpState {
            traces: self.next.traces.clone(),
            metrics: self.next.metrics.clone(),
            logs: self.next.logs.clone(),
            obs,
            max_bytes: h
                .max_request_body_size
                .map_or(mib(h.max_recv_msg_size_mib), |b| {
                    usize::try_from(b).unwrap_or(usize::MAX)
                }),
            gate,
            encodings: h.compression_algorithms.clone().unwrap_or_else(|| {
                super::http::ENCODINGS
                    .iter()
                    .map(|e| (*e).to_owned())
                    .collect()
            }),
            paths: vec![
                h.traces_url_path.clone(),
                h.metrics_url_path.clone(),
                h.logs_url_path.clone(),
            ],
        });
        let mut app = router(
            state,
            [&h.traces_url_path, &h.metrics_url_path, &h.logs_url_path],
        );
        if !h.response_headers.is_empty() {
            let headers: Vec<(http::HeaderName, http::HeaderValue)> = h
                .response_headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                        http::HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect();
            app = app.layer(axum::middleware::map_response(
                move |mut r: axum::response::Response| {
                    let headers = headers.clone();
                    async move {
                        for (k, v) in headers {
                            r.headers_mut().insert(k, v);
                        }
                        r
                    }
                },
            ));
        }
        if let Some(c) = &h.cors {
            app = app.layer(super::http::cors(c));
        }
        self.tasks
            .serve_http(incoming, app, format!("{} http", self.id));
        info!(receiver = %self.id, %addr, tls = h.tls.is_some(), auth = ?h.auth.as_ref().map(|a| a.authenticator.to_string()), "OTLP/HTTP listening");
        Ok(())
    }
}

fn mib(n: u64) -> usize {
    usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

#[async_trait]
impl Component for OtlpReceiver {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        if let Some(g) = &self.cfg.protocols.grpc
            && let Err(e) = self.start_grpc(host, g).await
        {
            self.tasks.stop().await;
            return Err(e);
        }
        if let Some(h) = &self.cfg.protocols.http
            && let Err(e) = self.start_http(host, h).await
        {
            self.tasks.stop().await;
            return Err(e);
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        // Stop accepting; servers finish in-flight requests before their tasks end.
        self.tasks.stop().await;
        Ok(())
    }
}

impl Receiver for OtlpReceiver {}

/// Factory of the `otlp` receiver.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {}

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    /// configgrpc and confighttp server keys with no effect (`strata_pipelines::accepted`).
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        let mut v = strata_pipelines::accepted::grpc_server("protocols::grpc");
        v.extend(strata_pipelines::accepted::http_server("protocols::http"));
        v
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: NextConsumers,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        Ok(Arc::new(OtlpReceiver::new(set, c, next)))
    }
}
