use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use strata_pipelines::memory::{self, MemoryBudget};
use strata_pipelines::telemetry::Counter;
use strata_pipelines::{
    BoxConsumer, BuildError, Component, ConfigError, ConsumeError, ConsumeResult, Consumer, Host,
    Processor, ProcessorFactory, Settings, ShutdownError, Signal, SignalData, StartError, Tasks,
    YamlValue, config::parse_component, wire::Encoded,
};
use tracing::{info, warn};

use super::TYPE;
use super::config::{Config, Limits};

/// State shared by the processor and its check task.
struct State {
    limits: Limits,
    /// The last resident-set reading is above the soft limit.
    over: AtomicBool,
    /// The last resident-set reading, bytes.
    rss: AtomicU64,
}

/// The `memory_limiter` processor for one signal. See the module docs.
pub struct MemoryLimiter<T: SignalData> {
    id: String,
    state: Arc<State>,
    budget: &'static MemoryBudget,
    next: BoxConsumer<T>,
    refused: Counter,
    tasks: Tasks,
    interval: std::time::Duration,
}

impl<T: SignalData> MemoryLimiter<T> {
    /// A limiter with `limits`, reserving from `budget`, sending to `next`.
    pub fn new(
        set: &Settings,
        cfg: &Config,
        limits: Limits,
        budget: &'static MemoryBudget,
        next: BoxConsumer<T>,
    ) -> Self {
        MemoryLimiter {
            id: set.id.to_string(),
            state: Arc::new(State {
                limits,
                over: AtomicBool::new(false),
                rss: AtomicU64::new(0),
            }),
            budget,
            next,
            refused: set.telemetry.counter(
                &format!("otelcol_processor_refused_{}", T::SIGNAL.item_name()),
                &[("processor", &set.id.to_string())],
            ),
            tasks: Tasks::default(),
            interval: cfg.check_interval,
        }
    }

    fn refuse(&self, items: usize, why: String) -> ConsumeError {
        self.refused.add(items as u64);
        ConsumeError::retryable(format!("memory limiter {}: data refused, {why}", self.id))
    }
}

const MIB: f64 = (1 << 20) as f64;

impl State {
    /// Takes a resident-set reading and updates `over` and the budget's pressure flag,
    /// logging each transition.
    fn check(&self, id: &str, budget: &MemoryBudget) {
        let Some(rss) = memory::resident_bytes() else {
            budget.set_pressure(budget.used() > self.limits.high_water());
            return;
        };
        self.rss.store(rss, Ordering::Relaxed);
        let over = rss > self.limits.soft;
        budget.set_pressure(over || budget.used() > self.limits.high_water());
        if over != self.over.swap(over, Ordering::AcqRel) {
            if over {
                warn!(
                    processor = id,
                    rss_mib = rss as f64 / MIB,
                    soft_limit_mib = self.limits.soft as f64 / MIB,
                    "memory usage is above the soft limit: refusing data"
                );
            } else {
                info!(
                    processor = id,
                    rss_mib = rss as f64 / MIB,
                    "memory usage is back under the soft limit: accepting data"
                );
            }
        }
    }
}

impl<T: SignalData> MemoryLimiter<T> {
    /// Reserves `bytes` of the budget for `items` items, or refuses them retryably.
    fn admit(&self, items: usize, bytes: u64) -> Result<memory::Reservation, ConsumeError> {
        if self.state.over.load(Ordering::Acquire) {
            let rss = self.state.rss.load(Ordering::Relaxed) as f64 / MIB;
            return Err(self.refuse(
                items,
                format!(
                    "resident memory {rss:.1} MiB is above the soft limit {:.1} MiB",
                    self.state.limits.soft as f64 / MIB
                ),
            ));
        }
        let Some(reservation) = self.budget.try_reserve(bytes, self.state.limits.soft) else {
            // Receivers refuse at the door until the next check finds room again.
            self.budget.set_pressure(true);
            return Err(self.refuse(
                items,
                format!(
                    "{:.1} MiB already in flight, {:.1} MiB more would pass the soft limit {:.1} MiB",
                    self.budget.used() as f64 / MIB,
                    bytes as f64 / MIB,
                    self.state.limits.soft as f64 / MIB
                ),
            ));
        };
        if self.budget.used() > self.state.limits.high_water() {
            // Nearly full: receivers refuse at the door (before reading bodies) until a check
            // finds room, so a burst cannot pile decoded requests on top of the budget.
            self.budget.set_pressure(true);
        }
        Ok(reservation)
    }

    /// Runs the rest of the pipeline in its own task holding `reservation`, so that the bytes
    /// stay accounted until the pipeline is done with them even when the receiver stops waiting
    /// (its client went away).
    async fn forward<F>(&self, reservation: memory::Reservation, rest: F) -> ConsumeResult
    where
        F: std::future::Future<Output = ConsumeResult> + Send + 'static,
    {
        // The request's client context goes with it into the task.
        let rest = strata_pipelines::auth::ClientContext::carry(rest);
        let done = tokio::spawn(async move {
            let r = rest.await;
            drop(reservation);
            r
        });
        match done.await {
            Ok(r) => r,
            Err(e) => Err(ConsumeError::retryable(format!(
                "memory limiter {}: pipeline task failed: {e}",
                self.id
            ))),
        }
    }
}

#[async_trait]
impl<T: SignalData> Consumer<T> for MemoryLimiter<T> {
    async fn consume(&self, data: T) -> ConsumeResult {
        let bytes = (data.heap_size() + std::mem::size_of::<T>()) as u64;
        let reservation = self.admit(data.item_count(), bytes)?;
        let next = self.next.clone();
        self.forward(reservation, async move { next.consume(data).await })
            .await
    }

    /// The limiter does not look inside the data. When the rest of the pipeline keeps it
    /// encoded, what it holds is its length; otherwise it is decoded here, and its decoded size
    /// is reserved.
    async fn consume_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        if !self.next.keeps_encoded() {
            return self.consume(data.decode()?).await;
        }
        let reservation = self.admit(data.item_count(), data.len() as u64)?;
        let next = self.next.clone();
        self.forward(reservation, async move { next.consume_encoded(data).await })
            .await
    }

    fn keeps_encoded(&self) -> bool {
        self.next.keeps_encoded()
    }

    /// The limiter's own refusals reach receivers through the process-wide pressure flag
    /// ([`memory::MemoryBudget::under_pressure`]); this asks the rest of the pipeline.
    fn ready(&self) -> Result<(), ConsumeError> {
        self.next.ready()
    }

    fn queued(&self) -> bool {
        self.next.queued()
    }

    fn adopt_batching(&self, b: &strata_pipelines::Batching) {
        self.next.adopt_batching(b);
    }
}

#[async_trait]
impl<T: SignalData> Component for MemoryLimiter<T> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let state = self.state.clone();
        let id = self.id.clone();
        let cancel = self.tasks.token();
        let interval = self.interval;
        let budget = self.budget;
        state.check(&id, budget);
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => state.check(&id, budget),
                }
            }
        });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        self.budget.set_pressure(false);
        Ok(())
    }
}

impl<T: SignalData> Processor<T> for MemoryLimiter<T> {}

/// Factory of the `memory_limiter` processor.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: SignalData>(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: BoxConsumer<T>,
    ) -> Result<Arc<dyn Processor<T>>, BuildError> {
        let path = set.path();
        let c = parse_component::<Config>(&path, cfg)?;
        if let Some(mib) = c.ballast_size_mib {
            tracing::warn!(
                path = %path,
                ballast_size_mib = mib,
                "ballast_size_mib is ignored: the Collector deprecated its Go heap ballast, and Strata has no garbage collector to pace"
            );
        }
        let limits = c.limits(memory::total_memory_bytes(Path::new("/")), &path)?;
        Ok(Arc::new(MemoryLimiter::new(
            &set,
            &c,
            limits,
            memory::global(),
            next,
        )))
    }
}

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    /// The Go garbage collector's pacing keys.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        const GC: &str = "Go garbage-collector pacing: a Rust process frees memory as data is dropped, there is no collector to run";
        [
            "min_gc_interval_when_soft_limited",
            "min_gc_interval_when_hard_limited",
            "max_gc_interval_when_soft_limited",
            "max_gc_interval_when_hard_limited",
        ]
        .into_iter()
        .map(|k| strata_pipelines::factory::AcceptedKey::new(k, GC))
        .collect()
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::processor_for_all_signals!();
}
