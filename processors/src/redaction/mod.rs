//! `redaction` processor (sanitization): removes attributes that are not allowed and masks
//! secrets in the ones that are, with the OpenTelemetry Collector's `redactionprocessor` config.
//! It applies to every attribute list of traces, metrics and logs — resource, scope, span,
//! span event, span link, log record and data point ([`strata_pipelines::visit`]) — and to log
//! bodies (strings; maps and arrays walked key by key).
//!
//! ```yaml
//! processors:
//!   redaction:
//!     allow_all_keys: true            # false (the default) deletes keys not allowed below
//!     allowed_keys: [description, id] # kept when allow_all_keys is false
//!     ignored_keys: [safe_attribute]  # never deleted, never masked
//!     blocked_key_patterns: [".*token.*"]         # the whole value is masked
//!     blocked_values: ["4[0-9]{12}(?:[0-9]{3})?"] # every match is masked
//!     allowed_values: [".+@mycompany\\.com"]      # values left alone
//!     presets: [secrets]              # the built-in patterns below
//!     hash_function: hmac-sha256      # pseudonymise instead of ****
//!     hmac_key: ${env:REDACTION_HMAC_KEY}
//!     summary: info                   # debug | info | silent
//! ```
//!
//! Per attribute, in order (the Collector's rules):
//! 1. a key in `ignored_keys` or matching `ignored_key_patterns` is passed untouched;
//! 2. unless `allow_all_keys`, a key not in `allowed_keys` is deleted (*redacted*);
//! 3. a value matching `allowed_values` is kept as it is (*allowed*);
//! 4. a key matching `blocked_key_patterns` has its whole value replaced (*masked*);
//! 5. every part of the value that a `blocked_values` pattern matches is replaced (*masked*).
//!    When the pattern has a named group `secret`, only that group is replaced, so
//!    `Bearer (?P<secret>\S+)` keeps the word `Bearer`.
//!
//! Values are checked when they are strings, and also integers, doubles and booleans with
//! `redact_all_types: true` (a masked one becomes a string). The replacement is `****`, or the
//! lowercase hex digest of the replaced text with `hash_function`: `sha256`, `hmac-sha256` /
//! `hmac-sha512` (keyed by `hmac_key`: the same input gives the same pseudonym, which cannot be
//! reversed or recomputed without the key), and for Collector configs `sha3` (SHA3-256),
//! `sha1`, `md5`.
//!
//! Summary attributes added to each edited list (`summary: debug` adds counts and keys, `info`
//! counts only, `silent` nothing): `redaction.redacted.count` / `.keys`,
//! `redaction.masked.count` / `.keys`, `redaction.allowed.count` / `.keys`,
//! `redaction.ignored.count`, and for log bodies the same under `redaction.body.`. Keys are
//! sorted and comma-separated; a second `redaction` processor adds to the first one's counts.
//!
//! ## Presets
//!
//! Opt-in patterns for secrets commonly seen in infrastructure telemetry, enabled by name in
//! `presets:` (`secrets` enables all of them):
//!
//! | preset | applies to | masks |
//! |---|---|---|
//! | `credential_keys` | keys | the whole value of keys like `db.password`, `http.request.header.authorization`, `*.api_key`, `*_token`, `cookie` |
//! | `bearer_tokens` | values | the token of `Bearer <token>` |
//! | `basic_auth` | values | the credentials of `Basic <base64>` |
//! | `url_credentials` | values | the password of `scheme://user:password@host` |
//! | `query_secrets` | values | the values of query parameters `password`, `pwd`, `secret`, `token`, `access_token`, `api_key`, `sig`, `X-Amz-Signature`, ... |
//! | `private_keys` | values | PEM `-----BEGIN ... PRIVATE KEY-----` blocks |
//! | `cloud_keys` | values | AWS access key ids, Google API keys, GitHub and Slack tokens |
//! | `jwt` | values | JSON Web Tokens |
//! | `card_numbers` | values | 13–19 digit card numbers (spaces or dashes allowed) that pass the Luhn check |
//!
//! The exact patterns are in [`presets::PRESETS`]. Nothing is ever dropped: only attributes are
//! deleted or rewritten.

mod config;
pub mod presets;
mod processor;

pub use config::{Config, HashFunction, Summary};
pub use processor::{Factory, MASK, RedactionProcessor, Redactor};

/// The type name in configs.
pub const TYPE: &str = "redaction";

#[cfg(test)]
mod tests;
