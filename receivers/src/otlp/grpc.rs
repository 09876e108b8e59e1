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

use super::receiver::{Refusal, deliver};

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
        deliver(&self.next, &self.obs, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc<Metrics> {
    async fn export(
        &self,
        request: Request<Metrics>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        deliver(&self.next, &self.obs, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Svc<Logs> {
    async fn export(
        &self,
        request: Request<Logs>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        deliver(&self.next, &self.obs, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Rewrites tonic's own decode failures to the codes the OTLP spec asks for, and counts them:
/// a message over the limit (tonic: `OUT_OF_RANGE`) → `RESOURCE_EXHAUSTED`; an undecodable
/// protobuf (tonic: `INTERNAL` "failed to decode") → `INVALID_ARGUMENT`.
pub(super) fn rewrite_decode_errors(
    obs: ReceiverObs,
) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone {
    move |mut resp: http::Response<tonic::body::Body>| {
        let h = resp.headers();
        let code = h
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0");
        let msg = h
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let new_code = if (code == "11" || code == "8") && msg.contains("too%20large")
            || msg.contains("too large")
            || msg.contains("size%20limit")
            || msg.contains("size limit")
        {
            obs.refused_request("too_large");
            Some("8")
        } else if code == "13" && (msg.contains("decode") || msg.contains("decompress")) {
            obs.refused_request("decode");
            Some("3")
        } else {
            None
        };
        if let Some(c) = new_code {
            resp.headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static(c));
        }
        resp
    }
}

/// The gRPC servers of the three signals.
pub(super) type Services = (
    TraceServiceServer<Svc<Traces>>,
    MetricsServiceServer<Svc<Metrics>>,
    LogsServiceServer<Svc<Logs>>,
);

/// The three services with compression and the message limit applied.
pub(super) fn services(
    traces: Svc<Traces>,
    metrics: Svc<Metrics>,
    logs: Svc<Logs>,
    max_bytes: usize,
) -> Services {
    (
        TraceServiceServer::new(traces)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_bytes),
        MetricsServiceServer::new(metrics)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_bytes),
        LogsServiceServer::new(logs)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_bytes),
    )
}
