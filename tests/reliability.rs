//! Exporter reliability, end to end with real processes on loopback: a sender (tonic client)
//! → `strata` A (the tier under test, with a sending queue) → a sink. The sink is a second
//! `strata` (B: OTLP receiver → `file` exporter), or an in-test OTLP/HTTP server where the test
//! needs to script answers (503 with `Retry-After`, 400, slow responses).
//!
//! Every span carries a unique id (its number), so a test can say which acknowledged spans
//! arrived, which are missing (none may be) and which came twice (counted and printed:
//! at-least-once delivery allows duplicates after a crash or an outage, never loss).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Strata, eventually, free_port, otlp_receiver, read_lines, signal};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use strata_pipelines::Traces;

/// One request of `n` spans numbered `first..first + n` (span id = the number, big-endian).
fn numbered(first: u64, n: u64) -> Traces {
    let spans = (first..first + n)
        .map(|i| Span {
            trace_id: [i.to_be_bytes(), (i / 100).to_be_bytes()].concat(),
            span_id: i.to_be_bytes().to_vec(),
            name: format!("op-{i}"),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_100_000 + i,
            attributes: vec![KeyValue {
                key: "http.route".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("/api/v1/volumes".into())),
                }),
                key_strindex: 0,
            }],
            ..Default::default()
        })
        .collect();
    Traces {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("reliability".into())),
                    }),
                    key_strindex: 0,
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn span_numbers(t: &Traces) -> impl Iterator<Item = u64> + '_ {
    t.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| u64::from_be_bytes(s.span_id[..8].try_into().unwrap()))
}

/// The sink: OTLP in, one OTLP/JSON line per request out, acknowledged after the write.
fn sink_config(grpc: u16, http: u16) -> String {
    format!(
        r#"
{receivers}exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#,
        receivers = otlp_receiver(grpc, http)
    )
}

/// Span number → how many times the sink wrote it.
fn received(sink: &Strata) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for t in read_lines::<Traces>(&sink.path("out.jsonl")) {
        for n in span_numbers(&t) {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

fn sink_count(sink: &Strata) -> u64 {
    sink.counter("otelcol_exporter_sent_spans{exporter=\"file\"}")
}

/// Checks that every acknowledged span reached the sink; returns and prints the duplicates.
fn assert_all_delivered(acked: &BTreeSet<u64>, sink: &Strata, what: &str) -> usize {
    let seen = received(sink);
    let missing: Vec<_> = acked.iter().filter(|n| !seen.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} acknowledged spans never arrived (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let dups: usize = seen.values().map(|c| c - 1).sum();
    eprintln!(
        "{what}: {} spans acknowledged, {} distinct received, {dups} duplicates",
        acked.len(),
        seen.len()
    );
    dups
}

/// A client that sends requests one after the other, retrying each until it is acknowledged
/// (as an OTLP SDK does with retryable errors), and records what was acknowledged.
#[derive(Clone, Default)]
struct Sender {
    acked: Arc<Mutex<BTreeSet<u64>>>,
    refusals: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Sender {
    /// Sends requests `range` (request `i` carries spans `i*per..(i+1)*per`) to `port`, paced by
    /// `gap`, each retried until acknowledged.
    async fn run(&self, port: u16, range: std::ops::Range<u64>, per: u64, gap: Duration) {
        for i in range {
            let req = numbered(i * per, per);
            loop {
                if self.send_once(port, req.clone()).await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(gap).await;
        }
    }

    /// One attempt; true when acknowledged.
    async fn send_once(&self, port: u16, req: Traces) -> bool {
        let nums: Vec<u64> = span_numbers(&req).collect();
        let result = match TraceServiceClient::connect(format!("http://127.0.0.1:{port}")).await {
            Ok(mut c) => c.export(req).await.map(|_| ()),
            Err(e) => Err(tonic::Status::unavailable(e.to_string())),
        };
        match result {
            Ok(()) => {
                self.acked.lock().unwrap().extend(nums);
                true
            }
            Err(s) => {
                *self
                    .refusals
                    .lock()
                    .unwrap()
                    .entry(format!("{:?}", s.code()))
                    .or_insert(0) += 1;
                false
            }
        }
    }

    fn acked(&self) -> BTreeSet<u64> {
        self.acked.lock().unwrap().clone()
    }
}

/// Tier A: OTLP in, `otlp` exporter to `sink_grpc` with a persistent queue in `{dir}/queue`.
fn persistent_tier(grpc: u16, http: u16, sink_grpc: u16, storage: &str) -> String {
    format!(
        r#"
{receivers}extensions:
  file_storage/queue:
    directory: "{{dir}}/queue"
    {storage}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_grpc}"
    tls: {{ insecure: true }}
    timeout: 2s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0s }}
    sending_queue: {{ storage: file_storage/queue, num_consumers: 4 }}
service:
  extensions: [file_storage/queue]
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp] }}
"#,
        receivers = otlp_receiver(grpc, http)
    )
}

/// Scenario 1: the sink is down for 20 s while 100k spans are sent; every acknowledged span
/// reaches it once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downstream_outage_loses_nothing_acknowledged() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let mut b = Strata::start(&sink_config(b_grpc, b_http), &[b_grpc, b_http]);
    let (a_grpc, a_http) = (free_port(), free_port());
    let a = Strata::start(
        &persistent_tier(a_grpc, a_http, b_grpc, "fsync: interval"),
        &[a_grpc, a_http],
    );
    let sender = Sender::default();
    let mut tasks = Vec::new();
    // 4 senders x 250 requests x 100 spans, paced over about 20 s.
    for k in 0..4u64 {
        let s = sender.clone();
        tasks.push(tokio::spawn(async move {
            s.run(
                a_grpc,
                k * 250..(k + 1) * 250,
                100,
                Duration::from_millis(75),
            )
            .await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Stopped, not crashed: a SIGKILL could tear the sink's own output file mid-line.
    assert!(b.interrupt(Duration::from_secs(30)).success());
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let during = sender.acked().len();
    b.restart(&[b_grpc, b_http]);
    eprintln!(
        "sink down {:?}; {during} spans acknowledged meanwhile",
        down.elapsed()
    );
    assert!(
        during > 50_000,
        "A kept acknowledging during the outage: {during}"
    );
    for t in tasks {
        t.await.unwrap();
    }
    let acked = sender.acked();
    assert_eq!(acked.len(), 100_000);
    // The sink's counters restart with it; its file holds both runs. Poll the file.
    let deadline = Instant::now() + Duration::from_secs(90);
    while received(&b).len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for l in a
        .log()
        .lines()
        .filter(|l| l.contains("permanently") || l.contains("ERROR"))
    {
        eprintln!("A: {l}");
    }
    assert_all_delivered(&acked, &b, "outage");
    assert!(a.counter("otelcol_exporter_send_retries{exporter=\"otlp\",data_type=\"traces\"}") > 0);
}

/// Scenario 2: A is killed with SIGKILL mid-stream (the sink is down, so A holds everything it
/// acknowledged) and restarted; every span it acknowledged reaches the sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_loses_nothing_acknowledged() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let (a_grpc, a_http) = (free_port(), free_port());
    let mut a = Strata::start(
        &persistent_tier(a_grpc, a_http, b_grpc, "fsync: never"),
        &[a_grpc, a_http],
    );
    let sender = Sender::default();
    let task = {
        let s = sender.clone();
        tokio::spawn(async move {
            s.run(a_grpc, 0..200, 100, Duration::from_millis(10)).await;
        })
    };
    assert!(eventually(Duration::from_secs(30), || sender.acked().len() >= 8_000));
    a.kill();
    let at_crash = sender.acked().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.restart(&[a_grpc, a_http]);
    task.await.unwrap();
    let acked = sender.acked();
    assert_eq!(acked.len(), 20_000);
    eprintln!("{at_crash} spans acknowledged before the SIGKILL");
    assert!(
        a.counter("otelcol_exporter_queue_recovered_spans{exporter=\"otlp\"}") >= at_crash as u64
    );
    let b = Strata::start(&sink_config(b_grpc, b_http), &[b_grpc, b_http]);
    // Wait for every acknowledged span, not for 20,000 written: after a SIGKILL some arrive
    // twice, so the count can reach 20,000 while a request still being retried is missing.
    assert!(
        eventually(Duration::from_secs(60), || received(&b).len()
            >= acked.len()),
        "sink has {} distinct of {} ({} written)\nA:\n{}",
        received(&b).len(),
        acked.len(),
        sink_count(&b),
        a.log()
    );
    assert_all_delivered(&acked, &b, "crash");
}

/// Scenario 3: the persistent queue's disk bound is reached: senders get retryable refusals,
/// disk use stays under the bound, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_refuses_retryably_and_stays_bounded() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let (a_grpc, a_http) = (free_port(), free_port());
    let max = 64 * 1024u64;
    let a = Strata::start(
        &persistent_tier(
            a_grpc,
            a_http,
            b_grpc,
            "fsync: always\n    max_size: 64KiB\n    segment_size: 16KiB",
        ),
        &[a_grpc, a_http],
    );
    let sender = Sender::default();
    let mut refused = Vec::new();
    let mut codes = BTreeSet::new();
    for i in 0..40u64 {
        let req = numbered(i * 100, 100);
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{a_grpc}"))
            .await
            .unwrap();
        match c.export(req.clone()).await {
            Ok(_) => {
                sender.acked.lock().unwrap().extend(span_numbers(&req));
            }
            Err(s) => {
                codes.insert(format!("{:?}", s.code()));
                assert!(s.message().contains("full"), "{s:?}");
                refused.push(i);
            }
        }
        let on_disk: u64 = walk_logs(&a.path("queue"));
        assert!(on_disk <= max, "{on_disk} bytes on disk > {max}");
    }
    assert!(!refused.is_empty(), "the queue never filled");
    assert!(!sender.acked().is_empty());
    assert_eq!(codes, BTreeSet::from(["Unavailable".to_string()]));
    assert_eq!(
        a.counter("otelcol_exporter_enqueue_failed_spans{exporter=\"otlp\"}"),
        refused.len() as u64 * 100
    );
    // The sink comes up: the queue drains, and the refused requests go through on retry.
    let b = Strata::start(&sink_config(b_grpc, b_http), &[b_grpc, b_http]);
    for i in refused {
        sender
            .run(a_grpc, i..i + 1, 100, Duration::from_millis(0))
            .await;
    }
    let acked = sender.acked();
    assert_eq!(acked.len(), 4000);
    assert!(
        eventually(Duration::from_secs(30), || sink_count(&b) >= 4000),
        "sink has {}",
        sink_count(&b)
    );
    assert_all_delivered(&acked, &b, "queue full");
}

/// Bytes of segment files under `dir`.
fn walk_logs(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_logs(&p)
            } else if p.extension().is_some_and(|x| x == "log") {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            } else {
                0
            }
        })
        .sum()
}

/// An OTLP/HTTP peer whose answers follow a script; it records each request's arrival time
/// and span count.
/// HTTP status and `Retry-After` value of one scripted answer.
type Answer = (u16, Option<&'static str>);

#[derive(Clone, Default)]
struct ScriptedPeer {
    script: Arc<Mutex<Vec<Answer>>>,
    seen: Arc<Mutex<Vec<(Instant, usize)>>>,
    delay: Duration,
}

impl ScriptedPeer {
    async fn serve(self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: bytes::Bytes| {
                let me = self.clone();
                async move {
                    tokio::time::sleep(me.delay).await;
                    let n = Traces::decode(&body[..]).map(|t| span_numbers(&t).count());
                    me.seen
                        .lock()
                        .unwrap()
                        .push((Instant::now(), n.unwrap_or(0)));
                    let (status, retry_after) = {
                        let mut s = me.script.lock().unwrap();
                        if s.is_empty() {
                            (200, None)
                        } else {
                            s.remove(0)
                        }
                    };
                    let mut resp = axum::response::Response::builder()
                        .status(status)
                        .header("content-type", "application/x-protobuf");
                    if let Some(ra) = retry_after {
                        resp = resp.header("retry-after", ra);
                    }
                    resp.body(axum::body::Body::empty()).unwrap()
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        port
    }

    fn seen(&self) -> Vec<(Instant, usize)> {
        self.seen.lock().unwrap().clone()
    }
}

fn http_tier(grpc: u16, http: u16, peer: u16, extra: &str) -> String {
    format!(
        r#"
{receivers}exporters:
  otlp_http:
    endpoint: "http://127.0.0.1:{peer}"
    compression: none
    retry_on_failure: {{ initial_interval: 100ms, randomization_factor: 0, max_interval: 1s }}
    {extra}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_http] }}
"#,
        receivers = otlp_receiver(grpc, http)
    )
}

/// Scenario 4: 503 with `Retry-After: 2` delays the next attempt by at least 2 s; 400 is
/// dropped, counted and not retried.
#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured_and_bad_requests_are_not_retried() {
    let peer = ScriptedPeer {
        script: Arc::new(Mutex::new(vec![(503, Some("2")), (200, None), (400, None)])),
        ..ScriptedPeer::default()
    };
    let port = peer.clone().serve().await;
    let (a_grpc, a_http) = (free_port(), free_port());
    let a = Strata::start(&http_tier(a_grpc, a_http, port, ""), &[a_grpc, a_http]);
    let sender = Sender::default();
    assert!(sender.send_once(a_grpc, numbered(0, 10)).await);
    assert!(eventually(Duration::from_secs(10), || peer.seen().len() >= 2));
    let seen = peer.seen();
    let gap = seen[1].0 - seen[0].0;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert_eq!(seen[1].1, 10);
    // The peer records a request before it answers; the exporter counts it once the answer
    // arrives, so the counter is read when it has caught up (it must reach exactly 10).
    let sent = || a.counter("otelcol_exporter_sent_spans{exporter=\"otlp_http\"}");
    eventually(Duration::from_secs(5), || sent() >= 10);
    assert_eq!(sent(), 10);

    assert!(sender.send_once(a_grpc, numbered(10, 7)).await);
    assert!(eventually(Duration::from_secs(5), || a.counter(
        "otelcol_exporter_send_failed_spans{exporter=\"otlp_http\"}"
    ) == 7));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(peer.seen().len(), 3, "a 400 was retried");
    assert!(a.log().contains("HTTP 400"), "{}", a.log());
}

/// Scenario 5: SIGTERM with requests in the in-memory queue and a live (slow) downstream:
/// everything is delivered before the process exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_the_in_memory_queue() {
    let peer = ScriptedPeer {
        delay: Duration::from_millis(250),
        ..ScriptedPeer::default()
    };
    let port = peer.clone().serve().await;
    let (a_grpc, a_http) = (free_port(), free_port());
    let mut a = Strata::start(
        &http_tier(a_grpc, a_http, port, "sending_queue: { num_consumers: 1 }"),
        &[a_grpc, a_http],
    );
    let sender = Sender::default();
    for i in 0..12 {
        assert!(sender.send_once(a_grpc, numbered(i * 50, 50)).await);
    }
    let queued =
        a.counter("otelcol_exporter_queue_size{exporter=\"otlp_http\",data_type=\"traces\"}");
    assert!(queued >= 5, "only {queued} requests queued");
    signal(&a.child, "TERM");
    let status = loop {
        if let Some(s) = a.child.try_wait().unwrap() {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}\n{}", a.log());
    let delivered: usize = peer.seen().iter().map(|(_, n)| n).sum();
    assert_eq!(delivered, 600, "{}", a.log());
}

fn memory_tier(grpc: u16, http: u16, sink_grpc: u16) -> String {
    format!(
        r#"
{receivers}exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_grpc}"
    tls: {{ insecure: true }}
    timeout: 1s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp] }}
"#,
        receivers = otlp_receiver(grpc, http)
    )
}

/// Scenario 6: SIGHUP with a new exporter endpoint moves the queued data there; an invalid
/// config is refused and the running one keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sighup_switches_endpoint_without_losing_queued_data() {
    let dead = free_port();
    let (a_grpc, a_http) = (free_port(), free_port());
    let a = Strata::start(&memory_tier(a_grpc, a_http, dead), &[a_grpc, a_http]);
    let sender = Sender::default();
    sender
        .run(a_grpc, 0..20, 100, Duration::from_millis(0))
        .await;
    assert!(a.counter("otelcol_exporter_send_retries{exporter=\"otlp\",data_type=\"traces\"}") > 0);
    let (b_grpc, b_http) = (free_port(), free_port());
    let b = Strata::start(&sink_config(b_grpc, b_http), &[b_grpc, b_http]);
    a.rewrite_config(&memory_tier(a_grpc, a_http, b_grpc));
    signal(&a.child, "HUP");
    assert!(
        eventually(Duration::from_secs(20), || sink_count(&b) >= 2000),
        "sink has {}\nA:\n{}",
        sink_count(&b),
        a.log()
    );
    let dups = assert_all_delivered(&sender.acked(), &b, "reload");
    assert_eq!(dups, 0);

    // An invalid config: refused, logged, and the running graph keeps delivering.
    a.rewrite_config(&memory_tier(a_grpc, a_http, b_grpc).replace("timeout: 1s", "timeout: soon"));
    signal(&a.child, "HUP");
    assert!(eventually(Duration::from_secs(10), || a
        .log()
        .contains("reload refused")));
    sender
        .run(a_grpc, 20..25, 100, Duration::from_millis(0))
        .await;
    assert!(eventually(Duration::from_secs(10), || sink_count(&b) >= 2500));
    assert_all_delivered(&sender.acked(), &b, "after refused reload");
}

/// Scenario 7: the tail of a queue segment is corrupted while A is stopped; at start A
/// truncates it, counts it, and delivers the records before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_segment_tail_is_truncated_and_the_rest_delivered() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let (a_grpc, a_http) = (free_port(), free_port());
    let mut a = Strata::start(
        &persistent_tier(a_grpc, a_http, b_grpc, "fsync: always"),
        &[a_grpc, a_http],
    );
    let sender = Sender::default();
    sender
        .run(a_grpc, 0..5, 100, Duration::from_millis(0))
        .await;
    signal(&a.child, "TERM");
    while a.child_alive() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = a.path("queue").join("otlp_traces");
    let mut segs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segs.sort();
    let last = segs.last().expect("a segment on disk");
    let mut bytes = std::fs::read(last).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x5a; // inside the last record's payload
    std::fs::write(last, &bytes).unwrap();

    let b = Strata::start(&sink_config(b_grpc, b_http), &[b_grpc, b_http]);
    a.restart(&[a_grpc, a_http]);
    assert!(
        eventually(Duration::from_secs(20), || sink_count(&b) >= 400),
        "sink has {}\nA:\n{}",
        sink_count(&b),
        a.log()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = received(&b);
    let want: BTreeSet<u64> = (0..400).collect();
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), want);
    assert!(
        a.counter("otelcol_exporter_queue_truncated_bytes{exporter=\"otlp\",data_type=\"traces\"}")
            > 0
    );
    assert!(a.log().contains("torn or corrupt tail"), "{}", a.log());
}

/// Scenario 8: a full in-memory sending queue that does not block refuses at the door, before
/// the request's body is read: gRPC `UNAVAILABLE` and HTTP 503 saying the queue is full,
/// counted in `otelcol_receiver_refused_requests{reason="queue_full"}` (not as failed
/// enqueues, since nothing was offered). Once the peer is up, the queue drains and the refused
/// requests go through on retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_memory_queue_refuses_at_the_door() {
    let dead = free_port();
    let (a_grpc, a_http) = (free_port(), free_port());
    let cfg = memory_tier(a_grpc, a_http, dead).replace(
        "    timeout: 1s\n",
        "    timeout: 1s\n    sending_queue: { queue_size: 2, num_consumers: 1 }\n",
    );
    let a = Strata::start(&cfg, &[a_grpc, a_http]);
    let sender = Sender::default();
    // One request is taken by the consumer (retrying against the dead peer), two fill the
    // queue; from then on every request is refused.
    let mut refused = Vec::new();
    for i in 0..6u64 {
        if !sender.send_once(a_grpc, numbered(i * 100, 100)).await {
            refused.push(i);
        }
    }
    assert!(refused.len() >= 3, "refused {refused:?}\n{}", a.log());
    assert_eq!(
        *sender.refusals.lock().unwrap(),
        BTreeMap::from([("Unavailable".to_string(), refused.len())])
    );
    let grpc_door = r#"otelcol_receiver_refused_requests{receiver="otlp",transport="grpc",reason="queue_full"}"#;
    assert_eq!(a.counter(grpc_door), refused.len() as u64);
    assert_eq!(
        a.counter(r#"otelcol_exporter_enqueue_failed_spans{exporter="otlp",data_type="traces"}"#),
        0
    );

    // OTLP/HTTP gets 503 with a google.rpc.Status naming the full queue.
    let body = numbered(1_000_000, 100).encode_to_vec();
    let r = common::otlp::http_post(
        a_http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        String::from_utf8_lossy(&r.body).contains("sending queue is full"),
        "{r:?}"
    );
    assert_eq!(
        a.counter(r#"otelcol_receiver_refused_requests{receiver="otlp",transport="http",reason="queue_full"}"#),
        1
    );

    // The peer comes up: what was acknowledged arrives, and the refused requests go through.
    let b_http = free_port();
    let b = Strata::start(&sink_config(dead, b_http), &[dead, b_http]);
    for i in refused {
        sender
            .run(a_grpc, i..i + 1, 100, Duration::from_millis(0))
            .await;
    }
    assert_eq!(sender.acked().len(), 600);
    assert!(
        eventually(Duration::from_secs(30), || sink_count(&b) >= 600),
        "sink has {}",
        sink_count(&b)
    );
    assert_all_delivered(&sender.acked(), &b, "door refusals");
}

/// Scenario: a second SIGTERM during a drain that cannot finish (the peer is down). The process
/// stops at once and says, per exporter, what it held: the in-memory queue's data is lost (and
/// logged as such), the persistent queue's stays on disk and is delivered after the restart —
/// nothing acknowledged through the persistent queue is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_sigterm_stops_the_drain_and_the_persistent_queue_keeps_its_data() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let (a_grpc, a_http) = (free_port(), free_port());
    let cfg = format!(
        r#"
{receivers}extensions:
  file_storage/queue: {{ directory: "{{dir}}/queue" }}
exporters:
  otlp/memory:
    endpoint: "127.0.0.1:{b_grpc}"
    tls: {{ insecure: true }}
    timeout: 1s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s }}
  otlp/disk:
    endpoint: "127.0.0.1:{b_grpc}"
    tls: {{ insecure: true }}
    timeout: 1s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s }}
    sending_queue: {{ storage: file_storage/queue }}
service:
  extensions: [file_storage/queue]
  shutdown_timeout: 60s
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp/memory, otlp/disk] }}
"#,
        receivers = otlp_receiver(a_grpc, a_http)
    );
    let mut a = Strata::start(&cfg, &[a_grpc, a_http]);
    let sender = Sender::default();
    for i in 0..10 {
        assert!(sender.send_once(a_grpc, numbered(i * 100, 100)).await);
    }
    signal(&a.child, "TERM");
    // The in-memory queue cannot drain: the process is still there after a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(a.child_alive(), "{}", a.log());
    let t = Instant::now();
    signal(&a.child, "TERM");
    let status = loop {
        if let Some(s) = a.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "still running after a second SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success());
    let log = a.log();
    let line = |exporter: &str| {
        log.lines()
            .find(|l| l.contains("stopping now") && l.contains(&format!("exporter={exporter}")))
            .unwrap_or_else(|| panic!("no stopping-now line for {exporter}:\n{log}"))
            .to_owned()
    };
    assert!(line("otlp/memory").contains("data is lost"), "{log}");
    assert!(
        line("otlp/disk").contains("keeps this data on disk"),
        "{log}"
    );

    // Restarted with the peer up: the persistent queue delivers every acknowledged span.
    let b = Strata::start(&sink_config(b_grpc, b_http), &[b_grpc, b_http]);
    a.restart(&[a_grpc, a_http]);
    let acked = sender.acked();
    assert!(
        eventually(Duration::from_secs(30), || received(&b).len()
            >= acked.len()),
        "sink has {} of {}\n{}",
        received(&b).len(),
        acked.len(),
        a.log()
    );
    assert_all_delivered(&acked, &b, "second sigterm");
}
