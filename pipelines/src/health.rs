//! The service's health, as a `health_check` extension reports it: the lifecycle (starting,
//! ready, stopping) set by the graph, and each exporter's run of failed attempts set by the
//! exporter helper.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Where the service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Components are being started (or a reload is replacing them).
    Starting,
    /// Every component started.
    Ready,
    /// A shutdown began: receivers stop, queues drain.
    Stopping,
}

/// One exporter's health: since when every attempt has failed (`None` while it succeeds).
#[derive(Debug, Default)]
pub struct ExporterHealth {
    failing_since: Mutex<Option<Instant>>,
    last_error: Mutex<Option<(SystemTime, String)>>,
}

impl ExporterHealth {
    /// Records an attempt's outcome: a success ends a run of failures; a failure starts one
    /// unless one is running.
    pub fn record(&self, ok: bool) {
        let mut f = self.failing_since.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            *f = None;
        } else if f.is_none() {
            *f = Some(Instant::now());
        }
    }

    /// Records a failed attempt's error text (for `zpages`); the text is the error's display,
    /// which never holds a credential (headers and tokens are not part of any error).
    pub fn record_error(&self, error: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((SystemTime::now(), error.to_owned()));
    }

    /// The last failed attempt's time and error, if any failed.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How long every attempt has failed, if it has.
    pub fn failing_for(&self) -> Option<Duration> {
        self.failing_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }
}

#[derive(Debug)]
struct Inner {
    lifecycle: AtomicU8,
    up_since: SystemTime,
    started: Instant,
    exporters: Mutex<Vec<(String, Arc<ExporterHealth>)>>,
    service: Mutex<ServiceInfo>,
}

/// What the running service is made of, for `zpages`: the build, the config's fingerprint and
/// the graph's pipelines and extensions (set by [`crate::Graph::start`], replaced on reload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Strata's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The FNV-1a fingerprint of the merged config, as logged at start.
    pub config_hash: String,
    /// The config sources (files, overlays) by name.
    pub sources: Vec<String>,
    /// Cargo features this build has (`libvirt`).
    pub features: Vec<String>,
    /// Pipelines in id order.
    pub pipelines: Vec<PipelineInfo>,
    /// Extension ids in start order.
    pub extensions: Vec<String>,
}

/// One pipeline's components, by id, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineInfo {
    /// `traces`, `metrics/dpu`.
    pub id: String,
    /// Receiver ids.
    pub receivers: Vec<String>,
    /// Processor ids, in order.
    pub processors: Vec<String>,
    /// Exporter ids.
    pub exporters: Vec<String>,
}

/// The process's health, shared by the graph, the exporters and the `health_check` extension
/// (it lives in the [`crate::Host`], so it outlasts a reload).
#[derive(Debug, Clone)]
pub struct Health(Arc<Inner>);

impl Default for Health {
    fn default() -> Self {
        Health(Arc::new(Inner {
            lifecycle: AtomicU8::new(0),
            up_since: SystemTime::now(),
            started: Instant::now(),
            exporters: Mutex::default(),
            service: Mutex::default(),
        }))
    }
}

impl Health {
    /// The lifecycle now.
    pub fn lifecycle(&self) -> Lifecycle {
        match self.0.lifecycle.load(Ordering::Acquire) {
            1 => Lifecycle::Ready,
            2 => Lifecycle::Stopping,
            _ => Lifecycle::Starting,
        }
    }

    /// Sets the lifecycle (the graph does, at the end of start and the beginning of shutdown).
    pub fn set(&self, l: Lifecycle) {
        let v = match l {
            Lifecycle::Starting => 0,
            Lifecycle::Ready => 1,
            Lifecycle::Stopping => 2,
        };
        self.0.lifecycle.store(v, Ordering::Release);
    }

    /// When the process started, and for how long it has run.
    pub fn up(&self) -> (SystemTime, Duration) {
        (self.0.up_since, self.0.started.elapsed())
    }

    /// A health record for exporter `name` (`otlp/upstream (traces)`); the exporter reports
    /// each attempt to it. A later registration under the same name (a reload) replaces it.
    pub fn register_exporter(&self, name: String) -> Arc<ExporterHealth> {
        let h = Arc::new(ExporterHealth::default());
        let mut all = self.0.exporters.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|(n, _)| *n != name);
        all.push((name, h.clone()));
        h
    }

    /// Every registered exporter's health, by name (`otlp/upstream (traces)`).
    pub fn exporters(&self) -> Vec<(String, Arc<ExporterHealth>)> {
        self.0
            .exporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The service description now.
    pub fn service(&self) -> ServiceInfo {
        self.0
            .service
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the service description (the binary sets the build, the graph its pipelines).
    pub fn update_service(&self, f: impl FnOnce(&mut ServiceInfo)) {
        f(&mut self.0.service.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The exporters whose every attempt has failed for at least `threshold`, with how long.
    pub fn failing_exporters(&self, threshold: Duration) -> Vec<(String, Duration)> {
        self.0
            .exporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|(n, h)| {
                h.failing_for()
                    .filter(|d| *d >= threshold)
                    .map(|d| (n.clone(), d))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_failing_exporters() {
        let h = Health::default();
        assert_eq!(h.lifecycle(), Lifecycle::Starting);
        h.set(Lifecycle::Ready);
        assert_eq!(h.lifecycle(), Lifecycle::Ready);
        let e = h.register_exporter("otlp (traces)".into());
        e.record(false);
        assert_eq!(h.failing_exporters(Duration::ZERO).len(), 1);
        assert!(h.failing_exporters(Duration::from_secs(60)).is_empty());
        e.record(true);
        assert!(h.failing_exporters(Duration::ZERO).is_empty());
        h.set(Lifecycle::Stopping);
        assert_eq!(h.lifecycle(), Lifecycle::Stopping);
    }
}
