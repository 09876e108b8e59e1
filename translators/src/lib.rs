//! Translators between OTLP and the wire models of other back-ends (the Collector's
//! `pkg/translator`): [`zipkin`] (Zipkin v2 JSON, both directions) and [`prometheus`] (OTel →
//! Prometheus metric and label names). Pure functions over the `opentelemetry-proto` types; no
//! I/O, so the exporters and receivers that use them stay thin.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod attr;
pub mod otlp_json;
pub mod prometheus;
pub mod zipkin;
