//! `TelemetryService` metric reports → OTel gauges (Redfish `MetricReport` schema, DSP0268
//! `MetricReport.v1_5`).
//!
//! Each `MetricValues[]` entry becomes one gauge point:
//! - metric `redfish.report.<metric>`, where `<metric>` is the entry's `MetricId`, else the
//!   last segment of its `MetricProperty` (`.../PowerControl/0/PowerConsumedWatts` →
//!   `PowerConsumedWatts`), in snake case (`redfish.report.power_consumed_watts`);
//! - unit from the name's suffix (`Watts` `W`, `Celsius` `Cel`, `Volts` `V`, `Amps` `A`,
//!   `RPM` `rpm`, `Percent` `%`, `Joules` `J`, `kWh` `kW.h`, `Hz` `Hz`), else none;
//! - value `MetricValue` (a string of a number in the schema; numbers are taken too; any
//!   other text is skipped and counted);
//! - time `Timestamp` of the entry, else the report's `Timestamp`, else the scrape's;
//! - attributes `redfish.report.id` (the report's `Id`), `redfish.metric.property` (the
//!   `MetricProperty` URI, when given) and `redfish.metric.id` (`MetricId`, when given).
//!
//! A report keeps its history (one entry per sample), so a series is exported only from
//! entries newer than the newest already exported: a report read every interval exports each
//! sample once.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, metric, number_data_point,
};
use serde_json::Value;

use crate::scraper::str_kv;

/// What a set of reports gave: the metrics, and the entries skipped (no name, or a value that
/// is not a number).
#[derive(Debug, Default)]
pub struct Interpreted {
    /// One gauge per metric name, points in report order.
    pub metrics: Vec<Metric>,
    /// Entries without a usable name or value.
    pub skipped: usize,
}

/// RFC 3339 (Redfish `Edm.DateTimeOffset`) to Unix nanoseconds. An offset without its colon
/// (`-0600`, as in DMTF's own `Event` examples) is taken too.
pub fn timestamp(s: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        let (head, off) = s.split_at(s.len().checked_sub(5)?);
        let b = off.as_bytes();
        (matches!(b[0], b'+' | b'-') && b[1..].iter().all(u8::is_ascii_digit))
            .then(|| format!("{head}{}:{}", &off[..3], &off[3..]))
            .and_then(|fixed| time::OffsetDateTime::parse(&fixed, &Rfc3339).ok())
    })?;
    u64::try_from(t.unix_timestamp_nanos()).ok()
}

/// `PowerConsumedWatts` → `power_consumed_watts`; `CPU0_Temp` → `cpu0_temp`.
pub fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(char::is_ascii_lowercase))
            {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(*c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// The UCUM unit a Redfish property name's suffix implies.
pub fn unit_of(name: &str) -> &'static str {
    const SUFFIXES: [(&str, &str); 10] = [
        ("Watts", "W"),
        ("Celsius", "Cel"),
        ("Volts", "V"),
        ("Amps", "A"),
        ("RPM", "rpm"),
        ("Percent", "%"),
        ("Joules", "J"),
        ("kWh", "kW.h"),
        ("Hz", "Hz"),
        ("Bytes", "By"),
    ];
    SUFFIXES
        .iter()
        .find(|(s, _)| name.ends_with(s))
        .map_or("", |(_, u)| u)
}

/// The gauges of `reports` (each a `MetricReport` document) at scrape time `now`. `newest`
/// holds, per series, the newest timestamp exported so far; only newer entries are exported,
/// and it is updated.
pub fn interpret(reports: &[Value], now: u64, newest: &mut HashMap<String, u64>) -> Interpreted {
    let mut out = Interpreted::default();
    let mut by_name: BTreeMap<String, (&'static str, Vec<NumberDataPoint>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for report in reports {
        let report_id = report.get("Id").and_then(Value::as_str).unwrap_or("");
        let report_time = report
            .get("Timestamp")
            .and_then(Value::as_str)
            .and_then(timestamp);
        let Some(values) = report.get("MetricValues").and_then(Value::as_array) else {
            continue;
        };
        for v in values {
            let metric_id = v.get("MetricId").and_then(Value::as_str);
            let property = v.get("MetricProperty").and_then(Value::as_str);
            let Some(raw) = metric_id
                .filter(|m| !m.is_empty())
                .or_else(|| property.and_then(|p| p.rsplit('/').next()))
                .filter(|m| !m.is_empty())
            else {
                out.skipped += 1;
                continue;
            };
            let value = match v.get("MetricValue") {
                Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
                Some(Value::Number(n)) => n.as_f64(),
                _ => None,
            };
            let Some(value) = value.filter(|x| x.is_finite()) else {
                out.skipped += 1;
                continue;
            };
            let time = v
                .get("Timestamp")
                .and_then(Value::as_str)
                .and_then(timestamp)
                .or(report_time)
                .unwrap_or(now);
            let name = format!("redfish.report.{}", snake(raw));
            let series = format!("{name}\u{0}{report_id}\u{0}{}", property.unwrap_or(""));
            let last = newest.entry(series).or_insert(0);
            if time <= *last && *last != 0 {
                continue;
            }
            *last = time;
            let mut attributes: Vec<KeyValue> = vec![str_kv("redfish.report.id", report_id)];
            if let Some(p) = property {
                attributes.push(str_kv("redfish.metric.property", p));
            }
            if let Some(m) = metric_id {
                attributes.push(str_kv("redfish.metric.id", m));
            }
            if !by_name.contains_key(&name) {
                order.push(name.clone());
            }
            by_name
                .entry(name)
                .or_insert_with(|| (unit_of(raw), Vec::new()))
                .1
                .push(NumberDataPoint {
                    attributes,
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsDouble(value)),
                    ..Default::default()
                });
        }
    }
    for name in order {
        if let Some((unit, points)) = by_name.remove(&name) {
            out.metrics.push(Metric {
                description: "A Redfish TelemetryService MetricReport value".into(),
                name,
                unit: unit.into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: points,
                })),
                ..Default::default()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_units_and_times() {
        assert_eq!(snake("PowerConsumedWatts"), "power_consumed_watts");
        assert_eq!(snake("AverageReadingCelsius"), "average_reading_celsius");
        assert_eq!(snake("CPU0Temp"), "cpu0_temp");
        assert_eq!(snake("Memory_BlocksRead"), "memory_blocks_read");
        assert_eq!(unit_of("MaxConsumedWatts"), "W");
        assert_eq!(unit_of("FanSpeed"), "");
        assert_eq!(
            timestamp("2016-11-08T12:25:00-05:00"),
            Some(1_478_625_900_000_000_000)
        );
        assert_eq!(
            timestamp("2016-07-25T11:27:59.795513984+02:00"),
            Some(1_469_438_879_795_513_984)
        );
        assert_eq!(timestamp("yesterday"), None);
        assert_eq!(
            timestamp("2017-11-23T17:17:42-0600"),
            timestamp("2017-11-23T17:17:42-06:00")
        );
        assert!(timestamp("2017-11-23T17:17:42-06:00").is_some());
    }

    #[test]
    fn each_sample_is_exported_once_and_garbage_is_skipped() {
        let report = json!({
            "Id": "R",
            "MetricValues": [
                {"MetricValue": "100", "Timestamp": "2016-11-08T12:25:00-05:00", "MetricProperty": "/redfish/v1/Chassis/1/Power#/0/PowerConsumedWatts"},
                {"MetricValue": 94, "Timestamp": "2016-11-08T13:25:00-05:00", "MetricProperty": "/redfish/v1/Chassis/1/Power#/0/PowerConsumedWatts"},
                {"MetricValue": "n/a", "MetricProperty": "/x/Y"},
                {"MetricValue": "1"},
                {"MetricId": "FanSpeed", "MetricValue": "50"},
            ]
        });
        let mut newest = HashMap::new();
        let got = interpret(std::slice::from_ref(&report), 7, &mut newest);
        assert_eq!(got.skipped, 2);
        assert_eq!(got.metrics.len(), 2);
        let power = &got.metrics[0];
        assert_eq!(
            (power.name.as_str(), power.unit.as_str()),
            ("redfish.report.power_consumed_watts", "W")
        );
        let Some(metric::Data::Gauge(g)) = &power.data else {
            panic!()
        };
        assert_eq!(g.data_points.len(), 2);
        assert_eq!(
            g.data_points[1].value,
            Some(number_data_point::Value::AsDouble(94.0))
        );
        // The same report again: nothing new, except the entry with no timestamp (scrape time).
        let again = interpret(&[report], 8, &mut newest);
        assert_eq!(again.metrics.len(), 1);
        assert_eq!(again.metrics[0].name, "redfish.report.fan_speed");
    }
}
