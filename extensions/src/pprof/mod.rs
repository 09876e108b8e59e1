//! `pprof` extension: CPU profiles of the running process in the pprof protobuf format, at the
//! paths of Go's `net/http/pprof` that the Collector's `pprofextension` serves.
//!
//! ```yaml
//! extensions:
//!   pprof:
//!     endpoint: localhost:1777        # the Collector's default; ":1888" = every interface
//!     save_to_file: /tmp/strata.pprof # optional: profile from start to shutdown, written then
//! service:
//!   extensions: [pprof]
//! ```
//!
//! | path | answer |
//! |---|---|
//! | `/debug/pprof/` | an index of the profiles |
//! | `/debug/pprof/profile?seconds=N` | a CPU profile sampled at 100 Hz for N seconds (default 30, 1–300), `application/octet-stream`, the `perftools.profiles.Profile` message (gzip-free: `go tool pprof` and `pprof` read both) |
//! | `/debug/pprof/heap` | a text summary of the allocator's heap (glibc `mallinfo2`: in-use and from-the-OS bytes); not a sampled heap profile |
//!
//! The sampler is `pprof-rs` (tikv), a `SIGPROF` timer with stack unwinding; only one profile
//! runs at a time: a second request while one runs gets `409 Conflict`, as does a request
//! while `save_to_file` profiles the whole run.
//!
//! Keys (`extension/pprofextension/config.go`): `endpoint` (`confignet.TCPAddrConfig`, with
//! `dialer::timeout`, which a listener does not use), `save_to_file`, and
//! `block_profile_fraction`/`mutex_profile_fraction`, Go runtime rates with no counterpart in a
//! Rust process: accepted, with one warning at start when set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use strata_pipelines::config::{ComponentConfig, parse_component};
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Extension, ExtensionFactory, Host, Settings,
    ShutdownError, StartError, Tasks, YamlValue,
};

/// The type name in configs.
pub const TYPE: &str = "pprof";

/// Sampling frequency of CPU profiles, in Hz (Go's `runtime/pprof` default).
pub const FREQUENCY_HZ: i32 = 100;

/// Config of the `pprof` extension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` or `:port` to listen on. Default `localhost:1777`.
    pub endpoint: String,
    /// `confignet.TCPAddrConfig`'s dialer settings: for outgoing connections, unused by a
    /// listener (as in the Collector).
    pub dialer: Dialer,
    /// Go's `runtime.SetBlockProfileRate`: no effect in Strata (warned at start when > 0).
    pub block_profile_fraction: i64,
    /// Go's `runtime.SetMutexProfileFraction`: no effect in Strata (warned at start when > 0).
    pub mutex_profile_fraction: i64,
    /// A file to write a CPU profile of the whole run to, at shutdown. Empty: none.
    pub save_to_file: String,
}

/// `dialer` block of `confignet.TCPAddrConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dialer {
    /// Dial timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<std::time::Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: "localhost:1777".into(),
            dialer: Dialer::default(),
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: String::new(),
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the endpoint.
    ///
    /// # Errors
    /// An endpoint that is neither `host:port` nor `:port`.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        strata_pipelines::config::check_endpoint(format!("{path}::endpoint"), &self.endpoint)
    }
}

/// The process's one profiler: `pprof-rs` keeps a single global sampler.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Holds [`BUSY`] while a profile runs.
struct Busy;

impl Busy {
    fn take() -> Option<Busy> {
        BUSY.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Busy)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::Release);
    }
}

/// Starts sampling this process's CPU at [`FREQUENCY_HZ`].
///
/// # Errors
/// The sampler cannot start (its timer or signal handler).
fn start_sampler() -> Result<pprof::ProfilerGuard<'static>, String> {
    pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        // pprof-rs's advice: no unwinding from inside these (a sample there is dropped), as
        // the unwinder can deadlock on their locks.
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("cannot start the CPU profiler: {e}"))
}

/// The samples so far as an encoded `perftools.profiles.Profile`.
///
/// # Errors
/// The report cannot be built or encoded.
fn encode(guard: &pprof::ProfilerGuard<'static>) -> Result<Vec<u8>, String> {
    use pprof::protos::Message as _;
    let profile = guard
        .report()
        .build()
        .and_then(|r| r.pprof())
        .map_err(|e| format!("cannot build the profile: {e}"))?;
    profile
        .write_to_bytes()
        .map_err(|e| format!("cannot encode the profile: {e}"))
}

/// A CPU profile of `seconds` seconds (blocking: run it on a blocking thread).
///
/// # Errors
/// Another profile is running, or the sampler failed.
pub fn cpu_profile(seconds: u64) -> Result<Vec<u8>, (StatusCode, String)> {
    let _busy = Busy::take().ok_or((
        StatusCode::CONFLICT,
        "a CPU profile is already being taken (one at a time)".into(),
    ))?;
    let guard = start_sampler().map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    encode(&guard).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))
}

async fn profile(uri: axum::http::Uri) -> Response {
    let seconds = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("seconds="));
    let seconds = match seconds.map(str::parse::<u64>) {
        None => 30,
        Some(Ok(s)) if (1..=300).contains(&s) => s,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "seconds must be a whole number from 1 to 300\n",
            )
                .into_response();
        }
    };
    match tokio::task::spawn_blocking(move || cpu_profile(seconds)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"profile\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err((status, e))) => (status, format!("{e}\n")).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the profiler failed: {e}\n"),
        )
            .into_response(),
    }
}

fn heap() -> Response {
    let text = match strata_pipelines::telemetry::heap_stats() {
        Some(h) => format!(
            "# heap summary (the allocator's own figures)\nheap_alloc_bytes {}\nheap_sys_bytes {}\n",
            h.alloc, h.sys
        ),
        None => "# no allocator figures on this platform\n".into(),
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn index() -> Html<&'static str> {
    Html(
        "<!DOCTYPE html>\n<html><head><title>/debug/pprof/</title></head><body>\
         <h1>/debug/pprof/</h1><ul>\
         <li><a href=\"profile?seconds=30\">profile</a>: CPU profile (pprof protobuf), ?seconds=N</li>\
         <li><a href=\"heap\">heap</a>: the allocator's heap summary</li>\
         </ul></body></html>\n",
    )
}

/// The `pprof` extension.
pub struct Pprof {
    id: ComponentId,
    cfg: Config,
    tasks: Tasks,
    addr: Mutex<Option<std::net::SocketAddr>>,
    /// The whole-run profile of `save_to_file`, with the busy mark it holds.
    whole_run: Mutex<Option<(pprof::ProfilerGuard<'static>, Busy)>>,
}

impl Pprof {
    /// The address it listens on, once started.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Component for Pprof {
    /// Binds the endpoint; with `save_to_file`, starts the whole-run profile.
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        for (key, v) in [
            ("block_profile_fraction", self.cfg.block_profile_fraction),
            ("mutex_profile_fraction", self.cfg.mutex_profile_fraction),
        ] {
            if v > 0 {
                tracing::warn!(extension = %self.id, key, "a Go runtime sampling rate: a Rust process has no Go blocking or mutex profile, so this key has no effect");
            }
        }
        let err = |e: String| StartError {
            id: self.id.clone(),
            source: e.into(),
        };
        if !self.cfg.save_to_file.is_empty() {
            let busy = Busy::take().ok_or_else(|| err("another profile is running".into()))?;
            let guard = start_sampler().map_err(err)?;
            *self.whole_run.lock().unwrap_or_else(|p| p.into_inner()) = Some((guard, busy));
        }
        let app = axum::Router::new()
            .route("/debug/pprof/", axum::routing::get(|| async { index() }))
            .route("/debug/pprof/profile", axum::routing::get(profile))
            .route("/debug/pprof/heap", axum::routing::get(|| async { heap() }));
        let addr = self
            .tasks
            .serve_app(
                &self.cfg.endpoint,
                None,
                &host.telemetry,
                format!("extensions::{}", self.id),
                app,
            )
            .await
            .map_err(err)?;
        *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        tracing::info!(extension = %self.id, %addr, "pprof listening at /debug/pprof/");
        Ok(())
    }

    /// Stops serving; with `save_to_file`, writes the whole-run profile.
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        let run = self
            .whole_run
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((guard, _busy)) = run {
            let path = self.cfg.save_to_file.clone();
            let written = encode(&guard).and_then(|b| {
                std::fs::write(&path, b).map_err(|e| format!("cannot write {path}: {e}"))
            });
            match written {
                Ok(()) => {
                    tracing::info!(extension = %self.id, %path, "CPU profile of the run saved")
                }
                Err(e) => {
                    return Err(ShutdownError {
                        id: self.id.clone(),
                        source: e.into(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Extension for Pprof {}

/// Factory of the `pprof` extension.
#[derive(Debug, Default)]
pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(&self, set: Settings, cfg: YamlValue) -> Result<Arc<dyn Extension>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        Ok(Arc::new(Pprof {
            id: set.id,
            cfg: c,
            tasks: Tasks::default(),
            addr: Mutex::new(None),
            whole_run: Mutex::new(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_go_spellings() {
        let c = parse_component::<Config>("x", serde_yaml_ng::from_str("~").unwrap()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.endpoint, "localhost:1777");
        let c = parse_component::<Config>(
            "x",
            serde_yaml_ng::from_str(
                "endpoint: :1888\nblock_profile_fraction: 3\ndialer: {timeout: 5s}",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(c.endpoint, ":1888");
        let e = parse_component::<Config>("x", serde_yaml_ng::from_str("endpoint: nope").unwrap())
            .unwrap_err();
        assert_eq!(e.path, "x::endpoint");
    }
}
