use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `bearertokenauth` extension (the Collector's keys, plus `tenants` and
/// `reload_interval`). Its `Debug` output shows no token.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The auth scheme before the token in the header value. Default `Bearer`; empty = the
    /// header holds the bare token.
    pub scheme: String,
    /// The header carrying the credential. Default `Authorization`.
    pub header: String,
    /// One accepted token (and the one a client sends).
    pub token: Option<String>,
    /// More accepted tokens.
    pub tokens: Vec<String>,
    /// A file of tokens, one per line (`#` comments): `<token>`, or `<tenant> <token>` for a
    /// tenant's token. Re-read when its content changes.
    #[serde(deserialize_with = "strata_pipelines::tls::empty_none")]
    pub filename: Option<String>,
    /// Tokens per tenant: a request with one of them is authenticated as that tenant
    /// (`auth.tenant`).
    pub tenants: BTreeMap<String, TenantTokens>,
    /// How often the token files are looked at (humantime; `0s` = never). Default `1s`.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("scheme", &self.scheme)
            .field("header", &self.header)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("tokens", &format_args!("[{} REDACTED]", self.tokens.len()))
            .field("filename", &self.filename)
            .field("tenants", &self.tenants)
            .field("reload_interval", &self.reload_interval)
            .finish()
    }
}

/// One tenant's tokens: inline, from a file, or both. Its `Debug` output shows no token.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantTokens {
    /// Inline tokens.
    pub tokens: Vec<String>,
    /// A file of tokens, one per line, re-read on change.
    pub filename: Option<String>,
}

impl std::fmt::Debug for TenantTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTokens")
            .field("tokens", &format_args!("[{} REDACTED]", self.tokens.len()))
            .field("filename", &self.filename)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheme: "Bearer".into(),
            header: "Authorization".into(),
            token: None,
            tokens: Vec::new(),
            filename: None,
            tenants: BTreeMap::new(),
            reload_interval: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// Every token file named.
    pub fn files(&self) -> Vec<String> {
        self.filename
            .iter()
            .chain(self.tenants.values().filter_map(|t| t.filename.as_ref()))
            .cloned()
            .collect()
    }
}

impl ComponentConfig for Config {
    /// Checks that some token source is set, that files are readable, that the header is a
    /// valid name, and that no token is given to two tenants.
    ///
    /// # Errors
    /// The first problem with its path. Token values never appear in a message.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.token.is_none()
            && self.tokens.is_empty()
            && self.filename.is_none()
            && self.tenants.is_empty()
        {
            return Err(ConfigError::new(
                path,
                "no token: set token, tokens, filename or tenants",
            ));
        }
        if http::HeaderName::from_bytes(self.header.to_ascii_lowercase().as_bytes()).is_err() {
            return Err(ConfigError::new(
                format!("{path}::header"),
                format!("{:?} is not a valid header name", self.header),
            ));
        }
        if let Some(f) = &self.filename
            && let Err(e) = std::fs::metadata(f)
        {
            return Err(ConfigError::file(format!("{path}::filename"), f, &e));
        }
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (tenant, t) in &self.tenants {
            let p = format!("{path}::tenants::{tenant}");
            if t.tokens.is_empty() && t.filename.is_none() {
                return Err(ConfigError::new(&p, "set tokens or filename"));
            }
            if let Some(f) = &t.filename
                && let Err(e) = std::fs::metadata(f)
            {
                return Err(ConfigError::file(format!("{p}::filename"), f, &e));
            }
            for tok in &t.tokens {
                if tok.trim().is_empty() {
                    return Err(ConfigError::new(format!("{p}::tokens"), "empty token"));
                }
                if let Some(other) = owner.insert(tok, tenant)
                    && other != tenant
                {
                    return Err(ConfigError::new(
                        format!("{p}::tokens"),
                        format!("a token of tenant {tenant} is also a token of tenant {other}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
