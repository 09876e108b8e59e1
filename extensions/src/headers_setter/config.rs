use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `headers_setter` extension.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The headers to set, in order.
    pub headers: Vec<HeaderConfig>,
    /// Another client authenticator whose headers come first (Strata's addition: an exporter
    /// names one authenticator, so a bearer token and a tenant header go together this way).
    /// It must be listed before this one in `service.extensions`.
    pub authenticator: Option<strata_pipelines::ComponentId>,
}

/// One header.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderConfig {
    /// The header name.
    pub key: String,
    /// A fixed value.
    pub value: Option<String>,
    /// The context key to read (`auth.tenant`, `metadata.x-team`, or a bare metadata key).
    pub from_context: Option<String>,
    /// The value when the context has none.
    pub default_value: Option<String>,
    /// What to do with the header. Default `upsert`.
    pub action: Action,
}

/// `action:` of a header (the Collector's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set it only where it is absent.
    Insert,
    /// Replace it only where it is present.
    Update,
    /// Set it (default).
    #[default]
    Upsert,
    /// Remove it.
    Delete,
}

impl ComponentConfig for Config {
    /// Checks that every header has a valid name and exactly one of `value` / `from_context`
    /// (none for `delete`).
    ///
    /// # Errors
    /// The first problem, with its path (`headers::0::key`).
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.headers.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::headers"),
                "at least one header is required",
            ));
        }
        for (i, h) in self.headers.iter().enumerate() {
            let p = format!("{path}::headers::{i}");
            if http::HeaderName::from_bytes(h.key.to_ascii_lowercase().as_bytes()).is_err() {
                return Err(ConfigError::new(
                    format!("{p}::key"),
                    format!("{:?} is not a valid header name", h.key),
                ));
            }
            if h.action != Action::Delete && h.value.is_some() == h.from_context.is_some() {
                return Err(ConfigError::new(
                    &p,
                    "set exactly one of value or from_context",
                ));
            }
        }
        Ok(())
    }
}
