//! The `resource` processor on all three signals, and its config.

use strata_pipelines::proto::tonic::common::v1::{KeyValue, any_value::Value as Av};
use strata_pipelines::testing::fake;
use strata_pipelines::{
    Logs, Metrics, Process, SignalData, Traces, YamlValue, config::parse_component,
};

use super::{Config, ResourceProcessor};
use crate::actions::Actions;

fn processor(yaml: &str) -> Result<ResourceProcessor, String> {
    let v: YamlValue = serde_yaml_ng::from_str(yaml).unwrap();
    let c = parse_component::<Config>("processors::resource", v).map_err(|e| e.to_string())?;
    let a = Actions::compile(&c.attributes, "processors::resource::attributes")
        .map_err(|e| e.to_string())?;
    Ok(ResourceProcessor(std::sync::Arc::new(a)))
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Av::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        }
    })
}

const ACTIONS: &str = "attributes:
  - {key: k8s.cluster.name, value: prod, action: upsert}
  - {key: svc, from_attribute: service.name, action: insert}
  - {key: service.name, action: delete}
";

fn check<T: SignalData>(mut data: T, items: usize) {
    let p = processor(ACTIONS).unwrap();
    // One batch without a resource at all: it gets one.
    for r in data.resources_mut().take(1) {
        *r = None;
    }
    let mut out = Process::<T>::process(&p, data).unwrap().unwrap();
    assert_eq!(out.item_count(), items, "nothing is dropped");
    let mut n = 0;
    for (i, r) in out.resources_mut().enumerate() {
        let attrs = &r
            .as_ref()
            .expect("every resource slot is filled")
            .attributes;
        assert_eq!(text(attrs, "k8s.cluster.name").as_deref(), Some("prod"));
        assert_eq!(text(attrs, "service.name"), None);
        if i == 0 {
            assert_eq!(text(attrs, "svc"), None, "no service.name to copy");
        } else {
            assert_eq!(text(attrs, "svc"), Some(format!("svc-{i}")));
        }
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn edits_every_resource_of_every_signal() {
    let t: Traces = fake::traces(2, 3);
    check(t, 6);
    let m: Metrics = fake::metrics(2, 2, 3);
    let items = m.item_count();
    check(m, items);
    let l: Logs = fake::logs(2, 3);
    check(l, 6);
}

#[test]
fn config_default_unknown_fields_and_validation() {
    assert_eq!(
        processor("{}").err().unwrap(),
        "processors::resource::attributes: at least one action is required"
    );
    assert!(processor("attributes: []\nnope: 1").is_err());
    let e = processor("attributes: [{key: a, action: insert}]")
        .err()
        .unwrap();
    assert!(
        e.contains("processors::resource::attributes::0::value"),
        "{e}"
    );
}

#[test]
fn the_collector_documentation_configs_load() {
    let y = include_str!("testdata/config.yaml");
    let v: YamlValue = serde_yaml_ng::from_str(y).unwrap();
    for (k, c) in v["processors"].as_mapping().unwrap() {
        let path = format!("processors::{}", k.as_str().unwrap());
        let c = parse_component::<Config>(&path, c.clone()).unwrap_or_else(|e| panic!("{e}"));
        Actions::compile(&c.attributes, &path).unwrap();
    }
}
