//! Memory stays bounded under overload and nothing admitted is lost: the real `strata` binary
//! (`otlp → memory_limiter → batch → otlp`) between a fast sender (many concurrent OTLP/gRPC
//! and OTLP/HTTP clients) and a slow sink (an OTLP/gRPC server that takes 300 ms per request). The sender
//! must see retryable refusals (`UNAVAILABLE`, HTTP 503 with `Retry-After`), strata's peak resident set (`VmHWM`) must stay
//! under `limit_mib` plus [`OVERHEAD_MIB`], and every span strata acknowledged must reach the
//! sink. The measured peak is printed and recorded in BENCHMARKS.md; the bound here is
//! deliberately generous (this is a test, not a benchmark).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::otlp::http_post;
use common::{Strata, eventually, free_port};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use strata_pipelines::testing::fake;

/// The configured hard limit above the process's own idle resident set (measured by
/// [`idle_rss_mib`]): the memory_limiter counts the whole RSS, and a debug binary idles at
/// 40–50 MiB, so a fixed limit would leave a headroom the allocator's variance can eat.
const HEADROOM_MIB: u64 = 64;
/// What the test allows above it: the process's own footprint (runtime, buffers, binary)
/// plus the copies outside the budget (raw request bodies being read when the limiter starts
/// refusing, the exporter's encoded request).
const OVERHEAD_MIB: u64 = 96;

/// An OTLP/gRPC sink that answers each request after `delay` and keeps every span id.
#[derive(Clone)]
struct SlowSink {
    delay: Duration,
    ids: Arc<Mutex<HashSet<Vec<u8>>>>,
    duplicates: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl TraceService for SlowSink {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        tokio::time::sleep(self.delay).await;
        let mut ids = self.ids.lock().unwrap();
        for s in req
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
        {
            if !ids.insert(s.span_id) {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// 1,000 spans with 10 attributes of 20-byte values; span ids start at `first`.
fn request(first: u64) -> ExportTraceServiceRequest {
    let mut t = fake::traces(1, 1000);
    for (i, s) in t.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        s.span_id = (first + i as u64).to_be_bytes().to_vec();
        s.attributes = (0..10)
            .map(|k| fake::kv(&format!("attribute.{k}"), &format!("{:020}", first + k)))
            .collect();
    }
    t
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// The resident set of the binary running `cfg` with no memory limit, after it started and
/// served one request, in MiB rounded up.
async fn idle_rss_mib(cfg: &str, grpc: u16, http: u16) -> u64 {
    let unlimited = cfg.replace("limit_mib: {limit_mib}", "limit_mib: 100000");
    let mut s = Strata::start(&unlimited, &[grpc, http]);
    TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap()
        .export(request(1 << 62))
        .await
        .unwrap();
    let kib = status_kib(s.child.id(), "VmRSS:");
    s.interrupt(Duration::from_secs(10));
    kib.div_ceil(1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_refused_retryably_with_bounded_memory_and_nothing_admitted_is_lost() {
    let sink_port = free_port();
    let sink = SlowSink {
        delay: Duration::from_millis(300),
        ids: Arc::default(),
        duplicates: Arc::default(),
    };
    let server = tokio::spawn({
        let sink = sink.clone();
        async move {
            tonic::transport::Server::builder()
                .add_service(
                    TraceServiceServer::new(sink)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .max_decoding_message_size(64 << 20),
                )
                .serve(format!("127.0.0.1:{sink_port}").parse().unwrap())
                .await
                .unwrap();
        }
    });
    let (grpc, http) = (free_port(), free_port());
    let template = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  memory_limiter: {{ check_interval: 100ms, limit_mib: {{limit_mib}}, spike_limit_mib: 16 }}
  batch: {{ send_batch_size: 2000, timeout: 50ms }}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_port}"
    tls: {{ insecure: true }}
    timeout: 60s
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp] }}
"#
    );
    let idle_mib = idle_rss_mib(&template, grpc, http).await;
    // The measuring run drained its span into the sink at its shutdown: forget it.
    sink.ids.lock().unwrap().clear();
    let limit_mib = idle_mib + HEADROOM_MIB;
    let cfg = template.replace("{limit_mib}", &limit_mib.to_string());
    let mut s = Strata::start(&cfg, &[grpc, http]);
    let pid = s.child.id();
    let idle_kib = vm_hwm_kib(pid);

    // 48 senders, each with its own connection, for 6 seconds.
    let accepted = Arc::new(Mutex::new(HashSet::<Vec<u8>>::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let other = Arc::new(Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut senders = Vec::new();
    for w in 0..48u64 {
        let (accepted, refused, other) = (accepted.clone(), refused.clone(), other.clone());
        senders.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
                .await
                .unwrap()
                .max_encoding_message_size(64 << 20);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let req = request((w << 40) | (n * 1000));
                n += 1;
                let ids: Vec<Vec<u8>> = req.resource_spans[0].scope_spans[0]
                    .spans
                    .iter()
                    .map(|s| s.span_id.clone())
                    .collect();
                match client.export(req).await {
                    Ok(r) => {
                        assert!(
                            r.into_inner()
                                .partial_success
                                .is_none_or(|p| p.rejected_spans == 0)
                        );
                        accepted.lock().unwrap().extend(ids);
                    }
                    Err(st) if st.code() == tonic::Code::Unavailable => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(st) => other.lock().unwrap().push(format!("{st:?}")),
                }
            }
        }));
    }
    // And 8 OTLP/HTTP senders (protobuf), refused with 503 at the door under pressure.
    let http_refused = Arc::new(AtomicU64::new(0));
    for w in 48..56u64 {
        let (accepted, http_refused, other) =
            (accepted.clone(), http_refused.clone(), other.clone());
        senders.push(tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let req = request((w << 40) | (n * 1000));
                n += 1;
                let r = http_post(
                    http,
                    "/v1/traces",
                    &[("Content-Type", "application/x-protobuf")],
                    &prost::Message::encode_to_vec(&req),
                );
                match r.status {
                    200 => accepted.lock().unwrap().extend(
                        req.resource_spans[0].scope_spans[0]
                            .spans
                            .iter()
                            .map(|s| s.span_id.clone()),
                    ),
                    503 => {
                        assert!(r.header("Retry-After").is_some());
                        http_refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    other_status => other
                        .lock()
                        .unwrap()
                        .push(format!("http {other_status}: {}", r.text())),
                }
            }
        }));
    }
    for t in senders {
        t.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let refused = refused.load(Ordering::Relaxed);
    assert!(
        other.lock().unwrap().is_empty(),
        "unexpected errors: {:?}",
        other.lock().unwrap()
    );
    assert!(refused > 0, "the overload was never refused");
    assert!(!accepted.is_empty(), "nothing was accepted");

    // Every acknowledged span reached the sink, once.
    let ids = sink.ids.clone();
    let want = accepted.len();
    assert!(
        eventually(Duration::from_secs(30), || ids.lock().unwrap().len()
            >= want),
        "sink has {} of {want} acknowledged spans",
        ids.lock().unwrap().len()
    );
    let got = sink.ids.lock().unwrap().clone();
    assert!(
        accepted.is_subset(&got),
        "acknowledged spans missing at the sink"
    );
    assert_eq!(sink.duplicates.load(Ordering::Relaxed), 0);

    let peak_kib = vm_hwm_kib(pid);
    let metrics = s.self_metrics();
    let refused_at_door = s.counter(r#"otelcol_receiver_refused_requests{receiver="otlp",transport="grpc",reason="memory_limit"}"#);
    let http_at_door = s.counter(r#"otelcol_receiver_refused_requests{receiver="otlp",transport="http",reason="memory_limit"}"#);
    let http_refused = http_refused.load(Ordering::Relaxed);
    assert!(http_refused > 0, "no HTTP sender was refused");
    assert!(http_at_door > 0 && http_at_door <= http_refused);
    println!(
        "memory_limit: limit_mib {limit_mib} (idle {idle_mib} + {HEADROOM_MIB}), peak RSS (VmHWM) {:.1} MiB, idle {:.1} MiB; {} spans acknowledged and delivered, {refused} gRPC requests refused ({refused_at_door} before their body was read), {http_refused} HTTP requests refused ({http_at_door} at the door)",
        peak_kib as f64 / 1024.0,
        idle_kib as f64 / 1024.0,
        accepted.len(),
    );
    assert!(
        peak_kib < (limit_mib + OVERHEAD_MIB) * 1024,
        "peak RSS {peak_kib} KiB over {limit_mib} + {OVERHEAD_MIB} MiB\n{metrics}"
    );
    s.interrupt(Duration::from_secs(10));
    server.abort();
}
