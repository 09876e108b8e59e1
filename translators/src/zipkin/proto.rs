//! Zipkin v2 protobuf (`zipkin.proto` of openzipkin/zipkin-api, package `zipkin.proto3`): the
//! `ListOfSpans` body of `POST /api/v2/spans` with `Content-Type: application/x-protobuf`, as
//! the Collector's zipkin exporter writes it with `format: proto` and its receiver reads it.
//!
//! The same span as the JSON model ([`Span`]) with binary ids (8 or 16 bytes for the trace,
//! 8 for span and parent), the kind as an enum, IPv4/IPv6 as 4/16 address bytes, and
//! timestamps as `fixed64` microseconds. Field numbers (zipkin.proto):
//!
//! | message | fields |
//! |---|---|
//! | `Span` | `trace_id` 1, `parent_id` 2, `id` 3, `kind` 4, `name` 5, `timestamp` 6 (fixed64), `duration` 7, `local_endpoint` 8, `remote_endpoint` 9, `annotations` 10, `tags` 11 (map), `debug` 12, `shared` 13 |
//! | `Endpoint` | `service_name` 1, `ipv4` 2 (bytes), `ipv6` 3 (bytes), `port` 4 |
//! | `Annotation` | `timestamp` 1 (fixed64), `value` 2 |
//! | `ListOfSpans` | `spans` 1 |

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;

use super::model::{Annotation, Endpoint, Kind, Span};

/// `zipkin.proto3.Span`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoSpan {
    /// 8 or 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, or empty on a root span.
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    /// `Kind`: 0 unspecified, 1 CLIENT, 2 SERVER, 3 PRODUCER, 4 CONSUMER.
    #[prost(int32, tag = "4")]
    pub kind: i32,
    /// Operation name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Start, epoch microseconds.
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    /// Microseconds.
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    /// The recording host.
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    /// The other side.
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    /// Timed events.
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    /// String tags.
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: BTreeMap<String, String>,
    /// Debug flag.
    #[prost(bool, tag = "12")]
    pub debug: bool,
    /// Shared RPC span.
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

/// `zipkin.proto3.Endpoint`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoEndpoint {
    /// Service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// 4 bytes, or empty.
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    /// 16 bytes, or empty.
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    /// Port; 0 = absent.
    #[prost(int32, tag = "4")]
    pub port: i32,
}

/// `zipkin.proto3.Annotation`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAnnotation {
    /// Epoch microseconds.
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    /// The event.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `zipkin.proto3.ListOfSpans`.
#[derive(Clone, PartialEq, Message)]
pub struct ListOfSpans {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
}

fn hex_bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap_or_default()
}

fn bytes_hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn endpoint_to(e: &Endpoint) -> ProtoEndpoint {
    ProtoEndpoint {
        service_name: e.service_name.clone().unwrap_or_default(),
        ipv4: e
            .ipv4
            .as_deref()
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
            .map(|a| a.octets().to_vec())
            .unwrap_or_default(),
        ipv6: e
            .ipv6
            .as_deref()
            .and_then(|a| a.parse::<Ipv6Addr>().ok())
            .map(|a| a.octets().to_vec())
            .unwrap_or_default(),
        port: e.port.map_or(0, i32::from),
    }
}

fn endpoint_from(e: &ProtoEndpoint) -> Result<Endpoint, String> {
    let ipv4 = match e.ipv4.len() {
        0 => None,
        4 => Some(Ipv4Addr::new(e.ipv4[0], e.ipv4[1], e.ipv4[2], e.ipv4[3]).to_string()),
        n => return Err(format!("endpoint ipv4 of {n} bytes (want 4)")),
    };
    let ipv6 = match e.ipv6.len() {
        0 => None,
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&e.ipv6);
            Some(Ipv6Addr::from(b).to_string())
        }
        n => return Err(format!("endpoint ipv6 of {n} bytes (want 16)")),
    };
    let port = match e.port {
        0 => None,
        p => Some(u16::try_from(p).map_err(|_| format!("endpoint port {p} out of range"))?),
    };
    Ok(Endpoint {
        service_name: Some(e.service_name.clone()).filter(|s| !s.is_empty()),
        ipv4,
        ipv6,
        port,
    })
}

/// The `ListOfSpans` protobuf body for `spans` (ids must be the hex the JSON model holds).
pub fn encode(spans: &[Span]) -> Vec<u8> {
    let list = ListOfSpans {
        spans: spans
            .iter()
            .map(|s| ProtoSpan {
                trace_id: hex_bytes(&s.trace_id),
                parent_id: s.parent_id.as_deref().map(hex_bytes).unwrap_or_default(),
                id: hex_bytes(&s.id),
                kind: match s.kind {
                    None => 0,
                    Some(Kind::Client) => 1,
                    Some(Kind::Server) => 2,
                    Some(Kind::Producer) => 3,
                    Some(Kind::Consumer) => 4,
                },
                name: s.name.clone().unwrap_or_default(),
                timestamp: s.timestamp.unwrap_or(0),
                duration: s.duration.unwrap_or(0),
                local_endpoint: s.local_endpoint.as_ref().map(endpoint_to),
                remote_endpoint: s.remote_endpoint.as_ref().map(endpoint_to),
                annotations: s
                    .annotations
                    .iter()
                    .map(|a| ProtoAnnotation {
                        timestamp: a.timestamp,
                        value: a.value.clone(),
                    })
                    .collect(),
                tags: s.tags.clone(),
                debug: s.debug.unwrap_or(false),
                shared: s.shared.unwrap_or(false),
            })
            .collect(),
    };
    list.encode_to_vec()
}

/// The spans of a `ListOfSpans` body, in the JSON model.
///
/// # Errors
/// Not a `ListOfSpans` message, or a span whose ids, kind or endpoint addresses have the wrong
/// size or value (the message names the span and the field).
pub fn decode(body: &[u8]) -> Result<Vec<Span>, String> {
    let list = ListOfSpans::decode(body).map_err(|e| format!("invalid Zipkin protobuf: {e}"))?;
    list.spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let id_err =
                |f: &str, n: usize, want: &str| format!("span {i}: {f} of {n} bytes (want {want})");
            if !matches!(s.trace_id.len(), 8 | 16) {
                return Err(id_err("trace_id", s.trace_id.len(), "8 or 16"));
            }
            if s.id.len() != 8 {
                return Err(id_err("id", s.id.len(), "8"));
            }
            if !matches!(s.parent_id.len(), 0 | 8) {
                return Err(id_err("parent_id", s.parent_id.len(), "8"));
            }
            let kind = match s.kind {
                0 => None,
                1 => Some(Kind::Client),
                2 => Some(Kind::Server),
                3 => Some(Kind::Producer),
                4 => Some(Kind::Consumer),
                k => return Err(format!("span {i}: unknown kind {k}")),
            };
            Ok(Span {
                trace_id: bytes_hex(&s.trace_id),
                parent_id: Some(bytes_hex(&s.parent_id)).filter(|p| !p.is_empty()),
                id: bytes_hex(&s.id),
                kind,
                name: Some(s.name.clone()).filter(|n| !n.is_empty()),
                timestamp: Some(s.timestamp).filter(|t| *t != 0),
                duration: Some(s.duration).filter(|d| *d != 0),
                debug: s.debug.then_some(true),
                shared: s.shared.then_some(true),
                local_endpoint: s
                    .local_endpoint
                    .as_ref()
                    .map(endpoint_from)
                    .transpose()
                    .map_err(|e| format!("span {i}: local_endpoint: {e}"))?,
                remote_endpoint: s
                    .remote_endpoint
                    .as_ref()
                    .map(endpoint_from)
                    .transpose()
                    .map_err(|e| format!("span {i}: remote_endpoint: {e}"))?,
                annotations: s
                    .annotations
                    .iter()
                    .map(|a| Annotation {
                        timestamp: a.timestamp,
                        value: a.value.clone(),
                    })
                    .collect(),
                tags: s.tags.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A span through protobuf and back is the same span in the JSON model; wrong sizes are
    /// named.
    #[test]
    fn round_trip_and_errors() {
        let span = Span {
            trace_id: "0102030405060708090a0b0c0d0e0f10".into(),
            parent_id: Some("1112131415161718".into()),
            id: "2122232425262728".into(),
            kind: Some(Kind::Server),
            name: Some("get /x".into()),
            timestamp: Some(1_700_000_000_000_123),
            duration: Some(42),
            debug: None,
            shared: Some(true),
            local_endpoint: Some(Endpoint {
                service_name: Some("api".into()),
                ipv4: Some("10.0.0.7".into()),
                ipv6: Some("2001:db8::1".into()),
                port: Some(8080),
            }),
            remote_endpoint: None,
            annotations: vec![Annotation {
                timestamp: 1_700_000_000_000_200,
                value: "retry".into(),
            }],
            tags: [("http.method".to_owned(), "GET".to_owned())].into(),
        };
        let back = decode(&encode(std::slice::from_ref(&span))).unwrap();
        assert_eq!(back, vec![span.clone()]);
        let mut bad = ListOfSpans::decode(&encode(&[span])[..]).unwrap();
        bad.spans[0].id = vec![1, 2, 3];
        let e = decode(&bad.encode_to_vec()).unwrap_err();
        assert!(e.contains("span 0: id of 3 bytes"), "{e}");
        assert!(decode(b"\xff\xff").is_err());
    }
}
