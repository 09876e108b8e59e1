//! Listeners for every server Strata runs (OTLP gRPC and HTTP, Zipkin, the Prometheus
//! endpoint, self-telemetry): TCP with `TCP_NODELAY`, optionally TLS ([`TlsServerConfig`]),
//! and who is on the other end ([`PeerInfo`]: address and verified client-certificate
//! subject) for authentication.
//!
//! TLS handshakes run in their own tasks with a deadline, so a slow or hostile client never
//! holds up the accept loop. A failed handshake (plaintext on a TLS port, a protocol version
//! below `min_version`, a client certificate from another CA) is counted in
//! `otelcol_receiver_refused_requests{receiver, transport, reason="tls_handshake"}` for
//! receivers and logged at debug level with its cause.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::component::Tasks;
use crate::telemetry::Counter;
use crate::tls::Reloading;

/// The longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The client's address.
    pub addr: SocketAddr,
    /// The subject of the client certificate the TLS handshake verified (mTLS), in RFC 4514
    /// form (`CN=sidecar,O=team-a`); `None` without a client certificate.
    pub cert_subject: Option<String>,
}

/// A connection: plaintext (`Left`) or TLS over TCP (`Right`, boxed: the rustls state is
/// large). tokio-util's `Either` does the reading and writing for both.
pub type Io =
    tokio_util::either::Either<TcpStream, Box<tokio_rustls::server::TlsStream<TcpStream>>>;

/// Accepted (and, with TLS, handshaken) connections of one listener, in arrival order.
pub struct Incoming {
    rx: mpsc::Receiver<(Io, PeerInfo)>,
    local: SocketAddr,
}

impl Incoming {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection; `None` once the listener stopped.
    pub async fn next(&mut self) -> Option<(Io, PeerInfo)> {
        self.rx.recv().await
    }

    /// The connections as a stream of results (what tonic's `serve_with_incoming` takes),
    /// each mapped by `f`.
    pub fn into_stream<C>(
        self,
        f: impl Fn(Io, PeerInfo) -> C + Send + 'static,
    ) -> impl futures::Stream<Item = Result<C, io::Error>> + Send + 'static
    where
        C: Send + 'static,
    {
        futures::stream::unfold((self, f), |(mut inc, f)| async move {
            let (io, peer) = inc.next().await?;
            Some((Ok(f(io, peer)), (inc, f)))
        })
    }
}

/// Accepts connections on `listener` until `tasks` stops; with `tls`, each connection's
/// handshake runs in its own task and only connections that complete it are handed on, using
/// the TLS material current when they connected. `refused` counts failed handshakes.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<Reloading<rustls::ServerConfig>>>,
    refused: Option<Counter>,
    tasks: &Tasks,
    what: String,
) -> io::Result<Incoming> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(64);
    let cancel = tasks.token();
    let handshakes = tasks.tracker();
    tasks.spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = cancel.cancelled() => return,
                a = listener.accept() => a,
            };
            let (tcp, addr) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(server = %what, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let Some(tls) = &tls else {
                let peer = PeerInfo {
                    addr,
                    cert_subject: None,
                };
                if tx.send((Io::Left(tcp), peer)).await.is_err() {
                    return;
                }
                continue;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
            let (tx, refused, what, cancel) =
                (tx.clone(), refused.clone(), what.clone(), cancel.clone());
            handshakes.spawn(async move {
                let hs = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => r,
                };
                match hs {
                    Ok(Ok(stream)) => {
                        let cert_subject = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|c| subject_of(c));
                        let peer = PeerInfo { addr, cert_subject };
                        let _ = tx.send((Io::Right(Box::new(stream)), peer)).await;
                    }
                    Ok(Err(e)) => {
                        if let Some(c) = &refused {
                            c.add(1);
                        }
                        tracing::debug!(server = %what, peer = %addr, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        if let Some(c) = &refused {
                            c.add(1);
                        }
                        tracing::debug!(server = %what, peer = %addr, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    Ok(Incoming { rx, local })
}

/// The RFC 4514 subject of a DER certificate (`CN=sidecar,O=team-a`).
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

impl axum::serve::Listener for Incoming {
    type Io = Io;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ended (shutdown): park until axum's graceful shutdown fires.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(PeerInfo {
            addr: self.local,
            cert_subject: None,
        })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Incoming>>
    for PeerInfo
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Incoming>) -> Self {
        stream.remote_addr().clone()
    }
}
