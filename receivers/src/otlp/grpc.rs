//! OTLP/gRPC services (tonic), one per signal.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use strata_pipelines::{BoxConsumer, ConsumeError, Logs, Metrics, ReceiverObs, Traces};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::receiver::{OtlpResponse, Refusal, deliver};

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

#[tonic::async_trait]
impl TraceService for Svc<Traces> {
    async fn export(
        &self,
        request: Request<Traces>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let accepted = deliver(&self.next, &self.obs, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(
            <ExportTraceServiceResponse as OtlpResponse>::from_accepted(&accepted),
        ))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc<Metrics> {
    async fn export(
        &self,
        request: Request<Metrics>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let accepted = deliver(&self.next, &self.obs, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(
            <ExportMetricsServiceResponse as OtlpResponse>::from_accepted(&accepted),
        ))
    }
}

#[tonic::async_trait]
impl LogsService for Svc<Logs> {
    async fn export(
        &self,
        request: Request<Logs>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let accepted = deliver(&self.next, &self.obs, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(
            <ExportLogsServiceResponse as OtlpResponse>::from_accepted(&accepted),
        ))
    }
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
    Gated<TraceServiceServer<Svc<Traces>>>,
    Gated<MetricsServiceServer<Svc<Metrics>>>,
    Gated<LogsServiceServer<Svc<Logs>>>,
);

/// The three services with compression and the message limit applied.
pub(super) fn services(
    traces: Svc<Traces>,
    metrics: Svc<Metrics>,
    logs: Svc<Logs>,
    max_bytes: usize,
    gate: MemoryGate,
) -> Services {
    (
        Gated::new(
            TraceServiceServer::new(traces)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_bytes),
            gate.clone(),
        ),
        Gated::new(
            MetricsServiceServer::new(metrics)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_bytes),
            gate.clone(),
        ),
        Gated::new(
            LogsServiceServer::new(logs)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_bytes),
            gate.clone(),
        ),
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
