//! OTLP/gRPC services (tonic), one per signal.
//!
//! Each service takes the request's protobuf bytes as they arrived, checks them against the
//! OTLP schema ([`Encoded::new`]: what prost would refuse is answered `INVALID_ARGUMENT`), and
//! hands them on still encoded, so a pipeline that does not look inside the data forwards them
//! without a decode and re-encode.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use strata_pipelines::wire::Encoded;
use strata_pipelines::{BoxConsumer, ConsumeError, Logs, Metrics, ReceiverObs, SignalData, Traces};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::{Response, Status};

use super::receiver::{OtlpResponse, Refusal, deliver_encoded, door};

/// One signal's service state: where data goes and what is counted.
pub(super) struct Svc<T> {
    pub next: Option<BoxConsumer<T>>,
    pub obs: ReceiverObs,
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

/// The codec of an `Export` call on the server: the request stays bytes, the response is
/// encoded by prost.
struct ExportCodec<R>(std::marker::PhantomData<fn(R)>);

struct ResponseEncoder<R>(std::marker::PhantomData<fn(R)>);

impl<R: prost::Message> Encoder for ResponseEncoder<R> {
    type Item = R;
    type Error = Status;
    fn encode(&mut self, item: R, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl<R: prost::Message + Send + 'static> Codec for ExportCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ResponseEncoder<R>;
    type Decoder = BytesDecoder;
    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder(std::marker::PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

struct Unary<T>(Arc<Svc<T>>);

impl<T: ExportSignal> tonic::server::UnaryService<Bytes> for Unary<T> {
    type Response = T::Response;
    type Future = BoxFuture<Result<Response<T::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            let data = Encoded::<T>::new(request.into_inner()).map_err(|e| {
                svc.obs.refused_request("decode");
                Status::invalid_argument(format!("failed to decode Protobuf message: {e}"))
            })?;
            let accepted = deliver_encoded(&svc.next, &svc.obs, data)
                .await
                .map_err(to_status)?;
            Ok(Response::new(T::Response::from_accepted(&accepted)))
        })
    }
}

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
            if let Err(r) = door(&svc.next, &svc.obs) {
                return Ok(to_status(r).into_http());
            }
            let mut grpc =
                tonic::server::Grpc::new(ExportCodec::<T::Response>(std::marker::PhantomData))
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .send_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(max_bytes);
            Ok(grpc.unary(Unary(svc), req).await)
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

/// Which of tonic's own decode failures to rewrite, and how: returns the new `grpc-status` and
/// the refusal reason to count, or `None` to leave the response alone.
///
/// - tonic answers a message over `max_decoding_message_size` with `OUT_OF_RANGE` ("decoded
///   message length too large"), and one too large after decompression with
///   `RESOURCE_EXHAUSTED` ("size limit ... exceeded"): the OTLP spec wants `RESOURCE_EXHAUSTED`.
/// - tonic answers an undecodable protobuf or body with `INTERNAL` ("failed to decode",
///   "Error decompressing"): the OTLP spec wants `INVALID_ARGUMENT`.
///
/// Only these codes are looked at, so a refusal from the pipeline (`UNAVAILABLE`,
/// `INVALID_ARGUMENT`) is never rewritten, whatever its message says. `message` is the
/// percent-encoded `grpc-message` header.
fn decode_error_rewrite(code: &str, message: &str) -> Option<(&'static str, &'static str)> {
    let msg = message.to_ascii_lowercase().replace("%20", " ");
    match code {
        "11" if msg.contains("too large") => Some(("8", "too_large")),
        "8" if msg.contains("size limit") => Some(("8", "too_large")),
        "13" if msg.contains("failed to decode") || msg.contains("decompress") => {
            Some(("3", "decode"))
        }
        _ => None,
    }
}

/// Applies [`decode_error_rewrite`] to every gRPC response and counts the refusals in
/// `otelcol_receiver_refused_requests{reason}`.
pub(super) fn rewrite_decode_errors(
    obs: ReceiverObs,
) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone {
    move |mut resp: http::Response<tonic::body::Body>| {
        let h = resp.headers();
        let header = |name| {
            h.get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
        };
        let Some(code) = header("grpc-status") else {
            return resp; // Success: the status comes in the trailers.
        };
        if let Some((new_code, reason)) =
            decode_error_rewrite(code, header("grpc-message").unwrap_or(""))
        {
            obs.refused_request(reason);
            resp.headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static(new_code));
        }
        resp
    }
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
    use super::decode_error_rewrite;

    #[test]
    fn rewrites_only_tonic_decode_failures() {
        let too_large =
            "Error,%20decoded%20message%20length%20too%20large:%20found%202097152%20bytes";
        assert_eq!(
            decode_error_rewrite("11", too_large),
            Some(("8", "too_large"))
        );
        assert_eq!(
            decode_error_rewrite(
                "8",
                "Error%20decompressing:%20size%20limit,%20of%204194304%20bytes,%20exceeded"
            ),
            Some(("8", "too_large"))
        );
        assert_eq!(
            decode_error_rewrite("13", "failed%20to%20decode%20Protobuf%20message"),
            Some(("3", "decode"))
        );
        // Pipeline refusals keep their code even when the message mentions a size.
        assert_eq!(
            decode_error_rewrite("14", "export failed: message too large"),
            None
        );
        assert_eq!(
            decode_error_rewrite("3", "request too large for peer"),
            None
        );
        assert_eq!(
            decode_error_rewrite("13", "internal error in exporter"),
            None
        );
    }
}
