//! Strata's fuzz targets: one function per parser of outside input, each taking arbitrary
//! bytes. A target must never panic, hang or allocate without bound; where two parsers must
//! agree, or a round trip must hold, the target asserts it.
//!
//! The coverage-guided runs are cargo-fuzz's (`fuzz/`, `scripts/fuzz`, FUZZING.md); the stable
//! smoke test (`tests/smoke.rs`) runs every target over its seeds and mutations of them, in the
//! ordinary test suite. [`seeds`] gives each target's seed corpus, from `tests/fixtures`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest as Logs,
    metrics::v1::ExportMetricsServiceRequest as Metrics,
    trace::v1::ExportTraceServiceRequest as Traces,
};
use prost::Message;
use serde_json::Value;
use strata_pipelines::signal::SignalData;
use strata_pipelines::wire::Encoded;
use strata_translators::otlp_json;

/// A fuzz target: a name (the cargo-fuzz target's) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    ("otlp_proto", otlp_proto),
    ("otlp_json", otlp_json),
    ("zipkin_json", zipkin_json),
    ("spdk_jsonrpc", spdk_jsonrpc),
    ("spdk_trace", spdk_trace),
    ("redfish", redfish),
    ("config_yaml", config_yaml),
    ("queue_segment", queue_segment),
    ("http_decompress", http_decompress),
    ("libvirt", libvirt),
    ("k8s_endpointslices", k8s_endpointslices),
];

fn wire_agrees<T: SignalData>(data: &[u8]) {
    let ours = Encoded::<T>::new(Bytes::copy_from_slice(data));
    let prost = T::decode(data);
    match (&ours, &prost) {
        (Ok(e), Ok(d)) => assert_eq!(e.item_count(), d.item_count(), "item counts differ"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "the wire check and prost disagree: ours {:?}, prost {:?}",
            ours.err(),
            prost.err()
        ),
    }
}

/// OTLP protobuf, the three export requests: the receivers' wire check
/// (`strata_pipelines::wire`, which keeps requests encoded) accepts exactly what `prost`
/// decodes, and counts the same items.
pub fn otlp_proto(data: &[u8]) {
    wire_agrees::<Traces>(data);
    wire_agrees::<Metrics>(data);
    wire_agrees::<Logs>(data);
}

fn json_round_trip<T: otlp_json::OtlpMessage>(data: &[u8]) {
    if let Ok(msg) = otlp_json::decode::<T>(data) {
        let once = otlp_json::encode(&msg);
        let again = otlp_json::decode::<T>(&once).expect("canonical output decodes");
        assert_eq!(
            otlp_json::encode(&again),
            once,
            "canonical output is stable"
        );
    }
}

/// OTLP/JSON (`strata_translators::otlp_json`) for each signal: decoding never panics, and what
/// decodes re-encodes to a canonical form that decodes to the same message.
pub fn otlp_json(data: &[u8]) {
    json_round_trip::<Traces>(data);
    json_round_trip::<Metrics>(data);
    json_round_trip::<Logs>(data);
}

/// Zipkin v2 JSON and protobuf (the `zipkin` receiver's bodies): parsed, translated to OTLP (with and without
/// `parse_string_tags`), and what translates goes back to Zipkin.
pub fn zipkin_json(data: &[u8]) {
    use strata_translators::zipkin::{FromOtlpOptions, Span, ToOtlpOptions, from_otlp, to_otlp};
    // The same bytes as a Zipkin protobuf body: decoded spans survive an encode/decode trip.
    if let Ok(spans) = strata_translators::zipkin::proto::decode(data) {
        let again = strata_translators::zipkin::proto::decode(
            &strata_translators::zipkin::proto::encode(&spans),
        );
        assert_eq!(again.as_ref(), Ok(&spans), "protobuf round trip");
    }
    let Ok(spans) = serde_json::from_slice::<Vec<Span>>(data) else {
        return;
    };
    for parse_string_tags in [false, true] {
        if let Ok(req) = to_otlp(spans.clone(), ToOtlpOptions { parse_string_tags }) {
            let (back, dropped) = from_otlp(&req, &FromOtlpOptions::default());
            assert_eq!(back.len() + dropped, spans.len(), "every span comes back");
        }
    }
}

/// `spdk_trace -j` output as the `spdk_trace` receiver reads a file: the documents in it
/// (`documents`), each parsed as a stream (`parse`) into the span pairing, then the completed
/// trees as OTLP spans. Every tree handed out is whole (each parent in the same batch), no span
/// ends before it starts, and the counters add up.
pub fn spdk_trace(data: &[u8]) {
    use strata_receivers::spdk_trace::{Options, Pairing, documents, parse};
    let Ok(docs) = documents(data) else {
        return;
    };
    let mut p = Pairing::new(Options {
        max_open: 0.001,
        ratio: 0.5,
        latency_threshold: Some(1e-4),
    });
    for r in docs {
        let _ = parse(&data[r], &mut p);
        let trees = p.end_document();
        let spans = p.to_spans(trees, 0);
        let ids: std::collections::HashSet<&[u8]> = spans.iter().map(|s| &s.span_id[..]).collect();
        for s in &spans {
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
            assert!(
                s.parent_span_id.is_empty() || ids.contains(&s.parent_span_id[..]),
                "a tree is handed out whole"
            );
        }
    }
    let c = p.counts();
    assert!(c.kept + c.sampled_out <= c.seen, "{c:?}");
}

/// SPDK JSON-RPC responses as they arrive on the socket: newline-framed JSON objects
/// (`spdk::client` reads one line per response). Each `result` goes through every method's
/// interpreter in `spdk::metrics` and the histogram decoder (`spdk::histogram`, whose merge must
/// keep every count); a wrong shape must be an error, never a panic.
pub fn spdk_jsonrpc(data: &[u8]) {
    use strata_receivers::spdk::metrics as m;
    type Interpret = fn(&mut strata_receivers::recorder::Recorder, &Value) -> Result<(), String>;
    const METHODS: &[Interpret] = &[
        m::bdev_iostat,
        m::bdevs,
        m::nvmf_stats,
        m::nvmf_subsystems,
        m::threads,
        m::reactors,
        m::accel,
        m::iobuf,
        m::nvme_controllers,
    ];
    for line in data.split(|b| *b == b'\n') {
        let Ok(response) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let result = response.get("result").unwrap_or(&response);
        let mut rec = m::recorder(1, 2);
        for interpret in METHODS {
            let _ = interpret(&mut rec, result);
        }
        let _ = m::bdev_iostat_per_channel(&mut rec, "Nvme0n1", result);
        let _ = m::version(result);
        if let Ok(h) = strata_receivers::spdk::histogram::SpdkHistogram::decode(result) {
            let (bounds, counts) = h.to_otel(&[]);
            assert_eq!(counts.len(), bounds.len() + 1);
            assert_eq!(
                counts.iter().sum::<u64>(),
                h.total(),
                "merging keeps every count"
            );
            let _ = h.to_otel(&[1e-6, 1e-3, 1.0]);
        }
        let _ = rec.finish();
    }
}

/// Redfish resources of one chassis, as a JSON object with the fields of
/// `redfish::metrics::ChassisDocs` (`chassis`, `sensors`, `fans`, `thermal_metrics`,
/// `power_supplies`, `environment`, `thermal`, `power`, `component_environment`,
/// `sensors_read`), each what a
/// BMC could answer; interpreted into metrics without panicking. The same bytes also go where
/// a BMC's events and reports arrive: the SSE parser (split at every point of a few, which
/// must agree), the `Event` → log records conversion, and the MetricReport interpreter.
pub fn redfish(data: &[u8]) {
    use strata_receivers::redfish::events::{Dedup, SseParser, records};
    use strata_receivers::redfish::metrics::{ChassisDocs, interpret, recorder};
    let whole = SseParser::default().feed(data);
    for cut in [1, data.len() / 2, data.len().saturating_sub(1)] {
        let cut = cut.min(data.len());
        let mut p = SseParser::default();
        let mut split = p.feed(&data[..cut]);
        split.extend(p.feed(&data[cut..]));
        assert_eq!(
            split, whole,
            "an SSE stream parses the same however it is cut"
        );
    }
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut dedup = Dedup::new(std::time::Duration::from_secs(60));
    if let Ok(first) = records(&doc, Some("7"), &mut dedup, 1) {
        let again = records(&doc, Some("7"), &mut dedup, 2).expect("an Event stays an Event");
        assert_eq!(
            again.records.len() + again.duplicates,
            first.records.len() + first.duplicates,
            "every record is counted once"
        );
        dedup.forget(&first.marked);
        let after = records(&doc, Some("7"), &mut dedup, 3).expect("an Event stays an Event");
        assert_eq!(
            after.records.len(),
            first.records.len(),
            "forgotten ids pass again"
        );
    }
    let mut newest = std::collections::HashMap::new();
    let _ =
        strata_receivers::redfish::reports::interpret(std::slice::from_ref(&doc), 3, &mut newest);
    let list = |k: &str| match doc.get(k) {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    };
    let pairs = |k: &str| -> Vec<(Value, Value)> {
        list(k)
            .into_iter()
            .map(|v| match v {
                Value::Array(mut a) if a.len() == 2 => {
                    let second = a.pop().unwrap_or_default();
                    (a.pop().unwrap_or_default(), second)
                }
                v => (v, Value::Null),
            })
            .collect()
    };
    let docs = ChassisDocs {
        chassis: doc.get("chassis").cloned().unwrap_or_else(|| doc.clone()),
        sensors: list("sensors"),
        fans: list("fans"),
        thermal_metrics: doc.get("thermal_metrics").cloned(),
        power_supplies: pairs("power_supplies")
            .into_iter()
            .map(|(a, b)| (a, (!b.is_null()).then_some(b)))
            .collect(),
        environment: doc.get("environment").cloned(),
        thermal: doc.get("thermal").cloned(),
        power: doc.get("power").cloned(),
        component_environment: pairs("component_environment"),
        sensors_read: std::sync::Arc::new(
            list("sensors_read")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
    };
    let mut rec = recorder(1, 2);
    interpret(&mut rec, &docs);
    let _ = rec.finish();
}

/// Config YAML with `${env:...}` and `${file:...}` references: loading reports errors (every
/// one, with its path) and never panics. The environment is a fixed map; `${file:...}` reads
/// real paths, bounded.
pub fn config_yaml(data: &[u8]) {
    use strata_pipelines::config::{Source, load_all};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| match name {
        "HOST" => Some("collector".to_owned()),
        "PORT" => Some("4317".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let sources = [Source {
        name: "fuzz.yaml".into(),
        text: text.to_owned(),
    }];
    let (config, errors) = load_all(&sources, &env);
    assert!(
        config.is_some() || !errors.is_empty(),
        "a refused config names at least one error"
    );
}

/// A persistent-queue segment file as found on disk after a crash (torn, corrupt, or foreign):
/// recovery keeps a valid prefix, every kept record can be read and acknowledged, each record's
/// client-context envelope opens or is refused, and after a restart nothing acknowledged comes
/// back while a newly appended record does.
pub fn queue_segment(data: &[u8]) {
    use std::time::Duration;
    use strata_pipelines::storage::{FileStorage, Fsync, SegmentLog, WhenFull};
    let dir = tempfile::tempdir().expect("a temp dir");
    let queue = dir.path().join("q");
    std::fs::create_dir_all(&queue).expect("queue dir");
    std::fs::write(queue.join(format!("seg-{:020}.log", 1)), data).expect("write segment");
    let storage = || {
        FileStorage::new(
            dir.path().to_path_buf(),
            Fsync::Never,
            Duration::from_secs(1),
            64 << 20,
            1 << 20,
            WhenFull::Refuse,
        )
    };
    let Ok((log, recovery)) = SegmentLog::open(queue.clone(), storage()) else {
        return;
    };
    let mut read = 0u64;
    while let Ok(Some(record)) = log.try_next() {
        let _ = strata_pipelines::auth::open_envelope(&record.payload);
        log.ack(record.segment, record.index);
        read += 1;
    }
    assert_eq!(
        read, recovery.records,
        "every recovered record is read once"
    );
    log.append(1, b"after").expect("append after recovery");
    log.sync().expect("sync");
    log.close();
    drop(log);
    let (log, recovery) = SegmentLog::open(queue, storage()).expect("reopen");
    assert_eq!(
        recovery.records, 1,
        "only the new record survives a restart"
    );
    let record = log.try_next().expect("read").expect("the new record");
    assert_eq!(&record.payload[..], b"after");
}

/// Request-body decompression of the OTLP/HTTP and Zipkin receivers: every encoding of the
/// Collector's confighttp (gzip, zstd, zlib, deflate, snappy block and framed, lz4), with a
/// 64 KiB output limit, so a bomb is refused (413) instead of inflated.
pub fn http_decompress(data: &[u8]) {
    const MAX: usize = 64 << 10;
    let encodings = strata_receivers::otlp::ENCODINGS;
    for ce in encodings.iter().chain(&["identity", "br"]) {
        if let Ok(out) =
            strata_receivers::otlp::decompress_as(ce, Bytes::copy_from_slice(data), MAX)
            && *ce != "identity"
        {
            assert!(out.len() <= MAX, "{ce}: {} bytes out", out.len());
        }
    }
}

/// libvirt input as the `libvirt` receiver reads it: a domain's XML (`virDomainGetXMLDesc`,
/// whose disk and interface targets the per-domain calls take), then, after a NUL byte, typed
/// parameters as `key=type:value` lines (what a daemon's `virConnectGetAllDomainStats` answer
/// carries), turned into metrics. Neither may panic, and every metric made is a documented one.
pub fn libvirt(data: &[u8]) {
    use strata_libvirt::{DomainStats, Value};
    use strata_receivers::libvirt::metrics::{DEFS, Recorder, record};
    let (xml, params) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(x) = std::str::from_utf8(xml) {
        let _ = strata_libvirt::devices(x);
    }
    let mut s = DomainStats::default();
    for line in String::from_utf8_lossy(params).lines() {
        let Some((k, tv)) = line.split_once('=') else {
            continue;
        };
        let Some((t, v)) = tv.split_once(':') else {
            continue;
        };
        let val = match t {
            "int" => v.parse().ok().map(Value::Int),
            "uint" => v.parse().ok().map(Value::UInt),
            "double" => v.parse().ok().map(Value::Double),
            "bool" => v.parse().ok().map(Value::Bool),
            "string" => Some(Value::String(v.to_owned())),
            _ => None,
        };
        if let Some(val) = val {
            s.params.insert(k.to_owned(), val);
        }
    }
    let mut rec = Recorder::new(DEFS, 1, 2);
    record(&mut rec, &s);
    for m in rec.finish() {
        assert!(
            DEFS.iter().any(|d| d.name == m.name),
            "{} is not documented",
            m.name
        );
    }
}

/// A Kubernetes API server's `EndpointSliceList`, as the `loadbalancing` exporter's `k8s`
/// resolver reads it: never a panic; every backend is `host:port` with a configured port.
pub fn k8s_endpointslices(data: &[u8]) {
    use strata_exporters::loadbalancing::ready_endpoints;
    for hostnames in [None, Some("svc.ns")] {
        if let Ok(list) = ready_endpoints(data, &[4317, 4318], hostnames) {
            for b in list {
                assert!(
                    b.ends_with(":4317") || b.ends_with(":4318"),
                    "backend without a configured port: {b}"
                );
            }
        }
    }
}

/// The repository's `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn files(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|e| e == ext)
            && let Ok(b) = std::fs::read(&p)
        {
            out.push(b);
        }
    }
    out
}

/// The seed corpus of the target `name`: real inputs from `tests/fixtures` (the SPDK and
/// Redfish recordings, the OTLP/JSON examples, the configs) and generated valid requests.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    use strata_pipelines::testing::fake;
    let fx = fixtures();
    match name {
        "otlp_proto" => vec![
            fake::traces(2, 3).encode_to_vec(),
            fake::metrics(2, 2, 2).encode_to_vec(),
            fake::logs(2, 2).encode_to_vec(),
        ],
        "otlp_json" => {
            let mut s = files(&fx.join("otlp-json"), "json");
            s.push(otlp_json::encode(&fake::traces(1, 2)));
            s.push(otlp_json::encode(&fake::metrics(1, 2, 2)));
            s
        }
        "zipkin_json" => {
            use strata_translators::zipkin::{FromOtlpOptions, from_otlp};
            let (spans, _) = from_otlp(&fake::traces(2, 3), &FromOtlpOptions::default());
            vec![serde_json::to_vec(&spans).expect("spans serialize")]
        }
        "spdk_jsonrpc" => files(&fx.join("spdk"), "json")
            .into_iter()
            .chain(files(&fx.join("spdk-extra/histogram"), "json"))
            .filter_map(|b| {
                let v: Value = serde_json::from_slice(&b).ok()?;
                let mut line = serde_json::to_vec(&v).ok()?;
                line.push(b'\n');
                Some(line)
            })
            .collect(),
        "spdk_trace" => trace_seeds(&fx, 120),
        "redfish" => {
            let mut s = files(&fx.join("redfish"), "json");
            // An Event (DMTF's schema example) and an SSE stream of it.
            let event = r##"{"@odata.type":"#Event.v1_7_0.Event","Id":"1","Name":"Event Array","Context":"x","Events":[{"EventId":"4593","MessageSeverity":"Warning","Message":"The LAN has been disconnected","MessageId":"Alert.1.0.LanDisconnect","MessageArgs":["EthernetInterface 1","/redfish/v1/Systems/1"],"OriginOfCondition":{"@odata.id":"/redfish/v1/Systems/1/EthernetInterfaces/1"},"EventTimestamp":"2017-11-23T17:17:42-0600"}]}"##;
            s.push(event.as_bytes().to_vec());
            s.push(
                format!(": ping\n\nid: 1\ndata: {event}\n\nid: 2\r\ndata: {{}}\r\n\r\n")
                    .into_bytes(),
            );
            s
        }
        "config_yaml" => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let mut s = files(&root.join("configs"), "yaml");
            s.extend(files(&fx.join("collector-configs"), "yaml"));
            s
        }
        "queue_segment" => vec![queue_seed()],
        "http_decompress" => {
            let body = fake::traces(2, 3).encode_to_vec();
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body).expect("gzip");
            let zstd = zstd::encode_all(&body[..], 1).expect("zstd");
            let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            zl.write_all(&body).expect("zlib");
            let snappy = snap::raw::Encoder::new()
                .compress_vec(&body)
                .expect("snappy");
            let mut framed = snap::write::FrameEncoder::new(Vec::new());
            framed.write_all(&body).expect("snappy framed");
            let framed = framed.into_inner().expect("snappy framed");
            let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
            lz.write_all(&body).expect("lz4");
            vec![
                gz.finish().expect("gzip"),
                zstd,
                zl.finish().expect("zlib"),
                snappy,
                framed,
                lz.finish().expect("lz4"),
                body,
            ]
        }
        "k8s_endpointslices" => vec![
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../exporters/src/loadbalancing/testdata/endpointslices.json"),
            )
            .unwrap_or_default(),
        ],
        "libvirt" => {
            let dir = fx.join("libvirt");
            let xml = std::fs::read(dir.join("test-default.xml")).unwrap_or_default();
            let stats = std::fs::read(dir.join("test-default.stats")).unwrap_or_default();
            let mut both = xml.clone();
            both.push(0);
            both.extend(&stats);
            vec![both, xml]
        }
        _ => Vec::new(),
    }
}

/// Trimmed `spdk_trace -j` documents (the first `n` entries of each recorded sample), small
/// enough for thousands of mutations in the smoke run.
fn trace_seeds(fx: &Path, n: usize) -> Vec<Vec<u8>> {
    files(&fx.join("spdk-extra/trace"), "json")
        .into_iter()
        .filter_map(|b| {
            let mut v: Value = serde_json::from_slice(&b).ok()?;
            let entries = v.get_mut("entries")?.as_array_mut()?;
            entries.truncate(n);
            serde_json::to_vec(&v).ok()
        })
        .collect()
}

/// A segment written by the persistent queue itself, with two records (one enveloped).
fn queue_seed() -> Vec<u8> {
    use std::time::Duration;
    use strata_pipelines::storage::{FileStorage, Fsync, SegmentLog, WhenFull};
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage = FileStorage::new(
        dir.path().to_path_buf(),
        Fsync::Never,
        Duration::from_secs(1),
        64 << 20,
        1 << 20,
        WhenFull::Refuse,
    );
    let (log, _) = SegmentLog::open(dir.path().join("q"), storage).expect("open");
    log.append(3, b"first record").expect("append");
    log.append(1, &strata_pipelines::auth::envelope(None, b"second"))
        .expect("append");
    log.sync().expect("sync");
    log.close();
    std::fs::read(dir.path().join("q").join(format!("seg-{:020}.log", 1))).unwrap_or_default()
}
