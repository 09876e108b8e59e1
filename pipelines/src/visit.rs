//! Visitors over every attribute list of a batch, written once for the three signals and shared
//! by the processors that edit attributes wherever they are (`redaction`, `resourcedetection`,
//! `attributes`).
//!
//! The OTLP data model holds attributes at these sites ([`Site`]): the resource, the
//! instrumentation scope, and the item — span, span event, span link, log record, or metric data
//! point (number, histogram, exponential histogram and summary points alike). Log bodies are
//! visited separately ([`Visitor::log_body`]) because they are an `AnyValue`, not a list.
//! Exemplars' `filtered_attributes` are not visited.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use crate::signal::{Logs, Metrics, Traces};

/// Where an attribute list sits in the OTLP data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    /// `Resource.attributes`.
    Resource,
    /// `InstrumentationScope.attributes`.
    Scope,
    /// `Span.attributes`.
    Span,
    /// `Span.Event.attributes`.
    SpanEvent,
    /// `Span.Link.attributes`.
    SpanLink,
    /// `LogRecord.attributes`.
    LogRecord,
    /// The attributes of a metric data point of any kind.
    DataPoint,
}

/// Receives the attribute lists of a batch, in document order: a resource first, then each of
/// its scopes followed by that scope's items (an item before its events and links).
pub trait Visitor {
    /// Called once per attribute list. A resource or scope that is absent is not visited.
    fn attributes(&mut self, site: Site, attrs: &mut Vec<KeyValue>);
    /// Called once per log record that has a body, after [`Visitor::attributes`] for the
    /// record, with the record's attributes (where a processor records what it did).
    fn log_body(&mut self, _body: &mut AnyValue, _attributes: &mut Vec<KeyValue>) {}
}

/// Visits every attribute list (and log body) of one batch; see [`Visitor`].
pub trait Visit {
    /// Walks the batch.
    fn visit(&mut self, v: &mut dyn Visitor);
}

impl Visit for Traces {
    fn visit(&mut self, v: &mut dyn Visitor) {
        for rs in &mut self.resource_spans {
            if let Some(r) = &mut rs.resource {
                v.attributes(Site::Resource, &mut r.attributes);
            }
            for ss in &mut rs.scope_spans {
                if let Some(s) = &mut ss.scope {
                    v.attributes(Site::Scope, &mut s.attributes);
                }
                for span in &mut ss.spans {
                    v.attributes(Site::Span, &mut span.attributes);
                    for e in &mut span.events {
                        v.attributes(Site::SpanEvent, &mut e.attributes);
                    }
                    for l in &mut span.links {
                        v.attributes(Site::SpanLink, &mut l.attributes);
                    }
                }
            }
        }
    }
}

impl Visit for Logs {
    fn visit(&mut self, v: &mut dyn Visitor) {
        for rl in &mut self.resource_logs {
            if let Some(r) = &mut rl.resource {
                v.attributes(Site::Resource, &mut r.attributes);
            }
            for sl in &mut rl.scope_logs {
                if let Some(s) = &mut sl.scope {
                    v.attributes(Site::Scope, &mut s.attributes);
                }
                for rec in &mut sl.log_records {
                    v.attributes(Site::LogRecord, &mut rec.attributes);
                    if let Some(b) = &mut rec.body {
                        v.log_body(b, &mut rec.attributes);
                    }
                }
            }
        }
    }
}

/// Calls `f` with the attributes of every data point of one metric, whatever its kind.
pub fn data_point_attributes(data: &mut Option<Data>, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter_mut().for_each(|p| f(&mut p.attributes));
        }
        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        None => {}
    }
}

impl Visit for Metrics {
    fn visit(&mut self, v: &mut dyn Visitor) {
        for rm in &mut self.resource_metrics {
            if let Some(r) = &mut rm.resource {
                v.attributes(Site::Resource, &mut r.attributes);
            }
            for sm in &mut rm.scope_metrics {
                if let Some(s) = &mut sm.scope {
                    v.attributes(Site::Scope, &mut s.attributes);
                }
                for m in &mut sm.metrics {
                    data_point_attributes(&mut m.data, |a| v.attributes(Site::DataPoint, a));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry_proto::tonic::metrics::v1::{Histogram, HistogramDataPoint, Metric};
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};

    use super::*;
    use crate::testing::fake;

    #[derive(Default)]
    struct Count(HashMap<Site, usize>, usize);
    impl Visitor for Count {
        fn attributes(&mut self, site: Site, _: &mut Vec<KeyValue>) {
            *self.0.entry(site).or_default() += 1;
        }
        fn log_body(&mut self, _: &mut AnyValue, _: &mut Vec<KeyValue>) {
            self.1 += 1;
        }
    }

    #[test]
    fn every_site_of_every_signal_is_visited_once() {
        let mut t = fake::traces(2, 3);
        let span = &mut t.resource_spans[0].scope_spans[0].spans[0];
        span.events.push(Event::default());
        span.events.push(Event::default());
        span.links.push(Link::default());
        let mut c = Count::default();
        t.visit(&mut c);
        assert_eq!(c.0[&Site::Resource], 2);
        assert_eq!(c.0[&Site::Span], 6);
        assert_eq!(c.0[&Site::SpanEvent], 2);
        assert_eq!(c.0[&Site::SpanLink], 1);

        let mut m = fake::metrics(2, 2, 3);
        m.resource_metrics[0].scope_metrics[0].metrics.push(Metric {
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint::default(); 4],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        });
        let mut c = Count::default();
        m.visit(&mut c);
        assert_eq!(c.0[&Site::DataPoint], 2 * 2 * 3 + 4);

        let mut l = fake::logs(2, 3);
        let mut c = Count::default();
        l.visit(&mut c);
        assert_eq!(c.0[&Site::LogRecord], 6);
        let with_body = l
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| r.body.is_some())
            .count();
        assert_eq!(c.1, with_body);
    }
}
