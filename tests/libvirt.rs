//! The `libvirt` receiver end to end (built with `--features libvirt`): the real `strata`
//! binary against libvirt's real `test:///default` driver, in-process and through a real
//! `libvirtd` (Debian's libvirt-daemon, started here on its own socket with no hypervisor
//! drivers), where domains are defined, started and destroyed with `virsh` while Strata
//! scrapes, the daemon is restarted, and a user without access is refused.
#![cfg(feature = "libvirt")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Strata, eventually, read_lines};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as Nv};
use strata_pipelines::Metrics;

fn config(uri: &str) -> String {
    format!(
        r#"
receivers:
  libvirt:
    uri: "{uri}"
    collection_interval: 300ms
    initial_delay: 0s
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    metrics: {{ receivers: [libvirt], exporters: [file] }}
"#
    )
}

/// One data point: metric, its attributes (`k=v`, sorted), value, time (Unix s).
#[derive(Debug, Clone)]
struct Point {
    metric: String,
    attrs: String,
    value: f64,
    time: f64,
}

/// Every point written so far, by domain name (resource `libvirt.domain.name`), and each
/// domain's UUID.
fn points(s: &Strata) -> (BTreeMap<String, Vec<Point>>, BTreeMap<String, String>) {
    let mut out: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    let mut uuids = BTreeMap::new();
    let lines: Vec<Metrics> = read_lines(&s.path("out.jsonl"));
    for m in lines {
        for rm in m.resource_metrics {
            let res: BTreeMap<String, String> = rm
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Av::StringValue(v) => Some((kv.key.clone(), v.clone())),
                    _ => None,
                })
                .collect();
            let name = res["libvirt.domain.name"].clone();
            uuids.insert(name.clone(), res["libvirt.domain.uuid"].clone());
            for sm in rm.scope_metrics {
                for metric in sm.metrics {
                    let dps = match metric.data {
                        Some(Data::Sum(s)) => s.data_points,
                        Some(Data::Gauge(g)) => g.data_points,
                        _ => continue,
                    };
                    for p in dps {
                        let mut attrs: Vec<String> = p
                            .attributes
                            .iter()
                            .map(|kv| {
                                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                    Some(Av::StringValue(s)) => s.clone(),
                                    Some(Av::IntValue(i)) => i.to_string(),
                                    other => format!("{other:?}"),
                                };
                                format!("{}={v}", kv.key)
                            })
                            .collect();
                        attrs.sort();
                        out.entry(name.clone()).or_default().push(Point {
                            metric: metric.name.clone(),
                            attrs: attrs.join(","),
                            value: match p.value {
                                Some(Nv::AsInt(i)) => i as f64,
                                Some(Nv::AsDouble(d)) => d,
                                None => f64::NAN,
                            },
                            time: p.time_unix_nano as f64 / 1e9,
                        });
                    }
                }
            }
        }
    }
    (out, uuids)
}

/// The latest value of `metric` with exactly `attrs` for `domain`.
fn last(points: &[Point], metric: &str, attrs: &str) -> Option<Point> {
    points
        .iter()
        .rev()
        .find(|p| p.metric == metric && p.attrs == attrs)
        .cloned()
}

/// The metrics the module docs mark QEMU/KVM only: the test driver has no source for them.
const QEMU_ONLY: &[&str] = &[
    "libvirt.domain.vcpu.wait",
    "libvirt.domain.disk.operation_time",
];

#[test]
fn test_driver_every_documented_metric_with_the_values_it_defines() {
    let s = Strata::start(&config("test:///default"), &[]);
    assert!(
        eventually(Duration::from_secs(15), || points(&s)
            .0
            .contains_key("test")),
        "{}",
        s.log()
    );
    let (all, uuids) = points(&s);
    let p = &all["test"];
    assert_eq!(uuids["test"], "6695eb01-f6a4-8304-79aa-97f2502e193f");
    let documented = strata_receivers::libvirt::metrics::DEFS;
    for d in documented {
        let present = p.iter().any(|x| x.metric == d.name);
        assert_eq!(
            present,
            !QEMU_ONLY.contains(&d.name),
            "{}: present {present}",
            d.name
        );
    }
    let v = |metric: &str, attrs: &str| {
        last(p, metric, attrs)
            .unwrap_or_else(|| panic!("{metric} {{{attrs}}}"))
            .value
    };
    const KIB: f64 = 1024.0;
    // What the driver defines (libvirt's src/test/test_driver.c, testDomainGetInfo,
    // testDomainMemoryStats, testDomainGetBlockInfo, and its default domain's XML).
    assert_eq!(
        v("libvirt.domain.state", "libvirt.domain.state=running"),
        1.0
    );
    assert_eq!(
        v("libvirt.domain.state", "libvirt.domain.state=shutoff"),
        0.0
    );
    assert_eq!(v("libvirt.domain.vcpu.count", ""), 2.0);
    assert_eq!(v("libvirt.domain.vcpu.limit", ""), 2.0);
    assert_eq!(v("libvirt.domain.memory.limit", ""), 8_388_608.0 * KIB);
    assert_eq!(v("libvirt.domain.memory.assigned", ""), 2_097_152.0 * KIB);
    assert_eq!(v("libvirt.domain.memory.available", ""), 2_097_152.0 * KIB);
    assert_eq!(v("libvirt.domain.memory.unused", ""), 1_048_576.0 * KIB);
    assert_eq!(v("libvirt.domain.memory.usable", ""), 1_048_576.0 * KIB);
    assert_eq!(v("libvirt.domain.memory.rss", ""), 1_048_576.0 * KIB);
    assert_eq!(v("libvirt.domain.memory.disk_caches", ""), 262_144.0 * KIB);
    for dir in ["in", "out"] {
        assert_eq!(
            v(
                "libvirt.domain.memory.swap",
                &format!("system.paging.direction={dir}")
            ),
            0.0
        );
    }
    for ty in ["major", "minor"] {
        assert_eq!(
            v(
                "libvirt.domain.memory.page_faults",
                &format!("system.paging.fault.type={ty}")
            ),
            0.0
        );
    }
    assert_eq!(
        v("libvirt.domain.disk.capacity", "system.device=vda"),
        1_099_506_450_432.0
    );
    assert_eq!(
        v("libvirt.domain.disk.allocation", "system.device=vda"),
        1_099_511_627_776.0
    );
    assert_eq!(
        v("libvirt.domain.disk.physical", "system.device=vda"),
        1_099_511_627_776.0
    );
    // The driver's I/O counters are functions of the time of the call (statbase = Unix µs):
    // rd.reqs = statbase/10, rd.bytes = statbase/20, wr.reqs = statbase/30,
    // wr.bytes = statbase/40, errors = s/2; rx.bytes = statbase/10, rx.pkts = statbase/100,
    // rx.errs = s, rx.drop = s/2, tx.bytes = statbase/20, tx.pkts = statbase/110,
    // tx.errs = s/3, tx.drop = s/4; cpu.time = statbase µs·1000, vcpu.N.time = statbase/10 ns.
    let at = last(
        p,
        "libvirt.domain.disk.io",
        "disk.io.direction=read,system.device=vda",
    )
    .unwrap();
    let statbase = at.value * 20.0;
    let near = |got: f64, want: f64, what: &str| {
        // The calls of one scrape are microseconds to a few milliseconds apart.
        assert!(
            (got - want).abs() <= want * 1e-9 + 2.0,
            "{what}: {got} vs {want}"
        );
    };
    near(statbase / 1e6, at.time, "statbase vs the point's time (s)");
    let dsk = |m: &str, dir: &str| v(m, &format!("disk.io.direction={dir},system.device=vda"));
    near(
        dsk("libvirt.domain.disk.operations", "read"),
        statbase / 10.0,
        "rd.reqs",
    );
    near(
        dsk("libvirt.domain.disk.operations", "write"),
        statbase / 30.0,
        "wr.reqs",
    );
    near(
        dsk("libvirt.domain.disk.io", "write"),
        statbase / 40.0,
        "wr.bytes",
    );
    let secs = (statbase / 1e6).floor();
    near(
        v("libvirt.domain.disk.errors", "system.device=vda"),
        (secs / 2.0).floor(),
        "errs",
    );
    let net = |m: &str, dir: &str| {
        v(
            m,
            &format!("network.interface.name=testnet0,network.io.direction={dir}"),
        )
    };
    near(
        net("libvirt.domain.network.io", "receive"),
        statbase / 10.0,
        "rx.bytes",
    );
    near(
        net("libvirt.domain.network.packets", "receive"),
        statbase / 100.0,
        "rx.pkts",
    );
    near(
        net("libvirt.domain.network.errors", "receive"),
        secs,
        "rx.errs",
    );
    near(
        net("libvirt.domain.network.dropped", "receive"),
        (secs / 2.0).floor(),
        "rx.drop",
    );
    near(
        net("libvirt.domain.network.io", "transmit"),
        statbase / 20.0,
        "tx.bytes",
    );
    near(
        net("libvirt.domain.network.packets", "transmit"),
        statbase / 110.0,
        "tx.pkts",
    );
    near(
        net("libvirt.domain.network.errors", "transmit"),
        (secs / 3.0).floor(),
        "tx.errs",
    );
    near(
        net("libvirt.domain.network.dropped", "transmit"),
        (secs / 4.0).floor(),
        "tx.drop",
    );
    near(
        v("libvirt.domain.cpu.time", ""),
        statbase / 1e6,
        "cpu.time (s)",
    );
    for id in 0..2 {
        near(
            v("libvirt.domain.vcpu.time", &format!("libvirt.vcpu.id={id}")) * 1e9,
            statbase / 10.0,
            "vcpu.time (ns)",
        );
    }
    assert_eq!(
        s.counter_sum("strata_receiver_libvirt_errors"),
        0,
        "{}",
        s.log()
    );
}

/// A `libvirtd` of our own: its sockets in `dir`, no hypervisor driver modules (the `test`
/// driver is built into libvirt itself), no authentication on the local socket.
struct Libvirtd {
    dir: PathBuf,
    child: Option<Child>,
}

impl Libvirtd {
    /// `None` (after a SKIPPED line) where libvirtd is not installed, unless
    /// `STRATA_REQUIRE_INTEROP=1`.
    fn start(dir: &Path) -> Option<Libvirtd> {
        if !Path::new("/usr/sbin/libvirtd").exists() {
            assert!(
                std::env::var("STRATA_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "libvirtd missing (scripts/test installs libvirt-daemon)"
            );
            eprintln!("SKIPPED: /usr/sbin/libvirtd missing; run scripts/test");
            return None;
        }
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::create_dir_all(dir.join("nodrivers")).unwrap();
        std::fs::write(
            dir.join("libvirtd.conf"),
            format!(
                "unix_sock_dir = \"{}\"\nunix_sock_rw_perms = \"0700\"\nauth_unix_ro = \"none\"\nauth_unix_rw = \"none\"\n",
                dir.join("run").display()
            ),
        )
        .unwrap();
        let mut d = Libvirtd {
            dir: dir.to_path_buf(),
            child: None,
        };
        d.spawn();
        Some(d)
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("run/libvirt-sock"));
        let child = Command::new("/usr/sbin/libvirtd")
            .arg("-f")
            .arg(self.dir.join("libvirtd.conf"))
            .arg("--pid-file")
            .arg(self.dir.join("libvirtd.pid"))
            .env("LIBVIRT_DRIVER_DIR", self.dir.join("nodrivers"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        assert!(
            eventually(Duration::from_secs(10), || self.virsh(&["uri"]).is_ok()),
            "libvirtd did not start"
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn uri(&self) -> String {
        format!(
            "test+unix:///default?socket={}",
            self.dir.join("run/libvirt-sock").display()
        )
    }

    fn virsh(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("virsh")
            .arg("-c")
            .arg(self.uri())
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        self.stop();
    }
}

const GUEST: &str = "<domain type='test'><name>tenant-a</name><uuid>3f0c58a4-2a55-4e3c-9f0e-0d5f6c1a7b21</uuid><memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";

/// Through a real libvirtd: a domain defined and started while Strata scrapes appears, one
/// destroyed disappears (each logged once and counted), and after the daemon restarts Strata
/// connects again and goes on scraping.
#[test]
fn domains_appear_and_disappear_and_a_libvirtd_restart_is_survived() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut d) = Libvirtd::start(tmp.path()) else {
        return;
    };
    let mut s = Strata::start(&config(&d.uri()), &[]);
    let domains = |s: &Strata| points(s).0.keys().cloned().collect::<Vec<_>>();
    assert!(
        eventually(Duration::from_secs(15), || domains(&s) == ["test"]),
        "{:?}\n{}",
        domains(&s),
        s.log()
    );
    // Strata's connection keeps the daemon's test:///default state alive for virsh's.
    std::fs::write(tmp.path().join("guest.xml"), GUEST).unwrap();
    let xml = tmp.path().join("guest.xml");
    d.virsh(&["define", xml.to_str().unwrap()]).unwrap();
    d.virsh(&["start", "tenant-a"]).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || domains(&s)
            .contains(&"tenant-a".to_owned())),
        "{}",
        s.log()
    );
    let (p, uuids) = points(&s);
    assert_eq!(uuids["tenant-a"], "3f0c58a4-2a55-4e3c-9f0e-0d5f6c1a7b21");
    assert_eq!(
        last(&p["tenant-a"], "libvirt.domain.memory.limit", "")
            .unwrap()
            .value,
        1_048_576.0 * 1024.0
    );
    assert_eq!(
        last(&p["tenant-a"], "libvirt.domain.vcpu.count", "")
            .unwrap()
            .value,
        1.0
    );
    let series = |change: &str| {
        s.counter(&format!(
            "strata_receiver_libvirt_domain_changes{{receiver=\"libvirt\",change=\"{change}\"}}"
        ))
    };
    assert!(
        eventually(Duration::from_secs(5), || series("appeared") == 1),
        "{}",
        s.self_metrics()
    );
    // Destroyed and undefined: gone from the next scrape.
    d.virsh(&["destroy", "tenant-a"]).unwrap();
    d.virsh(&["undefine", "tenant-a"]).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || series("disappeared") == 1),
        "{}\n{}",
        s.self_metrics(),
        s.log()
    );
    assert_eq!(
        s.log().matches("libvirt domain appeared").count(),
        1,
        "{}",
        s.log()
    );
    assert_eq!(
        s.log().matches("libvirt domain disappeared").count(),
        1,
        "{}",
        s.log()
    );

    // The daemon restarts: Strata's next scrape finds the connection dead, connects again and
    // goes on (the restarted daemon's test driver has only its default domain).
    let before = points(&s).0["test"].len();
    d.stop();
    std::thread::sleep(Duration::from_millis(800));
    d.spawn();
    assert!(
        eventually(Duration::from_secs(15), || points(&s).0["test"].len()
            > before + 20),
        "{}",
        s.log()
    );
    assert!(
        s.counter_sum("strata_receiver_libvirt_errors") >= 1,
        "{}",
        s.self_metrics()
    );
    let log = s.log();
    let lost = log.matches("libvirt connection lost").count()
        + log.matches("cannot connect to libvirt").count();
    assert!((1..=2).contains(&lost), "logged once per outage:\n{log}");
    assert!(s.child_alive());
}

/// A libvirtd that stops answering (SIGSTOP: its socket accepts, nothing replies; libvirt's
/// calls have no timeout of their own): the scrape is given up on after the interval (at least
/// 5 s), logged once and counted, no second call piles up beside the stuck one; when the
/// daemon answers again (SIGCONT) scraping resumes, and a SIGTERM during the hang still ends
/// Strata promptly.
#[test]
fn a_hung_libvirtd_is_given_up_on_and_scraping_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(d) = Libvirtd::start(tmp.path()) else {
        return;
    };
    let mut s = Strata::start(&config(&d.uri()), &[]);
    assert!(
        eventually(Duration::from_secs(15), || points(&s)
            .0
            .contains_key("test")),
        "{}",
        s.log()
    );
    let pid = d.child.as_ref().unwrap().id().to_string();
    let sig = |name: &str| {
        assert!(
            Command::new("kill")
                .args([name, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    sig("-STOP");
    let timeouts =
        || s.counter("strata_receiver_libvirt_errors{receiver=\"libvirt\",cause=\"timeout\"}");
    let hung = eventually(Duration::from_secs(20), || timeouts() >= 2);
    let before = points(&s).0["test"].len();
    sig("-CONT");
    assert!(hung, "{}\n{}", s.self_metrics(), s.log());
    assert!(
        eventually(Duration::from_secs(20), || points(&s).0["test"].len()
            > before),
        "{}",
        s.log()
    );
    assert_eq!(
        s.log().matches("has not answered a scrape").count(),
        1,
        "{}",
        s.log()
    );
    assert!(
        eventually(Duration::from_secs(5), || s
            .log()
            .contains("libvirt answers again")),
        "{}",
        s.log()
    );
    // Hung again, then SIGTERM: the exit does not wait for libvirt.
    sig("-STOP");
    std::thread::sleep(Duration::from_millis(800));
    let status = s.interrupt(Duration::from_secs(15));
    sig("-CONT");
    assert!(status.success(), "{status:?}\n{}", s.log());
}

/// A user who may not open the daemon's socket (the read-write socket is root's, mode 0700,
/// as `qemu:///system`'s is root:libvirt 0770): the scrape is refused, the log says why once,
/// the refusals are counted, and nothing crashes.
#[test]
fn permission_denied_is_explained_once_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(d) = Libvirtd::start(tmp.path()) else {
        return;
    };
    // Strata as an unprivileged user: `nobody` through setpriv when the tests run as root;
    // otherwise the test's own user, with the socket's directory closed to it.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let run = tmp.path().join("run");
    if !root {
        set_mode(&run, 0o000);
    }
    let cfg_dir = tempfile::tempdir().unwrap();
    set_mode(cfg_dir.path(), 0o755);
    let port = common::free_port();
    let text = format!(
        "{}  telemetry:\n    metrics:\n      address: 127.0.0.1:{port}\n",
        config(&d.uri())
            .replace(
                "file: { path: \"{dir}/out.jsonl\" }",
                "debug: { verbosity: basic }"
            )
            .replace("exporters: [file]", "exporters: [debug]")
    );
    let cfg = cfg_dir.path().join("config.yaml");
    std::fs::write(&cfg, text).unwrap();
    set_mode(&cfg, 0o644);
    let mut cmd = if root {
        // A copy `nobody` can run wherever the checkout is (a build under /root is not).
        let bin = cfg_dir.path().join("strata");
        std::fs::copy(env!("CARGO_BIN_EXE_strata"), &bin).unwrap();
        set_mode(&bin, 0o755);
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(&bin);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_strata"))
    };
    let mut child = cmd
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let errors = || {
        common::try_http_get(port, "/metrics")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "strata_receiver_libvirt_errors{receiver=\"libvirt\",cause=\"permission\"} ",
                )?
                .trim()
                .parse::<u64>()
                .ok()
            })
            .unwrap_or(0)
    };
    let refused = eventually(Duration::from_secs(15), || errors() >= 3);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    if !root {
        set_mode(&run, 0o755);
    }
    assert!(refused, "{log}");
    assert_eq!(
        log.matches("permission denied by libvirt").count(),
        1,
        "{log}"
    );
    assert!(log.contains("read_only: true"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}
