//! `otlp` receiver: OTLP over gRPC and HTTP, for traces, metrics and logs.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc:
//!         endpoint: 0.0.0.0:4317
//!         max_recv_msg_size_mib: 4
//!       http:
//!         endpoint: 0.0.0.0:4318
//!         max_request_body_size_mib: 4   # alias of max_recv_msg_size_mib for HTTP
//!         tls:                           # both protocols: the Collector's configtls server keys
//!           cert_file: /etc/strata/tls/tls.crt
//!           key_file: /etc/strata/tls/tls.key
//!           client_ca_file: /etc/strata/tls/ca.crt   # mTLS: client certificates required
//!         auth: { authenticator: bearertokenauth }   # checked before the body is read
//!         include_metadata: true         # request headers -> client context metadata.<key>
//!         max_request_body_size: 4194304 # bytes (the Collector's key; wins over the MiB one)
//!         compression_algorithms: [gzip, zstd]   # Content-Encodings accepted
//!         cors:                          # browser clients
//!           allowed_origins: ["https://*.example.com"]
//!           allowed_headers: [x-custom]
//!           max_age: 7200                # seconds a preflight may be cached
//! ```
//!
//! Security (`tls`, `auth`, `include_metadata`): see `strata_pipelines::tls`,
//! `strata_pipelines::auth` and the README's "Securing the tiers". A request without valid
//! credentials is answered `UNAUTHENTICATED` / 401 with `WWW-Authenticate` before its body is
//! read, counted with `reason="unauthenticated"`; a failed TLS handshake is counted with
//! `reason="tls_handshake"`.
//!
//! A protocol key that is present (even empty, as in `grpc:`) enables it; `otlp:` with no
//! `protocols` enables both on their default endpoints.
//!
//! HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with `application/x-protobuf` or
//! `application/json` (OTLP/JSON: hex ids, lowerCamelCase, 64-bit integers as strings or
//! numbers), `Content-Encoding: gzip | zstd | identity`. The response uses the request's
//! encoding.
//!
//! Errors (OTLP spec, "Failures"):
//!
//! | cause | gRPC | HTTP |
//! |---|---|---|
//! | undecodable payload | `INVALID_ARGUMENT` | 400 + `google.rpc.Status` |
//! | payload over the limit (before or after decompression) | `RESOURCE_EXHAUSTED` | 413 |
//! | wrong content type | — | 415 |
//! | unknown path / wrong method | `UNIMPLEMENTED` | 404 / 405 |
//! | pipeline refused permanently | `INVALID_ARGUMENT` | 400 |
//! | pipeline refused retryably (exporter down, shutting down) | `UNAVAILABLE` | 503 + `Retry-After` |
//! | refused before the body is read: a `memory_limiter` over its soft limit (`reason="memory_limit"`), or a sending queue downstream full and not blocking (`reason="queue_full"`) | `UNAVAILABLE` | 503 + `Retry-After` |
//!
//! Self-metrics: `otelcol_receiver_accepted_*`, `otelcol_receiver_refused_*` with
//! `transport=grpc|http`, and `otelcol_receiver_refused_requests{reason}` for requests refused
//! before their items could be counted.

mod config;
mod grpc;
pub(crate) mod http;
mod receiver;

pub use config::{Config, CorsConfig, GrpcConfig, HttpConfig, Protocols};
pub(crate) use http::read_body;
/// The request-body decompression of the OTLP/HTTP (and Zipkin) receivers, for the fuzz targets.
pub use http::{ENCODINGS, decompress_as};
pub use receiver::{Factory, OtlpReceiver};
pub(crate) use receiver::{Refusal, deliver};

/// The type name in configs.
pub const TYPE: &str = "otlp";
