use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use serde::Deserialize;
use strata_pipelines::{
    Accepted, BuildError, Component, ComponentId, ConfigError, ConsumeResult, Exporter,
    ExporterFactory, Host, Logs, Metrics, Settings, ShutdownError, Signal, SignalData, StartError,
    Traces, YamlValue, config::parse,
};
use tracing::info;

use super::TYPE;
use crate::helper::{HelperConfig, HelperExporter, RequestSender};

/// Config of the `debug` exporter (the Collector's keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How much to print. Default `basic`.
    pub verbosity: Verbosity,
    /// Requests printed each second before sampling starts. Default 2.
    pub sampling_initial: u64,
    /// After `sampling_initial` in a second, every `sampling_thereafter`-th request is
    /// printed. Default 1 (all).
    pub sampling_thereafter: u64,
    /// `true` (default): through Strata's log; `false`: straight to standard output.
    pub use_internal_logger: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
        }
    }
}

/// How much the `debug` exporter prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// Counts per request.
    #[default]
    Basic,
    /// Counts plus one line per item.
    Normal,
    /// Counts plus the whole request as OTLP/JSON.
    Detailed,
}

/// Renders a signal for the debug exporter.
pub trait DebugRender: SignalData + strata_translators::otlp_json::OtlpMessage {
    /// The basic summary: `resource spans: 1, spans: 10`.
    fn summary(&self) -> String;
    /// One line per item.
    fn lines(&self, out: &mut String);
}

fn value(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!("{}={}", kv.key, value(&kv.value)))
        .collect::<Vec<_>>()
        .join(",")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl DebugRender for Traces {
    fn summary(&self) -> String {
        format!(
            "resource spans: {}, spans: {}",
            self.resource_spans.len(),
            self.item_count()
        )
    }
    fn lines(&self, out: &mut String) {
        for s in self
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let _ = writeln!(
                out,
                "{} {} {} {{{}}}",
                s.name,
                hex(&s.trace_id),
                hex(&s.span_id),
                attrs(&s.attributes)
            );
        }
    }
}

impl DebugRender for Metrics {
    fn summary(&self) -> String {
        let metrics: usize = self
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        format!(
            "resource metrics: {}, metrics: {}, data points: {}",
            self.resource_metrics.len(),
            metrics,
            self.item_count()
        )
    }
    fn lines(&self, out: &mut String) {
        for m in self
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            let points = match &m.data {
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Sum(s)) => &s.data_points,
                Some(Data::Histogram(h)) => {
                    for p in &h.data_points {
                        let _ = writeln!(
                            out,
                            "{}{{{}}} count={} sum={}",
                            m.name,
                            attrs(&p.attributes),
                            p.count,
                            p.sum.unwrap_or_default()
                        );
                    }
                    continue;
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "{} ({} data points)",
                        m.name,
                        strata_pipelines::signal::metric_point_count(&m.data)
                    );
                    continue;
                }
            };
            for p in points {
                let v = match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i.to_string(),
                    Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
                    None => String::new(),
                };
                let _ = writeln!(out, "{}{{{}}} {}", m.name, attrs(&p.attributes), v);
            }
        }
    }
}

impl DebugRender for Logs {
    fn summary(&self) -> String {
        format!(
            "resource logs: {}, log records: {}",
            self.resource_logs.len(),
            self.item_count()
        )
    }
    fn lines(&self, out: &mut String) {
        for l in self
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            let _ = writeln!(
                out,
                "{} {} {{{}}}",
                l.severity_text,
                value(&l.body),
                attrs(&l.attributes)
            );
        }
    }
}

/// The `debug` exporter for one signal.
pub struct DebugExporter<T> {
    id: ComponentId,
    cfg: Config,
    /// (the second the window started, requests seen in it).
    window: std::sync::Mutex<(u64, u64)>,
    _signal: std::marker::PhantomData<fn(T)>,
}

impl<T: DebugRender> DebugExporter<T> {
    /// A debug exporter printing at `cfg.verbosity`.
    pub fn new(id: ComponentId, cfg: Config) -> Self {
        DebugExporter {
            window: std::sync::Mutex::new((0, 0)),
            id,
            cfg,
            _signal: std::marker::PhantomData,
        }
    }

    /// Whether this request is printed: the first `sampling_initial` of each second, then
    /// every `sampling_thereafter`-th (the Collector's sampling of its debug output).
    pub fn sampled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.0 != now {
            *w = (now, 0);
        }
        w.1 += 1;
        let n = w.1;
        n <= self.cfg.sampling_initial
            || (n - self.cfg.sampling_initial).is_multiple_of(self.cfg.sampling_thereafter.max(1))
    }

    /// The text this exporter prints for `data`.
    pub fn render(&self, data: &T) -> String {
        let mut out = data.summary();
        match self.cfg.verbosity {
            Verbosity::Basic => {}
            Verbosity::Normal => {
                out.push('\n');
                data.lines(&mut out);
            }
            Verbosity::Detailed => {
                out.push('\n');
                data.lines(&mut out);
                out.push_str(&strata_translators::otlp_json::encode_pretty(data));
            }
        }
        out
    }
}

#[async_trait]
impl<T: DebugRender> RequestSender<T> for DebugExporter<T> {
    /// Written in this process: answered at once.
    fn local(&self) -> bool {
        true
    }

    async fn send(&self, data: Arc<T>) -> ConsumeResult {
        if !self.sampled() {
            return Ok(Accepted::all());
        }
        let text = self.render(&data);
        if self.cfg.use_internal_logger {
            info!(exporter = %self.id, signal = %T::SIGNAL, "{text}");
        } else {
            println!("{text}");
        }
        Ok(Accepted::all())
    }
}

#[async_trait]
impl<T: DebugRender> Component for DebugExporter<T> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

/// Factory of the `debug` exporter.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: DebugRender>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let c: Config = parse(&set.path(), cfg)?;
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
    /// `sending_queue` (the debug exporter writes synchronously) and `output_paths`.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        vec![
            strata_pipelines::factory::AcceptedKey::new(
                "sending_queue",
                "the debug exporter writes synchronously, as it receives: nothing is queued",
            ),
            strata_pipelines::factory::AcceptedKey::new(
                "output_paths",
                "not implemented yet: the debug exporter writes to Strata's log, or to standard output with use_internal_logger: false",
            ),
        ]
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::exporter_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use strata_pipelines::testing::fake;

    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_and_rendering() {
        assert_eq!(parse::<Config>("e", yaml("{}")).unwrap(), Config::default());
        let c: Config = parse("e", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.verbosity, Verbosity::Detailed);
        assert_eq!((c.sampling_initial, c.sampling_thereafter), (5, 200));
        // Sampling: the first 5 of a second, then every 200th.
        let s = DebugExporter::<Traces>::new("debug".parse().unwrap(), c.clone());
        let printed = (0..1000).filter(|_| s.sampled()).count();
        // 1,000 calls fit in one second here (a boundary would only add a fresh window).
        assert!((9..=20).contains(&printed), "{printed}");
        let all = DebugExporter::<Traces>::new("debug".parse().unwrap(), Config::default());
        assert_eq!((0..50).filter(|_| all.sampled()).count(), 50);
        assert!(parse::<Config>("e", yaml("verbosity: loud")).is_err());
        assert!(parse::<Config>("e", yaml("level: basic")).is_err());

        let id: ComponentId = "debug".parse().unwrap();
        let basic = DebugExporter::<Metrics>::new(id.clone(), Config::default());
        assert_eq!(
            basic.render(&fake::metrics(1, 2, 3)),
            "resource metrics: 1, metrics: 2, data points: 6"
        );
        let normal = DebugExporter::<Metrics>::new(
            id.clone(),
            Config {
                verbosity: Verbosity::Normal,
                ..Config::default()
            },
        );
        let text = normal.render(&fake::metrics(1, 1, 2));
        assert!(text.contains("test.gauge.0{point=1} 1"), "{text}");
        let detailed = DebugExporter::<Traces>::new(id, c);
        let text = detailed.render(&fake::traces(1, 1));
        assert!(text.contains("\"spanId\": \"0000000000000001\""), "{text}");
    }
}
