use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

use strata_pipelines::tls::TlsClientConfig;

use crate::helper::{HelperConfig, QueueConfig, RetryConfig};

/// Config of the `otlp` (gRPC) exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` or `http(s)://host:port` of the OTLP/gRPC server. Required.
    pub endpoint: String,
    /// Client TLS.
    pub tls: TlsClientConfig,
    /// Headers (gRPC metadata) sent with every request, e.g. `authorization`.
    pub headers: BTreeMap<String, String>,
    /// Request compression. Default `gzip`.
    pub compression: Compression,
    /// Compression settings (the Collector's `compression_params`).
    pub compression_params: CompressionParams,
    /// Deadline of one export request. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Requests larger than this (encoded) are split before sending. Default 4 MiB, the gRPC
    /// default message limit of most servers; `0` = no limit. Accepts `4MiB`, `512KiB` or bytes.
    #[serde(deserialize_with = "crate::helper::de_bytes")]
    pub max_request_size: u64,
    /// Retries of failed attempts.
    pub retry_on_failure: RetryConfig,
    /// The sending queue.
    pub sending_queue: QueueConfig,
    /// `auth: {authenticator: <extension id>}`: a client authenticator (`bearertokenauth`,
    /// `basicauth`, `headers_setter`) adding headers to every request.
    pub auth: Option<strata_pipelines::auth::AuthConfig>,
    /// HTTP/2 keepalive pings (configgrpc `KeepaliveClientConfig`).
    pub keepalive: Option<ClientKeepalive>,
    /// The `User-Agent` of every request (configgrpc `user_agent`); default tonic's.
    pub user_agent: Option<String>,
    /// The `:authority` sent instead of the endpoint's (configgrpc `authority`), for a proxy
    /// or load balancer that routes on it.
    pub authority: Option<String>,
}

/// `keepalive:` of a gRPC client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientKeepalive {
    /// Ping the server after this long without activity.
    #[serde(with = "humantime_serde")]
    pub time: Option<Duration>,
    /// Close the connection when a ping is not answered this fast.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Ping also while no call is in flight.
    pub permit_without_stream: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: String::new(),
            tls: TlsClientConfig::default(),
            headers: BTreeMap::new(),
            compression: Compression::Gzip,
            compression_params: CompressionParams::default(),
            timeout: Duration::from_secs(5),
            max_request_size: 4 << 20,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
            auth: None,
            keepalive: None,
            user_agent: None,
            authority: None,
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (the Collector's default).
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// zlib (RFC 1950); OTLP/HTTP only.
    Zlib,
    /// Sent as `Content-Encoding: deflate` with a zlib stream, as the Collector does; OTLP/HTTP
    /// only.
    Deflate,
    /// snappy: the block format over OTLP/HTTP, the framed format as gRPC's `snappy`.
    Snappy,
    /// snappy's framed format over OTLP/HTTP (`x-snappy-framed`).
    #[serde(rename = "x-snappy-framed")]
    SnappyFramed,
    /// LZ4 frame format; OTLP/HTTP only.
    Lz4,
    /// No compression (also spelled `""` in Collector configs).
    #[serde(alias = "")]
    None,
}

impl Compression {
    /// The `Content-Encoding` (or `grpc-encoding`) name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Zlib => "zlib",
            Compression::Deflate => "deflate",
            Compression::Snappy => "snappy",
            Compression::SnappyFramed => "x-snappy-framed",
            Compression::Lz4 => "lz4",
            Compression::None => "none",
        }
    }

    /// `body` compressed (gzip and zlib at `level` 1–9, zstd at 1–22); `None` is the body as
    /// it is. The formats are those of the Collector's confighttp client (`compressor.go`).
    ///
    /// # Errors
    /// The encoder failed (it only writes to memory).
    pub fn compress(self, body: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
        use std::io::Write as _;
        let lvl = || flate2::Compression::new(level.clamp(1, 9) as u32);
        match self {
            Compression::None => Ok(body.to_vec()),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), lvl());
                e.write_all(body)?;
                e.finish()
            }
            Compression::Zlib | Compression::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), lvl());
                e.write_all(body)?;
                e.finish()
            }
            Compression::Zstd => zstd::encode_all(body, level),
            Compression::Snappy => snap::raw::Encoder::new()
                .compress_vec(body)
                .map_err(std::io::Error::other),
            Compression::SnappyFramed => {
                let mut e = snap::write::FrameEncoder::new(Vec::new());
                e.write_all(body)?;
                e.into_inner()
                    .map_err(|e| std::io::Error::other(e.to_string()))
            }
            Compression::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(body)?;
                e.finish().map_err(std::io::Error::other)
            }
        }
    }
}

/// `compression_params`: how hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// gzip 1 (fastest) to 9 (smallest), default 1; zstd 1 to 22, default 3. The Collector's
    /// gRPC exporter compresses gzip at 6 (grpc-go's default): at saturation that costs 3.5
    /// times as much CPU per span in pass-through as level 1, for about 7 % fewer bytes
    /// (BENCHMARKS.md).
    pub level: Option<i32>,
}

impl CompressionParams {
    /// Checks `level` against `compression`'s range; `path` is the exporter's config path.
    ///
    /// # Errors
    /// A level out of range, or one given with `compression: none`.
    pub fn validate(&self, compression: Compression, path: &str) -> Result<(), ConfigError> {
        let Some(level) = self.level else {
            return Ok(());
        };
        let range = match compression {
            Compression::Gzip | Compression::Zlib | Compression::Deflate => 1..=9,
            Compression::Zstd => 1..=22,
            other => {
                return Err(ConfigError::new(
                    format!("{path}::compression_params::level"),
                    format!(
                        "set with compression: {}, which has no levels; choose gzip, zlib, deflate or zstd, or remove it",
                        other.name()
                    ),
                ));
            }
        };
        if !range.contains(&level) {
            return Err(ConfigError::new(
                format!("{path}::compression_params::level"),
                format!(
                    "{level} is out of range for {compression:?}: {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(())
    }

    /// The level to use: the configured one, or `default`.
    pub fn level_or(&self, default: i32) -> i32 {
        self.level.unwrap_or(default)
    }
}

impl Config {
    /// Whether requests go in plaintext: `tls.insecure`, or an `http://` endpoint.
    pub fn plaintext(&self) -> bool {
        self.tls.insecure || self.endpoint.starts_with("http://")
    }

    /// The endpoint as a URI with a scheme (`https://` unless plaintext).
    pub fn uri(&self) -> String {
        let e = self.endpoint.trim();
        if e.starts_with("http://") || e.starts_with("https://") {
            e.to_owned()
        } else if self.plaintext() {
            format!("http://{e}")
        } else {
            format!("https://{e}")
        }
    }
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
}

impl ComponentConfig for Config {
    /// Checks the endpoint, headers and TLS files.
    ///
    /// # Errors
    /// An empty or unparsable endpoint, an invalid header, an unusable TLS setting.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.endpoint.trim().is_empty() {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                "must be set (host:port or http(s)://host:port)",
            ));
        }
        if let Err(e) = self.uri().parse::<http::Uri>() {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                format!("invalid endpoint {:?}: {e}", self.endpoint),
            ));
        }
        strata_pipelines::config::validate_header_names(path, self.headers.keys())?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::timeout"),
                "must be greater than 0",
            ));
        }
        if !matches!(
            self.compression,
            Compression::Gzip | Compression::Zstd | Compression::Snappy | Compression::None
        ) {
            return Err(ConfigError::new(
                format!("{path}::compression"),
                format!(
                    "{} is not a gRPC compression (gzip, zstd, snappy), as in the Collector's configgrpc",
                    self.compression.name()
                ),
            ));
        }
        self.compression_params.validate(self.compression, path)?;
        self.retry_on_failure.validate(path)?;
        self.sending_queue.validate(path)?;
        self.tls.validate(&format!("{path}::tls"))
    }
}
