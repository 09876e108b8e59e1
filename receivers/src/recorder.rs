//! A scraping receiver's metric table and the recorder that turns readings into OTLP metrics.
//!
//! A receiver declares every metric it can emit once, in a `&'static [Def]` table (name, UCUM
//! unit, counter or gauge, attribute keys, where the value comes from). The same table renders
//! the Markdown table of the receiver's docs and the README ([`markdown_table`]) and drives the
//! [`Recorder`], so a metric cannot be emitted with a unit or a type other than documented.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    metric, number_data_point,
};

/// How a metric is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cumulative monotonic sum (a counter since the source started).
    Counter,
    /// Cumulative non-monotonic sum (an up-down counter, e.g. `hw.status`).
    UpDownCounter,
    /// Gauge (a level now).
    Gauge,
    /// Cumulative explicit-bucket histogram (recorded with [`Recorder::add_histogram`]).
    Histogram,
}

/// One row of a metric table.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    /// Metric name.
    pub name: &'static str,
    /// UCUM unit.
    pub unit: &'static str,
    /// Counter, up-down counter or gauge.
    pub kind: Kind,
    /// Whether values are integers (else doubles).
    pub int: bool,
    /// Attribute keys, in order.
    pub attributes: &'static [&'static str],
    /// Where the value comes from (method and fields, schema and property).
    pub source: &'static str,
    /// Description.
    pub description: &'static str,
}

/// A [`Def`] in one line: `def!(name, unit, Kind, int, [attrs], source, description)`.
#[macro_export]
macro_rules! def {
    ($name:literal, $unit:literal, $kind:ident, $int:literal, [$($a:literal),*], $src:literal, $desc:literal) => {
        $crate::recorder::Def {
            name: $name,
            unit: $unit,
            kind: $crate::recorder::Kind::$kind,
            int: $int,
            attributes: &[$($a),*],
            source: $src,
            description: $desc,
        }
    };
}

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    /// A string.
    S(String),
    /// An integer.
    I(i64),
    /// A boolean.
    B(bool),
    /// No value: the key is left out of this data point.
    None,
}

impl From<&str> for Attr {
    fn from(s: &str) -> Self {
        Attr::S(s.to_owned())
    }
}

impl From<String> for Attr {
    fn from(s: String) -> Self {
        Attr::S(s)
    }
}

impl From<Option<String>> for Attr {
    fn from(s: Option<String>) -> Self {
        s.map_or(Attr::None, Attr::S)
    }
}

impl From<i64> for Attr {
    fn from(i: i64) -> Self {
        Attr::I(i)
    }
}

impl From<bool> for Attr {
    fn from(b: bool) -> Self {
        Attr::B(b)
    }
}

/// A point value: integers stay integers.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    /// Integer.
    I(u64),
    /// Double.
    F(f64),
}

/// Collects data points per metric during one scrape.
pub struct Recorder {
    defs: &'static [Def],
    start: u64,
    now: u64,
    points: BTreeMap<&'static str, Vec<NumberDataPoint>>,
    histograms: BTreeMap<&'static str, Vec<HistogramDataPoint>>,
}

/// One cumulative explicit-bucket histogram reading (OTLP `HistogramDataPoint`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramReading {
    /// Start of the cumulative series, Unix nanoseconds.
    pub start: u64,
    /// Upper-inclusive bucket bounds, ascending.
    pub bounds: Vec<f64>,
    /// Per-bucket counts, `bounds.len() + 1` of them.
    pub counts: Vec<u64>,
    /// Sum of the values, when known.
    pub sum: Option<f64>,
}

impl Recorder {
    /// A recorder over the table `defs`, stamping sums with `start` and every point with `now`
    /// (Unix nanoseconds).
    pub fn new(defs: &'static [Def], start: u64, now: u64) -> Self {
        Recorder {
            defs,
            start,
            now,
            points: BTreeMap::new(),
            histograms: BTreeMap::new(),
        }
    }

    fn def(&self, name: &str) -> &'static Def {
        self.defs
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("metric {name} is not in the table"))
    }

    /// Records `v` for `name` with attribute values in the order of the definition's keys
    /// ([`Attr::None`] leaves a key out).
    ///
    /// # Panics
    /// When `name` is not in the table: a programming error caught by the receiver's tests.
    pub fn add(&mut self, name: &'static str, attrs: Vec<Attr>, v: Num) {
        let d = self.def(name);
        debug_assert_eq!(attrs.len(), d.attributes.len(), "{name}");
        let value = match (d.int, v) {
            (true, Num::I(i)) => {
                number_data_point::Value::AsInt(i64::try_from(i).unwrap_or(i64::MAX))
            }
            (true, Num::F(f)) => number_data_point::Value::AsInt(f as i64),
            (false, Num::I(i)) => number_data_point::Value::AsDouble(i as f64),
            (false, Num::F(f)) => number_data_point::Value::AsDouble(f),
        };
        let attributes = attributes(d, attrs);
        self.points
            .entry(d.name)
            .or_default()
            .push(NumberDataPoint {
                attributes,
                start_time_unix_nano: if d.kind == Kind::Gauge { 0 } else { self.start },
                time_unix_nano: self.now,
                value: Some(value),
                ..Default::default()
            });
    }

    /// Records one histogram reading for `name` (a [`Kind::Histogram`] row), stamped with the
    /// recorder's `now` and the reading's own start.
    ///
    /// # Panics
    /// When `name` is not in the table or is not a histogram: a programming error.
    pub fn add_histogram(&mut self, name: &'static str, attrs: Vec<Attr>, h: HistogramReading) {
        let d = self.def(name);
        assert_eq!(d.kind, Kind::Histogram, "{name} is not a histogram");
        debug_assert_eq!(h.counts.len(), h.bounds.len() + 1, "{name}");
        let attributes = attributes(d, attrs);
        self.histograms
            .entry(d.name)
            .or_default()
            .push(HistogramDataPoint {
                attributes,
                start_time_unix_nano: h.start,
                time_unix_nano: self.now,
                count: h.counts.iter().sum(),
                sum: h.sum,
                bucket_counts: h.counts,
                explicit_bounds: h.bounds,
                ..Default::default()
            });
    }

    /// The metrics recorded, in table order.
    pub fn finish(self) -> Vec<Metric> {
        let mut points = self.points;
        let mut histograms = self.histograms;
        self.defs
            .iter()
            .filter_map(|d| {
                if d.kind == Kind::Histogram {
                    let p = histograms.remove(d.name)?;
                    return Some(Metric {
                        name: d.name.to_owned(),
                        description: d.description.to_owned(),
                        unit: d.unit.to_owned(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: p,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Default::default()
                    });
                }
                let p = points.remove(d.name)?;
                let data = match d.kind {
                    Kind::Counter | Kind::UpDownCounter => metric::Data::Sum(Sum {
                        data_points: p,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: d.kind == Kind::Counter,
                    }),
                    Kind::Gauge | Kind::Histogram => metric::Data::Gauge(Gauge { data_points: p }),
                };
                Some(Metric {
                    name: d.name.to_owned(),
                    description: d.description.to_owned(),
                    unit: d.unit.to_owned(),
                    data: Some(data),
                    ..Default::default()
                })
            })
            .collect()
    }
}

/// The data point attributes of `attrs`, keyed by `d`'s keys ([`Attr::None`] leaves one out).
fn attributes(d: &Def, attrs: Vec<Attr>) -> Vec<KeyValue> {
    d.attributes
        .iter()
        .zip(attrs)
        .filter_map(|(k, a)| {
            let value = match a {
                Attr::S(s) => any_value::Value::StringValue(s),
                Attr::I(i) => any_value::Value::IntValue(i),
                Attr::B(b) => any_value::Value::BoolValue(b),
                Attr::None => return None,
            };
            Some(KeyValue {
                key: (*k).to_owned(),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            })
        })
        .collect()
}

/// The table `defs` in Markdown (metric, unit, type, attributes, and `source_header` for the
/// source column), as the module docs and the README show it.
pub fn markdown_table(defs: &[Def], source_header: &str) -> String {
    let mut out =
        format!("| metric | unit | type | attributes | {source_header} |\n|---|---|---|---|---|\n");
    for d in defs {
        let attrs = d
            .attributes
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            d.name,
            d.unit,
            match (d.kind, d.int) {
                (Kind::Counter, true) => "counter (int)",
                (Kind::Counter, false) => "counter (double)",
                (Kind::UpDownCounter, true) => "updowncounter (int)",
                (Kind::UpDownCounter, false) => "updowncounter (double)",
                (Kind::Gauge, true) => "gauge (int)",
                (Kind::Gauge, false) => "gauge (double)",
                (Kind::Histogram, _) => "histogram (cumulative)",
            },
            attrs,
            d.source
        ));
    }
    out
}

/// Checks that `table` appears in the module docs of `module_source` (the text of its `//!`
/// lines) and in `readme`, so the documented metrics cannot drift from the emitted ones.
///
/// # Errors
/// Which of the two lacks the table, with the table.
pub fn check_documented(table: &str, module_source: &str, readme: &str) -> Result<(), String> {
    let doc: String = module_source
        .lines()
        .filter_map(|l| l.strip_prefix("//! ").or(l.strip_prefix("//!")))
        .map(|l| format!("{l}\n"))
        .collect();
    if !doc.contains(table) {
        return Err(format!("the module docs lack the table:\n{table}"));
    }
    if !readme.contains(table) {
        return Err(format!("README.md lacks the table:\n{table}"));
    }
    Ok(())
}
