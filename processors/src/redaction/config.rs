use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// How much the processor says about what it did, as attributes on the edited item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    /// Counts and the keys (`redaction.masked.keys`, ...).
    #[default]
    Debug,
    /// Counts only (`redaction.masked.count`, ...).
    Info,
    /// Nothing.
    Silent,
}

/// What replaces a blocked value (or the blocked part of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashFunction {
    /// Lowercase hex SHA-256.
    Sha256,
    /// Lowercase hex HMAC-SHA-256 keyed with `hmac_key`.
    HmacSha256,
    /// Lowercase hex HMAC-SHA-512 keyed with `hmac_key`.
    HmacSha512,
    /// Lowercase hex SHA3-256 (the Collector's `sha3`).
    Sha3,
    /// Lowercase hex SHA-1 (Collector compatibility; prefer `sha256`).
    Sha1,
    /// Lowercase hex MD5 (Collector compatibility; prefer `sha256`).
    Md5,
}

/// Config of the `redaction` processor: the Collector's `redactionprocessor` fields, plus
/// `presets`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Keep every key (only value rules apply). When false, keys not in `allowed_keys` (or
    /// `ignored_keys`) are deleted: the list fails closed.
    pub allow_all_keys: bool,
    /// Keys kept (and then checked against the value rules).
    pub allowed_keys: Vec<String>,
    /// Keys passed through untouched: never deleted, never masked.
    pub ignored_keys: Vec<String>,
    /// Regexes of keys passed through untouched.
    pub ignored_key_patterns: Vec<String>,
    /// Regexes of keys whose whole value is masked.
    pub blocked_key_patterns: Vec<String>,
    /// Regexes of values: every match is masked (only the named group `secret` when the
    /// pattern has one).
    pub blocked_values: Vec<String>,
    /// Regexes of values left alone even when a blocked pattern matches them.
    pub allowed_values: Vec<String>,
    /// Hash instead of `****`.
    pub hash_function: Option<HashFunction>,
    /// Key of the HMAC hash functions (use `${env:...}` or `${file:...}`).
    pub hmac_key: Option<String>,
    /// Summary attributes added to edited items.
    pub summary: Summary,
    /// Check non-string values (integers, doubles, booleans) against the value rules by their
    /// text form; a masked one becomes a string.
    pub redact_all_types: bool,
    /// Named sets of built-in patterns (see the module docs), added to `blocked_key_patterns`
    /// and `blocked_values`.
    pub presets: Vec<String>,
}

impl ComponentConfig for Config {
    /// Compiles every pattern and checks the hash settings.
    ///
    /// # Errors
    /// An invalid regex (with its index), an unknown preset, an HMAC hash without `hmac_key`,
    /// or `hmac_key` without an HMAC hash.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        super::processor::Redactor::compile(self, path).map(|_| ())
    }
}
