use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::{ComponentConfig, de_bytes};
use strata_pipelines::storage::{Fsync, WhenFull};

/// Config of the `file_storage` extension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory of the queues. Default `/var/lib/strata/file_storage`.
    pub directory: PathBuf,
    /// Create the directory at start if missing. Default `true`.
    pub create_directory: bool,
    /// When appends are synced. Default `interval`.
    pub fsync: Fsync,
    /// Sync period under `fsync: interval`. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// Bound on all segment files in the directory. Default `1GiB`.
    #[serde(deserialize_with = "de_bytes")]
    pub max_size: u64,
    /// Size at which a segment is closed and a new one started. Default `16MiB`.
    #[serde(deserialize_with = "de_bytes")]
    pub segment_size: u64,
    /// Policy at `max_size`. Default `refuse`.
    pub when_full: WhenFull,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            directory: PathBuf::from("/var/lib/strata/file_storage"),
            create_directory: true,
            fsync: Fsync::Interval,
            fsync_interval: Duration::from_secs(1),
            max_size: 1 << 30,
            segment_size: 16 << 20,
            when_full: WhenFull::Refuse,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks sizes and the interval.
    ///
    /// # Errors
    /// An empty directory, a zero interval (with `fsync: interval`), a segment smaller than 1 KiB,
    /// or a `max_size` below two segments.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.directory.as_os_str().is_empty() {
            return Err(ConfigError::new(
                format!("{path}::directory"),
                "must be set",
            ));
        }
        if self.fsync == Fsync::Interval && self.fsync_interval.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::fsync_interval"),
                "must be greater than 0",
            ));
        }
        if self.segment_size < 1024 {
            return Err(ConfigError::new(
                format!("{path}::segment_size"),
                "must be at least 1KiB",
            ));
        }
        if self.max_size < 2 * self.segment_size {
            return Err(ConfigError::new(
                format!("{path}::max_size"),
                format!(
                    "must be at least two segments ({} bytes)",
                    2 * self.segment_size
                ),
            ));
        }
        Ok(())
    }
}
