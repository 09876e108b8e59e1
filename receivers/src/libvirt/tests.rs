//! The mapping and the config, without libvirt (the scraper's tests run against libvirt's
//! `test:///default` in `tests/libvirt.rs`).

use strata_libvirt::{DomainStats, Value};
use strata_pipelines::config::parse_component;

use super::Config;
use super::metrics::{self, DEFS, Recorder};

fn stats(pairs: &[(&str, Value)]) -> DomainStats {
    DomainStats {
        name: "vm".into(),
        uuid: "u".into(),
        params: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        filled: Vec::new(),
    }
}

fn points(rec: Recorder) -> Vec<(String, Vec<String>, f64)> {
    use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
    let mut out = Vec::new();
    for m in rec.finish() {
        let dps = match m.data {
            Some(metric::Data::Sum(s)) => s.data_points,
            Some(metric::Data::Gauge(g)) => g.data_points,
            _ => continue,
        };
        for p in dps {
            let attrs = p
                .attributes
                .iter()
                .map(|kv| {
                    format!(
                        "{}={:?}",
                        kv.key,
                        kv.value.as_ref().and_then(|v| v.value.clone())
                    )
                })
                .collect();
            let v = match p.value {
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                Some(number_data_point::Value::AsDouble(d)) => d,
                None => f64::NAN,
            };
            out.push((m.name.clone(), attrs, v));
        }
    }
    out
}

/// The keys a QEMU/KVM host's bulk answer carries (libvirt's `virsh domstats` docs, "Domain
/// statistics"; the values are made up), including the QEMU-only ones.
fn qemu_like() -> DomainStats {
    use Value::{Int, String as S, UInt};
    stats(&[
        ("state.state", Int(3)),
        ("cpu.time", UInt(2_500_000_000)),
        ("vcpu.current", UInt(1)),
        ("vcpu.maximum", UInt(2)),
        ("vcpu.0.time", UInt(1_000_000_000)),
        ("vcpu.0.wait", UInt(5_000_000)),
        ("balloon.current", UInt(1024)),
        ("balloon.maximum", UInt(2048)),
        ("balloon.swap_in", UInt(3)),
        ("balloon.swap_out", UInt(4)),
        ("balloon.major_fault", UInt(5)),
        ("balloon.minor_fault", UInt(6)),
        ("balloon.available", UInt(1000)),
        ("balloon.unused", UInt(500)),
        ("balloon.usable", UInt(600)),
        ("balloon.disk_caches", UInt(70)),
        ("balloon.rss", UInt(900)),
        ("block.count", UInt(1)),
        ("block.0.name", S("vda".into())),
        ("block.0.rd.reqs", UInt(10)),
        ("block.0.rd.bytes", UInt(4096)),
        ("block.0.rd.times", UInt(2_000_000)),
        ("block.0.wr.reqs", UInt(20)),
        ("block.0.wr.bytes", UInt(8192)),
        ("block.0.wr.times", UInt(3_000_000)),
        ("block.0.errors", UInt(0)),
        ("block.0.capacity", UInt(1 << 30)),
        ("block.0.allocation", UInt(1 << 20)),
        ("block.0.physical", UInt(1 << 21)),
        ("net.count", UInt(1)),
        ("net.0.name", S("vnet0".into())),
        ("net.0.rx.bytes", UInt(100)),
        ("net.0.rx.pkts", UInt(2)),
        ("net.0.rx.errs", UInt(0)),
        ("net.0.rx.drop", UInt(1)),
        ("net.0.tx.bytes", UInt(200)),
        ("net.0.tx.pkts", UInt(3)),
        ("net.0.tx.errs", UInt(0)),
        ("net.0.tx.drop", UInt(0)),
    ])
}

#[test]
fn every_documented_metric_from_a_full_answer_with_units_converted() {
    let mut rec = Recorder::new(DEFS, 1, 2);
    metrics::record(&mut rec, &qemu_like());
    let p = points(rec);
    for d in DEFS {
        assert!(p.iter().any(|(n, _, _)| n == d.name), "{} missing", d.name);
    }
    let get = |name: &str, attr: &str| {
        p.iter()
            .find(|(n, a, _)| n == name && (attr.is_empty() || a.iter().any(|x| x.contains(attr))))
            .map(|(_, _, v)| *v)
            .unwrap()
    };
    assert_eq!(get("libvirt.domain.cpu.time", ""), 2.5);
    assert_eq!(get("libvirt.domain.vcpu.wait", ""), 0.005);
    assert_eq!(get("libvirt.domain.memory.assigned", ""), 1024.0 * 1024.0);
    assert_eq!(get("libvirt.domain.memory.swap", "\"out\""), 4096.0);
    assert_eq!(
        get("libvirt.domain.disk.operation_time", "\"write\""),
        0.003
    );
    assert_eq!(get("libvirt.domain.network.io", "\"transmit\""), 200.0);
    // One point per state; 1 for paused (3).
    let states: Vec<_> = p
        .iter()
        .filter(|(n, _, _)| n == "libvirt.domain.state")
        .collect();
    assert_eq!(states.len(), 8);
    assert_eq!(get("libvirt.domain.state", "\"paused\""), 1.0);
    assert_eq!(states.iter().map(|(_, _, v)| v).sum::<f64>(), 1.0);
}

#[test]
fn absent_keys_are_absent_points_and_odd_values_are_skipped() {
    let mut rec = Recorder::new(DEFS, 1, 2);
    metrics::record(
        &mut rec,
        &stats(&[
            ("block.count", Value::UInt(2)),
            // block.0 has no name: left out; block.1's bytes are a string: left out.
            ("block.0.rd.bytes", Value::UInt(1)),
            ("block.1.name", Value::String("vdb".into())),
            ("block.1.rd.bytes", Value::String("x".into())),
            ("block.1.capacity", Value::Int(-1)),
            ("vcpu.current", Value::UInt(u64::MAX)),
        ]),
    );
    let p = points(rec);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "libvirt.domain.vcpu.count");
}

#[test]
fn the_metric_table_is_in_the_docs_and_the_readme() {
    crate::recorder::check_documented(
        &metrics::markdown_table(),
        include_str!("mod.rs"),
        include_str!("../../../README.md"),
    )
    .unwrap();
}

#[test]
fn config_defaults_filters_and_errors() {
    let c: Config = parse_component("r", serde_yaml_ng::from_str("{}").unwrap()).unwrap();
    assert_eq!(c.uri, "qemu:///system");
    assert!(c.read_only);
    let c: Config = parse_component(
        "r",
        serde_yaml_ng::from_str(
            "uri: qemu+ssh://admin@kvm-1/system\ndomains: {include: {names: ['tenant-.*'], match_type: regexp}, exclude: {names: [tenant-scratch], match_type: strict}}",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(c.uri_for_logs(), "qemu+ssh://kvm-1/system");
    let d = c.domains("r").unwrap();
    assert!(d.wants("tenant-a") && !d.wants("tenant-scratch") && !d.wants("infra"));
    for (yaml, path) in [
        ("uri: ''", "r::uri"),
        ("collection_interval: 0s", "r::collection_interval"),
        (
            "domains: {include: {names: ['(('], match_type: regexp}}",
            "r::domains::include",
        ),
        ("url: x", "r"),
    ] {
        let e = parse_component::<Config>("r", serde_yaml_ng::from_str(yaml).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(path), "{yaml}: {e}");
    }
}
