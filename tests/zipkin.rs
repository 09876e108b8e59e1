//! The Zipkin back-end: the `zipkin` exporter's JSON validates against the official
//! `zipkin2-api.yaml` schema (a copy in `tests/fixtures/zipkin/`) for spans of every kind,
//! status and attribute type; the `zipkin` receiver answers bad input clearly; and the
//! OpenTelemetry Python SDK's Zipkin JSON exporter (`opentelemetry-exporter-zipkin-json`, a
//! real third-party peer installed by `scripts/test`) sends to the receiver, and what comes out
//! as OTLP matches what the SDK recorded.

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Command;
use std::time::Duration;

use common::otlp::http_post;
use common::zipkin::{zipkin_schema, zipkin_sink};
use common::{Strata, attrs, eventually, free_port, num, otlp_receiver, read_lines};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value as V,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::Event, span::SpanKind, status::StatusCode,
};
use prost::Message;
use serde_json::{Value, json};

fn kv(key: &str, v: V) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn s(x: &str) -> V {
    V::StringValue(x.into())
}

/// Spans of every kind, every status and every attribute type, with events, remote-endpoint
/// attributes and dropped counts; one resource has no `service.name`.
fn every_kind_of_span() -> ExportTraceServiceRequest {
    let kinds = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    let statuses = [
        None,
        Some((StatusCode::Unset, "")),
        Some((StatusCode::Ok, "")),
        Some((StatusCode::Error, "")),
        Some((StatusCode::Error, "nvme timeout")),
    ];
    let mut spans = Vec::new();
    let mut n = 0u8;
    for kind in kinds {
        for status in statuses {
            n += 1;
            let start = 1_750_000_000_000_000_000 + u64::from(n) * 1_000_123;
            spans.push(Span {
                trace_id: vec![n; 16],
                span_id: vec![n, 1, 2, 3, 4, 5, 6, 7],
                parent_span_id: if n.is_multiple_of(2) {
                    vec![9; 8]
                } else {
                    vec![]
                },
                name: format!("op-{n}"),
                kind: kind as i32,
                start_time_unix_nano: start,
                // Sub-microsecond spans get a duration of 1, never 0 (the schema's minimum).
                end_time_unix_nano: start + if n.is_multiple_of(3) { 400 } else { 2_345_678 },
                attributes: vec![
                    kv("str", s("dpu")),
                    kv("bool", V::BoolValue(n.is_multiple_of(2))),
                    kv("int", V::IntValue(-i64::from(n))),
                    kv("double", V::DoubleValue(f64::from(n) / 3.0)),
                    kv("bytes", V::BytesValue(vec![0, 255, n])),
                    kv(
                        "array",
                        V::ArrayValue(ArrayValue {
                            values: vec![
                                AnyValue {
                                    value: Some(s("a")),
                                },
                                AnyValue {
                                    value: Some(V::IntValue(2)),
                                },
                            ],
                        }),
                    ),
                    kv(
                        "map",
                        V::KvlistValue(KeyValueList {
                            values: vec![kv("k", s("v"))],
                        }),
                    ),
                    KeyValue {
                        key: "empty".into(),
                        value: Some(AnyValue { value: None }),
                        ..KeyValue::default()
                    },
                    kv("peer.service", s("nvmf-target")),
                    kv(
                        "network.peer.address",
                        s(if n.is_multiple_of(2) {
                            "10.1.2.3"
                        } else {
                            "2001:db8::7"
                        }),
                    ),
                    kv("network.peer.port", V::IntValue(4420)),
                ],
                events: vec![
                    Event {
                        time_unix_nano: start + 1000,
                        name: "retry".into(),
                        attributes: vec![kv("attempt", V::IntValue(2))],
                        dropped_attributes_count: 0,
                    },
                    Event {
                        time_unix_nano: start + 2000,
                        name: "done".into(),
                        attributes: vec![],
                        dropped_attributes_count: 0,
                    },
                ],
                status: status.map(|(code, message)| Status {
                    code: code as i32,
                    message: message.into(),
                }),
                dropped_attributes_count: u32::from(n % 2),
                dropped_events_count: u32::from(n % 3),
                dropped_links_count: 1,
                ..Span::default()
            });
        }
    }
    let (a, b) = spans.split_at(spans.len() / 2);
    let resource = |service: Option<&str>| Resource {
        attributes: service
            .map(|x| vec![kv("service.name", s(x)), kv("k8s.pod.name", s("spdk-0"))])
            .unwrap_or_else(|| vec![kv("host.name", s("dpu-7"))]),
        ..Resource::default()
    };
    let scope = Some(InstrumentationScope {
        name: "strata.test".into(),
        version: "2.0".into(),
        ..InstrumentationScope::default()
    });
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(resource(Some("spdk-agent"))),
                scope_spans: vec![ScopeSpans {
                    scope: scope.clone(),
                    spans: a.to_vec(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: Some(resource(None)),
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans: b.to_vec(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
}

#[test]
fn exporter_json_validates_against_the_zipkin2_api_schema() {
    let (zport, posts) = zipkin_sink();
    let (grpc, http) = (free_port(), free_port());
    let cfg = format!(
        r#"
{receivers}exporters:
  zipkin:
    endpoint: http://127.0.0.1:{zport}/api/v2/spans
    sending_queue: {{ enabled: false }}
  zipkin/gzip:
    endpoint: http://127.0.0.1:{zport}/api/v2/spans
    compression: gzip
    default_service_name: dpu-default
    sending_queue: {{ enabled: false }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [zipkin, zipkin/gzip] }}
"#,
        receivers = otlp_receiver(grpc, http)
    );
    let strata = Strata::start(&cfg, &[grpc, http]);
    let req = every_kind_of_span();
    let sent = req
        .resource_spans
        .iter()
        .map(|r| r.scope_spans[0].spans.len())
        .sum::<usize>();
    let resp = http_post(
        http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        &req.encode_to_vec(),
    );
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), strata.log());

    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2, "one plain and one gzip request");
    let schema = zipkin_schema();
    let mut by_encoding = BTreeMap::new();
    for (encoding, body) in posts {
        let json: Vec<u8> = match encoding.as_deref() {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            None => body,
            Some(other) => panic!("unexpected Content-Encoding {other}"),
        };
        let doc: Value = serde_json::from_slice(&json).unwrap();
        let errors: Vec<String> = schema
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "schema violations: {errors:#?}\n{doc:#}");
        by_encoding.insert(encoding.unwrap_or_default(), doc);
    }
    // The schema is live: it refuses what Zipkin would.
    for bad in [
        json!([{"traceId": "abc", "id": "0000000000000001"}]),
        json!([{"traceId": "4e441824ec2b6a44", "id": "1", "kind": "INTERNAL"}]),
        json!([{"traceId": "4e441824ec2b6a44", "id": "0000000000000001", "duration": 0}]),
        json!([{"traceId": "4e441824ec2b6a44", "id": "0000000000000001", "tags": {"n": 1}}]),
    ] {
        assert!(!schema.is_valid(&bad), "schema accepted {bad}");
    }
    let plain = by_encoding[""].as_array().unwrap();
    assert_eq!(plain.len(), sent);
    // Spot checks of the mapping on the wire (the translator's unit tests cover the rest).
    let kinds: Vec<Option<&str>> = plain
        .iter()
        .map(|s| s.get("kind").and_then(Value::as_str))
        .collect();
    for k in [
        None,
        Some("SERVER"),
        Some("CLIENT"),
        Some("PRODUCER"),
        Some("CONSUMER"),
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    assert!(
        plain.iter().all(|s| s.get("kind") != Some(&Value::Null)),
        "INTERNAL has no kind field"
    );
    let errored = plain
        .iter()
        .find(|s| s["tags"]["error"] == "nvme timeout")
        .unwrap();
    assert_eq!(errored["tags"]["otel.status_code"], "ERROR");
    assert!(
        plain
            .iter()
            .any(|s| s["tags"]["error"] == "" && s["tags"]["otel.status_code"] == "ERROR")
    );
    assert!(
        plain
            .iter()
            .any(|s| s["tags"]["otel.status_code"] == "OK" && s["tags"].get("error").is_none())
    );
    let first = &plain[0];
    assert_eq!(first["localEndpoint"]["serviceName"], "spdk-agent");
    assert_eq!(first["remoteEndpoint"]["serviceName"], "nvmf-target");
    assert_eq!(first["remoteEndpoint"]["port"], 4420);
    assert_eq!(first["tags"]["array"], r#"["a",2]"#);
    assert_eq!(first["tags"]["map"], r#"{"k":"v"}"#);
    assert_eq!(first["tags"]["otel.scope.name"], "strata.test");
    assert_eq!(first["tags"]["otel.dropped_links_count"], "1");
    assert_eq!(first["tags"]["k8s.pod.name"], "spdk-0");
    assert_eq!(
        first["annotations"][0]["value"],
        r#"{"retry":{"attempt":2}}"#
    );
    assert_eq!(first["annotations"][1]["value"], "done");
    assert!(plain.iter().all(|s| s["duration"].as_u64().unwrap() >= 1));
    let gz = by_encoding["gzip"].as_array().unwrap();
    assert!(
        gz.iter()
            .any(|s| s["localEndpoint"]["serviceName"] == "dpu-default")
    );
    assert_eq!(
        strata.counter(r#"otelcol_exporter_sent_spans{exporter="zipkin"}"#),
        sent as u64
    );
}

fn zipkin_receiver_config(port: u16, extra: &str) -> String {
    format!(
        r#"
receivers:
  zipkin:
    endpoint: 127.0.0.1:{port}
    max_request_body_size_mib: 1
{extra}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [zipkin], exporters: [file] }}
"#
    )
}

fn received(strata: &Strata) -> Vec<ExportTraceServiceRequest> {
    read_lines(&strata.path("out.jsonl"))
}

#[test]
fn receiver_accepts_json_and_gzip_and_answers_bad_input() {
    let port = free_port();
    let strata = Strata::start(&zipkin_receiver_config(port, ""), &[port]);
    let json_ct = [("content-type", "application/json")];
    let span = |id: &str| {
        json!({"traceId": "4e441824ec2b6a44ffdc9bb9a6453df3", "id": id, "name": "get",
               "timestamp": 1_700_000_000_000_000u64, "duration": 10,
               "localEndpoint": {"serviceName": "legacy"}, "kind": "SERVER"})
    };
    let ok =
        serde_json::to_vec(&json!([span("0000000000000001"), span("0000000000000002")])).unwrap();
    let r = http_post(port, "/api/v2/spans", &json_ct, &ok);
    assert_eq!(r.status, 202, "{}", r.text());

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        &serde_json::to_vec(&json!([span("0000000000000003")])).unwrap(),
    )
    .unwrap();
    let r = http_post(
        port,
        "/api/v2/spans",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &gz.finish().unwrap(),
    );
    assert_eq!(r.status, 202, "{}", r.text());

    let r = http_post(port, "/api/v2/spans", &json_ct, b"[{\"traceId\": ");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid Zipkin v2 JSON"), "{}", r.text());
    let bad = serde_json::to_vec(&json!([span("0000000000000004"), span("zz")])).unwrap();
    let r = http_post(port, "/api/v2/spans", &json_ct, &bad);
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("span 1") && r.text().contains("\"zz\""),
        "{}",
        r.text()
    );
    // Protobuf is a Zipkin format too: a span without ids is refused as bad input, naming it.
    let r = http_post(
        port,
        "/api/v2/spans",
        &[("content-type", "application/x-protobuf")],
        b"\x0a\x00",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("span 0: trace_id of 0 bytes"),
        "{}",
        r.text()
    );
    // Zipkin's thrift encoding is not spoken: the media type is refused as such.
    let r = http_post(
        port,
        "/api/v2/spans",
        &[("content-type", "application/x-thrift")],
        b"\x0a\x00",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    let big = vec![b' '; 2 << 20];
    let r = http_post(port, "/api/v2/spans", &json_ct, &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let r = http_post(port, "/api/v1/spans", &json_ct, b"[]");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("/api/v2/spans"), "{}", r.text());

    // Exactly the three valid spans arrived; nothing of a refused request did.
    assert!(
        eventually(Duration::from_secs(10), || {
            received(&strata)
                .iter()
                .flat_map(|r| &r.resource_spans)
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>()
                == 3
        }),
        "{}",
        strata.log()
    );
    let ids: Vec<String> = received(&strata)
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.span_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(
        ids,
        ["0000000000000001", "0000000000000002", "0000000000000003"]
    );
    assert_eq!(
        strata.counter(r#"otelcol_receiver_accepted_spans{receiver="zipkin",transport="http"}"#),
        3
    );
    // Two bad JSON bodies and the protobuf span without ids.
    assert_eq!(strata.counter(r#"otelcol_receiver_refused_requests{receiver="zipkin",transport="http",reason="decode"}"#), 3);
    assert_eq!(strata.counter(r#"otelcol_receiver_refused_requests{receiver="zipkin",transport="http",reason="content_type"}"#), 1);
    assert_eq!(strata.counter(r#"otelcol_receiver_refused_requests{receiver="zipkin",transport="http",reason="too_large"}"#), 1);
}

#[test]
fn interop_python_sdk_zipkin_json_exporter_to_the_receiver() {
    let Some(py) = common::interop_python("opentelemetry.sdk, opentelemetry.exporter.zipkin.json")
    else {
        return;
    };
    python_zipkin_exporter_to_the_receiver(&py, "json");
}

/// The Python SDK's Zipkin protobuf exporter (`opentelemetry-exporter-zipkin-proto-http`, in
/// its own venv: it pins protobuf 3) to the receiver, checked span by span like JSON.
#[test]
fn interop_python_sdk_zipkin_proto_exporter_to_the_receiver() {
    let Some(py) = zipkin_proto_python() else {
        return;
    };
    python_zipkin_exporter_to_the_receiver(&py, "proto");
}

/// `.venv-zipkin-proto`'s Python (made by scripts/test), or `STRATA_ZIPKIN_PROTO_PYTHON`.
fn zipkin_proto_python() -> Option<std::path::PathBuf> {
    common::interop_python_in(
        "STRATA_ZIPKIN_PROTO_PYTHON",
        ".venv-zipkin-proto",
        "opentelemetry.exporter.zipkin.proto.http",
    )
}

fn python_zipkin_exporter_to_the_receiver(py: &std::path::Path, protocol: &str) {
    let port = free_port();
    let strata = Strata::start(
        &zipkin_receiver_config(port, "    parse_string_tags: true"),
        &[port],
    );
    let manifest_path = strata.path("manifest.json");
    let out = Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/zipkin_client.py"
        ))
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}/api/v2/spans"),
            "--spans",
            "200",
            "--protocol",
            protocol,
        ])
        .arg("--manifest")
        .arg(&manifest_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed:\n{}\nstrata log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        strata.log()
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let sent = manifest["spans"].as_array().unwrap();

    // The receiver answers after the file exporter wrote: the file is complete.
    let mut got: BTreeMap<String, (Value, Value, Value)> = BTreeMap::new();
    let lines: Vec<Value> = read_lines(&strata.path("out.jsonl"));
    for line in &lines {
        for rs in line["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for sp in ss["spans"].as_array().unwrap() {
                    let prev = got.insert(
                        sp["spanId"].as_str().unwrap().to_owned(),
                        (rs["resource"].clone(), ss["scope"].clone(), sp.clone()),
                    );
                    assert!(prev.is_none(), "span {} arrived twice", sp["spanId"]);
                }
            }
        }
    }
    assert_eq!(got.len(), sent.len(), "span count");
    let us = |ns: u64| (ns + 500) / 1000 * 1000;
    let mut kinds = std::collections::BTreeSet::new();
    for want in sent {
        let (resource, scope, sp) = &got[want["span_id"].as_str().unwrap()];
        let name = &want["name"];
        assert_eq!(
            attrs(&resource["attributes"])["service.name"],
            json!("zipkin-interop")
        );
        assert_eq!(scope["name"], "strata.zipkin");
        assert_eq!(scope["version"], "1.0.0");
        assert_eq!(sp["traceId"], want["trace_id"]);
        assert_eq!(
            sp["parentSpanId"].as_str().unwrap_or(""),
            want["parent_span_id"],
            "{name}"
        );
        assert_eq!(&sp["name"], name);
        // SDK SpanKind values are 0-based (INTERNAL = 0); OTLP's are 1-based.
        assert_eq!(
            sp["kind"].as_u64().unwrap(),
            want["kind"].as_u64().unwrap() + 1,
            "{name}"
        );
        kinds.insert(sp["kind"].as_u64().unwrap());
        // Zipkin carries microseconds: start exactly, end within the rounding of the duration.
        let start = num(&sp["startTimeUnixNano"]);
        assert_eq!(start, us(want["start"].as_u64().unwrap()), "{name}");
        let end = num(&sp["endTimeUnixNano"]);
        assert!(
            end.abs_diff(us(want["end"].as_u64().unwrap())) <= 1000,
            "{name}: {end}"
        );
        // Status: OTLP code 1 = OK, 2 = ERROR; SDK's are 0 UNSET, 1 OK, 2 ERROR.
        let code = sp["status"]["code"].as_u64().unwrap_or(0);
        assert_eq!(code, want["status"].as_u64().unwrap(), "{name}");
        assert_eq!(
            sp["status"]["message"].as_str().unwrap_or(""),
            want["description"],
            "{name}"
        );
        // Every attribute the SDK recorded, with its type (the SDK also sends its resource
        // attributes as tags; those are extra).
        let got_attrs = attrs(&sp["attributes"]);
        let want_attrs: BTreeMap<String, Value> =
            serde_json::from_value(want["attributes"].clone()).unwrap();
        for (k, v) in &want_attrs {
            assert_eq!(got_attrs.get(k), Some(v), "{name}: attribute {k}");
        }
        assert!(!got_attrs.contains_key("otel.status_code") && !got_attrs.contains_key("error"));
        let events = sp["events"].as_array().cloned().unwrap_or_default();
        let want_events = want["events"].as_array().unwrap();
        assert_eq!(events.len(), want_events.len(), "{name}");
        for (e, w) in events.iter().zip(want_events) {
            assert_eq!(e["name"], w["name"]);
            assert_eq!(num(&e["timeUnixNano"]), us(w["time"].as_u64().unwrap()));
            let wa: BTreeMap<String, Value> =
                serde_json::from_value(w["attributes"].clone()).unwrap();
            assert_eq!(attrs(&e["attributes"]), wa, "{name}");
        }
    }
    assert_eq!(kinds.len(), 5, "all five span kinds: {kinds:?}");
    println!(
        "interop zipkin: {} spans from the Python SDK's Zipkin {protocol} exporter matched the SDK's record (ids, kinds, status, typed attributes, events)",
        sent.len()
    );
}

/// `format: proto`: the exporter's body, read by the Python SDK's generated `zipkin_pb2`
/// (`ListOfSpans.ParseFromString`, an implementation independent of Strata's), holds the same
/// spans as the JSON format writes for the same request: ids, names, kinds, timestamps, tags.
#[test]
fn exporter_proto_is_read_by_the_python_sdk_zipkin_pb2() {
    let Some(py) = zipkin_proto_python() else {
        return;
    };
    let (zport, posts) = zipkin_sink();
    let (grpc, http) = (free_port(), free_port());
    let cfg = format!(
        r#"
{receivers}exporters:
  zipkin/json:
    endpoint: http://127.0.0.1:{zport}/api/v2/spans
    sending_queue: {{ enabled: false }}
  zipkin/proto:
    endpoint: http://127.0.0.1:{zport}/api/v2/spans
    format: proto
    sending_queue: {{ enabled: false }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [zipkin/json, zipkin/proto] }}
"#,
        receivers = otlp_receiver(grpc, http)
    );
    let strata = Strata::start(&cfg, &[grpc, http]);
    let resp = http_post(
        http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        &every_kind_of_span().encode_to_vec(),
    );
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), strata.log());
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2);
    let (json, proto): (Vec<_>, Vec<_>) = posts
        .into_iter()
        .map(|(_, b)| b)
        .partition(|b| b.first() == Some(&b'['));
    let json: Vec<Value> = serde_json::from_slice(&json[0]).unwrap();
    let file = strata.path("spans.pb");
    std::fs::write(&file, &proto[0]).unwrap();
    let script = r#"
import json, sys
from opentelemetry.exporter.zipkin.proto.http.v2.gen import zipkin_pb2
l = zipkin_pb2.ListOfSpans()
l.ParseFromString(open(sys.argv[1], "rb").read())
kinds = {0: None, 1: "CLIENT", 2: "SERVER", 3: "PRODUCER", 4: "CONSUMER"}
print(json.dumps([{
    "traceId": s.trace_id.hex(), "id": s.id.hex(), "parentId": s.parent_id.hex() or None,
    "name": s.name or None, "kind": kinds[s.kind], "timestamp": s.timestamp or None,
    "duration": s.duration or None, "tags": dict(s.tags),
    "serviceName": s.local_endpoint.service_name or None,
    "annotations": [[a.timestamp, a.value] for a in s.annotations],
} for s in l.spans]))
"#;
    let out = Command::new(&py)
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zipkin_pb2 could not read the body: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read.len(), json.len());
    for (p, j) in read.iter().zip(&json) {
        for k in [
            "traceId",
            "id",
            "parentId",
            "name",
            "kind",
            "timestamp",
            "duration",
        ] {
            let want = j.get(k).cloned().unwrap_or(Value::Null);
            assert_eq!(p[k], want, "{k} of {j}");
        }
        assert_eq!(
            p["tags"],
            j.get("tags").cloned().unwrap_or(json!({})),
            "{j}"
        );
        assert_eq!(p["serviceName"], j["localEndpoint"]["serviceName"], "{j}");
        let ann: Vec<Value> = j["annotations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| json!([x["timestamp"], x["value"]]))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(p["annotations"], json!(ann), "{j}");
    }
    println!(
        "interop zipkin: {} spans in format: proto read by zipkin_pb2 equal the json format's",
        read.len()
    );
}
