//! The `spdk` receiver end to end: the real `strata` binary scrapes a fake SPDK target (the
//! recorded v25.09 responses, replayed over a unix socket and through the HTTP proxy) and
//! writes what it got with the `file` exporter.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fake_spdk::{FakeSpdk, Mode, recorded_result};
use common::{Strata, eventually, read_lines};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use strata_pipelines::Metrics;
use strata_receivers::spdk::metrics;

fn config(endpoint: &str, extra: &str) -> String {
    format!(
        r#"
receivers:
  spdk:
    endpoint: {endpoint}
    collection_interval: 300ms
    initial_delay: 0s
    timeout: 500ms
    scrapers: {{ bdev_get_iostat: {{ per_channel: [Malloc0] }} }}
{extra}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    metrics: {{ receivers: [spdk], exporters: [file] }}
"#
    )
}

type Points = BTreeMap<(String, String), String>;

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Av::StringValue(s)) => s.clone(),
        Some(Av::IntValue(i)) => i.to_string(),
        Some(Av::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every data point as (metric, attributes) → value, values printed exactly.
fn points(m: &Metrics) -> Points {
    let mut out = Points::new();
    for rm in &m.resource_metrics {
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                let pts = match &metric.data {
                    Some(Data::Sum(s)) => &s.data_points,
                    Some(Data::Gauge(g)) => &g.data_points,
                    _ => continue,
                };
                for p in pts {
                    let attrs = p
                        .attributes
                        .iter()
                        .map(|kv| format!("{}={}", kv.key, text(&kv.value)))
                        .collect::<Vec<_>>()
                        .join(",");
                    let v = match p.value {
                        Some(number_data_point::Value::AsInt(i)) => format!("{i}"),
                        Some(number_data_point::Value::AsDouble(d)) => format!("{d:?}"),
                        None => "none".into(),
                    };
                    out.insert((metric.name.clone(), attrs), v);
                }
            }
        }
    }
    out
}

/// What the recorded responses convert to: the expectation for one full scrape.
fn expected() -> Points {
    let mut r = metrics::recorder(0, 0);
    let f = |m: &str| recorded_result(&format!("real/{m}.json"));
    metrics::bdev_iostat(&mut r, &f("bdev_get_iostat")).unwrap();
    metrics::bdev_iostat_per_channel(&mut r, "Malloc0", &f("bdev_get_iostat__per_channel"))
        .unwrap();
    metrics::bdevs(&mut r, &f("bdev_get_bdevs")).unwrap();
    metrics::nvmf_stats(&mut r, &f("nvmf_get_stats")).unwrap();
    metrics::nvmf_subsystems(&mut r, &f("nvmf_get_subsystems")).unwrap();
    metrics::threads(&mut r, &f("thread_get_stats")).unwrap();
    metrics::reactors(&mut r, &f("framework_get_reactors")).unwrap();
    metrics::accel(&mut r, &f("accel_get_stats")).unwrap();
    metrics::iobuf(&mut r, &f("iobuf_get_stats")).unwrap();
    metrics::nvme_controllers(&mut r, &f("bdev_nvme_get_controllers")).unwrap();
    points(&Metrics {
        resource_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ResourceMetrics {
            scope_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ScopeMetrics {
                metrics: r.finish(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn lines(s: &Strata) -> Vec<Metrics> {
    read_lines(&s.path("out.jsonl"))
}

fn has_metric(m: &Metrics, name: &str) -> bool {
    points(m).keys().any(|(n, _)| n == name)
}

fn wait(s: &Strata, what: &str, f: impl FnMut() -> bool) {
    assert!(
        eventually(Duration::from_secs(15), f),
        "{what}; log:\n{}",
        s.log()
    );
}

fn resource_attr(m: &Metrics, key: &str) -> Option<String> {
    m.resource_metrics[0]
        .resource
        .as_ref()?
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| text(&kv.value))
}

fn check_full_scrape(m: &Metrics) {
    let got = points(m);
    let want = expected();
    assert_eq!(got.len(), want.len(), "point count");
    assert_eq!(got, want);
    // Spot checks against the recording's own numbers.
    let k = |n: &str, a: &str| got[&(n.to_owned(), a.to_owned())].clone();
    assert_eq!(
        k(
            "spdk.bdev.io.bytes",
            "spdk.bdev.name=Malloc0,direction=read"
        ),
        "1541464576"
    );
    assert_eq!(
        k("spdk.bdev.io.time", "spdk.bdev.name=Malloc0,direction=read"),
        format!("{:?}", 60_932_890_509f64 / 2_450_000_000f64)
    );
    assert_eq!(
        resource_attr(m, "spdk.version").as_deref(),
        Some("SPDK v25.09")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_scrape_equals_the_recording() {
    let fake = FakeSpdk::start().await;
    let s = Strata::start(
        &config(&format!("unix://{}", fake.socket.display()), ""),
        &[],
    );
    wait(&s, "no scrape written", || !lines(&s).is_empty());
    check_full_scrape(&lines(&s)[0]);
    // spdk_get_version was called without params (SPDK refuses params for it).
    assert!(fake.calls("spdk_get_version") >= 1);
    assert!(!s.log().contains("requires no parameters"), "{}", s.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_endpoint_scrape_equals_the_recording() {
    let fake = FakeSpdk::start().await;
    let s = Strata::start(&config(&format!("127.0.0.1:{}", fake.tcp_port), ""), &[]);
    wait(&s, "no scrape written", || !lines(&s).is_empty());
    check_full_scrape(&lines(&s)[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_proxy_with_basic_auth_and_a_wrong_password() {
    let fake = FakeSpdk::start().await;
    let extra = "    username: user\n    password: ${env:SPDK_PASSWORD}";
    let endpoint = format!("http://127.0.0.1:{}", fake.proxy_port);
    let s = Strata::start_with_env(
        &config(&endpoint, extra),
        &[],
        &[("SPDK_PASSWORD", "secret")],
    );
    wait(&s, "no scrape through the proxy", || !lines(&s).is_empty());
    check_full_scrape(&lines(&s)[0]);
    drop(s);
    let authorized_calls = fake.calls("bdev_get_iostat");

    // Wrong password: a clear error naming the endpoint and the 401, no crash.
    let s = Strata::start_with_env(&config(&endpoint, extra), &[], &[("SPDK_PASSWORD", "nope")]);
    let series = "strata_receiver_spdk_call_errors{receiver=\"spdk\",method=\"spdk_get_version\",cause=\"unreachable\"}";
    wait(&s, "401 not counted", || s.counter(series) >= 2);
    let log = s.log();
    assert!(log.contains(&endpoint) && log.contains("401"), "{log}");
    assert!(lines(&s).is_empty());
    // One error per scrape, not one per method.
    assert_eq!(fake.calls("bdev_get_iostat"), authorized_calls);
    assert!(fake.calls("unauthorized:spdk_get_version") >= 2);
    assert_eq!(
        fake.calls("unauthorized:bdev_get_iostat"),
        0,
        "only spdk_get_version is tried while unauthorized"
    );
    // Fixed on the proxy's side: scrapes resume.
    fake.set_credentials("user", "nope");
    wait(&s, "scrapes did not resume", || !lines(&s).is_empty());
    check_full_scrape(&lines(&s)[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_proxy_with_ca_file_or_insecure_skip_verify() {
    let fake = FakeSpdk::start().await;
    let endpoint = format!("https://127.0.0.1:{}", fake.tls_proxy_port);
    let ca = format!(
        "    username: user\n    password: secret\n    tls: {{ ca_file: \"{}\" }}",
        fake.ca_file.display()
    );
    let s = Strata::start(&config(&endpoint, &ca), &[]);
    wait(&s, "no scrape over https with ca_file", || {
        !lines(&s).is_empty()
    });
    check_full_scrape(&lines(&s)[0]);
    drop(s);

    // Without the CA the certificate is refused, with a clear error...
    let s = Strata::start(
        &config(&endpoint, "    username: user\n    password: secret"),
        &[],
    );
    let series = "strata_receiver_spdk_call_errors{receiver=\"spdk\",method=\"spdk_get_version\",cause=\"unreachable\"}";
    wait(&s, "untrusted certificate not counted", || {
        s.counter(series) >= 1
    });
    assert!(lines(&s).is_empty());
    drop(s);

    // ...unless verification is switched off.
    let s = Strata::start(
        &config(
            &endpoint,
            "    username: user\n    password: secret\n    tls: { insecure_skip_verify: true }",
        ),
        &[],
    );
    wait(&s, "no scrape with insecure_skip_verify", || {
        !lines(&s).is_empty()
    });
    check_full_scrape(&lines(&s)[0]);
    assert!(s.log().contains("insecure_skip_verify"), "{}", s.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_misbehaviour_is_survived_logged_counted_and_recovered() {
    let fake = FakeSpdk::start().await;
    let mut s = Strata::start(
        &config(&format!("unix://{}", fake.socket.display()), ""),
        &[],
    );
    wait(&s, "no first scrape", || !lines(&s).is_empty());
    let cases = [
        (Mode::CloseMidResponse, "transport", "closed mid-response"),
        (
            Mode::Stall(Duration::from_secs(2)),
            "timeout",
            "no response within",
        ),
        (Mode::Garbage, "transport", "Unparseable"),
        (
            Mode::RpcError,
            "rpc_error",
            "JSON-RPC error -19: No such device",
        ),
    ];
    for (mode, cause, logged) in cases {
        let series = format!(
            "strata_receiver_spdk_call_errors{{receiver=\"spdk\",method=\"bdev_get_iostat\",cause=\"{cause}\"}}"
        );
        let before = s.counter(&series);
        fake.set("bdev_get_iostat", mode.clone());
        wait(&s, &format!("{mode:?} not counted"), || {
            s.counter(&series) > before
        });
        wait(
            &s,
            &format!("{mode:?}: no log line with the method and {logged:?}"),
            || {
                s.log()
                    .lines()
                    .any(|l| l.contains("bdev_get_iostat") && l.contains(logged))
            },
        );
        // The other methods are still exported while bdev_get_iostat fails.
        let n = lines(&s).len();
        wait(&s, "nothing exported during the fault", || {
            lines(&s)[n..]
                .iter()
                .any(|m| has_metric(m, "spdk.thread.time") && !has_metric(m, "spdk.bdev.io.bytes"))
        });
        // Back to normal: the next interval succeeds.
        fake.set("bdev_get_iostat", Mode::Normal);
        let n = lines(&s).len();
        wait(&s, &format!("no recovery after {mode:?}"), || {
            lines(&s)[n..].iter().any(|m| points(m) == expected())
        });
    }
    assert!(s.counter("otelcol_scraper_errored_metric_points{receiver=\"spdk\"}") >= 4);
    assert!(s.child_alive());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_method_disables_only_its_scraper() {
    let fake = FakeSpdk::start().await;
    fake.set("accel_get_stats", Mode::UnknownMethod);
    let s = Strata::start(
        &config(&format!("unix://{}", fake.socket.display()), ""),
        &[],
    );
    wait(&s, "fewer than 3 scrapes", || lines(&s).len() >= 3);
    assert_eq!(fake.calls("accel_get_stats"), 1);
    let last = lines(&s).pop().unwrap();
    assert!(!has_metric(&last, "spdk.accel.operations"));
    let mut want = expected();
    want.retain(|(n, _), _| !n.starts_with("spdk.accel."));
    assert_eq!(points(&last), want);
    assert_eq!(
        s.log().matches("does not know this method").count(),
        1,
        "{}",
        s.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_socket_is_an_error_until_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("spdk.sock");
    let s = Strata::start(&config(&format!("unix://{}", sock.display()), ""), &[]);
    let series = "strata_receiver_spdk_call_errors{receiver=\"spdk\",method=\"spdk_get_version\",cause=\"unreachable\"}";
    wait(&s, "missing socket not counted", || s.counter(series) >= 2);
    assert!(
        s.log().contains(&format!("connect {}", sock.display())),
        "{}",
        s.log()
    );
    let _fake = FakeSpdk::start_at(Some(sock)).await;
    wait(&s, "no scrape after the socket appeared", || {
        !lines(&s).is_empty()
    });
    check_full_scrape(&lines(&s)[0]);

    // `optional: true`: no socket is not an error, and one line says so.
    let sock2 = dir.path().join("absent.sock");
    let s = Strata::start(
        &config(&format!("unix://{}", sock2.display()), "    optional: true"),
        &[],
    );
    wait(&s, "absence not logged", || {
        s.log().contains("no SPDK socket yet")
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(s.counter(series), 0);
    assert_eq!(s.log().matches("no SPDK socket yet").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rdma_transport_and_queue_depth_sampling_from_spdk_doc_examples() {
    // The live recording ran NVMe/TCP without queue-depth sampling; SPDK's own reference
    // examples cover the RDMA device counters and the sampled fields.
    let fake = FakeSpdk::start().await;
    fake.set(
        "nvmf_get_stats",
        Mode::File("doc/nvmf_get_stats__rdma.json"),
    );
    fake.set(
        "bdev_get_iostat",
        Mode::File("doc/bdev_get_iostat__qd_sampling.json"),
    );
    let s = Strata::start(
        &config(&format!("unix://{}", fake.socket.display()), "")
            .replace("per_channel: [Malloc0]", "per_channel: []"),
        &[],
    );
    wait(&s, "no scrape written", || !lines(&s).is_empty());
    let got = points(&lines(&s)[0]);
    let mut r = metrics::recorder(0, 0);
    metrics::nvmf_stats(&mut r, &recorded_result("doc/nvmf_get_stats__rdma.json")).unwrap();
    metrics::bdev_iostat(
        &mut r,
        &recorded_result("doc/bdev_get_iostat__qd_sampling.json"),
    )
    .unwrap();
    let want = points(&Metrics {
        resource_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ResourceMetrics {
            scope_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ScopeMetrics {
                metrics: r.finish(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    for (k, v) in &want {
        assert_eq!(got.get(k), Some(v), "{k:?}");
    }
    for name in [
        "spdk.nvmf.transport.polls",
        "spdk.nvmf.transport.request.time",
        "spdk.nvmf.transport.pending_data_buffer",
        "spdk.bdev.queue_depth",
        "spdk.bdev.io_time",
        "spdk.bdev.weighted_io_time",
    ] {
        assert!(want.keys().any(|(n, _)| n == name), "{name}");
    }
}
