use serde::{Deserialize, Deserializer};
use strata_pipelines::ConfigError;
use strata_pipelines::auth::AuthConfig;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::tls::TlsServerConfig;

use crate::server::ServerSecurity;

/// Config of the `otlp` receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Enabled protocols.
    pub protocols: Protocols,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocols: Protocols {
                grpc: Some(GrpcConfig::default()),
                http: Some(HttpConfig::default()),
            },
        }
    }
}

/// `protocols:`: a key that is present enables the protocol.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC server, when present.
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP server, when present.
    #[serde(default, deserialize_with = "present")]
    pub http: Option<HttpConfig>,
}

/// A key that is present is `Some`, even when its value is null (`grpc:`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// `protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `host:port` to listen on. Default `0.0.0.0:4317`.
    pub endpoint: String,
    /// Largest accepted message in MiB (after decompression). Default 4.
    pub max_recv_msg_size_mib: u64,
    /// TLS (absent: plaintext); `client_ca_file` = mTLS required.
    pub tls: Option<TlsServerConfig>,
    /// `auth: {authenticator: <extension id>}`: credentials checked before the message is read.
    pub auth: Option<AuthConfig>,
    /// Carry request metadata into the client context (`metadata.<key>`).
    pub include_metadata: bool,
    /// Concurrent HTTP/2 streams per connection (configgrpc `max_concurrent_streams`);
    /// unset or 0: the server's default.
    pub max_concurrent_streams: Option<u32>,
    /// configgrpc `keepalive`: `server_parameters` are implemented (pings every `time`, the
    /// connection closed when a ping is not answered within `timeout`, and after
    /// `max_connection_age`); `enforcement_policy` and `max_connection_idle`/`_age_grace` are
    /// accepted without effect (see the component's accepted keys).
    pub keepalive: Option<GrpcServerKeepalive>,
}

/// `keepalive:` of a gRPC server (configgrpc `KeepaliveServerConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerKeepalive {
    /// `server_parameters`.
    pub server_parameters: Option<GrpcServerParameters>,
}

/// `keepalive::server_parameters` (configgrpc `KeepaliveServerParameters`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerParameters {
    /// Close a connection this old (gRPC `MaxConnectionAge`).
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Option<std::time::Duration>,
    /// After `max_connection_age`, in-flight calls get this long before the connection closes
    /// (gRPC `MaxConnectionAgeGrace`).
    #[serde(with = "humantime_serde")]
    pub max_connection_age_grace: Option<std::time::Duration>,
    /// Ping an idle client this often (gRPC `Time`).
    #[serde(with = "humantime_serde")]
    pub time: Option<std::time::Duration>,
    /// Close the connection when a ping is not answered this fast (gRPC `Timeout`).
    #[serde(with = "humantime_serde")]
    pub timeout: Option<std::time::Duration>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: "0.0.0.0:4317".into(),
            max_recv_msg_size_mib: 4,
            tls: None,
            auth: None,
            include_metadata: false,
            max_concurrent_streams: None,
            keepalive: None,
        }
    }
}

impl GrpcConfig {
    /// The protocol's security settings.
    pub fn security(&self) -> ServerSecurity {
        ServerSecurity {
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            include_metadata: self.include_metadata,
        }
    }
}

/// `protocols.http`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to listen on. Default `0.0.0.0:4318`.
    pub endpoint: String,
    /// Largest accepted body in MiB, checked on the wire and again after decompression.
    /// Default 4.
    #[serde(alias = "max_request_body_size_mib")]
    pub max_recv_msg_size_mib: u64,
    /// TLS (absent: plaintext); `client_ca_file` = mTLS required.
    pub tls: Option<TlsServerConfig>,
    /// `auth: {authenticator: <extension id>}`: credentials checked before the body is read.
    pub auth: Option<AuthConfig>,
    /// Carry request headers into the client context (`metadata.<key>`).
    pub include_metadata: bool,
    /// Largest accepted body in bytes (the Collector's `confighttp` key); wins over
    /// `max_recv_msg_size_mib` when set.
    pub max_request_body_size: Option<u64>,
    /// CORS for browser clients (the Collector's keys); absent: no CORS headers.
    pub cors: Option<CorsConfig>,
    /// `Content-Encoding`s accepted (the Collector's: `gzip`, `zstd`, `zlib`, `deflate`,
    /// `snappy`, `x-snappy-framed`, `lz4`); others are answered 400. Default all of them.
    pub compression_algorithms: Option<Vec<String>>,
    /// Headers added to every response (confighttp `response_headers`).
    pub response_headers: std::collections::BTreeMap<String, String>,
    /// Path of trace requests. Default `/v1/traces`.
    pub traces_url_path: String,
    /// Path of metric requests. Default `/v1/metrics`.
    pub metrics_url_path: String,
    /// Path of log requests. Default `/v1/logs`.
    pub logs_url_path: String,
}

/// `cors:` of the OTLP/HTTP server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed, with `*` wildcards (`https://*.example.com`); `*` alone allows any.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides the CORS-safelisted ones (`*` for any).
    pub allowed_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age: Option<u64>,
    /// Response headers a browser script may read (`Access-Control-Expose-Headers`).
    pub exposed_headers: Vec<String>,
}

impl CorsConfig {
    /// Whether `origin` matches one of `allowed_origins` (`*` matches any run of characters).
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| wildcard(p, origin))
    }
}

/// `pattern` with `*` matching any run of characters, against `s`.
fn wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s.ends_with(last) || s.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: "0.0.0.0:4318".into(),
            max_recv_msg_size_mib: 4,
            tls: None,
            auth: None,
            include_metadata: false,
            max_request_body_size: None,
            cors: None,
            compression_algorithms: None,
            response_headers: std::collections::BTreeMap::new(),
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
        }
    }
}

impl HttpConfig {
    /// The protocol's security settings.
    pub fn security(&self) -> ServerSecurity {
        ServerSecurity {
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            include_metadata: self.include_metadata,
        }
    }
}

use strata_pipelines::config::check_endpoint;

impl ComponentConfig for Config {
    /// Checks that at least one protocol is enabled, endpoints are `host:port` and limits
    /// are positive.
    ///
    /// # Errors
    /// The first problem, with its path.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let p = &self.protocols;
        if p.grpc.is_none() && p.http.is_none() {
            return Err(ConfigError::new(
                format!("{path}::protocols"),
                "must specify at least one protocol (grpc or http)",
            ));
        }
        if let Some(g) = &p.grpc {
            check_endpoint(format!("{path}::protocols::grpc::endpoint"), &g.endpoint)?;
            if g.max_recv_msg_size_mib == 0 {
                return Err(ConfigError::new(
                    format!("{path}::protocols::grpc::max_recv_msg_size_mib"),
                    "must be greater than 0",
                ));
            }
            g.security().validate(&format!("{path}::protocols::grpc"))?;
        }
        if let Some(h) = &p.http {
            check_endpoint(format!("{path}::protocols::http::endpoint"), &h.endpoint)?;
            if h.max_recv_msg_size_mib == 0 {
                return Err(ConfigError::new(
                    format!("{path}::protocols::http::max_recv_msg_size_mib"),
                    "must be greater than 0",
                ));
            }
            h.security().validate(&format!("{path}::protocols::http"))?;
            if h.max_request_body_size == Some(0) {
                return Err(ConfigError::new(
                    format!("{path}::protocols::http::max_request_body_size"),
                    "must be greater than 0",
                ));
            }
            for (i, a) in h.compression_algorithms.iter().flatten().enumerate() {
                if !a.is_empty() && !super::http::ENCODINGS.contains(&a.as_str()) {
                    return Err(ConfigError::new(
                        format!("{path}::protocols::http::compression_algorithms[{i}]"),
                        format!(
                            "unknown compression {a:?} (the Collector's: {})",
                            super::http::ENCODINGS.join(", ")
                        ),
                    ));
                }
            }
            for (key, p) in [
                ("traces_url_path", &h.traces_url_path),
                ("metrics_url_path", &h.metrics_url_path),
                ("logs_url_path", &h.logs_url_path),
            ] {
                if !p.starts_with('/')
                    || p.contains(['?', '#'])
                    || p.chars().any(char::is_whitespace)
                {
                    return Err(ConfigError::new(
                        format!("{path}::protocols::http::{key}"),
                        format!(
                            "invalid path {p:?}: must start with / and hold no query, fragment or space"
                        ),
                    ));
                }
            }
            strata_pipelines::config::validate_header_names(
                &format!("{path}::protocols::http::response_headers"),
                h.response_headers.keys(),
            )?;
            if let Some(c) = &h.cors {
                for (i, o) in c.allowed_origins.iter().enumerate() {
                    if o.is_empty() {
                        return Err(ConfigError::new(
                            format!("{path}::protocols::http::cors::allowed_origins[{i}]"),
                            "must not be empty",
                        ));
                    }
                }
                for (i, hd) in c.allowed_headers.iter().enumerate() {
                    if hd != "*" && http::HeaderName::from_bytes(hd.as_bytes()).is_err() {
                        return Err(ConfigError::new(
                            format!("{path}::protocols::http::cors::allowed_headers[{i}]"),
                            format!("{hd:?} is not a valid header name"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
