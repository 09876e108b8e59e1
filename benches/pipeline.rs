//! Hot paths of the pipeline core: OTLP protobuf and JSON decoding of a 1,000-span request,
//! splitting it, and the `batch` processor carrying requests to a no-op exporter.
//! Numbers and the command that produced them are in BENCHMARKS.md.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use strata_pipelines::testing::fake;
use strata_pipelines::{Accepted, Component, ConsumeResult, Consumer, Host, SignalData, Traces};
use strata_processors::batch::{BatchProcessor, Config};

fn decode(c: &mut Criterion) {
    let req = fake::traces(10, 100);
    let proto = req.encode_to_vec();
    let json = serde_json::to_vec(&req).unwrap();
    let mut g = c.benchmark_group("otlp::decode");
    g.throughput(Throughput::Bytes(proto.len() as u64));
    g.bench_function("protobuf/1000_spans", |b| {
        b.iter(|| Traces::decode(&proto[..]).unwrap())
    });
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("json/1000_spans", |b| {
        b.iter(|| serde_json::from_slice::<Traces>(&json).unwrap())
    });
    g.finish();
}

fn split(c: &mut Criterion) {
    let req = fake::traces(10, 100);
    let mut g = c.benchmark_group("signal::split_front");
    g.throughput(Throughput::Elements(req.item_count() as u64));
    g.bench_function("1000_spans_in_4", |b| {
        b.iter(|| {
            let mut r = req.clone();
            while r.item_count() > 0 {
                std::hint::black_box(r.split_front(256));
            }
        })
    });
    g.finish();
}

/// An exporter that accepts everything and keeps nothing.
struct Noop;

#[async_trait::async_trait]
impl Consumer<Traces> for Noop {
    async fn consume(&self, data: Traces) -> ConsumeResult {
        std::hint::black_box(data);
        Ok(Accepted::all())
    }
}

fn batch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("processors::batch");
    for spans in [10usize, 100] {
        g.throughput(Throughput::Elements((spans * 64) as u64));
        g.bench_with_input(
            BenchmarkId::new("64_concurrent_requests", spans),
            &spans,
            |b, &spans| {
                // The 64 requests fill exactly one batch, so no iteration waits for the timeout.
                let p = Arc::new(BatchProcessor::new(
                    Config {
                        send_batch_size: spans * 64,
                        ..Config::default()
                    },
                    Arc::new(Noop),
                ));
                rt.block_on(p.start(&Host::default())).unwrap();
                let req = fake::traces(1, spans);
                b.iter(|| {
                    rt.block_on(async {
                        let mut tasks = Vec::with_capacity(64);
                        for _ in 0..64 {
                            let p = p.clone();
                            let r = req.clone();
                            tasks.push(tokio::spawn(async move { p.consume(r).await }));
                        }
                        for t in tasks {
                            t.await.unwrap().unwrap();
                        }
                    })
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, decode, split, batch);
criterion_main!(benches);
