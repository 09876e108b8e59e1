use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `memory_limiter` processor (the Collector's fields).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How often the resident set is checked. Default `1s`; must be > 0.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// Hard limit in MiB. Takes precedence over `limit_percentage`.
    pub limit_mib: u64,
    /// Headroom below the hard limit in MiB: the soft limit is `limit_mib - spike_limit_mib`.
    /// Default 20 % of the hard limit.
    pub spike_limit_mib: u64,
    /// Hard limit as a percentage (1–100) of the memory available: the cgroup limit or the
    /// machine's memory.
    pub limit_percentage: u64,
    /// Headroom as a percentage of the same memory. Default 20 % of the hard limit.
    pub spike_limit_percentage: u64,
    /// The Collector's old Go heap ballast (MiB): accepted so old configs load, and ignored
    /// with a warning at start, as the Collector itself deprecated it (Rust has no garbage
    /// collector to pace).
    pub ballast_size_mib: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            check_interval: Duration::from_secs(1),
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
            ballast_size_mib: None,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the fields against each other.
    ///
    /// # Errors
    /// A zero `check_interval`; neither `limit_mib` nor `limit_percentage`; a percentage
    /// above 100; a spike limit not below its hard limit.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.check_interval.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::check_interval"),
                "must be greater than zero",
            ));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            return Err(ConfigError::new(
                format!("{path}::limit_mib"),
                "limit_mib or limit_percentage must be greater than zero",
            ));
        }
        for (name, v) in [
            ("limit_percentage", self.limit_percentage),
            ("spike_limit_percentage", self.spike_limit_percentage),
        ] {
            if v > 100 {
                return Err(ConfigError::new(
                    format!("{path}::{name}"),
                    "must be a percentage from 0 to 100",
                ));
            }
        }
        if self.limit_mib > 0 && self.spike_limit_mib >= self.limit_mib {
            return Err(ConfigError::new(
                format!("{path}::spike_limit_mib"),
                "must be smaller than limit_mib",
            ));
        }
        if self.limit_mib == 0
            && self.spike_limit_percentage > 0
            && self.spike_limit_percentage >= self.limit_percentage
        {
            return Err(ConfigError::new(
                format!("{path}::spike_limit_percentage"),
                "must be smaller than limit_percentage",
            ));
        }
        Ok(())
    }
}

/// The limits in bytes, resolved against the memory available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Above this, data is refused.
    pub soft: u64,
    /// The configured limit.
    pub hard: u64,
}

impl Limits {
    /// 90 % of the soft limit: bytes in flight above it make receivers refuse new requests
    /// before reading them.
    pub fn high_water(&self) -> u64 {
        self.soft / 10 * 9
    }
}

impl Config {
    /// The limits; `total` is the memory available (for the percentages).
    ///
    /// # Errors
    /// A percentage limit when the available memory is unknown.
    pub fn limits(&self, total: Option<u64>, path: &str) -> Result<Limits, ConfigError> {
        const MIB: u64 = 1 << 20;
        let (hard, spike) = if self.limit_mib > 0 {
            let hard = self.limit_mib * MIB;
            let spike = if self.spike_limit_mib > 0 {
                self.spike_limit_mib * MIB
            } else {
                hard / 5
            };
            (hard, spike)
        } else {
            let total = total.ok_or_else(|| {
                ConfigError::new(
                    format!("{path}::limit_percentage"),
                    "the memory available is unknown (no cgroup limit or /proc/meminfo): use limit_mib",
                )
            })?;
            let hard = total / 100 * self.limit_percentage;
            let spike = if self.spike_limit_percentage > 0 {
                total / 100 * self.spike_limit_percentage
            } else {
                hard / 5
            };
            (hard, spike)
        };
        Ok(Limits {
            soft: hard.saturating_sub(spike),
            hard,
        })
    }
}
