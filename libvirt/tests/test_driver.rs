//! Against libvirt's real `test:///default` driver (in-process, no daemon): one running domain
//! "test" whose values the driver defines (libvirt's `src/test/test_driver.c`).
#![cfg(feature = "sys")]

use strata_libvirt::{Connection, Value};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn the_test_driver_domain_with_every_group() {
    let c = Connection::open("test:///default", true).unwrap();
    assert!(c.is_alive());
    let stats = c.domain_stats().unwrap();
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    println!("libvirt test:///default: {s:#?}");
    assert_eq!(s.name, "test");
    assert_eq!(s.uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
    // The bulk call answers only `state`; the rest comes from per-domain calls.
    assert_eq!(s.filled, vec!["cpu", "vcpu", "balloon", "block", "net"]);
    assert_eq!(s.params["state.state"], Value::Int(1));
    assert_eq!(s.u64("vcpu.current"), Some(2));
    assert_eq!(s.u64("balloon.maximum"), Some(8_388_608));
    assert_eq!(s.u64("balloon.current"), Some(2_097_152));
    assert_eq!(s.u64("balloon.rss"), Some(1_048_576));
    assert_eq!(s.u64("balloon.unused"), Some(1_048_576));
    assert_eq!(s.u64("balloon.available"), Some(2_097_152));
    assert_eq!(s.str("block.0.name"), Some("vda"));
    assert_eq!(s.u64("block.0.capacity"), Some(1_099_506_450_432));
    assert_eq!(s.u64("block.0.allocation"), Some(1_099_511_627_776));
    assert_eq!(s.str("net.0.name"), Some("testnet0"));
    assert!(s.u64("vcpu.1.time").unwrap() > 0);
    assert!(s.u64("net.0.rx.bytes").unwrap() > 0);
}

#[test]
fn a_missing_driver_and_a_nul_are_errors() {
    let e = Connection::open("nosuchdriver:///x", true).err().unwrap();
    assert!(!e.message.is_empty(), "{e:?}");
    assert!(Connection::open("test:///de\0fault", true).is_err());
}

/// 10,000 scrapes (bulk call + every per-domain fill-in): the process's RSS stays flat, so no
/// call leaks what libvirt allocates.
#[test]
fn ten_thousand_scrapes_keep_rss_flat() {
    let c = Connection::open("test:///default", true).unwrap();
    for _ in 0..500 {
        c.domain_stats().unwrap();
    }
    let before = rss_kib();
    for _ in 0..10_000 {
        c.domain_stats().unwrap();
    }
    let after = rss_kib();
    println!("libvirt: RSS {before} KiB before, {after} KiB after 10,000 scrapes");
    assert!(
        after < before + 1024,
        "RSS grew from {before} to {after} KiB"
    );
}

/// Writes `tests/fixtures/libvirt/test-default.stats` (run with `--ignored` to record again).
#[test]
#[ignore]
fn record_the_stats_fixture() {
    let c = Connection::open("test:///default", true).unwrap();
    let s = &c.domain_stats().unwrap()[0];
    let mut out = String::new();
    for (k, v) in &s.params {
        let line = match v {
            Value::Int(i) => format!("{k}=int:{i}"),
            Value::UInt(u) => format!("{k}=uint:{u}"),
            Value::Double(d) => format!("{k}=double:{d}"),
            Value::Bool(b) => format!("{k}=bool:{b}"),
            Value::String(s) => format!("{k}=string:{s}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/libvirt/test-default.stats"
    );
    std::fs::write(path, out).unwrap();
}
