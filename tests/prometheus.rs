//! Interop with a real Prometheus server (Debian's `prometheus` package, installed by
//! `scripts/test` and started here on loopback): it scrapes two `prometheus` exporters of one
//! `strata` (text format with `const_labels`; OpenMetrics with `namespace` and
//! `resource_to_telemetry_conversion`), fed by the host metrics, SPDK and Redfish receivers
//! (the fakes serving recorded responses) and an OTLP histogram; the test then asks
//! Prometheus's HTTP API for each and checks values and labels.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::fake_redfish::{AuthMode, FakeRedfish};
use common::fake_spdk::{FakeSpdk, recorded_result};
use common::otlp::http_post;
use common::{Strata, eventually, free_port, try_http_get};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics,
    metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

/// Debian's Prometheus server, or `None` (a failure under `STRATA_REQUIRE_INTEROP=1`).
fn prometheus_bin() -> Option<PathBuf> {
    let bin = PathBuf::from(
        std::env::var("STRATA_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into()),
    );
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var("STRATA_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "interop peer missing: {} (scripts/test installs Debian's prometheus)",
        bin.display()
    );
    eprintln!("SKIPPED: {} missing; run scripts/test", bin.display());
    None
}

/// A Prometheus server scraping `targets` (`job name`, `host:port`) every second.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(bin: &PathBuf, targets: &[(&str, String)]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for (job, target) in targets {
            cfg.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            ));
        }
        std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The `result` vector of an instant query: `(labels, value)` per series.
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let Some(body) = try_http_get(self.port, &format!("/api/v1/query?query={encoded}")) else {
            return Vec::new();
        };
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            return Vec::new();
        };
        v["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        (
                            s["metric"].clone(),
                            s["value"][1]
                                .as_str()
                                .unwrap_or("NaN")
                                .parse()
                                .unwrap_or(f64::NAN),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wait_for(&self, strata: &Strata, promql: &str) -> Vec<(Value, f64)> {
        let mut last = Vec::new();
        let ok = eventually(Duration::from_secs(60), || {
            last = self.query(promql);
            !last.is_empty()
        });
        assert!(
            ok,
            "no result for {promql}\nprometheus:\n{}\nstrata:\n{}",
            self.log(),
            strata.log()
        );
        last
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(V::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// One cumulative histogram: bounds 1, 5, 10 ms; counts 2, 3, 4, 1; sum 70.5.
fn histogram() -> ExportMetricsServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "dpu-agent"),
                    kv("service.instance.id", "dpu-7"),
                    kv("k8s.node.name", "node-3"),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "dpu.rpc.duration".into(),
                    description: "SPDK RPC latency".into(),
                    unit: "ms".into(),
                    data: Some(Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            attributes: vec![kv("rpc.method", "bdev_get_iostat")],
                            start_time_unix_nano: now - 60_000_000_000,
                            time_unix_nano: now,
                            count: 10,
                            sum: Some(70.5),
                            bucket_counts: vec![2, 3, 4, 1],
                            explicit_bounds: vec![1.0, 5.0, 10.0],
                            ..HistogramDataPoint::default()
                        }],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn one(results: &[(Value, f64)], what: &str) -> (Value, f64) {
    assert_eq!(results.len(), 1, "{what}: {results:?}");
    results[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_prometheus_scrapes_host_spdk_redfish_and_a_histogram() {
    let Some(bin) = prometheus_bin() else { return };
    let spdk = FakeSpdk::start().await;
    let bmc = FakeRedfish::start(AuthMode::None).await;
    let (text_port, om_port, otlp_http) = (free_port(), free_port(), free_port());
    let cfg = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{otlp_http}" }}
  hostmetrics:
    collection_interval: 1s
    initial_delay: 0s
    scrapers: {{ cpu: , memory: }}
  spdk:
    endpoint: unix://{socket}
    collection_interval: 1s
    initial_delay: 0s
  redfish:
    endpoint: {bmc}
    auth: none
    collection_interval: 1s
    initial_delay: 0s
exporters:
  prometheus:
    endpoint: 127.0.0.1:{text_port}
    const_labels: {{ fleet: test }}
  prometheus/om:
    endpoint: 127.0.0.1:{om_port}
    enable_open_metrics: true
    namespace: om
    resource_to_telemetry_conversion: {{ enabled: true }}
service:
  pipelines:
    metrics: {{ receivers: [otlp, hostmetrics, spdk, redfish], exporters: [prometheus, prometheus/om] }}
"#,
        socket = spdk.socket.display(),
        bmc = bmc.endpoint(),
    );
    let strata = Strata::start(&cfg, &[text_port, om_port, otlp_http]);
    let resp = http_post(
        otlp_http,
        "/v1/metrics",
        &[("content-type", "application/x-protobuf")],
        &histogram().encode_to_vec(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let prom = Prometheus::start(
        &bin,
        &[
            ("strata-text", format!("127.0.0.1:{text_port}")),
            ("strata-om", format!("127.0.0.1:{om_port}")),
        ],
    );

    // Both scrapes succeed: Prometheus parsed the text format and OpenMetrics.
    for job in ["strata-text", "strata-om"] {
        prom.wait_for(&strata, &format!(r#"up{{job="{job}"}} == 1"#));
    }

    // Host metrics, with the const label.
    let cpu = prom.wait_for(
        &strata,
        r#"system_cpu_time_seconds_total{job="strata-text",fleet="test"}"#,
    );
    assert!(cpu.iter().any(|(l, _)| l["state"] == "user"), "{cpu:?}");
    assert!(cpu.iter().all(|(_, v)| *v >= 0.0));
    prom.wait_for(
        &strata,
        r#"system_memory_usage_bytes{job="strata-text",state="used"} > 0"#,
    );

    // SPDK: the fake's recorded bdev_get_iostat, read ops of the first bdev.
    let bdev = &recorded_result("real/bdev_get_iostat.json")["bdevs"][0];
    let (name, reads) = (
        bdev["name"].as_str().unwrap(),
        bdev["num_read_ops"].as_f64().unwrap(),
    );
    let (_, v) = one(
        &prom.wait_for(&strata, &format!(r#"spdk_bdev_io_operations_total{{job="strata-text",spdk_bdev_name="{name}",direction="read"}}"#)),
        "spdk reads",
    );
    assert_eq!(v, reads);

    // Redfish: the mockup's CPU1 temperature sensor, with its hardware labels.
    let sensor = "/redfish/v1/Chassis/1U/Sensors/CPU1Temp";
    let celsius = common::fake_redfish::mockup(sensor).unwrap()["Reading"]
        .as_f64()
        .unwrap();
    let (labels, v) = one(
        &prom.wait_for(
            &strata,
            &format!(r#"hw_temperature_celsius{{job="strata-text",hw_id="{sensor}"}}"#),
        ),
        "CPU1Temp",
    );
    assert_eq!(v, celsius);
    assert_eq!(
        (
            labels["hw_type"].as_str(),
            labels["hw_sensor_location"].as_str()
        ),
        (Some("temperature"), Some("CPU"))
    );

    // The histogram: cumulative buckets, sum, count, its attribute and resource labels (the
    // exposed job/instance become exported_job/exported_instance beside the scrape's own).
    let sel = r#"job="strata-text",rpc_method="bdev_get_iostat",exported_job="dpu-agent",exported_instance="dpu-7""#;
    for (le, want) in [("1", 2.0), ("5", 5.0), ("10", 9.0), ("+Inf", 10.0)] {
        let (_, v) = one(
            &prom.wait_for(
                &strata,
                &format!(r#"dpu_rpc_duration_milliseconds_bucket{{{sel},le="{le}"}}"#),
            ),
            le,
        );
        assert_eq!(v, want, "bucket le={le}");
    }
    assert_eq!(
        one(
            &prom.wait_for(
                &strata,
                &format!("dpu_rpc_duration_milliseconds_sum{{{sel}}}")
            ),
            "sum"
        )
        .1,
        70.5
    );
    assert_eq!(
        one(
            &prom.wait_for(
                &strata,
                &format!("dpu_rpc_duration_milliseconds_count{{{sel}}}")
            ),
            "count"
        )
        .1,
        10.0
    );
    let (_, p50) = one(
        &prom.wait_for(
            &strata,
            &format!("histogram_quantile(0.5, dpu_rpc_duration_milliseconds_bucket{{{sel}}})"),
        ),
        "p50",
    );
    assert!((1.0..=5.0).contains(&p50), "p50 {p50}");
    // target_info carries the other resource attributes.
    one(
        &prom.wait_for(
            &strata,
            r#"target_info{job="strata-text",exported_job="dpu-agent",k8s_node_name="node-3"}"#,
        ),
        "target_info",
    );

    // OpenMetrics endpoint: namespace prefix and resource attributes as labels.
    let (_, v) = one(
        &prom.wait_for(&strata, r#"om_dpu_rpc_duration_milliseconds_count{job="strata-om",k8s_node_name="node-3",exported_job="dpu-agent"}"#),
        "om count",
    );
    assert_eq!(v, 10.0);
    prom.wait_for(
        &strata,
        r#"om_system_cpu_time_seconds_total{job="strata-om"}"#,
    );
    println!(
        "interop prometheus: Prometheus scraped text and OpenMetrics; host, SPDK ({name} reads = {reads}), Redfish (CPU1 {celsius} °C) and histogram (4 buckets, sum 70.5, count 10, p50 {p50:.2}) found via its HTTP API"
    );
}
