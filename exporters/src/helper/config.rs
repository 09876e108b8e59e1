use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::{ComponentId, ConfigError};

/// `retry_on_failure`: retries of a failed export with jittered exponential backoff (field names
/// and defaults of the Collector's exporterhelper).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retry retryable failures. Default `true`.
    pub enabled: bool,
    /// Wait before the first retry. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    /// Each wait is multiplied by a random factor in `[1 - f, 1 + f]`. Default `0.5`.
    pub randomization_factor: f64,
    /// Growth of the wait per retry. Default `1.5`.
    pub multiplier: f64,
    /// Upper bound of one wait (before jitter). Default `30s`.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// Give up (drop and count) a request after this long; `0` retries forever. Default `300s`.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl RetryConfig {
    /// No retries: one attempt.
    pub fn disabled() -> Self {
        RetryConfig {
            enabled: false,
            ..RetryConfig::default()
        }
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// A zero interval, a factor outside `[0, 1]`, a multiplier below 1, `max_interval` below
    /// `initial_interval`.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |f: &str| format!("{path}::retry_on_failure::{f}");
        if !self.enabled {
            return Ok(());
        }
        if self.initial_interval.is_zero() {
            return Err(ConfigError::new(
                at("initial_interval"),
                "must be greater than 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err(ConfigError::new(
                at("randomization_factor"),
                "must be between 0 and 1",
            ));
        }
        if self.multiplier.is_nan() || self.multiplier < 1.0 {
            return Err(ConfigError::new(at("multiplier"), "must be at least 1"));
        }
        if self.max_interval < self.initial_interval {
            return Err(ConfigError::new(
                at("max_interval"),
                "must be at least initial_interval",
            ));
        }
        Ok(())
    }
}

/// What `sending_queue::queue_size` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    /// Export requests (default).
    #[default]
    Requests,
    /// Spans, data points or log records.
    Items,
    /// Bytes of the encoded (protobuf) requests.
    Bytes,
}

/// `sending_queue`: requests are acknowledged once queued, and sent by `num_consumers`
/// consumers (the Collector's exporterhelper queue).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Queue requests (acknowledge at enqueue). When `false`, the sender waits for the export.
    /// Default `true`.
    pub enabled: bool,
    /// Concurrent senders. Default `10`.
    pub num_consumers: usize,
    /// Capacity, in `sizer` units. Default `1000`.
    pub queue_size: u64,
    /// Unit of `queue_size`. Default `requests`.
    pub sizer: Sizer,
    /// When full, wait for room instead of refusing (retryably). Default `false`.
    pub block_on_overflow: bool,
    /// The id of a `file_storage` extension: makes the queue persistent (see
    /// `strata_pipelines::storage`). Default: in memory.
    pub storage: Option<ComponentId>,
    /// Batching inside the queue (the Collector's `sending_queue::batch`): consumers merge
    /// queued requests into one export of at least `min_size` items, or whatever arrived within
    /// `flush_timeout`. Requests are still acknowledged when queued, so senders never wait for
    /// a batch to fill. Absent: each request is exported as queued.
    #[serde(default, deserialize_with = "present")]
    pub batch: Option<QueueBatch>,
}

/// A key that is present is `Some`, even with a null value (`batch:` enables the defaults).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// `sending_queue::batch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueBatch {
    /// Longest a batch waits to reach `min_size` after its first request. Default `200ms`.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
    /// Items that make a batch leave at once. Default `8192`.
    pub min_size: usize,
    /// Largest export in items; bigger batches are split. `0` (default) = no limit.
    pub max_size: usize,
}

impl Default for QueueBatch {
    fn default() -> Self {
        QueueBatch {
            flush_timeout: Duration::from_millis(200),
            min_size: 8192,
            max_size: 0,
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: false,
            storage: None,
            batch: None,
        }
    }
}

impl QueueConfig {
    /// No queue: the caller waits for the export.
    pub fn disabled() -> Self {
        QueueConfig {
            enabled: false,
            ..QueueConfig::default()
        }
    }

    /// Checks sizes.
    ///
    /// # Errors
    /// Zero consumers or a zero queue size on an enabled queue.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.num_consumers == 0 {
            return Err(ConfigError::new(
                format!("{path}::sending_queue::num_consumers"),
                "must be greater than 0",
            ));
        }
        if self.queue_size == 0 {
            return Err(ConfigError::new(
                format!("{path}::sending_queue::queue_size"),
                "must be greater than 0",
            ));
        }
        if let Some(b) = &self.batch {
            if self.storage.is_some() {
                return Err(ConfigError::new(
                    format!("{path}::sending_queue::batch"),
                    "batching is not supported on a persistent queue yet: remove batch or storage",
                ));
            }
            if b.flush_timeout.is_zero() {
                return Err(ConfigError::new(
                    format!("{path}::sending_queue::batch::flush_timeout"),
                    "must be greater than 0",
                ));
            }
            if b.max_size > 0 && b.max_size < b.min_size {
                return Err(ConfigError::new(
                    format!("{path}::sending_queue::batch::max_size"),
                    format!("must be 0 or at least min_size ({})", b.min_size),
                ));
            }
        }
        Ok(())
    }
}

/// Everything the exporter helper needs from an exporter's config.
#[derive(Debug, Clone, PartialEq)]
pub struct HelperConfig {
    /// Deadline of one attempt.
    pub timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Queue.
    pub queue: QueueConfig,
    /// Requests whose encoded size exceeds this are split before sending; `0` = no limit.
    pub max_request_bytes: usize,
}

impl HelperConfig {
    /// The helper settings of an exporter config's `timeout`, `retry_on_failure`,
    /// `sending_queue` and `max_request_size` (bytes; `0` = no limit).
    pub fn new(
        timeout: Duration,
        retry: &RetryConfig,
        queue: &QueueConfig,
        max_request_size: u64,
    ) -> Self {
        HelperConfig {
            timeout,
            retry: retry.clone(),
            queue: queue.clone(),
            max_request_bytes: usize::try_from(max_request_size).unwrap_or(usize::MAX),
        }
    }

    /// One attempt, no queue: what `debug` and `file` use (local writes that either work or
    /// fail for good).
    pub fn synchronous(timeout: Duration) -> Self {
        HelperConfig {
            timeout,
            retry: RetryConfig::disabled(),
            queue: QueueConfig::disabled(),
            max_request_bytes: 0,
        }
    }
}
