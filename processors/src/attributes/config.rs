use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

use crate::actions::{ActionConfig, Actions};
use crate::matching::MatchProperties;

/// Config of the `attributes` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Only items matching these properties are processed.
    pub include: Option<MatchProperties>,
    /// Items matching these properties are not processed (checked after `include`).
    pub exclude: Option<MatchProperties>,
    /// The actions, applied in order (at least one).
    pub actions: Vec<ActionConfig>,
}

impl ComponentConfig for Config {
    /// Checks the actions ([`Actions::compile`]) and the match blocks
    /// ([`MatchProperties::compile`]).
    ///
    /// # Errors
    /// No action, an invalid action (at `actions::<i>`), or an invalid match block.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.compile(path).map(|_| ())
    }
}

impl Config {
    /// Compiles actions and match blocks.
    pub(super) fn compile(&self, path: &str) -> Result<super::processor::Compiled, ConfigError> {
        if self.actions.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::actions"),
                "at least one action is required",
            ));
        }
        Ok(super::processor::Compiled {
            actions: Actions::compile(&self.actions, &format!("{path}::actions"))?,
            include: self
                .include
                .as_ref()
                .map(|m| m.compile(&format!("{path}::include")))
                .transpose()?,
            exclude: self
                .exclude
                .as_ref()
                .map(|m| m.compile(&format!("{path}::exclude")))
                .transpose()?,
        })
    }
}
