use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `basicauth` extension (the Collector's keys, plus `reload_interval`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Server side: the accepted users.
    pub htpasswd: HtpasswdConfig,
    /// Client side: the credentials sent.
    pub client_auth: Option<ClientAuth>,
    /// How often the htpasswd file is looked at (humantime; `0s` = never). Default `1s`.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            htpasswd: HtpasswdConfig::default(),
            client_auth: None,
            reload_interval: Duration::from_secs(1),
        }
    }
}

/// `htpasswd:`: entries from a file, inline, or both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HtpasswdConfig {
    /// An htpasswd file, re-read when its content changes.
    pub file: Option<String>,
    /// htpasswd lines inline.
    pub inline: Option<String>,
}

/// `client_auth:`.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuth {
    /// The user name sent.
    pub username: String,
    /// The password sent (never printed: `Debug` shows `[REDACTED]`).
    pub password: String,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

impl ComponentConfig for Config {
    /// Checks that a side is configured, that the file is readable and that every entry
    /// parses.
    ///
    /// # Errors
    /// The first problem, with its path (never a password or hash).
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let h = &self.htpasswd;
        if h.file.is_none() && h.inline.is_none() && self.client_auth.is_none() {
            return Err(ConfigError::new(
                path,
                "set htpasswd (server) or client_auth (client)",
            ));
        }
        if let Some(f) = &h.file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                ConfigError::new(format!("{path}::htpasswd::file"), format!("{f}: {e}"))
            })?;
            super::Htpasswd::parse(&text).map_err(|e| {
                ConfigError::new(format!("{path}::htpasswd::file"), format!("{f}: {e}"))
            })?;
        }
        if let Some(i) = &h.inline {
            super::Htpasswd::parse(i)
                .map_err(|e| ConfigError::new(format!("{path}::htpasswd::inline"), e))?;
        }
        if let Some(c) = &self.client_auth
            && (c.username.is_empty() || c.username.contains(':'))
        {
            return Err(ConfigError::new(
                format!("{path}::client_auth::username"),
                "must be non-empty and without ':'",
            ));
        }
        Ok(())
    }
}
