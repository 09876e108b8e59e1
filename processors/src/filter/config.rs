use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

use crate::matching::{AttributeRule, MatchProperties, MatchType, SeverityRule};

/// Config of the `filter` processor: the Collector's shape, both the OTTL form (`traces.span`,
/// ...) and the legacy include/exclude form (`spans.include`, `metrics.exclude`, ...).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What to do when a condition cannot be evaluated. Conditions are type-checked when the
    /// config is loaded, so evaluation cannot fail; accepted for compatibility.
    pub error_mode: ErrorMode,
    /// OTTL conditions on spans and span events.
    pub traces: TracesConfig,
    /// OTTL conditions and legacy rules on metrics and data points.
    pub metrics: MetricsConfig,
    /// OTTL conditions and legacy rules on log records.
    pub logs: LogsConfig,
    /// Legacy include/exclude rules on spans.
    pub spans: LegacySpans,
}

/// `error_mode` (OTTL): `ignore`, `silent` or `propagate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// Log and go on.
    Ignore,
    /// Go on silently.
    Silent,
    /// Refuse the data.
    #[default]
    Propagate,
}

/// `traces:` — OTTL conditions; an item matching any condition is dropped.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// Span conditions (a dropped span takes its events with it).
    pub span: Vec<String>,
    /// Span event conditions.
    pub spanevent: Vec<String>,
}

/// `metrics:` — OTTL conditions and/or legacy rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Metric conditions (the whole metric is dropped).
    pub metric: Vec<String>,
    /// Data point conditions (a metric left without points is dropped).
    pub datapoint: Vec<String>,
    /// Legacy: keep only metrics matching this.
    pub include: Option<MetricMatch>,
    /// Legacy: drop metrics matching this.
    pub exclude: Option<MetricMatch>,
}

/// Legacy metric rule (`filtermetric.MatchProperties`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricMatch {
    /// `strict` or `regexp` (`expr` is not supported).
    pub match_type: MatchType,
    /// Metric names, any of.
    pub metric_names: Vec<String>,
    /// Resource attributes, all of.
    pub resource_attributes: Vec<AttributeRule>,
}

/// `logs:` — OTTL conditions and/or legacy rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Log record conditions.
    pub log_record: Vec<String>,
    /// Legacy: keep only records matching this.
    pub include: Option<LogMatch>,
    /// Legacy: drop records matching this.
    pub exclude: Option<LogMatch>,
}

/// Legacy log rule (`filterlog` `LogMatchProperties`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogMatch {
    /// `strict` or `regexp`.
    pub match_type: MatchType,
    /// Resource attributes, all of.
    pub resource_attributes: Vec<AttributeRule>,
    /// Record attributes, all of.
    pub record_attributes: Vec<AttributeRule>,
    /// Severity texts, any of.
    pub severity_texts: Vec<String>,
    /// Minimum severity.
    pub severity_number: Option<SeverityRule>,
    /// String bodies, any of.
    pub bodies: Vec<String>,
}

/// Legacy `spans:` rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegacySpans {
    /// Keep only spans matching this.
    pub include: Option<MatchProperties>,
    /// Drop spans matching this.
    pub exclude: Option<MatchProperties>,
}

impl ComponentConfig for Config {
    /// Parses and checks every condition and rule.
    ///
    /// # Errors
    /// The first condition that does not parse (path `...::traces::span::N`), an invalid rule,
    /// or the OTTL and the legacy form mixed for one signal (the Collector refuses that too).
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        super::processor::Compiled::new(self, path).map(|_| ())
    }
}

impl From<&LogMatch> for MatchProperties {
    fn from(l: &LogMatch) -> Self {
        MatchProperties {
            match_type: l.match_type,
            log_bodies: l.bodies.clone(),
            log_severity_texts: l.severity_texts.clone(),
            log_severity_number: l.severity_number.clone(),
            attributes: l.record_attributes.clone(),
            resources: l.resource_attributes.clone(),
            ..Default::default()
        }
    }
}

impl From<&MetricMatch> for MatchProperties {
    fn from(m: &MetricMatch) -> Self {
        MatchProperties {
            match_type: m.match_type,
            metric_names: m.metric_names.clone(),
            resources: m.resource_attributes.clone(),
            ..Default::default()
        }
    }
}
