//! The `health_check` extension over HTTP across a process's life: ready, a persistent export
//! failure (`/readyz` fails, `/livez` does not), the SIGTERM drain (`/` and `/readyz` fail,
//! `/livez` still answers so a draining pod is not killed), and the exit.

mod common;

use std::time::Duration;

use common::{Strata, eventually, free_port};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use strata_pipelines::testing::fake;

/// `(status code, body)` of `GET path`, or `None` when nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out.split_once("\r\n\r\n")?.1.to_owned()))
}

fn codes(port: u16) -> (u16, u16, u16) {
    let c = |p| get(port, p).map_or(0, |(c, _)| c);
    (c("/"), c("/livez"), c("/readyz"))
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_across_ready_export_failure_drain_and_exit() {
    let (grpc, health, dead) = (free_port(), free_port(), free_port());
    let mut s = Strata::start(
        &format!(
            r#"
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}", exporter_failure_threshold: 1s }}
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc}" }} }} }}
exporters:
  otlp:
    endpoint: 127.0.0.1:{dead}
    tls: {{ insecure: true }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s }}
service:
  extensions: [health_check]
  shutdown_timeout: 4s
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp] }}
"#
        ),
        &[grpc, health],
    );
    assert_eq!(codes(health), (200, 200, 200), "{}", s.log());
    let (_, body) = get(health, "/").unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "Server available");
    assert!(body["upSince"].as_str().is_some() && body["uptime"].as_str().is_some());

    // The exporter's peer is down: after 1 s of failed attempts the pod is not ready, but alive.
    TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap()
        .export(fake::traces(1, 3))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || codes(health) == (200, 200, 503)),
        "{:?}\n{}",
        codes(health),
        s.log()
    );
    let (_, body) = get(health, "/readyz").unwrap();
    assert!(
        body.contains("exporter otlp (traces) has failed every attempt"),
        "{body}"
    );

    // SIGTERM: the queue drains (it cannot: the peer is down) until the deadline; meanwhile
    // the status and readiness fail and liveness holds.
    common::signal(&s.child, "TERM");
    assert!(
        eventually(Duration::from_secs(3), || codes(health) == (503, 200, 503)),
        "{:?}",
        codes(health)
    );
    let (_, body) = get(health, "/").unwrap();
    assert!(body.contains("shutting down"), "{body}");
    // Then it exits and nothing answers.
    assert!(
        eventually(Duration::from_secs(15), || !s.child_alive()),
        "{}",
        s.log()
    );
    assert_eq!(codes(health), (0, 0, 0));
}
