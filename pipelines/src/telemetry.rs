//! Self-telemetry: internal counters with the OpenTelemetry Collector's names, served in the
//! Prometheus text exposition format (version 0.0.4), and the `tracing` log setup.
//!
//! Counters (all `counter`, labels in braces):
//!
//! | name | labels |
//! |---|---|
//! | `otelcol_receiver_accepted_{spans,metric_points,log_records}` | `receiver`, `transport` |
//! | `otelcol_receiver_refused_{spans,metric_points,log_records}` | `receiver`, `transport` |
//! | `otelcol_receiver_refused_requests` | `receiver`, `transport`, `reason` (requests refused before their items could be counted: undecodable, too large, wrong content type, unknown path, `memory_limit` while a `memory_limiter` refuses data) |
//! | `otelcol_exporter_sent_{spans,metric_points,log_records}` | `exporter` |
//! | `otelcol_exporter_send_failed_{spans,metric_points,log_records}` | `exporter` |
//! | `otelcol_scraper_errored_metric_points` | `receiver` (failed scraper parts) |
//! | `otelcol_processor_refused_{spans,metric_points,log_records}` | `processor` (refused by `memory_limiter`) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::id::ComponentId;
use crate::signal::Signal;

type Labels = Vec<(&'static str, String)>;
/// Series key: metric name and its labels in order.
type SeriesKey = (String, Labels);

/// Process-wide registry of monotonic counters. Cloning shares the registry.
#[derive(Clone)]
pub struct Telemetry {
    counters: Arc<Mutex<BTreeMap<SeriesKey, Arc<AtomicU64>>>>,
    gauges: Arc<Mutex<BTreeMap<SeriesKey, Arc<AtomicI64>>>>,
    /// `target_info` labels: the service's identity and `service.telemetry.resource`.
    resource: Arc<Mutex<BTreeMap<String, String>>>,
    started: std::time::Instant,
}

/// What the allocator reports of the heap, in bytes: `alloc` in use by live allocations
/// (Go's `HeapAlloc`, the Collector's `otelcol_process_runtime_heap_alloc_bytes`) and `sys`
/// obtained from the OS (`otelcol_process_runtime_total_sys_memory_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in live allocations.
    pub alloc: u64,
    /// Bytes the allocator holds from the OS.
    pub sys: u64,
}

static HEAP_PROBE: std::sync::OnceLock<fn() -> Option<HeapStats>> = std::sync::OnceLock::new();

/// Installs the allocator's statistics probe (the binary's: glibc's `mallinfo2`). The first
/// call wins; without one, the `otelcol_process_runtime_*` metrics are absent.
pub fn set_heap_probe(probe: fn() -> Option<HeapStats>) {
    let _ = HEAP_PROBE.set(probe);
}

/// The installed probe's figures now, if a probe is installed and has figures.
pub fn heap_stats() -> Option<HeapStats> {
    HEAP_PROBE.get().and_then(|p| p())
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut resource = BTreeMap::new();
        resource.insert("service.name".to_owned(), "strata".to_owned());
        resource.insert(
            "service.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        );
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        resource.insert(
            "service.instance.id".to_owned(),
            format!("{:016x}{:08x}", nanos as u64, std::process::id()),
        );
        Telemetry {
            counters: Arc::default(),
            gauges: Arc::default(),
            resource: Arc::new(Mutex::new(resource)),
            started: std::time::Instant::now(),
        }
    }
}

/// A handle to one gauge time series (a value that goes up and down: a queue's size).
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds `d` (negative to subtract).
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A handle to one counter time series; cheap to increment from any task.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Telemetry {
    /// The counter `name{labels}`, created at 0 on first use.
    pub fn counter(&self, name: &str, labels: &[(&'static str, &str)]) -> Counter {
        let key = (
            name.to_owned(),
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        Counter(map.entry(key).or_default().clone())
    }

    /// Every series of the gauge `name`: its labels and current value, in label order.
    pub fn gauge_values(&self, name: &str) -> Vec<(Vec<(&'static str, String)>, i64)> {
        let map = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, labels), v)| (labels.clone(), v.load(Ordering::Relaxed)))
            .collect()
    }

    /// The gauge `name{labels}`, created at 0 on first use. Handles for the same series share
    /// the value.
    pub fn gauge(&self, name: &str, labels: &[(&'static str, &str)]) -> Gauge {
        let key = (
            name.to_owned(),
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        let mut map = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        Gauge(map.entry(key).or_default().clone())
    }

    /// Adds `service.telemetry.resource` attributes to `target_info` (a `null` value removes
    /// one of the defaults: `service.name`, `service.version`, `service.instance.id`).
    pub fn set_resource(&self, attrs: &BTreeMap<String, Option<String>>) {
        let mut r = self.resource.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in attrs {
            match v {
                Some(v) => {
                    r.insert(k.clone(), v.clone());
                }
                None => {
                    r.remove(k);
                }
            }
        }
    }

    /// The process's own figures, as the Collector's `otelcol_process_*`: uptime (s), resident
    /// memory (bytes, `/proc/self/status` VmRSS), CPU time (s, `/proc/self/stat`) and, with a
    /// probe ([`set_heap_probe`]), the allocator's heap figures (bytes).
    fn process_metrics(&self, out: &mut String) {
        let _ = writeln!(out, "# TYPE otelcol_process_uptime counter");
        let _ = writeln!(
            out,
            "otelcol_process_uptime {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        if let Some(kib) = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
        {
            let _ = writeln!(out, "# TYPE otelcol_process_memory_rss gauge");
            let _ = writeln!(out, "otelcol_process_memory_rss {}", kib * 1024);
        }
        if let Some(ticks) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
        {
            let hz = rustix::param::clock_ticks_per_second().max(1);
            let _ = writeln!(out, "# TYPE otelcol_process_cpu_seconds counter");
            let _ = writeln!(
                out,
                "otelcol_process_cpu_seconds {:.2}",
                ticks as f64 / hz as f64
            );
        }
        if let Some(heap) = HEAP_PROBE.get().and_then(|probe| probe()) {
            let _ = writeln!(out, "# TYPE otelcol_process_runtime_heap_alloc_bytes gauge");
            let _ = writeln!(
                out,
                "otelcol_process_runtime_heap_alloc_bytes {}",
                heap.alloc
            );
            let _ = writeln!(
                out,
                "# TYPE otelcol_process_runtime_total_sys_memory_bytes gauge"
            );
            let _ = writeln!(
                out,
                "otelcol_process_runtime_total_sys_memory_bytes {}",
                heap.sys
            );
        }
        let r = self.resource.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# TYPE target_info gauge");
        let labels: Vec<String> = r
            .iter()
            .map(|(k, v)| {
                let k: String = k
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let v = v
                    .replace('\\', r"\\")
                    .replace('"', "\\\"")
                    .replace('\n', r"\n");
                format!("{k}=\"{v}\"")
            })
            .collect();
        let _ = writeln!(out, "target_info{{{}}} 1", labels.join(","));
    }

    /// Renders every counter and gauge in the Prometheus text format 0.0.4, then the process
    /// metrics and `target_info`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
            render_family(
                &mut out,
                "counter",
                map.iter()
                    .map(|(k, v)| (k, v.load(Ordering::Relaxed).to_string())),
            );
        }
        let map = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        render_family(
            &mut out,
            "gauge",
            map.iter()
                .map(|(k, v)| (k, v.load(Ordering::Relaxed).to_string())),
        );
        drop(map);
        self.process_metrics(&mut out);
        out
    }

    /// Serves `GET /metrics` on `addr` (with TLS when `tls` is set, its files reloaded on
    /// change) until `cancel` fires. Returns the bound address and the serving task.
    ///
    /// # Errors
    /// The bind error when the address is taken or invalid.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        tls: Option<&crate::tls::TlsServerConfig>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let tasks = crate::component::Tasks::default();
        let incoming = tasks
            .listen(
                &addr.to_string(),
                tls,
                &[b"h2", b"http/1.1"],
                None,
                self,
                "service::telemetry::metrics".into(),
            )
            .await
            .map_err(std::io::Error::other)?;
        let local = incoming.local_addr();
        let me = self.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let me = me.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                        me.render(),
                    )
                }
            }),
        );
        tasks.serve_http(incoming, app, "service::telemetry::metrics".into());
        let handle = tokio::spawn(async move {
            cancel.cancelled().await;
            tasks.stop().await;
        });
        Ok((local, handle))
    }
}

/// The counters of one receiver on one transport (the Collector's receiverhelper `ObsReport`).
#[derive(Clone)]
pub struct ReceiverObs {
    telemetry: Telemetry,
    receiver: String,
    transport: &'static str,
    /// The accepted (`[0]`) and refused (`[1]`) counters per signal (in [`Signal::ALL`]'s
    /// order), looked up on first use and then kept: a receiver counts every request.
    items: Arc<[[OnceLock<Counter>; 3]; 2]>,
    /// Per refusal reason: the minute being counted and the warnings logged in it.
    warned: Arc<Mutex<BTreeMap<&'static str, (u64, u32)>>>,
}

/// Refusal warnings logged per receiver, transport and reason in one minute; the rest go to
/// `debug` (and every one is counted).
const WARNINGS_PER_MINUTE: u32 = 3;

impl ReceiverObs {
    /// Counters for receiver `id` on `transport` (`grpc`, `http`, or `""` for scrapers).
    pub fn new(telemetry: &Telemetry, id: &ComponentId, transport: &'static str) -> Self {
        ReceiverObs {
            telemetry: telemetry.clone(),
            receiver: id.to_string(),
            transport,
            items: Arc::default(),
            warned: Arc::default(),
        }
    }

    fn items(&self, refused: bool, signal: Signal, n: usize) {
        self.items[usize::from(refused)][signal as usize]
            .get_or_init(|| {
                let what = if refused { "refused" } else { "accepted" };
                self.telemetry.counter(
                    &format!("otelcol_receiver_{what}_{}", signal.item_name()),
                    &[("receiver", &self.receiver), ("transport", self.transport)],
                )
            })
            .add(n as u64);
    }

    /// Counts `n` items accepted by the pipeline.
    pub fn accepted(&self, signal: Signal, n: usize) {
        self.items(false, signal, n);
    }

    /// Counts `n` items the pipeline refused.
    pub fn refused(&self, signal: Signal, n: usize) {
        self.items(true, signal, n);
    }

    /// Counts `n` failed parts of a scrape (`otelcol_scraper_errored_metric_points`; the count is
    /// of failed scraper parts, as the points that were not produced cannot be counted).
    pub fn scrape_errors(&self, n: usize) {
        if n > 0 {
            self.telemetry
                .counter(
                    "otelcol_scraper_errored_metric_points",
                    &[("receiver", &self.receiver)],
                )
                .add(n as u64);
        }
    }

    /// Counts one request refused before its items could be counted, by `reason`
    /// (`decode`, `too_large`, `content_type`, `not_found`, `method`).
    pub fn refused_request(&self, reason: &'static str) {
        self.refused_counter(reason).add(1);
        let _ = self.log_refusal(reason);
    }

    /// Logs a refusal: at `warn` for the first few of each minute per reason (a flood of bad
    /// requests never floods the log), at `debug` always. The detail (peer, cause) is logged
    /// by the caller at `debug`.
    fn log_refusal(&self, reason: &'static str) -> bool {
        let minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60);
        let warn = {
            let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
            let e = w.entry(reason).or_insert((minute, 0));
            if e.0 != minute {
                *e = (minute, 0);
            }
            e.1 += 1;
            e.1 <= WARNINGS_PER_MINUTE
        };
        if warn {
            tracing::warn!(receiver = %self.receiver, transport = self.transport, reason, "request refused (counted in otelcol_receiver_refused_requests; at most 3 such warnings a minute per reason, all at debug)");
        } else {
            tracing::debug!(receiver = %self.receiver, transport = self.transport, reason, "request refused");
        }
        warn
    }

    /// The `otelcol_receiver_refused_requests` counter of `reason`, to keep (the TLS
    /// listener counts failed handshakes with `tls_handshake`).
    pub fn refused_counter(&self, reason: &'static str) -> Counter {
        self.telemetry.counter(
            "otelcol_receiver_refused_requests",
            &[
                ("receiver", &self.receiver),
                ("transport", self.transport),
                ("reason", reason),
            ],
        )
    }
}

/// Log settings, `service.telemetry.logs` in the config.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Minimum level: `debug`, `info`, `warn`, `error`. Default `info`.
    pub level: String,
    /// `console` (human-readable text) or `json`. Default `console`.
    pub encoding: LogEncoding,
    /// Development mode: every line also names its source file and line. Default false.
    pub development: bool,
    /// The Collector's log sampling: `enabled: true` is refused (not supported yet).
    pub sampling: Option<LogSampling>,
    /// Where logs go: `stderr` (default) or `stdout`; files are not supported yet.
    pub output_paths: Vec<String>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            level: "info".into(),
            encoding: LogEncoding::Console,
            development: false,
            sampling: None,
            output_paths: vec!["stderr".into()],
        }
    }
}

/// `service.telemetry.logs.sampling`.
#[derive(Debug, Clone, serde::Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogSampling {
    /// Refused when true.
    pub enabled: bool,
    /// Accepted for compatibility with `enabled: false`.
    #[serde(with = "humantime_serde")]
    pub tick: Option<std::time::Duration>,
    /// Accepted for compatibility with `enabled: false`.
    pub initial: Option<u64>,
    /// Accepted for compatibility with `enabled: false`.
    pub thereafter: Option<u64>,
}

impl LogsConfig {
    /// Refuses what Strata does not implement, by name and path.
    ///
    /// # Errors
    /// `sampling.enabled: true`, an output path other than `stderr`/`stdout`, two outputs.
    pub fn validate(&self, path: &str) -> Result<(), crate::config::ConfigError> {
        use crate::config::ConfigError;
        if self.sampling.as_ref().is_some_and(|s| s.enabled) {
            return Err(ConfigError::new(
                format!("{path}::sampling::enabled"),
                "not supported by Strata yet: set enabled: false",
            ));
        }
        match self.output_paths.as_slice() {
            [] => {}
            [one] if one == "stderr" || one == "stdout" => {}
            _ => {
                return Err(ConfigError::new(
                    format!("{path}::output_paths"),
                    "not supported by Strata yet: one of stderr or stdout",
                ));
            }
        }
        Ok(())
    }
}

/// Log line encoding.
#[derive(Debug, Clone, Copy, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    /// Human-readable text.
    Console,
    /// One JSON object per line.
    Json,
}

/// Installs the global `tracing` subscriber for `cfg`, writing to stderr (colours only on a
/// terminal). `RUST_LOG`, when set,
/// overrides the level. Calling it twice is harmless (the second call does nothing).
pub fn init_logs(cfg: &LogsConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let stdout = cfg.output_paths.first().is_some_and(|p| p == "stdout");
    let ansi = if stdout {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    };
    let writer =
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || -> Box<dyn std::io::Write> {
            if stdout {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::io::stderr())
            }
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_file(cfg.development)
        .with_line_number(cfg.development)
        .with_writer(writer);
    let _ = match cfg.encoding {
        LogEncoding::Json => builder.json().try_init(),
        LogEncoding::Console => builder.try_init(),
    };
}

/// Writes one family type's series (`# TYPE` once per name) in the text format 0.0.4.
fn render_family<'a>(
    out: &mut String,
    kind: &str,
    series: impl Iterator<Item = (&'a SeriesKey, String)>,
) {
    let mut last_name = "";
    for ((name, labels), v) in series {
        if name != last_name {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            last_name = name;
        }
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let escaped = val
                    .replace('\\', r"\\")
                    .replace('"', "\\\"")
                    .replace('\n', r"\n");
                let _ = write!(out, "{k}=\"{escaped}\"");
            }
            out.push('}');
        }
        let _ = writeln!(out, " {v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_warnings_are_rate_limited_per_reason() {
        let t = Telemetry::default();
        let obs = ReceiverObs::new(&t, &"otlp".parse().unwrap(), "grpc");
        let warned: Vec<bool> = (0..5).map(|_| obs.log_refusal("decode")).collect();
        assert_eq!(warned, vec![true, true, true, false, false]);
        assert!(
            obs.log_refusal("too_large"),
            "another reason has its own budget"
        );
    }

    #[test]
    fn renders_prometheus_text() {
        let t = Telemetry::default();
        let id: ComponentId = "otlp".parse().unwrap();
        let obs = ReceiverObs::new(&t, &id, "grpc");
        obs.accepted(Signal::Traces, 3);
        obs.accepted(Signal::Traces, 2);
        obs.refused_request("decode");
        let text = t.render();
        assert!(text.contains("# TYPE otelcol_receiver_accepted_spans counter\n"));
        assert!(
            text.contains(
                "otelcol_receiver_accepted_spans{receiver=\"otlp\",transport=\"grpc\"} 5\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "otelcol_receiver_refused_requests{receiver=\"otlp\",transport=\"grpc\",reason=\"decode\"} 1\n"
        ));
    }
}
