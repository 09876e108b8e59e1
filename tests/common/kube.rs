//! An in-test Kubernetes API server, as much of it as the `loadbalancing` exporter's `k8s`
//! resolver reads: `GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices` with the
//! `kubernetes.io/service-name` label selector, over HTTPS (a throwaway CA) with a bearer token,
//! answering an `EndpointSliceList` (`discovery.k8s.io/v1`) of the addresses the test sets, as
//! the EndpointSlice controller does when a Service's pods come and go.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

struct Inner {
    service: String,
    namespace: String,
    token: String,
    port: u16,
    /// (address, ready).
    endpoints: Vec<(Ipv4Addr, bool)>,
    /// Requests with a wrong or missing token.
    refused: usize,
}

/// A running fake API server.
pub struct FakeKube {
    /// `https://127.0.0.1:port`.
    pub api_server: String,
    /// The CA to verify it with.
    pub ca_file: PathBuf,
    /// A file holding the token it accepts.
    pub token_file: PathBuf,
    inner: Arc<Mutex<Inner>>,
    _dir: tempfile::TempDir,
}

async fn slices(
    State(s): State<Arc<Mutex<Inner>>>,
    Path(ns): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let mut st = s.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", st.token) {
        st.refused += 1;
        return (
            StatusCode::UNAUTHORIZED,
            json!({"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
                .to_string(),
        );
    }
    let want = format!(
        "labelSelector=kubernetes.io%2Fservice-name%3D{}",
        st.service
    );
    if ns != st.namespace || q.as_deref() != Some(want.as_str()) {
        return (StatusCode::NOT_FOUND, format!("no such list: {ns} {q:?}"));
    }
    let endpoints: Vec<_> = st
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, (ip, ready))| {
            json!({
                "addresses": [ip.to_string()],
                "conditions": {"ready": ready, "serving": true, "terminating": !ready},
                "targetRef": {"kind": "Pod", "namespace": st.namespace, "name": format!("{}-{i}", st.service)}
            })
        })
        .collect();
    let body = json!({
        "kind": "EndpointSliceList",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "items": [{
            "metadata": {
                "name": format!("{}-x7k2p", st.service),
                "namespace": st.namespace,
                "labels": {"kubernetes.io/service-name": st.service}
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "otlp-grpc", "protocol": "TCP", "port": st.port}]
        }]
    });
    (StatusCode::OK, body.to_string())
}

impl FakeKube {
    /// Serves the EndpointSlices of `namespace/service`: each of `ips` a ready endpoint on
    /// `port`.
    pub async fn start(namespace: &str, service: &str, port: u16, ips: &[Ipv4Addr]) -> FakeKube {
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let token = format!("token-{}-{nanos}", std::process::id());
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            service: service.into(),
            namespace: namespace.into(),
            token,
            port,
            endpoints: ips.iter().map(|ip| (*ip, true)).collect(),
            refused: 0,
        }));
        let app = axum::Router::new()
            .route(
                "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                axum::routing::get(slices),
            )
            .with_state(inner.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await });
        let pki = super::tls::TestPki::new(dir.path());
        let tls_port = pki.terminator(plain, &[b"http/1.1"]).await;
        FakeKube {
            api_server: format!("https://127.0.0.1:{tls_port}"),
            ca_file: pki.ca_file,
            token_file,
            inner,
            _dir: dir,
        }
    }

    /// The Service's endpoints now: (address, ready).
    pub fn set(&self, endpoints: &[(Ipv4Addr, bool)]) {
        self.inner.lock().unwrap().endpoints = endpoints.to_vec();
    }

    /// Requests refused for their token.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }

    /// The token it accepts.
    pub fn token(&self) -> String {
        self.inner.lock().unwrap().token.clone()
    }
}
