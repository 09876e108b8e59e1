use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use regex::{Regex, RegexSet};
use strata_pipelines::config::parse_component;
use strata_pipelines::proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
use strata_pipelines::visit::{Site, Visitor};
use strata_pipelines::{
    BoxConsumer, BuildError, ConfigError, ConsumeError, Process, Processor, ProcessorFactory,
    Settings, Signal, SignalData, YamlValue, processor_fn,
};

use super::TYPE;
use super::config::{Config, HashFunction, Summary};
use super::presets::{self, Applies};
use crate::actions::{hex, sha256_hex, value_text};

/// The text that replaces a blocked value when no hash function is configured.
pub const MASK: &str = "****";

/// A blocked value pattern: what is masked is the group `secret` when there is one, else the
/// whole match; `check` must accept the match too.
#[derive(Debug)]
struct Blocked {
    regex: Regex,
    secret: Option<usize>,
    check: Option<fn(&str) -> bool>,
}

#[derive(Debug)]
enum Hasher {
    Mask,
    Digest(HashFunction),
    Hmac(ring::hmac::Key),
}

impl Hasher {
    fn replace(&self, s: &str) -> String {
        let b = s.as_bytes();
        match self {
            Hasher::Mask => MASK.to_string(),
            Hasher::Hmac(k) => hex(ring::hmac::sign(k, b).as_ref()),
            Hasher::Digest(f) => match f {
                HashFunction::Sha256 => sha256_hex(b),
                HashFunction::Sha1 => {
                    hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b).as_ref())
                }
                HashFunction::Sha3 => {
                    use sha3::Digest as _;
                    hex(&sha3::Sha3_256::digest(b))
                }
                HashFunction::Md5 => {
                    use md5::Digest as _;
                    hex(&md5::Md5::digest(b))
                }
                HashFunction::HmacSha256 | HashFunction::HmacSha512 => {
                    unreachable!("HMAC functions are compiled to Hasher::Hmac")
                }
            },
        }
    }
}

/// The summary attribute names of one place: item attributes or the log body.
struct Names {
    redacted_keys: &'static str,
    redacted_count: &'static str,
    masked_keys: &'static str,
    masked_count: &'static str,
    allowed_keys: &'static str,
    allowed_count: &'static str,
    ignored_count: &'static str,
}

const ATTRS: Names = Names {
    redacted_keys: "redaction.redacted.keys",
    redacted_count: "redaction.redacted.count",
    masked_keys: "redaction.masked.keys",
    masked_count: "redaction.masked.count",
    allowed_keys: "redaction.allowed.keys",
    allowed_count: "redaction.allowed.count",
    ignored_count: "redaction.ignored.count",
};

const BODY: Names = Names {
    redacted_keys: "redaction.body.redacted.keys",
    redacted_count: "redaction.body.redacted.count",
    masked_keys: "redaction.body.masked.keys",
    masked_count: "redaction.body.masked.count",
    allowed_keys: "redaction.body.allowed.keys",
    allowed_count: "redaction.body.allowed.count",
    ignored_count: "redaction.body.ignored.count",
};

/// What rules 1 and 2 decide for a key.
enum KeyFate {
    /// Passed untouched.
    Ignore,
    /// Deleted.
    Redact,
    /// Kept, and checked against the value rules.
    Keep,
}

/// What was done to one attribute list or body.
#[derive(Default)]
struct Tally {
    redacted: Vec<String>,
    masked: Vec<String>,
    allowed: Vec<String>,
    ignored: i64,
}

impl Tally {
    fn is_empty(&self) -> bool {
        self.redacted.is_empty()
            && self.masked.is_empty()
            && self.allowed.is_empty()
            && self.ignored == 0
    }
}

/// A compiled `redaction` config: decides, per attribute, to keep, delete, or mask.
#[derive(Debug)]
pub struct Redactor {
    allow_all_keys: bool,
    allowed_keys: HashSet<String>,
    ignored_keys: HashSet<String>,
    ignored_key_patterns: Option<RegexSet>,
    blocked_keys: Option<RegexSet>,
    blocked_values: Vec<Blocked>,
    /// Every blocked value pattern at once: most values match none, and are passed after one
    /// scan.
    blocked_any: Option<RegexSet>,
    allowed_values: Option<RegexSet>,
    hasher: Hasher,
    summary: Summary,
    redact_all_types: bool,
}

fn regex_set(patterns: &[String], path: &str) -> Result<Option<RegexSet>, ConfigError> {
    for (i, p) in patterns.iter().enumerate() {
        Regex::new(p).map_err(|e| {
            ConfigError::new(format!("{path}::{i}"), format!("invalid regexp: {e}"))
        })?;
    }
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSet::new(patterns)
        .map(Some)
        .map_err(|e| ConfigError::new(path, format!("invalid regexp set: {e}")))
}

impl Redactor {
    /// Compiles `cfg`; `path` is the component's YAML path, for errors.
    ///
    /// # Errors
    /// An invalid regex (at `<list>::<i>`), an unknown preset, an HMAC hash function without
    /// `hmac_key`, or `hmac_key` with another hash function.
    pub fn compile(cfg: &Config, path: &str) -> Result<Redactor, ConfigError> {
        let mut key_patterns = cfg.blocked_key_patterns.clone();
        let mut blocked_values = Vec::new();
        for (i, p) in cfg.blocked_values.iter().enumerate() {
            let regex = Regex::new(p).map_err(|e| {
                ConfigError::new(
                    format!("{path}::blocked_values::{i}"),
                    format!("invalid regexp: {e}"),
                )
            })?;
            blocked_values.push(Blocked {
                secret: regex.capture_names().position(|n| n == Some("secret")),
                regex,
                check: None,
            });
        }
        for (i, name) in cfg.presets.iter().enumerate() {
            let selected = presets::select(name).ok_or_else(|| {
                ConfigError::new(
                    format!("{path}::presets::{i}"),
                    format!(
                        "unknown preset {name:?} (one of {}, or {})",
                        presets::PRESETS
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                        presets::ALL
                    ),
                )
            })?;
            for p in selected {
                match p.applies {
                    Applies::Key => key_patterns.push(p.pattern.to_string()),
                    Applies::Value => {
                        let regex = Regex::new(p.pattern).expect("built-in patterns compile");
                        blocked_values.push(Blocked {
                            secret: regex.capture_names().position(|n| n == Some("secret")),
                            regex,
                            check: p.check,
                        });
                    }
                }
            }
        }
        let hasher = match (cfg.hash_function, &cfg.hmac_key) {
            (None, None) => Hasher::Mask,
            (Some(HashFunction::HmacSha256 | HashFunction::HmacSha512), None) => {
                return Err(ConfigError::new(
                    format!("{path}::hmac_key"),
                    "is required by the HMAC hash functions (use ${env:...} or ${file:...})",
                ));
            }
            (Some(f @ (HashFunction::HmacSha256 | HashFunction::HmacSha512)), Some(k)) => {
                if k.is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}::hmac_key"),
                        "must not be empty",
                    ));
                }
                let alg = if f == HashFunction::HmacSha256 {
                    ring::hmac::HMAC_SHA256
                } else {
                    ring::hmac::HMAC_SHA512
                };
                Hasher::Hmac(ring::hmac::Key::new(alg, k.as_bytes()))
            }
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    format!("{path}::hmac_key"),
                    "is only used by hash_function hmac-sha256 or hmac-sha512",
                ));
            }
            (Some(f), None) => Hasher::Digest(f),
        };
        let blocked_any = if blocked_values.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(blocked_values.iter().map(|b| b.regex.as_str()))
                    .map_err(|e| ConfigError::new(path, format!("invalid regexp set: {e}")))?,
            )
        };
        Ok(Redactor {
            allow_all_keys: cfg.allow_all_keys,
            allowed_keys: cfg.allowed_keys.iter().cloned().collect(),
            ignored_keys: cfg.ignored_keys.iter().cloned().collect(),
            ignored_key_patterns: regex_set(
                &cfg.ignored_key_patterns,
                &format!("{path}::ignored_key_patterns"),
            )?,
            blocked_keys: regex_set(&key_patterns, &format!("{path}::blocked_key_patterns"))?,
            blocked_values,
            blocked_any,
            allowed_values: regex_set(&cfg.allowed_values, &format!("{path}::allowed_values"))?,
            hasher,
            summary: cfg.summary,
            redact_all_types: cfg.redact_all_types,
        })
    }

    fn ignored(&self, key: &str) -> bool {
        self.ignored_keys.contains(key)
            || self
                .ignored_key_patterns
                .as_ref()
                .is_some_and(|s| s.is_match(key))
    }

    fn redacts(&self, key: &str) -> bool {
        !self.allow_all_keys && !self.allowed_keys.contains(key)
    }

    fn blocks_key(&self, key: &str) -> bool {
        self.blocked_keys.as_ref().is_some_and(|s| s.is_match(key))
    }

    fn allows_value(&self, v: &str) -> bool {
        self.allowed_values.as_ref().is_some_and(|s| s.is_match(v))
    }

    /// The value with every blocked part replaced, or `None` when nothing is blocked.
    fn mask_value(&self, v: &str) -> Option<String> {
        let any = self.blocked_any.as_ref()?;
        if !any.is_match(v) {
            return None;
        }
        let hits = any.matches(v);
        let mut out: Option<String> = None;
        for i in hits.iter() {
            let b = &self.blocked_values[i];
            let cur = out.as_deref().unwrap_or(v);
            let mut next = String::with_capacity(cur.len());
            let mut last = 0;
            let mut changed = false;
            for caps in b.regex.captures_iter(cur) {
                let whole = caps.get(0).expect("group 0 always matches");
                if b.check.is_some_and(|c| !c(whole.as_str())) {
                    continue;
                }
                let Some(part) = b.secret.map_or(Some(whole), |g| caps.get(g)) else {
                    continue;
                };
                if part.as_str() == MASK || part.is_empty() {
                    continue;
                }
                next.push_str(&cur[last..part.start()]);
                next.push_str(&self.hasher.replace(part.as_str()));
                last = part.end();
                changed = true;
            }
            if changed {
                next.push_str(&cur[last..]);
                out = Some(next);
            }
        }
        out
    }

    /// The text the value rules look at: strings, and scalars when `redact_all_types`.
    fn text_of<'a>(&self, v: &'a AnyValue) -> Option<Cow<'a, str>> {
        match v.value.as_ref()? {
            Av::StringValue(s) => Some(Cow::Borrowed(s)),
            Av::IntValue(i) if self.redact_all_types => Some(Cow::Owned(i.to_string())),
            Av::DoubleValue(d) if self.redact_all_types => Some(Cow::Owned(d.to_string())),
            Av::BoolValue(b) if self.redact_all_types => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    }

    fn set_str(v: &mut Option<AnyValue>, s: String) {
        *v = Some(AnyValue {
            value: Some(Av::StringValue(s)),
        });
    }

    /// Applies the key and value rules to one attribute list, then adds the summary.
    pub fn apply_to(&self, attrs: &mut Vec<KeyValue>) {
        let mut t = Tally::default();
        attrs.retain_mut(|kv| {
            match self.key_fate(&kv.key) {
                KeyFate::Ignore => {
                    t.ignored += 1;
                    return true;
                }
                KeyFate::Redact => {
                    t.redacted.push(kv.key.clone());
                    return false;
                }
                KeyFate::Keep => {}
            }
            let text = kv.value.as_ref().and_then(|v| self.text_of(v));
            if let Some(s) = &text
                && self.allows_value(s)
            {
                t.allowed.push(kv.key.clone());
                return true;
            }
            let replacement = if self.blocks_key(&kv.key) {
                Some(self.whole_replacement(text.as_deref(), kv.value.as_ref()))
            } else {
                text.and_then(|s| self.mask_value(&s))
            };
            if let Some(r) = replacement {
                Self::set_str(&mut kv.value, r);
                t.masked.push(kv.key.clone());
            }
            true
        });
        self.summarize(t, attrs, &ATTRS);
    }

    /// Rules 1 and 2 of the module docs, shared by attributes and log-body maps.
    fn key_fate(&self, key: &str) -> KeyFate {
        if self.ignored(key) {
            KeyFate::Ignore
        } else if self.redacts(key) {
            KeyFate::Redact
        } else {
            KeyFate::Keep
        }
    }

    /// What replaces the whole value of a blocked key: the mask or hash of its text form.
    fn whole_replacement(&self, text: Option<&str>, value: Option<&AnyValue>) -> String {
        match (text, value) {
            (Some(s), _) => self.hasher.replace(s),
            (None, Some(v)) => self.hasher.replace(&value_text(v)),
            (None, None) => self.hasher.replace(""),
        }
    }

    /// A log body: strings get the value rules; maps and arrays are walked, their keys
    /// getting the key rules, with dotted paths (`a.b.[0]`) as names in the summary.
    fn body(&self, body: &mut AnyValue, attrs: &mut Vec<KeyValue>) {
        let mut t = Tally::default();
        self.body_value("body", body, &mut t, true);
        self.summarize(t, attrs, &BODY);
    }

    fn body_value(&self, path: &str, v: &mut AnyValue, t: &mut Tally, top: bool) {
        let path_of = |k: &str| {
            if top {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match &mut v.value {
            Some(Av::KvlistValue(kvs)) => {
                kvs.values.retain_mut(|kv| match self.key_fate(&kv.key) {
                    KeyFate::Ignore => {
                        t.ignored += 1;
                        true
                    }
                    KeyFate::Redact => {
                        t.redacted.push(path_of(&kv.key));
                        false
                    }
                    KeyFate::Keep if self.blocks_key(&kv.key) => {
                        let r = self.whole_replacement(None, kv.value.as_ref());
                        Self::set_str(&mut kv.value, r);
                        t.masked.push(path_of(&kv.key));
                        true
                    }
                    KeyFate::Keep => {
                        if let Some(inner) = &mut kv.value {
                            self.body_value(&path_of(&kv.key), inner, t, false);
                        }
                        true
                    }
                });
            }
            Some(Av::ArrayValue(a)) => {
                for (i, inner) in a.values.iter_mut().enumerate() {
                    self.body_value(&path_of(&format!("[{i}]")), inner, t, false);
                }
            }
            _ => {
                let Some(s) = self.text_of(v) else { return };
                if self.allows_value(&s) {
                    t.allowed.push(path.to_string());
                } else if let Some(masked) = self.mask_value(&s) {
                    v.value = Some(Av::StringValue(masked));
                    t.masked.push(path.to_string());
                }
            }
        }
    }

    /// Adds the Collector's summary attributes: `*.keys` (debug; sorted, comma-separated,
    /// merged with a value already there) and `*.count` (debug and info; added to a count
    /// already there).
    fn summarize(&self, t: Tally, attrs: &mut Vec<KeyValue>, n: &Names) {
        if self.summary == Summary::Silent || t.is_empty() {
            return;
        }
        let debug = self.summary == Summary::Debug;
        for (keys, keys_name, count_name) in [
            (t.redacted, n.redacted_keys, n.redacted_count),
            (t.masked, n.masked_keys, n.masked_count),
            (t.allowed, n.allowed_keys, n.allowed_count),
        ] {
            if keys.is_empty() {
                continue;
            }
            add_count(attrs, count_name, keys.len() as i64);
            if debug {
                add_keys(attrs, keys_name, keys);
            }
        }
        if t.ignored > 0 {
            add_count(attrs, n.ignored_count, t.ignored);
        }
    }
}

fn add_count(attrs: &mut Vec<KeyValue>, key: &str, n: i64) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => {
            let before = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Av::IntValue(i)) => *i,
                _ => 0,
            };
            kv.value = Some(AnyValue {
                value: Some(Av::IntValue(before + n)),
            });
        }
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(Av::IntValue(n)),
            }),
            ..Default::default()
        }),
    }
}

fn add_keys(attrs: &mut Vec<KeyValue>, key: &str, mut keys: Vec<String>) {
    let existing = attrs.iter().position(|kv| kv.key == key);
    if let Some(i) = existing
        && let Some(Av::StringValue(s)) = attrs[i].value.as_ref().and_then(|v| v.value.as_ref())
        && !s.is_empty()
    {
        keys.extend(s.split(',').map(str::to_string));
    }
    keys.sort();
    let value = Some(AnyValue {
        value: Some(Av::StringValue(keys.join(","))),
    });
    match existing {
        Some(i) => attrs[i].value = value,
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value,
            ..Default::default()
        }),
    }
}

impl Visitor for &Redactor {
    fn attributes(&mut self, _site: Site, attrs: &mut Vec<KeyValue>) {
        self.apply_to(attrs);
    }
    fn log_body(&mut self, body: &mut AnyValue, attributes: &mut Vec<KeyValue>) {
        Redactor::body(self, body, attributes);
    }
}

/// The `redaction` processor: a [`Redactor`] run over every attribute list of a batch.
pub struct RedactionProcessor(pub(super) Arc<Redactor>);

impl<T: SignalData> Process<T> for RedactionProcessor {
    fn process(&self, mut data: T) -> Result<Option<T>, ConsumeError> {
        data.visit(&mut &*self.0);
        Ok(Some(data))
    }
}

/// Factory of the `redaction` processor.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: SignalData>(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: BoxConsumer<T>,
    ) -> Result<Arc<dyn Processor<T>>, BuildError> {
        let path = set.path();
        let c = parse_component::<Config>(&path, cfg)?;
        let r = Redactor::compile(&c, &path)?;
        Ok(processor_fn(&set, RedactionProcessor(Arc::new(r)), next))
    }
}

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::processor_for_all_signals!();
}
