//! The three OTLP signals and the batch units that flow through a pipeline.
//!
//! The in-memory model is the OTLP protobuf itself (`opentelemetry-proto`): a [`Traces`] value is
//! an `ExportTraceServiceRequest`, exactly what an OTLP client sends, so receivers and exporters
//! never convert on the hot path.

use std::fmt;

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::{Deserialize, Serialize};

pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest as Logs;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest as Metrics;
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest as Traces;

/// A telemetry signal, as used in pipeline ids (`traces/backend`) and self-metric names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Spans (`ExportTraceServiceRequest`).
    Traces,
    /// Metric data points (`ExportMetricsServiceRequest`).
    Metrics,
    /// Log records (`ExportLogsServiceRequest`).
    Logs,
}

impl Signal {
    /// All signals, in pipeline order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The lowercase name used in configs (`traces`, `metrics`, `logs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The item noun the Collector's self-metrics use: `spans`, `metric_points`, `log_records`
    /// (as in `otelcol_receiver_accepted_spans`).
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    /// Parses `traces`, `metrics` or `logs`.
    pub fn parse(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|sig| sig.as_str() == s)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batch of one signal: the OTLP export request type for that signal.
///
/// `item_count` counts spans, metric data points (every point of every metric kind) or log
/// records. `append` and `split_front` let `batch` merge and split requests without knowing the
/// signal; both keep resource and scope boundaries intact.
pub trait SignalData:
    prost::Message
    + Clone
    + Default
    + Send
    + Sync
    + crate::visit::Visit
    + crate::heap::HeapSize
    + 'static
{
    /// Which signal this type carries.
    const SIGNAL: Signal;
    /// The wire schema [`crate::wire::check`] walks for this request type.
    const WIRE: &'static crate::wire::Schema;
    /// Number of items: spans, data points or log records.
    fn item_count(&self) -> usize;
    /// Every resource slot, for enrichment and redaction written once for all signals.
    fn resources_mut(&mut self) -> Box<dyn Iterator<Item = &mut Option<Resource>> + '_>;
    /// Moves all resources of `other` to the end of `self`.
    fn append(&mut self, other: Self);
    /// Removes and returns the first `n` items (or all, if fewer), splitting a resource or
    /// scope in two when `n` falls inside it.
    fn split_front(&mut self, n: usize) -> Self;
    /// One request per resource (`ResourceSpans`, `ResourceMetrics`, `ResourceLogs`), in order.
    fn into_resources(self) -> Vec<Self>;
}

/// Number of data points in one metric, whatever its kind.
pub fn metric_point_count(data: &Option<Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn split_metric_points(data: &mut Option<Data>, n: usize) -> Option<Data> {
    fn take<P>(v: &mut Vec<P>, n: usize) -> Vec<P> {
        let rest = v.split_off(n.min(v.len()));
        std::mem::replace(v, rest)
    }
    Some(match data.as_mut()? {
        Data::Gauge(g) => Data::Gauge(opentelemetry_proto::tonic::metrics::v1::Gauge {
            data_points: take(&mut g.data_points, n),
        }),
        Data::Sum(s) => Data::Sum(opentelemetry_proto::tonic::metrics::v1::Sum {
            data_points: take(&mut s.data_points, n),
            aggregation_temporality: s.aggregation_temporality,
            is_monotonic: s.is_monotonic,
        }),
        Data::Histogram(h) => Data::Histogram(opentelemetry_proto::tonic::metrics::v1::Histogram {
            data_points: take(&mut h.data_points, n),
            aggregation_temporality: h.aggregation_temporality,
        }),
        Data::ExponentialHistogram(h) => Data::ExponentialHistogram(
            opentelemetry_proto::tonic::metrics::v1::ExponentialHistogram {
                data_points: take(&mut h.data_points, n),
                aggregation_temporality: h.aggregation_temporality,
            },
        ),
        Data::Summary(s) => Data::Summary(opentelemetry_proto::tonic::metrics::v1::Summary {
            data_points: take(&mut s.data_points, n),
        }),
    })
}

/// Generic three-level split (resource → scope → items), shared by the three signals.
macro_rules! split_three_levels {
    ($self:ident, $n:ident, $res_field:ident, $scope_field:ident, $items:ident) => {{
        let mut out = Self::default();
        let mut left = $n;
        while left > 0 && !$self.$res_field.is_empty() {
            let res = &mut $self.$res_field[0];
            let res_count: usize = res.$scope_field.iter().map(|s| s.$items.len()).sum();
            if res_count <= left {
                left -= res_count;
                out.$res_field.push($self.$res_field.remove(0));
                continue;
            }
            // Split inside this resource.
            let mut head = res.clone();
            head.$scope_field.clear();
            while left > 0 {
                let scope = &mut res.$scope_field[0];
                if scope.$items.len() <= left {
                    left -= scope.$items.len();
                    head.$scope_field.push(res.$scope_field.remove(0));
                } else {
                    let rest = scope.$items.split_off(left);
                    let mut scope_head = scope.clone();
                    scope.$items = rest;
                    scope_head.$items.truncate(left);
                    head.$scope_field.push(scope_head);
                    left = 0;
                }
            }
            out.$res_field.push(head);
        }
        out
    }};
}

impl SignalData for Traces {
    const SIGNAL: Signal = Signal::Traces;
    const WIRE: &'static crate::wire::Schema = crate::wire::schemas::TRACES;

    fn item_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    fn resources_mut(&mut self) -> Box<dyn Iterator<Item = &mut Option<Resource>> + '_> {
        Box::new(self.resource_spans.iter_mut().map(|r| &mut r.resource))
    }

    fn into_resources(self) -> Vec<Self> {
        self.resource_spans
            .into_iter()
            .map(|r| Traces {
                resource_spans: vec![r],
            })
            .collect()
    }

    fn append(&mut self, other: Self) {
        self.resource_spans.extend(other.resource_spans);
    }

    fn split_front(&mut self, n: usize) -> Self {
        split_three_levels!(self, n, resource_spans, scope_spans, spans)
    }
}

impl SignalData for Logs {
    const SIGNAL: Signal = Signal::Logs;
    const WIRE: &'static crate::wire::Schema = crate::wire::schemas::LOGS;

    fn item_count(&self) -> usize {
        self.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }

    fn resources_mut(&mut self) -> Box<dyn Iterator<Item = &mut Option<Resource>> + '_> {
        Box::new(self.resource_logs.iter_mut().map(|r| &mut r.resource))
    }

    fn into_resources(self) -> Vec<Self> {
        self.resource_logs
            .into_iter()
            .map(|r| Logs {
                resource_logs: vec![r],
            })
            .collect()
    }

    fn append(&mut self, other: Self) {
        self.resource_logs.extend(other.resource_logs);
    }

    fn split_front(&mut self, n: usize) -> Self {
        split_three_levels!(self, n, resource_logs, scope_logs, log_records)
    }
}

impl SignalData for Metrics {
    const SIGNAL: Signal = Signal::Metrics;
    const WIRE: &'static crate::wire::Schema = crate::wire::schemas::METRICS;

    fn item_count(&self) -> usize {
        self.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| metric_point_count(&m.data))
            .sum()
    }

    fn resources_mut(&mut self) -> Box<dyn Iterator<Item = &mut Option<Resource>> + '_> {
        Box::new(self.resource_metrics.iter_mut().map(|r| &mut r.resource))
    }

    fn into_resources(self) -> Vec<Self> {
        self.resource_metrics
            .into_iter()
            .map(|r| Metrics {
                resource_metrics: vec![r],
            })
            .collect()
    }

    fn append(&mut self, other: Self) {
        self.resource_metrics.extend(other.resource_metrics);
    }

    fn split_front(&mut self, n: usize) -> Self {
        // Metrics have a fourth level (metric → data points), so they are split by hand.
        let mut out = Self::default();
        let mut left = n;
        while left > 0 && !self.resource_metrics.is_empty() {
            let rm = &mut self.resource_metrics[0];
            let count: usize = rm
                .scope_metrics
                .iter()
                .flat_map(|s| &s.metrics)
                .map(|m| metric_point_count(&m.data))
                .sum();
            if count <= left {
                left -= count;
                out.resource_metrics.push(self.resource_metrics.remove(0));
                continue;
            }
            let mut head = rm.clone();
            head.scope_metrics.clear();
            while left > 0 && !rm.scope_metrics.is_empty() {
                let sm = &mut rm.scope_metrics[0];
                let mut scope_head = sm.clone();
                scope_head.metrics.clear();
                while left > 0 && !sm.metrics.is_empty() {
                    let m = &mut sm.metrics[0];
                    let points = metric_point_count(&m.data);
                    if points <= left {
                        left -= points;
                        scope_head.metrics.push(sm.metrics.remove(0));
                    } else {
                        let mut metric_head = m.clone();
                        metric_head.data = split_metric_points(&mut m.data, left);
                        scope_head.metrics.push(metric_head);
                        left = 0;
                    }
                }
                if sm.metrics.is_empty() {
                    rm.scope_metrics.remove(0);
                }
                head.scope_metrics.push(scope_head);
            }
            out.resource_metrics.push(head);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fake;

    #[test]
    fn split_front_keeps_every_item_once() {
        for (total, cut) in [(10, 3), (10, 10), (10, 0), (7, 20), (12, 5)] {
            let mut t = fake::traces(3, total / 3 + 1);
            let before = t.item_count();
            let head = t.split_front(cut);
            assert_eq!(head.item_count(), cut.min(before));
            assert_eq!(head.item_count() + t.item_count(), before);

            let mut m = fake::metrics(2, 4, 3);
            let before = m.item_count();
            let head = m.split_front(cut);
            assert_eq!(head.item_count(), cut.min(before));
            assert_eq!(head.item_count() + m.item_count(), before);

            let mut l = fake::logs(2, total);
            let before = l.item_count();
            let head = l.split_front(cut);
            assert_eq!(head.item_count(), cut.min(before));
            assert_eq!(head.item_count() + l.item_count(), before);
        }
    }

    #[test]
    fn split_then_append_restores_order() {
        let orig = fake::traces(2, 5);
        let mut rest = orig.clone();
        let head = rest.split_front(7);
        let ids = |t: &Traces| -> Vec<Vec<u8>> {
            t.resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.span_id.clone())
                .collect()
        };
        let mut joined = head;
        joined.append(rest);
        assert_eq!(ids(&joined), ids(&orig));
    }
}
