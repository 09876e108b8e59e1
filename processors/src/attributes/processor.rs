use std::sync::Arc;

use strata_pipelines::proto::tonic::common::v1::any_value::Value as Av;
use strata_pipelines::visit::data_point_attributes;
use strata_pipelines::{
    BoxConsumer, BuildError, ConfigError, ConsumeError, Logs, Metrics, Process, Processor,
    ProcessorFactory, Settings, Signal, SignalData, Traces, YamlValue, config::parse_component,
    processor_fn,
};

use super::TYPE;
use super::config::Config;
use crate::actions::Actions;
use crate::matching::{Item, Matcher};

/// A compiled `attributes` config.
#[derive(Debug)]
pub struct Compiled {
    pub(super) actions: Actions,
    pub(super) include: Option<Matcher>,
    pub(super) exclude: Option<Matcher>,
}

impl Compiled {
    fn selects(&self, item: &Item<'_>) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(item))
            && self.exclude.as_ref().is_none_or(|m| !m.matches(item))
    }
}

/// Applies the actions to the selected items of a batch.
pub struct AttributesProcessor(pub(super) Arc<Compiled>);

impl Process<Traces> for AttributesProcessor {
    fn process(&self, mut data: Traces) -> Result<Option<Traces>, ConsumeError> {
        let c = &self.0;
        for rs in &mut data.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    let selected = c.selects(&Item {
                        resource: rs.resource.as_ref(),
                        scope: ss.scope.as_ref(),
                        name: Some(&span.name),
                        span_kind: Some(span.kind),
                        attributes: &span.attributes,
                        ..Item::default()
                    });
                    if selected {
                        c.actions.apply(&mut span.attributes);
                        for e in &mut span.events {
                            c.actions.apply(&mut e.attributes);
                        }
                    }
                }
            }
        }
        Ok(Some(data))
    }
}

impl Process<Logs> for AttributesProcessor {
    fn process(&self, mut data: Logs) -> Result<Option<Logs>, ConsumeError> {
        let c = &self.0;
        for rl in &mut data.resource_logs {
            for sl in &mut rl.scope_logs {
                for rec in &mut sl.log_records {
                    let body = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(Av::StringValue(s)) => Some(s.as_str()),
                        _ => None,
                    };
                    let selected = c.selects(&Item {
                        resource: rl.resource.as_ref(),
                        scope: sl.scope.as_ref(),
                        attributes: &rec.attributes,
                        log_body: body,
                        log_severity: Some((&rec.severity_text, rec.severity_number)),
                        ..Item::default()
                    });
                    if selected {
                        c.actions.apply(&mut rec.attributes);
                    }
                }
            }
        }
        Ok(Some(data))
    }
}

impl Process<Metrics> for AttributesProcessor {
    fn process(&self, mut data: Metrics) -> Result<Option<Metrics>, ConsumeError> {
        let c = &self.0;
        for rm in &mut data.resource_metrics {
            for sm in &mut rm.scope_metrics {
                for m in &mut sm.metrics {
                    let selected = c.selects(&Item {
                        resource: rm.resource.as_ref(),
                        scope: sm.scope.as_ref(),
                        name: Some(&m.name),
                        ..Item::default()
                    });
                    if selected {
                        data_point_attributes(&mut m.data, |a| c.actions.apply(a));
                    }
                }
            }
        }
        Ok(Some(data))
    }
}

/// Compiles `cfg` for one signal's pipeline: the match blocks may only use the properties
/// that apply to it ([`crate::matching::MatchProperties::check_for`]).
pub(super) fn compile_for(
    signal: Signal,
    path: &str,
    cfg: YamlValue,
) -> Result<AttributesProcessor, ConfigError> {
    let c = parse_component::<Config>(path, cfg)?;
    for (name, m) in [("include", &c.include), ("exclude", &c.exclude)] {
        if let Some(m) = m {
            m.check_for(signal, &format!("{path}::{name}"))?;
        }
    }
    Ok(AttributesProcessor(Arc::new(c.compile(path)?)))
}

/// Factory of the `attributes` processor.
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
        AttributesProcessor: Process<T>,
    {
        let p = compile_for(T::SIGNAL, &set.path(), cfg)?;
        Ok(processor_fn(&set, p, next))
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
