//! Pairing against the v25.09 `spdk_trace -j` captures (`tests/fixtures/spdk-extra/trace/`).

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/spdk-extra/trace")
            .join(name),
    )
    .unwrap()
}

fn all() -> Options {
    Options {
        max_open: 10.0,
        ratio: 1.0,
        latency_threshold: None,
    }
}

/// Pairs each document in turn; every span handed out.
fn run(p: &mut Pairing, docs: &[Vec<u8>]) -> Vec<Span> {
    let mut out = Vec::new();
    for d in docs {
        parse(d, p).unwrap();
        let trees = p.end_document();
        out.extend(p.to_spans(trees, 0));
    }
    out
}

fn attr(s: &Span, key: &str) -> Option<Av> {
    s.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
}

fn int(s: &Span, key: &str) -> Option<i64> {
    match attr(s, key)? {
        Av::IntValue(i) => Some(i),
        _ => None,
    }
}

fn text(s: &Span, key: &str) -> Option<String> {
    match attr(s, key)? {
        Av::StringValue(v) => Some(v),
        _ => None,
    }
}

/// What the capture itself says, by spdk_trace's labels (independent of the pairing, which
/// keys on pointers and its own table): the `object.time` of every object whose start and
/// completion entries are both in the document, with the completions the fixtures' README
/// lists.
fn complete_objects(doc: &Value) -> HashMap<String, u64> {
    let defs: HashMap<u64, &Value> = doc["tpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_u64().unwrap(), t))
        .collect();
    let mut started = HashSet::new();
    let mut out = HashMap::new();
    for e in doc["entries"].as_array().unwrap() {
        let Some(id) = e["object"]["id"].as_str() else {
            continue;
        };
        let def = defs[&e["tpoint"].as_u64().unwrap()];
        let name = def["name"].as_str().unwrap();
        if def["new_object"] == json!(true) {
            started.insert(id.to_owned());
        } else if [
            "TCP_REQ_COMPLETED",
            "BDEV_IO_DONE",
            "BDEV_NVME_IO_DONE",
            "NVME_TCP_COMPLETE",
            "SOCK_REQ_COMPLETE",
        ]
        .contains(&name)
            && started.contains(id)
        {
            out.insert(id.to_owned(), e["object"]["time"].as_u64().unwrap());
        }
    }
    out
}

fn check_trees(spans: &[Span]) {
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (&s.span_id[..], s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    for s in spans {
        // Walk to the root: every parent is present, in the same trace, and no cycle.
        let mut cur = s;
        let mut steps = 0;
        while !cur.parent_span_id.is_empty() {
            let p = by_id
                .get(&cur.parent_span_id[..])
                .unwrap_or_else(|| panic!("parent of {} missing", cur.name));
            assert_eq!(p.trace_id, cur.trace_id);
            assert!(p.start_time_unix_nano <= cur.start_time_unix_nano);
            cur = p;
            steps += 1;
            assert!(steps < 16, "cycle");
        }
    }
}

#[test]
fn every_complete_object_is_one_span_with_its_exact_duration() {
    for name in [
        "v25.09__spdk_trace_j__sample.json",
        "v25.09__spdk_trace_j__sample_with_sock.json",
    ] {
        let raw = fixture(name);
        let doc: Value = serde_json::from_slice(&raw).unwrap();
        let want = complete_objects(&doc);
        let mut p = Pairing::new(all());
        let spans = run(&mut p, &[raw]);
        let c = p.counts();
        assert_eq!(c.seen as usize, want.len(), "{name}");
        assert_eq!(c.duration_mismatch, 0);
        // Every completed span is handed out once its tree completes; the rest wait for a
        // root that is still open at the end of the sample.
        assert_eq!(spans.len() as u64, c.kept);
        assert!(spans.len() <= want.len());
        let mut got: Vec<u64> = spans
            .iter()
            .map(|s| int(s, "spdk.ticks").unwrap() as u64)
            .collect();
        let mut all: Vec<u64> = want.values().copied().collect();
        got.sort_unstable();
        all.sort_unstable();
        // Every span's ticks is one complete object's object.time.
        let mut pool: HashMap<u64, usize> = HashMap::new();
        for t in &all {
            *pool.entry(*t).or_default() += 1;
        }
        for t in &got {
            let n = pool
                .get_mut(t)
                .unwrap_or_else(|| panic!("{name}: no object lasted {t}"));
            assert!(*n > 0);
            *n -= 1;
        }
        for s in &spans {
            let ticks = int(s, "spdk.ticks").unwrap() as u64;
            let ns = s.end_time_unix_nano - s.start_time_unix_nano;
            assert_eq!(ns, ticks * 1_000_000_000 / 2_450_000_000, "{name}");
        }
        check_trees(&spans);
        // Flush what waits: after a later document past every start, trees complete or expire.
        assert!(p.open_spans() < 200, "{name}: {} open", p.open_spans());
    }
}

/// The README's worked example: a 4 KiB read on cnode3 → Nvme0n1 at LBA 93184, four spans deep.
#[test]
fn the_worked_example_tree() {
    let mut p = Pairing::new(all());
    let spans = run(&mut p, &[fixture("v25.09__spdk_trace_j__sample.json")]);
    let root = spans
        .iter()
        .find(|s| int(s, "spdk.ticks") == Some(886_361))
        .expect("r749");
    assert_eq!(root.name, "nvmf_tcp.request");
    assert_eq!(root.kind, 2, "server");
    assert!(root.parent_span_id.is_empty());
    assert_eq!(text(root, "spdk.owner").as_deref(), Some("t284"));
    assert_eq!(int(root, "spdk.queue_depth"), Some(3));
    let names: Vec<&str> = root.events.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"TCP_REQ_EXECUTING"), "{names:?}");
    let child = |parent: &Span, name: &str| -> Span {
        spans
            .iter()
            .find(|s| s.parent_span_id == parent.span_id && s.name == name)
            .unwrap_or_else(|| panic!("no {name} under {}", parent.name))
            .clone()
    };
    let bdev = child(root, "bdev.io");
    assert_eq!(int(&bdev, "spdk.ticks"), Some(717_115));
    assert_eq!(text(&bdev, "spdk.bdev.io.type").as_deref(), Some("read"));
    assert_eq!(int(&bdev, "spdk.bdev.offset_blocks"), Some(93_184));
    assert_eq!(int(&bdev, "spdk.bdev.num_blocks"), Some(1));
    assert_eq!(text(&bdev, "spdk.owner").as_deref(), Some("b264"));
    let nvme_bdev = child(&bdev, "bdev_nvme.io");
    assert_eq!(int(&nvme_bdev, "spdk.ticks"), Some(716_772));
    let cmd = child(&nvme_bdev, "nvme_tcp.command");
    assert_eq!(int(&cmd, "spdk.ticks"), Some(715_816));
    assert_eq!(cmd.kind, 3, "client");
    assert_eq!(int(&cmd, "spdk.nvme.qid"), Some(1));
    assert_eq!(int(&cmd, "spdk.nvme.cid"), Some(10));
    assert_eq!(text(&cmd, "spdk.nvme.opc.name").as_deref(), Some("read"));
    assert_eq!(int(&cmd, "spdk.nvme.slba"), Some(93_184));
    assert_eq!(int(&cmd, "spdk.nvme.nlb"), Some(1));
    assert!(cmd.status.is_none(), "cpl 0 is success");
    // 361.78 µs at 2.45 GHz.
    assert_eq!(
        root.end_time_unix_nano - root.start_time_unix_nano,
        886_361 * 1_000_000_000 / 2_450_000_000
    );
    // The four spans share the request's trace.
    for s in [&bdev, &nvme_bdev, &cmd] {
        assert_eq!(s.trace_id, root.trace_id);
    }
}

/// Two overlapping snapshots of one ring, the second parsed afresh (new labels; objects whose
/// start fell out of its window lose theirs): the same spans as one read of the whole, none
/// twice.
#[test]
fn overlapping_snapshots_give_each_span_once() {
    let raw = fixture("v25.09__spdk_trace_j__sample.json");
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    let mut whole = Pairing::new(all());
    let mut once = run(&mut whole, std::slice::from_ref(&raw));

    let first = {
        let mut d = doc.clone();
        d["entries"] = json!(entries[..1800]);
        serde_json::to_vec(&d).unwrap()
    };
    let second = {
        // A fresh parse of entries 1000..: labels renumbered, and no label or time for
        // objects that started before the window.
        let mut started_in_window = HashSet::new();
        let relabel = |id: &str| {
            let (p, n) = id.split_at(1);
            format!("{p}{}", n.parse::<u64>().unwrap() + 100_000)
        };
        let mut out = Vec::new();
        for e in &entries[1000..] {
            let mut e = e.clone();
            if let Some(id) = e["object"]["id"].as_str().map(str::to_owned) {
                if e["object"].get("time").is_none() {
                    started_in_window.insert(id.clone());
                }
                if started_in_window.contains(&id) {
                    e["object"]["id"] = json!(relabel(&id));
                } else {
                    let o = e["object"].as_object_mut().unwrap();
                    o.remove("id");
                    o.remove("time");
                }
            }
            if let Some(r) = e["related"].as_str().map(str::to_owned) {
                if started_in_window.contains(&r) {
                    e["related"] = json!(relabel(&r));
                } else {
                    e.as_object_mut().unwrap().remove("related");
                }
            }
            out.push(e);
        }
        let mut d = doc.clone();
        d["entries"] = json!(out);
        serde_json::to_vec(&d).unwrap()
    };
    let mut split = Pairing::new(all());
    let mut twice = run(&mut split, &[first, second]);
    assert_eq!(split.counts().seen, whole.counts().seen);
    assert_eq!(split.counts().kept, whole.counts().kept);
    let key = |s: &Span| (int(s, "spdk.ticks"), s.name.clone(), s.events.len());
    once.sort_by_key(key);
    twice.sort_by_key(key);
    assert_eq!(
        once.iter().map(key).collect::<Vec<_>>(),
        twice.iter().map(key).collect::<Vec<_>>()
    );
    check_trees(&twice);
}

#[test]
fn sampling_keeps_slow_trees_whole_and_counts_the_rest() {
    let raw = fixture("v25.09__spdk_trace_j__sample.json");
    let mut p = Pairing::new(Options {
        max_open: 10.0,
        ratio: 0.0,
        latency_threshold: Some(300e-6),
    });
    let spans = run(&mut p, std::slice::from_ref(&raw));
    let c = p.counts();
    assert!(c.sampled_out > 0 && c.kept > 0, "{c:?}");
    assert_eq!(spans.len() as u64, c.kept);
    // Every kept root lasted ≥ 300 µs, and its tree came whole.
    for s in spans.iter().filter(|s| s.parent_span_id.is_empty()) {
        assert!(
            s.end_time_unix_nano - s.start_time_unix_nano >= 300_000,
            "{}",
            s.name
        );
    }
    check_trees(&spans);
    let mut everything = Pairing::new(all());
    run(&mut everything, &[raw]);
    assert_eq!(c.kept + c.sampled_out, everything.counts().kept);
}

#[test]
fn spans_open_too_long_are_dropped_and_counted() {
    let doc = |entries: Value| {
        serde_json::to_vec(&json!({
            "tsc_rate": 1000,
            "tpoints": [
                {"name": "TCP_REQ_NEW", "id": 320, "new_object": true, "args": [{"name": "qd", "type": 0, "size": 8}]},
                {"name": "TCP_REQ_COMPLETED", "id": 333, "new_object": false, "args": []},
            ],
            "entries": entries,
        }))
        .unwrap()
    };
    let mut p = Pairing::new(Options {
        max_open: 1.0,
        ratio: 1.0,
        latency_threshold: None,
    });
    let a = doc(
        json!([{"lcore": 0, "tpoint": 320, "tsc": 100, "object": {"id": "r1", "value": 7}, "args": [1]}]),
    );
    // 2 s later (2000 ticks at 1 kHz): r1 is past max_open at the end of this document.
    let b = doc(json!([
        {"lcore": 0, "tpoint": 320, "tsc": 2100, "object": {"id": "r1", "value": 8}, "args": [1]},
        {"lcore": 0, "tpoint": 333, "tsc": 2200, "object": {"id": "r1", "time": 100, "value": 8}},
    ]));
    // The late end of the dropped span: unmatched, not a span.
    let c = doc(json!([{"lcore": 0, "tpoint": 333, "tsc": 2300, "object": {"value": 7}}]));
    let spans = run(&mut p, &[a, b, c]);
    assert_eq!(spans.len(), 1);
    assert_eq!(int(&spans[0], "spdk.ticks"), Some(100));
    let c = p.counts();
    assert_eq!((c.dropped_open, c.unmatched, c.seen), (1, 1, 1));
    assert_eq!(p.open_spans(), 0);
}

/// v26.05: a top-level `owners` map and a per-entry `owner`, which give the bdev's name and
/// the NVMe-oF host and subsystem.
#[test]
fn v26_owner_descriptions_become_attributes() {
    let raw = fixture("v25.09__spdk_trace_j__sample.json");
    let mut doc: Value = serde_json::from_slice(&raw).unwrap();
    let owners: Value =
        serde_json::from_slice(&fixture("v25.09__owners_from_text_output.json")).unwrap();
    let numeric: serde_json::Map<String, Value> = owners
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k[1..].to_owned(), v.clone()))
        .collect();
    // v26.05 puts "owners" between "tpoints" and "entries", and an "owner" on each entry.
    let entries = doc["entries"].take();
    let mut d = serde_json::Map::new();
    d.insert("tsc_rate".into(), doc["tsc_rate"].clone());
    d.insert("tpoints".into(), doc["tpoints"].clone());
    d.insert("owners".into(), Value::Object(numeric));
    let entries: Vec<Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let desc = e["poller"]
                .as_str()
                .and_then(|p| owners.get(p))
                .and_then(Value::as_str)
                .unwrap_or("");
            e["owner"] = json!(desc);
            e
        })
        .collect();
    d.insert("entries".into(), json!(entries));
    let mut p = Pairing::new(all());
    let spans = run(&mut p, &[serde_json::to_vec(&d).unwrap()]);
    let bdev = spans
        .iter()
        .find(|s| int(s, "spdk.ticks") == Some(717_115))
        .unwrap();
    assert_eq!(text(bdev, "spdk.bdev.name").as_deref(), Some("Nvme0n1"));
    let root = spans
        .iter()
        .find(|s| int(s, "spdk.ticks") == Some(886_361))
        .unwrap();
    assert_eq!(text(root, "client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(int(root, "client.port"), Some(49_764));
    assert_eq!(
        text(root, "spdk.nvmf.subsystem.nqn").as_deref(),
        Some("nqn.2016-06.io.spdk:cnode3")
    );
    // The header map alone (no per-entry owner) gives the same.
    let mut only_map = d.clone();
    for e in only_map["entries"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("owner");
    }
    let mut p = Pairing::new(all());
    let spans = run(&mut p, &[serde_json::to_vec(&only_map).unwrap()]);
    assert!(
        spans
            .iter()
            .any(|s| text(s, "spdk.bdev.name").as_deref() == Some("Nvme0n1"))
    );
}

/// The torn live snapshot's continuation slots read as entries (`tpoint: 1280`, no label)
/// open, close or pair nothing, and do not panic.
#[test]
fn a_torn_live_snapshot_is_harmless() {
    let v: Value =
        serde_json::from_slice(&fixture("v25.09__live_snapshot_torn_entries.json")).unwrap();
    let mut doc: Value =
        serde_json::from_slice(&fixture("v25.09__tpoint_definitions.json")).unwrap();
    doc["entries"] = v["examples"].clone();
    assert_eq!(doc["entries"].as_array().unwrap().len(), 5);
    let mut p = Pairing::new(all());
    let (_, n) = parse(&serde_json::to_vec(&doc).unwrap(), &mut p).unwrap();
    assert_eq!(n, 5);
    assert!(p.end_document().is_empty());
    assert_eq!((p.counts(), p.open_spans()), (Counts::default(), 0));
}

#[test]
fn ring_needs_a_command_naming_the_copy_and_a_valid_pattern() {
    use strata_pipelines::config::ComponentConfig as _;
    let cfg = |ring: &str, command: &[&str]| Config {
        ring: Some(ring.to_owned()),
        command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        ..Config::default()
    };
    cfg(
        "/dev/shm/spdk_tgt_trace.pid*",
        &["spdk_trace", "-f", "{ring}", "-j"],
    )
    .validate("r")
    .unwrap();
    let e = cfg("/dev/shm/spdk_tgt_trace.pid*", &["spdk_trace", "-j"])
        .validate("r")
        .unwrap_err();
    assert_eq!(e.path, "r::ring");
    let e = cfg("/dev/shm/[", &["cat", "{ring}"])
        .validate("r")
        .unwrap_err();
    assert!(e.message.contains("invalid pattern"), "{e}");
}
