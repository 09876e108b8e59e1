//! Redfish events → OTel logs (DSP0266 §13 "Eventing"; the `Event` and `EventDestination`
//! schemas).
//!
//! Two ways to get them:
//! - **push** (`mode: push`): the receiver listens on `listen` (with `tls`), and keeps one
//!   `EventDestination` of its own in the BMC's `EventService/Subscriptions`:
//!   `{"Destination": destination, "Protocol": "Redfish", "Context": context, "EventTypes":
//!   [...]}` — the types `event_types` names, else every one the service lists in
//!   `EventTypesForSubscription` (DMTF's Redfish Mockup Server, iDRAC 9 and iLO 5 deliver only
//!   to subscriptions whose `EventTypes` match an event's), else [`DEFAULT_EVENT_TYPES`]; a
//!   service that refuses `EventTypes` is asked again without it. Every
//!   `check_interval` it looks for it (same `Context` and `Destination`) and creates it again
//!   when it is gone (the BMC restarted, or someone deleted it); at shutdown it deletes it.
//!   Other subscriptions are never touched. The BMC POSTs `Event` documents to `destination`;
//!   the `Context` they carry says which BMC sent them.
//! - **sse** (`mode: sse`): the receiver reads `EventService.ServerSentEventUri` as a
//!   Server-Sent Events stream, resumes with `Last-Event-ID` after a disconnect, and backs off
//!   (1 s doubling to 60 s, with ±50 % jitter) while the BMC cannot be reached.
//!
//! Each record of an `Event`'s `Events` array is one log record:
//! - severity from `MessageSeverity` (else the deprecated `Severity`): `OK` → INFO, `Warning`
//!   → WARN, `Critical` → ERROR, with the Redfish word as the severity text;
//! - body `Message`; time `EventTimestamp`;
//! - attributes `redfish.message_id` (`MessageId`), `redfish.origin`
//!   (`OriginOfCondition.@odata.id`), `redfish.event_id` (`EventId`), `redfish.message_args`
//!   (`MessageArgs`, a string array), `redfish.event_type` (`EventType`, when given);
//! - the resource of the metrics of the chassis the origin is under (the BMC's otherwise).
//!
//! A record already delivered (same `EventId`, or same SSE `id`) within `dedup_window` is
//! dropped: a BMC replays events after an SSE reconnect or a retried POST.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use serde::Deserialize;
use serde_json::Value;
use strata_pipelines::ConfigError;
use strata_pipelines::tls::TlsServerConfig;

use crate::scraper::str_kv;

/// The `EventTypes` of a push subscription when the service lists no
/// `EventTypesForSubscription`: every `EventType` of the first `Event` schema (`Event.v1_0_0`,
/// DSP0266 §13), which services that filter by type deliver for. (`MetricReport` and `Other`
/// came later and are only sent where a service lists them.)
pub const DEFAULT_EVENT_TYPES: &[&str] = &[
    "StatusChange",
    "ResourceUpdated",
    "ResourceAdded",
    "ResourceRemoved",
    "Alert",
];

/// How events are received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventMode {
    /// The BMC POSTs to a subscription's destination.
    Push,
    /// The receiver reads the BMC's Server-Sent Events stream.
    Sse,
}

/// `events:` of the `redfish` receiver. Absent `mode`: no events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// `push` or `sse`; absent: events are not received.
    pub mode: Option<EventMode>,
    /// push: `host:port` to listen on.
    pub listen: String,
    /// push: TLS of the listener (a BMC posts to `https://`).
    pub tls: Option<TlsServerConfig>,
    /// push: the URL the BMC posts to (this host as the BMC reaches it, and the path).
    pub destination: String,
    /// The subscription's `Context`, which identifies this Strata. Default `strata <receiver
    /// id> <host name>`.
    pub context: Option<String>,
    /// push: the subscription's `EventTypes`. Absent: every type the service lists in
    /// `EventService.EventTypesForSubscription`, or, where it lists none,
    /// [`DEFAULT_EVENT_TYPES`]. Empty (`[]`): the property is left out. A service that refuses
    /// the property (newer schemas deprecate it for `RegistryPrefixes`/`ResourceTypes`) is
    /// asked again without it, with one warning.
    pub event_types: Option<Vec<String>>,
    /// push: how often the subscription is checked (and created again when gone). Default
    /// `60s`.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// How long an event id is remembered to drop a replay. Default `10m`.
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            mode: None,
            listen: "0.0.0.0:9443".into(),
            tls: None,
            destination: String::new(),
            context: None,
            event_types: None,
            check_interval: Duration::from_secs(60),
            dedup_window: Duration::from_secs(600),
        }
    }
}

impl EventsConfig {
    /// # Errors
    /// push without a `destination` URL or with an invalid `listen`; zero durations.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.mode == Some(EventMode::Push) {
            strata_pipelines::config::check_endpoint(format!("{path}::listen"), &self.listen)?;
            let d = self.destination.as_str();
            if !(d.starts_with("https://") || d.starts_with("http://")) || url_path(d).is_none() {
                return Err(ConfigError::new(
                    format!("{path}::destination"),
                    "push needs the URL the BMC posts to, e.g. https://this-host:9443/redfish/events",
                ));
            }
        }
        if self.check_interval.is_zero() || self.dedup_window.is_zero() {
            return Err(ConfigError::new(
                path,
                "check_interval and dedup_window must be greater than 0",
            ));
        }
        Ok(())
    }

    /// The path of `destination` the listener serves (`/` when it has none).
    pub fn path(&self) -> String {
        url_path(&self.destination).unwrap_or("/").to_owned()
    }
}

/// The path of an `http(s)://host[:port]/path` URL.
fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    if rest.is_empty() {
        return None;
    }
    Some(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// Drops events seen within a window.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    seen: HashMap<String, Instant>,
}

impl Dedup {
    /// An empty set remembering ids for `window`.
    pub fn new(window: Duration) -> Self {
        Dedup {
            window,
            seen: HashMap::new(),
        }
    }

    /// Forgets `ids` (events that were not delivered after all: their replay must pass).
    pub fn forget(&mut self, ids: &[String]) {
        for id in ids {
            self.seen.remove(id);
        }
    }

    /// True the first time `id` is offered within the window.
    pub fn first(&mut self, id: &str) -> bool {
        let now = Instant::now();
        if self.seen.len() > 4096 {
            let w = self.window;
            self.seen.retain(|_, t| now.duration_since(*t) < w);
        }
        match self.seen.get(id) {
            Some(t) if now.duration_since(*t) < self.window => false,
            _ => {
                self.seen.insert(id.to_owned(), now);
                true
            }
        }
    }
}

fn severity(s: Option<&str>) -> SeverityNumber {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("ok") => SeverityNumber::Info,
        Some("warning") => SeverityNumber::Warn,
        Some("critical") => SeverityNumber::Error,
        _ => SeverityNumber::Unspecified,
    }
}

fn string_value(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    })
}

/// What one `Event` document gave.
#[derive(Debug, Default)]
pub struct Converted {
    /// Log records, each with the `OriginOfCondition` URI it came from.
    pub records: Vec<(Option<String>, LogRecord)>,
    /// Records dropped as replays.
    pub duplicates: usize,
    /// The ids this conversion marked as seen (to [`Dedup::forget`] when delivery fails).
    pub marked: Vec<String>,
}

/// The log records of one `Event` document (its `Events` array), skipping records whose id
/// `dedup` saw; `fallback_id` (an SSE `id`) identifies records without an `EventId`.
///
/// # Errors
/// A document that is not an `Event` (no `Events` array).
pub fn records(
    doc: &Value,
    fallback_id: Option<&str>,
    dedup: &mut Dedup,
    now: u64,
) -> Result<Converted, String> {
    let events = doc
        .get("Events")
        .and_then(Value::as_array)
        .ok_or("not a Redfish Event: no \"Events\" array")?;
    let mut out = Vec::new();
    let mut duplicates = 0;
    let mut marked = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let text = |k: &str| e.get(k).and_then(Value::as_str);
        let id = text("EventId").map(str::to_owned).or_else(|| {
            fallback_id
                .filter(|f| !f.is_empty())
                .map(|f| format!("{f}#{i}"))
        });
        if let Some(id) = id {
            if !dedup.first(&id) {
                duplicates += 1;
                continue;
            }
            marked.push(id);
        }
        let origin = e
            .pointer("/OriginOfCondition/@odata.id")
            .and_then(Value::as_str)
            .or_else(|| text("OriginOfCondition"))
            .map(str::to_owned);
        let sev_text = text("MessageSeverity").or_else(|| text("Severity"));
        let mut attributes = Vec::new();
        if let Some(m) = text("MessageId") {
            attributes.push(str_kv("redfish.message_id", m));
        }
        if let Some(o) = &origin {
            attributes.push(str_kv("redfish.origin", o));
        }
        if let Some(id) = text("EventId") {
            attributes.push(str_kv("redfish.event_id", id));
        }
        if let Some(args) = e.get("MessageArgs").and_then(Value::as_array) {
            attributes.push(KeyValue {
                key: "redfish.message_args".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: args
                            .iter()
                            .filter_map(|a| match a {
                                Value::String(s) => string_value(s),
                                other => string_value(&other.to_string()),
                            })
                            .collect(),
                    })),
                }),
                ..Default::default()
            });
        }
        if let Some(t) = text("EventType") {
            attributes.push(str_kv("redfish.event_type", t));
        }
        let time = text("EventTimestamp")
            .and_then(super::reports::timestamp)
            .unwrap_or(0);
        out.push((
            origin,
            LogRecord {
                time_unix_nano: time,
                observed_time_unix_nano: now,
                severity_number: severity(sev_text) as i32,
                severity_text: sev_text.unwrap_or_default().to_owned(),
                body: text("Message").and_then(string_value),
                attributes,
                ..Default::default()
            },
        ));
    }
    Ok(Converted {
        records: out,
        duplicates,
        marked,
    })
}

/// Parses a Server-Sent Events stream (WHATWG HTML §9.2): feed it bytes, take dispatched
/// events (`id`, `data`).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: String,
    id: Option<String>,
    /// The last event id set by the stream (for `Last-Event-ID`).
    pub last_id: Option<String>,
}

impl SseParser {
    /// A parser resuming after `last_id` (kept as the last id until the stream sets one).
    pub fn resuming(last_id: Option<String>) -> Self {
        SseParser {
            last_id,
            ..Default::default()
        }
    }

    /// Feeds `chunk`; returns the events completed by it as `(id, data)`.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<(Option<String>, String)> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                if !self.data.is_empty() {
                    let data = std::mem::take(&mut self.data);
                    out.push((self.id.clone(), data.trim_end_matches('\n').to_owned()));
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // A comment (keep-alive).
            }
            let (field, value) = line.split_once(':').map_or((line.as_str(), ""), |(f, v)| {
                (f, v.strip_prefix(' ').unwrap_or(v))
            });
            match field {
                "data" => {
                    self.data.push_str(value);
                    self.data.push('\n');
                }
                "id" if !value.contains('\0') => {
                    self.id = Some(value.to_owned());
                    self.last_id = Some(value.to_owned());
                }
                _ => {}
            }
        }
        // A runaway line without a newline is cut: the stream is not SSE.
        if self.buf.len() > 1 << 20 {
            self.buf.clear();
        }
        out
    }
}

/// The delay before reconnect attempt `n` (from 0): 1 s doubling to 60 s, ±50 % jitter.
pub fn backoff(n: u32) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(1u32 << n.min(6))
        .min(Duration::from_secs(60));
    let jitter = 0.5 + fastrand::f64();
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// DMTF's `Event` schema example (Event.v1_x, "Events" with one record).
    fn example() -> Value {
        json!({
            "@odata.type": "#Event.v1_7_0.Event",
            "Id": "1",
            "Name": "Event Array",
            "Context": "ContosoWebClient",
            "Events": [{
                "EventType": "Other",
                "EventId": "4593",
                "Severity": "Warning",
                "MessageSeverity": "Warning",
                "Message": "The LAN has been disconnected",
                "MessageId": "Alert.1.0.LanDisconnect",
                "MessageArgs": ["EthernetInterface 1", "/redfish/v1/Systems/1"],
                "OriginOfCondition": {"@odata.id": "/redfish/v1/Systems/1/EthernetInterfaces/1"},
                "EventTimestamp": "2017-11-23T17:17:42-0600"
            }]
        })
    }

    #[test]
    fn an_event_record_becomes_a_log_record() {
        let mut d = Dedup::new(Duration::from_secs(60));
        let c = records(&example(), None, &mut d, 5).unwrap();
        assert_eq!((c.records.len(), c.duplicates), (1, 0));
        assert_eq!(c.marked, ["4593"]);
        let (origin, r) = &c.records[0];
        assert_eq!(
            origin.as_deref(),
            Some("/redfish/v1/Systems/1/EthernetInterfaces/1")
        );
        assert_eq!(r.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(r.severity_text, "Warning");
        assert_eq!(r.body, string_value("The LAN has been disconnected"));
        let keys: Vec<&str> = r.attributes.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "redfish.message_id",
                "redfish.origin",
                "redfish.event_id",
                "redfish.message_args",
                "redfish.event_type"
            ]
        );
        assert_eq!(r.observed_time_unix_nano, 5);
        // The same EventId again: dropped; unless its delivery failed and it was forgotten.
        let again = records(&example(), None, &mut d, 6).unwrap();
        assert_eq!((again.records.len(), again.duplicates), (0, 1));
        d.forget(&c.marked);
        assert_eq!(
            records(&example(), None, &mut d, 7).unwrap().records.len(),
            1
        );
        assert!(records(&json!({"Id": 1}), None, &mut d, 7).is_err());
    }

    #[test]
    fn sse_frames_split_anywhere() {
        let text = b": keep-alive\n\nid: 7\ndata: {\"a\":\ndata: 1}\n\nid: 8\r\ndata: x\r\n\r\n";
        for cut in 0..text.len() {
            let mut p = SseParser::default();
            let mut got = p.feed(&text[..cut]);
            got.extend(p.feed(&text[cut..]));
            assert_eq!(
                got,
                [
                    (Some("7".into()), "{\"a\":\n1}".into()),
                    (Some("8".into()), "x".into())
                ],
                "cut at {cut}"
            );
            assert_eq!(p.last_id.as_deref(), Some("8"));
        }
    }

    #[test]
    fn backoff_grows_to_a_minute_with_jitter() {
        for n in 0..12 {
            let d = backoff(n);
            let base = (1u64 << n.min(6)).min(60) as f64;
            assert!(
                d.as_secs_f64() >= base * 0.5 && d.as_secs_f64() <= base * 1.5,
                "{n} {d:?}"
            );
        }
    }

    #[test]
    fn push_needs_a_destination() {
        let c = EventsConfig {
            mode: Some(EventMode::Push),
            ..Default::default()
        };
        assert!(c.validate("r::events").is_err());
        let c = EventsConfig {
            mode: Some(EventMode::Push),
            destination: "https://collector:9443/redfish/events".into(),
            ..Default::default()
        };
        c.validate("r::events").unwrap();
        assert_eq!(c.path(), "/redfish/events");
    }
}
