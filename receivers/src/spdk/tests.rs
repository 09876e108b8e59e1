//! Each conversion against the numbers of the recorded SPDK v25.09 responses.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data, number_data_point};
use serde_json::Value;

use super::metrics::{self, DEFS, Kind, Recorder};

macro_rules! fixture {
    ($path:literal) => {{
        let v: Value = serde_json::from_str(include_str!(concat!(
            "../../../tests/fixtures/spdk/",
            $path
        )))
        .unwrap();
        v["result"].clone()
    }};
}

const TICK_RATE: f64 = 2_450_000_000.0;

fn run(f: fn(&mut Recorder, &Value) -> Result<(), String>, result: &Value) -> Vec<Metric> {
    let mut r = metrics::recorder(1, 2);
    f(&mut r, result).unwrap();
    r.finish()
}

fn attr_text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Av::StringValue(s)) => s.clone(),
        Some(Av::IntValue(i)) => i.to_string(),
        Some(Av::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every point of `name` as (attributes "k=v,...", value).
fn points(ms: &[Metric], name: &str) -> Vec<(String, f64)> {
    let m = ms
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    let pts = match &m.data {
        Some(Data::Sum(s)) => &s.data_points,
        Some(Data::Gauge(g)) => &g.data_points,
        _ => panic!("{name}: not a number metric"),
    };
    pts.iter()
        .map(|p| {
            let attrs = p
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, attr_text(&kv.value)))
                .collect::<Vec<_>>()
                .join(",");
            let v = match p.value {
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                Some(number_data_point::Value::AsDouble(d)) => d,
                None => f64::NAN,
            };
            (attrs, v)
        })
        .collect()
}

fn value(ms: &[Metric], name: &str, attrs: &str) -> f64 {
    points(ms, name)
        .into_iter()
        .find(|(a, _)| a == attrs)
        .unwrap_or_else(|| panic!("{name}{{{attrs}}} missing: {:?}", points(ms, name)))
        .1
}

#[test]
fn bdev_iostat_converts_ticks_to_seconds() {
    let ms = run(metrics::bdev_iostat, &fixture!("real/bdev_get_iostat.json"));
    let a = "spdk.bdev.name=Malloc0,direction=read";
    assert_eq!(value(&ms, "spdk.bdev.io.bytes", a), 1_541_464_576.0);
    assert_eq!(value(&ms, "spdk.bdev.io.operations", a), 376_328.0);
    assert_eq!(
        value(&ms, "spdk.bdev.io.time", a),
        60_932_890_509.0 / TICK_RATE
    );
    assert_eq!(
        value(&ms, "spdk.bdev.io.latency.max", a),
        303_386_048.0 / TICK_RATE
    );
    assert_eq!(
        value(&ms, "spdk.bdev.io.latency.min", a),
        2_621.0 / TICK_RATE
    );
    let w = "spdk.bdev.name=Nvme0n1,direction=write";
    assert_eq!(value(&ms, "spdk.bdev.io.bytes", w), 304_250_880.0);
    assert_eq!(
        value(&ms, "spdk.bdev.io.time", w),
        85_218_760_236.0 / TICK_RATE
    );
    // 4 bdevs × 4 directions; no queue-depth sampling in this run, so no such metrics.
    assert_eq!(points(&ms, "spdk.bdev.io.bytes").len(), 16);
    assert!(!ms.iter().any(|m| m.name == "spdk.bdev.queue_depth"));
    // Counters are cumulative monotonic sums with the receiver's start time.
    let m = ms.iter().find(|m| m.name == "spdk.bdev.io.bytes").unwrap();
    match &m.data {
        Some(Data::Sum(s)) => {
            assert!(s.is_monotonic);
            assert_eq!(s.aggregation_temporality, 2);
            assert_eq!(s.data_points[0].start_time_unix_nano, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bdev_iostat_with_queue_depth_sampling() {
    let ms = run(
        metrics::bdev_iostat,
        &fixture!("doc/bdev_get_iostat__qd_sampling.json"),
    );
    assert_eq!(
        value(&ms, "spdk.bdev.queue_depth", "spdk.bdev.name=Nvme0n1"),
        0.0
    );
    assert_eq!(
        value(&ms, "spdk.bdev.io_time", "spdk.bdev.name=Nvme0n1"),
        0.0
    );
    assert_eq!(
        value(
            &ms,
            "spdk.bdev.io.time",
            "spdk.bdev.name=Nvme0n1,direction=read"
        ),
        178_904.0 / 2_200_000_000.0
    );
    // This older shape has no copy fields: no copy points, not zeros.
    assert!(
        !points(&ms, "spdk.bdev.io.bytes")
            .iter()
            .any(|(a, _)| a.ends_with("direction=copy"))
    );
}

#[test]
fn bdev_iostat_per_channel() {
    let mut r = metrics::recorder(1, 2);
    metrics::bdev_iostat_per_channel(
        &mut r,
        "Malloc0",
        &fixture!("real/bdev_get_iostat__per_channel.json"),
    )
    .unwrap();
    let ms = r.finish();
    let a = "spdk.bdev.name=Malloc0,spdk.thread.id=2,direction=read";
    assert_eq!(value(&ms, "spdk.bdev.channel.io.bytes", a), 1_541_427_200.0);
    assert_eq!(
        value(&ms, "spdk.bdev.channel.io.time", a),
        60_932_132_553.0 / TICK_RATE
    );
}

#[test]
fn bdevs_capacity_is_blocks_times_block_size() {
    let ms = run(metrics::bdevs, &fixture!("real/bdev_get_bdevs.json"));
    assert_eq!(
        value(
            &ms,
            "spdk.bdev.capacity",
            "spdk.bdev.name=Malloc0,spdk.bdev.product_name=Malloc disk,spdk.bdev.block_size=512,spdk.bdev.claimed=true"
        ),
        131_072.0 * 512.0
    );
    assert_eq!(
        value(
            &ms,
            "spdk.bdev.capacity",
            "spdk.bdev.name=Malloc1,spdk.bdev.product_name=Malloc disk,spdk.bdev.block_size=4096,spdk.bdev.claimed=true"
        ),
        16_384.0 * 4096.0
    );
    assert_eq!(points(&ms, "spdk.bdev.capacity").len(), 4);
}

#[test]
fn nvmf_stats_tcp_and_rdma() {
    let ms = run(metrics::nvmf_stats, &fixture!("real/nvmf_get_stats.json"));
    let pg = "spdk.nvmf.poll_group.name=nvmf_tgt_poll_group_000";
    assert_eq!(
        value(
            &ms,
            "spdk.nvmf.poll_group.qpairs",
            &format!("{pg},spdk.nvmf.qpair.type=io")
        ),
        5.0
    );
    assert_eq!(
        value(
            &ms,
            "spdk.nvmf.poll_group.qpairs.current",
            &format!("{pg},spdk.nvmf.qpair.type=admin")
        ),
        1.0
    );
    assert_eq!(
        value(&ms, "spdk.nvmf.poll_group.completed_nvme_io", pg),
        1_514_724.0
    );
    let ms = run(
        metrics::nvmf_stats,
        &fixture!("doc/nvmf_get_stats__rdma.json"),
    );
    let dev = "spdk.nvmf.poll_group.name=app_thread,spdk.nvmf.transport.type=RDMA,spdk.nvmf.transport.device=mlx5_0";
    assert_eq!(value(&ms, "spdk.nvmf.transport.requests", dev), 7_582_935.0);
    assert_eq!(
        value(&ms, "spdk.nvmf.transport.request.time", dev),
        1_249_323_766_184.0 / 2_400_000_000.0
    );
    assert_eq!(
        value(
            &ms,
            "spdk.nvmf.transport.pending_data_buffer",
            "spdk.nvmf.poll_group.name=app_thread,spdk.nvmf.transport.type=RDMA"
        ),
        12_131_888.0
    );
}

#[test]
fn nvmf_subsystems_counts() {
    let ms = run(
        metrics::nvmf_subsystems,
        &fixture!("real/nvmf_get_subsystems.json"),
    );
    let c1 = "spdk.nvmf.subsystem.nqn=nqn.2016-06.io.spdk:cnode1,spdk.nvmf.subsystem.type=NVMe";
    assert_eq!(value(&ms, "spdk.nvmf.subsystem.namespaces", c1), 2.0);
    assert_eq!(value(&ms, "spdk.nvmf.subsystem.listeners", c1), 1.0);
    assert_eq!(
        value(
            &ms,
            "spdk.nvmf.subsystem.hosts",
            &format!("{c1},spdk.nvmf.subsystem.allow_any_host=true")
        ),
        0.0
    );
    assert_eq!(points(&ms, "spdk.nvmf.subsystem.listeners").len(), 4);
}

#[test]
fn threads_and_reactors_in_seconds() {
    let ms = run(metrics::threads, &fixture!("real/thread_get_stats.json"));
    let t = "spdk.thread.name=nvmf_tgt_poll_group_000,spdk.thread.id=2";
    assert_eq!(
        value(&ms, "spdk.thread.time", &format!("{t},state=busy")),
        36_914_131_829.0 / TICK_RATE
    );
    assert_eq!(
        value(&ms, "spdk.thread.time", &format!("{t},state=idle")),
        82_784_546_458.0 / TICK_RATE
    );
    assert_eq!(
        value(&ms, "spdk.thread.pollers", &format!("{t},state=active")),
        5.0
    );
    let ms = run(
        metrics::reactors,
        &fixture!("real/framework_get_reactors.json"),
    );
    assert_eq!(
        value(&ms, "spdk.reactor.time", "spdk.reactor.lcore=0,state=busy"),
        41_883_434_371.0 / TICK_RATE
    );
    assert_eq!(
        value(&ms, "spdk.reactor.threads", "spdk.reactor.lcore=0"),
        3.0
    );
}

#[test]
fn accel_iobuf_and_controllers() {
    let ms = run(metrics::accel, &fixture!("real/accel_get_stats.json"));
    assert_eq!(
        value(
            &ms,
            "spdk.accel.operations",
            "spdk.accel.opcode=copy,spdk.accel.module=software,outcome=executed"
        ),
        1_018_106.0
    );
    assert_eq!(
        value(
            &ms,
            "spdk.accel.bytes",
            "spdk.accel.opcode=copy,spdk.accel.module=software"
        ),
        4_170_215_936.0
    );
    assert_eq!(value(&ms, "spdk.accel.sequences", "outcome=failed"), 0.0);
    assert_eq!(points(&ms, "spdk.accel.retries").len(), 4);
    let ms = run(metrics::iobuf, &fixture!("real/iobuf_get_stats.json"));
    assert_eq!(
        value(
            &ms,
            "spdk.iobuf.requests",
            "spdk.iobuf.module=nvmf_TCP,spdk.iobuf.pool=small,spdk.iobuf.source=cache"
        ),
        1_061_125.0
    );
    let ms = run(
        metrics::nvme_controllers,
        &fixture!("real/bdev_nvme_get_controllers.json"),
    );
    assert_eq!(
        value(
            &ms,
            "spdk.nvme.controller.state",
            "spdk.nvme.controller.name=Nvme0,spdk.nvme.controller.cntlid=3,spdk.nvme.controller.state=enabled,network.transport=tcp,server.address=127.0.0.1,server.port=4421,spdk.nvme.subsystem.nqn=nqn.2016-06.io.spdk:cnode2"
        ),
        1.0
    );
    assert_eq!(
        metrics::version(&fixture!("real/spdk_get_version.json")).as_deref(),
        Some("SPDK v25.09")
    );
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let mut r = metrics::recorder(1, 2);
    for (f, v) in [
        (
            metrics::bdev_iostat as fn(&mut Recorder, &Value) -> Result<(), String>,
            Value::Null,
        ),
        (metrics::bdev_iostat, serde_json::json!({"bdevs": []})),
        (metrics::bdevs, serde_json::json!({})),
        (metrics::threads, serde_json::json!([1, 2])),
        (metrics::nvmf_stats, serde_json::json!("x")),
        (metrics::iobuf, serde_json::json!([1])),
    ] {
        let e = f(&mut r, &v).unwrap_err();
        assert!(!e.is_empty());
    }
    // Unexpected members inside are skipped.
    metrics::bdevs(
        &mut r,
        &serde_json::json!([{"name": "x"}, {"block_size": 1}]),
    )
    .unwrap();
    assert!(r.finish().is_empty());
}

#[test]
fn the_metric_table_is_in_the_docs_and_the_readme() {
    crate::recorder::check_documented(
        &metrics::markdown_table(),
        include_str!("mod.rs"),
        include_str!("../../../README.md"),
    )
    .unwrap();
    // Every definition is emitted by some conversion of the fixtures.
    let mut r = metrics::recorder(1, 2);
    metrics::bdev_iostat(&mut r, &fixture!("real/bdev_get_iostat.json")).unwrap();
    metrics::bdev_iostat(&mut r, &fixture!("doc/bdev_get_iostat__qd_sampling.json")).unwrap();
    metrics::bdev_iostat(
        &mut r,
        &serde_json::json!({"tick_rate": 1, "bdevs": [{"name": "e", "io_error": {"nomem": 2}}]}),
    )
    .unwrap();
    metrics::bdev_iostat_per_channel(
        &mut r,
        "Malloc0",
        &fixture!("real/bdev_get_iostat__per_channel.json"),
    )
    .unwrap();
    metrics::bdevs(&mut r, &fixture!("real/bdev_get_bdevs.json")).unwrap();
    metrics::nvmf_stats(&mut r, &fixture!("real/nvmf_get_stats.json")).unwrap();
    metrics::nvmf_stats(&mut r, &fixture!("doc/nvmf_get_stats__rdma.json")).unwrap();
    metrics::nvmf_subsystems(&mut r, &fixture!("real/nvmf_get_subsystems.json")).unwrap();
    metrics::threads(&mut r, &fixture!("real/thread_get_stats.json")).unwrap();
    metrics::reactors(&mut r, &fixture!("real/framework_get_reactors.json")).unwrap();
    metrics::accel(&mut r, &fixture!("real/accel_get_stats.json")).unwrap();
    metrics::iobuf(&mut r, &fixture!("real/iobuf_get_stats.json")).unwrap();
    metrics::nvme_controllers(&mut r, &fixture!("real/bdev_nvme_get_controllers.json")).unwrap();
    let h = super::histogram::SpdkHistogram::decode(&fixture!(
        "../spdk-extra/histogram/bdev_get_histogram__Nvme0n1.json"
    ))
    .unwrap();
    metrics::bdev_histogram(&mut r, "Nvme0n1", "all", &h, 1, &[]);
    let ms = r.finish();
    for d in DEFS {
        let m = ms
            .iter()
            .find(|m| m.name == d.name)
            .unwrap_or_else(|| panic!("{} never emitted", d.name));
        assert_eq!(m.unit, d.unit);
        let is_sum = matches!(m.data, Some(Data::Sum(_)));
        assert_eq!(is_sum, d.kind == Kind::Counter, "{}", d.name);
        let is_histogram = matches!(m.data, Some(Data::Histogram(_)));
        assert_eq!(is_histogram, d.kind == Kind::Histogram, "{}", d.name);
    }
}

mod config {
    use std::time::Duration;

    use strata_pipelines::config::parse_component;

    use super::super::{Config, Endpoint};

    fn parse(yaml: &str) -> Result<Config, String> {
        parse_component::<Config>("receivers::spdk", serde_yaml_ng::from_str(yaml).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_testdata_and_endpoints() {
        let d = parse("{}").unwrap();
        assert_eq!(d, Config::default());
        assert_eq!(d.endpoint, "unix:///var/tmp/spdk.sock");
        assert_eq!(d.collection_interval, Duration::from_secs(10));
        assert!(d.scrapers.bdev_get_iostat.enabled && d.scrapers.iobuf_get_stats.enabled);
        let c = parse(include_str!("testdata/config.yaml")).unwrap();
        assert_eq!(c.scrapers.bdev_get_iostat.per_channel, ["Nvme0n1"]);
        assert!(!c.scrapers.accel_get_stats.enabled);
        assert!(c.tls.insecure_skip_verify);
        for (s, want) in [
            (
                "unix:///var/tmp/spdk.sock",
                Endpoint::Unix("/var/tmp/spdk.sock".into()),
            ),
            ("/run/spdk.sock", Endpoint::Unix("/run/spdk.sock".into())),
            ("10.0.0.5:5260", Endpoint::Tcp("10.0.0.5:5260".into())),
            ("http://dpu:8000", Endpoint::Http("http://dpu:8000".into())),
        ] {
            assert_eq!(Endpoint::parse(s).unwrap(), want);
        }
    }

    #[test]
    fn errors_name_their_path() {
        for (yaml, want) in [
            ("endpint: x", "unknown key \"endpint\""),
            (
                "endpoint: 'dpu'",
                "receivers::spdk::endpoint: \"dpu\" is not",
            ),
            (
                "endpoint: 'unix://'",
                "receivers::spdk::endpoint: unix:// needs a socket path",
            ),
            (
                "{endpoint: 'http://x:1', username: u}",
                "receivers::spdk::password: username and password must be set together",
            ),
            (
                "{username: u, password: p}",
                "receivers::spdk::endpoint: username, password and tls apply to the http(s):// proxy endpoint only",
            ),
            (
                "timeout: 0s",
                "receivers::spdk::timeout: must be greater than 0",
            ),
            (
                "collection_interval: soon",
                "receivers::spdk::collection_interval",
            ),
            (
                "scrapers: {bdev_get_stats: {}}",
                "unknown key \"bdev_get_stats\"",
            ),
            (
                "{endpoint: 'https://x:1', tls: {ca_file: /nonexistent/ca.pem}}",
                "receivers::spdk::tls::ca_file",
            ),
        ] {
            let e = parse(yaml).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }
}
