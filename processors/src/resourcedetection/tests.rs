//! The `resourcedetection` processor: each detector against a fake root and environment,
//! precedence, `override`, attribute switches, every signal, and the config.

use std::collections::HashMap;
use std::path::Path;

use strata_pipelines::proto::tonic::common::v1::{KeyValue, any_value::Value as Av};
use strata_pipelines::testing::fake;
use strata_pipelines::{
    Logs, Metrics, Process, SignalData, Traces, YamlValue, config::parse_component,
};

use super::detect::{self, parse_resource_attributes};
use super::{Config, ResourceDetectionProcessor};

fn config(y: &str) -> Result<Config, String> {
    let v: YamlValue = serde_yaml_ng::from_str(y).unwrap();
    parse_component::<Config>("processors::resourcedetection", v).map_err(|e| e.to_string())
}

fn pairs(attrs: &[KeyValue]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Av::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A fake host root: hostname, machine-id, os-release, kernel release, and a BlueField-like
/// DMI (values as a BlueField-2 DPU reports them).
fn fake_root() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "proc/sys/kernel/hostname", "dpu-07\n");
    write(r, "proc/sys/kernel/osrelease", "5.15.0-1035-bluefield\n");
    write(r, "etc/machine-id", "4b1d0c6f2a3e4f5a9b8c7d6e5f4a3b2c\n");
    write(
        r,
        "etc/os-release",
        "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\n",
    );
    write(
        r,
        "sys/class/dmi/id/sys_vendor",
        "https://www.mellanox.com\n",
    );
    write(
        r,
        "sys/class/dmi/id/product_name",
        "BlueField-2 DPU 25GbE Dual-Port SFP56\n",
    );
    write(
        r,
        "sys/class/dmi/id/product_serial",
        "To be filled by O.E.M.\n",
    );
    write(r, "sys/class/dmi/id/board_serial", "MT2109X06283\n");
    d
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

const DOWNWARD_API: &[(&str, &str)] = &[
    ("K8S_POD_NAME", "strata-abc12"),
    ("K8S_POD_UID", "0f0e0d0c-0000-4000-8000-000000000001"),
    ("K8S_NAMESPACE", "observability"),
    ("K8S_NODE_NAME", "worker-3"),
    ("K8S_CLUSTER_NAME", "edge-1"),
];

#[test]
fn system_detector_reads_the_host_under_root_path() {
    let root = fake_root();
    let c = config(&format!(
        "detectors: [system]\nsystem: {{root_path: {}}}",
        root.path().display()
    ))
    .unwrap();
    let got = pairs(&detect::detect(&c, &env(&[])));
    let arch = detect::host_arch(std::env::consts::ARCH).to_string();
    assert_eq!(
        got,
        [
            ("host.name".into(), "dpu-07".into()),
            ("host.id".into(), "4b1d0c6f2a3e4f5a9b8c7d6e5f4a3b2c".into()),
            ("host.arch".into(), arch),
            ("os.type".into(), "linux".into()),
            (
                "os.description".into(),
                "Ubuntu 22.04.3 LTS (Linux 5.15.0-1035-bluefield)".into()
            ),
            ("os.version".into(), "22.04".into()),
        ]
    );
    // Switched-off attributes are not set; a root without files sets only the build facts.
    let c = config(&format!(
        "detectors: [system]\nsystem: {{root_path: {}, resource_attributes: {{host.id: {{enabled: false}}, os.type: {{enabled: false}}}}}}",
        root.path().display()
    ))
    .unwrap();
    let keys: Vec<_> = pairs(&detect::detect(&c, &env(&[])))
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(
        keys,
        ["host.name", "host.arch", "os.description", "os.version"]
    );
    let empty = tempfile::tempdir().unwrap();
    let c = config(&format!(
        "detectors: [system]\nsystem: {{root_path: {}}}",
        empty.path().display()
    ))
    .unwrap();
    let keys: Vec<_> = pairs(&detect::detect(&c, &env(&[])))
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(keys, ["host.arch", "os.type"]);
}

#[test]
fn the_real_host_is_detected_with_the_default_root() {
    let c = config("detectors: [system]").unwrap();
    let got = pairs(&detect::detect(&c, &env(&[])));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        got.contains(&("host.name".into(), host.trim().into())),
        "{got:?}"
    );
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        assert!(
            got.contains(&("host.id".into(), id.trim().into())),
            "{got:?}"
        );
    }
}

#[test]
fn dpu_detector_skips_placeholders_and_takes_config_overrides() {
    let root = fake_root();
    let c = config(&format!(
        "detectors: [dpu]\ndpu: {{root_path: {}}}",
        root.path().display()
    ))
    .unwrap();
    assert_eq!(
        pairs(&detect::detect(&c, &env(&[]))),
        [
            ("dpu.vendor".into(), "https://www.mellanox.com".into()),
            (
                "dpu.model".into(),
                "BlueField-2 DPU 25GbE Dual-Port SFP56".into()
            ),
            ("dpu.serial_number".into(), "MT2109X06283".into()),
        ],
        "the placeholder product_serial falls back to board_serial"
    );
    let c = config(&format!(
        "detectors: [dmi]\ndmi: {{root_path: {}, vendor: NVIDIA, name: dpu-a, resource_attributes: {{dpu.model: {{enabled: false}}}}}}",
        root.path().display()
    ))
    .unwrap();
    assert_eq!(
        pairs(&detect::detect(&c, &env(&[]))),
        [
            ("dpu.vendor".into(), "NVIDIA".into()),
            ("dpu.serial_number".into(), "MT2109X06283".into()),
            ("dpu.name".into(), "dpu-a".into()),
        ]
    );
}

#[test]
fn k8s_env_and_k8snode_detectors_read_the_environment() {
    let c = config("detectors: [k8s]").unwrap();
    assert_eq!(
        pairs(&detect::detect(&c, &env(DOWNWARD_API))),
        [
            ("k8s.pod.name".into(), "strata-abc12".into()),
            (
                "k8s.pod.uid".into(),
                "0f0e0d0c-0000-4000-8000-000000000001".into()
            ),
            ("k8s.namespace.name".into(), "observability".into()),
            ("k8s.node.name".into(), "worker-3".into()),
            ("k8s.cluster.name".into(), "edge-1".into()),
        ]
    );
    let c = config("detectors: [k8s]\nk8s: {env_vars: {k8s.pod.name: MY_POD}}").unwrap();
    assert_eq!(
        pairs(&detect::detect(
            &c,
            &env(&[("MY_POD", "p"), ("K8S_NAMESPACE", "")])
        )),
        [("k8s.pod.name".into(), "p".into())],
        "renamed variable; empty variables set nothing"
    );
    let c = config(
        "detectors: [k8snode]\nk8snode: {node_from_env_var: NODE, auth_type: serviceAccount}",
    )
    .unwrap();
    assert_eq!(
        pairs(&detect::detect(&c, &env(&[("NODE", "n1")]))),
        [("k8s.node.name".into(), "n1".into())]
    );
    let c = config("detectors: [env]").unwrap();
    assert_eq!(
        pairs(&detect::detect(
            &c,
            &env(&[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=a%2Cb, team = storage ,x=%E2%9C%93"
            )])
        )),
        [
            ("service.name".into(), "a,b".into()),
            ("team".into(), "storage".into()),
            ("x".into(), "✓".into()),
        ]
    );
    for bad in ["a=1,b", "=1", "a=%zz", "a=%ff"] {
        assert!(parse_resource_attributes(bad).is_err(), "{bad}");
        assert!(
            detect::detect(&c, &env(&[("OTEL_RESOURCE_ATTRIBUTES", bad)])).is_empty(),
            "{bad} is discarded whole"
        );
    }
}

#[test]
fn the_first_detector_wins_and_override_decides_about_existing_attributes() {
    let e = env(&[
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "k8s.node.name=from-env,service.name=env-svc",
        ),
        ("K8S_NODE_NAME", "worker-3"),
    ]);
    let c = config("detectors: [env, k8s]").unwrap();
    let got = pairs(&detect::detect(&c, &e));
    assert!(got.contains(&("k8s.node.name".into(), "from-env".into())));
    let c = config("detectors: [k8s, env]").unwrap();
    let got = pairs(&detect::detect(&c, &e));
    assert!(got.contains(&("k8s.node.name".into(), "worker-3".into())));

    for (override_, want) in [("true", "env-svc"), ("false", "svc-0")] {
        let c = config(&format!("detectors: [env]\noverride: {override_}")).unwrap();
        let p = ResourceDetectionProcessor::new(&c, &e);
        let out = Process::<Traces>::process(&p, fake::traces(1, 1))
            .unwrap()
            .unwrap();
        let res = pairs(&out.resource_spans[0].resource.as_ref().unwrap().attributes);
        assert!(
            res.contains(&("service.name".into(), want.into())),
            "{override_}: {res:?}"
        );
        assert!(res.contains(&("k8s.node.name".into(), "from-env".into())));
        assert_eq!(res.iter().filter(|p| p.0 == "service.name").count(), 1);
    }
}

fn check_all<T: SignalData>(
    p: &ResourceDetectionProcessor,
    mut data: T,
    want: &[(String, String)],
) {
    let items = data.item_count();
    for r in data.resources_mut().take(1) {
        *r = None;
    }
    let mut out = Process::<T>::process(p, data).unwrap().unwrap();
    assert_eq!(out.item_count(), items);
    let mut n = 0;
    for r in out.resources_mut() {
        let got = pairs(&r.as_ref().unwrap().attributes);
        for w in want {
            assert!(got.contains(w), "{w:?} missing from {got:?}");
        }
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn every_resource_of_every_signal_carries_the_k8s_and_dpu_identity() {
    let root = fake_root();
    let c = config(&format!(
        "detectors: [k8s, dpu]\ndpu: {{root_path: {}}}",
        root.path().display()
    ))
    .unwrap();
    let p = ResourceDetectionProcessor::new(&c, &env(DOWNWARD_API));
    let want = pairs(p.detected());
    assert_eq!(want.len(), 8);
    check_all::<Traces>(&p, fake::traces(2, 2), &want);
    check_all::<Metrics>(&p, fake::metrics(2, 2, 2), &want);
    check_all::<Logs>(&p, fake::logs(2, 2), &want);
}

#[test]
fn config_default_unknown_fields_and_each_validation_error() {
    let c = config("detectors: [env]").unwrap();
    assert!(c.override_);
    assert_eq!(c.timeout, std::time::Duration::from_secs(2));
    let cases = [
        (
            "{}",
            "processors::resourcedetection::detectors: at least one detector",
        ),
        ("detectors: [gcp]", "unknown detector type \"gcp\""),
        ("detectors: [env]\nnope: 1", "unknown key \"nope\""),
        (
            "detectors: [system]\nsystem: {hostname_sources: [dns]}",
            "processors::resourcedetection::system::hostname_sources::0: unsupported hostname source",
        ),
        (
            "detectors: [system]\nsystem: {resource_attributes: {host.cpu.family: {enabled: true}}}",
            "processors::resourcedetection::system::resource_attributes::host.cpu.family: unknown attribute",
        ),
        (
            "detectors: [k8s]\nk8s: {env_vars: {k8s.pod.ip: X}}",
            "processors::resourcedetection::k8s::env_vars::k8s.pod.ip: unknown attribute",
        ),
        (
            "detectors: [dmi]\ndmi: {resource_attributes: {dpu.color: {enabled: false}}}",
            "processors::resourcedetection::dmi::resource_attributes::dpu.color: unknown attribute",
        ),
        (
            "detectors: [dpu]\ndpu: {vendor: a}\ndmi: {vendor: b}",
            "processors::resourcedetection::dmi: give either",
        ),
        (
            "detectors: [dpu]\ndpu: {serial: x}",
            "unknown key \"serial\"",
        ),
    ];
    for (y, want) in cases {
        let e = config(y).err().unwrap_or_else(|| panic!("{y} loaded"));
        assert!(e.contains(want), "{y}: {e}");
    }
}

#[test]
fn the_collector_documentation_configs_load() {
    let v: YamlValue = serde_yaml_ng::from_str(include_str!("testdata/config.yaml")).unwrap();
    for (k, c) in v["processors"].as_mapping().unwrap() {
        let path = format!("processors::{}", k.as_str().unwrap());
        parse_component::<Config>(&path, c.clone()).unwrap_or_else(|e| panic!("{e}"));
    }
}
