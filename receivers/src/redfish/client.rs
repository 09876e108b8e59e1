//! HTTP client of one Redfish service (DMTF DSP0266): GETs of JSON resources with basic or
//! session authentication, a bound on requests in flight, `$expand` on collections where the
//! service advertises it, and errors that name the URL and the cause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use reqwest::{StatusCode, header};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use tracing::{debug, info, warn};

use super::config::{Auth, Server};

/// Largest response body accepted (a big chassis `$expand`ed stays far below).
const MAX_BODY_BYTES: usize = 16 << 20;

/// The service root (DSP0266 §6.3: reachable without authentication).
pub const SERVICE_ROOT: &str = "/redfish/v1";

/// The sessions collection when the service root does not link one (DSP0266 §13.3.4).
const DEFAULT_SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The service answered with an HTTP error status.
    #[error("{url}: HTTP {status}{detail}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// `: ` and the Redfish error message (`error.message` or the first
        /// `@Message.ExtendedInfo` message), when the body had one.
        detail: String,
    },
    /// The body was not JSON, or not the JSON object a resource is.
    #[error("{url}: invalid response: {message}")]
    Invalid {
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// No complete response within the timeout.
    #[error("{url}: no response within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Connecting, TLS, or reading failed.
    #[error("{url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause, with its sources.
        message: String,
    },
    /// Creating a session failed (wrong credentials are the usual cause).
    #[error("{url}: login failed: {message}")]
    Login {
        /// The sessions collection URL.
        url: String,
        /// The cause.
        message: String,
    },
}

impl FetchError {
    /// The error of an HTTP error `status` answered at `url`, with the Redfish message of
    /// `body` when it has one.
    fn status(url: String, status: StatusCode, body: &[u8]) -> FetchError {
        FetchError::Status {
            url,
            status: status.as_u16(),
            detail: error_message(body).map_or(String::new(), |m| format!(": {m}")),
        }
    }

    /// A short cause for the error counter: `http_<status>`, `invalid_response`, `timeout`,
    /// `transport`, `login`.
    pub fn cause(&self) -> String {
        match self {
            FetchError::Status { status, .. } => format!("http_{status}"),
            FetchError::Invalid { .. } => "invalid_response".into(),
            FetchError::Timeout { .. } => "timeout".into(),
            FetchError::Transport { .. } => "transport".into(),
            FetchError::Login { .. } => "login".into(),
        }
    }
}

/// An open Redfish session.
#[derive(Debug, Clone)]
struct Session {
    token: String,
    /// The session resource, for the `DELETE` at shutdown.
    location: Option<String>,
}

/// A client of one Redfish service.
pub struct RedfishClient {
    endpoint: String,
    http: reqwest::Client,
    /// For event streams: no overall deadline (only connecting has one).
    stream_http: reqwest::Client,
    auth: Auth,
    credentials: Option<(String, String)>,
    timeout: Duration,
    session: Mutex<Option<Session>>,
    sessions_path: std::sync::Mutex<String>,
    permits: Semaphore,
    expand: AtomicBool,
    /// The service refused `$expand` once: not tried again, whatever the root says.
    expand_refused: AtomicBool,
    /// `auth: auto` found no working sessions at this instant: basic until a re-probe.
    basic_since: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long `auth: auto` keeps to basic before probing for sessions again.
const REPROBE_SESSIONS: Duration = Duration::from_secs(600);

/// Why a login did not give a session.
enum LoginError {
    /// The service has no working sessions (no collection, or no token in the answer).
    Unsupported(FetchError),
    /// Anything else: wrong credentials, transport, an error status.
    Failed(FetchError),
}

impl RedfishClient {
    /// A client of `server`, with at most `max_concurrency` requests in flight and `timeout`
    /// per request.
    ///
    /// # Errors
    /// An unreadable TLS file.
    pub fn new(
        server: &Server,
        timeout: Duration,
        max_concurrency: usize,
    ) -> Result<RedfishClient, String> {
        let tls = server.tls.rustls_config()?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .timeout(timeout)
            .pool_max_idle_per_host(max_concurrency)
            .build()
            .map_err(|e| e.to_string())?;
        let stream_http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(RedfishClient {
            endpoint: server.endpoint.clone(),
            http,
            stream_http,
            auth: server.auth,
            credentials: server.credentials.clone(),
            timeout,
            session: Mutex::new(None),
            sessions_path: std::sync::Mutex::new(DEFAULT_SESSIONS.into()),
            permits: Semaphore::new(max_concurrency.max(1)),
            expand: AtomicBool::new(false),
            expand_refused: AtomicBool::new(false),
            basic_since: std::sync::Mutex::new(None),
        })
    }

    /// The base URL, for messages and the `redfish.endpoint` resource attribute.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The absolute URL of a resource path (`@odata.id`) or URL.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else if path.starts_with('/') {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}/{path}", self.endpoint)
        }
    }

    /// Reads the service root and remembers what it says about sessions and `$expand`
    /// (`ProtocolFeaturesSupported.ExpandQuery.Levels`).
    ///
    /// # Errors
    /// As [`RedfishClient::get`].
    pub async fn service_root(&self, use_expand: bool) -> Result<Value, FetchError> {
        let root = self.get(SERVICE_ROOT).await?;
        if let Some(p) = root
            .pointer("/Links/Sessions/@odata.id")
            .and_then(Value::as_str)
        {
            *self.sessions_path.lock().unwrap_or_else(|p| p.into_inner()) = p.to_owned();
        }
        let expand = root
            .pointer("/ProtocolFeaturesSupported/ExpandQuery/Levels")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let refused = self.expand_refused.load(Ordering::Relaxed);
        self.expand
            .store(use_expand && expand && !refused, Ordering::Relaxed);
        Ok(root)
    }

    /// GETs one resource as a JSON object.
    ///
    /// With session authentication, a session is created first if there is none, and a 401
    /// creates a new one and retries once (the BMC may have expired or dropped the session).
    ///
    /// # Errors
    /// A [`FetchError`] naming the URL: an error status (with the Redfish message), a body
    /// that is not a JSON object or over 16 MiB, a timeout, a transport failure, a refused login.
    pub async fn get(&self, path: &str) -> Result<Value, FetchError> {
        let url = self.url(path);
        let _permit = self.permit(&url).await?;
        let resp = self
            .send(&self.http, reqwest::Method::GET, &url, None, None)
            .await?;
        let status = resp.status();
        let body = self.body(&url, resp).await?;
        if !status.is_success() {
            return Err(FetchError::status(url, status, &body));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| FetchError::Invalid {
            url: url.clone(),
            message: format!("not JSON: {e}"),
        })?;
        if !v.is_object() {
            return Err(FetchError::Invalid {
                url,
                message: "a resource is a JSON object".into(),
            });
        }
        Ok(v)
    }

    async fn permit(&self, url: &str) -> Result<tokio::sync::SemaphorePermit<'_>, FetchError> {
        self.permits
            .acquire()
            .await
            .map_err(|_| FetchError::Transport {
                url: url.to_owned(),
                message: "client closed".into(),
            })
    }

    /// Sends one request with the service's authentication, whatever the answer's status
    /// (`stream`: an SSE request, with the `Last-Event-ID` to resume from, empty for none).
    /// With a session, a 401 to the token logs in again and retries once.
    async fn send(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        stream: Option<&str>,
    ) -> Result<reqwest::Response, FetchError> {
        let mut relogged = false;
        loop {
            let mut req = http
                .request(method.clone(), url)
                .header("OData-Version", "4.0");
            match stream {
                // An event stream, resumed after the last event id seen (when there is one).
                Some(last) => {
                    req = req.header(header::ACCEPT, "text/event-stream");
                    if !last.is_empty() {
                        req = req.header("Last-Event-ID", last);
                    }
                }
                None => req = req.header(header::ACCEPT, "application/json"),
            }
            if let Some(b) = body {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let mut token = None;
            match (self.auth_now(), &self.credentials) {
                (Auth::Basic, Some((u, p))) => req = req.basic_auth(u, Some(p)),
                (Auth::Session | Auth::Auto, Some((u, p))) => match self.token().await? {
                    Some(t) => {
                        req = req.header("X-Auth-Token", &t);
                        token = Some(t);
                    }
                    None => req = req.basic_auth(u, Some(p)),
                },
                _ => {}
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    // Unreachable: the BMC may be restarting; `auto` probes sessions again.
                    if self.auth == Auth::Auto {
                        *self.basic_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    }
                    return Err(self.transport(url, &e));
                }
            };
            if resp.status() == StatusCode::UNAUTHORIZED
                && let Some(t) = token
                && !relogged
            {
                info!(
                    url,
                    "the BMC refused the session token (401); logging in again"
                );
                self.invalidate(&t).await;
                relogged = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// POSTs `body` to a collection (creating a member): the new member's URI, from
    /// `Location` or the answer's `@odata.id`.
    ///
    /// # Errors
    /// As [`RedfishClient::get`]; an error status with the Redfish message.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Option<String>, FetchError> {
        let url = self.url(path);
        let _permit = self.permit(&url).await?;
        let resp = self
            .send(&self.http, reqwest::Method::POST, &url, Some(body), None)
            .await?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer = self.body(&url, resp).await?;
        if !status.is_success() {
            return Err(FetchError::status(url, status, &answer));
        }
        Ok(location.or_else(|| {
            serde_json::from_slice::<Value>(&answer)
                .ok()?
                .get("@odata.id")?
                .as_str()
                .map(str::to_owned)
        }))
    }

    /// DELETEs a resource.
    ///
    /// # Errors
    /// As [`RedfishClient::get`]; an error status.
    pub async fn delete(&self, path: &str) -> Result<(), FetchError> {
        let url = self.url(path);
        let _permit = self.permit(&url).await?;
        let resp = self
            .send(&self.http, reqwest::Method::DELETE, &url, None, None)
            .await?;
        let status = resp.status();
        let answer = self.body(&url, resp).await?;
        if !status.is_success() {
            return Err(FetchError::status(url, status, &answer));
        }
        Ok(())
    }

    /// Opens a Server-Sent Events stream (DSP0266 §13.5.2, `EventService.ServerSentEventUri`)
    /// with `Last-Event-ID` when resuming. The response is returned once its head arrived with
    /// a success status; the body is the stream, with no overall deadline.
    ///
    /// # Errors
    /// As [`RedfishClient::get`]; an error status with the Redfish message.
    pub async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, FetchError> {
        let url = self.url(path);
        let resp = self
            .send(
                &self.stream_http,
                reqwest::Method::GET,
                &url,
                None,
                Some(last_event_id.unwrap_or("")),
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let answer = self.body(&url, resp).await.unwrap_or_default();
            return Err(FetchError::status(url, status, &answer));
        }
        Ok(resp)
    }

    /// The members of a collection, each a full resource: one request with
    /// `$expand=.($levels=1)` where the service supports it (DSP0266 §7.3), else (or when the
    /// service ignored or refused the query) one request per member, concurrently.
    ///
    /// Returns the members read and an error per member (or for the collection) that failed.
    pub async fn members(&self, path: &str) -> (Vec<Value>, Vec<FetchError>) {
        let coll = if self.expand.load(Ordering::Relaxed) {
            match self.get(&format!("{path}?$expand=.($levels=1)")).await {
                Ok(v) => Ok(v),
                Err(FetchError::Status { status, .. }) if status != 401 && status != 403 => {
                    let plain = self.get(path).await;
                    if plain.is_ok() {
                        // The collection exists: the query was refused.
                        debug!(
                            endpoint = self.endpoint,
                            status, "$expand refused; reading members one by one from now on"
                        );
                        self.expand.store(false, Ordering::Relaxed);
                        self.expand_refused.store(true, Ordering::Relaxed);
                    }
                    plain
                }
                Err(e) => Err(e),
            }
        } else {
            self.get(path).await
        };
        let coll = match coll {
            Ok(c) => c,
            Err(e) => return (Vec::new(), vec![e]),
        };
        let Some(list) = coll.get("Members").and_then(Value::as_array) else {
            return (
                Vec::new(),
                vec![FetchError::Invalid {
                    url: self.url(path),
                    message: "a collection without a Members array".into(),
                }],
            );
        };
        let mut out = Vec::new();
        let mut todo = Vec::new();
        for m in list {
            match m.get("@odata.id").and_then(Value::as_str) {
                // Expanded: more than the reference.
                Some(_) if m.as_object().is_some_and(|o| o.len() > 1) => out.push(m.clone()),
                Some(id) => todo.push(id.to_owned()),
                None => {}
            }
        }
        let mut errors = Vec::new();
        for r in join_all(todo.iter().map(|id| self.get(id))).await {
            match r {
                Ok(v) => out.push(v),
                Err(e) => errors.push(e),
            }
        }
        (out, errors)
    }

    /// Deletes the session, if one is open (at shutdown). Failures are logged, not returned.
    pub async fn logout(&self) {
        let Some(s) = self.session.lock().await.take() else {
            return;
        };
        let Some(loc) = s.location else {
            warn!(
                endpoint = self.endpoint,
                "the BMC gave no Location for the session; it is left to expire"
            );
            return;
        };
        let url = self.url(&loc);
        match self
            .http
            .delete(&url)
            .header("X-Auth-Token", &s.token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => debug!(url, "Redfish session deleted"),
            Ok(r) => warn!(
                url,
                status = r.status().as_u16(),
                "deleting the Redfish session failed"
            ),
            Err(e) => warn!(url, error = %e, "deleting the Redfish session failed"),
        }
    }

    /// The authentication to use now: `auto` is basic while its fallback holds (less than
    /// [`REPROBE_SESSIONS`] old), else a session attempt.
    fn auth_now(&self) -> Auth {
        if self.auth != Auth::Auto {
            return self.auth;
        }
        let since = self.basic_since.lock().unwrap_or_else(|p| p.into_inner());
        match *since {
            Some(t) if t.elapsed() < REPROBE_SESSIONS => Auth::Basic,
            _ => Auth::Auto,
        }
    }

    /// The current session token, logging in first when there is none; `None` when `auth:
    /// auto` found that the service has no working sessions (basic is used then). Concurrent
    /// callers wait for one login.
    async fn token(&self) -> Result<Option<String>, FetchError> {
        let mut s = self.session.lock().await;
        if let Some(s) = &*s {
            return Ok(Some(s.token.clone()));
        }
        if self.auth_now() == Auth::Basic {
            return Ok(None); // Another caller fell back while this one waited.
        }
        match self.login().await {
            Ok(new) => {
                let token = new.token.clone();
                *s = Some(new);
                Ok(Some(token))
            }
            Err(LoginError::Unsupported(e)) if self.auth == Auth::Auto => {
                let mut since = self.basic_since.lock().unwrap_or_else(|p| p.into_inner());
                if since.is_none() {
                    warn!(
                        endpoint = self.endpoint,
                        cause = %e,
                        "the BMC has no working Redfish sessions; using basic authentication (auth: auto)"
                    );
                }
                *since = Some(std::time::Instant::now());
                Ok(None)
            }
            Err(LoginError::Unsupported(e) | LoginError::Failed(e)) => Err(e),
        }
    }

    /// Forgets `token` (unless another task already replaced it).
    async fn invalidate(&self, token: &str) {
        let mut s = self.session.lock().await;
        if s.as_ref().is_some_and(|s| s.token == token) {
            *s = None;
        }
    }

    /// `POST {"UserName", "Password"}` to the sessions collection; the token is in
    /// `X-Auth-Token`, the session's URL in `Location` (or the body's `@odata.id`).
    async fn login(&self) -> Result<Session, LoginError> {
        let path = self
            .sessions_path
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let url = self.url(&path);
        let (user, pass) = self.credentials.clone().unwrap_or_default();
        let resp = self
            .http
            .post(&url)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({"UserName": user, "Password": pass}).to_string())
            .send()
            .await
            .map_err(|e| {
                LoginError::Failed(match self.transport(&url, &e) {
                    FetchError::Transport { url, message } => FetchError::Login { url, message },
                    other => other,
                })
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = self.body(&url, resp).await.map_err(LoginError::Failed)?;
        if !status.is_success() {
            let no_sessions = matches!(status.as_u16(), 404 | 405 | 501);
            let hint = if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                " (wrong username or password?)"
            } else {
                ""
            };
            let e = FetchError::Login {
                url,
                message: format!(
                    "HTTP {}{}{hint}",
                    status.as_u16(),
                    error_message(&body).map_or(String::new(), |m| format!(": {m}"))
                ),
            };
            return Err(if no_sessions {
                LoginError::Unsupported(e)
            } else {
                LoginError::Failed(e)
            });
        }
        let token = headers
            .get("X-Auth-Token")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                LoginError::Unsupported(FetchError::Login {
                    url: url.clone(),
                    message: format!(
                        "the response (HTTP {}) has no X-Auth-Token",
                        status.as_u16()
                    ),
                })
            })?
            .to_owned();
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                serde_json::from_slice::<Value>(&body)
                    .ok()?
                    .get("@odata.id")?
                    .as_str()
                    .map(str::to_owned)
            });
        info!(endpoint = self.endpoint, session = ?location, "Redfish session created");
        Ok(Session { token, location })
    }

    /// The body, up to [`MAX_BODY_BYTES`].
    ///
    /// A body delimited by the end of the connection (HTTP/1.0 without `Content-Length`) whose
    /// TLS connection ends without `close_notify` — Python-based BMC emulators and some BMC
    /// firmware do this — is accepted: a truncated resource fails the JSON parse instead.
    async fn body(&self, url: &str, mut resp: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let close_delimited = resp.content_length().is_none();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_BODY_BYTES {
                        return Err(FetchError::Invalid {
                            url: url.into(),
                            message: format!("body larger than {MAX_BODY_BYTES} bytes"),
                        });
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => return Ok(body),
                Err(e) if close_delimited && is_unexpected_eof(&e) => {
                    debug!(
                        url,
                        "connection closed without TLS close_notify after the body"
                    );
                    return Ok(body);
                }
                Err(e) => return Err(self.transport(url, &e)),
            }
        }
    }

    fn transport(&self, url: &str, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout {
                url: url.into(),
                timeout: self.timeout,
            };
        }
        let mut message = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        if e.is_connect() && !message.contains("connect") {
            message.insert_str(0, "connect: ");
        }
        FetchError::Transport {
            url: url.into(),
            message,
        }
    }
}

/// Whether `e` comes from an `UnexpectedEof` I/O error (a TLS peer that closed without
/// `close_notify`).
fn is_unexpected_eof(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
        {
            return true;
        }
        src = s.source();
    }
    false
}

/// The message of a Redfish error body (DSP0266 §9.6: `error.message`, or the first
/// `error.@Message.ExtendedInfo[].Message`), cut to 200 characters.
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let m = e
        .pointer("/@Message.ExtendedInfo/0/Message")
        .or_else(|| e.get("message"))?
        .as_str()?;
    Some(m.chars().take(200).collect())
}
