//! Collector keys end to end: a key Strata accepts without effect is named with its reason by
//! `strata validate` and in the start-up log, never refused; an optional section with
//! `enabled: false` is off; and keys implemented from the Collector's key set
//! (`tests/fixtures/collector-keys.tsv`) act as the Collector's do: the OTLP/HTTP receiver's
//! `*_url_path` and `response_headers`, the `otlp_http` exporter's `proxy_url`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Command;
use std::time::Duration;

use common::otlp::http_post;
use common::{Strata, eventually, free_port};
use prost::Message;
use strata_pipelines::testing::fake;

#[test]
fn keys_without_effect_are_warned_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
        read_buffer_size: 524288
        keepalive:
          enforcement_policy: { min_time: 5s }
      http:
        enabled: false
        endpoint: 127.0.0.1:0
processors:
  memory_limiter: { limit_mib: 100, min_gc_interval_when_soft_limited: 10s }
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    wait_for_ready: true
    balancer_name: round_robin
service:
  pipelines:
    traces: { receivers: [otlp], processors: [memory_limiter], exporters: [otlp] }
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for key in [
        "receivers::otlp::protocols::grpc::read_buffer_size",
        "receivers::otlp::protocols::grpc::keepalive::enforcement_policy",
        "processors::memory_limiter::min_gc_interval_when_soft_limited",
        "exporters::otlp::wait_for_ready",
        "exporters::otlp::balancer_name",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("warning: {key}: accepted without effect: "))),
            "no warning for {key}:\n{text}"
        );
    }
    // `http: {enabled: false}` is the section turned off, not a key without effect.
    assert!(!text.contains("protocols::http"), "{text}");
}

#[test]
fn otlp_http_receiver_paths_and_response_headers() {
    let http = free_port();
    let s = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
        traces_url_path: /ingest/traces
        response_headers: {{ X-Served-By: strata-test }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#
        ),
        &[http],
    );
    let body = fake::traces(1, 3).encode_to_vec();
    let proto = ("Content-Type", "application/x-protobuf");
    let r = http_post(http, "/ingest/traces", &[proto], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-served-by"), Some("strata-test"));
    let r = http_post(http, "/v1/traces", &[proto], &body);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("/ingest/traces"), "{}", r.text());
    assert_eq!(r.header("x-served-by"), Some("strata-test"));
    let out = s.path("out.jsonl");
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.lines().count() == 1)
    }));
}

/// A forward proxy that answers every request 200 with an empty OTLP response and records
/// each request line (absolute-form when sent to a proxy).
fn proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    std::io::Read::read_exact(&mut r, &mut body).unwrap();
                    seen.lock().unwrap().push(line.trim().to_owned());
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
                    );
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn otlp_http_exporter_sends_through_proxy_url() {
    let (proxy_port, seen) = proxy();
    // Nothing listens on the target: only the proxy can have answered.
    let target = free_port();
    let http = free_port();
    let _s = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: 127.0.0.1:{http} }}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:{target}
    proxy_url: http://127.0.0.1:{proxy_port}
    compression: none
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_http] }}
"#
        ),
        &[http],
    );
    let r = http_post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &fake::traces(1, 2).encode_to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        eventually(Duration::from_secs(10), || !seen.lock().unwrap().is_empty()),
        "the proxy saw no request"
    );
    let line = seen.lock().unwrap()[0].clone();
    assert_eq!(
        line,
        format!("POST http://127.0.0.1:{target}/v1/traces HTTP/1.1")
    );
}

/// Every compression of the Collector's confighttp client and configgrpc, sent by one Strata
/// and decoded by another: `otlp_http` with `zlib`, `deflate`, `snappy` (block),
/// `x-snappy-framed` and `lz4`, `otlp` (gRPC) with `snappy` (framed), each arriving once.
#[test]
fn every_collector_compression_round_trips() {
    let (b_grpc, b_http, a_http) = (free_port(), free_port(), free_port());
    let b = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: 127.0.0.1:{b_grpc} }}
      http: {{ endpoint: 127.0.0.1:{b_http} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#
        ),
        &[b_grpc, b_http],
    );
    let encodings = ["zlib", "deflate", "snappy", "x-snappy-framed", "lz4"];
    let mut exporters = String::new();
    let mut names = Vec::new();
    for (i, e) in encodings.iter().enumerate() {
        exporters.push_str(&format!(
            "  otlp_http/{i}: {{ endpoint: \"http://127.0.0.1:{b_http}\", compression: {e} }}\n"
        ));
        names.push(format!("otlp_http/{i}"));
    }
    exporters.push_str(&format!(
        "  otlp/snappy: {{ endpoint: \"127.0.0.1:{b_grpc}\", tls: {{ insecure: true }}, compression: snappy }}\n"
    ));
    names.push("otlp/snappy".into());
    let _a = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: 127.0.0.1:{a_http} }}
exporters:
{exporters}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [{}] }}
"#,
            names.join(", ")
        ),
        &[a_http],
    );
    let r = http_post(
        a_http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &fake::traces(1, 5).encode_to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let out = b.path("out.jsonl");
    let lines = || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(15), || lines() == names.len()),
        "{} of {} requests arrived:\n{}",
        lines(),
        names.len(),
        b.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(), names.len(), "a request arrived twice");
}

/// confighttp `auth` on the prometheus exporter's endpoint and on zpages: a scrape without the
/// bearer token gets 401 with the challenge and is counted; with it, the page.
#[test]
fn prometheus_and_zpages_endpoints_require_their_authenticator() {
    let (prom, zp, http) = (free_port(), free_port(), free_port());
    let s = Strata::start(
        &format!(
            r#"
extensions:
  bearertokenauth: {{ token: "s3cret-token" }}
  zpages: {{ endpoint: "127.0.0.1:{zp}", auth: {{ authenticator: bearertokenauth }} }}
receivers:
  otlp:
    protocols:
      http: {{ endpoint: 127.0.0.1:{http} }}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prom}
    auth: {{ authenticator: bearertokenauth }}
service:
  extensions: [bearertokenauth, zpages]
  pipelines:
    metrics: {{ receivers: [otlp], exporters: [prometheus] }}
"#
        ),
        &[prom, zp, http],
    );
    let get = |port: u16, path: &str, token: Option<&str>| -> (u16, String) {
        use std::io::Read as _;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(c, "GET {path} HTTP/1.0\r\nHost: x\r\n{auth}\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        let code = out.split(' ').nth(1).unwrap().parse().unwrap();
        (code, out)
    };
    for (port, path) in [(prom, "/metrics"), (zp, "/debug/servicez")] {
        let (code, text) = get(port, path, None);
        assert_eq!(code, 401, "{path}: {text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{text}"
        );
        assert_eq!(get(port, path, Some("wrong")).0, 401, "{path}");
        assert_eq!(get(port, path, Some("s3cret-token")).0, 200, "{path}");
    }
    assert_eq!(
        s.counter_sum("otelcol_receiver_refused_requests"),
        4,
        "{}",
        s.self_metrics()
    );
    assert!(!s.log().contains("s3cret-token"), "{}", s.log());
}
