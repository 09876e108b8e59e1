use std::time::Duration;

use serde::Deserialize;
use strata_pipelines::ConfigError;
use strata_pipelines::config::ComponentConfig;

/// Config of the `loadbalancing` exporter (alias `load_balancing`), the Collector's keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What decides the backend: `traceID` (default for traces and logs), `service`,
    /// `resource`, `streamID` (default for metrics: one metric of one resource), `attributes`.
    pub routing_key: Option<RoutingKey>,
    /// Resource attributes (then span attributes) whose values make the key, with
    /// `routing_key: attributes`.
    pub routing_attributes: Vec<String>,
    /// How to reach each backend.
    pub protocol: Protocol,
    /// Where the backends' list comes from.
    pub resolver: ResolverConfig,
    /// exporterhelper's `timeout` at the exporter's top level: each backend's export
    /// deadline, unless `protocol::otlp` sets its own.
    pub timeout: Option<serde_yaml_ng::Value>,
    /// exporterhelper's `retry_on_failure` at the top level: each backend's retries, unless
    /// `protocol::otlp` sets its own.
    pub retry_on_failure: Option<serde_yaml_ng::Value>,
    /// exporterhelper's `sending_queue` at the top level: each backend's queue, unless
    /// `protocol::otlp` sets its own (Strata queues per backend, which is also what carries a
    /// leaving backend's data to the others).
    pub sending_queue: Option<serde_yaml_ng::Value>,
}

/// `routing_key:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RoutingKey {
    /// Every span (log record) of a trace to one backend.
    #[serde(rename = "traceID")]
    TraceId,
    /// By `service.name`.
    #[serde(rename = "service")]
    Service,
    /// By all resource attributes.
    #[serde(rename = "resource")]
    Resource,
    /// Metrics: by resource and metric name.
    #[serde(rename = "streamID")]
    StreamId,
    /// By the values of `routing_attributes`.
    #[serde(rename = "attributes")]
    Attributes,
}

/// `protocol:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    /// The `otlp` exporter config every backend's sub-exporter starts from (its `endpoint`
    /// is the backend's); each backend gets its own queue, retries and TLS.
    pub otlp: serde_yaml_ng::Value,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            otlp: serde_yaml_ng::Value::Mapping(Default::default()),
        }
    }
}

/// `resolver:`: exactly one of `static`, `dns` and `k8s`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// A fixed list.
    #[serde(rename = "static")]
    pub static_: Option<StaticResolver>,
    /// A DNS name with one address per backend (a Kubernetes headless Service).
    pub dns: Option<DnsResolver>,
    /// A Kubernetes Service's EndpointSlices, read from the API server.
    pub k8s: Option<K8sResolver>,
}

/// `resolver.k8s`: the ready endpoints of a Service, from its EndpointSlices
/// (`discovery.k8s.io/v1`, label `kubernetes.io/service-name`), asked of the API server every
/// `interval` with the pod's service account. The Collector's keys (`service`, `ports`,
/// `timeout`, `return_hostnames`), plus Strata's `interval` and where the API server and the
/// credentials are (defaults: the in-cluster ones).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sResolver {
    /// `name` or `name.namespace` (the pod's own namespace when left out).
    pub service: String,
    /// A backend per ready endpoint address and port. Default `[4317]`.
    pub ports: Vec<u16>,
    /// Longest a request to the API server may take. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How often to ask. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Backends by the endpoint's hostname (`<hostname>.<service>.<namespace>`, a StatefulSet's
    /// stable names) where it has one, else by address. Default false.
    pub return_hostnames: bool,
    /// The API server, `https://host:port`. Default:
    /// `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`.
    pub api_server: Option<String>,
    /// The bearer token, read again at every request (projected tokens rotate). Default: the
    /// service account's, `/var/run/secrets/kubernetes.io/serviceaccount/token`.
    pub token_file: String,
    /// The CA that signed the API server's certificate. Default: the service account's
    /// `ca.crt` beside the token.
    pub ca_file: String,
    /// The pod's namespace file, for a `service` without one.
    pub namespace_file: String,
}

/// Where a pod's service account credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl Default for K8sResolver {
    fn default() -> Self {
        K8sResolver {
            service: String::new(),
            ports: vec![4317],
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(5),
            return_hostnames: false,
            api_server: None,
            token_file: format!("{SERVICE_ACCOUNT_DIR}/token"),
            ca_file: format!("{SERVICE_ACCOUNT_DIR}/ca.crt"),
            namespace_file: format!("{SERVICE_ACCOUNT_DIR}/namespace"),
        }
    }
}

/// `resolver.static`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticResolver {
    /// `host:port` of each backend (port 4317 when left out).
    pub hostnames: Vec<String>,
}

/// A nameserver of `resolver.dns.nameservers`: `ip`, `ip:port`, `[v6]:port` (port 53 when
/// left out).
pub fn nameserver(s: &str) -> Option<std::net::SocketAddr> {
    let s = s.trim();
    s.parse::<std::net::SocketAddr>()
        .ok()
        .or_else(|| Some(std::net::SocketAddr::new(s.parse().ok()?, 53)))
}

/// `resolver.dns`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResolver {
    /// The name to resolve.
    pub hostname: String,
    /// The backends' port. Default 4317.
    pub port: u16,
    /// How often to resolve. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest a lookup may take. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// DNS servers (`ip:port`, port 53 when left out) to ask instead of the system's resolver
    /// (`/etc/resolv.conf`): e.g. the cluster DNS from a host-network pod. A Strata extension;
    /// the Collector always uses the system's. Default: none (the system's resolver).
    pub nameservers: Vec<String>,
}

impl Default for DnsResolver {
    fn default() -> Self {
        DnsResolver {
            hostname: String::new(),
            port: 4317,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            nameservers: Vec::new(),
        }
    }
}

impl Config {
    /// The `otlp` config of the sub-exporter for `endpoint`.
    ///
    /// # Errors
    /// The template is not a valid `otlp` exporter config (path under `protocol::otlp`).
    pub fn sub_config(
        &self,
        path: &str,
        endpoint: &str,
    ) -> Result<crate::otlp::Config, ConfigError> {
        let mut t = self.protocol.otlp.clone();
        if t.is_null() {
            t = serde_yaml_ng::Value::Mapping(Default::default());
        }
        if let Some(m) = t.as_mapping_mut() {
            m.insert("endpoint".into(), endpoint.into());
            for (key, v) in [
                ("timeout", &self.timeout),
                ("retry_on_failure", &self.retry_on_failure),
                ("sending_queue", &self.sending_queue),
            ] {
                if let Some(v) = v
                    && !m.contains_key(key)
                {
                    m.insert(key.into(), v.clone());
                }
            }
        }
        strata_pipelines::config::parse_component::<crate::otlp::Config>(
            &format!("{path}::protocol::otlp"),
            t,
        )
    }
}

impl ComponentConfig for Config {
    /// Checks the resolver (exactly one), the routing attributes, and the `otlp` template.
    ///
    /// # Errors
    /// The first problem with its path.
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let r = &self.resolver;
        match (&r.static_, &r.dns, &r.k8s) {
            (None, None, Some(k)) => {
                let name = k.service.split('.').next().unwrap_or_default();
                if name.trim().is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::k8s::service"),
                        "must name the Service: name or name.namespace",
                    ));
                }
                if k.ports.is_empty() || k.ports.contains(&0) {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::k8s::ports"),
                        "at least one port, none of them 0",
                    ));
                }
                if k.interval.is_zero() || k.timeout.is_zero() {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::k8s"),
                        "interval and timeout must be greater than 0",
                    ));
                }
                if let Some(a) = &k.api_server
                    && !a.starts_with("https://")
                {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::k8s::api_server"),
                        format!("{a:?}: the API server is reached over https://"),
                    ));
                }
            }
            (Some(s), None, None) => {
                if s.hostnames.is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::static::hostnames"),
                        "at least one backend is required",
                    ));
                }
            }
            (None, Some(d), None) => {
                if d.hostname.trim().is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::dns::hostname"),
                        "must be set",
                    ));
                }
                if d.interval.is_zero() || d.timeout.is_zero() {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::dns"),
                        "interval and timeout must be greater than 0",
                    ));
                }
                if let Some(bad) = d.nameservers.iter().find(|n| nameserver(n).is_none()) {
                    return Err(ConfigError::new(
                        format!("{path}::resolver::dns::nameservers"),
                        format!("{bad:?} is not an IP address with an optional :port"),
                    ));
                }
            }
            _ => {
                return Err(ConfigError::new(
                    format!("{path}::resolver"),
                    "set exactly one of static, dns or k8s",
                ));
            }
        }
        if self.routing_key == Some(RoutingKey::Attributes) && self.routing_attributes.is_empty() {
            return Err(ConfigError::new(
                format!("{path}::routing_attributes"),
                "required with routing_key: attributes",
            ));
        }
        self.sub_config(path, "backend:4317").map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use strata_pipelines::config::parse_component;

    use super::*;

    fn y(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    /// The exporterhelper keys at the top level (newer Collector configs put them there) are
    /// each backend's, unless `protocol::otlp` sets its own; a bad value is reported under
    /// the backend's template path.
    #[test]
    fn top_level_timeout_queue_and_retry_reach_each_backend() {
        let c = parse_component::<Config>(
            "e",
            y("resolver: {static: {hostnames: [a]}}
timeout: 7s
sending_queue: {queue_size: 42}
retry_on_failure: {enabled: false}
protocol: {otlp: {timeout: 3s, tls: {insecure: true}}}"),
        )
        .unwrap();
        let sub = c.sub_config("e", "a:4317").unwrap();
        assert_eq!(sub.timeout, Duration::from_secs(3), "protocol::otlp wins");
        assert_eq!(sub.sending_queue.queue_size, 42);
        assert!(!sub.retry_on_failure.enabled);
        let bad = parse_component::<Config>(
            "e",
            y("resolver: {static: {hostnames: [a]}}
sending_queue: {queue_sise: 1}"),
        )
        .unwrap_err();
        assert!(bad.path.starts_with("e::protocol::otlp"), "{bad}");
    }

    #[test]
    fn testdata_defaults_and_errors() {
        let c = parse_component::<Config>("e", y(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.routing_key, Some(RoutingKey::TraceId));
        let d = c.resolver.dns.as_ref().unwrap();
        assert_eq!((d.port, d.interval), (4317, Duration::from_secs(5)));
        let sub = c.sub_config("e", "10.0.0.1:4317").unwrap();
        assert_eq!(sub.endpoint, "10.0.0.1:4317");
        assert_eq!(sub.sending_queue.queue_size, 500);
        let c = parse_component::<Config>("e", y("resolver: {static: {hostnames: [a]}}")).unwrap();
        assert_eq!(c.routing_key, None, "the signal's default applies");
        let err = |s: &str| parse_component::<Config>("e", y(s)).unwrap_err();
        assert_eq!(err("{}").path, "e::resolver");
        assert_eq!(
            err("resolver: {static: {hostnames: [a]}, dns: {hostname: b}}").path,
            "e::resolver"
        );
        assert_eq!(
            err("resolver: {static: {hostnames: []}}").path,
            "e::resolver::static::hostnames"
        );
        assert_eq!(
            err("resolver: {dns: {port: 1}}").path,
            "e::resolver::dns::hostname"
        );
        let k = parse_component::<Config>(
            "e",
            y("resolver: {k8s: {service: strata-cluster.observability}}"),
        )
        .unwrap()
        .resolver
        .k8s
        .unwrap();
        assert_eq!((k.ports, k.interval), (vec![4317], Duration::from_secs(5)));
        assert_eq!(
            err("resolver: {k8s: {ports: [4317]}}").path,
            "e::resolver::k8s::service"
        );
        assert_eq!(
            err("resolver: {k8s: {service: s, ports: []}}").path,
            "e::resolver::k8s::ports"
        );
        assert_eq!(
            err("resolver: {k8s: {service: s, api_server: 'http://x'}}").path,
            "e::resolver::k8s::api_server"
        );
        assert_eq!(
            err("resolver: {k8s: {service: s}, dns: {hostname: b}}").path,
            "e::resolver"
        );
        assert_eq!(
            err("routing_key: attributes\nresolver: {static: {hostnames: [a]}}").path,
            "e::routing_attributes"
        );
        assert!(
            err("routing_key: spanID\nresolver: {static: {hostnames: [a]}}")
                .message
                .contains("unknown variant")
        );
        assert_eq!(
            err("protocol: {otlp: {compresion: gzip}}\nresolver: {static: {hostnames: [a]}}").path,
            "e::protocol::otlp::compresion"
        );
    }
}
