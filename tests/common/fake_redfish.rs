//! A fake BMC: an HTTP server (axum) serving the DMTF mockup `tests/fixtures/redfish/
//! public-rackmount1` as a Redfish service, with basic or session authentication, an HTTPS
//! port, `$expand` of collections, and faults injected per resource. It stands in for what
//! cannot run here (a BMC); `sushy-static` serves the same tree as the third-party peer.
//!
//! Like a BMC: the service root needs no credentials (DSP0266 §13.3.1); sessions are created by
//! `POST /redfish/v1/SessionService/Sessions` (`X-Auth-Token` and `Location` in the answer) and
//! deleted by `DELETE` of their URL; errors carry a Redfish error body.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

/// The mockup served.
pub fn mockup_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redfish/public-rackmount1")
}

/// The mockup resource at `path` (`/redfish/v1/Chassis/1U`), if the tree has it.
pub fn mockup(path: &str) -> Option<Value> {
    let rel = path
        .trim_end_matches('/')
        .strip_prefix("/redfish/v1")?
        .trim_start_matches('/');
    let f = mockup_dir().join(rel).join("index.json");
    serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok()
}

/// How the server authenticates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AuthMode {
    /// No credentials needed.
    None,
    /// HTTP basic on every resource but the root.
    Basic,
    /// Redfish sessions (`X-Auth-Token`).
    Session,
}

/// A fault injected on one resource path.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// This HTTP status with a Redfish error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// No answer for this long, then the resource.
    Stall(Duration),
    /// 200 with this JSON body instead of the resource.
    Body(String),
}

#[derive(Default)]
struct State {
    auth: Option<AuthMode>,
    user: String,
    password: String,
    sessions: HashMap<String, String>,
    next_session: u64,
    logins: usize,
    deleted: Vec<String>,
    faults: HashMap<String, Fault>,
    requests: Vec<String>,
    expand: bool,
    delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
    /// No SessionService: the sessions `POST` is answered 405, as on BMCs without one.
    no_sessions: bool,
    /// Event subscriptions made by clients: (URI, EventDestination).
    subscriptions: Vec<(String, Value)>,
    next_subscription: u64,
    /// Subscriptions deleted by clients.
    unsubscribed: Vec<String>,
    /// Events of the SSE stream, in order: (id, Event document).
    sse_events: Vec<(u64, Value)>,
    /// The `Last-Event-ID` of each SSE connection (empty: none).
    sse_connects: Vec<String>,
    /// Bumped to close every open SSE stream.
    sse_generation: u64,
    /// Subscriptions carrying `EventTypes` are refused with 400 `PropertyUnknown`, and events
    /// go to every subscription (a service on a schema that dropped the property).
    refuse_event_types: bool,
}

/// DMTF's `Event` example (the `Event` schema's, `Event.v1_7_0`), with `n` as its `EventId`
/// and `message_id` as its `MessageId`.
pub fn example_event(n: u64, message_id: &str, origin: &str) -> Value {
    json!({
        "@odata.type": "#Event.v1_7_0.Event",
        "Id": n.to_string(),
        "Name": "Event Array",
        "Context": "ContosoWebClient",
        "Events": [{
            "EventId": n.to_string(),
            "MessageSeverity": "Critical",
            "Message": format!("Power supply {n} lost input power"),
            "MessageId": message_id,
            "MessageArgs": [format!("PSU{n}")],
            "EventType": "Alert",
            "OriginOfCondition": {"@odata.id": origin},
            "EventTimestamp": "2017-11-23T17:17:42-0600"
        }]
    })
}

const SUBSCRIPTIONS: &str = "/redfish/v1/EventService/Subscriptions";
const SSE: &str = "/redfish/v1/EventService/SSE";

/// A running fake BMC.
pub struct FakeRedfish {
    state: Arc<Mutex<State>>,
    /// The HTTP port on 127.0.0.1.
    pub port: u16,
    /// The HTTPS port on 127.0.0.1 (certificate for 127.0.0.1 by the CA in `ca_file`).
    pub tls_port: u16,
    /// PEM file of the CA that signed the HTTPS certificate.
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeRedfish {
    /// Starts the server with `auth`, user `admin`, password `secret`, `$expand` supported.
    pub async fn start(auth: AuthMode) -> FakeRedfish {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(Mutex::new(State {
            auth: Some(auth),
            user: "admin".into(),
            password: "secret".into(),
            expand: true,
            ..Default::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await });
        let pki = super::tls::TestPki::new(dir.path());
        let tls_port = pki.terminator(port, &[b"http/1.1"]).await;
        FakeRedfish {
            state,
            port,
            tls_port,
            ca_file: pki.ca_file,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Injects `fault` on `path` (e.g. `/redfish/v1/Chassis/1U/Thermal`); `None` clears it.
    pub fn fault(&self, path: &str, fault: Option<Fault>) {
        let mut s = self.state.lock().unwrap();
        match fault {
            Some(f) => s.faults.insert(path.into(), f),
            None => s.faults.remove(path),
        };
    }

    /// Forgets every session, as a BMC does when sessions expire or it restarts: the next
    /// request with an old token gets 401.
    pub fn expire_sessions(&self) {
        self.state.lock().unwrap().sessions.clear();
    }

    /// Whether the SessionService exists (`false`: the login `POST` gets 405).
    pub fn set_sessions(&self, on: bool) {
        self.state.lock().unwrap().no_sessions = !on;
    }

    /// Changes what the BMC accepts (as after a firmware update and restart).
    pub fn set_auth(&self, auth: AuthMode) {
        self.state.lock().unwrap().auth = Some(auth);
    }

    /// Sets the accepted password.
    pub fn set_password(&self, p: &str) {
        self.state.lock().unwrap().password = p.into();
    }

    /// Whether `$expand` is honoured (else refused with 400, as some BMCs do).
    pub fn set_expand(&self, on: bool) {
        self.state.lock().unwrap().expand = on;
    }

    /// Delays every answer by `d` (a slow BMC), which makes concurrency visible.
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// The most requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// Sessions created so far.
    pub fn logins(&self) -> usize {
        self.state.lock().unwrap().logins
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.state.lock().unwrap().sessions.len()
    }

    /// Session URLs deleted by clients.
    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }

    /// The subscriptions clients made (the mockup's own four are not among them).
    pub fn subscriptions(&self) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Subscription URIs clients deleted.
    pub fn unsubscribed(&self) -> Vec<String> {
        self.state.lock().unwrap().unsubscribed.clone()
    }

    /// What a BMC restart does to events: client subscriptions are lost, streams close.
    pub fn restart_events(&self) {
        let mut s = self.state.lock().unwrap();
        s.subscriptions.clear();
        s.sse_generation += 1;
    }

    /// Closes every open SSE stream (the events stay, for a resume by `Last-Event-ID`).
    pub fn drop_streams(&self) {
        self.state.lock().unwrap().sse_generation += 1;
    }

    /// Adds an event to the SSE stream (id `n`).
    pub fn sse_event(&self, n: u64, doc: Value) {
        self.state.lock().unwrap().sse_events.push((n, doc));
    }

    /// The `Last-Event-ID` each SSE connection sent (empty: none), in order.
    pub fn sse_connects(&self) -> Vec<String> {
        self.state.lock().unwrap().sse_connects.clone()
    }

    /// A service on a newer schema: subscriptions with `EventTypes` are refused (400
    /// `Base.1.0.PropertyUnknown`), and events go to every subscription.
    pub fn refuse_event_types(&self) {
        self.state.lock().unwrap().refuse_event_types = true;
    }

    /// POSTs `doc` to the `Destination` of every client subscription that asked for its type,
    /// as a BMC delivers an event (HTTP, or HTTPS trusting `ca`), with the subscription's
    /// `Context` in the document. Returns each destination's HTTP status.
    ///
    /// As strict as DMTF's Redfish Mockup Server (its `SubmitTestEvent` action; the server is
    /// not in any registry this project installs from, so this fake stands in): an event goes only to subscriptions that have `EventTypes` and list
    /// its `EventType` (the first record's, else `Alert`) — unless the service refuses
    /// `EventTypes` ([`FakeRedfish::refuse_event_types`]).
    pub async fn push_event(&self, doc: &Value, ca: Option<&Path>) -> Vec<u16> {
        let all = self.state.lock().unwrap().refuse_event_types;
        let ty = doc["Events"][0]["EventType"].as_str().unwrap_or("Alert");
        let subs: Vec<Value> = self
            .subscriptions()
            .into_iter()
            .filter(|s| {
                all || s["EventTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == ty))
            })
            .collect();
        let mut out = Vec::new();
        for sub in subs {
            let mut d = doc.clone();
            d["Context"] = sub["Context"].clone();
            out.push(post(sub["Destination"].as_str().unwrap(), &d.to_string(), ca).await);
        }
        out
    }

    /// Requests served (`METHOD path?query`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn error(status: u16, message: &str) -> Response {
    let body = json!({"error": {"code": "Base.1.0.GeneralError", "message": message,
        "@Message.ExtendedInfo": [{"MessageId": "Base.1.0.GeneralError", "Message": message}]}});
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(status: StatusCode, v: &Value, extra: &[(&'static str, String)]) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response();
    for (k, val) in extra {
        r.headers_mut()
            .insert(*k, val.parse().expect("header value"));
    }
    r
}

const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

async fn handle(
    AxState(st): AxState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = {
        let mut s = st.lock().unwrap();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let r = answer(&st, method, uri, headers, body).await;
    st.lock().unwrap().in_flight -= 1;
    r
}

async fn answer(
    st: &Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let fault = {
        let mut s = st.lock().unwrap();
        s.requests.push(format!(
            "{method} {path}{}",
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        ));
        s.faults.get(&path).cloned()
    };
    // Log in.
    if method == Method::POST && path == SESSIONS {
        let creds: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut s = st.lock().unwrap();
        if s.no_sessions {
            return error(405, "SessionService is not supported");
        }
        if creds["UserName"] != s.user.as_str() || creds["Password"] != s.password.as_str() {
            return error(401, "Invalid username or password");
        }
        s.next_session += 1;
        s.logins += 1;
        let token = format!("token-{}", s.next_session);
        let loc = format!("{SESSIONS}/{}", s.next_session);
        s.sessions.insert(token.clone(), loc.clone());
        let v = json!({"@odata.id": loc, "Id": s.next_session.to_string(), "UserName": s.user});
        return json_response(
            StatusCode::CREATED,
            &v,
            &[("x-auth-token", token), ("location", loc)],
        );
    }
    // Authenticate everything but the service root.
    let is_root = path == "/redfish/v1" || path == "/redfish";
    if !is_root {
        let s = st.lock().unwrap();
        let ok = match s.auth.unwrap_or(AuthMode::None) {
            AuthMode::None => true,
            AuthMode::Basic => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .is_some_and(|d| d == format!("{}:{}", s.user, s.password).as_bytes()),
            AuthMode::Session => headers
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| s.sessions.contains_key(t)),
        };
        if !ok {
            return error(401, "Authentication required");
        }
    }
    // Log out.
    if method == Method::DELETE && path.starts_with(SESSIONS) {
        let mut s = st.lock().unwrap();
        let token = headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if s.sessions.get(&token) == Some(&path) {
            s.sessions.remove(&token);
        }
        s.deleted.push(path);
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Some(Fault::Status(code)) = &fault {
        return error(*code, "Injected failure");
    }
    if let Some(r) = events(st, &method, &path, &headers, &body) {
        return r;
    }
    if method != Method::GET {
        return error(405, "Method not allowed");
    }
    match fault {
        Some(Fault::Status(code)) => return error(code, "Injected failure"),
        Some(Fault::InvalidJson) => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "{\"Id\": \"Thermal\", <html>",
            )
                .into_response();
        }
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        Some(Fault::Body(b)) => {
            return ([(header::CONTENT_TYPE, "application/json")], b).into_response();
        }
        None => {}
    }
    let Some(mut doc) = mockup(&path) else {
        return error(404, &format!("{path} not found"));
    };
    if path == "/redfish/v1/EventService" {
        doc["ServerSentEventUri"] = json!(SSE);
    }
    if query.contains("$expand") {
        if !st.lock().unwrap().expand {
            return error(400, "$expand is not supported");
        }
        if let Some(members) = doc.get_mut("Members").and_then(Value::as_array_mut) {
            for m in members.iter_mut() {
                if let Some(full) = m["@odata.id"].as_str().and_then(mockup) {
                    *m = full;
                }
            }
        }
    }
    json_response(StatusCode::OK, &doc, &[])
}

/// The EventService's dynamic part: client subscriptions (POST, GET, DELETE; the mockup's own
/// four stay listed and untouched) and the SSE stream.
fn events(
    st: &Arc<Mutex<State>>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let mut s = st.lock().unwrap();
    if path == SUBSCRIPTIONS && method == Method::GET {
        let mut doc = mockup(SUBSCRIPTIONS)?;
        let members = doc["Members"].as_array_mut()?;
        for (uri, _) in &s.subscriptions {
            members.push(json!({"@odata.id": uri}));
        }
        doc["Members@odata.count"] = json!(members.len());
        return Some(json_response(StatusCode::OK, &doc, &[]));
    }
    if path == SUBSCRIPTIONS && method == Method::POST {
        let req: Value = serde_json::from_slice(body).ok()?;
        if req["Destination"].as_str().is_none() || req["Protocol"] != "Redfish" {
            return Some(error(400, "Destination and Protocol Redfish are required"));
        }
        if s.refuse_event_types && req.get("EventTypes").is_some() {
            let body = json!({"error": {"code": "Base.1.0.PropertyUnknown",
                "message": "The property EventTypes is not in the list of valid properties for the resource.",
                "@Message.ExtendedInfo": [{"MessageId": "Base.1.0.PropertyUnknown",
                    "Message": "The property EventTypes is not in the list of valid properties for the resource.",
                    "MessageArgs": ["EventTypes"]}]}});
            return Some(json_response(StatusCode::BAD_REQUEST, &body, &[]));
        }
        let types = req.get("EventTypes").cloned();
        if let Some(t) = &types {
            let allowed = mockup("/redfish/v1/EventService")?["EventTypesForSubscription"].clone();
            let ok = t.as_array().is_some_and(|t| {
                t.iter()
                    .all(|x| allowed.as_array().is_some_and(|a| a.contains(x)))
            });
            if !ok {
                return Some(error(
                    400,
                    "EventTypes lists a type not in EventTypesForSubscription",
                ));
            }
        }
        s.next_subscription += 1;
        let uri = format!("{SUBSCRIPTIONS}/{}", 100 + s.next_subscription);
        let mut doc = json!({
            "@odata.type": "#EventDestination.v1_14_0.EventDestination",
            "@odata.id": uri,
            "Id": (100 + s.next_subscription).to_string(),
            "Destination": req["Destination"],
            "Protocol": "Redfish",
            "Context": req["Context"],
        });
        if let Some(t) = types {
            doc["EventTypes"] = t;
        }
        s.subscriptions.push((uri.clone(), doc.clone()));
        return Some(json_response(
            StatusCode::CREATED,
            &doc,
            &[("location", uri)],
        ));
    }
    if let Some(i) = s.subscriptions.iter().position(|(u, _)| u == path) {
        if *method == Method::DELETE {
            s.subscriptions.remove(i);
            s.unsubscribed.push(path.to_owned());
            return Some(StatusCode::NO_CONTENT.into_response());
        }
        return Some(json_response(StatusCode::OK, &s.subscriptions[i].1, &[]));
    }
    if path.starts_with(SUBSCRIPTIONS) && *method == Method::DELETE {
        // One of the mockup's subscriptions: a client must never delete it.
        s.unsubscribed.push(path.to_owned());
        return Some(StatusCode::NO_CONTENT.into_response());
    }
    if path == SSE && *method == Method::GET {
        let last: u64 = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                s.sse_connects.push(v.to_owned());
                v.parse().unwrap_or(0)
            })
            .unwrap_or_else(|| {
                s.sse_connects.push(String::new());
                0
            });
        let generation = s.sse_generation;
        let st = st.clone();
        let stream = futures::stream::unfold(last, move |mut sent| {
            let st = st.clone();
            async move {
                loop {
                    let next = {
                        let s = st.lock().unwrap();
                        if s.sse_generation != generation {
                            return None;
                        }
                        s.sse_events.iter().find(|(n, _)| *n > sent).cloned()
                    };
                    match next {
                        Some((n, doc)) => {
                            sent = n;
                            let frame = format!("id: {n}\ndata: {doc}\n\n");
                            return Some((
                                Ok::<_, std::convert::Infallible>(Bytes::from(frame)),
                                sent,
                            ));
                        }
                        None => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
        });
        let mut r = axum::body::Body::from_stream(stream).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        return Some(r);
    }
    None
}

/// A plain HTTP/1.1 POST of JSON (over TLS trusting `ca` for `https://`): the status.
pub async fn post(url: &str, body: &str, ca: Option<&Path>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tls, rest) = match url.split_once("://") {
        Some(("https", r)) => (true, r),
        Some((_, r)) => (false, r),
        None => (false, url),
    };
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(tcp) = tokio::net::TcpStream::connect(hostport).await else {
        return 0;
    };
    let mut out = Vec::new();
    if tls {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca.expect("a CA for https")).unwrap();
        for c in rustls_pemfile::certs(&mut &pem[..]) {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let host = hostport
            .rsplit_once(':')
            .map_or(hostport, |(h, _)| h)
            .to_owned();
        let name = rustls::pki_types::ServerName::try_from(host).unwrap();
        let Ok(mut t) = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
        else {
            return 0;
        };
        t.write_all(req.as_bytes()).await.unwrap();
        let _ = t.read_to_end(&mut out).await;
    } else {
        let mut t = tcp;
        t.write_all(req.as_bytes()).await.unwrap();
        let _ = t.read_to_end(&mut out).await;
    }
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
