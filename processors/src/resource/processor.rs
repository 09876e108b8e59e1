use std::sync::Arc;

use strata_pipelines::config::parse_component;
use strata_pipelines::proto::tonic::resource::v1::Resource;
use strata_pipelines::{
    BoxConsumer, BuildError, ConfigError, ConsumeError, Process, Processor, ProcessorFactory,
    Settings, Signal, SignalData, YamlValue, processor_fn,
};

use super::TYPE;
use super::config::Config;
use crate::actions::Actions;

/// Applies the actions to every resource of a batch.
pub struct ResourceProcessor(pub(super) Arc<Actions>);

impl<T: SignalData> Process<T> for ResourceProcessor {
    fn process(&self, mut data: T) -> Result<Option<T>, ConsumeError> {
        for r in data.resources_mut() {
            self.0
                .apply(&mut r.get_or_insert_with(Resource::default).attributes);
        }
        Ok(Some(data))
    }
}

/// Factory of the `resource` processor.
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
        let actions = Actions::compile(&c.attributes, &format!("{path}::attributes"))?;
        Ok(processor_fn(
            &set,
            ResourceProcessor(Arc::new(actions)),
            next,
        ))
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
