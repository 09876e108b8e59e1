//! End to end through the real `strata` binary on loopback: bad input is answered per the
//! OTLP spec and counted; a down exporter gives clients a retryable error; a two-tier chain
//! delivers exactly what the client sent.

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::otlp::{grpc_raw_traces, grpc_raw_traces_compressed, http_post};
use common::{Strata, eventually, free_port, otlp_receiver, read_lines};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use strata_pipelines::testing::fake;
use strata_pipelines::{Logs, Metrics, SignalData, Traces};
use tonic::codec::CompressionEncoding;

fn file_config(grpc: u16, http: u16, limit_mib: u32) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}", max_recv_msg_size_mib: {limit_mib} }}
      http: {{ endpoint: "127.0.0.1:{http}", max_recv_msg_size_mib: {limit_mib} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    logs: {{ receivers: [otlp], exporters: [file] }}
"#
    )
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_counted_and_the_server_keeps_serving() {
    let (grpc, http) = (free_port(), free_port());
    let s = Strata::start(&file_config(grpc, http, 1), &[grpc, http]);
    let good = fake::traces(1, 3).encode_to_vec();
    let refused = |reason: &str, transport: &str| {
        s.counter(&format!(
            "otelcol_receiver_refused_requests{{receiver=\"otlp\",transport=\"{transport}\",reason=\"{reason}\"}}"
        ))
    };

    // Truncated protobuf.
    let r = http_post(http, "/v1/traces", &[PROTO], &good[..good.len() - 3]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.header("content-type").unwrap().contains("protobuf"));
    assert_eq!(refused("decode", "http"), 1);

    // Invalid JSON: answered with a google.rpc.Status in JSON.
    let r = http_post(http, "/v1/traces", &[JSON], b"{\"resourceSpans\": [");
    assert_eq!(r.status, 400);
    let status: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP/JSON"),
        "{status}"
    );
    assert_eq!(refused("decode", "http"), 2);

    // Over the 1 MiB limit, on the wire and after decompression.
    let big = vec![b'x'; 2 << 20];
    let r = http_post(http, "/v1/logs", &[PROTO], &big);
    assert_eq!(r.status, 413);
    let r = http_post(
        http,
        "/v1/logs",
        &[PROTO, ("Content-Encoding", "gzip")],
        &gzip(&big),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(refused("too_large", "http"), 2);

    // Wrong content type, unknown path, wrong method.
    let r = http_post(
        http,
        "/v1/traces",
        &[("Content-Type", "text/plain")],
        b"hello",
    );
    assert_eq!(r.status, 415);
    assert!(r.text().contains("unsupported content type"));
    assert_eq!(refused("content_type", "http"), 1);
    let r = http_post(http, "/v2/spans", &[PROTO], &good);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("unknown path"));
    assert_eq!(refused("not_found", "http"), 1);

    // gRPC: truncated protobuf and an oversized message.
    let e = grpc_raw_traces(grpc, good[..good.len() - 3].to_vec())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let e = grpc_raw_traces(grpc, vec![0x0a; 2 << 20])
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert_eq!(refused("decode", "grpc"), 1);
    assert_eq!(refused("too_large", "grpc"), 1);

    // Still serving: valid requests over both transports, protobuf, JSON and gzip.
    let r = http_post(
        http,
        "/v1/traces",
        &[PROTO, ("Content-Encoding", "gzip")],
        &gzip(&good),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let json = serde_json::to_vec(&fake::logs(1, 2)).unwrap();
    let r = http_post(http, "/v1/logs", &[JSON], &json);
    assert_eq!(r.status, 200, "{}", r.text());
    grpc_raw_traces(grpc, good.clone()).await.unwrap();
    for c in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        grpc_raw_traces_compressed(grpc, good.clone(), Some(c))
            .await
            .unwrap();
    }
    // A compressed message over the limit once decompressed.
    let e = grpc_raw_traces_compressed(grpc, vec![0x0a; 8 << 20], Some(CompressionEncoding::Gzip))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert_eq!(refused("too_large", "grpc"), 2);
    let accepted = |t: &str| {
        s.counter(&format!(
            "otelcol_receiver_accepted_spans{{receiver=\"otlp\",transport=\"{t}\"}}"
        ))
    };
    assert_eq!(accepted("http"), 3);
    assert_eq!(accepted("grpc"), 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn exporter_down_gives_the_client_a_retryable_error() {
    let (grpc, http, dead) = (free_port(), free_port(), free_port());
    let cfg = format!(
        r#"
{receivers}processors:
  batch: {{ timeout: 50ms }}
exporters:
  otlp:
    endpoint: "127.0.0.1:{dead}"
    tls: {{ insecure: true }}
    timeout: 2s
    # No queue: the client's answer waits for the export (queued mode: tests/reliability.rs).
    sending_queue: {{ enabled: false }}
    retry_on_failure: {{ enabled: false }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [otlp] }}
"#,
        receivers = otlp_receiver(grpc, http)
    );
    let s = Strata::start(&cfg, &[grpc, http]);
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    let e = client.export(fake::traces(1, 5)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    let r = http_post(
        http,
        "/v1/traces",
        &[PROTO],
        &fake::traces(1, 5).encode_to_vec(),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());

    assert_eq!(
        s.counter("otelcol_receiver_refused_spans{receiver=\"otlp\",transport=\"grpc\"}"),
        5
    );
    assert_eq!(
        s.counter("otelcol_exporter_send_failed_spans{exporter=\"otlp\"}"),
        10
    );
    assert_eq!(
        s.counter("otelcol_exporter_sent_spans{exporter=\"otlp\"}"),
        0
    );
}

fn spans_by_id(batches: &[Traces]) -> Vec<(Vec<u8>, Vec<u8>, String)> {
    let mut v: Vec<_> = batches
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (s.span_id.clone(), s.encode_to_vec(), s.name.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tier_chain_delivers_exactly_what_was_sent() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let b = Strata::start(&file_config(b_grpc, b_http, 4), &[b_grpc, b_http]);
    let (a_grpc, a_http) = (free_port(), free_port());
    let a_cfg = format!(
        r#"
{receivers}processors:
  batch: {{ send_batch_size: 500, send_batch_max_size: 700, timeout: 100ms }}
exporters:
  otlp: {{ endpoint: "127.0.0.1:{b_grpc}", tls: {{ insecure: true }} }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [otlp] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [otlp] }}
    logs: {{ receivers: [otlp], processors: [batch], exporters: [otlp] }}
"#,
        receivers = otlp_receiver(a_grpc, a_http)
    );
    let a = Strata::start(&a_cfg, &[a_grpc, a_http]);

    // 10 requests of 2 resources × 60 spans = 1200 spans, sent concurrently.
    let mut sent = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let mut t = fake::traces(2, 60);
        for s in t
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
        {
            s.span_id[0] = i; // unique across requests
        }
        sent.push(t.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{a_grpc}"))
                .await
                .unwrap();
            c.export(t).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let metrics = fake::metrics(2, 3, 4);
    MetricsServiceClient::connect(format!("http://127.0.0.1:{a_grpc}"))
        .await
        .unwrap()
        .export(metrics.clone())
        .await
        .unwrap();
    let logs = fake::logs(3, 7);
    LogsServiceClient::connect(format!("http://127.0.0.1:{a_grpc}"))
        .await
        .unwrap()
        .export(logs.clone())
        .await
        .unwrap();

    // Every export was acknowledged once queued in A; wait for A's queue to reach B.
    let out = b.path("out.jsonl");
    let items = |lines: &[serde_json::Value]| -> usize {
        lines
            .iter()
            .map(|l| {
                if l.get("resourceSpans").is_some() {
                    serde_json::from_value::<Traces>(l.clone())
                        .unwrap()
                        .item_count()
                } else if l.get("resourceMetrics").is_some() {
                    serde_json::from_value::<Metrics>(l.clone())
                        .unwrap()
                        .item_count()
                } else {
                    serde_json::from_value::<Logs>(l.clone())
                        .unwrap()
                        .item_count()
                }
            })
            .sum()
    };
    let want = 1200 + metrics.item_count() + logs.item_count();
    assert!(
        eventually(Duration::from_secs(20), || items(&read_lines(&out)) >= want),
        "B has {} of {want} items",
        items(&read_lines(&out))
    );
    let lines: Vec<serde_json::Value> = read_lines(&out);
    let mut traces = Vec::new();
    let mut got_metrics = Vec::new();
    let mut got_logs = Vec::new();
    for l in lines {
        if l.get("resourceSpans").is_some() {
            traces.push(serde_json::from_value::<Traces>(l).unwrap());
        } else if l.get("resourceMetrics").is_some() {
            got_metrics.push(serde_json::from_value::<Metrics>(l).unwrap());
        } else {
            got_logs.push(serde_json::from_value::<Logs>(l).unwrap());
        }
    }
    let got = spans_by_id(&traces);
    assert_eq!(got.len(), 1200);
    assert_eq!(got, spans_by_id(&sent), "spans differ after two tiers");
    assert!(
        traces.iter().all(|t| t.item_count() <= 700),
        "batches exceed send_batch_max_size"
    );
    let mut merged = Metrics::default();
    got_metrics.into_iter().for_each(|m| merged.append(m));
    assert_eq!(merged, metrics);
    let mut merged = Logs::default();
    got_logs.into_iter().for_each(|l| merged.append(l));
    assert_eq!(merged, logs);
    assert!(eventually(Duration::from_secs(5), || {
        a.counter("otelcol_exporter_sent_spans{exporter=\"otlp\"}") == 1200
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_http_exporter_chain_with_json_zstd_and_json_logs() {
    let (b_grpc, b_http) = (free_port(), free_port());
    let b = Strata::start(&file_config(b_grpc, b_http, 4), &[b_grpc, b_http]);
    let (a_grpc, a_http) = (free_port(), free_port());
    let a_cfg = format!(
        r#"
{receivers}exporters:
  otlp_http/json:
    endpoint: "http://127.0.0.1:{b_http}"
    encoding: json
    compression: zstd
  otlp_http/proto:
    endpoint: "http://127.0.0.1:{b_http}"
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_http/json] }}
    logs: {{ receivers: [otlp], exporters: [otlp_http/proto] }}
  telemetry:
    logs: {{ level: info, encoding: json }}
    metrics: {{ address: "127.0.0.1:{{telemetry}}" }}
"#,
        receivers = otlp_receiver(a_grpc, a_http)
    );
    let a = Strata::start(&a_cfg, &[a_grpc, a_http]);
    // A zstd-compressed protobuf body into A.
    let traces = fake::traces(2, 25);
    let body = zstd::encode_all(&traces.encode_to_vec()[..], 3).unwrap();
    let r = http_post(
        a_http,
        "/v1/traces",
        &[PROTO, ("Content-Encoding", "zstd")],
        &body,
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), a.log());
    let logs = fake::logs(1, 4);
    let r = http_post(a_http, "/v1/logs", &[PROTO], &logs.encode_to_vec());
    assert_eq!(r.status, 200, "{}", r.text());

    // Both were acknowledged once queued in A; the two exporters deliver independently.
    let out = b.path("out.jsonl");
    assert!(eventually(Duration::from_secs(10), || read_lines::<
        serde_json::Value,
    >(&out)
    .len()
        >= 2));
    let mut lines: Vec<serde_json::Value> = read_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    lines.sort_by_key(|l| l.get("resourceSpans").is_none());
    let got: Traces = serde_json::from_value(lines[0].clone()).unwrap();
    assert_eq!(got, traces);
    let got: Logs = serde_json::from_value(lines[1].clone()).unwrap();
    assert_eq!(got, logs);
    assert_eq!(
        b.counter("otelcol_receiver_accepted_spans{receiver=\"otlp\",transport=\"http\"}"),
        50
    );
    // service.telemetry.logs.encoding: json gives one JSON object per log line.
    let log = a.log();
    let first = log.lines().next().expect("no log lines");
    let parsed: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(parsed["level"], "INFO", "{first}");
}
