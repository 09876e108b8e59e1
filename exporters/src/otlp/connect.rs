//! The `otlp` exporter's connector: TCP (`TCP_NODELAY`), then TLS with the client config
//! *current at connect time*, so rotated certificates and CAs
//! ([`strata_pipelines::tls::Reloading`]) are used by every new connection while established
//! HTTP/2 connections and their streams go on undisturbed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use strata_pipelines::tls::Reloading;
use tokio::net::TcpStream;

/// A client connection: plaintext (`Left`) or TLS over TCP (`Right`); tokio-util's `Either`
/// does the reading and writing for both.
pub type ClientIo =
    tokio_util::either::Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

/// Dials `host:port` of the URI tonic asks for; with `tls`, handshakes as `server_name`
/// (`server_name_override`, else the URI's host) using the current client config.
#[derive(Clone)]
pub struct Connector {
    /// The reloading client config; `None` = plaintext.
    pub tls: Option<Arc<Reloading<rustls::ClientConfig>>>,
    /// The name to verify instead of the URI's host.
    pub server_name: Option<String>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<ClientIo>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let (tls, name) = (self.tls.clone(), self.server_name.clone());
        Box::pin(async move {
            let host = uri.host().ok_or("endpoint has no host")?.to_owned();
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().ok_or("endpoint has no port")?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let Some(tls) = tls else {
                return Ok(TokioIo::new(ClientIo::Left(tcp)));
            };
            let name = name.unwrap_or(host);
            let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| format!("invalid server name {name:?}: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(tls.current())
                .connect(server_name, tcp)
                .await?;
            Ok(TokioIo::new(ClientIo::Right(Box::new(stream))))
        })
    }
}
