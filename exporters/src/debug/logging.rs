//! `logging` exporter: the Collector's predecessor of `debug`, deprecated in v0.86 and removed in
//! v0.111 (`exporter/loggingexporter` before commit f9d44de9b6 of opentelemetry-collector). Old
//! configs — OPI's example among them — still name it, so Strata runs it as a `debug` exporter
//! with the Collector's own mapping and warning.
//!
//! Keys (`exporter/loggingexporter/config.go`): `loglevel` (deprecated: `debug` → `detailed`,
//! `info` → `normal`, `warn`/`error`/`dpanic`/`panic`/`fatal` → `basic`), `verbosity` (default
//! `normal`), `sampling_initial` (default 2), `sampling_thereafter` (default 500). `loglevel`
//! and `verbosity` together are refused, as the Collector refuses them.

use std::sync::Arc;

use serde::Deserialize;
use strata_pipelines::{
    BuildError, ConfigError, Exporter, ExporterFactory, Settings, Signal, YamlValue, config::parse,
};
use tracing::warn;

use super::exporter::{Config as DebugConfig, DebugExporter, DebugRender, Verbosity};
use crate::helper::{HelperConfig, HelperExporter};

/// The type name in configs.
pub const TYPE: &str = "logging";

/// The Collector's start-up warning for this exporter, word for word.
pub const DEPRECATION: &str = "The logging exporter is DEPRECATED and will be REMOVED in v0.111.0. Use the debug exporter instead: https://github.com/open-telemetry/opentelemetry-collector/tree/main/exporter/debugexporter";

/// Config of the `logging` exporter, as the Collector's last release of it read it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Deprecated log level: `debug`, `info`, `warn`, `error`, `dpanic`, `panic`, `fatal`.
    pub loglevel: Option<String>,
    /// How much to print; default `normal`.
    pub verbosity: Option<Verbosity>,
    /// Requests printed each second before sampling starts. Default 2.
    pub sampling_initial: u64,
    /// After `sampling_initial` in a second, every n-th request. Default 500.
    pub sampling_thereafter: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            loglevel: None,
            verbosity: None,
            sampling_initial: 2,
            sampling_thereafter: 500,
        }
    }
}

impl Config {
    /// The `debug` exporter config this one means.
    ///
    /// # Errors
    /// `loglevel` with `verbosity`, or a level zap does not have.
    pub fn to_debug(&self, path: &str) -> Result<DebugConfig, ConfigError> {
        let verbosity = match (&self.loglevel, self.verbosity) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    path,
                    "'loglevel' and 'verbosity' are incompatible. Use only 'verbosity' instead",
                ));
            }
            (Some(level), None) => match level.to_ascii_lowercase().as_str() {
                "debug" => Verbosity::Detailed,
                "info" => Verbosity::Normal,
                "warn" | "error" | "dpanic" | "panic" | "fatal" => Verbosity::Basic,
                other => {
                    return Err(ConfigError::new(
                        format!("{path}::loglevel"),
                        format!("log level {other:?} is not supported"),
                    ));
                }
            },
            (None, v) => v.unwrap_or(Verbosity::Normal),
        };
        Ok(DebugConfig {
            verbosity,
            sampling_initial: self.sampling_initial,
            sampling_thereafter: self.sampling_thereafter,
            use_internal_logger: true,
        })
    }
}

/// Factory of the `logging` exporter.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: DebugRender>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let c: Config = parse(&set.path(), cfg)?;
        let c = c.to_debug(&set.path())?;
        warn!(exporter = %set.id, "{DEPRECATION}");
        let e = DebugExporter::new(set.id.clone(), c);
        Ok(Arc::new(HelperExporter::new(
            &set,
            HelperConfig::synchronous(std::time::Duration::from_secs(30)),
            Arc::new(e),
        )))
    }
}

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse::<Config>(path, cfg.clone())?
            .to_debug(path)
            .map(|_| ())
    }
    strata_pipelines::exporter_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Result<DebugConfig, ConfigError> {
        parse::<Config>("exporters::logging", serde_yaml_ng::from_str(s).unwrap())?
            .to_debug("exporters::logging")
    }

    /// The Collector's defaults and `mapLevel` table (loggingexporter/config.go, factory.go).
    #[test]
    fn collector_defaults_and_level_mapping() {
        let d = cfg("~").unwrap();
        assert_eq!(
            (d.verbosity, d.sampling_initial, d.sampling_thereafter),
            (Verbosity::Normal, 2, 500)
        );
        for (level, v) in [
            ("debug", Verbosity::Detailed),
            ("info", Verbosity::Normal),
            ("warn", Verbosity::Basic),
            ("error", Verbosity::Basic),
            ("fatal", Verbosity::Basic),
        ] {
            assert_eq!(cfg(&format!("loglevel: {level}")).unwrap().verbosity, v);
        }
        assert_eq!(
            cfg("verbosity: detailed").unwrap().verbosity,
            Verbosity::Detailed
        );
        let e = cfg("loglevel: info\nverbosity: basic").unwrap_err();
        assert!(e.message.contains("incompatible"), "{e}");
        let e = cfg("loglevel: loud").unwrap_err();
        assert_eq!(e.path, "exporters::logging::loglevel");
    }
}
