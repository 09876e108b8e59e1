//! The `loadbalancing` exporter with real processes: a front tier routes by trace id to cluster
//! replicas (each a `strata` writing a file). Every span of a trace lands on one replica;
//! adding a replica by a config reload moves keys only to it; removing a replica whose queue
//! holds data delivers that data to the remaining replicas, and nothing is lost or duplicated.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Strata, eventually, free_port, read_lines};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::Value;
use strata_pipelines::Traces;
use strata_pipelines::testing::fake;

fn replica() -> (Strata, u16) {
    let grpc = free_port();
    let s = Strata::start(
        &format!(
            "receivers:\n  otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{grpc}\" }} }} }}\nexporters:\n  file: {{ path: \"{{dir}}/out.jsonl\" }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [file] }}\n"
        ),
        &[grpc],
    );
    (s, grpc)
}

fn front(grpc: u16, backends: &[u16]) -> String {
    let list: Vec<String> = backends.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    front_with(
        grpc,
        &format!("static: {{ hostnames: [{}] }}", list.join(", ")),
    )
}

/// The front tier's config with `resolver` (one line of YAML under `resolver:`).
fn front_with(grpc: u16, resolver: &str) -> String {
    format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc}" }} }} }}
exporters:
  loadbalancing:
    protocol:
      otlp:
        tls: {{ insecure: true }}
        compression: none
        timeout: 1s
        retry_on_failure: {{ initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 0s }}
    resolver:
      {resolver}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [loadbalancing] }}
"#
    )
}

/// 40 traces × 5 spans in 4 requests of 10 traces (trace ids 0–39), span ids from `first_span`
/// (request `k`'s from `first_span + 1000·k`).
async fn send_40(c: &mut TraceServiceClient<tonic::transport::Channel>, first_span: u64) {
    for k in 0..4u8 {
        c.export(request(
            k * 10..k * 10 + 10,
            5,
            first_span + u64::from(k) * 1000,
        ))
        .await
        .unwrap();
    }
}

/// A request of `traces` traces × `per` spans; trace `t` has id `[t; 16]`, span ids unique
/// from `first_span`.
fn request(trace_ids: std::ops::Range<u8>, per: usize, first_span: u64) -> Traces {
    let n = trace_ids.len() * per;
    let mut t = fake::traces(1, n);
    let ids: Vec<u8> = trace_ids.collect();
    for (i, s) in t.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        s.trace_id = vec![ids[i % ids.len()]; 16];
        s.span_id = (first_span + i as u64).to_be_bytes().to_vec();
    }
    t
}

/// `(trace id, span id)` of every span in a replica's file.
fn spans(path: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in read_lines::<Value>(path) {
        for rs in line["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push((
                        s["traceId"].as_str().unwrap_or_default().to_owned(),
                        s["spanId"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// Trace id → the replicas (by index) it landed on; and every span id, with duplicates.
fn landing(replicas: &[&Strata]) -> (BTreeMap<String, BTreeSet<usize>>, Vec<String>) {
    let mut owners: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut ids = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        for (t, s) in spans(&r.path("out.jsonl")) {
            owners.entry(t).or_default().insert(i);
            ids.push(s);
        }
    }
    (owners, ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_stay_whole_scale_out_moves_keys_only_to_the_new_replica_and_scale_in_loses_nothing()
{
    let (r1, p1) = replica();
    let (mut r2, p2) = replica();
    let (r3, p3) = replica();
    let grpc = free_port();
    let f = Strata::start(&front(grpc, &[p1, p2]), &[grpc]);
    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    // 40 traces × 5 spans, in 4 requests of 10 traces.
    send_40(&mut c, 0).await;
    let all =
        |n: usize, rs: &[&Strata]| eventually(Duration::from_secs(15), || landing(rs).1.len() >= n);
    assert!(
        all(200, &[&r1, &r2]),
        "{:?}\n{}",
        landing(&[&r1, &r2]).1.len(),
        f.log()
    );
    let (owners, ids) = landing(&[&r1, &r2]);
    assert_eq!(owners.len(), 40);
    assert!(
        owners.values().all(|o| o.len() == 1),
        "a trace was split: {owners:?}"
    );
    let used: BTreeSet<usize> = owners.values().flatten().copied().collect();
    assert_eq!(used.len(), 2, "both replicas get traces");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        200,
        "no duplicate"
    );
    let before: BTreeMap<String, usize> = owners
        .iter()
        .map(|(t, o)| (t.clone(), *o.iter().next().unwrap()))
        .collect();

    // Scale-out by a reload: the same 40 trace ids again; each stays where it was or moves to
    // the new replica.
    f.rewrite_config(&front(grpc, &[p1, p2, p3]));
    common::signal(&f.child, "HUP");
    assert!(
        eventually(Duration::from_secs(10), || f
            .log()
            .contains("reload complete")),
        "{}",
        f.log()
    );
    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    send_40(&mut c, 100_000).await;
    assert!(all(400, &[&r1, &r2, &r3]), "{}", f.log());
    let (owners, _) = landing(&[&r1, &r2, &r3]);
    let mut moved = 0;
    for (t, o) in &owners {
        let old = before[t];
        for now in o {
            if *now != old {
                assert_eq!(*now, 2, "trace {t} moved between old replicas");
                moved += 1;
            }
        }
    }
    assert!(
        moved > 0 && moved < 40,
        "{moved} of 40 traces moved to the new replica"
    );
    println!(
        "loadbalancing: scale-out to 3 replicas moved {moved} of 40 traces, all to the new one"
    );

    // Scale-in with data queued: replica 2 stops, its share of new traces waits in the front's
    // queue for it; the reload without it routes that data to the others.
    r2.kill();
    send_40(&mut c, 200_000).await;
    // The live replicas' shares arrive; replica 2's stays queued in the front (no export to
    // it is in flight at the cut: its peer is down, every attempt fails at connect).
    let mut last = usize::MAX;
    for _ in 0..50 {
        let n = landing(&[&r1, &r3]).1.len();
        if n == last {
            break;
        }
        last = n;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    f.rewrite_config(&front(grpc, &[p1, p3]));
    common::signal(&f.child, "HUP");
    let sent: BTreeSet<String> = (0..4u64)
        .flat_map(|r| (0..50u64).map(move |i| 200_000 + r * 1000 + i))
        .map(|id| {
            id.to_be_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    let delivered = || -> BTreeSet<String> {
        let (_, ids) = landing(&[&r1, &r3]);
        ids.into_iter().filter(|i| sent.contains(i)).collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || delivered().len() == sent.len()),
        "{} of {} spans sent after the scale-in began arrived\n{}",
        delivered().len(),
        sent.len(),
        f.log()
    );
    let (_, ids) = landing(&[&r1, &r3]);
    let dups = ids.len() - ids.iter().collect::<BTreeSet<_>>().len();
    assert_eq!(dups, 0, "duplicated spans");
    assert!(
        f.log().contains("re-routing the queue of a backend"),
        "{}",
        f.log()
    );
}

/// The front with persistent sub-queues (`file_storage` in its directory).
fn persistent_front(grpc: u16, backends: &[u16]) -> String {
    front(grpc, backends)
        .replace(
            "        timeout: 1s\n",
            "        timeout: 1s\n        sending_queue: { storage: file_storage }\n",
        )
        .replace(
            "service:\n",
            "extensions:\n  file_storage: { directory: \"{dir}/queue\", create_directory: true }\nservice:\n  extensions: [file_storage]\n",
        )
}

/// Scale-in while the front is down: replica 2 stops, its share waits in the front's
/// persistent queue, the front is killed (SIGKILL) and starts again with replica 2 gone from
/// its config. The new process finds the queue of the backend it no longer has and routes its
/// data to replica 1: every acknowledged span arrives once, and the queue directory goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_queue_of_a_replica_removed_across_a_restart_is_delivered() {
    let (r1, p1) = replica();
    let (mut r2, p2) = replica();
    let grpc = free_port();
    let mut f = Strata::start(&persistent_front(grpc, &[p1, p2]), &[grpc]);
    r2.kill();
    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    send_40(&mut c, 0).await;
    // Replica 1's share arrives; replica 2's stays on the front's disk.
    let mut last = usize::MAX;
    for _ in 0..50 {
        let n = landing(&[&r1]).1.len();
        if n == last && n > 0 {
            break;
        }
        last = n;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let on_r1 = landing(&[&r1]).1.len();
    assert!(
        on_r1 > 0 && on_r1 < 200,
        "{on_r1} of 200 spans on replica 1"
    );
    f.kill();
    f.rewrite_config(&persistent_front(grpc, &[p1]));
    f.restart(&[grpc]);
    assert!(
        eventually(Duration::from_secs(20), || landing(&[&r1]).1.len() >= 200),
        "{} of 200 spans arrived\n{}",
        landing(&[&r1]).1.len(),
        f.log()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, ids) = landing(&[&r1]);
    assert_eq!(ids.len(), 200, "duplicated spans");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 200);
    assert!(
        f.log()
            .contains("a persistent queue of a backend no longer resolved"),
        "{}",
        f.log()
    );
    let queues: Vec<String> = std::fs::read_dir(f.path("queue"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        eventually(Duration::from_secs(5), || !std::fs::read_dir(
            f.path("queue")
        )
        .unwrap()
        .any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(&p2.to_string()))),
        "replica 2's queue directory is left: {queues:?}"
    );
    println!(
        "loadbalancing: {} spans of a removed replica re-routed from disk after a restart",
        200 - on_r1
    );
}

/// The issue's deployment shape: two sidecars → one node aggregator → two cluster replicas,
/// the node routing by trace id. Fed by the OpenTelemetry Python SDK (traces of 4 spans) and
/// by `strata-loadgen`. Every trace lands on one replica, each tier's attribute is on every
/// resource, and no span is lost or duplicated.
#[tokio::test(flavor = "multi_thread")]
async fn sidecars_node_and_two_replicas_keep_traces_whole() {
    let (c1, p1) = replica();
    let (c2, p2) = replica();
    let node_port = free_port();
    let node = Strata::start(
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{node_port}" }} }} }}
processors:
  resource: {{ attributes: [{{ key: k8s.node.name, value: node-1, action: upsert }}] }}
  batch:
exporters:
  loadbalancing:
    protocol: {{ otlp: {{ tls: {{ insecure: true }}, compression: zstd }} }}
    resolver: {{ static: {{ hostnames: ["127.0.0.1:{p1}", "127.0.0.1:{p2}"] }} }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource, batch], exporters: [loadbalancing] }}
"#
        ),
        &[node_port],
    );
    let sidecar = |pod: &str| {
        let port = free_port();
        let s = Strata::start(
            &format!(
                r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{port}" }} }} }}
processors:
  resource: {{ attributes: [{{ key: k8s.pod.name, value: {pod}, action: upsert }}] }}
exporters:
  otlp: {{ endpoint: "127.0.0.1:{node_port}", tls: {{ insecure: true }}, compression: none }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource], exporters: [otlp] }}
"#
            ),
            &[port],
        );
        (s, port)
    };
    let (s1, sp1) = sidecar("pod-1");
    let (s2, sp2) = sidecar("pod-2");

    let mut expected = 0usize;
    // The Python SDK: 50 traces of a parent and 3 children.
    if let Some(py) = common::interop_python("opentelemetry.exporter.otlp.proto.grpc") {
        let script = format!(
            r#"
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
p = TracerProvider(resource=Resource.create({{"service.name": "checkout"}}))
p.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint="127.0.0.1:{sp1}", insecure=True)))
t = p.get_tracer("lb")
for i in range(50):
    with t.start_as_current_span("order"):
        for j in range(3):
            with t.start_as_current_span("step"):
                pass
p.shutdown()
"#
        );
        let out = std::process::Command::new(py)
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        expected += 200;
    }
    // strata-loadgen (built with the workspace), else the same load from a tonic client.
    let loadgen =
        std::path::Path::new(env!("CARGO_BIN_EXE_strata")).with_file_name("strata-loadgen");
    if loadgen.exists() {
        let out = std::process::Command::new(&loadgen)
            .args(["--endpoint", &format!("127.0.0.1:{sp2}")])
            .args(["--rate", "2000", "--duration", "2s", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        expected += summary["items_ok"].as_u64().unwrap() as usize;
        println!(
            "loadbalancing: strata-loadgen sent {} spans",
            summary["items_ok"]
        );
    } else {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{sp2}"))
            .await
            .unwrap();
        for r in 0..20u8 {
            c.export(request(r * 5..r * 5 + 5, 20, 500_000 + u64::from(r) * 1000))
                .await
                .unwrap();
            expected += 100;
        }
    }
    assert!(
        eventually(Duration::from_secs(20), || landing(&[&c1, &c2]).1.len()
            >= expected),
        "{} of {expected}\n{}",
        landing(&[&c1, &c2]).1.len(),
        node.log()
    );
    // (trace id, span id) pairs: none twice; every trace on one replica.
    let mut pairs = BTreeSet::new();
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in [&c1, &c2].iter().enumerate() {
        for (t, s) in spans(&r.path("out.jsonl")) {
            assert!(pairs.insert((t.clone(), s)), "duplicated span");
            assert_eq!(*owner.entry(t).or_insert(i), i, "a trace was split");
        }
    }
    assert_eq!(pairs.len(), expected);
    assert_eq!(
        owner.values().collect::<BTreeSet<_>>().len(),
        2,
        "both replicas used"
    );
    for r in [&c1, &c2] {
        for line in read_lines::<Value>(&r.path("out.jsonl")) {
            for rs in line["resourceSpans"].as_array().into_iter().flatten() {
                let a = common::attrs(&rs["resource"]["attributes"]);
                assert_eq!(a["k8s.node.name"], "node-1");
                assert!(
                    a["k8s.pod.name"] == "pod-1" || a["k8s.pod.name"] == "pod-2",
                    "{a:?}"
                );
            }
        }
    }
    drop((s1, s2));
}

/// A replica listening on `ip:port` (a headless Service's pods share the port).
fn replica_at(ip: &str, port: u16) -> Strata {
    Strata::start(
        &format!(
            "receivers:\n  otlp: {{ protocols: {{ grpc: {{ endpoint: \"{ip}:{port}\" }} }} }}\nexporters:\n  file: {{ path: \"{{dir}}/out.jsonl\" }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [file] }}\n"
        ),
        &[],
    )
}

/// Scale-out by a DNS change, as a Kubernetes headless Service does it: the `dns` resolver asks
/// a DNS server started here (`resolver.dns.nameservers`), whose answer for the cluster tier's
/// name grows from two replicas to three. The third receives its share, keys move only to it,
/// and no span is lost or duplicated.
#[tokio::test(flavor = "multi_thread")]
async fn scale_out_by_a_dns_change() {
    if !loopback_aliases() {
        return;
    }
    let port = free_port();
    let dns = common::dns::FakeDns::start("replicas.test", &[alias(0), alias(1)]).await;
    let resolver = format!(
        "dns: {{ hostname: replicas.test, port: {port}, interval: 200ms, timeout: 1s, nameservers: [\"127.0.0.1:{}\"] }}",
        dns.port
    );
    let moved = scale_out(
        port,
        &resolver,
        || dns.set(&[alias(0), alias(1), alias(2)]),
        |_| {},
    )
    .await;
    eprintln!("loadbalancing dns: 3rd replica took {moved} of 40 traces after the DNS change");
}

/// The `k8s` resolver against an in-test Kubernetes API server (HTTPS with a throwaway CA, a
/// bearer token): first with a wrong token (refused, counted, the token never in the log),
/// then the token file is rotated and read again; the Service's EndpointSlices gain a ready
/// pod and lose none, and the third replica takes its share with keys moving only to it.
#[tokio::test(flavor = "multi_thread")]
async fn scale_out_by_an_endpointslice_change() {
    if !loopback_aliases() {
        return;
    }
    let port = free_port();
    let kube =
        common::kube::FakeKube::start("observability", "replicas", port, &[alias(0), alias(1)])
            .await;
    // A token the API server does not take, until the test rotates it.
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, "expired-token-4f1c\n").unwrap();
    let resolver = format!(
        "k8s: {{ service: replicas.observability, ports: [{port}], interval: 200ms, timeout: 1s, api_server: \"{}\", ca_file: \"{}\", token_file: \"{}\" }}",
        kube.api_server,
        kube.ca_file.display(),
        token_file.display()
    );
    let moved = scale_out(
        port,
        &resolver,
        || {
            kube.set(&[(alias(0), true), (alias(1), true), (alias(2), true)]);
        },
        |f: &Strata| {
            assert!(
                eventually(Duration::from_secs(10), || kube.refused() >= 2),
                "{}",
                f.log()
            );
            assert!(f.counter_sum("otelcol_loadbalancer_num_backends") == 0);
            assert!(f.log().contains("401"), "{}", f.log());
            assert!(
                !f.log().contains("expired-token-4f1c"),
                "a token reached the log"
            );
            std::fs::write(&token_file, kube.token()).unwrap();
        },
    )
    .await;
    eprintln!(
        "loadbalancing k8s: 3rd replica took {moved} of 40 traces after the EndpointSlice change"
    );
}

/// Whether 127.0.0.2–.4 can be bound (Linux routes all of 127.0.0.0/8 to loopback; a sandbox
/// that does not cannot run the scale-out tests, which say so).
fn loopback_aliases() -> bool {
    let ok = std::net::TcpListener::bind(("127.0.0.2", 0)).is_ok();
    if !ok {
        eprintln!("loadbalancing: scale-out skipped, 127.0.0.2 cannot be bound here");
    }
    ok
}

/// The replicas' addresses: 127.0.0.2, .3, .4.
fn alias(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 0, 2 + i as u8)
}

/// Three replicas on 127.0.0.2–.4 at `port`; a front whose `resolver` (one line of YAML) first
/// answers the first two. `ready` runs once the front is up (before any backend need be
/// resolved); then 40 traces go out, `grow` adds the third replica to the answer, and 40 more
/// go out. Every span arrives once, every trace on one replica, keys move only to the new
/// replica. Returns how many traces it took.
async fn scale_out(port: u16, resolver: &str, grow: impl Fn(), ready: impl Fn(&Strata)) -> usize {
    let r: Vec<Strata> = (0..3)
        .map(|i| replica_at(&alias(i).to_string(), port))
        .collect();
    for i in 0..3 {
        assert!(
            eventually(Duration::from_secs(10), || std::net::TcpStream::connect((
                alias(i),
                port
            ))
            .is_ok()),
            "replica {} did not listen",
            alias(i)
        );
    }
    let grpc = free_port();
    let f = Strata::start(&front_with(grpc, resolver), &[grpc]);
    ready(&f);
    let backends = |n: u64| {
        eventually(Duration::from_secs(10), || {
            f.counter_sum("otelcol_loadbalancer_num_backends") == n
        })
    };
    assert!(backends(2), "{}", f.log());
    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    send_40(&mut c, 0).await;
    let refs: Vec<&Strata> = r.iter().collect();
    let all = |n: usize| eventually(Duration::from_secs(15), || landing(&refs).1.len() >= n);
    assert!(all(200), "{}", f.log());
    let (owners, _) = landing(&refs);
    assert!(owners.values().all(|o| o.len() == 1));
    assert!(
        !owners.values().any(|o| o.contains(&2)),
        "replica 3 is not resolved yet"
    );
    let before: BTreeMap<String, usize> = owners
        .iter()
        .map(|(t, o)| (t.clone(), *o.iter().next().unwrap()))
        .collect();

    // The Service gains a pod.
    grow();
    assert!(backends(3), "{}", f.log());
    send_40(&mut c, 100_000).await;
    assert!(all(400), "{}", f.log());
    let (owners, ids) = landing(&refs);
    let mut moved = 0;
    for (t, o) in &owners {
        let old = before[t];
        assert!(
            o.iter().all(|i| *i == old || *i == 2),
            "trace {t} moved somewhere other than the new replica: {o:?}"
        );
        if o.contains(&2) {
            moved += 1;
        }
    }
    assert!(moved > 0, "the new replica got no keys");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        400,
        "no span lost or duplicated"
    );
    moved
}
