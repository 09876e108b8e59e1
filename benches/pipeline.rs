//! Hot paths of the pipeline core: OTLP protobuf and JSON decoding and protobuf encoding of a
//! 1,000-span request, the fanout to several exporters (decoded and encoded), the forwarding path (checking an encoded request against decoding and re-encoding it),
//! splitting it, the `batch` processor carrying requests to a no-op exporter, and the `filter`,
//! `redaction` and `attributes` processors over 10,000 spans with 10 attributes each.
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
    let json = strata_translators::otlp_json::encode(&req);
    let mut g = c.benchmark_group("otlp::decode");
    g.throughput(Throughput::Bytes(proto.len() as u64));
    g.bench_function("protobuf/1000_spans", |b| {
        b.iter(|| Traces::decode(&proto[..]).unwrap())
    });
    // What an exporter or a persistent queue does with a request a processor has looked into.
    g.finish();
    let mut g = c.benchmark_group("otlp::encode");
    g.throughput(Throughput::Bytes(proto.len() as u64));
    g.bench_function("protobuf/1000_spans", |b| b.iter(|| req.encode_to_vec()));
    g.finish();
    let mut g = c.benchmark_group("otlp::decode");
    g.throughput(Throughput::Bytes(json.len() as u64));
    // OTLP/JSON per the proto3 JSON mapping (`strata_translators::otlp_json`: prost-reflect),
    // as the OTLP/HTTP receiver decodes it, and the canonical encoding the file exporter writes.
    g.bench_function("json/1000_spans", |b| {
        b.iter(|| strata_translators::otlp_json::decode::<Traces>(&json).unwrap())
    });
    // The serde derive of opentelemetry-proto that otlp_json replaced (it lost values and
    // accepted invalid JSON), on the same bytes: the price of the proto3 mapping.
    g.bench_function("json_serde_derive/1000_spans", |b| {
        b.iter(|| serde_json::from_slice::<Traces>(&json).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("otlp::encode");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("json/1000_spans", |b| {
        b.iter(|| strata_translators::otlp_json::encode(&req))
    });
    g.finish();
}

/// The forwarding path against the decode path, on 1,000 spans with 10 attributes each
/// (20-byte values, as the load bench sends): checking the encoded request
/// (`wire::check`, what a pass-through pipeline does), against prost's decode plus encode
/// (what a pipeline that looks inside does), and merging 82 such requests by concatenation.
fn forward(c: &mut Criterion) {
    let req = spans_20_byte_values();
    let proto = bytes::Bytes::from(req.encode_to_vec());
    let mut g = c.benchmark_group("otlp::forward");
    g.throughput(Throughput::Elements(req.item_count() as u64));
    g.bench_function("wire_check/1000_spans_10_attrs", |b| {
        b.iter(|| strata_pipelines::wire::check(Traces::WIRE, &proto).unwrap())
    });
    g.bench_function("prost_decode_encode/1000_spans_10_attrs", |b| {
        b.iter(|| Traces::decode(&proto[..]).unwrap().encode_to_vec())
    });
    g.bench_function("encoded_append_82/1000_spans_10_attrs", |b| {
        let one = strata_pipelines::wire::Encoded::<Traces>::new(proto.clone()).unwrap();
        b.iter(|| {
            let mut all = one.clone();
            for _ in 1..82 {
                all.append(one.clone());
            }
            all
        })
    });
    g.finish();
}

/// 1,000 spans (one resource) with 10 attributes of 20-byte values, as the load bench sends.
fn spans_20_byte_values() -> Traces {
    let mut req = spans_with_attributes();
    req.resource_spans.truncate(1);
    for s in req
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
    {
        for span in &mut s.spans {
            for kv in &mut span.attributes {
                kv.value = Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            "v".repeat(20),
                        ),
                    ),
                });
            }
        }
    }
    req
}

/// The fanout from one pipeline to 1, 2 and 3 no-op exporters, with the request of
/// [`spans_20_byte_values`]: decoded (every exporter but the last gets a deep clone) and
/// encoded (the exporters share the bytes). With one exporter there is no fanout: the pipeline
/// calls the exporter itself.
fn fanout(c: &mut Criterion) {
    use criterion::BatchSize;
    use strata_pipelines::BoxConsumer;
    use strata_pipelines::wire::Encoded;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let req = spans_20_byte_values();
    let enc = Encoded::<Traces>::new(bytes::Bytes::from(req.encode_to_vec())).unwrap();
    let mut g = c.benchmark_group("pipeline::fanout");
    g.throughput(Throughput::Elements(req.item_count() as u64));
    for n in [1usize, 2, 3] {
        let exporters = (0..n)
            .map(|_| Arc::new(Noop) as BoxConsumer<Traces>)
            .collect();
        let f = strata_pipelines::fanout::fanout(exporters);
        g.bench_with_input(BenchmarkId::new("decoded_1000_spans", n), &n, |b, _| {
            b.iter_batched(
                || req.clone(),
                |r| rt.block_on(f.consume(r)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_with_input(BenchmarkId::new("encoded_1000_spans", n), &n, |b, _| {
            b.iter(|| rt.block_on(f.consume_encoded(enc.clone())).unwrap())
        });
    }
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

    /// Keeps the request encoded, as the `otlp` exporter does.
    async fn consume_encoded(
        &self,
        data: strata_pipelines::wire::Encoded<Traces>,
    ) -> ConsumeResult {
        std::hint::black_box(data);
        Ok(Accepted::all())
    }

    fn keeps_encoded(&self) -> bool {
        true
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

/// 10,000 spans (10 resources × 1,000) with 10 string attributes each; every 10th span has
/// `http.route=/healthz`.
fn spans_with_attributes() -> Traces {
    let mut t = fake::traces(10, 1000);
    for (i, s) in t
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
        .enumerate()
    {
        s.attributes = (0..9)
            .map(|k| fake::kv(&format!("attr.{k}"), &format!("value-{i}-{k}")))
            .collect();
        let route = if i % 10 == 0 {
            "/healthz"
        } else {
            "/api/v1/items"
        };
        s.attributes.push(fake::kv("http.route", route));
    }
    t
}

fn filter(c: &mut Criterion) {
    use strata_pipelines::{ComponentId, Kind, ProcessorFactory, Settings, Telemetry};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let req = spans_with_attributes();
    let mut g = c.benchmark_group("processors::filter");
    g.throughput(Throughput::Elements(req.item_count() as u64));
    for (name, yaml) in [
        (
            "ottl_attribute_equals",
            r#"traces: {span: ['attributes["http.route"] == "/healthz"']}"#,
        ),
        (
            "ottl_ismatch_name",
            r#"traces: {span: ['IsMatch(name, "^span-[0-9]*0$")']}"#,
        ),
        (
            "legacy_regexp_attribute",
            "spans: {exclude: {match_type: regexp, attributes: [{key: http.route, value: '^/health'}]}}",
        ),
    ] {
        let set = Settings {
            kind: Kind::Processor,
            id: ComponentId::new("filter", None),
            telemetry: Telemetry::default(),
        };
        let p = strata_processors::filter::Factory
            .create_traces(set, serde_yaml_ng::from_str(yaml).unwrap(), Arc::new(Noop))
            .unwrap();
        g.bench_function(format!("10000_spans_10_attrs/{name}"), |b| {
            b.iter_batched(
                || req.clone(),
                |r| {
                    let a = rt.block_on(p.consume(r)).unwrap();
                    assert_eq!(a.rejected, 1000);
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Runs a processor built from `yaml` by `factory` over [`spans_with_attributes`], per config.
fn processor_bench(
    c: &mut Criterion,
    group: &str,
    factory: &dyn strata_pipelines::ProcessorFactory,
    configs: &[(&str, &str)],
) {
    use strata_pipelines::{ComponentId, Kind, Settings, Telemetry};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let req = spans_with_attributes();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(req.item_count() as u64));
    for (name, yaml) in configs {
        let set = Settings {
            kind: Kind::Processor,
            id: ComponentId::new(factory.type_name(), None),
            telemetry: Telemetry::default(),
        };
        let p = factory
            .create_traces(set, serde_yaml_ng::from_str(yaml).unwrap(), Arc::new(Noop))
            .unwrap();
        g.bench_function(format!("10000_spans_10_attrs/{name}"), |b| {
            b.iter_batched(
                || req.clone(),
                |r| rt.block_on(p.consume(r)).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn redaction(c: &mut Criterion) {
    processor_bench(
        c,
        "processors::redaction",
        &strata_processors::redaction::Factory,
        &[
            (
                "allow_all_presets_secrets",
                "{allow_all_keys: true, presets: [secrets], summary: info}",
            ),
            (
                "allowed_keys_and_one_blocked_value",
                "{allowed_keys: [attr.0, attr.1, attr.2, attr.3, http.route], blocked_values: ['value-[0-9]*5-'], summary: debug}",
            ),
            (
                "blocked_key_hmac",
                "{allow_all_keys: true, blocked_key_patterns: ['^attr\\.[0-4]$'], hash_function: hmac-sha256, hmac_key: k, summary: silent}",
            ),
        ],
    );
}

fn attributes(c: &mut Criterion) {
    processor_bench(
        c,
        "processors::attributes",
        &strata_processors::attributes::Factory,
        &[
            (
                "insert_update_delete",
                "actions: [{key: tier, value: node, action: insert}, {key: http.route, value: x, action: update}, {key: attr.0, action: delete}]",
            ),
            (
                "include_regexp_service_hash",
                "{include: {match_type: regexp, services: ['^svc-[0-4]$']}, actions: [{key: attr.1, action: hash}]}",
            ),
            (
                "extract",
                "actions: [{key: attr.2, pattern: '^value-(?P<span_index>[0-9]+)-', action: extract}]",
            ),
        ],
    );
}

criterion_group!(
    benches, decode, forward, fanout, split, batch, filter, redaction, attributes
);
criterion_main!(benches);
