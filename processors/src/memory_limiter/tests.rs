//! The `memory_limiter` processor: limits, refusal by the byte budget and by the resident set,
//! release of the budget when the pipeline is done, and its config.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_pipelines::heap::HeapSize;
use strata_pipelines::memory::MemoryBudget;
use strata_pipelines::testing::{CollectingConsumer, fake};
use strata_pipelines::{
    ComponentId, ConsumeError, ConsumeResult, Consumer, Host, Settings, SignalData, Telemetry,
    Traces, YamlValue, config::parse_component, factory::Kind,
};
use tokio::sync::Notify;

use super::{Config, Limits, MemoryLimiter};

fn config(y: &str) -> Result<Config, String> {
    let v: YamlValue = serde_yaml_ng::from_str(y).unwrap();
    parse_component::<Config>("processors::memory_limiter", v).map_err(|e| e.to_string())
}

fn settings(t: &Telemetry) -> Settings {
    Settings {
        kind: Kind::Processor,
        id: ComponentId::new("memory_limiter", None),
        telemetry: t.clone(),
    }
}

/// A consumer that holds every call until released.
#[derive(Default)]
struct Gate(Notify);

#[async_trait]
impl<T: SignalData> Consumer<T> for Gate {
    async fn consume(&self, _data: T) -> ConsumeResult {
        self.0.notified().await;
        Ok(Default::default())
    }
}

/// Waits up to 10 s for `f`.
async fn wait_for(f: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached in 10 s");
}

#[test]
fn limits_from_mib_and_percentages() {
    const MIB: u64 = 1 << 20;
    let c = config("limit_mib: 100").unwrap();
    assert_eq!(
        c.limits(None, "p").unwrap(),
        Limits {
            soft: 80 * MIB,
            hard: 100 * MIB
        }
    );
    let c = config("limit_mib: 100\nspike_limit_mib: 30").unwrap();
    assert_eq!(c.limits(None, "p").unwrap().soft, 70 * MIB);
    let c = config("limit_percentage: 50\nspike_limit_percentage: 10").unwrap();
    assert_eq!(
        c.limits(Some(1000 * MIB), "p").unwrap(),
        Limits {
            soft: 400 * MIB,
            hard: 500 * MIB
        }
    );
    let e = c.limits(None, "p").unwrap_err();
    assert_eq!(e.path, "p::limit_percentage");
    // limit_mib wins over a percentage, as in the Collector.
    let c = config("limit_mib: 10\nlimit_percentage: 50").unwrap();
    assert_eq!(c.limits(Some(1000 * MIB), "p").unwrap().hard, 10 * MIB);
}

#[test]
fn config_default_unknown_fields_and_each_validation_error() {
    let c = config("limit_mib: 1").unwrap();
    assert_eq!(c.check_interval, Duration::from_secs(1));
    let cases = [
        (
            "{}",
            "processors::memory_limiter::limit_mib: limit_mib or limit_percentage",
        ),
        ("limit_mib: 1\nnope: 2", "unknown key \"nope\""),
        (
            "limit_mib: 1\ncheck_interval: 0s",
            "processors::memory_limiter::check_interval: must be greater than zero",
        ),
        (
            "limit_mib: 10\nspike_limit_mib: 10",
            "processors::memory_limiter::spike_limit_mib: must be smaller",
        ),
        (
            "limit_percentage: 101",
            "processors::memory_limiter::limit_percentage: must be a percentage",
        ),
        (
            "limit_percentage: 20\nspike_limit_percentage: 30",
            "processors::memory_limiter::spike_limit_percentage: must be smaller",
        ),
        ("limit_mib: lots", "invalid type"),
    ];
    for (y, want) in cases {
        let e = config(y).err().unwrap_or_else(|| panic!("{y} loaded"));
        assert!(e.contains(want), "{y}: {e}");
    }
    let v: YamlValue = serde_yaml_ng::from_str(include_str!("testdata/config.yaml")).unwrap();
    for (k, c) in v["processors"].as_mapping().unwrap() {
        parse_component::<Config>(k.as_str().unwrap(), c.clone()).unwrap();
    }
}

#[tokio::test]
async fn the_byte_budget_refuses_above_the_soft_limit_and_is_released_when_done() {
    static BUDGET: MemoryBudget = MemoryBudget::new();
    let t = Telemetry::default();
    let gate = Arc::new(Gate::default());
    // A clone, as every request below is one: clones have exact capacities.
    let one = fake::traces(1, 10).clone();
    let size = (one.heap_size() + std::mem::size_of::<Traces>()) as u64;
    // Room for two requests in flight, not three.
    let limits = Limits {
        soft: size * 2 + size / 2,
        hard: size * 4,
    };
    let c = config("limit_mib: 1000").unwrap();
    let lim = Arc::new(MemoryLimiter::<Traces>::new(
        &settings(&t),
        &c,
        limits,
        &BUDGET,
        gate.clone(),
    ));
    let a = tokio::spawn({
        let l = lim.clone();
        let d = one.clone();
        async move { l.consume(d).await }
    });
    let b = tokio::spawn({
        let l = lim.clone();
        let d = one.clone();
        async move { l.consume(d).await }
    });
    wait_for(|| BUDGET.used() == size * 2).await;
    let third = lim.consume(one.clone()).await;
    match third {
        Err(ConsumeError::Retryable { error, .. }) => {
            assert!(
                error.to_string().contains("would pass the soft limit"),
                "{error}"
            );
        }
        other => panic!("expected a retryable refusal, got {other:?}"),
    }
    assert_eq!(
        t.counter(
            "otelcol_processor_refused_spans",
            &[("processor", "memory_limiter")]
        )
        .get(),
        10
    );
    // Dropping a waiting caller does not release its bytes: the pipeline still holds them.
    a.abort();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(BUDGET.used(), size * 2);
    gate.0.notify_waiters();
    b.await.unwrap().unwrap();
    wait_for(|| BUDGET.used() == 0).await;
    // Room again: the next request passes through.
    let sink = Arc::new(CollectingConsumer::<Traces>::default());
    let lim = MemoryLimiter::<Traces>::new(&settings(&t), &c, limits, &BUDGET, sink.clone());
    lim.consume(one).await.unwrap();
    assert_eq!(sink.item_count(), 10);
    assert_eq!(BUDGET.used(), 0);
}

#[tokio::test]
async fn a_resident_set_above_the_soft_limit_refuses_everything() {
    static BUDGET: MemoryBudget = MemoryBudget::new();
    let t = Telemetry::default();
    let sink = Arc::new(CollectingConsumer::<Traces>::default());
    let c = config("limit_mib: 1000\ncheck_interval: 10ms").unwrap();
    // A soft limit of 1 byte: this process is always above it.
    let lim = MemoryLimiter::<Traces>::new(
        &settings(&t),
        &c,
        Limits { soft: 1, hard: 2 },
        &BUDGET,
        sink.clone(),
    );
    strata_pipelines::Component::start(
        &lim,
        &Host {
            telemetry: t.clone(),
            ..Host::default()
        },
    )
    .await
    .unwrap();
    let e = lim.consume(fake::traces(1, 3)).await.unwrap_err();
    assert!(e.to_string().contains("resident memory"), "{e}");
    assert!(matches!(e, ConsumeError::Retryable { .. }));
    assert_eq!(sink.item_count(), 0);
    strata_pipelines::Component::shutdown(&lim).await.unwrap();
}

#[tokio::test]
async fn an_encoded_request_passes_still_encoded_and_reserves_its_length() {
    use prost::Message as _;
    static BUDGET: MemoryBudget = MemoryBudget::new();
    let t = Telemetry::default();
    let data = fake::traces(2, 10);
    let bytes = data.encode_to_vec();
    let enc = || strata_pipelines::wire::Encoded::<Traces>::new(bytes.clone().into()).unwrap();
    let c = config("limit_mib: 1000").unwrap();
    // Room for one encoded request in flight, not two.
    let limits = Limits {
        soft: bytes.len() as u64 * 3 / 2,
        hard: bytes.len() as u64 * 4,
    };
    let gate = Arc::new(KeepingGate::default());
    let lim = Arc::new(MemoryLimiter::<Traces>::new(
        &settings(&t),
        &c,
        limits,
        &BUDGET,
        gate.clone(),
    ));
    let first = tokio::spawn({
        let (l, e) = (lim.clone(), enc());
        async move { l.consume_encoded(e).await }
    });
    wait_for(|| BUDGET.used() == bytes.len() as u64).await;
    let e = lim.consume_encoded(enc()).await.unwrap_err();
    assert!(e.to_string().contains("would pass the soft limit"), "{e}");
    gate.0.0.notify_waiters();
    first.await.unwrap().unwrap();
    wait_for(|| BUDGET.used() == 0).await;
    let sink = Arc::new(CollectingConsumer::<Traces>::default());
    let lim = MemoryLimiter::<Traces>::new(&settings(&t), &c, limits, &BUDGET, sink.clone());
    lim.consume_encoded(enc()).await.unwrap();
    assert_eq!(sink.encoded_batches(), 1);
    assert_eq!(sink.batches(), vec![data.clone()]);

    // A next consumer that decodes: the limiter decodes and reserves the decoded size.
    let gate = Arc::new(Gate::default());
    let limits = Limits {
        soft: 1 << 30,
        hard: 1 << 31,
    };
    let lim = Arc::new(MemoryLimiter::<Traces>::new(
        &settings(&t),
        &c,
        limits,
        &BUDGET,
        gate.clone(),
    ));
    let held = tokio::spawn({
        let (l, e) = (lim.clone(), enc());
        async move { l.consume_encoded(e).await }
    });
    let decoded = Traces::decode(&bytes[..]).unwrap();
    let want = (decoded.heap_size() + std::mem::size_of::<Traces>()) as u64;
    wait_for(|| BUDGET.used() == want).await;
    assert!(
        want > bytes.len() as u64,
        "decoded {want} B, encoded {} B",
        bytes.len()
    );
    gate.0.notify_waiters();
    held.await.unwrap().unwrap();
}

/// A [`Gate`] that takes requests encoded, as an OTLP exporter does.
#[derive(Default)]
struct KeepingGate(Gate);

#[async_trait]
impl Consumer<Traces> for KeepingGate {
    async fn consume(&self, data: Traces) -> ConsumeResult {
        self.0.consume(data).await
    }
    fn keeps_encoded(&self) -> bool {
        true
    }
}

/// The rest of the pipeline runs in a task of its own; the request's client context goes
/// with it (a `resource` processor after the limiter stamps the authenticated tenant).
#[tokio::test]
async fn the_client_context_crosses_into_the_pipeline_task() {
    use std::sync::Mutex;
    use strata_pipelines::auth::ClientContext;
    #[derive(Default)]
    struct Seen(Mutex<Option<String>>);
    #[async_trait::async_trait]
    impl strata_pipelines::Consumer<Traces> for Seen {
        async fn consume(&self, _: Traces) -> strata_pipelines::ConsumeResult {
            *self.0.lock().unwrap() = ClientContext::current().and_then(|c| c.get("auth.tenant"));
            Ok(strata_pipelines::Accepted::all())
        }
    }
    static BUDGET: MemoryBudget = MemoryBudget::new();
    let seen = std::sync::Arc::new(Seen::default());
    let t = Telemetry::default();
    let c = config("limit_mib: 1000").unwrap();
    let limits = Limits {
        soft: 1 << 30,
        hard: 1 << 31,
    };
    let p = MemoryLimiter::<Traces>::new(&settings(&t), &c, limits, &BUDGET, seen.clone());
    let mut ctx = ClientContext::default();
    ctx.auth.insert("tenant".into(), "A".into());
    ClientContext::scope(std::sync::Arc::new(ctx), p.consume(fake::traces(1, 1)))
        .await
        .unwrap();
    assert_eq!(seen.0.lock().unwrap().as_deref(), Some("A"));
}
