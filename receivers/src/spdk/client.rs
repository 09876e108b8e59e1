//! JSON-RPC 2.0 client for SPDK: jsonrpsee's async client (ids, matching of out-of-order
//! responses, timeouts) over three transports written here — a unix socket, TCP, and SPDK's
//! `rpc_http_proxy.py`.
//!
//! Framing as SPDK does it (see `tests/fixtures/spdk/README.md`): a request needs no framing,
//! every response is one line of compact JSON ended by exactly one `\n`, and responses come in
//! completion order. Requests always carry an id (SPDK v25.09 answers a notification with a
//! truncated, unterminated response). The HTTP proxy answers HTTP/1.0 with no
//! `Content-Length`, status 200 even for JSON-RPC errors, 401 with an empty body for bad
//! credentials.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::async_client::{Client, ClientBuilder};
use jsonrpsee::core::client::{
    ClientT, Error as RpcError, ReceivedMessage, TransportReceiverT, TransportSenderT,
};
use jsonrpsee::core::params::ObjectParams;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};

use super::config::{Config, Endpoint};

/// Longest response line accepted (a target with thousands of bdevs stays well below).
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The target answered with a JSON-RPC error.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// The error code (-32601 = method not found; negative errno values).
        code: i32,
        /// The message.
        message: String,
    },
    /// The call did not complete in time.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Connecting, sending or receiving failed, or the response was not JSON-RPC.
    #[error("{0}")]
    Transport(String),
    /// The target cannot be reached at all (no socket, connection refused, HTTP 401/403):
    /// the other methods of this scrape would fail the same way.
    #[error("{0}")]
    Unreachable(String),
}

impl CallError {
    /// True for "method not found" (-32601): the target does not have the method.
    pub fn is_unknown_method(&self) -> bool {
        matches!(self, CallError::Rpc { code: -32601, .. })
    }
}

/// A transport failure, as jsonrpsee's transports report it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    message: String,
    /// The target refused us as a whole (authentication).
    unreachable: bool,
}

impl TransportError {
    /// A failure of one exchange; the target may answer the next one.
    fn new(message: impl Into<String>) -> TransportError {
        TransportError {
            message: message.into(),
            unreachable: false,
        }
    }
}

/// Sends over a byte stream (unix socket or TCP).
struct StreamSender<W>(W);

impl<W: AsyncWrite + Unpin + Send + 'static> TransportSenderT for StreamSender<W> {
    type Error = TransportError;

    async fn send(&mut self, msg: String) -> Result<(), TransportError> {
        // SPDK's parser needs no delimiter; the newline keeps captures readable.
        self.0
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .map_err(|e| TransportError::new(format!("send: {e}")))
    }
}

/// Receives newline-terminated responses from a byte stream.
struct StreamReceiver<R>(BufReader<R>);

impl<R: AsyncRead + Unpin + Send + 'static> TransportReceiverT for StreamReceiver<R> {
    type Error = TransportError;

    async fn receive(&mut self) -> Result<ReceivedMessage, TransportError> {
        let mut line = Vec::new();
        let n = (&mut self.0)
            .take(MAX_RESPONSE_BYTES)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| TransportError::new(format!("receive: {e}")))?;
        if n == 0 {
            return Err(TransportError::new("connection closed by the target"));
        }
        if line.last() != Some(&b'\n') {
            return Err(TransportError::new(if n as u64 >= MAX_RESPONSE_BYTES {
                format!("response larger than {MAX_RESPONSE_BYTES} bytes")
            } else {
                format!("connection closed mid-response after {n} bytes")
            }));
        }
        String::from_utf8(line)
            .map(ReceivedMessage::Text)
            .map_err(|_| TransportError::new("response is not UTF-8"))
    }
}

/// Sends each request as one HTTP POST to the proxy; the response body goes to the receiver.
struct HttpSender {
    client: reqwest::Client,
    url: String,
    auth: Option<(String, String)>,
    responses: mpsc::UnboundedSender<Result<String, (String, bool)>>,
}

impl TransportSenderT for HttpSender {
    type Error = TransportError;

    async fn send(&mut self, msg: String) -> Result<(), TransportError> {
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(msg);
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        let outcome = match req.send().await {
            Err(e) if e.is_connect() => Err((format!("POST {}: {e}", self.url), true)),
            Err(e) => Err((format!("POST {}: {e}", self.url), false)),
            Ok(resp)
                if resp.status() == reqwest::StatusCode::UNAUTHORIZED
                    || resp.status() == reqwest::StatusCode::FORBIDDEN =>
            {
                Err((
                    format!(
                        "POST {}: HTTP {}: check username and password",
                        self.url,
                        resp.status()
                    ),
                    true,
                ))
            }
            Ok(resp) if !resp.status().is_success() => {
                Err((format!("POST {}: HTTP {}", self.url, resp.status()), false))
            }
            Ok(resp) => resp
                .text()
                .await
                .map_err(|e| (format!("POST {}: reading the body: {e}", self.url), false)),
        };
        self.responses
            .send(outcome)
            .map_err(|_| TransportError::new("client closed"))
    }
}

struct HttpReceiver(mpsc::UnboundedReceiver<Result<String, (String, bool)>>);

impl TransportReceiverT for HttpReceiver {
    type Error = TransportError;

    async fn receive(&mut self) -> Result<ReceivedMessage, TransportError> {
        match self.0.recv().await {
            Some(Ok(body)) => Ok(ReceivedMessage::Text(body)),
            Some(Err((message, unreachable))) => Err(TransportError {
                message,
                unreachable,
            }),
            None => Err(TransportError::new("client closed")),
        }
    }
}

/// A connection to one SPDK target, made on first use and again after any transport failure.
pub struct SpdkClient {
    endpoint: Endpoint,
    shown: String,
    timeout: Duration,
    http: Option<(reqwest::Client, Option<(String, String)>)>,
    conn: Mutex<Option<Arc<Client>>>,
}

impl SpdkClient {
    /// A client for `cfg` (validated).
    ///
    /// # Errors
    /// An invalid endpoint or TLS file.
    pub fn new(cfg: &Config) -> Result<SpdkClient, String> {
        let endpoint = Endpoint::parse(&cfg.endpoint)?;
        let http = match &endpoint {
            Endpoint::Http(_) => {
                let tls = cfg.tls.rustls_config()?;
                let client = reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .timeout(cfg.timeout)
                    .build()
                    .map_err(|e| e.to_string())?;
                let auth = cfg.username.clone().zip(cfg.password.clone());
                Some((client, auth))
            }
            _ => None,
        };
        Ok(SpdkClient {
            shown: cfg.endpoint.clone(),
            endpoint,
            timeout: cfg.timeout,
            http,
            conn: Mutex::new(None),
        })
    }

    /// The unix socket path, when the endpoint is one.
    pub fn unix_path(&self) -> Option<&str> {
        match &self.endpoint {
            Endpoint::Unix(p) => Some(p),
            _ => None,
        }
    }

    /// The endpoint as configured, for messages.
    pub fn endpoint(&self) -> &str {
        &self.shown
    }

    async fn connect(&self) -> Result<Client, CallError> {
        let builder = ClientBuilder::default()
            .request_timeout(self.timeout)
            .max_concurrent_requests(16);
        let connect = async {
            Ok(match &self.endpoint {
                Endpoint::Unix(path) => {
                    let s = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| CallError::Unreachable(format!("connect {path}: {e}")))?;
                    let (r, w) = s.into_split();
                    builder.build_with_tokio(StreamSender(w), StreamReceiver(BufReader::new(r)))
                }
                Endpoint::Tcp(addr) => {
                    let s = tokio::net::TcpStream::connect(addr)
                        .await
                        .map_err(|e| CallError::Unreachable(format!("connect {addr}: {e}")))?;
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    builder.build_with_tokio(StreamSender(w), StreamReceiver(BufReader::new(r)))
                }
                Endpoint::Http(url) => {
                    let (client, auth) = self
                        .http
                        .clone()
                        .ok_or_else(|| CallError::Transport("http client not configured".into()))?;
                    let (tx, rx) = mpsc::unbounded_channel();
                    builder.build_with_tokio(
                        HttpSender {
                            client,
                            url: url.clone(),
                            auth,
                            responses: tx,
                        },
                        HttpReceiver(rx),
                    )
                }
            })
        };
        tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| CallError::Timeout(self.timeout))?
    }

    /// Calls `method` with named `params` (none when `None`) and returns its `result`.
    ///
    /// # Errors
    /// See [`CallError`]. After a transport failure or a timeout the connection is dropped and
    /// the next call connects again.
    pub async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, CallError> {
        let mut conn = self.conn.lock().await;
        let client = match conn.as_ref().filter(|c| c.is_connected()) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(self.connect().await?);
                *conn = Some(c.clone());
                c
            }
        };
        let mut p = ObjectParams::new();
        if let Some(Value::Object(map)) = params {
            for (k, v) in map {
                p.insert(&k, v)
                    .map_err(|e| CallError::Transport(e.to_string()))?;
            }
        }
        let r = client.request::<Value, _>(method, p).await;
        match r {
            Ok(v) => Ok(v),
            Err(RpcError::Call(e)) => Err(CallError::Rpc {
                code: e.code(),
                message: e.message().to_owned(),
            }),
            Err(e) => {
                // The connection may hold a late response or be dead: start afresh next time.
                *conn = None;
                Err(match e {
                    RpcError::RequestTimeout => CallError::Timeout(self.timeout),
                    RpcError::RestartNeeded(cause) => {
                        let unreachable = match &*cause {
                            RpcError::Transport(t) => t
                                .downcast_ref::<TransportError>()
                                .is_some_and(|t| t.unreachable),
                            _ => false,
                        };
                        let m = shorten(&cause.to_string());
                        if unreachable {
                            CallError::Unreachable(m)
                        } else {
                            CallError::Transport(m)
                        }
                    }
                    other => CallError::Transport(shorten(&other.to_string())),
                })
            }
        }
    }
}

/// At most 200 characters of `s` (garbage responses are echoed in jsonrpsee's errors).
fn shorten(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
