use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prost::Message as _;
use strata_pipelines::storage::{FileStorage, Fsync, WhenFull};
use strata_pipelines::testing::fake;
use strata_pipelines::{
    Accepted, Component, ComponentId, ConsumeError, ConsumeResult, Consumer, Extension, Host, Kind,
    Settings, ShutdownError, SignalData, StartError, Telemetry, Traces, wire::Encoded,
};
use tokio::time::Instant;

use super::*;

/// A peer that answers from a script (then succeeds), recording what it received and when.
#[derive(Default)]
struct Peer {
    script: Mutex<VecDeque<ConsumeResult>>,
    got: Mutex<Vec<(Instant, usize)>>,
    /// Fail everything while set.
    down: std::sync::atomic::AtomicBool,
}

impl Peer {
    fn scripted(results: Vec<ConsumeResult>) -> Arc<Peer> {
        Arc::new(Peer {
            script: Mutex::new(results.into()),
            ..Peer::default()
        })
    }
    fn received(&self) -> usize {
        self.got.lock().unwrap().iter().map(|(_, n)| n).sum()
    }
    fn attempts(&self) -> Vec<Instant> {
        self.got.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }
}

struct PeerSender(Arc<Peer>);

#[async_trait]
impl Component for PeerSender {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

#[async_trait]
impl RequestSender<Traces> for PeerSender {
    async fn send(&self, data: Arc<Traces>) -> ConsumeResult {
        if self.0.down.load(std::sync::atomic::Ordering::SeqCst) {
            self.0.got.lock().unwrap().push((Instant::now(), 0));
            return Err(ConsumeError::retryable("peer is down"));
        }
        let r = self
            .0
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Accepted::all()));
        let n = if r.is_ok() { data.item_count() } else { 0 };
        self.0.got.lock().unwrap().push((Instant::now(), n));
        r
    }
}

fn settings(t: &Telemetry) -> Settings {
    Settings {
        kind: Kind::Exporter,
        id: "otlp/test".parse().unwrap(),
        telemetry: t.clone(),
    }
}

fn cfg(queue: bool) -> HelperConfig {
    HelperConfig {
        timeout: Duration::from_secs(5),
        retry: RetryConfig {
            initial_interval: Duration::from_millis(100),
            randomization_factor: 0.0,
            max_interval: Duration::from_millis(400),
            max_elapsed_time: Duration::from_secs(60),
            ..RetryConfig::default()
        },
        queue: QueueConfig {
            enabled: queue,
            num_consumers: 1,
            queue_size: 3,
            ..QueueConfig::default()
        },
        max_request_bytes: 0,
    }
}

fn counter(t: &Telemetry, name: &str) -> u64 {
    t.counter(name, &[("exporter", "otlp/test")]).get()
}

#[tokio::test(start_paused = true)]
async fn retry_waits_at_least_retry_after_then_backs_off() {
    let t = Telemetry::default();
    let peer = Peer::scripted(vec![
        Err(ConsumeError::Retryable {
            error: "HTTP 503".into(),
            retry_after: Some(Duration::from_secs(2)),
        }),
        Err(ConsumeError::retryable("unavailable")),
        Err(ConsumeError::retryable("unavailable")),
    ]);
    let e = HelperExporter::new(
        &settings(&t),
        cfg(false),
        Arc::new(PeerSender(peer.clone())),
    );
    e.start(&Host::default()).await.unwrap();
    e.consume(fake::traces(1, 4)).await.unwrap();
    let at = peer.attempts();
    assert_eq!(at.len(), 4);
    // Retry-After: 2 beats the 100 ms backoff; then 150 ms, then 225 ms (multiplier 1.5).
    assert!(
        at[1] - at[0] >= Duration::from_secs(2),
        "{:?}",
        at[1] - at[0]
    );
    assert_eq!(at[2] - at[1], Duration::from_millis(150));
    assert_eq!(at[3] - at[2], Duration::from_millis(225));
    assert_eq!(peer.received(), 4);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 4);
    assert_eq!(
        t.counter(
            "otelcol_exporter_send_retries",
            &[("exporter", "otlp/test"), ("data_type", "traces")]
        )
        .get(),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn partial_success_is_passed_on_and_counted() {
    let t = Telemetry::default();
    let peer = Peer::scripted(vec![Ok(Accepted::rejecting(2, "peer: 2 spans invalid"))]);
    let e = HelperExporter::new(
        &settings(&t),
        cfg(false),
        Arc::new(PeerSender(peer.clone())),
    );
    e.start(&Host::default()).await.unwrap();
    let a = e.consume(fake::traces(1, 5)).await.unwrap();
    assert_eq!(a.rejected, 2);
    assert_eq!(counter(&t, "otelcol_exporter_rejected_spans"), 2);
    assert_eq!(peer.attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_dropped_and_counted_not_retried() {
    let t = Telemetry::default();
    let peer = Peer::scripted(vec![Err(ConsumeError::permanent("HTTP 400: bad data"))]);
    let e = HelperExporter::new(
        &settings(&t),
        cfg(false),
        Arc::new(PeerSender(peer.clone())),
    );
    e.start(&Host::default()).await.unwrap();
    let err = e.consume(fake::traces(1, 3)).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(peer.attempts().len(), 1);
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 3);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_time_gives_up() {
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    peer.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut c = cfg(false);
    c.retry.max_elapsed_time = Duration::from_secs(2);
    let e = HelperExporter::new(&settings(&t), c, Arc::new(PeerSender(peer.clone())));
    e.start(&Host::default()).await.unwrap();
    let start = Instant::now();
    let err = e.consume(fake::traces(1, 2)).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(start.elapsed() <= Duration::from_secs(2));
    assert!(peer.attempts().len() >= 5, "{}", peer.attempts().len());
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_queue_acknowledges_at_enqueue_and_refuses_when_full() {
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    peer.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = HelperExporter::new(&settings(&t), cfg(true), Arc::new(PeerSender(peer.clone())));
    e.start(&Host::default()).await.unwrap();
    // One request is taken by the consumer (retrying), three fill the queue.
    for _ in 0..4 {
        assert!(e.ready().is_ok());
        e.consume(fake::traces(1, 1)).await.unwrap();
        tokio::task::yield_now().await;
    }
    // Receivers asking before they read a body hear that the queue is full.
    let not_ready = e.ready().unwrap_err();
    assert!(
        not_ready.is_retryable()
            && not_ready
                .to_string()
                .contains("sending queue is full (3 of 3"),
        "{not_ready}"
    );
    let err = e.consume(fake::traces(1, 1)).await.unwrap_err();
    assert!(
        err.is_retryable() && err.to_string().contains("full"),
        "{err}"
    );
    assert_eq!(counter(&t, "otelcol_exporter_enqueue_failed_spans"), 1);
    let size = t.gauge(
        "otelcol_exporter_queue_size",
        &[("exporter", "otlp/test"), ("data_type", "traces")],
    );
    assert_eq!(size.get(), 3);
    // The peer comes back: everything acknowledged arrives.
    peer.down.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(peer.received(), 4);
    assert_eq!(size.get(), 0);
    assert!(e.ready().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_blocking_queue_is_always_ready() {
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    peer.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut c = cfg(true);
    c.queue.block_on_overflow = true;
    let e = Arc::new(HelperExporter::new(
        &settings(&t),
        c,
        Arc::new(PeerSender(peer.clone())),
    ));
    e.start(&Host::default()).await.unwrap();
    for _ in 0..4 {
        e.consume(fake::traces(1, 1)).await.unwrap();
        tokio::task::yield_now().await;
    }
    // Full, but a request offered now waits for room instead of being refused.
    let blocked = tokio::spawn({
        let e = e.clone();
        async move { e.consume(fake::traces(1, 1)).await }
    });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    assert!(e.ready().is_ok());
    peer.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(blocked.await.unwrap().is_ok());
}

/// `consume_waiting` on a full, non-blocking queue waits for room up to its limit: it is
/// refused (counted) when none comes, queued when the peer drains the queue in time.
#[tokio::test(start_paused = true)]
async fn consume_waiting_waits_for_room_up_to_its_limit() {
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    peer.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = Arc::new(HelperExporter::new(
        &settings(&t),
        cfg(true),
        Arc::new(PeerSender(peer.clone())),
    ));
    e.start(&Host::default()).await.unwrap();
    for _ in 0..4 {
        e.consume(fake::traces(1, 1)).await.unwrap();
        tokio::task::yield_now().await;
    }
    assert!(e.ready().is_err());
    let err = e
        .consume_waiting(fake::traces(1, 1), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        err.is_retryable() && err.to_string().contains("stayed full for 500ms"),
        "{err}"
    );
    assert_eq!(counter(&t, "otelcol_exporter_enqueue_failed_spans"), 1);
    let waiting = tokio::spawn({
        let e = e.clone();
        async move {
            e.consume_waiting(fake::traces(1, 1), Duration::from_secs(5))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    peer.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(waiting.await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(peer.received(), 5);
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_the_memory_queue() {
    let t = Telemetry::default();
    let peer = Peer::scripted(vec![
        Err(ConsumeError::retryable("blip")),
        Err(ConsumeError::retryable("blip")),
    ]);
    let e = HelperExporter::new(&settings(&t), cfg(true), Arc::new(PeerSender(peer.clone())));
    let host = Host::default();
    e.start(&host).await.unwrap();
    for _ in 0..3 {
        e.consume(fake::traces(1, 5)).await.unwrap();
    }
    host.deadline
        .set(std::time::Instant::now() + Duration::from_secs(30));
    e.shutdown().await.unwrap();
    assert_eq!(peer.received(), 15);
    // Closed: new data is refused retryably.
    assert!(
        e.consume(fake::traces(1, 1))
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_hands_the_memory_queue_to_the_next_exporter() {
    let t = Telemetry::default();
    let old_peer = Arc::new(Peer::default());
    old_peer
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let host = Host::default();
    let old = HelperExporter::new(
        &settings(&t),
        cfg(true),
        Arc::new(PeerSender(old_peer.clone())),
    );
    old.start(&host).await.unwrap();
    for _ in 0..3 {
        old.consume(fake::traces(1, 2)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    host.handover.set_reloading(true);
    old.shutdown().await.unwrap();
    host.handover.set_reloading(false);
    assert_eq!(old_peer.received(), 0);
    let new_peer = Arc::new(Peer::default());
    let new = HelperExporter::new(
        &settings(&t),
        cfg(true),
        Arc::new(PeerSender(new_peer.clone())),
    );
    new.start(&host).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(new_peer.received(), 6);
    assert!(host.handover.take_unclaimed().is_empty());
}

#[test]
fn split_to_size_keeps_order_and_bounds() {
    let data = fake::traces(3, 40);
    let total = data.item_count();
    let max = data.encoded_len() / 5;
    let parts = split_to_size(data.clone(), max);
    assert!(parts.len() >= 5, "{}", parts.len());
    assert!(parts.iter().all(|p| p.encoded_len() <= max));
    assert_eq!(parts.iter().map(|p| p.item_count()).sum::<usize>(), total);
    let mut joined = Traces::default();
    for p in parts {
        joined.append(p);
    }
    let ids = |t: &Traces| -> Vec<Vec<u8>> {
        t.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id.clone())
            .collect()
    };
    assert_eq!(ids(&joined), ids(&data));
    assert_eq!(split_to_size(data.clone(), 0).len(), 1);
}

#[test]
fn byte_sizes_parse() {
    assert_eq!(parse_bytes("4MiB"), Some(4 << 20));
    assert_eq!(parse_bytes("512 KiB"), Some(512 << 10));
    assert_eq!(parse_bytes("2GB"), Some(2_000_000_000));
    assert_eq!(parse_bytes("100"), Some(100));
    assert_eq!(parse_bytes("4 parsecs"), None);
    assert_eq!(parse_bytes("99999999999GiB"), None);
}

struct Storage(FileStorage);

#[async_trait]
impl Component for Storage {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

impl Extension for Storage {
    fn storage(&self) -> Option<FileStorage> {
        Some(self.0.clone())
    }
}

/// A `file_storage` extension in `dir` (fsync never) and a host with it as `file_storage`.
pub(crate) fn storage_host(dir: &std::path::Path) -> (FileStorage, Host) {
    let storage = FileStorage::new(
        dir.to_path_buf(),
        Fsync::Never,
        Duration::from_secs(1),
        1 << 30,
        1 << 20,
        WhenFull::Refuse,
    );
    let sid: ComponentId = "file_storage".parse().unwrap();
    let mut host = Host::default();
    host.extensions
        .insert(sid, Arc::new(Storage(storage.clone())));
    (storage, host)
}

/// A `file_storage` in `dir` (fsync never), a host with it, and a queue config that uses it.
fn persistent(dir: &std::path::Path) -> (FileStorage, Host, HelperConfig) {
    let (storage, host) = storage_host(dir);
    let mut c = cfg(true);
    c.queue.storage = Some("file_storage".parse().unwrap());
    c.queue.queue_size = 100;
    (storage, host, c)
}

#[tokio::test]
async fn a_persistent_queue_keeps_undelivered_data_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let (storage, host, c) = persistent(tmp.path());
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    peer.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = HelperExporter::new(&settings(&t), c.clone(), Arc::new(PeerSender(peer.clone())));
    e.start(&host).await.unwrap();
    for _ in 0..10 {
        e.consume(fake::traces(1, 3)).await.unwrap();
    }
    e.shutdown().await.unwrap();
    assert_eq!(peer.received(), 0);

    // A new process (a new exporter) finds the 30 spans on disk and delivers them.
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    let e = HelperExporter::new(&settings(&t), c, Arc::new(PeerSender(peer.clone())));
    e.start(&host).await.unwrap();
    for _ in 0..200 {
        if peer.received() == 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counter(&t, "otelcol_exporter_queue_recovered_spans"), 30);
    assert_eq!(peer.received(), 30);
    e.shutdown().await.unwrap();
    // Everything acknowledged: only the (empty) segment written last remains, if any.
    let (_, rec) = storage.open("otlp/test_traces").unwrap();
    assert_eq!(rec.records, 0);
}

#[tokio::test(start_paused = true)]
async fn queue_batching_merges_acknowledged_requests_into_exports() {
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    let mut c = cfg(true);
    c.queue.num_consumers = 4;
    c.queue.queue_size = 1000;
    c.queue.batch = Some(QueueBatch {
        flush_timeout: Duration::from_millis(200),
        min_size: 250,
        max_size: 300,
    });
    let e = HelperExporter::new(&settings(&t), c, Arc::new(PeerSender(peer.clone())));
    e.start(&Host::default()).await.unwrap();
    // Each request is acknowledged at once, without waiting for a batch to fill.
    let started = Instant::now();
    for _ in 0..11 {
        e.consume(fake::traces(1, 100)).await.unwrap();
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Full batches left at once: 100-item requests merge to 300 (min 250), never above max.
    let sizes = |p: &Peer| {
        p.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
    };
    assert_eq!(sizes(&peer), [300, 300, 300], "{:?}", sizes(&peer));
    // The last 200 items wait for flush_timeout, then go as one export.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sizes(&peer), [300, 300, 300, 200]);
    assert_eq!(peer.received(), 1100);
    e.shutdown().await.unwrap();
}

#[test]
fn queue_batch_config() {
    let y = |s: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s).unwrap();
    let q: QueueConfig = serde_yaml_ng::from_value(y("batch:")).unwrap();
    assert_eq!(q.batch, Some(QueueBatch::default()));
    let q: QueueConfig =
        serde_yaml_ng::from_value(y("batch: { flush_timeout: 1s, min_size: 10, max_size: 5 }"))
            .unwrap();
    assert_eq!(
        q.validate("e").unwrap_err().path,
        "e::sending_queue::batch::max_size"
    );
    let q: QueueConfig = serde_yaml_ng::from_value(y("batch: {}\nstorage: file_storage")).unwrap();
    assert!(q.validate("e").unwrap_err().message.contains("persistent"));
    assert_eq!(QueueConfig::default().batch, None);
}

/// A sender of OTLP protobuf: records each export's bytes and whether it came still encoded.
#[derive(Default)]
struct EncodedPeer {
    got: Mutex<Vec<(bool, Vec<u8>)>>,
}

struct EncodedSender(Arc<EncodedPeer>);

#[async_trait]
impl Component for EncodedSender {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

#[async_trait]
impl RequestSender<Traces> for EncodedSender {
    async fn send(&self, data: Arc<Traces>) -> ConsumeResult {
        self.0
            .got
            .lock()
            .unwrap()
            .push((false, data.encode_to_vec()));
        Ok(Accepted::all())
    }
    fn sends_encoded(&self) -> bool {
        true
    }
    async fn send_encoded(&self, data: Encoded<Traces>) -> ConsumeResult {
        self.0
            .got
            .lock()
            .unwrap()
            .push((true, data.to_bytes().to_vec()));
        Ok(Accepted::all())
    }
}

fn encoded(t: &Traces) -> Encoded<Traces> {
    Encoded::new(t.encode_to_vec().into()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn encoded_requests_are_queued_merged_and_sent_without_a_decode() {
    let t = Telemetry::default();
    let peer = Arc::new(EncodedPeer::default());
    let mut c = cfg(true);
    c.queue.queue_size = 1000;
    c.queue.batch = Some(QueueBatch {
        flush_timeout: Duration::from_millis(200),
        min_size: 250,
        max_size: 0,
    });
    let e = HelperExporter::new(&settings(&t), c, Arc::new(EncodedSender(peer.clone())));
    e.start(&Host::default()).await.unwrap();
    let reqs: Vec<Traces> = (0..3).map(|i| fake::traces(1 + i, 100 / (1 + i))).collect();
    for r in &reqs {
        e.consume_encoded(encoded(r)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    // One export: the three requests' bytes concatenated, in order, never decoded.
    let got = peer.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(got[0].0, "sent encoded");
    let want: Vec<u8> = reqs.iter().flat_map(|r| r.encode_to_vec()).collect();
    assert_eq!(got[0].1, want);
    let merged = Traces::decode(&got[0].1[..]).unwrap();
    assert_eq!(merged.item_count(), 100 + 100 + 99);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 299);

    // A decoded request meeting encoded ones is encoded into the same export.
    e.consume_encoded(encoded(&reqs[0])).await.unwrap();
    e.consume(reqs[1].clone()).await.unwrap();
    e.consume_encoded(encoded(&reqs[2])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let got = peer.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert!(got[1].0);
    assert_eq!(got[1].1, want);
    e.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn decoded_requests_wait_encoded_for_senders_of_protobuf() {
    let t = Telemetry::default();
    let peer = Arc::new(EncodedPeer::default());
    let e = HelperExporter::new(
        &settings(&t),
        cfg(true),
        Arc::new(EncodedSender(peer.clone())),
    );
    e.start(&Host::default()).await.unwrap();
    let req = fake::traces(2, 50);
    e.consume(req.clone()).await.unwrap();
    // Queued as its encoding: the queue's bytes count what will be sent.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let got = peer.got.lock().unwrap().clone();
    assert_eq!(got, vec![(true, req.encode_to_vec())]);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn senders_of_decoded_data_get_encoded_requests_decoded() {
    let t = Telemetry::default();
    let peer = Arc::new(Peer::default());
    let e = HelperExporter::new(
        &settings(&t),
        cfg(false),
        Arc::new(PeerSender(peer.clone())),
    );
    e.start(&Host::default()).await.unwrap();
    e.consume_encoded(encoded(&fake::traces(2, 7)))
        .await
        .unwrap();
    assert_eq!(peer.received(), 14);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_persistent_queue_stores_encoded_requests_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, host, c) = persistent(tmp.path());
    let t = Telemetry::default();
    let peer = Arc::new(EncodedPeer::default());
    let e = HelperExporter::new(&settings(&t), c, Arc::new(EncodedSender(peer.clone())));
    e.start(&host).await.unwrap();
    let req = fake::traces(2, 5);
    e.consume_encoded(encoded(&req)).await.unwrap();
    for _ in 0..200 {
        if !peer.got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = peer.got.lock().unwrap().clone();
    assert_eq!(got, vec![(true, req.encode_to_vec())]);
    e.shutdown().await.unwrap();
}
