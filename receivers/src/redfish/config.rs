use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::tls::TlsClientConfig;

/// How the receiver authenticates to a BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// HTTP basic authentication on every request (Redfish spec DSP0266 §13.3.2).
    Basic,
    /// A Redfish session (DSP0266 §13.3.4): `POST` to the service's `Sessions` collection,
    /// `X-Auth-Token` on every request, a new login after a 401, `DELETE` on shutdown.
    Session,
    /// No credentials (a service that needs none, e.g. `sushy-static`).
    None,
    /// A session where the service has a working SessionService, else basic: the default when
    /// credentials are given. The session `POST` is tried first; a service without a sessions
    /// collection (404, 405, 501) or one that answers it without an `X-Auth-Token` gets basic
    /// authentication, with one warning. A 401/403 on the `POST` stays a credentials error.
    /// Sessions are probed again after the BMC was unreachable (it may have restarted with a
    /// different firmware state) and every 10 minutes.
    Auto,
}

/// One BMC (`servers:` entries; the top-level `endpoint` is a shorthand for a single one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The BMC's base URL, `https://bmc:443` (`http://` only where the BMC has no TLS).
    pub endpoint: String,
    /// User name (`${env:}` / `${file:}` expand here).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (use `${env:}` or `${file:}`).
    #[serde(default)]
    pub password: Option<String>,
    /// `auto`, `basic`, `session` or `none`. Default: `auto` when a username is set, else
    /// `none`.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// TLS (`ca_file`, `insecure_skip_verify`); the receiver-level `tls` when absent.
    #[serde(default)]
    pub tls: Option<TlsClientConfig>,
    /// Only these `ComputerSystem` ids (empty: all).
    #[serde(default)]
    pub computer_system_id: Vec<String>,
    /// Only these `Chassis` ids (empty: all).
    #[serde(default)]
    pub chassis_id: Vec<String>,
}

/// Which parts of each chassis and system are read (`resources:`); all by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Legacy `Thermal` (Temperatures, Fans) and `ThermalSubsystem` (Fans, ThermalMetrics).
    Thermal,
    /// Legacy `Power` (PowerControl, Voltages, PowerSupplies) and `PowerSubsystem`
    /// (PowerSupplies and their Metrics).
    Power,
    /// The chassis `Sensors` collection.
    Sensors,
    /// The chassis `EnvironmentMetrics`.
    Environment,
    /// `Status` and `PowerState` of systems and chassis as `hw.status`.
    Status,
}

/// All [`Resource`]s.
pub const ALL_RESOURCES: [Resource; 5] = [
    Resource::Thermal,
    Resource::Power,
    Resource::Sensors,
    Resource::Environment,
    Resource::Status,
];

/// Config of the `redfish` receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// One BMC's base URL (shorthand for one entry of `servers`). An empty string disables the
    /// receiver quietly (the profiles use `${env:STRATA_REDFISH_ENDPOINT:-}`).
    pub endpoint: Option<String>,
    /// User of `endpoint`.
    pub username: Option<String>,
    /// Password of `endpoint`.
    pub password: Option<String>,
    /// Authentication of `endpoint`.
    pub auth: Option<Auth>,
    /// TLS of `endpoint`, and the default of every `servers` entry.
    pub tls: TlsClientConfig,
    /// Only these `ComputerSystem` ids on `endpoint`.
    pub computer_system_id: Vec<String>,
    /// Only these `Chassis` ids on `endpoint`.
    pub chassis_id: Vec<String>,
    /// More BMCs, each scraped on its own.
    pub servers: Vec<ServerConfig>,
    /// What to read. Default: all of `thermal`, `power`, `sensors`, `environment`, `status`.
    pub resources: Vec<Resource>,
    /// Time between scrapes. Default `60s` (BMCs are slow; many refresh readings every few s).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Time before the first scrape. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Deadline of each HTTP request (connecting included). Default `10s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Most requests in flight to one BMC. Default `4`.
    pub max_concurrency: usize,
    /// Use `$expand` on collections when the service advertises `ExpandQuery`. Default `true`.
    pub expand: bool,
    /// `TelemetryService` metric reports as a second source; off by default.
    pub telemetry_service: TelemetryServiceConfig,
    /// Redfish events as logs (push subscription or SSE); off by default.
    pub events: super::events::EventsConfig,
}

/// `telemetry_service:` — read `TelemetryService/MetricReports` (Redfish `MetricReport`
/// schema) each scrape.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryServiceConfig {
    /// Default `false`.
    pub enabled: bool,
    /// Report ids (`Id` of each `MetricReport`) to read; empty (the default) reads them all.
    pub reports: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: None,
            username: None,
            password: None,
            auth: None,
            tls: TlsClientConfig::default(),
            computer_system_id: Vec::new(),
            chassis_id: Vec::new(),
            servers: Vec::new(),
            resources: ALL_RESOURCES.to_vec(),
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            max_concurrency: 4,
            expand: true,
            telemetry_service: TelemetryServiceConfig::default(),
            events: super::events::EventsConfig::default(),
        }
    }
}

/// A resolved BMC: what one scrape loop talks to.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Base URL without a trailing `/`.
    pub endpoint: String,
    /// Credentials.
    pub credentials: Option<(String, String)>,
    /// Authentication.
    pub auth: Auth,
    /// TLS.
    pub tls: TlsClientConfig,
    /// System id filter.
    pub computer_system_id: Vec<String>,
    /// Chassis id filter.
    pub chassis_id: Vec<String>,
}

impl Config {
    /// The BMCs to scrape: `endpoint` (unless empty) then `servers`.
    pub fn servers(&self) -> Vec<Server> {
        let top = self
            .endpoint
            .as_ref()
            .filter(|e| !e.trim().is_empty())
            .map(|e| ServerConfig {
                endpoint: e.clone(),
                username: self.username.clone(),
                password: self.password.clone(),
                auth: self.auth,
                tls: None,
                computer_system_id: self.computer_system_id.clone(),
                chassis_id: self.chassis_id.clone(),
            });
        top.iter()
            .chain(self.servers.iter())
            .map(|s| {
                let credentials = s.username.clone().zip(s.password.clone());
                Server {
                    endpoint: s.endpoint.trim_end_matches('/').to_owned(),
                    auth: s.auth.unwrap_or(if credentials.is_some() {
                        Auth::Auto
                    } else {
                        Auth::None
                    }),
                    credentials,
                    tls: s.tls.clone().unwrap_or_else(|| self.tls.clone()),
                    computer_system_id: s.computer_system_id.clone(),
                    chassis_id: s.chassis_id.clone(),
                }
            })
            .collect()
    }

    /// Whether `r` is read.
    pub fn reads(&self, r: Resource) -> bool {
        self.resources.contains(&r)
    }
}

impl ComponentConfig for Config {
    /// Checks every server's URL, credentials and TLS, and the durations.
    ///
    /// # Errors
    /// A URL that is not `http(s)://host[:port]`, a username without password (or the
    /// reverse), `basic`/`session` without credentials, a missing TLS file, a zero interval,
    /// timeout or concurrency, or an empty `resources`.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.events.validate(&format!("{path}::events"))?;
        let mut entries = Vec::new();
        match self.endpoint.as_deref().map(str::trim) {
            // An empty endpoint (an unset environment variable) disables the shorthand.
            Some("") => {}
            Some(e) => entries.push((
                path.to_owned(),
                e,
                &self.username,
                &self.password,
                self.auth,
            )),
            None if self.username.is_some() || self.password.is_some() || self.auth.is_some() => {
                return Err(ConfigError::new(
                    format!("{path}::endpoint"),
                    "username, password and auth describe `endpoint`, which is not set",
                ));
            }
            None => {}
        }
        for (i, s) in self.servers.iter().enumerate() {
            entries.push((
                format!("{path}::servers::{i}"),
                s.endpoint.as_str(),
                &s.username,
                &s.password,
                s.auth,
            ));
        }
        for (p, endpoint, user, pass, auth) in entries {
            check_url(endpoint).map_err(|e| ConfigError::new(format!("{p}::endpoint"), e))?;
            if user.is_some() != pass.is_some() {
                return Err(ConfigError::new(
                    format!("{p}::password"),
                    "username and password must be set together",
                ));
            }
            if matches!(auth, Some(Auth::Basic | Auth::Session | Auth::Auto)) && user.is_none() {
                return Err(ConfigError::new(
                    format!("{p}::auth"),
                    "auto, basic and session authentication need username and password",
                ));
            }
        }
        self.tls.validate(&format!("{path}::tls"))?;
        for (i, s) in self.servers.iter().enumerate() {
            if let Some(t) = &s.tls {
                t.validate(&format!("{path}::servers::{i}::tls"))?;
            }
        }
        for (name, d) in [
            ("collection_interval", self.collection_interval),
            ("timeout", self.timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::new(
                    format!("{path}::{name}"),
                    "must be greater than 0",
                ));
            }
        }
        if self.max_concurrency == 0 {
            return Err(ConfigError::new(
                format!("{path}::max_concurrency"),
                "must be at least 1",
            ));
        }
        if self.resources.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::resources"),
                "lists nothing to read",
            ));
        }
        Ok(())
    }
}

/// Checks that `s` is `http(s)://host[:port]` with nothing after the authority but `/`.
fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} is not an http:// or https:// URL"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!(
            "{s:?}: give the BMC's base URL (scheme, host, port); the receiver finds /redfish/v1 itself"
        ));
    }
    reqwest::Url::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(())
}
