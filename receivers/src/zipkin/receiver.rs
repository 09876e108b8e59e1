use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_pipelines::{
    BoxConsumer, BuildError, Component, ComponentId, ConfigError, ConsumeError, Host,
    NextConsumers, Receiver, ReceiverFactory, ReceiverObs, Settings, ShutdownError, Signal,
    StartError, Tasks, Traces, YamlValue, config::parse_component,
};
use strata_translators::zipkin::{Span, ToOtlpOptions, to_otlp};
use tracing::{debug, info};

use super::{Config, TYPE};
use crate::otlp::{Refusal, deliver, read_body};

/// Seconds clients are asked to wait after a retryable refusal.
const RETRY_AFTER_SECS: &str = "5";

/// The `zipkin` receiver: one HTTP server feeding the traces pipelines it is in.
pub struct ZipkinReceiver {
    id: ComponentId,
    cfg: Config,
    next: Option<BoxConsumer<Traces>>,
    set: Settings,
    tasks: Tasks,
    addr: Mutex<Option<SocketAddr>>,
}

struct ZipkinState {
    next: Option<BoxConsumer<Traces>>,
    obs: ReceiverObs,
    max_bytes: usize,
    opts: ToOtlpOptions,
    gate: crate::server::Gate,
}

fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    resp
}

async fn spans(State(state): State<Arc<ZipkinState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = match crate::otlp::http::authenticate(&state.gate, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    strata_pipelines::auth::ClientContext::scope(ctx, spans_authenticated(&state, parts, body))
        .await
}

async fn spans_authenticated(
    state: &ZipkinState,
    parts: http::request::Parts,
    body: Body,
) -> Response {
    let obs = &state.obs;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    // Zipkin's own server treats a missing content type as JSON.
    let proto = content_type.as_deref() == Some("application/x-protobuf");
    if let Some(ct) = content_type.filter(|ct| ct != "application/json" && !proto) {
        obs.refused_request("content_type");
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {ct:?}: send Zipkin v2 JSON (application/json) or protobuf (application/x-protobuf)"
            ),
        );
    }
    if strata_pipelines::memory::global().under_pressure() {
        obs.refused_request("memory_limit");
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "data refused: memory usage is above the memory_limiter's soft limit; retry later",
        );
    }
    let body = match read_body(&parts.headers, body, state.max_bytes).await {
        Ok(b) => b,
        Err((status, reason, msg)) => {
            obs.refused_request(reason);
            return answer(status, msg);
        }
    };
    let parsed = if proto {
        strata_translators::zipkin::proto::decode(&body)
    } else {
        serde_json::from_slice::<Vec<Span>>(&body).map_err(|e| e.to_string())
    };
    let zipkin: Vec<Span> = match parsed {
        Ok(s) => s,
        Err(e) if proto => {
            obs.refused_request("decode");
            debug!(error = %e, "malformed Zipkin protobuf");
            return answer(StatusCode::BAD_REQUEST, e);
        }
        Err(e) => {
            obs.refused_request("decode");
            debug!(error = %e, "malformed Zipkin JSON");
            return answer(
                StatusCode::BAD_REQUEST,
                format!("invalid Zipkin v2 JSON (expected a list of spans): {e}"),
            );
        }
    };
    let traces = match to_otlp(zipkin, state.opts) {
        Ok(t) => t,
        Err(e) => {
            obs.refused_request("decode");
            return answer(StatusCode::BAD_REQUEST, format!("invalid Zipkin span: {e}"));
        }
    };
    match deliver(&state.next, obs, traces).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(Refusal::NoPipeline(signal)) => answer(
            StatusCode::NOT_FOUND,
            format!("this receiver is not in a {signal} pipeline"),
        ),
        Err(Refusal::Consume(ConsumeError::Permanent(e))) => {
            answer(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(Refusal::Consume(ConsumeError::Retryable { error, .. })) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
    }
}

async fn not_found(State(state): State<Arc<ZipkinState>>, req: Request<Body>) -> Response {
    state.obs.refused_request("not_found");
    answer(
        StatusCode::NOT_FOUND,
        format!(
            "unknown path {:?}: Zipkin v2 spans are posted to /api/v2/spans (v1 is not supported)",
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(State(state): State<Arc<ZipkinState>>, req: Request<Body>) -> Response {
    state.obs.refused_request("method");
    let mut r = answer(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {} not allowed: use POST", req.method()),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

impl ZipkinReceiver {
    /// A receiver for `cfg` (validated) feeding `next`'s traces consumer.
    pub fn new(set: Settings, cfg: Config, next: NextConsumers) -> Self {
        ZipkinReceiver {
            id: set.id.clone(),
            cfg,
            next: next.traces,
            set,
            tasks: Tasks::default(),
            addr: Mutex::new(None),
        }
    }

    /// The address the server listens on, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Component for ZipkinReceiver {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        let err = |e: String| StartError {
            id: self.id.clone(),
            source: e.into(),
        };
        let obs = ReceiverObs::new(&self.set.telemetry, &self.id, "http");
        let sec = self.cfg.security();
        let gate = sec.gate(host, obs.clone()).map_err(err)?;
        let incoming = self
            .tasks
            .listen(
                &self.cfg.endpoint,
                sec.tls.as_ref(),
                &[b"h2", b"http/1.1"],
                Some(obs.refused_counter("tls_handshake")),
                &self.set.telemetry,
                self.set.path(),
            )
            .await
            .map_err(err)?;
        let addr = incoming.local_addr();
        *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        let state = Arc::new(ZipkinState {
            next: self.next.clone(),
            gate,
            obs,
            max_bytes: usize::try_from(self.cfg.max_request_body_size_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            opts: ToOtlpOptions {
                parse_string_tags: self.cfg.parse_string_tags,
            },
        });
        let app = axum::Router::new()
            .route(
                "/api/v2/spans",
                axum::routing::post(spans).fallback(method_not_allowed),
            )
            .fallback(not_found)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(state);
        self.tasks.serve_http(incoming, app, self.id.to_string());
        info!(receiver = %self.id, %addr, "Zipkin v2 listening on /api/v2/spans");
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Receiver for ZipkinReceiver {}

/// Factory of the `zipkin` receiver (traces only).
#[derive(Debug, Default)]
pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
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
        Ok(Arc::new(ZipkinReceiver::new(set, c, next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_testdata_and_errors() {
        let y = |s: &str| serde_yaml_ng::from_str::<YamlValue>(s).unwrap();
        let c = parse_component::<Config>("r", y(include_str!("testdata/config.yaml"))).unwrap();
        assert!(c.parse_string_tags);
        assert_eq!(c.max_request_body_size_mib, 8);
        assert_eq!(
            parse_component::<Config>("r", y("{}")).unwrap(),
            Config::default()
        );
        let e = parse_component::<Config>("r", y("endpoint: 9411")).unwrap_err();
        assert_eq!(e.path, "r::endpoint");
        let e = parse_component::<Config>("r", y("max_request_body_size_mib: 0")).unwrap_err();
        assert_eq!(e.path, "r::max_request_body_size_mib");
        assert!(parse_component::<Config>("r", y("protocols: {}")).is_err());
    }
}
