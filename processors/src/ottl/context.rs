//! The OTTL contexts over the OTLP protobuf types: each borrows the item and its parents.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::Event;

use super::{Field, Subject, Value};

/// The value of an OTLP `AnyValue` (absent → `Nil`; bytes, arrays and maps → `Other`).
pub fn any_value(v: Option<&AnyValue>) -> Value<'_> {
    match v.and_then(|v| v.value.as_ref()) {
        None => Value::Nil,
        Some(Av::StringValue(s)) => Value::Str(Cow::Borrowed(s)),
        Some(Av::IntValue(i)) => Value::Int(*i),
        Some(Av::DoubleValue(d)) => Value::Double(*d),
        Some(Av::BoolValue(b)) => Value::Bool(*b),
        Some(_) => Value::Other,
    }
}

/// The value of attribute `key` in `attrs` (the first one, if duplicated).
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Value<'a> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map_or(Value::Nil, |kv| any_value(kv.value.as_ref()))
}

fn common<'a>(
    f: &Field,
    res: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
) -> Value<'a> {
    match f {
        Field::ResourceAttr(k) => res.map_or(Value::Nil, |r| attr(&r.attributes, k)),
        Field::ScopeName => scope.map_or(Value::Nil, |s| Value::Str(Cow::Borrowed(&s.name))),
        Field::ScopeVersion => scope.map_or(Value::Nil, |s| Value::Str(Cow::Borrowed(&s.version))),
        _ => Value::Nil,
    }
}

fn str_of(s: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(s))
}

/// A span with its resource and scope.
pub struct SpanCtx<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The span.
    pub span: &'a Span,
}

impl Subject for SpanCtx<'_> {
    fn get(&self, f: &Field) -> Value<'_> {
        match f {
            Field::Name => str_of(&self.span.name),
            Field::Kind => Value::Int(i64::from(self.span.kind)),
            Field::StatusCode => Value::Int(self.span.status.as_ref().map_or(0, |s| s.code.into())),
            Field::StatusMessage => self
                .span
                .status
                .as_ref()
                .map_or(str_of(""), |s| str_of(&s.message)),
            Field::Attr(k) => attr(&self.span.attributes, k),
            _ => common(f, self.resource, self.scope),
        }
    }
}

/// A span event with its span, resource and scope.
pub struct SpanEventCtx<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The span the event belongs to.
    pub span: &'a Span,
    /// The event.
    pub event: &'a Event,
}

impl Subject for SpanEventCtx<'_> {
    fn get(&self, f: &Field) -> Value<'_> {
        match f {
            Field::Name => str_of(&self.event.name),
            Field::Attr(k) => attr(&self.event.attributes, k),
            Field::ParentName => str_of(&self.span.name),
            Field::ParentAttr(k) => attr(&self.span.attributes, k),
            _ => common(f, self.resource, self.scope),
        }
    }
}

/// The `METRIC_DATA_TYPE_*` number of a metric.
pub fn metric_type(m: &Metric) -> i64 {
    match m.data {
        None => 0,
        Some(Data::Gauge(_)) => 1,
        Some(Data::Sum(_)) => 2,
        Some(Data::Histogram(_)) => 3,
        Some(Data::ExponentialHistogram(_)) => 4,
        Some(Data::Summary(_)) => 5,
    }
}

fn metric_field<'a>(m: &'a Metric, f: &Field) -> Option<Value<'a>> {
    Some(match f {
        Field::MetricType => Value::Int(metric_type(m)),
        Field::Unit => str_of(&m.unit),
        Field::Description => str_of(&m.description),
        _ => return None,
    })
}

/// Every data point's attribute list of a metric, whatever its kind.
pub fn data_point_attrs(m: &Metric) -> Box<dyn Iterator<Item = &[KeyValue]> + '_> {
    match &m.data {
        None => Box::new(std::iter::empty()),
        Some(Data::Gauge(g)) => Box::new(g.data_points.iter().map(|p| &p.attributes[..])),
        Some(Data::Sum(s)) => Box::new(s.data_points.iter().map(|p| &p.attributes[..])),
        Some(Data::Histogram(h)) => Box::new(h.data_points.iter().map(|p| &p.attributes[..])),
        Some(Data::ExponentialHistogram(h)) => {
            Box::new(h.data_points.iter().map(|p| &p.attributes[..]))
        }
        Some(Data::Summary(s)) => Box::new(s.data_points.iter().map(|p| &p.attributes[..])),
    }
}

/// A metric with its resource and scope.
pub struct MetricCtx<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The metric.
    pub metric: &'a Metric,
}

impl Subject for MetricCtx<'_> {
    fn get(&self, f: &Field) -> Value<'_> {
        match f {
            Field::Name => str_of(&self.metric.name),
            _ => {
                metric_field(self.metric, f).unwrap_or_else(|| common(f, self.resource, self.scope))
            }
        }
    }

    fn has_data_point_attr(&self, key: &str, value: Option<&str>) -> bool {
        data_point_attrs(self.metric).any(|attrs| match (attr(attrs, key), value) {
            (Value::Nil, _) => false,
            (_, None) => true,
            (Value::Str(s), Some(v)) => s == v,
            _ => false,
        })
    }
}

/// One data point of a metric: its attributes and, for number points, its value.
pub struct DataPointCtx<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The metric the point belongs to (its `data` may be taken out while points are filtered).
    pub metric: &'a Metric,
    /// The metric's `METRIC_DATA_TYPE_*` number (see [`metric_type`]).
    pub metric_type: i64,
    /// The point's attributes.
    pub attributes: &'a [KeyValue],
    /// The point, when it is a number data point (gauge or sum).
    pub number: Option<&'a NumberDataPoint>,
}

impl Subject for DataPointCtx<'_> {
    fn get(&self, f: &Field) -> Value<'_> {
        match f {
            Field::Attr(k) => attr(self.attributes, k),
            Field::ParentName => str_of(&self.metric.name),
            Field::MetricType => Value::Int(self.metric_type),
            Field::ValueInt => match self.number.and_then(|p| p.value) {
                Some(number_data_point::Value::AsInt(i)) => Value::Int(i),
                _ => Value::Nil,
            },
            Field::ValueDouble => match self.number.and_then(|p| p.value) {
                Some(number_data_point::Value::AsDouble(d)) => Value::Double(d),
                _ => Value::Nil,
            },
            _ => {
                metric_field(self.metric, f).unwrap_or_else(|| common(f, self.resource, self.scope))
            }
        }
    }
}

/// A log record with its resource and scope.
pub struct LogCtx<'a> {
    /// The resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// The log record.
    pub record: &'a LogRecord,
}

impl Subject for LogCtx<'_> {
    fn get(&self, f: &Field) -> Value<'_> {
        match f {
            Field::Body => any_value(self.record.body.as_ref()),
            Field::SeverityNumber => Value::Int(i64::from(self.record.severity_number)),
            Field::SeverityText => str_of(&self.record.severity_text),
            Field::Attr(k) => attr(&self.record.attributes, k),
            _ => common(f, self.resource, self.scope),
        }
    }
}
