//! Collector-compatible `service.telemetry` and the process's self-description: a pull reader
//! sets the self-metrics endpoint; `/metrics` has the Collector's process metrics and
//! `target_info` with `service.telemetry.resource`; the first log line names the version, the
//! sources and a fingerprint of the config; what Strata does not implement is refused by name.

mod common;

use common::{Strata, free_port};

#[test]
fn readers_resource_process_metrics_and_startup_line() {
    let (grpc, port) = (free_port(), free_port());
    let s = Strata::start(
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc}" }} }} }}
exporters:
  debug: {{ sampling_initial: 5, sampling_thereafter: 200 }}
  otlphttp: {{ endpoint: "http://127.0.0.1:1" }}
service:
  telemetry:
    resource: {{ deployment.environment: test, service.instance.id: null }}
    logs: {{ level: info, development: true, sampling: {{ enabled: false, initial: 10 }}, output_paths: [stderr] }}
    metrics:
      readers:
        - pull: {{ exporter: {{ prometheus: {{ host: 127.0.0.1, port: {port} }} }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug, otlphttp] }}
"#
        ),
        &[grpc, port],
    );
    let page = common::http_get(port, "/metrics");
    for want in [
        "otelcol_process_uptime ",
        "otelcol_process_memory_rss ",
        "otelcol_process_cpu_seconds ",
        "otelcol_process_runtime_heap_alloc_bytes ",
        "otelcol_process_runtime_total_sys_memory_bytes ",
        "target_info{deployment_environment=\"test\",service_name=\"strata\",service_version=\"",
    ] {
        assert!(page.contains(want), "{want} missing:\n{page}");
    }
    assert!(
        !page.contains("service_instance_id"),
        "null removes a default:\n{page}"
    );
    let log = s.log();
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("strata starting")
            && first.contains("version=")
            && first.contains("config_hash="),
        "{first}"
    );
    assert!(
        log.contains("main.rs:"),
        "development: true names the source line:\n{log}"
    );
}

#[test]
fn what_strata_does_not_implement_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let base = "receivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: { receivers: [otlp], exporters: [debug] }\n  telemetry:\n";
    for (extra, want) in [
        (
            "    metrics: { readers: [{ periodic: { exporter: { otlp: { endpoint: x } } } }] }\n",
            "service::telemetry::metrics::readers[0]::periodic: not supported by Strata yet",
        ),
        (
            "    metrics: { readers: [{ pull: { exporter: { prometheus: { port: 1, without_units: true } } } }] }\n",
            "service::telemetry::metrics::readers[0]::pull::exporter::prometheus::without_units: not supported by Strata yet",
        ),
        (
            "    logs: { sampling: { enabled: true } }\n",
            "service::telemetry::logs::sampling::enabled: not supported by Strata yet",
        ),
        (
            "    logs: { output_paths: [/var/log/strata.log] }\n",
            "service::telemetry::logs::output_paths: not supported by Strata yet",
        ),
    ] {
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, format!("{base}{extra}")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["validate", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{extra} validated");
        assert!(text.contains(want), "want {want:?} in:\n{text}");
    }
}

/// Lines a component logs from its tasks name it with the Collector's fields.
#[tokio::test(flavor = "multi_thread")]
async fn component_log_lines_carry_the_component_id_and_kind() {
    let grpc = free_port();
    let s = Strata::start(
        &format!(
            "receivers:\n  otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{grpc}\" }} }} }}\nexporters:\n  otlp/up: {{ endpoint: \"127.0.0.1:1\", tls: {{ insecure: true }}, retry_on_failure: {{ initial_interval: 50ms }} }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [otlp/up] }}\n"
        ),
        &[grpc],
    );
    opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(
        format!("http://127.0.0.1:{grpc}"),
    )
    .await
    .unwrap()
    .export(strata_pipelines::testing::fake::traces(1, 1))
    .await
    .unwrap();
    let want = "otelcol.component.id=otlp/up otelcol.component.kind=exporter";
    assert!(
        common::eventually(std::time::Duration::from_secs(5), || s
            .log()
            .lines()
            .any(|l| l.contains("export failed") && l.contains(want))),
        "{}",
        s.log()
    );
}
