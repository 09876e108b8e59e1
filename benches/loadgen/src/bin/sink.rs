//! `strata-sink`: an OTLP server (gRPC and HTTP, protobuf; gzip, and zstd over gRPC, accepted) that counts the
//! items it receives per signal and answers success — the far end of pass-through load runs.
//! It prints the counts every `--report` interval and at SIGINT/SIGTERM, and serves them as
//! JSON at `GET /counts` on the HTTP port.
//!
//! ```sh
//! strata-sink --grpc 127.0.0.1:5317 --http 127.0.0.1:5318
//! ```

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use clap::Parser;
use strata_loadgen::{RawCodec, count_items};
use strata_pipelines::Signal;

/// Counting OTLP sink.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:5317")]
    grpc: String,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:5318")]
    http: String,
    /// Seconds between count lines on stdout (0: only at exit).
    #[arg(long, default_value_t = 0)]
    report: u64,
    /// Delay before each answer, in milliseconds (a slow backend).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// The HTTP/2 `SETTINGS_MAX_FRAME_SIZE` the gRPC server advertises, in bytes (RFC 9113
    /// §6.5.2). The default is what Strata's own OTLP receiver advertises, so the sink stands
    /// for the next Strata tier; 16384 (the protocol's default, grpc-go's) stands for an
    /// OpenTelemetry Collector.
    #[arg(long, default_value_t = 256 * 1024)]
    max_frame_size: u32,
}

#[derive(Default)]
struct Counts {
    items: [AtomicU64; 3],
    requests: [AtomicU64; 3],
    invalid: AtomicU64,
}

fn index(s: Signal) -> usize {
    match s {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl Counts {
    fn add(&self, signal: Signal, body: &[u8]) -> bool {
        match count_items(signal, body) {
            Ok(n) => {
                self.items[index(signal)].fetch_add(n as u64, Ordering::Relaxed);
                self.requests[index(signal)].fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.invalid.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        let g = |a: &[AtomicU64; 3], s: Signal| a[index(s)].load(Ordering::Relaxed);
        serde_json::json!({
            "spans": g(&self.items, Signal::Traces),
            "metric_points": g(&self.items, Signal::Metrics),
            "log_records": g(&self.items, Signal::Logs),
            "requests": {
                "traces": g(&self.requests, Signal::Traces),
                "metrics": g(&self.requests, Signal::Metrics),
                "logs": g(&self.requests, Signal::Logs),
            },
            "invalid_requests": self.invalid.load(Ordering::Relaxed),
        })
    }
}

/// A gRPC service for one signal's `Export`, counting raw bodies.
#[derive(Clone)]
struct GrpcSink {
    counts: Arc<Counts>,
    delay: Duration,
}

impl tower_service::Service<http::Request<tonic::body::Body>> for GrpcSink {
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
        let signal = match req.uri().path() {
            p if p.contains("TraceService") => Some(Signal::Traces),
            p if p.contains("MetricsService") => Some(Signal::Metrics),
            p if p.contains("LogsService") => Some(Signal::Logs),
            _ => None,
        };
        let me = self.clone();
        Box::pin(async move {
            let Some(signal) = signal else {
                return Ok(tonic::Status::unimplemented("unknown service").into_http());
            };
            struct Svc(GrpcSink, Signal);
            impl tonic::server::UnaryService<Bytes> for Svc {
                type Response = Bytes;
                type Future = std::pin::Pin<
                    Box<
                        dyn std::future::Future<
                                Output = Result<tonic::Response<Bytes>, tonic::Status>,
                            > + Send,
                    >,
                >;
                fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
                    let (sink, signal) = (self.0.clone(), self.1);
                    Box::pin(async move {
                        tokio::time::sleep(sink.delay).await;
                        if sink.counts.add(signal, req.get_ref()) {
                            // An empty Export*ServiceResponse is zero bytes.
                            Ok(tonic::Response::new(Bytes::new()))
                        } else {
                            Err(tonic::Status::invalid_argument("undecodable request"))
                        }
                    })
                }
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
                .max_decoding_message_size(usize::MAX);
            Ok(grpc.unary(Svc(me, signal), req).await)
        })
    }
}

/// [`GrpcSink`] routed under one service name (tonic routes by name).
#[derive(Clone)]
struct Named<const S: usize>(GrpcSink);

impl<const S: usize> tower_service::Service<http::Request<tonic::body::Body>> for Named<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = <GrpcSink as tower_service::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        self.0.call(req)
    }
}

impl tonic::server::NamedService for Named<0> {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}
impl tonic::server::NamedService for Named<1> {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}
impl tonic::server::NamedService for Named<2> {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

async fn http_export(
    State(sink): State<GrpcSink>,
    Path(signal): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let Some(signal) = Signal::parse(&signal) else {
        return (StatusCode::NOT_FOUND, "unknown signal");
    };
    tokio::time::sleep(sink.delay).await;
    let gz = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let raw = if gz {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return (StatusCode::BAD_REQUEST, "bad gzip");
        }
        out
    } else {
        body.to_vec()
    };
    if sink.counts.add(signal, &raw) {
        (StatusCode::OK, "")
    } else {
        (StatusCode::BAD_REQUEST, "undecodable request")
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let counts = Arc::new(Counts::default());
    let sink = GrpcSink {
        counts: counts.clone(),
        delay: Duration::from_millis(args.delay_ms),
    };
    let grpc_addr: std::net::SocketAddr = args.grpc.parse().expect("--grpc host:port");
    let grpc = tonic::transport::Server::builder()
        .max_frame_size(args.max_frame_size)
        .add_service(Named::<0>(sink.clone()))
        .add_service(Named::<1>(sink.clone()))
        .add_service(Named::<2>(sink.clone()))
        .serve(grpc_addr);
    let app = axum::Router::new()
        .route("/v1/{signal}", axum::routing::post(http_export))
        .route(
            "/counts",
            axum::routing::get({
                let c = counts.clone();
                move || async move {
                    (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        c.json().to_string(),
                    )
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind(&args.http)
        .await
        .expect("--http host:port");
    let http = axum::serve(listener, app);
    eprintln!("strata-sink: gRPC on {}, HTTP on {}", args.grpc, args.http);
    let report = args.report;
    let c = counts.clone();
    tokio::spawn(async move {
        if report == 0 {
            return;
        }
        let mut t = tokio::time::interval(Duration::from_secs(report));
        loop {
            t.tick().await;
            println!("{}", c.json());
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        r = grpc => r.expect("gRPC server"),
        r = http => r.expect("HTTP server"),
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("{}", counts.json());
}
