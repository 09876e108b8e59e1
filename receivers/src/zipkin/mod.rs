//! `zipkin` receiver: Zipkin v2 JSON over HTTP (`POST /api/v2/spans`, optionally gzip), turned
//! into OTLP traces by the reverse of the specification's Zipkin mapping
//! ([`strata_translators::zipkin`]), so services instrumented with Zipkin libraries on a node can
//! join the pipeline.
//!
//! ```yaml
//! receivers:
//!   zipkin:
//!     endpoint: 0.0.0.0:9411
//!     max_request_body_size_mib: 4   # checked on the wire and after decompression
//!     parse_string_tags: false       # true: "42" -> int, "true" -> bool, "[1,2]" -> array
//! ```
//!
//! Answers:
//!
//! | cause | HTTP |
//! |---|---|
//! | accepted | 202 |
//! | not JSON (`Content-Type` other than `application/json`; protobuf is not supported) | 415 |
//! | malformed JSON, or a span with a bad `traceId`/`id`/`parentId` (the whole request) | 400, the cause in the body |
//! | body over the limit (before or after decompression) | 413 |
//! | pipeline refused permanently | 400 |
//! | pipeline refused retryably, memory above the limiter's soft limit | 503 + `Retry-After` |
//! | other path or method (Zipkin v1 included) | 404 / 405 |
//!
//! Self-metrics: `otelcol_receiver_accepted_spans`, `otelcol_receiver_refused_spans` with
//! `transport=http`, and `otelcol_receiver_refused_requests{reason}` for requests refused before
//! their spans could be counted.

mod config;
mod receiver;

pub use config::Config;
pub use receiver::{Factory, ZipkinReceiver};

/// The type name in configs.
pub const TYPE: &str = "zipkin";
