//! The `attributes` processor on all three signals: selection by include/exclude, actions on
//! spans, span events, log records and data points, and its config.

use strata_pipelines::proto::tonic::common::v1::{KeyValue, any_value::Value as Av};
use strata_pipelines::proto::tonic::trace::v1::span::Event;
use strata_pipelines::testing::fake;
use strata_pipelines::visit::data_point_attributes;
use strata_pipelines::{Logs, Metrics, Process, Signal, Traces, YamlValue};

use super::processor::compile_for;

fn yaml(y: &str) -> YamlValue {
    serde_yaml_ng::from_str(y).unwrap()
}

fn build(signal: Signal, y: &str) -> Result<super::AttributesProcessor, String> {
    compile_for(signal, "processors::attributes", yaml(y)).map_err(|e| e.to_string())
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Av::StringValue(s) => Some(s.clone()),
            Av::IntValue(i) => Some(format!("int:{i}")),
            other => Some(format!("{other:?}")),
        }
    })
}

/// Span name → (its `mark` attribute, the `mark` of its first event).
fn span_marks(t: &Traces) -> Vec<(String, Option<String>, Option<String>)> {
    t.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| {
            (
                s.name.clone(),
                text(&s.attributes, "mark"),
                s.events.first().and_then(|e| text(&e.attributes, "mark")),
            )
        })
        .collect()
}

fn traces() -> Traces {
    // svc-0: span-1, span-2 ; svc-1: span-3, span-4. Every span has one event.
    let mut t = fake::traces(2, 2);
    for s in t
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        s.events.push(Event {
            name: "e".into(),
            ..Default::default()
        });
    }
    t.resource_spans[1].scope_spans[0].spans[0].kind = 2; // span-3 is a SERVER span
    t
}

#[test]
fn spans_are_selected_by_include_and_exclude_and_their_events_follow() {
    let actions = "actions: [{key: mark, value: x, action: insert}]";
    let table: &[(&str, &[&str])] = &[
        ("", &["span-1", "span-2", "span-3", "span-4"]),
        ("include: {services: [svc-1]}", &["span-3", "span-4"]),
        ("exclude: {services: [svc-1]}", &["span-1", "span-2"]),
        (
            "include: {match_type: regexp, span_names: ['^span-[12]$']}",
            &["span-1", "span-2"],
        ),
        (
            "include: {services: [svc-0, svc-1]}\nexclude: {span_names: [span-2]}",
            &["span-1", "span-3", "span-4"],
        ),
        ("include: {span_kinds: [SPAN_KIND_SERVER]}", &["span-3"]),
        ("include: {span_kinds: [server, client]}", &["span-3"]),
        (
            "include: {attributes: [{key: seq, value: '4'}]}",
            &["span-4"],
        ),
        (
            "include: {match_type: regexp, attributes: [{key: seq, value: '^[34]$'}]}",
            &["span-3", "span-4"],
        ),
        ("include: {attributes: [{key: nope}]}", &[]),
        (
            "include: {resources: [{key: service.name, value: svc-0}]}",
            &["span-1", "span-2"],
        ),
        (
            "include: {libraries: [{name: strata.test, version: '1'}]}",
            &["span-1", "span-2", "span-3", "span-4"],
        ),
        (
            "include: {libraries: [{name: strata.test, version: '2'}]}",
            &[],
        ),
    ];
    for (rules, want) in table {
        let p = build(Signal::Traces, &format!("{rules}\n{actions}")).unwrap();
        let out = Process::<Traces>::process(&p, traces()).unwrap().unwrap();
        for (name, mark, event_mark) in span_marks(&out) {
            let selected = want.contains(&name.as_str());
            let expect = selected.then(|| "x".to_string());
            assert_eq!(mark, expect, "{rules}: span {name}");
            assert_eq!(event_mark, expect, "{rules}: event of {name}");
        }
    }
}

#[test]
fn the_match_is_decided_before_the_actions_run() {
    // The exclude rule looks at `seq`, which the actions delete: every span is still judged
    // on its attributes as they arrived.
    let p = build(
        Signal::Traces,
        "exclude: {attributes: [{key: seq, value: '1'}]}\nactions:\n  - {key: seq, action: delete}\n  - {key: mark, value: x, action: insert}",
    )
    .unwrap();
    let out = Process::<Traces>::process(&p, traces()).unwrap().unwrap();
    let marks: Vec<_> = span_marks(&out).into_iter().map(|m| m.1).collect();
    assert_eq!(
        marks,
        [None, Some("x".into()), Some("x".into()), Some("x".into())]
    );
}

#[test]
fn action_table_on_span_attributes() {
    // action × key present / absent × value type, through the processor.
    let cases: &[(&str, Option<&str>)] = &[
        ("{key: seq, value: v, action: insert}", Some("1")),
        ("{key: new, value: v, action: insert}", Some("v")),
        ("{key: seq, value: v, action: update}", Some("v")),
        ("{key: new, value: v, action: update}", None),
        ("{key: seq, value: 7, action: upsert}", Some("int:7")),
        ("{key: new, from_attribute: seq, action: upsert}", Some("1")),
        ("{key: new, from_attribute: missing, action: upsert}", None),
        ("{key: seq, action: delete}", None),
        ("{pattern: '^s.q$', action: delete}", None),
        (
            "{key: seq, action: convert, converted_type: int}",
            Some("int:1"),
        ),
        // `printf 1 | sha256sum`
        (
            "{key: seq, action: hash}",
            Some("6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"),
        ),
    ];
    for (action, want) in cases {
        let p = build(Signal::Traces, &format!("actions: [{action}]")).unwrap();
        let out = Process::<Traces>::process(&p, fake::traces(1, 1))
            .unwrap()
            .unwrap();
        let attrs = &out.resource_spans[0].scope_spans[0].spans[0].attributes;
        let key = if action.contains("key: new") {
            "new"
        } else {
            "seq"
        };
        assert_eq!(text(attrs, key).as_deref(), *want, "{action}");
    }
}

#[test]
fn log_records_are_selected_by_body_severity_and_attributes() {
    let logs = || {
        let mut l = fake::logs(1, 3);
        let recs = &mut l.resource_logs[0].scope_logs[0].log_records;
        recs[0].severity_text = "debug".into();
        recs[0].severity_number = 5;
        recs[1].body = None;
        recs[2].severity_number = 17;
        recs[2].severity_text = "ERROR".into();
        recs[2].attributes.push(fake::kv("password", "p"));
        l
    };
    let table: &[(&str, [bool; 3])] = &[
        ("", [true, true, true]),
        (
            "include: {match_type: regexp, log_bodies: ['^log 0/[02]$']}",
            [true, false, true],
        ),
        (
            "include: {match_type: regexp, log_severity_texts: ['debug.*']}",
            [true, false, false],
        ),
        (
            "include: {log_severity_number: {min: WARN}}",
            [false, false, true],
        ),
        (
            "exclude: {log_severity_number: {min: 1, match_undefined: true}}",
            [false, false, false],
        ),
        (
            "include: {attributes: [{key: password}]}",
            [false, false, true],
        ),
        (
            "exclude: {resources: [{key: service.name, value: svc-0}]}",
            [false, false, false],
        ),
    ];
    for (rules, want) in table {
        let p = build(
            Signal::Logs,
            &format!("{rules}\nactions: [{{key: password, value: obfuscated, action: upsert}}]"),
        )
        .unwrap();
        let out = Process::<Logs>::process(&p, logs()).unwrap().unwrap();
        let got: Vec<bool> = out.resource_logs[0].scope_logs[0]
            .log_records
            .iter()
            .map(|r| text(&r.attributes, "password").as_deref() == Some("obfuscated"))
            .collect();
        assert_eq!(got, want, "{rules}");
    }
}

#[test]
fn data_points_of_the_selected_metrics_are_edited() {
    let table: &[(&str, [bool; 2])] = &[
        ("", [true, true]),
        ("include: {metric_names: [test.gauge.1]}", [false, true]),
        (
            "exclude: {match_type: regexp, metric_names: ['gauge\\.0$']}",
            [false, true],
        ),
        (
            "include: {resources: [{key: service.name, value: svc-0}]}",
            [true, true],
        ),
        (
            "include: {resources: [{key: service.name, value: svc-9}]}",
            [false, false],
        ),
    ];
    for (rules, want) in table {
        let p = build(
            Signal::Metrics,
            &format!("{rules}\nactions: [{{key: point, action: convert, converted_type: int}}]"),
        )
        .unwrap();
        let mut out = Process::<Metrics>::process(&p, fake::metrics(1, 2, 3))
            .unwrap()
            .unwrap();
        for (i, m) in out.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter_mut()
            .enumerate()
        {
            let mut n = 0;
            data_point_attributes(&mut m.data, |a| {
                let converted = text(a, "point").unwrap().starts_with("int:");
                assert_eq!(converted, want[i], "{rules}: metric {i}");
                n += 1;
            });
            assert_eq!(n, 3);
        }
    }
}

#[test]
fn properties_that_do_not_apply_to_the_signal_are_refused() {
    let a = "actions: [{key: k, action: delete}]";
    let cases = [
        (
            Signal::Traces,
            "include: {log_bodies: [x]}",
            "include::log_bodies",
        ),
        (
            Signal::Traces,
            "exclude: {metric_names: [x]}",
            "exclude::metric_names",
        ),
        (
            Signal::Logs,
            "include: {services: [x]}",
            "include::services",
        ),
        (
            Signal::Logs,
            "include: {span_kinds: [server]}",
            "include::span_kinds",
        ),
        (
            Signal::Metrics,
            "include: {attributes: [{key: k}]}",
            "include::attributes",
        ),
        (
            Signal::Metrics,
            "include: {span_names: [x]}",
            "include::span_names",
        ),
        (
            Signal::Metrics,
            "include: {libraries: [{name: x}]}",
            "include::libraries",
        ),
    ];
    for (signal, rules, field) in cases {
        let e = build(signal, &format!("{rules}\n{a}")).err().unwrap();
        assert_eq!(
            e,
            format!("processors::attributes::{field}: does not apply to {signal}"),
        );
    }
    // The same blocks are fine for the signal they belong to.
    build(Signal::Logs, &format!("include: {{log_bodies: [x]}}\n{a}")).unwrap();
    build(
        Signal::Metrics,
        &format!("include: {{metric_names: [x]}}\n{a}"),
    )
    .unwrap();
}

#[test]
fn config_default_unknown_fields_and_each_validation_error() {
    let cases = [
        (
            "{}",
            "processors::attributes::actions: at least one action is required",
        ),
        (
            "actions: []",
            "processors::attributes::actions: at least one action is required",
        ),
        (
            "actions: [{key: a, action: delete}]\nnope: 1",
            "unknown key \"nope\"",
        ),
        (
            "actions: [{key: a, action: insert}]",
            "processors::attributes::actions::0::value",
        ),
        (
            "actions: [{key: a, action: frobnicate}]",
            "unknown variant `frobnicate`",
        ),
        (
            "actions: [{key: a, from_context: x-tenant, action: insert}]",
            "processors::attributes::actions::0::from_context",
        ),
        (
            "include: {match_type: strict}\nactions: [{key: a, action: delete}]",
            "processors::attributes::include: at least one property",
        ),
        (
            "include: {match_type: regexp, span_names: ['(']}\nactions: [{key: a, action: delete}]",
            "processors::attributes::include::span_names::0: invalid regexp",
        ),
        (
            "exclude: {span_kinds: [sideways]}\nactions: [{key: a, action: delete}]",
            "processors::attributes::exclude::span_kinds::0: unknown span kind",
        ),
        (
            "include: {match_type: fuzzy, services: [a]}\nactions: [{key: a, action: delete}]",
            "unknown variant `fuzzy`",
        ),
    ];
    for (y, want) in cases {
        let e = build(Signal::Traces, y)
            .err()
            .unwrap_or_else(|| panic!("{y} loaded"));
        assert!(e.contains(want), "{y}: {e}");
    }
}

#[test]
fn the_collector_documentation_configs_load() {
    let v = yaml(include_str!("testdata/config.yaml"));
    let procs = v["processors"].as_mapping().unwrap();
    assert_eq!(procs.len(), 18);
    for (k, c) in procs {
        let name = k.as_str().unwrap();
        let signal = if name.starts_with("attributes/log_") {
            Signal::Logs
        } else {
            Signal::Traces
        };
        let path = format!("processors::{name}");
        compile_for(signal, &path, c.clone()).unwrap_or_else(|e| panic!("{e}"));
    }
}
