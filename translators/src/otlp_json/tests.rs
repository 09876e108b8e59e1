//! The OTLP/JSON conformance table: each rule of the proto3 JSON mapping and of the OTLP
//! exceptions, in and out, and the opentelemetry-proto examples.

use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as Num};
use serde_json::json;

type Traces = ExportTraceServiceRequest;
type Metrics = ExportMetricsServiceRequest;
type Logs = ExportLogsServiceRequest;

/// A gauge request with one data point whose fields are `point`.
fn gauge(point: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "m", "gauge": {"dataPoints": [point]}}
    ]}]}]}))
    .unwrap()
}

fn point_value(m: &Metrics) -> Option<Num> {
    match &m.resource_metrics[0].scope_metrics[0].metrics[0].data {
        Some(Data::Gauge(g)) => g.data_points[0].value,
        other => panic!("not a gauge: {other:?}"),
    }
}

const POINT_PATH: &str = "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]";

#[test]
fn doubles_as_numbers_numeric_strings_and_the_special_strings() {
    for (given, want) in [
        (json!(2.5), 2.5),
        (json!("2.5"), 2.5),
        (json!(5), 5.0),
        (json!("1e3"), 1000.0),
        (json!("Infinity"), f64::INFINITY),
        (json!("-Infinity"), f64::NEG_INFINITY),
    ] {
        let m: Metrics = decode(&gauge(json!({ "asDouble": given }))).unwrap();
        assert_eq!(point_value(&m), Some(Num::AsDouble(want)), "{given}");
    }
    let m: Metrics = decode(&gauge(json!({"asDouble": "NaN"}))).unwrap();
    assert!(matches!(point_value(&m), Some(Num::AsDouble(v)) if v.is_nan()));
    // Out: the special values as their strings, a finite double as a number.
    let out = to_value(&m);
    assert_eq!(
        out["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]["asDouble"],
        json!("NaN")
    );
}

#[test]
fn sixty_four_bit_integers_as_strings_or_numbers_and_out_as_strings() {
    for given in [json!("10"), json!(10), json!("-7"), json!(-7)] {
        let m: Metrics = decode(&gauge(
            json!({"asInt": given, "timeUnixNano": "1544712660300000000"}),
        ))
        .unwrap();
        let want = given
            .as_i64()
            .unwrap_or_else(|| given.as_str().unwrap().parse().unwrap());
        assert_eq!(point_value(&m), Some(Num::AsInt(want)));
    }
    let m: Metrics = decode(&gauge(
        json!({"asInt": 10, "timeUnixNano": 1544712660300000000u64}),
    ))
    .unwrap();
    let out = to_value(&m);
    let p = &out["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0];
    assert_eq!(p["asInt"], json!("10"));
    assert_eq!(p["timeUnixNano"], json!("1544712660300000000"));
}

#[test]
fn wrong_types_are_refused_naming_the_json_path() {
    for bad in [
        json!({"asInt": true}),
        json!({"asInt": [1]}),
        json!({"asInt": "ten"}),
        json!({"asInt": {"v": 1}}),
        json!({"asDouble": "2.5x"}),
        json!({"asDouble": false}),
    ] {
        let field = bad.as_object().unwrap().keys().next().unwrap().clone();
        let e = decode::<Metrics>(&gauge(bad.clone())).unwrap_err();
        assert_eq!(e.path, format!("{POINT_PATH}.{field}"), "{bad}: {e}");
        assert!(!e.message.is_empty());
    }
    let e = decode::<Metrics>(&gauge(json!({"timeUnixNano": "yesterday"}))).unwrap_err();
    assert_eq!(e.path, format!("{POINT_PATH}.timeUnixNano"), "{e}");
    let e = decode::<Traces>(br#"{"resourceSpans": {"not": "a list"}}"#).unwrap_err();
    assert_eq!(e.path, "resourceSpans", "{e}");
    let e = decode::<Traces>(br#"{"resourceSpans": [ "#).unwrap_err();
    assert_eq!(e.path, "");
    assert!(e.message.starts_with("not JSON"), "{e}");
}

#[test]
fn enums_as_integers_or_names_and_out_as_integers() {
    for given in [json!(2), json!("AGGREGATION_TEMPORALITY_CUMULATIVE")] {
        let doc = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
            {"name": "c", "sum": {"aggregationTemporality": given, "isMonotonic": true,
             "dataPoints": [{"asInt": "1"}]}}
        ]}]}]});
        let m: Metrics = decode(&serde_json::to_vec(&doc).unwrap()).unwrap();
        let Some(Data::Sum(s)) = &m.resource_metrics[0].scope_metrics[0].metrics[0].data else {
            panic!("not a sum")
        };
        assert_eq!(s.aggregation_temporality, 2);
        let out = to_value(&m);
        assert_eq!(
            out["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"]["aggregationTemporality"],
            json!(2)
        );
    }
    let t: Traces =
        decode(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_CLIENT"}]}]}]}"#)
            .unwrap();
    assert_eq!(t.resource_spans[0].scope_spans[0].spans[0].kind, 3);
}

fn span(fields: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceSpans": [{"scopeSpans": [{"spans": [fields]}]}]})).unwrap()
}

#[test]
fn ids_are_hex_in_either_case_empty_is_absent_and_out_lowercase() {
    let t: Traces = decode(&span(json!({
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "",
        "links": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "EEE19B7EC3C1B173"}]
    })))
    .unwrap();
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(hex::encode(&s.trace_id), "5b8efff798038103d269b633813fc60c");
    assert_eq!(hex::encode(&s.span_id), "eee19b7ec3c1b174");
    assert!(s.parent_span_id.is_empty());
    assert_eq!(hex::encode(&s.links[0].span_id), "eee19b7ec3c1b173");
    let out = to_value(&t);
    let o = &out["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(o["traceId"], json!("5b8efff798038103d269b633813fc60c"));
    assert_eq!(o["links"][0]["spanId"], json!("eee19b7ec3c1b173"));
    assert!(o.get("parentSpanId").is_none(), "{o}");

    // Log records and exemplars carry ids too, by either field name.
    let l: Logs = decode(br#"{"resource_logs":[{"scope_logs":[{"log_records":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708"}]}]}]}"#).unwrap();
    assert_eq!(
        l.resource_logs[0].scope_logs[0].log_records[0].span_id,
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    let m: Metrics = decode(&gauge(
        json!({"asInt": 1, "exemplars": [{"asInt": 1, "spanId": "0102030405060708"}]}),
    ))
    .unwrap();
    let Some(Data::Gauge(g)) = &m.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].exemplars[0].span_id,
        [1, 2, 3, 4, 5, 6, 7, 8]
    );

    for (bad, path) in [
        (
            json!({"traceId": "zz8efff798038103d269b633813fc60c"}),
            "traceId",
        ),
        (json!({"traceId": "5b8efff7"}), "traceId"),
        (
            json!({"spanId": "5b8efff798038103d269b633813fc60c"}),
            "spanId",
        ),
        (json!({"links": [{}, {"spanId": "abc"}]}), "links[1].spanId"),
    ] {
        let e = decode::<Traces>(&span(bad.clone())).unwrap_err();
        assert_eq!(
            e.path,
            format!("resourceSpans[0].scopeSpans[0].spans[0].{path}"),
            "{bad}: {e}"
        );
    }
    // A number where a hex id belongs is a type error of the mapping, with its path.
    let e = decode::<Traces>(&span(json!({"spanId": 7}))).unwrap_err();
    assert_eq!(
        e.path, "resourceSpans[0].scopeSpans[0].spans[0].spanId",
        "{e}"
    );
}

#[test]
fn original_field_names_unknown_fields_and_nulls() {
    let t: Traces = decode(&serde_json::to_vec(&json!({
        "resource_spans": [{
            "resource": null,
            "schema_url": "https://opentelemetry.io/schemas/1.26.0",
            "someFutureField": {"nested": [1, 2, 3]},
            "scope_spans": [{"scope": {"name": "lib", "droppedAttributesCount": null}, "spans": [{
                "name": "s",
                "start_time_unix_nano": "5",
                "endTimeUnixNano": 6,
                "attributes": [{"key": "k", "value": {"intValue": "3", "future": true}}],
                "status": null
            }]}]
        }]
    }))
    .unwrap())
    .unwrap();
    let rs = &t.resource_spans[0];
    assert!(rs.resource.is_none());
    assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.26.0");
    let s = &rs.scope_spans[0].spans[0];
    assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (5, 6));
    assert_eq!(
        s.attributes[0].value.as_ref().unwrap().value,
        Some(Any::IntValue(3))
    );
    assert!(s.status.is_none());
}

#[test]
fn output_is_canonical_defaults_omitted_and_no_nulls() {
    let t: Traces = decode(&span(
        json!({"name": "s", "kind": 0, "droppedAttributesCount": 0,
        "traceId": "5b8efff798038103d269b633813fc60c"}),
    ))
    .unwrap();
    let text = String::from_utf8(encode(&t)).unwrap();
    assert!(!text.contains("null"), "{text}");
    assert_eq!(
        text,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","name":"s"}]}]}]}"#
    );
    // A present but empty message stays (proto3 message presence); an absent one is omitted.
    let mut t = Traces::default();
    t.resource_spans.push(Default::default());
    t.resource_spans[0].resource = Some(Default::default());
    assert_eq!(
        String::from_utf8(encode(&t)).unwrap(),
        r#"{"resourceSpans":[{"resource":{}}]}"#
    );
    assert_eq!(encode(&Traces::default()), b"{}");
}

/// Two JSON documents describe the same protobuf: numbers and numeric strings compare by
/// value, ids by their bytes (case-insensitive hex).
fn same(a: &Value, b: &Value, path: &str) {
    let default = |v: &Value| match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "0",
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    match (a, b) {
        (Value::Null, v) | (v, Value::Null) if default(v) => {}
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            for k in keys {
                same(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                );
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{path}[{i}]"));
            }
        }
        (Value::String(x), Value::String(y)) => {
            assert_eq!(x.to_lowercase(), y.to_lowercase(), "{path}")
        }
        (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => {
            let num = |v: &Value| match v {
                Value::String(s) => s.parse::<f64>().unwrap(),
                v => v.as_f64().unwrap(),
            };
            assert_eq!(num(a), num(b), "{path}: {a} vs {b}");
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

#[test]
fn the_opentelemetry_proto_examples_decode_to_what_they_describe() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/otlp-json");
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();

    let t: Traces = decode(&read("trace.json")).unwrap();
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(hex::encode(&s.trace_id), "5b8efff798038103d269b633813fc60c");
    assert_eq!(hex::encode(&s.parent_span_id), "eee19b7ec3c1b173");
    assert_eq!((s.kind, s.start_time_unix_nano), (2, 1544712660000000000));
    same(
        &to_value(&t),
        &serde_json::from_slice(&read("trace.json")).unwrap(),
        "trace.json",
    );

    let m: Metrics = decode(&read("metrics.json")).unwrap();
    let kinds: Vec<_> = m.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| match &m.data {
            Some(Data::Sum(_)) => "sum",
            Some(Data::Gauge(_)) => "gauge",
            Some(Data::Histogram(_)) => "histogram",
            Some(Data::ExponentialHistogram(_)) => "exponentialHistogram",
            Some(Data::Summary(_)) => "summary",
            None => "none",
        })
        .collect();
    assert_eq!(kinds, ["sum", "gauge", "histogram", "exponentialHistogram"]);
    same(
        &to_value(&m),
        &serde_json::from_slice(&read("metrics.json")).unwrap(),
        "metrics.json",
    );

    for f in ["logs.json", "events.json"] {
        let l: Logs = decode(&read(f)).unwrap();
        assert!(
            !l.resource_logs[0].scope_logs[0].log_records.is_empty(),
            "{f}"
        );
        same(&to_value(&l), &serde_json::from_slice(&read(f)).unwrap(), f);
        // And back: the canonical output decodes to the same protobuf.
        assert_eq!(decode::<Logs>(&encode(&l)).unwrap(), l, "{f}");
    }
    assert_eq!(decode::<Traces>(&encode(&t)).unwrap(), t);
    assert_eq!(decode::<Metrics>(&encode(&m)).unwrap(), m);
}

#[test]
fn responses_have_a_json_form() {
    let r = ExportTraceServiceResponse {
        partial_success: Some(
            opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "bad".into(),
            },
        ),
    };
    assert_eq!(
        String::from_utf8(encode(&r)).unwrap(),
        r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad"}}"#
    );
}
