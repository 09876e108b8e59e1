//! Where the list of backends comes from: a fixed list, a DNS name, or a Kubernetes Service's
//! EndpointSlices. A trait, so that other sources (a `with_resolver` caller's) fit in.

use std::time::Duration;

use async_trait::async_trait;

use super::config::{DnsResolver, K8sResolver, ResolverConfig, StaticResolver};

/// A source of backend endpoints (`host:port`).
#[async_trait]
pub trait Resolver: Send + Sync {
    /// The backends now.
    ///
    /// # Errors
    /// The lookup failed; the exporter keeps the last list.
    async fn resolve(&self) -> Result<Vec<String>, String>;

    /// How often to resolve again; `None` for a list that never changes.
    fn interval(&self) -> Option<Duration>;
}

/// Adds `:4317` to a host without a port.
fn with_port(h: &str, port: u16) -> String {
    let h = h.trim();
    let has_port = h.rsplit_once(':').is_some_and(|(host, p)| {
        !host.is_empty() && !host.ends_with(':') && p.parse::<u16>().is_ok()
    });
    if has_port {
        h.to_owned()
    } else {
        format!("{h}:{port}")
    }
}

#[async_trait]
impl Resolver for StaticResolver {
    async fn resolve(&self) -> Result<Vec<String>, String> {
        Ok(self.hostnames.iter().map(|h| with_port(h, 4317)).collect())
    }
    fn interval(&self) -> Option<Duration> {
        None
    }
}

/// `resolver.dns`: the system's resolver, or hickory-resolver asking `nameservers` (no cache:
/// each interval asks again, so a changed answer is seen at once).
pub struct Dns {
    cfg: DnsResolver,
    own: Option<hickory_resolver::TokioResolver>,
}

impl Dns {
    /// A resolver for `cfg` (validated).
    ///
    /// # Errors
    /// A nameserver that is not an address, or a resolver that cannot be built.
    pub fn new(cfg: DnsResolver) -> Result<Dns, String> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
        if cfg.nameservers.is_empty() {
            return Ok(Dns { cfg, own: None });
        }
        let mut servers = Vec::new();
        for n in &cfg.nameservers {
            let addr =
                super::config::nameserver(n).ok_or_else(|| format!("{n:?} is not an address"))?;
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            servers.push(ns);
        }
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.timeout = cfg.timeout;
        opts.attempts = 1;
        let resolver = hickory_resolver::Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), servers),
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .map_err(|e| e.to_string())?;
        Ok(Dns {
            cfg,
            own: Some(resolver),
        })
    }
}

#[async_trait]
impl Resolver for Dns {
    /// Every address of `hostname` (A and AAAA) with `port`, sorted.
    async fn resolve(&self) -> Result<Vec<String>, String> {
        let host = self.cfg.hostname.as_str();
        let timed_out = || format!("lookup of {host} timed out after {:?}", self.cfg.timeout);
        let addrs: Vec<std::net::SocketAddr> = match &self.own {
            None => tokio::time::timeout(
                self.cfg.timeout,
                tokio::net::lookup_host((host, self.cfg.port)),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| format!("lookup of {host}: {e}"))?
            .collect(),
            Some(r) => {
                // An absolute name: the search list is not consulted.
                let name = if host.ends_with('.') {
                    host.to_owned()
                } else {
                    format!("{host}.")
                };
                tokio::time::timeout(self.cfg.timeout, r.lookup_ip(name))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| format!("lookup of {host}: {e}"))?
                    .iter()
                    .map(|ip| std::net::SocketAddr::new(ip, self.cfg.port))
                    .collect()
            }
        };
        let mut out: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(format!("{} has no address", self.cfg.hostname));
        }
        Ok(out)
    }
    fn interval(&self) -> Option<Duration> {
        Some(self.cfg.interval)
    }
}

/// The resolver a (validated) config names.
///
/// # Errors
/// A DNS resolver that cannot be built (see [`Dns::new`]).
pub fn from_config(c: &ResolverConfig) -> Result<Box<dyn Resolver>, String> {
    Ok(match (&c.static_, &c.dns, &c.k8s) {
        (_, _, Some(k)) => Box::new(K8s::new(k.clone())?),
        (_, Some(d), None) => Box::new(Dns::new(d.clone())?),
        (Some(s), None, None) => Box::new(s.clone()),
        (None, None, None) => Box::new(StaticResolver::default()),
    })
}

/// `resolver.k8s`: a Service's ready endpoints from its EndpointSlices (Kubernetes API
/// `GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io/service-name={name}`),
/// asked every `interval` with the service account's bearer token over TLS verified with its
/// CA. The RBAC it needs: `get`, `list` on `endpointslices` (`discovery.k8s.io`) in the
/// Service's namespace (`deploy/kubernetes/node.yaml` has the Role).
pub struct K8s {
    cfg: K8sResolver,
    url: String,
    service: String,
    namespace: String,
    client: crate::http_client::HttpClient,
}

impl K8s {
    /// A resolver for `cfg` (validated).
    ///
    /// # Errors
    /// No API server (not in a cluster and no `api_server`), no namespace (a `service` without
    /// one and no namespace file), an unusable CA file.
    pub fn new(cfg: K8sResolver) -> Result<K8s, String> {
        let api = match &cfg.api_server {
            Some(a) => a.trim_end_matches('/').to_owned(),
            None => {
                let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
                    "not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set): set resolver.k8s.api_server".to_owned()
                })?;
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                if host.contains(':') {
                    format!("https://[{host}]:{port}")
                } else {
                    format!("https://{host}:{port}")
                }
            }
        };
        let (service, namespace) = match cfg.service.split_once('.') {
            Some((name, ns)) => (name.to_owned(), ns.trim_end_matches(".svc").to_owned()),
            None => {
                let ns = std::fs::read_to_string(&cfg.namespace_file).map_err(|e| {
                    format!(
                        "resolver.k8s.service {:?} names no namespace and {} cannot be read: {e}",
                        cfg.service, cfg.namespace_file
                    )
                })?;
                (cfg.service.clone(), ns.trim().to_owned())
            }
        };
        let url = format!(
            "{api}/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{service}"
        );
        let tls = strata_pipelines::tls::TlsClientConfig {
            ca_file: Some(cfg.ca_file.clone()),
            ..Default::default()
        };
        let client = crate::http_client::HttpClient::new(
            "exporters::loadbalancing::resolver::k8s".into(),
            &Default::default(),
            cfg.timeout,
            &tls,
        )?;
        Ok(K8s {
            cfg,
            url,
            service,
            namespace,
            client,
        })
    }
}

#[async_trait]
impl Resolver for K8s {
    /// Every ready endpoint of the Service with each of `ports`, sorted.
    async fn resolve(&self) -> Result<Vec<String>, String> {
        let what = format!("EndpointSlices of {}/{}", self.namespace, self.service);
        let token = std::fs::read_to_string(&self.cfg.token_file).map_err(|e| {
            format!(
                "{what}: cannot read the token file {}: {e}",
                self.cfg.token_file
            )
        })?;
        let resp = self
            .client
            .client()
            .get(&self.url)
            .bearer_auth(token.trim())
            .send()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(format!("{what}: the API server answered {status}: {text}"));
        }
        let hostnames = self
            .cfg
            .return_hostnames
            .then(|| format!("{}.{}", self.service, self.namespace));
        ready_endpoints(&body, &self.cfg.ports, hostnames.as_deref())
            .map_err(|e| format!("{what}: {e}"))
    }
    fn interval(&self) -> Option<Duration> {
        Some(self.cfg.interval)
    }
}

/// The backends of an `EndpointSliceList` (`discovery.k8s.io/v1`): for every endpoint that is
/// ready (`conditions.ready` true, or absent, which the API defines as ready) each of its
/// `addresses` with each of `ports` (IPv6 in brackets), or, with `hostnames`
/// (`<service>.<namespace>`), `<hostname>.<hostnames>` for endpoints that have a hostname.
/// Sorted, without duplicates (an address may be in two slices while they are updated).
///
/// # Errors
/// Not JSON, or not a list of slices (`items` missing).
pub fn ready_endpoints(
    body: &[u8],
    ports: &[u16],
    hostnames: Option<&str>,
) -> Result<Vec<String>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let items = v
        .get("items")
        .and_then(|i| i.as_array())
        .ok_or("not an EndpointSliceList (no items)")?;
    let mut out = std::collections::BTreeSet::new();
    for slice in items {
        let v6 = slice.get("addressType").and_then(|t| t.as_str()) == Some("IPv6");
        for ep in slice
            .get("endpoints")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
        {
            let ready = ep
                .get("conditions")
                .and_then(|c| c.get("ready"))
                .and_then(|r| r.as_bool())
                .unwrap_or(true);
            if !ready {
                continue;
            }
            let named = hostnames.and_then(|suffix| {
                let h = ep.get("hostname")?.as_str()?;
                (!h.is_empty()).then(|| format!("{h}.{suffix}"))
            });
            let addrs: Vec<String> = match named {
                Some(n) => vec![n],
                None => ep
                    .get("addresses")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .filter(|a| !a.is_empty())
                    .map(|a| if v6 { format!("[{a}]") } else { a.to_owned() })
                    .collect(),
            };
            for a in addrs {
                for p in ports {
                    out.insert(format!("{a}:{p}"));
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_and_dns_lists() {
        let s = StaticResolver {
            hostnames: vec!["a".into(), "b:5317".into(), "[::1]:4317".into()],
        };
        assert_eq!(
            s.resolve().await.unwrap(),
            vec!["a:4317", "b:5317", "[::1]:4317"]
        );
        let d = Dns::new(DnsResolver {
            hostname: "localhost".into(),
            port: 4999,
            ..Default::default()
        })
        .unwrap();
        let got = d.resolve().await.unwrap();
        assert!(got.iter().all(|a| a.ends_with(":4999")), "{got:?}");
        let bad = Dns::new(DnsResolver {
            hostname: "no-such-host.invalid".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(bad.resolve().await.is_err());
        // A nameserver that answers nothing: the lookup fails within the timeout.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let quiet = Dns::new(DnsResolver {
            hostname: "replicas.test".into(),
            timeout: Duration::from_millis(300),
            nameservers: vec![silent.local_addr().unwrap().to_string()],
            ..Default::default()
        })
        .unwrap();
        assert!(quiet.resolve().await.is_err());
        assert!(super::super::config::nameserver("10.0.0.10").is_some());
        assert!(super::super::config::nameserver("[::1]:5353").is_some());
        assert!(super::super::config::nameserver("dns.local").is_none());
    }

    /// An `EndpointSliceList` shaped as the Kubernetes API (`discovery.k8s.io/v1`, the
    /// EndpointSlice docs' example) returns it: two slices of one Service sharing an endpoint
    /// during an update, a terminating (not ready) endpoint, one without conditions (ready by
    /// the API's definition), and an IPv6 slice.
    #[test]
    fn ready_endpoints_of_an_endpointslice_list() {
        let body = include_bytes!("testdata/endpointslices.json");
        assert_eq!(
            ready_endpoints(body, &[4317], None).unwrap(),
            vec!["10.1.2.3:4317", "10.1.2.5:4317", "[fd00::7]:4317"]
        );
        assert_eq!(
            ready_endpoints(body, &[4317, 4318], None).unwrap().len(),
            6,
            "one backend per address and port"
        );
        assert_eq!(
            ready_endpoints(body, &[4317], Some("strata-cluster.observability")).unwrap(),
            vec![
                "10.1.2.5:4317",
                "[fd00::7]:4317",
                "strata-cluster-0.strata-cluster.observability:4317"
            ]
        );
        assert_eq!(
            ready_endpoints(br#"{"items": []}"#, &[4317], None).unwrap(),
            Vec::<String>::new()
        );
        assert!(
            ready_endpoints(b"{}", &[4317], None)
                .unwrap_err()
                .contains("no items")
        );
        assert!(
            ready_endpoints(b"<html>", &[4317], None)
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn k8s_needs_an_api_server_and_a_namespace() {
        let cfg = K8sResolver {
            service: "strata-cluster".into(),
            namespace_file: "/nonexistent/namespace".into(),
            api_server: Some("https://127.0.0.1:6443".into()),
            ..Default::default()
        };
        let e = K8s::new(cfg).err().unwrap();
        assert!(e.contains("names no namespace"), "{e}");
    }
}
