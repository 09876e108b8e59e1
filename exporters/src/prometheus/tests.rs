use std::time::Duration;

use strata_pipelines::Metrics;
use strata_pipelines::proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use strata_pipelines::proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use strata_pipelines::proto::tonic::resource::v1::Resource;
use strata_translators::attr::{kv, string};

use super::render::{Format, render};
use super::{Accumulator, Config};

fn point(v: f64, t: u64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..NumberDataPoint::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help"),
        unit: unit.into(),
        data: Some(data),
        ..Metric::default()
    }
}

fn sum(monotonic: bool, delta: bool, points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: if delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32,
        is_monotonic: monotonic,
    })
}

fn hist(delta: bool, counts: Vec<u64>, sum: f64, t: u64) -> Data {
    Data::Histogram(Histogram {
        data_points: vec![HistogramDataPoint {
            attributes: vec![kv("bdev", string("Nvme0n1"))],
            time_unix_nano: t,
            count: counts.iter().sum(),
            sum: Some(sum),
            bucket_counts: counts,
            explicit_bounds: vec![0.001, 0.01, 0.1],
            ..HistogramDataPoint::default()
        }],
        aggregation_temporality: if delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32,
    })
}

fn request(metrics: Vec<Metric>) -> Metrics {
    Metrics {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", string("spdk")),
                    kv("service.namespace", string("dpu")),
                    kv("service.instance.id", string("dpu-7:spdk")),
                    kv("k8s.node.name", string("node-3")),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "strata/spdk".into(),
                    version: "0.1.0".into(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn text(acc: &Accumulator, format: Format) -> String {
    let (families, targets) = acc.snapshot();
    render(&families, &targets, format, false)
}

#[test]
fn series_names_labels_and_target_info() {
    let acc = Accumulator::new(&Config::default());
    let dropped = acc.accumulate(&request(vec![
        metric(
            "hw.temperature",
            "Cel",
            Data::Gauge(Gauge {
                data_points: vec![point(41.5, 10, vec![kv("hw.id", string("cpu\"0\""))])],
            }),
        ),
        metric(
            "system.cpu.time",
            "s",
            sum(
                true,
                false,
                vec![point(12.25, 10, vec![kv("cpu.mode", string("user"))])],
            ),
        ),
        metric(
            "spdk.bdev.latency",
            "s",
            hist(false, vec![1, 2, 3, 4], 0.5, 10),
        ),
    ]));
    assert!(dropped.is_empty(), "{dropped:?}");
    let out = text(&acc, Format::Text);
    let common = r#"instance="dpu-7:spdk",job="dpu/spdk",otel_scope_name="strata/spdk",otel_scope_version="0.1.0""#;
    for line in [
        "# TYPE hw_temperature_celsius gauge".to_owned(),
        "# HELP hw_temperature_celsius hw.temperature help".to_owned(),
        format!(r#"hw_temperature_celsius{{hw_id="cpu\"0\"",{common}}} 41.5"#),
        "# TYPE system_cpu_time_seconds_total counter".to_owned(),
        format!(r#"system_cpu_time_seconds_total{{cpu_mode="user",{common}}} 12.25"#),
        "# TYPE spdk_bdev_latency_seconds histogram".to_owned(),
        format!(r#"spdk_bdev_latency_seconds_bucket{{bdev="Nvme0n1",{common},le="0.001"}} 1"#),
        format!(r#"spdk_bdev_latency_seconds_bucket{{bdev="Nvme0n1",{common},le="0.1"}} 6"#),
        format!(r#"spdk_bdev_latency_seconds_bucket{{bdev="Nvme0n1",{common},le="+Inf"}} 10"#),
        format!(r#"spdk_bdev_latency_seconds_sum{{bdev="Nvme0n1",{common}}} 0.5"#),
        format!(r#"spdk_bdev_latency_seconds_count{{bdev="Nvme0n1",{common}}} 10"#),
        "# TYPE target_info gauge".to_owned(),
        r#"target_info{instance="dpu-7:spdk",job="dpu/spdk",k8s_node_name="node-3"} 1"#.to_owned(),
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line}\n{out}");
    }
    assert!(
        !out.contains("k8s_node_name=\"node-3\",otel"),
        "resource labels off by default"
    );
}

#[test]
fn deltas_accumulate_and_cumulative_points_replace() {
    let acc = Accumulator::new(&Config::default());
    for t in 1..=3 {
        acc.accumulate(&request(vec![
            metric(
                "spdk.bdev.io",
                "{operation}",
                sum(true, true, vec![point(5.0, t, vec![])]),
            ),
            metric(
                "spdk.bdev.latency",
                "s",
                hist(true, vec![1, 0, 0, 1], 1.0, t),
            ),
            metric(
                "queue.depth",
                "",
                sum(false, false, vec![point(t as f64, t, vec![])]),
            ),
        ]));
    }
    // An older cumulative point does not overwrite a newer one.
    acc.accumulate(&request(vec![metric(
        "queue.depth",
        "",
        sum(false, false, vec![point(99.0, 1, vec![])]),
    )]));
    let out = text(&acc, Format::Text);
    assert!(
        out.contains("\nspdk_bdev_io_total{") && out.contains("} 15\n"),
        "{out}"
    );
    assert!(out.contains("# TYPE queue_depth gauge"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("queue_depth{") && l.ends_with(" 3")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("spdk_bdev_latency_seconds_count{") && l.ends_with(" 6")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("spdk_bdev_latency_seconds_sum{") && l.ends_with(" 3")),
        "{out}"
    );
}

#[test]
fn namespace_const_labels_resource_conversion_and_open_metrics() {
    let cfg: Config = strata_pipelines::config::parse_component(
        "e",
        serde_yaml_ng::from_str(include_str!("testdata/config.yaml")).unwrap(),
    )
    .unwrap();
    let acc = Accumulator::new(&cfg);
    acc.accumulate(&request(vec![metric(
        "system.network.io",
        "By",
        sum(
            true,
            false,
            vec![point(1024.0, 1_700_000_000_000_000_000, vec![])],
        ),
    )]));
    let om = text(&acc, Format::OpenMetrics);
    assert!(
        om.contains("# TYPE dpu_system_network_io_bytes counter\n"),
        "{om}"
    );
    assert!(
        om.contains("# UNIT dpu_system_network_io_bytes bytes\n"),
        "{om}"
    );
    assert!(om.contains(r#"dpu_system_network_io_bytes_total{fleet="east",instance="dpu-7:spdk",job="dpu/spdk",k8s_node_name="node-3","#), "{om}");
    assert!(om.ends_with("# EOF\n"), "{om}");
    let (families, targets) = acc.snapshot();
    let with_ts = render(&families, &targets, Format::Text, true);
    assert!(with_ts.contains("} 1024 1700000000000\n"), "{with_ts}");
    assert_eq!(
        Format::negotiate(
            Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            true
        ),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text"), false),
        Format::Text
    );
    assert_eq!(Format::negotiate(None, true), Format::Text);
}

#[test]
fn unsupported_points_are_reported_and_series_expire() {
    let cfg = Config {
        metric_expiration: Duration::from_millis(50),
        ..Config::default()
    };
    let acc = Accumulator::new(&cfg);
    let dropped = acc.accumulate(&request(vec![
        metric(
            "exp",
            "",
            Data::ExponentialHistogram(ExponentialHistogram::default()),
        ),
        metric(
            "dup_total",
            "",
            Data::Gauge(Gauge {
                data_points: vec![point(1.0, 1, vec![])],
            }),
        ),
        metric("dup", "", sum(true, false, vec![point(1.0, 1, vec![])])),
    ]));
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0].1.contains("already a gauge"), "{dropped:?}");
    let mut exp = ExponentialHistogram::default();
    exp.data_points.push(Default::default());
    let dropped = acc.accumulate(&request(vec![metric(
        "exp",
        "",
        Data::ExponentialHistogram(exp),
    )]));
    assert!(dropped[0].1.contains("exponential"), "{dropped:?}");
    assert!(text(&acc, Format::Text).contains("dup_total{"));
    std::thread::sleep(Duration::from_millis(80));
    let out = text(&acc, Format::Text);
    assert!(
        !out.contains("dup_total{") && !out.contains("target_info"),
        "expired: {out}"
    );
}

/// The Collector's naming keys: `add_metric_suffixes: false` and
/// `translation_strategy: UnderscoreEscapingWithoutSuffixes` drop unit and type suffixes (the
/// strategy wins over the deprecated key), `without_scope_info` drops the scope labels,
/// `exclude_service_attributes` decides whether `service.*` are labels besides job/instance;
/// the UTF-8 strategies are refused with why.
#[test]
fn naming_keys_of_the_collector() {
    let parse = |y: &str| {
        strata_pipelines::config::parse_component::<Config>(
            "e",
            serde_yaml_ng::from_str(y).unwrap(),
        )
    };
    let m = || {
        request(vec![metric(
            "system.network.io",
            "By",
            sum(
                true,
                false,
                vec![point(1.0, 1_700_000_000_000_000_000, vec![])],
            ),
        )])
    };
    for (yaml, name) in [
        ("{}", "system_network_io_bytes_total{"),
        ("add_metric_suffixes: false", "system_network_io{"),
        (
            "translation_strategy: UnderscoreEscapingWithoutSuffixes",
            "system_network_io{",
        ),
        (
            "add_metric_suffixes: false\ntranslation_strategy: UnderscoreEscapingWithSuffixes",
            "system_network_io_bytes_total{",
        ),
    ] {
        let acc = Accumulator::new(&parse(yaml).unwrap());
        acc.accumulate(&m());
        let out = text(&acc, Format::Text);
        assert!(out.contains(name), "{yaml}: {out}");
    }
    let with_scope = Accumulator::new(&parse("{}").unwrap());
    with_scope.accumulate(&m());
    let without = Accumulator::new(&parse("without_scope_info: true").unwrap());
    without.accumulate(&m());
    assert!(text(&with_scope, Format::Text).contains("otel_scope_name="));
    assert!(!text(&without, Format::Text).contains("otel_scope_name="));
    let incl =
        Accumulator::new(&parse("resource_to_telemetry_conversion: {enabled: true}").unwrap());
    incl.accumulate(&m());
    let excl = Accumulator::new(
        &parse(
            "resource_to_telemetry_conversion: {enabled: true, exclude_service_attributes: true}",
        )
        .unwrap(),
    );
    excl.accumulate(&m());
    let (i, e) = (text(&incl, Format::Text), text(&excl, Format::Text));
    assert!(i.contains("service_name="), "{i}");
    assert!(!e.contains("service_name="), "{e}");
    let err = parse("translation_strategy: NoTranslation").unwrap_err();
    assert_eq!(err.path, "e::translation_strategy");
    assert!(err.message.contains("UTF-8"), "{err}");
    assert!(parse("translation_strategy: Nope").is_err());
}
