//! Interop with a real third-party peer: the OpenTelemetry Python SDK (installed into `.venv`
//! by `scripts/test`) sends traces, metrics and logs over OTLP/gRPC and OTLP/HTTP to `strata`,
//! whose `file` exporter writes them; everything the SDK sent must arrive once, unchanged.
//!
//! Without the venv these tests say so and return, unless `STRATA_REQUIRE_INTEROP=1` (set by
//! `scripts/test`), where a missing peer is a failure.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use common::{Strata, attrs, free_port, num, otlp_receiver, read_lines};
use serde_json::{Value, json};

fn python() -> Option<PathBuf> {
    common::interop_python(
        "opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http",
    )
}

fn run(protocol: &str) {
    let Some(py) = python() else { return };
    let (grpc, http) = (free_port(), free_port());
    let cfg = format!(
        r#"
{receivers}processors:
  batch: {{ send_batch_size: 300, timeout: 100ms }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    logs: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#,
        receivers = otlp_receiver(grpc, http)
    );
    let s = Strata::start(&cfg, &[grpc, http]);
    let port = if protocol == "grpc" { grpc } else { http };
    let manifest_path = s.path("manifest.json");
    let out = Command::new(&py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/otel_client.py"
        ))
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--spans",
            "1000",
        ])
        .arg("--manifest")
        .arg(&manifest_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed:\n{}\nstrata log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();

    // Every export was acknowledged after the file exporter wrote it: the file is complete.
    let lines: Vec<Value> = read_lines(&s.path("out.jsonl"));
    let mut spans: BTreeMap<String, Value> = BTreeMap::new();
    let mut metrics: BTreeMap<String, Value> = BTreeMap::new();
    let mut logs: Vec<(String, BTreeMap<String, Value>, Value)> = Vec::new();
    for line in &lines {
        for rs in line["resourceSpans"].as_array().into_iter().flatten() {
            assert_eq!(
                attrs(&rs["resource"]["attributes"])["service.name"],
                json!(format!("interop-{protocol}"))
            );
            for ss in rs["scopeSpans"].as_array().unwrap() {
                assert_eq!(ss["scope"]["name"], "strata.interop");
                for sp in ss["spans"].as_array().unwrap() {
                    let prev = spans.insert(sp["spanId"].as_str().unwrap().to_owned(), sp.clone());
                    assert!(prev.is_none(), "span {} arrived twice", sp["spanId"]);
                }
            }
        }
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().unwrap() {
                for m in sm["metrics"].as_array().unwrap() {
                    metrics.insert(m["name"].as_str().unwrap().to_owned(), m.clone());
                }
            }
        }
        for rl in line["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                for l in sl["logRecords"].as_array().unwrap() {
                    logs.push((
                        l["body"]["stringValue"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        attrs(&l["attributes"]),
                        l.clone(),
                    ));
                }
            }
        }
    }

    // Spans: each sent span arrived once, with identical ids, names, kinds, attributes,
    // timestamps, events, links and status.
    let sent = manifest["spans"].as_array().unwrap();
    assert!(sent.len() >= 1000);
    assert_eq!(spans.len(), sent.len(), "span count");
    for want in sent {
        let got = &spans[want["span_id"].as_str().unwrap()];
        assert_eq!(got["traceId"], want["trace_id"]);
        assert_eq!(
            got["parentSpanId"].as_str().unwrap_or(""),
            want["parent_span_id"]
        );
        assert_eq!(got["name"], want["name"]);
        // SDK SpanKind values are 0-based (INTERNAL = 0); OTLP's are 1-based.
        assert_eq!(
            got["kind"].as_u64().unwrap(),
            want["kind"].as_u64().unwrap() + 1,
            "{}",
            want["name"]
        );
        assert_eq!(
            num(&got["startTimeUnixNano"]),
            want["start"].as_u64().unwrap()
        );
        assert_eq!(num(&got["endTimeUnixNano"]), want["end"].as_u64().unwrap());
        let want_attrs: BTreeMap<String, Value> =
            serde_json::from_value(want["attributes"].clone()).unwrap();
        assert_eq!(attrs(&got["attributes"]), want_attrs, "{}", want["name"]);
        let events = got["events"].as_array().cloned().unwrap_or_default();
        let want_events = want["events"].as_array().unwrap();
        assert_eq!(events.len(), want_events.len());
        for (e, w) in events.iter().zip(want_events) {
            assert_eq!(e["name"], w["name"]);
            assert_eq!(num(&e["timeUnixNano"]), w["time"].as_u64().unwrap());
            let wa: BTreeMap<String, Value> =
                serde_json::from_value(w["attributes"].clone()).unwrap();
            assert_eq!(attrs(&e["attributes"]), wa);
        }
        let links = got["links"].as_array().cloned().unwrap_or_default();
        let want_links = want["links"].as_array().unwrap();
        assert_eq!(links.len(), want_links.len());
        for (l, w) in links.iter().zip(want_links) {
            assert_eq!(l["traceId"], w["trace_id"]);
            assert_eq!(l["spanId"], w["span_id"]);
        }
        assert_eq!(
            got["status"]["code"].as_u64().unwrap_or(0),
            want["status"].as_u64().unwrap()
        );
    }

    // Metrics: the last cumulative point of each instrument carries what the SDK recorded.
    let counter = &metrics["interop.requests"];
    assert_eq!(counter["unit"], "{request}");
    let pts = counter["sum"]["dataPoints"].as_array().unwrap();
    assert_eq!(num(&pts[pts.len() - 1]["asInt"]), 15);
    assert_eq!(counter["sum"]["isMonotonic"], true);
    let hist = &metrics["interop.latency"]["histogram"]["dataPoints"];
    let last = &hist[hist.as_array().unwrap().len() - 1];
    assert_eq!(num(&last["count"]), 5);
    assert_eq!(last["sum"].as_f64().unwrap(), 150.0);
    let gauge = &metrics["interop.temperature"]["gauge"]["dataPoints"][0];
    assert_eq!(gauge["asDouble"].as_f64().unwrap(), 42.5);
    assert_eq!(attrs(&gauge["attributes"])["sensor"], "cpu");

    // Logs: every record once, with its attribute and severity.
    let want_logs = manifest["logs"].as_array().unwrap();
    assert_eq!(logs.len(), want_logs.len());
    let bodies: std::collections::BTreeSet<&str> =
        logs.iter().map(|(b, _, _)| b.as_str()).collect();
    assert_eq!(bodies.len(), want_logs.len(), "duplicate log records");
    for w in want_logs {
        assert!(bodies.contains(w.as_str().unwrap()), "log {w} missing");
    }
    for (body, a, rec) in &logs {
        let i: i64 = body.rsplit('#').next().unwrap().parse().unwrap();
        assert_eq!(a["log.index"], json!(i));
        assert_eq!(rec["severityText"], "WARN");
    }
    eprintln!(
        "interop {protocol}: {} spans, {} metrics, {} log records verified",
        spans.len(),
        metrics.len(),
        logs.len()
    );
}

#[test]
fn python_sdk_over_otlp_grpc() {
    run("grpc");
}

#[test]
fn python_sdk_over_otlp_http() {
    run("http");
}
