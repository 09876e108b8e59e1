//! OTel → Prometheus names, per the OpenTelemetry specification's "Prometheus and OpenMetrics
//! Compatibility" (compatibility/prometheus_and_openmetrics.md, "Metric Metadata" and
//! "Metric Attributes"), as the Collector's `prometheus` exporter applies them with suffixes
//! enabled.
//!
//! | OTel | Prometheus |
//! |---|---|
//! | `system.cpu.time`, unit `s`, monotonic cumulative sum | `system_cpu_time_seconds_total` |
//! | `hw.temperature`, unit `Cel`, gauge | `hw_temperature_celsius` |
//! | `system.memory.utilization`, unit `1`, gauge | `system_memory_utilization_ratio` |
//! | `spdk.bdev.io`, unit `{operation}`, sum | `spdk_bdev_io_total` (annotations in braces dropped) |
//! | `net.rate`, unit `By/s` | `net_rate_bytes_per_second` |
//! | attribute `http.request.method` | label `http_request_method` |
//! | attribute `0day` / `_x` | label `key_0day` / `key_x` |

/// What a metric becomes in Prometheus; decides the `_total` and `_ratio` suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonic sum: `counter`, named with `_total`.
    Counter,
    /// A gauge or non-monotonic sum: `gauge`; unit `1` becomes `_ratio`.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram,
    /// A summary.
    Summary,
}

impl MetricType {
    /// The `# TYPE` keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// UCUM unit → Prometheus unit word (the specification's and the Collector's table).
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

/// UCUM unit after `/` → singular word.
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Splits `s` into tokens of `[A-Za-z0-9]`, the separators dropped (the Collector's
/// `BuildCompliantName` tokenisation; `:` is kept inside tokens).
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
}

/// The unit's suffix words: `By/s` → `["bytes", "per", "second"]`; `{packets}` → `[]`;
/// an unknown unit is used as is when it is a valid name fragment.
pub fn unit_suffix(unit: &str) -> Vec<String> {
    let without_braces: String = {
        let mut out = String::new();
        let mut depth = 0;
        for c in unit.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    };
    let (main, per) = match without_braces.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (without_braces.trim(), None),
    };
    let mut words = Vec::new();
    let word = |u: &str, table: fn(&str) -> Option<&'static str>| -> Option<String> {
        if u.is_empty() || u == "1" {
            return None;
        }
        table(u)
            .map(str::to_owned)
            .or_else(|| Some(tokens(u).collect::<Vec<_>>().join("_")).filter(|w| !w.is_empty()))
    };
    if let Some(w) = word(main, unit_word) {
        words.push(w);
    }
    if let Some(p) = per
        && let Some(w) = word(p, per_unit_word)
    {
        words.push("per".into());
        words.push(w);
    }
    words
}

/// The Prometheus metric family name for an OTel metric (`name`, `unit`, type), with an
/// optional `namespace` prefix: invalid characters become `_` separators, the unit words are
/// appended unless already in the name, counters end in `_total` and unit-`1` gauges in
/// `_ratio`. A name starting with a digit gets a leading `_`.
pub fn metric_name(name: &str, unit: &str, kind: MetricType, namespace: &str) -> String {
    metric_name_with(name, unit, kind, namespace, true)
}

/// [`metric_name`] with the unit and type suffixes (`_seconds`, `_ratio`, `_total`) only when
/// `suffixes` is true (the Collector's `add_metric_suffixes` /
/// `UnderscoreEscapingWithoutSuffixes`): without them, the name is the OTLP name escaped.
pub fn metric_name_with(
    name: &str,
    unit: &str,
    kind: MetricType,
    namespace: &str,
    suffixes: bool,
) -> String {
    let mut parts: Vec<String> = tokens(name).map(str::to_owned).collect();
    if !suffixes {
        return finish(parts, namespace);
    }
    if kind == MetricType::Counter && parts.last().is_some_and(|p| p == "total") {
        parts.pop();
    }
    for w in unit_suffix(unit) {
        // "per" may repeat (`a_per_b_per_c`); other words are added once.
        if w == "per" || !parts.contains(&w) {
            parts.push(w);
        }
    }
    if kind == MetricType::Gauge && unit == "1" && !parts.iter().any(|p| p == "ratio") {
        parts.push("ratio".into());
    }
    if kind == MetricType::Counter {
        parts.push("total".into());
    }
    finish(parts, namespace)
}

/// `namespace_` + the parts joined by `_`, never empty, never starting with a digit.
fn finish(parts: Vec<String>, namespace: &str) -> String {
    let ns: Vec<&str> = tokens(namespace).collect();
    let mut out = if ns.is_empty() {
        String::new()
    } else {
        format!("{}_", ns.join("_"))
    };
    out.push_str(&parts.join("_"));
    if out.is_empty() {
        out.push('_');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus label name for an attribute key: characters outside `[A-Za-z0-9_]` become
/// `_`; a leading digit gets `key_` in front and a single leading `_` gets `key` (labels
/// starting with `__` are reserved by Prometheus and kept as is).
pub fn label_name(key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        return "key_".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    } else if s.starts_with('_') && !s.starts_with("__") {
        s.insert_str(0, "key");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_specification() {
        use MetricType::*;
        let n = |name, unit, kind| metric_name(name, unit, kind, "");
        assert_eq!(
            n("system.cpu.time", "s", Counter),
            "system_cpu_time_seconds_total"
        );
        assert_eq!(n("hw.temperature", "Cel", Gauge), "hw_temperature_celsius");
        assert_eq!(
            n("system.memory.utilization", "1", Gauge),
            "system_memory_utilization_ratio"
        );
        assert_eq!(
            n("spdk.bdev.io", "{operation}", Counter),
            "spdk_bdev_io_total"
        );
        assert_eq!(n("requests_total", "", Counter), "requests_total");
        assert_eq!(n("net.rate", "By/s", Gauge), "net_rate_bytes_per_second");
        assert_eq!(
            n("rpc.duration", "ms", Histogram),
            "rpc_duration_milliseconds"
        );
        assert_eq!(n("queue_bytes", "By", Gauge), "queue_bytes");
        assert_eq!(
            n("system.network.io", "By", Counter),
            "system_network_io_bytes_total"
        );
        assert_eq!(n("up.down", "1", Gauge), "up_down_ratio");
        assert_eq!(n("9lives", "", Gauge), "_9lives");
        assert_eq!(n("x", "widgets", Gauge), "x_widgets");
        assert_eq!(
            metric_name("io", "By", Counter, "dpu"),
            "dpu_io_bytes_total"
        );
    }

    #[test]
    fn labels_are_sanitised() {
        assert_eq!(label_name("http.request.method"), "http_request_method");
        assert_eq!(label_name("0day"), "key_0day");
        assert_eq!(label_name("_x"), "key_x");
        assert_eq!(label_name("__name"), "__name");
        assert_eq!(label_name("dpu-id"), "dpu_id");
    }
}
