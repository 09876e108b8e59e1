//! `strata`: the layered OpenTelemetry collector for DPUs/IPUs, BMCs and Kubernetes clusters.
//!
//! ```text
//! strata                          run the embedded default profile (configs/dpu.yaml)
//! strata --config a.yaml [--config b.yaml]   run merged config files
//! strata --profile node           run an embedded profile
//! strata validate --config a.yaml check a config, print every error, exit 1 if any
//! strata components               list component types and their signals
//! strata health                   probe the health_check endpoint (the image's HEALTHCHECK)
//! ```

mod components;
mod heap;
mod keys;
mod probe;

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use strata_pipelines::config::Source;
use strata_pipelines::telemetry::init_logs;
use strata_pipelines::{Config, Factories, Graph, Host, Telemetry};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Deployment profiles embedded in the binary (`--profile NAME`).
const PROFILES: &[(&str, &str)] = &[
    ("dpu", include_str!("../configs/dpu.yaml")),
    ("sidecar", include_str!("../configs/sidecar.yaml")),
    ("node", include_str!("../configs/node.yaml")),
    ("cluster", include_str!("../configs/cluster.yaml")),
];

/// Overlays merged onto a profile, in this order, when an environment variable is set (and
/// not empty): `(profile, variable, file name, text)`; profile `*` is every profile. The security overlays (README,
/// "Securing the tiers") turn on TLS, mTLS, token auth and tenant stamping when the variables
/// name their files.
const OVERLAYS: &[(&str, &str, &str, &str)] = &[
    (
        "*",
        "STRATA_HEALTH_ENDPOINT",
        "overlays/health.yaml",
        include_str!("../configs/overlays/health.yaml"),
    ),
    (
        "dpu",
        "STRATA_UPSTREAM",
        "dpu.upstream.yaml",
        include_str!("../configs/dpu.upstream.yaml"),
    ),
    (
        "sidecar",
        "STRATA_UPSTREAM_CA_FILE",
        "secure/sidecar.upstream-tls.yaml",
        include_str!("../configs/secure/sidecar.upstream-tls.yaml"),
    ),
    (
        "sidecar",
        "STRATA_UPSTREAM_TOKEN_FILE",
        "secure/sidecar.upstream-token.yaml",
        include_str!("../configs/secure/sidecar.upstream-token.yaml"),
    ),
    (
        "node",
        "STRATA_LIBVIRT_URI",
        "node.kvm.yaml",
        include_str!("../configs/node.kvm.yaml"),
    ),
    (
        "node",
        "STRATA_TLS_CERT_FILE",
        "secure/server.tls.yaml",
        include_str!("../configs/secure/server.tls.yaml"),
    ),
    (
        "node",
        "STRATA_TLS_CLIENT_CA_FILE",
        "secure/server.mtls.yaml",
        include_str!("../configs/secure/server.mtls.yaml"),
    ),
    (
        "node",
        "STRATA_UPSTREAM_CA_FILE",
        "secure/node.upstream-tls.yaml",
        include_str!("../configs/secure/node.upstream-tls.yaml"),
    ),
    (
        "node",
        "STRATA_UPSTREAM_TOKEN_FILE",
        "secure/node.upstream-token.yaml",
        include_str!("../configs/secure/node.upstream-token.yaml"),
    ),
    (
        "node",
        "STRATA_AUTH_TOKENS_FILE",
        "secure/node.auth.yaml",
        include_str!("../configs/secure/node.auth.yaml"),
    ),
    (
        "cluster",
        "STRATA_TLS_CERT_FILE",
        "secure/server.tls.yaml",
        include_str!("../configs/secure/server.tls.yaml"),
    ),
    (
        "cluster",
        "STRATA_TLS_CLIENT_CA_FILE",
        "secure/server.mtls.yaml",
        include_str!("../configs/secure/server.mtls.yaml"),
    ),
    (
        "cluster",
        "STRATA_AUTH_TOKENS_FILE",
        "secure/cluster.auth.yaml",
        include_str!("../configs/secure/cluster.auth.yaml"),
    ),
];

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "A layered OpenTelemetry collector for DPUs, BMCs and Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Args, Clone, Default)]
struct SourceArgs {
    /// Config file; repeat to merge several (later files win).
    #[arg(long = "config", value_name = "FILE", global = true)]
    configs: Vec<String>,
    /// Embedded profile: dpu, sidecar, node, cluster. With `--config`, the files are merged
    /// over the profile.
    #[arg(long, value_name = "NAME", global = true)]
    profile: Option<String>,
    /// Print the effective configuration (profile, overlays and files merged, variables
    /// expanded, credentials redacted) and exit.
    #[arg(long, global = true)]
    print_config: bool,
    /// Threads that run the pipelines (also `STRATA_WORKER_THREADS`). Default: one per CPU,
    /// except the sidecar profile, which uses one (BENCHMARKS.md: at 10k spans/s a second
    /// thread costs more in wake-ups than it saves).
    #[arg(long, value_name = "N", global = true)]
    worker_threads: Option<usize>,
}

impl SourceArgs {
    /// `--worker-threads`, else `STRATA_WORKER_THREADS`, else 1 for the sidecar profile;
    /// `None` leaves tokio's default (one per CPU, or `TOKIO_WORKER_THREADS`).
    fn worker_threads(&self) -> anyhow::Result<Option<usize>> {
        let n = match (self.worker_threads, std::env::var("STRATA_WORKER_THREADS")) {
            (Some(n), _) => Some(n),
            (None, Ok(v)) => Some(v.trim().parse().with_context(|| {
                format!("STRATA_WORKER_THREADS: expected a number of threads, got {v:?}")
            })?),
            (None, Err(_)) => (self.profile.as_deref() == Some("sidecar")).then_some(1),
        };
        if n == Some(0) {
            bail!("worker threads: must be at least 1");
        }
        Ok(n)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Validate the config and exit: 0 when valid, 1 with every error otherwise.
    Validate,
    /// List the component types and the signals they support.
    Components,
    /// Probe a running Strata's `health_check` extension (the container image's
    /// HEALTHCHECK): exit 0 when `PATH` answers 2xx.
    Health {
        /// `host:port` of the health endpoint. Default: `STRATA_HEALTH_ENDPOINT` (a wildcard
        /// host is probed on loopback).
        #[arg(long)]
        endpoint: Option<String>,
        /// The path: `/livez` (alive, also while draining), `/readyz` (ready for data) or `/`.
        #[arg(long, default_value = "/livez")]
        path: String,
    },
}

fn sources(args: &SourceArgs) -> anyhow::Result<Vec<Source>> {
    let files = args
        .configs
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config {path}"))?;
            Ok(Source {
                name: path.clone(),
                text,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.profile.is_none() && !files.is_empty() {
        return Ok(files);
    }
    let mut out = profile_sources(args)?;
    out.extend(files);
    Ok(out)
}

/// The profile (default `dpu`) and the overlays its environment turns on.
fn profile_sources(args: &SourceArgs) -> anyhow::Result<Vec<Source>> {
    let name = args.profile.as_deref().unwrap_or("dpu");
    let Some((_, text)) = PROFILES.iter().find(|(n, _)| *n == name) else {
        let names: Vec<_> = PROFILES.iter().map(|(n, _)| *n).collect();
        bail!("unknown profile {name:?} (available: {})", names.join(", "));
    };
    let mut out = vec![Source {
        name: format!("profile {name}"),
        text: (*text).to_owned(),
    }];
    for (profile, var, file, text) in OVERLAYS {
        let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
        if (*profile == name || *profile == "*") && set {
            out.push(Source {
                name: format!("profile {name} + configs/{file} ({var} is set)"),
                text: (*text).to_owned(),
            });
        }
    }
    Ok(out)
}

/// Prints the effective YAML: the sources merged, variables expanded, credentials redacted.
fn print_config(args: &SourceArgs) -> anyhow::Result<()> {
    let srcs = sources(args)?;
    for s in &srcs {
        println!("# {}", s.name);
    }
    let merged = strata_pipelines::config::merged_with(&srcs, &|n| std::env::var(n).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    print!(
        "{}",
        serde_yaml_ng::to_string(&strata_pipelines::config::redacted(merged))?
    );
    Ok(())
}

/// A loaded config and its keys accepted without effect (path, why).
type Loaded = (Config, Vec<(String, &'static str)>);

/// The config from the sources, with the components' key rules applied
/// ([`strata_pipelines::graph::apply_key_rules`]); the keys accepted without effect come back
/// with their paths and reasons, for the caller to log once logging is set up.
fn load(
    args: &SourceArgs,
    factories: &Factories,
) -> anyhow::Result<Result<Loaded, strata_pipelines::ConfigErrors>> {
    let srcs = sources(args)?;
    Ok(strata_pipelines::config::load(&srcs).map(|mut cfg| {
        let no_effect = strata_pipelines::graph::apply_key_rules(&mut cfg, factories);
        (cfg, no_effect)
    }))
}

/// Logs each key accepted without effect, once.
fn warn_no_effect(keys: &[(String, &'static str)]) {
    for (path, why) in keys {
        tracing::warn!(key = %path, "accepted without effect: {why}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let factories = match components::factories() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("strata: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.source.print_config {
        return match print_config(&cli.source) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("strata: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match cli.command {
        Some(Command::Components) => {
            print_components(&factories);
            ExitCode::SUCCESS
        }
        Some(Command::Health { endpoint, path }) => match probe::run(endpoint.as_deref(), &path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("strata health: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Validate) => match validate(&cli.source, &factories) {
            Ok(warnings) => {
                for w in &warnings {
                    if w.missing_file {
                        eprintln!("warning: {w} (read when strata starts: it must exist by then)");
                    } else {
                        eprintln!("warning: {w}");
                    }
                }
                println!("config is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
        None => match run(&cli.source, factories) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // Once: to the log when it is set up, else to stderr.
                if tracing::dispatcher::has_been_set() {
                    error!("{e:#}");
                } else {
                    eprintln!("strata: {e:#}");
                }
                ExitCode::FAILURE
            }
        },
    }
}

/// `strata components`: the types by kind, one per line, in aligned columns (type, signals,
/// and why this build cannot run it, where it cannot).
fn print_components(f: &Factories) {
    let sig = |s: &[strata_pipelines::Signal]| {
        s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    };
    let rows: Vec<(&str, &str, String, Option<&str>)> = f
        .receivers
        .iter()
        .map(|(n, r)| ("receivers", &**n, sig(r.signals()), r.unavailable()))
        .chain(
            f.processors
                .iter()
                .map(|(n, p)| ("processors", &**n, sig(p.signals()), None)),
        )
        .chain(
            f.exporters
                .iter()
                .map(|(n, e)| ("exporters", &**n, sig(e.signals()), None)),
        )
        .chain(
            f.extensions
                .keys()
                .map(|n| ("extensions", &**n, String::new(), None)),
        )
        .collect();
    let width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let sig_width = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let mut kind = "";
    for (k, name, signals, why) in rows {
        if k != kind {
            println!("{k}:");
            kind = k;
        }
        let line = match why {
            Some(why) => format!("  {name:<width$}  {signals:<sig_width$}  ({why})"),
            None => format!("  {name:<width$}  {signals}"),
        };
        println!("{}", line.trim_end());
    }
}

/// Every error of every source in one run: the document's shape, `service::telemetry` and,
/// when the rest parses, every component and pipeline. Files that do not exist yet (TLS
/// material, token files: [`strata_pipelines::config::ConfigError::missing_file`]) are
/// returned as warnings, as the Collector reads them only at start.
fn validate(
    args: &SourceArgs,
    factories: &Factories,
) -> anyhow::Result<Vec<strata_pipelines::config::ConfigError>> {
    let srcs = sources(args)?;
    let (cfg, mut errs) = strata_pipelines::config::load_all(&srcs, &|n| std::env::var(n).ok());
    let mut no_effect = Vec::new();
    if let Some(mut cfg) = cfg {
        no_effect = strata_pipelines::graph::apply_key_rules(&mut cfg, factories);
        if let Err(e) = strata_pipelines::graph::validate(&cfg, factories) {
            errs.extend(e.0);
        }
    }
    let (mut warnings, errs): (Vec<_>, Vec<_>) = errs.into_iter().partition(|e| e.missing_file);
    warnings.extend(no_effect.into_iter().map(|(path, why)| {
        strata_pipelines::config::ConfigError::new(path, format!("accepted without effect: {why}"))
    }));
    if errs.is_empty() {
        return Ok(warnings);
    }
    Err(anyhow::anyhow!(
        "invalid config:\n{}",
        strata_pipelines::ConfigErrors(errs)
    ))
}

/// The config sources' names and the merged config's fingerprint (FNV-1a of its YAML, as
/// `--print-config` shows it: a stable fingerprint, not a security measure), so two processes
/// can be told apart or matched from their first log line and their `zpages`.
///
/// # Errors
/// The sources cannot be listed.
fn fingerprint(args: &SourceArgs) -> anyhow::Result<(Vec<String>, String)> {
    let srcs = sources(args)?;
    let names = srcs.iter().map(|s| s.name.clone()).collect();
    let hash = strata_pipelines::config::merged_with(&srcs, &|n| std::env::var(n).ok())
        .ok()
        .and_then(|v| serde_yaml_ng::to_string(&v).ok())
        .map(|t| {
            let h = t.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("{h:016x}")
        })
        .unwrap_or_default();
    Ok((names, hash))
}

fn run(args: &SourceArgs, factories: Factories) -> anyhow::Result<()> {
    let (cfg, no_effect) =
        load(args, &factories)?.map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    init_logs(&cfg.service.telemetry.logs);
    warn_no_effect(&no_effect);
    // Where the config came from, and a fingerprint of it (what `--print-config` shows), so
    // two processes can be told apart or matched from their first log line.
    let (names, hash) = fingerprint(args)?;
    info!(version = env!("CARGO_PKG_VERSION"), sources = ?names, config_hash = %hash, "strata starting");
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.worker_threads()? {
        rt.worker_threads(n);
    }
    let rt = rt
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let out = rt.block_on(serve(args, cfg, factories));
    // Everything was shut down within its deadline; a blocking call still stuck in a library
    // (a hung libvirtd: libvirt's calls have no timeout) must not keep the process alive, as
    // dropping the runtime would wait for it.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    out
}

async fn serve(args: &SourceArgs, cfg: Config, factories: Factories) -> anyhow::Result<()> {
    let mut signals = Signals::listen();
    let telemetry = Telemetry::default();
    strata_pipelines::telemetry::set_heap_probe(heap::stats);
    telemetry.set_resource(&cfg.service.telemetry.resource);
    let graph = Graph::build(&cfg, &factories, &telemetry)
        .map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    let stop_telemetry = CancellationToken::new();
    let metrics_cfg = &cfg.service.telemetry.metrics;
    let telemetry_server = if metrics_cfg.level != "none" {
        let endpoint = metrics_cfg.endpoint();
        let addr: SocketAddr = tokio::net::lookup_host(&endpoint)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| {
                format!(
                    "service::telemetry::metrics::address: invalid address {:?}",
                    endpoint
                )
            })?;
        let (bound, handle) = telemetry
            .serve(addr, metrics_cfg.tls.as_ref(), stop_telemetry.clone())
            .await
            .with_context(|| {
                format!("service::telemetry::metrics::address: cannot listen on {addr}")
            })?;
        info!(address = %bound, "self-telemetry served at /metrics");
        Some(handle)
    } else {
        None
    };
    let host = Host {
        telemetry: telemetry.clone(),
        ..Host::default()
    };
    let (sources, config_hash) = fingerprint(args)?;
    host.health.update_service(|s| {
        s.version = env!("CARGO_PKG_VERSION").into();
        s.config_hash = config_hash;
        s.sources = sources;
        s.features = if cfg!(feature = "libvirt") {
            vec!["libvirt".into()]
        } else {
            Vec::new()
        };
    });
    graph
        .start(&host)
        .await
        // The error's text already holds its cause: one line, not the cause twice.
        .map_err(|e| anyhow::anyhow!("pipelines failed to start: {e}"))?;
    info!("everything is ready; send SIGHUP to reload the config, SIGTERM or Ctrl-C to stop");
    let mut running = Running { cfg, graph };
    loop {
        match signals.next().await {
            Signal::Stop => break,
            Signal::Reload => {
                running = reload(args, running, &factories, &host).await;
            }
        }
    }
    let deadline = running.cfg.service.shutdown_timeout;
    info!(deadline = ?deadline, "shutting down: receivers stop, queues drain (a second SIGINT or SIGTERM stops at once)");
    let drain = running.graph.shutdown(deadline);
    tokio::pin!(drain);
    let result = loop {
        tokio::select! {
            r = &mut drain => break r,
            s = signals.next() => match s {
                Signal::Stop => {
                    stop_now(&telemetry);
                    stop_telemetry.cancel();
                    bail!("stopped by a second signal before the drain finished");
                }
                Signal::Reload => info!("SIGHUP ignored: shutting down"),
            },
        }
    };
    stop_telemetry.cancel();
    if let Some(h) = telemetry_server {
        let _ = h.await;
    }
    match result {
        Ok(()) => {
            info!("shutdown complete");
            Ok(())
        }
        Err(errs) => {
            let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            bail!("shutdown incomplete: {}", msgs.join("; "))
        }
    }
}

/// A second SIGINT/SIGTERM during the drain: logs, per exporter, what it still held — its
/// queue (`otelcol_exporter_queue_size`, in its sizer's units) and the items being sent or
/// retried (`strata_exporter_in_flight_items`) — and whether that survives: a persistent queue
/// (`strata_exporter_queue_persistent` = 1) keeps its records on disk for the next start, an
/// in-memory one loses them.
fn stop_now(telemetry: &Telemetry) {
    /// (queued, in flight, persistent) per (exporter, data type).
    type Held = (i64, i64, bool);
    let mut held: std::collections::BTreeMap<(String, String), Held> = Default::default();
    for gauge in [
        "otelcol_exporter_queue_size",
        "strata_exporter_in_flight_items",
        "strata_exporter_queue_persistent",
    ] {
        for (labels, v) in telemetry.gauge_values(gauge) {
            let label = |k: &str| {
                labels
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map_or(String::new(), |(_, v)| v.clone())
            };
            let e = held
                .entry((label("exporter"), label("data_type")))
                .or_default();
            match gauge {
                "otelcol_exporter_queue_size" => e.0 += v,
                "strata_exporter_in_flight_items" => e.1 += v,
                _ => e.2 |= v == 1,
            }
        }
    }
    let mut lost = 0;
    for ((exporter, data_type), (queued, in_flight, persistent)) in held {
        if queued <= 0 && in_flight <= 0 {
            continue;
        }
        if persistent {
            info!(exporter = %exporter, data_type = %data_type, queued, in_flight,
                "stopping now: the persistent queue keeps this data on disk for the next start");
        } else {
            lost += in_flight.max(0);
            error!(exporter = %exporter, data_type = %data_type, queued, in_flight,
                "stopping now: this in-memory queue's data is lost");
        }
    }
    error!(
        lost_in_flight_items = lost,
        "received a second signal during the drain: stopping at once"
    );
}

/// The graph that runs and the config it was built from.
struct Running {
    cfg: Config,
    graph: Graph,
}

/// SIGHUP: re-reads the config sources, validates and builds the new graph, and only then
/// replaces the running one. The old graph is shut down in reload mode (its in-memory queues
/// are parked in `host.handover` and taken by the new exporters with the same ids; persistent
/// queues stay on disk and are reopened), then the new graph starts. An invalid config, or one
/// that fails to build, leaves the running graph untouched. If the new graph fails to start
/// (a port taken, say), the previous config is built and started again.
async fn reload(args: &SourceArgs, old: Running, factories: &Factories, host: &Host) -> Running {
    info!("received SIGHUP: reloading the configuration");
    let new_cfg = match load(args, factories) {
        Ok(Ok((c, no_effect))) => {
            warn_no_effect(&no_effect);
            c
        }
        Ok(Err(e)) => {
            error!("reload refused, invalid config; the running configuration stays:\n{e}");
            return old;
        }
        Err(e) => {
            error!("reload refused: {e:#}; the running configuration stays");
            return old;
        }
    };
    let new_graph = match Graph::build(&new_cfg, factories, &host.telemetry) {
        Ok(g) => g,
        Err(e) => {
            error!("reload refused, invalid config; the running configuration stays:\n{e}");
            return old;
        }
    };
    host.handover.set_reloading(true);
    if let Err(errs) = old.graph.shutdown(old.cfg.service.shutdown_timeout).await {
        for e in errs {
            error!(error = %e, "while stopping the previous configuration");
        }
    }
    let fresh = || Host {
        deadline: strata_pipelines::Deadline::default(),
        ..host.clone()
    };
    if let Ok((sources, config_hash)) = fingerprint(args) {
        host.health.update_service(|s| {
            s.sources = sources;
            s.config_hash = config_hash;
        });
    }
    let next = match new_graph.start(&fresh()).await {
        Ok(()) => {
            info!("reload complete: the new configuration is running");
            Running {
                cfg: new_cfg,
                graph: new_graph,
            }
        }
        Err(e) => {
            error!(error = %e, "the new configuration failed to start; restoring the previous one");
            let graph = Graph::build(&old.cfg, factories, &host.telemetry)
                .expect("the running configuration was valid");
            if let Err(e) = graph.start(&fresh()).await {
                error!(error = %e, "the previous configuration failed to start again; nothing runs until the next SIGHUP");
            }
            Running {
                cfg: old.cfg,
                graph,
            }
        }
    };
    host.handover.set_reloading(false);
    for (key, _) in host.handover.take_unclaimed() {
        error!(queue = %key, "the new configuration has no exporter for this queue; its data is dropped");
    }
    next
}

enum Signal {
    Stop,
    Reload,
}

/// The process signals strata acts on, listened to from start-up (SIGHUP's default action would
/// kill the process).
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let open = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                error!(error = %e, "cannot listen for {name}");
                None
            }
        };
        Signals {
            term: open(SignalKind::terminate(), "SIGTERM"),
            hup: open(SignalKind::hangup(), "SIGHUP"),
        }
    }

    async fn next(&mut self) -> Signal {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { info!("received SIGINT"); Signal::Stop }
            _ = recv(&mut self.term) => { info!("received SIGTERM"); Signal::Stop }
            _ = recv(&mut self.hup) => Signal::Reload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SourceArgs;

    #[test]
    fn worker_threads_flag_and_the_sidecar_default() {
        // (Run without STRATA_WORKER_THREADS in the environment, as CI does.)
        if std::env::var_os("STRATA_WORKER_THREADS").is_some() {
            return;
        }
        let args = |profile: Option<&str>, n: Option<usize>| SourceArgs {
            configs: vec![],
            profile: profile.map(str::to_string),
            worker_threads: n,
            print_config: false,
        };
        assert_eq!(args(None, None).worker_threads().unwrap(), None);
        assert_eq!(args(Some("node"), None).worker_threads().unwrap(), None);
        assert_eq!(
            args(Some("sidecar"), None).worker_threads().unwrap(),
            Some(1)
        );
        assert_eq!(
            args(Some("sidecar"), Some(2)).worker_threads().unwrap(),
            Some(2)
        );
        let e = args(None, Some(0)).worker_threads().unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
