//! A pipeline that does not look inside the data forwards the request bytes it received:
//! the real `strata` binary with the sidecar's shape (`otlp → memory_limiter → otlp`, batching
//! in the sending queue, no compression) in front of a gRPC endpoint that records raw bytes.
//! What leaves is the concatenation of what arrived (one merged request per batch), unknown
//! fields included, also through the `batch` processor; a processor that does look inside
//! (`resource`) gets the data decoded.

mod common;

use std::time::Duration;

use common::otlp::{RawTraceSink, grpc_raw_traces};
use common::{Strata, eventually, free_port};
use prost::Message;
use strata_pipelines::testing::fake;
use strata_pipelines::{SignalData, Traces};

fn config(grpc: u16, sink: u16, processors: &str, extra: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
processors:
  memory_limiter: {{ check_interval: 1s, limit_mib: 256 }}
{extra}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink}"
    tls: {{ insecure: true }}
    compression: none
    sending_queue: {{ batch: {{ flush_timeout: 100ms, min_size: 100000 }} }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: {processors}, exporters: [otlp] }}
"#
    )
}

/// Three requests of different shapes, each with an unknown field (number 1000, a varint) at
/// the end, as a newer OTLP version might send.
fn requests() -> Vec<(Traces, Vec<u8>)> {
    [(1, 3), (2, 5), (3, 1)]
        .into_iter()
        .map(|(res, spans)| {
            let t = fake::traces(res, spans);
            let mut b = t.encode_to_vec();
            prost::encoding::encode_key(1000, prost::encoding::WireType::Varint, &mut b);
            prost::encoding::encode_varint(42, &mut b);
            (t, b)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_through_pipeline_forwards_the_bytes_it_received() {
    let (grpc, sink_port) = (free_port(), free_port());
    let sink = RawTraceSink::serve(sink_port).await;
    let s = Strata::start(&config(grpc, sink_port, "[memory_limiter]", ""), &[grpc]);
    let reqs = requests();
    for (_, bytes) in &reqs {
        grpc_raw_traces(grpc, bytes.clone()).await.unwrap();
    }
    let sent: Vec<u8> = reqs.iter().flat_map(|(_, b)| b.clone()).collect();
    let total = sent.len();
    assert!(
        eventually(Duration::from_secs(10), || {
            sink.requests().iter().map(Vec::len).sum::<usize>() >= total
        }),
        "the sink got {:?} bytes of {total}",
        sink.requests().iter().map(Vec::len).collect::<Vec<_>>()
    );
    // One merged export (min_size is never reached; flush_timeout sends it), byte for byte.
    let got = sink.requests();
    assert_eq!(got.len(), 1, "one batch");
    assert_eq!(
        got[0], sent,
        "the bytes that left are the bytes that arrived"
    );
    let merged = Traces::decode(&got[0][..]).unwrap();
    assert_eq!(merged.item_count(), 3 + 10 + 3);
    assert_eq!(
        s.counter("otelcol_receiver_accepted_spans{receiver=\"otlp\",transport=\"grpc\"}"),
        16
    );
    assert!(eventually(Duration::from_secs(5), || s
        .counter("otelcol_exporter_sent_spans{exporter=\"otlp\"}")
        == 16));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_batch_processor_forwards_the_bytes_it_received() {
    let (grpc, sink_port) = (free_port(), free_port());
    let sink = RawTraceSink::serve(sink_port).await;
    let extra = "  batch: { send_batch_size: 100000, timeout: 100ms }";
    let s = Strata::start(
        &config(grpc, sink_port, "[memory_limiter, batch]", extra),
        &[grpc],
    );
    let reqs = requests();
    // One after the other: each waits for its batch's timeout, so the order is known.
    for (_, bytes) in &reqs {
        grpc_raw_traces(grpc, bytes.clone()).await.unwrap();
    }
    let sent: Vec<u8> = reqs.iter().flat_map(|(_, b)| b.clone()).collect();
    assert!(eventually(Duration::from_secs(10), || s
        .counter("otelcol_exporter_sent_spans{exporter=\"otlp\"}")
        == 16));
    // However the batches and the queue grouped them, what left is what arrived, unknown
    // fields included: nothing was decoded and encoded again.
    let got: Vec<u8> = sink.requests().concat();
    assert_eq!(got, sent, "the bytes that left are the bytes that arrived");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_processor_that_looks_inside_gets_the_data_decoded() {
    let (grpc, sink_port) = (free_port(), free_port());
    let sink = RawTraceSink::serve(sink_port).await;
    let extra =
        "  resource:\n    attributes: [{ key: strata.tier, value: sidecar, action: upsert }]";
    let s = Strata::start(
        &config(grpc, sink_port, "[memory_limiter, resource]", extra),
        &[grpc],
    );
    let reqs = requests();
    for (_, bytes) in &reqs {
        grpc_raw_traces(grpc, bytes.clone()).await.unwrap();
    }
    assert!(eventually(Duration::from_secs(10), || s
        .counter("otelcol_exporter_sent_spans{exporter=\"otlp\"}")
        == 16));
    let got: Vec<Traces> = sink
        .requests()
        .iter()
        .map(|b| Traces::decode(&b[..]).unwrap())
        .collect();
    let resources: Vec<_> = got.iter().flat_map(|t| &t.resource_spans).collect();
    assert_eq!(resources.len(), 1 + 2 + 3);
    for r in resources {
        let attrs = &r.resource.as_ref().unwrap().attributes;
        assert!(
            attrs.iter().any(|kv| kv.key == "strata.tier"),
            "every resource was enriched: {attrs:?}"
        );
    }
    // The spans are the ones sent, in order.
    let spans = |t: &[Traces]| -> Vec<Vec<u8>> {
        t.iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id.clone())
            .collect()
    };
    let want: Vec<Traces> = reqs.into_iter().map(|(t, _)| t).collect();
    assert_eq!(spans(&got), spans(&want));
}
