//! Behaviour tables of the `filter` processor on all three signals.

use std::sync::Arc;

use strata_pipelines::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use strata_pipelines::proto::tonic::logs::v1::LogRecord;
use strata_pipelines::proto::tonic::metrics::v1::metric::Data;
use strata_pipelines::proto::tonic::metrics::v1::{Histogram, HistogramDataPoint};
use strata_pipelines::proto::tonic::trace::v1::span::Event;
use strata_pipelines::proto::tonic::trace::v1::{Span, Status};
use strata_pipelines::testing::{CollectingConsumer, fake};
use strata_pipelines::{
    ComponentId, Kind, Logs, Metrics, Process, Settings, SignalData, Telemetry, Traces, YamlValue,
    config::parse_component, processor_fn,
};

use super::processor::Compiled;
use super::{Config, Filter};

fn cfg(yaml: &str) -> Result<Filter, String> {
    let v: YamlValue = serde_yaml_ng::from_str(yaml).unwrap();
    let c = parse_component::<Config>("processors::filter", v).map_err(|e| e.to_string())?;
    Compiled::new(&c, "processors::filter")
        .map(|c| Filter(Arc::new(c)))
        .map_err(|e| e.to_string())
}

fn err(yaml: &str) -> String {
    cfg(yaml).unwrap_err()
}

fn int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

/// One resource (`service.name=svc-0`), one scope, and these spans:
/// a: SERVER, http.route=/healthz, 2 events (grpc.call, exception)
/// b: CLIENT, status ERROR, retries=3
/// c: INTERNAL, no attributes
fn spans() -> Traces {
    let mut t = fake::traces(1, 3);
    let s = &mut t.resource_spans[0].scope_spans[0].spans;
    s[0] = Span {
        name: "a".into(),
        kind: 2,
        attributes: vec![fake::kv("http.route", "/healthz")],
        events: vec![
            Event {
                name: "grpc.call".into(),
                ..Default::default()
            },
            Event {
                name: "exception".into(),
                attributes: vec![fake::kv("exception.type", "Boom")],
                ..Default::default()
            },
        ],
        ..s[0].clone()
    };
    s[1] = Span {
        name: "b".into(),
        kind: 3,
        status: Some(Status {
            code: 2,
            message: "failed".into(),
        }),
        attributes: vec![int("retries", 3)],
        ..s[1].clone()
    };
    s[2] = Span {
        name: "c".into(),
        kind: 1,
        attributes: vec![],
        ..s[2].clone()
    };
    t
}

fn span_names(t: &Option<Traces>) -> Vec<String> {
    t.iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn span_conditions_table() {
    let table: &[(&str, &[&str])] = &[
        (r#"name == "a""#, &["b", "c"]),
        (r#"span.name != "a""#, &["a"]),
        (r#"attributes["http.route"] == "/healthz""#, &["b", "c"]),
        (r#"attributes["http.route"] == nil"#, &["a"]),
        (r#"attributes["retries"] >= 3"#, &["a", "c"]),
        (r#"attributes["retries"] > 3.5"#, &["a", "b", "c"]),
        (r#"attributes["retries"] == "3""#, &["a", "b", "c"]), // types differ: not equal
        ("kind == SPAN_KIND_INTERNAL", &["a", "b"]),
        ("status.code == STATUS_CODE_ERROR", &["a", "c"]),
        (r#"status.message == "failed""#, &["a", "c"]),
        (r#"resource.attributes["service.name"] == "svc-0""#, &[]),
        (r#"instrumentation_scope.name == "strata.test""#, &[]),
        (r#"IsMatch(name, "^[ab]$")"#, &["c"]),
        (r#"IsMatch(attributes["retries"], "^3$")"#, &["a", "c"]),
        (r#"IsString(attributes["http.route"])"#, &["b", "c"]),
        (r#"IsInt(attributes["retries"])"#, &["a", "c"]),
        (r#"not (name == "a" or name == "b")"#, &["a", "b"]),
        (
            r#"name == "a" or name == "b" and kind == SPAN_KIND_SERVER"#,
            &["b", "c"],
        ),
        (
            r#"(name == "a" or name == "b") and kind == SPAN_KIND_CLIENT"#,
            &["a", "c"],
        ),
        ("false", &["a", "b", "c"]),
    ];
    for (cond, kept) in table {
        let f =
            cfg(&format!("traces: {{span: ['{cond}']}}")).unwrap_or_else(|e| panic!("{cond}: {e}"));
        let out = Process::<Traces>::process(&f, spans()).unwrap();
        assert_eq!(span_names(&out), *kept, "{cond}");
    }
}

#[test]
fn span_events_are_dropped_and_dropped_spans_take_theirs() {
    let f =
        cfg(r#"traces: {spanevent: ['IsMatch(name, ".*grpc.*")', 'span.name == "b"']}"#).unwrap();
    let out = Process::<Traces>::process(&f, spans()).unwrap().unwrap();
    let s = &out.resource_spans[0].scope_spans[0].spans;
    assert_eq!(s.len(), 3, "events are not spans");
    assert_eq!(s[0].events.len(), 1);
    assert_eq!(s[0].events[0].name, "exception");
    let f = cfg(r#"traces: {spanevent: ['attributes["exception.type"] == "Boom"']}"#).unwrap();
    let out = Process::<Traces>::process(&f, spans()).unwrap().unwrap();
    assert_eq!(
        out.resource_spans[0].scope_spans[0].spans[0].events.len(),
        1
    );
}

#[test]
fn legacy_span_rules_table() {
    let table: &[(&str, &[&str])] = &[
        ("exclude: {match_type: strict, span_names: [a, c]}", &["b"]),
        (
            "exclude: {match_type: regexp, span_names: ['^[ab]']}",
            &["c"],
        ),
        ("include: {match_type: strict, span_names: [a]}", &["a"]),
        (
            "exclude: {match_type: strict, span_kinds: [SPAN_KIND_CLIENT, server]}",
            &["c"],
        ),
        ("exclude: {match_type: strict, services: [svc-0]}", &[]),
        (
            "exclude: {match_type: strict, services: [svc-1]}",
            &["a", "b", "c"],
        ),
        (
            "exclude: {match_type: strict, attributes: [{key: retries, value: 3}]}",
            &["a", "c"],
        ),
        (
            "exclude: {match_type: strict, attributes: [{key: http.route}]}",
            &["b", "c"],
        ),
        // All attributes must match.
        (
            "exclude: {match_type: strict, attributes: [{key: http.route}, {key: retries}]}",
            &["a", "b", "c"],
        ),
        (
            "exclude: {match_type: regexp, attributes: [{key: http.route, value: '^/health'}]}",
            &["b", "c"],
        ),
        (
            "exclude: {match_type: strict, libraries: [{name: strata.test}]}",
            &[],
        ),
        (
            "exclude: {match_type: strict, libraries: [{name: strata.test, version: '2'}]}",
            &["a", "b", "c"],
        ),
        (
            "exclude: {match_type: strict, resources: [{key: service.name, value: svc-0}]}",
            &[],
        ),
        // Every property given must match.
        (
            "exclude: {match_type: strict, span_names: [a], span_kinds: [SPAN_KIND_CLIENT]}",
            &["a", "b", "c"],
        ),
        (
            "{include: {match_type: strict, span_names: [a, b]}, exclude: {match_type: strict, span_names: [b]}}",
            &["a"],
        ),
    ];
    for (rule, kept) in table {
        let yaml = if rule.starts_with('{') {
            format!("spans: {rule}")
        } else {
            format!("spans: {{{rule}}}")
        };
        let f = cfg(&yaml).unwrap_or_else(|e| panic!("{rule}: {e}"));
        let out = Process::<Traces>::process(&f, spans()).unwrap();
        assert_eq!(span_names(&out), *kept, "{rule}");
    }
}

/// Points of every metric, as `name:point` strings.
fn points(m: &Option<Metrics>) -> Vec<String> {
    let mut out = Vec::new();
    for r in m.iter().flat_map(|m| &m.resource_metrics) {
        for s in &r.scope_metrics {
            for m in &s.metrics {
                match &m.data {
                    Some(Data::Gauge(g)) => {
                        for p in &g.data_points {
                            out.push(format!(
                                "{}:{}",
                                m.name,
                                p.attributes[0]
                                    .value
                                    .as_ref()
                                    .map(|v| format!("{:?}", v.value))
                                    .unwrap_or_default()
                            ));
                        }
                    }
                    Some(Data::Histogram(h)) => {
                        out.extend(h.data_points.iter().map(|_| format!("{}:h", m.name)));
                    }
                    _ => {}
                }
            }
        }
    }
    out.into_iter()
        .map(|s| s.replace("Some(StringValue(\"", "").replace("\"))", ""))
        .collect()
}

/// Two gauges (`test.gauge.0`, `test.gauge.1`) with points 0 and 1, and a histogram `h` with
/// one point.
fn metrics() -> Metrics {
    let mut m = fake::metrics(1, 2, 2);
    m.resource_metrics[0].scope_metrics[0].metrics.push(
        strata_pipelines::proto::tonic::metrics::v1::Metric {
            name: "h".into(),
            unit: "s".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![fake::kv("point", "0")],
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        },
    );
    m
}

#[test]
fn metric_and_data_point_conditions_table() {
    let all = [
        "test.gauge.0:0",
        "test.gauge.0:1",
        "test.gauge.1:0",
        "test.gauge.1:1",
        "h:h",
    ];
    let table: &[(&str, &[&str])] = &[
        (
            r#"metric: ['name == "test.gauge.0"']"#,
            &["test.gauge.1:0", "test.gauge.1:1", "h:h"],
        ),
        ("metric: ['type == METRIC_DATA_TYPE_HISTOGRAM']", &all[..4]),
        (r#"metric: ['unit == "s"']"#, &all[..4]),
        (r#"metric: ['HasAttrOnDatapoint("point", "1")']"#, &["h:h"]),
        (r#"metric: ['HasAttrKeyOnDatapoint("nope")']"#, &all),
        (
            r#"datapoint: ['attributes["point"] == "1"']"#,
            &["test.gauge.0:0", "test.gauge.1:0", "h:h"],
        ),
        (
            "datapoint: ['value_int == 0']",
            &["test.gauge.0:1", "test.gauge.1:1", "h:h"],
        ),
        (
            r#"datapoint: ['metric.name == "test.gauge.1" and attributes["point"] == "0"']"#,
            &["test.gauge.0:0", "test.gauge.0:1", "test.gauge.1:1", "h:h"],
        ),
        (
            "datapoint: ['metric.type == METRIC_DATA_TYPE_HISTOGRAM']",
            &all[..4],
        ),
        (
            "include: {match_type: regexp, metric_names: ['^test\\.']}",
            &all[..4],
        ),
        (
            "exclude: {match_type: strict, metric_names: [h, test.gauge.1]}",
            &all[..2],
        ),
        (
            "include: {match_type: strict, metric_names: [h], resource_attributes: [{key: service.name, value: svc-9}]}",
            &[],
        ),
    ];
    for (rule, kept) in table {
        let f = cfg(&format!("metrics: {{{rule}}}")).unwrap_or_else(|e| panic!("{rule}: {e}"));
        let out = Process::<Metrics>::process(&f, metrics()).unwrap();
        assert_eq!(points(&out), *kept, "{rule}");
    }
    // A metric left without points is removed, and so are empty scopes and resources.
    let f =
        cfg(r#"metrics: {datapoint: ['resource.attributes["service.name"] == "svc-0"']}"#).unwrap();
    let out = Process::<Metrics>::process(&f, metrics()).unwrap().unwrap();
    assert!(out.resource_metrics.is_empty());
}

/// Log records with severities 0 (unset), 5 DEBUG, 9 INFO, 13 WARN, 17 ERROR; bodies
/// `log 0/i`; the WARN one carries `password=hunter2` in its body.
fn logs() -> Logs {
    let mut l = fake::logs(1, 5);
    for (i, r) in l.resource_logs[0].scope_logs[0]
        .log_records
        .iter_mut()
        .enumerate()
    {
        let (n, t) = [
            (0, ""),
            (5, "DEBUG"),
            (9, "INFO"),
            (13, "WARN"),
            (17, "ERROR"),
        ][i];
        r.severity_number = n;
        r.severity_text = t.into();
        if n == 13 {
            r.body = Some(AnyValue {
                value: Some(any_value::Value::StringValue(
                    "login password=hunter2".into(),
                )),
            });
        }
        r.attributes = vec![int("i", i as i64)];
    }
    l
}

fn severities(l: &Option<Logs>) -> Vec<i32> {
    l.iter()
        .flat_map(|l| &l.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|r: &LogRecord| r.severity_number)
        .collect()
}

#[test]
fn log_conditions_table() {
    let table: &[(&str, &[i32])] = &[
        (
            "log_record: ['severity_number < SEVERITY_NUMBER_WARN']",
            &[13, 17],
        ),
        (
            "log_record: ['severity_number >= SEVERITY_NUMBER_ERROR']",
            &[0, 5, 9, 13],
        ),
        (
            r#"log_record: ['severity_text == "DEBUG"']"#,
            &[0, 9, 13, 17],
        ),
        (
            r#"log_record: ['IsMatch(body, ".*password.*")']"#,
            &[0, 5, 9, 17],
        ),
        (r#"log_record: ['log.body == "log 0/0"']"#, &[5, 9, 13, 17]),
        (r#"log_record: ['attributes["i"] > 2']"#, &[0, 5, 9]),
        ("include: {severity_number: {min: INFO}}", &[9, 13, 17]),
        (
            "include: {severity_number: {min: 9, match_undefined: true}}",
            &[0, 9, 13, 17],
        ),
        (
            "include: {match_type: regexp, severity_texts: ['WARN[2-4]?', 'ERROR[2-4]?']}",
            &[13, 17],
        ),
        (
            "exclude: {match_type: regexp, bodies: ['password']}",
            &[0, 5, 9, 17],
        ),
        (
            "exclude: {match_type: strict, record_attributes: [{key: i, value: 1}]}",
            &[0, 9, 13, 17],
        ),
        (
            "include: {match_type: strict, resource_attributes: [{key: service.name, value: svc-0}]}",
            &[0, 5, 9, 13, 17],
        ),
    ];
    for (rule, kept) in table {
        let f = cfg(&format!("logs: {{{rule}}}")).unwrap_or_else(|e| panic!("{rule}: {e}"));
        let out = Process::<Logs>::process(&f, logs()).unwrap();
        assert_eq!(severities(&out), *kept, "{rule}");
    }
}

#[test]
fn config_default_passes_everything() {
    let f = cfg("{}").unwrap();
    assert_eq!(
        Process::<Traces>::process(&f, spans()).unwrap(),
        Some(spans())
    );
    assert_eq!(
        Process::<Metrics>::process(&f, metrics()).unwrap(),
        Some(metrics())
    );
    assert_eq!(Process::<Logs>::process(&f, logs()).unwrap(), Some(logs()));
}

#[test]
fn config_errors_name_their_path() {
    let cases: &[(&str, &str)] = &[
        ("tracez: {}", "unknown key \"tracez\""),
        ("traces: {spans: []}", "unknown key \"spans\""),
        ("error_mode: loud", "unknown variant `loud`"),
        (
            "traces: {span: ['name == \"a\"', 'severity_number > 1']}",
            "processors::filter::traces::span::1: unknown path severity_number in the span context",
        ),
        (
            "traces: {spanevent: ['Truncate(name)']}",
            "processors::filter::traces::spanevent::0: unsupported function Truncate",
        ),
        (
            "metrics: {metric: ['type == METRIC_DATA_TYPE_GIZMO']}",
            "processors::filter::metrics::metric::0: unknown enum METRIC_DATA_TYPE_GIZMO",
        ),
        (
            "metrics: {datapoint: ['IsMatch(metric.name, \"[\")']}",
            "processors::filter::metrics::datapoint::0: IsMatch: invalid regex",
        ),
        (
            "logs: {log_record: ['body ==']}",
            "processors::filter::logs::log_record::0: unexpected end",
        ),
        (
            "spans: {exclude: {match_type: regexp, span_names: ['(']}}",
            "processors::filter::spans::exclude::span_names::0: invalid regexp",
        ),
        (
            "spans: {exclude: {match_type: strict, span_kinds: [SPAN_KIND_SIDEWAYS]}}",
            "processors::filter::spans::exclude::span_kinds::0: unknown span kind",
        ),
        (
            "spans: {exclude: {match_type: strict}}",
            "processors::filter::spans::exclude: at least one property",
        ),
        (
            "spans: {exclude: {match_type: regexp, attributes: [{key: a, value: 3}]}}",
            "processors::filter::spans::exclude::attributes::0::value: must be a string pattern",
        ),
        (
            "metrics: {include: {match_type: expr, metric_names: [a]}}",
            "unknown variant `expr`",
        ),
        (
            "logs: {include: {severity_number: {min: LOUD}}}",
            "processors::filter::logs::include::severity_number::min: must be a severity number",
        ),
        (
            "logs: {include: {severity_number: {min: 25}}}",
            "processors::filter::logs::include::severity_number::min",
        ),
        (
            "logs: {exclude: {match_type: regexp, bodies: ['(']}}",
            "processors::filter::logs::exclude::bodies::0: invalid regexp",
        ),
        (
            "logs: {exclude: {match_type: regexp, record_attributes: [{key: a, value: '('}]}}",
            "processors::filter::logs::exclude::record_attributes::0::value: invalid regexp",
        ),
        (
            "metrics: {exclude: {match_type: strict, resource_attributes: [{key: a, value: [1]}]}}",
            "processors::filter::metrics::exclude::resource_attributes::0::value: must be a scalar",
        ),
        (
            "metrics: {metric: ['name == \"a\"'], exclude: {match_type: strict, metric_names: [b]}}",
            "processors::filter::metrics: OTTL conditions and legacy include/exclude cannot be used together",
        ),
        (
            "logs: {log_record: ['HasAttrKeyOnDatapoint(\"a\")']}",
            "only available in the metric context",
        ),
    ];
    for (yaml, want) in cases {
        let e = err(yaml);
        assert!(e.contains(want), "{yaml}: got {e:?}, want {want:?}");
    }
}

#[test]
fn collector_documentation_configs_load_unchanged() {
    let all: serde_yaml_ng::Mapping =
        serde_yaml_ng::from_str(include_str!("testdata/config.yaml")).unwrap();
    assert!(all.len() >= 10);
    for (id, v) in all {
        let c = parse_component::<Config>("p", v).unwrap_or_else(|e| panic!("{id:?}: {e}"));
        Compiled::new(&c, "p").unwrap_or_else(|e| panic!("{id:?}: {e}"));
    }
}

#[tokio::test]
async fn drops_are_reported_as_partial_success_and_counted() {
    let telemetry = Telemetry::default();
    let set = Settings {
        kind: Kind::Processor,
        id: ComponentId::new("filter", Some("x")),
        telemetry: telemetry.clone(),
    };
    let next = Arc::new(CollectingConsumer::<Traces>::default());
    let p = processor_fn(
        &set,
        cfg(r#"traces: {span: ['name != "b"']}"#).unwrap(),
        next.clone(),
    );
    let a = p.consume(spans()).await.unwrap();
    assert_eq!(a.rejected, 2);
    assert_eq!(a.message, "2 spans dropped by processor filter/x");
    assert_eq!(next.item_count(), 1);

    // Everything dropped: the next consumer is not called at all.
    let p = processor_fn(&set, cfg("traces: {span: ['true']}").unwrap(), next.clone());
    let a = p.consume(spans()).await.unwrap();
    assert_eq!(a.rejected, 3);
    assert_eq!(next.batches().len(), 1);

    let text = telemetry.render();
    assert!(
        text.contains(
            "otelcol_processor_incoming_items{processor=\"filter/x\",otel_signal=\"traces\"} 6"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "otelcol_processor_outgoing_items{processor=\"filter/x\",otel_signal=\"traces\"} 1"
        ),
        "{text}"
    );
    assert_eq!(spans().item_count(), 3);
}
