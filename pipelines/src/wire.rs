//! OTLP requests kept in their protobuf encoding: checked and counted without being decoded.
//!
//! A pipeline whose processors never look inside the data (`memory_limiter`, or none) and whose
//! exporters send OTLP protobuf forwards the bytes it received: [`Encoded`] holds an
//! `Export{Trace,Metrics,Logs}ServiceRequest` exactly as the client sent it. Before it is
//! accepted, [`Encoded::new`] walks every field of every message against the OTLP schema (the
//! `opentelemetry-proto` v1 messages, including `EntityRef`, `key_strindex` and
//! `string_value_strindex`) with prost's rules: wire types of known fields, varints of at most
//! ten bytes, lengths inside their message, UTF-8 in `string` fields, packed and unpacked
//! repeated scalars, unknown fields and groups skipped, and prost's recursion limit of 100
//! nested messages. A request it accepts is one `prost::Message::decode` accepts (a test checks
//! both on mutated requests), so the next tier can decode what this one acknowledged. It counts
//! items on the way: spans, log records, or data points of every metric kind.
//!
//! Merging encoded requests is concatenation: the request messages have one field, the
//! repeated `resource_*` (field 1), and protobuf appends repeated fields when messages are
//! concatenated (Protocol Buffers encoding, "Last One Wins" / merging of repeated fields).

use std::marker::PhantomData;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ConsumeError;
use crate::signal::SignalData;

/// prost's recursion limit: messages nested deeper than this are refused.
const RECURSION_LIMIT: u32 = 100;

/// What a field holds, as far as the wire format is concerned.
#[derive(Clone, Copy)]
enum Kind {
    /// int32/int64/uint32/uint64/sint32/bool/enum: wire type 0.
    Varint,
    /// fixed64/sfixed64/double: wire type 1.
    I64,
    /// fixed32: wire type 5.
    I32,
    /// `bytes`: wire type 2, any content.
    Bytes,
    /// `string`: wire type 2, UTF-8.
    Str,
    /// A nested message: wire type 2.
    Msg(&'static Schema),
    /// `repeated` uint64: packed (wire type 2) or one varint per element.
    RepVarint,
    /// `repeated` fixed64/double: packed (wire type 2, a multiple of 8 bytes) or one per element.
    RepI64,
}

/// One field of a message: its number and kind.
struct Field(u32, Kind);

/// The wire schema of one OTLP message: the fields whose wire type prost checks, and whether an
/// occurrence of this message is one item (a span, a log record, a data point).
pub struct Schema {
    fields: &'static [Field],
    item: bool,
    /// Fields of a `oneof` of messages that hold items (`Metric.data`): prost keeps only the
    /// last member seen (merging repeats of the same member), so only its items count.
    oneof: &'static [u32],
}

impl Schema {
    fn field(&self, num: u32) -> Option<Kind> {
        self.fields.iter().find(|f| f.0 == num).map(|f| f.1)
    }
}

macro_rules! schema {
    ($name:ident, item = $item:expr, [$(($num:expr, $kind:expr)),* $(,)?]) => {
        schema!($name, item = $item, oneof = [], [$(($num, $kind)),*]);
    };
    ($name:ident, item = $item:expr, oneof = [$($o:expr),*], [$(($num:expr, $kind:expr)),* $(,)?]) => {
        static $name: Schema =
            Schema { fields: &[$(Field($num, $kind)),*], item: $item, oneof: &[$($o),*] };
    };
}

use Kind::{Bytes as B, I32, I64, Msg, RepI64, RepVarint, Str, Varint};

// common.v1
schema!(
    ANY_VALUE,
    item = false,
    [
        (1, Str),
        (2, Varint),
        (3, Varint),
        (4, I64),
        (5, Msg(&ARRAY_VALUE)),
        (6, Msg(&KEY_VALUE_LIST)),
        (7, B),
        (8, Varint)
    ]
);
schema!(ARRAY_VALUE, item = false, [(1, Msg(&ANY_VALUE))]);
schema!(KEY_VALUE_LIST, item = false, [(1, Msg(&KEY_VALUE))]);
schema!(
    KEY_VALUE,
    item = false,
    [(1, Str), (2, Msg(&ANY_VALUE)), (3, Varint)]
);
schema!(
    SCOPE,
    item = false,
    [(1, Str), (2, Str), (3, Msg(&KEY_VALUE)), (4, Varint)]
);
schema!(
    ENTITY_REF,
    item = false,
    [(1, Str), (2, Str), (3, Str), (4, Str)]
);
// resource.v1
schema!(
    RESOURCE,
    item = false,
    [(1, Msg(&KEY_VALUE)), (2, Varint), (3, Msg(&ENTITY_REF))]
);
// trace.v1
schema!(TRACE_REQUEST, item = false, [(1, Msg(&RESOURCE_SPANS))]);
schema!(
    RESOURCE_SPANS,
    item = false,
    [(1, Msg(&RESOURCE)), (2, Msg(&SCOPE_SPANS)), (3, Str)]
);
schema!(
    SCOPE_SPANS,
    item = false,
    [(1, Msg(&SCOPE)), (2, Msg(&SPAN)), (3, Str)]
);
schema!(
    SPAN,
    item = true,
    [
        (1, B),
        (2, B),
        (3, Str),
        (4, B),
        (16, I32),
        (5, Str),
        (6, Varint),
        (7, I64),
        (8, I64),
        (9, Msg(&KEY_VALUE)),
        (10, Varint),
        (11, Msg(&EVENT)),
        (12, Varint),
        (13, Msg(&LINK)),
        (14, Varint),
        (15, Msg(&STATUS)),
    ]
);
schema!(
    EVENT,
    item = false,
    [(1, I64), (2, Str), (3, Msg(&KEY_VALUE)), (4, Varint)]
);
schema!(
    LINK,
    item = false,
    [
        (1, B),
        (2, B),
        (3, Str),
        (4, Msg(&KEY_VALUE)),
        (5, Varint),
        (6, I32)
    ]
);
schema!(STATUS, item = false, [(2, Str), (3, Varint)]);
// logs.v1
schema!(LOGS_REQUEST, item = false, [(1, Msg(&RESOURCE_LOGS))]);
schema!(
    RESOURCE_LOGS,
    item = false,
    [(1, Msg(&RESOURCE)), (2, Msg(&SCOPE_LOGS)), (3, Str)]
);
schema!(
    SCOPE_LOGS,
    item = false,
    [(1, Msg(&SCOPE)), (2, Msg(&LOG_RECORD)), (3, Str)]
);
schema!(
    LOG_RECORD,
    item = true,
    [
        (1, I64),
        (11, I64),
        (2, Varint),
        (3, Str),
        (5, Msg(&ANY_VALUE)),
        (6, Msg(&KEY_VALUE)),
        (7, Varint),
        (8, I32),
        (9, B),
        (10, B),
        (12, Str),
    ]
);
// metrics.v1
schema!(METRICS_REQUEST, item = false, [(1, Msg(&RESOURCE_METRICS))]);
schema!(
    RESOURCE_METRICS,
    item = false,
    [(1, Msg(&RESOURCE)), (2, Msg(&SCOPE_METRICS)), (3, Str)]
);
schema!(
    SCOPE_METRICS,
    item = false,
    [(1, Msg(&SCOPE)), (2, Msg(&METRIC)), (3, Str)]
);
schema!(
    METRIC,
    item = false,
    oneof = [5, 7, 9, 10, 11],
    [
        (1, Str),
        (2, Str),
        (3, Str),
        (12, Msg(&KEY_VALUE)),
        (5, Msg(&GAUGE)),
        (7, Msg(&SUM)),
        (9, Msg(&HISTOGRAM)),
        (10, Msg(&EXP_HISTOGRAM)),
        (11, Msg(&SUMMARY)),
    ]
);
schema!(GAUGE, item = false, [(1, Msg(&NUMBER_POINT))]);
schema!(
    SUM,
    item = false,
    [(1, Msg(&NUMBER_POINT)), (2, Varint), (3, Varint)]
);
schema!(
    HISTOGRAM,
    item = false,
    [(1, Msg(&HISTOGRAM_POINT)), (2, Varint)]
);
schema!(
    EXP_HISTOGRAM,
    item = false,
    [(1, Msg(&EXP_HISTOGRAM_POINT)), (2, Varint)]
);
schema!(SUMMARY, item = false, [(1, Msg(&SUMMARY_POINT))]);
schema!(
    NUMBER_POINT,
    item = true,
    [
        (7, Msg(&KEY_VALUE)),
        (2, I64),
        (3, I64),
        (5, Msg(&EXEMPLAR)),
        (8, Varint),
        (4, I64),
        (6, I64),
    ]
);
schema!(
    HISTOGRAM_POINT,
    item = true,
    [
        (9, Msg(&KEY_VALUE)),
        (2, I64),
        (3, I64),
        (4, I64),
        (5, I64),
        (6, RepI64),
        (7, RepI64),
        (8, Msg(&EXEMPLAR)),
        (10, Varint),
        (11, I64),
        (12, I64),
    ]
);
schema!(
    EXP_HISTOGRAM_POINT,
    item = true,
    [
        (1, Msg(&KEY_VALUE)),
        (2, I64),
        (3, I64),
        (4, I64),
        (5, I64),
        (6, Varint),
        (7, I64),
        (8, Msg(&BUCKETS)),
        (9, Msg(&BUCKETS)),
        (10, Varint),
        (11, Msg(&EXEMPLAR)),
        (12, I64),
        (13, I64),
        (14, I64),
    ]
);
schema!(BUCKETS, item = false, [(1, Varint), (2, RepVarint)]);
schema!(
    SUMMARY_POINT,
    item = true,
    [
        (7, Msg(&KEY_VALUE)),
        (2, I64),
        (3, I64),
        (4, I64),
        (5, I64),
        (6, Msg(&QUANTILE)),
        (8, Varint),
    ]
);
schema!(QUANTILE, item = false, [(1, I64), (2, I64)]);
schema!(
    EXEMPLAR,
    item = false,
    [
        (7, Msg(&KEY_VALUE)),
        (2, I64),
        (4, B),
        (5, B),
        (3, I64),
        (6, I64)
    ]
);

/// The wire schemas of the three export requests, for [`SignalData::WIRE`].
pub mod schemas {
    use super::Schema;
    /// `ExportTraceServiceRequest`.
    pub static TRACES: &Schema = &super::TRACE_REQUEST;
    /// `ExportMetricsServiceRequest`.
    pub static METRICS: &Schema = &super::METRICS_REQUEST;
    /// `ExportLogsServiceRequest`.
    pub static LOGS: &Schema = &super::LOGS_REQUEST;
}

/// Why a request is not valid OTLP protobuf; the message names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OTLP protobuf at byte {offset}: {what}")]
pub struct WireError {
    /// Offset in the request where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub what: &'static str,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the whole request, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &'static str) -> WireError {
        WireError {
            offset: self.base + self.pos,
            what,
        }
    }

    /// prost's `decode_varint`: at most 10 bytes, the 10th at most 1.
    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Most varints here (keys, short lengths) are one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_slow()
    }

    #[cold]
    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return Err(self.err("truncated varint"));
            };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b >= 2 {
                    return Err(self.err("varint overflows 64 bits"));
                }
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    #[inline]
    fn take(&mut self, n: u64) -> Result<Reader<'a>, WireError> {
        let rest = (self.buf.len() - self.pos) as u64;
        if n > rest {
            return Err(self.err("length runs past the end of its message"));
        }
        let n = n as usize;
        let sub = Reader {
            buf: &self.buf[self.pos..self.pos + n],
            pos: 0,
            base: self.base + self.pos,
        };
        self.pos += n;
        Ok(sub)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// prost's `decode_key`: `(field number, wire type)`.
    #[inline]
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(self.err("field key out of range"));
        }
        let wire = (key & 7) as u8;
        if wire > 5 {
            return Err(self.err("unknown wire type"));
        }
        let num = (key as u32) >> 3;
        if num == 0 {
            return Err(self.err("field number 0"));
        }
        Ok((num, wire))
    }

    /// prost's `skip_field`, for fields the schema does not know.
    fn skip(&mut self, num: u32, wire: u8, depth: u32) -> Result<(), WireError> {
        if depth == 0 {
            return Err(self.err("messages nested too deeply"));
        }
        match wire {
            0 => {
                self.varint()?;
            }
            1 => {
                self.take(8)?;
            }
            5 => {
                self.take(4)?;
            }
            2 => {
                let n = self.varint()?;
                self.take(n)?;
            }
            3 => loop {
                let (inner, w) = self.key()?;
                if w == 4 {
                    if inner != num {
                        return Err(self.err("end-group tag does not match its start"));
                    }
                    break;
                }
                self.skip(inner, w, depth - 1)?;
            },
            _ => return Err(self.err("unexpected end-group tag")),
        }
        Ok(())
    }

    /// Walks one message of `schema` whose fields sit at recursion `depth`, adding its items.
    fn message(&mut self, schema: &Schema, depth: u32, items: &mut usize) -> Result<(), WireError> {
        // (last oneof member seen, items counted under it)
        let mut oneof = (0u32, 0usize);
        while !self.done() {
            let (num, wire) = self.key()?;
            let Some(kind) = schema.field(num) else {
                self.skip(num, wire, depth)?;
                continue;
            };
            match (kind, wire) {
                (Kind::Varint | Kind::RepVarint, 0) => {
                    self.varint()?;
                }
                (Kind::I64 | Kind::RepI64, 1) => {
                    self.take(8)?;
                }
                (Kind::I32, 5) => {
                    self.take(4)?;
                }
                (Kind::Bytes, 2) => {
                    let n = self.varint()?;
                    self.take(n)?;
                }
                (Kind::Str, 2) => {
                    let n = self.varint()?;
                    let s = self.take(n)?;
                    if !s.buf.is_ascii() && std::str::from_utf8(s.buf).is_err() {
                        return Err(s.err("string field is not valid UTF-8"));
                    }
                }
                (Kind::Msg(inner), 2) => {
                    if depth == 0 {
                        return Err(self.err("messages nested too deeply"));
                    }
                    let n = self.varint()?;
                    let mut sub = self.take(n)?;
                    let before = *items;
                    sub.message(inner, depth - 1, items)?;
                    if inner.item {
                        *items += 1;
                    }
                    if schema.oneof.contains(&num) {
                        if oneof.0 != num {
                            *items -= oneof.1;
                            oneof = (num, 0);
                        }
                        oneof.1 += *items - before;
                    }
                }
                (Kind::RepVarint, 2) => {
                    let n = self.varint()?;
                    let mut packed = self.take(n)?;
                    while !packed.done() {
                        packed.varint()?;
                    }
                }
                (Kind::RepI64, 2) => {
                    let n = self.varint()?;
                    let packed = self.take(n)?;
                    if n % 8 != 0 {
                        return Err(packed.err("packed 64-bit field is not a multiple of 8 bytes"));
                    }
                }
                _ => return Err(self.err("wrong wire type for a known field")),
            }
        }
        Ok(())
    }
}

/// Checks `buf` as an encoded message of `schema` and returns its item count.
///
/// # Errors
/// [`WireError`] for anything `prost::Message::decode` would refuse.
pub fn check(schema: &Schema, buf: &[u8]) -> Result<usize, WireError> {
    let mut items = 0;
    Reader {
        buf,
        pos: 0,
        base: 0,
    }
    .message(schema, RECURSION_LIMIT, &mut items)?;
    Ok(items)
}

/// An OTLP export request of signal `T`, still encoded, checked by [`check`].
///
/// It is held as a list of chunks, each a whole encoded request, whose concatenation is the
/// merged request: [`Encoded::append`] adds chunks without copying bytes. Cloning is cheap
/// (the chunks are shared).
pub struct Encoded<T> {
    chunks: Vec<Bytes>,
    len: usize,
    items: usize,
    _signal: PhantomData<fn() -> T>,
}

impl<T> Clone for Encoded<T> {
    fn clone(&self) -> Self {
        Encoded {
            chunks: self.chunks.clone(),
            len: self.len,
            items: self.items,
            _signal: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("bytes", &self.len)
            .field("chunks", &self.chunks.len())
            .field("items", &self.items)
            .finish()
    }
}

impl<T: SignalData> Encoded<T> {
    /// Checks `bytes` as an encoded `T` (see the module docs) and keeps them.
    ///
    /// # Errors
    /// [`WireError`] when `T::decode` would fail.
    pub fn new(bytes: Bytes) -> Result<Self, WireError> {
        let items = check(T::WIRE, &bytes)?;
        Ok(Self::from_parts(bytes, items))
    }

    /// Encodes `data` (for merging a decoded request into encoded ones).
    pub fn encode(data: &T) -> Self {
        Self::from_parts(Bytes::from(data.encode_to_vec()), data.item_count())
    }

    fn from_parts(bytes: Bytes, items: usize) -> Self {
        Encoded {
            len: bytes.len(),
            chunks: if bytes.is_empty() {
                vec![]
            } else {
                vec![bytes]
            },
            items,
            _signal: PhantomData,
        }
    }
}

impl<T> Encoded<T> {
    /// Items: spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        self.items
    }

    /// The chunks whose concatenation is the encoded request.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The encoded request in one buffer (copied only when there are several chunks).
    pub fn to_bytes(&self) -> Bytes {
        match &self.chunks[..] {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut buf = BytesMut::with_capacity(self.len);
                for c in many {
                    buf.put_slice(c);
                }
                buf.freeze()
            }
        }
    }

    /// Length of the encoding in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty request (no resources).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: SignalData> Encoded<T> {
    /// Decodes the request, for a component that needs to look inside it.
    ///
    /// # Errors
    /// A permanent [`ConsumeError`] if prost refuses what [`check`] accepted (a bug).
    pub fn decode(&self) -> Result<T, ConsumeError> {
        T::decode(self.to_bytes())
            .map_err(|e| ConsumeError::permanent(format!("undecodable OTLP request: {e}")))
    }

    /// Appends `other`'s resources after this request's (concatenation, see the module docs).
    pub fn append(&mut self, other: Encoded<T>) {
        self.chunks.extend(other.chunks);
        self.len += other.len;
        self.items += other.items;
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::signal::{Logs, Metrics, Traces};
    use crate::testing::fake;

    /// `check` accepts exactly what prost's decode accepts, and counts what `item_count` counts.
    fn agrees<T: SignalData>(bytes: &[u8]) -> bool {
        let ours = check(T::WIRE, bytes);
        let prost = T::decode(bytes);
        match (&ours, &prost) {
            (Ok(n), Ok(d)) => *n == d.item_count(),
            (Err(_), Err(_)) => true,
            _ => {
                eprintln!(
                    "disagree on {bytes:02x?}: ours {ours:?}, prost {:?}",
                    prost.err()
                );
                false
            }
        }
    }

    fn mutations<T: SignalData>(data: &T, seed: u64) {
        let valid = data.encode_to_vec();
        assert_eq!(check(T::WIRE, &valid), Ok(data.item_count()));
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..20_000 {
            let b = crate::testing::mutate(&mut rng, &valid);
            assert!(agrees::<T>(&b));
        }
    }

    #[test]
    fn accepts_what_prost_accepts_on_mutated_traces() {
        mutations(&fake::traces(3, 4), 1);
    }

    #[test]
    fn accepts_what_prost_accepts_on_mutated_metrics() {
        mutations(&fake::metrics(2, 2, 2), 2);
    }

    #[test]
    fn accepts_what_prost_accepts_on_mutated_logs() {
        mutations(&fake::logs(2, 3), 3);
    }

    #[test]
    fn every_kind_of_field_is_checked() {
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        // A string field with invalid UTF-8: a valid request whose span name is patched.
        let mut t = fake::traces(1, 1);
        t.resource_spans[0].scope_spans[0].spans[0].name = "ab".into();
        let mut b = t.encode_to_vec();
        let at = b.windows(2).position(|w| w == b"ab").unwrap();
        b[at] = 0xff;
        let e = check(schemas::TRACES, &b).unwrap_err();
        assert_eq!(e.what, "string field is not valid UTF-8");
        assert!(Traces::decode(&b[..]).is_err());
        // Nesting at prost's limit: arrays in arrays.
        let nest = |depth: usize| {
            let mut v = AnyValue {
                value: Some(Value::IntValue(1)),
            };
            for _ in 0..depth {
                v = AnyValue {
                    value: Some(Value::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue { values: vec![v] },
                    )),
                };
            }
            let mut t = fake::traces(1, 1);
            t.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue {
                key: "deep".into(),
                value: Some(v),
                ..Default::default()
            }];
            t.encode_to_vec()
        };
        for depth in [40, 46, 47, 48, 49, 60] {
            assert!(agrees::<Traces>(&nest(depth)), "depth {depth}");
        }
        assert!(check(schemas::TRACES, &nest(60)).is_err());
        assert!(check(schemas::TRACES, &nest(40)).is_ok());
        // Packed and unpacked repeated scalars; every metric kind is counted.
        let m = fake::metrics(1, 2, 3);
        assert_eq!(
            check(schemas::METRICS, &m.encode_to_vec()),
            Ok(m.item_count())
        );
        let l = fake::logs(2, 2);
        assert_eq!(check(schemas::LOGS, &l.encode_to_vec()), Ok(4));
    }

    #[test]
    fn concatenation_merges_requests() {
        let a = fake::traces(2, 3);
        let b = fake::traces(1, 5);
        let mut ea = Encoded::<Traces>::new(Bytes::from(a.encode_to_vec())).unwrap();
        let eb = Encoded::<Traces>::encode(&b);
        ea.append(eb);
        assert_eq!(ea.item_count(), 11);
        let mut want = a.clone();
        want.append(b);
        assert_eq!(ea.decode().unwrap(), want);
        let mut empty = Encoded::<Metrics>::new(Bytes::new()).unwrap();
        let m = fake::metrics(1, 1, 2);
        empty.append(Encoded::encode(&m));
        assert_eq!(empty.decode().unwrap(), m);
        let _ = Logs::default();
    }
}
