//! The node tier end to end: the OpenTelemetry Python SDK (installed into `.venv` by
//! `scripts/test`) sends traces, metrics and logs over OTLP/HTTP to the real `strata` binary
//! running `otlp → memory_limiter → resourcedetection → resource → redaction → filter → batch
//! → file`. The file must show the detected Kubernetes and DPU identity on every resource, every
//! secret masked with the summary counts, and the filtered items gone; the SDK must have been
//! told, in the OTLP partial success, how many items were rejected.
//!
//! Without the venv the test says so and returns, unless `STRATA_REQUIRE_INTEROP=1`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Strata, attrs, free_port, read_lines};
use serde_json::Value;

fn python() -> Option<PathBuf> {
    common::interop_python("opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http")
}

fn write(root: &Path, rel: &str, s: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

/// A DPU's root as `resourcedetection` reads it: DMI identity, hostname, machine id.
fn fake_dpu_root(root: &Path) {
    write(
        root,
        "sys/class/dmi/id/sys_vendor",
        "https://www.mellanox.com\n",
    );
    write(root, "sys/class/dmi/id/product_name", "BlueField-3 DPU\n");
    write(root, "sys/class/dmi/id/product_serial", "MT2334XZ0A1B\n");
    write(root, "proc/sys/kernel/hostname", "dpu-node-7\n");
    write(root, "etc/machine-id", "4b1d0c6f2a3e4f5a9b8c7d6e5f4a3b2c\n");
}

const DOWNWARD_API: &[(&str, &str)] = &[
    ("K8S_POD_NAME", "strata-node-x7k2p"),
    ("K8S_POD_UID", "0f0e0d0c-0000-4000-8000-000000000001"),
    ("K8S_NAMESPACE", "observability"),
    ("K8S_NODE_NAME", "worker-3"),
    ("K8S_CLUSTER_NAME", "edge-1"),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=staging",
    ),
];

fn check_identity(resource: &BTreeMap<String, Value>) {
    let want = [
        ("k8s.pod.name", "strata-node-x7k2p"),
        ("k8s.pod.uid", "0f0e0d0c-0000-4000-8000-000000000001"),
        ("k8s.namespace.name", "observability"),
        ("k8s.node.name", "worker-3"),
        ("k8s.cluster.name", "edge-1"),
        ("dpu.vendor", "https://www.mellanox.com"),
        ("dpu.model", "BlueField-3 DPU"),
        ("dpu.serial_number", "MT2334XZ0A1B"),
        ("host.name", "dpu-node-7"),
        ("host.id", "4b1d0c6f2a3e4f5a9b8c7d6e5f4a3b2c"),
        ("os.type", "linux"),
        ("deployment.environment.name", "staging"),
        ("strata.tier", "node"),
        ("service.name", "checkout"),
    ];
    for (k, v) in want {
        assert_eq!(
            resource.get(k),
            Some(&Value::from(v)),
            "{k} in {resource:?}"
        );
    }
}

#[test]
fn python_sdk_through_the_node_pipeline() {
    let Some(py) = python() else { return };
    let root = tempfile::tempdir().unwrap();
    fake_dpu_root(root.path());
    let http = free_port();
    let cfg = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  memory_limiter: {{ check_interval: 1s, limit_mib: 1024 }}
  resourcedetection:
    detectors: [env, k8s, dpu, system]
    override: false
    dpu: {{ root_path: "{root}" }}
    system: {{ root_path: "{root}" }}
  resource:
    attributes:
      - {{ key: strata.tier, value: node, action: upsert }}
  redaction:
    allow_all_keys: true
    presets: [secrets]
    summary: info
  filter:
    error_mode: ignore
    traces:
      span: ['name == "healthz"']
    metrics:
      metric: ['name == "noisy.debug.counter"']
    logs:
      log_record: ['severity_number < SEVERITY_NUMBER_INFO']
  batch: {{ timeout: 100ms }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, resourcedetection, resource, redaction, filter, batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [memory_limiter, resourcedetection, resource, redaction, filter, batch], exporters: [file] }}
    logs: {{ receivers: [otlp], processors: [memory_limiter, resourcedetection, resource, redaction, filter, batch], exporters: [file] }}
"#,
        root = root.path().display()
    );
    let s = Strata::start_with_env(&cfg, &[http], DOWNWARD_API);
    let manifest_path = s.path("manifest.json");
    let out = Command::new(&py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/node_client.py"
        ))
        .args(["--endpoint", &format!("http://127.0.0.1:{http}")])
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
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let rejected = |signal: &str| -> u64 {
        m["responses"][signal]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rejected"].as_u64().unwrap())
            .sum()
    };
    // The sender was told exactly what the filter dropped.
    assert_eq!(rejected("traces"), m["healthz"].as_u64().unwrap());
    assert_eq!(rejected("metrics"), m["noisy_points"].as_u64().unwrap());
    assert_eq!(rejected("logs"), m["debug_logs"].as_u64().unwrap());
    let message = m["responses"]["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rejected"].as_u64() > Some(0))
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("filter"), "{message}");

    let lines: Vec<Value> = read_lines(&s.path("out.jsonl"));
    let (mut spans, mut points, mut logs) = (0, 0, 0);
    let mut metric_names = Vec::new();
    for line in &lines {
        for rs in line["resourceSpans"].as_array().into_iter().flatten() {
            check_identity(&attrs(&rs["resource"]["attributes"]));
            for sp in rs["scopeSpans"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["spans"].as_array().unwrap())
            {
                spans += 1;
                assert_ne!(sp["name"], "healthz", "filtered span exported");
                let a = attrs(&sp["attributes"]);
                assert_eq!(a["http.url"], "https://user:****@host/x?password=****");
                assert_eq!(a["db.password"], "****");
                assert_eq!(a["http.request.header.authorization"], "****");
                assert_eq!(a["payment.card"], "****");
                assert_eq!(a["http.request.method"], "GET");
                assert_eq!(a["redaction.masked.count"], 4);
                let e = attrs(&sp["events"][0]["attributes"]);
                assert_eq!(e["note"], "auth Bearer **** expired");
                assert_eq!(e["redaction.masked.count"], 1);
            }
        }
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            check_identity(&attrs(&rm["resource"]["attributes"]));
            for sm in rm["scopeMetrics"].as_array().unwrap() {
                for metric in sm["metrics"].as_array().unwrap() {
                    metric_names.push(metric["name"].as_str().unwrap().to_owned());
                    points += metric["sum"]["dataPoints"].as_array().map_or(0, Vec::len);
                }
            }
        }
        for rl in line["resourceLogs"].as_array().into_iter().flatten() {
            check_identity(&attrs(&rl["resource"]["attributes"]));
            for l in rl["scopeLogs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["logRecords"].as_array().unwrap())
            {
                logs += 1;
                let body = l["body"]["stringValue"].as_str().unwrap();
                assert!(
                    body.ends_with("via https://svc:****@bank.example/api"),
                    "{body}"
                );
                assert!(
                    l["severityNumber"].as_u64().unwrap() >= 9,
                    "debug log exported"
                );
                assert_eq!(attrs(&l["attributes"])["redaction.body.masked.count"], 1);
            }
        }
    }
    assert_eq!(spans, m["spans"].as_u64().unwrap());
    assert_eq!(logs, m["info_logs"].as_u64().unwrap());
    assert_eq!(metric_names, ["checkout.requests"]);
    assert_eq!(points, 1);
    println!(
        "interop node pipeline: {spans} spans, {points} data point, {logs} logs delivered; rejected {} spans, {} points, {} logs",
        rejected("traces"),
        rejected("metrics"),
        rejected("logs")
    );
}
