//! The load generator against the counting sink, as real processes on loopback: every item the
//! generator reports acknowledged is counted by the sink, on gRPC and HTTP, for each signal.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn counts(http: u16) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).ok()?;
    write!(
        s,
        "GET /counts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()
}

#[test]
fn every_acknowledged_item_reaches_the_sink() {
    let (grpc, http) = (free_port(), free_port());
    let mut sink = Command::new(env!("CARGO_BIN_EXE_strata-sink"))
        .args([
            "--grpc",
            &format!("127.0.0.1:{grpc}"),
            "--http",
            &format!("127.0.0.1:{http}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while counts(http).is_none() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut want = serde_json::Map::new();
    for (protocol, port, compression) in [("grpc", grpc, "gzip"), ("http", http, "none")] {
        for (signal, noun) in [
            ("traces", "spans"),
            ("metrics", "metric_points"),
            ("logs", "log_records"),
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_strata-loadgen"))
                .args([
                    "--endpoint",
                    &format!("127.0.0.1:{port}"),
                    "--protocol",
                    protocol,
                    "--signal",
                    signal,
                    "--rate",
                    "2000",
                    "--duration",
                    "500ms",
                    "--items-per-request",
                    "50",
                    "--compression",
                    compression,
                    "--json",
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                r["errors"],
                serde_json::json!({}),
                "{protocol} {signal}: {r}"
            );
            let ok = r["items_ok"].as_u64().unwrap();
            // 2,000 items/s for 0.5 s: about 1,000, sent in requests of 50.
            assert!((500..=1500).contains(&ok), "{protocol} {signal}: {r}");
            assert_eq!(ok % 50, 0);
            let e = want.entry(noun).or_insert(0.into());
            *e = (e.as_u64().unwrap() + ok).into();
        }
    }
    let got = counts(http).unwrap();
    for (noun, n) in want {
        assert_eq!(got[&noun], n, "{noun}: {got}");
    }
    assert_eq!(got["invalid_requests"], 0);
    sink.kill().unwrap();
    let _ = sink.wait();
}
