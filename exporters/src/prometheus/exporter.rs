use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_pipelines::config::parse_component;
use strata_pipelines::{
    Accepted, BuildError, Component, ComponentId, ConfigError, ConsumeResult, Exporter,
    ExporterFactory, Host, Metrics, Settings, ShutdownError, Signal, StartError, Tasks, YamlValue,
};
use tracing::{info, warn};

use super::render::{Format, render};
use super::{Accumulator, Config, TYPE};
use crate::helper::{HelperConfig, HelperExporter, RequestSender};

/// The `prometheus` exporter: keeps the metrics it is given and serves them on `GET /metrics`.
pub struct PrometheusExporter {
    id: ComponentId,
    cfg: Config,
    acc: Arc<Accumulator>,
    tasks: Tasks,
    addr: Mutex<Option<SocketAddr>>,
}

struct Served {
    acc: Arc<Accumulator>,
    open_metrics: bool,
    timestamps: bool,
}

async fn metrics(State(s): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept, s.open_metrics);
    let (families, targets) = s.acc.snapshot();
    let body = render(&families, &targets, format, s.timestamps);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: metrics are served on GET /metrics\n",
    )
        .into_response()
}

impl PrometheusExporter {
    /// An exporter for `cfg` (validated); nothing listens until `start`.
    pub fn new(id: ComponentId, cfg: Config) -> Self {
        PrometheusExporter {
            id,
            acc: Arc::new(Accumulator::new(&cfg)),
            cfg,
            tasks: Tasks::default(),
            addr: Mutex::new(None),
        }
    }

    /// The address the endpoint listens on, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The accumulated series.
    pub fn accumulator(&self) -> &Arc<Accumulator> {
        &self.acc
    }
}

#[async_trait]
impl RequestSender<Metrics> for PrometheusExporter {
    /// Written in this process: answered at once.
    fn local(&self) -> bool {
        true
    }

    async fn send(&self, data: Arc<Metrics>) -> ConsumeResult {
        let dropped = self.acc.accumulate(&data);
        if dropped.is_empty() {
            return Ok(Accepted::all());
        }
        let n: usize = dropped.iter().map(|(n, _)| n).sum();
        let why: Vec<&str> = dropped.iter().map(|(_, w)| w.as_str()).collect();
        let message = why.join("; ");
        warn!(exporter = %self.id, points = n, reason = %message, "data points not exposed");
        Ok(Accepted::rejecting(n as u64, message))
    }
}

#[async_trait]
impl Component for PrometheusExporter {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        let state = Arc::new(Served {
            acc: self.acc.clone(),
            open_metrics: self.cfg.enable_open_metrics,
            timestamps: self.cfg.send_timestamps,
        });
        let mut app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .fallback(not_found)
            .with_state(state);
        if let Some(a) = &self.cfg.auth {
            app = strata_pipelines::auth::require(app, host, &a.authenticator, "prometheus")
                .map_err(|e| StartError {
                    id: self.id.clone(),
                    source: e.into(),
                })?;
        }
        let addr = self
            .tasks
            .serve_app(
                &self.cfg.endpoint,
                self.cfg.tls.as_ref(),
                &host.telemetry,
                format!("exporters::{}", self.id),
                app,
            )
            .await
            .map_err(|e| StartError {
                id: self.id.clone(),
                source: e.into(),
            })?;
        *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        info!(exporter = %self.id, %addr, "Prometheus endpoint listening on /metrics");
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

/// Factory of the `prometheus` exporter (metrics only).
#[derive(Debug, Default)]
pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    /// confighttp server keys with no effect on a GET-only endpoint, the sending queue of a
    /// pull exporter, and the Collector's feature-gated `resource_constant_labels`.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        use strata_pipelines::factory::AcceptedKey;
        const GET_ONLY: &str =
            "scrapers send GET requests: there are no request bodies or client metadata to use";
        let mut v = strata_pipelines::accepted::http_server("");
        v.extend([
            AcceptedKey::new("cors", "scrapers are not browsers: no cross-origin requests are answered"),
            AcceptedKey::new("max_request_body_size", GET_ONLY),
            AcceptedKey::new("include_metadata", GET_ONLY),
            AcceptedKey::new("compression_algorithms", GET_ONLY),
            AcceptedKey::new("response_headers", "not implemented yet: /metrics answers carry only their content type"),
            AcceptedKey::new(
                "sending_queue",
                "the prometheus exporter keeps the latest value of each series for the next scrape: nothing is queued",
            ),
            AcceptedKey::new(
                "resource_constant_labels",
                "not implemented yet (the Collector's alpha, behind a feature gate): use resource_to_telemetry_conversion",
            ),
        ]);
        v
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create_metrics(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<Metrics>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let e = PrometheusExporter::new(set.id.clone(), c);
        Ok(Arc::new(HelperExporter::new(
            &set,
            HelperConfig::synchronous(std::time::Duration::from_secs(5)),
            Arc::new(e),
        )))
    }
}
