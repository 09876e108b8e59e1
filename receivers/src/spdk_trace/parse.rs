//! The JSON of `spdk_trace -j` (SPDK `app/trace/trace.cpp`), read as a stream: entries reach a
//! [`Sink`] one at a time, so an 88 MB `spdk_trace_record` capture is never held as a tree.
//!
//! ```text
//! {"tsc_rate": 2450000000,
//!  "tpoints": [{"name": "BDEV_IO_START", "id": 192, "new_object": true,
//!               "args": [{"name": "type", "type": 0, "size": 8}, ...]}, ...],
//!  "owners": {"256": "app_thread", ...},            (v26.05 and later)
//!  "entries": [{"lcore": 0, "tpoint": 192, "tsc": 4660489837713, "poller": "b264", "size": 1,
//!               "object": {"id": "i750", "value": 35185060234880}, "related": "r749",
//!               "args": [1, 94009748032912, 93184, 3], "owner": "bdev_Nvme0n1"}, ...]}
//! ```
//!
//! Members may come in any order (JSON objects are unordered): entries seen before `tsc_rate`
//! and `tpoints` are kept and handed over at the end. Unknown members are ignored, so later
//! SPDK versions that add fields still parse.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One tracepoint definition (`tpoints[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tpoint {
    /// Name, e.g. `BDEV_IO_START`.
    pub name: String,
    /// Id: `group * 64 + n`.
    pub id: u32,
    /// Whether the tracepoint starts an object (a span).
    #[serde(default)]
    pub new_object: bool,
    /// Argument definitions, in entry order.
    #[serde(default)]
    pub args: Vec<TpointArg>,
}

/// One argument definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TpointArg {
    /// Name, e.g. `offset`.
    pub name: String,
    /// 0 int, 1 pointer, 2 string.
    #[serde(rename = "type", default)]
    pub kind: u8,
    /// Bytes.
    #[serde(default)]
    pub size: u32,
}

/// What precedes the entries: the tick rate, the tracepoint definitions and (v26.05) the
/// owner descriptions.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// TSC ticks per second.
    pub tsc_rate: u64,
    /// Definitions by id.
    pub tpoints: HashMap<u32, Tpoint>,
    /// Owner descriptions by owner id (v26.05 `owners`).
    pub owners: HashMap<u64, String>,
}

/// The object an entry belongs to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EntryObject<'a> {
    /// The parser's label, `<prefix><n>`; absent when the object started before the buffer.
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    /// Ticks since the object's start entry (absent on the start entry).
    #[serde(default)]
    pub time: Option<u64>,
    /// The object's pointer (pool objects: reused once the object completes).
    #[serde(default)]
    pub value: Option<u64>,
}

/// One argument value: an integer (pointers included) or a string.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    /// An integer.
    Int(u64),
    /// A string argument (type 2).
    Str(Cow<'a, str>),
    /// Anything else (negative, fractional, null): kept out of attributes.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Arg<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Arg<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tracepoint argument (integer or string)")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Arg::Int(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(u64::try_from(v).map_or(Arg::Other, Arg::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Arg::Other)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Arg::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Arg::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Arg::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Arg::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// One trace entry (`entries[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry<'a> {
    /// The core that recorded it.
    pub lcore: u32,
    /// Tracepoint id.
    pub tpoint: u32,
    /// Absolute TSC ticks.
    pub tsc: u64,
    /// The owner (named `poller` by spdk_trace): owner-type prefix and owner id, e.g. `b264`.
    #[serde(borrow, default)]
    pub poller: Option<Cow<'a, str>>,
    /// The tracepoint's size field, when non-zero (BDEV_IO_START: blocks; SOCK_REQ_QUEUE:
    /// bytes).
    #[serde(default)]
    pub size: Option<u64>,
    /// The object, for object tracepoints.
    #[serde(borrow, default)]
    pub object: Option<EntryObject<'a>>,
    /// The parent object's label.
    #[serde(borrow, default)]
    pub related: Option<Cow<'a, str>>,
    /// Raw argument values in definition order.
    #[serde(borrow, default)]
    pub args: Vec<Arg<'a>>,
    /// The owner's description (v26.05).
    #[serde(borrow, default)]
    pub owner: Option<Cow<'a, str>>,
}

/// Receives a document's entries in order.
pub trait Sink {
    /// One entry, with the document's header.
    fn entry(&mut self, header: &Header, entry: &Entry<'_>);
}

/// Parses one `spdk_trace -j` document from `doc`, handing every entry to `sink` in order.
/// Returns the header and the number of entries.
///
/// # Errors
/// Text that is not one JSON object of this shape (the message names the problem and, from
/// serde_json, the line and column), a missing or zero `tsc_rate`, or trailing text.
pub fn parse(doc: &[u8], sink: &mut dyn Sink) -> Result<(Header, u64), String> {
    let mut de = serde_json::Deserializer::from_slice(doc);
    let out = DocSeed { sink }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(out)
}

/// The byte ranges of the complete JSON documents in `buf` (a file that `spdk_trace -j`
/// output was appended to). An incomplete last document (still being written) is left out.
///
/// # Errors
/// Text that is not JSON (not merely cut short), with its position.
pub fn documents(buf: &[u8]) -> Result<Vec<std::ops::Range<usize>>, String> {
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<IgnoredAny>();
    let mut start = 0;
    loop {
        match it.next() {
            Some(Ok(_)) => {
                let end = it.byte_offset();
                // Skip the whitespace the stream deserializer counted before the value.
                let first = buf[start..end]
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map_or(end, |p| start + p);
                out.push(first..end);
                start = end;
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok(out)
}

struct DocSeed<'s> {
    sink: &'s mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = (Header, u64);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = (Header, u64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the JSON object of spdk_trace -j")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = Header::default();
        let (mut have_rate, mut have_tpoints) = (false, false);
        let mut early: Vec<Entry<'de>> = Vec::new();
        let mut n = 0u64;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "tsc_rate" => {
                    header.tsc_rate = map.next_value()?;
                    have_rate = true;
                }
                "tpoints" => {
                    let list: Vec<Tpoint> = map.next_value()?;
                    header.tpoints = list.into_iter().map(|t| (t.id, t)).collect();
                    have_tpoints = true;
                }
                "owners" => {
                    let owners: HashMap<Cow<'de, str>, Cow<'de, str>> = map.next_value()?;
                    header.owners = owners
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.parse().ok()?, v.into_owned())))
                        .collect();
                }
                "entries" if have_rate && have_tpoints && header.tsc_rate > 0 => {
                    n += map.next_value_seed(EntriesSeed {
                        header: &header,
                        sink: &mut *self.sink,
                    })?;
                }
                "entries" => early.extend(map.next_value::<Vec<Entry<'de>>>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if header.tsc_rate == 0 {
            return Err(de::Error::custom("no positive \"tsc_rate\""));
        }
        for e in &early {
            self.sink.entry(&header, e);
        }
        Ok((header, n + early.len() as u64))
    }
}

struct EntriesSeed<'h, 's> {
    header: &'h Header,
    sink: &'s mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_> {
    type Value = u64;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the entries array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        while let Some(e) = seq.next_element::<Entry<'de>>()? {
            self.sink.entry(self.header, &e);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(u32, u64)>);
    impl Sink for Collect {
        fn entry(&mut self, h: &Header, e: &Entry<'_>) {
            assert!(h.tsc_rate > 0);
            self.0.push((e.tpoint, e.tsc));
        }
    }

    #[test]
    fn any_member_order_and_unknown_members() {
        let doc =
            br#"{"entries":[{"lcore":0,"tpoint":192,"tsc":5,"args":[1,"x",-1,null],"new_field":1}],
            "extra":{"a":[1]},"tpoints":[{"name":"BDEV_IO_START","id":192,"new_object":true}],
            "tsc_rate":1000}"#;
        let mut c = Collect(Vec::new());
        let (h, n) = parse(doc, &mut c).unwrap();
        assert_eq!((h.tsc_rate, n), (1000, 1));
        assert_eq!(c.0, [(192, 5)]);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        for bad in [
            &b"[]"[..],
            b"{}",
            b"{\"tsc_rate\":0,\"tpoints\":[],\"entries\":[]}",
            b"{\"tsc_rate\":1,\"tpoints\":[],\"entries\":[{\"tpoint\":1}]}",
            b"{\"tsc_rate\":1,\"tpoints\":[],\"entries\":[]} x",
            b"{\"tsc_rate\":1,\"tpoints\":[],\"entries\":[",
        ] {
            let mut c = Collect(Vec::new());
            assert!(
                parse(bad, &mut c).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn appended_documents_are_found_and_a_partial_one_waits() {
        let buf = b"{\"a\":1}\n {\"b\":2}{\"c\":";
        let docs = documents(buf).unwrap();
        assert_eq!(docs, [0..7, 9..16]);
        assert!(documents(b"{\"a\":1} }").is_err());
    }
}
