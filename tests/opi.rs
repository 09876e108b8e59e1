//! OPI's own example config (`opiproject/otel`, `config/otel-collector-config.yaml`, copied
//! unchanged to `tests/fixtures/collector-configs/opiproject-otel-collector-config.yaml`) runs
//! on Strata as it is: the OpenTelemetry Python SDK sends traces and metrics to its `otlp`
//! receiver; the deprecated `logging` exporter prints them and counts them sent; `prometheus`
//! serves the metrics with `label1="value1"`; `health_check` answers; `zpages` is rendered by a
//! headless Chromium and shows every pipeline; `pprof` gives a CPU profile that an independent
//! pprof reader (DataDog's `pprof-format`, under Node.js) decodes, with samples in it.
//!
//! The config's ports are fixed (4317, 8889, 1888, 55679, 13133 and the self-telemetry's 8888),
//! as a user running it would have them.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{eventually, interop_program, interop_python, try_http_get};

const CONFIG: &str = "tests/fixtures/collector-configs/opiproject-otel-collector-config.yaml";

/// A GET over HTTP/1.0 returning the status line's code and the raw body bytes.
fn get_bytes(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, out[end + 4..].to_vec())
}

/// Sends batches of 500 spans over OTLP/gRPC, 4 at a time, for `d`: CPU work for a profile.
fn load_for(d: Duration) {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let until = std::time::Instant::now() + d;
        let mut tasks = Vec::new();
        for _ in 0..4 {
            tasks.push(tokio::spawn(async move {
                let mut c = TraceServiceClient::connect("http://127.0.0.1:4317")
                    .await
                    .unwrap();
                while std::time::Instant::now() < until {
                    c.export(strata_pipelines::testing::fake::traces(5, 100))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

struct Running {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node_peer() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node");
    interop_program("node", &["--version"])?;
    let ok = dir.join("node_modules/pprof-format").is_dir();
    assert!(
        ok || std::env::var("STRATA_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "interop peer missing: pprof-format (scripts/test runs npm ci in tests/interop/node)"
    );
    if !ok {
        eprintln!("SKIPPED: pprof-format not installed; run scripts/test");
        return None;
    }
    Some(dir.join("pprof_read.js"))
}

#[test]
fn opi_example_config_runs_unchanged() {
    let Some(python) = interop_python("opentelemetry.sdk,opentelemetry.exporter.otlp") else {
        return;
    };
    let Some(chromium) = interop_program("chromium", &["--version"]) else {
        return;
    };
    let Some(reader) = node_peer() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strata.log");
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--config", CONFIG])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let s = Running { child, log };
    let up = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(
        eventually(Duration::from_secs(20), || [4317, 8889, 1888, 55679, 13133]
            .iter()
            .all(|p| up(*p))),
        "ports not open:\n{}",
        std::fs::read_to_string(&s.log).unwrap_or_default()
    );

    let manifest = dir.path().join("manifest.json");
    let out = Command::new(&python)
        .arg("tests/interop/otel_client.py")
        .args(["--protocol", "grpc", "--endpoint", "http://127.0.0.1:4317"])
        .args(["--spans", "1500", "--logs", "0", "--manifest"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python SDK's exports failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let spans = m["spans"].as_array().unwrap().len() as u64;

    // Traces: every span reached the logging exporter.
    let sent = || {
        try_http_get(8888, "/metrics")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("otelcol_exporter_sent_spans{exporter=\"logging\""))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(20), || sent() == spans),
        "logging exporter sent {} of {spans} spans",
        sent()
    );
    let text = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        text.contains("The logging exporter is DEPRECATED"),
        "no deprecation warning:\n{text}"
    );
    assert!(text.contains("spans:"), "no span summary printed:\n{text}");

    // Metrics: prometheus serves the SDK's counter with the const label.
    let scrape = || try_http_get(8889, "/metrics").unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(20), || scrape().lines().any(|l| {
            l.starts_with("interop_requests") && l.contains("label1=\"value1\"")
        })),
        "no interop_requests with label1=\"value1\":\n{}",
        scrape()
    );

    // zpages, rendered by a browser.
    let profile_dir = tempfile::tempdir().unwrap();
    let dom = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.path().display()))
        .args(["--dump-dom", "http://127.0.0.1:55679/debug/pipelinez"])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    for want in [
        "<b>traces</b>",
        "<b>metrics</b>",
        "logging (traces)",
        "prometheus (metrics)",
    ] {
        assert!(
            dom.contains(want),
            "{want} not in the rendered page:\n{dom}"
        );
    }
    for page in ["servicez", "extensionz", "featurez"] {
        let (code, body) = get_bytes(55679, &format!("/debug/{page}"));
        assert_eq!(code, 200, "/debug/{page}");
        assert!(
            String::from_utf8_lossy(&body).contains("<table>"),
            "/debug/{page}"
        );
    }
    let (_, ext) = get_bytes(55679, "/debug/extensionz");
    let ext = String::from_utf8_lossy(&ext);
    for e in ["pprof", "zpages", "health_check"] {
        assert!(
            ext.contains(&format!("<td>{e}</td>")),
            "{e} missing:\n{ext}"
        );
    }

    // health_check.
    let health = try_http_get(13133, "/").unwrap();
    assert!(health.contains("Server available"), "{health}");

    // pprof: a CPU profile taken under load, decoded by pprof-format, with CPU samples of
    // Strata's own functions.
    let profiler = std::thread::spawn(|| get_bytes(1888, "/debug/pprof/profile?seconds=3"));
    load_for(Duration::from_millis(2500));
    let (code, profile) = profiler.join().unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&profile));
    let file = dir.path().join("cpu.pprof");
    std::fs::write(&file, &profile).unwrap();
    let out = Command::new("node")
        .arg(&reader)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pprof-format could not read the profile: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "opi: {spans} spans through logging; pprof profile of {} bytes, {} samples, {} functions",
        profile.len(),
        p["samples"],
        p["functions"].as_array().unwrap().len()
    );
    assert_eq!(
        p["sampleTypes"],
        serde_json::json!([["samples", "count"], ["cpu", "nanoseconds"]])
    );
    assert_eq!(p["period"], 10_000_000, "100 Hz");
    assert!(p["samples"].as_u64().unwrap() > 0, "{p}");
    assert!(
        p["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().contains("strata")),
        "no Strata function in the profile: {p}"
    );
    let (code, heap) = get_bytes(1888, "/debug/pprof/heap");
    assert_eq!(code, 200);
    assert!(
        String::from_utf8_lossy(&heap).contains("heap_alloc_bytes"),
        "{}",
        String::from_utf8_lossy(&heap)
    );
}
