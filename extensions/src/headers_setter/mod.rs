//! `headers_setter` extension: a client authenticator that sets headers on every outgoing
//! request from the context of the data sent (the Collector's extension of that name, same
//! keys) — typically the authenticated tenant for a multi-tenant back-end (Loki, Mimir,
//! Tempo: `X-Scope-OrgID`).
//!
//! ```yaml
//! extensions:
//!   headers_setter:
//!     headers:
//!       - key: X-Scope-OrgID
//!         from_context: auth.tenant    # auth.<attr>, metadata.<header>, or a bare metadata key
//!         default_value: anonymous     # when the context has no value (else not set)
//!       - key: X-Source
//!         value: strata-cluster        # a fixed value
//!         action: upsert               # insert | update | upsert (default) | delete
//!     authenticator: bearertokenauth/upstream   # its headers first (the token), then these
//! exporters:
//!   otlp/backend: { endpoint: mimir:4317, auth: { authenticator: headers_setter } }
//! ```
//!
//! The context is the one the receiver authenticated; `batch` and the sending queues keep it
//! with the data (they never merge two tenants), so the header names the tenant whose data
//! the request carries. A value from the payload can never set it.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use strata_pipelines::auth::{AuthError, ClientAuthenticator, ClientContext};
use strata_pipelines::config::parse_component;
use strata_pipelines::{
    BuildError, Component, ConfigError, Extension, ExtensionFactory, Host, Settings, ShutdownError,
    StartError, YamlValue,
};

pub use config::{Action, Config, HeaderConfig};

/// The type name in configs.
pub const TYPE: &str = "headers_setter";

/// The client authenticator: the configured headers, resolved per request, after those of
/// the chained authenticator.
pub struct HeadersSetter {
    headers: Vec<(http::HeaderName, HeaderConfig)>,
    chained: Option<strata_pipelines::ComponentId>,
    inner: std::sync::Mutex<Option<Arc<dyn ClientAuthenticator>>>,
}

impl ClientAuthenticator for HeadersSetter {
    /// `delete` entries are returned with an empty value; the exporter removes them.
    fn headers(
        &self,
        ctx: Option<&ClientContext>,
    ) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, AuthError> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = match inner {
            Some(a) => a.headers(ctx)?,
            None => Vec::with_capacity(self.headers.len()),
        };
        for (name, h) in &self.headers {
            if h.action == Action::Delete {
                out.push((name.clone(), http::HeaderValue::from_static("")));
                continue;
            }
            let v = match (&h.value, &h.from_context) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(key)) => ctx.and_then(|c| c.get(key)),
                (None, None) => None,
            }
            .or_else(|| h.default_value.clone());
            let Some(v) = v else { continue };
            match http::HeaderValue::from_str(&v) {
                Ok(v) => out.push((name.clone(), v)),
                Err(_) => {
                    return Err(AuthError(format!(
                        "headers_setter: the value for {name} is not a valid header value"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// The `headers_setter` extension.
pub struct HeadersSetterExtension {
    id: strata_pipelines::ComponentId,
    setter: Arc<HeadersSetter>,
}

#[async_trait]
impl Component for HeadersSetterExtension {
    /// Resolves the chained authenticator.
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        if let Some(id) = &self.setter.chained {
            let a = host.client_authenticator(id).map_err(|e| StartError {
                id: self.id.clone(),
                source: format!("authenticator: {e} (list it before this extension)").into(),
            })?;
            *self.setter.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
        }
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        Ok(())
    }
}

impl Extension for HeadersSetterExtension {
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.setter.clone())
    }
}

/// Factory of the `headers_setter` extension.
#[derive(Debug, Default)]
pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create(&self, set: Settings, cfg: YamlValue) -> Result<Arc<dyn Extension>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let chained = c.authenticator.clone();
        let headers = c
            .headers
            .into_iter()
            .filter_map(|h| {
                http::HeaderName::from_bytes(h.key.to_ascii_lowercase().as_bytes())
                    .ok()
                    .map(|n| (n, h))
            })
            .collect();
        Ok(Arc::new(HeadersSetterExtension {
            id: set.id,
            setter: Arc::new(HeadersSetter {
                headers,
                chained,
                inner: std::sync::Mutex::default(),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_defaults_testdata_and_errors() {
        let e = parse_component::<Config>("x", yaml("{}")).unwrap_err();
        assert_eq!(e.path, "x::headers");
        parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
        let e = parse_component::<Config>("x", yaml("headers: [{key: A, valu: b}]")).unwrap_err();
        assert!(e.message.contains("unknown key"), "{e}");
        let e = parse_component::<Config>("x", yaml("headers: [{key: A}]")).unwrap_err();
        assert_eq!(e.path, "x::headers::0");
        let e =
            parse_component::<Config>("x", yaml("headers: [{key: A, value: b, from_context: c}]"))
                .unwrap_err();
        assert_eq!(e.path, "x::headers::0");
        let e = parse_component::<Config>("x", yaml("headers: [{key: 'bad key', value: b}]"))
            .unwrap_err();
        assert_eq!(e.path, "x::headers::0::key");
    }

    #[tokio::test]
    async fn a_chained_authenticator_adds_its_headers_first() {
        let token = crate::bearertokenauth::Factory
            .create(
                Settings::for_test("bearertokenauth/up"),
                yaml("token: node-token"),
            )
            .unwrap();
        let mut host = Host::default();
        host.extensions
            .insert("bearertokenauth/up".parse().unwrap(), token);
        let ext = Factory
            .create(
                Settings::for_test("headers_setter"),
                yaml("authenticator: bearertokenauth/up\nheaders: [{key: X-Scope-OrgID, from_context: auth.tenant}]"),
            )
            .unwrap();
        ext.start(&host).await.unwrap();
        let mut ctx = ClientContext::default();
        ctx.auth.insert("tenant".into(), "A".into());
        let got = ext
            .client_authenticator()
            .unwrap()
            .headers(Some(&ctx))
            .unwrap();
        assert_eq!(got[0].0, "authorization");
        assert_eq!(got[0].1, "Bearer node-token");
        assert_eq!(got[1].1, "A");
        // Not started yet in a host: a clear start error.
        let lonely = Factory
            .create(
                Settings::for_test("headers_setter/b"),
                yaml("authenticator: nope\nheaders: [{key: A, value: b}]"),
            )
            .unwrap();
        let e = lonely.start(&Host::default()).await.unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn headers_come_from_the_context_never_the_payload() {
        let ext = Factory
            .create(
                Settings::for_test("headers_setter"),
                yaml(include_str!("testdata/config.yaml")),
            )
            .unwrap();
        let a = ext.client_authenticator().unwrap();
        let mut ctx = ClientContext::default();
        ctx.auth.insert("tenant".into(), "A".into());
        let got = a.headers(Some(&ctx)).unwrap();
        assert_eq!(got[0].0, "x-scope-orgid");
        assert_eq!(got[0].1, "A");
        assert_eq!(got[1].1, "strata");
        // No context: the default value.
        let got = a.headers(None).unwrap();
        assert_eq!(got[0].1, "anonymous");
    }
}
