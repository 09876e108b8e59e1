//! The `otlp` and `otlp_http` exporters over TLS: the peer is verified with `tls.ca_file`, and
//! refused without it. Strata B (plaintext) sits behind an in-test TLS terminator whose
//! certificate comes from a throwaway CA.

mod common;

use std::time::Duration;

use common::tls::TestPki;
use common::{Strata, eventually, free_port, otlp_receiver, read_lines};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use strata_pipelines::testing::fake;
use strata_pipelines::{SignalData, Traces};

fn sink(grpc: u16, http: u16) -> String {
    format!(
        "{}exporters:\n  file: {{ path: \"{{dir}}/out.jsonl\" }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [file] }}\n",
        otlp_receiver(grpc, http)
    )
}

fn sender(grpc: u16, http: u16, exporters: &str, names: &str) -> String {
    format!(
        "{}exporters:\n{exporters}service:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [{names}] }}\n",
        otlp_receiver(grpc, http)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn exporters_verify_the_peer_with_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (b_grpc, b_http) = (free_port(), free_port());
    let b = Strata::start(&sink(b_grpc, b_http), &[b_grpc, b_http]);
    let tls_grpc = pki.terminator(b_grpc, &[b"h2"]).await;
    let tls_http = pki.terminator(b_http, &[b"http/1.1"]).await;
    let ca = pki.ca_file.display().to_string();

    let (a_grpc, a_http) = (free_port(), free_port());
    let exporters = format!(
        "  otlp: {{ endpoint: \"127.0.0.1:{tls_grpc}\", tls: {{ ca_file: \"{ca}\" }} }}\n  otlp_http: {{ endpoint: \"https://127.0.0.1:{tls_http}\", tls: {{ ca_file: \"{ca}\" }} }}\n"
    );
    let a = Strata::start(
        &sender(a_grpc, a_http, &exporters, "otlp, otlp_http"),
        &[a_grpc, a_http],
    );
    TraceServiceClient::connect(format!("http://127.0.0.1:{a_grpc}"))
        .await
        .unwrap()
        .export(fake::traces(1, 7))
        .await
        .unwrap_or_else(|e| panic!("{e}\nA:\n{}", a.log()));
    // Both exporters delivered through TLS: 7 spans each.
    let out = b.path("out.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || {
            read_lines::<Traces>(&out)
                .iter()
                .map(SignalData::item_count)
                .sum::<usize>()
                == 14
        }),
        "B got {:?}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );

    // Without the CA, both exporters refuse the peer; with no queue the client hears about it.
    let sync = "sending_queue: { enabled: false }, retry_on_failure: { enabled: false }";
    for (exporter, name) in [
        (
            format!("  otlp: {{ endpoint: \"127.0.0.1:{tls_grpc}\", {sync} }}\n"),
            "otlp",
        ),
        (
            format!("  otlp_http: {{ endpoint: \"https://127.0.0.1:{tls_http}\", {sync} }}\n"),
            "otlp_http",
        ),
    ] {
        let (c_grpc, c_http) = (free_port(), free_port());
        let c = Strata::start(&sender(c_grpc, c_http, &exporter, name), &[c_grpc, c_http]);
        let e = TraceServiceClient::connect(format!("http://127.0.0.1:{c_grpc}"))
            .await
            .unwrap()
            .export(fake::traces(1, 1))
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            tonic::Code::Unavailable,
            "{name}: {e}\n{}",
            c.log()
        );
    }
    assert_eq!(
        read_lines::<Traces>(&out)
            .iter()
            .map(SignalData::item_count)
            .sum::<usize>(),
        14
    );
}
