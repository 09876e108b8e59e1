use std::sync::Arc;

use strata_pipelines::config::parse_component;
use strata_pipelines::proto::tonic::common::v1::KeyValue;
use strata_pipelines::proto::tonic::resource::v1::Resource;
use strata_pipelines::{
    BoxConsumer, BuildError, ConfigError, ConsumeError, Process, Processor, ProcessorFactory,
    Settings, Signal, SignalData, YamlValue, processor_fn,
};

use super::TYPE;
use super::config::Config;
use super::detect::detect;

/// Stamps the detected attributes onto every resource of a batch.
pub struct ResourceDetectionProcessor {
    pub(super) detected: Arc<Vec<KeyValue>>,
    pub(super) override_: bool,
}

impl ResourceDetectionProcessor {
    /// Detects with `cfg` (reading `env` for variables) and builds the processor.
    pub fn new(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Self {
        ResourceDetectionProcessor {
            detected: Arc::new(detect(cfg, env)),
            override_: cfg.override_,
        }
    }

    /// What was detected, in precedence order.
    pub fn detected(&self) -> &[KeyValue] {
        &self.detected
    }
}

impl<T: SignalData> Process<T> for ResourceDetectionProcessor {
    fn process(&self, mut data: T) -> Result<Option<T>, ConsumeError> {
        if self.detected.is_empty() {
            return Ok(Some(data));
        }
        for r in data.resources_mut() {
            let attrs = &mut r.get_or_insert_with(Resource::default).attributes;
            for d in self.detected.iter() {
                match attrs.iter_mut().find(|a| a.key == d.key) {
                    Some(a) if self.override_ => a.value.clone_from(&d.value),
                    Some(_) => {}
                    None => attrs.push(d.clone()),
                }
            }
        }
        Ok(Some(data))
    }
}

/// Factory of the `resourcedetection` processor. Detection runs when the pipeline is built:
/// at start and at each reload.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn build<T: SignalData>(
        &self,
        set: Settings,
        cfg: YamlValue,
        next: BoxConsumer<T>,
    ) -> Result<Arc<dyn Processor<T>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let p = ResourceDetectionProcessor::new(&c, &|v| std::env::var(v).ok());
        tracing::info!(
            processor = %set.path(),
            signal = %T::SIGNAL,
            attributes = %p
                .detected()
                .iter()
                .map(|kv| kv.key.as_str())
                .collect::<Vec<_>>()
                .join(","),
            "resources detected"
        );
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
