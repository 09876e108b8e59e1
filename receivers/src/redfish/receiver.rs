use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource as OtelResource;
use serde_json::Value;
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Host, Metrics, NextConsumers, Receiver,
    ReceiverFactory, ReceiverObs, Settings, ShutdownError, Signal, StartError, Tasks, Telemetry,
    YamlValue, config::parse_component,
};
use tracing::{debug, info, warn};

use super::client::{FetchError, RedfishClient};
use super::config::{Resource, Server};
use super::events::EventMode;
use super::metrics::{self, ChassisDocs};
use super::{Config, TYPE};
use crate::scraper::{Schedule, now_nanos, spawn_loop, str_kv};

fn link<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key)?.get("@odata.id")?.as_str()
}

fn links<'a>(doc: &'a Value, key: &str) -> Vec<&'a str> {
    doc.pointer(&format!("/Links/{key}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("@odata.id")?.as_str())
                .collect()
        })
        .unwrap_or_default()
}

fn text<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

/// The BMC's resource attributes, and per chassis or system URI those of its resource.
pub(super) type Origins = (Vec<KeyValue>, Vec<(String, Vec<KeyValue>)>);

/// Scrapes one Redfish service: discovery from the service root, then every selected
/// chassis's thermal, power, sensor and environment resources, concurrently with a bound.
pub struct RedfishScraper {
    pub(super) id: ComponentId,
    pub(super) cfg: Config,
    pub(super) server: Server,
    pub(super) client: RedfishClient,
    pub(super) telemetry: Telemetry,
    pub(super) start: u64,
    /// `DataSourceUri`s found to name no Sensor ([`Self::read_linked_sensors`]).
    pub(super) not_sensors: std::sync::Mutex<HashSet<String>>,
    /// Per metric-report series, the newest sample exported ([`super::reports`]).
    pub(super) reports_newest: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// The last scrape's resource attributes: the BMC's, then per chassis (and the systems it
    /// links) by URI, for events whose origin is under them.
    pub(super) origins: std::sync::Mutex<Origins>,
    /// Events already delivered ([`super::events::Dedup`]).
    pub(super) dedup: std::sync::Mutex<super::events::Dedup>,
    /// Our push subscription's URI at the BMC, once created or found.
    pub(super) subscription: tokio::sync::Mutex<Option<String>>,
    /// push: the BMC refused `EventTypes` once; subscriptions leave it out from then on.
    pub(super) without_event_types: std::sync::atomic::AtomicBool,
    /// Set (and notified) once a scrape has mapped chassis and systems for events.
    pub(super) discovered: (std::sync::atomic::AtomicBool, tokio::sync::Notify),
}

impl RedfishScraper {
    /// A scraper of `server` with the receiver settings of `cfg` (validated).
    ///
    /// # Errors
    /// An unusable TLS setting.
    pub fn new(
        id: ComponentId,
        cfg: Config,
        server: Server,
        telemetry: Telemetry,
    ) -> Result<RedfishScraper, String> {
        let endpoint = server.endpoint.clone();
        let dedup_window = cfg.events.dedup_window;
        Ok(RedfishScraper {
            client: RedfishClient::new(&server, cfg.timeout, cfg.max_concurrency)?,
            id,
            cfg,
            server,
            telemetry,
            start: now_nanos(),
            not_sensors: Default::default(),
            reports_newest: Default::default(),
            origins: std::sync::Mutex::new((
                vec![str_kv("redfish.endpoint", &endpoint)],
                Vec::new(),
            )),
            dedup: std::sync::Mutex::new(super::events::Dedup::new(dedup_window)),
            subscription: tokio::sync::Mutex::new(None),
            without_event_types: Default::default(),
            discovered: Default::default(),
        })
    }

    /// A copy (an excerpt in `EnvironmentMetrics`, `ThermalSubsystem` or `PowerSubsystem`)
    /// names its Sensor in `DataSourceUri`, and the Sensor resource is authoritative for its
    /// own reading: the Sensors that no chassis `Sensors` collection listed are read too, and
    /// join the chassis whose URI they are under (else the first). A URI that names no Sensor
    /// (404, as mockups and some firmware have, or another resource type) is remembered and
    /// not asked again until the BMC was unreachable; its copy's reading stands.
    async fn read_linked_sensors(
        &self,
        docs: &mut [(ChassisDocs, Vec<FetchError>)],
        system_env: &[Option<Vec<(Value, Value)>>],
        errors: &mut Vec<String>,
    ) {
        let have: HashSet<&str> = docs
            .iter()
            .flat_map(|(d, _)| d.sensors.iter().filter_map(|s| text(s, "@odata.id")))
            .collect();
        let mut wanted = std::collections::BTreeSet::new();
        for (d, _) in docs.iter() {
            for v in d
                .fans
                .iter()
                .chain(d.environment.iter())
                .chain(d.thermal_metrics.iter())
                .chain(d.power_supplies.iter().filter_map(|(_, m)| m.as_ref()))
            {
                data_sources(v, &mut wanted);
            }
        }
        for (_, env) in system_env.iter().flatten().flatten() {
            data_sources(env, &mut wanted);
        }
        {
            let not_sensors = self.not_sensors.lock().unwrap_or_else(|p| p.into_inner());
            wanted.retain(|u| {
                !have.contains(u.as_str())
                    && !not_sensors.contains(u)
                    && u.starts_with("/redfish/v1/")
            });
        }
        let fetched = join_all(wanted.iter().map(|u| self.client.get(u))).await;
        for (uri, r) in wanted.into_iter().zip(fetched) {
            match r {
                Ok(sensor)
                    if text(&sensor, "@odata.type").is_some_and(|t| t.contains("Sensor")) =>
                {
                    let home = docs
                        .iter()
                        .position(|(d, _)| {
                            text(&d.chassis, "@odata.id")
                                .is_some_and(|c| uri.starts_with(&format!("{c}/")))
                        })
                        .unwrap_or(0);
                    if let Some((d, _)) = docs.get_mut(home) {
                        d.sensors.push(sensor);
                    }
                }
                Ok(_) | Err(FetchError::Status { status: 404, .. }) => {
                    debug!(receiver = %self.id, uri, "DataSourceUri names no Sensor; its copy is used");
                    self.not_sensors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(uri);
                }
                Err(e) => errors.push(self.failed(&e)),
            }
        }
    }

    /// The `TelemetryService` metric reports (those of `telemetry_service.reports`, or all) as
    /// gauges; `None` when the service has no TelemetryService or no report gave a value.
    async fn metric_reports(
        &self,
        root: &Value,
        now: u64,
        errors: &mut Vec<String>,
    ) -> Option<Vec<opentelemetry_proto::tonic::metrics::v1::Metric>> {
        let ts = match self.get_link(root, "TelemetryService").await {
            Ok(Some(ts)) => ts,
            Ok(None) => {
                debug!(receiver = %self.id, server = self.server.endpoint, "no TelemetryService");
                return None;
            }
            Err(e) => {
                errors.push(self.failed(&e));
                return None;
            }
        };
        let (reports, errs) = self.members_link(&ts, "MetricReports").await;
        for e in &errs {
            errors.push(self.failed(e));
        }
        let wanted = &self.cfg.telemetry_service.reports;
        let reports: Vec<Value> = reports
            .into_iter()
            .filter(|r| {
                wanted.is_empty() || text(r, "Id").is_some_and(|id| wanted.iter().any(|w| w == id))
            })
            .collect();
        let got = {
            let mut newest = self
                .reports_newest
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            super::reports::interpret(&reports, now, &mut newest)
        };
        if got.skipped > 0 {
            debug!(receiver = %self.id, server = self.server.endpoint, skipped = got.skipped,
                "metric report values without a name or a number");
            self.telemetry
                .counter(
                    "strata_receiver_redfish_report_values_skipped",
                    &[
                        ("receiver", &self.id.to_string()),
                        ("server", &self.server.endpoint),
                    ],
                )
                .add(got.skipped as u64);
        }
        (!got.metrics.is_empty()).then_some(got.metrics)
    }

    /// Counts `e` in `strata_receiver_redfish_errors{receiver,server,cause}` and returns its
    /// message.
    pub(super) fn failed(&self, e: &FetchError) -> String {
        self.telemetry
            .counter(
                "strata_receiver_redfish_errors",
                &[
                    ("receiver", &self.id.to_string()),
                    ("server", &self.server.endpoint),
                    ("cause", &e.cause()),
                ],
            )
            .add(1);
        e.to_string()
    }

    async fn get_link(&self, doc: &Value, key: &str) -> Result<Option<Value>, FetchError> {
        match link(doc, key) {
            Some(l) => self.client.get(l).await.map(Some),
            None => Ok(None),
        }
    }

    async fn members_link(&self, doc: &Value, key: &str) -> (Vec<Value>, Vec<FetchError>) {
        match link(doc, key) {
            Some(l) => self.client.members(l).await,
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Everything read for one chassis, and the errors of what could not be read.
    async fn chassis_docs(&self, chassis: &Value) -> (ChassisDocs, Vec<FetchError>) {
        let reads = |r| self.cfg.reads(r);
        let sensors = async {
            if reads(Resource::Sensors) {
                self.members_link(chassis, "Sensors").await
            } else {
                (Vec::new(), Vec::new())
            }
        };
        let thermal_subsystem = async {
            let mut errors = Vec::new();
            if !reads(Resource::Thermal) {
                return (Vec::new(), None, errors);
            }
            let ts = match self.get_link(chassis, "ThermalSubsystem").await {
                Ok(Some(ts)) => ts,
                Ok(None) => return (Vec::new(), None, errors),
                Err(e) => {
                    errors.push(e);
                    return (Vec::new(), None, errors);
                }
            };
            let ((fans, mut fe), tm) = futures::join!(
                self.members_link(&ts, "Fans"),
                self.get_link(&ts, "ThermalMetrics")
            );
            errors.append(&mut fe);
            let tm = tm.unwrap_or_else(|e| {
                errors.push(e);
                None
            });
            (fans, tm, errors)
        };
        let power_subsystem = async {
            let mut errors = Vec::new();
            if !reads(Resource::Power) {
                return (Vec::new(), errors);
            }
            let ps = match self.get_link(chassis, "PowerSubsystem").await {
                Ok(Some(ps)) => ps,
                Ok(None) => return (Vec::new(), errors),
                Err(e) => {
                    errors.push(e);
                    return (Vec::new(), errors);
                }
            };
            let (psus, mut pe) = self.members_link(&ps, "PowerSupplies").await;
            errors.append(&mut pe);
            let metrics = join_all(psus.iter().map(|p| self.get_link(p, "Metrics"))).await;
            let out = psus
                .into_iter()
                .zip(metrics)
                .map(|(p, m)| {
                    let m = m.unwrap_or_else(|e| {
                        errors.push(e);
                        None
                    });
                    (p, m)
                })
                .collect();
            (out, errors)
        };
        let single = |on: bool, key: &'static str| async move {
            if on {
                self.get_link(chassis, key).await
            } else {
                Ok(None)
            }
        };
        let ((sensors, mut errors), (fans, thermal_metrics, mut te), (psus, mut pe), env, th, pw) = futures::join!(
            sensors,
            thermal_subsystem,
            power_subsystem,
            single(reads(Resource::Environment), "EnvironmentMetrics"),
            single(reads(Resource::Thermal), "Thermal"),
            single(reads(Resource::Power), "Power"),
        );
        errors.append(&mut te);
        errors.append(&mut pe);
        let mut ok = |r: Result<Option<Value>, FetchError>| {
            r.unwrap_or_else(|e| {
                errors.push(e);
                None
            })
        };
        let docs = ChassisDocs {
            chassis: chassis.clone(),
            sensors,
            fans,
            thermal_metrics,
            power_supplies: psus,
            environment: ok(env),
            thermal: ok(th),
            power: ok(pw),
            component_environment: Vec::new(),
            sensors_read: Default::default(),
        };
        (docs, errors)
    }

    /// The `EnvironmentMetrics` of a system's processors and memory modules, each with its
    /// component.
    async fn component_environment(
        &self,
        system: &Value,
    ) -> (Vec<(Value, Value)>, Vec<FetchError>) {
        let ((cpus, mut errors), (dimms, mut me)) = futures::join!(
            self.members_link(system, "Processors"),
            self.members_link(system, "Memory"),
        );
        errors.append(&mut me);
        let comps: Vec<Value> = cpus
            .into_iter()
            .chain(dimms)
            .filter(|c| link(c, "EnvironmentMetrics").is_some())
            .collect();
        let envs = join_all(comps.iter().map(|c| self.get_link(c, "EnvironmentMetrics"))).await;
        let mut out = Vec::new();
        for (c, e) in comps.into_iter().zip(envs) {
            match e {
                Ok(Some(e)) => out.push((c, e)),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        (out, errors)
    }

    /// One scrape: a resource per chassis (and per system no selected chassis links), and an
    /// error (URL and cause) per resource that could not be read.
    pub async fn scrape(&self) -> (Metrics, Vec<String>) {
        let mut errors = Vec::new();
        let root = match self.client.service_root(self.cfg.expand).await {
            Ok(r) => r,
            Err(e) => {
                // Unreachable or failing: the BMC may come back with other firmware.
                self.not_sensors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                return (Metrics::default(), vec![self.failed(&e)]);
            }
        };
        let ((systems, se), (chassis, ce), (managers, me)) = futures::join!(
            self.members_link(&root, "Systems"),
            self.members_link(&root, "Chassis"),
            self.members_link(&root, "Managers"),
        );
        for e in se.iter().chain(&ce).chain(&me) {
            errors.push(self.failed(e));
        }
        let id_in = |doc: &Value, filter: &[String]| {
            filter.is_empty() || text(doc, "Id").is_some_and(|id| filter.iter().any(|f| f == id))
        };
        let systems: Vec<&Value> = systems
            .iter()
            .filter(|s| id_in(s, &self.server.computer_system_id))
            .collect();
        let chassis: Vec<&Value> = chassis
            .iter()
            .filter(|c| id_in(c, &self.server.chassis_id))
            .collect();
        let by_id = |list: &[&Value], id: &str| -> Option<Value> {
            list.iter()
                .find(|d| text(d, "@odata.id") == Some(id))
                .map(|d| (*d).clone())
        };
        let managers: Vec<&Value> = managers.iter().collect();

        let now = now_nanos();
        let base = {
            let mut a = vec![str_kv("redfish.endpoint", &self.server.endpoint)];
            if let Some(u) = text(&root, "UUID") {
                a.push(str_kv("redfish.service.uuid", u));
            }
            a
        };
        let (docs, system_envs) = futures::join!(
            join_all(chassis.iter().map(|c| self.chassis_docs(c))),
            join_all(systems.iter().map(|s| async {
                if self.cfg.reads(Resource::Environment) {
                    self.component_environment(s).await
                } else {
                    (Vec::new(), Vec::new())
                }
            })),
        );
        let mut system_env: Vec<Option<Vec<(Value, Value)>>> = Vec::new();
        for (envs, errs) in system_envs {
            for e in &errs {
                errors.push(self.failed(e));
            }
            system_env.push(Some(envs));
        }
        let system_index = |id: &str| {
            systems
                .iter()
                .position(|s| text(s, "@odata.id") == Some(id))
        };
        let mut docs = docs;
        if self.cfg.reads(Resource::Sensors) {
            self.read_linked_sensors(&mut docs, &system_env, &mut errors)
                .await;
        }
        // A DPU card no `ContainedBy` places: its server may list it among its PCIe devices.
        let mut pcie = Vec::new();
        for holder in super::dpu::needs_pcie(&chassis, &systems) {
            let path = format!("{holder}/PCIeDevices");
            let link = chassis
                .iter()
                .find(|c| text(c, "@odata.id") == Some(holder))
                .and_then(|c| link(c, "PCIeDevices"))
                .unwrap_or(&path);
            let (devices, errs) = self.client.members(link).await;
            for e in &errs {
                errors.push(self.failed(e));
            }
            pcie.push((holder.to_owned(), devices));
        }
        let cards = super::dpu::cards(&chassis, &systems, &pcie);
        let mut resources = Vec::new();
        let mut origins: Vec<(String, Vec<KeyValue>)> = Vec::new();
        let mut linked_systems = Vec::new();
        let mut matched = 0;
        let mut seen = metrics::Seen::new();
        // Sensor resources are authoritative for their readings, whichever chassis holds them.
        let sensors_read = std::sync::Arc::new(
            docs.iter()
                .flat_map(|(d, _)| metrics::sensor_ids(&d.sensors))
                .collect::<HashSet<_>>(),
        );
        for (c, (mut docs, errs)) in chassis.iter().zip(docs) {
            docs.sensors_read = sensors_read.clone();
            for e in &errs {
                errors.push(self.failed(e));
            }
            let cid = text(c, "@odata.id").unwrap_or("");
            // The first chassis linking a system gets its processors' and memory's readings.
            for l in links(c, "ComputerSystems") {
                if let Some(envs) = system_index(l).and_then(|i| system_env[i].take()) {
                    docs.component_environment.extend(envs);
                }
            }
            let mut rec = metrics::recorder(self.start, now);
            matched += metrics::interpret_with(&mut rec, &docs, &mut seen);
            let mut attrs = base.clone();
            attrs.push(str_kv("redfish.chassis.id", text(c, "Id").unwrap_or(cid)));
            for (k, p) in [
                ("redfish.chassis.type", "ChassisType"),
                ("redfish.chassis.manufacturer", "Manufacturer"),
                ("redfish.chassis.model", "Model"),
                ("redfish.chassis.serial_number", "SerialNumber"),
                ("redfish.chassis.part_number", "PartNumber"),
            ] {
                if let Some(v) = text(c, p) {
                    attrs.push(str_kv(k, v));
                }
            }
            if let Some(d) = super::dpu::attributes_for(&cards, cid) {
                attrs.extend(d.iter().cloned());
            }
            let sys: Vec<Value> = links(c, "ComputerSystems")
                .into_iter()
                .filter_map(|l| by_id(&systems, l))
                .collect();
            if let [s] = sys.as_slice() {
                system_attrs(&mut attrs, s);
            }
            if let Some(m) = links(c, "ManagedBy")
                .first()
                .and_then(|l| by_id(&managers, l))
            {
                manager_attrs(&mut attrs, &m);
            }
            if self.cfg.reads(Resource::Status) {
                metrics::component_status(&mut rec, c, "enclosure", "");
                for s in &sys {
                    metrics::component_status(&mut rec, s, "host", cid);
                }
            }
            linked_systems.extend(
                sys.iter()
                    .filter_map(|s| text(s, "@odata.id").map(str::to_owned)),
            );
            origins.push((cid.to_owned(), attrs.clone()));
            for s in &sys {
                if let Some(u) = text(s, "@odata.id") {
                    origins.push((u.to_owned(), attrs.clone()));
                }
            }
            resources.push((attrs, rec.finish()));
        }
        {
            for s in systems.iter().filter(|s| {
                !text(s, "@odata.id").is_some_and(|i| linked_systems.iter().any(|l| l == i))
            }) {
                let mut rec = metrics::recorder(self.start, now);
                if let Some(envs) = text(s, "@odata.id")
                    .and_then(system_index)
                    .and_then(|i| system_env[i].take())
                {
                    metrics::interpret(
                        &mut rec,
                        &ChassisDocs {
                            chassis: (*s).clone(),
                            component_environment: envs,
                            ..Default::default()
                        },
                    );
                }
                if self.cfg.reads(Resource::Status) {
                    metrics::component_status(&mut rec, s, "host", "");
                }
                let mut attrs = base.clone();
                system_attrs(&mut attrs, s);
                if let Some(d) =
                    text(s, "@odata.id").and_then(|u| super::dpu::attributes_for(&cards, u))
                {
                    attrs.extend(d.iter().cloned());
                }
                resources.push((attrs, rec.finish()));
            }
        }
        *self.origins.lock().unwrap_or_else(|p| p.into_inner()) = (base.clone(), origins);
        if !self
            .discovered
            .0
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.discovered.1.notify_waiters();
        }
        if self.cfg.telemetry_service.enabled
            && let Some(m) = self.metric_reports(&root, now, &mut errors).await
        {
            let mut attrs = base.clone();
            attrs.push(str_kv("redfish.source", "telemetry_service"));
            resources.push((attrs, m));
        }
        if matched > 0 {
            debug!(receiver = %self.id, server = self.server.endpoint, matched,
                "legacy Thermal/Power entries recognised as sensors already read");
        }
        let resource_metrics = resources
            .into_iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(attributes, metrics)| ResourceMetrics {
                resource: Some(OtelResource {
                    attributes,
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "strata/receiver/redfish".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        (Metrics { resource_metrics }, errors)
    }
}

fn system_attrs(attrs: &mut Vec<KeyValue>, s: &Value) {
    if let Some(id) = text(s, "Id") {
        attrs.push(str_kv("redfish.system.id", id));
    }
    for (k, p) in [
        ("host.name", "HostName"),
        ("redfish.system.manufacturer", "Manufacturer"),
        ("redfish.system.model", "Model"),
        ("redfish.system.serial_number", "SerialNumber"),
        ("redfish.system.bios_version", "BiosVersion"),
    ] {
        if let Some(v) = text(s, p).filter(|v| !v.is_empty()) {
            attrs.push(str_kv(k, v));
        }
    }
}

fn manager_attrs(attrs: &mut Vec<KeyValue>, m: &Value) {
    for (k, p) in [
        ("redfish.manager.id", "Id"),
        ("redfish.manager.model", "Model"),
        ("redfish.manager.firmware_version", "FirmwareVersion"),
    ] {
        if let Some(v) = text(m, p) {
            attrs.push(str_kv(k, v));
        }
    }
}

/// The `redfish` receiver: one scrape loop per BMC.
pub struct RedfishReceiver {
    id: ComponentId,
    cfg: Config,
    scrapers: Vec<Arc<RedfishScraper>>,
    next: NextConsumers,
    set: Settings,
    tasks: Tasks,
}

#[async_trait]
impl Component for RedfishReceiver {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        self.start_events().await?;
        let Some(next) = self.next.metrics.clone() else {
            return Ok(());
        };
        if self.scrapers.is_empty() {
            info!(receiver = %self.id, "no Redfish endpoint configured; the receiver is idle");
        }
        for s in &self.scrapers {
            if s.server.tls.insecure_skip_verify {
                warn!(receiver = %self.id, server = s.server.endpoint,
                    "tls.insecure_skip_verify: the BMC's certificate is not verified");
            }
            let scraper = s.clone();
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
                next.clone(),
                ReceiverObs::new(&self.set.telemetry, &self.id, ""),
            );
        }
        Ok(())
    }

    /// Stops the scrape and event loops, deletes this receiver's event subscriptions (push),
    /// then every open Redfish session.
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        if self.events_on() && self.cfg.events.mode == Some(EventMode::Push) {
            join_all(self.scrapers.iter().map(|s| s.unsubscribe())).await;
        }
        join_all(self.scrapers.iter().map(|s| s.client.logout())).await;
        Ok(())
    }
}

impl RedfishReceiver {
    fn events_on(&self) -> bool {
        self.cfg.events.mode.is_some() && self.next.logs.is_some() && !self.scrapers.is_empty()
    }

    /// The subscription `Context` of each BMC: the configured one (default `strata <receiver
    /// id> <host name>`), with the BMC's endpoint appended when there are several.
    fn contexts(&self) -> Vec<String> {
        let base = self.cfg.events.context.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default();
            format!("strata {} {host}", self.id).trim().to_owned()
        });
        self.scrapers
            .iter()
            .map(|s| {
                if self.scrapers.len() > 1 {
                    format!("{base} {}", s.server.endpoint)
                } else {
                    base.clone()
                }
            })
            .collect()
    }

    /// Starts receiving events: the push listener and one subscription keeper per BMC, or one
    /// SSE reader per BMC.
    async fn start_events(&self) -> Result<(), StartError> {
        let ev = &self.cfg.events;
        match (ev.mode, &self.next.logs) {
            (None, Some(_)) => {
                warn!(receiver = %self.id, "the receiver is in a logs pipeline but events.mode is not set: no events");
                return Ok(());
            }
            (Some(_), None) => {
                warn!(receiver = %self.id, "events.mode is set but the receiver is in no logs pipeline: no events");
                return Ok(());
            }
            _ if !self.events_on() => return Ok(()),
            _ => {}
        }
        let Some(next) = self.next.logs.clone() else {
            return Ok(());
        };
        let contexts = self.contexts();
        let obs = ReceiverObs::new(&self.set.telemetry, &self.id, "");
        match ev.mode {
            Some(EventMode::Sse) => {
                for s in &self.scrapers {
                    self.tasks.spawn(s.clone().read_event_stream(
                        next.clone(),
                        obs.clone(),
                        self.tasks.token(),
                    ));
                }
            }
            Some(EventMode::Push) => {
                let obs = ReceiverObs::new(&self.set.telemetry, &self.id, "http");
                let incoming = self
                    .tasks
                    .listen(
                        &ev.listen,
                        ev.tls.as_ref(),
                        &[b"http/1.1"],
                        Some(obs.refused_counter("tls_handshake")),
                        &self.set.telemetry,
                        format!("{}::events", self.set.path()),
                    )
                    .await
                    .map_err(|e| StartError {
                        id: self.id.clone(),
                        source: e.into(),
                    })?;
                let addr = incoming.local_addr();
                let state = Arc::new(PushState {
                    scrapers: self
                        .scrapers
                        .iter()
                        .cloned()
                        .zip(contexts.clone())
                        .collect(),
                    next,
                    obs,
                });
                let app = axum::Router::new()
                    .route(&ev.path(), axum::routing::post(event_post))
                    .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
                    .with_state(state);
                self.tasks
                    .serve_http(incoming, app, format!("{} events", self.id));
                info!(receiver = %self.id, %addr, path = ev.path(), destination = ev.destination, "listening for Redfish events");
                for (s, ctx) in self.scrapers.iter().zip(contexts) {
                    self.tasks.spawn(s.clone().keep_subscribed(
                        ctx,
                        ev.destination.clone(),
                        ev.check_interval,
                        self.tasks.token(),
                    ));
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// What the push listener needs: each BMC's scraper with its subscription `Context`.
struct PushState {
    scrapers: Vec<(Arc<RedfishScraper>, String)>,
    next: strata_pipelines::BoxConsumer<strata_pipelines::Logs>,
    obs: ReceiverObs,
}

/// `POST <destination path>`: one `Event` document from a BMC (DSP0266 §13.5.1). 204 when
/// delivered; 400 for a body that is not an Event; 404 for a `Context` of no subscription of
/// this receiver (with several BMCs); 503 when the pipeline refuses (the BMC retries).
async fn event_post(
    axum::extract::State(state): axum::extract::State<Arc<PushState>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let doc: Value = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            state.obs.refused_request("decode");
            return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response();
        }
    };
    let context = doc.get("Context").and_then(Value::as_str);
    let scraper = match state.scrapers.as_slice() {
        [(only, _)] => Some(only),
        many => many
            .iter()
            .find(|(_, c)| Some(c.as_str()) == context)
            .map(|(s, _)| s),
    };
    let Some(scraper) = scraper else {
        state.obs.refused_request("not_found");
        return (
            StatusCode::NOT_FOUND,
            format!("no subscription of this receiver has the Context {context:?}"),
        )
            .into_response();
    };
    match scraper
        .deliver_event(&doc, None, &state.next, &state.obs)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(super::event_source::DeliverError::NotAnEvent(e)) => {
            state.obs.refused_request("decode");
            scraper.count_events("invalid", 1);
            (StatusCode::BAD_REQUEST, e).into_response()
        }
        Err(e @ super::event_source::DeliverError::Refused(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    }
}

impl Receiver for RedfishReceiver {}

/// Factory of the `redfish` receiver.
#[derive(Debug, Default)]
pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics, Signal::Logs]
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
        let scrapers = c
            .servers()
            .into_iter()
            .map(|s| {
                RedfishScraper::new(set.id.clone(), c.clone(), s, set.telemetry.clone())
                    .map(Arc::new)
                    .map_err(|e| ConfigError::new(format!("{path}::tls"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(RedfishReceiver {
            id: set.id.clone(),
            cfg: c,
            scrapers,
            next,
            set,
            tasks: Tasks::default(),
        }))
    }
}

/// Adds every `DataSourceUri` in `v` (at any depth) to `out`.
fn data_sources(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(u) if k == "DataSourceUri" => {
                        out.insert(u.clone());
                    }
                    other => data_sources(other, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| data_sources(x, out)),
        _ => {}
    }
}
