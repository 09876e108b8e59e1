//! The load bench's tools: `strata-loadgen` (an OTLP load generator, like the Collector's
//! `telemetrygen`) and `strata-sink` (an OTLP server that counts what it receives). This
//! library holds what both use: the pre-encoded request templates and the raw gRPC codec.
//!
//! Requests are encoded once at start. For traces, every request still carries new trace ids:
//! the template's trace ids sit at known offsets of the encoding and are overwritten in a copy
//! of the bytes (a `memcpy` and a few stores per request), so the generator's own cost stays
//! small next to the collector it drives.

use bytes::{Buf, BufMut};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use strata_pipelines::{Logs, Metrics, Signal, Traces};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A gRPC codec that sends pre-encoded bytes and returns the response's bytes.
#[derive(Default, Clone, Copy)]
pub struct RawCodec;

/// Encoder of [`RawCodec`].
pub struct RawEnc;
/// Decoder of [`RawCodec`].
pub struct RawDec;

impl Encoder for RawEnc {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: bytes::Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<bytes::Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = bytes::Bytes;
    type Encoder = RawEnc;
    type Decoder = RawDec;
    fn encoder(&mut self) -> RawEnc {
        RawEnc
    }
    fn decoder(&mut self) -> RawDec {
        RawDec
    }
}

/// The gRPC method path of a signal's `Export`.
pub fn grpc_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// The OTLP/HTTP path of a signal.
pub fn http_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/v1/traces",
        Signal::Metrics => "/v1/metrics",
        Signal::Logs => "/v1/logs",
    }
}

/// What each request holds.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Items (spans, data points, log records) per request.
    pub items: usize,
    /// Attributes per item.
    pub attributes: usize,
    /// Bytes per attribute value.
    pub value_size: usize,
}

fn attrs(shape: &Shape, seed: usize) -> Vec<KeyValue> {
    (0..shape.attributes)
        .map(|k| KeyValue {
            key: format!("load.attribute.{k}"),
            value: Some(AnyValue {
                value: Some(Av::StringValue(
                    format!("{seed:0width$}", width = shape.value_size)
                        .chars()
                        .take(shape.value_size)
                        .collect(),
                )),
            }),
            ..Default::default()
        })
        .collect()
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Av::StringValue("strata-loadgen".into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Marker in the first half of each template trace id, found again in the encoding.
const MARKER: [u8; 8] = *b"\xa5TRACEID";

/// A pre-encoded request and, for traces, where its trace ids are.
#[derive(Debug, Clone)]
pub struct Template {
    /// The encoded `Export*ServiceRequest`.
    pub bytes: Vec<u8>,
    /// Offsets of each span's 16-byte trace id in `bytes`.
    pub trace_id_offsets: Vec<usize>,
    /// Items in the request.
    pub items: usize,
}

impl Template {
    /// Builds and encodes one request of `signal` with `shape`.
    pub fn new(signal: Signal, shape: Shape) -> Template {
        let now = 1_700_000_000_000_000_000u64;
        let bytes = match signal {
            Signal::Traces => Traces {
                resource_spans: vec![ResourceSpans {
                    resource: resource(),
                    scope_spans: vec![ScopeSpans {
                        scope: None,
                        spans: (0..shape.items)
                            .map(|i| {
                                let mut trace_id = MARKER.to_vec();
                                trace_id.extend_from_slice(&(i as u64).to_be_bytes());
                                Span {
                                    trace_id,
                                    span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                                    name: format!("load-span-{}", i % 10),
                                    kind: 2,
                                    start_time_unix_nano: now,
                                    end_time_unix_nano: now + 1_000_000,
                                    attributes: attrs(&shape, i),
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            }
            .encode_to_vec(),
            Signal::Metrics => Metrics {
                resource_metrics: vec![ResourceMetrics {
                    resource: resource(),
                    scope_metrics: vec![ScopeMetrics {
                        scope: None,
                        metrics: vec![Metric {
                            name: "load.gauge".into(),
                            unit: "1".into(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: (0..shape.items)
                                    .map(|i| NumberDataPoint {
                                        attributes: attrs(&shape, i),
                                        time_unix_nano: now,
                                        value: Some(number_data_point::Value::AsInt(i as i64)),
                                        ..Default::default()
                                    })
                                    .collect(),
                            })),
                            ..Default::default()
                        }],
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            }
            .encode_to_vec(),
            Signal::Logs => Logs {
                resource_logs: vec![ResourceLogs {
                    resource: resource(),
                    scope_logs: vec![ScopeLogs {
                        scope: None,
                        log_records: (0..shape.items)
                            .map(|i| LogRecord {
                                time_unix_nano: now,
                                severity_number: 9,
                                severity_text: "INFO".into(),
                                body: Some(AnyValue {
                                    value: Some(Av::StringValue(format!("load log record {i}"))),
                                }),
                                attributes: attrs(&shape, i),
                                ..Default::default()
                            })
                            .collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            }
            .encode_to_vec(),
        };
        let trace_id_offsets = if signal == Signal::Traces {
            bytes
                .windows(MARKER.len())
                .enumerate()
                .filter(|(_, w)| *w == MARKER)
                .map(|(i, _)| i)
                .collect()
        } else {
            Vec::new()
        };
        if signal == Signal::Traces {
            assert_eq!(
                trace_id_offsets.len(),
                shape.items,
                "marker found once per span"
            );
        }
        Template {
            bytes,
            trace_id_offsets,
            items: shape.items,
        }
    }

    /// A copy with fresh trace ids: `run` in the first 8 bytes, `seq + i` in the last 8, so
    /// that no two spans of one run share a trace id.
    pub fn fresh(&self, run: u64, seq: u64) -> bytes::Bytes {
        let mut b = self.bytes.clone();
        for (i, &off) in self.trace_id_offsets.iter().enumerate() {
            b[off..off + 8].copy_from_slice(&run.to_be_bytes());
            b[off + 8..off + 16].copy_from_slice(&(seq + i as u64).to_be_bytes());
        }
        bytes::Bytes::from(b)
    }
}

/// Items in an encoded request of `signal` (decoded: the sink's count).
///
/// # Errors
/// The bytes are not a valid request.
pub fn count_items(signal: Signal, body: &[u8]) -> Result<usize, prost::DecodeError> {
    use strata_pipelines::SignalData;
    Ok(match signal {
        Signal::Traces => Traces::decode(body)?.item_count(),
        Signal::Metrics => Metrics::decode(body)?.item_count(),
        Signal::Logs => Logs::decode(body)?.item_count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_requests_decode_with_unique_trace_ids() {
        let shape = Shape {
            items: 100,
            attributes: 10,
            value_size: 20,
        };
        let t = Template::new(Signal::Traces, shape);
        let mut seen = std::collections::HashSet::new();
        for (seq, run) in [(0u64, 7u64), (100, 7)] {
            let req = Traces::decode(t.fresh(run, seq)).unwrap();
            let spans = &req.resource_spans[0].scope_spans[0].spans;
            assert_eq!(spans.len(), 100);
            for s in spans {
                assert_eq!(&s.trace_id[..8], &run.to_be_bytes());
                assert!(seen.insert(s.trace_id.clone()));
                assert_eq!(s.attributes.len(), 10);
                assert!(s.attributes.iter().all(|a| match &a.value {
                    Some(AnyValue {
                        value: Some(Av::StringValue(v)),
                    }) => v.len() == 20,
                    _ => false,
                }));
            }
        }
        for signal in Signal::ALL {
            let t = Template::new(signal, shape);
            assert_eq!(count_items(signal, &t.bytes).unwrap(), 100);
        }
    }
}
