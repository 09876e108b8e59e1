use std::sync::Arc;

use async_trait::async_trait;
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Host, NextConsumers, Receiver,
    ReceiverFactory, ReceiverObs, Settings, ShutdownError, Signal, StartError, Tasks, YamlValue,
    config::parse_component,
};

use super::{Config, HostScraper, TYPE};
use crate::scraper::{Schedule, blocking, spawn_loop};

/// The `hostmetrics` receiver: one scrape loop over the enabled scrapers.
pub struct HostMetricsReceiver {
    id: ComponentId,
    cfg: Config,
    scraper: Arc<HostScraper>,
    next: NextConsumers,
    set: Settings,
    tasks: Tasks,
}

#[async_trait]
impl Component for HostMetricsReceiver {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        for key in self.cfg.scrapers.enabled_but_not_produced() {
            tracing::warn!(receiver = %self.id, %key, "enabled, but Strata's scrapers do not produce it yet: it has no effect");
        }
        let Some(next) = self.next.metrics.clone() else {
            return Ok(());
        };
        let scraper = self.scraper.clone();
        spawn_loop(
            &self.tasks,
            self.id.clone(),
            Schedule {
                collection_interval: self.cfg.collection_interval,
                initial_delay: self.cfg.initial_delay,
            },
            blocking(move || scraper.scrape()),
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

impl Receiver for HostMetricsReceiver {}

/// Factory of the `hostmetrics` receiver.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {}

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        known_scrapers(path, cfg)?;
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: NextConsumers,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let path = set.path();
        known_scrapers(&path, &cfg)?;
        let c = parse_component::<Config>(&path, cfg)?;
        let filters = c.filters(&path)?;
        let scraper = Arc::new(HostScraper::new(
            c.root_path.clone(),
            c.scrapers.clone(),
            filters,
        ));
        Ok(Arc::new(HostMetricsReceiver {
            id: set.id.clone(),
            cfg: c,
            scraper,
            next,
            set,
            tasks: Tasks::default(),
        }))
    }
}

/// A scraper is a component of its own in the Collector (a scraper factory): one Strata does
/// not have is reported as such, `unknown scraper type "process"`, like a missing receiver type.
///
/// # Errors
/// The first scraper name Strata does not have.
fn known_scrapers(path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
    const HAVE: [&str; 9] = [
        "cpu",
        "memory",
        "load",
        "disk",
        "filesystem",
        "network",
        "paging",
        "processes",
        "system",
    ];
    let Some(scrapers) = cfg.get("scrapers").and_then(YamlValue::as_mapping) else {
        return Ok(());
    };
    for name in scrapers.keys().filter_map(YamlValue::as_str) {
        if !HAVE.contains(&name) {
            return Err(ConfigError::new(
                format!("{path}::scrapers::{name}"),
                format!(
                    "unknown scraper type {name:?} (Strata's: {})",
                    HAVE.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
