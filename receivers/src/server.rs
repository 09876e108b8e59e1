//! What every push receiver's server shares: the security settings of one protocol (`tls`,
//! `auth`, `include_metadata`, the Collector's `confighttp`/`configgrpc` server keys), the
//! authentication of a request before its body is read, and the connection type tonic serves.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Deserialize;
use strata_pipelines::auth::{AuthConfig, AuthRequest, ClientContext, ServerAuthenticator};
use strata_pipelines::net::{Io, PeerInfo};
use strata_pipelines::tls::TlsServerConfig;
use strata_pipelines::{ConfigError, Host, ReceiverObs};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The security keys of a server protocol, flattened into its config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSecurity {
    /// TLS; absent = plaintext. `client_ca_file` set = client certificates required.
    pub tls: Option<TlsServerConfig>,
    /// The authenticator extension checking each request's credentials.
    pub auth: Option<AuthConfig>,
    /// Copy request headers into the client context as `metadata.<name>` (credentials
    /// excepted), for `from_context`, `batch`'s `metadata_keys` and `headers_setter`.
    pub include_metadata: bool,
}

impl ServerSecurity {
    /// Checks the TLS settings.
    ///
    /// # Errors
    /// What [`TlsServerConfig::validate`] finds, under `path::tls`.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if let Some(t) = &self.tls {
            t.validate(&format!("{path}::tls"))?;
        }
        Ok(())
    }

    /// The request gate for these settings, with the authenticator looked up in `host`.
    ///
    /// # Errors
    /// The authenticator extension is missing or is not a server authenticator.
    pub fn gate(&self, host: &Host, obs: ReceiverObs) -> Result<Gate, String> {
        let auth = match &self.auth {
            Some(a) => Some(host.server_authenticator(&a.authenticator)?),
            None => None,
        };
        Ok(Gate {
            auth,
            include_metadata: self.include_metadata,
            obs,
        })
    }
}

/// Checks each request's credentials before its body is read, and builds its client context.
#[derive(Clone)]
pub struct Gate {
    auth: Option<Arc<dyn ServerAuthenticator>>,
    include_metadata: bool,
    obs: ReceiverObs,
}

/// A refused credential: the message for the client (never the credential) and the
/// `WWW-Authenticate` challenge.
pub struct Unauthenticated {
    /// Why, for the response and the debug log.
    pub message: String,
    /// The `WWW-Authenticate` value of a 401.
    pub challenge: String,
}

impl Gate {
    /// The client context of a request with `headers` on connection `peer`: the
    /// authenticator's attributes (and `subject`, the verified client certificate's), the
    /// metadata when `include_metadata`, the address.
    ///
    /// # Errors
    /// The authenticator refused: counted in
    /// `otelcol_receiver_refused_requests{reason="unauthenticated"}` and logged at debug
    /// with the cause (never the credential).
    pub fn check(
        &self,
        headers: &http::HeaderMap,
        peer: Option<&PeerInfo>,
    ) -> Result<Arc<ClientContext>, Unauthenticated> {
        let mut ctx = ClientContext {
            addr: peer.map(|p| p.addr),
            ..Default::default()
        };
        if let Some(subject) = peer.and_then(|p| p.cert_subject.as_ref()) {
            ctx.auth.insert("subject".into(), subject.clone());
        }
        if let Some(a) = &self.auth {
            match a.authenticate(&AuthRequest { headers, peer }) {
                Ok(attrs) => ctx.auth.extend(attrs),
                Err(e) => {
                    self.obs.refused_request("unauthenticated");
                    tracing::debug!(
                        peer = ?peer.map(|p| p.addr),
                        error = %e,
                        "request refused: unauthenticated"
                    );
                    return Err(Unauthenticated {
                        message: format!("unauthenticated: {e}"),
                        challenge: a.challenge(),
                    });
                }
            }
        }
        if self.include_metadata {
            let secret = self.auth.as_ref().and_then(|a| a.credential_header());
            let secret = secret.map(str::to_ascii_lowercase);
            ctx.add_metadata(headers, secret.as_deref());
        }
        Ok(Arc::new(ctx))
    }
}

/// A connection as tonic serves it: the stream and who is on the other end, which tonic puts
/// in every request's extensions (`PeerInfo`).
pub struct GrpcConn(pub Io, pub PeerInfo);

impl tonic::transport::server::Connected for GrpcConn {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.1.clone()
    }
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
