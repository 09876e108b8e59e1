use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Deserializer};
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `hostmetrics` receiver (the Collector's shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Time between scrapes. Default `1m` (the Collector's default).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Time before the first scrape. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Root of the host's file system when running in a container with it mounted (`/hostfs`):
    /// `/proc`, `/sys` and mount points are read under it. Default `/`.
    pub root_path: PathBuf,
    /// Enabled scrapers: a key that is present enables the scraper.
    pub scrapers: Scrapers,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            root_path: PathBuf::from("/"),
            scrapers: Scrapers::default(),
        }
    }
}

/// `scrapers:`: `cpu`, `memory`, `load`, `disk`, `filesystem`, `network`, `paging`,
/// `processes`, `system`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrapers {
    /// `system.cpu.time`.
    #[serde(default, deserialize_with = "present")]
    pub cpu: Option<Empty>,
    /// `system.memory.usage`.
    #[serde(default, deserialize_with = "present")]
    pub memory: Option<Empty>,
    /// `system.cpu.load_average.{1m,5m,15m}`.
    #[serde(default, deserialize_with = "present")]
    pub load: Option<LoadConfig>,
    /// `system.disk.*`.
    #[serde(default, deserialize_with = "present")]
    pub disk: Option<DiskConfig>,
    /// `system.filesystem.*`.
    #[serde(default, deserialize_with = "present")]
    pub filesystem: Option<FilesystemConfig>,
    /// `system.network.*`.
    #[serde(default, deserialize_with = "present")]
    pub network: Option<NetworkConfig>,
    /// `system.paging.*`.
    #[serde(default, deserialize_with = "present")]
    pub paging: Option<Empty>,
    /// `system.processes.*`.
    #[serde(default, deserialize_with = "present")]
    pub processes: Option<Empty>,
    /// `system.uptime`.
    #[serde(default, deserialize_with = "present")]
    pub system: Option<Empty>,
}

impl Scrapers {
    /// The `metrics` toggles of scraper `name`, if it is configured.
    pub fn metric_toggles(&self, name: &str) -> Option<&BTreeMap<String, Toggle>> {
        match name {
            "cpu" => self.cpu.as_ref().map(|c| &c.metrics),
            "memory" => self.memory.as_ref().map(|c| &c.metrics),
            "load" => self.load.as_ref().map(|c| &c.metrics),
            "disk" => self.disk.as_ref().map(|c| &c.metrics),
            "filesystem" => self.filesystem.as_ref().map(|c| &c.metrics),
            "network" => self.network.as_ref().map(|c| &c.metrics),
            "paging" => self.paging.as_ref().map(|c| &c.metrics),
            "processes" => self.processes.as_ref().map(|c| &c.metrics),
            "system" => self.system.as_ref().map(|c| &c.metrics),
            _ => None,
        }
    }

    /// The `resource_attributes` toggles of scraper `name`, if it is configured.
    pub fn resource_toggles(&self, name: &str) -> Option<&BTreeMap<String, Toggle>> {
        match name {
            "cpu" => self.cpu.as_ref().map(|c| &c.resource_attributes),
            "memory" => self.memory.as_ref().map(|c| &c.resource_attributes),
            "load" => self.load.as_ref().map(|c| &c.resource_attributes),
            "disk" => self.disk.as_ref().map(|c| &c.resource_attributes),
            "filesystem" => self.filesystem.as_ref().map(|c| &c.resource_attributes),
            "network" => self.network.as_ref().map(|c| &c.resource_attributes),
            "paging" => self.paging.as_ref().map(|c| &c.resource_attributes),
            "processes" => self.processes.as_ref().map(|c| &c.resource_attributes),
            "system" => self.system.as_ref().map(|c| &c.resource_attributes),
            _ => None,
        }
    }

    /// Metrics and resource attributes enabled in the config that Strata's scrapers do not
    /// produce: (`scrapers::<name>::metrics::<metric>` path, scraper), for a warning at start.
    pub fn enabled_but_not_produced(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (scraper, defs) in super::metadata::ALL {
            if let Some(t) = self.metric_toggles(scraper) {
                for (name, toggle) in t {
                    if toggle.enabled && !defs.iter().any(|d| d.name == name) {
                        out.push(format!("scrapers::{scraper}::metrics::{name}"));
                    }
                }
            }
            if let Some(t) = self.resource_toggles(scraper) {
                for (name, toggle) in t {
                    if toggle.enabled {
                        out.push(format!("scrapers::{scraper}::resource_attributes::{name}"));
                    }
                }
            }
        }
        out
    }
}

fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// A scraper without options of its own: only the metrics builder's (see [`Toggle`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Empty {
    /// `metrics: {<name>: {enabled: bool}}` (mdatagen's `MetricsBuilderConfig`).
    pub metrics: BTreeMap<String, Toggle>,
    /// `resource_attributes: {<name>: {enabled: bool}}`.
    pub resource_attributes: BTreeMap<String, Toggle>,
}

/// `{enabled: bool}` of one metric or resource attribute in a scraper's `metrics` /
/// `resource_attributes` (the Collector's mdatagen `MetricConfig` / `ResourceAttributeConfig`):
/// `enabled: false` drops a metric Strata produces; `enabled: true` for one it does not produce
/// (a default-disabled Collector metric such as `system.cpu.utilization`) is warned about at
/// start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    /// Emit it.
    pub enabled: bool,
}

/// `load` options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadConfig {
    /// Divide the load averages by the number of logical CPUs. Default `false`.
    pub cpu_average: bool,
    /// Metrics on or off (see [`Toggle`]).
    pub metrics: BTreeMap<String, Toggle>,
    /// Resource attributes on or off (see [`Toggle`]).
    pub resource_attributes: BTreeMap<String, Toggle>,
}

/// `disk` options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Only these devices (`devices: [...]`).
    pub include: Option<MatchSet>,
    /// Not these devices.
    pub exclude: Option<MatchSet>,
    /// Metrics on or off (see [`Toggle`]).
    pub metrics: BTreeMap<String, Toggle>,
    /// Resource attributes on or off (see [`Toggle`]).
    pub resource_attributes: BTreeMap<String, Toggle>,
}

/// `network` options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Only these interfaces (`interfaces: [...]`).
    pub include: Option<MatchSet>,
    /// Not these interfaces.
    pub exclude: Option<MatchSet>,
    /// Metrics on or off (see [`Toggle`]).
    pub metrics: BTreeMap<String, Toggle>,
    /// Resource attributes on or off (see [`Toggle`]).
    pub resource_attributes: BTreeMap<String, Toggle>,
}

/// `filesystem` options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Only these devices (`devices: [...]`).
    pub include_devices: Option<MatchSet>,
    /// Not these devices.
    pub exclude_devices: Option<MatchSet>,
    /// Only these file system types (`fs_types: [...]`).
    pub include_fs_types: Option<MatchSet>,
    /// Not these file system types.
    pub exclude_fs_types: Option<MatchSet>,
    /// Only these mount points (`mount_points: [...]`).
    pub include_mount_points: Option<MatchSet>,
    /// Not these mount points.
    pub exclude_mount_points: Option<MatchSet>,
    /// Also report virtual file systems (`nodev` in `/proc/filesystems`: tmpfs, proc, ...).
    /// Default `false`, as in the Collector.
    pub include_virtual_filesystems: bool,
    /// Metrics on or off (see [`Toggle`]).
    pub metrics: BTreeMap<String, Toggle>,
    /// Resource attributes on or off (see [`Toggle`]).
    pub resource_attributes: BTreeMap<String, Toggle>,
}

/// A list of names to match, `strict` (equal) or `regexp` (anchored regular expressions).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSet {
    /// The names or patterns. Spelled `devices`, `interfaces`, `fs_types` or `mount_points`
    /// after what they match.
    #[serde(
        alias = "devices",
        alias = "interfaces",
        alias = "fs_types",
        alias = "mount_points"
    )]
    pub names: Vec<String>,
    /// `strict` or `regexp`.
    pub match_type: MatchType,
}

/// How a [`MatchSet`] compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Exact string equality.
    #[default]
    Strict,
    /// Regular expression, anchored at both ends.
    Regexp,
}

/// A compiled [`MatchSet`].
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exact names.
    Strict(Vec<String>),
    /// Anchored patterns.
    Regexp(Vec<Regex>),
}

impl MatchSet {
    /// Compiles the set.
    ///
    /// # Errors
    /// An invalid regular expression, with its path.
    pub fn compile(&self, path: &str) -> Result<Matcher, ConfigError> {
        match self.match_type {
            MatchType::Strict => Ok(Matcher::Strict(self.names.clone())),
            MatchType::Regexp => self
                .names
                .iter()
                .map(|n| {
                    Regex::new(&format!("^(?:{n})$"))
                        .map_err(|e| ConfigError::new(path, format!("invalid regexp {n:?}: {e}")))
                })
                .collect::<Result<_, _>>()
                .map(Matcher::Regexp),
        }
    }
}

impl Matcher {
    /// Whether `name` is in the set.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Strict(v) => v.iter().any(|n| n == name),
            Matcher::Regexp(v) => v.iter().any(|r| r.is_match(name)),
        }
    }
}

/// An include/exclude pair: a name passes if included (or no include list) and not excluded.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl Filter {
    /// Compiles `include` and `exclude` (either may be absent).
    ///
    /// # Errors
    /// An invalid regular expression.
    pub fn new(
        path: &str,
        include: &Option<MatchSet>,
        exclude: &Option<MatchSet>,
    ) -> Result<Filter, ConfigError> {
        Ok(Filter {
            include: include
                .as_ref()
                .map(|m| m.compile(&format!("{path}::include")))
                .transpose()?,
            exclude: exclude
                .as_ref()
                .map(|m| m.compile(&format!("{path}::exclude")))
                .transpose()?,
        })
    }

    /// Whether `name` passes.
    pub fn allows(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(name))
            && !self.exclude.as_ref().is_some_and(|m| m.matches(name))
    }
}

impl Config {
    /// Compiles the include/exclude filters: (disk, network, fs devices, fs types, mount points).
    ///
    /// # Errors
    /// An invalid regular expression.
    pub fn filters(&self, path: &str) -> Result<Filters, ConfigError> {
        let s = &self.scrapers;
        let p = |x: &str| format!("{path}::scrapers::{x}");
        let disk = s.disk.clone().unwrap_or_default();
        let net = s.network.clone().unwrap_or_default();
        let fs = s.filesystem.clone().unwrap_or_default();
        Ok(Filters {
            disk: Filter::new(&p("disk"), &disk.include, &disk.exclude)?,
            network: Filter::new(&p("network"), &net.include, &net.exclude)?,
            fs_devices: Filter::new(
                &p("filesystem::devices"),
                &fs.include_devices,
                &fs.exclude_devices,
            )?,
            fs_types: Filter::new(
                &p("filesystem::fs_types"),
                &fs.include_fs_types,
                &fs.exclude_fs_types,
            )?,
            mount_points: Filter::new(
                &p("filesystem::mount_points"),
                &fs.include_mount_points,
                &fs.exclude_mount_points,
            )?,
            include_virtual_filesystems: fs.include_virtual_filesystems,
        })
    }
}

/// Compiled filters of all scrapers.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Disk devices.
    pub disk: Filter,
    /// Network interfaces.
    pub network: Filter,
    /// File system devices.
    pub fs_devices: Filter,
    /// File system types.
    pub fs_types: Filter,
    /// Mount points.
    pub mount_points: Filter,
    /// Also report virtual file systems (`nodev` in `/proc/filesystems`), from the
    /// `filesystem` scraper's `include_virtual_filesystems`.
    pub include_virtual_filesystems: bool,
}

impl ComponentConfig for Config {
    /// Checks intervals, scrapers and patterns.
    ///
    /// # Errors
    /// A zero interval, no scraper, an invalid pattern.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.collection_interval.is_zero() {
            return Err(ConfigError::new(
                format!("{path}::collection_interval"),
                "must be greater than 0",
            ));
        }
        let s = &self.scrapers;
        let any = s.cpu.is_some()
            || s.memory.is_some()
            || s.load.is_some()
            || s.disk.is_some()
            || s.filesystem.is_some()
            || s.network.is_some()
            || s.paging.is_some()
            || s.processes.is_some()
            || s.system.is_some();
        if !any {
            return Err(ConfigError::new(
                format!("{path}::scrapers"),
                "must specify at least one scraper (cpu, memory, load, disk, filesystem, network, paging, processes, system)",
            ));
        }
        self.filters(path).map(|_| ())
    }
}
