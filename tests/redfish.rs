//! The `redfish` receiver end to end: the real `strata` binary scrapes the DMTF mockup
//! `public-rackmount1`, served by the in-test fake BMC (basic and session auth, TLS, faults) and
//! by `sushy-static` (sushy-tools, the third-party Redfish peer installed by `scripts/test`),
//! and writes what it got with the `file` exporter.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::fake_redfish::{AuthMode, FakeRedfish, Fault, mockup_dir};
use common::{Strata, eventually, free_port, read_lines};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use strata_pipelines::Metrics;

const C: &str = "/redfish/v1/Chassis/1U";

/// Every temperature, fan, power, voltage, current, frequency and energy reading of the mockup,
/// written out by hand from its JSON files: (metric, hw.id, value). Each sensor once — the
/// `Sensor` resource where there is one (its excerpts and the legacy entries for the same
/// sensor are not counted again), the legacy entries that have no current counterpart (the
/// backplane fans, the VRM voltages), and the excerpts whose sensor the collection lacks.
const READINGS: &[(&str, &str, f64)] = &[
    // Sensors collection (Chassis/1U/Sensors/*): PS2* are Absent, Battery1StateOfHealth is a
    // percentage of no fan.
    ("hw.temperature", "/Sensors/AmbientTemp", 22.5),
    ("hw.temperature", "/Sensors/Battery1Temp", 33.0),
    ("hw.temperature", "/Sensors/CPU1Temp", 44.0),
    ("hw.temperature", "/Sensors/DIMM1Temp", 44.0),
    ("hw.temperature", "/Sensors/DIMM2Temp", 43.0),
    ("hw.temperature", "/Sensors/DIMM3Temp", 45.0),
    ("hw.temperature", "/Sensors/ExhaustTemp", 40.5),
    ("hw.temperature", "/Sensors/IntakeTemp", 24.8),
    ("hw.voltage", "/Sensors/Battery1InputVoltage", 12.22),
    ("hw.voltage", "/Sensors/Battery1OutputVoltage", 12.22),
    ("hw.voltage", "/Sensors/PS1InputVoltage", 119.27),
    ("hw.voltage", "/Sensors/PS1Out12V", 12.08),
    ("hw.voltage", "/Sensors/PS1Out3V", 3.32),
    ("hw.voltage", "/Sensors/PS1Out5V", 5.04),
    ("redfish.current", "/Sensors/Battery1InputCurrent", 0.0),
    ("redfish.current", "/Sensors/Battery1OutputCurrent", 0.0),
    ("redfish.current", "/Sensors/PS1InputCurrent", 8.92),
    ("redfish.current", "/Sensors/PS1Out12VCurrent", 2.79),
    ("redfish.current", "/Sensors/PS1Out3VCurrent", 8.92),
    ("redfish.current", "/Sensors/PS1Out5VCurrent", 3.41),
    ("redfish.frequency", "/Sensors/PS1Frequency", 60.1),
    ("hw.power", "/Sensors/PS1InputPower", 374.0),
    ("hw.power", "/Sensors/TotalPower", 374.0),
    ("hw.energy", "/Sensors/PS1Energy", 7855.0 * 3.6e6),
    ("hw.energy", "/Sensors/TotalEnergy", 325675.0 * 3.6e6),
    // Fan speed sensors (percent) and their fans' RPM (ThermalSubsystem/Fans/*).
    ("hw.fan.speed_ratio", "/Sensors/FanBay1", 0.45),
    ("hw.fan.speed_ratio", "/Sensors/FanBay2", 0.45),
    ("hw.fan.speed_ratio", "/Sensors/CPUFan1", 0.45),
    ("hw.fan.speed_ratio", "/Sensors/CPUFan2", 0.45),
    ("hw.fan.speed", "/Sensors/FanBay1", 2200.0),
    ("hw.fan.speed", "/Sensors/FanBay2", 2400.0),
    ("hw.fan.speed", "/Sensors/CPUFan1", 1490.0),
    ("hw.fan.speed", "/Sensors/CPUFan2", 1490.0),
    // PowerSupplies/Bay1/Metrics excerpts of sensors the collection does not list.
    ("hw.power", "/Sensors/PS1OutputPower", 937.4),
    ("hw.power", "/Sensors/PS1_3VPower", 79.84),
    ("hw.power", "/Sensors/PS1_5VPower", 26.25),
    ("hw.power", "/Sensors/PS1_12VPower", 91.58),
    ("hw.voltage", "/Sensors/PS1_3VOutput", 3.31),
    ("hw.voltage", "/Sensors/PS1_5VOutput", 5.03),
    ("hw.voltage", "/Sensors/PS1_12VOutput", 12.06),
    ("redfish.current", "/Sensors/PS1_3VCurrent", 9.84),
    ("redfish.current", "/Sensors/PS1_5VCurrent", 1.25),
    ("redfish.current", "/Sensors/PS1_12Current", 2.58),
    ("redfish.frequency", "/Sensors/PS1InputFrequency", 60.0),
    ("hw.temperature", "/Sensors/PS1Temp", 43.9),
    ("hw.fan.speed_ratio", "/Sensors/PS1Fan", 0.68),
    ("hw.fan.speed", "/Sensors/PS1Fan", 3290.0),
    // Linked only from Processors/CPU1/EnvironmentMetrics, whose copy says 12.87: the Sensor
    // resource itself is read and is authoritative (90 W).
    ("hw.power", "/Sensors/CPU1Power", 90.0),
    // A percentage no fan links: a ratio of its own.
    (
        "redfish.sensor.ratio",
        "/Sensors/Battery1StateOfHealth",
        0.91,
    ),
    // Nothing from legacy Thermal and Power: the chassis has ThermalSubsystem and
    // PowerSubsystem, so their fans and voltages would be second series of the same hardware.
];

const UNITS: &[(&str, &str)] = &[
    ("hw.temperature", "Cel"),
    ("hw.voltage", "V"),
    ("hw.power", "W"),
    ("hw.energy", "J"),
    ("hw.fan.speed", "rpm"),
    ("hw.fan.speed_ratio", "1"),
    ("redfish.sensor.ratio", "1"),
    ("redfish.current", "A"),
    ("redfish.frequency", "Hz"),
];

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Av::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// A reading's value, unit and attributes.
type Reading = (f64, String, BTreeMap<String, String>);

/// One scrape's readings: (metric, hw.id) → reading. Panics on a duplicate.
fn readings(m: &Metrics) -> BTreeMap<(String, String), Reading> {
    let mut out = BTreeMap::new();
    for rm in &m.resource_metrics {
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                if !UNITS.iter().any(|(n, _)| *n == metric.name) {
                    continue;
                }
                let pts = match &metric.data {
                    Some(Data::Sum(s)) => &s.data_points,
                    Some(Data::Gauge(g)) => &g.data_points,
                    _ => continue,
                };
                for p in pts {
                    let attrs: BTreeMap<String, String> = p
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(&kv.value)))
                        .collect();
                    let v = match p.value {
                        Some(number_data_point::Value::AsDouble(d)) => d,
                        Some(number_data_point::Value::AsInt(i)) => i as f64,
                        None => f64::NAN,
                    };
                    let key = (metric.name.clone(), attrs["hw.id"].clone());
                    let dup = out.insert(key.clone(), (v, metric.unit.clone(), attrs));
                    assert!(dup.is_none(), "counted twice: {key:?}");
                }
            }
        }
    }
    out
}

/// Checks that one scrape holds exactly [`READINGS`], with units and the hw.* attributes.
fn check_every_reading_once(m: &Metrics) {
    let got = readings(m);
    let want: BTreeMap<(String, String), f64> = READINGS
        .iter()
        .map(|(n, id, v)| ((n.to_string(), format!("{C}{id}")), *v))
        .collect();
    let got_keys: Vec<_> = got.keys().cloned().collect();
    let want_keys: Vec<_> = want.keys().cloned().collect();
    assert_eq!(got_keys, want_keys, "the set of readings");
    for (k, (v, unit, attrs)) in &got {
        assert_eq!(*v, want[k], "{k:?}");
        let u = UNITS.iter().find(|(n, _)| *n == k.0).unwrap().1;
        assert_eq!(unit, u, "{k:?}");
        for a in ["hw.id", "hw.name", "hw.type", "hw.parent"] {
            assert!(attrs.contains_key(a), "{k:?} lacks {a}: {attrs:?}");
        }
    }
    // hw.type follows the kind of reading and the component.
    assert_eq!(
        got[&("hw.temperature".into(), format!("{C}/Sensors/CPU1Temp"))].2["hw.type"],
        "temperature"
    );
    assert_eq!(
        got[&("hw.fan.speed".into(), format!("{C}/Sensors/FanBay1"))].2["hw.parent"],
        format!("{C}/ThermalSubsystem/Fans/Bay1")
    );
    assert_eq!(
        got[&("hw.power".into(), format!("{C}/Sensors/PS1InputPower"))].2["hw.type"],
        "power_supply"
    );
}

/// Health and identity: hw.status of the chassis, the system and a sensor; resource attributes.
fn check_status_and_resource(m: &Metrics) {
    let rm = m
        .resource_metrics
        .iter()
        .find(|rm| {
            rm.resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .any(|kv| kv.key == "redfish.chassis.id")
        })
        .expect("a chassis resource");
    let attr = |k: &str| {
        rm.resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| text(&kv.value))
    };
    assert_eq!(attr("redfish.chassis.id").as_deref(), Some("1U"));
    assert_eq!(
        attr("redfish.chassis.manufacturer").as_deref(),
        Some("Contoso")
    );
    assert_eq!(attr("redfish.chassis.model").as_deref(), Some("3500RX"));
    assert_eq!(
        attr("redfish.chassis.serial_number").as_deref(),
        Some("437XR1138R2")
    );
    assert_eq!(attr("redfish.system.id").as_deref(), Some("437XR1138R2"));
    assert_eq!(attr("redfish.manager.id").as_deref(), Some("BMC"));
    let fw = common::fake_redfish::mockup("/redfish/v1/Managers/BMC").unwrap()["FirmwareVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(attr("redfish.manager.firmware_version"), Some(fw));
    let status: Vec<(String, String, String, i64)> = rm.scope_metrics[0]
        .metrics
        .iter()
        .filter(|m| m.name == "hw.status")
        .flat_map(|m| match &m.data {
            Some(Data::Sum(s)) => {
                assert!(!s.is_monotonic);
                s.data_points.clone()
            }
            _ => panic!("hw.status is an up-down counter"),
        })
        .map(|p| {
            let a = |k: &str| {
                p.attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .map(|kv| text(&kv.value))
                    .unwrap_or_default()
            };
            let v = match p.value {
                Some(number_data_point::Value::AsInt(i)) => i,
                _ => -1,
            };
            (a("hw.id"), a("hw.type"), a("hw.state"), v)
        })
        .collect();
    let one = |id: &str, state: &str| {
        status
            .iter()
            .filter(|(i, _, s, v)| i == id && s == state && *v == 1)
            .count()
    };
    assert_eq!(one(C, "ok"), 1, "chassis health");
    assert_eq!(one(C, "on"), 1, "chassis power state");
    assert_eq!(
        one("/redfish/v1/Systems/437XR1138R2", "on"),
        1,
        "system power state"
    );
    assert_eq!(one(&format!("{C}/Sensors/CPU1Temp"), "degraded"), 1);
    assert_eq!(
        one(
            &format!("{C}/PowerSubsystem/PowerSupplies/Bay1"),
            "degraded"
        ),
        1
    );
}

fn config(endpoint: &str, extra: &str) -> String {
    format!(
        r#"
receivers:
  redfish:
    endpoint: {endpoint}
    collection_interval: 400ms
    initial_delay: 0s
    timeout: 1s
{extra}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    metrics: {{ receivers: [redfish], exporters: [file] }}
"#
    )
}

fn lines(s: &Strata) -> Vec<Metrics> {
    read_lines(&s.path("out.jsonl"))
}

fn wait(s: &Strata, what: &str, f: impl FnMut() -> bool) {
    assert!(
        eventually(Duration::from_secs(20), f),
        "{what}; log:\n{}",
        s.log()
    );
}

fn errors(s: &Strata, endpoint: &str, cause: &str) -> u64 {
    s.counter(&format!(
        "strata_receiver_redfish_errors{{receiver=\"redfish\",server=\"{endpoint}\",cause=\"{cause}\"}}"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn session_auth_every_reading_once_relogin_and_logout() {
    let bmc = FakeRedfish::start(AuthMode::Session).await;
    let ep = bmc.endpoint();
    let mut s = Strata::start_with_env(
        &config(
            &ep,
            "    username: admin\n    password: ${env:BMC_PASSWORD}\n    auth: session",
        ),
        &[],
        &[("BMC_PASSWORD", "secret")],
    );
    wait(&s, "three scrapes", || lines(&s).len() >= 3);
    for m in lines(&s) {
        check_every_reading_once(&m);
    }
    check_status_and_resource(&lines(&s)[0]);
    // One login, its token reused by every request of every scrape.
    assert_eq!(bmc.logins(), 1);
    // A DataSourceUri that names no resource (the mockup's PS1Fan) is asked once, not at
    // every scrape; its copy's reading stands.
    assert_eq!(
        bmc.requests()
            .iter()
            .filter(|r| r.as_str() == format!("GET {C}/Sensors/PS1Fan"))
            .count(),
        1,
        "{:?}",
        bmc.requests()
    );
    // $expand was used for collections the root advertises it for.
    assert!(
        bmc.requests()
            .iter()
            .any(|r| r.contains("Sensors?$expand="))
    );
    // The BMC forgets the session: one 401, one new login, scraping goes on.
    bmc.expire_sessions();
    let n = lines(&s).len();
    wait(&s, "scrapes after the session expired", || {
        lines(&s).len() >= n + 2
    });
    assert_eq!(bmc.logins(), 2);
    check_every_reading_once(lines(&s).last().unwrap());
    assert!(s.log().contains("logging in again"), "{}", s.log());
    // Shutdown deletes the session.
    assert!(s.interrupt(Duration::from_secs(10)).success());
    assert_eq!(
        bmc.deleted(),
        vec!["/redfish/v1/SessionService/Sessions/2".to_string()]
    );
    assert_eq!(bmc.open_sessions(), 0);
}

/// `auth: auto` (the default with credentials): a session where the BMC has working sessions;
/// basic, with one warning, where it has none; sessions probed again after the BMC was
/// unreachable; a refused password on the session `POST` stays a credentials error.
#[tokio::test(flavor = "multi_thread")]
async fn auto_auth_uses_sessions_where_they_work_and_basic_otherwise() {
    let creds = "    username: admin\n    password: secret";
    // Working sessions: one login, tokens on every request, no basic header.
    let bmc = FakeRedfish::start(AuthMode::Session).await;
    let s = Strata::start(&config(&bmc.endpoint(), creds), &[]);
    wait(&s, "two scrapes with a session", || lines(&s).len() >= 2);
    check_every_reading_once(lines(&s).last().unwrap());
    assert_eq!(bmc.logins(), 1);
    assert!(
        !s.log().contains("using basic authentication"),
        "{}",
        s.log()
    );
    drop(s);

    // No SessionService: basic, one warning however many scrapes.
    let bmc = FakeRedfish::start(AuthMode::Basic).await;
    bmc.set_sessions(false);
    let s = Strata::start(&config(&bmc.endpoint(), creds), &[]);
    wait(&s, "three scrapes over basic", || lines(&s).len() >= 3);
    check_every_reading_once(lines(&s).last().unwrap());
    assert_eq!(
        s.log().matches("no working Redfish sessions").count(),
        1,
        "{}",
        s.log()
    );
    // The BMC restarts with sessions enabled and basic off: unreachable for a scrape (a
    // stalled root times out), then the receiver probes sessions again and logs in.
    bmc.set_sessions(true);
    bmc.set_auth(AuthMode::Session);
    bmc.fault("/redfish/v1", Some(Fault::Stall(Duration::from_secs(2))));
    wait(&s, "a timed-out scrape", || {
        errors(&s, &bmc.endpoint(), "timeout") >= 1
    });
    bmc.fault("/redfish/v1", None);
    let n = lines(&s).len();
    wait(&s, "scrapes with a session after the restart", || {
        bmc.logins() == 1 && lines(&s).len() >= n + 2
    });
    check_every_reading_once(lines(&s).last().unwrap());
    drop(s);

    // A wrong password on the session POST is a credentials error, not a reason for basic.
    let bmc = FakeRedfish::start(AuthMode::Session).await;
    let s = Strata::start(
        &config(&bmc.endpoint(), "    username: admin\n    password: wrong"),
        &[],
    );
    wait(&s, "login errors counted", || {
        errors(&s, &bmc.endpoint(), "login") >= 2
    });
    assert!(
        !s.log().contains("using basic authentication"),
        "{}",
        s.log()
    );
    assert!(
        !bmc.requests()
            .iter()
            .any(|r| r.starts_with("GET /redfish/v1/Chassis")),
        "nothing was read without a session: {:?}",
        bmc.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_without_expand_and_wrong_passwords() {
    let bmc = FakeRedfish::start(AuthMode::Basic).await;
    bmc.set_expand(false);
    let ep = bmc.endpoint();
    let basic = "    username: admin\n    password: ${env:BMC_PASSWORD}\n    auth: basic";
    let s = Strata::start_with_env(&config(&ep, basic), &[], &[("BMC_PASSWORD", "secret")]);
    wait(&s, "two scrapes", || lines(&s).len() >= 2);
    check_every_reading_once(&lines(&s)[1]);
    // $expand refused (400) in the first scrape — by the collections asked concurrently —
    // and never tried again: members are read one by one.
    let refused = || {
        bmc.requests()
            .iter()
            .filter(|r| r.contains("$expand"))
            .count()
    };
    let first = refused();
    assert!((1..=3).contains(&first), "{:?}", bmc.requests());
    let n = lines(&s).len();
    wait(&s, "two more scrapes", || lines(&s).len() >= n + 2);
    assert_eq!(refused(), first);
    drop(s);

    // A slow BMC: requests run concurrently, never more than max_concurrency at once.
    bmc.set_delay(Duration::from_millis(30));
    let s = Strata::start_with_env(
        &config(&ep, &format!("{basic}\n    max_concurrency: 3")),
        &[],
        &[("BMC_PASSWORD", "secret")],
    );
    wait(&s, "a scrape of the slow BMC", || !lines(&s).is_empty());
    check_every_reading_once(&lines(&s)[0]);
    assert_eq!(bmc.max_in_flight(), 3);
    bmc.set_delay(Duration::ZERO);
    assert!(
        bmc.requests()
            .iter()
            .any(|r| r == &format!("GET {C}/Sensors/CPU1Temp"))
    );
    drop(s);

    // Basic with a wrong password: 401 naming the URL, counted, nothing exported.
    let s = Strata::start_with_env(&config(&ep, basic), &[], &[("BMC_PASSWORD", "nope")]);
    wait(&s, "401 counted", || errors(&s, &ep, "http_401") >= 2);
    assert!(
        s.log().contains(&format!(
            "{ep}/redfish/v1/Systems?$expand=.($levels=1): HTTP 401"
        )),
        "{}",
        s.log()
    );
    assert!(lines(&s).is_empty());
    drop(s);

    // Session with a wrong password: one login error per scrape, with the hint.
    let bmc = FakeRedfish::start(AuthMode::Session).await;
    let ep = bmc.endpoint();
    let session = "    username: admin\n    password: nope";
    let s = Strata::start(&config(&ep, session), &[]);
    wait(&s, "login errors counted", || errors(&s, &ep, "login") >= 2);
    let log = s.log();
    assert!(
        log.contains(&format!(
            "{ep}/redfish/v1/SessionService/Sessions: login failed: HTTP 401"
        )) && log.contains("wrong username or password"),
        "{log}"
    );
    assert!(lines(&s).is_empty());
    assert_eq!(bmc.logins(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_are_survived_logged_counted_and_the_rest_exported() {
    let bmc = FakeRedfish::start(AuthMode::None).await;
    let ep = bmc.endpoint();
    bmc.fault(&format!("{C}/Thermal"), Some(Fault::Status(500)));
    bmc.fault(&format!("{C}/Power"), Some(Fault::InvalidJson));
    bmc.fault(
        &format!("{C}/EnvironmentMetrics"),
        Some(Fault::Stall(Duration::from_secs(3))),
    );
    let psu_metrics = "/PowerSubsystem/PowerSupplies/Bay1/Metrics";
    bmc.fault(&format!("{C}{psu_metrics}"), Some(Fault::Status(404)));
    let s = Strata::start(&config(&ep, ""), &[]);
    wait(&s, "a scrape despite the faults", || !lines(&s).is_empty());
    wait(&s, "each fault counted", || {
        errors(&s, &ep, "http_500") >= 1
            && errors(&s, &ep, "invalid_response") >= 1
            && errors(&s, &ep, "timeout") >= 1
            && errors(&s, &ep, "http_404") >= 1
    });
    let log = s.log();
    for (path, cause) in [
        ("/Thermal", "HTTP 500: Injected failure"),
        ("/Power", "invalid response: not JSON"),
        ("/EnvironmentMetrics", "no response within 1s"),
        (psu_metrics, "HTTP 404"),
    ] {
        assert!(
            log.contains(&format!("{ep}{C}{path}: {cause}")),
            "{path}: {log}"
        );
    }
    let m = readings(&lines(&s)[0]);
    // The sensors still came through; what only the failed resources had did not.
    assert_eq!(
        m[&("hw.temperature".into(), format!("{C}/Sensors/CPU1Temp"))].0,
        44.0
    );
    assert!(m.contains_key(&("hw.fan.speed".into(), format!("{C}/Sensors/FanBay1"))));
    assert!(m.contains_key(&("hw.power".into(), format!("{C}/Sensors/PS1InputPower"))));
    assert!(!m.contains_key(&("hw.power".into(), format!("{C}/Sensors/PS1OutputPower"))));
    assert!(!m.contains_key(&("hw.voltage".into(), format!("{C}/Power#/Voltages/0"))));
    // Faults cleared: the next scrapes are complete again.
    for p in ["/Thermal", "/Power", "/EnvironmentMetrics", psu_metrics] {
        bmc.fault(&format!("{C}{p}"), None);
    }
    let n = lines(&s).len();
    wait(&s, "a complete scrape after the faults", || {
        lines(&s).len() > n + 1
    });
    check_every_reading_once(lines(&s).last().unwrap());
}

/// Answers that are JSON but not what Redfish promises, or far too large: each is an
/// `invalid_response` naming the URL, and what the other resources hold is still exported.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_oversized_resources_are_errors_not_panics() {
    let bmc = FakeRedfish::start(AuthMode::None).await;
    let ep = bmc.endpoint();
    // A collection without Members (the fake's $expand finds nothing to expand either).
    bmc.fault(
        &format!("{C}/ThermalSubsystem/Fans"),
        Some(Fault::Body(r#"{"Name": "Fans"}"#.into())),
    );
    // A JSON array where a resource (an object) belongs.
    bmc.fault(
        &format!("{C}/Thermal"),
        Some(Fault::Body("[1, 2, 3]".into())),
    );
    // 17 MiB, over the 16 MiB cap.
    let huge = format!(r#"{{"Name": "{}"}}"#, "x".repeat(17 << 20));
    bmc.fault(&format!("{C}/Power"), Some(Fault::Body(huge)));
    let s = Strata::start(&config(&ep, ""), &[]);
    wait(&s, "a scrape despite malformed resources", || {
        !lines(&s).is_empty()
    });
    wait(&s, "three invalid responses counted", || {
        errors(&s, &ep, "invalid_response") >= 3
    });
    let log = s.log();
    for (path, cause) in [
        (
            "/ThermalSubsystem/Fans",
            "a collection without a Members array",
        ),
        ("/Thermal", "a resource is a JSON object"),
        ("/Power", "body larger than 16777216 bytes"),
    ] {
        assert!(
            log.contains(&format!("{ep}{C}{path}: invalid response: {cause}")),
            "{path}: {log}"
        );
    }
    assert!(s.log().lines().all(|l| !l.contains("panicked")), "{log}");
    let m = readings(&lines(&s)[0]);
    // Sensors are still read. A fan's RPM falls back to the EnvironmentMetrics excerpt of the
    // same sensor (1900, where the unreadable Fan resource said 2200); a fan only the Fan
    // resources described has none.
    assert_eq!(
        m[&("hw.temperature".into(), format!("{C}/Sensors/CPU1Temp"))].0,
        44.0
    );
    assert_eq!(
        m[&("hw.fan.speed".into(), format!("{C}/Sensors/FanBay1"))].0,
        1900.0
    );
    assert!(!m.contains_key(&("hw.fan.speed".into(), format!("{C}/Sensors/CPUFan1"))));
    assert!(!m.contains_key(&("hw.voltage".into(), format!("{C}/Power#/Voltages/0"))));
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_ca_file_and_untrusted_certificate() {
    let bmc = FakeRedfish::start(AuthMode::Basic).await;
    let ep = format!("https://127.0.0.1:{}", bmc.tls_port);
    let creds = "    username: admin\n    password: secret\n    auth: basic\n";
    let s = Strata::start(
        &config(
            &ep,
            &format!("{creds}    tls: {{ ca_file: {} }}", bmc.ca_file.display()),
        ),
        &[],
    );
    wait(&s, "a scrape over HTTPS", || !lines(&s).is_empty());
    check_every_reading_once(&lines(&s)[0]);
    drop(s);
    // Without the CA the certificate is refused, and said so.
    let s = Strata::start(&config(&ep, creds), &[]);
    // The error is counted before the scrape loop logs it: wait for both.
    wait(&s, "the TLS failure counted and logged", || {
        errors(&s, &ep, "transport") >= 1 && s.log().contains("certificate")
    });
    assert!(lines(&s).is_empty());
}

/// `sushy-static` from the interop virtualenv (`scripts/test` installs sushy-tools there).
fn sushy_static() -> Option<std::path::PathBuf> {
    let python = std::env::var("STRATA_INTEROP_PYTHON").ok()?;
    let bin = std::path::Path::new(&python).parent()?.join("sushy-static");
    bin.exists().then_some(bin)
}

struct Sushy(Child);

impl Drop for Sushy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sushy-static`, or `None` (the test is skipped, with a line saying so) where it is not
/// installed and interop is not required.
fn sushy_or_skip() -> Option<std::path::PathBuf> {
    let bin = sushy_static();
    if bin.is_none() {
        assert!(
            std::env::var("STRATA_REQUIRE_INTEROP").is_err(),
            "sushy-static is required (scripts/test installs it)"
        );
        eprintln!("interop redfish: skipped, no sushy-static (run scripts/test)");
    }
    bin
}

fn start_sushy(
    bin: &std::path::Path,
    port: u16,
    tls: Option<(&std::path::Path, &std::path::Path)>,
) -> Sushy {
    start_sushy_at(bin, port, tls, &mockup_dir())
}

fn start_sushy_at(
    bin: &std::path::Path,
    port: u16,
    tls: Option<(&std::path::Path, &std::path::Path)>,
    tree: &std::path::Path,
) -> Sushy {
    let mut cmd = Command::new(bin);
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m"])
        .arg(tree)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((cert, key)) = tls {
        cmd.arg("-c").arg(cert).arg("-k").arg(key);
    }
    let child = Sushy(cmd.spawn().expect("start sushy-static"));
    assert!(
        eventually(Duration::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "sushy-static did not listen on {port}"
    );
    child
}

#[tokio::test(flavor = "multi_thread")]
async fn interop_sushy_static_http_and_https() {
    let Some(bin) = sushy_or_skip() else {
        return;
    };
    // Plain HTTP.
    let port = free_port();
    let _sushy = start_sushy(&bin, port, None);
    let ep = format!("http://127.0.0.1:{port}");
    let s = Strata::start(&config(&ep, "    auth: none"), &[]);
    wait(&s, "a scrape of sushy-static", || !lines(&s).is_empty());
    check_every_reading_once(&lines(&s)[0]);
    check_status_and_resource(&lines(&s)[0]);
    eprintln!(
        "interop redfish http: {} readings from sushy-static",
        READINGS.len()
    );
    drop(s);

    // Credentials without `auth` (auto): sushy-static answers the session POST with 204 and
    // no X-Auth-Token, so the receiver says so once and reads with basic authentication.
    let s = Strata::start(
        &config(&ep, "    username: admin\n    password: password"),
        &[],
    );
    wait(&s, "two scrapes of sushy-static with credentials", || {
        lines(&s).len() >= 2
    });
    check_every_reading_once(lines(&s).last().unwrap());
    let log = s.log();
    assert_eq!(
        log.matches("no working Redfish sessions").count(),
        1,
        "{log}"
    );
    assert!(log.contains("X-Auth-Token"), "{log}");
    assert!(
        !log.contains("YWRtaW46cGFzc3dvcmQ="),
        "the basic credential never reaches the log"
    );
    eprintln!(
        "interop redfish auto: sushy-static has no session tokens; basic authentication used"
    );
    drop(s);

    // HTTPS with sushy's certificate trusted through ca_file.
    let dir = tempfile::tempdir().unwrap();
    let pki = common::tls::TestPki::new(dir.path());
    let port = free_port();
    let _sushy_tls = start_sushy(&bin, port, Some((&pki.cert_file, &pki.key_file)));
    let ep = format!("https://127.0.0.1:{port}");
    let s = Strata::start(
        &config(
            &ep,
            &format!("    tls: {{ ca_file: {} }}", pki.ca_file.display()),
        ),
        &[],
    );
    wait(&s, "a scrape of sushy-static over HTTPS", || {
        !lines(&s).is_empty()
    });
    check_every_reading_once(&lines(&s)[0]);
    eprintln!(
        "interop redfish https: {} readings from sushy-static",
        READINGS.len()
    );
}

/// The shipped `dpu` profile: the `redfish` receiver is idle without `STRATA_REDFISH_ENDPOINT`
/// and scrapes the BMC it names, with the credentials from the environment.
#[tokio::test(flavor = "multi_thread")]
async fn the_dpu_profile_scrapes_the_bmc_named_by_the_environment() {
    let profile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/dpu.yaml"),
    )
    .unwrap();
    let env_base = [
        ("STRATA_OTLP_GRPC_ENDPOINT", "127.0.0.1:0"),
        ("STRATA_OTLP_HTTP_ENDPOINT", "127.0.0.1:0"),
        ("STRATA_REDFISH_INTERVAL", "300ms"),
    ];
    let series = "otelcol_receiver_accepted_metric_points{receiver=\"redfish\",transport=\"\"}";
    // Unset: idle, no error.
    let port = free_port();
    let tele = format!("127.0.0.1:{port}");
    let mut env = env_base.to_vec();
    env.push(("STRATA_TELEMETRY_ADDRESS", &tele));
    let s = Strata::start_with_env(&profile, &[port], &env);
    assert!(
        eventually(Duration::from_secs(10), || s
            .log()
            .contains("no Redfish endpoint configured")),
        "{}",
        s.log()
    );
    drop(s);
    // Set: scraped.
    let bmc = FakeRedfish::start(AuthMode::Session).await;
    let ep = bmc.endpoint();
    let port = free_port();
    let tele = format!("127.0.0.1:{port}");
    let mut env = env_base.to_vec();
    env.extend([
        ("STRATA_TELEMETRY_ADDRESS", tele.as_str()),
        ("STRATA_REDFISH_ENDPOINT", ep.as_str()),
        ("STRATA_REDFISH_USERNAME", "admin"),
        ("STRATA_REDFISH_PASSWORD", "secret"),
    ]);
    let mut s = Strata::start_with_env(&profile, &[port], &env);
    s.telemetry_port = port;
    wait(&s, "the profile's redfish receiver accepted points", || {
        s.counter(series) > 0
    });
    assert_eq!(bmc.logins(), 1);
}

/// The numeric readings of every present Sensor listed by a chassis `Sensors` collection of
/// the mockup at `tree`: (metric, hw.id) → value, by the receiver's documented mapping
/// (README, "Redfish"): ReadingType, or the unit where a Sensor has none.
fn sensors_of(tree: &std::path::Path) -> BTreeMap<(String, String), f64> {
    let read = |uri: &str| -> Option<serde_json::Value> {
        let rel = uri
            .trim_start_matches("/redfish/v1")
            .trim_start_matches('/');
        serde_json::from_str(&std::fs::read_to_string(tree.join(rel).join("index.json")).ok()?).ok()
    };
    let mut out = BTreeMap::new();
    let Some(chassis) = read("/redfish/v1/Chassis") else {
        return out;
    };
    for c in chassis["Members"].as_array().into_iter().flatten() {
        let Some(c) = c["@odata.id"].as_str().and_then(read) else {
            continue;
        };
        let Some(coll) = c["Sensors"]["@odata.id"].as_str().and_then(read) else {
            continue;
        };
        for m in coll["Members"].as_array().into_iter().flatten() {
            let Some(id) = m["@odata.id"].as_str() else {
                continue;
            };
            let Some(s) = read(id) else { continue };
            let Some(v) = s["Reading"].as_f64() else {
                continue;
            };
            if s["Status"]["State"] == "Absent" {
                continue;
            }
            // A percentage is a fan's speed ratio when a fan links the sensor, else a ratio.
            let (metrics, scale): (&[&str], f64) =
                match (s["ReadingType"].as_str(), s["ReadingUnits"].as_str()) {
                    (Some("Temperature"), _) | (None, Some("Cel")) => (&["hw.temperature"], 1.0),
                    (Some("Voltage"), _) => (&["hw.voltage"], 1.0),
                    (Some("Power"), _) => (&["hw.power"], 1.0),
                    (Some("Current"), _) => (&["redfish.current"], 1.0),
                    (Some("Frequency"), _) => (&["redfish.frequency"], 1.0),
                    (Some("EnergykWh"), _) => (&["hw.energy"], 3.6e6),
                    (Some("Percent"), _) => (&["hw.fan.speed_ratio", "redfish.sensor.ratio"], 0.01),
                    (Some("Rotational"), _) => (&["hw.fan.speed"], 1.0),
                    other => panic!("{id}: a reading type the mapping does not cover: {other:?}"),
                };
            out.insert((metrics.join("|"), id.to_owned()), v * scale);
        }
    }
    out
}

/// Breadth: every DMTF mockup of tests/fixtures/redfish served by sushy-static. Each numeric
/// Sensor of each chassis `Sensors` collection appears exactly once, with its own reading (the
/// Sensor resource beats any copy), and no (metric, hw.id) appears twice (`readings` panics on
/// a duplicate). Mockups without sensors (catfish, telemetry) scrape without errors.
#[tokio::test(flavor = "multi_thread")]
async fn interop_every_dmtf_mockup_each_sensor_once() {
    let Some(bin) = sushy_or_skip() else {
        return;
    };
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redfish");
    for name in [
        "public-rackmount1",
        "public-liquid-cooled-server",
        "public-telemetry",
        "public-catfish",
    ] {
        let tree = fixtures.join(name);
        let port = free_port();
        let _sushy = start_sushy_at(&bin, port, None, &tree);
        let ep = format!("http://127.0.0.1:{port}");
        let s = Strata::start(&config(&ep, "    auth: none"), &[]);
        wait(&s, &format!("a scrape of {name}"), || !lines(&s).is_empty());
        let got = readings(&lines(&s)[0]);
        let want = sensors_of(&tree);
        for ((metrics, id), v) in &want {
            let hits: Vec<f64> = metrics
                .split('|')
                .filter_map(|m| got.get(&(m.to_owned(), id.clone())).map(|r| r.0))
                .collect();
            assert_eq!(hits.len(), 1, "{name}: {metrics} {id}: {hits:?}");
            let g = hits[0];
            assert!(
                (g - v).abs() < 1e-6 * v.abs().max(1.0),
                "{name}: {id} {g} != {v}"
            );
        }
        let errors: u64 = s.counter_sum("strata_receiver_redfish_errors");
        assert_eq!(errors, 0, "{name}: {}", s.log());
        eprintln!(
            "interop redfish breadth: {name}: {} sensors each once, {} readings in all, no duplicate",
            want.len(),
            got.len()
        );
    }
}

/// TelemetryService metric reports (`telemetry_service: {enabled: true}`) on the DMTF
/// telemetry mockup served by sushy-static: every `MetricValues` entry of every report is one
/// gauge point named by its `MetricId` (else its `MetricProperty`), with its own timestamp, and
/// a report read again exports nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn interop_telemetry_service_metric_reports() {
    let Some(bin) = sushy_or_skip() else {
        return;
    };
    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/redfish/public-telemetry");
    // The expectation, from the mockup's files.
    let mut want: Vec<(String, String, f64, String)> = Vec::new();
    for e in std::fs::read_dir(tree.join("TelemetryService/MetricReports")).unwrap() {
        let path = e.unwrap().path().join("index.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let Some(values) = doc["MetricValues"].as_array() else {
            continue;
        };
        for v in values {
            let raw = v["MetricId"].as_str().unwrap_or_else(|| {
                v["MetricProperty"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
            });
            let name = format!(
                "redfish.report.{}",
                strata_receivers::redfish::reports::snake(raw)
            );
            let value: f64 = v["MetricValue"].as_str().unwrap().parse().unwrap();
            want.push((
                name,
                doc["Id"].as_str().unwrap().to_owned(),
                value,
                v["Timestamp"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(want.len() >= 20, "{}", want.len());
    let port = free_port();
    let _sushy = start_sushy_at(&bin, port, None, &tree);
    let ep = format!("http://127.0.0.1:{port}");
    let s = Strata::start(
        &config(
            &ep,
            "    auth: none\n    telemetry_service: { enabled: true }",
        ),
        &[],
    );
    wait(&s, "two scrapes", || lines(&s).len() >= 2);
    let mut got: Vec<(String, String, f64, u64)> = Vec::new();
    for m in lines(&s) {
        for rm in &m.resource_metrics {
            for sm in &rm.scope_metrics {
                for metric in &sm.metrics {
                    if !metric.name.starts_with("redfish.report.") {
                        continue;
                    }
                    let Some(Data::Gauge(g)) = &metric.data else {
                        panic!("{} is not a gauge", metric.name)
                    };
                    for p in &g.data_points {
                        let report = p
                            .attributes
                            .iter()
                            .find(|kv| kv.key == "redfish.report.id")
                            .map(|kv| text(&kv.value))
                            .unwrap();
                        let v = match p.value {
                            Some(number_data_point::Value::AsDouble(d)) => d,
                            _ => panic!("not a double"),
                        };
                        got.push((metric.name.clone(), report, v, p.time_unix_nano));
                    }
                }
            }
        }
    }
    // Every entry once (the second scrape added nothing), at its own time.
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (name, report, value, ts) in &want {
        let t = strata_receivers::redfish::reports::timestamp(ts).unwrap();
        assert!(
            got.iter()
                .any(|g| &g.0 == name && &g.1 == report && g.2 == *value && g.3 == t),
            "{name} {report} {value} {ts}"
        );
    }
    assert_eq!(
        s.counter_sum("strata_receiver_redfish_errors"),
        0,
        "{}",
        s.log()
    );
    eprintln!(
        "interop redfish telemetry: {} MetricReport values from sushy-static, each once with its timestamp",
        got.len()
    );
}

/// A DPU's BMC (the BlueField-3 layout, `tests/fixtures/redfish/dpu-bluefield3`) served by
/// sushy-static: the card (`Card1`, `ChassisType` `Card` carrying the `Bluefield` system) is
/// identified with `dpu.*` on every resource — the card, its BMC and ERoT chassis — with the
/// values of the card chassis.
#[tokio::test(flavor = "multi_thread")]
async fn interop_dpu_layout() {
    let Some(bin) = sushy_or_skip() else {
        return;
    };
    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/redfish/dpu-bluefield3");
    let port = free_port();
    let _sushy = start_sushy_at(&bin, port, None, &tree);
    let s = Strata::start(
        &config(&format!("http://127.0.0.1:{port}"), "    auth: none"),
        &[],
    );
    wait(&s, "a scrape of the DPU BMC", || !lines(&s).is_empty());
    let m = &lines(&s)[0];
    let mut chassis = Vec::new();
    for rm in &m.resource_metrics {
        let attrs: BTreeMap<String, String> = rm
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), text(&kv.value)))
            .collect();
        assert_eq!(
            attrs.get("dpu.vendor").map(String::as_str),
            Some("Nvidia"),
            "{attrs:?}"
        );
        assert_eq!(
            attrs.get("dpu.model").map(String::as_str),
            Some("Bluefield 3 SmartNIC Main Card")
        );
        assert_eq!(
            attrs.get("dpu.serial_number").map(String::as_str),
            Some("MT2334XZ0F1K")
        );
        assert_eq!(
            attrs.get("dpu.chassis.id").map(String::as_str),
            Some("Card1")
        );
        chassis.push(attrs.get("redfish.chassis.id").cloned().unwrap_or_default());
    }
    chassis.sort();
    assert_eq!(chassis, ["Bluefield_BMC", "Bluefield_ERoT", "Card1"]);
    assert_eq!(
        s.counter_sum("strata_receiver_redfish_errors"),
        0,
        "{}",
        s.log()
    );
    eprintln!(
        "interop redfish dpu: the BlueField-3 layout's 3 chassis carry the card's dpu.* attributes"
    );
}
