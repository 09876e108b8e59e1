//! What we ship, run the way users run it: every container of `deploy/kubernetes/*.yaml`, the
//! systemd unit and the Dockerfile's `ENTRYPOINT`/`CMD`/`HEALTHCHECK`, started as local
//! processes of the real binary.
//!
//! A container runs with its `args` and `env` (downward-API `fieldRef`s filled with test
//! values, `$(VAR)` references expanded), and its volumes under a temporary root: ConfigMaps
//! and Secrets (TLS material from a throwaway CA, tokens) are written to `<root><mountPath>`,
//! host paths linked there, and every mount path in the args, the env and the written files is
//! moved under the root (what the container's mount namespace does). The ports are the ones
//! the spec declares, so the tests of this file run one at a time.
//!
//! Then every startup, liveness and readiness probe must pass within the time the kubelet
//! gives it; after one span is accepted (the next tier is unreachable, so it stays queued),
//! SIGTERM must make readiness fail while liveness holds (a draining pod gets no traffic and
//! is not killed), and a second SIGTERM must stop the process at once, saying what was lost.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::eventually as within;
use serde_yaml_ng::Value;

/// The ports are fixed (the specs' own): one test at a time.
static FIXED_PORTS: Mutex<()> = Mutex::new(());

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every document of a multi-document YAML file.
fn documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize as _;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A running process with its output in a file.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
        let f = std::fs::File::create(&log).unwrap();
        cmd.stdout(f.try_clone().unwrap()).stderr(f);
        Proc {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        common::signal(&self.child, sig);
    }

    /// Waits up to `within` for the exit.
    fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`: the status, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

/// One probe of a container spec (`httpGet` or `tcpSocket`), its port resolved.
#[derive(Debug)]
struct Probe {
    kind: &'static str,
    port: u16,
    path: Option<String>,
    /// How long the kubelet lets it fail before acting: initial delay + failures × period.
    grace: Duration,
}

impl Probe {
    fn of(container: &Value, kind: &'static str) -> Option<Probe> {
        let p = container.get(kind)?;
        let ports = container.get("ports").and_then(Value::as_sequence);
        let resolve = |port: &Value| -> u16 {
            match port {
                Value::Number(n) => n.as_u64().unwrap() as u16,
                Value::String(name) => ports
                    .and_then(|ps| ps.iter().find(|p| s(p, "name") == Some(name)))
                    .and_then(|p| p.get("containerPort")?.as_u64())
                    .unwrap_or_else(|| panic!("{kind}: no container port named {name}"))
                    as u16,
                other => panic!("{kind}: port {other:?}"),
            }
        };
        let num = |k: &str, default: u64| p.get(k).and_then(Value::as_u64).unwrap_or(default);
        let grace = Duration::from_secs(
            num("initialDelaySeconds", 0) + num("failureThreshold", 3) * num("periodSeconds", 10),
        );
        if let Some(h) = p.get("httpGet") {
            assert_eq!(s(h, "scheme").unwrap_or("HTTP"), "HTTP", "{kind}");
            return Some(Probe {
                kind,
                port: resolve(h.get("port").unwrap()),
                path: Some(s(h, "path").unwrap_or("/").to_owned()),
                grace,
            });
        }
        if let Some(t) = p.get("tcpSocket") {
            return Some(Probe {
                kind,
                port: resolve(t.get("port").unwrap()),
                path: None,
                grace,
            });
        }
        panic!("{kind}: only httpGet and tcpSocket probes are run here: {p:?}")
    }

    /// Whether the kubelet would count it a success now.
    fn passes(&self) -> bool {
        match &self.path {
            Some(path) => http_status(self.port, path).is_some_and(|c| (200..400).contains(&c)),
            None => std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
        }
    }
}

/// The fenced block of README.md that contains `needle`, with `\`-continued lines joined.
fn readme_block(needle: &str) -> String {
    let text = std::fs::read_to_string(repo("README.md")).unwrap();
    let block = text
        .split("```")
        .find(|b| b.contains(needle))
        .unwrap_or_else(|| panic!("README.md has no block with {needle:?}"));
    block.replace("\\\n", " ")
}

/// Makes `<dir>/pki` with the README's own steps ("Securing the tiers": from
/// `mkdir -p pki && cd pki` to `cd ..`): its CA, the tiers' certificates and the tokens.
fn readme_pki(dir: &Path) -> PathBuf {
    let block = readme_block("mkdir -p pki && cd pki");
    let steps: Vec<&str> = block
        .lines()
        .skip_while(|l| !l.starts_with("mkdir -p pki"))
        .take_while(|l| l.trim() != "cd ..")
        .collect();
    let out = Command::new("bash")
        .args(["-ec", &steps.join("\n")])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's PKI steps failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("pki")
}

/// One `kubectl create secret generic` of the README: its files, by key.
struct ReadmeSecret {
    namespace: String,
    name: String,
    /// `(key, content)`: a `--from-file` read from the README's `pki/` (made in `dir`), or a
    /// `--from-literal` (the README's `...` placeholders become a test value).
    files: Vec<(String, String)>,
}

/// The namespaces and Secrets the README's "Deploy on Kubernetes" commands create; file
/// contents come from `dir` (where [`readme_pki`] made `pki/`).
fn readme_objects(dir: &Path) -> (Vec<String>, Vec<ReadmeSecret>) {
    let block = readme_block("kubectl apply -f deploy/kubernetes/namespace.yaml");
    let (mut namespaces, mut secrets) = (Vec::new(), Vec::new());
    for line in block.lines().map(str::trim) {
        let w: Vec<&str> = line
            .split_whitespace()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        match w[..] {
            ["kubectl", "apply", "-f", file] => {
                for d in documents(&repo(file)) {
                    if s(&d, "kind") == Some("Namespace") {
                        namespaces.push(s(&d["metadata"], "name").unwrap().to_owned());
                    }
                }
            }
            ["kubectl", "create", "namespace", ns] => namespaces.push(ns.to_owned()),
            [
                "kubectl",
                "-n",
                ns,
                "create",
                "secret",
                "generic",
                name,
                ref args @ ..,
            ] => {
                let files = args
                    .iter()
                    .map(|a| {
                        if let Some((k, f)) = a
                            .strip_prefix("--from-file=")
                            .and_then(|x| x.split_once('='))
                        {
                            (
                                k.to_owned(),
                                std::fs::read_to_string(dir.join(f))
                                    .unwrap_or_else(|e| panic!("{f}: {e}")),
                            )
                        } else if let Some((k, v)) = a
                            .strip_prefix("--from-literal=")
                            .and_then(|x| x.split_once('='))
                        {
                            let v = if v == "..." {
                                format!("deploy-test-{name}-{k}")
                            } else {
                                v.to_owned()
                            };
                            (k.to_owned(), v)
                        } else {
                            panic!(
                                "README: {a}: not --from-file=KEY=PATH or --from-literal=KEY=VALUE"
                            )
                        }
                    })
                    .collect();
                secrets.push(ReadmeSecret {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    files,
                });
            }
            _ => {}
        }
    }
    (namespaces, secrets)
}

/// A container of a manifest, ready to run under `root`.
struct Container {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    spec: Value,
}

/// Moves every mount path in `text` under `root` (`mounts`: longest first).
fn remap(text: &str, mounts: &[String], root: &Path) -> String {
    let r = root.display().to_string();
    // A mount path, or a parent of mount paths, given whole (STRATA_HOST_ROOT=/hostfs).
    if text.starts_with('/')
        && mounts
            .iter()
            .any(|m| m == text || m.starts_with(&format!("{text}/")))
    {
        return format!("{r}{text}");
    }
    let mut out = text.to_owned();
    for m in mounts {
        out = out.replace(&format!("{m}/"), &format!("{r}{m}/"));
    }
    out
}

/// Lays out the volumes of `pod` under `root` and returns its Strata containers.
fn prepare(
    docs: &[Value],
    pod: &Value,
    namespace: &str,
    root: &Path,
    secrets: &[ReadmeSecret],
) -> Vec<Container> {
    let volumes = pod
        .get("volumes")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for c in pod["containers"].as_sequence().unwrap() {
        if !s(c, "image").unwrap_or("").contains("/strata") {
            continue; // the example application
        }
        let mounts: Vec<(String, String)> = c
            .get("volumeMounts")
            .and_then(Value::as_sequence)
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        (
                            s(m, "name").unwrap().to_owned(),
                            s(m, "mountPath").unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut paths: Vec<String> = mounts.iter().map(|(_, p)| p.clone()).collect();
        paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for (vol, mount_path) in &mounts {
            let v = volumes
                .iter()
                .find(|v| s(v, "name") == Some(vol))
                .unwrap_or_else(|| panic!("volumeMount {vol} has no volume"));
            let dest = PathBuf::from(format!("{}{mount_path}", root.display()));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            if let Some(cm) = v.get("configMap") {
                let name = s(cm, "name").unwrap();
                let doc = docs
                    .iter()
                    .find(|d| {
                        s(d, "kind") == Some("ConfigMap") && s(&d["metadata"], "name") == Some(name)
                    })
                    .unwrap_or_else(|| panic!("ConfigMap {name} is not in the manifest"));
                std::fs::create_dir_all(&dest).unwrap();
                for (k, text) in doc["data"].as_mapping().unwrap() {
                    let text = remap(text.as_str().unwrap(), &paths, root);
                    std::fs::write(dest.join(k.as_str().unwrap()), text).unwrap();
                }
            } else if let Some(sec) = v.get("secret") {
                let name = s(sec, "secretName").unwrap();
                let secret = secrets
                    .iter()
                    .find(|x| x.name == name && x.namespace == namespace)
                    .unwrap_or_else(|| {
                        panic!("the README's \"Deploy on Kubernetes\" never creates Secret {name} in namespace {namespace}")
                    });
                std::fs::create_dir_all(&dest).unwrap();
                for (k, text) in &secret.files {
                    std::fs::write(dest.join(k), text).unwrap();
                }
            } else if let Some(hp) = v.get("hostPath") {
                if s(hp, "type") == Some("DirectoryOrCreate") {
                    std::fs::create_dir_all(&dest).unwrap();
                } else {
                    std::os::unix::fs::symlink(s(hp, "path").unwrap(), &dest).unwrap();
                }
            } else {
                panic!("volume {vol}: only configMap, secret and hostPath are laid out here");
            }
        }
        let mut env: Vec<(String, String)> = Vec::new();
        for e in c
            .get("env")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default()
        {
            let name = s(&e, "name").unwrap().to_owned();
            let value = if let Some(v) = s(&e, "value") {
                // $(VAR): a variable defined earlier in the list.
                let mut v = v.to_owned();
                for (k, val) in &env {
                    v = v.replace(&format!("$({k})"), val);
                }
                remap(&v, &paths, root)
            } else {
                let field = e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap();
                match field {
                    "status.hostIP" | "status.podIP" => "127.0.0.1".to_owned(),
                    "spec.nodeName" => "test-node".to_owned(),
                    "metadata.name" => "test-pod".to_owned(),
                    "metadata.namespace" => namespace.to_owned(),
                    other => panic!("fieldRef {other}: no test value"),
                }
            };
            env.push((name, value));
        }
        let args = c
            .get("args")
            .and_then(Value::as_sequence)
            .map(|a| {
                a.iter()
                    .map(|x| remap(x.as_str().unwrap(), &paths, root))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Container {
            name: s(c, "name").unwrap().to_owned(),
            args,
            env,
            spec: c.clone(),
        });
    }
    out
}

/// Sends one span to the container's OTLP/HTTP port the way its clients do: over mTLS with
/// the README's certificates and tokens where the container requires them (the node is sent
/// to by team-a's sidecar, the cluster by a node). The HTTP status.
fn send_span(c: &Container, pki: &Path) -> String {
    let env: BTreeMap<&str, &str> = c
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let port = env
        .get("STRATA_OTLP_HTTP_ENDPOINT")
        .and_then(|e| e.rsplit_once(':'))
        .map_or(4318, |(_, p)| p.parse().unwrap());
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"deploy-test"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"deploy","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"}]}]}]}"#;
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "content-type: application/json",
        "-d",
        body,
    ]);
    if env.contains_key("STRATA_TLS_CERT_FILE") {
        let from_node = env
            .get("STRATA_AUTH_TOKENS_FILE")
            .is_some_and(|f| f.ends_with("/nodes"));
        let (client, token) = if from_node {
            ("node", "node.token")
        } else {
            ("sidecar", "team-a.token")
        };
        let token = std::fs::read_to_string(pki.join(token)).unwrap();
        cmd.arg("--cacert")
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join(format!("{client}.crt")))
            .arg("--key")
            .arg(pki.join(format!("{client}.key")))
            .args(["-H", &format!("authorization: Bearer {}", token.trim())])
            .arg(format!("https://localhost:{port}/v1/traces"));
    } else {
        cmd.arg(format!("http://127.0.0.1:{port}/v1/traces"));
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs every Strata container of a manifest and holds it to its probes.
fn run_manifest(file: &str) {
    let _one = FIXED_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let path = repo(file);
    let docs = documents(&path);
    let work = tempfile::tempdir().unwrap();
    let pki = readme_pki(work.path());
    let (namespaces, secrets) = readme_objects(work.path());
    let mut ran = 0;
    for d in &docs {
        let pod = match s(d, "kind") {
            Some("Pod") => &d["spec"],
            Some("DaemonSet" | "Deployment" | "StatefulSet") => &d["spec"]["template"]["spec"],
            _ => continue,
        };
        let namespace = s(&d["metadata"], "namespace").unwrap_or("default");
        let grace_period = pod
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        assert!(
            namespaces.iter().any(|n| n == namespace),
            "{file}: the README's \"Deploy on Kubernetes\" never creates namespace {namespace}"
        );
        let root = tempfile::tempdir().unwrap();
        for c in prepare(&docs, pod, namespace, root.path(), &secrets) {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
            cmd.args(&c.args)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(c.env.iter().map(|(k, v)| (k, v)))
                .current_dir(root.path());
            // The image runs the release build; the test's debug build holds about 40–50 MiB
            // resident, at the sidecar's default 64 MiB limit's soft limit (51 MiB): unless the
            // manifest sets a limit, the debug build gets room the release build does not need.
            if cfg!(debug_assertions) && !c.env.iter().any(|(k, _)| k == "STRATA_MEMORY_LIMIT_MIB")
            {
                cmd.env("STRATA_MEMORY_LIMIT_MIB", "256");
            }
            let mut p = Proc::spawn(cmd, root.path().join("strata.log"));
            let probes: Vec<Probe> = ["startupProbe", "livenessProbe", "readinessProbe"]
                .into_iter()
                .filter_map(|k| Probe::of(&c.spec, k))
                .collect();
            assert!(
                probes.iter().any(|p| p.kind == "readinessProbe"),
                "{file}: container {} has no readiness probe",
                c.name
            );
            for pr in &probes {
                assert!(
                    within(pr.grace, || pr.passes()),
                    "{file}: container {}: {} on port {} {:?} did not pass within {:?}\n{}",
                    c.name,
                    pr.kind,
                    pr.port,
                    pr.path,
                    pr.grace,
                    p.log()
                );
            }
            println!(
                "deploy: {file} container {}: {} pass",
                c.name,
                probes
                    .iter()
                    .map(|p| format!(
                        "{} {}:{}",
                        p.kind,
                        p.port,
                        p.path.as_deref().unwrap_or("tcp")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );

            // One span, queued for the unreachable next tier, then SIGTERM: readiness fails
            // while liveness holds.
            let status = send_span(&c, &pki);
            assert_eq!(
                status,
                "200",
                "{file}: the span was not accepted\n{}",
                p.log()
            );
            p.signal("TERM");
            let readiness = probes.iter().find(|p| p.kind == "readinessProbe").unwrap();
            let liveness = probes.iter().find(|p| p.kind == "livenessProbe");
            assert!(
                within(Duration::from_secs(5), || !readiness.passes()),
                "{file}: readiness still passes after SIGTERM\n{}",
                p.log()
            );
            assert!(
                p.child.try_wait().unwrap().is_none(),
                "{file}: exited before readiness was seen failing (nothing to drain?)\n{}",
                p.log()
            );
            if let Some(l) = liveness {
                assert!(
                    l.passes(),
                    "{file}: liveness fails while draining\n{}",
                    p.log()
                );
            }
            // A second SIGTERM stops the drain at once, saying what was lost.
            let t = Instant::now();
            p.signal("TERM");
            let st = p.wait(Duration::from_secs(5)).unwrap_or_else(|| {
                panic!(
                    "{file}: still running 5 s after a second SIGTERM\n{}",
                    p.log()
                )
            });
            assert!(!st.success(), "a forced stop is not a clean exit");
            let log = p.log();
            assert!(log.contains("second signal"), "{log}");
            assert!(log.contains("in-memory queue's data is lost"), "{log}");
            assert!(
                Duration::from_secs(grace_period) > t.elapsed(),
                "{file}: the stop outlasted terminationGracePeriodSeconds"
            );
            for secret in secrets.iter().flat_map(|x| &x.files).filter(|(k, _)| {
                k.contains("token") || k == "password" || k == "tenants" || k == "nodes"
            }) {
                for word in secret
                    .1
                    .split_whitespace()
                    .filter(|w| w.len() >= 16 || w.starts_with("deploy-test"))
                {
                    assert!(
                        !log.contains(word),
                        "{file}: a credential ({}) in the log",
                        secret.0
                    );
                }
            }
            ran += 1;
        }
    }
    assert!(ran > 0, "{file}: no Strata container");
}

#[test]
fn sidecar_manifest_probes_pass_and_sigterm_drains() {
    run_manifest("deploy/kubernetes/sidecar.yaml");
}

#[test]
fn node_manifest_probes_pass_and_sigterm_drains() {
    run_manifest("deploy/kubernetes/node.yaml");
}

#[test]
fn cluster_manifest_probes_pass_and_sigterm_drains() {
    run_manifest("deploy/kubernetes/cluster.yaml");
}

/// `[Service]` of the systemd unit: every `Key=value`, in order.
fn unit_service(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_service = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

#[test]
fn systemd_unit_runs_validates_reloads_and_stops_within_its_timeout() {
    let _one = FIXED_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let unit = unit_service(&repo("deploy/systemd/strata.service"));
    let get = |k: &str| -> Vec<String> {
        unit.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc/strata");
    std::fs::create_dir_all(&etc).unwrap();
    // The standalone DPU's config: the dpu profile, as installed to /etc/strata/config.yaml.
    std::fs::write(
        etc.join("config.yaml"),
        std::fs::read_to_string(repo("configs/dpu.yaml")).unwrap(),
    )
    .unwrap();
    let state = root.path().join("var/lib/strata");
    std::fs::create_dir_all(&state).unwrap();
    let bin = env!("CARGO_BIN_EXE_strata");
    let words = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .map(|w| {
                w.replace("/usr/local/bin/strata", bin)
                    .replace("/etc/strata/", &format!("{}/", etc.display()))
            })
            .collect()
    };
    let mut env: Vec<(String, String)> = get("Environment")
        .iter()
        .flat_map(|e| {
            e.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    // What StateDirectory= and ConfigurationDirectory= give the service.
    env.push(("STATE_DIRECTORY".into(), state.display().to_string()));
    env.push(("CONFIGURATION_DIRECTORY".into(), etc.display().to_string()));
    let command = |line: &str| {
        let w = words(line);
        let mut c = Command::new(&w[0]);
        c.args(&w[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir("/");
        c
    };
    for pre in get("ExecStartPre") {
        let out = command(&pre)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ExecStartPre={pre}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let start = get("ExecStart");
    assert_eq!(start.len(), 1);
    let mut p = Proc::spawn(command(&start[0]), root.path().join("strata.log"));
    assert!(
        within(Duration::from_secs(20), || p
            .log()
            .contains("everything is ready")),
        "{}",
        p.log()
    );
    // ExecReload=/bin/kill -HUP $MAINPID
    let reload = get("ExecReload");
    let line = reload[0].replace("$MAINPID", &p.child.id().to_string());
    let w: Vec<&str> = line.split_whitespace().collect();
    assert!(Command::new(w[0]).args(&w[1..]).status().unwrap().success());
    assert!(
        within(Duration::from_secs(20), || p
            .log()
            .contains("reload complete")),
        "{}",
        p.log()
    );
    // KillSignal=SIGTERM, within TimeoutStopSec.
    let sig = get("KillSignal")[0].trim_start_matches("SIG").to_owned();
    let timeout: u64 = get("TimeoutStopSec")[0].parse().unwrap();
    p.signal(&sig);
    let st = p
        .wait(Duration::from_secs(timeout))
        .expect("still running after TimeoutStopSec");
    assert!(st.success(), "{}", p.log());
    println!(
        "deploy: systemd unit: ExecStartPre validates, ExecStart ready, ExecReload reloads, SIG{sig} stops within {timeout}s"
    );
}

/// A Dockerfile instruction's JSON-array (exec form) argument.
fn exec_form(text: &str) -> Vec<String> {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not exec form: {text}: {e}"))
}

#[test]
fn dockerfile_entrypoint_cmd_and_healthcheck_run() {
    let _one = FIXED_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let text = std::fs::read_to_string(repo("deploy/Dockerfile"))
        .unwrap()
        .replace("\\\n", " ");
    // The final stage only.
    let last = text.rsplit("\nFROM ").next().unwrap();
    let (mut env, mut entrypoint, mut cmd, mut health) = (Vec::new(), Vec::new(), Vec::new(), None);
    for line in last.lines() {
        let line = line.trim();
        if let Some(kv) = line.strip_prefix("ENV ") {
            for pair in kv.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("ENV key=value");
                env.push((k.to_owned(), v.to_owned()));
            }
        } else if let Some(a) = line.strip_prefix("ENTRYPOINT ") {
            entrypoint = exec_form(a);
        } else if let Some(a) = line.strip_prefix("CMD ") {
            cmd = exec_form(a);
        } else if let Some(h) = line.strip_prefix("HEALTHCHECK ") {
            let (opts, c) = h.split_once("CMD ").expect("HEALTHCHECK ... CMD [...]");
            let opt = |name: &str| {
                opts.split_whitespace()
                    .find_map(|o| o.strip_prefix(&format!("--{name}=")))
                    .map(|v| Duration::from_secs(v.trim_end_matches('s').parse().unwrap()))
            };
            let retries: u32 = opts
                .split_whitespace()
                .find_map(|o| o.strip_prefix("--retries="))
                .map_or(3, |v| v.parse().unwrap());
            health = Some((
                exec_form(c),
                opt("start-period").unwrap_or_default(),
                opt("interval").unwrap_or(Duration::from_secs(30)),
                retries,
            ));
        }
    }
    let (probe, start_period, interval, retries) = health.expect("the image has a HEALTHCHECK");
    let bin = env!("CARGO_BIN_EXE_strata");
    let image_path = |w: &String| {
        if w == "/usr/local/bin/strata" {
            bin.to_owned()
        } else {
            w.clone()
        }
    };
    let root = tempfile::tempdir().unwrap();
    let all: Vec<String> = entrypoint.iter().chain(&cmd).map(image_path).collect();
    let mut c = Command::new(&all[0]);
    c.args(&all[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root.path());
    let mut p = Proc::spawn(c, root.path().join("strata.log"));
    // Healthy within the start period plus `retries` intervals.
    let probe: Vec<String> = probe.iter().map(image_path).collect();
    let healthy = || {
        Command::new(&probe[0])
            .args(&probe[1..])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        within(start_period + interval * retries, healthy),
        "HEALTHCHECK never passed\n{}",
        p.log()
    );
    // `docker stop`: SIGTERM, then SIGKILL after 10 s.
    p.signal("TERM");
    let st = p
        .wait(Duration::from_secs(10))
        .expect("still running 10 s after SIGTERM");
    assert!(st.success(), "{}", p.log());
    assert!(!healthy(), "HEALTHCHECK passes with the process gone");
    println!(
        "deploy: Dockerfile: ENTRYPOINT {entrypoint:?} CMD {cmd:?} healthy per HEALTHCHECK {probe:?}; SIGTERM exits 0"
    );
}

#[test]
fn dockerignore_keeps_build_output_and_virtualenvs_out_of_the_context() {
    let text = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    let rules: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in [
        "target/",
        ".venv/",
        ".venv-policy/",
        ".git/",
        "fuzz/target/",
    ] {
        assert!(rules.contains(&must), ".dockerignore lacks {must}");
    }
    // And nothing the build needs is left out.
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "configs",
        "pipelines",
        "receivers",
    ] {
        assert!(
            !rules.iter().any(|r| r.trim_end_matches('/') == needed),
            "{needed} is ignored"
        );
    }
}
