use std::path::PathBuf;

use strata_pipelines::config::{parse, parse_component};
use strata_pipelines::storage::{Fsync, WhenFull};
use strata_pipelines::{ExtensionFactory, Host, Kind, Settings};

use super::*;

fn yaml(s: &str) -> YamlValue {
    serde_yaml_ng::from_str(s).unwrap()
}

#[test]
fn config_defaults_testdata_and_errors() {
    assert_eq!(parse::<Config>("e", yaml("{}")).unwrap(), Config::default());
    let c = parse_component::<Config>("e", yaml(include_str!("testdata/config.yaml"))).unwrap();
    assert_eq!(c.directory, PathBuf::from("/var/lib/strata/queue"));
    assert_eq!(c.fsync, Fsync::Always);
    assert_eq!(c.max_size, 256 << 20);
    assert_eq!(c.segment_size, 8 << 20);
    assert_eq!(c.when_full, WhenFull::DropOldest);
    let e = parse_component::<Config>("e", yaml("fsync: sometimes")).unwrap_err();
    assert_eq!(e.path, "e::fsync");
    // The Collector's boolean spelling: true syncs every write, false never (bbolt NoSync).
    for (v, f) in [("true", Fsync::Always), ("false", Fsync::Never)] {
        let c = parse_component::<Config>("e", yaml(&format!("directory: /tmp\nfsync: {v}")));
        assert_eq!(c.unwrap().fsync, f, "{v}");
    }
    let e = parse_component::<Config>("e", yaml("max_size: 1MiB")).unwrap_err();
    assert_eq!(e.path, "e::max_size");
    let e = parse_component::<Config>("e", yaml("max_size: lots")).unwrap_err();
    assert!(e.message.contains("invalid size"), "{e}");
    let e = parse_component::<Config>("e", yaml("directry: /x")).unwrap_err();
    assert!(e.message.contains("unknown key \"directry\""), "{e}");
}

#[tokio::test]
async fn start_creates_the_directory_or_says_why_not() {
    let tmp = tempfile::tempdir().unwrap();
    let set = |id: &str| Settings {
        kind: Kind::Extension,
        id: id.parse().unwrap(),
        telemetry: Default::default(),
    };
    let dir = tmp.path().join("a/b");
    let ext = Factory
        .create(
            set("file_storage"),
            yaml(&format!("directory: {}", dir.display())),
        )
        .unwrap();
    ext.start(&Host::default()).await.unwrap();
    assert!(dir.is_dir());
    let storage = ext.storage().unwrap();
    assert_eq!(storage.directory, dir);
    let missing = tmp.path().join("missing");
    let ext = Factory
        .create(
            set("file_storage/b"),
            yaml(&format!(
                "{{directory: {}, create_directory: false}}",
                missing.display()
            )),
        )
        .unwrap();
    let err = ext.start(&Host::default()).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
