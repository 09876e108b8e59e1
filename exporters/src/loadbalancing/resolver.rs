//! Where the list of backends comes from. A trait, so that a Kubernetes EndpointSlice resolver
//! can follow the static and DNS ones.

use std::time::Duration;

use async_trait::async_trait;

use super::config::{DnsResolver, ResolverConfig, StaticResolver};

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
    Ok(match (&c.static_, &c.dns) {
        (_, Some(d)) => Box::new(Dns::new(d.clone())?),
        (Some(s), None) => Box::new(s.clone()),
        (None, None) => Box::new(StaticResolver::default()),
    })
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
}
