//! Test helpers (feature `testing`): fake data and consumers that record or fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::consumer::{Accepted, ConsumeResult, Consumer};
use crate::error::ConsumeError;
use crate::signal::SignalData;

/// Builders of deterministic OTLP batches.
pub mod fake {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use crate::signal::{Logs, Metrics, Traces};

    /// A string attribute.
    pub fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn resource(i: usize) -> Option<Resource> {
        Some(Resource {
            attributes: vec![kv("service.name", &format!("svc-{i}"))],
            ..Default::default()
        })
    }

    fn scope() -> Option<InstrumentationScope> {
        Some(InstrumentationScope {
            name: "strata.test".into(),
            version: "1".into(),
            ..Default::default()
        })
    }

    /// `n_res` resources with `n_spans` spans each; span ids are unique and sequential.
    pub fn traces(n_res: usize, n_spans: usize) -> Traces {
        let mut seq = 0u64;
        Traces {
            resource_spans: (0..n_res)
                .map(|r| ResourceSpans {
                    resource: resource(r),
                    scope_spans: vec![ScopeSpans {
                        scope: scope(),
                        spans: (0..n_spans)
                            .map(|_| {
                                seq += 1;
                                Span {
                                    trace_id: [1u8; 16].to_vec(),
                                    span_id: seq.to_be_bytes().to_vec(),
                                    name: format!("span-{seq}"),
                                    start_time_unix_nano: 1_700_000_000_000_000_000 + seq,
                                    end_time_unix_nano: 1_700_000_000_000_000_100 + seq,
                                    attributes: vec![kv("seq", &seq.to_string())],
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    /// `n_res` resources with `n_metrics` gauges of `n_points` points each.
    pub fn metrics(n_res: usize, n_metrics: usize, n_points: usize) -> Metrics {
        Metrics {
            resource_metrics: (0..n_res)
                .map(|r| ResourceMetrics {
                    resource: resource(r),
                    scope_metrics: vec![ScopeMetrics {
                        scope: scope(),
                        metrics: (0..n_metrics)
                            .map(|m| Metric {
                                name: format!("test.gauge.{m}"),
                                unit: "1".into(),
                                data: Some(metric::Data::Gauge(Gauge {
                                    data_points: (0..n_points)
                                        .map(|p| NumberDataPoint {
                                            time_unix_nano: 1_700_000_000_000_000_000,
                                            value: Some(number_data_point::Value::AsInt(p as i64)),
                                            attributes: vec![kv("point", &p.to_string())],
                                            ..Default::default()
                                        })
                                        .collect(),
                                })),
                                ..Default::default()
                            })
                            .collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    /// `n_res` resources with `n_logs` log records each.
    pub fn logs(n_res: usize, n_logs: usize) -> Logs {
        Logs {
            resource_logs: (0..n_res)
                .map(|r| ResourceLogs {
                    resource: resource(r),
                    scope_logs: vec![ScopeLogs {
                        scope: scope(),
                        log_records: (0..n_logs)
                            .map(|i| LogRecord {
                                time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                                severity_number: 9,
                                severity_text: "INFO".into(),
                                body: Some(AnyValue {
                                    value: Some(any_value::Value::StringValue(format!(
                                        "log {r}/{i}"
                                    ))),
                                }),
                                ..Default::default()
                            })
                            .collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        }
    }
}

/// Records every batch it is given, decoding those that arrive encoded (and counting them).
pub struct CollectingConsumer<T> {
    batches: Mutex<Vec<T>>,
    encoded: std::sync::atomic::AtomicUsize,
}

impl<T> Default for CollectingConsumer<T> {
    fn default() -> Self {
        CollectingConsumer {
            batches: Mutex::new(Vec::new()),
            encoded: Default::default(),
        }
    }
}

impl<T: SignalData> CollectingConsumer<T> {
    /// Every batch received so far, in order.
    pub fn batches(&self) -> Vec<T> {
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Total items received.
    pub fn item_count(&self) -> usize {
        self.batches().iter().map(SignalData::item_count).sum()
    }

    /// How many of the batches arrived still encoded ([`Consumer::consume_encoded`]).
    pub fn encoded_batches(&self) -> usize {
        self.encoded.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl<T: SignalData> Consumer<T> for CollectingConsumer<T> {
    async fn consume(&self, data: T) -> ConsumeResult {
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(data);
        Ok(Accepted::all())
    }

    async fn consume_encoded(&self, data: crate::wire::Encoded<T>) -> ConsumeResult {
        self.encoded
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.consume(data.decode()?).await
    }

    /// It records what it gets decoded, but takes it encoded (as an OTLP exporter does).
    fn keeps_encoded(&self) -> bool {
        true
    }
}

/// Takes requests decoded, as a processor that looks inside does, and hands them to a
/// [`CollectingConsumer`] (whose `encoded_batches` then stays 0).
pub struct DecodingConsumer<T>(pub Arc<CollectingConsumer<T>>);

#[async_trait]
impl<T: SignalData> Consumer<T> for DecodingConsumer<T> {
    async fn consume(&self, data: T) -> ConsumeResult {
        self.0.consume(data).await
    }
}

/// Refuses every batch, retryably or permanently, counting the calls.
pub struct FailingConsumer {
    retryable: bool,
    calls: AtomicUsize,
}

impl FailingConsumer {
    /// Answers every call with a retryable error.
    pub fn retryable() -> Self {
        FailingConsumer {
            retryable: true,
            calls: AtomicUsize::new(0),
        }
    }

    /// Answers every call with a permanent error.
    pub fn permanent() -> Self {
        FailingConsumer {
            retryable: false,
            calls: AtomicUsize::new(0),
        }
    }

    /// Number of calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl<T: SignalData> Consumer<T> for FailingConsumer {
    async fn consume(&self, _data: T) -> ConsumeResult {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.retryable {
            Err(ConsumeError::retryable("test consumer is down"))
        } else {
            Err(ConsumeError::permanent("test consumer rejects everything"))
        }
    }
}

/// One random mutation of `seed` for the fuzz smoke tests: 1 to 5 byte overwrites, bit flips,
/// truncations, duplicated slices (repeated fields, deeper nesting) or insertions.
pub fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.usize(1..6) {
        match rng.u8(0..5) {
            0 if !b.is_empty() => {
                let i = rng.usize(0..b.len());
                b[i] = rng.u8(..);
            }
            1 if !b.is_empty() => {
                let i = rng.usize(0..b.len());
                b[i] ^= 1 << rng.u8(0..8);
            }
            2 if !b.is_empty() => b.truncate(rng.usize(0..b.len())),
            3 if b.len() > 2 => {
                let i = rng.usize(0..b.len() - 1);
                let j = rng.usize(i + 1..b.len());
                let slice = b[i..j].to_vec();
                let at = rng.usize(0..=b.len());
                b.splice(at..at, slice);
            }
            _ => {
                let i = rng.usize(0..=b.len());
                b.insert(i, rng.u8(..));
            }
        }
    }
    b
}
