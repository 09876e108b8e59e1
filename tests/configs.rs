//! Every shipped deployment profile (`configs/*.yaml`) loads and validates, and
//! `strata validate` reports each class of config error with its YAML path and a non-zero exit.

use std::process::Command;

fn strata(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Starts `strata --config <path>` with `env` and waits until it says it is ready (its
/// listeners bound, its components started), then stops it with SIGTERM.
fn starts(path: &std::path::Path, env: &[(&str, &str)]) {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.args(["--config", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("everything is ready") {
                let _ = tx.send(Ok(seen.clone()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    let ready = rx.recv_timeout(std::time::Duration::from_secs(20));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    match ready {
        Ok(Ok(_)) => {}
        Ok(Err(log)) => panic!("{}: validates but does not start:\n{log}", path.display()),
        Err(_) => panic!("{}: not ready within 20 s", path.display()),
    }
}

/// The corpus of real Collector configs (tests/fixtures/collector-configs, sources in its
/// README): each validates, or fails only on component types Strata does not have and on the
/// refusals `EXPECTED` lists with the reason the Collector refuses them too. Every refusal of a
/// shared component is therefore a decision on record, not an accident.
#[test]
fn real_collector_configs_load_unchanged() {
    let dir = std::path::Path::new("tests/fixtures/collector-configs");
    let expected: Vec<(String, String)> = std::fs::read_to_string(dir.join("EXPECTED"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split(" | ");
            (f.next().unwrap().to_owned(), f.next().unwrap().to_owned())
        })
        .collect();
    // `ENV`: the environment a config's own deployment gives it (`<file> | VAR=value`).
    let env_lines = std::fs::read_to_string(dir.join("ENV")).unwrap();
    let env_of = |file: &str| -> Vec<(String, String)> {
        env_lines
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once(" | "))
            .filter(|(f, _)| *f == file)
            .filter_map(|(_, kv)| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    // Issue 28: at least 30 configs from at least 10 public sources (README lists each).
    assert!(files.len() >= 30, "{} configs: {files:?}", files.len());
    let mut used = 0;
    let mut loaded = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let env = env_of(&name);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (ok, out) = strata(&["validate", "--config", path.to_str().unwrap()], &env);
        if ok {
            // A config of shipped types only must also start, as the user would run it.
            starts(path, &env);
            loaded += 1;
            continue;
        }
        let errors: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(": ") && !l.starts_with("invalid config"))
            .collect();
        assert!(
            !errors.is_empty(),
            "{name}: refused without an error line:\n{out}"
        );
        for e in errors {
            let other_type = e.contains(" type \"")
                && [
                    "receiver",
                    "processor",
                    "exporter",
                    "extension",
                    "connector",
                    "scraper",
                    "detector",
                ]
                .iter()
                .any(|k| e.contains(&format!(": unknown {k} type ")));
            let listed = expected
                .iter()
                .any(|(file, text)| *file == name && e.contains(text.as_str()));
            used += usize::from(listed);
            assert!(
                other_type || listed,
                "{name}: refused for something other than a missing component type:\n{e}\n\n{out}"
            );
        }
    }
    assert_eq!(used, expected.len(), "every EXPECTED refusal still happens");
    eprintln!(
        "collector configs: {} files, {loaded} load as they are, the rest fail only on component types Strata lacks or on {used} refusals on record",
        files.len()
    );
}

#[test]
fn every_profile_validates() {
    for entry in std::fs::read_dir("configs").unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue; // configs/secure, configs/overlays: overlays, validated with their profiles.
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.matches('.').count() > 1 {
            continue; // An overlay (`dpu.upstream.yaml`), validated with its base below.
        }
        let (ok, out) = strata(&["validate", "--config", path.to_str().unwrap()], &[]);
        assert!(ok, "{name}: {out}");
        let profile = name.trim_end_matches(".yaml");
        let (ok, out) = strata(&["validate", "--profile", profile], &[]);
        assert!(ok, "profile {profile}: {out}");
    }
    // The cluster profile with its Zipkin overlay.
    let (ok, out) = strata(
        &[
            "validate",
            "--config",
            "configs/cluster.yaml",
            "--config",
            "configs/cluster.zipkin.yaml",
        ],
        &[],
    );
    assert!(ok, "{out}");
    // The dpu profile with its SPDK traces overlay.
    let (ok, out) = strata(
        &[
            "validate",
            "--config",
            "configs/dpu.yaml",
            "--config",
            "configs/dpu.spdk-traces.yaml",
        ],
        &[],
    );
    assert!(ok, "{out}");
    // The node profile on a KVM host: explicitly, and by STRATA_LIBVIRT_URI.
    let (ok, out) = strata(
        &[
            "validate",
            "--config",
            "configs/node.yaml",
            "--config",
            "configs/node.kvm.yaml",
        ],
        &[],
    );
    assert!(ok, "{out}");
    let (ok, out) = strata(
        &["--profile", "node", "--print-config"],
        &[("STRATA_LIBVIRT_URI", "qemu+ssh://kvm-1/system")],
    );
    assert!(
        ok && out.contains("node.kvm.yaml")
            && out.contains("uri: qemu+ssh://kvm-1/system")
            && out.contains("- libvirt"),
        "{out}"
    );
    let (ok, out) = strata(
        &["validate", "--profile", "node"],
        &[("STRATA_LIBVIRT_URI", "qemu:///system")],
    );
    assert!(ok, "{out}");
    // The dpu profile with its upstream overlay.
    let (ok, out) = strata(&["validate"], &[("STRATA_UPSTREAM", "collector:4317")]);
    assert!(ok, "{out}");
    let (ok, out) = strata(
        &[
            "validate",
            "--config",
            "configs/dpu.yaml",
            "--config",
            "configs/dpu.upstream.yaml",
        ],
        &[("STRATA_UPSTREAM", "collector:4317")],
    );
    assert!(ok, "{out}");
}

/// Validates `BASE` merged with `extra` (two `--config` files, as users layer them).
fn validate_text(extra: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.yaml");
    let over = dir.path().join("extra.yaml");
    std::fs::write(&base, BASE).unwrap();
    std::fs::write(&over, extra).unwrap();
    strata(
        &[
            "validate",
            "--config",
            base.to_str().unwrap(),
            "--config",
            over.to_str().unwrap(),
        ],
        &[],
    )
}

const BASE: &str = r#"
receivers:
  otlp:
    protocols: { grpc: { endpoint: "127.0.0.1:0" } }
  hostmetrics:
    scrapers: { cpu: }
processors:
  batch:
exporters:
  debug:
"#;

#[test]
fn validate_reports_each_error_with_its_path() {
    let cases: &[(&str, &str)] = &[
        (
            "exporters:\n  kafka: {}\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [kafka]}\n",
            "exporters::kafka: unknown exporter type \"kafka\"",
        ),
        (
            "processors:\n  batch:\n    send_batch_sise: 10\nservice:\n  pipelines:\n    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}\n",
            "processors::batch::send_batch_sise: unknown key \"send_batch_sise\"",
        ),
        (
            "service:\n  pipelines:\n    traces: {receivers: [otlp], processors: [memory_limiter], exporters: [debug]}\n",
            "service::pipelines::traces::processors[0]: references processor \"memory_limiter\" which is not configured",
        ),
        (
            "service:\n  pipelines:\n    traces: {receivers: [hostmetrics], exporters: [debug]}\n",
            "service::pipelines::traces::receivers[0]: receiver \"hostmetrics\" does not support the traces signal",
        ),
        (
            "processors:\n  batch:\n    timeout: 5 fortnights\nservice:\n  pipelines:\n    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}\n",
            "processors::batch::timeout:",
        ),
        (
            "exporters:\n  otlp:\n    endpoint: ${env:STRATA_TEST_SURELY_UNSET}\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [otlp]}\n",
            "exporters::otlp::endpoint: environment variable STRATA_TEST_SURELY_UNSET is not set",
        ),
    ];
    for (extra, expected) in cases {
        let (ok, out) = validate_text(extra);
        assert!(!ok, "expected failure for:\n{extra}\ngot: {out}");
        assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
    }
}

#[test]
fn validate_reports_all_errors_at_once() {
    let (ok, out) = validate_text(
        "exporters:\n  nope: {}\nservice:\n  pipelines:\n    traces: {receivers: [hostmetrics], exporters: [missing]}\n",
    );
    assert!(!ok);
    assert!(out.contains("exporters::nope"), "{out}");
    assert!(out.contains("receivers[0]"), "{out}");
    assert!(
        out.contains("exporters[0]: references exporter \"missing\""),
        "{out}"
    );
}

#[test]
fn components_lists_types_and_signals() {
    let (ok, out) = strata(&["components"], &[]);
    assert!(ok);
    for t in [
        "otlp",
        "hostmetrics",
        "batch",
        "otlp_http",
        "otlp_grpc",
        "debug",
        "file",
    ] {
        assert!(out.contains(t), "{t} missing from:\n{out}");
    }
    // Aligned: every type's signals start in the same column.
    let starts: std::collections::BTreeSet<usize> = out
        .lines()
        .filter(|l| l.starts_with("  ") && (l.contains("traces") || l.contains("metrics")))
        .map(|l| {
            let name_end = 2 + l[2..].find(' ').unwrap();
            name_end + l[name_end..].find(|c: char| c != ' ').unwrap()
        })
        .collect();
    assert_eq!(starts.len(), 1, "signals in more than one column:\n{out}");
    // A receiver this build cannot run says so (the libvirt feature).
    let libvirt = out
        .lines()
        .find(|l| l.trim_start().starts_with("libvirt "))
        .unwrap();
    assert_eq!(
        libvirt.contains("built without libvirt support"),
        !cfg!(feature = "libvirt"),
        "{libvirt}"
    );
    let (ok, out) = strata(&["--version"], &[]);
    assert!(ok && out.starts_with("strata "), "{out}");
}

/// The README's table of the profiles' environment variables names every variable the
/// profiles and overlays read, and nothing else.
#[test]
fn the_readme_documents_every_environment_variable_of_the_profiles() {
    let mut used = std::collections::BTreeSet::new();
    for dir in ["configs", "configs/secure", "configs/overlays"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("${env:").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    used.insert(name);
                }
            }
        }
    }
    used.insert("STRATA_WORKER_THREADS".into()); // read by the binary itself
    let readme = std::fs::read_to_string("README.md").unwrap();
    let table = readme
        .split("### Environment variables of the profiles")
        .nth(1)
        .and_then(|t| t.split("\n### ").next())
        .expect("README section");
    let mut documented = std::collections::BTreeSet::new();
    for line in table.lines().filter(|l| l.starts_with("| `STRATA_")) {
        let first = line.split('|').nth(1).unwrap();
        for name in first.split('`').filter(|n| n.starts_with("STRATA_")) {
            documented.insert(name.to_owned());
        }
    }
    assert_eq!(used, documented, "README table vs configs");
}

/// `--config` merges over `--profile`, and `--print-config` shows the result with credentials
/// redacted.
#[test]
fn config_files_merge_over_a_profile_and_print_config_redacts() {
    let dir = tempfile::tempdir().unwrap();
    let over = dir.path().join("over.yaml");
    std::fs::write(
        &over,
        "exporters:\n  otlp/cluster:\n    headers: { authorization: \"Bearer s3cr3t-tok\" }\n    compression: gzip\n",
    )
    .unwrap();
    let over = over.to_str().unwrap();
    let (ok, out) = strata(&["validate", "--profile", "node", "--config", over], &[]);
    assert!(ok, "{out}");
    let (ok, out) = strata(
        &["--profile", "node", "--config", over, "--print-config"],
        &[("STRATA_REDFISH_PASSWORD", "bmc-pa55")],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("# profile node") && out.contains(over),
        "{out}"
    );
    assert!(out.contains("compression: gzip"), "{out}");
    assert!(
        out.contains("hostmetrics:"),
        "the profile is still there:\n{out}"
    );
    assert!(
        !out.contains("s3cr3t-tok") && !out.contains("bmc-pa55"),
        "{out}"
    );
    assert!(out.contains("authorization: '[REDACTED]'"), "{out}");
}

/// `strata validate` reports every error in one run: a bad `service::telemetry` key does not
/// hide a component's or a pipeline's error.
#[test]
fn validate_reports_every_error_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    std::fs::write(
        &f,
        "receivers:\n  otlp:\n    protocols: { grpc: { endpoint: nope } }\nexporters:\n  kafka: {}\nservice:\n  telemetry:\n    logs: { levle: debug }\n  pipelines:\n    traces: { receivers: [otlp], exporters: [kafka] }\n",
    )
    .unwrap();
    let (ok, out) = strata(&["validate", "--config", f.to_str().unwrap()], &[]);
    assert!(!ok);
    for want in [
        "service::telemetry::logs::levle: unknown key",
        "receivers::otlp::protocols::grpc::endpoint: invalid endpoint",
        "exporters::kafka: unknown exporter type",
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
}

/// A config that fails at start-up (a port already taken) prints its error once.
#[test]
fn a_start_failure_is_printed_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    std::fs::write(
        &f,
        format!("receivers:\n  otlp:\n    protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{port}\" }} }}\nexporters:\n  debug:\nservice:\n  telemetry:\n    metrics: {{ level: none }}\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [debug] }}\n"),
    )
    .unwrap();
    let (ok, out) = strata(&["--config", f.to_str().unwrap()], &[]);
    assert!(!ok, "{out}");
    let needle = format!("cannot listen on 127.0.0.1:{port}");
    assert_eq!(out.matches(&needle).count(), 1, "{out}");
}
