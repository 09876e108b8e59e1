use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;
use strata_pipelines::tls::TlsClientConfig;

/// Config of the `spdk` receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where SPDK's JSON-RPC server is: `unix:///var/tmp/spdk.sock` (default; a bare path works
    /// too), `host:port` (TCP, `spdk_tgt -r host:port`), or `http(s)://host:port` for
    /// `scripts/rpc_http_proxy.py`.
    pub endpoint: String,
    /// Basic-auth user for the HTTP proxy.
    pub username: Option<String>,
    /// Basic-auth password for the HTTP proxy (use `${env:}` or `${file:}`).
    pub password: Option<String>,
    /// TLS for an `https://` proxy (`ca_file`, `insecure_skip_verify`).
    pub tls: TlsClientConfig,
    /// Time between scrapes. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Time before the first scrape. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Deadline of each JSON-RPC call (connecting included). Default `5s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// When the endpoint is a unix socket that does not exist, skip the scrape quietly (the
    /// profiles set this so a host without SPDK is not an error); scraping starts once the
    /// socket appears. Default `false`: a missing socket is an error.
    pub optional: bool,
    /// Which methods to call.
    pub scrapers: Scrapers,
    /// Per-bdev latency histograms (`bdev_enable_histogram` / `bdev_get_histogram`); off by
    /// default.
    pub histograms: HistogramConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: "unix:///var/tmp/spdk.sock".into(),
            username: None,
            password: None,
            tls: TlsClientConfig::default(),
            collection_interval: Duration::from_secs(10),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            optional: false,
            scrapers: Scrapers::default(),
            histograms: HistogramConfig::default(),
        }
    }
}

/// `enum spdk_bdev_io_type` of `include/spdk/bdev.h` from value 1 (`read`) on, spelled as the
/// keys of `supported_io_types` in `bdev_get_bdevs` (v25.09): the `opc` names
/// `bdev_enable_histogram` takes, and the `type` argument of the `BDEV_IO_START` tracepoint
/// (value `i + 1` is `BDEV_IO_TYPES[i]`).
pub const BDEV_IO_TYPES: &[&str] = &[
    "read",
    "write",
    "unmap",
    "flush",
    "reset",
    "nvme_admin",
    "nvme_io",
    "nvme_io_md",
    "write_zeroes",
    "zcopy",
    "get_zone_info",
    "zone_management",
    "zone_append",
    "compare",
    "compare_and_write",
    "abort",
    "seek_hole",
    "seek_data",
    "copy",
    "nvme_iov_md",
    "nvme_nssr",
];

/// `histograms:` — the `spdk.bdev.io.latency` histogram per bdev.
///
/// ```yaml
/// histograms:
///   enabled: true
///   bdevs: [Nvme0n1]        # default: every bdev bdev_get_bdevs lists
///   io_type: all            # or read, write, unmap, ... (the histogram's opc)
///   enable: true            # call bdev_enable_histogram at start, after an SPDK restart,
///                           # and when channels created after enabling read zeros
///   bounds: [0.00001, 0.0001, 0.001]   # seconds; snapped up to SPDK bucket edges.
///                           # Default: one bucket per power-of-two range.
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// Default `false`: histograms cost SPDK a tally per I/O and ~33 KB per bdev per scrape.
    pub enabled: bool,
    /// Bdev names; empty (the default) means every bdev of `bdev_get_bdevs`.
    pub bdevs: Vec<String>,
    /// The I/O type the histogram tallies (`all` or one of [`BDEV_IO_TYPES`]); default `all`.
    pub io_type: String,
    /// Whether the receiver enables the histograms itself. Default `true`; with `false` it only
    /// reads histograms someone else enabled.
    pub enable: bool,
    /// Bucket upper bounds in seconds, ascending. Empty (the default): one bucket per SPDK
    /// power-of-two range.
    pub bounds: Vec<f64>,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            enabled: false,
            bdevs: Vec::new(),
            io_type: "all".into(),
            enable: true,
            bounds: Vec::new(),
        }
    }
}

/// One scraper switch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    /// Default `true`.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

/// `bdev_get_iostat` options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IostatConfig {
    /// Default `true`.
    pub enabled: bool,
    /// Bdevs to also read per channel (SPDK thread); one extra call per bdev and interval.
    pub per_channel: Vec<String>,
}

impl Default for IostatConfig {
    fn default() -> Self {
        IostatConfig {
            enabled: true,
            per_channel: Vec::new(),
        }
    }
}

/// `scrapers:` — one switch per SPDK method; all enabled by default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scrapers {
    /// `bdev_get_iostat`.
    pub bdev_get_iostat: IostatConfig,
    /// `bdev_get_bdevs`.
    pub bdev_get_bdevs: Toggle,
    /// `nvmf_get_stats`.
    pub nvmf_get_stats: Toggle,
    /// `nvmf_get_subsystems`.
    pub nvmf_get_subsystems: Toggle,
    /// `thread_get_stats`.
    pub thread_get_stats: Toggle,
    /// `framework_get_reactors`.
    pub framework_get_reactors: Toggle,
    /// `accel_get_stats`.
    pub accel_get_stats: Toggle,
    /// `iobuf_get_stats`.
    pub iobuf_get_stats: Toggle,
    /// `bdev_nvme_get_controllers`.
    pub bdev_nvme_get_controllers: Toggle,
}

/// The transport an endpoint names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(String),
    /// `host:port`.
    Tcp(String),
    /// The HTTP proxy's URL.
    Http(String),
}

impl Endpoint {
    /// Parses `unix:///path`, `/path`, `http(s)://...` or `host:port`.
    ///
    /// # Errors
    /// An empty endpoint or one of none of these shapes.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err("unix:// needs a socket path".into());
            }
            return Ok(Endpoint::Unix(p.into()));
        }
        if s.starts_with('/') {
            return Ok(Endpoint::Unix(s.into()));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(Endpoint::Http(s.into()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Endpoint::Tcp(s.into()))
            }
            _ => Err(format!(
                "{s:?} is not unix:///path, /path, http(s)://host:port or host:port"
            )),
        }
    }
}

impl ComponentConfig for Config {
    /// Checks the endpoint, the credentials and the durations.
    ///
    /// # Errors
    /// An unparsable endpoint, a password without user (or the reverse), credentials or TLS on
    /// a non-HTTP endpoint, a zero interval or timeout.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let ep = Endpoint::parse(&self.endpoint)
            .map_err(|e| ConfigError::new(format!("{path}::endpoint"), e))?;
        if self.username.is_some() != self.password.is_some() {
            return Err(ConfigError::new(
                format!("{path}::password"),
                "username and password must be set together",
            ));
        }
        if !matches!(ep, Endpoint::Http(_))
            && (self.username.is_some() || self.tls != TlsClientConfig::default())
        {
            return Err(ConfigError::new(
                format!("{path}::endpoint"),
                "username, password and tls apply to the http(s):// proxy endpoint only",
            ));
        }
        self.tls.validate(&format!("{path}::tls"))?;
        let h = &self.histograms;
        if h.io_type != "all" && !BDEV_IO_TYPES.contains(&h.io_type.as_str()) {
            return Err(ConfigError::new(
                format!("{path}::histograms::io_type"),
                format!(
                    "{:?} is not an SPDK I/O type (all, or one of {})",
                    h.io_type,
                    BDEV_IO_TYPES.join(", ")
                ),
            ));
        }
        if h.bounds.iter().any(|b| !b.is_finite() || *b <= 0.0)
            || h.bounds.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(ConfigError::new(
                format!("{path}::histograms::bounds"),
                "bounds must be positive seconds in strictly ascending order",
            ));
        }
        if h.bdevs.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                format!("{path}::histograms::bdevs"),
                "a bdev name is empty",
            ));
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
        Ok(())
    }
}
