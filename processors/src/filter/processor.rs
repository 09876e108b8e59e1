use std::sync::Arc;

use strata_pipelines::proto::tonic::common::v1::any_value::Value as Av;
use strata_pipelines::proto::tonic::metrics::v1::Metric;
use strata_pipelines::proto::tonic::metrics::v1::metric::Data;
use strata_pipelines::{
    BoxConsumer, BuildError, ConfigError, ConsumeError, Logs, Metrics, Process, Processor,
    ProcessorFactory, Settings, Signal, SignalData, Traces, YamlValue, config::parse_component,
    processor_fn,
};

use super::TYPE;
use super::config::Config;
use crate::matching::{Item, MatchProperties, Matcher};
use crate::ottl::context::metric_type;
use crate::ottl::{AnyOf, Context, DataPointCtx, LogCtx, MetricCtx, SpanCtx, SpanEventCtx};

/// Legacy include/exclude rules of one signal.
#[derive(Debug, Default)]
struct Legacy {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl Legacy {
    /// Compiles the rules. `renames` maps [`MatchProperties`] field names back to the names
    /// this signal's config uses (`attributes` → `record_attributes`), for error paths.
    fn compile(
        include: Option<MatchProperties>,
        exclude: Option<MatchProperties>,
        path: &str,
        renames: &[(&str, &str)],
    ) -> Result<Legacy, ConfigError> {
        let rename = |mut e: ConfigError| {
            for (from, to) in renames {
                if let Some(i) = e.path.find(&format!("::{from}")) {
                    let end = i + 2 + from.len();
                    if e.path[end..].is_empty() || e.path[end..].starts_with("::") {
                        e.path = format!("{}::{to}{}", &e.path[..i], &e.path[end..]);
                        break;
                    }
                }
            }
            e
        };
        Ok(Legacy {
            include: include
                .map(|m| m.compile(&format!("{path}::include")))
                .transpose()
                .map_err(rename)?,
            exclude: exclude
                .map(|m| m.compile(&format!("{path}::exclude")))
                .transpose()
                .map_err(rename)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// True when the item is to be dropped.
    fn drops(&self, item: &Item<'_>) -> bool {
        self.include.as_ref().is_some_and(|m| !m.matches(item))
            || self.exclude.as_ref().is_some_and(|m| m.matches(item))
    }
}

/// Every condition and rule of a `filter` config, parsed and compiled.
#[derive(Debug)]
pub(super) struct Compiled {
    span: AnyOf,
    spanevent: AnyOf,
    metric: AnyOf,
    datapoint: AnyOf,
    log_record: AnyOf,
    spans: Legacy,
    metrics: Legacy,
    logs: Legacy,
}

fn conditions(ctx: Context, list: &[String], path: &str) -> Result<AnyOf, ConfigError> {
    AnyOf::parse(ctx, list).map_err(|(i, e)| ConfigError::new(format!("{path}::{i}"), e))
}

fn mixed(path: &str) -> ConfigError {
    ConfigError::new(
        path,
        "OTTL conditions and legacy include/exclude cannot be used together for one signal",
    )
}

impl Compiled {
    /// Compiles `cfg`; `path` is the processor's YAML path.
    ///
    /// # Errors
    /// See [`Config`]'s `validate`.
    pub(super) fn new(cfg: &Config, path: &str) -> Result<Compiled, ConfigError> {
        let c = Compiled {
            span: conditions(
                Context::Span,
                &cfg.traces.span,
                &format!("{path}::traces::span"),
            )?,
            spanevent: conditions(
                Context::SpanEvent,
                &cfg.traces.spanevent,
                &format!("{path}::traces::spanevent"),
            )?,
            metric: conditions(
                Context::Metric,
                &cfg.metrics.metric,
                &format!("{path}::metrics::metric"),
            )?,
            datapoint: conditions(
                Context::DataPoint,
                &cfg.metrics.datapoint,
                &format!("{path}::metrics::datapoint"),
            )?,
            log_record: conditions(
                Context::Log,
                &cfg.logs.log_record,
                &format!("{path}::logs::log_record"),
            )?,
            spans: Legacy::compile(
                cfg.spans.include.clone(),
                cfg.spans.exclude.clone(),
                &format!("{path}::spans"),
                &[],
            )?,
            metrics: Legacy::compile(
                cfg.metrics.include.as_ref().map(MatchProperties::from),
                cfg.metrics.exclude.as_ref().map(MatchProperties::from),
                &format!("{path}::metrics"),
                &[("resources", "resource_attributes")],
            )?,
            logs: Legacy::compile(
                cfg.logs.include.as_ref().map(MatchProperties::from),
                cfg.logs.exclude.as_ref().map(MatchProperties::from),
                &format!("{path}::logs"),
                &[
                    ("resources", "resource_attributes"),
                    ("attributes", "record_attributes"),
                    ("log_severity_number", "severity_number"),
                    ("log_severity_texts", "severity_texts"),
                    ("log_bodies", "bodies"),
                ],
            )?,
        };
        let ottl_traces = !(c.span.is_empty() && c.spanevent.is_empty());
        let ottl_metrics = !(c.metric.is_empty() && c.datapoint.is_empty());
        if !c.spans.is_empty() && ottl_traces {
            return Err(mixed(&format!("{path}::spans")));
        }
        if !c.metrics.is_empty() && ottl_metrics {
            return Err(mixed(&format!("{path}::metrics")));
        }
        if !c.logs.is_empty() && !c.log_record.is_empty() {
            return Err(mixed(&format!("{path}::logs")));
        }
        Ok(c)
    }
}

/// The `filter` processor: drops what its conditions match. See the module docs.
#[derive(Debug, Clone)]
pub struct Filter(pub(super) Arc<Compiled>);

impl Process<Traces> for Filter {
    fn process(&self, mut data: Traces) -> Result<Option<Traces>, ConsumeError> {
        let c = &*self.0;
        if c.span.is_empty() && c.spanevent.is_empty() && c.spans.is_empty() {
            return Ok(Some(data));
        }
        for rs in &mut data.resource_spans {
            let resource = rs.resource.as_ref();
            for ss in &mut rs.scope_spans {
                let scope = ss.scope.as_ref();
                ss.spans.retain_mut(|span| {
                    let ctx = SpanCtx {
                        resource,
                        scope,
                        span,
                    };
                    if c.span.matches(&ctx) {
                        return false;
                    }
                    if c.spans.drops(&Item {
                        resource,
                        scope,
                        name: Some(&span.name),
                        span_kind: Some(span.kind),
                        attributes: &span.attributes,
                        ..Default::default()
                    }) {
                        return false;
                    }
                    if !c.spanevent.is_empty() {
                        let events = std::mem::take(&mut span.events);
                        let kept = events
                            .into_iter()
                            .filter(|event| {
                                !c.spanevent.matches(&SpanEventCtx {
                                    resource,
                                    scope,
                                    span,
                                    event,
                                })
                            })
                            .collect();
                        span.events = kept;
                    }
                    true
                });
            }
            rs.scope_spans.retain(|s| !s.spans.is_empty());
        }
        data.resource_spans.retain(|r| !r.scope_spans.is_empty());
        Ok(Some(data))
    }
}

/// Keeps the points of `data` for which `keep` says so.
fn retain_points(
    data: &mut Data,
    mut keep: impl FnMut(
        &[strata_pipelines::proto::tonic::common::v1::KeyValue],
        Option<&strata_pipelines::proto::tonic::metrics::v1::NumberDataPoint>,
    ) -> bool,
) {
    match data {
        Data::Gauge(g) => g.data_points.retain(|p| keep(&p.attributes, Some(p))),
        Data::Sum(s) => s.data_points.retain(|p| keep(&p.attributes, Some(p))),
        Data::Histogram(h) => h.data_points.retain(|p| keep(&p.attributes, None)),
        Data::ExponentialHistogram(h) => h.data_points.retain(|p| keep(&p.attributes, None)),
        Data::Summary(s) => s.data_points.retain(|p| keep(&p.attributes, None)),
    }
}

fn has_points(m: &Metric) -> bool {
    strata_pipelines::signal::metric_point_count(&m.data) > 0
}

impl Process<Metrics> for Filter {
    fn process(&self, mut data: Metrics) -> Result<Option<Metrics>, ConsumeError> {
        let c = &*self.0;
        if c.metric.is_empty() && c.datapoint.is_empty() && c.metrics.is_empty() {
            return Ok(Some(data));
        }
        for rm in &mut data.resource_metrics {
            let resource = rm.resource.as_ref();
            for sm in &mut rm.scope_metrics {
                let scope = sm.scope.as_ref();
                sm.metrics.retain_mut(|metric| {
                    if c.metric.matches(&MetricCtx {
                        resource,
                        scope,
                        metric,
                    }) || c.metrics.drops(&Item {
                        resource,
                        scope,
                        name: Some(&metric.name),
                        ..Default::default()
                    }) {
                        return false;
                    }
                    if c.datapoint.is_empty() {
                        return true;
                    }
                    let ty = metric_type(metric);
                    let Some(mut points) = metric.data.take() else {
                        return true;
                    };
                    retain_points(&mut points, |attributes, number| {
                        !c.datapoint.matches(&DataPointCtx {
                            resource,
                            scope,
                            metric,
                            metric_type: ty,
                            attributes,
                            number,
                        })
                    });
                    metric.data = Some(points);
                    has_points(metric)
                });
            }
            rm.scope_metrics.retain(|s| !s.metrics.is_empty());
        }
        data.resource_metrics
            .retain(|r| !r.scope_metrics.is_empty());
        Ok(Some(data))
    }
}

impl Process<Logs> for Filter {
    fn process(&self, mut data: Logs) -> Result<Option<Logs>, ConsumeError> {
        let c = &*self.0;
        if c.log_record.is_empty() && c.logs.is_empty() {
            return Ok(Some(data));
        }
        for rl in &mut data.resource_logs {
            let resource = rl.resource.as_ref();
            for sl in &mut rl.scope_logs {
                let scope = sl.scope.as_ref();
                sl.log_records.retain(|record| {
                    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(Av::StringValue(s)) => Some(s.as_str()),
                        _ => None,
                    };
                    !(c.log_record.matches(&LogCtx {
                        resource,
                        scope,
                        record,
                    }) || c.logs.drops(&Item {
                        resource,
                        scope,
                        attributes: &record.attributes,
                        log_body: body,
                        log_severity: Some((&record.severity_text, record.severity_number)),
                        ..Default::default()
                    }))
                });
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        data.resource_logs.retain(|r| !r.scope_logs.is_empty());
        Ok(Some(data))
    }
}

/// Factory of the `filter` processor.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: SignalData>(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: BoxConsumer<T>,
    ) -> Result<Arc<dyn Processor<T>>, BuildError>
    where
        Filter: Process<T>,
    {
        let path = set.path();
        let c = parse_component::<Config>(&path, cfg)?;
        let compiled = Compiled::new(&c, &path)?;
        Ok(processor_fn(&set, Filter(Arc::new(compiled)), next))
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
