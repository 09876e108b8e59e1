use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::tls::TlsClientConfig;

use crate::helper::{HelperConfig, QueueConfig, RetryConfig};

/// Config of the `zipkin` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Full URL spans are posted to (`http(s)://host:9411/api/v2/spans`). Required.
    pub endpoint: String,
    /// Wire format: `json` (Zipkin v2 JSON) or `proto` (zipkin.proto `ListOfSpans`,
    /// `application/x-protobuf`). Default `json`.
    pub format: String,
    /// `localEndpoint.serviceName` for resources without `service.name`. Default
    /// `unknown_service`.
    pub default_service_name: String,
    /// Body compression: `none` (default) or `gzip`.
    pub compression: ZipkinCompression,
    /// Headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Client TLS (used for `https://` URLs).
    pub tls: TlsClientConfig,
    /// Deadline of one request. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry_on_failure: RetryConfig,
    /// The sending queue.
    pub sending_queue: QueueConfig,
    /// `auth: {authenticator: <extension id>}`: a client authenticator (`bearertokenauth`,
    /// `basicauth`, `headers_setter`) adding headers to every request.
    pub auth: Option<strata_pipelines::auth::AuthConfig>,
}

/// `compression` of the `zipkin` exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ZipkinCompression {
    /// Plain JSON.
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: String::new(),
            format: "json".into(),
            default_service_name: "unknown_service".into(),
            compression: ZipkinCompression::None,
            headers: BTreeMap::new(),
            tls: TlsClientConfig::default(),
            timeout: Duration::from_secs(5),
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
            auth: None,
        }
    }
}

impl Config {
    /// The exporter-helper settings of this config.
    pub fn helper(&self) -> HelperConfig {
        HelperConfig::new(self.timeout, &self.retry_on_failure, &self.sending_queue, 0)
    }
}

impl ComponentConfig for Config {
    /// Checks the URL, format, headers and TLS files.
    ///
    /// # Errors
    /// A missing or invalid URL, a format other than `json`, an invalid header name, a zero
    /// timeout, an unusable TLS, retry or queue setting.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let url = self.endpoint.trim();
        if url.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                "must be set (http(s)://host:9411/api/v2/spans)",
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.parse::<http::Uri>().is_err()
        {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                format!("invalid URL {url:?}: expected http(s)://host:port/api/v2/spans"),
            ));
        }
        if self.format != "json" && self.format != "proto" {
            return Err(ConfigError::new(
                format!("{path}::format"),
                format!(
                    "unsupported format {:?}: json (Zipkin v2 JSON) or proto (Zipkin v2 protobuf)",
                    self.format
                ),
            ));
        }
        strata_pipelines::config::validate_header_names(path, self.headers.keys())?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::timeout"),
                "must be greater than 0",
            ));
        }
        self.retry_on_failure.validate(path)?;
        self.sending_queue.validate(path)?;
        self.tls.validate(&format!("{path}::tls"))
    }
}
