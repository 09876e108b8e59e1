//! The sender learns what the pipeline dropped: the real `strata` binary with
//! `otlp → filter → batch → file`, answered over OTLP/gRPC and OTLP/HTTP (protobuf and JSON)
//! with the partial success the OTLP spec defines.

mod common;

use std::time::Duration;

use common::otlp::http_post;
use common::{Strata, eventually, free_port, otlp_receiver, read_lines};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use strata_pipelines::testing::fake;
use strata_pipelines::{Logs, Metrics, SignalData, Traces};

fn config(grpc: u16, http: u16, grpc2: u16) -> String {
    format!(
        r#"
{}
processors:
  filter:
    traces:
      span: ['IsMatch(name, "^span-[12]$")']
    metrics:
      datapoint: ['attributes["point"] == "0"']
    logs:
      log_record: ['IsMatch(body, "/0$")']
  batch: {{ timeout: 10ms }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [filter, batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [filter, batch], exporters: [file] }}
    logs: {{ receivers: [otlp], processors: [filter, batch], exporters: [file] }}
    traces/unfiltered: {{ receivers: [otlp/unfiltered], exporters: [file] }}
"#,
        otlp_receiver(grpc, http)
            + &format!(
                "\n  otlp/unfiltered:\n    protocols:\n      grpc: {{ endpoint: \"127.0.0.1:{grpc2}\" }}\n"
            )
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_items_come_back_as_partial_success() {
    let (grpc, http, grpc2) = (free_port(), free_port(), free_port());
    let s = Strata::start(&config(grpc, http, grpc2), &[grpc, http, grpc2]);
    let url = format!("http://127.0.0.1:{grpc}");

    // gRPC traces: spans span-1..span-5; span-1 and span-2 match.
    let r = TraceServiceClient::connect(url.clone())
        .await
        .unwrap()
        .export(fake::traces(1, 5))
        .await
        .unwrap()
        .into_inner();
    let p = r.partial_success.expect("partial success");
    assert_eq!(p.rejected_spans, 2);
    assert_eq!(p.error_message, "2 spans dropped by processor filter");

    // gRPC metrics: 2 gauges × 3 points; the point "0" of each matches.
    let r = MetricsServiceClient::connect(url.clone())
        .await
        .unwrap()
        .export(fake::metrics(1, 2, 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.partial_success.unwrap().rejected_data_points, 2);

    // gRPC logs: bodies "log 0/0".."log 0/3" and "log 1/0".."log 1/3"; the "/0" ones match.
    let r = LogsServiceClient::connect(url.clone())
        .await
        .unwrap()
        .export(fake::logs(2, 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.partial_success.unwrap().rejected_log_records, 2);

    // Nothing dropped: no partial_success field at all (OTLP spec: "full success").
    let mut none = fake::traces(1, 5);
    none.resource_spans[0].scope_spans[0].spans.drain(..2);
    let r = TraceServiceClient::connect(url.clone())
        .await
        .unwrap()
        .export(none)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.partial_success, None);

    // HTTP protobuf.
    let body = fake::traces(1, 3).encode_to_vec();
    let r = http_post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(r.status, 200);
    let resp = ExportTraceServiceResponse::decode(&r.body[..]).unwrap();
    assert_eq!(resp.partial_success.unwrap().rejected_spans, 2);

    // HTTP JSON: int64 as a string, lowerCamelCase field names.
    let body = serde_json::to_vec(&fake::traces(1, 3)).unwrap();
    let r = http_post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "2", "{v}");
    assert_eq!(
        v["partialSuccess"]["errorMessage"],
        "2 spans dropped by processor filter"
    );

    // A receiver whose pipeline has no filter: full success for the same data.
    let r = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc2}"))
        .await
        .unwrap()
        .export(fake::traces(1, 5))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.partial_success, None);

    // What reached the file: exactly the kept items.
    let out = s.path("out.jsonl");
    // spans: 3 + 3 + 1 + 1 kept + 5 unfiltered; points: 4; logs: 6.
    let want = (3 + 3 + 1 + 1 + 5) + 4 + 6;
    assert!(
        eventually(Duration::from_secs(10), || {
            let lines: Vec<serde_json::Value> = read_lines(&out);
            let count: usize = lines.iter().map(count_items).sum();
            count == want
        }),
        "file has {:?}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );
    let lines: Vec<serde_json::Value> = read_lines(&out);
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains("\"log 0/0\"") && !text.contains("\"log 1/0\""));
    assert_eq!(
        s.counter("otelcol_processor_incoming_items{processor=\"filter\",otel_signal=\"traces\"}"),
        5 + 3 + 3 + 3
    );
    assert_eq!(
        s.counter("otelcol_processor_outgoing_items{processor=\"filter\",otel_signal=\"traces\"}"),
        3 + 3 + 1 + 1
    );
}

/// Items in one line of the file exporter's output, whatever its signal.
fn count_items(v: &serde_json::Value) -> usize {
    if v.get("resourceSpans").is_some() {
        serde_json::from_value::<Traces>(v.clone())
            .unwrap()
            .item_count()
    } else if v.get("resourceMetrics").is_some() {
        serde_json::from_value::<Metrics>(v.clone())
            .unwrap()
            .item_count()
    } else {
        serde_json::from_value::<Logs>(v.clone())
            .unwrap()
            .item_count()
    }
}
