use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// A detector's name in `detectors:`. A name Strata does not have (`gcp`, `ec2`, ...) is
/// refused as `unknown detector type`, like a missing component type: detectors are the
/// Collector's resourcedetection plug-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    Env,
    /// Host and OS identity.
    System,
    /// Kubernetes identity from the downward-API environment.
    K8s,
    /// The Collector's `k8snode` name: only `k8s.node.name`, from the environment.
    K8snode,
    /// Card identity from DMI (`/sys/class/dmi/id`).
    Dpu,
    /// Same as `dpu`.
    Dmi,
}

impl Detector {
    /// Every detector, by its name in configs.
    pub const ALL: [(&'static str, Detector); 6] = [
        ("env", Detector::Env),
        ("system", Detector::System),
        ("k8s", Detector::K8s),
        ("k8snode", Detector::K8snode),
        ("dpu", Detector::Dpu),
        ("dmi", Detector::Dmi),
    ];
}

impl<'de> Deserialize<'de> for Detector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Detector::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, det)| *det)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown detector type {name:?} (Strata's: {})",
                    Detector::ALL.map(|(n, _)| n).join(", ")
                ))
            })
    }
}

/// `resource_attributes: {<name>: {enabled: bool}}`: the Collector's per-attribute switch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSwitch {
    /// Whether the detector sets this attribute.
    pub enabled: bool,
}

/// Settings of the `system` detector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Where the host's `/etc` and `/proc` are (`/hostfs` in a container with the host mounted).
    pub root_path: PathBuf,
    /// Hostname sources, in order; only `os` (the kernel's hostname) is supported.
    pub hostname_sources: Vec<String>,
    /// Per-attribute switches.
    pub resource_attributes: BTreeMap<String, AttributeSwitch>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            root_path: PathBuf::from("/"),
            hostname_sources: vec!["os".into()],
            resource_attributes: BTreeMap::new(),
        }
    }
}

/// Settings of the `k8s` detector.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sConfig {
    /// Environment variable per attribute, replacing the defaults (`k8s.pod.name:
    /// MY_POD_NAME`).
    pub env_vars: BTreeMap<String, String>,
    /// Per-attribute switches.
    pub resource_attributes: BTreeMap<String, AttributeSwitch>,
}

/// Settings of the `k8snode` detector (the Collector's name and field).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sNodeConfig {
    /// The variable holding the node name.
    pub node_from_env_var: String,
    /// The Collector's API-server settings: accepted, unused (no API call is made).
    pub auth_type: Option<String>,
    /// Per-attribute switches.
    pub resource_attributes: BTreeMap<String, AttributeSwitch>,
}

impl Default for K8sNodeConfig {
    fn default() -> Self {
        K8sNodeConfig {
            node_from_env_var: "K8S_NODE_NAME".into(),
            auth_type: None,
            resource_attributes: BTreeMap::new(),
        }
    }
}

/// Settings of the `dpu` (`dmi`) detector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpuConfig {
    /// Where `sys/class/dmi/id` is looked up (`/` on the card itself, `/hostfs` in a
    /// container).
    pub root_path: PathBuf,
    /// `dpu.vendor`, replacing what DMI says.
    pub vendor: Option<String>,
    /// `dpu.model`, replacing what DMI says.
    pub model: Option<String>,
    /// `dpu.serial_number`, replacing what DMI says.
    pub serial_number: Option<String>,
    /// `dpu.name`: a name of the operator's choosing (no DMI source).
    pub name: Option<String>,
    /// Per-attribute switches.
    pub resource_attributes: BTreeMap<String, AttributeSwitch>,
}

impl Default for DpuConfig {
    fn default() -> Self {
        DpuConfig {
            root_path: PathBuf::from("/"),
            vendor: None,
            model: None,
            serial_number: None,
            name: None,
            resource_attributes: BTreeMap::new(),
        }
    }
}

/// Config of the `resourcedetection` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Detectors, in precedence order: the first one to set an attribute wins.
    pub detectors: Vec<Detector>,
    /// Replace attributes the data already has (true), or only add missing ones (false).
    #[serde(rename = "override")]
    pub override_: bool,
    /// Accepted for Collector configs; detection reads local files and the environment only,
    /// so it has no deadline.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `system` detector settings.
    pub system: SystemConfig,
    /// `k8s` detector settings.
    pub k8s: K8sConfig,
    /// `k8snode` detector settings.
    pub k8snode: K8sNodeConfig,
    /// `dpu` detector settings.
    pub dpu: DpuConfig,
    /// Same as `dpu`, for configs that name the detector `dmi`.
    pub dmi: Option<DpuConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            detectors: Vec::new(),
            override_: true,
            timeout: Duration::from_secs(2),
            system: SystemConfig::default(),
            k8s: K8sConfig::default(),
            k8snode: K8sNodeConfig::default(),
            dpu: DpuConfig::default(),
            dmi: None,
        }
    }
}

impl ComponentConfig for Config {
    /// Checks that there is a detector, that attribute switches and `env_vars` name
    /// attributes the detector sets, and that hostname sources are supported.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.detectors.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::detectors"),
                "at least one detector is required (env, system, k8s, k8snode, dpu)",
            ));
        }
        if self.dmi.is_some() && self.dpu != DpuConfig::default() {
            return Err(ConfigError::new(
                format!("{path}::dmi"),
                "give either dpu or dmi settings, not both",
            ));
        }
        for (i, s) in self.system.hostname_sources.iter().enumerate() {
            if s != "os" {
                return Err(ConfigError::new(
                    format!("{path}::system::hostname_sources::{i}"),
                    format!("unsupported hostname source {s:?}: only \"os\" is supported"),
                ));
            }
        }
        let check = |section: &str, known: &[&str], names: &mut dyn Iterator<Item = &String>| {
            for n in names {
                if !known.contains(&n.as_str()) {
                    return Err(ConfigError::new(
                        format!("{path}::{section}::{n}"),
                        format!("unknown attribute (one of {})", known.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        use super::detect::{DPU_ATTRS, K8S_ATTRS, K8SNODE_ATTRS, SYSTEM_ATTRS};
        check(
            "system::resource_attributes",
            SYSTEM_ATTRS,
            &mut self.system.resource_attributes.keys(),
        )?;
        check(
            "k8s::resource_attributes",
            &K8S_ATTRS.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            &mut self.k8s.resource_attributes.keys(),
        )?;
        check(
            "k8s::env_vars",
            &K8S_ATTRS.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            &mut self.k8s.env_vars.keys(),
        )?;
        check(
            "k8snode::resource_attributes",
            K8SNODE_ATTRS,
            &mut self.k8snode.resource_attributes.keys(),
        )?;
        let dpu_section = if self.dmi.is_some() { "dmi" } else { "dpu" };
        check(
            &format!("{dpu_section}::resource_attributes"),
            DPU_ATTRS,
            &mut self.dpu_config().resource_attributes.keys(),
        )?;
        Ok(())
    }
}

impl Config {
    /// The `dpu` settings, from `dmi:` when that is given.
    pub fn dpu_config(&self) -> &DpuConfig {
        self.dmi.as_ref().unwrap_or(&self.dpu)
    }
}
