//! Helpers for end-to-end tests: start the real `strata` binary on loopback ports, wait for
//! it, read what its `file` exporter wrote, scrape its self-metrics.
#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `receivers:` section of an `otlp` receiver on loopback `grpc` and `http` ports.
pub fn otlp_receiver(grpc: u16, http: u16) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {{ endpoint: \"127.0.0.1:{grpc}\" }}\n      http: {{ endpoint: \"127.0.0.1:{http}\" }}\n"
    )
}

/// A free loopback port (bound, read back, released), never one already handed out in this
/// test process: the kernel may give a just-released port again, and two servers of one test
/// (or of two tests running in parallel) must not be told the same port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A running `strata` process; killed when dropped.
pub struct Strata {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub stderr: Arc<Mutex<String>>,
    pub telemetry_port: u16,
}

impl Strata {
    /// Starts `strata --config <config>` where `config` may use `{dir}` for the temp dir and
    /// `{telemetry}` for the self-metrics port. Waits until each of `ports` accepts connections.
    pub fn start(config: &str, ports: &[u16]) -> Strata {
        Self::start_with_env(config, ports, &[])
    }

    /// [`Strata::start`] with extra environment variables.
    pub fn start_with_env(config: &str, ports: &[u16], env: &[(&str, &str)]) -> Strata {
        let dir = tempfile::tempdir().unwrap();
        let telemetry_port = free_port();
        let text = config
            .replace("{dir}", &dir.path().display().to_string())
            .replace("{telemetry}", &telemetry_port.to_string());
        let own_telemetry = !text.contains("telemetry:");
        let text = if own_telemetry {
            format!(
                "{text}\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{telemetry_port}\n"
            )
        } else {
            text
        };
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, text).unwrap();
        let child = Self::spawn(&cfg, env);
        let mut s = Strata {
            child,
            dir,
            stderr: Arc::new(Mutex::new(String::new())),
            telemetry_port,
        };
        s.capture_stderr();
        for p in ports {
            s.wait_port(*p);
        }
        if own_telemetry {
            s.wait_port(telemetry_port);
        }
        s
    }

    /// Starts `strata --profile <profile>` with `env` (the self-metrics address comes from
    /// `STRATA_TELEMETRY_ADDRESS`, set here), and waits for `ports`.
    pub fn start_profile(profile: &str, ports: &[u16], env: &[(&str, &str)]) -> Strata {
        let dir = tempfile::tempdir().unwrap();
        let telemetry_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(["--profile", profile])
            .env(
                "STRATA_TELEMETRY_ADDRESS",
                format!("127.0.0.1:{telemetry_port}"),
            )
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut s = Strata {
            child: cmd.spawn().unwrap(),
            dir,
            stderr: Arc::new(Mutex::new(String::new())),
            telemetry_port,
        };
        s.capture_stderr();
        for p in ports.iter().chain([&telemetry_port]) {
            s.wait_port(*p);
        }
        s
    }

    fn spawn(cfg: &Path, env: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.arg("--config")
            .arg(cfg)
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    }

    /// Kills the process with SIGKILL (a crash: nothing is flushed) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again with the same config file and directory (after [`Self::kill`]
    /// or an exit), and waits for `ports` and the self-metrics port.
    pub fn restart(&mut self, ports: &[u16]) {
        assert!(!self.child_alive(), "restart of a running process");
        self.child = Self::spawn(&self.dir.path().join("config.yaml"), &[]);
        self.stderr
            .lock()
            .unwrap()
            .push_str("---- restarted ----\n");
        self.capture_stderr();
        for p in ports {
            self.wait_port(*p);
        }
        self.wait_port(self.telemetry_port);
    }

    /// Replaces the config file (same `{dir}` and `{telemetry}` substitutions; the
    /// self-metrics section is added unless given), for a SIGHUP reload.
    pub fn rewrite_config(&self, config: &str) {
        let text = config
            .replace("{dir}", &self.dir.path().display().to_string())
            .replace("{telemetry}", &self.telemetry_port.to_string());
        let text = if text.contains("telemetry:") {
            text
        } else {
            format!(
                "{text}\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n",
                self.telemetry_port
            )
        };
        std::fs::write(self.dir.path().join("config.yaml"), text).unwrap();
    }

    fn capture_stderr(&mut self) {
        let err = self.child.stderr.take().unwrap();
        let buf = self.stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                buf.lock().unwrap().push_str(&line);
                buf.lock().unwrap().push('\n');
            }
        });
    }

    /// Waits until `port` on loopback accepts connections (panics after 20 s with the log).
    pub fn wait_port(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("strata exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "port {port} never opened:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Path inside the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sends SIGINT and waits for the exit status (at most `within`).
    pub fn interrupt(&mut self, within: Duration) -> std::process::ExitStatus {
        signal(&self.child, "INT");
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "strata did not exit within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn child_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The self-metrics page.
    pub fn self_metrics(&self) -> String {
        http_get(self.telemetry_port, "/metrics")
    }

    /// The value of one self-metric series (0 when absent).
    pub fn counter(&self, series: &str) -> u64 {
        self.self_metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// The sum of every series of the metric `name` (any labels).
    pub fn counter_sum(&self, name: &str) -> u64 {
        self.self_metrics()
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

impl Drop for Strata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal by name to `child` with the `kill` command.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// A plain HTTP/1.1 GET on loopback, returning the body.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// A plain HTTP/1.0 GET on loopback (so the body is never chunked): the body, or `None` when
/// nothing listens yet or the connection fails.
pub fn try_http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// Reads a file exporter's output: one OTLP/JSON request per line, parsed as `T`.
///
/// Only complete lines count: a reader can see a line the exporter is still writing (a `write`
/// to a regular file is not atomic against a concurrent `read`), so text after the last `\n` is
/// left for the next poll, as `tail -f` would.
pub fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    std::str::from_utf8(&bytes[..end])
        .expect("the file exporter writes UTF-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
pub mod dns;
pub mod fake_redfish;
pub mod fake_spdk;
pub mod kube;
pub mod otlp;
pub mod tls;
pub mod zipkin;

/// The interop peers' Python (`STRATA_INTEROP_PYTHON`, or the project's `.venv`) when it can
/// import `modules` (comma-separated). Without it: `None` and a SKIPPED line, unless
/// `STRATA_REQUIRE_INTEROP=1` (set by `scripts/test`), where a missing peer fails the test.
pub fn interop_python(modules: &str) -> Option<PathBuf> {
    interop_python_in("STRATA_INTEROP_PYTHON", ".venv", modules)
}

/// [`interop_python`] for the venv `venv` of the project (`.venv-zipkin-proto`), or the
/// Python the variable `var` names.
pub fn interop_python_in(var: &str, venv: &str, modules: &str) -> Option<PathBuf> {
    let py = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(venv)
            .join("bin/python")
    });
    let ok = Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var("STRATA_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "interop peer missing: {} cannot import {modules} (run scripts/test)",
        py.display()
    );
    eprintln!(
        "SKIPPED: interop peer missing ({}); run scripts/test",
        py.display()
    );
    None
}

/// An interop peer that is a program (`chromium`, `node`) when it runs (`args` exit 0), or a
/// SKIPPED line and `None` — unless `STRATA_REQUIRE_INTEROP=1` (set by `scripts/test`), where
/// a missing peer fails the test.
pub fn interop_program(program: &str, args: &[&str]) -> Option<PathBuf> {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(PathBuf::from(program));
    }
    assert!(
        std::env::var("STRATA_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "interop peer missing: {program} (run scripts/test)"
    );
    eprintln!("SKIPPED: interop peer missing ({program}); run scripts/test");
    None
}

/// OTLP/JSON `AnyValue` → plain JSON: scalars and arrays as JSON values (int64 strings become
/// numbers); other kinds unchanged.
pub fn plain(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Value, json};
    for k in ["stringValue", "boolValue", "doubleValue"] {
        if let Some(x) = v.get(k) {
            return x.clone();
        }
    }
    if let Some(i) = v.get("intValue") {
        return match i {
            Value::String(s) => json!(s.parse::<i64>().unwrap()),
            other => other.clone(),
        };
    }
    if let Some(a) = v.get("arrayValue") {
        return Value::Array(
            a["values"]
                .as_array()
                .map(|vs| vs.iter().map(plain).collect())
                .unwrap_or_default(),
        );
    }
    // Bytes, maps, empty: compared as their OTLP/JSON.
    v.clone()
}

/// OTLP/JSON attributes (`[{key, value}]`) → key → plain JSON value.
pub fn attrs(kvs: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    kvs.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| (kv["key"].as_str().unwrap().to_owned(), plain(&kv["value"])))
                .collect()
        })
        .unwrap_or_default()
}

/// An OTLP/JSON 64-bit integer (a string or a number).
pub fn num(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => other.as_u64().unwrap(),
    }
}
