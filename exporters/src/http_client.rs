//! What the HTTP exporters (`otlp_http`, `zipkin`) share: the client and the classification
//! of an unsuccessful response.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_pipelines::auth::{AuthConfig, ClientAuthenticator, ClientContext};
use strata_pipelines::tls::{Reloading, TlsClientConfig};
use strata_pipelines::{ConsumeError, Host};
use tokio_util::sync::CancellationToken;

use crate::classify::{http_retryable, retry_after};

/// The HTTP client of an exporter (`otlp_http`, `zipkin`): `headers` on every request, a
/// whole-request `timeout`, client TLS (rustls) rebuilt when its files change (new
/// connections use the new material), and the client authenticator's headers from the
/// context of the data sent.
pub struct HttpClient {
    what: String,
    headers: http::HeaderMap,
    timeout: Duration,
    tls: Option<Arc<Reloading<rustls::ClientConfig>>>,
    current: Mutex<(Option<Arc<rustls::ClientConfig>>, reqwest::Client)>,
    /// confighttp `proxy_url`: every request goes through this HTTP(S) proxy.
    proxy: Option<reqwest::Proxy>,
    auth: Mutex<Option<Arc<dyn ClientAuthenticator>>>,
    stop: CancellationToken,
}

impl HttpClient {
    /// A client for these settings; `what` names them in logs (`exporters::zipkin::tls`).
    ///
    /// # Errors
    /// An invalid header name or value, unusable TLS files.
    pub fn new(
        what: String,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
        tls: &TlsClientConfig,
    ) -> Result<Self, String> {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("header {k}: {e}"))?;
            let val = http::HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
            map.insert(name, val);
        }
        let tls = tls.reloading(&what, &[b"h2", b"http/1.1"])?;
        let cfg = tls.current();
        let client = build(&map, timeout, (*cfg).clone(), None)?;
        Ok(HttpClient {
            what,
            headers: map,
            timeout,
            tls: Some(tls),
            proxy: None,
            current: Mutex::new((Some(cfg), client)),
            auth: Mutex::new(None),
            stop: CancellationToken::new(),
        })
    }

    /// The same client sending through the proxy at `url` (confighttp `proxy_url`, e.g.
    /// `http://proxy.example:3128`); empty or `None` = direct.
    ///
    /// # Errors
    /// An unparsable proxy URL.
    pub fn with_proxy(mut self, url: Option<&str>) -> Result<Self, String> {
        let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
            return Ok(self);
        };
        let proxy = reqwest::Proxy::all(url).map_err(|e| format!("proxy_url {url:?}: {e}"))?;
        self.proxy = Some(proxy);
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cfg) = cur.0.clone() {
            cur.1 = build(
                &self.headers,
                self.timeout,
                (*cfg).clone(),
                self.proxy.clone(),
            )?;
        }
        drop(cur);
        Ok(self)
    }

    /// Resolves the authenticator `auth` names and starts watching the TLS files.
    ///
    /// # Errors
    /// The authenticator is missing or not a client authenticator.
    pub fn start(&self, host: &Host, auth: Option<&AuthConfig>) -> Result<(), String> {
        if let Some(a) = auth {
            *self.auth.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(host.client_authenticator(&a.authenticator)?);
        }
        if let Some(t) = &self.tls {
            tokio::spawn(t.clone().watch(host.telemetry.clone(), self.stop.clone()));
        }
        Ok(())
    }

    /// Stops watching the files.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// The client to send with: rebuilt when the TLS material changed since the last one.
    pub fn client(&self) -> reqwest::Client {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = &self.tls {
            let now = t.current();
            if !cur.0.as_ref().is_some_and(|c| Arc::ptr_eq(c, &now)) {
                match build(
                    &self.headers,
                    self.timeout,
                    (*now).clone(),
                    self.proxy.clone(),
                ) {
                    Ok(c) => *cur = (Some(now), c),
                    Err(e) => {
                        tracing::warn!(settings = %self.what, error = %e, "cannot rebuild the HTTP client; keeping the previous one")
                    }
                }
            }
        }
        cur.1.clone()
    }

    /// `req` with the authenticator's headers for the current client context.
    ///
    /// # Errors
    /// The authenticator cannot produce its credential (retryable).
    pub fn authorize(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, ConsumeError> {
        let auth = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(a) = auth {
            let ctx = ClientContext::current();
            let headers = a
                .headers(ctx.as_deref())
                .map_err(|e| ConsumeError::retryable(format!("{}: auth: {e}", self.what)))?;
            for (name, value) in headers {
                if !value.is_empty() {
                    req = req.header(name, value);
                }
            }
        }
        Ok(req)
    }
}

fn build(
    headers: &http::HeaderMap,
    timeout: Duration,
    tls: rustls::ClientConfig,
    proxy: Option<reqwest::Proxy>,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .default_headers(headers.clone())
        .timeout(timeout)
        .tls_backend_preconfigured(tls);
    if let Some(p) = proxy {
        b = b.proxy(p);
    }
    b.build().map_err(|e| e.to_string())
}

/// The error for a non-2xx answer from `url`: retryable for 429, 502, 503, 504 (waiting at
/// least the peer's `Retry-After`), permanent otherwise. The message quotes up to 512 bytes of
/// the body.
pub fn failure(
    url: &str,
    status: http::StatusCode,
    retry_after_header: Option<&http::HeaderValue>,
    body: &[u8],
) -> ConsumeError {
    let msg = format!(
        "export to {url} failed: HTTP {}: {}",
        status.as_u16(),
        String::from_utf8_lossy(&body[..body.len().min(512)])
    );
    if http_retryable(status.as_u16()) {
        ConsumeError::Retryable {
            error: msg.into(),
            retry_after: retry_after(retry_after_header),
        }
    } else {
        ConsumeError::permanent(msg)
    }
}

/// `raw` gzip-compressed (fast level).
///
/// # Errors
/// Only if the in-memory writer fails.
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip_level(raw, 1)
}

/// `raw` gzip-compressed at `level` (1 fastest to 9 smallest; clamped to that range).
///
/// # Errors
/// What the encoder reports (writing to memory does not fail in practice).
pub fn gzip_level(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let level = flate2::Compression::new(level.clamp(1, 9) as u32);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    enc.write_all(raw)?;
    enc.finish()
}
