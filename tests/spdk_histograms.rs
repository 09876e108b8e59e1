//! `spdk.bdev.io.latency` end to end: the real `strata` binary scrapes a fake SPDK target that
//! serves the recorded v25.09 `bdev_get_histogram` responses (`tests/fixtures/spdk-extra/`,
//! from `spdk_tgt` under NVMe-oF/TCP load) with SPDK's enable/-12/-19 behaviour, and exports
//! them with the `file` and `prometheus` exporters; `promtool check metrics` judges the text.

mod common;

use std::time::Duration;

use common::fake_spdk::FakeSpdk;
use common::{Strata, eventually, free_port, read_lines, try_http_get};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, metric::Data};
use serde_json::json;
use strata_pipelines::Metrics;

fn config(socket: &str, histograms: &str, prom_port: u16) -> String {
    format!(
        r#"
receivers:
  spdk:
    endpoint: unix://{socket}
    collection_interval: 300ms
    initial_delay: 0s
    timeout: 2s
    histograms: {histograms}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
  prometheus: {{ endpoint: "127.0.0.1:{prom_port}" }}
service:
  pipelines:
    metrics: {{ receivers: [spdk], exporters: [file, prometheus] }}
"#
    )
}

fn attr(p: &HistogramDataPoint, key: &str) -> Option<String> {
    p.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Av::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// Every `spdk.bdev.io.latency` point written so far, in order: (bdev, point).
fn latency_points(s: &Strata) -> Vec<(String, HistogramDataPoint)> {
    let lines: Vec<Metrics> = read_lines(&s.path("out.jsonl"));
    let mut out = Vec::new();
    for m in lines {
        for rm in m.resource_metrics {
            for sm in rm.scope_metrics {
                for metric in sm.metrics {
                    if metric.name != "spdk.bdev.io.latency" {
                        continue;
                    }
                    assert_eq!(metric.unit, "s");
                    let Some(Data::Histogram(h)) = metric.data else {
                        panic!("spdk.bdev.io.latency is not a histogram: {:?}", metric.data)
                    };
                    assert_eq!(h.aggregation_temporality, 2, "cumulative");
                    for p in h.data_points {
                        out.push((attr(&p, "spdk.bdev.name").unwrap(), p));
                    }
                }
            }
        }
    }
    out
}

fn wait(s: &Strata, what: &str, f: impl FnMut() -> bool) {
    assert!(
        eventually(Duration::from_secs(20), f),
        "{what}; log:\n{}",
        s.log()
    );
}

/// The four recorded bdevs, enabled by the receiver, read as the recording goes on: Malloc0
/// before, during and after the 12 s perf run. Counts equal the decoded totals of the
/// fixtures' README, one series per bdev that keeps its start while it grows, and the
/// Prometheus text passes `promtool check metrics`.
#[tokio::test(flavor = "multi_thread")]
async fn every_bdev_histogram_reaches_otlp_and_prometheus() {
    let fake = FakeSpdk::start().await;
    fake.set_histograms(
        "Malloc0",
        &[
            "bdev_get_histogram__Malloc0__before_io.json",
            "bdev_get_histogram__Malloc0__during_io.json",
            "bdev_get_histogram__Malloc0.json",
        ],
    );
    fake.set_histograms("Nvme0n1", &["bdev_get_histogram__Nvme0n1.json"]);
    fake.set_histograms("Malloc1", &["bdev_get_histogram__Malloc1_read_only.json"]);
    fake.set_histograms("Null0", &["bdev_get_histogram__Null0_custom.json"]);
    let prom = free_port();
    let s = Strata::start(
        &config(
            &fake.socket.display().to_string(),
            "{ enabled: true }",
            prom,
        ),
        &[prom],
    );
    wait(&s, "Malloc0 never reached its final count", || {
        latency_points(&s)
            .iter()
            .any(|(b, p)| b == "Malloc0" && p.count == 1_087_973)
    });
    // Each bdev enabled once, with SPDK's defaults (no opc for `all`).
    let enables = fake.params("bdev_enable_histogram");
    for b in ["Malloc0", "Malloc1", "Null0", "Nvme0n1"] {
        assert_eq!(
            enables
                .iter()
                .filter(|p| **p == json!({"name": b, "enable": true}))
                .count(),
            1,
            "{enables:?}"
        );
    }
    let points = latency_points(&s);
    let malloc0: Vec<&HistogramDataPoint> = points
        .iter()
        .filter(|(b, _)| b == "Malloc0")
        .map(|(_, p)| p)
        .collect();
    // before (0) → during → after: one series, non-decreasing, same start.
    assert_eq!(malloc0[0].count, 0);
    assert!(malloc0.windows(2).all(
        |w| w[0].count <= w[1].count && w[0].start_time_unix_nano == w[1].start_time_unix_nano
    ));
    assert!(malloc0.iter().any(|p| p.count > 0 && p.count < 1_087_973));
    let last = malloc0.last().unwrap();
    // One bucket per power-of-two range: 24 ranges (5..=28), 23 bounds.
    assert_eq!(last.explicit_bounds.len(), 23);
    assert_eq!(last.bucket_counts.len(), 24);
    assert_eq!(last.bucket_counts.iter().sum::<u64>(), last.count);
    assert_eq!(last.bucket_counts[4], 522_086, "range 9 of the README");
    assert_eq!(last.explicit_bounds[4], 65535.0 / 2.45e9);
    let mean = last.sum.unwrap() / last.count as f64;
    assert!((mean - 28.67e-6).abs() < 0.2e-6, "{mean}");
    assert_eq!(attr(last, "spdk.bdev.io.type").as_deref(), Some("all"));
    for (bdev, total) in [
        ("Nvme0n1", 481_576),
        ("Malloc1", 677_006),
        ("Null0", 481_575),
    ] {
        assert!(
            points.iter().any(|(b, p)| b == bdev && p.count == total),
            "{bdev}: {:?}",
            points
                .iter()
                .filter(|(b, _)| b == bdev)
                .map(|(_, p)| p.count)
                .collect::<Vec<_>>()
        );
    }

    // Prometheus: _bucket/_sum/_count per bdev, valid per promtool.
    let mut text = String::new();
    wait(&s, "no histogram on /metrics", || {
        text = try_http_get(prom, "/metrics").unwrap_or_default();
        text.contains("spdk_bdev_io_latency_seconds_count{") && text.contains("1087973")
    });
    for suffix in ["_bucket{", "_sum{", "_count{"] {
        assert!(
            text.contains(&format!("spdk_bdev_io_latency_seconds{suffix}")),
            "{suffix}\n{text}"
        );
    }
    assert!(text.contains("# TYPE spdk_bdev_io_latency_seconds histogram"));
    let promtool = std::env::var("STRATA_PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
    if !std::path::Path::new(&promtool).exists() {
        assert!(
            std::env::var("STRATA_REQUIRE_INTEROP").is_err(),
            "STRATA_REQUIRE_INTEROP is set but {promtool} is missing"
        );
        eprintln!("skipping promtool: {promtool} is missing (scripts/test installs it)");
        return;
    }
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "interop promtool: spdk_bdev_io_latency_seconds of 4 bdevs ({} lines) passes promtool check metrics",
        text.lines()
            .filter(|l| l.starts_with("spdk_bdev_io_latency_seconds"))
            .count()
    );
}

/// SPDK's pitfalls, each with one warning: a channel created after enabling (iostat grows,
/// the histogram stays at zero: disabled and enabled again, a new series), an SPDK restart
/// (-12: enabled again), a bdev that does not exist (-19), and `io_type` and `bounds`.
#[tokio::test(flavor = "multi_thread")]
async fn pitfalls_are_handled_and_warned_once() {
    let fake = FakeSpdk::start().await;
    fake.add_bdev("Null1");
    // Null1 was enabled before nvmf created its channel: zeros while iostat counts 868k I/Os,
    // until the receiver disables and enables it again.
    fake.set_histograms(
        "Null1",
        &[
            "bdev_get_histogram__Null1_channel_created_after_enable.json",
            "bdev_get_histogram__Null1_channel_created_after_enable.json",
            "bdev_get_histogram__Null1_after_disable_reenable.json",
        ],
    );
    fake.set_sequence(
        "bdev_get_iostat",
        &[
            "../spdk-extra/histogram/bdev_get_iostat__Null1.json",
            "../spdk-extra/histogram/bdev_get_iostat__Null1_2.json",
        ],
    );
    let prom = free_port();
    let s = Strata::start(
        &config(
            &fake.socket.display().to_string(),
            "{ enabled: true, bdevs: [Null1, NoSuchBdev], io_type: read, bounds: [0.00001, 0.0001] }",
            prom,
        ),
        &[prom],
    );
    wait(&s, "Null1 never recovered", || {
        latency_points(&s)
            .iter()
            .any(|(b, p)| b == "Null1" && p.count == 658_754)
    });
    let log = s.log();
    assert_eq!(
        log.matches("channels created after bdev_enable_histogram")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("no such bdev (-19)").count(), 1, "{log}");
    // Disabled, then enabled again, with the configured opc.
    let enables = fake.params("bdev_enable_histogram");
    let null1: Vec<_> = enables.iter().filter(|p| p["name"] == "Null1").collect();
    assert_eq!(
        null1,
        [
            &json!({"name": "Null1", "enable": true, "opc": "read"}),
            &json!({"name": "Null1", "enable": false}),
            &json!({"name": "Null1", "enable": true, "opc": "read"}),
        ]
    );
    let points: Vec<HistogramDataPoint> = latency_points(&s)
        .into_iter()
        .filter(|(b, _)| b == "Null1")
        .map(|(_, p)| p)
        .collect();
    let zero = &points[0];
    let recovered = points.iter().find(|p| p.count == 658_754).unwrap();
    assert!(
        recovered.start_time_unix_nano > zero.start_time_unix_nano,
        "a new series after re-enabling"
    );
    assert_eq!(
        attr(recovered, "spdk.bdev.io.type").as_deref(),
        Some("read")
    );
    // Bounds snapped up to SPDK edges: 10 µs and 100 µs, 3 buckets, every count kept.
    assert_eq!(recovered.explicit_bounds.len(), 2);
    assert!(recovered.explicit_bounds[0] >= 1e-5 && recovered.explicit_bounds[0] < 1.01e-5);
    assert_eq!(recovered.bucket_counts.iter().sum::<u64>(), 658_754);
    assert!(
        s.counter("strata_receiver_spdk_histogram_enables{receiver=\"spdk\",reason=\"stale\"}")
            >= 1
    );

    // SPDK restarts: the histogram is gone (-12) and enabled again, with one warning.
    let before = fake.params("bdev_enable_histogram").len();
    fake.restart();
    wait(&s, "not enabled again after the restart", || {
        fake.params("bdev_enable_histogram").len() > before
            && s.counter(
                "strata_receiver_spdk_histogram_enables{receiver=\"spdk\",reason=\"lost\"}",
            ) >= 1
    });
    let log = s.log();
    assert_eq!(log.matches("is not enabled (-12)").count(), 1, "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// `enable: false`: the receiver never enables a histogram; one it cannot read says how.
#[tokio::test(flavor = "multi_thread")]
async fn without_enable_the_receiver_only_reads() {
    let fake = FakeSpdk::start().await;
    let prom = free_port();
    let s = Strata::start(
        &config(
            &fake.socket.display().to_string(),
            "{ enabled: true, bdevs: [Malloc0], enable: false }",
            prom,
        ),
        &[prom],
    );
    wait(&s, "no -12 counted", || {
        s.counter(
            "strata_receiver_spdk_call_errors{receiver=\"spdk\",method=\"bdev_get_histogram\",cause=\"not_enabled\"}",
        ) >= 2
    });
    assert!(fake.params("bdev_enable_histogram").is_empty());
    let log = s.log();
    assert_eq!(
        log.matches("set histograms.enable: true").count(),
        1,
        "{log}"
    );
    assert!(latency_points(&s).is_empty());
}
