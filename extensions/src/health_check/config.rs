use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::tls::TlsServerConfig;

/// Config of the `health_check` extension (the Collector's keys, plus
/// `exporter_failure_threshold` for `/readyz`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` to listen on. Default `localhost:13133`.
    pub endpoint: String,
    /// The Collector-compatible status path. Default `/`.
    pub path: String,
    /// TLS for the endpoint (absent: plaintext).
    pub tls: Option<TlsServerConfig>,
    /// `/readyz` answers 503 once an exporter has failed every attempt for this long.
    /// Default `1m`.
    #[serde(with = "humantime_serde")]
    pub exporter_failure_threshold: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: "localhost:13133".into(),
            path: "/".into(),
            tls: None,
            exporter_failure_threshold: Duration::from_secs(60),
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the endpoint, the path and the TLS settings.
    ///
    /// # Errors
    /// An endpoint that is not `host:port`, a path not starting with `/`, bad TLS settings.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        strata_pipelines::config::check_endpoint(format!("{path}::endpoint"), &self.endpoint)?;
        if !self.path.starts_with('/') {
            return Err(ConfigError::new(
                format!("{path}::path"),
                "must start with /",
            ));
        }
        if let Some(t) = &self.tls {
            t.validate(&format!("{path}::tls"))?;
        }
        Ok(())
    }
}
