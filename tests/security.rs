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

/// `f`, or a panic naming `what` after 15 s (a hung handshake must fail the test, not hang it).
async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 15 s"))
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `n` spans whose resource claims `tenant.id = claim`.
fn spans_claiming(n: usize, claim: &str) -> Traces {
    let mut t = fake::traces(1, n);
    for rs in &mut t.resource_spans {
        rs.resource
            .get_or_insert_default()
            .attributes
            .push(KeyValue {
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

/// The `tenant.id` resource attribute of `rs`.
fn tenant_of(rs: &opentelemetry_proto::tonic::trace::v1::ResourceSpans) -> Option<String> {
    rs.resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "tenant.id"))
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Av::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn spans_in(path: &Path) -> usize {
    resources(path).iter().map(|(_, n)| n).sum()
}

fn assert_no_secret(logs: &[(&str, String)]) {
    for (who, log) in logs {
        for secret in [APP_TOKEN, TENANT_A_TOKEN, NODE_TOKEN, "BEGIN PRIVATE KEY"] {
            assert!(
                !log.contains(secret),
                "{who}'s log contains a credential ({secret}):\n{log}"
            );
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
            if client_ca {
                format!(", client_ca_file: \"{ca}\"")
            } else {
                String::new()
            }
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
      - {{ key: strata.sender.subject, from_context: auth.subject, action: upsert }}
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
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/interop/tls_client.py"
            ))
            .args([
                "--endpoint",
                &format!("localhost:{sidecar_port}"),
                "--ca",
                &ca,
            ])
            .args(["--cert", &p(&app_cert), "--key", &p(&app_key)])
            .args([
                "--token",
                APP_TOKEN,
                "--spans",
                "300",
                "--attr",
                "tenant.id=B",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python client failed:\n{}\nsidecar:\n{}",
            String::from_utf8_lossy(&out.stderr),
            sidecar.log()
        );
        sent += 300;
        println!(
            "interop security: the OpenTelemetry Python SDK sent 300 spans over TLS with a bearer token"
        );
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
        // The node saw the sidecar's verified client certificate (mTLS identity).
        let subject = a["strata.sender.subject"].as_str().unwrap_or_default();
        assert!(
            subject.contains("CN=sidecar-a") && subject.contains("O=team-a"),
            "{subject}"
        );
    }
    // Every back-end request names the authenticated tenant, never the claimed one.
    assert!(eventually(Duration::from_secs(10), || {
        let n: usize = backend
            .requests()
            .iter()
            .map(|b| {
                Traces::decode(&b[..])
                    .unwrap()
                    .resource_spans
                    .iter()
                    .map(|r| r.scope_spans.iter().map(|s| s.spans.len()).sum::<usize>())
                    .sum::<usize>()
            })
            .sum();
        n == sent
    }));
    let orgs: BTreeSet<String> = backend
        .headers
        .lock()
        .unwrap()
        .iter()
        .map(|h| {
            h.get("x-scope-orgid")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(orgs, BTreeSet::from(["team-a".to_owned()]));
    assert_no_secret(&[
        ("sidecar", sidecar.log()),
        ("node", node.log()),
        ("cluster", cluster.log()),
    ]);
}

/// One request over TLS (HTTP/1.1, written by hand so nothing is hidden): the status line and
/// headers of the answer. The body is announced by `content_length` but only sent when the
/// server asks for it with a `100 Continue`-free read: here never, so a refusal before the
/// body is read is visible as an answer to headers alone.
async fn https_headers_only(
    port: u16,
    ca: &Path,
    cert: (&Path, &Path),
    headers: &[(&str, &str)],
    content_length: usize,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &std::fs::read(ca).unwrap()[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<_> = rustls_pemfile::certs(&mut &std::fs::read(cert.0).unwrap()[..])
        .map(Result::unwrap)
        .collect();
    let key = rustls_pemfile::private_key(&mut &std::fs::read(cert.1).unwrap()[..])
        .unwrap()
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let mut req = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/x-protobuf\r\ncontent-length: {content_length}\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .expect("the server answered before the body was sent")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A TLS 1.1 ClientHello (legacy version 0x0302, one TLS 1.1 suite), as an old client sends:
/// the first byte of the server's answer (0x15 = alert) or `None` when it just closed.
async fn tls11_hello(port: u16) -> Option<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x02, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(&rec).await.unwrap();
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
        Ok(Ok(1)) => Some(b[0]),
        _ => None,
    }
}

/// Each refusal gets its status, reaches no exporter, is counted with its reason, and leaves
/// the credential out of the log (at debug level): no token, a wrong token, a token removed
/// from its file (and one added, accepted without a restart), a client certificate of another
/// CA, no client certificate, plaintext to a TLS port, a TLS 1.1 client, a TLS 1.2 client where
/// `min_version: "1.3"`. Over HTTP the 401 carries `WWW-Authenticate` and comes before the
/// body is read.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_answered_counted_and_keep_the_credential_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let other = TestPki::named(dir.path(), "other");
    let (ca, cert, key) = (p(&pki.ca_file), p(&pki.cert_file), p(&pki.key_file));
    let (good_cert, good_key) = pki.client("sidecar-a", "team-a");
    let (bad_cert, bad_key) = other.client("intruder", "elsewhere");
    let tokens = dir.path().join("team-a.tokens");
    std::fs::write(&tokens, format!("# team a\n{TENANT_A_TOKEN}\n")).unwrap();
    let (grpc, http) = (free_port(), free_port());
    let s = Strata::start(
        &format!(
            r#"
extensions:
  bearertokenauth:
    tenants: {{ team-a: {{ filename: "{tokens}" }} }}
    reload_interval: 100ms
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        tls: {{ cert_file: "{cert}", key_file: "{key}", client_ca_file: "{ca}" }}
        auth: {{ authenticator: bearertokenauth }}
      http:
        endpoint: 127.0.0.1:{http}
        tls: {{ cert_file: "{cert}", key_file: "{key}", client_ca_file: "{ca}", min_version: "1.3" }}
        auth: {{ authenticator: bearertokenauth }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  extensions: [bearertokenauth]
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
  telemetry:
    logs: {{ level: debug }}
    metrics: {{ address: "127.0.0.1:{{telemetry}}" }}
"#,
            tokens = p(&tokens)
        ),
        &[grpc, http],
    );
    let refused = |transport: &str, reason: &str| {
        s.counter(&format!(
            "otelcol_receiver_refused_requests{{receiver=\"otlp\",transport=\"{transport}\",reason=\"{reason}\"}}"
        ))
    };
    let good = (good_cert.as_path(), good_key.as_path());
    let mut c = client(grpc, &pki.ca_file, Some(good)).await;
    let unauthenticated = |r: Result<(), tonic::Status>| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
        e.message().to_owned()
    };
    let m = unauthenticated(within("no token", export(&mut c, None, fake::traces(1, 3))).await);
    assert!(m.contains("missing"), "{m}");
    let m = unauthenticated(export(&mut c, Some("not-a-token-3e1f"), fake::traces(1, 3)).await);
    assert!(!m.contains("not-a-token-3e1f"), "{m}");
    export(&mut c, Some(TENANT_A_TOKEN), fake::traces(1, 5))
        .await
        .unwrap();

    // Token rotation: a token added to the file works, the removed one is refused.
    let new_token = "rotated-tok-0b9a4e";
    std::fs::write(&tokens, format!("{new_token}\n")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while export(&mut c, Some(new_token), fake::traces(1, 2))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the added token was never accepted:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unauthenticated(export(&mut c, Some(TENANT_A_TOKEN), fake::traces(1, 3)).await);
    assert!(refused("grpc", "unauthenticated") >= 3);

    // TLS refusals: no handshake, nothing read, each counted.
    let before = refused("grpc", "tls_handshake");
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&pki.ca_file).unwrap()))
        .domain_name("localhost");
    let other_ca_client = within(
        "other CA connect",
        Channel::from_shared(format!("https://127.0.0.1:{grpc}"))
            .unwrap()
            .tls_config(tls.clone().identity(Identity::from_pem(
                std::fs::read(&bad_cert).unwrap(),
                std::fs::read(&bad_key).unwrap(),
            )))
            .unwrap()
            .connect(),
    )
    .await;
    let failed = match other_ca_client {
        Err(_) => true,
        Ok(ch) => within(
            "other CA export",
            export(
                &mut TraceServiceClient::new(ch),
                Some(new_token),
                fake::traces(1, 1),
            ),
        )
        .await
        .is_err(),
    };
    assert!(failed, "a client certificate of another CA was accepted");
    tls = tls.clone();
    let no_cert = within(
        "no-cert connect",
        Channel::from_shared(format!("https://127.0.0.1:{grpc}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect(),
    )
    .await;
    let failed = match no_cert {
        Err(_) => true,
        Ok(ch) => within(
            "no-cert export",
            export(
                &mut TraceServiceClient::new(ch),
                Some(new_token),
                fake::traces(1, 1),
            ),
        )
        .await
        .is_err(),
    };
    assert!(failed, "a client without a certificate was accepted");
    let plain = within(
        "plaintext connect",
        TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}")),
    )
    .await;
    let failed = match plain {
        Err(_) => true,
        Ok(mut c) => within(
            "plaintext export",
            export(&mut c, Some(new_token), fake::traces(1, 1)),
        )
        .await
        .is_err(),
    };
    assert!(failed, "plaintext was accepted on a TLS port");
    let answer = tls11_hello(grpc).await;
    assert!(
        matches!(answer, Some(0x15) | None),
        "TLS 1.1 hello answered {answer:?}"
    );
    assert!(
        eventually(Duration::from_secs(5), || refused("grpc", "tls_handshake")
            >= before + 4),
        "tls_handshake refusals: {} (was {before})",
        refused("grpc", "tls_handshake")
    );

    // min_version "1.3" on HTTP: a TLS 1.2-only client fails the handshake.
    let tls12_only = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates({
        let mut r = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &std::fs::read(&pki.ca_file).unwrap()[..]) {
            r.add(c.unwrap()).unwrap();
        }
        r
    })
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", http))
        .await
        .unwrap();
    let r = within(
        "TLS 1.2 handshake",
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls12_only))
            .connect("localhost".try_into().unwrap(), tcp),
    )
    .await;
    assert!(r.is_err(), "a TLS 1.2 client passed min_version 1.3");

    // HTTP: 401 with the challenge, answered to the headers alone (the 10 MiB body is never
    // sent), and counted.
    let head = within(
        "https 401",
        https_headers_only(http, &pki.ca_file, good, &[], 10 << 20),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"strata\""),
        "{head}"
    );
    let head = https_headers_only(
        http,
        &pki.ca_file,
        good,
        &[("authorization", "Bearer wrong-http-tok-77")],
        10 << 20,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(refused("http", "unauthenticated") >= 2);

    // Only the authenticated requests reached the exporter: 5 + the rotated token's spans.
    let out = s.path("out.jsonl");
    let n = spans_in(&out);
    assert!(
        n >= 7 && (n - 5).is_multiple_of(2),
        "the file holds {n} spans"
    );
    for (a, _) in resources(&out) {
        assert!(!a.contains_key("tenant.id"), "{a:?}");
    }
    let log = s.log();
    assert!(
        log.contains("unauthenticated"),
        "refusals are logged at debug:\n{log}"
    );
    assert!(
        !log.contains(new_token)
            && !log.contains("wrong-http-tok-77")
            && !log.contains("not-a-token-3e1f")
    );
    assert_no_secret(&[("strata", log)]);
}

/// Writes a Kubernetes-style Secret volume in `dir`: `..<version>/` holds the files, `..data`
/// links to it, and each visible name links through `..data` (what the kubelet does; an
/// update swaps `..data` atomically and leaves every mtime the visible names show alone).
fn k8s_secret(dir: &Path, version: &str, files: &[(&str, &str)]) {
    let v = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&v).unwrap();
    for (name, content) in files {
        std::fs::write(v.join(name), content).unwrap();
        let visible = dir.join(name);
        if std::fs::symlink_metadata(&visible).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &visible).unwrap();
        }
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

/// Certificate rotation by symlink swap: after the Secret changes to a certificate of a new CA
/// and a new client CA, a new connection sees them within `reload_interval`; a connection
/// opened before keeps working; a truncated key keeps the material in use, logged and counted.
#[tokio::test(flavor = "multi_thread")]
async fn certificates_and_client_ca_rotate_by_symlink_swap() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestPki::named(dir.path(), "old");
    let new = TestPki::named(dir.path(), "new");
    let (old_client, old_client_key) = old.client("sidecar-old", "team-a");
    let (new_client, new_client_key) = new.client("sidecar-new", "team-a");
    let secret = dir.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    let (c1, k1) = old.server_pem();
    k8s_secret(
        &secret,
        "v1",
        &[
            ("tls.crt", &c1),
            ("tls.key", &k1),
            ("ca.crt", &old.ca_pem()),
        ],
    );
    let grpc = free_port();
    let s = Strata::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        tls:
          cert_file: "{d}/tls.crt"
          key_file: "{d}/tls.key"
          client_ca_file: "{d}/ca.crt"
          reload_interval: 100ms
exporters:
  file: {{ path: "{{dir}}/out.jsonl" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#,
            d = p(&secret)
        ),
        &[grpc],
    );
    let mut before = client(grpc, &old.ca_file, Some((&old_client, &old_client_key))).await;
    export(&mut before, None, fake::traces(1, 1)).await.unwrap();

    let (c2, k2) = new.server_pem();
    k8s_secret(
        &secret,
        "v2",
        &[
            ("tls.crt", &c2),
            ("tls.key", &k2),
            ("ca.crt", &new.ca_pem()),
        ],
    );
    let reloads = |outcome: &str| {
        s.counter(&format!(
            "strata_tls_reloads_total{{settings=\"receivers::otlp::protocols::grpc::tls\",outcome=\"{outcome}\"}}"
        ))
    };
    assert!(
        eventually(Duration::from_secs(5), || reloads("success") >= 1),
        "no reload:\n{}",
        s.log()
    );
    // A new connection: the new server certificate (verified with the new CA) and the new
    // client CA (the new client certificate is accepted).
    let mut after = client(grpc, &new.ca_file, Some((&new_client, &new_client_key))).await;
    export(&mut after, None, fake::traces(1, 1)).await.unwrap();
    // The old CA no longer verifies the server, and old client certificates are refused.
    let old_trust = Channel::from_shared(format!("https://127.0.0.1:{grpc}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(std::fs::read(&old.ca_file).unwrap()))
                .identity(Identity::from_pem(
                    std::fs::read(&old_client).unwrap(),
                    std::fs::read(&old_client_key).unwrap(),
                ))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await;
    assert!(
        old_trust.is_err(),
        "a new connection still got the old certificate"
    );
    // The connection opened before the rotation goes on.
    for _ in 0..3 {
        export(&mut before, None, fake::traces(1, 1)).await.unwrap();
    }

    // A truncated key (a half-written file): the material in use stays, one failure counted.
    let (c3, k3) = new.server_pem();
    k8s_secret(
        &secret,
        "v3",
        &[
            ("tls.crt", &c3),
            ("tls.key", &k3[..k3.len() / 2]),
            ("ca.crt", &new.ca_pem()),
        ],
    );
    assert!(
        eventually(Duration::from_secs(5), || reloads("failure") >= 1),
        "no failure counted:\n{}",
        s.log()
    );
    assert!(s.log().contains("TLS material not reloaded"), "{}", s.log());
    let mut still = client(grpc, &new.ca_file, Some((&new_client, &new_client_key))).await;
    export(&mut still, None, fake::traces(1, 1)).await.unwrap();
    assert_eq!(spans_in(&s.path("out.jsonl")), 6);
    assert_no_secret(&[("strata", s.log())]);
}

/// Tenant isolation through `batch` and a persistent queue, across a SIGKILL: tenants A and B
/// send interleaved through one node whose back-end is down; the node is killed and restarted
/// with the back-end up. Every back-end request carries one tenant's data only, and its
/// `X-Scope-OrgID` (from the queued context) names that tenant.
#[tokio::test(flavor = "multi_thread")]
async fn no_span_changes_tenant_through_batch_and_a_persistent_queue_across_sigkill() {
    let (grpc, backend_port) = (free_port(), free_port());
    let mut node = Strata::start(
        &format!(
            r#"
extensions:
  bearertokenauth:
    tenants:
      team-a: {{ tokens: ["{TENANT_A_TOKEN}"] }}
      team-b: {{ tokens: ["tenant-b-tok-1d4c"] }}
  headers_setter:
    headers: [{{ key: X-Scope-OrgID, from_context: auth.tenant }}]
  file_storage/queue: {{ directory: "{{dir}}/queue", create_directory: true }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        auth: {{ authenticator: bearertokenauth }}
processors:
  resource:
    attributes:
      - {{ key: tenant.id, action: delete }}
      - {{ key: tenant.id, from_context: auth.tenant, action: upsert }}
  batch: {{ timeout: 100ms, send_batch_size: 40 }}
exporters:
  otlp/backend:
    endpoint: 127.0.0.1:{backend_port}
    tls: {{ insecure: true }}
    compression: none
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 200ms }}
    sending_queue: {{ storage: file_storage/queue }}
    auth: {{ authenticator: headers_setter }}
service:
  extensions: [bearertokenauth, headers_setter, file_storage/queue]
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource, batch], exporters: [otlp/backend] }}
"#
        ),
        &[grpc],
    );
    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    let mut sent = 0;
    for i in 0..10 {
        let (token, claim) = if i % 2 == 0 {
            (TENANT_A_TOKEN, "team-b")
        } else {
            ("tenant-b-tok-1d4c", "team-a")
        };
        export(&mut c, Some(token), spans_claiming(7, claim))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", node.log()));
        sent += 7;
    }
    // Acknowledged means on disk: a crash now loses nothing.
    node.kill();
    let backend = RawTraceSink::serve(backend_port).await;
    node.restart(&[grpc]);
    let count = |b: &RawTraceSink| -> usize {
        b.requests()
            .iter()
            .map(|r| fake_count(&Traces::decode(&r[..]).unwrap()))
            .sum()
    };
    assert!(
        eventually(Duration::from_secs(20), || count(&backend) >= sent),
        "back-end got {} of {sent}:\n{}",
        count(&backend),
        node.log()
    );
    let headers = backend.headers.lock().unwrap().clone();
    let mut per_tenant = std::collections::BTreeMap::<String, usize>::new();
    for (req, h) in backend.requests().iter().zip(&headers) {
        let org = h
            .get("x-scope-orgid")
            .expect("X-Scope-OrgID")
            .to_str()
            .unwrap();
        let t = Traces::decode(&req[..]).unwrap();
        for rs in &t.resource_spans {
            let tenant = tenant_of(rs);
            assert_eq!(
                tenant.as_deref(),
                Some(org),
                "a request of {org} carries {tenant:?}"
            );
        }
        *per_tenant.entry(org.to_owned()).or_default() += fake_count(&t);
    }
    assert_eq!(
        per_tenant,
        std::collections::BTreeMap::from([("team-a".to_owned(), 35), ("team-b".to_owned(), 35)])
    );
}

fn fake_count(t: &Traces) -> usize {
    use strata_pipelines::SignalData;
    t.item_count()
}

/// Every invalid TLS/auth setting is refused by `strata validate`, with its YAML path, and
/// never with the credential in the message.
#[test]
fn validate_refuses_bad_tls_and_auth_settings_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (cert, key) = (p(&pki.cert_file), p(&pki.key_file));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let garbage = p(&garbage);
    let grpc_tls = |tls: &str| {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n        tls: {tls}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [debug] }}\n"
        )
    };
    let path = "receivers::otlp::protocols::grpc::tls";
    let cases: Vec<(String, String)> = vec![
        (grpc_tls(&format!("{{ cert_file: \"{cert}\" }}")), format!("{path}::key_file: a certificate needs its key")),
        (grpc_tls(&format!("{{ key_file: \"{key}\" }}")), format!("{path}::cert_file: a key needs its certificate")),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", cert_pem: \"x\", key_file: \"{key}\" }}")),
            format!("{path}::cert_pem: set either cert_file or cert_pem, not both"),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{key}\", min_version: \"1.3\", max_version: \"1.2\" }}")),
            format!("{path}::min_version: min_version \"1.3\" is above max_version \"1.2\""),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{key}\", min_version: \"1.4\" }}")),
            format!("{path}::min_version: unknown TLS version \"1.4\""),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{key}\", max_version: \"1.1\" }}")),
            format!("{path}::max_version: TLS 1.0 and 1.1 are not supported"),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{garbage}\", key_file: \"{key}\" }}")),
            format!("{path}::cert_file: {garbage}: no PEM certificate found"),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{garbage}\" }}")),
            format!("{path}::key_file: {garbage}: no PEM private key found"),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{key}\", client_ca_file: \"{garbage}\" }}")),
            format!("{path}::client_ca_file: {garbage}: no PEM certificate found"),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{key}\", cipher_suites: [TLS_RSA_WITH_RC4_128_MD5] }}")),
            format!("{path}::cipher_suites: unknown or unsupported TLS 1.2 cipher suite"),
        ),
        (
            grpc_tls(&format!("{{ cert_file: \"{cert}\", key_file: \"{key}\", reload: 1s }}")),
            format!("{path}::reload: unknown key \"reload\""),
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n        auth: { authenticator: bearertokenauth }\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: { receivers: [otlp], exporters: [debug] }\n".into(),
            "receivers::otlp::protocols::http::auth::authenticator: authenticator \"bearertokenauth\" is not an extension in service::extensions".into(),
        ),
        (
            format!("extensions:\n  bearertokenauth: {{ tenants: {{ a: {{ tokens: [{APP_TOKEN}] }}, b: {{ tokens: [{APP_TOKEN}] }} }} }}\nreceivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  extensions: [bearertokenauth]\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [debug] }}\n"),
            "extensions::bearertokenauth::tenants::b::tokens: a token of tenant b is also a token of tenant a".into(),
        ),
        (
            "extensions:\n  basicauth: { htpasswd: { inline: 'user:$6$salt$secrethash' } }\nreceivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  extensions: [basicauth]\n  pipelines:\n    traces: { receivers: [otlp], exporters: [debug] }\n".into(),
            "extensions::basicauth::htpasswd::inline: htpasswd line 1: unsupported hash scheme".into(),
        ),
        (
            "extensions:\n  headers_setter: { headers: [{ key: X-Scope-OrgID }] }\nreceivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  extensions: [headers_setter]\n  pipelines:\n    traces: { receivers: [otlp], exporters: [debug] }\n".into(),
            "extensions::headers_setter::headers::0: set exactly one of value or from_context".into(),
        ),
        (
            format!("receivers:\n  otlp:\nexporters:\n  otlp:\n    endpoint: a:4317\n    tls: {{ ca_file: \"{garbage}\" }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [otlp] }}\n"),
            format!("exporters::otlp::tls: {garbage}: no PEM certificate found"),
        ),
        (
            format!("receivers:\n  otlp:\nexporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n    tls: {{ cert_file: \"{cert}\" }}\nservice:\n  pipelines:\n    metrics: {{ receivers: [otlp], exporters: [prometheus] }}\n"),
            "exporters::prometheus::tls::key_file: a certificate needs its key".into(),
        ),
    ];
    // A file that does not exist yet is read at start, as in the Collector: `validate` warns
    // and succeeds, starting fails naming it.
    let missing = dir.path().join("missing.yaml");
    std::fs::write(
        &missing,
        grpc_tls(&format!(
            "{{ cert_file: \"{cert}\", key_file: \"{key}\", client_ca_file: /nonexistent/ca.pem }}"
        )),
    )
    .unwrap();
    let want = format!("{path}::client_ca_file: /nonexistent/ca.pem: No such file");
    for args in [&["validate", "--config"][..], &["--config"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .arg(&missing)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(&want), "{args:?}: want {want:?} in:\n{text}");
        assert_eq!(
            out.status.success(),
            args[0] == "validate",
            "{args:?}:\n{text}"
        );
        if args[0] == "validate" {
            assert!(text.contains("warning:"), "{text}");
        }
    }
    for (i, (cfg, want)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("c{i}.yaml"));
        std::fs::write(&f, cfg).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["validate", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "case {i} validated:\n{cfg}");
        assert!(
            text.contains(want.as_str()),
            "case {i}: want {want:?} in:\n{text}"
        );
        assert!(
            !text.contains(APP_TOKEN) && !text.contains("secrethash"),
            "case {i} leaks a credential:\n{text}"
        );
    }
}

/// The shipped profiles, secured only by environment variables naming files (the README's
/// "Securing the tiers"): sidecar → node → cluster with TLS, mTLS and tokens on each hop. The
/// tenant comes from the sidecar's token at the node, reaches the cluster's data as
/// `tenant.id` and its back-end as `X-Scope-OrgID`; the payload's claim loses.
#[tokio::test(flavor = "multi_thread")]
async fn the_profiles_secure_every_hop_from_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (ca, cert, key) = (p(&pki.ca_file), p(&pki.cert_file), p(&pki.key_file));
    let (sc_cert, sc_key) = pki.client("sidecar-a", "team-a");
    let (node_cert, node_key) = pki.client("node-1", "nodes");
    let write = |name: &str, text: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        p(&f)
    };
    let tenants = write(
        "tenants",
        &format!("# tenant token\nteam-a {TENANT_A_TOKEN}\n"),
    );
    let sidecar_token = write("sidecar-token", &format!("{TENANT_A_TOKEN}\n"));
    let nodes = write("nodes", &format!("{NODE_TOKEN}\n"));
    let node_token = write("node-token", &format!("{NODE_TOKEN}\n"));

    let backend_port = free_port();
    let backend = RawTraceSink::serve(backend_port).await;
    let (c_grpc, c_http, c_zipkin, c_prom) = (free_port(), free_port(), free_port(), free_port());
    let cluster_env = [
        ("STRATA_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{c_grpc}")),
        ("STRATA_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{c_http}")),
        ("STRATA_ZIPKIN_ENDPOINT", format!("127.0.0.1:{c_zipkin}")),
        ("STRATA_PROMETHEUS_ENDPOINT", format!("127.0.0.1:{c_prom}")),
        (
            "STRATA_JAEGER_ENDPOINT",
            format!("127.0.0.1:{backend_port}"),
        ),
        ("STRATA_BACKEND", format!("127.0.0.1:{backend_port}")),
        ("STRATA_TLS_CERT_FILE", cert.clone()),
        ("STRATA_TLS_KEY_FILE", key.clone()),
        ("STRATA_TLS_CLIENT_CA_FILE", ca.clone()),
        ("STRATA_AUTH_TOKENS_FILE", nodes),
    ];
    fn env(v: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        v.to_vec()
    }
    fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(k, s)| (*k, s.as_str())).collect()
    }
    let cluster_env = env(&cluster_env);
    let cluster = Strata::start_profile("cluster", &[c_grpc], &as_refs(&cluster_env));

    let (n_grpc, n_http) = (free_port(), free_port());
    let node_env = env(&[
        ("STRATA_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{n_grpc}")),
        ("STRATA_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{n_http}")),
        ("STRATA_UPSTREAM", format!("127.0.0.1:{c_grpc}")),
        ("STRATA_UPSTREAM_CA_FILE", ca.clone()),
        ("STRATA_UPSTREAM_CERT_FILE", p(&node_cert)),
        ("STRATA_UPSTREAM_KEY_FILE", p(&node_key)),
        ("STRATA_UPSTREAM_SERVER_NAME", "localhost".into()),
        ("STRATA_UPSTREAM_TOKEN_FILE", node_token),
        ("STRATA_TLS_CERT_FILE", cert.clone()),
        ("STRATA_TLS_KEY_FILE", key.clone()),
        ("STRATA_TLS_CLIENT_CA_FILE", ca.clone()),
        ("STRATA_AUTH_TOKENS_FILE", tenants),
        (
            "STRATA_SPDK_ENDPOINT",
            format!("unix://{}/no-spdk.sock", p(dir.path())),
        ),
    ]);
    let node = Strata::start_profile("node", &[n_grpc], &as_refs(&node_env));

    let (s_grpc, s_http) = (free_port(), free_port());
    let sidecar_env = env(&[
        ("STRATA_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{s_grpc}")),
        ("STRATA_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{s_http}")),
        ("STRATA_UPSTREAM", format!("127.0.0.1:{n_grpc}")),
        ("STRATA_UPSTREAM_CA_FILE", ca.clone()),
        ("STRATA_UPSTREAM_CERT_FILE", p(&sc_cert)),
        ("STRATA_UPSTREAM_KEY_FILE", p(&sc_key)),
        ("STRATA_UPSTREAM_SERVER_NAME", "localhost".into()),
        ("STRATA_UPSTREAM_TOKEN_FILE", sidecar_token),
    ]);
    let sidecar = Strata::start_profile("sidecar", &[s_grpc], &as_refs(&sidecar_env));

    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{s_grpc}"))
        .await
        .unwrap();
    for _ in 0..4 {
        export(&mut c, None, spans_claiming(25, "team-b"))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", sidecar.log()));
    }
    let spans = |b: &RawTraceSink| -> Vec<(String, Traces)> {
        let headers = b.headers.lock().unwrap().clone();
        b.requests()
            .iter()
            .zip(headers)
            .map(|(r, h)| {
                let org = h
                    .get("x-scope-orgid")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                (org, Traces::decode(&r[..]).unwrap())
            })
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(30), || {
            spans(&backend)
                .iter()
                .map(|(_, t)| fake_count(t))
                .sum::<usize>()
                >= 100
        }),
        "the back-end got {} spans\nsidecar:\n{}\nnode:\n{}\ncluster:\n{}",
        spans(&backend)
            .iter()
            .map(|(_, t)| fake_count(t))
            .sum::<usize>(),
        sidecar.log(),
        node.log(),
        cluster.log()
    );
    for (org, t) in spans(&backend) {
        assert_eq!(org, "team-a", "{t:?}");
        for rs in &t.resource_spans {
            let tenant = tenant_of(rs);
            assert_eq!(tenant.as_deref(), Some("team-a"));
        }
    }
    // Without a node token the cluster refuses; without the client CA, plaintext is refused.
    let mut anon = client(c_grpc, &pki.ca_file, Some((&node_cert, &node_key))).await;
    let e = export(&mut anon, Some("guess"), fake::traces(1, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    assert_no_secret(&[
        ("sidecar", sidecar.log()),
        ("node", node.log()),
        ("cluster", cluster.log()),
    ]);
}

/// `GET path` over TLS trusting `ca` (no client certificate): the response's status line.
async fn https_get(port: u16, ca: &Path, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &std::fs::read(ca).unwrap()[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The other listeners take the same `tls`: the `prometheus` exporter's endpoint, the
/// self-telemetry endpoint and the `zipkin` receiver serve HTTPS, and refuse plaintext.
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_self_telemetry_and_zipkin_listeners_serve_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (cert, key) = (p(&pki.cert_file), p(&pki.key_file));
    let (grpc, prom, tele, zipkin) = (free_port(), free_port(), free_port(), free_port());
    let tls = format!("tls: {{ cert_file: \"{cert}\", key_file: \"{key}\" }}");
    let s = Strata::start(
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc}" }} }} }}
  zipkin: {{ endpoint: "127.0.0.1:{zipkin}", {tls} }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:{prom}", {tls} }}
  debug:
service:
  pipelines:
    metrics: {{ receivers: [otlp], exporters: [prometheus] }}
    traces: {{ receivers: [zipkin], exporters: [debug] }}
  telemetry:
    metrics: {{ address: "127.0.0.1:{tele}", {tls} }}
"#
        ),
        &[grpc, prom, tele, zipkin],
    );
    for (port, path, want) in [
        (prom, "/metrics", "HTTP/1.1 200"),
        (tele, "/metrics", "HTTP/1.1 200"),
        (zipkin, "/api/v2/spans", "HTTP/1.1 405"),
    ] {
        let r = within("https get", https_get(port, &pki.ca_file, path)).await;
        let r = r.unwrap_or_else(|e| panic!("port {port}: {e}\n{}", s.log()));
        assert!(r.starts_with(want), "port {port}: {r}");
        assert!(
            common::try_http_get(port, path).is_none(),
            "port {port} answered plaintext"
        );
    }
    let r = https_get(tele, &pki.ca_file, "/metrics").await.unwrap();
    assert!(r.contains("otelcol_"), "{r}");
}

/// A TLS terminator on `port` (offering `alpn`) forwarding to `127.0.0.1:upstream`; every task
/// it runs is in the returned set, so aborting it drops the listener and every connection.
async fn terminator(
    pki: &TestPki,
    port: u16,
    upstream: u16,
    alpn: &[&[u8]],
) -> tokio::task::JoinSet<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(alpn));
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    set.spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            conns.spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                if let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    set
}

/// Client-side rotation: the `otlp` and `otlp_http` exporters verify the peer with a `ca_file`
/// in a Kubernetes-style Secret. The peer moves to a certificate of a new CA and the Secret to
/// that CA: the exporters' next connections verify with it, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn exporters_follow_a_rotated_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestPki::named(dir.path(), "old");
    let new = TestPki::named(dir.path(), "new");
    let secret = dir.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    k8s_secret(&secret, "v1", &[("ca.crt", &old.ca_pem())]);
    let (b_grpc, b_http) = (free_port(), free_port());
    let b = Strata::start(
        &format!(
            "{}exporters:\n  file: {{ path: \"{{dir}}/out.jsonl\" }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [file] }}\n",
            common::otlp_receiver(b_grpc, b_http)
        ),
        &[b_grpc, b_http],
    );
    let (tg, th) = (free_port(), free_port());
    let mut t1 = terminator(&old, tg, b_grpc, &[b"h2"]).await;
    let mut t2 = terminator(&old, th, b_http, &[b"http/1.1"]).await;
    let ca = format!("{}/ca.crt", p(&secret));
    let a_grpc = free_port();
    let a = Strata::start(
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{a_grpc}" }} }} }}
exporters:
  otlp:
    endpoint: 127.0.0.1:{tg}
    tls: {{ ca_file: "{ca}", server_name_override: localhost, reload_interval: 100ms }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 300ms }}
  otlp_http:
    endpoint: https://localhost:{th}
    tls: {{ ca_file: "{ca}", reload_interval: 100ms }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 300ms }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp, otlp_http] }}
"#
        ),
        &[a_grpc],
    );
    let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{a_grpc}"))
        .await
        .unwrap();
    export(&mut c, None, fake::traces(1, 5)).await.unwrap();
    let out = b.path("out.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || spans_in(&out) == 10),
        "before the rotation: {}\n{}",
        spans_in(&out),
        a.log()
    );
    // The peer's certificate and the Secret's CA change together.
    t1.abort_all();
    t2.abort_all();
    while t1.join_next().await.is_some() || t2.join_next().await.is_some() {}
    k8s_secret(&secret, "v2", &[("ca.crt", &new.ca_pem())]);
    let _t1 = terminator(&new, tg, b_grpc, &[b"h2"]).await;
    let _t2 = terminator(&new, th, b_http, &[b"http/1.1"]).await;
    export(&mut c, None, fake::traces(1, 5)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(15), || spans_in(&out) == 20),
        "after the rotation: {}\n{}",
        spans_in(&out),
        a.log()
    );
    let reloads =
        a.counter(r#"strata_tls_reloads_total{settings="exporters::otlp::tls",outcome="success"}"#);
    assert!(reloads >= 1, "{}", a.self_metrics());
}
