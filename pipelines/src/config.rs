//! Configuration in the OpenTelemetry Collector's YAML shape.
//!
//! ```yaml
//! receivers:  { otlp: { protocols: { grpc: {}, http: {} } } }
//! processors: { batch: {} }
//! exporters:  { otlp/upstream: { endpoint: "${env:STRATA_UPSTREAM}" } }
//! service:
//!   pipelines:
//!     traces: { receivers: [otlp], processors: [batch], exporters: [otlp/upstream] }
//!   telemetry:
//!     logs: { level: info, encoding: json }
//!     metrics: { address: 127.0.0.1:8888 }
//! ```
//!
//! Loading: each source is parsed as YAML, `${env:VAR}`, `${env:VAR:-default}`, `${VAR}` and
//! `${file:PATH}` are expanded in string values (`$$` is a literal `$`; a value that is exactly one
//! reference is re-read as a YAML scalar, so `port: ${env:PORT}` gives an integer), sources are
//! deep-merged in order (later wins; sequences are replaced), then the result is deserialized with
//! unknown fields rejected. Every error names its YAML path with `::` separators, as in
//! `exporters::otlp/upstream::tls::ca_file: no such file`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use crate::id::{ComponentId, PipelineId};
use crate::telemetry::LogsConfig;

/// One configuration error at one YAML path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// `::`-separated path from the document root (`service::pipelines::traces`), empty for the
    /// root.
    pub path: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// A file the component reads at start does not exist (yet). The Collector loads such
    /// files at start, so `strata validate` reports this as a warning; starting fails on it.
    pub missing_file: bool,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError {
            path: path.into(),
            message: message.to_string(),
            missing_file: false,
        }
    }

    /// The error for `file`, named at `path`, that cannot be read (`e`): marked
    /// [`ConfigError::missing_file`] when it does not exist.
    pub fn file(path: impl Into<String>, file: &str, e: &std::io::Error) -> Self {
        ConfigError {
            missing_file: e.kind() == std::io::ErrorKind::NotFound,
            ..ConfigError::new(path, format!("{file}: {e}"))
        }
    }

    /// The same error, nested under `prefix`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join(prefix, &self.path);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All errors found in a config, reported together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}::{path}"),
    }
}

/// The whole configuration document.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Receiver configs by id; each value is deserialized by the receiver's factory.
    #[serde(default)]
    pub receivers: BTreeMap<ComponentId, Value>,
    /// Processor configs by id.
    #[serde(default)]
    pub processors: BTreeMap<ComponentId, Value>,
    /// Exporter configs by id.
    #[serde(default)]
    pub exporters: BTreeMap<ComponentId, Value>,
    /// Extension configs by id (storage, auth and health come with later components).
    #[serde(default)]
    pub extensions: BTreeMap<ComponentId, Value>,
    /// Connector configs by id (the Collector's `connectors:`): read so that a config with
    /// them is answered per connector; Strata has no connector types yet, so each is reported
    /// as an unknown connector type.
    #[serde(default)]
    pub connectors: BTreeMap<ComponentId, Value>,
    /// Which components run, and how they are wired.
    pub service: Service,
}

/// The `service` section.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Extensions to start, by id.
    #[serde(default)]
    pub extensions: Vec<ComponentId>,
    /// Pipelines by id (`traces`, `metrics/dpu`).
    #[serde(default)]
    pub pipelines: BTreeMap<PipelineId, PipelineConfig>,
    /// Self-telemetry.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Deadline for a graceful shutdown: receivers stop, pipelines drain. Default `30s`.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}

/// One pipeline: receivers → processors (in order) → exporters.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receivers feeding this pipeline (at least one).
    #[serde(default)]
    pub receivers: Vec<ComponentId>,
    /// Processors, applied in order.
    #[serde(default)]
    pub processors: Vec<ComponentId>,
    /// Exporters, each getting every batch (at least one).
    #[serde(default)]
    pub exporters: Vec<ComponentId>,
}

/// `service.telemetry`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log settings.
    #[serde(default)]
    pub logs: LogsConfig,
    /// Internal metrics endpoint.
    #[serde(default)]
    pub metrics: MetricsTelemetryConfig,
    /// Attributes of Strata's own telemetry (`target_info` on `/metrics`); `null` removes a
    /// default (`service.name`, `service.version`, `service.instance.id`).
    #[serde(default)]
    pub resource: BTreeMap<String, Option<String>>,
}

/// `service.telemetry.metrics`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsTelemetryConfig {
    /// `host:port` serving `/metrics` in Prometheus text format. Default `127.0.0.1:8888`.
    pub address: String,
    /// `none` disables the endpoint; `basic`, `normal`, `detailed` serve it. Default `normal`.
    pub level: String,
    /// TLS for the endpoint (absent: plaintext); `client_ca_file` = scrapers must present a
    /// client certificate.
    pub tls: Option<crate::tls::TlsServerConfig>,
    /// The Collector's newer form: `[{pull: {exporter: {prometheus: {host, port}}}}]` sets the
    /// endpoint (it wins over `address`). `periodic` (push) readers are not supported yet.
    pub readers: Vec<MetricReader>,
}

impl Default for MetricsTelemetryConfig {
    fn default() -> Self {
        MetricsTelemetryConfig {
            address: "127.0.0.1:8888".into(),
            level: "normal".into(),
            tls: None,
            readers: Vec::new(),
        }
    }
}

impl MetricsTelemetryConfig {
    /// The endpoint to serve: the pull reader's `host:port`, else `address`.
    pub fn endpoint(&self) -> String {
        self.readers
            .iter()
            .find_map(|r| r.pull.as_ref()?.exporter.prometheus.as_ref())
            .map(|p| format!("{}:{}", p.host, p.port))
            .unwrap_or_else(|| self.address.clone())
    }

    /// Refuses what Strata does not implement, by name and path.
    ///
    /// # Errors
    /// A `periodic` reader, a second pull reader, an OpenTelemetry-exporter pull reader, or a
    /// Prometheus option that changes the output.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let mut pulls = 0;
        for (i, r) in self.readers.iter().enumerate() {
            let at = format!("{path}::readers[{i}]");
            if r.periodic.is_some() {
                return Err(ConfigError::new(
                    format!("{at}::periodic"),
                    "not supported by Strata yet: self-metrics are served for pulling (use pull.exporter.prometheus)",
                ));
            }
            let Some(pull) = &r.pull else {
                return Err(ConfigError::new(at, "a reader needs pull"));
            };
            let Some(p) = &pull.exporter.prometheus else {
                return Err(ConfigError::new(
                    format!("{at}::pull::exporter"),
                    "not supported by Strata yet: only prometheus",
                ));
            };
            for (flag, on) in [
                ("without_scope_info", p.without_scope_info),
                ("without_type_suffix", p.without_type_suffix),
                ("without_units", p.without_units),
            ] {
                if on {
                    return Err(ConfigError::new(
                        format!("{at}::pull::exporter::prometheus::{flag}"),
                        "not supported by Strata yet",
                    ));
                }
            }
            pulls += 1;
            if pulls > 1 {
                return Err(ConfigError::new(
                    at,
                    "not supported by Strata yet: one pull reader",
                ));
            }
        }
        Ok(())
    }
}

/// One entry of `service.telemetry.metrics.readers`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    /// A pull reader (a scrape endpoint).
    #[serde(default)]
    pub pull: Option<PullReader>,
    /// A push reader (refused: not supported yet).
    #[serde(default)]
    pub periodic: Option<Value>,
}

/// `pull:` of a reader.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    /// Its exporter.
    pub exporter: PullExporter,
}

/// `pull.exporter:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    /// The Prometheus endpoint.
    #[serde(default)]
    pub prometheus: Option<PrometheusPull>,
    /// `otlp` and others: refused, named.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `pull.exporter.prometheus:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusPull {
    /// Host to listen on. Default `localhost`.
    pub host: String,
    /// Port. Default 8888.
    pub port: u16,
    /// Refused when true (not supported yet).
    pub without_scope_info: bool,
    /// Refused when true (not supported yet).
    pub without_type_suffix: bool,
    /// Refused when true (not supported yet).
    pub without_units: bool,
}

impl Default for PrometheusPull {
    fn default() -> Self {
        PrometheusPull {
            host: "localhost".into(),
            port: 8888,
            without_scope_info: false,
            without_type_suffix: false,
            without_units: false,
        }
    }
}

/// A config document to load: its text and a name for messages (a file path, `profile dpu`).
#[derive(Debug, Clone)]
pub struct Source {
    /// Shown in parse errors.
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// Loads and merges `sources` into a [`Config`]: parse, expand, merge, deserialize. Component
/// configs are not checked here; see `graph::validate`.
///
/// # Errors
/// Every YAML syntax error, failed `${...}` expansion and top-level shape error, with paths.
pub fn load(sources: &[Source]) -> Result<Config, ConfigErrors> {
    load_with(sources, &|name| std::env::var(name).ok())
}

/// [`load`] with an explicit environment lookup (for tests).
///
/// # Errors
/// As [`load`].
pub fn load_with(
    sources: &[Source],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let merged = merged_with(sources, env)?;
    if merged
        .as_mapping()
        .is_some_and(|m| !m.contains_key("service"))
    {
        return Err(ConfigErrors(vec![ConfigError::new(
            "service",
            "missing section: a config needs service::pipelines",
        )]));
    }
    parse::<Config>("", merged).map_err(|e| ConfigErrors(vec![e]))
}

/// [`load_with`] going on past a bad `service::telemetry`, so `strata validate` reports every
/// error in one run: the config (with the default telemetry when that part is bad) when the
/// rest parses, and every error found.
pub fn load_all(
    sources: &[Source],
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<Config>, Vec<ConfigError>) {
    let mut merged = match merged_with(sources, env) {
        Ok(v) => v,
        Err(e) => return (None, e.0),
    };
    let mut errors = Vec::new();
    let Some(service) = merged.get_mut("service").and_then(Value::as_mapping_mut) else {
        return (
            None,
            vec![ConfigError::new(
                "service",
                "missing section: a config needs service::pipelines",
            )],
        );
    };
    let telemetry = match service.remove("telemetry") {
        Some(t) => match parse::<TelemetryConfig>("service::telemetry", t) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                TelemetryConfig::default()
            }
        },
        None => TelemetryConfig::default(),
    };
    match parse::<Config>("", merged) {
        Ok(mut c) => {
            c.service.telemetry = telemetry;
            (Some(c), errors)
        }
        Err(e) => {
            errors.push(e);
            (None, errors)
        }
    }
}

/// The sources merged in order, with `${...}` expanded: the effective document, as
/// `strata --print-config` shows it (through [`redacted`]).
///
/// # Errors
/// Every YAML syntax error and failed expansion, with paths.
pub fn merged_with(
    sources: &[Source],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, ConfigErrors> {
    let mut errors = Vec::new();
    let mut merged = Value::Mapping(Mapping::new());
    for src in sources {
        match serde_yaml_ng::from_str::<Value>(&src.text) {
            Ok(mut v) => {
                expand_value(&mut v, "", env, &mut errors);
                merge(&mut merged, v);
            }
            Err(e) => errors.push(ConfigError::new(
                "",
                format!("{}: invalid YAML: {e}", src.name),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(merged)
}

/// Checks that a listen `endpoint` is `host:port` or `:port` (the error at `path`).
///
/// # Errors
/// `invalid endpoint "...": expected host:port`.
pub fn check_endpoint(path: String, endpoint: &str) -> Result<(), ConfigError> {
    let ok = endpoint
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            path,
            format!("invalid endpoint {endpoint:?}: expected host:port or :port"),
        ))
    }
}

/// The address to bind for `endpoint`: `:port` (Go's `net.Listen` spelling for every
/// interface, as in `pprof: {endpoint: :1888}`) becomes `0.0.0.0:port`; anything else is
/// returned as it is.
pub fn bind_address(endpoint: &str) -> std::borrow::Cow<'_, str> {
    match endpoint.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}").into(),
        None => endpoint.into(),
    }
}

/// Keys whose values are credentials: replaced by `[REDACTED]` in [`redacted`].
const SECRET_KEYS: &[&str] = &[
    "password",
    "token",
    "tokens",
    "key_pem",
    "inline",
    "authorization",
    "x-api-key",
    "api_key",
    "api-key",
    "cookie",
];

/// `v` with every credential value replaced by `"[REDACTED]"` (keys in [`SECRET_KEYS`], any
/// case, at any depth), for showing a config.
pub fn redacted(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Mapping(m) => {
                for (k, child) in m.iter_mut() {
                    let secret = k
                        .as_str()
                        .is_some_and(|k| SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()));
                    if secret && !child.is_null() {
                        *child = Value::String("[REDACTED]".into());
                    } else {
                        walk(child);
                    }
                }
            }
            Value::Sequence(s) => s.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// Deserializes `value` into `T`, naming the failing path under `prefix`. A YAML `null` (as in
/// `batch:` with nothing after it) is read as `{}`.
///
/// # Errors
/// The first deserialization error with its path.
pub fn parse<T: DeserializeOwned>(prefix: &str, value: Value) -> Result<T, ConfigError> {
    let value = if value.is_null() {
        Value::Mapping(Mapping::new())
    } else {
        value
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string().replace('.', "::");
        let path = if path == "?" { String::new() } else { path };
        ConfigError::new(
            join(prefix, &path),
            unknown_key_message(e.into_inner().to_string()),
        )
    })
}

/// serde's "unknown field `x`, expected one of ..." in the words of a collector config: the key
/// is not one Strata implements for this component (a Collector key Strata does not have yet,
/// or a misspelling), with the keys it does know. Other messages pass through.
fn unknown_key_message(message: String) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message;
    };
    let Some((key, known)) = rest.split_once('`') else {
        return message;
    };
    let known = known
        .trim_start_matches(", expected one of ")
        .trim_start_matches(", expected ")
        .trim_start_matches(", there are no fields");
    if known.is_empty() {
        format!(
            "unknown key {key:?}: not supported by Strata yet, or misspelt (this component takes no keys)"
        )
    } else {
        format!(
            "unknown key {key:?}: not supported by Strata yet, or misspelt (known keys: {known})"
        )
    }
}

/// A component's config: deserialized with [`parse`], then checked as a whole. `{}` must give
/// `Default::default()` (the Collector's `CreateDefaultConfig`).
pub trait ComponentConfig: DeserializeOwned {
    /// Checks relations between fields and anything serde cannot (files exist, patterns
    /// compile). `path` is the component's YAML path, to prefix error paths with.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// [`parse`] then [`ComponentConfig::validate`]: what every factory does with its YAML.
///
/// # Errors
/// The first deserialization or validation error, with its path.
pub fn parse_component<C: ComponentConfig>(path: &str, value: Value) -> Result<C, ConfigError> {
    let c: C = parse(path, value)?;
    c.validate(path)?;
    Ok(c)
}

/// Checks that every key of `headers` is a valid HTTP header name (and so gRPC metadata key).
///
/// # Errors
/// The first invalid name, at `{path}::headers::{name}`.
pub fn validate_header_names<'a>(
    path: &str,
    headers: impl IntoIterator<Item = &'a String>,
) -> Result<(), ConfigError> {
    for k in headers {
        let ok = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !ok {
            return Err(ConfigError::new(
                format!("{path}::headers::{k}"),
                "invalid header name",
            ));
        }
    }
    Ok(())
}

/// Merges `over` into `base`: maps key by key, anything else replaced — except
/// `service::extensions`, whose lists are joined (each id once), so an overlay that adds an
/// authenticator does not have to restate the extensions of the files before it.
fn merge(base: &mut Value, over: Value) {
    merge_at(base, over, "");
}

fn merge_at(base: &mut Value, over: Value, path: &str) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                let here = join(path, &key_str(&k));
                match b.get_mut(&k) {
                    Some(existing) => merge_at(existing, v, &here),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o)) if path == "service::extensions" => {
            for v in o {
                if !b.contains(&v) {
                    b.push(v);
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn key_str(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

fn expand_value(
    v: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match v {
        Value::String(s) if s.contains('$') => match expand_str(s, env) {
            Ok((out, whole)) => {
                *v = if whole {
                    // A value that is exactly one reference is typed like YAML would type it.
                    match serde_yaml_ng::from_str::<Value>(&out) {
                        Ok(parsed @ (Value::Bool(_) | Value::Number(_))) => parsed,
                        _ => Value::String(out),
                    }
                } else {
                    Value::String(out)
                }
            }
            Err(msg) => errors.push(ConfigError::new(path, msg)),
        },
        Value::Mapping(m) => {
            for (k, child) in m.iter_mut() {
                expand_value(child, &join(path, &key_str(k)), env, errors);
            }
        }
        Value::Sequence(seq) => {
            for (i, child) in seq.iter_mut().enumerate() {
                expand_value(child, &format!("{path}[{i}]"), env, errors);
            }
        }
        Value::Tagged(t) => expand_value(&mut t.value, path, env, errors),
        _ => {}
    }
}

/// Expands `${...}` references in `s`. Returns the result and whether `s` was exactly one
/// reference.
fn expand_str(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut refs = 0;
    let mut literal = false;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        literal |= pos > 0;
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            literal = true;
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated reference in {s:?}"))?;
            out.push_str(&resolve(&body[..end], env)?);
            refs += 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            literal = true;
            rest = after;
        }
    }
    literal |= !rest.is_empty();
    out.push_str(rest);
    Ok((out, refs == 1 && !literal))
}

fn resolve(reference: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (scheme, body) = match reference.split_once(':') {
        Some((scheme, body)) if !scheme.contains('-') => (scheme, body),
        _ => ("env", reference),
    };
    match scheme {
        "env" => {
            let (name, default) = match body.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            match (env(name), default) {
                (Some(v), _) => Ok(v),
                (None, Some(d)) => Ok(d.to_owned()),
                (None, None) => Err(format!(
                    "environment variable {name} is not set and ${{env:{name}}} has no default (use ${{env:{name}:-default}})"
                )),
            }
        }
        "file" => read_secret_file(body)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| format!("cannot read ${{file:{body}}}: {e}")),
        other => Err(format!(
            "unsupported reference scheme {other:?} (supported: env, file)"
        )),
    }
}

/// The most a `${file:...}` reference reads: a secret or a certificate, not a data file.
pub const MAX_FILE_REFERENCE_BYTES: u64 = 1 << 20;

/// Reads a `${file:PATH}` reference: UTF-8, at most [`MAX_FILE_REFERENCE_BYTES`] (so
/// `${file:/dev/zero}` is an error, not a hang).
fn read_secret_file(path: &str) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_REFERENCE_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE_REFERENCE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_REFERENCE_BYTES} bytes"
        )));
    }
    String::from_utf8(out).map_err(|_| std::io::Error::other("not UTF-8"))
}

/// Reads a byte size: an integer (bytes) or a string with a unit — `B`, `KiB`, `MiB`, `GiB`
/// (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000), e.g. `4MiB`.
///
/// # Errors
/// Anything else, with the accepted forms in the message.
pub fn de_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match <Raw as serde::Deserialize>::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_bytes(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid size {s:?}: use bytes or a number with B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }),
    }
}

/// Parses `4MiB`, `512 KiB`, `1GB`, `100` (bytes); `None` when malformed or overflowing.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("collector".into()),
            _ => None,
        }
    }

    fn load_str(text: &str) -> Result<Config, ConfigErrors> {
        load_with(
            &[Source {
                name: "test".into(),
                text: text.into(),
            }],
            &env,
        )
    }

    #[test]
    fn expands_env_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = format!(
            r#"
exporters:
  otlp:
    endpoint: "${{env:HOST}}:${{PORT}}"
    port: ${{env:PORT}}
    other: ${{env:NOPE:-fallback}}
    token: ${{file:{}}}
    price: "$$5"
service: {{}}
"#,
            secret.display()
        );
        let cfg = load_str(&text).unwrap();
        let otlp = &cfg.exporters[&"otlp".parse().unwrap()];
        assert_eq!(otlp["endpoint"], Value::from("collector:4317"));
        assert_eq!(otlp["port"], Value::from(4317));
        assert_eq!(otlp["other"], Value::from("fallback"));
        assert_eq!(otlp["token"], Value::from("s3cret"));
        assert_eq!(otlp["price"], Value::from("$5"));
    }

    #[test]
    fn a_file_reference_reads_a_bounded_file() {
        let err = load_str("exporters:\n  otlp:\n    token: ${file:/dev/zero}\nservice: {}\n")
            .unwrap_err();
        assert_eq!(err.0[0].path, "exporters::otlp::token");
        assert!(err.0[0].message.contains("larger than"), "{err}");
    }

    #[test]
    fn missing_env_names_its_path() {
        let err = load_str("exporters:\n  otlp:\n    endpoint: ${env:MISSING}\nservice: {}\n")
            .unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].path, "exporters::otlp::endpoint");
        assert!(err.0[0].message.contains("MISSING"), "{}", err);
    }

    #[test]
    fn unknown_top_level_field_is_rejected() {
        let err = load_str("recievers: {}\nservice: {}\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown key \"recievers\""),
            "{err}"
        );
        let err =
            load_str("service:\n  pipelines:\n    traces:\n      receiver: [otlp]\n").unwrap_err();
        assert!(
            err.to_string().starts_with("service::pipelines::traces"),
            "{err}"
        );
    }

    #[test]
    fn sources_merge_in_order() {
        let a = Source {
            name: "a".into(),
            text: "exporters:\n  debug: {verbosity: basic}\nservice: {}\n".into(),
        };
        let b = Source {
            name: "b".into(),
            text: "exporters:\n  debug: {verbosity: detailed}\n  file: {path: x}\n".into(),
        };
        let cfg = load_with(&[a, b], &env).unwrap();
        assert_eq!(cfg.exporters.len(), 2);
        assert_eq!(
            cfg.exporters[&"debug".parse().unwrap()]["verbosity"],
            Value::from("detailed")
        );
    }

    #[test]
    fn parse_names_nested_path() {
        #[derive(Deserialize, Debug, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Inner {
            #[serde(with = "humantime_serde")]
            timeout: Duration,
        }
        #[derive(Deserialize, Debug, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Outer {
            inner: Inner,
        }
        let v: Value = serde_yaml_ng::from_str("inner: {timeout: 10 parsecs}").unwrap();
        let e = parse::<Outer>("processors::batch", v).unwrap_err();
        assert_eq!(e.path, "processors::batch::inner::timeout");
        let v: Value = serde_yaml_ng::from_str("inner: {timeot: 1s}").unwrap();
        let e = parse::<Outer>("x", v).unwrap_err();
        assert!(e.message.contains("unknown key \"timeot\""), "{e}");
        assert!(parse::<Outer>("x", Value::Null).is_ok());
    }
}
