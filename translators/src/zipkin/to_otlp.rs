//! Zipkin v2 spans → OTLP traces.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span as OtlpSpan, Status, span::Event, span::SpanKind,
    status::StatusCode,
};

use super::model::{Endpoint, Kind, Span};
use super::{
    DROPPED_ATTRIBUTES_TAG, DROPPED_EVENTS_TAG, DROPPED_LINKS_TAG, ERROR_TAG, LIBRARY_NAME_TAG,
    LIBRARY_VERSION_TAG, SCOPE_NAME_TAG, SCOPE_VERSION_TAG, STATUS_CODE_TAG,
};
use crate::attr;

/// Spans of one scope: `((name, version), spans)`.
type ScopeGroup = ((String, String), Vec<OtlpSpan>);

/// Options of [`to_otlp`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ToOtlpOptions {
    /// Turn tag text back into typed attributes: `true`/`false` → bool, decimal integers →
    /// int, other decimal numbers → double, a JSON list of scalars → array. Off, every tag
    /// stays a string (the Collector's `parse_string_tags`, default false).
    pub parse_string_tags: bool,
}

/// A span that cannot be translated; the whole request is refused, naming the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToOtlpError {
    /// Index of the span in the request's list.
    pub index: usize,
    /// What is wrong with it.
    pub cause: String,
}

impl std::fmt::Display for ToOtlpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "span {}: {}", self.index, self.cause)
    }
}

impl std::error::Error for ToOtlpError {}

fn unhex(s: &str, bytes: usize, what: &str) -> Result<Vec<u8>, String> {
    let valid_len = if bytes == 16 {
        s.len() == 16 || s.len() == 32
    } else {
        s.len() == bytes * 2
    };
    if !valid_len || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{what} {s:?} is not {} hex characters",
            if bytes == 16 { "16 or 32" } else { "16" }
        ));
    }
    let mut out = vec![0u8; bytes - s.len() / 2];
    for i in (0..s.len()).step_by(2) {
        out.push(u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("{what}: {e}"))?);
    }
    Ok(out)
}

/// Parses a tag's text into a typed value ([`ToOtlpOptions::parse_string_tags`]).
fn typed(text: String) -> AnyValue {
    match text.as_str() {
        "true" => {
            return AnyValue {
                value: Some(Value::BoolValue(true)),
            };
        }
        "false" => {
            return AnyValue {
                value: Some(Value::BoolValue(false)),
            };
        }
        _ => {}
    }
    let numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        if let Ok(i) = text.parse::<i64>() {
            return attr::int(i);
        }
        if let Ok(d) = text.parse::<f64>() {
            return AnyValue {
                value: Some(Value::DoubleValue(d)),
            };
        }
    }
    if text.starts_with('[')
        && let Ok(serde_json::Value::Array(items)) = serde_json::from_str(&text)
        && items.iter().all(|i| !(i.is_array() || i.is_object()))
    {
        return AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: items.iter().map(attr::from_json).collect(),
            })),
        };
    }
    attr::string(text)
}

fn endpoint_attrs(ep: &Endpoint, addr_key: &str, port_key: &str, out: &mut Vec<KeyValue>) {
    if let Some(ip) = ep.ipv4.as_ref().or(ep.ipv6.as_ref())
        && !out.iter().any(|kv| kv.key == addr_key)
    {
        out.push(attr::kv(addr_key, attr::string(ip.clone())));
    }
    if let Some(p) = ep.port.filter(|p| *p != 0)
        && !out.iter().any(|kv| kv.key == port_key)
    {
        out.push(attr::kv(port_key, attr::int(i64::from(p))));
    }
}

/// Translates Zipkin v2 spans into one OTLP request (module docs: the reverse mapping).
///
/// # Errors
/// The first span with a missing or malformed `traceId`, `id` or `parentId`; nothing is
/// translated then.
pub fn to_otlp(
    spans: Vec<Span>,
    opts: ToOtlpOptions,
) -> Result<ExportTraceServiceRequest, ToOtlpError> {
    // service name → (scope name, version) → spans, in first-seen order.
    let mut resources: Vec<(Option<String>, Vec<ScopeGroup>)> = Vec::new();
    for (index, z) in spans.into_iter().enumerate() {
        let err = |cause: String| ToOtlpError { index, cause };
        let trace_id = unhex(&z.trace_id, 16, "traceId").map_err(err)?;
        let span_id = unhex(&z.id, 8, "id").map_err(err)?;
        let parent_span_id = match z.parent_id.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => unhex(p, 8, "parentId").map_err(err)?,
            None => Vec::new(),
        };
        let mut tags = z.tags;
        let scope = (
            tags.remove(SCOPE_NAME_TAG)
                .or_else(|| tags.remove(LIBRARY_NAME_TAG))
                .unwrap_or_default(),
            tags.remove(SCOPE_VERSION_TAG)
                .or_else(|| tags.remove(LIBRARY_VERSION_TAG))
                .unwrap_or_default(),
        );
        tags.remove(LIBRARY_NAME_TAG);
        tags.remove(LIBRARY_VERSION_TAG);
        let status = status(&mut tags);
        let mut dropped = |tag: &str| {
            tags.remove(tag)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        };
        let dropped_attributes_count = dropped(DROPPED_ATTRIBUTES_TAG);
        let dropped_events_count = dropped(DROPPED_EVENTS_TAG);
        let dropped_links_count = dropped(DROPPED_LINKS_TAG);
        let mut attributes: Vec<KeyValue> = tags
            .into_iter()
            .map(|(k, v)| {
                let value = if opts.parse_string_tags {
                    typed(v)
                } else {
                    attr::string(v)
                };
                attr::kv(k, value)
            })
            .collect();
        if let Some(remote) = &z.remote_endpoint {
            if let Some(svc) = remote.service_name.as_ref().filter(|s| !s.is_empty())
                && !attributes.iter().any(|kv| kv.key == "peer.service")
            {
                attributes.push(attr::kv("peer.service", attr::string(svc.clone())));
            }
            endpoint_attrs(
                remote,
                "network.peer.address",
                "network.peer.port",
                &mut attributes,
            );
        }
        let service = z
            .local_endpoint
            .as_ref()
            .and_then(|l| l.service_name.clone());
        if let Some(local) = &z.local_endpoint {
            endpoint_attrs(
                local,
                "network.local.address",
                "network.local.port",
                &mut attributes,
            );
        }
        let start = z.timestamp.unwrap_or(0).saturating_mul(1000);
        let end = start.saturating_add(z.duration.unwrap_or(0).saturating_mul(1000));
        let events = z
            .annotations
            .into_iter()
            .map(|a| {
                let (name, attributes) = event_of(&a.value);
                Event {
                    time_unix_nano: a.timestamp.saturating_mul(1000),
                    name,
                    attributes,
                    dropped_attributes_count: 0,
                }
            })
            .collect();
        let span = OtlpSpan {
            trace_id,
            span_id,
            parent_span_id,
            name: z.name.unwrap_or_default(),
            kind: match z.kind {
                Some(Kind::Client) => SpanKind::Client,
                Some(Kind::Server) => SpanKind::Server,
                Some(Kind::Producer) => SpanKind::Producer,
                Some(Kind::Consumer) => SpanKind::Consumer,
                None => SpanKind::Internal,
            } as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            dropped_links_count,
            status,
            ..OtlpSpan::default()
        };
        let r = match resources.iter().position(|(s, _)| *s == service) {
            Some(i) => i,
            None => {
                resources.push((service, Vec::new()));
                resources.len() - 1
            }
        };
        let scopes = &mut resources[r].1;
        match scopes.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, v)) => v.push(span),
            None => scopes.push((scope, vec![span])),
        }
    }
    Ok(ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(service, scopes)| ResourceSpans {
                resource: Some(Resource {
                    attributes: service
                        .map(|s| vec![attr::kv("service.name", attr::string(s))])
                        .unwrap_or_default(),
                    ..Resource::default()
                }),
                scope_spans: scopes
                    .into_iter()
                    .map(|((name, version), spans)| ScopeSpans {
                        scope: (!name.is_empty() || !version.is_empty()).then(|| {
                            InstrumentationScope {
                                name,
                                version,
                                ..InstrumentationScope::default()
                            }
                        }),
                        spans,
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    })
}

/// The OTLP status from the `otel.status_code` and `error` tags, which are removed. An
/// `error` tag without a status code is an ERROR (Zipkin's own convention), unless it is
/// `"false"`.
fn status(tags: &mut BTreeMap<String, String>) -> Option<Status> {
    let code = tags.remove(STATUS_CODE_TAG);
    let error = tags.remove(ERROR_TAG);
    match (code.as_deref(), error) {
        (Some("OK"), _) => Some(Status {
            code: StatusCode::Ok as i32,
            message: String::new(),
        }),
        (Some("ERROR"), e) => Some(Status {
            code: StatusCode::Error as i32,
            message: e.unwrap_or_default(),
        }),
        (_, Some(e)) if e != "false" => Some(Status {
            code: StatusCode::Error as i32,
            message: e,
        }),
        _ => None,
    }
}

/// An annotation value as an event: `{"<name>":{<attributes>}}` (written by OTel Zipkin
/// exporters) gives the name and typed attributes; anything else is the name.
fn event_of(value: &str) -> (String, Vec<KeyValue>) {
    if value.starts_with('{')
        && let Ok(serde_json::Value::Object(obj)) = serde_json::from_str(value)
        && obj.len() == 1
        && let Some((name, serde_json::Value::Object(attrs))) = obj.into_iter().next()
    {
        let attributes = attrs
            .iter()
            .map(|(k, v)| attr::kv(k.clone(), attr::from_json(v)))
            .collect();
        return (name, attributes);
    }
    (value.to_owned(), Vec::new())
}
