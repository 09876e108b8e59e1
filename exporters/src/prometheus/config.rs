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
    /// `auth: {authenticator: <id>}`: scrapers must pass the server authenticator
    /// (`bearertokenauth`, `basicauth`); others get 401.
    pub auth: Option<strata_pipelines::auth::AuthConfig>,
    /// No `otel_scope_name`/`otel_scope_version` labels. Default false.
    pub without_scope_info: bool,
    /// Unit and type suffixes (`_seconds`, `_total`, `_ratio`) on metric names. Default true.
    /// Deprecated in the Collector for `translation_strategy`, which wins when set.
    pub add_metric_suffixes: bool,
    /// How OTLP names become Prometheus names: `UnderscoreEscapingWithSuffixes` (the default)
    /// or `UnderscoreEscapingWithoutSuffixes`. The Collector's UTF-8 strategies
    /// (`NoUTF8EscapingWithSuffixes`, `NoTranslation`) need UTF-8 names in the exposition,
    /// which Strata's text 0.0.4 and OpenMetrics 1.0 output cannot carry: refused, with why.
    pub translation_strategy: Option<String>,
}

/// `resource_to_telemetry_conversion`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceToTelemetry {
    /// Copy every resource attribute onto every series as a label. Default false.
    pub enabled: bool,
    /// Leave out `service.name`, `service.namespace` and `service.instance.id` (already the
    /// `job` and `instance` labels). Default false, as in the Collector.
    pub exclude_service_attributes: bool,
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
            auth: None,
            without_scope_info: false,
            add_metric_suffixes: true,
            translation_strategy: None,
        }
    }
}

impl Config {
    /// Whether metric names get unit and type suffixes: `translation_strategy` when set,
    /// else `add_metric_suffixes` (the Collector's precedence).
    pub fn suffixes(&self) -> bool {
        match self.translation_strategy.as_deref() {
            Some("UnderscoreEscapingWithoutSuffixes") => false,
            Some(_) => true,
            None => self.add_metric_suffixes,
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
        match self.translation_strategy.as_deref() {
            None | Some("UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes") => {
            }
            Some(s @ ("NoUTF8EscapingWithSuffixes" | "NoTranslation")) => {
                return Err(ConfigError::new(
                    format!("{path}::translation_strategy"),
                    format!(
                        "{s} is not implemented yet: it needs UTF-8 metric names, which the text 0.0.4 and OpenMetrics 1.0 formats Strata serves cannot carry; use UnderscoreEscapingWithSuffixes or UnderscoreEscapingWithoutSuffixes"
                    ),
                ));
            }
            Some(s) => {
                return Err(ConfigError::new(
                    format!("{path}::translation_strategy"),
                    format!("invalid translation_strategy: {s}"),
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
