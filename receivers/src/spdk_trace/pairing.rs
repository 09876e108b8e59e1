//! Tracepoint entries → spans: one span per SPDK object (NVMe-oF request, bdev I/O, bdev_nvme
//! I/O, NVMe/TCP command, socket request, ...), from its start tracepoint to its completion
//! tracepoint, parented through `related`, and handed out a whole request tree at a time.
//!
//! Pairing keys on `(object type, object pointer)`, not on spdk_trace's labels: labels are
//! per-parse counters, while a pointer is unique among objects in flight (pool objects are
//! reused only after they complete). So a span opened in one snapshot is closed by an entry of
//! a later one, even when the later parse no longer sees the start and gives no label. Entries
//! already seen in an earlier snapshot (at or below that snapshot's newest tsc on their lcore)
//! are skipped, except to learn the later parse's label of a span still open.
//!
//! A tree (one trace) is complete when its root has closed and no span in it is still open;
//! then the sampling decision is made for the whole tree: kept when the root lasted at least
//! `latency_threshold`, or when the trace id falls in the `ratio` (as OTel's
//! TraceIdRatioBased sampler decides). A span open for longer than `max_open` (in trace time)
//! is dropped and counted; an open root takes its whole tree with it.

use std::collections::HashMap;
use std::hash::BuildHasher;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};

use super::parse::{Arg, Entry, Header, Sink, Tpoint};
use super::tpoints::{self, Role};

/// Pairing options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Open spans older than this (trace time, seconds) are dropped.
    pub max_open: f64,
    /// Fraction of request trees kept regardless of latency, in `[0, 1]`.
    pub ratio: f64,
    /// Request trees whose root lasted at least this long (seconds) are always kept.
    pub latency_threshold: Option<f64>,
}

/// Counters of what pairing did, cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Spans that completed (start and end seen).
    pub seen: u64,
    /// Spans handed out (their tree was sampled in).
    pub kept: u64,
    /// Spans of complete trees the sampler left out.
    pub sampled_out: u64,
    /// Spans dropped open: older than `max_open`, in a tree whose root expired, or whose
    /// pointer was reused by a new start before their end was seen.
    pub dropped_open: u64,
    /// Entries of objects whose start was never seen (before the first snapshot's window).
    pub unmatched: u64,
    /// Completions whose `object.time` disagreed with end tsc − start tsc (never expected).
    pub duration_mismatch: u64,
}

/// One event inside a span (an intermediate tracepoint of its object).
#[derive(Debug, Clone, PartialEq)]
struct EventRec {
    tsc: u64,
    name: String,
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
struct SpanRec {
    root: u64,
    parent: Option<u64>,
    name: &'static str,
    fallback_name: Option<String>,
    kind: span::SpanKind,
    start_tsc: u64,
    end_tsc: u64,
    attributes: Vec<KeyValue>,
    events: Vec<EventRec>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Tree {
    open: usize,
    done: Vec<u64>,
    root_done: bool,
}

/// A completed request tree, still in trace time (ticks).
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedTree {
    trace_id: [u8; 16],
    spans: Vec<(u64, SpanRec)>,
}

impl FinishedTree {
    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the tree has no span (never: a tree has its root).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// The pairing state across snapshots.
pub struct Pairing {
    opts: Options,
    next_uid: u64,
    open: HashMap<(char, u64), u64>,
    spans: HashMap<u64, SpanRec>,
    trees: HashMap<u64, Tree>,
    /// Per lcore: the newest tsc of earlier documents.
    watermark: HashMap<u32, u64>,
    /// Per lcore: the newest tsc of this document.
    doc_watermark: HashMap<u32, u64>,
    /// This document's labels → span uid.
    labels: HashMap<String, u64>,
    finished: Vec<FinishedTree>,
    newest_tsc: u64,
    tsc_rate: u64,
    ids: std::collections::hash_map::RandomState,
    counts: Counts,
}

impl Pairing {
    /// An empty state.
    pub fn new(opts: Options) -> Self {
        Pairing {
            opts,
            next_uid: 1,
            open: HashMap::new(),
            spans: HashMap::new(),
            trees: HashMap::new(),
            watermark: HashMap::new(),
            doc_watermark: HashMap::new(),
            labels: HashMap::new(),
            finished: Vec::new(),
            newest_tsc: 0,
            tsc_rate: 0,
            ids: std::collections::hash_map::RandomState::new(),
            counts: Counts::default(),
        }
    }

    /// The counters so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Spans open now.
    pub fn open_spans(&self) -> usize {
        self.open.len()
    }

    /// The newest tsc seen.
    pub fn newest_tsc(&self) -> u64 {
        self.newest_tsc
    }

    fn hash(&self, uid: u64, salt: u8) -> u64 {
        self.ids.hash_one((uid, salt))
    }

    fn span_id(&self, uid: u64) -> [u8; 8] {
        let v = self.hash(uid, 0);
        (if v == 0 { 1 } else { v }).to_be_bytes()
    }

    fn trace_id(&self, root: u64) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.hash(root, 1).to_be_bytes());
        id[8..].copy_from_slice(&self.hash(root, 2).to_be_bytes());
        id
    }

    /// Ends the current document: expires spans open longer than `max_open`, and returns the
    /// trees completed (and sampled in) since the last call.
    pub fn end_document(&mut self) -> Vec<FinishedTree> {
        if self.tsc_rate > 0 {
            let max_ticks = (self.opts.max_open * self.tsc_rate as f64) as u64;
            let expired: Vec<u64> = self
                .open
                .values()
                .copied()
                .filter(|uid| {
                    self.spans
                        .get(uid)
                        .is_some_and(|s| self.newest_tsc.saturating_sub(s.start_tsc) > max_ticks)
                })
                .collect();
            for uid in expired {
                self.expire(uid);
            }
        }
        for (lcore, tsc) in self.doc_watermark.drain() {
            let w = self.watermark.entry(lcore).or_default();
            *w = (*w).max(tsc);
        }
        self.labels.clear();
        std::mem::take(&mut self.finished)
    }

    /// Drops the open span `uid` (and its whole tree when it is the root).
    fn expire(&mut self, uid: u64) {
        let Some(rec) = self.spans.get(&uid) else {
            return;
        };
        let root = rec.root;
        if root == uid {
            // The whole tree goes: its open spans and the completed ones waiting for the root.
            let members: Vec<u64> = self
                .spans
                .iter()
                .filter(|(_, s)| s.root == root)
                .map(|(u, _)| *u)
                .collect();
            self.open.retain(|_, u| !members.contains(u));
            for u in &members {
                self.spans.remove(u);
            }
            self.trees.remove(&root);
            self.counts.dropped_open += members.len() as u64;
        } else {
            self.open.retain(|_, u| *u != uid);
            self.spans.remove(&uid);
            self.counts.dropped_open += 1;
            if let Some(t) = self.trees.get_mut(&root) {
                t.open = t.open.saturating_sub(1);
            }
            self.maybe_finish(root);
        }
    }

    fn maybe_finish(&mut self, root: u64) {
        let complete = self
            .trees
            .get(&root)
            .is_some_and(|t| t.root_done && t.open == 0);
        if !complete {
            return;
        }
        let tree = self.trees.remove(&root).unwrap_or_default();
        let spans: Vec<(u64, SpanRec)> = tree
            .done
            .iter()
            .filter_map(|u| Some((*u, self.spans.remove(u)?)))
            .collect();
        let trace_id = self.trace_id(root);
        let root_ticks = spans
            .iter()
            .find(|(u, _)| *u == root)
            .map_or(0, |(_, s)| s.end_tsc - s.start_tsc);
        let slow = self
            .opts
            .latency_threshold
            .is_some_and(|t| self.tsc_rate > 0 && root_ticks as f64 / self.tsc_rate as f64 >= t);
        let tail = u64::from_be_bytes(trace_id[8..].try_into().unwrap_or_default());
        let in_ratio = self.opts.ratio >= 1.0
            || (tail as f64) < self.opts.ratio * 18_446_744_073_709_551_616.0;
        if slow || in_ratio {
            self.counts.kept += spans.len() as u64;
            self.finished.push(FinishedTree { trace_id, spans });
        } else {
            self.counts.sampled_out += spans.len() as u64;
        }
    }

    /// The OTLP spans of `trees`, with trace time mapped to Unix time by `offset_ns`
    /// (`unix_ns = offset_ns + tsc × 10^9 ÷ tsc_rate`).
    pub fn to_spans(&self, trees: Vec<FinishedTree>, offset_ns: i128) -> Vec<Span> {
        let rate = i128::from(self.tsc_rate.max(1));
        let at = |tsc: u64| -> u64 {
            let ns = offset_ns + i128::from(tsc) * 1_000_000_000 / rate;
            u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
        };
        let mut out = Vec::with_capacity(trees.iter().map(FinishedTree::len).sum());
        for t in trees {
            for (uid, s) in t.spans {
                let mut attributes = s.attributes;
                attributes.push(int_kv("spdk.ticks", s.end_tsc - s.start_tsc));
                let start = at(s.start_tsc);
                // The duration from the ticks themselves, so it is exact to the nanosecond
                // whatever the offset's rounding.
                let end = start
                    + u64::try_from(i128::from(s.end_tsc - s.start_tsc) * 1_000_000_000 / rate)
                        .unwrap_or(0);
                out.push(Span {
                    trace_id: t.trace_id.to_vec(),
                    span_id: self.span_id(uid).to_vec(),
                    parent_span_id: s
                        .parent
                        .map(|p| self.span_id(p).to_vec())
                        .unwrap_or_default(),
                    name: s.fallback_name.unwrap_or_else(|| s.name.to_owned()),
                    kind: s.kind as i32,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    events: s
                        .events
                        .into_iter()
                        .map(|e| span::Event {
                            time_unix_nano: at(e.tsc),
                            name: e.name,
                            attributes: e.attributes,
                            ..Default::default()
                        })
                        .collect(),
                    status: s.error.map(|message| Status {
                        message,
                        code: status::StatusCode::Error as i32,
                    }),
                    ..Default::default()
                });
            }
        }
        out
    }
}

impl Sink for Pairing {
    fn entry(&mut self, h: &Header, e: &Entry<'_>) {
        self.tsc_rate = h.tsc_rate;
        let seen_before = self.watermark.get(&e.lcore).is_some_and(|w| e.tsc <= *w);
        let w = self.doc_watermark.entry(e.lcore).or_default();
        *w = (*w).max(e.tsc);
        self.newest_tsc = self.newest_tsc.max(e.tsc);
        let Some(obj) = &e.object else {
            return;
        };
        let def = h.tpoints.get(&e.tpoint);
        let label = obj.id.as_deref();
        let Some(prefix) = label
            .and_then(|l| l.chars().next())
            .filter(char::is_ascii_alphabetic)
            .or_else(|| tpoints::known(e.tpoint).map(|k| k.object))
        else {
            return;
        };
        let Some(value) = obj.value else {
            return;
        };
        let key = (prefix, value);
        if seen_before {
            // Learn this parse's label of a span still open, for `related` of later entries.
            if let (Some(l), Some(uid)) = (label, self.open.get(&key))
                && self
                    .spans
                    .get(uid)
                    .is_some_and(|s| s.start_tsc == e.tsc.saturating_sub(obj.time.unwrap_or(0)))
            {
                self.labels.insert(l.to_owned(), *uid);
            }
            return;
        }
        match tpoints::role(e.tpoint, def) {
            Role::Start => {
                if let Some(old) = self.open.get(&key).copied() {
                    self.expire(old);
                }
                let uid = self.next_uid;
                self.next_uid += 1;
                let parent = e
                    .related
                    .as_deref()
                    .and_then(|r| self.labels.get(r))
                    .copied()
                    .filter(|p| self.spans.contains_key(p));
                let root = parent
                    .and_then(|p| self.spans.get(&p))
                    .map_or(uid, |p| p.root);
                self.trees.entry(root).or_default().open += 1;
                let (name, kind) = tpoints::span_name(prefix, e.tpoint);
                self.spans.insert(
                    uid,
                    SpanRec {
                        root,
                        parent,
                        name,
                        fallback_name: name.is_empty().then(|| {
                            def.map_or_else(
                                || format!("tpoint {}", e.tpoint),
                                |d| d.name.to_lowercase(),
                            )
                        }),
                        kind,
                        start_tsc: e.tsc,
                        end_tsc: e.tsc,
                        attributes: start_attributes(h, def, e, prefix),
                        events: Vec::new(),
                        error: None,
                    },
                );
                self.open.insert(key, uid);
                if let Some(l) = label {
                    self.labels.insert(l.to_owned(), uid);
                }
            }
            Role::Event => {
                let Some(uid) = self.open.get(&key).copied() else {
                    self.counts.unmatched += 1;
                    return;
                };
                let name = def.map_or_else(|| format!("tpoint {}", e.tpoint), |d| d.name.clone());
                let attributes = arg_attributes(def, e, false);
                if let Some(s) = self.spans.get_mut(&uid) {
                    s.events.push(EventRec {
                        tsc: e.tsc,
                        name,
                        attributes,
                    });
                }
            }
            Role::End => {
                let Some(uid) = self.open.remove(&key) else {
                    self.counts.unmatched += 1;
                    return;
                };
                let Some(s) = self.spans.get_mut(&uid) else {
                    return;
                };
                s.end_tsc = e.tsc;
                if obj.time.is_some_and(|t| t != e.tsc - s.start_tsc) {
                    self.counts.duration_mismatch += 1;
                }
                // NVMe completion status (`cpl`, status_raw): non-zero is an error.
                if let Some(status) = tpoints::completion_status(def, e)
                    && status != 0
                {
                    s.attributes.push(int_kv("spdk.nvme.status", status));
                    s.error = Some(format!("NVMe completion status {status:#x}"));
                }
                let root = s.root;
                self.counts.seen += 1;
                let t = self.trees.entry(root).or_default();
                t.open = t.open.saturating_sub(1);
                t.done.push(uid);
                if uid == root {
                    t.root_done = true;
                }
                self.maybe_finish(root);
            }
        }
    }
}

fn str_kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

fn int_kv(key: &str, v: u64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(
                i64::try_from(v).unwrap_or(i64::MAX),
            )),
        }),
        ..Default::default()
    }
}

/// The owner's description: the entry's own (v26.05), else the header's `owners` by the
/// numeric part of the owner label.
fn owner_description<'e>(h: &'e Header, e: &'e Entry<'_>) -> Option<&'e str> {
    if let Some(o) = e.owner.as_deref().filter(|o| !o.is_empty()) {
        return Some(o);
    }
    let id: u64 = e
        .poller
        .as_deref()?
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .ok()?;
    h.owners.get(&id).map(String::as_str)
}

/// A span's attributes from its start entry: core, owner (and what its description says:
/// bdev name, NVMe-oF host and subsystem), and the tracepoint's arguments.
fn start_attributes(
    h: &Header,
    def: Option<&Tpoint>,
    e: &Entry<'_>,
    prefix: char,
) -> Vec<KeyValue> {
    let mut out = vec![int_kv("spdk.lcore", u64::from(e.lcore))];
    if let Some(p) = e.poller.as_deref() {
        if let Some(qid) = p.strip_prefix('q').filter(|_| prefix == 'p') {
            // NVMe/TCP tracepoints record the queue id where the owner goes.
            if let Ok(q) = qid.parse::<u64>() {
                out.push(int_kv("spdk.nvme.qid", q));
            }
        } else {
            out.push(str_kv("spdk.owner", p));
        }
    }
    if let Some(desc) = owner_description(h, e) {
        out.push(str_kv("spdk.owner.description", desc));
        if let Some(bdev) = desc.strip_prefix("bdev_") {
            out.push(str_kv("spdk.bdev.name", bdev));
        } else if prefix == 'r' {
            // "<host ip:port> <subnqn> [<listen addr> qid:N]"
            let mut words = desc.split_whitespace();
            if let Some((host, port)) = words.next().and_then(|w| w.rsplit_once(':')) {
                out.push(str_kv("client.address", host));
                if let Ok(p) = port.parse::<u64>() {
                    out.push(int_kv("client.port", p));
                }
            }
            if let Some(nqn) = words.next().filter(|w| w.starts_with("nqn.")) {
                out.push(str_kv("spdk.nvmf.subsystem.nqn", nqn));
            }
        }
    }
    out.extend(arg_attributes(def, e, true));
    out
}

/// Attributes of an entry's arguments and size, under `spdk.*` names (pointers left out).
fn arg_attributes(def: Option<&Tpoint>, e: &Entry<'_>, start: bool) -> Vec<KeyValue> {
    let mut out = Vec::new();
    let tp = def.map_or("", |d| d.name.as_str());
    if let Some(size) = e.size {
        out.push(int_kv(
            match tp {
                "BDEV_IO_START" => "spdk.bdev.num_blocks",
                "SOCK_REQ_QUEUE" => "spdk.sock.bytes",
                "TCP_READ_DONE" => "spdk.nvmf.tcp.bytes",
                _ => "spdk.tpoint.size",
            },
            size,
        ));
    }
    let Some(def) = def else {
        return out;
    };
    for (a, v) in def.args.iter().zip(&e.args) {
        let name = a.name.as_str();
        if name == "ctx" || (a.kind == 1 && !name.starts_with("dw") && name != "cpl") {
            continue;
        }
        match v {
            Arg::Int(v) => {
                let v = *v;
                match (tp, name) {
                    ("BDEV_IO_START", "type") => out.push(match tpoints::bdev_io_type(v) {
                        Some(t) => str_kv("spdk.bdev.io.type", t),
                        None => int_kv("spdk.bdev.io.type", v),
                    }),
                    ("BDEV_IO_START", "offset") => out.push(int_kv("spdk.bdev.offset_blocks", v)),
                    (_, "qd") if start => out.push(int_kv("spdk.queue_depth", v)),
                    (_, "qd") => {}
                    (_, "opc") if tp.starts_with("NVME_") => {
                        out.push(int_kv("spdk.nvme.opc", v));
                        if let Some(n) = tpoints::nvme_opc(v) {
                            out.push(str_kv("spdk.nvme.opc.name", n));
                        }
                    }
                    (_, "cid") if tp.starts_with("NVME_") => out.push(int_kv("spdk.nvme.cid", v)),
                    (_, "dw10") if tp.starts_with("NVME_") => {
                        out.push(int_kv("spdk.nvme.slba", v & 0xffff_ffff));
                    }
                    (_, "dw12") if tp.starts_with("NVME_") => {
                        out.push(int_kv("spdk.nvme.nlb", (v & 0xffff) + 1));
                    }
                    (_, "cpl") => {}
                    _ => out.push(int_kv(&format!("spdk.tpoint.{name}"), v)),
                }
            }
            Arg::Str(s) => out.push(str_kv(&format!("spdk.tpoint.{name}"), s)),
            Arg::Other => {}
        }
    }
    out
}
