//! `basicauth` extension: HTTP Basic authentication (RFC 7617), as a server authenticator
//! against an htpasswd file or inline entries, and as a client authenticator with
//! `client_auth` (the Collector's extension of that name, same keys).
//!
//! ```yaml
//! extensions:
//!   basicauth/in:
//!     htpasswd:
//!       file: /etc/strata/.htpasswd      # re-read when its content changes
//!       inline: |
//!         sidecar:$2y$10$...              # bcrypt ($2a$, $2b$, $2y$: `htpasswd -B`)
//!         node:$apr1$abcdefgh$...         # Apache MD5 (`htpasswd`'s default, `-m`)
//!         legacy:{SHA}hkh4dSUt9vfhE3nIRwDeOxmhD7w=   # `htpasswd -s`
//!   basicauth/out:
//!     client_auth: { username: node, password: "${file:/var/run/secrets/strata/password}" }
//! ```
//!
//! An authenticated request carries `auth.username`. Entries without a known hash prefix
//! are plain-text passwords (as the Collector's inline form `user:password`), compared in
//! constant time. A verified bcrypt check is cached (by a SHA-256 of user and password) so
//! the ~50 ms cost is paid once per client, not per request; the cache is cleared when the
//! file changes.

mod config;
mod htpasswd;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use base64::Engine as _;
use strata_pipelines::auth::{
    AuthError, AuthRequest, ClientAuthenticator, ClientContext, ServerAuthenticator,
};
use strata_pipelines::config::parse_component;
use strata_pipelines::{
    BuildError, Component, ComponentId, ConfigError, Extension, ExtensionFactory, Host, Settings,
    ShutdownError, StartError, Tasks, YamlValue,
};

pub use config::Config;
pub use htpasswd::{Htpasswd, verify};

use crate::watch::Watched;

/// The type name in configs.
pub const TYPE: &str = "basicauth";

/// Most verified credentials remembered (bcrypt results); the cache is cleared when full.
const CACHE_MAX: usize = 4096;

/// The authenticator shared by the server and client sides.
pub struct BasicAuth {
    cfg: Config,
    files: Watched,
    users: RwLock<Arc<Htpasswd>>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl BasicAuth {
    /// The authenticator for `cfg` (validated), with its file read now.
    ///
    /// # Errors
    /// The htpasswd file cannot be read, or an entry does not parse.
    pub fn new(cfg: Config) -> Result<Self, String> {
        let files = Watched::new(cfg.htpasswd.file.iter().cloned().collect())?;
        let me = BasicAuth {
            cfg,
            files,
            users: RwLock::default(),
            verified: Mutex::default(),
        };
        me.rebuild()?;
        Ok(me)
    }

    fn rebuild(&self) -> Result<(), String> {
        let mut text = String::new();
        if let Some(f) = &self.cfg.htpasswd.file {
            text.push_str(&String::from_utf8_lossy(
                &self.files.content(f).unwrap_or_default(),
            ));
            text.push('\n');
        }
        if let Some(i) = &self.cfg.htpasswd.inline {
            text.push_str(i);
        }
        let users = Htpasswd::parse(&text)?;
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(users);
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }

    /// Looks at the htpasswd file: whether it changed and was taken, and an error not
    /// reported before (unreadable, or a new content that does not parse: the users last
    /// read stay in use).
    pub fn reload(&self) -> (bool, Option<String>) {
        let (changed, error) = self.files.refresh();
        if !changed {
            return (false, error);
        }
        match self.rebuild() {
            Ok(()) => (true, error),
            Err(e) => (false, Some(e)),
        }
    }

    fn check(&self, user: &str, password: &str) -> bool {
        let key = {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(user.as_bytes());
            ctx.update(&[0]);
            ctx.update(password.as_bytes());
            let mut k = [0u8; 32];
            k.copy_from_slice(ctx.finish().as_ref());
            k
        };
        if self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return true;
        }
        let users = self.users.read().unwrap_or_else(|p| p.into_inner()).clone();
        let ok = users.get(user).is_some_and(|hash| verify(hash, password));
        if ok {
            let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if v.len() >= CACHE_MAX {
                v.clear();
            }
            v.insert(key);
        }
        ok
    }
}

impl ServerAuthenticator for BasicAuth {
    fn authenticate(&self, req: &AuthRequest<'_>) -> Result<BTreeMap<String, String>, AuthError> {
        let value = req
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| AuthError("missing Authorization header".into()))?
            .to_str()
            .map_err(|_| AuthError("Authorization header is not text".into()))?;
        let (scheme, b64) = value.trim().split_once(' ').unwrap_or(("", ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthError(
                "Authorization header does not use the Basic scheme".into(),
            ));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| AuthError("malformed Basic credentials".into()))?;
        let raw =
            String::from_utf8(raw).map_err(|_| AuthError("malformed Basic credentials".into()))?;
        let (user, password) = raw
            .split_once(':')
            .ok_or_else(|| AuthError("malformed Basic credentials".into()))?;
        if !self.check(user, password) {
            return Err(AuthError("invalid username or password".into()));
        }
        Ok(BTreeMap::from([("username".to_owned(), user.to_owned())]))
    }

    fn challenge(&self) -> String {
        "Basic realm=\"strata\"".into()
    }
}

impl ClientAuthenticator for BasicAuth {
    fn headers(
        &self,
        _ctx: Option<&ClientContext>,
    ) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, AuthError> {
        let c = self
            .cfg
            .client_auth
            .as_ref()
            .ok_or_else(|| AuthError("basicauth has no client_auth".into()))?;
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.password));
        let mut v = http::HeaderValue::from_str(&format!("Basic {b64}"))
            .map_err(|_| AuthError("invalid credentials".into()))?;
        v.set_sensitive(true);
        Ok(vec![(http::header::AUTHORIZATION, v)])
    }
}

/// The `basicauth` extension.
pub struct BasicAuthExtension {
    id: ComponentId,
    auth: Arc<BasicAuth>,
    tasks: Tasks,
}

#[async_trait]
impl Component for BasicAuthExtension {
    /// Starts watching the htpasswd file.
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
            "htpasswd",
            move || auth.reload(),
        );
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.tasks.stop().await;
        Ok(())
    }
}

impl Extension for BasicAuthExtension {
    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        (self.auth.cfg.htpasswd.file.is_some() || self.auth.cfg.htpasswd.inline.is_some())
            .then(|| self.auth.clone() as Arc<dyn ServerAuthenticator>)
    }
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        self.auth
            .cfg
            .client_auth
            .is_some()
            .then(|| self.auth.clone() as Arc<dyn ClientAuthenticator>)
    }
}

/// Factory of the `basicauth` extension.
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
            BasicAuth::new(c).map_err(|e| BuildError::Config(ConfigError::new(set.path(), e)))?;
        Ok(Arc::new(BasicAuthExtension {
            id: set.id,
            auth: Arc::new(auth),
            tasks: Tasks::default(),
        }))
    }
}

#[cfg(test)]
mod tests;
