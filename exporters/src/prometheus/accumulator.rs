//! The state behind the endpoint: one value per (family, label set), cumulative.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use strata_pipelines::Metrics;
use strata_pipelines::proto::tonic::common::v1::KeyValue;
use strata_pipelines::proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, NumberDataPoint, metric::Data,
    number_data_point::Value as NumberValue,
};
use strata_translators::attr;
use strata_translators::prometheus::{MetricType, label_name, metric_name_with, unit_suffix};

use super::Config;

/// A sorted label set.
pub type Labels = Vec<(String, String)>;

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;

/// The value of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's or gauge's value.
    Number(f64),
    /// An explicit-bucket histogram: upper bounds, per-bucket counts (bounds + 1), sum, count.
    Histogram {
        /// Bucket upper bounds, ascending.
        bounds: Vec<f64>,
        /// Count per bucket (not cumulative); one more than `bounds`.
        counts: Vec<u64>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
    /// A summary: `(quantile, value)`, sum, count.
    Summary {
        /// `(quantile, value)` pairs.
        quantiles: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// One series.
#[derive(Debug, Clone)]
pub struct Series {
    /// The current cumulative value.
    pub value: Value,
    /// The point's time, Unix nanoseconds.
    pub time_unix_nano: u64,
    updated: Instant,
}

/// A metric family: one name, one type.
#[derive(Debug, Clone)]
pub struct Family {
    /// Its type.
    pub kind: MetricType,
    /// `# HELP` text (the first non-empty description seen).
    pub help: String,
    /// OpenMetrics unit (`seconds`, `bytes_per_second`), empty if none.
    pub unit: String,
    /// Series by label set.
    pub series: BTreeMap<Labels, Series>,
}

#[derive(Default)]
struct State {
    families: BTreeMap<String, Family>,
    /// `target_info` series: labels → last seen.
    targets: BTreeMap<Labels, Instant>,
    last_sweep: Option<Instant>,
}

/// Accumulates OTLP metrics into cumulative Prometheus series (module docs of
/// [`super`] for the rules).
pub struct Accumulator {
    namespace: String,
    const_labels: Labels,
    resource_labels: bool,
    /// `exclude_service_attributes`: no `service.*` labels beside `job` and `instance`.
    exclude_service: bool,
    /// Unit and type suffixes on names.
    suffixes: bool,
    /// `without_scope_info`.
    without_scope: bool,
    expiration: Duration,
    state: Mutex<State>,
}

/// What [`Accumulator::accumulate`] could not keep: `(points, reason)`.
pub type Dropped = Vec<(usize, String)>;

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(NumberValue::AsDouble(d)) => d,
        #[allow(clippy::cast_precision_loss)] // Prometheus values are doubles.
        Some(NumberValue::AsInt(i)) => i as f64,
        None => f64::NAN,
    }
}

/// Adds `(key, value)` unless `key` is already present.
fn add_absent(labels: &mut Labels, key: String, value: String) {
    if !labels.iter().any(|(k, _)| *k == key) {
        labels.push((key, value));
    }
}

/// Attribute labels: sanitised keys; values of keys that sanitise to the same name are joined
/// with `;` in the order of their original keys (as the Collector does).
fn attribute_labels(attrs: &[KeyValue]) -> Labels {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out: Labels = Vec::new();
    for kv in sorted {
        let name = label_name(&kv.key);
        let value = kv.value.as_ref().map(attr::to_string).unwrap_or_default();
        match out.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                v.push(';');
                v.push_str(&value);
            }
            None => out.push((name, value)),
        }
    }
    out
}

impl Accumulator {
    /// An empty accumulator for `cfg`.
    pub fn new(cfg: &Config) -> Self {
        Accumulator {
            namespace: cfg.namespace.clone(),
            const_labels: cfg
                .const_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            resource_labels: cfg.resource_to_telemetry_conversion.enabled,
            exclude_service: cfg
                .resource_to_telemetry_conversion
                .exclude_service_attributes,
            suffixes: cfg.suffixes(),
            without_scope: cfg.without_scope_info,
            expiration: cfg.metric_expiration,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Folds `data` into the series. Returns the points it dropped, with why.
    pub fn accumulate(&self, data: &Metrics) -> Dropped {
        let now = Instant::now();
        let mut dropped: Dropped = Vec::new();
        let mut st = self.lock();
        for rm in &data.resource_metrics {
            let res: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            let mut base: Labels = Vec::new();
            let service = attr::get_text(res, "service.name");
            let job = match (attr::get_text(res, "service.namespace"), &service) {
                (Some(ns), Some(s)) => Some(format!("{ns}/{s}")),
                (None, Some(s)) => Some(s.clone()),
                _ => None,
            };
            if let Some(job) = job {
                base.push(("job".into(), job));
            }
            if let Some(instance) = attr::get_text(res, "service.instance.id") {
                base.push(("instance".into(), instance));
            }
            let others: Vec<KeyValue> = res
                .iter()
                .filter(|kv| {
                    !matches!(
                        kv.key.as_str(),
                        "service.name" | "service.namespace" | "service.instance.id"
                    )
                })
                .cloned()
                .collect();
            let resource_attr_labels = attribute_labels(&others);
            // `exclude_service_attributes: false` (the Collector's default) copies the
            // service attributes too, beside the `job` and `instance` made from them.
            let service_attrs: Vec<KeyValue> = if self.exclude_service {
                Vec::new()
            } else {
                res.iter()
                    .filter(|kv| {
                        matches!(
                            kv.key.as_str(),
                            "service.name" | "service.namespace" | "service.instance.id"
                        )
                    })
                    .cloned()
                    .collect()
            };
            let service_attr_labels = attribute_labels(&service_attrs);
            if !others.is_empty() {
                let mut target = base.clone();
                for (k, v) in &resource_attr_labels {
                    add_absent(&mut target, k.clone(), v.clone());
                }
                for (k, v) in &self.const_labels {
                    add_absent(&mut target, k.clone(), v.clone());
                }
                target.sort();
                st.targets.insert(target, now);
            }
            for sm in &rm.scope_metrics {
                let mut scope_labels: Labels = Vec::new();
                if let Some(scope) = sm
                    .scope
                    .as_ref()
                    .filter(|s| !s.name.is_empty() && !self.without_scope)
                {
                    scope_labels.push(("otel_scope_name".into(), scope.name.clone()));
                    if !scope.version.is_empty() {
                        scope_labels.push(("otel_scope_version".into(), scope.version.clone()));
                    }
                }
                let labels_of = |attrs: &[KeyValue]| -> Labels {
                    let mut l = attribute_labels(attrs);
                    for (k, v) in scope_labels.iter().chain(&base) {
                        add_absent(&mut l, k.clone(), v.clone());
                    }
                    if self.resource_labels {
                        for (k, v) in resource_attr_labels.iter().chain(&service_attr_labels) {
                            add_absent(&mut l, k.clone(), v.clone());
                        }
                    }
                    for (k, v) in &self.const_labels {
                        add_absent(&mut l, k.clone(), v.clone());
                    }
                    l.sort();
                    l
                };
                for m in &sm.metrics {
                    let Some(data) = &m.data else { continue };
                    let (kind, temporality) = match data {
                        Data::Gauge(_) => (MetricType::Gauge, None),
                        Data::Sum(s) => (
                            if s.is_monotonic {
                                MetricType::Counter
                            } else {
                                MetricType::Gauge
                            },
                            Some(s.aggregation_temporality),
                        ),
                        Data::Histogram(h) => {
                            (MetricType::Histogram, Some(h.aggregation_temporality))
                        }
                        Data::Summary(_) => (MetricType::Summary, None),
                        Data::ExponentialHistogram(e) => {
                            dropped.push((
                                e.data_points.len(),
                                format!("{}: exponential histograms are not supported", m.name),
                            ));
                            continue;
                        }
                    };
                    let delta = temporality == Some(AggregationTemporality::Delta as i32);
                    if temporality == Some(AggregationTemporality::Unspecified as i32) {
                        dropped.push((
                            data_points(data),
                            format!("{}: unspecified aggregation temporality", m.name),
                        ));
                        continue;
                    }
                    let name =
                        metric_name_with(&m.name, &m.unit, kind, &self.namespace, self.suffixes);
                    let family = st.families.entry(name.clone()).or_insert_with(|| Family {
                        kind,
                        help: String::new(),
                        unit: unit_suffix(&m.unit).join("_"),
                        series: BTreeMap::new(),
                    });
                    if family.kind != kind {
                        dropped.push((
                            data_points(data),
                            format!(
                                "{}: {name} is already a {}, not a {}",
                                m.name,
                                family.kind.as_str(),
                                kind.as_str()
                            ),
                        ));
                        continue;
                    }
                    if family.help.is_empty() {
                        family.help.clone_from(&m.description);
                    }
                    // (attributes, flags, time, value) of every point; gauges and summaries
                    // have no temporality, so `delta` is false for them.
                    let points: Vec<(&[KeyValue], u32, u64, Value)> = match data {
                        Data::Gauge(g) => g
                            .data_points
                            .iter()
                            .map(|p| {
                                (
                                    &p.attributes[..],
                                    p.flags,
                                    p.time_unix_nano,
                                    Value::Number(number(p)),
                                )
                            })
                            .collect(),
                        Data::Sum(s) => s
                            .data_points
                            .iter()
                            .map(|p| {
                                (
                                    &p.attributes[..],
                                    p.flags,
                                    p.time_unix_nano,
                                    Value::Number(number(p)),
                                )
                            })
                            .collect(),
                        Data::Histogram(h) => h
                            .data_points
                            .iter()
                            .map(|p| (&p.attributes[..], p.flags, p.time_unix_nano, histogram(p)))
                            .collect(),
                        Data::Summary(s) => s
                            .data_points
                            .iter()
                            .map(|p| {
                                let v = Value::Summary {
                                    quantiles: p
                                        .quantile_values
                                        .iter()
                                        .map(|q| (q.quantile, q.value))
                                        .collect(),
                                    sum: p.sum,
                                    count: p.count,
                                };
                                (&p.attributes[..], p.flags, p.time_unix_nano, v)
                            })
                            .collect(),
                        Data::ExponentialHistogram(_) => Vec::new(),
                    };
                    let mut skipped = 0;
                    for (attrs, flags, time, v) in points {
                        if flags & NO_RECORDED_VALUE != 0 {
                            skipped += 1;
                            continue;
                        }
                        put(family, labels_of(attrs), v, time, delta, now);
                    }
                    if skipped > 0 {
                        dropped.push((skipped, format!("{}: no recorded value", m.name)));
                    }
                }
            }
        }
        self.sweep_if_due(&mut st, now);
        dropped.retain(|(n, _)| *n > 0);
        dropped
    }

    fn sweep_if_due(&self, st: &mut State, now: Instant) {
        if st
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < self.expiration / 4)
        {
            return;
        }
        st.last_sweep = Some(now);
        let exp = self.expiration;
        for f in st.families.values_mut() {
            f.series.retain(|_, s| now.duration_since(s.updated) < exp);
        }
        st.families.retain(|_, f| !f.series.is_empty());
        st.targets.retain(|_, t| now.duration_since(*t) < exp);
    }

    /// A copy of the live families and `target_info` label sets, expired series removed.
    pub fn snapshot(&self) -> (BTreeMap<String, Family>, Vec<Labels>) {
        let mut st = self.lock();
        st.last_sweep = None;
        self.sweep_if_due(&mut st, Instant::now());
        (st.families.clone(), st.targets.keys().cloned().collect())
    }
}

fn data_points(data: &Data) -> usize {
    match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(e) => e.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    }
}

fn histogram(p: &HistogramDataPoint) -> Value {
    let mut counts = p.bucket_counts.clone();
    counts.resize(p.explicit_bounds.len() + 1, 0);
    Value::Histogram {
        bounds: p.explicit_bounds.clone(),
        counts,
        sum: p.sum.unwrap_or(0.0),
        count: p.count,
    }
}

/// Stores `value` for `labels`: added to the current value for a delta point (histograms only
/// when the bounds match), else replacing it unless the current one is newer.
fn put(family: &mut Family, labels: Labels, value: Value, time: u64, delta: bool, now: Instant) {
    use std::collections::btree_map::Entry;
    match family.series.entry(labels) {
        Entry::Vacant(v) => {
            v.insert(Series {
                value,
                time_unix_nano: time,
                updated: now,
            });
        }
        Entry::Occupied(mut o) => {
            let s = o.get_mut();
            if delta {
                let merged = match (&mut s.value, &value) {
                    (Value::Number(a), Value::Number(b)) => {
                        *a += b;
                        true
                    }
                    (
                        Value::Histogram {
                            bounds,
                            counts,
                            sum,
                            count,
                        },
                        Value::Histogram {
                            bounds: b2,
                            counts: c2,
                            sum: s2,
                            count: n2,
                        },
                    ) if bounds == b2 => {
                        for (a, b) in counts.iter_mut().zip(c2) {
                            *a += b;
                        }
                        *sum += s2;
                        *count += n2;
                        true
                    }
                    _ => false,
                };
                if !merged {
                    s.value = value;
                }
                s.time_unix_nano = s.time_unix_nano.max(time);
                s.updated = now;
            } else if time >= s.time_unix_nano {
                s.value = value;
                s.time_unix_nano = time;
                s.updated = now;
            }
        }
    }
}
