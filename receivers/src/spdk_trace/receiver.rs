//! The `spdk_trace` receiver: reads `spdk_trace -j` snapshots from a file or a command every
//! interval, pairs them into spans ([`Pairing`]) and hands the completed request trees on.

use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde::Deserialize;
use strata_pipelines::config::{ComponentConfig, parse_component};
use strata_pipelines::{
    BoxConsumer, BuildError, Component, ComponentId, ConfigError, ConsumeError, Host,
    NextConsumers, Receiver, ReceiverFactory, ReceiverObs, Settings, ShutdownError, Signal,
    StartError, Tasks, Telemetry, Traces, YamlValue,
};
use tracing::{debug, info, warn};

use super::TYPE;
use super::pairing::{Counts, Options, Pairing};
use super::parse::{documents, parse};
use crate::scraper::{now_nanos, str_kv};

/// Config of the `spdk_trace` receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A file `spdk_trace -j` output is written to: replaced (best: written beside and
    /// renamed), or appended to. Exactly one of `file` and `command`.
    pub file: Option<String>,
    /// A command (argv, no shell unless you name one) whose stdout is `spdk_trace -j` output.
    pub command: Option<Vec<String>>,
    /// With `command`: SPDK's trace ring to snapshot before each run, as a glob
    /// (`/dev/shm/spdk_tgt_trace.pid*`). The newest matching file is copied to a private
    /// temporary file, every `{ring}` in `command` becomes the copy's path, and the copy is
    /// removed after the run — what `cp` in a shell did, without needing one (the distroless
    /// image has none). A live ring is torn by SPDK under load; the copy is not.
    pub ring: Option<String>,
    /// Time between reads. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Time before the first read. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// The command's deadline. Default `60s` (parsing an 88 MB capture takes SPDK's own
    /// `spdk_trace` about 20 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Open spans older than this, in trace time, are dropped and counted. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub max_open: Duration,
    /// Largest document read, MiB. Default 512.
    pub max_document_mib: u64,
    /// The resource's `service.name`. Default `spdk`.
    pub service_name: String,
    /// Which request trees are kept.
    pub sampling: Sampling,
}

/// `sampling:` — applied to whole request trees.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sampling {
    /// Fraction of trees kept by trace id, `0..=1`. Default `1` (all).
    pub ratio: f64,
    /// Trees whose root lasted at least this are kept whatever the ratio. Default: none.
    #[serde(with = "humantime_serde")]
    pub latency_threshold: Option<Duration>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            ratio: 1.0,
            latency_threshold: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            command: None,
            ring: None,
            collection_interval: Duration::from_secs(10),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
            max_open: Duration::from_secs(10),
            max_document_mib: 512,
            service_name: "spdk".into(),
            sampling: Sampling::default(),
        }
    }
}

impl ComponentConfig for Config {
    /// # Errors
    /// Neither or both of `file` and `command`, an empty command, a ratio outside `0..=1`, a
    /// zero interval, timeout, `max_open` or `max_document_mib`.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match (&self.file, &self.command) {
            (None, None) | (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    path,
                    "set exactly one of file (a spdk_trace -j snapshot file) and command (argv printing one)",
                ));
            }
            (Some(f), None) if f.is_empty() => {
                return Err(ConfigError::new(format!("{path}::file"), "empty path"));
            }
            (None, Some(c)) if c.first().is_none_or(String::is_empty) => {
                return Err(ConfigError::new(
                    format!("{path}::command"),
                    "the command needs a program (argv[0])",
                ));
            }
            _ => {}
        }
        if let Some(ring) = &self.ring {
            let uses = self
                .command
                .as_ref()
                .is_some_and(|c| c.iter().any(|a| a.contains(RING)));
            if !uses {
                return Err(ConfigError::new(
                    format!("{path}::ring"),
                    "ring needs a command that names the copy as {ring}, e.g. [spdk_trace, -f, \"{ring}\", -j]",
                ));
            }
            if let Err(e) = glob::Pattern::new(ring) {
                return Err(ConfigError::new(
                    format!("{path}::ring"),
                    format!("invalid pattern {ring:?}: {e}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.sampling.ratio) {
            return Err(ConfigError::new(
                format!("{path}::sampling::ratio"),
                format!("{} is not a fraction in 0..=1", self.sampling.ratio),
            ));
        }
        for (name, d) in [
            ("collection_interval", self.collection_interval),
            ("timeout", self.timeout),
            ("max_open", self.max_open),
        ] {
            if d.is_zero() {
                return Err(ConfigError::new(
                    format!("{path}::{name}"),
                    "must be greater than 0",
                ));
            }
        }
        if self.max_document_mib == 0 {
            return Err(ConfigError::new(
                format!("{path}::max_document_mib"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Where the file reader is: the file's identity and how far it was read.
#[derive(Debug, Default)]
struct FileCursor {
    ino: u64,
    offset: u64,
    /// The last bytes before `offset`: a file rewritten in place no longer has them there.
    tail: Vec<u8>,
}

/// The state behind one receiver: pairing across snapshots, the file cursor, the time anchor.
struct State {
    pairing: Pairing,
    cursor: FileCursor,
    /// `unix_ns = offset_ns + tsc × 10^9 ÷ tsc_rate`.
    offset_ns: Option<i128>,
    reported: Counts,
    /// Spans a busy pipeline refused, offered again next interval (at most
    /// [`MAX_HELD_SPANS`]).
    held: Vec<Span>,
}

/// The `spdk_trace` receiver.
pub struct SpdkTraceReceiver {
    id: ComponentId,
    cfg: Config,
    next: NextConsumers,
    set: Settings,
    tasks: Tasks,
    state: Arc<Mutex<State>>,
}

/// What one read produced.
struct Batch {
    spans: Vec<Span>,
    errors: Vec<String>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl SpdkTraceReceiver {
    fn source(&self) -> String {
        match (&self.cfg.file, &self.cfg.command) {
            (Some(f), _) => f.clone(),
            (_, Some(c)) => c.join(" "),
            _ => String::new(),
        }
    }
}

/// Reads what was added to the file since the last read (all of it if it was replaced),
/// capped at `max` bytes, with the time it was last modified.
fn read_file(path: &str, cursor: &mut FileCursor, max: u64) -> Result<(Vec<u8>, u64), String> {
    use std::os::unix::fs::MetadataExt;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(format!("open {path}: {e}")),
    };
    let meta = f.metadata().map_err(|e| format!("stat {path}: {e}"))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(now_nanos, |d| d.as_nanos() as u64);
    let mut replaced = meta.ino() != cursor.ino || meta.len() < cursor.offset;
    if !replaced && !cursor.tail.is_empty() {
        let mut tail = vec![0; cursor.tail.len()];
        f.seek(SeekFrom::Start(cursor.offset - tail.len() as u64))
            .and_then(|_| f.read_exact(&mut tail))
            .map_err(|e| format!("read {path}: {e}"))?;
        replaced = tail != cursor.tail;
    }
    if replaced {
        *cursor = FileCursor {
            ino: meta.ino(),
            ..Default::default()
        };
    }
    if meta.len() == cursor.offset {
        return Ok((Vec::new(), mtime));
    }
    if meta.len() - cursor.offset > max {
        // Skip it: a document this large is refused rather than read into memory.
        let new = meta.len() - cursor.offset;
        cursor.offset = meta.len();
        cursor.tail.clear();
        return Err(format!(
            "{path}: {new} new bytes exceed max_document_mib; skipped"
        ));
    }
    f.seek(SeekFrom::Start(cursor.offset))
        .map_err(|e| format!("read {path}: {e}"))?;
    let mut buf = Vec::with_capacity((meta.len() - cursor.offset) as usize);
    f.take(meta.len() - cursor.offset)
        .read_to_end(&mut buf)
        .map_err(|e| format!("read {path}: {e}"))?;
    Ok((buf, mtime))
}

/// Pairs the complete documents of `buf` (taken at `taken_ns`), returning the spans of the
/// trees they completed and how many bytes were consumed (an unfinished last document is
/// left for the next read).
fn pair_documents(
    state: &mut State,
    buf: &[u8],
    taken_ns: u64,
    docs_counter: &Telemetry,
    id: &str,
) -> (Batch, usize) {
    let mut batch = Batch {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let ranges = match documents(buf) {
        Ok(r) => r,
        Err(e) => {
            docs_counter
                .counter(
                    "strata_receiver_spdk_trace_documents",
                    &[("receiver", id), ("outcome", "invalid")],
                )
                .add(1);
            batch
                .errors
                .push(format!("not spdk_trace -j JSON: {e}; the rest is skipped"));
            return (batch, buf.len());
        }
    };
    let consumed = ranges.last().map_or(0, |r| r.end);
    for r in ranges {
        let outcome = match parse(&buf[r], &mut state.pairing) {
            Ok((header, n)) => {
                let trees = state.pairing.end_document();
                let rate = i128::from(header.tsc_rate);
                if n > 0 {
                    let newest = i128::from(state.pairing.newest_tsc());
                    let anchor = i128::from(taken_ns) - newest * 1_000_000_000 / rate;
                    if state
                        .offset_ns
                        .is_none_or(|o| (o - anchor).abs() > 1_000_000_000)
                    {
                        state.offset_ns = Some(anchor);
                    }
                }
                let offset = state.offset_ns.unwrap_or(0);
                batch.spans.extend(state.pairing.to_spans(trees, offset));
                "parsed"
            }
            Err(e) => {
                // The entries before the error were paired; the trees they completed go out.
                let trees = state.pairing.end_document();
                let offset = state.offset_ns.unwrap_or(0);
                batch.spans.extend(state.pairing.to_spans(trees, offset));
                batch
                    .errors
                    .push(format!("invalid spdk_trace -j document: {e}"));
                "invalid"
            }
        };
        docs_counter
            .counter(
                "strata_receiver_spdk_trace_documents",
                &[("receiver", id), ("outcome", outcome)],
            )
            .add(1);
    }
    (batch, consumed)
}

/// Reads `r` to its end, keeping the first `keep` bytes (the rest is read and dropped, so a
/// chatty stderr never blocks the command).
async fn keep_head(mut r: impl tokio::io::AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let (mut head, mut buf) = (Vec::new(), [0u8; 8192]);
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = keep.saturating_sub(head.len());
        head.extend_from_slice(&buf[..n.min(room)]);
    }
    head
}

/// What `command` arguments say for the path of the ring's copy.
const RING: &str = "{ring}";

/// The newest file (by modification time) matching `pattern`, copied to a temporary file that
/// is removed when dropped.
///
/// # Errors
/// An invalid pattern, no matching file, or the copy failing.
fn snapshot_ring(pattern: &str) -> Result<tempfile::TempPath, String> {
    let newest = glob::glob(pattern)
        .map_err(|e| format!("ring {pattern:?}: {e}"))?
        .filter_map(Result::ok)
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
        .ok_or_else(|| {
            format!("no SPDK trace ring matches {pattern:?} (is spdk_tgt running with -e?)")
        })?;
    let copy = tempfile::Builder::new()
        .prefix("strata-spdk-trace-")
        .suffix(".shm")
        .tempfile()
        .map_err(|e| format!("cannot create the ring's copy: {e}"))?
        .into_temp_path();
    std::fs::copy(&newest, &copy).map_err(|e| format!("cannot copy {}: {e}", newest.display()))?;
    Ok(copy)
}

/// Runs `argv` with a deadline, returning its stdout. At most `max` bytes are ever held: a
/// command that prints more is killed and its output refused; stderr is kept to 64 KiB.
async fn run_command(argv: &[String], timeout: Duration, max: u64) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("{program}: no pipes"));
    };
    let run = async {
        // stderr is drained beside stdout, so neither pipe can block the command.
        let err_task = tokio::spawn(keep_head(stderr, 64 << 10));
        let mut out = Vec::new();
        let read = stdout.take(max + 1).read_to_end(&mut out).await;
        if let Err(e) = read {
            err_task.abort();
            return Err(format!("{program}: reading its output: {e}"));
        }
        if out.len() as u64 > max {
            let _ = child.start_kill();
            err_task.abort();
            return Err(format!(
                "{program} printed more than max_document_mib ({max} bytes); killed"
            ));
        }
        let status = child.wait().await.map_err(|e| format!("{program}: {e}"))?;
        let err = err_task.await.unwrap_or_default();
        Ok((status, out, err))
    };
    let (status, out, err) = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| format!("{program} did not finish within {timeout:?}; killed"))??;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err);
        let stderr: String = stderr.trim().chars().take(300).collect();
        return Err(format!("{program} failed ({status}): {stderr}"));
    }
    Ok(out)
}

/// One read: the new documents, paired, off the async runtime.
async fn read_once(
    cfg: &Config,
    state: &Arc<Mutex<State>>,
    telemetry: &Telemetry,
    id: &str,
) -> Batch {
    let max = cfg.max_document_mib.saturating_mul(1 << 20);
    let (buf, taken, from_file) = if let Some(path) = &cfg.file {
        let (path, st) = (path.clone(), state.clone());
        let r = tokio::task::spawn_blocking(move || read_file(&path, &mut lock(&st).cursor, max))
            .await
            .unwrap_or_else(|e| Err(format!("read task failed: {e}")));
        match r {
            Ok((buf, mtime)) => (buf, mtime, true),
            Err(e) => {
                return Batch {
                    spans: Vec::new(),
                    errors: vec![e],
                };
            }
        }
    } else if let Some(argv) = &cfg.command {
        // With `ring`: the copy lives until the command has run.
        let mut argv = std::borrow::Cow::Borrowed(argv);
        let _copy = match &cfg.ring {
            None => None,
            Some(pattern) => {
                let pattern = pattern.clone();
                let copy = tokio::task::spawn_blocking(move || snapshot_ring(&pattern))
                    .await
                    .unwrap_or_else(|e| Err(format!("ring copy task failed: {e}")));
                match copy {
                    Ok(copy) => {
                        let at = copy.display().to_string();
                        argv = std::borrow::Cow::Owned(
                            argv.iter().map(|a| a.replace(RING, &at)).collect(),
                        );
                        Some(copy)
                    }
                    Err(e) => {
                        return Batch {
                            spans: Vec::new(),
                            errors: vec![e],
                        };
                    }
                }
            }
        };
        match run_command(&argv, cfg.timeout, max).await {
            Ok(buf) => (buf, now_nanos(), false),
            Err(e) => {
                return Batch {
                    spans: Vec::new(),
                    errors: vec![e],
                };
            }
        }
    } else {
        return Batch {
            spans: Vec::new(),
            errors: Vec::new(),
        };
    };
    if buf.is_empty() {
        return Batch {
            spans: Vec::new(),
            errors: Vec::new(),
        };
    }
    let (st, telemetry, id) = (state.clone(), telemetry.clone(), id.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut s = lock(&st);
        let (batch, consumed) = pair_documents(&mut s, &buf, taken, &telemetry, &id);
        if from_file {
            s.cursor.offset += consumed as u64;
            let keep = consumed.min(64);
            s.cursor.tail = buf[consumed - keep..consumed].to_vec();
        }
        batch
    })
    .await
    .unwrap_or_else(|e| Batch {
        spans: Vec::new(),
        errors: vec![format!("pairing task failed: {e}")],
    })
}

/// Spans per request handed to the pipeline.
const SPANS_PER_REQUEST: usize = 8192;

/// Spans kept for the next interval when the pipeline stays busy; beyond this they are dropped
/// and counted (the trace ring is not read back).
const MAX_HELD_SPANS: usize = 100_000;

/// Hands `spans` on in requests of at most [`SPANS_PER_REQUEST`], retrying a refusal the
/// pipeline says is temporary (a full queue) a few times. Returns the spans still refused
/// that way, to offer again next interval; a permanent refusal is counted and dropped.
async fn deliver(
    next: &BoxConsumer<Traces>,
    obs: &ReceiverObs,
    resource: &Resource,
    spans: Vec<Span>,
    id: &ComponentId,
) -> Vec<Span> {
    let mut spans = spans;
    while !spans.is_empty() {
        let rest = spans.split_off(spans.len().min(SPANS_PER_REQUEST));
        let n = spans.len();
        let request = Traces {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "strata/receiver/spdk_trace".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            match next.consume(request.clone()).await {
                Ok(_) => {
                    obs.accepted(Signal::Traces, n);
                    break;
                }
                Err(ConsumeError::Retryable { error, retry_after }) if attempt < 5 => {
                    debug!(receiver = %id, error = %error, "pipeline busy; retrying the spans");
                    tokio::time::sleep(retry_after.unwrap_or(delay)).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(ConsumeError::Retryable { error, .. }) => {
                    warn!(receiver = %id, error = %error, "pipeline busy; the spans are offered again next interval");
                    let mut held: Vec<Span> = request
                        .resource_spans
                        .into_iter()
                        .flat_map(|r| r.scope_spans)
                        .flat_map(|s| s.spans)
                        .collect();
                    held.extend(rest);
                    return held;
                }
                Err(e) => {
                    warn!(receiver = %id, spans = n, error = %e, "pipeline refused the spans");
                    obs.refused(Signal::Traces, n);
                    break;
                }
            }
        }
        spans = rest;
    }
    Vec::new()
}

/// Adds what `now` counts beyond `before` to the span counters.
fn report(telemetry: &Telemetry, id: &str, before: Counts, now: Counts) {
    for (outcome, b, n) in [
        ("completed", before.seen, now.seen),
        ("kept", before.kept, now.kept),
        ("sampled_out", before.sampled_out, now.sampled_out),
        ("dropped_open", before.dropped_open, now.dropped_open),
    ] {
        if n > b {
            telemetry
                .counter(
                    "strata_receiver_spdk_trace_spans",
                    &[("receiver", id), ("outcome", outcome)],
                )
                .add(n - b);
        }
    }
    if now.unmatched > before.unmatched {
        telemetry
            .counter(
                "strata_receiver_spdk_trace_entries_unmatched",
                &[("receiver", id)],
            )
            .add(now.unmatched - before.unmatched);
    }
    if now.duration_mismatch > before.duration_mismatch {
        warn!(receiver = %id, "spdk_trace: a completion's object.time disagreed with its tsc difference");
    }
}

#[async_trait]
impl Component for SpdkTraceReceiver {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let Some(next) = self.next.traces.clone() else {
            return Ok(());
        };
        let cfg = self.cfg.clone();
        let state = self.state.clone();
        let telemetry = self.set.telemetry.clone();
        let id = self.id.clone();
        let obs = ReceiverObs::new(&telemetry, &id, "");
        let resource = Resource {
            attributes: vec![
                str_kv("service.name", &cfg.service_name),
                str_kv("spdk.trace.source", &self.source()),
            ],
            ..Default::default()
        };
        info!(receiver = %id, source = %self.source(), "reading SPDK tracepoints");
        let cancel = self.tasks.token();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(cfg.initial_delay) => {}
            }
            let mut ticker = tokio::time::interval(cfg.collection_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let name = id.to_string();
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let batch = read_once(&cfg, &state, &telemetry, &name).await;
                for e in &batch.errors {
                    warn!(receiver = %id, error = %e, "spdk_trace read error");
                }
                obs.scrape_errors(batch.errors.len());
                {
                    let mut s = lock(&state);
                    let now = s.pairing.counts();
                    report(&telemetry, &name, s.reported, now);
                    s.reported = now;
                }
                let mut spans = std::mem::take(&mut lock(&state).held);
                spans.extend(batch.spans);
                if !spans.is_empty() {
                    let mut held = deliver(&next, &obs, &resource, spans, &id).await;
                    if held.len() > MAX_HELD_SPANS {
                        let dropped = held.len() - MAX_HELD_SPANS;
                        held.drain(..dropped);
                        warn!(receiver = %id, dropped, "the pipeline stayed busy: the oldest held spans are dropped");
                        obs.refused(Signal::Traces, dropped);
                    }
                    lock(&state).held = held;
                }
            }
        });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Receiver for SpdkTraceReceiver {}

/// Factory of the `spdk_trace` receiver (traces only).
#[derive(Debug, Default)]
pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: NextConsumers,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let opts = Options {
            max_open: c.max_open.as_secs_f64(),
            ratio: c.sampling.ratio,
            latency_threshold: c.sampling.latency_threshold.map(|d| d.as_secs_f64()),
        };
        Ok(Arc::new(SpdkTraceReceiver {
            id: set.id.clone(),
            cfg: c,
            next,
            set,
            tasks: Tasks::default(),
            state: Arc::new(Mutex::new(State {
                pairing: Pairing::new(opts),
                cursor: FileCursor::default(),
                offset_ns: None,
                reported: Counts::default(),
                held: Vec::new(),
            })),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_pipelines::testing::{CollectingConsumer, FailingConsumer};

    fn spans(n: usize) -> Vec<Span> {
        (0..n)
            .map(|i| Span {
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                ..Default::default()
            })
            .collect()
    }

    /// A pipeline that stays busy gets the spans back to hold (none dropped); one that takes
    /// them gets them all, in requests of at most SPANS_PER_REQUEST.
    #[tokio::test(start_paused = true)]
    async fn busy_pipelines_hand_the_spans_back() {
        let id = ComponentId::new("spdk_trace", None);
        let telemetry = Telemetry::default();
        let obs = ReceiverObs::new(&telemetry, &id, "");
        let busy = Arc::new(FailingConsumer::retryable());
        let next: BoxConsumer<Traces> = busy.clone();
        let held = deliver(&next, &obs, &Resource::default(), spans(10_000), &id).await;
        assert_eq!(held.len(), 10_000);
        assert_eq!(busy.calls(), 6, "five retries, then held");
        let up = Arc::new(CollectingConsumer::<Traces>::default());
        let next: BoxConsumer<Traces> = up.clone();
        assert!(
            deliver(&next, &obs, &Resource::default(), held, &id)
                .await
                .is_empty()
        );
        assert_eq!(up.item_count(), 10_000);
        assert_eq!(up.batches().len(), 2);
        // A permanent refusal is not held.
        let next: BoxConsumer<Traces> = Arc::new(FailingConsumer::permanent());
        assert!(
            deliver(&next, &obs, &Resource::default(), spans(5), &id)
                .await
                .is_empty()
        );
    }
}
