use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use strata_pipelines::auth::ClientContext;
use strata_pipelines::wire::Encoded;
use strata_pipelines::{
    Accepted, BoxConsumer, BuildError, Component, ConfigError, ConsumeError, ConsumeResult,
    Consumer, Host, Processor, ProcessorFactory, Settings, ShutdownError, Signal, SignalData,
    StartError, Tasks, YamlValue, config::parse_component,
};
use tokio::sync::{Notify, oneshot};
use tracing::debug;

use super::{Config, TYPE};

type Waiter = oneshot::Sender<ConsumeResult>;

/// One caller's data, decoded or still as received. Requests stay encoded when the rest of the
/// pipeline keeps them so (the exporters send OTLP protobuf): the batch is then their
/// concatenation, and nothing is decoded unless a request must be split at
/// `send_batch_max_size`.
enum Part<T> {
    Decoded(T),
    Encoded(Encoded<T>),
}

impl<T: SignalData> Part<T> {
    fn item_count(&self) -> usize {
        match self {
            Part::Decoded(d) => d.item_count(),
            Part::Encoded(e) => e.item_count(),
        }
    }

    fn into_decoded(self) -> Result<T, ConsumeError> {
        match self {
            Part::Decoded(d) => Ok(d),
            Part::Encoded(e) => e.decode(),
        }
    }

    /// Appends `other` to this request, encoding or decoding it to this request's form.
    ///
    /// # Errors
    /// Decoding `other` failed (prost refused what the receiver's check accepted).
    fn append(&mut self, other: Part<T>) -> Result<(), ConsumeError> {
        match (self, other) {
            (Part::Encoded(a), Part::Encoded(b)) => a.append(b),
            (this, b) => this.append_decoded(b.into_decoded()?),
        }
        Ok(())
    }

    fn append_decoded(&mut self, other: T) {
        match self {
            Part::Encoded(a) => a.append(Encoded::encode(&other)),
            Part::Decoded(a) => a.append(other),
        }
    }
}

/// One partition's buffered batch: data in arrival order, who waits for it, and when its
/// first item arrived.
struct Pending<T> {
    items: usize,
    parts: Vec<(Part<T>, Waiter)>,
    since: tokio::time::Instant,
}

impl<T> Pending<T> {
    fn new() -> Self {
        Pending {
            items: 0,
            parts: Vec::new(),
            since: tokio::time::Instant::now(),
        }
    }
}

/// The partition of a request: its client context reduced to what keeps batches apart (the
/// authenticated identity and the `metadata_keys`), `None` when that is empty.
type Key = Option<ClientContext>;

/// The `batch` processor for one signal. See the module docs.
pub struct BatchProcessor<T: SignalData> {
    inner: Arc<Inner<T>>,
    tasks: Tasks,
}

struct Inner<T: SignalData> {
    cfg: Config,
    next: BoxConsumer<T>,
    /// Every path after this processor ends in a sending queue: requests go on at once and
    /// the queues batch ([`Consumer::queued`]).
    queued: bool,
    pending: Mutex<BTreeMap<Key, Pending<T>>>,
    first_item: Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl<T: SignalData> BatchProcessor<T> {
    /// A batch processor sending to `next`. When every path after it ends in a sending queue
    /// ([`Consumer::queued`]), it hands its settings to those queues
    /// ([`Consumer::adopt_batching`]) and forwards each request at once: the sender is
    /// answered when its data is queued, and the exports have the shape the settings give.
    pub fn new(cfg: Config, next: BoxConsumer<T>) -> Self {
        let queued = next.queued();
        if queued {
            next.adopt_batching(&strata_pipelines::Batching {
                min_size: cfg.send_batch_size,
                max_size: cfg.send_batch_max_size,
                flush_timeout: cfg.timeout,
            });
        }
        BatchProcessor {
            inner: Arc::new(Inner {
                cfg,
                next,
                queued,
                pending: Mutex::new(BTreeMap::new()),
                first_item: Notify::new(),
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
            tasks: Tasks::default(),
        }
    }
}

impl<T: SignalData> Inner<T> {
    fn take_all(&self) -> BTreeMap<Key, Pending<T>> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The partitions whose timeout has passed at `now`, and the earliest deadline of the rest.
    fn take_due(
        &self,
        now: tokio::time::Instant,
    ) -> (Vec<(Key, Pending<T>)>, Option<tokio::time::Instant>) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<Key> = p
            .iter()
            .filter(|(_, b)| b.since + self.cfg.timeout <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let taken = due
            .into_iter()
            .filter_map(|k| p.remove(&k).map(|b| (k, b)))
            .collect();
        let next = p.values().map(|b| b.since + self.cfg.timeout).min();
        (taken, next)
    }

    /// Sends a partition's batch with its context as the current one.
    async fn flush(&self, key: Key, batch: Pending<T>) {
        ClientContext::scope_opt(key.map(Arc::new), self.flush_batch(batch)).await;
    }

    /// Sends everything in `batch`, split at `send_batch_max_size`, and tells every waiter the
    /// result of the request(s) that carried its data.
    async fn flush_batch(&self, batch: Pending<T>) {
        if batch.parts.is_empty() {
            return;
        }
        let max = match self.cfg.send_batch_max_size {
            0 => usize::MAX,
            n => n,
        };
        // Encoded requests when the exporters keep them so, else decoded ones.
        let encoded = self.next.keeps_encoded();
        let empty = || {
            if encoded {
                Part::Encoded(Encoded::encode(&T::default()))
            } else {
                Part::Decoded(T::default())
            }
        };
        // Build requests of at most `max` items, remembering which callers each one carries.
        let mut requests: Vec<(Part<T>, Vec<usize>)> = Vec::new();
        let mut current = empty();
        let mut current_items = 0;
        let mut current_callers = Vec::new();
        let mut waiters = Vec::with_capacity(batch.parts.len());
        let mut results: Vec<Option<ConsumeError>> = Vec::with_capacity(batch.parts.len());
        for (i, (mut part, waiter)) in batch.parts.into_iter().enumerate() {
            waiters.push(waiter);
            results.push(None);
            loop {
                if current_items == max {
                    // Full: close it before this caller's data starts a new request, so the
                    // caller is not tied to a request that carries none of its data.
                    requests.push((
                        std::mem::replace(&mut current, empty()),
                        std::mem::take(&mut current_callers),
                    ));
                    current_items = 0;
                }
                let n = part.item_count();
                let room = max - current_items;
                if n <= room {
                    if let Err(e) = current.append(part) {
                        results[i] = Some(e);
                    } else {
                        current_callers.push(i);
                        current_items += n;
                    }
                    break;
                }
                // Splitting needs the data decoded.
                let mut data = match part.into_decoded() {
                    Ok(d) => d,
                    Err(e) => {
                        results[i] = Some(e);
                        break;
                    }
                };
                current.append_decoded(data.split_front(room));
                current_callers.push(i);
                current_items = max;
                part = Part::Decoded(data);
            }
        }
        if !current_callers.is_empty() {
            requests.push((current, current_callers));
        }
        for (req, callers) in requests {
            debug!(items = req.item_count(), signal = %T::SIGNAL, "batch: sending");
            let sent = match req {
                Part::Decoded(d) => self.next.consume(d).await,
                Part::Encoded(e) => self.next.consume_encoded(e).await,
            };
            match sent {
                Err(e) => {
                    for c in callers {
                        // Each caller keeps the first error among the requests carrying its data.
                        results[c].get_or_insert_with(|| e.share());
                    }
                }
                Ok(a) if !a.is_full() => {
                    // Which caller's items were dropped is no longer known after merging.
                    debug!(rejected = a.rejected, message = %a.message, "batch: downstream dropped items");
                }
                Ok(_) => {}
            }
        }
        for (w, r) in waiters.into_iter().zip(results) {
            let _ = w.send(r.map_or(Ok(Accepted::all()), Err));
        }
    }
}

impl<T: SignalData> BatchProcessor<T> {
    /// Buffers `data`, sends the batch if it is now full, and waits for the result of the
    /// request(s) that carry `data`.
    async fn add(&self, data: Part<T>) -> ConsumeResult {
        if self.inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(ConsumeError::retryable("batch processor is shutting down"));
        }
        if self.inner.queued {
            // The sending queues batch; the caller is answered once its data is queued.
            return match data {
                Part::Decoded(d) => self.inner.next.consume(d).await,
                Part::Encoded(e) => self.inner.next.consume_encoded(e).await,
            };
        }
        let n = data.item_count();
        let key: Key = ClientContext::current()
            .map(|c| c.partition(Some(&self.inner.cfg.metadata_keys)))
            .filter(|c| !c.auth.is_empty() || !c.metadata.is_empty());
        let (tx, rx) = oneshot::channel();
        let full = {
            let mut all = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            if !all.contains_key(&key) {
                if all.len() >= self.inner.cfg.metadata_cardinality_limit {
                    return Err(ConsumeError::retryable(format!(
                        "batch processor: {} partitions (metadata_cardinality_limit) are open; retry later",
                        all.len()
                    )));
                }
                all.insert(key.clone(), Pending::new());
                self.inner.first_item.notify_one();
            }
            let p = all.entry(key.clone()).or_insert_with(Pending::new);
            p.items += n;
            p.parts.push((data, tx));
            if p.items >= self.inner.cfg.send_batch_size {
                all.remove(&key)
            } else {
                None
            }
        };
        if let Some(batch) = full {
            // The caller that filled the batch sends it; others wait for their results.
            self.inner.flush(key, batch).await;
        }
        rx.await
            .unwrap_or_else(|_| Err(ConsumeError::retryable("batch processor stopped")))
    }
}

#[async_trait]
impl<T: SignalData> Consumer<T> for BatchProcessor<T> {
    async fn consume(&self, data: T) -> ConsumeResult {
        self.add(Part::Decoded(data)).await
    }

    /// Kept encoded when the exporters keep it so (see the module docs), else decoded here.
    async fn consume_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        if self.inner.next.keeps_encoded() {
            self.add(Part::Encoded(data)).await
        } else {
            self.add(Part::Decoded(data.decode()?)).await
        }
    }

    fn keeps_encoded(&self) -> bool {
        self.inner.next.keeps_encoded()
    }

    fn ready(&self) -> Result<(), ConsumeError> {
        self.inner.next.ready()
    }

    fn queued(&self) -> bool {
        self.inner.queued
    }

    fn adopt_batching(&self, b: &strata_pipelines::Batching) {
        self.inner.next.adopt_batching(b);
    }
}

#[async_trait]
impl<T: SignalData> Component for BatchProcessor<T> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let inner = self.inner.clone();
        let cancel = self.tasks.token();
        self.tasks.spawn(async move {
            // Sends each partition `timeout` after its first item; woken early when a new
            // partition opens (its deadline may be the earliest).
            loop {
                let (due, next) = inner.take_due(tokio::time::Instant::now());
                for (key, batch) in due {
                    inner.flush(key, batch).await;
                }
                if !matches!(next, Some(n) if n <= tokio::time::Instant::now()) {
                    let sleep = async {
                        match next {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = inner.first_item.notified() => {}
                        _ = sleep => {}
                    }
                }
            }
        });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.tasks.stop().await;
        for (key, batch) in self.inner.take_all() {
            self.inner.flush(key, batch).await;
        }
        Ok(())
    }
}

impl<T: SignalData> Processor<T> for BatchProcessor<T> {}

/// Factory of the `batch` processor.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: SignalData>(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: BoxConsumer<T>,
    ) -> Result<Arc<dyn Processor<T>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let b = BatchProcessor::new(c, next);
        if b.inner.queued {
            tracing::info!(processor = %set.id, signal = %T::SIGNAL,
                "batch: every exporter after it has a sending queue; requests are answered once queued, and the queues batch with this processor's settings");
        } else {
            tracing::warn!(processor = %set.id, signal = %T::SIGNAL, timeout = ?b.inner.cfg.timeout,
                "batch: an exporter after it has no sending queue; a sender waits for its batch to be exported (up to timeout plus the export), so a sender waiting for each answer is slowed");
        }
        Ok(Arc::new(b))
    }
}

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::processor_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_pipelines::testing::{CollectingConsumer, DecodingConsumer, FailingConsumer, fake};
    use strata_pipelines::{Logs, Metrics, Traces};

    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_defaults_testdata_and_errors() {
        assert_eq!(
            parse_component::<Config>("p", yaml("{}")).unwrap(),
            Config::default()
        );
        let c = parse_component::<Config>("p", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.send_batch_max_size, 2000);
        assert_eq!(c.timeout, Duration::from_secs(1));
        let e = parse_component::<Config>("p", yaml("send_batch_sise: 1")).unwrap_err();
        assert!(e.message.contains("unknown key"), "{e}");
        let e = parse_component::<Config>("p", yaml("send_batch_size: 0")).unwrap_err();
        assert_eq!(e.path, "p::send_batch_size");
        let e = parse_component::<Config>("p", yaml("send_batch_size: 10\nsend_batch_max_size: 5"))
            .unwrap_err();
        assert_eq!(e.path, "p::send_batch_max_size");
        let e = parse_component::<Config>("p", yaml("timeout: soon")).unwrap_err();
        assert_eq!(e.path, "p::timeout");
    }

    /// Records each batch with the tenant current when it arrived.
    #[derive(Default)]
    struct TenantSink(Mutex<Vec<(Option<String>, usize)>>);

    #[async_trait]
    impl Consumer<Traces> for TenantSink {
        async fn consume(&self, data: Traces) -> ConsumeResult {
            let tenant = ClientContext::current().and_then(|c| c.get("auth.tenant"));
            self.0.lock().unwrap().push((tenant, data.item_count()));
            Ok(Accepted::all())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tenants_are_never_merged_and_each_batch_carries_its_tenant() {
        let sink = Arc::new(TenantSink::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                send_batch_size: 6,
                timeout: Duration::from_secs(1),
                ..Config::default()
            },
            sink.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let mut calls = Vec::new();
        for (i, tenant) in ["A", "B", "A", "B", "A", ""].into_iter().enumerate() {
            let b = b.clone();
            let mut ctx = ClientContext::default();
            if !tenant.is_empty() {
                ctx.auth.insert("tenant".into(), tenant.into());
            }
            calls.push(tokio::spawn(ClientContext::scope(
                Arc::new(ctx),
                async move { b.consume(fake::traces(1, 2)).await },
            )));
            if i == 0 {
                tokio::task::yield_now().await;
            }
        }
        for c in calls {
            c.await.unwrap().unwrap();
        }
        let mut got = sink.0.lock().unwrap().clone();
        got.sort();
        // A filled its batch (6 spans); B and the anonymous request went at the timeout.
        assert_eq!(
            got,
            vec![(None, 2), (Some("A".into()), 6), (Some("B".into()), 4)]
        );
        b.shutdown().await.unwrap();
    }

    /// Stands for exporters with sending queues: `consume` returns at enqueue.
    #[derive(Default)]
    struct Queued {
        got: Mutex<Vec<usize>>,
        adopted: Mutex<Option<strata_pipelines::Batching>>,
    }

    #[async_trait]
    impl Consumer<Traces> for Queued {
        async fn consume(&self, data: Traces) -> ConsumeResult {
            self.got.lock().unwrap().push(data.item_count());
            Ok(Accepted::all())
        }
        fn queued(&self) -> bool {
            true
        }
        fn adopt_batching(&self, b: &strata_pipelines::Batching) {
            *self.adopted.lock().unwrap() = Some(*b);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn with_queues_after_it_requests_go_on_at_once_and_the_queues_batch() {
        let q = Arc::new(Queued::default());
        let b = BatchProcessor::new(
            Config {
                send_batch_size: 500,
                send_batch_max_size: 1000,
                timeout: Duration::from_secs(3),
                ..Config::default()
            },
            q.clone(),
        );
        assert!(b.queued());
        assert_eq!(
            *q.adopted.lock().unwrap(),
            Some(strata_pipelines::Batching {
                min_size: 500,
                max_size: 1000,
                flush_timeout: Duration::from_secs(3),
            })
        );
        b.start(&Host::default()).await.unwrap();
        // Answered without waiting for the timeout (the clock is paused: any wait would hang).
        let started = tokio::time::Instant::now();
        b.consume(fake::traces(1, 7)).await.unwrap();
        b.consume_encoded(Encoded::encode(&fake::traces(1, 3)))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(*q.got.lock().unwrap(), vec![7, 3]);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_partitions_are_refused_retryably() {
        let sink = Arc::new(TenantSink::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                metadata_cardinality_limit: 1,
                ..Config::default()
            },
            sink.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let with = |t: &str| {
            let mut ctx = ClientContext::default();
            ctx.auth.insert("tenant".into(), t.into());
            Arc::new(ctx)
        };
        let b2 = b.clone();
        let first = tokio::spawn(ClientContext::scope(with("A"), async move {
            b2.consume(fake::traces(1, 1)).await
        }));
        tokio::task::yield_now().await;
        let e = ClientContext::scope(with("B"), b.consume(fake::traces(1, 1)))
            .await
            .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        first.await.unwrap().unwrap();
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn sends_on_size_and_splits_at_max() {
        let sink = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                send_batch_size: 10,
                send_batch_max_size: 10,
                timeout: Duration::from_secs(60),
                ..Config::default()
            },
            sink.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let mut calls = Vec::new();
        for _ in 0..3 {
            let b = b.clone();
            calls.push(tokio::spawn(
                async move { b.consume(fake::traces(1, 4)).await },
            ));
        }
        for c in calls {
            c.await.unwrap().unwrap();
        }
        // 12 items: one request of 10 and one of 2, split inside the third caller's data.
        let sizes: Vec<usize> = sink.batches().iter().map(|t| t.item_count()).collect();
        assert_eq!(sizes, vec![10, 2]);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn encoded_requests_stay_encoded_and_are_concatenated() {
        let sink = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                send_batch_size: 30,
                send_batch_max_size: 0,
                timeout: Duration::from_secs(60),
                ..Config::default()
            },
            sink.clone(),
        ));
        assert!(b.keeps_encoded(), "the exporter keeps requests encoded");
        b.start(&Host::default()).await.unwrap();
        let mut calls = Vec::new();
        for i in 0..3 {
            let b = b.clone();
            let data = fake::traces(1 + i, 10 / (1 + i));
            calls.push(tokio::spawn(async move {
                b.consume_encoded(Encoded::encode(&data)).await
            }));
            tokio::task::yield_now().await;
        }
        // 10 + 10 + 9 spans: below 30, so the timeout sends them, as one encoded request.
        for c in calls {
            c.await.unwrap().unwrap();
        }
        assert_eq!(sink.encoded_batches(), 1);
        let mut want = fake::traces(1, 10);
        want.append(fake::traces(2, 5));
        want.append(fake::traces(3, 3));
        assert_eq!(sink.batches(), vec![want]);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn encoded_and_decoded_requests_are_split_at_max_and_sent_encoded() {
        let sink = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                send_batch_size: 25,
                send_batch_max_size: 10,
                timeout: Duration::from_secs(60),
                ..Config::default()
            },
            sink.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let b1 = b.clone();
        let first = tokio::spawn(async move {
            b1.consume_encoded(Encoded::encode(&fake::traces(1, 7)))
                .await
        });
        tokio::task::yield_now().await;
        let b2 = b.clone();
        let second = tokio::spawn(async move { b2.consume(fake::traces(1, 7)).await });
        tokio::task::yield_now().await;
        b.consume_encoded(Encoded::encode(&fake::traces(1, 11)))
            .await
            .unwrap();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        let sizes: Vec<usize> = sink.batches().iter().map(|t| t.item_count()).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        assert_eq!(sink.encoded_batches(), 3);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn encoded_requests_are_decoded_for_a_next_that_looks_inside() {
        let sink = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                send_batch_size: 5,
                ..Config::default()
            },
            Arc::new(DecodingConsumer(sink.clone())),
        ));
        assert!(!b.keeps_encoded());
        b.start(&Host::default()).await.unwrap();
        b.consume_encoded(Encoded::encode(&fake::traces(1, 5)))
            .await
            .unwrap();
        assert_eq!(sink.encoded_batches(), 0);
        assert_eq!(sink.batches(), vec![fake::traces(1, 5)]);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn sends_on_timeout() {
        let sink = Arc::new(CollectingConsumer::<Logs>::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                timeout: Duration::from_millis(200),
                ..Config::default()
            },
            sink.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let started = tokio::time::Instant::now();
        b.consume(fake::logs(1, 3)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(sink.item_count(), 3);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn every_caller_gets_the_export_error() {
        let failing = Arc::new(FailingConsumer::retryable());
        let b = Arc::new(BatchProcessor::<Traces>::new(
            Config {
                send_batch_size: 4,
                ..Config::default()
            },
            failing.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let b2 = b.clone();
        let first = tokio::spawn(async move { b2.consume(fake::traces(1, 2)).await });
        tokio::task::yield_now().await;
        let second = b.consume(fake::traces(1, 2)).await;
        assert!(second.unwrap_err().is_retryable());
        assert!(first.await.unwrap().unwrap_err().is_retryable());
        assert_eq!(failing.calls(), 1);
        b.shutdown().await.unwrap();
    }

    /// Fails only its first call.
    struct FailFirst(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl Consumer<Traces> for FailFirst {
        async fn consume(&self, _data: Traces) -> ConsumeResult {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(ConsumeError::Retryable {
                    error: "first request refused".into(),
                    retry_after: Some(Duration::from_secs(7)),
                });
            }
            Ok(Accepted::all())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_gets_only_the_results_of_requests_carrying_its_data() {
        // Three callers of 5 spans with send_batch_max_size 5: one request each. Only the
        // first request fails, so only the first caller may see an error.
        let b = Arc::new(BatchProcessor::<Traces>::new(
            Config {
                send_batch_size: 15,
                send_batch_max_size: 5,
                timeout: Duration::from_secs(60),
                ..Config::default()
            },
            Arc::new(FailFirst(Default::default())),
        ));
        b.start(&Host::default()).await.unwrap();
        let mut calls = Vec::new();
        for _ in 0..3 {
            let b = b.clone();
            calls.push(tokio::spawn(
                async move { b.consume(fake::traces(1, 5)).await },
            ));
            tokio::task::yield_now().await;
        }
        let mut results = Vec::new();
        for c in calls {
            results.push(c.await.unwrap());
        }
        match &results[0] {
            Err(ConsumeError::Retryable { retry_after, .. }) => {
                assert_eq!(*retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("first caller: {other:?}"),
        }
        assert!(results[1].is_ok(), "{:?}", results[1]);
        assert!(results[2].is_ok(), "{:?}", results[2]);
        b.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_flushes_and_then_refuses() {
        let sink = Arc::new(CollectingConsumer::<Metrics>::default());
        let b = Arc::new(BatchProcessor::new(
            Config {
                timeout: Duration::from_secs(3600),
                ..Config::default()
            },
            sink.clone(),
        ));
        b.start(&Host::default()).await.unwrap();
        let b2 = b.clone();
        let waiting = tokio::spawn(async move { b2.consume(fake::metrics(1, 2, 3)).await });
        tokio::task::yield_now().await;
        b.shutdown().await.unwrap();
        waiting.await.unwrap().unwrap();
        assert_eq!(sink.item_count(), 6);
        assert!(
            b.consume(fake::metrics(1, 1, 1))
                .await
                .unwrap_err()
                .is_retryable()
        );
    }
}
