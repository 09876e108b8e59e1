//! The `libvirt` receiver's configuration.

use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

use crate::hostmetrics::{MatchSet, Matcher};

/// `receivers::libvirt`. See the module docs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The libvirt connection URI (default `qemu:///system`).
    pub uri: String,
    /// Open the connection read-only (`virConnectOpenReadOnly`, default true): statistics
    /// need no more, and the read-only socket of `qemu:///system` is open to every local user.
    pub read_only: bool,
    /// Time between scrapes (default 10 s).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Time before the first scrape (default 1 s).
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Which domains, by name.
    pub domains: DomainFilter,
}

/// Domains to scrape: those `include` names (all when absent) and `exclude` does not.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainFilter {
    /// Domain names (or patterns) to scrape; all when absent.
    pub include: Option<MatchSet>,
    /// Domain names (or patterns) to leave out.
    pub exclude: Option<MatchSet>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uri: "qemu:///system".into(),
            read_only: true,
            collection_interval: Duration::from_secs(10),
            initial_delay: Duration::from_secs(1),
            domains: DomainFilter::default(),
        }
    }
}

/// A compiled [`DomainFilter`].
#[derive(Debug, Clone, Default)]
pub struct Domains {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl Domains {
    /// Whether the domain `name` is scraped.
    pub fn wants(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(name))
            && !self.exclude.as_ref().is_some_and(|m| m.matches(name))
    }
}

impl Config {
    /// The compiled domain filter.
    ///
    /// # Errors
    /// An invalid regular expression, with its path.
    pub fn domains(&self, path: &str) -> Result<Domains, ConfigError> {
        Ok(Domains {
            include: self
                .domains
                .include
                .as_ref()
                .map(|m| m.compile(&format!("{path}::domains::include")))
                .transpose()?,
            exclude: self
                .domains
                .exclude
                .as_ref()
                .map(|m| m.compile(&format!("{path}::domains::exclude")))
                .transpose()?,
        })
    }

    /// The URI without user information, for logs (`qemu+ssh://user@host/system` →
    /// `qemu+ssh://host/system`).
    pub fn uri_for_logs(&self) -> String {
        match self.uri.split_once("://") {
            Some((scheme, rest)) => {
                let (auth, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
                format!("{scheme}://{host}{tail}")
            }
            None => self.uri.clone(),
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the URI, the interval and the domain patterns.
    ///
    /// # Errors
    /// An empty URI or one with a NUL byte, a zero interval, an invalid pattern.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.uri.trim().is_empty() || self.uri.contains('\0') {
            return Err(ConfigError::new(
                format!("{path}::uri"),
                "a libvirt URI is required (e.g. qemu:///system)",
            ));
        }
        if self.collection_interval.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::collection_interval"),
                "must be greater than zero",
            ));
        }
        self.domains(path).map(|_| ())
    }
}
