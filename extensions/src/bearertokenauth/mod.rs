//! `bearertokenauth` extension: bearer tokens, as a server authenticator for receivers and as
//! a client authenticator for exporters (the Collector's extension of that name, same keys),
//! plus Strata's `tenants:` — each tenant's own tokens, so the authenticated tenant is known
//! (`auth.tenant`) and can be stamped on the data where the payload cannot spoof it.
//!
//! ```yaml
//! extensions:
//!   bearertokenauth/in:
//!     scheme: Bearer              # default; the header value is "<scheme> <token>"
//!     header: Authorization       # default
//!     tokens: [t0k3n-a, t0k3n-b]  # accepted, no tenant
//!     filename: /etc/strata/tokens   # a token per line, or "<tenant> <token>"; re-read on change
//!     tenants:
//!       team-a: { tokens: [a-1] }
//!       team-b: { filename: /etc/strata/team-b.tokens }
//!     reload_interval: 1s         # how often files are looked at (content, not mtime)
//!   bearertokenauth/out:
//!     filename: /var/run/secrets/strata/token   # client: the first token is sent
//! receivers:
//!   otlp: { protocols: { grpc: { auth: { authenticator: bearertokenauth/in } } } }
//! exporters:
//!   otlp: { endpoint: cluster:4317, auth: { authenticator: bearertokenauth/out } }
//! ```
//!
//! A request without the header, with another scheme or with an unknown token is refused
//! before its body is read (`UNAUTHENTICATED` / 401 with `WWW-Authenticate: Bearer`). Tokens
//! are kept as SHA-256 digests and never logged; a file that cannot be read keeps the tokens
//! last read from it, with one warning (`strata_auth_reloads_total{extension, outcome}`).

mod config;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use strata_pipelines::auth::{
    AuthError, AuthRequest, ClientAuthenticator, ClientContext, ServerAuthenticator,
};
use strata_pipelines::config::parse_component;
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Extension, ExtensionFactory, Host, Settings,
    ShutdownError, StartError, Tasks, YamlValue,
};

pub use config::Config;

use crate::watch::Watched;

/// The type name in configs.
pub const TYPE: &str = "bearertokenauth";

type Digest = [u8; 32];

fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Tokens of a file: one per line, trimmed; empty lines and `#` comments skipped. A line of
/// two fields, `<tenant> <token>`, gives the token its tenant (a whole tenancy in one
/// Kubernetes Secret); a line of one field is a token without a tenant (or, in a tenant's own
/// `filename`, of that tenant).
pub fn parse_token_file(content: &[u8]) -> Vec<(Option<String>, String)> {
    String::from_utf8_lossy(content)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((tenant, token)) => (Some(tenant.to_owned()), token.trim().to_owned()),
            None => (None, l.to_owned()),
        })
        .collect()
}

/// Accepted token digests → tenant (`None`: a token with no tenant), and the token a client
/// sends.
#[derive(Default)]
struct Table {
    accepted: HashMap<Digest, Option<String>>,
    client_token: Option<String>,
}

/// The authenticator shared by the extension's server and client sides.
pub struct BearerToken {
    cfg: Config,
    files: Watched,
    table: RwLock<Arc<Table>>,
}

impl BearerToken {
    /// The authenticator for `cfg` (validated), with its files read now.
    ///
    /// # Errors
    /// A token file that cannot be read.
    pub fn new(cfg: Config) -> Result<Self, String> {
        let files = Watched::new(cfg.files())?;
        let me = BearerToken {
            cfg,
            files,
            table: RwLock::default(),
        };
        me.rebuild();
        Ok(me)
    }

    fn rebuild(&self) {
        let mut t = Table::default();
        let file_tokens = |f: &str| parse_token_file(&self.files.content(f).unwrap_or_default());
        let mut add = |tok: &str, tenant: Option<&str>| {
            t.accepted.insert(digest(tok), tenant.map(str::to_owned));
        };
        let mut plain: Vec<String> = self.cfg.token.iter().cloned().collect();
        plain.extend(self.cfg.tokens.iter().cloned());
        for tok in &plain {
            add(tok, None);
        }
        if let Some(f) = &self.cfg.filename {
            for (tenant, tok) in file_tokens(f) {
                add(&tok, tenant.as_deref());
                if tenant.is_none() {
                    plain.push(tok);
                }
            }
        }
        for (tenant, src) in &self.cfg.tenants {
            for tok in &src.tokens {
                add(tok, Some(tenant));
            }
            if let Some(f) = &src.filename {
                for (_, tok) in file_tokens(f) {
                    add(&tok, Some(tenant));
                }
            }
        }
        t.client_token = plain.into_iter().next();
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(t);
    }

    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Looks at the token files and rebuilds the table when one changed: whether it did,
    /// and a read error not reported before (the tokens last read stay in use).
    pub fn reload(&self) -> (bool, Option<String>) {
        let (changed, error) = self.files.refresh();
        if changed {
            self.rebuild();
        }
        (changed, error)
    }

    fn header_name(&self) -> String {
        self.cfg.header.to_ascii_lowercase()
    }
}

impl ServerAuthenticator for BearerToken {
    fn authenticate(&self, req: &AuthRequest<'_>) -> Result<BTreeMap<String, String>, AuthError> {
        let name = self.header_name();
        let value = req
            .headers
            .get(name.as_str())
            .ok_or_else(|| AuthError(format!("missing {} header", self.cfg.header)))?;
        let value = value
            .to_str()
            .map_err(|_| AuthError(format!("{} header is not text", self.cfg.header)))?;
        let token = if self.cfg.scheme.is_empty() {
            value.trim()
        } else {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or(("", ""));
            if !scheme.eq_ignore_ascii_case(&self.cfg.scheme) {
                return Err(AuthError(format!(
                    "{} header does not use the {} scheme",
                    self.cfg.header, self.cfg.scheme
                )));
            }
            rest.trim()
        };
        match self.table().accepted.get(&digest(token)) {
            None => Err(AuthError("invalid bearer token".into())),
            Some(tenant) => Ok(tenant
                .iter()
                .map(|t| ("tenant".to_owned(), t.clone()))
                .collect()),
        }
    }

    fn challenge(&self) -> String {
        match self.cfg.scheme.as_str() {
            "" => "Bearer realm=\"strata\"".into(),
            s => format!("{s} realm=\"strata\""),
        }
    }

    fn credential_header(&self) -> Option<&str> {
        Some(&self.cfg.header)
    }
}

impl ClientAuthenticator for BearerToken {
    fn headers(
        &self,
        _ctx: Option<&ClientContext>,
    ) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, AuthError> {
        let t = self.table();
        let token = t
            .client_token
            .as_deref()
            .ok_or_else(|| AuthError("bearertokenauth has no token to send".into()))?;
        let value = if self.cfg.scheme.is_empty() {
            token.to_owned()
        } else {
            format!("{} {token}", self.cfg.scheme)
        };
        let name = http::HeaderName::from_bytes(self.header_name().as_bytes())
            .map_err(|_| AuthError(format!("invalid header name {}", self.cfg.header)))?;
        let mut value = http::HeaderValue::from_str(&value)
            .map_err(|_| AuthError("the token is not a valid header value".into()))?;
        value.set_sensitive(true);
        Ok(vec![(name, value)])
    }
}

/// The `bearertokenauth` extension.
pub struct BearerTokenExtension {
    id: ComponentId,
    auth: Arc<BearerToken>,
    tasks: Tasks,
}

#[async_trait]
impl Component for BearerTokenExtension {
    /// Starts watching the token files.
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        let every = self.auth.cfg.reload_interval;
        if self.auth.files.is_empty() || every.is_zero() {
            return Ok(());
        }
        let auth = self.auth.clone();
        crate::watch::spawn_reloader(
            &self.tasks,
            &host.telemetry,
            self.id.to_string(),
            every,
            "tokens",
            move || auth.reload(),
        );
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Extension for BearerTokenExtension {
    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        Some(self.auth.clone())
    }
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.auth.clone())
    }
}

/// Factory of the `bearertokenauth` extension.
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
        let auth =
            BearerToken::new(c).map_err(|e| BuildError::Config(ConfigError::new(set.path(), e)))?;
        Ok(Arc::new(BearerTokenExtension {
            id: set.id,
            auth: Arc::new(auth),
            tasks: Tasks::default(),
        }))
    }
}

#[cfg(test)]
mod tests;
