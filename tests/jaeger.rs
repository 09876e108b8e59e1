//! The shipped `configs/cluster.yaml` against Jaeger's expectations of OTLP: Jaeger's collector
//! accepts OTLP natively, and needs every span's resource to name its service, every span kind
//! kept (it becomes Jaeger's `span.kind`) and the status kept (ERROR becomes `error=true`).
//! Jaeger itself cannot run here, so the `otlp/jaeger` exporter of the real profile sends to a
//! second `strata` acting as the OTLP endpoint, which records exactly what arrived. Traces come
//! in over OTLP and as Zipkin JSON; a metric sent to the profile shows up on its Prometheus
//! endpoint.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::otlp::http_post;
use common::{Strata, eventually, free_port, read_lines, try_http_get};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::SpanKind, status::StatusCode,
};
use prost::Message;
use serde_json::json;

fn service(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(V::StringValue(name.into())),
            }),
            ..KeyValue::default()
        }],
        ..Resource::default()
    })
}

/// Five spans, one of each kind; the CLIENT one failed.
fn spans() -> ExportTraceServiceRequest {
    let kinds = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    let spans = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let n = u8::try_from(i).unwrap() + 1;
            Span {
                trace_id: vec![0xa0 + n; 16],
                span_id: vec![n; 8],
                name: format!("nvmf-{}", kind.as_str_name()),
                kind: *kind as i32,
                start_time_unix_nano: 1_750_000_000_000_000_000,
                end_time_unix_nano: 1_750_000_000_002_000_000,
                status: Some(if *kind == SpanKind::Client {
                    Status {
                        code: StatusCode::Error as i32,
                        message: "connect refused".into(),
                    }
                } else {
                    Status {
                        code: StatusCode::Ok as i32,
                        message: String::new(),
                    }
                }),
                ..Span::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: service("nvmf-gateway"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn cluster_profile_sends_jaeger_ready_otlp() {
    // The stand-in for Jaeger's OTLP/gRPC endpoint.
    let jaeger_port = free_port();
    let jaeger = Strata::start(
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{jaeger_port}" }} }} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
"#
        ),
        &[jaeger_port],
    );
    let profile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/cluster.yaml"))
            .unwrap()
            .replace(
                "${env:STRATA_TELEMETRY_ADDRESS:-0.0.0.0:8888}",
                "127.0.0.1:{telemetry}",
            );
    let (grpc, http, zipkin, prom) = (free_port(), free_port(), free_port(), free_port());
    let jaeger_ep = format!("127.0.0.1:{jaeger_port}");
    let endpoints = [grpc, http, zipkin, prom].map(|p| format!("127.0.0.1:{p}"));
    let cluster = Strata::start_with_env(
        &profile,
        &[grpc, http, zipkin, prom],
        &[
            ("STRATA_OTLP_GRPC_ENDPOINT", endpoints[0].as_str()),
            ("STRATA_OTLP_HTTP_ENDPOINT", endpoints[1].as_str()),
            ("STRATA_ZIPKIN_ENDPOINT", endpoints[2].as_str()),
            ("STRATA_PROMETHEUS_ENDPOINT", endpoints[3].as_str()),
            ("STRATA_JAEGER_ENDPOINT", jaeger_ep.as_str()),
            ("STRATA_BACKEND", jaeger_ep.as_str()),
        ],
    );

    // From a node aggregator, over OTLP/HTTP.
    let r = http_post(
        http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        &spans().encode_to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // From a legacy Zipkin-instrumented service: a local span (no kind) and a failed server span.
    let legacy = json!([
        {"traceId": "00000000000000000000000000abcdef", "id": "00000000000000e1", "name": "scan",
         "timestamp": 1_750_000_000_000_000u64, "duration": 5, "localEndpoint": {"serviceName": "legacy-agent"}},
        {"traceId": "abcdef0123456789", "id": "00000000000000e2", "name": "get /health", "kind": "SERVER",
         "timestamp": 1_750_000_000_000_000u64, "duration": 7, "localEndpoint": {"serviceName": "legacy-agent"},
         "tags": {"error": "backend down", "http.status_code": "503"}}
    ]);
    let r = http_post(
        zipkin,
        "/api/v2/spans",
        &[("content-type", "application/json")],
        &serde_json::to_vec(&legacy).unwrap(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    // A metric, for the profile's Prometheus endpoint.
    let metric = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: service("nvmf-gateway"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "nvmf.connections".into(),
                    unit: "{connection}".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            value: Some(number_data_point::Value::AsInt(12)),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            schema_url: String::new(),
        }],
    };
    let r = http_post(
        http,
        "/v1/metrics",
        &[("content-type", "application/x-protobuf")],
        &metric.encode_to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // At the Jaeger endpoint: every span once, each resource naming its service, kinds and
    // statuses as sent.
    let arrived = || -> Vec<(String, Span)> {
        read_lines::<ExportTraceServiceRequest>(&jaeger.path("out.jsonl"))
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .flat_map(|rs| {
                let svc = rs
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                    .and_then(|kv| kv.value.as_ref()?.value.clone())
                    .map(|v| match v {
                        V::StringValue(s) => s,
                        other => panic!("service.name is not a string: {other:?}"),
                    })
                    .unwrap_or_default();
                rs.scope_spans
                    .into_iter()
                    .flat_map(|s| s.spans)
                    .map(move |s| (svc.clone(), s))
            })
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(15), || arrived().len() == 7),
        "{} spans at the Jaeger endpoint\ncluster log:\n{}",
        arrived().len(),
        cluster.log()
    );
    let got = arrived();
    assert!(
        got.iter().all(|(svc, _)| !svc.is_empty()),
        "a resource without service.name"
    );
    let kinds: BTreeSet<i32> = got
        .iter()
        .filter(|(s, _)| s == "nvmf-gateway")
        .map(|(_, s)| s.kind)
        .collect();
    assert_eq!(
        kinds,
        (1..=5).collect(),
        "all five OTLP kinds, none unspecified"
    );
    for (svc, span) in &got {
        let status = span.status.clone().unwrap_or_default();
        let want = match (svc.as_str(), span.name.as_str()) {
            ("nvmf-gateway", "nvmf-SPAN_KIND_CLIENT") => {
                (StatusCode::Error, "connect refused", SpanKind::Client)
            }
            ("nvmf-gateway", _) => (StatusCode::Ok, "", SpanKind::try_from(span.kind).unwrap()),
            ("legacy-agent", "scan") => (StatusCode::Unset, "", SpanKind::Internal),
            ("legacy-agent", "get /health") => {
                (StatusCode::Error, "backend down", SpanKind::Server)
            }
            other => panic!("unexpected span {other:?}"),
        };
        assert_eq!(
            (status.code, status.message.as_str(), span.kind),
            (want.0 as i32, want.1, want.2 as i32),
            "{svc} {}",
            span.name
        );
        assert_eq!(span.trace_id.len(), 16);
        assert!(span.trace_id.iter().any(|b| *b != 0));
    }
    // The 64-bit Zipkin trace id is zero-extended, as Jaeger stores it (high = 0).
    assert!(got.iter().any(|(_, s)| s.trace_id[..8] == [0; 8]
        && s.trace_id[8..] == [0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89]));

    // The profile's Prometheus endpoint serves the metric.
    let mut page = String::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            page = try_http_get(prom, "/metrics").unwrap_or_default();
            page.contains("nvmf_connections{")
        }),
        "{page}"
    );
    assert!(
        page.contains(r#"nvmf_connections{job="nvmf-gateway"} 12"#),
        "{page}"
    );
}
