//! TLS material that follows its files: rebuilt when their *content* changes, so a Kubernetes
//! Secret update (an atomic swap of the `..data` symlink, the files' mtimes untouched) is seen,
//! and a half-written or invalid file keeps the material in use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::telemetry::{Counter, Telemetry};

/// The content of every watched file at one instant, by path.
pub type Snapshot = BTreeMap<String, Vec<u8>>;

/// Builds the value from a snapshot of its files.
type Build<T> = Box<dyn Fn(&Snapshot) -> Result<T, String> + Send + Sync>;

/// A value (a rustls server or client config) built from files and rebuilt when their content
/// changes. Readers take [`Reloading::current`] for each new connection; connections already
/// established keep the config they were made with.
pub struct Reloading<T> {
    what: String,
    files: Vec<String>,
    build: Build<T>,
    current: RwLock<Arc<T>>,
    seen: Mutex<Snapshot>,
    interval: Option<Duration>,
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("what", &self.what)
            .field("files", &self.files)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Reads every file in `files` (a missing file is an error naming it).
///
/// # Errors
/// `"<path>: <io error>"`.
pub fn snapshot(files: &[String]) -> Result<Snapshot, String> {
    let mut s = Snapshot::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
        s.insert(f.clone(), bytes);
    }
    Ok(s)
}

/// The content of `path` in `snap` (the build functions read files only through this).
///
/// # Errors
/// `path` is not in the snapshot (a bug: every file read must be watched).
pub fn file<'a>(snap: &'a Snapshot, path: &str) -> Result<&'a [u8], String> {
    snap.get(path)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{path}: not read"))
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Reads `files`, builds the first value, and remembers their content. `what` names the
    /// settings in logs (`receivers::otlp::protocols::grpc::tls`); `interval` is how often
    /// [`Reloading::watch`] looks at the files (`None`: never).
    ///
    /// # Errors
    /// A file that cannot be read or material that does not build, with its path.
    pub fn new(
        what: impl Into<String>,
        files: Vec<String>,
        interval: Option<Duration>,
        build: impl Fn(&Snapshot) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, String> {
        let snap = snapshot(&files)?;
        let value = build(&snap)?;
        Ok(Arc::new(Reloading {
            what: what.into(),
            files,
            build: Box::new(build),
            current: RwLock::new(Arc::new(value)),
            seen: Mutex::new(snap),
            interval,
        }))
    }

    /// The value new connections use.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Looks at the files once: `Ok(true)` when their content changed and the new value is in
    /// use, `Ok(false)` when nothing changed.
    ///
    /// # Errors
    /// The content changed but does not build (or a file is unreadable, as during a
    /// non-atomic rewrite): the old value stays in use. The same broken content is reported
    /// once, not at every look.
    pub fn check(&self) -> Result<bool, String> {
        let snap = snapshot(&self.files)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == snap {
            return Ok(false);
        }
        let built = (self.build)(&snap);
        // Remember the content either way: a broken file is reported once, and the same bad
        // content is not rebuilt every interval; any later change is tried again.
        *seen = snap;
        let value = built?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
        Ok(true)
    }

    /// Looks at the files every `interval` until `cancel`: a change is logged and counted in
    /// `strata_tls_reloads_total{settings, outcome="success"}`; a failure keeps the old
    /// material, logs a warning with its cause and counts `outcome="failure"`. Returns at once
    /// without an interval.
    pub async fn watch(self: Arc<Self>, telemetry: Telemetry, cancel: CancellationToken) {
        let Some(every) = self.interval.filter(|d| !d.is_zero()) else {
            return;
        };
        let counter = |outcome: &str| -> Counter {
            telemetry.counter(
                "strata_tls_reloads_total",
                &[("settings", self.what.as_str()), ("outcome", outcome)],
            )
        };
        let (ok, failed) = (counter("success"), counter("failure"));
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.check() {
                Ok(false) => {}
                Ok(true) => {
                    last_error = None;
                    ok.add(1);
                    tracing::info!(settings = %self.what, "TLS material changed: new connections use it");
                }
                Err(e) => {
                    // An unreadable file stays unreadable between looks: one warning.
                    if last_error.as_deref() != Some(e.as_str()) {
                        failed.add(1);
                        tracing::warn!(settings = %self.what, error = %e, "TLS material not reloaded: keeping the material in use");
                        last_error = Some(e);
                    }
                }
            }
        }
    }
}
