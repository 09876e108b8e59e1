//! Who sent the data: the request's client context (the Collector's `client.Info`), and the
//! authenticator traits that fill it (server side) or use it (client side).
//!
//! A receiver that authenticates a request runs the pipeline call inside
//! [`ClientContext::scope`], so every processor, fanout and exporter called for that request
//! sees it through [`ClientContext::current`] — the call chain is one task, as a Go
//! `context.Context` travels with the call. Components that hold data past the call capture
//! the context and restore it when they send: `batch` (which partitions by it, never merging
//! two tenants) and the exporters' sending queues.
//!
//! Keys, as `from_context` and `metadata_keys` name them:
//! - `auth.<attr>`: set by the authenticator — `auth.tenant`, `auth.username` (basic),
//!   `auth.subject` (the verified client certificate's subject);
//! - `metadata.<lower-case header>`: request headers, with `include_metadata: true` on the
//!   receiver protocol (credential headers are never copied);
//! - `client.address`: the peer's IP address;
//! - a bare name is a metadata key (the Collector's `headers_setter` and `batch` form).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;

use crate::id::ComponentId;
use crate::net::PeerInfo;

tokio::task_local! {
    static CONTEXT: Arc<ClientContext>;
}

/// The client context of one request: authenticated attributes, request metadata and address.
/// Serialized (JSON) with a request in a persistent sending queue, so the tenant survives a
/// restart.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize,
)]
#[serde(default)]
pub struct ClientContext {
    /// The client's address.
    pub addr: Option<SocketAddr>,
    /// Attributes the authenticator set (`tenant`, `username`, `subject`), without the
    /// `auth.` prefix.
    pub auth: BTreeMap<String, String>,
    /// Request headers (lower-case names) when the receiver has `include_metadata: true`.
    pub metadata: BTreeMap<String, Vec<String>>,
}

/// Headers never copied into the metadata: credentials, and the transport's own.
const NOT_METADATA: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "te",
    "connection",
    "host",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-timeout",
    "accept-encoding",
];

impl ClientContext {
    /// The context of the request being processed, if its receiver set one.
    pub fn current() -> Option<Arc<ClientContext>> {
        CONTEXT.try_with(Arc::clone).ok()
    }

    /// Runs `f` with `ctx` as the current context.
    pub async fn scope<F: std::future::Future>(ctx: Arc<ClientContext>, f: F) -> F::Output {
        CONTEXT.scope(ctx, f).await
    }

    /// Runs `f` with `ctx` as the current context when there is one, else as it is.
    pub async fn scope_opt<F: std::future::Future>(
        ctx: Option<Arc<ClientContext>>,
        f: F,
    ) -> F::Output {
        match ctx {
            Some(c) => CONTEXT.scope(c, f).await,
            None => f.await,
        }
    }

    /// `f` with the current context (if any) as its context: for a future that is spawned
    /// as a task of its own, which would otherwise start without one.
    pub fn carry<F: std::future::Future>(f: F) -> impl std::future::Future<Output = F::Output> {
        Self::scope_opt(Self::current(), f)
    }

    /// The value of `key` (see the module docs for the key forms); the first value of a
    /// multi-valued header.
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(a) = key.strip_prefix("auth.") {
            return self.auth.get(a).cloned();
        }
        if key == "client.address" {
            return self.addr.map(|a| a.ip().to_string());
        }
        let m = key.strip_prefix("metadata.").unwrap_or(key);
        self.metadata
            .get(&m.to_ascii_lowercase())
            .and_then(|v| v.first())
            .cloned()
    }

    /// Copies `headers` into the metadata, except credentials (`authorization`, cookies,
    /// `extra_secret` — the authenticator's own header) and transport headers.
    pub fn add_metadata(&mut self, headers: &http::HeaderMap, extra_secret: Option<&str>) {
        for (name, value) in headers {
            let n = name.as_str();
            if NOT_METADATA.contains(&n) || n.starts_with(':') || Some(n) == extra_secret {
                continue;
            }
            if let Ok(v) = value.to_str() {
                self.metadata
                    .entry(n.to_owned())
                    .or_default()
                    .push(v.to_owned());
            }
        }
    }

    /// The part of this context that `batch` and sending queues keep apart: every `auth.*`
    /// attribute, and the metadata `keys` name (all metadata when `keys` is `None`).
    pub fn partition(&self, keys: Option<&[String]>) -> ClientContext {
        let metadata = match keys {
            None => self.metadata.clone(),
            Some(keys) => keys
                .iter()
                .filter_map(|k| {
                    let k = k
                        .strip_prefix("metadata.")
                        .unwrap_or(k)
                        .to_ascii_lowercase();
                    self.metadata.get(&k).map(|v| (k, v.clone()))
                })
                .collect(),
        };
        ClientContext {
            addr: None,
            auth: self.auth.clone(),
            metadata,
        }
    }
}

/// The first byte of a persistent-queue record that carries a client context before its OTLP
/// bytes. No OTLP request starts with it (wire type 7 does not exist), so records written
/// before contexts were stored read as they are.
const ENVELOPE: u8 = 0xFF;

/// `data` prefixed with `ctx` for a persistent queue: `0xFF`, the context's JSON length as a
/// big-endian u32, the JSON, then `data`. Without a context, `data` as it is.
pub fn envelope(ctx: Option<&ClientContext>, data: &[u8]) -> Vec<u8> {
    let Some(ctx) = ctx else {
        return data.to_vec();
    };
    let json = serde_json::to_vec(ctx).unwrap_or_default();
    let mut out = Vec::with_capacity(5 + json.len() + data.len());
    out.push(ENVELOPE);
    out.extend_from_slice(&u32::try_from(json.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    out
}

/// Splits a record made by [`envelope`] into its context and its OTLP bytes.
///
/// # Errors
/// A record that starts like an envelope but is cut short or holds bad JSON.
pub fn open_envelope(record: &[u8]) -> Result<(Option<ClientContext>, &[u8]), String> {
    if record.first() != Some(&ENVELOPE) {
        return Ok((None, record));
    }
    let len = record
        .get(1..5)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("client context envelope cut short")?;
    let json = record
        .get(5..5 + len)
        .ok_or("client context envelope cut short")?;
    let ctx = serde_json::from_slice(json).map_err(|e| format!("client context: {e}"))?;
    Ok((Some(ctx), &record[5 + len..]))
}

/// Why an authenticator refused a request. The message never contains the credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// What a server authenticator looks at: the request headers and the connection.
pub struct AuthRequest<'a> {
    /// The request headers (HTTP/1.1 headers or HTTP/2 / gRPC metadata).
    pub headers: &'a http::HeaderMap,
    /// The connection the request came on.
    pub peer: Option<&'a PeerInfo>,
}

/// A server-side authenticator (the Collector's `extensionauth.Server`): checks a request's
/// credentials from its headers, before its body is read.
pub trait ServerAuthenticator: Send + Sync {
    /// The attributes of the authenticated client (`tenant`, `username`, ...), or why not.
    ///
    /// # Errors
    /// A missing or wrong credential: the receiver answers `UNAUTHENTICATED` / 401.
    fn authenticate(&self, req: &AuthRequest<'_>) -> Result<BTreeMap<String, String>, AuthError>;

    /// The `WWW-Authenticate` challenge of a 401 (`Bearer realm="strata"`).
    fn challenge(&self) -> String;

    /// The header carrying the credential when it is not `authorization`: it is never copied
    /// into the metadata.
    fn credential_header(&self) -> Option<&str> {
        None
    }
}

/// A client-side authenticator (the Collector's `extensionauth.HTTPClient`/`GRPCClient`):
/// headers added to every outgoing request, given the context of the data being sent.
pub trait ClientAuthenticator: Send + Sync {
    /// Headers to set on a request carrying data of `ctx`.
    ///
    /// # Errors
    /// The credential cannot be produced (a token file that became unreadable); the export
    /// fails retryably.
    fn headers(
        &self,
        ctx: Option<&ClientContext>,
    ) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, AuthError>;
}

/// `auth:` on a receiver protocol or an exporter: the authenticator extension to use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The id of an authenticator extension listed in `service.extensions`.
    pub authenticator: ComponentId,
}

/// `router` with every request first checked by the server authenticator `id` (confighttp
/// `auth: {authenticator: <id>}` on a server that has no receiver of its own: `zpages`, the
/// `prometheus` exporter's endpoint). A refused request gets 401 with the authenticator's
/// challenge, is counted in `otelcol_receiver_refused_requests{receiver=<what>,
/// reason="unauthenticated"}` and logged with its cause (never the credential).
///
/// # Errors
/// The authenticator is not configured or is not a server authenticator.
pub fn require(
    router: axum::Router,
    host: &crate::Host,
    id: &crate::ComponentId,
    what: &str,
) -> Result<axum::Router, String> {
    use axum::response::IntoResponse as _;
    let auth = host.server_authenticator(id)?;
    let refused = host.telemetry.counter(
        "otelcol_receiver_refused_requests",
        &[
            ("receiver", what),
            ("transport", "http"),
            ("reason", "unauthenticated"),
        ],
    );
    let what = what.to_owned();
    Ok(router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let (auth, refused, what) = (auth.clone(), refused.clone(), what.clone());
            async move {
                let peer = req
                    .extensions()
                    .get::<axum::extract::ConnectInfo<crate::net::PeerInfo>>()
                    .map(|c| c.0.clone());
                let r = auth.authenticate(&AuthRequest {
                    headers: req.headers(),
                    peer: peer.as_ref(),
                });
                match r {
                    Ok(_) => next.run(req).await,
                    Err(e) => {
                        refused.add(1);
                        tracing::warn!(component = %what, error = %e.0, "request refused: unauthenticated");
                        (
                            http::StatusCode::UNAUTHORIZED,
                            [(http::header::WWW_AUTHENTICATE, auth.challenge())],
                            "unauthenticated\n",
                        )
                            .into_response()
                    }
                }
            }
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_and_credentials_never_become_metadata() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        h.insert("x-api-key", "s3cret".parse().unwrap());
        h.insert("x-scope-orgid", "B".parse().unwrap());
        h.append("x-multi", "1".parse().unwrap());
        h.append("x-multi", "2".parse().unwrap());
        let mut c = ClientContext {
            addr: Some("10.0.0.7:5000".parse().unwrap()),
            ..Default::default()
        };
        c.auth.insert("tenant".into(), "A".into());
        c.add_metadata(&h, Some("x-api-key"));
        assert_eq!(c.get("auth.tenant").as_deref(), Some("A"));
        assert_eq!(c.get("metadata.x-scope-orgid").as_deref(), Some("B"));
        assert_eq!(c.get("X-Scope-OrgID").as_deref(), Some("B"));
        assert_eq!(c.get("client.address").as_deref(), Some("10.0.0.7"));
        assert_eq!(c.metadata["x-multi"], vec!["1", "2"]);
        assert!(c.get("authorization").is_none());
        assert!(c.get("x-api-key").is_none());
        let p = c.partition(Some(&["X-Scope-OrgID".into()]));
        assert_eq!(p.auth, c.auth);
        assert_eq!(p.metadata.len(), 1);
        assert_eq!(p.addr, None);
    }

    #[test]
    fn envelopes_round_trip_and_old_records_read_as_they_are() {
        let mut c = ClientContext::default();
        c.auth.insert("tenant".into(), "A".into());
        let rec = envelope(Some(&c), b"\x0a\x00");
        let (got, data) = open_envelope(&rec).unwrap();
        assert_eq!(got, Some(c));
        assert_eq!(data, b"\x0a\x00");
        assert_eq!(
            open_envelope(b"\x0a\x00").unwrap(),
            (None, &b"\x0a\x00"[..])
        );
        assert_eq!(envelope(None, b"xy"), b"xy");
        assert!(open_envelope(&rec[..3]).is_err());
    }

    /// Records read back from disk may be anything (a torn write, another version): reading
    /// them answers an error or a split, never a panic.
    #[test]
    fn arbitrary_records_never_panic() {
        let mut c = ClientContext::default();
        c.auth.insert("tenant".into(), "A".into());
        let good = envelope(Some(&c), b"\x0a\x02\x0a\x00");
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..20_000 {
            let mut rec = if i % 2 == 0 {
                good.clone()
            } else {
                (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect()
            };
            for _ in 0..rng.usize(0..4) {
                if !rec.is_empty() {
                    let at = rng.usize(..rec.len());
                    rec[at] = rng.u8(..);
                }
            }
            if rng.bool() {
                rec.truncate(rng.usize(0..=rec.len()));
            }
            if let Ok((_, data)) = open_envelope(&rec) {
                assert!(data.len() <= rec.len());
            }
        }
    }

    #[tokio::test]
    async fn the_context_travels_with_the_call() {
        assert!(ClientContext::current().is_none());
        let mut c = ClientContext::default();
        c.auth.insert("tenant".into(), "A".into());
        let got = ClientContext::scope(Arc::new(c), async {
            tokio::task::yield_now().await;
            ClientContext::current().and_then(|c| c.get("auth.tenant"))
        })
        .await;
        assert_eq!(got.as_deref(), Some("A"));
    }
}
