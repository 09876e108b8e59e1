//! Every refusal of the OTLP/HTTP receiver reaches the client as its status, over HTTP/2 as
//! over HTTP/1.1: curl (which picks HTTP/2 over TLS) and the OpenTelemetry Python SDK's
//! OTLP/HTTP exporter against the real binary with TLS and `bearertokenauth`.
//!
//! The refusals come before the body is read (401, 503 at the door) or part-way through it
//! (413). Without the drain of `strata_pipelines::unread`, the unread body's stream was reset
//! with `CANCEL` before the response went out, and curl printed `000` —
//! `(92) Stream error in the HTTP/2 framing layer` — for some of them.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tls::TestPki;
use common::{Strata, eventually, free_port};

const TOKEN: &str = "refusals-test-token-5d1c";

/// One curl run per request: `(status, HTTP version)` as curl saw them, or the curl error.
fn curl(port: u16, ca: &Path, token: Option<&str>, body: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut c = Command::new("curl");
            c.args([
                "--http2",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
            ])
            .arg("--cacert")
            .arg(ca)
            .args(["-H", "content-type: application/x-protobuf"])
            .arg("--data-binary")
            .arg(format!("@{}", body.display()))
            .arg(format!("https://localhost:{port}/v1/traces"));
            if let Some(t) = token {
                c.args(["-H", &format!("authorization: Bearer {t}")]);
            }
            let out = c.output().expect("curl runs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() {
                text
            } else {
                format!(
                    "{text} (curl: {})",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            }
        })
        .collect()
}

/// A protobuf request of about `bytes` bytes (a field the receiver checks, then forwards).
fn body(dir: &Path, name: &str, bytes: usize) -> std::path::PathBuf {
    use prost::Message as _;
    let mut t = strata_pipelines::testing::fake::traces(1, 1);
    t.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(bytes);
    let p = dir.join(name);
    std::fs::write(&p, t.encode_to_vec()).unwrap();
    p
}

#[test]
fn refusals_reach_http2_and_sdk_clients_as_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (open, busy, dead) = (free_port(), free_port(), free_port());
    let tls = format!(
        "tls: {{ cert_file: \"{}\", key_file: \"{}\" }}",
        pki.cert_file.display(),
        pki.key_file.display()
    );
    // `otlp`: 64 KiB bodies at most. `otlp/busy`: its only exporter's queue is full (a dead
    // peer, one slot, retried for a minute), so it refuses at the door with 503.
    let cfg = format!(
        r#"
extensions:
  bearertokenauth: {{ token: {TOKEN} }}
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{open}", max_request_body_size: 65536, {tls}, auth: {{ authenticator: bearertokenauth }} }}
  otlp/busy:
    protocols:
      http: {{ endpoint: "127.0.0.1:{busy}", {tls}, auth: {{ authenticator: bearertokenauth }} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
  otlp/dead:
    endpoint: 127.0.0.1:{dead}
    tls: {{ insecure: true }}
    timeout: 1s
    sending_queue: {{ queue_size: 1, num_consumers: 1 }}
    retry_on_failure: {{ initial_interval: 1s, max_elapsed_time: 60s }}
service:
  extensions: [bearertokenauth]
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    traces/busy: {{ receivers: [otlp/busy], exporters: [otlp/dead] }}
"#
    );
    let s = Strata::start(&cfg, &[open, busy]);
    let small = body(dir.path(), "small.pb", 20_000);
    let large = body(dir.path(), "large.pb", 200_000);

    // Accepted, over HTTP/2.
    assert_eq!(
        curl(open, &pki.ca_file, Some(TOKEN), &small, 1),
        ["200 2"],
        "{}",
        s.log()
    );
    // Fill the busy pipeline's queue with accepted requests until it refuses.
    assert!(
        eventually(Duration::from_secs(20), || {
            curl(busy, &pki.ca_file, Some(TOKEN), &small, 1)[0] == "503 2"
        }),
        "the busy pipeline never refused\n{}",
        s.log()
    );

    let cases: [(&str, u16, Option<&str>, &Path); 4] = [
        ("no token", open, None, &small),
        ("a wrong token", open, Some("wrong-token-0000"), &large),
        ("over max_request_body_size", open, Some(TOKEN), &large),
        ("a full queue", busy, Some(TOKEN), &small),
    ];
    let want = ["401 2", "401 2", "413 2", "503 2"];
    for ((what, port, token, body), want) in cases.into_iter().zip(want) {
        let got = curl(port, &pki.ca_file, token, body, 100);
        // The status and protocol curl printed. (About once in a few thousand requests with a
        // body still being sent, nghttp2 reports the stream "not closed cleanly" after it has
        // the complete response: the status was seen, and is what is checked.)
        let wrong: Vec<&String> = got.iter().filter(|g| !g.starts_with(want)).collect();
        assert!(
            wrong.is_empty(),
            "{what}: {} of 100 requests did not see {want:?}: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        let unclean = got.iter().filter(|g| g.len() > want.len()).count();
        println!(
            "refusals: {what}: 100 of 100 curl --http2 requests saw {want} ({unclean} closed uncleanly after it)"
        );
    }
    let refused = |reason: &str| {
        s.counter(&format!(
            "otelcol_receiver_refused_requests{{receiver=\"otlp\",transport=\"http\",reason=\"{reason}\"}}"
        ))
    };
    assert!(refused("unauthenticated") >= 200);
    assert!(refused("too_large") >= 100);

    // The Python SDK's OTLP/HTTP exporter: every refusal is reported with its status.
    let Some(py) = common::interop_python("opentelemetry.exporter.otlp.proto.http") else {
        return;
    };
    // The exporter's own client (what `export` calls) gives the status it saw; `export` itself
    // reports only FAILURE, and logs the code for non-retryable statuses.
    let script = r#"
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

port, ca, token, size, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
headers = {"authorization": "Bearer " + token} if token != "-" else {}
exporter = OTLPSpanExporter(endpoint=f"https://localhost:{port}/v1/traces", certificate_file=ca,
                            headers=headers, timeout=2)
spans = []
class Keep(SimpleSpanProcessor):
    def on_end(self, span):
        spans.append(span)
provider = TracerProvider(resource=Resource.create({"service.name": "refusals"}))
provider.add_span_processor(Keep(exporter))
with provider.get_tracer("refusals").start_as_current_span("x" * size):
    pass
failed, codes = 0, set()
data = encode_spans(spans).SerializePartialToString()
for _ in range(n):
    if exporter.export(spans) == SpanExportResult.FAILURE:
        failed += 1
    r = exporter._client.export(data)
    codes.add(str(r.status_code) if r.status_code else repr(r.error))
print(failed, " ".join(sorted(codes)))
"#;
    let sdk = |port: u16, token: &str, size: usize, n: usize| {
        // requests lets these variables override the exporter's `certificate_file` (its
        // session's `verify`); some machines set them to the system bundle.
        let out = Command::new(&py)
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .args(["-c", script])
            .arg(port.to_string())
            .arg(&pki.ca_file)
            .arg(token)
            .arg(size.to_string())
            .arg(n.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(sdk(open, "-", 100, 20), "20 401");
    assert_eq!(sdk(open, TOKEN, 100_000, 20), "20 413");
    // 503 is retryable: the exporter waits out `Retry-After` within its timeout.
    assert_eq!(sdk(busy, TOKEN, 100, 3), "3 503");
    println!(
        "refusals: the Python SDK's OTLP/HTTP exporter saw 401 (20 of 20), 413 (20 of 20), 503 (3 of 3)"
    );
}
