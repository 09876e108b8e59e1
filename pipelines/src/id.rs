//! Component ids (`type[/name]`) and pipeline ids (`signal[/name]`), as in the Collector.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer};

use crate::signal::Signal;

/// The Collector's type regex: a letter, then letters, digits or underscores, at most 63 chars.
static TYPE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z][0-9a-zA-Z_]{0,62}$").expect("static regex"));

/// Id of a configured component: `otlp`, `otlp/upstream`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    ty: String,
    name: Option<String>,
}

/// An id that does not match `type[/name]`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdError {
    /// The type part is empty or does not match `[a-zA-Z][0-9a-zA-Z_]{0,62}`.
    #[error(
        "invalid type {0:?}: must start with a letter and contain only letters, digits and '_'"
    )]
    InvalidType(String),
    /// `type/` with nothing after the slash, or a name with whitespace.
    #[error("invalid name {0:?}: must be non-empty and contain no whitespace")]
    InvalidName(String),
    /// A pipeline id whose type is not `traces`, `metrics` or `logs`.
    #[error("unknown signal {0:?}: expected traces, metrics or logs")]
    UnknownSignal(String),
}

impl ComponentId {
    /// An id with the given type and optional name (not validated).
    pub fn new(ty: impl Into<String>, name: Option<&str>) -> Self {
        ComponentId {
            ty: ty.into(),
            name: name.map(str::to_owned),
        }
    }

    /// The component type (`otlp` in `otlp/upstream`).
    pub fn ty(&self) -> &str {
        &self.ty
    }

    /// The optional name (`upstream` in `otlp/upstream`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl FromStr for ComponentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        let (ty, name) = match s.split_once('/') {
            Some((ty, name)) => (ty, Some(name)),
            None => (s, None),
        };
        if !TYPE_RE.is_match(ty) {
            return Err(IdError::InvalidType(ty.to_owned()));
        }
        if let Some(n) = name
            && (n.is_empty() || n.chars().any(char::is_whitespace))
        {
            return Err(IdError::InvalidName(n.to_owned()));
        }
        Ok(ComponentId::new(ty, name))
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.ty, n),
            None => f.write_str(&self.ty),
        }
    }
}

impl<'de> Deserialize<'de> for ComponentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Id of a pipeline: `traces`, `metrics/backend`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipelineId {
    /// The pipeline's signal.
    pub signal: Signal,
    /// Optional name after the slash.
    pub name: Option<String>,
}

impl FromStr for PipelineId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let id: ComponentId = s.parse()?;
        let signal =
            Signal::parse(id.ty()).ok_or_else(|| IdError::UnknownSignal(id.ty().into()))?;
        Ok(PipelineId {
            signal,
            name: id.name,
        })
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.signal, n),
            None => write!(f, "{}", self.signal),
        }
    }
}

impl<'de> Deserialize<'de> for PipelineId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids() {
        let id: ComponentId = "otlp/upstream".parse().unwrap();
        assert_eq!(id.ty(), "otlp");
        assert_eq!(id.name(), Some("upstream"));
        assert_eq!(id.to_string(), "otlp/upstream");
        assert!("9otlp".parse::<ComponentId>().is_err());
        assert!("otlp/".parse::<ComponentId>().is_err());
        let p: PipelineId = "metrics/dpu".parse().unwrap();
        assert_eq!(p.signal, Signal::Metrics);
        assert_eq!(
            "spans".parse::<PipelineId>(),
            Err(IdError::UnknownSignal("spans".into()))
        );
    }
}
