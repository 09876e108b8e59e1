//! The scrape loop shared by scraping receivers (hostmetrics, spdk; redfish next): wait
//! `initial_delay`, then every `collection_interval` run the scrape, hand the result to the
//! pipeline and count it. A failed scrape or a refused batch is logged and counted; the next
//! interval tries again. Blocking scrapes (reading `/proc`) run off the async runtime through
//! [`blocking`].

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use strata_pipelines::{BoxConsumer, ComponentId, Metrics, ReceiverObs, Signal, SignalData, Tasks};
use tracing::{debug, warn};

/// Timing of a scrape loop (`collection_interval`, `initial_delay` in configs).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between scrapes.
    pub collection_interval: Duration,
    /// Time before the first scrape.
    pub initial_delay: Duration,
}

/// A scrape: resolves to the metrics gathered and the errors of parts that failed (a partial
/// result is still sent).
pub type ScrapeFn = Arc<dyn Fn() -> BoxFuture<'static, (Metrics, Vec<String>)> + Send + Sync>;

/// A [`ScrapeFn`] running the blocking `scrape` on tokio's blocking pool.
pub fn blocking<F>(scrape: F) -> ScrapeFn
where
    F: Fn() -> (Metrics, Vec<String>) + Send + Sync + 'static,
{
    let scrape = Arc::new(scrape);
    Arc::new(move || {
        let s = scrape.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || s())
                .await
                .unwrap_or_else(|e| (Metrics::default(), vec![format!("scrape task failed: {e}")]))
        })
    })
}

/// Spawns the loop on `tasks`; it ends when they are stopped.
pub fn spawn_loop(
    tasks: &Tasks,
    id: ComponentId,
    schedule: Schedule,
    scrape: ScrapeFn,
    next: BoxConsumer<Metrics>,
    obs: ReceiverObs,
) {
    let cancel = tasks.token();
    tasks.spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(schedule.initial_delay) => {}
        }
        let mut ticker = tokio::time::interval(schedule.collection_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let (metrics, errors) = scrape().await;
            for e in &errors {
                warn!(receiver = %id, error = %e, "scrape error");
            }
            obs.scrape_errors(errors.len());
            let n = metrics.item_count();
            if n == 0 {
                continue;
            }
            match next.consume(metrics).await {
                Ok(_) => {
                    debug!(receiver = %id, points = n, "scraped");
                    obs.accepted(Signal::Metrics, n);
                }
                Err(e) => {
                    warn!(receiver = %id, points = n, error = %e, "pipeline refused scraped metrics");
                    obs.refused(Signal::Metrics, n);
                }
            }
        }
    });
}

/// Now, in Unix nanoseconds (0 if the clock is before 1970).
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A string attribute (`key` = `value`), for resource attributes of scraped metrics.
pub fn str_kv(key: &str, value: &str) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}
