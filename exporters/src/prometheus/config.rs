use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `prometheus` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` serving `GET /metrics`. Default `0.0.0.0:8889`.
    pub endpoint: String,
    /// Prefix of every metric name (`namespace_`). Default none.
    pub namespace: String,
    /// Labels added to every series.
    pub const_labels: BTreeMap<String, String>,
    /// Write each sample's timestamp (milliseconds). Default false.
    pub send_timestamps: bool,
    /// A series not updated for this long is no longer served. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub metric_expiration: Duration,
    /// Serve OpenMetrics 1.0 to scrapers that ask for it. Default false.
    pub enable_open_metrics: bool,
    /// Resource attributes as labels.
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// TLS for the endpoint (absent: plaintext); `client_ca_file` = scrapers must present a
    /// client certificate.
    pub tls: Option<strata_pipelines::tls::TlsServerConfig>,
}

/// `resource_to_telemetry_conversion`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceToTelemetry {
    /// Copy every resource attribute onto every series as a label. Default false.
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: "0.0.0.0:8889".into(),
            namespace: String::new(),
            const_labels: BTreeMap::new(),
            send_timestamps: false,
            metric_expiration: Duration::from_secs(300),
            enable_open_metrics: false,
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            tls: None,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the endpoint, the label names and the expiration.
    ///
    /// # Errors
    /// An endpoint that is not `host:port`, a `const_labels` name that is not a valid
    /// Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`), a zero
    /// `metric_expiration`.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        strata_pipelines::config::check_endpoint(format!("{path}::endpoint"), &self.endpoint)?;
        for name in self.const_labels.keys() {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with("__");
            if !valid {
                return Err(ConfigError::new(
                    format!("{path}::const_labels::{name}"),
                    "invalid label name: use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __",
                ));
            }
        }
        if self.metric_expiration.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::metric_expiration"),
                "must be greater than 0",
            ));
        }
        if let Some(t) = &self.tls {
            t.validate(&format!("{path}::tls"))?;
        }
        Ok(())
    }
}
