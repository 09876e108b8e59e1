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

#[async_trait]
impl Resolver for DnsResolver {
    /// Every address of `hostname` (A and AAAA) with `port`, sorted.
    async fn resolve(&self) -> Result<Vec<String>, String> {
        let lookup = tokio::net::lookup_host((self.hostname.as_str(), self.port));
        let addrs = tokio::time::timeout(self.timeout, lookup)
            .await
            .map_err(|_| {
                format!(
                    "lookup of {} timed out after {:?}",
                    self.hostname, self.timeout
                )
            })?
            .map_err(|e| format!("lookup of {}: {e}", self.hostname))?;
        let mut out: Vec<String> = addrs.map(|a| a.to_string()).collect();
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(format!("{} has no address", self.hostname));
        }
        Ok(out)
    }
    fn interval(&self) -> Option<Duration> {
        Some(self.interval)
    }
}

/// The resolver a (validated) config names.
pub fn from_config(c: &ResolverConfig) -> Box<dyn Resolver> {
    match (&c.static_, &c.dns) {
        (_, Some(d)) => Box::new(d.clone()),
        (Some(s), None) => Box::new(s.clone()),
        (None, None) => Box::new(StaticResolver::default()),
    }
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
        let d = DnsResolver {
            hostname: "localhost".into(),
            port: 4999,
            ..Default::default()
        };
        let got = d.resolve().await.unwrap();
        assert!(got.iter().all(|a| a.ends_with(":4999")), "{got:?}");
        let bad = DnsResolver {
            hostname: "no-such-host.invalid".into(),
            ..Default::default()
        };
        assert!(bad.resolve().await.is_err());
    }
}
