use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use strata_pipelines::auth::ClientContext;
use strata_pipelines::storage::Record;
use strata_pipelines::telemetry::{Counter, Gauge};
use strata_pipelines::{
    Accepted, Component, ComponentId, ConsumeError, ConsumeResult, Consumer, Exporter, Host,
    Settings, ShutdownError, SignalData, StartError, wire::Encoded,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use super::config::{HelperConfig, QueueBatch, RetryConfig, Sizer};
use super::payload::{Payload, Request};
use super::queue::{DiskQueue, MemEntry, MemQueue, Refused, Taken, parse_record};

/// One attempt at sending a request: what an exporter implements; the helper adds the queue,
/// the retries, the per-attempt timeout and the self-metrics.
///
/// The request is shared (`Arc`) so that retries do not copy it.
#[async_trait]
pub trait RequestSender<T: SignalData>: Component {
    /// Sends `data` once. `Err(Retryable)` is retried per `retry_on_failure` (after
    /// `retry_after` when the peer said so); `Err(Permanent)` is dropped and counted.
    async fn send(&self, data: Arc<T>) -> ConsumeResult;

    /// True when [`RequestSender::send_encoded`] sends an encoded request as it is (the OTLP
    /// protobuf exporters): the helper then queues and sends requests that arrived encoded
    /// without decoding them.
    fn sends_encoded(&self) -> bool {
        false
    }

    /// Sends an encoded request once; the default decodes it and calls
    /// [`RequestSender::send`].
    async fn send_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        self.send(Arc::new(data.decode()?)).await
    }

    /// True when an export completes inside this process (`prometheus`, `debug`, `file`): a
    /// synchronous send answers as soon as a queue would, so a `batch` processor before it
    /// need not hold requests back ([`Consumer::queued`]).
    fn local(&self) -> bool {
        false
    }
}

/// Splits `data` into requests whose encoded size is at most `max` bytes (`0`: no limit), by
/// halving the item count; a single item larger than `max` goes alone (the peer decides).
pub fn split_to_size<T: SignalData>(data: T, max: usize) -> Vec<T> {
    if max == 0 || data.encoded_len() <= max {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut todo = vec![data];
    while let Some(mut d) = todo.pop() {
        let n = d.item_count();
        if n <= 1 || d.encoded_len() <= max {
            out.push(d);
            continue;
        }
        let front = d.split_front(n / 2);
        // Keep order: the front half is handled first.
        todo.push(d);
        todo.push(front);
    }
    out
}

/// The self-metrics of one exporter and signal.
struct Metrics {
    sent: Counter,
    send_failed: Counter,
    enqueue_failed: Counter,
    retries: Counter,
    rejected: Counter,
    dropped: Counter,
    storage_dropped: Counter,
    recovered: Counter,
    /// Items whose export was in flight when a shutdown or reload stopped it: they are sent
    /// again, so the peer may have them twice.
    interrupted: Counter,
    truncated: Counter,
    queue_size: Gauge,
    queue_capacity: Gauge,
    /// Items taken from the queue (or sent without one) whose export has not ended: being
    /// sent, or waiting to be retried.
    in_flight: Gauge,
    /// 1 while the sending queue is persistent (on disk, `sending_queue::storage`): what it
    /// holds survives the process.
    persistent: Gauge,
}

/// Counts `items` in a gauge while alive.
struct InFlight<'a>(&'a Gauge, i64);

impl<'a> InFlight<'a> {
    fn new(g: &'a Gauge, items: u64) -> Self {
        g.add(items as i64);
        InFlight(g, items as i64)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.add(-self.1);
    }
}

impl Metrics {
    fn new<T: SignalData>(set: &Settings) -> Self {
        let id = set.id.to_string();
        let item = T::SIGNAL.item_name();
        let t = &set.telemetry;
        let ex = [("exporter", id.as_str())];
        let typed = [("exporter", id.as_str()), ("data_type", T::SIGNAL.as_str())];
        Metrics {
            sent: t.counter(&format!("otelcol_exporter_sent_{item}"), &ex),
            send_failed: t.counter(&format!("otelcol_exporter_send_failed_{item}"), &ex),
            enqueue_failed: t.counter(&format!("otelcol_exporter_enqueue_failed_{item}"), &ex),
            retries: t.counter("otelcol_exporter_send_retries", &typed),
            rejected: t.counter(&format!("otelcol_exporter_rejected_{item}"), &ex),
            dropped: t.counter(&format!("otelcol_exporter_queue_dropped_{item}"), &ex),
            storage_dropped: t.counter(&format!("otelcol_exporter_storage_dropped_{item}"), &ex),
            recovered: t.counter(&format!("otelcol_exporter_queue_recovered_{item}"), &ex),
            interrupted: t.counter("strata_exporter_interrupted_items", &typed),
            truncated: t.counter("otelcol_exporter_queue_truncated_bytes", &typed),
            queue_size: t.gauge("otelcol_exporter_queue_size", &typed),
            queue_capacity: t.gauge("otelcol_exporter_queue_capacity", &typed),
            in_flight: t.gauge("strata_exporter_in_flight_items", &typed),
            persistent: t.gauge("strata_exporter_queue_persistent", &typed),
        }
    }
}

/// The sending part shared by the caller (no queue) and the queue consumers.
/// Where an exporter's data goes when its retries are exhausted (`max_elapsed_time` reached,
/// or a retryable failure with `retry_on_failure` disabled), instead of being dropped: a
/// `loadbalancing` backend hands it to the next backend of the ring for its keys. Not used
/// for permanent errors (the peer refused the data itself).
#[async_trait]
pub trait Fallback<T: SignalData>: Send + Sync {
    /// Takes `data` (sent with the client context current at the call); true when it is now
    /// queued elsewhere, false to have it dropped and counted as usual.
    async fn take_over(&self, data: Request<T>) -> bool;
}

struct Core<T: SignalData> {
    id: ComponentId,
    /// Each attempt's outcome, for `health_check` (set at start).
    health: std::sync::OnceLock<Arc<strata_pipelines::health::ExporterHealth>>,
    /// Where data goes when retries are exhausted (see [`Fallback`]).
    fallback: std::sync::OnceLock<Arc<dyn Fallback<T>>>,
    sender: Arc<dyn RequestSender<T>>,
    timeout: Duration,
    retry: RetryConfig,
    m: Metrics,
}

/// How a delivery ended.
enum Delivery {
    /// Sent, or failed for good (counted either way).
    Done(ConsumeResult),
    /// Stopped before the request was delivered; it must be kept.
    Stopped,
}

impl<T: SignalData> Core<T> {
    async fn attempt(&self, data: &Request<T>) -> ConsumeResult {
        match tokio::time::timeout(self.timeout, data.send(&*self.sender)).await {
            Ok(r) => r,
            Err(_) => Err(ConsumeError::retryable(format!(
                "exporter {}: attempt timed out after {:?}",
                self.id, self.timeout
            ))),
        }
    }

    /// Sends with retries until success, a permanent error, `max_elapsed_time`, or `stop`.
    /// Hands `data` to the fallback, if there is one and it takes it.
    async fn fall_back(&self, data: &Request<T>) -> bool {
        match self.fallback.get() {
            Some(f) => f.take_over(data.clone()).await,
            None => false,
        }
    }

    async fn deliver(&self, data: Request<T>, stop: &CancellationToken) -> Delivery {
        let items = data.item_count() as u64;
        let _in_flight = InFlight::new(&self.m.in_flight, items);
        let started = tokio::time::Instant::now();
        let mut interval = self.retry.initial_interval;
        loop {
            if stop.is_cancelled() {
                return Delivery::Stopped;
            }
            let r = tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    // The attempt was on the wire: the peer may have it; it is sent again.
                    self.m.interrupted.add(items);
                    return Delivery::Stopped;
                }
                r = self.attempt(&data) => r,
            };
            if let Some(h) = self.health.get() {
                h.record(r.is_ok());
                if let Err(e) = &r {
                    h.record_error(&e.to_string());
                }
            }
            let err = match r {
                Ok(a) => {
                    self.m.sent.add(items);
                    // The peer's OTLP partial success: logged by the sender, counted here.
                    self.m.rejected.add(a.rejected);
                    return Delivery::Done(Ok(a));
                }
                Err(e) => e,
            };
            let ConsumeError::Retryable { retry_after, .. } = &err else {
                self.m.send_failed.add(items);
                error!(exporter = %self.id, items, error = %err, "export failed permanently; dropping the data");
                return Delivery::Done(Err(err));
            };
            if !self.retry.enabled {
                if self.fall_back(&data).await {
                    return Delivery::Done(Ok(Accepted::all()));
                }
                self.m.send_failed.add(items);
                warn!(exporter = %self.id, items, error = %err, "export failed; retry_on_failure is disabled");
                return Delivery::Done(Err(err));
            }
            let jitter = self.retry.randomization_factor * (2.0 * fastrand::f64() - 1.0);
            let mut wait = interval.mul_f64(1.0 + jitter);
            if let Some(after) = retry_after {
                wait = wait.max(*after);
            }
            let limit = self.retry.max_elapsed_time;
            if !limit.is_zero() && started.elapsed() + wait > limit {
                if self.fall_back(&data).await {
                    warn!(exporter = %self.id, items, error = %err, elapsed = ?started.elapsed(),
                        "export failed; max_elapsed_time reached, the data went to the fallback");
                    return Delivery::Done(Ok(Accepted::all()));
                }
                self.m.send_failed.add(items);
                error!(exporter = %self.id, items, error = %err, elapsed = ?started.elapsed(),
                    "export failed; max_elapsed_time reached, dropping the data");
                return Delivery::Done(Err(err));
            }
            self.m.retries.add(1);
            warn!(exporter = %self.id, items, error = %err, wait = ?wait, "export failed, retrying");
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Delivery::Stopped,
                _ = tokio::time::sleep(wait) => {}
            }
            interval = interval
                .mul_f64(self.retry.multiplier)
                .min(self.retry.max_interval);
        }
    }
}

#[derive(Clone)]
enum Queue<T: SignalData> {
    Memory(Arc<MemQueue<T>>),
    Disk(Arc<DiskQueue>),
}

impl<T: SignalData> Queue<T> {
    /// `sizer` units used, for the queue-size gauge.
    fn used(&self) -> u64 {
        match self {
            Queue::Memory(q) => q.used(),
            Queue::Disk(q) => q.used(),
        }
    }
}

struct Running<T: SignalData> {
    queue: Queue<T>,
    /// Stops consumers at once (reload, persistent queue shutdown, deadline).
    stop: CancellationToken,
    tracker: TaskTracker,
    host: Host,
}

/// An exporter built from a [`RequestSender`] and a [`HelperConfig`] (the Collector's
/// exporterhelper): every exporter is one of these.
///
/// - **No queue**: `consume` sends (with retries) and answers with the result.
/// - **In-memory queue**: `consume` answers once the request is queued; `num_consumers` tasks
///   send. At shutdown the queue drains until the graph's deadline; what is still queued then is
///   counted in `otelcol_exporter_queue_dropped_*` and logged. On a reload the queue is handed
///   to the next graph's exporter with the same id (nothing is sent twice or lost).
/// - **Persistent queue**: `consume` answers once the request is in the segment log (synced per
///   `fsync`); consumers acknowledge each record after delivery. At shutdown or reload the
///   consumers stop at once and undelivered records stay on disk for the next start.
pub struct HelperExporter<T: SignalData> {
    core: Arc<Core<T>>,
    cfg: HelperConfig,
    key: String,
    run: Mutex<Option<Running<T>>>,
    /// Queue batching asked for by a `batch` processor before this exporter.
    adopted: Mutex<Option<QueueBatch>>,
}

impl<T: SignalData> HelperExporter<T> {
    /// The exporter `set.id` sending through `sender` per `cfg`.
    pub fn new(set: &Settings, cfg: HelperConfig, sender: Arc<dyn RequestSender<T>>) -> Self {
        HelperExporter {
            core: Arc::new(Core {
                id: set.id.clone(),
                health: std::sync::OnceLock::new(),
                fallback: std::sync::OnceLock::new(),
                sender,
                timeout: cfg.timeout,
                retry: cfg.retry.clone(),
                m: Metrics::new::<T>(set),
            }),
            key: format!("exporter {}/{}", set.id, T::SIGNAL),
            cfg,
            run: Mutex::new(None),
            adopted: Mutex::new(None),
        }
    }

    fn running(&self) -> Option<(Queue<T>, CancellationToken)> {
        self.run
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|r| (r.queue.clone(), r.stop.clone()))
    }

    fn update_gauge(core: &Core<T>, q: &Queue<T>) {
        core.m.queue_size.set(q.used() as i64);
    }

    async fn consume_memory(
        core: Arc<Core<T>>,
        q: Arc<MemQueue<T>>,
        stop: CancellationToken,
        batch: Option<(QueueBatch, Arc<tokio::sync::Mutex<()>>)>,
    ) {
        loop {
            let e = match &batch {
                None => tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    e = q.take() => e,
                },
                Some((b, gate)) => tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    e = Self::gather(&q, b, gate) => e,
                },
            };
            let Some(mut e) = e else { return };
            core.m.queue_size.set(q.used() as i64);
            let max = batch.as_ref().map_or(0, |(b, _)| b.max_size);
            // Exports of at most `max` items, in order; what is not delivered at a stop goes
            // back to the queue as one entry.
            let mut rest = std::mem::take(&mut e.data);
            loop {
                let part = if max > 0 && rest.item_count() > max {
                    rest.split_front(max)
                } else {
                    std::mem::take(&mut rest)
                };
                let data = part.into_request();
                let delivered =
                    ClientContext::scope_opt(e.ctx.clone(), core.deliver(data.clone(), &stop));
                match delivered.await {
                    Delivery::Done(_) => {}
                    Delivery::Stopped => {
                        let mut undelivered = data.into_payload();
                        undelivered.append(rest);
                        e.data = undelivered;
                        q.requeue(e);
                        core.m.queue_size.set(q.used() as i64);
                        return;
                    }
                }
                if rest.item_count() == 0 {
                    break;
                }
            }
        }
    }

    /// Takes the next request and merges queued ones into it until it holds `min_size` items
    /// or `flush_timeout` has passed since it was taken. One consumer gathers at a time (the
    /// `gate`), so batches fill in arrival order while earlier ones are being sent.
    async fn gather(
        q: &MemQueue<T>,
        b: &QueueBatch,
        gate: &tokio::sync::Mutex<()>,
    ) -> Option<MemEntry<T>> {
        let _turn = gate.lock().await;
        let mut e = q.take().await?;
        let deadline = tokio::time::Instant::now() + b.flush_timeout;
        while e.data.item_count() < b.min_size {
            match tokio::time::timeout_at(deadline, q.take()).await {
                // Another tenant's request starts the next export.
                Ok(Some(next)) if !e.same_context(&next) => {
                    q.requeue(next);
                    break;
                }
                Ok(Some(next)) => e.absorb(next),
                Ok(None) | Err(_) => break,
            }
        }
        Some(e)
    }

    /// A stored record as a payload with its client context; `None` (counted, logged and
    /// acknowledged) for a record that cannot be read.
    fn read_record(
        core: &Core<T>,
        q: &DiskQueue,
        rec: &mut Record,
    ) -> Option<(Option<Arc<ClientContext>>, Payload<T>)> {
        let parsed = parse_record(
            std::mem::take(&mut rec.payload),
            core.sender.sends_encoded(),
        );
        match parsed {
            Ok(p) => Some(p),
            Err(e) => {
                core.m.dropped.add(u64::from(rec.items));
                error!(exporter = %core.id, segment = rec.segment, index = rec.index, error = %e,
                    "unreadable record in the persistent queue; dropped");
                q.log.ack(rec.segment, rec.index);
                None
            }
        }
    }

    /// Sends the persistent queue's records, each alone or, with `batch`, merged with the
    /// records after it (same client context only) into exports of at least `min_size` items
    /// or what arrived within `flush_timeout`, split at `max_size`. Records are acknowledged
    /// once every export carrying them succeeded (or failed permanently); at a stop they stay
    /// in the log for the next start.
    async fn consume_disk(
        core: Arc<Core<T>>,
        q: Arc<DiskQueue>,
        stop: CancellationToken,
        batch: Option<(QueueBatch, Arc<tokio::sync::Mutex<()>>)>,
    ) {
        // A record taken while gathering that belongs to another context starts the next batch.
        let mut carry: Option<(Record, Option<Arc<ClientContext>>, Payload<T>)> = None;
        loop {
            let (first, ctx, mut data) = match carry.take() {
                Some(c) => c,
                None => {
                    let r = tokio::select! {
                        biased;
                        _ = stop.cancelled() => return,
                        r = q.take() => r,
                    };
                    let mut rec = match r {
                        Ok(Some(rec)) => rec,
                        Ok(None) => return,
                        Err(e) => {
                            error!(exporter = %core.id, error = %e, "cannot read the persistent queue; its consumer stops");
                            return;
                        }
                    };
                    let Some((ctx, data)) = Self::read_record(&core, &q, &mut rec) else {
                        continue;
                    };
                    (rec, ctx, data)
                }
            };
            // One consumer gathers at a time (taken only with a first record in hand: a
            // consumer waiting for the queue never holds up one with a record to send).
            let turn = match &batch {
                Some((_, gate)) => Some(tokio::select! {
                    biased;
                    _ = stop.cancelled() => {
                        q.log.release(first);
                        return;
                    }
                    g = gate.lock() => g,
                }),
                None => None,
            };
            let mut records = vec![first];
            if let Some((b, _)) = &batch {
                let deadline = tokio::time::Instant::now() + b.flush_timeout;
                while data.item_count() < b.min_size {
                    let mut rec = match tokio::time::timeout_at(deadline, q.take()).await {
                        Ok(Ok(Some(rec))) => rec,
                        _ => break,
                    };
                    let Some((c, d)) = Self::read_record(&core, &q, &mut rec) else {
                        continue;
                    };
                    if c != ctx {
                        carry = Some((rec, c, d));
                        break;
                    }
                    data.append(d);
                    records.push(rec);
                }
            }
            drop(turn);
            let max = batch.as_ref().map_or(0, |(b, _)| b.max_size);
            let parts = if max > 0 && data.item_count() > max {
                let mut rest = data;
                let mut parts = Vec::new();
                while rest.item_count() > max {
                    parts.push(rest.split_front(max));
                }
                parts.push(rest);
                parts
            } else {
                vec![data]
            };
            for part in parts {
                let delivered =
                    ClientContext::scope_opt(ctx.clone(), core.deliver(part.into_request(), &stop));
                if let Delivery::Stopped = delivered.await {
                    for rec in records {
                        q.log.release(rec);
                    }
                    if let Some((rec, _, _)) = carry {
                        q.log.release(rec);
                    }
                    return;
                }
            }
            for rec in &records {
                q.log.ack(rec.segment, rec.index);
            }
            core.m.queue_size.set(q.used() as i64);
        }
    }

    fn open_queue(&self, host: &Host) -> Result<Queue<T>, String> {
        let qc = &self.cfg.queue;
        if let Some(sid) = &qc.storage {
            let ext = host.extension(sid).ok_or_else(|| {
                format!("sending_queue::storage: extension {sid} is not configured in service::extensions")
            })?;
            let storage = ext.storage().ok_or_else(|| {
                format!("sending_queue::storage: extension {sid} is not a storage extension")
            })?;
            let name = format!("{}_{}", self.core.id, T::SIGNAL);
            let (log, rec) = storage.open(&name).map_err(|e| {
                format!(
                    "cannot open persistent queue {name} in {}: {e}",
                    storage.directory.display()
                )
            })?;
            self.core.m.recovered.add(rec.items);
            self.core.m.truncated.add(rec.truncated_bytes);
            if rec.records > 0 || rec.truncated_bytes > 0 {
                info!(exporter = %self.core.id, records = rec.records, items = rec.items,
                    truncated_bytes = rec.truncated_bytes, corrupt_segments = rec.corrupt_segments,
                    "persistent queue recovered");
            }
            return Ok(Queue::Disk(Arc::new(DiskQueue::new(
                log,
                qc.queue_size,
                qc.sizer,
            ))));
        }
        if let Some(q) = host.handover.take::<Arc<MemQueue<T>>>(&self.key) {
            q.reconfigure(qc.queue_size, qc.sizer);
            let (_, requests, items) = q.size();
            info!(exporter = %self.core.id, requests, items, "took over the in-memory queue of the previous configuration");
            return Ok(Queue::Memory(q));
        }
        Ok(Queue::Memory(Arc::new(MemQueue::new(
            qc.queue_size,
            qc.sizer,
        ))))
    }
}

#[async_trait]
impl<T: SignalData> Consumer<T> for HelperExporter<T> {
    async fn consume(&self, data: T) -> ConsumeResult {
        self.accept(Payload::Decoded(data)).await
    }

    /// Kept encoded when the sender sends OTLP protobuf; decoded otherwise.
    async fn consume_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        if self.core.sender.sends_encoded() {
            self.accept(Payload::Encoded(data)).await
        } else {
            self.consume(data.decode()?).await
        }
    }

    fn keeps_encoded(&self) -> bool {
        self.core.sender.sends_encoded()
    }

    /// With a sending queue, `consume` returns once the data is queued; a local exporter
    /// (`prometheus`, `debug`, `file`) answers as soon as it wrote the data.
    fn queued(&self) -> bool {
        self.cfg.queue.enabled || self.core.sender.local()
    }

    /// Takes a `batch` processor's settings for the queue's batching, unless
    /// `sending_queue::batch` is configured (then that wins, as the exporter's own setting).
    /// The first `batch` to ask wins when pipelines with different ones share this exporter.
    fn adopt_batching(&self, b: &strata_pipelines::Batching) {
        if !self.cfg.queue.enabled || self.cfg.queue.batch.is_some() {
            return;
        }
        let mut adopted = self.adopted.lock().unwrap_or_else(|p| p.into_inner());
        if adopted.is_none() {
            *adopted = Some(QueueBatch {
                flush_timeout: b.flush_timeout,
                min_size: b.min_size,
                max_size: b.max_size,
            });
        }
    }

    /// Not ready while the sending queue is full and does not block (`block_on_overflow:
    /// false`): `consume` would refuse any request now.
    fn ready(&self) -> Result<(), ConsumeError> {
        if !self.cfg.queue.enabled || self.cfg.queue.block_on_overflow {
            return Ok(());
        }
        let full = match self.running() {
            Some((Queue::Memory(q), _)) => q.full(),
            Some((Queue::Disk(q), _)) => q.full(),
            None => None,
        };
        match full {
            Some(why) => Err(ConsumeError::retryable(format!(
                "exporter {}: sending queue is full ({why})",
                self.core.id
            ))),
            None => Ok(()),
        }
    }
}

impl<T: SignalData> HelperExporter<T> {
    /// What a request waits in the queue as: for a sender of OTLP protobuf, a decoded request
    /// is encoded now, once. It is sent encoded anyway; queued encoded it holds about a third
    /// of its decoded size, merges by concatenation, and is not encoded again on each retry.
    fn queued_form(&self, p: Payload<T>) -> Payload<T> {
        match p {
            Payload::Decoded(d) if self.core.sender.sends_encoded() => {
                Payload::Encoded(Encoded::encode(&d))
            }
            p => p,
        }
    }

    /// Sends (no queue) or queues `data`; see the type's docs.
    async fn accept(&self, data: Payload<T>) -> ConsumeResult {
        self.accept_with(data, self.cfg.queue.block_on_overflow)
            .await
    }

    /// `consume`, except that a full queue is waited on (as under `block_on_overflow`) for up
    /// to `wait` rather than refusing at once. For a caller that found the queue
    /// [ready](Consumer::ready) and must not have the request refused because another
    /// request filled the queue in between (the `loadbalancing` exporter: a refused part
    /// would make the sender retry parts other backends already queued).
    ///
    /// # Errors
    /// As `consume`; a retryable error when the queue stayed full for `wait`.
    pub async fn consume_waiting(&self, data: T, wait: Duration) -> ConsumeResult {
        let items = data.item_count() as u64;
        match tokio::time::timeout(wait, self.accept_with(Payload::Decoded(data), true)).await {
            Ok(r) => r,
            Err(_) => {
                self.core.m.enqueue_failed.add(items);
                Err(ConsumeError::retryable(format!(
                    "exporter {}: sending queue stayed full for {wait:?}",
                    self.core.id
                )))
            }
        }
    }

    async fn accept_with(&self, data: Payload<T>, block: bool) -> ConsumeResult {
        let items = data.item_count() as u64;
        if !self.cfg.queue.enabled {
            let never = CancellationToken::new();
            let mut out = Accepted::all();
            for part in data.split_to_size(self.cfg.max_request_bytes) {
                match self.core.deliver(part.into_request(), &never).await {
                    Delivery::Done(r) => out = out.and(r?),
                    // `never` is not cancelled; answer retryably rather than assume it.
                    Delivery::Stopped => {
                        return Err(ConsumeError::retryable(format!(
                            "exporter {} stopped before sending",
                            self.core.id
                        )));
                    }
                }
            }
            return Ok(out);
        }
        let Some((q, _)) = self.running() else {
            self.core.m.enqueue_failed.add(items);
            return Err(ConsumeError::retryable(format!(
                "exporter {} is not running",
                self.core.id
            )));
        };
        // The sender's context, kept with the data (the part `batch` and queues partition by).
        let ctx = ClientContext::current().map(|c| Arc::new(c.partition(None)));
        for part in data.split_to_size(self.cfg.max_request_bytes) {
            let part = self.queued_form(part);
            let n = part.item_count() as u64;
            let r = match &q {
                Queue::Memory(m) => m.offer(part, ctx.clone(), block).await,
                Queue::Disk(d) => loop {
                    match d.offer(&part, ctx.as_deref()).await {
                        Err(Refused::Full(_)) if block => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => break other,
                    }
                },
            };
            Self::update_gauge(&self.core, &q);
            if let Queue::Disk(d) = &q {
                self.core.m.storage_dropped.add(d.take_dropped());
            }
            if let Err(e) = r {
                self.core.m.enqueue_failed.add(n);
                if matches!(e, Refused::Io(_)) {
                    error!(exporter = %self.core.id, error = %e, "cannot queue data");
                }
                return Err(ConsumeError::retryable(format!(
                    "exporter {}: {e}",
                    self.core.id
                )));
            }
        }
        Ok(Accepted::all())
    }
}

impl<T: SignalData> HelperExporter<T> {
    /// Sets where data goes when this exporter's retries are exhausted (once; later calls are
    /// ignored). See [`Fallback`].
    pub fn set_fallback(&self, f: Arc<dyn Fallback<T>>) {
        let _ = self.core.fallback.set(f);
    }

    /// Stops this exporter's consumers and takes what its sending queue holds (what was being
    /// sent goes back to the queue first), request by request with each one's client context;
    /// the exporter is stopped after it. For a `loadbalancing` backend that left: its data goes
    /// to the new owners of its keys instead of being dropped with it. A persistent queue's
    /// records stay on disk until each is [handed over](super::queue::Receipt::handed_over).
    pub async fn take_queued(&self) -> Taken<T> {
        let run = self.run.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(run) = run else {
            return Taken::empty();
        };
        run.stop.cancel();
        run.tracker.close();
        run.tracker.wait().await;
        let out = match &run.queue {
            Queue::Memory(q) => {
                q.close();
                Taken::memory(q.drain())
            }
            Queue::Disk(q) => Taken::persistent(q.log.clone(), self.core.sender.sends_encoded()),
        };
        self.core.m.queue_size.set(0);
        let _ = self.core.sender.shutdown().await;
        out
    }
}

#[async_trait]
impl<T: SignalData> Component for HelperExporter<T> {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        let _ = self.core.health.set(host.health.register_exporter(format!(
            "{} ({})",
            self.core.id,
            T::SIGNAL
        )));
        self.core.sender.start(host).await?;
        if !self.cfg.queue.enabled {
            return Ok(());
        }
        let queue = self.open_queue(host).map_err(|e| StartError {
            id: self.core.id.clone(),
            source: e.into(),
        })?;
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let cap = match (&queue, self.cfg.queue.sizer) {
            (Queue::Disk(d), Sizer::Bytes) => d.log.storage().max_bytes,
            _ => self.cfg.queue.queue_size,
        };
        self.core.m.queue_capacity.set(cap as i64);
        self.core
            .m
            .persistent
            .set(i64::from(matches!(queue, Queue::Disk(_))));
        Self::update_gauge(&self.core, &queue);
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        // The queue's own `batch`, else what a `batch` processor before it asked for.
        let batching = self.cfg.queue.batch.clone().or_else(|| {
            self.adopted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        });
        for _ in 0..self.cfg.queue.num_consumers {
            let core = self.core.clone();
            let stop = stop.clone();
            let batch = batching.clone().map(|b| (b, gate.clone()));
            match &queue {
                Queue::Memory(q) => tracker.spawn(tracing::Instrument::in_current_span(
                    Self::consume_memory(core, q.clone(), stop, batch),
                )),
                Queue::Disk(q) => tracker.spawn(tracing::Instrument::in_current_span(
                    Self::consume_disk(core, q.clone(), stop, batch),
                )),
            };
        }
        if let Queue::Disk(q) = &queue
            && q.log.storage().fsync == strata_pipelines::storage::Fsync::Interval
        {
            let log = q.log.clone();
            let every = log.storage().fsync_interval;
            let stop = stop.clone();
            let id = self.core.id.clone();
            tracker.spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => {
                            if let Err(e) = log.sync() {
                                error!(exporter = %id, error = %e, "persistent queue sync failed");
                            }
                        }
                    }
                }
            });
        }
        *self.run.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running {
            queue,
            stop,
            tracker,
            host: host.clone(),
        });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        let run = self.run.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(run) = run else {
            return self.core.sender.shutdown().await;
        };
        run.tracker.close();
        match &run.queue {
            Queue::Disk(q) => {
                run.stop.cancel();
                run.tracker.wait().await;
                q.log.close();
                let (records, items) = q.log.pending();
                if records > 0 {
                    info!(exporter = %self.core.id, records, items, "undelivered data stays in the persistent queue for the next start");
                }
            }
            Queue::Memory(q) if run.host.handover.reloading() => {
                run.stop.cancel();
                run.tracker.wait().await;
                run.host.handover.park(self.key.clone(), q.clone());
            }
            Queue::Memory(q) => {
                q.close();
                let drained = async {
                    run.tracker.wait().await;
                };
                let left = run
                    .host
                    .deadline
                    .get()
                    .map(|d| d.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_secs(30));
                // Leave a little of the graph's deadline for the components after this one.
                let budget = left.mul_f64(0.9);
                if tokio::time::timeout(budget, drained).await.is_err() {
                    run.stop.cancel();
                    run.tracker.wait().await;
                    let (_, requests, items) = q.size();
                    self.core.m.dropped.add(items);
                    error!(exporter = %self.core.id, requests, items,
                        "shutdown deadline reached with data still queued; it is lost");
                }
            }
        }
        self.core.sender.shutdown().await
    }
}

impl<T: SignalData> Exporter<T> for HelperExporter<T> {}
