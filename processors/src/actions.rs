//! Attribute actions, shared by the `resource` and `attributes` processors: the OpenTelemetry
//! Collector's `attraction` config (`key`, `value` / `from_attribute` / `from_context`,
//! `action`, `pattern`, `converted_type`), applied in order to one attribute list.
//!
//! | action | does |
//! |---|---|
//! | `insert` | sets `key` when it is absent |
//! | `update` | sets `key` when it is present |
//! | `upsert` | sets `key` either way |
//! | `delete` | removes `key`, or every key matching `pattern` |
//! | `hash` | replaces the value of `key` (or of every key matching `pattern`) by the lowercase hex SHA-256 of its string form |
//! | `extract` | matches the string value of `key` against `pattern` and upserts one attribute per named group that matched |
//! | `convert` | converts the value of `key` to `converted_type` (`int`, `double`, `string`); a value that does not convert is left as it is |
//!
//! The value set by `insert`/`update`/`upsert` is `value` (a YAML string, integer, float or
//! boolean), the value of the attribute `from_attribute`, or the value of `from_context` in the
//! request's client context (`strata_pipelines::auth`): `auth.tenant`, `auth.username`,
//! `auth.subject`, `metadata.<header>` (with `include_metadata`), `client.address`. Nothing
//! happens when the source is absent, as in the Collector; on a tenant-isolated tier, delete
//! the key first so a payload's own value never survives an unauthenticated path:
//!
//! ```yaml
//! attributes:
//!   - { key: tenant.id, action: delete }
//!   - { key: tenant.id, from_context: auth.tenant, action: upsert }
//! ```

use regex::Regex;
use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Set when absent.
    Insert,
    /// Set when present.
    Update,
    /// Set either way.
    Upsert,
    /// Remove.
    Delete,
    /// Replace by its SHA-256.
    Hash,
    /// Named regex groups to new attributes.
    Extract,
    /// Change the value's type.
    Convert,
}

/// Target type of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvertedType {
    /// 64-bit integer (strings are parsed; doubles truncated; booleans 0/1).
    Int,
    /// 64-bit float (strings are parsed; integers widened).
    Double,
    /// String (the value's text form).
    String,
}

/// One entry of `actions:` (or the `resource` processor's `attributes:`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute acted on (optional for `delete`/`hash` with `pattern`).
    #[serde(default)]
    pub key: Option<String>,
    /// The value to set.
    #[serde(default)]
    pub value: Option<serde_yaml_ng::Value>,
    /// The attribute whose value is set.
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// The client-context key whose value is set (`auth.tenant`, `metadata.x-team`, ...).
    #[serde(default)]
    pub from_context: Option<String>,
    /// The action.
    pub action: ActionKind,
    /// Regex: the keys of `delete`/`hash`, or the value pattern with named groups of `extract`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Target type of `convert`.
    #[serde(default)]
    pub converted_type: Option<ConvertedType>,
}

#[derive(Debug, Clone)]
enum Source {
    Value(AnyValue),
    Attribute(String),
    Context(String),
}

#[derive(Debug, Clone)]
enum Keys {
    One(String),
    Matching(Regex),
}

impl Keys {
    fn matches(&self, k: &str) -> bool {
        match self {
            Keys::One(key) => key == k,
            Keys::Matching(r) => r.is_match(k),
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Set {
        key: String,
        kind: ActionKind,
        source: Source,
    },
    Delete(Keys),
    Hash(Keys),
    Extract {
        key: String,
        regex: Regex,
    },
    Convert {
        key: String,
        to: ConvertedType,
    },
}

/// A validated list of actions.
#[derive(Debug, Clone, Default)]
pub struct Actions(Vec<Action>);

fn yaml_to_any(v: &serde_yaml_ng::Value) -> Option<AnyValue> {
    let value = match v {
        serde_yaml_ng::Value::String(s) => Av::StringValue(s.clone()),
        serde_yaml_ng::Value::Bool(b) => Av::BoolValue(*b),
        serde_yaml_ng::Value::Number(n) => match n.as_i64() {
            Some(i) => Av::IntValue(i),
            None => Av::DoubleValue(n.as_f64()?),
        },
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

/// The text form of a value (what `hash` digests and `convert` to `string` produces).
pub fn value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(Av::StringValue(s)) => s.clone(),
        Some(Av::BoolValue(b)) => b.to_string(),
        Some(Av::IntValue(i)) => i.to_string(),
        Some(Av::DoubleValue(d)) => d.to_string(),
        Some(Av::BytesValue(b)) => hex(b),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// Lowercase hex of `bytes` (two characters per byte), in one allocation.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Lowercase hex SHA-256 of `s`.
pub fn sha256_hex(s: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, s).as_ref())
}

impl Actions {
    /// Validates `cfg` (entries at `{path}::{i}`) the way the Collector does.
    ///
    /// # Errors
    /// A missing `key`; `insert`/`update`/`upsert` without exactly one of `value`,
    /// `from_attribute`, `from_context`, or with a `value` that is not a scalar; a
    /// `from_context` key of no known form; `extract` without a `pattern` with named groups; `convert` without
    /// `converted_type`; an invalid regex; options that do not apply to the action.
    pub fn compile(cfg: &[ActionConfig], path: &str) -> Result<Actions, ConfigError> {
        let mut out = Vec::with_capacity(cfg.len());
        for (i, a) in cfg.iter().enumerate() {
            let p = format!("{path}::{i}");
            let err = |field: &str, msg: &str| ConfigError::new(format!("{p}::{field}"), msg);
            let regex = |pat: &str| {
                Regex::new(pat).map_err(|e| err("pattern", &format!("invalid regex: {e}")))
            };
            let key = a.key.clone().filter(|k| !k.is_empty());
            let sources = usize::from(a.value.is_some())
                + usize::from(a.from_attribute.is_some())
                + usize::from(a.from_context.is_some());
            let action = match a.action {
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                    let key = key.ok_or_else(|| err("key", "required"))?;
                    if sources != 1 {
                        return Err(err(
                            "value",
                            "exactly one of value, from_attribute, from_context is required",
                        ));
                    }
                    if let Some(c) = &a.from_context
                        && !(c.starts_with("auth.")
                            || c.starts_with("metadata.")
                            || c == "client.address")
                    {
                        return Err(err(
                            "from_context",
                            "expected auth.<attribute>, metadata.<header> or client.address",
                        ));
                    }
                    if a.pattern.is_some() || a.converted_type.is_some() {
                        return Err(err("pattern", "applies to delete, hash, extract only"));
                    }
                    let source =
                        match (&a.value, &a.from_attribute, &a.from_context) {
                            (Some(v), _, _) => Source::Value(yaml_to_any(v).ok_or_else(|| {
                                err("value", "must be a string, number or boolean")
                            })?),
                            (None, Some(f), _) => Source::Attribute(f.clone()),
                            (None, None, Some(c)) => Source::Context(c.clone()),
                            (None, None, None) => {
                                return Err(err("value", "a value source is required"));
                            }
                        };
                    Action::Set {
                        key,
                        kind: a.action,
                        source,
                    }
                }
                ActionKind::Delete | ActionKind::Hash => {
                    if sources != 0 || a.converted_type.is_some() {
                        return Err(err("value", "delete and hash take only key and/or pattern"));
                    }
                    let keys = match (key, &a.pattern) {
                        (Some(k), None) => Keys::One(k),
                        (None, Some(p)) => Keys::Matching(regex(p)?),
                        (Some(_), Some(_)) => {
                            return Err(err("pattern", "give key or pattern, not both"));
                        }
                        (None, None) => return Err(err("key", "key or pattern is required")),
                    };
                    if a.action == ActionKind::Delete {
                        Action::Delete(keys)
                    } else {
                        Action::Hash(keys)
                    }
                }
                ActionKind::Extract => {
                    let key = key.ok_or_else(|| err("key", "required"))?;
                    if sources != 0 || a.converted_type.is_some() {
                        return Err(err("value", "extract takes only key and pattern"));
                    }
                    let pat = a
                        .pattern
                        .as_deref()
                        .ok_or_else(|| err("pattern", "required for extract"))?;
                    let regex = regex(pat)?;
                    if regex.capture_names().flatten().next().is_none() {
                        return Err(err(
                            "pattern",
                            "needs at least one named group, e.g. ^/api/(?P<version>v\\d+)/",
                        ));
                    }
                    Action::Extract { key, regex }
                }
                ActionKind::Convert => {
                    let key = key.ok_or_else(|| err("key", "required"))?;
                    if sources != 0 || a.pattern.is_some() {
                        return Err(err("value", "convert takes only key and converted_type"));
                    }
                    let to = a
                        .converted_type
                        .ok_or_else(|| err("converted_type", "required: int, double or string"))?;
                    Action::Convert { key, to }
                }
            };
            out.push(action);
        }
        Ok(Actions(out))
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every action, in order, to `attrs`.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) {
        for a in &self.0 {
            match a {
                Action::Set { key, kind, source } => {
                    let value = match source {
                        Source::Value(v) => v.clone(),
                        Source::Attribute(from) => match attrs.iter().find(|kv| &kv.key == from) {
                            Some(kv) => kv.value.clone().unwrap_or_default(),
                            None => continue,
                        },
                        // The request being processed: the receiver's authenticated context.
                        Source::Context(key) => {
                            match strata_pipelines::auth::ClientContext::current()
                                .and_then(|c| c.get(key))
                            {
                                Some(v) => AnyValue {
                                    value: Some(Av::StringValue(v)),
                                },
                                None => continue,
                            }
                        }
                    };
                    set(attrs, key, value, *kind);
                }
                Action::Delete(keys) => attrs.retain(|kv| !keys.matches(&kv.key)),
                Action::Hash(keys) => {
                    for kv in attrs.iter_mut().filter(|kv| keys.matches(&kv.key)) {
                        let text = kv.value.as_ref().map(value_text).unwrap_or_default();
                        kv.value = Some(AnyValue {
                            value: Some(Av::StringValue(sha256_hex(text.as_bytes()))),
                        });
                    }
                }
                Action::Extract { key, regex } => {
                    let Some(Av::StringValue(s)) = attrs
                        .iter()
                        .find(|kv| &kv.key == key)
                        .and_then(|kv| kv.value.as_ref()?.value.clone())
                    else {
                        continue;
                    };
                    let Some(caps) = regex.captures(&s) else {
                        continue;
                    };
                    for name in regex.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            let v = AnyValue {
                                value: Some(Av::StringValue(m.as_str().to_owned())),
                            };
                            set(attrs, name, v, ActionKind::Upsert);
                        }
                    }
                }
                Action::Convert { key, to } => {
                    if let Some(kv) = attrs.iter_mut().find(|kv| &kv.key == key)
                        && let Some(v) = kv.value.as_ref().and_then(|v| convert(v, *to))
                    {
                        kv.value = Some(v);
                    }
                }
            }
        }
    }
}

fn set(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue, kind: ActionKind) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) if kind != ActionKind::Insert => kv.value = Some(value),
        Some(_) => {}
        None if kind != ActionKind::Update => attrs.push(KeyValue {
            key: key.to_owned(),
            value: Some(value),
            ..Default::default()
        }),
        None => {}
    }
}

fn convert(v: &AnyValue, to: ConvertedType) -> Option<AnyValue> {
    let value = match (to, v.value.as_ref()?) {
        (ConvertedType::Int, Av::IntValue(i)) => Av::IntValue(*i),
        (ConvertedType::Int, Av::DoubleValue(d)) if d.is_finite() => Av::IntValue(*d as i64),
        (ConvertedType::Int, Av::BoolValue(b)) => Av::IntValue(i64::from(*b)),
        (ConvertedType::Int, Av::StringValue(s)) => Av::IntValue(s.trim().parse().ok()?),
        (ConvertedType::Double, Av::DoubleValue(d)) => Av::DoubleValue(*d),
        (ConvertedType::Double, Av::IntValue(i)) => Av::DoubleValue(*i as f64),
        (ConvertedType::Double, Av::BoolValue(b)) => Av::DoubleValue(f64::from(u8::from(*b))),
        (ConvertedType::Double, Av::StringValue(s)) => Av::DoubleValue(s.trim().parse().ok()?),
        (ConvertedType::String, Av::StringValue(s)) => Av::StringValue(s.clone()),
        (ConvertedType::String, _) => Av::StringValue(value_text(v)),
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<Actions, String> {
        let cfg: Vec<ActionConfig> = serde_yaml_ng::from_str(y).map_err(|e| e.to_string())?;
        Actions::compile(&cfg, "processors::resource::attributes").map_err(|e| e.to_string())
    }

    fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(Av::StringValue(v.into())),
        }
    }

    fn i(v: i64) -> AnyValue {
        AnyValue {
            value: Some(Av::IntValue(v)),
        }
    }

    fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(v),
            ..Default::default()
        }
    }

    /// Attributes as (key, value) pairs.
    type Pairs = Vec<(String, Option<Av>)>;

    fn run(actions: &str, attrs: Vec<KeyValue>) -> Pairs {
        let mut attrs = attrs;
        parse(actions).unwrap().apply(&mut attrs);
        attrs
            .into_iter()
            .map(|kv| (kv.key, kv.value.and_then(|v| v.value)))
            .collect()
    }

    fn sv(v: &str) -> Option<Av> {
        Some(Av::StringValue(v.into()))
    }

    #[test]
    fn set_actions_by_existing_and_missing_key_and_value_type() {
        let base = || vec![kv("a", s("x")), kv("src", i(7))];
        // (action yaml, expected)
        let table: Vec<(&str, Pairs)> = vec![
            (
                "[{key: a, value: y, action: insert}]",
                vec![("a".into(), sv("x")), ("src".into(), Some(Av::IntValue(7)))],
            ),
            (
                "[{key: b, value: 2, action: insert}]",
                vec![
                    ("a".into(), sv("x")),
                    ("src".into(), Some(Av::IntValue(7))),
                    ("b".into(), Some(Av::IntValue(2))),
                ],
            ),
            (
                "[{key: a, value: 1.5, action: update}]",
                vec![
                    ("a".into(), Some(Av::DoubleValue(1.5))),
                    ("src".into(), Some(Av::IntValue(7))),
                ],
            ),
            (
                "[{key: b, value: true, action: update}]",
                vec![("a".into(), sv("x")), ("src".into(), Some(Av::IntValue(7)))],
            ),
            (
                "[{key: a, value: true, action: upsert}]",
                vec![
                    ("a".into(), Some(Av::BoolValue(true))),
                    ("src".into(), Some(Av::IntValue(7))),
                ],
            ),
            (
                "[{key: b, value: z, action: upsert}]",
                vec![
                    ("a".into(), sv("x")),
                    ("src".into(), Some(Av::IntValue(7))),
                    ("b".into(), sv("z")),
                ],
            ),
            (
                "[{key: b, from_attribute: src, action: upsert}]",
                vec![
                    ("a".into(), sv("x")),
                    ("src".into(), Some(Av::IntValue(7))),
                    ("b".into(), Some(Av::IntValue(7))),
                ],
            ),
            (
                "[{key: b, from_attribute: nope, action: upsert}]",
                vec![("a".into(), sv("x")), ("src".into(), Some(Av::IntValue(7)))],
            ),
            (
                "[{key: a, action: delete}]",
                vec![("src".into(), Some(Av::IntValue(7)))],
            ),
            (
                "[{key: nope, action: delete}]",
                vec![("a".into(), sv("x")), ("src".into(), Some(Av::IntValue(7)))],
            ),
            ("[{pattern: '^(a|src)$', action: delete}]", vec![]),
            (
                "[{key: src, action: hash}]",
                vec![("a".into(), sv("x")), ("src".into(), sv(&sha256_hex(b"7")))],
            ),
            (
                "[{key: src, action: convert, converted_type: string}]",
                vec![("a".into(), sv("x")), ("src".into(), sv("7"))],
            ),
            (
                "[{key: src, action: convert, converted_type: double}]",
                vec![
                    ("a".into(), sv("x")),
                    ("src".into(), Some(Av::DoubleValue(7.0))),
                ],
            ),
            (
                "[{key: a, action: convert, converted_type: int}]",
                vec![("a".into(), sv("x")), ("src".into(), Some(Av::IntValue(7)))],
            ),
        ];
        for (y, want) in table {
            assert_eq!(run(y, base()), want, "{y}");
        }
        // A known digest: SHA-256("x").
        assert_eq!(
            sha256_hex(b"x"),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }

    #[test]
    fn extract_named_groups_and_convert_strings() {
        let got = run(
            r"[{key: url, pattern: '^/api/(?P<version>v\d+)/(?P<res>\w+)', action: extract}]",
            vec![kv("url", s("/api/v2/users/42")), kv("version", s("old"))],
        );
        assert_eq!(
            got,
            vec![
                ("url".into(), sv("/api/v2/users/42")),
                ("version".into(), sv("v2")),
                ("res".into(), sv("users")),
            ]
        );
        // No match: unchanged.
        let got = run(
            r"[{key: url, pattern: '^/api/(?P<version>v\d+)', action: extract}]",
            vec![kv("url", s("/other"))],
        );
        assert_eq!(got, vec![("url".into(), sv("/other"))]);
        let got = run(
            "[{key: n, action: convert, converted_type: int}]",
            vec![kv("n", s(" 42 "))],
        );
        assert_eq!(got, vec![("n".into(), Some(Av::IntValue(42)))]);
    }

    #[tokio::test]
    async fn from_context_stamps_the_authenticated_value_over_the_payload() {
        use strata_pipelines::auth::ClientContext;
        let y = "[{key: tenant.id, action: delete}, {key: tenant.id, from_context: auth.tenant, action: upsert}, {key: team, from_context: metadata.x-team, action: insert}]";
        let payload = || vec![kv("tenant.id", s("B")), kv("other", s("x"))];
        let mut ctx = ClientContext::default();
        ctx.auth.insert("tenant".into(), "A".into());
        ctx.metadata.insert("x-team".into(), vec!["blue".into()]);
        let got = ClientContext::scope(std::sync::Arc::new(ctx), async { run(y, payload()) }).await;
        assert_eq!(
            got,
            vec![
                ("other".into(), sv("x")),
                ("tenant.id".into(), sv("A")),
                ("team".into(), sv("blue")),
            ]
        );
        // No context: the payload's claim is deleted, nothing is stamped.
        assert_eq!(run(y, payload()), vec![("other".into(), sv("x"))]);
    }

    #[test]
    fn each_validation_error_names_its_field() {
        for (y, field) in [
            ("[{value: 1, action: insert}]", "0::key"),
            ("[{key: a, action: insert}]", "0::value"),
            (
                "[{key: a, value: 1, from_attribute: b, action: upsert}]",
                "0::value",
            ),
            (
                "[{key: a, from_context: tenant, action: upsert}]",
                "0::from_context",
            ),
            ("[{key: a, value: [1], action: upsert}]", "0::value"),
            (
                "[{key: a, value: 1, pattern: x, action: upsert}]",
                "0::pattern",
            ),
            ("[{action: delete}]", "0::key"),
            ("[{key: a, pattern: b, action: hash}]", "0::pattern"),
            ("[{pattern: '(', action: delete}]", "0::pattern"),
            ("[{key: a, value: 1, action: delete}]", "0::value"),
            ("[{key: a, action: extract}]", "0::pattern"),
            ("[{key: a, pattern: '^x$', action: extract}]", "0::pattern"),
            ("[{key: a, action: convert}]", "0::converted_type"),
            (
                "[{key: a, action: insert, value: 1}, {key: b, action: convert, converted_type: int, value: 2}]",
                "1::value",
            ),
        ] {
            let e = parse(y).expect_err(y);
            assert!(
                e.contains(&format!("processors::resource::attributes::{field}")),
                "{y}: {e}"
            );
        }
        for y in [
            "[{key: a, action: nope}]",
            "[{key: a, action: insert, value: 1, extra: 2}]",
            "[{key: a, action: convert, converted_type: float}]",
        ] {
            assert!(parse(y).is_err(), "{y}");
        }
    }
}
