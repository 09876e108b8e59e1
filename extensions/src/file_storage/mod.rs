//! `file_storage` extension: a directory where exporters keep persistent sending queues, with
//! its sync policy, size limit and what to do when full. The on-disk format (segment files of
//! CRC-checked records) is described in `strata_pipelines::storage`.
//!
//! ```yaml
//! extensions:
//!   file_storage/queue:
//!     directory: /var/lib/strata/queue   # one subdirectory per exporter and signal
//!     create_directory: true
//!     fsync: interval          # always (every append, before the sender is answered) | interval | never
//!     fsync_interval: 1s
//!     max_size: 1GiB           # all queues in this directory together
//!     segment_size: 16MiB      # a segment is deleted once all its records are delivered
//!     when_full: refuse        # refuse (the sender gets a retryable error) | drop_oldest (counted)
//! exporters:
//!   otlp/upstream:
//!     endpoint: aggregator:4317
//!     sending_queue: { storage: file_storage/queue }
//! service:
//!   extensions: [file_storage/queue]
//! ```
//!
//! Self-metrics come from the exporters that use it (`otelcol_exporter_queue_*`,
//! `otelcol_exporter_storage_dropped_*`).

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use strata_pipelines::config::parse_component;
use strata_pipelines::storage::FileStorage;
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Extension, ExtensionFactory, Host, Settings,
    ShutdownError, StartError, YamlValue,
};

pub use config::Config;

/// The type name in configs.
pub const TYPE: &str = "file_storage";

/// The `file_storage` extension.
pub struct FileStorageExtension {
    id: ComponentId,
    cfg: Config,
    storage: FileStorage,
}

#[async_trait]
impl Component for FileStorageExtension {
    /// Creates the directory (with `create_directory`) and checks it is writable.
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let dir = &self.cfg.directory;
        let err = |e: String| StartError {
            id: self.id.clone(),
            source: e.into(),
        };
        if self.cfg.create_directory {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        } else if !dir.is_dir() {
            return Err(err(format!(
                "directory {} does not exist (set create_directory: true to create it)",
                dir.display()
            )));
        }
        let probe = dir.join(".strata-write-probe");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| err(format!("directory {} is not writable: {e}", dir.display())))?;
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

impl Extension for FileStorageExtension {
    fn storage(&self) -> Option<FileStorage> {
        Some(self.storage.clone())
    }
}

/// Factory of the `file_storage` extension.
#[derive(Debug, Default)]
pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    /// The Collector's bbolt settings, which Strata's segment-file storage has no use for.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        vec![
            strata_pipelines::factory::AcceptedKey::new(
                "compaction",
                "bbolt database compaction: Strata stores queues as segment files deleted once consumed, so there is nothing to compact",
            ),
            strata_pipelines::factory::AcceptedKey::new(
                "timeout",
                "bbolt's wait for its database file lock: Strata's segment files take no lock, so there is nothing to wait for",
            ),
        ]
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(&self, set: Settings, cfg: YamlValue) -> Result<Arc<dyn Extension>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let storage = FileStorage::new(
            c.directory.clone(),
            c.fsync,
            c.fsync_interval,
            c.max_size,
            c.segment_size,
            c.when_full,
        );
        Ok(Arc::new(FileStorageExtension {
            id: set.id,
            cfg: c,
            storage,
        }))
    }
}

#[cfg(test)]
mod tests;
