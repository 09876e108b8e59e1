//! Credential files watched by content (Kubernetes swaps a Secret's symlink and leaves mtimes
//! alone): the last good content of each file is kept, so a file that is briefly unreadable
//! or being rewritten never drops the credentials in use.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A set of files and their last good content.
#[derive(Debug, Default)]
pub struct Watched {
    files: Vec<String>,
    content: Mutex<BTreeMap<String, Vec<u8>>>,
    error: Mutex<Option<String>>,
}

impl Watched {
    /// Reads every file now.
    ///
    /// # Errors
    /// A file that cannot be read, named with its cause.
    pub fn new(files: Vec<String>) -> Result<Self, String> {
        let mut content = BTreeMap::new();
        for f in &files {
            content.insert(
                f.clone(),
                std::fs::read(f).map_err(|e| format!("{f}: {e}"))?,
            );
        }
        Ok(Watched {
            files,
            content: Mutex::new(content),
            error: Mutex::new(None),
        })
    }

    /// True when no file is watched.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The last good content of `file`.
    pub fn content(&self, file: &str) -> Option<Vec<u8>> {
        self.content
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(file)
            .cloned()
    }

    /// Reads the files again: whether any content changed, and a read error not reported
    /// before. A file that cannot be read keeps its last content; the same cause is
    /// reported once.
    pub fn refresh(&self) -> (bool, Option<String>) {
        let mut changed = false;
        let mut failure = None;
        let mut content = self.content.lock().unwrap_or_else(|p| p.into_inner());
        for f in &self.files {
            match std::fs::read(f) {
                Ok(bytes) => {
                    if content.get(f) != Some(&bytes) {
                        content.insert(f.clone(), bytes);
                        changed = true;
                    }
                }
                Err(e) => {
                    failure.get_or_insert_with(|| format!("{f}: {e}"));
                }
            }
        }
        let mut last = self.error.lock().unwrap_or_else(|p| p.into_inner());
        let new = match &failure {
            Some(m) if last.as_deref() != Some(m.as_str()) => Some(m.clone()),
            _ => None,
        };
        *last = failure;
        (changed, new)
    }
}

/// Runs `reload` every `every` until `tasks` stop, for the credential files of extension `id`:
/// a change is counted in `strata_auth_reloads_total{extension, outcome="success"}` and logged
/// as `what` changed; a failure (the material last read stays in use) is counted with
/// `outcome="failure"` and logged once per cause. `reload` answers (changed, new error).
pub fn spawn_reloader(
    tasks: &strata_pipelines::Tasks,
    telemetry: &strata_pipelines::Telemetry,
    id: String,
    every: std::time::Duration,
    what: &'static str,
    reload: impl Fn() -> (bool, Option<String>) + Send + 'static,
) {
    let counter = |outcome: &str| {
        telemetry.counter(
            "strata_auth_reloads_total",
            &[("extension", id.as_str()), ("outcome", outcome)],
        )
    };
    let (ok, failed) = (counter("success"), counter("failure"));
    let cancel = tasks.token();
    tasks.spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let (changed, error) = reload();
            if changed {
                ok.add(1);
                tracing::info!(extension = %id, file = what, "credentials file changed: reloaded");
            }
            if let Some(e) = error {
                failed.add(1);
                tracing::warn!(extension = %id, file = what, error = %e, "credentials file not reloaded: keeping what was last read");
            }
        }
    });
}
