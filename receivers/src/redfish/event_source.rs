//! The BMC side of Redfish events for one scraper: the push subscription it keeps, the SSE
//! stream it reads, and the conversion of `Event` documents into log requests with the
//! resource of the metrics (rules in [`super::events`]).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource as OtelResource;
use serde_json::{Value, json};
use strata_pipelines::{BoxConsumer, Logs, ReceiverObs, Signal};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::client::FetchError;
use super::events::{SseParser, backoff, records};
use super::receiver::RedfishScraper;
use crate::scraper::now_nanos;

/// Why an `Event` document was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The document is not an `Event` (the cause).
    #[error("{0}")]
    NotAnEvent(String),
    /// The pipeline refused the records (the cause); they may be delivered again.
    #[error("the pipeline refused the event: {0}")]
    Refused(String),
}

impl RedfishScraper {
    /// The resource attributes for an event whose origin is `origin`: the chassis (or the
    /// system) whose URI the origin starts with, as the last scrape saw it; else the BMC's.
    fn resource_of(&self, origin: Option<&str>) -> Vec<KeyValue> {
        let o = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        origin
            .and_then(|origin| {
                o.1.iter()
                    .filter(|(uri, _)| {
                        origin == uri
                            || origin.starts_with(&format!("{uri}/"))
                            || origin.starts_with(&format!("{uri}#"))
                    })
                    .max_by_key(|(uri, _)| uri.len())
            })
            .map_or_else(|| o.0.clone(), |(_, attrs)| attrs.clone())
    }

    /// The log request of one `Event` document (`sse_id`: the SSE `id` it came with), records
    /// grouped by resource; how many records were replays dropped; and the ids marked as seen.
    ///
    /// # Errors
    /// A document that is not an `Event`.
    pub fn event_logs(
        &self,
        doc: &Value,
        sse_id: Option<&str>,
    ) -> Result<(Logs, usize, Vec<String>), String> {
        let c = {
            let mut d = self.dedup.lock().unwrap_or_else(|p| p.into_inner());
            records(doc, sse_id, &mut d, now_nanos())?
        };
        let mut groups: Vec<(Vec<KeyValue>, Vec<_>)> = Vec::new();
        for (origin, r) in c.records {
            let attrs = self.resource_of(origin.as_deref());
            match groups.iter_mut().find(|(a, _)| *a == attrs) {
                Some((_, v)) => v.push(r),
                None => groups.push((attrs, vec![r])),
            }
        }
        let resource_logs = groups
            .into_iter()
            .map(|(attributes, log_records)| ResourceLogs {
                resource: Some(OtelResource {
                    attributes,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "strata/receiver/redfish".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        Ok((Logs { resource_logs }, c.duplicates, c.marked))
    }

    async fn event_service(&self) -> Result<Value, FetchError> {
        let root = self.client.get(super::client::SERVICE_ROOT).await?;
        match root
            .get("EventService")
            .and_then(|l| l.get("@odata.id"))
            .and_then(Value::as_str)
        {
            Some(l) => self.client.get(l).await,
            None => Err(FetchError::Invalid {
                url: self.client.url(super::client::SERVICE_ROOT),
                message: "the service root links no EventService: this BMC sends no events".into(),
            }),
        }
    }

    /// push: finds this receiver's subscription (same `Context` and `Destination`) among the
    /// BMC's, and creates it when there is none. Other subscriptions are only read.
    ///
    /// # Errors
    /// No EventService or Subscriptions, or the BMC refused the subscription.
    pub async fn ensure_subscription(
        &self,
        context: &str,
        destination: &str,
    ) -> Result<(), FetchError> {
        let es = self.event_service().await?;
        let Some(subs) = es
            .get("Subscriptions")
            .and_then(|l| l.get("@odata.id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(FetchError::Invalid {
                url: self.client.url("EventService"),
                message: "the EventService has no Subscriptions collection".into(),
            });
        };
        let (members, errors) = self.client.members(&subs).await;
        if members.is_empty()
            && let Some(e) = errors.into_iter().next()
        {
            return Err(e);
        }
        let ours = members.iter().find(|m| {
            m.get("Context").and_then(Value::as_str) == Some(context)
                && m.get("Destination").and_then(Value::as_str) == Some(destination)
        });
        let mut known = self.subscription.lock().await;
        if let Some(m) = ours {
            let uri = m
                .get("@odata.id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if known.is_none() {
                info!(server = self.server.endpoint, subscription = ?uri, "found this receiver's Redfish event subscription");
            }
            *known = uri;
            return Ok(());
        }
        if let Some(old) = known.take() {
            warn!(
                server = self.server.endpoint,
                subscription = old,
                "the Redfish event subscription is gone (BMC restarted, or deleted); subscribing again"
            );
        }
        let mut body = json!({
            "Destination": destination,
            "Protocol": "Redfish",
            "Context": context,
        });
        let types = self.event_types(&es);
        let with_types = !types.is_empty()
            && !self
                .without_event_types
                .load(std::sync::atomic::Ordering::Relaxed);
        if with_types {
            body["EventTypes"] = json!(types);
        }
        let uri = match self.client.post(&subs, &body).await {
            Err(FetchError::Status {
                status: 400 | 501, ..
            }) if with_types => {
                if let Some(o) = body.as_object_mut() {
                    o.remove("EventTypes");
                }
                let uri = self.client.post(&subs, &body).await?;
                warn!(
                    server = self.server.endpoint,
                    "the BMC refused EventTypes in the subscription (newer schemas deprecate it); subscribed without it"
                );
                self.without_event_types
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                uri
            }
            r => r?,
        };
        info!(server = self.server.endpoint, subscription = ?uri, destination, "subscribed to Redfish events");
        self.count_events("subscribed", 1);
        *known = uri;
        Ok(())
    }

    /// The `EventTypes` of this receiver's push subscription: `events.event_types`, else the
    /// service's `EventTypesForSubscription` (`es`, the EventService), else
    /// [`super::events::DEFAULT_EVENT_TYPES`].
    fn event_types(&self, es: &Value) -> Vec<String> {
        if let Some(t) = &self.cfg.events.event_types {
            return t.clone();
        }
        let listed: Vec<String> = es
            .get("EventTypesForSubscription")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if listed.is_empty() {
            super::events::DEFAULT_EVENT_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect()
        } else {
            listed
        }
    }

    /// push: deletes this receiver's subscription (at shutdown), and only that one.
    pub async fn unsubscribe(&self) {
        let Some(uri) = self.subscription.lock().await.take() else {
            return;
        };
        match self.client.delete(&uri).await {
            Ok(()) => info!(
                server = self.server.endpoint,
                subscription = uri,
                "Redfish event subscription deleted"
            ),
            Err(e) => {
                warn!(server = self.server.endpoint, error = %e, "deleting the Redfish event subscription failed")
            }
        }
    }

    /// Counts `n` in `strata_receiver_redfish_events{receiver,server,outcome}`.
    pub fn count_events(&self, outcome: &str, n: u64) {
        if n > 0 {
            self.telemetry
                .counter(
                    "strata_receiver_redfish_events",
                    &[
                        ("receiver", &self.id.to_string()),
                        ("server", &self.server.endpoint),
                        ("outcome", outcome),
                    ],
                )
                .add(n);
        }
    }

    /// Hands one `Event` document on: its records as logs; duplicates counted. When the
    /// pipeline refuses them, their ids are forgotten, so the BMC's retry (push) or the replay
    /// after a resume (SSE) is delivered rather than dropped as a duplicate.
    ///
    /// # Errors
    /// [`DeliverError::NotAnEvent`] for a document that is not an `Event`;
    /// [`DeliverError::Refused`] when the pipeline refused the records.
    pub async fn deliver_event(
        &self,
        doc: &Value,
        sse_id: Option<&str>,
        next: &BoxConsumer<Logs>,
        obs: &ReceiverObs,
    ) -> Result<(), DeliverError> {
        let (logs, dup, marked) = self
            .event_logs(doc, sse_id)
            .map_err(DeliverError::NotAnEvent)?;
        self.count_events("duplicate", dup as u64);
        let n: usize = logs
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        if n == 0 {
            return Ok(());
        }
        match next.consume(logs).await {
            Ok(_) => {
                obs.accepted(Signal::Logs, n);
                self.count_events("received", n as u64);
                Ok(())
            }
            Err(e) => {
                obs.refused(Signal::Logs, n);
                self.dedup
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .forget(&marked);
                Err(DeliverError::Refused(e.to_string()))
            }
        }
    }

    /// sse: reads the BMC's event stream until `cancel`, reconnecting with `Last-Event-ID`
    /// after a disconnect, with backoff and jitter while it fails.
    pub async fn read_event_stream(
        self: Arc<Self>,
        next: BoxConsumer<Logs>,
        obs: ReceiverObs,
        cancel: CancellationToken,
    ) {
        // Events carry the resource of the metrics: let the first scrape map the chassis
        // (bounded, in case the receiver scrapes nothing).
        if !self.discovered.0.load(std::sync::atomic::Ordering::Relaxed) {
            let wait = self.cfg.initial_delay + self.cfg.timeout * 2;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.discovered.1.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let mut attempt = 0u32;
        let mut failing = false;
        let mut last_id: Option<String> = None;
        loop {
            let opened = async {
                let es = self.event_service().await?;
                let uri = es
                    .get("ServerSentEventUri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| FetchError::Invalid {
                        url: self.client.url("EventService"),
                        message:
                            "the EventService has no ServerSentEventUri: use events.mode: push"
                                .into(),
                    })?
                    .to_owned();
                self.client.open_stream(&uri, last_id.as_deref()).await
            };
            let opened = tokio::select! {
                _ = cancel.cancelled() => return,
                r = opened => r,
            };
            match opened {
                Ok(mut resp) => {
                    failing = false;
                    info!(server = self.server.endpoint, resume_after = ?last_id, "reading the Redfish event stream");
                    let mut parser = SseParser::resuming(last_id.clone());
                    // The id of the last event handed on (or skipped as garbage): where a
                    // resume starts when the pipeline refuses one.
                    let mut delivered = last_id.clone();
                    let mut refused = false;
                    loop {
                        let chunk = tokio::select! {
                            _ = cancel.cancelled() => return,
                            c = resp.chunk() => c,
                        };
                        match chunk {
                            Ok(Some(c)) => {
                                // Data flowed: the next reconnect starts from the shortest wait
                                // (a stream that closes at once keeps backing off).
                                attempt = 0;
                                for (id, data) in parser.feed(&c) {
                                    match serde_json::from_str::<Value>(&data) {
                                        Ok(doc) => match self
                                            .deliver_event(&doc, id.as_deref(), &next, &obs)
                                            .await
                                        {
                                            Err(DeliverError::Refused(e)) => {
                                                warn!(server = self.server.endpoint, error = %e,
                                                    "the pipeline refused a Redfish event; resuming the stream before it");
                                                refused = true;
                                                break;
                                            }
                                            Err(DeliverError::NotAnEvent(e)) => {
                                                self.count_events("invalid", 1);
                                                debug!(server = self.server.endpoint, error = %e, "an SSE event that is not an Event");
                                            }
                                            Ok(()) => {}
                                        },
                                        Err(e) => {
                                            self.count_events("invalid", 1);
                                            debug!(server = self.server.endpoint, error = %e, "an SSE event that is not JSON");
                                        }
                                    }
                                    if id.is_some() {
                                        delivered = id;
                                    }
                                }
                                if refused {
                                    break;
                                }
                            }
                            Ok(None) => {
                                info!(
                                    server = self.server.endpoint,
                                    "the Redfish event stream ended; reconnecting"
                                );
                                break;
                            }
                            Err(e) => {
                                warn!(server = self.server.endpoint, error = %e, "the Redfish event stream failed; reconnecting");
                                break;
                            }
                        }
                    }
                    last_id = if refused {
                        delivered
                    } else {
                        parser.last_id.or(last_id)
                    };
                    self.count_events("reconnect", 1);
                }
                Err(e) => {
                    let msg = self.failed(&e);
                    if !failing {
                        failing = true;
                        warn!(
                            server = self.server.endpoint,
                            error = msg,
                            "cannot open the Redfish event stream; retrying with backoff"
                        );
                    } else {
                        debug!(
                            server = self.server.endpoint,
                            error = msg,
                            attempt,
                            "event stream still unavailable"
                        );
                    }
                }
            }
            let delay = backoff(attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// push: checks the subscription every `every` until `cancel`.
    pub async fn keep_subscribed(
        self: Arc<Self>,
        context: String,
        destination: String,
        every: Duration,
        cancel: CancellationToken,
    ) {
        let mut failing = false;
        loop {
            let r = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.ensure_subscription(&context, &destination) => r,
            };
            match r {
                Ok(()) => failing = false,
                Err(e) => {
                    let msg = self.failed(&e);
                    if !failing {
                        warn!(
                            server = self.server.endpoint,
                            error = msg,
                            "cannot subscribe to Redfish events; retrying"
                        );
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(if failing { every.min(Duration::from_secs(10)) } else { every }) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_pipelines::testing::{CollectingConsumer, FailingConsumer};
    use strata_pipelines::{ComponentId, Telemetry};

    use crate::redfish::Config;

    /// A refused event is not remembered as seen: the BMC's retry of it is delivered, once.
    #[tokio::test]
    async fn a_refused_event_is_delivered_when_it_comes_again() {
        let cfg = Config {
            endpoint: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        let server = cfg.servers().remove(0);
        let id = ComponentId::new("redfish", None);
        let telemetry = Telemetry::default();
        let s = RedfishScraper::new(id.clone(), cfg, server, telemetry.clone()).unwrap();
        let obs = ReceiverObs::new(&telemetry, &id, "");
        let doc = serde_json::json!({"Events": [{"EventId": "9", "Message": "PSU lost"}]});
        let down: BoxConsumer<Logs> = Arc::new(FailingConsumer::retryable());
        assert!(matches!(
            s.deliver_event(&doc, None, &down, &obs).await,
            Err(DeliverError::Refused(_))
        ));
        let up = Arc::new(CollectingConsumer::<Logs>::default());
        let next: BoxConsumer<Logs> = up.clone();
        s.deliver_event(&doc, None, &next, &obs).await.unwrap();
        s.deliver_event(&doc, None, &next, &obs).await.unwrap();
        assert_eq!(
            up.item_count(),
            1,
            "delivered once after the refusal, then a duplicate"
        );
        assert!(matches!(
            s.deliver_event(&serde_json::json!({"Id": 1}), None, &next, &obs)
                .await,
            Err(DeliverError::NotAnEvent(_))
        ));
    }
}
