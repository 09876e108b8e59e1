//! OTLP/JSON, as the OTLP specification defines it ("JSON Protobuf Encoding", `otlp.md`, under
//! OTLP/HTTP): the [proto3 JSON mapping](https://protobuf.dev/programming-guides/json/) of the
//! OTLP messages, with the OTLP exceptions.
//!
//! The mapping itself is `prost-reflect`'s, over a descriptor set compiled (by `build.rs`) from
//! the OTLP `.proto` files vendored in `proto/` (opentelemetry-proto v1.10.0). So, on input:
//! - 64-bit integers as JSON strings or numbers; doubles as numbers, numeric strings, or
//!   `"NaN"`, `"Infinity"`, `"-Infinity"`; bytes (other than ids) as base64;
//! - enums as integers or as their names;
//! - the lowerCamelCase (`json_name`) and the original (`snake_case`) field names;
//! - `null` as the field's default;
//! - unknown fields ignored (OTLP: "receivers MUST ignore unknown fields").
//!
//! And the OTLP exceptions, applied here around the mapping:
//! - `traceId`, `spanId`, `parentSpanId` (spans, links, log records, exemplars) are
//!   case-insensitive hex, not base64; an empty string means absent. A trace id is 16 bytes
//!   (32 hex digits), a span id 8 (16 hex digits).
//! - On output, enums are integers (OTLP: "Values of enum fields MUST be encoded as integer
//!   values").
//!
//! Output is canonical proto3 JSON: lowerCamelCase names, default values omitted (no `null`),
//! 64-bit integers as strings.
//!
//! A wrong type, a bad id or malformed JSON is a [`JsonError`] naming the JSON path, and nothing
//! of the document is returned.

use std::fmt;
use std::sync::LazyLock;

use opentelemetry_proto::tonic::collector::{
    logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse},
    metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse},
    trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
};
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};
use serde_json::Value;

/// The compiled OTLP descriptors (`build.rs`).
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/otlp.fds"))[..])
        .expect("the OTLP descriptor set built by build.rs decodes")
});

/// An OTLP message with a JSON form: the three export requests and their responses.
pub trait OtlpMessage: prost::Message + Default {
    /// The message's full protobuf name, e.g.
    /// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`.
    const FULL_NAME: &'static str;
}

macro_rules! otlp_message {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl OtlpMessage for $t {
            const FULL_NAME: &'static str = $name;
        })*
    };
}

otlp_message! {
    ExportTraceServiceRequest => "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
    ExportTraceServiceResponse => "opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse",
    ExportMetricsServiceRequest => "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
    ExportMetricsServiceResponse => "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse",
    ExportLogsServiceRequest => "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
    ExportLogsServiceResponse => "opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse",
}

/// Why an OTLP/JSON document was refused: where (a JSON path such as
/// `resourceSpans[0].scopeSpans[0].spans[2].traceId`, empty for the document itself) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// The JSON path of the offending value; empty when the document is not JSON at all.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for JsonError {}

/// The id fields OTLP/JSON writes in hex, by either spelling, with their length in bytes.
const IDS: [(&str, usize); 6] = [
    ("traceId", 16),
    ("trace_id", 16),
    ("spanId", 8),
    ("span_id", 8),
    ("parentSpanId", 8),
    ("parent_span_id", 8),
];

/// Decodes one OTLP/JSON document into `T`.
///
/// # Errors
/// [`JsonError`] with the JSON path when the bytes are not JSON, a value has the wrong type or
/// range for its field, or an id is not hex of the right length.
pub fn decode<T: OtlpMessage>(json: &[u8]) -> Result<T, JsonError> {
    let mut value: Value = serde_json::from_slice(json).map_err(|e| JsonError {
        path: String::new(),
        message: format!("not JSON: {e}"),
    })?;
    from_value(&mut value)
}

/// [`decode`] of an already parsed document; the ids in `value` are rewritten to base64.
fn from_value<T: OtlpMessage>(value: &mut Value) -> Result<T, JsonError> {
    let mut path = Vec::new();
    ids_to_base64(value, &mut path)?;
    let desc = POOL
        .get_message_by_name(T::FULL_NAME)
        .expect("every OtlpMessage is in the descriptor set");
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let mut track = serde_path_to_error::Track::new();
    let msg = DynamicMessage::deserialize_with_options(
        desc,
        serde_path_to_error::Deserializer::new(&*value, &mut track),
        &options,
    )
    .map_err(|e| JsonError {
        path: track.path().to_string().trim_start_matches('.').to_owned(),
        message: e.to_string(),
    })?;
    msg.transcode_to::<T>().map_err(|e| JsonError {
        path: String::new(),
        message: format!("does not fit the OTLP message: {e}"),
    })
}

/// `msg` as canonical OTLP/JSON (one line, no trailing newline).
pub fn encode<T: OtlpMessage>(msg: &T) -> Vec<u8> {
    serde_json::to_vec(&to_value(msg)).expect("a JSON value serializes")
}

/// `msg` as canonical OTLP/JSON, indented for people (the `debug` exporter).
pub fn encode_pretty<T: OtlpMessage>(msg: &T) -> String {
    serde_json::to_string_pretty(&to_value(msg)).expect("a JSON value serializes")
}

/// `msg` as a canonical OTLP/JSON value: lowerCamelCase names, defaults omitted, 64-bit
/// integers as strings, enums as integers, ids in lowercase hex.
pub fn to_value<T: OtlpMessage>(msg: &T) -> Value {
    let desc = POOL
        .get_message_by_name(T::FULL_NAME)
        .expect("every OtlpMessage is in the descriptor set");
    let mut dynamic = DynamicMessage::new(desc);
    dynamic
        .transcode_from(msg)
        .expect("a prost OTLP message re-decodes under its own descriptor");
    let options = SerializeOptions::new()
        .use_enum_numbers(true)
        .skip_default_fields(true)
        .stringify_64_bit_integers(true);
    let mut value = dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("a DynamicMessage serializes to a JSON value");
    ids_to_hex(&mut value);
    value
}

/// One step of a JSON path, for errors found before the mapping runs.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Rewrites every hex id in `value` as the base64 the proto3 mapping expects for `bytes`; an
/// empty string (absent) is removed.
fn ids_to_base64<'a>(value: &'a mut Value, path: &mut Vec<Seg<'a>>) -> Result<(), JsonError> {
    use base64::Engine as _;
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                path.push(Seg::Key(key.as_str()));
                if let Some((_, len)) = IDS.iter().find(|(name, _)| name == key) {
                    if let Value::String(s) = v {
                        if s.is_empty() {
                            *v = Value::Null;
                        } else {
                            let bytes = hex::decode(s.as_bytes())
                                .ok()
                                .filter(|b| b.len() == *len)
                                .ok_or_else(|| JsonError {
                                    path: render(path),
                                    message: format!(
                                        "an id of {len} bytes is {} hex digits, got {:?}",
                                        2 * len,
                                        truncate(s)
                                    ),
                                })?;
                            *s = base64::engine::general_purpose::STANDARD.encode(bytes);
                        }
                    }
                    // Any other type is left for the mapping to refuse with its path.
                } else {
                    ids_to_base64(v, path)?;
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                ids_to_base64(v, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Rewrites the base64 ids of a serialized message as lowercase hex.
fn ids_to_hex(value: &mut Value) {
    use base64::Engine as _;
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if IDS.iter().any(|(name, _)| name == key) {
                    if let Value::String(s) = v
                        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&*s)
                    {
                        *s = hex::encode(bytes);
                    }
                } else {
                    ids_to_hex(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(ids_to_hex),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
