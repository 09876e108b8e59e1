//! OTTL conditions: the boolean subset of the OpenTelemetry Transformation Language that the
//! Collector's `filter` processor takes (`traces.span`, `logs.log_record`, ...).
//!
//! Conditions are parsed and checked once, at config validation: an unknown path, function or
//! enum is a config error naming the condition, never a runtime surprise. Evaluation is then a
//! walk over a small tree with no allocation for the common cases.
//!
//! Supported (OTTL grammar, `pkg/ottl` of opentelemetry-collector-contrib):
//! - boolean expressions: `and`, `or`, `not`, parentheses, `true`, `false`;
//! - comparisons `==`, `!=`, `<`, `<=`, `>`, `>=` between paths and literals (strings, ints,
//!   floats, `nil`, enums). Values of different types are never equal; ints and floats compare
//!   numerically; ordering is defined for numbers and strings only (else false);
//! - paths, with or without the context prefix (`name` or `span.name`):
//!
//! | context | paths |
//! |---|---|
//! | all | `resource.attributes["k"]`, `instrumentation_scope.name`, `instrumentation_scope.version` |
//! | `span` | `name`, `kind`, `status.code`, `status.message`, `attributes["k"]` |
//! | `spanevent` | `name`, `attributes["k"]`, `span.name`, `span.attributes["k"]` |
//! | `metric` | `name`, `type`, `unit`, `description` |
//! | `datapoint` | `attributes["k"]`, `value_int`, `value_double`, `metric.name`, `metric.type`, `metric.unit`, `metric.description` |
//! | `log` | `body`, `severity_number`, `severity_text`, `attributes["k"]` |
//!
//! - enums `SPAN_KIND_*`, `STATUS_CODE_*`, `SEVERITY_NUMBER_*`, `METRIC_DATA_TYPE_*`;
//! - functions `IsMatch(target, "regex")`, `IsString(target)`, `IsInt(target)`,
//!   `IsDouble(target)`, `IsBool(target)`, and in the `metric` context
//!   `HasAttrKeyOnDatapoint("k")` and `HasAttrOnDatapoint("k", "v")`.

pub mod context;
mod parse;

use std::borrow::Cow;
use std::cmp::Ordering;

pub use context::{DataPointCtx, LogCtx, MetricCtx, SpanCtx, SpanEventCtx};
pub use parse::{enum_value, parse};
use regex::Regex;

/// The telemetry item a condition is evaluated on (OTTL "context").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A span.
    Span,
    /// A span event.
    SpanEvent,
    /// A metric (all its data points together).
    Metric,
    /// One data point of a metric.
    DataPoint,
    /// A log record.
    Log,
}

impl Context {
    /// The path prefix naming this context (`span.name`).
    pub fn prefix(self) -> &'static str {
        match self {
            Context::Span => "span",
            Context::SpanEvent => "spanevent",
            Context::Metric => "metric",
            Context::DataPoint => "datapoint",
            Context::Log => "log",
        }
    }
}

/// A field of the item (or of its parents) a path resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// The item's name (span, span event, metric).
    Name,
    /// Span kind, as its enum number.
    Kind,
    /// Span status code, as its enum number.
    StatusCode,
    /// Span status message.
    StatusMessage,
    /// An attribute of the item itself.
    Attr(String),
    /// An attribute of the resource.
    ResourceAttr(String),
    /// Instrumentation scope name.
    ScopeName,
    /// Instrumentation scope version.
    ScopeVersion,
    /// The parent's name: the span of a span event, the metric of a data point.
    ParentName,
    /// An attribute of the parent span of a span event.
    ParentAttr(String),
    /// The metric's data type (`METRIC_DATA_TYPE_*`).
    MetricType,
    /// The metric's unit.
    Unit,
    /// The metric's description.
    Description,
    /// A number data point's integer value.
    ValueInt,
    /// A number data point's double value.
    ValueDouble,
    /// A log record's body.
    Body,
    /// A log record's severity number.
    SeverityNumber,
    /// A log record's severity text.
    SeverityText,
}

/// A value read from telemetry or written in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Absent.
    Nil,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer (also enums).
    Int(i64),
    /// A double.
    Double(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// Bytes, arrays and maps: only equal to nothing, they exist but compare with no literal.
    Other,
}

impl Value<'_> {
    fn ordering(&self, other: &Value<'_>) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Int(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
            (Value::Double(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    fn equals(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => self.ordering(other) == Some(Ordering::Equal),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// What a [`Term`] tests the type of, for `IsString` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    /// `IsString`
    String,
    /// `IsInt`
    Int,
    /// `IsDouble`
    Double,
    /// `IsBool`
    Bool,
}

/// A value-producing part of a condition.
#[derive(Debug, Clone)]
pub enum Term {
    /// A literal.
    Lit(Value<'static>),
    /// A path into the item.
    Field(Field),
    /// `IsMatch(target, pattern)`: the target (a string, or a number or bool in its text form)
    /// contains a match of the regex.
    IsMatch(Box<Term>, Regex),
    /// `IsString(target)` etc.
    IsType(Box<Term>, TypeTest),
    /// `HasAttrKeyOnDatapoint(key)` / `HasAttrOnDatapoint(key, value)` (metric context).
    HasDataPointAttr(String, Option<String>),
    /// A parenthesised boolean expression.
    Group(Box<Condition>),
}

/// A parsed condition: true means "matches" (for `filter`: drop the item).
#[derive(Debug, Clone)]
pub enum Condition {
    /// Any of these.
    Or(Vec<Condition>),
    /// All of these.
    And(Vec<Condition>),
    /// The negation.
    Not(Box<Condition>),
    /// A comparison.
    Cmp(Term, CmpOp, Term),
    /// A term that must evaluate to `true` (a function call, a bool path or literal).
    Truthy(Term),
}

/// An item a condition can be evaluated on: it resolves fields to values.
pub trait Subject {
    /// The value of `f`; [`Value::Nil`] when absent (fields are checked against the context at
    /// parse time, so an unknown field never reaches here).
    fn get(&self, f: &Field) -> Value<'_>;
    /// Whether any data point of the metric has attribute `key` (with string value `value`
    /// when given). Only the metric context answers; others say false.
    fn has_data_point_attr(&self, _key: &str, _value: Option<&str>) -> bool {
        false
    }
}

impl Term {
    fn eval<'a, S: Subject>(&self, s: &'a S) -> Value<'a> {
        match self {
            Term::Lit(v) => v.clone(),
            Term::Field(f) => s.get(f),
            Term::IsMatch(t, re) => Value::Bool(match t.eval(s) {
                Value::Str(v) => re.is_match(&v),
                Value::Int(i) => re.is_match(&i.to_string()),
                Value::Double(d) => re.is_match(&d.to_string()),
                Value::Bool(b) => re.is_match(if b { "true" } else { "false" }),
                Value::Nil | Value::Other => false,
            }),
            Term::IsType(t, ty) => Value::Bool(matches!(
                (t.eval(s), ty),
                (Value::Str(_), TypeTest::String)
                    | (Value::Int(_), TypeTest::Int)
                    | (Value::Double(_), TypeTest::Double)
                    | (Value::Bool(_), TypeTest::Bool)
            )),
            Term::HasDataPointAttr(k, v) => Value::Bool(s.has_data_point_attr(k, v.as_deref())),
            Term::Group(c) => Value::Bool(c.eval(s)),
        }
    }
}

impl Condition {
    /// Evaluates the condition on `s`.
    pub fn eval<S: Subject>(&self, s: &S) -> bool {
        match self {
            Condition::Or(cs) => cs.iter().any(|c| c.eval(s)),
            Condition::And(cs) => cs.iter().all(|c| c.eval(s)),
            Condition::Not(c) => !c.eval(s),
            Condition::Truthy(t) => t.eval(s) == Value::Bool(true),
            Condition::Cmp(a, op, b) => {
                let (a, b) = (a.eval(s), b.eval(s));
                match op {
                    CmpOp::Eq => a.equals(&b),
                    CmpOp::Ne => !a.equals(&b),
                    CmpOp::Lt => a.ordering(&b) == Some(Ordering::Less),
                    CmpOp::Le => matches!(a.ordering(&b), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => a.ordering(&b) == Some(Ordering::Greater),
                    CmpOp::Ge => {
                        matches!(a.ordering(&b), Some(Ordering::Greater | Ordering::Equal))
                    }
                }
            }
        }
    }
}

/// Several conditions of one context; the set matches when any condition does (the `filter`
/// processor's rule).
#[derive(Debug, Clone, Default)]
pub struct AnyOf(pub Vec<Condition>);

impl AnyOf {
    /// Parses every condition for `ctx`.
    ///
    /// # Errors
    /// The first condition that does not parse, with its index and the reason.
    pub fn parse(ctx: Context, conditions: &[String]) -> Result<AnyOf, (usize, String)> {
        conditions
            .iter()
            .enumerate()
            .map(|(i, c)| parse(ctx, c).map_err(|e| (i, e)))
            .collect::<Result<Vec<_>, _>>()
            .map(AnyOf)
    }

    /// True when there are no conditions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when any condition matches `s`.
    pub fn matches<S: Subject>(&self, s: &S) -> bool {
        self.0.iter().any(|c| c.eval(s))
    }
}
