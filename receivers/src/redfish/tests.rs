use std::collections::BTreeMap;

use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use serde_json::Value;

use super::metrics::{self, ChassisDocs};

const MOCKUP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/redfish/public-rackmount1"
);

/// The mockup resource at a Redfish path (`/redfish/v1/Chassis/1U` → `Chassis/1U/index.json`).
fn doc(path: &str) -> Value {
    let rel = path.trim_start_matches("/redfish/v1").trim_matches('/');
    let f = format!("{MOCKUP}/{rel}/index.json");
    serde_json::from_str(&std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{f}: {e}")))
        .unwrap()
}

fn members(path: &str) -> Vec<Value> {
    doc(path)["Members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| doc(m["@odata.id"].as_str().unwrap()))
        .collect()
}

fn chassis_1u() -> ChassisDocs {
    let c = "/redfish/v1/Chassis/1U";
    ChassisDocs {
        chassis: doc(c),
        sensors: members(&format!("{c}/Sensors")),
        fans: members(&format!("{c}/ThermalSubsystem/Fans")),
        thermal_metrics: Some(doc(&format!("{c}/ThermalSubsystem/ThermalMetrics"))),
        power_supplies: members(&format!("{c}/PowerSubsystem/PowerSupplies"))
            .into_iter()
            .map(|p| {
                let m = p["Metrics"]["@odata.id"].as_str().map(doc);
                (p, m)
            })
            .collect(),
        environment: Some(doc(&format!("{c}/EnvironmentMetrics"))),
        thermal: Some(doc(&format!("{c}/Thermal"))),
        power: Some(doc(&format!("{c}/Power"))),
        component_environment: ["Processors", "Memory"]
            .iter()
            .flat_map(|k| members(&format!("/redfish/v1/Systems/437XR1138R2/{k}")))
            .filter_map(|m| {
                let e = doc(m["EnvironmentMetrics"]["@odata.id"].as_str()?);
                Some((m, e))
            })
            .collect(),
        sensors_read: Default::default(),
    }
}

/// `metric|attr=value,...` → value, for every point.
fn points(ms: &[Metric]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for m in ms {
        let dps = match m.data.as_ref().unwrap() {
            metric::Data::Gauge(g) => &g.data_points,
            metric::Data::Sum(s) => &s.data_points,
            _ => unreachable!(),
        };
        for p in dps {
            let attrs: Vec<String> = p
                .attributes
                .iter()
                .map(|kv| {
                    let v = match kv.value.as_ref().unwrap().value.as_ref().unwrap() {
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            s,
                        ) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    format!("{}={v}", kv.key)
                })
                .collect();
            let v = match p.value.unwrap() {
                number_data_point::Value::AsDouble(d) => d,
                number_data_point::Value::AsInt(i) => i as f64,
            };
            let key = format!("{}|{}", m.name, attrs.join(","));
            assert!(out.insert(key.clone(), v).is_none(), "twice: {key}");
        }
    }
    out
}

fn interpret(docs: &ChassisDocs) -> (BTreeMap<String, f64>, usize) {
    let mut r = metrics::recorder(1, 2);
    let n = metrics::interpret(&mut r, docs);
    (points(&r.finish()), n)
}

/// The value of the one point of `metric` whose `hw.id` ends with `id` (and that has `extra`
/// among its attributes), if any; panics if several match.
fn value(p: &BTreeMap<String, f64>, metric: &str, id: &str, extra: &str) -> Option<f64> {
    let hits: Vec<f64> = p
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{metric}|"))
                && k.split(',').any(|a| {
                    a.strip_prefix(&format!("{metric}|"))
                        .unwrap_or(a)
                        .strip_prefix("hw.id=")
                        .is_some_and(|v| v.ends_with(id))
                })
                && k.contains(extra)
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(hits.len() <= 1, "{metric} {id} {extra}: {hits:?}");
    hits.first().copied()
}

#[test]
fn the_metric_table_is_in_the_docs_and_the_readme() {
    crate::recorder::check_documented(
        &metrics::markdown_table(),
        include_str!("mod.rs"),
        include_str!("../../../README.md"),
    )
    .unwrap();
    assert!(
        crate::recorder::check_documented(&metrics::markdown_table(), "//! no table", "").is_err()
    );
    // Every definition is emitted from the mockup (with the systems' and chassis' status).
    let mut r = metrics::recorder(1, 2);
    metrics::interpret(&mut r, &chassis_1u());
    // The mockup's fans have only fatal thresholds (not exported); a legacy fan with more:
    metrics::interpret(
        &mut r,
        &ChassisDocs {
            chassis: serde_json::json!({"@odata.id": "/c"}),
            thermal: Some(serde_json::json!({"Fans": [{"@odata.id": "/c/t#/Fans/0",
                "Reading": 900, "ReadingUnits": "RPM", "LowerThresholdCritical": 500}]})),
            ..Default::default()
        },
    );
    let names: Vec<String> = r.finish().into_iter().map(|m| m.name).collect();
    for d in metrics::DEFS {
        assert!(
            names.iter().any(|n| n == d.name),
            "{} never emitted",
            d.name
        );
    }
}

#[test]
fn each_sensor_of_the_mockup_once_current_schema_first() {
    let (p, matched) = interpret(&chassis_1u());
    // The Sensor resource wins over its excerpts: CPU1Temp is 44 as a Sensor, 39 in
    // EnvironmentMetrics and ThermalMetrics' summary, 41 in the legacy Thermal.
    assert_eq!(
        value(&p, "hw.temperature", "/Sensors/CPU1Temp", ""),
        Some(44.0)
    );
    assert_eq!(
        value(&p, "hw.temperature", "Thermal#/Temperatures/0", ""),
        None
    );
    // Intake: legacy (25) is the same sensor as IntakeTemp (24.8, also in ThermalMetrics).
    assert_eq!(
        value(&p, "hw.temperature", "/Sensors/IntakeTemp", ""),
        Some(24.8)
    );
    assert_eq!(
        value(&p, "hw.temperature", "Thermal#/Temperatures/2", ""),
        None
    );
    // PowerControl (344 W) is the chassis power, TotalPower (374 W) — also EnvironmentMetrics.
    assert_eq!(
        value(&p, "hw.power", "/Sensors/TotalPower", ""),
        Some(374.0)
    );
    assert_eq!(value(&p, "hw.power", "Power#/PowerControl/0", ""), None);
    // The legacy power supply is PowerSubsystem's Bay1 (the only present supply on each side).
    assert_eq!(value(&p, "hw.power", "Power#/PowerSupplies/0", ""), None);
    // The chassis has ThermalSubsystem and PowerSubsystem: nothing of legacy Thermal and
    // Power is read, not even members with no current twin (the backplane fans and the VRM
    // voltages), so a fan never gets a second series under a legacy id (issue 22, rule 2).
    assert_eq!(matched, 0);
    assert!(
        !p.keys()
            .any(|k| k.contains("Thermal#/") || k.contains("Power#/")),
        "{:?}",
        p.keys().filter(|k| k.contains('#')).collect::<Vec<_>>()
    );
    // A fan's percent Sensor and its RPM excerpt share the sensor's hw.id; the fan is the parent.
    assert_eq!(
        value(&p, "hw.fan.speed_ratio", "/Sensors/FanBay1", ""),
        Some(0.45)
    );
    assert_eq!(
        value(
            &p,
            "hw.fan.speed",
            "/Sensors/FanBay1",
            "hw.parent=/redfish/v1/Chassis/1U/ThermalSubsystem/Fans/Bay1"
        ),
        Some(2200.0)
    );
    // Energy in joules; the Sensor (7855 kWh) wins over PowerSupplyMetrics' excerpt (325675).
    assert_eq!(
        value(&p, "hw.energy", "/Sensors/PS1Energy", ""),
        Some(7855.0 * 3.6e6)
    );
    // Absent PS2: none of its 11 sensors, null readings are not zeros.
    assert!(
        !p.keys().any(|k| k.contains("/Sensors/PS2")),
        "PS2 is absent"
    );
    // Disabled CPU2 Temp without a reading: neither a reading nor limits.
    assert!(!p.keys().any(|k| k.contains("Temperatures/1")));
    // Health: CPU1Temp is Warning → degraded.
    assert_eq!(
        value(&p, "hw.status", "/Sensors/CPU1Temp", "hw.state=degraded"),
        Some(1.0)
    );
    assert_eq!(
        value(&p, "hw.status", "/Sensors/CPU1Temp", "hw.state=ok"),
        Some(0.0)
    );
    // Sensor thresholds: caution → degraded, critical → critical.
    assert_eq!(
        value(
            &p,
            "hw.temperature.limit",
            "/Sensors/CPU1Temp",
            "high.degraded"
        ),
        Some(42.0)
    );
    assert_eq!(
        value(
            &p,
            "hw.temperature.limit",
            "/Sensors/CPU1Temp",
            "high.critical"
        ),
        Some(45.0)
    );
}

#[test]
fn a_bmc_with_only_the_legacy_resources() {
    let full = chassis_1u();
    let docs = ChassisDocs {
        chassis: full.chassis,
        thermal: full.thermal,
        power: full.power,
        ..Default::default()
    };
    let (p, matched) = interpret(&docs);
    assert_eq!(matched, 0);
    assert_eq!(
        value(&p, "hw.temperature", "Thermal#/Temperatures/0", ""),
        Some(41.0)
    );
    assert_eq!(
        value(&p, "hw.temperature", "Thermal#/Temperatures/2", ""),
        Some(25.0)
    );
    assert_eq!(
        value(
            &p,
            "hw.temperature.limit",
            "Thermal#/Temperatures/2",
            "low.critical"
        ),
        Some(5.0)
    );
    assert_eq!(
        value(&p, "hw.power", "Power#/PowerControl/0", ""),
        Some(344.0)
    );
    assert_eq!(
        value(&p, "hw.power", "Power#/PowerSupplies/0", ""),
        Some(325.0)
    );
    assert_eq!(
        value(
            &p,
            "hw.voltage",
            "Power#/PowerSupplies/0/LineInputVoltage",
            ""
        ),
        Some(120.0)
    );
    assert_eq!(
        value(&p, "hw.power_supply.limit", "Power#/PowerSupplies/0", "max"),
        Some(800.0)
    );
    assert_eq!(
        value(
            &p,
            "hw.status",
            "Power#/PowerSupplies/0",
            "hw.state=degraded"
        ),
        Some(1.0)
    );
    assert_eq!(
        p.keys()
            .filter(|k| k.starts_with("hw.temperature|"))
            .count(),
        2
    );
}

#[test]
fn nulls_wrong_shapes_and_unknown_types_are_skipped_not_zero() {
    let docs = ChassisDocs {
        chassis: serde_json::json!({"@odata.id": "/c"}),
        sensors: vec![
            serde_json::json!({"@odata.id": "/c/s/a", "ReadingType": "Temperature", "Reading": null}),
            serde_json::json!({"@odata.id": "/c/s/b", "ReadingType": "Temperature", "Reading": "hot"}),
            serde_json::json!({"@odata.id": "/c/s/c", "ReadingType": "AirFlowCMM", "Reading": 40}),
            serde_json::json!({"ReadingType": "Temperature", "Reading": 30}),
            serde_json::json!([1, 2]),
            serde_json::json!({"@odata.id": "/c/s/d", "ReadingUnits": "Cel", "Reading": 30.5, "Thresholds": 7}),
        ],
        fans: vec![serde_json::json!({"@odata.id": "/c/f", "SpeedPercent": "fast"})],
        thermal: Some(serde_json::json!({"Temperatures": {"not": "an array"}, "Fans": [null, 3]})),
        power: Some(
            serde_json::json!({"Voltages": [{"ReadingVolts": null}], "PowerSupplies": "x"}),
        ),
        environment: Some(serde_json::json!({"TemperatureCelsius": {"Reading": null}})),
        ..Default::default()
    };
    let (p, _) = interpret(&docs);
    let readings: Vec<&String> = p.keys().filter(|k| !k.starts_with("hw.status")).collect();
    assert_eq!(readings.len(), 1, "{readings:?}");
    assert_eq!(value(&p, "hw.temperature", "/c/s/d", ""), Some(30.5));
}

mod config {
    use strata_pipelines::config::parse_component;

    use super::super::{Auth, Config, Resource};

    fn parse(y: &str) -> Result<Config, String> {
        parse_component::<Config>("receivers::redfish", serde_yaml_ng::from_str(y).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_servers() {
        let c = parse("{}").unwrap();
        assert_eq!(c, Config::default());
        assert!(c.servers().is_empty(), "no endpoint: idle");
        assert_eq!(c.resources.len(), 5);
        let c = parse(
            "endpoint: https://bmc:443/\nusername: u\npassword: p\nservers:\n  - endpoint: http://dpu-bmc:8000\n    auth: none\n    chassis_id: [Card1]",
        )
        .unwrap();
        let s = c.servers();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].endpoint, "https://bmc:443");
        assert_eq!(
            s[0].auth,
            Auth::Auto,
            "credentials default to auto (a session where it works)"
        );
        assert_eq!(s[0].credentials, Some(("u".into(), "p".into())));
        assert_eq!(s[1].auth, Auth::None);
        assert_eq!(s[1].chassis_id, vec!["Card1".to_string()]);
        // An empty endpoint (unset environment variable in a profile) disables the shorthand.
        let c = parse("endpoint: ''\nusername: ''\npassword: ''").unwrap();
        assert!(c.servers().is_empty());
        let c = parse("endpoint: http://b\nresources: [sensors, status]").unwrap();
        assert!(c.reads(Resource::Sensors) && !c.reads(Resource::Thermal));
    }

    #[test]
    fn errors_name_their_path() {
        for (y, path) in [
            ("bogus: 1", "receivers::redfish"),
            ("endpoint: bmc:443", "receivers::redfish::endpoint"),
            (
                "endpoint: https://bmc/redfish/v1",
                "receivers::redfish::endpoint",
            ),
            (
                "endpoint: https://b\nusername: u",
                "receivers::redfish::password",
            ),
            (
                "endpoint: https://b\nauth: basic",
                "receivers::redfish::auth",
            ),
            ("username: u\npassword: p", "receivers::redfish::endpoint"),
            (
                "servers: [{endpoint: 'ftp://x'}]",
                "receivers::redfish::servers::0::endpoint",
            ),
            (
                "servers: [{endpoint: 'https://x', nope: 1}]",
                "receivers::redfish",
            ),
            (
                "endpoint: https://b\ntimeout: 0s",
                "receivers::redfish::timeout",
            ),
            (
                "endpoint: https://b\ncollection_interval: 0s",
                "receivers::redfish::collection_interval",
            ),
            (
                "endpoint: https://b\nmax_concurrency: 0",
                "receivers::redfish::max_concurrency",
            ),
            (
                "endpoint: https://b\nresources: []",
                "receivers::redfish::resources",
            ),
            (
                "endpoint: https://b\nresources: [disks]",
                "receivers::redfish",
            ),
            ("endpoint: https://b\nauth: kerberos", "receivers::redfish"),
            (
                "endpoint: https://b\ntls: {ca_file: /nonexistent.pem}",
                "receivers::redfish::tls::ca_file",
            ),
        ] {
            let e = parse(y).expect_err(y);
            assert!(e.contains(path), "{y}: {e}");
        }
    }

    #[test]
    fn the_documented_config_loads() {
        let y = include_str!("testdata/config.yaml");
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(y).unwrap();
        for (k, c) in v["receivers"].as_mapping().unwrap() {
            parse_component::<Config>(&format!("receivers::{}", k.as_str().unwrap()), c.clone())
                .unwrap_or_else(|e| panic!("{k:?}: {e}"));
        }
    }
}

/// A copy of a Sensor held by another chassis (the processor's EnvironmentMetrics, attached to
/// the first chassis linking the system) is not exported: the Sensor resource is, by its own
/// chassis, with its own reading. Without the Sensor anywhere, the copy is the only reading.
#[test]
fn a_copy_never_stands_in_for_a_sensor_read_elsewhere() {
    let full = chassis_1u();
    let cpu_power = "/redfish/v1/Chassis/1U/Sensors/CPU1Power";
    let other = ChassisDocs {
        chassis: serde_json::json!({"@odata.id": "/redfish/v1/Chassis/Rack"}),
        component_environment: full.component_environment.clone(),
        sensors_read: std::sync::Arc::new([cpu_power.to_owned()].into_iter().collect()),
        ..Default::default()
    };
    let (p, _) = interpret(&other);
    assert_eq!(value(&p, "hw.power", "/Sensors/CPU1Power", ""), None);
    let alone = ChassisDocs {
        sensors_read: Default::default(),
        ..other
    };
    let (p, _) = interpret(&alone);
    assert_eq!(value(&p, "hw.power", "/Sensors/CPU1Power", ""), Some(12.87));
}
