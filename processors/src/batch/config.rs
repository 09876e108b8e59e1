use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `batch` processor (field names and defaults as in the Collector).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Number of items (spans, metric data points, log records) after which a batch is sent
    /// regardless of `timeout`. Default 8192. Must be > 0.
    pub send_batch_size: usize,
    /// Upper bound of items in one request; larger batches are split. `0` = no bound. Must be
    /// `0` or >= `send_batch_size`.
    pub send_batch_max_size: usize,
    /// Time after the first item of a batch arrived at which the batch is sent even if it is
    /// smaller than `send_batch_size`. Default `200ms`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Client-metadata keys (request headers, with `include_metadata` on the receiver) whose
    /// values partition the batches: requests differing in one of them are never merged, and
    /// each batch is sent with those values in its context (for `headers_setter`). The
    /// authenticated identity (`auth.*`) always partitions, whatever this lists.
    pub metadata_keys: Vec<String>,
    /// Most partitions at once; a request that would open one more is refused (retryably).
    /// Default 1000.
    pub metadata_cardinality_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: Duration::from_millis(200),
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the relations between fields.
    ///
    /// # Errors
    /// A zero `send_batch_size` or timeout, or a `send_batch_max_size` below `send_batch_size`.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.send_batch_size == 0 {
            return Err(ConfigError::new(
                format!("{path}::send_batch_size"),
                "must be greater than 0",
            ));
        }
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(ConfigError::new(
                format!("{path}::send_batch_max_size"),
                "must be 0 or greater than or equal to send_batch_size",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::timeout"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}
