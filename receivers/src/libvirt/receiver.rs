//! The `libvirt` receiver's factory and, with the `libvirt` feature, its scraper.

use std::sync::Arc;

use strata_pipelines::{
    BuildError, ConfigError, NextConsumers, Receiver, ReceiverFactory, Settings, Signal, YamlValue,
    config::parse_component,
};

use super::{Config, TYPE};

/// Factory of the `libvirt` receiver. Its configs validate in every build; creating one needs
/// a build with the `libvirt` feature.
#[derive(Debug, Default)]
pub struct Factory;

/// What a build without the `libvirt` cargo feature says of this receiver.
const WITHOUT_FEATURE: &str =
    "this strata was built without libvirt support: cargo build --release --features libvirt";

impl ReceiverFactory for Factory {
    fn unavailable(&self) -> Option<&'static str> {
        if cfg!(feature = "libvirt") {
            None
        } else {
            Some(WITHOUT_FEATURE)
        }
    }
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
        #[cfg(feature = "libvirt")]
        {
            let domains = c.domains(&path)?;
            Ok(Arc::new(scrape::LibvirtReceiver::new(
                set, c, domains, next,
            )))
        }
        #[cfg(not(feature = "libvirt"))]
        {
            let _ = (c, next);
            Err(ConfigError::new(
                path,
                format!("{WITHOUT_FEATURE} (needs Debian's libvirt-dev)"),
            )
            .into())
        }
    }
}

#[cfg(feature = "libvirt")]
pub use scrape::{LibvirtReceiver, LibvirtScraper};

#[cfg(feature = "libvirt")]
mod scrape {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, TryLockError};

    use async_trait::async_trait;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use strata_libvirt::{Connection, DomainStats, Error};
    use strata_pipelines::telemetry::Gauge;
    use strata_pipelines::{
        Component, ComponentId, Host, Metrics, NextConsumers, Receiver, ReceiverObs, Settings,
        ShutdownError, StartError, Tasks, Telemetry,
    };
    use tracing::info;

    use super::super::config::Domains;
    use super::super::metrics::{self, DEFS, Recorder};
    use super::Config;
    use crate::scraper::{Schedule, now_nanos, spawn_loop, str_kv};

    /// A domain seen by an earlier scrape.
    struct Known {
        name: String,
        /// Start of its cumulative series (reset when its CPU time goes down: a restart).
        start: u64,
        cpu: u64,
    }

    #[derive(Default)]
    struct State {
        conn: Option<Arc<Connection>>,
        /// By UUID; `None` before the first successful scrape.
        known: Option<HashMap<String, Known>>,
        /// The cause of the current outage, logged once.
        outage: Option<&'static str>,
    }

    /// Scrapes one libvirt connection: one bulk stats call per interval. See the module docs.
    pub struct LibvirtScraper {
        id: ComponentId,
        cfg: Config,
        domains: Domains,
        telemetry: Telemetry,
        state: Mutex<State>,
        scraped: Gauge,
        /// A scrape did not return in time (libvirt not answering): logged once until one does.
        stuck: AtomicBool,
    }

    impl LibvirtScraper {
        /// A scraper for `cfg` (validated) with its compiled domain filter.
        pub fn new(id: ComponentId, cfg: Config, domains: Domains, telemetry: Telemetry) -> Self {
            let scraped = telemetry.gauge(
                "strata_receiver_libvirt_domains",
                &[("receiver", &id.to_string())],
            );
            LibvirtScraper {
                id,
                cfg,
                domains,
                telemetry,
                state: Mutex::new(State::default()),
                scraped,
                stuck: AtomicBool::new(false),
            }
        }

        /// A scrape that has not returned within `wait` (a hung libvirtd: libvirt's calls have
        /// no timeout of their own), or one asked for while an earlier one still waits: counted
        /// (`cause="timeout"`), logged once until a scrape returns. The stuck call goes on in
        /// its thread; no second one is started beside it.
        fn timed_out(&self, wait: std::time::Duration) -> Vec<String> {
            self.count("strata_receiver_libvirt_errors", "cause", "timeout");
            if self.stuck.swap(true, Ordering::AcqRel) {
                return Vec::new();
            }
            vec![format!(
                "libvirt at {} has not answered a scrape within {wait:?}; skipping scrapes until it does",
                self.cfg.uri_for_logs()
            )]
        }

        /// One scrape off the async runtime, given up on (not cancelled) after `wait`.
        pub async fn scrape(self: Arc<Self>, wait: std::time::Duration) -> (Metrics, Vec<String>) {
            let me = self.clone();
            let call = tokio::task::spawn_blocking(move || me.scrape_blocking());
            match tokio::time::timeout(wait, call).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => (
                    Metrics::default(),
                    vec![format!("libvirt scrape task failed: {e}")],
                ),
                Err(_) => (Metrics::default(), self.timed_out(wait)),
            }
        }

        fn count(&self, name: &str, label: &'static str, value: &str) {
            self.telemetry
                .counter(name, &[("receiver", &self.id.to_string()), (label, value)])
                .add(1);
        }

        fn cause_of(e: &Error) -> &'static str {
            if e.is_permission() {
                "permission"
            } else {
                "connect"
            }
        }

        /// One failed scrape: counted; the message is returned (to be logged) only when the
        /// outage starts or its cause changes.
        fn outage(&self, st: &mut State, cause: &'static str, message: String) -> Vec<String> {
            self.count("strata_receiver_libvirt_errors", "cause", cause);
            if st.outage == Some(cause) {
                return Vec::new();
            }
            st.outage = Some(cause);
            vec![message]
        }

        fn connect(&self) -> Result<Arc<Connection>, Error> {
            Connection::open(&self.cfg.uri, self.cfg.read_only).map(Arc::new)
        }

        fn explain(&self, e: &Error) -> String {
            let uri = self.cfg.uri_for_logs();
            if e.is_permission() {
                format!(
                    "permission denied by libvirt at {uri}: {e}; statistics need only read_only: true (the read-only socket), or run Strata in the libvirt group"
                )
            } else {
                format!(
                    "cannot connect to libvirt at {uri}: {e}; retrying every collection_interval"
                )
            }
        }

        /// One scrape (blocking: libvirt calls block).
        pub fn scrape_blocking(&self) -> (Metrics, Vec<String>) {
            let mut st = match self.state.try_lock() {
                Ok(st) => st,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // The previous scrape is still waiting on libvirt.
                Err(TryLockError::WouldBlock) => {
                    return (
                        Metrics::default(),
                        self.timed_out(self.cfg.collection_interval),
                    );
                }
            };
            if self.stuck.swap(false, Ordering::AcqRel) {
                info!(receiver = %self.id, uri = %self.cfg.uri_for_logs(), "libvirt answers again");
            }
            let conn = match st.conn.clone() {
                Some(c) => c,
                None => match self.connect() {
                    Ok(c) => {
                        st.conn = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        let msg = self.explain(&e);
                        return (
                            Metrics::default(),
                            self.outage(&mut st, Self::cause_of(&e), msg),
                        );
                    }
                },
            };
            let stats = match conn.domain_stats() {
                Ok(s) => s,
                Err(e) if !conn.is_alive() => {
                    // The daemon went away (a libvirtd restart): connect again at once.
                    st.conn = None;
                    self.count("strata_receiver_libvirt_errors", "cause", "connection_lost");
                    info!(receiver = %self.id, uri = %self.cfg.uri_for_logs(), error = %e, "libvirt connection lost; connecting again");
                    match self.connect().and_then(|c| Ok((c.domain_stats()?, c))) {
                        Ok((s, c)) => {
                            st.conn = Some(c);
                            s
                        }
                        Err(e) => {
                            let msg = self.explain(&e);
                            return (
                                Metrics::default(),
                                self.outage(&mut st, Self::cause_of(&e), msg),
                            );
                        }
                    }
                }
                Err(e) => {
                    let cause = if e.is_permission() {
                        "permission"
                    } else {
                        "stats"
                    };
                    let msg = format!(
                        "virConnectGetAllDomainStats at {}: {e}",
                        self.cfg.uri_for_logs()
                    );
                    let msg = if e.is_permission() {
                        self.explain(&e)
                    } else {
                        msg
                    };
                    return (Metrics::default(), self.outage(&mut st, cause, msg));
                }
            };
            if let Some(cause) = st.outage.take() {
                info!(receiver = %self.id, uri = %self.cfg.uri_for_logs(), after = cause, "libvirt scrapes resumed");
            }
            let out = self.to_metrics(&mut st, stats);
            (out, Vec::new())
        }

        fn to_metrics(&self, st: &mut State, stats: Vec<DomainStats>) -> Metrics {
            let now = now_nanos();
            let first = st.known.is_none();
            let known = st.known.get_or_insert_with(HashMap::new);
            let mut seen = HashMap::new();
            let mut out = Metrics::default();
            for s in stats.into_iter().filter(|s| self.domains.wants(&s.name)) {
                let cpu = s.u64("cpu.time").unwrap_or(0);
                let k = match known.remove(&s.uuid) {
                    Some(mut k) => {
                        if cpu < k.cpu {
                            k.start = now;
                        }
                        k.cpu = cpu;
                        k.name.clone_from(&s.name);
                        k
                    }
                    None => {
                        if !first {
                            info!(receiver = %self.id, domain = %s.name, uuid = %s.uuid, "libvirt domain appeared");
                            self.count(
                                "strata_receiver_libvirt_domain_changes",
                                "change",
                                "appeared",
                            );
                        }
                        Known {
                            name: s.name.clone(),
                            start: now,
                            cpu,
                        }
                    }
                };
                let mut rec = Recorder::new(DEFS, k.start, now);
                metrics::record(&mut rec, &s);
                seen.insert(s.uuid.clone(), k);
                out.resource_metrics.push(ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![
                            str_kv("libvirt.domain.name", &s.name),
                            str_kv("libvirt.domain.uuid", &s.uuid),
                        ],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: "strata/receiver/libvirt".into(),
                            version: env!("CARGO_PKG_VERSION").into(),
                            ..Default::default()
                        }),
                        metrics: rec.finish(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                });
            }
            for (uuid, k) in known.drain() {
                info!(receiver = %self.id, domain = %k.name, uuid = %uuid, "libvirt domain disappeared");
                self.count(
                    "strata_receiver_libvirt_domain_changes",
                    "change",
                    "disappeared",
                );
            }
            if first {
                info!(receiver = %self.id, uri = %self.cfg.uri_for_logs(), domains = seen.len(), "libvirt connected");
            }
            self.scraped.set(seen.len() as i64);
            *known = seen;
            out
        }
    }

    /// The `libvirt` receiver: one scrape loop over one connection.
    pub struct LibvirtReceiver {
        set: Settings,
        cfg: Config,
        scraper: Arc<LibvirtScraper>,
        next: NextConsumers,
        tasks: Tasks,
    }

    impl LibvirtReceiver {
        /// A receiver for `cfg` (validated).
        pub fn new(set: Settings, cfg: Config, domains: Domains, next: NextConsumers) -> Self {
            let scraper = Arc::new(LibvirtScraper::new(
                set.id.clone(),
                cfg.clone(),
                domains,
                set.telemetry.clone(),
            ));
            LibvirtReceiver {
                set,
                cfg,
                scraper,
                next,
                tasks: Tasks::default(),
            }
        }
    }

    #[async_trait]
    impl Component for LibvirtReceiver {
        async fn start(&self, _host: &Host) -> Result<(), StartError> {
            let Some(next) = self.next.metrics.clone() else {
                return Ok(());
            };
            let scraper = self.scraper.clone();
            // A scrape may take up to one interval (at least 5 s) before it is given up on.
            let wait = self
                .cfg
                .collection_interval
                .max(std::time::Duration::from_secs(5));
            spawn_loop(
                &self.tasks,
                self.set.id.clone(),
                Schedule {
                    collection_interval: self.cfg.collection_interval,
                    initial_delay: self.cfg.initial_delay,
                },
                Arc::new(move || Box::pin(scraper.clone().scrape(wait))),
                next,
                ReceiverObs::new(&self.set.telemetry, &self.set.id, ""),
            );
            Ok(())
        }

        async fn shutdown(&self) -> Result<(), ShutdownError> {
            self.tasks.stop().await;
            // Closes the connection (the scrape loop has stopped). A call still stuck in libvirt
            // holds the state; its connection closes when that call returns.
            if let Ok(mut st) = self.scraper.state.try_lock() {
                st.conn = None;
            }
            Ok(())
        }
    }

    impl Receiver for LibvirtReceiver {}
}
