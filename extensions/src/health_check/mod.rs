//! `health_check` extension: HTTP probes for Kubernetes and load balancers (the Collector's
//! extension of that name: `endpoint`, `path`, `tls`, and its response body).
//!
//! ```yaml
//! extensions:
//!   health_check:
//!     endpoint: 0.0.0.0:13133          # default localhost:13133
//!     path: /                          # default /
//!     tls: { cert_file: ..., key_file: ... }
//!     exporter_failure_threshold: 1m   # /readyz fails once an exporter failed every attempt this long
//! service:
//!   extensions: [health_check]
//! ```
//!
//! | path | 200 | 503 |
//! |---|---|---|
//! | `path` (`/`) | running | starting, and from the moment shutdown begins |
//! | `/livez` | the process serves, also while it drains its queues at shutdown | never (no answer once it exited) |
//! | `/readyz` | running, exporters sending, memory below the limiter's soft limit | starting, stopping, an exporter failing every attempt for `exporter_failure_threshold`, the memory limiter refusing |
//!
//! Body (JSON): `{"status":"Server available","upSince":"<RFC 3339>","uptime":"<duration>"}`,
//! `"Server not available"` on 503, with `"reason"` saying why. Use `/livez` for a liveness
//! probe: a pod draining its queue is alive and must not be killed; `/readyz` for readiness.

mod config;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use strata_pipelines::config::parse_component;
use strata_pipelines::health::{Health, Lifecycle};
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Extension, ExtensionFactory, Host, Settings,
    ShutdownError, StartError, Tasks, YamlValue,
};

pub use config::Config;

/// The type name in configs.
pub const TYPE: &str = "health_check";

/// The `health_check` extension.
pub struct HealthCheck {
    id: ComponentId,
    cfg: Config,
    tasks: Tasks,
    addr: Mutex<Option<std::net::SocketAddr>>,
}

impl HealthCheck {
    /// The address it listens on, once started.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which probe.
#[derive(Clone, Copy)]
enum Probe {
    Status,
    Live,
    Ready,
}

fn answer(
    health: &Health,
    probe: Probe,
    threshold: std::time::Duration,
) -> axum::response::Response {
    let life = health.lifecycle();
    let reason: Option<String> = match (probe, life) {
        (Probe::Live, _) => None,
        (_, Lifecycle::Starting) => Some("starting".into()),
        (_, Lifecycle::Stopping) => Some("shutting down".into()),
        (Probe::Status, Lifecycle::Ready) => None,
        (Probe::Ready, Lifecycle::Ready) => {
            let failing = health.failing_exporters(threshold);
            if let Some((name, d)) = failing.first() {
                Some(format!(
                    "exporter {name} has failed every attempt for {}s",
                    d.as_secs()
                ))
            } else if strata_pipelines::memory::global().under_pressure() {
                Some("memory_limiter is refusing data".into())
            } else {
                None
            }
        }
    };
    let (up_since, uptime) = health.up();
    let mut body = serde_json::json!({
        "status": if reason.is_none() { "Server available" } else { "Server not available" },
        "upSince": humantime::format_rfc3339_seconds(up_since).to_string(),
        "uptime": humantime::format_duration(std::time::Duration::from_secs(uptime.as_secs())).to_string(),
    });
    let status = match reason {
        None => StatusCode::OK,
        Some(r) => {
            body["reason"] = r.into();
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[async_trait]
impl Component for HealthCheck {
    /// Binds the endpoint and serves the probes.
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        let threshold = self.cfg.exporter_failure_threshold;
        let route = |probe: Probe| {
            let health = host.health.clone();
            axum::routing::get(move || {
                let health = health.clone();
                async move { answer(&health, probe, threshold) }
            })
        };
        let mut app = axum::Router::new()
            .route("/livez", route(Probe::Live))
            .route("/readyz", route(Probe::Ready));
        if self.cfg.path != "/livez" && self.cfg.path != "/readyz" {
            app = app.route(&self.cfg.path, route(Probe::Status));
        }
        let addr = self
            .tasks
            .serve_app(
                &self.cfg.endpoint,
                self.cfg.tls.as_ref(),
                &host.telemetry,
                format!("extensions::{}", self.id),
                app,
            )
            .await
            .map_err(|e| StartError {
                id: self.id.clone(),
                source: e.into(),
            })?;
        *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        tracing::info!(extension = %self.id, %addr, path = %self.cfg.path, "health check listening (also /livez, /readyz)");
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Extension for HealthCheck {}

/// Factory of the `health_check` extension.
#[derive(Debug, Default)]
pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(&self, set: Settings, cfg: YamlValue) -> Result<Arc<dyn Extension>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        Ok(Arc::new(HealthCheck {
            id: set.id,
            cfg: c,
            tasks: Tasks::default(),
            addr: Mutex::new(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_defaults_testdata_and_errors() {
        assert_eq!(
            parse_component::<Config>("x", yaml("{}")).unwrap(),
            Config::default()
        );
        assert_eq!(Config::default().endpoint, "localhost:13133");
        let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.path, "/health");
        let e = parse_component::<Config>("x", yaml("pth: /")).unwrap_err();
        assert!(e.message.contains("unknown key"), "{e}");
        let e = parse_component::<Config>("x", yaml("path: health")).unwrap_err();
        assert_eq!(e.path, "x::path");
        let e = parse_component::<Config>("x", yaml("endpoint: nope")).unwrap_err();
        assert_eq!(e.path, "x::endpoint");
    }

    #[test]
    fn probes_follow_the_lifecycle_and_failing_exporters() {
        let h = Health::default();
        let t = std::time::Duration::from_millis(0);
        let code = |p| answer(&h, p, t).status().as_u16();
        assert_eq!(
            (code(Probe::Status), code(Probe::Live), code(Probe::Ready)),
            (503, 200, 503)
        );
        h.set(Lifecycle::Ready);
        assert_eq!(
            (code(Probe::Status), code(Probe::Live), code(Probe::Ready)),
            (200, 200, 200)
        );
        let e = h.register_exporter("otlp (traces)".into());
        e.record(false);
        assert_eq!(
            (code(Probe::Status), code(Probe::Live), code(Probe::Ready)),
            (200, 200, 503)
        );
        e.record(true);
        h.set(Lifecycle::Stopping);
        assert_eq!(
            (code(Probe::Status), code(Probe::Live), code(Probe::Ready)),
            (503, 200, 503)
        );
    }
}
