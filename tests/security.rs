//! Trust boundaries between the tiers, with real `strata` processes on loopback and a
//! throwaway CA made here: mTLS and bearer tokens on every hop of sidecar → node → cluster,
//! refusals (each answered, counted, and without the credential in the log), a tenant that
//! the payload cannot spoof, certificate rotation by symlink swap as Kubernetes does it,
//! token-file rotation, and tenant isolation through a persistent queue across SIGKILL.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::otlp::RawTraceSink;
use common::tls::TestPki;
use common::{Strata, attrs, eventually, free_port, read_lines};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
use prost::Message;
use serde_json::Value;
use strata_pipelines::Traces;
use strata_pipelines::testing::fake;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Tokens of this test; each is grepped for in every log at the end.
const APP_TOKEN: &str = "app-tok-5f1e0c";
const TENANT_A_TOKEN: &str = "tenant-a-tok-9c2d71";
const NODE_TOKEN: &str = "node-tok-77ab03";

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `n` spans whose resource claims `tenant.id = claim`.
fn spans_claiming(n: usize, claim: &str) -> Traces {
    let mut t = fake::traces(1, n);
    for rs in &mut t.resource_spans {
        rs.resource.get_or_insert_default().attributes.push(KeyValue {
            key: "tenant.id".into(),
            value: Some(AnyValue {
                value: Some(Av::StringValue(claim.into())),
            }),
            ..Default::default()
        });
    }
    t
}

/// A TLS gRPC client of `127.0.0.1:port` trusting `ca`, with a client certificate when given.
async fn client(port: u16, ca: &Path, cert: Option<(&Path, &Path)>) -> TraceServiceClient<Channel> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        .domain_name("localhost");
    if let Some((c, k)) = cert {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(c).unwrap(),
            std::fs::read(k).unwrap(),
        ));
    }
    let ch = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    TraceServiceClient::new(ch)
}

async fn export(
    c: &mut TraceServiceClient<Channel>,
    token: Option<&str>,
    data: Traces,
) -> Result<(), tonic::Status> {
    let mut req = tonic::Request::new(data);
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    c.export(req).await.map(|_| ())
}

/// Resource attributes of every resource in the file exporter's output, one map per resource
/// with its span count.
fn resources(path: &Path) -> Vec<(std::collections::BTreeMap<String, Value>, usize)> {
    let mut out = Vec::new();
    for line in read_lines::<Value>(path) {
        for rs in line["resourceSpans"].as_array().into_iter().flatten() {
            let n = rs["scopeSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|ss| ss["spans"].as_array().map_or(0, Vec::len))
                .sum();
            out.push((attrs(&rs["resource"]["attributes"]), n));
        }
    }
    out
}

fn spans_in(path: &Path) -> usize {
    resources(path).iter().map(|(_, n)| n).sum()
}

fn assert_no_secret(logs: &[(&str, String)]) {
    for (who, log) in logs {
        for secret in [APP_TOKEN, TENANT_A_TOKEN, NODE_TOKEN, "BEGIN PRIVATE KEY"] {
            assert!(!log.contains(secret), "{who}'s log contains a credential ({secret}):\n{log}");
        }
    }
}

/// The chain of the issue: an application (the OpenTelemetry Python SDK when installed, else
/// a tonic client) → sidecar → node → cluster → file and an OTLP back-end. mTLS and a bearer
/// token on every hop. The sidecar is tenant A at the node; it claims tenant B in the
/// resource and in an `X-Scope-OrgID` header. The cluster's data says A, and so does every
/// back-end request's `X-Scope-OrgID`.
#[tokio::test(flavor = "multi_thread")]
async fn chain_with_mtls_and_tokens_stamps_the_authenticated_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (ca, cert, key) = (p(&pki.ca_file), p(&pki.cert_file), p(&pki.key_file));
    let (sc_cert, sc_key) = pki.client("sidecar-a", "team-a");
    let (node_cert, node_key) = pki.client("node-1", "nodes");
    let (app_cert, app_key) = pki.client("app", "team-a");
    let server_tls = |client_ca: bool| {
        format!(
            "tls: {{ cert_file: \"{cert}\", key_file: \"{key}\"{} }}",
            if client_ca { format!(", client_ca_file: \"{ca}\"") } else { String::new() }
        )
    };

    let backend_port = free_port();
    let backend = RawTraceSink::serve(backend_port).await;

    let cluster_port = free_port();
    let cluster = Strata::start(
        &format!(
            r#"
extensions:
  bearertokenauth/nodes: {{ tokens: ["{NODE_TOKEN}"] }}
  headers_setter/backend:
    headers: [{{ key: X-Scope-OrgID, from_context: metadata.x-scope-orgid }}]
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{cluster_port}
        {tls}
        auth: {{ authenticator: bearertokenauth/nodes }}
        include_metadata: true
processors:
  resource:
    attributes:
      - {{ key: tenant.id, action: delete }}
      - {{ key: tenant.id, from_context: metadata.x-scope-orgid, action: upsert }}
      - {{ key: k8s.cluster.name, value: c1, action: upsert }}
  batch: {{ timeout: 50ms, metadata_keys: [x-scope-orgid] }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
  otlp/backend:
    endpoint: 127.0.0.1:{backend_port}
    tls: {{ insecure: true }}
    compression: none
    auth: {{ authenticator: headers_setter/backend }}
service:
  extensions: [bearertokenauth/nodes, headers_setter/backend]
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource, batch], exporters: [file, otlp/backend] }}
"#,
            tls = server_tls(true)
        ),
        &[cluster_port],
    );

    let node_port = free_port();
    let node = Strata::start(
        &format!(
            r#"
extensions:
  bearertokenauth/tenants:
    tenants:
      team-a: {{ tokens: ["{TENANT_A_TOKEN}"] }}
  headers_setter/cluster:
    headers:
      - {{ key: authorization, value: "Bearer {NODE_TOKEN}" }}
      - {{ key: X-Scope-OrgID, from_context: auth.tenant }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{node_port}
        {tls}
        auth: {{ authenticator: bearertokenauth/tenants }}
processors:
  resource:
    attributes:
      - {{ key: tenant.id, action: delete }}
      - {{ key: tenant.id, from_context: auth.tenant, action: upsert }}
      - {{ key: k8s.node.name, value: node-1, action: upsert }}
  batch: {{ timeout: 50ms }}
exporters:
  otlp/cluster:
    endpoint: 127.0.0.1:{cluster_port}
    tls: {{ ca_file: "{ca}", cert_file: "{nc}", key_file: "{nk}", server_name_override: localhost }}
    auth: {{ authenticator: headers_setter/cluster }}
service:
  extensions: [bearertokenauth/tenants, headers_setter/cluster]
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource, batch], exporters: [otlp/cluster] }}
"#,
            tls = server_tls(true),
            nc = p(&node_cert),
            nk = p(&node_key)
        ),
        &[node_port],
    );

    let sidecar_port = free_port();
    let sidecar = Strata::start(
        &format!(
            r#"
extensions:
  bearertokenauth/app: {{ tokens: ["{APP_TOKEN}"] }}
  bearertokenauth/node: {{ token: "{TENANT_A_TOKEN}" }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{sidecar_port}
        {tls}
        auth: {{ authenticator: bearertokenauth/app }}
processors:
  resource:
    attributes: [{{ key: k8s.pod.name, value: pod-a, action: upsert }}]
exporters:
  otlp/node:
    endpoint: 127.0.0.1:{node_port}
    tls: {{ ca_file: "{ca}", cert_file: "{sc}", key_file: "{sk}", server_name_override: localhost }}
    headers: {{ X-Scope-OrgID: B }}
    auth: {{ authenticator: bearertokenauth/node }}
service:
  extensions: [bearertokenauth/app, bearertokenauth/node]
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource], exporters: [otlp/node] }}
"#,
            tls = server_tls(false),
            sc = p(&sc_cert),
            sk = p(&sc_key)
        ),
        &[sidecar_port],
    );

    // The application: the Python SDK over TLS with a token (and mTLS), when installed.
    let mut sent = 0;
    if let Some(py) = common::interop_python("opentelemetry.exporter.otlp.proto.grpc") {
        let out = std::process::Command::new(py)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/tls_client.py"))
            .args(["--endpoint", &format!("localhost:{sidecar_port}"), "--ca", &ca])
            .args(["--cert", &p(&app_cert), "--key", &p(&app_key)])
            .args(["--token", APP_TOKEN, "--spans", "300", "--attr", "tenant.id=B"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python client failed:\n{}\nsidecar:\n{}",
            String::from_utf8_lossy(&out.stderr),
            sidecar.log()
        );
        sent += 300;
        println!("interop security: the OpenTelemetry Python SDK sent 300 spans over TLS with a bearer token");
    }
    let mut c = client(sidecar_port, &pki.ca_file, None).await;
    for _ in 0..5 {
        export(&mut c, Some(APP_TOKEN), spans_claiming(20, "B"))
            .await
            .unwrap_or_else(|e| panic!("{e}\nsidecar:\n{}", sidecar.log()));
        sent += 20;
    }

    let out = cluster.path("out.jsonl");
    assert!(
        eventually(Duration::from_secs(20), || spans_in(&out) == sent),
        "cluster got {} of {sent} spans\nsidecar:\n{}\nnode:\n{}\ncluster:\n{}",
        spans_in(&out),
        sidecar.log(),
        node.log(),
        cluster.log()
    );
    for (a, n) in resources(&out) {
        assert_eq!(a["tenant.id"], "team-a", "{n} spans: {a:?}");
        assert_eq!(a["k8s.pod.name"], "pod-a");
        assert_eq!(a["k8s.node.name"], "node-1");
        assert_eq!(a["k8s.cluster.name"], "c1");
    }
    // Every back-end request names the authenticated tenant, never the claimed one.
    assert!(eventually(Duration::from_secs(10), || {
        let n: usize = backend
            .requests()
            .iter()
            .map(|b| Traces::decode(&b[..]).unwrap().resource_spans.iter().map(|r| r.scope_spans.iter().map(|s| s.spans.len()).sum::<usize>()).sum::<usize>())
            .sum();
        n == sent
    }));
    let orgs: BTreeSet<String> = backend
        .headers
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.get("x-scope-orgid").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default())
        .collect();
    assert_eq!(orgs, BTreeSet::from(["team-a".to_owned()]));
    assert_no_secret(&[
        ("sidecar", sidecar.log()),
        ("node", node.log()),
        ("cluster", cluster.log()),
    ]);
}
