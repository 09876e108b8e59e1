//! OTLP/gRPC services (tonic), one per signal.
//!
//! Each service reads the unary call's one length-prefixed message itself (gRPC over HTTP/2,
//! PROTOCOL-HTTP2.md; tonic's server codec would copy it into a buffer of its own): a message
//! that arrived in one DATA frame is that frame's bytes. It checks them against the OTLP schema
//! ([`Encoded::new`]: what prost would refuse is answered `INVALID_ARGUMENT`) and hands them on
//! still encoded, so a pipeline that does not look inside the data forwards them without a
//! decode and re-encode. Before reading, it asks the pipeline whether it would take a request
//! at all ([`door`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use strata_pipelines::wire::Encoded;
use strata_pipelines::{BoxConsumer, ConsumeError, Logs, Metrics, ReceiverObs, SignalData, Traces};
use tonic::Status;
use tonic::server::NamedService;

use super::receiver::{OtlpResponse, Refusal, deliver_encoded, door};

/// One signal's service state: where data goes and what is counted.
pub(super) struct Svc<T> {
    pub next: Option<BoxConsumer<T>>,
    pub obs: ReceiverObs,
    /// Authentication and the client context, checked before the message is read.
    pub gate: Option<crate::server::Gate>,
}

fn to_status(r: Refusal) -> Status {
    match r {
        Refusal::NoPipeline(signal) => {
            Status::unimplemented(format!("this receiver is not in a {signal} pipeline"))
        }
        Refusal::Consume(ConsumeError::Permanent(e)) => Status::invalid_argument(e.to_string()),
        Refusal::Consume(ConsumeError::Retryable { error, .. }) => {
            Status::unavailable(error.to_string())
        }
    }
}

/// A signal's OTLP/gRPC service: its name and its response type.
pub(super) trait ExportSignal: SignalData {
    /// The gRPC service name (`opentelemetry.proto.collector.trace.v1.TraceService`).
    const SERVICE: &'static str;
    /// The `Export` method's response.
    type Response: OtlpResponse + Send + Sync + 'static;
}

impl ExportSignal for Traces {
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    type Response = ExportTraceServiceResponse;
}
impl ExportSignal for Metrics {
    const SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    type Response = ExportMetricsServiceResponse;
}
impl ExportSignal for Logs {
    const SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    type Response = ExportLogsServiceResponse;
}

/// A refusal before the pipeline: the status to answer and the `refused_requests` reason.
type Refused = (Status, &'static str);

/// Reads a unary call's request: one length-prefixed message (PROTOCOL-HTTP2.md,
/// "Length-Prefixed-Message") of at most `max` bytes before and after decompression
/// (`grpc-encoding`: gzip, zstd, identity). A message that arrived in one DATA frame (the
/// receiver advertises 256 KiB frames) is that frame's bytes, not a copy.
///
/// # Errors
/// `RESOURCE_EXHAUSTED` over `max`; `INVALID_ARGUMENT` for a body that is not exactly one
/// message, a compressed message without an encoding, or one that does not decompress.
async fn read_message(
    mut body: tonic::body::Body,
    encoding: &str,
    max: usize,
) -> Result<Bytes, Refused> {
    use http_body_util::BodyExt;
    let too_large = |n: usize| {
        (
            Status::resource_exhausted(format!(
                "request message of {n} bytes exceeds the limit of {max} bytes"
            )),
            "too_large",
        )
    };
    let invalid = |msg: String| (Status::invalid_argument(msg), "decode");
    let mut parts: Vec<Bytes> = Vec::with_capacity(1);
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|s| invalid(format!("cannot read the request: {}", s.message())))?;
        let Ok(data) = frame.into_data() else {
            continue; // Request trailers carry nothing for a unary call.
        };
        if data.is_empty() {
            continue; // tonic clients end the stream with an empty DATA frame of its own.
        }
        total += data.len();
        // The declared length is known from the first frame: refuse before reading the rest.
        let declared = parts.first().unwrap_or(&data);
        if declared.len() >= 5 {
            let n = u32::from_be_bytes([declared[1], declared[2], declared[3], declared[4]]);
            if n as usize > max {
                return Err(too_large(n as usize));
            }
        }
        if total > max.saturating_add(5) {
            return Err(too_large(total - 5));
        }
        parts.push(data);
    }
    let msg = match parts.len() {
        1 => parts.pop().unwrap_or_default(),
        _ => parts.concat().into(),
    };
    if msg.len() < 5 {
        return Err(invalid("missing request message".into()));
    }
    let (flag, len) = (
        msg[0],
        u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]) as usize,
    );
    if msg.len() - 5 != len {
        return Err(invalid(format!(
            "the request body holds {} bytes after the 5-byte prefix, which declares {len}: a unary call carries exactly one message",
            msg.len() - 5
        )));
    }
    let payload = msg.slice(5..);
    match (flag, encoding) {
        (0, _) => Ok(payload),
        (1, "" | "identity") => Err(invalid("compressed message without a grpc-encoding".into())),
        (1, enc) => super::http::decompress_as(enc, payload, max).map_err(|(code, msg)| {
            if code == http::StatusCode::PAYLOAD_TOO_LARGE {
                (Status::resource_exhausted(msg), "too_large")
            } else {
                invalid(msg)
            }
        }),
        (f, _) => Err(invalid(format!("unknown compressed flag {f}"))),
    }
}

/// A unary response: the message behind its 5-byte prefix, then `grpc-status: 0` in the
/// trailers (the response is never compressed: it is a few bytes).
fn ok_response<R: prost::Message>(msg: &R) -> http::Response<tonic::body::Body> {
    use bytes::BufMut;
    let len = msg.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    if let Err(e) = msg.encode(&mut buf) {
        return Status::internal(e.to_string()).into_http();
    }
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames = [
        Ok::<_, std::convert::Infallible>(Frame::data(buf.freeze())),
        Ok(Frame::trailers(trailers)),
    ];
    let mut resp = http::Response::new(tonic::body::Body::new(http_body_util::StreamBody::new(
        futures::stream::iter(frames),
    )));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// One `Export` call: the request read and checked against the OTLP schema, handed on still
/// encoded, and answered.
async fn export<T: ExportSignal>(
    svc: &Svc<T>,
    req: http::Request<tonic::body::Body>,
    max_bytes: usize,
) -> http::Response<tonic::body::Body> {
    let encoding = req
        .headers()
        .get("grpc-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !matches!(
        encoding.as_str(),
        "" | "identity" | "gzip" | "zstd" | "snappy"
    ) {
        // PROTOCOL-HTTP2.md: an unsupported encoding is UNIMPLEMENTED, with the ones we take.
        svc.obs.refused_request("decode");
        let mut resp = Status::unimplemented(format!(
            "grpc-encoding {encoding:?} is not supported (supported: gzip, zstd, snappy, identity)"
        ))
        .into_http();
        resp.headers_mut().insert(
            "grpc-accept-encoding",
            http::HeaderValue::from_static("gzip,zstd,snappy,identity"),
        );
        return resp;
    }
    // gRPC's `snappy` is the framed format (the Collector's configgrpc snappy compressor).
    let encoding = if encoding == "snappy" {
        "x-snappy-framed".to_owned()
    } else {
        encoding
    };
    let bytes = match read_message(req.into_body(), &encoding, max_bytes).await {
        Ok(b) => b,
        Err((status, reason)) => {
            svc.obs.refused_request(reason);
            return status.into_http();
        }
    };
    let data = match Encoded::<T>::new(bytes) {
        Ok(d) => d,
        Err(e) => {
            svc.obs.refused_request("decode");
            return Status::invalid_argument(format!("failed to decode Protobuf message: {e}"))
                .into_http();
        }
    };
    match deliver_encoded(&svc.next, &svc.obs, data).await {
        Ok(accepted) => ok_response(&T::Response::from_accepted(&accepted)),
        Err(r) => to_status(r).into_http(),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One signal's `Export` service (what tonic's generated `*ServiceServer` is, with the request
/// kept encoded).
pub(super) struct ExportService<T> {
    svc: Arc<Svc<T>>,
    max_bytes: usize,
}

impl<T> Clone for ExportService<T> {
    fn clone(&self) -> Self {
        ExportService {
            svc: self.svc.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

impl<T: ExportSignal> tower::Service<http::Request<tonic::body::Body>> for ExportService<T> {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let is_export = req
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(T::SERVICE))
            == Some("/Export");
        let (svc, max_bytes) = (self.svc.clone(), self.max_bytes);
        Box::pin(async move {
            if !is_export {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let ctx = match &svc.gate {
                Some(gate) => {
                    let peer = req.extensions().get::<strata_pipelines::net::PeerInfo>();
                    match gate.check(req.headers(), peer) {
                        Ok(ctx) => Some(ctx),
                        Err(u) => return Ok(Status::unauthenticated(u.message).into_http()),
                    }
                }
                None => None,
            };
            if let Err(r) = door(&svc.next, &svc.obs) {
                return Ok(to_status(r).into_http());
            }
            Ok(
                strata_pipelines::auth::ClientContext::scope_opt(ctx, export(&svc, req, max_bytes))
                    .await,
            )
        })
    }
}

impl NamedService for ExportService<Traces> {
    const NAME: &'static str = Traces::SERVICE;
}
impl NamedService for ExportService<Metrics> {
    const NAME: &'static str = Metrics::SERVICE;
}
impl NamedService for ExportService<Logs> {
    const NAME: &'static str = Logs::SERVICE;
}

/// Refuses every call with `UNAVAILABLE` before its message is read while a
/// `memory_limiter` is refusing data ([`strata_pipelines::memory::MemoryBudget::under_pressure`]),
/// counted in `otelcol_receiver_refused_requests{reason="memory_limit"}`.
#[derive(Clone)]
pub(super) struct MemoryGate(pub(super) ReceiverObs);

impl tonic::service::Interceptor for MemoryGate {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if strata_pipelines::memory::global().under_pressure() {
            self.0.refused_request("memory_limit");
            return Err(tonic::Status::unavailable(
                "data refused: memory usage is above the memory_limiter's soft limit; retry later",
            ));
        }
        Ok(req)
    }
}

type Gated<S> = tonic::service::interceptor::InterceptedService<S, MemoryGate>;

/// The gRPC servers of the three signals.
pub(super) type Services = (
    Gated<ExportService<Traces>>,
    Gated<ExportService<Metrics>>,
    Gated<ExportService<Logs>>,
);

/// The three services with compression and the message limit applied.
pub(super) fn services(
    traces: Svc<Traces>,
    metrics: Svc<Metrics>,
    logs: Svc<Logs>,
    max_bytes: usize,
    gate: MemoryGate,
) -> Services {
    fn one<T>(svc: Svc<T>, max_bytes: usize, gate: &MemoryGate) -> Gated<ExportService<T>> {
        Gated::new(
            ExportService {
                svc: Arc::new(svc),
                max_bytes,
            },
            gate.clone(),
        )
    }
    (
        one(traces, max_bytes, &gate),
        one(metrics, max_bytes, &gate),
        one(logs, max_bytes, &gate),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use futures::StreamExt;

    use super::*;

    /// A request body of `frames`, one DATA frame each.
    fn body(frames: Vec<Bytes>) -> tonic::body::Body {
        let frames = frames
            .into_iter()
            .map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
        tonic::body::Body::new(http_body_util::StreamBody::new(futures::stream::iter(
            frames,
        )))
    }

    fn framed(flag: u8, msg: &[u8]) -> Vec<u8> {
        let mut v = vec![flag];
        v.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        v.extend_from_slice(msg);
        v
    }

    #[tokio::test]
    async fn a_message_in_one_frame_is_not_copied() {
        let frame = Bytes::from(framed(0, b"hello"));
        let msg = read_message(body(vec![frame.clone(), Bytes::new()]), "", 100)
            .await
            .unwrap();
        assert_eq!(&msg[..], b"hello");
        assert_eq!(msg.as_ptr(), frame[5..].as_ptr());
    }

    #[tokio::test]
    async fn a_message_over_several_frames_is_joined() {
        let all = framed(0, b"hello world");
        let frames = vec![
            Bytes::copy_from_slice(&all[..3]),
            Bytes::copy_from_slice(&all[3..9]),
            Bytes::copy_from_slice(&all[9..]),
        ];
        let msg = read_message(body(frames), "identity", 100).await.unwrap();
        assert_eq!(&msg[..], b"hello world");
    }

    #[tokio::test]
    async fn bad_bodies_are_refused_with_their_reason() {
        let refused = |r: Result<Bytes, Refused>| {
            let (s, reason) = r.unwrap_err();
            (s.code(), reason)
        };
        let invalid = (tonic::Code::InvalidArgument, "decode");
        let large = (tonic::Code::ResourceExhausted, "too_large");
        // No message, a truncated one, two messages.
        assert_eq!(refused(read_message(body(vec![]), "", 100).await), invalid);
        let mut cut = framed(0, b"hello");
        cut.pop();
        assert_eq!(
            refused(read_message(body(vec![cut.into()]), "", 100).await),
            invalid
        );
        let two = [framed(0, b"a"), framed(0, b"b")].concat();
        assert_eq!(
            refused(read_message(body(vec![two.into()]), "", 100).await),
            invalid
        );
        // Declared over the limit: refused on the first frame, before the rest arrives.
        let mut head = framed(0, &[0; 10]);
        head[1..5].copy_from_slice(&1000u32.to_be_bytes());
        let rest = futures::stream::iter([Ok::<_, std::convert::Infallible>(Frame::data(
            Bytes::from(head),
        ))])
        .chain(futures::stream::pending());
        let never_ends = tonic::body::Body::new(http_body_util::StreamBody::new(rest));
        assert_eq!(refused(read_message(never_ends, "", 100).await), large);
        // Compressed: without an encoding, undecompressable, over the limit decompressed.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[7; 1000]).unwrap();
        let gz = gz.finish().unwrap();
        let frame = |f: u8, m: &[u8]| vec![Bytes::from(framed(f, m))];
        assert_eq!(
            refused(read_message(body(frame(1, &gz)), "", 2000).await),
            invalid
        );
        assert_eq!(
            refused(read_message(body(frame(1, b"not gzip")), "gzip", 2000).await),
            invalid
        );
        assert_eq!(
            refused(read_message(body(frame(1, &gz)), "gzip", 999).await),
            large
        );
        let msg = read_message(body(frame(1, &gz)), "gzip", 1000)
            .await
            .unwrap();
        assert_eq!(&msg[..], &[7; 1000][..]);
    }

    #[tokio::test]
    async fn an_unknown_encoding_is_unimplemented_with_the_supported_ones() {
        let t = strata_pipelines::Telemetry::default();
        let svc = Svc::<Traces> {
            next: None,
            obs: ReceiverObs::new(&t, &"otlp".parse().unwrap(), "grpc"),
            gate: None,
        };
        let req = http::Request::builder()
            .header("grpc-encoding", "br")
            .body(body(vec![Bytes::from(framed(1, b"x"))]))
            .unwrap();
        let resp = export(&svc, req, 100).await;
        let h = resp.headers();
        assert_eq!(h["grpc-status"], "12");
        assert_eq!(h["grpc-accept-encoding"], "gzip,zstd,snappy,identity");
    }
}
