//! Factories: how a component type turns its YAML config into a running component.
//!
//! `src/components.rs` in the binary lists every factory; the graph looks them up by type name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_yaml_ng::Value;

use crate::component::{Exporter, Extension, NextConsumers, Processor, Receiver};
use crate::config::ConfigError;
use crate::consumer::BoxConsumer;
use crate::error::BuildError;
use crate::id::ComponentId;
use crate::signal::{Logs, Metrics, Signal, SignalData, Traces};
use crate::telemetry::Telemetry;

/// Component kinds, as named in the config's top-level sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `receivers:`
    Receiver,
    /// `processors:`
    Processor,
    /// `exporters:`
    Exporter,
    /// `extensions:`
    Extension,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Extension => "extension",
        })
    }
}

/// What a factory gets besides the config: the component's id and the self-telemetry registry.
#[derive(Clone)]
pub struct Settings {
    /// Kind of the component being created.
    pub kind: Kind,
    /// The component's id (`otlp/upstream`).
    pub id: ComponentId,
    /// Process-wide self-telemetry.
    pub telemetry: Telemetry,
}

impl Settings {
    /// The YAML path of this component's config (`exporters::otlp/upstream`), for errors.
    pub fn path(&self) -> String {
        format!("{}s::{}", self.kind, self.id)
    }

    /// Settings of an extension `id` with its own telemetry registry, for tests.
    ///
    /// # Panics
    /// `id` is not a valid component id.
    #[cfg(any(test, feature = "testing"))]
    #[allow(clippy::expect_used)] // test helper: a bad literal id is a bug in the test
    pub fn for_test(id: &str) -> Self {
        Settings {
            kind: Kind::Extension,
            id: id.parse().expect("a valid component id"),
            telemetry: Telemetry::default(),
        }
    }
}

/// Creates receivers of one type.
pub trait ReceiverFactory: Send + Sync {
    /// The type name in configs (`otlp`).
    fn type_name(&self) -> &'static str;
    /// Collector keys this component accepts without effect, with why (see [`AcceptedKey`]).
    fn accepted(&self) -> Vec<AcceptedKey> {
        Vec::new()
    }
    /// Signals the receiver can produce.
    fn signals(&self) -> &'static [Signal];
    /// Why this build cannot run the receiver (a cargo feature left out), if it cannot: its
    /// configs still validate, and `create` fails with this reason. Default: it can.
    fn unavailable(&self) -> Option<&'static str> {
        None
    }
    /// Checks `cfg` without creating anything; `path` prefixes error paths.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    fn validate(&self, path: &str, cfg: &Value) -> Result<(), ConfigError>;
    /// Creates the receiver (not yet started), feeding `next`.
    ///
    /// # Errors
    /// An invalid config or an unusable resource named in it.
    fn create(
        &self,
        set: Settings,
        cfg: Value,
        next: NextConsumers,
    ) -> Result<Arc<dyn Receiver>, BuildError>;
}

/// Creates processors of one type, one instance per pipeline and signal.
pub trait ProcessorFactory: Send + Sync {
    /// The type name in configs (`batch`).
    fn type_name(&self) -> &'static str;
    /// Collector keys this component accepts without effect, with why (see [`AcceptedKey`]).
    fn accepted(&self) -> Vec<AcceptedKey> {
        Vec::new()
    }
    /// Signals the processor supports.
    fn signals(&self) -> &'static [Signal];
    /// Checks `cfg` without creating anything.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    fn validate(&self, path: &str, cfg: &Value) -> Result<(), ConfigError>;
    /// Creates a traces processor that calls `next`.
    ///
    /// # Errors
    /// [`BuildError::SignalNotSupported`] unless overridden; config errors.
    fn create_traces(
        &self,
        set: Settings,
        _cfg: Value,
        _next: BoxConsumer<Traces>,
    ) -> Result<Arc<dyn Processor<Traces>>, BuildError> {
        Err(not_supported(set, Signal::Traces))
    }
    /// Creates a metrics processor that calls `next`.
    ///
    /// # Errors
    /// As [`ProcessorFactory::create_traces`].
    fn create_metrics(
        &self,
        set: Settings,
        _cfg: Value,
        _next: BoxConsumer<Metrics>,
    ) -> Result<Arc<dyn Processor<Metrics>>, BuildError> {
        Err(not_supported(set, Signal::Metrics))
    }
    /// Creates a logs processor that calls `next`.
    ///
    /// # Errors
    /// As [`ProcessorFactory::create_traces`].
    fn create_logs(
        &self,
        set: Settings,
        _cfg: Value,
        _next: BoxConsumer<Logs>,
    ) -> Result<Arc<dyn Processor<Logs>>, BuildError> {
        Err(not_supported(set, Signal::Logs))
    }
}

/// Creates exporters of one type, one instance per id and signal.
pub trait ExporterFactory: Send + Sync {
    /// The type name in configs (`otlp`).
    fn type_name(&self) -> &'static str;
    /// Collector keys this component accepts without effect, with why (see [`AcceptedKey`]).
    fn accepted(&self) -> Vec<AcceptedKey> {
        Vec::new()
    }
    /// Signals the exporter supports.
    fn signals(&self) -> &'static [Signal];
    /// Checks `cfg` without creating anything.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    fn validate(&self, path: &str, cfg: &Value) -> Result<(), ConfigError>;
    /// Creates a traces exporter.
    ///
    /// # Errors
    /// [`BuildError::SignalNotSupported`] unless overridden; config errors.
    fn create_traces(
        &self,
        set: Settings,
        _cfg: Value,
    ) -> Result<Arc<dyn Exporter<Traces>>, BuildError> {
        Err(not_supported(set, Signal::Traces))
    }
    /// Creates a metrics exporter.
    ///
    /// # Errors
    /// As [`ExporterFactory::create_traces`].
    fn create_metrics(
        &self,
        set: Settings,
        _cfg: Value,
    ) -> Result<Arc<dyn Exporter<Metrics>>, BuildError> {
        Err(not_supported(set, Signal::Metrics))
    }
    /// Creates a logs exporter.
    ///
    /// # Errors
    /// As [`ExporterFactory::create_traces`].
    fn create_logs(
        &self,
        set: Settings,
        _cfg: Value,
    ) -> Result<Arc<dyn Exporter<Logs>>, BuildError> {
        Err(not_supported(set, Signal::Logs))
    }
}

fn not_supported(set: Settings, signal: Signal) -> BuildError {
    BuildError::SignalNotSupported { id: set.id, signal }
}

/// Picks the per-signal factory method, so the graph is written once for all signals.
pub trait SignalFactories: SignalData {
    /// Calls the matching `create_*` of an exporter factory.
    ///
    /// # Errors
    /// Whatever the factory returns.
    fn create_exporter(
        f: &dyn ExporterFactory,
        set: Settings,
        cfg: Value,
    ) -> Result<Arc<dyn Exporter<Self>>, BuildError>;
    /// Calls the matching `create_*` of a processor factory.
    ///
    /// # Errors
    /// Whatever the factory returns.
    fn create_processor(
        f: &dyn ProcessorFactory,
        set: Settings,
        cfg: Value,
        next: BoxConsumer<Self>,
    ) -> Result<Arc<dyn Processor<Self>>, BuildError>;
    /// The slot for this signal in [`NextConsumers`].
    fn next_slot(n: &mut NextConsumers) -> &mut Option<BoxConsumer<Self>>;
}

macro_rules! signal_factories {
    ($t:ty, $exp:ident, $proc:ident, $slot:ident) => {
        impl SignalFactories for $t {
            fn create_exporter(
                f: &dyn ExporterFactory,
                set: Settings,
                cfg: Value,
            ) -> Result<Arc<dyn Exporter<Self>>, BuildError> {
                f.$exp(set, cfg)
            }
            fn create_processor(
                f: &dyn ProcessorFactory,
                set: Settings,
                cfg: Value,
                next: BoxConsumer<Self>,
            ) -> Result<Arc<dyn Processor<Self>>, BuildError> {
                f.$proc(set, cfg, next)
            }
            fn next_slot(n: &mut NextConsumers) -> &mut Option<BoxConsumer<Self>> {
                &mut n.$slot
            }
        }
    };
}
signal_factories!(Traces, create_traces, create_traces, traces);
signal_factories!(Metrics, create_metrics, create_metrics, metrics);
signal_factories!(Logs, create_logs, create_logs, logs);

/// Creates extensions of one type, one instance per id listed in `service::extensions`.
pub trait ExtensionFactory: Send + Sync {
    /// The type name in configs (`file_storage`).
    fn type_name(&self) -> &'static str;
    /// Collector keys this component accepts without effect, with why (see [`AcceptedKey`]).
    fn accepted(&self) -> Vec<AcceptedKey> {
        Vec::new()
    }
    /// Checks `cfg` without creating anything.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    fn validate(&self, path: &str, cfg: &Value) -> Result<(), ConfigError>;
    /// Creates the extension (not yet started).
    ///
    /// # Errors
    /// An invalid config.
    fn create(&self, set: Settings, cfg: Value) -> Result<Arc<dyn Extension>, BuildError>;
}

/// A second factory registered for a type that already has one.
#[derive(Debug, thiserror::Error)]
#[error("duplicate {kind} type {name:?} in the component registry")]
pub struct DuplicateType {
    /// Receiver, processor or exporter.
    pub kind: Kind,
    /// The type name registered twice.
    pub name: &'static str,
}

/// Every known factory, by kind and type name.
#[derive(Default)]
pub struct Factories {
    /// Receiver factories by type name.
    pub receivers: BTreeMap<&'static str, Box<dyn ReceiverFactory>>,
    /// Processor factories by type name.
    pub processors: BTreeMap<&'static str, Box<dyn ProcessorFactory>>,
    /// Exporter factories by type name.
    pub exporters: BTreeMap<&'static str, Box<dyn ExporterFactory>>,
    /// Extension factories by type name.
    pub extensions: BTreeMap<&'static str, Box<dyn ExtensionFactory>>,
}

impl Factories {
    /// Registers a receiver factory.
    ///
    /// # Errors
    /// [`DuplicateType`] when the type is already registered.
    pub fn receiver(mut self, f: impl ReceiverFactory + 'static) -> Result<Self, DuplicateType> {
        let name = f.type_name();
        if self.receivers.insert(name, Box::new(f)).is_some() {
            return Err(DuplicateType {
                kind: Kind::Receiver,
                name,
            });
        }
        Ok(self)
    }

    /// Registers a processor factory.
    ///
    /// # Errors
    /// [`DuplicateType`] when the type is already registered.
    pub fn processor(mut self, f: impl ProcessorFactory + 'static) -> Result<Self, DuplicateType> {
        let name = f.type_name();
        if self.processors.insert(name, Box::new(f)).is_some() {
            return Err(DuplicateType {
                kind: Kind::Processor,
                name,
            });
        }
        Ok(self)
    }

    /// Registers an exporter factory.
    ///
    /// # Errors
    /// [`DuplicateType`] when the type is already registered.
    pub fn exporter(mut self, f: impl ExporterFactory + 'static) -> Result<Self, DuplicateType> {
        let name = f.type_name();
        if self.exporters.insert(name, Box::new(f)).is_some() {
            return Err(DuplicateType {
                kind: Kind::Exporter,
                name,
            });
        }
        Ok(self)
    }
}

impl Factories {
    /// Registers an extension factory.
    ///
    /// # Errors
    /// [`DuplicateType`] when the type is already registered.
    pub fn extension(mut self, f: impl ExtensionFactory + 'static) -> Result<Self, DuplicateType> {
        let name = f.type_name();
        if self.extensions.insert(name, Box::new(f)).is_some() {
            return Err(DuplicateType {
                kind: Kind::Extension,
                name,
            });
        }
        Ok(self)
    }
}

/// Implements `create_traces`, `create_metrics` and `create_logs` of an [`ExporterFactory`]
/// for a component that supports all three signals, each calling the factory's own generic
/// `fn build<T>(&self, set: Settings, cfg: YamlValue) -> Result<Arc<dyn Exporter<T>>, BuildError>`.
/// Use inside the `impl ExporterFactory for Factory` block.
#[macro_export]
macro_rules! exporter_for_all_signals {
    () => {
        fn create_traces(
            &self,
            set: $crate::Settings,
            cfg: $crate::YamlValue,
        ) -> Result<::std::sync::Arc<dyn $crate::Exporter<$crate::Traces>>, $crate::BuildError> {
            self.build(set, cfg)
        }
        fn create_metrics(
            &self,
            set: $crate::Settings,
            cfg: $crate::YamlValue,
        ) -> Result<::std::sync::Arc<dyn $crate::Exporter<$crate::Metrics>>, $crate::BuildError> {
            self.build(set, cfg)
        }
        fn create_logs(
            &self,
            set: $crate::Settings,
            cfg: $crate::YamlValue,
        ) -> Result<::std::sync::Arc<dyn $crate::Exporter<$crate::Logs>>, $crate::BuildError> {
            self.build(set, cfg)
        }
    };
}

/// The [`ProcessorFactory`] counterpart of [`exporter_for_all_signals`]: each `create_*` calls
/// `fn build<T>(&self, set: Settings, cfg: YamlValue, next: BoxConsumer<T>)`.
#[macro_export]
macro_rules! processor_for_all_signals {
    () => {
        fn create_traces(
            &self,
            set: $crate::Settings,
            cfg: $crate::YamlValue,
            next: $crate::BoxConsumer<$crate::Traces>,
        ) -> Result<::std::sync::Arc<dyn $crate::Processor<$crate::Traces>>, $crate::BuildError> {
            self.build(set, cfg, next)
        }
        fn create_metrics(
            &self,
            set: $crate::Settings,
            cfg: $crate::YamlValue,
            next: $crate::BoxConsumer<$crate::Metrics>,
        ) -> Result<::std::sync::Arc<dyn $crate::Processor<$crate::Metrics>>, $crate::BuildError> {
            self.build(set, cfg, next)
        }
        fn create_logs(
            &self,
            set: $crate::Settings,
            cfg: $crate::YamlValue,
            next: $crate::BoxConsumer<$crate::Logs>,
        ) -> Result<::std::sync::Arc<dyn $crate::Processor<$crate::Logs>>, $crate::BuildError> {
            self.build(set, cfg, next)
        }
    };
}

/// A factory registered under a second type name: the Collector's current name beside its
/// deprecated one (`host_metrics` and `hostmetrics`), each loading the same component. Every
/// method but [`ReceiverFactory::type_name`] (and its processor counterpart) is the inner
/// factory's.
pub struct Alias<F> {
    /// The second type name.
    pub name: &'static str,
    /// The factory it names.
    pub factory: F,
}

impl<F: ReceiverFactory> ReceiverFactory for Alias<F> {
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn accepted(&self) -> Vec<AcceptedKey> {
        self.factory.accepted()
    }
    fn signals(&self) -> &'static [Signal] {
        self.factory.signals()
    }
    fn unavailable(&self) -> Option<&'static str> {
        self.factory.unavailable()
    }
    fn validate(&self, path: &str, cfg: &Value) -> Result<(), ConfigError> {
        self.factory.validate(path, cfg)
    }
    fn create(
        &self,
        set: Settings,
        cfg: Value,
        next: NextConsumers,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        self.factory.create(set, cfg, next)
    }
}

impl<F: ProcessorFactory> ProcessorFactory for Alias<F> {
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn accepted(&self) -> Vec<AcceptedKey> {
        self.factory.accepted()
    }
    fn signals(&self) -> &'static [Signal] {
        self.factory.signals()
    }
    fn validate(&self, path: &str, cfg: &Value) -> Result<(), ConfigError> {
        self.factory.validate(path, cfg)
    }
    fn create_traces(
        &self,
        set: Settings,
        cfg: Value,
        next: BoxConsumer<Traces>,
    ) -> Result<Arc<dyn Processor<Traces>>, BuildError> {
        self.factory.create_traces(set, cfg, next)
    }
    fn create_metrics(
        &self,
        set: Settings,
        cfg: Value,
        next: BoxConsumer<Metrics>,
    ) -> Result<Arc<dyn Processor<Metrics>>, BuildError> {
        self.factory.create_metrics(set, cfg, next)
    }
    fn create_logs(
        &self,
        set: Settings,
        cfg: Value,
        next: BoxConsumer<Logs>,
    ) -> Result<Arc<dyn Processor<Logs>>, BuildError> {
        self.factory.create_logs(set, cfg, next)
    }
}

/// A Collector config key a component accepts without effect, and why: one a Rust process has
/// no counterpart for (a Go runtime setting), or one whose effect Strata gets otherwise. The
/// graph removes it from the component's config before parsing and warns once at start
/// ([`strip_accepted`]); it is never silently ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedKey {
    /// The key's path in the component's config, `::`-separated; a segment `*` matches any
    /// map key, a segment ending in `[]` every element of a list (`middlewares[]::id`). A key
    /// covers every key under it.
    pub key: String,
    /// Why it has no effect in Strata.
    pub why: &'static str,
    /// The key is the `enabled` of a Collector `configoptional.Optional` section: `false`
    /// removes the whole section (it is off), `true` only the key. Never warned about.
    pub optional_section: bool,
}

impl AcceptedKey {
    /// `key` accepted without effect because `why`.
    pub fn new(key: impl Into<String>, why: &'static str) -> Self {
        AcceptedKey {
            key: key.into(),
            why,
            optional_section: false,
        }
    }

    /// `section::enabled` of a Collector `configoptional.Optional` section (`tls`, `auth`,
    /// `cors`, `protocols::grpc`): `enabled: false` turns the section off.
    pub fn optional(section: &str) -> Self {
        AcceptedKey {
            key: format!("{section}::enabled"),
            why: "",
            optional_section: true,
        }
    }

    /// Whether this entry covers the key path `path` (itself or a key under it).
    pub fn covers(&self, path: &str) -> bool {
        let mine: Vec<&str> = self.key.split("::").collect();
        let theirs: Vec<&str> = path.split("::").collect();
        theirs.len() >= mine.len()
            && mine.iter().zip(&theirs).all(|(m, t)| {
                *m == "*" || m == t || m.trim_end_matches("[]") == t.trim_end_matches("[]")
            })
    }
}

/// Removes from `cfg` (a component's config) every key `accepted` lists, returning for each
/// one present its full path (under `path`) and why it has no effect.
pub fn strip_accepted(
    path: &str,
    cfg: &mut Value,
    accepted: &[AcceptedKey],
) -> Vec<(String, &'static str)> {
    fn strip(
        v: &mut Value,
        segs: &[&str],
        at: String,
        why: &'static str,
        out: &mut Vec<(String, &'static str)>,
    ) {
        let Some((first, rest)) = segs.split_first() else {
            return;
        };
        let (name, list) = match first.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*first, false),
        };
        let Value::Mapping(m) = v else { return };
        let keys: Vec<Value> = m
            .keys()
            .filter(|k| name == "*" || k.as_str() == Some(name))
            .cloned()
            .collect();
        for k in keys {
            let here = format!("{at}::{}", k.as_str().unwrap_or("?"));
            if rest.is_empty() {
                m.remove(&k);
                out.push((here, why));
            } else if let Some(child) = m.get_mut(&k) {
                match (list, child) {
                    (true, Value::Sequence(items)) => {
                        for (i, item) in items.iter_mut().enumerate() {
                            strip(item, rest, format!("{here}[{i}]"), why, out);
                        }
                    }
                    (_, child) => strip(child, rest, here.clone(), why, out),
                }
            }
        }
    }
    let mut out = Vec::new();
    for a in accepted {
        let segs: Vec<&str> = a.key.split("::").collect();
        if a.optional_section {
            let (section, _) = segs.split_at(segs.len() - 1);
            off_sections(cfg, section);
            let mut ignored = Vec::new();
            strip(cfg, &segs, path.to_owned(), a.why, &mut ignored);
            continue;
        }
        strip(cfg, &segs, path.to_owned(), a.why, &mut out);
    }
    out
}

/// Removes every section at `segs` whose `enabled` is `false`.
fn off_sections(v: &mut Value, segs: &[&str]) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    let Value::Mapping(m) = v else { return };
    let keys: Vec<Value> = m
        .keys()
        .filter(|k| *first == "*" || k.as_str() == Some(first))
        .cloned()
        .collect();
    for k in keys {
        if rest.is_empty() {
            let off = m
                .get(&k)
                .and_then(|s| s.get("enabled"))
                .and_then(Value::as_bool)
                == Some(false);
            if off {
                m.remove(&k);
            }
        } else if let Some(child) = m.get_mut(&k) {
            off_sections(child, rest);
        }
    }
}

#[cfg(test)]
mod accepted_tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    /// A key without effect is removed wherever it appears (lists and map wildcards too) and
    /// reported with its full path; other keys stay.
    #[test]
    fn strip_removes_and_reports_each_key_once() {
        let mut v = yaml(
            "tls: {tpm: {enabled: true}, ca_file: a}\nmiddlewares: [{id: x}]\nm: {a: {k: 1, j: 2}, b: {k: 3}}",
        );
        let acc = [
            AcceptedKey::new("tls::tpm", "no TPM"),
            AcceptedKey::new("middlewares", "none"),
            AcceptedKey::new("m::*::k", "wild"),
        ];
        let out = strip_accepted("exporters::otlp", &mut v, &acc);
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "exporters::otlp::tls::tpm",
                "exporters::otlp::middlewares",
                "exporters::otlp::m::a::k",
                "exporters::otlp::m::b::k",
            ]
        );
        assert_eq!(v, yaml("tls: {ca_file: a}\nm: {a: {j: 2}, b: {}}"));
        assert!(acc[0].covers("tls::tpm::path") && !acc[0].covers("tls::ca_file"));
        assert!(acc[2].covers("m::zz::k"));
    }

    /// configoptional: `enabled: false` removes the section, `enabled: true` only the key, and
    /// neither is reported as a key without effect.
    #[test]
    fn optional_sections_follow_enabled() {
        let acc = [AcceptedKey::optional("protocols::grpc")];
        let mut off = yaml("protocols: {grpc: {enabled: false, endpoint: x}, http: {}}");
        assert!(strip_accepted("r", &mut off, &acc).is_empty());
        assert_eq!(off, yaml("protocols: {http: {}}"));
        let mut on = yaml("protocols: {grpc: {enabled: true, endpoint: x}}");
        assert!(strip_accepted("r", &mut on, &acc).is_empty());
        assert_eq!(on, yaml("protocols: {grpc: {endpoint: x}}"));
    }
}
