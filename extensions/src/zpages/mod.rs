//! `zpages` extension: live HTML pages about the running service, at the Collector's paths
//! (`service/internal/graph/host.go` `RegisterZPages`, under `/debug`).
//!
//! ```yaml
//! extensions:
//!   zpages:
//!     endpoint: localhost:55679   # the Collector's default
//! service:
//!   extensions: [zpages]
//! ```
//!
//! | path | shows |
//! |---|---|
//! | `/debug/servicez` | build (version, config fingerprint and sources), runtime, links to the others |
//! | `/debug/pipelinez` | each pipeline's receivers, processors and exporters; each exporter's queue size and capacity, whether every attempt is failing and its last error |
//! | `/debug/extensionz` | the extensions, in start order |
//! | `/debug/featurez` | the build's optional features (Strata's counterpart of the Collector's feature gates) |
//!
//! Keys (`extension/zpagesextension/config.go`): `endpoint`, `tls` and the other
//! `confighttp.ServerConfig` keys Strata serves; `expvar` is Go's `expvar` package (a Go
//! runtime's variables), accepted with a warning. Every value shown is HTML-escaped; nothing
//! shown holds a credential (component ids, counts and error texts only).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::response::{Html, IntoResponse};
use serde::Deserialize;
use strata_pipelines::config::{ComponentConfig, parse_component};
use strata_pipelines::health::Health;
use strata_pipelines::tls::TlsServerConfig;
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Extension, ExtensionFactory, Host, Settings,
    ShutdownError, StartError, Tasks, Telemetry, YamlValue,
};

/// The type name in configs.
pub const TYPE: &str = "zpages";

/// Config of the `zpages` extension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` to listen on. Default `localhost:55679`.
    pub endpoint: String,
    /// TLS for the endpoint (absent: plaintext).
    pub tls: Option<TlsServerConfig>,
    /// `expvar: {enabled}`: Go's runtime variables; no effect in Strata (warned at start).
    pub expvar: Expvar,
    /// `auth: {authenticator: <extension id>}`: every page asks the server authenticator
    /// (`bearertokenauth`, `basicauth`) first; a refused request gets 401 and its challenge.
    pub auth: Option<strata_pipelines::auth::AuthConfig>,
}

/// `expvar` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expvar {
    /// Serve `/debug/expvarz` (Go only).
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: "localhost:55679".into(),
            tls: None,
            expvar: Expvar::default(),
            auth: None,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the endpoint and TLS.
    ///
    /// # Errors
    /// An empty or unparsable endpoint, bad TLS settings.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.endpoint.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                "\"endpoint\" is required when using the \"zpages\" extension",
            ));
        }
        strata_pipelines::config::check_endpoint(format!("{path}::endpoint"), &self.endpoint)?;
        if let Some(t) = &self.tls {
            t.validate(&format!("{path}::tls"))?;
        }
        Ok(())
    }
}

/// The `zpages` extension.
pub struct ZPages {
    id: ComponentId,
    cfg: Config,
    tasks: Tasks,
    addr: Mutex<Option<std::net::SocketAddr>>,
}

impl ZPages {
    /// The address it listens on, once started.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}}</style>\
         </head><body><h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape(title)
    ))
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| escape(i))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// `/debug/servicez`.
pub fn servicez(health: &Health) -> Html<String> {
    let s = health.service();
    let (up_since, uptime) = health.up();
    let props = |rows: &[(&str, String)]| {
        table(
            &["Property", "Value"],
            &rows
                .iter()
                .map(|(k, v)| vec![escape(k), escape(v)])
                .collect::<Vec<_>>(),
        )
    };
    let body = format!(
        "<h2>Build Info</h2>\n{}<h2>Runtime Info</h2>\n{}<h2>Pages</h2>\n\
         <p><a href=\"pipelinez\">Pipelines</a> ({}) · <a href=\"extensionz\">Extensions</a> ({}) · \
         <a href=\"featurez\">Features</a></p>",
        props(&[
            ("Command", "strata".into()),
            (
                "Description",
                "Strata, an OpenTelemetry collector distribution".into()
            ),
            ("Version", s.version.clone()),
            ("Config hash", s.config_hash.clone()),
            ("Config sources", s.sources.join(", ")),
        ]),
        props(&[
            (
                "StartTimestamp",
                humantime::format_rfc3339_seconds(up_since).to_string()
            ),
            (
                "Uptime",
                humantime::format_duration(std::time::Duration::from_secs(uptime.as_secs()))
                    .to_string()
            ),
            ("OS", std::env::consts::OS.into()),
            ("Arch", std::env::consts::ARCH.into()),
            ("Process id", std::process::id().to_string()),
        ]),
        s.pipelines.len(),
        s.extensions.len(),
    );
    page("Service strata", &body)
}

/// `/debug/pipelinez`: the pipelines, then every exporter's queue and errors.
pub fn pipelinez(health: &Health, telemetry: &Telemetry) -> Html<String> {
    let s = health.service();
    let rows: Vec<Vec<String>> = s
        .pipelines
        .iter()
        .map(|p| {
            vec![
                format!("<b>{}</b>", escape(&p.id)),
                list(&p.receivers),
                list(&p.processors),
                list(&p.exporters),
            ]
        })
        .collect();
    let mut body = table(&["Pipeline", "Receivers", "Processors", "Exporters"], &rows);
    let gauge = |name: &str| {
        telemetry
            .gauge_values(name)
            .into_iter()
            .map(|(labels, v)| {
                let get = |k: &str| {
                    labels
                        .iter()
                        .find(|(l, _)| *l == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                (format!("{} ({})", get("exporter"), get("data_type")), v)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let sizes = gauge("otelcol_exporter_queue_size");
    let capacities = gauge("otelcol_exporter_queue_capacity");
    let mut exporters = health.exporters();
    exporters.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<Vec<String>> = exporters
        .iter()
        .map(|(name, h)| {
            let key = name.clone();
            vec![
                escape(name),
                sizes.get(&key).map(ToString::to_string).unwrap_or_default(),
                capacities
                    .get(&key)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                h.failing_for()
                    .map(|d| format!("failing for {}s", d.as_secs()))
                    .unwrap_or_else(|| "ok".into()),
                h.last_error()
                    .map(|(at, e)| {
                        format!("{}: {}", humantime::format_rfc3339_seconds(at), escape(&e))
                    })
                    .unwrap_or_default(),
            ]
        })
        .collect();
    body.push_str("<h2>Exporters</h2>\n");
    body.push_str(&table(
        &[
            "Exporter",
            "Queue size",
            "Queue capacity",
            "State",
            "Last error",
        ],
        &rows,
    ));
    page("Pipelines", &body)
}

/// `/debug/extensionz`.
pub fn extensionz(health: &Health) -> Html<String> {
    let rows: Vec<Vec<String>> = health
        .service()
        .extensions
        .iter()
        .map(|e| vec![escape(e)])
        .collect();
    page("Extensions", &table(&["Extension"], &rows))
}

/// `/debug/featurez`: the build's optional cargo features.
pub fn featurez(health: &Health) -> Html<String> {
    let s = health.service();
    let rows: Vec<Vec<String>> = ["libvirt"]
        .iter()
        .map(|f| {
            vec![
                escape(f),
                (s.features.iter().any(|x| x == f)).to_string(),
                "cargo feature".into(),
            ]
        })
        .collect();
    page("Feature Gates", &table(&["ID", "Enabled", "Kind"], &rows))
}

#[async_trait]
impl Component for ZPages {
    /// Binds the endpoint and serves the pages.
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        if self.cfg.expvar.enabled {
            tracing::warn!(extension = %self.id, "expvar: Go's runtime variables; a Rust process has none, so /debug/expvarz is not served (see /metrics for Strata's)");
        }
        let (h1, h2, h3, h4) = (
            host.health.clone(),
            host.health.clone(),
            host.health.clone(),
            host.health.clone(),
        );
        let t = host.telemetry.clone();
        let mut app = axum::Router::new()
            .route(
                "/debug/servicez",
                axum::routing::get(move || async move { servicez(&h1).into_response() }),
            )
            .route(
                "/debug/pipelinez",
                axum::routing::get(move || async move { pipelinez(&h2, &t).into_response() }),
            )
            .route(
                "/debug/extensionz",
                axum::routing::get(move || async move { extensionz(&h3).into_response() }),
            )
            .route(
                "/debug/featurez",
                axum::routing::get(move || async move { featurez(&h4).into_response() }),
            );
        if let Some(a) = &self.cfg.auth {
            app = strata_pipelines::auth::require(app, host, &a.authenticator, "zpages").map_err(
                |e| StartError {
                    id: self.id.clone(),
                    source: e.into(),
                },
            )?;
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
        tracing::info!(extension = %self.id, %addr, "zpages listening at /debug/servicez, /debug/pipelinez, /debug/extensionz, /debug/featurez");
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Extension for ZPages {}

/// Factory of the `zpages` extension.
#[derive(Debug, Default)]
pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    /// confighttp server keys with no effect on GET-only pages.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        const GET_ONLY: &str = "zpages answers GET requests for pages: there are no request bodies or client metadata to use";
        let mut v = strata_pipelines::accepted::http_server("");
        v.extend([
            strata_pipelines::factory::AcceptedKey::new("cors", "zpages pages are for a browser opening them directly; no cross-origin requests are answered"),
            strata_pipelines::factory::AcceptedKey::new("max_request_body_size", GET_ONLY),
            strata_pipelines::factory::AcceptedKey::new("include_metadata", GET_ONLY),
            strata_pipelines::factory::AcceptedKey::new("compression_algorithms", GET_ONLY),
            strata_pipelines::factory::AcceptedKey::new("response_headers", "not implemented yet: pages carry only their content type"),
        ]);
        v
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(&self, set: Settings, cfg: YamlValue) -> Result<Arc<dyn Extension>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        Ok(Arc::new(ZPages {
            id: set.id,
            cfg: c,
            tasks: Tasks::default(),
            addr: Mutex::new(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use strata_pipelines::health::{PipelineInfo, ServiceInfo};

    use super::*;

    #[test]
    fn config_defaults_and_errors() {
        let c = parse_component::<Config>("x", serde_yaml_ng::from_str("~").unwrap()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.endpoint, "localhost:55679");
        let e = parse_component::<Config>("x", serde_yaml_ng::from_str("endpoint: ''").unwrap())
            .unwrap_err();
        assert!(e.message.contains("required"), "{e}");
    }

    /// Every pipeline and component id is on the page, escaped; an exporter's last error shows.
    #[test]
    fn pipelinez_lists_pipelines_escaped_with_exporter_errors() {
        let health = Health::default();
        health.update_service(|s| {
            *s = ServiceInfo {
                pipelines: vec![PipelineInfo {
                    id: "traces/<b>".into(),
                    receivers: vec!["otlp".into()],
                    processors: vec!["batch".into()],
                    exporters: vec!["otlp/up".into()],
                }],
                ..ServiceInfo::default()
            }
        });
        let t = Telemetry::default();
        t.gauge(
            "otelcol_exporter_queue_size",
            &[("exporter", "otlp/up"), ("data_type", "traces")],
        )
        .set(7);
        let h = health.register_exporter("otlp/up (traces)".into());
        h.record(false);
        h.record_error("connection refused");
        let Html(page) = pipelinez(&health, &t);
        assert!(page.contains("traces/&lt;b&gt;"), "{page}");
        assert!(!page.contains("traces/<b>"), "{page}");
        assert!(page.contains("<td>7</td>"), "{page}");
        assert!(page.contains("connection refused"), "{page}");
        assert!(page.contains("failing for"), "{page}");
    }
}
