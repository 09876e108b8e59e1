//! Include/exclude match rules in the Collector's `filterconfig` shape (`match_type: strict |
//! regexp`), written once for every processor that selects items by properties (`filter`'s
//! legacy form, `attributes`).
//!
//! Inside one set of properties every field given must match (AND); inside a list field any
//! entry may match (OR), except `attributes`, `resources`, `resource_attributes` and
//! `record_attributes`, where every listed attribute must match — the Collector's rules
//! (`internal/filter/filterspan`, `filterlog`, `filtermetric`).

use regex::Regex;
use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use strata_pipelines::proto::tonic::resource::v1::Resource;

use crate::ottl::{Value, context::attr};

/// How strings in a rule are compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Exact equality.
    #[default]
    Strict,
    /// The value must contain a match of the (Rust `regex` syntax) pattern; anchor with `^$`.
    Regexp,
}

/// One attribute rule: `key`, and `value` when the value must match too.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    /// Attribute key.
    pub key: String,
    /// Expected value (a scalar); absent means "the key exists".
    #[serde(default)]
    pub value: Option<serde_yaml_ng::Value>,
}

/// An instrumentation library (scope) rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryRule {
    /// Scope name.
    pub name: String,
    /// Scope version; absent means any.
    #[serde(default)]
    pub version: Option<String>,
}

/// A list of strings compiled for one match type.
#[derive(Debug, Clone)]
pub enum Strings {
    /// Exact values.
    Strict(Vec<String>),
    /// Patterns.
    Regexp(Vec<Regex>),
}

impl Strings {
    /// Compiles `values`; `path` names the list for errors.
    ///
    /// # Errors
    /// An invalid regex, with its index under `path`.
    pub fn compile(mt: MatchType, values: &[String], path: &str) -> Result<Strings, ConfigError> {
        Ok(match mt {
            MatchType::Strict => Strings::Strict(values.to_vec()),
            MatchType::Regexp => Strings::Regexp(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        Regex::new(v).map_err(|e| {
                            ConfigError::new(format!("{path}::{i}"), format!("invalid regexp: {e}"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// True when any entry matches `s`.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Strings::Strict(v) => v.iter().any(|x| x == s),
            Strings::Regexp(v) => v.iter().any(|r| r.is_match(s)),
        }
    }
}

/// An attribute rule compiled for one match type.
#[derive(Debug, Clone)]
pub struct AttrMatcher {
    key: String,
    expected: Expected,
}

#[derive(Debug, Clone)]
enum Expected {
    Exists,
    Equal(Value<'static>),
    Pattern(Regex),
}

impl AttrMatcher {
    /// Compiles every rule of `rules`; `path` names the list for errors.
    ///
    /// # Errors
    /// A non-scalar value, or an invalid regex / a non-string value under `regexp`.
    pub fn compile_all(
        mt: MatchType,
        rules: &[AttributeRule],
        path: &str,
    ) -> Result<Vec<AttrMatcher>, ConfigError> {
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("{path}::{i}::value");
                let expected = match (&r.value, mt) {
                    (None, _) => Expected::Exists,
                    (Some(v), MatchType::Strict) => Expected::Equal(
                        yaml_scalar(v).ok_or_else(|| ConfigError::new(&at, "must be a scalar"))?,
                    ),
                    (Some(serde_yaml_ng::Value::String(s)), MatchType::Regexp) => {
                        Expected::Pattern(
                            Regex::new(s).map_err(|e| {
                                ConfigError::new(&at, format!("invalid regexp: {e}"))
                            })?,
                        )
                    }
                    (Some(_), MatchType::Regexp) => {
                        return Err(ConfigError::new(
                            &at,
                            "must be a string pattern with match_type regexp",
                        ));
                    }
                };
                Ok(AttrMatcher {
                    key: r.key.clone(),
                    expected,
                })
            })
            .collect()
    }

    /// True when `attrs` has the key with a matching value.
    pub fn matches(&self, attrs: &[KeyValue]) -> bool {
        match (&self.expected, attr(attrs, &self.key)) {
            (_, Value::Nil) => false,
            (Expected::Exists, _) => true,
            (Expected::Equal(want), got) => equal(want, &got),
            (Expected::Pattern(re), Value::Str(s)) => re.is_match(&s),
            (Expected::Pattern(_), _) => false,
        }
    }
}

fn equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Double(y)) | (Value::Double(y), Value::Int(x)) => *x as f64 == *y,
        _ => a == b,
    }
}

/// A YAML scalar as an attribute value (`None` for sequences and maps).
pub fn yaml_scalar(v: &serde_yaml_ng::Value) -> Option<Value<'static>> {
    use serde_yaml_ng::Value as Y;
    Some(match v {
        Y::Null => Value::Nil,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64()?),
        },
        Y::String(s) => Value::Str(s.clone().into()),
        _ => return None,
    })
}

/// True when every matcher matches `attrs` (and there is at least the empty list).
pub fn all_match(ms: &[AttrMatcher], attrs: &[KeyValue]) -> bool {
    ms.iter().all(|m| m.matches(attrs))
}

/// The resource's attributes, or none.
pub fn resource_attrs(r: Option<&Resource>) -> &[KeyValue] {
    r.map_or(&[], |r| &r.attributes[..])
}

/// The Collector's `filterconfig.MatchProperties` for spans (and, with `log_*`/`metric_names`,
/// for the `attributes` processor on logs and metrics).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchProperties {
    /// How strings are compared.
    pub match_type: MatchType,
    /// `service.name` of the resource, any of.
    pub services: Vec<String>,
    /// Span names, any of.
    pub span_names: Vec<String>,
    /// Span kinds (`SPAN_KIND_SERVER` or `server`), any of.
    pub span_kinds: Vec<String>,
    /// Log bodies (string bodies), any of.
    pub log_bodies: Vec<String>,
    /// Log severity texts, any of.
    pub log_severity_texts: Vec<String>,
    /// Minimum log severity.
    pub log_severity_number: Option<SeverityRule>,
    /// Metric names, any of.
    pub metric_names: Vec<String>,
    /// Item attributes, all of.
    pub attributes: Vec<AttributeRule>,
    /// Resource attributes, all of.
    pub resources: Vec<AttributeRule>,
    /// Instrumentation scopes, any of.
    pub libraries: Vec<LibraryRule>,
    /// The Collector's regexp result cache settings: accepted for compatibility, no effect
    /// (compiled Rust regexes need no cache).
    pub regexp: Option<RegexpCache>,
}

/// `regexp: {cacheenabled, cachemaxnumentries}` of the Collector's match config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpCache {
    /// Whether match results are cached (ignored).
    pub cacheenabled: bool,
    /// Cache size (ignored).
    pub cachemaxnumentries: usize,
}

/// `severity_number: {min, match_undefined}`: matches records at or above `min`, and records
/// with no severity when `match_undefined`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityRule {
    /// Minimum severity: a number (1–24) or a name (`INFO`, `warn2`, `SEVERITY_NUMBER_ERROR`).
    pub min: serde_yaml_ng::Value,
    /// Whether a record without severity (0) matches.
    #[serde(default)]
    pub match_undefined: bool,
}

impl SeverityRule {
    /// The minimum as a severity number.
    ///
    /// # Errors
    /// An unknown name or a number outside 1–24.
    pub fn min_number(&self, path: &str) -> Result<i32, ConfigError> {
        let err = || {
            ConfigError::new(
                format!("{path}::min"),
                "must be a severity number 1-24 or a name like INFO, WARN2",
            )
        };
        let n = match &self.min {
            serde_yaml_ng::Value::Number(n) => n.as_i64().ok_or_else(err)?,
            serde_yaml_ng::Value::String(s) => {
                let up = s.to_ascii_uppercase();
                let name = up.strip_prefix("SEVERITY_NUMBER_").unwrap_or(&up);
                crate::ottl::enum_value(&format!("SEVERITY_NUMBER_{name}")).ok_or_else(err)?
            }
            _ => return Err(err()),
        };
        if !(1..=24).contains(&n) {
            return Err(err());
        }
        Ok(n as i32)
    }
}

/// Compiled [`MatchProperties`].
#[derive(Debug, Clone)]
pub struct Matcher {
    services: Option<Strings>,
    span_names: Option<Strings>,
    span_kinds: Vec<i32>,
    log_bodies: Option<Strings>,
    log_severity_texts: Option<Strings>,
    log_severity: Option<(i32, bool)>,
    metric_names: Option<Strings>,
    attributes: Vec<AttrMatcher>,
    resources: Vec<AttrMatcher>,
    libraries: Vec<(Strings, Option<Strings>)>,
}

/// The properties of one item a [`Matcher`] looks at; `None` for what the item does not have.
#[derive(Default)]
pub struct Item<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The item's name (span name or metric name).
    pub name: Option<&'a str>,
    /// Span kind number.
    pub span_kind: Option<i32>,
    /// The item's attributes (span, log record or data point).
    pub attributes: &'a [KeyValue],
    /// Log body, when it is a string.
    pub log_body: Option<&'a str>,
    /// Log severity text and number.
    pub log_severity: Option<(&'a str, i32)>,
}

fn nonempty(mt: MatchType, v: &[String], path: &str) -> Result<Option<Strings>, ConfigError> {
    if v.is_empty() {
        Ok(None)
    } else {
        Strings::compile(mt, v, path).map(Some)
    }
}

fn span_kind(s: &str) -> Option<i32> {
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SPAN_KIND_").unwrap_or(&up);
    Some(match name {
        "UNSPECIFIED" => 0,
        "INTERNAL" => 1,
        "SERVER" => 2,
        "CLIENT" => 3,
        "PRODUCER" => 4,
        "CONSUMER" => 5,
        _ => return None,
    })
}

impl MatchProperties {
    /// Refuses the properties that do not apply to `signal`, as the Collector's `attributes`
    /// processor does: spans take no `log_*`/`metric_names`; logs no `services`,
    /// `span_names`, `span_kinds`, `metric_names`; metrics only `metric_names` and `resources`.
    ///
    /// # Errors
    /// The first inapplicable property, at `path::<field>`.
    pub fn check_for(
        &self,
        signal: strata_pipelines::Signal,
        path: &str,
    ) -> Result<(), ConfigError> {
        use strata_pipelines::Signal;
        let given = [
            ("services", !self.services.is_empty()),
            ("span_names", !self.span_names.is_empty()),
            ("span_kinds", !self.span_kinds.is_empty()),
            ("log_bodies", !self.log_bodies.is_empty()),
            ("log_severity_texts", !self.log_severity_texts.is_empty()),
            ("log_severity_number", self.log_severity_number.is_some()),
            ("metric_names", !self.metric_names.is_empty()),
            ("attributes", !self.attributes.is_empty()),
            ("libraries", !self.libraries.is_empty()),
        ];
        let invalid: &[&str] = match signal {
            Signal::Traces => &[
                "log_bodies",
                "log_severity_texts",
                "log_severity_number",
                "metric_names",
            ],
            Signal::Logs => &["services", "span_names", "span_kinds", "metric_names"],
            Signal::Metrics => &[
                "services",
                "span_names",
                "span_kinds",
                "log_bodies",
                "log_severity_texts",
                "log_severity_number",
                "attributes",
                "libraries",
            ],
        };
        match given
            .iter()
            .find(|(name, set)| *set && invalid.contains(name))
        {
            Some((name, _)) => Err(ConfigError::new(
                format!("{path}::{name}"),
                format!("does not apply to {signal}"),
            )),
            None => Ok(()),
        }
    }

    /// Compiles the rules; `path` is the YAML path of this block.
    ///
    /// # Errors
    /// An invalid regex, an unknown span kind or severity, a non-scalar attribute value, or a
    /// block with no rule at all (it would match everything).
    pub fn compile(&self, path: &str) -> Result<Matcher, ConfigError> {
        let mt = self.match_type;
        let m = Matcher {
            services: nonempty(mt, &self.services, &format!("{path}::services"))?,
            span_names: nonempty(mt, &self.span_names, &format!("{path}::span_names"))?,
            span_kinds: self
                .span_kinds
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    span_kind(k).ok_or_else(|| {
                        ConfigError::new(
                            format!("{path}::span_kinds::{i}"),
                            format!("unknown span kind {k:?} (SPAN_KIND_SERVER, ...)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            log_bodies: nonempty(mt, &self.log_bodies, &format!("{path}::log_bodies"))?,
            log_severity_texts: nonempty(
                mt,
                &self.log_severity_texts,
                &format!("{path}::log_severity_texts"),
            )?,
            log_severity: self
                .log_severity_number
                .as_ref()
                .map(|s| {
                    s.min_number(&format!("{path}::log_severity_number"))
                        .map(|n| (n, s.match_undefined))
                })
                .transpose()?,
            metric_names: nonempty(mt, &self.metric_names, &format!("{path}::metric_names"))?,
            attributes: AttrMatcher::compile_all(
                mt,
                &self.attributes,
                &format!("{path}::attributes"),
            )?,
            resources: AttrMatcher::compile_all(
                mt,
                &self.resources,
                &format!("{path}::resources"),
            )?,
            libraries: self
                .libraries
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let p = format!("{path}::libraries::{i}");
                    Ok((
                        Strings::compile(mt, std::slice::from_ref(&l.name), &p)?,
                        l.version
                            .as_ref()
                            .map(|v| Strings::compile(mt, std::slice::from_ref(v), &p))
                            .transpose()?,
                    ))
                })
                .collect::<Result<_, ConfigError>>()?,
        };
        if self
            == &(MatchProperties {
                match_type: mt,
                regexp: self.regexp.clone(),
                ..Default::default()
            })
        {
            return Err(ConfigError::new(
                path,
                "at least one property (services, span_names, attributes, ...) must be given",
            ));
        }
        Ok(m)
    }
}

impl Matcher {
    /// True when every given property matches `item`.
    pub fn matches(&self, item: &Item<'_>) -> bool {
        let s = |m: &Option<Strings>, v: Option<&str>| {
            m.as_ref().is_none_or(|m| v.is_some_and(|v| m.matches(v)))
        };
        let service = item
            .resource
            .and_then(|r| match attr(&r.attributes, "service.name") {
                Value::Str(s) => Some(s),
                _ => None,
            });
        s(&self.services, service.as_deref())
            && s(&self.span_names, item.name)
            && s(&self.metric_names, item.name)
            && (self.span_kinds.is_empty()
                || item.span_kind.is_some_and(|k| self.span_kinds.contains(&k)))
            && s(&self.log_bodies, item.log_body)
            && s(&self.log_severity_texts, item.log_severity.map(|l| l.0))
            && self.log_severity.is_none_or(|(min, undefined)| {
                item.log_severity
                    .is_some_and(|(_, n)| n >= min || (n == 0 && undefined))
            })
            && all_match(&self.attributes, item.attributes)
            && all_match(&self.resources, resource_attrs(item.resource))
            && (self.libraries.is_empty()
                || item.scope.is_some_and(|sc| {
                    self.libraries.iter().any(|(n, v)| {
                        n.matches(&sc.name) && v.as_ref().is_none_or(|v| v.matches(&sc.version))
                    })
                }))
    }
}
