//! The exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0 text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use strata_translators::prometheus::MetricType;

use super::accumulator::{Family, Labels, Value};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format for a request's `Accept` header: OpenMetrics when `open_metrics` is allowed
    /// and the header lists `application/openmetrics-text`, else text.
    pub fn negotiate(accept: Option<&str>, open_metrics: bool) -> Format {
        if open_metrics && accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// A sample value: `+Inf`, `-Inf`, `NaN` or the shortest decimal that reads back exactly.
fn float(v: f64) -> String {
    strata_translators::attr::double_to_string(v)
}

/// A label value escaped for both formats (`\` `"` and newline).
fn escape_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `# HELP` text escaped (`\` and newline; OpenMetrics also `"`).
fn escape_help(v: &str, format: Format) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

struct Writer<'a> {
    out: &'a mut String,
    timestamp_ms: Option<u64>,
    format: Format,
}

impl Writer<'_> {
    fn sample(&mut self, name: &str, labels: &Labels, extra: Option<(&str, &str)>, value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() || extra.is_some() {
            self.out.push('{');
            let mut first = true;
            for (k, v) in labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(extra)
            {
                if !first {
                    self.out.push(',');
                }
                first = false;
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_value(v, self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        if let Some(ms) = self.timestamp_ms {
            match self.format {
                Format::Text => {
                    let _ = write!(self.out, " {ms}");
                }
                // OpenMetrics timestamps are seconds.
                Format::OpenMetrics => {
                    let _ = write!(self.out, " {}.{:03}", ms / 1000, ms % 1000);
                }
            }
        }
        self.out.push('\n');
    }
}

/// Renders `families` and the `target_info` label sets in `format`; with `timestamps`, each
/// sample carries its point's time.
pub fn render(
    families: &BTreeMap<String, Family>,
    targets: &[Labels],
    format: Format,
    timestamps: bool,
) -> String {
    let mut out = String::new();
    if !targets.is_empty() {
        let _ = writeln!(out, "# HELP target_info Target metadata");
        let _ = writeln!(out, "# TYPE target_info gauge");
        let mut w = Writer {
            out: &mut out,
            timestamp_ms: None,
            format,
        };
        for t in targets {
            w.sample("target_info", t, None, "1");
        }
    }
    for (name, family) in families {
        // OpenMetrics names a counter family without its `_total` sample suffix.
        let family_name = match (format, family.kind) {
            (Format::OpenMetrics, MetricType::Counter) => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name.as_str(),
        };
        if !family.help.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {family_name} {}",
                escape_help(&family.help, format)
            );
        }
        let _ = writeln!(out, "# TYPE {family_name} {}", family.kind.as_str());
        if format == Format::OpenMetrics
            && !family.unit.is_empty()
            && family_name.ends_with(&format!("_{}", family.unit))
        {
            let _ = writeln!(out, "# UNIT {family_name} {}", family.unit);
        }
        for (labels, series) in &family.series {
            let mut w = Writer {
                out: &mut out,
                timestamp_ms: timestamps.then_some(series.time_unix_nano / 1_000_000),
                format,
            };
            match &series.value {
                Value::Number(v) => w.sample(name, labels, None, &float(*v)),
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                } => {
                    let bucket = format!("{name}_bucket");
                    let mut cumulative = 0u64;
                    for (bound, c) in bounds.iter().zip(counts) {
                        cumulative += c;
                        w.sample(
                            &bucket,
                            labels,
                            Some(("le", &float(*bound))),
                            &cumulative.to_string(),
                        );
                    }
                    w.sample(&bucket, labels, Some(("le", "+Inf")), &count.to_string());
                    w.sample(&format!("{name}_sum"), labels, None, &float(*sum));
                    w.sample(&format!("{name}_count"), labels, None, &count.to_string());
                }
                Value::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    for (q, v) in quantiles {
                        w.sample(name, labels, Some(("quantile", &float(*q))), &float(*v));
                    }
                    w.sample(&format!("{name}_sum"), labels, None, &float(*sum));
                    w.sample(&format!("{name}_count"), labels, None, &count.to_string());
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}
