use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::{ConfigError, Signal};

pub use crate::otlp::{Compression, CompressionParams};
use strata_pipelines::tls::TlsClientConfig;

use crate::helper::{HelperConfig, QueueConfig, RetryConfig};

/// Config of the `otlp_http` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Base URL (`http(s)://host:port[/prefix]`); `/v1/traces` etc. is appended. Required unless
    /// every per-signal endpoint used is set.
    pub endpoint: String,
    /// Full URL for traces, used as is.
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, used as is.
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, used as is.
    pub logs_endpoint: Option<String>,
    /// Body encoding. Default `proto`.
    pub encoding: Encoding,
    /// Client TLS (used for `https://` URLs).
    pub tls: TlsClientConfig,
    /// Headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Body compression. Default `gzip`.
    pub compression: Compression,
    /// Compression settings (the Collector's `compression_params`): gzip level default 1 here.
    pub compression_params: CompressionParams,
    /// Deadline of one request. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Requests larger than this (encoded) are split before sending; `0` (default) = no limit.
    /// Accepts `4MiB`, `512KiB` or bytes.
    #[serde(deserialize_with = "crate::helper::de_bytes")]
    pub max_request_size: u64,
    /// Retries of failed attempts.
    pub retry_on_failure: RetryConfig,
    /// The sending queue.
    pub sending_queue: QueueConfig,
    /// `auth: {authenticator: <extension id>}`: a client authenticator (`bearertokenauth`,
    /// `basicauth`, `headers_setter`) adding headers to every request.
    pub auth: Option<strata_pipelines::auth::AuthConfig>,
    /// An HTTP(S) proxy every request goes through (confighttp `proxy_url`); unset: the
    /// `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` environment variables apply, as in the Collector.
    pub proxy_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: String::new(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            encoding: Encoding::Proto,
            tls: TlsClientConfig::default(),
            headers: BTreeMap::new(),
            compression: Compression::Gzip,
            compression_params: CompressionParams::default(),
            timeout: Duration::from_secs(5),
            max_request_size: 0,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
            auth: None,
            proxy_url: None,
        }
    }
}

/// OTLP/HTTP body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `application/x-protobuf`.
    #[default]
    Proto,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl Config {
    /// The exporter-helper settings of this config.
    pub fn helper(&self) -> HelperConfig {
        HelperConfig::new(
            self.timeout,
            &self.retry_on_failure,
            &self.sending_queue,
            self.max_request_size,
        )
    }

    /// The URL for `signal`.
    pub fn url(&self, signal: Signal) -> String {
        let explicit = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        explicit.clone().unwrap_or_else(|| {
            format!(
                "{}/v1/{}",
                self.endpoint.trim_end_matches('/'),
                signal.as_str()
            )
        })
    }
}

impl ComponentConfig for Config {
    /// Checks URLs, headers and TLS files.
    ///
    /// # Errors
    /// A missing or invalid URL, invalid header name, unusable TLS setting.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.compression_params.validate(self.compression, path)?;
        let explicit_all = self.traces_endpoint.is_some()
            && self.metrics_endpoint.is_some()
            && self.logs_endpoint.is_some();
        if self.endpoint.trim().is_empty() && !explicit_all {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                "must be set (http(s)://host:port)",
            ));
        }
        for (field, url) in [
            ("endpoint", Some(&self.endpoint)),
            ("traces_endpoint", self.traces_endpoint.as_ref()),
            ("metrics_endpoint", self.metrics_endpoint.as_ref()),
            ("logs_endpoint", self.logs_endpoint.as_ref()),
        ] {
            let Some(url) = url.filter(|u| !u.is_empty()) else {
                continue;
            };
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.parse::<http::Uri>().is_err()
            {
                return Err(ConfigError::new(
                    format!("{path}::{field}"),
                    format!("invalid URL {url:?}: expected http(s)://host:port[/path]"),
                ));
            }
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
