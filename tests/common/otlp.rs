//! OTLP clients for tests: tonic clients, a raw-bytes gRPC call (to send payloads no real
//! client would), and raw HTTP/1.1 posts.

use std::io::{Read, Write};

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A codec that sends and receives raw bytes, for malformed-payload tests.
#[derive(Default, Clone)]
pub struct RawCodec;

pub struct RawEnc;
pub struct RawDec;

impl Encoder for RawEnc {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEnc;
    type Decoder = RawDec;
    fn encoder(&mut self) -> RawEnc {
        RawEnc
    }
    fn decoder(&mut self) -> RawDec {
        RawDec
    }
}

/// Calls `TraceService/Export` with `body` as the message bytes.
pub async fn grpc_raw_traces(port: u16, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    grpc_raw_traces_compressed(port, body, None).await
}

/// [`grpc_raw_traces`], the message compressed with `compression` (`grpc-encoding`).
pub async fn grpc_raw_traces_compressed(
    port: u16,
    body: Vec<u8>,
    compression: Option<tonic::codec::CompressionEncoding>,
) -> Result<Vec<u8>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Some(c) = compression {
        grpc = grpc.send_compressed(c);
    }
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `POST path` with `headers` and `body` on loopback `port`, HTTP/1.1, connection closed after.
pub fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (413) before reading the whole body; ignore a reset while writing.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// An OTLP/gRPC trace endpoint that records each `Export` request's message bytes exactly as
/// they arrived (uncompressed) and answers with an empty response.
#[derive(Clone, Default)]
pub struct RawTraceSink {
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    /// The headers (gRPC metadata) of each request, in the same order as `got`.
    pub headers: std::sync::Arc<std::sync::Mutex<Vec<http::HeaderMap>>>,
}

impl tonic::server::NamedService for RawTraceSink {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl tower::Service<http::Request<tonic::body::Body>> for RawTraceSink {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        struct Unary(RawTraceSink);
        impl tonic::server::UnaryService<Vec<u8>> for Unary {
            type Response = Vec<u8>;
            type Future = std::future::Ready<Result<tonic::Response<Vec<u8>>, tonic::Status>>;
            fn call(&mut self, req: tonic::Request<Vec<u8>>) -> Self::Future {
                // Headers and body recorded under one lock: concurrent requests stay paired.
                let mut got = self.0.got.lock().unwrap();
                self.0
                    .headers
                    .lock()
                    .unwrap()
                    .push(req.metadata().clone().into_headers());
                got.push(req.into_inner());
                // An empty ExportTraceServiceResponse is zero bytes.
                std::future::ready(Ok(tonic::Response::new(Vec::new())))
            }
        }
        let me = self.clone();
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(RawCodec)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
                .unary(Unary(me), req)
                .await)
        })
    }
}

impl RawTraceSink {
    /// Serves on a port of 127.0.0.1 the system picks (no race with another test taking a
    /// port found free a moment before) until the test ends; returns the sink and the port.
    pub async fn serve_any() -> (RawTraceSink, u16) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        (Self::serve_on(listener), port)
    }

    /// Serves on `127.0.0.1:port` until the test ends.
    pub async fn serve(port: u16) -> RawTraceSink {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        Self::serve_on(listener)
    }

    fn serve_on(listener: tokio::net::TcpListener) -> RawTraceSink {
        let sink = RawTraceSink::default();
        let router = tonic::transport::Server::builder().add_service(sink.clone());
        tokio::spawn(async move {
            router
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .unwrap();
        });
        sink
    }

    /// Every request's bytes so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.got.lock().unwrap().clone()
    }
}
