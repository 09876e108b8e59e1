use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Value, json};
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Host, Metrics, NextConsumers, Receiver,
    ReceiverFactory, ReceiverObs, Settings, ShutdownError, Signal, StartError, Tasks, Telemetry,
    YamlValue, config::parse_component,
};
use tracing::{info, warn};

use super::client::{CallError, SpdkClient};
use super::histogram::SpdkHistogram;
use super::latency::Latency;
use super::metrics::{self, Recorder};
use super::{Config, TYPE};
use crate::scraper::{Schedule, now_nanos, spawn_loop, str_kv};

/// Converts one method's `result` into data points.
type Convert = fn(&mut Recorder, &Value) -> Result<(), String>;

/// Scrapes one SPDK target: one call per enabled method per interval.
pub struct SpdkScraper {
    id: ComponentId,
    cfg: Config,
    client: SpdkClient,
    telemetry: Telemetry,
    /// Methods the target answered with "method not found": not called again.
    disabled: Mutex<HashSet<&'static str>>,
    /// Whether the absence of an optional socket was logged.
    absent_logged: AtomicBool,
    /// Whether per-channel calls use `names: [..]` (SPDK ≥ v26.05) instead of `name`.
    per_channel_names: AtomicBool,
    /// The latency histograms' series across scrapes.
    latency: Mutex<Latency>,
    /// (bdev, pitfall) pairs already warned about: each is logged once, then counted.
    warned: Mutex<HashSet<(String, &'static str)>>,
    start: u64,
}

impl SpdkScraper {
    /// A scraper for `cfg` (validated).
    ///
    /// # Errors
    /// An unusable endpoint or TLS setting.
    pub fn new(id: ComponentId, cfg: Config, telemetry: Telemetry) -> Result<SpdkScraper, String> {
        Ok(SpdkScraper {
            client: SpdkClient::new(&cfg)?,
            id,
            cfg,
            telemetry,
            disabled: Mutex::new(HashSet::new()),
            absent_logged: AtomicBool::new(false),
            per_channel_names: AtomicBool::new(false),
            latency: Mutex::new(Latency::default()),
            warned: Mutex::new(HashSet::new()),
            start: now_nanos(),
        })
    }

    fn count_error(&self, method: &str, e: &CallError) {
        self.count(
            method,
            match e {
                CallError::Rpc { .. } => "rpc_error",
                CallError::Timeout(_) => "timeout",
                CallError::Transport(_) => "transport",
                CallError::Unreachable(_) => "unreachable",
            },
        );
    }

    /// Counts one failed call in `strata_receiver_spdk_call_errors{receiver,method,cause}`.
    fn count(&self, method: &str, cause: &str) {
        self.telemetry
            .counter(
                "strata_receiver_spdk_call_errors",
                &[
                    ("receiver", &self.id.to_string()),
                    ("method", method),
                    ("cause", cause),
                ],
            )
            .add(1);
    }

    fn is_disabled(&self, method: &str) -> bool {
        self.disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(method)
    }

    /// Calls `method`; on "method not found" disables it for good with one warning.
    async fn call(
        &self,
        method: &'static str,
        params: Option<Value>,
        errors: &mut Vec<String>,
    ) -> Option<Value> {
        match self.client.call(method, params).await {
            Ok(v) => Some(v),
            Err(e) if e.is_unknown_method() => {
                warn!(receiver = %self.id, method, endpoint = self.client.endpoint(),
                    "the SPDK target does not know this method; its scraper is disabled");
                self.disabled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(method);
                None
            }
            Err(e) => {
                self.count_error(method, &e);
                errors.push(format!("{method} on {}: {e}", self.client.endpoint()));
                None
            }
        }
    }

    /// One scrape: the metrics of every method that answered, and an error per method that did
    /// not (with the method and the cause).
    pub async fn scrape(&self) -> (Metrics, Vec<String>) {
        let mut errors = Vec::new();
        if self.cfg.optional
            && let Some(path) = self.client.unix_path()
            && !std::path::Path::new(path).exists()
        {
            if !self.absent_logged.swap(true, Ordering::Relaxed) {
                info!(receiver = %self.id, socket = path, "no SPDK socket yet; scraping starts when it appears");
            }
            return (Metrics::default(), errors);
        }
        let mut resource = Resource {
            attributes: vec![str_kv("spdk.rpc.endpoint", self.client.endpoint())],
            ..Default::default()
        };
        // The version is asked first: if the target cannot be reached, one error says so
        // instead of one per method.
        match self.client.call("spdk_get_version", None).await {
            Ok(v) => {
                if let Some(version) = metrics::version(&v) {
                    resource.attributes.push(str_kv("spdk.version", &version));
                }
            }
            Err(e) if e.is_unknown_method() => {}
            Err(e) => {
                self.count_error("spdk_get_version", &e);
                errors.push(format!(
                    "spdk_get_version on {}: {e}",
                    self.client.endpoint()
                ));
                if matches!(e, CallError::Unreachable(_)) {
                    return (Metrics::default(), errors);
                }
            }
        }
        let now = now_nanos();
        let mut rec = metrics::recorder(self.start, now);
        let s = &self.cfg.scrapers;
        let plan: [(&'static str, bool, Convert); 9] = [
            (
                "bdev_get_iostat",
                s.bdev_get_iostat.enabled,
                metrics::bdev_iostat,
            ),
            ("bdev_get_bdevs", s.bdev_get_bdevs.enabled, metrics::bdevs),
            (
                "nvmf_get_stats",
                s.nvmf_get_stats.enabled,
                metrics::nvmf_stats,
            ),
            (
                "nvmf_get_subsystems",
                s.nvmf_get_subsystems.enabled,
                metrics::nvmf_subsystems,
            ),
            (
                "thread_get_stats",
                s.thread_get_stats.enabled,
                metrics::threads,
            ),
            (
                "framework_get_reactors",
                s.framework_get_reactors.enabled,
                metrics::reactors,
            ),
            ("accel_get_stats", s.accel_get_stats.enabled, metrics::accel),
            ("iobuf_get_stats", s.iobuf_get_stats.enabled, metrics::iobuf),
            (
                "bdev_nvme_get_controllers",
                s.bdev_nvme_get_controllers.enabled,
                metrics::nvme_controllers,
            ),
        ];
        // The histograms reuse this scrape's iostat and bdev list.
        let mut kept: HashMap<&str, Value> = HashMap::new();
        for (method, enabled, convert) in plan {
            if !enabled || self.is_disabled(method) {
                continue;
            }
            if let Some(v) = self.call(method, None, &mut errors).await {
                if let Err(e) = convert(&mut rec, &v) {
                    self.count(method, "invalid_response");
                    errors.push(format!("{method} on {}: {e}", self.client.endpoint()));
                }
                if matches!(method, "bdev_get_iostat" | "bdev_get_bdevs") {
                    kept.insert(method, v);
                }
            }
        }
        if s.bdev_get_iostat.enabled && !self.is_disabled("bdev_get_iostat") {
            for bdev in &s.bdev_get_iostat.per_channel {
                self.per_channel(bdev, &mut rec, &mut errors).await;
            }
        }
        if self.cfg.histograms.enabled && !self.is_disabled("bdev_get_histogram") {
            let iostat = kept.remove("bdev_get_iostat");
            let bdevs = kept.remove("bdev_get_bdevs");
            self.histograms(&mut rec, now, iostat, bdevs, &mut errors)
                .await;
        }
        let metrics = rec.finish();
        if metrics.is_empty() {
            return (Metrics::default(), errors);
        }
        let out = Metrics {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "strata/receiver/spdk".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        (out, errors)
    }

    fn latency(&self) -> std::sync::MutexGuard<'_, Latency> {
        self.latency.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs `message` about `bdev` as a warning the first time this `pitfall` is met for it,
    /// at debug level afterwards.
    fn warn_once(&self, bdev: &str, pitfall: &'static str, message: &str) {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((bdev.to_owned(), pitfall));
        if first {
            warn!(receiver = %self.id, bdev, endpoint = self.client.endpoint(), "{message}");
        } else {
            tracing::debug!(receiver = %self.id, bdev, "{message}");
        }
    }

    /// Counts one histogram (re-)enable in
    /// `strata_receiver_spdk_histogram_enables{receiver,reason}` (`start`, `lost`, `stale`).
    fn count_enable(&self, reason: &str) {
        self.telemetry
            .counter(
                "strata_receiver_spdk_histogram_enables",
                &[("receiver", &self.id.to_string()), ("reason", reason)],
            )
            .add(1);
    }

    /// `bdev_enable_histogram {name, enable, opc?}`: true when SPDK accepted it. A missing
    /// bdev (-19) is warned about once; other errors go to `errors`.
    async fn enable_histogram(&self, bdev: &str, enable: bool, errors: &mut Vec<String>) -> bool {
        let mut params = json!({"name": bdev, "enable": enable});
        if enable && self.cfg.histograms.io_type != "all" {
            params["opc"] = json!(self.cfg.histograms.io_type);
        }
        match self
            .client
            .call("bdev_enable_histogram", Some(params))
            .await
        {
            Ok(_) => true,
            Err(CallError::Rpc { code: -19, .. }) => {
                self.count("bdev_enable_histogram", "no_such_bdev");
                self.warn_once(
                    bdev,
                    "no_such_bdev",
                    "histograms: SPDK has no such bdev (-19); it is asked for again each scrape",
                );
                false
            }
            Err(e) if e.is_unknown_method() => {
                warn!(receiver = %self.id, endpoint = self.client.endpoint(),
                    "the SPDK target has no bdev_enable_histogram; histograms are disabled");
                self.disabled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert("bdev_get_histogram");
                false
            }
            Err(e) => {
                self.count_error("bdev_enable_histogram", &e);
                errors.push(format!(
                    "bdev_enable_histogram {bdev} on {}: {e}",
                    self.client.endpoint()
                ));
                false
            }
        }
    }

    /// The `spdk.bdev.io.latency` histogram of every configured bdev (or every bdev of
    /// `bdevs`, this scrape's `bdev_get_bdevs`), enabling histograms first when `enable` is
    /// set, and handling SPDK's pitfalls: not enabled (-12, e.g. after an SPDK restart), no
    /// such bdev (-19), and channels created after enabling (re-enabled when `iostat` grew and
    /// the histogram did not).
    async fn histograms(
        &self,
        rec: &mut Recorder,
        now: u64,
        iostat: Option<Value>,
        bdevs: Option<Value>,
        errors: &mut Vec<String>,
    ) {
        let h = &self.cfg.histograms;
        let names = if h.bdevs.is_empty() {
            let listed = match bdevs {
                Some(v) => v,
                None => match self.call("bdev_get_bdevs", None, errors).await {
                    Some(v) => v,
                    None => return,
                },
            };
            match metrics::bdev_names(&listed) {
                Ok(n) => n,
                Err(e) => {
                    self.count("bdev_get_bdevs", "invalid_response");
                    errors.push(format!("bdev_get_bdevs on {}: {e}", self.client.endpoint()));
                    return;
                }
            }
        } else {
            h.bdevs.clone()
        };
        let iostat = match iostat {
            Some(v) => Some(v),
            None => self.call("bdev_get_iostat", None, errors).await,
        };
        let ops: HashMap<String, Option<u64>> = iostat
            .as_ref()
            .and_then(|v| metrics::iostat_ops(v, &h.io_type).ok())
            .unwrap_or_default();
        for name in &names {
            if h.enable && !self.latency().is_enabled(name) {
                if !self.enable_histogram(name, true, errors).await {
                    continue;
                }
                self.latency().enabled(name, now);
                self.count_enable("start");
            }
            let r = self
                .client
                .call("bdev_get_histogram", Some(json!({"name": name})))
                .await;
            let v = match r {
                Ok(v) => v,
                Err(e) if e.is_unknown_method() => {
                    warn!(receiver = %self.id, endpoint = self.client.endpoint(),
                        "the SPDK target has no bdev_get_histogram; histograms are disabled");
                    self.disabled
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert("bdev_get_histogram");
                    return;
                }
                // SPDK answers -12 (ENOMEM) for a histogram that is not enabled.
                Err(CallError::Rpc { code: -12, .. }) => {
                    self.latency().forget(name);
                    self.count("bdev_get_histogram", "not_enabled");
                    if h.enable {
                        self.warn_once(name, "not_enabled", "histograms: the bdev's histogram is not enabled (-12): SPDK restarted, or it was disabled; enabling it again");
                        if self.enable_histogram(name, true, errors).await {
                            self.latency().enabled(name, now);
                            self.count_enable("lost");
                        }
                    } else {
                        self.warn_once(name, "not_enabled", "histograms: the bdev's histogram is not enabled (-12); call bdev_enable_histogram, or set histograms.enable: true");
                    }
                    continue;
                }
                Err(CallError::Rpc { code: -19, .. }) => {
                    self.latency().forget(name);
                    self.count("bdev_get_histogram", "no_such_bdev");
                    self.warn_once(
                        name,
                        "no_such_bdev",
                        "histograms: SPDK has no such bdev (-19); it is asked for again each scrape",
                    );
                    continue;
                }
                Err(e) => {
                    self.count_error("bdev_get_histogram", &e);
                    errors.push(format!(
                        "bdev_get_histogram {name} on {}: {e}",
                        self.client.endpoint()
                    ));
                    continue;
                }
            };
            let hist = match SpdkHistogram::decode(&v) {
                Ok(hist) => hist,
                Err(e) => {
                    self.count("bdev_get_histogram", "invalid_response");
                    errors.push(format!(
                        "bdev_get_histogram {name} on {}: {e}",
                        self.client.endpoint()
                    ));
                    continue;
                }
            };
            let seen = ops.get(name).copied().flatten();
            let obs = self.latency().observe(name, &hist, seen, now, self.start);
            metrics::bdev_histogram(rec, name, &h.io_type, &hist, obs.start, &h.bounds);
            if obs.stale {
                self.count("bdev_get_histogram", "stale");
                if h.enable {
                    self.warn_once(name, "stale", "histograms: bdev_get_iostat counted I/O the histogram did not: channels created after bdev_enable_histogram are not merged by SPDK; disabling and enabling the histogram");
                    if self.enable_histogram(name, false, errors).await
                        && self.enable_histogram(name, true, errors).await
                    {
                        self.latency().reenabled(name, now);
                        self.count_enable("stale");
                    }
                } else {
                    self.warn_once(name, "stale", "histograms: bdev_get_iostat counted I/O the histogram did not: channels created after bdev_enable_histogram are not merged by SPDK; disable and enable the histogram, or set histograms.enable: true");
                }
            }
        }
    }

    /// `bdev_get_iostat {name, per_channel: true}`; SPDK v26.05 removed `name` for `names`, so a
    /// parameter-decode error (-32603) retries once with `names` and remembers which worked.
    async fn per_channel(&self, bdev: &str, rec: &mut Recorder, errors: &mut Vec<String>) {
        let by_names = |names: bool| {
            if names {
                json!({"names": [bdev], "per_channel": true})
            } else {
                json!({"name": bdev, "per_channel": true})
            }
        };
        let names = self.per_channel_names.load(Ordering::Relaxed);
        let mut r = self
            .client
            .call("bdev_get_iostat", Some(by_names(names)))
            .await;
        if matches!(r, Err(CallError::Rpc { code: -32603, .. })) {
            r = self
                .client
                .call("bdev_get_iostat", Some(by_names(!names)))
                .await;
            if r.is_ok() {
                self.per_channel_names.store(!names, Ordering::Relaxed);
            }
        }
        let what = format!(
            "bdev_get_iostat per_channel {bdev} on {}",
            self.client.endpoint()
        );
        match r {
            Ok(v) => {
                if let Err(e) = metrics::bdev_iostat_per_channel(rec, bdev, &v) {
                    errors.push(format!("{what}: {e}"));
                }
            }
            Err(e) => {
                self.count_error("bdev_get_iostat", &e);
                errors.push(format!("{what}: {e}"));
            }
        }
    }
}

/// The `spdk` receiver: one scrape loop against one SPDK target.
pub struct SpdkReceiver {
    id: ComponentId,
    cfg: Config,
    scraper: Arc<SpdkScraper>,
    next: NextConsumers,
    set: Settings,
    tasks: Tasks,
}

#[async_trait]
impl Component for SpdkReceiver {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let Some(next) = self.next.metrics.clone() else {
            return Ok(());
        };
        if self.cfg.tls.insecure_skip_verify {
            warn!(receiver = %self.id, "tls.insecure_skip_verify: the proxy's certificate is not verified");
        }
        let scraper = self.scraper.clone();
        spawn_loop(
            &self.tasks,
            self.id.clone(),
            Schedule {
                collection_interval: self.cfg.collection_interval,
                initial_delay: self.cfg.initial_delay,
            },
            Arc::new(move || {
                let s = scraper.clone();
                Box::pin(async move { s.scrape().await })
            }),
            next,
            ReceiverObs::new(&self.set.telemetry, &self.id, ""),
        );
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Receiver for SpdkReceiver {}

/// Factory of the `spdk` receiver.
#[derive(Debug, Default)]
pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
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
        let path = set.path();
        let c = parse_component::<Config>(&path, cfg)?;
        let scraper = SpdkScraper::new(set.id.clone(), c.clone(), set.telemetry.clone())
            .map_err(|e| ConfigError::new(format!("{path}::endpoint"), e))?;
        Ok(Arc::new(SpdkReceiver {
            id: set.id.clone(),
            cfg: c,
            scraper: Arc::new(scraper),
            next,
            set,
            tasks: Tasks::default(),
        }))
    }
}
