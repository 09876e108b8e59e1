//! The OTLP/HTTP receiver's Collector keys: `cors` (wildcard origins, extra headers, `max_age`,
//! preflight answered), `max_request_body_size` (bytes) and `compression_algorithms`.

mod common;

use std::io::{Read, Write};

use common::otlp::http_post;
use common::{Strata, free_port};
use prost::Message;
use strata_pipelines::testing::fake;

/// An `OPTIONS` preflight from `origin`: the status line and headers, lower-cased.
fn preflight(port: u16, origin: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "OPTIONS /v1/traces HTTP/1.1\r\nHost: localhost\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, x-custom\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.to_ascii_lowercase()
}

#[test]
fn cors_body_size_and_accepted_encodings() {
    let http = free_port();
    let s = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: "127.0.0.1:{http}"
        max_request_body_size: 2000
        compression_algorithms: [gzip]
        include_metadata: true
        cors:
          allowed_origins: ["https://*.example.com"]
          allowed_headers: [x-custom]
          max_age: 600
exporters:
  debug:
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug] }}
"#
        ),
        &[http],
    );
    let ok = preflight(http, "https://app.example.com");
    assert!(ok.starts_with("http/1.1 200"), "{ok}");
    assert!(
        ok.contains("access-control-allow-origin: https://app.example.com"),
        "{ok}"
    );
    assert!(ok.contains("access-control-max-age: 600"), "{ok}");
    assert!(ok.contains("x-custom"), "{ok}");
    assert!(ok.contains("access-control-allow-methods: post"), "{ok}");
    let other = preflight(http, "https://evil.example.org");
    assert!(!other.contains("access-control-allow-origin"), "{other}");

    // A small request passes, with the CORS header on the answer.
    let small = fake::traces(1, 2).encode_to_vec();
    let r = http_post(
        http,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("origin", "https://app.example.com"),
        ],
        &small,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    // Over max_request_body_size (bytes): 413.
    let big = fake::traces(1, 200).encode_to_vec();
    assert!(big.len() > 2000);
    let r = http_post(
        http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        &big,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    // zstd is not in compression_algorithms: 400 naming it.
    let z = zstd::encode_all(&small[..], 1).unwrap();
    let r = http_post(
        http,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "zstd"),
        ],
        &z,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("zstd"), "{}", r.text());
    drop(s);
}

#[test]
fn unsupported_encodings_are_refused_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    std::fs::write(
        &f,
        "receivers:\n  otlp:\n    protocols:\n      http:\n        compression_algorithms: [gzip, br]\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: { receivers: [otlp], exporters: [debug] }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["validate", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("receivers::otlp::protocols::http::compression_algorithms[1]: unknown compression \"br\" (the Collector's: gzip, zstd, zlib, deflate, snappy, x-snappy-framed, lz4)"),
        "{text}"
    );
}
