use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span as OtlpSpan, Status, span::Event, span::SpanKind,
    status::StatusCode,
};

use super::*;
use crate::attr::{int, kv, string};

fn request(spans: Vec<OtlpSpan>, service: Option<&str>) -> ExportTraceServiceRequest {
    let mut attributes = vec![kv("host.name", string("dpu-7"))];
    if let Some(s) = service {
        attributes.push(kv("service.name", string(s)));
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.strata.test".into(),
                    version: "1.2.3".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn span(kind: SpanKind, code: StatusCode, message: &str) -> OtlpSpan {
    OtlpSpan {
        trace_id: (1..=16).collect(),
        span_id: vec![0xab; 8],
        parent_span_id: vec![0x0c; 8],
        name: "GET /volumes".into(),
        kind: kind as i32,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_123_456_789 + 2_500_400,
        attributes: vec![
            kv("http.request.method", string("GET")),
            kv("http.response.status_code", int(200)),
            kv(
                "retry",
                AnyValue {
                    value: Some(Value::BoolValue(false)),
                },
            ),
            kv(
                "ratio",
                AnyValue {
                    value: Some(Value::DoubleValue(0.25)),
                },
            ),
        ],
        events: vec![
            Event {
                time_unix_nano: 1_700_000_000_124_000_000,
                name: "exception".into(),
                attributes: vec![kv("exception.type", string("IOError"))],
                dropped_attributes_count: 0,
            },
            Event {
                time_unix_nano: 1_700_000_000_125_000_000,
                name: "flush".into(),
                attributes: vec![],
                dropped_attributes_count: 0,
            },
        ],
        status: Some(Status {
            code: code as i32,
            message: message.into(),
        }),
        dropped_attributes_count: 3,
        ..OtlpSpan::default()
    }
}

#[test]
fn otlp_span_maps_per_the_specification() {
    let (spans, invalid) = from_otlp(
        &request(
            vec![span(SpanKind::Server, StatusCode::Error, "disk gone")],
            Some("spdk-proxy"),
        ),
        &FromOtlpOptions::default(),
    );
    assert_eq!(invalid, 0);
    let z = &spans[0];
    assert_eq!(z.trace_id, "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(z.id, "abababababababab");
    assert_eq!(z.parent_id.as_deref(), Some("0c0c0c0c0c0c0c0c"));
    assert_eq!(z.kind, Some(Kind::Server));
    assert_eq!(z.timestamp, Some(1_700_000_000_123_457));
    assert_eq!(z.duration, Some(2_500));
    assert_eq!(
        z.local_endpoint.as_ref().unwrap().service_name.as_deref(),
        Some("spdk-proxy")
    );
    let t = &z.tags;
    assert_eq!(t["otel.status_code"], "ERROR");
    assert_eq!(t["error"], "disk gone");
    assert_eq!(t["http.response.status_code"], "200");
    assert_eq!(t["retry"], "false");
    assert_eq!(t["ratio"], "0.25");
    assert_eq!(t["host.name"], "dpu-7");
    assert_eq!(t["otel.scope.name"], "io.strata.test");
    assert_eq!(t["otel.scope.version"], "1.2.3");
    assert_eq!(t["otel.dropped_attributes_count"], "3");
    assert!(!t.contains_key("service.name"));
    assert_eq!(
        z.annotations[0].value,
        r#"{"exception":{"exception.type":"IOError"}}"#
    );
    assert_eq!(z.annotations[0].timestamp, 1_700_000_000_124_000);
    assert_eq!(z.annotations[1].value, "flush");
}

#[test]
fn internal_and_unset_leave_kind_and_status_out() {
    let mut s = span(SpanKind::Internal, StatusCode::Unset, "");
    s.attributes.push(kv("error", string("false")));
    let (spans, _) = from_otlp(&request(vec![s], None), &FromOtlpOptions::default());
    let z = &spans[0];
    assert_eq!(z.kind, None);
    assert!(!z.tags.contains_key("otel.status_code"));
    assert!(
        !z.tags.contains_key("error"),
        "a false error tag is removed"
    );
    assert_eq!(
        z.local_endpoint.as_ref().unwrap().service_name.as_deref(),
        Some("unknown_service")
    );
    let json = serde_json::to_value(z).unwrap();
    assert!(json.get("kind").is_none(), "absent, not null: {json}");
    assert!(json.get("debug").is_none());
}

#[test]
fn remote_endpoint_follows_the_rank_table() {
    let remote = |attrs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>| {
        let mut s = span(SpanKind::Client, StatusCode::Ok, "");
        s.attributes = attrs;
        from_otlp(&request(vec![s], Some("a")), &FromOtlpOptions::default()).0[0]
            .remote_endpoint
            .clone()
    };
    let ep = remote(vec![
        kv("server.address", string("bmc.example")),
        kv("server.port", int(443)),
        kv("peer.service", string("redfish")),
        kv("network.peer.address", string("10.0.0.9")),
        kv("network.peer.port", int(8443)),
    ])
    .unwrap();
    assert_eq!(ep.service_name.as_deref(), Some("redfish"));
    assert_eq!(ep.ipv4.as_deref(), Some("10.0.0.9"));
    assert_eq!(ep.port, Some(8443));
    let ep = remote(vec![
        kv("server.address", string("bmc.example")),
        kv("server.port", int(443)),
    ])
    .unwrap();
    assert_eq!(ep.service_name.as_deref(), Some("bmc.example"));
    assert_eq!(ep.port, Some(443));
    let ep = remote(vec![kv("net.sock.peer.addr", string("2001:db8::1"))]).unwrap();
    assert_eq!(ep.ipv6.as_deref(), Some("2001:db8::1"));
    assert_eq!(remote(vec![kv("http.route", string("/x"))]), None);
}

#[test]
fn zipkin_round_trips_to_otlp() {
    let original = span(SpanKind::Producer, StatusCode::Error, "queue full");
    let (spans, _) = from_otlp(
        &request(vec![original.clone()], Some("svc")),
        &FromOtlpOptions::default(),
    );
    let json = serde_json::to_string(&spans).unwrap();
    let back: Vec<Span> = serde_json::from_str(&json).unwrap();
    let req = to_otlp(
        back,
        ToOtlpOptions {
            parse_string_tags: true,
        },
    )
    .unwrap();
    let rs = &req.resource_spans[0];
    assert_eq!(
        crate::attr::get_str(&rs.resource.as_ref().unwrap().attributes, "service.name"),
        Some("svc")
    );
    let scope = rs.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("io.strata.test", "1.2.3")
    );
    let s = &rs.scope_spans[0].spans[0];
    assert_eq!(s.trace_id, original.trace_id);
    assert_eq!(s.span_id, original.span_id);
    assert_eq!(s.parent_span_id, original.parent_span_id);
    assert_eq!(s.kind, SpanKind::Producer as i32);
    assert_eq!(s.status, original.status);
    assert_eq!(s.dropped_attributes_count, 3);
    // Microsecond precision.
    assert_eq!(s.start_time_unix_nano, 1_700_000_000_123_457_000);
    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 2_500_000);
    for a in &original.attributes {
        assert!(s.attributes.contains(a), "{a:?} in {:?}", s.attributes);
    }
    assert_eq!(s.events[0].name, "exception");
    assert_eq!(s.events[0].attributes, original.events[0].attributes);
    assert_eq!(s.events[1].name, "flush");
}

#[test]
fn reverse_mapping_reads_what_zipkin_clients_send() {
    let json = r#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","parentId":"6b221d5bc9e6496c",
        "name":"get /api","timestamp":1556604172355737,"duration":1431,"kind":null,
        "localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
        "remoteEndpoint":{"serviceName":"frontend","ipv4":"172.19.0.2","port":58648},
        "tags":{"http.method":"GET","error":"timeout","count":3},"annotations":null,"debug":true}]"#;
    let spans: Vec<Span> = serde_json::from_str(json).unwrap();
    let req = to_otlp(spans, ToOtlpOptions::default()).unwrap();
    let s = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        &s.trace_id[..8],
        &[0; 8],
        "64-bit trace ids are zero-extended"
    );
    assert_eq!(s.kind, SpanKind::Internal as i32);
    let status = s.status.as_ref().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "timeout")
    );
    let get = |k: &str| crate::attr::get_text(&s.attributes, k);
    assert_eq!(get("peer.service").as_deref(), Some("frontend"));
    assert_eq!(get("network.peer.address").as_deref(), Some("172.19.0.2"));
    assert_eq!(get("network.peer.port").as_deref(), Some("58648"));
    assert_eq!(get("network.local.port").as_deref(), Some("3306"));
    assert_eq!(
        get("count").as_deref(),
        Some("3"),
        "numbers are kept as text"
    );
    assert!(get("error").is_none());
    assert!(req.resource_spans[0].scope_spans[0].scope.is_none());
}

#[test]
fn malformed_ids_are_refused_with_the_span_index() {
    let ok = Span {
        trace_id: "5af7183fb1d4cf5f".into(),
        id: "352bff9a74ca9ad2".into(),
        ..Span::default()
    };
    let bad = Span {
        id: "xyz".into(),
        ..ok.clone()
    };
    let e = to_otlp(vec![ok.clone(), bad], ToOtlpOptions::default()).unwrap_err();
    assert_eq!(e.index, 1);
    assert!(e.to_string().contains("id \"xyz\""), "{e}");
    let short_trace = Span {
        trace_id: "abc".into(),
        ..ok
    };
    assert!(to_otlp(vec![short_trace], ToOtlpOptions::default()).is_err());
}

#[test]
fn spans_with_wrong_id_lengths_are_counted_not_written() {
    let mut short = span(SpanKind::Client, StatusCode::Ok, "");
    short.span_id = vec![1, 2, 3, 4];
    let mut empty_trace = span(SpanKind::Client, StatusCode::Ok, "");
    empty_trace.trace_id.clear();
    let good = span(SpanKind::Client, StatusCode::Ok, "");
    let (spans, invalid) = from_otlp(
        &request(vec![short, good, empty_trace], Some("svc")),
        &FromOtlpOptions::default(),
    );
    assert_eq!((spans.len(), invalid), (1, 2));
    assert_eq!(spans[0].id, "abababababababab");
}
