//! SPDK tracepoints as traces, end to end: the real `strata` binary reads the recorded
//! `spdk_trace -j` output of `spdk_tgt` v25.09 under NVMe-oF/TCP load
//! (`tests/fixtures/spdk-extra/trace/`) through the `spdk_trace` receiver → `batch` → the
//! `zipkin` exporter (its JSON judged by the Zipkin v2 API schema) and the `otlp` exporter
//! (what Jaeger's collector takes). The expectations are computed here from the capture's own
//! labels, independently of the receiver, which pairs by object pointer.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::otlp::RawTraceSink;
use common::zipkin::{zipkin_schema, zipkin_sink};
use common::{Strata, eventually};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/spdk-extra/trace/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// From the capture's labels: the `object.time` (ticks) of every span the receiver must hand
/// out — objects whose start and completion are both in the document, in request trees whose
/// every member completed (a tree still in flight at the end of the snapshot waits).
fn expected_spans(doc: &Value) -> Vec<u64> {
    const ENDS: [&str; 5] = [
        "TCP_REQ_COMPLETED",
        "BDEV_IO_DONE",
        "BDEV_NVME_IO_DONE",
        "NVME_TCP_COMPLETE",
        "SOCK_REQ_COMPLETE",
    ];
    let defs: HashMap<u64, &Value> = doc["tpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_u64().unwrap(), t))
        .collect();
    let mut parent: HashMap<String, Option<String>> = HashMap::new();
    let mut time: HashMap<String, u64> = HashMap::new();
    for e in doc["entries"].as_array().unwrap() {
        let Some(id) = e["object"]["id"].as_str() else {
            continue;
        };
        let def = defs[&e["tpoint"].as_u64().unwrap()];
        if def["new_object"] == Value::Bool(true) {
            let p = e["related"]
                .as_str()
                .filter(|r| parent.contains_key(*r))
                .map(str::to_owned);
            parent.insert(id.to_owned(), p);
        } else if ENDS.contains(&def["name"].as_str().unwrap()) && parent.contains_key(id) {
            time.insert(id.to_owned(), e["object"]["time"].as_u64().unwrap());
        }
    }
    let root = |id: &str| {
        let mut id = id.to_owned();
        while let Some(Some(p)) = parent.get(&id) {
            id = p.clone();
        }
        id
    };
    let incomplete: HashSet<String> = parent
        .keys()
        .filter(|id| !time.contains_key(*id))
        .map(|id| root(id))
        .collect();
    let mut out: Vec<u64> = time
        .iter()
        .filter(|(id, _)| !incomplete.contains(&root(id)))
        .map(|(_, t)| *t)
        .collect();
    out.sort_unstable();
    out
}

fn ticks(s: &Span) -> u64 {
    s.attributes
        .iter()
        .find(|kv| kv.key == "spdk.ticks")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Av::IntValue(i) => Some(*i as u64),
            _ => None,
        })
        .expect("spdk.ticks")
}

#[tokio::test(flavor = "multi_thread")]
async fn recorded_tracepoints_reach_zipkin_and_otlp_as_request_trees() {
    let (zport, posts) = zipkin_sink();
    let (sink, otlp_port) = RawTraceSink::serve_any().await;
    let input = tempfile::tempdir().unwrap();
    let trace_file = input.path().join("trace.json");
    let first = fixture("v25.09__spdk_trace_j__sample.json");
    std::fs::write(&trace_file, &first).unwrap();
    let cfg = format!(
        r#"
receivers:
  spdk_trace:
    file: {file}
    collection_interval: 200ms
    initial_delay: 0s
processors:
  batch: {{ timeout: 200ms }}
exporters:
  zipkin:
    endpoint: http://127.0.0.1:{zport}/api/v2/spans
  otlp:
    endpoint: 127.0.0.1:{otlp_port}
    tls: {{ insecure: true }}
service:
  pipelines:
    traces: {{ receivers: [spdk_trace], processors: [batch], exporters: [zipkin, otlp] }}
"#,
        file = trace_file.display()
    );
    let s = Strata::start(&cfg, &[]);
    let doc: Value = serde_json::from_slice(&first).unwrap();
    let mut want = expected_spans(&doc);
    let otlp_spans = || -> Vec<Span> {
        sink.requests()
            .iter()
            .flat_map(|b| {
                ExportTraceServiceRequest::decode(&b[..])
                    .unwrap()
                    .resource_spans
            })
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    };
    let zipkin_spans = || -> Vec<Value> {
        posts
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, body)| serde_json::from_slice::<Vec<Value>>(body).unwrap())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || otlp_spans().len() >= want.len()
            && zipkin_spans().len() >= want.len()),
        "want {} spans, otlp {} zipkin {}; log:\n{}",
        want.len(),
        otlp_spans().len(),
        zipkin_spans().len(),
        s.log()
    );
    assert!(want.len() > 200, "{}", want.len());

    // OTLP: exactly the expected spans, each lasting its object.time, in acyclic trees.
    let spans = otlp_spans();
    let mut got: Vec<u64> = spans.iter().map(ticks).collect();
    got.sort_unstable();
    assert_eq!(got, want);
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (&s.span_id[..], s)).collect();
    assert_eq!(by_id.len(), spans.len());
    for sp in &spans {
        assert_eq!(
            sp.end_time_unix_nano - sp.start_time_unix_nano,
            ticks(sp) * 1_000_000_000 / 2_450_000_000
        );
        let (mut cur, mut depth) = (sp, 0);
        while !cur.parent_span_id.is_empty() {
            cur = by_id[&cur.parent_span_id[..]];
            assert_eq!(cur.trace_id, sp.trace_id);
            depth += 1;
            assert!(depth < 8, "cycle");
        }
    }
    // Roots are requests, except children whose request started before the capture.
    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    let requests = roots
        .iter()
        .filter(|s| s.name == "nvmf_tcp.request")
        .count();
    assert!(
        requests * 10 > roots.len() * 9,
        "{requests} of {}",
        roots.len()
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "nvme_tcp.command" && !s.parent_span_id.is_empty())
    );
    // Anchored to the host clock: the snapshot is the file, written moments ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(spans.iter().all(|sp| sp.end_time_unix_nano <= now
        && now - sp.end_time_unix_nano < 120_000_000_000));

    // Zipkin: the same spans, schema-valid, durations in µs (rounded, as the exporter does).
    let schema = zipkin_schema();
    for (_, body) in posts.lock().unwrap().iter() {
        let doc: Value = serde_json::from_slice(body).unwrap();
        let errors: Vec<String> = schema.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    let z = zipkin_spans();
    assert_eq!(z.len(), want.len());
    let mut z_us: Vec<u64> = z.iter().map(|v| v["duration"].as_u64().unwrap()).collect();
    z_us.sort_unstable();
    let mut want_us: Vec<u64> = want
        .iter()
        .map(|t| ((t * 1_000_000_000 / 2_450_000_000 + 500) / 1000).max(1))
        .collect();
    want_us.sort_unstable();
    assert_eq!(z_us, want_us);
    assert!(
        z.iter()
            .all(|v| v["localEndpoint"]["serviceName"] == "spdk")
    );
    assert!(
        z.iter()
            .any(|v| v["kind"] == "SERVER" && v["name"] == "nvmf_tcp.request")
    );

    // A later snapshot appended to the file (the sock capture, 4 s later): its spans follow,
    // none of the first twice.
    let before = otlp_spans().len();
    let second = fixture("v25.09__spdk_trace_j__sample_with_sock.json");
    let more = expected_spans(&serde_json::from_slice(&second).unwrap());
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&trace_file)
            .unwrap();
        f.write_all(&second).unwrap();
    }
    assert!(
        eventually(Duration::from_secs(20), || otlp_spans().len()
            >= before + more.len()),
        "{} + {} expected, {} got; log:\n{}",
        before,
        more.len(),
        otlp_spans().len(),
        s.log()
    );
    std::thread::sleep(Duration::from_millis(600));
    let all = otlp_spans();
    assert_eq!(all.len(), before + more.len());
    want.extend(more);
    want.sort_unstable();
    let mut got: Vec<u64> = all.iter().map(ticks).collect();
    got.sort_unstable();
    assert_eq!(got, want);
    assert!(all.iter().any(|sp| sp.name == "sock.request"));
    let kept =
        s.counter("strata_receiver_spdk_trace_spans{receiver=\"spdk_trace\",outcome=\"kept\"}");
    assert_eq!(kept as usize, all.len());
    assert!(!s.log().contains("panicked"));
}

/// A command source that fails, one that never stops printing, then garbage in the file: each
/// is logged with its cause and counted, and reading goes on.
#[test]
fn bad_sources_are_explained_and_counted() {
    let input = tempfile::tempdir().unwrap();
    let trace_file = input.path().join("trace.json");
    std::fs::write(&trace_file, b"{\"tsc_rate\": \"fast\"}").unwrap();
    let cfg = format!(
        r#"
receivers:
  spdk_trace:
    file: {file}
    collection_interval: 200ms
    initial_delay: 0s
  spdk_trace/cmd:
    command: ["sh", "-c", "echo 'spdk_trace: cannot open shm' >&2; exit 3"]
    collection_interval: 200ms
    initial_delay: 0s
  spdk_trace/endless:
    command: ["yes"]
    max_document_mib: 1
    collection_interval: 200ms
    initial_delay: 0s
  spdk_trace/cat:
    command: ["cat", "{sample}"]
    collection_interval: 200ms
    initial_delay: 0s
exporters:
  debug: {{}}
service:
  pipelines:
    traces: {{ receivers: [spdk_trace, spdk_trace/cmd, spdk_trace/endless, spdk_trace/cat], exporters: [debug] }}
"#,
        file = trace_file.display(),
        sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/spdk-extra/trace/v25.09__spdk_trace_j__sample.json"
        )
    );
    let s = Strata::start(&cfg, &[]);
    assert!(
        eventually(Duration::from_secs(15), || {
            s.counter(
                "strata_receiver_spdk_trace_documents{receiver=\"spdk_trace\",outcome=\"invalid\"}",
            ) >= 1
                && s.log().contains("cannot open shm")
        }),
        "{}",
        s.log()
    );
    let log = s.log();
    assert!(log.contains("invalid spdk_trace -j document"), "{log}");
    // The same snapshot printed every interval by a command: its spans once, not each time.
    let cat = "strata_receiver_spdk_trace_spans{receiver=\"spdk_trace/cat\",outcome=\"kept\"}";
    assert!(
        eventually(Duration::from_secs(15), || s.counter(cat) > 200),
        "{}",
        s.log()
    );
    let once = s.counter(cat);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(s.counter(cat), once, "a repeated snapshot adds nothing");
    assert!(log.contains("exit status: 3"), "{log}");
    // A command that never stops printing is cut at max_document_mib and killed, not read
    // into memory until its timeout.
    assert!(
        eventually(Duration::from_secs(10), || s
            .log()
            .contains("yes printed more than max_document_mib")),
        "{}",
        s.log()
    );
    // A fixed file is read again from the start (it was replaced).
    std::fs::write(&trace_file, fixture("v25.09__spdk_trace_j__sample.json")).unwrap();
    assert!(
        eventually(Duration::from_secs(15), || s.counter(
            "strata_receiver_spdk_trace_spans{receiver=\"spdk_trace\",outcome=\"kept\"}"
        ) > 200),
        "{}",
        s.log()
    );
}

/// `ring`: the newest trace ring matching the pattern is copied and the command (no shell)
/// reads the copy; an older ring is never read, the copy is removed after the run, and a
/// pattern that matches nothing is explained and counted.
#[test]
fn the_newest_ring_is_copied_for_a_command_without_a_shell() {
    let shm = tempfile::tempdir().unwrap();
    let older = shm.path().join("spdk_tgt_trace.pid100");
    let newer = shm.path().join("spdk_tgt_trace.pid200");
    std::fs::write(&older, b"this ring is stale: not JSON").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&newer, fixture("v25.09__spdk_trace_j__sample.json")).unwrap();
    let copies = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"
receivers:
  spdk_trace:
    ring: "{dir}/spdk_tgt_trace.pid*"
    command: ["cat", "{{ring}}"]
    collection_interval: 200ms
    initial_delay: 0s
  spdk_trace/none:
    ring: "{dir}/nothing_here.pid*"
    command: ["cat", "{{ring}}"]
    collection_interval: 200ms
    initial_delay: 0s
exporters:
  debug: {{}}
service:
  pipelines:
    traces: {{ receivers: [spdk_trace, spdk_trace/none], exporters: [debug] }}
"#,
        dir = shm.path().display()
    );
    let mut s = Strata::start_with_env(
        &cfg,
        &[],
        &[("TMPDIR", &copies.path().display().to_string())],
    );
    let kept = "strata_receiver_spdk_trace_spans{receiver=\"spdk_trace\",outcome=\"kept\"}";
    assert!(
        eventually(Duration::from_secs(15), || s.counter(kept) > 200),
        "{}",
        s.log()
    );
    let log = s.log();
    assert!(
        !log.contains("invalid spdk_trace -j document"),
        "the stale ring was read:\n{log}"
    );
    assert!(log.contains("no SPDK trace ring matches"), "{log}");
    assert!(
        s.counter("otelcol_scraper_errored_metric_points{receiver=\"spdk_trace/none\"}") >= 1,
        "{}",
        s.self_metrics()
    );
    assert_eq!(
        s.counter("otelcol_scraper_errored_metric_points{receiver=\"spdk_trace\"}"),
        0
    );
    // The copies are removed after each run.
    std::thread::sleep(Duration::from_millis(500));
    s.interrupt(Duration::from_secs(10));
    let left: Vec<_> = std::fs::read_dir(copies.path()).unwrap().collect();
    assert!(left.is_empty(), "copies left behind: {left:?}");
}
