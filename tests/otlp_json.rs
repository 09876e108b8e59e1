//! OTLP/JSON through the real binary: the OTLP/HTTP receiver decodes per the proto3 JSON
//! mapping (values the old decoder lost arrive, wrong types get a 400 naming the JSON path and
//! nothing of the request is accepted), and the `file` exporter writes canonical OTLP/JSON.
//! The opentelemetry-proto examples (tests/fixtures/otlp-json, v1.10.0) go through unchanged.

mod common;

use std::time::Duration;

use common::otlp::http_post;
use common::{Strata, eventually, free_port};
use serde_json::{Value, json};

fn lines(s: &Strata, file: &str) -> Vec<Value> {
    std::fs::read_to_string(s.path(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn post(port: u16, signal: &str, body: &[u8]) -> (u16, String) {
    let r = http_post(
        port,
        &format!("/v1/{signal}"),
        &[("Content-Type", "application/json")],
        body,
    );
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

fn gauge(point: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "m", "gauge": {"dataPoints": [point]}}
    ]}]}]}))
    .unwrap()
}

#[test]
fn json_in_per_the_mapping_and_canonical_json_out() {
    let http = free_port();
    let s = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: "127.0.0.1:{http}"
exporters:
  file/traces: {{ path: "{{dir}}/traces.jsonl" }}
  file/metrics: {{ path: "{{dir}}/metrics.jsonl" }}
  file/logs: {{ path: "{{dir}}/logs.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file/traces] }}
    metrics: {{ receivers: [otlp], exporters: [file/metrics] }}
    logs: {{ receivers: [otlp], exporters: [file/logs] }}
"#
        ),
        &[http],
    );
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/otlp-json");
    for (file, signal) in [
        ("trace.json", "traces"),
        ("metrics.json", "metrics"),
        ("logs.json", "logs"),
        ("events.json", "logs"),
    ] {
        let (status, body) = post(http, signal, &std::fs::read(fixtures.join(file)).unwrap());
        assert_eq!(status, 200, "{file}: {body}");
        assert_eq!(body, "{}", "{file}");
    }

    // Values the proto3 mapping allows, which arrive with their value.
    for v in [json!("2.5"), json!("NaN"), json!("-Infinity"), json!(7)] {
        let (status, body) = post(http, "metrics", &gauge(json!({"asDouble": v})));
        assert_eq!(status, 200, "{v}: {body}");
    }
    // Wrong types: 400 naming the JSON path; nothing of the request is accepted.
    for bad in [json!({"asInt": true}), json!({"asInt": [1]})] {
        let (status, body) = post(http, "metrics", &gauge(bad.clone()));
        assert_eq!(status, 400, "{bad}: {body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains(
                "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asInt"
            ),
            "{message}"
        );
        assert_eq!(status["code"], json!(3));
    }
    let (status, body) = post(
        http,
        "traces",
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"ok","traceId":"5b8efff798038103d269b633813fc60c"},{"name":"bad","spanId":"xyz"}]}]}]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("spans[1].spanId"), "{body}");

    assert!(
        eventually(Duration::from_secs(10), || lines(&s, "metrics.jsonl").len()
            == 5
            && lines(&s, "logs.jsonl").len() == 2
            && !lines(&s, "traces.jsonl").is_empty()),
        "{}",
        s.log()
    );
    // The refused trace request left nothing: only the example's one span arrived.
    let traces = lines(&s, "traces.jsonl");
    assert_eq!(traces.len(), 1);
    let span = &traces[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], json!("5b8efff798038103d269b633813fc60c"));
    assert_eq!(span["kind"], json!(2));
    assert_eq!(span["startTimeUnixNano"], json!("1544712660000000000"));

    let metrics = lines(&s, "metrics.jsonl");
    let value = |i: usize| {
        metrics[i]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]
            ["asDouble"]
            .clone()
    };
    assert_eq!(
        [value(1), value(2), value(3), value(4)],
        [json!(2.5), json!("NaN"), json!("-Infinity"), json!(7.0)]
    );
    for file in ["traces.jsonl", "metrics.jsonl", "logs.jsonl"] {
        let text = std::fs::read_to_string(s.path(file)).unwrap();
        assert!(!text.contains("null"), "{file}: {text}");
        assert!(!text.contains("\"droppedAttributesCount\":0"), "{file}");
    }
}
