//! The heap bytes an OTLP batch holds once decoded: what the memory budget
//! ([`crate::memory`]) reserves for it. Every `Vec` counts its capacity times its element size
//! and every `String` its capacity, recursively; allocator rounding and headers are not
//! counted. For attribute-heavy spans this is 2.5–4 times the protobuf encoding, and up to 8
//! times for spans with few, short attributes, which is why the budget does not use
//! `encoded_len`.

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value as Av,
};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Metric, exponential_histogram_data_point::Buckets, metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::signal::{Logs, Metrics, Traces};

/// Heap bytes owned by a value (not counting the value itself).
pub trait HeapSize {
    /// See the module docs.
    fn heap_size(&self) -> usize;
}

fn vec<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

fn vec_deep<T: HeapSize>(v: &Vec<T>) -> usize {
    vec(v) + v.iter().map(HeapSize::heap_size).sum::<usize>()
}

impl HeapSize for String {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for AnyValue {
    fn heap_size(&self) -> usize {
        match &self.value {
            Some(Av::StringValue(s)) => s.capacity(),
            Some(Av::BytesValue(b)) => b.capacity(),
            Some(Av::ArrayValue(a)) => vec_deep(&a.values),
            Some(Av::KvlistValue(l)) => vec_deep(&l.values),
            _ => 0,
        }
    }
}

impl HeapSize for KeyValue {
    fn heap_size(&self) -> usize {
        self.key.capacity() + self.value.as_ref().map_or(0, HeapSize::heap_size)
    }
}

impl HeapSize for Resource {
    fn heap_size(&self) -> usize {
        vec_deep(&self.attributes) + vec(&self.entity_refs)
    }
}

impl HeapSize for InstrumentationScope {
    fn heap_size(&self) -> usize {
        self.name.capacity() + self.version.capacity() + vec_deep(&self.attributes)
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_size(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_size)
    }
}

impl HeapSize for Traces {
    fn heap_size(&self) -> usize {
        let mut n = vec(&self.resource_spans);
        for rs in &self.resource_spans {
            n += rs.resource.heap_size() + rs.schema_url.capacity() + vec(&rs.scope_spans);
            for ss in &rs.scope_spans {
                n += ss.scope.heap_size() + ss.schema_url.capacity() + vec(&ss.spans);
                for s in &ss.spans {
                    n += s.trace_id.capacity()
                        + s.span_id.capacity()
                        + s.parent_span_id.capacity()
                        + s.trace_state.capacity()
                        + s.name.capacity()
                        + vec_deep(&s.attributes)
                        + vec(&s.events)
                        + vec(&s.links)
                        + s.status.as_ref().map_or(0, |st| st.message.capacity());
                    for e in &s.events {
                        n += e.name.capacity() + vec_deep(&e.attributes);
                    }
                    for l in &s.links {
                        n += l.trace_id.capacity()
                            + l.span_id.capacity()
                            + l.trace_state.capacity()
                            + vec_deep(&l.attributes);
                    }
                }
            }
        }
        n
    }
}

impl HeapSize for Logs {
    fn heap_size(&self) -> usize {
        let mut n = vec(&self.resource_logs);
        for rl in &self.resource_logs {
            n += rl.resource.heap_size() + rl.schema_url.capacity() + vec(&rl.scope_logs);
            for sl in &rl.scope_logs {
                n += sl.scope.heap_size() + sl.schema_url.capacity() + vec(&sl.log_records);
                for r in &sl.log_records {
                    n += r.severity_text.capacity()
                        + r.body.heap_size()
                        + vec_deep(&r.attributes)
                        + r.trace_id.capacity()
                        + r.span_id.capacity()
                        + r.event_name.capacity();
                }
            }
        }
        n
    }
}

fn exemplars(v: &Vec<Exemplar>) -> usize {
    vec(v)
        + v.iter()
            .map(|e| {
                vec_deep(&e.filtered_attributes) + e.span_id.capacity() + e.trace_id.capacity()
            })
            .sum::<usize>()
}

/// A data-point vector and what each point owns.
fn points<P>(v: &Vec<P>, each: impl Fn(&P) -> usize) -> usize {
    vec(v) + v.iter().map(each).sum::<usize>()
}

fn buckets(b: &Option<Buckets>) -> usize {
    b.as_ref().map_or(0, |b| vec(&b.bucket_counts))
}

impl HeapSize for Metric {
    fn heap_size(&self) -> usize {
        let mut n = self.name.capacity()
            + self.description.capacity()
            + self.unit.capacity()
            + vec_deep(&self.metadata);
        n += match &self.data {
            Some(Data::Gauge(g)) => points(&g.data_points, |p| {
                vec_deep(&p.attributes) + exemplars(&p.exemplars)
            }),
            Some(Data::Sum(s)) => points(&s.data_points, |p| {
                vec_deep(&p.attributes) + exemplars(&p.exemplars)
            }),
            Some(Data::Histogram(h)) => points(&h.data_points, |p| {
                vec_deep(&p.attributes)
                    + exemplars(&p.exemplars)
                    + vec(&p.bucket_counts)
                    + vec(&p.explicit_bounds)
            }),
            Some(Data::ExponentialHistogram(h)) => points(&h.data_points, |p| {
                vec_deep(&p.attributes)
                    + exemplars(&p.exemplars)
                    + buckets(&p.positive)
                    + buckets(&p.negative)
            }),
            Some(Data::Summary(s)) => points(&s.data_points, |p| {
                vec_deep(&p.attributes) + vec(&p.quantile_values)
            }),
            None => 0,
        };
        n
    }
}

impl HeapSize for Metrics {
    fn heap_size(&self) -> usize {
        let mut n = vec(&self.resource_metrics);
        for rm in &self.resource_metrics {
            n += rm.resource.heap_size() + rm.schema_url.capacity() + vec(&rm.scope_metrics);
            for sm in &rm.scope_metrics {
                n += sm.scope.heap_size() + sm.schema_url.capacity() + vec_deep(&sm.metrics);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::testing::fake;

    #[test]
    fn decoded_batches_hold_more_than_their_encoding() {
        let t = fake::traces(10, 100);
        let decoded = Traces::decode(&t.encode_to_vec()[..]).unwrap();
        let (heap, wire) = (decoded.heap_size(), decoded.encoded_len());
        // 1,000 spans: at least the span structs themselves are on the heap.
        assert!(heap >= 1000 * size_of::<opentelemetry_proto::tonic::trace::v1::Span>());
        assert!(heap > 2 * wire, "{heap} vs {wire}");
        let m = fake::metrics(2, 3, 4);
        assert!(m.heap_size() > m.encoded_len());
        let l = fake::logs(2, 5);
        assert!(l.heap_size() > l.encoded_len());
        assert_eq!(Traces::default().heap_size(), 0);

        // A histogram's buckets and bounds are counted with its points.
        use opentelemetry_proto::tonic::metrics::v1::{Histogram, HistogramDataPoint};
        let point = HistogramDataPoint {
            bucket_counts: vec![1; 100],
            explicit_bounds: vec![1.0; 99],
            ..Default::default()
        };
        let metric = Metric {
            data: Some(Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        };
        assert_eq!(
            metric.heap_size(),
            size_of::<HistogramDataPoint>() + 100 * 8 + 99 * 8
        );
    }
}
