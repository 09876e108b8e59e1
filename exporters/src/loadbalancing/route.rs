//! Splitting a request by routing key: one request per backend, each keeping its resources
//! and scopes, so what a backend receives is a well-formed OTLP request.

use std::collections::BTreeMap;

use strata_pipelines::proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
use strata_pipelines::proto::tonic::resource::v1::Resource;
use strata_pipelines::{Logs, Metrics, SignalData, Traces};

use super::config::RoutingKey;
use super::ring::{Ring, hash64};

/// A value's bytes for a key (strings as they are; other types in a tagged text form).
fn value_bytes(v: &Option<AnyValue>) -> Vec<u8> {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Av::StringValue(s)) => s.as_bytes().to_vec(),
        Some(other) => format!("{other:?}").into_bytes(),
        None => Vec::new(),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// The key of a resource: all its attributes, sorted (`resource`), or `service.name`.
fn resource_key(r: &Option<Resource>, key: RoutingKey, names: &[String]) -> Vec<u8> {
    let attrs: &[KeyValue] = r.as_ref().map_or(&[], |r| &r.attributes);
    match key {
        RoutingKey::Service => attr(attrs, "service.name")
            .map(|kv| value_bytes(&kv.value))
            .unwrap_or_default(),
        RoutingKey::Attributes => {
            let mut out = Vec::new();
            for n in names {
                if let Some(kv) = attr(attrs, n) {
                    out.extend_from_slice(n.as_bytes());
                    out.push(0);
                    out.extend(value_bytes(&kv.value));
                    out.push(0);
                }
            }
            out
        }
        _ => {
            let mut kvs: Vec<(&str, Vec<u8>)> = attrs
                .iter()
                .map(|kv| (kv.key.as_str(), value_bytes(&kv.value)))
                .collect();
            kvs.sort();
            let mut out = Vec::new();
            for (k, v) in kvs {
                out.extend_from_slice(k.as_bytes());
                out.push(0);
                out.extend(v);
                out.push(0);
            }
            out
        }
    }
}

/// A signal the `loadbalancing` exporter can split.
pub trait Routable: SignalData {
    /// The routing key when none is configured.
    const DEFAULT_KEY: RoutingKey;
    /// `data` split into `(owner index in ring, request)`, at most one per owner.
    fn split(data: Self, key: RoutingKey, names: &[String], ring: &Ring) -> Vec<(usize, Self)>;
}

/// Distributes `items` of one scope into per-owner lists, by `owner_of` each item.
fn distribute<I>(items: Vec<I>, owner_of: impl Fn(&I) -> usize) -> BTreeMap<usize, Vec<I>> {
    let mut out: BTreeMap<usize, Vec<I>> = BTreeMap::new();
    for i in items {
        out.entry(owner_of(&i)).or_default().push(i);
    }
    out
}

fn owner(ring: &Ring, key: &[u8]) -> usize {
    ring.owner(key).unwrap_or(0)
}

impl Routable for Traces {
    const DEFAULT_KEY: RoutingKey = RoutingKey::TraceId;

    fn split(data: Self, key: RoutingKey, names: &[String], ring: &Ring) -> Vec<(usize, Self)> {
        let mut out: BTreeMap<usize, Traces> = BTreeMap::new();
        for rs in data.resource_spans {
            let rkey = resource_key(&rs.resource, key, names);
            let by_resource = (key != RoutingKey::TraceId).then(|| owner(ring, &rkey));
            let mut per: BTreeMap<usize, Vec<_>> = BTreeMap::new();
            for ss in rs.scope_spans {
                let spans = distribute(ss.spans, |s| {
                    by_resource.unwrap_or_else(|| owner(ring, &s.trace_id))
                });
                for (o, spans) in spans {
                    per.entry(o).or_default().push(
                        strata_pipelines::proto::tonic::trace::v1::ScopeSpans {
                            scope: ss.scope.clone(),
                            schema_url: ss.schema_url.clone(),
                            spans,
                        },
                    );
                }
            }
            for (o, scope_spans) in per {
                out.entry(o).or_default().resource_spans.push(
                    strata_pipelines::proto::tonic::trace::v1::ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans,
                        schema_url: rs.schema_url.clone(),
                    },
                );
            }
        }
        out.into_iter().collect()
    }
}

impl Routable for Logs {
    const DEFAULT_KEY: RoutingKey = RoutingKey::TraceId;

    /// By `traceID`, a record without a trace id goes by its resource.
    fn split(data: Self, key: RoutingKey, names: &[String], ring: &Ring) -> Vec<(usize, Self)> {
        let mut out: BTreeMap<usize, Logs> = BTreeMap::new();
        for rl in data.resource_logs {
            let rkey = resource_key(&rl.resource, key, names);
            let by_resource = owner(ring, &rkey);
            let mut per: BTreeMap<usize, Vec<_>> = BTreeMap::new();
            for sl in rl.scope_logs {
                let recs = distribute(sl.log_records, |r| {
                    if key == RoutingKey::TraceId && !r.trace_id.is_empty() {
                        owner(ring, &r.trace_id)
                    } else {
                        by_resource
                    }
                });
                for (o, log_records) in recs {
                    per.entry(o).or_default().push(
                        strata_pipelines::proto::tonic::logs::v1::ScopeLogs {
                            scope: sl.scope.clone(),
                            schema_url: sl.schema_url.clone(),
                            log_records,
                        },
                    );
                }
            }
            for (o, scope_logs) in per {
                out.entry(o).or_default().resource_logs.push(
                    strata_pipelines::proto::tonic::logs::v1::ResourceLogs {
                        resource: rl.resource.clone(),
                        scope_logs,
                        schema_url: rl.schema_url.clone(),
                    },
                );
            }
        }
        out.into_iter().collect()
    }
}

impl Routable for Metrics {
    const DEFAULT_KEY: RoutingKey = RoutingKey::StreamId;

    /// `streamID` (and `traceID`, which metrics do not have): one metric of one resource goes
    /// to one backend, so its points accumulate in one place.
    fn split(data: Self, key: RoutingKey, names: &[String], ring: &Ring) -> Vec<(usize, Self)> {
        let mut out: BTreeMap<usize, Metrics> = BTreeMap::new();
        for rm in data.resource_metrics {
            let stream = matches!(key, RoutingKey::StreamId | RoutingKey::TraceId);
            let rkey = resource_key(
                &rm.resource,
                if stream { RoutingKey::Resource } else { key },
                names,
            );
            let by_resource = owner(ring, &rkey);
            let mut per: BTreeMap<usize, Vec<_>> = BTreeMap::new();
            for sm in rm.scope_metrics {
                let metrics = distribute(sm.metrics, |m| {
                    if stream {
                        owner(ring, &hash64(&[&rkey, m.name.as_bytes()]).to_be_bytes())
                    } else {
                        by_resource
                    }
                });
                for (o, metrics) in metrics {
                    per.entry(o).or_default().push(
                        strata_pipelines::proto::tonic::metrics::v1::ScopeMetrics {
                            scope: sm.scope.clone(),
                            schema_url: sm.schema_url.clone(),
                            metrics,
                        },
                    );
                }
            }
            for (o, scope_metrics) in per {
                out.entry(o).or_default().resource_metrics.push(
                    strata_pipelines::proto::tonic::metrics::v1::ResourceMetrics {
                        resource: rm.resource.clone(),
                        scope_metrics,
                        schema_url: rm.schema_url.clone(),
                    },
                );
            }
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_pipelines::testing::fake;

    #[test]
    fn a_trace_stays_whole_and_nothing_is_lost() {
        let ring = Ring::new(vec!["a:1".into(), "b:1".into(), "c:1".into()]);
        let mut data = fake::traces(4, 50);
        // 200 spans over 20 traces.
        for (i, s) in data
            .resource_spans
            .iter_mut()
            .flat_map(|r| r.scope_spans.iter_mut())
            .flat_map(|s| s.spans.iter_mut())
            .enumerate()
        {
            s.trace_id = vec![(i % 20) as u8; 16];
        }
        let parts = Traces::split(data, RoutingKey::TraceId, &[], &ring);
        let total: usize = parts.iter().map(|(_, t)| t.item_count()).sum();
        assert_eq!(total, 200);
        let mut owner_of_trace = BTreeMap::new();
        for (o, t) in &parts {
            for s in t
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                assert_eq!(*owner_of_trace.entry(s.trace_id.clone()).or_insert(*o), *o);
            }
            // Resources keep their attributes.
            assert!(t.resource_spans.iter().all(|r| r.resource.is_some()));
        }
        assert!(
            parts.len() > 1,
            "20 traces over 3 backends use more than one"
        );
    }

    #[test]
    fn metrics_by_stream_and_logs_by_resource() {
        let ring = Ring::new(vec!["a:1".into(), "b:1".into()]);
        let m = fake::metrics(3, 4, 2);
        let n = m.item_count();
        let parts = Metrics::split(m, RoutingKey::StreamId, &[], &ring);
        assert_eq!(parts.iter().map(|(_, m)| m.item_count()).sum::<usize>(), n);
        let l = fake::logs(3, 5);
        let n = l.item_count();
        let parts = Logs::split(l, RoutingKey::Service, &[], &ring);
        assert_eq!(parts.iter().map(|(_, l)| l.item_count()).sum::<usize>(), n);
    }
}
