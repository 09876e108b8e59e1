//! The pipeline graph: validated from a [`Config`], built, started and shut down in the
//! OpenTelemetry Collector's order.
//!
//! Build: exporters (one per id and signal, shared by every pipeline of that signal) → a fanout
//! per pipeline (skipped for one exporter) → processors back to front (one per pipeline and id) →
//! receivers (one per id, however many pipelines it feeds; a fanout per signal when it feeds
//! several). Start in that order; shut down in reverse: receivers stop accepting first, then
//! processors flush front to back, then exporters.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::component::{Component, Extension, Host, NextConsumers, Receiver};
use crate::config::{Config, ConfigError, ConfigErrors};
use crate::consumer::BoxConsumer;
use crate::error::{BuildError, ShutdownError, StartError};
use crate::factory::{Factories, Kind, Settings, SignalFactories};
use crate::fanout::fanout;
use crate::id::ComponentId;
use crate::signal::{Logs, Metrics, Signal, Traces};
use crate::telemetry::Telemetry;

/// Checks a loaded config against the registry before anything is built: every component type
/// is known, every component config parses and validates, every pipeline has receivers and
/// exporters that are configured and support its signal.
///
/// # Errors
/// All problems found, each with its YAML path.
pub fn validate(cfg: &Config, factories: &Factories) -> Result<(), ConfigErrors> {
    let mut errs = Vec::new();
    let known = |names: Vec<&&str>| {
        names
            .into_iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (id, v) in &cfg.receivers {
        let path = format!("receivers::{id}");
        match factories.receivers.get(id.ty()) {
            Some(f) => errs.extend(f.validate(&path, v).err()),
            None => errs.push(ConfigError::new(
                path,
                format!(
                    "unknown receiver type {:?} (known: {})",
                    id.ty(),
                    known(factories.receivers.keys().collect())
                ),
            )),
        }
    }
    for (id, v) in &cfg.processors {
        let path = format!("processors::{id}");
        match factories.processors.get(id.ty()) {
            Some(f) => errs.extend(f.validate(&path, v).err()),
            None => errs.push(ConfigError::new(
                path,
                format!(
                    "unknown processor type {:?} (known: {})",
                    id.ty(),
                    known(factories.processors.keys().collect())
                ),
            )),
        }
    }
    for (id, v) in &cfg.exporters {
        let path = format!("exporters::{id}");
        match factories.exporters.get(id.ty()) {
            Some(f) => errs.extend(f.validate(&path, v).err()),
            None => errs.push(ConfigError::new(
                path,
                format!(
                    "unknown exporter type {:?} (known: {})",
                    id.ty(),
                    known(factories.exporters.keys().collect())
                ),
            )),
        }
    }
    for (id, v) in &cfg.extensions {
        let path = format!("extensions::{id}");
        match factories.extensions.get(id.ty()) {
            Some(f) => errs.extend(f.validate(&path, v).err()),
            None => errs.push(ConfigError::new(
                path,
                format!(
                    "unknown extension type {:?} (known: {})",
                    id.ty(),
                    known(factories.extensions.keys().collect())
                ),
            )),
        }
    }
    for id in cfg.connectors.keys() {
        errs.push(ConfigError::new(
            format!("connectors::{id}"),
            format!(
                "unknown connector type {:?} (Strata has no connectors yet)",
                id.ty()
            ),
        ));
    }
    for (i, id) in cfg.service.extensions.iter().enumerate() {
        if !cfg.extensions.contains_key(id) {
            errs.push(ConfigError::new(
                format!("service::extensions[{i}]"),
                format!(
                    "references extension {:?} which is not configured",
                    id.to_string()
                ),
            ));
        }
    }
    errs.extend(
        cfg.service
            .telemetry
            .metrics
            .validate("service::telemetry::metrics")
            .err(),
    );
    errs.extend(
        cfg.service
            .telemetry
            .logs
            .validate("service::telemetry::logs")
            .err(),
    );
    if let Some(t) = &cfg.service.telemetry.metrics.tls
        && let Err(e) = t.validate("service::telemetry::metrics::tls")
    {
        errs.push(e);
    }
    // `auth: {authenticator: <id>}` anywhere in a receiver's or exporter's config must name an
    // extension the service starts (else the component fails at start, after validation).
    for (kind, comps) in [("receivers", &cfg.receivers), ("exporters", &cfg.exporters)] {
        for (id, v) in comps {
            let mut refs = Vec::new();
            authenticator_refs(v, format!("{kind}::{id}"), &mut refs);
            for (path, ext) in refs {
                let started = ext
                    .parse::<ComponentId>()
                    .is_ok_and(|e| cfg.service.extensions.contains(&e));
                if !started {
                    errs.push(ConfigError::new(
                        path,
                        format!("authenticator {ext:?} is not an extension in service::extensions"),
                    ));
                }
            }
        }
    }
    if cfg.service.pipelines.is_empty() {
        errs.push(ConfigError::new(
            "service::pipelines",
            "at least one pipeline must be configured",
        ));
    }
    for (pid, p) in &cfg.service.pipelines {
        let path = format!("service::pipelines::{pid}");
        let sig = pid.signal;
        if p.receivers.is_empty() {
            errs.push(ConfigError::new(&path, "must have at least one receiver"));
        }
        if p.exporters.is_empty() {
            errs.push(ConfigError::new(&path, "must have at least one exporter"));
        }
        let mut check =
            |kind: &str,
             ids: &[ComponentId],
             configured: &BTreeMap<ComponentId, serde_yaml_ng::Value>,
             signals: &dyn Fn(&str) -> Option<&'static [Signal]>| {
                for (i, id) in ids.iter().enumerate() {
                    let at = format!("{path}::{kind}s[{i}]");
                    if cfg.connectors.contains_key(id) {
                        // Reported once, at `connectors::<id>`.
                        continue;
                    }
                    if !configured.contains_key(id) {
                        errs.push(ConfigError::new(
                            at,
                            format!(
                                "references {kind} {:?} which is not configured",
                                id.to_string()
                            ),
                        ));
                    } else if let Some(s) = signals(id.ty())
                        && !s.contains(&sig)
                    {
                        errs.push(ConfigError::new(
                            at,
                            format!(
                                "{kind} {:?} does not support the {sig} signal",
                                id.to_string()
                            ),
                        ));
                    }
                }
            };
        check("receiver", &p.receivers, &cfg.receivers, &|t| {
            factories.receivers.get(t).map(|f| f.signals())
        });
        check("processor", &p.processors, &cfg.processors, &|t| {
            factories.processors.get(t).map(|f| f.signals())
        });
        check("exporter", &p.exporters, &cfg.exporters, &|t| {
            factories.exporters.get(t).map(|f| f.signals())
        });
        let mut seen = BTreeSet::new();
        for (i, id) in p.processors.iter().enumerate() {
            if !seen.insert(id) {
                errs.push(ConfigError::new(
                    format!("{path}::processors[{i}]"),
                    format!("processor {:?} appears twice", id.to_string()),
                ));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errs))
    }
}

/// A built pipeline graph, ready to start.
pub struct Graph {
    extensions: Vec<(ComponentId, Arc<dyn Extension>)>,
    /// The host given to `start`, with the extensions added; its deadline is set at shutdown.
    host: std::sync::Mutex<Option<Host>>,
    exporters: Vec<(String, Arc<dyn Component>)>,
    processors: Vec<(String, Arc<dyn Component>)>,
    receivers: Vec<(ComponentId, Arc<dyn Receiver>)>,
    /// The pipelines and extensions as configured, published in the host's health at start.
    info: (Vec<crate::health::PipelineInfo>, Vec<String>),
}

#[derive(Default)]
struct ReceiverWiring {
    traces: Vec<BoxConsumer<Traces>>,
    metrics: Vec<BoxConsumer<Metrics>>,
    logs: Vec<BoxConsumer<Logs>>,
}

impl Graph {
    /// Validates `cfg`, then creates every component (nothing is started).
    ///
    /// # Errors
    /// Validation errors, or the first component that could not be created.
    pub fn build(
        cfg: &Config,
        factories: &Factories,
        telemetry: &Telemetry,
    ) -> Result<Graph, ConfigErrors> {
        validate(cfg, factories)?;
        let mut graph = Graph {
            extensions: Vec::new(),
            host: std::sync::Mutex::new(None),
            exporters: Vec::new(),
            processors: Vec::new(),
            receivers: Vec::new(),
            info: (
                cfg.service
                    .pipelines
                    .iter()
                    .map(|(id, p)| {
                        let names = |v: &[ComponentId]| v.iter().map(ToString::to_string).collect();
                        crate::health::PipelineInfo {
                            id: id.to_string(),
                            receivers: names(&p.receivers),
                            processors: names(&p.processors),
                            exporters: names(&p.exporters),
                        }
                    })
                    .collect(),
                cfg.service
                    .extensions
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        };
        let mut wiring: BTreeMap<ComponentId, ReceiverWiring> = BTreeMap::new();
        let to_errs = |e: BuildError| {
            ConfigErrors(vec![match e {
                BuildError::Config(c) => c,
                other => ConfigError::new("", other),
            }])
        };
        for id in &cfg.service.extensions {
            let f = factories.extensions.get(id.ty()).ok_or_else(|| {
                to_errs(BuildError::Other {
                    id: id.clone(),
                    source: "unknown extension type".into(),
                })
            })?;
            let set = Settings {
                kind: Kind::Extension,
                id: id.clone(),
                telemetry: telemetry.clone(),
            };
            let e = f.create(set, cfg.extensions[id].clone()).map_err(to_errs)?;
            graph.extensions.push((id.clone(), e));
        }
        build_signal::<Traces>(cfg, factories, telemetry, &mut graph, &mut wiring, |w| {
            &mut w.traces
        })
        .map_err(to_errs)?;
        build_signal::<Metrics>(cfg, factories, telemetry, &mut graph, &mut wiring, |w| {
            &mut w.metrics
        })
        .map_err(to_errs)?;
        build_signal::<Logs>(cfg, factories, telemetry, &mut graph, &mut wiring, |w| {
            &mut w.logs
        })
        .map_err(to_errs)?;
        for (id, w) in wiring {
            let next = NextConsumers {
                traces: (!w.traces.is_empty()).then(|| fanout(w.traces)),
                metrics: (!w.metrics.is_empty()).then(|| fanout(w.metrics)),
                logs: (!w.logs.is_empty()).then(|| fanout(w.logs)),
            };
            let f = factories.receivers.get(id.ty()).ok_or_else(|| {
                to_errs(BuildError::Other {
                    id: id.clone(),
                    source: "unknown receiver type".into(),
                })
            })?;
            let set = Settings {
                kind: Kind::Receiver,
                id: id.clone(),
                telemetry: telemetry.clone(),
            };
            let r = f
                .create(set, cfg.receivers[&id].clone(), next)
                .map_err(to_errs)?;
            graph.receivers.push((id, r));
        }
        Ok(graph)
    }

    /// Starts exporters, then processors, then receivers. If one fails, everything already
    /// started is shut down and the error returned.
    ///
    /// # Errors
    /// The first component that failed to start.
    pub async fn start(&self, host: &Host) -> Result<(), StartError> {
        let mut started: Vec<Arc<dyn Component>> = Vec::new();
        let mut host = host.clone();
        host.health.update_service(|s| {
            s.pipelines = self.info.0.clone();
            s.extensions = self.info.1.clone();
        });
        for (id, e) in &self.extensions {
            let span = tracing::info_span!(
                "component",
                "otelcol.component.id" = %id,
                "otelcol.component.kind" = "extension"
            );
            if let Err(err) = tracing::Instrument::instrument(e.start(&host), span).await {
                // The caller reports the error itself; this line says what happens next.
                warn!(extension = %id, "start failed, shutting down what started");
                for s in started.iter().rev() {
                    let _ = s.shutdown().await;
                }
                return Err(err);
            }
            info!(component = %format!("extension {id}"), "started");
            host.extensions.insert(id.clone(), e.clone());
            started.push(e.clone());
        }
        *self.host.lock().unwrap_or_else(|p| p.into_inner()) = Some(host.clone());
        let host = &host;
        let all = self
            .exporters
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .chain(self.processors.iter().map(|(n, c)| (n.clone(), c.clone())))
            .chain(
                self.receivers
                    .iter()
                    .map(|(id, r)| (format!("receiver {id}"), r.clone() as Arc<dyn Component>)),
            );
        for (name, c) in all {
            // Every line a component logs from the tasks it starts names it, as the
            // Collector's `otelcol.component.id` / `otelcol.component.kind` fields do.
            let mut words = name.split(' ');
            let kind = words.next().unwrap_or_default().to_owned();
            let cid = words.next().unwrap_or_default().to_owned();
            let span = tracing::info_span!(
                "component",
                "otelcol.component.id" = %cid,
                "otelcol.component.kind" = %kind
            );
            let started_ok = tracing::Instrument::instrument(c.start(host), span).await;
            if let Err(e) = started_ok {
                warn!(component = %name, "start failed, shutting down what started");
                for s in started.iter().rev() {
                    let _ = s.shutdown().await;
                }
                return Err(e);
            }
            info!(component = %name, "started");
            started.push(c);
        }
        host.health.set(crate::health::Lifecycle::Ready);
        Ok(())
    }

    /// Shuts down receivers, then processors (front to back, so flushed data still reaches
    /// running exporters), then exporters, all within `deadline`.
    ///
    /// # Errors
    /// Every component that failed to shut down, or a timeout.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), Vec<ShutdownError>> {
        if let Some(h) = self.host.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            h.deadline.set(std::time::Instant::now() + deadline);
            h.health.set(crate::health::Lifecycle::Stopping);
        }
        let run = async {
            let mut errs = Vec::new();
            for (id, r) in &self.receivers {
                if let Err(e) = r.shutdown().await {
                    warn!(receiver = %id, error = %e, "shutdown failed");
                    errs.push(e);
                }
            }
            for (name, c) in self.processors.iter().rev().chain(self.exporters.iter()) {
                if let Err(e) = c.shutdown().await {
                    warn!(component = %name, error = %e, "shutdown failed");
                    errs.push(e);
                }
            }
            for (id, e) in self.extensions.iter().rev() {
                if let Err(err) = e.shutdown().await {
                    warn!(extension = %id, error = %err, "shutdown failed");
                    errs.push(err);
                }
            }
            errs
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(errs) if errs.is_empty() => Ok(()),
            Ok(errs) => Err(errs),
            Err(_) => Err(vec![ShutdownError {
                id: ComponentId::new("service", None),
                source: format!("graceful shutdown did not finish within {deadline:?}").into(),
            }]),
        }
    }

    /// Number of receiver instances (one per id).
    pub fn receiver_count(&self) -> usize {
        self.receivers.len()
    }
}

/// Every `auth: {authenticator: <id>}` under `v`, with its path (`...::auth::authenticator`).
fn authenticator_refs(v: &serde_yaml_ng::Value, path: String, out: &mut Vec<(String, String)>) {
    let Some(map) = v.as_mapping() else { return };
    for (k, child) in map {
        let Some(k) = k.as_str() else { continue };
        let here = format!("{path}::{k}");
        if k == "auth"
            && let Some(ext) = child.get("authenticator").and_then(|a| a.as_str())
        {
            out.push((format!("{here}::authenticator"), ext.to_owned()));
        }
        authenticator_refs(child, here, out);
    }
}

fn build_signal<T: SignalFactories>(
    cfg: &Config,
    factories: &Factories,
    telemetry: &Telemetry,
    graph: &mut Graph,
    wiring: &mut BTreeMap<ComponentId, ReceiverWiring>,
    slot: fn(&mut ReceiverWiring) -> &mut Vec<BoxConsumer<T>>,
) -> Result<(), BuildError> {
    let mut exporters: BTreeMap<ComponentId, BoxConsumer<T>> = BTreeMap::new();
    for (pid, p) in cfg
        .service
        .pipelines
        .iter()
        .filter(|(pid, _)| pid.signal == T::SIGNAL)
    {
        let mut consumers = Vec::new();
        for id in &p.exporters {
            if let Some(e) = exporters.get(id) {
                consumers.push(e.clone());
                continue;
            }
            let f = factories
                .exporters
                .get(id.ty())
                .ok_or_else(|| BuildError::Other {
                    id: id.clone(),
                    source: "unknown exporter type".into(),
                })?;
            let set = Settings {
                kind: Kind::Exporter,
                id: id.clone(),
                telemetry: telemetry.clone(),
            };
            let exp = T::create_exporter(f.as_ref(), set, cfg.exporters[id].clone())?;
            graph
                .exporters
                .push((format!("exporter {id} ({})", T::SIGNAL), exp.clone()));
            let c: BoxConsumer<T> = exp;
            exporters.insert(id.clone(), c.clone());
            consumers.push(c);
        }
        let mut next = fanout(consumers);
        for id in p.processors.iter().rev() {
            let f = factories
                .processors
                .get(id.ty())
                .ok_or_else(|| BuildError::Other {
                    id: id.clone(),
                    source: "unknown processor type".into(),
                })?;
            let set = Settings {
                kind: Kind::Processor,
                id: id.clone(),
                telemetry: telemetry.clone(),
            };
            let proc = T::create_processor(f.as_ref(), set, cfg.processors[id].clone(), next)?;
            graph
                .processors
                .push((format!("processor {id} in pipeline {pid}"), proc.clone()));
            next = proc;
        }
        for r in &p.receivers {
            slot(wiring.entry(r.clone()).or_default()).push(next.clone());
        }
    }
    Ok(())
}

/// Applies each component factory's key rules to `cfg` before it is validated or built: keys
/// a factory accepts without effect ([`crate::factory::AcceptedKey`]) are removed, and an
/// optional section (the Collector's `configoptional.Optional`) with `enabled: false` is
/// removed whole, with `enabled: true` kept without the key. Returns, for each key removed
/// without effect, its YAML path and why, to be logged once at start (and printed by
/// `strata validate`).
pub fn apply_key_rules(cfg: &mut Config, factories: &Factories) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let mut each =
        |section: &str,
         comps: &mut BTreeMap<ComponentId, serde_yaml_ng::Value>,
         rules: &dyn Fn(&str) -> Option<Vec<crate::factory::AcceptedKey>>| {
            for (id, v) in comps.iter_mut() {
                if let Some(r) = rules(id.ty()) {
                    out.extend(crate::factory::strip_accepted(
                        &format!("{section}::{id}"),
                        v,
                        &r,
                    ));
                }
            }
        };
    each("receivers", &mut cfg.receivers, &|t| {
        factories.receivers.get(t).map(|f| f.accepted())
    });
    each("processors", &mut cfg.processors, &|t| {
        factories.processors.get(t).map(|f| f.accepted())
    });
    each("exporters", &mut cfg.exporters, &|t| {
        factories.exporters.get(t).map(|f| f.accepted())
    });
    each("extensions", &mut cfg.extensions, &|t| {
        factories.extensions.get(t).map(|f| f.accepted())
    });
    out
}
