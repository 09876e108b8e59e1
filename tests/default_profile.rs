//! `strata` with no arguments runs the embedded `configs/dpu.yaml`: host metrics reach the
//! debug exporter every collection interval, and SIGINT/SIGTERM stop it cleanly (exit 0).

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, free_port, signal};

fn run_default(sig: &str) {
    let (grpc, http, tel) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .env("STRATA_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}"))
        .env("STRATA_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))
        .env("STRATA_TELEMETRY_ADDRESS", format!("127.0.0.1:{tel}"))
        .env("STRATA_COLLECTION_INTERVAL", "300ms")
        .env_remove("STRATA_UPSTREAM")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let err = child.stderr.take().unwrap();
    let buf = log.clone();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            buf.lock().unwrap().push_str(&line);
            buf.lock().unwrap().push('\n');
        }
    });
    let host_lines = || {
        log.lock()
            .unwrap()
            .lines()
            .filter(|l| {
                l.contains("exporter=debug") && l.contains("resource metrics: 1, metrics: 25")
            })
            .count()
    };
    assert!(
        eventually(Duration::from_secs(20), || host_lines() >= 3),
        "no periodic host metrics in:\n{}",
        log.lock().unwrap()
    );
    signal(&child, sig);
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "did not exit within 5 s after SIG{sig}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}", log.lock().unwrap());
    assert!(log.lock().unwrap().contains("shutdown complete"));
}

#[test]
fn default_profile_prints_host_metrics_and_exits_0_on_sigint() {
    run_default("INT");
}

#[test]
fn sigterm_also_exits_0() {
    run_default("TERM");
}
