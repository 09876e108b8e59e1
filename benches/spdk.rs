//! SPDK receivers' own costs: pairing `spdk_trace -j` entries into spans (`spdk_trace`
//! receiver), and one latency-histogram scrape of 100 bdevs (`spdk` receiver with
//! `histograms: {enabled: true}`): the JSON-RPC responses parsed, decoded, merged to OTel
//! buckets and recorded. Inputs are the v25.09 recordings of `tests/fixtures/spdk-extra/`.
//! Numbers and the command that produced them are in BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_receivers::spdk::histogram::SpdkHistogram;
use strata_receivers::spdk::metrics;
use strata_receivers::spdk_trace::{Options, Pairing, parse};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/spdk-extra/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn pairing(c: &mut Criterion) {
    let doc = fixture("trace/v25.09__spdk_trace_j__sample.json");
    let opts = Options {
        max_open: 10.0,
        ratio: 1.0,
        latency_threshold: None,
    };
    let mut probe = Pairing::new(opts);
    let (_, entries) = parse(&doc, &mut probe).unwrap();
    let spans = probe.counts().seen;
    let mut g = c.benchmark_group("spdk_trace");
    // Per span completed: parse + pair + OTLP spans of the 3,000-entry snapshot.
    g.throughput(Throughput::Elements(spans));
    g.bench_function(format!("pair/{entries}_entries"), |b| {
        b.iter(|| {
            let mut p = Pairing::new(opts);
            parse(&doc, &mut p).unwrap();
            let trees = p.end_document();
            p.to_spans(trees, 0)
        })
    });
    g.finish();
}

fn histogram_scrape(c: &mut Criterion) {
    // The Malloc0 response as SPDK sends it (24 ranges × 128 counters, 32 KiB of base64).
    let response = fixture("histogram/bdev_get_histogram__Malloc0.json");
    let mut g = c.benchmark_group("spdk::histograms");
    g.throughput(Throughput::Elements(100));
    g.bench_function("scrape/100_bdevs", |b| {
        b.iter(|| {
            let mut rec = metrics::recorder(1, 2);
            for i in 0..100 {
                let v: serde_json::Value = serde_json::from_slice(&response).unwrap();
                let h = SpdkHistogram::decode(&v["result"]).unwrap();
                metrics::bdev_histogram(&mut rec, &format!("bdev{i}"), "all", &h, 1, &[]);
            }
            rec.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, pairing, histogram_scrape);
criterion_main!(benches);
