//! OTLP traces → Zipkin v2 spans.

use std::collections::BTreeMap;
use std::net::IpAddr;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, span::SpanKind, status::StatusCode};

use super::model::{Annotation, Endpoint, Kind, Span};
use super::{
    DROPPED_ATTRIBUTES_TAG, DROPPED_EVENTS_TAG, DROPPED_LINKS_TAG, ERROR_TAG, SCOPE_NAME_TAG,
    SCOPE_VERSION_TAG, STATUS_CODE_TAG,
};
use crate::attr;

/// Options of [`from_otlp`].
#[derive(Debug, Clone)]
pub struct FromOtlpOptions {
    /// `localEndpoint.serviceName` for resources without `service.name` (the SDK default
    /// resource's `unknown_service`).
    pub default_service_name: String,
}

impl Default for FromOtlpOptions {
    fn default() -> Self {
        FromOtlpOptions {
            default_service_name: "unknown_service".into(),
        }
    }
}

/// Remote-endpoint candidates in the specification's rank order ("Remote endpoint", OTLP →
/// Zipkin): `(name attribute, port attribute)`. A name that parses as an IP address fills
/// `ipv4`/`ipv6`; any other fills `serviceName`.
const REMOTE_RANK: [(&str, Option<&str>); 11] = [
    ("peer.service", None),
    ("server.address", Some("server.port")),
    ("net.peer.name", Some("net.peer.port")),
    ("network.peer.address", Some("network.peer.port")),
    ("server.socket.domain", Some("server.socket.port")),
    ("server.socket.address", Some("server.socket.port")),
    ("net.sock.peer.name", Some("net.sock.peer.port")),
    ("net.sock.peer.addr", Some("net.sock.peer.port")),
    ("peer.hostname", None),
    ("peer.address", None),
    ("db.name", None),
];

/// Socket-address attributes that give the remote IP and port when the name came from a
/// higher-ranked attribute.
const REMOTE_SOCKET: [(&str, &str); 3] = [
    ("network.peer.address", "network.peer.port"),
    ("server.socket.address", "server.socket.port"),
    ("net.sock.peer.addr", "net.sock.peer.port"),
];

/// Translates every span of `req` into a Zipkin v2 span (module docs: the mapping table).
/// Spans whose trace or span id has the wrong length are skipped; the second value counts
/// them.
pub fn from_otlp(req: &ExportTraceServiceRequest, opts: &FromOtlpOptions) -> (Vec<Span>, usize) {
    let mut out = Vec::new();
    let mut invalid = 0;
    for rs in &req.resource_spans {
        let res_attrs: &[KeyValue] = rs.resource.as_ref().map_or(&[], |r| &r.attributes);
        let service = attr::get_str(res_attrs, "service.name")
            .filter(|s| !s.is_empty())
            .unwrap_or(&opts.default_service_name)
            .to_owned();
        let local = Endpoint {
            service_name: Some(service),
            ..Endpoint::default()
        };
        let mut res_tags = BTreeMap::new();
        for a in res_attrs.iter().filter(|a| a.key != "service.name") {
            if let Some(v) = &a.value {
                res_tags.insert(a.key.clone(), attr::to_string(v));
            }
        }
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref();
            for span in &ss.spans {
                if span.trace_id.len() != 16 || span.span_id.len() != 8 {
                    invalid += 1;
                    continue;
                }
                let mut z = span_from_otlp(span, &res_tags, &local);
                if let Some(scope) = scope {
                    if !scope.name.is_empty() {
                        z.tags.insert(SCOPE_NAME_TAG.into(), scope.name.clone());
                    }
                    if !scope.version.is_empty() {
                        z.tags
                            .insert(SCOPE_VERSION_TAG.into(), scope.version.clone());
                    }
                }
                out.push(z);
            }
        }
    }
    (out, invalid)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Nanoseconds to microseconds, rounded to nearest.
fn micros(ns: u64) -> u64 {
    ns.saturating_add(500) / 1000
}

fn span_from_otlp(span: &OtlpSpan, res_tags: &BTreeMap<String, String>, local: &Endpoint) -> Span {
    let kind = match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Client) => Some(Kind::Client),
        Ok(SpanKind::Server) => Some(Kind::Server),
        Ok(SpanKind::Producer) => Some(Kind::Producer),
        Ok(SpanKind::Consumer) => Some(Kind::Consumer),
        _ => None,
    };
    let mut tags = res_tags.clone();
    for a in &span.attributes {
        if let Some(v) = &a.value {
            tags.insert(a.key.clone(), attr::to_string(v));
        }
    }
    let code = span
        .status
        .as_ref()
        .and_then(|s| StatusCode::try_from(s.code).ok())
        .unwrap_or(StatusCode::Unset);
    match code {
        StatusCode::Ok => {
            tags.insert(STATUS_CODE_TAG.into(), "OK".into());
        }
        StatusCode::Error => {
            tags.insert(STATUS_CODE_TAG.into(), "ERROR".into());
            let desc = span
                .status
                .as_ref()
                .map(|s| s.message.clone())
                .unwrap_or_default();
            tags.insert(ERROR_TAG.into(), desc);
        }
        StatusCode::Unset => {}
    }
    // "If a boolean version ({"error":false} or {"error":"false"}) is present, it SHOULD be
    // removed": Zipkin treats any `error` tag as a failure.
    if code != StatusCode::Error && tags.get(ERROR_TAG).is_some_and(|v| v == "false") {
        tags.remove(ERROR_TAG);
    }
    for (tag, n) in [
        (DROPPED_ATTRIBUTES_TAG, span.dropped_attributes_count),
        (DROPPED_EVENTS_TAG, span.dropped_events_count),
        (DROPPED_LINKS_TAG, span.dropped_links_count),
    ] {
        if n > 0 {
            tags.insert(tag.into(), n.to_string());
        }
    }
    let annotations = span
        .events
        .iter()
        .map(|e| Annotation {
            timestamp: micros(e.time_unix_nano),
            value: if e.attributes.is_empty() {
                e.name.clone()
            } else {
                let attrs: serde_json::Map<String, serde_json::Value> = e
                    .attributes
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            kv.value
                                .as_ref()
                                .map_or(serde_json::Value::Null, attr::to_json),
                        )
                    })
                    .collect();
                serde_json::json!({ e.name.clone(): attrs }).to_string()
            },
        })
        .collect();
    let timestamp = (span.start_time_unix_nano > 0).then(|| micros(span.start_time_unix_nano));
    let duration = (span.start_time_unix_nano > 0
        && span.end_time_unix_nano >= span.start_time_unix_nano)
        .then(|| micros(span.end_time_unix_nano - span.start_time_unix_nano).max(1));
    let remote = remote_endpoint(&span.attributes);
    Span {
        trace_id: hex(&span.trace_id),
        parent_id: (span.parent_span_id.len() == 8 && span.parent_span_id.iter().any(|b| *b != 0))
            .then(|| hex(&span.parent_span_id)),
        id: hex(&span.span_id),
        kind,
        name: Some(span.name.clone()),
        timestamp,
        duration,
        debug: None,
        shared: None,
        local_endpoint: Some(local.clone()),
        remote_endpoint: (!remote.is_empty()).then_some(remote),
        annotations,
        tags,
    }
}

fn set_ip(ep: &mut Endpoint, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => ep.ipv4 = Some(v4.to_string()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ep.ipv4 = Some(v4.to_string()),
            None => ep.ipv6 = Some(v6.to_string()),
        },
    }
}

fn port(attrs: &[KeyValue], key: &str) -> Option<u16> {
    attr::get_text(attrs, key)
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
}

/// The remote endpoint from span attributes, per the specification's rank table.
fn remote_endpoint(attrs: &[KeyValue]) -> Endpoint {
    let mut ep = Endpoint::default();
    let Some((name_key, port_key, value)) = REMOTE_RANK.iter().find_map(|(k, p)| {
        attr::get_text(attrs, k)
            .filter(|v| !v.is_empty())
            .map(|v| (*k, *p, v))
    }) else {
        return ep;
    };
    match value.parse::<IpAddr>() {
        Ok(ip) => {
            set_ip(&mut ep, ip);
            ep.port = port_key.and_then(|k| port(attrs, k));
        }
        Err(_) => {
            ep.service_name = Some(value);
            if name_key != "peer.service" {
                ep.port = port_key.and_then(|k| port(attrs, k));
            }
        }
    }
    if ep.ipv4.is_none() && ep.ipv6.is_none() {
        for (addr, port_key) in REMOTE_SOCKET {
            if let Some(ip) = attr::get_text(attrs, addr).and_then(|a| a.parse::<IpAddr>().ok()) {
                set_ip(&mut ep, ip);
                ep.port = ep.port.or_else(|| port(attrs, port_key));
                break;
            }
        }
    }
    ep
}
