use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

use crate::actions::{ActionConfig, Actions};

/// Config of the `resource` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The actions, applied in order (at least one).
    pub attributes: Vec<ActionConfig>,
}

impl ComponentConfig for Config {
    /// Checks every action ([`Actions::compile`]) and that there is at least one.
    ///
    /// # Errors
    /// No action, or an invalid one (with its index under `attributes`).
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.attributes.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::attributes"),
                "at least one action is required",
            ));
        }
        Actions::compile(&self.attributes, &format!("{path}::attributes")).map(|_| ())
    }
}
