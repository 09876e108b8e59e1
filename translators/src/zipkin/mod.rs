//! Zipkin v2 JSON ↔ OTLP traces, per the OpenTelemetry specification's "OpenTelemetry to
//! Zipkin Transformation" (trace/sdk_exporters/zipkin.md) and the generic "mapping to non-OTLP"
//! rules (common/mapping-to-non-otlp.md). The wire model is `zipkin2-api.yaml`'s `Span`
//! (openzipkin/zipkin-api; a copy is in `tests/fixtures/zipkin/`).
//!
//! OTLP → Zipkin ([`from_otlp`]):
//!
//! | OTLP | Zipkin |
//! |---|---|
//! | trace id, span id, parent span id | `traceId` (32 lowercase hex), `id`, `parentId` (16) |
//! | name | `name` |
//! | kind | `kind`: `CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`; INTERNAL/unspecified: absent |
//! | start, end (ns) | `timestamp` (µs, rounded), `duration` (µs, rounded, at least 1) |
//! | resource `service.name` | `localEndpoint.serviceName` (else `default_service_name`) |
//! | other resource attributes, span attributes | `tags` (the span's win), as text: see [`crate::attr::to_string`] |
//! | `peer.service`, `server.address`, `net.peer.name`, `network.peer.address`/`port`, ... | `remoteEndpoint` (the specification's rank order) |
//! | status OK / ERROR | tags `otel.status_code`; `error` = description on ERROR; nothing on UNSET |
//! | scope name / version | tags `otel.scope.name` / `otel.scope.version` |
//! | events | `annotations`: `{"<name>":{<attributes>}}` as JSON, or the bare name |
//! | dropped attribute / event / link counts | tags `otel.dropped_{attributes,events,links}_count` |
//!
//! Zipkin → OTLP ([`to_otlp`]) is the reverse: spans are grouped into one resource per
//! `localEndpoint.serviceName` and one scope per `otel.scope.name`/`version`; 64-bit trace ids
//! are zero-extended; `remoteEndpoint` becomes `peer.service` (unless tagged),
//! `network.peer.address` and `network.peer.port`; `localEndpoint`'s address and port become
//! `network.local.address`/`port`; the status, scope and dropped-count tags become the OTLP
//! fields again; an absent `kind` is INTERNAL.

mod from_otlp;
mod model;
pub mod proto;
mod to_otlp;

pub use from_otlp::{FromOtlpOptions, from_otlp};
pub use model::{Annotation, Endpoint, Kind, Span};
pub use to_otlp::{ToOtlpError, ToOtlpOptions, to_otlp};

/// Tag for the status code (`OK` or `ERROR`).
pub const STATUS_CODE_TAG: &str = "otel.status_code";
/// Tag for the status description, set only on ERROR.
pub const ERROR_TAG: &str = "error";
/// Tag for the instrumentation scope's name.
pub const SCOPE_NAME_TAG: &str = "otel.scope.name";
/// Tag for the instrumentation scope's version.
pub const SCOPE_VERSION_TAG: &str = "otel.scope.version";
/// Deprecated scope-name tag older SDKs still send (`otel.library.name`).
pub const LIBRARY_NAME_TAG: &str = "otel.library.name";
/// Deprecated scope-version tag older SDKs still send (`otel.library.version`).
pub const LIBRARY_VERSION_TAG: &str = "otel.library.version";
/// Tag for `dropped_attributes_count`.
pub const DROPPED_ATTRIBUTES_TAG: &str = "otel.dropped_attributes_count";
/// Tag for `dropped_events_count`.
pub const DROPPED_EVENTS_TAG: &str = "otel.dropped_events_count";
/// Tag for `dropped_links_count`.
pub const DROPPED_LINKS_TAG: &str = "otel.dropped_links_count";

#[cfg(test)]
mod tests;
