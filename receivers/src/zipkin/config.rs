use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::auth::AuthConfig;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::tls::TlsServerConfig;

use crate::server::ServerSecurity;

/// Config of the `zipkin` receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` to listen on. Default `0.0.0.0:9411` (Zipkin's port).
    pub endpoint: String,
    /// Largest accepted body in MiB, on the wire and after decompression. Default 4.
    pub max_request_body_size_mib: u64,
    /// Turn tag text into typed attributes. Default false (every tag stays a string).
    pub parse_string_tags: bool,
    /// TLS (absent: plaintext); `client_ca_file` = mTLS required.
    pub tls: Option<TlsServerConfig>,
    /// `auth: {authenticator: <extension id>}`: credentials checked before the body is read.
    pub auth: Option<AuthConfig>,
    /// Carry request headers into the client context (`metadata.<key>`).
    pub include_metadata: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: "0.0.0.0:9411".into(),
            max_request_body_size_mib: 4,
            parse_string_tags: false,
            tls: None,
            auth: None,
            include_metadata: false,
        }
    }
}

impl Config {
    /// The server's security settings.
    pub fn security(&self) -> ServerSecurity {
        ServerSecurity {
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            include_metadata: self.include_metadata,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the endpoint and the limit.
    ///
    /// # Errors
    /// An endpoint that is not `host:port`; a zero limit.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        strata_pipelines::config::check_endpoint(format!("{path}::endpoint"), &self.endpoint)?;
        if self.max_request_body_size_mib == 0 {
            return Err(ConfigError::new(
                format!("{path}::max_request_body_size_mib"),
                "must be greater than 0",
            ));
        }
        self.security().validate(path)
    }
}
